"""ERA5 hourly single-level forcing read from netCDF files, regridded to the model cells.

Both CDS netCDF dialects are read (reference: shared/reference/data-formats.md section 4):

* legacy CDS (grib_to_netcdf, before ~Sept 2024): ``time`` int32 "hours since 1900-01-01",
  int16 packed with per-file, per-variable ``scale_factor``/``add_offset``, ``_FillValue`` =
  ``missing_value`` = -32767, latitude descending, longitude 0..359.75, optionally an
  ``expver`` dimension (1 = ERA5, 5 = ERA5T) whose slices are merged;
* new CDS (2024+): ``valid_time`` "seconds since 1970-01-01", float32 with NaN fill,
  longitude -180..180, ``number``/``expver`` coordinates or dimensions of length 1.

Times are decoded from each file's ``units`` attribute, packing from each variable's
attributes, and every variable's ``units`` is checked.

The file of hour H is ``H.strftime(pattern)`` with ``{var}`` replaced by the ERA5 short
name, so daily, monthly, one-variable and all-variable files all work.  The model step
starting at ``time`` gets

* instantaneous fields (t2m, sp, the humidity from d2m and sp, the wind speed from u10
  and v10) interpolated linearly in time between the bracketing hours;
* accumulated fields (tp, ssrd, strd: totals over the hour *ending* at the stamp) and their
  mean-rate twins (mtpr, msdwswrf, msdwlwrf) of the stamp floor(time to the hour) + 1 h,
  i.e. constant over that hour: steps 00:00..00:45 all take the 01:00 stamp, so a run over
  whole days needs the 00:00 stamp of the day after its end.

Derived fields (humidity, wind speed, rates) are computed on the ERA5 points and then
interpolated bilinearly to the cells; precipitation is split into rain and snow at the
cells by the interpolated air temperature.  Only the hyperslab of ERA5 points the cells
need (with the bilinear halo) is read, one hour at a time; the fields of the two
bracketing hours are kept, so stepping forward reads every hour once.
"""

from __future__ import annotations

import datetime as dt
import re
import time as _time
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import InputError
from . import VARIABLES
from .regrid import Bilinear, bilinear

UTC = dt.timezone.utc
HOUR = 3600  # s; ERA5 hourly data

#: Expected units of the ERA5 parameters read, normalised by ``normalise_units``
#: (ECMWF parameter database; data-formats.md section 4a).
UNITS = {
    "t2m": "K",                 # 2 m temperature
    "d2m": "K",                 # 2 m dewpoint temperature
    "sp": "Pa",                 # surface pressure
    "u10": "m s-1",             # 10 m eastward wind
    "v10": "m s-1",             # 10 m northward wind
    "tp": "m",                  # total precipitation, accumulated over the hour ending at the stamp
    "mtpr": "kg m-2 s-1",       # mean total precipitation rate over that hour
    "ssrd": "J m-2",            # surface solar radiation downwards, accumulated over the hour
    "strd": "J m-2",            # surface thermal radiation downwards, accumulated over the hour
    "msdwswrf": "W m-2",        # mean surface downward short-wave radiation flux
    "msdwlwrf": "W m-2",        # mean surface downward long-wave radiation flux
}

#: Instantaneous ERA5 parameters, read at every hour bracketing a step.
INSTANT = ("t2m", "d2m", "sp", "u10", "v10")

#: Hour-mean forcing: the ERA5 alternatives of each (first found is used) and the factor to SI:
#: an accumulation over 3600 s becomes a mean rate by / 3600; precipitation in m of water becomes
#: kg m-2 by * 1000 (density of water, kg m-3).  Each is clipped at 0 after unpacking, since packing
#: turns true zeros into tiny negatives (data-formats.md 4a).
ACCUMULATED = {
    "precipitation": (("tp", 1000.0 / HOUR), ("mtpr", 1.0)),
    "swdown": (("ssrd", 1.0 / HOUR), ("msdwswrf", 1.0)),
    "lwdown": (("strd", 1.0 / HOUR), ("msdwlwrf", 1.0)),
}

