"""Soil temperature: thermal properties, implicit heat diffusion, freezing and thawing.

Noah-MP's TSNOSOI/HRT/HSTEP/THERMOPROP/TDFCND/PHASECHANGE as summarised in
noahmp-physics.md section 4.6, for the four soil layers:

* heat capacity C = theta_liq C_wat + (1 - theta_s) C_soil + (theta_s - theta) c_air + theta_ice C_ice;
* conductivity after Johansen (Peters-Lidard et al. 1998) from quartz content
  and saturation (Kersten number);
* implicit (backward Euler) diffusion with the ground heat flux G as the upper
  boundary and a fixed deep temperature TBOT at ZBOT = -8 m as the lower one;
* phase change: a layer above freezing with ice melts it, one below freezing
  with liquid above the supercooled limit (Niu & Yang 2006) freezes it, using
  the energy of the departure from the freezing point.

Energy is conserved: the change of heat content plus latent heat of phase
change equals G minus the flux to the deep boundary.

Scalar numba functions of one column (the four layers' values are 4-tuples, top
layer first); ``p`` is the column's parameter record (smcmax, bexp, psisat and the
per-cell thermal constants tksat_unfrozen, tks_solid, tkdry of :func:`thermal_constants`).
"""

from __future__ import annotations

import math

import numpy as np

from .constants import CICE, CPAIR, CSOIL, CWAT, DENH2O, DZ, GRAV, HFUS, TFRZ, ZBOT, ZMID
from .jit import clip, fexp, flog10, fmax, fmin, fpow, jit
from .soil_water import thomas4

#: Thermal conductivity of snow used to insulate the soil [W m-1 K-1] (noahmp-physics.md s.4.6 / s.8).
TK_SNOW = 0.35
_DZ0, _DZ1, _DZ2, _DZ3 = (float(v) for v in DZ)
#: Distance between the mid-points of adjacent layers [m], and from the bottom mid-point to ZBOT.
_GAP01, _GAP12, _GAP23 = (float(v) for v in ZMID[:-1] - ZMID[1:])
_GAP_BOT = float(ZMID[-1] - ZBOT)
_LN_TK_ICE, _LN_TK_WATER = math.log(2.2), math.log(0.57)      # conductivities of ice and water [W m-1 K-1]


def thermal_constants(smcmax, quartz) -> dict[str, np.ndarray]:
    """Per-cell parts of Johansen's conductivity that depend on the soil class only [W m-1 K-1].

    tks (solids: quartz 7.7, others 2.0), tks_solid = tks^(1 - theta_s), the saturated
    conductivity of an unfrozen soil tksat_unfrozen = tks_solid 2.2^0 0.57^theta_s
    (ice 2.2, water 0.57) and the dry conductivity tkdry.
    """
    smcmax = np.asarray(smcmax, dtype=np.float64)
    tks = 7.7 ** quartz * 2.0 ** (1.0 - quartz)
    gammd = (1.0 - smcmax) * 2700.0
    return dict(tks_solid=tks ** (1.0 - smcmax),
                tksat_unfrozen=tks ** (1.0 - smcmax) * 2.2 ** (smcmax - smcmax) * 0.57 ** smcmax,
                tkdry=(0.135 * gammd + 64.7) / (2700.0 - 0.947 * gammd))


@jit
def heat_capacity(smc, sh2o, p):
    """Volumetric heat capacity of a layer [J m-3 K-1] from total and liquid water [m3 m-3]."""
    sice = smc - sh2o
    return sh2o * CWAT + (1.0 - p.smcmax) * CSOIL + (p.smcmax - smc) * CPAIR + sice * CICE


@jit
def conductivity(smc, sh2o, p):
    """Thermal conductivity of a layer [W m-1 K-1], Johansen's method, from total and liquid water [m3 m-3]."""
    satratio = clip(smc / p.smcmax, 1e-6, 1.0)
    xunfroz = sh2o / fmax(smc, 1e-12) if smc > 0 else 1.0
    xu = xunfroz * p.smcmax
    tksat_frozen = p.tks_solid * fexp((p.smcmax - xu) * _LN_TK_ICE + xu * _LN_TK_WATER)   # tks_solid 2.2^. 0.57^xu
    tksat = p.tksat_unfrozen if sh2o == smc else tksat_frozen      # unfrozen: xu = theta_s, the class's constant
    ake_unfrozen = flog10(satratio) + 1.0 if satratio > 0.1 else 0.0
    ake = satratio if sh2o + 0.0005 < smc else ake_unfrozen        # Kersten number, frozen or not
    return ake * (tksat - p.tkdry) + p.tkdry


