"""Dashboard speed: Karn's analysis pages, charts and rankings API on a million answers.

    python bench/dashboard.py [--responses 1000000] [--runs 5] [--postgres URL]
                              [--keep DIR]

Fills a fresh, migrated database (a SQLite file; with --postgres also a
database on that server, dropped afterwards unless --keep) in chunks, by
executemany on SQLite and COPY on PostgreSQL: departed customers over 18 months
(segment, plan, region, tenure, revenue, an imported column), one invitation
each in a state that fits its age, the default survey, and N submitted
responses with a main reason (service most common, the mix shifting a little
by segment), one
response_reasons row per shown option (six, "other" last, one or two
also-mentioned reasons for most), every answer the default survey stores, and a
tagged free-text comment (sentiment, score, reason) on about 30% of them. About
30% more customers than responses never answered; a few of those left a
half-filled form. The rows go in past Karn, so the daily reason totals, the
responses' facts and the funnel's totals are then rebuilt as `flask analysis
rebuild-totals` does (its time is printed).

With --keep DIR the filled databases stay (SQLite: DIR/dashboard-N.db;
PostgreSQL: database karn_bench_dashboard_N) and a later run with the same
--responses reuses them after migrating them to head (new migrations run on the
kept data, and their time is printed) instead of filling again.

Then, as a signed-in manager through the Flask test client, it times every
dashboard page (/analysis/ by count and by revenue, trends, segments, text)
without a filter, for segment MKB, for source csv (seven customers in ten),
for the last three months, for tenure 24-60 months, for departures in the
last three months (all answered from the daily totals), for segment MKB
with plan Basis (two attributes at once, which the totals do not keep: counted
from the responses' facts and the funnel's cells) and for the imported column
Kanaal (an extra attribute of every customer, a quarter of them "Winkel"),
with the chart cache emptied before each request; the five SVG charts
uncached and cached; and GET /api/v1/rankings with an API key.
Each figure is the median of --runs requests after one warm-up (cases over
1 s get fewer runs, at least one).

The baseline, measured in the same run on the same engine, is the bare
``SELECT primary_reason, count(*) FROM responses GROUP BY primary_reason``.
Targets: every page under 1 s, the rankings API under 3x the baseline.

Afterwards each query function of karn.analysis.queries is timed alone, and the
statements of the slow pages are timed and the slowest explained.
"""

import argparse
import bisect
import itertools
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PASSWORD = "bench-horse-battery-staple"
MANAGER = "manager@bench.example"
CHUNK = 10_000
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
DAYS = 548  # 18 months of departures
PAGE_TARGET_MS = 1000
API_TARGET_RATIO = 3.0
# Cases slower than this get only as many runs as fit in SLOW_BUDGET_MS.
SLOW_CASE_MS = 1000
SLOW_BUDGET_MS = 4000

