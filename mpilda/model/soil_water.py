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

Scalar numba functions of one column: the four layers' values are 4-tuples (top
layer first); ``p`` is the column's parameter record (fields smcmax, smcref,
smcwlt, bexp, satdk, satdw, root1..root4 (the root fraction of each layer),
has_roots; ``ColumnParameters.table``).  Water is conserved exactly: the change of
column water equals the boundary fluxes.
"""

from __future__ import annotations

import numpy as np

from .constants import DENH2O, DZ
from .jit import clip, fexp, flog, fmax, fmin, jit

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
_DZ0, _DZ1, _DZ2, _DZ3 = (float(v) for v in DZ)
#: 1 / distance between the mid-points of adjacent layers [m-1].
_G01, _G12, _G23 = 2.0 / (_DZ0 + _DZ1), 2.0 / (_DZ1 + _DZ2), 2.0 / (_DZ2 + _DZ3)
_E_A = float(np.exp(-FROZEN_A))


@jit
def frozen_impermeability(sice, smcmax):
    """Fraction of impermeable area F_imp [-] of a layer with ice sice [m3 m-3] (Niu & Yang 2006, A = 4)."""
    fice = fmin(1.0, sice / smcmax)
    f_imp = fmax(0.0, fexp(-FROZEN_A * (1.0 - fice)) - _E_A) / (1.0 - _E_A)
    return f_imp if sice > 0.0 else 0.0     # no ice: exp(-A) - exp(-A) = 0


@jit
def hydraulics(smc, sice, p):
    """Conductivity K [m s-1] and diffusivity D [m2 s-1] of a layer (frozen-soil option 1).

    smc, sice: total and frozen volumetric water [m3 m-3]; p: parameters (smcmax, satdk, satdw, bexp).
    """
    ratio = fmax(smc / p.smcmax, 0.01)
    log_ratio = flog(ratio)
    factor = 1.0 - frozen_impermeability(sice, p.smcmax)
    powered = fexp((p.bexp + 2.0) * log_ratio)                # ratio^(b+2); ratio^(2b+3) = ratio^(2b+4) / ratio
    k = p.satdk * (powered * powered / ratio) * factor
    d = p.satdw * powered * factor
    return k, d


@jit
def hydraulics_layers(sh2o, sice, p):
    """(K, D) 4-tuples [m s-1], [m2 s-1] of the four layers from liquid and frozen water (4-tuples) [m3 m-3]."""
    k0, d0 = hydraulics(sh2o[0] + sice[0], sice[0], p)
    k1, d1 = hydraulics(sh2o[1] + sice[1], sice[1], p)
    k2, d2 = hydraulics(sh2o[2] + sice[2], sice[2], p)
    k3, d3 = hydraulics(sh2o[3] + sice[3], sice[3], p)
    return (k0, k1, k2, k3), (d0, d1, d2, d3)


@jit
def _stress(sh2o, root, p):
    """A layer's part of BTRAN: max(1e-6, root g), g = clip((sh2o - wilt)/(ref - wilt), 0, 1); 0 without roots."""
    g = clip((sh2o - p.smcwlt) / fmax(p.smcref - p.smcwlt, 1e-6), 0.0, 1.0)
    return fmax(1e-6, root * g) * (1.0 if root > 0 else 0.0)


@jit
def btran(sh2o, p):
    """Soil-moisture stress factor BTRAN [0-1] (Noah type, OPT_BTR = 1) and the root-uptake weights (4-tuple).

    sh2o: liquid water of the layers (4-tuple) [m3 m-3].  Uniform roots per metre down to
    layer NROOT (noahmp-physics.md s.3.4).  Columns without roots get BTRAN 0.
    """
    w0, w1 = _stress(sh2o[0], p.root1, p), _stress(sh2o[1], p.root2, p)
    w2, w3 = _stress(sh2o[2], p.root3, p), _stress(sh2o[3], p.root4, p)
    total = w0 + w1 + w2 + w3
    norm = fmax(total, 1e-12)
    bt = fmax(total, 1e-6) if p.has_roots > 0 else 0.0
    return bt, (w0 / norm, w1 / norm, w2 / norm, w3 / norm)


@jit
def infiltration(qinsur, smc, sice, k1, dt, p):
    """Schaake et al. (1996) infiltration capacity: (infiltration, surface runoff) [m s-1].

    ``qinsur`` is the water reaching the soil surface [m s-1]; smc, sice (4-tuples) total
    and frozen water [m3 m-3]; ``k1`` the conductivity of layer 1 [m s-1]; dt [s].
    Frozen ground reduces the capacity by the Gamma-distribution factor of Noah-MP's INFIL.
    """
    px = qinsur * dt
    deficit = (_DZ0 * fmax(p.smcmax - smc[0], 0.0) + _DZ1 * fmax(p.smcmax - smc[1], 0.0)
               + _DZ2 * fmax(p.smcmax - smc[2], 0.0) + _DZ3 * fmax(p.smcmax - smc[3], 0.0))
    kdt = REFKDT * p.satdk / REFDK
    ddt = deficit * (1.0 - fexp(-kdt * dt / 86400.0))
    imax = px * ddt / fmax(px + ddt, 1e-30) / dt if px > 0 else 0.0
    dice = _DZ0 * sice[0] + _DZ1 * sice[1] + _DZ2 * sice[2] + _DZ3 * sice[3]
    frzx = FRZK * (p.smcmax / p.smcref) * (0.412 / 0.468)
    a = CVFRZ * frzx / fmax(dice, 1e-2)
    term, series = 1.0, 1.0
    for j in range(1, CVFRZ):
        term = term * a / j
        series = series + term
    fcr = 1.0 - fexp(-a) * series if dice > 1e-2 else 1.0
    imax = fmin(fmax(imax * fcr, k1), fmax(qinsur, 0.0))
    runoff = fmax(0.0, qinsur - imax)
    return qinsur - runoff, runoff


