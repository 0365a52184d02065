"""The scheduler: one loop that runs each feature's periodic jobs until stopped.

A pass runs every job once, in order. Each job decides for itself whether it is
due (the digest once a period, bounces every BOUNCE_IMAP_INTERVAL, retention
once a day), opens its own app context and never raises, so one feature's
failure never stops another's. A job returns within a minute: longer work is
done in bounded slices, one per pass, so mail is never held up for long.

`flask worker` runs it; `flask surveys worker` is the same command under its
older name, and `flask surveys dispatch` runs a single pass (for cron).
"""

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from karn.analysis import funnel
from karn.callbacks import operations as callbacks
from karn.customers import comments, stripe_lookup
from karn.digest import mailing as digest_mailing
from karn.extensions import db
from karn.feedback import importjob as feedback_importjob
from karn.feedback import tagging as feedback_tagging
from karn.followups import scheduling as followup_scheduling
from karn.learning import retag
from karn.privacy import operations as privacy_operations
from karn.surveys import bounce_processing, delivery, outbox
from karn.surveys.cli import surveys_cli
from karn.webhooks import delivery as webhooks

log = logging.getLogger(__name__)

CALL_CHECK_SECONDS = 3600
# How long the mail job goes on writing and sending a backlog of invitations.
MAIL_SLICE_SECONDS = 45
# How often departures that were never invited are looked for.
CATCH_UP_SECONDS = 600


