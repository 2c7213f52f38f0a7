"""Bulk snowpack on the ground: accumulation, compaction, cover fraction and albedo.

The single-layer simplification of Noah-MP's snow that noahmp-physics.md s.8
describes as defensible for a snow flag and a melt season: one pack of water
equivalent SWE [kg m-2 = mm] and depth [m]; fresh-snow density after Hedstrom &
Pomeroy (as Noah-MP's SNOWFALL); the snow-cover fraction of Niu & Yang (2007)
with Noah-MP 4.0.1's constants; the CLASS snow albedo (option 2).  Melt and
sublimation come from the surface energy balance (energy.py, noahmp.py).

Scalar numba functions of one column.
"""

from __future__ import annotations

from .constants import TFRZ
from .jit import fexp, fmax, fmin, fpow, ftanh, jit

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


@jit
def fresh_snow_density(tair):
    """Density of new snow [kg m-3] = min(120, 67.92 + 51.25 exp((T - T_f)/2.59)), air temperature T [K]."""
    return fmin(120.0, 67.92 + 51.25 * fexp(fmin(tair - TFRZ, 10.0) / 2.59))


@jit
def cover_fraction(sneqv, snowh, mfsno):
    """Snow-cover fraction FSNO = tanh(h / (2.5 z0 (rho/100)^MFSNO)) (Niu & Yang 2007); SWE [kg m-2], depth [m]."""
    if not snowh > 0:
        return 0.0
    rho = sneqv / fmax(snowh, 1e-9)
    return ftanh(snowh / (2.5 * Z0_SNOW_COVER * fpow(rho / 100.0, mfsno)))


@jit
def accumulate(sneqv, snowh, snowfall, tair, dt):
    """Add snowfall [kg m-2 s-1] falling at air temperature tair [K] for dt [s] to the pack: new (sneqv, snowh)."""
    add = snowfall * dt
    if add == 0.0:              # nothing falls: add / density = 0
        return sneqv + add, snowh + add
    return sneqv + add, snowh + add / fresh_snow_density(tair)


@jit
def settle(sneqv, snowh, dt):
    """Compaction: the pack's density relaxes towards SETTLED_DENSITY (depth only, SWE unchanged); new depth [m]."""
    if not sneqv > 0:
        return 0.0
    rho = sneqv / fmax(snowh, 1e-9) if snowh > 0 else SETTLED_DENSITY
    if rho < SETTLED_DENSITY:
        rho = SETTLED_DENSITY - (SETTLED_DENSITY - rho) * fexp(-dt / SETTLING_TIME)
    return sneqv / rho


@jit
def albedo_step(albedo, snowfall, dt, swemx):
    """CLASS snow albedo: decay towards 0.55, refreshed towards 0.84 by new snow [kg m-2 s-1] (fully at SWEMX mm)."""
    aged = ALBEDO_OLD + (albedo - ALBEDO_OLD) * fexp(-ALBEDO_DECAY * dt)
    fresh = fmin(1.0, snowfall * dt / swemx)
    return aged + (ALBEDO_FRESH - aged) * fresh
