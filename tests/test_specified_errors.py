"""The twin with correctly specified errors ([synthetic] errors = specified).

Expected values come from the definitions: the model forcing is the truth
forcing; the truth is one more realisation of the ensemble perturbations (the
lognormal multipliers' mean 1 and configured std, independence from the
members); the observations are the truth plus noise of exactly the [obs.*]
error_std.
"""

import datetime as dt

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import config_from_text
from mpilda.experiment import TRUTH_MEMBER, run
from mpilda.forcing.synthetic import WeatherGenerator
from mpilda.obs.synthetic import make_observations
from mpilda.perturb import Perturber, lognormal_parameters
from mpilda.world import model_forcing_errors

from .conftest import window_config


def _config(tmp_path, name="truth", errors="specified", extra=""):
    return config_from_text(window_config("2015-05-01", "2015-07-01", f"""
[experiment]
name = {name}
[ensemble]
members = 0
[output]
directory = {tmp_path}/{name}-{errors}
overpass = yes
checkpoint_days = 0
[synthetic]
directory = {tmp_path}/world-{errors}
truth_directory = {tmp_path}/truth-{errors}
errors = {errors}
lai_pixel_size = 0.0625
""" + extra))


def test_specified_world_has_no_model_forcing_errors(tmp_path):
    errors = model_forcing_errors(_config(tmp_path))
    assert errors == dict(precip_bias_std=0.0, radiation_bias_std=0.0, weather_error=0.0)
    gen = WeatherGenerator(5, np.array([44.0, 51.0]), np.array([2.0, 10.0]), **errors)
    truth, model = gen.hourly(1_000_000, 48)
    for k in truth:
        assert np.array_equal(truth[k], model[k]), k
    realistic = model_forcing_errors(_config(tmp_path, errors="realistic"))
    assert realistic["weather_error"] > 0 and realistic["precip_bias_std"] > 0


def test_the_perturbed_truth_is_one_more_independent_member(tmp_path):
    cfg = _config(tmp_path)
    s = cfg.perturbations
    cells = np.arange(20000) * 7
    truth = Perturber(s, 3, cells, 1, first_member=TRUTH_MEMBER, control=False)
    ensemble = Perturber(s, 3, cells, 24)
    f = {"swdown": np.full(cells.size, 400.0), "lwdown": np.full(cells.size, 300.0),
         "rainf": np.full(cells.size, 1e-4), "snowf": np.zeros(cells.size), "tair": np.full(cells.size, 290.0)}
    t, e = truth.forcing(f, 86400 * 1000), ensemble.forcing(f, 86400 * 1000)
    assert t["rainf"].shape == (1, cells.size) and e["rainf"].shape == (25, cells.size)
    assert np.array_equal(t["tair"], f["tair"])
    p = t["rainf"][0] / 1e-4
    # a lone member is not centred on the ensemble: mean 1 and std 0.5 of the multiplier only by sampling
    n = cells.size
    assert abs(p.mean() - 1.0) < 4 * s.precip_std / np.sqrt(n)
    # the sample std of the cut lognormal scatters by ~0.004 between seeds (n = 20,000): 4 of that
    assert abs(p.std() - s.precip_std) < 0.015
    mu, sig = lognormal_parameters(s.precip_std, s.truncation)
    assert abs(np.log(p).mean() - mu) < 4 * sig / np.sqrt(n)
    # independent of every ensemble member: |r| within 4 standard errors of zero
    for m in range(24):
        r = np.corrcoef(np.log(p), np.log(e["rainf"][m] / 1e-4))[0, 1]
        assert abs(r) < 4 / np.sqrt(n), (m, r)
    # the state perturbations too: one member, the configured LAI std
    d = truth.state_perturbations(77)
    assert d.shape == (5, 1, n)
    assert abs(d[4].std() - s.lai_std) < 0.05 * s.lai_std


