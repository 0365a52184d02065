"""Tests for karn.analysis.stats against published and hand-computed values."""

import math

import pytest
from scipy.stats import chi2_contingency, norm

from karn.analysis import stats
from karn.enums import Reason

Z95 = 1.959963984540054  # norm.ppf(0.975), checked below


def test_z_quantile_used_in_hand_calculations() -> None:
    assert norm.ppf(0.975) == pytest.approx(Z95, abs=1e-12)


# Wilson intervals: Newcombe (1998), "Two-sided confidence intervals for the single
# proportion", Statistics in Medicine 17:857-872, Table II, method 3 (score
# without continuity correction); 81/263 is also the Wikipedia example.
@pytest.mark.parametrize(
    ("successes", "n", "low", "high"),
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_interval_matches_newcombe_1998(successes, n, low, high) -> None:
    got_low, got_high = stats.wilson_interval(successes, n)
    assert got_low == pytest.approx(low, abs=5e-5)
    assert got_high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_by_hand() -> None:
    # 81/263: p = 0.307985; z² = 3.841459
    # centre = (p + z²/(2n)) / (1 + z²/n) = 0.315288 / 1.014606 = 0.310749
    # half = z·sqrt(p(1-p)/n + z²/(4n²)) / (1 + z²/n) = 0.056325 / 1.014606
    n, x = 263, 81
    p = x / n
    z2 = Z95**2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = Z95 * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    assert centre == pytest.approx(0.310749, abs=1e-6)
    low, high = stats.wilson_interval(x, n)
    assert (low + high) / 2 == pytest.approx(centre, abs=1e-12)
    assert (high - low) / 2 == pytest.approx(half, abs=1e-12)


def test_wilson_interval_confidence_widens_interval() -> None:
    narrow = stats.wilson_interval(30, 100, confidence=0.90)
    wide = stats.wilson_interval(30, 100, confidence=0.99)
    assert wide[0] < narrow[0] < 0.3 < narrow[1] < wide[1]


def test_wilson_interval_edges() -> None:
    assert stats.wilson_interval(0, 0) == (0.0, 1.0)
    assert stats.wilson_interval(0, 10)[0] == 0.0
    assert stats.wilson_interval(10, 10)[1] == 1.0
    # Symmetry: x of n mirrors n - x of n.
    low, high = stats.wilson_interval(3, 10)
    mirror_low, mirror_high = stats.wilson_interval(7, 10)
    assert low == pytest.approx(1 - mirror_high)
    assert high == pytest.approx(1 - mirror_low)


@pytest.mark.parametrize(("successes", "n"), [(5, 4), (-1, 4), (0, -1)])
def test_wilson_interval_rejects_impossible_counts(successes, n) -> None:
    with pytest.raises(ValueError):
        stats.wilson_interval(successes, n)


def test_wilson_interval_rejects_bad_confidence() -> None:
    with pytest.raises(ValueError):
        stats.wilson_interval(1, 2, confidence=1.0)


def test_rank_reasons_orders_by_share_over_shown() -> None:
    # price has fewer mentions than quality but was shown to fewer people, so its
    # share is higher: 30/60 = 0.5 against 40/100 = 0.4.
    ranking = stats.rank_reasons(
        {"service": 10, "quality": 40, "price": 30},
        {"service": 100, "quality": 100, "price": 60},
    )
    assert [row.reason for row in ranking.reasons] == ["price", "quality", "service"]
    assert [row.share for row in ranking.reasons] == [0.5, 0.4, 0.1]
    assert ranking.n == 80
    assert ranking.weight == "count"
    price = ranking.reasons[0]
    assert (price.ci_low, price.ci_high) == stats.wilson_interval(30, 60)
    # price [0.377, 0.623] overlaps quality [0.309, 0.498]; quality and service
    # [0.055, 0.174] are apart, and the last reason has nothing after it.
    assert [row.overlaps_next for row in ranking.reasons] == [True, False, False]
    assert all(
        row.revenue is None and row.revenue_share is None for row in ranking.reasons
    )


def test_rank_reasons_revenue_weighting_by_hand() -> None:
    counts = {"service": 40, "price": 20, "need": 10}
    shown = {"service": 100, "price": 100, "need": 100}
    # Monthly revenue lost with the customers citing each reason:
    # total = 2000 + 5000 + 1000 = 8000, so shares 0.25, 0.625, 0.125.
    revenue = {"service": 2000.0, "price": 5000.0, "need": 1000.0}
    by_count = stats.rank_reasons(counts, shown, revenue)
    assert [row.reason for row in by_count.reasons] == ["service", "price", "need"]
    assert by_count.total_revenue == 8000.0
    assert {row.reason: row.revenue_share for row in by_count.reasons} == {
        "service": 0.25,
        "price": 0.625,
        "need": 0.125,
    }

    by_revenue = stats.rank_reasons(counts, shown, revenue, weight="revenue")
    assert [row.reason for row in by_revenue.reasons] == ["price", "service", "need"]
    assert [row.revenue for row in by_revenue.reasons] == [5000.0, 2000.0, 1000.0]
    # Share intervals say nothing about the order of revenue.
    assert all(row.overlaps_next is None for row in by_revenue.reasons)
    # The share itself is unchanged by the weighting.
    assert by_revenue.reasons[1].share == 0.4


def test_rank_reasons_revenue_weight_needs_revenue() -> None:
    with pytest.raises(ValueError):
        stats.rank_reasons({"service": 1}, {"service": 1}, weight="revenue")
    with pytest.raises(ValueError):
        stats.rank_reasons({"service": 1}, {"service": 1}, weight="amount")  # type: ignore[arg-type]


def test_rank_reasons_zero_total_revenue_has_no_share() -> None:
    ranking = stats.rank_reasons({"service": 1}, {"service": 2}, {"service": 0.0})
    assert ranking.reasons[0].revenue == 0.0
    assert ranking.reasons[0].revenue_share is None


def test_rank_reasons_no_responses() -> None:
    empty = stats.rank_reasons({}, {})
    assert empty.n == 0
    assert empty.reasons == []

    # Shown but nobody answered yet: zero shares with wide intervals, no order.
    ranking = stats.rank_reasons({}, {"service": 5, "price": 5})
    assert ranking.n == 0
    assert [row.share for row in ranking.reasons] == [0.0, 0.0]
    assert [row.reason for row in ranking.reasons] == ["service", "price"]
    assert ranking.reasons[0].overlaps_next is True

    # No survey version showed anything: every reason is flagged, none ranked.
    hidden = stats.rank_reasons({}, {"service": 0, "price": 0})
    assert [row.not_shown for row in hidden.reasons] == [True, True]
    assert [row.overlaps_next for row in hidden.reasons] == [None, None]


def test_rank_reasons_one_reason_only() -> None:
    ranking = stats.rank_reasons({"price": 7}, {"price": 7})
    assert ranking.n == 7
    (row,) = ranking.reasons
    assert row.share == 1.0
    assert row.ci_high == 1.0
    assert row.overlaps_next is False
    assert row.not_shown is False


def test_rank_reasons_never_shown_reason_is_last_and_flagged() -> None:
    ranking = stats.rank_reasons(
        {"service": 1, "price": 3},
        {"brand": 0, "service": 10, "price": 10},
    )
    assert [row.reason for row in ranking.reasons] == ["price", "service", "brand"]
    brand = ranking.reasons[-1]
    assert brand.not_shown is True
    assert brand.share is None
    assert brand.ci_low is None and brand.ci_high is None
    assert brand.overlaps_next is None
    # The reason before a never-shown one has no interval to overlap.
    assert ranking.reasons[1].overlaps_next is False


def test_rank_reasons_rejects_count_above_shown() -> None:
    with pytest.raises(ValueError):
        stats.rank_reasons({"brand": 2}, {})


def test_rank_reasons_ties_follow_canonical_order() -> None:
    codes = [reason.value for reason in Reason]
    counts = {code: 5 for code in reversed(codes)}
    shown = {code: 10 for code in reversed(codes)}
    ranking = stats.rank_reasons(counts, shown)
    assert [row.reason for row in ranking.reasons] == codes


def test_ranking_as_dict_is_plain_data() -> None:
    data = stats.rank_reasons({"service": 1}, {"service": 2}).as_dict()
    assert data["n"] == 1
    assert data["reasons"][0]["reason"] == "service"
    assert data["reasons"][0]["share"] == 0.5


# Goodman (1965) intervals for the Sison & Glaz (1995, JASA 90:366-369) example 1,
# as printed there to three decimals.
def test_goodman_intervals_match_sison_glaz_1995() -> None:
    counts = dict(zip("abcdefg", [56, 72, 73, 59, 62, 87, 58], strict=True))
    expected = {
        "a": (0.085, 0.166),
        "b": (0.115, 0.204),
        "c": (0.116, 0.207),
        "d": (0.091, 0.173),
        "e": (0.096, 0.181),
        "f": (0.143, 0.239),
        "g": (0.089, 0.171),
    }
    got = stats.goodman_intervals(counts)
    for code, (low, high) in expected.items():
        assert got[code][0] == pytest.approx(low, abs=5e-4)
        assert got[code][1] == pytest.approx(high, abs=5e-4)


def test_goodman_intervals_are_wider_than_wilson() -> None:
    counts = {"service": 40, "price": 30, "need": 30}
    goodman = stats.goodman_intervals(counts)
    for code, count in counts.items():
        low, high = stats.wilson_interval(count, 100)
        assert goodman[code][0] < low and goodman[code][1] > high


def test_goodman_intervals_without_responses() -> None:
    assert stats.goodman_intervals({"service": 0, "price": 0}) == {
        "service": (0.0, 1.0),
        "price": (0.0, 1.0),
    }


def test_compare_segments_matches_scipy() -> None:
    a = {"service": 30, "quality": 10, "price": 20, "brand": 0}
    b = {"service": 15, "quality": 25, "price": 20, "brand": 0}
    result = stats.compare_segments(a, b)
    expected = chi2_contingency([[30, 10, 20], [15, 25, 20]])
    assert result["statistic"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)
    assert result["dof"] == 2
    assert result["reasons"] == ["service", "quality", "price"]
    assert result["dropped"] == ["brand"]
    assert result["reliable"] is True
    assert result["problem"] is None
    assert result["shares_a"]["service"] == 0.5
    assert result["shares_b"]["quality"] == pytest.approx(25 / 60)
    # Expected count for service in segment a: row total × column total / N.
    assert result["expected"]["service"][0] == pytest.approx(60 * 45 / 120)


def test_compare_segments_statistic_by_hand() -> None:
    # Rows a = (40, 5, 5) and b = (10, 20, 20), 50 each; column totals 50, 25, 25,
    # so the expected counts are (25, 12.5, 12.5) in both rows.
    # Row a: 15²/25 + 7.5²/12.5 + 7.5²/12.5 = 9 + 4.5 + 4.5 = 18; row b the same.
    # X² = 36 with 2 degrees of freedom, whose upper tail is exp(-X²/2).
    result = stats.compare_segments(
        {"service": 40, "price": 5, "need": 5}, {"service": 10, "price": 20, "need": 20}
    )
    assert result["statistic"] == pytest.approx(36.0)
    assert result["dof"] == 2
    assert result["p_value"] == pytest.approx(math.exp(-36.0 / 2))  # χ²₂ tail


def test_compare_segments_flags_small_expected_counts() -> None:
    result = stats.compare_segments(
        {"service": 3, "price": 1, "need": 0}, {"service": 1, "price": 2, "need": 1}
    )
    assert result["p_value"] is not None
    assert result["reliable"] is False
    assert result["problem"] == "small_expected"


def test_compare_segments_without_data_or_contrast() -> None:
    no_data = stats.compare_segments({"service": 4}, {})
    assert no_data["problem"] == "no_data"
    assert no_data["p_value"] is None
    assert no_data["shares_b"] == {"service": None}

    one_reason = stats.compare_segments({"service": 4, "price": 0}, {"service": 9})
    assert one_reason["problem"] == "one_reason"
    assert one_reason["statistic"] is None
    assert one_reason["dropped"] == ["price"]


def test_compare_segments_two_reasons_uses_yates_like_scipy() -> None:
    result = stats.compare_segments(
        {"service": 20, "price": 30}, {"service": 35, "price": 15}
    )
    expected = chi2_contingency([[20, 30], [35, 15]])
    assert result["correction"] is True
    assert result["statistic"] == pytest.approx(expected.statistic)
    uncorrected = chi2_contingency([[20, 30], [35, 15]], correction=False)
    assert result["statistic"] < uncorrected.statistic


# Montgomery, Introduction to Statistical Quality Control, the p-chart chapter's
# orange juice can example (30 samples of 50): p̄ = 347/1500 = 0.2313,
# limits 0.2313 ± 3·sqrt(0.2313·0.7687/50) = 0.2313 ± 0.1789 -> [0.0524, 0.4102];
# samples 15 (0.44) and 23 (0.48) are out of control.
MONTGOMERY = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22]
MONTGOMERY += [8, 10, 5, 13, 11, 20, 18, 24, 15, 9, 12, 7, 13, 9, 6]


