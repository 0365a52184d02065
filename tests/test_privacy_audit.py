"""The audit log: append-only outside the erasure scrub, and exported as CSV."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from karn.extensions import db as _db
from tests.test_privacy_erasure import privacy_app  # noqa: F401


@pytest.fixture
def entry(app):
    from karn.accounts import audit

    entry = audit.record("customer.update", None, email="x@example.nl")
    _db.session.commit()
    return entry


def test_updating_an_entry_is_refused(entry):
    from karn.privacy.guard import AuditLogIsAppendOnly

    entry.details = {"email": "changed@example.nl"}
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.commit()
    _db.session.rollback()
    entry.action = "something.else"
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.flush()
    _db.session.rollback()
    assert _db.session.get(type(entry), entry.id).details == {"email": "x@example.nl"}


def test_deleting_an_entry_is_refused(entry):
    from karn.privacy.guard import AuditLogIsAppendOnly

    _db.session.delete(entry)
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.commit()
    _db.session.rollback()


def test_bulk_statements_are_refused(entry):
    from karn.accounts.models import AuditEntry
    from karn.privacy.guard import AuditLogIsAppendOnly

    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.execute(sa.update(AuditEntry).values(action="x"))
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.execute(sa.delete(AuditEntry.__table__))
    _db.session.rollback()
    assert _db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) == 1


def test_the_scrub_may_change_entries_and_only_inside_it(entry):
    from karn.privacy.guard import AuditLogIsAppendOnly, scrubbing

    with scrubbing(_db.session):
        entry.details = {"email": "[erased]"}
        _db.session.flush()
    _db.session.commit()
    assert entry.details == {"email": "[erased]"}
    entry.details = {}
    with pytest.raises(AuditLogIsAppendOnly):
        _db.session.commit()
    _db.session.rollback()


def test_adding_entries_and_untouched_reads_are_fine(entry):
    from karn.accounts import audit

    audit.record("login", None)
    _ = entry.user  # loading a relationship is not a change
    _db.session.commit()


def _csv(response):
    text = response.get_data(as_text=True).lstrip("\ufeff")
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_export_filters_by_action_user_and_dates(
    privacy_app,  # noqa: F811
    client,
    create_user,
    login,
):
    from karn import clock
    from karn.accounts import audit

    admin = create_user("admin", email="admin@example.com")
    other = create_user("staff", email="staff@example.com")
    for when, action, user in (
        (datetime(2025, 1, 10, 9, 0, tzinfo=UTC), "customer.update", admin),
        (datetime(2025, 1, 20, 9, 0, tzinfo=UTC), "customer.create", other),
        # 23:30 UTC on 31 Jan is 1 Feb in Amsterdam.
        (datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "customer.update", admin),
        (datetime(2025, 2, 5, 9, 0, tzinfo=UTC), "login", admin),
    ):
        clock.freeze(when)
        audit.record(action, None, user=user, note="=HYPERLINK(1)")
        _db.session.flush()  # the time is taken when the row is written
    clock.freeze(None)
    _db.session.commit()
    login(admin)
    everything = _csv(client.get("/privacy/audit.csv"))
    seeded = [row for row in everything if "HYPERLINK" in row["details"]]
    assert [row["action"] for row in seeded] == [
        "login",
        "customer.update",
        "customer.create",
        "customer.update",
    ]
    # Newest first; the sign-in and the export itself are logged too.
    assert everything[0]["action"] == "audit.export"
    assert json.loads(seeded[0]["details"]) == {"note": "=HYPERLINK(1)"}
    rows = _csv(client.get("/privacy/audit.csv?action=customer."))
    assert len(rows) == 3
    rows = _csv(client.get(f"/privacy/audit.csv?user={other.id}"))
    assert [r["action"] for r in rows] == ["customer.create"]
    assert rows[0]["user"] == "staff@example.com"
    rows = _csv(client.get("/privacy/audit.csv?since=2025-01-15&until=2025-01-31"))
    assert [r["action"] for r in rows] == ["customer.create"]
    rows = _csv(client.get("/privacy/audit.csv?since=2025-02-01&action=customer"))
    assert len(rows) == 1
    response = client.get("/privacy/audit.csv")
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_csv_export_is_for_admins(privacy_app, client, create_user, login):  # noqa: F811
    login(create_user("manager"))
    assert client.get("/privacy/audit.csv").status_code == 403


def test_formula_cells_are_defused():
    from karn.accounts.auditlog import _cell

    assert _cell("=1+1") == "'=1+1"
    assert _cell("-2") == "'-2"
    assert _cell("plain") == "plain"
    assert _cell(None) == ""


def test_csv_export_guards_formulas_as_the_analysis_exports_do(
    privacy_app,  # noqa: F811
    client,
    create_user,
    login,
):
    from karn.accounts import audit
    from karn.formatting import spreadsheet_cell
    from tests.test_analysis_dashboard import FORMULAS

    admin = create_user("admin", email="admin@example.com")
    for n, text in enumerate(FORMULAS):
        entry = audit.record("customer.update", None, user=admin)
        entry.target_type, entry.target_id = text, f"{n}"
    _db.session.commit()
    login(admin)
    rows = _csv(client.get("/privacy/audit.csv?action=customer.update"))
    assert sorted(row["target_type"] for row in rows) == sorted(
        "'" + text for text in FORMULAS
    )
    # One rule for every export: the analysis exports write the same cells.
    assert all(spreadsheet_cell(text) == "'" + text for text in FORMULAS)
