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
  respondent by ``option_order``, with ``other`` kept last).
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

Keys cannot contain a double underscore, so these names never collide.
``form`` arguments take a ``str`` or a ``list[str]`` per name (Werkzeug's
``request.form.to_dict(flat=False)`` gives lists).

Clean (typed) values, also what goes into ``answers.value``: single choice a
code ``str``; multiple choice a ``list[str]`` in option order; ``rating_5`` and
``scale_10`` an ``int``; a rating matrix ``{item: int}``; ``yes_no`` a
``bool``; text a ``str`` (verbatim apart from trimmed ends, ``\\n`` line
breaks and control characters removed; escaping is the template's job);
``phone_time`` ``{"phone": str, "time": str}``. Unanswered questions are absent.

Other reasons that repeat the main reason are dropped silently: the respondent
said the same thing twice, which is not worth an error message. The main reason
is recorded as primary only.
"""

import copy
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from karn.enums import Language, Reason

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
    "service": {"nl": "Service", "en": "Service"},
    "quality": {"nl": "Kwaliteit", "en": "Quality"},
    "brand": {"nl": "Voorkeur voor een ander merk", "en": "Preferred another brand"},
    "price": {"nl": "Prijs", "en": "Price"},
    "need": {"nl": "Veranderde behoefte", "en": "My needs changed"},
    "other": {"nl": "Anders", "en": "Other"},
}

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

DEFAULT_MAX_LENGTH = {SHORT_TEXT: 200, LONG_TEXT: 2000}
MAX_MAX_LENGTH = 10_000
TIME_MAX_LENGTH = 100
PHONE_DIGITS = (6, 15)
MAX_KEY_LENGTH = 64  # answers.question_key is VARCHAR(64)

_KEY = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*\Z")
_PHONE = re.compile(r"\+?[0-9 ()\-]+\Z")
# C0 controls except tab and newline, DEL and C1 controls: PostgreSQL refuses
# NUL in text and the others only garble what staff read.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_COMMON_FIELDS = frozenset({"key", "type", "text", "help", "required", "hidden"})
_TYPE_FIELDS = {
    SINGLE_CHOICE: frozenset({"options", "reason_question", "randomise", "show_if"}),
    MULTIPLE_CHOICE: frozenset({"options", "reason_question", "randomise", "show_if"}),
    RATING_5: frozenset({"items", "show_if"}),
    SCALE_10: frozenset({"show_if"}),
    SHORT_TEXT: frozenset({"max_length", "show_if"}),
    LONG_TEXT: frozenset({"max_length", "show_if"}),
    YES_NO: frozenset({"show_if"}),
    PHONE_TIME: frozenset({"show_if"}),
}
_FLAGS = ("required", "hidden", "reason_question", "randomise")


# ------------------------------------------------------------------ helpers


def field_name(key: str, part: str | None = None) -> str:
    """The form field name of a question, or of one item or part of it."""
    return f"q_{key}" if part is None else f"q_{key}__{part}"


def field_names(question: Mapping[str, Any]) -> list[str]:
    """All form field names a question posts, in page order."""
    key = question["key"]
    if question["type"] == PHONE_TIME:
        return [field_name(key, "phone"), field_name(key, "time")]
    if question["type"] == RATING_5 and question.get("items"):
        return [field_name(key, item["key"]) for item in question["items"]]
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


# ------------------------------------------------------- definition checks


@dataclass(frozen=True)
class Problem:
    """One error in a survey definition, in English and Dutch."""

    code: str
    en: str
    nl: str
    key: str | None = None

    def message(self, lang: str) -> str:
        """The message in ``lang`` ("nl" or "en")."""
        return self.nl if _language(lang) == "nl" else self.en


_LANGUAGE_NAMES = {
    "en": {"nl": "Dutch", "en": "English"},
    "nl": {"nl": "Nederlands", "en": "Engels"},
}

# code: (English, Dutch); {where} names the question, {lang} a language.
_DEFINITION_MESSAGES: dict[str, tuple[str, str]] = {
    "not_a_list": (
        "The questions must be a list.",
        "De vragen moeten een lijst zijn.",
    ),
    "no_visible_questions": (
        "The survey has no visible questions.",
        "De vragenlijst heeft geen zichtbare vragen.",
    ),
    "not_an_object": (
        "{where} is not a question.",
        "{where} is geen vraag.",
    ),
    "key_invalid": (
        "{where}: the key must consist of lower-case letters and digits, joined by "
        "single underscores, and be at most 64 characters long.",
        "{where}: de sleutel mag alleen kleine letters en cijfers bevatten, "
        "verbonden door enkele liggende streepjes, en is maximaal 64 tekens lang.",
    ),
    "key_duplicate": (
        "{where}: the key {key} is already used by an earlier question.",
        "{where}: de sleutel {key} wordt al door een eerdere vraag gebruikt.",
    ),
    "type_unknown": (
        "{where}: unknown question type {type}.",
        "{where}: onbekend vraagtype {type}.",
    ),
    "field_unknown": (
        "{where}: the field {field} does not belong in a {type} question.",
        "{where}: het veld {field} hoort niet bij een vraag van het type {type}.",
    ),
    "flag_invalid": (
        "{where}: {field} must be true or false.",
        "{where}: {field} moet true of false zijn.",
    ),
    "text_missing": (
        "{where}: the question text in {lang} is missing.",
        "{where}: de vraagtekst in het {lang} ontbreekt.",
    ),
    "help_missing": (
        "{where}: the help text in {lang} is missing.",
        "{where}: de toelichting in het {lang} ontbreekt.",
    ),
    "options_missing": (
        "{where}: a choice question needs at least two options.",
        "{where}: een keuzevraag heeft minstens twee antwoordmogelijkheden nodig.",
    ),
    "option_invalid": (
        "{where}: option {number} needs a value and a label.",
        "{where}: antwoordmogelijkheid {number} heeft een waarde en een label nodig.",
    ),
    "option_value_invalid": (
        "{where}: the option value {value} must consist of lower-case letters and "
        "digits, joined by single underscores.",
        "{where}: de waarde {value} mag alleen kleine letters en cijfers bevatten, "
        "verbonden door enkele liggende streepjes.",
    ),
    "option_duplicate": (
        "{where}: the option value {value} occurs more than once.",
        "{where}: de waarde {value} komt meer dan eens voor.",
    ),
    "option_label_missing": (
        "{where}: the label of option {value} in {lang} is missing.",
        "{where}: het label van antwoordmogelijkheid {value} in het {lang} ontbreekt.",
    ),
    "reason_code": (
        "{where}: the option value {value} is not a reason code "
        "(service, quality, brand, price, need, other).",
        "{where}: de waarde {value} is geen redencode "
        "(service, quality, brand, price, need, other).",
    ),
    "reason_question_duplicate": (
        "{where}: a survey has only one visible main-reason question (single "
        "choice) and one visible other-reasons question (multiple choice).",
        "{where}: een vragenlijst heeft maar één zichtbare vraag naar de "
        "belangrijkste reden (één keuze) en één naar andere redenen (meerkeuze).",
    ),
    "reason_order": (
        "{where}: the other-reasons question must come after the main-reason question.",
        "{where}: de vraag naar andere redenen moet na de vraag naar de "
        "belangrijkste reden komen.",
    ),
    "items_invalid": (
        "{where}: items must be a non-empty list of {{key, label}} objects.",
        "{where}: items moet een niet-lege lijst van {{key, label}}-objecten zijn.",
    ),
    "item_key_invalid": (
        "{where}: item {number} needs a key of lower-case letters and digits, "
        "joined by single underscores.",
        "{where}: onderdeel {number} heeft een sleutel nodig van kleine letters en "
        "cijfers, verbonden door enkele liggende streepjes.",
    ),
    "item_duplicate": (
        "{where}: the item key {value} occurs more than once.",
        "{where}: de onderdeelsleutel {value} komt meer dan eens voor.",
    ),
    "item_label_missing": (
        "{where}: the label of item {value} in {lang} is missing.",
        "{where}: het label van onderdeel {value} in het {lang} ontbreekt.",
    ),
    "max_length_invalid": (
        "{where}: max_length must be a whole number from 1 to 10000.",
        "{where}: max_length moet een geheel getal van 1 tot en met 10000 zijn.",
    ),
    "show_if_invalid": (
        '{where}: show_if must look like {{"question": key, "in": [values]}} '
        "with at least one value.",
        '{where}: show_if moet de vorm {{"question": sleutel, "in": [waarden]}} '
        "hebben, met minstens één waarde.",
    ),
    "show_if_unknown": (
        "{where}: show_if refers to {target}, which does not exist.",
        "{where}: show_if verwijst naar {target}, maar die vraag bestaat niet.",
    ),
    "show_if_later": (
        "{where}: show_if must refer to an earlier question, not to {target}.",
        "{where}: show_if moet naar een eerdere vraag verwijzen, niet naar {target}.",
    ),
    "show_if_target_type": (
        "{where}: show_if cannot depend on {target}, a {type} question.",
        "{where}: show_if kan niet afhangen van {target}, een vraag van het type "
        "{type}.",
    ),
    "show_if_value": (
        "{where}: show_if value {value} is not a possible answer to {target}.",
        "{where}: de show_if-waarde {value} is geen mogelijk antwoord op {target}.",
    ),
    "show_if_hidden": (
        "{where}: depends on {target}, which is hidden, so it would never be shown.",
        "{where}: hangt af van {target}, die verborgen is, en zou dus nooit "
        "getoond worden.",
    ),
}


def _where(number: int, key: Any, lang: str) -> str:
    word = "Vraag" if lang == "nl" else "Question"
    if isinstance(key, str) and key:
        return f"{word} {number} ({key})"
    return f"{word} {number}"


class _Collector:
    """Gathers problems with both translations filled in."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(
        self,
        code: str,
        question_no: int | None = None,
        question_key: Any = None,
        /,
        **params: Any,
    ) -> None:
        en, nl = _DEFINITION_MESSAGES[code]
        texts = {}
        for lang, template in (("en", en), ("nl", nl)):
            values = {name: _quoted(value) for name, value in params.items()}
            if "lang" in params:
                values["lang"] = _LANGUAGE_NAMES[lang][params["lang"]]
            if question_no is not None:
                values["where"] = _where(question_no, question_key, lang)
            texts[lang] = template.format(**values)
        key = question_key if isinstance(question_key, str) else None
        self.problems.append(Problem(code, texts["en"], texts["nl"], key))


