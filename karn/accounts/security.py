"""Password hashing, API key secrets and role checks for views."""

import hashlib
import re
import secrets
from functools import cache, wraps
from urllib.parse import unquote, urlsplit

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from flask import abort, current_app
from flask_login import current_user, login_required

from karn.enums import Role

_HASHERS = {
    "default": PasswordHasher(),
    # Test suites create hundreds of users; production never uses this.
    "testing": PasswordHasher.from_parameters(profiles.CHEAPEST),
}


@cache
def _dummy_hash(profile: str) -> str:
    """Verified against when no such user exists, so a wrong email costs as
    long as a wrong password and does not reveal who has an account. Made at
    first use, not at import: every command would otherwise wait for it."""
    return _HASHERS[profile].hash(secrets.token_hex(16))


def _profile() -> str:
    return "testing" if current_app.config["ENV"] == "testing" else "default"


MIN_PASSWORD_LENGTH = 10

# What a browser reads differently from what it is given: it drops tabs and line
# breaks anywhere in a URL, trims blanks and control characters, and takes a
# backslash for a slash (so "/\\evil" and "/\t/evil" go to //evil).
_MISREAD = re.compile(r"[\x00-\x20\x7f\\]|\s")


def local_path(target: str | None) -> str | None:
    """target when it is a path on this site to send a browser to, else None.

    Only "/something": no scheme, no host, not scheme-relative ("//host"), no
    control characters, blanks or backslashes anywhere; and percent-decoded
    (twice over, too) it still starts like a path on this site ("/%2F..." and
    "/%09/..." do not). Keeps redirects after a form (such as ?next= on the
    login page) from leading off the site.
    """
    if not target or _MISREAD.search(target):
        return None
    seen = target
    for _ in range(3):  # as given, decoded, and decoded again
        if not seen.startswith("/") or seen[1:2] == "/" or _MISREAD.match(seen[1:2]):
            return None
        parts = urlsplit(seen)
        if parts.scheme or parts.netloc:
            return None
        decoded = unquote(seen)
        if decoded == seen:
            return target
        seen = decoded
    return None


def hash_password(password: str) -> str:
    """Return an argon2id hash of the password."""
    return _HASHERS[_profile()].hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; always spends the same effort."""
    profile = _profile()
    try:
        return _HASHERS[profile].verify(
            password_hash or _dummy_hash(profile), password
        ) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def generate_password() -> str:
    """A random password that is easy to type once: 4 groups of 5 characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    groups = ["".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4)]
    return "-".join(groups)


def new_api_key() -> str:
    """A new API key: a recognisable prefix and 256 bits of randomness."""
    return "karn_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """SHA-256 of an API key; the key has enough entropy not to need a slow hash."""
    return hashlib.sha256(key.encode()).hexdigest()


def roles_required(*roles: Role):
    """Allow a view only to signed-in users with one of the roles."""

    def decorate(view):
        @login_required
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)
        return wrapped

    return decorate


ALL_ROLES = (Role.ADMIN, Role.MANAGER, Role.STAFF)
MANAGERS = (Role.ADMIN, Role.MANAGER)
ADMINS = (Role.ADMIN,)
