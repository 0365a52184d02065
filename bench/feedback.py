"""Feedback at volume: the CSV import and the feedback pages at 1,000,000 items.

    python bench/feedback.py [--rows 1000000] [--postgres URL]

Generates a helpdesk export (ticket id, date, channel, customer number for
some, text, rating for some), then in one fresh database each:

- baseline: csv.reader over the file and one executemany INSERT of the same
  rows into feedback_items, with no validation, language detection, customer
  matching, idempotence or batching;
- karn: the import as the worker runs it once the import page queued it
  (karn.feedback.importjob): the stored (gzip) upload read, every value
  checked, customer numbers linked, items it has left alone, the rest stored
  untagged (the worker reads their language when it tags them), committed
  per batch of 10,000 with the import's progress.

Then, on Karn's database, the feedback pages are fetched a few times as a
signed-in manager, first with every item still waiting to be tagged, then
once the items got tags as the worker gives them (set in SQL here: tagging a
million texts is the worker's background work, measured in bench/tagging.py)
except the last 1,000; beside them, the bare SQL they cannot do without (one
GROUP BY over the items) as the baseline.
"""

import argparse
import csv
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

TEXTS = [
    "Klantenservice reageerde nooit op mijn ticket",
    "Veel te duur voor wat je krijgt",
    "De app crasht steeds bij het inloggen",
    "We hebben het pakket niet meer nodig",
    "Overgestapt naar een andere aanbieder die sneller is",
    "Customer service never answered my emails",
    "Way too expensive for what you get",
    "The app crashes all the time and loses my data",
    "Fijne service, snel geholpen",
    "Storing duurde drie dagen, niemand belde terug",
]
CHANNELS = ["support", "complaint", "review", "social", "nps", "other"]
CUSTOMERS = 10_000
FIRST_DAY = date(2025, 1, 1)


