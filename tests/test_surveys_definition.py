"""Tests for karn.surveys.definition: question format, default survey, answers."""

import copy
import json
from collections import Counter

import pytest

from karn.enums import Language, Reason
from karn.surveys import definition as d

KEYS = [
    "main_reason",
    "other_reasons",
    "ratings",
    "keep_you",
    "switched_to",
    "come_back",
    "callback",
    "callback_phone",
    "contact_consent",
]

# A complete, valid submission of the default survey.
VALID = {
    "q_main_reason": "price",
    "q_other_reasons": ["service", "need"],
    "q_ratings__service": "2",
    "q_ratings__quality": "4",
    "q_ratings__value": "1",
    "q_keep_you": "Een goedkoper abonnement.",
    "q_come_back": "6",
    "q_callback": "no",
}


@pytest.fixture
def questions():
    return d.default_questions()


def form(**changes):
    """VALID with fields changed (name without the q_ prefix; None removes)."""
    result = dict(VALID)
    for name, value in changes.items():
        if value is None:
            result.pop(f"q_{name}", None)
        else:
            result[f"q_{name}"] = value
    return result


def texts_of(question):
    """Every {nl, en} text of a question, with a label saying where it is."""
    found = [("text", question["text"])]
    if "help" in question:
        found.append(("help", question["help"]))
    for option in question.get("options", ()):
        found.append((f"option {option['value']}", option["label"]))
    for item in question.get("items", ()):
        found.append((f"item {item['key']}", item["label"]))
    return found


# ------------------------------------------------------------ default survey


def test_default_survey_validates_in_both_languages(questions) -> None:
    assert d.definition_problems(questions) == []
    assert d.validate_definition(questions, "en") == []
    assert d.validate_definition(questions, Language.NL) == []


def test_default_survey_is_json_data(questions) -> None:
    assert json.loads(json.dumps(questions)) == questions


def test_default_survey_has_the_product_questions_in_order(questions) -> None:
    assert [q["key"] for q in questions] == KEYS
    assert [q["type"] for q in questions] == [
        "single_choice",
        "multiple_choice",
        "rating_5",
        "long_text",
        "short_text",
        "scale_10",
        "yes_no",
        "phone_time",
        "single_choice",
    ]
    assert not any(q.get("hidden") for q in questions)
    # Eight questions; the phone number belongs to the seventh.
    independent = [q for q in questions if "show_if" not in q]
    assert len(independent) == 7
    assert questions[4]["show_if"] == {"question": "main_reason", "in": ["brand"]}
    assert questions[7]["show_if"] == {"question": "callback", "in": [True]}
    assert [item["key"] for item in questions[2]["items"]] == [
        "service",
        "quality",
        "value",
    ]
    required = {q["key"] for q in questions if q.get("required")}
    assert required == {
        "main_reason",
        "ratings",
        "come_back",
        "callback",
        "callback_phone",
    }


def test_default_reason_options_use_the_canonical_codes_and_labels(questions) -> None:
    main, others = questions[0], questions[1]
    for question in (main, others):
        assert question["reason_question"] is True
        assert question["randomise"] is True
        assert [o["value"] for o in question["options"]] == [r.value for r in Reason]
    labels = {o["value"]: o["label"] for o in main["options"]}
    assert labels == {
        "service": {"nl": "Service", "en": "Service"},
        "quality": {"nl": "Kwaliteit", "en": "Quality"},
        "brand": {
            "nl": "Voorkeur voor een ander merk",
            "en": "Preferred another brand",
        },
        "price": {"nl": "Prijs", "en": "Price"},
        "need": {"nl": "Veranderde behoefte", "en": "My needs changed"},
        "other": {"nl": "Anders", "en": "Other"},
    }
    assert main["type"] == "single_choice" and main["required"] is True
    assert others["type"] == "multiple_choice" and others["required"] is False


def test_default_survey_has_both_languages_everywhere(questions) -> None:
    for question in questions:
        for where, texts in texts_of(question):
            assert set(texts) == {"nl", "en"}, (question["key"], where)
            assert all(t.strip() for t in texts.values()), (question["key"], where)
        # The question itself is really translated, not copied.
        assert question["text"]["nl"] != question["text"]["en"]


def test_default_survey_texts(questions) -> None:
    by_key = {q["key"]: q for q in questions}
    assert by_key["keep_you"]["text"]["en"] == "What could we have done to keep you?"
    assert by_key["switched_to"]["text"]["en"] == (
        "Which company or product did you switch to?"
    )
    help_nl = by_key["callback_phone"]["help"]["nl"]
    help_en = by_key["callback_phone"]["help"]["en"]
    assert "alleen" in help_nl and "verwijderen" in help_nl
    assert "only" in help_en and "delete" in help_en
    # Respondents are addressed with "u", never "je" or "jij".
    for question in questions:
        for _where, texts in texts_of(question):
            words = texts["nl"].lower().replace("?", " ").replace(",", " ").split()
            assert not {"je", "jij", "jou", "jouw"} & set(words), texts["nl"]


