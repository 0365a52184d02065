"""An access request as a document the person can read, in their own language.

The JSON download (karn.privacy.export.export_person) is the complete,
machine-readable copy. This module turns the same records into headed
sections with readable labels, dates in the person's locale and yes/no in
words, in the language of the person the data is about (the customer's
language, else the company's), whatever the language of the administrator who
prints it.

The document is the list SECTIONS, in order. A feature that stores something
more about a person adds its section there: a ``Section`` with a key, a title
(lazy_gettext) and a function that receives the ``Subject`` and returns the
section's ``Entry`` list (an empty list: the document says there is nothing).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from markupsafe import Markup

from karn import clock
from karn.callbacks.answers import SENTIMENT_LABELS, answered_questions
from karn.callbacks.models import CallNote, CallTask
from karn.customers.models import Customer, Suppression
from karn.enums import CustomerStatus, Language, Source
from karn.extensions import db
from karn.formatting import (
    OUTCOME_LABELS,
    REASON_LABELS,
    localdate,
    localtime,
    money,
    number,
)
from karn.privacy.erasure import _customer_mail
from karn.surveys.delivery import email_hash
from karn.surveys.models import Invitation, OutboxMessage, Response


@dataclass
class Entry:
    """One thing held: a heading, label-value facts, a quoted text, or a paragraph."""

    heading: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    body: str | None = None  # words of the person or of staff, quoted
    text: str | None = None  # an explanation, as a paragraph


@dataclass
class Subject:
    """The person the document is about, and their JSON export (export_person)."""

    customer: Customer
    data: dict[str, Any]
    lang: str


@dataclass(frozen=True)
class Section:
    key: str
    title: Any  # a lazy_gettext string: read in the person's language
    build: Callable[[Subject], list[Entry]]


@dataclass
class Part:
    """A section as built: the title in the person's language and its entries."""

    key: str
    title: str
    entries: list[Entry]


def language_of(customer: Customer) -> str:
    """The language the person reads: theirs, else the company's default."""
    if customer.language is not None:
        return Language(customer.language).value
    return current_app.config.get("DEFAULT_LANGUAGE") or "en"


def build_document(customer: Customer, data: dict[str, Any]) -> list[Part]:
    """The document's sections, written in the current locale (render() sets
    the person's)."""
    subject = Subject(customer, data, str(get_locale()))
    return [Part(s.key, str(s.title), s.build(subject)) for s in SECTIONS]


def render(customer: Customer, data: dict[str, Any]) -> tuple[str, Markup]:
    """The person's language and the document as HTML, written in it."""
    lang = language_of(customer)
    with force_locale(lang):
        parts = build_document(customer, data)
        html = render_template(
            "privacy/_document.html",
            lang=lang,
            customer=customer,
            parts=parts,
            made_on=clock.now(),
        )
    return lang, Markup(html)


def _yes_no(value: bool) -> str:
    return _("Yes") if value else _("No")


def _when(value) -> str:
    return localdate(value, "long") if value else "—"


def _facts(*pairs: tuple[Any, Any]) -> list[tuple[str, str]]:
    """Label-value pairs, leaving out those without a value."""
    return [
        (str(label), str(value)) for label, value in pairs if value not in (None, "")
    ]


# --- The sections ----------------------------------------------------------


def who_we_are(subject: Subject) -> list[Entry]:
    company = current_app.config["COMPANY_NAME"]
    return [
        Entry(
            facts=_facts(
                (_("Organisation"), company),
                (_("Overview made on"), _when(clock.now())),
            ),
            text=_(
                "%(company)s uses Karn to ask customers who leave why they left, "
                "and to learn from their answers. This overview lists all the "
                "data about you that Karn holds, so you can check it. If "
                "something is wrong or you want it removed, reply to one of our "
                "mails or contact %(company)s.",
                company=company,
            ),
        )
    ]


SOURCE_LABELS = {
    Source.CSV: _l("From our customer records (file import)"),
    Source.API: _l("From our customer system (link)"),
    Source.STRIPE: _l("From our payment provider Stripe"),
    Source.MANUAL: _l("Entered by our staff"),
}
LANGUAGE_NAMES = {Language.NL: "Nederlands", Language.EN: "English"}
SUPPRESSION_REASONS = {
    "unsubscribed": _l("you unsubscribed"),
    "bounced": _l("mail to your address could not be delivered"),
    "complained": _l("you marked our mail as spam"),
    "erased": _l("your data was erased"),
}
INVITATION_STATES = {
    "scheduled": _l("Not sent yet"),
    "sent": _l("Sent"),
    "reminded": _l("Sent, with a reminder"),
    "responded": _l("You answered"),
    "expired": _l("Expired without an answer"),
    "unsubscribed": _l("You unsubscribed"),
    "bounced": _l("Could not be delivered"),
    "failed": _l("Could not be sent"),
    "cancelled": _l("Cancelled"),
}


