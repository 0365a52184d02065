"""Reasons from sources that features beside the analysis keep (feedback items
from support tickets, reviews and other channels), as channels of their own.

A feature registers a `Source` when the app starts (karn.app); the dashboard's
"Reasons from" selector then offers its channels, and the ranking and trends
count its reasons, never mixed with survey answers. Each item is one
respondent who could have named every reason, as for the stated reasons.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """What a feature gives: its channel values with their names, and counts."""

    prefix: str  # its channel values are prefix and prefix.<something>
    label: Callable[[], str]  # the name of all of it ("all feedback")
    channels: Callable[[], list[tuple[str, str]]]  # (value, name), more specific
    accepts: Callable[[str], bool]  # whether a channel value is one of its own
    # (filters, value) -> [(Reason, count)]
    reason_rows: Callable[..., list]
    # (filters, value) -> {month: {reason code: count}}
    monthly_rows: Callable[..., dict]
    waiting: Callable[[], int]  # items not yet tagged
    link: Callable[[str], str]  # the page listing the items of a channel value
    version: Callable[[], tuple]  # changes when its counts may have changed


_sources: list[Source] = []


def register(source: Source) -> None:
    if all(s.prefix != source.prefix for s in _sources):
        _sources.append(source)


def find(channel: str | None) -> Source | None:
    """The source a channel value belongs to, if any."""
    for source in _sources:
        if channel and (
            channel == source.prefix or channel.startswith(source.prefix + ".")
        ):
            return source
    return None


def version(channel: str | None) -> tuple | None:
    """What expires a cached chart of a source's channel."""
    source = find(channel)
    return source.version() if source else None


def accepts(channel: str) -> bool:
    """Whether a registered source takes this channel value."""
    source = find(channel)
    return source is not None and (channel == source.prefix or source.accepts(channel))


def options() -> list[tuple[str, str]]:
    """(value, name) for the selector: each source's channels, then all of it."""
    found = []
    for source in _sources:
        found += source.channels()
        found.append((source.prefix, source.label()))
    return found
