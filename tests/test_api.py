"""The REST API: keys, validation, idempotence, and the OpenAPI document kept true."""

import jsonschema
import pytest
import sqlalchemy as sa

from karn.accounts.operations import create_api_key, revoke_api_key
from karn.api.openapi import document
from karn.customers.models import Customer


@pytest.fixture
def key(db):
    api_key, secret = create_api_key("crm")
    db.session.commit()
    return secret


def auth(secret):
    return {"Authorization": f"Bearer {secret}"}


def schema(name):
    """A component schema, resolvable against the whole document."""
    doc = document()
    return {**doc["components"]["schemas"][name], "components": doc["components"]}


def check(instance, name):
    jsonschema.validate(instance, schema(name), cls=jsonschema.Draft202012Validator)


GOOD = {
    "external_id": "cus_001",
    "email": "Anna@Example.nl",
    "name": "Anna de Boer",
    "language": "nl",
    "departed_at": "2026-11-20T10:00:00Z",
    "plan": "Pro",
    "monthly_revenue": 49.5,
    "extra": {"channel": "web"},
}


@pytest.mark.parametrize(
    "header", [None, "Bearer nonsense", "Basic dXNlcjpwYXNz", "karn_abc"]
)
def test_requests_without_a_valid_key_are_refused(client, header, db):
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/departures", json=GOOD, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0


def test_a_revoked_key_is_refused(client, db, key):
    from karn.accounts.models import ApiKey

    revoke_api_key(db.session.scalars(sa.select(ApiKey)).one())
    db.session.commit()
    assert (
        client.post("/api/v1/departures", json=GOOD, headers=auth(key)).status_code
        == 401
    )


def test_post_one_departure_then_read_it_back(client, db, key):
    response = client.post("/api/v1/departures", json=GOOD, headers=auth(key))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 0, 0)
    departure = body["departures"][0]
    assert departure["email"] == "anna@example.nl"
    assert departure["monthly_revenue"] == 49.5
    # Amounts come with their currency: the reporting one unless stored.
    assert departure["currency"] == "EUR"
    assert (departure["involuntary"], departure["stated_reason"]) == (False, None)
    assert departure["survey"]["status"] == "not_invited"
    got = client.get("/api/v1/departures/cus_001", headers=auth(key))
    assert got.status_code == 200
    assert got.json == departure
    check(got.json, "DepartureOut")
    # A person's data: no browser or proxy keeps a copy.
    assert "no-store" in got.headers["Cache-Control"]
    from karn.accounts.models import ApiKey

    db.session.expire_all()
    assert db.session.scalars(sa.select(ApiKey)).one().last_used_at is not None


def test_sending_the_same_departure_again_changes_nothing(client, db, key):
    client.post("/api/v1/departures", json=GOOD, headers=auth(key))
    again = client.post("/api/v1/departures", json=[GOOD], headers=auth(key)).json
    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 1)
    changed = client.post(
        "/api/v1/departures", json={**GOOD, "segment": "SMB"}, headers=auth(key)
    ).json
    assert changed["updated"] == 1
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 1


def test_validation_errors_name_item_and_field_and_store_nothing(client, db, key):
    bad = [
        GOOD,
        {"email": "not-an-email", "monthly_revenue": -3},
        {"name": "No id"},
        {"external_id": "x", "colour": "blue"},
        "just a string",
    ]
    response = client.post("/api/v1/departures", json=bad, headers=auth(key))
    assert response.status_code == 422
    errors = {(e["index"], e["field"], e["code"]) for e in response.json["errors"]}
    assert (1, "email", "invalid_email") in errors
    assert (1, "monthly_revenue", "negative_revenue") in errors
    assert (2, None, "missing_id_and_email") in errors
    assert (3, "colour", "unknown_field") in errors
    assert (4, None, "not_an_object") in errors
    assert all(e["message"] and e["message_nl"] for e in response.json["errors"])
    check(response.json, "Error")
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0


def test_more_than_a_thousand_is_refused(client, key):
    many = [{"external_id": str(i)} for i in range(1001)]
    response = client.post("/api/v1/departures", json=many, headers=auth(key))
    assert response.status_code == 422 and response.json["error"] == "too_many"


