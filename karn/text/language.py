"""Offline Dutch/English language detection for free text and call notes."""

import re

_WORD = re.compile(r"[a-zà-ÿ']+")

# Frequent function words; the sets overlap on purpose nowhere, so that a
# single hit is informative ("in", "is", "over" and "was" are left out).
_STOP_NL = frozenset(
    """
    de het een en van ik je jij u we wij ze zij hij dat die dit deze niet geen
    maar ook nog wel al naar voor met bij uit aan op om te tot door zijn heb
    hebt heeft hebben had hadden wordt werd worden kan kon kunnen wil wilde
    moet moest zou zouden mijn jullie ons onze hun haar hem er hier daar waar
    wat wie hoe waarom omdat want dus dan toen als zo heel erg veel te meer
    nooit niets iets alles altijd mij me mee zelf echt gewoon even weer nu
    jaar jaren klant klanten geld prijs duur slecht goed bedankt graag
    helaas opgezegd overgestapt ander andere aanbieder
    """.split()
)
_STOP_EN = frozenset(
    """
    the a an and of i you he she it we they that this these those not no but
    also still to for with at from by on about be been being have has had do
    does did would could should will can my your our their his her its him
    them there here where what who how why because so than then when if very
    too much more never nothing something everything always me just really
    again now year years customer money price expensive bad good thanks please
    unfortunately cancelled canceled switched other provider were are am
    """.split()
)

# Letter sequences common in one language and rare in the other; they decide
# texts without function words, such as short notes ("klantenservice traag").
_NGRAMS_NL = ("ij", "oe", "aa", "ee", "uu", "sch", "cht", "gen ", "lijk", "eid")
_NGRAMS_EN = ("th", "wh", "ing", "sh", "ou", "ea", "ly ", "tion", "w", "y ")


def detect_language(text: str, default: str = "nl") -> str:
    """Return "nl" or "en" for a text; ``default`` when there is no evidence."""
    lowered = text.lower()
    words = _WORD.findall(lowered)
    nl = sum(1 for w in words if w in _STOP_NL)
    en = sum(1 for w in words if w in _STOP_EN)
    if nl != en:
        return "nl" if nl > en else "en"
    padded = " " + " ".join(words) + " "
    nl_chars = sum(padded.count(g) for g in _NGRAMS_NL)
    en_chars = sum(padded.count(g) for g in _NGRAMS_EN)
    if nl_chars != en_chars:
        return "nl" if nl_chars > en_chars else "en"
    return default
