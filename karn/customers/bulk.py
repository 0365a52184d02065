"""Bulk writes for intake: many new rows in a few statements, ids returned.

`insert_returning(table, rows, returning)` inserts dicts of one shape and
returns the columns asked for of every row inserted (in no particular order):
on SQLite (3.35 or later) with multi-row ``INSERT ... VALUES (...), (...)
RETURNING`` statements of up to 1,000 rows; on PostgreSQL with one ``INSERT
... SELECT * FROM unnest(array, ...) RETURNING``, one array a column (a
statement with a value a cell would be kept, each a little different, in
psycopg's cache of statements it may prepare). It does what an ORM bulk insert
does, but each column's conversion (a date to SQLite's text, an amount to
cents, an enum to its value) runs once per distinct value in the rows rather
than once per cell, and SQLAlchemy builds nothing per row: for an import of
100,000 rows that was most of the time spent outside the database. Every
trigger fires as for any insert. Columns the rows leave out get their Python
default (a constant, or a function without arguments called once for the
rows), else the database's. Returns None where it cannot do this (another
database, an older SQLite, a default it cannot compute here): the caller
inserts another way.

`one_of(column, values)` is ``column IN values`` for thousands of values.

`heap_frozen()` leaves the objects that exist before a long import out of the
garbage collector's full collections while it runs: some 300,000 (the app,
the text tagger's word lists), walked again by each of them, which took a
fifth of an import's processor time.

`sqlite_statement_journal_in_memory()` keeps SQLite's statement journals in
memory: with triggers on a table, each statement that changes it keeps one,
and on disk that is a temporary file created and removed for every statement,
which doubled the time of inserting a row.
"""

import gc
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from karn.extensions import db

ROWS_PER_STATEMENT = 1000
# Under SQLite's limit of bound values in one statement (32,766).
MAX_VALUES = 30_000


@dataclass(frozen=True, slots=True)
class _Plan:
    """How rows of one shape go into a table on one database."""

    start: str  # INSERT INTO table (columns)
    row: str  # one row's placeholders (SQLite); "" for columns as arrays
    end: str  # RETURNING ...
    converters: list  # per column: the type's conversion for the driver, or None
    defaults: list  # the defaults of the columns the rows leave out


_plans: dict[tuple, _Plan | None] = {}
_TYPE_MODIFIER = re.compile(r"\([^)]*\)")


def _plan(dialect, table: sa.Table, keys: tuple[str, ...], returning: tuple):
    """The statement and the column converters, or None where not supported."""
    sqlite = dialect.name == "sqlite" and dialect.paramstyle == "qmark"
    if sqlite and tuple(dialect.server_version_info or ()) < (3, 35):
        return None  # no RETURNING
    postgres = dialect.name == "postgresql" and dialect.paramstyle in (
        "format",
        "pyformat",
    )
    if not (sqlite or postgres) or any(key not in table.c for key in keys):
        return None
    columns = [table.c[key] for key in keys]
    defaults = []
    for column in table.columns:
        if column.key in keys or column.default is None:
            continue
        if not (column.default.is_scalar or column.default.is_callable):
            return None  # a sequence or SQL expression: not computed here
        columns.append(column)
        defaults.append(column.default)
    quote = dialect.identifier_preparer.quote
    start = (
        f"INSERT INTO {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(c.name) for c in columns)}) "
    )
    if sqlite:
        row = "(" + ", ".join(["?"] * len(columns)) + ")"
    else:
        # One array per column, unnested into rows: one short statement for
        # the whole batch. Cast to the type without its length, so that an
        # overlong value fails as in any insert (a cast would cut it).
        row = ""
        arrays = ", ".join(
            f"CAST(%s AS {_TYPE_MODIFIER.sub('', c.type.compile(dialect))}[])"
            for c in columns
        )
        start += f"SELECT * FROM unnest({arrays})"
    end = " RETURNING " + ", ".join(quote(table.c[name].name) for name in returning)
    converters = [c.type.dialect_impl(dialect).bind_processor(dialect) for c in columns]
    return _Plan(start, row, end, converters, defaults)


