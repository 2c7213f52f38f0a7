"""Evaluation metrics: anomalies, R_anom, RMSD, the paper's site rules, cell averaging, masks, Wilcoxon."""

import numpy as np
import pytest
from scipy import stats

from mpilda.evaluation import metrics
from mpilda.evaluation.metrics import SensorDaily

DAYS = np.arange(np.datetime64("2015-01-01"), np.datetime64("2023-01-01"))     # 8 years, as the paper


def seasonal(days, amplitude, offset):
    doy = (days - days.astype("datetime64[Y]")).astype(int)
    return offset + amplitude * np.sin(2 * np.pi * (doy - 80) / 365.25)


def test_r_anom_recovers_a_known_anomaly_correlation():
    """Two series with different seasonal cycles whose anomalies have correlation rho by construction."""
    rng = np.random.default_rng(42)
    n = DAYS.size
    rhos = np.array([0.0, 0.3, 0.6, 0.9])
    z1 = rng.standard_normal((n, rhos.size))
    z2 = rng.standard_normal((n, rhos.size))
    x_anom = z1
    y_anom = rhos * z1 + np.sqrt(1 - rhos ** 2) * z2          # corr(x_anom, y_anom) = rho
    a = seasonal(DAYS, 5.0, 20.0)[:, None] + 0.5 * x_anom      # the station: own amplitude and offset
    b = seasonal(DAYS, 2.0, 3.0)[:, None] + 0.1 * y_anom       # the model
    # gaps in the station series, so the days where both exist are a subset
    a[rng.random(a.shape) < 0.3] = np.nan
    r = metrics.r_anom(a, b, DAYS)
    both = np.isfinite(a).sum(axis=0)
    # sampling standard error of a Pearson correlation: (1 - rho^2) / sqrt(n); the climatology, estimated
    # from the same data (~170..250 values per 31-day window), costs a little more
    se = (1 - rhos ** 2) / np.sqrt(both)
    assert np.all(np.abs(r - rhos) < 4 * se + 0.01), (r, rhos)
    # the raw correlation is dominated by the shared seasonal cycle and far from rho
    raw = metrics.pearson(a, b)
    assert np.all(raw > 0.9)
    # one column at a time gives the same as all at once
    assert metrics.r_anom(a[:, 2], b[:, 2], DAYS) == pytest.approx(r[2], abs=1e-12)


def test_anomalies_of_a_pure_seasonal_cycle_are_small_and_window_is_a_parameter():
    x = seasonal(DAYS, 1.0, 0.0)
    anom = metrics.anomalies(DAYS, x)
    # a 31-day moving mean of a sine with a one-year period: attenuation 1 - sinc(31/365) ~ 1.2 %
    assert np.nanmax(np.abs(anom)) < 0.02
    assert np.nanmax(np.abs(metrics.anomalies(DAYS, x, window=5))) < np.nanmax(np.abs(anom))
    with pytest.raises(ValueError):
        metrics.anomalies(DAYS, x, window=30)


def test_pearson_and_rmsd_need_enough_pairs():
    a = np.arange(40.0)
    b = 2 * a + 1
    assert metrics.pearson(a, b) == pytest.approx(1.0)
    b_short = b.copy()
    b_short[11:] = np.nan
    assert np.isnan(metrics.pearson(a, b_short))                      # 11 pairs < MIN_PAIRS = 30
    assert metrics.pearson(a, b_short, min_pairs=5) == pytest.approx(1.0)
    assert np.isnan(metrics.pearson(a, np.ones(40)))                  # a constant series


def test_rmsd_impact_and_delta_follow_eq3():
    da = np.array([[1.0, 2.0], [2.0, np.nan], [4.0, 6.0]])
    ol = np.array([[0.0, 2.0], [2.0, 5.0], [2.0, 2.0]])
    # eq. 3: sqrt(mean over days of (DA - OL)^2), days where both exist
    expected = np.array([np.sqrt((1 + 0 + 4) / 3), np.sqrt((0 + 16) / 2)])
    np.testing.assert_allclose(metrics.impact_rmsd(da, ol), expected)
    np.testing.assert_allclose(metrics.rmsd(da, ol), expected)
    assert np.isnan(metrics.rmsd([np.nan], [1.0]))
    np.testing.assert_allclose(metrics.delta([0.5, 0.7], [0.4, 0.8]), [0.1, -0.1])


