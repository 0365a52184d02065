"""Rendering survey mail: one function per kind, text and HTML, in one language.

`survey_mail` renders one mail from the templates. `survey_mails` writes a
whole batch: it renders each template once per language (and with or without
a name to greet), with markers where the person's name and links go, and fills
those in per person, escaped for HTML as the template would. Before it uses a
rendering it checks it against `survey_mail` for the first person, and falls
back to `survey_mail` for every person should they ever differ.
"""

import logging
import re
from dataclasses import dataclass
from email.utils import parseaddr
from types import SimpleNamespace

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape

from karn.customers.models import Customer
from karn.surveys import branding, links

log = logging.getLogger(__name__)

# Markers for what differs per person: private-use characters, which neither
# HTML escaping nor a translation touches, and no person's data contains.
_NAME, _SURVEY, _UNSUBSCRIBE = (f"\ue000karn-{what}\ue001" for what in "nsu")
_MARKERS = re.compile(f"({_NAME}|{_SURVEY}|{_UNSUBSCRIBE})")
# Stand-ins for a token in a link: characters a URL keeps as they are.
_TOKEN = "KarnTokenSlot"
_URL_SAFE = re.compile(r"[A-Za-z0-9_.~-]+")


def _greeting_name(customer: Customer) -> str | None:
    return (customer.name or "").strip() or None


def _sender() -> str:
    return (
        current_app.config.get("MAIL_ENVELOPE_FROM")
        or parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    )


def _unsubscribe_header(url: str, token: str, sender: str) -> dict[str, str]:
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:{sender}?subject=unsubscribe%20{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def unsubscribe_headers(customer_id: int) -> dict[str, str]:
    """RFC 2369 and RFC 8058 headers: one-click unsubscribe by mail client."""
    token = links.unsubscribe_token(customer_id)
    url = links.external("respond.unsubscribe", unsubscribe_token=token)
    return _unsubscribe_header(url, token, _sender())


def _subject(kind: str, company: str) -> str:
    if kind == "invitation":
        return _(
            "Why did you leave %(company)s? Two minutes of your time", company=company
        )
    return _("A reminder: what made you leave %(company)s?", company=company)


def _brand() -> dict:
    """The company's colour and logo for the mail's header (karn.surveys.branding)."""
    brand = branding.current()
    logo_url = None
    if brand.logo_sha:
        logo_url = links.external("brand.logo_file", sha=brand.logo_sha)
    return {"brand_colour": brand.colour, "logo_url": logo_url}


def _render(kind: str, lang: str, context: dict) -> tuple[str, str, str]:
    context = {**context, **_brand()}
    with force_locale(lang):
        subject = _subject(kind, context["company"])
        text = render_template(f"email/{kind}.txt", **context)
        html = render_template(f"email/{kind}.html", lang=lang, **context)
    return subject, text, html


def survey_mail(kind: str, customer: Customer, invitation_id: int, lang: str) -> dict:
    """An invitation or reminder: subject, text, html and headers."""
    token = links.invitation_token(invitation_id)
    context = {
        "name": _greeting_name(customer),
        "company": current_app.config["COMPANY_NAME"],
        "survey_url": links.external("respond.survey", token=token),
        "unsubscribe_url": links.external(
            "respond.unsubscribe",
            unsubscribe_token=links.unsubscribe_token(customer.id),
        ),
    }
    subject, text, html = _render(kind, lang, context)
    return {
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "headers": unsubscribe_headers(customer.id),
    }


@dataclass
class Recipient:
    """Whom a survey mail of a batch goes to."""

    customer_id: int
    invitation_id: int
    name: str | None
    language: str
    # The invitation's token, when the caller has it already.
    token: str | None = None


class _Link:
    """An absolute link to an endpoint, built once and completed per token."""

    def __init__(self, endpoint: str, argument: str):
        self.endpoint, self.argument = endpoint, argument
        url = links.external(endpoint, **{argument: _TOKEN})
        self.parts = url.split(_TOKEN)

    def __call__(self, token: str) -> str:
        if len(self.parts) != 2 or not _URL_SAFE.fullmatch(token):
            return links.external(self.endpoint, **{self.argument: token})
        return token.join(self.parts)


def _fill(parts: list[str], values: dict[str, str]) -> str:
    filled = parts[:]
    for i in range(1, len(filled), 2):
        filled[i] = values[filled[i]]
    return "".join(filled)


class _Skeleton:
    """A kind of mail rendered once for a language, markers where people differ."""

    def __init__(self, kind: str, lang: str, named: bool, company: str):
        context = {
            "name": _NAME if named else None,
            "company": company,
            "survey_url": _SURVEY,
            "unsubscribe_url": _UNSUBSCRIBE,
        }
        self.subject, text, html = _render(kind, lang, context)
        self.text, self.html = _MARKERS.split(text), _MARKERS.split(html)
        self.checked = self.usable = False

    def mail(self, name: str | None, survey_url: str, unsubscribe_url: str) -> dict:
        text = {_NAME: name, _SURVEY: survey_url, _UNSUBSCRIBE: unsubscribe_url}
        html = {
            marker: str(escape(value))
            for marker, value in text.items()
            if value is not None
        }
        return {
            "subject": self.subject,
            "body_text": _fill(self.text, text),
            "body_html": _fill(self.html, html),
        }


def _person(recipient: Recipient) -> SimpleNamespace:
    """What `survey_mail` reads of a customer."""
    return SimpleNamespace(id=recipient.customer_id, name=recipient.name)


def survey_mails(kind: str, recipients: list[Recipient]) -> list[dict]:
    """The invitations or reminders of a batch, in the order of the recipients:
    subject, text, html and headers, exactly as `survey_mail` writes each."""
    company = current_app.config["COMPANY_NAME"]
    sender = _sender()
    survey_link = _Link("respond.survey", "token")
    unsubscribe_link = _Link("respond.unsubscribe", "unsubscribe_token")
    skeletons: dict[tuple[str, bool], _Skeleton] = {}
    mails = []
    for person in recipients:
        name = (person.name or "").strip() or None
        key = (person.language, name is not None)
        skeleton = skeletons.get(key)
        if skeleton is None:
            skeleton = skeletons[key] = _Skeleton(kind, *key, company)
        token = person.token or links.invitation_token(person.invitation_id)
        unsubscribe_token = links.unsubscribe_token(person.customer_id)
        unsubscribe_url = unsubscribe_link(unsubscribe_token)
        mail = skeleton.mail(name, survey_link(token), unsubscribe_url)
        mail["headers"] = _unsubscribe_header(
            unsubscribe_url, unsubscribe_token, sender
        )
        if not skeleton.checked:
            skeleton.checked = True
            reference = survey_mail(
                kind, _person(person), person.invitation_id, person.language
            )
            skeleton.usable = mail == reference
            if not skeleton.usable:
                log.warning("%s mail in %s rendered per person", kind, key[0])
        if not skeleton.usable:
            mail = survey_mail(
                kind, _person(person), person.invitation_id, person.language
            )
        mails.append(mail)
    return mails
