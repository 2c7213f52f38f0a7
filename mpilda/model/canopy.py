"""Canopy interception of rain (Noah-MP PRECIP_HEAT / CANWATER, noahmp-physics.md s.5.1).

Capacity W_max = CH2OP (ELAI + ESAI) [mm]; the interception rate
I = min(FVEG P FP, (W_max - W)/dt (1 - exp(-P dt / W_max))) with FP the
convective/large-scale factor for 10 % convective rain; the wetted fraction
f_wet = (W / W_max)^(2/3).  Snowfall is not intercepted (it reaches the
ground pack directly), a simplification of Noah-MP's canopy snow.
"""

from __future__ import annotations

import numpy as np

#: FP = (Pc + Pl) / (10 Pc + Pl) for 10 % convective rain (Noah-MP ATM splits precipitation 10/90).
FP = 1.0 / (10.0 * 0.1 + 0.9)


def capacity(elai, esai, ch2op):
    """Interception capacity [kg m-2]."""
    return ch2op * (elai + esai)


def intercept(rain, canwat, wmax, fveg, dt):
    """Rain [kg m-2 s-1] split into interception and what reaches the ground.

    Returns (new canwat [kg m-2], water to the ground [kg m-2 s-1]).  Water held
    above a (shrunken) capacity drips at once.
    """
    safe = np.maximum(wmax, 1e-9)
    room = np.maximum(wmax - canwat, 0.0) / dt * (1.0 - np.exp(-rain * dt / safe))
    rate = np.where(wmax > 0, np.maximum(np.minimum(fveg * rain * FP, room), 0.0), 0.0)
    held = canwat + rate * dt
    excess = np.maximum(held - wmax, 0.0)
    return held - excess, rain - rate + excess / dt


def wet_fraction(canwat, wmax):
    """Wetted fraction of the canopy f_wet = min(1, W / W_max)^(2/3)."""
    return np.where(wmax > 0, np.minimum(1.0, canwat / np.maximum(wmax, 1e-9)) ** 0.667, 0.0)
