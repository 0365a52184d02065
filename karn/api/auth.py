"""API key authentication for the REST API."""

from functools import wraps

from flask import g, jsonify, request

from karn.accounts import audit
from karn.accounts.operations import find_api_key
from karn.extensions import db


def api_key_required(view):
    """Allow a request only with `Authorization: Bearer <active API key>`."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        key = find_api_key(secret.strip()) if scheme.lower() == "bearer" else None
        if key is None:
            response = jsonify(
                error="unauthorized",
                message="Send an active API key as 'Authorization: Bearer <key>'.",
            )
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="karn"'
            return response
        g.api_key = key
        db.session.commit()  # keeps the key's last-used time
        return view(*args, **kwargs)

    return wrapped


def record(action: str, target=None, **details) -> None:
    """Audit an API call under its key."""
    audit.record(action, target, api_key=g.api_key, **details)
