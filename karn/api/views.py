"""REST API v1: report departures and read them back."""

from datetime import date
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, request

from karn import clock
from karn.api import auth, jsonbody
from karn.api.openapi import document
from karn.customers import csvparse, erased
from karn.customers.currency import reporting as reporting_currency
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.extensions import csrf, db
from karn.surveys.delivery import latest_invitations
from karn.surveys.models import Invitation

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

MAX_ITEMS = 1000
# A customer's fields, and whether they left: "active" or "departed" (the
# default); see karn.customers.models for what a change of status does.
FIELDS = (*csvparse.FIELDS, "status")
# objects_to_profiling: true records the customer's objection to profiling
# (no churn-risk score; see karn.risk), false withdraws it, absent keeps it.
ACCEPTED = {*FIELDS, "extra", "objects_to_profiling"}


def _error(status: int, code: str, message: str, **more):
    response = jsonify(error=code, message=message, **more)
    response.status_code = status
    return response


def _problem(index: int, field: str | None, code: str, en: str, nl: str) -> dict:
    return {
        "index": index,
        "field": field,
        "code": code,
        "message": en,
        "message_nl": nl,
    }


def _validate_item(index: int, item: Any) -> tuple[dict, dict, list[dict]]:
    if not isinstance(item, dict):
        return (
            {},
            {},
            [
                _problem(
                    index,
                    None,
                    "not_an_object",
                    "Each departure must be a JSON object.",
                    "Elke vertrekker moet een JSON-object zijn.",
                )
            ],
        )
    problems = []
    unknown = sorted(set(item) - ACCEPTED)
    for name in unknown:
        problems.append(
            _problem(
                index,
                name,
                "unknown_field",
                f"Unknown field '{name}'.",
                f"Onbekend veld '{name}'.",
            )
        )
    extra = item.get("extra") or {}
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float | bool)
        for k, v in extra.items()
    ):
        problems.append(
            _problem(
                index,
                "extra",
                "invalid_extra",
                "'extra' must be an object of names and plain values.",
                "'extra' moet een object met namen en gewone waarden zijn.",
            )
        )
        extra = {}
    if not isinstance(item.get("objects_to_profiling", False), bool):
        problems.append(
            _problem(
                index,
                "objects_to_profiling",
                "invalid_boolean",
                "'objects_to_profiling' must be true or false.",
                "'objects_to_profiling' moet true of false zijn.",
            )
        )
    values = {k: v for k, v in item.items() if k in FIELDS}
    clean, errors = csvparse.validate_record(values)
    for error in errors:
        problems.append(
            _problem(
                index, error.column, error.code, error.message_en, error.message_nl
            )
        )
    return clean, {k: str(v) for k, v in extra.items()}, problems


def _number(value: Decimal | None) -> float | None:
    return float(value) if value is not None else None


def serialise(customer: Customer, invitation: Invitation | None) -> dict:
    """A customer as the API shows it, with the state of their survey."""
    survey = {"status": "not_invited"}
    if invitation is not None:
        survey = {
            "status": invitation.status.value,
            "scheduled_for": _iso(invitation.scheduled_for),
            "sent_at": _iso(invitation.sent_at),
            "reminders_sent": invitation.reminders_sent,
            "responded_at": _iso(invitation.responded_at),
        }
    return {
        "external_id": customer.external_id,
        "email": customer.email,
        "name": customer.name,
        "phone": customer.phone,
        "language": customer.language.value if customer.language else None,
        "status": customer.status.value,
        "departed_at": _iso(customer.departed_at),
        "plan": customer.plan,
        "segment": customer.segment,
        "region": customer.region,
        "tenure_months": customer.tenure_months,
        "monthly_revenue": _number(customer.monthly_revenue),
        "lifetime_value": _number(customer.lifetime_value),
        "currency": customer.currency or reporting_currency(),
        "involuntary": customer.involuntary,
        "trial_only": customer.trial_only,
        "stated_reason": customer.stated_reason.value
        if customer.stated_reason
        else None,
        "stated_comment": customer.stated_comment,
        "extra": customer.extra or {},
        "source": customer.source.value,
        "unsubscribed": customer.unsubscribed_at is not None,
        "objects_to_profiling": customer.profiling_objected_at is not None,
        "bounced": customer.bounced_at is not None,
        "survey": survey,
    }


