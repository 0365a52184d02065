"""The customers as the risk model sees them, streamed from the database.

A customer is read as a small dict of the fields a feature may come from, a
chunk at a time, so a million customers never sit in memory as objects; the
features are fitted on a sample of at most ``FIT_SAMPLE`` of them and the
matrix is filled chunk by chunk.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import sqlalchemy as sa

from karn.callbacks.models import CallNote, CallNoteReason
from karn.customers.models import Customer
from karn.enums import CustomerStatus
from karn.extensions import db
from karn.surveys.models import Response

# NumPy (with the features) is imported where the arrays are built: counting
# customers, which the worker does on every pass, needs neither.
if TYPE_CHECKING:
    from karn.risk import features as feats

CHUNK = 5000
FIT_SAMPLE = 50_000

_COLUMNS = (
    Customer.id,
    Customer.status,
    Customer.departed_at,
    Customer.tenure_months,
    Customer.monthly_revenue,
    Customer.lifetime_value,
    Customer.plan,
    Customer.segment,
    Customer.region,
    Customer.language,
    Customer.extra,
    Customer.currency,
)


# Looked up once: reading an enum member off its class, or a member's value,
# goes through a descriptor, which cost a tenth of reading a customer.
_DEPARTED = CustomerStatus.DEPARTED


def _record(row) -> dict:
    return {
        "id": row.id,
        "departed": row.status == _DEPARTED,
        "departed_at": row.departed_at,
        "tenure_months": row.tenure_months,
        "monthly_revenue": (
            float(row.monthly_revenue) if row.monthly_revenue is not None else None
        ),
        "lifetime_value": (
            float(row.lifetime_value) if row.lifetime_value is not None else None
        ),
        "plan": row.plan,
        "segment": row.segment,
        "region": row.region,
        # A StrEnum member is its value; str() makes it a plain string.
        "language": str(row.language) if row.language else None,
        "extra": row.extra or {},
        "currency": row.currency,
    }


def population(active_only: bool = False):
    """The customers a model learns from (or scores): never the erased, nor
    those who objected to profiling."""
    query = sa.select(*_COLUMNS).where(
        Customer.erased_at.is_(None), Customer.profiling_objected_at.is_(None)
    )
    if active_only:
        query = query.where(Customer.status == CustomerStatus.ACTIVE)
    return query.order_by(Customer.id)


def chunks(query, size: int = CHUNK) -> Iterator[list[dict]]:
    """The query's customers as records, ``size`` at a time (keyset paging)."""
    last = 0
    # On the session's connection, as plain rows: the ORM's handling of a
    # result is a third of reading them, and nothing here needs it.
    connection = db.session.connection()
    while True:
        rows = connection.execute(query.where(Customer.id > last).limit(size)).all()
        if not rows:
            return
        yield [_record(r) for r in rows]
        last = rows[-1].id


def records(query, ids: list[int], size: int = 1000) -> list[dict]:
    """The query's customers with these ids (a few, by primary key)."""
    out: list[dict] = []
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        out.extend(
            _record(r) for r in db.session.execute(query.where(Customer.id.in_(part)))
        )
    return out


def counts() -> tuple[int, int]:
    """(departed, active) customers a model may learn from."""
    rows = db.session.execute(
        sa.select(Customer.status, sa.func.count())
        .where(Customer.erased_at.is_(None), Customer.profiling_objected_at.is_(None))
        .group_by(Customer.status)
    ).all()
    by = {status: n for status, n in rows}
    return by.get(CustomerStatus.DEPARTED, 0), by.get(CustomerStatus.ACTIVE, 0)


def sample(query, size: int = FIT_SAMPLE, seed: int = 0) -> list[dict]:
    """A uniform sample of the query's customers: their ids only are read in
    full, the sampled customers by primary key."""
    ids = list(db.session.scalars(query.with_only_columns(Customer.id)))
    if len(ids) > size:
        ids = sorted(random.Random(seed).sample(ids, size))
    return records(query, ids)


def training_arrays(
    feature_set: feats.FeatureSet | None = None, keep: frozenset[str] = frozenset()
):
    """(feature set, X, departed, departed_at list, ids) of all customers;
    ``keep`` as features.fit takes it."""
    import numpy as np

    from karn.risk import features as feats

    query = population()
    if feature_set is None:
        feature_set = feats.fit(sample(query), keep)
    blocks, labels, dates, ids = [], [], [], []
    for chunk in chunks(query):
        blocks.append(feature_set.matrix(chunk).astype(np.float32))
        labels.extend(r["departed"] for r in chunk)
        dates.extend(r["departed_at"] for r in chunk)
        ids.extend(r["id"] for r in chunk)
    n_features = len(feature_set.features)
    X = np.vstack(blocks) if blocks else np.empty((0, n_features), np.float32)
    return feature_set, X, np.array(labels, dtype=bool), dates, np.array(ids)


def main_reasons() -> dict[int, str]:
    """customer id → the main reason of a departed customer: the survey answer,
    else the stated reason, else a reason heard on the phone."""
    reasons: dict[int, str] = {}
    for customer_id, reason in db.session.execute(
        sa.select(CallNote.customer_id, CallNoteReason.reason)
        .join(CallNote, CallNote.id == CallNoteReason.note_id)
        .where(CallNote.customer_id.is_not(None))
        .order_by(CallNote.id)
    ):
        reasons[customer_id] = str(reason.value if hasattr(reason, "value") else reason)
    for customer_id, reason in db.session.execute(
        sa.select(Customer.id, Customer.stated_reason).where(
            Customer.stated_reason.is_not(None),
            Customer.status == CustomerStatus.DEPARTED,
            Customer.erased_at.is_(None),
        )
    ):
        reasons[customer_id] = reason.value
    for customer_id, reason in db.session.execute(
        sa.select(Response.customer_id, Response.primary_reason)
        .where(
            Response.submitted_at.is_not(None),
            Response.primary_reason.is_not(None),
            Response.customer_id.is_not(None),
        )
        .order_by(Response.submitted_at)
    ):
        reasons[customer_id] = reason.value
    return reasons
