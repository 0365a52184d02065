"""Backups: create and restore on SQLite give back the same data."""

import os
import sqlite3

import pytest
import sqlalchemy as sa

from karn.app import create_app
from karn.extensions import db as _db
from tests.conftest import settings


@pytest.fixture
def sqlite_app(tmp_path):
    """An app on its own SQLite file (also when the suite runs on PostgreSQL)."""
    from flask_migrate import upgrade

    from karn.privacy import cli

    app = create_app(
        {
            **settings("sqlite:///" + str(tmp_path / "live.db")),
            # The default backup folder lives in the instance folder.
        }
    )
    app.instance_path = str(tmp_path / "instance")
    if "backup" not in app.cli.commands:
        cli.register(app)
    with app.app_context():
        upgrade()
        yield app
        _db.session.remove()
        _db.engine.dispose()


def _names():
    from karn.customers.models import Customer

    _db.session.remove()
    return sorted(_db.session.scalars(sa.select(Customer.name)))


def _add(name, external_id):
    from karn import clock
    from karn.customers.models import Customer

    _db.session.add(
        Customer(
            external_id=external_id,
            name=name,
            departed_at=clock.now(),
            source="manual",
        )
    )
    _db.session.commit()


def test_create_then_restore_gives_back_the_same_data(sqlite_app, tmp_path):
    from karn.customers.models import Customer

    _add("Before", "B1")
    runner = sqlite_app.test_cli_runner()
    result = runner.invoke(args=["backup", "create", "--dir", str(tmp_path / "bk")])
    assert result.exit_code == 0, result.output
    files = os.listdir(tmp_path / "bk")
    assert len(files) == 1 and files[0].startswith("karn-")
    backup_file = str(tmp_path / "bk" / files[0])

    _add("After", "A1")
    _db.session.execute(sa.update(Customer).values(plan="changed"))
    _db.session.commit()
    assert _names() == ["After", "Before"]

    refused = runner.invoke(args=["backup", "restore", backup_file])
    assert refused.exit_code == 1  # asks first; nothing typed
    assert _names() == ["After", "Before"]
    restored = runner.invoke(args=["backup", "restore", backup_file, "--yes"])
    assert restored.exit_code == 0, restored.output
    assert _names() == ["Before"]
    assert _db.session.scalar(sa.select(Customer.plan)) is None
    # The database as it was before the restore is kept, just in case.
    safety = os.listdir(os.path.join(sqlite_app.instance_path, "backups"))
    assert len(safety) == 1 and safety[0].endswith("-before-restore.db")
    conn = sqlite3.connect(os.path.join(sqlite_app.instance_path, "backups", safety[0]))
    try:
        assert conn.execute("SELECT count(*) FROM customers").fetchone()[0] == 2
    finally:
        conn.close()


def test_default_folder_and_refusing_a_file_that_is_not_a_backup(sqlite_app, tmp_path):
    runner = sqlite_app.test_cli_runner()
    result = runner.invoke(args=["backup", "create"])
    assert result.exit_code == 0, result.output
    assert os.listdir(os.path.join(sqlite_app.instance_path, "backups"))
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    bad = runner.invoke(args=["backup", "restore", str(junk), "--yes"])
    assert bad.exit_code == 1
    assert "not a" in bad.output
    missing = runner.invoke(args=["backup", "restore", str(tmp_path / "x.db"), "--yes"])
    assert missing.exit_code == 1


def test_postgresql_commands_hide_the_password(app):
    from sqlalchemy.engine import make_url

    from karn.privacy import backup

    url = make_url("postgresql+psycopg://karn:s3cret@db.internal:5432/karn")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(backup, "_url", lambda: url)
        dump = backup.pg_dump_command("/tmp/k.dump")
        restore = backup.pg_restore_command("/tmp/k.dump")
        assert not backup.is_sqlite()
        with pytest.raises(backup.BackupError) as refused:
            backup.restore_backup("/tmp/k.dump")
    assert dump.password == "s3cret"
    assert "s3cret" not in dump.shown() and "s3cret" not in " ".join(dump.argv)
    assert dump.argv[:2] == ["pg_dump", "--format=custom"]
    assert "postgresql://karn@db.internal:5432/karn" in dump.argv[-1]
    assert restore.shown().startswith("PGPASSWORD=… pg_restore --clean")
    assert "pg_restore" in str(refused.value)


def test_postgresql_backup_without_pg_dump_prints_the_command(app, monkeypatch):
    from sqlalchemy.engine import make_url

    from karn.privacy import backup

    monkeypatch.setattr(
        backup, "_url", lambda: make_url("postgresql+psycopg://karn@db/karn")
    )
    monkeypatch.setattr(backup.shutil, "which", lambda name: None)
    with pytest.raises(backup.BackupError) as missing:
        backup.create_backup("/tmp/nowhere-karn-test")
    assert "pg_dump --format=custom" in str(missing.value)


def test_postgresql_backup_with_pg_dump(app, tmp_path):
    import shutil

    from karn.privacy import backup

    if backup.is_sqlite() or shutil.which("pg_dump") is None:
        pytest.skip("needs the suite on PostgreSQL and pg_dump installed")
    path = backup.create_backup(str(tmp_path))
    with open(path, "rb") as dump:
        assert dump.read(5) == b"PGDMP"  # pg_dump's custom format
