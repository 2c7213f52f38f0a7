"""Copernicus Global Land Service netCDF files, and the LAI 300 m v1 product mapped to model cells.

Two layers:

* ``CglsFile``: the conventions every CGLS netCDF shares (shared/reference/data-formats.md
  section 2, verified on the CGLS SSM 1 km file in tests/data/real/cgls_proxy_not_lai300/):
  dims (time, lat, lon) with time of length 1; ``lat``/``lon`` are *pixel centres*, latitude
  stored north -> south; a ``crs`` grid-mapping variable whose ``GeoTransform`` may belong to
  the parent tile of a subset (so the grid is taken from the coordinate arrays, never from it);
  data as unsigned bytes (``_Unsigned`` "true" on signed storage) with ``scale_factor``/
  ``add_offset``, ``_FillValue``/``missing_value``, ``valid_range`` in digital numbers (DN), and
  flags as ``flag_values`` (DNs that replace the value) or ``flag_masks`` (bit fields of a
  separate layer) with ``flag_meanings``; time decoded from its own units.
* LAI 300 m v1: ``find_lai_files``, ``LaiReader`` (mean of the valid 300 m pixels in each
  model cell) and ``write_lai_file``.

LAI pixel validity: DN != the fill (255), DN inside ``valid_range`` (0..210, i.e. LAI 0..7 with
scale 1/30 [S11 of data-formats.md]), DN not one of ``flag_values``, and no QFLAG bit set whose
``flag_meaning`` says the pixel is one of (``excluded_meaning``):

* sea: a meaning with the word ``sea`` (e.g. ``sea``, ``land_sea``);
* filled / no data: ``fill``, ``filled``, ``gap_filled``, ``no_data``/``nodata``, ``missing``,
  ``no_obs``/``no_observation(s)``;
* out of range / invalid: ``out_of_range``, ``exceeding...``, ``invalid`` (e.g. ``lai_invalid``).

Other meanings (snow, evergreen broadleaf forest, ...) are kept: snow is masked downstream by
the model.  **The QFLAG meanings of a real LAI300 file are unverified** (no sample); the rule
reads whatever the file declares, and a file without a QFLAG layer is read without it.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import netCDF4
import numpy as np

from ..errors import InputError
from ..forcing.era5 import decode_times
from .records import CellObservations, as_seconds, local_solar_to_utc

DAY = 86400  # s
#: LAI digital numbers (data-formats.md s.2, from the CGLS resample tool): physical = DN / 30,
#: valid DN 0..210 (LAI 0..7), 255 missing.
LAI_SCALE = 1.0 / 30.0
LAI_VALID_DN = (0, 210)
LAI_FILL = 255
#: Pixel size of the LAI 300 m product [deg] (data-formats.md s.2: 1/336 degree).
PIXEL_300M = 1.0 / 336.0
#: Pixels read at once by the aggregation (bounds the memory of a strip: about 40 bytes each).
STRIP_PIXELS = 4_000_000

_LAT_NAMES = ("lat", "latitude")
_LON_NAMES = ("lon", "longitude")


# ---------------------------------------------------------------------------
# Flag meanings
# ---------------------------------------------------------------------------

_EXCLUDED = (
    ("sea", re.compile(r"(^|_)sea(_|$)")),
    ("filled/no data", re.compile(r"(^|_)(gap_?)?fill(ed)?(_|$)|(^|_)no_?data(_|$)|(^|_)missing(_|$)"
                                  r"|(^|_)no_?obs(ervations?)?(_|$)")),
    ("out of range/invalid", re.compile(r"out_?of_?range|(^|_)exceed|(^|_)invalid(_|$)")),
)


def _normalise(meaning: str) -> str:
    """Lower case, runs of anything but letters and digits turned into one '_' (``Land/Sea`` -> ``land_sea``)."""
    return re.sub(r"[^a-z0-9]+", "_", meaning.lower()).strip("_")


def excluded_meaning(meaning: str) -> str | None:
    """Why a flag with this meaning excludes a pixel ("sea", "filled/no data", "out of range/invalid"), or None."""
    text = _normalise(meaning)
    for why, pattern in _EXCLUDED:
        if pattern.search(text):
            return why
    return None


# ---------------------------------------------------------------------------
# The generic CGLS netCDF layer
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Layer:
    """One (time, lat, lon) data variable: how to turn its digital numbers into physical values.

    ``fills`` are the DNs meaning missing (_FillValue, missing_value); ``valid_range`` the DN range
    of data (None: no limit); ``flag_values`` DNs that carry a flag instead of a value;
    ``flag_masks`` bit masks of a flag layer, with ``flag_meanings`` (one per value or mask).
    """

    name: str
    units: str | None
    scale: float
    offset: float
    fills: tuple[int | float, ...]
    valid_range: tuple[float, float] | None
    flag_values: tuple[int, ...]
    flag_masks: tuple[int, ...]
    flag_meanings: tuple[str, ...]
    unsigned: bool

    def is_data(self, dn: np.ndarray) -> np.ndarray:
        """Boolean array: DN holds a value (not a fill, not a flag value, inside valid_range)."""
        ok = np.ones(dn.shape, dtype=bool)
        for value in self.fills + self.flag_values:
            ok &= dn != value
        if self.valid_range is not None:
            ok &= (dn >= self.valid_range[0]) & (dn <= self.valid_range[1])
        return ok

    def physical(self, dn: np.ndarray) -> np.ndarray:
        """float64 DN * scale + offset, NaN where ``is_data`` is False."""
        out = dn.astype(np.float64) * self.scale + self.offset
        out[~self.is_data(dn)] = np.nan
        return out

    def excluded_bits(self) -> tuple[int, dict[str, str]]:
        """OR of the ``flag_masks`` whose meaning excludes a pixel, and {meaning: why} of those."""
        bits, why = 0, {}
        for mask, meaning in zip(self.flag_masks, self.flag_meanings):
            reason = excluded_meaning(meaning)
            if reason is not None:
                bits |= int(mask)
                why[meaning] = reason
        return bits, why


def _values(attr) -> tuple:
    """An attribute as a tuple of Python scalars: arrays, scalars and SMAP-style "1s, 2s" strings."""
    if isinstance(attr, str):
        return tuple(int(t.rstrip("sSbB")) for t in re.split(r"[,\s]+", attr.strip()) if t)
    return tuple(np.ravel(attr).tolist())


class CglsFile:
    """An open CGLS netCDF file: its pixel-centre grid, its time and its layers.

    Attributes:
        lat: (ny,) pixel-centre latitudes [deg] as stored (normally descending).
        lon: (nx,) pixel-centre longitudes [deg], ascending.
        descending: latitude stored north -> south.
        dlat, dlon: pixel size [deg], positive, from the coordinate arrays.
        time: int64 seconds since 1970-01-01 UTC of the single time step.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.ds = netCDF4.Dataset(self.path)
        except OSError as exc:
            raise InputError(f"{self.path}: not a readable netCDF file ({exc})") from None
        try:
            self._init()
        except Exception:
            self.ds.close()
            raise

    def _init(self) -> None:
        names = self.ds.variables
        self.lat_name = next((n for n in _LAT_NAMES if n in names), None)
        self.lon_name = next((n for n in _LON_NAMES if n in names), None)
        if self.lat_name is None or self.lon_name is None or "time" not in names:
            raise InputError(f"{self.path}: expected coordinate variables lat, lon and time of a CGLS file")
        self.lat = np.asarray(names[self.lat_name][:], dtype=np.float64)
        self.lon = np.asarray(names[self.lon_name][:], dtype=np.float64)
        self.dlat = self._step(self.lat, self.lat_name)
        self.dlon = self._step(self.lon, self.lon_name)
        self.descending = self.lat.size > 1 and self.lat[1] < self.lat[0]
        if self.lon.size > 1 and self.lon[1] < self.lon[0]:
            raise InputError(f"{self.path}: longitudes must increase west to east")
        tvar = names["time"]
        if tvar.size != 1:
            raise InputError(f"{self.path}: {tvar.size} time steps; a CGLS file holds one")
        self.time = int(decode_times(np.ravel(tvar[:]), getattr(tvar, "units", ""), getattr(tvar, "calendar", None),
                                     f"{self.path}: variable time")[0])

    def _step(self, values: np.ndarray, name: str) -> float:
        """The regular spacing of a coordinate [deg] (InputError if not regular)."""
        if values.size < 2:
            raise InputError(f"{self.path}: coordinate {name} has {values.size} value(s); expected a grid")
        step = (values[-1] - values[0]) / (values.size - 1)
        if step == 0 or np.any(np.abs(np.diff(values) - step) > 1e-6 * abs(step) + 1e-9):
            raise InputError(f"{self.path}: coordinate {name} is not regularly spaced")
        return abs(float(step))

    def close(self) -> None:
        self.ds.close()

    def __enter__(self) -> "CglsFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def data_names(self) -> list[str]:
        """Variables laid out on (time, lat, lon)."""
        return [n for n, v in self.ds.variables.items()
                if v.dimensions[-2:] == (self.lat_name, self.lon_name) and len(v.dimensions) in (2, 3)]

    def layer(self, name: str) -> Layer:
        """The conventions of data variable ``name`` (InputError if the file has none such)."""
        if name not in self.ds.variables:
            raise InputError(f"{self.path}: no variable {name}; the file holds {', '.join(self.data_names)}")
        var = self.ds.variables[name]
        attrs = {a: var.getncattr(a) for a in var.ncattrs()}
        unsigned = str(attrs.get("_Unsigned", "false")).lower() == "true" and var.dtype.kind == "i"
        fills = []
        for key in ("_FillValue", "missing_value"):
            for value in _values(attrs.get(key, ())):
                if not (isinstance(value, float) and np.isnan(value)) and value not in fills:
                    fills.append(value % 256 if unsigned and value < 0 else value)
        vr = attrs.get("valid_range")
        if vr is None and "valid_min" in attrs and "valid_max" in attrs:
            vr = (attrs["valid_min"], attrs["valid_max"])
        valid = tuple(float(v) for v in _values(vr)) if vr is not None else None
        if valid is not None and len(valid) != 2:
            raise InputError(f"{self.path}: variable {name} has valid_range {vr!r}; expected two numbers")
        meanings = tuple(str(attrs.get("flag_meanings", "")).split())
        flag_values = tuple(int(v) for v in _values(attrs.get("flag_values", ())))
        flag_masks = tuple(int(v) for v in _values(attrs.get("flag_masks", ())))
        for kind, given in (("flag_values", flag_values), ("flag_masks", flag_masks)):
            if given and len(given) != len(meanings):
                raise InputError(f"{self.path}: variable {name} has {len(given)} {kind} but {len(meanings)} "
                                 f"flag_meanings")
        return Layer(name, attrs.get("units"), float(np.ravel(attrs.get("scale_factor", 1.0))[0]),
                     float(np.ravel(attrs.get("add_offset", 0.0))[0]), tuple(fills), valid, flag_values,
                     flag_masks, meanings, unsigned)

    def read_dn(self, layer: Layer, rows: slice, cols: slice) -> np.ndarray:
        """Raw digital numbers (rows, cols) of the single time step, unsigned bytes as uint8."""
        var = self.ds.variables[layer.name]
        var.set_auto_maskandscale(False)
        index = (0, rows, cols) if len(var.dimensions) == 3 else (rows, cols)
        raw = np.asarray(var[index])
        return raw.view(np.uint8) if layer.unsigned and raw.dtype == np.int8 else raw

    def read(self, name: str, rows: slice = slice(None), cols: slice = slice(None)) -> np.ndarray:
        """Physical values (rows, cols) float64 of variable ``name``, NaN where not data."""
        layer = self.layer(name)
        return layer.physical(self.read_dn(layer, rows, cols))

    def lattice(self) -> tuple[float, float, float, float]:
        """(lat0, lat_step, lon0, lon_step): pixel centre k is lat0 + k * lat_step (signed steps)."""
        lat_step = (self.lat[-1] - self.lat[0]) / (self.lat.size - 1)
        lon_step = (self.lon[-1] - self.lon[0]) / (self.lon.size - 1)
        return float(self.lat[0]), float(lat_step), float(self.lon[0]), float(lon_step)

    def day(self) -> int:
        """The file's date: its time floored to 00:00 UTC, s since 1970."""
        return self.time - self.time % DAY


