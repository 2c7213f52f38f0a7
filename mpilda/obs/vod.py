"""AMSR2 X-band vegetation optical depth from LPDR v3 GeoTIFFs (NTSG/NSIDC-0451): find, read, write.

Facts and assumptions (shared/reference/data-formats.md section 3; no real sample exists, so
everything below except the EASE-Grid maths is **unverified**):

* Names ``AMSRU_Mland_{YYYY}{DDD}{A|D}.tif`` (DDD day of year; A ascending ~13:30, D descending
  ~01:30 local solar time).  Only D (night) files are assimilated: ``find_vod_files`` returns
  them by default.
* A 7-band float GeoTIFF, band 5 (1-based) = X-band VOD [-], fill -999 (or the GDAL_NODATA tag
  if present), valid 0..3.  Bands may be stored as samples of one page (planar or interleaved)
  or as 7 pages; all three are read.
* Georeference read from the geokeys, never assumed: EASE-Grid 2.0 M25 (ProjectedCSType 6933,
  or a user-defined cylindrical equal-area projection with standard parallel 30) with
  ModelTiepoint/ModelPixelScale giving the window's offset in the global 1388 x 584 grid; or a
  geographic WGS84 lat/lon raster (GTModelType 2; one third-party loader treated NTSG files as
  0.25 degree lat/lon).  A model cell takes the pixel containing its centre (nearest M25 cell).
* QA companion: ``{stem}_QA.tif`` (also accepted: ``{stem}QA.tif``, ``{stem}.QA.tif``; the
  data-formats notes only say names "end in QA.tif").  Assumed semantics: an integer raster on
  the same grid, one band (or band 5 of a multi-band file), **0 = good retrieval, anything else
  flagged** (frozen ground, snow, open water, ...; v3 QC semantics unverified); its own
  nodata/fill counts as flagged.
* Time: no per-pixel acquisition time in the product; the file's date at the overpass's local
  solar time (D 01:30, A 13:30), converted to UTC per cell (UTC = local - lon / 15 h).

Reads are windowed: only the strips or tiles of band 5 covering the model cells' rows and
columns are read and decoded.
"""

from __future__ import annotations

import datetime as dt
import re
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import tifffile

from ..errors import InputError
from . import ease
from .records import CellObservations, as_seconds, local_solar_to_utc

NAME = re.compile(r"AMSRU_Mland_(\d{4})(\d{3})([AD])\.tif$")
#: Band order of the LPDR v3 GeoTIFF (data-formats.md s.3, unverified); VOD is band 5.
BANDS = ("fw", "fwns", "tmn_tmx", "pwv", "vod", "vsm", "vpd")
VOD_BAND = 5
FILL = -999.0
VALID_RANGE = (0.0, 3.0)
#: Local solar time [h] of the overpasses: GCOM-W1 equator crossings ~01:30 (D) and ~13:30 (A).
OVERPASS_HOUR = {"D": 1.5, "A": 13.5}
#: QA value written for / meaning a good retrieval (assumption, see the module docstring).
QA_GOOD = 0
QA_FILL = 255

# GeoTIFF tags and keys (GeoTIFF 1.0 specification).
_TAG_SCALE, _TAG_TIEPOINT, _TAG_GEOKEYS = 33550, 33922, 34735
_TAG_DOUBLES, _TAG_ASCII, _TAG_NODATA = 34736, 34737, 42113           # 42113: GDAL_NODATA (GDAL's private tag)
_GT_MODEL, _GT_RASTER, _GEOGRAPHIC, _PROJECTED, _PROJ_TRANS, _STD_PARALLEL = 1024, 1025, 2048, 3072, 3075, 3078
_MODEL_PROJECTED, _MODEL_GEOGRAPHIC = 1, 2
_PIXEL_IS_AREA, _PIXEL_IS_POINT = 1, 2
_EPSG_EASE2_GLOBAL, _EPSG_WGS84, _USER_DEFINED = 6933, 4326, 32767
_CT_CYLINDRICAL_EQUAL_AREA = 28