def _iso(value) -> str | None:
    return value.isoformat() if value is not None else None


def items_of_request(noun: str):
    """The request body's items, one object or a list of up to MAX_ITEMS:
    (items, None), or (None, the error response) naming ``noun`` (plural)."""
    try:
        payload = jsonbody.from_request()
    except jsonbody.TooDeep as exc:
        return None, _error(400, "invalid_json", str(exc))
    if payload is None:
        return None, _error(
            400, "invalid_json", "The body must be JSON: one object or a list."
        )
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        return None, _error(422, "empty", f"Send at least one {noun[:-1]}.")
    if len(items) > MAX_ITEMS:
        return None, _error(
            422,
            "too_many",
            f"Send at most {MAX_ITEMS} {noun} per request.",
            count=len(items),
        )
    return items, None


@bp.route("/departures", methods=["POST"])
@auth.api_key_required
def post_departures():
    """Record one departure (an object) or up to 1,000 (a list); safe to repeat."""
    items, error = items_of_request("departures")
    if error is not None:
        return error
    records, problems = [], []
    for index, item in enumerate(items):
        clean, extra, item_problems = _validate_item(index, item)
        problems += item_problems
        records.append((clean, extra))
    if problems:
        # All or nothing: a client fixes its data and sends the request again.
        return _error(
            422,
            "validation_failed",
            "Some departures are not valid; nothing was stored.",
            errors=problems,
        )
    result = upsert_departures(records, Source.API)
    objections = {
        i: item["objects_to_profiling"]
        for i, item in enumerate(items)
        if "objects_to_profiling" in item and result.ids[i] is not None
    }
    for index, objects in objections.items():
        customer = db.session.get(Customer, result.ids[index])
        if objects != (customer.profiling_objected_at is not None):
            customer.profiling_objected_at = clock.now() if objects else None
    auth.record(
        "api.departures",
        created=len(result.created),
        updated=len(result.updated),
        rejected=len(result.refused) or None,
    )
    db.session.commit()
    stored = [i for i in result.ids if i is not None]
    query = sa.select(Customer).where(Customer.id.in_(stored))
    customers = {c.id: c for c in db.session.scalars(query)}
    invitations = latest_invitations(stored)
    # An erased person's departure is refused, not invalid: the others are
    # stored, and sending it again would not change that.
    rejected = []
    for index, day in sorted(result.refused.items()):
        error = erased.error(day)
        problem = _problem(index, None, error.code, error.message_en, error.message_nl)
        rejected.append({**problem, "erased_on": day.isoformat()})
    return jsonify(
        created=len(result.created),
        updated=len(result.updated),
        unchanged=len(result.unchanged),
        rejected=rejected,
        departures=[
            None if i is None else serialise(customers[i], invitations.get(i))
            for i in result.ids
        ],
    )


@bp.route("/departures/<external_id>", methods=["GET"])
@auth.api_key_required
def get_departure(external_id: str):
    """One departed customer by external id, with their survey status."""
    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == external_id)
    )
    if customer is None or customer.erased_at is not None:
        return _error(
            404, "not_found", f"No departure with external_id '{external_id}'."
        )
    return jsonify(
        serialise(customer, latest_invitations([customer.id]).get(customer.id))
    )


@bp.route("/departures/<external_id>", methods=["DELETE"])
@auth.api_key_required
def delete_departure(external_id: str):
    """Erase one departed customer's personal data; returns what was removed."""
    from karn.api.privacy import erase_departure

    return erase_departure(external_id)


