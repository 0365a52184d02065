"""The digest's experiments against their control groups: keep calls, and
follow-ups and campaigns, each with its verdict so far."""

from collections.abc import Callable
from datetime import datetime

from karn.experiments import keepcalls
from karn.followups import effect


def sections(
    start: datetime, end: datetime, lang: str, day: Callable[[datetime], str]
) -> dict[str, list]:
    """Those whose horizon overlaps [start, end), by the digest's field."""
    return {
        "keep_calls": keepcalls.summaries(start, end, lang, day),
        "win_back_mails": effect.summaries(start, end, lang, day),
    }
