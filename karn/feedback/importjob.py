"""Feedback CSV imports run by the worker, not in the web request.

The request checks the mapping and queues the import (`queue`); the worker
takes it (`run_import_job`) and imports it in slices of at most
`SLICE_SECONDS` per pass, so mail is never held up for long. The items are
committed every `COMMIT_ROWS` rows together with the import's counts, which
are both the progress the page shows ("imported N of about M rows") and the
point to go on from: rows up to the count are passed over unread.

A worker holds an import by its name and the time of its last commit. One
that crashed stops committing; after `LEASE` another worker takes the import
over and goes on after the last committed batch. A worker that finds the
import taken from it stops without committing. Should the counts ever be
behind the items (a scrubbed upload, see karn.feedback.privacy), the rows read
again are items Karn has: they are recognised by their dedupe key and stored
once.

A small file (`INLINE_ROWS`) is imported by the request itself, through the
same code, so its result shows at once.
"""

import gzip
import io
import logging
import time
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask

from karn import clock
from karn.accounts import audit
from karn.customers.csv_errors import CsvFormatError
from karn.extensions import db
from karn.feedback import csvimport
from karn.feedback.models import FeedbackImport

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=2)
SLICE_SECONDS = 30.0
# Rows between commits (some seconds of work). Each commit writes every page
# of the dedupe key's index the rows since the last one changed, and with
# hashed keys that is most of it: bench/feedback.py (a million rows, twice)
# wrote 5.3 GB committing every 10,000 rows, 2.6 GB every 100,000.
COMMIT_ROWS = 100_000
# New items after which PostgreSQL's statistics and visibility map are
# brought up to date at once (`_vacuum`).
VACUUM_ROWS = 100_000
INLINE_ROWS = 2000
WAITING = ("queued", "running")


def estimate_rows(data: bytes) -> int:
    """About how many rows a file holds: its lines less the header."""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    return max(0, lines - 1)


def queue(
    run: FeedbackImport, mapping: dict, channel: str | None, month_first: bool
) -> None:
    """Hand a confirmed import to the worker; the caller commits."""
    run.mapping = mapping
    run.channel = channel
    run.month_first = month_first
    run.status = "queued"
    run.rows = run.created = run.unchanged = run.rejected = 0
    run.errors = []
    run.error = None
    run.claimed_by = run.claimed_at = None


class _Lost(Exception):
    """Another worker took the import over: this one stops, committing nothing."""


def _claimable(now):
    return sa.and_(
        FeedbackImport.status.in_(WAITING),
        FeedbackImport.upload.is_not(None),
        sa.or_(
            FeedbackImport.claimed_at.is_(None),
            FeedbackImport.claimed_at < now - LEASE,
        ),
    )


