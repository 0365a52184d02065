"""The churn-risk model's quality as pictures: calibration and cumulative gains.

Drawn with the dashboard's chart helpers (karn.analysis.charts: matplotlib's
object API, Okabe–Ito colours, deterministic SVG), from the figures stored with
the model version (``calibration_bins`` and ``gains``, measured on customers
the model had not learned from). matplotlib is imported only when a chart is
drawn. All visible words come from the caller's ``labels``.

Each comes in the dashboard's two sizes: "wide" for a desktop page and
"narrow", drawn at the width a 390 px phone shows it (the page asks for it
with a media query), so its text is not shrunk below the dashboard's
smallest; long axis names wrap and the legend goes under the plot.
"""

import textwrap
from collections.abc import Mapping

WIDE = 4.6


def _frame(ax, labels: Mapping[str, str], size: str, legend_at: str) -> None:
    """Percent axes, axis names and the legend, for the chart's size."""
    from matplotlib.ticker import PercentFormatter

    from karn.analysis import charts

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    if size != "narrow":
        ax.legend(loc=legend_at, frameon=False)
        charts._set_titles(ax, labels)
        return
    ax.tick_params(labelsize=charts.SMALL)
    ax.set_xlabel(textwrap.fill(labels["x_axis"], 30))
    ax.set_ylabel(textwrap.fill(labels["y_axis"], 22))
    ax.figure.legend(loc="outside lower left", frameon=False, ncols=1)


def _figure(size: str):
    from karn.analysis import charts

    if size == "narrow":
        return charts._figure(charts.NARROW, 3.7)
    return charts._figure(WIDE, 3.6)


def calibration_chart(
    bins: list, labels: Mapping[str, str], fmt: str = "svg", size: str = "wide"
) -> bytes:
    """Predicted probability against the share that left, per bin of customers."""
    from karn.analysis import charts

    charts._check_format(fmt, size)
    with charts._style():
        figure, ax = _figure(size)
        ax.plot(
            [0, 1],
            [0, 1],
            color=charts.OKABE_ITO["grey"],
            linestyle="--",
            label=labels["perfect"],
        )
        ax.plot(
            [b[0] for b in bins],
            [b[1] for b in bins],
            color=charts.OKABE_ITO["blue"],
            marker="o",
            label=labels["model"],
        )
        top = max([0.05, *(max(b[0], b[1]) for b in bins)])
        top = min(1.0, top * 1.1)
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        _frame(ax, labels, size, "upper left")
        return charts._render(figure, fmt)


def gains_chart(
    points: list, labels: Mapping[str, str], fmt: str = "svg", size: str = "wide"
) -> bytes:
    """Share of the leavers found against the share of customers called, highest
    risk first; the diagonal is calling at random."""
    from karn.analysis import charts

    charts._check_format(fmt, size)
    with charts._style():
        figure, ax = _figure(size)
        ax.plot(
            [0, 1],
            [0, 1],
            color=charts.OKABE_ITO["grey"],
            linestyle="--",
            label=labels["random"],
        )
        ax.plot(
            [0.0, *(p[0] for p in points)],
            [0.0, *(p[1] for p in points)],
            color=charts.OKABE_ITO["vermillion"],
            marker="o",
            label=labels["model"],
        )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        _frame(ax, labels, size, "lower right")
        return charts._render(figure, fmt)
