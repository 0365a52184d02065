"""The competitor list administrators keep, stored as a setting, cached.

The list is the JSON value of the setting ``text.competitors``:
``{"version": 3, "companies": [{"name": "Klaverweb", "aliases": ["KW"]}]}``.
Every save raises the version; tags record the version they were made with
(``tags.competitors``), so a re-tag finds what an older list tagged. Tagging
asks for the list on every text, so each process keeps it in memory, per
application, and looks at the setting at most every
``TAG_MODEL_CHECK_SECONDS`` seconds (as the reason model's store does).
"""

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, has_app_context

from karn.extensions import db
from karn.settings import Setting
from karn.text import competitors
from karn.text.competitors import Competitors

KEY = "text.competitors"
# The version whose re-tag of the stored texts is complete.
RETAGGED_KEY = "text.competitors.retagged"
CHECK_SECONDS = 5.0
MAX_COMPANIES = 200
MAX_ALIASES = 20
_EXTENSION = "karn_competitors"


@dataclass
class _Cache:
    current: Competitors | None = None
    checked: float = float("-inf")
    lock: threading.Lock = field(default_factory=threading.Lock)


def _cache(app: Flask) -> _Cache:
    cache = app.extensions.get(_EXTENSION)
    if cache is None:
        cache = app.extensions.setdefault(_EXTENSION, _Cache())
    return cache


def _value(key: str) -> Any:
    with db.session.no_autoflush:
        row = db.session.get(Setting, key)
    return row.value if row is not None else None


def stored() -> Competitors:
    """The list as stored now (version 0 and empty when never saved)."""
    value = _value(KEY) or {}
    return Competitors.of(
        (
            (c.get("name", ""), c.get("aliases", ()))
            for c in value.get("companies", ())
            if isinstance(c, dict)
        ),
        version=int(value.get("version", 0)),
    )


def active_competitors() -> Competitors:
    """The list that tags texts now; none outside an application."""
    if not has_app_context():
        return competitors.NONE
    app = current_app._get_current_object()
    cache = _cache(app)
    now = time.monotonic()
    every = app.config.get("TAG_MODEL_CHECK_SECONDS", CHECK_SECONDS)
    current = cache.current
    if current is not None and now - cache.checked < every:
        return current
    with cache.lock:
        if cache.current is None or now - cache.checked >= every:
            found = stored()
            if cache.current is None or cache.current.version != found.version:
                cache.current = found
            cache.checked = now
        return cache.current


def invalidate(app: Flask | None = None) -> None:
    """Read the setting again on the next text (after a change)."""
    app = app or current_app._get_current_object()
    _cache(app).checked = float("-inf")


competitors.set_provider(active_competitors)


def parse_lines(text: str) -> list[dict]:
    """The page's text, a company a line, "Name, alias, alias", as records.

    Raises ValueError("too_many") past MAX_COMPANIES lines or MAX_ALIASES
    aliases. Duplicate names (in any case) are merged.
    """
    out: dict[str, dict] = {}
    for line in text.splitlines():
        parts = [" ".join(p.split()) for p in line.replace(";", ",").split(",")]
        parts = [p[:100] for p in parts if p]
        if not parts:
            continue
        name, aliases = parts[0], parts[1:]
        if len(aliases) > MAX_ALIASES:
            raise ValueError("too_many")
        entry = out.setdefault(name.lower(), {"name": name, "aliases": []})
        for alias in aliases:
            if alias.lower() != name.lower() and alias not in entry["aliases"]:
                entry["aliases"].append(alias)
    if len(out) > MAX_COMPANIES:
        raise ValueError("too_many")
    return list(out.values())


def as_lines(found: Competitors) -> str:
    """The list as the page shows it: a company a line."""
    return "\n".join(", ".join((name, *aliases)) for name, aliases in found.companies)


def save(companies: list[dict], user_id: int | None) -> int | None:
    """Store the list under the next version; None when nothing changed.

    The caller commits (and starts the re-tag: the worker sees the new
    version and tags the stored texts again).
    """
    row = db.session.get(Setting, KEY)
    old = row.value if row is not None else {}
    if (old or {}).get("companies", []) == companies:
        return None
    version = int((old or {}).get("version", 0)) + 1
    value = {"version": version, "companies": companies}
    if row is None:
        db.session.add(Setting(key=KEY, value=value, updated_by_id=user_id))
    else:
        row.value, row.updated_by_id = value, user_id
    db.session.flush()
    if has_app_context():
        invalidate()
    return version


def retagged_version() -> int:
    """The list version whose re-tag of stored texts has finished."""
    return int(_value(RETAGGED_KEY) or 0)


def mark_retagged(version: int) -> None:
    """Record that every stored text carries this version's tags. No commit."""
    row = db.session.get(Setting, RETAGGED_KEY)
    if row is None:
        db.session.add(Setting(key=RETAGGED_KEY, value=version))
    else:
        row.value = version
    db.session.flush()