def what_we_hold(subject: Subject) -> list[Entry]:
    c = subject.customer
    left = c.status == CustomerStatus.DEPARTED
    details = Entry(
        heading=_("Your details"),
        facts=_facts(
            (_("Name"), c.name),
            (_("Email address"), c.email),
            (_("Phone"), c.phone),
            (_("Customer number"), c.external_id),
            (_("Language"), LANGUAGE_NAMES.get(c.language) if c.language else None),
            (_("Still a customer"), _yes_no(not left)),
            (_("Date you left"), _when(c.departed_at) if c.departed_at else None),
            (_("Plan"), c.plan),
            (_("Segment"), c.segment),
            (_("Region"), c.region),
            (
                _("Customer for"),
                _("%(n)s months", n=number(c.tenure_months))
                if c.tenure_months is not None
                else None,
            ),
            (
                _("Monthly revenue"),
                money(c.monthly_revenue, 2, c.currency)
                if c.monthly_revenue is not None
                else None,
            ),
            (
                _("Lifetime value"),
                money(c.lifetime_value, 2, c.currency)
                if c.lifetime_value is not None
                else None,
            ),
            (
                _("Left because a payment failed"),
                _yes_no(c.involuntary) if left else None,
            ),
            (_("Only had a trial"), _yes_no(c.trial_only) if c.trial_only else None),
            (_("Reason you gave us"), REASON_LABELS.get(c.stated_reason)),
            (_("Your comment"), c.stated_comment),
            (_("Where we got this"), SOURCE_LABELS.get(c.source)),
            (_("In Karn since"), _when(c.created_at)),
            (
                _("Unsubscribed on"),
                _when(c.unsubscribed_at) if c.unsubscribed_at else None,
            ),
            (
                _("Mail undeliverable since"),
                _when(c.bounced_at) if c.bounced_at else None,
            ),
            (
                _("Objected to profiling on"),
                _when(c.profiling_objected_at) if c.profiling_objected_at else None,
            ),
        ),
    )
    entries = [details]
    if c.extra:
        entries.append(
            Entry(
                heading=_("Other details from our customer records"),
                facts=_facts(*((key, value) for key, value in sorted(c.extra.items()))),
            )
        )
    if c.email:
        entry = db.session.get(Suppression, email_hash(c.email))
        if entry is not None:
            entries.append(
                Entry(
                    heading=_("Not to be mailed"),
                    facts=_facts(
                        (_("Since"), _when(entry.created_at)),
                        (
                            _("Because"),
                            SUPPRESSION_REASONS.get(entry.reason, entry.reason),
                        ),
                    ),
                )
            )
    for invitation in db.session.scalars(
        sa.select(Invitation)
        .where(Invitation.customer_id == c.id)
        .order_by(Invitation.id)
    ):
        entries.append(
            Entry(
                heading=_("Invitation to our survey"),
                facts=_facts(
                    (_("State"), INVITATION_STATES.get(invitation.status)),
                    (
                        _("Sent on"),
                        _when(invitation.sent_at) if invitation.sent_at else None,
                    ),
                    (_("Reminders sent"), number(invitation.reminders_sent)),
                    (
                        _("Answered on"),
                        _when(invitation.responded_at)
                        if invitation.responded_at
                        else None,
                    ),
                ),
            )
        )
    for row in subject.data.get("import_rows", []):
        entries.append(
            Entry(
                heading=_("A row about you in the file %(file)s", file=row["filename"]),
                facts=_facts(*row["row"].items()),
            )
        )
    return entries


def _responses(subject: Subject) -> list[Response]:
    return list(
        db.session.scalars(
            sa.select(Response)
            .where(Response.customer_id == subject.customer.id)
            .order_by(Response.id)
        )
    )


def answers(subject: Subject) -> list[Entry]:
    entries = []
    for response in _responses(subject):
        rows = answered_questions(response, subject.lang)
        if not rows:
            continue
        when = response.submitted_at or response.started_at
        heading = (
            _("Survey answered on %(date)s", date=_when(when))
            if response.submitted_at
            else _("Survey started on %(date)s, not sent", date=_when(when))
        )
        facts = [(row.question, row.answer) for row in rows]
        if response.primary_reason:
            facts.append(
                (_("Main reason"), str(REASON_LABELS[response.primary_reason]))
            )
        entries.append(Entry(heading=heading, facts=facts))
    return entries


