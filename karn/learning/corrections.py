"""People correcting the sentiment and reason tags of answers and call notes.

A correction is kept as a row of ``tag_corrections`` (who, when, the labels
before and after; never the text), and the answer's or note's own columns take
the corrected values, so pages show them and counts use them. Its ``tags`` JSON
gets ``corrected`` (the correction's id, who, when), which keeps any re-tag
off it. Corrected reasons are labelled examples for ``flask analysis train``.
"""

from typing import Any

import sqlalchemy as sa

from karn import clock
from karn.accounts import audit
from karn.accounts.models import User
from karn.callbacks.models import CallNote
from karn.enums import Reason, Sentiment
from karn.extensions import db
from karn.surveys.models import Answer, Response
from karn.text.models import TagCorrection

KINDS = {"answer": Answer, "note": CallNote}


class CorrectionError(ValueError):
    """A correction that cannot be made; ``code`` says why."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def target(kind: str, target_id: int) -> Answer | CallNote:
    """The answer or note a correction is about; CorrectionError if none."""
    model = KINDS.get(kind)
    if model is None:
        raise CorrectionError("kind")
    row = db.session.get(model, target_id)
    if row is None:
        raise CorrectionError("missing")
    return row


def _score_for(label: Sentiment, score: float | None) -> float:
    """A score on the side of the corrected label, keeping the strength if it was."""
    if label == Sentiment.NEGATIVE:
        return score if score is not None and score < 0 else -0.5
    if label == Sentiment.POSITIVE:
        return score if score is not None and score > 0 else 0.5
    return 0.0


def _label(enum, value: Any, code: str):
    if value is None or value == "":
        return None
    try:
        return enum(value)
    except ValueError:
        raise CorrectionError(code) from None


def correct(
    kind: str,
    target_id: int,
    user: User | None,
    sentiment: str | Sentiment | None = None,
    reason: str | Reason | None = None,
) -> TagCorrection | None:
    """Set the sentiment and/or reason tag of an answer ("answer") or note ("note").

    None leaves that tag as it is. Returns the correction, or None when nothing
    changed. Raises CorrectionError: ``kind`` (not "answer" or "note"),
    ``missing`` (no such row), ``sentiment`` / ``reason`` (not a known label),
    ``empty`` (neither given), ``no_text`` (nothing to tag: no text, or an answer
    of a response not submitted). The caller commits.
    """
    row = target(kind, target_id)
    new_sentiment = _label(Sentiment, sentiment, "sentiment")
    new_reason = _label(Reason, reason, "reason")
    if new_sentiment is None and new_reason is None:
        raise CorrectionError("empty")
    if not (row.text or "").strip():
        raise CorrectionError("no_text")
    if kind == "answer":
        submitted = db.session.scalar(
            sa.select(Response.submitted_at).where(Response.id == row.response_id)
        )
        if submitted is None:
            raise CorrectionError("no_text")
    changed = (new_sentiment is not None and new_sentiment != row.sentiment) or (
        new_reason is not None and new_reason != row.tag_reason
    )
    if not changed:
        return None
    now = clock.now()
    correction = TagCorrection(
        answer_id=row.id if kind == "answer" else None,
        note_id=row.id if kind == "note" else None,
        user_id=getattr(user, "id", None),
        created_at=now,
        old_sentiment=row.sentiment,
        new_sentiment=new_sentiment,
        old_score=row.sentiment_score,
        old_reason=row.tag_reason,
        new_reason=new_reason,
    )
    db.session.add(correction)
    db.session.flush()
    if new_sentiment is not None and new_sentiment != row.sentiment:
        row.sentiment = new_sentiment
        row.sentiment_score = _score_for(new_sentiment, row.sentiment_score)
    if new_reason is not None:
        row.tag_reason = new_reason
    tags = dict(row.tags or {})
    tags["corrected"] = {
        "id": correction.id,
        "by": getattr(user, "id", None),
        "at": now.isoformat(),
    }
    row.tags = tags
    if row.tagged_at is None:
        row.tagged_at = now
    audit.record(
        "tags.correct",
        row,
        user=user,
        kind=kind,
        sentiment_from=_value(correction.old_sentiment),
        sentiment_to=_value(correction.new_sentiment),
        reason_from=_value(correction.old_reason),
        reason_to=_value(correction.new_reason),
    )
    return correction


def _value(label) -> str | None:
    return label.value if label is not None else None


def latest(kind: str, target_id: int) -> TagCorrection | None:
    """The last correction of an answer or note, with who made it."""
    column = TagCorrection.answer_id if kind == "answer" else TagCorrection.note_id
    return db.session.scalar(
        sa.select(TagCorrection)
        .where(column == target_id)
        .order_by(TagCorrection.id.desc())
        .limit(1)
    )
