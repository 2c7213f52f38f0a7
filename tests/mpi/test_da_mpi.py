"""A small twin experiment: truth, OL, synthetic observations, tables, and DA runs identical on any rank count."""

import datetime
import shutil

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.assimilation import diagnostic_variables
from mpilda.config import config_from_text
from mpilda.experiment import OUTPUT_VARIABLES, run
from mpilda.obs.synthetic import make_observations
from mpilda.obs.tables import calibrate_vod, make_rescaling

from ..conftest import WINDOW
from .conftest import assert_all, on_root, shared_directory

CONFIG = WINDOW + """
[time]
start = 2015-03-01
end = 2015-05-01
[ensemble]
members = {members}
[experiment]
name = {name}
[output]
directory = {out}
overpass = yes
checkpoint_days = 0
[synthetic]
directory = {tmp}/world
truth_directory = {tmp}/truth
lai_pixel_size = 0.0625
[obs.smap]
min_cdf_samples = 4
[assimilation]
ol_directory = {tmp}/ol
"""


def _config(tmp, name, out, members=0, period=None):
    text = CONFIG.format(tmp=tmp, name=name, out=tmp / out, members=members)
    if period:
        text = text.replace("start = 2015-03-01\nend = 2015-05-01", f"start = {period[0]}\nend = {period[1]}")
    return config_from_text(text)


@pytest.fixture(scope="module")
def twin():
    """World, truth and OL runs, synthetic observations and tables, shared by the tests of this module."""
    comm = MPI.COMM_WORLD
    with shared_directory(comm, "mpilda-da-") as tmp:
        run(_config(tmp, "truth", "truth"), comm)
        run(_config(tmp, "OL", "ol"), comm)
        make_observations(_config(tmp, "truth", "truth"), comm)
        make_rescaling(_config(tmp, "OL", "ol"), comm)
        calibrate_vod(_config(tmp, "OL", "ol"), comm)
        yield tmp


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name", ["DA_SSM", "DA_SSM+LAI", "DA_SSM+VOD"])
def test_da_run_is_identical_on_any_number_of_ranks(twin, name):
    comm = MPI.COMM_WORLD
    period = ("2015-04-01", "2015-04-11")
    summary = run(_config(twin, name, f"{name}_k", members=6, period=period), comm)
    counts = summary["assimilation"]
    assert_all(comm, counts["smap"]["assimilated"] > 0, f"nothing assimilated: {counts}")
    assert_all(comm, abs(summary["residual_mm"]) < 1e-9, f"water budget {summary}")
    if comm.rank == 0:
        run(_config(twin, name, f"{name}_1", members=6, period=period), MPI.COMM_SELF)
    comm.Barrier()
    sensors = [s for s in ("smap", "lai", "vod") if s in counts]

    def check():
        for file, names in (("daily_mean.nc", [v.name for v in OUTPUT_VARIABLES]),
                            ("daily_spread.nc", [v.name for v in OUTPUT_VARIABLES]),
                            ("diagnostics.nc", [v.name for v in diagnostic_variables(sensors)])):
            with h5py.File(twin / f"{name}_k" / file) as a, h5py.File(twin / f"{name}_1" / file) as b:
                for n in names:
                    assert a[n][...].tobytes() == b[n][...].tobytes(), f"{file}:{n} differs on {comm.size} ranks"
        with h5py.File(twin / f"{name}_k" / "diagnostics.nc") as d:
            assimilated = d["smap_assimilated"][...]
            assert np.nansum(np.where(assimilated < 1e30, assimilated, 0)) == counts["smap"]["assimilated"]
            # the run's summary of normalised innovations, recomputed from the daily sums in the file
            land = d["smap_ninnov_sum"][...] < 1e30
            n = float(assimilated[land].astype(np.float64).sum())
            s1 = float(d["smap_ninnov_sum"][...][land].astype(np.float64).sum())
            s2 = float(d["smap_ninnov_sumsq"][...][land].astype(np.float64).sum())
            std = np.sqrt((s2 / n - (s1 / n) ** 2) * n / (n - 1))
            assert abs(counts["smap"]["ninnov_mean"] - s1 / n) < 1e-4 and abs(counts["smap"]["ninnov_std"] - std) < 1e-4

    on_root(comm, check)


