"""The daily reason totals always say what counting the responses says.

Responses come in through the real survey pages (personal links, saved
progress, the public link, two survey versions, around midnight UTC); then
customers change segment, plan and revenue by import and by the form, one is
erased and retention erases the rest. After every step each filter the totals
answer gives the same ranking and monthly counts as the base-table queries,
and the totals equal a rebuild from scratch (and the migration's fill).
"""

import importlib.util
import threading
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from karn import clock
from karn.analysis import queries, totals
from karn.analysis.models import ReasonTotal, ResponseFact
from karn.analysis.queries import Filters
from karn.customers.models import Customer
from karn.customers.operations import save_customer, upsert_departures
from karn.enums import Source
from karn.privacy.operations import enforce_retention, erase_customer
from karn.surveys import definition, delivery, links
from karn.surveys.editing import ensure_default_survey, publish
from karn.surveys.models import Invitation, Response
from tests.conftest import csrf_token

CSV, API = Source.CSV, Source.API
START = datetime(2026, 3, 29, 9, 0, tzinfo=UTC)
# Submission moments: either side of midnight UTC, and weeks apart.
MOMENTS = [
    datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
    datetime(2026, 3, 31, 23, 59, 59, 900000, tzinfo=UTC),
    datetime(2026, 4, 1, 0, 0, 0, tzinfo=UTC),
    datetime(2026, 4, 20, 8, 30, tzinfo=UTC),
]
# id, source, segment, plan, region, revenue, language, main, also, moment
PEOPLE = [
    ("T1", CSV, "MKB", "Plus", "Noord", "40.00", "nl", "service", [], 0),
    ("T2", CSV, "MKB", "Basis", "Noord", "60.00", "nl", "price", ["service"], 1),
    ("T3", CSV, "Thuis", "Plus", "Zuid", "12.5", "en", "service", ["price", "need"], 2),
    ("T4", API, "Thuis", None, None, None, "nl", "brand", [], 3),
    ("T5", API, None, None, "Zuid", "0", "en", "quality", ["brand"], 2),
    ("T6", CSV, "Groot", "Premium", "Noord", "900.00", "nl", "price", ["quality"], 1),
    ("T7", CSV, "MKB", "Plus", "Zuid", "25.00", "en", "need", [], 3),
]
# Answered later, on the second survey version (no "need" option).
LATER = [
    ("T8", CSV, "MKB", "Basis", "Noord", "30.00", "nl", "service", ["brand"], 3),
    ("T9", API, "Thuis", "Plus", None, "15.00", "en", "other", [], 3),
]

# Months a customer had been with us: either side of the bands' edges.
TENURE = {"T1": 3, "T2": 6, "T3": 30, "T5": 0, "T6": 80, "T7": 12, "T8": 24, "T9": 59}

SERVED = [
    {},
    {"since": "2026-04-01"},
    {"until": "2026-03-31"},
    {"since": "2026-03-31", "until": "2026-03-31"},
    {"language": "en"},
    {"segment": "MKB"},
    {"segment": "Thuis", "language": "nl"},
    {"plan": "Plus", "since": "2026-04-01"},
    {"region": "Noord"},
    {"source": "csv"},
    {"source": "api", "until": "2026-04-01"},
    {"source": "manual"},
    {"segment": "Nobody"},
    {"tenure": "0-6"},
    {"tenure": "24-60", "language": "nl"},
    {"tenure": "60+", "since": "2026-04-01"},
    {"revenue": "25-50"},
    {"revenue": "0-25", "until": "2026-03-31"},
    {"revenue": "250+"},
    {"by": "departure"},
    {"by": "departure", "since": "2026-03-29"},
    {"by": "departure", "until": "2026-03-28", "language": "en"},
]
# Counted from the responses: the totals cannot answer these.
NOT_SERVED = [
    {"segment": "MKB", "plan": "Plus"},
    {"tenure": "0-6", "revenue": "0-25"},
    {"by": "departure", "segment": "MKB"},
    {"segment.city": "Noord"},
    {"segment.city": "Zuid", "plan": "Premium"},
]


