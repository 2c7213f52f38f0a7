"""Spatially varying and adaptive observation errors, and thinning (issue 18, items 1-3).

Unit tests of the arithmetic (expected values from theory or an independent calculation), the config
rules, and, on a tiny twin (a truth run of 2015-04-01..05-06, its synthetic observations and a VOD
operator calibrated with every 3rd week held out), the Assimilator: the EnKF increments with R from a
map equal a single-cell Kalman gain computed here, the operator error, thinning over days, and the
checkpoint of the adaptive windows and the last assimilated days.
"""

import datetime as dt

import netCDF4
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import ConfigError, config_from_text
from mpilda.errors import InputError
from mpilda.experiment import Runner, run
from mpilda.grid import Grid
from mpilda.obs.adaptive import DesroziersWindow, desroziers_std
from mpilda.obs.error_models import operator_error_std, read_error_map
from mpilda.obs.masks import assimilated_days, retrieval_day, thinned
from mpilda.obs.records import CellObservations, as_seconds
from mpilda.obs.synthetic import make_observations
from mpilda.obs.tables import calibrate_vod

from .conftest import MINIMAL, tiny_twin_config

UTC = dt.timezone.utc


# -- thinning ------------------------------------------------------------------------------------

def _thin_sequence(days, k):
    """The days assimilated from one cell's daily retrievals ``days`` with thin_days = k."""
    last = np.array([np.nan])
    out = []
    for d in days:
        if not thinned(np.array([d]), last, k)[0]:
            out.append(d)
            last = assimilated_days(np.array([d]), np.array([0]), last)
    return out


@pytest.mark.parametrize("k, expected", [(1, list(range(10))), (2, [0, 2, 4, 6, 8]), (3, [0, 3, 6, 9]),
                                         (4, [0, 4, 8]), (10, [0]), (11, [0])])
def test_thinning_keeps_one_day_in_every_k(k, expected):
    assert _thin_sequence(range(10), k) == expected


def test_thinning_passes_the_retrievals_of_the_day_of_the_last_assimilation():
    # two overpasses a day (SMAP): both of day 0 pass, both of days 1 and 2 are thinned, day 3 passes
    day = np.array([0, 0, 1, 1, 2, 2, 3, 3], dtype=float)
    last = np.zeros(8)
    assert thinned(day, last, 3).tolist() == [False, False, True, True, True, True, False, False]
    assert not thinned(day, np.full(8, np.nan), 3).any()       # never assimilated: nothing thinned


def test_assimilated_days_keep_each_cells_latest_day():
    last = np.array([np.nan, 5.0, 7.0, np.nan])
    new = assimilated_days(np.array([6, 8, 3, 6]), np.array([1, 1, 2, 0]), last)
    assert new.tolist()[:3] == [6.0, 8.0, 7.0] and np.isnan(new[3])
    assert np.isnan(last[0])                                   # a new array


def test_retrieval_day_is_the_utc_day_number():
    t = np.array([0, 86399, 86400, as_seconds(dt.datetime(2015, 4, 2, 23, 59, tzinfo=UTC))])
    assert retrieval_day(t).tolist() == [0, 0, 1, (dt.date(2015, 4, 2) - dt.date(1970, 1, 1)).days]


# -- error models -------------------------------------------------------------------------------

def test_operator_error_is_the_held_out_rmse_floored_at_error_std():
    rmse = np.array([0.01, 0.03, 0.05, np.nan, 0.2])
    assert operator_error_std(rmse, 0.03).tolist() == [0.03, 0.03, 0.05, 0.03, 0.2]


def _write_map(path, lat, lon, values, name="error_std", fill=None):
    with netCDF4.Dataset(path, "w") as f:
        f.createDimension("lat", lat.size)
        f.createDimension("lon", lon.size)
        f.createVariable("lat", "f8", ("lat",))[:] = lat
        f.createVariable("lon", "f8", ("lon",))[:] = lon
        v = f.createVariable(name, "f8", ("lat", "lon"), fill_value=fill)
        v[:] = values
    return path


