"""The lagged autocorrelation of the innovations (issue 18, item 5; paper 4.2, Figs. S17/S19): the
kernel on series of known autocorrelation, with gaps, per cell independent of its neighbours to the
bit, the summary over the common mask, the same bytes for any split over ranks, the report's table
and figure."""

import json

import numpy as np
import pytest
from scipy import signal

from mpilda.evaluation import innovations
from mpilda.evaluation.innovations import (LAGS, MIN_LAG_PAIRS, daily_mean_innovation, lag_pairs,
                                           lagged_autocorrelation, summary_rows)
from mpilda.evaluation.run import _clean, _domain, innovation_autocorrelation_rows
from mpilda.report import tables


def ar1(rng, phi, n_days, n_cells) -> np.ndarray:
    """(n_days, n_cells) stationary AR(1) series x[t] = phi x[t-1] + e[t], unit innovation variance."""
    e = rng.normal(size=(n_days, n_cells))
    e[0] /= np.sqrt(1 - phi ** 2)                  # start in the stationary distribution
    return signal.lfilter([1.0], [1.0, -phi], e, axis=0)


def bartlett_se(phi, lag, n) -> float:
    """Bartlett's standard error of the sample autocorrelation of an AR(1) at ``lag`` from n pairs."""
    p2 = phi ** 2
    var = ((1 + p2) * (1 - p2 ** lag) / (1 - p2) - 2 * lag * p2 ** lag) / n
    return float(np.sqrt(max(var, 1.0 / n)))


def test_an_ar1_series_has_autocorrelation_phi_to_the_lag():
    rng = np.random.default_rng(18)
    phi, n = 0.7, 6000
    x = ar1(rng, phi, n, 6)
    acf, pairs = lagged_autocorrelation(x)
    assert acf.shape == pairs.shape == (len(LAGS), 6)
    for i, lag in enumerate(LAGS):
        assert (pairs[i] == n - lag).all()
        tol = 4 * bartlett_se(phi, lag, n - lag)
        np.testing.assert_allclose(acf[i], phi ** lag, atol=tol, err_msg=f"lag {lag}")


def test_gaps_are_left_out_of_the_pairs():
    """Days without an innovation (NaN) drop the pairs they are in; the estimate stays unbiased, and a
    series observed every other day has no lag-1 pairs at all (NaN) but lag-2 pairs."""
    rng = np.random.default_rng(5)
    phi, n = 0.6, 8000
    x = ar1(rng, phi, n, 4)
    x[rng.random(x.shape) < 0.4] = np.nan                # 40 % of the days missing at random
    acf, pairs = lagged_autocorrelation(x)
    ok = np.isfinite(x)
    for i, lag in enumerate(LAGS):
        np.testing.assert_array_equal(pairs[i], (ok[:-lag] & ok[lag:]).sum(axis=0))
        assert (pairs[i] > 0.3 * n).all()
        np.testing.assert_allclose(acf[i], phi ** lag, atol=4 * bartlett_se(phi, lag, pairs[i].min()))
    alternate = ar1(rng, phi, n, 1)
    alternate[1::2] = np.nan
    acf, pairs = lagged_autocorrelation(alternate, lags=(1, 2, 3, 4))
    assert pairs[0, 0] == pairs[2, 0] == 0 and np.isnan(acf[0, 0]) and np.isnan(acf[2, 0])
    assert acf[1, 0] == pytest.approx(phi ** 2, abs=4 * bartlett_se(phi, 2, pairs[1, 0]))
    assert acf[3, 0] == pytest.approx(phi ** 4, abs=4 * bartlett_se(phi, 4, pairs[3, 0]))


def test_white_noise_has_no_autocorrelation():
    rng = np.random.default_rng(7)
    n = 5000
    acf, _ = lagged_autocorrelation(rng.normal(size=(n, 5)))
    assert np.abs(acf).max() < 4 / np.sqrt(n - max(LAGS))


def test_a_lag_needs_min_lag_pairs_pairs():
    rng = np.random.default_rng(1)
    x = rng.normal(size=MIN_LAG_PAIRS + 1)                 # MIN_LAG_PAIRS pairs at lag 1, one fewer at lag 2
    acf, pairs = lagged_autocorrelation(x, lags=(1, 2, MIN_LAG_PAIRS + 1, 40))
    assert list(pairs) == [MIN_LAG_PAIRS, MIN_LAG_PAIRS - 1, 0, 0]
    assert np.isfinite(acf[0]) and np.isnan(acf[1:]).all()
    assert np.isnan(lagged_autocorrelation(np.ones(30), lags=(1,))[0]).all()    # a constant series: NaN
    with pytest.raises(ValueError):
        lagged_autocorrelation(x, lags=(0,))


def test_each_cell_is_the_same_bytes_alone_as_beside_others():
    """A rank holding one cell computes the bytes the rank holding all of them does."""
    rng = np.random.default_rng(11)
    n_days, n_cells = 730, 9
    x = ar1(rng, 0.8, n_days, n_cells) * rng.lognormal(-3, 1, n_cells) + rng.normal(0, 0.05, n_cells)
    x[rng.random(x.shape) < 0.5] = np.nan
    x[:, 3] = np.nan                                      # a cell never assimilating
    acf, pairs = lagged_autocorrelation(x)
    for k in range(n_cells):
        alone, alone_pairs = lagged_autocorrelation(x[:, k:k + 1])
        assert alone.tobytes() == acf[:, k:k + 1].tobytes(), k
        assert alone_pairs.tobytes() == pairs[:, k:k + 1].tobytes(), k
        one_d, _ = lagged_autocorrelation(np.ascontiguousarray(x[:, k]))
        assert one_d.tobytes() == acf[:, k].tobytes(), k
    fortran = lagged_autocorrelation(np.asfortranarray(x))[0]
    assert fortran.tobytes() == acf.tobytes()


