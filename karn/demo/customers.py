"""Seeding the demo's users, departed customers and their invitations."""

import math
import random
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from karn.accounts import operations
from karn.accounts.models import User
from karn.customers.models import Customer, Suppression
from karn.demo.common import (
    BATCH,
    DEMO_LOGINS,
    DEMO_MARK,
    EXTERNAL_PREFIX,
    LINK_VALID_DAYS,
    REMINDER_DAYS,
    DemoError,
    _business_hours,
    _money,
    _phone,
    _pick,
    _reason_mix,
    _seasonal_days,
    _slug,
    demo_comment,
)
from karn.demo.texts import (
    FIRST_EN,
    FIRST_NL,
    LAST_EN,
    LAST_NL,
    REASONS,
    REGIONS,
    SEGMENTS,
    SOURCES,
)
from karn.enums import InvitationStatus, Language, Reason, Role, Source
from karn.extensions import db
from karn.surveys import delivery, links
from karn.surveys.models import Invitation

# -------------------------------------------------------------- the seeding


def _refuse_unless_empty() -> None:
    departed = db.session.scalar(sa.select(sa.func.count(Customer.id)))
    if departed:
        raise DemoError(
            f"This database already holds {departed} departed customers; the demo "
            "only fills an empty database. Point KARN_DATABASE_URL at a new "
            "database (as `make demo` does) and run it there."
        )
    emails = [login[0] for login in DEMO_LOGINS]
    taken = db.session.scalars(sa.select(User.email).where(User.email.in_(emails)))
    taken = sorted(taken)
    if taken:
        raise DemoError(
            "The demo users exist already here (" + ", ".join(taken) + "); the demo "
            "only fills an empty database."
        )


def _make_users() -> dict[Role, list[User]]:
    users: dict[Role, list[User]] = {}
    for email, name, role, language, password in DEMO_LOGINS:
        user, _ = operations.create_user(email, name, role, language, password)
        users.setdefault(role, []).append(user)
    return users


def _customer_rows(
    rng: random.Random, count: int, start: datetime, now: datetime, action: datetime
) -> list[dict[str, Any]]:
    rows = []
    segments = {name: spec[0] for name, spec in SEGMENTS.items()}
    for number, departed in enumerate(_seasonal_days(rng, start, now, count), 1):
        lang = "nl" if rng.random() < 0.7 else "en"
        first, last = (
            (rng.choice(FIRST_NL), rng.choice(LAST_NL))
            if lang == "nl"
            else (rng.choice(FIRST_EN), rng.choice(LAST_EN))
        )
        segment = _pick(rng, segments)
        _share, plans, tenure_median = SEGMENTS[segment]
        plan = _pick(rng, {name: spec[0] for name, spec in plans.items()})
        _p, price, spread = plans[plan]
        monthly = price * math.exp(rng.gauss(0, spread)) if spread else price
        tenure = max(
            1, min(180, round(rng.lognormvariate(math.log(tenure_median), 0.8)))
        )
        lifetime = monthly * tenure * rng.uniform(0.85, 1.1)
        source = _pick(rng, SOURCES[segment])
        reason = _pick(rng, _reason_mix(segment, departed, action))
        stated = comment = None
        if source == Source.STRIPE and rng.random() < 0.6:
            # Stripe's cancellation feedback: mostly what they will also tell us.
            stated = reason if rng.random() < 0.8 else rng.choice(REASONS)
            if rng.random() < 0.3:
                comment = demo_comment(rng, lang, stated, "negative")
        has_email = rng.random() > 0.03
        email = f"{_slug(first)}.{_slug(last)}.{number}@example.com"
        imported = departed + timedelta(minutes=rng.randrange(10, 600))
        rows.append(
            {
                "external_id": f"{EXTERNAL_PREFIX}{number:05d}",
                "email": email if has_email else None,
                "name": f"{first} {last}",
                "phone": _phone(rng, lang) if rng.random() < 0.6 else None,
                "language": Language(lang),
                "departed_at": departed,
                "plan": plan,
                "segment": segment,
                "region": _pick(rng, REGIONS),
                "tenure_months": tenure,
                "monthly_revenue": _money(monthly),
                "lifetime_value": _money(lifetime),
                "source": source,
                "extra": dict(DEMO_MARK),
                "stated_reason": Reason(stated) if stated else None,
                "stated_comment": comment,
                "delivery_failures": 0,
                "unsubscribed_at": None,
                "bounced_at": None,
                "created_at": min(imported, now),
                "updated_at": min(imported, now),
                # Not columns: what the rest of the seed needs to know.
                "_reason": reason,
            }
        )
    return rows


def _insert_customers(rows: list[dict[str, Any]]) -> None:
    columns = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    for start in range(0, len(columns), BATCH):
        db.session.execute(sa.insert(Customer), columns[start : start + BATCH])
    ids: dict[str, int] = {}
    external = [row["external_id"] for row in rows]
    for start in range(0, len(external), BATCH):
        chunk = external[start : start + BATCH]
        ids.update(
            db.session.execute(
                sa.select(Customer.external_id, Customer.id).where(
                    Customer.external_id.in_(chunk)
                )
            ).all()
        )
    for row in rows:
        row["_id"] = ids[row["external_id"]]
    db.session.commit()