# ---------------------------------------------------------------------------
# LAI 300 m files
# ---------------------------------------------------------------------------

#: LAI 300 m v1 names (data-formats.md s.2): optional RT stage, dekad date, region, sensor, version.
LAI_NAME = re.compile(r"c_gls_LAI300(?:-RT(\d+))?_(\d{8})0000_([A-Z]+)_([A-Z0-9-]+)_V(\d+)\.(\d+)\.(\d+)\.nc$")


def lai_file_name(date: dt.date, rt: int | None = None, version: str | None = None) -> str:
    """``c_gls_LAI300_{YYYYMMDD}0000_GLOBE_PROBAV_V1.0.1.nc``, or with ``rt`` the OLCI
    ``c_gls_LAI300-RT{rt}_{YYYYMMDD}0000_GLOBE_OLCI_V1.1.2.nc`` (``version`` overrides the V number)."""
    stamp = f"{date:%Y%m%d}0000"
    if rt is None:
        return f"c_gls_LAI300_{stamp}_GLOBE_PROBAV_V{version or '1.0.1'}.nc"
    return f"c_gls_LAI300-RT{int(rt)}_{stamp}_GLOBE_OLCI_V{version or '1.1.2'}.nc"


def parse_lai_name(path: str | Path) -> tuple[dt.date, float, tuple[int, int, int]] | None:
    """(dekad date, consolidation rank, version) of an LAI300 file name, or None.

    The rank is the RT stage, or infinity for a file without one (the consolidated PROBA-V archive).
    """
    m = LAI_NAME.search(Path(path).name)
    if not m:
        return None
    date = dt.datetime.strptime(m.group(2), "%Y%m%d").date()
    rank = float("inf") if m.group(1) is None else float(m.group(1))
    return date, rank, (int(m.group(5)), int(m.group(6)), int(m.group(7)))


