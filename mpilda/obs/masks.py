"""Observation masks (SPEC section 4): which observations are not assimilated, and why, counted per cell.

An observation that any mask hits is not assimilated; it is counted under every
mask that hit it, and once under ``rejected``.  The masks:

* ``invalid``: NaN, Inf or outside the product's valid range; and, for an
  observation no other mask hits, a rescaled value, prediction H(x) (of any
  member), innovation or error std that is not finite (e.g. VOD on a day of
  the year without a fitted climatology): the EnKF would spread a NaN to the
  state;
* ``quality``: the product's own quality test failed (SMAP: not "recommended");
* ``frozen``: model soil layer 1 frozen (T < 273.16 K) in the ensemble mean;
* ``snow``: snow on the ground in the ensemble mean (SWE > 1 kg m-2);
* ``rain``: forcing rain rate above the threshold (SSM only);
* ``no_cdf``: no robust rescaling of the retrieval: SSM without a CDF matching for
  the cell and month (``rescale = cdf``), a mean offset for the cell (``mean``) or mean
  seasonal cycles for the cell and day of year (``seasonal``); LAI without seasonal
  statistics;
* ``bare``: bare ground, where model LAI is zero by definition (LAI and VOD);
* ``operator``: the VOD operator fits the cell poorly (VOD);
* ``thinned``: ``[obs.<sensor>] thin_days = k > 1`` and the cell's retrievals of a day less than k days
  before were assimilated (every sensor; see :func:`thinned`).
"""

from __future__ import annotations

import numpy as np

MASKS = ("invalid", "quality", "frozen", "snow", "rain", "no_cdf", "bare", "operator", "thinned")
SENSORS = ("smap", "lai", "vod")


def not_finite(value: np.ndarray, hx: np.ndarray, error_std: np.ndarray) -> np.ndarray:
    """(n_obs,) bool: the observation cannot enter the EnKF because a number of it is not finite.

    Args:
        value: (n_obs,) observations rescaled to the model's climatology (sensor units).
        hx: (N, n_obs) predicted observations of the N members (sensor units).
        error_std: (n_obs,) observation error standard deviations (sensor units).

    True where the value, any member's prediction, the innovation value - mean(hx) or the
    error std is NaN or infinite.
    """
    with np.errstate(invalid="ignore", over="ignore"):
        innovation = value - hx.mean(axis=0)
    return ~(np.isfinite(value) & np.isfinite(hx).all(axis=0) & np.isfinite(innovation) & np.isfinite(error_std))


def retrieval_day(time: np.ndarray) -> np.ndarray:
    """(n_obs,) int64 UTC day number (days since 1970-01-01) of retrieval times [s since 1970]."""
    return np.floor_divide(np.asarray(time, dtype=np.int64), 86400)


def thinned(day: np.ndarray, last_day: np.ndarray, thin_days: int) -> np.ndarray:
    """(n_obs,) bool: the retrieval is thinned away.

    Args:
        day: (n_obs,) UTC day number of each retrieval (:func:`retrieval_day`).
        last_day: (n_obs,) the last day on which retrievals of the retrieval's cell (and sensor) were
            assimilated; NaN: never.
        thin_days: k >= 1: a cell's retrievals are assimilated on at most one day in every k.

    True where last_day < day < last_day + k: the retrievals of the day of the last assimilation itself
    pass (a day's retrievals count as one), and k = 1 thins nothing. Days are whole numbers, exact in
    float64.
    """
    with np.errstate(invalid="ignore"):
        d = np.asarray(day, dtype=np.float64)
        return (d > last_day) & (d < last_day + thin_days)


def assimilated_days(day: np.ndarray, cell: np.ndarray, last_day: np.ndarray) -> np.ndarray:
    """``last_day`` (n_cells,) with each cell's latest ``day`` (n_obs,) of assimilated retrievals at ``cell``
    (n_obs,) taken in (a new array; NaN where a cell never had one)."""
    out = np.array(last_day, dtype=np.float64)
    latest = np.full(out.shape, -np.inf)
    np.maximum.at(latest, cell, np.asarray(day, dtype=np.float64))
    seen = np.isfinite(latest)
    out[seen] = np.fmax(out[seen], latest[seen])
    return out


class MaskCounts:
    """Counts per sensor, mask and cell of a rank: available, assimilated, rejected, and per mask."""

    def __init__(self, n_cells: int):
        self.n_cells = n_cells
        self.counts = {s: {k: np.zeros(n_cells, dtype=np.int64) for k in ("available", "assimilated", "rejected")
                           + MASKS} for s in SENSORS}

    def add(self, sensor: str, cell: np.ndarray, hits: dict[str, np.ndarray]) -> np.ndarray:
        """Count the observations at ``cell`` (n_obs,) and the masks that ``hits`` (name -> bool (n_obs,));
        returns the bool array of observations to assimilate."""
        c = self.counts[sensor]
        rejected = np.zeros(cell.size, dtype=bool)
        np.add.at(c["available"], cell, 1)
        for name, hit in hits.items():
            if name not in MASKS:
                raise KeyError(f"unknown mask {name!r}")
            np.add.at(c[name], cell[hit], 1)
            rejected |= hit
        np.add.at(c["rejected"], cell[rejected], 1)
        np.add.at(c["assimilated"], cell[~rejected], 1)
        return ~rejected

    def arrays(self) -> dict[str, np.ndarray]:
        """Flat {f'{sensor}_{count}': (n_cells,)} for output and restarts."""
        return {f"{s}_{k}": v for s, d in self.counts.items() for k, v in d.items()}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        for s, d in self.counts.items():
            for k in d:
                if f"{s}_{k}" in arrays:
                    d[k] = np.asarray(arrays[f"{s}_{k}"]).astype(np.int64)
