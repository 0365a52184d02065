"""The OpenAPI 3.1 document of the REST API, kept beside the code it describes."""

from karn.api.openapi_effect import effect_path
from karn.api.openapi_feedback import _error_response, feedback_path
from karn.api.privacy import openapi_delete
from karn.customers import csvparse
from karn.enums import InvitationStatus, Reason

REASONS = [r.value for r in Reason]

_STRING_FIELDS = {
    "external_id": "Your id for the customer (CRM number, Stripe id); matched on.",
    "email": "Where the survey goes. Matches when there is no external_id.",
    "name": "Full name, used in the greeting.",
    "phone": "Phone number, for call-backs.",
    "plan": "Plan or product the customer had.",
    "segment": "Customer segment, for comparisons.",
    "region": "Region or province.",
}


DEPARTURE_IN = "#/components/schemas/DepartureIn"
DEPARTURE_OUT = "#/components/schemas/DepartureOut"
REFUSED = "#/components/schemas/Refused"


def _departure_in() -> dict:
    properties: dict = {
        name: {
            "type": ["string", "null"],
            "maxLength": csvparse.MAX_LENGTHS[name],
            "description": text,
        }
        for name, text in _STRING_FIELDS.items()
    }
    properties["email"]["format"] = "email"
    properties.update(
        {
            "language": {
                "type": ["string", "null"],
                "enum": ["nl", "en", None],
                "description": "Survey language; the company default if null.",
            },
            "status": {
                "type": ["string", "null"],
                "enum": ["departed", "active", None],
                "description": "Whether the customer left: departed (the default) "
                "or active. An active customer is never invited; a departed "
                "customer sent as active again is recorded as won back, an active "
                "one sent as departed leaves on departed_at.",
            },
            "departed_at": {
                "type": ["string", "null"],
                "format": "date-time",
                "description": "When the customer left (ISO 8601; "
                "dd-mm-yyyy also accepted). Now if left out and no status is "
                "given; with status departed, a departure of unknown date, which "
                "is not invited; null for an active customer.",
            },
            "tenure_months": {"type": ["integer", "null"], "minimum": 0},
            "monthly_revenue": {"type": ["number", "null"], "minimum": 0},
            "lifetime_value": {"type": ["number", "null"], "minimum": 0},
            "extra": {
                "type": "object",
                "additionalProperties": {"type": ["string", "number", "boolean"]},
                "description": "Any other attributes, usable as segment filters.",
            },
            "objects_to_profiling": {
                "type": "boolean",
                "description": "true records the customer's objection to "
                "profiling: no churn-risk score, not learned from, an existing "
                "score deleted at once; false withdraws it; left out, unchanged.",
            },
        }
    )
    assert set(properties) == {
        *csvparse.FIELDS,
        "status",
        "extra",
        "objects_to_profiling",
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
        "anyOf": [{"required": ["external_id"]}, {"required": ["email"]}],
    }


def _departure_out() -> dict:
    schema = _departure_in()
    properties = dict(schema["properties"])
    properties.update(
        {
            "source": {"type": "string", "enum": ["csv", "api", "stripe", "manual"]},
            "currency": {
                "type": "string",
                "description": "ISO 4217 code of the amounts (the reporting "
                "currency unless the customer pays in another one).",
            },
            "involuntary": {
                "type": "boolean",
                "description": "Left because paying failed (a declined card, a "
                "dispute), not by choice.",
            },
            "trial_only": {
                "type": "boolean",
                "description": "Left at the end of a trial without ever paying.",
            },
            "stated_reason": {
                "type": ["string", "null"],
                "enum": [r.value for r in Reason] + [None],
                "description": "The reason given when cancelling (a CRM column, "
                "Stripe's feedback), as one of Karn's reasons.",
            },
            "stated_comment": {
                "type": ["string", "null"],
                "description": "What the customer wrote when cancelling.",
            },
            "unsubscribed": {"type": "boolean"},
            "bounced": {"type": "boolean"},
            "survey": {
                "type": "object",
                "required": ["status"],
                "properties": {
                    "status": {
                        "type": "string",
                        "enum": ["not_invited"] + [s.value for s in InvitationStatus],
                    },
                    "scheduled_for": {
                        "type": ["string", "null"],
                        "format": "date-time",
                    },
                    "sent_at": {"type": ["string", "null"], "format": "date-time"},
                    "reminders_sent": {"type": "integer"},
                    "responded_at": {"type": ["string", "null"], "format": "date-time"},
                },
            },
        }
    )
    return {"type": "object", "properties": properties, "required": sorted(properties)}


