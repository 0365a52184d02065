"""Survey submission speed: Karn's `/s/<token>` in gunicorn against a bare Flask insert.

    python bench/submit.py [--n 1000] [--concurrency 16] [--workers 2]
                           [--threads N] [--postgres URL]

Creates a fresh PostgreSQL database (dropped at the end), migrates it, seeds the
default survey and N departed customers whose invitations `run_due` has
prepared (mail is held: no SMTP server), and computes their personal links.
Then, each server in its own gunicorn (2 sync workers, or with --threads N
gthread workers of N threads each; on a free loopback port) and driven by the
same load generator (separate processes, one thread and one cookie session per
concurrent respondent):

- karn: every respondent opens its own link (GET, reading the CSRF token) and
  posts a valid, varied set of answers, expecting the redirect to the thanks
  page; afterwards the stored submitted responses are counted;
- baseline: a bare Flask app defined here, on the same database server, whose
  one endpoint INSERTs the posted form as one row of a scratch table.

Prints submissions/s, POST and page-open p50/p95, errors and whether the stored
count matches for Karn, and requests/s with p50/p95 for the baseline.
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

HOST = "127.0.0.1"
LOAD_PROCESSES = 2
SECRET = "bench-" + "k" * 58
CSRF = re.compile(rb'name="csrf_token" value="([^"]+)"')
REASONS = ["service", "quality", "brand", "price", "need", "other"]
COMMENTS = {
    "nl": [
        "De klantenservice reageerde pas na twee weken op mijn vraag.",
        "Te duur voor wat je krijgt, de concurrent is veel goedkoper.",
        "Het product ging steeds kapot en niemand kon het oplossen.",
        "Eigenlijk was ik best tevreden, maar ik ben verhuisd.",
        "Vriendelijke medewerkers, maar de prijsverhoging was te veel.",
        "Meer flexibiliteit in het abonnement had mij gehouden.",
    ],
    "en": [
        "Support took two weeks to answer a simple question.",
        "Too expensive for what you get; the competitor is much cheaper.",
        "The product kept breaking and nobody could fix it.",
        "I was quite happy really, but I moved abroad.",
        "Friendly staff, but the price increase was too much.",
        "A more flexible plan would have kept me as a customer.",
    ],
}


# --- The database ---------------------------------------------------------------------


def create_database(postgres: str) -> str:
    """A new, empty database on the server; returns its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    name = f"karn_bench_submit_{os.getpid()}"
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return postgres.rsplit("/", 1)[0] + "/" + name


def drop_database(postgres: str, url: str) -> None:
    """Drop the database made by create_database."""
    import sqlalchemy as sa

    engine = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(
            sa.text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        )
    engine.dispose()


