"""“We fixed it” campaigns: from an improvement action, a mail about what
changed to the ex-customers who left for its reason in a period.

Who matches: departed in the period, with the action's reason as the main
reason of their latest submitted survey answer (as the analysis counts it).
Who of them is mailed: those the one eligibility rule allows
(karn.followups.eligibility) and who are in no control group right now, so
no other experiment's held-back customers get mail. Of those, a random share
is held back (karn.experiments.operations.start), so the campaign's effect
can be measured against people who got nothing (karn.followups.effect).

The manager's subject and text are plain text: ``{name}`` becomes the
recipient's name, escaped for HTML; nothing else in them is interpreted.
"""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import load_only

from karn import clock
from karn.accounts import audit
from karn.accounts.models import User
from karn.actions.models import ImprovementAction
from karn.callbacks.models import WinBack
from karn.customers import bulk
from karn.customers.models import Customer
from karn.enums import CustomerStatus, ExperimentGroup, ExperimentKind
from karn.experiments import operations
from karn.experiments.models import Assignment, Experiment
from karn.extensions import db
from karn.followups import eligibility
from karn.followups.campaign_models import Campaign
from karn.surveys import branding, links, mails, outbox
from karn.surveys.default_survey import CONSENT_YES
from karn.surveys.delivery import email_hash, next_send_time, suppressed_among
from karn.surveys.models import Response
from karn.webhooks import events

KIND = ExperimentKind.CAMPAIGN
OUTBOX_KIND = "campaign"
NAME = "{name}"
# Departures this many days before the action started are offered by default.
DEFAULT_PERIOD_DAYS = 365
# Markers for what differs per person (see karn.surveys.mails): private-use
# characters, removed from what managers type.
_NAME, _UNSUBSCRIBE = "\ue000karn-n\ue001", "\ue000karn-u\ue001"
_MARKERS = re.compile(f"({_NAME}|{_UNSUBSCRIBE})")
_PRIVATE = re.compile("[\ue000-\uf8ff]")
# What drawing a customer reads of them (karn.experiments.operations.start).
DRAWN_COLUMNS = (Customer.erased_at, Customer.monthly_revenue, Customer.currency)
# A recipient without a name on file is greeted with this word instead.
NO_NAME = {"nl": "klant", "en": "customer"}

# Why a matching person is not mailed, in the order they are checked: each is
# counted under the first that applies.
RULES = {
    "erased": _l("personal data erased"),
    "won_back": _l("a customer again (won back)"),
    "unsubscribed": _l("unsubscribed"),
    "undeliverable": _l("no address, or mail to it bounced or is blocked"),
    "no_consent": _l("did not agree to be contacted again"),
    "recently_contacted": _l("contacted by Karn recently"),
    "in_campaign": _l("in a running campaign already"),
    "held_back": _l("in the control group of another experiment"),
    "other": _l("other"),
}


def share() -> float:
    """FOLLOW_UP_SHARE: the chance of being mailed, unless the form says other."""
    return float(current_app.config.get("FOLLOW_UP_SHARE", 0.8))


def horizon_days() -> int:
    return int(current_app.config.get("WIN_BACK_HORIZON_DAYS", 90))


def new_key() -> str:
    """The key a campaign form carries from first showing to confirming."""
    return secrets.token_urlsafe(24)


def default_period(action: ImprovementAction, today: date) -> tuple[date, date]:
    """The year before the action started: those who left before the fix."""
    until = min(action.started_on - timedelta(days=1), today)
    return until - timedelta(days=DEFAULT_PERIOD_DAYS - 1), until


