"""Dashboard charts rendered to PNG or SVG bytes with matplotlib's object API.

Only ``matplotlib.figure.Figure`` and the Agg canvas are used, never pyplot, so
importing this module starts no GUI backend and keeps no global figure state.
All visible words come from the caller's ``labels`` so a chart can be Dutch or
English; reason codes missing from ``labels`` are shown as the code itself.
Optional ``labels["lang"]`` ("nl" or "en") selects the number separators.

Each chart comes in two sizes (``size``): "wide" for a desktop page and
"narrow" for a phone. A chart is drawn at the width it is shown at, so its
text reads at 12 px or more on screen instead of being scaled down to 7 px;
SVG is 96 CSS pixels to the inch.

SVG output is deterministic (fixed ``svg.hashsalt``, no date or creator in the
metadata) and keeps text as ``<text>`` elements so screen readers and search can
read it. Fonts are matplotlib's bundled DejaVu Sans; nothing is fetched.
"""

import io
import math
import textwrap
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from karn.analysis.stats import Ranking
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
SIZES = ("wide", "narrow")
# Figure widths in inches per size: "narrow" fits a 390 px phone's card.
NARROW = 3.1
# The smallest text on any chart, in points (9 pt is 12 CSS px at 96 dpi).
SMALL = 9

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


def _check_format(fmt: str, size: str = "wide") -> None:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}: {fmt!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}: {size!r}")


def _width(size: str, wide: float) -> float:
    return NARROW if size == "narrow" else wide


def _name(text: str, size: str, width: int = 16) -> str:
    """A reason's name as an axis shows it: wrapped on a narrow chart."""
    return textwrap.fill(text, width) if size == "narrow" else text


def _integer(value: int, labels: Mapping[str, str]) -> str:
    """A count with the reader's thousands separator (1.234 in Dutch)."""
    from babel.numbers import format_decimal

    return format_decimal(value, format="#,##0", locale=labels.get("lang") or "en")


def _share_limit(values: Sequence[float | None], room: float = 1.12) -> float:
    """An axis end a little past the largest share (``room`` times it, for a
    note beside the bar), at a round 5%: the bars use the width instead of a
    third of it."""
    top = max((v for v in values if v is not None), default=0.0)
    return min(1.0, max(0.1, math.ceil(top * room * 20 - 1e-9) / 20))


def _room(size: str) -> float:
    """Room past the longest bar for its note: more on a narrow chart."""
    return 1.35 if size == "narrow" else 1.12


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


def _titles(ax: Axes, labels: Mapping[str, str], size: str) -> None:
    """Title and axis names; on a narrow chart the title stands over the whole
    figure and a long axis name wraps, so neither runs past the edge."""
    if size != "narrow":
        _set_titles(ax, labels)
        return
    if labels.get("title"):
        ax.figure.suptitle(textwrap.fill(labels["title"], 34), x=0.02, ha="left")
    if labels.get("x_axis"):
        ax.set_xlabel(textwrap.fill(labels["x_axis"], 22))


def ranking_chart(
    ranking: Ranking, labels: Mapping[str, str], fmt: str = "png", size: str = "wide"
) -> bytes:
    """Horizontal bars of each reason's share with its confidence interval.

    Ranked by revenue, the bars show each reason's share of lost revenue and
    carry no error bars. The axis runs a little past the largest interval.
    ``labels``: reason codes to names, and optionally ``title``, ``x_axis``,
    ``y_axis``, ``not_shown`` (note beside reasons that were never shown).
    """
    _check_format(fmt, size)
    rows = ranking.reasons
    by_revenue = ranking.weight == "revenue"
    with _style():
        figure, ax = _figure(_width(size, 8.0), 1.1 + 0.5 * max(len(rows), 1))
        positions = list(range(len(rows)))
        values = [
            (row.revenue_share if by_revenue else row.share) or 0.0 for row in rows
        ]
        colours = [reason_colour(row.reason) for row in rows]
        ax.barh(positions, values, color=colours, height=0.6)
        ends = list(values)
        if not by_revenue:
            for y, row in enumerate(rows):
                if row.share is None or row.ci_low is None or row.ci_high is None:
                    continue
                ends[y] = row.ci_high
                ax.errorbar(
                    row.share,
                    y,
                    xerr=[[row.share - row.ci_low], [row.ci_high - row.share]],
                    fmt="none",
                    ecolor=OKABE_ITO["black"],
                    capsize=3,
                    linewidth=1,
                )
        for y, (row, end) in enumerate(zip(rows, ends, strict=True)):
            note = labels.get("not_shown", "") if row.not_shown else _percent(values[y])
            ax.annotate(
                note,
                (end, y),
                xytext=(4, 0),
                textcoords="offset points",
                va="center",
                fontsize=SMALL,
            )
        ax.set_yticks(
            positions, [_name(labels.get(row.reason, row.reason), size) for row in rows]
        )
        ax.invert_yaxis()
        ax.set_xlim(0.0, _share_limit(ends, _room(size)))
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        _titles(ax, labels, size)
        return _render(figure, fmt)


