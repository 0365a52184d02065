"""Every model, imported in one place so metadata and migrations see them all."""

from karn.accounts.models import ApiKey, AuditEntry, User
from karn.actions.models import ImprovementAction
from karn.analysis.models import ReasonTotal
from karn.callbacks.models import (
    CallNote,
    CallNoteReason,
    CallTask,
    DigestRun,
    WinBack,
)
from karn.customers.comments import CommentTags
from karn.customers.models import (
    Customer,
    ErasedPerson,
    ImportRun,
    StripeEvent,
    Suppression,
)
from karn.customers.stripe_subscriptions import StripeSubscription
from karn.experiments.models import Assignment, Experiment
from karn.feedback.models import FeedbackChannel, FeedbackImport, FeedbackItem
from karn.followups.campaign_models import Campaign
from karn.followups.models import FollowUp
from karn.risk.models import RiskModel, RiskScore
from karn.settings import Setting
from karn.surveys.branding import Branding
from karn.surveys.deliverability import DomainPause, MailEvent
from karn.surveys.models import (
    Answer,
    Invitation,
    OutboxMessage,
    Response,
    ResponseReason,
    Survey,
    SurveyVersion,
)
from karn.text.models import TagCorrection, TagModel
from karn.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint

__all__ = [
    "Branding",
    "Campaign",
    "DomainPause",
    "MailEvent",
    "Answer",
    "ApiKey",
    "Assignment",
    "AuditEntry",
    "CallNote",
    "CallNoteReason",
    "CallTask",
    "CommentTags",
    "Customer",
    "DigestRun",
    "ErasedPerson",
    "FeedbackChannel",
    "FeedbackImport",
    "FeedbackItem",
    "Experiment",
    "FollowUp",
    "ImportRun",
    "ImprovementAction",
    "Invitation",
    "OutboxMessage",
    "ReasonTotal",
    "Response",
    "ResponseReason",
    "RiskModel",
    "RiskScore",
    "Setting",
    "StripeEvent",
    "StripeSubscription",
    "Suppression",
    "Survey",
    "SurveyVersion",
    "TagCorrection",
    "TagModel",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WinBack",
]
