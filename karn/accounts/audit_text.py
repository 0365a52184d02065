"""The audit log in words: what an entry's action, subject and details mean, in
the reader's language. The codes stay in the database and in the CSV export."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from babel.dates import get_day_names
from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from karn.accounts.models import AuditEntry, User
from karn.formatting import (
    CALL_SOURCE_LABELS,
    CALL_STATUS_LABELS,
    OUTCOME_LABELS,
    REASON_LABELS,
    ROLE_LABELS,
    SENTIMENT_LABELS,
    localdate,
    localtime,
    number,
)

ACTIONS = {
    "login": _l("Signed in"),
    "login.failed": _l("Failed sign-in"),
    "logout": _l("Signed out"),
    "user.create": _l("User added"),
    "user.update": _l("User changed"),
    "user.password": _l("Password changed"),
    "apikey.create": _l("API key created"),
    "apikey.revoke": _l("API key revoked"),
    "call_task.create": _l("Put on the call list"),
    "call_task.assign": _l("Call task assigned"),
    "call_task.reschedule": _l("Call task rescheduled"),
    "call_task.close": _l("Taken off the call list"),
    "call_note.create": _l("Call logged"),
    "call_note.edit": _l("Call note corrected"),
    "win_back.create": _l("Marked as won back"),
    "win_back.update": _l("Win-back corrected"),
    "win_back.delete": _l("Win-back removed"),
    "customer.create": _l("Customer added"),
    "customer.update": _l("Customer changed"),
    "customer.add_erased_again": _l("Erased person added again"),
    "customers.import": _l("Customers imported"),
    "api.departures": _l("Departures received through the API"),
    "privacy.erase": _l("Personal data erased"),
    "privacy.retention": _l("Old personal data erased"),
    "privacy.export": _l("Personal data exported"),
    "privacy.notice": _l("Privacy notice changed"),
    "audit.export": _l("Audit log exported"),
    "settings.schedule": _l("Invitation schedule changed"),
    "settings.calling_hours": _l("Calling hours changed"),
    "follow_up.update": _l("Follow-up mail changed"),
    "experiment.enrol": _l("Drawn into treated and held-back groups"),
    "experiment.create": _l("Control group drawn"),
    "campaign.create": _l("Campaign mailed"),
    "settings.competitors": _l("Competitor list changed"),
    "settings.branding": _l("Survey logo and colour changed"),
    "survey.draft": _l("Survey draft saved"),
    "survey.publish": _l("Survey published"),
    "survey.default_update": _l("Survey updated to the new default edition"),
    "survey.default_update_dismissed": _l(
        "Notice of the new default survey edition put away"
    ),
    "outbox.release": _l("Held mail released"),
    "outbox.retry": _l("Mail sent again"),
    "webhook.create": _l("Webhook endpoint added"),
    "webhook.edit": _l("Webhook endpoint changed"),
    "webhook.delete": _l("Webhook endpoint removed"),
    "webhook.disable": _l("Webhook endpoint switched off after failures"),
    "webhook.resend": _l("Webhook delivery sent again"),
    "suppression.add": _l("Address added to the do-not-mail list"),
    "mail.bounce": _l("Mail bounced"),
    "mail.complaint": _l("Mail marked as spam"),
    "mail.unsubscribe": _l("Unsubscribed"),
    "mail.domain_released": _l("Paused mail domain released"),
    "tags.correct": _l("Tags corrected"),
    "feedback.tags.correct": _l("Feedback tags corrected"),
    "feedback.import_queued": _l("Feedback file handed to the worker to import"),
    "feedback.import": _l("Feedback file imported"),
    "analysis.export": _l("Analysis exported"),
    "analysis.model_train": _l("Text model trained"),
    "analysis.model_activate": _l("Text model activated"),
    "risk.model_activate": _l("Risk model activated"),
    "improvement_action.create": _l("Improvement action added"),
    "improvement_action.update": _l("Improvement action changed"),
}

FIELDS = {
    "customer": _l("Customer"),
    "source": _l("Why"),
    "assigned_to": _l("Assigned to"),
    "before": _l("Before"),
    "after": _l("After"),
    "task": _l("Call task"),
    "outcome": _l("Outcome"),
    "reasons": _l("Reasons"),
    "task_status": _l("Task"),
    "returned_on": _l("Returned on"),
    "via": _l("Recorded via"),
    "revenue": _l("Monthly revenue regained"),
    "email": _l("Email address"),
    "role": _l("Role"),
    "count": _l("Number"),
    "filename": _l("File"),
    "dry_run": _l("Trial run"),
    "created": _l("Added"),
    "updated": _l("Updated"),
    "rejected": _l("Rejected"),
    "reason": _l("Reason"),
    "format": _l("Format"),
    "version": _l("Version"),
    "number": _l("Version"),
    "edition": _l("Edition"),
    "by": _l("Started by"),
    "domain": _l("Domain"),
    "changed": _l("Changed"),
    "customers": _l("Customers"),
    "mails": _l("Mails"),
    "months": _l("Months"),
    "days": _l("Days"),
    "erased_on": _l("Erased on"),
    "channel": _l("Channel"),
    "kind": _l("Kind"),
    "sentiment_from": _l("Tone before"),
    "sentiment_to": _l("Tone after"),
    "reason_from": _l("Reason before"),
    "reason_to": _l("Reason after"),
    "outcome_before": _l("Outcome before"),
    "outcome_after": _l("Outcome after"),
    "reasons_before": _l("Reasons before"),
    "reasons_after": _l("Reasons after"),
    "follow_up_on_before": _l("Follow up before"),
    "follow_up_on_after": _l("Follow up after"),
    "follow_up_on": _l("Follow up on"),
    "text": _l("Notes"),
    "languages": _l("Languages"),
    "share": _l("Chance of being treated"),
    "horizon_days": _l("Days counted"),
    "treated": _l("Treated"),
    "held_back": _l("Held back"),
    "already": _l("Left out, already in one"),
    "experiment_id": _l("Experiment"),
    "action_id": _l("Improvement action"),
    "mailed": _l("Mailed"),
    "active": _l("Switched on"),
    "url": _l("Address"),
    "events": _l("Events"),
    "personal": _l("With personal fields"),
    "allow_private": _l("Private addresses allowed"),
    "failures": _l("Failures"),
    "event": _l("Event"),
    "CALL_HOURS_START": _l("Calls from"),
    "CALL_HOURS_END": _l("Calls until"),
    "CALL_DAYS": _l("Calling days"),
}

VIA = {
    "call": _l("a call"),
    "manual": _l("by hand"),
    "csv": _l("a CSV file"),
    "api": _l("API"),
    "stripe": _l("Stripe"),
}
TARGETS = {
    "customers": (_l("Customer"), "customers.show", "customer_id"),
    "call_tasks": (_l("Call task"), "calls.task", "task_id"),
    "call_notes": (_l("Call note"), None, None),
    "win_backs": (_l("Win-back"), None, None),
    "users": (_l("User"), "accounts.user_edit", "user_id"),
    "api_keys": (_l("API key"), None, None),
    "survey_versions": (_l("Survey version"), None, None),
    "surveys": (_l("Survey"), None, None),
    "outbox": (_l("Mail"), None, None),
    "import_runs": (_l("Import"), None, None),
    "risk_models": (_l("Churn-risk model"), None, None),
}


# Fields whose values are codes of one kind, and the labels of those codes.
def _by_code(labels: dict) -> dict:
    return {member.value: label for member, label in labels.items()}


CODES = {
    "source": _by_code(CALL_SOURCE_LABELS),
    "task_status": _by_code(CALL_STATUS_LABELS),
    "via": VIA,
    # Who started a churn-risk training: the worker, the demo, or a login name.
    "by": {"worker": _l("the worker"), "demo": _l("the demo data")},
    "role": _by_code(ROLE_LABELS),
    "sentiment_from": _by_code(SENTIMENT_LABELS),
    "sentiment_to": _by_code(SENTIMENT_LABELS),
    # What an experiment tries (experiment.create, experiment.enrol).
    "kind": {
        "keep_call": _l("keep calls"),
        "follow_up": _l("follow-up mail"),
        "campaign": _l("campaign"),
    },
}
for _name in ("outcome", "outcome_before", "outcome_after"):
    CODES[_name] = _by_code(OUTCOME_LABELS)
for _name in ("reasons", "reason", "reason_from", "reason_to"):
    CODES[_name] = _by_code(REASON_LABELS)
for _name in ("reasons_before", "reasons_after"):
    CODES[_name] = CODES["reasons"]
DATES = {"returned_on", "erased_on", "follow_up_on_before", "follow_up_on_after"}


@dataclass
class Detail:
    label: str
    value: str
    url: str | None = None


def action_label(action: str) -> str:
    """An action in words; an action without a description shows its code."""
    return str(ACTIONS[action]) if action in ACTIONS else action


def _words(value) -> str:
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_words(v)}" for k, v in value.items())
    return str(value)


def _coded(name: str, value) -> str:
    labels = CODES[name]
    if isinstance(value, list | tuple):
        return ", ".join(str(labels.get(v, v)) for v in value)
    return str(labels.get(value, value))


def _weekdays(value: str) -> str:
    """'1,2,3' -> 'Monday, Tuesday, Wednesday' in the reader's language."""
    names = get_day_names("wide", locale=get_locale() or "en")
    try:
        return ", ".join(names[int(d) - 1] for d in value.split(",") if d.strip())
    except (ValueError, KeyError):
        return value


