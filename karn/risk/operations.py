"""Training from the platform's customers, and scoring the current ones.

Scoring streams the active customers in chunks: every one gets a calibrated
probability and the revenue at risk (probability × monthly revenue). Only the
``EXPLAIN_TOP`` customers with the most revenue at risk (default 1,000, the
ones anyone will call) get an explanation: each attribute in turn is replaced
by its typical value (the median, or the most common category), and the three
replacements that lower the probability most, by at least half a percentage
point, are the attributes that raise the risk; with them the reason they would
most likely leave for, from the likely-reason model when it is any good.

Revenue at risk is counted in the reporting currency only: a customer whose
amounts are in another currency gets 0 there (the page shows their own amount
beside it, marked as not counted), as every other sum in Karn leaves them out.

One training at a time: the worker and `flask risk train` take the lock (a
row of the settings table, so it holds across processes and machines) and a
second one is refused with ``Busy``; a lock older than ``LOCK_HOURS`` is left
by a training that died and is taken over.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.customers import currency
from karn.customers.models import Customer
from karn.enums import CustomerStatus
from karn.extensions import db
from karn.risk import data, store, thresholds
from karn.risk.models import RiskModel, RiskScore
from karn.settings import Setting

# NumPy and the training code are imported where a model is trained or used:
# the worker asks on every pass whether training is due, mostly to hear no.
if TYPE_CHECKING:
    import numpy as np

    from karn.risk import training

log = logging.getLogger(__name__)

EXPLAIN_TOP = 1000
MIN_DROP = 0.005
INSERT_BATCH = 5000
LOCK_KEY = "risk.training"
LOCK_HOURS = 6
# Why the last training found nothing to learn from (cleared by a model).
NOTHING_KEY = "risk.nothing_to_learn"


class Busy(Exception):
    """Another training runs; ``holder`` and ``since`` say which."""

    def __init__(self, holder: str | None, since):
        super().__init__(f"another churn-risk training runs (by {holder}, {since})")
        self.holder, self.since = holder, since


def _lock(by: str | None) -> None:
    """Take the training lock (committed at once); Busy when it is held."""
    for _attempt in range(2):
        try:
            db.session.execute(
                sa.insert(Setting).values(key=LOCK_KEY, value={"by": by})
            )
            db.session.commit()
            return
        except sa.exc.IntegrityError:
            db.session.rollback()
        held = db.session.get(Setting, LOCK_KEY)
        if held is None:
            continue
        if clock.now() - held.updated_at < timedelta(hours=LOCK_HOURS):
            raise Busy((held.value or {}).get("by"), held.updated_at)
        db.session.delete(held)
        db.session.commit()
    raise Busy(None, None)


def _unlock() -> None:
    db.session.rollback()
    db.session.execute(sa.delete(Setting).where(Setting.key == LOCK_KEY))
    db.session.commit()


def train_from_platform(
    by: str | None = None, auto_activate: bool = True, keep: tuple[str, ...] = ()
):
    """Train on every customer, store the version, and activate it by the rule.

    ``keep``: columns used although they look as if they tell who left, beside
    those of RISK_KEEP_COLUMNS. Returns (row, activated); raises
    thresholds.TooLittleData, thresholds.NothingToLearn (every column left
    out), or Busy while another training runs.
    """
    departed, active = data.counts()
    if departed < thresholds.MIN_DEPARTED or active < thresholds.MIN_ACTIVE:
        raise thresholds.TooLittleData(departed, active)
    configured = str(current_app.config.get("RISK_KEEP_COLUMNS") or "").split(",")
    columns = frozenset(c.strip() for c in (*configured, *keep) if c.strip())
    _lock(by)
    try:
        return _train(by, auto_activate, columns)
    finally:
        _unlock()


def _train(by: str | None, auto_activate: bool, keep: frozenset[str]):
    from karn.risk import training

    feature_set, X, y, dates, ids = data.training_arrays(keep=keep)
    _note_nothing_to_learn(None if feature_set.features else feature_set.left_out)
    if not feature_set.features:
        raise thresholds.NothingToLearn(feature_set.left_out)
    main = data.main_reasons()
    reasons = [main.get(int(i)) for i in ids]
    bundle, metrics = training.train(feature_set, X, y, dates=dates, reasons=reasons)
    row = store.store(bundle, metrics, by=by)
    current = store.active()
    activated = auto_activate and store.better_enough(metrics, current)
    if activated:
        store.activate(row.version, by=by)
    db.session.commit()
    return row, activated


def _explain(bundle: training.Bundle, X: np.ndarray) -> list[list[dict]]:
    """Per row: up to three attributes whose typical value lowers the risk most."""
    import numpy as np

    if not len(X):
        return []
    base = bundle.probability(X)
    drops = np.zeros((len(X), len(bundle.features.features)))
    for j, feature in enumerate(bundle.features.features):
        if np.isnan(feature.typical):
            continue
        changed = X.copy()
        changed[:, j] = feature.typical
        drops[:, j] = base - bundle.probability(changed)
        # Already typical: nothing to explain.
        same = (X[:, j] == feature.typical) | np.isnan(X[:, j])
        drops[same, j] = 0.0
    out = []
    for i in range(len(X)):
        order = [j for j in np.argsort(-drops[i])[:3] if drops[i, j] >= MIN_DROP]
        out.append(
            [
                {
                    "feature": bundle.features.features[j].name,
                    "value": bundle.features.features[j].describe(float(X[i, j])),
                    "typical": bundle.features.features[j].describe(
                        float(bundle.features.features[j].typical)
                    ),
                    "drop": round(float(drops[i, j]), 4),
                }
                for j in order
            ]
        )
    return out


@dataclass
class ScoreReport:
    version: int | None = None
    scored: int = 0
    explained: int = 0
    seconds: float = 0.0


def score_all(explain_top: int = EXPLAIN_TOP) -> ScoreReport:
    """Score every active customer with the active model; replaces all scores."""
    import numpy as np

    started = time.monotonic()
    row = store.active()
    report = ScoreReport()
    if row is None:
        return report
    bundle = store.load(row)
    report.version = row.version
    now = clock.now()
    ids, probs, revenue = [], [], []
    query = data.population(active_only=True)
    reporting = currency.reporting()
    for chunk in data.chunks(query):
        X = bundle.features.matrix(chunk).astype(np.float32)
        ids.extend(r["id"] for r in chunk)
        probs.append(bundle.probability(X))
        # Only amounts in the reporting currency are revenue at risk.
        revenue.extend(
            (r["monthly_revenue"] or 0.0) if r["currency"] in (None, reporting) else 0.0
            for r in chunk
        )
    ids_a = np.array(ids, dtype=np.int64)
    p = np.concatenate(probs) if probs else np.empty(0)
    at_risk = np.round(p * np.array(revenue, dtype=np.float64), 2)
    # As the page ranks (karn.risk.views.rank_order): most revenue at risk
    # first, then the newest customer.
    rank = np.lexsort((-ids_a, -at_risk))[:explain_top]
    explained: dict[int, tuple[list, str | None]] = {}
    top_ids = set(int(i) for i in ids_a[rank])
    records = data.records(query, sorted(top_ids))
    if records:
        X = bundle.features.matrix(records).astype(np.float32)
        why = _explain(bundle, X)
        likely = bundle.likely_reasons(X)
        for record, w, reason in zip(records, why, likely, strict=True):
            explained[record["id"]] = (w, reason)
    db.session.execute(sa.delete(RiskScore))
    # Core, not the ORM: a million rows without a million objects. The few
    # explained rows go apart; the others leave reasons and likely reason
    # out (NULL), so no row pays for encoding an empty explanation.
    table = RiskScore.__table__
    fixed = {"model_version": row.version, "scored_at": now}
    if explained:
        db.session.execute(
            sa.insert(table).values(**fixed),
            [
                {
                    "customer_id": cid,
                    "probability": float(p[k]),
                    "revenue_at_risk": float(at_risk[k]),
                    "reasons": explained[cid][0],
                    "likely_reason": explained[cid][1],
                }
                for k, cid in ((int(k), int(ids_a[k])) for k in rank)
                if cid in explained
            ],
        )
    plain = np.ones(len(ids_a), dtype=bool)
    plain[[k for k in rank if int(ids_a[k]) in explained]] = False
    _insert_plain(
        zip(
            ids_a[plain].tolist(),
            p[plain].tolist(),
            at_risk[plain].tolist(),
            strict=True,
        ),
        row.version,
        now,
    )
    # Whoever objected to profiling, was erased or left while this ran keeps
    # no score: those scores were deleted when it happened, and the rows
    # above were read before.
    db.session.execute(
        sa.delete(RiskScore).where(
            RiskScore.customer_id.in_(
                sa.select(Customer.id).where(
                    sa.or_(
                        Customer.erased_at.is_not(None),
                        Customer.profiling_objected_at.is_not(None),
                        Customer.status != CustomerStatus.ACTIVE,
                    )
                )
            )
        )
    )
    db.session.commit()
    report.scored, report.explained = len(ids_a), len(explained)
    report.seconds = time.monotonic() - started
    return report


def _insert_plain(scores, version: int, now) -> None:
    """Write (customer id, probability, revenue at risk) rows without an
    explanation, INSERT_BATCH at a time, straight to the database driver: the
    version and the time are the same for all, so they are converted once,
    not once per row (that conversion was a fifth of scoring)."""
    connection = db.session.connection()
    dialect = connection.dialect
    scored_at = RiskScore.__table__.c.scored_at.type.bind_processor(dialect)
    stamp = scored_at(now) if scored_at else now
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = (
        "INSERT INTO risk_scores (customer_id, probability, revenue_at_risk, "
        f"model_version, scored_at) VALUES ({mark}, {mark}, {mark}, {mark}, {mark})"
    )
    batch = []
    for customer, probability, at_risk in scores:
        batch.append((customer, probability, at_risk, version, stamp))
        if len(batch) == INSERT_BATCH:
            connection.exec_driver_sql(sql, batch)
            batch = []
    if batch:
        connection.exec_driver_sql(sql, batch)


def last_scored():
    return db.session.scalar(sa.select(sa.func.max(RiskScore.scored_at)))


def _note_nothing_to_learn(left_out: dict[str, str] | None) -> None:
    """Keep (or clear) why the last training had nothing to learn from, for
    the page; committed at once, as a failed training commits nothing else."""
    db.session.execute(sa.delete(Setting).where(Setting.key == NOTHING_KEY))
    if left_out is not None:
        db.session.add(Setting(key=NOTHING_KEY, value=left_out))
    db.session.commit()


def nothing_to_learn() -> dict[str, str] | None:
    """Column → why left out, when the last training found nothing to learn."""
    held = db.session.get(Setting, NOTHING_KEY)
    return held.value if held is not None else None


def last_trained():
    return db.session.scalar(sa.select(sa.func.max(RiskModel.created_at)))


def object_to_profiling(customer: Customer, objects: bool) -> bool:
    """Record (or withdraw) a customer's objection to profiling; an objection
    deletes their score at the next flush (karn.risk.models). True when it
    changed; the caller commits."""
    if objects == (customer.profiling_objected_at is not None):
        return False
    customer.profiling_objected_at = clock.now() if objects else None
    return True


def forget(customer_ids: list[int]) -> int:
    """Remove the scores of these customers (erasure); the caller commits."""
    if not customer_ids:
        return 0
    result = db.session.execute(
        sa.delete(RiskScore).where(RiskScore.customer_id.in_(customer_ids))
    )
    return result.rowcount or 0
