"""Streaming parser for CSV exports of departed customers: detect, map, validate.

A CRM export is read in three steps:

1. ``detect(stream)`` looks at the first 64 KiB: encoding (UTF-8 with or without
   BOM, UTF-16 with BOM, else Windows-1252), delimiter (comma, semicolon, tab),
   headers, a suggested header-to-field mapping and a few preview rows, so an
   upload page can show what was found and let the user correct the mapping.
2. ``parse(stream, mapping)`` reads the whole file incrementally and yields a
   ``Record`` for every good row and a ``RowError`` for every bad one; memory use
   does not grow with the file.
3. ``rejected_rows_csv(errors)`` / ``write_rejected_rows(out, errors)`` build the
   downloadable CSV of rejected rows, which can be fixed and uploaded again.

``validate_record(fields)`` applies exactly the same field rules to a dict, for
the JSON API.

Only an ID or an e-mail address is required. A missing departure date is None
(exports such as the Telco churn data have none); the importer decides what
to store then. ``Record.fields`` has a key for every field the mapping covers,
so an upsert can tell "column absent" from "cell empty" (None).

Line numbers: ``line`` is the physical line of the file on which a row starts
(the header is line 1, and a quoted value with a newline in it spans several
lines); ``row`` is the row number a spreadsheet shows for the same record (the
header is row 1, a record is one row however many lines it spans).

Dates are read day-first (``31-03-2024``, ``31/03/2024``, ``31.03.2024``) as a
Dutch company writes them, or as ISO 8601 (``2024-03-31``, with an optional time
and offset). A month-first date such as ``03/31/2024`` is accepted only when it
cannot be read day-first (its second number is above 12); ``04/03/2024`` is
always the 4th of March unless ``date_order="mdy"`` is passed. Times without an
offset are taken as UTC; every date becomes an aware UTC datetime.

Amounts accept a decimal comma or point, thousands separators, currency signs and
codes (``12,50``, ``1.234,56``, ``1,234.56``, ``€ 12,50``, ``EUR 12.50``). A
single separator followed by exactly three digits (``1.234``, ``1,234``) is read
as a thousands separator, because amounts in cents never have three decimals.
"""

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import IO, Any, BinaryIO

from email_validator import (
    SPECIAL_USE_DOMAIN_NAMES,
    EmailNotValidError,
    validate_email,
)

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
# Mapping targets that are combined into "name" when the file has no full name.
NAME_PARTS: tuple[str, ...] = ("first_name", "name_infix", "last_name")
# Mapping target for a column that must be dropped, not even kept as extra
# (e.g. a national ID number that has no business in Karn).
SKIP = "_skip"
TARGETS: tuple[str, ...] = FIELDS + NAME_PARTS

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
    "tenure_months": ("Tenure (months)", "Looptijd (maanden)"),
    "monthly_revenue": ("Monthly revenue", "Maandbedrag"),
    "lifetime_value": ("Lifetime value", "Klantwaarde"),
    "first_name": ("First name", "Voornaam"),
    "name_infix": ("Name infix (van, de)", "Tussenvoegsel"),
    "last_name": ("Last name", "Achternaam"),
    SKIP: ("Ignore this column", "Kolom negeren"),
}

# The column widths of the customers table.
MAX_LENGTHS: dict[str, int] = {
    "external_id": 100,
    "email": 254,
    "name": 200,
    "phone": 50,
    "plan": 100,
    "segment": 100,
    "region": 100,
}
MAX_AMOUNT = Decimal("1e12")
MAX_TENURE_MONTHS = 1200
SAMPLE_SIZE = 64 * 1024
_CHUNK = 64 * 1024
_CENT = Decimal("0.01")

