"""Small ERA5-style netCDF files written for the tests, in both CDS dialects.

Written directly with netCDF4 and packed here (not through mpilda), so the reader is tested
against files it did not make.
"""

import datetime as dt

import netCDF4
import numpy as np

UTC = dt.timezone.utc

#: Units as the CDS writes them.
CDS_UNITS = {"t2m": "K", "d2m": "K", "sp": "Pa", "u10": "m s**-1", "v10": "m s**-1", "tp": "m",
             "ssrd": "J m**-2", "strd": "J m**-2", "mtpr": "kg m**-2 s**-1", "msdwswrf": "W m**-2",
             "msdwlwrf": "W m**-2"}


def hours(start, n, step=1):
    """n aware UTC datetimes from ``start`` every ``step`` hours."""
    return [start + dt.timedelta(hours=step * k) for k in range(n)]


def write_legacy(path, times, lat, lon, fields, units=None, expver=None):
    """A legacy-CDS file: int16 packed, time in hours since 1900, dims (time, [expver,] latitude, longitude).

    fields: {name: (nt, ny, nx) array, NaN where missing} (or (nt, n_expver, ny, nx) with expver).
    """
    units = {**CDS_UNITS, **(units or {})}
    with netCDF4.Dataset(path, "w", format="NETCDF3_64BIT_OFFSET") as ds:
        ds.history = "test file in the layout of grib_to_netcdf"
        ds.createDimension("longitude", len(lon))
        ds.createDimension("latitude", len(lat))
        if expver is not None:
            ds.createDimension("expver", len(expver))
            ds.createVariable("expver", "i4", ("expver",))[:] = expver
        ds.createDimension("time", len(times))
        v = ds.createVariable("longitude", "f4", ("longitude",))
        v.units = "degrees_east"
        v[:] = lon
        v = ds.createVariable("latitude", "f4", ("latitude",))
        v.units = "degrees_north"
        v[:] = lat
        v = ds.createVariable("time", "i4", ("time",))
        v.units, v.calendar = "hours since 1900-01-01 00:00:00.0", "gregorian"
        epoch = dt.datetime(1900, 1, 1, tzinfo=UTC)
        v[:] = [round((t - epoch).total_seconds() / 3600) for t in times]
        dims = ("time", "expver", "latitude", "longitude") if expver is not None else ("time", "latitude", "longitude")
        for name, values in fields.items():
            values = np.asarray(values, dtype=np.float64)
            lo, hi = np.nanmin(values), np.nanmax(values)
            # grib_to_netcdf's packing: the range onto -32766..32766, -32767 left for the fill value
            scale = (hi - lo) / 65532.0 if hi > lo else 1.0
            offset = (hi + lo) / 2.0
            packed = np.where(np.isnan(values), -32767, np.round((np.nan_to_num(values) - offset) / scale))
            var = ds.createVariable(name, "i2", dims, fill_value=np.int16(-32767))
            var.scale_factor, var.add_offset = scale, offset
            var.missing_value = np.int16(-32767)
            var.units = units[name]
            var.set_auto_maskandscale(False)
            var[:] = packed.astype(np.int16)


def write_new_cds(path, times, lat, lon, fields, units=None):
    """A new-CDS file: float32 with NaN fill, valid_time in seconds since 1970, a `number` dimension of length 1.

    Data dims (number, valid_time, latitude, longitude); `expver` a string coordinate along valid_time.
    """
    units = {**CDS_UNITS, **(units or {})}
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.GRIB_centre = "ecmf"
        ds.createDimension("number", 1)
        ds.createDimension("valid_time", len(times))
        ds.createDimension("latitude", len(lat))
        ds.createDimension("longitude", len(lon))
        ds.createVariable("number", "i8", ("number",))[:] = [0]
        v = ds.createVariable("valid_time", "i8", ("valid_time",))
        v.units, v.calendar = "seconds since 1970-01-01", "proleptic_gregorian"
        v[:] = [int(t.timestamp()) for t in times]
        v = ds.createVariable("expver", str, ("valid_time",))
        for k in range(len(times)):
            v[k] = "0001"
        v = ds.createVariable("latitude", "f8", ("latitude",))
        v.units = "degrees_north"
        v[:] = lat
        v = ds.createVariable("longitude", "f8", ("longitude",))
        v.units = "degrees_east"
        v[:] = lon
        for name, values in fields.items():
            var = ds.createVariable(name, "f4", ("number", "valid_time", "latitude", "longitude"),
                                    fill_value=np.float32(np.nan), zlib=True)
            var.units = units[name]
            var.GRIB_paramId = 0
            var[0] = np.asarray(values, dtype=np.float32)
