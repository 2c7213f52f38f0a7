"""The prognostic state of the land surface model, as arrays over columns.

A column is one (member, cell) pair.  Column fields have shape
(n_members, n_cells) (member-major: ``reshape(-1)`` gives the column vector
``col = member * n_cells + cell``); layered fields have shape (k, n_members, n_cells):
the four soil layers top first, or the three snow layers of which index 2 touches the
soil and the top active one is ``3 - nsnow`` (Noah-MP's layers -2..0).

The model keeps all fields as views of one block (n_values, n_members, n_cells) in the
order of :data:`LAYOUT` (:meth:`State.block`), so a step reads and writes one array.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .constants import DENH2O, DZ, RZSM_LAYERS

#: The fields in block order with their number of layers (1: a column field).
LAYOUT = (("smc", 4), ("sh2o", 4), ("tsno", 3), ("stc", 4), ("snice", 3), ("snliq", 3), ("dzsno", 3), ("nsnow", 1),
          ("tv", 1), ("tg", 1), ("tah", 1), ("eah", 1), ("canliq", 1), ("canice", 1), ("sneqv", 1), ("snowh", 1),
          ("sneqvo", 1), ("albold", 1), ("tauss", 1), ("lfmass", 1), ("stmass", 1), ("rtmass", 1), ("wood", 1),
          ("fastcp", 1), ("stblcp", 1), ("lai", 1), ("sai", 1))
#: Offset of each field in the block.
OFFSET = {}
_o = 0
for _name, _n in LAYOUT:
    OFFSET[_name] = _o
    _o += _n
#: Number of values per column.
N_VALUES = _o


@dataclass(eq=False)
class State:
    """Prognostic variables (units in brackets); every field is an array over columns."""

    smc: np.ndarray          # (4, m, c) total volumetric soil water [m3 m-3]
    sh2o: np.ndarray         # (4, m, c) liquid volumetric soil water [m3 m-3]
    tsno: np.ndarray         # (3, m, c) snow layer temperature [K] (0 where no layer)
    stc: np.ndarray          # (4, m, c) soil temperature [K]
    snice: np.ndarray        # (3, m, c) snow layer ice [kg m-2]
    snliq: np.ndarray        # (3, m, c) snow layer liquid water [kg m-2]
    dzsno: np.ndarray        # (3, m, c) snow layer thickness [m]
    nsnow: np.ndarray        # number of snow layers (0..3; 0: a pack of sneqv/snowh without layers)
    tv: np.ndarray           # canopy (leaf) temperature [K]
    tg: np.ndarray           # ground surface temperature [K]
    tah: np.ndarray          # canopy air temperature [K]
    eah: np.ndarray          # canopy air vapour pressure [Pa]
    canliq: np.ndarray       # intercepted liquid water [kg m-2]
    canice: np.ndarray       # intercepted snow and ice [kg m-2]
    sneqv: np.ndarray        # snow water equivalent [kg m-2]
    snowh: np.ndarray        # snow depth [m]
    sneqvo: np.ndarray       # snow water equivalent of the previous step [kg m-2] (snow age)
    albold: np.ndarray       # snow albedo of the previous step [-] (CLASS)
    tauss: np.ndarray        # non-dimensional snow age [-]
    lfmass: np.ndarray       # leaf carbon [g m-2]
    stmass: np.ndarray       # stem carbon [g m-2]
    rtmass: np.ndarray       # fine-root carbon [g m-2]
    wood: np.ndarray         # wood carbon [g m-2]
    fastcp: np.ndarray       # fast soil carbon [g m-2]
    stblcp: np.ndarray       # stable soil carbon [g m-2]
    lai: np.ndarray          # leaf area index [m2 m-2]
    sai: np.ndarray          # stem area index [m2 m-2]

    @property
    def shape(self) -> tuple[int, int]:
        """(n_members, n_cells)."""
        return self.tv.shape

    @property
    def rzsm(self) -> np.ndarray:
        """Root-zone soil moisture: thickness-weighted mean of the top 100 cm [m3 m-3] (SPEC section 2)."""
        w = DZ[:RZSM_LAYERS] / DZ[:RZSM_LAYERS].sum()
        out = w[0] * self.smc[0]
        for k in range(1, RZSM_LAYERS):    # element-wise, not a BLAS dot (np.tensordot's rounding depends on
            out = out + w[k] * self.smc[k]  # the array's size): a cell's value is the same on any rank count
        return out

    def water(self) -> np.ndarray:
        """Water stored in a column [kg m-2]: canopy, snow and soil."""
        soil = DZ[0] * self.smc[0]
        for k in range(1, DZ.size):        # element-wise, not a BLAS dot: no dependence on the array size
            soil = soil + DZ[k] * self.smc[k]
        return self.canliq + self.canice + self.sneqv + soil * DENH2O

    def carbon(self) -> np.ndarray:
        """Carbon stored in a column [g m-2]."""
        return self.lfmass + self.stmass + self.rtmass + self.wood + self.fastcp + self.stblcp

    def block(self) -> np.ndarray:
        """All fields as one (N_VALUES, n_members, n_cells) float64 array in LAYOUT order.

        Returns the block the fields are views of when they are (no copy), else a new one.
        """
        base = self.smc.base if isinstance(self.smc.base, np.ndarray) else None
        shape = self.shape
        if (base is not None and base.shape == (N_VALUES,) + shape and base.dtype == np.float64
                and base.flags.c_contiguous):
            ok = True
            for name, n in LAYOUT:
                v = getattr(self, name)
                o = OFFSET[name]
                expected = base[o:o + n] if n > 1 else base[o]
                if not (v.base is base and v.shape == expected.shape
                        and v.__array_interface__["data"][0] == expected.__array_interface__["data"][0]):
                    ok = False
                    break
            if ok:
                return base
        out = np.empty((N_VALUES,) + shape)
        for name, n in LAYOUT:
            o = OFFSET[name]
            if n > 1:
                out[o:o + n] = getattr(self, name)
            else:
                out[o] = getattr(self, name)
        return out

    @classmethod
    def from_block(cls, block: np.ndarray) -> "State":
        """A State whose fields are views of ``block`` (N_VALUES, n_members, n_cells)."""
        fields = {}
        for name, n in LAYOUT:
            o = OFFSET[name]
            fields[name] = block[o:o + n] if n > 1 else block[o]
        return cls(**fields)

    def copy(self) -> "State":
        return State.from_block(self.block().copy())

    def arrays(self) -> dict[str, np.ndarray]:
        """All fields by name (for restarts)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "State":
        missing = [f.name for f in dataclasses.fields(cls) if f.name not in arrays]
        if missing:
            raise ValueError(f"no state field {missing[0]!r} (a state of another model version?)")
        return cls(**{f.name: np.array(arrays[f.name], dtype=np.float64) for f in dataclasses.fields(cls)})

    def select_members(self, members) -> "State":
        """The state of some members (axis -2), as a new State."""
        return State(**{k: v[..., members, :].copy() for k, v in self.arrays().items()})
