"""Streaming parser for CSV exports of customers: detect, map, validate.

A CRM export is read in three steps:

1. ``detect(stream)`` looks at the first 64 KiB: encoding (UTF-8 with or without
   BOM, UTF-16 with BOM, else Windows-1252; stray Windows-1252 bytes in a UTF-8
   file are read as such, and counted in warnings), delimiter (comma, semicolon, tab),
   headers, a suggested header-to-field mapping and a few preview rows, so an
   upload page can show what was found and let the user correct the mapping.
2. ``parse(stream, mapping)`` reads the whole file incrementally and yields a
   ``Record`` for every good row and a ``RowError`` for every bad one; memory use
   does not grow with the file (unless it is to reject duplicate customers).
3. ``rejected_rows_csv(errors)`` / ``write_rejected_rows(out, errors)`` build the
   downloadable CSV of rejected rows, which can be fixed and uploaded again.

``validate_record(fields)`` applies exactly the same field rules to a dict, for
the JSON API.

Only an ID or an e-mail address is required. A missing departure date is None
(exports such as the Telco churn data have none); the importer decides what
to store then. A status column (departed or active), a stated reason and a
comment are read by karn.customers.csv_status, with what the user said of
their values (``Choices``); ``Record.warnings`` names values left out.
``Record.fields`` has a key for every field the mapping covers, so an upsert
can tell "column absent" from "cell empty" (None).

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

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO

from karn.customers.csv_decoding import (
    _CONTROL,
    _SEP_LINE,
    Fallbacks,
    _complete_text,
    _Counted,
    _errors_for,
    _looks_binary,
    _Prefixed,
    _read_sample,
    _sniff_delimiter,
    _sniff_encoding,
    _unclosed_quote,
    _width,
    decode_counting,
)
from karn.customers.csv_errors import CsvFormatError, FieldError, Problem
from karn.customers.csv_headers import FIELDS as FIELDS
from karn.customers.csv_headers import (
    NAME_PARTS,
    SKIP,
    resolve_mapping,
    unique_headers,
)
from karn.customers.csv_headers import TARGET_LABELS as TARGET_LABELS
from karn.customers.csv_headers import TARGETS as TARGETS
from karn.customers.csv_headers import suggest_mapping as suggest_mapping
from karn.customers.csv_rejected import rejected_rows_csv as rejected_rows_csv
from karn.customers.csv_rejected import write_rejected_rows as write_rejected_rows
from karn.customers.csv_status import (
    Choices,
    column_rules,
    confirm_status_column,
    settle,
)
from karn.customers.csv_values import (
    _NUMERIC_DATE,
    _Fail,
    _month_first,
    _Seen,
    _string_rules,
)
from karn.customers.csv_values import MAX_LENGTHS as MAX_LENGTHS
from karn.customers.csv_values import parse_money as parse_money
from karn.customers.csv_values import validate_record as validate_record
from karn.formatting import spreadsheet_value

SAMPLE_SIZE = 64 * 1024
_CHUNK = 64 * 1024


@dataclass(slots=True)
class Record:
    """A good row: canonical fields (those the mapping covers) and extra columns."""

    line: int
    fields: dict[str, Any]
    extra: dict[str, str]
    row: int
    # Values left out with the row kept (a negative amount): say so per row.
    warnings: list[FieldError] | tuple = ()


@dataclass(slots=True)
class RowError:
    """A rejected row with every problem found in it and its original values."""

    line: int
    raw: dict[str, str]
    errors: list[FieldError]
    row: int
    # Values beyond the last header column, kept for the rejected-rows file.
    overflow: tuple[str, ...] = ()
    # The last line, when a quote left open swallowed the lines after this row.
    end_line: int | None = None
    warnings: list[FieldError] | tuple = ()

    @property
    def count(self) -> int:
        """How many rows of the file this stands for: the swallowed lines too."""
        return 1 if self.end_line is None else self.end_line - self.line + 1


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
    # Things to check that stop nothing (stray bytes read as Windows-1252),
    # as far as the first 64 KiB show.
    warnings: list[Problem] = field(default_factory=list)
    # The whole file was read and has no data rows below its header.
    no_data: bool = False


# --- Reading ---------------------------------------------------------------


@dataclass(slots=True)
class _Source:
    encoding: str
    delimiter: str
    text: IO[str]
    sample_text: str
    lines_before: int  # lines consumed before csv.reader starts (a sep= line)
    complete: bool  # the sample is the whole file
    sample_fallbacks: Fallbacks  # stray bytes in the sample
    fallbacks: Fallbacks  # stray bytes read so far through text


def _open(stream: IO[bytes], encoding: str | None, delimiter: str | None) -> _Source:
    sample, complete = _read_sample(stream, SAMPLE_SIZE)
    if encoding is None:
        encoding = _sniff_encoding(sample, complete)
    elif not sample.strip():
        raise CsvFormatError("empty_file")
    errors = _errors_for(encoding)
    sample_fallbacks = Fallbacks()
    try:
        sample_text = decode_counting(
            sample, encoding, sample_fallbacks, final=complete
        )
    except UnicodeDecodeError as exc:
        line = sample[: exc.start].count(b"\n") + 1
        raise CsvFormatError("undecodable", line=line) from None
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}") from None
    sample_text = sample_text.lstrip("\ufeff")
    if _looks_binary(sample_text):
        raise CsvFormatError("binary_file")
    lines_before = 0
    sep = _SEP_LINE.match(sample_text)
    if sep:
        lines_before = 1
        delimiter = delimiter or sep[1]
        sample_text = sample_text[sep.end() :]
    if delimiter is None:
        delimiter = _sniff_delimiter(_complete_text(sample_text, complete))
    fallbacks = Fallbacks()
    buffered = _Counted(_Prefixed(sample, stream), fallbacks, _CHUNK)
    text = io.TextIOWrapper(buffered, encoding=encoding, errors=errors, newline="")
    for _ in range(lines_before):
        text.readline()
    return _Source(
        encoding,
        delimiter,
        text,
        sample_text,
        lines_before,
        complete,
        sample_fallbacks,
        fallbacks,
    )


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
    mapping = confirm_status_column(mapping, date_rows)
    date_column = next((h for h, t in mapping.items() if t == "departed_at"), None)
    return Detected(
        encoding=source.encoding,
        delimiter=source.delimiter,
        headers=headers,
        mapping=mapping,
        preview_rows=preview_rows,
        date_order=_guess_date_order(date_rows, date_column),
        problems=problems,
        warnings=source.sample_fallbacks.warnings(),
        no_data=source.complete and not date_rows,
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
    """A first row holding an address or a date is data: the header is missing.

    Control bytes in the header (a NUL, say) mean the file is not text.
    """
    if any(_LOOKS_LIKE_DATA.fullmatch(h) for h in headers):
        raise CsvFormatError("no_header")
    if any(_CONTROL.search(h) for h in headers):
        raise CsvFormatError("binary_file")


class Rows:
    """What parse() returns: the rows, and the warnings about the file read so far."""

    __slots__ = ("_rows", "_source")

    def __init__(self, rows: Iterator[Record | RowError], source: _Source) -> None:
        self._rows = rows
        self._source = source

    def __iter__(self) -> Iterator[Record | RowError]:
        return self._rows  # the generator itself: a for loop pays nothing per row

    def __next__(self) -> Record | RowError:
        return next(self._rows)

    @property
    def encoding(self) -> str:
        """The file's encoding, as read."""
        return self._source.encoding

    @property
    def delimiter(self) -> str:
        """The file's delimiter, as read."""
        return self._source.delimiter

    @property
    def warnings(self) -> list[Problem]:
        """Bytes read as Windows-1252 in a UTF-8 file: how many, the first line."""
        return self._source.fallbacks.warnings()


