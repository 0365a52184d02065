"""Comments from the CRM, tagged like every other text.

A customer's `stated_comment` (an imported comment column, Stripe's feedback
comment) gets the same reason and sentiment tags as survey answers and call
notes, kept in `customer_comment_tags`, one row per customer. Intake stores the
comment at once and leaves the tagging to the worker (`run_tagging_job`), in
bounded batches, so a large import is not slowed by it; until then the stated
reasons' page says how many comments wait. A row remembers a digest of the text
it tagged: a comment changed by a later import is tagged again, and an erased
comment loses its tags (see `forget`).

The analysis counts a tagged comment's reason where the customer stated none
(karn.analysis.stated): a CRM with only a comment column still gets a ranking.
"""

import hashlib
import logging
from datetime import datetime

import sqlalchemy as sa
from flask import Flask, current_app
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.customers.models import Customer
from karn.dbtypes import UTCDateTime
from karn.enums import Reason, Sentiment, enum_column
from karn.extensions import db

log = logging.getLogger(__name__)

BATCH = 500
# Batches per worker pass: a pass stays well under a minute.
BATCHES_PER_PASS = 20


class CommentTags(db.Model):
    """The tags of one customer's stated comment."""

    __tablename__ = "customer_comment_tags"

    customer_id: Mapped[int] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    # The first 16 hex digits of the SHA-256 of the text that was tagged.
    digest: Mapped[str] = mapped_column(sa.String(16))
    sentiment: Mapped[Sentiment | None] = mapped_column(
        enum_column(Sentiment, "sentiment")
    )
    sentiment_score: Mapped[float | None]
    tag_reason: Mapped[Reason | None] = mapped_column(
        enum_column(Reason, "reason"), index=True
    )
    tags: Mapped[dict | None] = mapped_column(sa.JSON)
    tagged_at: Mapped[datetime] = mapped_column(UTCDateTime)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _candidates():
    """Customers with a comment and no tags yet: (id, comment, language)."""
    return (
        sa.select(Customer.id, Customer.stated_comment, Customer.language)
        .outerjoin(CommentTags, CommentTags.customer_id == Customer.id)
        .where(
            Customer.stated_comment.is_not(None),
            Customer.stated_comment != "",
            Customer.erased_at.is_(None),
            CommentTags.customer_id.is_(None),
        )
        .order_by(Customer.id)
    )


def waiting() -> int:
    """How many comments are not yet tagged."""
    query = _candidates().order_by(None).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(query)) or 0


def tag_waiting(batch: int = BATCH, batches: int | None = None) -> int:
    """Tag comments not yet tagged, one transaction per batch; returns how many."""
    from karn.text import tags_for

    default = current_app.config.get("DEFAULT_LANGUAGE", "nl")
    done = 0
    last_id = 0
    while batches is None or batches > 0:
        rows = db.session.execute(
            _candidates().where(Customer.id > last_id).limit(batch)
        ).all()
        if not rows:
            break
        now = clock.now()
        values = []
        for customer_id, text, lang in rows:
            tags = tags_for(text, getattr(lang, "value", lang) or default, now)
            values.append(
                {
                    "customer_id": customer_id,
                    "digest": digest(text),
                    "sentiment": tags["sentiment"],
                    "sentiment_score": tags["sentiment_score"],
                    "tag_reason": tags["tag_reason"],
                    "tags": tags["tags"],
                    "tagged_at": now,
                }
            )
        # A comment tagged meanwhile by another worker keeps its row.
        db.session.execute(_insert_ignoring_conflicts(CommentTags.__table__), values)
        db.session.commit()
        done += len(rows)
        last_id = rows[-1][0]
        if batches is not None:
            batches -= 1
    return done


def _insert_ignoring_conflicts(table: sa.Table):
    if db.engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table).on_conflict_do_nothing(index_elements=["customer_id"])


def forget(customer_ids: list[int]) -> None:
    """Drop the tags of these customers' comments (changed or erased)."""
    for start in range(0, len(customer_ids), 1000):
        db.session.execute(
            sa.delete(CommentTags).where(
                CommentTags.customer_id.in_(customer_ids[start : start + 1000])
            )
        )


def forget_changed(comments: dict[int, str | None]) -> None:
    """Given customers' comments as they are now, drop tags made for another text."""
    if not comments:
        return
    ids = list(comments)
    stale = []
    for start in range(0, len(ids), 1000):
        rows = db.session.execute(
            sa.select(CommentTags.customer_id, CommentTags.digest).where(
                CommentTags.customer_id.in_(ids[start : start + 1000])
            )
        )
        for customer_id, tagged in rows:
            text = comments[customer_id]
            if not text or digest(text) != tagged:
                stale.append(customer_id)
    forget(stale)


def run_tagging_job(app: Flask) -> int:
    """The worker's job: never raises, so the other jobs run whatever happens."""
    with app.app_context():
        try:
            done = tag_waiting(batches=BATCHES_PER_PASS)
            if done:
                log.info("tagged %d customers' comments", done)
            return done
        except Exception:
            log.exception("tagging comments failed")
            db.session.rollback()
            return 0
        finally:
            db.session.remove()
