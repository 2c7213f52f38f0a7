"""Running statistics of the ``inspect`` summaries (shared by mpilda.inspect and the readers' summarisers)."""

from __future__ import annotations

import numpy as np


class Stats:
    """Running count, mean, minimum and maximum of the finite values of many arrays."""

    def __init__(self) -> None:
        self.count, self.total = 0, 0.0
        self.min, self.max = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        """Take in the finite values of ``values`` (any shape)."""
        values = np.asarray(values, dtype=np.float64)
        values = values[np.isfinite(values)]
        if values.size:
            self.count += int(values.size)
            self.total += float(values.sum())
            self.min = min(self.min, float(values.min()))
            self.max = max(self.max, float(values.max()))

    def summary(self, units: str | None) -> dict:
        """{"units", "count", "mean", "min", "max"}; None for the statistics of no value."""
        if not self.count:
            return {"units": units, "count": 0, "mean": None, "min": None, "max": None}
        return {"units": units, "count": self.count, "mean": self.total / self.count, "min": self.min, "max": self.max}
