"""Customer list speed: Karn's list page on a million departed customers.

    python bench/customer_list.py [--rows 1000000] [--runs 5] [--postgres URL]

Fills a fresh, migrated database (a SQLite file; with --postgres also a new
database on that server, dropped afterwards) with departed customers over 18
months and invitations for about 60% of them, then times GET /customers/ through
the Flask test client as a signed-in manager: the first page, a page about 1,000
pages deep reached through the keyset cursor, searches, filters and a
combination. Each figure is the median of --runs requests after one warm-up.

The baseline, measured in the same run on the same engine, is the bare query
``SELECT ... FROM customers ORDER BY departed_at DESC, id DESC LIMIT 50``: what
a list page costs at the least. For every case slower than 200 ms the page's
statements are timed one by one and the plan of the slowest is printed.

Then two comparisons as single statements: the segment drop-down as a plain
DISTINCT against the loose index scan Karn uses, and (SQLite) searching a
window of the next customers first against the search as it is.
"""

import argparse
import functools
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import sqlalchemy as sa

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

PASSWORD = "bench-horse-battery-staple"
ADMIN = "admin@bench.example"
SLOW_MS = 200
CHUNK = 20_000
NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)

FIRST = (
    "Jan Johan Jannes Janneke Janine Jasper Jeroen Joost Kees Klaas Lars Lisa Lotte "
    "Maarten Marieke Mark Martijn Mila Noah Nina Pieter Peter Ruben Sanne Sara Sem "
    "Sophie Thijs Tim Tom Anna Bram Daan Emma Eva Fleur Finn Hanna Ilse Iris Julia "
    "Kevin Laura Luuk Max Mohammed Noor Olivia Roos Sven Tess Yara Zoë Ahmed Fatima "
    "Wouter Bas Niels Esther Ingrid Henk Gerrit Femke Anouk Bart Dirk Erik Frank"
).split()
LAST = (
    "de Jong|Jansen|de Vries|van den Berg|van Dijk|Bakker|Janssen|Visser|Smit|Meijer|"
    "de Boer|Mulder|de Groot|Bos|Vos|Peters|Hendriks|van Leeuwen|Dekker|Brouwer|"
    "de Wit|Dijkstra|Smits|de Graaf|van der Meer|van der Linden|Kok|Jacobs|de Haan|"
    "Vermeulen|van den Heuvel|van der Veen|van den Broek|de Bruijn|de Bruin|"
    "van der Heijden|Schouten|van Beek|Willems|van Vliet|van de Ven|Hoekstra|Maas|"
    "Verhoeven|Koster|van Dam|Prins|Blom|Huisman|Peeters|Yılmaz|El Amrani|Müller"
).split("|")
DOMAINS = ["gmail.com", "hotmail.com", "outlook.com", "ziggo.nl", "kpnmail.nl"]
SEGMENTS = (
    ["Particulier", "MKB", "Enterprise", "Onderwijs", "Overheid"],
    [60, 25, 8, 5, 2],
)
PLANS = (["Basis", "Plus", "Zakelijk", "Premium"], [45, 30, 15, 10])
REGIONS = ["Utrecht", "Noord-Holland", "Zuid-Holland", "Gelderland", "Limburg"]

# How many customers, in list order, a search looks through before it uses its
# indexes: two sizes, to show the trade-off.
WINDOWS = (5_000, 20_000)
# The segment list of the filter form, as the page builds it, and as a loose
# index scan: one index probe per distinct segment instead of reading every
# customer's segment.
SEGMENTS_NOW = (
    "SELECT DISTINCT segment FROM customers WHERE segment IS NOT NULL "
    "ORDER BY segment LIMIT 200"
)
SEGMENTS_SKIP = """
WITH RECURSIVE seen(segment) AS (
    SELECT min(segment) FROM customers
    UNION ALL
    SELECT (SELECT min(c.segment) FROM customers AS c WHERE c.segment > s.segment)
    FROM seen AS s WHERE s.segment IS NOT NULL
)
SELECT segment FROM seen WHERE segment IS NOT NULL LIMIT 200
"""