def test_error_map_is_read_at_the_cells(tmp_path):
    lat = np.array([44.125, 44.375, 44.625])
    lon = np.array([4.125, 4.375])
    values = 0.01 + 0.001 * np.arange(6).reshape(3, 2)
    path = _write_map(tmp_path / "e.nc", lat, lon, values)
    got = read_error_map(path, np.array([44.625, 44.125, 44.375]), np.array([4.125, 4.375, 4.375]), "m3 m-3", "k")
    assert got.tolist() == [values[2, 0], values[0, 1], values[1, 1]]


@pytest.mark.parametrize("bad, shown", [(0.0, "error_std = 0 "), (-0.02, "error_std = -0.02 "),
                                        (np.nan, "error_std = nan"), (np.inf, "error_std = inf"),
                                        (-999.0, "missing (fill value)")])
def test_error_map_rejects_missing_non_positive_and_non_finite_values_naming_them(tmp_path, bad, shown):
    lat = np.array([44.125, 44.375])
    lon = np.array([4.125, 4.375])
    values = np.full((2, 2), 0.02)
    values[1, 0] = bad
    path = _write_map(tmp_path / "e.nc", lat, lon, values, fill=-999.0)
    with pytest.raises(InputError) as err:
        read_error_map(path, np.array([44.125, 44.375]), np.array([4.375, 4.125]), "m3 m-3",
                       "[obs.smap] error = map, error_file")
    message = str(err.value)
    for part in (str(path), shown, "lat 44.375, lon 4.125", "positive, finite", "[obs.smap] error = map"):
        assert part in message, (part, message)
    # a point that avoids the bad value reads fine
    assert read_error_map(path, np.array([44.125]), np.array([4.125]), "1", "k").tolist() == [0.02]


def test_error_map_without_the_variable_names_file_and_variable(tmp_path):
    path = _write_map(tmp_path / "e.nc", np.array([44.125]), np.array([4.125]), np.ones((1, 1)), name="sigma")
    with pytest.raises(InputError, match="no variable 'error_std'"):
        read_error_map(path, np.array([44.125]), np.array([4.125]), "1", "k")


def test_enkf_with_per_cell_r_matches_a_scalar_kalman_gain():
    """Two cells, one observation each, R from a map (different per cell): the increments of the
    batched EnKF equal K (y + v - HX) with K_i = cov(x_i, HX) / (var HX + R) computed cell by cell."""
    from mpilda.enkf import analysis_increments

    rng = np.random.default_rng(7)
    n = 12
    x = rng.normal(0.3, 0.02, (2, 5, n))
    hx = x[:, :1, :].copy()                                    # H = SM1
    y = np.array([[0.33], [0.27]])
    r_std = np.array([[0.01], [0.04]])                          # the map's values at the two cells
    v = rng.normal(0.0, 1.0, (2, 1, n)) * r_std[..., None]
    impact = np.zeros((2, 5, 1))
    impact[:, :4] = 1.0
    dx = analysis_increments(x, hx, y, r_std ** 2, np.ones((2, 1), bool), impact, v)
    for c in range(2):
        h = hx[c, 0]
        var = np.sum((h - h.mean()) ** 2) / (n - 1)
        for i in range(5):
            cov = np.sum((x[c, i] - x[c, i].mean()) * (h - h.mean())) / (n - 1)
            gain = cov / (var + r_std[c, 0] ** 2) if i < 4 else 0.0
            assert np.allclose(dx[c, i], gain * (y[c, 0] + v[c, 0] - h), rtol=1e-12, atol=1e-15)


# -- the Desroziers estimator --------------------------------------------------------------------