def test_default_questions_are_a_fresh_copy_each_time() -> None:
    first = d.default_questions()
    first[0]["options"][0]["label"]["nl"] = "Veranderd"
    first[0]["text"]["en"] = "Changed"
    second = d.default_questions()
    assert second[0]["options"][0]["label"]["nl"] == "Service"
    assert second[0]["text"]["en"] != "Changed"


# --------------------------------------------------------------- visibility


def test_switched_to_is_shown_only_for_brand(questions) -> None:
    def keys(answers):
        return [q["key"] for q in d.visible_questions(questions, answers)]

    assert "switched_to" in keys({"main_reason": "brand"})
    for reason in ("service", "quality", "price", "need", "other"):
        assert "switched_to" not in keys({"main_reason": reason})
    assert "switched_to" not in keys({})
    # Choosing brand among the other reasons does not count.
    assert "switched_to" not in keys(
        {"main_reason": "price", "other_reasons": ["brand"]}
    )


def test_phone_is_shown_only_after_yes(questions) -> None:
    def keys(answers):
        return [q["key"] for q in d.visible_questions(questions, answers)]

    assert keys({"callback": True})[-2:] == ["callback_phone", "contact_consent"]
    assert "callback_phone" not in keys({"callback": False})
    assert "callback_phone" not in keys({})


def test_show_if_on_multiple_choice_matches_any_selection() -> None:
    questions = d.default_questions()[:2] + [
        {
            "key": "price_detail",
            "type": "short_text",
            "text": {"nl": "Wat vond u te duur?", "en": "What was too expensive?"},
            "show_if": {"question": "other_reasons", "in": ["price"]},
        }
    ]
    assert d.validate_definition(questions) == []
    shown = d.visible_questions(questions, {"other_reasons": ["need", "price"]})
    assert shown[-1]["key"] == "price_detail"
    shown = d.visible_questions(questions, {"other_reasons": ["need"]})
    assert shown[-1]["key"] == "other_reasons"


def test_yes_no_true_does_not_match_a_rating_of_one() -> None:
    questions = [
        {"key": "score", "type": "rating_5", "text": {"nl": "Cijfer", "en": "Score"}},
        {
            "key": "why",
            "type": "long_text",
            "text": {"nl": "Waarom?", "en": "Why?"},
            "show_if": {"question": "score", "in": [1, 2]},
        },
    ]
    assert d.validate_definition(questions) == []
    assert len(d.visible_questions(questions, {"score": 1})) == 2
    assert len(d.visible_questions(questions, {"score": True})) == 1
    assert len(d.visible_questions(questions, {"score": 3})) == 1


def test_hidden_questions_are_never_shown_and_their_answers_dropped(questions) -> None:
    questions[3]["hidden"] = True
    keys = [q["key"] for q in d.visible_questions(questions, {})]
    assert "keep_you" not in keys
    clean, errors = d.validate_answers(questions, VALID, "en")
    assert errors == {}
    assert "keep_you" not in clean


def test_a_condition_on_an_unshown_question_keeps_the_chain_closed() -> None:
    questions = d.default_questions()
    questions.insert(
        5,
        {
            "key": "competitor_better",
            "type": "yes_no",
            "text": {"nl": "Is die beter?", "en": "Is it better?"},
            "show_if": {"question": "main_reason", "in": ["brand"]},
        },
    )
    questions.insert(
        6,
        {
            "key": "better_how",
            "type": "short_text",
            "text": {"nl": "Waarin?", "en": "In what way?"},
            "show_if": {"question": "competitor_better", "in": [True]},
        },
    )
    assert d.validate_definition(questions) == []
    # A stale yes from when brand was chosen must not open the follow-up.
    stale = {"main_reason": "price", "competitor_better": True}
    keys = [q["key"] for q in d.visible_questions(questions, stale)]
    assert "competitor_better" not in keys and "better_how" not in keys
    keys = [
        q["key"]
        for q in d.visible_questions(questions, {**stale, "main_reason": "brand"})
    ]
    assert "better_how" in keys


# ------------------------------------------------------------- option order


def test_option_order_is_deterministic_per_seed(questions) -> None:
    main = questions[0]
    assert d.option_order(main, "17:secret") == d.option_order(main, "17:secret")
    assert sorted(d.option_order(main, "17:secret")) == sorted(r.value for r in Reason)


