"""Soil water: Clapp-Hornberger/Campbell hydraulics, Schaake infiltration, Richards' equation.

Noah-MP's scheme with runoff option 3 (Schaake et al. 1996, free drainage),
following noahmp-physics.md sections 2-3 (routines SRT, SSTEP, INFIL,
SOILWATER of module_sf_noahmplsm 4.0.1):

* hydraulic conductivity K = Ks (theta/theta_s)^(2b+3) and diffusivity
  D = Dsat (theta/theta_s)^(b+2), ratio floored at 0.01; frozen soil reduces
  both by (1 - F_imp) (Niu & Yang 2006);
* Richards' equation in Noah's diffusive theta form, linearised implicit
  (backward Euler in the D term, K and D frozen at the start of the sub-step),
  a tridiagonal system per column solved by the Thomas algorithm;
  fluxes between layers use D and K of the upper layer and the gradient over
  the mid-point distance; free drainage SLOPE * K(theta_4) at the bottom;
* transpiration taken from the layers by the root-uptake weights, soil
  evaporation from layer 1;
* liquid above the effective porosity is pushed upwards and leaves as
  saturation-excess runoff; a negative layer borrows from the layer below.

Scalar numba functions of one column: layer fields are arrays (4,), ``p`` is the
column's parameter record (fields smcmax, smcref, smcwlt, bexp, satdk, satdw,
root_fraction (4,), has_roots; ``ColumnParameters.table``).  Water is conserved
exactly: the change of column water equals the boundary fluxes.
"""

from __future__ import annotations

import math

import numpy as np

from .constants import DENH2O, DZ
from .jit import clip, fmax, fmin, jit

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
#: 1 / distance between the mid-points of adjacent layers [m-1].
_GRAD = 2.0 / (DZ[:-1] + DZ[1:])
#: Rows of the scratch array (WORK_ROWS, 4) that richards_step needs.
WORK_ROWS = 8


@jit
def frozen_impermeability(sice, smcmax):
    """Fraction of impermeable area F_imp [-] of a layer with ice sice [m3 m-3] (Niu & Yang 2006, A = 4)."""
    if sice <= 0.0:             # exp(-A (1 - 0)) - exp(-A) = 0 exactly: no ice, no impermeable area
        return 0.0
    fice = fmin(1.0, sice / smcmax)
    e = math.exp(-FROZEN_A)
    return fmax(0.0, math.exp(-FROZEN_A * (1.0 - fice)) - e) / (1.0 - e)


@jit
def hydraulics(smc, sice, p):
    """Conductivity K [m s-1] and diffusivity D [m2 s-1] of a layer (frozen-soil option 1).

    smc, sice: total and frozen volumetric water [m3 m-3]; p: parameters (smcmax, satdk, satdw, bexp).
    """
    ratio = fmax(smc / p.smcmax, 0.01)
    log_ratio = math.log(ratio)
    factor = 1.0 - frozen_impermeability(sice, p.smcmax)
    k = p.satdk * math.exp((2.0 * p.bexp + 3.0) * log_ratio) * factor
    d = p.satdw * math.exp((p.bexp + 2.0) * log_ratio) * factor
    return k, d


@jit
def btran(sh2o, p, weights):
    """Soil-moisture stress factor BTRAN [0-1] (Noah type, OPT_BTR = 1); root-uptake weights into ``weights`` (4,).

    g_k = clip((sh2o_k - wilt) / (ref - wilt), 0, 1); uniform roots per metre down
    to layer NROOT (noahmp-physics.md s.3.4).  Columns without roots get BTRAN 0.
    """
    total = 0.0
    for k in range(4):
        rf = p.root_fraction[k]
        g = clip((sh2o[k] - p.smcwlt) / fmax(p.smcref - p.smcwlt, 1e-6), 0.0, 1.0)
        part = fmax(1e-6, rf * g) * (1.0 if rf > 0 else 0.0)
        weights[k] = part
        total = total + part if k > 0 else part
    norm = fmax(total, 1e-12)
    for k in range(4):
        weights[k] = weights[k] / norm
    return fmax(total, 1e-6) if p.has_roots > 0 else 0.0


@jit
def infiltration(qinsur, smc, sice, k1, dt, p):
    """Schaake et al. (1996) infiltration capacity: (infiltration, surface runoff) [m s-1].

    ``qinsur`` is the water reaching the soil surface [m s-1]; smc, sice (4,) total
    and frozen water [m3 m-3]; ``k1`` the conductivity of layer 1 [m s-1]; dt [s].
    Frozen ground reduces the capacity by the Gamma-distribution factor of Noah-MP's INFIL.
    """
    px = qinsur * dt
    deficit = DZ[0] * fmax(p.smcmax - smc[0], 0.0)
    dice = DZ[0] * sice[0]
    for k in range(1, 4):
        deficit = deficit + DZ[k] * fmax(p.smcmax - smc[k], 0.0)
        dice = dice + DZ[k] * sice[k]
    kdt = REFKDT * p.satdk / REFDK
    ddt = deficit * (1.0 - math.exp(-kdt * dt / 86400.0))
    imax = px * ddt / fmax(px + ddt, 1e-30) / dt if px > 0 else 0.0
    fcr = 1.0
    if dice > 1e-2:
        frzx = FRZK * (p.smcmax / p.smcref) * (0.412 / 0.468)
        a = CVFRZ * frzx / fmax(dice, 1e-2)
        term, series = 1.0, 1.0
        for j in range(1, CVFRZ):
            term = term * a / j
            series = series + term
        fcr = 1.0 - math.exp(-a) * series
    imax = fmin(fmax(imax * fcr, k1), fmax(qinsur, 0.0))
    runoff = fmax(0.0, qinsur - imax)
    return qinsur - runoff, runoff


