"""A column that tells who has already left, rather than who may leave, never
becomes a feature, whatever its name: one filled in only at a departure, one
cleared by it, an amount set to 0 on leaving. Strong honest predictors stay.
The manager is told which columns were left out for it."""

import json

import numpy as np
import sqlalchemy as sa

from karn.customers.models import Customer
from karn.risk import features, operations
from karn.risk.models import TELLS
from tests.test_risk import population


def records(n=2000, seed=3):
    """Customers with honest predictors and, beside them, columns that leak."""
    rng = np.random.default_rng(seed)
    monthly = rng.random(n) < 0.5
    # Month-to-month customers leave far more often: 40% against 4%.
    left = rng.random(n) < np.where(monthly, 0.4, 0.04)
    out = []
    for i in range(n):
        extra = {
            # Neutral names: only the values give them away.
            "Category": ["Competitor", "Price", "Moved"][i % 3] if left[i] else "",
            # Filled in for most who stay, cleared for all who left.
            "Loyalty card": "" if left[i] or i % 4 == 0 else ["Gold", "Silver"][i % 2],
            "Renewal": "" if left[i] else ["automatic", "by hand"][i % 2],
            "Segment code": "A" if left[i] else ["A", "B", "C"][i % 3],
            # Honest: a new offer nobody has left from yet, held by a few;
            # the others have nothing written there.
            "Offer": "Spring" if not left[i] and i % 9 == 0 else "",
            "Support calls": str(int(rng.poisson(4 if left[i] else 1.5))),
            # A postal code is an address, not a number to weigh.
            "Zipcode": str(90000 + i % 500),
        }
        out.append(
            {
                "departed": bool(left[i]),
                "plan": "monthly" if monthly[i] else "yearly",
                "tenure_months": int(rng.integers(1, 60)),
                # Set to 0 when a customer leaves: tells the label, not the risk.
                "monthly_revenue": 0.0 if left[i] else float(20 + i % 40),
                "extra": extra,
            }
        )
    return out


def test_columns_that_tell_who_left_are_left_out_and_honest_ones_kept():
    fitted = features.fit(records())
    kept = set(fitted.names)
    assert {"plan", "tenure_months", "extra:Support calls", "extra:Offer"} <= kept
    for name in (
        "monthly_revenue",
        "extra:Category",
        "extra:Loyalty card",
        "extra:Renewal",
    ):
        assert fitted.left_out.get(name) == TELLS, name
    assert fitted.left_out["extra:Zipcode"] == "name"
    # Kept in when the user names it: by the file's header, or the field's.
    named = features.fit(records(), keep=frozenset({"MonthlyCharges", "renewal"}))
    assert {"monthly_revenue", "extra:Renewal"} <= set(named.names)
    # A value most leavers share is not a leak when many who stay share it too.
    assert "extra:Segment code" in kept


def test_a_leak_is_found_by_its_values_alone():
    """Post-departure columns as a telecom export has them (a churn category
    for every leaver, a churn reason for most), under names that say nothing:
    their values alone give them away."""
    rng = np.random.default_rng(0)
    n = 3000
    left = rng.random(n) < 0.27
    kinds = ["Competitor", "Dissatisfaction", "Attitude", "Price", "Other"]
    category = [kinds[i % 5] if left[i] else "" for i in range(n)]
    reason = [f"Reason {i % 20}" if left[i] and i % 4 else "" for i in range(n)]
    assert features.tells_who_left(category, left)
    assert features.tells_who_left(reason, left)
    # At a low share of departures, a few rows that happen to hold no leaver
    # are chance, not a leak.
    rare = rng.random(n) < 0.03
    few = ["x" if i < 60 and not rare[i] else "" for i in range(n)]
    assert not features.tells_who_left(few, rare)


