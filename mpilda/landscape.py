"""Land cover and soil texture: the synthetic world's maps, and reading class maps from netCDF.

``synthetic_landcover`` gives MODIS-IGBP classes 1..20 (Noah-MP MPTABLE "modified
igbp modis noah"), ``synthetic_soil`` STATSGO classes 1..19 (Noah-MP SOILPARM.TBL,
STAS).  Both are pure functions of (seed, latitude, longitude), point by point.

How a class is chosen: every class has a weight that depends on the point's climate
(from :mod:`mpilda.forcing.climate`: annual mean temperature and precipitation,
continentality, the subtropical summer drought, latitude), and a standard-normal
random field of its own on a fixed global lattice (Stream.LANDSCAPE, two scales,
150 and 50 km).  The class with the largest ``log(weight) + NOISE * field`` wins:
regions are dominated by their typical classes, but in irregular patches of
neighbouring cells, not in bands.  Urban cells are rare single cells drawn from
white noise keyed by the point's 1/8-degree position.  Water (17) and snow/ice (15)
never occur on land.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .errors import InputError
from .forcing.climate import T0, Climate
from .forcing.lattice import Scale, project, static_field
from .model.parameters import SHDMAX_BY_CLASS
from .random import Stream, uniforms

#: MODIS-IGBP class names (MPTABLE order).
LANDCOVER_CLASSES = {1: "evergreen needleleaf forest", 2: "evergreen broadleaf forest",
                     3: "deciduous needleleaf forest", 4: "deciduous broadleaf forest", 5: "mixed forest",
                     6: "closed shrubland", 7: "open shrubland", 8: "woody savanna", 9: "savanna",
                     10: "grassland", 11: "permanent wetland", 12: "cropland", 13: "urban and built-up",
                     14: "cropland/natural vegetation mosaic", 15: "snow and ice", 16: "barren",
                     17: "water", 18: "wooded tundra", 19: "mixed tundra", 20: "barren tundra"}
#: IGBP cropland classes (12 croplands, 14 cropland/natural vegetation mosaic).
CROPLANDS = (12, 14)
#: STATSGO soil texture class names (SOILPARM.TBL, STAS).
SOIL_CLASSES = {1: "sand", 2: "loamy sand", 3: "sandy loam", 4: "silt loam", 5: "silt", 6: "loam",
                7: "sandy clay loam", 8: "silty clay loam", 9: "clay loam", 10: "sandy clay", 11: "silty clay",
                12: "clay", 13: "organic material", 14: "water", 15: "bedrock", 16: "other (land ice)",
                17: "playa", 18: "lava", 19: "white sand"}

NOISE = 1.0          # weight of the random fields against log(weight): chosen so that a class twice as likely
#                      as another still loses in ~30 % of the cells (patchy regions with sharp enough contrasts)
URBAN_FRACTION = 0.015   # share of urban cells where people live (~1.5 % of European 0.25 degree cells are
#                          mostly built-up in MODIS land cover)
_FINE, _COARSE = 50.0, 150.0   # km: patch sizes of the class fields (one to a few 0.25 degree cells)
_URBAN_MEMBER = 99


def _class_fields(seed: int, lat: np.ndarray, lon: np.ndarray, classes, offset: int) -> np.ndarray:
    """(n_classes, n) standard-normal patch fields, one per class (members offset + class)."""
    x, y = project(lat, lon)
    out = np.empty((len(classes), lat.size))
    for i, k in enumerate(classes):
        coarse = static_field(seed, Stream.LANDSCAPE, Scale(offset + 2 * k, _COARSE), x, y)
        fine = static_field(seed, Stream.LANDSCAPE, Scale(offset + 2 * k + 1, _FINE), x, y)
        out[i] = np.sqrt(0.5) * (coarse + fine)
    return out


def _zones(clim: Climate) -> dict[str, np.ndarray]:
    """Memberships (0..1, (n,)) of the broad vegetation zones, from the climate."""
    t = clim.t_mean - T0
    p = clim.p_annual
    lat = clim.lat
    desert = np.clip((150.0 - p) / 100.0, 0.0, 1.0)             # full desert below 50 mm/yr
    arid = np.clip((450.0 - p) / 300.0, 0.0, 1.0)               # semi-arid below ~450 mm/yr
    med = clim.summer_drought / 0.95 * (1.0 - desert)            # Mediterranean: summer drought, not desert
    boreal = np.clip((6.5 - t) / 4.0, 0.0, 1.0)                  # taiga where the annual mean is below ~4 degC
    tundra = np.clip((lat - 66.5) / 3.0, 0.0, 1.0) * np.clip((3.0 - t) / 3.0, 0.0, 1.0)
    steppe = (np.clip((clim.continentality - 0.5) / 0.15, 0.0, 1.0) * np.clip((t - 5.0) / 3.0, 0.0, 1.0)
              * (1.0 - med) * (1.0 - desert) * np.clip((lat - 42.0) / 3.0, 0.0, 1.0))
    # ^ the Pontic-Caspian steppe belt: far inland, warm enough, north of the Black Sea
    maritime = np.exp(-clim.d_atlantic / 150.0) * np.clip((lat - 49.0) / 3.0, 0.0, 1.0) * (1.0 - boreal)
    temperate = (1.0 - boreal) * (1.0 - arid) * (1.0 - med) * (1.0 - steppe)
    return {"desert": desert, "arid": arid, "med": med, "boreal": boreal, "tundra": tundra, "steppe": steppe,
            "maritime": maritime, "temperate": temperate, "taiga": boreal * (1.0 - tundra)}


def _landcover_weights(z: dict[str, np.ndarray]) -> dict[int, np.ndarray]:
    """Relative weights of the IGBP classes by zone: shares of MODIS land cover (MCD12Q1) in each zone,
    rounded (e.g. central Europe ~55 % crops and mosaic, ~30 % forest; Fennoscandia ~60 % needleleaf)."""
    d, a, med, taiga, tun = z["desert"], z["arid"], z["med"], z["taiga"], z["tundra"]
    temp, st, mar = z["temperate"], z["steppe"], z["maritime"]
    semi = a * (1.0 - d)
    moist_med = med * (1.0 - a)
    south_taiga = taiga * np.clip((1.0 - z["boreal"]) * 2.0 + 0.2, 0.0, 1.0)
    eps = 1e-3
    return {
        1: 0.12 * temp + 1.3 * taiga + 0.1 * moist_med + eps,
        2: 0.15 * moist_med + eps,
        4: 0.22 * temp + 0.04 * med + 0.1 * south_taiga + eps,
        5: 0.3 * temp + 0.5 * south_taiga + eps,
        6: 0.22 * med + 0.05 * semi + eps,
        7: 1.2 * semi + 0.4 * d + 0.05 * med + eps,
        8: 0.25 * moist_med + eps,
        9: 0.2 * moist_med + 0.2 * semi + eps,
        10: 0.12 * temp + 0.3 * semi + 0.35 * st + 0.6 * mar + 0.08 * tun + eps,
        11: 0.15 * taiga + 0.02 * temp + eps,
        12: 0.9 * temp + 0.45 * moist_med + 0.9 * st + 0.12 * south_taiga + 0.1 * semi + eps,
        14: 0.5 * temp + 0.3 * moist_med + 0.25 * st + 0.12 * south_taiga + eps,
        16: 3.0 * d * d + eps,
        18: 1.2 * tun + 0.25 * taiga * np.clip((z["boreal"] - 0.8) / 0.2, 0.0, 1.0) + eps,
        19: 0.8 * tun + eps,
        20: 0.5 * tun * np.clip((1.0 - z["boreal"]) + (tun - 0.7) / 0.3, 0.0, 1.0) + eps,
    }


def _points(lat, lon) -> tuple[np.ndarray, np.ndarray]:
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"lat {lat.shape} and lon {lon.shape} differ in shape")
    return lat, lon


def _argmax_class(weights: dict[int, np.ndarray], fields: np.ndarray) -> np.ndarray:
    classes = np.array(list(weights))
    score = np.log(np.stack([weights[k] for k in classes])) + NOISE * fields
    return classes[np.argmax(score, axis=0)]


def _position_id(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Global id of the 1/8-degree position nearest to each point (for white noise keyed on a place)."""
    row = np.rint((lat + 90.0) * 8.0).astype(np.int64)
    col = np.rint(((lon + 180.0) % 360.0) * 8.0).astype(np.int64) % 2880
    return row * 2880 + col