def vod_file_name(date: dt.date, direction: str) -> str:
    """``AMSRU_Mland_{YYYY}{DDD}{A|D}.tif``."""
    if direction not in OVERPASS_HOUR:
        raise ValueError(f"direction {direction!r}; expected 'A' or 'D'")
    return f"AMSRU_Mland_{date:%Y}{date.timetuple().tm_yday:03d}{direction}.tif"


def qa_file_name(path: str | Path) -> Path:
    """The QA companion written next to a VOD file: ``{stem}_QA.tif``."""
    path = Path(path)
    return path.with_name(f"{path.stem}_QA.tif")


def find_qa(path: str | Path) -> Path | None:
    """The QA companion of a VOD file if one exists (``_QA``, ``QA`` or ``.QA`` before ``.tif``)."""
    path = Path(path)
    for name in (f"{path.stem}_QA.tif", f"{path.stem}QA.tif", f"{path.stem}.QA.tif"):
        if (path.parent / name).is_file():
            return path.parent / name
    return None


def parse_name(path: str | Path) -> tuple[dt.date, str] | None:
    """(date, direction) of an ``AMSRU_Mland_YYYYDDD{A|D}.tif`` name, or None."""
    m = NAME.search(Path(path).name)
    if not m:
        return None
    year, doy = int(m.group(1)), int(m.group(2))
    if not 1 <= doy <= (366 if dt.date(year, 12, 31).timetuple().tm_yday == 366 else 365):
        return None
    return dt.date(year, 1, 1) + dt.timedelta(days=doy - 1), m.group(3)


def find_vod_files(directory: str | Path, start: dt.datetime | int, end: dt.datetime | int,
                   direction: str = "D", paths: Sequence[Path] | None = None) -> list[Path]:
    """VOD GeoTIFFs of ``direction`` in ``directory`` whose date overlaps [start, end), sorted by date
    (``paths``: only these files of the directory)."""
    t0, t1 = as_seconds(start), as_seconds(end)
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory of AMSR2 VOD files")
    found = []
    for path in directory.iterdir() if paths is None else paths:
        parsed = parse_name(path)
        if parsed is None or parsed[1] != direction or not path.is_file():
            continue
        day = as_seconds(parsed[0])
        if day < t1 and day + 86400 > t0:
            found.append((parsed[0], path))
    return [p for _, p in sorted(found)]


# ---------------------------------------------------------------------------
# Georeference from the geokeys
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Georef:
    """Where a raster lies.

    kind "ease2": pixel (0, 0) is cell (row0, col0) of the global M25 grid.
    kind "latlon": pixel (i, j) covers latitudes north - (i..i+1) * dlat and longitudes
    west + (j..j+1) * dlon [deg].
    """

    kind: str
    row0: int = 0
    col0: int = 0
    west: float = 0.0
    north: float = 0.0
    dlon: float = 0.0
    dlat: float = 0.0

    def pixel(self, cell_row: np.ndarray, cell_col: np.ndarray, lat: np.ndarray, lon: np.ndarray):
        """(row, col) int64 in the raster of the cells (M25 row/col, or lat/lon for a lat/lon raster)."""
        if self.kind == "ease2":
            return cell_row - self.row0, cell_col - self.col0
        lon = (np.asarray(lon, dtype=np.float64) - self.west) % 360.0 + self.west
        return (np.floor((self.north - lat) / self.dlat).astype(np.int64),
                np.floor((lon - self.west) / self.dlon).astype(np.int64))


def _tag(page: tifffile.TiffPage, code: int):
    tag = page.tags.get(code)
    return None if tag is None else tag.value


