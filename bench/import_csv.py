"""Import speed and memory: Karn's CSV import against a plain executemany insert.

    python bench/import_csv.py [--rows 100000] [--repeat 3] [--postgres URL]

Generates a Dutch-Excel style export (semicolons, Windows-1252, decimal commas,
day-first dates) of active and departed customers (a status column; a
departure date, stated reason and comment for the departed, a comment for some),
then imports it into a fresh, migrated database twice, each in
its own process so peak memory is measured alone:

- baseline: csv.reader over the file and one executemany INSERT of the same
  rows into the customers table, with no validation, matching or batching;
- karn: `import_csv`, which validates every value, matches existing customers
  and commits in batches.

Prints rows/s, wall and CPU seconds and peak resident memory for both; with
--repeat N, each of them N times (baseline and karn taking turns, so both
see the same load on a shared machine) and then the median of each.
"""

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


REASONS = [
    "Te duur",
    "Overgestapt naar concurrent",
    "Verhuisd",
    "Slechte klantenservice",
    "Storingen",
    "Geen behoefte meer",
    "Price too high",
    "Competitor offered higher download speeds",
    "Moved",
    "Attitude of support person",
    "Overig",
    "",
]
COMMENTS = [
    "De prijs ging weer omhoog",
    "Bij de buren is het sneller en goedkoper",
    "Helpdesk belde nooit terug",
    "We zijn naar het buitenland verhuisd",
    "Internet viel steeds uit in de avond",
    "Too expensive for what we use",
    "Service was fine, we just do not need it anymore",
]


def generate(path: str, rows: int) -> None:
    """A realistic export of active and departed customers."""
    rng = random.Random(7)
    plans = ["Basis", "Plus", "Zakelijk", "Premium"]
    segments = ["Particulier", "MKB", "Enterprise"]
    regions = ["Utrecht", "Noord-Holland", "Zuid-Holland", "Gelderland", "Limburg"]
    with open(path, "w", encoding="cp1252", newline="") as f:
        out = csv.writer(f, delimiter=";")
        out.writerow(
            [
                "Klantnummer",
                "Naam",
                "E-mailadres",
                "Telefoon",
                "Taal",
                "Opzegdatum",
                "Abonnement",
                "Segment",
                "Regio",
                "Looptijd (maanden)",
                "Maandbedrag",
                "Klantwaarde",
                "Kanaal",
                "Klantstatus",
                "Reden opzegging",
                "Toelichting",
            ]
        )
        for i in range(rows):
            day = rng.randint(1, 28)
            left = rng.random() < 0.7
            comment = rng.choice(COMMENTS) if rng.random() < 0.4 else ""
            out.writerow(
                [
                    f"K{i:07d}",
                    f"Klant {i} Müller",
                    f"klant{i}@voorbeeld.nl",
                    f"06-{rng.randint(10000000, 99999999)}",
                    rng.choice(["nl", "en"]),
                    f"{day:02d}-{rng.randint(1, 12):02d}-2026" if left else "",
                    rng.choice(plans),
                    rng.choice(segments),
                    rng.choice(regions),
                    rng.randint(1, 120),
                    f"{rng.randint(500, 20000) / 100:.2f}".replace(".", ","),
                    f"{rng.randint(1000, 500000) / 100:.2f}".replace(".", ","),
                    rng.choice(["web", "telefoon", "winkel"]),
                    "Opgezegd" if left else "Actief",
                    rng.choice(REASONS) if left else "",
                    f"{comment} (klant {i})" if comment else "",
                ]
            )


def fresh_app(url: str):
    from flask_migrate import upgrade

    from karn.app import create_app

    app = create_app({"ENV": "testing", "SECRET_KEY": "bench", "DATABASE_URL": url})
    with app.app_context():
        upgrade()
    return app


