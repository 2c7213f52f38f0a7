"""Canopy interception of rain (Noah-MP PRECIP_HEAT / CANWATER, noahmp-physics.md s.5.1).

Capacity W_max = CH2OP (ELAI + ESAI) [mm]; the interception rate
I = min(FVEG P FP, (W_max - W)/dt (1 - exp(-P dt / W_max))) with FP the
convective/large-scale factor for 10 % convective rain; the wetted fraction
f_wet = (W / W_max)^(2/3).  Snowfall is not intercepted (it reaches the
ground pack directly), a simplification of Noah-MP's canopy snow.

Scalar numba functions of one column.
"""

from __future__ import annotations

from .jit import fexp, fmax, fmin, fpow, jit

#: FP = (Pc + Pl) / (10 Pc + Pl) for 10 % convective rain (Noah-MP ATM splits precipitation 10/90).
FP = 1.0 / (10.0 * 0.1 + 0.9)


@jit
def capacity(elai, esai, ch2op):
    """Interception capacity [kg m-2] of leaf and stem area [m2 m-2] holding ch2op [kg m-2 per unit area]."""
    return ch2op * (elai + esai)


@jit
def intercept(rain, canwat, wmax, fveg, dt):
    """Rain [kg m-2 s-1] split into interception and what reaches the ground.

    canwat: intercepted water [kg m-2]; wmax: capacity [kg m-2]; fveg: vegetated
    fraction; dt [s].  Returns (new canwat [kg m-2], water to the ground
    [kg m-2 s-1]).  Water held above a (shrunken) capacity drips at once.
    """
    rate = 0.0
    if wmax > 0:
        safe = fmax(wmax, 1e-9)
        room = fmax(wmax - canwat, 0.0) / dt * (1.0 - fexp(-rain * dt / safe))
        rate = fmax(fmin(fveg * rain * FP, room), 0.0)
    held = canwat + rate * dt
    excess = fmax(held - wmax, 0.0)
    return held - excess, rain - rate + excess / dt


@jit
def wet_fraction(canwat, wmax):
    """Wetted fraction of the canopy f_wet = min(1, W / W_max)^(2/3) (canwat W, capacity W_max [kg m-2])."""
    if not wmax > 0 or canwat == 0.0:      # 0^0.667 = 0
        return 0.0
    return fpow(fmin(1.0, canwat / fmax(wmax, 1e-9)), 0.667)
