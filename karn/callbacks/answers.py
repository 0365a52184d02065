"""A survey response as the caller reads it: each question with its answer."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _

from karn.enums import Sentiment
from karn.formatting import SENTIMENT_LABELS
from karn.surveys import definition
from karn.surveys.models import Answer
from karn.surveys.models import Response as SurveyResponse

__all__ = ["SENTIMENT_LABELS", "AnsweredQuestion", "answer_text", "answered_questions"]


@dataclass
class AnsweredQuestion:
    question: str
    answer: str
    sentiment: Sentiment | None
    # The stored answer, e.g. to correct its tags.
    row: Answer | None = None


def _option_labels(question: Mapping[str, Any], lang: str) -> dict[str, str]:
    return {
        o["value"]: definition.localise(o["label"], lang)
        for o in question.get("options", [])
    }


def answer_text(question: Mapping[str, Any], value: Any, lang: str) -> str:
    """One stored answer value (``answers.value``) in words."""
    kind = question.get("type")
    if value is None:
        return ""
    if kind == definition.SINGLE_CHOICE:
        return _option_labels(question, lang).get(value, str(value))
    if kind == definition.MULTIPLE_CHOICE:
        labels = _option_labels(question, lang)
        return ", ".join(labels.get(v, str(v)) for v in value)
    if kind == definition.YES_NO:
        return _("Yes") if value else _("No")
    if kind == definition.RATING_5:
        if isinstance(value, dict):
            items = {
                i["key"]: definition.localise(i["label"], lang)
                for i in question.get("items", [])
            }
            return ", ".join(
                f"{items.get(k, k)}: {v}/5" for k, v in value.items() if v is not None
            )
        return f"{value}/5"
    if kind == definition.SCALE_10:
        return f"{value}/10"
    if kind == definition.PHONE_TIME and isinstance(value, dict):
        return " · ".join(str(v) for v in (value.get("phone"), value.get("time")) if v)
    return str(value)


def answered_questions(response: SurveyResponse, lang: str) -> list[AnsweredQuestion]:
    """The response's answers in the survey's question order, each with the
    question's text in ``lang``."""
    questions = response.survey_version.questions if response.survey_version else []
    by_key: dict[str, Answer] = {a.question_key: a for a in response.answers}
    rows = []
    for question in questions:
        answer = by_key.pop(question["key"], None)
        if answer is None:
            continue
        text = answer_text(question, answer.value, lang)
        if answer.text and question.get("type") not in definition.TEXT_TYPES:
            # "Other, namely ...": the choice and the words that came with it.
            text = f"{text}: {answer.text}" if text else answer.text
        elif answer.text:
            text = answer.text
        if text:
            rows.append(
                AnsweredQuestion(
                    definition.localise(question["text"], lang),
                    text,
                    answer.sentiment,
                    answer,
                )
            )
    # Answers to a question the version no longer holds: shown under their key.
    for key, answer in by_key.items():
        text = answer.text or ("" if answer.value is None else str(answer.value))
        if text:
            rows.append(AnsweredQuestion(key, text, answer.sentiment, answer))
    return rows