def answers(main: str, also: list[str], comment: str = "") -> dict:
    return {
        "q_main_reason": main,
        "q_other_reasons": also,
        "q_keep_you": comment,
        "q_switched_to": "Concurrent BV" if main == "brand" else "",
        "q_ratings__service": "2",
        "q_ratings__quality": "4",
        "q_ratings__value": "3",
        "q_come_back": "5",
        "q_callback": "no",
    }


def depart(people, departed: datetime) -> None:
    for ext, source, segment, plan, region, revenue, lang, *_rest in people:
        fields = {
            "external_id": ext,
            "email": f"{ext.lower()}@example.nl",
            "departed_at": departed,
            "segment": segment,
            "plan": plan,
            "region": region,
            "tenure_months": TENURE.get(ext),
            "monthly_revenue": Decimal(revenue) if revenue else None,
            "lifetime_value": Decimal(revenue) * 12 if revenue else None,
            "language": lang,
        }
        # An imported column, kept as an extra attribute.
        upsert_departures([(fields, {"city": region} if region else {})], source)


def link_of(db, ext: str) -> str:
    invitation = db.session.scalars(
        sa.select(Invitation)
        .join(Invitation.customer)
        .where(Customer.external_id == ext)
    ).one()
    return f"/s/{links.invitation_token(invitation.id)}"


def answer(client, db, people, save_first=()) -> None:
    """Each person answers through their link at their moment."""
    for ext, *_fields, main, also, moment in people:
        clock.freeze(MOMENTS[moment])
        url = link_of(db, ext)
        token = csrf_token(client, url)
        if ext in save_first:
            client.post(
                f"{url}/save", data={"csrf_token": token, "q_main_reason": "need"}
            )
        response = client.post(url, data={**answers(main, also), "csrf_token": token})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]


def from_responses(monkeypatch, call):
    """What call returns when the totals are not used (it reads the facts)."""
    with monkeypatch.context() as m:
        m.setattr(queries, "_totals_scope", lambda f: None)
        return call()


def rounded(counts: queries.ReasonCounts) -> dict:
    data = asdict(counts)
    for name in ("monthly_revenue", "lifetime_value"):
        data[name] = {k: round(v, 2) for k, v in data[name].items()}
    return data


def snapshot(conn) -> dict:
    rows = conn.execute(sa.select(ReasonTotal.__table__)).mappings()
    return {
        tuple(row[c] for c in totals._KEY.split(", ")): (
            row["n"],
            row["monthly_revenue"],
            row["lifetime_value"],
        )
        for row in rows
        # A count taken out and put back leaves a zero row behind.
        if row["n"] or row["monthly_revenue"] or row["lifetime_value"]
    }


def facts(conn) -> dict:
    rows = conn.execute(sa.select(ResponseFact.__table__)).mappings()
    return {row["response_id"]: dict(row) for row in rows}


