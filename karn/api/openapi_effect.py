"""The OpenAPI description of GET /effect, part of karn.api.openapi."""

_NUMBER = {"type": ["number", "null"]}
_INTEGER = {"type": ["integer", "null"]}


def _group(who: str) -> dict:
    return {
        "type": "object",
        "description": f"Those {who}.",
        "required": ["customers", "won_back", "rate", "revenue_regained"],
        "properties": {
            "customers": {"type": "integer"},
            "won_back": {
                "type": "integer",
                "description": "Won back within the window from their assignment.",
            },
            "rate": _NUMBER,
            "revenue_regained": {
                "type": "number",
                "description": "Monthly revenue of those won back, in `currency`.",
            },
        },
    }


def effect_schema() -> dict:
    return {
        "type": "object",
        "required": ["experiments"],
        "properties": {
            "experiments": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "kind", "title", "mailed", "held_back"],
                    "properties": {
                        "id": {"type": "integer"},
                        "kind": {"type": "string", "enum": ["follow_up", "campaign"]},
                        "title": {"type": "string"},
                        "started_at": {"type": "string", "format": "date-time"},
                        "horizon_days": {"type": "integer"},
                        "treatment_share": {"type": "number"},
                        "counted_until": {"type": "string", "format": "date-time"},
                        "final": {"type": "boolean"},
                        "mailed": _group("drawn to be mailed"),
                        "held_back": _group("held back as the control group"),
                        "difference": {
                            **_NUMBER,
                            "description": "Mailed rate minus held-back rate.",
                        },
                        "ci_low": _NUMBER,
                        "ci_high": _NUMBER,
                        "p_value": _NUMBER,
                        "test": {
                            "type": ["string", "null"],
                            "enum": ["z", "fisher", None],
                            "description": "fisher when an expected count is under 5.",
                        },
                        "verdict": {
                            "type": "string",
                            "enum": [
                                "better",
                                "worse",
                                "no_difference",
                                "too_small",
                                "no_data",
                            ],
                        },
                        "significant": {"type": "boolean"},
                        "needed_per_group": _INTEGER,
                        "needed_mailed": _INTEGER,
                        "needed_held_back": _INTEGER,
                        "currency": {"type": "string"},
                        "headline": {"type": "string"},
                        "lines": {"type": "array", "items": {"type": "string"}},
                    },
                },
            }
        },
    }


def effect_path() -> dict:
    """GET /effect: follow-ups and campaigns against their control groups."""
    return {
        "get": {
            "operationId": "getEffect",
            "summary": "Follow-ups and campaigns: mailed against held back.",
            "description": "Win-backs within each experiment's window, counted "
            "from each person's assignment, in both groups; the difference with "
            "its Newcombe 95% interval and a two-proportion test (Fisher's exact "
            "test when an expected count is under 5).",
            "parameters": [
                {
                    "name": "lang",
                    "in": "query",
                    "description": "nl or en: the language of the texts.",
                    "schema": {"type": "string", "enum": ["nl", "en"]},
                }
            ],
            "responses": {
                "200": {
                    "description": "Every follow-up and campaign, newest first.",
                    "content": {"application/json": {"schema": effect_schema()}},
                },
                "400": {"description": "lang is not nl or en."},
                "401": {"description": "No valid API key."},
            },
        }
    }