def test_desroziers_std_is_the_bounded_window_mean_or_the_prior():
    prior = np.array([0.1, 0.1, 0.1, 0.1, 0.2])
    s = np.array([0.05, 1.0, -0.3, 0.02, 0.2])
    n = np.array([10.0, 10.0, 10.0, 9.0, 5.0])
    got = desroziers_std(s, n, prior, 10, (0.25, 4.0))
    # 0.005 inside [0.0025, 0.04]; 0.1 above: 0.04; negative: 0.0025; too few: the prior; 0.04/... too few
    expected = [np.sqrt(0.005), np.sqrt(0.04), np.sqrt(0.0025), 0.1, 0.2]
    assert np.allclose(got, expected, rtol=1e-15)
    assert got[3] == 0.1 and got[4] == 0.2                      # the prior itself, bit for bit


def test_window_holds_the_last_adaptive_days_days():
    w = DesroziersWindow(np.array([1.0]), days=3, min_count=1, bounds=(1e-6, 1e6))
    for day, value in zip(range(100, 105), (1.0, 2.0, 3.0, 4.0, 5.0)):
        w.push(day, np.array([value]), np.array([1.0]))
    assert w.std[0] ** 2 == pytest.approx((3.0 + 4.0 + 5.0) / 3, rel=1e-15)
    w.push(106, np.array([9.0]), np.array([2.0]))                # day 105 missing: enters as empty
    assert w.std[0] ** 2 == pytest.approx((5.0 + 9.0) / 3, rel=1e-15)
    w.push(120, np.array([6.0]), np.array([3.0]))                # a long gap: only the new day
    assert w.std[0] ** 2 == pytest.approx(2.0, rel=1e-15)


def test_window_from_a_checkpoint_continues_bit_identically():
    rng = np.random.default_rng(3)
    prior = rng.uniform(0.01, 0.05, 20)
    a = DesroziersWindow(prior, days=5, min_count=3, bounds=(0.25, 4.0))
    for day in range(12):
        a.push(day, rng.normal(0.001, 0.001, 20), rng.integers(0, 3, 20).astype(float))
    b = DesroziersWindow(prior, days=5, min_count=3, bounds=(0.25, 4.0))
    b.load({k: v.copy() for k, v in a.arrays("w").items()}, "w")
    assert a.std.tobytes() == b.std.tobytes()
    s, n = rng.normal(0.001, 0.001, 20), rng.integers(0, 3, 20).astype(float)
    a.push(12, s, n)
    b.push(12, s, n)
    assert a.std.tobytes() == b.std.tobytes()
    # the estimate of each cell depends on its own column only (rank-count independent)
    c = DesroziersWindow(prior[5:9], days=5, min_count=3, bounds=(0.25, 4.0))
    c.load({k: v[..., 5:9] for k, v in a.arrays("w").items()}, "w")
    assert c.std.tobytes() == a.std[5:9].tobytes()
    with pytest.raises(InputError, match="holds 5 days; this run's adaptive_days is 6"):
        DesroziersWindow(prior, days=6, min_count=3, bounds=(0.25, 4.0)).load(a.arrays("w"), "w")


def test_desroziers_mean_estimates_r_with_the_optimal_gain():
    """Scalar linear Gaussian analysis with background error variance B and the true R in the gain:
    (O-A)(O-F) = R/(B+R) d^2 with d ~ N(0, B+R), so its mean is R and its std R sqrt(2). The window
    mean of n products is within 4 standard errors R sqrt(2/n) of R."""
    rng = np.random.default_rng(2024)
    b, r, n = 0.8, 0.3, 4000
    d = rng.normal(0.0, np.sqrt(b), n) * -1 + rng.normal(0.0, np.sqrt(r), n)    # O-F = eps_o - eps_b
    oma = d - b / (b + r) * d
    w = DesroziersWindow(np.array([np.sqrt(r * 3)]), days=1, min_count=1, bounds=(1e-6, 1e6))
    w.push(0, np.array([np.sum(oma * d)]), np.array([float(n)]))
    assert abs(w.std[0] ** 2 - r) < 4 * r * np.sqrt(2.0 / n)