def call_notes(subject: Subject) -> list[Entry]:
    entries = []
    customer_id = subject.customer.id
    for task in db.session.scalars(
        sa.select(CallTask)
        .where(CallTask.customer_id == customer_id)
        .order_by(CallTask.id)
    ):
        entries.append(
            Entry(
                heading=_("We planned to call you"),
                facts=_facts(
                    (_("Planned for"), _when(task.due_at)),
                    (_("Number"), task.phone),
                    (_("Time you preferred"), task.preferred_time),
                    (_("Attempts"), number(task.attempts)),
                ),
                body=task.note,
            )
        )
    for note in db.session.scalars(
        sa.select(CallNote)
        .where(CallNote.customer_id == customer_id)
        .order_by(CallNote.id)
    ):
        reasons = ", ".join(str(REASON_LABELS[r.reason]) for r in note.reasons)
        entries.append(
            Entry(
                heading=_("Call on %(date)s", date=_when(note.created_at)),
                facts=_facts(
                    (_("Outcome"), OUTCOME_LABELS.get(note.outcome)),
                    (_("Reasons noted"), reasons),
                ),
                body=note.text,
            )
        )
    return entries


def mails_sent(subject: Subject) -> list[Entry]:
    entries = []
    for mail in db.session.scalars(
        _customer_mail(subject.customer).order_by(OutboxMessage.id)
    ):
        sent = mail.sent_at is not None
        entries.append(
            Entry(
                heading=mail.subject or _("(no subject)"),
                facts=_facts(
                    (_("To"), mail.to_address),
                    (_("Sent on"), _when(mail.sent_at) if sent else _("Not sent")),
                ),
                body=mail.body_text,
            )
        )
    return entries


def scores(subject: Subject) -> list[Entry]:
    """What Karn read from the person's own words: tone and reason."""
    entries = []
    for response in _responses(subject):
        questions = {q["key"]: q for q in (response.survey_version.questions or [])}
        for answer in sorted(response.answers, key=lambda a: a.id):
            if answer.sentiment is None and answer.tag_reason is None:
                continue
            question = questions.get(answer.question_key)
            title = (
                question["text"].get(subject.lang) or answer.question_key
                if question
                else answer.question_key
            )
            entries.append(_reading(_("Your answer to: %(q)s", q=title), answer))
    for note in db.session.scalars(
        sa.select(CallNote)
        .where(CallNote.customer_id == subject.customer.id)
        .order_by(CallNote.id)
    ):
        if note.sentiment is not None or note.tag_reason is not None:
            heading = _("Our note of the call on %(date)s", date=_when(note.created_at))
            entries.append(_reading(heading, note))
    return entries


def _reading(heading: str, item: Any) -> Entry:
    return Entry(
        heading=heading,
        facts=_facts(
            (
                _("Tone"),
                _capital(SENTIMENT_LABELS[item.sentiment]) if item.sentiment else None,
            ),
            (_("Reason read in it"), REASON_LABELS.get(item.tag_reason)),
        ),
    )


ACTIONS = {
    "customer.create": _l("Your details were added"),
    "customer.update": _l("Your details were changed"),
    "customer.add_erased_again": _l("You were added again after an erasure"),
    "mail.bounce": _l("A mail to you could not be delivered"),
    "mail.complaint": _l("You marked our mail as spam"),
    "mail.unsubscribe": _l("You unsubscribed"),
    "suppression.add": _l("Your address was put on the do-not-mail list"),
    "privacy.export": _l("An overview of your data was made"),
    "call_task.create": _l("A call to you was planned"),
    "call_task.reschedule": _l("A call to you was moved"),
    "call_task.assign": _l("A call to you was given to a colleague"),
    "call_task.close": _l("A planned call to you was closed"),
    "call_note.create": _l("A call with you was noted"),
    "call_note.edit": _l("A note of a call with you was changed"),
    "tags.correct": _l("What Karn read in your words was corrected"),
    "win_back.delete": _l("A note that you came back was removed"),
}


def _capital(label: Any) -> str:
    text = str(label)
    return text[:1].upper() + text[1:]


def log(subject: Subject) -> list[Entry]:
    facts = []
    for row in subject.data.get("audit_log", []):
        action = row.get("action") or ""
        when = row.get("at")
        day = localtime(datetime.fromisoformat(when)) if when else "—"
        facts.append((day, str(ACTIONS.get(action, action))))
    return [Entry(facts=facts)] if facts else []


