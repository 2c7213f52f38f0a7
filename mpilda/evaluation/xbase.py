"""X-BASE / FLUXCOM-X-style gridded daily fluxes (netCDF): reader bilinear to cell centres, and writer.

Layout (data-formats.md section 7; no real sample was available, so the details marked
"unverified" there are handled generically and read from the file where possible):

* one file per variable and year, ``{VAR}_{YYYY}_025_daily.nc`` (VAR = GPP, NEE, ET, ET_T);
* dims ``(time, lat, lon)``; ``lat`` descending (either order is accepted), ``lon`` ascending
  from -180 (any convention accepted: :mod:`mpilda.forcing.regrid`); ``land_fraction(lat, lon)``,
  ``lat_bnds``, ``lon_bnds``; data float32 with a ``_FillValue`` (or NaN) over the sea;
* units read from the variable's ``units``: GPP and NEE in gC m-2 d-1, ET in mm d-1
  (converted to kg C m-2 s-1 and kg m-2 s-1); NEE positive = source to the atmosphere.

The reader interpolates bilinearly to the caller's cell centres (paper section 2.6.2) and
reads only the hyperslab the targets need (rows, column pieces, and the requested days).
Source points without a value (sea) are left out of a target's weighted mean and the other
weights renormalised; a target keeps a value only when the valid weights sum to at least
``min_weight`` (default 0.5), so coastal cells are not lost but a cell mostly surrounded by
sea gets none.  On a 0.25 degree model grid the X-BASE points coincide with the cell centres
and the interpolation is the identity.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..forcing.regrid import Bilinear, bilinear
from ..summary import Stats

NAME_RE = re.compile(r"^(?P<var>[A-Za-z_]+?)_(?P<year>\d{4})_(?P<agg>\w+)\.nc$")
VARIABLES = ("GPP", "NEE", "ET", "ET_T")
CARBON = ("GPP", "NEE")
#: Units of the files written by :func:`write_xbase_file` for the synthetic world (data-formats.md s.7).
FILE_UNITS = {"GPP": "gC m-2 d-1", "NEE": "gC m-2 d-1", "ET": "mm d-1", "ET_T": "mm d-1"}
#: Normalised units (lower case, no spaces, 'day' -> 'd', '/x' -> 'x-1') -> (factor to SI, SI units, kind).
#: 1 mm of water over 1 m2 is 1 kg (density of water 1000 kg m-3); 1 d = 86400 s.
_UNITS = {
    "gcm-2d-1": (1e-3 / 86400.0, "kg m-2 s-1", "carbon"),
    "gm-2d-1": (1e-3 / 86400.0, "kg m-2 s-1", "carbon"),
    "gcm-2s-1": (1e-3, "kg m-2 s-1", "carbon"),
    "kgcm-2s-1": (1.0, "kg m-2 s-1", "carbon"),
    "mmd-1": (1.0 / 86400.0, "kg m-2 s-1", "water"),
    "kgm-2d-1": (1.0 / 86400.0, "kg m-2 s-1", "water"),
    "mms-1": (1.0, "kg m-2 s-1", "water"),
    "kgm-2s-1": (1.0, "kg m-2 s-1", "any"),
}
#: Days read per chunk (bounds the memory of the (days, 4, n) gather to ~100 MB on the paper grid).
_CHUNK_DAYS = 32
#: Default least sum of the valid bilinear weights of a target.
MIN_WEIGHT = 0.5


def file_name(variable: str, year: int, aggregation: str = "025_daily") -> str:
    """``{VAR}_{YYYY}_025_daily.nc``."""
    return f"{variable}_{year:04d}_{aggregation}.nc"


def _normalise_units(units: str) -> str:
    u = units.strip().lower().replace("**", "").replace("^", "").replace("day", "d")
    u = re.sub(r"/\s*(m2)", r" m-2", u)
    u = re.sub(r"/\s*([a-z]+)\b", r" \1-1", u)
    return u.replace(" ", "")


def si_factor(units: str | None, variable: str, where) -> float:
    """Factor from a file's units to kg m-2 s-1 for ``variable`` (GPP/NEE carbon, ET water)."""
    if units is None:
        raise InputError(f"{where}: variable {variable} has no units attribute (expected gC m-2 d-1 or mm d-1)")
    known = _UNITS.get(_normalise_units(units))
    kind = "carbon" if variable.upper() in CARBON else "water" if variable.upper().startswith("ET") else None
    if known is None or (kind and known[2] not in (kind, "any")):
        expected = "gC m-2 d-1" if kind == "carbon" else "mm d-1" if kind == "water" else "gC m-2 d-1 or mm d-1"
        raise InputError(f"{where}: variable {variable} has units {units!r}; expected {expected} "
                         "(or kg m-2 s-1)")
    return known[0]


