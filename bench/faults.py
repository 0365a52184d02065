"""Faults on the way out: does every departed customer get their mail exactly once?

    python bench/faults.py [--recipients 200] [--postgres URL]

For each scenario a fresh database (a SQLite file, or with --postgres a
database created and dropped on that server) gets RECIPIENTS departed customers
whose invitations are due, a real SMTP server (aiosmtpd) counts what arrives
per recipient, and real `flask worker` processes send. Scenarios:

- no fault (the baseline): one worker, nothing goes wrong;
- worker killed: SIGKILL to the worker a third of the way, a new one started;
- SMTP down and up: the server stops a third of the way, is back 20 s later;
- sender refused: the server refuses Karn's sender (550 on MAIL FROM) from a
  third of the way for 20 s, then accepts again;
- two workers past the lease: two workers, a rate limit and a 2-second lease,
  so every batch outlives its lease many times over.

Prints, per scenario, how many recipients got their invitation 0, 1 and 2 or
more times, how many of the 0 are reported as uncertain (a killed worker was
handing them over; a person checks them, they are never sent twice), how many
customers were wrongly marked undeliverable, and the seconds from the recovery
(the new worker, the server back) until everything settled. Last, one JSON line.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SENDER = "Karn <survey@karn.example>"
SETTLE_LIMIT = 300.0


class Recorder:
    """Counts each recipient's messages; can refuse the sender or go slow."""

    def __init__(self):
        self.received = Counter()
        self.refuse_sender = None
        self.delay = 0.0

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        for rcpt in envelope.rcpt_tos:
            self.received[rcpt] += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """An aiosmtpd server that can be stopped and started on the same port."""

    def __init__(self):
        self.port = free_port()
        self.handler = Recorder()
        self.controller = None
        self.start()

    def start(self):
        from aiosmtpd.controller import Controller

        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self):
        self.controller.stop()


def create_database(server: str | None, folder: str, name: str) -> str:
    if server is None:
        return "sqlite:///" + os.path.join(folder, name + ".db")
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def drop_database(server: str | None, name: str) -> None:
    if server is None:
        return
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def prepare(url: str, port: int, n: int) -> None:
    """Migrate, create the survey, and depart n customers whose invitations are due."""
    import logging

    from flask_migrate import upgrade

    logging.getLogger("alembic").setLevel(logging.WARNING)

    from karn import clock
    from karn.app import create_app
    from karn.customers.operations import upsert_departures
    from karn.enums import Source
    from karn.extensions import db
    from karn.surveys.editing import ensure_default_survey

    app = create_app(config(url, port))
    with app.app_context():
        upgrade()
        ensure_default_survey()
        departed = clock.now() - timedelta(days=1)
        rows = [
            (
                {
                    "external_id": f"K{i:05d}",
                    "email": f"klant{i}@voorbeeld.nl",
                    "language": "nl",
                    "departed_at": departed,
                },
                {},
            )
            for i in range(n)
        ]
        upsert_departures(rows, Source.API)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def config(url: str, port: int, **extra) -> dict:
    return {
        "ENV": "development",
        "SECRET_KEY": "bench",
        "DATABASE_URL": url,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": port,
        "MAIL_DEFAULT_SENDER": SENDER,
        "INVITATION_DELAY_HOURS": 0,
        "QUIET_HOURS_START": 0,
        "QUIET_HOURS_END": 0,
        "WORKER_INTERVAL": 0.5,
        "RATELIMIT_STORAGE_URI": "memory://",
        **extra,
    }