def _plan_invitation(
    rng: random.Random, row: dict[str, Any], now: datetime, version_id: int
) -> dict[str, Any] | None:
    """One customer's invitation, its fate, and when they answered (if they did)."""
    if not row["email"]:
        return None
    departed = row["departed_at"]
    scheduled = departed + timedelta(hours=48)
    invitation: dict[str, Any] = {
        "customer_id": row["_id"],
        "survey_id": None,  # set by the caller
        "survey_version_id": None,
        "status": InvitationStatus.SCHEDULED,
        "scheduled_for": scheduled,
        "sent_at": None,
        "reminders_sent": 0,
        "last_reminded_at": None,
        "responded_at": None,
        "expires_at": None,
        "closed_at": None,
        "created_at": row["created_at"],
        "_respond_at": None,
    }
    sent = _business_hours(rng, scheduled + timedelta(minutes=rng.randrange(1, 20)))
    if sent > now:
        return invitation  # the worker sends it when `make demo` runs
    invitation.update(
        status=InvitationStatus.SENT,
        sent_at=sent,
        survey_version_id=version_id,
        expires_at=sent + timedelta(days=LINK_VALID_DAYS),
    )
    reminders = [sent + timedelta(days=d) for d in REMINDER_DAYS]
    if rng.random() < 0.025:
        bounced = sent + timedelta(minutes=rng.randrange(1, 30))
        invitation.update(status=InvitationStatus.BOUNCED, closed_at=bounced)
        row["bounced_at"] = bounced
        row["delivery_failures"] = 1
        return invitation
    rate = {"Particulier": 0.33, "MKB": 0.38, "Enterprise": 0.46}[row["segment"]]
    if rng.random() < rate:
        # Most answer the invitation; the reminders each bring some more.
        stage = rng.choices((0, 1, 2), weights=(0.58, 0.27, 0.15))[0]
        opened = sent if stage == 0 else reminders[stage - 1]
        window = (REMINDER_DAYS[0], REMINDER_DAYS[1] - REMINDER_DAYS[0], 14)[stage]
        delay = min(rng.expovariate(1 / 0.6), window - 0.01)
        respond_at = _business_hours(rng, opened + timedelta(days=delay))
        if respond_at < now - timedelta(minutes=10):
            invitation["_respond_at"] = respond_at
            invitation["reminders_sent"] = stage
            if stage:
                invitation["status"] = InvitationStatus.REMINDED
                invitation["last_reminded_at"] = reminders[stage - 1]
            return invitation
    due = [r for r in reminders if r <= now]
    if rng.random() < 0.02:
        # Unsubscribed from an invitation or a reminder mail.
        after = rng.choice([sent, *due])
        moment = min(after + timedelta(hours=rng.uniform(0.5, 30)), now)
        invitation.update(status=InvitationStatus.UNSUBSCRIBED, closed_at=moment)
        row["unsubscribed_at"] = moment
        return invitation
    invitation["reminders_sent"] = len(due)
    if due:
        invitation.update(status=InvitationStatus.REMINDED, last_reminded_at=due[-1])
    if invitation["expires_at"] <= now:
        invitation.update(
            status=InvitationStatus.EXPIRED, closed_at=invitation["expires_at"]
        )
    return invitation


def _insert_invitations(invitations: list[dict[str, Any]]) -> None:
    columns = [
        {k: v for k, v in inv.items() if not k.startswith("_")} for inv in invitations
    ]
    for start in range(0, len(columns), BATCH):
        db.session.execute(sa.insert(Invitation), columns[start : start + BATCH])
    by_customer = dict(
        db.session.execute(sa.select(Invitation.customer_id, Invitation.id)).all()
    )
    hashes = []
    for inv in invitations:
        inv["_id"] = by_customer[inv["customer_id"]]
        if inv["sent_at"] is not None:
            # The hash of the link's token, as the worker stores it on sending,
            # so the personal links of the demo work.
            inv["_token_hash"] = links.token_hash(links.invitation_token(inv["_id"]))
            hashes.append({"iid": inv["_id"], "th": inv["_token_hash"]})
    update = (
        sa.update(Invitation.__table__)
        .where(Invitation.__table__.c.id == sa.bindparam("iid"))
        .values(token_hash=sa.bindparam("th"))
    )
    for start in range(0, len(hashes), BATCH):
        db.session.execute(update, hashes[start : start + BATCH])
    db.session.commit()


def _mark_unmailable(rows: list[dict[str, Any]]) -> None:
    bounced = [
        {"cid": r["_id"], "at": r["bounced_at"]} for r in rows if r["bounced_at"]
    ]
    if bounced:
        db.session.execute(
            sa.update(Customer.__table__)
            .where(Customer.__table__.c.id == sa.bindparam("cid"))
            .values(
                bounced_at=sa.bindparam("at"),
                delivery_failures=1,
                updated_at=sa.bindparam("at"),
            ),
            bounced,
        )
    unsubscribed = [r for r in rows if r["unsubscribed_at"]]
    if unsubscribed:
        db.session.execute(
            sa.update(Customer.__table__)
            .where(Customer.__table__.c.id == sa.bindparam("cid"))
            .values(unsubscribed_at=sa.bindparam("at"), updated_at=sa.bindparam("at")),
            [{"cid": r["_id"], "at": r["unsubscribed_at"]} for r in unsubscribed],
        )
        db.session.execute(
            sa.insert(Suppression),
            [
                {
                    "email_hash": delivery.email_hash(r["email"]),
                    "email": r["email"],
                    "reason": "unsubscribed",
                    "created_at": r["unsubscribed_at"],
                }
                for r in unsubscribed
            ],
        )
    db.session.commit()
