"""Tests for karn.analysis.charts: valid PNG/SVG, caller's text, determinism."""

import datetime as dt
import io
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from matplotlib.image import imread

from karn.analysis import charts, periodcharts, stats

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SVG = "{http://www.w3.org/2000/svg}"

DUTCH = {
    "service": "Dienstverlening",
    "quality": "Kwaliteit",
    "brand": "Ander merk",
    "price": "Prijs",
    "need": "Behoefte veranderd",
    "other": "Overig",
    "title": "Waarom klanten vertrekken",
    "x_axis": "Aandeel van wie de optie zag",
    "not_shown": "niet getoond",
    "negative": "Negatief",
    "neutral": "Neutraal",
    "positive": "Positief",
    "invited": "Uitgenodigd",
    "opened": "Geopend",
    "responded": "Beantwoord",
    "lang": "nl",
}
ENGLISH = {
    "service": "Service",
    "quality": "Quality",
    "brand": "Preferred another brand",
    "price": "Price",
    "need": "My needs changed",
    "other": "Other",
    "title": "Why customers leave",
    "x_axis": "Share of those shown the option",
    "not_shown": "not shown",
    "negative": "Negative",
    "neutral": "Neutral",
    "positive": "Positive",
    "invited": "Invited",
    "opened": "Opened",
    "responded": "Responded",
    "lang": "en",
}


