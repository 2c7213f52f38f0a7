"""Ensemble perturbations (paper Table 2) and the Ryu et al. (2009) bias correction.

The scheme is LIS's GMAO generator (noahmp-physics.md s.11.2-11.4) with
counter-based random numbers:

* white standard normals w per (cell, member, interval, field) from
  ``mpilda.random`` (never a per-rank generator), their ensemble mean removed
  and rescaled by sqrt(N/(N-1)) so each member keeps unit variance;
* forcing: an AR(1) state xi_t = c xi_(t-1) + sqrt(1 - c^2) w_t,
  c = exp(-interval / tau), kept in the restart; cross-correlated as z = L xi
  with L the Cholesky factor of the SW/LW/P correlation matrix (LIS uses an
  eigen square root: the same covariance, other realisations);
* state: no time correlation, z = L w with the 5 x 5 SM1..SM4/LAI matrix;
* every z is cut at +-truncation; additive perturbations are sigma z, and
  multiplicative ones exp(mu + s z) with (mu, s) solved so that the cut
  lognormal multiplier has mean exactly 1 and exactly the configured std;
* with ``[perturbations] zero_mean`` the forcing perturbations of each draw are
  re-centred over the members (multipliers / member mean, LW - member mean),
  after the cut; the AR(1) state is not touched;
* the last ensemble column of every cell is the unperturbed control run.

``ryu_correct`` shifts the members every step so that their mean equals the
control (Ryu et al. 2009); analyses (later) restart the control from the
analysis mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from scipy import optimize, special

from .config import Perturbations
from .model.vegetation import LAI_MIN
from .random import Stream, normals

FORCING_FIELDS = ("swdown", "lwdown", "precip")
#: The additive forcing perturbations (the others multiply the forcing).
ADDITIVE = ("lwdown",)


def _cut_moments(s: float, c: float) -> tuple[float, float]:
    """E[exp(s Z)] and E[exp(2 s Z)] for Z standard normal cut (clipped) at +-c."""
    phi = special.ndtr

    def m(a):
        inner = np.exp(a * a / 2.0) * (phi(c - a) - phi(-c - a))
        return inner + np.exp(a * c) * phi(-c) + np.exp(-a * c) * phi(-c)
    return m(s), m(2.0 * s)


def lognormal_parameters(std: float, cut: float) -> tuple[float, float]:
    """(mu, s) with E[exp(mu + s Z_cut)] = 1 and Std[exp(mu + s Z_cut)] = std, Z_cut = clip(Z, -cut, cut)."""
    if std == 0:
        return 0.0, 0.0

    def relative_std(s):
        m1, m2 = _cut_moments(s, cut)
        return np.sqrt(max(m2 - m1 * m1, 0.0)) / m1 - std
    s = optimize.brentq(relative_std, 1e-9, 10.0, xtol=1e-15, rtol=1e-15, maxiter=200)
    return -float(np.log(_cut_moments(s, cut)[0])), float(s)


def _member_mean(a: np.ndarray) -> np.ndarray:
    """Mean over the members (axis -2, kept) of a (..., n_members, n_cells), summed in member order.

    The bits of numpy's mean of an array of several cells, also for one cell (numpy would sum a
    one-cell column pairwise, other bits): a cell's perturbations do not depend on the rank's cells.
    """
    n = a.shape[-2]
    total = a[..., 0, :].copy()
    for m in range(1, n):
        total += a[..., m, :]
    return (total / n)[..., None, :]


def _zero_mean(w: np.ndarray) -> np.ndarray:
    """Remove the ensemble mean (axis -2) and restore unit variance: (w - mean) sqrt(N / (N - 1))."""
    n = w.shape[-2]
    if n < 2:
        return w
    return (w - _member_mean(w)) * np.sqrt(n / (n - 1.0))


def recentre(factors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Forcing perturbations (n_members, n_cells) re-centred over the members ([perturbations] zero_mean).

    The multipliers (SW, P) are divided by their member mean (mean 1), the additive LW
    perturbation [W m-2] loses its member mean (mean 0), so that the members do not shift the
    forcing mean; with fewer than 2 members nothing changes.
    """
    if next(iter(factors.values())).shape[0] < 2:
        return factors
    out = {}
    for name, k in factors.items():
        out[name] = k - _member_mean(k) if name in ADDITIVE else k / _member_mean(k)
    return out


@dataclass
class PerturbationState:
    """The AR(1) state of the forcing perturbations, (3, n_members, n_cells); restarts carry it."""

    xi: np.ndarray
    interval: int = -1          # index of the forcing interval xi belongs to (-1: not drawn yet)


