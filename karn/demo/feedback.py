"""The demo's feedback from other channels: support tickets, complaints,
reviews, social media posts and NPS comments, invented like the rest.

Items are stored through Karn's own intake (``karn.feedback.intake``), a part
of them linked to demo customers by customer number, and tagged by the same
tagger the worker runs, so the feedback pages look as they would in use.
"""

import random
from datetime import datetime, timedelta
from typing import Any

from karn.demo.texts import COMPETITORS

# Per channel: its share of the items, and whether it carries a rating (and on
# which scale: reviews 1-5 stars, NPS 0-10).
CHANNELS = {
    "support": (0.35, None),
    "complaint": (0.15, None),
    "review": (0.2, 5),
    "social": (0.15, None),
    "nps": (0.15, 10),
}
# Reasons are mixed a little differently from the exit survey: tickets and
# complaints are mostly about service and quality.
REASON_MIX = {"service": 0.32, "quality": 0.3, "price": 0.2, "brand": 0.08, "need": 0.1}

FEEDBACK_TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "nl": {
        "service": (
            "Al {days} dagen wacht ik op antwoord op mijn ticket over de factuur.",
            "Bij het klantcontact kreeg ik drie verschillende antwoorden op "
            "dezelfde vraag.",
            "De chatmedewerker sloot het gesprek voordat mijn vraag beantwoord was.",
            "Mijn terugbetaling is na {weeks} weken nog steeds niet binnen.",
            "Vriendelijke medewerker aan de telefoon, alles in één keer geregeld.",
        ),
        "quality": (
            "Sinds de update valt de verbinding elke avond weg.",
            "Het pakket kwam beschadigd aan en er ontbrak een onderdeel.",
            "De storing van vorige week duurde bijna {hours} uur.",
            "De app loopt vast zodra ik mijn overzicht open.",
            "Werkt sinds de laatste versie eindelijk stabiel, top.",
        ),
        "price": (
            "Alweer een prijsverhoging van {pct}%, dat wordt te duur.",
            "Voor wat je krijgt is het abonnement aan de prijzige kant.",
            "Onverwachte administratiekosten op mijn rekening.",
            "Prima prijs-kwaliteitverhouding, daar geen klagen over.",
        ),
        "brand": (
            "{competitor} biedt hetzelfde voor minder, ik twijfel om over te stappen.",
            "Mijn buren zijn overgestapt naar {competitor} en zijn heel tevreden.",
            "{competitor} heeft een veel betere app, jullie lopen achter.",
        ),
        "need": (
            "We verhuizen naar het buitenland, hoe zeg ik op?",
            "Ik gebruik het nauwelijks meer sinds ik met pensioen ben.",
            "Ons bedrijf stopt per volgende maand, graag opzeggen.",
        ),
    },
    "en": {
        "service": (
            "I have been waiting {days} days for an answer to my billing ticket.",
            "Support gave me three different answers to the same question.",
            "The chat agent closed the conversation before my question was answered.",
            "My refund still has not arrived after {weeks} weeks.",
            "Friendly agent on the phone, sorted everything in one go.",
        ),
        "quality": (
            "Since the update the connection drops every evening.",
            "The parcel arrived damaged and a part was missing.",
            "Last week's outage lasted almost {hours} hours.",
            "The app freezes as soon as I open my overview.",
            "Finally stable since the latest version, great.",
        ),
        "price": (
            "Another price increase of {pct}%, this is getting too expensive.",
            "For what you get the subscription is on the pricey side.",
            "Unexpected admin fees on my bill.",
            "Good value for money, no complaints there.",
        ),
        "brand": (
            "{competitor} offers the same for less, thinking about switching.",
            "My neighbours switched to {competitor} and are very happy.",
            "{competitor} has a much better app, you are falling behind.",
        ),
        "need": (
            "We are moving abroad, how do I cancel?",
            "I hardly use it any more since I retired.",
            "Our business closes next month, please cancel.",
        ),
    },
}
_FILL = {
    "days": ("5", "8", "12"),
    "weeks": ("3", "4", "6"),
    "hours": ("6", "9", "14"),
    "pct": ("7", "9", "12"),
}


def _pick(rng: random.Random, weights: dict[str, Any]) -> str:
    keys = list(weights)
    shares = [w[0] if isinstance(w, tuple) else w for w in weights.values()]
    return rng.choices(keys, shares)[0]


def _rating(rng: random.Random, scale: int, text: str) -> float:
    """Low for complaints, high for the few compliments among the texts."""
    good = any(
        word in text
        for word in ("top", "great", "Prima", "Good value", "Friendly", "Vriendelijk")
    )
    if scale == 5:
        return float(rng.choice((4, 5)) if good else rng.choice((1, 2, 2, 3)))
    return float(rng.choice((9, 10)) if good else rng.randint(0, 6))


def feedback_items(
    rng: random.Random,
    count: int,
    start: datetime,
    now: datetime,
    customer_numbers: dict[str, list[str]],
) -> list[dict[str, Any]]:
    """``count`` invented items between ``start`` and ``now``, as
    ``karn.feedback.intake.validate`` cleans them; ``customer_numbers`` gives,
    per language, demo customers' numbers that some items are linked to."""
    span = (now - start).total_seconds()
    items = []
    for n in range(count):
        channel = _pick(rng, CHANNELS)
        scale = CHANNELS[channel][1]
        lang = "nl" if rng.random() < 0.7 else "en"
        reason = _pick(rng, REASON_MIX)
        text = rng.choice(FEEDBACK_TEXTS[lang][reason]).format(
            competitor=rng.choice(COMPETITORS),
            **{key: rng.choice(values) for key, values in _FILL.items()},
        )
        linked = customer_numbers.get(lang) and rng.random() < 0.4
        items.append(
            {
                "text": text,
                "received_at": start + timedelta(seconds=rng.random() * span),
                "channel": channel,
                "rating": _rating(rng, scale, text) if scale else None,
                # Left out on a part, as an import often does: Karn detects it.
                "language": lang if rng.random() < 0.5 else None,
                "email": None,
                "customer_number": (
                    rng.choice(customer_numbers[lang]) if linked else None
                ),
                "source_id": f"demo-{channel}-{n + 1}",
            }
        )
    return items