def test_p_chart_matches_montgomery_example() -> None:
    chart = stats.p_chart([(i + 1, x, 50) for i, x in enumerate(MONTGOMERY)])
    assert len(chart) == 30
    assert chart[0].centre == pytest.approx(0.2313, abs=5e-5)
    assert chart[0].ucl == pytest.approx(0.4102, abs=5e-5)
    assert chart[0].lcl == pytest.approx(0.0524, abs=5e-5)
    assert [point.label for point in chart if point.out_of_control] == [15, 23]


def test_p_chart_limits_vary_with_n_by_hand() -> None:
    # p̄ = (10 + 20 + 30 + 60) / 500 = 0.24
    # n = 100: 3·sqrt(0.24·0.76/100) = 3·0.0427083 = 0.128125 -> [0.111875, 0.368125]
    # n = 200: 3·sqrt(0.24·0.76/200) = 3·0.0301993 = 0.090598 -> [0.149402, 0.330598]
    # n = 4:   3·sqrt(0.24·0.76/4)   = 0.640625 -> clipped to [0, 0.880625]
    chart = stats.p_chart(
        [("jan", 10, 100), ("feb", 20, 100), ("mar", 30, 100), ("apr", 60, 200)]
    )
    assert all(point.centre == pytest.approx(0.24) for point in chart)
    assert chart[0].lcl == pytest.approx(0.111875, abs=1e-6)
    assert chart[0].ucl == pytest.approx(0.368125, abs=1e-6)
    assert chart[3].lcl == pytest.approx(0.149402, abs=1e-6)
    assert chart[3].ucl == pytest.approx(0.330598, abs=1e-6)
    # jan: 0.10 < 0.111875 is below its limit; the others are inside.
    assert [point.out_of_control for point in chart] == [True, False, False, False]

    small = stats.p_chart([("a", 24, 100), ("b", 0, 4), ("c", 96, 396)])
    assert small[1].lcl == 0.0
    assert small[1].ucl == pytest.approx(0.880625, abs=1e-6)
    assert small[1].out_of_control is False  # 0 sits on the clipped limit


