"""Bilinear interpolation from a regular latitude/longitude lattice to arbitrary points.

The source is a lattice of points such as an ERA5 file's: 1-D latitudes in
ascending *or* descending order, 1-D longitudes ascending once unwrapped (0..360,
-180..180, or a regional box across the 0/360 seam), possibly global and then
periodic in longitude.  The targets are any points (model cell centres) given
as 1-D latitude and longitude arrays of the same length n, in any longitude
convention.

``bilinear`` is computed once per source lattice.  It finds, for every
target, the four surrounding source points and their weights, and the minimal
hyperslab of the source a reader has to read: one row range and one or two
column ranges (two when the needed columns straddle the first/last column of a
global lattice, e.g. a European window on a 0..360 grid needs columns near 360
*and* near 0).  The hyperslab includes the one-point halo bilinear needs
around the targets.  ``Bilinear.apply`` then turns any hyperslab array
(..., rows, cols) into target values (..., n) by one gather and a weighted sum.

Bilinear in (latitude, longitude) reproduces any field linear in latitude and
longitude exactly (the weights are products of the two linear 1-D weights).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import InputError

#: Targets closer than this to the edge of the lattice count as inside it [degrees]: about 11 m, far
#: above the rounding of float32 coordinates (ERA5 stores them as float32: ulp 3e-5 degrees at 360)
#: and far below any grid spacing.
TOLERANCE = 1e-4


@dataclass(frozen=True, eq=False)
class Bilinear:
    """Bilinear weights from a source hyperslab to n target points.

    Attributes:
        rows: the source rows to read, in file order.
        cols: the source column pieces to read, in file order within each piece; the
            hyperslab is the pieces side by side (``numpy.concatenate(..., axis=-1)``).
        index: (4, n) int64 flat indices into the (rows, cols) hyperslab of the four source
            points of every target (the two bracketing rows times the two bracketing columns).
        weights: (4, n) float64 weights of those points; each column sums to 1.
        lat: (rows,) latitudes of the hyperslab rows [degrees_north].
        lon: (cols,) longitudes of the hyperslab columns, as in the file [degrees_east].
    """

    rows: slice
    cols: tuple[slice, ...]
    index: np.ndarray
    weights: np.ndarray
    lat: np.ndarray
    lon: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the hyperslab."""
        return self.lat.size, self.lon.size

    @property
    def n(self) -> int:
        """Number of target points."""
        return self.index.shape[1]

    def read(self, read_box: Callable[[slice, slice], np.ndarray]) -> np.ndarray:
        """The hyperslab (..., rows, cols): ``read_box(rows, cols)`` of every column piece, side by side."""
        parts = [read_box(self.rows, cols) for cols in self.cols]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)

    def apply(self, block: np.ndarray) -> np.ndarray:
        """Target values (..., n) float64 of a hyperslab array (..., rows, cols)."""
        block = np.asarray(block)
        if block.shape[-2:] != self.shape:
            raise ValueError(f"hyperslab of shape {block.shape[-2:]}; expected {self.shape}")
        flat = block.reshape(block.shape[:-2] + (-1,))
        gathered = flat[..., self.index].astype(np.float64)     # (..., 4, n), a new array
        gathered *= self.weights
        return gathered.sum(axis=-2)

    def where(self, flat_index: int) -> tuple[float, float]:
        """(latitude, longitude) of a hyperslab point given by its flat index."""
        row, col = divmod(int(flat_index), self.shape[1])
        return float(self.lat[row]), float(self.lon[col])


