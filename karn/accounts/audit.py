"""Writing to the audit log: one call per thing somebody did."""

from flask import has_request_context, request
from flask_login import current_user

from karn.accounts.models import AuditEntry
from karn.extensions import db


def record(
    action: str,
    target=None,
    *,
    user=None,
    api_key=None,
    **details,
) -> AuditEntry:
    """Add an audit entry to the session (the caller's commit keeps it)."""
    if user is None and has_request_context() and current_user.is_authenticated:
        user = current_user
    target_type = target_id = None
    if target is not None:
        target_type = getattr(target, "__tablename__", type(target).__name__)
        target_id = str(getattr(target, "id", target))
    entry = AuditEntry(
        action=action,
        user_id=getattr(user, "id", None),
        api_key_id=getattr(api_key, "id", None),
        target_type=target_type,
        target_id=target_id,
        details={k: v for k, v in details.items() if v is not None},
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry
