"""The site command: its inputs (columns.json, per-site forcing), their errors, the cold start, coarser forcing."""

import datetime as dt
import json
import shutil
import subprocess
import sys

import netCDF4
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.model.noahmp import NoahMP
from mpilda.site import read_columns, read_forcing

from .conftest import REPO

PACKAGE = REPO / "tests" / "data" / "noahmp-columns"
UTC = dt.timezone.utc
START = dt.datetime(2016, 1, 1, tzinfo=UTC)


def mpilda(*args, cwd):
    return subprocess.run([sys.executable, "-m", "mpilda", *map(str, args)], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def _package(tmp_path, ids=("c02", "c08"), edit=None, days=10):
    """A small package in tmp_path: the columns ``ids`` with ``days`` of their forcing; edit(entries) may break it."""
    meta = json.loads((PACKAGE / "columns.json").read_text())
    entries = [c for c in meta["columns"] if c["id"] in ids]
    (tmp_path / "forcing").mkdir()
    for c in entries:
        src = PACKAGE / "forcing" / f"{c['id']}.nc"
        with netCDF4.Dataset(src) as a, netCDF4.Dataset(tmp_path / "forcing" / f"{c['id']}.nc", "w") as b:
            n = days * 96 + 1
            b.createDimension("time", n)
            for name, var in a.variables.items():
                v = b.createVariable(name, var.dtype, var.dimensions)
                v.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
                v[:] = var[:n]
    if edit:
        edit(entries)
    (tmp_path / "columns.json").write_text(json.dumps({"columns": entries}))
    (tmp_path / "site.ini").write_text(f"[site]\ncolumns_file = columns.json\n[time]\nstart = 2016-01-01\n"
                                       f"end = 2016-01-{1 + days:02d}\n[output]\ndirectory = out\n")
    return tmp_path


def test_a_small_run_writes_one_file_per_column(tmp_path):
    d = _package(tmp_path)
    out = mpilda("site", "site.ini", cwd=d)
    assert out.returncode == 0, out.stderr
    for cid in ("c02", "c08"):
        with netCDF4.Dataset(d / "out" / f"{cid}.nc") as ds:
            assert ds.dimensions["time"].size == 10 and np.all(np.isfinite(ds["sm1"][:]))


def _set(key, value, index=0):
    def edit(entries):
        entries[index][key] = value
    return edit


def _init(key, value):
    def edit(entries):
        entries[0]["init"][key] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (_set("landcover", 17), "landcover = 17 (water)"),
    (_set("landcover", 25), "landcover = 25; expected 1..20"),
    (_set("soil", 2.5), "soil = 2.5; expected an integer"),
    (_set("shdmax", 1.3), "shdmax = 1.3; expected 0..1"),
    (_set("tbot_k", "warm"), "tbot_k = 'warm'; expected a number"),
    (_set("id", "c08", 0), "id 'c08' appears twice"),
    (_set("forcing", "forcing/none.nc"), "none.nc: the forcing of column c02 is not a readable netCDF file"),
    (_init("sh2o", [0.4, 0.3, 0.3, 0.3]), "init sh2o [0.4, 0.3, 0.3, 0.3] exceeds smc"),
    (_init("isnow", -2), "init isnow = -2"),
    (_init("smc", [0.3, 0.3]), "init smc = [0.3, 0.3]; expected 4 numbers"),
])
def test_bad_columns_give_a_clear_error(tmp_path, edit, message):
    d = _package(tmp_path, edit=edit, days=2)
    out = mpilda("site", "site.ini", cwd=d)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and not (d / "out" / "c02.nc").exists()


def _break_forcing(tmp_path, how):
    d = _package(tmp_path, days=2)
    path = d / "forcing" / "c02.nc"
    with netCDF4.Dataset(path, "r+") as ds:
        how(ds)
    return d


