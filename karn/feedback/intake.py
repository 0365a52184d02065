"""Storing feedback items: the one way in for the CSV import, the API and the form.

`validate(values)` checks one item's fields (the same rules everywhere) and
`store(items, via)` writes many at once, in batches of a few thousand:

- an item whose dedupe key Karn has (the channel and source id, else the
  channel, date, text and customer reference) is left as it is, so the same
  file imported again or the same request sent again changes nothing;
- the customer is found by customer number, else by email, among customers
  not erased; no match leaves the item anonymous and creates no customer;
- the item is stored untagged: the worker tags it (karn.feedback.tagging),
  and reads its language from the text when none was given.

New rows go in with multi-row INSERTs (karn.customers.bulk).
"""

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from karn import clock
from karn.customers import bulk
from karn.customers.csv_values import _email, _Fail, _language, _parse_date
from karn.customers.models import Customer
from karn.extensions import db
from karn.feedback.models import BUILTIN, FeedbackChannel, FeedbackItem

BATCH = 5000
FIELDS = (
    "text",
    "received_at",
    "channel",
    "rating",
    "language",
    "customer_number",
    "email",
    "source_id",
)
MAX_TEXT = 20_000
MAX_SOURCE_ID = 200
# A date a little ahead is a time zone, not a typing error.
_A_DAY = timedelta(days=1)

ERRORS = {
    "text_missing": _l("The text is empty."),
    "text_too_long": _l("The text is longer than 20,000 characters."),
    "date_missing": _l("The date is missing."),
    "bad_date": _l("The date cannot be read; write it like 31-03-2026 or 2026-03-31."),
    "future_date": _l("The date lies in the future."),
    "channel_unknown": _l(
        "The channel is not one Karn knows; an administrator can add it."
    ),
    "bad_rating": _l("The rating must be a number from 0 to 100."),
    "bad_language": _l("The language must be nl or en."),
    "bad_email": _l("The email address is not valid."),
    "too_long": _l("The value is too long."),
}


@dataclass(slots=True)
class Problem:
    field: str
    code: str

    def message(self) -> str:
        return str(ERRORS[self.code])


@dataclass
class Stored:
    """What `store` did, per item in the order given: (id, created)."""

    results: list[tuple[int, bool]] = field(default_factory=list)

    @property
    def created(self) -> int:
        return sum(1 for _, new in self.results if new)

    @property
    def unchanged(self) -> int:
        return sum(1 for _, new in self.results if not new)


def channel_codes() -> set[str]:
    """The codes items may name: the built-in channels and the added ones."""
    added = db.session.scalars(sa.select(FeedbackChannel.code)).all()
    return {*BUILTIN, *added}


def _clean_text(value: Any) -> str | None:
    """A cell or field as text without NUL characters or outer blanks; None if empty."""
    if value is None:
        return None
    text = value if type(value) is str else str(value)
    if "\x00" in text:
        text = text.replace("\x00", "")
    return text.strip() or None


def _rating(value: Any) -> float | None | _Fail:
    if isinstance(value, bool):
        return _Fail("bad_rating")
    if not isinstance(value, int | float):
        raw = _clean_text(value)
        if raw is None:
            return None
        try:
            value = float(raw.replace(",", "."))
        except ValueError:
            return _Fail("bad_rating")
    return value if 0 <= value <= 100 else _Fail("bad_rating")


