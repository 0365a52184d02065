"""The background worker: runs the periodic jobs until told to stop."""

import logging
import os
import signal
import socket
import threading
import time

from flask import Flask

from karn.analysis import funnel
from karn.callbacks import operations as callbacks
from karn.digest import mailing as digest_mailing
from karn.extensions import db
from karn.privacy import operations as privacy_operations
from karn.surveys import bounce_processing, delivery, outbox

log = logging.getLogger(__name__)

CALL_CHECK_SECONDS = 3600


def worker_name() -> str:
    """Host and process, so a claim in the outbox shows who holds it."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Sends due mail every few seconds; SIGTERM finishes the current message."""

    def __init__(self, app: Flask, name: str | None = None):
        self.app = app
        self.name = name or worker_name()
        self.stopping = threading.Event()
        self.next_call_check = 0.0

    def stop(self, *_args) -> None:
        if not self.stopping.is_set():
            log.info("worker %s stopping after the current message", self.name)
        self.stopping.set()

    def run_once(self) -> outbox.DispatchReport:
        """One pass over every job: the schedule writes mail, the outbox sends it."""
        # Opens its own context and never raises; runs before the sending so a
        # digest goes out in the same pass.
        digest_mailing.run_digest_job(self.app)
        with self.app.app_context():
            try:
                due = delivery.run_due()
                if due.invited or due.reminded or due.expired:
                    log.info(
                        "invited %d, reminded %d, expired %d",
                        due.invited,
                        due.reminded,
                        due.expired,
                    )
                if time.monotonic() >= self.next_call_check:
                    # Hourly is soon enough for a phone call, and keeps the
                    # scan over invitations out of the mail loop.
                    self.next_call_check = time.monotonic() + CALL_CHECK_SECONDS
                    called = callbacks.queue_silent_high_value()
                    db.session.commit()
                    if called:
                        log.info("%d silent high-value customers to call", called)
                report = outbox.dispatch(self.name, should_stop=self.stopping.is_set)
                # What this pass and the web processes changed, into the
                # dashboard's funnel totals.
                with db.engine.begin() as conn:
                    funnel.compact(conn)
            finally:
                db.session.remove()
        # Opens its own context and never raises: a mailbox that is down must
        # not stop the sending.
        bounce_processing.run_bounce_job(self.app)
        # Opens its own context, runs at most once a day and never raises.
        privacy_operations.run_retention_job(self.app)
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
                if report.sent or report.failed or report.retried:
                    log.info(
                        "sent %d, retried %d, failed %d",
                        report.sent,
                        report.retried,
                        report.failed,
                    )
            except Exception:
                # A database restart or a bug in one pass must not end the
                # worker: the next pass starts from the database's state.
                log.exception("worker pass failed; trying again in %ss", interval)
            self.stopping.wait(interval)
        log.info("worker %s stopped", self.name)