SEGMENTS = (
    ["Particulier", "MKB", "Enterprise", "Onderwijs", "Overheid"],
    [60, 25, 8, 5, 2],
)
PLANS = (["Basis", "Plus", "Zakelijk", "Premium"], [45, 30, 15, 10])
REGIONS = ["Utrecht", "Noord-Holland", "Zuid-Holland", "Gelderland", "Limburg"]
# An imported column (kept as an extra attribute): how the customer signed up.
CHANNELS = ["Web", "Winkel", "Telefoon", "Partner"]
# Monthly revenue in cents per segment: (low, high).
REVENUE = {
    "Particulier": (900, 6000),
    "MKB": (3000, 25000),
    "Enterprise": (20000, 200000),
    "Onderwijs": (5000, 40000),
    "Overheid": (10000, 120000),
}
REASONS = ["service", "quality", "brand", "price", "need", "other"]
# Main-reason mix: service most common; businesses leave over price more often.
REASON_WEIGHTS = {
    "Particulier": [30, 20, 12, 16, 14, 8],
    "MKB": [28, 16, 8, 28, 12, 8],
    "Enterprise": [34, 24, 6, 20, 8, 8],
    "Onderwijs": [30, 20, 6, 24, 12, 8],
    "Overheid": [32, 22, 4, 22, 12, 8],
}
COMMENTS = {
    "service": (
        "De klantenservice reageerde pas na twee weken op mijn vraag",
        "Support took two weeks to answer a simple question",
    ),
    "quality": (
        "Het product ging steeds kapot en niemand kon het oplossen",
        "The product kept breaking and nobody could fix it",
    ),
    "brand": (
        "Bij de concurrent krijg ik meer voor hetzelfde geld",
        "The competitor simply offers a better package",
    ),
    "price": (
        "Te duur voor wat je krijgt, de prijsverhoging was te veel",
        "Too expensive for what you get after the price rise",
    ),
    "need": (
        "Ik heb het eigenlijk niet meer nodig sinds de verhuizing",
        "I no longer need it since we moved",
    ),
    "other": (
        "Persoonlijke omstandigheden, niets wat jullie konden doen",
        "Personal circumstances, nothing you could have done",
    ),
}
TONE = {
    "negative": (" en dat is echt teleurstellend.", " and that was really annoying."),
    "neutral": (".", "."),
    "positive": (", verder was ik heel tevreden!", ", otherwise I was very happy!"),
}
BRANDS = ["Concurrent BV", "Ziggo", "KPN", "Odido", "Budget Plus", "Simyo"]


def database(
    kind: str, folder: str, postgres: str | None, responses: int, fresh: bool = False
) -> str:
    """The bench database's URL; with fresh, emptied (or created) first."""
    if kind == "sqlite":
        path = os.path.join(folder, f"dashboard-{responses}.db")
        if fresh:
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
        return f"sqlite:///{path}"
    name = f"karn_bench_dashboard_{responses}"
    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if fresh or not exists:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str, postgres: str) -> None:
    """Remove the bench database from the PostgreSQL server."""
    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        name = url.rsplit("/", 1)[1]
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def fresh_app(url: str):
    """A Karn app on a database migrated to head."""
    from flask_migrate import upgrade

    from karn.app import create_app

    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "RATELIMIT_STORAGE_URI": "memory://",
            "MAIL_SERVER": None,
            "BASE_URL": "http://localhost",
        }
    )
    with app.app_context():
        upgrade()
    return app


COLUMNS = {
    "customers": (
        "id external_id email name language departed_at plan segment region "
        "tenure_months monthly_revenue lifetime_value source extra "
        "delivery_failures created_at updated_at"
    ).split(),
    "invitations": (
        "id customer_id survey_id survey_version_id token_hash status "
        "scheduled_for sent_at reminders_sent last_reminded_at responded_at "
        "expires_at closed_at created_at"
    ).split(),
    "responses": (
        "id invitation_id customer_id survey_version_id language channel "
        "primary_reason started_at submitted_at"
    ).split(),
    "response_reasons": ("response_id reason position is_primary is_secondary".split()),
    "answers": (
        "response_id question_key value text sentiment sentiment_score "
        "tag_reason tags tagged_at"
    ).split(),
}
EPOCH = datetime(1970, 1, 1)
DAY = 86400


def picker(rng: random.Random, values, weights):
    """A function drawing from values with these weights (faster than choices)."""
    total = sum(weights)
    edges = list(itertools.accumulate(w / total for w in weights))
    edges[-1] = 1.0
    pick = rng.random
    return lambda: values[bisect.bisect_right(edges, pick())]


def stamper(dialect: str):
    """Seconds since 1970 as the timestamp text the column stores on this database."""
    # Karn's UTCDateTime keeps naive UTC text on SQLite; PostgreSQL gets an
    # explicit UTC offset for its timestamptz columns.
    suffix = "+00" if dialect == "postgresql" else ""

    def stamp(seconds: float) -> str:
        moment = EPOCH + timedelta(seconds=seconds)
        return moment.isoformat(" ", "microseconds") + suffix

    return stamp


