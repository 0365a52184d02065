"""Statistics for the manager dashboard: shares, intervals, tests and control charts.

Every function takes plain counts (the database layer aggregates in SQL) and returns
dataclasses or dicts of plain numbers, so the results can be rendered, charted or
serialised without this package knowing about Flask or the database.

A departure reason's share is counted over the respondents who were *shown* that
option: a survey version may hide options, and a respondent who never saw "price"
could not have chosen it.

`intervals`: shares, their intervals, the ranking and segments; `change`: two
proportions compared and the verdict in words; `control`: p-charts and trends.
"""

from karn.analysis.stats.change import (
    _p_text,
    assess_change,
    sample_size_needed,
    two_proportion_test,
    verdict,
)
from karn.analysis.stats.control import PChartPoint, Trend, TrendPoint, p_chart, trend
from karn.analysis.stats.intervals import (
    REASON_ORDER,
    Ranking,
    ReasonShare,
    Weight,
    compare_segments,
    goodman_intervals,
    rank_reasons,
    wilson_interval,
)

__all__ = [
    "REASON_ORDER",
    "PChartPoint",
    "Ranking",
    "ReasonShare",
    "Trend",
    "TrendPoint",
    "Weight",
    "_p_text",
    "assess_change",
    "compare_segments",
    "goodman_intervals",
    "p_chart",
    "rank_reasons",
    "sample_size_needed",
    "trend",
    "two_proportion_test",
    "verdict",
    "wilson_interval",
]
