"""Two proportions compared: the test, its interval, the sample size a change
needs, and the verdict in a manager's words."""

import math
from typing import Any

from karn.analysis.stats.intervals import _check_count, wilson_interval


def two_proportion_test(
    x1: int, n1: int, x2: int, n2: int, confidence: float = 0.95
) -> dict[str, float]:
    """Pooled two-sided z-test of p1 == p2, with an interval for p2 - p1.

    ``difference`` is ``p2 - p1`` (after minus before when group 1 is the earlier
    period); ``z`` has the same sign. The interval is Newcombe's hybrid score
    interval (1998, method 10), built from the two Wilson intervals, which keeps
    its coverage for small samples and extreme shares where the Wald interval
    does not. When both groups are all 0% or all 100% there is no variance and
    the test gives ``z = 0``, ``p_value = 1``.
    """
    _check_count(x1, n1)
    _check_count(x2, n2)
    if n1 == 0 or n2 == 0:
        raise ValueError("both groups need at least one response")
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    z = (p2 - p1) / se if se > 0 else 0.0
    from scipy.stats import norm

    p_value = float(2.0 * norm.sf(abs(z))) if se > 0 else 1.0
    low1, high1 = wilson_interval(x1, n1, confidence)
    low2, high2 = wilson_interval(x2, n2, confidence)
    difference = p2 - p1
    ci_low = difference - math.sqrt((p2 - low2) ** 2 + (high1 - p1) ** 2)
    ci_high = difference + math.sqrt((high2 - p2) ** 2 + (p1 - low1) ** 2)
    return {
        "x1": x1,
        "n1": n1,
        "x2": x2,
        "n2": n2,
        "p1": p1,
        "p2": p2,
        "difference": difference,
        "z": z,
        "p_value": min(1.0, p_value),
        "ci_low": ci_low,
        "ci_high": ci_high,
        "confidence": confidence,
    }


def sample_size_needed(
    p1: float, p2: float, alpha: float = 0.05, power: float = 0.8
) -> int | None:
    """Responses per group for a two-sided pooled z-test to detect p1 vs p2.

    Fleiss' formula without continuity correction, equal groups:
    ``n = (z_{1-α/2}·sqrt(2·p̄q̄) + z_{power}·sqrt(p1q1 + p2q2))² / (p1 - p2)²``
    with ``p̄ = (p1 + p2) / 2``, rounded up. None when p1 == p2: no finite sample
    detects a difference of zero.
    """
    for p in (p1, p2):
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"proportions must lie in [0, 1]: {p}")
    # Below a power of 0.5 the normal approximation's second term changes sign and
    # the formula no longer gives a sample size.
    if not 0.0 < alpha < 1.0 or not 0.5 <= power < 1.0:
        raise ValueError("alpha must lie in (0, 1) and power in [0.5, 1)")
    if p1 == p2:
        return None
    from scipy.stats import norm

    z_alpha = float(norm.ppf(1.0 - alpha / 2.0))
    z_beta = float(norm.ppf(power))
    mean = (p1 + p2) / 2.0
    numerator = z_alpha * math.sqrt(2.0 * mean * (1.0 - mean)) + z_beta * math.sqrt(
        p1 * (1.0 - p1) + p2 * (1.0 - p2)
    )
    # Rounding guards against 198.9999999 becoming 199 vs 200 on another platform.
    return math.ceil(round(numerator**2 / (p1 - p2) ** 2, 9))


def assess_change(
    before: tuple[int, int],
    after: tuple[int, int],
    alpha: float = 0.05,
    power: float = 0.8,
) -> dict[str, Any]:
    """Classify the change in one share between two periods, for ``verdict``.

    ``before`` and ``after`` are ``(count, shown)``. ``kind`` is ``"fell"`` or
    ``"rose"`` (significant at ``alpha``), ``"too_small"`` (not significant and
    fewer responses than needed to detect the observed difference with the given
    power, or a period without responses) or ``"no_change"`` (not significant
    although the samples were large enough). Also returns ``p1``, ``p2``,
    ``p_value`` and ``needed`` (responses per period, None if not computable).

    Because ``needed`` is sized for the *observed* difference, a non-significant
    difference almost always comes out ``"too_small"``; ``"no_change"`` in
    practice means the two shares are equal. That is deliberate: a dashboard
    should say "not enough data yet" rather than "no effect" after a short trial.
    """
    (x1, n1), (x2, n2) = before, after
    _check_count(x1, n1)
    _check_count(x2, n2)
    if n1 == 0 or n2 == 0:
        return {
            "kind": "too_small",
            "p1": x1 / n1 if n1 else None,
            "p2": x2 / n2 if n2 else None,
            "p_value": None,
            "needed": None,
        }
    test = two_proportion_test(x1, n1, x2, n2)
    needed = sample_size_needed(test["p1"], test["p2"], alpha, power)
    if test["p_value"] < alpha:
        kind = "fell" if test["difference"] < 0 else "rose"
    elif needed is not None and min(n1, n2) < needed:
        kind = "too_small"
    else:
        kind = "no_change"
    return {
        "kind": kind,
        "p1": test["p1"],
        "p2": test["p2"],
        "p_value": test["p_value"],
        "needed": needed,
    }


