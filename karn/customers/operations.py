"""Recording departures: the one path every intake (CSV, API, Stripe, form) takes.

`upsert_departures` matches each record to a stored customer by external id,
else by email, inserts the new ones and updates the changed ones in bulk, and
hands every new or re-departed customer to the invitation schedule. It flushes;
callers commit (the CSV import commits once per batch). A record of an erased
person is refused and stored nowhere (see karn.customers.erased).
"""

import gzip
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from karn import clock
from karn.customers import bulk, comments, csvparse, erased
from karn.customers.csv_errors import message as csv_message
from karn.customers.models import Customer, ImportRun
from karn.enums import CustomerStatus, Reason, Source
from karn.extensions import db

log = logging.getLogger(__name__)

# Called, in the transaction that records it, with the ids of customers who have
# just departed (new, or departed again). The app connects the survey schedule
# here (karn.app), so intake needs to know nothing of surveys.
_departure_listeners: list[Callable[[list[int]], None]] = []


def on_departed(listener: Callable[[list[int]], None]) -> None:
    """Call ``listener(customer_ids)`` whenever customers depart."""
    if listener not in _departure_listeners:
        _departure_listeners.append(listener)


def departed(customer_ids: list[int]) -> None:
    for listener in _departure_listeners:
        listener(customer_ids)


# Called with the ids of departed customers who are active again (a status
# column or event says so) and the day they came back: the app connects the
# win-back record here (karn.app).
_return_listeners: list[Callable[[list[int], date, str], None]] = []


def on_returned(listener: Callable[[list[int], date, str], None]) -> None:
    """Call ``listener(customer_ids, returned_on, via)`` when customers return."""
    if listener not in _return_listeners:
        _return_listeners.append(listener)


def returned(customer_ids: list[int], returned_on: date, via: str) -> None:
    for listener in _return_listeners:
        listener(customer_ids, returned_on, via)


BATCH_SIZE = 5000
# Fields a record may set; departed_at and extra have rules of their own.
PLAIN_FIELDS = tuple(
    f for f in csvparse.FIELDS if f not in ("external_id", "email", "departed_at")
)
# Fields a record may carry beyond the CSV columns: what the customer said when
# cancelling (stated_reason has its own rule), the currency, the kind of
# departure; and the status, which moves a customer (see _changes).
OTHER_FIELDS = ("stated_comment", "currency", "involuntary", "trial_only")


def _reason(value: Any) -> Reason | None:
    return None if value in (None, "") else Reason(value)


@dataclass
class UpsertResult:
    """Which customers a batch created, changed or left as they were."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    # The id of the customer each record landed on, in the records' order;
    # None for a refused record.
    ids: list[int | None] = field(default_factory=list)
    # Records of erased people, refused: position -> the day of the erasure.
    refused: dict[int, date] = field(default_factory=dict)
    # Departed customers the records say are active again (a win-back each).
    returned: list[int] = field(default_factory=list)

    def add(self, other: "UpsertResult") -> None:
        self.refused |= {len(self.ids) + i: d for i, d in other.refused.items()}
        self.returned += other.returned
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.ids += other.ids


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal) or isinstance(b, Decimal):
        return a is not None and b is not None and Decimal(a) == Decimal(b)
    return a == b


def _changes(
    customer: Customer, fields: Mapping[str, Any], extra: Mapping[str, str]
) -> dict[str, Any]:
    """What a record would change: given values only; empty cells keep data."""
    changes: dict[str, Any] = {}
    for name in PLAIN_FIELDS + OTHER_FIELDS + ("external_id", "email"):
        value = fields.get(name)
        if value is not None and not _same(getattr(customer, name), value):
            changes[name] = value
    reason = _reason(fields.get("stated_reason"))
    if reason is not None and customer.stated_reason != reason:
        changes["stated_reason"] = reason
    departed = fields.get("departed_at")
    status = fields.get("status")
    if status == CustomerStatus.ACTIVE:
        # Still, or again, a customer: the last departure's date is kept.
        if customer.status != CustomerStatus.ACTIVE:
            changes["status"] = CustomerStatus.ACTIVE
    elif customer.status == CustomerStatus.ACTIVE and (
        status == CustomerStatus.DEPARTED or departed is not None
    ):
        # An active customer who left: a departure on this date (or unknown).
        changes["status"] = CustomerStatus.DEPARTED
        changes["departed_at"] = departed
    elif departed is not None and (
        customer.departed_at is None or departed > customer.departed_at
    ):
        # A later departure (a customer who came back and left again) moves
        # the date; an older export does not move it back.
        changes["departed_at"] = departed
    if extra:
        merged = {**(customer.extra or {}), **extra}
        if merged != (customer.extra or {}):
            changes["extra"] = merged
    return changes


def _existing(records: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """The stored customers the records name: by number, and by the address of
    records whose number is absent or new (only those match by address)."""
    ids = {f["external_id"] for f, _ in records if f.get("external_id")}
    by_id: dict[str, Customer] = {}
    by_email: dict[str, Customer] = {}
    if ids:
        query = sa.select(Customer).where(bulk.one_of(Customer.external_id, ids))
        for c in db.session.scalars(query):
            by_id[c.external_id] = c
    emails = {
        f["email"]
        for f, _ in records
        if f.get("email") and f.get("external_id") not in by_id
    }
    if emails:
        query = (
            sa.select(Customer)
            .where(bulk.one_of(Customer.email, emails))
            .order_by(Customer.id)
        )
        for c in db.session.scalars(query):
            by_email.setdefault(c.email, c)
    return by_id, by_email


def _ids_of(rows: list[dict[str, Any]]) -> list[int]:
    """The ids of just-inserted rows, in their order, found by id or email."""
    ext_ids = [r["external_id"] for r in rows if r["external_id"]]
    emails = [r["email"] for r in rows if not r["external_id"]]
    by_ext, by_email = {}, {}
    if ext_ids:
        query = sa.select(Customer.external_id, Customer.id).where(
            Customer.external_id.in_(ext_ids)
        )
        by_ext = dict(db.session.execute(query).all())
    if emails:
        query = (
            sa.select(Customer.email, Customer.id)
            .where(Customer.email.in_(emails), Customer.external_id.is_(None))
            .order_by(Customer.id.desc())
        )
        for email, cid in db.session.execute(query):
            by_email.setdefault(email, cid)
    return [
        by_ext[r["external_id"]] if r["external_id"] else by_email[r["email"]]
        for r in rows
    ]


def _insert(rows: list[dict[str, Any]]) -> list[int]:
    """Insert new customers; their ids in the rows' order."""
    db.session.flush()  # the batch's changes to stored customers go first
    found = bulk.insert_returning(
        Customer.__table__, rows, ("id", "external_id", "email")
    )
    if found is None:
        # A plain executemany: RETURNING in parameter order would make SQLite
        # insert row by row. The new ids are read back by their unique keys.
        # render_nulls: one statement for rows whatever cells they leave
        # empty (without it, each stretch of rows with other empty cells is
        # a statement of its own: row by row for a realistic export).
        db.session.execute(
            sa.insert(Customer), rows, execution_options={"render_nulls": True}
        )
        return _ids_of(rows)
    # New rows without a customer number have addresses no other such row has.
    by_ext = {ext: id_ for id_, ext, _ in found if ext is not None}
    by_email = {email: id_ for id_, ext, email in found if ext is None}
    return [
        by_ext[r["external_id"]] if r["external_id"] else by_email[r["email"]]
        for r in rows
    ]


