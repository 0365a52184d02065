"""Quotes: the most negative and most positive comments, ties newest first."""

from datetime import UTC, datetime, timedelta

import pytest

from karn.analysis import queries, totals
from karn.analysis.queries import Filters
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Response

FIRST = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
# score, text (None: erased), reason; one a day from FIRST
COMMENTS = [
    (-0.9, "old and very negative", "price"),
    (-0.5, "tied, oldest", "price"),
    (-0.5, "tied, middle", "price"),
    (-0.5, "tied, newest", "price"),
    (-0.95, None, "price"),
    (-0.99, "another reason", "service"),
    (0.7, "positive", "price"),
    (0.7, "positive, newer", "price"),
    (0.2, "mildly positive", "price"),
]


@pytest.mark.parametrize("ranked", [False, True], ids=["index walk", "ranked"])
def test_quotes_order_by_score_then_newest(db, monkeypatch, ranked):
    """Both ways of finding them: along the index of scores (filters the
    totals answer) and by ranking what a narrower filter keeps."""
    if ranked:
        monkeypatch.setattr(queries, "_totals_scope", lambda f: None)
    survey, _ = ensure_default_survey()
    db.session.commit()
    version = survey.versions[0].id
    for day, (score, text, reason) in enumerate(COMMENTS):
        when = FIRST + timedelta(days=day)
        response = Response(
            survey_version_id=version,
            language="nl",
            primary_reason=reason,
            started_at=when,
            submitted_at=when,
        )
        db.session.add(response)
        db.session.flush()
        db.session.add(
            Answer(
                response_id=response.id,
                question_key="keep_you",
                value=text,
                text=text,
                sentiment="negative" if score < 0 else "positive",
                sentiment_score=score,
            )
        )
    # Stored past the survey pages: the dashboard's facts are rebuilt, as
    # after a restore.
    totals.rebuild(db.session.connection())
    db.session.commit()

    both = queries.quotes(Filters(), ["price", "service"])
    assert both["service"] == {
        "negative": [both["service"]["negative"][0]],
        "positive": [],
    }
    assert both["service"]["negative"][0]["text"] == "another reason"
    found = both["price"]
    assert [q["text"] for q in found["negative"]] == [
        "old and very negative",
        "tied, newest",
        "tied, middle",
    ]
    assert [q["text"] for q in found["positive"]] == [
        "positive, newer",
        "positive",
        "mildly positive",
    ]
    since = (FIRST + timedelta(days=2)).date()
    later = queries.quotes(Filters(since=since), ["price"])["price"]
    assert [q["text"] for q in later["negative"]] == ["tied, newest", "tied, middle"]
