"""CDF matching and seasonal LAI rescaling against their definitions."""

import numpy as np
import pytest

from mpilda.climatology import day_slot, seasonal_cycle, slot_of
from mpilda.obs.rescale import PERCENTILES, CdfMatching, MeanOffset, SeasonalRescaling, piecewise_linear


def test_day_slots_line_up_calendar_dates_across_years():
    days = np.arange(np.datetime64("2015-01-01"), np.datetime64("2017-01-01"))
    slots = day_slot(days)
    assert slots.min() == 0 and slots.max() == 364
    assert slots[days == np.datetime64("2016-03-01")][0] == slots[days == np.datetime64("2015-03-01")][0] == 59
    assert slots[days == np.datetime64("2016-02-29")][0] == 58                 # shares 28 February's slot
    assert slot_of(np.datetime64("2016-12-31").astype(object)) == 364


def test_seasonal_cycle_is_a_wrapping_moving_window_mean():
    slots = np.arange(365)
    values = np.zeros((365, 1))
    values[0] = 31.0                                        # one value on 1 January
    mean, count = seasonal_cycle(values, slots, window=31)
    assert count[0, 0] == 31 and mean[15, 0] == pytest.approx(1.0) and mean[16, 0] == 0.0
    assert mean[364, 0] == pytest.approx(1.0) and mean[350, 0] == pytest.approx(1.0) and mean[349, 0] == 0.0


def test_cdf_matching_maps_observations_onto_the_model_distribution():
    rng = np.random.default_rng(0)
    n, cells = 4000, 3
    cell = np.repeat(np.arange(cells), n)
    month = np.full(cell.size, 7)
    model = np.concatenate([rng.beta(2, 5, n) * 0.4, rng.normal(0.3, 0.05, n), rng.uniform(0.1, 0.2, n)])
    # observations: a non-linear, cell-dependent transformation of the model plus noise
    obs = np.concatenate([np.sqrt(model[:n]) * 0.5, 0.8 * model[n:2 * n] + 0.1, model[2 * n:] ** 2 * 5])
    obs = obs + rng.normal(0, 0.002, obs.size)
    table = CdfMatching.fit(obs, model, month, cell, cells, min_samples=30)
    out, ok = table.apply(obs, month, cell)
    assert ok.all()
    for c in range(cells):
        got = np.percentile(out[cell == c], PERCENTILES[1:-1])
        want = np.percentile(model[cell == c], PERCENTILES[1:-1])
        assert np.allclose(got, want, atol=0.004), c           # quantiles equal at the percentiles
    x = np.linspace(-0.5, 2.0, 500)
    y, _ = table.apply(x, np.full(x.size, 7), np.zeros(x.size, int))
    assert np.all(np.diff(y) >= 0)                             # monotonic, also beyond the ends
    # linear beyond the ends, with the end segments' slopes
    xk, yk = table.obs_knots[6, :, 0], table.model_knots[6, :, 0]
    below = xk[0] - 0.1
    assert table.apply(np.array([below]), np.array([7]), np.array([0]))[0][0] == pytest.approx(
        yk[0] - 0.1 * (yk[1] - yk[0]) / (xk[1] - xk[0]))


def test_cdf_matching_is_not_robust_with_few_samples():
    table = CdfMatching.fit(np.arange(10.0), np.arange(10.0), np.full(10, 1), np.zeros(10, int), 2, min_samples=20)
    out, ok = table.apply(np.array([3.0, 3.0]), np.array([1, 2]), np.array([0, 1]))
    assert not ok.any()
    assert table.count[0, 0] == 10 and table.count[1, 1] == 0


def test_piecewise_linear_interpolates_exactly_at_the_knots():
    xk = np.array([[0.0, 1.0, 3.0]])
    yk = np.array([[10.0, 20.0, 24.0]])
    x = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, -1.0])
    got = piecewise_linear(x, np.repeat(xk, x.size, 0), np.repeat(yk, x.size, 0))
    assert np.allclose(got, [10, 15, 20, 22, 24, 26, 0])


