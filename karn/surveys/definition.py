"""Survey versions as plain data: the question format, the default survey, answers.

A survey version's ``questions`` (``SurveyVersion.questions``) is a JSON list of
question objects, shown in list order. Every question has:

``key``
    Stable identifier, lower-case letters and digits joined by single
    underscores (``main_reason``), at most 64 characters, unique in the version.
    Answers are stored under it (``answers.question_key``), so a reworded
    question keeps its key and a question that asks something new gets a new one.
``type``
    ``single_choice``, ``multiple_choice``, ``rating_5`` (1-5), ``scale_10``
    (0-10), ``short_text``, ``long_text``, ``yes_no`` or ``phone_time`` (a phone
    number and a preferred time to call).
``text``
    ``{"nl": ..., "en": ...}``, both required and non-empty.
``help`` (optional)
    ``{"nl": ..., "en": ...}``: a line under the question.
``required`` (optional, default false)
    The respondent must answer the question when it is shown. For a rating
    with items every item must be rated; for ``phone_time`` the phone number is
    required and the preferred time stays optional.
``hidden`` (optional, default false)
    Kept for history (old answers still refer to it) but never shown.
``show_if`` (optional)
    ``{"question": key, "in": [values]}``: shown only when an EARLIER, shown
    question's answer is one of the values; for a multiple-choice question when
    any selected value is. Values are option codes, ``true``/``false`` for
    ``yes_no`` and integers for ``rating_5`` (without items) and ``scale_10``.

Per type:

* choice questions: ``options``: ``[{"value": code, "label": {"nl", "en"}}]``
  with at least two options and unique codes (same pattern as keys);
  ``reason_question`` (the values are canonical reason codes: service, quality,
  brand, price, need, other); ``randomise`` (option order shuffled per
  respondent by ``option_order``, with ``other`` kept last); ``other_text``
  (choosing the option ``other`` opens a box for "other, namely": its text is
  stored as the text of the question's answer and read as a comment; without
  an ``other`` option it does nothing).
  A version has at most one shown single-choice reason question (the main
  reason) and at most one shown multiple-choice reason question (the other
  reasons), which must come after the main one.
* ``rating_5``: optional ``items``: ``[{"key", "label": {"nl", "en"}}]``, a
  matrix of 1-5 ratings (service, quality, value for money). Item keys follow
  the key pattern and are unique in the question.
* ``short_text`` / ``long_text``: optional ``max_length`` (1-10000; default
  200 and 2000 characters).

Any other field is an error, so a typo such as ``reqiured`` is caught.

Form field names (what the survey page posts):

* ``q_<key>`` for single values: the option code, ``1``-``5``, ``0``-``10``,
  ``yes``/``no`` or the text;
* ``q_<key>`` repeated once per selected option for multiple choice;
* ``q_<key>__<item>`` for each item of a rating matrix;
* ``q_<key>__phone`` and ``q_<key>__time`` for ``phone_time``.
* ``q_<key>__other`` for the "other, namely" text of a choice question.

Keys cannot contain a double underscore, so these names never collide.
``form`` arguments take a ``str`` or a ``list[str]`` per name (Werkzeug's
``request.form.to_dict(flat=False)`` gives lists).

Clean (typed) values, also what goes into ``answers.value``: single choice a
code ``str``; multiple choice a ``list[str]`` in option order; ``rating_5`` and
``scale_10`` an ``int``; a rating matrix ``{item: int}``; ``yes_no`` a
``bool``; text a ``str`` (verbatim apart from trimmed ends, ``\\n`` line
breaks and control characters removed; escaping is the template's job);
``phone_time`` ``{"phone": str, "time": str}``. Unanswered questions are absent.
The "other, namely" text of a choice question travels as ``<key>__other``
(``other_key``), present only while ``other`` is chosen.

Other reasons that repeat the main reason are dropped silently: the respondent
said the same thing twice, which is not worth an error message. The main reason
is recorded as primary only.

The parts live in their own modules and are all reachable from here:
``question_types`` (types, languages, reason codes and the shared helpers),
``definition_checks`` (``definition_problems``, ``validate_definition``),
``default_survey`` (``default_questions``) and ``answers`` (``validate_answers``
and the other functions that read a posted form).
"""

import copy
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from karn.surveys.answers import (
    DEFAULT_MAX_LENGTH,
    OTHER_TEXT_MAX_LENGTH,
    PHONE_DIGITS,
    TIME_MAX_LENGTH,
    answer_message,
    clean_text,
    form_values,
    partial_answers,
    valid_phone,
    validate_answers,
)
from karn.surveys.default_survey import default_questions
from karn.surveys.definition_checks import (
    MAX_KEY_LENGTH,
    MAX_MAX_LENGTH,
    Problem,
    definition_problems,
    validate_definition,
)
from karn.surveys.question_types import (
    CHOICE_TYPES,
    LANGUAGES,
    LONG_TEXT,
    MULTIPLE_CHOICE,
    NUMBER_RANGES,
    OTHER,
    PHONE_TIME,
    QUESTION_TYPES,
    RATING_5,
    REASON_CODES,
    REASON_LABELS,
    SCALE_10,
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
    field_names,
    has_other_text,
    localise,
    other_key,
)

