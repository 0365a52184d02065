"""Reasons' shares with their intervals, the ranking, and segment comparisons.

Every function takes plain counts (the database layer aggregates in SQL) and returns
dataclasses or dicts of plain numbers, so the results can be rendered, charted or
serialised without this module knowing about Flask or the database.

A departure reason's share is counted over the respondents who were *shown* that
option: a survey version may hide options, and a respondent who never saw "price"
could not have chosen it.
"""

import functools
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from karn.enums import Reason

# Ties are broken in the canonical order so that equal input always ranks the same.
REASON_ORDER: tuple[str, ...] = tuple(reason.value for reason in Reason)

Weight = Literal["count", "revenue"]


def _order_key(code: str) -> tuple[int, str]:
    """Sort key putting canonical reason codes first, in their canonical order."""
    try:
        return (REASON_ORDER.index(code), code)
    except ValueError:
        return (len(REASON_ORDER), code)


# scipy's ppf costs tens of microseconds a call; a ranking asks for the same few
# levels many times over.
@functools.lru_cache(maxsize=16)
def _z(confidence: float) -> float:
    """Two-sided standard-normal quantile for a confidence level."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1: {confidence}")
    from scipy.stats import norm

    return float(norm.ppf(1.0 - (1.0 - confidence) / 2.0))


def _check_count(successes: int, n: int) -> None:
    """Reject counts that cannot come from a binomial sample."""
    if n < 0 or successes < 0:
        raise ValueError(f"counts must not be negative: {successes} of {n}")
    if successes > n:
        raise ValueError(f"more successes than trials: {successes} of {n}")


def wilson_interval(
    successes: int, n: int, confidence: float = 0.95
) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion; n == 0 gives (0.0, 1.0).

    With no trials nothing is known about the proportion, so the whole unit
    interval is returned rather than None: callers can always unpack two floats,
    and a chart draws an honest full-height error bar.
    """
    _check_count(successes, n)
    if n == 0:
        return (0.0, 1.0)
    z = _z(confidence)
    p = successes / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = p + z2 / (2.0 * n)
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = (centre - half) / denominator
    high = (centre + half) / denominator
    # The exact bounds at 0 and n are 0 and 1; rounding would leave 1e-17 residues.
    if successes == 0:
        low = 0.0
    if successes == n:
        high = 1.0
    return (max(0.0, low), min(1.0, high))


@dataclass(frozen=True)
class ReasonShare:
    """One reason's line in a ranking."""

    reason: str
    count: int
    shown: int
    share: float | None
    ci_low: float | None
    ci_high: float | None
    revenue: float | None
    revenue_share: float | None
    # True: this reason's interval overlaps the next one's, so their order is not
    # established. None: not comparable (never shown, or ranked by revenue).
    overlaps_next: bool | None
    not_shown: bool


@dataclass(frozen=True)
class Ranking:
    """Reasons ranked by share (or by lost revenue), with the respondent count."""

    reasons: list[ReasonShare]
    n: int
    weight: str
    confidence: float
    total_revenue: float | None

    def as_dict(self) -> dict[str, Any]:
        """The ranking as nested dicts and lists, ready for JSON."""
        return asdict(self)


def _intervals_overlap(a: ReasonShare, b: ReasonShare) -> bool:
    """Whether two reasons' confidence intervals share at least one point."""
    assert a.ci_low is not None and a.ci_high is not None
    assert b.ci_low is not None and b.ci_high is not None
    return a.ci_low <= b.ci_high and b.ci_low <= a.ci_high


def rank_reasons(
    counts: Mapping[str, int],
    shown: Mapping[str, int],
    revenue: Mapping[str, float] | None = None,
    weight: Weight = "count",
    confidence: float = 0.95,
    n: int | None = None,
) -> Ranking:
    """Rank departure reasons by share of the respondents shown each option.

    ``counts[r]`` is how many respondents gave ``r`` as their primary reason and
    ``shown[r]`` how many were shown ``r`` as an option; ``share = count / shown``
    with a Wilson interval. ``n`` is the number of respondents, the sum of
    ``counts`` (each respondent gives exactly one primary reason), unless given:
    where one respondent may name several reasons (a phone call), pass it.

    ``revenue[r]`` is the revenue lost with the customers citing ``r``: the caller
    chooses the measure (monthly recurring revenue or lifetime value) and sums it
    per reason. ``revenue_share`` is each reason's part of the total lost revenue,
    so it answers "how much of the money walking out the door goes with this
    reason". Unlike ``share`` it is not corrected for hidden options, and having
    only sums there is no interval for it. With ``weight="revenue"`` reasons are
    ordered by revenue and ``overlaps_next`` is None, because share intervals say
    nothing about the order of revenue.

    ``overlaps_next`` is True when a reason's interval overlaps the next ranked
    reason's: the data do not establish which of the two is larger. Overlap is a
    conservative check; separate intervals do establish the order.

    Reasons never shown (``shown == 0``) have no share, are flagged ``not_shown``
    and come last. Reasons are the union of the keys of ``counts``, ``shown``
    and ``revenue``.
    """
    if weight not in ("count", "revenue"):
        raise ValueError(f"weight must be 'count' or 'revenue': {weight!r}")
    if weight == "revenue" and revenue is None:
        raise ValueError("weight='revenue' needs revenue per reason")
    if revenue is not None and any(value < 0 for value in revenue.values()):
        raise ValueError("revenue must not be negative")

    total_revenue = float(sum(revenue.values())) if revenue is not None else None
    # Revenue keys count too, so no lost revenue silently drops out of the list.
    codes = sorted(set(counts) | set(shown) | set(revenue or ()), key=_order_key)
    rows = []
    for code in codes:
        count = int(counts.get(code, 0))
        exposed = int(shown.get(code, 0))
        _check_count(count, exposed)
        lost = float(revenue.get(code, 0.0)) if revenue is not None else None
        if lost is not None and total_revenue:
            lost_share: float | None = lost / total_revenue
        else:
            lost_share = None
        share: float | None = None
        low: float | None = None
        high: float | None = None
        if exposed:
            low, high = wilson_interval(count, exposed, confidence)
            share = count / exposed
        rows.append(
            ReasonShare(
                reason=code,
                count=count,
                shown=exposed,
                share=share,
                ci_low=low,
                ci_high=high,
                revenue=lost,
                revenue_share=lost_share,
                overlaps_next=None,
                not_shown=exposed == 0,
            )
        )

    def sort_key(row: ReasonShare) -> tuple:
        if weight == "revenue":
            primary = (-(row.revenue or 0.0), -(row.share or 0.0))
        else:
            primary = (-(row.share or 0.0), -row.count)
        return (row.not_shown, *primary, _order_key(row.reason))

    rows.sort(key=sort_key)
    ranked = []
    for index, row in enumerate(rows):
        overlaps: bool | None = None
        if weight == "count" and not row.not_shown:
            following = rows[index + 1] if index + 1 < len(rows) else None
            if following is None or following.not_shown:
                overlaps = False
            else:
                overlaps = _intervals_overlap(row, following)
        ranked.append(replace(row, overlaps_next=overlaps))

    return Ranking(
        reasons=ranked,
        n=int(sum(counts.values())) if n is None else n,
        weight=weight,
        confidence=confidence,
        total_revenue=total_revenue,
    )


