"""Which reason model tags texts: trained versions in the database, cached.

Version 0 is the model shipped with Karn (``data/reason_model.json``); it is in
use while no trained version (a row of ``tag_models``) is active. Tagging asks
``active_reason_model`` for the model on every text, so that must cost next to
nothing: each process keeps the active model in memory, per application, and
looks up the active version number at most every ``TAG_MODEL_CHECK_SECONDS``
(default 5) seconds, loading a model only when the number changed. Activating a
version in this process is seen at once; other processes follow within those
seconds.
"""

import logging
import threading
import time
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context

from karn import clock
from karn.accounts import audit
from karn.extensions import db
from karn.text import reasons
from karn.text.models import TagModel
from karn.text.reasons import ReasonModel, default_model

log = logging.getLogger(__name__)

TASK = "reason"
CHECK_SECONDS = 5.0
_EXTENSION = "karn_reason_model"


@dataclass
class _Cache:
    # (version, model), replaced as a whole so readers never see a mix.
    current: tuple[int, ReasonModel] | None = None
    checked: float = float("-inf")
    loaded: dict[int, ReasonModel] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache(app: Flask) -> _Cache:
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(_EXTENSION, _Cache())
    return cache


def active_version() -> int:
    """The version active in the database now (0: the shipped model)."""
    with db.session.no_autoflush:
        version = db.session.scalar(
            sa.select(TagModel.version).where(
                TagModel.task == TASK, TagModel.active.is_(True)
            )
        )
    return version or 0


def load(version: int) -> ReasonModel:
    """A stored model by version (0: the shipped one); LookupError if unknown."""
    if version == 0:
        return default_model()
    with db.session.no_autoflush:
        payload = db.session.scalar(
            sa.select(TagModel.payload).where(
                TagModel.task == TASK, TagModel.version == version
            )
        )
    if payload is None:
        raise LookupError(f"no reason model version {version}")
    return ReasonModel.from_json(payload)


def active_reason_model() -> tuple[int, ReasonModel]:
    """(version, model) that tags texts now; the shipped model outside an app."""
    if not has_app_context():
        return 0, default_model()
    app = current_app._get_current_object()
    cache = _cache(app)
    current = cache.current
    now = time.monotonic()
    every = app.config.get("TAG_MODEL_CHECK_SECONDS", CHECK_SECONDS)
    if current is not None and now - cache.checked < every:
        return current
    with cache.lock:
        if cache.current is not None and now - cache.checked < every:
            return cache.current
        version = active_version()
        if cache.current is None or cache.current[0] != version:
            model = cache.loaded.get(version)
            if model is None:
                try:
                    model = load(version)
                except (LookupError, ValueError, KeyError, TypeError):
                    # Never fail a submission over a model: tag with the shipped
                    # one (and say so in the tags, so a re-tag fixes it later).
                    log.exception("reason model %s unusable; using version 0", version)
                    version, model = 0, default_model()
                # The previous model stays too, for a quick switch back.
                keep = cache.current[0] if cache.current else None
                cache.loaded = {v: m for v, m in cache.loaded.items() if v == keep} | {
                    version: model
                }
            cache.current = (version, model)
        cache.checked = now
        return cache.current


def invalidate(app: Flask | None = None) -> None:
    """Look the active version up again on the next text (after a change)."""
    app = app or current_app._get_current_object()
    _cache(app).checked = float("-inf")


reasons.set_active_model_provider(active_reason_model)


def versions() -> list[TagModel]:
    """Trained reason models, oldest first."""
    return db.session.scalars(
        sa.select(TagModel).where(TagModel.task == TASK).order_by(TagModel.version)
    ).all()


def next_version() -> int:
    latest = db.session.scalar(
        sa.select(sa.func.max(TagModel.version)).where(TagModel.task == TASK)
    )
    return (latest or 0) + 1


def activate(version: int, by: str | None = None) -> TagModel | None:
    """Make a version the one that tags (0: back to the shipped model).

    Raises LookupError for an unknown version, ValueError for a stored model
    this Karn cannot read. The caller commits.
    """
    row = None
    if version != 0:
        row = db.session.scalar(
            sa.select(TagModel).where(
                TagModel.task == TASK, TagModel.version == version
            )
        )
        if row is None:
            raise LookupError(f"no reason model version {version}")
        ReasonModel.from_json(row.payload)  # ValueError if it is not usable
    # The partial unique index allows one active row: switch the old one off first.
    db.session.execute(
        sa.update(TagModel)
        .where(TagModel.task == TASK, TagModel.active.is_(True))
        .values(active=False)
        .execution_options(synchronize_session="fetch")
    )
    if row is not None:
        row.active, row.activated_at = True, clock.now()
    audit.record("analysis.model_activate", row, task=TASK, version=version, by=by)
    db.session.flush()
    invalidate()
    return row
