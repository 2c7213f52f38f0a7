"""The CF netCDF writer on one rank: both modes, CF metadata, fill over sea, atomic rename."""

import warnings

import h5py
import netCDF4
import numpy as np
import pytest
import xarray as xr
from mpi4py import MPI

from mpilda import output
from mpilda.output import FILL, GridWriter, OutputError, resolve_io_mode, standard_attributes
from mpilda.parallel import Decomposition

from . import output_cases as oc


def write(path, mode, compression=4):
    g = oc.grid()
    local = Decomposition.build(g, 3, 1).local(0)
    comm = MPI.COMM_SELF
    attrs = standard_attributes(comm, "test file", "[time]\nstart = 2015-04-01\n")
    with GridWriter(path, local, comm, oc.VARIABLES, start=oc.START, n_times=oc.N_TIMES,
                    dims={"member": oc.N_MEMBERS}, mode=mode, compression=compression, attrs=attrs) as w:
        oc.write_all(w, local.cell_ids)
    return g


@pytest.mark.parametrize("mode", ["gather", "mpio"])
def test_values_fill_and_cf_metadata(tmp_path, mode):
    path = tmp_path / "out.nc"
    g = write(path, mode)
    assert path.exists() and not (tmp_path / "out.nc.incomplete").exists()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = xr.open_dataset(path)
    with ds:
        assert dict(ds.sizes) == {"time": 3, "lat": g.shape[0], "lon": g.shape[1], "member": 4, "bnds": 2}
        assert ds.ssm.dims == ("time", "lat", "lon") and ds.lai_ens.dims == ("time", "member", "lat", "lon")
        assert ds.elev.dims == ("lat", "lon")
        for t in range(3):
            np.testing.assert_array_equal(ds.ssm[t].values, oc.expected_grid("ssm", g, t))
            np.testing.assert_array_equal(ds.lai_ens[t].values, oc.expected_grid("lai_ens", g, t))
        np.testing.assert_array_equal(ds.elev.values, oc.expected_grid("elev", g))
        # time: the middle of each UTC day
        assert str(ds.time.values[0]) == "2015-04-01T12:00:00.000000000"
        assert ds.ssm.attrs["units"] == "m3 m-3" and ds.ssm.attrs["standard_name"].startswith("volume_fraction")
        assert ds.ssm.attrs["cell_methods"] == "time: mean"
        assert ds.lat.attrs["standard_name"] == "latitude" and ds.lon.attrs["units"] == "degrees_east"
        assert ds.attrs["Conventions"] == "CF-1.8" and "start = 2015-04-01" in ds.attrs["config"]
        assert ds.attrs["mpilda_version"]
        np.testing.assert_array_equal(ds.lat.values, g.lat)
    # raw storage: netCDF's default fill over sea, readable by the netCDF-C library too
    with netCDF4.Dataset(path) as nc:
        var = nc["count"]
        assert var._FillValue == FILL["i4"]
        raw = var[1]
        assert np.array_equal(raw.mask, ~g.land)
        assert np.array_equal(raw.data[g.land], oc.field("count", g.land_ids, 1))
    with h5py.File(path) as f:
        # chunks: one day, all members, a multiple of the 3-cell tiles near 32 cells (or the whole axis)
        assert f["ssm"].chunks == (1, 33, 33) and f["lai_ens"].chunks == (1, 4, 33, 33)


def test_both_modes_store_identical_data(tmp_path):
    write(tmp_path / "a.nc", "gather")
    write(tmp_path / "b.nc", "mpio", compression=0)
    with h5py.File(tmp_path / "a.nc") as a, h5py.File(tmp_path / "b.nc") as b:
        for name in [v.name for v in oc.VARIABLES] + ["lat", "lon", "time", "time_bnds", "member"]:
            assert a[name][...].tobytes() == b[name][...].tobytes(), name


def test_failed_write_leaves_no_final_file(tmp_path):
    g = oc.grid()
    local = Decomposition.build(g, 3, 1).local(0)
    path = tmp_path / "out.nc"
    with pytest.raises(OutputError, match=r"ssm given shape \(5,\); expected"):
        with GridWriter(path, local, MPI.COMM_SELF, oc.VARIABLES, start=oc.START, n_times=3,
                        dims={"member": 4}) as w:
            w.write(0, {"ssm": np.zeros(5)})
    assert not path.exists() and (tmp_path / "out.nc.incomplete").exists()


def test_io_mode_resolution(monkeypatch):
    comm = MPI.COMM_SELF
    assert resolve_io_mode("gather", comm) == "gather"
    assert resolve_io_mode("auto", comm) == "gather"   # one rank: no MPI-IO needed
    monkeypatch.setattr(output, "h5py_has_mpi", lambda: False)
    with pytest.raises(OutputError, match=r"io_mode = mpio, but h5py was built without MPI"):
        resolve_io_mode("mpio", comm)