@bp.route("/departures/<external_id>/return", methods=["POST"])
@auth.api_key_required
def post_return(external_id: str):
    """A departed customer came back: record the win-back (again corrects it)."""
    from flask import g

    from karn.callbacks.operations import CallError, record_win_back

    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == external_id)
    )
    if customer is None or customer.erased_at is not None:
        return _error(
            404, "not_found", f"No departure with external_id '{external_id}'."
        )
    try:
        payload = jsonbody.from_request()
    except jsonbody.TooDeep as exc:
        return _error(400, "invalid_json", str(exc))
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return _error(400, "invalid_json", "The body must be a JSON object.")
    try:
        returned_on = (
            date.fromisoformat(payload["returned_on"])
            if payload.get("returned_on")
            else clock.now().date()
        )
    except (TypeError, ValueError):
        return _error(
            422, "invalid_date", "returned_on must be a date like 2026-03-31."
        )
    revenue = payload.get("revenue")
    if revenue is not None:
        if isinstance(revenue, bool) or not isinstance(revenue, int | float | str):
            return _error(422, "invalid_revenue", "revenue must be a number.")
        revenue = csvparse.parse_money(str(revenue))
        if revenue is None:
            return _error(
                422, "invalid_revenue", "revenue must be a number of 0 or more."
            )
    try:
        win = record_win_back(
            customer, returned_on, "api", revenue=revenue, api_key=g.api_key
        )
    except CallError as exc:
        return _error(
            422,
            exc.code,
            "returned_on lies before the departure."
            if exc.code == "before_departure"
            else "The win-back cannot be recorded.",
        )
    db.session.commit()
    return jsonify(
        external_id=customer.external_id,
        returned_on=win.returned_on.isoformat(),
        revenue=_number(win.revenue),
        via=win.via,
    )


@bp.route("/rankings", methods=["GET"])
@auth.api_key_required
def rankings():
    """The reason ranking with 95% intervals, filtered like the dashboard."""
    from flask_babel import force_locale

    from karn.analysis import report
    from karn.analysis.filters import FilterError, Filters

    weight = request.args.get("weight", "count")
    if weight not in ("count", "revenue"):
        return _error(422, "invalid_weight", "weight must be count or revenue.")
    try:
        filters = Filters.from_args(request.args)
    except FilterError as exc:
        with force_locale("en"):
            message = exc.description
        return _error(400, "invalid_filter", message, parameter=exc.parameter)
    return jsonify(report.ranking_json(filters, weight))


@bp.route("/at-risk", methods=["GET"])
@auth.api_key_required
def at_risk():
    """Current customers ranked by revenue at risk, filtered like the page.

    Texts in ``lang`` (nl or en), else the language of the key's creator.
    """
    from flask import current_app, g
    from flask_babel import force_locale

    from karn.analysis.queries import reason_labels_for
    from karn.risk import ranking, views

    args = request.args
    names = ("segment", "plan", "region")
    filters = {k: (args.get(k) or "").strip()[:100] for k in names}
    filters["reason"] = (args.get("reason") or "").strip()
    filters["band"] = (args.get("band") or "").strip()
    if filters["reason"] not in {"", *reason_labels_for("en"), ranking.NO_REASON}:
        message = "reason must be a reason code or 'none'."
        return _error(400, "invalid_filter", message, parameter="reason")
    if filters["band"] not in {"", *(band[0] for band in views.BANDS)}:
        message = "band must be high, medium or low."
        return _error(400, "invalid_filter", message, parameter="band")
    page = args.get("page", 1, type=int)
    per_page = args.get("per_page", 100, type=int)
    if page is None or page < 1 or per_page is None or not 1 <= per_page <= 1000:
        message = "page must be 1 or more, per_page from 1 to 1000."
        return _error(422, "invalid_paging", message)
    creator = g.api_key.created_by
    lang = args.get("lang") or (
        creator.language.value
        if creator is not None
        else current_app.config["DEFAULT_LANGUAGE"]
    )
    if lang not in ("nl", "en"):
        return _error(400, "invalid_filter", "lang must be nl or en.", parameter="lang")
    with force_locale(lang):
        return jsonify(ranking.api_json(filters, lang, page, per_page))


@bp.route("/openapi.json", methods=["GET"])
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(document())
