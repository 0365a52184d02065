"""Dashboard charts rendered to PNG or SVG bytes with matplotlib's object API.

Only ``matplotlib.figure.Figure`` and the Agg canvas are used, never pyplot, so
importing this module starts no GUI backend and keeps no global figure state.
All visible words come from the caller's ``labels`` so a chart can be Dutch or
English; reason codes missing from ``labels`` are shown as the code itself.
Optional ``labels["lang"]`` ("nl" or "en") selects the number separators.

SVG output is deterministic (fixed ``svg.hashsalt``, no date or creator in the
metadata) and keeps text as ``<text>`` elements so screen readers and search can
read it. Fonts are matplotlib's bundled DejaVu Sans; nothing is fetched.
"""

import datetime as dt
import io
import math
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from karn.analysis.stats import PChartPoint, Ranking, Trend
from karn.enums import Reason, Sentiment

# Okabe & Ito (2008), "Color Universal Design": distinguishable with every common
# form of colour blindness.
OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky_blue": "#56B4E9",
    "bluish_green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish_purple": "#CC79A7",
    "grey": "#999999",
}

# Fixed per reason so "service" has the same colour on every chart and page.
REASON_COLOURS = {
    Reason.SERVICE.value: OKABE_ITO["vermillion"],
    Reason.QUALITY.value: OKABE_ITO["blue"],
    Reason.BRAND.value: OKABE_ITO["reddish_purple"],
    Reason.PRICE.value: OKABE_ITO["orange"],
    Reason.NEED.value: OKABE_ITO["bluish_green"],
    Reason.OTHER.value: OKABE_ITO["grey"],
}
UNKNOWN_COLOUR = OKABE_ITO["black"]

SENTIMENT_COLOURS = {
    Sentiment.NEGATIVE.value: OKABE_ITO["vermillion"],
    Sentiment.NEUTRAL.value: OKABE_ITO["grey"],
    Sentiment.POSITIVE.value: OKABE_ITO["bluish_green"],
}

FORMATS = ("png", "svg")

_STYLE = {
    "svg.hashsalt": "karn",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "savefig.bbox": "tight",
}
_METADATA = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
}
# rc_context changes matplotlib's process-wide settings; threaded web workers
# must not interleave two renders.
_LOCK = threading.Lock()


def reason_colour(code: str) -> str:
    """The fixed Okabe–Ito colour for a reason code (black for unknown codes)."""
    return REASON_COLOURS.get(code, UNKNOWN_COLOUR)


@contextmanager
def _style() -> Iterator[None]:
    """Serialise renders and apply Karn's chart settings for their duration."""
    with _LOCK, matplotlib.rc_context(_STYLE):
        yield


