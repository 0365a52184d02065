"""The audit log in words: actions and details described in the reader's
language, and entries filtered by who made them (people, Karn, API keys)."""

import re

import sqlalchemy as sa

from karn.accounts import audit
from karn.accounts.models import ApiKey, AuditEntry
from karn.callbacks import operations
from karn.enums import CallTaskSource


def _rows(html: str) -> list[str]:
    body = html[html.index("<tbody>") : html.index("</tbody>")]
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


def _plain(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_entries_read_as_sentences_and_filter_by_kind_of_actor(
    client, db, create_user, login, create_customer
):
    customer = create_customer(name="Rijke klant")
    # Karn itself (the worker) puts a customer on the call list ...
    operations.add_task(customer, CallTaskSource.HIGH_VALUE, None)
    # ... a program with an API key records something ...
    key = ApiKey(name="CRM", prefix="k_abc", key_hash="x" * 64)
    db.session.add(key)
    db.session.flush()
    audit.record("api.departures", api_key=key, created=3, updated=1)
    db.session.commit()
    # ... and a person signs in.
    admin = create_user("admin", language="nl")
    login(admin)

    page = client.get("/admin/audit").get_data(as_text=True)
    assert "call_task.create" not in _plain(page)
    task_row = next(r for r in _rows(page) if 'title="call_task.create"' in r)
    text = _plain(task_row)
    assert "Op de bellijst gezet" in text
    assert "Waarom: Waardevol, geen reactie" in text
    assert "high_value" not in text
    assert f'href="/customers/{customer.id}"' in task_row
    assert "Karn" in text  # who: Karn itself, not a dash

    people = client.get("/admin/audit?actor=people").get_data(as_text=True)
    actions = re.findall(r'<td title="([^"]+)"', people)
    assert set(actions) == {"login"}
    system = client.get("/admin/audit?actor=system").get_data(as_text=True)
    system_actions = re.findall(r'<td title="([^"]+)"', system)
    assert "call_task.create" in system_actions and "login" not in system_actions
    api = client.get("/admin/audit?actor=api").get_data(as_text=True)
    assert re.findall(r'<td title="([^"]+)"', api) == ["api.departures"]
    assert "Toegevoegd: 3" in _plain(api)
    # The selected filter stays chosen, and the export takes it along.
    assert '<option value="api" selected>' in api
    export = re.search(r'href="([^"]*csv[^"]*)"', api).group(1).replace("&amp;", "&")
    assert "actor=api" in export
    csv_text = client.get(export).get_data(as_text=True)
    assert "api.departures" in csv_text and "call_task.create" not in csv_text

    # The same entry in English for an English reader.
    admin.language = "en"
    db.session.commit()
    english = client.get("/admin/audit?actor=system").get_data(as_text=True)
    assert "Put on the call list" in english
    assert "Why: High value, no answer" in _plain(english)
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id))) >= 3
