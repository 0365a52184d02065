"""Pooled PostgreSQL connections: a connection the server dropped costs no request."""

import os

import pytest
import sqlalchemy as sa

import karn.app

pytestmark = pytest.mark.skipif(
    os.environ.get("KARN_TEST_DB", "sqlite") != "postgresql",
    reason="PostgreSQL only: SQLite has no server to lose",
)


def _drop_other_connections(url: str) -> int:
    """What a database restart does to the app's pooled connections."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        dropped = conn.scalar(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
    engine.dispose()
    return dropped


def test_a_connection_dropped_while_idle_is_replaced_unnoticed(
    client, database_url, monkeypatch
):
    assert client.get("/s/no-such-link").status_code == 404  # the pool holds one
    assert _drop_other_connections(database_url) >= 1
    monkeypatch.setattr(karn.app, "IDLE_BEFORE_TRY_S", 0.0)  # it has been idle

    page = client.get("/s/no-such-link")

    assert page.status_code == 404  # the friendly page, not a server error
    assert "link" in page.get_data(as_text=True).lower()


def test_a_connection_in_steady_use_is_not_tried(client, database_url, monkeypatch):
    # Within the idle time the pool trusts the connection, saving a round trip
    # per request; losing it then shows as one failed request, as before.
    assert client.get("/s/no-such-link").status_code == 404
    _drop_other_connections(database_url)
    monkeypatch.setattr(karn.app, "IDLE_BEFORE_TRY_S", 3600.0)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False

    assert client.get("/s/no-such-link").status_code == 500
    # The pool has noticed: the next request connects afresh.
    assert client.get("/s/no-such-link").status_code == 404