def state(url: str, port: int) -> dict:
    """The outbox and the customers as the database has them now."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.text("SELECT status, count(*) FROM outbox GROUP BY status")
            ).all()
        )
        uncertain = conn.scalar(
            sa.text(
                "SELECT count(*) FROM outbox "
                "WHERE status = 'failed' AND last_error LIKE '%may have been%'"
            )
        )
        uncertain_to = {
            row[0]
            for row in conn.execute(
                sa.text(
                    "SELECT to_address FROM outbox "
                    "WHERE status = 'failed' AND last_error LIKE '%may have been%'"
                )
            )
        }
        undeliverable = conn.scalar(
            sa.text("SELECT count(*) FROM customers WHERE bounced_at IS NOT NULL")
        )
        invitations = conn.scalar(sa.text("SELECT count(*) FROM invitations"))
    engine.dispose()
    return {
        "counts": counts,
        "uncertain": uncertain,
        "uncertain_to": uncertain_to,
        "undeliverable": undeliverable,
        "invitations": invitations,
    }


def settled(url: str, port: int, n: int) -> bool:
    now = state(url, port)
    open_ = sum(now["counts"].get(s, 0) for s in ("pending", "sending", "held"))
    written = sum(now["counts"].values())
    return written >= n and open_ == 0


def worker(url: str, port: int, **extra) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": ROOT, "FLASK_APP": "karn.app"}
    for key, value in config(url, port, **extra).items():
        env[f"KARN_{key}"] = str(value)
    return subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "flask"), "worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until(predicate, limit: float = SETTLE_LIMIT) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if predicate():
            return time.monotonic() - start
        time.sleep(0.25)
    return None


def stop_all(processes) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


def scenario(name: str, n: int, server_url: str | None, folder: str) -> dict:
    smtp = Server()
    db_name = f"karn_faults_{name.replace(' ', '_')}_{os.getpid()}"
    url = create_database(server_url, folder, db_name)
    prepare(url, smtp.port, n)
    received = smtp.handler.received
    third = max(1, n // 3)
    processes = []
    try:
        if name == "no fault":
            processes.append(worker(url, smtp.port))
            recovery = time.monotonic()
        elif name == "worker killed":
            smtp.handler.delay = 0.02
            processes.append(worker(url, smtp.port))
            wait_until(lambda: sum(received.values()) >= third)
            processes[0].kill()
            processes[0].wait()
            recovery = time.monotonic()
            processes.append(worker(url, smtp.port))
        elif name == "SMTP down and up":
            smtp.handler.delay = 0.01
            processes.append(worker(url, smtp.port))
            wait_until(lambda: sum(received.values()) >= third)
            smtp.stop()
            time.sleep(20)
            smtp.start()
            recovery = time.monotonic()
        elif name == "sender refused":
            smtp.handler.delay = 0.01
            processes.append(worker(url, smtp.port))
            wait_until(lambda: sum(received.values()) >= third)
            smtp.handler.refuse_sender = "550 5.7.1 Sender address rejected"
            time.sleep(20)
            smtp.handler.refuse_sender = None
            recovery = time.monotonic()
        elif name == "two workers past the lease":
            extra = {"MAIL_RATE_PER_MINUTE": 1200, "MAIL_CLAIM_LEASE_SECONDS": 2}
            processes += [worker(url, smtp.port, **extra) for _ in range(2)]
            recovery = time.monotonic()
        else:
            raise ValueError(name)
        waited = wait_until(lambda: settled(url, smtp.port, n))
        seconds = None if waited is None else time.monotonic() - recovery
        time.sleep(2)  # a late second copy would show up now
    finally:
        stop_all(processes)
        smtp.stop()
    final = state(url, smtp.port)
    drop_database(server_url, db_name)
    copies = Counter()
    for i in range(n):
        address = f"klant{i}@voorbeeld.nl"
        got = received.get(address, 0)
        copies["0" if got == 0 else "1" if got == 1 else "2+"] += 1
    zero_uncertain = sum(
        1
        for i in range(n)
        if received.get(f"klant{i}@voorbeeld.nl", 0) == 0
        and f"klant{i}@voorbeeld.nl" in final["uncertain_to"]
    )
    return {
        "scenario": name,
        "recipients": n,
        "copies_0": copies["0"],
        "copies_1": copies["1"],
        "copies_2_or_more": copies["2+"],
        "uncertain": final["uncertain"],
        "lost": copies["0"] - zero_uncertain,
        "wrongly_undeliverable": final["undeliverable"],
        "settled_seconds": None if seconds is None else round(seconds, 1),
    }


SCENARIOS = [
    "no fault",
    "worker killed",
    "SMTP down and up",
    "sender refused",
    "two workers past the lease",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=200)
    parser.add_argument("--postgres", help="run on this PostgreSQL server URL")
    parser.add_argument("--only", choices=SCENARIOS, action="append")
    args = parser.parse_args()
    rows = []
    header = (
        f"{'scenario':<28} {'0':>5} {'1':>5} {'2+':>5} {'uncertain':>9} "
        f"{'lost':>5} {'wrongly undeliv.':>16} {'settled s':>9}"
    )
    print(f"database: {'PostgreSQL' if args.postgres else 'SQLite'}")
    print(header)
    with tempfile.TemporaryDirectory() as folder:
        for name in args.only or SCENARIOS:
            row = scenario(name, args.recipients, args.postgres, folder)
            rows.append(row)
            settled_text = (
                "never" if row["settled_seconds"] is None else row["settled_seconds"]
            )
            print(
                f"{name:<28} {row['copies_0']:>5} {row['copies_1']:>5} "
                f"{row['copies_2_or_more']:>5} {row['uncertain']:>9} "
                f"{row['lost']:>5} {row['wrongly_undeliverable']:>16} "
                f"{settled_text:>9}",
                flush=True,
            )
    print(
        json.dumps(
            {"database": "postgresql" if args.postgres else "sqlite", "scenarios": rows}
        )
    )


if __name__ == "__main__":
    main()
