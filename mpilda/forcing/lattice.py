"""Smooth, spatially and temporally correlated random fields as pure functions of place and time.

A field is built from independent standard normals attached to the nodes of a
FIXED GLOBAL lattice (and, for fields that change in time, to time knots), each
keyed through :mod:`mpilda.random` by the node's global lattice indices and the
knot index.  The value at a point and hour is a smooth interpolation of the
surrounding node values divided by the root of the sum of the squared weights,
so every value is exactly standard normal whatever its position in the lattice.
Hence a value depends only on (seed, stream, field, latitude, longitude, hour):
never on which other points or hours are computed in the same call, so runs
cut into any number of ranks or time chunks agree bit for bit.

The lattice lives in the sinusoidal (equal-area) projection
``x = R lambda cos(phi), y = R phi`` [km], so a lattice spacing is roughly the
same distance at 30 and at 70 degrees north (the projection has a seam at the
180th meridian, far from any domain of mpilda).  Interpolation uses quadratic
B-spline weights in x and y (9 nodes: a smooth field without the square plateaus
of bilinear or smoothstep weights) and smoothstep weights (``3f^2 - 2f^3``)
between 2 time knots.
A field may drift eastwards (``drift_kmh``): the pattern of knot k is displaced by
``drift * (t - t_k)``, so weather systems travel from west to east while they
grow and decay.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..random import normals

#: Mean Earth radius [km] (IUGG mean radius R1 = 6371.0088 km, rounded).
R_EARTH_KM = 6371.0
# Lattice indices are shifted by this offset into 0..2**16-1 to form a node id below 2**32.
_OFFSET = 2 ** 15


@dataclass(frozen=True)
class Scale:
    """One scale of a correlated random field.

    Attributes:
        member: identity of the field in the random counter (the ``member`` word); two scales
            with different members are independent.
        spacing_km: lattice spacing [km]; the correlation length is about this.
        knot_hours: spacing of the time knots [h]; 0 for a field constant in time.
        drift_kmh: eastward drift of the pattern [km h-1] (0: no drift).
    """

    member: int
    spacing_km: float
    knot_hours: float = 0.0
    drift_kmh: float = 0.0

    def origin(self) -> tuple[float, float]:
        """Fixed sub-lattice offset (in lattice units) so that the nodes of different fields do not coincide.

        The golden-ratio sequence of the member is chosen so that offsets are spread over the unit square.
        """
        g = 0.6180339887498949
        return (self.member * g) % 1.0, (self.member * g * g + 0.5) % 1.0


def project(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sinusoidal projection [km] of latitudes and longitudes [degrees]: x east, y north, shapes as the input."""
    phi = np.radians(np.asarray(lat, dtype=np.float64))
    lam = np.radians((np.asarray(lon, dtype=np.float64) + 180.0) % 360.0 - 180.0)
    return R_EARTH_KM * lam * np.cos(phi), R_EARTH_KM * phi


def _bspline(u: np.ndarray):
    """Nearest node index and the 3 quadratic B-spline weights (nodes i-1, i, i+1) along one axis."""
    i = np.floor(u + 0.5)
    f = u - i                                   # -0.5 .. 0.5
    a, b = 0.5 - f, 0.5 + f
    return i.astype(np.int64), (0.5 * a * a, 0.75 - f * f, 0.5 * b * b)


def _sumsq(w) -> np.ndarray:
    return w[0] * w[0] + w[1] * w[1] + w[2] * w[2]


def _node_box(seed: int, stream: int, scale: Scale, i_lo: int, i_hi: int, j_lo: int, j_hi: int,
              knots: np.ndarray) -> np.ndarray:
    """Normals of the lattice nodes i_lo..i_hi x j_lo..j_hi at the given knots: (n_knots, ni, nj)."""
    if i_lo < -_OFFSET or j_lo < -_OFFSET or i_hi >= _OFFSET or j_hi >= _OFFSET:
        raise ValueError(f"lattice of spacing {scale.spacing_km} km: node index outside +-{_OFFSET}")
    i = np.arange(i_lo, i_hi + 1, dtype=np.int64)
    j = np.arange(j_lo, j_hi + 1, dtype=np.int64)
    ids = (i[:, None] + _OFFSET) * (2 * _OFFSET) + (j[None, :] + _OFFSET)
    return normals(seed, stream, ids[None, :, :], member=scale.member,
                   time=np.asarray(knots, dtype=np.int64)[:, None, None])[0]