def departures(rng: random.Random, responses: int, silent: int):
    """(departed_at seconds, responds) per customer, oldest first: ids follow time."""
    # Respondents left at least nine days ago, so their answer lies in the past.
    now = NOW.timestamp()
    start = now - DAYS * DAY
    answered_span = (DAYS - 9) * DAY
    people = [(start + rng.random() * answered_span, True) for _ in range(responses)]
    people += [(start + rng.random() * DAYS * DAY, False) for _ in range(silent)]
    people.sort()
    return people


class Generator:
    """Rows of every table, as tuples in COLUMNS order, per chunk of customers."""

    def __init__(self, rng: random.Random, dialect: str):
        self.rng = rng
        self.stamp = stamper(dialect)
        self.now = NOW.timestamp()
        self.segment = picker(rng, *SEGMENTS)
        self.plan = picker(rng, *PLANS)
        self.reason = {
            segment: picker(rng, REASONS, weights)
            for segment, weights in REASON_WEIGHTS.items()
        }
        self.reminders = picker(rng, [0, 1, 2], [60, 28, 12])
        self.recent = picker(rng, ["sent", "reminded", "bounced"], [40, 55, 5])
        self.old = picker(
            rng,
            ["expired", "bounced", "unsubscribed", "failed", "cancelled"],
            [80, 8, 7, 2, 3],
        )
        self.others = picker(rng, [0, 1, 2], [20, 50, 30])
        self.tone = picker(rng, ["negative", "neutral", "positive"], [60, 25, 15])
        # Answer values as the JSON text the column stores, made once.
        self.reason_json = {r: json.dumps(r) for r in REASONS}
        self.ratings_json = [
            json.dumps({"service": s, "quality": q, "value": v})
            for s in range(1, 6)
            for q in range(1, 6)
            for v in range(1, 6)
        ]
        self.tags_json = {r: json.dumps({"reasons": [[r, 0.8]]}) for r in REASONS}
        self.brands_json = [json.dumps(b) for b in BRANDS]
        self.texts = {
            (reason, lang, tone): COMMENTS[reason][lang] + TONE[tone][lang]
            for reason in REASONS
            for lang in (0, 1)
            for tone in TONE
        }
        self.texts_json = {key: json.dumps(text) for key, text in self.texts.items()}
        self.scale = [str(n) for n in range(11)]
        self.orders = [
            (*order, "other") for order in itertools.permutations(REASONS[:-1])
        ]
        # Per main reason, the possible also-mentioned sets by size.
        self.also = {
            reason: [
                list(itertools.combinations([r for r in REASONS if r != reason], k))
                for k in range(3)
            ]
            for reason in REASONS
        }
        self.others_json = {
            combo: json.dumps(list(combo))
            for sizes in self.also.values()
            for combos in sizes
            for combo in combos
        }
        self.extra_json = [json.dumps({"Kanaal": c}) for c in CHANNELS]
        self.next_response = 1

    def chunks(self, responses: int):
        """Yield {table: rows} for CHUNK customers at a time."""
        people = departures(self.rng, responses, responses * 3 // 10)
        for first in range(0, len(people), CHUNK):
            rows = {name: [] for name in COLUMNS}
            for offset, (departed, responds) in enumerate(
                people[first : first + CHUNK]
            ):
                self.person(rows, first + offset + 1, departed, responds)
            yield rows

    def person(self, rows: dict, cid: int, departed: float, responds: bool) -> None:
        """A customer, their invitation and, if they answered, their response."""
        rng, stamp, draw = self.rng, self.stamp, self.rng.random
        segment = self.segment()
        low, high = REVENUE[segment]
        tenure = 1 + int(draw() * 120)
        monthly = low + int(draw() * (high - low)) if draw() > 0.04 else None
        roll = draw()
        lang = "nl" if roll < 0.8 else "en"
        left = stamp(departed)
        rows["customers"].append(
            (
                cid,
                f"K{cid:07d}",
                f"klant{cid}@voorbeeld.nl",
                f"Klant {cid}",
                lang,
                left,
                self.plan(),
                segment,
                REGIONS[cid % len(REGIONS)],
                tenure,
                monthly,
                monthly * tenure if monthly is not None else None,
                "csv" if roll < 0.7 else ("api" if roll < 0.9 else "stripe"),
                self.extra_json[cid % len(CHANNELS)],
                0,
                left,
                left,
            )
        )
        scheduled = departed + DAY
        answered = None
        reminders = 0
        if responds:
            answered = scheduled + 3600 + draw() * 7 * DAY
            status = "responded"
            reminders = self.reminders()
        elif scheduled > self.now:
            status = "scheduled"
        elif self.now - departed < 30 * DAY:
            status = self.recent()
        else:
            status = self.old()
        if status in ("reminded", "expired"):
            reminders = 1 + (draw() < 0.5)
        sent = status not in ("scheduled", "cancelled")
        planned = stamp(scheduled)
        expires = stamp(scheduled + 30 * DAY) if sent else None
        submitted = stamp(answered) if answered is not None else None
        closed = submitted
        if closed is None and status not in ("scheduled", "sent", "reminded"):
            closed = expires or planned
        rows["invitations"].append(
            (
                cid,
                cid,
                1,
                1 if sent else None,
                f"{cid:064x}" if sent else None,
                status,
                planned,
                planned if sent else None,
                reminders,
                stamp(scheduled + 4 * DAY) if reminders else None,
                submitted,
                expires,
                closed,
                left,
            )
        )
        if answered is None:
            # Some who never submitted left a half-filled form behind.
            if sent and draw() < 0.05:
                rid = self.next_response
                self.next_response += 1
                rows["responses"].append(
                    (rid, cid, cid, 1, lang, "invitation", None, planned, None)
                )
            return
        rid = self.next_response
        self.next_response += 1
        reason = self.reason[segment]()
        rows["responses"].append(
            (rid, cid, cid, 1, lang, "invitation", reason, planned, submitted)
        )
        # The options in a shuffled order, "other" always last, as Karn shows them.
        order = rng.choice(self.orders)
        others = rng.choice(self.also[reason][self.others()])
        rows["response_reasons"] += [
            (rid, code, position, code == reason, code in others)
            for position, code in enumerate(order, 1)
        ]
        self.answers(rows["answers"], rid, reason, others, lang, submitted)

    def answers(self, out: list, rid: int, reason, others, lang, submitted) -> None:
        """Every answer the default survey stores, a tagged comment for ~30%."""
        rng, draw, blank = self.rng, self.rng.random, (None,) * 6
        out.append((rid, "main_reason", self.reason_json[reason], *blank))
        out.append((rid, "ratings", rng.choice(self.ratings_json), *blank))
        out.append((rid, "come_back", self.scale[int(draw() * 11)], *blank))
        out.append((rid, "callback", "false", *blank))
        if others:
            out.append((rid, "other_reasons", self.others_json[others], *blank))
        if reason == "brand" and draw() < 0.5:
            out.append((rid, "switched_to", rng.choice(self.brands_json), *blank))
        if draw() < 0.3:
            tone = self.tone()
            if tone == "negative":
                score = -0.2 - draw() * 0.75
            elif tone == "positive":
                score = 0.2 + draw() * 0.75
            else:
                score = (draw() - 0.5) * 0.38 or 0.01
            key = (reason, 0 if lang == "nl" else 1, tone)
            tag = reason if draw() < 0.8 else rng.choice(REASONS)
            out.append(
                (
                    rid,
                    "keep_you",
                    self.texts_json[key],
                    self.texts[key],
                    tone,
                    round(score, 3),
                    tag,
                    self.tags_json[tag],
                    submitted,
                )
            )


def bulk_insert(conn, name: str, rows: list[tuple]) -> None:
    """Insert rows into a table in one go: executemany, or COPY on PostgreSQL."""
    # The model types would convert every value in Python, which costs more
    # than the insert itself; the values are already what those types store.
    # On PostgreSQL executemany manages about 30,000 rows/s here against about
    # 140,000 for COPY, which keeps the million-response fill within minutes.
    if not rows:
        return
    columns = COLUMNS[name]
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(
        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", rows
    )


def fill(app, responses: int) -> dict:
    """Users, the default survey, customers, invitations and answers; the counts."""
    from karn.accounts import operations
    from karn.actions.models import ImprovementAction
    from karn.extensions import db
    from karn.surveys.editing import ensure_default_survey

    counts = dict.fromkeys(COLUMNS, 0)
    with app.app_context():
        operations.create_user(MANAGER, "Bench Manager", "manager", "en", PASSWORD)
        survey, _created = ensure_default_survey()
        db.session.commit()
        assert survey.id == 1 and survey.versions[0].id == 1
        dialect = db.engine.dialect.name
        generator = Generator(random.Random(17), dialect)
        loader = sa.create_engine(db.engine.url)
        for rows in generator.chunks(responses):
            with loader.begin() as conn:
                if dialect == "sqlite":
                    # The rows are consistent by construction; checking every
                    # key again costs more than the insert. (Before the first
                    # insert opens the transaction: it is ignored inside one.)
                    conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
                    # Index pages stay in memory between chunks instead of
                    # being read back from the file for every insert.
                    conn.exec_driver_sql("PRAGMA cache_size=-1000000")
                    conn.exec_driver_sql("PRAGMA synchronous=OFF")
                for name, table_rows in rows.items():
                    bulk_insert(conn, name, table_rows)
                    counts[name] += len(table_rows)
        with loader.begin() as conn:
            if dialect == "postgresql":
                # Ids were given explicitly; later inserts must not collide.
                for table in ("customers", "invitations", "responses"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT max(id) FROM {table}))"
                    )
            stored = conn.exec_driver_sql("SELECT count(*) FROM responses").scalar()
            assert stored == counts["responses"], (stored, counts["responses"])
        loader.dispose()
        # Two improvement actions, drawn on the trend and p-charts.
        for title, reason, days in (
            ("Service desk open on Saturdays", "service", 300),
            ("Price freeze for loyal customers", "price", 150),
        ):
            started = (NOW - timedelta(days=days)).date()
            db.session.add(
                ImprovementAction(title=title, reason=reason, started_on=started)
            )
        db.session.commit()
        started = time.perf_counter()
        analyse(db.engine)
        print(f"ANALYZE took {time.perf_counter() - started:.0f} s")
        db.engine.dispose()
    return counts


