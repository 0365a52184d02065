"""Counting feedback items: reasons per channel, by month, and the item list.

Every count is one GROUP BY over `feedback_items`, read from the index on
(channel, tag_reason, received_at); the customer is joined only when a filter
asks for a customer attribute. Untagged items are not counted (the pages say
how many wait), nor are survey answers: feedback is a source of its own.

The analysis passes its filters (karn.analysis.filters.Filters); only their
period, language and customer conditions are read here.
"""

from collections import defaultdict

import sqlalchemy as sa

from karn.customers.models import Customer
from karn.enums import Reason
from karn.extensions import db
from karn.feedback.models import FeedbackItem, channel_names

PREFIX = "feedback"


def analysis_channels() -> list[tuple[str, str]]:
    """The "Reasons from" choices: "feedback.<code>" for each channel with items."""
    found = []
    for code, name in channel_names().items():
        # One look in the index per channel, not a scan of every item.
        has = sa.select(FeedbackItem.id).where(FeedbackItem.channel == code).limit(1)
        if db.session.scalar(has) is not None:
            found.append((f"{PREFIX}.{code}", name))
    return found


def accepts(value: str) -> bool:
    """Whether "feedback.<code>" names a known channel."""
    code = channel_of(value)
    return code is not None and code in channel_names()


def channel_of(value: str) -> str | None:
    """The channel code of an analysis channel value; None for all feedback."""
    return value.split(".", 1)[1] if "." in value else None


def _month(column):
    if db.engine.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM")
    return sa.func.substr(column, 1, 7)


def _where(query, f, channel: str | None):
    query = query.where(FeedbackItem.tag_reason.is_not(None))
    if channel:
        query = query.where(FeedbackItem.channel == channel)
    if f is None:
        return query
    query = query.where(*f.period_conditions(FeedbackItem.received_at))
    if f.language:
        query = query.where(FeedbackItem.language == f.language)
    conditions = f.customer_conditions()
    if conditions:
        query = query.join(Customer, Customer.id == FeedbackItem.customer_id).where(
            Customer.erased_at.is_(None), *conditions
        )
    return query


def _reason(code) -> Reason:
    return code if isinstance(code, Reason) else Reason(code)


def reason_rows(f, channel: str | None) -> list[tuple[Reason, int]]:
    """(reason, items) of one channel (None: all), tagged items only.

    All channels are counted per channel and added up here: grouped in the
    index's own order, SQLite needs no temporary tree for a million items.
    """
    if channel is None:
        total: dict[str, int] = defaultdict(int)
        for row in by_channel(f).values():
            for code, n in row.items():
                total[code] += n
        return [(Reason(code), n) for code, n in total.items()]
    query = _where(
        sa.select(FeedbackItem.tag_reason, sa.func.count()).group_by(
            FeedbackItem.tag_reason
        ),
        f,
        channel,
    )
    return [(_reason(code), n) for code, n in db.session.execute(query)]


def monthly_rows(f, channel: str | None) -> dict[str, dict[str, int]]:
    """{month: {reason: items}} of one channel (None: all)."""
    month = _month(FeedbackItem.received_at).label("month")
    query = _where(
        sa.select(month, FeedbackItem.tag_reason, sa.func.count()).group_by(
            month, FeedbackItem.tag_reason
        ),
        f,
        channel,
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for m, code, n in db.session.execute(query):
        counts[m][_reason(code).value] = n
    return dict(counts)


def by_channel(f=None) -> dict[str, dict[str, int]]:
    """{channel: {reason: items}}: the reason mix per channel."""
    query = _where(
        sa.select(
            FeedbackItem.channel, FeedbackItem.tag_reason, sa.func.count()
        ).group_by(FeedbackItem.channel, FeedbackItem.tag_reason),
        f,
        None,
    )
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for channel, code, n in db.session.execute(query):
        counts[channel][_reason(code).value] = n
    return dict(counts)


def comparison(f=None) -> dict:
    """The reason mix per channel as shares, for the side-by-side table."""
    counts = by_channel(f)
    names = channel_names()
    channels = []
    for code, name in names.items():
        row = counts.get(code)
        if not row:
            continue
        n = sum(row.values())
        channels.append(
            {
                "code": code,
                "name": name,
                "n": n,
                "counts": row,
                "shares": {r.value: row.get(r.value, 0) / n for r in Reason},
            }
        )
    total: dict[str, int] = defaultdict(int)
    for row in counts.values():
        for code, n in row.items():
            total[code] += n
    n_all = sum(total.values())
    return {
        "channels": channels,
        "n": n_all,
        "shares": {
            r.value: total.get(r.value, 0) / n_all if n_all else 0 for r in Reason
        },
    }


def items(
    channel: str | None = None,
    reason: str | None = None,
    limit: int = 50,
    offset: int = 0,
):
    """The items stored last (of a channel, with a reason), for the comments list."""
    query = sa.select(FeedbackItem).where(FeedbackItem.text.is_not(None))
    if channel:
        query = query.where(FeedbackItem.channel == channel)
    if reason:
        query = query.where(FeedbackItem.tag_reason == reason)
    query = query.order_by(FeedbackItem.id.desc())
    return db.session.scalars(query.limit(limit).offset(offset)).all()


def total(channel: str | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(FeedbackItem)
    if channel:
        query = query.where(FeedbackItem.channel == channel)
    return db.session.scalar(query) or 0


def version() -> tuple:
    """Changes when items are stored, tagged or corrected: each a lookup in an
    index (the newest item, the untagged ones, the last correction)."""
    from karn.accounts.models import AuditEntry

    return tuple(
        db.session.execute(
            sa.select(
                sa.select(sa.func.max(FeedbackItem.id)).scalar_subquery(),
                sa.select(sa.func.count())
                .select_from(FeedbackItem)
                # The partial index's own condition: counted from it alone.
                .where(FeedbackItem.tagged_at.is_(None), FeedbackItem.text.is_not(None))
                .scalar_subquery(),
                sa.select(sa.func.max(AuditEntry.id))
                .where(AuditEntry.action == "feedback.tags.correct")
                .scalar_subquery(),
            )
        ).one()
    )


def analysis_source() -> dict:
    """What the analysis needs to offer feedback as a source of its own
    (karn.analysis.sources.Source), connected by the app."""
    from flask import url_for
    from flask_babel import gettext as _

    from karn.feedback import tagging

    return {
        "prefix": PREFIX,
        "label": lambda: _("all feedback"),
        "channels": analysis_channels,
        "accepts": accepts,
        "reason_rows": lambda f, value: reason_rows(f, channel_of(value)),
        "monthly_rows": lambda f, value: monthly_rows(f, channel_of(value)),
        "waiting": tagging.waiting,
        "link": lambda value: url_for("feedback.index", channel=channel_of(value)),
        "version": version,
    }
