"""What the steps of the demo share: its settings, its error and small helpers."""

import math
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from karn.demo.texts import (
    ACTION_RAMP_DAYS,
    BASE_MIX,
    CLOSERS,
    COMPETITORS,
    FILLERS,
    REASONS,
    SEGMENT_FACTORS,
    SERVICE_AFTER_ACTION,
    TEXTS,
)
from karn.enums import Language, Role

DEMO_MARK = {"demo": "yes"}
EXTERNAL_PREFIX = "DEMO-"

# Known passwords, printed by `flask demo seed`: this is a demo database only.
DEMO_LOGINS: tuple[tuple[str, str, Role, Language, str], ...] = (
    ("admin@example.com", "Demo Beheerder", Role.ADMIN, Language.NL, "demo-admin-123"),
    (
        "manager@example.com",
        "Marieke Jansen (demo)",
        Role.MANAGER,
        Language.NL,
        "demo-manager-123",
    ),
    (
        "sanne@example.com",
        "Sanne Bakker (demo)",
        Role.STAFF,
        Language.NL,
        "demo-staff-123",
    ),
    ("tom@example.com", "Tom Visser (demo)", Role.STAFF, Language.EN, "demo-staff-123"),
)

ACTION_TITLE = "Terugbelgarantie klantenservice binnen 24 uur"
ACTION_DESCRIPTION = (
    "Wie de klantenservice belt en niet direct geholpen wordt, wordt binnen 24 uur "
    "teruggebeld door een vaste medewerker. (Demo-gegevens.)"
)

BATCH = 1000
RESPONSE_BATCH = 250
TZ = ZoneInfo("Europe/Amsterdam")
DAY = timedelta(days=1)
REMINDER_DAYS = (5, 12)
LINK_VALID_DAYS = 60


class DemoError(RuntimeError):
    """The demo cannot be seeded here; the message says why."""


# ------------------------------------------------------------------ helpers


def _pick(rng: random.Random, weights: dict) -> Any:
    keys = list(weights)
    return rng.choices(keys, weights=[weights[k] for k in keys])[0]


def _fill(rng: random.Random, text: str, lang: str) -> str:
    fillers = FILLERS[lang]
    return text.format(
        competitor=rng.choice(COMPETITORS),
        **{name: rng.choice(options) for name, options in fillers.items()},
    )


def demo_comment(rng: random.Random, lang: str, reason: str, tone: str) -> str:
    """A free-text answer written for the demo, varied by combination."""
    bank = TEXTS[lang]
    parts = [_fill(rng, rng.choice(bank[reason][tone]), lang)]
    if rng.random() < 0.3:
        # A second thought, about the same reason or something else.
        other = reason if rng.random() < 0.5 else rng.choice(REASONS)
        extra = _fill(rng, rng.choice(bank[other][tone]), lang)
        if extra != parts[0]:
            parts.append(extra)
    if rng.random() < 0.25:
        parts.append(rng.choice(CLOSERS[lang][tone]))
    text = " ".join(parts)
    roll = rng.random()
    # People type carelessly: a missing full stop or a lower-case start.
    if roll < 0.12:
        text = text.rstrip(".")
    elif roll < 0.18:
        text = text[0].lower() + text[1:]
    elif roll < 0.21 and tone == "negative":
        text = text.rstrip(".") + "!!"
    return text


def _reason_mix(segment: str, at: datetime, action_start: datetime) -> dict:
    mix = dict(BASE_MIX)
    for reason, factor in SEGMENT_FACTORS.get(segment, {}).items():
        mix[reason] *= factor
    if at >= action_start:
        progress = min(1.0, (at - action_start) / timedelta(days=ACTION_RAMP_DAYS))
        mix["service"] *= 1 - (1 - SERVICE_AFTER_ACTION) * progress
    return mix


def _business_hours(rng: random.Random, at: datetime) -> datetime:
    """The moment moved into 8:00-21:00 Dutch time, as quiet hours would."""
    local = at.astimezone(TZ)
    if 8 <= local.hour < 21:
        return at
    if local.hour >= 21:
        local += DAY
    local = local.replace(hour=8, minute=rng.randrange(60), second=rng.randrange(60))
    return local.astimezone(UTC)


def _seasonal_days(
    rng: random.Random, start: datetime, now: datetime, count: int
) -> list[datetime]:
    """Departure times: more around New Year (contract ends), fewer in summer."""
    days = max(1, (now - start).days)
    weights = []
    for offset in range(days):
        day = start + offset * DAY
        doy = day.timetuple().tm_yday
        season = 1 + 0.35 * math.cos(2 * math.pi * (doy - 10) / 365.25)
        september = 0.25 * math.exp(-(((doy - 250) / 14) ** 2))
        weekday = 0.7 if day.weekday() >= 5 else 1.0
        weights.append((season + september) * weekday)
    chosen = rng.choices(range(days), weights=weights, k=count)
    result = []
    for offset in chosen:
        moment = start + offset * DAY + timedelta(seconds=rng.randrange(86_400))
        result.append(min(moment, now - timedelta(minutes=5)))
    return sorted(result)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def _phone(rng: random.Random, lang: str) -> str:
    digits = "".join(str(rng.randrange(10)) for _ in range(8))
    if lang == "en" or rng.random() < 0.2:
        return f"+31 6 {digits[:4]} {digits[4:]}"
    return f"06-{digits}"


def _slug(text: str) -> str:
    table = str.maketrans({"ü": "u", "'": "", " ": ""})
    return text.lower().translate(table)
