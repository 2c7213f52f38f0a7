"""Observation operators H(x): model state -> observation space, for all members of the observed cells.

* SSM: H(x) = SM1 (SPEC section 5).
* LAI: H(x) = LAI.
* VOD (paper eq. 1-2): VOD = clim_VOD(doy) + alpha LAI' + beta(LAI, RZSM) RZSM',
  beta = beta0 + beta1 LAI + beta2 RZSM + beta3 RZSM LAI, with primes the
  anomalies from the model's mean seasonal cycles and clim_VOD the mean
  seasonal cycle of the retrievals.

The operator is applied to every member (the stochastic EnKF uses the
ensemble of predicted observations for H P H^T and P H^T), so no Jacobian is
needed even though the VOD operator is non-linear (interaction terms).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..model.constants import DZ, RZSM_LAYERS

#: Weights of SM1..SM3 in RZSM (thickness-weighted mean of the top 100 cm, SPEC section 2).
RZSM_WEIGHTS = DZ[:RZSM_LAYERS] / DZ[:RZSM_LAYERS].sum()


def rzsm(sm: np.ndarray) -> np.ndarray:
    """Root-zone soil moisture from soil moisture (4, ...) [m3 m-3].

    Written as element-wise products and sums, not a BLAS dot: BLAS kernels round differently in their
    vector body and their tail, so a cell's value would depend on how many cells share the call (on
    the decomposition)."""
    out = RZSM_WEIGHTS[0] * sm[0]
    for k in range(1, RZSM_LAYERS):
        out = out + RZSM_WEIGHTS[k] * sm[k]
    return out


def vod_regressors(lai_anom, rzsm_anom, lai, rzsm_) -> np.ndarray:
    """The five regressors of eq. 1-2, stacked on a new last axis: alpha, beta0, beta1, beta2, beta3 multiply them."""
    return np.stack([lai_anom, rzsm_anom, lai * rzsm_anom, rzsm_ * rzsm_anom, rzsm_ * lai * rzsm_anom], axis=-1)


@dataclass
class VodOperator:
    """Calibrated VOD operator of a rank's cells.

    ``coef`` (n_cells, 5): alpha, beta0..beta3; ``clim_vod``, ``clim_lai``, ``clim_rzsm``:
    mean seasonal cycles (365, n_cells).
    """

    coef: np.ndarray
    clim_vod: np.ndarray
    clim_lai: np.ndarray
    clim_rzsm: np.ndarray

    def __call__(self, lai: np.ndarray, sm: np.ndarray, slot: np.ndarray, cell: np.ndarray) -> np.ndarray:
        """Predicted VOD (..., n_obs) from LAI (..., n_obs) and soil moisture (4, ..., n_obs) at (slot, cell)."""
        r = rzsm(sm)
        x = vod_regressors(lai - self.clim_lai[slot, cell], r - self.clim_rzsm[slot, cell], lai, r)
        coef = self.coef[cell]
        vod = self.clim_vod[slot, cell]
        for k in range(coef.shape[-1]):               # element-wise, in a fixed order (see rzsm)
            vod = vod + x[..., k] * coef[..., k]
        return vod