@pytest.fixture(scope="module")
def truths(tmp_path_factory):
    """A month's truth run on the test window with specified and with realistic errors."""
    tmp = tmp_path_factory.mktemp("specified")
    out = {}
    for errors in ("specified", "realistic"):
        out[errors] = run(_config(tmp, errors=errors), MPI.COMM_SELF)
    return tmp, out


def test_the_specified_truth_is_perturbed_and_conserves_water(truths):
    tmp, summaries = truths
    s = summaries["specified"]
    assert abs(s["residual_mm"]) < 1e-9
    # the state perturbations add or remove water: "increments" are not zero
    assert s["increments_mm"] != 0.0
    assert summaries["realistic"]["increments_mm"] == 0.0
    with h5py.File(tmp / "truth-specified" / "daily_mean.nc") as a, \
            h5py.File(tmp / "truth-realistic" / "daily_mean.nc") as b:
        x, y = a["sm1"][...], b["sm1"][...]
    land = x < 1e30
    assert np.abs(x[land] - y[land]).max() > 1e-3


def test_specified_observations_carry_exactly_the_filters_errors(truths):
    tmp, _ = truths
    cfg = _config(tmp)
    make_observations(cfg, MPI.COMM_SELF)
    from mpilda.grid import Grid
    from mpilda.obs.cgls import LaiReader, find_lai_files, parse_lai_name
    from mpilda.obs.smap import SmapReader, find_smap_granules

    start = dt.datetime(2015, 5, 1, tzinfo=dt.timezone.utc)
    end = dt.datetime(2015, 7, 1, tzinfo=dt.timezone.utc)
    grid = Grid.from_config(cfg.domain)
    ids = grid.land_ids
    rows, cols = grid.rows_cols(ids)
    lat, lon = grid.cell_lat_lon(ids)
    with h5py.File(tmp / "truth-specified" / "overpass.nc") as f:
        sm = {h: f[f"sm1_{h}"][...][:, rows, cols].astype(float) for h in ("0600", "1800")}
        lai = f["lai_1000"][...][:, rows, cols].astype(float)
    # SMAP: a model cell's retrieval - the mean truth of the model cells of its EASE cell = noise of std
    # error_std (no bias)
    reader = SmapReader(lat, lon)
    key = reader.row * 10000 + reader.col
    groups, member = np.unique(key, return_inverse=True)
    count = np.bincount(member)
    diffs = []
    for path in find_smap_granules(cfg.obs_directory("smap"), start, end):
        o = reader.read(path)
        local = o.time + lon[o.cell] / 15.0 * 3600.0                 # local solar seconds
        day = ((local - start.timestamp()) // 86400).astype(int)
        hour = (local % 86400) / 3600.0
        for tag, hh in (("0600", 6.0), ("1800", 18.0)):
            pick = (np.abs(hour - hh) < 1.0) & (day >= 0) & (day < sm[tag].shape[0])
            if not pick.any():
                continue
            ease_mean = np.array([np.bincount(member, sm[tag][d], groups.size) / count for d in day[pick]])
            diffs.append(o.value[pick] - ease_mean[np.arange(pick.sum()), member[o.cell[pick]]])
    diffs = np.concatenate(diffs)
    assert diffs.size > 200
    sigma = cfg.obs_smap.error_std
    # a model cell shares its EASE cell's retrieval: the independent draws are fewer than the entries
    n_indep = diffs.size / count.mean()
    assert abs(diffs.mean()) < 4 * sigma / np.sqrt(n_indep), diffs.mean()
    # the sampling std of a std is sigma / sqrt(2 n)
    assert abs(diffs.std() - sigma) < 4 * sigma / np.sqrt(2 * n_indep), diffs.std()
    # LAI: the dekad file's cell means - the truth at 10:00 of that day = noise of std error_std
    files = find_lai_files(cfg.obs_directory("lai"), start, end)
    assert len(files) == 6
    lai_reader = LaiReader(lat, lon, grid.resolution, cfg.obs_lai.min_valid_fraction)
    d_lai = []
    for path in files:
        day = (parse_lai_name(path)[0] - start.date()).days
        o = lai_reader.read(path, cfg.obs_lai.local_hour)
        truth = lai[day][o.cell]
        ok = np.isfinite(o.value) & o.quality & (truth > 0.3)
        d_lai.append(o.value[ok] - truth[ok])
    d_lai = np.concatenate(d_lai)
    assert d_lai.size > 50
    # the files' digital numbers are LAI x 30 rounded: uniform quantisation adds (1/30)^2 / 12 of variance
    expected = np.sqrt(cfg.obs_lai.error_std ** 2 + (1 / 30) ** 2 / 12)
    assert abs(d_lai.mean()) < 4 * expected / np.sqrt(d_lai.size)
    assert abs(d_lai.std() - expected) < 4 * expected / np.sqrt(2 * d_lai.size)


def test_the_vod_operator_is_fitted_to_the_states_of_the_calibration_run(truths):
    """[obs.vod] calibration_directory: the operator comes from that run's LAI and RZSM, exactly as if
    it were the open loop; the open loop still sets the days."""
    from mpilda.obs.tables import calibrate_vod

    tmp, _ = truths
    cfg = _config(tmp)
    if not any(cfg.obs_directory("vod").glob("*")):
        make_observations(cfg, MPI.COMM_SELF)
    for name, extra in (
            ("named", f"[assimilation]\nol_directory = {tmp}/truth-realistic\ntables_directory = {tmp}/t-named\n"
                      f"[obs.vod]\ncalibration_directory = {tmp}/truth-specified\n"),
            ("as_ol", f"[assimilation]\nol_directory = {tmp}/truth-specified\ntables_directory = {tmp}/t-as_ol\n"),
            ("other", f"[assimilation]\nol_directory = {tmp}/truth-realistic\ntables_directory = {tmp}/t-other\n")):
        calibrate_vod(_config(tmp, extra=extra), MPI.COMM_SELF)
    fields = ("alpha", "beta0", "beta1", "beta2", "beta3", "clim_lai", "clim_rzsm", "rmse")
    def table(name):
        return h5py.File(tmp / f"t-{name}" / "vod_calibration.nc")
    with table("named") as a, table("as_ol") as b, table("other") as c:
        for n in fields:
            assert a[n][...].tobytes() == b[n][...].tobytes(), n
        assert a["clim_rzsm"][...].tobytes() != c["clim_rzsm"][...].tobytes()


def test_without_rescaling_a_da_run_needs_no_tables(truths):
    """[obs.smap] / [obs.lai] rescale = no: the retrievals are assimilated as they are: no CDF or LAI
    table is read (the tables directory is empty) and none is rejected for lack of one."""
    tmp, _ = truths
    cfg = _config(tmp)
    if not any(cfg.obs_directory("smap").glob("*")):
        make_observations(cfg, MPI.COMM_SELF)
    (tmp / "no-tables").mkdir(exist_ok=True)
    text = f"""
[assimilation]
ol_directory = {tmp}/truth-specified
tables_directory = {tmp}/no-tables
[obs.smap]
rescale = no
[obs.lai]
rescale = no
"""
    da = _config(tmp, name="DA_SSM+LAI", extra=text)
    da = config_from_text(da.to_ini(), overrides=["ensemble.members=6", "time.end=2015-06-01"])
    summary = run(da, MPI.COMM_SELF)["assimilation"]
    for sensor in ("smap", "lai"):
        assert summary[sensor]["assimilated"] > 0, summary
        assert summary[sensor]["no_cdf"] == 0, summary


def test_observation_files_come_from_one_listing_of_each_directory(truths, monkeypatch):
    """SensorReader lists a sensor's directory once and finds, for any day, the files the product's
    finder finds in the whole directory."""
    import pathlib

    from mpilda.grid import Grid
    from mpilda.obs.cgls import find_lai_files
    from mpilda.obs.smap import find_smap_granules
    from mpilda.obs.sources import SensorReader
    from mpilda.obs.vod import find_vod_files
    from mpilda.parallel import Decomposition

    tmp, _ = truths
    cfg = _config(tmp)
    if not any(cfg.obs_directory("smap").glob("*")):
        make_observations(cfg, MPI.COMM_SELF)
    local = Decomposition.build(Grid.from_config(cfg.domain), cfg.domain.tile_size, 1).local(0)
    finders = {"smap": find_smap_granules, "lai": find_lai_files,
               "vod": lambda d, a, b: find_vod_files(d, a, b, direction="D")}
    days = [dt.datetime(2015, 4, 28, tzinfo=dt.timezone.utc) + dt.timedelta(days=k) for k in range(70)]
    for sensor, find in finders.items():
        reader = SensorReader(cfg, sensor, local)
        listings = []
        real = pathlib.Path.iterdir
        monkeypatch.setattr(pathlib.Path, "iterdir", lambda self: listings.append(self) or real(self))
        mine = [reader.files(d, d + dt.timedelta(days=1)) for d in days]
        monkeypatch.setattr(pathlib.Path, "iterdir", real)
        assert listings == [cfg.obs_directory(sensor)], (sensor, listings)
        theirs = [find(cfg.obs_directory(sensor), d, d + dt.timedelta(days=1)) for d in days]
        assert mine == theirs, sensor
        assert sum(map(len, mine)) > 0, sensor


def test_a_vod_retrieval_carries_one_noise_draw(tmp_path):
    """A synthetic VOD retrieval is the mean VOD of the model cells in its EASE 25 km pixel plus ONE
    draw of noise (std error_std), not the mean of the cells' noises: with a steady truth its time
    std is error_std whether the pixel holds one model cell or two (43.375 and 43.625 N share EASE
    row 90 at 1.125 E)."""
    from mpilda.obs import ease
    from mpilda.obs.synthetic import _VodMaker, true_vod_coefficients
    from mpilda.obs.vod import VodReader, find_vod_files

    lat, lon = np.array([43.375, 43.625, 44.125]), np.full(3, 1.125)
    row, col = ease.rowcol("M25", lat, lon)
    assert (row[0], col[0]) == (row[1], col[1]) != (row[2], col[2])

    class SteadyTruth:
        def day(self, index, names):
            values = {"lai_0130": 2.0, "rzsm_0130": 0.25, "tsoil1_0600": 290.0, "swe_0600": 0.0}
            return {n: np.full(3, values[n]) for n in names}

    cfg = _config(tmp_path)
    clim = np.full((365, 3), 2.0), np.full((365, 3), 0.25)
    maker = _VodMaker(cfg, lat, lon, 9, true_vod_coefficients(9, np.arange(3)), *clim)
    start = dt.date(2015, 1, 1)
    days = 400
    for i in range(days):
        maker.write(tmp_path, start + dt.timedelta(days=i), i, SteadyTruth())
    reader = VodReader(lat, lon)
    values = np.full((days, 3), np.nan)
    t0 = dt.datetime(2015, 1, 1, tzinfo=dt.timezone.utc)
    for path in find_vod_files(tmp_path, t0, t0 + dt.timedelta(days=days)):
        o = reader.read(path, require_qa=False)
        day = (int(o.time[0]) - int(t0.timestamp())) // 86400
        values[day, o.cell] = o.value
    sigma = cfg.obs_vod.error_std
    for cells in ((0, 1), (2,)):
        v = values[:, cells[0]]
        v = v[np.isfinite(v)]
        assert v.size > 300
        # sampling std of a std: sigma / sqrt(2 n); the noise of a pixel of two cells averaged over both
        # would be sigma / sqrt(2)
        assert abs(v.std() - sigma) < 4 * sigma / np.sqrt(2 * v.size), (cells, v.std())