def analyse(engine) -> None:
    """Planner statistics, as a server would have them (autovacuum / a cron)."""
    if engine.dialect.name == "postgresql":
        # VACUUM also sets the visibility map that index-only scans rely on.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE"))
    else:
        with engine.begin() as conn:
            conn.execute(sa.text("ANALYZE"))


def signed_in_client(app):
    """A test client signed in as the manager through the login form."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    response = client.post(
        "/login",
        data={"email": MANAGER, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, "login failed"
    return client


def api_key(app) -> str:
    """A new API key's secret."""
    from karn.accounts import operations
    from karn.extensions import db

    with app.app_context():
        _key, secret = operations.create_api_key("dashboard bench")
        db.session.commit()
    return secret


def filter_sets() -> list[tuple[str, dict[str, str]]]:
    """The filters each page is timed with: none, a segment, a source most
    customers came from, a period, a tenure band, a period by departure date,
    two attributes at once and an imported attribute."""
    since = (NOW - timedelta(days=91)).date().isoformat()
    return [
        ("", {}),
        ("segment=MKB", {"segment": "MKB"}),
        # Seven customers in ten.
        ("source=csv", {"source": "csv"}),
        ("last 3 months", {"since": since}),
        ("tenure=24-60", {"tenure": "24-60"}),
        ("departed last 3 months", {"by": "departure", "since": since}),
        # Not kept in the daily totals: counted from the responses' facts.
        ("segment=MKB plan=Basis", {"segment": "MKB", "plan": "Basis"}),
        # An imported column, a quarter of the customers.
        ("Kanaal=Winkel", {"segment.Kanaal": "Winkel"}),
    ]