def test_p_chart_clips_upper_limit_at_one() -> None:
    chart = stats.p_chart([("a", 9, 10), ("b", 1, 1)])
    assert chart[1].ucl == 1.0
    assert chart[1].out_of_control is False


def test_p_chart_empty_periods() -> None:
    chart = stats.p_chart([("a", 0, 0), ("b", 5, 10)])
    assert chart[0].proportion is None
    assert chart[0].ucl is None and chart[0].lcl is None
    assert chart[0].out_of_control is False
    assert chart[1].centre == 0.5
    assert stats.p_chart([]) == []
    nothing = stats.p_chart([("a", 0, 0)])
    assert nothing[0].centre is None


def test_two_proportion_test_by_hand() -> None:
    # before 41/100, after 29/100:
    # pooled p = 70/200 = 0.35; se = sqrt(0.35·0.65·(1/100 + 1/100)) = 0.0674537
    # z = (0.29 - 0.41) / 0.0674537 = -1.778998
    # two-sided p = 2·(1 - Φ(|z|)) = erfc(|z|/√2) = 0.075240
    result = stats.two_proportion_test(41, 100, 29, 100)
    assert result["difference"] == pytest.approx(-0.12)
    assert result["z"] == pytest.approx(-1.778998, abs=1e-6)
    assert result["p_value"] == pytest.approx(0.075240, abs=1e-6)
    assert result["p_value"] == pytest.approx(math.erfc(1.778998 / math.sqrt(2)))