@dataclass(eq=False)
class XbaseData:
    """Fluxes of one variable at the caller's cells.

    Attributes:
        variable: 'GPP', 'NEE', 'ET' ...; source_units: units in the file.
        days: (n_days,) datetime64[D]; values: (n_days, n) SI mean rates [kg m-2 s-1] (NaN: no value).
        land_fraction: (n,) bilinear land fraction at the cells (NaN if the file has none).
        source: the file(s).
    """

    variable: str
    days: np.ndarray
    values: np.ndarray
    land_fraction: np.ndarray
    source_units: str
    source: str
    units: str = "kg m-2 s-1"


def _coordinate(ds, names, where, what) -> tuple[str, np.ndarray]:
    for n in names:
        if n in ds.variables:
            return n, np.asarray(ds.variables[n][:], dtype=np.float64)
    raise InputError(f"{where}: no {what} coordinate (looked for {', '.join(names)})")


def _data_name(ds, variable: str | None, where, lat_name: str, lon_name: str) -> str:
    if variable is not None:
        if variable not in ds.variables:
            raise InputError(f"{where}: no variable {variable}")
        return variable
    parsed = NAME_RE.match(Path(str(where)).name)
    if parsed and parsed["var"] in ds.variables:
        return parsed["var"]
    names = [n for n, v in ds.variables.items() if v.ndim == 3 and v.dimensions[1:] == (lat_name, lon_name)]
    if len(names) != 1:
        raise InputError(f"{where}: cannot tell the data variable (3-D variables on {lat_name}, {lon_name}: "
                         f"{', '.join(names) or 'none'})")
    return names[0]


_SECONDS = {"days": 86400, "day": 86400, "d": 86400, "hours": 3600, "hour": 3600, "h": 3600,
            "minutes": 60, "minute": 60, "seconds": 1, "second": 1, "s": 1}


def _days(ds, where) -> np.ndarray:
    """(n,) datetime64[D] days of the time coordinate (CF "<unit> since <date>", standard calendars)."""
    if "time" not in ds.variables:
        raise InputError(f"{where}: no time coordinate")
    t = ds.variables["time"]
    units = getattr(t, "units", None)
    calendar = str(getattr(t, "calendar", "standard")).lower()
    m = re.match(r"^\s*(\w+)\s+since\s+(\d{1,4}-\d{1,2}-\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d*)?))?)?",
                 str(units or ""))
    if m is None or m[1].lower() not in _SECONDS or calendar not in ("standard", "gregorian", "proleptic_gregorian"):
        raise InputError(f"{where}: time units {units!r} (calendar {calendar}): expected '<days|hours|...> since "
                         "YYYY-MM-DD[ hh:mm:ss]' on the standard calendar")
    y, mo, d = (int(x) for x in m[2].split("-"))
    base = np.datetime64(f"{y:04d}-{mo:02d}-{d:02d}", "s") + np.timedelta64(
        int(m[3] or 0) * 3600 + int(m[4] or 0) * 60 + int(float(m[5] or 0)), "s")
    seconds = np.rint(np.asarray(t[:], dtype=np.float64) * _SECONDS[m[1].lower()]).astype(np.int64)
    return (base + seconds.astype("timedelta64[s]")).astype("datetime64[D]")


