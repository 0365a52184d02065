"""The events Karn sends, what their payloads hold, and writing them out.

``emit`` writes one delivery per enabled endpoint subscribed to the event, in
the caller's transaction: the event and its deliveries are committed together
or not at all. Payloads carry ids and codes; personal fields (name, email,
phone, customer number, free text) are added only for endpoints marked to
receive them. Every payload about a person carries ``customer.id``, Karn's own
number for them, so a receiver can act on ``customer.erased`` without Karn
sending anything personal again.

The body follows the Standard Webhooks shape::

    {"type": "call_note.created", "timestamp": "2026-12-07T10:00:00+00:00",
     "data": {...}}
"""

import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from karn import clock
from karn.customers.models import Customer
from karn.enums import ExperimentKind
from karn.extensions import db
from karn.surveys import definition
from karn.surveys.question_types import PHONE_TIME, TEXT_TYPES
from karn.webhooks import subscribers
from karn.webhooks.models import PENDING

RESPONSE_SUBMITTED = "response.submitted"
CALL_NOTE_CREATED = "call_note.created"
CUSTOMER_WON_BACK = "customer.won_back"
FOLLOWUP_RESULT = "followup.result"
CUSTOMER_ERASED = "customer.erased"
EVENTS = (
    RESPONSE_SUBMITTED,
    CALL_NOTE_CREATED,
    CUSTOMER_WON_BACK,
    FOLLOWUP_RESULT,
    CUSTOMER_ERASED,
)
# Outbox mail kinds whose result is a followup.result event.
RESULT_KINDS = ("follow_up", "campaign")

Personal = Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None


def new_message_id() -> str:
    """A webhook-id: unique, and kept for every attempt of one delivery."""
    return "msg_" + secrets.token_urlsafe(18)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "value"):  # an enum
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON")