def seed(url: str, n: int, tokens_path: str) -> None:
    """Migrate, add the default survey and n due invitations; write their tokens."""
    import sqlalchemy as sa
    from flask_migrate import upgrade

    from karn.app import create_app
    from karn.customers.operations import upsert_departures
    from karn.enums import Language, Source
    from karn.extensions import db
    from karn.surveys import delivery, links
    from karn.surveys.editing import ensure_default_survey
    from karn.surveys.models import Invitation

    app = create_app({"ENV": "production", "SECRET_KEY": SECRET, "DATABASE_URL": url})
    with app.app_context():
        upgrade()
        ensure_default_survey()
        db.session.commit()
        # Three days ago: past the 48-hour invitation delay, inside the cut-off.
        departed = datetime.now(UTC) - timedelta(days=3)
        records = [
            (
                {
                    "external_id": f"B{i:07d}",
                    "email": f"klant{i}@voorbeeld.nl",
                    "name": f"Klant {i}",
                    "language": Language.NL if i % 3 else Language.EN,
                    "departed_at": departed,
                    "plan": "Plus",
                },
                {},
            )
            for i in range(n)
        ]
        upsert_departures(records, Source.API)
        db.session.commit()
        # run_due prepares at most one batch per pass; bounded by the count.
        for _ in range(n // delivery.BATCH + 2):
            if delivery.run_due().invited == 0:
                break
        ids = db.session.scalars(
            sa.select(Invitation.id)
            .where(Invitation.token_hash.is_not(None))
            .order_by(Invitation.id)
        ).all()
        assert len(ids) == n, f"{len(ids)} of {n} invitations prepared"
        with open(tokens_path, "w") as f:
            json.dump([links.invitation_token(i) for i in ids], f)
        db.session.execute(
            sa.text(
                "CREATE TABLE bench_writes (id serial PRIMARY KEY, token text, "
                "body text, created_at timestamptz NOT NULL DEFAULT now())"
            )
        )
        db.session.commit()


def stored_submissions(url: str) -> int:
    """How many responses the database holds as submitted."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        count = conn.scalar(
            sa.text("SELECT count(*) FROM responses WHERE submitted_at IS NOT NULL")
        )
    engine.dispose()
    return count


# --- The baseline app -----------------------------------------------------------------


def baseline_app():
    """A bare Flask app whose one endpoint writes the posted form as one row."""
    import sqlalchemy as sa
    from flask import Flask, request

    engine = sa.create_engine(
        os.environ["BENCH_DATABASE_URL"],
        connect_args={"prepare_threshold": None},
    )
    insert = sa.text("INSERT INTO bench_writes (token, body) VALUES (:token, :body)")
    app = Flask(__name__)

    @app.get("/healthz")
    def health():
        """The same readiness check as Karn's."""
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return {"status": "ok"}

    @app.post("/w/<token>")
    def write(token: str):
        """Store the request body, nothing else."""
        with engine.begin() as conn:
            conn.execute(
                insert, {"token": token, "body": request.get_data(as_text=True)}
            )
        return "", 204

    return app


# --- The servers ----------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def worker_args(threads: int) -> list[str]:
    """gunicorn's worker class options: sync, or gthread with that many threads."""
    if threads <= 1:
        return ["--worker-class", "sync"]
    return ["--worker-class", "gthread", "--threads", str(threads)]


def start_gunicorn(
    app: str, port: int, env: dict, tmp: str, workers: int, threads: int
) -> subprocess.Popen:
    """gunicorn with the bench's settings; returns once /healthz answers."""
    server = subprocess.Popen(
        [
            os.path.join(os.path.dirname(sys.executable), "gunicorn"),
            "--workers",
            str(workers),
            *worker_args(threads),
            "--bind",
            f"{HOST}:{port}",
            "--pythonpath",
            f"{ROOT},{os.path.join(ROOT, 'bench')}",
            "--log-level",
            "warning",
            app,
        ],
        cwd=tmp,
        env={**os.environ, **env},
    )
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=2)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                conn.close()
                return server
        except OSError:
            pass
        time.sleep(0.1)
    stop(server)
    raise RuntimeError("gunicorn did not answer /healthz within 30 s")


