"""Deliverability: what the receiving side said, and the pauses it calls for.

Every failed delivery — an SMTP refusal while sending, or a bounce or
complaint mail read later — is recorded as a `MailEvent`: when, the receiving
domain, the reason (karn.surveys.mail_reasons) and its effect, the status code
and the server's own words with the recipient's address taken out. The
deliverability page counts them by reason, by domain and by week.

A refusal of the *sender* (a blocklisting, a policy or authentication
failure, a spam verdict, too many connections) says nothing about the
customer, but mail to that receiving domain would meet the same refusal: the
domain is paused (`DomainPause`). The first pause lasts 15 minutes, each one
that follows an expired pause twice as long, up to 24 hours; a day without
a refusal after a pause ends starts the run again. Waiting mail uses up no
attempts; mail still held when its invitation expires is cancelled by the
outbox as mail past its useful time. An administrator can release a pause.
"""

import re
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import UTCDateTime
from karn.extensions import db

FIRST_PAUSE = timedelta(minutes=15)
LONGEST_PAUSE = timedelta(hours=24)
# A day without refusals after a pause ends starts the next run at 15 minutes.
QUIET_RESETS = timedelta(hours=24)
# The receiving server's words are kept this long at most.
MAX_TEXT = 500

# Where an event came from.
SMTP = "smtp"  # a refusal while sending
BOUNCE = "bounce"  # a delivery-status notice read from the bounce mailbox
COMPLAINT = "complaint"  # a feedback report: the recipient marked it as spam
DELAY = "delay"  # a notice that delivery is still being tried


class MailEvent(db.Model):
    """One failed (or complained-about) delivery to one recipient."""

    __tablename__ = "mail_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, index=True
    )
    source: Mapped[str] = mapped_column(sa.String(16))
    domain: Mapped[str | None] = mapped_column(sa.String(253), index=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    effect: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str | None] = mapped_column(sa.String(16))
    # The server's words, with the recipient's address replaced.
    text: Mapped[str | None] = mapped_column(sa.Text)
    customer_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("customers.id", ondelete="SET NULL"), index=True
    )


class DomainPause(db.Model):
    """Mail to a receiving domain waits: that domain refused the sender."""

    __tablename__ = "mail_domain_pauses"

    domain: Mapped[str] = mapped_column(sa.String(253), primary_key=True)
    reason: Mapped[str] = mapped_column(sa.String(32))
    text: Mapped[str | None] = mapped_column(sa.Text)
    paused_at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    # Pauses in a row without a delivery in between: 0 for the first.
    level: Mapped[int] = mapped_column(default=0)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    released_by: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )

    @property
    def active(self) -> bool:
        return self.released_at is None and self.until > clock.now()


def domain_of(address: str | None) -> str | None:
    """The lower-case domain of an address, or None."""
    if not address or "@" not in address:
        return None
    domain = address.rsplit("@", 1)[1].strip().strip(">").lower()
    return domain[:253] or None


def _scrubbed(text: str | None, address: str | None) -> str | None:
    """The server's words without the recipient's address (personal data)."""
    if not text:
        return None
    text = " ".join(text.split())
    if address:
        text = re.sub(re.escape(address), "<recipient>", text, flags=re.I)
        local = address.split("@", 1)[0]
        if len(local) >= 4:
            # Only where it stands alone: "mail@..." must not eat "mailbox".
            text = re.sub(
                rf"(?<![\w.+-]){re.escape(local)}(?![\w+-])",
                "<recipient>",
                text,
                flags=re.I,
            )
    return text[:MAX_TEXT]


def record(
    source: str,
    reason: str,
    effect: str,
    *,
    address: str | None = None,
    domain: str | None = None,
    status: str | None = None,
    text: str | None = None,
    customer_id: int | None = None,
    now: datetime | None = None,
) -> MailEvent:
    """Record one event; flushes nothing, the caller commits."""
    event = MailEvent(
        occurred_at=now or clock.now(),
        source=source,
        domain=domain or domain_of(address),
        reason=reason,
        effect=effect,
        status=(status or None) and status[:16],
        text=_scrubbed(text, address),
        customer_id=customer_id,
    )
    db.session.add(event)
    return event


