"""CSV import of feedback items, as customers are imported: look at the file,
let the user check the mapping of its columns, then import, with each bad row
named by its line and the rest stored. Reading (encoding, delimiter, a
``sep=`` line) is the customer importer's (karn.customers.csvparse).

Importing the same file again changes nothing: an item is recognised by its
source id column when the file has one, else by its content (intake).

The page only queues the import; the worker runs it (karn.feedback.importjob)
through `import_stream`, which checks and stores rows in batches
(karn.feedback.rows) and can go on from a row count after a crash.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO

from karn import clock
from karn.customers.csv_errors import CsvFormatError
from karn.customers.csvparse import _open
from karn.feedback import intake, rows

SKIP = ""
PREVIEW_ROWS = 5
MAX_ERRORS_KEPT = 200
# Rows a statement: large, as SQLite's insert costs little per row.
BATCH = 10_000

_HEADER_WORDS = {
    "text": (
        "text",
        "tekst",
        "comment",
        "comments",
        "opmerking",
        "opmerkingen",
        "body",
        "message",
        "bericht",
        "review",
        "feedback",
        "description",
        "omschrijving",
        "content",
        "inhoud",
        "post",
    ),
    "received_at": (
        "date",
        "datum",
        "created",
        "created at",
        "received",
        "received at",
        "ontvangen",
        "aangemaakt",
        "timestamp",
        "posted at",
        "submitted at",
    ),
    "channel": ("channel", "kanaal", "type", "soort", "bron"),
    "rating": ("rating", "score", "cijfer", "stars", "sterren", "nps", "waardering"),
    "language": ("language", "taal", "lang", "locale"),
    "customer_number": (
        "customer number",
        "customer",
        "customer id",
        "klantnummer",
        "klant",
        "klant id",
        "external id",
        "account",
        "account id",
        "relatienummer",
    ),
    "email": ("email", "e-mail", "e mail", "mail", "emailadres", "e-mailadres"),
    "source_id": (
        "id",
        "source id",
        "ticket",
        "ticket id",
        "ticketnummer",
        "review id",
        "post id",
        "case",
        "case id",
        "reference",
        "referentie",
        "kenmerk",
    ),
}
_LOOKUP = {word: target for target, words in _HEADER_WORDS.items() for word in words}


def _key(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).casefold().strip()
    return re.sub(r"[\s_]+", " ", text)


def suggest(headers: list[str]) -> dict[str, str]:
    """header -> field (or SKIP), each field given to one column at most."""
    mapping, taken = {}, set()
    for header in headers:
        target = _LOOKUP.get(_key(header), SKIP)
        if target in taken:
            target = SKIP
        if target:
            taken.add(target)
        mapping[header] = target
    return mapping


@dataclass
class Detected:
    encoding: str
    delimiter: str
    headers: list[str]
    mapping: dict[str, str]
    preview_rows: list[dict[str, str]]


def _headers(row: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for index, cell in enumerate(row):
        name = cell.strip() or f"column {index + 1}"
        if name in seen:
            seen[name] += 1
            name = f"{name} ({seen[name]})"
        else:
            seen[name] = 1
        out.append(name)
    return out


def detect(data: bytes) -> Detected:
    """Encoding, delimiter, headers, suggested mapping and the first rows.
    CsvFormatError for a file that is no CSV at all."""
    source = _open(io.BytesIO(data), None, None)
    reader = csv.reader(io.StringIO(source.sample_text), delimiter=source.delimiter)
    try:
        header = next((row for row in reader if "".join(row).strip()), None)
        if header is None:
            raise CsvFormatError("empty_file")
        headers = _headers(header)
        preview = []
        for row in reader:
            if "".join(row).strip():
                preview.append(dict(zip(headers, row, strict=False)))
            if len(preview) >= PREVIEW_ROWS:
                break
    except csv.Error as exc:
        raise CsvFormatError(
            "malformed_csv", line=reader.line_num, value=str(exc)
        ) from None
    return Detected(
        source.encoding, source.delimiter, headers, suggest(headers), preview
    )


@dataclass
class Outcome:
    rows: int = 0
    created: int = 0
    unchanged: int = 0
    rejected: int = 0
    # (line, [messages]) of the first rejected rows
    errors: list[tuple[int, list[str]]] = field(default_factory=list)


class Stop(Exception):
    """Raised by ``after_batch`` to end an import early (its time is up);
    what was stored stays, and `import_stream` returns the outcome so far."""


def import_stream(
    stream: IO[bytes],
    mapping: dict[str, str],
    default_channel: str | None = None,
    month_first: bool = False,
    batch: int | None = None,
    outcome: Outcome | None = None,
    after_batch: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Read the file and store its good rows; the caller commits.

    ``mapping`` is header -> field (SKIP for a column left out). Line numbers
    count the header as line 1, and a row spanning lines by where it starts.

    Resuming: given the ``outcome`` of an import that stopped, its first
    ``outcome.rows`` rows are passed over unread and the counts go on from
    there. ``after_batch(outcome)`` is called after every batch stored (to
    commit it with the progress); it may raise `Stop`.
    """
    batch = batch or BATCH
    source = _open(stream, None, None)
    reader = csv.reader(source.text, delimiter=source.delimiter)
    now = clock.now()
    checker = rows.RowChecker(intake.channel_codes(), month_first, default_channel, now)
    outcome = outcome or Outcome()
    skip = outcome.rows
    offset = source.lines_before
    try:
        header = next(reader)
        while not "".join(header).strip():
            header = next(reader)
    except StopIteration:
        raise CsvFormatError("empty_file") from None
    headers = _headers(header)
    plan = [
        (index, mapping.get(name))
        for index, name in enumerate(headers)
        if mapping.get(name) in intake.FIELDS
    ]
    width = max((i for i, _name in plan), default=-1) + 1
    last_line = reader.line_num + offset
    pending: list[tuple] = []
    check = checker.check
    errors = outcome.errors
    try:
        for row in reader:
            line = last_line + 1
            last_line = reader.line_num + offset
            if not "".join(row).strip():
                continue
            if skip:
                skip -= 1
                continue
            outcome.rows += 1
            if len(row) < width:
                row = row + [None] * (width - len(row))
            checked, problems = check({name: row[i] for i, name in plan})
            if problems:
                outcome.rejected += 1
                if len(errors) < MAX_ERRORS_KEPT:
                    errors.append((line, [p.code for p in problems]))
                continue
            pending.append(checked)
            if len(pending) >= batch:
                _flush(pending, outcome, now)
                if after_batch is not None:
                    after_batch(outcome)
        _flush(pending, outcome, now)
    except csv.Error as exc:
        raise CsvFormatError(
            "malformed_csv", line=last_line + 1, value=str(exc)
        ) from None
    except Stop:
        return outcome
    finally:
        rows.default_cache()
    return outcome


def _flush(pending: list, outcome: Outcome, now) -> None:
    if pending:
        created = rows.insert(pending, "csv", now)
        outcome.created += created
        outcome.unchanged += len(pending) - created
        pending.clear()