def synthetic_landcover(seed: int, lat, lon) -> np.ndarray:
    """MODIS-IGBP land-cover class (1..20, never 15 or 17) of land points at ``lat``, ``lon`` (n,) [degrees].

    Returns (n,) int64.
    """
    lat, lon = _points(lat, lon)
    if lat.size == 0:
        return np.zeros(0, dtype=np.int64)
    z = _zones(Climate.at(seed, lat, lon))
    weights = _landcover_weights(z)
    cls = _argmax_class(weights, _class_fields(seed, lat, lon, list(weights), 0))
    # urban: single cells where people live (not in deserts or tundra)
    u = uniforms(seed, Stream.LANDSCAPE, _position_id(lat, lon), member=_URBAN_MEMBER)[0]
    urban = u < URBAN_FRACTION * (1.0 - z["desert"]) * (1.0 - z["tundra"]) * (1.0 - 0.7 * z["boreal"])
    return np.where(urban, 13, cls).astype(np.int64)


# Soil weights per land cover: which textures a land-cover class favours (multipliers of the climate weights).
_COARSE_SOILS = (1, 2, 3)
_LOAMY_SOILS = (4, 6, 8, 9)


def _soil_weights(z: dict[str, np.ndarray], landcover: np.ndarray) -> dict[int, np.ndarray]:
    """Relative weights of STATSGO textures: sands in deserts and on glacial deposits of the north, loess
    silt loams and loams in the European crop belt, clay loams and clays in chernozem steppes and around
    the Mediterranean (HWSD/ESDB texture maps, in broad strokes); organic soils in boreal wetlands."""
    d, a, med, bor = z["desert"], z["arid"], z["med"], z["boreal"]
    temp, st = z["temperate"], z["steppe"]
    semi = a * (1.0 - d)
    eps = 1e-3
    w = {
        1: 1.2 * d + 0.12 * bor + 0.03 + eps,
        2: 0.5 * d + 0.3 * semi + 0.45 * bor + 0.06 * temp + eps,
        3: 0.2 * d + 0.5 * semi + 0.7 * bor + 0.25 * temp + 0.3 * med + eps,
        4: 0.45 * temp + 0.3 * st + 0.05 * med + eps,
        5: 0.02 * temp + eps,
        6: 0.6 * temp + 0.4 * med + 0.3 * bor + 0.3 * st + 0.15 * semi + eps,
        7: 0.3 * med + 0.35 * semi + eps,
        8: 0.2 * temp + 0.35 * st + eps,
        9: 0.25 * temp + 0.35 * med + 0.45 * st + 0.1 * semi + eps,
        10: 0.06 * med + 0.06 * semi + eps,
        11: 0.06 * temp + 0.12 * st + eps,
        12: 0.08 * temp + 0.2 * med + 0.12 * st + eps,
        13: eps * eps,
    }
    crop = np.isin(landcover, CROPLANDS)
    forest_north = np.isin(landcover, (1, 3, 5, 18, 19))
    barren = np.isin(landcover, (16, 20))
    wet = landcover == 11
    for k in _LOAMY_SOILS:
        w[k] = w[k] * np.where(crop, 1.8, 1.0)
    for k in _COARSE_SOILS:
        w[k] = w[k] * np.where(forest_north | barren, 1.6, 1.0)
    w[13] = w[13] + np.where(wet, 3.0 * bor, 0.0)          # peat in boreal wetlands (few cells)
    w[12] = w[12] + np.where(wet, 0.3 * (1.0 - bor), 0.0)  # clayey floodplains elsewhere
    return w