def _error_options(twin):
    """Issue 18's observation-error options, all on: a SMAP error map (written by rank 0), Desroziers
    windows for SMAP and VOD, the VOD operator's error, and thinning of both."""
    comm = MPI.COMM_WORLD
    path = twin / "smap_error.nc"
    if comm.rank == 0 and not path.exists():
        import netCDF4

        from mpilda.grid import Grid

        grid = Grid.from_config(_config(twin, "OL", "ol").domain)
        lat, lon = np.meshgrid(grid.lat, grid.lon, indexing="ij")
        with netCDF4.Dataset(path, "w") as f:
            f.createDimension("lat", grid.lat.size)
            f.createDimension("lon", grid.lon.size)
            f.createVariable("lat", "f8", ("lat",))[:] = grid.lat
            f.createVariable("lon", "f8", ("lon",))[:] = grid.lon
            f.createVariable("error_std", "f8", ("lat", "lon"))[:] = 0.008 + 0.01 * (lat - lat.min()) + \
                0.004 * (lon - lon.min())
    comm.Barrier()
    return ["obs.smap.error=map", f"obs.smap.error_file={path}", "obs.smap.adaptive=desroziers",
            "obs.smap.adaptive_days=3", "obs.smap.adaptive_min_count=2", "obs.smap.thin_days=2",
            "obs.vod.error=operator", "obs.vod.adaptive=desroziers", "obs.vod.adaptive_days=4",
            "obs.vod.adaptive_min_count=2", "obs.vod.thin_days=3"]


@pytest.mark.mpi(min_size=1)
def test_da_run_with_observation_error_options_is_identical_on_any_number_of_ranks(twin):
    """DA_SSM+VOD with every option of issue 18 on: the same bytes on k ranks and on 1; retrievals are
    thinned; the R recorded per cell and day stays within the adaptive bounds of the configured R."""
    comm = MPI.COMM_WORLD
    options = _error_options(twin)
    period = ("2015-04-01", "2015-04-11")

    def config(out):
        return config_from_text(_config(twin, "DA_SSM+VOD", out, members=6, period=period).to_ini(),
                                overrides=options)

    counts = run(config("options_k"), comm)["assimilation"]
    for s in ("smap", "vod"):
        assert_all(comm, counts[s]["assimilated"] > 0 and counts[s]["thinned"] > 0, f"{s}: {counts[s]}")
    if comm.rank == 0:
        run(config("options_1"), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        for file, names in (("daily_mean.nc", [v.name for v in OUTPUT_VARIABLES]),
                            ("daily_spread.nc", [v.name for v in OUTPUT_VARIABLES]),
                            ("diagnostics.nc", [v.name for v in diagnostic_variables(["smap", "vod"])])):
            with h5py.File(twin / "options_k" / file) as a, h5py.File(twin / "options_1" / file) as b:
                for n in names:
                    assert a[n][...].tobytes() == b[n][...].tobytes(), f"{file}:{n} differs on {comm.size} ranks"
        import netCDF4

        with netCDF4.Dataset(twin / "smap_error.nc") as f:
            r0 = np.ma.filled(f["error_std"][...], np.nan) ** 2
        with h5py.File(twin / "options_k" / "diagnostics.nc") as d:
            n = d["smap_assimilated"][...].astype(np.float64)
            used = n < 1e30
            assert n[used].sum() == counts["smap"]["assimilated"]
            assert d["smap_rejected_thinned"][...][used].sum() == counts["smap"]["thinned"]
            ratio = (d["smap_r_var_sum"][...] / np.where(used & (n > 0), n, np.nan) / r0[None])[used & (n > 0)]
            # diagnostics.nc stores float32: the bounds hold to its precision
            assert (ratio >= 0.25 * (1 - 1e-6)).all() and (ratio <= 4 * (1 + 1e-6)).all(), ratio
            assert np.ptp(ratio) > 0.1, "the adaptive R never moved from the map's"

    on_root(comm, check)


class _Crash(Exception):
    pass


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("options", [False, True], ids=["paper", "error_options"])
def test_a_da_run_resumed_after_a_crash_is_bit_identical_to_an_uninterrupted_one(twin, options):
    """DA_SSM+VOD with checkpoints every 3 days: a run that dies in day 8 (after the day-6 checkpoint)
    and is resumed with --resume writes the very bytes of the uninterrupted run, and the same balance;
    also with issue 18's options on (the adaptive windows and the thinning's last days are in the
    checkpoints)."""
    from mpilda.experiment import Runner

    comm = MPI.COMM_WORLD
    period = ("2015-04-01", "2015-04-11")
    overrides = _error_options(twin) if options else []
    tag = "_options" if options else ""

    def config(out):
        cfg = _config(twin, "DA_SSM+VOD", out + tag, members=6, period=period)
        return config_from_text(cfg.to_ini().replace("checkpoint_days = 0", "checkpoint_days = 3"),
                                overrides=overrides)

    whole = run(config("resume_whole"), comm)

    class Crashing(Runner):
        def step(self, state, t, budget=None):
            if t.day == 8 and t.hour == 13:
                raise _Crash(f"crash at {t}")
            return super().step(state, t, budget)

    crashed = False
    try:
        Crashing(config("resume_part"), comm).run()
    except _Crash:
        crashed = True
    assert_all(comm, crashed, "the crashing run did not crash")
    out = twin / f"resume_part{tag}"
    assert_all(comm, not (out / "daily_mean.nc").exists() and (out / "daily_mean.nc.incomplete").exists(),
               "an interrupted run must leave only .incomplete outputs")
    assert_all(comm, sorted(p.name for p in (out / "restart").glob("*.nc")) == ["restart_20150407.nc"],
               f"checkpoints: {sorted(p.name for p in (out / 'restart').glob('*'))}")
    resumed = run(config("resume_part"), comm, resume=True)
    assert_all(comm, resumed == whole, f"balance and counts differ: {resumed} vs {whole}")

    def check():
        for file in ("daily_mean.nc", "daily_spread.nc", "diagnostics.nc", "overpass.nc"):
            with h5py.File(twin / f"resume_whole{tag}" / file) as a, h5py.File(out / file) as b:
                names = [n for n in a if n not in ("lat", "lon", "time", "time_bnds", "lat_bnds", "lon_bnds", "bnds")]
                assert names and sorted(names) == sorted(n for n in b if n in names)
                for n in names:
                    assert a[n][...].tobytes() == b[n][...].tobytes(), f"{file}:{n} differs after the resume"
        with h5py.File(twin / f"resume_whole{tag}" / "restart" / "restart_20150411.nc") as a, \
                h5py.File(out / "restart" / "restart_20150411.nc") as b:
            for n in a:
                assert a[n][...].tobytes() == b[n][...].tobytes(), f"final restart {n} differs after the resume"
        assert not list(out.glob("*.incomplete"))

    on_root(comm, check)


def _damage(twin, root):
    """A copy of the SMAP and VOD files with one SMAP granule of 2015-04-11 holding retrievals of the
    window and the VOD raster of that day truncated (by rank 0); their names."""
    from mpilda.grid import Grid
    from mpilda.obs.sources import SensorReader
    from mpilda.parallel import Decomposition

    cfg = _config(twin, "DA_SSM+VOD", "damaged")
    local = Decomposition.build(Grid.from_config(cfg.domain), cfg.domain.tile_size, 1).local(0)
    reader = SensorReader(cfg, "smap", local)
    day = datetime.datetime(2015, 4, 11, tzinfo=datetime.timezone.utc)
    granule = next(p for p in reader.files(day, day + datetime.timedelta(days=1))
                   if p.name.split("_")[6].startswith("20150411") and reader.read(p).usable.any())
    names = (granule.name, "AMSRU_Mland_2015101D.tif")
    for s in ("smap", "vod"):
        shutil.copytree(twin / "world" / "obs" / s, root / s)
    for sensor, name, keep in (("smap", names[0], 0.5), ("vod", names[1], 0.7)):
        path = root / sensor / name
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * keep)])
    return names