__all__ = [
    "SINGLE_CHOICE",
    "MULTIPLE_CHOICE",
    "RATING_5",
    "SCALE_10",
    "SHORT_TEXT",
    "LONG_TEXT",
    "YES_NO",
    "PHONE_TIME",
    "QUESTION_TYPES",
    "CHOICE_TYPES",
    "TEXT_TYPES",
    "NUMBER_RANGES",
    "LANGUAGES",
    "REASON_CODES",
    "OTHER",
    "REASON_LABELS",
    "UI_LABELS",
    "DEFAULT_MAX_LENGTH",
    "MAX_MAX_LENGTH",
    "TIME_MAX_LENGTH",
    "PHONE_DIGITS",
    "MAX_KEY_LENGTH",
    "field_name",
    "field_names",
    "other_key",
    "has_other_text",
    "localise",
    "Problem",
    "definition_problems",
    "validate_definition",
    "default_questions",
    "option_order",
    "visible_questions",
    "answer_message",
    "clean_text",
    "valid_phone",
    "validate_answers",
    "partial_answers",
    "form_values",
    "primary_reason",
    "reasons_of",
    "free_texts",
    "OTHER_TEXT_MAX_LENGTH",
    "copy_for_edit",
    "with_changes",
]

# Labels the survey page needs besides the question texts.
UI_LABELS: dict[str, dict[str, str]] = {
    "yes": {"nl": "Ja", "en": "Yes"},
    "no": {"nl": "Nee", "en": "No"},
    "phone": {"nl": "Telefoonnummer", "en": "Phone number"},
    "time": {
        "nl": "Voorkeurstijd (bijv. doordeweeks na 18.00 uur)",
        "en": "Preferred time (e.g. weekdays after 6 pm)",
    },
}


# ------------------------------------------------------------ option order


def option_order(question: Mapping[str, Any], seed: str) -> list[str]:
    """The option values in the order one respondent sees them; "other" last."""
    values = _option_values(question)
    if not _is_flag(question, "randomise"):
        return values

    # Sorting by a hash of seed and value gives a uniform shuffle that is the
    # same on every Python version and for every option list order, and the
    # main and other reasons questions come out in the same order, which
    # spares the respondent from searching the second list.
    def rank(value: str) -> bytes:
        return hashlib.sha256(f"{seed}\x00{value}".encode()).digest()

    shuffled = sorted((v for v in values if v != OTHER), key=rank)
    return shuffled + [OTHER] if OTHER in values else shuffled


# -------------------------------------------------------------- visibility


def visible_questions(
    questions: Sequence[Mapping[str, Any]], answers: Mapping[str, Any]
) -> list[Mapping[str, Any]]:
    """The questions to show given the (clean) answers so far, in order."""
    shown: set[str] = set()
    result = []
    for question in questions:
        if _is_shown(question, shown, answers):
            shown.add(question["key"])
            result.append(question)
    return result


# ------------------------------------------------------- storage helpers


def primary_reason(
    questions: Sequence[Mapping[str, Any]], clean: Mapping[str, Any]
) -> str | None:
    """The main reason code answered (``responses.primary_reason``), if any."""
    primary, _secondary = _reason_questions(questions)
    if primary is None:
        return None
    value = clean.get(primary["key"])
    return value if value in REASON_CODES else None


def _shown_order(
    question: Mapping[str, Any], shown_orders: Mapping[str, Sequence[str]]
) -> list[str]:
    key = question["key"]
    if key not in shown_orders:
        if _is_flag(question, "randomise"):
            # Guessing would record wrong positions and skew the analysis.
            raise ValueError(f"the order shown for the randomised {key!r} is needed")
        return _option_values(question)
    order = list(shown_orders[key])
    options = set(_option_values(question))
    if len(set(order)) != len(order) or not set(order) <= options:
        raise ValueError(f"the order shown for {key!r} is not a list of its options")
    return order


