"""The churn-risk model's quality as pictures: calibration and cumulative gains.

Drawn with the dashboard's chart helpers (karn.analysis.charts: matplotlib's
object API, Okabe–Ito colours, deterministic SVG), from the figures stored with
the model version (``calibration_bins`` and ``gains``, measured on customers
the model had not learned from). matplotlib is imported only when a chart is
drawn. All visible words come from the caller's ``labels``.
"""

from collections.abc import Mapping


def calibration_chart(bins: list, labels: Mapping[str, str], fmt: str = "svg") -> bytes:
    """Predicted probability against the share that left, per bin of customers."""
    from matplotlib.ticker import PercentFormatter

    from karn.analysis import charts

    charts._check_format(fmt)
    with charts._style():
        figure, ax = charts._figure(4.6, 3.6)
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
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.legend(loc="upper left", frameon=False)
        charts._set_titles(ax, labels)
        return charts._render(figure, fmt)


def gains_chart(points: list, labels: Mapping[str, str], fmt: str = "svg") -> bytes:
    """Share of the leavers found against the share of customers called, highest
    risk first; the diagonal is calling at random."""
    from matplotlib.ticker import PercentFormatter

    from karn.analysis import charts

    charts._check_format(fmt)
    with charts._style():
        figure, ax = charts._figure(4.6, 3.6)
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
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.legend(loc="lower right", frameon=False)
        charts._set_titles(ax, labels)
        return charts._render(figure, fmt)
