"""Offline Dutch/English language detection."""

import pytest

from karn.text.language import detect_language


@pytest.mark.parametrize(
    "text",
    [
        "De klantenservice reageerde niet op mijn vragen.",
        "Ik ben overgestapt naar een andere aanbieder omdat het te duur werd.",
        "klantenservice traag",
        "wachttijd",
        "Belde klant, wil niet meer verlengen i.v.m. verhuizing.",
    ],
)
def test_dutch(text):
    assert detect_language(text) == "nl"


@pytest.mark.parametrize(
    "text",
    [
        "The support team never called me back.",
        "I switched to a competitor because it was too expensive.",
        "too expensive",
        "Called customer, they no longer need the service.",
        "price",
    ],
)
def test_english(text):
    assert detect_language(text) == "en"


def test_no_evidence_falls_back_to_default():
    assert detect_language("") == "nl"
    assert detect_language("12345 !!!", default="en") == "en"
