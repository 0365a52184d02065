"""The funnel's totals and cells always say what counting the customers and
invitations says.

Customers arrive by import, are invited and reminded through a real SMTP
server (one address is refused), answer through their links or unsubscribe,
their links expire; then an import and the form change their segments,
revenue, departure dates and imported attributes, one is erased and
retention erases the rest. After every step each filter gives the same
funnel as counting the customers and invitations by hand, from the totals
where they answer and from the cells always, whether or not the worker has
folded the changes in yet; and the folded totals and cells equal a rebuild
and the migrations' fill.
"""

import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from karn import clock
from karn.analysis import funnel, queries
from karn.analysis.models import FunnelCell, FunnelChange, FunnelTotal
from karn.analysis.queries import Filters
from karn.analysis.totals import REVENUE_BANDS, TENURE_BANDS
from karn.customers.models import Customer
from karn.customers.operations import save_customer, upsert_departures
from karn.enums import Source
from karn.privacy.operations import enforce_retention, erase_customer
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from karn.worker import Worker
from tests.conftest import csrf_token
from tests.test_analysis_totals import migration

# A Monday, 11:00 in Amsterdam: outside the quiet hours.
START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# external id, source, segment, plan, region, tenure, revenue, days before START
PEOPLE = [
    ("F1", Source.CSV, "MKB", "Plus", "Noord", 3, "40.00", 0),
    ("F2", Source.CSV, "MKB", "Basis", "Noord", 6, "60.00", 0),
    ("F3", Source.CSV, "Thuis", "Plus", "Zuid", 30, "12.50", 1),
    ("F4", Source.API, "Thuis", None, None, None, None, 1),
    ("F5", Source.API, None, None, "Zuid", 0, "0", 0),
    ("F6", Source.CSV, "Groot", "Premium", "Noord", 80, "900.00", 2),
    ("F7", Source.CSV, "MKB", "Plus", "Zuid", 12, "25.00", 2),
    ("F8", Source.API, "MKB", "Basis", None, 24, "30.00", 0),
]
NO_EMAIL = "F4"  # never invited, still departed
# Imported attributes of some of them.
CITY = {"F1": "Utrecht", "F2": "Utrecht", "F6": "Amsterdam", "F8": "Utrecht"}
REFUSED = "f6@example.nl"  # the SMTP server refuses it

FILTERS = [
    {},
    {"since": "2026-03-01"},
    {"until": "2026-02-28"},
    {"since": "2026-02-28", "until": "2026-02-28"},
    {"segment": "MKB"},
    {"segment": "Thuis", "since": "2026-03-01"},
    {"segment": "Nobody"},
    {"plan": "Plus"},
    {"region": "Noord", "until": "2026-03-01"},
    {"source": "csv"},
    {"source": "api"},
    {"tenure": "0-6"},
    {"tenure": "24-60"},
    {"revenue": "25-50"},
    {"revenue": "250+"},
    # The version, language and response period do not narrow the funnel.
    {"language": "en", "segment": "MKB"},
    # Summed from the cells: the totals cannot answer these.
    {"segment": "MKB", "plan": "Plus"},
    {"segment.city": "Utrecht"},
    {"segment.city": "Utrecht", "plan": "Basis"},
    {"segment.city": "Amsterdam", "since": "2026-03-01"},
    {"segment.city": "Rotterdam"},
]


@pytest.fixture
def app_settings(mail_settings):
    return {**mail_settings, "BASE_URL": "http://karn.example.nl"}


@pytest.fixture(autouse=True)
def _clock():
    clock.freeze(START)
    yield
    clock.freeze(None)


def depart(people) -> None:
    rows = []
    for ext, source, segment, plan, region, tenure, revenue, days in people:
        fields = {
            "external_id": ext,
            "departed_at": START - timedelta(days=days, hours=1),
            "segment": segment,
            "plan": plan,
            "region": region,
            "tenure_months": tenure,
            "monthly_revenue": Decimal(revenue) if revenue else None,
            "language": "nl" if ext < "F5" else "en",
        }
        if ext != NO_EMAIL:
            fields["email"] = f"{ext.lower()}@example.nl"
        extra = {"city": CITY[ext]} if ext in CITY else {}
        rows.append((source, fields, extra))
    for source in (Source.CSV, Source.API):
        upsert_departures([(f, e) for s, f, e in rows if s == source], source)


def _band(value, bands) -> str | None:
    for code, (low, high) in bands.items():
        if value is not None and value >= low and (high is None or value < high):
            return code
    return None