def test_seasonal_lai_rescaling_gives_the_model_climatology_and_anomaly_std():
    rng = np.random.default_rng(1)
    days = np.arange(np.datetime64("2015-01-01"), np.datetime64("2019-01-01"))
    slots = day_slot(days)
    season = np.sin(2 * np.pi * slots / 365.0)
    model = 2.0 + 1.5 * season[:, None] + rng.normal(0, 0.3, (days.size, 2))
    # observations every 10 days: other mean cycle, amplitude and anomaly std
    obs_days = np.arange(0, days.size, 10)
    obs = 1.0 + 2.5 * season[obs_days, None] + rng.normal(0, 0.6, (obs_days.size, 2))
    table = SeasonalRescaling.fit(obs, slots[obs_days], model, slots, window=61, min_count=3)
    s = slots[obs_days]
    out = np.stack([table.apply(obs[:, c], s, np.full(s.size, c))[0] for c in range(2)], axis=1)
    resid = out - table.model_clim[s]
    assert abs(resid.mean()) < 0.05                                    # the model's mean seasonal cycle
    assert resid.std() == pytest.approx(table.model_std[s].mean(), rel=0.1)   # and its anomaly std
    assert table.model_std.mean() == pytest.approx(0.3, rel=0.1) and table.obs_std.mean() == pytest.approx(0.6, rel=0.15)


def test_mean_offset_recovers_each_cells_static_bias_and_masks_thin_cells():
    rng = np.random.default_rng(7)
    n_cells, bias = 4, np.array([0.02, -0.01, 0.0, 0.05])       # obs = model - bias (cell 3: few pairs)
    cell = np.concatenate([np.repeat([0, 1, 2], 200), [3] * 5])
    model = rng.uniform(0.1, 0.4, cell.size)
    obs = model - bias[cell] + rng.normal(0.0, 0.01, cell.size)
    obs[3] = np.nan                                               # a fill value: not a pair
    table = MeanOffset.fit(obs, model, cell, n_cells, min_samples=30)
    assert table.count.tolist() == [199, 200, 200, 5]
    # the offset is the mean of model - obs: the bias within the standard error of 200 noisy pairs
    assert np.all(np.abs(table.offset[:3] - bias[:3]) < 4 * 0.01 / np.sqrt(199))
    assert table.robust().tolist() == [True, True, True, False]
    value, ok = table.apply(np.array([0.3, 0.3, np.nan, 0.3]), np.array([0, 1, 2, 3]))
    assert value[:2] == pytest.approx(0.3 + table.offset[:2], abs=0) and ok.tolist() == [True, True, False, False]
    # a cell without any pair has no offset
    assert np.isnan(MeanOffset.fit(obs[:10], model[:10], cell[:10], n_cells, 1).offset[1])


def test_cdf_knots_are_hazen_percentiles_of_each_month_and_cell():
    """The knots are numpy's method="hazen" percentiles (plotting positions (i - 0.5) / n) of each
    (month, cell) sample: small samples, where the definitions differ most, included."""
    rng = np.random.default_rng(3)
    sizes = {(1, 0): 7, (1, 1): 40, (6, 0): 2, (6, 1): 1}
    obs, model, month, cell = [], [], [], []
    for (m, c), n in sizes.items():
        obs.append(rng.gamma(2.0, 0.05, n))
        model.append(rng.uniform(0.05, 0.45, n))
        month += [m] * n
        cell += [c] * n
    obs, model = np.concatenate(obs), np.concatenate(model)
    month, cell = np.array(month), np.array(cell)
    table = CdfMatching.fit(obs, model, month, cell, 2, min_samples=1)
    for (m, c), n in sizes.items():
        pick = (month == m) & (cell == c)
        assert table.count[m - 1, c] == n
        np.testing.assert_allclose(table.obs_knots[m - 1, :, c], np.percentile(obs[pick], PERCENTILES, method="hazen"),
                                   rtol=0, atol=1e-15)
        np.testing.assert_allclose(table.model_knots[m - 1, :, c],
                                   np.percentile(model[pick], PERCENTILES, method="hazen"), rtol=0, atol=1e-15)
    assert np.isnan(table.obs_knots[2]).all() and table.count[2].sum() == 0        # a month without pairs


def test_rescaled_lai_is_never_negative():
    """y* = clim_model + (y - clim_obs) std_model / std_obs is clipped at 0 m2 m-2: a low retrieval where
    the model's anomalies are wider than the observations' would give a negative leaf area."""
    one = np.ones((365, 1))
    table = SeasonalRescaling(obs_clim=1.0 * one, obs_std=0.1 * one, model_clim=0.5 * one, model_std=0.4 * one)
    values = np.array([0.0, 0.8, 0.9, 1.0, 1.3, np.nan])
    out, ok = table.apply(values, np.full(values.size, 100), np.zeros(values.size, int))
    # unclipped: 0.5 + (y - 1.0) * 4 = -3.5, -0.3, 0.1, 0.5, 1.7
    np.testing.assert_allclose(out[:5], [0.0, 0.0, 0.1, 0.5, 1.7], rtol=0, atol=1e-12)
    assert np.isnan(out[5]) and ok.tolist() == [True] * 5 + [False]
