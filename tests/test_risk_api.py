"""At risk beyond the page: the API, the XLSX export, the model's pictures,
the objection to profiling, privacy, the reporting currency and the training
lock."""

import io
import json

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from karn.customers.models import Customer
from karn.risk import operations, store, training
from karn.risk.models import RiskScore

BINS = [[0.05, 0.04, 100], [0.3, 0.33, 100], [0.7, 0.66, 100]]
GAINS = [[round(k / 10, 1), min(1.0, 0.3 * k)] for k in range(1, 11)]


def _model(db):
    row = store.store(
        training.Bundle(None, "x", None, None),
        {
            "auc": 0.86,
            "top_decile_lift": 3.2,
            "calibration_error": 0.02,
            "validation": "5-fold stratified cross-validation, out of fold",
            "n": 3000,
            "calibration_bins": BINS,
            "gains": GAINS,
            "reason_model": {"useful": False},
        },
    )
    store.activate(row.version)
    db.session.commit()
    return row


def _scored(db, create_customer):
    """Five scored customers; the fourth pays in US dollars."""
    people = []
    for i, (p, revenue, currency) in enumerate(
        [
            (0.9, 100, None),
            (0.6, 500, None),
            (0.3, 200, None),
            (0.8, 1000, "USD"),
            (0.1, 50, "EUR"),
        ]
    ):
        c = create_customer(
            status="active",
            departed_at=None,
            plan="monthly" if i % 2 else "yearly",
            segment="SMB",
            monthly_revenue=revenue,
            currency=currency,
        )
        counted = currency in (None, "EUR")
        db.session.add(
            RiskScore(
                customer_id=c.id,
                model_version=1,
                probability=p,
                revenue_at_risk=round(p * revenue, 2) if counted else 0.0,
                reasons=[
                    {
                        "feature": "tenure_months",
                        "value": "2",
                        "typical": "30",
                        "drop": 0.2,
                    }
                ]
                if i < 4
                else None,
                likely_reason="price" if i % 2 else None,
            )
        )
        people.append(c)
    db.session.commit()
    return people


def _key(db, create_user, language="en"):
    from karn.accounts.operations import create_api_key

    owner = create_user("admin", language=language)
    _key, secret = create_api_key("crm", created_by=owner)
    db.session.commit()
    return {"Authorization": f"Bearer {secret}"}


def test_the_api_ranks_like_the_page_and_speaks_the_asked_language(
    db, client, create_user, create_customer
):
    _model(db)
    people = _scored(db, create_customer)
    auth = _key(db, create_user, language="nl")
    assert client.get("/api/v1/at-risk").status_code == 401

    body = client.get("/api/v1/at-risk", headers=auth).json
    # Most revenue at risk first: 300, 90, 60, 5; the dollar customer last.
    order = [c["external_id"] for c in body["customers"]]
    assert order == [people[i].external_id for i in (1, 0, 2, 4, 3)]
    assert body["n"] == 5 and body["currency"] == "EUR"
    assert body["revenue_at_risk"] == pytest.approx(300 + 90 + 60 + 5)
    assert body["other_currency"] == 1
    dollars = body["customers"][-1]
    assert dollars["counted"] is False and dollars["currency"] == "USD"
    assert dollars["revenue_at_risk"] == pytest.approx(800)
    first = body["customers"][0]
    assert first["rank"] == 1 and first["band"] == "high"
    assert first["probability"] == pytest.approx(0.6)
    # The key's creator reads Dutch.
    assert body["language"] == "nl"
    assert first["reasons"][0]["attribute"] == "tenure_months"
    assert first["reasons"][0]["text"] == "Klant sinds (maanden): 2 (gebruikelijk: 30)"
    assert first["likely_reason"] == "price"
    assert first["likely_reason_text"] == "Prijs"
    assert body["customers"][3]["explained"] is False
    assert body["model"]["auc"] == pytest.approx(0.86)

    english = client.get("/api/v1/at-risk?lang=en&plan=monthly", headers=auth).json
    assert [c["external_id"] for c in english["customers"]] == [
        people[1].external_id,
        people[3].external_id,
    ]
    assert english["customers"][0]["likely_reason_text"] == "Price"
    assert english["customers"][0]["reasons"][0]["text"].startswith("Tenure")

    paged = client.get("/api/v1/at-risk?per_page=2&page=2", headers=auth).json
    assert paged["pages"] == 3
    assert [c["rank"] for c in paged["customers"]] == [3, 4]
    none = client.get("/api/v1/at-risk?reason=none&band=low", headers=auth).json
    assert [c["external_id"] for c in none["customers"]] == [people[4].external_id]

    bad = client.get("/api/v1/at-risk?band=extreme", headers=auth)
    assert bad.status_code == 400 and bad.json["parameter"] == "band"
    assert client.get("/api/v1/at-risk?per_page=5000", headers=auth).status_code == 422


