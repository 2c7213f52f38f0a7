"""Soil water: Clapp-Hornberger/Campbell hydraulics, Schaake infiltration, Richards' equation.

Noah-MP's scheme with runoff option 3 (Schaake et al. 1996, free drainage),
following noahmp-physics.md sections 2-3 (routines SRT, SSTEP, INFIL,
SOILWATER of module_sf_noahmplsm 4.0.1):

* hydraulic conductivity K = Ks (theta/theta_s)^(2b+3) and diffusivity
  D = Dsat (theta/theta_s)^(b+2), ratio floored at 0.01; frozen soil reduces
  both by (1 - F_imp) (Niu & Yang 2006);
* Richards' equation in Noah's diffusive theta form, linearised implicit
  (backward Euler in the D term, K and D frozen at the start of the sub-step),
  a tridiagonal system per column solved by a vectorised Thomas algorithm;
  fluxes between layers use D and K of the upper layer and the gradient over
  the mid-point distance; free drainage SLOPE * K(theta_4) at the bottom;
* transpiration taken from the layers by the root-uptake weights, soil
  evaporation from layer 1;
* liquid above the effective porosity is pushed upwards and leaves as
  saturation-excess runoff; a negative layer borrows from the layer below.

Arrays: layer fields (4, ...) over columns, column fields (...); parameters
(theta_s, b, ... per column) broadcast against the column shape.  Water is
conserved exactly: the change of column water equals the boundary fluxes.
"""

from __future__ import annotations

import numpy as np

from .constants import DENH2O, DZ

#: Schaake infiltration constants (GENPARM.TBL REFDK_DATA, REFKDT_DATA; noahmp-physics.md s.2).
REFDK = 2.0e-6
REFKDT = 3.0
#: Frozen-soil impermeability shape parameter A (Niu & Yang 2006; noahmp-physics.md s.2).
FROZEN_A = 4.0
#: Number of Gamma-distribution terms of the frozen-ground infiltration reduction (CVFRZ, GENPARM).
CVFRZ = 3
#: FRZK_DATA of GENPARM.TBL (frozen-ground parameter) and its reference porosity ratio (noahmp-physics.md s.2).
FRZK = 0.15
#: Minimum liquid water left in a layer by the negative-water fix [m3 m-3] (Noah-MP keeps 0.01 mm per layer).
_TINY = 1.0e-5


def _col(a, ndim):
    """Reshape a per-layer constant (4,) to broadcast against (4, ...) of ``ndim`` dims."""
    return np.asarray(a).reshape((-1,) + (1,) * (ndim - 1))


def frozen_impermeability(sice: np.ndarray, smcmax) -> np.ndarray:
    """Fraction of impermeable area F_imp per layer (Niu & Yang 2006, A = 4)."""
    fice = np.minimum(1.0, sice / smcmax)
    e = np.exp(-FROZEN_A)
    return np.maximum(0.0, np.exp(-FROZEN_A * (1.0 - fice)) - e) / (1.0 - e)


def hydraulics(smc: np.ndarray, sice: np.ndarray, p) -> tuple[np.ndarray, np.ndarray]:
    """Conductivity K [m s-1] and diffusivity D [m2 s-1] per layer (4, ...), frozen-soil option 1."""
    ratio = np.maximum(smc / p.smcmax, 0.01)
    log_ratio = np.log(ratio)
    factor = 1.0 - frozen_impermeability(sice, p.smcmax)
    k = p.satdk * np.exp((2.0 * p.bexp + 3.0) * log_ratio) * factor
    d = p.satdw * np.exp((p.bexp + 2.0) * log_ratio) * factor
    return k, d


def btran(sh2o: np.ndarray, p) -> tuple[np.ndarray, np.ndarray]:
    """Soil-moisture stress factor BTRAN (...) and root-uptake weights (4, ...) (Noah type, OPT_BTR = 1).

    g_k = clip((sh2o_k - wilt) / (ref - wilt), 0, 1); uniform roots per metre down
    to layer NROOT (noahmp-physics.md s.3.4).  Columns without roots get BTRAN 0.
    """
    g = np.clip((sh2o - p.smcwlt) / np.maximum(p.smcref - p.smcwlt, 1e-6), 0.0, 1.0)
    part = np.maximum(1e-6, p.root_fraction * g) * (p.root_fraction > 0)
    total = part.sum(axis=0)
    weights = part / np.maximum(total, 1e-12)
    return np.where(p.has_roots, np.maximum(total, 1e-6), 0.0), weights