def test_two_proportion_interval_matches_newcombe_1998() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", Statistics in Medicine 17:873-890, Table II example (a):
    # 56/70 - 48/80, method 10 (score, no continuity correction) 0.0524 to 0.3339.
    # Here difference is group 2 minus group 1, so the groups are swapped.
    result = stats.two_proportion_test(48, 80, 56, 70)
    assert result["difference"] == pytest.approx(0.2)
    assert result["ci_low"] == pytest.approx(0.0524, abs=5e-5)
    assert result["ci_high"] == pytest.approx(0.3339, abs=5e-5)


def test_two_proportion_test_without_variance() -> None:
    result = stats.two_proportion_test(0, 10, 0, 20)
    assert result["z"] == 0.0
    assert result["p_value"] == 1.0
    with pytest.raises(ValueError):
        stats.two_proportion_test(0, 0, 1, 2)


def test_sample_size_needed_matches_standard_example() -> None:
    # 10% vs 20%, α = 0.05 two-sided, power 0.8 (Fleiss, no continuity correction):
    # (1.959964·sqrt(2·0.15·0.85) + 0.841621·sqrt(0.09 + 0.16))² / 0.1²
    # = (0.989753 + 0.420811)² / 0.01 = 198.97 -> 199 per group
    assert stats.sample_size_needed(0.10, 0.20) == 199
    assert stats.sample_size_needed(0.20, 0.10) == 199
    assert stats.sample_size_needed(0.41, 0.29) == 247
    assert stats.sample_size_needed(0.10, 0.20, power=0.9) > 199
    assert stats.sample_size_needed(0.3, 0.3) is None
    with pytest.raises(ValueError):
        stats.sample_size_needed(0.1, 0.2, power=0.3)
    with pytest.raises(ValueError):
        stats.sample_size_needed(1.2, 0.2)


