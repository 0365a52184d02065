"""The audit log is append-only: the application may add entries, never change them.

The one exception is erasure, which removes a person's data from entries that
mention them; it runs inside `scrubbing()`, which marks the session.
"""

from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

from karn.accounts.models import AuditEntry

SCRUB_FLAG = "karn.privacy.audit_scrub"


class AuditLogIsAppendOnly(RuntimeError):
    """Raised when code tries to change or delete an audit entry."""


@contextmanager
def scrubbing(session):
    """Allow changes to audit entries on this session for the erasure scrub only."""
    info = session.info
    before = info.get(SCRUB_FLAG, False)
    info[SCRUB_FLAG] = True
    try:
        yield
    finally:
        info[SCRUB_FLAG] = before


def _allowed(session) -> bool:
    return bool(session is not None and session.info.get(SCRUB_FLAG))


def _refuse(what: str) -> None:
    raise AuditLogIsAppendOnly(f"the audit log is append-only: {what} refused")


@event.listens_for(AuditEntry, "before_update")
def _no_update(mapper, connection, target):
    session = sa.inspect(target).session
    if _allowed(session):
        return
    # A dirty entry without real changes (e.g. a touched relationship) is harmless.
    state = sa.inspect(target)
    if any(state.attrs[c.key].history.has_changes() for c in mapper.column_attrs):
        _refuse("UPDATE")


@event.listens_for(AuditEntry, "before_delete")
def _no_delete(mapper, connection, target):
    if not _allowed(sa.inspect(target).session):
        _refuse("DELETE")


@event.listens_for(Session, "do_orm_execute")
def _no_bulk_changes(state):
    # Bulk UPDATE/DELETE statements bypass the mapper events above.
    if not (state.is_update or state.is_delete):
        return
    # ORM statements carry an annotated copy of the table: compare by name.
    table = getattr(state.statement, "table", None)
    name = getattr(table, "name", None)
    if name == AuditEntry.__tablename__ and not _allowed(state.session):
        _refuse("UPDATE" if state.is_update else "DELETE")