def upsert_departures(
    records: Iterable[tuple[Mapping[str, Any], Mapping[str, str]]],
    source: Source,
    *,
    schedule: bool = True,
) -> UpsertResult:
    """Insert or update departed customers from validated (fields, extra) pairs.

    A record matches a customer by external id; without one, or when that id is
    new, by email among customers that have no other external id. Erased people
    are left alone; a record of an erased person dated on or before the erasure
    is refused (``result.refused``) and stored nowhere.
    """
    # Read, never changed: dicts are taken as they are.
    batch = [
        (
            f if type(f) is dict else dict(f),
            e if type(e) is dict else dict(e or {}),
        )
        for f, e in records
    ]
    result = UpsertResult()
    if not batch:
        return result
    result.refused = erased.refused([f for f, _ in batch])
    by_id, by_email = _existing(batch)
    now = clock.now()
    new_rows: list[dict[str, Any]] = []
    new_positions: list[int] = []
    pending: dict[str, int] = {}  # key of a new row in this batch -> its index
    updates: dict[int, dict[str, Any]] = {}
    redeparted: set[int] = set()
    back: list[int] = []  # departed customers who are active again
    ids: list[int | None] = []

    for index, (fields, extra) in enumerate(batch):
        if index in result.refused:
            ids.append(None)
            continue
        ext, email = fields.get("external_id"), fields.get("email")
        customer = by_id.get(ext) if ext else None
        if customer is None and email:
            candidate = by_email.get(email)
            if candidate is not None and (
                not ext or candidate.external_id in (None, ext)
            ):
                customer = candidate
        if customer is None:
            key = f"id:{ext}" if ext else f"email:{email}"
            if key in pending:
                # The same person twice in one batch: the later row wins.
                row = new_rows[pending[key]]
                row.update({k: v for k, v in fields.items() if v is not None})
                row["extra"] = {**row["extra"], **extra}
                ids.append(-(pending[key] + 1))
                continue
            row = {name: fields.get(name) for name in csvparse.FIELDS}
            row["status"] = CustomerStatus(
                fields.get("status") or CustomerStatus.DEPARTED
            )
            if row["status"] == CustomerStatus.ACTIVE:
                row["departed_at"] = None
            elif "status" not in fields:
                # Exports and API clients from before the status: a record
                # without a date departed when it arrived.
                row["departed_at"] = fields.get("departed_at") or now
            for name in OTHER_FIELDS:
                row[name] = fields.get(name)
            row["stated_reason"] = _reason(fields.get("stated_reason"))
            row["involuntary"] = bool(fields.get("involuntary"))
            row["trial_only"] = bool(fields.get("trial_only"))
            row["extra"] = extra
            row["source"] = source
            row["created_at"] = row["updated_at"] = now
            row["delivery_failures"] = 0
            pending[key] = len(new_rows)
            new_rows.append(row)
            if email:
                pending.setdefault(f"email:{email}", pending[key])
            ids.append(-(len(new_rows)))
            continue
        changes = {} if customer.erased_at else _changes(customer, fields, extra)
        if changes:
            if changes.get("departed_at") is not None:
                redeparted.add(customer.id)
            if changes.get("status") == CustomerStatus.ACTIVE:
                back.append(customer.id)
            for name, value in changes.items():
                setattr(customer, name, value)
            updates[customer.id] = changes
        ids.append(customer.id)

    if new_rows:
        new_positions = _insert(new_rows)
        result.created = new_positions
    db.session.flush()
    result.updated = sorted(updates)
    # A comment changed: what was read in the old one no longer holds.
    comments.forget([i for i, change in updates.items() if "stated_comment" in change])
    # Negative entries point at new rows: -1 is the first inserted row.
    result.ids = [i if i is None or i > 0 else new_positions[-i - 1] for i in ids]
    result.unchanged = sorted({i for i in ids if i and i > 0} - set(updates))
    result.returned = back
    if back:
        returned(back, clock.now().date(), source.value)
    if schedule:
        departed(result.created + sorted(redeparted))
    return result


# --- CSV import --------------------------------------------------------------


