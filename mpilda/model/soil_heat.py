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
"""

from __future__ import annotations

import numpy as np

from .constants import CICE, CPAIR, CSOIL, CWAT, DENH2O, DZ, GRAV, HFUS, TFRZ, ZBOT, ZMID
from .soil_water import thomas

#: Thermal conductivity of snow used to insulate the soil [W m-1 K-1] (noahmp-physics.md s.4.6 / s.8).
TK_SNOW = 0.35


def _col(a, ndim):
    return np.asarray(a).reshape((-1,) + (1,) * (ndim - 1))


def heat_capacity(smc, sh2o, p):
    """Volumetric heat capacity per layer [J m-3 K-1] (4, ...)."""
    sice = smc - sh2o
    return sh2o * CWAT + (1.0 - p.smcmax) * CSOIL + (p.smcmax - smc) * CPAIR + sice * CICE


def conductivity(smc, sh2o, p):
    """Thermal conductivity per layer [W m-1 K-1] (4, ...), Johansen's method."""
    satratio = np.clip(smc / p.smcmax, 1e-6, 1.0)
    tks = 7.7 ** p.quartz * 2.0 ** (1.0 - p.quartz)            # solids (quartz 7.7, others 2.0)
    xunfroz = np.where(smc > 0, sh2o / np.maximum(smc, 1e-12), 1.0)
    xu = xunfroz * p.smcmax
    tksat = tks ** (1.0 - p.smcmax) * 2.2 ** (p.smcmax - xu) * 0.57 ** xu   # ice 2.2, water 0.57
    gammd = (1.0 - p.smcmax) * 2700.0
    tkdry = (0.135 * gammd + 64.7) / (2700.0 - 0.947 * gammd)
    frozen = sh2o + 0.0005 < smc
    ake = np.where(frozen, satratio, np.where(satratio > 0.1, np.log10(satratio) + 1.0, 0.0))
    return ake * (tksat - tkdry) + tkdry


def ground_conductance(tk1, snowh):
    """Conductance between the ground surface and the middle of layer 1 [W m-2 K-1], through any snow."""
    return 1.0 / (0.5 * DZ[0] / tk1 + snowh / TK_SNOW)


def diffuse(stc, g_flux, cap, tk, tbot, dt):
    """Implicit soil heat diffusion: new temperatures (4, ...) [K] and the flux to the deep soil [W m-2].

    ``g_flux`` is the heat entering layer 1 from the surface [W m-2]; the lower
    boundary is the temperature ``tbot`` at ZBOT.  Interface conductivities are
    harmonic means of the layers' (thickness-weighted).
    """
    nd = stc.ndim
    dz = _col(DZ, nd)
    gap = _col(ZMID[:-1] - ZMID[1:], nd)              # distance between mid-points (3, ...)
    k_int = (dz[:-1] + dz[1:]) / (dz[:-1] / tk[:-1] + dz[1:] / tk[1:]) / gap  # W m-2 K-1
    k_bot = tk[-1] / (ZMID[-1] - ZBOT)
    heat = cap * dz / dt                              # W m-2 K-1
    lower = np.zeros_like(stc)
    upper = np.zeros_like(stc)
    lower[1:] = -k_int
    upper[:-1] = -k_int
    diag = heat - lower - upper
    diag[-1] = diag[-1] + k_bot
    rhs = heat * stc
    rhs[0] = rhs[0] + g_flux
    rhs[-1] = rhs[-1] + k_bot * tbot
    new = thomas(lower, diag, upper, rhs)
    return new, k_bot * (new[-1] - tbot)


def supercooled_liquid(stc, p):
    """Maximum liquid water below freezing [m3 m-3] (Niu & Yang 2006); theta_s above freezing."""
    below = stc < TFRZ
    t = np.where(below, stc, TFRZ - 1.0)
    ratio = HFUS * (TFRZ - t) / (GRAV * t * p.psisat)
    limit = p.smcmax * ratio ** (-1.0 / p.bexp)
    return np.where(below, np.minimum(limit, p.smcmax), p.smcmax)


def phase_change(stc, smc, sh2o, cap, liquid_max):
    """Melt or freeze soil water with the energy of each layer's departure from freezing.

    ``liquid_max`` (4, ...) is the liquid water that may stay unfrozen (the
    supercooled limit).  Returns new (stc, sh2o) and the mass turned liquid per
    layer [kg m-2] (negative when freezing).  The total water smc is unchanged
    and heat content plus latent heat is conserved.
    """
    nd = stc.ndim
    dz = _col(DZ, nd)
    sice = smc - sh2o
    excess = (stc - TFRZ) * cap * dz                         # J m-2 above freezing (+) or below (-)
    melt_max = sice * dz * DENH2O                            # kg m-2 of ice that can melt
    freeze_max = np.maximum(sh2o - liquid_max, 0.0) * dz * DENH2O
    melt = np.where(excess > 0, np.minimum(excess / HFUS, melt_max), 0.0)
    freeze = np.where(excess < 0, np.minimum(-excess / HFUS, freeze_max), 0.0)
    mass = melt - freeze                                      # kg m-2 turned liquid
    new_sh2o = sh2o + mass / (dz * DENH2O)
    new_stc = stc - mass * HFUS / (cap * dz)
    return new_stc, new_sh2o, mass
