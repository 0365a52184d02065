"""Recording departures: the one path every intake (CSV, API, Stripe, form) takes.

`upsert_departures` matches each record to a stored customer by external id,
else by email, inserts the new ones and updates the changed ones in bulk, and
hands every new or re-departed customer to the invitation schedule. It flushes;
callers commit (the CSV import commits once per batch).
"""

import gzip
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

import sqlalchemy as sa

from karn import clock
from karn.customers import csvparse
from karn.customers.models import Customer, ImportRun
from karn.enums import Source
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


BATCH_SIZE = 1000
# Fields a record may set; departed_at and extra have rules of their own.
PLAIN_FIELDS = tuple(
    f for f in csvparse.FIELDS if f not in ("external_id", "email", "departed_at")
)


@dataclass
class UpsertResult:
    """Which customers a batch created, changed or left as they were."""

    created: list[int] = field(default_factory=list)
    updated: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)
    # The id of the customer each record landed on, in the records' order.
    ids: list[int] = field(default_factory=list)

    def add(self, other: "UpsertResult") -> None:
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
    for name in PLAIN_FIELDS + ("external_id", "email"):
        value = fields.get(name)
        if value is not None and not _same(getattr(customer, name), value):
            changes[name] = value
    departed = fields.get("departed_at")
    # A later departure (a customer who came back and left again) moves the
    # date; an older export does not move it back.
    if departed is not None and departed > customer.departed_at:
        changes["departed_at"] = departed
    if extra:
        merged = {**(customer.extra or {}), **extra}
        if merged != (customer.extra or {}):
            changes["extra"] = merged
    return changes


def _existing(records: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    ids = {f["external_id"] for f, _ in records if f.get("external_id")}
    emails = {f["email"] for f, _ in records if f.get("email")}
    by_id: dict[str, Customer] = {}
    by_email: dict[str, Customer] = {}
    if ids:
        for c in db.session.scalars(
            sa.select(Customer).where(Customer.external_id.in_(ids))
        ):
            by_id[c.external_id] = c
    if emails:
        query = (
            sa.select(Customer).where(Customer.email.in_(emails)).order_by(Customer.id)
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


def upsert_departures(
    records: Iterable[tuple[Mapping[str, Any], Mapping[str, str]]],
    source: Source,
    *,
    schedule: bool = True,
) -> UpsertResult:
    """Insert or update departed customers from validated (fields, extra) pairs.

    A record matches a customer by external id; without one, or when that id is
    new, by email among customers that have no other external id. Erased people
    are left alone.
    """
    batch = [(dict(f), dict(e or {})) for f, e in records]
    result = UpsertResult()
    if not batch:
        return result
    by_id, by_email = _existing(batch)
    now = clock.now()
    new_rows: list[dict[str, Any]] = []
    new_positions: list[int] = []
    pending: dict[str, int] = {}  # key of a new row in this batch -> its index
    updates: dict[int, dict[str, Any]] = {}
    redeparted: set[int] = set()
    ids: list[int | None] = []

    for fields, extra in batch:
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
            row["departed_at"] = fields.get("departed_at") or now
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
            if "departed_at" in changes:
                redeparted.add(customer.id)
            for name, value in changes.items():
                setattr(customer, name, value)
            updates[customer.id] = changes
        ids.append(customer.id)

    if new_rows:
        # A plain executemany: RETURNING in parameter order would make SQLite
        # insert row by row. The new ids are read back by their unique keys.
        db.session.execute(sa.insert(Customer), new_rows)
        new_positions = _ids_of(new_rows)
        result.created = new_positions
    db.session.flush()
    result.updated = sorted(updates)
    # Negative entries point at new rows: -1 is the first inserted row.
    result.ids = [new_positions[-i - 1] if i < 0 else i for i in ids]
    result.unchanged = sorted({i for i in ids if i > 0} - set(updates))
    if schedule:
        departed(result.created + sorted(redeparted))
    return result


# --- CSV import --------------------------------------------------------------


@dataclass
class ImportReport:
    """The outcome of one CSV import, counted as it streams."""

    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    errors: list[csvparse.RowError] = field(default_factory=list)

    def rejected_csv(self, lang: str = "en") -> bytes:
        """The rejected rows with their line numbers and reasons, as CSV bytes."""
        return csvparse.rejected_rows_csv(self.errors, lang=lang)


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
) -> ImportReport:
    """Stream a CSV export into the customers table, committing every batch.

    Bad rows are collected and never stop good ones. With dry_run nothing is
    written: each batch is rolled back after counting what it would do. Running
    the same file again changes nothing, so an interrupted import is resumed by
    running it again.
    """
    report = ImportReport()
    rows = csvparse.parse(stream, mapping, date_order=date_order)
    for batch in _batches(rows, batch_size):
        good = []
        for item in batch:
            report.rows += 1
            if isinstance(item, csvparse.RowError):
                report.rejected += 1
                report.errors.append(item)
            else:
                good.append((item.fields, item.extra))
        result = upsert_departures(good, source, schedule=not dry_run)
        report.created += len(result.created)
        report.updated += len(result.updated)
        report.unchanged += len(result.unchanged)
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    return report


def compress(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=6)


def decompress(data: bytes) -> bytes:
    return gzip.decompress(data)


def run_import(run: ImportRun, lang: str = "en") -> ImportReport:
    """Import the file stored with an ImportRun and record the outcome on it."""
    run_id = run.id
    stream = io.BytesIO(decompress(run.upload))
    try:
        report = import_csv(
            stream, run.mapping, dry_run=run.dry_run, date_order=run.date_order
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
    """Create or change one customer from the form; a new one is scheduled."""
    if customer is None:
        result = upsert_departures([(fields, {})], Source.MANUAL)
        return db.session.get(Customer, result.ids[0])
    old_departure = customer.departed_at
    for name, value in fields.items():
        setattr(customer, name, value)
    db.session.flush()
    if customer.departed_at > old_departure:
        departed([customer.id])
    return customer