def _lattice_coords(scale: Scale, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ou, ov = scale.origin()
    return x / scale.spacing_km + ou, y / scale.spacing_km + ov


def _columns(box: np.ndarray, k, i, j, wv) -> np.ndarray:
    """Sum over the 3 nodes in v (weights wv) of box[k, i, j-1..j+1]; k, i, j broadcast, box indices relative."""
    nk, ni, nj = box.shape
    flat = box.reshape(-1)
    base = (k * ni + i) * nj + j
    return wv[0] * np.take(flat, base - 1) + wv[1] * np.take(flat, base) + wv[2] * np.take(flat, base + 1)


def _patterns(box: np.ndarray, k, i, j, wu, wv) -> np.ndarray:
    """Quadratic B-spline interpolation of box[k] at nodes around (i, j) (indices relative to the box)."""
    return (wu[0] * _columns(box, k, i - 1, j, wv) + wu[1] * _columns(box, k, i, j, wv)
            + wu[2] * _columns(box, k, i + 1, j, wv))


def static_field(seed: int, stream: int, scale: Scale, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Standard-normal field constant in time at projected points x, y [km] (n,): (n,)."""
    if x.size == 0:
        return np.zeros(0)
    u, v = _lattice_coords(scale, x, y)
    i, wu = _bspline(u)
    j, wv = _bspline(v)
    ilo, jlo = int(i.min()) - 1, int(j.min()) - 1
    box = _node_box(seed, stream, scale, ilo, int(i.max()) + 1, jlo, int(j.max()) + 1, np.zeros(1, np.int64))
    value = _patterns(box, 0, i - ilo, j - jlo, wu, wv)
    return value / np.sqrt(_sumsq(wu) * _sumsq(wv))


def _smoothstep(f: np.ndarray) -> np.ndarray:
    return f * f * (3.0 - 2.0 * f)


def space_time_field(seed: int, stream: int, scale: Scale, x: np.ndarray, y: np.ndarray,
                     hours: np.ndarray) -> np.ndarray:
    """Standard-normal field at projected points x, y [km] (n,) and integer hours (n_hours,): (n_hours, n).

    Knot k sits at hour ``k * knot_hours``; between two knots the value is the smoothstep blend
    of the two knots' patterns (each displaced eastwards by the drift since its knot time),
    renormalised to unit variance.
    """
    if scale.knot_hours <= 0:
        raise ValueError("space_time_field needs a scale with knot_hours > 0")
    hours = np.asarray(hours, dtype=np.int64)
    if hours.size == 0 or x.size == 0:
        return np.zeros((hours.size, x.size))
    t = hours.astype(np.float64) / scale.knot_hours
    k0 = np.floor(t).astype(np.int64)                       # (nh,)
    st = _smoothstep(t - k0)
    rt = 1.0 - st
    u, v = _lattice_coords(scale, x, y)
    k_lo = int(k0.min())
    knots = np.arange(k_lo, int(k0.max()) + 2)
    kk = k0 - k_lo                                          # (nh,) index of the earlier knot in the box
    j, wv = _bspline(v)
    jlo = int(j.min()) - 1
    if scale.drift_kmh == 0.0:
        i, wu = _bspline(u)
        ilo = int(i.min()) - 1
        box = _node_box(seed, stream, scale, ilo, int(i.max()) + 1, jlo, int(j.max()) + 1, knots)
        # the pattern of each knot at the points, then the blend in time
        pattern = _patterns(box, np.arange(knots.size)[:, None], i - ilo, j - jlo, wu, wv)   # (n_knots, n)
        num = rt[:, None] * pattern[kk] + st[:, None] * pattern[kk + 1]
        return num / np.sqrt((rt * rt + st * st)[:, None] * (_sumsq(wu) * _sumsq(wv))[None, :])
    # Drifting field: the pattern of knot k at hour h is displaced by drift * (h - t_k) eastwards, i.e.
    # along u only (the lattice is aligned with the projection's x axis).  Over one knot interval a point
    # sees u - shift in [u - span, u + span], so it needs at most 5 node columns per knot: their sums over
    # v are computed once per knot and point, and each hour interpolates only along u.
    span = scale.drift_kmh * scale.knot_hours / scale.spacing_km
    if span > 1.0:
        raise ValueError(f"drift {scale.drift_kmh} km/h over {scale.knot_hours} h exceeds the lattice spacing")
    first = np.floor(u - span + 0.5).astype(np.int64) - 1   # (n,) first node column a point can need
    ilo = int(first.min())
    box = _node_box(seed, stream, scale, ilo, int(first.max()) + 4, jlo, int(j.max()) + 1, knots)
    cols = np.stack([_columns(box, np.arange(knots.size)[:, None], (first - ilo + c)[None, :], (j - jlo)[None, :],
                              wv) for c in range(5)], axis=-1)               # (n_knots, n, 5)
    flat = cols.reshape(-1)
    n = x.size
    num = np.zeros((hours.size, n))
    sumsq_u = np.zeros((hours.size, n))
    for shift, weight, dk in ((span * (t - k0), rt, 0), (span * (t - k0 - 1.0), st, 1)):
        i, wu = _bspline(u[None, :] - shift[:, None])                        # (nh, n)
        base = ((kk + dk)[:, None] * n + np.arange(n)[None, :]) * 5 + (i - first[None, :])
        value = wu[0] * np.take(flat, base - 1) + wu[1] * np.take(flat, base) + wu[2] * np.take(flat, base + 1)
        num += weight[:, None] * value
        sumsq_u += (weight * weight)[:, None] * _sumsq(wu)
    return num / np.sqrt(sumsq_u * _sumsq(wv)[None, :])
