"""The at-risk ranking as ``GET /api/v1/at-risk`` gives it.

The page, its exports and the API share the filters and the order
(karn.risk.views): most revenue at risk first. Revenue at risk counts
in the reporting currency only; a customer whose amounts are in another
currency is ranked with none, and their own amount is given beside it with its
currency code and ``counted: false``.
"""

import sqlalchemy as sa
from flask_babel import gettext as _

from karn.analysis.queries import reason_labels_for
from karn.customers import currency
from karn.extensions import db
from karn.risk import store
from karn.risk.models import RiskScore
from karn.risk.views import (
    BANDS,
    NO_REASON,
    _query,
    explain,
    in_words,
    other_currency,
    own_amount,
    ranked,
)


def api_json(filters: dict, lang: str, page: int, per_page: int) -> dict:
    """The ranking as ``GET /api/v1/at-risk`` gives it, texts in ``lang``."""
    labels = reason_labels_for(lang)
    total, at_risk = db.session.execute(
        _query(
            filters,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(RiskScore.revenue_at_risk), 0.0),
            customers=False,
        )
    ).one()
    rows = ranked(filters, per_page, (page - 1) * per_page, total)
    model = store.active()
    customers = []
    for rank, (score, customer) in enumerate(rows, start=(page - 1) * per_page + 1):
        amount, code, counted = own_amount(score, customer)
        texts = explain(score.reasons)
        customers.append(
            {
                "rank": rank,
                "external_id": customer.external_id,
                "email": customer.email,
                "name": customer.name,
                "plan": customer.plan,
                "segment": customer.segment,
                "region": customer.region,
                "probability": round(score.probability, 4),
                "band": next(
                    name
                    for name, _label, low, high in BANDS
                    if low <= score.probability < high
                ),
                "revenue_at_risk": amount,
                "currency": code,
                "counted": counted,
                "explained": score.reasons is not None,
                "reasons": [
                    {
                        "attribute": r["feature"],
                        "value": in_words(r["value"]),
                        "typical": in_words(r["typical"]),
                        "text": text,
                    }
                    for r, text in zip(score.reasons or [], texts, strict=True)
                ],
                "likely_reason": score.likely_reason,
                "likely_reason_text": (
                    labels.get(score.likely_reason, score.likely_reason)
                    if score.likely_reason
                    else _("no likely reason")
                ),
                "model_version": score.model_version,
                "scored_at": score.scored_at.isoformat() if score.scored_at else None,
            }
        )
    metrics = (model.metrics or {}) if model else {}
    return {
        "n": total,
        "page": page,
        "per_page": per_page,
        "pages": max(1, -(-total // per_page)),
        "language": lang,
        "currency": currency.reporting(),
        "revenue_at_risk": round(float(at_risk), 2),
        "other_currency": other_currency(filters),
        "filters": {k: v for k, v in filters.items() if v},
        "model": (
            {
                "version": model.version,
                **{
                    k: metrics.get(k)
                    for k in ("auc", "top_decile_lift", "calibration_error")
                },
                "validation": metrics.get("validation"),
            }
            if model
            else None
        ),
        "customers": customers,
    }


__all__ = ["NO_REASON", "api_json"]
