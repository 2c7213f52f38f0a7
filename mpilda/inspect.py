"""Recognise the format of an input file and summarise what it holds (the ``inspect`` command).

A small registry of detectors: each input format has one ``Detector`` (registered at the end
of this module, the evaluation readers' formats included) with a name (e.g. "era5-netcdf"), a
cheap ``detect(path) -> bool`` that never raises, and a ``summarise(path) -> dict`` giving at least

* ``variables``: {name: {"units", "count" (valid values), "mean", "min", "max"}} after
  conversion to the model's SI units, named as the model names them where the mapping is
  direct;
* ``time_start``, ``time_end``: ISO 8601 UTC ("2020-01-01T00:00:00Z"), or None.

``inspect_path`` tries the detectors in order and returns ``{"format": name, **summary}``,
a JSON-ready dict (plain ints, floats, strings, lists; None for "no value").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import InputError
from .evaluation import fluxnet, ismn, xbase
from .forcing import era5
from .obs import cgls, ease, smap, vod
from .obs.records import as_seconds, iso, local_solar_to_utc
from .summary import Stats


@dataclass(frozen=True)
class Detector:
    """One input format: its name, how to recognise a file of it and how to summarise one."""

    name: str
    detect: Callable[[Path], bool]
    summarise: Callable[[Path], dict]


#: The known formats, tried in order.
DETECTORS: list[Detector] = []


def register(name: str, detect: Callable[[Path], bool], summarise: Callable[[Path], dict]) -> None:
    """Add a format to the registry (a later reader adds its own with one call)."""
    if any(d.name == name for d in DETECTORS):
        raise ValueError(f"format {name!r} is already registered")
    DETECTORS.append(Detector(name, detect, summarise))


def inspect_path(path: str | Path) -> dict:
    """Detect the format of the input file ``path`` and summarise it (a JSON-ready dict).

    ``path`` may also run through a zip archive to a member of it
    (``archive.zip/Network/Station/file.stm``), as the ISMN reader accepts.

    Raises:
        InputError: no such file, a file of no known format (the message lists the known
            formats), or a file of a known format holding something it should not.
    """
    path = Path(path)
    if not ismn.exists(path):
        raise InputError(f"{path}: no such file")
    for detector in DETECTORS:
        if detector.detect(path):
            return {"format": detector.name, **detector.summarise(path)}
    raise InputError(f"{path}: not a file of a known format; the known formats are "
                     f"{', '.join(d.name for d in DETECTORS)}")


# ---------------------------------------------------------------------------
# ERA5 netCDF (legacy and new CDS)
# ---------------------------------------------------------------------------

_NETCDF_MAGIC = (b"CDF\x01", b"CDF\x02", b"CDF\x05", b"\x89HDF\r\n\x1a\n")

#: ERA5 parameter -> (model name, expected units, factor to the model's SI units, SI units, clip at 0).
#: Units and conversions as in mpilda.forcing.era5 (data-formats.md section 4); model-level
#: parameters (q, t, u, v) are reported on the lowest level.
_ERA5_MODEL_NAMES = {
    "t2m": ("tair", "K", 1.0, "K", False),
    "sp": ("psurf", "Pa", 1.0, "Pa", False),
    "d2m": ("dewpoint", "K", 1.0, "K", False),
    "u10": ("wind_u", "m s-1", 1.0, "m s-1", False),
    "v10": ("wind_v", "m s-1", 1.0, "m s-1", False),
    "tp": ("precipitation", "m", 1000.0 / era5.HOUR, "kg m-2 s-1", True),
    "mtpr": ("precipitation", "kg m-2 s-1", 1.0, "kg m-2 s-1", True),
    "ssrd": ("swdown", "J m-2", 1.0 / era5.HOUR, "W m-2", True),
    "msdwswrf": ("swdown", "W m-2", 1.0, "W m-2", True),
    "strd": ("lwdown", "J m-2", 1.0 / era5.HOUR, "W m-2", True),
    "msdwlwrf": ("lwdown", "W m-2", 1.0, "W m-2", True),
    "q": ("qair", "kg kg-1", 1.0, "kg kg-1", False),
    "t": ("tair", "K", 1.0, "K", False),
    "u": ("wind_u", "m s-1", 1.0, "m s-1", False),
    "v": ("wind_v", "m s-1", 1.0, "m s-1", False),
}
#: Short names that mark a netCDF file with latitude/longitude/time as ERA5 (with grib_to_netcdf or GRIB_ attributes).
_ERA5_NAMES = set(_ERA5_MODEL_NAMES) | {"swvl1", "swvl2", "swvl3", "swvl4", "lsm", "msdwswrfcs", "msdrswrf",
                                        "msdrswrfcs", "skt", "stl1", "sd", "e", "ro", "z"}
#: The lowest of ERA5's 137 model levels (ECMWF L137 model-level definitions).
_LOWEST_MODEL_LEVEL = 137
#: Values held in memory at once while computing statistics.
_CHUNK_VALUES = 4_000_000


def _is_era5(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if not f.read(8).startswith(_NETCDF_MAGIC):
                return False
        import netCDF4

        with netCDF4.Dataset(path) as ds:
            names = set(ds.variables)
            if not ({"latitude", "longitude"} <= names and names & {"time", "valid_time"}):
                return False
            grib = "grib_to_netcdf" in str(getattr(ds, "history", "")) or any(
                a.startswith("GRIB_") for v in ds.variables.values() for a in v.ncattrs())
            return grib or bool(names & _ERA5_NAMES)
    except Exception:  # detect never raises: a file it cannot read is simply not this format
        return False


def _level_choice(file: era5.Era5File, field: era5.Field) -> tuple[dict[str, int], dict]:
    """Index of the lowest level of every extra dimension longer than 1, and what to say about it."""
    select, notes = {}, {}
    for dim, n in field.extra_dims().items():
        if n == 1 or dim == "expver":
            continue
        coordinate = file.ds.variables.get(dim)
        values = np.asarray(coordinate[:]) if coordinate is not None else np.arange(n)
        # model levels count down from the top (1) to the surface (137); pressure levels (hPa)
        # grow downwards too: the lowest level is the largest value either way
        k = int(np.flatnonzero(values == _LOWEST_MODEL_LEVEL)[0]) if np.any(values == _LOWEST_MODEL_LEVEL) \
            else int(np.argmax(values))
        select[dim] = k
        value = values[k].item()
        notes[dim] = value
        kind = str(getattr(coordinate, "long_name", dim)) if coordinate is not None else dim
        notes["note"] = (f"{kind} {value} only (the lowest in the file"
                         + ("; 137 is ERA5's lowest model level)" if value == _LOWEST_MODEL_LEVEL else ")"))
    return select, notes


def _summarise_era5(path: Path) -> dict:
    file = era5.Era5File(path)
    try:
        return _era5_summary(file)
    finally:
        file.close()


def _era5_summary(file: era5.Era5File) -> dict:
    names = file.data_names()
    ny, nx = file.lat.size, file.lon.size
    step = max(1, _CHUNK_VALUES // max(1, ny * nx))
    everything = slice(None)
    variables: dict[str, dict] = {}

    def statistics(read, convert) -> Stats:
        stats = Stats()
        for t0 in range(0, file.times.size, step):
            stats.add(convert(read(slice(t0, t0 + step))))
        return stats

    for name in names:
        field = file.field(name)
        select, notes = _level_choice(file, field)
        known = _ERA5_MODEL_NAMES.get(name)
        if known is not None and known[0] not in variables:
            model, expected, factor, units, clip = known
            field.check_units(expected)

            def convert(x, factor=factor, clip=clip):
                return (np.maximum(x, 0.0) if clip else x) * factor
        else:
            model, units = name, (era5.normalise_units(field.units) if field.units is not None else None)

            def convert(x):
                return x
        stats = statistics(lambda t, f=field, s=select: f.read(t, everything, everything, s), convert)
        variables[model] = {**stats.summary(units), "source": name, **notes}

    if "d2m" in names and "sp" in names and "qair" not in variables:
        d2m, sp = file.field("d2m"), file.field("sp")
        d2m.check_units(era5.UNITS["d2m"])
        sp.check_units(era5.UNITS["sp"])
        stats = statistics(lambda t: era5.specific_humidity(d2m.read(t, everything, everything),
                                                            sp.read(t, everything, everything)), lambda x: x)
        variables["qair"] = {**stats.summary("kg kg-1"), "source": "d2m, sp"}

    return {
        "path": str(file.path),
        "dialect": file.dialect,
        "time_start": era5.iso(file.times[0]) if file.times.size else None,
        "time_end": era5.iso(file.times[-1]) if file.times.size else None,
        "times": int(file.times.size),
        "grid": {"latitude": [round(float(file.lat.min()), 6), round(float(file.lat.max()), 6)],
                 "longitude": [round(float(file.lon[0]), 6), round(float(file.lon[-1]), 6)], "shape": [ny, nx]},
        "variables": variables,
    }


register("era5-netcdf", _is_era5, _summarise_era5)


# ---------------------------------------------------------------------------
# Observations: SMAP SPL2SMP granules, CGLS netCDF (LAI 300 m and the generic layer), LPDR VOD GeoTIFFs
# ---------------------------------------------------------------------------

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _is_smap(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(8) != _HDF5_MAGIC:
                return False
        import h5py

        with h5py.File(path, "r") as f:
            return all(f"{smap.GROUP}/{n}" in f for n in ("soil_moisture", "retrieval_qual_flag",
                                                           "EASE_row_index", "EASE_column_index"))
    except Exception:  # detect never raises
        return False


def _summarise_smap(path: Path) -> dict:
    """What the reader (mpilda.obs.smap) makes of a granule's retrievals, the fill left out:

    * ``ssm``: those it accepts (within the dataset's valid_min..valid_max, given as ``valid_range``,
      and with a time), with ``retrieved`` (every retrieval) and ``rejected`` (the others);
    * ``ssm_recommended``: those accepted with bit 0 of the quality flag clear (the reader's usable);
    * ``ssm_rejected``: the retrievals it rejects (v8 stores values above its valid_max of 0.5).
    """
    import h5py

    with h5py.File(path, "r") as f:
        group = f[smap.GROUP]
        dataset = group["soil_moisture"]
        fill = float(smap._attr(dataset, "_FillValue", smap.FLOAT_FILL))
        bounds = smap.valid_range(dataset)
        sm, valid, _ = smap.screen(dataset[...], fill, bounds, group["tb_time_seconds"][...])
        quality = smap.recommended(group["retrieval_qual_flag"][...])
        direction = smap.granule_direction(f, path)
        crid = None
        if "Metadata/DatasetIdentification" in f:
            crid = smap._attr(f["Metadata/DatasetIdentification"], "CompositeReleaseID")
    times = smap.granule_times(path)
    retrieved = np.isfinite(sm)
    variables = {}
    for name, which in (("ssm", valid), ("ssm_recommended", valid & quality), ("ssm_rejected", retrieved & ~valid)):
        stats = Stats()
        stats.add(sm[which])
        variables[name] = {**stats.summary("m3 m-3"), "source": "soil_moisture"}
    variables["ssm"].update(valid_range=[float(f"{b:.7g}") for b in bounds], retrieved=int(retrieved.sum()),
                            rejected=int((retrieved & ~valid).sum()))
    parsed = smap.parse_name(path)
    return {"path": str(path), "direction": direction, "orbit": parsed[0] if parsed else None, "crid": crid,
            "cells": int(sm.size), "time_start": iso(int(times.min())) if times.size else None,
            "time_end": iso(int(times.max())) if times.size else None, "variables": variables}


def _cgls_layer_stats(file: cgls.CglsFile, layer: cgls.Layer, usable=None) -> Stats:
    """Stats of a layer's physical values where ``usable(dn, rows) -> bool`` (default: Layer.is_data), in strips."""
    stats = Stats()
    step = max(1, _CHUNK_VALUES // max(1, file.lon.size))
    for r0 in range(0, file.lat.size, step):
        rows = slice(r0, min(file.lat.size, r0 + step))
        dn = file.read_dn(layer, rows, slice(None))
        ok = layer.is_data(dn) if usable is None else usable(dn, rows)
        stats.add(dn[ok].astype(np.float64) * layer.scale + layer.offset)
    return stats


def _cgls_summary(file: cgls.CglsFile) -> dict:
    return {"path": str(file.path), "time_start": iso(file.time), "time_end": iso(file.time),
            "grid": {"latitude": [round(float(file.lat.min()), 6), round(float(file.lat.max()), 6)],
                     "longitude": [round(float(file.lon[0]), 6), round(float(file.lon[-1]), 6)],
                     "shape": [int(file.lat.size), int(file.lon.size)],
                     "pixel_size": [file.dlat, file.dlon], "latitude_descending": bool(file.descending)}}


def _summarise_cgls(path: Path) -> dict:
    """Every (time, lat, lon) layer with a value scale (``scale_factor`` or ``valid_range``): physical statistics."""
    with cgls.CglsFile(path) as file:
        variables = {}
        for name in file.data_names:
            layer = file.layer(name)
            if layer.flag_masks:          # a bit-field layer has no physical value
                continue
            variables[name] = {**_cgls_layer_stats(file, layer).summary(layer.units), "source": name}
        return {**_cgls_summary(file), "variables": variables}


def _summarise_lai300(path: Path) -> dict:
    """``lai``: every pixel that is not the fill (DN * scale); ``lai_valid``: DN in valid_range and no QFLAG
    bit meaning sea, filled/no data or out of range/invalid (mpilda.obs.cgls)."""
    with cgls.CglsFile(path) as file:
        lai = file.layer("LAI")
        qflag = file.layer("QFLAG") if "QFLAG" in file.ds.variables else None
        bits, why = qflag.excluded_bits() if qflag is not None else (0, {})

        def not_fill(dn, rows):
            ok = np.ones(dn.shape, bool)
            for value in lai.fills:
                ok &= dn != value
            return ok

        def valid(dn, rows):
            ok = lai.is_data(dn)
            if bits:
                ok &= (file.read_dn(qflag, rows, slice(None)).astype(np.int64) & bits) == 0
            return ok

        variables = {"lai": {**_cgls_layer_stats(file, lai, not_fill).summary("m2 m-2"), "source": "LAI"},
                     "lai_valid": {**_cgls_layer_stats(file, lai, valid).summary("m2 m-2"), "source": "LAI, QFLAG",
                                   "excluded_flags": sorted(why)}}
        return {**_cgls_summary(file), "variables": variables}


def _is_vod(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            if f.read(4) not in _TIFF_MAGIC:
                return False
        return vod.parse_name(path) is not None
    except Exception:  # detect never raises
        return False


def _summarise_vod(path: Path) -> dict:
    """``vod``: every band-5 value that is not the fill; ``vod_valid``: within 0..3 and QA good (if a QA file exists).

    Times: the date at the overpass's local solar time, UTC over the columns holding a value.
    """
    import tifffile

    date, direction = vod.parse_name(path)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        ref = vod.georef(page, path)
        height, width = page.imagelength, page.imagewidth
        values = vod.read_window(tif, vod.VOD_BAND, slice(0, height), slice(0, width), path).astype(np.float64)
        nodata = vod._nodata(page, vod.FILL)
    qa_path = vod.find_qa(path)
    good = np.ones(values.shape, bool)
    if qa_path is not None:
        with tifffile.TiffFile(qa_path) as tif:
            page = tif.pages.first
            band = vod.VOD_BAND if page.samplesperpixel >= vod.VOD_BAND or len(tif.pages) >= vod.VOD_BAND else 1
            qa = vod.read_window(tif, band, slice(0, height), slice(0, width), qa_path)
            good = (qa == vod.QA_GOOD) & (qa != vod._nodata(page, vod.QA_FILL))
    present = np.isfinite(values) & (values != nodata) & (values != vod.FILL)
    with np.errstate(invalid="ignore"):
        valid = present & (values >= vod.VALID_RANGE[0]) & (values <= vod.VALID_RANGE[1]) & good
    variables = {}
    for name, which in (("vod", present), ("vod_valid", valid)):
        stats = Stats()
        stats.add(values[which])
        variables[name] = {**stats.summary("1"), "source": f"band {vod.VOD_BAND}"}
    columns = np.flatnonzero(present.any(axis=0))
    if ref.kind == "ease2":
        lon = ease.latlon("M25", np.zeros(columns.size), columns + ref.col0)[1]
    else:
        lon = ref.west + (columns + 0.5) * ref.dlon
    times = local_solar_to_utc(as_seconds(date), vod.OVERPASS_HOUR[direction], lon)
    return {"path": str(path), "direction": direction, "qa_file": str(qa_path) if qa_path else None,
            "grid": ref.kind, "shape": [int(height), int(width)],
            "time_start": iso(int(times.min())) if times.size else None,
            "time_end": iso(int(times.max())) if times.size else None, "variables": variables}


register("smap-spl2smp", _is_smap, _summarise_smap)
register("cgls-lai300", cgls.is_lai300, _summarise_lai300)
register("cgls-netcdf", cgls.is_cgls, _summarise_cgls)
register("lpdr-vod-geotiff", _is_vod, _summarise_vod)
register("ismn", ismn.is_ismn_file, ismn.summarise_ismn)
register("ismn-zip", ismn.is_ismn_zip, ismn.summarise_ismn_zip)
register("fluxnet-csv", fluxnet.is_fluxnet, fluxnet.summarise_fluxnet)
register("xbase-netcdf", xbase.is_xbase, xbase.summarise_xbase)
