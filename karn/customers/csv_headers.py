"""Header recognition for customer CSV exports: fields, aliases and mapping.

The canonical fields and mapping targets, header normalisation, the alias
tables, and the suggested and user-corrected header-to-field mapping. Used by
karn.customers.csvparse.
"""

import re
import unicodedata
from collections.abc import Mapping, Sequence

from karn.customers.csv_errors import REJECT_COLUMNS, Problem, _problem, _show
from karn.formatting import spreadsheet_value

FIELDS: tuple[str, ...] = (
    "external_id",
    "email",
    "name",
    "phone",
    "language",
    "departed_at",
    "plan",
    "segment",
    "region",
    "tenure_months",
    "monthly_revenue",
    "lifetime_value",
)
# What a CRM says of the departure: whether the customer left (status, read by
# karn.customers.csv_status), the reason they gave and their comment. Mapping
# targets of a file; status is also a field of the API.
CRM_FIELDS: tuple[str, ...] = ("status", "stated_reason", "stated_comment")
# Mapping targets that are combined into "name" when the file has no full name.
NAME_PARTS: tuple[str, ...] = ("first_name", "name_infix", "last_name")
# Mapping target for a column that must be dropped, not even kept as extra
# (e.g. a national ID number that has no business in Karn).
SKIP = "_skip"
TARGETS: tuple[str, ...] = FIELDS + CRM_FIELDS + NAME_PARTS

# Labels for an upload page's mapping drop-down: target -> (English, Dutch).
TARGET_LABELS: dict[str, tuple[str, str]] = {
    "external_id": ("Customer ID", "Klantnummer"),
    "email": ("E-mail address", "E-mailadres"),
    "name": ("Name", "Naam"),
    "phone": ("Phone", "Telefoon"),
    "language": ("Language", "Taal"),
    "departed_at": ("Departure date", "Opzegdatum"),
    "plan": ("Plan", "Abonnement"),
    "segment": ("Segment", "Segment"),
    "region": ("Region", "Regio"),
    "tenure_months": ("Tenure", "Looptijd"),
    "monthly_revenue": ("Monthly revenue", "Maandbedrag"),
    "lifetime_value": ("Lifetime value", "Klantwaarde"),
    "status": ("Status: departed or active", "Status: vertrokken of actief"),
    "stated_reason": ("Stated reason for leaving", "Opgegeven reden van vertrek"),
    "stated_comment": ("Comment of the customer", "Toelichting van de klant"),
    "first_name": ("First name", "Voornaam"),
    "name_infix": ("Name infix (van, de)", "Tussenvoegsel"),
    "last_name": ("Last name", "Achternaam"),
    SKIP: ("Ignore this column", "Kolom negeren"),
}


# --- Headers and mapping ---------------------------------------------------

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
_PARENS = re.compile(r"\([^)]*\)|\[[^\]]*\]")
_UNIT_SUFFIX = re.compile(r"(?:eur|euro|euros|usd|gbp|incl|excl|inbtw|exbtw)$")


def normalise_header(header: str) -> str:
    """Header as a lookup key: lower case, no accents, spaces or punctuation."""
    text = unicodedata.normalize("NFKD", header.replace("\ufeff", "")).casefold()
    text = "".join(c for c in text if not unicodedata.combining(c))
    return _NON_ALNUM.sub("", text)


def _header_keys(header: str) -> list[str]:
    """Lookup keys for a header, most specific first."""
    keys = [normalise_header(header)]
    bare = normalise_header(_PARENS.sub(" ", header))
    for key in (bare, _UNIT_SUFFIX.sub("", keys[0]), _UNIT_SUFFIX.sub("", bare)):
        if key and key not in keys:
            keys.append(key)
    return keys


