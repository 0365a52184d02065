"""Erased people stay erased: intake refuses their old departures.

Erasure (karn.privacy) keeps an erased person's email address and customer
number as one-way hashes in `erased_people`, with the day of the erasure.
Every intake path (CSV import, the API, Stripe, the customer form, the public
survey link) records departures through `upsert_departures`, which asks
`refused()` once per batch, in one query, which records belong to an erased
person:

- A record is the erased person's when its customer number matches, or its
  email address does and the record or the entry has no customer number: the
  rule by which intake matches a record to a stored customer, so two customer
  numbers sharing a family address stay two people.
- Such a record dated on or before the day of the erasure (days in the
  company's time zone, as the pages show them), or without a date, is the
  departure the person asked to be forgotten, come back through an old export
  or a replay: it is refused, and nothing of it is stored.
- A departure after that day was told to us after the erasure: the person
  became a customer again and left again. It is recorded as a new customer
  (the erased record stays as it is). The entry stays, so the old export still
  cannot bring the old departure back; the address stays on the suppression
  list, so Karn does not mail them.

An administrator may add the person again deliberately on the customer form,
which removes their entry (`forget`): later imports then work as before.

The hashes are SHA-256 of the trimmed, lower-cased value, unkeyed, like the
suppression list's. A key (the secret key as a pepper) would make a database
copy useless for checking a guessed customer number, but the key can change:
it is rotated after a leak, and a backup may be restored next to another one.
Then every lookup would miss, and erased people would come back without a
sign, which is what this table is for. The email's unkeyed hash is on the
suppression list anyway.
"""

import dataclasses
import hashlib
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from karn import settings
from karn.customers.csvparse import FieldError, RowError
from karn.customers.models import ErasedPerson
from karn.extensions import db
from karn.formatting import localdate

CODE = "erased"


class Refused(Exception):
    """A departure of an erased person, dated on or before the erasure."""

    def __init__(self, day: date) -> None:
        super().__init__(f"erased on {day.isoformat()}")
        self.day = day


# The longest cell of a rejected row that may be an email or customer number.
LONGEST_IDENTIFIER = 254


def identifier_hash(value: str) -> str:
    """SHA-256 of the trimmed, lower-cased value: how an identifier is kept."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()


def _hash(value: Any) -> str | None:
    return identifier_hash(value) if isinstance(value, str) and value.strip() else None


def local_day(moment: datetime) -> date:
    """The calendar day of a moment in the company's time zone."""
    return moment.astimezone(ZoneInfo(settings.get("TIMEZONE"))).date()


def _entries(emails: set[str], numbers: set[str]) -> list:
    """The entries with one of these email hashes or customer-number hashes."""
    conditions = []
    if emails:
        conditions.append(ErasedPerson.email_hash.in_(sorted(emails)))
    if numbers:
        conditions.append(ErasedPerson.external_id_hash.in_(sorted(numbers)))
    if not conditions:
        return []
    query = sa.select(
        ErasedPerson.id,
        ErasedPerson.email_hash,
        ErasedPerson.external_id_hash,
        ErasedPerson.erased_on,
    ).where(sa.or_(*conditions))
    return db.session.execute(query).all()


def _same_person(entry, id_hash: str | None, email_hash: str | None) -> bool:
    if id_hash is not None and entry.external_id_hash == id_hash:
        return True
    return (
        email_hash is not None
        and entry.email_hash == email_hash
        and (id_hash is None or entry.external_id_hash is None)
    )


# A batch of records reads the whole table when it has at most this many
# entries (as it nearly always has): one short query, and no record is hashed
# when there are none.
WHOLE_TABLE = 1000
# From this many records on a batch reads the whole table (if small enough).
BATCH = 50


def _whole_table() -> list | None:
    """Every entry, or None when there are more than WHOLE_TABLE."""
    query = sa.select(
        ErasedPerson.id,
        ErasedPerson.email_hash,
        ErasedPerson.external_id_hash,
        ErasedPerson.erased_on,
    ).limit(WHOLE_TABLE + 1)
    entries = db.session.execute(query).all()
    return None if len(entries) > WHOLE_TABLE else entries


