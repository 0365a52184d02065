"""Departure reasons of Dutch and English exit comments and call notes.

Two parts work together. A hand-written seed lexicon (``data/reasons_seed.tsv``)
recognises reasons from the first day ("klantenservice", "te duur",
"overgestapt naar", "no longer need"). A multinomial naive Bayes model on
words, word pairs and word beginnings/endings (``ReasonModel``) learns from
labelled responses; Karn ships one trained on ``data/reason_examples.tsv``
(version 0), and ``flask analysis train`` trains versions from the platform's
own data (``karn.learning.training``). Without a ``model`` argument the active
version is used: ``active_model`` asks the provider the application registers
(``karn.text.model_store``), and falls back to the shipped model.

``tag_reasons`` returns the recognised reasons, best first, each with a
confidence in [0, 1]. When none reaches ``MIN_CONFIDENCE`` it returns
``[("other", c)]``, where ``c`` is how sure it is that no known reason is
meant; a blank text gives ``[]``.
"""

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from karn.text.competitors import Competitors, brand_evidence
from karn.text.competitors import active as active_competitors

DATA_DIR = Path(__file__).parent / "data"
REASONS = ("service", "quality", "brand", "price", "need", "other")
MIN_CONFIDENCE = 0.25
NAMED_BRAND = 0.9  # a named competitor, or a switch to a named company
MODEL_FORMAT = "karn-reason-nb"
MODEL_VERSION = 1
_TEMPERATURE = 3.0

_TOKEN = re.compile(r"[\w'’]+(?:-[\w'’]+)*|[$€]")


def _tokens(text: str) -> list[str]:
    return [t.replace("’", "'") for t in _TOKEN.findall(text.lower())]


# ---------------------------------------------------------------- seed lexicon


@dataclass
class _Pattern:
    reason: str
    parts: tuple[str, ...]
    weight: float


def _part_matches(part: str, token: str) -> bool:
    """A word, ``stem*``, ``*ending`` or ``*inner*`` against one token."""
    if part.startswith("*") and part.endswith("*") and len(part) > 2:
        return part[1:-1] in token
    if part.endswith("*"):
        return token.startswith(part[:-1])
    if part.startswith("*"):
        return token.endswith(part[1:])
    return token == part


@dataclass
class SeedLexicon:
    """The seed patterns of one language, indexed for fast matching."""

    exact: dict[str, list[_Pattern]] = field(default_factory=dict)
    stems: dict[str, list[_Pattern]] = field(default_factory=dict)
    loose: list[_Pattern] = field(default_factory=list)
    _cache: dict[str, list[_Pattern]] = field(default_factory=dict)

    def add(self, pattern: _Pattern) -> None:
        """Index a pattern by its first part."""
        first = pattern.parts[0]
        if first.startswith("*"):
            self.loose.append(pattern)
        elif first.endswith("*"):
            self.stems.setdefault(first[:-1], []).append(pattern)
        else:
            self.exact.setdefault(first, []).append(pattern)

    def _candidates(self, token: str) -> list[_Pattern]:
        found = self._cache.get(token)
        if found is not None:
            return found
        found = list(self.exact.get(token, ()))
        for end in range(len(token), 1, -1):
            found.extend(self.stems.get(token[:end], ()))
        found.extend(p for p in self.loose if _part_matches(p.parts[0], token))
        if len(self._cache) < 200_000:
            self._cache[token] = found
        return found

    def scores(self, tokens: list[str]) -> dict[str, float]:
        """Summed weights per reason of the patterns found in the tokens."""
        totals: dict[str, float] = {}
        for i, token in enumerate(tokens):
            for pattern in self._candidates(token):
                parts = pattern.parts
                if len(parts) > 1 and not all(
                    i + k < len(tokens) and _part_matches(parts[k], tokens[i + k])
                    for k in range(1, len(parts))
                ):
                    continue
                totals[pattern.reason] = totals.get(pattern.reason, 0.0) + (
                    pattern.weight
                )
        return totals


