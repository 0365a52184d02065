"""Training the reason tagger on the platform's data, its versions, and re-tagging."""

from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from karn import clock
from tests.test_learning_corrections import comment, note, submit

# A word no lexicon and no shipped example knows: only the platform's answers
# can teach that it means a changed need.
NEED_TEXTS = [
    "De flurbo van onze zaak is weg",
    "Wij gebruiken de flurbo niet meer",
    "Geen flurbo meer in huis",
    "De flurbo is verkocht",
    "Zonder flurbo gaat het ook",
]
PROBE = "Het ging om de flurbo."
EN_TEXTS = [
    ("price", "Far too expensive for what we got"),
    ("service", "Support never answered my emails"),
    ("quality", "The app kept crashing every day"),
]


@pytest.fixture
def platform(db, create_customer):
    """Forty-odd people who answered through the submission path, Dutch and English."""
    customers = []
    for i in range(40):
        customer = create_customer()
        customers.append(customer)
        submit(db, customer, "need", f"{NEED_TEXTS[i % 5]}, sinds maand {i}.")
    for i in range(15):
        reason, text = EN_TEXTS[i % 3]
        submit(db, create_customer(language="en"), reason, f"{text} ({i})", lang="en")
    return customers


def top(text, lang="nl"):
    from karn.text.reasons import tag_reasons

    return tag_reasons(text, lang)[0][0]


def test_train_prints_the_evaluation_before_asking_and_activates_on_yes(
    platform, runner, db
):
    from karn.text.models import TagModel

    assert top(PROBE) == "other"
    result = runner.invoke(args=["analysis", "train", "--by", "tester"], input="n\n")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "Labelled examples on this platform: 55" in out
    assert "Held-out evaluation" in out
    assert "macro-F1" in out
    # Per language, the model in use (v0) against the new one (v1).
    assert "in use (v0)" in out and "new (v1)" in out
    assert out.index("macro-F1") < out.index("Use version 1 for tagging")
    assert "Version 0 stays in use" in out
    row = db.session.scalars(sa.select(TagModel)).one()
    assert (row.version, row.active, row.created_by) == (1, False, "tester")
    assert row.examples["train"]["nl"]["need"] + row.examples["held_out"]["nl"][
        "need"
    ] == (40)
    assert set(row.metrics["held_out"]) == {"nl", "en"}
    assert top(PROBE) == "other"  # not in use until confirmed

    result = runner.invoke(args=["analysis", "train"], input="y\n")
    assert result.exit_code == 0, result.output
    assert "Version 2 is in use" in result.output
    assert top(PROBE) == "need"


def test_models_activate_and_switch_back(platform, runner, db):
    from karn.text.model_store import active_reason_model

    result = runner.invoke(args=["analysis", "train", "--activate"])
    assert result.exit_code == 0, result.output
    assert active_reason_model()[0] == 1
    assert top(PROBE) == "need"
    listing = runner.invoke(args=["analysis", "models"]).output
    assert "* " + " " * 6 + "1" in listing and "  " + " " * 6 + "0" in listing

    result = runner.invoke(args=["analysis", "activate", "0"])
    assert result.exit_code == 0 and "Version 0 is in use" in result.output
    assert top(PROBE) == "other"
    assert "* " + " " * 6 + "0" in runner.invoke(args=["analysis", "models"]).output

    result = runner.invoke(args=["analysis", "activate", "7"])
    assert result.exit_code != 0 and "there is no version 7" in result.output

    assert runner.invoke(args=["analysis", "activate", "1"]).exit_code == 0
    # New answers are tagged by the active version, and say so.
    from karn.customers.models import Customer

    customer = db.session.scalars(sa.select(Customer)).first()
    answer = comment(db, submit(db, customer, "need", "Alles draait om de flurbo"))
    assert answer.tag_reason.value == "need"
    assert answer.tags["model"] == 1


def test_other_processes_see_an_activation_within_the_check_interval(
    platform, app, runner, db
):
    from karn.text import model_store
    from karn.text.models import TagModel

    runner.invoke(args=["analysis", "train", "--yes"])
    assert model_store.active_reason_model()[0] == 1
    # Another process switches back: this one keeps its model until it checks.
    db.session.execute(sa.update(TagModel).values(active=False))
    db.session.commit()
    app.config["TAG_MODEL_CHECK_SECONDS"] = 3600
    assert model_store.active_reason_model()[0] == 1
    app.config["TAG_MODEL_CHECK_SECONDS"] = 0
    assert model_store.active_reason_model()[0] == 0
    assert top(PROBE) == "other"


