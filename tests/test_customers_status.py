"""The customer status: active customers beside departed ones, the moves
between them, invitations that follow from the state, and reasons stated when
cancelling counted apart."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.analysis import queries
from karn.analysis.filters import Filters
from karn.callbacks.models import WinBack
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import CustomerStatus, Reason, Source
from karn.extensions import db as _db
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from karn.worker import Worker

# A Monday, 11:00 in Amsterdam.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


def put(*records):
    result = upsert_departures([(r, {}) for r in records], Source.CSV)
    _db.session.commit()
    return result


def customer(external_id):
    _db.session.expire_all()
    return _db.session.scalars(
        sa.select(Customer).where(Customer.external_id == external_id)
    ).one()


def invitations(external_id):
    return _db.session.scalars(
        sa.select(Invitation)
        .join(Customer, Customer.id == Invitation.customer_id)
        .where(Customer.external_id == external_id)
    ).all()


def left(days_ago):
    return clock.now() - timedelta(days=days_ago)


def test_an_active_customer_is_stored_and_never_invited(db):
    ensure_default_survey()
    put({"external_id": "A1", "email": "a1@example.nl", "status": "active"})
    stored = customer("A1")
    assert stored.status == CustomerStatus.ACTIVE and stored.departed_at is None
    assert invitations("A1") == []


def test_an_active_customer_who_leaves_is_a_departure_on_that_date(db):
    ensure_default_survey()
    put({"external_id": "A1", "email": "a1@example.nl", "status": "active"})
    put(
        {
            "external_id": "A1",
            "email": "a1@example.nl",
            "status": "departed",
            "departed_at": left(3),
        }
    )
    stored = customer("A1")
    assert stored.status == CustomerStatus.DEPARTED
    assert stored.departed_at == left(3)
    assert len(invitations("A1")) == 1


def test_a_departed_customer_said_active_again_is_a_win_back(db):
    ensure_default_survey()
    put({"external_id": "D1", "email": "d1@example.nl", "departed_at": left(20)})
    put({"external_id": "D1", "email": "d1@example.nl", "status": "active"})
    stored = customer("D1")
    assert stored.status == CustomerStatus.ACTIVE
    # The departure they came back from is kept.
    assert stored.departed_at == left(20)
    win = _db.session.scalars(sa.select(WinBack)).one()
    assert win.customer_id == stored.id and win.via == "csv"
    assert win.returned_on == clock.now().date()


def test_a_departure_of_unknown_date_counts_but_is_never_invited(app, db):
    ensure_default_survey()
    put({"external_id": "U1", "email": "u1@example.nl", "status": "departed"})
    stored = customer("U1")
    assert stored.status == CustomerStatus.DEPARTED and stored.departed_at is None
    assert invitations("U1") == []
    Worker(app, "w").run_once()
    assert invitations("U1") == []


def test_a_record_without_status_or_date_departed_when_it_arrived(db):
    # As exports and API clients from before the status keep working.
    put({"external_id": "O1", "email": "o1@example.nl"})
    stored = customer("O1")
    assert stored.status == CustomerStatus.DEPARTED
    assert stored.departed_at == clock.now()


def test_departures_stored_before_any_survey_are_invited_once_there_is_one(
    app, db, runner
):
    put({"external_id": "E1", "email": "e1@example.nl", "departed_at": left(3)})
    put({"external_id": "E2", "email": "e2@example.nl", "status": "active"})
    assert invitations("E1") == []
    result = runner.invoke(args=["surveys", "init"])
    assert result.exit_code == 0, result.output
    assert "1 departed customers" in result.output
    assert len(invitations("E1")) == 1 and invitations("E2") == []
    # Running the schedule again invites nobody twice.
    Worker(app, "w").run_once()
    assert len(invitations("E1")) == 1


def test_the_worker_invites_departures_that_missed_the_schedule(app, db):
    put({"external_id": "M1", "email": "m1@example.nl", "departed_at": left(3)})
    # A survey made some other way than `flask surveys init`.
    ensure_default_survey()
    _db.session.commit()
    assert invitations("M1") == []
    Worker(app, "w").run_once()
    assert len(invitations("M1")) == 1


def file_of(with_active: bool):
    rows = [
        {"external_id": f"L{i}", "email": f"l{i}@example.nl", "departed_at": left(i)}
        for i in range(1, 6)
    ]
    if with_active:
        rows += [
            {"external_id": f"S{i}", "email": f"s{i}@example.nl", "status": "active"}
            for i in range(20)
        ]
    return rows


def test_a_whole_customer_file_gives_the_funnel_of_its_leavers_alone(app, db):
    ensure_default_survey()
    put(*file_of(with_active=False))
    Worker(app, "w").run_once()
    leavers_only = queries.funnel(Filters())
    db.session.execute(sa.delete(Invitation))
    db.session.execute(sa.delete(Customer))
    db.session.commit()
    from karn.analysis import funnel, totals

    with db.engine.begin() as conn:
        totals.rebuild(conn)
        funnel.rebuild(conn)
    put(*file_of(with_active=True))
    Worker(app, "w").run_once()
    whole = queries.funnel(Filters())
    assert whole == leavers_only
    assert whole["departed"] == 5
    # Rebuilding the totals from the stored rows gives the same figures.
    with db.engine.begin() as conn:
        funnel.rebuild(conn)
    assert queries.funnel(Filters()) == whole


def test_reasons_stated_when_cancelling_are_counted_apart(app, db):
    put(
        {
            "external_id": "R1",
            "email": "r1@example.nl",
            "departed_at": left(3),
            "stated_reason": Reason.PRICE,
        },
        {
            "external_id": "R2",
            "email": "r2@example.nl",
            "departed_at": left(4),
            "stated_reason": Reason.PRICE,
        },
        {
            "external_id": "R3",
            "email": "r3@example.nl",
            "departed_at": left(5),
            "stated_reason": Reason.SERVICE,
        },
        {"external_id": "R4", "email": "r4@example.nl", "status": "active"},
    )
    stated = queries.reason_counts(Filters(channel="stated"))
    assert stated.n == 3
    assert stated.counts == {"price": 2, "service": 1}
    # Never mixed into the survey answers.
    assert queries.reason_counts(Filters()).n == 0
    since = Filters.from_args({"channel": "stated", "since": "2026-02-26"})
    assert queries.reason_counts(since).counts == {"price": 2}