def run_python(code: str) -> bytes:
    """Run code in a fresh interpreter that imports Karn from this tree."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, env=env
    )
    return result.stdout


def svg_texts(data: bytes) -> list[str]:
    """All text in an SVG document, one string per <text> element."""
    root = ET.fromstring(data)
    assert root.tag == f"{SVG}svg"
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def assert_png(data: bytes) -> None:
    assert data.startswith(PNG_SIGNATURE)
    image = imread(io.BytesIO(data), format="png")
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.fixture
def ranking() -> stats.Ranking:
    return stats.rank_reasons(
        {"service": 41, "quality": 20, "price": 30, "need": 5},
        {"service": 100, "quality": 90, "price": 100, "need": 100, "brand": 0},
    )


@pytest.fixture
def trend() -> stats.Trend:
    months = [dt.date(2024, month, 1) for month in range(1, 7)]
    series = [
        (month, {"service": 20 + i, "price": 10}, {"service": 60, "price": 50})
        for i, month in enumerate(months)
    ]
    # March: price hidden in that survey version.
    series[2] = (months[2], {"service": 25}, {"service": 60, "price": 0})
    return stats.trend(series)


def chart_calls(ranking: stats.Ranking, trend: stats.Trend, labels: dict) -> dict:
    """Every chart function with representative input, keyed by name."""
    points = stats.p_chart(
        [(dt.date(2024, m, 1), x, 100) for m, x in [(1, 30), (2, 35), (3, 70), (4, 31)]]
    )
    legend = {"proportion": labels["service"], "centre": labels["title"]}
    stages = [("invited", 12000), ("opened", 7000), ("responded", 2100)]
    dist = {
        "service": {"negative": 30, "neutral": 10, "positive": 5},
        "price": {"negative": 5, "neutral": 20, "positive": 2},
        "need": {},
    }
    actions = [(dt.date(2024, 3, 15), labels["brand"])]
    return {
        "ranking": lambda fmt: charts.ranking_chart(ranking, labels, fmt=fmt),
        "trend": lambda fmt: periodcharts.trend_chart(trend, labels, actions, fmt=fmt),
        "p_chart": lambda fmt: periodcharts.p_chart_chart(
            points, labels["title"], actions, legend, fmt=fmt
        ),
        "funnel": lambda fmt: charts.funnel_chart(stages, labels, fmt=fmt),
        "sentiment": lambda fmt: charts.sentiment_chart(dist, labels, fmt=fmt),
    }


NAMES = ["ranking", "trend", "p_chart", "funnel", "sentiment"]


@pytest.mark.parametrize("name", NAMES)
def test_png_decodes(name, ranking, trend) -> None:
    assert_png(chart_calls(ranking, trend, ENGLISH)[name]("png"))


@pytest.mark.parametrize("labels", [DUTCH, ENGLISH], ids=["nl", "en"])
@pytest.mark.parametrize("name", NAMES)
def test_svg_is_xml_with_callers_text(name, labels, ranking, trend) -> None:
    texts = svg_texts(chart_calls(ranking, trend, labels)[name]("svg"))
    other = ENGLISH if labels is DUTCH else DUTCH
    assert labels["title"] in texts
    expected = {
        "ranking": ["service", "price", "quality", "need", "brand", "not_shown"],
        "trend": ["service", "price", "brand"],  # brand names the action marker
        "p_chart": ["service", "brand"],
        "funnel": ["invited", "opened", "responded"],
        "sentiment": ["service", "price", "negative", "neutral", "positive"],
    }[name]
    for key in expected:
        assert labels[key] in " ".join(texts), key
    # Nothing leaks from the other language.
    for key in expected:
        assert other[key] not in texts


@pytest.mark.parametrize("name", NAMES)
def test_svg_is_deterministic(name, ranking, trend) -> None:
    calls = chart_calls(ranking, trend, DUTCH)
    assert calls[name]("svg") == calls[name]("svg")


def test_svg_deterministic_across_processes(ranking) -> None:
    code = (
        "import sys\n"
        "from karn.analysis import charts, stats\n"
        "counts, shown = {'service': 3, 'price': 1}, {'service': 9, 'price': 9}\n"
        "r = stats.rank_reasons(counts, shown)\n"
        "sys.stdout.buffer.write(charts.ranking_chart(r, {}, fmt='svg'))\n"
    )
    runs = [run_python(code) for _ in range(2)]
    assert runs[0] == runs[1]
    assert b"<dc:date>" not in runs[0]
    ET.fromstring(runs[0])


def test_svg_keeps_text_as_text(ranking) -> None:
    data = charts.ranking_chart(ranking, ENGLISH, fmt="svg")
    # With svg.fonttype "none" glyphs are not converted to paths.
    assert b"<text " in data
    assert b"Preferred another brand" in data


def test_reason_colours_are_fixed_whatever_the_order() -> None:
    first = stats.rank_reasons({"service": 9, "price": 1}, {"service": 10, "price": 10})
    second = stats.rank_reasons(
        {"service": 1, "price": 9}, {"service": 10, "price": 10}
    )
    for ranking in (first, second):
        data = charts.ranking_chart(ranking, ENGLISH, fmt="svg").decode()
        assert charts.REASON_COLOURS["service"].lower() in data.lower()
        assert charts.REASON_COLOURS["price"].lower() in data.lower()
    assert charts.reason_colour("service") == "#D55E00"
    assert charts.reason_colour("unknown") == charts.UNKNOWN_COLOUR
    assert len(set(charts.REASON_COLOURS.values())) == len(charts.REASON_COLOURS)


def test_funnel_uses_dutch_thousands_separator() -> None:
    stages = [("invited", 12000), ("responded", 2100)]
    dutch = svg_texts(charts.funnel_chart(stages, DUTCH, fmt="svg"))
    english = svg_texts(charts.funnel_chart(stages, ENGLISH, fmt="svg"))
    assert "12.000 (100%)" in dutch and "2.100 (18%)" in dutch
    assert "12,000 (100%)" in english


def test_charts_accept_empty_input() -> None:
    assert_png(charts.ranking_chart(stats.rank_reasons({}, {}), ENGLISH))
    assert_png(periodcharts.trend_chart(stats.trend([]), ENGLISH))
    assert_png(periodcharts.p_chart_chart([], "empty"))
    assert_png(charts.funnel_chart([], ENGLISH))
    assert_png(charts.sentiment_chart({}, ENGLISH))


def test_revenue_ranking_chart() -> None:
    ranking = stats.rank_reasons(
        {"service": 4, "price": 2},
        {"service": 10, "price": 10},
        {"service": 100.0, "price": 300.0},
        weight="revenue",
    )
    texts = svg_texts(charts.ranking_chart(ranking, ENGLISH, fmt="svg"))
    assert "75%" in texts and "25%" in texts


def test_string_periods_place_actions_by_label() -> None:
    series = [(label, {"service": 3}, {"service": 10}) for label in ("Q1", "Q2", "Q3")]
    data = periodcharts.trend_chart(
        stats.trend(series),
        ENGLISH,
        actions=[("Q2", "New helpdesk"), ("Q9", "Out of range")],
        fmt="svg",
    )
    texts = " ".join(svg_texts(data))
    assert "New helpdesk" in texts
    assert "Out of range" not in texts


def test_unknown_format_is_rejected(ranking) -> None:
    with pytest.raises(ValueError):
        charts.ranking_chart(ranking, ENGLISH, fmt="jpg")


def test_import_starts_no_gui_backend() -> None:
    code = (
        "import sys\n"
        "import karn.analysis.charts\n"
        "gui = ('matplotlib.pyplot', 'tkinter', 'PyQt5', 'PyQt6', 'PySide6', 'gi')\n"
        "print(sorted(m for m in gui if m in sys.modules))\n"
    )
    assert run_python(code).strip() == b"[]"


def test_an_action_within_a_period_sits_between_its_points() -> None:
    _figure, ax = charts._figure(4.0, 3.0)
    xs, locate = periodcharts._period_axis(ax, ["M1", "M2", "M3"], ENGLISH)
    assert xs == [0.0, 1.0, 2.0]
    assert locate("M2") == 1.0
    # On its first day: halfway from the period before; on its last, almost
    # at the next one.
    assert locate(periodcharts.Within("M2", 0.0)) == 0.5
    assert locate(periodcharts.Within("M2", 0.75)) == 1.25
    assert locate(periodcharts.Within("M2", 7.0)) == 1.5
    assert locate(periodcharts.Within("M9", 0.5)) is None

    series = [(label, {"service": 3}, {"service": 10}) for label in ("M1", "M2")]
    data = periodcharts.trend_chart(
        stats.trend(series),
        ENGLISH,
        actions=[(periodcharts.Within("M2", 0.5), "New helpdesk")],
        fmt="svg",
    )
    assert "New helpdesk" in " ".join(svg_texts(data))


def svg_text_positions(data: bytes) -> dict[str, float]:
    """Each text's y in the SVG (larger is lower on the page)."""
    root = ET.fromstring(data)
    found = {}
    for node in root.iter(f"{SVG}text"):
        transform = node.get("transform", "")
        y = float(node.get("y") or transform.split("translate(")[-1].split()[1][:-1])
        found["".join(node.itertext())] = y
    return found


