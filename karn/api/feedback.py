"""REST API: feedback items from other channels, one or a list, safe to repeat.

An item with a `source_id` Karn already has in that channel (or, without one,
with the same content) is left as it is and answered as `unchanged`.
"""

import sqlalchemy as sa
from flask import jsonify
from flask_babel import force_locale
from sqlalchemy.exc import IntegrityError

from karn.api import auth
from karn.api.views import _error, _iso, bp, items_of_request
from karn.extensions import db
from karn.feedback import intake
from karn.feedback.models import FeedbackItem

ACCEPTED = set(intake.FIELDS)


def _problems(index: int, item) -> tuple[dict, list[dict]]:
    if not isinstance(item, dict):
        return {}, [
            {
                "index": index,
                "field": None,
                "code": "not_an_object",
                "message": "Each item must be a JSON object.",
                "message_nl": "Elk item moet een JSON-object zijn.",
            }
        ]
    found = [
        {
            "index": index,
            "field": name,
            "code": "unknown_field",
            "message": f"Unknown field '{name}'.",
            "message_nl": f"Onbekend veld '{name}'.",
        }
        for name in sorted(set(item) - ACCEPTED)
    ]
    values = {k: v for k, v in item.items() if k in ACCEPTED}
    for name in ("text", "received_at", "channel", "language", "email"):
        if values.get(name) is not None and not isinstance(values[name], str):
            values[name] = str(values[name])
    for name in ("customer_number", "source_id"):
        if isinstance(values.get(name), int | str) and not isinstance(
            values.get(name), bool
        ):
            values[name] = str(values[name])
    clean, problems = intake.validate(values, intake.channel_codes())
    for p in problems:
        with force_locale("en"):
            en = p.message()
        with force_locale("nl"):
            nl = p.message()
        found.append(
            {
                "index": index,
                "field": p.field,
                "code": p.code,
                "message": en,
                "message_nl": nl,
            }
        )
    return clean, found


def serialise(item: FeedbackItem, created: bool) -> dict:
    return {
        "id": item.id,
        "status": "created" if created else "unchanged",
        "channel": item.channel,
        "source_id": item.source_id,
        "received_at": _iso(item.received_at),
        "rating": item.rating,
        "language": item.language.value if item.language else None,
        "customer_linked": item.customer_id is not None,
        "tagged": item.tagged_at is not None,
        "reason": item.tag_reason.value if item.tag_reason else None,
        "sentiment": item.sentiment.value if item.sentiment else None,
    }


@bp.route("/feedback", methods=["POST"])
@auth.api_key_required
def post_feedback():
    """Store one feedback item (an object) or up to 1,000 (a list)."""
    items, error = items_of_request("items")
    if error is not None:
        return error
    cleaned, problems = [], []
    for index, item in enumerate(items):
        clean, found = _problems(index, item)
        cleaned.append(clean)
        problems += found
    if problems:
        return _error(
            422,
            "validation_failed",
            "Some items are not valid; nothing was stored.",
            errors=problems,
        )
    for attempt in (1, 2):
        try:
            stored = intake.store(cleaned, "api")
            break
        except IntegrityError:
            # A retry that overtook its own first request: that one stored
            # the items meanwhile, so the second look finds them unchanged.
            db.session.rollback()
            if attempt == 2:
                raise
    auth.record(
        "api.feedback", created=stored.created, unchanged=stored.unchanged or None
    )
    db.session.commit()
    ids = [item_id for item_id, _new in stored.results]
    rows = {
        i.id: i
        for i in db.session.scalars(
            sa.select(FeedbackItem).where(FeedbackItem.id.in_(ids))
        )
    }
    return jsonify(
        created=stored.created,
        unchanged=stored.unchanged,
        items=[serialise(rows[i], new) for i, new in stored.results],
    )