def goodman_intervals(
    counts: Mapping[str, int], confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Goodman (1965) simultaneous intervals for all multinomial proportions at once.

    Each interval is a score interval with the chi-square quantile Bonferroni
    adjusted over the k categories, so all k cover their true proportions together
    with at least the given confidence. Wider than per-reason Wilson intervals;
    use these when comparing many reasons at a glance. With no responses every
    interval is (0.0, 1.0).
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1: {confidence}")
    if any(value < 0 for value in counts.values()):
        raise ValueError("counts must not be negative")
    total = sum(counts.values())
    k = len(counts)
    if total == 0 or k == 0:
        return {code: (0.0, 1.0) for code in counts}
    from scipy.stats import chi2

    a = float(chi2.ppf(1.0 - (1.0 - confidence) / k, 1))
    result = {}
    for code, count in counts.items():
        half = math.sqrt(a * (a + 4.0 * count * (total - count) / total))
        low = (a + 2.0 * count - half) / (2.0 * (total + a))
        high = (a + 2.0 * count + half) / (2.0 * (total + a))
        result[code] = (max(0.0, low), min(1.0, high))
    return result


def compare_segments(
    counts_a: Mapping[str, int], counts_b: Mapping[str, int]
) -> dict[str, Any]:
    """Chi-square test of whether two segments share the same mix of reasons.

    Returns ``statistic``, ``dof`` and ``p_value`` (None when no test is possible),
    ``shares_a`` / ``shares_b`` per reason, ``n_a`` / ``n_b``, the ``reasons``
    tested, the all-zero reasons ``dropped``, the ``expected`` counts per reason as
    (a, b), ``reliable`` and ``problem``: None, ``"no_data"`` (a segment has no
    responses), ``"one_reason"`` (fewer than two reasons occur, nothing to compare)
    or ``"small_expected"`` (Cochran's rule fails: an expected count below 1 or
    more than 20% below 5, so the p-value is not trustworthy). With only two
    reasons scipy applies Yates' continuity correction (``correction`` is True).
    """
    codes = sorted(set(counts_a) | set(counts_b), key=_order_key)
    a = {code: int(counts_a.get(code, 0)) for code in codes}
    b = {code: int(counts_b.get(code, 0)) for code in codes}
    if any(value < 0 for value in (*a.values(), *b.values())):
        raise ValueError("counts must not be negative")
    n_a, n_b = sum(a.values()), sum(b.values())
    kept = [code for code in codes if a[code] + b[code] > 0]
    result: dict[str, Any] = {
        "n_a": n_a,
        "n_b": n_b,
        "shares_a": {code: a[code] / n_a if n_a else None for code in codes},
        "shares_b": {code: b[code] / n_b if n_b else None for code in codes},
        "reasons": kept,
        "dropped": [code for code in codes if code not in kept],
        "statistic": None,
        "dof": None,
        "p_value": None,
        "expected": {},
        "correction": False,
        "reliable": False,
        "problem": None,
    }
    if n_a == 0 or n_b == 0:
        result["problem"] = "no_data"
        return result
    if len(kept) < 2:
        result["problem"] = "one_reason"
        return result

    table = [[a[code] for code in kept], [b[code] for code in kept]]
    from scipy.stats import chi2_contingency

    test = chi2_contingency(table)
    expected = test.expected_freq
    cells = [float(value) for row in expected for value in row]
    small = sum(1 for value in cells if value < 5.0)
    reliable = min(cells) >= 1.0 and small <= 0.2 * len(cells)
    result.update(
        statistic=float(test.statistic),
        dof=int(test.dof),
        p_value=float(test.pvalue),
        expected={
            code: (float(expected[0][i]), float(expected[1][i]))
            for i, code in enumerate(kept)
        },
        correction=int(test.dof) == 1,
        reliable=reliable,
        problem=None if reliable else "small_expected",
    )
    return result
