"""No silent NaN in an analysis, and unreadable observation files (issue 17, item 4).

A tiny twin on the test window: a truth run of 2015-04-01..05-16, its synthetic observations, and a
VOD operator calibrated on 2015-04-01..05-06 (the climatology of a 31-day window reaches 05-13:
later days of the year have no fitted climatology, and the operator predicts NaN there). DA runs
start cold, with 4 members, over a few days.
"""

import datetime as dt
import logging
import shutil
from contextlib import contextmanager

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import ConfigError, config_from_text
from mpilda.errors import AnalysisError, InputError
from mpilda.experiment import OUTPUT_VARIABLES, Runner, run
from mpilda.grid import Grid
from mpilda.obs.masks import not_finite
from mpilda.obs.records import CellObservations, as_seconds
from mpilda.obs.sources import SensorReader
from mpilda.obs.synthetic import make_observations
from mpilda.obs.tables import calibrate_vod
from mpilda.parallel import Decomposition

from .conftest import tiny_twin_config, window_config

UTC = dt.timezone.utc


def _config(tmp, name, out, start="2015-04-01", end="2015-05-16", members=0):
    return tiny_twin_config(tmp, name, out, start, end, members, ["obs.lai.rescale=yes",
                                                                   "assimilation.climatology_start=2015-04-01",
                                                                   "assimilation.climatology_end=2015-05-06"])


def _da(tmp, out, name="DA_SSM+VOD", start="2015-05-03", end="2015-05-05"):
    return _config(tmp, name, out, start, end, members=4)


