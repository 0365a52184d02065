"""Churn-risk model versions: store, list, activate, roll back, load.

A version is a row of ``risk_models`` holding the fitted model serialised by
joblib. It lives in the database, not in a file of the instance folder, so the
web servers and the worker (possibly on other machines) share the versions, a
backup includes them and a rollback needs no file. A pickle runs code when
loaded, so Karn loads only what it wrote itself: blobs from this table, after
checking their SHA-256 against the one stored beside them; there is no way to
upload a model.
"""

from __future__ import annotations

import hashlib
import io
from typing import TYPE_CHECKING

import sqlalchemy as sa

from karn import clock
from karn.accounts import audit
from karn.extensions import db
from karn.risk.models import RiskModel

if TYPE_CHECKING:
    # The model code loads numpy; the commands and pages that only list
    # versions do not need it.
    from karn.risk.training import Bundle

# A new version replaces the active one only when its AUC is not lower by more.
AUC_TOLERANCE = 0.01


def dumps(bundle: Bundle) -> bytes:
    import joblib  # here: it loads slowly and only training and scoring need it

    buffer = io.BytesIO()
    joblib.dump(bundle, buffer, compress=3)
    return buffer.getvalue()


def versions() -> list[RiskModel]:
    return db.session.scalars(sa.select(RiskModel).order_by(RiskModel.version)).all()


def active() -> RiskModel | None:
    return db.session.scalar(sa.select(RiskModel).where(RiskModel.active.is_(True)))


def store(bundle: Bundle, metrics: dict, by: str | None = None) -> RiskModel:
    """Keep a trained model as the next version (not active). Caller commits."""
    blob = dumps(bundle)
    latest = db.session.scalar(sa.select(sa.func.max(RiskModel.version))) or 0
    row = RiskModel(
        version=latest + 1,
        created_by=by,
        metrics=metrics,
        digest=hashlib.sha256(blob).hexdigest(),
        blob=blob,
    )
    db.session.add(row)
    db.session.flush()
    return row


def load(row: RiskModel) -> Bundle:
    """The model of a stored version; ValueError if the blob was altered."""
    if hashlib.sha256(row.blob).hexdigest() != row.digest:
        raise ValueError(f"risk model version {row.version} does not match its hash")
    import joblib

    bundle = joblib.load(io.BytesIO(row.blob))
    from karn.risk.training import Bundle

    if not isinstance(bundle, Bundle):
        raise ValueError(f"risk model version {row.version} is not a risk model")
    return bundle


def activate(version: int, by: str | None = None) -> RiskModel:
    """Make a version the one that scores; LookupError if unknown. Caller commits."""
    row = db.session.scalar(sa.select(RiskModel).where(RiskModel.version == version))
    if row is None:
        raise LookupError(f"no risk model version {version}")
    load(row)
    db.session.execute(
        sa.update(RiskModel).where(RiskModel.id != row.id).values(active=False)
    )
    row.active = True
    row.activated_at = clock.now()
    audit.record("risk.model_activate", row, version=version, by=by)
    db.session.flush()
    return row


def rollback(by: str | None = None) -> RiskModel:
    """Go back to the version that was active before; LookupError if none."""
    current = active()
    query = sa.select(RiskModel).where(RiskModel.activated_at.is_not(None))
    if current is not None:
        query = query.where(RiskModel.id != current.id)
    previous = db.session.scalar(query.order_by(RiskModel.activated_at.desc()))
    if previous is None:
        raise LookupError("no earlier active version to go back to")
    return activate(previous.version, by)


def better_enough(new: dict, current: RiskModel | None) -> bool:
    """The activation rule: no active version, or AUC not worse by > 0.01."""
    if current is None:
        return True
    return new["auc"] >= (current.metrics or {}).get("auc", 0.0) - AUC_TOLERANCE