def migration(revision: str):
    path = next(
        Path(__file__).parent.parent.glob(f"migrations/versions/*_{revision}_*.py")
    )
    spec = importlib.util.spec_from_file_location(f"migration_{revision}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def migrations_fill(conn) -> None:
    """Fill the totals as upgrading through the migrations that add them does."""
    first = migration("b4d2f6e8a1c3")
    conn.execute(sa.text(first._FILL.format(day=first._DAY[conn.dialect.name])))
    second = migration("c6e8a2f4b1d7")
    conn.execute(sa.text(second.fill_statement(conn.dialect.name)))
    third = migration("b9bfe324c23d")
    conn.execute(sa.text(third.fill_statement(conn.dialect.name)))


def assert_totals_agree(db, monkeypatch) -> None:
    """Every filter agrees with the responses; the totals equal a rebuild."""
    db.session.commit()
    for args in SERVED + NOT_SERVED:
        f = Filters.from_args(args)
        assert (queries._totals_scope(f) is not None) == (args in SERVED), args
        for secondary in (True, False):
            kept = queries.reason_counts(f, secondary=secondary)
            counted = from_responses(
                monkeypatch, lambda f=f, s=secondary: queries.reason_counts(f, s)
            )
            assert rounded(kept) == rounded(counted), args
        counted = from_responses(monkeypatch, lambda f=f: queries.monthly_counts(f))
        assert queries.monthly_counts(f) == counted, args
    with db.engine.connect() as conn:
        kept, kept_facts = snapshot(conn), facts(conn)
        submitted = sa.select(Response.id).where(Response.submitted_at.is_not(None))
        assert set(kept_facts) == set(conn.scalars(submitted))
        assert all(n >= 0 for n, _m, _l in kept.values())
        totals.rebuild(conn)
        assert snapshot(conn) == kept
        assert facts(conn) == kept_facts
        conn.execute(sa.text("DELETE FROM reason_totals"))
        conn.execute(sa.text("DELETE FROM response_facts"))
        migrations_fill(conn)
        assert snapshot(conn) == kept
        assert facts(conn) == kept_facts
        conn.rollback()


@pytest.fixture
def answered(client, db):
    clock.freeze(START)
    survey, _ = ensure_default_survey()
    db.session.commit()
    depart(PEOPLE, START - timedelta(days=3))
    db.session.commit()
    delivery.run_due()
    answer(client, db, PEOPLE, save_first={"T2", "T7"})
    # A second version without "need", and two people invited to it.
    clock.freeze(MOMENTS[2])
    questions = definition.default_questions()
    for question in questions[:2]:
        question["options"] = [o for o in question["options"] if o["value"] != "need"]
    publish(survey, questions)
    db.session.commit()
    depart(LATER, MOMENTS[2] - timedelta(days=3))
    db.session.commit()
    delivery.run_due()
    answer(client, db, LATER)
    # The public link: one anonymous answer, one who asks to be called back
    # (and so becomes a customer of source "manual").
    clock.freeze(MOMENTS[3])
    url = f"/a/{survey.public_token}"
    for extra in ({}, {"q_callback": "yes", "q_callback_phone__phone": "0612345678"}):
        data = {**answers("price", ["service"]), **extra}
        response = client.post(
            url, data={**data, "csrf_token": csrf_token(client, url)}
        )
        assert response.status_code == 200
    yield survey
    clock.freeze(None)


def test_totals_match_the_responses_through_changes_and_erasure(
    answered, db, monkeypatch, runner
):
    submitted = db.session.scalar(
        sa.select(sa.func.count()).where(Response.submitted_at.is_not(None))
    )
    assert submitted == len(PEOPLE) + len(LATER) + 2
    assert queries.reason_counts(Filters()).n == submitted
    assert_totals_agree(db, monkeypatch)

    # A new export moves people between segments and plans and changes revenue;
    # someone who never answered changes too.
    clock.freeze(MOMENTS[3] + timedelta(days=1))
    upsert_departures(
        [
            ({"external_id": "T1", "segment": "Groot", "monthly_revenue": 80}, {}),
            ({"external_id": "T3", "plan": "Premium", "region": "Noord"}, {}),
            ({"external_id": "T5", "segment": "MKB", "lifetime_value": 5}, {}),
            ({"external_id": "T8", "monthly_revenue": Decimal("31.5")}, {}),
            ({"external_id": "T7", "tenure_months": 2}, {}),
            (
                {"external_id": "T9", "departed_at": MOMENTS[3] + timedelta(hours=20)},
                {},
            ),
            ({"external_id": "N1", "email": "n1@example.nl", "segment": "MKB"}, {}),
            # Only an imported attribute changes.
            ({"external_id": "T6"}, {"city": "Zuid"}),
        ],
        Source.CSV,
    )
    db.session.commit()
    assert queries.reason_counts(Filters(segment="Groot")).counts == {
        "service": 1,
        "price": 1,
    }
    # The form: a manager corrects a customer, twice in one transaction.
    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == "T4")
    )
    save_customer(customer, {"segment": "MKB", "monthly_revenue": Decimal("9")})
    save_customer(customer, {"plan": "Basis", "monthly_revenue": Decimal("10")})
    db.session.commit()
    assert_totals_agree(db, monkeypatch)

    # A change rolled back leaves the totals as they were.
    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == "T6")
    )
    save_customer(customer, {"segment": "MKB"})
    db.session.rollback()
    assert_totals_agree(db, monkeypatch)

    # Erasure keeps responses and these attributes: nothing moves.
    erase_customer(
        db.session.scalar(sa.select(Customer).where(Customer.external_id == "T2"))
    )
    db.session.commit()
    assert_totals_agree(db, monkeypatch)
    report = enforce_retention(now=MOMENTS[3] + timedelta(days=3 * 365))
    assert report.customers >= len(PEOPLE) + len(LATER)
    assert_totals_agree(db, monkeypatch)

    # The command recomputes the same totals.
    result = runner.invoke(args=["analysis", "rebuild-totals"])
    assert result.exit_code == 0, result.output
    rows = db.session.scalar(sa.select(sa.func.count()).select_from(ReasonTotal))
    assert f" {rows} " in result.output
    assert_totals_agree(db, monkeypatch)