def reasons_of(
    questions: Sequence[Mapping[str, Any]],
    clean: Mapping[str, Any],
    shown_orders: Mapping[str, Sequence[str]],
) -> list[dict[str, Any]]:
    """``response_reasons`` rows: one per main-reason option shown, in order.

    ``position`` counts from 1 in the order shown. A reason chosen under other
    reasons is marked ``is_secondary`` on its row. Only the main-reason options
    make rows: a reason offered only among the other reasons was not offered as
    a main reason, and counting it as shown would dilute its share.
    """
    primary, secondary = _reason_questions(questions)
    shown_keys = {q["key"] for q in visible_questions(questions, clean)}
    if primary is None or primary["key"] not in shown_keys:
        return []
    order = _shown_order(primary, shown_orders)
    main = clean.get(primary["key"])
    if main is not None and main not in order:
        raise ValueError(f"the main reason {main!r} was not among the options shown")
    others: set[str] = set()
    if secondary is not None and secondary["key"] in shown_keys:
        others = set(clean.get(secondary["key"], ()))
    return [
        {
            "reason": reason,
            "position": position,
            "is_primary": reason == main,
            "is_secondary": reason in others and reason != main,
        }
        for position, reason in enumerate(order, start=1)
    ]


def free_texts(
    questions: Sequence[Mapping[str, Any]], clean: Mapping[str, Any]
) -> dict[str, str]:
    """The free-text answers, to tag for sentiment and reason: short and long
    text, and the "other, namely" text of a choice question (under its key)."""
    texts = {}
    for question in questions:
        key = question["key"]
        if question["type"] in TEXT_TYPES:
            text = clean.get(key)
        elif has_other_text(question):
            text = clean.get(other_key(key))
        else:
            continue
        if isinstance(text, str) and text.strip():
            texts[key] = text
    return texts


# ------------------------------------------------------------------ editing

_EDITABLE_SETTINGS = frozenset({"required", "randomise", "max_length", "show_if"})


def copy_for_edit(questions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A deep copy of a version's questions that can be changed freely."""
    return [copy.deepcopy(dict(question)) for question in questions]


def _find(by_key: Mapping[str, dict[str, Any]], key: str) -> dict[str, Any]:
    if key not in by_key:
        raise ValueError(f"no question {key!r}")
    return by_key[key]


def _set_text(
    by_key: Mapping[str, dict[str, Any]], path: tuple[str, ...], text: str | None
) -> None:
    """Set one text: (key, "text"|"help", lang) or (key, "option"|"item", id, lang)."""
    if len(path) == 3 and path[1] in ("text", "help"):
        key, part, lang = path
        question = _find(by_key, key)
        texts = question.setdefault(part, {})
    elif len(path) == 4 and path[1] in ("option", "item"):
        key, part, ident, lang = path
        question = _find(by_key, key)
        field, id_name = ("options", "value") if part == "option" else ("items", "key")
        entry = next(
            (e for e in question.get(field) or () if e.get(id_name) == ident), None
        )
        if entry is None:
            raise ValueError(f"question {key!r} has no {part} {ident!r}")
        texts = entry.setdefault("label", {})
    else:
        raise ValueError(f"not a text path: {path!r}")
    lang = _language(lang)
    if text:
        texts[lang] = text
    else:
        texts.pop(lang, None)
        if part == "help" and not texts:
            del question["help"]


def with_changes(
    questions: Sequence[Mapping[str, Any]],
    *,
    add: Iterable[Mapping[str, Any]] = (),
    texts: Mapping[tuple[str, ...], str | None] | None = None,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    hide: Iterable[str] = (),
    show: Iterable[str] = (),
    order: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """A changed copy of a version's questions; the original stays untouched.

    Applied in this order: ``add`` appends new questions; ``texts`` sets
    texts by path, ``(key, "text" | "help", lang)`` or ``(key, "option" |
    "item", value_or_item_key, lang)`` (None or "" removes a text);
    ``settings`` changes ``required``, ``randomise``, ``max_length`` or
    ``show_if`` per key (None removes the field); ``hide`` and ``show`` set or
    clear ``hidden``; ``order`` lists every key, hidden ones too, in the new
    order. Keys, types and option values cannot change: answers are compared
    across versions by them, so a new meaning needs a new question. Run
    ``validate_definition`` on the result before publishing it.
    """
    result = copy_for_edit(questions)
    by_key = {question["key"]: question for question in result}
    for question in add:
        new = copy.deepcopy(dict(question))
        if new.get("key") in by_key:
            raise ValueError(f"question {new.get('key')!r} already exists")
        result.append(new)
        by_key[new.get("key")] = new
    for path, text in (texts or {}).items():
        _set_text(by_key, tuple(path), text)
    for key, changes in (settings or {}).items():
        question = _find(by_key, key)
        unknown = set(changes) - _EDITABLE_SETTINGS
        if unknown:
            raise ValueError(f"cannot change {sorted(unknown)} of {key!r}")
        for name, value in changes.items():
            if value is None:
                question.pop(name, None)
            else:
                question[name] = copy.deepcopy(value)
    for key in hide:
        _find(by_key, key)["hidden"] = True
    for key in show:
        _find(by_key, key).pop("hidden", None)
    if order is not None:
        if len(order) != len(result) or set(order) != set(by_key):
            raise ValueError("the new order must list every question key once")
        result = [by_key[key] for key in order]
    return result
