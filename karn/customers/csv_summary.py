"""What a whole file holds in its status and reason columns, for the import page.

detect() reads only the start of a file; the preview's counts (how many rows
are departed, how many active, how many would be rejected) and the distinct
reason values with their proposed codes need every row. ``summarise`` reads
the file once, counting values only, with the mapping and choices the page
shows (karn.customers.csv_status reads the values the same way parse() does).
"""

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO

from karn.customers.csv_headers import unique_headers
from karn.customers.csv_status import (
    Choices,
    asks,
    propose_reason,
    read_status,
    tenure_unit,
    value_key,
)
from karn.customers.csvparse import CsvFormatError, RowError, _open, _read_header, parse
from karn.enums import CustomerStatus
from karn.formatting import spreadsheet_value

MAX_LISTED = 50  # values listed per column; the rest are counted
_MAX_DISTINCT = 5000  # values remembered per column while reading


@dataclass
class Value:
    """One distinct value of a column: as first written, its key, its rows."""

    text: str
    key: str
    rows: int = 0
    undated: int = 0  # rows with this value and no departure date
    proposed: str | None = None  # what Karn reads it as (status or reason code)
    chosen: str | None = None  # what it will be imported as


@dataclass
class Summary:
    rows: int = 0
    status_column: str | None = None
    status_values: list[Value] = field(default_factory=list)
    departed: int = 0
    active: int = 0
    unreadable: int = 0  # rows whose status cannot be read: rejected
    undated: int = 0  # departed rows without a departure date
    has_date_column: bool = False
    reason_column: str | None = None
    reason_values: list[Value] = field(default_factory=list)
    more_reasons: int = 0  # distinct reason values not listed
    tenure_column: str | None = None
    tenure_unit: str = "months"  # as it will be read
    tenure_unit_proposed: str = "months"  # as the column's name says


def _column(mapping: Mapping[str, str | None], target: str) -> str | None:
    return next((h for h, t in mapping.items() if t == target), None)


def summarise(
    stream: IO[bytes],
    mapping: Mapping[str, str | None],
    choices: Choices | None = None,
    *,
    encoding: str | None = None,
    delimiter: str | None = None,
) -> Summary:
    """Count the status and reason values of a whole file (see the module)."""
    choices = choices or Choices()
    summary = Summary(
        status_column=_column(mapping, "status"),
        reason_column=_column(mapping, "stated_reason"),
        tenure_column=_column(mapping, "tenure_months"),
    )
    date_column = _column(mapping, "departed_at")
    summary.has_date_column = date_column is not None
    summary.tenure_unit_proposed = tenure_unit(summary.tenure_column)
    summary.tenure_unit = choices.tenure_unit or summary.tenure_unit_proposed
    source = _open(stream, encoding, delimiter)
    reader = csv.reader(source.text, delimiter=source.delimiter)
    headers = unique_headers(_read_header(reader, source)[0])
    where = {h: i for i, h in enumerate(headers)}
    at = [where.get(c) for c in (summary.status_column, summary.reason_column)]
    date_at = where.get(date_column) if date_column else None
    statuses: dict[str, Value] = {}
    reasons: dict[str, Value] = {}
    try:
        for row in reader:
            if not "".join(row).strip():
                continue
            summary.rows += 1
            for index, seen in zip(at, (statuses, reasons), strict=True):
                if index is None:
                    continue
                text = _cell(row, index)
                key = value_key(text)
                value = seen.get(key)
                if value is None:
                    if len(seen) >= _MAX_DISTINCT:
                        continue
                    value = seen[key] = Value(text, key)
                value.rows += 1
                if seen is statuses and (date_at is None or not _cell(row, date_at)):
                    value.undated += 1
    except (csv.Error, UnicodeDecodeError):
        pass  # parse() names the line; the counts cover the rows before it
    finally:
        source.text.detach()
    _read_statuses(summary, statuses, choices)
    _read_reasons(summary, reasons, choices)
    return summary


def _cell(row: list[str], index: int) -> str:
    text = row[index].strip() if index < len(row) else ""
    return spreadsheet_value(text).strip() if text[:1] == "'" else text


def _read_statuses(summary: Summary, seen: dict[str, Value], choices: Choices):
    asked = asks(summary.status_column)
    empty = choices.status.get("")
    for value in sorted(seen.values(), key=lambda v: -v.rows):
        proposed = read_status(value.key, asked, {}) if value.key else None
        chosen = read_status(value.key, asked, choices.status) if value.key else empty
        value.proposed, value.chosen = proposed, chosen
        if chosen == CustomerStatus.DEPARTED:
            summary.departed += value.rows
            summary.undated += value.undated
        elif chosen == CustomerStatus.ACTIVE:
            summary.active += value.rows
        else:
            summary.unreadable += value.rows
    summary.status_values = sorted(seen.values(), key=lambda v: -v.rows)[:MAX_LISTED]


def _read_reasons(summary: Summary, seen: dict[str, Value], choices: Choices):
    values = sorted((v for v in seen.values() if v.key), key=lambda v: -v.rows)
    for value in values[:MAX_LISTED]:
        value.proposed = propose_reason(value.text).value
        chosen = choices.reasons.get(value.key, value.proposed)
        value.chosen = chosen.value if hasattr(chosen, "value") else chosen
    summary.reason_values = values[:MAX_LISTED]
    summary.more_reasons = max(0, len(values) - MAX_LISTED)


PREVIEW_ROWS = 20_000  # rows the preview checks row by row
PREVIEW_SHOWN = 10  # rejected rows it lists


@dataclass
class Rejections:
    """Of the first rows of a file, those an import would reject, and why."""

    checked: int = 0  # rows checked (the first PREVIEW_ROWS, or all)
    whole_file: bool = True  # checked every row of the file
    rejected: int = 0
    rows: list = field(default_factory=list)  # the first RowErrors


def check_first_rows(
    stream: IO[bytes],
    mapping: Mapping[str, str | None],
    choices: Choices | None = None,
    *,
    date_order: str = "dmy",
    limit: int = PREVIEW_ROWS,
    shown: int = PREVIEW_SHOWN,
) -> Rejections:
    """Read the first limit rows by the import's rules (csvparse.parse), before
    anything is imported: how many would be rejected, and the first shown of
    them. Only the refusal of an erased person is left to the import.

    A file that cannot be read halfway stops the count there; the import says
    which line.
    """
    result = Rejections()
    try:
        rows = parse(
            stream,
            mapping,
            date_order=date_order,
            reject_duplicates=True,
            choices=choices,
        )
        for item in rows:
            if result.checked >= limit:
                result.whole_file = False
                break
            if isinstance(item, RowError):
                result.checked += item.count
                result.rejected += item.count
                if len(result.rows) < shown:
                    result.rows.append(item)
            else:
                result.checked += 1
    except CsvFormatError:
        pass
    return result