def bilinear(src_lat, src_lon, lat, lon, source: str = "source grid") -> Bilinear:
    """Bilinear weights from a source lattice to target points.

    Args:
        src_lat: (ny,) source latitudes [degrees_north], strictly ascending or descending.
        src_lon: (nx,) source longitudes [degrees_east], strictly ascending once unwrapped
            (each is the previous plus less than 360 degrees, modulo 360).
        lat, lon: (n,) target latitudes and longitudes [degrees]; longitudes in any convention.
        source: name of the source (the file) for error messages.

    Raises:
        InputError: the lattice is not monotonic, or a target is outside it (the message
            names the source and the first uncovered point).
    """
    src_lat = np.asarray(src_lat, dtype=np.float64).ravel()
    src_lon = np.asarray(src_lon, dtype=np.float64).ravel()
    lat = np.asarray(lat, dtype=np.float64).ravel()
    lon = np.asarray(lon, dtype=np.float64).ravel()
    if lat.shape != lon.shape:
        raise ValueError(f"target latitudes {lat.shape} and longitudes {lon.shape} differ in shape")
    if src_lat.size == 0 or src_lon.size == 0:
        raise InputError(f"{source}: the grid has no points (latitude {src_lat.size}, longitude {src_lon.size})")

    r0, r1, fr, bad_lat = _latitude_axis(src_lat, lat, source)
    c0, c1, fc, bad_lon, periodic = _longitude_axis(src_lon, lon, source)
    bad = bad_lat | bad_lon
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        lon_range = "all longitudes" if periodic else f"longitude {src_lon[0]:g}..{src_lon[-1]:g}"
        raise InputError(f"{source}: the grid (latitude {src_lat.min():g}..{src_lat.max():g}, {lon_range}) does not "
                         f"cover the point lat={lat[k]:.6g}, lon={lon[k]:.6g} ({int(bad.sum())} of {lat.size} "
                         f"target points are outside it)")

    # Row range: the rows of all needed points, in file order.
    if lat.size:
        first_row = int(min(r0.min(), r1.min()))
        last_row = int(max(r0.max(), r1.max()))
    else:
        first_row = last_row = 0
    rows = slice(first_row, last_row + 1)
    rpos0, rpos1 = r0 - first_row, r1 - first_row

    # Column pieces: the shortest run of columns holding every needed one (on a ring when periodic).
    nx = src_lon.size
    needed = np.unique(np.concatenate([c0, c1])) if lat.size else np.zeros(1, dtype=np.int64)
    if periodic and needed.size < nx:
        # the run starts after the widest gap between needed columns going round the ring
        gaps = np.diff(np.append(needed, needed[0] + nx))
        k = int(np.argmax(gaps))
        start, end = int(needed[(k + 1) % needed.size]), int(needed[k])
    else:
        start, end = int(needed[0]), int(needed[-1])
    if start <= end:
        cols: tuple[slice, ...] = (slice(start, end + 1),)
        width = end + 1 - start
    else:
        cols = (slice(start, nx), slice(0, end + 1))
        width = nx - start + end + 1
    cpos0, cpos1 = (c0 - start) % nx, (c1 - start) % nx

    # (4, n): a target's four points are one column, so the weighted sum runs over contiguous rows
    index = np.stack([rpos0 * width + cpos0, rpos0 * width + cpos1,
                      rpos1 * width + cpos0, rpos1 * width + cpos1]).astype(np.int64)
    weights = np.stack([(1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc])
    hyper_lon = np.concatenate([src_lon[c] for c in cols])
    return Bilinear(rows, cols, index, weights, src_lat[rows].copy(), hyper_lon)


def _latitude_axis(src: np.ndarray, y: np.ndarray, source: str):
    """Indices (file order) of the lower/upper bracketing rows, weight of the second, uncovered mask."""
    n = src.size
    step = np.diff(src)
    if n > 1 and not (np.all(step > 0) or np.all(step < 0)):
        raise InputError(f"{source}: latitudes are not strictly ascending or descending")
    descending = n > 1 and src[0] > src[-1]
    asc = src[::-1] if descending else src
    bad = ~np.isfinite(y) | (y < asc[0] - TOLERANCE) | (y > asc[-1] + TOLERANCE)
    if n == 1:
        # a single row (a point time series): targets must lie on it, within the tolerance
        j0 = j1 = np.zeros(y.size, dtype=np.int64)
        frac = np.zeros(y.size)
    else:
        j0 = np.clip(np.searchsorted(asc, y, side="right") - 1, 0, n - 2)
        j1 = j0 + 1
        frac = np.clip((y - asc[j0]) / (asc[j1] - asc[j0]), 0.0, 1.0)
    if descending:
        j0, j1 = n - 1 - j0, n - 1 - j1
    return j0, j1, np.where(bad, 0.0, frac), bad


def _longitude_axis(src: np.ndarray, x: np.ndarray, source: str):
    """Indices of the west/east bracketing columns, weight of the east one, uncovered mask, periodic."""
    n = src.size
    # offsets east of the first column, in [0, 360): 0..359.75, -180..179.75 and a box across the
    # 0/360 seam (350..359.75, 0..10) all become an ascending list starting at 0
    rel = (src - src[0]) % 360.0
    step = np.diff(rel)
    if n > 1 and not np.all(step > 0):
        raise InputError(f"{source}: longitudes are not ascending (after unwrapping across 0/360)")
    # global when the gap from the last column round to the first is no wider than the widest inner gap
    periodic = n > 1 and 360.0 - rel[-1] <= step.max() + TOLERANCE
    r = (x - src[0]) % 360.0
    r = np.where(360.0 - r <= TOLERANCE, 0.0, r)  # a hair west of the first column counts as on it
    bad = ~np.isfinite(x)
    if periodic:
        ring = np.append(rel, 360.0)
        i0 = np.clip(np.searchsorted(ring, r, side="right") - 1, 0, n - 1)
        frac = np.clip((r - ring[i0]) / (ring[i0 + 1] - ring[i0]), 0.0, 1.0)
        i1 = (i0 + 1) % n
    elif n == 1:
        bad |= r > TOLERANCE
        i0 = i1 = np.zeros(x.size, dtype=np.int64)
        frac = np.zeros(x.size)
    else:
        bad |= r > rel[-1] + TOLERANCE
        i0 = np.clip(np.searchsorted(rel, r, side="right") - 1, 0, n - 2)
        i1 = i0 + 1
        frac = np.clip((r - rel[i0]) / (rel[i1] - rel[i0]), 0.0, 1.0)
    return i0, i1, np.where(bad, 0.0, frac), bad, periodic
