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


def _on_a_fresh_postgres_database(check) -> None:
    server = postgres_server_url()
    if not server:
        if os.environ.get("KARN_TEST_DB") == "postgresql":
            pytest.fail("KARN_TEST_POSTGRES_URL is not set")
        pytest.skip("no PostgreSQL server configured (KARN_TEST_POSTGRES_URL)")
    url = create_pg_database(server, prefix="karn_migration")
    try:
        check(url)
    finally:
        drop_pg_database(server, url)


def test_postgresql_upgrades_from_empty_without_drift():
    _on_a_fresh_postgres_database(_upgrade_check_downgrade)


def test_migrate_is_set_up_for_batch_mode(app):
    migrate: Migrate = app.extensions["migrate"]
    assert migrate.configure_args.get("render_as_batch") is True


def _erased_people_are_copied(url: str) -> None:
    """6903adba9af0 copies the suppression list's erased addresses."""
    from datetime import UTC, date, datetime

    from karn.customers import erased

    def utc(*parts):
        return datetime(*parts, tzinfo=UTC)

    when = sa.DateTime(timezone=True)
    # The tables as they were at the revision before.
    suppressions = sa.table(
        "suppressions",
        sa.column("email_hash"),
        sa.column("email"),
        sa.column("reason"),
        sa.column("created_at", when),
    )
    customers = sa.table(
        "customers",
        sa.column("departed_at", when),
        sa.column("source"),
        sa.column("extra", sa.JSON),
        sa.column("delivery_failures"),
        sa.column("erased_at", when),
        sa.column("created_at", when),
        sa.column("updated_at", when),
    )
    app = create_app(settings(url))
    runner = app.test_cli_runner()
    try:
        result = runner.invoke(args=["db", "upgrade", "d4ba5ef2e9be"])
        assert result.exit_code == 0, result.output
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(
                sa.insert(suppressions),
                [
                    # Written by an erasure on 5 October.
                    {
                        "email_hash": erased.identifier_hash("gone@x.nl"),
                        "email": None,
                        "reason": "erased",
                        "created_at": utc(2026, 10, 5, 10),
                    },
                    # Unsubscribed first, erased later (on a day not kept).
                    {
                        "email_hash": erased.identifier_hash("quiet@x.nl"),
                        "email": None,
                        "reason": "unsubscribed",
                        "created_at": utc(2026, 1, 2),
                    },
                    {
                        "email_hash": erased.identifier_hash("live@x.nl"),
                        "email": "live@x.nl",
                        "reason": "unsubscribed",
                        "created_at": utc(2026, 1, 2),
                    },
                ],
            )
            conn.execute(
                sa.insert(customers).values(
                    departed_at=utc(2025, 1, 1),
                    source="csv",
                    extra={},
                    delivery_failures=0,
                    erased_at=utc(2026, 11, 20, 9),
                    created_at=utc(2025, 1, 1),
                    updated_at=utc(2026, 11, 20, 9),
                )
            )
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        with app.app_context():
            left = utc(2026, 1, 1)
            days = {
                email: erased.erased_on({"email": email, "departed_at": left})
                for email in ("gone@x.nl", "quiet@x.nl", "live@x.nl")
            }
            assert days == {
                "gone@x.nl": date(2026, 10, 5),
                "quiet@x.nl": date(2026, 11, 20),  # the latest erasure
                "live@x.nl": None,
            }
        assert runner.invoke(args=["db", "downgrade", "d4ba5ef2e9be"]).exit_code == 0
    finally:
        with app.app_context():
            db.engine.dispose()


def test_sqlite_keeps_people_erased_before_the_upgrade_erased(tmp_path):
    _erased_people_are_copied(f"sqlite:///{tmp_path}/old.db")


def test_postgresql_keeps_people_erased_before_the_upgrade_erased():
    _on_a_fresh_postgres_database(_erased_people_are_copied)


def _stripe_departures_are_copied(url: str) -> None:
    """3f8b2d6c1e90 gives each departure Stripe sent a subscription to look up."""
    from datetime import UTC, datetime

    when = sa.DateTime(timezone=True)
    customers = sa.table(
        "customers",
        sa.column("id"),
        sa.column("external_id"),
        sa.column("departed_at", when),
        sa.column("plan"),
        sa.column("monthly_revenue"),
        sa.column("source"),
        sa.column("extra", sa.JSON),
        sa.column("delivery_failures"),
        sa.column("erased_at", when),
        sa.column("created_at", when),
        sa.column("updated_at", when),
    )
    left = datetime(2026, 11, 2, 8, tzinfo=UTC)
    app = create_app(settings(url))
    runner = app.test_cli_runner()

    def row(n, source, plan, sub, erased=None):
        return {
            "id": n,
            "external_id": None if erased else f"cus_{n}",
            "departed_at": left,
            "plan": plan,
            "monthly_revenue": 1200,  # cents, as Karn stores money
            "source": source,
            "extra": {"stripe_subscription": sub} if sub else {},
            "delivery_failures": 0,
            "erased_at": erased,
            "created_at": left,
            "updated_at": left,
        }

    try:
        result = runner.invoke(args=["db", "upgrade", "5c1e0a7d9b42"])
        assert result.exit_code == 0, result.output
        with app.app_context(), db.engine.begin() as conn:
            conn.execute(
                sa.insert(customers),
                [
                    row(1, "stripe", "prod_Q1", "sub_1"),
                    row(2, "stripe", "Pro jaarlijks", "sub_2"),
                    row(3, "stripe", "prod_Q1", "sub_3", erased=left),
                    row(4, "csv", "Basis", None),
                ],
            )
        assert runner.invoke(args=["db", "upgrade"]).exit_code == 0
        with app.app_context():
            from karn.customers.stripe_subscriptions import StripeSubscription

            rows = {r.id: r for r in db.session.scalars(sa.select(StripeSubscription))}
            assert set(rows) == {"sub_1", "sub_2"}
            assert (rows["sub_1"].product_id, rows["sub_1"].plan) == ("prod_Q1", None)
            assert (rows["sub_2"].product_id, rows["sub_2"].plan) == (
                None,
                "Pro jaarlijks",
            )
            for found in rows.values():
                assert found.status == "canceled" and found.ended_at == left
                assert found.lookup_due_at is not None
                assert str(found.monthly_revenue) == "12.00"
            db.session.remove()
        result = runner.invoke(args=["db", "downgrade", "5c1e0a7d9b42"])
        assert result.exit_code == 0, result.output
    finally:
        with app.app_context():
            db.engine.dispose()


def test_sqlite_looks_up_departures_stripe_sent_before(tmp_path):
    _stripe_departures_are_copied(f"sqlite:///{tmp_path}/old.db")


def test_postgresql_looks_up_departures_stripe_sent_before():
    _on_a_fresh_postgres_database(_stripe_departures_are_copied)
