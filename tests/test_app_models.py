"""Invariants the database itself enforces, on SQLite and PostgreSQL alike."""

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, StatementError

from karn import clock
from karn.models import (
    Customer,
    Invitation,
    Response,
    Survey,
    SurveyVersion,
)


@pytest.fixture
def version(db):
    survey = Survey(name="Exit survey")
    version = SurveyVersion(survey=survey, number=1, questions=[])
    db.session.add(version)
    db.session.commit()
    return version


def test_one_response_per_invitation(db, create_customer, version):
    customer = create_customer()
    invitation = Invitation(
        customer=customer, survey=version.survey, scheduled_for=clock.now()
    )
    db.session.add(invitation)
    db.session.commit()
    db.session.add(
        Response(invitation=invitation, survey_version=version, language="nl")
    )
    db.session.commit()
    db.session.add(
        Response(invitation=invitation, survey_version=version, language="nl")
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_never_two_open_invitations_for_one_customer_and_survey(
    db, create_customer, version
):
    customer = create_customer()
    first = Invitation(
        customer=customer, survey=version.survey, scheduled_for=clock.now()
    )
    db.session.add(first)
    db.session.commit()
    db.session.add(
        Invitation(customer=customer, survey=version.survey, scheduled_for=clock.now())
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()
    # Once the first is closed, a later departure may be invited again.
    first.status = "expired"
    db.session.commit()
    db.session.add(
        Invitation(customer=customer, survey=version.survey, scheduled_for=clock.now())
    )
    db.session.commit()


def test_published_versions_never_change(db, version):
    version.questions = [{"key": "new"}]
    with pytest.raises(ValueError, match="never changes"):
        db.session.commit()
    db.session.rollback()


def test_customer_needs_an_id_or_email(db):
    db.session.add(Customer(departed_at=clock.now(), source="manual"))
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_negative_revenue_is_refused(db):
    db.session.add(
        Customer(
            external_id="X",
            departed_at=clock.now(),
            source="csv",
            monthly_revenue=Decimal("-1"),
        )
    )
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_unknown_language_is_refused(db):
    db.session.add(
        Customer(external_id="X", departed_at=clock.now(), source="csv", language="de")
    )
    with pytest.raises(StatementError):
        db.session.commit()
    db.session.rollback()


def test_money_is_exact_and_sums_in_sql(db, create_customer):
    create_customer(monthly_revenue=Decimal("12.50"))
    create_customer(monthly_revenue=Decimal("0.10"))
    create_customer(monthly_revenue=Decimal("0.20"))
    total = db.session.scalar(sa.select(sa.func.sum(Customer.monthly_revenue)))
    assert total == Decimal("12.80")


def test_times_come_back_as_aware_utc(db, create_customer):
    amsterdam = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 9, 30, tzinfo=amsterdam)
    customer = create_customer(departed_at=moment)
    db.session.expire_all()
    stored = db.session.get(Customer, customer.id).departed_at
    assert stored == moment
    assert stored.tzinfo == UTC


def test_naive_times_are_refused(db):
    db.session.add(
        Customer(external_id="N", departed_at=datetime(2026, 1, 1), source="csv")
    )
    with pytest.raises(StatementError):
        db.session.commit()
    db.session.rollback()


def test_deleting_a_customer_removes_their_invitations(db, create_customer, version):
    customer = create_customer()
    db.session.add(
        Invitation(customer=customer, survey=version.survey, scheduled_for=clock.now())
    )
    db.session.commit()
    db.session.execute(sa.delete(Customer).where(Customer.id == customer.id))
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Invitation.id))) == 0
