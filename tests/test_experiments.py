"""Keep calls with a random, recorded control group: the draw, who may be
called, one open experiment per customer, and the comparison in numbers."""

import math
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from karn import clock
from karn.callbacks import operations as calls
from karn.callbacks.models import CallTask
from karn.customers.models import Customer
from karn.enums import (
    CallTaskSource,
    CallTaskStatus,
    CustomerStatus,
    ExperimentGroup,
    ExperimentKind,
    InvitationStatus,
)
from karn.experiments import comparison, keepcalls, operations
from karn.experiments.models import Assignment, Experiment
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation
from tests.conftest import csrf_token


def _active(db, n: int, **fields) -> list[Customer]:
    """n active customers with a phone number and revenue, added at once."""
    people = [
        Customer(
            external_id=f"A{i:05d}",
            email=f"active{i}@example.com",
            name=f"Active {i}",
            status=CustomerStatus.ACTIVE,
            departed_at=None,
            source="manual",
            language="nl",
            phone=f"06{i:08d}",
            monthly_revenue=Decimal("250"),
            **fields,
        )
        for i in range(n)
    ]
    db.session.add_all(people)
    db.session.commit()
    return people


def _groups(experiment) -> dict[ExperimentGroup, set[int]]:
    from karn.extensions import db

    out = {g: set() for g in ExperimentGroup}
    for a in db.session.scalars(
        sa.select(Assignment).where(Assignment.experiment_id == experiment.id)
    ):
        out[a.group].add(a.customer_id)
    return out