def _moment(value: str, with_time: bool) -> str:
    try:
        parsed = (datetime if with_time else date).fromisoformat(value)
    except (TypeError, ValueError):
        return str(value)
    return localtime(parsed) if with_time else localdate(parsed)


def details(entry: AuditEntry, users: dict[int, User]) -> list[Detail]:
    """The entry's details as labelled values, codes and ids put into words."""
    out = []
    for name, value in (entry.details or {}).items():
        label = str(FIELDS.get(name, name.replace("_", " ")))
        url = None
        if name == "customer" and isinstance(value, int):
            text, url = f"#{value}", url_for("customers.show", customer_id=value)
        elif (
            name == "task"
            and isinstance(value, int)
            and entry.action.startswith("call_")
        ):
            text, url = f"#{value}", url_for("calls.task", task_id=value)
        elif name == "changed" and isinstance(value, list):
            text = ", ".join(str(FIELDS.get(v, v)) for v in value)
        elif name == "share" and isinstance(value, int | float):
            text = f"{number(value * 100)}%"
        elif name == "CALL_DAYS" and isinstance(value, str):
            text = _weekdays(value)
        elif name in CODES:
            text = _coded(name, value)
        elif name in DATES:
            text = _moment(value, with_time=False)
        elif entry.action == "call_task.reschedule" and name in ("before", "after"):
            text = _moment(value, with_time=True)
        elif name in ("assigned_to", "before", "after") and (
            entry.action in ("call_task.create", "call_task.assign")
        ):
            user = users.get(value) if isinstance(value, int) else None
            text = (
                user.name if user else (_("nobody") if value is None else f"#{value}")
            )
        else:
            text = _words(value)
        out.append(Detail(label, text, url))
    return out


def subject(entry: AuditEntry) -> Detail | None:
    """What the entry is about, e.g. "Customer #3016" with a link to it."""
    if not entry.target_type:
        return None
    label, endpoint, arg = TARGETS.get(entry.target_type, (None, None, None))
    text = f"{label or entry.target_type} #{entry.target_id}"
    url = None
    if endpoint and (entry.target_id or "").isdigit():
        url = url_for(endpoint, **{arg: int(entry.target_id)})
    return Detail(str(label or entry.target_type), text, url)


def user_ids(entries: Iterable[AuditEntry]) -> set[int]:
    """Users named in the entries' details (assignments), to look up at once."""
    ids = set()
    for entry in entries:
        if entry.action in ("call_task.create", "call_task.assign"):
            for name in ("assigned_to", "before", "after"):
                value = (entry.details or {}).get(name)
                if isinstance(value, int):
                    ids.add(value)
    return ids