def test_adaptive_r_converges_to_the_true_r_from_a_wrong_prior():
    """2000 independent cells, one retrieval a day, background error variance B = 1 and true R = 0.5;
    the filter starts from R0 = 1.5 and uses the window's estimate for the next day's gain
    K = B / (B + R). In expectation the Desroziers step is the map f(R) = R (B + R_true) / (B + R),
    whose fixed point is R_true (slope f' = B / (B + R_true) = 2/3 there, so it converges). The
    estimate of a cell fluctuates (a 200-day window), and f is concave (f'' = -2 B (B + R_true) /
    (B + R_true)^3): the cells' mean R sits below R_true by about -f'' var(R) / (2 (1 - f')), with
    var(R) the cells' variance of R at the end (about -2 % here). The mean over the cells is that
    within 1 % of R_true (its standard error: 0.4 %)."""
    rng = np.random.default_rng(11)
    cells, b, r_true = 2000, 1.0, 0.5
    w = DesroziersWindow(np.full(cells, np.sqrt(1.5)), days=200, min_count=20, bounds=(0.1, 4.0))
    for day in range(1500):
        r = w.std ** 2
        d = rng.normal(0.0, np.sqrt(r_true), cells) - rng.normal(0.0, np.sqrt(b), cells)
        oma = d - b / (b + r) * d
        w.push(day, oma * d, np.ones(cells))
    r = w.std ** 2
    slope, curvature = b / (b + r_true), -2 * b * (b + r_true) / (b + r_true) ** 3
    expected = r_true + 0.5 * curvature * np.var(r) / (1 - slope)
    assert abs(np.mean(r) - expected) < 0.01 * r_true, (np.mean(r), expected)
    assert abs(np.mean(r) / r_true - 1.0) < 0.04
    # and the bounds hold everywhere
    assert (r >= 0.1 * 1.5 * (1 - 1e-15)).all() and (r <= 4.0 * 1.5 * (1 + 1e-15)).all()


def test_adaptive_r_stays_within_its_bounds():
    prior = np.full(3, 0.02)
    w = DesroziersWindow(prior, days=2, min_count=1, bounds=(0.5, 2.0))
    w.push(0, np.array([1.0, -1.0, 0.0004 * 3]), np.array([3.0, 3.0, 3.0]))
    assert np.allclose(w.std ** 2, [2.0 * 0.0004, 0.5 * 0.0004, 0.0004], rtol=1e-14)


# -- config --------------------------------------------------------------------------------------

@pytest.mark.parametrize("section, key, value, part", [
    ("obs.smap", "error", "operator", "[obs.vod] only"),
    ("obs.lai", "error", "operator", "[obs.vod] only"),
    ("obs.vod", "error", "maps", "did you mean 'map'"),
    ("obs.lai", "adaptive", "yes", "one of no, desroziers"),
    ("obs.vod", "adaptive_bounds", "2, 4", "0 < lower <= 1 <= upper"),
    ("obs.vod", "adaptive_bounds", "0.5", "2 comma-separated"),
    ("obs.smap", "adaptive_days", "0", "a value in [1, 3660]"),
    ("obs.smap", "thin_days", "0", "a value in [1, 366]"),
    ("obs.vod", "thin_days", "2.5", "an integer"),
])
def test_config_errors_name_key_and_value(section, key, value, part):
    with pytest.raises(ConfigError) as err:
        config_from_text(MINIMAL + f"[{section}]\n{key} = {value}\n")
    message = str(err.value)
    assert f"[{section}] {key} = '" in message and part in message, message


def test_config_map_needs_an_error_file_and_defaults_are_the_papers():
    with pytest.raises(ConfigError, match=r"\[obs.smap\] error_file.*expected a netCDF map"):
        config_from_text(MINIMAL + "[obs.smap]\nerror = map\n")
    cfg = config_from_text(MINIMAL)
    for s in ("smap", "lai", "vod"):
        c = getattr(cfg, f"obs_{s}")
        assert (c.error, c.adaptive, c.thin_days, c.adaptive_bounds) == ("constant", "no", 1, (0.25, 4.0))
    again = config_from_text(cfg.to_ini())
    assert again.obs_vod == cfg.obs_vod


# -- the Assimilator on a tiny twin --------------------------------------------------------------