def feedback_given(subject: Subject) -> list[Entry]:
    """Support tickets, complaints, reviews and the like linked to the person."""
    from karn.feedback.models import channel_names

    names = channel_names(subject.lang)
    entries = []
    for item in subject.data.get("feedback_items", []):
        received = datetime.fromisoformat(item["received_at"])
        entries.append(
            Entry(
                heading=_(
                    "Received on %(date)s (%(channel)s)",
                    date=_when(received),
                    channel=names.get(item["channel"], item["channel"]),
                ),
                facts=_facts(
                    (_("Rating"), number(item["rating"]) if item["rating"] else None),
                    (
                        _("Tone"),
                        _capital(SENTIMENT_LABELS[item["sentiment"]])
                        if item.get("sentiment")
                        else None,
                    ),
                    (_("Reason read in it"), REASON_LABELS.get(item.get("reason"))),
                ),
                body=item.get("text")
                or _("The text was removed; what was read in it is kept."),
            )
        )
    return entries


def churn_risk(subject: Subject) -> list[Entry]:
    """The profiling: the estimated chance of leaving and what raised it."""
    from karn.risk.views import explain

    entries = []
    for score in subject.data.get("churn_risk", []):
        why = explain(score.get("reasons"))
        scored = score.get("scored_at")
        entries.append(
            Entry(
                text=_(
                    "From what we know about you and about customers who left, we "
                    "estimate how likely you are to leave, so that we can call "
                    "customers before they go. You can object to this; we then "
                    "stop at once and delete the estimate."
                ),
                facts=_facts(
                    (
                        _("Estimated chance of leaving"),
                        number(100 * float(score["probability"]), 0) + " %",
                    ),
                    (
                        _("Estimated on"),
                        _when(datetime.fromisoformat(scored)) if scored else None,
                    ),
                    (_("What raised it"), "; ".join(why) if why else None),
                    (
                        _("The reason you would most likely leave for"),
                        REASON_LABELS.get(score.get("likely_reason")),
                    ),
                ),
            )
        )
    return entries


def experiments_taken_part(subject: Subject) -> list[Entry]:
    """Draws by lot: whether the person was to be called or mailed, or held
    back as the group that compares."""
    entries = []
    for row in subject.data.get("experiment_assignments", []):
        treated = row["group"] == "treated"
        until = _when(datetime.fromisoformat(row["ends_at"]))
        if row.get("kind") == "keep_call":
            why = _(
                "To learn whether calling customers helps, we drew by lot who is "
                "called and who is not."
            )
            drawn = (
                _("You were drawn to be called.")
                if treated
                else _("You were drawn not to be called until %(date)s.", date=until)
            )
        else:
            why = _(
                "To learn whether our mails bring former customers back, we drew "
                "by lot who gets a mail and who does not."
            )
            drawn = (
                _("You were drawn to get the mail.")
                if treated
                else _("You were drawn not to get it.")
            )
        entries.append(
            Entry(
                heading=_(
                    "Drawn on %(date)s",
                    date=_when(datetime.fromisoformat(row["assigned_at"])),
                ),
                text=f"{why} {drawn}",
            )
        )
    return entries


def passed_on(subject: Subject) -> list[Entry]:
    """Webhook deliveries: what was passed on about the person to the company's
    other systems, and where to."""
    from urllib.parse import urlsplit

    facts = []
    for row in subject.data.get("webhook_deliveries", []):
        when = datetime.fromisoformat(row["created_at"])
        what = (
            _(
                "%(event)s, with your name and contact details or words",
                event=row["event"],
            )
            if row.get("personal")
            else _("%(event)s, with our customer number only", event=row["event"])
        )
        host = urlsplit(row["endpoint"]).hostname or row["endpoint"]
        facts.append((_when(when), f"{host}: {what}"))
    return [Entry(facts=facts)] if facts else []


SECTIONS: list[Section] = [
    Section("who_we_are", _l("Who we are"), who_we_are),
    Section("held", _l("What we hold about you"), what_we_hold),
    Section("answers", _l("Your answers to our survey"), answers),
    Section("calls", _l("Calls and call notes"), call_notes),
    Section("mails", _l("Mails we sent you"), mails_sent),
    Section("feedback", _l("Your messages to us"), feedback_given),
    Section("scores", _l("What Karn read in your words"), scores),
    Section("churn_risk", _l("Our estimate of whether you will leave"), churn_risk),
    Section("experiments", _l("Draws by lot"), experiments_taken_part),
    Section("passed_on", _l("Passed on to our other systems"), passed_on),
    Section("log", _l("Records of changes to your data"), log),
]