@dataclass
class ImportReport:
    """The outcome of one CSV import, counted as it streams.

    rows counts the data rows of the file, the lines a quote left open
    swallowed included, as rejected does: rows = created + updated +
    unchanged + rejected, unless rows without a customer number met another
    row's customer by e-mail address (created, updated and unchanged count
    customers).
    """

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[csvparse.RowError] = field(default_factory=list)
    # About the file as a whole, stopping nothing: bytes read as Windows-1252.
    warnings: list[csvparse.Problem] = field(default_factory=list)
    # The rows taken in, by status (a file without a status: all departed),
    # and the departed ones without a date (not known: never invited).
    departed: int = 0
    active: int = 0
    undated: int = 0
    # Rows imported with a value left out (a negative amount): how many, and
    # the first MAX_ROW_WARNINGS of them.
    warned: int = 0
    row_warnings: list[csvparse.Record] = field(default_factory=list)
    # As the file was written: the rejected rows are written back the same way.
    encoding: str = "utf-8"
    delimiter: str = ","

    MAX_ROW_WARNINGS = 1000

    def warning(self, lang: str = "en") -> str | None:
        """The warnings as text in lang, one line each (the file's, then the
        rows' with their line numbers, the first 20), or None."""
        texts = [w.message_nl if lang == "nl" else w.message_en for w in self.warnings]
        lines = [" ".join(texts)] if texts else []
        if self.warned:
            lines.append(csv_message("rows_with_warnings", lang, count=self.warned))
            for record in self.row_warnings[:20]:
                for problem in record.warnings:
                    lines.append(
                        csv_message(
                            "row_warning",
                            lang,
                            line=record.line,
                            column=problem.column,
                            message=problem.message(lang),
                        )
                    )
            if self.warned > 20:
                lines.append(csv_message("more_rows", lang, count=self.warned - 20))
        return "\n".join(lines) or None

    def rejected_csv(self, lang: str = "en") -> bytes:
        """The rejected rows with their line numbers and reasons, as CSV bytes
        in the uploaded file's encoding and delimiter."""
        # A refused erased person's row has no values to name the columns.
        headers = next((list(e.raw) for e in self.errors if e.raw), None)
        return csvparse.rejected_rows_csv(
            self.errors,
            headers,
            lang=lang,
            delimiter=self.delimiter,
            encoding=self.encoding,
        )


def _batches(items: Iterator, size: int) -> Iterator[list]:
    batch: list = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_csv(
    stream: IO[bytes],
    mapping: Mapping[str, str | None] | None = None,
    *,
    dry_run: bool = False,
    date_order: str = "dmy",
    batch_size: int = BATCH_SIZE,
    source: Source = Source.CSV,
    choices: csvparse.Choices | None = None,
) -> ImportReport:
    """Stream a CSV export into the customers table, committing every batch.

    Bad rows are collected and never stop good ones. With dry_run nothing is
    written: each batch is rolled back after counting what it would do. Running
    the same file again changes nothing, so an interrupted import is resumed by
    running it again. choices: what the user said of the file's status and
    reason values, tenure unit and departure date (csv_status.Choices).
    """
    report = ImportReport()
    # A customer number twice in one file: the later row is rejected rather
    # than overwriting the earlier in silence (see csvparse.parse).
    rows = csvparse.parse(
        stream,
        mapping,
        date_order=date_order,
        reject_duplicates=True,
        choices=choices,
    )
    report.encoding, report.delimiter = rows.encoding, rows.delimiter
    with bulk.heap_frozen():
        for batch in _batches(rows, batch_size):
            bulk.sqlite_statement_journal_in_memory()
            good, bad = [], []
            for item in batch:
                report.rows += 1
                if isinstance(item, csvparse.RowError):
                    # The lines a quote left open swallowed are rows of the file too.
                    report.rows += item.count - 1
                    report.rejected += item.count - 1
                    bad.append(item)
                else:
                    good.append(item)
            result = upsert_departures(
                [(r.fields, r.extra) for r in good], source, schedule=not dry_run
            )
            # An erased person's rows are rejected, and kept without their values.
            bad = erased.hide_erased(bad) + [
                erased.refused_row(good[i].line, good[i].row, day)
                for i, day in result.refused.items()
            ]
            report.rejected += len(bad)
            report.errors += sorted(bad, key=lambda e: e.line)
            _count_taken(report, good, result.refused)
            report.created += len(result.created)
            report.updated += len(result.updated)
            report.unchanged += len(result.unchanged)
            if dry_run:
                db.session.rollback()
            else:
                db.session.commit()
    report.warnings = rows.warnings
    return report


