"""The model grid: a regular latitude/longitude window, its land mask and global cell ids.

Rows run from south to north, columns from west to east.  Every cell has a
global id ``row * nx + col`` (row-major in the window); land cells keep that id
in every file and every random number of a run, whatever the decomposition.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Domain


class GridError(ValueError):
    """The grid or its land mask cannot be built from the configuration."""


@dataclass(frozen=True, eq=False)
class Grid:
    """A regular lat/lon grid with a land mask.

    Attributes:
        south, west: centre of the south-west cell [degrees].
        resolution: grid spacing [degrees].
        land: (ny, nx) bool, True over land.
    """

    south: float
    west: float
    resolution: float
    land: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(ny, nx)."""
        return self.land.shape

    @property
    def lat(self) -> np.ndarray:
        """(ny,) cell-centre latitudes [degrees_north], ascending."""
        return self.south + self.resolution * np.arange(self.shape[0])

    @property
    def lon(self) -> np.ndarray:
        """(nx,) cell-centre longitudes [degrees_east], ascending."""
        return self.west + self.resolution * np.arange(self.shape[1])

    @property
    def land_ids(self) -> np.ndarray:
        """(n_land,) int64 global ids of the land cells, ascending."""
        return np.flatnonzero(self.land).astype(np.int64)

    @property
    def n_land(self) -> int:
        return int(np.count_nonzero(self.land))

    def rows_cols(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Row and column indices of global cell ids."""
        return np.divmod(np.asarray(ids, dtype=np.int64), self.shape[1])

    def cell_lat_lon(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre latitude and longitude [degrees] of global cell ids."""
        rows, cols = self.rows_cols(ids)
        return self.lat[rows], self.lon[cols]

    @classmethod
    def from_config(cls, domain: Domain) -> "Grid":
        """Build the grid of a ``[domain]`` section, with its land mask."""
        ny, nx = domain.shape
        lat = domain.south + domain.resolution * np.arange(ny)
        lon = domain.west + domain.resolution * np.arange(nx)
        if domain.landmask_file is not None:
            land = read_landmask(domain.landmask_file, lat, lon, domain.resolution)
        else:
            land = builtin_landmask(lat, lon)
        if not land.any():
            raise GridError(f"[domain] south={domain.south}, north={domain.north}, west={domain.west}, "
                            f"east={domain.east}: the window holds no land cell")
        return cls(domain.south, domain.west, domain.resolution, land)


def wrap_longitude(lon: np.ndarray) -> np.ndarray:
    """Longitudes mapped into [-180, 180)."""
    return (np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0


def builtin_landmask(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """(ny, nx) land mask at the cell centres from the `global-land-mask` package.

    That package samples a 1 km global land/sea raster (GLOBE); on the paper's
    0.25 degree window it gives the 19,701 land cells the paper reports.
    """
    from .cache import cached_array

    lat = np.asarray(lat, dtype=np.float64)
    lon = wrap_longitude(lon)

    def compute():
        from global_land_mask import globe

        lon2, lat2 = np.meshgrid(lon, lat)
        return np.asarray(globe.is_land(lat2, lon2), dtype=bool)
    # loading the package's 1 km raster takes seconds: the mask of a window is kept in a file cache
    key = "global-land-mask/" + hashlib.sha256(lat.tobytes() + lon.tobytes()).hexdigest()
    return cached_array(key, compute)


def _find(names, candidates, path, what):
    for name in candidates:
        if name in names:
            return name
    raise GridError(f"{path}: no {what} variable (expected one of {', '.join(candidates)})")


def read_landmask(path: Path, lat: np.ndarray, lon: np.ndarray, resolution: float) -> np.ndarray:
    """(ny, nx) land mask read from a netCDF file at the grid's cell centres."""
    import netCDF4

    try:
        ds = netCDF4.Dataset(path)
    except OSError as exc:
        raise GridError(f"[domain] landmask_file = {path}: not a readable netCDF file ({exc})") from None
    with ds:
        names = set(ds.variables)
        flat = np.asarray(ds[_find(names, ("lat", "latitude"), path, "latitude")][:], dtype=np.float64)
        flon = np.asarray(ds[_find(names, ("lon", "longitude"), path, "longitude")][:], dtype=np.float64)
        var = ds[_find(names, ("landmask", "land_mask", "lsm", "mask"), path, "land mask")]
        var.set_auto_mask(True)
        values = np.ma.filled(np.ma.asarray(var[:], dtype=np.float64), 0.0)
        dims = var.dimensions
    values = np.squeeze(values)
    if values.ndim != 2:
        raise GridError(f"{path}: land mask variable has dimensions {dims}; expected 2-D (lat, lon)")
    if values.shape != (flat.size, flon.size):
        values = values.T
    tol = resolution * 1e-3
    rows = _match(flat, lat, tol, path, "latitude")
    cols = _match(wrap_longitude(flon), wrap_longitude(lon), tol, path, "longitude")
    return values[np.ix_(rows, cols)] > 0.5


def _match(file_coord: np.ndarray, want: np.ndarray, tol: float, path, what: str) -> np.ndarray:
    """Index into ``file_coord`` of each value of ``want``; every value must be present."""
    order = np.argsort(file_coord)
    pos = np.clip(np.searchsorted(file_coord[order], want), 1, file_coord.size - 1) if file_coord.size > 1 else \
        np.zeros(want.size, dtype=np.int64)
    best = order[pos]
    if file_coord.size > 1:
        left = order[pos - 1]
        best = np.where(np.abs(file_coord[left] - want) < np.abs(file_coord[best] - want), left, best)
    bad = np.abs(file_coord[best] - want) > tol
    if bad.any():
        raise GridError(f"[domain] landmask_file = {path}: no {what} {want[bad][0]:.6g} in the file; "
                        f"the mask must hold every cell centre of the grid")
    return best
