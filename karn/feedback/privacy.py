"""Feedback and personal data: erasure, the access export, retention.

An erased person's feedback loses its text; the channel, date, rating,
language and tags stay, so the reason counts per channel do not change (as
call notes keep their reasons). The same item sent or imported again is
recognised by its dedupe key and does not bring the text back. Retention
strips the text of every item, linked or anonymous, older than the
personal-data limit, and drops uploads left unimported for a week (never
confirmed, or never taken by a worker).

An upload not yet imported (waiting for its mapping, or for the worker, or
half imported) loses the erased person's rows (`scrub_uploads`), so they do
not come in after the erasure as anonymous items with the person's words.
"""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from karn import clock
from karn.extensions import db
from karn.feedback.models import FeedbackImport, FeedbackItem

STALE_UPLOAD = timedelta(days=7)


def erase_texts(customer_ids: list[int], dry_run: bool = False) -> tuple[int, int]:
    """Remove the texts of these customers' items: (texts removed, items kept)."""
    removed = kept = 0
    for start in range(0, len(customer_ids), 1000):
        chunk = customer_ids[start : start + 1000]
        linked = FeedbackItem.customer_id.in_(chunk)
        kept += db.session.scalar(sa.select(sa.func.count()).where(linked)) or 0
        with_text = sa.and_(linked, FeedbackItem.text.is_not(None))
        removed += db.session.scalar(sa.select(sa.func.count()).where(with_text)) or 0
        if not dry_run:
            db.session.execute(
                sa.update(FeedbackItem)
                .where(with_text)
                .values(text=None, source_id=None)
                .execution_options(synchronize_session=False)
            )
    return removed, kept


def scrub_uploads(
    scrub_blob: Callable[[bytes], tuple[bytes | None, int]], dry_run: bool = False
) -> tuple[int, int]:
    """Remove a person's rows from the uploads not yet imported: (rows, files
    dropped). ``scrub_blob`` gives an upload without the person's rows (None:
    the whole file must go) and how many it removed.

    An import the worker is running goes back to waiting, resumed from its
    count less the rows removed (some rows may be read twice: they are items
    Karn has, stored once). The worker holding it finds it no longer its own
    at its next batch and stops, so it does not go on from its copy of the file.
    """
    removed = dropped = 0
    runs = db.session.scalars(
        sa.select(FeedbackImport).where(FeedbackImport.upload.is_not(None))
    ).all()
    for run in runs:
        blob, rows = scrub_blob(run.upload)
        removed += rows
        dropped += int(blob is None)
        if dry_run or blob is run.upload:
            continue
        run.upload = blob
        if run.status in ("queued", "running"):
            run.claimed_by = run.claimed_at = None
            run.rows = max(0, run.rows - rows)
            if blob is None:
                run.status = "failed"
                run.finished_at = clock.now()
        elif blob is None:
            run.status = "failed"
    return removed, dropped


def strip_older_than(before: datetime, dry_run: bool = False, batch: int = 500) -> int:
    """Remove the texts of items received before ``before``; returns how many.
    Commits after every batch unless it is a dry run.

    Uploads a week or older that were never imported go too: their columns
    never confirmed, or no worker ran to import them.
    """
    if not dry_run:
        db.session.execute(
            sa.update(FeedbackImport)
            .where(
                FeedbackImport.status.in_(("pending", "queued", "running")),
                FeedbackImport.upload.is_not(None),
                FeedbackImport.created_at < clock.now() - STALE_UPLOAD,
                # One the worker still works on stays (claimed_at: its last batch).
                sa.or_(
                    FeedbackImport.claimed_at.is_(None),
                    FeedbackImport.claimed_at < clock.now() - STALE_UPLOAD,
                ),
            )
            .values(upload=None, status="failed", claimed_by=None)
        )
        db.session.commit()
    done, last_id = 0, 0
    while True:
        ids = db.session.scalars(
            sa.select(FeedbackItem.id)
            .where(
                FeedbackItem.received_at < before,
                FeedbackItem.text.is_not(None),
                FeedbackItem.id > last_id,
            )
            .order_by(FeedbackItem.id)
            .limit(batch)
        ).all()
        if not ids:
            return done
        last_id = ids[-1]
        done += len(ids)
        if not dry_run:
            db.session.execute(
                sa.update(FeedbackItem)
                .where(FeedbackItem.id.in_(ids))
                .values(text=None)
                .execution_options(synchronize_session=False)
            )
            db.session.commit()


def export(customer_id: int) -> list[dict[str, Any]]:
    """A person's feedback items, for an access request."""
    rows = db.session.scalars(
        sa.select(FeedbackItem)
        .where(FeedbackItem.customer_id == customer_id)
        .order_by(FeedbackItem.id)
    )
    return [
        {
            "id": i.id,
            "channel": i.channel,
            "received_at": i.received_at.isoformat(),
            "text": i.text,
            "rating": i.rating,
            "language": i.language.value if i.language else None,
            "source_id": i.source_id,
            "via": i.via,
            "sentiment": i.sentiment.value if i.sentiment else None,
            "reason": i.tag_reason.value if i.tag_reason else None,
            "created_at": i.created_at.isoformat(),
        }
        for i in rows
    ]
