"""From SQL counts to the statistics the dashboard, the API and the CLI show."""

from collections import OrderedDict
from threading import Lock
from typing import Any

from flask import g

from karn.analysis import queries, stats
from karn.analysis.filters import Filters


def ranking(
    f: Filters, weight: str = "count"
) -> tuple[stats.Ranking, queries.ReasonCounts]:
    """The reason ranking with Wilson intervals, by count or by lost revenue."""
    counts = queries.reason_counts(f)
    # Every reason gets a revenue figure (0 when nobody citing it had one), so
    # ranking by revenue works even before revenues are known.
    revenue = {code: counts.monthly_revenue.get(code, 0.0) for code in counts.shown}
    ranked = stats.rank_reasons(
        counts.counts,
        counts.shown,
        revenue=revenue,
        weight="revenue" if weight == "revenue" else "count",
        n=counts.n,
    )
    return ranked, counts


def ranking_json(f: Filters, weight: str = "count") -> dict[str, Any]:
    """The ranking as the API and `flask analysis ranking --json` give it."""
    ranked, counts = ranking(f, weight)
    return {
        "n": ranked.n,
        "weight": ranked.weight,
        "filters": f.to_args(),
        "reasons": [
            {
                "reason": row.reason,
                "count": row.count,
                "shown": row.shown,
                "share": row.share,
                "ci_low": row.ci_low,
                "ci_high": row.ci_high,
                "revenue": round(row.revenue, 2) if row.revenue is not None else None,
                "revenue_share": row.revenue_share,
                "secondary": counts.secondary.get(row.reason, 0),
                "overlaps_next": row.overlaps_next,
            }
            for row in ranked.reasons
        ],
    }


def _monthly(f: Filters) -> list:
    # The trends page needs the same monthly counts twice (trend and p-chart);
    # count once per request.
    cache = g.setdefault("karn_monthly_counts", {})
    if f.key() not in cache:
        cache[f.key()] = queries.monthly_counts(f)
    return cache[f.key()]


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:7])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def timeline(f: Filters, through: str | None = None) -> list:
    """The monthly counts as a chart's time axis: every month from the first
    with answers to the last, or to ``through`` ('YYYY-MM') when that is later,
    months without answers empty. An action started in a quiet month, or in
    the current month before anybody answered, then still has its place."""
    rows = _monthly(f)
    if not rows:
        return []
    by_month = {month: (counts, shown) for month, counts, shown in rows}
    last = max(rows[-1][0], through or "")
    months = [rows[0][0]]
    while months[-1] < last:
        months.append(_next_month(months[-1]))
    return [(m, *by_month.get(m, ({}, {}))) for m in months]


def trend(f: Filters, rows: list | None = None) -> stats.Trend:
    """Each reason's monthly share with intervals (of ``rows`` when given, as
    from ``timeline``)."""
    return stats.trend(_monthly(f) if rows is None else rows)


def p_chart(
    f: Filters, reason: str, rows: list | None = None
) -> list[stats.PChartPoint]:
    """A p-chart of one reason's monthly share (of ``rows`` when given)."""
    return stats.p_chart(
        [
            (month, counts.get(reason, 0), shown.get(reason, 0))
            for month, counts, shown in (_monthly(f) if rows is None else rows)
        ]
    )


class ChartCache:
    """Rendered charts by (name, filters, language, data version); bounded in size."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple, render) -> bytes:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = render()
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return value


charts_cache = ChartCache()