# code -> (English, Dutch); {value}, {max} etc. are filled in per error.
MESSAGES: dict[str, tuple[str, str]] = {
    # Row and field errors.
    "invalid_email": (
        "Not a valid e-mail address: {value}",
        "Geen geldig e-mailadres: {value}",
    ),
    "unparseable_date": (
        "Not a date that can be read: {value} (use e.g. 31-03-2024 or 2024-03-31)",
        "Geen leesbare datum: {value} (gebruik bijv. 31-03-2024 of 2024-03-31)",
    ),
    "negative_revenue": (
        "An amount cannot be negative: {value}",
        "Een bedrag kan niet negatief zijn: {value}",
    ),
    "negative_tenure": (
        "Tenure cannot be negative: {value}",
        "Looptijd kan niet negatief zijn: {value}",
    ),
    "bad_number": ("Not a number: {value}", "Geen getal: {value}"),
    "bad_integer": (
        "Not a whole number of months: {value}",
        "Geen heel aantal maanden: {value}",
    ),
    "number_too_large": (
        "Number is too large (at most {max}): {value}",
        "Getal is te groot (hoogstens {max}): {value}",
    ),
    "unknown_language": (
        "Unknown language: {value} (use nl or en)",
        "Onbekende taal: {value} (gebruik nl of en)",
    ),
    "phone_without_digits": (
        "Phone number has no digits: {value}",
        "Telefoonnummer bevat geen cijfers: {value}",
    ),
    "too_long": (
        "Value is longer than {max} characters",
        "Waarde is langer dan {max} tekens",
    ),
    "invalid_value": (
        "Value of the wrong type: {value}",
        "Waarde van het verkeerde type: {value}",
    ),
    "unknown_field": ("Unknown field: {value}", "Onbekend veld: {value}"),
    "missing_id_and_email": (
        "The row has neither a customer ID nor an e-mail address",
        "De rij heeft geen klantnummer en geen e-mailadres",
    ),
    "too_many_columns": (
        "The row has {count} values but the header has {expected} columns",
        "De rij heeft {count} waarden maar de kopregel heeft {expected} kolommen",
    ),
    # File errors.
    "empty_file": ("The file is empty", "Het bestand is leeg"),
    "no_header": (
        "The first line is not a header row with column names",
        "De eerste regel is geen kopregel met kolomnamen",
    ),
    "binary_file": (
        "This is not a text (CSV) file",
        "Dit is geen tekstbestand (CSV)",
    ),
    "spreadsheet_file": (
        "This is an Excel workbook; save it as CSV and upload that",
        "Dit is een Excel-werkmap; sla hem op als CSV en upload die",
    ),
    "undecodable": (
        "Line {line} contains characters that cannot be read",
        "Regel {line} bevat tekens die niet gelezen kunnen worden",
    ),
    "malformed_csv": (
        "Line {line} is not valid CSV: {value}",
        "Regel {line} is geen geldige CSV: {value}",
    ),
    "no_id_column": (
        "No column holds a customer ID or an e-mail address",
        "Geen kolom bevat een klantnummer of een e-mailadres",
    ),
    "duplicate_mapping": (
        "Columns {headers} are all mapped to {field}; choose one",
        "Kolommen {headers} zijn allemaal gekoppeld aan {field}; kies er één",
    ),
    "unknown_mapping_field": (
        "Column {header} is mapped to an unknown field: {field}",
        "Kolom {header} is gekoppeld aan een onbekend veld: {field}",
    ),
    "unknown_header": (
        "The mapping names a column the file does not have: {header}",
        "De koppeling noemt een kolom die niet in het bestand staat: {header}",
    ),
    "too_many_errors": (
        "Stopped after more than {max} rejected rows (line {line})",
        "Gestopt na meer dan {max} afgekeurde rijen (regel {line})",
    ),
}

# Labels of the columns the rejected-rows CSV adds; an upload ignores them.
REJECT_COLUMNS: dict[str, tuple[str, str, str, str]] = {
    "en": ("Karn line", "Karn row", "Karn column", "Karn reason"),
    "nl": ("Karn regel", "Karn rij", "Karn kolom", "Karn reden"),
}


def _message(code: str, params: Mapping[str, Any]) -> tuple[str, str]:
    en, nl = MESSAGES[code]
    return en.format_map(params), nl.format_map(params)


