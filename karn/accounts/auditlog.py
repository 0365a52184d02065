"""Filtering and exporting the audit log (the admin page and its CSV share this)."""

import csv
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from karn import settings
from karn.accounts.models import AuditEntry, User
from karn.extensions import db
from karn.formatting import spreadsheet_cell

CSV_COLUMNS = (
    "id",
    "at",
    "user",
    "api_key_id",
    "action",
    "target_type",
    "target_id",
    "details",
    "ip",
)
CSV_BATCH = 1000


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text.strip()) if text else None
    except ValueError:
        return None


# Who did it: a person signed in, a program with an API key, or Karn itself
# (the worker, webhooks, mail processing). A failed sign-in is a person's.
ACTORS = ("people", "api", "system")


def actor_condition(actor: str):
    """SQL: the entry was made by that kind of actor."""
    person = sa.or_(
        AuditEntry.user_id.is_not(None), AuditEntry.action == "login.failed"
    )
    api = sa.and_(AuditEntry.api_key_id.is_not(None), AuditEntry.user_id.is_(None))
    if actor == "people":
        return person
    if actor == "api":
        return api
    return sa.and_(~person, ~api)


@dataclass
class AuditFilters:
    """Action (a prefix), user, kind of actor, and a range of days in the
    company's time zone."""

    action: str = ""
    user_id: int | None = None
    since: date | None = None
    until: date | None = None
    actor: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> "AuditFilters":
        """Read the filters from a query string; bad values are ignored."""
        user = (args.get("user") or "").strip()
        return cls(
            action=(args.get("action") or "").strip(),
            user_id=int(user) if user.isdigit() else None,
            since=_day(args.get("since")),
            until=_day(args.get("until")),
            actor=args.get("actor", "") if args.get("actor") in ACTORS else "",
        )

    def to_args(self) -> dict[str, str]:
        """The filters as query-string values (empty ones left out)."""
        args = {
            "action": self.action,
            "user": str(self.user_id) if self.user_id else "",
            "since": self.since.isoformat() if self.since else "",
            "until": self.until.isoformat() if self.until else "",
            "actor": self.actor,
        }
        return {k: v for k, v in args.items() if v}

    def conditions(self) -> list:
        """WHERE clauses for AuditEntry."""
        conds = []
        if self.action:
            conds.append(AuditEntry.action.startswith(self.action, autoescape=True))
        if self.user_id:
            conds.append(AuditEntry.user_id == self.user_id)
        if self.actor:
            conds.append(actor_condition(self.actor))
        zone = ZoneInfo(settings.get("TIMEZONE"))
        if self.since:
            conds.append(AuditEntry.at >= datetime.combine(self.since, time.min, zone))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min, zone)
            conds.append(AuditEntry.at < end)
        return conds


def users_in_log() -> list[User]:
    """The users who appear in the audit log, for the filter's drop-down."""
    ids = sa.select(AuditEntry.user_id).where(AuditEntry.user_id.is_not(None))
    return db.session.scalars(
        sa.select(User).where(User.id.in_(ids.distinct())).order_by(User.email)
    ).all()


def _cell(value) -> str:
    return spreadsheet_cell("" if value is None else str(value))


def _batch(filters: AuditFilters, before: int | None) -> list[list]:
    query = (
        sa.select(AuditEntry, User.email)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .where(*filters.conditions())
        .order_by(AuditEntry.id.desc())
        .limit(CSV_BATCH)
    )
    if before is not None:
        # Keyset paging: stays fast however long the log is.
        query = query.where(AuditEntry.id < before)
    return [
        [
            e.id,
            e.at.isoformat(),
            _cell(email),
            e.api_key_id or "",
            _cell(e.action),
            _cell(e.target_type),
            _cell(e.target_id),
            _cell(json.dumps(e.details or {}, ensure_ascii=False)),
            _cell(e.ip),
        ]
        for e, email in db.session.execute(query)
    ]


def csv_lines(app, filters: AuditFilters) -> Iterator[str]:
    """The filtered log as CSV text, newest first, read in batches.

    Each batch is read in an app context of its own: the response streams
    after the request's context is gone.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    yield "\ufeff" + out.getvalue()  # a BOM, so Excel reads UTF-8
    before = None
    while True:
        with app.app_context():
            try:
                rows = _batch(filters, before)
            finally:
                db.session.remove()
        if not rows:
            return
        out.seek(0)
        out.truncate()
        writer.writerows(rows)
        yield out.getvalue()
        before = rows[-1][0]
