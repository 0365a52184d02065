"""The CSV import's hot path: checking a row and storing many at once.

A file of a million items repeats most of its values (a few hundred dates,
six channels, five ratings), so `RowChecker` remembers what each distinct
value became and checks a row with a few dictionary lookups. It only takes
the common case this way: a row with anything unusual (an empty text, a date
it has not seen parse, a bad email) goes through `intake.validate`, the rules
every way in shares, so a row is accepted, cleaned and refused exactly as
there.

`insert(rows, via)` stores checked rows as plain tuples with one
``executemany`` on the driver's connection (on PostgreSQL one statement a
batch, each column an array), ``ON CONFLICT (dedupe_key) DO NOTHING``: an
item Karn has (or one a batch holds twice) is left as it is without first
being looked up, and the rows inserted are counted from the driver. The API
and the form, which answer with each item's id, keep `intake.store`.

Most of an import's time is then the unique index on the dedupe key: its
keys are hashes, so each row goes to another page of it, and SQLite's page
cache (2 MiB by default) holds a small part of a million items' index.
`insert` gives the importing connection 64 MiB until `default_cache()`:
measured on a million rows, 24.3 s of processor time became 21.6 s, and for
the inserts alone (without Karn's code around them) 18.4 s became 13.4 s.
"""

from datetime import datetime
from typing import Any

from karn.customers.csv_values import _email
from karn.extensions import db
from karn.feedback import intake
from karn.feedback.models import FeedbackItem

# intake.validate's clean dict, as a tuple in this order.
FIELDS = (
    "channel",
    "text",
    "received_at",
    "rating",
    "language",
    "customer_number",
    "email",
    "source_id",
)
_COLUMNS = (
    "channel",
    "text",
    "received_at",
    "rating",
    "language",
    "customer_id",
    "source_id",
    "dedupe_key",
    "via",
    "created_at",
)
_MISSING = object()
# KiB of SQLite page cache while importing (a negative cache_size is KiB).
IMPORT_CACHE_KIB = 65_536


def _sqlite_cache(kib: int | None) -> None:
    """Set the page cache of the session's SQLite connection (None: SQLite's
    default). It holds for the connection, across the commits of an import."""
    conn = db.session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    want = -kib if kib else -2000
    if raw.execute("PRAGMA cache_size").fetchone()[0] != want:
        raw.execute(f"PRAGMA cache_size = {want}")


def default_cache() -> None:
    """SQLite's own page cache again, once an import is done."""
    _sqlite_cache(None)


class RowChecker:
    """Checks rows of one file: `check(values)` -> (tuple, []) or (None, problems)."""

    def __init__(
        self,
        channels: set[str],
        month_first: bool,
        default_channel: str | None,
        now: datetime,
    ):
        self.channels = channels
        self.month_first = month_first
        self.default_channel = default_channel
        self.now = now
        # raw cell -> what validate made of it, for values it accepted
        self.dates: dict[str, datetime] = {}
        self.channel_of: dict[str | None, str] = {}
        self.ratings: dict[str, float | None] = {}
        self.languages: dict[str, str | None] = {}

    def check(self, values: dict[str, Any]) -> tuple[tuple | None, list]:
        fast = self._fast(values)
        if fast is not None:
            return fast, []
        clean, problems = intake.validate(
            values, self.channels, self.month_first, self.default_channel, self.now
        )
        if problems:
            return None, problems
        self._learn(values, clean)
        return tuple(clean[name] for name in FIELDS), []

    def _fast(self, values: dict[str, Any]) -> tuple | None:
        """The checked tuple when every value is one seen accepted before."""
        get = values.get
        text = get("text")
        if type(text) is not str:
            return None
        text = text.strip()
        if not text or len(text) > intake.MAX_TEXT or "\x00" in text:
            return None
        moment = self.dates.get(get("received_at"))
        channel = self.channel_of.get(get("channel"))
        if moment is None or channel is None:
            return None
        rating = self.ratings.get(get("rating"), _MISSING)
        language = self.languages.get(get("language"), _MISSING)
        if rating is _MISSING or language is _MISSING:
            return None
        number = get("customer_number")
        if number is not None:
            if type(number) is not str or "\x00" in number:
                return None
            number = number.strip() or None
            if number is not None and len(number) > 100:
                return None
        source_id = get("source_id")
        if source_id is not None:
            if type(source_id) is not str or "\x00" in source_id:
                return None
            source_id = source_id.strip() or None
            if source_id is not None and len(source_id) > intake.MAX_SOURCE_ID:
                return None
        email = get("email")
        if email is not None:
            if type(email) is not str:
                return None
            email = email.strip()
            if email:
                # The common address takes the validator's fast way (a
                # pattern); an unusual one goes through validate.
                if "\x00" in email:
                    return None
                email = _email(email)
                if not isinstance(email, str):
                    return None
            else:
                email = None
        return (channel, text, moment, rating, language, number, email, source_id)

    def _learn(self, values: dict[str, Any], clean: dict[str, Any]) -> None:
        """Remember the values of a row validate accepted, for the rows after it."""
        raw_date = values.get("received_at")
        if type(raw_date) is str:
            self.dates[raw_date] = clean["received_at"]
        raw_channel = values.get("channel")
        if raw_channel is None or type(raw_channel) is str:
            self.channel_of[raw_channel] = clean["channel"]
        raw_rating = values.get("rating")
        if raw_rating is None or type(raw_rating) is str:
            self.ratings[raw_rating] = clean["rating"]
        raw_language = values.get("language")
        if raw_language is None or type(raw_language) is str:
            self.languages[raw_language] = clean["language"]


