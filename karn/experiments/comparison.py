"""Treated against held back: the outcome's rate in each group, compared.

Counted by assignment (intention to treat): everyone drawn into a group counts
in it, whether or not the treatment reached them, so the comparison stays as
random as the draw. Plain counts in, plain numbers out; scipy is loaded only
when a comparison is made.
"""

import math
from dataclasses import dataclass

# Sizing the groups when the observed difference is zero: a change of a
# quarter of the held-back rate (keep calls were reported to save 20-25%).
MIN_RELATIVE_EFFECT = 0.25
ALPHA = 0.05
POWER = 0.8
# Below this expected count in any cell the normal approximation is not
# trusted and Fisher's exact test decides.
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class Comparison:
    """The outcome in both groups and what the difference says.

    ``difference`` is the treated rate minus the held-back rate, with its
    Newcombe (hybrid Wilson score) interval. ``lower_is_better`` gives the
    direction: for keep calls the outcome is a departure, so a negative
    difference is the good one. ``kind``: ``better`` or ``worse`` (significant
    at ``alpha``, as the direction says), ``too_small`` (not significant and
    the groups smaller than a difference of ``sized_for`` needs at 80%
    power), ``no_difference`` (not significant although large enough),
    ``no_data`` (a group is empty).
    """

    treated: tuple[int, int]  # (events, customers)
    held_back: tuple[int, int]
    lower_is_better: bool
    kind: str
    treated_rate: float | None = None
    held_back_rate: float | None = None
    difference: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    # "fisher" or "z": the test whose p-value is given.
    method: str | None = None
    # The difference the groups are sized for: the observed one, or the
    # minimum effect when nothing differs yet.
    sized_for: float | None = None
    # Customers per group with equal groups, and with this split.
    needed: int | None = None
    needed_treated: int | None = None
    needed_held_back: int | None = None

    @property
    def significant(self) -> bool:
        return self.kind in ("better", "worse")


def _expected_small(x1: int, n1: int, x2: int, n2: int) -> bool:
    pooled = (x1 + x2) / (n1 + n2)
    cells = [n * share for n in (n1, n2) for share in (pooled, 1.0 - pooled)]
    return min(cells) < MIN_EXPECTED


def fisher_p(x1: int, n1: int, x2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on the 2x2 table."""
    from scipy.stats import fisher_exact

    table = [[x1, n1 - x1], [x2, n2 - x2]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def compare(
    treated: tuple[int, int],
    held_back: tuple[int, int],
    *,
    lower_is_better: bool,
    alpha: float = ALPHA,
    power: float = POWER,
) -> Comparison:
    """Compare the outcome's rate of the treated with that of the held back."""
    from karn.analysis import stats

    (xt, nt), (xh, nh) = treated, held_back
    if nt == 0 or nh == 0:
        return Comparison(treated, held_back, lower_is_better, "no_data")
    # Group 1 is the held back, so the difference is treated minus held back.
    test = stats.two_proportion_test(xh, nh, xt, nt, 1.0 - alpha)
    small = _expected_small(xh, nh, xt, nt)
    p_value = fisher_p(xt, nt, xh, nh) if small else test["p_value"]
    pt, ph = test["p2"], test["p1"]
    sized_for, needed = _size(pt, ph, lower_is_better, alpha, power)
    needed_t = needed_h = None
    if needed is not None:
        # Equal precision with unequal groups: n_h = n(1+k)/2k, n_t = k·n_h.
        k = nt / nh
        needed_h = math.ceil(needed * (1 + k) / (2 * k))
        needed_t = math.ceil(needed * (1 + k) / 2)
    difference = test["difference"]
    if p_value < alpha and difference != 0:
        good = difference < 0 if lower_is_better else difference > 0
        kind = "better" if good else "worse"
    elif needed is None or nt < needed_t or nh < needed_h:
        kind = "too_small"
    else:
        kind = "no_difference"
    return Comparison(
        treated=treated,
        held_back=held_back,
        lower_is_better=lower_is_better,
        kind=kind,
        treated_rate=pt,
        held_back_rate=ph,
        difference=difference,
        ci_low=test["ci_low"],
        ci_high=test["ci_high"],
        p_value=p_value,
        method="fisher" if small else "z",
        sized_for=sized_for,
        needed=needed,
        needed_treated=needed_t,
        needed_held_back=needed_h,
    )


def _size(
    pt: float, ph: float, lower_is_better: bool, alpha: float, power: float
) -> tuple[float | None, int | None]:
    """The difference to size the groups for, and customers per equal group."""
    from karn.analysis import stats

    if pt != ph:
        return pt - ph, stats.sample_size_needed(ph, pt, alpha, power)
    change = ph * MIN_RELATIVE_EFFECT
    target = ph - change if lower_is_better else min(1.0, ph + change)
    if target == ph:
        return None, None  # nothing happened in either group yet
    return target - ph, stats.sample_size_needed(ph, target, alpha, power)
