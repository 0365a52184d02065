"""Feedback and personal data: erasure, the access export, retention.

An erased person's feedback loses its text; the channel, date, rating,
language and tags stay, so the reason counts per channel do not change (as
call notes keep their reasons). The same item sent or imported again is
recognised by its dedupe key and does not bring the text back. Retention
strips the text of every item, linked or anonymous, older than the
personal-data limit, and drops uploads left unimported for a week.
"""

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


def strip_older_than(before: datetime, dry_run: bool = False, batch: int = 500) -> int:
    """Remove the texts of items received before ``before``; returns how many.
    Commits after every batch unless it is a dry run.

    Uploads whose columns were never confirmed, a week or older, go too.
    """
    if not dry_run:
        db.session.execute(
            sa.update(FeedbackImport)
            .where(
                FeedbackImport.status == "pending",
                FeedbackImport.created_at < clock.now() - STALE_UPLOAD,
            )
            .values(upload=None, status="failed")
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