@jit
def ground_conductance(tk1, snowh):
    """Conductance between the ground surface and the middle of layer 1 [W m-2 K-1], through snow of depth snowh [m]."""
    return 1.0 / (0.5 * _DZ0 / tk1 + snowh / TK_SNOW)


@jit
def _interface(tk_up, tk_down, dz_up, dz_down, gap):
    """Conductance between the mid-points of two layers [W m-2 K-1]: thickness-weighted harmonic mean / distance."""
    return (dz_up + dz_down) / (dz_up / tk_up + dz_down / tk_down) / gap


@jit
def diffuse(stc, g_flux, cap, tk, tbot, dt):
    """Implicit soil heat diffusion of one column: (new temperatures (4-tuple) [K], flux to the deep soil [W m-2]).

    stc [K], cap [J m-3 K-1], tk [W m-1 K-1]: 4-tuples per layer; ``g_flux`` is the heat
    entering layer 1 from the surface [W m-2]; the lower boundary is the temperature
    ``tbot`` [K] at ZBOT.  Interface conductivities are harmonic means of the layers'
    (thickness-weighted).
    """
    k01 = _interface(tk[0], tk[1], _DZ0, _DZ1, _GAP01)
    k12 = _interface(tk[1], tk[2], _DZ1, _DZ2, _GAP12)
    k23 = _interface(tk[2], tk[3], _DZ2, _DZ3, _GAP23)
    k_bot = tk[3] / _GAP_BOT
    h0, h1, h2, h3 = cap[0] * _DZ0 / dt, cap[1] * _DZ1 / dt, cap[2] * _DZ2 / dt, cap[3] * _DZ3 / dt   # W m-2 K-1
    lower = (0.0, -k01, -k12, -k23)
    upper = (-k01, -k12, -k23, 0.0)
    diag = (h0 - lower[0] - upper[0], h1 - lower[1] - upper[1], h2 - lower[2] - upper[2],
            h3 - lower[3] - upper[3] + k_bot)
    rhs = (h0 * stc[0] + g_flux, h1 * stc[1], h2 * stc[2], h3 * stc[3] + k_bot * tbot)
    new = thomas4(lower, diag, upper, rhs)
    return new, k_bot * (new[3] - tbot)


@jit
def supercooled_liquid(stc, p):
    """Maximum liquid water below freezing [m3 m-3] of a layer at stc [K] (Niu & Yang 2006); theta_s above freezing."""
    t = stc if stc < TFRZ else TFRZ - 1.0
    ratio = HFUS * (TFRZ - t) / (GRAV * t * p.psisat)
    limit = fmin(p.smcmax * fpow(ratio, -1.0 / p.bexp), p.smcmax)
    return limit if stc < TFRZ else p.smcmax


@jit
def _phase_change_layer(stc, smc, sh2o, cap, dz, p):
    """:func:`phase_change` of one layer of thickness dz [m]: (new stc [K], new sh2o [m3 m-3])."""
    sice = smc - sh2o
    excess = (stc - TFRZ) * cap * dz                       # J m-2 above freezing (+) or below (-)
    melt = fmin(excess / HFUS, sice * dz * DENH2O)         # kg m-2 of ice that can melt
    freeze = fmin(-excess / HFUS, fmax(sh2o - supercooled_liquid(stc, p), 0.0) * dz * DENH2O)
    mass = melt if excess > 0 else (-freeze if excess < 0 else 0.0)     # kg m-2 turned liquid
    return stc - mass * HFUS / (cap * dz), sh2o + mass / (dz * DENH2O)


@jit
def phase_change(stc, smc, sh2o, cap, p):
    """Melt or freeze soil water with the energy of each layer's departure from freezing.

    stc [K], smc, sh2o [m3 m-3], cap [J m-3 K-1]: 4-tuples per layer.  The liquid water
    that may stay unfrozen is the supercooled limit.  Returns the new (stc, sh2o)
    4-tuples; the total water smc is unchanged and heat content plus latent heat is conserved.
    """
    t0, w0 = _phase_change_layer(stc[0], smc[0], sh2o[0], cap[0], _DZ0, p)
    t1, w1 = _phase_change_layer(stc[1], smc[1], sh2o[1], cap[1], _DZ1, p)
    t2, w2 = _phase_change_layer(stc[2], smc[2], sh2o[2], cap[2], _DZ2, p)
    t3, w3 = _phase_change_layer(stc[3], smc[3], sh2o[3], cap[3], _DZ3, p)
    return (t0, t1, t2, t3), (w0, w1, w2, w3)