def _key(row: tuple) -> str:
    channel, text, moment, _rating, _lang, number, email, source_id = row
    return intake.dedupe_key(
        {
            "channel": channel,
            "text": text,
            "received_at": moment,
            "customer_number": number,
            "email": email,
            "source_id": source_id,
        }
    )


def insert(rows: list[tuple], via: str, now: datetime) -> int:
    """Store checked rows the database does not have; returns how many were new.
    The caller commits."""
    if not rows:
        return 0
    by_number, by_email = intake._customers(
        {r[5] for r in rows if r[5]}, {r[6] for r in rows if r[6]}
    )
    _sqlite_cache(IMPORT_CACHE_KIB)
    conn = db.session.connection()
    dialect = conn.dialect
    table = FeedbackItem.__table__
    convert = {
        name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        for name in ("received_at", "language", "created_at")
    }
    to_date, to_lang = convert["received_at"], convert["language"]
    dates: dict[datetime, Any] = {}
    created_at = convert["created_at"](now) if convert["created_at"] else now
    params = []
    for row in rows:
        channel, text, moment, rating, lang, number, email, source_id = row
        stored = dates.get(moment)
        if stored is None:
            stored = dates[moment] = to_date(moment) if to_date else moment
        if lang is not None and to_lang is not None:
            lang = to_lang(lang)
        customer_id = (by_number.get(number) if number else None) or (
            by_email.get(email) if email else None
        )
        params.append(
            (
                channel,
                text,
                stored,
                rating,
                lang,
                customer_id,
                source_id,
                _key(row),
                via,
                created_at,
            )
        )
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        if dialect.name == "postgresql":
            # One statement a batch: each column as one array, unnested.
            columns = [list(column) for column in zip(*params, strict=True)]
            cursor.execute(_UNNEST, columns)
        else:
            cursor.executemany(_VALUES, params)
        return cursor.rowcount
    finally:
        cursor.close()


_CONFLICT = " ON CONFLICT (dedupe_key) DO NOTHING"
_VALUES = (
    f"INSERT INTO feedback_items ({', '.join(_COLUMNS)}) "
    f"VALUES ({', '.join(['?'] * len(_COLUMNS))})" + _CONFLICT
)
# The columns' types without lengths: a cast to varchar(n) would cut a longer
# value, which then could match another.
_ARRAYS = (
    "varchar",
    "text",
    "timestamptz",
    "float8",
    "varchar",
    "integer",
    "varchar",
    "varchar",
    "varchar",
    "timestamptz",
)
_UNNEST = (
    f"INSERT INTO feedback_items ({', '.join(_COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"%s::{kind}[]" for kind in _ARRAYS)
    + ")"
    + _CONFLICT
)