def test_the_daily_mean_innovation_is_the_sum_over_the_count():
    s = np.array([[0.02, np.nan, 0.0], [0.03, 0.1, 0.0], [-0.01, 0.0, np.nan]])
    n = np.array([[2.0, 0.0, 0.0], [1.0, 2.0, 0.0], [1.0, np.nan, 1.0]])
    got = daily_mean_innovation(s, n)
    want = np.array([[0.01, np.nan, np.nan], [0.03, 0.05, np.nan], [-0.01, np.nan, np.nan]])
    np.testing.assert_array_equal(got, want)
    assert lag_pairs(got, 1).tolist() == [2, 0, 0]


def test_the_summary_is_the_median_over_the_common_mask_cells_with_a_value():
    acf = np.array([[0.9, 0.5, np.nan, 0.1, 0.7], [np.nan, np.nan, np.nan, np.nan, 0.2]])
    pairs = np.array([[20, 30, 3, 40, 50], [1, 2, 0, 3, 4]])
    mask = np.array([True, True, True, True, False])
    rows = summary_rows("DA_VOD", "vod", acf, pairs, mask, lags=(1, 2))
    assert rows[0] == dict(experiment="DA_VOD", sensor="vod", lag_days=1, autocorrelation=pytest.approx(0.5),
                           autocorrelation_q25=pytest.approx(0.3), autocorrelation_q75=pytest.approx(0.7),
                           n_cells=3, n_pairs=30.0)
    clean = _clean(rows[1])
    assert clean["autocorrelation"] is None and clean["autocorrelation_q25"] is None and clean["n_cells"] == 0


def _cell_rows(rng, n):
    """Per-cell values as the ranks hold them: two experiments, their sensors, every lag."""
    rows = {}
    for e, sensors in (("DA_VOD", ("vod",)), ("DA_SSM+LAI", ("smap", "lai"))):
        for s in sensors:
            for lag in LAGS:
                v = rng.uniform(-0.2, 0.9, n)
                v[rng.random(n) < 0.2] = np.nan
                rows[(e, s, f"innov_acf_lag{lag:02d}")] = v
                rows[(e, s, f"innov_pairs_lag{lag:02d}")] = np.where(np.isfinite(v), rng.integers(10, 99, n), 3.0)
    return rows


def test_the_rows_are_the_same_bytes_for_any_split_of_the_cells_over_ranks():
    rng = np.random.default_rng(3)
    n = 41
    mask = rng.random(n) < 0.7
    values = _cell_rows(rng, n)

    def rows_of(ids_per_rank):
        parts = [dict(cell_ids=np.sort(ids), common_mask=mask[np.sort(ids)], spread={},
                      cell_rows={k: v[np.sort(ids)] for k, v in values.items()}) for ids in ids_per_rank]
        cells, common, _ = _domain(parts)
        return json.dumps(_clean(innovation_autocorrelation_rows(cells, common, ["DA_VOD", "DA_SSM+LAI"])))

    one = rows_of([np.arange(n)])
    got = json.loads(one)
    assert [(r["experiment"], r["sensor"]) for r in got[::len(LAGS)]] == \
        [("DA_VOD", "vod"), ("DA_SSM+LAI", "smap"), ("DA_SSM+LAI", "lai")]
    assert [r["lag_days"] for r in got[:len(LAGS)]] == list(LAGS)
    v = values[("DA_VOD", "vod", "innov_acf_lag01")][mask]
    assert got[0]["autocorrelation"] == float(np.median(v[np.isfinite(v)]))
    assert got[0]["n_cells"] == int(np.isfinite(v).sum())
    order = rng.permutation(n)
    for cuts in ([20], [1, 2], list(range(1, n))):
        assert rows_of(np.split(order, cuts)) == one, cuts


def test_the_report_shows_the_table_and_the_figure(tmp_path):
    from mpilda.plots import plot_innovation_autocorrelation

    rng = np.random.default_rng(4)
    rows = []
    for e, s, phi in (("DA_SSM", "smap", 0.2), ("DA_VOD", "vod", 0.8), ("DA_LAI", "lai", 0.5)):
        for lag in LAGS:
            value = phi ** lag if s != "lai" or lag == 10 else None
            rows.append(dict(experiment=e, sensor=s, lag_days=lag, autocorrelation=value,
                             autocorrelation_q25=None if value is None else value - 0.1,
                             autocorrelation_q75=None if value is None else value + 0.1,
                             n_cells=0 if value is None else int(rng.integers(5, 50)), n_pairs=12.0))
    text = tables(dict(innovation_autocorrelation=rows))
    assert "## Lagged autocorrelation of the innovations" in text
    assert "| DA_VOD | VOD | 0.80 | 0.64 |" in text
    assert "| DA_LAI | LAI | – | – |" in text and text.count("lag 10 d") == 1
    path = plot_innovation_autocorrelation(rows, tmp_path / "acf.png")
    assert path.exists() and path.stat().st_size > 10_000
    assert plot_innovation_autocorrelation([dict(r, autocorrelation=None) for r in rows], tmp_path / "x.png") is None
    assert "Lagged autocorrelation" not in tables({}) and innovations.LAGS == tuple(range(1, 11))