@lru_cache(maxsize=2)
def seed_lexicon(lang: str) -> SeedLexicon:
    """The shipped seed lexicon for "nl" or "en" (loaded once)."""
    if lang not in ("nl", "en"):
        raise ValueError(f"unsupported language: {lang!r}")
    lexicon = SeedLexicon()
    text = (DATA_DIR / "reasons_seed.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        reason, term_lang, term, weight = line.split("\t")
        if term_lang in (lang, "*"):
            parts = tuple(term.lower().split())
            lexicon.add(_Pattern(reason, parts, float(weight)))
    return lexicon


# ---------------------------------------------------------------- model


def features(text: str, lang: str) -> list[str]:
    """Model features: words, word pairs, and beginnings/endings of long words.

    Beginnings and endings let Dutch compounds share evidence
    ("abonnementsprijs" with "prijs", "klantenservicemedewerker" with
    "klantenservice").
    """
    tokens = _tokens(text)
    out = [f"{lang}:{t}" for t in tokens]
    out += [f"{lang}:{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    for t in tokens:
        if len(t) >= 7:
            out.append(f"{lang}:<{t[:5]}")
            out.append(f"{lang}:{t[-5:]}>")
    return out


@dataclass
class ReasonModel:
    """Multinomial naive Bayes over ``features``, storable as JSON."""

    labels: list[str]
    doc_counts: dict[str, int]
    feature_counts: dict[str, dict[str, int]]
    alpha: float = 0.5
    trained_on: int = 0
    _log_prior: dict[str, float] = field(default_factory=dict, repr=False)
    _log_lik: dict[str, dict[str, float]] = field(default_factory=dict, repr=False)
    _log_unseen: dict[str, float] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        vocabulary = {f for counts in self.feature_counts.values() for f in counts}
        size = max(len(vocabulary), 1)
        docs = sum(self.doc_counts.values()) or 1
        for label in self.labels:
            counts = self.feature_counts.get(label, {})
            total = sum(counts.values()) + self.alpha * size
            self._log_prior[label] = math.log(
                (self.doc_counts.get(label, 0) + 1) / (docs + len(self.labels))
            )
            self._log_lik[label] = {
                f: math.log((c + self.alpha) / total) for f, c in counts.items()
            }
            self._log_unseen[label] = math.log(self.alpha / total)
        self._vocabulary = vocabulary

    def predict_proba(self, text: str, lang: str) -> dict[str, float]:
        """Posterior probability per label; uniform when no feature is known."""
        feats = [f for f in features(text, lang) if f in self._vocabulary]
        if not feats or not self.labels:
            return {label: 1 / max(len(self.labels), 1) for label in self.labels}
        logs = {}
        for label in self.labels:
            lik, unseen = self._log_lik[label], self._log_unseen[label]
            logs[label] = self._log_prior[label] + sum(
                lik.get(f, unseen) for f in feats
            )
        # Naive Bayes is overconfident (its features are far from
        # independent); a temperature spreads the posterior to honest levels.
        top = max(logs.values())
        exp = {label: math.exp((v - top) / _TEMPERATURE) for label, v in logs.items()}
        norm = sum(exp.values())
        return {label: v / norm for label, v in exp.items()}

    def to_json(self) -> str:
        """The model as a JSON document (for storing versioned models)."""
        return json.dumps(
            {
                "format": MODEL_FORMAT,
                "version": MODEL_VERSION,
                "labels": self.labels,
                "alpha": self.alpha,
                "trained_on": self.trained_on,
                "doc_counts": self.doc_counts,
                "feature_counts": self.feature_counts,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, document: str) -> "ReasonModel":
        """A model from ``to_json`` output; rejects other formats."""
        data = json.loads(document)
        if data.get("format") != MODEL_FORMAT or data.get("version") != MODEL_VERSION:
            raise ValueError("not a Karn reason model of a supported version")
        return cls(
            labels=list(data["labels"]),
            doc_counts={k: int(v) for k, v in data["doc_counts"].items()},
            feature_counts={
                label: {f: int(c) for f, c in counts.items()}
                for label, counts in data["feature_counts"].items()
            },
            alpha=float(data["alpha"]),
            trained_on=int(data["trained_on"]),
        )


def train_reason_model(
    examples: Iterable[tuple[str, str, str]], alpha: float = 0.5
) -> ReasonModel:
    """Train a model on (text, lang, label) examples with canonical labels."""
    doc_counts: Counter[str] = Counter()
    feature_counts: dict[str, Counter[str]] = {}
    n = 0
    for text, lang, label in examples:
        if label not in REASONS:
            raise ValueError(f"unknown reason label: {label!r}")
        if lang not in ("nl", "en"):
            raise ValueError(f"unsupported language: {lang!r}")
        doc_counts[label] += 1
        # Presence, not frequency: a repeated word in one answer is one hint.
        feature_counts.setdefault(label, Counter()).update(set(features(text, lang)))
        n += 1
    if not n:
        raise ValueError("no training examples")
    return ReasonModel(
        labels=[r for r in REASONS if r in doc_counts],
        doc_counts=dict(doc_counts),
        feature_counts={k: dict(v) for k, v in feature_counts.items()},
        alpha=alpha,
        trained_on=n,
    )


def sector_examples() -> list[tuple[str, str, str, str]]:
    """The hand-written (sector, text, lang, label) exit comments of sectors."""
    rows = []
    text = (DATA_DIR / "reason_examples_sectors.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            sector, label, lang, sentence = line.split("\t")
            rows.append((sector, sentence, lang, label))
    return rows


def shipped_examples() -> list[tuple[str, str, str]]:
    """The hand-written (text, lang, label) examples shipped with Karn."""
    rows = []
    text = (DATA_DIR / "reason_examples.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            label, lang, sentence = line.split("\t")
            rows.append((sentence, lang, label))
    rows += [(text, lang, label) for _s, text, lang, label in sector_examples()]
    return rows


@lru_cache(maxsize=1)
def default_model() -> ReasonModel:
    """The shipped default model (``data/reason_model.json``), loaded once."""
    path = DATA_DIR / "reason_model.json"
    return ReasonModel.from_json(path.read_text(encoding="utf-8"))


ModelProvider = Callable[[], tuple[int, ReasonModel]]
_provider: ModelProvider | None = None


def set_active_model_provider(provider: ModelProvider | None) -> None:
    """Register the function that says which model version is in use."""
    global _provider
    _provider = provider


def active_model() -> tuple[int, ReasonModel]:
    """(version, model) in use: the provider's, else the shipped model (0)."""
    if _provider is not None:
        return _provider()
    return 0, default_model()


# ---------------------------------------------------------------- tagging


def _model_weight(model: ReasonModel) -> float:
    """How far the model's opinion counts: more examples, more say."""
    return min(0.8, model.trained_on / (model.trained_on + 400))


def reason_scores(
    text: str,
    lang: str,
    model: ReasonModel | None = None,
    seed_only: bool = False,
) -> dict[str, float]:
    """Confidence in [0, 1] for each known reason (no "other"), unsorted."""
    tokens = _tokens(text)
    if not tokens:
        return {}
    seed = seed_lexicon(lang).scores(tokens)
    confidence = {
        reason: 1 - math.exp(-max(total, 0.0) / 2.5) for reason, total in seed.items()
    }
    if not seed_only:
        model = model or active_model()[1]
        weight = _model_weight(model)
        for reason, p in model.predict_proba(text, lang).items():
            if reason == "other":
                continue
            # A noisy-or of lexicon and model evidence.
            own = confidence.get(reason, 0.0)
            confidence[reason] = 1 - (1 - own) * (1 - weight * p)
    return {r: c for r, c in confidence.items() if r != "other" and c > 0}


def tag_reasons(
    text: str,
    lang: str,
    model: ReasonModel | None = None,
    seed_only: bool = False,
    competitors: Competitors | None = None,
) -> list[tuple[str, float]]:
    """Reasons of a text, best first, each with a confidence in [0, 1].

    A named competitor (from ``competitors``, default the list in use) or a
    switch to a named company makes brand at least ``NAMED_BRAND`` sure.
    """
    if not text or not text.strip():
        return []
    scores = reason_scores(text, lang, model=model, seed_only=seed_only)
    if brand_evidence(text, lang, competitors or active_competitors()):
        scores["brand"] = max(scores.get("brand", 0.0), NAMED_BRAND)
    found = sorted(
        ((r, round(c, 3)) for r, c in scores.items() if c >= MIN_CONFIDENCE),
        key=lambda item: (-item[1], REASONS.index(item[0])),
    )
    if found:
        return found
    best = max(scores.values(), default=0.0)
    return [("other", round(1 - best, 3))]


def _rebuild_default_model() -> Path:
    """Retrain ``data/reason_model.json`` from the shipped examples."""
    path = DATA_DIR / "reason_model.json"
    model = train_reason_model(shipped_examples())
    path.write_text(model.to_json() + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(_rebuild_default_model())
