"""Adaptive observation error: a per-cell Desroziers et al. (2005) estimate of R over a moving window of days.

For an optimal analysis E[(O-A)(O-F)] = R, with O-F the innovation and O-A the analysis residual of an
assimilated observation (F, A: the ensemble means of its prediction before and after the analysis;
the products are the ``<sensor>_oma_omb_sum`` of diagnostics.nc).  Per cell and sensor, at the end of
day d:

    S = sum of (O-A)(O-F),  n = number of assimilated retrievals,  over days d-W+1 .. d  (W = adaptive_days)
    R(d+1) = clip(S / n, lo R0, hi R0)   if n >= n_min (adaptive_min_count),   else R0

with R0 the cell's configured error variance (``error``: constant, map or operator) and lo, hi the
``adaptive_bounds``; R(d+1) is the R of the analyses of day d+1.  S / n may be negative or tiny on
few retrievals: the bounds keep R within the factors of R0.  Iterated, the estimate moves R towards the
fixed point of the Desroziers relation (exact for a linear, Gaussian system with the right background
error).

The days are held in a ring buffer of W daily sums per cell (day number mod W) and summed slot by slot
in a fixed order, so the estimate depends only on the window's daily sums of the cell: the same in a
resumed run (the buffer is in the checkpoints) and on any number of ranks.
"""

from __future__ import annotations

import numpy as np


def desroziers_std(oma_omb_sum: np.ndarray, count: np.ndarray, prior_std: np.ndarray, min_count: int,
                   bounds: tuple[float, float]) -> np.ndarray:
    """The adaptive error std (n_cells,) [sensor units].

    Args:
        oma_omb_sum: (n_cells,) sum of (O-A)(O-F) over the window [(sensor units)^2].
        count: (n_cells,) assimilated retrievals in the window.
        prior_std: (n_cells,) the configured error std (returned as it is where count < min_count).
        min_count: retrievals needed for an estimate.
        bounds: (lo, hi) factors of prior_std**2 that bound the estimated variance.
    """
    lo, hi = bounds
    prior_var = prior_std * prior_std
    enough = count >= min_count
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate = np.where(enough, oma_omb_sum / np.where(enough, count, 1.0), prior_var)
    return np.where(enough, np.sqrt(np.clip(estimate, lo * prior_var, hi * prior_var)), prior_std)


class DesroziersWindow:
    """The moving window of one sensor's daily Desroziers sums of a rank's cells, and the R it gives.

    ``std`` (n_cells,) is the error std of the next analyses: ``prior_std`` until the window holds
    ``min_count`` retrievals of a cell.
    """

    def __init__(self, prior_std: np.ndarray, days: int, min_count: int, bounds: tuple[float, float]):
        self.prior_std = np.asarray(prior_std, dtype=np.float64)
        self.days, self.min_count, self.bounds = int(days), int(min_count), (float(bounds[0]), float(bounds[1]))
        n = self.prior_std.size
        self.sums = np.zeros((self.days, n))           # (W, n_cells) daily sums of (O-A)(O-F)
        self.counts = np.zeros((self.days, n))         # (W, n_cells) daily counts of assimilated retrievals
        self.last = np.nan                             # the day number of the newest day in the window
        self.std = self.prior_std.copy()

    def push(self, day: int, oma_omb_sum: np.ndarray, count: np.ndarray) -> None:
        """Enter day ``day``'s sums (n_cells,) [day number since 1970] and update ``std``; days between
        the previous one and this one (none in a run) enter as empty."""
        if np.isfinite(self.last):
            for gap in range(int(self.last) + 1, min(day, int(self.last) + 1 + self.days)):
                self.sums[gap % self.days] = 0.0
                self.counts[gap % self.days] = 0.0
        self.sums[day % self.days] = oma_omb_sum
        self.counts[day % self.days] = count
        self.last = float(day)
        self.std = self.estimate()

    def estimate(self) -> np.ndarray:
        """The error std (n_cells,) of the window's sums (slots added in index order)."""
        s = np.zeros(self.prior_std.size)
        n = np.zeros(self.prior_std.size)
        for day_sum, day_count in zip(self.sums, self.counts):
            s += day_sum
            n += day_count
        return desroziers_std(s, n, self.prior_std, self.min_count, self.bounds)

    def arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """What a checkpoint carries, each (..., n_cells)."""
        return {f"{prefix}_oma_omb": self.sums, f"{prefix}_count": self.counts,
                f"{prefix}_last_day": np.full(self.prior_std.size, self.last)}

    def load(self, arrays: dict, prefix: str, where: str = "the checkpoint") -> None:
        """Restore from :meth:`arrays` (an empty window if they are absent)."""
        if f"{prefix}_oma_omb" not in arrays:
            return
        sums, counts = np.asarray(arrays[f"{prefix}_oma_omb"]), np.asarray(arrays[f"{prefix}_count"])
        if sums.shape != self.sums.shape:
            from ..errors import InputError

            raise InputError(f"{where}: its Desroziers window {prefix} holds {sums.shape[0]} days; this run's "
                             f"adaptive_days is {self.days}")
        self.sums, self.counts = sums.astype(np.float64), counts.astype(np.float64)
        last = np.asarray(arrays[f"{prefix}_last_day"], dtype=np.float64)
        self.last = float(last[0]) if last.size else np.nan
        self.std = self.estimate()