@pytest.mark.mpi(min_size=1)
def test_da_run_with_nan_predictions_and_damaged_files_is_finite_and_identical_on_any_number_of_ranks(twin):
    """DA_SSM+VOD with a VOD operator calibrated on 03-01..04-05 (no climatology from mid-April) and one
    truncated SMAP granule and VOD raster: the state stays finite, the retrievals without a prediction
    are rejected as invalid, each damaged file is skipped and counted once, and the files are the same
    bytes on any rank count (the ranks agree on the files they skip)."""
    comm = MPI.COMM_WORLD
    root = twin / "damaged_obs"
    names = _damage(twin, root) if comm.rank == 0 else None
    names = comm.bcast(names, root=0)
    tables = [f"assimilation.tables_directory={twin}/tables_short", "assimilation.climatology_start=2015-03-01",
              "assimilation.climatology_end=2015-04-05"]
    calibrate_vod(config_from_text(_config(twin, "OL", "ol").to_ini(), overrides=tables), comm)

    def config(out):
        cfg = _config(twin, "DA_SSM+VOD", out, members=6, period=("2015-04-08", "2015-04-15"))
        return config_from_text(cfg.to_ini(), overrides=tables + [
            "obs.smap.rescale=no", f"obs.smap.directory={root}/smap", f"obs.vod.directory={root}/vod"])

    summary = run(config("guarded_k"), comm)["assimilation"]
    assert_all(comm, summary["smap"]["unreadable_files"] == 1 and summary["vod"]["unreadable_files"] == 1,
               f"unreadable files: {summary}")
    assert_all(comm, summary["vod"]["invalid"] > 0 and summary["vod"]["assimilated"] > 0, f"vod: {summary['vod']}")
    if comm.rank == 0:
        run(config("guarded_1"), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        for file, variables in (("daily_mean.nc", OUTPUT_VARIABLES),
                                ("diagnostics.nc", diagnostic_variables(["smap", "vod"]))):
            with h5py.File(twin / "guarded_k" / file) as a, h5py.File(twin / "guarded_1" / file) as b:
                for v in variables:
                    x = a[v.name][...]
                    assert x.tobytes() == b[v.name][...].tobytes(), f"{file}:{v.name} differs on {comm.size} ranks"
                    land = x < 1e30
                    assert np.isfinite(x[land]).all(), f"{file}:{v.name} is not finite"
        with h5py.File(twin / "guarded_k" / "diagnostics.nc") as d:
            invalid = d["vod_rejected_invalid"][...]
            assert invalid[invalid < 1e30].sum() == summary["vod"]["invalid"]

    on_root(comm, check)