def stop(server: subprocess.Popen) -> None:
    """Stop a gunicorn started here and wait for it."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


# --- The load generator ---------------------------------------------------------------


def answers(rng: random.Random) -> dict[str, str | list[str]]:
    """A valid, varied submission of the default survey."""
    main = rng.choice(REASONS)
    others = rng.sample([r for r in REASONS if r != main], rng.randint(0, 2))
    form: dict[str, str | list[str]] = {
        "website": "",
        "q_main_reason": main,
        "q_other_reasons": others,
        "q_ratings__service": str(rng.randint(1, 5)),
        "q_ratings__quality": str(rng.randint(1, 5)),
        "q_ratings__value": str(rng.randint(1, 5)),
        "q_come_back": str(rng.randint(0, 10)),
        "q_callback": rng.choice(["yes", "no", "no"]),
    }
    if rng.random() < 0.7:
        form["q_keep_you"] = rng.choice(COMMENTS[rng.choice(["nl", "en"])])
    if main == "brand" and rng.random() < 0.6:
        form["q_switched_to"] = rng.choice(["Ziggo", "KPN", "Odido", "een ander"])
    if form["q_callback"] == "yes":
        form["q_callback_phone__phone"] = f"06-{rng.randint(10000000, 99999999)}"
        form["q_callback_phone__time"] = rng.choice(["", "na 18.00 uur", "mornings"])
    return form


def fetch(port: int, method: str, path: str, cookies: dict, body: bytes | None = None):
    """One request on a new connection, read to its close; keeps cookies.

    Plain sockets rather than http.client: the load generator shares the
    machine's two cores with the server, so it should spend as little as it can.
    """
    head = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    head.append("Accept-Language: nl,en;q=0.8")
    if cookies:
        head.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    if body is not None:
        head.append("Content-Type: application/x-www-form-urlencoded")
        head.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(head) + "\r\n\r\n").encode() + (body or b"")
    with socket.create_connection((HOST, port), timeout=60) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    header, _, data = b"".join(chunks).partition(b"\r\n\r\n")
    lines = header.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1."):
        raise http.client.BadStatusLine(lines[0].decode(errors="replace"))
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"set-cookie":
            pair = value.decode().split(";", 1)[0]
            key, _, val = pair.partition("=")
            cookies[key.strip()] = val
    return int(lines[0][9:12]), data


def respondent(mode: str, port: int, tokens: list[str], seed: int, out: dict) -> None:
    """One concurrent respondent working through its share of the links."""
    rng = random.Random(seed)
    opens, posts, errors, ok = [], [], [], 0
    for token in tokens:
        cookies: dict[str, str] = {}  # a new person, a new browser session
        form = answers(rng)
        try:
            if mode == "karn":
                start = time.perf_counter()
                status, page = fetch(port, "GET", f"/s/{token}", cookies)
                opens.append(time.perf_counter() - start)
                match = CSRF.search(page)
                if status != 200 or match is None:
                    errors.append(f"GET {status}")
                    continue
                form["csrf_token"] = match.group(1).decode()
            body = urlencode(form, doseq=True).encode()
            path = f"/s/{token}" if mode == "karn" else f"/w/{token}"
            start = time.perf_counter()
            status, _ = fetch(port, "POST", path, cookies, body)
            posts.append(time.perf_counter() - start)
            if status != (302 if mode == "karn" else 204):
                errors.append(f"POST {status}")
                continue
            ok += 1
        except (OSError, http.client.HTTPException) as e:
            errors.append(type(e).__name__)
    out.update(opens=opens, posts=posts, errors=errors, ok=ok)


def load(mode: str, port: int, tokens_path: str, threads: int, start_at: float):
    """A load process: its threads start together at start_at; prints its figures."""
    with open(tokens_path) as f:
        tokens = json.load(f)
    results = [{} for _ in range(threads)]
    workers = [
        threading.Thread(
            target=respondent, args=(mode, port, tokens[i::threads], i, results[i])
        )
        for i in range(min(threads, len(tokens)))
    ]
    time.sleep(max(0.0, start_at - time.monotonic()))
    began = time.monotonic()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    ended = time.monotonic()
    merged = {"began": began, "ended": ended, "opens": [], "posts": [], "errors": []}
    merged["ok"] = 0
    for r in results[: len(workers)]:
        for key in ("opens", "posts", "errors"):
            merged[key] += r[key]
        merged["ok"] += r["ok"]
    print(json.dumps(merged))


def drive(mode: str, port: int, tokens: list[str], concurrency: int, tmp: str):
    """Run the load generator in separate processes; returns the merged figures."""
    processes = min(LOAD_PROCESSES, concurrency)
    children = []
    start_at = time.monotonic() + 1.0  # after every process has imported
    for p in range(processes):
        # Respondents are split over processes as evenly as the links are.
        share = tokens[p::processes]
        path = os.path.join(tmp, f"tokens-{mode}-{p}.json")
        with open(path, "w") as f:
            json.dump(share, f)
        threads = concurrency // processes + (p < concurrency % processes)
        children.append(
            subprocess.Popen(
                [sys.executable, __file__, "--child", "load", mode, str(port), path]
                + [str(threads), repr(start_at)],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    parts = []
    for child in children:
        out, _ = child.communicate(timeout=600)
        if child.returncode:
            raise RuntimeError(f"load process exited with {child.returncode}")
        parts.append(json.loads(out.strip().splitlines()[-1]))
    merged = {
        "seconds": max(p["ended"] for p in parts) - min(p["began"] for p in parts),
        "ok": sum(p["ok"] for p in parts),
        "opens": [x for p in parts for x in p["opens"]],
        "posts": [x for p in parts for x in p["posts"]],
        "errors": [x for p in parts for x in p["errors"]],
    }
    return merged


def quantile(values: list[float], q: float) -> float:
    """The q-quantile in milliseconds (nan for no values)."""
    if len(values) < 2:
        return values[0] * 1000 if values else float("nan")
    return (
        statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1] * 1000
    )


# --- The run --------------------------------------------------------------------------


def main() -> None:
    """Seed, serve, load and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # 1,000 keeps the whole run near a minute at Karn's current speed.
    parser.add_argument("--n", type=int, default=1000, help="submissions (links)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="threads per worker; above 1 the gthread worker class instead of sync",
    )
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="server URL (any existing database on it)",
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child[0] == "seed":
            seed(args.child[1], int(args.child[2]), args.child[3])
        else:
            mode, port, path, threads, start_at = args.child[1:]
            load(mode, int(port), path, int(threads), float(start_at))
        return

    url = create_database(args.postgres)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            run(args, url, tmp)
    finally:
        drop_database(args.postgres, url)