def pause(
    domain: str | None,
    reason: str,
    text: str | None = None,
    address: str | None = None,
    now: datetime | None = None,
) -> DomainPause | None:
    """Pause mail to a domain that refused the sender; a pause already running
    is kept as it is, one that ran out is followed by one twice as long."""
    if not domain:
        return None
    now = now or clock.now()
    row = db.session.get(DomainPause, domain, with_for_update=True)
    if row is not None and row.released_at is None and row.until > now:
        return row
    if row is None:
        row = DomainPause(domain=domain, level=0)
        db.session.add(row)
    elif row.released_at is None and now - row.until < QUIET_RESETS:
        row.level += 1
    else:
        # Released by hand, or a quiet day since the last pause ended: the
        # next refusal starts the run again. (Mail a relay accepted says
        # nothing about the receiving domain, so it does not end the run.)
        row.level = 0
    row.reason = reason
    row.text = _scrubbed(text, address)
    row.paused_at = now
    # The exponent is capped: a long run must not overflow a timedelta.
    row.until = now + min(FIRST_PAUSE * 2 ** min(row.level, 16), LONGEST_PAUSE)
    row.released_at = row.released_by = None
    db.session.flush()
    return row


def paused_domains(now: datetime | None = None) -> list[str]:
    """Domains whose mail waits now."""
    now = now or clock.now()
    return list(
        db.session.scalars(
            sa.select(DomainPause.domain).where(
                DomainPause.released_at.is_(None), DomainPause.until > now
            )
        )
    )


def release(domain: str, user_id: int | None) -> bool:
    """An administrator lets mail to a paused domain go again."""
    row = db.session.get(DomainPause, domain)
    if row is None or not row.active:
        return False
    row.released_at = clock.now()
    row.released_by = user_id
    return True


def _day(column):
    """The UTC day of a timestamp as 'YYYY-MM-DD', on either database."""
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    return sa.func.substr(column, 1, 10)


def summary(days: int = 30, now: datetime | None = None) -> dict:
    """What the page shows: events of the last `days` days by reason (with
    their effect), by receiving domain, and per day by effect."""
    now = now or clock.now()
    since = now - timedelta(days=days)
    recent = MailEvent.occurred_at >= since
    by_reason = db.session.execute(
        sa.select(MailEvent.reason, MailEvent.effect, sa.func.count())
        .where(recent, MailEvent.source != DELAY)
        .group_by(MailEvent.reason, MailEvent.effect)
        .order_by(sa.func.count().desc(), MailEvent.reason)
    ).all()
    blocked = sa.func.count(sa.case((MailEvent.effect == "sender_refused", 1)))
    # Failed deliveries only: a complaint is about mail that arrived.
    failed = MailEvent.source.not_in((DELAY, COMPLAINT))
    by_domain = db.session.execute(
        sa.select(MailEvent.domain, sa.func.count(), blocked)
        .where(recent, failed, MailEvent.domain.is_not(None))
        .group_by(MailEvent.domain)
        .order_by(sa.func.count().desc(), MailEvent.domain)
        .limit(20)
    ).all()
    day = _day(MailEvent.occurred_at).label("day")
    per_day: dict[date, dict[str, int]] = {}
    for d, effect, count in db.session.execute(
        sa.select(day, MailEvent.effect, sa.func.count())
        .where(recent, MailEvent.source != DELAY)
        .group_by(day, MailEvent.effect)
        .order_by(day)
    ):
        per_day.setdefault(date.fromisoformat(d), {})[effect] = count
    complaints = db.session.scalar(
        sa.select(sa.func.count()).where(recent, MailEvent.source == COMPLAINT)
    )
    # The newest words of each refusal of the sender, for the blocks table.
    blocks = db.session.execute(
        sa.select(
            MailEvent.domain,
            MailEvent.reason,
            MailEvent.status,
            MailEvent.text,
            MailEvent.occurred_at,
        )
        .where(recent, MailEvent.effect == "sender_refused")
        .order_by(MailEvent.occurred_at.desc(), MailEvent.id.desc())
        .limit(20)
    ).all()
    return {
        "days": days,
        "by_reason": by_reason,
        "by_domain": by_domain,
        "per_day": per_day,
        "complaints": complaints or 0,
        "blocks": blocks,
        "total": sum(c for r, _e, c in by_reason if r != COMPLAINT),
    }


def pauses() -> list[DomainPause]:
    """Pauses running now, longest first."""
    return list(
        db.session.scalars(
            sa.select(DomainPause)
            .where(DomainPause.released_at.is_(None), DomainPause.until > clock.now())
            .order_by(DomainPause.until.desc())
        )
    )


def smtp_refusal(address: str | None, failure, customer_id: int | None) -> None:
    """A refusal while sending (a mail_failures.Failure): recorded, and a
    refusal of the sender for this recipient pauses the recipient's domain."""
    record(
        SMTP,
        failure.reason,
        failure.kind,
        address=address,
        status=failure.status,
        text=failure.text,
        customer_id=customer_id,
    )
    if failure.kind == "sender_refused":
        pause(domain_of(address), failure.reason, failure.text, address)
