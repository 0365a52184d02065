"""Backups of the database: SQLite by its online backup API, PostgreSQL by pg_dump.

SQLite: `create_backup` copies the live database page by page while Karn keeps
running (WAL mode lets readers and the worker carry on) into a timestamped
file; `restore_backup` copies a backup back into the live file the same way.
PostgreSQL: `pg_dump --format=custom` when it is installed; restoring is left
to `pg_restore`, whose command is printed, because it needs the database
owner's rights and every Karn process stopped.
"""

import os
import shlex
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass

from sqlalchemy.engine import URL, make_url

from karn import clock
from karn.extensions import db


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says what to do."""


@dataclass
class PgCommand:
    """A pg_dump or pg_restore command, with the password kept out of argv."""

    argv: list[str]
    password: str | None

    def shown(self) -> str:
        """The command to print: the password as a PGPASSWORD placeholder."""
        prefix = "PGPASSWORD=… " if self.password else ""
        return prefix + " ".join(shlex.quote(a) for a in self.argv)


def _url():
    return make_url(db.engine.url.render_as_string(hide_password=False))


def is_sqlite() -> bool:
    """True when Karn runs on a SQLite file."""
    return _url().get_backend_name() == "sqlite"


def sqlite_path() -> str:
    """The live SQLite database file."""
    path = _url().database
    if not path or path == ":memory:":
        raise BackupError("the database is not a SQLite file")
    return path


def _stamp() -> str:
    return clock.now().strftime("%Y%m%d-%H%M%S")


def _target(directory: str, suffix: str) -> str:
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"karn-{_stamp()}{suffix}")
    n = 1
    while os.path.exists(path):  # two backups within one second
        n += 1
        path = os.path.join(directory, f"karn-{_stamp()}-{n}{suffix}")
    return path


def _copy_sqlite(source: str, target: str) -> None:
    src = sqlite3.connect(source)
    dst = sqlite3.connect(target)
    try:
        with dst:
            src.backup(dst)
        # A backup is one self-contained file, without -wal and -shm beside it.
        dst.execute("PRAGMA journal_mode=DELETE")
    finally:
        dst.close()
        src.close()


def _check_sqlite(path: str) -> None:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            ok = conn.execute("PRAGMA integrity_check").fetchone()[0]
            has_schema = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE name = 'alembic_version'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from exc
    if ok != "ok":
        raise BackupError(f"{path} is damaged: {ok}")
    if not has_schema:
        raise BackupError(f"{path} is not a Karn database (no alembic_version)")


def _without_password(url) -> str:
    return URL.create(
        "postgresql",
        username=url.username,
        host=url.host,
        port=url.port,
        database=url.database,
        query=url.query,
    ).render_as_string(hide_password=False)


def pg_dump_command(path: str) -> PgCommand:
    """The pg_dump command that writes a custom-format dump to path."""
    url = _url()
    return PgCommand(
        ["pg_dump", "--format=custom", f"--file={path}", _without_password(url)],
        url.password,
    )


def pg_restore_command(path: str) -> PgCommand:
    """The pg_restore command that loads a custom-format dump into the database."""
    url = _url()
    return PgCommand(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--single-transaction",
            f"--dbname={_without_password(url)}",
            path,
        ],
        url.password,
    )


def create_backup(directory: str) -> str:
    """Write a backup into directory and return its path."""
    if is_sqlite():
        target = _target(directory, ".db")
        _copy_sqlite(sqlite_path(), target)
        _check_sqlite(target)
        return target
    target = _target(directory, ".dump")
    command = pg_dump_command(target)
    if shutil.which("pg_dump") is None:
        raise BackupError(
            "pg_dump is not installed here; make the backup with:\n  " + command.shown()
        )
    env = {**os.environ}
    if command.password:
        env["PGPASSWORD"] = command.password
    result = subprocess.run(command.argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        if os.path.exists(target):
            os.remove(target)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    return target


def restore_backup(path: str, safety_dir: str | None = None) -> str | None:
    """Copy a SQLite backup over the live database; returns the safety copy made.

    The current database is first backed up into safety_dir (when given), so a
    restore of the wrong file can itself be undone.
    """
    if not is_sqlite():
        raise BackupError(
            "Karn does not restore PostgreSQL itself. Stop the web processes and "
            "workers, then run:\n  " + pg_restore_command(path).shown()
        )
    if not os.path.isfile(path):
        raise BackupError(f"{path} does not exist")
    _check_sqlite(path)
    live = sqlite_path()
    if os.path.abspath(path) == os.path.abspath(live):
        raise BackupError("that is the live database itself")
    safety = None
    if safety_dir:
        safety = _target(safety_dir, "-before-restore.db")
        _copy_sqlite(live, safety)
    # Pooled connections would keep reading their cached pages.
    db.session.remove()
    db.engine.dispose()
    _copy_sqlite(path, live)
    return safety
