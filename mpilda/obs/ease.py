"""EASE-Grid 2.0 global grids (EPSG:6933) without pyproj: cell centres and the cell holding a point.

The projection is the ellipsoidal (WGS84) cylindrical equal-area projection with standard
parallel 30 degrees; a global grid is a rectangle of square cells whose upper-left corner is
(x0, y0) in projected metres, row 0 the northernmost row, column 0 the westernmost.  The
formulas and all constants are those of shared/reference/data-formats.md section 9
(authalic-latitude series for the inverse), which reproduce the NSIDC-0772 lat/lon arrays
and the SMAP ``latitude``/``longitude`` datasets.

Grids: ``"M36"`` (36 km, 964 x 406, SMAP L2) and ``"M25"`` (25 km, 1388 x 584, AMSR2 LPDR).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: WGS84 semi-major axis [m] and first eccentricity [-] (data-formats.md s.9).
A = 6378137.0
E = 0.081819190843
E2 = E * E
#: Standard parallel of EASE-Grid 2.0 [deg] (data-formats.md s.9).
STANDARD_PARALLEL = 30.0

_SIN1 = np.sin(np.radians(STANDARD_PARALLEL))
#: Scale factor along the parallels, k0 = cos(phi1) / sqrt(1 - e^2 sin^2 phi1).
K0 = np.cos(np.radians(STANDARD_PARALLEL)) / np.sqrt(1.0 - E2 * _SIN1 * _SIN1)
#: q at the pole, qp = 1 - (1 - e^2) / (2e) ln((1 - e) / (1 + e)).
QP = 1.0 - (1.0 - E2) / (2.0 * E) * np.log((1.0 - E) / (1.0 + E))
# Coefficients of the authalic -> geodetic latitude series (data-formats.md s.9).
_C2 = E2 / 3.0 + 31.0 * E2**2 / 180.0 + 517.0 * E2**3 / 5040.0
_C4 = 23.0 * E2**2 / 360.0 + 251.0 * E2**3 / 3780.0
_C6 = 761.0 * E2**3 / 45360.0


@dataclass(frozen=True)
class Grid:
    """One EASE-Grid 2.0 global grid: cell size [m], upper-left corner (x0, y0) [m], columns, rows."""

    name: str
    cell: float
    x0: float
    y0: float
    ncol: int
    nrow: int


#: The grids used by mpilda; constants of data-formats.md s.9 (from nsidc/mapxmaps EASE2_M36km.gpd / EASE2_M25km.gpd).
GRIDS = {
    "M36": Grid("M36", 36032.220840584, -17367530.4451615, 7314540.8306386, 964, 406),
    "M25": Grid("M25", 25025.2600081, -17367530.445615, 7307375.9223625, 1388, 584),
}


def grid(name: str | Grid) -> Grid:
    """The grid called ``name`` ("M36" or "M25"), or ``name`` itself if it is a Grid."""
    if isinstance(name, Grid):
        return name
    try:
        return GRIDS[name]
    except KeyError:
        raise ValueError(f"unknown EASE-Grid 2.0 grid {name!r}; expected one of {', '.join(GRIDS)}") from None


def forward(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Projected (x, y) [m] of geodetic latitude/longitude [deg] (any equal shapes; longitude wrapped to -180..180)."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians((np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0)
    s = np.sin(phi)
    es = E * s
    q = (1.0 - E2) * (s / (1.0 - es * es) - np.log((1.0 - es) / (1.0 + es)) / (2.0 * E))
    return A * K0 * lam, A * q / (2.0 * K0)


def inverse(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Geodetic (latitude, longitude) [deg] of projected x, y [m] (any equal shapes)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    beta = np.arcsin(np.clip(2.0 * y * K0 / (A * QP), -1.0, 1.0))
    phi = beta + _C2 * np.sin(2.0 * beta) + _C4 * np.sin(4.0 * beta) + _C6 * np.sin(6.0 * beta)
    return np.degrees(phi), np.degrees(x / (A * K0))


def latlon(name: str | Grid, row: np.ndarray, col: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latitude, longitude [deg] of the centres of cells (row, col) (0-based, any equal shapes) of grid ``name``."""
    g = grid(name)
    x = g.x0 + (np.asarray(col, dtype=np.float64) + 0.5) * g.cell
    y = g.y0 - (np.asarray(row, dtype=np.float64) + 0.5) * g.cell
    return inverse(x, y)


def rowcol(name: str | Grid, lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) int64 of the cells of grid ``name`` containing the points lat, lon [deg] (any equal shapes).

    Points outside the grid (beyond its northern or southern edge) or not finite get row = col = -1.
    """
    g = grid(name)
    x, y = forward(lat, lon)
    with np.errstate(invalid="ignore"):
        colf = np.floor((x - g.x0) / g.cell)
        rowf = np.floor((g.y0 - y) / g.cell)
    # the grid spans the full 360 degrees: a column just outside either edge (rounding at +-180) wraps around
    colf = np.mod(colf, g.ncol)
    inside = np.isfinite(rowf) & np.isfinite(colf) & (rowf >= 0) & (rowf < g.nrow) & (colf >= 0) & (colf < g.ncol)
    row = np.where(inside, rowf, -1).astype(np.int64)
    col = np.where(inside, colf, -1).astype(np.int64)
    return row, col