def merged(data: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """data with extra's fields added, objects merged at every level."""
    out = dict(data)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def body_of(event: str, when: datetime, data: Mapping[str, Any]) -> str:
    return json.dumps(
        {"type": event, "timestamp": when.isoformat(), "data": data},
        default=_plain,
        ensure_ascii=False,
        separators=(",", ":"),
    )


def emit(
    event: str,
    data: Mapping[str, Any],
    *,
    personal: Personal = None,
    customer_id: int | None = None,
) -> int:
    """Write the event for every enabled endpoint subscribed to it, in the
    caller's transaction (karn.webhooks.subscribers); returns for how many
    endpoints.

    ``personal`` holds the personal fields (merged into ``data`` for endpoints
    marked to receive them); a function is called only when one is.
    ``customer_id`` ties the deliveries to a person, for erasure and the
    access export.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event}")
    endpoints = subscribers.subscribed(event)
    if not endpoints:
        return 0
    now = clock.now()
    plain = body_of(event, now, data)
    full = None
    if personal is not None and any(s.personal for s in endpoints):
        fields = personal() if callable(personal) else personal
        full = body_of(event, now, merged(data, fields)) if fields else None
    rows = [
        {
            "b_endpoint": endpoint.id,
            "b_wants": endpoint.personal,
            "b_event": event,
            "b_message_id": new_message_id(),
            "b_body": full if endpoint.personal and full is not None else plain,
            "b_personal": bool(endpoint.personal and full is not None),
            "b_customer": customer_id,
            "b_status": PENDING,
            "b_now": now,
            "b_now2": now,
        }
        for endpoint in endpoints
    ]
    subscribers.write(rows)
    return len(rows)


# --- the events' payloads ----------------------------------------------------------


def customer_fields(customer: Customer | None) -> dict[str, Any]:
    """The personal fields of a customer, for endpoints that receive them."""
    if customer is None:
        return {}
    return {
        "customer": {
            "external_id": customer.external_id,
            "email": customer.email,
            "name": customer.name,
            "phone": customer.phone,
        }
    }


def _customer_ref(customer_id: int | None) -> dict[str, Any] | None:
    return {"id": customer_id} if customer_id is not None else None


def response_submitted(submitted) -> None:
    """Listener for ``karn.surveys.responses.on_submitted``: a new answer.

    Codes, ratings and yes/no answers go to every endpoint; free text, an
    "other, namely" text and a phone number with a time to call only to those
    receiving personal fields.
    """
    types = {q["key"]: q["type"] for q in submitted.questions}
    texts = definition.free_texts(submitted.questions, submitted.clean)
    answers, personal = {}, {}
    for key, value in submitted.clean.items():
        if "__" in key:
            continue  # an "other, namely" text: among the texts
        kind = types.get(key)
        if kind in TEXT_TYPES or kind == PHONE_TIME:
            personal[key] = value
            continue
        answers[key] = value
        if key in texts:
            personal[key] = texts[key]
    data = {
        "response": {
            "id": submitted.response_id,
            "language": submitted.lang,
            "submitted_at": submitted.now,
            "primary_reason": definition.primary_reason(
                submitted.questions, submitted.clean
            ),
            "answers": answers,
        },
        "customer": _customer_ref(submitted.customer_id),
    }

    def personal_fields():
        customer = None
        if submitted.customer_id is not None:
            customer = db.session.get(Customer, submitted.customer_id)
        return merged({"response": {"texts": personal}}, customer_fields(customer))

    emit(
        RESPONSE_SUBMITTED,
        data,
        personal=personal_fields,
        customer_id=submitted.customer_id,
    )


def call_note_created(note) -> None:
    """A call was logged: its outcome and reasons; the note's text and the
    customer's details only to endpoints receiving personal fields."""
    data = {
        "call_note": {
            "id": note.id,
            "task_id": note.task_id,
            "outcome": note.outcome,
            "reasons": sorted(r.reason.value for r in note.reasons),
            "follow_up_on": note.follow_up_on,
            "created_at": note.created_at or clock.now(),
        },
        "customer": _customer_ref(note.customer_id),
    }
    emit(
        CALL_NOTE_CREATED,
        data,
        personal=lambda: merged(
            {"call_note": {"text": note.text}},
            customer_fields(db.session.get(Customer, note.customer_id)),
        ),
        customer_id=note.customer_id,
    )


def customer_won_back(win, customer: Customer) -> None:
    """A customer came back (recorded by hand, over the API, by Stripe or an
    import); recording again corrects the earlier record and is sent again."""
    data = {
        "win_back": {
            "id": win.id,
            "returned_on": win.returned_on,
            "via": win.via,
            "revenue": win.revenue,
            "currency": customer.currency,
            "call_note_id": win.note_id,
        },
        "customer": _customer_ref(customer.id),
    }
    emit(
        CUSTOMER_WON_BACK,
        data,
        personal=lambda: customer_fields(customer),
        customer_id=customer.id,
    )


def followup_result(
    *,
    experiment_id: int | None,
    kind: str,
    group: str,
    outcome: str,
    customer: Customer | None = None,
    customer_id: int | None = None,
) -> int:
    """A follow-up or campaign mail was sent or failed, or the person was held
    back as the control group.

    ``kind`` is "follow_up" or "campaign", ``group`` "treated" or
    "held_back", ``outcome`` "sent", "failed" or "held_back".
    """
    customer_id = customer.id if customer is not None else customer_id
    data = {
        "experiment": {"id": experiment_id, "kind": kind},
        "group": group,
        "outcome": outcome,
        "customer": _customer_ref(customer_id),
    }

    def personal_fields():
        found = customer
        if found is None and customer_id is not None:
            found = db.session.get(Customer, customer_id)
        return customer_fields(found)

    return emit(
        FOLLOWUP_RESULT, data, personal=personal_fields, customer_id=customer_id
    )


# experiment_groups(customer_ids, kind): each customer's (group, experiment
# id) in an open experiment of that kind; set by the app (karn.experiments is
# a layer above this one).
_experiment_groups: list[Callable[..., Mapping[int, Any]]] = []


def use_experiment_groups(lookup: Callable[..., Mapping[int, Any]]) -> None:
    """Where mail_results finds the experiment a mailed person is in."""
    _experiment_groups[:] = [lookup]


def mail_results(finished: Iterable[tuple[str, int | None, str]]) -> None:
    """Listener for the outbox (``karn.surveys.sending.on_finished``): follow-up
    and campaign mails as (kind, customer id, "sent" or "failed")."""
    by_kind: dict[str, list[tuple[int, str]]] = {}
    for kind, customer_id, outcome in finished:
        if kind in RESULT_KINDS and customer_id is not None:
            by_kind.setdefault(kind, []).append((customer_id, outcome))
    for kind, results in by_kind.items():
        groups = {}
        for lookup in _experiment_groups:
            groups = lookup([c for c, _o in results], ExperimentKind(kind))
        for customer_id, outcome in results:
            group, experiment_id = groups.get(customer_id, ("treated", None))
            followup_result(
                experiment_id=experiment_id,
                kind=kind,
                group=getattr(group, "value", group),
                outcome=outcome,
                customer_id=customer_id,
            )


def customer_erased(customer_ids: Iterable[int]) -> int:
    """Erased people, by Karn's customer id only: receivers remove what they
    hold on them. Sent to every endpoint subscribed, personal fields or not."""
    count = 0
    now = clock.now()
    for customer_id in customer_ids:
        count += emit(
            CUSTOMER_ERASED,
            {"customer": {"id": customer_id}, "erased_at": now},
            customer_id=customer_id,
        )
    return count