def infiltration(qinsur: np.ndarray, smc: np.ndarray, sice: np.ndarray, k1: np.ndarray, dt: float, p):
    """Schaake et al. (1996) infiltration capacity: (infiltration, surface runoff) [m s-1].

    ``qinsur`` is the water reaching the soil surface [m s-1]; ``k1`` the
    conductivity of layer 1.  Frozen ground reduces the capacity by the
    Gamma-distribution factor of Noah-MP's INFIL.
    """
    px = qinsur * dt
    deficit = (_col(DZ, smc.ndim) * np.maximum(p.smcmax - smc, 0.0)).sum(axis=0)
    kdt = REFKDT * p.satdk / REFDK
    ddt = deficit * (1.0 - np.exp(-kdt * dt / 86400.0))
    imax = np.where(px > 0, px * ddt / np.maximum(px + ddt, 1e-30) / dt, 0.0)
    dice = (_col(DZ, smc.ndim) * sice).sum(axis=0)
    frzx = FRZK * (p.smcmax / p.smcref) * (0.412 / 0.468)
    frozen = dice > 1e-2
    a = CVFRZ * frzx / np.maximum(dice, 1e-2)
    term, series = np.ones_like(a), np.ones_like(a)
    for j in range(1, CVFRZ):
        term = term * a / j
        series = series + term
    fcr = np.where(frozen, 1.0 - np.exp(-a) * series, 1.0)
    imax = np.minimum(np.maximum(imax * fcr, k1), np.maximum(qinsur, 0.0))
    runoff = np.maximum(0.0, qinsur - imax)
    return qinsur - runoff, runoff


def thomas(lower: np.ndarray, diag: np.ndarray, upper: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve tridiagonal systems along axis 0 (n, ...) for all columns at once."""
    n = diag.shape[0]
    c = np.empty_like(diag)
    d = np.empty_like(rhs)
    c[0] = upper[0] / diag[0]
    d[0] = rhs[0] / diag[0]
    for k in range(1, n):
        m = diag[k] - lower[k] * c[k - 1]
        c[k] = upper[k] / m
        d[k] = (rhs[k] - lower[k] * d[k - 1]) / m
    x = np.empty_like(rhs)
    x[-1] = d[-1]
    for k in range(n - 2, -1, -1):
        x[k] = d[k] - c[k] * x[k + 1]
    return x


def richards_step(sh2o, sice, top_flux, et_layers, dt, p, slope):
    """One implicit step of Richards' equation; updates liquid water, returns fluxes.

    Args:
        sh2o, sice: (4, ...) liquid and frozen volumetric water [m3 m-3].
        top_flux: (...) net water entering layer 1 from above [m s-1]
            (infiltration minus soil evaporation; may be negative).
        et_layers: (4, ...) transpiration taken from each layer [m s-1].
        slope: (...) free-drainage factor (SLOPE of GENPARM).
    Returns:
        new sh2o (4, ...), drainage [m s-1] (...), saturation-excess runoff [m s-1] (...).
    """
    nd = sh2o.ndim
    dz = _col(DZ, nd)
    smc = sh2o + sice
    k, d = hydraulics(smc, sice, p)
    grad = 2.0 / _col(DZ[:-1] + DZ[1:], nd)        # 1 / mid-point distance
    # explicit fluxes across the interfaces (downward positive), D and K of the upper layer
    q_int = d[:-1] * grad * (sh2o[:-1] - sh2o[1:]) + k[:-1]
    drainage = slope * k[-1]
    q_in = np.concatenate([top_flux[None], q_int], axis=0)
    q_out = np.concatenate([q_int, drainage[None]], axis=0)
    rhs = dt * (q_in - q_out - et_layers) / dz
    # implicit diffusion: (I + dt A) dtheta = rhs
    coupling = dt * d[:-1] * grad                  # (3, ...)
    lower = np.zeros_like(sh2o)
    upper = np.zeros_like(sh2o)
    lower[1:] = -coupling / dz[1:]
    upper[:-1] = -coupling / dz[:-1]
    diag = 1.0 - lower - upper
    new = sh2o + thomas(lower, diag, upper, rhs)
    new, excess = _spill_oversaturation(new, sice, p)
    new, drainage = _fix_negative(new, drainage, dt)
    return new, drainage, excess / dt


def _spill_oversaturation(sh2o, sice, p):
    """Move liquid above the effective porosity upwards; what leaves layer 1 is runoff [m per step]."""
    new = sh2o.copy()
    carry = np.zeros(sh2o.shape[1:])
    for k in range(3, -1, -1):
        new[k] = new[k] + carry / DZ[k]
        limit = np.maximum(1e-4, p.smcmax - sice[k])
        over = np.maximum(new[k] - limit, 0.0)
        new[k] = new[k] - over
        carry = over * DZ[k]
    return new, carry


def _fix_negative(sh2o, drainage, dt):
    """A layer below _TINY borrows from the layer below; the bottom layer from drainage."""
    new = sh2o.copy()
    for k in range(3):
        need = np.maximum(_TINY - new[k], 0.0)
        new[k] = new[k] + need
        new[k + 1] = new[k + 1] - need * DZ[k] / DZ[k + 1]
    need = np.maximum(_TINY - new[3], 0.0)
    new[3] = new[3] + need
    return new, drainage - need * DZ[3] / dt


def column_water(smc: np.ndarray) -> np.ndarray:
    """Water in the soil column [kg m-2] from (4, ...) volumetric water."""
    return np.tensordot(DZ, smc, axes=(0, 0)) * DENH2O