def test_sample_size_gives_the_power_it_promises() -> None:
    # With n per group the test's power at the true shares should reach 0.8:
    # power ≈ Φ((|p1-p2|·sqrt(n) - z·sqrt(2p̄q̄)) / sqrt(p1q1 + p2q2)).
    p1, p2 = 0.41, 0.29
    n = stats.sample_size_needed(p1, p2)
    assert n is not None
    mean = (p1 + p2) / 2

    def power(size: int) -> float:
        spread = math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
        shift = abs(p1 - p2) * math.sqrt(size) - Z95 * math.sqrt(2 * mean * (1 - mean))
        return float(norm.cdf(shift / spread))

    assert power(n) >= 0.8 > power(n - 1)


def test_verdict_significant_fall_in_both_languages() -> None:
    # 410/1000 -> 290/1000: z = -5.626, p ≈ 1.8e-8
    english = stats.verdict((410, 1000), (290, 1000), "en", "service")
    dutch = stats.verdict((410, 1000), (290, 1000), "nl", "service")
    assert english == (
        "The share naming “service” fell from 41% to 29%: a drop this large is "
        "unlikely to be chance (p < 0.001)."
    )
    assert dutch == (
        "Het aandeel dat “service” noemt, daalde van 41% naar 29%: zo'n grote "
        "daling is waarschijnlijk geen toeval (p < 0,001)."
    )