def run_baseline(app, path: str) -> int:
    from karn.extensions import db

    with app.app_context(), open(path, encoding="cp1252", newline="") as f:
        reader = csv.reader(f, delimiter=";")
        next(reader)
        now = datetime.now(UTC)
        rows = [
            {
                "external_id": r[0],
                "name": r[1],
                "email": r[2],
                "phone": r[3],
                "departed_at": now,
                "source": "csv",
                "extra": "{}",
                "created_at": now,
                "updated_at": now,
                "delivery_failures": 0,
            }
            for r in reader
        ]
        conn = db.session.connection()
        conn.exec_driver_sql(
            "INSERT INTO customers (external_id, name, email, phone, departed_at, "
            "source, extra, created_at, updated_at, delivery_failures) VALUES "
            + (
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                if conn.dialect.name == "sqlite"
                else "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            ),
            [tuple(r.values()) for r in rows],
        )
        db.session.commit()
        return len(rows)


def run_karn(app, path: str) -> int:
    from karn.customers.operations import import_csv

    with app.app_context(), open(path, "rb") as f:
        report = import_csv(f)
        assert report.rejected == 0, report.errors[:3]
        return report.created


def child(mode: str, path: str, url: str) -> None:
    app = fresh_app(url)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start, cpu = time.perf_counter(), time.process_time()
    rows = (run_baseline if mode == "baseline" else run_karn)(app, path)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "rows": rows,
                "seconds": seconds,
                "cpu": cpu,
                "peak_mb": peak / 1024,
                "growth_mb": (peak - before) / 1024,
            }
        )
    )


def database(kind: str, tmp: str, name: str, postgres: str | None) -> str:
    if kind == "sqlite":
        return f"sqlite:///{tmp}/{name}.db"
    import sqlalchemy as sa

    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    db_name = f"karn_bench_{name}_{os.getpid()}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db_name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{db_name}"'))
    engine.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + db_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs of each; then their medians"
    )
    parser.add_argument(
        "--child", nargs=3, metavar=("MODE", "FILE", "URL"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "export.csv")
        generate(path, args.rows)
        size = os.path.getsize(path) / 1024 / 1024
        print(f"{args.rows:,} rows, {size:.1f} MiB, semicolons, Windows-1252")
        kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
        for kind in kinds:
            runs: dict[str, list[dict]] = {"baseline": [], "karn": []}
            for _ in range(args.repeat):
                for mode in ("baseline", "karn"):
                    url = database(kind, tmp, mode, args.postgres)
                    out = subprocess.run(
                        [sys.executable, __file__, "--child", mode, path, url],
                        check=True,
                        capture_output=True,
                        text=True,
                        env={**os.environ, "PYTHONPATH": ROOT},
                    ).stdout
                    runs[mode].append(json.loads(out.strip().splitlines()[-1]))
                    drop(kind, url, args.postgres)
                    show(kind, mode, runs[mode][-1])
            if args.repeat > 1:
                for mode in ("baseline", "karn"):
                    show(kind, mode, median(runs[mode]), "median")


def median(runs: list[dict]) -> dict:
    """The run of median wall time (its CPU time and memory with it)."""
    return sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]


def show(kind: str, mode: str, r: dict, note: str = "") -> None:
    label = "plain executemany" if mode == "baseline" else "karn import_csv"
    print(
        f"{kind:10} {label:18} {r['rows'] / r['seconds']:>9,.0f} rows/s"
        f"  {r['seconds']:6.2f} s (CPU {r['cpu']:5.2f} s)"
        f"  peak RSS {r['peak_mb']:6.0f} MiB (+{r['growth_mb']:.0f} MiB while"
        f" importing){'  ' + note if note else ''}",
        flush=True,
    )


def drop(kind: str, url: str, postgres: str | None) -> None:
    """Remove a run's database, so the next run starts afresh."""
    if kind == "sqlite":
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    import sqlalchemy as sa

    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}"'))
    engine.dispose()


if __name__ == "__main__":
    main()
