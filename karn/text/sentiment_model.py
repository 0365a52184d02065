"""Linear sentiment model on top of the lexicon rules, and its shipped weights.

A multinomial logistic regression reads what the lexicon rules found in a text
(their compound score, positive and negative mass, also per word, negation,
contrast), marks of a post that passes news on (a link, an @-mention, a
hashtag, figures, a quote), emphasis (``!!``, capitals, stretched words) and
the text's words and word pairs (for Dutch also the first letters of long
words, which catch inflections and compounds), and gives the probabilities of
negative, neutral and positive. The rules carry what the lexicons know; the
word weights learn, from labelled sentences, which plain statements are
neutral and which words the lexicons lack. Weights are plain JSON in
``data/``, built by ``python -m karn.text.sentiment_train``.
"""

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from karn.text.sentiment_rules import _CONTRAST, _NEGATIONS, LABELS, Evidence, evidence

DATA_DIR = Path(__file__).parent / "data"
MODEL_FORMAT = "karn-sentiment-linear"
MODEL_VERSION = 3  # 3: stated problems and lukewarm opinions of exit comments
_BINS = 20  # compound score bins, so the model can bend the rules' scale
_STEM = 5  # letters of a long Dutch word's beginning that make a feature
_SHOUTED = re.compile(r"\b[A-Z]{3,}\b")  # "LOVE it", "NEVER again"
_STRETCHED = re.compile(r"([a-z])\1\1")  # "sooo good", "noooo"

# An exit comment that states a problem is negative even when it is worded as
# a fact ("the call wait is over 20 minutes", "they have not found my bag
# yet", "de monteur is drie keer niet komen opdagen"): these mark such facts.
_PROBLEM = {
    "en": re.compile(
        r"\b(?:still (?:no|not|waiting|hasn't|haven't|isn't|doesn't)"
        r"|not \w+ (?:yet|again)"
        r"|(?:has|have|had|is|was|were)(?: not|n't) (?:\w+ )?(?:yet|arrived|found|"
        r"delivered|fixed|working|received|refunded|come|shown)|yet to"
        r"|over (?:an? |\d+ )(?:minutes?|hours?|days?|weeks?|months?)"
        r"|\d+ (?:minutes?|hours?|days?|weeks?) (?:late|delay|on hold|waiting)"
        r"|delay(?:ed|s)?|cancel+ed|lost|missing|broken|damaged|crushed|wrong"
        r"|declined|rejected|denied|failed|disconnected|hung up|on hold|out of order"
        r"|no (?:signal|internet|connection|refund|response|reply|answer|one|show)"
        r"|nobody|never (?:\w+ed|came|showed|got|arrived)|(?:every|each) time"
        r"|again|(?:drops?|dropped|logs? me out|did not (?:come|turn up|show))"
        r"|charged twice|twice for)\b",
        re.IGNORECASE,
    ),
    "nl": re.compile(
        r"\b(?:nog (?:steeds|altijd) (?:niet|geen)|nog niet|nog geen|niet komen opdagen"
        r"|niet (?:gekomen|geleverd|bezorgd|gevonden|aangekomen|opgelost|ontvangen|"
        r"terugbetaald|teruggebeld)|nooit (?:\w+d|\w+t|gekomen)|(?:meer dan|ruim|al) "
        r"(?:een |\w+ |\d+ )?(?:minuten|uur|dagen|weken|maanden)|vertraging|vertraagd"
        r"|geannuleerd|kwijt\w*|zoek\w*|kapot|beschadigd|verkeerde?|afgewezen|geweigerd"
        r"|mislukt|verbroken|opgehangen|in de wacht|te laat|valt\w* (?:\w+ )?weg"
        r"|geen (?:bereik|internet|verbinding|antwoord|reactie|geld)|niemand"
        r"|(?:elke|iedere) keer|weer|steeds|twee keer afgeschreven|dubbel)\b",
        re.IGNORECASE,
    ),
}
# Lukewarm opinions ("okay, nothing special") are neutral, not praise.
_LUKEWARM = {
    "en": re.compile(
        r"\b(?:nothing special|nothing more|okay|ok|alright|average|so-so"
        r"|not great|could be better|decent enough|did what it|ordinary|fine)\b",
        re.IGNORECASE,
    ),
    "nl": re.compile(
        r"\b(?:niets bijzonders|niks bijzonders|niks speciaals|niets speciaals|gaat wel"
        r"|ging wel|oké|ok|prima|redelijk|matig|gemiddeld|niet geweldig"
        r"|kan beter|deed wat|meer ook niet|gewone)\b",
        re.IGNORECASE,
    ),
}


def lukewarm(text: str, lang: str) -> bool:
    """Whether the text reads as a lukewarm opinion with no stated problem
    ("oké, niets bijzonders", "fine, but nothing more")."""
    if lang not in _LUKEWARM:
        return False
    return bool(_LUKEWARM[lang].search(text)) and not _PROBLEM[lang].search(text)


def model_path(lang: str) -> Path:
    """Where the shipped model of a language lives."""
    return DATA_DIR / f"sentiment_model_{lang}.json"