_LAT_NAMES = ("latitude", "lat")
_LON_NAMES = ("longitude", "lon")
_TIME_NAMES = ("valid_time", "time")


# ---------------------------------------------------------------------------
# Physics and units
# ---------------------------------------------------------------------------

def specific_humidity(dewpoint: np.ndarray, pressure: np.ndarray) -> np.ndarray:
    """Specific humidity [kg kg-1] from 2 m dewpoint [K] and surface pressure [Pa], any shape.

    Vapour pressure over water e = 611.2 exp(17.67 (Td - 273.15) / (Td - 29.65)) Pa (Bolton 1980),
    q = 0.622 e / (p - 0.378 e), 0.622 the ratio of the gas constants of dry air and water vapour and
    0.378 = 1 - 0.622 (data-formats.md section 4, "Accumulations and derived forcing").
    """
    td = np.asarray(dewpoint, dtype=np.float64)
    e = 611.2 * np.exp(17.67 * (td - 273.15) / (td - 29.65))
    return 0.622 * e / (np.asarray(pressure, dtype=np.float64) - 0.378 * e)


_UNIT_ALIASES = {"m/s": "m s-1", "kelvin": "K", "degK": "K", "(0 - 1)": "1", "0-1": "1", "~": "1",
                 "dimensionless": "1", "kg/kg": "kg kg-1", "W/m2": "W m-2", "J/m2": "J m-2",
                 "m3/m3": "m3 m-3", "kg m-2 s-1": "kg m-2 s-1"}


def normalise_units(units: object) -> str:
    """One spelling of a units string: ``m s**-1``, ``m s^-1`` and ``m s-1`` all give ``m s-1``."""
    text = " ".join(str(units).replace("**", "").replace("^", "").split())
    return _UNIT_ALIASES.get(text, text)


# ---------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------

_SECONDS = {"second": 1, "seconds": 1, "sec": 1, "secs": 1, "s": 1,
            "minute": 60, "minutes": 60, "min": 60, "mins": 60,
            "hour": 3600, "hours": 3600, "hr": 3600, "hrs": 3600, "h": 3600,
            "day": 86400, "days": 86400, "d": 86400}
_UNITS_SINCE = re.compile(
    r"^\s*(\w+)\s+since\s+(\d{1,4})-(\d{1,2})-(\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}(?:\.\d*)?))?)?\s*(?:Z|UTC|GMT|[+-]00(?::?00)?)?\s*$", re.IGNORECASE)
_CALENDARS = ("standard", "gregorian", "proleptic_gregorian")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def decode_times(values: np.ndarray, units: str, calendar: str | None, where: str) -> np.ndarray:
    """(nt,) int64 seconds since 1970-01-01 UTC of CF times ``values`` in ``units`` ("<unit> since <date>").

    Only the standard (Gregorian) calendar, in which ERA5 is given, is accepted; times must be
    whole seconds.  ``where`` names the file and variable in errors.
    """
    m = _UNITS_SINCE.match(str(units))
    if not m or m.group(1).lower() not in _SECONDS:
        raise InputError(f"{where}: time units {units!r}; expected '<seconds|minutes|hours|days> since <date>'")
    if calendar is not None and str(calendar).lower() not in _CALENDARS:
        raise InputError(f"{where}: calendar {calendar!r}; expected one of {', '.join(_CALENDARS)}")
    year, month, day = (int(m.group(i)) for i in (2, 3, 4))
    hour, minute = int(m.group(5) or 0), int(m.group(6) or 0)
    second = float(m.group(7) or 0)
    ref = dt.datetime(year, month, day, hour, minute, tzinfo=UTC) + dt.timedelta(seconds=second)
    offset = (ref - _EPOCH) // dt.timedelta(seconds=1)
    seconds = np.asarray(values, dtype=np.float64) * _SECONDS[m.group(1).lower()]
    whole = np.round(seconds)
    if np.any(~np.isfinite(seconds)) or np.any(np.abs(seconds - whole) > 1e-3):
        raise InputError(f"{where}: times are not finite whole seconds")
    return whole.astype(np.int64) + offset