def test_a_thousand_at_once_are_stored(client, db, key):
    many = [{"external_id": str(i), "email": f"p{i}@example.com"} for i in range(1000)]
    response = client.post("/api/v1/departures", json=many, headers=auth(key))
    assert response.status_code == 200
    assert response.json["created"] == 1000
    assert [d["external_id"] for d in response.json["departures"]] == [
        str(i) for i in range(1000)
    ]


def test_body_that_is_not_json_is_a_400(client, key):
    response = client.post(
        "/api/v1/departures",
        data="external_id=1",
        headers=auth(key),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400 and response.json["error"] == "invalid_json"


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a": ' * 100_000 + "1" + "}" * 100_000,
        # Parsed, but deeper than anything the API takes.
        '[{"external_id": "cus_1", "extra": ' + "[" * 500 + "]" * 500 + "}]",
    ],
    ids=["arrays", "objects", "within-the-parser"],
)
def test_deeply_nested_json_is_a_400(client, key, body):
    client.post("/api/v1/departures", json=GOOD, headers=auth(key))
    for url in ("/api/v1/departures", "/api/v1/departures/cus_001/return"):
        response = client.post(
            url, data=body, headers=auth(key), content_type="application/json"
        )
        assert response.status_code == 400, url
        assert response.json["error"] == "invalid_json"
        assert "nested more than 32 levels deep" in response.json["message"]
        check(response.json, "Error")


def test_unknown_departure_is_a_404(client, key):
    response = client.get("/api/v1/departures/nobody", headers=auth(key))
    assert response.status_code == 404
    check(response.json, "Error")