def page_cases() -> list[tuple[str, str]]:
    """(label, URL) of every page and filter to time."""
    pages = [
        ("/analysis/", "/analysis/", {}),
        ("/analysis/?weight=revenue", "/analysis/", {"weight": "revenue"}),
        ("/analysis/trends", "/analysis/trends", {}),
        (
            "/analysis/segments MKB|Particulier",
            "/analysis/segments",
            {"attribute": "segment", "a": "MKB", "b": "Particulier"},
        ),
        ("/analysis/text", "/analysis/text", {}),
    ]
    out = []
    for label, path, args in pages:
        for name, filters in filter_sets():
            query = urlencode({**args, **filters})
            url = f"{path}?{query}".rstrip("?")
            out.append((f"{label} {name}".strip(), url))
    return out


def chart_cases() -> list[tuple[str, str]]:
    """(label, URL) of the SVG charts the unfiltered pages show."""
    names = ("ranking", "trend", "pchart", "funnel", "sentiment")
    return [
        (f"chart {name}.svg", f"/analysis/chart/{name}.svg?lang=en") for name in names
    ]


def median_ms(call, runs: int) -> float:
    """Median wall time of call in milliseconds, after one warm-up."""
    # Slow cases get fewer runs (at least one) so a run stays within minutes.
    start = time.perf_counter()
    call()
    warm = (time.perf_counter() - start) * 1000
    if warm > SLOW_CASE_MS:
        runs = max(1, min(runs, int(SLOW_BUDGET_MS // warm)))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


class Failed(Exception):
    """A request answered with an error status instead of 200."""


def getter(client, url: str, headers=None, uncached: bool = True):
    """A call that GETs url (emptying the chart cache first) and checks for 200."""
    from karn.analysis import report

    def call():
        if uncached:
            report.charts_cache._items.clear()
        try:
            response = client.get(url, headers=headers)
        except sa.exc.DBAPIError as error:
            # The test app re-raises what a server would answer with a 500.
            raise Failed(f"500: {type(error.orig).__name__}") from None
        if response.status_code != 200:
            raise Failed(f"HTTP {response.status_code}")
        response.get_data()

    return call


def timed(call, runs: int) -> float | str:
    """median_ms, or the error status when the request fails."""
    try:
        return median_ms(call, runs)
    except Failed as error:
        return str(error)


def baseline(app, runs: int) -> float:
    """The bare GROUP BY over responses on the same engine, in ms."""
    from karn.extensions import db

    query = sa.text("SELECT primary_reason, count(*) FROM responses GROUP BY 1")
    with app.app_context(), db.engine.connect() as conn:
        return median_ms(lambda: conn.execute(query).all(), runs)


def measure(app, client, secret: str, runs: int) -> dict[str, float]:
    """Median ms per case: pages, charts uncached and cached, the rankings API."""
    results = {}
    for label, url in page_cases():
        results[label] = timed(getter(client, url), runs)
    for label, url in chart_cases():
        results[label + " uncached"] = timed(getter(client, url), runs)
        results[label + " cached"] = timed(getter(client, url, uncached=False), runs)
    auth = {"Authorization": f"Bearer {secret}"}
    for label, args in filter_sets()[:2]:
        url = "/api/v1/rankings?" + urlencode(args)
        results[f"GET /api/v1/rankings {label}".strip()] = timed(
            getter(client, url, auth), runs
        )
    return results


def function_cases() -> list[tuple[str, object]]:
    """(label, call) for each query function a dashboard page runs."""
    from karn.analysis import queries, views

    cases = []
    for name, args in filter_sets()[:2]:
        f = queries.Filters.from_args(args)
        tail = f" {name}" if name else ""
        cases += [
            (f"reason_counts (no secondary){tail}", lambda f=f: _counts(f, False)),
            (f"reason_counts{tail}", lambda f=f: _counts(f, True)),
            (f"monthly_counts{tail}", lambda f=f: queries.monthly_counts(f)),
            (f"funnel{tail}", lambda f=f: queries.funnel(f)),
            (f"sentiment_by_reason{tail}", lambda f=f: queries.sentiment_by_reason(f)),
            (f"quotes (six reasons){tail}", lambda f=f: queries.quotes(f, REASONS)),
        ]
    cases += [
        ("data_version", lambda: queries.data_version()),
        ("segment_values(segment)", lambda: queries.segment_values("segment")),
        ("views._options (filter drop-downs)", lambda: views._options()),
        ("views._extra_attributes", lambda: views._extra_attributes()),
    ]
    return cases


def _counts(f, secondary: bool):
    """reason_counts looked up at call time, so a patched version is timed."""
    from karn.analysis import queries

    return queries.reason_counts(f, secondary=secondary)


def time_functions(app, runs: int, only: set[str] | None = None) -> dict[str, float]:
    """Median ms of each query function alone (a fresh session per call)."""
    from karn.extensions import db

    results = {}
    with app.test_request_context("/analysis/"):
        for label, call in function_cases():
            if only is not None and label not in only:
                continue

            def once(call=call):
                try:
                    call()
                finally:
                    db.session.rollback()

            try:
                results[label] = median_ms(once, runs)
            except sa.exc.DBAPIError as error:
                db.session.rollback()
                results[label] = type(error.orig).__name__
    return results


def statement_times(app, client, url: str) -> list[tuple[float, str, object]]:
    """Each SELECT of one request, timed alone: (ms, SQL, parameters), slowest first."""
    # Statements are captured during the request and then run again alone with
    # every row fetched: SQLite does most of its work while rows are fetched,
    # after the cursor events have fired.
    from karn.extensions import db

    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        getter(client, url)()
    except Failed:
        pass
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    timed_statements = []
    raw = engine.raw_connection()
    try:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue

            def once(statement=statement, parameters=parameters):
                cursor = raw.cursor()
                cursor.execute(statement, parameters)
                cursor.fetchall()

            start = time.perf_counter()
            try:
                once()
            except Exception:  # a failing statement is reported by the page
                raw.rollback()
                continue
            ms = (time.perf_counter() - start) * 1000
            timed_statements.append((ms, statement, parameters))
        raw.rollback()
    finally:
        raw.close()
    return sorted(timed_statements, key=lambda t: -t[0])


def explain(app, statement: str, parameters) -> str:
    """The database's plan for one statement (PostgreSQL: with actual rows)."""
    from karn.extensions import db

    with app.app_context():
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            if db.engine.dialect.name == "postgresql":
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                lines = [r[0] for r in cursor.fetchall()]
            else:
                cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
                lines = [r[3] for r in cursor.fetchall()]
            raw.rollback()
        finally:
            raw.close()
    return "\n".join(lines)


def one_line(statement: str, width: int = 150) -> str:
    """A statement on one line, shortened for the report."""
    text = " ".join(statement.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def report_slow(app, client, results: dict) -> None:
    """Statement times of each slow page, and plans of the slowest."""
    explained = set()
    for label, url in page_cases():
        ms = results.get(label)
        if isinstance(ms, float) and ms < PAGE_TARGET_MS / 2:
            continue
        print(f"\n--- {label}: {cell(ms)} ms  {url}")
        timed_statements = statement_times(app, client, url)
        for stmt_ms, statement, _params in timed_statements[:5]:
            print(f"  {stmt_ms:8.1f} ms  {one_line(statement)}")
        for stmt_ms, statement, params in timed_statements[:2]:
            key = one_line(statement, 400)
            if stmt_ms < 50 or key in explained:
                continue
            explained.add(key)
            print(f"  plan of ({stmt_ms:.0f} ms) {one_line(statement, 90)}")
            for line in explain(app, statement, params).splitlines():
                print("    " + line)


def verdict(label: str, ms: float | str, base: float) -> str:
    """Whether a case meets its target."""
    if isinstance(ms, str):
        return "FAILED"
    if label.startswith("GET /api"):
        return "ok" if ms / base < API_TARGET_RATIO else "MISSED (3x)"
    return "ok" if ms < PAGE_TARGET_MS else "MISSED (1 s)"


def cell(ms: float | str) -> str:
    """A median for the table, or the error it failed with."""
    return ms if isinstance(ms, str) else f"{ms:.1f}"


def print_table(results: dict, base: float) -> None:
    """Every case with its verdict against the targets."""
    print(f"{'case':58} {'median ms':>10} {'x base':>7}  target")
    for label, ms in results.items():
        ratio = f"{ms / base:7.1f}" if not isinstance(ms, str) else " " * 7
        print(f"{label:58} {cell(ms):>10} {ratio}  {verdict(label, ms, base)}")
    print(f"{'baseline: SELECT primary_reason, count(*) … GROUP BY':58} {base:10.1f}")
    api = results.get("GET /api/v1/rankings")
    if isinstance(api, float):
        print(f"rankings API / baseline: {api / base:.1f}x (target < 3x)")


def submitted(url: str) -> int:
    """How many submitted responses a kept database holds (0 if none or broken)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT count(*) FROM responses WHERE submitted_at IS NOT NULL")
            ).scalar_one()
    except sa.exc.DBAPIError:
        return 0
    finally:
        engine.dispose()


def rebuild_totals(app) -> None:
    """The totals and facts of the bulk-loaded rows, as after a restore."""
    from karn.analysis import funnel, totals
    from karn.extensions import db

    with app.app_context():
        started = time.perf_counter()
        with db.engine.begin() as conn:
            rows = totals.rebuild(conn)
            funnel_rows = funnel.rebuild(conn)
        took = time.perf_counter() - started
        print(
            f"flask analysis rebuild-totals: {rows:,} reason and {funnel_rows:,} "
            f"funnel rows in {took:.0f} s"
        )
        analyse(db.engine)
        db.engine.dispose()


def run(kind: str, url: str, responses: int, runs: int, reuse: bool) -> None:
    """Fill (or reuse a kept database), then time every case against the baseline."""
    start = time.perf_counter()
    app = fresh_app(url)
    print(f"\n== {kind}: migrated to head in {time.perf_counter() - start:.0f} s")
    if reuse:
        # New migrations may have added tables and indexes: fresh statistics.
        with app.app_context():
            from karn.extensions import db

            analyse(db.engine)
            db.engine.dispose()
        print(f"reused the kept database with {responses:,} submitted responses")
    else:
        start = time.perf_counter()
        counts = fill(app, responses)
        print(
            f"filled and analysed in {time.perf_counter() - start:.0f} s: "
            + ", ".join(f"{n:,} {name}" for name, n in counts.items())
        )
        rebuild_totals(app)
    client = signed_in_client(app)
    secret = api_key(app)
    base = baseline(app, runs)
    results = measure(app, client, secret, runs)
    print_table(results, base)
    functions = time_functions(app, runs)
    print("\nquery functions alone (median ms):")
    for label, ms in functions.items():
        print(f"  {label:44} {cell(ms):>9}")
    report_slow(app, client, results)


def main() -> None:
    """Run the bench on SQLite, and on PostgreSQL when a server is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="keep the filled databases (SQLite: DIR/dashboard-N.db; PostgreSQL: "
        "database karn_bench_dashboard_N) and reuse them when they hold N "
        "responses, migrated to head",
    )
    parser.add_argument("--only-postgres", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [] if args.only_postgres else ["sqlite"]
    kinds += ["postgresql"] if args.postgres else []
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            url = database(kind, args.keep or tmp, args.postgres, args.responses)
            reuse = bool(args.keep) and submitted(url) == args.responses
            if not reuse:
                url = database(
                    kind, args.keep or tmp, args.postgres, args.responses, fresh=True
                )
            try:
                run(kind, url, args.responses, args.runs, reuse)
            finally:
                if kind == "postgresql" and not args.keep:
                    drop_database(url, args.postgres)


if __name__ == "__main__":
    main()
