"""Meteorological forcing of the land surface model.

Every forcing source offers one method, ``at(time)``: the forcing of the model
step that starts at ``time`` (UTC), as float64 arrays (n_cells,) over the
cells it was built for, in SI units, named as in ``VARIABLES``.
"""

from __future__ import annotations

import datetime as dt
from typing import Protocol

import numpy as np

#: Model forcing variables and their SI units (the LIS/Noah-MP forcing set, SPEC section 2).
VARIABLES = {
    "swdown": "W m-2",      # downward shortwave radiation at the surface
    "lwdown": "W m-2",      # downward longwave radiation at the surface
    "tair": "K",            # air temperature at 2 m
    "qair": "kg kg-1",      # specific humidity at 2 m
    "psurf": "Pa",          # surface pressure
    "wind": "m s-1",        # wind speed at 10 m
    "rainf": "kg m-2 s-1",  # rainfall rate
    "snowf": "kg m-2 s-1",  # snowfall rate (water equivalent)
}


class Forcing(Protocol):
    """What the run loop needs from a forcing source."""

    def at(self, time: dt.datetime) -> dict[str, np.ndarray]:
        """Forcing of the model step starting at ``time``: {name: (n_cells,) float64} in SI units."""
        ...