def by_hand(db, f: Filters) -> dict:
    """The funnel counted customer by customer and invitation by invitation."""
    out = dict.fromkeys(
        ("departed", "invited", "delivered", "responded", "bounced", "unsubscribed"), 0
    )
    after = dict.fromkeys(range(3), 0)
    for customer in db.session.scalars(sa.select(Customer)):
        day = customer.departed_at.date()
        values = {
            "segment": customer.segment,
            "plan": customer.plan,
            "region": customer.region,
            "source": customer.source.value,
            "tenure": _band(customer.tenure_months, TENURE_BANDS),
            "revenue": _band(customer.monthly_revenue, REVENUE_BANDS),
        }
        if (
            (f.since and day < f.since)
            or (f.until and day > f.until)
            or any(getattr(f, k) and getattr(f, k) != v for k, v in values.items())
            or any((customer.extra or {}).get(k) != v for k, v in f.extra)
        ):
            continue
        out["departed"] += customer.erased_at is None
        invitations = sa.select(Invitation).where(Invitation.customer_id == customer.id)
        for invitation in db.session.scalars(invitations):
            sent = invitation.sent_at is not None
            out["invited"] += sent
            out["delivered"] += sent and invitation.status not in ("bounced", "failed")
            if invitation.status == "responded":
                out["responded"] += 1
                after[invitation.reminders_sent] += 1
            out["bounced"] += invitation.status == "bounced"
            out["unsubscribed"] += invitation.status == "unsubscribed"
    return {**out, "after_reminder": after}


def from_cells(monkeypatch, f: Filters) -> dict:
    """The funnel summed from the cells, as for a filter the totals cannot answer."""
    with monkeypatch.context() as m:
        m.setattr(queries, "_funnel_scope", lambda f: None)
        return queries.funnel(f)


def snapshot(conn) -> dict:
    rows = conn.execute(sa.select(FunnelTotal.__table__)).mappings()
    return {
        tuple(row[c] for c in funnel._KEY.split(", ")): row["n"]
        for row in rows
        # A customer or invitation that moved away leaves a zero row behind.
        if row["n"]
    }


def cells(conn) -> dict:
    rows = conn.execute(sa.select(FunnelCell.__table__)).mappings()
    key = ("day", "segment", "plan", "region", "source", "tenure", "revenue")
    out = {}
    for row in rows:
        counts = tuple(row[c] for c in funnel.COUNTS)
        # Customers who moved to other values leave a row of zeros behind.
        if any(counts):
            cell = (*(row[c] for c in key), tuple(sorted(row["extra"].items())))
            out[cell] = counts
    return out


def assert_funnel_agrees(db, monkeypatch) -> None:
    """Every filter agrees with the base tables, before and after folding;
    the folded totals equal a rebuild and the migration's fill."""
    db.session.commit()
    for args in FILTERS:
        f = Filters.from_args(args)
        assert (queries._funnel_scope(f) is None) == (
            "plan" in args and "segment" in args or "segment.city" in args
        ), args
        kept = queries.funnel(f)
        assert kept == by_hand(db, f), args
        assert from_cells(monkeypatch, f) == kept, args
        # Whole numbers, as the chart and the JSON of the page need them.
        numbers = [v for k, v in kept.items() if k != "after_reminder"]
        assert all(type(v) is int for v in numbers + [*kept["after_reminder"].values()])
    with db.engine.begin() as conn:
        funnel.compact(conn)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FunnelChange)) == 0
    for args in FILTERS:
        f = Filters.from_args(args)
        assert queries.funnel(f) == by_hand(db, f), args
        assert from_cells(monkeypatch, f) == by_hand(db, f), args
    db.session.commit()
    with db.engine.connect() as conn:
        kept, kept_cells = snapshot(conn), cells(conn)
        assert all(n > 0 for n in kept.values())
        funnel.rebuild(conn)
        assert snapshot(conn) == kept
        assert cells(conn) == kept_cells
        conn.execute(sa.delete(FunnelTotal))
        conn.execute(sa.delete(FunnelCell))
        conn.execute(
            sa.text(migration("e5b7c9d1f3a2").fill_statement(conn.dialect.name))
        )
        assert snapshot(conn) == kept
        with Operations.context(MigrationContext.configure(conn)):
            migration("d4ba5ef2e9be")._fill_cells(conn.dialect.name)
        assert cells(conn) == kept_cells
        conn.rollback()


def run_worker(app, at: timedelta) -> None:
    clock.freeze(START + at)
    Worker(app, "test-worker").run_once()


def links(smtp_server) -> dict[str, tuple[str, str]]:
    """Survey and unsubscribe link per recipient, from the mail received."""
    out = {}
    for _sender, recipients, message in smtp_server.handler.messages:
        text = message.get_body(("plain",)).get_content()
        survey = re.search(r"http://karn\.example\.nl(/s/[\w-]+)", text)[1]
        header = message["List-Unsubscribe"]
        stop = re.search(r"<http://karn\.example\.nl(/u/[^>]+)>", header)[1]
        out.setdefault(recipients[0], (survey, stop))
    return out


def answer(client, link: str) -> None:
    data = {
        "csrf_token": csrf_token(client, link),
        "q_main_reason": "price",
        "q_ratings__service": "2",
        "q_ratings__quality": "4",
        "q_ratings__value": "3",
        "q_come_back": "5",
        "q_callback": "no",
    }
    assert client.post(link, data=data).status_code == 302


