"""The at-risk page: current customers ranked by revenue at risk, and why."""

import re

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from karn.accounts.security import MANAGERS, roles_required
from karn.analysis import currencies
from karn.analysis.queries import reason_labels_for
from karn.customers import currency
from karn.customers.currency import reporting as reporting_currency
from karn.customers.models import Customer
from karn.customers.queries import distinct_values
from karn.enums import ExperimentKind
from karn.experiments.operations import open_groups
from karn.extensions import db
from karn.formatting import number
from karn.risk import store
from karn.risk.models import TELLS, RiskScore

bp = Blueprint("risk", __name__, url_prefix="/at-risk")

PAGE_SIZE = 100
# From this row on a filtered page's rows are found by filter, then sorted.
DEEP_OFFSET = 10 * PAGE_SIZE
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


def _query(filters: dict, *columns, customers: bool = True):
    """The scores the filters pick; ``customers=False`` for a count or sum that
    needs no customer column (erasure and objection delete the score, so an
    unfiltered count need not look at a million customers)."""
    query = sa.select(*(columns or (RiskScore, Customer))).select_from(RiskScore)
    if customers or any(filters[n] for n in ("segment", "plan", "region")):
        query = query.join(Customer, Customer.id == RiskScore.customer_id).where(
            Customer.erased_at.is_(None)
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


def rank_order() -> tuple:
    """Most revenue at risk first; between equal amounts the newest customer
    first. Both descending, so one backward walk of ``ix_risk_scores_rank``
    gives the order (scoring explains the top of the same order)."""
    return (RiskScore.revenue_at_risk.desc(), RiskScore.customer_id.desc())


def ranked(
    filters: dict, limit: int, offset: int = 0, total: int | None = None
) -> list:
    """(score, customer) rows ``offset`` to ``offset + limit`` of the ranking.

    In two steps: the page's customer ids are picked from the ranking index
    alone (joining the customers only when a customer filter needs them),
    then only those rows are read in full. Sorting every score with its whole
    customer row to keep a hundred took seconds on deep pages.

    Past the middle of the list (``total``, the number the filters pick, as
    the page has counted it) the ids are picked from the other end, in
    ascending order: the last page is then as quick as the first (it took
    0.7 s among 1,000,000 scores, and 1.1 s for monthly customers), and no
    page walks more than half of the list.

    The ranking index holds the probability and the likely reason, so a
    walk filtered by risk band or reason reads the index alone. Deep in a
    list filtered by a customer's segment, plan or region (from
    ``DEEP_OFFSET`` on), walking the index reads a customer row for every
    score passed (2.4 s for the last page of monthly, high-risk customers
    among 1,000,000); ordering by an expression the index cannot give makes
    the database find the filtered customers first and sort only those.
    """
    columns = (RiskScore.revenue_at_risk, RiskScore.customer_id)
    descending = True
    if total is not None and offset + limit > total - offset:
        # From the end: rows total - offset - limit .. total - offset of the
        # reversed order are this page's (fewer on a short last page).
        limit = max(0, min(limit, total - offset))
        offset = max(0, total - offset - limit)
        descending = False
    if offset >= DEEP_OFFSET and any(filters[n] for n in ("segment", "plan", "region")):
        columns = tuple(column + 0 for column in columns)
    order = [column.desc() if descending else column.asc() for column in columns]
    keys = (
        _query(filters, RiskScore.customer_id, customers=False)
        .order_by(*order)
        .limit(limit)
        .offset(offset)
    )
    return db.session.execute(
        sa.select(RiskScore, Customer)
        .join(Customer, Customer.id == RiskScore.customer_id)
        .where(RiskScore.customer_id.in_(keys), Customer.erased_at.is_(None))
        .order_by(*rank_order())
    ).all()


def attribute_label(feature: str) -> str:
    if feature.startswith("extra:"):
        return feature.removeprefix("extra:")
    return str(FIELD_LABELS.get(feature, feature))


_NUMBER = re.compile(r"-?\d{1,3}(?:,\d{3})+|-?\d+(?:\.(\d+))?")


def _shown(value: str) -> str:
    """A stored value as the reader writes it: a number in the locale's way
    ("4059.72" is "4.059,72" in Dutch; a whole one under 10,000 as it is),
    "other" in words, a category as is."""
    if value == "\x00other":
        return _("other")
    match = _NUMBER.fullmatch(value or "")
    if match is None:
        return value
    decimals = len(match.group(1) or "")
    amount = float(value.replace(",", ""))
    if not decimals and abs(amount) < 10_000:
        # A whole number of four digits is as often a year or a code (1985,
        # an area code) as a count: written without a separator.
        return str(int(amount))
    return number(amount, min(decimals, 2))


def explain(reasons: list | None) -> list[str]:
    """The attributes that raise the risk, in words of the page's language."""
    if not reasons:
        return []
    return [
        _(
            "%(attribute)s: %(value)s (typical: %(typical)s)",
            attribute=attribute_label(r["feature"]),
            value=_shown(r["value"]),
            typical=_shown(r["typical"]),
        )
        for r in reasons
    ]


def _validation_in_words(how: str) -> str:
    """How the model was validated, in the reader's language."""
    if how.startswith("forward in time"):
        return _(
            "forward in time: trained on the earlier departures, tested on the "
            "later ones"
        )
    if "cross-validation" in how:
        return _(
            "five-fold cross-validation, each customer tested by a model "
            "that had not seen them"
        )
    return how


def _why_left_out(why: str) -> str:
    """Why a column was left out of the model, in the reader's language."""
    words = {
        "name": _("its name says it identifies a person or tells of a departure"),
        "sparse": _("filled in for too few customers"),
        "constant": _("the same for every customer"),
        "sparse or constant": _("filled in for too few customers, or the same for all"),
        "date": _("a date"),
        "identifier": _("an identifier"),
        "identifier or free text": _("an identifier or free text"),
        "free text": _("free text"),
        TELLS: _("it tells who has already left"),
    }
    return words.get(why, why)


def nothing_in_words(left_out: dict[str, str] | None) -> list[str]:
    """Each column the last training left out, with why; [] when it trained."""
    return [
        _("%(column)s: %(why)s", column=attribute_label(name), why=_why_left_out(why))
        for name, why in (left_out or {}).items()
    ]


def quality_in_words(metrics: dict) -> list[str]:
    """The model's evaluation as a manager reads it."""
    auc = metrics.get("auc", 0.0)
    lines = [
        _(
            "Of a customer who left and one who stayed, the model puts the one who "
            "left higher %(times)s times out of 100 (AUC %(auc)s; 50 is guessing).",
            times=round(auc * 100),
            auc=number(auc, 2),
        ),
        _(
            "The 10%% it ranks highest hold %(lift)s times as many leavers as "
            "customers on average.",
            lift=number(metrics.get("top_decile_lift", 0), 1),
        ),
        _(
            "Its probabilities are off by %(points)s percentage points on average.",
            points=number(100 * metrics.get("calibration_error", 0), 1),
        ),
        _(
            "Measured on %(n)s customers it had not learned from (%(how)s).",
            n=number(metrics.get("n", 0)),
            how=_validation_in_words(str(metrics.get("validation", ""))),
        ),
    ]
    # As RISK_KEEP_COLUMNS takes them: a field with its code beside its label.
    told = sorted(
        attribute_label(name)
        if name.startswith("extra:")
        else f"{attribute_label(name)} ({name})"
        for name, why in (metrics.get("left_out") or {}).items()
        if why == TELLS
    )
    if told:
        lines.append(
            _(
                "Left out because they tell who has already left, not who may "
                "leave: %(columns)s. If one of them is filled in before customers "
                "leave, an administrator can name it in RISK_KEEP_COLUMNS.",
                columns=", ".join(told),
            )
        )
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


def charts_in_words(metrics: dict) -> dict:
    """The numbers beside the two pictures, in plain words."""
    out = {"calibration": [], "gains": []}
    for predicted, observed, n in metrics.get("calibration_bins") or []:
        out["calibration"].append(
            _(
                "%(n)s customers given %(predicted)s%% on average: %(observed)s%% "
                "of them left.",
                n=number(n),
                predicted=number(100 * predicted, 1),
                observed=number(100 * observed, 1),
            )
        )
    for share, found in (metrics.get("gains") or [])[:3]:
        out["gains"].append(
            _(
                "Calling the %(share)s%% with the highest risk reaches %(found)s%% "
                "of the leavers; calling at random, %(share)s%%.",
                share=number(100 * share, 0),
                found=number(100 * found, 0),
            )
        )
    return out


@bp.get("/")
@roles_required(*MANAGERS)
def index():
    # The model code loads numpy: here, not when the app starts.
    from karn.risk import data, operations, training

    filters = _filters()
    row = store.active()
    # With a model in use there was enough to train on: no need to count.
    departed, active = data.counts() if row is None else (None, None)
    page = max(1, request.args.get("page", 1, type=int) or 1)
    total, at_risk = db.session.execute(
        _query(
            filters,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(RiskScore.revenue_at_risk), 0.0),
            customers=False,
        )
    ).one()
    rows = ranked(filters, PAGE_SIZE, (page - 1) * PAGE_SIZE, total)
    return render_template(
        "risk/index.html",
        model=row,
        quality=quality_in_words(row.metrics) if row else [],
        pictures=charts_in_words(row.metrics or {}) if row else {},
        other_currency=other_currency(filters),
        reporting_currency=reporting_currency(),
        too_little=row is None
        and (departed < training.MIN_DEPARTED or active < training.MIN_ACTIVE),
        nothing=nothing_in_words(operations.nothing_to_learn()) if row is None else [],
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
        options={name: distinct_values(name) for name in ("segment", "plan", "region")},
        explain=explain,
        keep_calls=open_groups((c.id for _s, c in rows), ExperimentKind.KEEP_CALL),
    )