@jit
def thomas(w, x):
    """Solve the tridiagonal system held in ``w`` (rows lower, diag, upper, rhs; row 4 scratch) into ``x`` (n,).

    ``w`` is (>= 5, n): w[0] sub-diagonal (w[0, 0] unused), w[1] diagonal, w[2] super-diagonal
    (w[2, n-1] unused), w[3] right-hand side; w[4] is overwritten.  ``x`` may not alias ``w``.
    """
    n = x.shape[0]
    w[4, 0] = w[2, 0] / w[1, 0]
    x[0] = w[3, 0] / w[1, 0]
    for k in range(1, n):
        m = w[1, k] - w[0, k] * w[4, k - 1]
        w[4, k] = w[2, k] / m
        x[k] = (w[3, k] - w[0, k] * x[k - 1]) / m
    for k in range(n - 2, -1, -1):
        x[k] = x[k] - w[4, k] * x[k + 1]


@jit
def richards_step(sh2o, sice, top_flux, et_layers, dt, p, slope, work):
    """One implicit step of Richards' equation; updates the liquid water ``sh2o`` (4,) in place.

    Args:
        sh2o, sice: (4,) liquid and frozen volumetric water [m3 m-3].
        top_flux: net water entering layer 1 from above [m s-1]
            (infiltration minus soil evaporation; may be negative).
        et_layers: (4,) transpiration taken from each layer [m s-1].
        dt: step [s]; p: parameters (smcmax, satdk, satdw, bexp);
        slope: free-drainage factor (SLOPE of GENPARM);
        work: scratch (WORK_ROWS, 4), not aliasing the other arguments.
    Returns:
        (drainage [m s-1], saturation-excess runoff [m s-1]).
    """
    for i in range(4):
        work[6, i], work[7, i] = hydraulics(sh2o[i] + sice[i], sice[i], p)
    return richards_solve(sh2o, sice, top_flux, et_layers, dt, p, slope, work)


@jit
def richards_solve(sh2o, sice, top_flux, et_layers, dt, p, slope, work):
    """:func:`richards_step` with the layers' K [m s-1] and D [m2 s-1] already in work[6] and work[7]
    (:func:`hydraulics` of sh2o + sice, sice)."""
    # explicit fluxes across the interfaces (downward positive), D and K of the upper layer;
    # the tridiagonal system of the implicit diffusion (I + dt A) dtheta = rhs in work[0:4]
    q_in = top_flux
    drainage = 0.0
    work[0, 0] = 0.0
    for i in range(4):
        k, d = work[6, i], work[7, i]
        if i < 3:
            q_out = d * _GRAD[i] * (sh2o[i] - sh2o[i + 1]) + k
            coupling = dt * d * _GRAD[i]
            work[2, i] = -coupling / DZ[i]
            work[0, i + 1] = -coupling / DZ[i + 1]
        else:
            q_out = slope * k                              # free drainage
            drainage = q_out
            work[2, i] = 0.0
        work[3, i] = dt * (q_in - q_out - et_layers[i]) / DZ[i]
        work[1, i] = 1.0 - work[0, i] - work[2, i]
        q_in = q_out
    for i in range(4):
        work[5, i] = sh2o[i]
    thomas(work, sh2o)                                     # the change of sh2o ...
    for i in range(4):
        sh2o[i] = work[5, i] + sh2o[i]                     # ... added to the old
    excess = _spill_oversaturation(sh2o, sice, p)
    drainage = _fix_negative(sh2o, drainage, dt)
    return drainage, excess / dt


@jit
def _spill_oversaturation(sh2o, sice, p):
    """Move liquid above the effective porosity upwards (in place); returns what leaves layer 1 [m per step]."""
    carry = 0.0
    for k in range(3, -1, -1):
        sh2o[k] = sh2o[k] + carry / DZ[k]
        limit = fmax(1e-4, p.smcmax - sice[k])
        over = fmax(sh2o[k] - limit, 0.0)
        sh2o[k] = sh2o[k] - over
        carry = over * DZ[k]
    return carry


@jit
def _fix_negative(sh2o, drainage, dt):
    """A layer below _TINY borrows from the layer below (in place); the bottom layer from drainage [m s-1]."""
    for k in range(3):
        need = fmax(_TINY - sh2o[k], 0.0)
        sh2o[k] = sh2o[k] + need
        sh2o[k + 1] = sh2o[k + 1] - need * DZ[k] / DZ[k + 1]
    need = fmax(_TINY - sh2o[3], 0.0)
    sh2o[3] = sh2o[3] + need
    return drainage - need * DZ[3] / dt


def column_water(smc: np.ndarray) -> np.ndarray:
    """Water in the soil column [kg m-2] from (4, ...) volumetric water."""
    return np.tensordot(DZ, smc, axes=(0, 0)) * DENH2O
