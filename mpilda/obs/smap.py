"""SMAP L2 radiometer soil moisture, SPL2SMP version 8 half-orbit granules (HDF5): find, read, write.

Layout (shared/reference/data-formats.md section 1, verified on the real granule in
tests/data/real/smap_spl2smp/): one group ``/Soil_Moisture_Retrieval_Data`` of 1-D datasets
of length N (the 36 km EASE-Grid 2.0 cells the half-orbit touched, land and water), placed on
the M36 grid by ``EASE_row_index``/``EASE_column_index``; ``/Metadata`` groups of ISO-style
attributes.  No scale factors.

A reader maps every model cell to the M36 cell containing its centre (nearest neighbour;
a 36 km cell serves several 0.25 degree cells) and returns, per granule, one entry for every
model cell whose M36 cell the granule holds:

* ``value`` = ``soil_moisture`` [m3 m-3] (the file's units ``cm**3/cm**3`` are the same
  ratio), the dataset's ``_FillValue`` (-9999) -> NaN;
* ``valid`` = finite and within the dataset's own ``valid_min``..``valid_max`` attributes
  (0.02..0.5 in v8; values above do occur in not-recommended cells), or 0.0..0.6 if a file
  lacks them;
* ``quality`` = bit 0 of ``retrieval_qual_flag`` clear ("recommended"; a set bit means the
  condition is *not* met), its fill 65534 -> not ok;
* ``time`` from ``tb_time_seconds`` (seconds since 2000-01-01T12:00:00 UTC, no leap seconds:
  reproduces ``tb_time_utc`` to 1 ms; ``tb_time_utc`` itself is not read, some strings are
  corrupt); a filled time takes the granule's start and makes the entry invalid;
* extras ``direction`` ('A' ascending ~18:00, 'D' descending ~06:00 local, from the file name,
  cross-checked with ``Metadata/OrbitMeasuredLocation@orbitDirection``), ``surface_flag`` and
  ``retrieval_qual_flag`` (uint16, raw).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from ..errors import InputError
from . import ease
from .records import CellObservations, as_seconds

GROUP = "Soil_Moisture_Retrieval_Data"
#: Granule file names (data-formats.md s.1): orbit, direction, half-orbit start (UTC), CRID, counter.
NAME = re.compile(r"SMAP_L2_SM_P_(\d+)_([AD])_(\d{8}T\d{6})_(R\d{5})_(\d{3})\.h5$")
#: tb_time_seconds epoch: 2000-01-01T12:00:00 UTC, no leap seconds (data-formats.md s.1 "Time", verified).
EPOCH_2000 = as_seconds(dt.datetime(2000, 1, 1, 12, tzinfo=dt.timezone.utc))
#: Fill values of the product (data-formats.md s.1 table, verified): float datasets and uint16 flags.
FLOAT_FILL = -9999.0
FLAG_FILL = 65534
#: Valid soil moisture range [m3 m-3] used when a file has no valid_min/valid_max attributes.
DEFAULT_VALID_RANGE = (0.0, 0.6)
#: Longest span [s] of one half-orbit's retrievals after its start: half the orbit period
#: (5907.9 s, Metadata/OrbitMeasuredLocation@orbitPeriod) = 49 min; the sample granule spans
#: 53 min; two hours leaves a margin.
HALF_ORBIT_SPAN = 2 * 3600
#: Default Composite Release ID of written granules: R18290 = version 8 (data-formats.md s.1).
CRID_V8 = "R18290"
_DIRECTIONS = {"A": "Ascending", "D": "Descending"}


def granule_name(orbit: int, direction: str, start: dt.datetime | int, crid: str = CRID_V8, counter: int = 1) -> str:
    """Standard file name ``SMAP_L2_SM_P_{orbit:05d}_{A|D}_{YYYYMMDDThhmmss}_{CRID}_{counter:03d}.h5``.

    ``start`` is the half-orbit start (aware datetime or seconds since 1970-01-01 UTC).
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction {direction!r}; expected 'A' or 'D'")
    if not re.fullmatch(r"R\d{5}", crid):
        raise ValueError(f"CRID {crid!r}; expected R and five digits")
    stamp = dt.datetime.fromtimestamp(as_seconds(start), dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
    return f"SMAP_L2_SM_P_{int(orbit):05d}_{direction}_{stamp}_{crid}_{int(counter):03d}.h5"


def parse_name(path: str | Path) -> tuple[int, str, int] | None:
    """(orbit, direction 'A'/'D', half-orbit start in s since 1970) from a granule's file name, or None."""
    m = NAME.search(Path(path).name)
    if not m:
        return None
    start = dt.datetime.strptime(m.group(3), "%Y%m%dT%H%M%S").replace(tzinfo=dt.timezone.utc)
    return int(m.group(1)), m.group(2), as_seconds(start)


def granule_times(path: str | Path) -> np.ndarray:
    """All non-fill retrieval times of a granule, int64 s since 1970-01-01 UTC, (N,) minus the fills."""
    with _open(path) as f:
        t = _dataset(f, path, "tb_time_seconds")[...]
    t = t[np.isfinite(t) & (t != FLOAT_FILL)]
    return np.round(t).astype(np.int64) + EPOCH_2000


def find_smap_granules(directory: str | Path, start: dt.datetime | int, end: dt.datetime | int,
                       paths: Sequence[Path] | None = None) -> list[Path]:
    """SPL2SMP granules in ``directory`` (not recursive) holding a retrieval time in [start, end), sorted by name.
    ``paths``: look only at these files of the directory (a caller's index), not at its listing.

    A granule's retrievals lie within ``HALF_ORBIT_SPAN`` after the start time in its name, so
    granules starting inside [start, end - span) are taken without opening them, granules that
    cannot reach the period are skipped, and only those near either end are opened to read their
    retrieval times.  The observations of a granule straddling an end must still be cut with
    ``CellObservations.between``.
    """
    t0, t1 = as_seconds(start), as_seconds(end)
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory of SMAP granules")
    found = []
    for path in sorted(directory.iterdir() if paths is None else paths):
        parsed = parse_name(path)
        if parsed is None or not path.is_file():
            continue
        begin = parsed[2]
        if begin >= t1 or begin + HALF_ORBIT_SPAN < t0:
            continue
        if begin >= t0 and begin + HALF_ORBIT_SPAN < t1:
            found.append(path)
            continue
        times = granule_times(path)
        if np.any((times >= t0) & (times < t1)):
            found.append(path)
    return found


def _open(path: str | Path) -> h5py.File:
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable HDF5 file ({exc})") from None


def _dataset(f: h5py.File, path: str | Path, name: str) -> h5py.Dataset:
    key = f"{GROUP}/{name}"
    if key not in f:
        raise InputError(f"{path}: no dataset /{key}; not an SPL2SMP granule")
    return f[key]


def _attr(ds: h5py.Dataset | h5py.Group, name: str, default=None):
    """An attribute as a Python scalar or str (fixed-length bytes decoded), or ``default``."""
    if name not in ds.attrs:
        return default
    value = ds.attrs[name]
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("ascii", "replace")
    if isinstance(value, np.ndarray) and value.size == 1:
        value = value.reshape(()).item()
    return value.item() if isinstance(value, np.generic) else value


def granule_direction(f: h5py.File, path: str | Path) -> str:
    """'A' or 'D': the file-name letter, checked against Metadata/OrbitMeasuredLocation@orbitDirection."""
    parsed = parse_name(path)
    meta = None
    if "Metadata/OrbitMeasuredLocation" in f:
        meta = _attr(f["Metadata/OrbitMeasuredLocation"], "orbitDirection")
    letter = {"ascending": "A", "descending": "D"}.get(str(meta).strip().lower()) if meta is not None else None
    if parsed is not None:
        if letter is not None and letter != parsed[1]:
            raise InputError(f"{path}: the file name says direction {parsed[1]} but "
                             f"Metadata/OrbitMeasuredLocation@orbitDirection is {meta!r}")
        return parsed[1]
    if letter is None:
        raise InputError(f"{path}: no orbit direction: the name does not match {NAME.pattern} and "
                         f"Metadata/OrbitMeasuredLocation@orbitDirection is {meta!r}")
    return letter


def granule_start(f: h5py.File, path: str | Path) -> int | None:
    """Half-orbit start [s since 1970]: from the name, else Metadata/Extent@rangeBeginningDateTime, else None."""
    parsed = parse_name(path)
    if parsed is not None:
        return parsed[2]
    if "Metadata/Extent" in f:
        text = _attr(f["Metadata/Extent"], "rangeBeginningDateTime")
        if text:
            try:
                return as_seconds(dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).replace(microsecond=0))
            except ValueError:
                pass
    return None