def _figure(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure with one axes on a non-interactive Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _render(figure: Figure, fmt: str) -> bytes:
    """The figure as PNG or SVG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}: {fmt!r}")


def _integer(value: int, labels: Mapping[str, str]) -> str:
    """A count with the reader's thousands separator."""
    text = f"{value:,}"
    return text.replace(",", ".") if labels.get("lang") == "nl" else text


def _percent(value: float) -> str:
    """A share as a whole percentage (the same in Dutch and English)."""
    return f"{value * 100:.0f}%"


def _or_nan(value: float | None) -> float:
    """The value, or NaN where there is none, so matplotlib leaves a gap."""
    return math.nan if value is None else value


def _set_titles(ax: Axes, labels: Mapping[str, str]) -> None:
    """Title and axis labels, where the caller supplied them."""
    if labels.get("title"):
        ax.set_title(labels["title"], loc="left")
    if labels.get("x_axis"):
        ax.set_xlabel(labels["x_axis"])
    if labels.get("y_axis"):
        ax.set_ylabel(labels["y_axis"])


def ranking_chart(
    ranking: Ranking, labels: Mapping[str, str], fmt: str = "png"
) -> bytes:
    """Horizontal bars of each reason's share with its confidence interval.

    Ranked by revenue, the bars show each reason's share of lost revenue and
    carry no error bars. ``labels``: reason codes to names, and optionally
    ``title``, ``x_axis``, ``y_axis``, ``not_shown`` (note beside reasons that
    were never shown).
    """
    _check_format(fmt)
    rows = ranking.reasons
    by_revenue = ranking.weight == "revenue"
    with _style():
        figure, ax = _figure(7.0, 1.2 + 0.45 * max(len(rows), 1))
        positions = list(range(len(rows)))
        values = [
            (row.revenue_share if by_revenue else row.share) or 0.0 for row in rows
        ]
        colours = [reason_colour(row.reason) for row in rows]
        ax.barh(positions, values, color=colours, height=0.6)
        if not by_revenue:
            for y, row in enumerate(rows):
                if row.share is None or row.ci_low is None or row.ci_high is None:
                    continue
                ax.errorbar(
                    row.share,
                    y,
                    xerr=[[row.share - row.ci_low], [row.ci_high - row.share]],
                    fmt="none",
                    ecolor=OKABE_ITO["black"],
                    capsize=3,
                    linewidth=1,
                )
        for y, (row, value) in enumerate(zip(rows, values, strict=True)):
            if row.not_shown:
                note = labels.get("not_shown", "")
            else:
                note = _percent(value)
            end = value if by_revenue or row.ci_high is None else row.ci_high
            ax.text(end + 0.01, y, note, va="center", fontsize=9)
        ax.set_yticks(positions, [labels.get(row.reason, row.reason) for row in rows])
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        _set_titles(ax, labels)
        return _render(figure, fmt)


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
    ax: Axes, periods: Sequence[Hashable], labels: Mapping[str, str]
) -> tuple[list[float], Callable[[Hashable], float | None]]:
    """X positions for periods, with readable ticks, and a locator for actions.

    Dates are placed on a time axis, so an action dated between two periods sits
    between them; any other period labels are evenly spaced and an action is
    placed on the period it names, or inside it when given as ``Within``.
    Actions outside the charted range are left out: the range is the caller's
    choice.
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

    step = max(1, math.ceil(len(xs) / 12))
    ax.set_xticks(xs[::step], texts[::step], rotation=45, ha="right")
    return xs, locate


def _draw_actions(
    ax: Axes,
    actions: Sequence[tuple[Hashable, str]] | None,
    locate: Callable[[Hashable], float | None],
) -> None:
    """Dashed vertical markers, titled, where improvement actions started."""
    for when, title in actions or ():
        x = locate(when)
        if x is None:
            continue
        ax.axvline(x, color=OKABE_ITO["black"], linestyle="--", linewidth=1)
        ax.text(
            x,
            1.0,
            f" {title}",
            transform=ax.get_xaxis_transform(),
            rotation=90,
            va="top",
            ha="right",
            fontsize=8,
        )


def trend_chart(
    trend: Trend,
    labels: Mapping[str, str],
    actions: Sequence[tuple[Hashable, str]] | None = None,
    fmt: str = "png",
) -> bytes:
    """Lines of each reason's share per period, with shaded confidence bands.

    ``actions`` are ``(date, title)`` of improvement actions, drawn as vertical
    markers. ``labels``: reason codes to names, and optionally ``title``,
    ``x_axis``, ``y_axis`` and ``date_format`` (strftime, default ``%Y-%m-%d``).
    """
    _check_format(fmt)
    with _style():
        figure, ax = _figure(8.0, 4.5)
        xs, locate = _period_axis(ax, trend.periods, labels)
        for code, points in trend.reasons.items():
            if all(point.share is None for point in points):
                continue
            colour = reason_colour(code)
            # NaN breaks the line: a period where the reason was not shown is a
            # gap, not a zero.
            ax.plot(
                xs,
                [_or_nan(point.share) for point in points],
                color=colour,
                marker="o",
                markersize=4,
                label=labels.get(code, code),
            )
            ax.fill_between(
                xs,
                [_or_nan(point.ci_low) for point in points],
                [_or_nan(point.ci_high) for point in points],
                color=colour,
                alpha=0.15,
                linewidth=0,
            )
        _draw_actions(ax, actions, locate)
        ax.set_ylim(0.0, 1.0)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        _set_titles(ax, labels)
        return _render(figure, fmt)


def p_chart_chart(
    points: Sequence[PChartPoint],
    title: str,
    actions: Sequence[tuple[Hashable, str]] | None = None,
    labels: Mapping[str, str] | None = None,
    fmt: str = "png",
) -> bytes:
    """A p-chart: proportion per period, centre line and 3-sigma control limits.

    Out-of-control points are marked. ``actions`` are ``(date, title)`` markers as
    in ``trend_chart``. Optional ``labels``: ``proportion``, ``centre``, ``limits``
    and ``out_of_control`` name the legend entries (no legend without them),
    plus ``x_axis``, ``y_axis`` and ``date_format``.
    """
    _check_format(fmt)
    labels = labels or {}
    with _style():
        figure, ax = _figure(8.0, 4.5)
        xs, locate = _period_axis(ax, [point.label for point in points], labels)
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
        _draw_actions(ax, actions, locate)
        ax.set_ylim(bottom=0.0)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        _set_titles(ax, {**labels, "title": title})
        return _render(figure, fmt)


def funnel_chart(
    stages: Sequence[tuple[str, int]], labels: Mapping[str, str], fmt: str = "png"
) -> bytes:
    """Horizontal funnel of counts per stage, each with its % of the first stage.

    ``stages`` are ``(code, count)`` in funnel order (e.g. invited, opened,
    responded); ``labels`` maps stage codes to names, and optionally ``title``.
    """
    _check_format(fmt)
    with _style():
        figure, ax = _figure(7.0, 1.2 + 0.5 * max(len(stages), 1))
        positions = list(range(len(stages)))
        counts = [count for _code, count in stages]
        top = counts[0] if counts else 0
        widest = max(counts, default=0) or 1
        # Centred bars read as a funnel; left-aligned bars would read as a ranking.
        ax.barh(
            positions,
            counts,
            left=[(widest - count) / 2 for count in counts],
            color=OKABE_ITO["blue"],
            height=0.7,
        )
        for y, count in enumerate(counts):
            note = _integer(count, labels)
            if top:
                note += f" ({_percent(count / top)})"
            if count >= 0.3 * widest:
                ax.text(widest / 2, y, note, ha="center", va="center", color="white")
            else:
                # Too narrow to hold its label: write it beside the bar.
                right = (widest + count) / 2 + 0.01 * widest
                ax.text(right, y, note, ha="left", va="center")
        ax.set_yticks(positions, [labels.get(code, code) for code, _count in stages])
        ax.invert_yaxis()
        ax.set_xlim(0, widest)
        ax.set_xticks([])
        ax.spines["bottom"].set_visible(False)
        _set_titles(ax, labels)
        return _render(figure, fmt)


def sentiment_chart(
    dist: Mapping[str, Mapping[str, int]],
    labels: Mapping[str, str],
    fmt: str = "png",
) -> bytes:
    """Stacked bars per reason of negative, neutral and positive answer shares.

    ``dist[reason][sentiment]`` is a count of answers. Bars are normalised to 100%
    so reasons of different sizes compare; the answer count stands beside each.
    ``labels`` maps reason codes and sentiment codes to names, and optionally
    ``title`` and ``x_axis``.
    """
    _check_format(fmt)
    sentiments = [sentiment.value for sentiment in Sentiment]
    extra = sorted(
        {code for counts in dist.values() for code in counts} - set(sentiments)
    )
    sentiments += extra
    reasons = list(dist)
    with _style():
        figure, ax = _figure(7.5, 1.4 + 0.45 * max(len(reasons), 1))
        positions = list(range(len(reasons)))
        totals = [sum(dist[reason].values()) for reason in reasons]
        left = [0.0] * len(reasons)
        for sentiment in sentiments:
            widths = [
                dist[reason].get(sentiment, 0) / total if total else 0.0
                for reason, total in zip(reasons, totals, strict=True)
            ]
            ax.barh(
                positions,
                widths,
                left=left,
                color=SENTIMENT_COLOURS.get(sentiment, UNKNOWN_COLOUR),
                height=0.6,
                label=labels.get(sentiment, sentiment),
            )
            left = [a + b for a, b in zip(left, widths, strict=True)]
        for y, total in enumerate(totals):
            ax.text(1.01, y, f"n = {_integer(total, labels)}", va="center", fontsize=9)
        ax.set_yticks(positions, [labels.get(reason, reason) for reason in reasons])
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        figure.legend(
            *ax.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=len(sentiments),
            frameon=False,
        )
        _set_titles(ax, labels)
        return _render(figure, fmt)
