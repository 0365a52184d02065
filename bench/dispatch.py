"""Mail speed: Karn from departures to delivered mail, and its outbox, against
plain smtplib.

    python bench/dispatch.py [--messages 10000] [--postgres URL]

Starts an SMTP server (aiosmtpd, accepting everything) in its own process, then,
for SQLite and, with --postgres, for PostgreSQL (on a database it creates and
drops), runs each side in a fresh process:

- baseline: the same messages built with `email.message.EmailMessage` and sent
  with one `smtplib.SMTP` connection, with no database at all;
- karn dispatch: the messages enqueued in a fresh, migrated database (not
  timed), then `outbox.dispatch` timed until every one is sent and marked so;
- karn end to end: a fresh, migrated database with the default survey (not
  timed), then, timed: as many customers depart (`upsert_departures`, a commit
  per 1,000, as an import does), and the worker's own loop (`Worker.run_forever`,
  default settings, no invitation delay, quiet hours off) writes their
  invitations, renders and queues the mails and sends them, until every
  invitation is sent and marked so.

Prints messages/s for each and how many messages (and distinct Message-IDs) the
server received each time.
"""

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

SENDER = "Karn <survey@karn.example>"
PARAGRAPHS = [
    "Je hebt onlangs je abonnement opgezegd. Jammer dat je vertrekt!",
    "We willen graag leren van je ervaring. Wil je ons in een paar minuten "
    "vertellen waarom je bent gestopt en wat we beter hadden kunnen doen?",
    "De vragenlijst is kort en je antwoorden worden alleen gebruikt om onze "
    "dienstverlening te verbeteren. We delen ze met niemand.",
    "Heb je vragen over je opzegging, je laatste factuur of het terugsturen van "
    "apparatuur? Onze klantenservice helpt je graag, ook na je vertrek.",
    "Met vriendelijke groet, namens het hele team van Voorbeeld Telecom B.V.",
]


def generate(n: int) -> list[dict]:
    """Realistic invitations: a few KB of text and HTML, unsubscribe headers."""
    rng = random.Random(11)
    messages = []
    for i in range(n):
        token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=43))
        link = f"https://survey.karn.example/s/{token}"
        paragraphs = [rng.choice(PARAGRAPHS) for _ in range(12)]
        text = f"Beste klant {i} Müller,\n\n" + "\n\n".join(paragraphs)
        text += f"\n\nNaar de vragenlijst: {link}\n\nAfmelden: {link}/afmelden\n"
        # Laid out like Karn's own templates: one element per line.
        html = "\n".join(
            [
                '<!doctype html>\n<html lang="nl">\n<head><meta charset="utf-8">'
                "<title>Voorbeeld Telecom</title></head>",
                '<body style="margin:0;padding:0;background:#f6f7f5;'
                'font-family:Arial,Helvetica,sans-serif;color:#1b2226;">',
                '<table role="presentation" width="100%" cellpadding="0" '
                'cellspacing="0"><tr><td align="center" style="padding:24px 12px;">',
                f"<p>Beste klant {i} Müller,</p>",
                *(f'<p style="margin:0 0 1em;">{p}</p>' for p in paragraphs),
                f'<p style="margin:24px 0;"><a href="{link}" style="background:'
                "#1d4e5f;color:#ffffff;padding:12px 20px;border-radius:6px;"
                'text-decoration:none;display:inline-block;">Naar de vragenlijst</a>'
                "</p>",
                f'<p style="font-size:12px;color:#5b6770;"><a href="{link}/afmelden"'
                ' style="color:#5b6770;">Afmelden</a></p>',
                "</td></tr></table>\n</body>\n</html>\n",
            ]
        )
        messages.append(
            {
                "to": f"klant{i}@voorbeeld.nl",
                "subject": f"Klant {i}, waarom ben je vertrokken? (2 minuten)",
                "text": text,
                "html": html,
                "headers": {
                    "List-Unsubscribe": f"<{link}/afmelden>, "
                    f"<mailto:survey@karn.example?subject=unsubscribe%20{token}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                    "Auto-Submitted": "auto-generated",
                },
            }
        )
    return messages