def valid_range(ds: h5py.Dataset) -> tuple[float, float]:
    """The soil moisture dataset's valid_min..valid_max attributes, or ``DEFAULT_VALID_RANGE``."""
    lo, hi = _attr(ds, "valid_min"), _attr(ds, "valid_max")
    if lo is None or hi is None:
        return DEFAULT_VALID_RANGE
    return float(lo), float(hi)


def screen(sm: np.ndarray, fill: float, bounds: tuple[float, float],
           seconds: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which retrievals the reader accepts (what ``inspect`` reports too).

    Args:
        sm: (N,) ``soil_moisture`` as stored [m3 m-3]; fill: its ``_FillValue``;
        bounds: (valid_min, valid_max) of :func:`valid_range` [m3 m-3];
        seconds: (N,) ``tb_time_seconds`` as stored.

    Returns:
        (sm, valid, no_time), (N,) each: float64 soil moisture with the fill as NaN; finite, within
        ``bounds`` and with a time; the time is filled.
    """
    sm = np.asarray(sm, dtype=np.float64)
    sm = np.where(sm == fill, np.nan, sm)
    seconds = np.asarray(seconds, dtype=np.float64)
    no_time = ~np.isfinite(seconds) | (seconds == FLOAT_FILL)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(sm) & (sm >= bounds[0]) & (sm <= bounds[1]) & ~no_time
    return sm, valid, no_time


def recommended(qflag: np.ndarray) -> np.ndarray:
    """(N,) bool: bit 0 of ``retrieval_qual_flag`` clear ("retrieval recommended") and not the flag's fill."""
    qflag = np.asarray(qflag)
    return (qflag != FLAG_FILL) & ((qflag & 1) == 0)


class SmapReader:
    """Reads SPL2SMP granules at a fixed set of model cells.

    Args:
        cell_lat, cell_lon: (n,) cell-centre latitude and longitude [deg] of the model cells.

    Each cell's M36 (row, col) is the EASE cell containing its centre; cells outside the
    grid (|lat| > ~85 deg) never get a retrieval.
    """

    def __init__(self, cell_lat: np.ndarray, cell_lon: np.ndarray):
        cell_lat = np.asarray(cell_lat, dtype=np.float64).ravel()
        cell_lon = np.asarray(cell_lon, dtype=np.float64).ravel()
        if cell_lat.shape != cell_lon.shape:
            raise ValueError(f"cell_lat {cell_lat.shape} and cell_lon {cell_lon.shape} differ in shape")
        self.ncells = cell_lat.size
        self.row, self.col = ease.rowcol("M36", cell_lat, cell_lon)
        inside = self.row >= 0
        key = np.where(inside, self.row * ease.GRIDS["M36"].ncol + self.col, -1)
        # cells sorted by their EASE key, so the cells of one EASE cell form a run
        order = np.argsort(key, kind="stable")
        order = order[key[order] >= 0]
        self._order = order
        self._keys = key[order]
        if order.size:
            self._rows = (int(self.row[order].min()), int(self.row[order].max()))
            self._cols = (int(self.col[order].min()), int(self.col[order].max()))
        else:
            self._rows = self._cols = (0, -1)

    def _match(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(entry, cell) index pairs: every model cell whose EASE key equals a granule entry's key."""
        lo = np.searchsorted(self._keys, keys, side="left")
        hi = np.searchsorted(self._keys, keys, side="right")
        counts = hi - lo
        entry = np.repeat(np.arange(keys.size), counts)
        first = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        return entry, self._order[first + np.arange(entry.size)]

    def read(self, path: str | Path) -> CellObservations:
        """One entry per model cell whose M36 cell the granule holds (see the module docstring)."""
        with _open(path) as f:
            rows = _dataset(f, path, "EASE_row_index")[...].astype(np.int64)
            cols = _dataset(f, path, "EASE_column_index")[...].astype(np.int64)
            if rows.shape != cols.shape or rows.ndim != 1:
                raise InputError(f"{path}: EASE_row_index {rows.shape} and EASE_column_index {cols.shape} "
                                 f"are not 1-D arrays of one length")
            near = ((rows >= self._rows[0]) & (rows <= self._rows[1]) & (cols >= self._cols[0])
                    & (cols <= self._cols[1]) & (rows != FLAG_FILL) & (cols != FLAG_FILL))
            picked = np.flatnonzero(near)
            if picked.size:
                i0, i1 = int(picked[0]), int(picked[-1]) + 1     # one contiguous read covering the cells' range
                sub = picked - i0
                entry, cell = self._match((rows[picked] * ease.GRIDS["M36"].ncol + cols[picked]))
                take = sub[entry]
            direction = granule_direction(f, path)
            if not picked.size or not entry.size:
                return CellObservations.empty({"direction": "<U1", "surface_flag": np.uint16,
                                               "retrieval_qual_flag": np.uint16})
            sm_ds = _dataset(f, path, "soil_moisture")
            sm = sm_ds[i0:i1][take]
            sm_fill = float(_attr(sm_ds, "_FillValue", FLOAT_FILL))
            bounds = valid_range(sm_ds)
            qflag = _dataset(f, path, "retrieval_qual_flag")[i0:i1][take]
            surface = _dataset(f, path, "surface_flag")[i0:i1][take]
            seconds = _dataset(f, path, "tb_time_seconds")[i0:i1][take].astype(np.float64)
            start = granule_start(f, path)

        sm, valid, no_time = screen(sm, sm_fill, bounds, seconds)
        quality = recommended(qflag)
        if np.any(no_time) and start is None:
            raise InputError(f"{path}: tb_time_seconds is filled and the granule start is unknown")
        time = np.where(no_time, start if start is not None else 0,
                        np.round(np.where(no_time, 0.0, seconds)).astype(np.int64) + EPOCH_2000)
        return CellObservations(cell, time, sm, quality, valid,
                                {"direction": np.full(cell.size, direction, dtype="<U1"),
                                 "surface_flag": surface.astype(np.uint16),
                                 "retrieval_qual_flag": qflag.astype(np.uint16)})


# ---------------------------------------------------------------------------
# Writing a granule in the same layout
# ---------------------------------------------------------------------------

_COORDS = f"/{GROUP}/latitude /{GROUP}/longitude"
#: Dataset attributes as in the real v8 granule (fixed-length ASCII strings there).
_ATTRS = {
    "soil_moisture": {"long_name": "Representative soil moisture measurement for the Earth based grid cell.",
                      "units": "cm**3/cm**3", "valid_min": np.float32(0.02), "valid_max": np.float32(0.5)},
    "retrieval_qual_flag": {
        "long_name": "Bit flags that record the conditions and the quality of the retrieval algorithms that "
                     "generate soil moisture within each grid cell",
        "flag_masks": "1s, 2s, 4s, 8s",
        "flag_meanings": "Soil_moisture_retrieval_recommended Soil_moisture_retrieval_attempted "
                         "Soil_moisture_retrieval_success FT_retrieval_success"},
    "surface_flag": {
        "long_name": "Bit flags that record ambient surface conditions within each grid cell",
        "flag_masks": "1s, 2s, 4s, 8s, 16s, 32s, 64s, 128s, 256s, 512s, 1024s, 2048s",
        "flag_meanings": "36_km_static_water_body 36_km_radar_water_body_detection 36_km_coastal_proximity "
                         "36_km_urban_area 36_km_precipitation 36_km_snow_or_ice 36_km_permanent_snow_or_ice "
                         "36_km_radiometer_frozen_ground 36_km_model_frozen_ground 36_km_mountainous_terrain "
                         "36_km_dense_vegetation 36_km_nadir_region"},
    "tb_time_seconds": {
        "long_name": "Arithmetic average of the acquisition time of all of the brightness temperature footprints "
                     "with a center that falls within the EASE grid cell in seconds since noon on January 1, "
                     "2000 UTC.",
        "units": "seconds", "valid_min": np.float64(-999999.9), "valid_max": np.float64(940000000.0)},
    "tb_time_utc": {
        "long_name": "Arithmetic average of the acquisition time of all of the brightness temperature footprints "
                     "with a center that falls within the EASE grid cell in UTC."},
    "EASE_row_index": {"long_name": "The row index of the 36 km EASE grid cell that contains the associated data.",
                       "valid_min": np.uint16(0), "valid_max": np.uint16(405)},
    "EASE_column_index": {"long_name": "The column index of the 36 km EASE grid cell that contains the associated "
                                       "data.", "valid_min": np.uint16(0), "valid_max": np.uint16(963)},
    "latitude": {"long_name": "Latitude of the center of the Earth based grid cell.", "units": "degrees_north"},
    "longitude": {"long_name": "Longitude of the center of the Earth based grid cell.", "units": "degrees_east"},
    "grid_surface_status": {"long_name": "Indicates if the grid point lies on land (0) or water (1).",
                            "valid_min": np.uint16(0), "valid_max": np.uint16(1)},
}
#: Dataset dtype and fill value (None: no _FillValue attribute), as in the real granule.
_TYPES = {
    "soil_moisture": (np.float32, np.float32(FLOAT_FILL)), "retrieval_qual_flag": (np.uint16, np.uint16(FLAG_FILL)),
    "surface_flag": (np.uint16, np.uint16(FLAG_FILL)), "tb_time_seconds": (np.float64, np.float64(FLOAT_FILL)),
    "tb_time_utc": ("S24", None), "EASE_row_index": (np.uint16, np.uint16(FLAG_FILL)),
    "EASE_column_index": (np.uint16, np.uint16(FLAG_FILL)), "latitude": (np.float32, None),
    "longitude": (np.float32, None), "grid_surface_status": (np.uint16, np.uint16(FLAG_FILL)),
}


def _utc_text(seconds: float) -> str:
    """``YYYY-MM-DDThh:mm:ss.sssZ`` of seconds since 1970 (the tb_time_utc style)."""
    moment = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=float(seconds))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def write_smap_granule(path: str | Path, *, orbit: int, direction: str, row: Sequence[int], col: Sequence[int],
                       soil_moisture: np.ndarray, retrieval_qual_flag: np.ndarray, time: np.ndarray,
                       surface_flag: np.ndarray | None = None, grid_surface_status: np.ndarray | None = None,
                       start: dt.datetime | int | None = None, end: dt.datetime | int | None = None,
                       crid: str = CRID_V8) -> Path:
    """Write an SPL2SMP-layout granule; all arrays (N,), one entry per M36 cell.

    Args:
        path: file to write (use ``granule_name`` for the standard name).
        orbit: revolution number (Metadata/OrbitMeasuredLocation@revNumber).
        direction: 'A' or 'D' (Metadata/OrbitMeasuredLocation@orbitDirection).
        row, col: M36 EASE row (0..405) and column (0..963) of each entry.
        soil_moisture: [m3 m-3]; NaN is written as the fill -9999.
        retrieval_qual_flag: uint16 bit flags (bit 0 set = not recommended).
        time: retrieval times [s since 1970-01-01 UTC], float or int; NaN -> fill.
        surface_flag: uint16 bit flags (default 0).
        grid_surface_status: 0 land, 1 water (default 0).
        start, end: half-orbit start and end for Metadata/Extent (default: first and last time).
        crid: Composite Release ID.

    Latitude/longitude are the M36 cell centres (float32), ``tb_time_utc`` the text of ``time``.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f"direction {direction!r}; expected 'A' or 'D'")
    row = np.asarray(row, dtype=np.int64)
    col = np.asarray(col, dtype=np.int64)
    n = row.size
    g = ease.GRIDS["M36"]
    if np.any((row < 0) | (row >= g.nrow) | (col < 0) | (col >= g.ncol)):
        raise ValueError("EASE row/col outside the M36 grid (rows 0..405, columns 0..963)")
    time = np.asarray(time, dtype=np.float64)
    lat, lon = ease.latlon(g, row, col)
    finite_time = time[np.isfinite(time)]
    t_start = as_seconds(start) if start is not None else (float(finite_time.min()) if finite_time.size else 0.0)
    t_end = as_seconds(end) if end is not None else (float(finite_time.max()) if finite_time.size else t_start)
    tb = np.where(np.isfinite(time), time - EPOCH_2000, FLOAT_FILL)
    data = {
        "soil_moisture": np.where(np.isfinite(soil_moisture), soil_moisture, FLOAT_FILL),
        "retrieval_qual_flag": np.asarray(retrieval_qual_flag),
        "surface_flag": np.zeros(n) if surface_flag is None else np.asarray(surface_flag),
        "tb_time_seconds": tb,
        "tb_time_utc": np.array([_utc_text(t) if np.isfinite(t) else "" for t in time.tolist()], dtype="S24"),
        "EASE_row_index": row, "EASE_column_index": col, "latitude": lat, "longitude": lon,
        "grid_surface_status": np.zeros(n) if grid_surface_status is None else np.asarray(grid_surface_status),
    }
    path = Path(path)
    with h5py.File(path, "w") as f:
        group = f.create_group(GROUP)
        for name, values in data.items():
            if values.shape != (n,):
                raise ValueError(f"{name} has shape {values.shape}; expected ({n},)")
            dtype, fill = _TYPES[name]
            kwargs = {"fillvalue": fill} if fill is not None else {}
            ds = group.create_dataset(name, data=values.astype(dtype), chunks=(max(n, 1),) if n else None,
                                      compression="gzip" if n else None, compression_opts=2 if n else None,
                                      **kwargs)
            if fill is not None:
                ds.attrs["_FillValue"] = fill
            if name not in ("latitude", "longitude"):
                ds.attrs["coordinates"] = np.bytes_(_COORDS)
            for key, value in _ATTRS[name].items():
                ds.attrs[key] = np.bytes_(value) if isinstance(value, str) else value
        meta = f.create_group("Metadata")
        orbit_group = meta.create_group("OrbitMeasuredLocation")
        orbit_group.attrs["orbitDirection"] = _DIRECTIONS[direction]
        orbit_group.attrs["revNumber"] = np.int32(orbit)
        extent = meta.create_group("Extent")
        extent.attrs["rangeBeginningDateTime"] = _utc_text(t_start)
        extent.attrs["rangeEndingDateTime"] = _utc_text(t_end)
        ident = meta.create_group("DatasetIdentification")
        ident.attrs["CompositeReleaseID"] = crid
        ident.attrs["ECSVersionID"] = "008"
        ident.attrs["SMAPShortName"] = "L2_SM_P"
        ident.attrs["shortName"] = "SPL2SMP"
        ident.attrs["fileName"] = path.name
        ident.attrs["abstract"] = "Synthetic SPL2SMP-layout granule written by mpilda (not a SMAP product)."
    return path
