"""Calibration of the VOD observation operator per cell (paper section 2.3, Fig. 2).

For each cell, alpha and beta0..beta3 of eq. 1-2 are fitted by least squares
of the VOD anomalies on the model's LAI and RZSM anomalies over a calibration
period.  Every ``holdout_every``-th week of retrievals is left out of the fit;
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
    xf = np.where(fit[..., None], x, 0.0)
    yf = np.where(fit, y, 0.0)
    a = np.einsum("tck,tcl->ckl", xf, xf)
    b = np.einsum("tck,tc->ck", xf, yf)
    n_fit = fit.sum(axis=0)
    # a small ridge keeps cells whose regressors are degenerate (e.g. LAI constant) solvable
    ridge = 1e-9 * np.maximum(np.trace(a, axis1=1, axis2=2), 1e-12)[:, None, None] * np.eye(5)
    coef = np.linalg.solve(a + ridge, b[..., None])[..., 0]
    coef[n_fit < MIN_FIT] = np.nan
    pred_anom = np.einsum("tck,ck->tc", x, coef)
    obs_e = np.where(ev, vod, np.nan)
    pred = clim_vod[slots] + pred_anom
    n_eval = ev.sum(axis=0)
    resid = np.where(ev, obs_e - pred, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        sse = np.nansum(resid ** 2, axis=0)
        mean_obs = np.nanmean(obs_e, axis=0) if ev.any() else np.full(vod.shape[1], np.nan)
        sst = np.nansum(np.where(ev, obs_e - mean_obs, np.nan) ** 2, axis=0)
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


def _masked_corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation along axis 0 ignoring NaN pairs."""
    ok = np.isfinite(a) & np.isfinite(b)
    n = ok.sum(axis=0)
    a0 = np.where(ok, a, 0.0)
    b0 = np.where(ok, b, 0.0)
    ma, mb = a0.sum(0) / np.maximum(n, 1), b0.sum(0) / np.maximum(n, 1)
    da, db = np.where(ok, a - ma, 0.0), np.where(ok, b - mb, 0.0)
    return (da * db).sum(0) / np.sqrt((da * da).sum(0) * (db * db).sum(0))
