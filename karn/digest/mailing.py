"""The digest by mail: once a period, to every active manager and staff member.

The mails and the DigestRun row of the period are written in one transaction.
The row's primary key is the period's first day, so when two workers prepare
the same digest at once the second commit fails and nothing of it is sent.
"""

import logging
import time

import sqlalchemy as sa
from flask import Flask, current_app, render_template
from flask_babel import force_locale
from flask_babel import gettext as _

from karn import clock
from karn.accounts.models import User
from karn.callbacks.models import DigestRun
from karn.digest import content
from karn.enums import Role
from karn.extensions import db
from karn.periods import OFF, Period
from karn.surveys import links, outbox

log = logging.getLogger(__name__)

KIND = "digest"
# After a failed attempt the worker tries again this much later, not every pass.
RETRY_SECONDS = 600
_RETRY_AT = "karn_digest_retry_at"


def recipients() -> list[User]:
    """Active managers and staff with an email address."""
    return db.session.scalars(
        sa.select(User)
        .where(
            User.active.is_(True),
            User.role.in_((Role.MANAGER, Role.STAFF)),
            User.email != "",
        )
        .order_by(User.id)
    ).all()


def render(period: Period, lang: str) -> dict[str, str]:
    """Subject, text and HTML of the period's digest mail in one language."""
    digest = content.build_for(period, lang)
    company = current_app.config["COMPANY_NAME"]
    context = {
        "digest": digest,
        "company": company,
        "page_url": links.external("digest.index", period=period.key),
        "pdf_url": links.external("digest.pdf", period=period.key),
    }
    with force_locale(lang):
        subject = _(
            "%(company)s team digest: %(period)s", company=company, period=digest.label
        )
        text = render_template("email/digest.txt", **context)
        html = render_template("email/digest.html", lang=lang, **context)
    return {"subject": subject, "body_text": text, "body_html": html}


def send(period: Period, force: bool = False) -> int | None:
    """Queue the period's digest for every recipient and record that it went out.

    Returns the number of recipients, or None when the digest of this period
    went out before (unless forced) or another worker recorded it first.
    """
    run = db.session.get(DigestRun, period.start)
    if run is not None and not force:
        return None
    people = recipients()
    mails: dict[str, dict[str, str]] = {}
    for user in people:
        lang = user.language.value
        if lang not in mails:
            mails[lang] = render(period, lang)
        outbox.enqueue(
            kind=KIND,
            to_address=user.email,
            language=lang,
            user_id=user.id,
            **mails[lang],
        )
    if run is None:
        db.session.add(
            DigestRun(
                period_start=period.start,
                period_end=period.end,
                recipients=len(people),
            )
        )
    else:
        run.period_end, run.recipients, run.created_at = (
            period.end,
            len(people),
            clock.now(),
        )
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another worker recorded this period between our check and our commit;
        # its mails are the ones that go out.
        db.session.rollback()
        log.info("digest for %s already sent by another worker", period.key)
        return None
    return len(people)


def send_due() -> int | None:
    """Send the digest of the latest period that ended, unless it went out."""
    frequency = content.frequency()
    if frequency == OFF:
        return None
    period = Period.latest_complete(content.local_today(), frequency)
    sent = send(period)
    if sent is not None:
        log.info("digest for %s queued for %d people", period.key, sent)
    return sent


def run_digest_job(app: Flask) -> int | None:
    """For each worker pass: mail the digest once its period has ended; never raises."""
    if time.monotonic() < app.extensions.get(_RETRY_AT, 0.0):
        return None
    try:
        with app.app_context():
            try:
                return send_due()
            finally:
                db.session.remove()
    except Exception:
        # The digest waits; sending the other mail must go on.
        app.extensions[_RETRY_AT] = time.monotonic() + RETRY_SECONDS
        log.exception("digest not sent; trying again in %d s", RETRY_SECONDS)
        return None
