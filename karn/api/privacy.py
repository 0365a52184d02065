"""The erasure endpoint of the REST API (routed in karn/api/views.py)."""

import sqlalchemy as sa
from flask import g, jsonify

from karn.customers.models import Customer
from karn.extensions import db
from karn.privacy.operations import erase_customer


def erase_departure(external_id: str):
    """DELETE /api/v1/departures/<external_id>: erase the person, return the report."""
    customer = db.session.scalar(
        sa.select(Customer).where(Customer.external_id == external_id)
    )
    if customer is None or customer.erased_at is not None:
        response = jsonify(
            error="not_found",
            message=f"No departure with external_id '{external_id}'.",
        )
        response.status_code = 404
        return response
    report = erase_customer(customer, api_key=g.api_key)
    db.session.commit()
    return jsonify(report.as_dict())


def _counts(keys) -> dict:
    return {
        "type": "object",
        "properties": {k: {"type": "integer"} for k in keys},
    }


def openapi_delete(error_response) -> dict:
    """The OpenAPI operation for the DELETE route; pass openapi._error_response."""
    from karn.privacy.operations import CLOSED_LABELS, KEPT_LABELS, REMOVED_LABELS

    return {
        "operationId": "deleteDeparture",
        "summary": "Erase one departed customer's personal data (right to erasure).",
        "description": "Removes name, email, phone, external id, extra attributes, "
        "free-text answers, call-note texts and mail contents; keeps reason "
        "codes, ratings and segment fields so the ranking does not change. The "
        "address stays on the suppression list as a hash only.",
        "parameters": [
            {
                "name": "external_id",
                "in": "path",
                "required": True,
                "schema": {"type": "string"},
            }
        ],
        "responses": {
            "200": {
                "description": "Erased; what was removed, closed and kept.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "customers": {"type": "integer"},
                                "customer_ids": {
                                    "type": "array",
                                    "items": {"type": "integer"},
                                },
                                "dry_run": {"type": "boolean"},
                                "removed": _counts(REMOVED_LABELS),
                                "closed": _counts(CLOSED_LABELS),
                                "kept": _counts(KEPT_LABELS),
                            },
                        }
                    }
                },
            },
            "401": error_response("No valid API key."),
            "404": error_response("No such departure (or already erased)."),
        },
    }