def test_option_order_differs_across_seeds_and_keeps_other_last(questions) -> None:
    main = questions[0]
    orders = [tuple(d.option_order(main, f"{i}:s3cret")) for i in range(300)]
    assert all(order[-1] == "other" for order in orders)
    assert len(set(orders)) > 60  # 120 possible orders of the five codes
    # Every code leads for a fair share of respondents (60 expected each).
    firsts = Counter(order[0] for order in orders)
    assert set(firsts) == {"service", "quality", "brand", "price", "need"}
    assert min(firsts.values()) > 30


def test_option_order_does_not_depend_on_the_stored_option_order(questions) -> None:
    main = questions[0]
    reordered = copy.deepcopy(main)
    reordered["options"].reverse()
    assert d.option_order(main, "x") == d.option_order(reordered, "x")


def test_option_order_is_the_definition_order_when_not_randomised(questions) -> None:
    main = questions[0]
    main["randomise"] = False
    assert d.option_order(main, "any") == [r.value for r in Reason]
    assert d.option_order(questions[6], "any") == []  # yes/no has no options


def test_shown_order_is_recorded_in_the_reason_rows(questions) -> None:
    order = d.option_order(questions[0], "42:abc")
    clean, errors = d.validate_answers(questions, form(main_reason=order[2]), "en")
    assert errors == {}
    rows = d.reasons_of(questions, clean, {"main_reason": order})
    assert [row["reason"] for row in rows] == order
    assert [row["position"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row["is_primary"] for row in rows] == [False, False, True] + [False] * 3


# ------------------------------------------------------------------ answers


def test_a_valid_submission_gives_typed_values(questions) -> None:
    clean, errors = d.validate_answers(questions, VALID, "en")
    assert errors == {}
    assert clean == {
        "main_reason": "price",
        "other_reasons": ["service", "need"],
        "ratings": {"service": 2, "quality": 4, "value": 1},
        "keep_you": "Een goedkoper abonnement.",
        "come_back": 6,
        "callback": False,
    }


def test_callback_with_phone_and_time(questions) -> None:
    clean, errors = d.validate_answers(
        questions,
        form(
            callback="yes",
            callback_phone__phone=" +31 (0)6-1234 5678 ",
            callback_phone__time="Doordeweeks na 18.00 uur",
        ),
        "nl",
    )
    assert errors == {}
    assert clean["callback"] is True
    assert clean["callback_phone"] == {
        "phone": "+31 (0)6-1234 5678",
        "time": "Doordeweeks na 18.00 uur",
    }


def test_phone_is_required_only_after_yes(questions) -> None:
    _clean, errors = d.validate_answers(questions, form(callback="yes"), "nl")
    assert errors == {
        "q_callback_phone__phone": "Vul het nummer in waarop we u kunnen bellen."
    }
    _clean, errors = d.validate_answers(questions, form(callback="yes"), "en")
    assert errors == {
        "q_callback_phone__phone": "Please enter the number we can call you on."
    }
    # After "no" a posted number is dropped, not stored.
    clean, errors = d.validate_answers(
        questions, form(callback="no", callback_phone__phone="0612345678"), "en"
    )
    assert errors == {} and "callback_phone" not in clean


@pytest.mark.parametrize(
    "phone",
    ["0612345678", "+31 6 12345678", "+31 (0)20-123 4567", "020 123456", "123456"],
)
def test_valid_phone_numbers(phone) -> None:
    assert d.valid_phone(phone) == phone


@pytest.mark.parametrize(
    "phone",
    [
        "12345",  # five digits
        "+1234567890123456",  # sixteen digits
        "06-1234abcd",
        "06.12.34.56.78",
        "31+612345678",  # a plus only in front
        "++31612345678",
        "0612345678<script>",
        "٠٦١٢٣٤٥٦٧٨",  # Arabic-Indic digits
        "(-) ( )",
    ],
)
def test_invalid_phone_numbers_are_refused(questions, phone) -> None:
    assert d.valid_phone(phone) is None
    _clean, errors = d.validate_answers(
        questions, form(callback="yes", callback_phone__phone=phone), "en"
    )
    assert errors["q_callback_phone__phone"].startswith(
        "Please enter a valid phone number"
    )


def test_switched_to_is_kept_only_when_brand_is_the_main_reason(questions) -> None:
    clean, errors = d.validate_answers(
        questions, form(main_reason="brand", switched_to="Concurrent BV"), "en"
    )
    assert errors == {} and clean["switched_to"] == "Concurrent BV"
    clean, errors = d.validate_answers(
        questions, form(main_reason="price", switched_to="Concurrent BV"), "en"
    )
    assert errors == {} and "switched_to" not in clean


def test_required_messages_in_dutch_and_english(questions) -> None:
    _clean, errors = d.validate_answers(questions, {}, "nl")
    assert errors == {
        "q_main_reason": "Wilt u deze vraag nog beantwoorden?",
        "q_ratings__service": "Kies een waardering.",
        "q_ratings__quality": "Kies een waardering.",
        "q_ratings__value": "Kies een waardering.",
        "q_come_back": "Wilt u deze vraag nog beantwoorden?",
        "q_callback": "Wilt u deze vraag nog beantwoorden?",
    }
    _clean, errors = d.validate_answers(questions, {}, "en")
    assert errors["q_main_reason"] == "Please answer this question."
    assert errors["q_ratings__value"] == "Please choose a rating."


def test_blank_values_count_as_missing(questions) -> None:
    _clean, errors = d.validate_answers(
        questions, form(main_reason="  ", come_back=[""]), "en"
    )
    assert set(errors) == {"q_main_reason", "q_come_back"}


@pytest.mark.parametrize(
    ("field", "value", "en", "nl"),
    [
        ("main_reason", "cheap", "Please choose one of the options.", None),
        ("main_reason", "Price", "Please choose one of the options.", None),
        ("other_reasons", ["need", "cheap"], "Please choose one of the options.", None),
        ("ratings__service", "0", "Please choose a number from 1 to 5.", None),
        ("ratings__service", "6", "Please choose a number from 1 to 5.", None),
        ("ratings__quality", "3.5", "Please choose a number from 1 to 5.", None),
        ("ratings__value", "٣", "Please choose a number from 1 to 5.", None),
        ("come_back", "11", "Please choose a number from 0 to 10.", None),
        ("come_back", "-1", "Please choose a number from 0 to 10.", None),
        ("come_back", "1_0", "Please choose a number from 0 to 10.", None),
        ("come_back", "010", "Please choose a number from 0 to 10.", None),
        ("callback", "maybe", "Please choose yes or no.", "Kies ja of nee."),
        ("callback", "true", "Please choose yes or no.", "Kies ja of nee."),
    ],
)
def test_out_of_range_and_unknown_values_are_refused(
    questions, field, value, en, nl
) -> None:
    clean, errors = d.validate_answers(questions, form(**{field: value}), "en")
    name = f"q_{field}"
    assert errors == {name: en}
    assert field.split("__")[0] not in clean or "__" in field
    if nl:
        _clean, errors = d.validate_answers(questions, form(**{field: value}), "nl")
        assert errors == {name: nl}


def test_range_messages_in_dutch(questions) -> None:
    _clean, errors = d.validate_answers(
        questions, form(come_back="12", ratings__value="9", main_reason="x"), "nl"
    )
    assert errors == {
        "q_main_reason": "Kies een van de antwoorden.",
        "q_ratings__value": "Kies een getal van 1 tot en met 5.",
        "q_come_back": "Kies een getal van 0 tot en met 10.",
    }


def test_two_values_for_a_single_choice_are_refused(questions) -> None:
    _clean, errors = d.validate_answers(
        questions, form(main_reason=["price", "service"]), "en"
    )
    assert errors == {
        "q_main_reason": "We could not read this answer; please try again."
    }
    # The same value twice (a double click) is just that value.
    clean, errors = d.validate_answers(
        questions, form(main_reason=["price", "price"]), "en"
    )
    assert errors == {} and clean["main_reason"] == "price"


def test_multiple_choice_is_cleaned_into_option_order(questions) -> None:
    clean, errors = d.validate_answers(
        questions, form(other_reasons=["need", "quality", "need"]), "en"
    )
    assert errors == {}
    assert clean["other_reasons"] == ["quality", "need"]
    clean, errors = d.validate_answers(questions, form(other_reasons="need"), "en")
    assert clean["other_reasons"] == ["need"]


def test_other_reasons_never_repeat_the_main_reason(questions) -> None:
    clean, errors = d.validate_answers(
        questions, form(main_reason="price", other_reasons=["price", "need"]), "en"
    )
    assert errors == {}
    assert clean["other_reasons"] == ["need"]
    clean, errors = d.validate_answers(
        questions, form(main_reason="price", other_reasons=["price"]), "en"
    )
    assert errors == {}
    assert "other_reasons" not in clean


def test_markup_is_kept_verbatim_as_text(questions) -> None:
    evil = '<script>alert("x")</script> & <img src=x onerror=alert(1)> \'; DROP'
    clean, errors = d.validate_answers(
        questions, form(keep_you=evil, main_reason="brand", switched_to=evil), "en"
    )
    assert errors == {}
    assert clean["keep_you"] == evil
    assert clean["switched_to"] == evil


def test_text_is_length_limited(questions) -> None:
    too_long = "<b>" * 667  # 2001 characters
    clean, errors = d.validate_answers(questions, form(keep_you=too_long), "en")
    assert errors == {"q_keep_you": "Please use at most 2000 characters; this is 2001."}
    assert "keep_you" not in clean
    _clean, errors = d.validate_answers(questions, form(keep_you=too_long), "nl")
    assert errors == {
        "q_keep_you": "U kunt maximaal 2000 tekens gebruiken; dit zijn er 2001."
    }
    clean, errors = d.validate_answers(questions, form(keep_you="x" * 2000), "en")
    assert errors == {} and len(clean["keep_you"]) == 2000
    _clean, errors = d.validate_answers(
        questions, form(main_reason="brand", switched_to="y" * 201), "en"
    )
    assert set(errors) == {"q_switched_to"}


def test_text_line_breaks_and_control_characters(questions) -> None:
    # A browser posts CRLF: 1000 lines of "a" fit in 2000 characters.
    posted = "\r\n".join(["a"] * 1000)
    clean, errors = d.validate_answers(questions, form(keep_you=posted), "en")
    assert errors == {}
    assert clean["keep_you"] == "\n".join(["a"] * 1000)
    clean, errors = d.validate_answers(
        questions, form(keep_you="  te\x00 duur\x1b\tnu \u00e9\u00e9n  "), "en"
    )
    assert clean["keep_you"] == "te duur\tnu \u00e9\u00e9n"


def test_unknown_fields_are_ignored(questions) -> None:
    clean, errors = d.validate_answers(
        questions, form(is_admin="1", csrf_token="abc"), "en"
    )
    assert errors == {}
    assert set(clean) == {
        "main_reason",
        "other_reasons",
        "ratings",
        "keep_you",
        "come_back",
        "callback",
    }


def test_unknown_language_is_refused(questions) -> None:
    with pytest.raises(ValueError, match="unknown language"):
        d.validate_answers(questions, VALID, "de")


def test_form_values_fill_the_form_again(questions) -> None:
    posted = form(
        main_reason="brand",
        switched_to="Ander merk",
        callback="yes",
        callback_phone__phone="0612345678",
        callback_phone__time="'s ochtends",
    )
    clean, errors = d.validate_answers(questions, posted, "nl")
    assert errors == {}
    values = d.form_values(questions, clean)
    assert values["q_callback"] == "yes"
    assert values["q_ratings__service"] == "2"
    assert d.validate_answers(questions, values, "nl") == (clean, {})


def test_field_names(questions) -> None:
    assert [d.field_names(q) for q in questions] == [
        ["q_main_reason", "q_main_reason__other"],
        ["q_other_reasons", "q_other_reasons__other"],
        ["q_ratings__service", "q_ratings__quality", "q_ratings__value"],
        ["q_keep_you"],
        ["q_switched_to"],
        ["q_come_back"],
        ["q_callback"],
        ["q_callback_phone__phone", "q_callback_phone__time"],
        ["q_contact_consent"],
    ]


# ------------------------------------------------------------------ partial


def test_partial_answers_are_lenient(questions) -> None:
    posted = {
        "q_main_reason": "brand",
        "q_other_reasons": ["need", "nonsense", "brand"],
        "q_ratings__service": "4",
        "q_ratings__quality": "9",
        "q_keep_you": "x" * 2500,
        "q_come_back": "eleven",
        "q_callback": "yes",
        "q_callback_phone__phone": "12",
    }
    assert d.partial_answers(questions, posted) == {
        "main_reason": "brand",
        "other_reasons": ["need"],
        "ratings": {"service": 4},
        "keep_you": "x" * 2000,
        "callback": True,
    }


def test_partial_answers_drop_answers_of_unshown_questions(questions) -> None:
    posted = {"q_main_reason": "price", "q_switched_to": "Ander merk"}
    assert d.partial_answers(questions, posted) == {"main_reason": "price"}
    assert d.partial_answers(questions, {}) == {}


def test_a_partial_save_resumes_into_the_same_answers(questions) -> None:
    posted = {"q_main_reason": "need", "q_ratings__value": "5", "q_come_back": "0"}
    saved = d.partial_answers(questions, posted)
    assert saved == {"main_reason": "need", "ratings": {"value": 5}, "come_back": 0}
    assert d.partial_answers(questions, d.form_values(questions, saved)) == saved


# ------------------------------------------------------------ stored rows


def test_reasons_of_hand_example(questions) -> None:
    shown = ["need", "price", "service", "brand", "quality", "other"]
    clean = {"main_reason": "price", "other_reasons": ["service", "other"]}
    assert d.reasons_of(questions, clean, {"main_reason": shown}) == [
        {"reason": "need", "position": 1, "is_primary": False, "is_secondary": False},
        {"reason": "price", "position": 2, "is_primary": True, "is_secondary": False},
        {"reason": "service", "position": 3, "is_primary": False, "is_secondary": True},
        {"reason": "brand", "position": 4, "is_primary": False, "is_secondary": False},
        {
            "reason": "quality",
            "position": 5,
            "is_primary": False,
            "is_secondary": False,
        },
        {"reason": "other", "position": 6, "is_primary": False, "is_secondary": True},
    ]
    assert d.primary_reason(questions, clean) == "price"
    # Stored values that repeat the main reason still mark it primary only.
    repeated = {"main_reason": "price", "other_reasons": ["price"]}
    rows = d.reasons_of(questions, repeated, {"main_reason": shown})
    assert [(r["is_primary"], r["is_secondary"]) for r in rows][1] == (True, False)
    assert not any(r["is_secondary"] for r in rows)


def test_reasons_of_rows_only_for_main_reason_options_shown() -> None:
    questions = d.default_questions()
    # A version whose main question offers four codes and whose other-reasons
    # question offers all six: need and other were never a main-reason option.
    questions[0]["options"] = [
        o for o in questions[0]["options"] if o["value"] not in ("need", "other")
    ]
    assert d.validate_definition(questions) == []
    clean = {"main_reason": "brand", "other_reasons": ["need", "quality"]}
    shown = d.option_order(questions[0], "seed")
    rows = d.reasons_of(questions, clean, {"main_reason": shown})
    assert sorted(row["reason"] for row in rows) == [
        "brand",
        "price",
        "quality",
        "service",
    ]
    by_reason = {row["reason"]: row for row in rows}
    assert by_reason["quality"]["is_secondary"] is True
    assert by_reason["brand"]["is_primary"] is True
    assert sum(row["is_secondary"] for row in rows) == 1


def test_reasons_of_needs_the_order_shown_for_a_randomised_question(questions) -> None:
    clean = {"main_reason": "price"}
    with pytest.raises(ValueError, match="order shown"):
        d.reasons_of(questions, clean, {})
    with pytest.raises(ValueError, match="not a list of its options"):
        d.reasons_of(questions, clean, {"main_reason": ["price", "price"]})
    with pytest.raises(ValueError, match="not a list of its options"):
        d.reasons_of(questions, clean, {"main_reason": ["price", "cheap"]})
    with pytest.raises(ValueError, match="not among the options shown"):
        d.reasons_of(questions, clean, {"main_reason": ["need", "service"]})
    questions[0]["randomise"] = False
    rows = d.reasons_of(questions, clean, {})
    assert [row["position"] for row in rows if row["is_primary"]] == [4]


def test_reasons_of_unanswered_main_question_still_records_what_was_shown(
    questions,
) -> None:
    shown = d.option_order(questions[0], "seed")
    rows = d.reasons_of(questions, {}, {"main_reason": shown})
    assert len(rows) == 6
    assert not any(row["is_primary"] or row["is_secondary"] for row in rows)
    assert d.primary_reason(questions, {}) is None


def test_free_texts(questions) -> None:
    clean = {
        "main_reason": "brand",
        "keep_you": "Betere service.",
        "switched_to": "Concurrent",
        "callback_phone": {"phone": "0612345678", "time": "morgen"},
        "come_back": 3,
    }
    assert d.free_texts(questions, clean) == {
        "keep_you": "Betere service.",
        "switched_to": "Concurrent",
    }
    assert d.free_texts(questions, {}) == {}


# ---------------------------------------------------------- definition errors


def codes(questions):
    return [problem.code for problem in d.definition_problems(questions)]


def make(**fields):
    question = {"key": "q1", "type": "short_text", "text": {"nl": "Vraag", "en": "Q"}}
    question.update(fields)
    return question


def test_duplicate_keys(questions) -> None:
    questions[3]["key"] = "ratings"
    problems = d.definition_problems(questions)
    assert [p.code for p in problems] == ["key_duplicate"]
    assert problems[0].en == (
        "Question 4 (ratings): the key “ratings” is already used by an earlier "
        "question."
    )
    assert problems[0].nl == (
        "Vraag 4 (ratings): de sleutel “ratings” wordt al door een eerdere vraag "
        "gebruikt."
    )
    assert d.validate_definition(questions, "nl") == [problems[0].nl]


@pytest.mark.parametrize(
    "key",
    ["", "Main", "main reason", "main__reason", "_main", "main-reason", 7, "x" * 65],
)
def test_invalid_keys(key) -> None:
    assert codes([make(key=key)]) == ["key_invalid"]


def test_unknown_type_and_unknown_fields() -> None:
    assert codes([make(type="essay")]) == ["type_unknown"]
    assert codes([make(reqiured=True)]) == ["field_unknown"]
    # Fields of one type do not belong to another.
    assert codes([make(options=[])]) == ["field_unknown"]
    assert codes([make(type="yes_no", max_length=10)]) == ["field_unknown"]
    problems = d.definition_problems([make(randomise=True)])
    assert "randomise" in problems[0].en and "short_text" in problems[0].nl


def test_missing_translations(questions) -> None:
    del questions[0]["text"]["nl"]
    questions[1]["help"]["en"] = "  "
    questions[2]["items"][1]["label"] = {"nl": "Kwaliteit"}
    questions[0]["options"][3]["label"]["en"] = ""
    problems = d.definition_problems(questions)
    assert [p.code for p in problems] == [
        "text_missing",
        "option_label_missing",
        "help_missing",
        "item_label_missing",
    ]
    assert (
        problems[0].en
        == "Question 1 (main_reason): the question text in Dutch is missing."
    )
    assert problems[0].nl == (
        "Vraag 1 (main_reason): de vraagtekst in het Nederlands ontbreekt."
    )
    assert "“price”" in problems[1].en and "English" in problems[1].en
    assert "Engels" in problems[1].nl


def test_show_if_must_refer_to_an_earlier_known_question(questions) -> None:
    questions[4]["show_if"] = {"question": "come_back", "in": [10]}
    questions[5]["show_if"] = {"question": "nonexistent", "in": [1]}
    questions[6]["show_if"] = {"question": "callback", "in": [True]}
    assert codes(questions) == ["show_if_later", "show_if_unknown", "show_if_later"]


@pytest.mark.parametrize(
    ("show_if", "code"),
    [
        ({"question": "callback", "in": []}, "show_if_invalid"),
        ({"question": "callback"}, "show_if_invalid"),
        ({"question": "callback", "in": True}, "show_if_invalid"),
        ("callback", "show_if_invalid"),
        ({"question": "callback", "in": ["yes"]}, "show_if_value"),
        ({"question": "callback", "in": [1]}, "show_if_value"),
        ({"question": "main_reason", "in": ["cheap"]}, "show_if_value"),
        ({"question": "come_back", "in": [11]}, "show_if_value"),
        ({"question": "come_back", "in": [True]}, "show_if_value"),
        ({"question": "keep_you", "in": ["x"]}, "show_if_target_type"),
        ({"question": "ratings", "in": [1]}, "show_if_target_type"),
    ],
)
def test_show_if_values_must_be_possible_answers(questions, show_if, code) -> None:
    questions[7]["show_if"] = show_if
    assert codes(questions) == [code]


def test_show_if_on_a_hidden_question(questions) -> None:
    questions[6]["hidden"] = True
    assert codes(questions) == ["show_if_hidden"]
    # Hiding the dependent question too is the fix.
    questions[7]["hidden"] = True
    assert codes(questions) == []


def test_reason_options_must_be_canonical_codes(questions) -> None:
    questions[1]["options"].append(
        {"value": "too_complex", "label": {"nl": "Te ingewikkeld", "en": "Too complex"}}
    )
    problems = d.definition_problems(questions)
    assert [p.code for p in problems] == ["reason_code"]
    assert "too_complex" in problems[0].en
    # Without reason_question the same option is fine.
    questions[1]["reason_question"] = False
    assert codes(questions) == []


def test_choice_questions_need_options(questions) -> None:
    questions[0]["options"] = []
    questions[1]["options"] = questions[1]["options"][:1]
    del questions[2]["items"][0]["key"]
    assert codes(questions) == [
        "options_missing",
        "options_missing",
        "item_key_invalid",
        "show_if_value",  # switched_to waits for "brand", no longer an option
    ]
    del questions[0]["options"]
    assert codes(questions)[0] == "options_missing"


def test_option_problems(questions) -> None:
    questions[0]["options"][1]["value"] = "service"
    questions[1]["options"][2] = {"label": {"nl": "x", "en": "x"}}
    questions[1]["options"][3]["value"] = "Price"
    assert codes(questions) == [
        "option_duplicate",
        "option_invalid",
        "option_value_invalid",
    ]


def test_flags_max_length_and_items(questions) -> None:
    questions[0]["required"] = "yes"
    questions[3]["max_length"] = 0
    questions[4]["max_length"] = 20_000
    questions[2]["items"] = []
    assert codes(questions) == [
        "flag_invalid",
        "items_invalid",
        "max_length_invalid",
        "max_length_invalid",
    ]


def test_reason_question_rules(questions) -> None:
    second_main = copy.deepcopy(questions[0])
    second_main["key"] = "main_reason_again"
    questions.insert(1, second_main)
    assert codes(questions) == ["reason_question_duplicate"]
    # A hidden one is history and allowed.
    questions[1]["hidden"] = True
    assert codes(questions) == []
    moved = d.with_changes(
        d.default_questions(), order=["other_reasons", "main_reason", *KEYS[2:]]
    )
    assert codes(moved) == ["reason_order"]


def test_definition_structure_errors() -> None:
    assert codes({"key": "x"}) == ["not_a_list"]
    assert codes([]) == ["no_visible_questions"]
    assert codes([make(hidden=True)]) == ["no_visible_questions"]
    assert codes(["text"]) == ["not_an_object", "no_visible_questions"]


def test_every_problem_has_both_languages() -> None:
    broken = [
        make(key="A", type="essay"),
        make(required=1),
        make(
            key="c",
            type="single_choice",
            options=[{"value": "x"}],
            reason_question=True,
        ),
        make(key="d", show_if={"question": "e", "in": [1]}),
    ]
    problems = d.definition_problems(broken)
    assert len(problems) >= 5
    for problem in problems:
        assert problem.en and problem.nl and problem.en != problem.nl
        assert "{" not in problem.en and "{" not in problem.nl
        assert problem.message("nl") == problem.nl
        assert problem.message(Language.EN) == problem.en


# ------------------------------------------------------------------- editing


def test_with_changes_leaves_the_original_untouched(questions) -> None:
    original = copy.deepcopy(questions)
    changed = d.with_changes(
        questions,
        texts={
            ("keep_you", "text", "nl"): "Wat kunnen we beter doen?",
            ("main_reason", "option", "need", "en"): "I no longer needed it",
            ("ratings", "item", "value", "nl"): "Waar voor uw geld",
            ("come_back", "help", "en"): None,
        },
        hide=["switched_to"],
        settings={"come_back": {"required": False}},
    )
    assert questions == original
    by_key = {q["key"]: q for q in changed}
    assert by_key["keep_you"]["text"] == {
        "nl": "Wat kunnen we beter doen?",
        "en": "What could we have done to keep you?",
    }
    assert by_key["main_reason"]["options"][4]["label"]["en"] == "I no longer needed it"
    assert by_key["ratings"]["items"][2]["label"]["nl"] == "Waar voor uw geld"
    assert by_key["come_back"]["help"] == {"nl": questions[5]["help"]["nl"]}
    assert by_key["come_back"]["required"] is False
    assert by_key["switched_to"]["hidden"] is True
    assert d.validate_definition(changed) == [
        "Question 6 (come_back): the help text in English is missing."
    ]
    # Changing the copy does not reach back either.
    changed[0]["options"][0]["label"]["nl"] = "Dienstverlening"
    assert questions == original


def test_with_changes_adds_and_reorders(questions) -> None:
    new = {
        "key": "contract",
        "type": "single_choice",
        "text": {"nl": "Welk abonnement had u?", "en": "Which plan did you have?"},
        "options": [
            {"value": "basic", "label": {"nl": "Basis", "en": "Basic"}},
            {"value": "plus", "label": {"nl": "Plus", "en": "Plus"}},
        ],
    }
    changed = d.with_changes(questions, add=[new], order=["contract", *KEYS], show=[])
    assert [q["key"] for q in changed] == ["contract", *KEYS]
    assert d.validate_definition(changed) == []
    new["options"][0]["value"] = "changed"
    assert changed[0]["options"][0]["value"] == "basic"
    assert len(questions) == 9


def test_with_changes_hide_and_show_again(questions) -> None:
    hidden = d.with_changes(questions, hide=["keep_you"])
    assert "keep_you" not in [q["key"] for q in d.visible_questions(hidden, {})]
    shown = d.with_changes(hidden, show=["keep_you"])
    assert shown == questions


def test_with_changes_refuses_bad_edits(questions) -> None:
    with pytest.raises(ValueError, match="no question"):
        d.with_changes(questions, hide=["nope"])
    with pytest.raises(ValueError, match="already exists"):
        d.with_changes(questions, add=[questions[0]])
    with pytest.raises(ValueError, match="every question key"):
        d.with_changes(questions, order=KEYS[:-1])
    with pytest.raises(ValueError, match="every question key"):
        d.with_changes(questions, order=[*KEYS[:-1], "main_reason"])
    with pytest.raises(ValueError, match="cannot change"):
        d.with_changes(questions, settings={"main_reason": {"type": "yes_no"}})
    with pytest.raises(ValueError, match="no option"):
        d.with_changes(questions, texts={("main_reason", "option", "x", "nl"): "X"})
    with pytest.raises(ValueError, match="not a text path"):
        d.with_changes(questions, texts={("main_reason", "label", "nl"): "X"})
    with pytest.raises(ValueError, match="unknown language"):
        d.with_changes(questions, texts={("main_reason", "text", "de"): "X"})


def test_copy_for_edit_is_deep(questions) -> None:
    edited = d.copy_for_edit(questions)
    assert edited == questions
    edited[0]["options"][0]["label"]["nl"] = "x"
    edited[7]["show_if"]["in"].append(False)
    assert questions[0]["options"][0]["label"]["nl"] == "Service"
    assert questions[7]["show_if"]["in"] == [True]


def test_localise_falls_back_to_the_other_language() -> None:
    assert d.localise({"nl": "Ja", "en": "Yes"}, "nl") == "Ja"
    assert d.localise({"nl": "Ja", "en": "Yes"}, Language.EN) == "Yes"
    assert d.localise({"nl": "Ja"}, "en") == "Ja"
    assert d.localise({}, "en") == ""
