"""The downloadable CSV of an import's rejected rows, to correct and import again.

Written as the uploaded file was, so the program that made the export opens it
the same way: its delimiter and its encoding (a semicolon-separated
Windows-1252 export from a Dutch Excel comes back semicolon-separated in
Windows-1252; UTF-8 gets a BOM so Excel reads it as UTF-8). Each row: its line
in the uploaded file, the reason (every problem of the row, its warnings too,
each after the column it is about), then the original values. The two added
columns are ignored when the file is uploaded again (csv_errors.REJECT_COLUMNS).

``read_rejected`` reads such a file back for the import result page.
"""

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from karn.customers.csv_decoding import _sniff_delimiter, _sniff_encoding
from karn.customers.csv_errors import REJECT_COLUMNS, CsvFormatError
from karn.formatting import spreadsheet_cell, spreadsheet_value

# The rows are csvparse.RowError (line, row, raw, errors, warnings, overflow);
# csvparse imports this module, so they are not named here.

# REJECT_COLUMNS holds line, row, column and reason; the file uses two of them.
_LINE, _REASON = 0, 3


class _EncodingWriter:
    """A text sink for csv.writer that encodes onto a binary stream."""

    def __init__(self, out: IO[bytes], encoding: str) -> None:
        self._out = out
        self._encoding = encoding

    def write(self, text: str) -> int:
        # A reason may hold a character the file's code page lacks: "?" then.
        return self._out.write(text.encode(self._encoding, "replace"))


def _output_encoding(encoding: str) -> tuple[str, bytes]:
    """The codec to write with and the byte-order mark to start with."""
    name = codecs.lookup(encoding).name
    if name in ("utf-8", "utf-8-sig"):
        return "utf-8", codecs.BOM_UTF8  # without a BOM Excel reads cp1252
    if name.startswith("utf-16"):
        return "utf-16-le", codecs.BOM_UTF16_LE
    return encoding, b""


def reason_text(error: Any, lang: str = "en") -> str:
    """Every problem of a rejected row in lang, each after the column it is about."""
    parts = []
    for problem in (*error.errors, *error.warnings):
        text = problem.message(lang)
        parts.append(f"{problem.column}: {text}" if problem.column else text)
    return "; ".join(dict.fromkeys(parts))


def write_rejected_rows(
    out: IO[bytes],
    errors: Iterable[Any],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> int:
    """Stream rejected rows to out in encoding and delimiter; the count.

    Each row: line, reason (in lang), the original values; a formula-like
    cell gets an apostrophe in front (formatting.spreadsheet_cell), which the
    import takes off. Fixed, the file can be uploaded again as it is: the
    added columns are ignored on import. headers default to the first error's
    columns.
    """
    labels = REJECT_COLUMNS.get(lang, REJECT_COLUMNS["en"])
    codec, bom = _output_encoding(encoding)
    writer = csv.writer(
        _EncodingWriter(out, codec), delimiter=delimiter, lineterminator="\r\n"
    )
    out.write(bom)
    count = 0
    for error in errors:
        if headers is None:
            headers = list(error.raw)
        if count == 0:
            header = (labels[_LINE], labels[_REASON], *headers)
            writer.writerow([spreadsheet_cell(c) for c in header])
        cells = [
            error.line,
            reason_text(error, lang),
            *(error.raw.get(h, "") for h in headers),
            *error.overflow,
        ]
        # Guarded against formulas; parse() takes the guard off again.
        writer.writerow([spreadsheet_cell(c) for c in cells])
        count += 1
    if count == 0 and headers is not None:
        header = (labels[_LINE], labels[_REASON], *headers)
        writer.writerow([spreadsheet_cell(c) for c in header])
    return count


def rejected_rows_csv(
    errors: Iterable[Any],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
    encoding: str = "utf-8",
) -> bytes:
    """The rejected-rows CSV as bytes (see write_rejected_rows)."""
    out = io.BytesIO()
    write_rejected_rows(
        out, errors, headers, lang=lang, delimiter=delimiter, encoding=encoding
    )
    return out.getvalue()


# --- Reading it back -------------------------------------------------------


@dataclass
class RejectedRow:
    line: str
    values: list[tuple[str, str]]  # (column, value) of the non-empty values
    reason: str


@dataclass
class Rejected:
    """The first rejected rows of a file written above, and how many it holds."""

    rows: list[RejectedRow] = field(default_factory=list)
    total: int = 0
    lang: str | None = None  # the reasons' language (the importer's)

    @property
    def more(self) -> int:
        return self.total - len(self.rows)


def read_rejected(data: bytes, limit: int = 50) -> Rejected:
    """The first limit rows of a rejected-rows file, and the number of rows.

    Reads the layout written above, and the older one (line, spreadsheet row,
    column, reason, then the values): the added columns are found by name.
    """
    result = Rejected()
    try:
        encoding = _sniff_encoding(data, True)
    except CsvFormatError:
        return result  # empty: nothing was rejected
    text = data.decode(encoding, "replace").lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_sniff_delimiter(text))
    header = next(reader, None)
    if not header:
        return result
    header = [spreadsheet_value(h) for h in header]
    names = {name for labels in REJECT_COLUMNS.values() for name in labels}
    added = {i for i, h in enumerate(header) if h in names}
    line_at = next((i for i in added if header[i] in _names(_LINE)), None)
    reason_at = next((i for i in added if header[i] in _names(_REASON)), None)
    if reason_at is not None:
        result.lang = next(
            lang for lang, names in REJECT_COLUMNS.items() if header[reason_at] in names
        )
    for row in reader:
        if not any(v.strip() for v in row):
            continue
        result.total += 1
        if len(result.rows) >= limit:
            continue
        cells = [spreadsheet_value(v) for v in row]
        values = [
            (header[i] if i < len(header) else "", value)
            for i, value in enumerate(cells)
            if i not in added and value.strip()
        ]
        result.rows.append(
            RejectedRow(
                line=_cell(cells, line_at),
                values=values,
                reason=_cell(cells, reason_at),
            )
        )
    return result


def _names(index: int) -> set[str]:
    return {names[index] for names in REJECT_COLUMNS.values()}


def _cell(row: list[str], index: int | None) -> str:
    return row[index] if index is not None and index < len(row) else ""
