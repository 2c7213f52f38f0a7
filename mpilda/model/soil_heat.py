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

Scalar numba functions of one column (layer fields (4,)); ``p`` is the column's
parameter record (smcmax, bexp, psisat and the per-cell thermal constants
tksat_unfrozen, tks_solid, tkdry of :func:`thermal_constants`).
"""

from __future__ import annotations

import math

import numpy as np

from .constants import CICE, CPAIR, CSOIL, CWAT, DENH2O, DZ, GRAV, HFUS, TFRZ, ZBOT, ZMID
from .jit import clip, fmax, fmin, jit
from .soil_water import thomas

#: Thermal conductivity of snow used to insulate the soil [W m-1 K-1] (noahmp-physics.md s.4.6 / s.8).
TK_SNOW = 0.35
#: Distance between the mid-points of adjacent layers [m].
_GAP = ZMID[:-1] - ZMID[1:]
#: Rows of the scratch array (WORK_ROWS, 4) that diffuse needs.
WORK_ROWS = 5


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
    if sh2o == smc:                 # unfrozen: xu = theta_s, the class's constant
        tksat = p.tksat_unfrozen
    else:
        xunfroz = sh2o / fmax(smc, 1e-12) if smc > 0 else 1.0
        xu = xunfroz * p.smcmax
        tksat = p.tks_solid * 2.2 ** (p.smcmax - xu) * 0.57 ** xu
    if sh2o + 0.0005 < smc:         # frozen
        ake = satratio
    else:
        ake = math.log10(satratio) + 1.0 if satratio > 0.1 else 0.0
    return ake * (tksat - p.tkdry) + p.tkdry


@jit
def ground_conductance(tk1, snowh):
    """Conductance between the ground surface and the middle of layer 1 [W m-2 K-1], through snow of depth snowh [m]."""
    return 1.0 / (0.5 * DZ[0] / tk1 + snowh / TK_SNOW)


@jit
def diffuse(stc, g_flux, cap, tk, tbot, dt, work):
    """Implicit soil heat diffusion of one column: new temperatures into ``stc`` (4,) [K]; the deep flux [W m-2].

    ``g_flux`` is the heat entering layer 1 from the surface [W m-2]; the lower
    boundary is the temperature ``tbot`` [K] at ZBOT.  ``cap`` [J m-3 K-1] and ``tk``
    [W m-1 K-1] (4,) per layer; interface conductivities are harmonic means of the
    layers' (thickness-weighted).  ``work`` is scratch (WORK_ROWS, 4).
    """
    k_bot = tk[3] / (ZMID[3] - ZBOT)
    work[0, 0] = 0.0
    work[2, 3] = 0.0
    for k in range(3):
        k_int = (DZ[k] + DZ[k + 1]) / (DZ[k] / tk[k] + DZ[k + 1] / tk[k + 1]) / _GAP[k]   # W m-2 K-1
        work[0, k + 1] = -k_int
        work[2, k] = -k_int
    for k in range(4):
        heat = cap[k] * DZ[k] / dt                   # W m-2 K-1
        work[1, k] = heat - work[0, k] - work[2, k]
        work[3, k] = heat * stc[k]
    work[1, 3] = work[1, 3] + k_bot
    work[3, 0] = work[3, 0] + g_flux
    work[3, 3] = work[3, 3] + k_bot * tbot
    thomas(work, stc)
    return k_bot * (stc[3] - tbot)


@jit
def supercooled_liquid(stc, p):
    """Maximum liquid water below freezing [m3 m-3] of a layer at stc [K] (Niu & Yang 2006); theta_s above freezing."""
    if not stc < TFRZ:
        return p.smcmax
    ratio = HFUS * (TFRZ - stc) / (GRAV * stc * p.psisat)
    limit = p.smcmax * ratio ** (-1.0 / p.bexp)
    return fmin(limit, p.smcmax)


@jit
def phase_change(stc, smc, sh2o, cap, p):
    """Melt or freeze soil water with the energy of each layer's departure from freezing (in place).

    stc [K], smc, sh2o [m3 m-3], cap [J m-3 K-1]: (4,) per layer.  The liquid water
    that may stay unfrozen is the supercooled limit.  Updates stc and sh2o; the
    total water smc is unchanged and heat content plus latent heat is conserved.
    """
    for k in range(4):
        sice = smc[k] - sh2o[k]
        excess = (stc[k] - TFRZ) * cap[k] * DZ[k]          # J m-2 above freezing (+) or below (-)
        mass = 0.0                                          # kg m-2 turned liquid
        if excess > 0:
            melt_max = sice * DZ[k] * DENH2O                # kg m-2 of ice that can melt
            mass = fmin(excess / HFUS, melt_max)
        elif excess < 0:
            liquid_max = supercooled_liquid(stc[k], p)
            freeze_max = fmax(sh2o[k] - liquid_max, 0.0) * DZ[k] * DENH2O
            mass = -fmin(-excess / HFUS, freeze_max)
        sh2o[k] = sh2o[k] + mass / (DZ[k] * DENH2O)
        stc[k] = stc[k] - mass * HFUS / (cap[k] * DZ[k])