# --- the SMTP server process -------------------------------------------------

MESSAGE_ID = re.compile(rb"^Message-ID:\s*(\S+)", re.IGNORECASE | re.MULTILINE)


def serve() -> None:
    """Accept everything; on each stdin line report and reset what arrived."""
    from aiosmtpd.controller import Controller

    class Counter:
        def __init__(self):
            self.count = 0
            self.ids = set()

        async def handle_DATA(self, server, session, envelope):
            self.count += 1
            head = envelope.original_content.split(b"\r\n\r\n", 1)[0]
            match = MESSAGE_ID.search(head)
            self.ids.add(match.group(1) if match else None)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    counter = Counter()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    print(port, flush=True)
    for _line in sys.stdin:
        print(json.dumps({"count": counter.count, "distinct": len(counter.ids)}))
        sys.stdout.flush()
        counter.count, counter.ids = 0, set()
    controller.stop()


# --- the timed children ------------------------------------------------------


def run_baseline(n: int, port: int) -> int:
    import smtplib
    from email.message import EmailMessage
    from email.utils import formatdate, make_msgid

    messages = generate(n)
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for m in messages:
            msg = EmailMessage()
            msg["Subject"] = m["subject"]
            msg["From"] = SENDER
            msg["To"] = m["to"]
            msg["Date"] = formatdate(localtime=True)
            msg["Message-ID"] = make_msgid(domain="karn.example")
            for name, value in m["headers"].items():
                msg[name] = value
            msg.set_content(m["text"])
            msg.add_alternative(m["html"], subtype="html")
            smtp.send_message(msg)
    return time.perf_counter() - start


def run_karn(n: int, port: int, url: str) -> float:
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from karn.app import create_app
    from karn.enums import OutboxStatus
    from karn.extensions import db
    from karn.surveys import outbox
    from karn.surveys.models import OutboxMessage

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_DEFAULT_SENDER": SENDER,
        }
    )
    with app.app_context():
        upgrade()
        for i, m in enumerate(generate(n)):
            outbox.enqueue(
                kind="invitation",
                to_address=m["to"],
                language="nl",
                subject=m["subject"],
                body_text=m["text"],
                body_html=m["html"],
                headers=m["headers"],
            )
            if i % 1000 == 999:
                db.session.commit()
        db.session.commit()
        db.session.remove()

        start = time.perf_counter()
        report = outbox.dispatch("bench")
        seconds = time.perf_counter() - start

        assert report.sent == n, (report.sent, report.retried, report.errors[:3])
        sent = db.session.scalar(
            sa.select(sa.func.count()).where(OutboxMessage.status == OutboxStatus.SENT)
        )
        assert sent == n, sent
        db.session.remove()
        db.engine.dispose()
    return seconds