def _config(tmp, name, out, start="2015-04-01", end="2015-05-06", members=0, overrides=()):
    return tiny_twin_config(tmp, name, out, start, end, members, ["obs.vod.holdout_every=3", *overrides])


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("obs_errors")
    truth = _config(tmp, "truth", "truth")
    run(truth, MPI.COMM_SELF)
    make_observations(truth, MPI.COMM_SELF)
    calibrate_vod(_config(tmp, "OL", "ol"), MPI.COMM_SELF)
    grid = Grid.from_config(truth.domain)
    lat2, lon2 = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    # 0.01 .. 0.06 m3 m-3, different in every cell
    _write_map(tmp / "smap_error.nc", grid.lat, grid.lon, 0.01 + 0.02 * (lat2 - grid.lat.min())
               + 0.01 * (lon2 - grid.lon.min()))
    return tmp


def _runner(twin, out, overrides):
    cfg = _config(twin, "DA_SSM+VOD", out, "2015-04-15", "2015-04-18", members=4, overrides=overrides)
    runner = Runner(cfg, MPI.COMM_SELF)
    return runner, runner.initial_state(cfg.time.start), runner.assimilator


def _observations(assim, sensor, cells, t0, value):
    n = cells.size
    obs = CellObservations(cells, np.full(n, t0 + 60), np.full(n, value), np.ones(n, bool), np.ones(n, bool))
    assim.day_obs = {s: CellObservations.empty() for s in assim.sensors}
    assim.day_obs[sensor] = obs
    assim.obs_steps = {t0}


