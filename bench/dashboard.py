"""Dashboard speed: Karn's analysis pages, charts and rankings API on a million answers.

    python bench/dashboard.py [--responses 1000000] [--runs 5] [--postgres URL]
                              [--no-fixes]

Fills a fresh, migrated database (a SQLite file; with --postgres also a new
database on that server, dropped afterwards) in chunks, by executemany on SQLite
and COPY on PostgreSQL: departed customers over 18 months (segment, plan,
region, tenure, revenue), one invitation each in a state that fits its age, the
default survey, and N submitted responses with a main reason (service most
common, the mix shifting a little by segment), one response_reasons row per
shown option (six, "other" last, one or two also-mentioned reasons for most),
every answer the default survey stores, and a tagged free-text comment
(sentiment, score, reason) on about 30% of them. About 30% more customers than
responses never answered; a few of those left a half-filled form.

Then, as a signed-in manager through the Flask test client, it times every
dashboard page (/analysis/ by count and by revenue, trends, segments, text)
without a filter, for segment MKB and for the last three months, with the chart
cache emptied before each request; the five SVG charts uncached and cached; and
GET /api/v1/rankings with an API key. Each figure is the median of --runs
requests after one warm-up (cases over 1 s get fewer runs, at least one).

The baseline, measured in the same run on the same engine, is the bare
``SELECT primary_reason, count(*) FROM responses GROUP BY primary_reason``.
Targets: every page under 1 s, the rankings API under 3x the baseline.

Afterwards each query function of karn.analysis.queries is timed alone, the
statements of the slow unfiltered pages are timed and the slowest explained,
and the proposed fixes (indexes, query rewrites, a denormalised revenue, daily
totals) are applied one after the other inside the bench database and process
only, each with its effect on the functions it touches, before every case is
measured again.
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


def database(kind: str, tmp: str, postgres: str | None) -> str:
    """A fresh, empty database URL of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/dashboard.db"
    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"karn_bench_dashboard_{os.getpid()}"
    with engine.connect() as conn:
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
                "{}",
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
    from karn.analysis.models import ImprovementAction
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
    """The filters each page is timed with: none, a segment, a period."""
    since = (NOW - timedelta(days=91)).date().isoformat()
    return [
        ("", {}),
        ("segment=MKB", {"segment": "MKB"}),
        ("last 3 months", {"since": since}),
    ]


def page_cases() -> list[tuple[str, str, bool]]:
    """(label, URL, filtered) of every page and filter to time."""
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
            out.append((f"{label} {name}".strip(), url, bool(name)))
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
    for label, url, _filtered in page_cases():
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
            (f"quotes (service){tail}", lambda f=f: queries.quotes(f, "service")),
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
    """Statement times of each slow unfiltered page, and plans of the slowest."""
    explained = set()
    for label, url, filtered in page_cases():
        ms = results.get(label)
        if filtered or (isinstance(ms, float) and ms < PAGE_TARGET_MS / 2):
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


def secondary_counts(f, skip_join: bool = False) -> dict[str, int]:
    """Secondary mentions, testing `is_secondary` so a partial index applies."""
    # With skip_join and no filter, response_reasons is counted alone: its rows
    # are written only when a response is submitted.
    from karn.analysis import queries
    from karn.extensions import db
    from karn.surveys.models import Response, ResponseReason

    if skip_join and f == queries.Filters():
        query = sa.select(ResponseReason.reason, sa.func.count())
    else:
        base = sa.join(
            ResponseReason, Response, Response.id == ResponseReason.response_id
        )
        query = queries._responses(f, ResponseReason.reason, sa.func.count(), base=base)
    # A plain boolean test, which the partial index's WHERE matches on both
    # databases (`IS true` / `IS 1` does not on SQLite).
    query = query.where(ResponseReason.is_secondary).group_by(ResponseReason.reason)
    return {r.value: c for r, c in db.session.execute(query)}


def patch_secondary(skip_join: bool):
    """Replace reason_counts' secondary query; returns the undo."""
    from karn.analysis import queries

    original = queries.reason_counts

    def reason_counts(f, secondary=True):
        result = original(f, secondary=False)
        if secondary:
            result.secondary = secondary_counts(f, skip_join)
        return result

    queries.reason_counts = reason_counts
    return lambda: setattr(queries, "reason_counts", original)


