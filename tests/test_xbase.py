"""X-BASE-style gridded daily fluxes: writer layout, bilinear reader, units, sea points, periods, inspect.

No real X-BASE sample is public (ICOS login); the files here are written in the documented layout
(data-formats.md section 7) and checked with independent netCDF4 / h5py reads.
"""

import h5py
import netCDF4
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.evaluation import register_detectors, xbase
from mpilda.inspect import inspect_path

GC_DAY = 1e-3 / 86400.0      # gC m-2 d-1 -> kg C m-2 s-1
MM_DAY = 1.0 / 86400.0       # mm d-1 = kg m-2 d-1 -> kg m-2 s-1

LAT = xbase.lattice(40.0, 46.0, 0.25, -90.0)[::-1]       # descending, centres at +-0.125
LON = xbase.lattice(-2.0, 6.0, 0.25, -180.0)


def linear_field(days, a=2.0, b=0.1, c=-0.05):
    """(n_days, ny, nx): a + b lat + c lon + 0.01 day, linear in lat and lon (bilinear is exact on it)."""
    k = np.arange(days.size)[:, None, None]
    return a + b * LAT[None, :, None] + c * LON[None, None, :] + 0.01 * k


def write(tmp_path, variable="GPP", year=2016, values=None, units=None, days=None):
    days = np.arange(np.datetime64(f"{year}-01-01"), np.datetime64(f"{year + 1}-01-01")) if days is None else days
    values = linear_field(days) if values is None else values
    return xbase.write_xbase_file(tmp_path / xbase.file_name(variable, year), variable, days, LAT, LON, values,
                                  units=units), days, values


def test_writer_layout(tmp_path):
    path, _, values = write(tmp_path)
    assert path.name == "GPP_2016_025_daily.nc"
    with netCDF4.Dataset(path) as ds:
        assert ds["GPP"].dimensions == ("time", "lat", "lon")
        assert ds["GPP"].units == "gC m-2 d-1" and ds["GPP"].dtype == np.float32
        assert ds["lat"][0] > ds["lat"][-1] and ds["lat"][0] == pytest.approx(46.125)
        assert ds["lon"][0] == pytest.approx(-2.125) and np.all(np.diff(ds["lon"][:]) > 0)
        assert ds["lat_bnds"].shape == (LAT.size, 2) and ds["land_fraction"].dtype == np.float64
        assert ds.getncattr("crs") == "WGS 84 / Plate Carree"
        assert ds["time"].size == 366
    with h5py.File(path, "r") as f:               # an independent read of the stored bytes
        np.testing.assert_allclose(f["GPP"][10], values[10].astype(np.float32))


def test_reader_bilinear_exact_on_linear_fields_and_converts_units(tmp_path):
    path, days, _ = write(tmp_path)
    lat = np.array([41.0, 42.3, 44.9, 45.875])
    lon = np.array([0.0, -1.3, 5.1, 5.875])
    data = xbase.read_xbase(path, lat, lon)
    assert data.variable == "GPP" and data.source_units == "gC m-2 d-1" and data.units == "kg m-2 s-1"
    np.testing.assert_array_equal(data.days, days)
    k = np.arange(days.size)[:, None]
    expected = (2.0 + 0.1 * lat[None, :] - 0.05 * lon[None, :] + 0.01 * k) * GC_DAY
    np.testing.assert_allclose(data.values, expected, rtol=2e-6)          # float32 storage
    np.testing.assert_allclose(data.land_fraction, 1.0)
    # a period: only those days are read
    part = xbase.read_xbase(path, lat, lon, start="2016-03-01", end=np.datetime64("2016-03-08"))
    assert part.days[0] == np.datetime64("2016-03-01") and part.days.size == 7
    np.testing.assert_allclose(part.values, data.values[60:67])
    # ET in mm d-1
    et_path, _, et_values = write(tmp_path, "ET", units="mm d-1")
    et = xbase.read_xbase(et_path, LAT[3:5], LON[7:9])                   # grid points: the identity
    np.testing.assert_allclose(et.values, np.stack([et_values[:, 3, 7], et_values[:, 4, 8]], 1) * MM_DAY,
                               rtol=1e-6)


def test_reader_accepts_unit_spellings_and_rejects_others(tmp_path):
    for units in ("g C m-2 day-1", "gC/m2/day", "gC m^-2 d^-1"):
        path, _, _ = write(tmp_path, units=units)
        assert xbase.read_xbase(path, [42.0], [1.0]).values[0, 0] == pytest.approx(
            (2.0 + 4.2 - 0.05) * GC_DAY, rel=1e-6)
    path, _, _ = write(tmp_path, units="mm d-1")                   # water units on a carbon variable
    with pytest.raises(InputError, match="units 'mm d-1'"):
        xbase.read_xbase(path, [42.0], [1.0])
    path, _, _ = write(tmp_path, units="W m-2")
    with pytest.raises(InputError, match="expected gC m-2 d-1"):
        xbase.read_xbase(path, [42.0], [1.0])
    path, _, _ = write(tmp_path)
    with pytest.raises(InputError, match="does not cover"):
        xbase.read_xbase(path, [50.0], [1.0])


