"""What a returned mail does to customers and to the mail still waiting.

Each failed recipient of a notice is acted on by its reason's effect
(karn.surveys.mail_reasons):

- ADDRESS_DEAD (no such user, no such domain, moved): the customer is
  undeliverable at once: open invitations close as bounced, unsent mail is
  cancelled.
- MAILBOX_STATE (full, disabled, too big for it): counts toward
  BOUNCE_SOFT_LIMIT; at the limit the customer is undeliverable.
- SENDER_REFUSED (blocklisted, policy, authentication, spam verdict, rate):
  never touches the customer; mail to the receiving domain is paused
  (karn.surveys.deliverability) and administrators are warned.
- CONNECTION (network, system, mailer errors): recorded only.

A delay notice is recorded and changes nothing: the message may still arrive.
A complaint (the recipient pressed "this is spam") unsubscribes the customer
and puts the address on the suppression list at once, so no reminder follows.
Every recipient acted on is recorded for the deliverability page.
"""

import logging
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.customers.models import Customer
from karn.enums import OPEN_INVITATION_STATES, InvitationStatus, OutboxStatus
from karn.extensions import db
from karn.surveys import bounces, deliverability, delivery, mail_reasons
from karn.surveys.models import Invitation, OutboxMessage

log = logging.getLogger(__name__)

DEFAULT_SOFT_LIMIT = 3
COMPLAINT_REASON = "complaint"


@dataclass
class BounceOutcome:
    """What processing one returned mail found and did."""

    result: str
    # bounces.FAILURE, DELAY, COMPLAINT or AUTOREPLY.
    kind: str | None = None
    # A failure's worst effect (a mail_reasons effect).
    effect: str | None = None
    # The returned mail's own Message-ID (or a hash of it): its identity.
    key: str | None = None
    matched_by: str | None = None
    outbox_ids: list[int] = field(default_factory=list)
    customer_ids: list[int] = field(default_factory=list)
    # Customers this mail made undeliverable, or unsubscribed (a complaint).
    undeliverable: list[int] = field(default_factory=list)
    unsubscribed: list[int] = field(default_factory=list)
    # Receiving domains paused because they refused the sender.
    paused: list[str] = field(default_factory=list)
    cancelled: int = 0
    reason: str = ""

    @property
    def delayed(self) -> bool:
        return self.kind == bounces.DELAY


def soft_limit() -> int:
    """Delivery failures after which a full or disabled mailbox makes an
    address undeliverable."""
    configured = current_app.config.get("BOUNCE_SOFT_LIMIT")
    return max(1, int(configured or DEFAULT_SOFT_LIMIT))


def _message_for(
    detail: bounces.RecipientStatus, messages: list[OutboxMessage]
) -> OutboxMessage | None:
    """The message this recipient's line is about: by address, or the only one."""
    wanted = (detail.recipient or "").lower()
    for message in messages:
        if (message.to_address or "").lower() == wanted:
            return message
    return messages[0] if len(messages) == 1 else None


def apply_failure(
    bounce: bounces.Bounce,
    messages: list[OutboxMessage],
    customers: dict[int, Customer],
    outcome: BounceOutcome,
) -> None:
    """Act on each failed (or delayed) recipient of a notice."""
    now = clock.now()
    for detail in bounce.details:
        message = _message_for(detail, messages)
        address = detail.recipient or (message.to_address if message else None)
        customer = customers.get(message.customer_id) if message else None
        delayed = bounce.kind == bounces.DELAY or detail.action == "delayed"
        deliverability.record(
            deliverability.DELAY if delayed else deliverability.BOUNCE,
            detail.reason,
            detail.effect,
            address=address,
            status=detail.status,
            text=detail.diagnostic,
            customer_id=customer.id if customer else None,
            now=now,
        )
        if delayed:
            continue
        if detail.effect == mail_reasons.SENDER_REFUSED:
            domain = deliverability.domain_of(address)
            paused = deliverability.pause(
                domain, detail.reason, detail.diagnostic, address, now=now
            )
            # A pause already running is kept: this refusal paused nothing.
            if paused is not None and paused.paused_at == now:
                outcome.paused.append(domain)
            continue
        if customer is None or detail.effect == mail_reasons.CONNECTION:
            continue
        if detail.effect == mail_reasons.ADDRESS_DEAD:
            customer.delivery_failures += 1
            mark_undeliverable(customer, outcome, detail.reason)
        elif detail.effect == mail_reasons.MAILBOX_STATE:
            customer.delivery_failures += 1
            if customer.delivery_failures >= soft_limit():
                mark_undeliverable(customer, outcome, detail.reason)


def apply_complaint(
    bounce: bounces.Bounce,
    messages: list[OutboxMessage],
    customers: dict[int, Customer],
    outcome: BounceOutcome,
) -> None:
    """A recipient reported the mail as spam: no more mail to them, ever."""
    from karn.accounts import audit

    now = clock.now()
    for customer in customers.values():
        if delivery.unsubscribe(customer, reason=COMPLAINT_REASON):
            outcome.unsubscribed.append(customer.id)
        audit.record(
            "mail.complaint",
            customer,
            feedback_type=bounce.feedback_type,
            outbox=[m.id for m in messages if m.customer_id == customer.id],
        )
        deliverability.record(
            deliverability.COMPLAINT,
            COMPLAINT_REASON,
            COMPLAINT_REASON,
            address=customer.email,
            customer_id=customer.id,
            now=now,
        )


def mark_undeliverable(customer: Customer, outcome: BounceOutcome, reason: str):
    """No more mail to this address: open invitations close, unsent mail goes."""
    now = clock.now()
    if customer.bounced_at is None:
        customer.bounced_at = now
        outcome.undeliverable.append(customer.id)
        log.info("customer %s marked undeliverable: %s", customer.id, reason)
    db.session.execute(
        sa.update(Invitation)
        .where(
            Invitation.customer_id == customer.id,
            Invitation.status.in_(OPEN_INVITATION_STATES),
        )
        .values(status=InvitationStatus.BOUNCED, closed_at=now)
    )
    outcome.cancelled += db.session.execute(
        sa.update(OutboxMessage)
        .where(
            OutboxMessage.customer_id == customer.id,
            OutboxMessage.status.in_((OutboxStatus.PENDING, OutboxStatus.HELD)),
        )
        .values(status=OutboxStatus.CANCELLED)
    ).rowcount