def _matching(
    identifiers: Sequence[tuple[Any, Any]], whole: list | None = None
) -> list[list]:
    """For each (external id, email): the entries of that person, among the
    whole table when given, else in one query."""
    keys = [(_hash(ext), _hash(email)) for ext, email in identifiers]
    entries = whole
    if entries is None:
        entries = _entries({e for _, e in keys if e}, {i for i, _ in keys if i})
    if not entries:
        return [[] for _ in keys]
    by_number: dict[str, list] = {}
    by_email: dict[str, list] = {}
    for entry in entries:
        if entry.external_id_hash:
            by_number.setdefault(entry.external_id_hash, []).append(entry)
        if entry.email_hash:
            by_email.setdefault(entry.email_hash, []).append(entry)
    found = []
    for id_hash, email_hash in keys:
        candidates = by_number.get(id_hash, []) + by_email.get(email_hash, [])
        found.append([e for e in candidates if _same_person(e, id_hash, email_hash)])
    return found


def refused(records: Sequence[Mapping[str, Any]]) -> dict[int, date]:
    """Position of each record intake must refuse -> the day its person was erased.

    One query for the whole batch, however long (two when more than
    WHOLE_TABLE people were erased); validated records (an email lower-cased,
    a departure an aware datetime or None).
    """
    whole = _whole_table() if len(records) >= BATCH else None
    if whole == []:
        return {}  # nobody was erased: no record is hashed
    matches = _matching(
        [(r.get("external_id"), r.get("email")) for r in records], whole
    )
    out: dict[int, date] = {}
    for index, (record, entries) in enumerate(zip(records, matches, strict=True)):
        if not entries:
            continue
        day = max(e.erased_on for e in entries)
        departed = record.get("departed_at")
        if departed is None or local_day(departed) <= day:
            out[index] = day
    return out


def erased_on(fields: Mapping[str, Any]) -> date | None:
    """The day this one record's person was erased, when intake would refuse it."""
    return refused([fields]).get(0)


def record_erasure(
    email: str | None, external_id: str | None, day: date
) -> ErasedPerson | None:
    """Keep a person's identifiers as hashes (None when they have none)."""
    entry = ErasedPerson(
        email_hash=_hash(email), external_id_hash=_hash(external_id), erased_on=day
    )
    if entry.email_hash is None and entry.external_id_hash is None:
        return None
    db.session.add(entry)
    return entry


def forget(external_id: str | None, email: str | None) -> list[date]:
    """Remove this person's entries (an administrator adds them again).

    Returns the days they were erased on, one per entry removed.
    """
    (entries,) = _matching([(external_id, email)])
    if entries:
        db.session.execute(
            sa.delete(ErasedPerson).where(ErasedPerson.id.in_([e.id for e in entries]))
        )
    return sorted(e.erased_on for e in entries)


# --- Messages ----------------------------------------------------------------


def error(day: date) -> FieldError:
    """The row error of a refused record, in English and Dutch."""
    messages = {}
    for lang in ("en", "nl"):
        with force_locale(lang):
            messages[lang] = _(
                "This person's personal data was erased on %(date)s: a departure "
                "on or before that day is not recorded again",
                date=localdate(day),
            )
    return FieldError(None, CODE, messages["en"], messages["nl"])


def refused_row(line: int, row: int, day: date) -> RowError:
    """A refused record as a rejected row: its line, the reason, none of its values."""
    return RowError(line, {}, [error(day)], row)


def hide_erased(errors: list[RowError]) -> list[RowError]:
    """Rejected rows with none of an erased person's values, to store safely.

    A row rejected for a bad value is kept with its values, so it can be
    corrected; when one of its cells is an erased person's email or customer
    number (whatever its date: the row cannot be read), its values are blanked
    and the reason says so. One query for all the rows (two when more than
    WHOLE_TABLE people were erased); none is hashed when nobody was.
    """
    if not errors:
        return errors
    entries = _whole_table()
    if entries == []:
        return errors
    cells = [
        {
            h
            for v in rejected.raw.values()
            if len(v) <= LONGEST_IDENTIFIER and (h := _hash(v))
        }
        for rejected in errors
    ]
    if entries is None:
        values = set().union(*cells)
        entries = _entries(values, values)
    if not entries:
        return errors
    days: dict[str, date] = {}
    for entry in entries:
        for value in {entry.email_hash, entry.external_id_hash} - {None}:
            days[value] = max(days.get(value, entry.erased_on), entry.erased_on)
    out = []
    for rejected, hashes in zip(errors, cells, strict=True):
        found = [days[h] for h in hashes if h in days]
        if found:
            rejected = dataclasses.replace(
                rejected,
                raw=dict.fromkeys(rejected.raw, ""),
                errors=[*rejected.errors, error(max(found))],
                overflow=(),
            )
        out.append(rejected)
    return out