def test_openapi_document_lists_every_api_route_and_method(app, client):
    doc = client.get("/api/v1/openapi.json").json
    jsonschema.Draft202012Validator.check_schema(
        doc["components"]["schemas"]["DepartureIn"]
    )
    documented = {
        (path, method.upper())
        for path, operations in doc["paths"].items()
        for method in operations
    }
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.removeprefix("/api/v1").replace("<", "{").replace(">", "}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                served.add((path, method))
    assert served == documented


def test_openapi_request_schema_accepts_what_the_api_accepts():
    check(GOOD, "DepartureIn")
    with pytest.raises(jsonschema.ValidationError):
        check({"name": "no id"}, "DepartureIn")
    with pytest.raises(jsonschema.ValidationError):
        check({**GOOD, "colour": "blue"}, "DepartureIn")


def test_a_return_is_recorded_as_a_win_back_and_corrected_when_sent_again(
    client, db, key
):
    from karn.accounts.models import AuditEntry
    from karn.callbacks.models import WinBack

    client.post("/api/v1/departures", json=GOOD, headers=auth(key))
    url = "/api/v1/departures/cus_001/return"
    body = {"returned_on": "2099-01-15", "revenue": "39,50"}
    response = client.post(url, json=body, headers=auth(key))
    assert response.status_code == 200, response.json
    assert response.json == {
        "external_id": "cus_001",
        "returned_on": "2099-01-15",
        "revenue": 39.5,
        "via": "api",
    }
    again = client.post(
        url, json={"returned_on": "2099-02-01", "revenue": 45}, headers=auth(key)
    )
    assert again.json["returned_on"] == "2099-02-01"
    win = db.session.scalars(sa.select(WinBack)).one()
    assert (str(win.returned_on), float(win.revenue)) == ("2099-02-01", 45.0)
    actions = db.session.scalars(
        sa.select(AuditEntry.action).where(AuditEntry.action.like("win_back.%"))
    ).all()
    assert sorted(actions) == ["win_back.create", "win_back.update"]

    bad_date = client.post(url, json={"returned_on": "15-01"}, headers=auth(key))
    assert bad_date.status_code == 422 and bad_date.json["error"] == "invalid_date"
    bad_revenue = client.post(url, json={"revenue": -3}, headers=auth(key))
    assert bad_revenue.status_code == 422
    before = client.post(url, json={"returned_on": "2000-01-01"}, headers=auth(key))
    assert before.status_code == 422 and before.json["error"] == "before_departure"
    unknown = client.post(
        "/api/v1/departures/nobody/return", json={}, headers=auth(key)
    )
    assert unknown.status_code == 404
    assert client.post(url, json={}).status_code == 401
    db.session.expire_all()
    assert str(db.session.scalars(sa.select(WinBack)).one().returned_on) == (
        "2099-02-01"
    )


def test_an_erased_persons_departure_is_refused_and_the_others_stored(client, db, key):
    from datetime import UTC, datetime

    from karn import clock
    from karn.privacy.operations import erase_customer
    from tests.test_privacy_erasure import find_everywhere

    client.post("/api/v1/departures", json=GOOD, headers=auth(key))
    clock.freeze(datetime(2026, 12, 1, 12, tzinfo=UTC))
    try:
        erase_customer(db.session.scalars(sa.select(Customer)).one())
        db.session.commit()
    finally:
        clock.freeze(None)
    new = {"external_id": "cus_002", "email": "bob@example.nl", "departed_at": None}
    response = client.post("/api/v1/departures", json=[GOOD, new], headers=auth(key))
    assert response.status_code == 200, response.json
    body = response.json
    assert (body["created"], body["updated"], body["unchanged"]) == (1, 0, 0)
    (refused,) = body["rejected"]
    assert (refused["index"], refused["code"]) == (0, "erased")
    assert refused["erased_on"] == "2026-12-01"
    assert "erased on 1 Dec 2026" in refused["message"]
    assert "gewist op 1 dec 2026" in refused["message_nl"]
    assert body["departures"][0] is None
    assert body["departures"][1]["external_id"] == "cus_002"
    doc = document()
    answer = doc["paths"]["/departures"]["post"]["responses"]["200"]
    jsonschema.validate(
        body,
        {
            **answer["content"]["application/json"]["schema"],
            "components": doc["components"],
        },
        cls=jsonschema.Draft202012Validator,
    )
    # Nothing of the person was stored again.
    assert find_everywhere("anna@example.nl", "Anna de Boer", "cus_001") == []
    assert client.get("/api/v1/departures/cus_001", headers=auth(key)).status_code == (
        404
    )
    # A departure after the day of the erasure is a new customer.
    later = {**GOOD, "departed_at": "2026-12-02"}
    again = client.post("/api/v1/departures", json=later, headers=auth(key)).json
    assert (again["created"], again["rejected"]) == (1, [])
    assert again["departures"][0]["email"] == "anna@example.nl"


def test_a_customer_may_be_sent_as_active_and_is_never_invited(client, db, key):
    from datetime import timedelta

    from karn import clock
    from karn.surveys.editing import ensure_default_survey

    ensure_default_survey()
    db.session.commit()
    stays = {"external_id": "cus_010", "email": "stays@example.nl", "status": "active"}
    leaves = {**stays, "external_id": "cus_011", "email": "leaves@example.nl"}
    yesterday = clock.now() - timedelta(days=1)
    leaves.update(status="departed", departed_at=yesterday.isoformat())
    response = client.post(
        "/api/v1/departures", json=[stays, leaves], headers=auth(key)
    )
    assert response.status_code == 200, response.json
    active, departed = response.json["departures"]
    assert (active["status"], active["departed_at"]) == ("active", None)
    assert active["survey"]["status"] == "not_invited"
    assert departed["status"] == "departed" and departed["departed_at"]
    assert departed["survey"]["status"] == "scheduled"
    check(active, "DepartureOut")
    got = client.get("/api/v1/departures/cus_010", headers=auth(key)).json
    assert got["status"] == "active"
    # Without a status a departure is what it always was.
    plain = client.post(
        "/api/v1/departures", json={"external_id": "cus_012"}, headers=auth(key)
    ).json["departures"][0]
    assert plain["status"] == "departed" and plain["departed_at"]


@pytest.mark.parametrize("status", ["gone", "Churned", 1, True])
def test_a_status_other_than_active_or_departed_is_invalid(client, db, key, status):
    item = {"external_id": "cus_020", "status": status}
    response = client.post("/api/v1/departures", json=item, headers=auth(key))
    assert response.status_code == 422
    (error,) = response.json["errors"]
    assert (error["field"], error["code"]) in {
        ("status", "invalid_status"),
        ("status", "invalid_value"),
    }
    assert db.session.scalar(sa.select(sa.func.count(Customer.id))) == 0


def test_the_openapi_document_describes_the_status():
    status = schema("DepartureIn")["properties"]["status"]
    assert status["enum"] == ["departed", "active", None]
    assert "status" in schema("DepartureOut")["required"]
    check({"external_id": "x", "status": "active"}, "DepartureIn")
    with pytest.raises(jsonschema.ValidationError):
        check({"external_id": "x", "status": "gone"}, "DepartureIn")
