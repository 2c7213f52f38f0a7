"""Calibration of the VOD observation operator per cell (paper section 2.3, Fig. 2).

For each cell, alpha and beta0..beta3 of eq. 1-2 are fitted by least squares
of the VOD anomalies on the model's LAI and RZSM anomalies over a calibration
period (QR on column-scaled regressors, not the normal equations: LAI and RZSM
are nearly collinear in many cells).  Every ``holdout_every``-th week of retrievals is left out of the fit;
on those the operator is evaluated: R^2 and RMSE of the total VOD
(clim_VOD + predicted anomaly) and the anomaly correlation R_anom.  Cells where
the fit is poor (R^2 <= r2_threshold and/or RMSE >= rmse_threshold) are masked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..climatology import seasonal_cycle
from .operators import vod_regressors

#: Minimum retrievals in the fit (5 coefficients) and in the evaluation of a cell.
MIN_FIT, MIN_EVAL = 20, 5
#: A regressor column whose norm is at most this fraction of the norm it would have with the
#: values in place of the anomalies is round-off of the climatology subtraction (a constant
#: LAI or RZSM) or exactly zero (LAI 0 of a class without vegetation): it is left out of the fit.
NEGLIGIBLE = 1e-10
#: The beta terms that LAI multiplies (beta1 LAI RZSM', beta3 RZSM LAI RZSM'; columns of
#: ``vod_regressors``): where LAI does not vary over the fit they are indistinguishable from
#: beta0 RZSM' and beta2 RZSM RZSM' and are left out with alpha, so that beta does not depend on LAI.
LAI_TERMS = [2, 4]
#: Bytes of one batch of stacked least-squares problems (bounds the memory of the batched QR).
_BATCH_BYTES = 1 << 25


@dataclass
class VodCalibration:
    """Per-cell results (n_cells,) and the climatologies (365, n_cells) the operator needs."""

    alpha: np.ndarray
    beta: np.ndarray          # (4, n_cells): beta0..beta3
    r2: np.ndarray
    rmse: np.ndarray
    r_anom: np.ndarray
    n_fit: np.ndarray
    n_eval: np.ndarray
    mask: np.ndarray          # True: the operator is too poor here, VOD is not assimilated
    clim_vod: np.ndarray
    clim_lai: np.ndarray
    clim_rzsm: np.ndarray

    @property
    def coef(self) -> np.ndarray:
        """(n_cells, 5): alpha, beta0, beta1, beta2, beta3."""
        return np.concatenate([self.alpha[None], self.beta], axis=0).T


def calibrate(vod, lai, rzsm, slots, days, window: int = 31, model_lai=None, model_rzsm=None, model_slots=None,
              holdout_every: int = 5, r2_threshold: float = 0.5, rmse_threshold: float = 0.08,
              rule: str = "and") -> VodCalibration:
    """Fit and evaluate the VOD operator of every cell.

    Args:
        vod: (n_t, n_cells) VOD retrievals at their times, NaN where none.
        lai, rzsm: (n_t, n_cells) the model's LAI and RZSM at the same times.
        slots: (n_t,) day-of-year slots; days: (n_t,) day numbers (for the hold-out weeks).
        window: days of the mean seasonal cycles.
        model_lai, model_rzsm, model_slots: the model's full daily series for its climatology
            (default: the values at the retrieval times).
    """
    vod = np.asarray(vod, float)
    lai, rzsm = np.asarray(lai, float), np.asarray(rzsm, float)
    if model_lai is None:
        model_lai, model_rzsm, model_slots = lai, rzsm, slots
    held_out = (np.asarray(days) // 7) % holdout_every == holdout_every - 1
    clim_lai, _ = seasonal_cycle(model_lai, model_slots, window)
    clim_rzsm, _ = seasonal_cycle(model_rzsm, model_slots, window)
    fit_vod = np.where(held_out[:, None], np.nan, vod)
    clim_vod, _ = seasonal_cycle(fit_vod, slots, window)
    x = vod_regressors(lai - clim_lai[slots], rzsm - clim_rzsm[slots], lai, rzsm)   # (n_t, n_cells, 5)
    y = vod - clim_vod[slots]
    ok = np.isfinite(y) & np.all(np.isfinite(x), axis=-1)
    fit = ok & ~held_out[:, None]
    ev = ok & held_out[:, None]
    size = vod_regressors(lai, rzsm, lai, rzsm)           # the columns with values in place of anomalies
    keep = _norms(x, fit) > NEGLIGIBLE * _norms(size, fit)
    keep[:, LAI_TERMS] &= keep[:, :1]                     # LAI constant: no LAI-dependent terms
    coef = least_squares(x, y, fit, keep)
    n_fit = fit.sum(axis=0)
    coef[n_fit < MIN_FIT] = np.nan
    pred_anom = np.einsum("tck,ck->tc", x, coef)
    obs_e = np.where(ev, vod, np.nan)
    pred = clim_vod[slots] + pred_anom
    n_eval = ev.sum(axis=0)
    resid = np.where(ev, obs_e - pred, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = _day_sum(resid ** 2)
        mean_obs = _day_sum(obs_e) / n_eval
        sst = _day_sum(np.where(ev, obs_e - mean_obs, np.nan) ** 2)
        r2 = 1.0 - sse / sst
        rmse = np.sqrt(sse / n_eval)
        r_anom = _masked_corr(np.where(ev, y, np.nan), np.where(ev, pred_anom, np.nan))
    valid = (n_eval >= MIN_EVAL) & np.all(np.isfinite(coef), axis=1)
    r2, rmse, r_anom = (np.where(valid, v, np.nan) for v in (r2, rmse, r_anom))
    poor_r2 = ~(r2 > r2_threshold)
    poor_rmse = ~(rmse < rmse_threshold)
    poor = (poor_r2 & poor_rmse) if rule == "and" else (poor_r2 | poor_rmse)
    return VodCalibration(alpha=coef[:, 0], beta=coef[:, 1:].T, r2=r2, rmse=rmse, r_anom=r_anom, n_fit=n_fit,
                          n_eval=n_eval, mask=poor | ~valid, clim_vod=clim_vod, clim_lai=clim_lai,
                          clim_rzsm=clim_rzsm)


def _norms(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Euclidean norms (n_cells, k) of the columns of x (n_t, n_cells, k) over the rows (n_t, n_cells)."""
    xr = np.where(rows[..., None], x, 0.0)
    return np.sqrt(np.einsum("tck,tck->ck", xr, xr))


