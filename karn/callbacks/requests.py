"""Survey respondents who ask to be called, onto the call list.

Listens to submissions (``karn.surveys.responses.on_submitted``), in the
submission's transaction, with Core statements like the rest of that hot path.
"""

import sqlalchemy as sa

from karn.callbacks import hours
from karn.callbacks.models import SOURCE_PRIORITY, CallTask
from karn.customers.models import Customer
from karn.enums import CallTaskSource, Source
from karn.extensions import db, prepared
from karn.surveys import definition
from karn.surveys.models import Response
from karn.surveys.responses import Submitted

_responses = Response.__table__
_SET_CUSTOMER = prepared(
    sa.update(_responses)
    .where(Response.id == sa.bindparam("b_response"))
    .values(customer_id=sa.bindparam("b_customer"))
)
_INSERT_CALL_TASK = prepared(sa.insert(CallTask.__table__))
# The number given is kept unless staff already know one.
_KEEP_PHONE = prepared(
    sa.update(Customer.__table__)
    .where(
        Customer.id == sa.bindparam("b_customer"),
        sa.or_(Customer.phone.is_(None), Customer.phone == ""),
    )
    .values(phone=sa.bindparam("b_phone"))
)


def add_requested_call(submitted: Submitted) -> None:
    """A respondent who answered "yes, call me" goes on the call list."""
    conn, response_id, customer_id = (
        submitted.conn,
        submitted.response_id,
        submitted.customer_id,
    )
    clean, questions = submitted.clean, submitted.questions
    lang, now = submitted.lang, submitted.now
    callback = next(
        (
            q
            for q in questions
            if q["type"] == definition.PHONE_TIME and q["key"] in clean
        ),
        None,
    )
    if callback is None:
        return
    details = clean[callback["key"]]
    phone = details.get("phone")
    if customer_id is None:
        # An anonymous respondent who wants a call becomes a customer record,
        # so the request reaches the call list.
        customer = Customer(
            external_id=f"anonymous-{response_id}",
            departed_at=now,
            source=Source.MANUAL,
            language=lang,
            phone=phone,
        )
        db.session.add(customer)
        db.session.flush()
        customer_id = customer.id
        conn.execute(
            _SET_CUSTOMER, {"b_response": response_id, "b_customer": customer_id}
        )
    elif phone:
        conn.execute(_KEEP_PHONE, {"b_customer": customer_id, "b_phone": phone})
    conn.execute(
        _INSERT_CALL_TASK,
        {
            "customer_id": customer_id,
            "response_id": response_id,
            "source": CallTaskSource.REQUESTED,
            "priority": SOURCE_PRIORITY[CallTaskSource.REQUESTED],
            "phone": phone,
            "preferred_time": details.get("time") or None,
            # Asked at night: due when staff call again.
            "due_at": hours.next_slot(now),
        },
    )