def features(ev: Evidence, text: str, lang: str) -> dict[str, float]:
    """Named feature values of a text from the rules' evidence and its words."""
    s = ev.score
    f: dict[str, float] = {
        "s": s,
        f"bin{min(int((s + 1) * _BINS / 2), _BINS - 1)}": 1.0,
        "pos": ev.positive / (ev.positive + 2.0),
        "neg": ev.negative / (ev.negative + 2.0),
    }
    if not ev.hits:
        f["nohit"] = 1.0
    if ev.positive > 0.5 and ev.negative > 0.5:
        f["mixed"] = 1.0
    if "!" in text:
        f["excl"] = 1.0
        if "!!" in text:
            f["excl2"] = 1.0
    if _SHOUTED.search(text):
        f["caps"] = 1.0
    if _STRETCHED.search(text):
        f["stretched"] = 1.0
    if "?" in text:
        f["question"] = 1.0
    # Marks of a post that passes news on rather than an opinion.
    if "http" in text or "www." in text:
        f["link"] = 1.0
    if "@" in text:
        f["mention"] = 1.0
    if "#" in text:
        f["hashtag"] = 1.0
    if any(c.isdigit() for c in text):
        f["digits"] = 1.0
    if '"' in text or "“" in text or "”" in text:
        f["quote"] = 1.0
    problems = len(_PROBLEM[lang].findall(text))
    if problems:
        f["problem"] = min(problems, 3) / 3
        if not ev.positive:
            f["problem_plain"] = 1.0  # a problem stated without praise
    if _LUKEWARM[lang].search(text):
        f["lukewarm"] = 1.0
    negations, contrast = _NEGATIONS[lang], _CONTRAST[lang]
    words = ev.words
    if any(w in negations or w.endswith("n't") for w in words):
        f["negation"] = 1.0
    if any(w in contrast for w in words):
        f["contrast"] = 1.0
    n = 0
    stems = lang == "nl"
    previous = None
    for w in words:
        if w in ",!?":
            previous = None
            continue
        n += 1
        f["w:" + w] = 1.0
        if stems and len(w) > _STEM:
            f["p:" + w[:_STEM]] = 1.0  # Dutch inflections and compounds
        if previous is not None:
            f["b:" + previous + "_" + w] = 1.0
        previous = w
    f["short" if n < 6 else "medium" if n < 16 else "long"] = 1.0
    # The rules' evidence per word: a long post with one loaded word is
    # weaker evidence than a short one.
    root = math.sqrt(max(n, 1))
    f["posd"] = ev.positive / root
    f["negd"] = ev.negative / root
    return f


@dataclass(frozen=True)
class SentimentModel:
    """Weights per feature for (negative, neutral, positive), and class biases."""

    lang: str
    bias: tuple[float, float, float]
    weights: dict[str, tuple[float, float, float]]
    info: dict

    def probabilities(self, text: str) -> tuple[float, float, float]:
        """P(negative), P(neutral), P(positive) of a text."""
        return self.probabilities_of(
            features(evidence(text, self.lang), text, self.lang)
        )

    def probabilities_of(self, feats: dict[str, float]) -> tuple[float, float, float]:
        """The probabilities of a text given its features."""
        a, b, c = self.bias
        get = self.weights.get
        for name, value in feats.items():
            w = get(name)
            if w is not None:
                a += w[0] * value
                b += w[1] * value
                c += w[2] * value
        top = max(a, b, c)
        ea, eb, ec = math.exp(a - top), math.exp(b - top), math.exp(c - top)
        total = ea + eb + ec
        return ea / total, eb / total, ec / total

    def to_json(self) -> str:
        """The model as the JSON text shipped in ``data/`` (a weight a line)."""
        head = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION,
            "lang": self.lang,
            "labels": list(LABELS),
            "info": self.info,
            "bias": list(self.bias),
        }
        lines = [json.dumps(head, ensure_ascii=False)[:-1] + ', "weights": {']
        items = sorted(self.weights.items())
        for i, (name, row) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f"{json.dumps(name, ensure_ascii=False)}: {list(row)}{comma}")
        lines.append("}}")
        return "\n".join(lines)

    @classmethod
    def from_json(cls, text: str) -> "SentimentModel":
        """A model from its JSON text; refuses other formats and versions."""
        data = json.loads(text)
        if data.get("format") != MODEL_FORMAT or data.get("version") != MODEL_VERSION:
            raise ValueError("not a Karn sentiment model of this version")
        if tuple(data["labels"]) != LABELS:
            raise ValueError("unexpected labels in sentiment model")
        return cls(
            data["lang"],
            tuple(data["bias"]),
            {k: tuple(v) for k, v in data["weights"].items()},
            data.get("info", {}),
        )


@lru_cache(maxsize=4)
def shipped_model(lang: str) -> SentimentModel | None:
    """The model shipped for a language, or None when there is none."""
    path = model_path(lang)
    if not path.exists():
        return None
    return SentimentModel.from_json(path.read_text(encoding="utf-8"))


def predict(model: SentimentModel, text: str) -> tuple[str, float]:
    """Label and score (P(positive) - P(negative)) of a text under a model."""
    p_neg, p_neu, p_pos = model.probabilities(text)
    best = max(range(3), key=(p_neg, p_neu, p_pos).__getitem__)
    return LABELS[best], p_pos - p_neg


def feature_rows(texts: Iterable[str], lang: str) -> list[dict[str, float]]:
    """Features of many texts (for training)."""
    return [features(evidence(t, lang), t, lang) for t in texts]