def _show(value: Any) -> str:
    """Quote a bad value for a message, shortened so a message stays readable."""
    text = str(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"'{text}'"


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem in one value; column is the original header, None for the row."""

    column: str | None
    code: str
    message_en: str
    message_nl: str

    @classmethod
    def make(cls, column: str | None, code: str, **params: Any) -> "FieldError":
        """Build an error with its English and Dutch messages filled in."""
        en, nl = _message(code, params)
        return cls(column, code, en, nl)

    def message(self, lang: str = "en") -> str:
        """The message in lang ("nl" or "en")."""
        return self.message_nl if lang == "nl" else self.message_en


@dataclass(slots=True)
class Record:
    """A good row: canonical fields (those the mapping covers) and extra columns."""

    line: int
    fields: dict[str, Any]
    extra: dict[str, str]
    row: int


@dataclass(slots=True)
class RowError:
    """A rejected row with every problem found in it and its original values."""

    line: int
    raw: dict[str, str]
    errors: list[FieldError]
    row: int
    # Values beyond the last header column, kept for the rejected-rows file.
    overflow: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Problem:
    """A problem with the file or the mapping, found before any row is read."""

    code: str
    message_en: str
    message_nl: str
    header: str | None = None
    field: str | None = None


class CsvFormatError(ValueError):
    """The file as a whole cannot be imported; code plus English/Dutch messages."""

    def __init__(
        self,
        code: str,
        *,
        line: int | None = None,
        problems: Sequence[Problem] = (),
        **params: Any,
    ) -> None:
        self.code = code
        self.line = line
        self.problems = tuple(problems)
        if self.problems:
            self.message_en = "; ".join(p.message_en for p in self.problems)
            self.message_nl = "; ".join(p.message_nl for p in self.problems)
        else:
            self.message_en, self.message_nl = _message(code, {"line": line, **params})
        super().__init__(self.message_en)

    def message(self, lang: str = "en") -> str:
        """The message in lang ("nl" or "en")."""
        return self.message_nl if lang == "nl" else self.message_en


def _problem(
    code: str, header: str | None = None, fld: str | None = None, **kw: Any
) -> Problem:
    en, nl = _message(code, {"header": header, "field": fld, **kw})
    return Problem(code, en, nl, header, fld)


@dataclass(slots=True)
class Detected:
    """What detect() found, for an upload page to show and let the user correct."""

    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str | None]
    preview_rows: list[dict[str, str]]
    # "dmy" unless the preview has dates that can only be month-first.
    date_order: str = "dmy"
    # Mapping problems (e.g. no ID or e-mail column) that parse() would raise.
    problems: list[Problem] = field(default_factory=list)


# --- Encoding --------------------------------------------------------------


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    """Read a stray non-UTF-8 byte in a UTF-8 file as Windows-1252.

    The sample may be pure ASCII while a "Müller" written by Excel in cp1252
    turns up 50,000 rows later; that row must load rather than fail the file.
    """
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252"), exc.end


_FALLBACK = "karn.csvparse.cp1252"
codecs.register_error(_FALLBACK, _cp1252_fallback)

_SPREADSHEET_MAGIC = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
_BINARY_MAGIC = (b"%PDF-", b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"\x1f\x8b")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def _read_sample(stream: IO[bytes], size: int) -> tuple[bytes, bool]:
    """Read up to size bytes (short reads included) and whether the file ended."""
    parts: list[bytes] = []
    got = 0
    while got < size:
        chunk = stream.read(size - got)
        if not chunk:
            return b"".join(parts), True
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts), False


def _sniff_encoding(sample: bytes, complete: bool) -> str:
    """Choose the codec for a file from its first bytes."""
    if sample.startswith(codecs.BOM_UTF8):
        body, encoding = sample[3:], "utf-8-sig"
    elif sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" export: UTF-16 with BOM, tab-separated.
        body, encoding = sample[2:], "utf-16"
    else:
        body, encoding = sample, ""
    if not body.strip():
        raise CsvFormatError("empty_file")
    if sample.startswith(_SPREADSHEET_MAGIC):
        raise CsvFormatError("spreadsheet_file")
    if sample.startswith(_BINARY_MAGIC):
        raise CsvFormatError("binary_file")
    if encoding == "utf-16":
        return encoding
    if b"\x00" in body:
        raise CsvFormatError("binary_file")
    try:
        # final=False: a multi-byte character cut at the sample edge is no error.
        codecs.getincrementaldecoder("utf-8")().decode(body, final=complete)
        return encoding or "utf-8"
    except UnicodeDecodeError:
        if encoding:
            # A BOM says UTF-8; stray cp1252 bytes are read by the fallback.
            return encoding
    try:
        body.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise CsvFormatError(
            "undecodable", line=body[: exc.start].count(b"\n") + 1
        ) from None
    return "cp1252"


def _errors_for(encoding: str) -> str:
    """Decoding errors mode: UTF-8 files tolerate stray cp1252 bytes."""
    if codecs.lookup(encoding).name in ("utf-8", "utf-8-sig"):
        return _FALLBACK
    return "strict"


class _Prefixed(io.RawIOBase):
    """The sample already read, then the rest of the stream, as one raw stream.

    Closing it leaves the caller's stream open.
    """

    def __init__(self, prefix: bytes, stream: IO[bytes]) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = len(buffer)
        if self._prefix:
            chunk: Any = self._prefix[:size]
            self._prefix = self._prefix[size:]
        else:
            chunk = self._stream.read(size) or b""
        buffer[: len(chunk)] = chunk
        return len(chunk)


# --- Delimiter -------------------------------------------------------------

_DELIMITERS = (",", ";", "\t")
# Excel reads and writes a first line "sep=;" that names the delimiter.
_SEP_LINE = re.compile(r"sep=(.)(?:\r\n|\n|\r|$)", re.IGNORECASE)


def _complete_text(text: str, complete: bool) -> str:
    """Cut a sample at its last line end so no half row is looked at."""
    if complete:
        return text
    end = max(text.rfind("\n"), text.rfind("\r"))
    return text[: end + 1] if end >= 0 else text


def _sniff_delimiter(text: str) -> str:
    """Pick the delimiter that splits the first rows most consistently.

    Each candidate parses up to 20 records with the csv module, so quoted
    delimiters and newlines are respected; the winner gives the header more than
    one column and the most rows the same width as the header. This is what
    csv.Sniffer attempts, without its habit of picking a letter or a quote.
    """
    best, best_score = ",", (False, -1.0, 0)
    for delimiter in _DELIMITERS:
        rows: list[list[str]] = []
        try:
            for record in csv.reader(io.StringIO(text), delimiter=delimiter):
                if any(v.strip() for v in record):
                    rows.append(record)
                if len(rows) >= 20:
                    break
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        body = rows[1:] or rows
        same = sum(1 for r in body if _width(r) == _width(rows[0])) / len(body)
        score = (width > 1, same, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _width(row: list[str]) -> int:
    """Width without trailing empty cells, which Excel adds or leaves out."""
    n = len(row)
    while n and not row[n - 1].strip():
        n -= 1
    return n


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
        "looptijd|aantal maanden|months",
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
}

_ALIAS_INDEX: dict[str, tuple[str, int]] = {}
for _target, _tiers in _ALIASES.items():
    for _tier, _names in enumerate(_tiers):
        for _name in _names.split("|"):
            _ALIAS_INDEX.setdefault(normalise_header(_name), (_target, _tier))
# The rejected-rows file's own columns, dropped when it is uploaded again.
_IGNORED = {normalise_header(n) for labels in REJECT_COLUMNS.values() for n in labels}


def guess_field(header: str) -> tuple[str | None, int]:
    """The target a header names and its preference (0 best), or (None, 99)."""
    for key in _header_keys(header):
        if key in _IGNORED:
            return SKIP, 0
        if key in _ALIAS_INDEX:
            return _ALIAS_INDEX[key]
    return None, 99


def unique_headers(row: Sequence[str]) -> list[str]:
    """Header names as mapping keys: trimmed, blanks named, duplicates numbered."""
    headers: list[str] = []
    seen: set[str] = set()
    for position, cell in enumerate(row, start=1):
        name = cell.replace("\ufeff", "").strip() or f"column_{position}"
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


# --- Values ----------------------------------------------------------------


class _Fail:
    """A value rule's verdict: code and message parameters (no exception cost)."""

    __slots__ = ("code", "params")

    def __init__(self, code: str, **params: Any) -> None:
        self.code = code
        self.params = params


_UTC_NAMES = {"Z", "z", "UTC", "GMT"}
_TIME = (
    r"(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6})\d*)?)?)?"
    r"\s*(Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?"
)
_ISO_DATE = re.compile(r"(\d{4})([-/.])(\d{1,2})\2(\d{1,2})" + _TIME)
_NUMERIC_DATE = re.compile(r"(\d{1,2})([-/.])(\d{1,2})\2(\d{4})" + _TIME)


@lru_cache(maxsize=4096)
def _parse_date(text: str, month_first: bool) -> datetime | _Fail:
    """A date string as an aware UTC datetime (cached: exports repeat dates)."""
    m = _ISO_DATE.fullmatch(text)
    if m:
        year, month, day = int(m[1]), int(m[3]), int(m[4])
    else:
        m = _NUMERIC_DATE.fullmatch(text)
        if not m:
            return _Fail("unparseable_date", value=_show(text))
        first, second, year = int(m[1]), int(m[3]), int(m[4])
        if month_first:
            month, day = (second, first) if first > 12 >= second else (first, second)
        else:
            month, day = (first, second) if second > 12 >= first else (second, first)
    hour, minute, second_ = int(m[5] or 0), int(m[6] or 0), int(m[7] or 0)
    micro = int((m[8] or "0").ljust(6, "0"))
    offset = m[9]
    if offset is None or offset in _UTC_NAMES:
        tz = UTC
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        tz = timezone(sign * delta)
    if not 1900 <= year <= 2200:
        return _Fail("unparseable_date", value=_show(text))
    try:
        moment = datetime(year, month, day, hour, minute, second_, micro, tzinfo=tz)
    except ValueError:
        return _Fail("unparseable_date", value=_show(text))
    return moment if tz is UTC else moment.astimezone(UTC)


_MONEY_NOISE = re.compile(r"(?i)eur(?:os?)?|usd|gbp|[€$£\s\u00a0\u2009\u202f']")
_NUMBER_CHARS = re.compile(r"[0-9.,]+")
_MINUS = ("-", "\u2212", "\u2013")


@lru_cache(maxsize=4096)
def _parse_decimal(text: str) -> Decimal | _Fail:
    """A number written the Dutch or the English way, signs and currency allowed."""
    bad = _Fail("bad_number", value=_show(text))
    s = _MONEY_NOISE.sub("", text)
    negative = False
    if s[:1] == "(" and s[-1:] == ")":
        negative, s = True, s[1:-1]
    if s[:1] in _MINUS:
        negative, s = True, s[1:]
    elif s[-1:] in _MINUS:
        negative, s = True, s[:-1]
    elif s[:1] == "+":
        s = s[1:]
    if not _NUMBER_CHARS.fullmatch(s) or not any(c.isdigit() for c in s):
        return bad
    dots, commas = s.count("."), s.count(",")
    if dots and commas:
        point = "." if s.rfind(".") > s.rfind(",") else ","
        grouping = "," if point == "." else "."
        if s.count(point) > 1:
            return bad
        whole, _, fraction = s.partition(point)
        groups = whole.split(grouping)
    elif dots + commas > 1:
        whole, fraction = s, ""
        groups = whole.split("." if dots else ",")
    elif dots + commas == 1:
        whole, _, fraction = s.partition("." if dots else ",")
        if len(fraction) == 3 and 1 <= len(whole) <= 3 and whole[0] != "0":
            # "1.234" / "1,234": a thousands separator, see the module notes.
            whole, fraction = whole + fraction, ""
        groups = [whole]
    else:
        whole, fraction, groups = s, "", [s]
    if len(groups) > 1 and (
        not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:])
    ):
        return bad
    digits = "".join(groups) or "0"
    if not digits.isdigit() or (fraction and not fraction.isdigit()):
        return bad
    try:
        value = Decimal(f"{digits}.{fraction}" if fraction else digits)
    except InvalidOperation:
        return bad
    return -value if negative else value


