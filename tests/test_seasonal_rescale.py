"""Seasonal-cycle rescaling of SSM ([obs.smap] rescale = seasonal; issue 18, item 4).

y' = y - clim_obs(slot) + clim_model(slot): the expected tables come from an independent
computation of the moving-window climatology (a loop over calendar dates, slots from Python's
``datetime``), from R_anom's ``metrics.anomalies`` and, on complete years, from pytesmo; the rescaled
series must carry the model's mean seasonal cycle and the retrievals' anomalies unchanged.
"""

import datetime as dt

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import ConfigError, config_from_text
from mpilda.evaluation import metrics
from mpilda.experiment import run
from mpilda.obs.rescale import SeasonalCycleOffset, daily_pairs
from mpilda.obs.synthetic import make_observations
from mpilda.obs.tables import SEASONAL_FILE, load_smap_rescaling, make_rescaling

from .conftest import MINIMAL, tiny_twin_config

WINDOW = 31


def _slot(day: dt.date) -> int:
    """Day-of-year slot 0..364 by the definition: the date's place in the non-leap year 2015, 29 February
    taking 28 February's."""
    same = dt.date(2015, 2, 28) if (day.month, day.day) == (2, 29) else day.replace(year=2015)
    return same.timetuple().tm_yday - 1


def _direct_cycle(days, values, window=WINDOW):
    """Moving-window mean (365, k) and count over every day whose slot lies within window // 2 slots
    of each slot (circularly), NaN values left out: a plain loop over slots and days."""
    slots = np.array([_slot(d) for d in days.astype(object)])
    half = window // 2
    mean = np.full((365, values.shape[1]), np.nan)
    count = np.zeros((365, values.shape[1]), dtype=np.int64)
    for s in range(365):
        gap = np.abs(slots - s)
        near = np.minimum(gap, 365 - gap) <= half
        for k in range(values.shape[1]):
            v = values[near, k]
            v = v[np.isfinite(v)]
            count[s, k] = v.size
            if v.size:
                mean[s, k] = sum(v.tolist()) / v.size
    return mean, count


def _synthetic(days, n_cells=3, seed=5):
    """Daily SSM-like pairs [m3 m-3]: retrievals y = a + b sin(2 pi doy / 365) + anomaly and a model with
    another cycle and its own anomalies; retrievals on about half the days, missing in runs."""
    rng = np.random.default_rng(seed)
    doy = np.array([_slot(d) for d in days.astype(object)], dtype=float)
    season = np.sin(2 * np.pi * doy / 365.0)[:, None]
    a_o, b_o = np.array([0.30, 0.22, 0.35]), np.array([0.08, 0.05, 0.02])
    a_m, b_m = np.array([0.25, 0.18, 0.28]), np.array([0.04, 0.06, 0.03])
    obs = a_o + b_o * season + rng.normal(0.0, 0.03, (days.size, n_cells))
    model = a_m + b_m * season + rng.normal(0.0, 0.02, (days.size, n_cells))
    gaps = rng.random((days.size, n_cells)) < 0.5
    obs[gaps] = np.nan
    return obs, model, (a_o, b_o, a_m, b_m)


def _harmonic_fit(slots, values):
    """Least-squares mean, sine and cosine amplitudes of the yearly cycle of a series (3,)."""
    phase = 2 * np.pi * slots / 365.0
    design = np.column_stack([np.ones(slots.size), np.sin(phase), np.cos(phase)])
    return np.linalg.lstsq(design, values, rcond=None)[0]


DAYS = np.arange(np.datetime64("2015-01-01"), np.datetime64("2018-01-01"))      # 2016 a leap year