class Perturber:
    """Perturbations of the forcing and the state of ``n_members`` members of a rank's cells.

    Args:
        settings: the [perturbations] section.
        seed: [random] seed.
        cell_ids: (n_cells,) global ids of the rank's cells (random numbers key on them).
        n_members: perturbed members; the ensemble arrays have one more column per cell, the control.
        first_member: random-number identity of the first member (members draw first_member ..
            first_member + n_members - 1); another range gives independent perturbations.
        control: False: no unperturbed control column (the twin's perturbed truth, a lone member).
    """

    def __init__(self, settings: Perturbations, seed: int, cell_ids: np.ndarray, n_members: int,
                 first_member: int = 0, control: bool = True):
        self.s, self.seed, self.n, self.control = settings, seed, n_members, control
        self.cell_ids = np.asarray(cell_ids, dtype=np.int64)
        self.members = np.arange(first_member, first_member + n_members)[:, None]
        cut = settings.truncation
        self.cut = cut
        self.sw = lognormal_parameters(settings.sw_std, cut)
        self.precip = lognormal_parameters(settings.precip_std, cut)
        r = settings
        corr = np.array([[1.0, r.sw_lw_correlation, r.sw_precip_correlation],
                         [r.sw_lw_correlation, 1.0, r.lw_precip_correlation],
                         [r.sw_precip_correlation, r.lw_precip_correlation, 1.0]])
        self.forcing_chol = np.linalg.cholesky(corr)
        self.state_chol = np.linalg.cholesky(np.array(settings.state_correlation).reshape(5, 5))
        self.state_std = np.array(list(settings.sm_std) + [settings.lai_std])
        self.ar = np.exp(-settings.forcing_interval / settings.time_correlation) if settings.time_correlation > 0 \
            else 0.0
        self.pert = PerturbationState(np.zeros((3, n_members, self.cell_ids.size)))
        self.factors: dict[str, np.ndarray] = {}

    # -- forcing ------------------------------------------------------------------
    def _update_forcing(self, interval: int) -> None:
        """Advance the AR(1) state to forcing interval ``interval`` and derive the perturbations."""
        p = self.pert
        if p.interval == interval:
            return
        w = _zero_mean(normals(self.seed, Stream.FORCING_PERTURBATION, self.cell_ids[None, :], self.members,
                               interval, n=3))
        if p.interval < 0 or interval != p.interval + 1:
            # cold start, or a jump (a restart lands exactly on p.interval + 1, so this is a new run)
            p.xi = w
        else:
            p.xi = self.ar * p.xi + np.sqrt(1.0 - self.ar * self.ar) * w
        p.interval = interval
        z = np.clip(self.correlate_forcing(p.xi), -self.cut, self.cut)
        self.factors = dict(swdown=np.exp(self.sw[0] + self.sw[1] * z[0]), lwdown=self.s.lw_std * z[1],
                            precip=np.exp(self.precip[0] + self.precip[1] * z[2]))
        if self.s.zero_mean:                    # on the derived perturbations only: xi (the restart) as without
            self.factors = recentre(self.factors)

    def correlate_forcing(self, xi: np.ndarray) -> np.ndarray:
        """Cross-correlated normals z = L xi (3, ...) of the SW, LW and P perturbations (before the cut)."""
        return np.einsum("ij,j...->i...", self.forcing_chol, xi)

    def forcing(self, f: dict[str, np.ndarray], seconds: int) -> dict[str, np.ndarray]:
        """Ensemble forcing (n_members + 1, n_cells) at ``seconds`` since the epoch; the last row is unperturbed
        (no such row without a control)."""
        self._update_forcing(seconds // self.s.forcing_interval)
        k = self.factors
        out = {}
        for name, value in f.items():
            value = np.asarray(value, dtype=np.float64)
            if name == "swdown":
                members = value * k["swdown"]
            elif name == "lwdown":
                members = np.maximum(value + k["lwdown"], 0.0)
            elif name in ("rainf", "snowf"):
                members = value * k["precip"]
            else:
                out[name] = value
                continue
            out[name] = np.concatenate([members, value[None, :]], axis=0) if self.control else members
        return out

    # -- state ---------------------------------------------------------------------
    def state_perturbations(self, interval: int) -> np.ndarray:
        """Additive perturbations (5, n_members, n_cells) of SM1..SM4 and LAI for state interval ``interval``."""
        w = _zero_mean(normals(self.seed, Stream.STATE_PERTURBATION, self.cell_ids[None, :], self.members,
                               interval, n=5))
        z = np.clip(np.einsum("ij,j...->i...", self.state_chol, w), -self.cut, self.cut)
        return self.state_std[:, None, None] * z

    def perturb_state(self, model, state, interval: int) -> None:
        """Add the state perturbations of ``interval`` to the members (not the control), kept physical."""
        d = self.state_perturbations(interval)
        add = np.zeros((5,) + state.shape)
        add[:, :self.n] = d
        apply_increments(model, state, add[:4], add[4])

    def arrays(self) -> dict[str, np.ndarray]:
        return {"pert_xi": self.pert.xi, "pert_interval": np.full(self.pert.xi.shape[-1], self.pert.interval,
                                                                  dtype=np.float64)}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        if "pert_xi" in arrays:
            self.pert.xi = np.array(arrays["pert_xi"], dtype=np.float64)
            self.pert.interval = int(arrays["pert_interval"][0]) if arrays["pert_interval"].size else -1


def apply_increments(model, state, d_sm: np.ndarray | None, d_lai: np.ndarray | None) -> None:
    """Add increments to soil moisture (4, n_ens, n_cells) and LAI (n_ens, n_cells), keeping the state physical.

    Soil moisture stays within [air-dry, porosity] of the soil class, or where the
    model itself has left that range (it may drain urban soil below its air-dry 0.40)
    it is not moved further out; the liquid part takes the increment (ice is kept).
    LAI of a vegetated class stays >= Noah-MP's minimum LAI (``LAI_MIN``, LAIMIN =
    0.05 m2 m-2 of CO2FLUX: below it the model's next step would create leaf carbon),
    or, where it already is below, is not moved further down; leaf carbon follows
    (LFMASS = LAI / SLA).  Non-vegetated classes keep their LAI.  A zero increment
    leaves its value exactly as it is, so an update of some cells never moves the
    others and the result does not depend on which cells share the call (a rank's).
    """
    p = model.p
    if d_sm is not None:
        old = state.smc
        sice = old - state.sh2o
        lo = np.minimum(np.maximum(p.smcdry, 0.0), old)
        hi = np.maximum(p.smcmax, old)
        smc = np.where(d_sm != 0.0, np.maximum(np.clip(old + d_sm, lo, hi), sice), old)
        state.smc = smc
        state.sh2o = smc - sice
    if d_lai is not None:
        changed = p.vegetated & (d_lai != 0.0)
        old = state.lai
        lai = np.where(changed, np.maximum(old + d_lai, np.minimum(LAI_MIN, old)), old)
        state.lai = lai
        state.lfmass = np.where(changed, lai / np.maximum(p.sla, 1e-9) * 1000.0, state.lfmass)


def ryu_correct(model, state, n_members: int) -> None:
    """Shift the members so that their mean soil moisture and LAI equal the control's (Ryu et al. 2009).

    The control is the last ensemble column. The increments (control - member mean) go through the
    rules of ``apply_increments`` (bounds, ice kept, leaf carbon following LAI), every column
    included (the control with a zero increment), in one compiled pass over the cells.
    """
    if n_members < 1:
        return
    p = model.p
    smc, sh2o, lai, lfmass = state.smc, state.sh2o, state.lai, state.lfmass
    _ryu_kernel(smc, sh2o, lai, lfmass, np.maximum(p.smcdry, 0.0), np.asarray(p.smcmax, dtype=np.float64),
                np.asarray(p.vegetated, dtype=np.bool_), np.maximum(p.sla, 1e-9), LAI_MIN, n_members)


@numba.njit(cache=True)
def _ryu_kernel(smc, sh2o, lai, lfmass, lo, hi, vegetated, sla, lai_min, n_members):
    """In place: smc, sh2o (4, n_ens, n_cells), lai, lfmass (n_ens, n_cells); per-cell bounds lo, hi,
    vegetated, sla (n_cells,); lai_min [m2 m-2] the LAI floor of vegetated cells. The same arithmetic
    as apply_increments with Ryu increments; the cells are the inner loop (contiguous), the member
    sums accumulate in member order."""
    n_ens, n_cells = lai.shape
    d = np.empty(n_cells)
    for k in range(smc.shape[0]):
        d[:] = 0.0
        for m in range(n_members):
            for c in range(n_cells):
                d[c] += smc[k, m, c]
        for c in range(n_cells):
            d[c] = smc[k, n_ens - 1, c] - d[c] / n_members
        for m in range(n_ens):
            for c in range(n_cells):
                inc = d[c] if m < n_members else 0.0
                if inc != 0.0:
                    old = smc[k, m, c]
                    sice = old - sh2o[k, m, c]
                    new = max(min(max(old + inc, min(lo[c], old)), max(hi[c], old)), sice)
                    smc[k, m, c] = new
                    sh2o[k, m, c] = new - sice
    d[:] = 0.0
    for m in range(n_members):
        for c in range(n_cells):
            d[c] += lai[m, c]
    for c in range(n_cells):
        d[c] = lai[n_ens - 1, c] - d[c] / n_members
    for m in range(n_ens):
        for c in range(n_cells):
            inc = d[c] if m < n_members else 0.0
            if vegetated[c] and inc != 0.0:
                value = max(lai[m, c] + inc, min(lai_min, lai[m, c]))
                lai[m, c] = value
                lfmass[m, c] = value / sla[c] * 1000.0
