"""Migrations: an empty database upgrades to head, one head, and no drift."""

import os

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory
from flask_migrate import Migrate

from karn.app import MIGRATIONS_DIR, create_app
from karn.extensions import db
from tests.conftest import (
    create_pg_database,
    drop_pg_database,
    postgres_server_url,
    settings,
)


def test_there_is_exactly_one_head(app):
    config = app.extensions["migrate"].migrate.get_config(MIGRATIONS_DIR)
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_revision_files_are_date_prefixed():
    names = [
        n
        for n in os.listdir(os.path.join(MIGRATIONS_DIR, "versions"))
        if n.endswith(".py")
    ]
    assert names
    for name in names:
        assert name[:8].isdigit() and name[8] == "_", name


FUNNEL_TRIGGERS = {
    ("customers", "inserted"),
    ("customers", "updated"),
    ("invitations", "inserted"),
    ("invitations", "updated"),
}


def _triggers(app) -> set[tuple[str, str]]:
    """(table, what) of the funnel triggers in the database."""
    with app.app_context(), db.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            rows = conn.execute(
                sa.text(
                    "SELECT c.relname, t.tgname FROM pg_trigger t "
                    "JOIN pg_class c ON c.oid = t.tgrelid WHERE NOT t.tgisinternal"
                )
            )
        else:
            rows = conn.execute(
                sa.text(
                    "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
                )
            )
        return {(table, name.rsplit("_", 1)[1]) for table, name in rows}


def _upgrade_check_downgrade(url: str) -> None:
    app = create_app(settings(url))
    runner = app.test_cli_runner()
    try:
        result = runner.invoke(args=["db", "upgrade"])
        assert result.exit_code == 0, result.output
        with app.app_context():
            tables = set(sa.inspect(db.engine).get_table_names())
        assert set(db.metadata.tables) <= tables

        result = runner.invoke(args=["db", "check"])
        assert result.exit_code == 0, result.output
        # The funnel's totals depend on triggers the model cannot show: a later
        # migration that recreates a table (SQLite batch mode) must keep them.
        assert _triggers(app) == FUNNEL_TRIGGERS

        # The check does see drift: an index missing from the database.
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text("DROP INDEX ix_customers_plan"))
        assert runner.invoke(args=["db", "check"]).exit_code != 0
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(sa.text("CREATE INDEX ix_customers_plan ON customers (plan)"))

        # Every revision can be undone and done again.
        assert runner.invoke(args=["db", "downgrade", "base"]).exit_code == 0
        with app.app_context():
            left = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert left == set()
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
    finally:
        with app.app_context():
            db.engine.dispose()


def test_sqlite_upgrades_from_empty_without_drift(tmp_path):
    _upgrade_check_downgrade(f"sqlite:///{tmp_path}/empty.db")


def test_postgresql_upgrades_from_empty_without_drift():
    server = postgres_server_url()
    if not server:
        if os.environ.get("KARN_TEST_DB") == "postgresql":
            pytest.fail("KARN_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server configured (KARN_TEST_POSTGRES_URL)")
    url = create_pg_database(server, prefix="karn_migration")
    try:
        _upgrade_check_downgrade(url)
    finally:
        drop_pg_database(server, url)


def test_migrate_is_set_up_for_batch_mode(app):
    migrate: Migrate = app.extensions["migrate"]
    assert migrate.configure_args.get("render_as_batch") is True
