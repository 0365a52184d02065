"""A large feedback CSV file is imported by the worker: the page shows the
progress and then the result with the rejected rows, a crashed worker's import
is taken over without storing an item twice, and importing again changes
nothing."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.models import Customer
from karn.feedback import csvimport, importjob, rows
from karn.feedback.models import FeedbackImport, FeedbackItem
from karn.privacy.erasure import erase_customer
from karn.worker import Worker
from tests.test_feedback import confirm, upload

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MAPPING = {0: "source_id", 1: "received_at", 2: "customer_number", 3: "text"}
GOOD = 4500
BAD_LINES = (101, 2602, 4003)  # lines (the header is line 1) with a bad date


@pytest.fixture(autouse=True)
def _small_batches(monkeypatch):
    clock.freeze(START)
    # Batches of 1,000 rows: several batches without a file of 10,000s.
    monkeypatch.setattr(csvimport, "BATCH", 1000)
    monkeypatch.setattr(importjob, "COMMIT_ROWS", 1)  # commit every batch
    yield
    clock.freeze(None)


@pytest.fixture
def manager(create_user, login):
    user = create_user("manager")
    login(user)
    return user


def big_file() -> bytes:
    lines = [b"Ticket;Datum;Klantnummer;Tekst"]
    good = 0
    while good < GOOD:
        line = len(lines) + 1
        if line in BAD_LINES:
            lines.append(b"X-%d;31-02-2026;;Datum bestaat niet" % line)
            continue
        good += 1
        number = {7: b"C00001", 3000: b"C00002"}.get(good, b"")
        lines.append(
            b"T-%d;%02d-02-2026;%s;Klantenservice reageerde niet (%d)"
            % (good, 1 + good % 28, number, good)
        )
    return b"\n".join(lines) + b"\n"


def item_count(db) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(FeedbackItem))


def the_import(db) -> FeedbackImport:
    db.session.expire_all()
    return db.session.scalars(
        sa.select(FeedbackImport).order_by(FeedbackImport.id.desc())
    ).first()


def queue_big_file(client):
    page = upload(client, big_file(), name="helpdesk.csv")
    assert page.status_code == 302
    done = confirm(client, page.location, MAPPING, channel="support")
    assert done.status_code == 302
    return done.location


def test_a_large_file_is_imported_by_the_worker_with_progress_and_result(
    app, client, db, manager, create_customer, monkeypatch
):
    customer = create_customer(external_id="C00001")
    result_url = queue_big_file(client)
    # The request stored nothing: it only queued the import.
    assert item_count(db) == 0
    page = client.get(result_url).get_data(as_text=True)
    assert "Waiting for the worker to start the import of about 4,503 rows." in page
    assert 'http-equiv="refresh"' in page

    # A pass of the worker imports one slice (here: one batch), then returns.
    monkeypatch.setattr(importjob, "SLICE_SECONDS", 0)
    worker = Worker(app, name="worker-1")
    assert worker.feedback_import_job in worker.jobs
    worker.feedback_import_job(app)
    assert item_count(db) == 1000
    page = client.get(result_url).get_data(as_text=True)
    assert "Imported 1,001 of about 4,503 rows." in page  # a bad row among them

    # The next passes go on where it stopped, to the end.
    for _ in range(10):
        worker.feedback_import_job(app)
    run = the_import(db)
    assert run.status == "done" and run.upload is None
    assert item_count(db) == GOOD
    page = client.get(result_url).get_data(as_text=True)
    assert 'http-equiv="refresh"' not in page
    assert "Imported: 4,503 rows read." in page
    assert 'id="created">4,500<' in page
    assert 'id="rejected">3<' in page
    for line in BAD_LINES:
        assert f'<td class="num">{line}</td><td>The date cannot be read' in page
    linked = db.session.scalar(
        sa.select(FeedbackItem.customer_id).where(FeedbackItem.source_id == "T-7")
    )
    assert linked == customer.id

    # The same file again: nothing new, every row unchanged.
    again = queue_big_file(client)
    Worker(app, name="worker-2", once=True).feedback_import_job(app)
    page = client.get(again).get_data(as_text=True)
    assert 'id="created">0<' in page and 'id="unchanged">4,500<' in page
    assert item_count(db) == GOOD


class Crash(BaseException):
    """The worker process dying mid-import: nothing of it runs on."""


def test_a_crashed_workers_import_is_taken_over_without_storing_items_twice(
    app, client, db, manager, monkeypatch
):
    result_url = queue_big_file(client)
    insert = rows.insert
    calls = []

    def crashing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise Crash()
        return insert(*args, **kwargs)

    monkeypatch.setattr(rows, "insert", crashing)
    with pytest.raises(Crash):
        Worker(app, name="worker-1", once=True).feedback_import_job(app)
    monkeypatch.setattr(rows, "insert", insert)
    # Two batches were committed with their counts; the third died with it.
    assert item_count(db) == 2000
    run = the_import(db)
    assert (run.status, run.claimed_by, run.created) == ("running", "worker-1", 2000)
    assert "Imported 2,001 of about 4,503 rows." in client.get(result_url).get_data(
        as_text=True
    )

    # Another worker leaves it alone while the first may still be at work ...
    other = Worker(app, name="worker-2", once=True)
    other.feedback_import_job(app)
    assert item_count(db) == 2000
    # ... and takes it over once the first has stopped committing.
    clock.freeze(START + importjob.LEASE + timedelta(seconds=1))
    other.feedback_import_job(app)
    run = the_import(db)
    assert run.status == "done"
    assert (run.rows, run.created, run.unchanged, run.rejected) == (4503, 4500, 0, 3)
    assert item_count(db) == GOOD
    distinct = db.session.scalar(
        sa.select(sa.func.count(sa.distinct(FeedbackItem.source_id)))
    )
    assert distinct == GOOD
    page = client.get(result_url).get_data(as_text=True)
    assert 'id="created">4,500<' in page and 'id="rejected">3<' in page


def test_a_worker_whose_import_was_taken_over_stores_nothing_more(
    app, client, db, manager, monkeypatch
):
    queue_big_file(client)
    run_id = the_import(db).id
    assert importjob.claim("worker-1") == run_id
    # worker-1 stalls past its lease; worker-2 takes the import over.
    clock.freeze(START + importjob.LEASE + timedelta(seconds=1))
    assert importjob.claim("worker-2") == run_id
    # worker-1 wakes up: its first batch finds the import no longer its own.
    assert importjob.run_slice(run_id, "worker-1", None) == "running"
    assert item_count(db) == 0
    assert importjob.run_slice(run_id, "worker-2", None) == "done"
    assert item_count(db) == GOOD


def test_a_file_broken_further_down_stops_the_import_and_says_where(
    app, client, db, manager
):
    """A field longer than any CSV reader takes, past what the preview read."""
    good = b"".join(
        b"T-%d;02-02-2026;Tekst nummer %d over de service;3\n" % (i, i)
        for i in range(1, 2500)
    )
    broken = b'T-2500;02-02-2026;"' + b"x" * 200_000 + b'";3\n'
    page = upload(client, b"Ticket;Datum;Tekst;Cijfer\n" + good + broken)
    done = confirm(
        client,
        page.location,
        {0: "source_id", 1: "received_at", 2: "text", 3: "rating"},
        channel="support",
    )
    Worker(app, name="worker-1", once=True).feedback_import_job(app)
    run = the_import(db)
    assert run.status == "failed" and run.upload is None
    body = client.get(done.location).get_data(as_text=True)
    assert 'id="import-failed"' in body
    assert "2501" in body  # the line of the broken row
    # The batches before it are kept (a mended file adds only the rest).
    assert item_count(db) == 2000 == run.created


def test_erasure_removes_the_persons_rows_from_uploads_not_yet_imported(
    app, client, db, manager, create_customer, monkeypatch
):
    customer = create_customer(external_id="C00002", email="kees@example.com")
    result_url = queue_big_file(client)
    monkeypatch.setattr(importjob, "SLICE_SECONDS", 0)
    Worker(app, name="worker-1").feedback_import_job(app)
    assert item_count(db) == 1000
    big = the_import(db).id
    # Another file, its columns not yet confirmed.
    pending = upload(
        client, b"Tekst;Datum;E-mail\nTe duur, Kees;01-02-2026;kees@example.com\n"
    )
    assert "kees@example.com" in client.get(pending.location).get_data(as_text=True)

    report = erase_customer(db.session.get(Customer, customer.id))
    db.session.commit()
    assert report.as_dict()["removed"]["import_rows"] == 2

    assert "kees@example.com" not in client.get(pending.location).get_data(as_text=True)
    monkeypatch.setattr(importjob, "SLICE_SECONDS", 30)
    Worker(app, name="worker-1").feedback_import_job(app)
    assert db.session.get(FeedbackImport, big).status == "done"
    stored = db.session.scalars(sa.select(FeedbackItem.source_id)).all()
    assert len(stored) == len(set(stored)) == GOOD - 1
    assert "T-3000" not in stored
    page = client.get(result_url).get_data(as_text=True)
    assert 'id="created">4,499<' in page


def test_a_corrected_feedback_reason_is_a_training_example(db, create_user):
    from karn.enums import Reason
    from karn.feedback import intake, tagging
    from karn.learning.training import platform_examples

    clean, _ = intake.validate(
        {
            "text": "Jullie helpdesk belde nooit terug",
            "received_at": "2026-02-01",
            "channel": "support",
        },
        {"support"},
    )
    intake.store([clean], "form")
    db.session.commit()
    tagging.tag_waiting()
    item = db.session.scalars(sa.select(FeedbackItem)).one()
    person = create_user("manager")
    # A corrected tone alone labels no reason.
    tagging.correct(item, person, "negative", None)
    db.session.commit()
    assert not [e for e in platform_examples() if e.key.startswith("feedback:")]
    tagging.correct(item, person, None, Reason.PRICE.value)
    db.session.commit()
    (example,) = [e for e in platform_examples() if e.key.startswith("feedback:")]
    assert (example.text, example.label, example.source) == (
        "Jullie helpdesk belde nooit terug",
        "price",
        "correction",
    )


def test_an_upload_no_worker_took_is_dropped_after_a_week(app, client, db, manager):
    from karn.feedback.privacy import strip_older_than

    result_url = queue_big_file(client)
    clock.freeze(START + timedelta(days=8))
    strip_older_than(START - timedelta(days=365))
    run = the_import(db)
    assert run.status == "failed" and run.upload is None
    assert 'id="import-failed"' in client.get(result_url).get_data(as_text=True)
    # Nothing is left for a worker to take.
    Worker(app, name="worker-1", once=True).feedback_import_job(app)
    assert item_count(db) == 0
