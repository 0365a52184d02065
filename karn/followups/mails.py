"""Rendering a follow-up mail: the manager's texts in Karn's mail layout.

The subject, text and offer line are plain text a manager wrote. They are
never run as a template: the one placeholder, ``{name}``, is replaced by the
person's name (escaped for HTML like any text), and everything else is shown
as written. A follow-up is rendered once per language with markers where the
name and the unsubscribe link go, and filled in per person.
"""

import re

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _
from markupsafe import escape

from karn.surveys import branding, links
from karn.surveys import mails as survey_mails

PLACEHOLDER = "{name}"
# Private-use characters: no translation, escaping or person's data has them.
_NAME, _UNSUBSCRIBE = "\ue000karn-n\ue001", "\ue000karn-u\ue001"
_MARKERS = re.compile(f"({_NAME}|{_UNSUBSCRIBE})")
_PRIVATE = re.compile("[\ue000-\uf8ff]")
_BLANK_LINES = re.compile(r"\n\s*\n")


def _clean(text: str | None) -> str:
    """The manager's text with unified line ends and no marker characters."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    return _PRIVATE.sub("", text).strip()


def _with_marker(text: str) -> str:
    return text.replace(PLACEHOLDER, _NAME)


def _paragraphs(body: str) -> list[list[str]]:
    """Paragraphs (split at blank lines), each a list of its lines."""
    return [
        [line.rstrip() for line in block.strip().split("\n")]
        for block in _BLANK_LINES.split(body)
        if block.strip()
    ]


def _brand() -> dict:
    brand = branding.current()
    logo_url = None
    if brand.logo_sha:
        logo_url = links.external("brand.logo_file", sha=brand.logo_sha)
    return {"brand_colour": brand.colour, "logo_url": logo_url}


class Skeleton:
    """One follow-up rendered in one language, markers where people differ."""

    def __init__(self, texts: dict[str, str | None], lang: str):
        self.lang = lang
        subject = " ".join(_clean(texts["subject"]).split())
        body = _with_marker(_clean(texts["body"]))
        offer = " ".join(_with_marker(_clean(texts.get("offer"))).split()) or None
        context = {
            "company": current_app.config["COMPANY_NAME"],
            "paragraphs": _paragraphs(body),
            "offer": offer,
            "unsubscribe_url": _UNSUBSCRIBE,
            **_brand(),
        }
        with force_locale(lang):
            self.nameless = _("customer")
            text = render_template("email/follow_up.txt", **context)
            html = render_template("email/follow_up.html", lang=lang, **context)
        self.subject = _with_marker(subject)
        self.text, self.html = _MARKERS.split(text), _MARKERS.split(html)

    def mail(self, name: str | None, unsubscribe_url: str) -> dict[str, str]:
        """Subject, text and HTML for one person."""
        name = " ".join((name or "").split()) or self.nameless
        plain = {_NAME: name, _UNSUBSCRIBE: unsubscribe_url}
        html = {marker: str(escape(value)) for marker, value in plain.items()}
        return {
            "subject": self.subject.replace(_NAME, name)[:300],
            "body_text": _fill(self.text, plain),
            "body_html": _fill(self.html, html),
        }


def _fill(parts: list[str], values: dict[str, str]) -> str:
    filled = parts[:]
    for i in range(1, len(filled), 2):
        filled[i] = values[filled[i]]
    return "".join(filled)


class Addresser:
    """Unsubscribe links and headers for the people of a batch: the link is
    built once and completed per person's token, as the survey mail does."""

    def __init__(self):
        self.link = survey_mails._Link("respond.unsubscribe", "unsubscribe_token")
        self.sender = survey_mails._sender()

    def mail(self, skeleton: Skeleton, customer_id: int, name: str | None) -> dict:
        """The whole mail for one customer: subject, text, HTML and the
        List-Unsubscribe headers (one click in the mail client stops all mail)."""
        token = links.unsubscribe_token(customer_id)
        url = self.link(token)
        headers = survey_mails._unsubscribe_header(url, token, self.sender)
        return {**skeleton.mail(name, url), "headers": headers}
