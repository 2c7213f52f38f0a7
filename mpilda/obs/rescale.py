"""Removing observation biases against the model: CDF matching, mean offsets and seasonal cycles (SSM),
seasonal rescaling (LAI).

* CDF matching (SPEC section 4; Reichle & Koster 2004; monthly as in Heyvaert
  et al. 2023): per cell and calendar month, the observations' percentiles
  (0, 5, ..., 100 %, Hazen plotting positions) are mapped onto the model's
  percentiles of SM1 at the same times; a value is rescaled by piecewise-linear
  interpolation between the percentiles and linear extrapolation beyond the
  ends (the slopes of the end segments).  A (cell, month) with fewer than
  ``min_samples`` pairs has no robust matching: its observations are masked.
  With these settings (``percentiles`` 0..100 by 5, ``minobs=None``,
  ``linear_edge_scaling=False``) pytesmo's ``CDFMatching`` gives the same
  rescaled values (tests/test_oracles.py); they differ only where a sample has
  tied percentiles: mpilda nudges the tied knots apart by 1e-9 of the sample's
  range, pytesmo re-interpolates the tied percentiles between their neighbours.
* Seasonal-cycle rescaling of SSM (``[obs.smap] rescale = seasonal``; Kwon et al. 2022,
  "Irrigation characterization improved by the direct use of SMAP soil moisture anomalies within
  a data assimilation system", Environ. Res. Lett. 17, 084006: SMAP anomalies on the model's
  climatology, so that anomalies the model lacks, such as irrigation, are not matched away; the
  paper's section 4.2.1 proposes it): per cell and day of year,
  y' = y - clim_obs + clim_model, the climatologies being the moving-window mean seasonal
  cycles (``mpilda.climatology``, R_anom's) of the daily means of the retrieval/model pairs.
  Only the difference of the mean seasonal cycles is removed; the retrievals' anomalies stay
  as they are, unscaled.  A (cell, day slot) whose window holds fewer than ``min_samples``
  days with a pair has no robust cycle: its retrievals are masked (``no_cdf``).
* Seasonal rescaling of LAI (Scherrer et al. 2023): per cell and day of year,
  y* = max(0, clim_model + (y - clim_obs) * std_model / std_obs), the climatologies
  and anomaly standard deviations being moving-window statistics
  (``mpilda.climatology``).  A low retrieval in a cell whose model anomalies are wider than the
  observations' would otherwise come out as a negative leaf area, which no state can match.

Everything is MPI-free: arrays over a rank's cells.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..climatology import anomaly_std, seasonal_cycle

#: Percentiles (%) of the CDF matching knots: every 5 %.
PERCENTILES = np.arange(0.0, 100.1, 5.0)
#: LAI [m2 m-2] a rescaled observation is clipped to from below (a leaf area is never negative).
LAI_MIN = 0.0


def _group_quantiles(values: np.ndarray, groups: np.ndarray, n_groups: int, q: np.ndarray):
    """Quantiles q (P,) [%] of ``values`` within each group 0..n_groups-1: (n_groups, P), NaN for empty
    groups; and the group sizes (n_groups,).

    Hazen plotting positions: the i-th smallest of n values (i = 1..n) sits at the percentile
    100 (i - 0.5) / n; between those, linear interpolation; below the first and above the last,
    the smallest and largest value (numpy's ``method="hazen"``; Hyndman & Fan 1996, definition 5).
    This is the definition of pytesmo's CDF matching (``pytesmo.cdf_matching``, "as Matlab and
    IDL do it"), so the tables agree with the field's reference implementation.
    """
    order = np.lexsort((values, groups))
    v, g = values[order], groups[order]
    starts = np.searchsorted(g, np.arange(n_groups), side="left")
    ends = np.searchsorted(g, np.arange(n_groups), side="right")
    sizes = ends - starts
    rank = np.clip(q[None, :] / 100.0 * sizes[:, None] - 0.5, 0.0, np.maximum(sizes - 1, 0)[:, None])
    pos = starts[:, None] + rank
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(ends - 1, 0)[:, None])
    frac = pos - lo
    vv = np.append(v, np.nan)
    out = vv[np.minimum(lo, v.size)] * (1 - frac) + vv[np.minimum(hi, v.size)] * frac
    return np.where(sizes[:, None] > 0, out, np.nan), sizes


def _strictly_increasing(knots: np.ndarray) -> np.ndarray:
    """Knots (..., P) made strictly increasing along the last axis: a knot not above the one before
    it (a tie) is moved to just above it, by 1e-9 of the knots' range; knots that already increase
    stay exactly as they are.  NaN stays NaN."""
    k = np.array(knots, dtype=np.float64)
    step = 1e-9 * np.maximum(np.abs(k[..., -1] - k[..., 0]), 1e-6)
    for i in range(1, k.shape[-1]):
        tied = k[..., i] <= k[..., i - 1]
        k[..., i] = np.where(tied, k[..., i - 1] + step, k[..., i])
    return k


@dataclass
class CdfMatching:
    """Monthly CDF matching tables of a rank's cells.

    ``obs_knots``/``model_knots``: (12, P, n_cells) percentiles of observations and
    model; ``count``: (12, n_cells) pairs per month; ``min_samples``: robustness threshold.
    """

    obs_knots: np.ndarray
    model_knots: np.ndarray
    count: np.ndarray
    min_samples: int

    @classmethod
    def fit(cls, obs, model, month, cell, n_cells: int, min_samples: int) -> "CdfMatching":
        """Tables from pairs (obs, model SM1 at the obs time) with their month (1..12) and cell index."""
        obs, model = np.asarray(obs, float), np.asarray(model, float)
        ok = np.isfinite(obs) & np.isfinite(model)
        groups = ((np.asarray(month)[ok] - 1) * n_cells + np.asarray(cell)[ok]).astype(np.int64)
        o, count = _group_quantiles(obs[ok], groups, 12 * n_cells, PERCENTILES)
        m, _ = _group_quantiles(model[ok], groups, 12 * n_cells, PERCENTILES)
        shape = (12, n_cells, PERCENTILES.size)
        return cls(o.reshape(shape).transpose(0, 2, 1), m.reshape(shape).transpose(0, 2, 1),
                   count.reshape(12, n_cells), min_samples)

    def robust(self) -> np.ndarray:
        """(12, n_cells): the matching of a (month, cell) is robust."""
        return (self.count >= self.min_samples) & np.all(np.isfinite(self.obs_knots), axis=1)

    def apply(self, values, month, cell) -> tuple[np.ndarray, np.ndarray]:
        """Rescaled values and whether a robust matching existed, for observations at (month 1..12, cell)."""
        values = np.asarray(values, float)
        m = np.asarray(month) - 1
        c = np.asarray(cell)
        ok = self.robust()[m, c]
        xk = _strictly_increasing(self.obs_knots[m, :, c])        # (n, P)
        yk = self.model_knots[m, :, c]
        return piecewise_linear(values, xk, yk), ok & np.isfinite(values)


@dataclass
class MeanOffset:
    """Per-cell removal of the mean difference between observations and model: y' = y + offset.

    The lightest rescaling (e.g. Reichle and Koster 2004 discuss it beside CDF matching): it
    removes a static bias, such as that of a coarse retrieval assigned to each model cell it
    covers, and leaves the observations' anomalies, slow ones included, as they are.

    ``offset``: (n_cells,) mean(model) - mean(obs) over the pairs; ``count``: (n_cells,) pairs;
    ``min_samples``: pairs a cell needs.
    """

    offset: np.ndarray
    count: np.ndarray
    min_samples: int

    @classmethod
    def fit(cls, obs, model, cell, n_cells: int, min_samples: int) -> "MeanOffset":
        """Offsets from pairs (obs, model at the obs time) and their cell index."""
        obs, model = np.asarray(obs, float), np.asarray(model, float)
        ok = np.isfinite(obs) & np.isfinite(model)
        c = np.asarray(cell)[ok]
        count = np.bincount(c, minlength=n_cells)
        total = np.bincount(c, model[ok] - obs[ok], minlength=n_cells)
        offset = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        return cls(offset, count, min_samples)

    def robust(self) -> np.ndarray:
        """(n_cells,): the cell's offset rests on enough pairs."""
        return (self.count >= self.min_samples) & np.isfinite(self.offset)

    def apply(self, values, cell) -> tuple[np.ndarray, np.ndarray]:
        """Rescaled values and whether a robust offset existed, for observations at ``cell``."""
        values = np.asarray(values, float)
        c = np.asarray(cell)
        return values + np.nan_to_num(self.offset[c]), self.robust()[c] & np.isfinite(values)


def daily_pairs(obs, model, day, cell, n_days: int, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """Daily means of retrieval/model pairs on a (day, cell) array.

    Args:
        obs, model: (n,) a retrieval and the model value at its time (same units), NaN: no pair.
        day: (n,) day index 0..n_days-1 of each pair; cell: (n,) cell index 0..n_cells-1.

    Returns:
        (obs, model) daily means (n_days, n_cells), NaN on the days without a pair.  A day's pairs
        (e.g. a morning and an evening overpass) are added in an order fixed by (day, cell, obs,
        model), not by the order they were read in, so the means do not depend on the rank count.
    """
    obs, model = np.asarray(obs, float), np.asarray(model, float)
    ok = np.isfinite(obs) & np.isfinite(model)
    o, m, d, c = obs[ok], model[ok], np.asarray(day)[ok], np.asarray(cell)[ok]
    order = np.lexsort((m, o, c, d))
    o, m, d, c = o[order], m[order], d[order], c[order]
    sums = np.zeros((2, n_days, n_cells))
    count = np.zeros((n_days, n_cells))
    np.add.at(sums[0], (d, c), o)
    np.add.at(sums[1], (d, c), m)
    np.add.at(count, (d, c), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(count > 0, sums / count, np.nan)
    return means[0], means[1]


@dataclass
class SeasonalCycleOffset:
    """Per cell and day slot, removal of the difference of the mean seasonal cycles of the SSM
    retrievals and the model: y' = y - obs_clim + model_clim (Kwon et al. 2022; module docstring).

    ``obs_clim``, ``model_clim``: (365, n_cells) moving-window mean seasonal cycles of the daily
    retrievals and of the model at the same times [m3 m-3]; ``count``: (365, n_cells) days with a
    pair in each slot's window (over all years); ``min_samples``: days a slot needs.
    """

    obs_clim: np.ndarray
    model_clim: np.ndarray
    count: np.ndarray
    min_samples: int

    @classmethod
    def fit(cls, obs, model, slots, window: int, min_samples: int) -> "SeasonalCycleOffset":
        """Cycles from daily pairs ``obs``, ``model`` (n_days, n_cells) (NaN: no pair that day; only days
        where both exist count) at day slots (n_days,) 0..364, with an odd ``window`` [days].

        Both cycles are ``mpilda.climatology.seasonal_cycle`` (what R_anom's anomalies use) over the
        same days; every slot with at least one day in its window has them (``robust`` decides).
        """
        obs, model = np.asarray(obs, float), np.asarray(model, float)
        pair = np.isfinite(obs) & np.isfinite(model)
        oc, count = seasonal_cycle(np.where(pair, obs, np.nan), slots, window, 1)
        mc, _ = seasonal_cycle(np.where(pair, model, np.nan), slots, window, 1)
        return cls(oc, mc, count.astype(np.int64), min_samples)

    def _robust_at(self, s, c) -> np.ndarray:
        oc, mc = self.obs_clim[s, c], self.model_clim[s, c]
        return (self.count[s, c] >= self.min_samples) & np.isfinite(oc) & np.isfinite(mc)

    def robust(self) -> np.ndarray:
        """(365, n_cells): the cycles of a (slot, cell) rest on enough days."""
        return self._robust_at(slice(None), slice(None))

    def apply(self, values, slot, cell) -> tuple[np.ndarray, np.ndarray]:
        """Rescaled values and whether robust cycles existed, for retrievals at (day slot 0..364, cell)."""
        values = np.asarray(values, float)
        s, c = np.asarray(slot), np.asarray(cell)
        out = values - np.nan_to_num(self.obs_clim[s, c]) + np.nan_to_num(self.model_clim[s, c])
        return out, self._robust_at(s, c) & np.isfinite(values)


def piecewise_linear(x: np.ndarray, xk: np.ndarray, yk: np.ndarray) -> np.ndarray:
    """Per-row interpolation of x (n,) on knots xk, yk (n, P), extrapolating the end segments linearly."""
    p = xk.shape[1]
    seg = np.clip((x[:, None] > xk[:, 1:-1]).sum(axis=1), 0, p - 2)       # segment index 0..P-2
    rows = np.arange(x.size)
    x0, x1 = xk[rows, seg], xk[rows, seg + 1]
    y0, y1 = yk[rows, seg], yk[rows, seg + 1]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass
class SeasonalRescaling:
    """Per cell and day slot (365, n_cells): mean seasonal cycles and anomaly stds of observations and model."""

    obs_clim: np.ndarray
    obs_std: np.ndarray
    model_clim: np.ndarray
    model_std: np.ndarray

    @classmethod
    def fit(cls, obs, obs_slots, model, model_slots, window: int = 31, min_count: int = 3) -> "SeasonalRescaling":
        """From observations (n_obs_times, n_cells) and model values (n_model_times, n_cells), NaN = missing.

        Slots whose window holds too few observations for a standard deviation take the
        cell's mean anomaly std over the year.
        """
        oc, _ = seasonal_cycle(obs, obs_slots, window, min_count)
        mc, _ = seasonal_cycle(model, model_slots, window, 1)
        os_ = _filled_std(anomaly_std(obs, obs_slots, oc, window, min_count))
        ms_ = _filled_std(anomaly_std(model, model_slots, mc, window, 2))
        return cls(oc, os_, mc, ms_)

    def apply(self, values, slot, cell) -> tuple[np.ndarray, np.ndarray]:
        """Rescaled observations and whether the statistics exist, at (day slot, cell)."""
        values = np.asarray(values, float)
        s, c = np.asarray(slot), np.asarray(cell)
        oc, os_, mc, ms_ = self.obs_clim[s, c], self.obs_std[s, c], self.model_clim[s, c], self.model_std[s, c]
        ok = np.isfinite(oc) & np.isfinite(mc) & (os_ > 0) & np.isfinite(ms_) & np.isfinite(values)
        ratio = np.where(os_ > 0, ms_ / np.where(os_ > 0, os_, 1.0), 0.0)
        return np.maximum(mc + (values - oc) * ratio, LAI_MIN), ok


def _filled_std(std: np.ndarray) -> np.ndarray:
    """Replace missing slots of a (365, n) std by the cell's mean over the slots that have one."""
    ok = np.isfinite(std)
    n = ok.sum(axis=0)
    mean = np.where(n > 0, np.where(ok, std, 0.0).sum(axis=0) / np.maximum(n, 1), np.nan)
    return np.where(ok, std, mean[None, :])
