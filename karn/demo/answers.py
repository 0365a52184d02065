"""Seeding the demo's survey answers, through Karn's own submission path."""

import random
from typing import Any

from karn import clock
from karn.demo.common import RESPONSE_BATCH, DemoError, _phone, demo_comment
from karn.demo.texts import CALL_TIMES, COMPETITORS, REASONS, TONE_MIX, TONES
from karn.extensions import db
from karn.surveys import definition, responses
from karn.surveys.default_survey import CONSENT_KEY, CONSENT_NO, CONSENT_YES
from karn.surveys.models import SurveyVersion


def _answer_form(
    rng: random.Random,
    questions: list[dict],
    row: dict[str, Any],
    lang: str,
    tone: str,
) -> dict[str, Any]:
    """What the respondent posts on the survey page, question by question."""
    reason = row["_reason"]
    base = {"negative": 2, "neutral": 3, "positive": 4}[tone]
    low_item = {"service": "service", "quality": "quality", "price": "value"}
    form: dict[str, Any] = {}
    main_key = None
    for question in questions:
        key, kind = question["key"], question["type"]
        name = definition.field_name(key)
        options = [o["value"] for o in question.get("options") or ()]
        if kind == definition.SINGLE_CHOICE:
            if question.get("reason_question") and main_key is None:
                main_key = key
                form[name] = reason if reason in options else options[-1]
            elif key == CONSENT_KEY:
                # Most say Karn may contact them again; some say no, some skip.
                # A draw of its own, so the rest of the demo stays as it was.
                pick = random.Random(f"consent {row['external_id']}").random()
                if pick < 0.85:
                    form[name] = CONSENT_YES if pick < 0.6 else CONSENT_NO
            elif question.get("required"):
                form[name] = rng.choice(options)
        elif kind == definition.MULTIPLE_CHOICE:
            if question.get("reason_question"):
                count = rng.choices((0, 1, 2), weights=(0.5, 0.35, 0.15))[0]
                companions = {"service": "quality", "quality": "service"}
                picked = set(rng.sample(options, count))
                if count and reason in companions and rng.random() < 0.5:
                    picked.add(companions[reason])
                form[name] = sorted(picked - {reason})
            elif question.get("required"):
                form[name] = [rng.choice(options)]
        elif kind == definition.RATING_5:
            items = question.get("items") or []
            for item in items:
                score = base + rng.choice((-1, 0, 0, 1))
                if low_item.get(reason) == item["key"]:
                    score -= rng.choice((1, 1, 2))
                form[definition.field_name(key, item["key"])] = str(
                    max(1, min(5, score))
                )
            if not items:
                form[name] = str(max(1, min(5, base)))
        elif kind == definition.SCALE_10:
            low, high = {"negative": (0, 4), "neutral": (3, 7), "positive": (5, 10)}[
                tone
            ]
            form[name] = str(rng.randint(low, high))
        elif kind == definition.LONG_TEXT:
            if rng.random() < 0.65:
                # Mostly about the main reason; sometimes about something else.
                about = reason if rng.random() < 0.85 else rng.choice(REASONS)
                form[name] = demo_comment(rng, lang, about, tone)
        elif kind == definition.SHORT_TEXT:
            if key == "switched_to" and rng.random() < 0.75:
                form[name] = rng.choice(COMPETITORS)
        elif kind == definition.YES_NO:
            chance = 0.10 + (0.12 if row["segment"] == "Enterprise" else 0)
            chance += 0.06 if tone == "negative" else 0
            form[name] = "yes" if rng.random() < chance else "no"
        elif kind == definition.PHONE_TIME:
            form[definition.field_name(key, "phone")] = row["phone"] or _phone(
                rng, lang
            )
            form[definition.field_name(key, "time")] = rng.choice(CALL_TIMES[lang])
    return form


def _submit_responses(
    rng: random.Random,
    rows_by_id: dict[int, dict[str, Any]],
    invitations: list[dict[str, Any]],
    version_id: int,
) -> int:
    """Answer the survey through Karn's own path, each at its own moment."""
    answering = sorted(
        (inv for inv in invitations if inv["_respond_at"]),
        key=lambda inv: inv["_respond_at"],
    )
    questions = db.session.get(SurveyVersion, version_id).questions
    count = 0
    for inv in answering:
        row = rows_by_id[inv["customer_id"]]
        lang = row["language"].value
        tone = TONES[
            rng.choices(range(3), weights=TONE_MIX.get(row["_reason"], (1, 1, 1)))[0]
        ]
        clock.freeze(inv["_respond_at"])
        form = _answer_form(rng, questions, row, lang, tone)
        clean, errors = definition.validate_answers(questions, form, lang)
        if errors:
            raise DemoError(f"demo answers do not fit the survey: {errors}")
        # The order the page would have shown, from the same seed as the page.
        orders = {
            q["key"]: definition.option_order(q, inv["_token_hash"])
            for q in questions
            if q["type"] in definition.CHOICE_TYPES
        }
        responses.submit_invitation(
            invitation_id=inv["_id"],
            customer_id=row["_id"],
            version_id=version_id,
            questions=questions,
            clean=clean,
            shown_orders=orders,
            lang=lang,
            has_progress=False,
        )
        count += 1
        if count % RESPONSE_BATCH == 0:
            db.session.commit()
    db.session.commit()
    return count
