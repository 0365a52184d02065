"""The worker tags feedback items, a batch at a time, like CRM comments
(karn.customers.comments): intake stores them untagged, so an import of a
million items is not slowed by the tagger, and the pages say how many wait.

A person's correction (`correct`) sets the tags and marks them corrected, as
for survey answers (karn.learning.corrections); nothing tags the item again.
A corrected reason is a labelled example for training the reason tagger, as a
corrected answer's is (`corrected_examples`, read by karn.learning.training).
"""

import logging

import sqlalchemy as sa
from flask import Flask, current_app

from karn import clock
from karn.accounts import audit
from karn.enums import Reason, Sentiment
from karn.extensions import db
from karn.feedback.models import FeedbackItem

log = logging.getLogger(__name__)

BATCH = 500
# Batches per worker pass: a pass stays well under a minute.
BATCHES_PER_PASS = 20

_WAITING = sa.and_(FeedbackItem.tagged_at.is_(None), FeedbackItem.text.is_not(None))


def waiting() -> int:
    """How many items are not yet tagged."""
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(FeedbackItem).where(_WAITING)
        )
        or 0
    )


def tag_waiting(batch: int = BATCH, batches: int | None = None) -> int:
    """Tag items not yet tagged, one transaction per batch; returns how many."""
    from karn.text import tags_for
    from karn.text.language import detect_language

    default = current_app.config.get("DEFAULT_LANGUAGE", "nl")
    done = 0
    last_id = 0
    while batches is None or batches > 0:
        rows = db.session.execute(
            sa.select(FeedbackItem.id, FeedbackItem.text, FeedbackItem.language)
            .where(_WAITING, FeedbackItem.id > last_id)
            .order_by(FeedbackItem.id)
            .limit(batch)
        ).all()
        if not rows:
            break
        now = clock.now()
        values = []
        for item_id, text, lang in rows:
            lang = getattr(lang, "value", lang) or detect_language(text, default)
            tags = tags_for(text, lang, now)
            values.append(
                {
                    "item_id": item_id,
                    "language": lang,
                    "sentiment": tags["sentiment"],
                    "sentiment_score": tags["sentiment_score"],
                    "tag_reason": tags["tag_reason"],
                    "tags": tags["tags"],
                    "tagged_at": now,
                }
            )
        # An item tagged meanwhile (by another worker, or corrected) keeps its tags.
        db.session.execute(
            sa.update(FeedbackItem.__table__)
            .where(
                FeedbackItem.__table__.c.id == sa.bindparam("item_id"),
                FeedbackItem.__table__.c.tagged_at.is_(None),
            )
            .values(
                language=sa.bindparam("language"),
                sentiment=sa.bindparam("sentiment"),
                sentiment_score=sa.bindparam("sentiment_score"),
                tag_reason=sa.bindparam("tag_reason"),
                tags=sa.bindparam("tags"),
                tagged_at=sa.bindparam("tagged_at"),
            )
            .execution_options(synchronize_session=False),
            values,
        )
        db.session.commit()
        done += len(rows)
        last_id = rows[-1][0]
        if batches is not None:
            batches -= 1
    return done


def run_tagging_job(app: Flask) -> int:
    """The worker's job: never raises, so the other jobs run whatever happens."""
    with app.app_context():
        try:
            done = tag_waiting(batches=BATCHES_PER_PASS)
            if done:
                log.info("tagged %d feedback items", done)
            return done
        except Exception:
            log.exception("tagging feedback failed")
            db.session.rollback()
            return 0
        finally:
            db.session.remove()


class CorrectionError(ValueError):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def correct(item: FeedbackItem, user, sentiment: str | None, reason: str | None):
    """Set an item's tone and/or reason; True when something changed. The
    caller commits. CorrectionError: "empty", "sentiment", "reason", "no_text"."""
    try:
        new_sentiment = Sentiment(sentiment) if sentiment else None
    except ValueError:
        raise CorrectionError("sentiment") from None
    try:
        new_reason = Reason(reason) if reason else None
    except ValueError:
        raise CorrectionError("reason") from None
    if new_sentiment is None and new_reason is None:
        raise CorrectionError("empty")
    if not item.text:
        raise CorrectionError("no_text")
    changed = (new_sentiment is not None and new_sentiment != item.sentiment) or (
        new_reason is not None and new_reason != item.tag_reason
    )
    if not changed:
        return False
    now = clock.now()
    old = (item.sentiment, item.tag_reason)
    if new_sentiment is not None and new_sentiment != item.sentiment:
        item.sentiment = new_sentiment
        item.sentiment_score = {"negative": -0.5, "positive": 0.5}.get(
            new_sentiment.value, 0.0
        )
    if new_reason is not None:
        item.tag_reason = new_reason
    tags = dict(item.tags or {})
    before = tags.get("corrected") or {}
    tags["corrected"] = {
        "by": getattr(user, "id", None),
        "at": now.isoformat(),
        # Whether a person chose the reason: then it is a training example.
        "reason": new_reason is not None or bool(before.get("reason")),
    }
    item.tags = tags
    item.tagged_at = item.tagged_at or now
    audit.record(
        "feedback.tags.correct",
        item,
        user=user,
        sentiment_from=old[0].value if old[0] else None,
        sentiment_to=new_sentiment.value if new_sentiment else None,
        reason_from=old[1].value if old[1] else None,
        reason_to=new_reason.value if new_reason else None,
    )
    return True


def corrected_examples() -> list[tuple[int, int | None, str, str | None, str]]:
    """(item id, customer id, text, language, reason) of every item whose
    reason a person chose, its text not erased."""
    rows = db.session.execute(
        sa.select(
            FeedbackItem.id,
            FeedbackItem.customer_id,
            FeedbackItem.text,
            FeedbackItem.language,
            FeedbackItem.tag_reason,
            FeedbackItem.tags,
        )
        .where(
            FeedbackItem.tags["corrected"].as_string().is_not(None),
            FeedbackItem.text.is_not(None),
            FeedbackItem.tag_reason.is_not(None),
        )
        .order_by(FeedbackItem.id)
    )
    return [
        (item_id, customer_id, text, getattr(lang, "value", lang), reason.value)
        for item_id, customer_id, text, lang, reason, tags in rows
        if ((tags or {}).get("corrected") or {}).get("reason")
    ]