def funnel_one_pass(f):
    """queries.funnel from one GROUP BY over invitations instead of two scans."""
    # Every invitation has its customer, so the join is needed only to filter.
    from dataclasses import replace

    from karn.customers.models import Customer
    from karn.enums import InvitationStatus
    from karn.extensions import db
    from karn.surveys.models import Invitation

    g = replace(f, period_by="departure")
    conds = [*g.customer_conditions(), *g.period_conditions(Customer.departed_at)]
    departed = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Customer)
        .where(Customer.erased_at.is_(None), *conds)
    )
    sent = Invitation.sent_at.is_not(None).label("sent")
    query = sa.select(
        Invitation.status, Invitation.reminders_sent, sent, sa.func.count()
    ).group_by(Invitation.status, Invitation.reminders_sent, sent)
    if conds:
        query = query.join(Customer, Customer.id == Invitation.customer_id).where(
            *conds
        )
    out = dict.fromkeys(
        ("invited", "delivered", "responded", "bounced", "unsubscribed"), 0
    )
    after = dict.fromkeys(range(3), 0)
    failed = (InvitationStatus.BOUNCED, InvitationStatus.FAILED)
    for status, reminders, was_sent, n in db.session.execute(query):
        if was_sent:
            out["invited"] += n
            if status not in failed:
                out["delivered"] += n
        if status == InvitationStatus.RESPONDED:
            out["responded"] += n
            if reminders in after:
                after[reminders] += n
        elif status == InvitationStatus.BOUNCED:
            out["bounced"] += n
        elif status == InvitationStatus.UNSUBSCRIBED:
            out["unsubscribed"] += n
    return {"departed": departed, **out, "after_reminder": after}


def distinct_values(name: str, limit: int) -> list[str]:
    """DISTINCT values of an indexed customer column by a loose index scan."""
    # One index lookup per distinct value instead of reading every row.
    from karn.extensions import db

    sql = (
        f"WITH RECURSIVE v(x) AS (SELECT min({name}) FROM customers UNION ALL "
        f"SELECT (SELECT min({name}) FROM customers WHERE {name} > v.x) "
        f"FROM v WHERE v.x IS NOT NULL) "
        f"SELECT x FROM v WHERE x IS NOT NULL LIMIT {int(limit)}"
    )
    return list(db.session.scalars(sa.text(sql)))


def patch_distinct():
    """Filter drop-downs and segment pickers through distinct_values."""
    from karn.analysis import queries, views
    from karn.extensions import db
    from karn.surveys.models import SurveyVersion

    options, values = views._options, queries.segment_values

    def _options():
        versions = db.session.execute(
            sa.select(SurveyVersion.id, SurveyVersion.number).order_by(
                SurveyVersion.number
            )
        ).all()
        return {
            "segments": distinct_values("segment", 100),
            "plans": distinct_values("plan", 100),
            "regions": distinct_values("region", 100),
            "versions": versions,
            "tenure_bands": list(queries.TENURE_BANDS),
            "revenue_bands": list(queries.REVENUE_BANDS),
        }

    def segment_values(attribute, limit=200):
        if attribute in ("segment", "plan", "region"):
            return distinct_values(attribute, limit)
        return values(attribute, limit)

    views._options, queries.segment_values = _options, segment_values

    def undo():
        views._options, queries.segment_values = options, values

    return undo


def patch_funnel():
    """funnel -> funnel_one_pass."""
    from karn.analysis import queries

    original = queries.funnel
    queries.funnel = funnel_one_pass
    return lambda: setattr(queries, "funnel", original)


def patch_monthly_once():
    """monthly_counts computed once per request: trends asks for it twice."""
    from flask import g, has_request_context

    from karn.analysis import queries

    original = queries.monthly_counts

    def monthly_counts(f):
        if not has_request_context():
            return original(f)
        memo = g.setdefault("bench_monthly", {})
        if f.key() not in memo:
            memo[f.key()] = original(f)
        return memo[f.key()]

    queries.monthly_counts = monthly_counts
    return lambda: setattr(queries, "monthly_counts", original)