def test_verdict_uses_decimal_comma_in_dutch() -> None:
    # 41/100 -> 20/100: pooled 0.305, se = 0.0651114, z = -3.225240, p = 0.001259
    result = stats.two_proportion_test(41, 100, 20, 100)
    assert result["p_value"] == pytest.approx(0.001259, abs=1e-6)
    assert stats.verdict((41, 100), (20, 100), "nl", "Prijs").endswith("(p = 0,001).")
    assert stats.verdict((41, 100), (20, 100), "en", "price").endswith("(p = 0.001).")
    rise = stats.verdict((20, 100), (41, 100), "nl", "Prijs")
    assert rise.startswith("Het aandeel dat “Prijs” noemt, steeg van 20% naar 41%")


def test_verdict_too_small() -> None:
    # p = 0.075 (see the hand calculation above) and 247 per period are needed.
    english = stats.verdict((41, 100), (29, 100), "en", "service")
    # In plain words, without "n": 247 - 100 = 147 more answers per period.
    assert english == (
        "The share naming “service” went from 41% to 29%. Too few answers yet "
        "to tell: about 147 more per period needed."
    )
    dutch = stats.verdict((41, 100), (29, 100), "nl", "service")
    assert dutch == (
        "Het aandeel dat “service” noemt, ging van 41% naar 29%. Nog te weinig "
        "antwoorden om dat te beoordelen: ongeveer 147 meer per periode nodig."
    )
    # The smaller period counts: 247 - 60.
    uneven = stats.verdict((41, 100), (17, 60), "en", "service")
    assert "about " in uneven and "more per period needed" in uneven
    assert stats.verdict((0, 0), (3, 10), "en", "service") == (
        "The share naming “service”: too few answers yet to tell."
    )
    for text in (english, dutch):
        assert "n too small" not in text and "n te klein" not in text


def test_verdict_no_change_with_enough_responses() -> None:
    # 400/1000 -> 400/1000: identical shares, nothing to detect.
    same = stats.verdict((400, 1000), (400, 1000), "en", "price")
    assert same == (
        "The share naming “price” went from 40% to 40%: no real change (p = 1.00)."
    )
    # Thousands separators: 0.41 -> 0.405 needs 151,604 per period, 141,604
    # more than the 10,000 each has.
    close = stats.verdict((4100, 10000), (4050, 10000), "nl", "service")
    assert "ongeveer 141.604 meer per periode" in close
    assert "van 41% naar 40%" in close  # 40.5% is 40.4999… in binary
    near = stats.verdict((4100, 10000), (4080, 10000), "en", "service")
    assert "from 41.0% to 40.8%" in near


def test_verdict_rejects_unknown_language() -> None:
    with pytest.raises(ValueError):
        stats.verdict((1, 2), (1, 2), "de", "Service")


def test_assess_change_kinds() -> None:
    assert stats.assess_change((410, 1000), (290, 1000))["kind"] == "fell"
    assert stats.assess_change((290, 1000), (410, 1000))["kind"] == "rose"
    too_small = stats.assess_change((41, 100), (29, 100))
    assert too_small["kind"] == "too_small"
    assert too_small["needed"] == 247
    same = stats.assess_change((40, 100), (400, 1000))
    assert same["kind"] == "no_change"
    assert same["needed"] is None
    empty = stats.assess_change((0, 0), (1, 2))
    assert empty["kind"] == "too_small"
    assert empty["p_value"] is None and empty["p2"] == 0.5


def test_trend_shares_and_gaps() -> None:
    series = [
        ("2024-01", {"service": 3, "price": 1}, {"service": 10, "price": 10}),
        ("2024-02", {"service": 5}, {"service": 10}),
    ]
    result = stats.trend(series)
    assert result.periods == ["2024-01", "2024-02"]
    assert result.respondents == [4, 5]
    assert list(result.reasons) == ["service", "price"]
    service = result.reasons["service"]
    assert [point.share for point in service] == [0.3, 0.5]
    assert (service[1].ci_low, service[1].ci_high) == stats.wilson_interval(5, 10)
    price = result.reasons["price"]
    assert price[1].share is None  # not shown in February: a gap, not a zero
    assert price[1].period == "2024-02"
    assert result.as_dict()["reasons"]["service"][0]["count"] == 3


def test_trend_empty() -> None:
    result = stats.trend([])
    assert result.periods == [] and result.reasons == {}
