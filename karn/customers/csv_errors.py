"""Shared types of the customer CSV parser: messages, errors and problems.

The lowest of the csv_* modules (csv_decoding, csv_headers, csv_values and the
reading driver csvparse all import it); it imports none of them.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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
    "too_few_columns": (
        "The row has {count} values but the header has {expected} columns; "
        "a value or a separator is missing",
        "De rij heeft {count} waarden maar de kopregel heeft {expected} kolommen; "
        "er ontbreekt een waarde of een scheidingsteken",
    ),
    "unclosed_quote": (
        'Lines {first}–{last}: a quote (") opened in this value is not closed, so '
        "the {swallowed} lines after it were read into this one value; close the "
        "quote and import these lines again",
        'Regels {first}–{last}: een aanhalingsteken (") dat in deze waarde opent '
        "wordt niet gesloten, zodat de {swallowed} regels erna in deze ene waarde "
        "zijn gelezen; sluit het aanhalingsteken en importeer deze regels opnieuw",
    ),
    "nul_byte": (
        "The row contains a NUL character (byte 0), which does not belong in a "
        "CSV file; the file may be damaged",
        "De rij bevat een NUL-teken (byte 0), dat niet in een CSV-bestand hoort; "
        "het bestand is mogelijk beschadigd",
    ),
    "duplicate_id": (
        "Customer number {value} is also on line {line}; only the first row with "
        "it is imported",
        "Klantnummer {value} staat ook op regel {line}; alleen de eerste rij "
        "ermee wordt geïmporteerd",
    ),
    "duplicate_email": (
        "E-mail address {value} is also on line {line}, and neither row has a "
        "customer number to tell them apart; only the first row is imported",
        "E-mailadres {value} staat ook op regel {line}, en geen van beide rijen "
        "heeft een klantnummer om ze te onderscheiden; alleen de eerste rij wordt "
        "geïmporteerd",
    ),
    "future_date": (
        "The departure date {value} is more than a year in the future",
        "De opzegdatum {value} ligt meer dan een jaar in de toekomst",
    ),
    "negative_amount": (
        "A negative amount is left out, the rest of the row kept (Karn stores no "
        "credits): {value}",
        "Een negatief bedrag is weggelaten, de rest van de rij behouden (Karn slaat "
        "geen creditbedragen op): {value}",
    ),
    "unknown_status": (
        "Cannot tell from {value} whether the customer left; say what it means on "
        "the import page (or with --status-map)",
        "Uit {value} valt niet op te maken of de klant is vertrokken; geef op de "
        "importpagina (of met --status-map) aan wat het betekent",
    ),
    "missing_status": (
        "The status is empty: the row does not say whether the customer left",
        "De status is leeg: de rij zegt niet of de klant is vertrokken",
    ),
    "invalid_status": (
        "Status must be active or departed: {value}",
        "Status moet active of departed zijn: {value}",
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
        "No column holds a customer ID or an e-mail address: choose the column "
        "that does for Customer ID (on the import page, or with --mapping "
        "COLUMN=external_id), or add one with a number per customer",
        "Geen kolom bevat een klantnummer of een e-mailadres: kies de kolom die "
        "dat wel doet bij Klantnummer (op de importpagina, of met --mapping "
        "KOLOM=external_id), of voeg er een toe met een nummer per klant",
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
    # Warnings: the file was read, but something in it needs a look.
    "stray_byte": (
        "1 byte is not UTF-8 and was read as Windows-1252 (on line {line}); "
        "check the characters on that line",
        "1 byte is geen UTF-8 en is gelezen als Windows-1252 (op regel {line}); "
        "controleer de tekens op die regel",
    ),
    "rows_with_warnings": (
        "Rows imported with a value left out: {count}.",
        "Rijen geïmporteerd met een waarde weggelaten: {count}.",
    ),
    "row_warning": (
        "Line {line}, column {column}: {message}",
        "Regel {line}, kolom {column}: {message}",
    ),
    "more_rows": ("… and {count} more", "… en nog {count}"),
    "stray_bytes": (
        "{count} bytes are not UTF-8 and were read as Windows-1252 (the first on "
        "line {line}); check the characters on those lines",
        "{count} bytes zijn geen UTF-8 en zijn gelezen als Windows-1252 (de eerste "
        "op regel {line}); controleer de tekens op die regels",
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


def message(code: str, lang: str = "en", **params: Any) -> str:
    """One of MESSAGES in lang ("nl" or "en"), filled in."""
    en, nl = _message(code, params)
    return nl if lang == "nl" else en


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