def _apply(b: Bilinear, block: np.ndarray, min_weight: float) -> np.ndarray:
    """Bilinear values (..., n) from a hyperslab (..., rows, cols), leaving out source points without a value."""
    flat = block.reshape(block.shape[:-2] + (-1,))
    g = flat[..., b.index]                                        # (..., 4, n)
    ok = np.isfinite(g)
    w = np.where(ok, b.weights, 0.0)
    wsum = w.sum(axis=-2)
    total = (np.where(ok, g, 0.0) * w).sum(axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(wsum >= min_weight - 1e-12, total / np.where(wsum > 0, wsum, 1.0), np.nan)


def read_xbase(path: str | Path, lat, lon, start=None, end=None, variable: str | None = None,
               min_weight: float = MIN_WEIGHT) -> XbaseData:
    """Read one X-BASE-style daily file at cell centres.

    Args:
        path: the netCDF file.
        lat, lon: (n,) cell-centre latitudes and longitudes [degrees].
        start, end: first day and end day (exclusive) to read (datetime64, date or ISO text); None: all.
        variable: the data variable (default: from the file name, else the only 3-D (time, lat, lon) one).
        min_weight: least sum of the valid bilinear weights of a cell (see the module doc).

    Raises:
        InputError: missing file, coordinates or units, unknown units, cells outside the grid.
    """
    import netCDF4

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    with netCDF4.Dataset(path) as ds:
        ds.set_auto_maskandscale(True)
        lat_name, src_lat = _coordinate(ds, ("lat", "latitude"), path, "latitude")
        lon_name, src_lon = _coordinate(ds, ("lon", "longitude"), path, "longitude")
        name = _data_name(ds, variable, path, lat_name, lon_name)
        var = ds.variables[name]
        units = getattr(var, "units", None)
        factor = si_factor(units, name, path)
        days = _days(ds, path)
        if var.shape[0] != days.size:
            raise InputError(f"{path}: {name} has {var.shape[0]} times but time has {days.size}")
        t0 = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
        t1 = days.size if end is None else int(np.searchsorted(days, np.datetime64(end, "D")))
        t1 = max(t0, t1)
        b = bilinear(src_lat, src_lon, lat, lon, source=str(path))
        values = np.full((t1 - t0, lat.size), np.nan)
        for c0 in range(t0, t1, _CHUNK_DAYS):
            c1 = min(t1, c0 + _CHUNK_DAYS)
            block = b.read(lambda rows, cols, c0=c0, c1=c1: np.ma.filled(
                np.ma.asarray(var[c0:c1, rows, cols], dtype=np.float64), np.nan))
            values[c0 - t0:c1 - t0] = _apply(b, block, min_weight) * factor
        if "land_fraction" in ds.variables:
            lf = ds.variables["land_fraction"]
            block = b.read(lambda rows, cols: np.ma.filled(np.ma.asarray(lf[rows, cols], dtype=np.float64), np.nan))
            land = _apply(b, block, min_weight)
        else:
            land = np.full(lat.size, np.nan)
    return XbaseData(name, days[t0:t1], values, land, str(units), str(path))


def find_xbase_files(directory: str | Path, variable: str, aggregation: str = "025_daily") -> dict[int, Path]:
    """{year: file} of ``{VAR}_{YYYY}_{aggregation}.nc`` files in ``directory`` (not recursive)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory")
    found = {}
    for p in sorted(directory.glob(f"{variable}_*_{aggregation}.nc")):
        m = NAME_RE.match(p.name)
        if m and m["var"] == variable and m["agg"] == aggregation:
            found[int(m["year"])] = p
    return found


def read_xbase_period(directory: str | Path, variable: str, lat, lon, start, end,
                      min_weight: float = MIN_WEIGHT) -> XbaseData:
    """Read ``variable`` for the days start..end (exclusive) from the yearly files of ``directory``.

    Days of years without a file are NaN; the result always spans every day of the period.
    """
    start, end = np.datetime64(start, "D"), np.datetime64(end, "D")
    days = np.arange(start, end, dtype="datetime64[D]")
    lat = np.asarray(lat, dtype=np.float64).ravel()
    values = np.full((days.size, lat.size), np.nan)
    land = np.full(lat.size, np.nan)
    files = find_xbase_files(directory, variable)
    used, units = [], None
    first_year = start.astype("datetime64[Y]").astype(int) + 1970
    last_year = (end - 1).astype("datetime64[Y]").astype(int) + 1970
    for year in range(first_year, last_year + 1):
        if year not in files:
            continue
        part = read_xbase(files[year], lat, lon, start, end, variable, min_weight)
        idx = (part.days - start).astype(np.int64)
        values[idx] = part.values
        land = np.where(np.isfinite(land), land, part.land_fraction)
        used.append(str(files[year]))
        units = part.source_units
    if not used:
        raise InputError(f"{directory}: no {file_name(variable, first_year)} (or any {variable} file of "
                         f"{first_year}..{last_year})")
    return XbaseData(variable, days, values, land, str(units), ", ".join(used))


# ---------------------------------------------------------------------------
# Writer
# ---------------------------------------------------------------------------

def lattice(lo: float, hi: float, resolution: float = 0.25, origin: float = -180.0) -> np.ndarray:
    """Centres origin + (k + 1/2) * resolution of the global lattice covering lo..hi, ascending."""
    k0 = int(np.floor((lo - origin) / resolution - 0.5 + 1e-9))
    k1 = int(np.ceil((hi - origin) / resolution - 0.5 - 1e-9))
    return origin + (np.arange(k0, k1 + 1) + 0.5) * resolution


def write_xbase_file(path: str | Path, variable: str, days, lat, lon, values, units: str | None = None,
                     land_fraction=None, title: str | None = None) -> Path:
    """Write one X-BASE-layout daily netCDF-4 file.

    Args:
        path: the file (``file_name(variable, year)`` gives the product's name).
        variable: 'GPP', 'NEE', 'ET' ...
        days: (n_days,) days (datetime64[D]); time = days since the first day's year start, at 00:00.
        lat: (ny,) cell-centre latitudes, descending; lon: (nx,) ascending [degrees].
        values: (n_days, ny, nx) in ``units`` (default FILE_UNITS[variable]); NaN -> _FillValue.
        land_fraction: (ny, nx) 0..1 (default: 1 where any day has a value, else 0).
    """
    import netCDF4

    from ..output import FILL

    path = Path(path)
    days = np.asarray(days).astype("datetime64[D]")
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    values = np.asarray(values)
    if values.shape != (days.size, lat.size, lon.size):
        raise ValueError(f"values of shape {values.shape}; expected {(days.size, lat.size, lon.size)}")
    if lat.size > 1 and np.any(np.diff(lat) >= 0) or lon.size > 1 and np.any(np.diff(lon) <= 0):
        raise ValueError("lat must descend and lon ascend")
    units = units or FILE_UNITS[variable]
    if land_fraction is None:
        land_fraction = np.isfinite(values).any(axis=0).astype(np.float64)
    dlat = abs(lat[0] - lat[1]) if lat.size > 1 else 0.25
    dlon = lon[1] - lon[0] if lon.size > 1 else 0.25
    year0 = int(days[0].astype("datetime64[Y]").astype(int) + 1970) if days.size else 1970
    epoch = np.datetime64(f"{year0:04d}-01-01", "D")
    tmp = path.with_name(path.name + ".incomplete")
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        ds.setncatts({"conventions": "CF-1.8", "Conventions": "CF-1.8", "crs": "WGS 84 / Plate Carree",
                      "title": title or f"{variable} daily 0.25 degree (X-BASE layout)",
                      "creator": "mpilda (X-BASE/FLUXCOM-X file layout)",
                      "creation_date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")})
        ds.createDimension("time", None)
        ds.createDimension("lat", lat.size)
        ds.createDimension("lon", lon.size)
        ds.createDimension("nbnds", 2)
        t = ds.createVariable("time", "f8", ("time",))
        t.setncatts({"units": f"days since {year0:04d}-01-01 00:00:00", "calendar": "standard",
                     "standard_name": "time", "axis": "T"})
        t[:] = (days - epoch).astype(np.float64)
        for name, axis, step, attrs in (("lat", lat, dlat, {"units": "degrees_north", "standard_name": "latitude",
                                                             "axis": "Y"}),
                                        ("lon", lon, dlon, {"units": "degrees_east", "standard_name": "longitude",
                                                            "axis": "X"})):
            v = ds.createVariable(name, "f8", (name,))
            v.setncatts({**attrs, "bounds": f"{name}_bnds"})
            v[:] = axis
            bnds = ds.createVariable(f"{name}_bnds", "f8", (name, "nbnds"))
            bnds[:] = np.stack([axis - step / 2, axis + step / 2], axis=1)
        lf = ds.createVariable("land_fraction", "f8", ("lat", "lon"), zlib=True, complevel=4)
        lf.setncatts({"units": "1", "long_name": "land fraction"})
        lf[:] = np.asarray(land_fraction, dtype=np.float64)
        data = ds.createVariable(variable, "f4", ("time", "lat", "lon"), zlib=True, complevel=4,
                                 chunksizes=(1, lat.size, lon.size), fill_value=FILL["f4"])
        data.setncatts({"units": units, "long_name": f"{variable} (daily mean)"})
        for c0 in range(0, days.size, _CHUNK_DAYS):
            block = np.asarray(values[c0:c0 + _CHUNK_DAYS], dtype=np.float32)
            data[c0:c0 + block.shape[0]] = np.ma.masked_invalid(block)
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------

def is_xbase(path: Path) -> bool:
    """A netCDF file with lat, lon, time, land_fraction and an X-BASE variable (never raises)."""
    try:
        with open(path, "rb") as f:
            if not f.read(8).startswith((b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")):
                return False
        import netCDF4

        with netCDF4.Dataset(path) as ds:
            names = set(ds.variables)
            return ({"time", "land_fraction"} <= names and bool(names & {"lat", "latitude"})
                    and bool(names & set(VARIABLES)))
    except Exception:  # detect never raises
        return False


def summarise_xbase(path: Path) -> dict:
    """``inspect`` summary: every X-BASE variable in SI units (kg m-2 s-1), the time range and the grid."""
    import netCDF4

    with netCDF4.Dataset(path) as ds:
        _, lat = _coordinate(ds, ("lat", "latitude"), path, "latitude")
        _, lon = _coordinate(ds, ("lon", "longitude"), path, "longitude")
        days = _days(ds, path)
        variables = {}
        for name in VARIABLES:
            if name not in ds.variables:
                continue
            var = ds.variables[name]
            factor = si_factor(getattr(var, "units", None), name, path)
            stats = Stats()
            for c0 in range(0, var.shape[0], _CHUNK_DAYS):
                stats.add(np.ma.filled(np.ma.asarray(var[c0:c0 + _CHUNK_DAYS], dtype=np.float64), np.nan) * factor)
            variables[name.lower()] = {**stats.summary("kg m-2 s-1"), "source": f"{name} [{var.units}]"}
    return {"path": str(path), "time_start": str(days[0].astype("datetime64[s]")) + "Z" if days.size else None,
            "time_end": str(days[-1].astype("datetime64[s]")) + "Z" if days.size else None, "days": int(days.size),
            "grid": {"latitude": [float(lat.min()), float(lat.max())], "longitude": [float(lon[0]), float(lon[-1])],
                     "shape": [int(lat.size), int(lon.size)], "latitude_descending": bool(lat.size > 1
                                                                                       and lat[0] > lat[-1])},
            "variables": variables}