def _money(value: Decimal, shown: Any) -> Decimal | _Fail:
    if not value.is_finite():
        return _Fail("bad_number", value=_show(shown))
    if value < 0:
        return _Fail("negative_revenue", value=_show(shown))
    if value >= MAX_AMOUNT:
        return _Fail("number_too_large", value=_show(shown), max=MAX_AMOUNT)
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _tenure(value: Decimal, shown: Any) -> int | _Fail:
    if not value.is_finite():
        return _Fail("bad_number", value=_show(shown))
    if value < 0:
        return _Fail("negative_tenure", value=_show(shown))
    if value != value.to_integral_value():
        return _Fail("bad_integer", value=_show(shown))
    if value > MAX_TENURE_MONTHS:
        return _Fail("number_too_large", value=_show(shown), max=MAX_TENURE_MONTHS)
    return int(value)


# The common shapes ("12", "12,5", "€ 12.50"), read without the general parser.
_PLAIN_AMOUNT = re.compile(r"(?:€ ?)?(\d{1,9})(?:[.,](\d{1,2}))?")
_GROUPED_AMOUNT = re.compile(
    r"(?:€ ?)?(?:([1-9]\d{0,2}(?:\.\d{3}){1,3})(?:,(\d{1,2}))?"
    r"|([1-9]\d{0,2}(?:,\d{3}){1,3})(?:\.(\d{1,2}))?)"
)
_PLAIN_INTEGER = re.compile(r"\d{1,4}")


