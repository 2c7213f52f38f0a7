"""Bad input, as a user meets it on the command line: every fault gives exit status 2 and one line
that names the file, the key or the value and what was expected; never a traceback, a hang or a
final (renamed) output file.

The run cases start from a valid ERA5-driven run on a tiny window (its forcing is the synthetic
world's model forcing, written in the ERA5 layout) and break one thing each.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import netCDF4
import pytest

from .conftest import REAL_DATA, window_config

WINDOW = window_config("2015-04-01", "2015-04-03", "[ensemble]\nmembers = 0\n")

RUN = WINDOW + """
[experiment]
name = OL
[forcing]
source = era5
era5_files = forcing/era5_%Y%m%d.nc
[model]
landcover_file = maps/landcover.nc
soil_file = maps/soil.nc
shdmax_file = maps/shdmax.nc
tbot_file = maps/tbot.nc
[output]
directory = out
"""


def mpilda(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mpilda", *map(str, args)], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-input-world")
    (root / "world.ini").write_text(WINDOW + "[synthetic]\ndirectory = world\n")
    out = mpilda("make-synthetic", "world.ini", cwd=root)
    assert out.returncode == 0, out.stderr
    return root / "world"


def _set_raw(path, name, index, value_of):
    with netCDF4.Dataset(path, "r+") as ds:
        var = ds[name]
        var.set_auto_maskandscale(False)
        raw = var[...]
        raw[index] = value_of(var)
        var[...] = raw


def _fill_value(var):
    return var.getncattr("_FillValue") if "_FillValue" in var.ncattrs() else var.getncattr("missing_value")


def _repeat_a_time(path):
    with netCDF4.Dataset(path, "r+") as ds:
        t = ds["time"][...]
        t[6] = t[5]
        ds["time"][...] = t


# name: (how to break the case directory, what the message must say)
RUN_FAULTS = {
    "a key of the wrong type": (lambda d: _append(d, "[spinup]\ncycles = many\n"), "[spinup] cycles"),
    "a value out of range": (lambda d: _append(d, "[spinup]\ncycles = -2\n"), "-2"),
    "an unknown key": (lambda d: _append(d, "[spinup]\ncycle = 2\n"), "did you mean 'cycles'"),
    "end before start": (lambda d: _replace(d, "end = 2015-04-03", "end = 2015-03-03"), "[time] end"),
    "a missing map": (lambda d: (d / "maps" / "soil.nc").unlink(), "[model] soil_file"),
    "a corrupt map": (lambda d: (d / "maps" / "landcover.nc").write_bytes(b"\x89HDF junk"), "landcover.nc"),
    "a vegetation fraction above 1": (lambda d: _set_raw(d / "maps" / "shdmax.nc", "shdmax", (0, 1),
                                                         lambda var: 1.7),
                                      "shdmax = 1.7 at lat"),
    "a missing deep temperature": (lambda d: _set_raw(d / "maps" / "tbot.nc", "tbot", (0, 1), _fill_value),
                                   "tbot = missing (fill value)"),
    "a missing forcing day": (lambda d: (d / "forcing" / "era5_20150402.nc").unlink(), "era5_20150402.nc"),
    "an empty forcing file": (lambda d: (d / "forcing" / "era5_20150402.nc").write_bytes(b""),
                              "era5_20150402.nc: not a readable netCDF file"),
    "a truncated forcing file": (lambda d: _truncate(d / "forcing" / "era5_20150402.nc"),
                                 "era5_20150402.nc: not a readable netCDF file"),
    "a missing value in the forcing": (lambda d: _set_raw(d / "forcing" / "era5_20150402.nc", "t2m", (5, 7, 8),
                                                          _fill_value),
                                       "t2m at 2015-04-02T05:00:00Z is missing"),
    "a repeated forcing time": (lambda d: _repeat_a_time(d / "forcing" / "era5_20150402.nc"),
                                "times must be strictly increasing"),
    "a corrupt restart": (lambda d: ((d / "r.nc").write_text("junk"), _append(d, "[spinup]\nrestart_file = r.nc\n")),
                          "r.nc: not a readable restart file"),
    "an output directory that cannot be made": (lambda d: ((d / "blocker").write_text("x"),
                                                           _replace(d, "directory = out", "directory = blocker/out")),
                                                "[output] directory"),
}


def _append(d, text):
    path = d / "run.ini"
    path.write_text(path.read_text() + text)


def _replace(d, old, new):
    path = d / "run.ini"
    path.write_text(path.read_text().replace(old, new))


def _truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 3])


def _case(world, tmp_path):
    shutil.copytree(world / "model", tmp_path / "forcing")
    (tmp_path / "maps").mkdir()
    for name in ("landcover.nc", "soil.nc", "shdmax.nc", "tbot.nc"):
        shutil.copy(world / name, tmp_path / "maps" / name)
    (tmp_path / "run.ini").write_text(RUN)
    return tmp_path


def test_the_unbroken_case_runs(world, tmp_path):
    d = _case(world, tmp_path)
    out = mpilda("run", "run.ini", cwd=d)
    assert out.returncode == 0, out.stderr
    assert (d / "out" / "daily_mean.nc").exists()


@pytest.mark.parametrize("fault", list(RUN_FAULTS))
def test_a_broken_run_says_what_is_wrong(world, tmp_path, fault):
    d = _case(world, tmp_path)
    breaker, message = RUN_FAULTS[fault]
    breaker(d)
    out = mpilda("run", "run.ini", cwd=d)
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    assert message in out.stderr, out.stderr
    assert not (d / "out" / "daily_mean.nc").exists()


def test_a_restart_of_another_grid_is_refused(world, tmp_path):
    d = _case(world, tmp_path)
    assert mpilda("run", "run.ini", cwd=d).returncode == 0
    restart = next((d / "out" / "restart").glob("restart_*.nc"))
    _replace(d, "east = 5.875", "east = 5.375")
    _replace(d, "directory = out", "directory = out2")
    _append(d, f"[spinup]\nrestart_file = {restart}\n")
    out = mpilda("run", "run.ini", cwd=d)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "land cells of another grid" in out.stderr, out.stderr


SAMPLES = ["era5/era5_testfile_1day.nc", "smap_spl2smp/SMAP_L2_SM_P_02801_A_20150811T013002_R18290_001.h5",
           "cgls_proxy_not_lai300/c_gls_SSM1km_201706010000_CEURO_S1CSAR_V1.1.1.nc",
           "ismn/tuw_ismn_tests/format_header_values/SMOSMANIA/"
           "SMOSMANIA_SMOSMANIA_Narbonne_sm_0.050000_0.050000_ThetaProbe-ML2X_20070101_20070131.stm",
           "fluxnet/FLX_FR-Pue_FLUXNET2015_FULLSET_MM_2007-2014_2-3.csv"]


@pytest.mark.parametrize("damage", ["empty", "garbage", "truncated"])
@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s.split("/")[0])
def test_a_damaged_input_file_is_named_by_inspect(tmp_path, sample, damage):
    """Every reader, through `inspect`, on an empty, a random-bytes and a truncated copy of a real file."""
    source = REAL_DATA / sample
    broken = tmp_path / Path(sample).name
    data = source.read_bytes()
    broken.write_bytes({"empty": b"", "garbage": bytes(range(256)) * 16, "truncated": data[:len(data) // 3]}[damage])
    out = mpilda("inspect", broken, cwd=tmp_path)
    if damage == "truncated" and sample.endswith(".csv"):
        # a CSV cut at a third is still a CSV of fewer rows (its cut last row reads as missing values)
        assert out.returncode in (0, 2) and "Traceback" not in out.stderr
        return
    assert out.returncode == 2, out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert broken.name in out.stderr, out.stderr


def test_a_full_disk_stops_the_run_with_a_clear_error(world, tmp_path):
    """The output directory on a 2 MB file system (tmpfs; needs root, as in CI): the run stops before
    the disk is full and says how much room there is and what it needs."""
    d = _case(world, tmp_path)
    small = d / "small"
    small.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a small tmpfs here (not root)")
    try:
        _replace(d, "directory = out", "directory = small/out")
        out = mpilda("run", "run.ini", cwd=d)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert "MB free" in out.stderr and "stopping before the disk is full" in out.stderr, out.stderr
        assert not (small / "out" / "daily_mean.nc").exists()
    finally:
        subprocess.run(["umount", str(small)], capture_output=True)


@pytest.mark.parametrize("fault", ["a missing value in the forcing", "an empty forcing file", "a key of the wrong type"])
def test_a_broken_run_on_two_ranks_ends_quickly_with_the_message(world, tmp_path, fault):
    """Under mpirun: the fault may strike one rank only (a missing value in the forcing of its cells);
    the whole job ends within seconds, with that rank's message and no traceback."""
    import os
    import time

    d = _case(world, tmp_path)
    breaker, message = RUN_FAULTS[fault]
    breaker(d)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t0 = time.monotonic()
    out = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, "-m", "mpilda", "run", "run.ini"],
                         capture_output=True, text=True, timeout=120, cwd=d, env=env)
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert message in out.stderr, out.stderr
    assert time.monotonic() - t0 < 60
    assert not (d / "out" / "daily_mean.nc").exists()
