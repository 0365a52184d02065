"""Saving what a respondent answered: progress, the submission, and what follows.

A submission is final exactly once. Without saved progress it is one INSERT
that skips on a conflict with the unique invitation_id, so the database lets
only one response per invitation through; with saved progress it is an UPDATE
that only succeeds while submitted_at is still empty. Either way a double-click
or a second tab cannot submit twice. Free-text answers are tagged for sentiment
and reason on the way in. What follows in other features ("yes, call me" puts
the person on the call list, the dashboard's daily totals count the response)
listens through ``on_submitted``; the app connects them (karn.app).

These are the survey page's hot path, so they write with Core statements (a
few round trips, no ORM flushes) and leave the transaction to the caller.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from karn import clock
from karn.enums import InvitationStatus, OutboxStatus
from karn.extensions import db, prepared
from karn.surveys import definition
from karn.surveys.models import (
    Answer,
    Invitation,
    OutboxMessage,
    Response,
    ResponseReason,
)
from karn.text import tags_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    """A response just made final, as listeners get it, inside its transaction."""

    conn: sa.Connection
    response_id: int
    customer_id: int | None
    questions: list[dict]
    clean: dict
    lang: str
    now: datetime


# Called in order, in the submission's transaction, after the answers are stored.
_submit_listeners: list[Callable[[Submitted], None]] = []


def on_submitted(listener: Callable[[Submitted], None]) -> None:
    """Call ``listener(submitted)`` for every response made final."""
    if listener not in _submit_listeners:
        _submit_listeners.append(listener)


def _submitted(submitted: Submitted) -> None:
    for listener in _submit_listeners:
        listener(submitted)


# Every answer row carries every column: one multi-row INSERT needs equal keys.
_NO_TAGS = {
    "sentiment": None,
    "sentiment_score": None,
    "tag_reason": None,
    "tags": None,
    "tagged_at": None,
}

# The statements are built once: building them is a good part of what SQLAlchemy
# spends on a request. Values come with each execution; b_* name the others.
_responses = Response.__table__


def _insert_once(insert) -> sa.Insert:
    # A response for an invitation that has none; nothing (no id) otherwise.
    return prepared(
        insert(_responses)
        .on_conflict_do_nothing(index_elements=["invitation_id"])
        .returning(Response.id)
    )


_INSERT_ONCE = {
    "postgresql": _insert_once(postgresql.insert),
    "sqlite": _insert_once(sqlite.insert),
}
_INSERT_RESPONSE = prepared(sa.insert(_responses).returning(Response.id))
_LOCK_RESPONSE = prepared(
    sa.select(Response.id, Response.submitted_at)
    .where(Response.invitation_id == sa.bindparam("b_invitation"))
    .with_for_update()
)
_SUBMIT_SAVED = prepared(
    sa.update(_responses)
    .where(
        Response.invitation_id == sa.bindparam("b_invitation"),
        Response.submitted_at.is_(None),
    )
    .values(submitted_at=sa.bindparam("b_now"), primary_reason=sa.bindparam("b_reason"))
    .returning(Response.id, Response.language)
)
_SAVED_ANSWERS = prepared(
    sa.select(Answer.question_key, Answer.value, Answer.text).where(
        Answer.response_id == sa.bindparam("b_response")
    )
)
_DELETE_ANSWERS = prepared(
    sa.delete(Answer.__table__).where(Answer.response_id == sa.bindparam("b_response"))
)
_DELETE_REASONS = prepared(
    sa.delete(ResponseReason.__table__).where(
        ResponseReason.response_id == sa.bindparam("b_response")
    )
)
# With RETURNING, SQLAlchemy sends many rows as one multi-row INSERT
# ("insertmanyvalues"); without it, psycopg would send one statement per row.
_INSERT_ANSWERS = prepared(sa.insert(Answer.__table__).returning(Answer.id))
_INSERT_REASONS = prepared(
    sa.insert(ResponseReason.__table__).returning(ResponseReason.response_id)
)
# As delivery.record_response: the invitation is answered, no more reminders.
_ANSWERED = prepared(
    sa.update(Invitation.__table__)
    .where(Invitation.id == sa.bindparam("b_invitation"))
    .values(
        status=InvitationStatus.RESPONDED,
        responded_at=sa.bindparam("b_now"),
        closed_at=sa.bindparam("b_now"),
    )
)
_CANCEL_WAITING_MAIL = prepared(
    sa.update(OutboxMessage.__table__)
    .where(
        OutboxMessage.invitation_id == sa.bindparam("b_invitation"),
        OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
    )
    .values(status=OutboxStatus.CANCELLED)
)


def _conn() -> sa.Connection:
    return db.session.connection()


def open_response(
    invitation_id: int, customer_id: int, version_id: int, lang: str
) -> int | None:
    """The id of the invitation's response still being answered, made if needed.

    None when it has been submitted. An existing row is locked until commit, so
    progress saved now cannot overwrite a submission made at the same moment.
    """
    conn = _conn()
    now = clock.now()
    response_id = conn.scalar(
        _INSERT_ONCE[conn.dialect.name],
        {
            "invitation_id": invitation_id,
            "customer_id": customer_id,
            "survey_version_id": version_id,
            "language": lang,
            "channel": "invitation",
            "started_at": now,
        },
    )
    if response_id is not None:
        return response_id
    row = conn.execute(_LOCK_RESPONSE, {"b_invitation": invitation_id}).first()
    return row.id if row is not None and row.submitted_at is None else None


def _insert_answers(
    conn: sa.Connection,
    response_id: int,
    questions: list[dict],
    clean: dict,
    tag_lang: str | None,
) -> None:
    texts = definition.free_texts(questions, clean)
    now = clock.now()
    rows = []
    for key, value in clean.items():
        if "__" in key:
            continue  # an "other, namely" text: stored as its question's text
        text = texts.get(key)
        row = {
            "response_id": response_id,
            "question_key": key,
            "value": value,
            "text": text,
            **_NO_TAGS,
        }
        if text and tag_lang:
            row.update(tags_for(text, tag_lang, now))
        rows.append(row)
    if rows:
        conn.execute(_INSERT_ANSWERS, rows)


def replace_answers(response_id: int, questions: list[dict], clean: dict) -> None:
    """Store the answers given so far, replacing earlier ones."""
    conn = _conn()
    conn.execute(_DELETE_ANSWERS, {"b_response": response_id})
    _insert_answers(conn, response_id, questions, clean, tag_lang=None)


def save_progress(response_id: int, questions: list[dict], form: dict) -> None:
    """Keep whatever the respondent typed so far, leniently, until they submit."""
    replace_answers(response_id, questions, definition.partial_answers(questions, form))


def saved_answers(response_id: int | None) -> dict[str, Any]:
    """The stored answers of a response as clean values, to fill the form again."""
    if response_id is None:
        return {}
    answers: dict[str, Any] = {}
    for key, value, text in _conn().execute(
        _SAVED_ANSWERS, {"b_response": response_id}
    ):
        answers[key] = value
        if text is not None and text != value:
            # A choice answer's "other, namely" text.
            answers[definition.other_key(key)] = text
    return answers


def _store(
    conn: sa.Connection,
    response_id: int,
    customer_id: int | None,
    questions: list[dict],
    clean: dict,
    shown_orders: dict[str, list[str]],
    lang: str,
    now: datetime,
) -> None:
    """Answers (tagged) and reason rows of a response just submitted."""
    _insert_answers(conn, response_id, questions, clean, tag_lang=lang)
    reasons = [
        {"response_id": response_id, **row}
        for row in definition.reasons_of(questions, clean, shown_orders)
    ]
    if reasons:
        conn.execute(_INSERT_REASONS, reasons)


def _record_response(conn: sa.Connection, invitation_id: int, now: datetime) -> None:
    conn.execute(_ANSWERED, {"b_invitation": invitation_id, "b_now": now})
    conn.execute(_CANCEL_WAITING_MAIL, {"b_invitation": invitation_id})


def submit_invitation(
    *,
    invitation_id: int,
    customer_id: int,
    version_id: int,
    questions: list[dict],
    clean: dict,
    shown_orders: dict[str, list[str]],
    lang: str,
    has_progress: bool,
) -> bool:
    """Make the response to an invitation final; False when it already was.

    ``has_progress`` says whether a response row was seen for the invitation;
    without one the response is inserted submitted, in one statement.
    """
    conn = _conn()
    now = clock.now()
    reason = definition.primary_reason(questions, clean)
    response_id = None
    if not has_progress:
        response_id = conn.scalar(
            _INSERT_ONCE[conn.dialect.name],
            {
                "invitation_id": invitation_id,
                "customer_id": customer_id,
                "survey_version_id": version_id,
                "language": lang,
                "channel": "invitation",
                "started_at": now,
                "submitted_at": now,
                "primary_reason": reason,
            },
        )
    if response_id is None:
        # Saved progress, perhaps by another tab a moment ago: only the UPDATE
        # that finds submitted_at empty wins. The row keeps the language it
        # was started in.
        row = conn.execute(
            _SUBMIT_SAVED,
            {"b_invitation": invitation_id, "b_now": now, "b_reason": reason},
        ).first()
        if row is None:
            return False
        response_id, lang = row.id, row.language.value
        conn.execute(_DELETE_ANSWERS, {"b_response": response_id})
        conn.execute(_DELETE_REASONS, {"b_response": response_id})
    _store(conn, response_id, customer_id, questions, clean, shown_orders, lang, now)
    _record_response(conn, invitation_id, now)
    _submitted(Submitted(conn, response_id, customer_id, questions, clean, lang, now))
    return True


def submit_anonymous(
    *,
    version_id: int,
    customer_id: int | None,
    questions: list[dict],
    clean: dict,
    shown_orders: dict[str, list[str]],
    lang: str,
) -> int:
    """Store a submission through the public link; returns the response id."""
    conn = _conn()
    now = clock.now()
    response_id = conn.scalar(
        _INSERT_RESPONSE,
        {
            "customer_id": customer_id,
            "survey_version_id": version_id,
            "language": lang,
            "channel": "anonymous",
            "primary_reason": definition.primary_reason(questions, clean),
            "started_at": now,
            "submitted_at": now,
        },
    )
    _store(conn, response_id, customer_id, questions, clean, shown_orders, lang, now)
    _submitted(Submitted(conn, response_id, customer_id, questions, clean, lang, now))
    return response_id
