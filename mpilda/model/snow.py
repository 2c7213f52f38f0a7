"""Bulk snowpack on the ground: accumulation, compaction, cover fraction and albedo.

The single-layer simplification of Noah-MP's snow that noahmp-physics.md s.8
describes as defensible for a snow flag and a melt season: one pack of water
equivalent SWE [kg m-2 = mm] and depth [m]; fresh-snow density after Hedstrom &
Pomeroy (as Noah-MP's SNOWFALL); the snow-cover fraction of Niu & Yang (2007)
with Noah-MP 4.0.1's constants; the CLASS snow albedo (option 2).  Melt and
sublimation come from the surface energy balance (energy.py, model.py).
"""

from __future__ import annotations

import numpy as np

from .constants import TFRZ

#: CLASS snow albedo limits and decay (noahmp-physics.md s.4.2: mxsnalb 0.84, mnsnalb 0.55, 0.01 per hour).
ALBEDO_FRESH = 0.84
ALBEDO_OLD = 0.55
ALBEDO_DECAY = 0.01 / 3600.0
#: Ground roughness for the snow-cover fraction [m] and the settled density the pack relaxes to [kg m-3]
#: and its time scale [s] (noahmp-physics.md s.8: ~250-350 kg m-3 within a few days).
Z0_SNOW_COVER = 0.002
SETTLED_DENSITY = 300.0
SETTLING_TIME = 5.0 * 86400.0
#: SWE above which a cell counts as snow covered for masks and outputs [kg m-2] (noahmp-physics.md s.8).
SNOW_FLAG_SWE = 1.0


def fresh_snow_density(tair: np.ndarray) -> np.ndarray:
    """Density of new snow [kg m-3] = min(120, 67.92 + 51.25 exp((T - T_f)/2.59))."""
    return np.minimum(120.0, 67.92 + 51.25 * np.exp(np.minimum(tair - TFRZ, 10.0) / 2.59))


def cover_fraction(sneqv: np.ndarray, snowh: np.ndarray, mfsno) -> np.ndarray:
    """Snow-cover fraction FSNO = tanh(h / (2.5 z0 (rho/100)^MFSNO)) (Niu & Yang 2007)."""
    rho = np.where(snowh > 0, sneqv / np.maximum(snowh, 1e-9), 100.0)
    return np.where(snowh > 0, np.tanh(snowh / (2.5 * Z0_SNOW_COVER * (rho / 100.0) ** mfsno)), 0.0)


def accumulate(sneqv, snowh, snowfall, tair, dt):
    """Add snowfall [kg m-2 s-1] to the pack: new (sneqv, snowh)."""
    add = snowfall * dt
    return sneqv + add, snowh + add / fresh_snow_density(tair)


def settle(sneqv, snowh, dt):
    """Compaction: the pack's density relaxes towards SETTLED_DENSITY (depth only, SWE unchanged)."""
    rho = np.where(snowh > 0, sneqv / np.maximum(snowh, 1e-9), SETTLED_DENSITY)
    rho_new = np.where(rho < SETTLED_DENSITY,
                       SETTLED_DENSITY - (SETTLED_DENSITY - rho) * np.exp(-dt / SETTLING_TIME), rho)
    return np.where(sneqv > 0, sneqv / rho_new, 0.0)


def albedo_step(albedo, snowfall, dt, swemx):
    """CLASS snow albedo: decay towards 0.55, refreshed towards 0.84 by new snow (fully at SWEMX mm)."""
    aged = ALBEDO_OLD + (albedo - ALBEDO_OLD) * np.exp(-ALBEDO_DECAY * dt)
    fresh = np.minimum(1.0, snowfall * dt / swemx)
    return aged + (ALBEDO_FRESH - aged) * fresh
