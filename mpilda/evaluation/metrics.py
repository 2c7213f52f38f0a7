"""Evaluation metrics and the paper's site rules (section 2.6, Table 3; SPEC section 9).  No MPI.

Series are daily: a (n_days,) axis of datetime64[D] days and values (n_days,) or
(n_days, k) with NaN where a value is missing.  Functions over (n_days, k) arrays work
column by column (k sites or cells at once) and return (k,) results.

* Anomalies: departures from the series' OWN mean seasonal cycle, a moving-window
  (``window`` days, default 31) climatology over all years of the days given
  (:mod:`mpilda.climatology`: 365 day slots, 29 Feb shares the slot of 28 Feb, the window
  wraps around the year end).  Each series gets its climatology from its own values, so
  a station and the model are each compared to their own normal.
* ``r_anom``: Pearson correlation of the anomalies of two series over the days where both
  anomalies exist.  ``delta`` = DA minus OL (positive: DA better for R_anom, worse for RMSD).
* Site rules (paper 2.6.1): a site counts only with >= 200 daily values in >= 3 different
  years; RZSM only with a sensor deeper than 10 cm (see :func:`site_rzsm` for exactly what
  is averaged); several sites in one cell: metrics per site, then averaged per cell.
* The common mask (cells where all three products are assimilated), the spatial median,
  the two-sided Wilcoxon signed-rank test of DA vs OL (over the per-cell values the median
  is taken over), and the impact RMSD between DA and OL daily means (paper eq. 3).
* Sums over days (:func:`time_sum`) run in day order one column at a time, so that a cell's
  metrics are the same bytes whatever other cells share its array (any rank count).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import climatology

#: Paper section 2.6.1: "at least 200 observations (after daily aggregation) over at least three
#: different years".
MIN_VALUES = 200
MIN_YEARS = 3
#: Paper section 2.6.1: "at least one measurement deeper than 10 cm" for RZSM [m].
RZSM_MIN_SENSOR_DEPTH = 0.10
#: The model's root zone is the top 100 cm (SPEC section 2: RZSM = thickness-weighted SM1..SM3) [m].
RZSM_BOTTOM = 1.00
#: The model's surface layer is 0-10 cm (SPEC section 2: SSM = SM1) [m].
SSM_BOTTOM = 0.10
#: Default climatology window [days] (the mpilda default for every mean seasonal cycle, [assimilation]
#: climatology_window).
WINDOW = 31
#: A day slot's mean seasonal value needs at least this many values in its window (over all years),
#: else the anomalies of that slot are missing.  Policy: a third of one full 31-day window, so a
#: slot's climatology averages over at least ~10 independent-ish days.
MIN_CLIMATOLOGY_COUNT = 10
#: A correlation or RMSD needs at least this many paired days, else NaN.  Policy: the standard
#: error of a correlation is ~1/sqrt(n), 0.18 at 30 pairs; the site rule asks for far more anyway.
MIN_PAIRS = 30


# ---------------------------------------------------------------------------
# Series on a common day axis
# ---------------------------------------------------------------------------

def as_days(days) -> np.ndarray:
    """datetime64[D] of dates, datetime64 values or ISO strings."""
    return np.asarray(days).astype("datetime64[D]")


def align(days, values, target_days) -> np.ndarray:
    """Values of a daily series (days (n,), values (n,) or (n, k)) on ``target_days`` (m,): (m,) or (m, k), NaN
    where the series has no value.  Days must be unique."""
    days, target = as_days(days), as_days(target_days)
    values = np.asarray(values, dtype=np.float64)
    out = np.full((target.size,) + values.shape[1:], np.nan)
    if days.size == 0 or target.size == 0:
        return out
    order = np.argsort(days, kind="stable")
    sd = days[order]
    if np.any(sd[1:] == sd[:-1]):
        raise ValueError("align: the days of a series are not unique")
    pos = np.clip(np.searchsorted(sd, target), 0, sd.size - 1)
    hit = sd[pos] == target
    out[hit] = values[order[pos[hit]]]
    return out


# ---------------------------------------------------------------------------
# Anomalies and scores
# ---------------------------------------------------------------------------

def anomalies(days, values, window: int = WINDOW, min_count: int = MIN_CLIMATOLOGY_COUNT) -> np.ndarray:
    """Anomalies (same shape as ``values``) from the series' own moving-window mean seasonal cycle.

    Args:
        days: (n,) days of the values (datetime64[D] or convertible).
        values: (n,) or (n, k) daily values, NaN where missing.
        window: odd width of the moving window [days].
        min_count: least number of values in a slot's window for that slot to have a climatology.
    """
    days = as_days(days)
    values = np.asarray(values, dtype=np.float64)
    if values.shape[0] != days.size:
        raise ValueError(f"values of length {values.shape[0]} for {days.size} days")
    slots = climatology.day_slot(days)
    cycle, _ = climatology.seasonal_cycle(values, slots, window, min_count)
    return climatology.anomalies(values, slots, cycle)


def time_sum(values) -> np.ndarray | float:
    """Sum over axis 0 (days) of (n,) or (n, k) values, added in day order, one column at a time.

    numpy's ``sum(axis=0)`` adds a C-ordered (n, k > 1) array row by row but sums along
    contiguous memory (a (n, 1) array, a 1-D series, a Fortran-ordered array) pairwise, so a
    cell's sum would change in the last bits with the number of cells beside it (a rank
    holding one cell) or the layout.  Here every column is a running sum in day order,
    whatever ``k`` and the layout: a cell's metrics are the same bytes on any rank count, and
    for a site's 1-D series.  (The rounding bound is n * eps, 3e-13 relative for 8 years of
    days, against log2(n) * eps pairwise; typical errors are far smaller.)

    Returns:
        float for 1-D input (0.0 when empty), else (k,); same units as ``values``.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.shape[0] == 0:
        total = np.zeros(v.shape[1:])
    else:
        total = np.cumsum(v, axis=0)[-1]
    return float(total) if total.ndim == 0 else total