@pytest.mark.parametrize("how, message", [
    (lambda ds: ds["tair"].__setitem__(5, np.nan), "tair = nan at 2016-01-01 01:15 is missing or outside"),
    (lambda ds: ds["psurf"].__setitem__(7, 200.0), "psurf = 200.0 at 2016-01-01 01:45"),
    (lambda ds: ds["time"].__setitem__(3, 3000), "expected one fixed step"),
    (lambda ds: ds["time"].setncattr("units", "fortnights since then"), "time units 'fortnights since then'"),
    (lambda ds: ds.renameVariable("snowf", "snowfall"), "no forcing variable 'snowf'"),
])
def test_bad_forcing_gives_a_clear_error(tmp_path, how, message):
    d = _break_forcing(tmp_path, how)
    out = mpilda("site", "site.ini", cwd=d)
    assert out.returncode == 2 and message in out.stderr and "c02.nc" in out.stderr, out.stderr


def test_a_period_beyond_the_forcing_is_an_error(tmp_path):
    d = _package(tmp_path, days=2)
    out = mpilda("site", "site.ini", "--set", "time.end=2016-01-05", cwd=d)
    assert out.returncode == 2 and "the run needs 2016-01-01 00:00 .. 2016-01-05 00:00" in out.stderr, out.stderr


def test_the_site_command_needs_its_columns_file(tmp_path):
    (tmp_path / "x.ini").write_text("[time]\nstart = 2016-01-01\nend = 2016-01-02\n")
    out = mpilda("site", "x.ini", cwd=tmp_path)
    assert out.returncode == 2 and "[site] columns_file is required" in out.stderr, out.stderr


def test_the_cold_start_is_noah_mps(tmp_path):
    """Without ``init`` the model's own cold start (NOAHMP_INIT's rules via LIS) gives the package's init state."""
    columns = read_columns(PACKAGE / "columns.json")
    forcing = [read_forcing(c, START, START + dt.timedelta(days=1), 900) for c in columns]
    first = {k: np.array([f[k][0] for f in forcing]) for k in forcing[0]}
    m = NoahMP(np.array([c.landcover for c in columns]), np.array([c.soil for c in columns]),
               np.array([c.lat for c in columns]), np.array([c.lon for c in columns]),
               shdmax=np.array([c.shdmax for c in columns]), tbot=np.array([c.tbot for c in columns]))
    s = m.cold_start(1, first, START)
    fields = dict(smc="smc", sh2o="sh2o", stc="tsoil_k", tv="tv_k", tg="tg_k", tah="tah_k", eah="eah_pa", lai="lai",
                  sai="sai", lfmass="lfmass_g_m2", stmass="stmass_g_m2", rtmass="rtmass_g_m2", wood="wood_g_m2",
                  stblcp="stblcp_g_m2", fastcp="fastcp_g_m2", sneqv="swe_kg_m2", albold="snow_albedo_prev")
    for j, c in enumerate(columns):
        for field, key in fields.items():
            got = getattr(s, field)[..., 0, j]
            assert got == pytest.approx(c.init[key], rel=2e-5), (c.id, field)   # the Fortran's float32
    assert s.sh2o[0, 0, -1] < s.smc[0, 0, -1]           # the boreal column starts below freezing


def test_hourly_forcing_is_brought_to_the_model_step(tmp_path):
    """A 3600 s forcing: rates keep the hour's value, states are interpolated linearly between the hours."""
    d = _package(tmp_path, ids=("c05",), days=3)
    src = d / "forcing" / "c05.nc"
    hourly = d / "forcing" / "c05h.nc"
    with netCDF4.Dataset(src) as a, netCDF4.Dataset(hourly, "w") as b:
        b.createDimension("time", 3 * 24 + 1)
        for name, var in a.variables.items():
            v = b.createVariable(name, var.dtype, var.dimensions)
            v.setncatts({k: var.getncattr(k) for k in var.ncattrs()})
            v[:] = var[::4]
    column = read_columns(d / "columns.json")[0]
    column = type(column)(**{**column.__dict__, "forcing": hourly})
    f = read_forcing(column, START, START + dt.timedelta(days=3), 900)
    with netCDF4.Dataset(hourly) as ds:
        tair, rain = ds["tair"][:].astype(float), ds["rainf"][:].astype(float)
    assert f["tair"][4] == tair[1] and f["tair"][5] == pytest.approx(0.75 * tair[1] + 0.25 * tair[2], rel=1e-15)
    assert np.array_equal(f["rainf"][8:12], np.repeat(rain[2], 4))
    with pytest.raises(InputError, match="a multiple of the model step"):
        read_forcing(column, START, START + dt.timedelta(days=1), 1800 + 600)
    shutil.rmtree(d / "forcing")