def validate(
    values: dict[str, Any],
    channels: set[str],
    month_first: bool = False,
    default_channel: str | None = None,
    now: datetime | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """One item's fields, cleaned, and what is wrong with them (nothing: []).

    Runs for every row of a large import: fields absent from ``values`` cost
    nothing, and ``now`` is best given once by the caller.
    """
    problems: list[Problem] = []
    get = values.get
    text = _clean_text(get("text"))
    if not text:
        problems.append(Problem("text", "text_missing"))
    elif len(text) > MAX_TEXT:
        problems.append(Problem("text", "text_too_long"))
    raw_date = get("received_at")
    moment = None
    if isinstance(raw_date, datetime):
        moment = raw_date
    else:
        raw = _clean_text(raw_date)
        if raw is None:
            problems.append(Problem("received_at", "date_missing"))
        else:
            parsed = _parse_date(raw, month_first)
            if isinstance(parsed, _Fail):
                problems.append(Problem("received_at", "bad_date"))
            else:
                moment = parsed
    if moment is not None and moment > (now or clock.now()) + _A_DAY:
        problems.append(Problem("received_at", "future_date"))
    channel = (_clean_text(get("channel")) or default_channel or "").lower()
    if channel not in channels:
        problems.append(Problem("channel", "channel_unknown"))
    clean = {
        "text": text,
        "received_at": moment,
        "channel": channel,
        "rating": None,
        "language": None,
        "email": None,
        "customer_number": None,
        "source_id": None,
    }
    if "rating" in values:
        rating = _rating(values["rating"])
        if isinstance(rating, _Fail):
            problems.append(Problem("rating", "bad_rating"))
        else:
            clean["rating"] = rating
    lang = _clean_text(get("language"))
    if lang:
        lang = _language(lang)
        if isinstance(lang, _Fail):
            problems.append(Problem("language", "bad_language"))
        else:
            clean["language"] = lang
    email = _clean_text(get("email"))
    if email:
        email = _email(email)
        if isinstance(email, _Fail):
            problems.append(Problem("email", "bad_email"))
        else:
            clean["email"] = email
    for name, limit in (("customer_number", 100), ("source_id", MAX_SOURCE_ID)):
        value = _clean_text(get(name))
        if value is not None and len(value) > limit:
            problems.append(Problem(name, "too_long"))
        clean[name] = value
    return clean, problems


def dedupe_key(item: dict[str, Any]) -> str:
    """16 hex digits: of the channel and source id, else of the content."""
    if item.get("source_id"):
        basis = f"s\x1f{item['channel']}\x1f{item['source_id']}"
    else:
        basis = "\x1f".join(
            (
                "c",
                item["channel"],
                item["received_at"].isoformat(),
                item["text"],
                item.get("customer_number") or "",
                item.get("email") or "",
            )
        )
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:16]


def _customers(numbers: set[str], emails: set[str]) -> tuple[dict, dict]:
    """Customer ids by number and by email, of customers not erased."""
    by_number: dict[str, int] = {}
    by_email: dict[str, int] = {}
    if numbers:
        for cid, number in db.session.execute(
            sa.select(Customer.id, Customer.external_id).where(
                bulk.one_of(Customer.external_id, numbers),
                Customer.erased_at.is_(None),
            )
        ):
            by_number[number] = cid
    if emails:
        for cid, email in db.session.execute(
            sa.select(Customer.id, Customer.email)
            .where(bulk.one_of(Customer.email, emails), Customer.erased_at.is_(None))
            .order_by(Customer.id)
        ):
            by_email.setdefault(email, cid)
    return by_number, by_email


def store(items: list[dict[str, Any]], via: str) -> Stored:
    """Store validated items (as `validate` cleans them); the caller commits."""
    result = Stored()
    for start in range(0, len(items), BATCH):
        result.results += _store_batch(items[start : start + BATCH], via)
    return result


def _store_batch(items: list[dict[str, Any]], via: str) -> list[tuple[int, bool]]:
    keys = [dedupe_key(item) for item in items]
    existing = dict(
        db.session.execute(
            sa.select(FeedbackItem.dedupe_key, FeedbackItem.id).where(
                bulk.one_of(FeedbackItem.dedupe_key, set(keys))
            )
        ).all()
    )
    by_number, by_email = _customers(
        {i["customer_number"] for i in items if i.get("customer_number")},
        {i["email"] for i in items if i.get("email")},
    )
    now = clock.now()
    rows, new_keys = [], {}
    for item, key in zip(items, keys, strict=True):
        if key in existing or key in new_keys:
            continue
        new_keys[key] = len(rows)
        number, email = item.get("customer_number"), item.get("email")
        customer_id = (by_number.get(number) if number else None) or (
            by_email.get(email) if email else None
        )
        rows.append(
            {
                "channel": item["channel"],
                "text": item["text"],
                "received_at": item["received_at"],
                "rating": item.get("rating"),
                # Left to the worker, which reads it with the tags.
                "language": item.get("language"),
                "customer_id": customer_id,
                "source_id": item.get("source_id"),
                "dedupe_key": key,
                "via": via,
                "created_at": now,
            }
        )
    if rows:
        found = bulk.insert_returning(
            FeedbackItem.__table__, rows, ("dedupe_key", "id")
        )
        if found is None:
            db.session.execute(sa.insert(FeedbackItem.__table__), rows)
            found = db.session.execute(
                sa.select(FeedbackItem.dedupe_key, FeedbackItem.id).where(
                    bulk.one_of(FeedbackItem.dedupe_key, set(new_keys))
                )
            ).all()
        ids = dict(found)
    else:
        ids = {}
    out, first = [], set()
    for key in keys:
        if key in existing:
            out.append((existing[key], False))
        elif key in first:
            out.append((ids[key], False))
        else:
            first.add(key)
            out.append((ids[key], True))
    return out