def revenue_columns(engine) -> None:
    """Copy each respondent's revenue onto their response (the denormalisation)."""
    with engine.begin() as conn:
        for column in ("monthly_revenue", "lifetime_value"):
            conn.exec_driver_sql(f"ALTER TABLE responses ADD COLUMN {column} BIGINT")
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "UPDATE responses SET monthly_revenue = c.monthly_revenue, "
                "lifetime_value = c.lifetime_value FROM customers c "
                "WHERE c.id = responses.customer_id"
            )
        else:
            conn.exec_driver_sql(
                "UPDATE responses SET (monthly_revenue, lifetime_value) = "
                "(SELECT monthly_revenue, lifetime_value FROM customers c "
                "WHERE c.id = responses.customer_id)"
            )
    analyse(engine)


def patch_revenue_on_responses():
    """reason_counts summing revenue kept on responses: no join to customers."""
    from karn.analysis import queries
    from karn.dbtypes import Cents
    from karn.extensions import db
    from karn.surveys.models import Response

    original = queries.reason_counts
    monthly = sa.literal_column("responses.monthly_revenue", Cents)
    lifetime = sa.literal_column("responses.lifetime_value", Cents)

    def reason_counts(f, secondary=True):
        result = queries.ReasonCounts()
        query = queries._responses(
            f,
            Response.survey_version_id,
            Response.primary_reason,
            sa.func.count(),
            sa.func.sum(monthly),
            sa.func.sum(lifetime),
        )
        query = query.where(Response.primary_reason.is_not(None)).group_by(
            Response.survey_version_id, Response.primary_reason
        )
        per_version = {}
        for version_id, reason, count, money, value in db.session.execute(query):
            code = reason.value
            result.counts[code] = result.counts.get(code, 0) + count
            per_version[version_id] = per_version.get(version_id, 0) + count
            if money is not None:
                result.monthly_revenue[code] = result.monthly_revenue.get(
                    code, 0
                ) + float(money)
            if value is not None:
                result.lifetime_value[code] = result.lifetime_value.get(
                    code, 0
                ) + float(value)
        result.n = sum(per_version.values())
        for version_id, count in per_version.items():
            for code in queries.shown_reasons(version_id):
                result.shown[code] = result.shown.get(code, 0) + count
        if secondary:
            result.secondary = secondary_counts(f, skip_join=True)
        return result

    queries.reason_counts = reason_counts
    return lambda: setattr(queries, "reason_counts", original)


def data_version_fast():
    """queries.data_version as two scalar subqueries."""
    # SQLite answers a lone max() from an index, but max(a), max(b) in one
    # SELECT scans the whole table.
    from karn.extensions import db
    from karn.surveys.models import Response

    return tuple(
        db.session.execute(
            sa.select(
                sa.select(sa.func.max(Response.submitted_at)).scalar_subquery(),
                sa.select(sa.func.max(Response.id)).scalar_subquery(),
            )
        ).one()
    )


def patch_data_version():
    """queries.data_version -> data_version_fast."""
    from karn.analysis import queries

    original = queries.data_version
    queries.data_version = data_version_fast
    return lambda: setattr(queries, "data_version", original)


def rollup_tables(engine) -> None:
    """Daily totals per version, reason and language, as submit would keep them."""
    if engine.dialect.name == "postgresql":
        day = "to_char(r.submitted_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
        secondary = "rr.is_secondary"
    else:
        day = "substr(r.submitted_at, 1, 10)"
        secondary = "rr.is_secondary = 1"
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE reason_days AS SELECT {day} AS day, "
            "r.survey_version_id, r.language, r.primary_reason AS reason, "
            "count(*) AS n, sum(c.monthly_revenue) AS monthly_revenue, "
            "sum(c.lifetime_value) AS lifetime_value "
            "FROM responses r LEFT JOIN customers c ON c.id = r.customer_id "
            "WHERE r.submitted_at IS NOT NULL AND r.primary_reason IS NOT NULL "
            "GROUP BY 1, 2, 3, 4"
        )
        conn.exec_driver_sql(
            f"CREATE TABLE secondary_days AS SELECT {day} AS day, "
            "r.survey_version_id, r.language, rr.reason, count(*) AS n "
            "FROM response_reasons rr JOIN responses r ON r.id = rr.response_id "
            f"WHERE {secondary} AND r.submitted_at IS NOT NULL GROUP BY 1, 2, 3, 4"
        )
        for table in ("reason_days", "secondary_days"):
            conn.exec_driver_sql(f"CREATE INDEX ix_{table} ON {table} (day)")
            conn.exec_driver_sql(f"ANALYZE {table}")


