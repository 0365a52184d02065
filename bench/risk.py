"""Churn-risk model at scale: training, scoring and the at-risk page on N
customers in a database, each beside a baseline from the same run.

    .venv/bin/python bench/risk.py                          # 1,000,000, SQLite
    .venv/bin/python bench/risk.py --customers 200000
    .venv/bin/python bench/risk.py --postgres postgresql+psycopg://u@host/db

Fills a fresh, migrated database (a SQLite file; with --postgres a new
database on that server, dropped afterwards) with customers whose departure
follows a planted pattern (plan, tenure, support tickets; about a fifth
departed, with departure dates), then times, as the worker runs them:

- Karn's training, ``operations.train_from_platform``: reading the customers
  from the database in chunks, both candidates 5-fold cross-validated (on a
  stratified sample of at most 200,000), calibration, forward-in-time
  validation, the final fit on everyone, the likely-reason model, storing.
  Baseline: one plain ``HistGradientBoostingClassifier`` fit with defaults on
  the same arrays, already in memory, on as many threads as Karn's fits
  (``training.THREADS``).
- Karn's scoring, ``operations.score_all``: every current customer streamed in
  chunks, calibrated, the top 1,000 explained, all scores written. Baseline:
  one plain ``predict_proba`` on the same current customers' array in memory.
- The at-risk page and ``GET /api/v1/at-risk`` through the Flask test client
  (median of --runs after a warm-up): the first page, a filtered view (plan
  and risk band), page 50, the last page, the last and the middle page of
  the filtered view, the middle page and the API's last page. Baseline: the
  bare query of the first page's rows, ``SELECT ... FROM risk_scores ORDER
  BY revenue_at_risk DESC, customer_id DESC LIMIT 100``.

Beside each figure: wall and CPU time of this process and the load average
(1 minute) when the step ended; on a machine shared with other work the CPU
time says what the step costs, the wall time what it got.

Memory: the peak resident size of the process after each step (the arrays of
features are N × features float32; customers are read 5,000 at a time).
Prints the figures; asserts nothing about time.
"""

import argparse
import json
import math
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.customer_list import (  # noqa: E402
    ADMIN,
    PASSWORD,
    database,
    drop_database,
    fresh_app,
    plain_insert,
    signed_in_client,
)

CHUNK = 20_000
NOW = datetime.now(UTC)
PLANS = ["monthly", "yearly", "two-year"]
SEGMENTS = ["Particulier", "MKB", "Enterprise"]
REGIONS = ["Utrecht", "Noord-Holland", "Zuid-Holland", "Gelderland", "Limburg"]