def _at_risk() -> dict:
    number = {"type": "number"}
    reason = {
        "type": "object",
        "required": ["attribute", "value", "typical", "text"],
        "properties": {
            "attribute": {
                "type": "string",
                "description": "A customer field (tenure_months, plan, …) or "
                "extra:<imported column>.",
            },
            "value": {"type": "string"},
            "typical": {"type": "string"},
            "text": {"type": "string", "description": "In words, in lang."},
        },
    }
    customer = {
        "type": "object",
        "properties": {
            "rank": {"type": "integer"},
            "external_id": {"type": ["string", "null"]},
            "email": {"type": ["string", "null"]},
            "name": {"type": ["string", "null"]},
            "plan": {"type": ["string", "null"]},
            "segment": {"type": ["string", "null"]},
            "region": {"type": ["string", "null"]},
            "probability": {**number, "description": "Calibrated, 0 to 1."},
            "band": {"type": "string", "enum": ["high", "medium", "low"]},
            "revenue_at_risk": {
                "type": ["number", "null"],
                "description": "Probability × monthly revenue, in currency.",
            },
            "currency": {"type": "string"},
            "counted": {
                "type": "boolean",
                "description": "In the reporting currency: summed and ranked.",
            },
            "explained": {
                "type": "boolean",
                "description": "false outside the 1,000 with most revenue at risk.",
            },
            "reasons": {
                "type": "array",
                "items": reason,
                "description": "Up to three attributes that raise the risk most.",
            },
            "likely_reason": {
                "type": ["string", "null"],
                "enum": [*REASONS, None],
            },
            "likely_reason_text": {"type": "string"},
            "model_version": {"type": "integer"},
            "scored_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }
    customer["required"] = sorted(customer["properties"])
    return {
        "type": "object",
        "required": ["n", "page", "per_page", "pages", "customers"],
        "properties": {
            "n": {"type": "integer", "description": "Customers the filters pick."},
            "page": {"type": "integer"},
            "per_page": {"type": "integer"},
            "pages": {"type": "integer"},
            "language": {"type": "string", "enum": ["nl", "en"]},
            "currency": {"type": "string", "description": "The reporting currency."},
            "revenue_at_risk": {
                **number,
                "description": "Their total, in the reporting currency.",
            },
            "other_currency": {
                "type": "integer",
                "description": "Of them, with amounts in another currency.",
            },
            "filters": {"type": "object"},
            "model": {"type": ["object", "null"]},
            "customers": {"type": "array", "items": customer},
        },
    }


def _query(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "string"},
    }


def document() -> dict:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Karn API",
            "version": "1",
            "description": "Report departed customers to Karn and read their survey "
            "status. Authenticate with an API key made by an administrator: "
            "`Authorization: Bearer <key>`.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/departures": {
                "post": {
                    "operationId": "postDepartures",
                    "summary": "Record one departure or up to 1,000 (safe to repeat).",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": DEPARTURE_IN},
                                        {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": 1000,
                                            "items": {"$ref": DEPARTURE_IN},
                                        },
                                    ]
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "Stored (new, updated or unchanged), "
                            "except the departures of people whose personal data "
                            "was erased, dated on or before the erasure: those are "
                            "refused and stored nowhere, listed in `rejected` by "
                            "index and null in `departures`.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": [
                                            "created",
                                            "updated",
                                            "unchanged",
                                            "rejected",
                                            "departures",
                                        ],
                                        "properties": {
                                            "created": {"type": "integer"},
                                            "updated": {"type": "integer"},
                                            "unchanged": {"type": "integer"},
                                            "rejected": {
                                                "type": "array",
                                                "items": {"$ref": REFUSED},
                                            },
                                            "departures": {
                                                "type": "array",
                                                "items": {
                                                    "oneOf": [
                                                        {"$ref": DEPARTURE_OUT},
                                                        {"type": "null"},
                                                    ]
                                                },
                                            },
                                        },
                                    }
                                }
                            },
                        },
                        "400": _error_response("The body is not JSON."),
                        "401": _error_response("No valid API key."),
                        "422": _error_response(
                            "Validation failed; nothing was stored. `errors` lists "
                            "each problem with the item's index and the field."
                        ),
                    },
                }
            },
            "/departures/{external_id}": {
                "get": {
                    "operationId": "getDeparture",
                    "summary": "One departed customer with their survey status.",
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
                            "description": "The departure.",
                            "content": {
                                "application/json": {"schema": {"$ref": DEPARTURE_OUT}}
                            },
                        },
                        "401": _error_response("No valid API key."),
                        "404": _error_response("No such departure."),
                    },
                },
                "delete": openapi_delete(_error_response),
            },
            "/departures/{external_id}/return": {
                "post": {
                    "operationId": "postReturn",
                    "summary": "The customer came back: record the win-back.",
                    "description": (
                        "Repeating the call corrects the earlier record. The "
                        "dashboard counts win-backs per reason and channel."
                    ),
                    "parameters": [
                        {
                            "name": "external_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "requestBody": {
                        "required": False,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "returned_on": {
                                            "type": "string",
                                            "format": "date",
                                            "description": "Default: today.",
                                        },
                                        "revenue": {
                                            "type": ["number", "null"],
                                            "description": "Monthly revenue regained.",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The win-back as recorded.",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["external_id", "returned_on"],
                                        "properties": {
                                            "external_id": {"type": "string"},
                                            "returned_on": {"type": "string"},
                                            "revenue": {"type": ["number", "null"]},
                                            "via": {"type": "string"},
                                        },
                                    }
                                }
                            },
                        },
                        "401": _error_response("No valid API key."),
                        "404": _error_response("No such departure."),
                        "422": _error_response("The date or revenue is not valid."),
                    },
                }
            },
            "/effect": effect_path(),
            "/feedback": feedback_path(),
            "/rankings": {
                "get": {
                    "operationId": "getRankings",
                    "summary": "Departure reasons ranked, with 95% Wilson intervals.",
                    "parameters": [
                        _query("since", "First day (YYYY-MM-DD) of the period."),
                        _query("until", "Last day (YYYY-MM-DD) of the period."),
                        _query(
                            "by", "Period by 'response' (default) or 'departure' date."
                        ),
                        _query("weight", "'count' (default) or 'revenue'."),
                        _query(
                            "channel",
                            "survey (default), phone, stated, feedback, feedback.<x>",
                        ),
                        _query("segment", "Only this customer segment."),
                        _query("plan", "Only this plan."),
                        _query("region", "Only this region."),
                        _query("language", "'nl' or 'en'."),
                        _query("source", "csv, api, stripe or manual."),
                        _query("version", "Survey version id."),
                        _query("tenure", "Band: 0-6, 6-12, 12-24, 24-60, 60+."),
                        _query("revenue", "Band: 0-25, 25-50, 50-100, 100-250, 250+."),
                        {
                            "name": "segment.<attribute>",
                            "in": "query",
                            "description": "Imported attribute equals the value, e.g. "
                            "segment.Plaats=Utrecht.",
                            "schema": {"type": "string"},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "The ranking.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Ranking"}
                                }
                            },
                        },
                        "400": _error_response(
                            "A filter has a value it does not take "
                            "(error 'invalid_filter', naming the parameter)."
                        ),
                        "401": _error_response("No valid API key."),
                        "422": _error_response("The weight is not valid."),
                    },
                }
            },
            "/at-risk": {
                "get": {
                    "operationId": "getAtRisk",
                    "summary": "Current customers ranked by monthly revenue at "
                    "risk (churn probability × monthly revenue), with why.",
                    "description": "Filtered like the at-risk page. Revenue at "
                    "risk is summed and ranked in the reporting currency only: a "
                    "customer whose amounts are in another currency has "
                    "counted false, their own amount and currency, and is ranked "
                    "with none. Texts are in lang, else the language of the "
                    "API key's creator. Customers who objected to profiling are "
                    "never scored, so never listed.",
                    "parameters": [
                        _query("segment", "Only this customer segment."),
                        _query("plan", "Only this plan."),
                        _query("region", "Only this region."),
                        _query(
                            "reason",
                            "Only this likely reason (a reason code), or 'none'.",
                        ),
                        _query(
                            "band",
                            "Risk band: 'high' (50% or more), 'medium' (20–50%) "
                            "or 'low' (under 20%).",
                        ),
                        _query("lang", "'nl' or 'en': the language of the texts."),
                        _query("page", "Page, from 1 (default 1)."),
                        _query("per_page", "Customers per page, 1 to 1000 (100)."),
                    ],
                    "responses": {
                        "200": {
                            "description": "The ranking, one page of it.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/AtRisk"}
                                }
                            },
                        },
                        "400": _error_response(
                            "A filter or lang has a value it does not take "
                            "(error 'invalid_filter', naming the parameter)."
                        ),
                        "401": _error_response("No valid API key."),
                        "422": _error_response("page or per_page is not valid."),
                    },
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document.",
                    "security": [],
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "DepartureIn": _departure_in(),
                "DepartureOut": _departure_out(),
                "Refused": {
                    "type": "object",
                    "description": "A departure refused because the person's "
                    "personal data was erased on `erased_on`: only a departure "
                    "after that day is recorded.",
                    "required": ["index", "code", "message", "erased_on"],
                    "properties": {
                        "index": {"type": "integer"},
                        "field": {"type": "null"},
                        "code": {"type": "string", "enum": ["erased"]},
                        "message": {"type": "string"},
                        "message_nl": {"type": "string"},
                        "erased_on": {"type": "string", "format": "date"},
                    },
                },
                "AtRisk": _at_risk(),
                "Ranking": {
                    "type": "object",
                    "required": ["n", "weight", "reasons"],
                    "properties": {
                        "n": {"type": "integer"},
                        "weight": {"type": "string", "enum": ["count", "revenue"]},
                        "filters": {"type": "object"},
                        "reasons": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": [
                                    "reason",
                                    "count",
                                    "share",
                                    "ci_low",
                                    "ci_high",
                                    "revenue",
                                    "overlaps_next",
                                ],
                                "properties": {
                                    "reason": {"type": "string", "enum": REASONS},
                                    "count": {"type": "integer"},
                                    "shown": {"type": "integer"},
                                    "share": {"type": ["number", "null"]},
                                    "ci_low": {"type": ["number", "null"]},
                                    "ci_high": {"type": ["number", "null"]},
                                    "revenue": {"type": ["number", "null"]},
                                    "revenue_share": {"type": ["number", "null"]},
                                    "secondary": {"type": "integer"},
                                    "overlaps_next": {"type": ["boolean", "null"]},
                                },
                            },
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {
                                    "index": {"type": "integer"},
                                    "field": {"type": ["string", "null"]},
                                    "code": {"type": "string"},
                                    "message": {"type": "string"},
                                    "message_nl": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    }
