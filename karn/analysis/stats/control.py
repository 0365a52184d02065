"""Control charts: a reason's share per period against the limits chance allows."""

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from karn.analysis.stats.intervals import _check_count, _order_key, wilson_interval


@dataclass(frozen=True)
class PChartPoint:
    """One period on a p-chart, with limits for that period's sample size."""

    label: Hashable
    successes: int
    n: int
    proportion: float | None
    centre: float | None
    ucl: float | None
    lcl: float | None
    out_of_control: bool


def p_chart(points: Sequence[tuple[Hashable, int, int]]) -> list[PChartPoint]:
    """Shewhart p-chart: proportion per period against 3-sigma limits.

    The centre line is the pooled proportion over all periods; each period's
    limits are ``p̄ ± 3·sqrt(p̄(1-p̄)/n_i)`` for its own ``n_i``, clipped to [0, 1].
    A point is out of control when it lies strictly outside its limits. Periods
    with no responses get no proportion or limits.
    """
    for _label, successes, n in points:
        _check_count(successes, n)
    total_n = sum(n for _label, _successes, n in points)
    total_x = sum(successes for _label, successes, _n in points)
    centre = total_x / total_n if total_n else None
    chart = []
    for label, successes, n in points:
        if n == 0 or centre is None:
            empty = PChartPoint(label, successes, n, None, centre, None, None, False)
            chart.append(empty)
            continue
        proportion = successes / n
        sigma = math.sqrt(centre * (1.0 - centre) / n)
        ucl = min(1.0, centre + 3.0 * sigma)
        lcl = max(0.0, centre - 3.0 * sigma)
        chart.append(
            PChartPoint(
                label=label,
                successes=successes,
                n=n,
                proportion=proportion,
                centre=centre,
                ucl=ucl,
                lcl=lcl,
                out_of_control=proportion > ucl or proportion < lcl,
            )
        )
    return chart


@dataclass(frozen=True)
class TrendPoint:
    """A reason's share in one period, with its Wilson interval."""

    period: Hashable
    count: int
    shown: int
    share: float | None
    ci_low: float | None
    ci_high: float | None


@dataclass(frozen=True)
class Trend:
    """Shares per reason per period; ``reasons[code]`` follows ``periods``."""

    periods: list[Hashable]
    respondents: list[int]
    reasons: dict[str, list[TrendPoint]] = field(default_factory=dict)
    confidence: float = 0.95

    def as_dict(self) -> dict[str, Any]:
        """The trend as nested dicts and lists, ready for JSON."""
        return asdict(self)


def trend(
    series: Iterable[tuple[Hashable, Mapping[str, int], Mapping[str, int]]],
    confidence: float = 0.95,
) -> Trend:
    """Each reason's share per period, with Wilson intervals.

    ``series`` holds ``(period, counts, shown)`` in chronological order, with the
    same meaning as in ``rank_reasons``. A reason missing from a period, or not
    shown in it, gets no share there (a gap in the line, not a zero).
    """
    rows = list(series)
    codes = sorted(
        {code for _period, counts, shown in rows for code in (*counts, *shown)},
        key=_order_key,
    )
    reasons: dict[str, list[TrendPoint]] = {code: [] for code in codes}
    for period, counts, shown in rows:
        for code in codes:
            count = int(counts.get(code, 0))
            exposed = int(shown.get(code, 0))
            _check_count(count, exposed)
            if exposed:
                low, high = wilson_interval(count, exposed, confidence)
                point = TrendPoint(period, count, exposed, count / exposed, low, high)
            else:
                point = TrendPoint(period, count, exposed, None, None, None)
            reasons[code].append(point)
    return Trend(
        periods=[period for period, _counts, _shown in rows],
        respondents=[int(sum(counts.values())) for _period, counts, _shown in rows],
        reasons=reasons,
        confidence=confidence,
    )