def _money_str(text: str) -> Decimal | _Fail:
    m = _PLAIN_AMOUNT.fullmatch(text)
    if m:
        return Decimal(f"{m[1]}.{(m[2] or '').ljust(2, '0')}")
    m = _GROUPED_AMOUNT.fullmatch(text)
    if m:
        whole = (m[1] or m[3]).replace(".", "").replace(",", "")
        return Decimal(f"{whole}.{(m[2] or m[4] or '').ljust(2, '0')}")
    value = _parse_decimal(text)
    return value if type(value) is _Fail else _money(value, text)


def parse_money(text: str) -> Decimal | None:
    """An amount typed in a form (Dutch or English way), or None if it is not one."""
    value = _money_str(text.strip())
    return None if type(value) is _Fail else value


def _tenure_str(text: str) -> int | _Fail:
    if _PLAIN_INTEGER.fullmatch(text):
        months = int(text)
        if months <= MAX_TENURE_MONTHS:
            return months
    value = _parse_decimal(text)
    return value if type(value) is _Fail else _tenure(value, text)


_LANGUAGE_WORDS = {
    "nl": "nl",
    "nld": "nl",
    "dut": "nl",
    "ned": "nl",
    "dutch": "nl",
    "nederlands": "nl",
    "hollands": "nl",
    "vlaams": "nl",
    "flemish": "nl",
    "en": "en",
    "eng": "en",
    "english": "en",
    "engels": "en",
    "anglais": "en",
}


_LANGUAGE_CODES = {"nl": "nl", "nld": "nl", "dut": "nl", "en": "en", "eng": "en"}


@lru_cache(maxsize=256)
def _language(text: str) -> str | _Fail:
    """nl or en from a code (nl-NL, en_GB) or a name in English or Dutch."""
    key = text.casefold().replace("_", "-")
    found = _LANGUAGE_WORDS.get(key)
    if found is None and "-" in key:
        # A tag with a region or script (nl-BE, en-GB): only codes, not names.
        found = _LANGUAGE_CODES.get(key.split("-", 1)[0])
    if found is not None:
        return found
    return _Fail("unknown_language", value=_show(text))


# An address this matches is one email_validator accepts, with the same result
# after lower-casing; anything else goes to email_validator itself. Domains with
# "--" (punycode and its look-alikes) and reserved names are left to it.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_FAST_EMAIL = re.compile(
    rf"({_ATOM}(?:\.{_ATOM})*)@((?:[a-z0-9](?:[a-z0-9-]{{0,61}}[a-z0-9])?\.)+"
    r"[a-z]{2,63})",
    re.IGNORECASE,
)
# email_validator's reserved names (local, test, ...); a domain ending in one of
# them is left to email_validator to reject.
_RESERVED_TLDS = frozenset(d.lower() for d in SPECIAL_USE_DOMAIN_NAMES if "." not in d)
_RESERVED_SUFFIXES = tuple(
    "." + d.lower() for d in SPECIAL_USE_DOMAIN_NAMES if "." in d
)


def _email(text: str) -> str | _Fail:
    """A valid address, lower-cased; the full check only runs for unusual ones."""
    m = _FAST_EMAIL.fullmatch(text)
    if m and len(text) <= 254 and len(m[1]) <= 64:
        domain = m[2].lower()
        if (
            "--" not in domain
            and domain.rpartition(".")[2] not in _RESERVED_TLDS
            and not (_RESERVED_SUFFIXES and ("." + domain).endswith(_RESERVED_SUFFIXES))
        ):
            return text.lower()
    return _email_slow(text)