def patch_rollup():
    """reason_counts and monthly_counts from the daily totals when they can."""
    # Customer filters and departure periods still read the responses.
    from karn.analysis import queries
    from karn.extensions import db

    counts, monthly = queries.reason_counts, queries.monthly_counts

    def where(f) -> tuple[str, dict]:
        conds, params = ["1 = 1"], {}
        if f.since:
            conds.append("day >= :since")
            params["since"] = f.since.isoformat()
        if f.until:
            conds.append("day <= :until")
            params["until"] = f.until.isoformat()
        if f.version:
            conds.append("survey_version_id = :version")
            params["version"] = f.version
        if f.language:
            conds.append("language = :language")
            params["language"] = f.language
        return " AND ".join(conds), params

    def usable(f) -> bool:
        return not f.needs_customer and f.period_by == "response"

    def reason_counts(f, secondary=True):
        if not usable(f):
            return counts(f, secondary)
        cond, params = where(f)
        result = queries.ReasonCounts()
        rows = db.session.execute(
            sa.text(
                "SELECT survey_version_id, reason, sum(n), sum(monthly_revenue), "
                f"sum(lifetime_value) FROM reason_days WHERE {cond} GROUP BY 1, 2"
            ),
            params,
        )
        per_version: dict[int, int] = {}
        for version_id, code, n, money, value in rows:
            n = int(n)
            result.counts[code] = result.counts.get(code, 0) + n
            per_version[version_id] = per_version.get(version_id, 0) + n
            if money is not None:
                revenue = result.monthly_revenue.get(code, 0) + int(money) / 100
                result.monthly_revenue[code] = revenue
            if value is not None:
                ltv = result.lifetime_value.get(code, 0) + int(value) / 100
                result.lifetime_value[code] = ltv
        result.n = sum(per_version.values())
        for version_id, n in per_version.items():
            for code in queries.shown_reasons(version_id):
                result.shown[code] = result.shown.get(code, 0) + n
        if secondary:
            rows = db.session.execute(
                sa.text(
                    f"SELECT reason, sum(n) FROM secondary_days WHERE {cond} GROUP BY 1"
                ),
                params,
            )
            result.secondary = {code: int(n) for code, n in rows}
        return result

    def monthly_counts(f):
        if not usable(f):
            return monthly(f)
        cond, params = where(f)
        rows = db.session.execute(
            sa.text(
                "SELECT substr(day, 1, 7), survey_version_id, reason, sum(n) "
                f"FROM reason_days WHERE {cond} GROUP BY 1, 2, 3"
            ),
            params,
        )
        by_month: dict[str, tuple[dict, dict]] = {}
        for month, version_id, code, n in rows:
            got, shown = by_month.setdefault(month, ({}, {}))
            got[code] = got.get(code, 0) + int(n)
            for option in queries.shown_reasons(version_id):
                shown[option] = shown.get(option, 0) + int(n)
        return [(m, *by_month[m]) for m in sorted(by_month)]

    queries.reason_counts, queries.monthly_counts = reason_counts, monthly_counts

    def undo():
        queries.reason_counts, queries.monthly_counts = counts, monthly

    return undo