def own_amount(score: RiskScore, customer) -> tuple[float | None, str, bool]:
    """(revenue at risk in the customer's own currency, its code, counted)."""
    code = customer.currency or currency.reporting()
    counted = code == currency.reporting()
    if counted:
        return round(score.revenue_at_risk, 2), code, True
    if customer.monthly_revenue is None:
        return None, code, False
    return round(score.probability * float(customer.monthly_revenue), 2), code, False


def in_words(value: str) -> str:
    from karn.risk.features import OTHER

    return _("other") if value == OTHER else value


def ordered(filters: dict):
    return _query(filters).order_by(*rank_order())


def export_rows(filters: dict, lang: str, limit: int):
    """The header and the rows of the CSV and XLSX exports (page language)."""
    labels = reason_labels_for(lang)
    yield [
        _("Customer number"),
        _("Name"),
        _("Probability"),
        _("Revenue at risk"),
        _("Currency"),
        _("Counted in the total"),
        _("Likely reason"),
        _("Why"),
    ]
    for score, customer in db.session.execute(ordered(filters).limit(limit)):
        amount, code, counted = own_amount(score, customer)
        yield [
            customer.external_id or "",
            customer.name or "",
            round(score.probability, 3),
            amount,
            code,
            _("yes") if counted else _("no"),
            labels.get(score.likely_reason, "") if score.likely_reason else "",
            "; ".join(explain(score.reasons)),
        ]