@functools.cache
def ascii_word(text: str) -> str:
    """A name part as it appears in an email address: no accents or spaces."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", plain.lower())


def database(kind: str, tmp: str, postgres: str | None) -> str:
    """A fresh, empty database URL of this kind."""
    if kind == "sqlite":
        return f"sqlite:///{tmp}/customers.db"
    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"karn_bench_list_{os.getpid()}"
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


def customer_rows(rng: random.Random, count: int):
    """Departed customers in chunks, oldest departure first, as imports add them."""
    start = NOW - timedelta(days=548)
    span = int((NOW - start).total_seconds())
    # Imports arrive roughly in departure order, so ids follow departed_at.
    offsets = sorted(rng.randrange(span) for _ in range(count))
    segments, segment_weights = SEGMENTS
    plans, plan_weights = PLANS
    chunk = []
    for i, offset in enumerate(offsets, 1):
        departed = start + timedelta(seconds=offset)
        first, last = rng.choice(FIRST), rng.choice(LAST)
        erased = rng.random() < 0.005
        roll = rng.random()
        row = {
            "external_id": f"K{i:07d}",
            "email": None
            if erased or roll < 0.03
            else f"{ascii_word(first)}.{ascii_word(last)}{rng.randrange(1000)}"
            f"@{rng.choice(DOMAINS)}",
            "name": None if erased else f"{first} {last}",
            "phone": f"06-{rng.randrange(10**7, 10**8)}",
            "language": "nl" if rng.random() < 0.8 else "en",
            "departed_at": departed,
            "plan": rng.choices(plans, plan_weights)[0],
            "segment": rng.choices(segments, segment_weights)[0],
            "region": rng.choice(REGIONS),
            "tenure_months": rng.randrange(1, 121),
            # Money in whole cents and extra as JSON text: what the columns store.
            "monthly_revenue": rng.randrange(500, 20000),
            "lifetime_value": rng.randrange(1000, 500000),
            "source": "csv",
            "extra": "{}",
            "delivery_failures": 0,
            "unsubscribed_at": departed + timedelta(days=3) if roll > 0.98 else None,
            "bounced_at": departed + timedelta(days=2) if 0.97 < roll <= 0.98 else None,
            "erased_at": departed + timedelta(days=90) if erased else None,
            "created_at": departed,
            "updated_at": departed,
        }
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def invitation_row(rng, customer_id, departed, version_id, status=None):
    """One invitation whose state fits how long ago the customer left."""
    scheduled = departed + timedelta(days=1)
    age = (NOW - departed).days
    if status is None:
        if scheduled > NOW:
            status = "scheduled"
        elif age < 8:
            status = rng.choices(["sent", "reminded", "responded"], [50, 30, 20])[0]
        else:
            status = rng.choices(
                ["responded", "expired", "unsubscribed", "reminded"], [30, 64, 4, 2]
            )[0]
    sent = None if status == "scheduled" else scheduled
    reminded = status != "scheduled" and age >= 4 and status != "sent"
    answered = scheduled + timedelta(hours=rng.randrange(1, 200))
    return {
        "customer_id": customer_id,
        "survey_id": 1,
        "survey_version_id": None if status == "scheduled" else version_id,
        "token_hash": None if status == "scheduled" else secrets.token_hex(32),
        "status": status,
        "scheduled_for": scheduled,
        "sent_at": sent,
        "reminders_sent": 1 if reminded else 0,
        "last_reminded_at": scheduled + timedelta(days=4) if reminded else None,
        "responded_at": answered if status == "responded" else None,
        "expires_at": scheduled + timedelta(days=30) if sent else None,
        "closed_at": answered if status in ("responded", "unsubscribed") else None,
        "created_at": departed,
    }


def plain_insert(conn, table: sa.Table, rows: list[dict]) -> None:
    """Executemany into an untyped copy of the table, datetimes as the driver takes.

    The models' types convert each value in Python, which costs more than the
    insert itself; the values here are already what those types would store.
    """
    if not rows:
        return
    sqlite = conn.dialect.name == "sqlite"
    # The first row may leave a timestamp empty that later rows fill.
    stamps = [k for k, v in rows[0].items() if isinstance(v, datetime)]
    stamps += [k for k in rows[0] if k.endswith("_at") and k not in stamps]
    if sqlite:
        for row in rows:
            for key in stamps:
                if row[key] is not None:
                    row[key] = row[key].strftime("%Y-%m-%d %H:%M:%S.%f")
    bare = sa.table(table.name, *(sa.column(k) for k in rows[0]))
    conn.execute(sa.insert(bare), rows)


def fill(app, count: int) -> dict:
    """Customers and invitations by Core executemany; returns counts."""
    from karn.accounts import operations
    from karn.customers.models import Customer
    from karn.extensions import db
    from karn.surveys.models import Invitation, Survey, SurveyVersion

    rng = random.Random(11)
    invited = 0
    with app.app_context():
        operations.create_user(ADMIN, "Bench Admin", "admin", "en", PASSWORD)
        db.session.add(Survey(id=1, name="Exit survey"))
        db.session.flush()
        db.session.add(SurveyVersion(id=1, survey_id=1, number=1, questions=[]))
        db.session.commit()
        # Karn's engine turns off psycopg's prepared statements (see karn.app),
        # which halves executemany speed; the fill has an engine of its own.
        loader = sa.create_engine(db.engine.url)
        with loader.begin() as conn:
            next_id = 1
            for chunk in customer_rows(rng, count):
                departures = [r["departed_at"] for r in chunk]
                invitable = [
                    r["email"] and not (r["erased_at"] or r["bounced_at"])
                    for r in chunk
                ]
                plain_insert(conn, Customer.__table__, chunk)
                invitations = []
                for cid, departed, ok in zip(
                    range(next_id, next_id + len(chunk)),
                    departures,
                    invitable,
                    strict=True,
                ):
                    if not ok or rng.random() >= 0.62:
                        continue
                    # A few were invited once before, to an invitation long closed.
                    if rng.random() < 0.03 and (NOW - departed).days > 60:
                        old = invitation_row(rng, cid, departed, 1, "expired")
                        invitations.append(old)
                    invitations.append(invitation_row(rng, cid, departed, 1))
                next_id += len(chunk)
                invited += len(invitations)
                plain_insert(conn, Invitation.__table__, invitations)
        loader.dispose()
        if db.engine.dialect.name == "postgresql":
            # Autovacuum would do this on a real server; index-only scans and
            # the planner's estimates depend on it.
            with db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        else:
            with db.engine.begin() as conn:
                conn.execute(sa.text("ANALYZE"))
    return {"customers": count, "invitations": invited}


def signed_in_client(app):
    """A test client signed in as the admin through the login form."""
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    response = client.post(
        "/login",
        data={"email": ADMIN, "password": PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302, "login failed"
    return client


def cases(app) -> tuple[str, list[tuple[str, str]]]:
    """The deep page's cursor and the list pages to time: (label, URL)."""
    from karn.customers.models import Customer
    from karn.extensions import db

    with app.app_context():
        total = db.session.scalar(sa.select(sa.func.count(Customer.id)))
        offset = min(50 * 999, total * 9 // 10)
        deep = db.session.execute(
            sa.select(Customer.departed_at, Customer.id)
            .where(Customer.erased_at.is_(None))
            .order_by(Customer.departed_at.desc(), Customer.id.desc())
            .offset(offset)
            .limit(1)
        ).one()
        middle = db.session.scalar(sa.select(Customer).where(Customer.id == total // 2))
        email_prefix = middle.email.split(".")[0] + "." + middle.email.split(".")[1][:2]
        number = middle.external_id
    month = NOW - timedelta(days=270)
    first = month.replace(day=1).date()
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    period = {"from": first.isoformat(), "to": last.isoformat()}
    after = f"{deep.departed_at.isoformat()}|{deep.id}"
    pages = [
        ("first page", {}),
        (f"page {offset // 50 + 2:,} (keyset cursor)", {"after": after}),
        ("search name 'jan'", {"q": "jan"}),
        (f"search email '{email_prefix}'", {"q": email_prefix}),
        (f"search number {number}", {"q": number}),
        ("segment Enterprise", {"segment": "Enterprise"}),
        ("segment Overheid (2%)", {"segment": "Overheid"}),
        ("survey responded", {"status": "responded"}),
        ("survey not_invited", {"status": "not_invited"}),
        ("survey scheduled", {"status": "scheduled"}),
        (f"left {first:%B %Y}", period),
        (
            "Enterprise+responded+month",
            {"segment": "Enterprise", "status": "responded", **period},
        ),
        (
            "'jan'+MKB+not_invited",
            {"q": "jan", "segment": "MKB", "status": "not_invited"},
        ),
        ("Overheid+scheduled", {"segment": "Overheid", "status": "scheduled"}),
    ]
    return after, [(label, "/customers/?" + urlencode(q)) for label, q in pages]


def median_ms(call, runs: int) -> float:
    """Median wall time of call in milliseconds, after one warm-up."""
    call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def get_page(client, url: str):
    """GET a list page; returns the number of customer rows shown."""
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    return response.get_data(as_text=True).count('<td><a href="/customers/')


def baseline(app, runs: int) -> float:
    """The bare first-page query on the same engine, in ms."""
    from karn.customers.models import Customer
    from karn.extensions import db

    query = (
        sa.select(Customer.__table__)
        .order_by(Customer.departed_at.desc(), Customer.id.desc())
        .limit(50)
    )
    with app.app_context(), db.engine.connect() as conn:
        return median_ms(lambda: conn.execute(query).all(), runs)


def statement_times(app, client, url: str) -> list[tuple[float, str, object]]:
    """Each statement one page request runs: (ms, SQL, parameters), slowest first.

    Statements are captured during the request and then run again alone with
    every row fetched: SQLite does most of its work while rows are fetched,
    after the cursor events have fired.
    """
    from karn.extensions import db

    seen = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        get_page(client, url)
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    timed = []
    raw = engine.raw_connection()
    try:
        for statement, parameters in seen:
            if not statement.lstrip().upper().startswith("SELECT"):
                continue

            def once(statement=statement, parameters=parameters):
                cursor = raw.cursor()
                cursor.execute(statement, parameters)
                cursor.fetchall()

            timed.append((median_ms(once, 3), statement, parameters))
        raw.rollback()
    finally:
        raw.close()
    return sorted(timed, key=lambda t: -t[0])


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


def check_cursor_page(app, client, url: str, after: str) -> None:
    """The page after the cursor starts right after the cursor's row."""
    from karn.customers.models import Customer
    from karn.extensions import db

    stamp, _sep, last_id = after.partition("|")
    page = client.get(url).get_data(as_text=True)
    with app.app_context():
        following = db.session.scalar(
            sa.select(Customer.id)
            .where(Customer.erased_at.is_(None))
            .order_by(Customer.departed_at.desc(), Customer.id.desc())
            .where(Customer.departed_at <= datetime.fromisoformat(stamp))
            .where(Customer.id != int(last_id))
            .limit(1)
        )
    assert f'href="/customers/{last_id}"' not in page, "cursor row repeated"
    assert f'href="/customers/{following}"' in page, "row after the cursor missing"


def measure(app, client, pages, runs: int) -> dict[str, tuple[float, int]]:
    """Median ms and rows shown per case."""
    return {
        label: (
            median_ms(lambda u=url: get_page(client, u), runs),
            get_page(client, url),
        )
        for label, url in pages
    }


def report_slow(app, client, pages, results) -> None:
    """Statement times and the plan of the slowest statement of each slow case."""
    for label, url in pages:
        if results[label][0] < SLOW_MS:
            continue
        print(f"\n--- {label}: {results[label][0]:.0f} ms  {url}")
        timed = statement_times(app, client, url)
        for ms, statement, _params in timed[:4]:
            print(f"  {ms:8.1f} ms  {' '.join(statement.split())[:150]}")
        ms, statement, params = timed[0]
        print("  plan of the slowest:")
        for line in explain(app, statement, params).splitlines():
            print("    " + line)


def segment_lists(app, runs: int) -> tuple[float, float]:
    """The segment list query as it is and as a loose index scan, in ms."""
    from karn.extensions import db

    with app.app_context(), db.engine.connect() as conn:
        now = conn.execute(sa.text(SEGMENTS_NOW)).scalars().all()
        skip = conn.execute(sa.text(SEGMENTS_SKIP)).scalars().all()
        assert now == skip, (now, skip)
        return (
            median_ms(lambda: conn.execute(sa.text(SEGMENTS_NOW)).all(), runs),
            median_ms(lambda: conn.execute(sa.text(SEGMENTS_SKIP)).all(), runs),
        )


def search_window(
    app, client, url: str, size: int, runs: int
) -> tuple[float, float, bool]:
    """The page's customer query as it is, and searched in a window first, in ms.

    The window is the next `size` customers in list order. When it holds a full
    page of matches, those are the first matches of all; when it does not, the
    query runs as it is. A broad prefix such as "jan" then reads a few thousand
    index entries instead of sorting every match; a rare one costs one extra
    probe of the window. Returns (as it is, windowed, fell back).
    """
    from karn.extensions import db

    timed = statement_times(app, client, url)
    statement, parameters = next(
        (s, p) for _ms, s, p in timed if "ORDER BY customers.departed_at" in s
    )
    head = "WHERE customers.erased_at IS NULL"
    window = (
        "WHERE customers.id IN (SELECT id FROM customers"
        f" ORDER BY departed_at DESC, id DESC LIMIT {size}) AND "
    )
    windowed = statement.replace(head, window + head[6:], 1)
    assert windowed != statement
    fell_back = False

    with app.app_context():
        raw = db.engine.raw_connection()
    try:

        def rows(sql):
            cursor = raw.cursor()
            cursor.execute(sql, parameters)
            return cursor.fetchall()

        def as_it_is():
            return rows(statement)

        def first_in_window():
            nonlocal fell_back
            found = rows(windowed)
            if len(found) > 50:
                return found
            fell_back = True
            return rows(statement)

        assert [r[0] for r in as_it_is()] == [r[0] for r in first_in_window()]
        result = median_ms(as_it_is, runs), median_ms(first_in_window, runs)
        raw.rollback()
    finally:
        raw.close()
    return *result, fell_back


def run(kind: str, url: str, rows: int, runs: int) -> None:
    """Fill, time every case against the baseline, then the two comparisons."""
    start = time.perf_counter()
    app = fresh_app(url)
    counts = fill(app, rows)
    print(
        f"\n== {kind}: {counts['customers']:,} customers, "
        f"{counts['invitations']:,} invitations, filled and analysed in "
        f"{time.perf_counter() - start:.0f} s"
    )
    client = signed_in_client(app)
    after, pages = cases(app)
    check_cursor_page(app, client, pages[1][1], after)
    base = baseline(app, runs)
    results = measure(app, client, pages, runs)
    print(f"{'case':34} {'median ms':>10} {'rows':>5} {'x baseline':>11}")
    for label, (ms, shown) in results.items():
        print(f"{label:34} {ms:10.1f} {shown:5} {ms / base:11.1f}")
    print(f"{'baseline: bare SELECT … LIMIT 50':34} {base:10.1f}")
    report_slow(app, client, pages, results)

    now, skip = segment_lists(app, runs)
    print(
        f"\nsegment list on every page: DISTINCT {now:.1f} ms,"
        f" loose index scan {skip:.1f} ms"
    )
    # PostgreSQL already picks the ordered walk for a broad prefix by itself, and
    # plans the window badly (seconds for a rare prefix): SQLite only.
    for size in WINDOWS if kind == "sqlite" else ():
        print(f"\nsearch in a window of the next {size:,} customers first:")
        for label, url in pages:
            if "q=" in url:
                now, first, fell_back = search_window(app, client, url, size, runs)
                note = " (short of a page: then ran as it is)" if fell_back else ""
                print(f"  {label:32} query {now:7.1f} ms -> {first:7.1f} ms{note}")


def main() -> None:
    """Run the bench on SQLite, and on PostgreSQL when a server is given."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL server URL")
    args = parser.parse_args()
    kinds = ["sqlite"] + (["postgresql"] if args.postgres else [])
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            url = database(kind, tmp, args.postgres)
            try:
                run(kind, url, args.rows, args.runs)
            finally:
                if kind == "postgresql":
                    drop_database(url, args.postgres)


if __name__ == "__main__":
    main()