def fixes() -> list[tuple[str, str, dict, object, list[str]]]:
    """(name, what it changes, SQL per dialect, query patch, functions it affects)."""
    # Applied in order and kept: each is measured on top of the ones before.
    both = lambda *sql: {"sqlite": list(sql), "postgresql": list(sql)}  # noqa: E731
    counts = ["reason_counts", "reason_counts segment=MKB"]
    return [
        (
            "partial index on secondary mentions",
            "CREATE INDEX ix_response_reasons_secondary ON response_reasons "
            "(reason, response_id) WHERE is_secondary; the query tests "
            "`is_secondary` (not `IS true`) and, unfiltered, counts "
            "response_reasons alone (its rows exist only for submitted answers)",
            {
                "sqlite": [
                    "CREATE INDEX ix_response_reasons_secondary ON response_reasons"
                    " (reason, response_id) WHERE is_secondary = 1"
                ],
                "postgresql": [
                    "CREATE INDEX ix_response_reasons_secondary ON response_reasons"
                    " (reason, response_id) WHERE is_secondary"
                ],
            },
            lambda: patch_secondary(skip_join=True),
            counts,
        ),
        (
            "covering index on responses",
            "CREATE INDEX ix_responses_submitted_reason ON responses "
            "(submitted_at, survey_version_id, primary_reason, customer_id)",
            both(
                "CREATE INDEX ix_responses_submitted_reason ON responses "
                "(submitted_at, survey_version_id, primary_reason, customer_id)"
            ),
            None,
            [
                "reason_counts (no secondary)",
                "monthly_counts",
                "monthly_counts segment=MKB",
            ],
        ),
        (
            "revenue kept on responses",
            "responses.monthly_revenue / lifetime_value (Cents) copied from the "
            "customer when the answer is stored; reason_counts sums those and "
            "joins customers only for customer filters",
            {"sqlite": [revenue_columns], "postgresql": [revenue_columns]},
            patch_revenue_on_responses,
            ["reason_counts (no secondary)", *counts],
        ),
        (
            "monthly_counts once per request",
            "the trends page asks for the same monthly counts twice (trend and "
            "p-chart); keep them on flask.g for the request",
            {},
            patch_monthly_once,
            [],
        ),
        (
            "partial indexes on tagged answers",
            "CREATE INDEX ix_answers_sentiment ON answers (response_id, sentiment) "
            "WHERE sentiment IS NOT NULL; CREATE INDEX ix_answers_score ON answers "
            "(sentiment_score, response_id) WHERE sentiment_score IS NOT NULL AND "
            "text IS NOT NULL",
            both(
                "CREATE INDEX ix_answers_sentiment ON answers (response_id, sentiment)"
                " WHERE sentiment IS NOT NULL",
                "CREATE INDEX ix_answers_score ON answers (sentiment_score, "
                "response_id) WHERE sentiment_score IS NOT NULL AND text IS NOT NULL",
            ),
            None,
            [
                "sentiment_by_reason",
                "sentiment_by_reason segment=MKB",
                "quotes (service)",
                "quotes (service) segment=MKB",
            ],
        ),
        (
            "funnel in one pass",
            "queries.funnel: one GROUP BY status, reminders_sent, sent over "
            "invitations (joined to customers only for customer filters) instead "
            "of two joined scans; CREATE INDEX ix_invitations_funnel ON "
            "invitations (status, reminders_sent, sent_at); CREATE INDEX "
            "ix_customers_kept_departed ON customers (departed_at) WHERE erased_at "
            "IS NULL",
            both(
                "CREATE INDEX ix_invitations_funnel ON invitations "
                "(status, reminders_sent, sent_at)",
                "CREATE INDEX ix_customers_kept_departed ON customers (departed_at) "
                "WHERE erased_at IS NULL",
            ),
            patch_funnel,
            ["funnel", "funnel segment=MKB"],
        ),
        (
            "distinct values by loose index scan",
            "views._options and queries.segment_values: segment, plan and region "
            "values by a recursive CTE that hops through the column's index",
            {},
            patch_distinct,
            ["segment_values(segment)", "views._options (filter drop-downs)"],
        ),
        (
            "data_version by two subqueries",
            "queries.data_version: SELECT (SELECT max(submitted_at) FROM responses), "
            "(SELECT max(id) FROM responses); every chart request, cached or not, "
            "asks for it",
            {},
            patch_data_version,
            ["data_version"],
        ),
        (
            "daily totals (rollup)",
            "tables reason_days (day, survey_version_id, language, reason -> n, "
            "revenue sums) and secondary_days (-> n), kept up to date by the "
            "submit transaction; reason_counts and monthly_counts read them when "
            "no customer filter is set",
            {"sqlite": [rollup_tables], "postgresql": [rollup_tables]},
            patch_rollup,
            ["reason_counts (no secondary)", "reason_counts", "monthly_counts"],
        ),
    ]