def least_squares(x: np.ndarray, y: np.ndarray, rows: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """Per-cell least-squares coefficients (n_cells, k) of y (n_t, n_cells) on x (n_t, n_cells, k).

    Only the ``rows`` (n_t, n_cells) of a cell enter its fit: the others are zeroed in x and y,
    which leaves the solution unchanged.  Columns not in ``keep`` (n_cells, k; default all)
    are left out (coefficient 0).  The columns are scaled to unit norm and the problem is solved
    through a QR factorisation of [X | y] (batched over cells) and the SVD of the small
    triangle R: the minimum-norm solution with singular values below eps max(n_rows, k) of the
    largest dropped, the rank rule of ``numpy.linalg.lstsq``.  Unlike the normal equations,
    whose condition number is the square of X's, this keeps the coefficients accurate where the
    regressors are nearly collinear (the VOD operator's LAI and RZSM terms).  Cells without rows
    get coefficients 0.
    """
    n_t, n_cells, k = x.shape
    keep = np.ones((n_cells, k), dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    use = rows[..., None] & keep[None]
    norm = _norms(x, rows)
    scale = np.where(keep & (norm > 0.0), norm, 1.0)
    xs = np.where(use, x, 0.0) / scale
    ys = np.where(rows, y, 0.0)
    rank_tol = np.finfo(np.float64).eps * np.maximum(rows.sum(axis=0), k)
    coef = np.zeros((n_cells, k))
    batch = max(1, _BATCH_BYTES // (8 * (k + 1) * max(n_t, k + 1)))
    for lo in range(0, n_cells, batch):
        cells = slice(lo, lo + batch)
        coef[cells] = _solve_scaled(xs[:, cells], ys[:, cells], rank_tol[cells])
    return np.where(keep, coef / scale, 0.0)


def _solve_scaled(xs: np.ndarray, ys: np.ndarray, rank_tol: np.ndarray) -> np.ndarray:
    """Minimum-norm least squares (n_cells, k) of ys (n_t, n_cells) on xs (n_t, n_cells, k), per cell:
    R of the QR factorisation of [xs | ys] gives X = Q R_x and Q^T y; R_x's SVD with relative
    cut-off rank_tol (n_cells,) gives the solution."""
    n_t, n_cells, k = xs.shape
    a = np.concatenate([xs, ys[..., None]], axis=-1).transpose(1, 0, 2)      # (n_cells, n_t, k + 1)
    if n_t < k + 1:                                                          # zero rows change nothing
        a = np.concatenate([a, np.zeros((n_cells, k + 1 - n_t, k + 1))], axis=1)
    r = np.linalg.qr(a, mode="r")                                            # (n_cells, k + 1, k + 1)
    u, sv, vt = np.linalg.svd(r[:, :k, :k])
    inv = np.where(sv > sv[:, :1] * rank_tol[:, None], 1.0 / np.where(sv > 0.0, sv, 1.0), 0.0)
    w = inv * np.einsum("cji,cj->ci", u, r[:, :k, k])
    return np.einsum("cji,cj->ci", vt, w)


def _day_sum(a: np.ndarray) -> np.ndarray:
    """Sum (n_cells,) over axis 0 of a (n_t, n_cells), NaN counted as 0, added in day order.

    numpy's sum adds the rows of a (n_t, n_cells > 1) array in order but a one-cell column
    pairwise: a running sum gives a cell the same bits whatever the rank's other cells.
    """
    a = np.where(np.isnan(a), 0.0, a)
    return np.cumsum(a, axis=0)[-1] if a.shape[0] else np.zeros(a.shape[1:])


def _masked_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along axis 0 ignoring NaN pairs."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=0)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    ma, mb = _day_sum(a0) / np.maximum(n, 1), _day_sum(b0) / np.maximum(n, 1)
    da, db = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
    return _day_sum(da * db) / np.sqrt(_day_sum(da * da) * _day_sum(db * db))
