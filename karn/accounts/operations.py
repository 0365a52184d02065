"""Operations on users and API keys: they flush and log; callers commit."""

import logging

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from karn import clock
from karn.accounts import audit
from karn.accounts.models import ApiKey, User
from karn.accounts.security import (
    MIN_PASSWORD_LENGTH,
    generate_password,
    hash_api_key,
    hash_password,
    new_api_key,
)
from karn.enums import Language, Role
from karn.extensions import db

log = logging.getLogger(__name__)


class AccountError(ValueError):
    """A change to an account that is not allowed; the message is for the user."""


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(
            _l("A password needs at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
        )


def create_user(
    email: str,
    name: str,
    role: Role,
    language: Language = Language.NL,
    password: str | None = None,
) -> tuple[User, str]:
    """Create a user; returns the user and the password (generated when not given)."""
    email = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(User.email == email)):
        raise AccountError(_l("There is already a user with this email address."))
    password = password or generate_password()
    _check_password(password)
    user = User(
        email=email,
        name=name.strip() or email,
        role=Role(role),
        language=Language(language),
        password_hash=hash_password(password),
        active=True,
    )
    db.session.add(user)
    db.session.flush()
    audit.record("user.create", user, email=email, role=user.role.value)
    log.info("created user %s with role %s", email, user.role.value)
    return user, password


def _active_admins_besides(user: User) -> int:
    return db.session.scalar(
        sa.select(sa.func.count(User.id)).where(
            User.role == Role.ADMIN, User.active.is_(True), User.id != user.id
        )
    )


def update_user(
    user: User, *, name: str, role: Role, language: Language, active: bool
) -> User:
    """Change a user's name, role, language or active flag; one admin must remain."""
    role, language = Role(role), Language(language)
    losing_admin = user.role == Role.ADMIN and (role != Role.ADMIN or not active)
    if losing_admin and user.active and _active_admins_besides(user) == 0:
        raise AccountError(_l("Karn needs at least one active administrator."))
    changes = {}
    if role != user.role:
        changes["role"] = f"{user.role.value} -> {role.value}"
    if active != user.active:
        changes["active"] = str(active)
    user.name, user.role, user.language, user.active = (
        name.strip(),
        role,
        language,
        active,
    )
    db.session.flush()
    audit.record("user.update", user, **changes)
    return user


def set_password(user: User, password: str) -> None:
    """Give a user a new password."""
    _check_password(password)
    user.password_hash = hash_password(password)
    db.session.flush()
    audit.record("user.password", user)


def ensure_admin(email: str = "admin@localhost") -> tuple[User, str] | None:
    """Create the first administrator when there is no user at all."""
    if db.session.scalar(sa.select(sa.func.count(User.id))):
        return None
    return create_user(email, "Administrator", Role.ADMIN, Language.EN)


def create_api_key(name: str, created_by: User | None = None) -> tuple[ApiKey, str]:
    """Create an API key; the secret is returned once and only its hash is kept."""
    name = name.strip()
    if not name:
        raise AccountError(_l("Give the key a name, e.g. the system that will use it."))
    secret = new_api_key()
    key = ApiKey(
        name=name,
        prefix=secret[:12],
        key_hash=hash_api_key(secret),
        created_by_id=created_by.id if created_by else None,
    )
    db.session.add(key)
    db.session.flush()
    audit.record("apikey.create", key, user=created_by, name=name)
    return key, secret


def revoke_api_key(key: ApiKey) -> None:
    """Revoke a key: requests with it are refused from now on."""
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        db.session.flush()
        audit.record("apikey.revoke", key, name=key.name)


def find_api_key(secret: str) -> ApiKey | None:
    """The active key with this secret, its last use stamped; None otherwise."""
    key = db.session.scalar(
        sa.select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret))
    )
    if key is None or key.revoked_at is not None:
        return None
    key.last_used_at = clock.now()
    return key