def _decimal(text: str, lang: str) -> str:
    """Swap English separators for Dutch ones (1,234.5 -> 1.234,5)."""
    if lang != "nl":
        return text
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def _percent(value: float, other: float, lang: str) -> str:
    """A share as a percentage, with one decimal only where whole numbers collide."""
    digits = 0
    if value != other and f"{value * 100:.0f}" == f"{other * 100:.0f}":
        digits = 1
    return _decimal(f"{value * 100:.{digits}f}%", lang)


def _p_text(p_value: float, alpha: float, lang: str) -> str:
    """A p-value as 'p = 0.003' or 'p < 0.001', never rounded across alpha."""
    if p_value < 0.001:
        text = "p < 0.001"
    else:
        digits = 3 if p_value < 0.1 else 2
        shown = f"{p_value:.{digits}f}"
        if p_value < alpha <= float(shown):
            text = f"p < {alpha:g}"
        else:
            text = f"p = {shown}"
    return _decimal(text, lang)


# What a manager reads: what happened, and whether it can be chance. Where the
# answers are too few, how many more each period needs (for a change of the
# size seen) instead of the statistician's "n too small".
_PHRASES = {
    "en": {
        "fell": (
            "The share naming “{label}” fell from {p1} to {p2}: a drop this large "
            "is unlikely to be chance ({p})."
        ),
        "rose": (
            "The share naming “{label}” rose from {p1} to {p2}: a rise this large "
            "is unlikely to be chance ({p})."
        ),
        "too_small": (
            "The share naming “{label}” went from {p1} to {p2}. Too few answers yet "
            "to tell: about {more} more per period needed."
        ),
        "no_data": "The share naming “{label}”: too few answers yet to tell.",
        "no_change": (
            "The share naming “{label}” went from {p1} to {p2}: no real change ({p})."
        ),
    },
    "nl": {
        "fell": (
            "Het aandeel dat “{label}” noemt, daalde van {p1} naar {p2}: zo'n grote "
            "daling is waarschijnlijk geen toeval ({p})."
        ),
        "rose": (
            "Het aandeel dat “{label}” noemt, steeg van {p1} naar {p2}: zo'n grote "
            "stijging is waarschijnlijk geen toeval ({p})."
        ),
        "too_small": (
            "Het aandeel dat “{label}” noemt, ging van {p1} naar {p2}. Nog te weinig "
            "antwoorden om dat te beoordelen: ongeveer {more} meer per periode nodig."
        ),
        "no_data": "Het aandeel dat “{label}” noemt: nog te weinig antwoorden.",
        "no_change": (
            "Het aandeel dat “{label}” noemt, ging van {p1} naar {p2}: geen echte "
            "verandering ({p})."
        ),
    },
}


def verdict(
    before: tuple[int, int],
    after: tuple[int, int],
    lang: str,
    label: str,
    alpha: float = 0.05,
    power: float = 0.8,
) -> str:
    """One plain-language sentence on how a reason's share changed, in nl or en.

    ``before`` and ``after`` are ``(count, shown)`` for the reason in two periods;
    ``label`` is the reason's name in the reader's language, supplied by the
    caller, and is quoted. Dutch output uses the decimal comma (``p = 0,003``).
    """
    if lang not in _PHRASES:
        raise ValueError(f"unsupported language: {lang!r}")
    phrases = _PHRASES[lang]
    result = assess_change(before, after, alpha, power)
    if result["p_value"] is None:
        return phrases["no_data"].format(label=label)
    needed = result["needed"]
    # More answers in the smaller period: the verdict needs both at ``needed``.
    more = max(0, needed - min(before[1], after[1])) if needed is not None else None
    return phrases[result["kind"]].format(
        label=label,
        p1=_percent(result["p1"], result["p2"], lang),
        p2=_percent(result["p2"], result["p1"], lang),
        p=_p_text(result["p_value"], alpha, lang),
        more=_decimal(f"{more:,}", lang) if more is not None else "?",
    )
