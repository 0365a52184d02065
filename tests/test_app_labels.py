"""Stored codes shown by their labels, one label per reason, British dates."""

from datetime import UTC, date, datetime

import pytest
from flask import render_template_string
from flask_babel import force_locale

from karn.enums import (
    CallTaskSource,
    OutboxStatus,
    Reason,
    Sentiment,
    Source,
)
from karn.formatting import REASON_LABELS, label, localdate, localtime
from karn.surveys.default_survey import default_questions


def test_every_code_has_a_label_in_both_languages(app):
    with app.test_request_context():
        with force_locale("nl"):
            assert label(OutboxStatus.HELD) == "vastgehouden"
            assert label(Sentiment.POSITIVE) == "positief"
            assert label("csv", Source) == "CSV-bestand"
            assert label(Source.MANUAL) == "Handmatig toegevoegd"
            assert label(None) == "—"
        with force_locale("en"):
            assert label(Sentiment.NEUTRAL) == "neutral"
            assert label(CallTaskSource.HIGH_VALUE) == "High value, no answer"
            # A code without a label is shown as it is, not an error.
            assert label("someday", Source) == "someday"


def test_the_label_filter_in_a_template(app):
    with app.test_request_context("/?lang=nl"), force_locale("nl"):
        shown = render_template_string(
            "{{ kind|label }} · {{ 'stripe'|label('Source') }} · {{ reason|label }}",
            kind=Source.API,
            reason=Reason.NEED,
        )
    assert shown == "API · Stripe · Veranderde behoefte"


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_a_reason_has_one_name_on_pages_and_in_the_survey(app, lang):
    """The label pages, exports and the digest use is the survey's own option."""
    reasons = next(q for q in default_questions() if q["key"] == "main_reason")
    in_survey = {o["value"]: o["label"][lang] for o in reasons["options"]}
    with app.test_request_context(), force_locale(lang):
        on_pages = {r.value: str(REASON_LABELS[r]) for r in Reason}
    assert on_pages == in_survey
    assert (
        on_pages["need"]
        == {"nl": "Veranderde behoefte", "en": "My needs changed"}[lang]
    )


def test_english_dates_are_written_the_british_way(app):
    moment = datetime(2026, 12, 7, 15, 5, tzinfo=UTC)
    with app.test_request_context():
        with force_locale("en"):
            assert localdate(date(2026, 3, 2)) == "2 Mar 2026"
            assert localtime(moment) == "07/12/2026, 16:05"
        with force_locale("nl"):
            assert localdate(date(2026, 3, 2)) == "2 mrt 2026"
            assert localtime(moment) == "07-12-2026, 16:05"