@lru_cache(maxsize=1024)
def _email_slow(text: str) -> str | _Fail:
    try:
        result = validate_email(text, check_deliverability=False)
    except EmailNotValidError:
        return _Fail("invalid_email", value=_show(text))
    return result.normalized.lower()


_DIGIT = re.compile(r"\d")


def _phone(text: str) -> str | _Fail:
    if not _DIGIT.search(text):
        return _Fail("phone_without_digits", value=_show(text))
    if len(text) > MAX_LENGTHS["phone"]:
        return _Fail("too_long", max=MAX_LENGTHS["phone"])
    return text


def _text_rule(limit: int):
    def rule(text: str) -> str | _Fail:
        return text if len(text) <= limit else _Fail("too_long", max=limit)

    return rule


def _date_dmy(text: str) -> datetime | _Fail:
    return _parse_date(text, False)


def _date_mdy(text: str) -> datetime | _Fail:
    return _parse_date(text, True)


# Rules for string values (already stripped and non-empty), by date order.
_BASE_RULES: dict[str, Any] = {
    "external_id": _text_rule(MAX_LENGTHS["external_id"]),
    "email": _email,
    "name": _text_rule(MAX_LENGTHS["name"]),
    "phone": _phone,
    "language": _language,
    "plan": _text_rule(MAX_LENGTHS["plan"]),
    "segment": _text_rule(MAX_LENGTHS["segment"]),
    "region": _text_rule(MAX_LENGTHS["region"]),
    "tenure_months": _tenure_str,
    "monthly_revenue": _money_str,
    "lifetime_value": _money_str,
}
_STRING_RULES: dict[bool, dict[str, Any]] = {
    False: {**_BASE_RULES, "departed_at": _date_dmy},
    True: {**_BASE_RULES, "departed_at": _date_mdy},
}
_NUMBER_FIELDS = {"tenure_months", "monthly_revenue", "lifetime_value"}


def _typed(name: str, value: Any) -> Any:
    """Rules for values that arrive typed from JSON (int, float, datetime...)."""
    if name in _NUMBER_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            return _Fail("invalid_value", value=_show(value))
        try:
            number = value if isinstance(value, Decimal) else Decimal(str(value))
        except InvalidOperation:
            return _Fail("bad_number", value=_show(value))
        if name == "tenure_months":
            return _tenure(number, value)
        return _money(number, value)
    if name == "departed_at":
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)
            return value.astimezone(UTC)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        return _Fail("invalid_value", value=_show(value))
    if name in ("external_id", "phone") and type(value) is int:
        return _BASE_RULES[name](str(value))
    return _Fail("invalid_value", value=_show(value))


def _validate(
    values: Mapping[str, Any],
    month_first: bool,
) -> tuple[dict[str, Any], list[FieldError]]:
    """validate_record()'s loop over _STRING_RULES, which parse() also applies."""
    rules = _STRING_RULES[month_first]
    clean: dict[str, Any] = {}
    errors: list[FieldError] | None = None
    for name, value in values.items():
        if type(value) is str or isinstance(value, str):
            value = value.strip()
            if not value:
                clean[name] = None
                continue
            rule = rules.get(name)
            if rule is None:
                result = _Fail("unknown_field", value=_show(name))
            else:
                result = rule(value)
        elif value is None:
            clean[name] = None
            continue
        elif name not in rules:
            result = _Fail("unknown_field", value=_show(name))
        else:
            result = _typed(name, value)
        if type(result) is _Fail:
            if errors is None:
                errors = []
            errors.append(FieldError.make(name, result.code, **result.params))
        else:
            clean[name] = result
    # Only when both are absent: an e-mail that is present but invalid already
    # has its own error, and "missing" would mislead.
    if _blank(values.get("external_id")) and _blank(values.get("email")):
        if errors is None:
            errors = []
        errors.append(FieldError.make(None, "missing_id_and_email"))
    return clean, errors or []


def _blank(value: Any) -> bool:
    return value is None or (type(value) is str and not value.strip())