def test_the_cycles_are_the_moving_window_climatology_of_the_pairs():
    """obs_clim, model_clim and count equal a direct computation over the days with a pair, leap day
    in 28 February's slot; they are R_anom's climatology of the paired series too."""
    obs, model, _ = _synthetic(DAYS)
    slots = np.array([_slot(d) for d in DAYS.astype(object)])
    table = SeasonalCycleOffset.fit(obs, model, slots, WINDOW, min_samples=20)
    paired_model = np.where(np.isfinite(obs), model, np.nan)
    want_o, count = _direct_cycle(DAYS, obs)
    want_m, _ = _direct_cycle(DAYS, paired_model)
    np.testing.assert_allclose(table.obs_clim, want_o, rtol=0, atol=1e-14)
    np.testing.assert_allclose(table.model_clim, want_m, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(table.count, count)
    assert count.min() >= 20 and table.robust().all()
    # R_anom's climatology: the series minus its anomalies (metrics.anomalies, any min_count the slots meet)
    for values, clim in ((obs, table.obs_clim), (paired_model, table.model_clim)):
        cycle = values - metrics.anomalies(DAYS, values, WINDOW)
        ok = np.isfinite(values)
        np.testing.assert_allclose(clim[slots][ok], cycle[ok], rtol=0, atol=1e-15)


def test_the_cycles_match_pytesmo_on_complete_years_away_from_the_leap_day():
    """With a pair every day, pytesmo's climatology (mpilda's settings; tests/test_oracles.py) is the
    table's away from the windows that hold 28/29 February (the documented leap-day difference)."""
    from .test_oracles import _near_leap_day, _pytesmo_anomalies

    days = np.arange(np.datetime64("2015-01-01"), np.datetime64("2019-01-01"))
    obs, model, _ = _synthetic(days, seed=8)
    obs = np.where(np.isfinite(obs), obs, model + 0.05)                 # complete
    slots = np.array([_slot(d) for d in days.astype(object)])
    table = SeasonalCycleOffset.fit(obs, model, slots, WINDOW, min_samples=30)
    away = ~_near_leap_day(days)
    for k in range(obs.shape[1]):
        for values, clim in ((obs[:, k], table.obs_clim[:, k]), (model[:, k], table.model_clim[:, k])):
            want = values - _pytesmo_anomalies(days, values)
            np.testing.assert_allclose(clim[slots][away], want[away], rtol=0, atol=1e-14)


def test_the_rescaled_retrievals_have_the_models_cycle_and_their_own_anomalies():
    obs, model, (a_o, b_o, a_m, b_m) = _synthetic(DAYS)
    slots = np.array([_slot(d) for d in DAYS.astype(object)])
    table = SeasonalCycleOffset.fit(obs, model, slots, WINDOW, min_samples=20)
    t, c = np.nonzero(np.isfinite(obs))
    out, ok = table.apply(obs[t, c], slots[t], c)
    assert ok.all()
    # the anomalies unchanged, unscaled: y' - clim_model = y - clim_obs to round-off
    np.testing.assert_allclose(out - table.model_clim[slots[t], c], obs[t, c] - table.obs_clim[slots[t], c],
                               rtol=0, atol=1e-15)
    # the rescaled series has the model's seasonal cycle: the mean and yearly harmonic fitted to it are the
    # model's (at the same days) within their standard errors (~0.03 / sqrt(550) = 0.0013); the raw
    # retrievals' differ by 0.02 to 0.07
    rescaled = np.full(obs.shape, np.nan)
    rescaled[t, c] = out
    for k in range(obs.shape[1]):
        ok = np.isfinite(obs[:, k])
        model_fit = _harmonic_fit(slots[ok], model[ok, k])
        assert np.abs(_harmonic_fit(slots[ok], rescaled[ok, k]) - model_fit).max() < 0.006, k
        assert np.abs(_harmonic_fit(slots[ok], obs[ok, k]) - model_fit).max() > 0.02, k
    # the removed difference is the true cycles' difference, within the sampling noise of ~45 days a slot
    true = (a_o - a_m) + (b_o - b_m) * np.sin(2 * np.pi * np.arange(365) / 365.0)[:, None]
    assert np.abs(table.obs_clim - table.model_clim - true).max() < 5 * np.hypot(0.03, 0.02) / np.sqrt(40)


def test_slots_without_enough_days_reject_their_retrievals():
    """A slot with fewer than min_samples days in its window, or without a cycle, cannot rescale: ok is
    False (the run rejects the retrieval under no_cdf); the value stays finite."""
    clim = np.full((365, 2), 0.2)
    count = np.full((365, 2), 40)
    count[100, 0] = 29
    obs_clim = clim.copy()
    obs_clim[200, 1] = np.nan
    table = SeasonalCycleOffset(obs_clim, clim + 0.05, count, min_samples=30)
    values = np.array([0.3, 0.3, 0.3, 0.3, np.nan])
    out, ok = table.apply(values, np.array([100, 101, 200, 201, 5]), np.array([0, 0, 1, 1, 0]))
    assert ok.tolist() == [False, True, False, True, False]
    np.testing.assert_allclose(out[[1, 3]], 0.35, rtol=0, atol=1e-15)
    assert np.isfinite(out[:4]).all()
    assert not table.robust()[100, 0] and table.robust().sum() == 2 * 365 - 2


def test_a_cells_table_does_not_depend_on_the_other_cells_or_the_order_of_the_pairs():
    """The same bytes for a cell fitted alone (one column: numpy would sum it pairwise) or beside
    others, and for the pairs in any order (the daily means add a day's pairs in a fixed order)."""
    rng = np.random.default_rng(2)
    n_days, n_cells, n = 400, 4, 3000
    day, cell = rng.integers(0, n_days, n), rng.integers(0, n_cells, n)
    obs, model = rng.uniform(0.05, 0.45, n), rng.uniform(0.05, 0.45, n)
    obs[::17] = np.nan
    slots = np.arange(n_days) % 365
    o, m = daily_pairs(obs, model, day, cell, n_days, n_cells)
    assert np.isnan(m[np.isnan(o)]).all()
    shuffle = rng.permutation(n)
    o2, m2 = daily_pairs(obs[shuffle], model[shuffle], day[shuffle], cell[shuffle], n_days, n_cells)
    assert o.tobytes() == o2.tobytes() and m.tobytes() == m2.tobytes()
    together = SeasonalCycleOffset.fit(o, m, slots, WINDOW, 5)
    for k in range(n_cells):
        alone = SeasonalCycleOffset.fit(o[:, k:k + 1], m[:, k:k + 1], slots, WINDOW, 5)
        assert alone.obs_clim[:, 0].tobytes() == together.obs_clim[:, k].tobytes()
        assert alone.model_clim[:, 0].tobytes() == together.model_clim[:, k].tobytes()
    # a day's mean is the mean of its pairs
    d0, c0 = day[5], cell[5]
    pick = (day == d0) & (cell == c0) & np.isfinite(obs)
    assert o[d0, c0] == pytest.approx(obs[pick].mean(), abs=1e-15)


def test_config_accepts_seasonal_and_names_the_choices():
    cfg = config_from_text(MINIMAL + "[obs.smap]\nrescale = seasonal\n")
    assert cfg.obs_smap.rescale == "seasonal"
    assert config_from_text(MINIMAL).obs_smap.rescale == "cdf"                 # the paper's default
    with pytest.raises(ConfigError) as err:
        config_from_text(MINIMAL + "[obs.smap]\nrescale = anomaly\n")
    assert "seasonal" in str(err.value) and "'anomaly'" in str(err.value)


# -- end to end: the rescale command and a DA_SSM run -----------------------------------------------

def _config(tmp, name, out, start="2015-04-01", end="2015-05-16", members=0, overrides=()):
    return tiny_twin_config(tmp, name, out, start, end, members,
                            ["obs.smap.rescale=seasonal", "obs.smap.min_cdf_samples=8", *overrides])


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    """A truth run of 2015-04-01..05-16 on the test window, its synthetic retrievals, and the seasonal
    SMAP tables fitted to it (the truth stands in for the open loop)."""
    tmp = tmp_path_factory.mktemp("seasonal")
    truth = _config(tmp, "truth", "truth")
    run(truth, MPI.COMM_SELF)
    make_observations(truth, MPI.COMM_SELF)
    summary = make_rescaling(_config(tmp, "OL", "truth"), MPI.COMM_SELF)
    return tmp, summary


def test_the_rescale_command_writes_the_seasonal_table(twin):
    tmp, summary = twin
    assert not (tmp / "tables" / "cdf_smap.nc").exists()
    s = summary["smap"]
    assert s["pairs"] > 0 and 0 < s["robust_cell_slots"] < s["cell_slots"]
    with h5py.File(tmp / "tables" / SEASONAL_FILE) as f:
        assert f["day"].shape == (365,) and f["day"].attrs["units"] in (b"1", "1")
        assert "29 February" in str(f["day"].attrs["long_name"])
        for name, units in (("obs_clim", "m3 m-3"), ("model_clim", "m3 m-3"), ("count", "1")):
            attrs = f[name].attrs
            assert str(np.asarray(attrs["units"]).astype(str)) == units and "long_name" in attrs, name
            assert f[name].dims[0][0].name == "/day", name
        count = f["count"][...]
    land = (count >= 0) & (count < 100000)
    # over a month and a half only the slots of April..May have days in their window
    assert count[90:140][land[90:140]].max() > 8 and count[200:300][land[200:300]].max() == 0
    # the rank's loader gives the cells' columns, with the configured threshold
    cfg = _config(tmp, "DA_SSM", "x")
    from mpilda.grid import Grid
    from mpilda.parallel import Decomposition
    local = Decomposition.build(Grid.from_config(cfg.domain), cfg.domain.tile_size, 1).local(0)
    table = load_smap_rescaling(cfg, local)
    assert isinstance(table, SeasonalCycleOffset) and table.min_samples == 8
    assert table.obs_clim.shape == (365, local.n_cells) and table.robust()[100:130].any()


def test_a_da_ssm_run_assimilates_the_seasonally_rescaled_retrievals(twin):
    """DA_SSM over 05-01..05-04 with rescale = seasonal assimilates; with a threshold no slot meets,
    every retrieval that passes the other masks is rejected under no_cdf, none is passed unscaled."""
    tmp, _ = twin
    da = run(_config(tmp, "DA_SSM", "da", "2015-05-01", "2015-05-04", members=4), MPI.COMM_SELF)["assimilation"]
    assert da["smap"]["assimilated"] > 0, da
    strict = _config(tmp, "DA_SSM", "strict", "2015-05-01", "2015-05-04", members=4,
                     overrides=["obs.smap.min_cdf_samples=100000"])
    none = run(strict, MPI.COMM_SELF)["assimilation"]["smap"]
    assert none["assimilated"] == 0 and none["no_cdf"] >= da["smap"]["assimilated"], none
    assert none["available"] == da["smap"]["available"]
