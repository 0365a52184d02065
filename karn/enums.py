"""Enumerations shared across Karn: roles, languages, reasons and states."""

from enum import StrEnum

import sqlalchemy as sa


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    STAFF = "staff"


class Language(StrEnum):
    NL = "nl"
    EN = "en"


class Reason(StrEnum):
    """The canonical departure reasons, most frequent first in the research."""

    SERVICE = "service"
    QUALITY = "quality"
    BRAND = "brand"
    PRICE = "price"
    NEED = "need"
    OTHER = "other"


# The reasons' names in both languages (PRODUCT.md), the same on every page,
# chart, export and survey: one label per reason.
REASON_NAMES: dict[Reason, dict[str, str]] = {
    Reason.SERVICE: {"nl": "Service", "en": "Service"},
    Reason.QUALITY: {"nl": "Kwaliteit", "en": "Quality"},
    Reason.BRAND: {
        "nl": "Voorkeur voor een ander merk",
        "en": "Preferred another brand",
    },
    Reason.PRICE: {"nl": "Prijs", "en": "Price"},
    Reason.NEED: {"nl": "Veranderde behoefte", "en": "My needs changed"},
    Reason.OTHER: {"nl": "Anders", "en": "Other"},
}


class CustomerStatus(StrEnum):
    """Whether a customer is still a customer; see karn.customers.models."""

    ACTIVE = "active"
    DEPARTED = "departed"


class Source(StrEnum):
    """How a departed customer reached Karn."""

    CSV = "csv"
    API = "api"
    STRIPE = "stripe"
    MANUAL = "manual"


class InvitationStatus(StrEnum):
    SCHEDULED = "scheduled"
    SENT = "sent"
    REMINDED = "reminded"
    RESPONDED = "responded"
    EXPIRED = "expired"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Invitations in these states may still lead to mail or a response.
OPEN_INVITATION_STATES = (
    InvitationStatus.SCHEDULED,
    InvitationStatus.SENT,
    InvitationStatus.REMINDED,
)


class OutboxStatus(StrEnum):
    HELD = "held"  # no SMTP server configured: shown on the Outbox page
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Sentiment(StrEnum):
    NEGATIVE = "negative"
    NEUTRAL = "neutral"
    POSITIVE = "positive"


class CallTaskSource(StrEnum):
    REQUESTED = "requested"  # the respondent asked to be called
    HIGH_VALUE = "high_value"  # valuable and silent after the last reminder
    SELECTION = "selection"  # a manager's selection
    MANUAL = "manual"
    KEEP_CALL = "keep_call"  # an at-risk customer drawn for a keep call


class CallTaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CLOSED = "closed"  # given up, e.g. after three failed attempts


class CallOutcome(StrEnum):
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    VOICEMAIL = "voicemail"
    WRONG_NUMBER = "wrong_number"
    DECLINED = "declined"
    WILL_RETURN = "will_return"


class ExperimentKind(StrEnum):
    """What an experiment tries on its treated group."""

    KEEP_CALL = "keep_call"  # a call to an at-risk customer
    FOLLOW_UP = "follow_up"  # a follow-up mail after a departure
    CAMPAIGN = "campaign"  # a win-back campaign


class ExperimentGroup(StrEnum):
    TREATED = "treated"
    HELD_BACK = "held_back"  # the control group: nothing is done to them


def enum_column(enum_cls: type[StrEnum], name: str) -> sa.Enum:
    """A portable enum column storing the values, guarded by a CHECK constraint."""
    return sa.Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=max(len(m.value) for m in enum_cls),
        values_callable=lambda e: [m.value for m in e],
        validate_strings=True,
    )