# target -> aliases by preference: a file with both "CLTV" and "Total Charges"
# maps CLTV to lifetime_value and keeps Total Charges as an extra attribute.
_ALIASES: dict[str, tuple[str, ...]] = {
    "external_id": (
        (
            "customer id|customer number|customer no|customer nr|customer code|"
            "client id|client number|klant id|klantnummer|klantnr|klant nr|klantcode|"
            "klant code|relatienummer|relatienr|relatie id|debiteurnummer|debiteurnr|"
            "external id|externe id|account id|account number|accountnummer|"
            "lidnummer|abonneenummer|subscriber id|member id|user id|gebruikers id"
        ),
        "id|nummer|nr|number|no|key|code",
    ),
    "email": (
        (
            "email|e-mail|email address|e-mailadres|emailadres|e-mail adres|mail|"
            "mailadres|customer email|klant email|contact email"
        ),
        "email 1|primary email|e-mail 1|e-mail zakelijk|work email",
    ),
    "name": (
        (
            "name|full name|naam|klantnaam|klant naam|customer name|client name|"
            "volledige naam|contact name|contactnaam|contactpersoon|display name|"
            "weergavenaam"
        ),
    ),
    "first_name": ("first name|given name|voornaam|roepnaam",),
    "name_infix": ("tussenvoegsel|tussenvoegsels|infix",),
    "last_name": ("last name|surname|family name|achternaam",),
    "phone": (
        (
            "phone|phone number|telephone|tel|telnr|telefoon|telefoonnummer|"
            "telefoonnr|phone no"
        ),
        (
            "mobile|mobile phone|mobile number|mobiel|mobiel nummer|mobielnummer|gsm|"
            "cell|cell phone|06 nummer"
        ),
    ),
    "language": (
        (
            "language|taal|locale|lang|preferred language|voorkeurstaal|"
            "correspondentietaal|communication language"
        ),
    ),
    "departed_at": (
        (
            "departed at|departure date|churn date|churned at|churned on|"
            "cancellation date|cancelation date|cancelled at|canceled at|"
            "cancelled on|cancel date|termination date|terminated at|opzegdatum|"
            "datum opzegging|opgezegd op|datum opgezegd|vertrekdatum|uitschrijfdatum"
        ),
        (
            "einddatum|end date|contract end date|einddatum contract|"
            "contract einddatum|ended at|beeindigd op|datum beeindiging"
        ),
    ),
    "plan": (
        (
            "plan|plan name|abonnement|abonnementsvorm|subscription|"
            "subscription plan|pakket|package|tariff|tarief"
        ),
        "product|contract|contract type|contractvorm|producttype",
    ),
    "segment": (
        "segment|klantsegment|customer segment|klant segment|market segment",
        "customer type|klanttype|klantgroep|customer group|type klant",
    ),
    "region": (
        "region|regio|sales region|verkoopregio",
        "provincie|province|state|county|gewest",
    ),
    "tenure_months": (
        (
            "tenure|tenure months|tenure in months|months as customer|"
            "customer months|looptijd maanden|looptijd in maanden|"
            "klant sinds maanden|aantal maanden klant|maanden klant|duur in maanden|"
            "lidmaatschap maanden"
        ),
        (
            "looptijd|aantal maanden|months|months on book|months active|"
            "active months|maanden actief|tenure years|"
            "tenure in years|tenure yrs|tenure yr|tenure year|years as customer|"
            "customer years|years customer|"
            "looptijd jaren|looptijd in jaren|jaren klant|aantal jaren klant|"
            "klant sinds jaren|lidmaatschap jaren|duur in jaren"
        ),
    ),
    "monthly_revenue": (
        (
            "monthly charges|monthly charge|mrr|monthly revenue|monthly fee|"
            "monthly amount|monthly price|maandbedrag|maandelijks bedrag|maandomzet|"
            "maandprijs|bedrag per maand|prijs per maand|maandtarief|"
            "kosten per maand|maandlasten"
        ),
    ),
    "lifetime_value": (
        (
            "cltv|clv|ltv|lifetime value|customer lifetime value|klantwaarde|"
            "klantlevensduurwaarde|lifetime revenue"
        ),
        (
            "total charges|total revenue|total spent|total spend|totaalbedrag|"
            "totale omzet|omzet totaal|totaal omzet|totaal besteed"
        ),
    ),
    # Which words say a customer left, and which that they stay, depends on
    # the column too: see csv_status.STATUS_HEADERS.
    "status": (
        (
            "churn|churned|churn label|churn value|churn flag|churn status|exited|"
            "attrition|attrition flag|has left|left|is churned|departed|"
            "customer status|klantstatus|klant status|account status|"
            "subscription status|abonnementsstatus|contract status|contractstatus|"
            "membership status|opgezegd|vertrokken|is opgezegd|opzegging|actief|"
            "active|is active|is actief|active customer|actieve klant|klant actief|"
            "nog klant|still customer"
        ),
        "status",
    ),
    "stated_reason": (
        (
            "churn reason|cancellation reason|cancelation reason|cancel reason|"
            "reason for leaving|reason for cancellation|reason for churn|"
            "exit reason|termination reason|stated reason|reden opzegging|"
            "opzegreden|opzeggingsreden|reden van opzegging|reden vertrek|"
            "vertrekreden|reden van vertrek|reden beeindiging"
        ),
        "churn category|churn reason category|reason|reden|reason category",
    ),
    "stated_comment": (
        (
            "comment|comments|opmerking|opmerkingen|toelichting|feedback|"
            "customer comment|churn comment|cancellation comment|exit comment|"
            "exit feedback|customer feedback|klantfeedback|opmerking klant|"
            "toelichting opzegging|remarks|reason details|reden toelichting"
        ),
    ),
}