def synthetic_soil(seed: int, lat, lon, landcover) -> np.ndarray:
    """STATSGO soil texture class (1..13) of land points at ``lat``, ``lon`` (n,) [degrees] with their land cover (n,).

    Returns (n,) int64; 13 (organic) only in boreal wetlands, 14..19 never.
    """
    lat, lon = _points(lat, lon)
    landcover = np.asarray(landcover).ravel()
    if landcover.shape != lat.shape:
        raise ValueError(f"landcover {landcover.shape} and lat {lat.shape} differ in shape")
    if lat.size == 0:
        return np.zeros(0, dtype=np.int64)
    z = _zones(Climate.at(seed, lat, lon))
    weights = _soil_weights(z, landcover)
    return _argmax_class(weights, _class_fields(seed, lat, lon, list(weights), 100)).astype(np.int64)


#: Standard deviation of the smooth spatial variation of SHDMAX within a class [-].
SHDMAX_NOISE = 0.05


def synthetic_shdmax(seed: int, lat, lon, landcover) -> np.ndarray:
    """Maximum green vegetation fraction SHDMAX (0.02..0.98) of land points with their land cover (n,).

    The class's typical value (SHDMAX_BY_CLASS), lowered by up to 30 % with aridity and
    by up to 20 % towards the tundra, plus a smooth random field (150 km) of std 0.05.
    """
    lat, lon = _points(lat, lon)
    landcover = np.asarray(landcover).ravel()
    if lat.size == 0:
        return np.zeros(0)
    z = _zones(Climate.at(seed, lat, lon))
    base = np.array([SHDMAX_BY_CLASS.get(int(k), 0.5) for k in range(21)])[landcover]
    x, y = project(lat, lon)
    field = static_field(seed, Stream.LANDSCAPE, Scale(300, _COARSE), x, y)
    value = base * (1.0 - 0.3 * z["arid"]) * (1.0 - 0.2 * z["tundra"]) + SHDMAX_NOISE * field
    return np.clip(value, 0.02, 0.98)