def find_lai_files(directory: str | Path, start: dt.datetime | int, end: dt.datetime | int,
                   paths: Sequence[Path] | None = None) -> list[Path]:
    """LAI300 files in ``directory`` whose dekad date (the day in the name) overlaps [start, end), by date
    (``paths``: only these files of the directory).

    For one date the highest consolidation stage is kept: a file without RT (consolidated archive)
    over any RTn, a higher n over a lower; then the higher version.
    """
    t0, t1 = as_seconds(start), as_seconds(end)
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory of CGLS LAI files")
    best: dict[dt.date, tuple[tuple, Path]] = {}
    for path in directory.iterdir() if paths is None else paths:
        parsed = parse_lai_name(path)
        if parsed is None or not path.is_file():
            continue
        date, rank, version = parsed
        day = as_seconds(date)
        if day >= t1 or day + DAY <= t0:
            continue
        key = (rank, version, path.name)
        if date not in best or key > best[date][0]:
            best[date] = (key, path)
    return [best[d][1] for d in sorted(best)]


class LaiReader:
    """Mean LAI of the valid 300 m pixels in each model cell.

    Args:
        cell_lat, cell_lon: (n,) model cell centres [deg] on a regular lattice of spacing
            ``resolution`` (the model grid; any subset of its cells).
        resolution: model cell size [deg]; a cell is the box [lat - r/2, lat + r/2) x
            [lon - r/2, lon + r/2) and holds the pixels whose *centres* lie in it.
        min_valid_fraction: fraction of a cell's pixels that must be valid for a value.
    """

    def __init__(self, cell_lat: np.ndarray, cell_lon: np.ndarray, resolution: float, min_valid_fraction: float):
        lat = np.asarray(cell_lat, dtype=np.float64).ravel()
        lon = (np.asarray(cell_lon, dtype=np.float64).ravel() + 180.0) % 360.0 - 180.0
        if lat.shape != lon.shape:
            raise ValueError(f"cell_lat {lat.shape} and cell_lon {lon.shape} differ in shape")
        if not resolution > 0 or not 0.0 <= min_valid_fraction <= 1.0:
            raise ValueError(f"resolution {resolution} must be > 0 and min_valid_fraction {min_valid_fraction} "
                             f"within 0..1")
        self.lat, self.lon, self.res, self.min_valid_fraction = lat, lon, float(resolution), float(min_valid_fraction)
        self.ncells = lat.size
        if not lat.size:
            return
        half = 0.5 * self.res
        if np.any(lon - half < -180.0 - 1e-9) or np.any(lon + half > 180.0 + 1e-9):
            raise ValueError("a model cell's box crosses the 180 degree meridian; not supported")
        # southern/western edge of the lattice box 0; each cell's lattice indices
        self.south0, self.west0 = float(lat.min()) - half, float(lon.min()) - half
        iy = np.round((lat - half - self.south0) / self.res)
        ix = np.round((lon - half - self.west0) / self.res)
        if (np.max(np.abs(self.south0 + iy * self.res + half - lat)) > 1e-6 * self.res
                or np.max(np.abs(self.west0 + ix * self.res + half - lon)) > 1e-6 * self.res):
            raise ValueError(f"model cells are not on one lattice of spacing {self.res} degrees")
        self.iy, self.ix = iy.astype(np.int64), ix.astype(np.int64)
        self.ny, self.nx = int(self.iy.max()) + 1, int(self.ix.max()) + 1
        # lattice box -> cell, with one extra row and column of -1 for pixels outside every box
        self.cell_at = np.full((self.ny + 1, self.nx + 1), -1, dtype=np.int64)
        if np.any(np.bincount(self.iy * self.nx + self.ix) > 1):
            raise ValueError("two model cells share one lattice position")
        self.cell_at[self.iy, self.ix] = np.arange(lat.size)

    def _box_index(self, centres: np.ndarray, edge0: float, n: int) -> np.ndarray:
        """Lattice box index of pixel centres along one axis, ``n`` (the padding index) where outside."""
        k = np.floor((centres - edge0) / self.res).astype(np.int64)
        return np.where((k >= 0) & (k < n), k, n)

    @staticmethod
    def _span(centres: np.ndarray, lo: float, hi: float) -> slice:
        """The index range of (monotonic) ``centres`` inside [lo, hi)."""
        inside = np.flatnonzero((centres >= lo) & (centres < hi))
        return slice(int(inside[0]), int(inside[-1]) + 1) if inside.size else slice(0, 0)

    def _expected(self, centre0: float, step: float, edge0: float, n: int) -> np.ndarray:
        """Pixel-lattice centres per lattice box along one axis, (n,), the lattice extended beyond the file."""
        lo, hi = edge0, edge0 + n * self.res
        k0 = int(np.floor(min((lo - centre0) / step, (hi - centre0) / step))) - 1
        k1 = int(np.ceil(max((lo - centre0) / step, (hi - centre0) / step))) + 1
        centres = centre0 + np.arange(k0, k1 + 1) * step
        return np.bincount(self._box_index(centres, edge0, n), minlength=n + 1)[:n]

    def read(self, path: str | Path, local_hour: float) -> CellObservations:
        """One entry per model cell holding at least one pixel of the file.

        value: mean LAI [m2 m-2] of the cell's valid pixels if their fraction of the cell's pixels
        (the pixel lattice extended beyond the file's edge) is >= min_valid_fraction, else NaN;
        quality: that fraction test; time: the file's date at ``local_hour`` local solar time, in
        UTC per cell; extras ``valid_fraction`` (float64), ``n_pixels`` and ``n_valid`` (int64).
        """
        with CglsFile(path) as f:
            return self._read(f, path, local_hour)

    def _read(self, f: CglsFile, path, local_hour: float) -> CellObservations:
        parsed = parse_lai_name(path)
        if parsed is not None and as_seconds(parsed[0]) != f.day():
            raise InputError(f"{path}: the file name says {parsed[0]} but its time variable is "
                             f"{dt.datetime.fromtimestamp(f.time, dt.timezone.utc):%Y-%m-%d %H:%M}")
        extra = {"valid_fraction": np.float64, "n_pixels": np.int64, "n_valid": np.int64}
        if not self.ncells:
            return CellObservations.empty(extra)
        lai = f.layer("LAI")
        qflag = f.layer("QFLAG") if "QFLAG" in f.ds.variables else None
        bits = qflag.excluded_bits()[0] if qflag is not None else 0
        lat0, lat_step, lon0, lon_step = f.lattice()
        north = self.south0 + self.ny * self.res
        east = self.west0 + self.nx * self.res
        rows = self._span(f.lat, self.south0, north)
        cols = self._span(f.lon, self.west0, east)
        nrow, ncol = rows.stop - rows.start, cols.stop - cols.start
        if nrow == 0 or ncol == 0:
            return CellObservations.empty(extra)
        # lattice box of every pixel row / column in the window (pixel centres from the regular lattice)
        by = self._box_index(lat0 + np.arange(rows.start, rows.stop) * lat_step, self.south0, self.ny)
        bx = self._box_index(lon0 + np.arange(cols.start, cols.stop) * lon_step, self.west0, self.nx)
        ncells = self.ncells
        total = np.zeros(ncells + 1, np.int64)
        good = np.zeros(ncells + 1, np.int64)
        dn_sum = np.zeros(ncells + 1, np.float64)
        step = max(1, STRIP_PIXELS // ncol)
        for r0 in range(0, nrow, step):
            r1 = min(nrow, r0 + step)
            strip = slice(rows.start + r0, rows.start + r1)
            dn = f.read_dn(lai, strip, cols)
            ok = lai.is_data(dn)
            if qflag is not None:
                q = f.read_dn(qflag, strip, cols)
                if bits:
                    ok &= (q.astype(np.int64) & bits) == 0
                for value in qflag.fills:
                    ok &= q != value
            cell = self.cell_at[by[r0:r1, None], bx[None, :]].ravel()
            cell[cell < 0] = ncells                       # pixels in no model cell go to a discard bin
            okf = ok.ravel()
            total += np.bincount(cell, minlength=ncells + 1)
            good += np.bincount(cell[okf], minlength=ncells + 1)
            dn_sum += np.bincount(cell[okf], weights=dn.ravel()[okf].astype(np.float64), minlength=ncells + 1)
        total, good, dn_sum = total[:ncells], good[:ncells], dn_sum[:ncells]
        expected = (self._expected(lat0, lat_step, self.south0, self.ny)[self.iy]
                    * self._expected(lon0, lon_step, self.west0, self.nx)[self.ix])
        seen = np.flatnonzero(total > 0)
        n_pix = np.maximum(expected[seen], total[seen])
        n_ok = good[seen]
        fraction = n_ok / n_pix
        quality = (fraction >= self.min_valid_fraction) & (n_ok > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = dn_sum[seen] / n_ok * lai.scale + lai.offset
        value = np.where(quality, mean, np.nan)
        valid = np.isfinite(value)
        if lai.valid_range is not None:
            lo, hi = sorted(v * lai.scale + lai.offset for v in lai.valid_range)
            with np.errstate(invalid="ignore"):
                valid &= (value >= lo - 1e-9) & (value <= hi + 1e-9)
        time = local_solar_to_utc(f.day(), local_hour, self.lon[seen])
        return CellObservations(seen, time, value, quality, valid,
                                {"valid_fraction": fraction, "n_pixels": n_pix, "n_valid": n_ok})


# ---------------------------------------------------------------------------
# Writing an LAI300-layout file
# ---------------------------------------------------------------------------

#: QFLAG bits written by ``write_lai_file``: mpilda's own documented layout, modelled on the
#: bitwise QFLAG of the CGLS 1 km V2 vegetation products (bit set = condition true); NOT verified
#: against a real LAI300 file.  ``excluded_meaning`` excludes sea, filled, no_observation,
#: lai_out_of_range and lai_invalid; snow and evergreen_broadleaf_forest are informative only.
QFLAG_BITS = {
    "sea": 1,
    "snow": 2,
    "filled": 4,
    "no_observation": 8,
    "lai_out_of_range": 16,
    "lai_invalid": 32,
    "evergreen_broadleaf_forest": 64,
}

_WGS84_WKT = ('GEOGCS["WGS 84",DATUM["WGS_1984",SPHEROID["WGS 84",6378137,298.257223563,AUTHORITY["EPSG","7030"]],'
              'AUTHORITY["EPSG","6326"]],PRIMEM["Greenwich",0,AUTHORITY["EPSG","8901"]],UNIT["degree",'
              '0.0174532925199433,AUTHORITY["EPSG","9122"]],AXIS["Latitude",NORTH],AXIS["Longitude",EAST],'
              'AUTHORITY["EPSG","4326"]]')


def write_lai_file(path: str | Path, date: dt.date, lat_desc: np.ndarray, lon: np.ndarray, lai: np.ndarray,
                   qflag: np.ndarray | None = None, rt: int | None = None) -> Path:
    """Write an LAI 300 m v1-layout netCDF-4 file (any pixel size, given by the coordinates).

    Args:
        path: file to write (``lai_file_name`` gives the product's name).
        date: the dekad date (time = that day 00:00 UTC, "days since 1970-01-01 00:00:00").
        lat_desc: (ny,) pixel-centre latitudes [deg], north -> south, regular.
        lon: (nx,) pixel-centre longitudes [deg], west -> east, regular.
        lai: (ny, nx) LAI [m2 m-2]; stored as DN = round(LAI * 30) clipped to 0..254, NaN -> 255.
            Values above 7 give DNs outside valid_range (0..210), as a real file may hold.
        qflag: (ny, nx) QFLAG bits (``QFLAG_BITS``), default 0.
        rt: RT consolidation stage (OLCI-era attributes) or None (PROBA-V consolidated archive).
    """
    lat_desc = np.asarray(lat_desc, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    lai = np.asarray(lai)
    ny, nx = lat_desc.size, lon.size
    if lai.shape != (ny, nx):
        raise ValueError(f"lai has shape {lai.shape}; expected ({ny}, {nx})")
    if ny < 2 or nx < 2 or np.any(np.diff(lat_desc) >= 0) or np.any(np.diff(lon) <= 0):
        raise ValueError("lat_desc must decrease and lon increase, with at least 2 pixels each")
    if qflag is not None and np.shape(qflag) != (ny, nx):
        raise ValueError(f"qflag has shape {np.shape(qflag)}; expected ({ny}, {nx})")
    dlat, dlon = (lat_desc[0] - lat_desc[-1]) / (ny - 1), (lon[-1] - lon[0]) / (nx - 1)
    sensor, version = ("PROBAV", "V1.0.1") if rt is None else ("OLCI", "V1.1.2")
    product = lai_file_name(date, rt)[len("c_gls_"):-len(".nc")]
    chunks = (1, min(ny, 1024), min(nx, 1024))
    path = Path(path)
    with netCDF4.Dataset(path, "w", format="NETCDF4") as ds:
        ds.setncatts({
            "Conventions": "CF-1.6",
            "title": f"10-daily Leaf Area Index 333M: GLOBE {date:%Y-%m-%dT00:00:00Z}",
            "institution": "VITO NV",
            "archive_facility": "VITO",
            "product_version": version,
            "processing_level": "L3",
            "processing_mode": "Offline" if rt is None else f"Near Real Time (RT{rt})",
            "platform": "PROBA-V" if rt is None else "Sentinel-3",
            "sensor": sensor,
            "identifier": f"urn:cgls:global:lai300_v1_333m:{product}",
            "parent_identifier": "urn:cgls:global:lai300_v1_333m",
            "long_name": "Leaf Area Index 333M",
            "time_coverage_start": f"{date:%Y-%m-%d}T00:00:00Z",
            "time_coverage_end": f"{date:%Y-%m-%d}T23:59:59Z",
            "references": "https://land.copernicus.eu/global/products/lai",
            "copyright": "Copernicus Service information",
            "source": "Derived from EO satellite imagery",
            "history": "synthetic file in the CGLS LAI300 v1 layout written by mpilda (not a Copernicus product)",
            "pixel_size": f"{dlon:.10f} degrees",
            "geospatial_lat_min": float(lat_desc[-1] - dlat / 2), "geospatial_lat_max": float(lat_desc[0] + dlat / 2),
            "geospatial_lon_min": float(lon[0] - dlon / 2), "geospatial_lon_max": float(lon[-1] + dlon / 2),
        })
        ds.createDimension("time", 1)
        ds.createDimension("lat", ny)
        ds.createDimension("lon", nx)
        ds.createDimension("string1", 1)
        crs = ds.createVariable("crs", "S1", ("string1",))
        crs.setncatts({"grid_mapping_name": "latitude_longitude", "long_name": "CRS definition",
                       "longitude_of_prime_meridian": 0.0, "semi_major_axis": 6378137.0,
                       "inverse_flattening": 298.257223563, "spatial_ref": _WGS84_WKT,
                       # upper-left *corner* and pixel size (GDAL order), half a pixel off the centres
                       "GeoTransform": " ".join(repr(float(v)) for v in (lon[0] - dlon / 2, dlon, 0.0,
                                                                          lat_desc[0] + dlat / 2, 0.0, -dlat))})
        for name, values, std, units, axis in (("lat", lat_desc, "latitude", "degrees_north", "Y"),
                                               ("lon", lon, "longitude", "degrees_east", "X")):
            var = ds.createVariable(name, "f8", (name,))
            var.setncatts({"standard_name": std, "long_name": std, "units": units, "axis": axis})
            var[:] = values
        time = ds.createVariable("time", "f8", ("time",))
        time.setncatts({"standard_name": "time", "long_name": "time", "axis": "T",
                        "units": "days since 1970-01-01 00:00:00", "calendar": "standard"})
        time[:] = as_seconds(date) / DAY
        var = ds.createVariable("LAI", "u1", ("time", "lat", "lon"), zlib=True, complevel=4, chunksizes=chunks,
                                fill_value=np.uint8(LAI_FILL))
        var.set_auto_maskandscale(False)
        var.setncatts({"long_name": "Leaf Area Index 333M", "standard_name": "leaf_area_index", "units": "m2/m2",
                       "scale_factor": np.float64(LAI_SCALE), "add_offset": np.float64(0.0),
                       "valid_range": np.array(LAI_VALID_DN, dtype=np.uint8), "grid_mapping": "crs",
                       "coordinates": "time lat lon"})
        flags = ds.createVariable("QFLAG", "u1", ("time", "lat", "lon"), zlib=True, complevel=4, chunksizes=chunks)
        flags.set_auto_maskandscale(False)
        flags.setncatts({"long_name": "Quality flag", "grid_mapping": "crs", "coordinates": "time lat lon",
                         "flag_masks": np.array(list(QFLAG_BITS.values()), dtype=np.uint8),
                         "flag_meanings": " ".join(QFLAG_BITS)})
        for r0 in range(0, ny, chunks[1]):                  # row blocks: memory independent of the file size
            block = np.asarray(lai[r0:r0 + chunks[1]], dtype=np.float64)
            dn = np.where(np.isfinite(block), np.clip(np.round(np.nan_to_num(block) / LAI_SCALE), 0, 254), LAI_FILL)
            var[0, r0:r0 + block.shape[0]] = dn.astype(np.uint8)
            flags[0, r0:r0 + block.shape[0]] = (np.zeros(block.shape, np.uint8) if qflag is None
                                                else np.asarray(qflag[r0:r0 + chunks[1]]).astype(np.uint8))
    return path


# ---------------------------------------------------------------------------
# inspect: summaries
# ---------------------------------------------------------------------------

def is_cgls(path: Path) -> bool:
    """A netCDF file with CGLS conventions: lat, lon, time, a crs grid mapping and a CGLS identity."""
    try:
        with open(path, "rb") as fh:
            if not fh.read(8).startswith(b"\x89HDF\r\n\x1a\n"):
                return False
        with netCDF4.Dataset(path) as ds:
            names = set(ds.variables)
            if not ({"lat", "lon", "time", "crs"} <= names):
                return False
            ident = str(getattr(ds, "identifier", "")) + str(getattr(ds, "parent_identifier", ""))
            return "urn:cgls" in ident or path.name.startswith("c_gls_")
    except Exception:  # detect never raises
        return False


def is_lai300(path: Path) -> bool:
    """A CGLS file holding an LAI layer (the LAI 300 m product or a subset of it)."""
    if not is_cgls(path):
        return False
    try:
        with netCDF4.Dataset(path) as ds:
            return "LAI" in ds.variables
    except Exception:
        return False
