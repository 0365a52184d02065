"""Time rank_reasons and a ranking chart against baselines measured in the same run.

Run from the project root: ``.venv/bin/python bench/stats.py``. The baselines are
the cheapest versions of the same work (plain share division; saving an empty
figure), so the ratios show what the intervals and drawing add on this machine.
"""

import io
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from karn.analysis import charts, stats  # noqa: E402

COUNTS = {"service": 412, "quality": 233, "brand": 97, "price": 301, "need": 140}
SHOWN = {code: 1183 for code in COUNTS} | {"other": 0}
REVENUE = {"service": 20600.0, "quality": 9800.0, "brand": 3100.0, "price": 15400.0}


def best_of(function: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Fastest mean time per call in seconds over several repeats."""
    return min(timeit.repeat(function, number=number, repeat=repeat)) / number


def plain_shares() -> dict[str, float]:
    """Baseline: the shares alone, without intervals, ordering or validation."""
    return {code: COUNTS.get(code, 0) / n for code, n in SHOWN.items() if n}


def empty_png() -> bytes:
    """Baseline: saving a figure with nothing drawn on it."""
    figure = Figure(figsize=(7.0, 3.9), dpi=100)
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def main() -> None:
    """Print each measurement next to its baseline."""
    ranking = stats.rank_reasons(COUNTS, SHOWN, REVENUE)
    rows = [
        (
            "rank_reasons",
            best_of(lambda: stats.rank_reasons(COUNTS, SHOWN, REVENUE), 2000),
            "plain shares",
            best_of(plain_shares, 2000),
        ),
        (
            "ranking_chart png",
            best_of(lambda: charts.ranking_chart(ranking, {}, fmt="png"), 10),
            "empty figure png",
            best_of(empty_png, 10),
        ),
        (
            "ranking_chart svg",
            best_of(lambda: charts.ranking_chart(ranking, {}, fmt="svg"), 10),
            "empty figure png",
            best_of(empty_png, 10),
        ),
    ]
    print(f"{'measurement':<20}{'time':>12}  {'baseline':<18}{'time':>12}{'ratio':>8}")
    for name, seconds, base_name, base_seconds in rows:
        print(
            f"{name:<20}{seconds * 1e6:>10.1f}µs  {base_name:<18}"
            f"{base_seconds * 1e6:>10.1f}µs{seconds / base_seconds:>8.1f}"
        )


if __name__ == "__main__":
    main()