def _count_taken(
    report: ImportReport, good: list[csvparse.Record], refused: Mapping[int, date]
) -> None:
    """Count a batch's rows taken in by status, and those with a value left out."""
    for index, record in enumerate(good):
        if index in refused:
            continue
        fields = record.fields
        if fields.get("status") == CustomerStatus.ACTIVE:
            report.active += 1
        else:
            report.departed += 1
            if "status" in fields and fields.get("departed_at") is None:
                report.undated += 1
        if record.warnings:
            report.warned += 1
            if len(report.row_warnings) < report.MAX_ROW_WARNINGS:
                report.row_warnings.append(record)


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6)


def decompress(data: bytes) -> bytes:
    return gzip.decompress(data)


def run_import(
    run: ImportRun, lang: str = "en", choices: csvparse.Choices | None = None
) -> ImportReport:
    """Import the file stored with an ImportRun and record the outcome on it."""
    run_id = run.id
    stream = io.BytesIO(decompress(run.upload))
    try:
        report = import_csv(
            stream,
            run.mapping,
            dry_run=run.dry_run,
            date_order=run.date_order,
            choices=choices,
        )
    except csvparse.CsvFormatError as exc:
        db.session.rollback()
        run = db.session.get(ImportRun, run_id)
        run.status, run.error = "failed", exc.message(lang)
        run.finished_at = clock.now()
        db.session.commit()
        raise
    run = db.session.get(ImportRun, run_id)
    run.status = "done"
    # On a finished run, error holds the warnings: the file was imported.
    run.error = report.warning(lang)
    run.rows, run.rejected = report.rows, report.rejected
    run.created, run.updated, run.unchanged = (
        report.created,
        report.updated,
        report.unchanged,
    )
    if report.errors:
        run.rejected_csv = compress(report.rejected_csv(lang))
    if not run.dry_run:
        run.upload = None  # imported: no reason to keep a copy of the file
    run.finished_at = clock.now()
    return report


def save_customer(customer: Customer | None, fields: dict[str, Any]) -> Customer:
    """Create or change one customer from the form; a new one is scheduled.

    The form asks before it adds an erased person (erased.erased_on); one
    refused all the same raises erased.Refused.
    """
    if customer is None:
        result = upsert_departures([(fields, {})], Source.MANUAL)
        if result.refused:
            raise erased.Refused(result.refused[0])
        return db.session.get(Customer, result.ids[0])
    old_departure, old_status = customer.departed_at, customer.status
    fields = dict(fields)
    status = CustomerStatus(fields.pop("status", None) or customer.status)
    if status == CustomerStatus.ACTIVE and fields.get("departed_at") is None:
        # Still, or again, a customer: the last departure's date is kept.
        fields.pop("departed_at", None)
    for name, value in fields.items():
        setattr(customer, name, value)
    customer.status = status
    db.session.flush()
    if status == CustomerStatus.ACTIVE:
        if old_status == CustomerStatus.DEPARTED:
            returned([customer.id], clock.now().date(), Source.MANUAL.value)
    elif customer.departed_at is not None and (
        old_status == CustomerStatus.ACTIVE
        or old_departure is None
        or customer.departed_at > old_departure
    ):
        departed([customer.id])
    return customer