def test_wilcoxon_matches_scipy_documented_example():
    """scipy.stats.wilcoxon docs: Darwin's corn height differences
    d = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75] give statistic 24.0 and two-sided
    p = 0.041259765625 (exact distribution)."""
    d = np.array([6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75], dtype=float)
    ol = np.arange(15, dtype=float) * 3.0            # any baseline: exact in binary, so DA - OL == d
    res = metrics.wilcoxon_test(ol + d, ol)
    assert res.statistic == 24.0
    assert res.pvalue == pytest.approx(0.041259765625, rel=1e-12)
    assert res.n == 15
    # sites with a missing metric are left out
    da = np.append(ol + d, [np.nan, 1.0])
    ol2 = np.append(ol, [0.5, np.nan])
    res2 = metrics.wilcoxon_test(da, ol2)
    assert (res2.statistic, res2.pvalue, res2.n) == (24.0, res.pvalue, 15)
    assert np.isnan(metrics.wilcoxon_test([1.0], [0.0]).pvalue)


def daily(start, n, every=1):
    days = np.arange(np.datetime64(start), np.datetime64(start) + n * every, every)
    return days, np.ones(days.size)


def test_site_rule_needs_200_values_in_3_years():
    # 200 values: 67 + 67 + 66 spread over 2015, 2016, 2017
    days = np.concatenate([np.arange(np.datetime64(f"{y}-03-01"), np.datetime64(f"{y}-03-01") + k)
                           for y, k in ((2015, 67), (2016, 67), (2017, 66))])
    values = np.full(days.size, 0.2)
    assert days.size == 200
    assert metrics.enough_data(days, values)
    assert not metrics.enough_data(days[1:], values[1:])                 # 199 values
    values_nan = values.copy()
    values_nan[0] = np.nan
    assert not metrics.enough_data(days, values_nan)                     # a NaN does not count
    # 300 values but only in 2 years
    two = np.arange(np.datetime64("2015-09-01"), np.datetime64("2015-09-01") + 300)
    assert two.astype("datetime64[Y]").min() != two.astype("datetime64[Y]").max()
    assert np.unique(two.astype("datetime64[Y]")).size == 2
    assert not metrics.enough_data(two, np.ones(300))
    assert metrics.enough_data(two, np.ones(300), min_years=2)
    # both thresholds are parameters
    assert metrics.enough_data(days[1:], values[1:], min_values=199)


def sensor(depth, days, values, depth_to=None):
    return SensorDaily(depth, depth if depth_to is None else depth_to, days, np.asarray(values, dtype=float))


def test_rzsm_needs_a_sensor_deeper_than_10_cm():
    days = np.arange(np.datetime64("2016-01-01"), np.datetime64("2016-01-06"))
    s05 = sensor(0.05, days, [0.10, 0.11, 0.12, 0.13, 0.14])
    s10 = sensor(0.10, days, [0.20] * 5)
    s20 = sensor(0.20, days, [0.30, np.nan, 0.30, 0.30, 0.30])
    s20b = sensor(0.20, days, [0.40, 0.40, np.nan, 0.40, 0.40])   # a replicate at the same depth
    s150 = sensor(1.50, days, [0.9] * 5)                          # below the root zone: never used
    assert metrics.site_rzsm([s05]) is None
    assert metrics.site_rzsm([s05, s10]) is None                  # 10 cm is not deeper than 10 cm
    assert metrics.site_rzsm([s05, s150]) is None
    d, v = metrics.site_rzsm([s05, s10, s20, s20b, s150])
    np.testing.assert_array_equal(d, days)
    # per day: replicates at 0.20 averaged, then equal weights over the depths 0.05, 0.10, 0.20
    expected = [(0.10 + 0.20 + 0.35) / 3, (0.11 + 0.20 + 0.40) / 3, (0.12 + 0.20 + 0.30) / 3,
                (0.13 + 0.20 + 0.35) / 3, (0.14 + 0.20 + 0.35) / 3]
    np.testing.assert_allclose(v, expected)
    # a day on which no deep sensor reports gives no RZSM
    d, v = metrics.site_rzsm([s05, sensor(0.50, days[:3], [0.3, 0.3, 0.3])])
    assert np.isnan(v[3:]).all() and np.isfinite(v[:3]).all()
    # a cosmic-ray probe 0-0.19 m is centred at 0.095 m: surface, not root zone
    cosmos = sensor(0.0, days, [0.2] * 5, depth_to=0.19)
    assert metrics.site_rzsm([cosmos]) is None
    d, v = metrics.site_ssm([cosmos, s05, s20])
    np.testing.assert_allclose(v, (0.2 + np.array([0.10, 0.11, 0.12, 0.13, 0.14])) / 2)
    assert metrics.site_ssm([s20]) is None