def test_a_strong_honest_predictor_stays_when_few_leave():
    """2% leave; yearly customers, 60% of those who stay, leave at a third of
    that rate: a strong predictor, and a fifth of the leavers have it."""
    rng = np.random.default_rng(5)
    n = 50_000
    yearly = rng.random(n) < 0.6
    left = rng.random(n) < np.where(yearly, 0.0075, 0.04)
    plan = ["yearly" if y else "monthly" for y in yearly]
    assert not features.tells_who_left(plan, left)
    # Missing values as NaN are missing, not a value of their own.
    with_gaps = [float("nan") if i % 2 else 3.0 for i in range(n)]
    assert not features.tells_who_left(with_gaps, left)


def test_the_model_stays_honest_and_the_page_says_what_was_left_out(
    db, client, create_user, login
):
    population(db)
    # An attribute written only when a customer leaves, under a neutral name.
    for customer in db.session.scalars(sa.select(Customer)):
        extra = dict(customer.extra or {})
        if customer.status.value == "departed":
            extra["Outcome code"] = f"OC{customer.id % 4}"
        customer.extra = extra
    db.session.commit()
    row, _ = operations.train_from_platform(by="test")
    assert row.metrics["left_out"]["extra:Outcome code"] == TELLS
    assert "extra:Outcome code" not in row.metrics["features"]
    # What was planted is found; the leak would have made it look perfect.
    assert 0.8 <= row.metrics["auc"] < 0.99
    login(create_user("manager"))
    for lang, line in [
        ("en", "Left out because they tell who has already left"),
        ("nl", "Weggelaten omdat ze laten zien wie al is vertrokken"),
    ]:
        page = client.get(f"/at-risk/?lang={lang}").get_data(as_text=True)
        assert line in page and "Outcome code" in page


def test_a_column_filled_in_before_leaving_can_be_kept_in(db, app, runner):
    """Complaints logged while customers are still there: the user says so,
    and the model uses them."""
    population(db)
    for customer in db.session.scalars(sa.select(Customer)):
        left = customer.status.value == "departed"
        extra = dict(customer.extra or {})
        extra["Complain"] = "1" if left else "0"
        customer.extra = extra
    db.session.commit()
    row, _ = operations.train_from_platform(by="test")
    assert row.metrics["left_out"]["extra:Complain"] == TELLS
    app.config["RISK_KEEP_COLUMNS"] = " complain , Other"
    row, _ = operations.train_from_platform(by="test")
    assert "extra:Complain" in row.metrics["features"]
    app.config["RISK_KEEP_COLUMNS"] = ""
    result = runner.invoke(args=["risk", "train", "--keep", "Complain"])
    assert result.exit_code == 0, result.output
    assert "extra:Complain" in result.output.strip().splitlines()[-1]


def test_nothing_to_learn_from_is_said_on_the_command_line_and_the_page(
    db, runner, client, create_user, login, create_customer
):
    """Customers with nothing known about them but whether they left: the
    training says there is nothing to learn from, instead of failing."""
    for i in range(700):
        left = i % 3 == 0
        create_customer(
            external_id=f"N{i}",
            status="departed" if left else "active",
            departed_at=None,
            extra={"Churn category": "Price" if left else ""},
        )
    result = runner.invoke(args=["risk", "train"])
    assert result.exit_code == 1
    last = json.loads(result.output.strip().splitlines()[-1])
    assert last["error"] == "nothing to learn from"
    assert last["left_out"]["extra:Churn category"] in (TELLS, "name")
    login(create_user("manager"))
    for lang, said in [
        ("en", "No model could be trained: every column was left out"),
        ("nl", "Er kon geen model worden getraind"),
    ]:
        page = client.get(f"/at-risk/?lang={lang}").get_data(as_text=True)
        assert 'id="nothing-to-learn"' in page and said in page
        assert "Churn category" in page and 'id="no-model"' not in page
    # Once there is something to learn from, the page no longer says so.
    for customer in db.session.scalars(sa.select(Customer)):
        customer.tenure_months = 2 if customer.status.value == "departed" else 30
        customer.plan = ["monthly", "yearly"][customer.id % 2]
    db.session.commit()
    result = runner.invoke(args=["risk", "train"])
    assert result.exit_code == 0, result.output
    page = client.get("/at-risk/?lang=en").get_data(as_text=True)
    assert 'id="nothing-to-learn"' not in page