def apply_fixes(app, runs: int) -> list:
    """Each fix in turn in the bench database and process; the patches' undos."""
    undo = []
    from karn.extensions import db

    with app.app_context():
        engine = db.engine
    dialect = engine.dialect.name
    for name, what, sql, patch, affects in fixes():
        before = time_functions(app, runs, set(affects))
        start = time.perf_counter()
        for step in sql.get(dialect, []):
            if callable(step):
                step(engine)
                continue
            index, table = re.match(r"CREATE INDEX (\w+) ON (\w+)", step).groups()
            with engine.begin() as conn:
                conn.exec_driver_sql(step)
                # Statistics for the new index only: a whole ANALYZE takes longer.
                target = table if dialect == "postgresql" else index
                conn.exec_driver_sql(f"ANALYZE {target}")
        built = time.perf_counter() - start
        if patch is not None:
            undo.append(patch())
        after = time_functions(app, runs, set(affects))
        print(f"\n* fix: {name} ({built:.0f} s to build)\n  {what}")
        for label in affects:
            print(
                f"  {label:44} {cell(before[label]):>9} -> {cell(after[label]):>9} ms"
            )
    return undo


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


def print_table(results: dict, base: float, after: dict | None = None) -> None:
    """Every case with its verdict against the targets (and after the fixes)."""
    head = f"{'case':58} {'median ms':>10} {'x base':>7}  {'target':12}"
    if after:
        head += f" {'fixed ms':>9} {'x base':>7}  target"
    print(head)
    for label, ms in results.items():
        ratio = f"{ms / base:7.1f}" if not isinstance(ms, str) else " " * 7
        line = f"{label:58} {cell(ms):>10} {ratio}  {verdict(label, ms, base):12}"
        if after:
            fixed = after[label]
            ratio = f"{fixed / base:7.1f}" if not isinstance(fixed, str) else " " * 7
            line += f" {cell(fixed):>9} {ratio}  {verdict(label, fixed, base)}"
        print(line)
    print(f"{'baseline: SELECT primary_reason, count(*) … GROUP BY':58} {base:10.1f}")
    for name, table in (("", results), ("fixed ", after or {})):
        api = table.get("GET /api/v1/rankings")
        if isinstance(api, float):
            print(f"{name}rankings API / baseline: {api / base:.1f}x (target < 3x)")


def run(kind: str, url: str, responses: int, runs: int, try_fixes: bool) -> None:
    """Fill, time every case against the baseline, then look for the time."""
    start = time.perf_counter()
    app = fresh_app(url)
    counts = fill(app, responses)
    filled = time.perf_counter() - start
    print(
        f"\n== {kind}: filled and analysed in {filled:.0f} s: "
        + ", ".join(f"{n:,} {name}" for name, n in counts.items())
    )
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
    if not try_fixes:
        return
    undo = apply_fixes(app, runs)
    try:
        print(f"\n== {kind}: every case again with all the fixes")
        print_table(results, base, measure(app, client, secret, runs))
    finally:
        for step in reversed(undo):
            step()


def main() -> None:
    """Run the bench on SQLite, and on PostgreSQL when a server is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    parser.add_argument("--no-fixes", action="store_true", help="skip the fixes")
    parser.add_argument("--only-postgres", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    kinds = [] if args.only_postgres else ["sqlite"]
    kinds += ["postgresql"] if args.postgres else []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            url = database(kind, tmp, args.postgres)
            try:
                run(kind, url, args.responses, args.runs, not args.no_fixes)
            finally:
                if kind == "postgresql":
                    drop_database(url, args.postgres)


if __name__ == "__main__":
    main()
