"""Survey definition checks: every error in a definition, in English and Dutch.

The format checked is described in ``karn.surveys.definition``, which also
makes ``Problem``, ``definition_problems`` and ``validate_definition`` reachable.
"""

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from karn.surveys.question_types import (
    CHOICE_TYPES,
    LANGUAGES,
    LONG_TEXT,
    MULTIPLE_CHOICE,
    NUMBER_RANGES,
    PHONE_TIME,
    QUESTION_TYPES,
    RATING_5,
    REASON_CODES,
    SCALE_10,
    SHORT_TEXT,
    SINGLE_CHOICE,
    YES_NO,
    _is_flag,
    _language,
    _same,
)

MAX_MAX_LENGTH = 10_000
MAX_KEY_LENGTH = 64  # answers.question_key is VARCHAR(64)

_KEY = re.compile(r"[a-z0-9]+(?:_[a-z0-9]+)*\Z")

_COMMON_FIELDS = frozenset({"key", "type", "text", "help", "required", "hidden"})
_TYPE_FIELDS = {
    SINGLE_CHOICE: frozenset(
        {"options", "reason_question", "randomise", "show_if", "other_text"}
    ),
    MULTIPLE_CHOICE: frozenset(
        {"options", "reason_question", "randomise", "show_if", "other_text"}
    ),
    RATING_5: frozenset({"items", "show_if"}),
    SCALE_10: frozenset({"show_if"}),
    SHORT_TEXT: frozenset({"max_length", "show_if"}),
    LONG_TEXT: frozenset({"max_length", "show_if"}),
    YES_NO: frozenset({"show_if"}),
    PHONE_TIME: frozenset({"show_if"}),
}
_FLAGS = ("required", "hidden", "reason_question", "randomise", "other_text")


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
