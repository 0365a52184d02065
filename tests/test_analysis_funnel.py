"""The funnel counts each stage by hand-checkable rules, with and without filters."""

from datetime import UTC, datetime, timedelta

from karn.analysis import queries
from karn.analysis.queries import Filters
from karn.enums import InvitationStatus as S
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation

LEFT = datetime(2026, 5, 10, 12, 0, tzinfo=UTC)
# segment, departed days before LEFT, invitation status, sent, reminders, erased
PEOPLE = [
    ("MKB", 0, S.RESPONDED, True, 0, False),
    ("MKB", 0, S.RESPONDED, True, 2, False),
    ("MKB", 40, S.RESPONDED, True, 1, False),
    ("MKB", 0, S.BOUNCED, True, 0, False),
    ("Particulier", 0, S.UNSUBSCRIBED, True, 0, False),
    ("Particulier", 0, S.FAILED, True, 0, False),
    ("Particulier", 0, S.EXPIRED, True, 2, True),
    ("Particulier", 0, S.SCHEDULED, False, 0, False),
    ("Particulier", 0, S.CANCELLED, False, 0, False),
    ("Particulier", 0, None, False, 0, False),
]


def make(db, create_customer, people) -> None:
    survey, _ = ensure_default_survey()
    db.session.commit()
    for segment, days, status, sent, reminders, erased in people:
        left = LEFT - timedelta(days=days)
        customer = create_customer(
            segment=segment, departed_at=left, erased_at=LEFT if erased else None
        )
        if status is not None:
            db.session.add(
                Invitation(
                    customer_id=customer.id,
                    survey_id=survey.id,
                    status=status,
                    scheduled_for=left,
                    sent_at=left if sent else None,
                    reminders_sent=reminders,
                )
            )
    db.session.commit()


def test_funnel_counts_every_stage(db, create_customer):
    make(db, create_customer, PEOPLE)

    assert queries.funnel(Filters()) == {
        "departed": 9,  # the erased person is no longer counted
        "invited": 7,
        "delivered": 5,  # bounced and failed are not
        "responded": 3,
        "bounced": 1,
        "unsubscribed": 1,
        "after_reminder": {0: 1, 1: 1, 2: 1},
    }
    since = (LEFT - timedelta(days=7)).date()
    assert queries.funnel(Filters(segment="MKB", since=since)) == {
        "departed": 3,
        "invited": 3,
        "delivered": 2,
        "responded": 2,
        "bounced": 1,
        "unsubscribed": 0,
        "after_reminder": {0: 1, 1: 0, 2: 1},
    }


def test_a_filter_that_keeps_most_customers_leaves_out_the_others(db, create_customer):
    """Most customers are MKB and left this week (SQLite then counts everyone
    and takes away the others): a customer without a segment is not counted
    under any segment, nor is one who left before the period."""
    make(
        db,
        create_customer,
        [
            ("MKB", 0, S.RESPONDED, True, 1, False),
            ("MKB", 0, S.SENT, True, 0, False),
            ("MKB", 0, S.BOUNCED, True, 0, False),
            ("MKB", 1, S.UNSUBSCRIBED, True, 0, False),
            ("MKB", 2, S.SCHEDULED, False, 0, False),
            (None, 0, S.RESPONDED, True, 0, False),
            ("MKB", 40, S.RESPONDED, True, 2, False),
        ],
    )
    since = (LEFT - timedelta(days=7)).date()
    assert queries.funnel(Filters(segment="MKB", since=since)) == {
        "departed": 5,
        "invited": 4,
        "delivered": 3,
        "responded": 1,
        "bounced": 1,
        "unsubscribed": 1,
        "after_reminder": {0: 0, 1: 1, 2: 0},
    }
