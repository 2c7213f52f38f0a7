"""The analysis: a one-dimensional (per cell) ensemble Kalman filter with perturbed observations.

For every cell with observations at this step, all its observations are
assimilated together with a diagonal R (Reichle et al. 2002; Evensen 2003;
LIS's enkf_analysis, noahmp-physics.md s.11.5):

    X' = X - mean(X),  Y' = HX - mean(HX)              (over the N members)
    P_yy = Y' Y'^T / (N - 1) + R,   P_xy = (X' Y'^T / (N - 1)) o L
    x_a,m = x_m + P_xy P_yy^-1 (y + v_m - HX_m)

with v_m the observation perturbations (zero ensemble mean, variance R).  L
(n_state x n_obs, 0/1) says which state variables each observation may update
(paper Table 1: SSM -> SM1..4, LAI -> LAI, VOD -> SM1..4 and LAI) and removes
the rest of the gain (a variable localisation).  Cells are batched in arrays
(n_cells, n_state, n_members); the caller pads cells with fewer observations
than the batch's maximum, and the cells are solved in groups of equal count
with the padding cut off.
"""

from __future__ import annotations

import numpy as np


def analysis_increments(x: np.ndarray, hx: np.ndarray, y: np.ndarray, r_var: np.ndarray, present: np.ndarray,
                        impact: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Increments (n_cells, n_state, N) of the perturbed-observation EnKF.

    Args:
        x: (n_cells, n_state, N) forecast states.
        hx: (n_cells, n_obs, N) predicted observations.
        y: (n_cells, n_obs) observations (already rescaled to the model's climatology).
        r_var: (n_cells, n_obs) observation error variances.
        present: (n_cells, n_obs) bool: a real observation in this slot (False: padding).
        impact: (n_cells, n_state, n_obs) 0/1: may observation j update state variable i.
        v: (n_cells, n_obs, N) observation perturbations.

    Cells are solved in groups of equal observation count with no padding, so that a cell's increments
    depend on its own observations only, not on the largest count among the cells sharing the call
    (LAPACK and BLAS round differently for different matrix sizes; the count depends on the tiles a
    rank holds). The real observations must fill the leading slots of each cell.
    """
    counts = present.sum(axis=1)
    if not (present == (np.arange(present.shape[1]) < counts[:, None])).all():
        raise ValueError("analysis_increments: the real observations must fill each cell's leading slots")
    dx = np.zeros(x.shape)
    for k in np.unique(counts[counts > 0]):
        sel = counts == k
        dx[sel] = _increments(x[sel], hx[sel, :k], y[sel, :k], r_var[sel, :k], impact[sel, :, :k], v[sel, :k])
    return dx


def _increments(x, hx, y, r_var, impact, v):
    """Increments of cells that all have every one of their n_obs slots filled (shapes as above)."""
    n = x.shape[-1]
    xa = x - x.mean(axis=-1, keepdims=True)
    ya = hx - hx.mean(axis=-1, keepdims=True)
    pyy = np.einsum("cjm,ckm->cjk", ya, ya) / (n - 1)
    pyy = pyy + r_var[:, :, None] * np.eye(y.shape[1])
    pxy = np.einsum("cim,cjm->cij", xa, ya) / (n - 1) * impact
    d = y[..., None] + v - hx
    return pxy @ np.linalg.solve(pyy, d)


def innovation_statistics(hx: np.ndarray, y: np.ndarray, r_var: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Innovations O - F (y - mean HX) and normalised innovations (O - F) / sqrt(var HX + R), same shape as y."""
    mean = hx.mean(axis=-1)
    var = hx.var(axis=-1, ddof=1) if hx.shape[-1] > 1 else np.zeros_like(mean)
    innovation = y - mean
    return innovation, innovation / np.sqrt(var + r_var)


def zero_member_mean(v: np.ndarray) -> np.ndarray:
    """Remove the ensemble mean over the last axis (members), keeping unit variance: (v - mean) sqrt(N/(N-1))."""
    n = v.shape[-1]
    if n < 2:
        return v
    return (v - v.mean(axis=-1, keepdims=True)) * np.sqrt(n / (n - 1.0))


def observation_perturbations(seed: int, cell_ids: np.ndarray, step: int, n_obs: int, n_members: int,
                              error_std: np.ndarray) -> np.ndarray:
    """Perturbations (n_cells, n_obs, N) of the observations of one step: normal, zero ensemble mean, std error_std.

    Keyed random numbers (stream OBS_PERTURBATION, the cell's global id, the member, the global step
    index; slot j is the j-th normal of the tuple), so they never depend on the rank that draws them.
    """
    from .random import Stream, normals

    z = normals(seed, Stream.OBS_PERTURBATION, np.asarray(cell_ids)[:, None], np.arange(n_members)[None, :], step,
                n=n_obs)                                   # (n_obs, n_cells, N)
    return zero_member_mean(z.transpose(1, 0, 2)) * error_std[..., None]