def validate_record(
    fields: Mapping[str, Any], *, date_order: str = "dmy"
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check and clean one customer's fields (strings or typed JSON values).

    Returns the cleaned fields (only the keys given; empty strings become None)
    and the errors, whose column is the field name. The same rules as parse().
    """
    return _validate(fields, _month_first(date_order))


def _month_first(date_order: str) -> bool:
    if date_order not in ("dmy", "mdy"):
        raise ValueError(f"date_order must be 'dmy' or 'mdy', not {date_order!r}")
    return date_order == "mdy"


# --- Reading ---------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    encoding: str
    delimiter: str
    text: IO[str]
    sample_text: str
    lines_before: int  # lines consumed before csv.reader starts (a sep= line)


def _open(stream: IO[bytes], encoding: str | None, delimiter: str | None) -> _Source:
    sample, complete = _read_sample(stream, SAMPLE_SIZE)
    if encoding is None:
        encoding = _sniff_encoding(sample, complete)
    elif not sample.strip():
        raise CsvFormatError("empty_file")
    errors = _errors_for(encoding)
    try:
        sample_text = codecs.getincrementaldecoder(encoding)(errors).decode(
            sample, final=complete
        )
    except UnicodeDecodeError as exc:
        line = sample[: exc.start].count(b"\n") + 1
        raise CsvFormatError("undecodable", line=line) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    sample_text = sample_text.lstrip("\ufeff")
    if len(_CONTROL.findall(sample_text[:4096])) > 8:
        raise CsvFormatError("binary_file")
    lines_before = 0
    sep = _SEP_LINE.match(sample_text)
    if sep:
        lines_before = 1
        delimiter = delimiter or sep[1]
        sample_text = sample_text[sep.end() :]
    if delimiter is None:
        delimiter = _sniff_delimiter(_complete_text(sample_text, complete))
    buffered = io.BufferedReader(_Prefixed(sample, stream), buffer_size=_CHUNK)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")
    for _ in range(lines_before):
        text.readline()
    return _Source(encoding, delimiter, text, sample_text, lines_before)


def _guess_date_order(rows: Iterable[dict[str, str]], column: str | None) -> str:
    """mdy only if a sample date cannot be day-first and none must be day-first."""
    if column is None:
        return "dmy"
    votes = {"dmy": 0, "mdy": 0}
    for row in rows:
        m = _NUMERIC_DATE.fullmatch(row.get(column, "").strip())
        if m:
            first, second = int(m[1]), int(m[3])
            if first > 12 >= second:
                votes["dmy"] += 1
            elif second > 12 >= first:
                votes["mdy"] += 1
    return "mdy" if votes["mdy"] and not votes["dmy"] else "dmy"


def detect(
    stream: IO[bytes],
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
    preview: int = 5,
) -> Detected:
    """Look at the start of a file: encoding, delimiter, headers, mapping, rows.

    Reads at most 64 KiB and puts a seekable stream back where it was, so the
    same stream can go to parse() next.
    """
    start = stream.tell() if stream.seekable() else None
    try:
        source = _open(stream, encoding, delimiter)
        source.text.detach()
    finally:
        if start is not None:
            stream.seek(start)
    rows = csv.reader(io.StringIO(source.sample_text), delimiter=source.delimiter)
    header, _ = _first_row(rows, source.lines_before)
    headers = unique_headers(header)
    _check_header(headers)
    mapping, problems = resolve_mapping(headers, None)
    preview_rows: list[dict[str, str]] = []
    date_rows: list[dict[str, str]] = []
    try:
        for row in rows:
            if not "".join(row).strip():
                continue
            values = dict(zip(headers, row, strict=False))
            if len(preview_rows) < preview:
                preview_rows.append(values)
            date_rows.append(values)
            if len(date_rows) >= 200:
                break
    except csv.Error:
        pass  # the sample may end inside a quoted value; parse() reports it
    date_column = next((h for h, t in mapping.items() if t == "departed_at"), None)
    return Detected(
        encoding=source.encoding,
        delimiter=source.delimiter,
        headers=headers,
        mapping=mapping,
        preview_rows=preview_rows,
        date_order=_guess_date_order(date_rows, date_column),
        problems=problems,
    )


def _first_row(reader: Any, lines_before: int) -> tuple[list[str], int]:
    """The header row (the first non-blank record) and its spreadsheet row."""
    records = 0
    try:
        for row in reader:
            records += 1
            if "".join(row).strip():
                return row, records
    except csv.Error as exc:
        raise CsvFormatError(
            "malformed_csv", line=reader.line_num + lines_before, value=str(exc)
        ) from None
    raise CsvFormatError("empty_file")


_LOOKS_LIKE_DATA = re.compile(
    r"[^@\s]+@[^@\s]+\.[a-z]{2,}|\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}(?:[ T].*)?",
    re.IGNORECASE,
)


def _check_header(headers: Sequence[str]) -> None:
    """A first row holding an address or a date is data: the header is missing."""
    if any(_LOOKS_LIKE_DATA.fullmatch(h) for h in headers):
        raise CsvFormatError("no_header")


def parse(
    stream: IO[bytes] | BinaryIO,
    mapping: Mapping[str, str | None] | None = None,
    *,
    max_errors: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_order: str = "dmy",
) -> Iterator[Record | RowError]:
    """Read a CSV export row by row: a Record per good row, a RowError per bad one.

    mapping overrides the suggested header -> field mapping (see
    resolve_mapping). The header and mapping are checked when parse() is
    called, so a CsvFormatError for them comes before any row is read. A file
    that turns out unreadable halfway raises CsvFormatError from the iterator;
    so does the first rejected row beyond max_errors.
    """
    month_first = _month_first(date_order)
    source = _open(stream, encoding, delimiter)
    reader = csv.reader(source.text, delimiter=source.delimiter)
    header, header_row = _read_header(reader, source)
    headers = unique_headers(header)
    _check_header(headers)
    resolved, problems = resolve_mapping(headers, mapping)
    if problems:
        raise CsvFormatError(problems[0].code, problems=problems)
    return _rows(reader, source, headers, resolved, max_errors, month_first, header_row)


def _read_header(reader: Any, source: _Source) -> tuple[list[str], int]:
    try:
        return _first_row(reader, source.lines_before)
    except UnicodeDecodeError:
        raise CsvFormatError("undecodable", line=source.lines_before + 1) from None


def _rows(
    reader: Any,
    source: _Source,
    headers: list[str],
    mapping: dict[str, str | None],
    max_errors: int | None,
    month_first: bool,
    header_row: int,
) -> Iterator[Record | RowError]:
    # The same rules as _validate(), unrolled per column: this loop runs for
    # every row of files with 100,000 rows.
    rules = _STRING_RULES[month_first]
    width = len(headers)
    plan: list[tuple[int, str, str, Any]] = []
    parts_at: list[tuple[int, str, str]] = []
    extra_at: list[tuple[int, str]] = []
    index_of: dict[str, int] = {}
    for index, header in enumerate(headers):
        target = mapping[header]
        if target is None:
            extra_at.append((index, header))
        elif target in NAME_PARTS:
            parts_at.append((NAME_PARTS.index(target), index, header))
        elif target != SKIP:
            plan.append((index, target, header, rules[target]))
            index_of[target] = index
    parts_at.sort()
    part_indexes = [index for _, index, _ in parts_at]
    name_index = index_of.get("name")
    if parts_at:
        # The combined name is appended to each row as one more cell (-1).
        header = headers[name_index] if name_index is not None else parts_at[0][2]
        plan = [p for p in plan if p[1] != "name"]
        plan.append((-1, "name", header, rules["name"]))
    id_index = index_of.get("external_id")
    email_index = index_of.get("email")
    offset = source.lines_before
    last_line = reader.line_num + offset
    row_number = header_row
    rejected = 0
    fail = _Fail
    make_error = FieldError.make
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            raise CsvFormatError("undecodable", line=last_line + 1) from None
        except csv.Error as exc:
            raise CsvFormatError(
                "malformed_csv", line=last_line + 1, value=str(exc)
            ) from None
        line = last_line + 1
        last_line = reader.line_num + offset
        row_number += 1
        n = len(row)
        if n < width:
            row += [""] * (width - n)
        if not "".join(row).strip():
            continue
        errors: list[FieldError] = []
        overflow: tuple[str, ...] = ()
        if n > width:
            overflow = tuple(row[width:])
            if any(v.strip() for v in overflow):
                errors.append(
                    make_error(
                        None, "too_many_columns", count=_width(row), expected=width
                    )
                )
        if parts_at:
            if name_index is not None and row[name_index].strip():
                row.append(row[name_index])
            else:
                row.append(
                    " ".join(p for p in (row[i].strip() for i in part_indexes) if p)
                )
        clean: dict[str, Any] = {}
        for index, name, header, rule in plan:
            value = row[index].strip()
            if not value:
                clean[name] = None
                continue
            result = rule(value)
            if type(result) is fail:
                errors.append(make_error(header, result.code, **result.params))
            else:
                clean[name] = result
        # As in _validate: only when both are absent, not merely invalid.
        if (id_index is None or not row[id_index].strip()) and (
            email_index is None or not row[email_index].strip()
        ):
            errors.append(make_error(None, "missing_id_and_email"))
        if errors:
            rejected += 1
            if max_errors is not None and rejected > max_errors:
                raise CsvFormatError("too_many_errors", line=line, max=max_errors)
            raw = dict(zip(headers, row, strict=False))
            yield RowError(line, raw, errors, row_number, overflow)
            continue
        extra = {}
        for index, header in extra_at:
            value = row[index].strip()
            if value:
                extra[header] = value
        yield Record(line, clean, extra, row_number)


# --- Rejected rows ---------------------------------------------------------


class _Utf8Writer:
    """A text sink for csv.writer that encodes onto a binary stream."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode("utf-8"))


def write_rejected_rows(
    out: IO[bytes],
    errors: Iterable[RowError],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
) -> int:
    """Stream rejected rows to out as UTF-8 CSV (with BOM, for Excel); the count.

    Each row: line, spreadsheet row, columns and reasons (in lang), then the
    original values. Fixed, the file can be uploaded again as it is: the added
    columns are ignored on import. headers default to the first error's columns.
    """
    labels = REJECT_COLUMNS.get(lang, REJECT_COLUMNS["en"])
    writer = csv.writer(_Utf8Writer(out), delimiter=delimiter, lineterminator="\r\n")
    out.write(codecs.BOM_UTF8)
    count = 0
    for error in errors:
        if headers is None:
            headers = list(error.raw)
        if count == 0:
            writer.writerow([*labels, *headers])
        writer.writerow(
            [
                error.line,
                error.row,
                "; ".join(dict.fromkeys(e.column or "" for e in error.errors)),
                "; ".join(e.message(lang) for e in error.errors),
                *(error.raw.get(h, "") for h in headers),
                *error.overflow,
            ]
        )
        count += 1
    if count == 0 and headers is not None:
        writer.writerow([*labels, *headers])
    return count


def rejected_rows_csv(
    errors: Iterable[RowError],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
) -> bytes:
    """The rejected-rows CSV as bytes (see write_rejected_rows)."""
    out = io.BytesIO()
    write_rejected_rows(out, errors, headers, lang=lang, delimiter=delimiter)
    return out.getvalue()
