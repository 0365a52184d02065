"""The worker's churn-risk job: retrain weekly, rescore daily.

Training a large customer base takes minutes, longer than a worker pass may
hold up the mail, so the job only decides what is due (two small queries) and
hands the work to a thread of its own; the passes go on meanwhile, and a pass
while it runs starts nothing new. A new version is activated only when its
validated AUC is not worse than the active one's by more than 0.01
(``store.better_enough``); after training, or once a day
(``RISK_RESCORE_HOURS``), every active customer is scored again. Retraining
comes every ``RISK_RETRAIN_DAYS`` (default 7). With too little data it waits a
day before it looks again. Stopping the worker mid-training loses only that
training: nothing is written until it is done.
"""

import logging
import threading
from datetime import timedelta

from flask import Flask

from karn import clock
from karn.extensions import db
from karn.risk import operations, store, thresholds

log = logging.getLogger(__name__)

RETRAIN_DAYS = 7
RESCORE_HOURS = 24
_EXTENSION = "karn_risk_job"


def due(app: Flask, now=None) -> tuple[bool, bool]:
    """(retrain, rescore) due now; in an app context."""
    now = now or clock.now()
    state = app.extensions.setdefault(_EXTENSION, {})
    waiting = state.get("wait_until")
    trained = operations.last_trained()
    every = timedelta(days=app.config.get("RISK_RETRAIN_DAYS", RETRAIN_DAYS))
    retrain = (trained is None or now - trained >= every) and not (
        waiting and now < waiting
    )
    scored = operations.last_scored()
    hours = timedelta(hours=app.config.get("RISK_RESCORE_HOURS", RESCORE_HOURS))
    rescore = store.active() is not None and (scored is None or now - scored >= hours)
    return retrain, rescore


def run(app: Flask, retrain: bool, rescore: bool) -> None:
    """Do the due work now, in this thread (tests, and the job's thread)."""
    state = app.extensions.setdefault(_EXTENSION, {})
    with app.app_context():
        try:
            if retrain:
                try:
                    row, activated = operations.train_from_platform(by="worker")
                    log.info(
                        "risk model version %s trained (AUC %.3f), %s",
                        row.version,
                        row.metrics["auc"],
                        "activated" if activated else "kept aside",
                    )
                    rescore = rescore or activated
                except (thresholds.TooLittleData, thresholds.NothingToLearn) as exc:
                    state["wait_until"] = clock.now() + timedelta(days=1)
                    log.info("risk model not trained: %s", exc)
                except operations.Busy as exc:
                    # `flask risk train` runs: it trains (and scores) for us.
                    state["wait_until"] = clock.now() + timedelta(hours=1)
                    log.info("risk model not trained: %s", exc)
            if rescore and store.active() is not None:
                report = operations.score_all()
                log.info("%d customers scored for churn risk", report.scored)
        except Exception:
            log.exception("churn-risk job failed")
            db.session.rollback()
        finally:
            db.session.remove()


def run_risk_job(app: Flask, wait: bool = False) -> bool:
    """The worker's job: never raises and never blocks; True when work started.

    ``wait``: do the work in this thread and return when it is done, as a
    one-off pass (``flask surveys dispatch`` from cron) must: its process
    ends right after, and a thread of its own would end with it.
    """
    state = app.extensions.setdefault(_EXTENSION, {})
    thread = state.get("thread")
    if thread is not None and thread.is_alive():
        return False
    with app.app_context():
        try:
            retrain, rescore = due(app)
        except Exception:
            log.exception("churn-risk job could not look what is due")
            db.session.rollback()
            return False
        finally:
            db.session.remove()
    if not (retrain or rescore):
        return False
    if wait:
        run(app, retrain, rescore)
        return True
    thread = threading.Thread(
        target=run, args=(app, retrain, rescore), name="risk", daemon=True
    )
    state["thread"] = thread
    thread.start()
    return True
