"""Survey answers: a posted form read into clean values and error messages.

Form field names and clean values are described in ``karn.surveys.definition``,
which also makes the public functions here reachable.
"""

import re
from collections.abc import Mapping, Sequence
from typing import Any

from karn.surveys.question_types import (
    LONG_TEXT,
    MULTIPLE_CHOICE,
    NUMBER_RANGES,
    OTHER,
    PHONE_TIME,
    RATING_5,
    SHORT_TEXT,
    SINGLE_CHOICE,
    TEXT_TYPES,
    YES_NO,
    _is_flag,
    _is_shown,
    _language,
    _option_values,
    _reason_questions,
    field_name,
    has_other_text,
    other_key,
)

DEFAULT_MAX_LENGTH = {SHORT_TEXT: 200, LONG_TEXT: 2000}
OTHER_TEXT_MAX_LENGTH = 500
TIME_MAX_LENGTH = 100
PHONE_DIGITS = (6, 15)

_PHONE = re.compile(r"\+?[0-9 ()\-]+\Z")
# C0 controls except tab and newline, DEL and C1 controls: PostgreSQL refuses
# NUL in text and the others only garble what staff read.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


# ---------------------------------------------------------------- answers

_MISSING = object()

# code: {language: message}; shown next to the field in the respondent's language.
_ANSWER_MESSAGES: dict[str, dict[str, str]] = {
    "required": {
        "en": "Please answer this question.",
        "nl": "Wilt u deze vraag nog beantwoorden?",
    },
    "rating_required": {
        "en": "Please choose a rating.",
        "nl": "Kies een waardering.",
    },
    "choice": {
        "en": "Please choose one of the options.",
        "nl": "Kies een van de antwoorden.",
    },
    "range": {
        "en": "Please choose a number from {low} to {high}.",
        "nl": "Kies een getal van {low} tot en met {high}.",
    },
    "yes_no": {
        "en": "Please choose yes or no.",
        "nl": "Kies ja of nee.",
    },
    "too_long": {
        "en": "Please use at most {limit} characters; this is {used}.",
        "nl": "U kunt maximaal {limit} tekens gebruiken; dit zijn er {used}.",
    },
    "phone_required": {
        "en": "Please enter the number we can call you on.",
        "nl": "Vul het nummer in waarop we u kunnen bellen.",
    },
    "phone": {
        "en": "Please enter a valid phone number: 6 to 15 digits; +, spaces, "
        "dashes and brackets are fine.",
        "nl": "Vul een geldig telefoonnummer in: 6 tot en met 15 cijfers; +, "
        "spaties, streepjes en haakjes mogen.",
    },
    "invalid": {
        "en": "We could not read this answer; please try again.",
        "nl": "Dit antwoord konden we niet verwerken; probeert u het nog eens.",
    },
}

_Error = tuple[str, str, dict[str, Any]]  # field name, code, parameters


def answer_message(code: str, lang: str, **params: Any) -> str:
    """An answer error message in the respondent's language."""
    return _ANSWER_MESSAGES[code][_language(lang)].format(**params)


def _values(form: Mapping[str, Any], name: str) -> list[str]:
    raw = form.get(name)
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else list(raw)
    return [item for item in items if isinstance(item, str) and item.strip()]


def _single(form: Mapping[str, Any], name: str) -> str | None:
    """The one value posted under ``name``, "" when none, None when several."""
    values = _values(form, name)
    if not values:
        return ""
    if len({v.strip() for v in values}) > 1:
        return None
    return values[0].strip()


def clean_text(raw: str) -> str:
    """Text as stored: browser line breaks unified, control characters removed."""
    # Browsers post CRLF; counting it as two characters would refuse texts
    # that fitted in the text area.
    text = raw.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROL.sub("", text).strip()


def _read_number(raw: str, kind: str) -> int | None:
    # isdecimal alone accepts other scripts' digits and int() accepts "1_0".
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 2:
        return None
    low, high = NUMBER_RANGES[kind]
    number = int(raw)
    return number if low <= number <= high else None


