"""The at-risk page: current customers ranked by revenue at risk, and why."""

import csv
import io

import sqlalchemy as sa
from flask import Blueprint, Response, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from karn.accounts.security import MANAGERS, roles_required
from karn.analysis.queries import reason_labels_for
from karn.customers.models import Customer
from karn.extensions import db
from karn.formatting import spreadsheet_cell
from karn.risk import data, store, training
from karn.risk.models import RiskScore

bp = Blueprint("risk", __name__, url_prefix="/at-risk")

PAGE_SIZE = 100
EXPORT_MAX = 100_000
# Risk bands by calibrated probability: (name, label, lowest, below).
BANDS = (
    ("high", _l("high (50% or more)"), 0.5, 1.01),
    ("medium", _l("medium (20–50%)"), 0.2, 0.5),
    ("low", _l("low (under 20%)"), 0.0, 0.2),
)
FIELD_LABELS = {
    "tenure_months": _l("Tenure (months)"),
    "monthly_revenue": _l("Monthly revenue"),
    "lifetime_value": _l("Lifetime value"),
    "plan": _l("Plan"),
    "segment": _l("Segment"),
    "region": _l("Region"),
    "language": _l("Language"),
}
NO_REASON = "none"


def _lang() -> str:
    return str(get_locale())


def _filters() -> dict:
    args = request.args
    out = {k: (args.get(k) or "").strip()[:100] for k in ("segment", "plan", "region")}
    reason = (args.get("reason") or "").strip()
    out["reason"] = reason if reason in {*reason_labels_for("en"), NO_REASON} else ""
    band = (args.get("band") or "").strip()
    out["band"] = band if band in {b[0] for b in BANDS} else ""
    return out


def _query(filters: dict, *columns):
    query = (
        sa.select(*(columns or (RiskScore, Customer)))
        .select_from(RiskScore)
        .join(Customer, Customer.id == RiskScore.customer_id)
        .where(Customer.erased_at.is_(None))
    )
    for name in ("segment", "plan", "region"):
        if filters[name]:
            query = query.where(getattr(Customer, name) == filters[name])
    if filters["reason"] == NO_REASON:
        query = query.where(RiskScore.likely_reason.is_(None))
    elif filters["reason"]:
        query = query.where(RiskScore.likely_reason == filters["reason"])
    for name, _label, low, high in BANDS:
        if filters["band"] == name:
            query = query.where(
                RiskScore.probability >= low, RiskScore.probability < high
            )
    return query


def attribute_label(feature: str) -> str:
    if feature.startswith("extra:"):
        return feature.removeprefix("extra:")
    return str(FIELD_LABELS.get(feature, feature))


def explain(reasons: list | None) -> list[str]:
    """The attributes that raise the risk, in words of the page's language."""
    if not reasons:
        return []
    return [
        _(
            "%(attribute)s: %(value)s (typical: %(typical)s)",
            attribute=attribute_label(r["feature"]),
            value=_("other") if r["value"] == "\x00other" else r["value"],
            typical=_("other") if r["typical"] == "\x00other" else r["typical"],
        )
        for r in reasons
    ]


def quality_in_words(metrics: dict) -> list[str]:
    """The model's evaluation as a manager reads it."""
    auc = metrics.get("auc", 0.0)
    lines = [
        _(
            "Of a customer who left and one who stayed, the model puts the one who "
            "left higher %(times)s times out of 100 (AUC %(auc)s; 50 is guessing).",
            times=round(auc * 100),
            auc=f"{auc:.2f}",
        ),
        _(
            "The 10%% it ranks highest hold %(lift)s times as many leavers as "
            "customers on average.",
            lift=f"{metrics.get('top_decile_lift', 0):.1f}",
        ),
        _(
            "Its probabilities are off by %(points)s percentage points on average.",
            points=f"{100 * metrics.get('calibration_error', 0):.1f}",
        ),
        _(
            "Measured on %(n)s customers it had not learned from (%(how)s).",
            n=f"{metrics.get('n', 0):,}",
            how=metrics.get("validation", ""),
        ),
    ]
    reason = metrics.get("reason_model") or {}
    if reason.get("useful"):
        lines.append(
            _(
                "The likely reason is right %(hit)s%% of the time, against "
                "%(base)s%% for always naming the most common reason.",
                hit=round(100 * reason["accuracy"]),
                base=round(100 * reason["majority"]),
            )
        )
    else:
        lines.append(
            _(
                "No likely reasons are shown: the departure reasons known so far "
                "do not predict them better than always naming the most common one."
            )
        )
    return lines


def _distinct(column) -> list[str]:
    return db.session.scalars(
        sa.select(column)
        .join(RiskScore, RiskScore.customer_id == Customer.id)
        .where(column.is_not(None))
        .distinct()
        .order_by(column)
        .limit(200)
    ).all()


@bp.get("/")
@roles_required(*MANAGERS)
def index():
    filters = _filters()
    row = store.active()
    departed, active = data.counts()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    query = _query(filters)
    total, at_risk = db.session.execute(
        _query(
            filters,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(RiskScore.revenue_at_risk), 0.0),
        )
    ).one()
    rows = db.session.execute(
        query.order_by(RiskScore.revenue_at_risk.desc(), RiskScore.customer_id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "risk/index.html",
        model=row,
        quality=quality_in_words(row.metrics) if row else [],
        too_little=departed < training.MIN_DEPARTED or active < training.MIN_ACTIVE,
        departed=departed,
        active=active,
        minimum=training.MIN_DEPARTED,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        revenue_at_risk=at_risk,
        filters=filters,
        bands=BANDS,
        reasons=reason_labels_for(_lang()),
        no_reason=NO_REASON,
        options={
            "segment": _distinct(Customer.segment),
            "plan": _distinct(Customer.plan),
            "region": _distinct(Customer.region),
        },
        explain=explain,
    )


@bp.get("/export.csv")
@roles_required(*MANAGERS)
def export():
    """The ranking as on the page (filters included) as CSV."""
    filters = _filters()
    labels = reason_labels_for(_lang())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            _("Customer number"),
            _("Name"),
            _("Probability"),
            _("Revenue at risk"),
            _("Likely reason"),
            _("Why"),
        ]
    )
    for score, customer in db.session.execute(
        _filters_query(filters).limit(EXPORT_MAX)
    ):
        writer.writerow(
            spreadsheet_cell(cell)
            for cell in [
                customer.external_id or "",
                customer.name or "",
                f"{score.probability:.3f}",
                f"{score.revenue_at_risk:.2f}",
                labels.get(score.likely_reason, "") if score.likely_reason else "",
                "; ".join(explain(score.reasons)),
            ]
        )
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=at-risk.csv"},
    )


def _filters_query(filters: dict):
    return _query(filters).order_by(
        RiskScore.revenue_at_risk.desc(), RiskScore.customer_id
    )
