"""The prognostic state of the land surface model, as arrays over columns.

A column is one (member, cell) pair.  Column fields have shape
(n_members, n_cells) (member-major: ``reshape(-1)`` gives the column vector
``col = member * n_cells + cell``); soil fields have shape (4, n_members, n_cells).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .constants import DENH2O, DZ, RZSM_LAYERS


@dataclass(eq=False)
class State:
    """Prognostic variables (units in brackets); every field is an array over columns."""

    smc: np.ndarray          # (4, m, c) total volumetric soil water [m3 m-3]
    sh2o: np.ndarray         # (4, m, c) liquid volumetric soil water [m3 m-3]
    stc: np.ndarray          # (4, m, c) soil temperature [K]
    tv: np.ndarray           # canopy (leaf) temperature [K]
    tg: np.ndarray           # ground surface temperature [K]
    eah: np.ndarray          # canopy-air vapour pressure [Pa]
    canwat: np.ndarray       # intercepted water [kg m-2]
    sneqv: np.ndarray        # snow water equivalent [kg m-2]
    snowh: np.ndarray        # snow depth [m]
    snow_albedo: np.ndarray  # albedo of the snow surface [-]
    lfmass: np.ndarray       # leaf carbon [g m-2]
    stmass: np.ndarray       # stem carbon [g m-2]
    rtmass: np.ndarray       # fine-root carbon [g m-2]
    wood: np.ndarray         # wood carbon [g m-2]
    fastcp: np.ndarray       # fast soil carbon [g m-2]
    stblcp: np.ndarray       # stable soil carbon [g m-2]
    lai: np.ndarray          # leaf area index [m2 m-2]
    sai: np.ndarray          # stem area index [m2 m-2]
    tbot: np.ndarray         # deep-soil temperature at 8 m, running annual mean of air temperature [K]

    @property
    def shape(self) -> tuple[int, int]:
        """(n_members, n_cells)."""
        return self.tv.shape

    @property
    def rzsm(self) -> np.ndarray:
        """Root-zone soil moisture: thickness-weighted mean of the top 100 cm [m3 m-3] (SPEC section 2)."""
        w = DZ[:RZSM_LAYERS]
        return np.tensordot(w / w.sum(), self.smc[:RZSM_LAYERS], axes=(0, 0))

    def water(self) -> np.ndarray:
        """Water stored in a column [kg m-2]: canopy, snow and soil."""
        soil = DZ[0] * self.smc[0]
        for k in range(1, DZ.size):        # element-wise, not a BLAS dot: no dependence on the array size
            soil = soil + DZ[k] * self.smc[k]
        return self.canwat + self.sneqv + soil * DENH2O

    def carbon(self) -> np.ndarray:
        """Carbon stored in a column [g m-2]."""
        return self.lfmass + self.stmass + self.rtmass + self.wood + self.fastcp + self.stblcp

    def copy(self) -> "State":
        return State(**{f.name: getattr(self, f.name).copy() for f in dataclasses.fields(self)})

    def arrays(self) -> dict[str, np.ndarray]:
        """All fields by name (for restarts)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "State":
        return cls(**{f.name: np.array(arrays[f.name], dtype=np.float64) for f in dataclasses.fields(cls)})

    def select_members(self, members) -> "State":
        """The state of some members (axis -2), as a new State."""
        return State(**{k: v[..., members, :].copy() for k, v in self.arrays().items()})