def test_smap_error_map_gives_the_r_of_the_analysis(twin):
    """error = map: the members' SM1..SM4 increments of an analysis are those of a scalar Kalman gain
    with the map's R at each cell (computed here from the forecast ensemble), and R is recorded."""
    from mpilda.enkf import observation_perturbations

    runner, state, assim = _runner(twin, "map", ["obs.smap.error=map", f"obs.smap.error_file={twin}/smap_error.nc"])
    with netCDF4.Dataset(twin / "smap_error.nc") as f:
        table = f["error_std"][...]
    grid = Grid.from_config(runner.cfg.domain)
    rows, cols = grid.rows_cols(assim.local.cell_ids)
    assert assim.error["smap"].tolist() == table[rows, cols].tolist()
    cells = np.flatnonzero(~assim.bare)[:3]
    t0 = as_seconds(dt.datetime(2015, 4, 15, 6, tzinfo=UTC))
    n = assim.n
    # the cold start gives identical members: spread them (correlated over the layers) for a gain
    rng = np.random.default_rng(5)
    common = rng.normal(0.0, 0.01, (n, assim.local.n_cells))
    for i, f in enumerate((1.0, 0.6, 0.3, 0.1)):
        noise = f * common + rng.normal(0.0, 0.002, (n, assim.local.n_cells))
        state.smc[i, :n] += noise
        state.sh2o[i, :n] += noise                                # liquid water: no ice appears
    before = state.smc[:, :n][:, :, cells].copy()                # (4, N, 3)
    y = before[0].mean(axis=0) + np.array([0.004, -0.003, 0.002])  # small increments: no bound is reached
    _observations(assim, "smap", cells, t0, y)
    r = table[rows, cols][cells]
    v = observation_perturbations(runner.cfg.random.seed, assim.local.cell_ids[cells], t0 // 900, 1, n,
                                  r[:, None])[:, 0, :]            # (3, N)
    assim.analyse(state, dt.datetime.fromtimestamp(t0 + 900, UTC), np.zeros(assim.local.n_cells), t0 // 900)
    for j in range(cells.size):
        h = before[0, :, j]
        var = np.sum((h - h.mean()) ** 2) / (n - 1)
        for i in range(4):
            x = before[i, :, j]
            gain = np.sum((x - x.mean()) * (h - h.mean())) / (n - 1) / (var + r[j] ** 2)
            expected = gain * (y[j] + v[j] - h)
            assert np.allclose(state.smc[i, :n, cells[j]] - x, expected, rtol=1e-9, atol=1e-13), (i, j)
    assert np.allclose(assim.daily["smap_r_var_sum"][cells], r ** 2, rtol=1e-15)


def test_vod_operator_error_is_the_held_out_rmse_floored_at_error_std(twin):
    runner, state, assim = _runner(twin, "operator", ["obs.vod.error=operator", "obs.vod.error_std=0.02"])
    with netCDF4.Dataset(twin / "tables" / "vod_calibration.nc") as f:
        rmse = np.ma.filled(f["rmse"][...].astype(np.float64), np.nan)
    grid = Grid.from_config(runner.cfg.domain)
    rows, cols = grid.rows_cols(assim.local.cell_ids)
    rmse = rmse[rows, cols]
    assert np.isfinite(rmse).sum() > 10, "the calibration should evaluate most cells"
    expected = np.where(np.isfinite(rmse), np.maximum(rmse, 0.02), 0.02)
    assert assim.error["vod"].tolist() == expected.tolist()
    assert (rmse[np.isfinite(rmse)] > 0.02).any() and (assim.error["vod"] >= 0.02).all()


def test_thinning_and_adaptive_state_in_the_assimilator_and_its_checkpoint(twin):
    """thin_days = 3: a cell's SMAP retrievals of the next two days are thinned (counted), the third
    day's pass; adaptive = desroziers: the window takes each day's (O-A)(O-F) when the day's sums are
    taken; arrays()/load() carry both."""
    extra = ["obs.smap.thin_days=3", "obs.smap.adaptive=desroziers", "obs.smap.adaptive_days=4",
             "obs.smap.adaptive_min_count=1"]
    runner, state, assim = _runner(twin, "thin", extra)
    cells = np.flatnonzero(~assim.bare)[:2]
    rain = np.zeros(assim.local.n_cells)
    oma = []
    for k, day in enumerate((15, 16, 17, 18)):
        start = dt.datetime(2015, 4, day, tzinfo=UTC)
        assim.day_start = int(start.timestamp())
        t0 = as_seconds(start + dt.timedelta(hours=6))
        _observations(assim, "smap", cells, t0, 0.3)
        analysed = assim.analyse(state, dt.datetime.fromtimestamp(t0 + 900, UTC), rain, t0 // 900)
        assert analysed[cells].all() == (day in (15, 18)), day
        daily = assim.take_daily()
        assert daily["smap_rejected_thinned"][cells].tolist() == ([0.0, 0.0] if day in (15, 18) else [1.0, 1.0])
        oma.append(daily["smap_oma_omb_sum"][cells].copy())
        if day == 15:
            # one retrieval in the window: R = its (O-A)(O-F), bounded by 0.25 .. 4 x 0.0125^2
            expected = np.sqrt(np.clip(oma[0], 0.25 * 0.0125 ** 2, 4 * 0.0125 ** 2))
            assert np.allclose(assim.error_std("smap")[cells], expected, rtol=1e-14)
    assert assim.counts.counts["smap"]["thinned"][cells].tolist() == [2, 2]
    assert assim.last_day["smap"][cells].tolist() == [(dt.date(2015, 4, 18) - dt.date(1970, 1, 1)).days] * 2
    # the window now holds days 15..18 with two retrievals
    expected = np.sqrt(np.clip((oma[0] + oma[3]) / 2, 0.25 * 0.0125 ** 2, 4 * 0.0125 ** 2))
    assert np.allclose(assim.error_std("smap")[cells], expected, rtol=1e-14)
    arrays = assim.arrays()
    assert arrays["adaptive_smap_oma_omb"].shape == (4, assim.local.n_cells)
    _, _, other = _runner(twin, "thin2", extra)
    other.load({k: np.array(v) for k, v in arrays.items()})
    assert other.error_std("smap").tobytes() == assim.error_std("smap").tobytes()
    assert np.array_equal(other.last_day["smap"], assim.last_day["smap"], equal_nan=True)