def test_metrics_per_site_then_averaged_per_cell():
    cells = np.array([7, 3, 7, 7, 9])
    r = np.array([0.2, 0.5, 0.4, np.nan, np.nan])
    ids, means, n = metrics.cell_average(cells, r)
    np.testing.assert_array_equal(ids, [3, 7, 9])
    np.testing.assert_allclose(means, [0.5, 0.3, np.nan])
    np.testing.assert_array_equal(n, [1, 2, 0])


def test_common_mask_and_spatial_median():
    counts = {"smap": np.array([5, 0, 3, 2]), "lai": np.array([1, 4, 0, 2]), "vod": np.array([2, 2, 2, 2])}
    np.testing.assert_array_equal(metrics.common_mask(counts), [True, False, False, True])
    np.testing.assert_array_equal(metrics.common_mask(np.stack(list(counts.values())), min_count=2),
                                  [False, False, False, True])
    assert metrics.spatial_median([0.1, np.nan, -0.2, 0.3]) == pytest.approx(0.1)
    assert np.isnan(metrics.spatial_median([np.nan]))


def test_align_puts_a_series_on_other_days():
    days = np.array(["2016-01-03", "2016-01-01"], dtype="datetime64[D]")
    target = np.arange(np.datetime64("2016-01-01"), np.datetime64("2016-01-05"))
    np.testing.assert_array_equal(metrics.align(days, [3.0, 1.0], target), [1.0, np.nan, 3.0, np.nan])
    with pytest.raises(ValueError):
        metrics.align(np.array(["2016-01-01", "2016-01-01"], dtype="datetime64[D]"), [1.0, 2.0], target)


def test_table4_takes_the_spread_of_the_common_mask_and_labels_the_whole_domain():
    """Paper Table 4's caption: only pixels where all three sensors are assimilated count."""
    from mpilda.evaluation.run import table4_rows

    days = 10
    # two ranks' cells: OL spread 2 everywhere; DA spread 1 in the common cells, 2 elsewhere
    parts = []
    for mask in (np.array([True, False, False]), np.array([True, True, False, False])):
        n = mask.size
        ol = {v: (np.full(n, 2.0 * days), np.full(n, days)) for v in ("ssm", "rzsm", "lai")}
        da = {v: (np.where(mask, 1.0, 2.0) * days, np.full(n, days)) for v in ("ssm", "rzsm", "lai")}
        parts.append((mask, {"OL": ol, "DA_SSM": da}))
    rows = table4_rows(parts, ["DA_SSM"])
    assert len(rows) == 3
    for r in rows:
        assert r["spread_ratio"] == 0.5 and r["n_cells"] == 3
        assert abs(r["spread_ratio_whole_domain"] - (3 * 1.0 + 4 * 2.0) / 7 / 2.0) < 1e-12
    empty = table4_rows([(np.zeros(3, bool), parts[0][1])], ["DA_SSM"])
    assert all(r["spread_ratio"] is None and r["n_cells"] == 0 for r in empty)


