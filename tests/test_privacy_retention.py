"""Retention: exactly what is past its time is anonymised; a dry run changes nothing."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.extensions import db as _db
from tests.test_privacy_erasure import privacy_app  # noqa: F401

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    clock.freeze(NOW)
    yield
    clock.freeze(None)


def _mail(customer, subject, sent_at, status="sent", created_at=None):
    from karn.surveys.models import OutboxMessage

    message = OutboxMessage(
        kind="invitation",
        customer_id=customer.id,
        to_address=customer.email,
        language="nl",
        subject=subject,
        body_text=f"{subject} body",
        body_html=f"<p>{subject}</p>",
        message_id=f"<{subject}@karn.example>",
        status=status,
        sent_at=sent_at,
        created_at=created_at or sent_at or NOW,
    )
    _db.session.add(message)
    return message


@pytest.fixture
def world(frozen, create_customer):
    old = create_customer(
        email="old@example.nl", name="Old Timer", departed_at=NOW - timedelta(days=740)
    )
    edge = create_customer(
        email="edge@example.nl",
        name="Just Inside",
        # 24 months before NOW is 2023-06-15 12:00; one hour later is inside.
        departed_at=datetime(2023, 6, 15, 13, 0, tzinfo=UTC),
    )
    recent = create_customer(
        email="new@example.nl", name="New Leaver", departed_at=NOW - timedelta(days=30)
    )
    mails = {
        "old-sent": _mail(recent, "old-sent", NOW - timedelta(days=91)),
        "fresh-sent": _mail(recent, "fresh-sent", NOW - timedelta(days=89)),
        "old-failed": _mail(
            recent, "old-failed", None, "failed", NOW - timedelta(days=120)
        ),
        "old-pending": _mail(
            recent, "old-pending", None, "pending", NOW - timedelta(days=120)
        ),
    }
    _db.session.commit()
    return {"old": old, "edge": edge, "recent": recent, "mails": mails}


def _snapshot():
    from karn.accounts.models import AuditEntry
    from karn.customers.models import Customer, Suppression
    from karn.surveys.models import OutboxMessage

    _db.session.expire_all()
    return {
        "customers": [
            (c.id, c.email, c.name, c.erased_at)
            for c in _db.session.scalars(sa.select(Customer).order_by(Customer.id))
        ],
        "mails": [
            (m.id, m.subject, m.body_text, m.body_html, m.status)
            for m in _db.session.scalars(
                sa.select(OutboxMessage).order_by(OutboxMessage.id)
            )
        ],
        "audit": _db.session.scalar(sa.select(sa.func.count(AuditEntry.id))),
        "suppressions": _db.session.scalar(
            sa.select(sa.func.count()).select_from(Suppression)
        ),
    }


def test_dry_run_lists_and_changes_nothing(privacy_app, world):  # noqa: F811
    from karn.privacy.operations import enforce_retention

    before = _snapshot()
    report = enforce_retention(dry_run=True)
    assert report.customer_ids == [world["old"].id]
    assert report.mails == 2  # old-sent and old-failed
    assert _snapshot() == before


def test_retention_anonymises_exactly_what_is_past_its_time(
    privacy_app,  # noqa: F811
    world,
):
    from karn.customers.models import Customer
    from karn.privacy.operations import enforce_retention
    from karn.surveys.models import OutboxMessage

    report = enforce_retention(batch=1)
    assert report.customer_ids == [world["old"].id]
    assert report.mails == 2
    _db.session.expire_all()
    old = _db.session.get(Customer, world["old"].id)
    assert old.erased_at == NOW and old.email is None and old.name is None
    for key in ("edge", "recent"):
        kept = _db.session.get(Customer, world[key].id)
        assert kept.erased_at is None and kept.email == world[key].email
    by_subject = {
        key: _db.session.get(OutboxMessage, m.id) for key, m in world["mails"].items()
    }
    for key in ("old-sent", "old-failed"):
        m = by_subject[key]
        assert (m.subject, m.body_text, m.body_html) == (None, None, None)
        assert m.to_address == "new@example.nl"  # goes with the person, later
    for key in ("fresh-sent", "old-pending"):
        assert by_subject[key].body_text == f"{key} body"
    # A second run finds nothing left to do.
    again = enforce_retention()
    assert (again.customers, again.mails) == (0, 0)


def test_limits_come_from_the_configuration(privacy_app, world):  # noqa: F811
    from karn.privacy.operations import enforce_retention

    privacy_app.config["RETENTION_PERSONAL_MONTHS"] = 1
    privacy_app.config["RETENTION_MAIL_DAYS"] = 200
    report = enforce_retention(dry_run=True)
    # 30 days ago is inside one calendar month (15 May to 15 June).
    assert report.customer_ids == [world["old"].id, world["edge"].id]
    assert report.mails == 0


def test_worker_job_runs_at_most_once_a_day_and_never_raises(
    privacy_app,  # noqa: F811
    world,
    monkeypatch,
):
    from karn.privacy import operations

    first = operations.run_retention_job(privacy_app)
    assert first is not None and first.customers == 1
    assert operations.last_retention_run() == NOW
    assert operations.run_retention_job(privacy_app) is None  # same day
    clock.freeze(NOW + timedelta(hours=23))
    assert operations.run_retention_job(privacy_app) is None
    clock.freeze(NOW + timedelta(days=1, minutes=1))
    assert operations.run_retention_job(privacy_app) is not None

    def broken(**kwargs):
        raise RuntimeError("database gone")

    monkeypatch.setattr(operations, "enforce_retention", broken)
    clock.freeze(NOW + timedelta(days=3))
    assert operations.run_retention_job(privacy_app) is None


def test_cli_enforce_retention(privacy_app, world, runner):  # noqa: F811
    from karn.customers.models import Customer

    dry = runner.invoke(args=["privacy", "enforce-retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert f"#{world['old'].id}" in dry.output
    _db.session.expire_all()
    assert _db.session.get(Customer, world["old"].id).erased_at is None
    done = runner.invoke(args=["privacy", "enforce-retention"])
    assert done.exit_code == 0, done.output
    _db.session.expire_all()
    assert _db.session.get(Customer, world["old"].id).erased_at is not None


def test_months_before_clamps_to_the_end_of_a_month():
    from karn.privacy.operations import months_before

    moment = datetime(2024, 3, 31, 8, 0, tzinfo=UTC)
    assert months_before(moment, 1) == datetime(2024, 2, 29, 8, 0, tzinfo=UTC)
    assert months_before(moment, 24) == datetime(2022, 3, 31, 8, 0, tzinfo=UTC)
    assert months_before(moment, 3) == datetime(2023, 12, 31, 8, 0, tzinfo=UTC)