class Timer:
    """Wall-clock and CPU seconds of this process (all its threads): on a busy
    machine the CPU time says what the work costs, the wall time what it got."""

    def __enter__(self):
        self.wall, self.cpu = time.monotonic(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.wall
        self.cpu = time.process_time() - self.cpu

    def __str__(self) -> str:
        return (
            f"{self.wall:>7.1f} s ({self.cpu:>6.1f} s CPU, load "
            f"{os.getloadavg()[0]:.1f})"
        )


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def customer_rows(rng: random.Random, count: int):
    """Customers in chunks; departure planted in plan, tenure and tickets."""
    chunk = []
    for i in range(1, count + 1):
        plan = rng.choices(PLANS, (50, 35, 15))[0]
        tenure = rng.randrange(0, 121)
        tickets = min(12, int(rng.expovariate(0.7)))
        logit = (
            -2.6
            + 1.6 * (plan == "monthly")
            - 0.8 * (plan == "two-year")
            + 1.5 * (tenure < 6)
            - 0.012 * tenure
            + 0.35 * tickets
        )
        departed = rng.random() < 1 / (1 + math.exp(-logit))
        when = NOW - timedelta(days=rng.randrange(1, 700)) if departed else None
        since = NOW - timedelta(days=30 * tenure + 1)
        chunk.append(
            {
                "external_id": f"K{i:07d}",
                "email": f"k{i}@example.com",
                "name": f"Customer {i}",
                "language": "nl" if rng.random() < 0.8 else "en",
                "status": "departed" if departed else "active",
                "departed_at": when,
                "plan": plan,
                "segment": rng.choices(SEGMENTS, (60, 30, 10))[0],
                "region": rng.choice(REGIONS),
                "tenure_months": tenure,
                # Money in whole cents and extra as JSON text: what is stored.
                "monthly_revenue": rng.randrange(500, 30000),
                "lifetime_value": rng.randrange(1000, 500000),
                "source": "csv",
                "extra": json.dumps({"Support tickets": str(tickets)}),
                "stated_reason": (
                    ("price" if plan == "monthly" else "service")
                    if departed and rng.random() < 0.5
                    else None
                ),
                "delivery_failures": 0,
                "created_at": since,
                "updated_at": since,
            }
        )
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def fill(app, count: int) -> tuple[int, int]:
    """(departed, active) customers inserted, and the admin who signs in."""
    from karn.accounts import operations
    from karn.customers.models import Customer
    from karn.extensions import db

    rng = random.Random(5)
    departed = 0
    with app.app_context():
        operations.create_user(ADMIN, "Bench Admin", "admin", "en", PASSWORD)
        db.session.commit()
        loader = sa.create_engine(db.engine.url)
        with loader.begin() as conn:
            for chunk in customer_rows(rng, count):
                departed += sum(r["status"] == "departed" for r in chunk)
                plain_insert(conn, Customer.__table__, chunk)
        loader.dispose()
        if db.engine.dialect.name == "postgresql":
            with db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
    return departed, count - departed


def median_ms(call, runs: int) -> str:
    """Median wall and CPU milliseconds of ``runs`` calls after a warm-up."""
    call()
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        call()
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return (
        f"{statistics.median(walls):>9.1f} ms ({statistics.median(cpus):>7.1f} ms "
        f"CPU, load {os.getloadavg()[0]:.1f})"
    )


def run(url: str, customers: int, runs: int) -> None:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from threadpoolctl import threadpool_limits

    from karn.accounts.operations import create_api_key
    from karn.extensions import db
    from karn.risk import data, operations, training

    app = fresh_app(url)
    started = time.monotonic()
    departed, active = fill(app, customers)
    print(
        f"customers            {customers:>10,}  ({departed:,} departed, "
        f"{active:,} current; filled in {time.monotonic() - started:.0f} s)"
    )
    print(f"database             {url.split(':')[0]}")

    with app.app_context():
        with Timer() as train:
            row, _activated = operations.train_from_platform(by="bench")
        m = row.metrics
        print(
            f"Karn training        {train}  (AUC {m['auc']:.3f}, {m['model']}; "
            f"{m['validation'][:50]}…; peak {peak_mb():,.0f} MB)"
        )
        with Timer() as score:
            report = operations.score_all()
        print(
            f"Karn scoring         {score}  ({report.scored:,} scored, "
            f"{report.explained:,} explained; peak {peak_mb():,.0f} MB)"
        )

        # The baseline's arrays: the same customers, features and labels.
        with Timer() as read:
            feature_set, X, y, _dates, _ids = data.training_arrays(
                operations.store.load(row).features
            )
        print(f"  reading into arrays {read}  (part of Karn's training)")
        with Timer() as fit, threadpool_limits(training.THREADS):
            plain = HistGradientBoostingClassifier(
                categorical_features=feature_set.categorical_mask
            ).fit(X, y)
        print(
            f"plain HGB fit        {fit}  (same arrays, in memory, "
            f"{training.THREADS} thread as Karn's)"
        )
        current = X[~y]
        with Timer() as predict, threadpool_limits(1):
            plain.predict_proba(current)
        print(
            f"plain predict_proba  {predict}  ({len(current):,} current customers, "
            "in memory, one thread)"
        )
        del X, y, current, plain
        key, secret = create_api_key("bench")
        db.session.commit()

    client = signed_in_client(app)
    auth = {"Authorization": f"Bearer {secret}"}

    def bare():
        with app.app_context():
            db.session.execute(
                sa.text(
                    "SELECT customer_id, probability, revenue_at_risk "
                    "FROM risk_scores ORDER BY revenue_at_risk DESC, "
                    "customer_id DESC LIMIT 100"
                )
            ).all()
            db.session.remove()

    def get(path, headers=None):
        def call():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code)

        return call

    with app.app_context():
        pages = -(-report.scored // 100)
        from karn.risk.views import BANDS, _query

        filters = {k: "" for k in ("segment", "region", "reason")}
        filters.update(plan="monthly", band="high")
        filtered = db.session.scalar(_query(filters, sa.func.count()))
        filtered_pages = max(1, -(-filtered // 100))
        assert BANDS[0][0] == "high"
        db.session.remove()
    print(f"baseline bare query  {median_ms(bare, runs)}")
    for label, path, headers in [
        ("at-risk page", "/at-risk/", None),
        ("  filtered", "/at-risk/?plan=monthly&band=high", None),
        ("  page 50", "/at-risk/?page=50", None),
        (f"  last page ({pages:,})", f"/at-risk/?page={pages}", None),
        (
            f"  filtered, last ({filtered_pages:,})",
            f"/at-risk/?plan=monthly&band=high&page={filtered_pages}",
            None,
        ),
        # Pages past the middle are counted from the end: the middle one
        # walks or sorts the most.
        (
            f"  filtered, middle ({(filtered_pages + 1) // 2:,})",
            f"/at-risk/?plan=monthly&band=high&page={(filtered_pages + 1) // 2}",
            None,
        ),
        (
            f"  middle ({(pages + 1) // 2:,})",
            f"/at-risk/?page={(pages + 1) // 2}",
            None,
        ),
        ("GET /api/v1/at-risk", "/api/v1/at-risk", auth),
        (
            "  its last page",
            f"/api/v1/at-risk?per_page=1000&page={-(-report.scored // 1000)}",
            auth,
        ),
    ]:
        print(f"{label:<28} {median_ms(get(path, headers), runs)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="a PostgreSQL server URL to use instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kind = "postgresql" if args.postgres else "sqlite"
        url = database(kind, tmp, args.postgres)
        try:
            run(url, args.customers, args.runs)
        finally:
            if args.postgres:
                drop_database(url, args.postgres)


if __name__ == "__main__":
    main()