def _converted(values: list, convert) -> list:
    """A column's values as the database driver takes them, each distinct
    value converted once (unhashable ones, JSON documents, each time)."""
    if convert is None:
        return values
    try:
        distinct = set(values)
    except TypeError:
        return [None if value is None else convert(value) for value in values]
    done = {value: None if value is None else convert(value) for value in distinct}
    return list(map(done.__getitem__, values))


def insert_returning(
    table: sa.Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
) -> list[sa.Row] | None:
    """Insert rows (dicts with the same keys) and return the columns asked for.

    None, with nothing inserted, where this database needs another way.
    """
    if not rows:
        return []
    conn = db.session.connection()
    dialect = conn.dialect
    keys = tuple(rows[0])
    cache_key = (dialect.name, dialect.driver, table.name, keys, tuple(returning))
    if cache_key not in _plans:
        _plans[cache_key] = _plan(dialect, table, keys, tuple(returning))
    plan = _plans[cache_key]
    if plan is None:
        return None
    try:
        constants = [
            default.arg if default.is_scalar else default.arg(None)
            for default in plan.defaults
        ]
    except Exception:
        return None  # a default that wants the execution context
    columns = [[r[key] for r in rows] for key in keys]
    columns += [[value] * len(rows) for value in constants]
    converted = [
        _converted(values, convert)
        for values, convert in zip(columns, plan.converters, strict=True)
    ]
    if not plan.row:
        return conn.exec_driver_sql(plan.start + plan.end, tuple(converted)).all()
    per_statement = max(1, min(ROWS_PER_STATEMENT, MAX_VALUES // len(converted)))
    found: list[sa.Row] = []
    for begin in range(0, len(rows), per_statement):
        chunk = [values[begin : begin + per_statement] for values in converted]
        sql = "VALUES " + ", ".join([plan.row] * len(chunk[0]))
        flat = tuple(chain.from_iterable(zip(*chunk, strict=True)))
        found += conn.exec_driver_sql(plan.start + sql + plan.end, flat).all()
    return found


def one_of(column: sa.ColumnElement, values: Iterable[Any]) -> sa.ColumnElement:
    """``column IN values`` for thousands of values, as one bound value.

    An IN list binds each value on its own, which for a batch of 5,000 costs
    more to build than to run: PostgreSQL gets an array (``= ANY``), SQLite a
    JSON list it reads with json_each (3.38 and later). Both look each value
    up in the column's index, as for an IN list.
    """
    values = list(values)
    dialect = db.session.get_bind().dialect
    if dialect.name == "postgresql":
        # Strings without their length: a cast to VARCHAR(n) would cut a
        # longer value, which then could match another.
        kind = sa.String() if isinstance(column.type, sa.String) else column.type
        array = postgresql.ARRAY(kind)
        return column == sa.any_(sa.bindparam(None, values, type_=array))
    version = tuple(dialect.server_version_info or ())
    if dialect.name == "sqlite" and version >= (3, 38):
        listed = sa.func.json_each(json.dumps(values)).table_valued("value")
        return column.in_(sa.select(listed.c.value))
    return column.in_(values)


@contextmanager
def heap_frozen() -> Iterator[None]:
    """Collect only the objects made meanwhile (gc.freeze), then all again.

    Left as it is when something else froze the heap already.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def sqlite_statement_journal_in_memory() -> None:
    """Keep SQLite's statement journals (and temporary tables, which Karn
    does not use: the change drops them) in memory.

    Only between transactions, where SQLite allows the change; it stays for the
    connection, which is harmless: a statement journal holds the pages one
    statement changed.
    """
    conn = db.session.connection()
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.dbapi_connection
    if getattr(raw, "in_transaction", True):
        return
    cursor = raw.cursor()
    try:
        if cursor.execute("PRAGMA temp_store").fetchone()[0] != 2:
            cursor.execute("PRAGMA temp_store = MEMORY")
    finally:
        cursor.close()