def test_funnel_totals_match_the_base_tables_through_the_whole_flow(
    app, db, client, smtp_server, monkeypatch, runner
):
    ensure_default_survey()
    db.session.commit()
    smtp_server.handler.refuse[REFUSED] = "550 5.1.1 No such user"
    depart(PEOPLE)
    db.session.commit()
    # Scheduled, not yet sent; the worker has not folded anything in yet.
    f = Filters()
    assert queries.funnel(f)["departed"] == len(PEOPLE)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FunnelTotal)) == 0
    assert_funnel_agrees(db, monkeypatch)

    # Invitations go out (one address refused), two answer, one unsubscribes.
    run_worker(app, timedelta(hours=50))
    sent = links(smtp_server)
    assert len(sent) == len(PEOPLE) - 2
    answer(client, sent["f1@example.nl"][0])
    answer(client, sent["f5@example.nl"][0])
    stop = client.post(sent["f2@example.nl"][1], data={"List-Unsubscribe": "One-Click"})
    assert stop.status_code == 200
    assert_funnel_agrees(db, monkeypatch)

    # A hard bounce marks one address; two reminders, then the links expire;
    # one answers after the first reminder.
    bounced = db.session.scalar(sa.select(Customer).where(Customer.external_id == "F7"))
    bounced.bounced_at = clock.now()
    db.session.commit()
    run_worker(app, timedelta(days=7, hours=3))
    answer(client, sent["f3@example.nl"][0])
    run_worker(app, timedelta(days=14, hours=3))
    assert_funnel_agrees(db, monkeypatch)
    assert queries.funnel(f)["after_reminder"] == {0: 2, 1: 1, 2: 0}
    run_worker(app, timedelta(days=70))
    statuses = db.session.scalars(sa.select(Invitation.status)).all()
    assert {"expired", "bounced", "failed", "unsubscribed"} <= set(statuses)

    # A new export moves people between segments and bands and days; the form
    # corrects one customer twice in a transaction; one change is rolled back.
    upsert_departures(
        [
            ({"external_id": "F1", "segment": "Groot", "monthly_revenue": 80}, {}),
            ({"external_id": "F3", "plan": "Premium", "tenure_months": 70}, {}),
            (
                {"external_id": "F7", "departed_at": START + timedelta(days=69)},
                {},
            ),
            # Only an imported attribute changes.
            ({"external_id": "F8"}, {"city": "Amsterdam"}),
        ],
        Source.CSV,
    )
    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == "F8")
    )
    save_customer(customer, {"segment": "Thuis", "region": "Noord"})
    save_customer(customer, {"plan": "Plus", "monthly_revenue": Decimal("120")})
    db.session.commit()
    assert_funnel_agrees(db, monkeypatch)
    save_customer(customer, {"segment": "MKB"})
    db.session.rollback()
    assert_funnel_agrees(db, monkeypatch)

    # An erased customer no longer counts as departed; retention erases the rest.
    erase_customer(
        db.session.scalar(sa.select(Customer).where(Customer.external_id == "F2"))
    )
    db.session.commit()
    assert queries.funnel(f)["departed"] == len(PEOPLE) - 1
    assert_funnel_agrees(db, monkeypatch)
    enforce_retention(now=START + timedelta(days=3 * 365))
    assert queries.funnel(f)["departed"] == 0
    assert_funnel_agrees(db, monkeypatch)

    # The command recomputes the same totals.
    result = runner.invoke(args=["analysis", "rebuild-totals"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(FunnelTotal))
    assert f"trechtertotalen: {rows} rijen" in result.output  # the default, Dutch
    assert_funnel_agrees(db, monkeypatch)


def test_writers_of_the_same_funnel_rows_do_not_wait_for_each_other(db):
    """Two transactions changing invitations counted in the same totals rows
    both get through at once: the triggers only add rows."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (KARN_TEST_DB=postgresql)")
    ensure_default_survey()
    # The same departure day: the same rows under everyone, segment and region.
    depart([p for p in PEOPLE if p[0] in ("F1", "F2")])
    db.session.commit()
    ids = db.session.scalars(sa.select(Invitation.id).order_by(Invitation.id)).all()
    assert len(ids) == 2
    db.session.commit()
    engine = db.engine
    first = engine.connect()
    done, errors = threading.Event(), []

    def second():
        try:
            with engine.begin() as conn:
                conn.execute(
                    sa.update(Invitation)
                    .where(Invitation.id == ids[1])
                    .values(status="cancelled")
                )
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=second)
    try:
        first.begin()
        first.execute(
            sa.update(Invitation)
            .where(Invitation.id == ids[0])
            .values(status="cancelled")
        )
        thread.start()
        assert done.wait(5), "the second writer waited for the first"
        first.commit()
    finally:
        first.close()
        thread.join(10)
    assert not errors
    with db.engine.begin() as conn:
        funnel.compact(conn)
    assert queries.funnel(Filters())["departed"] == 2
    rows = dict(
        db.session.execute(
            sa.select(FunnelTotal.stage, FunnelTotal.n).where(
                FunnelTotal.attribute == "", FunnelTotal.n != 0
            )
        ).all()
    )
    assert rows == {"departed": 2, "cancelled": 2}