def test_per_cell_metrics_do_not_depend_on_the_other_cells_in_the_array():
    """A rank holding one cell has (n_days, 1) arrays: every per-cell metric must give the bytes
    it gives for that cell in a wider array (and for the cell's 1-D series, as per site)."""
    rng = np.random.default_rng(17)
    days = DAYS[:3 * 365]
    k = 6
    a = seasonal(days, 0.1, 0.25)[:, None] + 0.03 * rng.standard_normal((days.size, k))
    b = seasonal(days, 0.08, 0.2)[:, None] + 0.03 * rng.standard_normal((days.size, k))
    a[rng.random(a.shape) < 0.2] = np.nan
    b = np.asfortranarray(b)                        # read_cells gives (n_days, n_cells) in either layout
    whole = {"r_anom": metrics.r_anom(a, b, days), "pearson": metrics.pearson(a, b),
             "rmsd": metrics.rmsd(a, b), "impact_rmsd": metrics.impact_rmsd(a, b),
             "time_sum": metrics.time_sum(np.nan_to_num(a))}
    anom = metrics.anomalies(days, a)
    for j in range(k):
        for cut in (slice(j, j + 1), j):            # a one-cell rank's (n_days, 1) and a site's (n_days,)
            x, y = a[:, cut], b[:, cut]
            one = {"r_anom": metrics.r_anom(x, y, days), "pearson": metrics.pearson(x, y),
                   "rmsd": metrics.rmsd(x, y), "impact_rmsd": metrics.impact_rmsd(x, y),
                   "time_sum": metrics.time_sum(np.nan_to_num(x))}
            for name, value in one.items():
                assert np.asarray(value).tobytes() == whole[name][j].tobytes(), (name, j, cut, value,
                                                                                  whole[name][j])
            assert np.asarray(metrics.anomalies(days, x)).tobytes() == anom[:, cut].tobytes()


def _paired_sample(rng, n, zeros, ties):
    """DA and OL metrics of n pairs (binary fractions, so DA - OL is exact): with ``ties``, differences
    on a grid of 1/256 (tied ranks); the first ``zeros`` differences exactly zero; two pairs with
    a NaN (left out)."""
    ol = rng.integers(200, 800, n) / 1024
    d = rng.normal(0.01, 0.03, n)
    d = np.round(d * 256) / 256 if ties else np.round(d * 2 ** 30) / 2 ** 30
    d[:zeros] = 0.0
    da = ol + d
    da[zeros] = np.nan
    ol[zeros + 1] = np.nan
    return da, ol


def _normal_approximation(d):
    """Two-sided p of the signed-rank statistic by its normal approximation with the tie correction
    and no continuity correction (Wilcoxon; zeros dropped), written out."""
    d = d[d != 0]
    n = d.size
    ranks = stats.rankdata(np.abs(d))
    t_plus = ranks[d > 0].sum()
    _, ties = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (ties ** 3 - ties).sum() / 48
    return 2 * stats.norm.sf(abs(t_plus - n * (n + 1) / 4) / np.sqrt(var))


@pytest.mark.parametrize("n, zeros, ties, method", [
    (12, 2, True, "permutation"),     # ties and zeros, at most 13: scipy's exhaustive permutation test
    (40, 0, False, "exact"),          # no ties, no zeros, at most 50: the exact null distribution
    (30, 3, True, "asymptotic"),      # ties and zeros beyond 13: the normal approximation
    (300, 20, True, "asymptotic")])   # beyond 50
def test_wilcoxon_against_scipy_with_ties_and_zero_differences(n, zeros, ties, method):
    """Issue 17, item 10: scipy.stats.wilcoxon (two-sided, its defaults) is the oracle."""
    da, ol = _paired_sample(np.random.default_rng(n), n, zeros, ties)
    res = metrics.wilcoxon_test(da, ol)
    ok = np.isfinite(da) & np.isfinite(ol)
    d = da[ok] - ol[ok]
    tied = np.unique(np.abs(d[d != 0])).size < np.count_nonzero(d)
    assert tied == ties and np.count_nonzero(d == 0) >= zeros
    ref = stats.wilcoxon(da[ok], ol[ok], alternative="two-sided")
    assert res.statistic == ref.statistic
    assert res.pvalue == pytest.approx(ref.pvalue, rel=1e-12)
    # n counts what the test ranks: finite pairs with a non-zero difference
    assert res.n == np.count_nonzero(d) <= n - 2 - zeros and res.n_pairs == n - 2
    if method == "asymptotic":
        assert res.pvalue == pytest.approx(_normal_approximation(d), rel=1e-10)