@pytest.mark.parametrize("mode", ["gather", "mpio"])
def test_held_back_days_land_where_they_belong(tmp_path, mode):
    """Days are held back and written in blocks: a gap, a change of variables and flush() each write
    what is held, and the file ends as if every day had been written at once."""
    g = oc.grid()
    local = Decomposition.build(g, 3, 1).local(0)
    ids = local.cell_ids
    names = ["ssm", "lai_ens", "count"]
    path = tmp_path / "held.nc"
    with GridWriter(path, local, MPI.COMM_SELF, oc.VARIABLES, start=oc.START, n_times=7, dims={"member": 4},
                    mode=mode, buffer_days=3) as w:
        for t in (0, 1):
            w.write(t, {n: oc.field(n, ids, t) for n in names})
        w.flush()                                     # two days held: now on disk
        if mode == "gather":                          # (an mpio file is not opened twice)
            with h5py.File(w.tmp, "r") as f:
                assert np.array_equal(f["ssm"][1][g.land], oc.field("ssm", g.land_ids, 1))
        for t in (2, 3, 4):                           # a full block of three
            w.write(t, {n: oc.field(n, ids, t) for n in names})
        w.write(6, {n: oc.field(n, ids, 6) for n in names})          # a gap: day 5 never written
        w.write(5, {"ssm": oc.field("ssm", ids, 5)})                 # out of order, one variable only
    with h5py.File(path) as f:
        for t in (0, 1, 2, 3, 4, 6):
            for n in names:
                got = f[n][t]
                want = oc.expected_grid(n, g, t)
                assert np.array_equal(np.where(np.isnan(want), FILL[f[n].dtype.str[1:]], want), got), (n, t)
        assert np.array_equal(f["ssm"][5][g.land], oc.field("ssm", g.land_ids, 5))
        assert (f["count"][5] == FILL["i4"]).all()



def test_days_held_are_capped_by_the_bytes_of_an_average_rank(tmp_path, monkeypatch):
    """At most HOLD_BYTES of an average rank's values are held (a number every rank computes alike)."""
    g = oc.grid()
    local = Decomposition.build(g, 3, 1).local(0)
    per_day = g.shape[0] * g.shape[1] * 4 * (1 + oc.N_MEMBERS + 1)      # ssm, lai_ens (4 members), count
    monkeypatch.setattr(output, "HOLD_BYTES", int(2.5 * per_day))
    with GridWriter(tmp_path / "a.nc", local, MPI.COMM_SELF, oc.VARIABLES, start=oc.START, n_times=3,
                    dims={"member": oc.N_MEMBERS}) as w:
        assert w.bytes_per_day() == per_day
        assert w.buffer_days == 2
        oc.write_all(w, local.cell_ids)
    with h5py.File(tmp_path / "a.nc") as f:
        assert np.array_equal(f["ssm"][2][g.land], oc.field("ssm", g.land_ids, 2))


def test_daily_spread_is_labelled_as_the_ensemble_range_of_the_daily_mean(tmp_path):
    """daily_spread.nc holds max - min over the members of each member's daily mean: its variables say so
    (long_name, cell_methods "time: mean realization: range") and claim no standard_name of the mean
    quantity; units stay those of the variable.  daily_mean.nc keeps the mean's labels."""
    from mpi4py import MPI

    from mpilda.config import config_from_text
    from mpilda.experiment import OUTPUT_VARIABLES, run

    from .conftest import window_config

    cfg = config_from_text(window_config("2015-04-01", "2015-04-02", f"""
[ensemble]
members = 2
[experiment]
name = OL
[spinup]
cycles = 0
[output]
directory = {tmp_path / "OL"}
[synthetic]
directory = {tmp_path / "world"}
"""))
    run(cfg, MPI.COMM_SELF)
    with netCDF4.Dataset(tmp_path / "OL" / "daily_spread.nc") as spread, \
            netCDF4.Dataset(tmp_path / "OL" / "daily_mean.nc") as mean:
        for v in OUTPUT_VARIABLES:
            s, m = spread[v.name], mean[v.name]
            assert "standard_name" not in s.ncattrs(), v.name
            assert s.cell_methods == "time: mean realization: range"
            assert s.long_name == f"ensemble spread (max - min over members) of daily mean {v.long_name}"
            assert s.units == m.units == v.units
            assert m.long_name == v.long_name and m.cell_methods == "time: mean"
            assert getattr(m, "standard_name", None) == v.standard_name
        assert np.all(spread["ssm"][0].compressed() >= 0)               # a range is never negative


@pytest.mark.parametrize("dim", ["day", "month"])
def test_table_coordinates_have_units_and_say_what_they_count(tmp_path, dim):
    """vod_calibration.nc and lai_rescaling.nc (``day``: the 365 climatology slots + 1) and cdf_smap.nc
    (``month``) label their coordinates with units "1" (a label, not a duration) and a long_name."""
    from mpilda.climatology import DAYS, day_slot
    from mpilda.config import config_from_text
    from mpilda.obs import tables

    cfg = config_from_text(oc.CONFIG + f"[assimilation]\nol_directory = {tmp_path}\n")
    ctx = tables._Context(cfg, MPI.COMM_SELF)
    size = {"day": DAYS, "month": 12}[dim]
    ctx.write(tables.VOD_FILE, "test", [output.Variable("x", "1", "x", dtype="f8", extra=(dim,), static=True)],
              {"x": np.zeros((size, ctx.local.n_cells))}, {dim: size})
    with netCDF4.Dataset(tmp_path / tables.VOD_FILE) as ds:
        coord = ds[dim]
        units, long_name, values = coord.units, coord.long_name, coord[:].tolist()
    assert units == "1" and long_name and values == list(range(1, size + 1))
    if dim == "day":
        assert "1-365 climatology slot" in long_name and "29 February" in long_name
        # the slot of 31 December is the last coordinate value minus one
        assert day_slot(np.array(["2015-12-31"], dtype="datetime64[D]"))[0] + 1 == size