def clean(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return _PRIVATE.sub("", text).strip()


@dataclass(frozen=True)
class Texts:
    subject_nl: str
    body_nl: str
    subject_en: str
    body_en: str

    def subject(self, lang: str) -> str:
        return self.subject_nl if lang == "nl" else self.subject_en

    def body(self, lang: str) -> str:
        return self.body_nl if lang == "nl" else self.body_en


# --- Who ---------------------------------------------------------------------


def _latest_reason() -> sa.ScalarSelect:
    """The main reason of the customer's latest submitted answer."""
    return (
        sa.select(Response.primary_reason)
        .where(Response.customer_id == Customer.id, Response.submitted_at.is_not(None))
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def _latest_language() -> sa.ScalarSelect:
    return (
        sa.select(Response.language)
        .where(Response.customer_id == Customer.id, Response.submitted_at.is_not(None))
        .order_by(Response.submitted_at.desc(), Response.id.desc())
        .limit(1)
        .correlate(Customer)
        .scalar_subquery()
    )


def matching(reason: str, since: date, until: date) -> sa.Select:
    """Ids of those who departed in [since, until] with this main reason."""
    start = datetime.combine(since, time.min, tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), time.min, tzinfo=UTC)
    return sa.select(Customer.id).where(
        Customer.departed_at >= start,
        Customer.departed_at < end,
        _latest_reason() == reason,
    )


@dataclass
class Selection:
    """Who a campaign would reach now: matched, eligible, and why not the rest."""

    matched: int = 0
    eligible: list[int] = field(default_factory=list)
    # rule -> count, in RULES order, only rules that left someone out
    excluded: dict[str, int] = field(default_factory=dict)
    # language -> eligible people who would read it
    languages: dict[str, int] = field(default_factory=dict)


def select(reason: str, since: date, until: date) -> Selection:
    """Match, apply the eligibility rule, and count what each rule left out."""
    now = clock.now()
    ids = list(db.session.scalars(matching(reason, since, until)))
    result = Selection(matched=len(ids))
    if not ids:
        return result
    allowed = eligibility.eligible_ids(ids, now)
    consent = eligibility._latest_consent_answer()
    flags = {
        "erased": Customer.erased_at.is_not(None),
        "won_back": sa.or_(
            Customer.status != CustomerStatus.DEPARTED,
            sa.exists().where(WinBack.customer_id == Customer.id),
        ),
        "unsubscribed": Customer.unsubscribed_at.is_not(None),
        "undeliverable": sa.or_(
            Customer.email.is_(None),
            Customer.email == "",
            Customer.bounced_at.is_not(None),
        ),
        "no_consent": sa.func.coalesce(consent, "") != f'"{CONSENT_YES}"',
        "recently_contacted": Customer.id.in_(eligibility.recently_contacted(now)),
        "in_campaign": Customer.id.in_(operations.open_customers(KIND, now)),
        "held_back": Customer.id.in_(operations.held_back_ids()),
    }
    columns = [sa.case((condition, 1), else_=0) for condition in flags.values()]
    rows = db.session.execute(
        sa.select(Customer.id, Customer.email, *columns).where(
            bulk.one_of(Customer.id, ids)
        )
    ).all()
    blocked = suppressed_among([row.email for row in rows if row.email])
    counts = dict.fromkeys(RULES, 0)
    for row in rows:
        found = dict(zip(flags, row[2:], strict=True))
        if row.email and email_hash(row.email) in blocked:
            found["undeliverable"] = 1
        if row.id in allowed and not found["held_back"] and not found["in_campaign"]:
            result.eligible.append(row.id)
            continue
        if row.id in allowed:
            rule = "in_campaign" if found["in_campaign"] else "held_back"
        else:
            rule = next((name for name, on in found.items() if on), "other")
        counts[rule] += 1
    result.eligible.sort()
    result.excluded = {rule: n for rule, n in counts.items() if n}
    for lang in languages(result.eligible).values():
        result.languages[lang] = result.languages.get(lang, 0) + 1
    return result


def languages(customer_ids: list[int]) -> dict[int, str]:
    """customer id -> the language to write to them in: theirs, else that of
    their latest answer, else the default language."""
    default = current_app.config["DEFAULT_LANGUAGE"]
    found = {}
    for start in range(0, len(customer_ids), 1000):
        chunk = customer_ids[start : start + 1000]
        rows = db.session.execute(
            sa.select(Customer.id, Customer.language, _latest_language()).where(
                Customer.id.in_(chunk)
            )
        )
        for cid, own, answered in rows:
            lang = own or answered or default
            found[cid] = getattr(lang, "value", lang)
    return found


# --- The mail ------------------------------------------------------------------


def _paragraphs(text: str) -> list[str]:
    parts = re.split(r"\n\s*\n", text.replace("\r", ""))
    return [p.strip() for p in parts if p.strip()]


def _html_paragraphs(text: str) -> list[Markup]:
    """The manager's text as HTML paragraphs: everything escaped, line breaks
    kept, ``{name}`` a marker filled in per person."""
    found = []
    for paragraph in _paragraphs(text):
        lines = [
            str(escape(line)).replace(NAME, _NAME) for line in paragraph.split("\n")
        ]
        found.append(Markup("<br>".join(lines)))
    return found


class _Skeleton:
    """The campaign's mail in one language, markers where people differ."""

    def __init__(self, texts: Texts, lang: str):
        brand = branding.current()
        logo_url = None
        if brand.logo_sha:
            logo_url = links.external("brand.logo_file", sha=brand.logo_sha)
        context = {
            "company": current_app.config["COMPANY_NAME"],
            "brand_colour": brand.colour,
            "logo_url": logo_url,
            "unsubscribe_url": _UNSUBSCRIBE,
            "lang": lang,
        }
        body = texts.body(lang).replace(NAME, _NAME)
        with force_locale(lang):
            text = render_template(
                "email/campaign.txt", paragraphs=_paragraphs(body), **context
            )
            html = render_template(
                "email/campaign.html",
                paragraphs=_html_paragraphs(texts.body(lang)),
                **context,
            )
        self.lang = lang
        # A subject is one line (a line break would make the mail unsendable).
        self.subject = " ".join(texts.subject(lang).split())
        self.text, self.html = _MARKERS.split(text), _MARKERS.split(html)

    def mail(self, name: str | None, customer_id: int | None) -> dict:
        # Names come from files and systems and may hold line breaks: one
        # line, so the subject stays a valid header.
        name = " ".join((name or "").split()) or NO_NAME.get(self.lang, NO_NAME["en"])
        if customer_id is None:
            # A preview: the text says what goes there, the link goes nowhere.
            headers = {}
            unsubscribe = PREVIEW_LINK.get(self.lang, PREVIEW_LINK["en"])
            link = "#"
        else:
            headers = mails.unsubscribe_headers(customer_id)
            # The link in the text is the one in the header: "<https://…>, <mailto:…>".
            unsubscribe = headers["List-Unsubscribe"].split(">", 1)[0].lstrip("<")
            link = unsubscribe
        plain = {_NAME: name, _UNSUBSCRIBE: unsubscribe}
        html = {_NAME: str(escape(name)), _UNSUBSCRIBE: str(escape(link))}
        return {
            "subject": self.subject.replace(NAME, name)[:300],
            "body_text": _fill(self.text, plain),
            "body_html": _fill(self.html, html),
            "headers": headers,
        }


# In a preview, where each recipient's own link will be.
PREVIEW_LINK = {
    "nl": "[hier komt de persoonlijke afmeldlink]",
    "en": "[each recipient's own unsubscribe link]",
}


def _fill(parts: list[str], values: dict[str, str]) -> str:
    filled = parts[:]
    for i in range(1, len(filled), 2):
        filled[i] = values[filled[i]]
    return "".join(filled)


def sample(texts: Texts, lang: str, name: str) -> dict:
    """The mail as someone called ``name`` reads it in ``lang``."""
    return _Skeleton(texts, lang).mail(name, None)


# --- Sending -------------------------------------------------------------------


@dataclass
class Sent:
    campaign: Campaign | None
    # False: this key's campaign existed already, and nothing more was sent.
    created: bool
    selection: Selection | None = None


def _existing(key: str) -> Campaign | None:
    return db.session.scalars(sa.select(Campaign).where(Campaign.key == key)).first()


def send(
    action: ImprovementAction,
    *,
    key: str,
    since: date,
    until: date,
    texts: Texts,
    share: float,
    by: User | None,
) -> Sent:
    """Draw the eligible into mailed and held back, and write the mails, in
    one transaction; the caller commits. A key used before sends nothing."""
    # End any read transaction first, so that on SQLite the insert below waits
    # for a concurrent confirm to finish instead of failing; then wait for any
    # follow-up or campaign being decided.
    db.session.commit()
    eligibility.decide_one_at_a_time()
    campaign = Campaign(
        key=key,
        action_id=action.id,
        reason=action.reason,
        period_since=since,
        period_until=until,
        share=share,
        created_by_id=by.id if by else None,
        created_at=clock.now(),
        excluded={},
        **texts.__dict__,
    )
    db.session.add(campaign)
    try:
        db.session.flush()
    except IntegrityError:
        db.session.rollback()
        return Sent(_existing(key), created=False)
    selection = select(action.reason.value, since, until)
    campaign.matched = selection.matched
    if not selection.eligible:
        db.session.rollback()
        return Sent(None, created=True, selection=selection)
    people = db.session.scalars(
        sa.select(Customer)
        .options(load_only(*DRAWN_COLUMNS))
        .where(bulk.one_of(Customer.id, selection.eligible))
        .order_by(Customer.id)
    ).all()
    experiment, already = operations.start(
        KIND,
        people,
        by,
        share=share,
        horizon_days=horizon_days(),
        title=action.title,
    )
    if already:
        selection.excluded["in_campaign"] = len(already)
    if experiment is None:
        db.session.rollback()
        return Sent(None, created=True, selection=selection)
    treated = _treated(experiment)
    _write_mails(treated, texts)
    _tell_held_back(experiment)
    campaign.experiment_id = experiment.id
    campaign.eligible = len(selection.eligible) - len(already)
    campaign.mailed = len(treated)
    campaign.held_back = campaign.eligible - len(treated)
    campaign.excluded = selection.excluded
    audit.record(
        "campaign.create",
        campaign,
        user=by,
        action_id=action.id,
        experiment_id=experiment.id,
        mailed=campaign.mailed,
        held_back=campaign.held_back,
    )
    return Sent(campaign, created=True, selection=selection)


def _treated(experiment: Experiment) -> list[tuple[int, str, str | None]]:
    """(id, address, name) of the experiment's treated, by id."""
    return db.session.execute(
        sa.select(Customer.id, Customer.email, Customer.name)
        .join(Assignment, Assignment.customer_id == Customer.id)
        .where(
            Assignment.experiment_id == experiment.id,
            Assignment.group == ExperimentGroup.TREATED,
        )
        .order_by(Customer.id)
    ).all()


def _tell_held_back(experiment: Experiment) -> None:
    """A followup.result webhook event for each person held back (the mailed
    get theirs when their mail is sent or fails)."""
    held_back = db.session.scalars(
        sa.select(Assignment.customer_id).where(
            Assignment.experiment_id == experiment.id,
            Assignment.group == ExperimentGroup.HELD_BACK,
        )
    )
    for customer_id in held_back:
        events.followup_result(
            experiment_id=experiment.id,
            kind=KIND.value,
            group=ExperimentGroup.HELD_BACK.value,
            outcome="held_back",
            customer_id=customer_id,
        )


def _write_mails(treated, texts: Texts) -> None:
    due = next_send_time(clock.now())
    language = languages([row.id for row in treated])
    skeletons: dict[str, _Skeleton] = {}
    messages = []
    for cid, email, name in treated:
        lang = language[cid]
        skeleton = skeletons.get(lang) or skeletons.setdefault(
            lang, _Skeleton(texts, lang)
        )
        messages.append(
            {
                "kind": OUTBOX_KIND,
                "to_address": email,
                "language": lang,
                "customer_id": cid,
                "due_at": due,
                **skeleton.mail(name, cid),
            }
        )
    outbox.enqueue_many(messages)


def for_experiment(experiment_id: int) -> Campaign | None:
    return db.session.scalars(
        sa.select(Campaign).where(Campaign.experiment_id == experiment_id)
    ).first()
