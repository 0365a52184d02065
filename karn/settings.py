"""Settings an administrator may change on the Settings page, over the config.

Each has a default in config.py (and a KARN_* variable); a value saved on the
page is stored in the settings table and wins until it is cleared.
"""

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import UTCDateTime
from karn.extensions import db


class Setting(db.Model):
    """An admin-editable setting, stored as JSON under a dotted key."""

    __tablename__ = "settings"

    key: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    value: Mapped[object] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, onupdate=clock.now
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


# name -> (parser from a form/env string, lower bound, upper bound)
EDITABLE: dict[str, tuple[type, float | None, float | None]] = {
    "INVITATION_DELAY_HOURS": (float, 0, 24 * 60),
    "REMINDER_DAYS": (str, None, None),
    "INVITATION_CUTOFF_DAYS": (int, 1, 3650),
    "LINK_VALID_DAYS": (int, 1, 3650),
    "QUIET_HOURS_START": (int, 0, 23),
    "QUIET_HOURS_END": (int, 0, 23),
    "TIMEZONE": (str, None, None),
    "MAIL_RATE_PER_MINUTE": (int, 0, 100_000),
    "CALL_HOURS_START": (str, None, None),
    "CALL_HOURS_END": (str, None, None),
    "CALL_DAYS": (str, None, None),
    "CONTACT_MIN_DAYS": (int, 1, 3650),
}


def _overrides() -> dict[str, Any]:
    if "karn_settings" not in g:
        rows = db.session.execute(
            sa.select(Setting.key, Setting.value).where(Setting.key.in_(EDITABLE))
        ).all()
        g.karn_settings = dict(rows)
    return g.karn_settings


def get(name: str) -> Any:
    """The value in force: saved on the Settings page, else the configuration."""
    overrides = _overrides() if name in EDITABLE else {}
    if name in overrides:
        return overrides[name]
    return current_app.config[name]


def save(values: dict[str, Any], user_id: int | None) -> None:
    """Store changed settings (None clears one back to the configured value)."""
    for name, value in values.items():
        if name not in EDITABLE:
            raise KeyError(name)
        row = db.session.get(Setting, name)
        if value is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(Setting(key=name, value=value, updated_by_id=user_id))
        else:
            row.value, row.updated_by_id = value, user_id
    db.session.flush()
    g.pop("karn_settings", None)


# Kept in the same table: that a person has looked at the survey (its preview),
# which ticks the overview's first-run checklist.
SURVEY_CHECKED = "checked.survey"


def note_once(key: str, user_id: int | None) -> None:
    """Remember, once and for good, that something was done (SURVEY_CHECKED)."""
    if db.session.get(Setting, key) is not None:
        return
    db.session.add(Setting(key=key, value=True, updated_by_id=user_id))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # noted meanwhile by another request


def noted(key: str) -> bool:
    return db.session.get(Setting, key) is not None


def reminder_days() -> list[int]:
    """Days after the invitation on which reminders go out, e.g. [5, 12]."""
    raw = get("REMINDER_DAYS")
    if isinstance(raw, list | tuple):
        return [int(d) for d in raw]
    return parse_days(str(raw))


def parse_days(text: str) -> list[int]:
    """'5, 12' -> [5, 12]; at most two reminders, in increasing order."""
    days = [int(part) for part in text.replace(";", ",").split(",") if part.strip()]
    if (
        len(days) > 2
        or any(d < 1 or d > 365 for d in days)
        or days != sorted(set(days))
    ):
        raise ValueError(text)
    return days