def funnel_chart(
    stages: Sequence[tuple[str, int]],
    labels: Mapping[str, str],
    fmt: str = "png",
    size: str = "wide",
) -> bytes:
    """Horizontal funnel of counts per stage, each with its % of the first stage.

    ``stages`` are ``(code, count)`` in funnel order (e.g. invited, opened,
    responded); ``labels`` maps stage codes to names, and optionally ``title``
    and ``x_axis`` (say there which base the percentages have).
    """
    _check_format(fmt, size)
    with _style():
        figure, ax = _figure(_width(size, 4.9), 1.3 + 0.5 * max(len(stages), 1))
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
            if count >= 0.45 * widest:
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
        _titles(ax, labels, size)
        return _render(figure, fmt)


def sentiment_chart(
    dist: Mapping[str, Mapping[str, int]],
    labels: Mapping[str, str],
    fmt: str = "png",
    size: str = "wide",
) -> bytes:
    """Stacked bars per reason of negative, neutral and positive answer shares.

    ``dist[reason][sentiment]`` is a count of answers. Bars are normalised to 100%
    so reasons of different sizes compare; the answer count stands under each
    reason's name.
    ``labels`` maps reason codes and sentiment codes to names, and optionally
    ``title`` and ``x_axis``.
    """
    _check_format(fmt, size)
    sentiments = [sentiment.value for sentiment in Sentiment]
    extra = sorted(
        {code for counts in dist.values() for code in counts} - set(sentiments)
    )
    sentiments += extra
    reasons = list(dist)
    with _style():
        figure, ax = _figure(_width(size, 8.0), 1.5 + 0.5 * max(len(reasons), 1))
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
        ax.set_yticks(
            positions,
            [
                _name(labels.get(r, r), size) + f"\n(n = {_integer(total, labels)})"
                for r, total in zip(reasons, totals, strict=True)
            ],
        )
        ax.invert_yaxis()
        ax.set_xlim(0.0, 1.0)
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        figure.legend(
            *ax.get_legend_handles_labels(),
            loc="outside lower center",
            ncols=2 if size == "narrow" else len(sentiments),
            frameon=False,
        )
        _titles(ax, labels, size)
        return _render(figure, fmt)


def segments_chart(
    shares: Sequence[tuple[str, float | None, float | None]],
    groups: tuple[str, str],
    labels: Mapping[str, str],
    fmt: str = "png",
    size: str = "wide",
) -> bytes:
    """Two groups' reason mix side by side: a pair of bars per reason.

    ``shares`` are ``(reason code, share in the first group, share in the
    second)``; ``groups`` name the two groups as the legend shows them.
    ``labels`` maps reason codes to names, and optionally ``title``, ``x_axis``.
    """
    _check_format(fmt, size)
    colours = (OKABE_ITO["blue"], OKABE_ITO["orange"])
    with _style():
        figure, ax = _figure(_width(size, 8.0), 1.5 + 0.7 * max(len(shares), 1))
        height = 0.38
        for side, (name, colour) in enumerate(zip(groups, colours, strict=True)):
            ys = [y - height / 2 + side * height for y in range(len(shares))]
            values = [row[1 + side] or 0.0 for row in shares]
            ax.barh(ys, values, height=height, color=colour, label=name)
            for y, row in zip(ys, shares, strict=True):
                value = row[1 + side]
                ax.annotate(
                    "—" if value is None else _percent(value),
                    (value or 0.0, y),
                    xytext=(4, 0),
                    textcoords="offset points",
                    va="center",
                    fontsize=SMALL,
                )
        ax.set_yticks(
            list(range(len(shares))),
            [_name(labels.get(code, code), size) for code, *_shares in shares],
        )
        ax.invert_yaxis()
        ax.set_xlim(
            0.0, _share_limit([v for row in shares for v in row[1:]], _room(size))
        )
        ax.xaxis.set_major_formatter(PercentFormatter(xmax=1.0, decimals=0))
        figure.legend(
            loc="outside lower left", ncols=1 if size == "narrow" else 2, frameon=False
        )
        _titles(ax, labels, size)
        return _render(figure, fmt)