_ALIAS_INDEX: dict[str, tuple[str, int]] = {}
for _target, _tiers in _ALIASES.items():
    for _tier, _names in enumerate(_tiers):
        for _name in _names.split("|"):
            _ALIAS_INDEX.setdefault(normalise_header(_name), (_target, _tier))
# The rejected-rows file's own columns, dropped when it is uploaded again.
_IGNORED = {normalise_header(n) for labels in REJECT_COLUMNS.values() for n in labels}


# A customer number written as one word, as database exports name it:
# CLIENTNUM, CustID, KlantNr, AcctNo, MemberNumber.
_ID_WORD = re.compile(
    r"(?:customer|cust|client|klant|relatie|account|acct|member|lid|subscriber|"
    r"abonnee|debiteur|user)(?:id|num|number|nummer|nr|no|code|key|ref)"
)


def guess_field(header: str) -> tuple[str | None, int]:
    """The target a header names and its preference (0 best), or (None, 99)."""
    keys = _header_keys(header)
    for key in keys:
        if key in _IGNORED:
            return SKIP, 0
        if key in _ALIAS_INDEX:
            return _ALIAS_INDEX[key]
    if any(_ID_WORD.fullmatch(key) for key in keys):
        return "external_id", 1
    return None, 99


def unique_headers(row: Sequence[str]) -> list[str]:
    """Header names as mapping keys: trimmed, blanks named, duplicates numbered."""
    headers: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(row, start=1):
        # A header guarded against formulas by an export is read unguarded.
        name = cell.replace("\ufeff", "").strip()
        name = spreadsheet_value(name).strip() or f"column_{position}"
        candidate, n = name, 1
        while candidate in seen:
            n += 1
            candidate = f"{name} ({n})"
        seen.add(candidate)
        headers.append(candidate)
    return headers


def suggest_mapping(headers: Sequence[str]) -> dict[str, str | None]:
    """Map headers to targets; each target goes to its best-named, leftmost column.

    Other columns that could name the same target map to None (kept as extra),
    so a suggestion never has duplicates. First/last name columns are only used
    when there is no full-name column.
    """
    best: dict[str, tuple[int, int]] = {}
    guesses: list[tuple[str | None, int]] = []
    for index, header in enumerate(headers):
        target, tier = guess_field(header)
        guesses.append((target, tier))
        if target and target != SKIP and (tier, index) < best.get(target, (99, 0)):
            best[target] = (tier, index)
    mapping: dict[str, str | None] = {}
    for index, header in enumerate(headers):
        target, tier = guesses[index]
        if target == SKIP:
            mapping[header] = SKIP
        elif target and best[target] == (tier, index):
            if target in NAME_PARTS and "name" in best:
                mapping[header] = None
            else:
                mapping[header] = target
        else:
            mapping[header] = None
    return mapping


def resolve_mapping(
    headers: Sequence[str], override: Mapping[str, str | None] | None
) -> tuple[dict[str, str | None], list[Problem]]:
    """The suggestion with the user's choices applied, and what is wrong with it.

    Headers the override leaves out keep their suggestion, except that a target
    the user gave to some column is taken away from the suggested one. Two
    columns the user mapped to one target are a duplicate_mapping problem.
    """
    mapping = suggest_mapping(headers)
    problems: list[Problem] = []
    if override:
        known = set(headers)
        chosen = {t for t in override.values() if t and t != SKIP}
        for header in headers:
            if header not in override and mapping[header] in chosen:
                mapping[header] = None
        for header, target in override.items():
            if header not in known:
                problems.append(_problem("unknown_header", header))
                continue
            if target is not None and target != SKIP and target not in TARGETS:
                problems.append(
                    _problem("unknown_mapping_field", header, _show(target))
                )
                continue
            mapping[header] = target
    by_target: dict[str, list[str]] = {}
    for header, target in mapping.items():
        if target and target != SKIP:
            by_target.setdefault(target, []).append(header)
    for target, columns in by_target.items():
        if len(columns) > 1:
            problems.append(
                _problem(
                    "duplicate_mapping",
                    columns[1],
                    target,
                    headers=", ".join(_show(c) for c in columns),
                )
            )
    if "external_id" not in by_target and "email" not in by_target:
        problems.append(_problem("no_id_column"))
    return mapping, problems
