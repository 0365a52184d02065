"""Rendering survey mail: one function per kind, text and HTML, in one language."""

from email.utils import parseaddr

from flask import current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from karn.customers.models import Customer
from karn.surveys import links


def _greeting_name(customer: Customer) -> str | None:
    return (customer.name or "").strip() or None


def unsubscribe_headers(customer_id: int) -> dict[str, str]:
    """RFC 2369 and RFC 8058 headers: one-click unsubscribe by mail client."""
    token = links.unsubscribe_token(customer_id)
    url = links.external("respond.unsubscribe", unsubscribe_token=token)
    sender = (
        current_app.config.get("MAIL_ENVELOPE_FROM")
        or parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]
    )
    return {
        "List-Unsubscribe": f"<{url}>, <mailto:{sender}?subject=unsubscribe%20{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


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
    with force_locale(lang):
        if kind == "invitation":
            subject = _(
                "Why did you leave %(company)s? Two minutes of your time",
                company=context["company"],
            )
        else:
            subject = _(
                "A reminder: what made you leave %(company)s?",
                company=context["company"],
            )
        text = render_template(f"email/{kind}.txt", **context)
        html = render_template(f"email/{kind}.html", lang=lang, **context)
    return {
        "subject": subject,
        "body_text": text,
        "body_html": html,
        "headers": unsubscribe_headers(customer.id),
    }