def parse(
    stream: IO[bytes] | BinaryIO,
    mapping: Mapping[str, str | None] | None = None,
    *,
    max_errors: int | None = None,
    encoding: str | None = None,
    delimiter: str | None = None,
    date_order: str = "dmy",
    reject_duplicates: bool = False,
    choices: Choices | None = None,
) -> Rows:
    """Read a CSV export row by row: a Record per good row, a RowError per bad one.

    mapping overrides the suggested header -> field mapping (see
    resolve_mapping). The header and mapping are checked when parse() is
    called, so a CsvFormatError for them comes before any row is read. A file
    that turns out unreadable halfway raises CsvFormatError from the iterator;
    so does the first rejected row beyond max_errors.

    Rejected too: a row short of values, one with a NUL byte, one with a quote
    left open that swallowed the lines after it (one RowError for them all, see
    RowError.count), and with reject_duplicates a customer an earlier row had
    (csv_values._Seen, whose memory grows with the file). choices: what the
    user said of the status and reason values, tenure unit and departure date
    (csv_status.Choices).
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
    if "status" in resolved.values():
        sample = csv.reader(io.StringIO(source.sample_text), delimiter=source.delimiter)
        resolved = confirm_status_column(resolved, _sample(sample, headers), mapping)
    rows = _rows(
        reader,
        source,
        headers,
        resolved,
        max_errors,
        month_first,
        header_row,
        _width(header),
        reject_duplicates,
        choices or Choices(),
    )
    return Rows(rows, source)


def _sample(reader: Any, headers: list[str]) -> Iterator[dict[str, str]]:
    """Up to 200 rows after the header of a sample, as dicts."""
    try:
        _first_row(reader, 0)
        for _, row in zip(range(200), reader, strict=False):
            yield dict(zip(headers, row, strict=False))
    except (csv.Error, CsvFormatError):
        return  # the sample may end inside a quoted value


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
    need: int,
    reject_duplicates: bool,
    choices: Choices,
) -> Iterator[Record | RowError]:
    # The same rules as _validate(), unrolled per column: this loop runs for
    # every row of files with 100,000 rows. need is the header's width without
    # empty trailing columns: a row with fewer values lost one.
    rules = column_rules(_string_rules(month_first), mapping, choices)
    settle_row = settle(mapping, choices)
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
    seen = None
    if reject_duplicates:
        seen = _Seen(
            headers[id_index] if id_index is not None else None,
            headers[email_index] if email_index is not None else None,
        )
    delimiter = source.delimiter
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
        joined = "".join(row)
        if not joined.strip():
            continue
        errors: list[FieldError] = []
        warnings: list[FieldError] | tuple = ()
        overflow: tuple[str, ...] = ()
        end_line = None
        if n > width:
            overflow = tuple(row[width:])
        clean: dict[str, Any] = {}
        if last_line > line and (
            quote := _unclosed_quote(row, n, need, headers, delimiter, line, last_line)
        ):
            end_line = last_line
            errors.append(quote)
        elif "\x00" in joined:
            errors.append(make_error(None, "nul_byte"))
            # The rejected-rows file is for fixing by hand: no invisible NULs.
            row = [v.replace("\x00", "") for v in row]
            overflow = tuple(v.replace("\x00", "") for v in overflow)
        else:
            if n > width and any(v.strip() for v in overflow):
                errors.append(
                    make_error(
                        None, "too_many_columns", count=_width(row), expected=width
                    )
                )
            elif n < need:
                errors.append(
                    make_error(None, "too_few_columns", count=n, expected=need)
                )
            if parts_at:
                if name_index is not None and row[name_index].strip():
                    row.append(row[name_index])
                else:
                    row.append(
                        " ".join(p for p in (row[i].strip() for i in part_indexes) if p)
                    )
            for index, name, header, rule in plan:
                value = row[index].strip()
                if value[:1] == "'":
                    # A cell an export of Karn guarded against formulas.
                    value = spreadsheet_value(value).strip()
                if not value:
                    clean[name] = None
                    continue
                result = rule(value)
                if type(result) is not fail:
                    clean[name] = result
                elif result.drop:  # only the value is left out
                    clean[name] = None
                    warnings = [
                        *warnings,
                        make_error(header, result.code, **result.params),
                    ]
                else:
                    errors.append(make_error(header, result.code, **result.params))
            has_id = id_index is not None and row[id_index].strip()
            # As in _validate: only when both are absent, not merely invalid.
            if not has_id and (email_index is None or not row[email_index].strip()):
                errors.append(make_error(None, "missing_id_and_email"))
            if seen is not None and (duplicate := seen.check(clean, has_id)):
                errors.append(duplicate)
            if settle_row is not None and not errors and (wrong := settle_row(clean)):
                errors.append(wrong)
        if errors:
            rejected += 1
            if max_errors is not None and rejected > max_errors:
                raise CsvFormatError("too_many_errors", line=line, max=max_errors)
            raw = dict(zip(headers, row, strict=False))
            yield RowError(line, raw, errors, row_number, overflow, end_line, warnings)
            continue
        if seen is not None:
            seen.add(clean, line)
        extra = {}
        for index, header in extra_at:
            value = row[index].strip()
            if value[:1] == "'":
                value = spreadsheet_value(value).strip()
            if value:
                extra[header] = value
        yield Record(line, clean, extra, row_number, warnings)
