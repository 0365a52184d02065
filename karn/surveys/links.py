"""Personal links: survey tokens that are never stored, and unsubscribe tokens.

A survey token is an HMAC of the invitation id under the secret key, so a
reminder can carry the same link without the token being stored; the database
keeps only its SHA-256 to look it up. Changing the secret key ends all links.
"""

import base64
import hashlib
import hmac
from urllib.parse import urlsplit

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer


def _key(purpose: str) -> bytes:
    secret = current_app.config["SECRET_KEY"]
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def invitation_token(invitation_id: int) -> str:
    """The secret part of an invitation's link: 256 bits, URL-safe."""
    mac = hmac.new(_key("invitation"), str(invitation_id).encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    """What the database stores to find an invitation by its token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _unsubscribe_serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="karn-unsubscribe")


def unsubscribe_token(customer_id: int) -> str:
    """A signed token naming the customer, valid for good."""
    return _unsubscribe_serializer().dumps(customer_id)


def customer_of_unsubscribe_token(token: str) -> int | None:
    """The customer id in a genuine unsubscribe token, else None."""
    try:
        value = _unsubscribe_serializer().loads(token)
    except BadSignature:
        return None
    return value if isinstance(value, int) else None


def external(endpoint: str, **values) -> str:
    """An absolute URL on KARN_BASE_URL, for mail (no request to take it from)."""
    base = urlsplit(current_app.config["BASE_URL"].rstrip("/"))
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    return adapter.build(endpoint, values, force_external=True)