def test_sea_points_are_left_out_of_the_weights(tmp_path):
    days = np.arange(np.datetime64("2016-01-01"), np.datetime64("2016-01-03"))
    values = np.full((days.size, LAT.size, LON.size), 5.0)
    values[:, :, LON > 3.0] = np.nan                               # "sea" east of 3 E
    path, _, _ = write(tmp_path, values=values, days=days)
    with netCDF4.Dataset(path) as ds:
        assert ds["land_fraction"][0, -1] == 0.0 and ds["land_fraction"][0, 0] == 1.0
    # 2.875 is the last land column, 3.125 the first sea column
    lon = np.array([2.875, 2.875 + 0.25 * 0.4, 2.875 + 0.25 * 0.6, 3.125])
    data = xbase.read_xbase(path, np.full(4, 42.125), lon)
    np.testing.assert_allclose(data.values[0, :2], 5.0 * GC_DAY)   # land weight 1 and 0.6: the land value
    assert np.isnan(data.values[0, 2:]).all()                      # land weight 0.4 < 0.5, and pure sea
    loose = xbase.read_xbase(path, np.full(4, 42.125), lon, min_weight=0.3)
    assert np.isfinite(loose.values[0, 2]) and np.isnan(loose.values[0, 3])


def test_ascending_latitudes_and_periods_over_years(tmp_path):
    d16 = np.arange(np.datetime64("2016-12-20"), np.datetime64("2017-01-01"))
    d17 = np.arange(np.datetime64("2017-01-01"), np.datetime64("2017-01-10"))
    write(tmp_path, year=2016, days=d16, values=linear_field(d16))
    write(tmp_path, year=2017, days=d17, values=linear_field(d17) + 100.0)
    data = xbase.read_xbase_period(tmp_path, "GPP", [43.0], [2.0], "2016-12-30", "2017-01-03")
    np.testing.assert_array_equal(data.days, np.arange(np.datetime64("2016-12-30"), np.datetime64("2017-01-03")))
    base = 2.0 + 4.3 - 0.1
    np.testing.assert_allclose(data.values[:, 0] / GC_DAY, [base + 0.10, base + 0.11, base + 100, base + 100.01],
                               rtol=1e-6)
    with pytest.raises(InputError, match="no NEE_2016"):
        xbase.read_xbase_period(tmp_path, "NEE", [43.0], [2.0], "2016-12-30", "2017-01-03")
    # a file with latitudes ascending reads the same
    flipped = tmp_path / "flipped" / "GPP_2017_025_daily.nc"
    flipped.parent.mkdir()
    with netCDF4.Dataset(tmp_path / "GPP_2017_025_daily.nc") as src, netCDF4.Dataset(flipped, "w") as dst:
        for name, dim in src.dimensions.items():
            dst.createDimension(name, None if dim.isunlimited() else len(dim))
        for name, var in src.variables.items():
            out = dst.createVariable(name, var.dtype, var.dimensions,
                                     fill_value=getattr(var, "_FillValue", None))
            out.setncatts({k: var.getncattr(k) for k in var.ncattrs() if k != "_FillValue"})
            data_ = var[:]
            if "lat" in var.dimensions:
                data_ = np.flip(data_, axis=var.dimensions.index("lat"))
            out[:] = data_
    a = xbase.read_xbase(flipped, [43.1, 44.0], [2.2, -1.0])
    b = xbase.read_xbase(tmp_path / "GPP_2017_025_daily.nc", [43.1, 44.0], [2.2, -1.0])
    np.testing.assert_allclose(a.values, b.values, rtol=1e-12)


def test_inspect_xbase(tmp_path):
    register_detectors()
    path, _, values = write(tmp_path, "NEE")
    out = inspect_path(path)
    assert out["format"] == "xbase-netcdf"
    nee = out["variables"]["nee"]
    v = values.astype(np.float32).astype(np.float64) * GC_DAY
    assert nee["units"] == "kg m-2 s-1" and nee["count"] == v.size
    assert nee["mean"] == pytest.approx(v.mean(), rel=1e-9)
    assert (out["time_start"], out["time_end"]) == ("2016-01-01T00:00:00Z", "2016-12-31T00:00:00Z")
    assert out["grid"]["latitude_descending"] is True