def worker_name() -> str:
    """Host and process, so a claim in the outbox shows who holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Runs the jobs every few seconds; SIGTERM finishes the current message."""

    def __init__(self, app: Flask, name: str | None = None, once: bool = False):
        self.app = app
        self.name = name or worker_name()
        # A single pass (cron): long work is done before the pass returns,
        # not in a thread that would end with the process.
        self.once = once
        self.stopping = threading.Event()
        self.next_call_check = 0.0
        self.next_catch_up = 0.0
        # Due invitations were left for the next pass: it starts at once.
        self.backlog = False
        # In the order of a pass. The digest runs before the mail so that it
        # goes out in the same pass; Stripe's lookups, the mailbox and
        # retention after it, so a service that is down never delays the
        # sending.
        self.jobs: list[Callable[[Flask], object]] = [
            digest_mailing.run_digest_job,
            self.follow_up_job,
            self.mail_job,
            self.webhook_job,
            stripe_lookup.run_lookup_job,
            comments.run_tagging_job,
            self.feedback_import_job,
            feedback_tagging.run_tagging_job,
            retag.run_retag_job,
            retag.run_best_tier_job,
            bounce_processing.run_bounce_job,
            privacy_operations.run_retention_job,
            self.risk_job,
        ]

    def risk_job(self, app: Flask) -> object:
        """The churn-risk job, imported on first use: its model code loads
        numpy, which no other command needs."""
        from karn.risk import jobs

        return jobs.run_risk_job(app, wait=self.once)

    def follow_up_job(self, app: Flask) -> object:
        """Due follow-ups are written just before the mail job sends them."""
        return followup_scheduling.run_follow_up_job(app, once=self.once)

    def webhook_job(self, app: Flask) -> object:
        """Post due webhooks, under this worker's name (its claims say so)."""
        return webhooks.run_webhook_job(app, self.name, self.stopping.is_set)

    def feedback_import_job(self, app: Flask) -> object:
        """A slice of a feedback CSV import (all of it in a single pass)."""
        return feedback_importjob.run_import_job(app, self.name, whole=self.once)

    def stop(self, *_args) -> None:
        if not self.stopping.is_set():
            log.info("worker %s stopping after the current message", self.name)
        self.stopping.set()

    def run_once(self) -> outbox.DispatchReport:
        """One pass over every job; returns what the mail job sent."""
        report = None
        for job in self.jobs:
            result = job(self.app)
            if job == self.mail_job:
                report = result
        return report

    def mail_job(self, app: Flask) -> outbox.DispatchReport:
        """The schedule writes due mail, the outbox sends it, the funnel follows."""
        self.backlog = False
        with app.app_context():
            try:
                if time.monotonic() >= self.next_catch_up:
                    # Departures stored while there was no survey, or that
                    # missed the schedule otherwise: invited from their state.
                    self.next_catch_up = time.monotonic() + CATCH_UP_SECONDS
                    caught_up = delivery.schedule_missing()
                    db.session.commit()
                    if caught_up:
                        log.info("%d departures invited that never were", caught_up)
                started = time.monotonic()
                due = delivery.run_due()
                if time.monotonic() >= self.next_call_check:
                    # Hourly is soon enough for a phone call, and keeps the
                    # scan over invitations out of the mail loop.
                    self.next_call_check = time.monotonic() + CALL_CHECK_SECONDS
                    called = callbacks.queue_silent_high_value()
                    db.session.commit()
                    if called:
                        log.info("%d silent high-value customers to call", called)
                report = outbox.dispatch(self.name, should_stop=self.stopping.is_set)
                # Many departures at once: their invitations are written and
                # sent a batch at a time, for up to MAIL_SLICE_SECONDS; what
                # is left waits for the next pass, which then follows at once.
                while (
                    due.more
                    and not self.stopping.is_set()
                    and time.monotonic() - started < MAIL_SLICE_SECONDS
                ):
                    more = delivery.run_due_invitations()
                    due.invited += more.invited
                    due.skipped += more.skipped
                    due.more = more.more
                    report.add(
                        outbox.dispatch(self.name, should_stop=self.stopping.is_set)
                    )
                self.backlog = due.more
                if due.invited or due.reminded or due.expired:
                    log.info(
                        "invited %d, reminded %d, expired %d",
                        due.invited,
                        due.reminded,
                        due.expired,
                    )
                # What this pass and the web processes changed, into the
                # dashboard's funnel totals.
                with db.engine.begin() as conn:
                    funnel.compact(conn)
            finally:
                db.session.remove()
        return report

    def run_forever(self) -> None:
        """Loop until SIGTERM or SIGINT; a failing pass is logged, not fatal."""
        signal.signal(signal.SIGTERM, self.stop)
        signal.signal(signal.SIGINT, self.stop)
        interval = self.app.config["WORKER_INTERVAL"]
        log.info("worker %s started", self.name)
        while not self.stopping.is_set():
            try:
                report = self.run_once()
                if report.sent or report.failed or report.retried or report.deferred:
                    log.info(
                        "sent %d, retried %d, failed %d, waiting %d",
                        report.sent,
                        report.retried,
                        report.failed,
                        report.deferred,
                    )
            except Exception:
                # A database restart or a bug in one pass must not end the
                # worker: the next pass starts from the database's state.
                log.exception("worker pass failed; trying again in %ss", interval)
            if not self.backlog:
                self.stopping.wait(interval)
        log.info("worker %s stopped", self.name)


@click.command("worker")
@with_appcontext
def worker_command():
    """Run until stopped (SIGTERM finishes the current message, then exits)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    Worker(current_app._get_current_object()).run_forever()


@click.command("dispatch")
@with_appcontext
def dispatch_command():
    """Do one pass (for cron): send what is due, and print what happened."""
    worker = Worker(current_app._get_current_object(), once=True)
    report = worker.run_once()
    click.echo(
        f"sent {report.sent}, retried {report.retried}, failed {report.failed}"
        + (f", recovered {report.released}" if report.released else "")
        + (f", uncertain {report.uncertain}" if report.uncertain else "")
        + (f", waiting {report.deferred}" if report.deferred else "")
        + (f", cancelled {report.cancelled}" if report.cancelled else "")
    )
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if not outbox.mail_configured():
        click.echo(
            "No SMTP server is configured (KARN_MAIL_SERVER): mail is held "
            "in the outbox."
        )


def register(app: Flask) -> None:
    """`flask worker`, and under `flask surveys` the older names."""
    app.cli.add_command(worker_command)
    surveys_cli.add_command(worker_command)
    surveys_cli.add_command(dispatch_command)