def _geokeys(page: tifffile.TiffPage, path) -> dict[int, object]:
    """The GeoKeyDirectory as {key: value} (values from the double/ascii parameter tags resolved)."""
    directory = _tag(page, _TAG_GEOKEYS)
    if directory is None:
        raise InputError(f"{path}: no GeoKeyDirectory tag: not a GeoTIFF")
    directory = [int(v) for v in directory]
    doubles = _tag(page, _TAG_DOUBLES) or ()
    ascii_ = _tag(page, _TAG_ASCII) or ""
    keys = {}
    for i in range(directory[3]):
        key, location, count, offset = directory[4 + 4 * i: 8 + 4 * i]
        if location == 0:
            keys[key] = offset
        elif location == _TAG_DOUBLES:
            values = tuple(float(v) for v in doubles[offset: offset + count])
            keys[key] = values[0] if count == 1 else values
        elif location == _TAG_ASCII:
            keys[key] = str(ascii_)[offset: offset + count].rstrip("|\x00")
    return keys


def georef(page: tifffile.TiffPage, path) -> Georef:
    """The raster's place, from GTModelType, the CRS keys, ModelTiepoint and ModelPixelScale."""
    keys = _geokeys(page, path)
    scale, tie = _tag(page, _TAG_SCALE), _tag(page, _TAG_TIEPOINT)
    if scale is None or tie is None or len(tie) < 6:
        raise InputError(f"{path}: GeoTIFF without ModelPixelScale/ModelTiepoint tags")
    sx, sy = float(scale[0]), float(scale[1])
    i, j, x, y = float(tie[0]), float(tie[1]), float(tie[3]), float(tie[4])
    shift = 0.5 if keys.get(_GT_RASTER, _PIXEL_IS_AREA) == _PIXEL_IS_POINT else 0.0
    west, north = x - (i + shift) * sx, y + (j + shift) * sy            # corner of pixel (0, 0)
    model = keys.get(_GT_MODEL)
    if model == _MODEL_PROJECTED:
        pcs = keys.get(_PROJECTED)
        user_cea = (pcs == _USER_DEFINED and keys.get(_PROJ_TRANS) == _CT_CYLINDRICAL_EQUAL_AREA
                    and abs(float(keys.get(_STD_PARALLEL, 0.0)) - ease.STANDARD_PARALLEL) < 1e-6)
        if pcs != _EPSG_EASE2_GLOBAL and not user_cea:
            raise InputError(f"{path}: projected CRS {pcs}; expected EASE-Grid 2.0 global (EPSG:6933)")
        g = ease.GRIDS["M25"]
        if abs(sx - g.cell) > 1e-3 or abs(sy - g.cell) > 1e-3:
            raise InputError(f"{path}: pixel size {sx} x {sy} m; expected the 25 km EASE-Grid 2.0 "
                             f"({g.cell} m)")
        col0, row0 = (west - g.x0) / g.cell, (g.y0 - north) / g.cell
        if abs(col0 - round(col0)) > 1e-3 or abs(row0 - round(row0)) > 1e-3:
            raise InputError(f"{path}: tiepoint ({x}, {y}) m is not on a corner of the 25 km EASE-Grid 2.0")
        return Georef("ease2", row0=int(round(row0)), col0=int(round(col0)))
    if model == _MODEL_GEOGRAPHIC:
        gcs = keys.get(_GEOGRAPHIC, _EPSG_WGS84)
        if gcs != _EPSG_WGS84:
            raise InputError(f"{path}: geographic CRS {gcs}; expected WGS84 (EPSG:4326)")
        return Georef("latlon", west=west, north=north, dlon=sx, dlat=sy)
    raise InputError(f"{path}: GTModelType {model}; expected projected (EASE-Grid 2.0) or geographic")


# ---------------------------------------------------------------------------
# Windowed band reads
# ---------------------------------------------------------------------------

def _band_page(tif: tifffile.TiffFile, band: int, path) -> tuple[tifffile.TiffPage, int]:
    """(page, sample index) of 1-based ``band``: a sample of the first page, or a page of its own."""
    page = tif.pages.first
    if page.samplesperpixel >= band:
        return page, band - 1
    if page.samplesperpixel == 1 and len(tif.pages) >= band:
        return tif.pages[band - 1], 0
    raise InputError(f"{path}: {page.samplesperpixel} band(s) in {len(tif.pages)} page(s); band {band} is needed")


