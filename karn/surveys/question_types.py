"""Question types, languages and reason codes: a survey definition's vocabulary.

The building blocks of the question format described in
``karn.surveys.definition``: the question types, the languages, the canonical
reason codes and labels, and the small helpers that read a question (form field
names, texts, flags, visibility, the reason questions). The definition checks,
the answers and the default survey build on this module; it imports none of them.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from karn.enums import REASON_NAMES, Language, Reason

SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
RATING_5 = "rating_5"
SCALE_10 = "scale_10"
SHORT_TEXT = "short_text"
LONG_TEXT = "long_text"
YES_NO = "yes_no"
PHONE_TIME = "phone_time"
QUESTION_TYPES = (
    SINGLE_CHOICE,
    MULTIPLE_CHOICE,
    RATING_5,
    SCALE_10,
    SHORT_TEXT,
    LONG_TEXT,
    YES_NO,
    PHONE_TIME,
)
CHOICE_TYPES = frozenset({SINGLE_CHOICE, MULTIPLE_CHOICE})
TEXT_TYPES = frozenset({SHORT_TEXT, LONG_TEXT})
NUMBER_RANGES = {RATING_5: (1, 5), SCALE_10: (0, 10)}

LANGUAGES = tuple(language.value for language in Language)
REASON_CODES = tuple(reason.value for reason in Reason)
OTHER = Reason.OTHER.value

# The canonical labels of PRODUCT.md; charts and the editor use the same words.
REASON_LABELS: dict[str, dict[str, str]] = {
    reason.value: dict(names) for reason, names in REASON_NAMES.items()
}


# ------------------------------------------------------------------ helpers


def field_name(key: str, part: str | None = None) -> str:
    """The form field name of a question, or of one item or part of it."""
    return f"q_{key}" if part is None else f"q_{key}__{part}"


def other_key(key: str) -> str:
    """Where a choice question's "other, namely" text travels in clean answers.

    Question keys never contain a double underscore, so this never names a
    question; it is stored as the text of the question's own answer row.
    """
    return f"{key}__{OTHER}"


def has_other_text(question: Mapping[str, Any]) -> bool:
    """Whether choosing "other" in this question opens a text box."""
    return question.get("other_text") is True and OTHER in _option_values(question)


def field_names(question: Mapping[str, Any]) -> list[str]:
    """All form field names a question posts, in page order."""
    key = question["key"]
    if question["type"] == PHONE_TIME:
        return [field_name(key, "phone"), field_name(key, "time")]
    if question["type"] == RATING_5 and question.get("items"):
        return [field_name(key, item["key"]) for item in question["items"]]
    if has_other_text(question):
        return [field_name(key), field_name(key, OTHER)]
    return [field_name(key)]


def localise(texts: Mapping[str, str], lang: str) -> str:
    """The text in ``lang``, or in the other language when it is missing."""
    lang = _language(lang)
    if texts.get(lang):
        return texts[lang]
    return next((texts[other] for other in LANGUAGES if texts.get(other)), "")


def _language(lang: str) -> str:
    # Language is a StrEnum, so Language.NL and "nl" both pass.
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; expected one of {LANGUAGES}")
    return str(lang)


def _option_values(question: Mapping[str, Any]) -> list[str]:
    return [option["value"] for option in question.get("options") or ()]


def _is_flag(question: Mapping[str, Any], name: str) -> bool:
    return question.get(name) is True


def _same(answer: Any, value: Any) -> bool:
    # True == 1 in Python; a yes/no answer must never match a rating of 1.
    return type(answer) is type(value) and answer == value


def _matches(answer: Any, values: Sequence[Any]) -> bool:
    if isinstance(answer, list):
        return any(_same(a, v) for a in answer for v in values)
    return any(_same(answer, v) for v in values)


def _is_shown(
    question: Mapping[str, Any], shown: set[str], answers: Mapping[str, Any]
) -> bool:
    if _is_flag(question, "hidden"):
        return False
    condition = question.get("show_if")
    if not condition:
        return True
    target = condition["question"]
    # A question whose own condition failed was not seen: its stale answer,
    # e.g. from a resumed page, must not open the questions that follow it.
    return (
        target in shown
        and target in answers
        and _matches(answers[target], condition["in"])
    )


def _reason_questions(
    questions: Sequence[Mapping[str, Any]],
) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The unhidden main (single) and other (multiple) reason questions."""
    primary = secondary = None
    for question in questions:
        if _is_flag(question, "hidden") or not _is_flag(question, "reason_question"):
            continue
        if question["type"] == SINGLE_CHOICE and primary is None:
            primary = question
        elif question["type"] == MULTIPLE_CHOICE and secondary is None:
            secondary = question
    return primary, secondary