def _wilson(x: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def test_the_textbook_comparison():
    # 1,000 called with 60 departures against 250 held back with 5.
    result = comparison.compare((60, 1000), (5, 250), lower_is_better=True)
    assert result.treated_rate == pytest.approx(0.06)
    assert result.held_back_rate == pytest.approx(0.02)
    assert round(result.difference * 100, 1) == 4.0
    assert result.method == "z"
    assert result.p_value < 0.05
    assert result.p_value == pytest.approx(0.0108, abs=0.0005)
    # Newcombe's hybrid score interval from the two Wilson intervals.
    l1, u1 = _wilson(60, 1000)
    l2, u2 = _wilson(5, 250)
    low = 0.04 - math.sqrt((0.06 - l1) ** 2 + (u2 - 0.02) ** 2)
    high = 0.04 + math.sqrt((u1 - 0.06) ** 2 + (0.02 - l2) ** 2)
    assert result.ci_low == pytest.approx(low, abs=1e-9)
    assert result.ci_high == pytest.approx(high, abs=1e-9)
    assert 0 < result.ci_low < result.ci_high
    # For keep calls the outcome is a departure: more of them is worse.
    assert result.kind == "worse"
    assert comparison.compare((60, 1000), (5, 250), lower_is_better=False).kind == (
        "better"
    )


def _fisher_two_sided(x1: int, n1: int, x2: int, n2: int) -> float:
    total, events = n1 + n2, x1 + x2

    def prob(k: int) -> float:
        return math.comb(n1, k) * math.comb(n2, events - k) / math.comb(total, events)

    observed = prob(x1)
    ks = range(max(0, events - n2), min(n1, events) + 1)
    return sum(prob(k) for k in ks if prob(k) <= observed * (1 + 1e-7))


def test_fisher_decides_on_small_counts():
    # Expected departures among the held back: 5 * 4/25 = 0.8, under 5.
    result = comparison.compare((1, 20), (3, 5), lower_is_better=True)
    assert result.method == "fisher"
    assert result.p_value == pytest.approx(_fisher_two_sided(1, 20, 3, 5))
    assert result.kind == "better"
    # With large groups the two-proportion test decides.
    assert comparison.compare((30, 200), (20, 200), lower_is_better=True).method == (
        "z"
    )


def test_too_few_customers_says_how_many_are_needed(app):
    from flask_babel import force_locale

    result = comparison.compare((8, 100), (3, 25), lower_is_better=True)
    assert result.kind == "too_small"
    assert result.needed and result.needed_treated > 100
    with app.test_request_context(), force_locale("en"):
        text = keepcalls._headline(result, "en")
    assert text.startswith("Too few customers yet to tell: about ")
    assert f"{result.needed:,} per group needed" in text


def test_the_draw_is_random_recorded_and_checkable(app, db):
    people = _active(db, 2000)
    experiment, already = operations.start(
        ExperimentKind.KEEP_CALL, people, None, share=0.8, horizon_days=90
    )
    db.session.commit()
    assert already == []
    rows = db.session.scalars(
        sa.select(Assignment).where(Assignment.experiment_id == experiment.id)
    ).all()
    assert len(rows) == 2000
    treated = sum(1 for r in rows if r.group == ExperimentGroup.TREATED)
    # 0.8 ± 4.5 standard deviations (0.009 each) of a fair draw.
    assert abs(treated / 2000 - 0.8) < 0.04
    # Every group follows from its stored draw.
    assert all(r.group == operations.group_for(r.draw, 0.8) for r in rows)
    assert all(0.0 <= r.draw < 1.0 for r in rows)
    assert abs(sum(r.draw for r in rows) / 2000 - 0.5) < 0.03
    # Not the first 80% of the list: who is held back does not follow the order.
    first_half = {p.id for p in people[:1000]}
    held = {r.customer_id for r in rows if r.group == ExperimentGroup.HELD_BACK}
    assert 0.35 < len(held & first_half) / len(held) < 0.65
    assert all(r.ends_at - r.assigned_at == timedelta(days=90) for r in rows)


def test_held_back_customers_never_get_call_tasks(app, db, create_customer):
    # Even odds, so neither group is ever empty (2 * 0.5 ** 40).
    app.config["KEEP_CALL_SHARE"] = 0.5
    people = _active(db, 40)
    plan = keepcalls.plan([p.id for p in people], None)
    db.session.commit()
    groups = _groups(plan.experiment)
    held, treated = groups[ExperimentGroup.HELD_BACK], groups[ExperimentGroup.TREATED]
    assert held and treated and plan.treated == len(treated)
    tasks = db.session.scalars(sa.select(CallTask)).all()
    assert {t.customer_id for t in tasks} == treated
    assert {t.source for t in tasks} == {CallTaskSource.KEEP_CALL}

    # All of them leave and stay silent after the survey's last reminder, as
    # does one valuable customer outside the experiment.
    outsider = create_customer(phone="0699", monthly_revenue=Decimal("400"))
    survey, _ = ensure_default_survey()
    now = clock.now()
    for customer in [*people, outsider]:
        customer.status = CustomerStatus.DEPARTED
        customer.departed_at = now - timedelta(days=30)
        db.session.add(
            Invitation(
                customer=customer,
                survey=survey,
                status=InvitationStatus.REMINDED,
                scheduled_for=now - timedelta(days=30),
                sent_at=now - timedelta(days=25),
                reminders_sent=2,
                last_reminded_at=now - timedelta(days=10),
            )
        )
    db.session.commit()
    for task in tasks:  # the keep calls are over
        task.status = CallTaskStatus.DONE
    db.session.commit()
    calls.queue_silent_high_value()
    db.session.commit()
    called = set(db.session.scalars(sa.select(CallTask.customer_id)))
    assert outsider.id in called
    assert not called & held
    # A manager's selection and adding by hand skip them too.
    chosen = set(db.session.scalars(calls.selection_candidates()))
    assert not chosen & held
    with pytest.raises(calls.CallError) as error:
        calls.add_task(db.session.get(Customer, min(held)), CallTaskSource.MANUAL, None)
    assert error.value.code == "held_back"

    # After the horizon they may be called again.
    clock.freeze(now + timedelta(days=91))
    try:
        assert set(db.session.scalars(calls.selection_candidates())) >= held
    finally:
        clock.freeze(None)


def _manager(create_user, login):
    user = create_user("manager")
    login(user)
    return user


def test_one_open_experiment_per_customer(app, db, client, create_user, login):
    _manager(create_user, login)
    people = _active(db, 6)
    ids = [str(p.id) for p in people]
    token = csrf_token(client, "/at-risk/")
    response = client.post(
        "/at-risk/keep-calls",
        data={"csrf_token": token, "mode": "selected", "customer": ids[:4]},
    )
    assert response.status_code == 302
    assert re.search(r"/keep-calls/\d+$", response.location)
    assert db.session.scalar(sa.select(sa.func.count(Experiment.id))) == 1
    # Choosing two of them again with two new ones: the two are left out.
    response = client.post(
        "/at-risk/keep-calls",
        data={"csrf_token": token, "mode": "selected", "customer": ids[2:]},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "2 customers are in an open keep-call experiment already" in page
    assert "Active 2" in page and "Active 3" in page
    counts = dict(
        db.session.execute(
            sa.select(Assignment.customer_id, sa.func.count()).group_by(
                Assignment.customer_id
            )
        ).all()
    )
    assert sorted(counts.values()) == [1] * 6
    # Choosing only those already drawn makes no new experiment.
    client.post(
        "/at-risk/keep-calls",
        data={"csrf_token": token, "mode": "selected", "customer": ids[:2]},
    )
    assert db.session.scalar(sa.select(sa.func.count(Experiment.id))) == 2
    assert operations.open_groups([people[0].id], ExperimentKind.KEEP_CALL)
    # Once the horizon is over the customer may be drawn again.
    clock.freeze(clock.now() + timedelta(days=91))
    try:
        assert not operations.open_groups([people[0].id], ExperimentKind.KEEP_CALL)
    finally:
        clock.freeze(None)


def test_results_page_counts_departures_by_assignment(
    app, db, client, create_user, login
):
    manager = _manager(create_user, login)
    app.config["KEEP_CALL_SHARE"] = 0.5
    people = _active(db, 40)
    plan = keepcalls.plan([p.id for p in people], manager)
    db.session.commit()
    groups = _groups(plan.experiment)
    held = sorted(groups[ExperimentGroup.HELD_BACK])
    treated = sorted(groups[ExperimentGroup.TREATED])
    # One held-back and one called customer leave within the horizon.
    later = clock.now() + timedelta(days=5)
    for cid in (held[0], treated[0]):
        c = db.session.get(Customer, cid)
        c.status, c.departed_at = CustomerStatus.DEPARTED, later
    db.session.commit()
    result = keepcalls.measure(plan.experiment, "en")
    assert result.treated.customers == len(treated)
    assert result.held_back.customers == len(held)
    assert (result.treated.departed, result.held_back.departed) == (1, 1)
    assert result.treated.revenue_kept == Decimal(250) * (len(treated) - 1)
    assert result.comparison.method == "fisher"
    response = client.get(f"/keep-calls/{plan.experiment.id}?lang=nl")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    rate = f"{100 / len(held):.1f}".replace(".", ",")
    assert f"({rate}%)" in page
    assert "Nog te weinig klanten om iets te zeggen" in page
    listing = client.get("/keep-calls/?lang=en").get_data(as_text=True)
    assert f'data-experiment="{plan.experiment.id}"' in listing
    draws = client.get(f"/keep-calls/{plan.experiment.id}/draws.csv")
    assert draws.get_data(as_text=True).count("held_back") == len(held)


def test_assignments_are_exported_and_erased(app, db):
    from karn.privacy.operations import erase_customer, export_person

    people = _active(db, 3)
    operations.start(ExperimentKind.KEEP_CALL, people, None, share=0.5, horizon_days=30)
    db.session.commit()
    data = export_person(people[0])
    assert len(data["experiment_assignments"]) == 1
    row = data["experiment_assignments"][0]
    assert row["kind"] == "keep_call" and row["group"] in ("treated", "held_back")
    report = erase_customer(people[0])
    db.session.commit()
    assert report.removed["experiment_assignments"] == 1
    left = set(db.session.scalars(sa.select(Assignment.customer_id)))
    assert left == {people[1].id, people[2].id}


def test_the_digest_reports_running_keep_calls(app, db):
    from flask import render_template

    from karn.digest import content

    app.config["KEEP_CALL_SHARE"] = 0.5
    people = _active(db, 40)
    plan = keepcalls.plan([p.id for p in people], None)
    db.session.commit()
    today = clock.now().date()
    digest = content.build(today - timedelta(days=3), today + timedelta(days=3), "nl")
    assert [line.experiment_id for line in digest.keep_calls] == [plan.experiment.id]
    line = digest.keep_calls[0]
    assert line.headline.startswith("Nog te weinig klanten om iets te zeggen")
    assert f"Van de {plan.treated} klanten op de bellijst" in line.groups_text
    with app.test_request_context():
        text = render_template(
            "email/digest.txt", digest=digest, company="Karn", lang="nl"
        )
    assert digest.headings["keep_calls"].upper() in text
    assert line.headline in text
    # A period before the draw has nothing to say about it.
    earlier = content.build(
        today - timedelta(days=40), today - timedelta(days=10), "en"
    )
    assert earlier.keep_calls == []


def test_customers_on_the_call_list_already_are_not_drawn(app, db):
    """They would be called whatever the draw said, so they cannot be held
    back: they are left out and counted as such."""
    people = _active(db, 6)
    calls.add_task(people[0], CallTaskSource.MANUAL, None)
    db.session.commit()
    plan = keepcalls.plan([p.id for p in people], None)
    db.session.commit()
    assert plan.on_call_list == 1
    drawn = {
        a.customer_id
        for a in db.session.scalars(
            sa.select(Assignment).where(Assignment.experiment_id == plan.experiment.id)
        )
    }
    assert drawn == {p.id for p in people[1:]}


def test_a_finished_result_stays_when_its_people_are_erased(app, db):
    from karn.privacy.operations import erase_customer

    people = _active(db, 12)
    experiment, _ = operations.start(
        ExperimentKind.KEEP_CALL, people, None, share=0.5, horizon_days=30
    )
    db.session.commit()
    groups = _groups(experiment)
    leavers = [
        sorted(groups[ExperimentGroup.TREATED])[0],
        sorted(groups[ExperimentGroup.HELD_BACK])[0],
    ]
    for cid in leavers:
        customer = db.session.get(Customer, cid)
        customer.status = CustomerStatus.DEPARTED
        customer.departed_at = clock.now() + timedelta(days=10)
    db.session.commit()
    clock.freeze(clock.now() + timedelta(days=31))
    try:
        before = keepcalls.figures(experiment)
        assert experiment.closed_at is None
        # Erasing both leavers (a request, or retention years later) removes
        # their assignments, but the finished result is what it was.
        for cid in leavers:
            erase_customer(db.session.get(Customer, cid))
            db.session.commit()
        assert experiment.closed_at is not None
        assert (
            db.session.scalar(
                sa.select(sa.func.count()).where(Assignment.customer_id.in_(leavers))
            )
            == 0
        )
        after = keepcalls.figures(experiment)
        assert after == before
        assert after[ExperimentGroup.TREATED].departed == 1
        assert after[ExperimentGroup.HELD_BACK].departed == 1
    finally:
        clock.freeze(None)


def test_a_running_result_loses_the_erased(app, db):
    from karn.privacy.operations import erase_customer

    people = _active(db, 6)
    experiment, _ = operations.start(
        ExperimentKind.KEEP_CALL, people, None, share=0.5, horizon_days=30
    )
    db.session.commit()
    total = sum(f.customers for f in keepcalls.figures(experiment).values())
    erase_customer(people[0])
    db.session.commit()
    assert experiment.closed_at is None
    after = sum(f.customers for f in keepcalls.figures(experiment).values())
    assert after == total - 1