def read_window(tif: tifffile.TiffFile, band: int, rows: slice, cols: slice, path) -> np.ndarray:
    """Band ``band`` (1-based) over [rows, cols] of the raster, decoding only the strips/tiles covering it."""
    page, sample = _band_page(tif, band, path)
    height, width = page.imagelength, page.imagewidth
    r0, r1, c0, c1 = rows.start, rows.stop, cols.start, cols.stop
    out = np.empty((r1 - r0, c1 - c0), dtype=page.dtype)
    separate = page.planarconfig == 2 and page.samplesperpixel > 1
    plane = sample if separate else 0
    if page.is_tiled:
        tl, tw = page.tilelength, page.tilewidth
        across, down = -(-width // tw), -(-height // tl)
        ty, tx = np.meshgrid(np.arange(r0 // tl, (r1 - 1) // tl + 1), np.arange(c0 // tw, (c1 - 1) // tw + 1),
                             indexing="ij")
        indices = (plane * across * down + ty * across + tx).ravel()
    else:
        rps = min(page.rowsperstrip or height, height)
        per_plane = -(-height // rps)
        indices = plane * per_plane + np.arange(r0 // rps, (r1 - 1) // rps + 1)
    fh = tif.filehandle
    try:
        for index in indices.tolist():
            fh.seek(page.dataoffsets[index])
            data = fh.read(page.databytecounts[index])
            segment, (_, _, y, x, _), shape = page.decode(data, index, jpegtables=page.jpegtables)
            seg = segment[0, :, :, sample if not separate else 0] if segment is not None \
                else np.zeros(shape[1:3], dtype=page.dtype)
            ys, xs = max(r0, y), max(c0, x)
            ye, xe = min(r1, y + seg.shape[0], height), min(c1, x + seg.shape[1], width)
            if ye > ys and xe > xs:
                out[ys - r0:ye - r0, xs - c0:xe - c0] = seg[ys - y:ye - y, xs - x:xe - x]
    except (ValueError, NotImplementedError):
        # a layout the segment decoder does not handle: read the whole band instead
        whole = page.asarray()
        whole = whole[sample] if separate else (whole[..., sample] if page.samplesperpixel > 1 else whole)
        out[:] = whole[r0:r1, c0:c1]
    return out


def _nodata(page: tifffile.TiffPage, default: float) -> float:
    value = _tag(page, _TAG_NODATA)
    try:
        return float(str(value).strip("\x00 ")) if value is not None else default
    except ValueError:
        return default


# ---------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------

class VodReader:
    """Reads LPDR v3 VOD GeoTIFFs at a fixed set of model cells (the M25 cell or pixel holding each centre).

    Args:
        cell_lat, cell_lon: (n,) cell-centre latitude and longitude [deg] of the model cells.
    """

    def __init__(self, cell_lat: np.ndarray, cell_lon: np.ndarray):
        self.lat = np.asarray(cell_lat, dtype=np.float64).ravel()
        self.lon = np.asarray(cell_lon, dtype=np.float64).ravel()
        if self.lat.shape != self.lon.shape:
            raise ValueError(f"cell_lat {self.lat.shape} and cell_lon {self.lon.shape} differ in shape")
        self.row, self.col = ease.rowcol("M25", self.lat, self.lon)

    def read(self, path: str | Path, qa_path: str | Path | None = None, require_qa: bool = True) -> CellObservations:
        """One entry per model cell inside the raster.

        value: band 5 VOD [-], fill -> NaN; valid: finite and within 0..3; quality: QA companion
        == 0 (``qa_path``, else found next to the file); without one, an InputError, or with
        ``require_qa=False`` quality = valid.  Extras: ``direction`` ('A'/'D'), ``qa`` (int64, -1
        where no QA file).
        """
        path = Path(path)
        parsed = parse_name(path)
        if parsed is None:
            raise InputError(f"{path}: not an LPDR VOD file name (expected AMSRU_Mland_YYYYDDD[A|D].tif); the "
                             f"date and overpass come from the name")
        date, direction = parsed
        qa_path = Path(qa_path) if qa_path is not None else find_qa(path)
        if qa_path is None and require_qa:
            raise InputError(f"{path}: no QA companion ({qa_file_name(path).name}, {path.stem}QA.tif or "
                             f"{path.stem}.QA.tif) next to it")
        value, where, ref, shape = self._band(path, VOD_BAND, FILL)
        if qa_path is not None:
            qa, _, qref, qshape = self._band(qa_path, VOD_BAND, QA_FILL, single_ok=True)
            if qref != ref or qshape != shape:
                raise InputError(f"{qa_path}: QA raster grid {qref} {qshape} differs from {path.name}'s {ref} {shape}")
            qa_nodata = qa[1]
            qa = qa[0]
            quality = (qa == QA_GOOD) & (qa != qa_nodata)
            qa_out = qa.astype(np.int64)
        vod, nodata = value
        vod = vod.astype(np.float64)
        vod[(vod == nodata) | (vod == FILL)] = np.nan
        with np.errstate(invalid="ignore"):
            valid = np.isfinite(vod) & (vod >= VALID_RANGE[0]) & (vod <= VALID_RANGE[1])
        if qa_path is None:
            quality, qa_out = valid.copy(), np.full(vod.size, -1, np.int64)
        time = local_solar_to_utc(as_seconds(date), OVERPASS_HOUR[direction], self.lon[where])
        return CellObservations(where, time, vod, quality, valid,
                                {"direction": np.full(where.size, direction, dtype="<U1"), "qa": qa_out})

    def _band(self, path: Path, band: int, fill: float, single_ok: bool = False):
        """((values at the cells inside, nodata), cell indices, georef, raster shape) of one band of a file."""
        try:
            tif = tifffile.TiffFile(path)
        except (OSError, tifffile.TiffFileError) as exc:
            raise InputError(f"{path}: not a readable TIFF file ({exc})") from None
        with tif:
            page = tif.pages.first
            ref = georef(page, path)
            shape = (page.imagelength, page.imagewidth)
            if single_ok and page.samplesperpixel == 1 and len(tif.pages) < band:
                band = 1
            r, c = ref.pixel(self.row, self.col, self.lat, self.lon)
            inside = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
            if ref.kind == "ease2":
                inside &= self.row >= 0
            where = np.flatnonzero(inside)
            if not where.size:
                return (np.empty(0), fill), where, ref, shape
            rows = slice(int(r[where].min()), int(r[where].max()) + 1)
            cols = slice(int(c[where].min()), int(c[where].max()) + 1)
            try:
                window = read_window(tif, band, rows, cols, path)
            except (OSError, EOFError, zlib.error, tifffile.TiffFileError) as exc:
                raise InputError(f"{path}: the raster cannot be read or decoded, e.g. a truncated file ({exc})") \
                    from None
            nodata = _nodata(page, fill)
        return (window[r[where] - rows.start, c[where] - cols.start], nodata), where, ref, shape


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------

def _geotiff_tags(ref: Georef, nodata: float) -> list[tuple]:
    """extratags for tifffile: pixel scale, tiepoint, geokeys and GDAL_NODATA."""
    if ref.kind == "ease2":
        g = ease.GRIDS["M25"]
        scale = (g.cell, g.cell, 0.0)
        tie = (0.0, 0.0, 0.0, g.x0 + ref.col0 * g.cell, g.y0 - ref.row0 * g.cell, 0.0)
        keys = [(_GT_MODEL, 0, 1, _MODEL_PROJECTED), (_GT_RASTER, 0, 1, _PIXEL_IS_AREA),
                (_PROJECTED, 0, 1, _EPSG_EASE2_GLOBAL)]
    else:
        scale = (ref.dlon, ref.dlat, 0.0)
        tie = (0.0, 0.0, 0.0, ref.west, ref.north, 0.0)
        keys = [(_GT_MODEL, 0, 1, _MODEL_GEOGRAPHIC), (_GT_RASTER, 0, 1, _PIXEL_IS_AREA),
                (_GEOGRAPHIC, 0, 1, _EPSG_WGS84)]
    directory = [1, 1, 0, len(keys)] + [v for key in keys for v in key]
    return [(_TAG_SCALE, "d", 3, scale, True), (_TAG_TIEPOINT, "d", 6, tie, True),
            (_TAG_GEOKEYS, "H", len(directory), directory, True),
            (_TAG_NODATA, "s", 0, f"{nodata:g}", True)]


def write_geotiff(path: str | Path, bands: np.ndarray, ref: Georef, nodata: float) -> Path:
    """Write (nbands, rows, cols) as a planar, deflate-compressed, striped GeoTIFF placed by ``ref``."""
    bands = np.asarray(bands)
    if bands.ndim == 2:
        bands = bands[None]
    tifffile.imwrite(path, bands if bands.shape[0] > 1 else bands[0], photometric="minisblack",
                     planarconfig="separate" if bands.shape[0] > 1 else None, compression="zlib",
                     rowsperstrip=16, metadata=None, extratags=_geotiff_tags(ref, nodata))
    return Path(path)


def write_vod_file(path: str | Path, date: dt.date, direction: str, vod: np.ndarray, qa: np.ndarray | None = None,
                   *, row0: int = 0, col0: int = 0, bands: dict[str, np.ndarray] | None = None) -> tuple[Path, Path]:
    """Write an LPDR v3-layout VOD GeoTIFF and its QA companion; returns (VOD path, QA path).

    Args:
        path: directory to write into, or the file (its name must be ``vod_file_name(date, direction)``).
        date, direction: the day and overpass ('A' or 'D') of the file name.
        vod: (rows, cols) VOD [-] of the whole M25 grid (584 x 1388) or of a window whose pixel
            (0, 0) is global cell (row0, col0); NaN -> -999.
        qa: (rows, cols) integer QA, 0 = good (default all 0); written as uint8 to ``{stem}_QA.tif``.
        bands: the other bands by name (``BANDS``), same shape; missing ones are filled with -999.
    """
    vod = np.asarray(vod, dtype=np.float64)
    g = ease.GRIDS["M25"]
    if vod.ndim != 2 or row0 < 0 or col0 < 0 or row0 + vod.shape[0] > g.nrow or col0 + vod.shape[1] > g.ncol:
        raise ValueError(f"vod of shape {vod.shape} at ({row0}, {col0}) does not fit the {g.nrow} x {g.ncol} M25 grid")
    path = Path(path)
    name = vod_file_name(date, direction)
    if path.is_dir():
        path = path / name
    elif path.name != name:
        raise ValueError(f"{path.name}: the file must be called {name} (the reader takes date and overpass from it)")
    stack = np.full((len(BANDS),) + vod.shape, FILL, dtype=np.float32)
    for k, band in enumerate(BANDS):
        values = vod if band == "vod" else (bands or {}).get(band)
        if values is not None:
            stack[k] = np.where(np.isfinite(values), values, FILL)
    ref = Georef("ease2", row0=row0, col0=col0)
    write_geotiff(path, stack, ref, FILL)
    qa = np.zeros(vod.shape, np.uint8) if qa is None else np.asarray(qa).astype(np.uint8)
    if qa.shape != vod.shape:
        raise ValueError(f"qa has shape {qa.shape}; expected {vod.shape}")
    qa_path = qa_file_name(path)
    write_geotiff(qa_path, qa, ref, QA_FILL)
    return path, qa_path
