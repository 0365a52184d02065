"""Charts over time: each reason's monthly share as small multiples, and a
p-chart of one reason, with improvement actions marked.

Drawn with the helpers of ``karn.analysis.charts`` (matplotlib's object API,
Okabe–Ito colours, deterministic SVG, a "wide" and a "narrow" size).
"""

import datetime as dt
import math
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from karn.analysis.charts import (
    OKABE_ITO,
    SMALL,
    _check_format,
    _figure,
    _name,
    _or_nan,
    _render,
    _set_titles,
    _share_limit,
    _style,
    _width,
    reason_colour,
)
from karn.analysis.stats import PChartPoint, Trend


@dataclass(frozen=True)
class Within:
    """When an action started inside a labelled period (a month 'YYYY-MM'):
    ``fraction`` of the way through it, 0.0 on its first day.

    A period's point stands for the whole period, so it is drawn in the
    middle of its stretch of axis: an action on the first day of a month
    sits halfway between that month's point and the one before, one on the
    last day almost at the next month's point.
    """

    period: Hashable
    fraction: float


def _period_axis(
    ax: Axes,
    periods: Sequence[Hashable],
    labels: Mapping[str, str],
    period_name: Callable[[Hashable], str] | None = None,
    ticks: int = 12,
) -> tuple[list[float], Callable[[Hashable], float | None]]:
    """X positions for periods, with readable ticks, and a locator for actions.

    Dates are placed on a time axis, so an action dated between two periods sits
    between them; any other period labels are evenly spaced and an action is
    placed on the period it names, or inside it when given as ``Within``.
    Actions outside the charted range are left out: the range is the caller's
    choice. ``period_name`` names a period on the axis (a month as "jun 2025");
    at most ``ticks`` are named.
    """
    if periods and all(isinstance(period, dt.date) for period in periods):
        xs = [float(date2num(period)) for period in periods]
        date_format = labels.get("date_format", "%Y-%m-%d")
        texts = [period.strftime(date_format) for period in periods]  # type: ignore[attr-defined]

        def locate(when: Hashable) -> float | None:
            if not isinstance(when, dt.date):
                return None
            x = float(date2num(when))
            return x if xs[0] <= x <= xs[-1] else None

    else:
        xs = [float(index) for index in range(len(periods))]
        texts = [str(period) for period in periods]

        def locate(when: Hashable) -> float | None:
            offset = 0.0
            if isinstance(when, Within):
                when, offset = when.period, min(max(when.fraction, 0.0), 1.0) - 0.5
            for x, period in zip(xs, periods, strict=True):
                if period == when:
                    return x + offset
            return None

    if period_name is not None:
        texts = [period_name(period) for period in periods]
    # Every step-th period is named, counted back from the last, so the
    # latest month always has its name.
    step = max(1, math.ceil(len(xs) / ticks))
    first = (len(xs) - 1) % step
    ax.set_xticks(xs[first::step], texts[first::step])
    return xs, locate


def _located(
    actions: Sequence[tuple[Hashable, str]] | None,
    locate: Callable[[Hashable], float | None],
) -> list[tuple[float, str]]:
    """The actions that fall on the chart, as (x, title)."""
    found = []
    for when, title in actions or ():
        x = locate(when)
        if x is not None:
            found.append((x, title))
    return found