def pearson(a, b, min_pairs: int = MIN_PAIRS) -> np.ndarray | float:
    """Pearson correlation of (n,) or (n, k) arrays over the rows where both are finite, column by column.

    NaN where fewer than ``min_pairs`` pairs exist or a series is constant.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    both = np.isfinite(a) & np.isfinite(b)
    n = both.sum(axis=0)
    safe = np.maximum(n, 1)
    x = np.where(both, a, 0.0)
    y = np.where(both, b, 0.0)
    x = np.where(both, x - time_sum(x) / safe, 0.0)
    y = np.where(both, y - time_sum(y) / safe, 0.0)
    sxy, sxx, syy = time_sum(x * y), time_sum(x * x), time_sum(y * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = sxy / np.sqrt(sxx * syy)
    r = np.where((n >= max(min_pairs, 2)) & (sxx > 0) & (syy > 0), r, np.nan)
    return float(r) if np.ndim(r) == 0 else r


def r_anom(a, b, days, window: int = WINDOW, min_count: int = MIN_CLIMATOLOGY_COUNT,
           min_pairs: int = MIN_PAIRS) -> np.ndarray | float:
    """Anomaly correlation R_anom of two daily series on the same days (paper section 2.6).

    Each series' anomalies come from its own climatology (:func:`anomalies`, over all its values in
    ``days``); the Pearson correlation is then taken over the days where both anomalies exist.

    Args:
        a, b: (n,) or (n, k) daily values on ``days``, NaN where missing.
        days: (n,) days.

    Returns:
        float, or (k,) for 2-D input; NaN with fewer than ``min_pairs`` common days.
    """
    return pearson(anomalies(days, a, window, min_count), anomalies(days, b, window, min_count), min_pairs)


def rmsd(a, b, min_pairs: int = 1) -> np.ndarray | float:
    """Root-mean-square difference over the rows where both are finite, column by column (same units as a, b).

    This is the paper's eq. 3 when a, b are the daily ensemble means of a DA run and the OL
    (``impact_rmsd``), and the flux RMSD against a reference otherwise.  NaN with fewer than
    ``min_pairs`` pairs.
    """
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    both = np.isfinite(a) & np.isfinite(b)
    n = both.sum(axis=0)
    d2 = time_sum(np.where(both, (a - b) ** 2, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.where(n >= max(min_pairs, 1), np.sqrt(d2 / np.maximum(n, 1)), np.nan)
    return float(r) if np.ndim(r) == 0 else r


def impact_rmsd(da, ol) -> np.ndarray | float:
    """Paper eq. 3: RMSD over days between the DA and OL daily ensemble means, per cell.

    Args:
        da, ol: (n_days, n_cells) daily means (NaN where missing).

    Returns:
        (n_cells,) RMSD in the variable's units.
    """
    return rmsd(da, ol)


def delta(da_metric, ol_metric):
    """DA minus OL of a metric (per site or cell): ΔR_anom > 0 and ΔRMSD < 0 mean DA is better."""
    return np.asarray(da_metric, dtype=np.float64) - np.asarray(ol_metric, dtype=np.float64)


# ---------------------------------------------------------------------------
# Site rules
# ---------------------------------------------------------------------------

def enough_data(days, values, min_values: int = MIN_VALUES, min_years: int = MIN_YEARS) -> bool:
    """The paper's site rule: at least ``min_values`` daily values in at least ``min_years`` different
    calendar years (counting the finite values of the series as given: the caller passes the
    evaluation period's days)."""
    days = as_days(days)
    ok = np.isfinite(np.asarray(values, dtype=np.float64))
    if int(ok.sum()) < min_values:
        return False
    years = np.unique(days[ok].astype("datetime64[Y]"))
    return years.size >= min_years


@dataclass(frozen=True)
class SensorDaily:
    """One sensor's daily series: depths [m, positive down], days (n,) datetime64[D], values (n,)."""

    depth_from: float
    depth_to: float
    days: np.ndarray
    values: np.ndarray

    @property
    def depth(self) -> float:
        """Centre of the sensor's depth range [m]: what "deeper than" and "in 0-100 cm" refer to."""
        return 0.5 * (self.depth_from + self.depth_to)


def _depth_average(sensors: Sequence[SensorDaily]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Days (union), per-depth means (n_days, n_depths) and the distinct depths of the sensors.

    Sensors at the same centre depth (replicates) are averaged first, so a depth with three
    replicate probes weighs as much as a depth with one.
    """
    days = np.unique(np.concatenate([as_days(s.days) for s in sensors]))
    depths = np.unique(np.round([s.depth for s in sensors], 4))
    sums = np.zeros((days.size, depths.size))
    counts = np.zeros((days.size, depths.size))
    for s in sensors:
        v = align(s.days, s.values, days)
        k = int(np.searchsorted(depths, round(s.depth, 4)))
        ok = np.isfinite(v)
        sums[ok, k] += v[ok]
        counts[ok, k] += 1
    with np.errstate(invalid="ignore", divide="ignore"):
        per_depth = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return days, per_depth, depths


def site_ssm(sensors: Sequence[SensorDaily], bottom: float = SSM_BOTTOM) -> tuple[np.ndarray, np.ndarray] | None:
    """Surface soil moisture of a site: the mean, per day, of its sensors centred in the model's
    surface layer (0 <= centre depth <= ``bottom`` = 0.10 m), replicates averaged first.

    Returns (days, values) or None when the site has no such sensor.
    """
    chosen = [s for s in sensors if 0.0 <= s.depth <= bottom + 1e-9]
    if not chosen:
        return None
    days, per_depth, _ = _depth_average(chosen)
    return days, _mean_of_depths(per_depth)


def _mean_of_depths(per_depth: np.ndarray) -> np.ndarray:
    """(n_days,) equal-weight mean over the depths that have a value each day (NaN when none has)."""
    ok = np.isfinite(per_depth)
    n = ok.sum(axis=1)
    mean = np.where(ok, per_depth, 0.0).sum(axis=1) / np.maximum(n, 1)
    return np.where(n > 0, mean, np.nan)


def site_rzsm(sensors: Sequence[SensorDaily], min_depth: float = RZSM_MIN_SENSOR_DEPTH,
              bottom: float = RZSM_BOTTOM) -> tuple[np.ndarray, np.ndarray] | None:
    """Root-zone soil moisture of a site, or None when the site does not qualify.

    What is implemented (the paper only says "at least one measurement deeper than 10 cm"):

    * the sensors used are those whose depth-range centre lies in the model's root zone,
      0..``bottom`` (1.00 m) inclusive;
    * the site qualifies only if one of them is centred deeper than ``min_depth`` (0.10 m,
      strictly): a surface-only site says nothing about the root zone;
    * per day, replicate sensors at the same depth are averaged, then the depths are averaged
      with equal weights; a day counts only when at least one sensor deeper than ``min_depth``
      has a value that day (so every RZSM value carries root-zone information).

    Why equal weights rather than the model's thickness weights: station profiles are sparse
    and uneven (e.g. 5, 10, 20, 50 cm), so layer thicknesses assigned to them are guesswork,
    and the anomaly correlation used for evaluation is insensitive to the weights when the
    sensors' anomalies are coherent.

    Returns:
        (days, values): the union of the sensors' days (datetime64[D]) and the RZSM [m3 m-3].
    """
    chosen = [s for s in sensors if 0.0 <= s.depth <= bottom + 1e-9]
    if not any(s.depth > min_depth + 1e-9 for s in chosen):
        return None
    days, per_depth, depths = _depth_average(chosen)
    deep_ok = np.isfinite(per_depth[:, depths > min_depth + 1e-9]).any(axis=1)
    return days, np.where(deep_ok, _mean_of_depths(per_depth), np.nan)


def cell_average(cells, values) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average per-site metrics per cell (paper 2.6.1: metrics per site, then averaged per cell).

    Args:
        cells: (n_sites,) global cell id of every site.
        values: (n_sites,) or (n_sites, k) metric per site (NaN sites are ignored).

    Returns:
        (cell ids (m,) ascending, means (m,) or (m, k), number of sites averaged (m,) or (m, k));
        cells whose sites are all NaN get NaN and 0.
    """
    cells = np.asarray(cells, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    ids, inverse = np.unique(cells, return_inverse=True)
    ok = np.isfinite(values)
    shape = (ids.size,) + values.shape[1:]
    sums, counts = np.zeros(shape), np.zeros(shape)
    np.add.at(sums, inverse, np.where(ok, values, 0.0))
    np.add.at(counts, inverse, ok.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return ids, means, counts.astype(np.int64)


def paired_cell_means(cells, da, ol) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-cell means of a paired per-site metric of a DA run and the OL (paper 2.6.1), over the
    sites where both are finite, so that a cell's DA and OL means come from the same sites.

    Args:
        cells: (n_sites,) global cell id of every site.
        da, ol: (n_sites,) the metric of the DA run and of the OL per site (NaN: missing).

    Returns:
        (cell ids (m,) ascending of the cells with at least one pair, DA means (m,), OL means (m,),
        number of sites averaged (m,)).
    """
    cells = np.asarray(cells, dtype=np.int64).ravel()
    da = np.asarray(da, dtype=np.float64).ravel()
    ol = np.asarray(ol, dtype=np.float64).ravel()
    ok = np.isfinite(da) & np.isfinite(ol)
    ids, means, counts = cell_average(cells[ok], np.column_stack([da[ok], ol[ok]]))
    return ids, means[:, 0], means[:, 1], counts[:, 0]


# ---------------------------------------------------------------------------
# Masks, summaries, significance
# ---------------------------------------------------------------------------

def common_mask(counts: Mapping[str, np.ndarray] | np.ndarray, min_count: int = 1) -> np.ndarray:
    """Cells where every product is assimilated (paper 2.6: "grid cells without masking for any of the
    three satellite products", Fig. 1).

    Args:
        counts: per-cell counts of assimilated observations, one array (n_cells,) per product
            ({"smap": ..., "lai": ..., "vod": ...}) or a (n_products, n_cells) array.
        min_count: least count of every product.

    Returns:
        (n_cells,) bool.
    """
    if isinstance(counts, Mapping):
        if not counts:
            raise ValueError("common_mask: no products given")
        stack = np.stack([np.asarray(c) for c in counts.values()])
    else:
        stack = np.atleast_2d(np.asarray(counts))
    with np.errstate(invalid="ignore"):
        return np.all(np.nan_to_num(stack.astype(np.float64), nan=-1.0) >= min_count, axis=0)


def spatial_median(values) -> float:
    """Median over sites or cells of the finite values (NaN when there are none)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else float("nan")


@dataclass(frozen=True)
class Wilcoxon:
    """Two-sided Wilcoxon signed-rank test of paired DA and OL metrics."""

    statistic: float    # scipy's statistic: the smaller of the rank sums of positive and negative differences
    pvalue: float
    n: int              # pairs the test ranks: both finite and DA != OL (scipy drops zero differences)
    n_pairs: int        # pairs with both metrics finite, zero differences included


def wilcoxon_test(da, ol) -> Wilcoxon:
    """Two-sided Wilcoxon signed-rank test of paired DA vs OL metrics (per cell, paper 2.6).

    The differences DA - OL are formed once and passed to ``scipy.stats.wilcoxon`` with its
    defaults (its advice, so rounding in the subtraction does not split tied ranks): zero
    differences are dropped (``zero_method="wilcox"``) and ``method="auto"`` (scipy 1.17: the
    exact null distribution for at most 50 pairs without ties or zeros; with ties or zeros, an
    exhaustive permutation test for at most 13 pairs, zeros included; otherwise the normal
    approximation with the tie correction and no continuity correction).  Pairs where either
    metric is NaN are left out.  With fewer than 2 non-zero differences the statistic and
    p-value are NaN.
    """
    from scipy import stats

    da = np.asarray(da, dtype=np.float64).ravel()
    ol = np.asarray(ol, dtype=np.float64).ravel()
    ok = np.isfinite(da) & np.isfinite(ol)
    d = da[ok] - ol[ok]
    n = int(np.count_nonzero(d))
    if n < 2:
        return Wilcoxon(float("nan"), float("nan"), n, int(ok.sum()))
    res = stats.wilcoxon(d, alternative="two-sided")
    return Wilcoxon(float(res.statistic), float(res.pvalue), n, int(ok.sum()))