def _read_text(
    raw: str, name: str, limit: int, strict: bool
) -> tuple[str, list[_Error]]:
    text = clean_text(raw)
    if len(text) <= limit:
        return text, []
    if strict:
        return text, [(name, "too_long", {"limit": limit, "used": len(text)})]
    # While saving progress keep what fits rather than lose everything typed.
    return text[:limit].rstrip(), []


def valid_phone(raw: str) -> str | None:
    """The phone number with spacing normalised, or None when it is not valid."""
    phone = " ".join(raw.split())
    if not _PHONE.match(phone):
        return None
    digits = sum(ch.isdigit() for ch in phone)
    low, high = PHONE_DIGITS
    return phone if low <= digits <= high else None


def _read_question(
    question: Mapping[str, Any], form: Mapping[str, Any], strict: bool
) -> tuple[Any, list[_Error]]:
    """The clean value of one shown question (or _MISSING) and its errors."""
    key, kind = question["key"], question["type"]
    name = field_name(key)
    required = strict and _is_flag(question, "required")
    missing: list[_Error] = [(name, "required", {})] if required else []

    if kind == MULTIPLE_CHOICE:
        chosen = {v.strip() for v in _values(form, name)}
        options = _option_values(question)
        if strict and not chosen <= set(options):
            return _MISSING, [(name, "choice", {})]
        selected = [v for v in options if v in chosen]
        return (selected, []) if selected else (_MISSING, missing)

    if kind == PHONE_TIME:
        return _read_phone_time(question, form, strict, required)

    if kind == RATING_5 and question.get("items"):
        ratings: dict[str, int] = {}
        errors: list[_Error] = []
        for item in question["items"]:
            item_name = field_name(key, item["key"])
            raw = _single(form, item_name)
            if raw == "":
                if required:
                    errors.append((item_name, "rating_required", {}))
                continue
            number = None if raw is None else _read_number(raw, RATING_5)
            if number is None:
                if strict:
                    errors.append((item_name, "range", {"low": 1, "high": 5}))
                continue
            ratings[item["key"]] = number
        # Ratings given are kept even when others are missing, so the page
        # shown again with the errors still has them.
        return (ratings or _MISSING), errors

    raw = _single(form, name)
    if raw is None:
        return _MISSING, [(name, "invalid", {})] if strict else []
    if kind in TEXT_TYPES:
        limit = question.get("max_length", DEFAULT_MAX_LENGTH[kind])
        text, errors = _read_text(raw, name, limit, strict)
        if errors:
            return _MISSING, errors
        return (text, []) if text else (_MISSING, missing)
    if raw == "":
        return _MISSING, missing
    if kind == SINGLE_CHOICE:
        if raw in _option_values(question):
            return raw, []
        return _MISSING, [(name, "choice", {})] if strict else []
    if kind in NUMBER_RANGES:
        number = _read_number(raw, kind)
        if number is not None:
            return number, []
        low, high = NUMBER_RANGES[kind]
        return _MISSING, [(name, "range", {"low": low, "high": high})] if strict else []
    if kind == YES_NO:
        if raw in ("yes", "no"):
            return raw == "yes", []
        return _MISSING, [(name, "yes_no", {})] if strict else []
    raise ValueError(f"unknown question type {kind!r}")


def _read_phone_time(
    question: Mapping[str, Any], form: Mapping[str, Any], strict: bool, required: bool
) -> tuple[Any, list[_Error]]:
    key = question["key"]
    phone_name, time_name = field_name(key, "phone"), field_name(key, "time")
    raw_phone, raw_time = _single(form, phone_name), _single(form, time_name)
    errors: list[_Error] = []
    time = ""
    if raw_time is None:
        if strict:
            errors.append((time_name, "invalid", {}))
    else:
        time, time_errors = _read_text(raw_time, time_name, TIME_MAX_LENGTH, strict)
        errors += time_errors
    if raw_phone == "":
        if required:
            errors.append((phone_name, "phone_required", {}))
        # A preferred time without a number is no answer.
        return _MISSING, errors
    phone = None if raw_phone is None else valid_phone(raw_phone)
    if phone is None:
        if strict:
            errors.append((phone_name, "phone", {}))
        return _MISSING, errors
    if errors:
        return _MISSING, errors
    return {"phone": phone, "time": time}, []