def test_the_api_is_described(client):
    doc = client.get("/api/v1/openapi.json").json
    operation = doc["paths"]["/at-risk"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    assert {"segment", "plan", "region", "reason", "band", "lang", "page"} <= names
    schema = doc["components"]["schemas"]["AtRisk"]
    item = schema["properties"]["customers"]["items"]
    assert {"probability", "revenue_at_risk", "reasons", "likely_reason"} <= set(
        item["required"]
    )
    departure = doc["components"]["schemas"]["DepartureIn"]["properties"]
    assert departure["objects_to_profiling"]["type"] == "boolean"


def test_the_xlsx_export_holds_the_ranking(
    db, client, create_user, login, create_customer
):
    _model(db)
    people = _scored(db, create_customer)
    login(create_user("manager", language="nl"))
    response = client.get("/at-risk/export.xlsx?plan=monthly")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("Klantnummer", "Naam", "Kans", "Omzet op het spel")
    assert [r[0] for r in rows[1:]] == [people[1].external_id, people[3].external_id]
    assert rows[1][2] == pytest.approx(0.6) and rows[1][3] == pytest.approx(300)
    assert rows[2][4] == "USD" and rows[2][5] == "nee"
    csv = client.get("/at-risk/export.csv?plan=monthly").get_data(as_text=True)
    assert len(csv.strip().splitlines()) == 3


def test_the_page_shows_the_model_in_pictures_and_words(
    db, client, create_user, login, create_customer
):
    _model(db)
    _scored(db, create_customer)
    login(create_user("manager"))
    page = client.get("/at-risk/").get_data(as_text=True)
    assert 'src="/at-risk/calibration.svg"' in page
    assert 'src="/at-risk/gains.svg"' in page
    assert "100 customers given 30.0% on average: 33.0% of them left." in page
    assert (
        "Calling the 10% with the highest risk reaches 30% of the leavers; "
        "calling at random, 10%." in page
    )
    assert "1 customer has amounts in another currency than EUR" in page
    assert "$\xa0800.00" in page or "US$\xa0800.00" in page
    for name in ("calibration", "gains"):
        svg = client.get(f"/at-risk/{name}.svg")
        assert svg.status_code == 200 and svg.mimetype == "image/svg+xml"
        assert b"<svg" in svg.data
    text = client.get("/at-risk/gains.svg").get_data(as_text=True)
    assert "share of customers called" in text
    dutch = client.get("/at-risk/calibration.svg?lang=nl").get_data(as_text=True)
    assert "voorspelde kans om te vertrekken" in dutch


def test_an_objection_removes_the_score_and_the_customer_from_scoring(
    db, client, create_user, login, create_customer
):
    _model(db)
    people = _scored(db, create_customer)
    objector = people[1]
    login(create_user("manager"))
    from tests.conftest import csrf_token

    url = f"/customers/{objector.id}/edit"
    token = csrf_token(client, url)
    form = {
        "csrf_token": token,
        "external_id": objector.external_id,
        "email": objector.email,
        "status": "active",
        "plan": objector.plan,
        "monthly_revenue": "500",
        "objects_to_profiling": "y",
    }
    assert client.post(url, data=form).status_code == 302
    db.session.expire_all()
    assert db.session.get(RiskScore, objector.id) is None
    assert db.session.get(Customer, objector.id).profiling_objected_at is not None
    page = client.get("/at-risk/").get_data(as_text=True)
    assert f'data-customer="{objector.id}"' not in page
    shown = client.get(f"/customers/{objector.id}").get_data(as_text=True)
    assert "no churn-risk score" in shown
    # Never scored again, never learned from.
    from karn.risk import data

    ids = [r["id"] for chunk in data.chunks(data.population()) for r in chunk]
    assert objector.id not in ids and people[0].id in ids

    # Withdrawn on the form: scored again at the next run.
    del form["objects_to_profiling"]
    form["csrf_token"] = csrf_token(client, url)
    client.post(url, data=form)
    db.session.expire_all()
    assert db.session.get(Customer, objector.id).profiling_objected_at is None


def test_an_objection_over_the_api(db, client, create_user, create_customer):
    people = _scored(db, create_customer)
    auth = _key(db, create_user)
    target = people[0]
    item = {"external_id": target.external_id, "status": "active"}
    response = client.post(
        "/api/v1/departures",
        headers=auth,
        json={**item, "objects_to_profiling": True},
    )
    assert response.status_code == 200, response.json
    assert response.json["departures"][0]["objects_to_profiling"] is True
    db.session.expire_all()
    assert db.session.get(RiskScore, target.id) is None
    shown = client.get(f"/api/v1/departures/{target.external_id}", headers=auth)
    assert shown.json["objects_to_profiling"] is True
    # Left out: unchanged; false withdraws it.
    again = client.post("/api/v1/departures", headers=auth, json=item)
    assert again.json["departures"][0]["objects_to_profiling"] is True
    back = client.post(
        "/api/v1/departures", headers=auth, json={**item, "objects_to_profiling": False}
    )
    assert back.json["departures"][0]["objects_to_profiling"] is False
    wrong = client.post(
        "/api/v1/departures", headers=auth, json={**item, "objects_to_profiling": "yes"}
    )
    assert wrong.status_code == 422
    assert wrong.json["errors"][0]["field"] == "objects_to_profiling"


def test_scores_are_in_the_access_export_and_gone_after_erasure(db, create_customer):
    from karn.privacy.erasure import erase_customer
    from karn.privacy.export import export_person

    people = _scored(db, create_customer)
    exported = json.loads(json.dumps(export_person(people[1])))
    risk = exported["churn_risk"]
    assert len(risk) == 1
    assert risk[0]["probability"] == pytest.approx(0.6)
    assert risk[0]["reasons"][0]["feature"] == "tenure_months"
    assert risk[0]["likely_reason"] == "price"
    erase_customer(people[1])
    db.session.commit()
    assert db.session.get(RiskScore, people[1].id) is None
    assert export_person(people[1])["churn_risk"] == []


def test_scoring_counts_only_the_reporting_currency(db, create_customer):
    """A real model scores everyone; the dollar customer's revenue at risk is
    not mixed into the euro sums, and an objector gets no score."""
    from tests.test_risk import population

    population(db, n=900, seed=5)
    operations.train_from_platform(by="test")
    active = db.session.scalars(
        sa.select(Customer).where(Customer.status == "active").order_by(Customer.id)
    ).all()
    dollar, objector = active[0], active[1]
    dollar.currency = "USD"
    operations.object_to_profiling(objector, True)
    db.session.commit()
    report = operations.score_all(explain_top=10)
    assert report.scored == len(active) - 1
    assert db.session.get(RiskScore, objector.id) is None
    score = db.session.get(RiskScore, dollar.id)
    assert score.probability > 0 and score.revenue_at_risk == 0.0
    euro = db.session.get(RiskScore, active[2].id)
    assert euro.revenue_at_risk == pytest.approx(
        euro.probability * float(active[2].monthly_revenue), abs=0.01
    )


def test_two_trainings_never_run_at_once(db, runner, create_customer):
    from datetime import timedelta

    from karn import clock
    from karn.settings import Setting
    from tests.test_risk import population

    population(db, n=1200, seed=9)
    db.session.add(Setting(key=operations.LOCK_KEY, value={"by": "worker"}))
    db.session.commit()
    with pytest.raises(operations.Busy):
        operations.train_from_platform(by="cli")
    result = runner.invoke(args=["risk", "train"])
    assert result.exit_code == 1
    assert "Another training runs" in result.output
    assert store.versions() == []
    # A lock left by a training that died long ago is taken over, and freed.
    lock = db.session.get(Setting, operations.LOCK_KEY)
    lock.updated_at = clock.now() - timedelta(hours=operations.LOCK_HOURS + 1)
    db.session.commit()
    row, _activated = operations.train_from_platform(by="cli")
    assert row.version == 1
    assert db.session.get(Setting, operations.LOCK_KEY) is None


def test_an_objection_while_scoring_runs_leaves_no_score(db, monkeypatch):
    """Scoring reads the customers first and writes their scores minutes later:
    whoever objects in between must not get a score back."""
    from tests.test_risk import population

    population(db, n=900, seed=5)
    operations.train_from_platform(by="test")
    objector = db.session.scalars(
        sa.select(Customer).where(Customer.status == "active").order_by(Customer.id)
    ).first()
    real = operations._explain

    def objecting_meanwhile(bundle, X):
        # The customer page records the objection while the scores are computed.
        db.session.execute(
            sa.update(Customer)
            .where(Customer.id == objector.id)
            .values(profiling_objected_at=sa.func.current_timestamp())
        )
        return real(bundle, X)

    monkeypatch.setattr(operations, "_explain", objecting_meanwhile)
    operations.score_all(explain_top=10)
    assert db.session.get(RiskScore, objector.id) is None
    assert db.session.scalar(sa.select(sa.func.count(RiskScore.customer_id))) > 0