def iso(seconds: int) -> str:
    """ISO 8601 UTC text ("2020-01-01T00:00:00Z") of seconds since 1970-01-01."""
    return (_EPOCH + dt.timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


def epoch_seconds(time: dt.datetime) -> int:
    """Whole seconds since 1970-01-01 UTC of an aware datetime."""
    if time.tzinfo is None or time.utcoffset() is None:
        raise ValueError(f"{time!r}: expected an aware (UTC) datetime")
    delta = time - _EPOCH
    if delta % dt.timedelta(seconds=1):
        raise ValueError(f"{time.isoformat()}: expected whole seconds")
    return delta // dt.timedelta(seconds=1)


# ---------------------------------------------------------------------------
# One file
# ---------------------------------------------------------------------------

class Field:
    """One data variable of an ERA5 file, read unpacked as float64 with NaN where missing.

    Its dimensions are the file's time, latitude and longitude, plus any of length 1 (``number``),
    ``expver`` (merged: the first non-missing value along it) and others selected by index.
    """

    def __init__(self, file: "Era5File", name: str):
        if name not in file.ds.variables:
            held = ", ".join(file.data_names()) or "no data variable"
            raise InputError(f"{file.path}: no variable {name}; the file holds {held}")
        var = file.ds.variables[name]
        var.set_auto_maskandscale(False)
        self.file, self.name, self.var = file, name, var
        self.dims = var.dimensions
        self.shape = var.shape
        for dim in (file.time_dim, file.lat_dim, file.lon_dim):
            if dim not in self.dims:
                raise InputError(f"{file.path}: variable {name} has dimensions {self.dims}; expected "
                                 f"({file.time_dim}, {file.lat_dim}, {file.lon_dim})")
        attrs = {a: var.getncattr(a) for a in var.ncattrs()}
        self.units = attrs.get("units")
        self.scale = float(attrs.get("scale_factor", 1.0))
        self.offset = float(attrs.get("add_offset", 0.0))
        fills = []
        for key in ("_FillValue", "missing_value"):
            for value in np.ravel(attrs.get(key, [])):
                if not np.isnan(value):
                    fills.append(value)
        self.fills = tuple(dict.fromkeys(fills))

    def check_units(self, expected: str) -> None:
        """InputError unless the variable's units are ``expected`` (after normalising both)."""
        found = normalise_units(self.units) if self.units is not None else None
        if found != normalise_units(expected):
            raise InputError(f"{self.file.path}: variable {self.name} has units {self.units!r}; expected {expected!r}")

    def extra_dims(self) -> dict[str, int]:
        """Dimensions other than time, latitude and longitude, with their lengths."""
        f = self.file
        return {d: n for d, n in zip(self.dims, self.shape) if d not in (f.time_dim, f.lat_dim, f.lon_dim)}

    def read(self, time: int | slice, rows: slice, cols: slice, select: dict[str, int] | None = None) -> np.ndarray:
        """Values (rows, cols), or (times, rows, cols) for a time slice, float64 with NaN where missing.

        ``select`` gives the index of extra dimensions longer than 1 (other than ``expver``),
        e.g. {"level": 21}.
        """
        f = self.file
        select = select or {}
        index, kept = [], []
        for dim, n in zip(self.dims, self.shape):
            if dim == f.time_dim:
                index.append(time)
                if isinstance(time, slice):
                    kept.append(dim)
            elif dim == f.lat_dim:
                index.append(rows)
                kept.append(dim)
            elif dim == f.lon_dim:
                index.append(cols)
                kept.append(dim)
            elif dim in select:
                index.append(select[dim])
            elif n == 1:
                index.append(0)
            elif dim == "expver":
                index.append(slice(None))
                kept.append(dim)
            else:
                raise InputError(f"{f.path}: variable {self.name} has a dimension {dim} of length {n}; "
                                 f"expected single-level data (time, latitude, longitude)")
        raw = np.asarray(self.var[tuple(index)])
        out = raw.astype(np.float64)
        if self.scale != 1.0:
            out *= self.scale
        if self.offset != 0.0:
            out += self.offset
        if self.fills:
            missing = raw == self.fills[0]
            for value in self.fills[1:]:
                missing |= raw == value
            out[missing] = np.nan
        if "expver" in kept:
            # ERA5 and ERA5T slices: at every time one holds the data, the other fill
            axis = kept.index("expver")
            merged = np.take(out, 0, axis=axis)
            for k in range(1, out.shape[axis]):
                merged = np.where(np.isnan(merged), np.take(out, k, axis=axis), merged)
            out = merged
            kept.remove("expver")
        order = [d for d in kept if d == f.time_dim] + [f.lat_dim, f.lon_dim]
        if kept != order:
            out = np.transpose(out, [kept.index(d) for d in order])
        return out


class Era5File:
    """An open ERA5 netCDF file (either CDS dialect): its times, grid and fields.

    Attributes:
        times: (nt,) int64 seconds since 1970-01-01 UTC, strictly increasing.
        lat, lon: (ny,), (nx,) float64 grid coordinates as stored [degrees].
        dialect: "legacy-cds" (``time``) or "new-cds" (``valid_time``).
    """

    def __init__(self, path: str | Path):
        import netCDF4

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such file")
        try:
            self.ds = netCDF4.Dataset(self.path)
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable netCDF file ({exc})") from None
        try:
            self._read_coordinates()
        except BaseException:
            self.ds.close()
            raise
        self._fields: dict[str, Field] = {}
        self.box: Bilinear | None = None  # set by the reader: the regridding of this file's grid

    def _read_coordinates(self) -> None:
        variables = self.ds.variables
        time_name = next((n for n in _TIME_NAMES if n in variables and variables[n].ndim == 1), None)
        if time_name is None:
            raise InputError(f"{self.path}: no time coordinate (expected one of {', '.join(_TIME_NAMES)})")
        self.dialect = "new-cds" if time_name == "valid_time" else "legacy-cds"
        tvar = variables[time_name]
        tvar.set_auto_maskandscale(False)
        self.time_dim = tvar.dimensions[0]
        self.times = decode_times(tvar[:], getattr(tvar, "units", ""), getattr(tvar, "calendar", None),
                                  f"{self.path}: {time_name}")
        step = np.diff(self.times)
        if np.any(step <= 0):
            k = int(np.flatnonzero(step <= 0)[0])
            how = "repeats" if step[k] == 0 else "comes before"
            raise InputError(f"{self.path}: time {iso(self.times[k + 1])} {how} {iso(self.times[k])}; "
                             f"times must be strictly increasing (duplicated or unordered times)")
        self.lat_dim, self.lat = self._coordinate(_LAT_NAMES, "latitude")
        self.lon_dim, self.lon = self._coordinate(_LON_NAMES, "longitude")

    def _coordinate(self, names: Sequence[str], what: str) -> tuple[str, np.ndarray]:
        for name in names:
            var = self.ds.variables.get(name)
            if var is not None and var.ndim == 1:
                var.set_auto_maskandscale(False)
                values = np.asarray(var[:], dtype=np.float64)
                if not np.all(np.isfinite(values)):
                    raise InputError(f"{self.path}: {name} holds missing values")
                return var.dimensions[0], values
        raise InputError(f"{self.path}: no {what} coordinate (expected one of {', '.join(names)})")

    def data_names(self) -> list[str]:
        """Names of the variables on the (time, latitude, longitude) grid, in file order."""
        dims = {self.time_dim, self.lat_dim, self.lon_dim}
        return [n for n, v in self.ds.variables.items() if dims <= set(v.dimensions)]

    def field(self, name: str) -> Field:
        """The data variable ``name`` (InputError when absent)."""
        if name not in self._fields:
            self._fields[name] = Field(self, name)
        return self._fields[name]

    def index(self, seconds: int, what: str = "") -> int:
        """Index of the time ``seconds`` (since 1970) in the file; InputError when it is not there."""
        k = int(np.searchsorted(self.times, seconds))
        if k < self.times.size and self.times[k] == seconds:
            return k
        for_what = f" (needed for {what})" if what else ""
        if self.times.size and self.times[0] < seconds < self.times[-1]:
            raise InputError(f"{self.path}: no data at {iso(seconds)}{for_what}: a gap between "
                             f"{iso(self.times[k - 1])} and {iso(self.times[k])}")
        span = f"{iso(self.times[0])}..{iso(self.times[-1])}" if self.times.size else "no time"
        raise InputError(f"{self.path}: no data at {iso(seconds)}{for_what}; the file holds {span}")

    def close(self) -> None:
        self.ds.close()


# ---------------------------------------------------------------------------
# The forcing reader
# ---------------------------------------------------------------------------

#: Hours of a variable read from a file at once.
READ_AHEAD = 24


class Era5Forcing:
    """ERA5 forcing of the model steps at n target points (implements ``mpilda.forcing.Forcing``).

    Args:
        pattern: path of the ERA5 files with strftime codes (%Y, %m, %d, %H) and optionally ``{var}``
            for the ERA5 short name (e.g. ``era5/ERA5_%Y-%m-%d_{var}.nc`` or ``era5/era5_%Y%m.nc``);
            a sequence of patterns is searched in order for every variable (e.g. the new CDS's
            ``..._stepType-instant.nc`` and ``..._stepType-accum.nc``).
        lat, lon: (n,) target latitudes and longitudes [degrees] (model cell centres).
        timestep: model step [s], a divisor of 3600.
        snow_temperature: precipitation is snow where the air temperature is below this [K].

    The files are opened as needed and kept open (at most ``MAX_OPEN_FILES``); call ``close()``
    or use the reader as a context manager.
    """

    #: Open files kept: one file per variable (8) for the two days around midnight.
    MAX_OPEN_FILES = 16

    def __init__(self, pattern: str | Path | Sequence[str | Path], lat, lon, timestep: int,
                 snow_temperature: float):
        patterns = [pattern] if isinstance(pattern, (str, Path)) else list(pattern)
        if not patterns:
            raise ValueError("no ERA5 file pattern")
        self.patterns = [str(p) for p in patterns]
        self.lat = np.asarray(lat, dtype=np.float64).ravel()
        self.lon = np.asarray(lon, dtype=np.float64).ravel()
        if self.lat.shape != self.lon.shape:
            raise ValueError(f"lat {self.lat.shape} and lon {self.lon.shape} differ in shape")
        if not (isinstance(timestep, (int, np.integer)) and 0 < timestep <= HOUR and HOUR % timestep == 0):
            raise ValueError(f"timestep {timestep!r}: expected a divisor of 3600 s")
        self.timestep = int(timestep)
        self.snow_temperature = float(snow_temperature)
        self._files: OrderedDict[Path, Era5File] = OrderedDict()
        self._boxes: dict[tuple[bytes, bytes], Bilinear] = {}
        self._hours: dict[tuple[int, str], dict[str, np.ndarray]] = {}
        #: name -> (file, {time: row}, hyperslabs (n_hours, rows, cols), (n_hours,) missing values): read ahead
        self._ahead: dict[str, tuple[Era5File, int, np.ndarray]] = {}
        self._chosen: dict[str, str] = {}  # quantity -> the ERA5 parameter found for it
        #: (quantity, names, the patterns' names of an hour) -> (open file, parameter): ``_locate``'s results
        self._located: dict[tuple, tuple[Era5File, str]] = {}
        #: Seconds spent reading hyperslabs from the files (the benchmarks' I/O share).
        self.read_seconds = 0.0

    # -- the Forcing protocol -------------------------------------------------

    def at(self, time: dt.datetime) -> dict[str, np.ndarray]:
        """Forcing of the step starting at ``time`` (aware UTC): {name: (n,) float64} as ``VARIABLES``."""
        t = epoch_seconds(time)
        if t % self.timestep:
            raise ValueError(f"{time.isoformat()}: not the start of a {self.timestep} s model step")
        h0 = t - t % HOUR
        for key in [k for k in self._hours if k[0] < h0]:
            del self._hours[key]
        frac = (t - h0) / HOUR
        before = self._hour(h0, "instant")
        if frac:
            after = self._hour(h0 + HOUR, "instant")
            inst = {k: before[k] + frac * (after[k] - before[k]) for k in before}
        else:
            inst = {k: v.copy() for k, v in before.items()}
        mean = self._hour(h0 + HOUR, "accumulated")
        snow = inst["tair"] < self.snow_temperature
        precipitation = mean["precipitation"]
        out = {
            "swdown": mean["swdown"].copy(),
            "lwdown": mean["lwdown"].copy(),
            "tair": inst["tair"],
            "qair": inst["qair"],
            "psurf": inst["psurf"],
            "wind": inst["wind"],
            "rainf": np.where(snow, 0.0, precipitation),
            "snowf": np.where(snow, precipitation, 0.0),
        }
        assert tuple(out) == tuple(VARIABLES)
        return out

    def close(self) -> None:
        """Close every open file."""
        while self._files:
            self._files.popitem(last=False)[1].close()
        self._hours.clear()
        self._ahead.clear()
        self._located.clear()

    def __enter__(self) -> "Era5Forcing":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one hour ---------------------------------------------------------------

    def _hour(self, hour: int, kind: str) -> dict[str, np.ndarray]:
        """The target values of one ERA5 hour, "instant" or "accumulated" fields, cached."""
        key = (hour, kind)
        if key not in self._hours:
            self._hours[key] = self._read_instant(hour) if kind == "instant" else self._read_accumulated(hour)
        return self._hours[key]

    def _read_instant(self, hour: int) -> dict[str, np.ndarray]:
        blocks, boxes = {}, {}
        for name in INSTANT:
            blocks[name], boxes[name] = self._read(name, (name,), hour)
        for a, b in (("d2m", "sp"), ("u10", "v10")):
            if boxes[a] is not boxes[b]:
                raise InputError(f"{self._where(a, hour)} and {self._where(b, hour)}: {a} and {b} are on different "
                                 f"grids; they are combined point by point and must share one")
        return {
            "tair": boxes["t2m"].apply(blocks["t2m"]),
            "psurf": boxes["sp"].apply(blocks["sp"]),
            "qair": boxes["sp"].apply(specific_humidity(blocks["d2m"], blocks["sp"])),
            "wind": boxes["u10"].apply(np.hypot(blocks["u10"], blocks["v10"])),
        }

    def _read_accumulated(self, hour: int) -> dict[str, np.ndarray]:
        out = {}
        for quantity, alternatives in ACCUMULATED.items():
            names = tuple(name for name, _ in alternatives)
            block, box = self._read(quantity, names, hour)
            factor = dict(alternatives)[self._chosen[quantity]]
            out[quantity] = box.apply(np.maximum(block, 0.0) * factor)
        return out

    def _read(self, quantity: str, names: tuple[str, ...], hour: int) -> tuple[np.ndarray, Bilinear]:
        """The hyperslab (rows, cols) of ``quantity`` (first of ``names`` found) at ``hour``, and its regridding."""
        file, name = self._locate(quantity, names, hour)
        box = self._box(file)
        cached = self._ahead.get(name)
        if cached is not None and cached[0] is file and hour in cached[1]:
            row = cached[1][hour]                  # read ahead, units checked, missing values flagged
        else:
            field = file.field(name)
            field.check_units(UNITS[name])
            cached = self._read_ahead(name, file, file.index(hour, f"{name} at {iso(hour)}"), box, field)
            row = 0
        block = cached[2][row]
        if cached[3][row]:
            missing = np.isnan(block)
            lat, lon = box.where(int(np.argmax(missing)))
            raise InputError(f"{file.path}: {name} at {iso(hour)} is missing (NaN or fill value) at lat={lat:g}, "
                             f"lon={lon:g} ({int(missing.sum())} points of the area the model cells need)")
        return block, box

    def _read_ahead(self, name: str, file: "Era5File", k: int, box: Bilinear, field) -> tuple:
        """The hyperslabs of ``name`` from index ``k`` of ``file`` on, up to READ_AHEAD hours, which the
        next steps need: one netCDF read per day, not per hour.  Kept as (file, {time: row},
        hyperslabs (n_hours, rows, cols), (n_hours,) whether an hour misses values)."""
        stop = min(k + READ_AHEAD, file.times.size)
        t0 = _time.perf_counter()
        hours = box.read(lambda rows, cols: field.read(slice(k, stop), rows, cols))
        self.read_seconds += _time.perf_counter() - t0
        rows = {int(t): i for i, t in enumerate(file.times[k:stop])}
        self._ahead[name] = (file, rows, hours, np.isnan(hours).any(axis=(1, 2)))
        return self._ahead[name]

    def _locate(self, quantity: str, names: tuple[str, ...], hour: int) -> tuple[Era5File, str]:
        """The open file holding ``quantity`` at ``hour``: the first of ``names`` found (then always that one)."""
        if quantity in self._chosen:
            names = (self._chosen[quantity],)
        when = dt.datetime.fromtimestamp(hour, UTC)
        # the files are named by the hour's strftime codes: a name seen before maps to the same open file
        stamp = (quantity, names, tuple(when.strftime(p) for p in self.patterns))
        found = self._located.get(stamp)
        if found is not None:
            return found
        found = self._search(quantity, names, hour, when)
        self._located[stamp] = found
        return found

    def _search(self, quantity: str, names: tuple[str, ...], hour: int, when: dt.datetime) -> tuple[Era5File, str]:
        """``_locate`` by opening the files the patterns name."""
        absent: list[Path] = []
        lacking: dict[Path, Era5File] = {}  # files found without the variable
        for name in names:
            for pattern in self.patterns:
                path = Path(when.strftime(pattern).replace("{var}", name))
                if path in absent:
                    continue
                file = self._open(path)
                if file is None:
                    absent.append(path)
                elif name in file.ds.variables:
                    self._chosen[quantity] = name
                    return file, name
                else:
                    lacking[path] = file
        wanted = " or ".join(names)
        if lacking:
            held = ", ".join(next(iter(lacking.values())).data_names()) or "no data variable"
            raise InputError(f"{', '.join(map(str, lacking))}: no variable {wanted} (needed at {iso(hour)}); "
                             f"the file holds {held}")
        raise InputError(f"{', '.join(map(str, absent))}: no such file (ERA5 {wanted} at {iso(hour)}, "
                         f"file pattern {' / '.join(self.patterns)})")

    def _open(self, path: Path) -> Era5File | None:
        """The open file at ``path`` (opened now if needed), or None when there is no such file."""
        if path in self._files:
            self._files.move_to_end(path)
            return self._files[path]
        if not path.is_file():
            return None
        file = Era5File(path)
        self._files[path] = file
        while len(self._files) > self.MAX_OPEN_FILES:
            self._files.popitem(last=False)[1].close()
            self._located.clear()
        return file

    def _box(self, file: Era5File) -> Bilinear:
        """The regridding of a file's grid to the targets (one per distinct grid)."""
        if file.box is None:
            key = (file.lat.tobytes(), file.lon.tobytes())
            if key not in self._boxes:
                self._boxes[key] = bilinear(file.lat, file.lon, self.lat, self.lon, source=str(file.path))
            file.box = self._boxes[key]
        return file.box

    def _where(self, name: str, hour: int) -> str:
        return str(self._locate(name, (name,), hour)[0].path)