@jit
def thomas4(lower, diag, upper, rhs):
    """Solve a tridiagonal system of four unknowns (4-tuples; lower[0] and upper[3] unused): x as a 4-tuple."""
    c0 = upper[0] / diag[0]
    x0 = rhs[0] / diag[0]
    m = diag[1] - lower[1] * c0
    c1 = upper[1] / m
    x1 = (rhs[1] - lower[1] * x0) / m
    m = diag[2] - lower[2] * c1
    c2 = upper[2] / m
    x2 = (rhs[2] - lower[2] * x1) / m
    m = diag[3] - lower[3] * c2
    x3 = (rhs[3] - lower[3] * x2) / m
    x2 = x2 - c2 * x3
    x1 = x1 - c1 * x2
    x0 = x0 - c0 * x1
    return x0, x1, x2, x3


@jit
def richards_solve(sh2o, sice, k, d, top_flux, et_layers, dt, p, slope):
    """One implicit step of Richards' equation with the layers' K [m s-1] and D [m2 s-1] given (4-tuples).

    Args:
        sh2o, sice: liquid and frozen volumetric water of the layers (4-tuples) [m3 m-3].
        k, d: :func:`hydraulics_layers` of (sh2o, sice).
        top_flux: net water entering layer 1 from above [m s-1]
            (infiltration minus soil evaporation; may be negative).
        et_layers: transpiration taken from each layer (4-tuple) [m s-1].
        dt: step [s]; p: parameters (smcmax); slope: free-drainage factor (SLOPE of GENPARM).
    Returns:
        (new sh2o (4-tuple), drainage [m s-1], saturation-excess runoff [m s-1]).
    """
    # explicit fluxes across the interfaces (downward positive), D and K of the upper layer
    q01 = d[0] * _G01 * (sh2o[0] - sh2o[1]) + k[0]
    q12 = d[1] * _G12 * (sh2o[1] - sh2o[2]) + k[1]
    q23 = d[2] * _G23 * (sh2o[2] - sh2o[3]) + k[2]
    drainage = slope * k[3]                                 # free drainage
    rhs = (dt * (top_flux - q01 - et_layers[0]) / _DZ0, dt * (q01 - q12 - et_layers[1]) / _DZ1,
           dt * (q12 - q23 - et_layers[2]) / _DZ2, dt * (q23 - drainage - et_layers[3]) / _DZ3)
    # implicit diffusion: (I + dt A) dtheta = rhs
    c01, c12, c23 = dt * d[0] * _G01, dt * d[1] * _G12, dt * d[2] * _G23
    upper = (-c01 / _DZ0, -c12 / _DZ1, -c23 / _DZ2, 0.0)
    lower = (0.0, -c01 / _DZ1, -c12 / _DZ2, -c23 / _DZ3)
    diag = (1.0 - lower[0] - upper[0], 1.0 - lower[1] - upper[1], 1.0 - lower[2] - upper[2],
            1.0 - lower[3] - upper[3])
    dx = thomas4(lower, diag, upper, rhs)
    new = (sh2o[0] + dx[0], sh2o[1] + dx[1], sh2o[2] + dx[2], sh2o[3] + dx[3])
    new, excess = _spill_oversaturation(new, sice, p)
    new, drainage = _fix_negative(new, drainage, dt)
    return new, drainage, excess / dt


@jit
def richards_step(sh2o, sice, top_flux, et_layers, dt, p, slope):
    """:func:`richards_solve` with K and D of the current water: (new sh2o, drainage, runoff)."""
    k, d = hydraulics_layers(sh2o, sice, p)
    return richards_solve(sh2o, sice, k, d, top_flux, et_layers, dt, p, slope)


@jit
def _spill(theta, carry, sice, dz, p):
    """One layer of :func:`_spill_oversaturation`: (new theta, water carried up [m])."""
    theta = theta + carry / dz
    over = fmax(theta - fmax(1e-4, p.smcmax - sice), 0.0)
    return theta - over, over * dz


@jit
def _spill_oversaturation(sh2o, sice, p):
    """Move liquid above the effective porosity upwards; returns (new sh2o, what leaves layer 1 [m per step])."""
    s3, carry = _spill(sh2o[3], 0.0, sice[3], _DZ3, p)
    s2, carry = _spill(sh2o[2], carry, sice[2], _DZ2, p)
    s1, carry = _spill(sh2o[1], carry, sice[1], _DZ1, p)
    s0, carry = _spill(sh2o[0], carry, sice[0], _DZ0, p)
    return (s0, s1, s2, s3), carry


@jit
def _fix_negative(sh2o, drainage, dt):
    """A layer below _TINY borrows from the layer below; the bottom layer from drainage [m s-1]."""
    s0, s1, s2, s3 = sh2o
    need = fmax(_TINY - s0, 0.0)
    s0 = s0 + need
    s1 = s1 - need * _DZ0 / _DZ1
    need = fmax(_TINY - s1, 0.0)
    s1 = s1 + need
    s2 = s2 - need * _DZ1 / _DZ2
    need = fmax(_TINY - s2, 0.0)
    s2 = s2 + need
    s3 = s3 - need * _DZ2 / _DZ3
    need = fmax(_TINY - s3, 0.0)
    s3 = s3 + need
    return (s0, s1, s2, s3), drainage - need * _DZ3 / dt


def column_water(smc: np.ndarray) -> np.ndarray:
    """Water in the soil column [kg m-2] from (4, ...) volumetric water."""
    return np.tensordot(DZ, smc, axes=(0, 0)) * DENH2O