def _read_answers(
    questions: Sequence[Mapping[str, Any]], form: Mapping[str, Any], strict: bool
) -> tuple[dict[str, Any], list[_Error]]:
    clean: dict[str, Any] = {}
    errors: list[_Error] = []
    shown: set[str] = set()
    primary, secondary = _reason_questions(questions)
    for question in questions:
        # Questions not shown (hidden, or their condition unmet by the answers
        # read so far) are skipped, so their posted values are dropped.
        if not _is_shown(question, shown, clean):
            continue
        shown.add(question["key"])
        value, question_errors = _read_question(question, form, strict)
        if (
            question is secondary
            and primary is not None
            and value is not _MISSING
            and primary["key"] in clean
        ):
            value = [v for v in value if v != clean[primary["key"]]] or _MISSING
            if value is _MISSING and strict and _is_flag(question, "required"):
                question_errors = [(field_name(question["key"]), "required", {})]
        if value is not _MISSING and has_other_text(question):
            chosen = value if isinstance(value, list) else [value]
            if OTHER in chosen:
                # Typed in the box under "other"; dropped when other is not chosen.
                name = field_name(question["key"], OTHER)
                raw = _single(form, name)
                if raw is None:
                    if strict:
                        question_errors = [*question_errors, (name, "invalid", {})]
                elif raw:
                    text, text_errors = _read_text(
                        raw, name, OTHER_TEXT_MAX_LENGTH, strict
                    )
                    question_errors = [*question_errors, *text_errors]
                    if text and not text_errors:
                        clean[other_key(question["key"])] = text
        errors += question_errors
        if value is not _MISSING:
            clean[question["key"]] = value
    return clean, errors


def validate_answers(
    questions: Sequence[Mapping[str, Any]], form: Mapping[str, Any], lang: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """Clean values and per-field error messages (in ``lang``) for a submission.

    Only a submission without errors may be stored as submitted; the clean
    values of a failed one still serve to fill in the page again.
    """
    lang = _language(lang)
    clean, errors = _read_answers(questions, form, strict=True)
    messages: dict[str, str] = {}
    for name, code, params in errors:
        # The first problem per field is the one worth showing.
        messages.setdefault(name, answer_message(code, lang, **params))
    return clean, messages


def partial_answers(
    questions: Sequence[Mapping[str, Any]], form: Mapping[str, Any]
) -> dict[str, Any]:
    """The valid answers so far, without required checks, to save progress."""
    clean, _errors = _read_answers(questions, form, strict=False)
    return clean


def form_values(
    questions: Sequence[Mapping[str, Any]], clean: Mapping[str, Any]
) -> dict[str, str | list[str]]:
    """Form field values that show clean answers again, e.g. on a resumed page."""
    values: dict[str, str | list[str]] = {}
    for question in questions:
        key, kind = question["key"], question["type"]
        if key not in clean:
            continue
        value = clean[key]
        if kind == MULTIPLE_CHOICE:
            values[field_name(key)] = list(value)
        elif kind == PHONE_TIME:
            values[field_name(key, "phone")] = value["phone"]
            values[field_name(key, "time")] = value.get("time", "")
        elif kind == RATING_5 and question.get("items"):
            for item, rating in value.items():
                values[field_name(key, item)] = str(rating)
        elif kind == YES_NO:
            values[field_name(key)] = "yes" if value else "no"
        else:
            values[field_name(key)] = str(value)
        if has_other_text(question) and other_key(key) in clean:
            values[field_name(key, OTHER)] = clean[other_key(key)]
    return values