@pytest.mark.parametrize("size", charts.SIZES)
@pytest.mark.parametrize("name", NAMES + ["segments"])
def test_text_reads_at_12_px_where_the_chart_is_shown(name, size, ranking, trend):
    """Drawn at the width it is shown at (SVG: 96 px to the inch), no text is
    smaller than 9 pt, 12 px; a narrow chart fits a 390 px phone's card."""
    calls = {
        "ranking": lambda: charts.ranking_chart(ranking, ENGLISH, "svg", size),
        "trend": lambda: periodcharts.trend_chart(
            trend, ENGLISH, [(dt.date(2024, 3, 15), "New helpdesk")], "svg", size
        ),
        "p_chart": lambda: periodcharts.p_chart_chart(
            stats.p_chart([(dt.date(2024, m, 1), 30, 100) for m in (1, 2, 3)]),
            "Service",
            None,
            {"proportion": "share", "centre": "average"},
            "svg",
            size,
        ),
        "funnel": lambda: charts.funnel_chart(
            [("invited", 12000), ("responded", 2100)], ENGLISH, "svg", size
        ),
        "sentiment": lambda: charts.sentiment_chart(
            {"service": {"negative": 3, "positive": 1}}, ENGLISH, "svg", size
        ),
        "segments": lambda: charts.segments_chart(
            [("service", 0.5, 0.2), ("brand", 0.5, 0.8)],
            ("MKB (n = 40)", "Particulier (n = 50)"),
            ENGLISH,
            "svg",
            size,
        ),
    }
    data = calls[name]().decode()
    root = ET.fromstring(data)
    width_px = float(root.get("width").removesuffix("pt")) * 96 / 72
    sizes = [float(s) for s in re.findall(r"font-size: ([\d.]+)px", data)]
    assert sizes and min(sizes) >= 9
    if size == "narrow":
        assert width_px <= 316
    else:
        assert 400 <= width_px <= 1110


def test_the_ranking_axis_ends_near_the_largest_share(ranking) -> None:
    texts = svg_texts(charts.ranking_chart(ranking, ENGLISH, fmt="svg"))
    # The largest interval ends near 51%: the axis stops at 60%, not 100%.
    assert "60%" in texts and "100%" not in texts


SHOWN = ("service", "price", "need")


def test_trends_are_small_multiples_with_actions_named_below() -> None:
    # Quality was never shown: no panel for it.
    months = ["2025-06", "2025-07", "2025-08", "2025-09"]
    series = [
        (m, {"service": 3 + i, "price": 2, "need": 1}, dict.fromkeys(SHOWN, 10))
        for i, m in enumerate(months)
    ]
    names = {"2025-06": "jun 2025", "2025-07": "jul 2025"}
    data = periodcharts.trend_chart(
        stats.trend(series),
        DUTCH,
        [(periodcharts.Within("2025-08", 0.5), "Terugbelgarantie")],
        fmt="svg",
        period_name=lambda m: names.get(m, m),
    )
    texts = svg_texts(data)
    # A panel per reason with answers, each titled with its name.
    for code in ("service", "price", "need"):
        assert texts.count(DUTCH[code]) == 1
    assert DUTCH["quality"] not in texts
    assert "jun 2025" in texts and "2025-06" not in texts
    # The action's title stands below every panel, not over the lines.
    where = svg_text_positions(data)
    assert where["1 Terugbelgarantie"] > max(
        y for text, y in where.items() if text in names.values()
    )


def test_segments_chart_names_both_groups() -> None:
    data = charts.segments_chart(
        [("service", 0.62, 0.2), ("price", 0.38, 0.8)],
        ("MKB (n = 40)", "Particulier (n = 50)"),
        DUTCH,
        fmt="svg",
    )
    texts = svg_texts(data)
    assert "MKB (n = 40)" in texts and "Particulier (n = 50)" in texts
    assert "62%" in texts and "80%" in texts and "100%" not in texts
