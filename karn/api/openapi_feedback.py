"""The OpenAPI description of POST /feedback, part of karn.api.openapi."""

from karn.enums import Reason

REASONS = [r.value for r in Reason]


def _error_response(description: str) -> dict:
    return {
        "description": description,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
        },
    }


def feedback_path() -> dict:
    """POST /feedback: items from support tickets, reviews and other channels."""
    text = {"type": "string"}
    optional = {"type": ["string", "null"]}
    item = {
        "type": "object",
        "required": ["text", "received_at", "channel"],
        "additionalProperties": False,
        "properties": {
            "text": {**text, "maxLength": 20000},
            "received_at": {
                **text,
                "description": "When the item came in: ISO 8601 (a date or a "
                "date-time), or dd-mm-yyyy.",
            },
            "channel": {
                **text,
                "description": "support, complaint, review, social, nps, other, "
                "or the code of a channel an administrator added.",
            },
            "rating": {"type": ["number", "null"], "minimum": 0, "maximum": 100},
            "language": {
                "type": ["string", "null"],
                "enum": ["nl", "en", None],
                "description": "Recognised from the text when left out.",
            },
            "customer_number": {
                **optional,
                "description": "Links the item to the customer with this "
                "external_id; one Karn does not know leaves it anonymous.",
            },
            "email": {
                **optional,
                "format": "email",
                "description": "Links the item to the customer with this address "
                "when there is no customer_number match; no customer is created.",
            },
            "source_id": {
                **optional,
                "maxLength": 200,
                "description": "The item's id in its source (a ticket number). "
                "An item with a source_id Karn has in that channel is left as it "
                "is; without one, an item with the same content is.",
            },
        },
    }
    stored = {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": ["created", "unchanged"]},
            "channel": text,
            "source_id": optional,
            "received_at": {**text, "format": "date-time"},
            "rating": {"type": ["number", "null"]},
            "language": text,
            "customer_linked": {"type": "boolean"},
            "tagged": {
                "type": "boolean",
                "description": "False until the worker has read the reason and "
                "tone, shortly after the item is stored.",
            },
            "reason": {"type": ["string", "null"], "enum": [*REASONS, None]},
            "sentiment": optional,
        },
    }
    return {
        "post": {
            "operationId": "postFeedback",
            "summary": "Store one feedback item or up to 1,000 (safe to repeat).",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                item,
                                {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 1000,
                                    "items": item,
                                },
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "Stored, or already there and left unchanged; "
                    "`items` in the order sent.",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "created": {"type": "integer"},
                                    "unchanged": {"type": "integer"},
                                    "items": {"type": "array", "items": stored},
                                },
                            }
                        }
                    },
                },
                "400": _error_response("The body is not JSON."),
                "401": _error_response("No valid API key."),
                "422": _error_response(
                    "Some items are not valid (error 'validation_failed', with "
                    "`errors` by index and field); nothing was stored."
                ),
            },
        }
    }