@pytest.fixture(scope="module")
def twin(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("guards")
    truth = _config(tmp, "truth", "truth")
    run(truth, MPI.COMM_SELF)
    make_observations(truth, MPI.COMM_SELF)
    calibrate_vod(_config(tmp, "OL", "ol"), MPI.COMM_SELF)
    return tmp


def _land(path, names):
    with h5py.File(path) as f:
        return {n: f[n][...].astype(np.float64) for n in names}


@contextmanager
def _warnings():
    """The messages of the warnings of the mpilda logger meanwhile."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: records.append(record.getMessage())
    logger = logging.getLogger("mpilda")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


# -- non-finite predictions ------------------------------------------------------------------

def test_not_finite_flags_value_prediction_innovation_and_error():
    value = np.array([0.2, np.nan, 0.2, 0.2, 0.2, 1e308])
    hx = np.full((3, 6), 0.25)
    hx[1, 2] = np.nan                    # one member's prediction
    hx[:, 5] = -1e308                    # finite value and predictions, infinite innovation
    error = np.array([0.01, 0.01, 0.01, np.inf, 0.01, 0.01])
    assert not_finite(value, hx, error).tolist() == [False, True, True, True, False, True]


def test_a_da_run_outside_the_vod_calibration_period_stays_finite(twin):
    """05-10..05-16: from 05-14 the VOD climatology has no value; those retrievals are rejected as
    invalid (before the fix they made the state NaN, which stopped the model with a balance error)."""
    summary = run(_da(twin, "outside", "DA_VOD", "2015-05-10", "2015-05-16"), MPI.COMM_SELF)
    out = twin / "outside"
    means = _land(out / "daily_mean.nc", [v.name for v in OUTPUT_VARIABLES])
    land = means["sm1"] < 1e30
    for name, values in means.items():
        assert np.isfinite(values[land]).all(), name
    d = _land(out / "diagnostics.nc", ["vod_available", "vod_assimilated", "vod_rejected_invalid",
                                       "vod_rejected_operator", "vod_rejected_bare"])
    counts = summary["assimilation"]["vod"]
    assert d["vod_rejected_invalid"][land].sum() == counts["invalid"] > 0
    per_day = {k: np.where(land, v, 0).sum(axis=(1, 2)) for k, v in d.items()}
    assert (per_day["vod_assimilated"][:4] > 0).all()
    # without a climatology every retrieval that passes the other masks is invalid
    assert (per_day["vod_assimilated"][4:] == 0).all()
    assert (per_day["vod_rejected_invalid"][4:] > 0).all()


def _runner(twin, out):
    cfg = _da(twin, out)
    runner = Runner(cfg, MPI.COMM_SELF)
    return runner, runner.initial_state(cfg.time.start), runner.assimilator


def _step_observations(assim, sensor, cells, t0):
    """Good retrievals at ``cells`` at t0 + 60 s, the only observations of the day."""
    n = cells.size
    obs = CellObservations(cells, np.full(n, t0 + 60), np.full(n, 0.3 if sensor == "smap" else 0.8),
                           np.ones(n, bool), np.ones(n, bool))
    assim.day_obs = {s: CellObservations.empty() for s in assim.sensors}
    assim.day_obs[sensor] = obs
    assim.obs_steps = {t0}


def test_an_observation_with_a_nan_prediction_is_rejected_as_invalid(twin, monkeypatch):
    runner, state, assim = _runner(twin, "unit_nan")
    usable = np.flatnonzero(~assim.vod_mask & ~assim.bare)
    cells = usable[:3]
    t0 = as_seconds(dt.datetime(2015, 5, 3, 1, tzinfo=UTC))
    _step_observations(assim, "vod", cells, t0)
    predict = assim._predict

    def nan_for_one_member(state, sensor, c, times, which):
        hx = predict(state, sensor, c, times, which)
        hx[2, c == cells[1]] = np.nan
        return hx

    monkeypatch.setattr(assim, "_predict", nan_for_one_member)
    rain = np.zeros(assim.local.n_cells)
    analysed = assim.analyse(state, dt.datetime.fromtimestamp(t0 + 900, UTC), rain, t0 // 900)
    assert analysed[cells].tolist() == [True, False, True]
    invalid = assim.counts.counts["vod"]["invalid"]
    assert invalid[cells].tolist() == [0, 1, 0] and invalid.sum() == 1
    assert assim.daily["vod_rejected_invalid"][cells].tolist() == [0.0, 1.0, 0.0]
    assert assim.counts.counts["vod"]["assimilated"][cells].tolist() == [1, 0, 1]
    assert np.isfinite(state.smc).all() and np.isfinite(state.lai).all()


def test_non_finite_increments_stop_the_run_naming_cell_time_and_sensor(twin):
    """A NaN in a member's forecast (here SM4, which SMAP's prediction does not see) makes the
    increments NaN: the analysis stops with an error, before the state is changed."""
    runner, state, assim = _runner(twin, "unit_dx")
    cells = np.flatnonzero(~assim.bare)[:2]
    t0 = as_seconds(dt.datetime(2015, 5, 3, 6, tzinfo=UTC))
    _step_observations(assim, "smap", cells, t0)
    state.smc[3, 1, cells[1]] = np.nan
    before = state.smc.copy()
    gid = int(assim.local.cell_ids[cells[1]])
    lat, lon = assim.local.lat[cells[1]], assim.local.lon[cells[1]]
    with pytest.raises(AnalysisError) as err:
        assim.analyse(state, dt.datetime.fromtimestamp(t0 + 900, UTC), np.zeros(assim.local.n_cells), t0 // 900)
    message = str(err.value)
    for part in (f"cell {gid} ", f"({lat:.3f}N, {lon:.3f}E)", "2015-05-03T06:00:00Z", "assimilating smap",
                 "increments of sm4"):
        assert part in message, (part, message)
    assert isinstance(err.value, InputError)          # a user error: one line, exit status 2, every rank ends
    assert np.array_equal(state.smc, before, equal_nan=True)


# -- unreadable observation files --------------------------------------------------------------

def _damaged_copy(twin, name):
    """A copy of the SMAP and VOD files with one SMAP granule of 05-04 (one with retrievals in the window)
    and the VOD raster of 05-04 truncated; their paths."""
    root = twin / name
    for s in ("smap", "vod"):
        shutil.copytree(twin / "world" / "obs" / s, root / s)
    cfg = config_from_text(_da(twin, name).to_ini(), overrides=[f"obs.smap.directory={root}/smap",
                                                              f"obs.vod.directory={root}/vod"])
    local = Decomposition.build(Grid.from_config(cfg.domain), cfg.domain.tile_size, 1).local(0)
    reader = SensorReader(cfg, "smap", local)
    day = dt.datetime(2015, 5, 4, tzinfo=UTC)
    granule = next(p for p in reader.files(day, day + dt.timedelta(days=1))
                   if p.name.split("_")[6].startswith("20150504") and reader.read(p).usable.any())
    raster = root / "vod" / "AMSRU_Mland_2015124D.tif"
    for path, keep in ((granule, 0.5), (raster, 0.7)):
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * keep)])
    return cfg, granule, raster


def test_an_unreadable_file_is_skipped_named_and_counted(twin):
    cfg, granule, raster = _damaged_copy(twin, "skip")
    with _warnings() as warned:
        summary = run(cfg, MPI.COMM_SELF)["assimilation"]
    assert summary["smap"]["unreadable_files"] == 1 and summary["vod"]["unreadable_files"] == 1
    for path in (granule, raster):
        assert sum(str(path) in w for w in warned) == 1, warned
    # counted on the file's day (05-04, the second), in every cell
    d = _land(cfg.output.directory / "diagnostics.nc", ["smap_unreadable_files", "vod_unreadable_files"])
    land = d["smap_unreadable_files"][0] < 1e30
    for k, v in d.items():
        assert (v[0][land] == 0).all() and (v[1][land] == 1).all(), k
    # skipping a file is the same as not having it
    granule.unlink()
    raster.unlink()
    without = config_from_text(cfg.to_ini(), overrides=[f"output.directory={twin}/without"])
    run(without, MPI.COMM_SELF)
    for file in ("daily_mean.nc", "daily_spread.nc"):
        with h5py.File(cfg.output.directory / file) as a, h5py.File(without.output.directory / file) as b:
            for v in OUTPUT_VARIABLES:
                assert a[v.name][...].tobytes() == b[v.name][...].tobytes(), (file, v.name)


def test_a_file_another_rank_cannot_read_is_skipped_on_every_rank(twin):
    """Each rank reads only its cells' part of a file, so a damaged file may fail on some ranks only:
    the ranks agree (one allgather a day) and all skip it; only rank 0 names it."""
    runner, _, assim = _runner(twin, "agree")
    day = dt.datetime(2015, 5, 4, tzinfo=UTC)
    assim.load_day(day)
    whole = len(assim.day_obs["smap"])
    granule = next(p for p in assim.readers["smap"].files(day, day + dt.timedelta(days=1))
                   if p.name.split("_")[6].startswith("20150504")
                   and len(assim.readers["smap"].read(p).between(day, day + dt.timedelta(days=1))))
    lost = len(assim.readers["smap"].read(granule).between(day, day + dt.timedelta(days=1)))

    class Rank1Of2:
        rank, size = 1, 2

        def allgather(self, items):
            return [[(("smap", str(granule)), f"{granule}: not a readable HDF5 file (truncated)")], items]

    assim.comm = Rank1Of2()
    assim.daily["smap_unreadable_files"][:] = 0.0
    with _warnings() as warned:
        assim.load_day(day)
    assert len(assim.day_obs["smap"]) == whole - lost and lost > 0
    assert (assim.daily["smap_unreadable_files"] == 1.0).all()
    assert warned == []                                   # rank 1 does not name it
    assert ("smap", str(granule)) not in assim.cache


def test_with_unreadable_stop_a_damaged_file_stops_the_run_naming_it(twin):
    cfg, granule, _ = _damaged_copy(twin, "stop")
    cfg = config_from_text(cfg.to_ini(), overrides=["assimilation.unreadable=stop"])
    with pytest.raises(InputError) as err:
        run(cfg, MPI.COMM_SELF)
    assert str(granule) in str(err.value) and "not a readable HDF5 file" in str(err.value)
    assert "[assimilation] unreadable = stop" in str(err.value)
    assert not (cfg.output.directory / "daily_mean.nc").exists()


def test_a_resumed_run_counts_a_skipped_file_once(twin):
    """The granule of 05-04 is in the files a resumed run reads on 05-05; it was counted before the
    checkpoint and is not counted again: the resumed run's diagnostics and summary are the whole run's."""
    cfg, _, _ = _damaged_copy(twin, "resume")
    text = cfg.to_ini().replace("end = 2015-05-05", "end = 2015-05-07").replace("checkpoint_days = 0",
                                                                                "checkpoint_days = 1")
    whole = config_from_text(text, overrides=[f"output.directory={twin}/resume_whole"])
    part = config_from_text(text)

    class Crash(Exception):
        pass

    class Crashing(Runner):
        def step(self, state, t, budget=None):
            if t.day == 5 and t.hour == 13:
                raise Crash()
            return super().step(state, t, budget)

    expected = run(whole, MPI.COMM_SELF)
    with pytest.raises(Crash):
        Crashing(part, MPI.COMM_SELF).run()
    resumed = run(part, MPI.COMM_SELF, resume=True)
    assert resumed == expected and expected["assimilation"]["smap"]["unreadable_files"] == 1
    with h5py.File(whole.output.directory / "diagnostics.nc") as a, \
            h5py.File(part.output.directory / "diagnostics.nc") as b:
        for n in ("smap_unreadable_files", "vod_unreadable_files", "smap_assimilated", "vod_innov_sum"):
            assert a[n][...].tobytes() == b[n][...].tobytes(), n


def test_unreadable_takes_skip_or_stop():
    assert config_from_text(window_config("2015-04-01", "2015-04-02")).assimilation.unreadable == "skip"
    with pytest.raises(ConfigError, match=r"\[assimilation\] unreadable = 'maybe': expected one of skip, stop"):
        config_from_text(window_config("2015-04-01", "2015-04-02", "[assimilation]\nunreadable = maybe\n"))