def other_currency(filters: dict) -> int:
    """Scored customers the filters pick whose amounts are in another currency."""
    if not currencies.any_other():
        return 0
    return (
        db.session.scalar(_query(filters, sa.func.count()).where(currency.other())) or 0
    )


@bp.get("/export.csv")
@roles_required(*MANAGERS)
def export():
    """The ranking as on the page (filters included) as CSV."""
    from karn.analysis.exports import csv_chunks

    rows = export_rows(_filters(), _lang(), EXPORT_MAX)
    return Response(
        "".join(csv_chunks(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=at-risk.csv"},
    )


@bp.get("/export.xlsx")
@roles_required(*MANAGERS)
def export_xlsx():
    """The same as an Excel workbook."""
    from karn.analysis.exports import xlsx

    return Response(
        xlsx(export_rows(_filters(), _lang(), EXPORT_MAX)),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": "attachment; filename=at-risk.xlsx"},
    )


@bp.get("/<any(calibration, gains):name>.svg")
@roles_required(*MANAGERS)
def chart(name: str):
    """The active model's calibration or cumulative gains chart."""
    from karn.risk import charts

    row = store.active()
    figures = (row.metrics or {}) if row else {}
    points = figures.get("calibration_bins" if name == "calibration" else "gains")
    if not points:
        abort(404)
    # A phone asks for the narrow drawing (the page's media query).
    size = "narrow" if request.args.get("size") == "narrow" else "wide"
    if name == "calibration":
        body = charts.calibration_chart(
            points,
            {
                "perfect": _("perfectly calibrated"),
                "model": _("the model"),
                "x_axis": _("predicted probability of leaving"),
                "y_axis": _("share that left"),
            },
            size=size,
        )
    else:
        body = charts.gains_chart(
            points,
            {
                "random": _("calling at random"),
                "model": _("highest risk first"),
                "x_axis": _("share of customers called"),
                "y_axis": _("share of the leavers reached"),
            },
            size=size,
        )
    return Response(body, mimetype="image/svg+xml")
