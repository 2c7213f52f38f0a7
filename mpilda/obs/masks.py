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
* ``no_cdf``: no robust CDF matching for the cell and month (SSM), no seasonal
  statistics (LAI);
* ``bare``: bare ground, where model LAI is zero by definition (LAI and VOD);
* ``operator``: the VOD operator fits the cell poorly (VOD).
"""

from __future__ import annotations

import numpy as np

MASKS = ("invalid", "quality", "frozen", "snow", "rain", "no_cdf", "bare", "operator")
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