def claim(worker: str, import_id: int | None = None) -> int | None:
    """Take the oldest import waiting (or this one) for ``worker``; commits."""
    now = clock.now()
    query = sa.select(FeedbackImport.id).where(_claimable(now))
    if import_id is not None:
        query = query.where(FeedbackImport.id == import_id)
    found = db.session.scalar(query.order_by(FeedbackImport.id).limit(1))
    if found is None:
        return None
    taken = db.session.execute(
        sa.update(FeedbackImport)
        .where(FeedbackImport.id == found, _claimable(now))
        .values(status="running", claimed_by=worker, claimed_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return found if taken == 1 else None


def _progress(run_id: int, worker: str, outcome: csvimport.Outcome, **extra):
    """Write the counts in the batch's transaction, while this worker holds it."""
    saved = db.session.execute(
        sa.update(FeedbackImport)
        .where(FeedbackImport.id == run_id, FeedbackImport.claimed_by == worker)
        .values(
            rows=outcome.rows,
            created=outcome.created,
            unchanged=outcome.unchanged,
            rejected=outcome.rejected,
            errors=[[line, codes] for line, codes in outcome.errors],
            claimed_at=clock.now(),
            **extra,
        )
        .execution_options(synchronize_session=False)
    ).rowcount
    if saved != 1:
        raise _Lost()


def run_slice(run_id: int, worker: str, seconds: float | None = SLICE_SECONDS) -> str:
    """Import (more of) a claimed import; its status after: running, done or
    failed. None for ``seconds``: to the end."""
    run = db.session.get(FeedbackImport, run_id)
    outcome = csvimport.Outcome(
        rows=run.rows,
        created=run.created,
        unchanged=run.unchanged,
        rejected=run.rejected,
        errors=[(line, codes) for line, codes in run.errors or []],
    )
    stream = gzip.GzipFile(fileobj=io.BytesIO(run.upload))
    mapping, channel, month_first = run.mapping, run.channel, run.month_first
    db.session.expunge(run)
    deadline = None if seconds is None else time.monotonic() + seconds
    stopped = False

    committed = outcome.rows

    def after_batch(done: csvimport.Outcome) -> None:
        nonlocal stopped, committed
        late = deadline is not None and time.monotonic() > deadline
        if done.rows - committed < COMMIT_ROWS and not late:
            return
        _progress(run_id, worker, done)
        db.session.commit()
        committed = done.rows
        if late:
            stopped = True
            raise csvimport.Stop()

    try:
        outcome = csvimport.import_stream(
            stream,
            mapping,
            channel,
            month_first=month_first,
            outcome=outcome,
            after_batch=after_batch,
        )
    except _Lost:
        db.session.rollback()
        log.warning("feedback import %d was taken over by another worker", run_id)
        return "running"
    except CsvFormatError as exc:
        # The batches before the broken row stay; the same file, mended,
        # imports the rest and leaves those unchanged.
        db.session.rollback()
        _finish(run_id, worker, None, "failed", [exc.message("en"), exc.message("nl")])
        return "failed"
    if stopped:
        db.session.execute(
            sa.update(FeedbackImport)
            .where(FeedbackImport.id == run_id, FeedbackImport.claimed_by == worker)
            .values(claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        return "running"
    try:
        _finish(run_id, worker, outcome, "done", None)
    except _Lost:
        db.session.rollback()
        return "running"
    if outcome.created >= VACUUM_ROWS:
        _vacuum()
    return "done"


def _vacuum() -> None:
    """After many new items, PostgreSQL's VACUUM ANALYZE of the items table
    (which autovacuum would do some time later): until then counting the
    items waiting to be tagged visits every new row, not just the index,
    which made the feedback pages take up to a second after a million."""
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM (ANALYZE) feedback_items"
        )


def _finish(run_id, worker, outcome, status, error) -> None:
    values = {
        "status": status,
        "error": error,
        "upload": None,  # the texts now live in the items only
        "claimed_by": None,
        "finished_at": clock.now(),
    }
    if outcome is not None:
        _progress(run_id, worker, outcome, **values)
    else:
        db.session.execute(
            sa.update(FeedbackImport)
            .where(FeedbackImport.id == run_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    run = db.session.get(FeedbackImport, run_id)
    db.session.refresh(run)
    audit.record(
        "feedback.import",
        run,
        status=status,
        created=run.created,
        unchanged=run.unchanged,
        rejected=run.rejected,
    )
    db.session.commit()


def run_import_job(app: Flask, worker: str = "worker", whole: bool = False) -> int:
    """The worker's job: one slice of the oldest waiting import (``whole``:
    every waiting import to its end). Never raises; returns rows read."""
    with app.app_context():
        read = 0
        try:
            while True:
                run_id = claim(worker)
                if run_id is None:
                    return read
                before = db.session.scalar(
                    sa.select(FeedbackImport.rows).where(FeedbackImport.id == run_id)
                )
                run_slice(run_id, worker, None if whole else SLICE_SECONDS)
                after = db.session.scalar(
                    sa.select(FeedbackImport.rows).where(FeedbackImport.id == run_id)
                )
                read += (after or 0) - (before or 0)
                if not whole:
                    return read
        except Exception:
            log.exception("importing feedback failed")
            db.session.rollback()
            return read
        finally:
            db.session.remove()