def generate(path: str, rows: int) -> None:
    rng = random.Random(11)
    with open(path, "w", encoding="utf-8", newline="") as f:
        out = csv.writer(f, delimiter=";")
        out.writerow(["Ticket", "Datum", "Kanaal", "Klantnummer", "Tekst", "Cijfer"])
        for i in range(rows):
            out.writerow(
                [
                    f"T{i:08d}",
                    # Sorted by date, as a helpdesk exports its tickets.
                    (FIRST_DAY + timedelta(days=i * 365 // rows)).strftime("%d-%m-%Y"),
                    rng.choice(CHANNELS),
                    f"K{rng.randrange(CUSTOMERS * 2):07d}" if i % 4 == 0 else "",
                    f"{rng.choice(TEXTS)} (#{i})",
                    rng.randint(1, 5) if i % 3 == 0 else "",
                ]
            )


def fresh_app(url: str):
    from karn.app import create_app
    from karn.extensions import db

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        db.create_all()
        now = datetime.now(UTC)
        db.session.execute(
            db.metadata.tables["customers"].insert(),
            [
                {
                    "external_id": f"K{i:07d}",
                    "email": f"k{i}@voorbeeld.nl",
                    "source": "csv",
                    "status": "departed",
                    "departed_at": now,
                    "extra": {},
                    "created_at": now,
                    "updated_at": now,
                    "delivery_failures": 0,
                    "involuntary": False,
                    "trial_only": False,
                }
                for i in range(CUSTOMERS)
            ],
        )
        db.session.commit()
    return app


def baseline_import(app, path: str) -> int:
    from karn.extensions import db

    with app.app_context(), open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        next(reader)
        now = datetime.now(UTC).isoformat()
        # The day as the database reads it (31-01-2025 -> 2025-01-31).
        rows = [
            (r[2], r[4], r[1][6:] + r[1][2:6] + r[1][:2], "nl", r[0][-16:], "csv")
            + (now, r[0])
            for r in reader
        ]
        db.session.connection().exec_driver_sql(
            "INSERT INTO feedback_items (channel, text, received_at, language, "
            "dedupe_key, via, created_at, source_id) VALUES "
            + (
                "(?, ?, ?, ?, ?, ?, ?, ?)"
                if db.engine.dialect.name == "sqlite"
                else "(%s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            rows,
        )
        db.session.commit()
        return len(rows)


MAPPING = {
    "Ticket": "source_id",
    "Datum": "received_at",
    "Kanaal": "channel",
    "Klantnummer": "customer_number",
    "Tekst": "text",
    "Cijfer": "rating",
}


def karn_import(app, path: str):
    """The import as the worker runs it: the upload as stored (gzip), read
    and checked, committed per batch with its progress."""
    from karn.customers.bulk import heap_frozen
    from karn.customers.operations import compress
    from karn.extensions import db
    from karn.feedback import importjob
    from karn.feedback.models import FeedbackImport

    with app.app_context(), open(path, "rb") as f:
        data = f.read()
        run = FeedbackImport(
            filename="tickets.csv",
            upload=compress(data),
            expected_rows=importjob.estimate_rows(data),
        )
        db.session.add(run)
        importjob.queue(run, MAPPING, None, month_first=False)
        db.session.commit()
        run_id = run.id
        del data
    with app.app_context(), heap_frozen():
        start, cpu = time.perf_counter(), time.process_time()
        assert importjob.claim("bench", run_id) == run_id
        assert importjob.run_slice(run_id, "bench", None) == "done"
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        run = db.session.get(FeedbackImport, run_id)
        assert run.rejected == 0, run.errors[:3]
        return run, seconds, cpu


def tag_in_sql(app) -> None:
    """The tags the worker would give, set in one statement; 1,000 left."""
    from karn.extensions import db

    with app.app_context():
        db.session.execute(
            db.text(
                "UPDATE feedback_items SET tag_reason = CASE id % 6 "
                "WHEN 0 THEN 'service' WHEN 1 THEN 'price' WHEN 2 THEN 'quality' "
                "WHEN 3 THEN 'need' WHEN 4 THEN 'brand' ELSE 'other' END, "
                "sentiment = 'negative', sentiment_score = -0.5, "
                "tagged_at = created_at "
                "WHERE id <= (SELECT max(id) - 1000 FROM feedback_items)"
            )
        )
        db.session.commit()
        if db.engine.dialect.name == "sqlite":
            db.session.execute(db.text("ANALYZE"))
        else:
            db.session.execute(db.text("ANALYZE feedback_items"))
        db.session.commit()


def timed(fn, times: int = 5) -> str:
    """Median wall and CPU milliseconds of a few runs, after a first one."""
    fn()  # warm: the first request loads templates and the tagger's lists
    wall, cpu = [], []
    for _ in range(times):
        start, used = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - used)
    return (
        f"{statistics.median(wall) * 1000:6.0f} ms "
        f"(CPU {statistics.median(cpu) * 1000:4.0f} ms)"
    )


def login(app):
    """A test client signed in as a manager."""
    from karn.accounts import operations
    from karn.extensions import db

    with app.app_context():
        operations.create_user(
            "m@example.com", "M", "manager", "en", "bench-password-1"
        )
        db.session.commit()
    client = app.test_client()
    response = client.post(
        "/login", data={"email": "m@example.com", "password": "bench-password-1"}
    )
    assert response.status_code == 302, response.status_code
    return client


URLS = (
    "/feedback/",
    "/feedback/?channel=review&reason=price",
    "/feedback/channels",
    "/analysis/?channel=feedback",
    "/analysis/?channel=feedback.support",
    "/analysis/trends?channel=feedback.review",
)


def pages(app, client, urls=URLS) -> None:
    from karn.extensions import db

    def sql(statement: str):
        def run():
            with app.app_context():
                db.session.execute(db.text(statement)).all()
                db.session.remove()

        return run

    group = sql(
        "SELECT channel, tag_reason, count(*) FROM feedback_items "
        "WHERE tag_reason IS NOT NULL GROUP BY channel, tag_reason"
    )
    print(f"  baseline: bare GROUP BY channel, reason     {timed(group)}")
    for url in urls:

        def get(url=url):
            r = client.get(url)
            assert r.status_code == 200, (url, r.status_code)

        print(f"  {url:<44} {timed(get)}")


def database(kind: str, tmp: str, name: str, postgres: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/{name}.db"
    import sqlalchemy as sa

    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    db_name = f"karn_bench_{name}_{os.getpid()}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    engine.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + db_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    parser.add_argument(
        "--no-sqlite", action="store_true", help="only PostgreSQL (with --postgres)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "tickets.csv")
        generate(path, args.rows)
        size = os.path.getsize(path) / 1024 / 1024
        print(
            f"{args.rows:,} feedback rows, {size:.1f} MiB; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        kinds = [] if args.no_sqlite else ["sqlite"]
        for kind in kinds + (["postgresql"] if args.postgres else []):
            print(f"{kind}:")
            app = fresh_app(database(kind, tmp, "baseline", args.postgres))
            start, cpu = time.perf_counter(), time.process_time()
            n = baseline_import(app, path)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            print(
                f"  baseline: executemany INSERT  {n:,} rows in {seconds:6.1f} s "
                f"= {n / seconds:9,.0f} rows/s (CPU {cpu:.1f} s)"
            )
            app = fresh_app(database(kind, tmp, "karn", args.postgres))
            run, seconds, cpu = karn_import(app, path)
            print(
                f"  karn: feedback CSV import     {run.created:,} rows in "
                f"{seconds:6.1f} s = {run.created / seconds:9,.0f} rows/s "
                f"(CPU {cpu:.1f} s)"
            )
            again, seconds, cpu = karn_import(app, path)
            print(
                f"  karn: the same file again     {again.unchanged:,} unchanged, "
                f"{again.created} new, in {seconds:6.1f} s (CPU {cpu:.1f} s)"
            )
            print(f"  load average now {os.getloadavg()[0]:.1f}")
            client = login(app)
            print("  pages just after the import, every item waiting to be tagged:")
            pages(app, client, URLS[:3])
            tag_in_sql(app)
            print("  pages once tagged but for the last 1,000 items:")
            pages(app, client)


if __name__ == "__main__":
    main()
