"""The demo's current customers, with a planted churn-risk pattern.

The departed demo customers were on the cheapest plans and new more often
than those who stay: here the current customers are drawn with three times
the tenure and a plan mix away from "Basis" and "Zakelijk Start", so a
current customer who is new (under a year) on one of those plans looks like
the ones who left. That is the pattern the at-risk page should find, and
what its explanations should name (tenure, plan). A few customers object to
profiling and are never scored.
"""

import math
import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from karn.customers.models import Customer
from karn.demo.common import (
    BATCH,
    DEMO_MARK,
    EXTERNAL_PREFIX,
    _money,
    _phone,
    _pick,
    _slug,
)
from karn.demo.texts import FIRST_EN, FIRST_NL, LAST_EN, LAST_NL, REGIONS, SEGMENTS
from karn.enums import CustomerStatus, Language, Source
from karn.extensions import db

# How much longer the current customers have been customers than the leavers.
TENURE_FACTOR = 3.0
# The current customers' plan mix: the cheap plans less often than the leavers'.
PLAN_MIX = {
    "Particulier": {"Basis": 0.2, "Plus": 0.4, "Premium": 0.4},
    "MKB": {"Zakelijk Start": 0.3, "Zakelijk Pro": 0.7},
    "Enterprise": {"Enterprise": 1.0},
}
OBJECTING = 12


def active_rows(rng: random.Random, count: int, now: datetime) -> list[dict[str, Any]]:
    """``count`` current customers, numbered after the departed ones."""
    rows = []
    segments = {name: spec[0] for name, spec in SEGMENTS.items()}
    for number in range(1, count + 1):
        lang = "nl" if rng.random() < 0.7 else "en"
        first, last = (
            (rng.choice(FIRST_NL), rng.choice(LAST_NL))
            if lang == "nl"
            else (rng.choice(FIRST_EN), rng.choice(LAST_EN))
        )
        segment = _pick(rng, segments)
        _share, plans, tenure_median = SEGMENTS[segment]
        plan = _pick(rng, PLAN_MIX[segment])
        _p, price, spread = plans[plan]
        monthly = price * math.exp(rng.gauss(0, spread)) if spread else price
        tenure = max(
            1,
            min(
                240,
                round(rng.lognormvariate(math.log(tenure_median * TENURE_FACTOR), 0.8)),
            ),
        )
        since = now - timedelta(days=rng.randrange(30, 700))
        rows.append(
            {
                "external_id": f"{EXTERNAL_PREFIX}A{number:05d}",
                "email": f"{_slug(first)}.{_slug(last)}.a{number}@example.com",
                "name": f"{first} {last}",
                "phone": _phone(rng, lang) if rng.random() < 0.6 else None,
                "language": Language(lang),
                "status": CustomerStatus.ACTIVE,
                "departed_at": None,
                "plan": plan,
                "segment": segment,
                "region": _pick(rng, REGIONS),
                "tenure_months": tenure,
                "monthly_revenue": _money(monthly),
                "lifetime_value": _money(monthly * tenure * rng.uniform(0.85, 1.1)),
                "source": Source.CSV,
                "extra": dict(DEMO_MARK),
                "delivery_failures": 0,
                "profiling_objected_at": since if number <= OBJECTING else None,
                "created_at": since,
                "updated_at": since,
            }
        )
    return rows


def insert_active(rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), BATCH):
        db.session.execute(sa.insert(Customer), rows[start : start + BATCH])
    db.session.commit()


def train_and_score() -> dict:
    """Train the churn-risk model on the demo and score its current customers,
    as the worker would; what it found, for the seed's summary."""
    from karn.risk import operations, training

    try:
        row, _activated = operations.train_from_platform(by="demo")
    except training.TooLittleData:
        return {}
    report = operations.score_all()
    return {"auc": row.metrics["auc"], "scored": report.scored}
