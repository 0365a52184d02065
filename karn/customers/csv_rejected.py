"""The downloadable CSV of an import's rejected rows, to correct and import again.

Each row: line, spreadsheet row, columns and reasons (the row's warnings too),
then the original values. The added columns are ignored when the file is
uploaded again (csv_errors.REJECT_COLUMNS).
"""

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from typing import IO, Any

from karn.customers.csv_errors import REJECT_COLUMNS
from karn.formatting import spreadsheet_cell

# The rows are csvparse.RowError (line, row, raw, errors, warnings, overflow);
# csvparse imports this module, so they are not named here.


class _Utf8Writer:
    """A text sink for csv.writer that encodes onto a binary stream."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out

    def write(self, text: str) -> int:
        return self._out.write(text.encode("utf-8"))


def write_rejected_rows(
    out: IO[bytes],
    errors: Iterable[Any],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
) -> int:
    """Stream rejected rows to out as UTF-8 CSV (with BOM, for Excel); the count.

    Each row: line, spreadsheet row, columns and reasons (in lang), then the
    original values; a formula-like cell gets an apostrophe in front
    (formatting.spreadsheet_cell), which the import takes off. Fixed, the file
    can be uploaded again as it is: the added columns are ignored on import.
    headers default to the first error's columns.
    """
    labels = REJECT_COLUMNS.get(lang, REJECT_COLUMNS["en"])
    writer = csv.writer(_Utf8Writer(out), delimiter=delimiter, lineterminator="\r\n")
    out.write(codecs.BOM_UTF8)
    count = 0
    for error in errors:
        if headers is None:
            headers = list(error.raw)
        if count == 0:
            writer.writerow([spreadsheet_cell(c) for c in (*labels, *headers)])
        problems = [*error.errors, *error.warnings]
        cells = [
            error.line,
            error.row,
            "; ".join(dict.fromkeys(e.column or "" for e in problems)),
            "; ".join(e.message(lang) for e in problems),
            *(error.raw.get(h, "") for h in headers),
            *error.overflow,
        ]
        # Guarded against formulas; parse() takes the guard off again.
        writer.writerow([spreadsheet_cell(c) for c in cells])
        count += 1
    if count == 0 and headers is not None:
        writer.writerow([spreadsheet_cell(c) for c in (*labels, *headers)])
    return count


def rejected_rows_csv(
    errors: Iterable[Any],
    headers: Sequence[str] | None = None,
    *,
    lang: str = "en",
    delimiter: str = ",",
) -> bytes:
    """The rejected-rows CSV as bytes (see write_rejected_rows)."""
    out = io.BytesIO()
    write_rejected_rows(out, errors, headers, lang=lang, delimiter=delimiter)
    return out.getvalue()