def run_end_to_end(n: int, port: int, url: str) -> float:
    """Departures to delivered mail: intake, schedule, rendering, outbox, SMTP."""
    import logging
    from datetime import timedelta

    import sqlalchemy as sa
    from flask_migrate import upgrade

    from karn import clock
    from karn.app import create_app
    from karn.customers.operations import upsert_departures
    from karn.enums import InvitationStatus, OutboxStatus, Source
    from karn.extensions import db
    from karn.surveys.editing import ensure_default_survey
    from karn.surveys.models import Invitation, OutboxMessage
    from karn.worker import Worker

    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "BASE_URL": "https://survey.karn.example",
            "COMPANY_NAME": "Voorbeeld Telecom",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": port,
            "MAIL_DEFAULT_SENDER": SENDER,
            "INVITATION_DELAY_HOURS": 0,
            "QUIET_HOURS_START": 0,
            "QUIET_HOURS_END": 0,
        }
    )
    departed = clock.now() - timedelta(hours=1)
    records = [
        (
            {
                "external_id": f"K{i:06d}",
                "email": f"klant{i}@voorbeeld.nl",
                "name": f"Klant {i} Müller",
                "language": "nl" if i % 4 else "en",
                "departed_at": departed,
            },
            {},
        )
        for i in range(n)
    ]
    with app.app_context():
        upgrade()
        ensure_default_survey()
        db.session.commit()
        db.session.remove()

    worker = Worker(app, "bench")
    mail_job, sent = worker.mail_job, 0

    def counting_mail_job(app_):
        nonlocal sent
        report = mail_job(app_)
        sent += report.sent if report else 0
        if sent >= n:
            worker.stop()
        return report

    worker.mail_job = counting_mail_job
    worker.jobs = [counting_mail_job if j == mail_job else j for j in worker.jobs]

    # A worker that cannot finish (a bug, a pass failing again and again)
    # stops after a while, and the check below says so.
    import threading

    give_up = threading.Timer(1800, worker.stop)
    give_up.daemon = True
    give_up.start()
    start = time.perf_counter()
    with app.app_context():
        for begin in range(0, n, 1000):
            upsert_departures(records[begin : begin + 1000], Source.API)
            db.session.commit()
        db.session.remove()
    worker.run_forever()
    seconds = time.perf_counter() - start
    give_up.cancel()

    with app.app_context():
        count = sa.select(sa.func.count())
        mailed = db.session.scalar(
            count.where(OutboxMessage.status == OutboxStatus.SENT)
        )
        invited = db.session.scalar(
            count.where(Invitation.status == InvitationStatus.SENT)
        )
        assert mailed == invited == n, (mailed, invited)
        db.session.remove()
        db.engine.dispose()
    return seconds


def child(mode: str, n: int, port: int, url: str) -> None:
    if mode == "baseline":
        seconds = run_baseline(n, port)
    elif mode == "e2e":
        seconds = run_end_to_end(n, port, url)
    else:
        seconds = run_karn(n, port, url)
    print(json.dumps({"seconds": seconds}))


# --- the driver --------------------------------------------------------------


def create_database(server: str, name: str) -> str:
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.rsplit("/", 1)[0] + "/" + name


def drop_database(server: str, name: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def measure(mode: str, n: int, port: int, url: str) -> float:
    """Seconds one side took, run in a fresh process."""
    command = [sys.executable, __file__, "--messages", str(n)]
    done = subprocess.run(
        [*command, "--child", mode, str(port), url],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    if done.returncode:
        sys.exit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["seconds"]


LABELS = {
    "baseline": "plain smtplib",
    "karn": "karn dispatch",
    "e2e": "karn end to end",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "PORT", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.serve:
        serve()
        return
    if args.child:
        mode, port, url = args.child
        child(mode, args.messages, int(port), url)
        return

    n = args.messages
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    try:
        port = int(server.stdout.readline())
        size = sum(len(m["text"]) + len(m["html"]) for m in generate(100)) / 100
        print(
            f"{n:,} messages, text + HTML about {size / 1024:.1f} KiB each, "
            f"SMTP server (aiosmtpd) in its own process on port {port}"
        )
        kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
        with tempfile.TemporaryDirectory() as tmp:
            for kind in kinds:
                for mode in ("baseline", "karn", "e2e"):
                    name = f"karn_bench_dispatch_{os.getpid()}"
                    on_pg = kind == "postgresql" and mode != "baseline"
                    if on_pg:
                        url = create_database(args.postgres, name)
                    else:
                        url = f"sqlite:///{tmp}/{mode}.db"
                    try:
                        seconds = measure(mode, n, port, url)
                    finally:
                        if on_pg:
                            drop_database(args.postgres, name)
                    server.stdin.write("report\n")
                    server.stdin.flush()
                    got = json.loads(server.stdout.readline())
                    label = LABELS[mode]
                    print(
                        f"{kind:10} {label:16} {n / seconds:>7,.0f} msg/s"
                        f"  {seconds:6.2f} s  server received {got['count']:,}"
                        f" ({got['distinct']:,} distinct Message-IDs)",
                        flush=True,
                    )
    finally:
        server.stdin.close()
        server.wait(10)


if __name__ == "__main__":
    main()