def test_corrections_are_training_examples_and_override_the_main_reason(
    platform, db, create_user
):
    from karn.learning import corrections, training

    staff = create_user("staff")
    customer = platform[0]
    answer = comment(db, submit(db, customer, "price", "De gloop was kapot"))
    assert corrections.correct("answer", answer.id, staff, reason="brand")
    call = note(db, customer, staff, "Ze had het over de gloop")
    corrections.correct("note", call.id, staff, reason="quality")
    corrections.correct("note", call.id, staff, sentiment="positive")  # no reason
    db.session.commit()
    examples = {e.key: e for e in training.platform_examples()}
    assert examples[f"answer:{answer.id}"].label == "brand"
    assert examples[f"answer:{answer.id}"].source == "correction"
    assert examples[f"note:{call.id}"].label == "quality"
    # The corrected answer is not also its response's example with "price".
    assert f"response:{answer.response_id}" not in examples
    assert len(examples) == 55 + 2
    # The held-out part is fixed per person, whatever else changes.
    held = {e.key for e in examples.values() if training.is_held_out(e)}
    assert 0 < len(held) < len(examples)
    assert held == {
        e.key for e in training.platform_examples() if training.is_held_out(e)
    }


def test_words_of_fewer_than_three_people_stay_out_of_the_model(db, create_customer):
    from karn.learning import training

    for i in range(6):
        customer = create_customer()
        words = "Jan Klaassen 0612345678 belde" if i == 0 else "gewoon te duur"
        submit(db, customer, "price", f"{words}, zei buurman {i}")
    run = training.train_from_platform()
    payload = run.model.to_json().lower()
    for word in ("klaassen", "0612345678", "buurman_0"):
        assert word not in payload
    assert "nl:buurman" in payload and "nl:gewoon" in payload


@pytest.fixture
def frozen():
    yield lambda at: clock.freeze(at)
    clock.freeze(None)


def test_retag_resumes_without_tagging_a_row_twice_and_skips_corrections(
    platform, db, runner, create_user, frozen
):
    from karn.callbacks.models import CallNote
    from karn.learning import corrections
    from karn.learning.retag import remaining
    from karn.surveys.models import Answer

    staff = create_user("staff")
    for i in range(3):
        note(db, platform[i], staff, f"Flurbo verkocht, zegt {i}")
    corrected = comment(db, db.session.scalars(sa.select(Answer.response_id)).first())
    corrections.correct("answer", corrected.id, staff, reason="brand")
    db.session.commit()
    before = dict(corrected.tags)

    result = runner.invoke(args=["analysis", "train", "--yes"])
    assert result.exit_code == 0, result.output
    assert remaining(1) == {"answers": 55 - 1, "notes": 3, "comments": 0}

    first = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    frozen(first)
    result = runner.invoke(
        args=["analysis", "retag", "--batch-size", "4", "--limit", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "54 answers and 3 call notes to do" in result.output
    assert "texts/s" in result.output
    assert "Stopped at --limit: 50 answers and 3 call notes left" in result.output
    done_first = set(
        db.session.scalars(sa.select(Answer.id).where(Answer.tagged_at == first))
    )
    assert len(done_first) == 4

    second = datetime(2026, 11, 21, 10, 0, tzinfo=UTC)
    frozen(second)
    result = runner.invoke(args=["analysis", "retag", "--batch-size", "4"])
    assert result.exit_code == 0, result.output
    assert "50 answers and 3 call notes to do" in result.output
    assert "53 texts re-tagged in 14 batches" in result.output
    db.session.expire_all()
    answers = db.session.scalars(
        sa.select(Answer).where(Answer.text.is_not(None))
    ).all()
    for answer in answers:
        if answer.id == corrected.id:
            assert answer.tags == before and answer.tag_reason.value == "brand"
            assert answer.tagged_at not in (first, second)
        else:
            assert answer.tags["model"] == 1
            assert answer.tagged_at == (first if answer.id in done_first else second)
    assert all(n.tags["model"] == 1 for n in db.session.scalars(sa.select(CallNote)))
    assert {n.tag_reason.value for n in db.session.scalars(sa.select(CallNote))} == {
        "need"
    }

    result = runner.invoke(args=["analysis", "retag"])
    assert "0 answers and 0 call notes to do" in result.output
    assert "0 texts re-tagged" in result.output


def test_train_without_platform_data_keeps_the_shipped_model(runner, db):
    from karn.text.models import TagModel

    result = runner.invoke(args=["analysis", "train", "--yes"])
    assert result.exit_code == 0, result.output
    assert "nothing to train; version 0 stays in use" in result.output
    assert db.session.scalar(sa.select(sa.func.count(TagModel.id))) == 0
