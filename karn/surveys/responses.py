"""Saving what a respondent answered: progress, the submission, and what follows.

A submission is final exactly once: the UPDATE that sets submitted_at only
succeeds while it is still empty, so a double-click or a second tab cannot
submit twice. Free-text answers are tagged for sentiment and reason on the
way in, and "yes, call me" puts the person on the call list.
"""

import logging
from typing import Any

import sqlalchemy as sa

from karn import clock
from karn.analysis.language import detect_language
from karn.analysis.reasons import tag_reasons
from karn.analysis.sentiment import tag_sentiment
from karn.callbacks.models import CallTask
from karn.customers.models import Customer
from karn.enums import CallTaskSource, Source
from karn.extensions import db
from karn.surveys import definition, delivery
from karn.surveys.models import Answer, Response, ResponseReason, SurveyVersion

log = logging.getLogger(__name__)

# Respondents who ask to be called come first on the call list.
REQUESTED_CALL_PRIORITY = 10


def replace_answers(response: Response, questions: list[dict], clean: dict) -> None:
    """Store the answers given so far, replacing earlier ones."""
    db.session.execute(sa.delete(Answer).where(Answer.response_id == response.id))
    texts = definition.free_texts(questions, clean)
    for key, value in clean.items():
        db.session.add(
            Answer(
                response_id=response.id,
                question_key=key,
                value=value,
                text=texts.get(key),
            )
        )
    db.session.flush()


def save_progress(response: Response, questions: list[dict], form: dict) -> None:
    """Keep whatever the respondent typed so far, leniently, until they submit."""
    if response.submitted_at is not None:
        return
    replace_answers(response, questions, definition.partial_answers(questions, form))


def saved_answers(response: Response | None) -> dict[str, Any]:
    """The stored answers of a response as clean values, to fill the form again."""
    if response is None:
        return {}
    rows = db.session.execute(
        sa.select(Answer.question_key, Answer.value).where(
            Answer.response_id == response.id
        )
    ).all()
    return {key: value for key, value in rows}


def _tag(answers: list[Answer], lang: str) -> None:
    now = clock.now()
    for answer in answers:
        if not answer.text:
            continue
        # People answer in the language they think in, not always the page's.
        text_lang = detect_language(answer.text, default=lang)
        label, score = tag_sentiment(answer.text, text_lang)
        reasons = tag_reasons(answer.text, text_lang)
        answer.sentiment, answer.sentiment_score = label, max(-1.0, min(1.0, score))
        answer.tag_reason = reasons[0][0] if reasons else None
        answer.tags = {"reasons": [[r, round(c, 3)] for r, c in reasons]}
        answer.tagged_at = now


def _call_task(response: Response, clean: dict, questions: list[dict]) -> None:
    callback = next(
        (
            q
            for q in questions
            if q["type"] == definition.PHONE_TIME and q["key"] in clean
        ),
        None,
    )
    if callback is None:
        return
    details = clean[callback["key"]]
    customer = response.customer
    if customer is None:
        # An anonymous respondent who wants a call becomes a customer record,
        # so the request reaches the call list.
        customer = Customer(
            external_id=f"anonymous-{response.id}",
            departed_at=response.submitted_at,
            source=Source.MANUAL,
            language=response.language,
            phone=details.get("phone"),
        )
        db.session.add(customer)
        db.session.flush()
        response.customer_id = customer.id
    elif details.get("phone") and not customer.phone:
        customer.phone = details["phone"]
    db.session.add(
        CallTask(
            customer_id=customer.id,
            response_id=response.id,
            source=CallTaskSource.REQUESTED,
            priority=REQUESTED_CALL_PRIORITY,
            phone=details.get("phone"),
            preferred_time=details.get("time") or None,
        )
    )


def submit(
    response: Response,
    version: SurveyVersion,
    clean: dict,
    shown_orders: dict[str, list[str]],
) -> bool:
    """Make a response final; False when it had already been submitted."""
    now = clock.now()
    won = db.session.execute(
        sa.update(Response)
        .where(Response.id == response.id, Response.submitted_at.is_(None))
        .values(submitted_at=now)
    ).rowcount
    if not won:
        return False
    db.session.refresh(response)
    questions = version.questions
    replace_answers(response, questions, clean)
    response.primary_reason = definition.primary_reason(questions, clean)
    db.session.execute(
        sa.delete(ResponseReason).where(ResponseReason.response_id == response.id)
    )
    for row in definition.reasons_of(questions, clean, shown_orders):
        db.session.add(ResponseReason(response_id=response.id, **row))
    answers = db.session.scalars(
        sa.select(Answer).where(Answer.response_id == response.id)
    ).all()
    _tag(answers, response.language.value)
    _call_task(response, clean, questions)
    if response.invitation is not None:
        delivery.record_response(response.invitation)
    db.session.flush()
    return True