def _draw_actions(ax: Axes, located: Sequence[tuple[float, str]], numbered: bool):
    """Dashed vertical markers where improvement actions started; with
    ``numbered`` each carries its number at the top, on a white ground, and the
    titles are named below the chart (see ``_action_handles``), not over it."""
    for number, (x, _title) in enumerate(located, start=1):
        ax.axvline(x, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
        if numbered:
            ax.annotate(
                str(number),
                (x, 1.0),
                xycoords=ax.get_xaxis_transform(),
                xytext=(3, -3),
                textcoords="offset points",
                ha="left",
                va="top",
                fontsize=SMALL,
                fontweight="bold",
                bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none"},
            )


def _action_handles(located: Sequence[tuple[float, str]], size: str) -> tuple:
    """Legend entries naming the numbered actions: the titles stand below the
    chart, not over its lines."""
    from matplotlib.lines import Line2D

    handles, names = [], []
    for number, (_x, title) in enumerate(located, start=1):
        handles.append(
            Line2D([], [], color=OKABE_ITO["black"], linestyle="--", linewidth=1)
        )
        names.append(_name(f"{number} {title}", size, 34))
    return handles, names


def trend_chart(
    trend: Trend,
    labels: Mapping[str, str],
    actions: Sequence[tuple[Hashable, str]] | None = None,
    fmt: str = "png",
    size: str = "wide",
    period_name: Callable[[Hashable], str] | None = None,
) -> bytes:
    """Small multiples: one panel per reason with its share per period and a
    shaded confidence band, all on the same scale.

    Six lines with overlapping bands in one plot cannot be read; side by side
    each reason's course can, and the shared axis still compares them.
    ``actions`` are ``(period, title)`` of improvement actions, drawn as
    numbered dashed lines and named below the panels. ``labels``: reason codes
    to names, and optionally ``title`` and ``date_format`` (strftime, default
    ``%Y-%m-%d``, for date periods); ``period_name`` names other periods.
    """
    _check_format(fmt, size)
    shown = [
        (code, points)
        for code, points in trend.reasons.items()
        if any(point.share is not None for point in points)
    ]
    columns = 1 if size == "narrow" else min(3, max(len(shown), 1))
    rows = max(1, math.ceil(len(shown) / columns))
    with _style():
        figure = Figure(
            figsize=(_width(size, 11.0), 0.9 + 2.0 * rows),
            dpi=100,
            layout="constrained",
        )
        FigureCanvasAgg(figure)
        axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
        flat = [ax for row in axes for ax in row]
        top = _share_limit(
            [p.ci_high for _code, points in shown for p in points] or [0.0]
        )
        located: list[tuple[float, str]] = []
        for index, ax in enumerate(flat):
            if index >= len(shown):
                # Without any data one empty panel stays: a chart, not a dot.
                ax.set_visible(not shown and index == 0)
                continue
            code, points = shown[index]
            xs, locate = _period_axis(
                ax, trend.periods, labels, period_name, 3 if size == "narrow" else 4
            )
            colour = reason_colour(code)
            # NaN breaks the line: a period where the reason was not shown is a
            # gap, not a zero.
            ax.plot(
                xs,
                [_or_nan(point.share) for point in points],
                color=colour,
                marker="o",
                markersize=3,
                label=labels.get(code, code),
            )
            ax.fill_between(
                xs,
                [_or_nan(point.ci_low) for point in points],
                [_or_nan(point.ci_high) for point in points],
                color=colour,
                alpha=0.2,
                linewidth=0,
            )
            located = _located(actions, locate)
            _draw_actions(ax, located, numbered=index == 0)
            ax.set_title(labels.get(code, code), loc="left", fontweight="bold")
            ax.grid(axis="y", color=OKABE_ITO["grey"], alpha=0.3, linewidth=0.5)
            # Every panel names its months: with one column only the bottom one
            # would, far from the top panels on a phone.
            ax.tick_params(labelbottom=True)
        flat[0].set_ylim(0.0, top)
        flat[0].yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        handles, names = _action_handles(located, size)
        if handles:
            figure.legend(
                handles, names, loc="outside lower left", frameon=False, ncols=1
            )
        if labels.get("title"):
            figure.suptitle(labels["title"], x=0.0, ha="left")
        return _render(figure, fmt)


def p_chart_chart(
    points: Sequence[PChartPoint],
    title: str,
    actions: Sequence[tuple[Hashable, str]] | None = None,
    labels: Mapping[str, str] | None = None,
    fmt: str = "png",
    size: str = "wide",
    period_name: Callable[[Hashable], str] | None = None,
) -> bytes:
    """A p-chart: proportion per period, centre line and 3-sigma control limits.

    Out-of-control points are marked. ``actions`` are ``(period, title)``
    markers as in ``trend_chart``. Optional ``labels``: ``proportion``,
    ``centre``, ``limits`` and ``out_of_control`` name the legend entries (no
    legend without them), plus ``x_axis``, ``y_axis`` and ``date_format``.
    """
    _check_format(fmt, size)
    labels = labels or {}
    with _style():
        figure, ax = _figure(_width(size, 10.0), 3.6 if size == "narrow" else 4.2)
        xs, locate = _period_axis(
            ax,
            [point.label for point in points],
            labels,
            period_name,
            3 if size == "narrow" else 10,
        )
        usable = [
            (x, point)
            for x, point in zip(xs, points, strict=True)
            if point.proportion is not None
        ]
        x_values = [x for x, _point in usable]
        limit_style = {
            "color": OKABE_ITO["vermillion"],
            "linestyle": ":",
            "where": "mid",
            "linewidth": 1.2,
        }
        ax.step(
            x_values,
            [point.ucl for _x, point in usable],
            label=labels.get("limits"),
            **limit_style,
        )
        ax.step(x_values, [point.lcl for _x, point in usable], **limit_style)
        if usable:
            ax.axhline(
                usable[0][1].centre,
                color=OKABE_ITO["grey"],
                linewidth=1.2,
                label=labels.get("centre"),
            )
        ax.plot(
            x_values,
            [point.proportion for _x, point in usable],
            color=OKABE_ITO["blue"],
            marker="o",
            markersize=4,
            label=labels.get("proportion"),
        )
        flagged = [(x, point) for x, point in usable if point.out_of_control]
        if flagged:
            ax.scatter(
                [x for x, _point in flagged],
                [point.proportion for _x, point in flagged],
                s=70,
                marker="D",
                color=OKABE_ITO["vermillion"],
                zorder=3,
                label=labels.get("out_of_control"),
            )
        located = _located(actions, locate)
        _draw_actions(ax, located, numbered=True)
        ax.set_ylim(0.0, _share_limit([p.ucl for _x, p in usable] or [0.0]))
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        handles, names = ax.get_legend_handles_labels()
        more, more_names = _action_handles(located, size)
        if handles or more:
            figure.legend(
                handles + more,
                names + more_names,
                loc="outside lower left",
                frameon=False,
                ncols=1 if size == "narrow" else 2,
            )
        _set_titles(ax, {**labels, "title": title})
        return _render(figure, fmt)