def test_totals_answer_the_dashboard_and_api(answered, client, db, create_user, login):
    login(create_user("manager", language="en"))
    page = client.get("/analysis/?segment=MKB").get_data(as_text=True)
    mkb = queries.reason_counts(Filters(segment="MKB"))
    assert f"{mkb.n} respondents" in page
    # Ranking by revenue comes from the totals too.
    from karn.accounts.operations import create_api_key

    _key, secret = create_api_key("totals")
    db.session.commit()
    data = client.get(
        "/api/v1/rankings?weight=revenue&region=Noord",
        headers={"Authorization": f"Bearer {secret}"},
    ).get_json()
    revenue = {row["reason"]: row["revenue"] for row in data["reasons"]}
    # Noord: T1 service 40, T2 price 60, T6 price 900, T8 service 30.
    assert revenue["price"] == 960 and revenue["service"] == 70


def test_concurrent_submissions_both_count(answered, db):
    """Two transactions adding to the same totals rows at once lose nothing."""
    ids = db.session.scalars(
        sa.select(Response.id)
        .where(Response.submitted_at.is_not(None))
        .order_by(Response.id)
        .limit(2)
    ).all()
    db.session.commit()
    with db.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM reason_totals"))
        conn.execute(sa.text("DELETE FROM response_facts"))
        # Both responses on the same day, language and reasons: the same rows.
        conn.execute(
            sa.update(Response)
            .where(Response.id == ids[1])
            .values(submitted_at=MOMENTS[0], language="nl", primary_reason="service")
        )
        conn.execute(
            sa.update(Response)
            .where(Response.id == ids[0])
            .values(submitted_at=MOMENTS[0], language="nl", primary_reason="service")
        )
    engine = db.engine
    first = engine.connect()
    done = threading.Event()
    errors = []

    def second():
        try:
            with engine.begin() as conn:
                totals.add_response(conn, ids[1])
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=second)
    try:
        first.begin()
        totals.add_response(first, ids[0])  # holds its rows until it commits
        thread.start()
        # The second waits for the first (PostgreSQL: the row lock; SQLite: the
        # database lock, within its busy timeout).
        assert not done.wait(0.5), errors
        first.commit()
    finally:
        first.close()
        if thread.ident is not None:
            thread.join(15)
    assert not errors
    with db.engine.connect() as conn:
        n = conn.execute(
            sa.select(ReasonTotal.n).where(
                ReasonTotal.attribute == "",
                ReasonTotal.reason == "service",
                ReasonTotal.is_secondary.is_(False),
            )
        ).scalar_one()
    assert n == 2


def test_demo_data_is_counted_in_the_totals(app, db, monkeypatch):
    from karn.demo.seed import seed_demo

    seed_demo(customers=80, months=3, seed=3)
    assert queries.reason_counts(Filters()).n > 0
    assert_totals_agree(db, monkeypatch)
