"""Competitors by name: a mention of one, or a switch to a named company.

An exit comment that names where the customer went is a brand departure, in
any industry: "overgestapt naar Klaverweb", "switched to Northwind", "went
with Contoso", "Klaverweb past net beter bij mij". Two things recognise it:

- the administrators' list of competitors, each a name with aliases; any
  mention of one, in any case, is brand;
- switch patterns followed by a company name, also without a list: the name
  is a capitalised word that is no pronoun or article ("een kleiner pakket
  past beter bij mij" fits the customer's situation: need, not brand).

Neither imports Flask nor the database. The list in use comes from the
provider the application registers (``karn.text.competitor_store``); outside
an application it is empty (version 0).
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# A company name: a capitalised word, perhaps with one more capitalised word
# or a suffix ("Klaverweb", "Blue Harbor", "T-Net", "E.ON", "3Stars").
_NAME = r"(?P<name>[A-Z0-9][\w&.'’+-]*(?:\s+[A-Z][\w&'’+-]*)?)"

# Capitalised words that start a phrase but name no company.
_NOT_NAMES = frozenset(
    """
    i a an the this that these those it its my our your their his her me us
    them another other some any each every one more less less cheaper
    de het een dit dat deze die dat mijn onze ons jullie hun haar zijn hem
    iets niets alles ander andere elke ieder wat welk welke ik we wij je jij
    u ze zij hij men er daar hier dan toen nu ook maar en of want dus
    monthly yearly annual maandelijks jaarlijks
    """.split()
)

_SWITCH = {
    "en": [
        re.compile(
            r"(?i:\b(?:switch(?:ed|ing)?|went|going|gone|go|signed\s+up|sign(?:ing)?\s+up"
            r"|ported\s+(?:my|our)\s+(?:number|line)s?|chang(?:ed|ing|e)(?:\s+over)?"
            r"|mov(?:ed|ing|e)\s+(?:my|our)\s+\w+)\s+(?:over\s+)?(?:to|with|for)\s+)"
            + _NAME
        ),
        re.compile(
            r"(?i:\b(?:chose|chosen|choosing|picked|prefer|joined|joining)\s+)" + _NAME
        ),
        re.compile(
            _NAME + r"\s+(?i:(?:suits|fits|works\s+for)\s+(?:me|us)\s+better)\b"
        ),
    ],
    "nl": [
        re.compile(
            r"(?i:\b(?:overgestapt|overstappen|overstap|overgaan|gewisseld|wissel"
            r"|gekozen|kies|kiezen|gaan|ga|gegaan|over)\s+(?:naar|voor|op)\s+)" + _NAME
        ),
        re.compile(
            r"(?i:\b(?:naar|voor)\s+)"
            + _NAME
            + r"(?i:\s+(?:overgestapt|overgegaan|gegaan|gekozen|overstappen|gewisseld))"
        ),
        # "Klaverweb past (net/veel/gewoon) beter bij mij": the name is the
        # clause's subject, so it opens the text or follows a clause mark.
        re.compile(
            r"(?:^|[.!?;,:]\s*|\b(?:want|omdat|maar|en)\s+)"
            + _NAME
            + r"\s+past\s+(?:\w+\s+){0,2}beter\s+bij\s+(?:mij|me|ons)\b",
        ),
    ],
}


@dataclass(frozen=True)
class Competitors:
    """A list of competitors: (name, aliases) pairs, and its version."""

    version: int = 0
    companies: tuple[tuple[str, tuple[str, ...]], ...] = ()
    _pattern: re.Pattern | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(
        cls, companies: Iterable[tuple[str, Iterable[str]]], version: int = 0
    ) -> "Competitors":
        """A list from (name, aliases) pairs; blank names and aliases dropped."""
        clean = []
        for name, aliases in companies:
            name = " ".join(str(name).split())
            if name:
                kept = tuple(
                    a for a in (" ".join(str(x).split()) for x in aliases) if a
                )
                clean.append((name, kept))
        return cls(version, tuple(clean), _compile(tuple(clean)))

    def named(self, text: str) -> str | None:
        """The listed competitor the text mentions (its main name), or None."""
        if self._pattern is None:
            return None
        match = self._pattern.search(text)
        if match is None:
            return None
        return self._names()[match.lastgroup]

    def _names(self) -> dict[str, str]:
        return {f"c{i}": name for i, (name, _a) in enumerate(self.companies)}


def _compile(companies: tuple[tuple[str, tuple[str, ...]], ...]) -> re.Pattern | None:
    if not companies:
        return None
    groups = []
    for i, (name, aliases) in enumerate(companies):
        terms = sorted({name, *aliases}, key=len, reverse=True)
        alternatives = "|".join(
            r"\s+".join(re.escape(part) for part in term.split()) for term in terms
        )
        groups.append(f"(?P<c{i}>{alternatives})")
    return re.compile(
        r"(?<![\w&])(?:" + "|".join(groups) + r")(?![\w&])", re.IGNORECASE
    )


NONE = Competitors()


def switched_to(text: str, lang: str) -> str | None:
    """The company a switch pattern names ("switched to X"), or None."""
    for pattern in _SWITCH.get(lang, ()):
        for match in pattern.finditer(text):
            name = match.group("name")
            first = name.split()[0]
            if first.lower().strip(".,") in _NOT_NAMES or not first[0].isupper():
                # "switched to another provider": the seed lexicon's business.
                continue
            if first[0].isdigit() and first.isdigit():
                continue  # "went with 2 lines"
            return name.strip(".,'’")
    return None


def brand_evidence(text: str, lang: str, competitors: Competitors) -> str | None:
    """The competitor a text names or switches to: brand, whatever else it says."""
    return competitors.named(text) or switched_to(text, lang)


# ---------------------------------------------------------------- the list in use

Provider = Callable[[], Competitors]
_provider: Provider | None = None


def set_provider(provider: Provider | None) -> None:
    """Register the function that gives the competitor list in use."""
    global _provider
    _provider = provider


def active() -> Competitors:
    """The competitor list in use: the provider's, else none (version 0)."""
    if _provider is not None:
        return _provider()
    return NONE
