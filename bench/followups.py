"""Writing follow-up mails, against writing the same number of invitations.

    python bench/followups.py [--responses 10000] [--postgres URL]

For SQLite and, with --postgres, for PostgreSQL (on a database it creates and
drops), in a fresh, migrated database: as many departed customers, each with a
submitted response whose main reason is price and whose consent answer is yes,
and the price follow-up switched on (not timed; PostgreSQL's statistics are
gathered, as autovacuum does in use). Then, timed:

- karn follow-ups: `scheduling.schedule_due` a week later, which checks every
  respondent's eligibility, draws them, writes an assignment each and renders
  and queues the mail of the treated (in batches of 500, a commit each);
- baseline: the survey's own invitation mail for the same customers
  (`delivery.schedule_invitations`, then `prepare_due_invitations` until none
  is due), the mail writing the worker already did before follow-ups.

Prints respondents decided per second and mails written per second for both.
"""

import argparse
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

START = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def load(n: int):
    import sqlalchemy as sa

    from karn.customers.models import Customer
    from karn.extensions import db
    from karn.followups import scheduling
    from karn.followups.models import FollowUp
    from karn.surveys.default_survey import CONSENT_KEY
    from karn.surveys.editing import ensure_default_survey
    from karn.surveys.models import Answer, Response

    survey, _ = ensure_default_survey()
    db.session.commit()
    follow_up = FollowUp(
        reason="price",
        delay_days=7,
        active=True,
        active_since=START,
        scanned_at=START,
        scanned_id=0,
        subject_nl="{name}, we hebben iets voor u",
        body_nl="Beste {name},\n\nU vond ons te duur. Dat hebben we gehoord.",
        offer_nl="Drie maanden half geld",
        subject_en="{name}, something for you",
        body_en="Dear {name},\n\nYou found us too expensive. We listened.",
        offer_en="Three months at half price",
    )
    db.session.add(follow_up)
    scheduling.ensure_experiment(follow_up)
    db.session.commit()
    db.session.execute(
        sa.insert(Customer),
        [
            {
                "external_id": f"K{i:06d}",
                "email": f"klant{i}@voorbeeld.nl",
                "name": f"Klant {i} Müller",
                "departed_at": START - timedelta(hours=1),
                "source": "manual",
                "language": "nl" if i % 4 else "en",
                "status": "departed",
            }
            for i in range(n)
        ],
    )
    ids = db.session.scalars(sa.select(Customer.id).order_by(Customer.id)).all()
    responses = db.session.scalars(
        sa.insert(Response).returning(Response.id),
        [
            {
                "customer_id": cid,
                "survey_version_id": survey.versions[-1].id,
                "language": "nl" if i % 4 else "en",
                "primary_reason": "price",
                "started_at": START,
                "submitted_at": START + timedelta(seconds=i),
                "channel": "invitation",
            }
            for i, cid in enumerate(ids)
        ],
    ).all()
    db.session.execute(
        sa.insert(Answer),
        [
            {"response_id": r, "question_key": CONSENT_KEY, "value": "yes"}
            for r in responses
        ],
    )
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(sa.text("ANALYZE"))
    return list(ids)


def run(n: int, url: str) -> dict:
    from flask_migrate import upgrade

    from karn import clock
    from karn.app import create_app
    from karn.extensions import db
    from karn.followups import scheduling
    from karn.surveys import delivery

    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "bench",
            "DATABASE_URL": url,
            "BASE_URL": "https://survey.karn.example",
            "INVITATION_DELAY_HOURS": 0,
        }
    )
    with app.app_context():
        upgrade()
        clock.freeze(START)
        ids = load(n)
        clock.freeze(START + timedelta(days=8))
        started = time.perf_counter()
        report = scheduling.schedule_due()
        follow_ups = time.perf_counter() - started
        assert report.mailed + report.held_back == n, report

        started = time.perf_counter()
        delivery.schedule_invitations(ids)
        db.session.commit()
        invited = 0
        while True:
            sent, _skipped, more = delivery.prepare_due_invitations(clock.now())
            invited += sent
            if not more:
                break
        invitations = time.perf_counter() - started
        assert invited == n, invited
        db.session.remove()
        db.engine.dispose()
        clock.freeze(None)
    return {
        "follow_ups_s": follow_ups,
        "decided_per_s": n / follow_ups,
        "mails_per_s": report.mailed / follow_ups,
        "held_back": report.held_back,
        "invitations_s": invitations,
        "invitations_per_s": n / invitations,
    }


def show(name: str, n: int, r: dict) -> None:
    print(
        f"{name}: follow-ups for {n:,} respondents in {r['follow_ups_s']:.1f} s "
        f"({r['decided_per_s']:,.0f} decided/s, {r['mails_per_s']:,.0f} mails "
        f"written/s, {r['held_back']:,} held back); baseline, {n:,} invitations "
        f"written in {r['invitations_s']:.1f} s ({r['invitations_per_s']:,.0f}/s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=10_000)
    parser.add_argument("--postgres", help="a server URL, e.g. postgresql+psycopg://…")
    args = parser.parse_args()
    n = args.responses
    with tempfile.TemporaryDirectory() as tmp:
        show("SQLite", n, run(n, f"sqlite:///{tmp}/bench.db"))
    if args.postgres:
        import sqlalchemy as sa

        name = f"karn_bench_followups_{os.getpid()}"
        server = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        with server.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            url = args.postgres.rsplit("/", 1)[0] + "/" + name
            show("PostgreSQL", n, run(n, url))
        finally:
            with server.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            server.dispose()


if __name__ == "__main__":
    main()
