"""The lagged autocorrelation of the total error: the innovations O − F at lags of 1–10 days (paper
section 4.2, Figs. S17 and S19).  No MPI, no files.

The paper explains why VOD assimilation changes soil moisture nearly as much as SSM assimilation
with far smaller increments: the "lagged autocorrelations of the total error (model and
observations)" are much larger for the (LPDR-smoothed) VOD retrievals than for SMAP SSM, so an
error returns in many small increments.  The innovation O − F (retrieval minus the ensemble-mean
forecast of it) carries the errors of both, hence "total error".

What is computed here, per cell (arrays over cells, columns of (n_days, n_cells)):

* the daily mean innovation: ``innov_sum / assimilated`` of diagnostics.nc (the day's assimilated
  retrievals of one sensor averaged; NaN on a day without one), in the sensor's units;
* at each lag L [days], the Pearson correlation of the pairs (x[d], x[d + L]) over the days d
  where both days have an innovation (each member of the pair centred on its own mean over those
  pairs, as :func:`mpilda.evaluation.metrics.pearson`), NaN with fewer than
  :data:`MIN_LAG_PAIRS` pairs.  Innovations are not deseasonalised: a seasonal bias the
  rescaling left behind is part of the total error and shows as a slowly decaying autocorrelation.

The summary over cells (:func:`summary_rows`) is the median over the cells of the common mask
that have a value, as every spatial summary of the paper (its section 2.6); the paper does not say
how Figs. S17/S19 summarise the cells, so the median (and the quartiles) over cells is mpilda's
choice, with the count of cells beside it.  LAI retrievals are 10-daily, so at most lags the
number of pairs is small or zero and the value is None.

Sums over days run in day order per cell (:func:`mpilda.evaluation.metrics.time_sum`), so a
cell's values are the same bytes whatever other cells share its array (any rank count).
"""

from __future__ import annotations

import numpy as np

from . import metrics

#: The lags of the paper's Figs. S17/S19 [days].
LAGS = tuple(range(1, 11))
#: A cell's autocorrelation at a lag needs at least this many day pairs with an innovation on both
#: days, else NaN (None in evaluation.json).  Policy: the standard error of a correlation is about
#: 1/sqrt(n), 0.32 at 10 pairs: enough to tell 0.8 from 0 in one cell, and the median over cells
#: narrows it further; the paper gives no number.
MIN_LAG_PAIRS = 10


def daily_mean_innovation(innov_sum, assimilated) -> np.ndarray:
    """Daily mean innovation O − F per cell: the day's sum over assimilated retrievals / their number.

    Args:
        innov_sum: (n_days, n_cells) daily sums of innovations (diagnostics.nc ``<sensor>_innov_sum``,
            the sensor's units; NaN where missing).
        assimilated: (n_days, n_cells) daily counts of assimilated retrievals (``<sensor>_assimilated``).

    Returns:
        (n_days, n_cells) float64 in the sensor's units, NaN on days with no assimilated retrieval.
    """
    s = np.asarray(innov_sum, dtype=np.float64)
    n = np.asarray(assimilated, dtype=np.float64)
    ok = np.isfinite(s) & np.isfinite(n) & (n > 0)
    return np.where(ok, s / np.where(ok, n, 1.0), np.nan)


def lag_pairs(series, lag: int) -> np.ndarray:
    """Number of day pairs (d, d + lag) with a finite value on both days, per column: (n_cells,) int.

    series: (n_days, n_cells); lag >= 1 [days].
    """
    x = np.asarray(series, dtype=np.float64)
    if lag >= x.shape[0]:
        return np.zeros(x.shape[1:], dtype=np.int64)
    return (np.isfinite(x[:-lag]) & np.isfinite(x[lag:])).sum(axis=0).astype(np.int64)


def lagged_autocorrelation(series, lags=LAGS, min_pairs: int = MIN_LAG_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """Per column, the Pearson autocorrelation at each lag over the day pairs where both days have a value.

    Args:
        series: (n_days,) or (n_days, n_cells) daily values on consecutive days, NaN where missing.
        lags: lags [days], each >= 1.
        min_pairs: least number of pairs for a value (else NaN).

    Returns:
        (autocorrelation (n_lags, n_cells) [-1, 1] or NaN, pairs (n_lags, n_cells) int); for 1-D input
        (n_lags,) each.  Each cell's values depend on its own column only, to the bit.
    """
    x = np.asarray(series, dtype=np.float64)
    one = x.ndim == 1
    x = x[:, None] if one else x
    acf = np.full((len(lags), x.shape[1]), np.nan)
    pairs = np.zeros((len(lags), x.shape[1]), dtype=np.int64)
    for i, lag in enumerate(lags):
        if lag < 1:
            raise ValueError(f"lagged_autocorrelation: lag {lag} < 1 day")
        pairs[i] = lag_pairs(x, lag)
        if lag < x.shape[0]:
            acf[i] = metrics.pearson(x[:-lag], x[lag:], min_pairs=min_pairs)
    return (acf[:, 0], pairs[:, 0]) if one else (acf, pairs)


def summary_rows(experiment: str, sensor: str, acf, pairs, mask, lags=LAGS) -> list[dict]:
    """Rows of evaluation.json's ``innovation_autocorrelation`` for one experiment and sensor.

    Args:
        acf, pairs: (n_lags, n_cells) per-cell autocorrelations and pair counts of the whole domain.
        mask: (n_cells,) bool, the cells summarised (the common mask).

    Returns:
        one dict per lag: experiment, sensor, lag_days, autocorrelation (median over the masked cells
        with a value, NaN when none has), autocorrelation_q25 / _q75 (their quartiles), n_cells (cells
        with a value), n_pairs (median of their pair counts, 0 when none).
    """
    rows = []
    mask = np.asarray(mask, dtype=bool)
    for i, lag in enumerate(lags):
        v = np.asarray(acf[i], dtype=np.float64)[mask]
        ok = np.isfinite(v)
        q25, q75 = (np.percentile(v[ok], [25, 75]) if ok.any() else (np.nan, np.nan))
        rows.append(dict(experiment=experiment, sensor=sensor, lag_days=int(lag),
                         autocorrelation=metrics.spatial_median(v), autocorrelation_q25=float(q25),
                         autocorrelation_q75=float(q75), n_cells=int(ok.sum()),
                         n_pairs=float(np.median(np.asarray(pairs[i])[mask][ok])) if ok.any() else 0.0))
    return rows