def synthetic_tbot(seed: int, lat, lon) -> np.ndarray:
    """Deep soil temperature TBOT [K] at 8 m of points (n,): the climate's annual mean 2 m air temperature."""
    lat, lon = _points(lat, lon)
    if lat.size == 0:
        return np.zeros(0)
    return Climate.at(seed, lat, lon).t_mean.copy()


def _coord(ds, names, path, what):
    for name in names:
        if name in ds.variables:
            return np.asarray(ds[name][:], dtype=np.float64).ravel(), name
    raise InputError(f"{path}: no {what} coordinate (expected a variable named {' or '.join(names)})")


def _nearest(coord: np.ndarray, want: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Index of the nearest file coordinate for each wanted value, and whether it is within ``tol``."""
    order = np.argsort(coord, kind="stable")
    sorted_c = coord[order]
    pos = np.clip(np.searchsorted(sorted_c, want), 1, max(coord.size - 1, 1)) if coord.size > 1 \
        else np.zeros(want.shape, dtype=np.int64)
    best = pos
    if coord.size > 1:
        left = pos - 1
        best = np.where(np.abs(sorted_c[left] - want) <= np.abs(sorted_c[pos] - want), left, pos)
    idx = order[best]
    return idx, np.abs(coord[idx] - want) <= tol


def read_class_map(path, variable: str, lat, lon, n_classes: int) -> np.ndarray:
    """Classes of a netCDF class map at points ``lat``, ``lon`` (same shape) [degrees]: int array of that shape.

    The file holds ``variable`` on 1-D coordinates named lat/latitude and lon/longitude (either latitude
    order; longitudes -180..180 or 0..360).  Each point must match a file cell centre within 1/1000 of the
    file's resolution, and its class must be 1..n_classes.

    Raises:
        InputError: unreadable file, missing variable or coordinate, a point absent from the file, or a
            class outside 1..n_classes (or missing) at a needed point; the message names the file.
    """
    raw, mask, want_lat, want_lon = _map_values(path, variable, lat, lon)
    bad = mask | ~np.isfinite(raw) | (raw != np.rint(raw)) | (raw < 1) | (raw > n_classes)
    _reject(path, variable, raw, mask, bad, want_lat, want_lon, f"expected a class 1..{n_classes}")
    return raw.astype(np.int64).reshape(np.shape(lat))


def read_value_map(path, variable: str, lat, lon, lo: float, hi: float, units: str) -> np.ndarray:
    """Values of a netCDF map at points ``lat``, ``lon`` (same shape) [degrees], each within lo..hi [units].

    The file's layout as :func:`read_class_map`.  Raises InputError naming the file for an unreadable
    file, a missing variable or coordinate, a point absent from the file, or a missing or out-of-range
    value at a needed point.
    """
    raw, mask, want_lat, want_lon = _map_values(path, variable, lat, lon)
    bad = mask | ~np.isfinite(raw) | (raw < lo) | (raw > hi)
    _reject(path, variable, raw, mask, bad, want_lat, want_lon, f"expected a value in {lo:g}..{hi:g} {units}")
    return raw.reshape(np.shape(lat))


def _reject(path, variable, raw, mask, bad, want_lat, want_lon, expected):
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        shown = "missing (fill value)" if mask[i] else f"{raw[i]:g}"
        raise InputError(f"{path}: {variable} = {shown} at lat {want_lat[i]:.6g}, lon {want_lon[i]:.6g} "
                         f"({int(bad.sum())} such points); {expected}")


def _map_values(path, variable: str, lat, lon):
    """(values (n,), fill mask (n,), lat (n,), lon (n,)) of a netCDF map at the points (see read_class_map)."""
    import netCDF4

    path = Path(path)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    if lat.shape != lon.shape:
        raise ValueError(f"lat {lat.shape} and lon {lon.shape} differ in shape")
    try:
        ds = netCDF4.Dataset(path)
    except (OSError, FileNotFoundError) as exc:
        raise InputError(f"{path}: not a readable netCDF file ({exc})") from None
    with ds:
        flat, lat_name = _coord(ds, ("lat", "latitude"), path, "latitude")
        flon, lon_name = _coord(ds, ("lon", "longitude"), path, "longitude")
        if variable not in ds.variables:
            raise InputError(f"{path}: no variable {variable!r} (variables: {', '.join(ds.variables)})")
        var = ds[variable]
        var.set_auto_mask(True)
        data = np.ma.asarray(var[:])
        dims = var.dimensions
        lat_dim, lon_dim = ds[lat_name].dimensions[-1:], ds[lon_name].dimensions[-1:]
    if lat_dim and lon_dim and lat_dim[0] in dims and lon_dim[0] in dims:
        others = [i for i, d in enumerate(dims) if d not in (lat_dim[0], lon_dim[0])]
        if any(data.shape[i] != 1 for i in others):
            raise InputError(f"{path}: variable {variable!r} has dimensions {dims}; expected (lat, lon) and "
                             f"at most singleton others")
        data = data.transpose(others + [dims.index(lat_dim[0]), dims.index(lon_dim[0])])
        data = data.reshape(data.shape[-2:])
    if data.shape != (flat.size, flon.size):
        raise InputError(f"{path}: variable {variable!r} has shape {data.shape}; expected "
                         f"({flat.size}, {flon.size}) from its {lat_name}/{lon_name} coordinates")

    def resolution(c):
        d = np.abs(np.diff(np.sort(c)))
        d = d[d > 0]
        return float(np.median(d)) if d.size else 1.0

    wrap = lambda v: (v + 180.0) % 360.0 - 180.0  # noqa: E731
    flat_w, flon_w = flat, wrap(flon)
    want_lat, want_lon = lat.ravel(), wrap(lon.ravel())
    rows, ok_r = _nearest(flat_w, want_lat, resolution(flat) / 1000.0)
    cols, ok_c = _nearest(flon_w, want_lon, resolution(flon) / 1000.0)
    missing = ~(ok_r & ok_c)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise InputError(f"{path}: no cell of {variable!r} at lat {want_lat[i]:.6g}, lon {lon.ravel()[i]:.6g} "
                         f"({int(missing.sum())} of {missing.size} needed points missing); the map must cover "
                         f"every land cell of the grid")
    values = data[rows, cols]
    return (np.ma.getdata(values).astype(np.float64), np.ma.getmaskarray(values), want_lat, lon.ravel())