def _quoted(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f"“{value}”"
    return str(value)


def _has_texts(texts: Any, lang: str) -> bool:
    return (
        isinstance(texts, Mapping)
        and isinstance(texts.get(lang), str)
        and bool(texts[lang].strip())
    )


def definition_problems(questions: Any) -> list[Problem]:
    """Every error in a survey definition, each with English and Dutch text."""
    found = _Collector()
    if not isinstance(questions, list | tuple):
        found.add("not_a_list")
        return found.problems
    positions: dict[str, int] = {}
    for index, question in enumerate(questions):
        if isinstance(question, Mapping):
            key = question.get("key")
            if isinstance(key, str) and key not in positions:
                positions[key] = index
    seen: set[str] = set()
    for index, question in enumerate(questions):
        number = index + 1
        if not isinstance(question, Mapping):
            found.add("not_an_object", number)
            continue
        key = question.get("key")
        if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.match(key):
            found.add("key_invalid", number, key)
        elif key in seen:
            found.add("key_duplicate", number, key, key=key)
        else:
            seen.add(key)
        _check_question(found, number, key, question, questions, positions)
    if not any(isinstance(q, Mapping) and not _is_flag(q, "hidden") for q in questions):
        found.add("no_visible_questions")
    _check_reason_questions(found, questions)
    return found.problems


def _check_question(
    found: _Collector,
    number: int,
    key: Any,
    question: Mapping[str, Any],
    questions: Sequence[Any],
    positions: Mapping[str, int],
) -> None:
    kind = question.get("type")
    if kind not in QUESTION_TYPES:
        found.add("type_unknown", number, key, type=str(kind))
        return
    for name in sorted(set(question) - _COMMON_FIELDS - _TYPE_FIELDS[kind]):
        found.add("field_unknown", number, key, field=str(name), type=kind)
    for flag in _FLAGS:
        if flag in question and not isinstance(question[flag], bool):
            found.add("flag_invalid", number, key, field=flag)
    for lang in LANGUAGES:
        if not _has_texts(question.get("text"), lang):
            found.add("text_missing", number, key, lang=lang)
        if "help" in question and not _has_texts(question["help"], lang):
            found.add("help_missing", number, key, lang=lang)
    if kind in CHOICE_TYPES:
        _check_options(found, number, key, question)
    if kind == RATING_5 and "items" in question:
        _check_items(found, number, key, question["items"])
    if "max_length" in question:
        limit = question["max_length"]
        if type(limit) is not int or not 1 <= limit <= MAX_MAX_LENGTH:
            found.add("max_length_invalid", number, key)
    if "show_if" in question:
        _check_show_if(found, number, key, question, questions, positions)


def _check_options(
    found: _Collector, number: int, key: Any, question: Mapping[str, Any]
) -> None:
    options = question.get("options")
    if not isinstance(options, list) or len(options) < 2:
        found.add("options_missing", number, key)
        if not isinstance(options, list):
            return
    values: set[str] = set()
    for position, option in enumerate(options, start=1):
        if not isinstance(option, Mapping) or "value" not in option:
            found.add("option_invalid", number, key, number=position)
            continue
        value = option["value"]
        if not isinstance(value, str) or not _KEY.match(value):
            found.add("option_value_invalid", number, key, value=str(value))
            continue
        if value in values:
            found.add("option_duplicate", number, key, value=value)
        values.add(value)
        if _is_flag(question, "reason_question") and value not in REASON_CODES:
            found.add("reason_code", number, key, value=value)
        for lang in LANGUAGES:
            if not _has_texts(option.get("label"), lang):
                found.add("option_label_missing", number, key, value=value, lang=lang)


def _check_items(found: _Collector, number: int, key: Any, items: Any) -> None:
    if not isinstance(items, list) or not items:
        found.add("items_invalid", number, key)
        return
    keys: set[str] = set()
    for position, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            found.add("items_invalid", number, key)
            continue
        item_key = item.get("key")
        if (
            not isinstance(item_key, str)
            or len(item_key) > MAX_KEY_LENGTH
            or not _KEY.match(item_key)
        ):
            found.add("item_key_invalid", number, key, number=position)
            continue
        if item_key in keys:
            found.add("item_duplicate", number, key, value=item_key)
        keys.add(item_key)
        for lang in LANGUAGES:
            if not _has_texts(item.get("label"), lang):
                found.add("item_label_missing", number, key, value=item_key, lang=lang)


def _check_show_if(
    found: _Collector,
    number: int,
    key: Any,
    question: Mapping[str, Any],
    questions: Sequence[Any],
    positions: Mapping[str, int],
) -> None:
    condition = question["show_if"]
    if (
        not isinstance(condition, Mapping)
        or set(condition) != {"question", "in"}
        or not isinstance(condition["question"], str)
        or not isinstance(condition["in"], list)
        or not condition["in"]
    ):
        found.add("show_if_invalid", number, key)
        return
    target_key = condition["question"]
    if target_key not in positions:
        found.add("show_if_unknown", number, key, target=target_key)
        return
    if positions[target_key] >= number - 1:
        found.add("show_if_later", number, key, target=target_key)
        return
    target = questions[positions[target_key]]
    kind = target.get("type")
    if kind in CHOICE_TYPES:
        options = target.get("options")
        allowed: list[Any] = [
            option.get("value")
            for option in (options if isinstance(options, list) else ())
            if isinstance(option, Mapping)
        ]
    elif kind == YES_NO:
        allowed = [True, False]
    elif kind in NUMBER_RANGES and not (kind == RATING_5 and "items" in target):
        low, high = NUMBER_RANGES[kind]
        allowed = list(range(low, high + 1))
    else:
        found.add("show_if_target_type", number, key, target=target_key, type=str(kind))
        return
    for value in condition["in"]:
        if not any(_same(value, a) for a in allowed):
            found.add("show_if_value", number, key, target=target_key, value=value)
    if _is_flag(target, "hidden") and not _is_flag(question, "hidden"):
        found.add("show_if_hidden", number, key, target=target_key)


def _check_reason_questions(found: _Collector, questions: Sequence[Any]) -> None:
    first: dict[str, int] = {}
    for index, question in enumerate(questions):
        if (
            not isinstance(question, Mapping)
            or _is_flag(question, "hidden")
            or not _is_flag(question, "reason_question")
            or question.get("type") not in CHOICE_TYPES
        ):
            continue
        kind = question["type"]
        if kind in first:
            found.add("reason_question_duplicate", index + 1, question.get("key"))
            continue
        first[kind] = index
        if kind == MULTIPLE_CHOICE and first.get(SINGLE_CHOICE) is None:
            # The main reason must be known when the other reasons are cleaned.
            later_main = any(
                isinstance(q, Mapping)
                and not _is_flag(q, "hidden")
                and _is_flag(q, "reason_question")
                and q.get("type") == SINGLE_CHOICE
                for q in questions[index + 1 :]
            )
            if later_main:
                found.add("reason_order", index + 1, question.get("key"))


def validate_definition(questions: Any, lang: str = "en") -> list[str]:
    """Errors in a survey definition as messages in ``lang``; empty when valid."""
    lang = _language(lang)
    return [problem.message(lang) for problem in definition_problems(questions)]


# ---------------------------------------------------------- default survey


def _both(nl: str, en: str) -> dict[str, str]:
    return {"nl": nl, "en": en}


def _reason_options() -> list[dict[str, Any]]:
    return [
        {"value": code, "label": dict(REASON_LABELS[code])} for code in REASON_CODES
    ]


def default_questions() -> list[dict[str, Any]]:
    """The default exit survey of PRODUCT.md, in Dutch and English (a new copy)."""
    return [
        {
            "key": "main_reason",
            "type": SINGLE_CHOICE,
            "text": _both(
                "Wat was voor u de belangrijkste reden om te vertrekken?",
                "What was the main reason you decided to leave?",
            ),
            "help": _both(
                "Kies de reden die voor u het zwaarst woog.",
                "Choose the reason that weighed most for you.",
            ),
            "required": True,
            "reason_question": True,
            "randomise": True,
            "options": _reason_options(),
        },
        {
            "key": "other_reasons",
            "type": MULTIPLE_CHOICE,
            "text": _both(
                "Speelden er nog andere redenen mee?",
                "Did any other reasons play a part?",
            ),
            "help": _both(
                "Meerdere antwoorden mogelijk.",
                "Choose as many as apply.",
            ),
            "required": False,
            "reason_question": True,
            "randomise": True,
            "options": _reason_options(),
        },
        {
            "key": "ratings",
            "type": RATING_5,
            "text": _both(
                "Hoe beoordeelt u ons op de volgende punten?",
                "How would you rate us on the following?",
            ),
            "help": _both(
                "1 = zeer slecht, 5 = zeer goed",
                "1 = very poor, 5 = very good",
            ),
            "required": True,
            "items": [
                {"key": "service", "label": _both("Service", "Service")},
                {"key": "quality", "label": _both("Kwaliteit", "Quality")},
                {
                    "key": "value",
                    "label": _both("Prijs-kwaliteitverhouding", "Value for money"),
                },
            ],
        },
        {
            "key": "keep_you",
            "type": LONG_TEXT,
            "text": _both(
                "Wat hadden wij kunnen doen om u als klant te houden?",
                "What could we have done to keep you?",
            ),
            "required": False,
            "max_length": 2000,
        },
        {
            "key": "switched_to",
            "type": SHORT_TEXT,
            "text": _both(
                "Naar welk bedrijf of product bent u overgestapt?",
                "Which company or product did you switch to?",
            ),
            "required": False,
            "max_length": 200,
            "show_if": {"question": "main_reason", "in": ["brand"]},
        },
        {
            "key": "come_back",
            "type": SCALE_10,
            "text": _both(
                "Hoe waarschijnlijk is het dat u ooit weer klant bij ons wordt?",
                "How likely are you to come back to us?",
            ),
            "help": _both(
                "0 = zeer onwaarschijnlijk, 10 = zeer waarschijnlijk",
                "0 = not at all likely, 10 = extremely likely",
            ),
            "required": True,
        },
        {
            "key": "callback",
            "type": YES_NO,
            "text": _both(
                "Mogen we u bellen om uw ervaring verder te bespreken?",
                "May we call you to talk about your experience?",
            ),
            "help": _both(
                "Een kort gesprek, op een moment dat het u uitkomt.",
                "A short conversation, at a time that suits you.",
            ),
            "required": True,
        },
        {
            "key": "callback_phone",
            "type": PHONE_TIME,
            "text": _both(
                "Op welk nummer en wanneer kunnen we u het best bereiken?",
                "On what number and when can we best reach you?",
            ),
            "help": _both(
                "We gebruiken dit nummer alleen om u over uw ervaring te bellen, en "
                "verwijderen het samen met uw overige gegevens.",
                "We use this number only to call you about your experience, and "
                "delete it together with the rest of your data.",
            ),
            "required": True,
            "show_if": {"question": "callback", "in": [True]},
        },
    ]


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
    return values


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
    """The free-text answers (short and long text), to tag for sentiment and reason."""
    return {
        question["key"]: clean[question["key"]]
        for question in questions
        if question["type"] in TEXT_TYPES
        and isinstance(clean.get(question["key"]), str)
        and clean[question["key"]].strip()
    }


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