def run(args, url: str, tmp: str) -> None:
    """Everything between creating and dropping the database."""
    tokens_path = os.path.join(tmp, "tokens.json")
    started = time.monotonic()
    subprocess.run(
        [sys.executable, __file__, "--child", "seed", url, str(args.n), tokens_path],
        check=True,
        env={**os.environ, "PYTHONPATH": ROOT},
    )
    with open(tokens_path) as f:
        tokens = json.load(f)
    print(
        f"{args.n:,} due invitations seeded in {time.monotonic() - started:.1f} s; "
        f"{args.concurrency} concurrent respondents; "
        f"gunicorn with {args.workers} "
        + (
            f"gthread workers of {args.threads} threads"
            if args.threads > 1
            else "sync workers"
        )
    )

    port = free_port()
    karn_env = {
        "KARN_ENV": "production",
        "KARN_SECRET_KEY": SECRET,
        "KARN_DATABASE_URL": url,
        "KARN_BASE_URL": f"http://{HOST}:{port}",
        # An empty instance folder: no instance/config.py from the work tree.
        "KARN_INSTANCE_PATH": os.path.join(tmp, "instance"),
    }
    server = start_gunicorn(
        "karn.app:create_app()", port, karn_env, tmp, args.workers, args.threads
    )
    try:
        karn = drive("karn", port, tokens, args.concurrency, tmp)
    finally:
        stop(server)
    stored = stored_submissions(url)

    port = free_port()
    server = start_gunicorn(
        "submit:baseline_app()",
        port,
        {"BENCH_DATABASE_URL": url},
        tmp,
        args.workers,
        args.threads,
    )
    try:
        base = drive("baseline", port, tokens, args.concurrency, tmp)
    finally:
        stop(server)

    report(karn, base, stored)


def report(karn: dict, base: dict, stored: int) -> None:
    """The table of figures, and whether the issue's target is met."""
    rate = karn["ok"] / karn["seconds"]
    karn_rps = (len(karn["opens"]) + len(karn["posts"])) / karn["seconds"]
    base_rps = len(base["posts"]) / base["seconds"]
    post95 = quantile(karn["posts"], 0.95)
    errors = len(karn["errors"])

    def both(values: list[float]) -> str:
        return f"{quantile(values, 0.5):.1f} / {quantile(values, 0.95):.1f}"

    rows = [
        ("submissions/s", f"{rate:,.0f}", "-"),
        ("requests/s", f"{karn_rps:,.0f}", f"{base_rps:,.0f}"),
        # The machine's load moves both; their ratio is the steadier figure.
        ("requests/s, karn / baseline", f"{karn_rps / base_rps:.2f}", "-"),
        ("POST p50 / p95 (ms)", both(karn["posts"]), both(base["posts"])),
        ("page open p50 / p95 (ms)", both(karn["opens"]), "-"),
        ("errors", str(errors), str(len(base["errors"]))),
        ("stored == submitted", f"{stored == karn['ok']} ({stored:,})", "-"),
        ("load time (s)", f"{karn['seconds']:.1f}", f"{base['seconds']:.1f}"),
    ]
    print(f"\n{'':26}{'karn /s/<token>':>20}{'baseline insert':>20}")
    for label, left, right in rows:
        print(f"{label:26}{left:>20}{right:>20}")
    if karn["errors"] or base["errors"]:
        print("first errors:", (karn["errors"] + base["errors"])[:5])
    met = rate >= 200 and post95 < 50 and errors == 0 and stored == karn["ok"]
    print(
        "target (>= 200 submissions/s, POST p95 < 50 ms, no errors, all stored): "
        + ("met" if met else "MISSED")
    )


if __name__ == "__main__":
    main()
