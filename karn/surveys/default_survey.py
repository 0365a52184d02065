"""The default exit survey of PRODUCT.md, in Dutch and English.

Plain data in the question format described in ``karn.surveys.definition``,
which also makes ``default_questions`` reachable.

New installs get the newest edition. Earlier editions are kept exactly as they
were published: a survey whose newest version still equals one of them was
never edited, so it may be offered the newest edition as an update
(``karn.surveys.editing.default_update``).
"""

from typing import Any

from karn.surveys.question_types import (
    LONG_TEXT,
    MULTIPLE_CHOICE,
    OTHER,
    PHONE_TIME,
    RATING_5,
    REASON_CODES,
    REASON_LABELS,
    SCALE_10,
    SHORT_TEXT,
    SINGLE_CHOICE,
    YES_NO,
)

# ---------------------------------------------------------- default survey


def _both(nl: str, en: str) -> dict[str, str]:
    return {"nl": nl, "en": en}


def _reason_options() -> list[dict[str, Any]]:
    return [
        {"value": code, "label": dict(REASON_LABELS[code])} for code in REASON_CODES
    ]


# The question whose answer says whether the respondent may be contacted again
# about their answers; follow-up mail reads it (karn.surveys.consent).
CONSENT_KEY = "contact_consent"
CONSENT_YES, CONSENT_NO = "yes", "no"


def consent_question() -> dict[str, Any]:
    """May we contact you again about your answers? (options yes and no)"""
    return {
        "key": CONSENT_KEY,
        "type": SINGLE_CHOICE,
        "text": _both(
            "Mogen we later nog contact met u opnemen over uw antwoorden?",
            "May we contact you again later about your answers?",
        ),
        "help": _both(
            "Bijvoorbeeld om te vertellen wat we met uw antwoorden hebben gedaan.",
            "For example, to tell you what we did with your answers.",
        ),
        "required": False,
        "options": [
            {"value": CONSENT_YES, "label": _both("Ja, dat mag", "Yes, you may")},
            {"value": CONSENT_NO, "label": _both("Nee, liever niet", "No, thank you")},
        ],
    }


def default_questions() -> list[dict[str, Any]]:
    """The default exit survey of PRODUCT.md, in Dutch and English (a new copy).

    The second edition: "other" opens a text box in both reason questions, and
    the survey ends with the consent question.
    """
    questions = first_edition()
    for question in questions:
        if OTHER in [o["value"] for o in question.get("options") or ()]:
            question["other_text"] = True
    questions.append(consent_question())
    return questions


def earlier_editions() -> list[list[dict[str, Any]]]:
    """Every earlier edition of the default survey, exactly as it was published."""
    return [first_edition()]


def first_edition() -> list[dict[str, Any]]:
    """The default survey as it was first published; never change it."""
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
