"""Every model, imported in one place so metadata and migrations see them all."""

from karn.accounts.models import ApiKey, AuditEntry, Setting, User
from karn.analysis.models import (
    ImprovementAction,
    ReasonTotal,
    TagCorrection,
    TagModel,
)
from karn.callbacks.models import (
    CallNote,
    CallNoteReason,
    CallTask,
    DigestRun,
    WinBack,
)
from karn.customers.models import Customer, ImportRun, StripeEvent, Suppression
from karn.surveys.models import (
    Answer,
    Invitation,
    OutboxMessage,
    Response,
    ResponseReason,
    Survey,
    SurveyVersion,
)

__all__ = [
    "Answer",
    "ApiKey",
    "AuditEntry",
    "CallNote",
    "CallNoteReason",
    "CallTask",
    "Customer",
    "DigestRun",
    "ImportRun",
    "ImprovementAction",
    "Invitation",
    "OutboxMessage",
    "ReasonTotal",
    "Response",
    "ResponseReason",
    "Setting",
    "StripeEvent",
    "Suppression",
    "Survey",
    "SurveyVersion",
    "TagCorrection",
    "TagModel",
    "User",
    "WinBack",
]
