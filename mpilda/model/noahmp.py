"""mpilda's Noah-MP-like land surface model: one 900 s step for all columns, one compiled kernel.

The order of processes follows Noah-MP's NOAHMP_SFLX (noahmp-physics.md s.1.1):
vegetation structure and snow burial, radiation, soil-moisture stress,
stomata (sunlit/shaded Ball-Berry/Farquhar), canopy interception, the coupled
canopy/ground energy balance, evaporation limits, snow, soil water (Schaake
infiltration, implicit Richards, free drainage), soil heat and phase change,
and the carbon model (DVEG = 2) that gives the next step's LAI.

``NoahMP.step`` calls ONE numba kernel (:func:`_step_kernel`) that loops over the
columns and runs the whole step for each, calling the scalar physics (one column)
of the modules soil_water, soil_heat, radiation, energy, canopy, snow,
photosynthesis and vegetation.  The kernel takes the columns in chunks of LANES and
each stage of the step as a loop over the lanes, so that the compiler runs the
scalar physics of several columns at once in SIMD registers (see "the kernel"
below).  Every column's arithmetic is its own (no reduction across columns, strict
IEEE arithmetic), so a column's result does not depend on how many columns a call
holds or their order: runs on any number of MPI ranks are bit-identical.

Compiled code is cached next to the modules (``jit.py``); the first step of a fresh
checkout compiles the kernel (about 15-20 s), later processes load it (under 1 s).

Every step checks, per column, that the change of stored water equals
precipitation - evapotranspiration - surface runoff - drainage, and reports
the energy residual of the canopy balance (the ground balance closes by
construction).  ``step`` raises ``BalanceError`` beyond the tolerances (NaN
counts as beyond).
"""

from __future__ import annotations

import datetime as dt
import math
import time as _time
from dataclasses import dataclass

import numpy as np

from . import canopy, energy, radiation, snow, soil_heat, soil_water
from .constants import DENH2O, DZ, GRAV, HFUS, RW, TFRZ, ZSOIL
from .jit import clip, fexp, fmax, fmin, fpow, jit, kernel, records
from .parameters import SoilTable, VegetationTable, read_mptable, read_soilparm
from .photosynthesis import leaf_conditions, photosynthesis_params, stomata_light
from .state import State
from .vegetation import carbon_column, carbon_params, cold_start_pools, vegetation_fraction_column

#: Water balance tolerance per column and step [kg m-2] (issue "The land surface model"; float64 reaches ~1e-12).
WATER_TOLERANCE = 1e-9
#: Canopy energy balance tolerance [W m-2] (Noah-MP ERROR's 0.01 W m-2).
ENERGY_TOLERANCE = 0.01
#: Ground emissivity of soil (MPTABLE &noahmp_rad_parameters EG(1)); snow emits as a black body.
#: Soil-colour index per land-cover class: 4 everywhere, 2 (bright) for barren land (no colour map).
SOIL_COLOUR_DEFAULT, SOIL_COLOUR_BARREN = 4, 2
#: Foliage nitrogen [%] (Noah-MP driver fixes FOLN = 1.0).
FOLN = 1.0
#: Time scale of the running mean of air temperature that sets the deep-soil temperature [s].
TBOT_TIME_SCALE = 365.25 * 86400.0
#: Surface soil moisture below which soil evaporation stops (Noah-MP: RSURF = 1e6 below 0.01).
DRY_SURFACE = 0.01

#: The forcing fields a step reads, in the order of the kernel's forcing block.
FORCING = ("swdown", "lwdown", "tair", "qair", "psurf", "wind", "rainf", "snowf")
#: The fluxes a step returns [SI units], in the order of the kernel's flux block.
FLUXES = ("et", "transpiration", "canopy_evaporation", "soil_evaporation", "sublimation", "qs", "qsb", "gpp", "nee",
          "npp", "snowmelt", "swnet", "lwnet", "hfx", "lh", "ghf", "fsno", "btran", "water_error", "energy_residual")
#: The column (n_ens, n_cells) fields of the State, in the order of the kernel (after smc, sh2o, stc).
COLUMN_FIELDS = ("tv", "tg", "eah", "canwat", "sneqv", "snowh", "snow_albedo", "lfmass", "stmass", "rtmass", "wood",
                 "fastcp", "stblcp", "lai", "sai", "tbot")
_N_STATE = 12 + len(COLUMN_FIELDS)
_N_FLUX = len(FLUXES)


class BalanceError(RuntimeError):
    """A column's water or energy balance does not close."""


@dataclass(frozen=True)
class ModelSettings:
    """Choices of the model that a run may change ([model] section)."""

    dt: float = 900.0
    drainage_slope: float = 0.1      # SLOPE of free drainage (GENPARM SLOPE_DATA of slope type 1)
    soil_substeps: int = 1           # implicit Richards sub-steps per model step
    check_balance: bool = True


class ColumnParameters:
    """Per-cell parameters from class maps and tables.

    Attributes are arrays (n_cells,) (``smcmax``, ``sla``, ``vegetated``, ...); ``table``
    is the structured array (n_cells,) of every field the kernel reads (the record of
    a cell is what the scalar physics take as ``p``), with the sines and cosines of the
    cell's latitude and longitude (0 degrees unless given).
    """

    def __init__(self, landcover: np.ndarray, soil: np.ndarray, veg: VegetationTable, soiltab: SoilTable,
                 lat=None, lon=None):
        lc = np.asarray(landcover, dtype=np.int64)
        sc = np.asarray(soil, dtype=np.int64)
        if lc.min() < 1 or lc.max() > veg.n_classes:
            raise ValueError(f"land-cover classes must be 1..{veg.n_classes}; got {lc.min()}..{lc.max()}")
        if sc.min() < 1 or sc.max() > len(soiltab.names):
            raise ValueError(f"soil classes must be 1..{len(soiltab.names)}; got {sc.min()}..{sc.max()}")
        self.landcover, self.soil = lc, sc
        s = soiltab.column
        self.smcmax, self.smcref, self.smcwlt = s("MAXSMC", sc), s("REFSMC", sc), s("WLTSMC", sc)
        self.smcdry, self.bexp, self.psisat = s("DRYSMC", sc), s("BB", sc), s("SATPSI", sc)
        self.satdk, self.satdw, self.quartz = s("SATDK", sc), s("SATDW", sc), s("QTZ", sc)
        v = veg.column
        for key in ("CH2OP", "DLEAF", "Z0MVT", "HVT", "HVB", "XL", "CWPVT", "MFSNO", "RHOL_VIS", "RHOL_NIR",
                    "RHOS_VIS", "RHOS_NIR", "TAUL_VIS", "TAUL_NIR", "TAUS_VIS", "TAUS_NIR", "TMIN", "SLA"):
            setattr(self, key.lower(), v(key, lc))
        nroot = v("NROOT", lc).astype(np.int64)
        zroot = -ZSOIL[np.maximum(nroot, 1) - 1]
        layer = np.arange(4)[:, None]
        self.root_fraction = np.where(layer < nroot[None, :], DZ[:, None] / zroot[None, :], 0.0)   # (4, n_cells)
        self.has_roots = nroot > 0
        self.nroot = nroot
        self.photo = photosynthesis_params(veg, lc)
        self.carbon = carbon_params(veg, lc, foln=FOLN)
        self.vegetated = self.carbon.vegetated
        colour = np.where(lc == veg.special["ISBARREN"], SOIL_COLOUR_BARREN, SOIL_COLOUR_DEFAULT) - 1
        self.soil_albedo = tuple(veg.rad[k][colour] for k in ("ALBSAT_VIS", "ALBSAT_NIR", "ALBDRY_VIS", "ALBDRY_NIR"))
        self.emis_soil = float(veg.rad["EG"][0])
        self.swemx = veg.glob["SWEMX"]
        self.rsurf_snow = veg.glob["RSURF_SNOW"]
        self.lai_table = veg.lai[:, lc - 1]
        self.sai_table = veg.sai[:, lc - 1]
        self.n_cells = lc.size
        phi = np.deg2rad(np.zeros(lc.size) if lat is None else np.asarray(lat, dtype=np.float64))
        lam = np.deg2rad(np.zeros(lc.size) if lon is None else np.asarray(lon, dtype=np.float64))
        fields = dict(smcmax=self.smcmax, smcref=self.smcref, smcwlt=self.smcwlt, smcdry=self.smcdry,
                      bexp=self.bexp, psisat=self.psisat, satdk=self.satdk, satdw=self.satdw,
                      root1=self.root_fraction[0], root2=self.root_fraction[1], root3=self.root_fraction[2],
                      root4=self.root_fraction[3], has_roots=self.has_roots.astype(np.float64),
                      # Sakaguchi & Zeng's vapour diffusivity of the dry surface layer [m2 s-1] (_soil_surface)
                      d_vap=2.2e-5 * self.smcmax ** 2 * (1.0 - self.smcwlt / self.smcmax) ** (2.0 + 3.0 / self.bexp),
                      **soil_heat.thermal_constants(self.smcmax, self.quartz),
                      **{k.lower(): getattr(self, k.lower()) for k in (
                          "CH2OP", "DLEAF", "Z0MVT", "HVT", "HVB", "XL", "CWPVT", "MFSNO", "RHOL_VIS", "RHOL_NIR",
                          "RHOS_VIS", "RHOS_NIR", "TAUL_VIS", "TAUL_NIR", "TAUS_VIS", "TAUS_NIR")},
                      albsat_vis=self.soil_albedo[0], albsat_nir=self.soil_albedo[1],
                      albdry_vis=self.soil_albedo[2], albdry_nir=self.soil_albedo[3],
                      emis_soil=self.emis_soil, swemx=self.swemx, rsurf_snow=self.rsurf_snow,
                      sin_lat=np.sin(phi), cos_lat=np.cos(phi), sin_lon=np.sin(lam), cos_lon=np.cos(lam),
                      **self.photo.record_fields(), **self.carbon.record_fields())
        fields["tmin"] = self.tmin
        geometry = np.empty((len(energy.GEOMETRY_FIELDS), lc.size))
        energy.canopy_geometry_cells(self.hvt, self.z0mvt, geometry)
        fields.update(zip(energy.GEOMETRY_FIELDS, geometry))
        self.table = records(fields, (lc.size,))


def _monthly(table: np.ndarray, time: dt.datetime) -> np.ndarray:
    """A monthly climatology (12, n) interpolated between mid-months (Noah-MP PHENOLOGY)."""
    doy = time.timetuple().tm_yday
    t = 12.0 * doy / 365.25 - 0.5
    m0 = int(np.floor(t)) % 12
    w = t - np.floor(t)
    return (1.0 - w) * table[m0] + w * table[(m0 + 1) % 12]


def _float_c(a, shape, name):
    """``a`` as a C-contiguous float64 array of ``shape`` (a copy only when it is not one already)."""
    if not (type(a) is np.ndarray and a.dtype == np.float64 and a.flags.c_contiguous):
        a = np.ascontiguousarray(a, dtype=np.float64)
    if a.shape != shape:
        raise ValueError(f"state field {name} has shape {a.shape}; expected {shape}")
    return a


class NoahMP:
    """The land surface model behind mpilda's run loop.

    Interface (all a different model needs to offer, e.g. a compiled Noah-MP):
    ``cold_start(n_ens, forcing, time) -> State``, ``step(state, forcing, time) -> fluxes``
    (the state's fields are replaced by the new ones), ``DA_VARIABLES`` and ``get`` of them.

    Args:
        landcover, soil: (n_cells,) MODIS-IGBP and STATSGO classes of the cells.
        lat, lon: (n_cells,) cell centres [degrees].
        vegtable, soiltable: parsed MPTABLE/SOILPARM (default: the shipped tables).
    """

    #: State variables an analysis may update: volumetric soil moisture of each layer and LAI.
    DA_VARIABLES = ("sm1", "sm2", "sm3", "sm4", "lai")

    def __init__(self, landcover, soil, lat, lon, vegtable: VegetationTable | None = None,
                 soiltable: SoilTable | None = None, settings: ModelSettings = ModelSettings()):
        self.veg = vegtable or read_mptable()
        self.soiltab = soiltable or read_soilparm()
        self.lat, self.lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        self.p = ColumnParameters(landcover, soil, self.veg, self.soiltab, self.lat, self.lon)
        self.settings = settings
        #: Set to a dict to accumulate the seconds spent in the parts of ``step`` (prepare, kernel, check).
        self.timings: dict[str, float] | None = None

    # -- state ----------------------------------------------------------------
    def cold_start(self, n_ens: int, forcing: dict, time: dt.datetime) -> State:
        """A state to start a spin-up from: moist soil at the air temperature, table LAI, Noah-MP's pools."""
        p = self.p
        shape = (n_ens, p.n_cells)
        full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), shape).copy()  # noqa: E731
        tair = full(forcing["tair"])
        lai = np.where(p.vegetated, _monthly(p.lai_table, time), 0.0)
        sai = np.where(p.vegetated, np.maximum(0.1 * lai, _monthly(p.sai_table, time)), 0.0)
        pools = cold_start_pools(full(lai), full(sai), p.carbon)
        smc = np.broadcast_to(0.5 * (p.smcref + p.smcmax), (4,) + shape).copy()
        q, ps = full(forcing["qair"]), full(forcing["psurf"])
        return State(smc=smc, sh2o=smc.copy(), stc=np.broadcast_to(tair, (4,) + shape).copy(), tv=tair.copy(),
                     tg=tair.copy(), eah=q * ps / (0.622 + 0.378 * q), canwat=np.zeros(shape),
                     sneqv=np.zeros(shape), snowh=np.zeros(shape), snow_albedo=full(snow.ALBEDO_OLD),
                     lfmass=pools.lfmass, stmass=pools.stmass, rtmass=pools.rtmass, wood=pools.wood,
                     fastcp=pools.fastcp, stblcp=pools.stblcp, lai=full(lai), sai=full(sai), tbot=tair.copy())

    def get(self, state: State, name: str) -> np.ndarray:
        """A DA state variable as a (n_ens, n_cells) array."""
        if name == "lai":
            return state.lai
        return state.smc[int(name[2]) - 1]

    # -- the step -------------------------------------------------------------------
    def step(self, s: State, forcing: dict, time: dt.datetime) -> dict[str, np.ndarray]:
        """Advance all columns by one step from ``time``; returns the step's fluxes (SI units).

        The state's fields are replaced by new arrays (views of one block); the fluxes
        are views of another block, fresh every step.
        """
        timings = self.timings
        if timings is not None:
            t0 = _time.perf_counter()
        settings = self.settings
        dt_ = float(settings.dt)
        shape = s.shape
        if len(shape) != 2 or shape[1] != self.p.n_cells:
            raise ValueError(f"the state has shape {shape}; expected (n_ens, {self.p.n_cells})")
        block = np.empty((len(FORCING),) + shape)
        for i, name in enumerate(FORCING):
            block[i] = forcing[name]
        sun = radiation.solar_position(time + dt.timedelta(seconds=dt_ / 2))
        layers = (4,) + shape
        smc, sh2o, stc = (_float_c(getattr(s, k), layers, k) for k in ("smc", "sh2o", "stc"))
        columns = [_float_c(getattr(s, k), shape, k) for k in COLUMN_FIELDS]
        new = np.empty((_N_STATE,) + shape)
        out = np.empty((len(FLUXES),) + shape)
        if timings is not None:
            t1 = _time.perf_counter()
        _step_kernel(self.p.table, block, smc, sh2o, stc, tuple(columns), new, out, dt_,
                     float(settings.drainage_slope), int(settings.soil_substeps), *sun)
        if timings is not None:
            t2 = _time.perf_counter()
        s.smc, s.sh2o, s.stc = new[0:4], new[4:8], new[8:12]
        for i, name in enumerate(COLUMN_FIELDS):
            setattr(s, name, new[12 + i])
        fluxes = {name: out[i] for i, name in enumerate(FLUXES)}
        if settings.check_balance:
            self._check(fluxes, time)
        if timings is not None:
            t3 = _time.perf_counter()
            for key, seconds in (("prepare", t1 - t0), ("kernel", t2 - t1), ("check", t3 - t2)):
                timings[key] = timings.get(key, 0.0) + seconds
        return fluxes

    def _check(self, fluxes, time):
        """Raise BalanceError if a column's water error or canopy energy residual exceeds its tolerance (or is NaN)."""
        for key, tol, what, unit in (("water_error", WATER_TOLERANCE, "water balance", "kg m-2"),
                                     ("energy_residual", ENERGY_TOLERANCE, "canopy energy balance", "W m-2")):
            err = fluxes[key]
            if _within(err, tol):
                continue
            a = np.abs(err)
            a = np.where(np.isfinite(a), a, np.inf)
            i = np.unravel_index(np.argmax(a), a.shape)
            raise BalanceError(f"{what} of column (member {i[0]}, cell {i[1]}) at {time:%Y-%m-%d %H:%M} "
                               f"off by {err[i]:.3e} {unit} (tolerance {tol})")


@kernel
def _within(a, tol):
    """True if every |a| <= tol (False at a NaN)."""
    flat = a.reshape(-1)
    for i in range(flat.size):
        if not abs(flat[i]) <= tol:
            return False
    return True


@jit
def _buried_fraction(snowh, hvt, hvb):
    """Fraction of the canopy buried by snow of depth snowh [m], canopy top hvt and bottom hvb [m] (PHENOLOGY)."""
    decayed = hvt * fexp(-snowh / 0.2)
    fb_short = fmin(snowh, decayed) / fmax(decayed, 1e-9) if decayed > 0 else 0.0
    fb_tall = clip(snowh - hvb, 0.0, fmax(hvt - hvb, 0.0)) / fmax(hvt - hvb, 1e-9)
    return clip(fb_short if hvt <= 1.0 else fb_tall, 0.0, 1.0)


@jit
def _soil_surface(sh2o1, tg, fsno, p):
    """Soil surface resistance [s m-1] (Sakaguchi & Zeng 2009) and surface relative humidity [-].

    sh2o1: liquid water of layer 1 [m3 m-3]; tg: ground temperature [K]; fsno: snow cover;
    p: smcmax, bexp, psisat, d_vap (the dry layer's vapour diffusivity [m2 s-1]), rsurf_snow.
    """
    wet = fmin(1.0, sh2o1 / p.smcmax)
    dry = 1.0 - wet
    l_dry = DZ[0] * (fexp(dry * dry * (dry * dry) * dry) - 1.0) / (math.e - 1.0)    # exp((1 - wet)^5)
    r_soil = 1e6 if sh2o1 < DRY_SURFACE else l_dry / p.d_vap
    r_surf = fsno * p.rsurf_snow + (1.0 - fsno) * r_soil
    psi = -p.psisat * fpow(fmax(0.01, sh2o1) / p.smcmax, -p.bexp)
    h_surf = fsno + (1.0 - fsno) * fexp(fmax(psi * GRAV / (RW * tg), -50.0))
    return r_surf, h_surf


# --- the kernel ---------------------------------------------------------------------------
# Columns (member-major: member * n_cells + cell) are processed in chunks of LANES; each
# stage of the step is a loop over the lanes of a chunk that calls the scalar physics of
# one column (inlined), which the compiler evaluates for several columns at once in SIMD
# registers.  The variables a column carries from one stage to the next are rows of the
# array V (rows x LANES); the energy coefficients are the rows of E; the chunk's parameter
# records are copied to PAR.  A partial chunk repeats its last column in the spare lanes.
# The arithmetic of a lane is the same whether the compiler runs it in a SIMD register or
# alone (IEEE operations only, no fast-math, no libm calls), so a column's result does not
# depend on its lane, chunk or neighbours.

#: Columns per chunk (a multiple of any SIMD width).
LANES = 32
# rows of V: the forcing (FORCING order), the state (COLUMN_FIELDS order, then smc, sh2o, stc by layer)
(V_SW, V_LW, V_TAIR, V_QAIR, V_PSURF, V_WIND, V_RAIN, V_SNOWF,
 V_TV0, V_TG0, V_EAH0, V_CANWAT0, V_SNEQV0, V_SNOWH0, V_ALB0, V_LF, V_ST, V_RT, V_WD, V_FC, V_SB, V_LAI0, V_SAI0,
 V_TBOT0) = range(24)
V_SMC0, V_SH2O0, V_STC0 = 24, 28, 32
# the new state (the rows of the kernel's `new` block) and the fluxes (FLUXES order)
V_NEW = 36
V_SMC, V_SH2O, V_STC = V_NEW, V_NEW + 4, V_NEW + 8
(V_TV, V_TG, V_EAH, V_CANWAT, V_SNEQV, V_SNOWH, V_ALB, V_LFN, V_STN, V_RTN, V_WDN, V_FCN, V_SBN, V_LAI, V_SAI,
 V_TBOT) = range(V_NEW + 12, V_NEW + 28)
V_FLUX = V_NEW + 28
(V_ET, V_TRANSP, V_ECAN, V_ESOIL, V_ESNOW, V_QS, V_QSB, V_GPP, V_NEE, V_NPP, V_MELT, V_SWNET, V_LWNET, V_HFX,
 V_LH, V_GHF, V_FSNO, V_BTRAN, V_WERR, V_ERES) = range(V_FLUX, V_FLUX + 20)
# what a column carries between stages
(V_WATER0, V_IGS, V_LAI_SUN, V_LAI_SHA, V_PSN_SUN, V_PSN_SHA, V_WMAX, V_RAIN_GROUND, V_LAT_V, V_LAT_G,
 V_CLAMP, V_TV2, V_TG2, V_LE_EVAP, V_LE_TRANSP, V_LE_GROUND, V_G, V_MELT_E, V_TOP, V_DRAIN, V_RUNOFF, V_QS_INF,
 V_ROOT, V_SICE, V_ET_L, V_K, V_D) = (V_FLUX + 20 + i for i in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                                               15, 16, 17, 18, 19, 20, 21, 22, 26, 30, 34, 38))
N_ROWS = V_FLUX + 20 + 42


@jit
def _layers(v, row, l):
    """The four layer values v[row:row+4, l] as a 4-tuple."""
    return v[row, l], v[row + 1, l], v[row + 2, l], v[row + 3, l]


@jit
def _put_layers(v, row, l, values):
    """Store a 4-tuple into v[row:row+4, l]."""
    v[row, l], v[row + 1, l], v[row + 2, l], v[row + 3, l] = values


@jit
def _lanes(col0, nl, n_cells, members, cells):
    """The member and cell of each lane of the chunk of columns col0 .. col0 + nl - 1 (spare lanes: the last).

    Columns are counted member-major: column = member * n_cells + cell.
    """
    m, c = divmod(col0, n_cells)
    for l in range(LANES):
        members[l], cells[l] = m, c
        if l + 1 < nl:
            c += 1
            if c == n_cells:
                m, c = m + 1, 0


@jit
def _load(v, forcing, smc_in, sh2o_in, stc_in, columns, members, cells):
    """Copy the forcing and the state of the chunk's columns (members[l], cells[l]) into the lanes."""
    for l in range(LANES):
        m, c = members[l], cells[l]
        for i in range(8):
            v[V_SW + i, l] = forcing[i, m, c]
        for i in range(16):
            v[V_TV0 + i, l] = columns[i][m, c]
        for k in range(4):
            v[V_SMC0 + k, l] = smc_in[k, m, c]
            v[V_SH2O0 + k, l] = sh2o_in[k, m, c]
            v[V_STC0 + k, l] = stc_in[k, m, c]


@jit
def _store(v, new, out, members, cells, nl):
    """Copy the new state and the fluxes of the chunk's (valid) lanes to the output blocks."""
    for l in range(nl):
        m, c = members[l], cells[l]
        for i in range(_N_STATE):
            new[i, m, c] = v[V_NEW + i, l]
        for i in range(_N_FLUX):
            out[i, m, c] = v[V_FLUX + i, l]


@jit
def _surface(v, e, par, sun, dt):
    """Stage 1: vegetation structure, radiation, BTRAN, conductances, stomata, interception, energy coefficients."""
    sin_decl, cos_decl, sin_utc, cos_utc = sun
    for l in range(LANES):
        p = par[l]
        swdown, tair, qair, psurf, wind = v[V_SW, l], v[V_TAIR, l], v[V_QAIR, l], v[V_PSURF, l], v[V_WIND, l]
        tv0, tg0, eah0, canwat0 = v[V_TV0, l], v[V_TG0, l], v[V_EAH0, l], v[V_CANWAT0, l]
        sneqv0, snowh0, albedo0, lai0, sai0 = v[V_SNEQV0, l], v[V_SNOWH0, l], v[V_ALB0, l], v[V_LAI0, l], v[V_SAI0, l]
        smc0, sh2o0 = _layers(v, V_SMC0, l), _layers(v, V_SH2O0, l)
        v[V_WATER0, l] = canwat0 + sneqv0 + (DZ[0] * smc0[0] + DZ[1] * smc0[1] + DZ[2] * smc0[2]
                                              + DZ[3] * smc0[3]) * DENH2O

        # vegetation structure and snow burial (PHENOLOGY)
        fb = _buried_fraction(snowh0, p.hvt, p.hvb)
        elai, esai = lai0 * (1.0 - fb), sai0 * (1.0 - fb)
        fveg = vegetation_fraction_column(lai0, sai0, p) if elai + esai > 0 else 0.0
        fsno = snow.cover_fraction(sneqv0, snowh0, p.mfsno)

        # radiation
        cosz = radiation.cos_zenith(p.sin_lat, p.cos_lat, p.sin_lon, p.cos_lon, sin_decl, cos_decl, sin_utc, cos_utc)
        soil_vis, soil_nir = radiation.soil_albedo(sh2o0[0], p)
        g_vis = soil_vis * (1.0 - fsno) + albedo0 * fsno
        g_nir = soil_nir * (1.0 - fsno) + albedo0 * fsno
        (sw_canopy, sw_ground, _, lai_sun, lai_sha, par_sun, par_sha, vai_e,
         fv) = radiation.shortwave(swdown, cosz, elai, esai, fveg, p, g_vis, g_nir)

        # soil-moisture stress, conductances, stomata (with last step's leaf temperature and canopy air)
        bt, root_w = soil_water.btran(sh2o0, p)
        t_surf_prev = fv * tv0 + (1.0 - fv) * tg0
        c_air_veg, c_ground_veg, rb, c_air_bare = energy.exchange_conductances(
            wind, tair, t_surf_prev, vai_e, p.cwpvt, p.dleaf,
            (p.hvt_s, p.disp, p.z0, p.zref, p.log_veg, p.ratio_veg, p.log_top))
        igs = 1.0 if tv0 > p.tmin else 0.0
        leaf = leaf_conditions(tv0, tair, eah0, psurf, rb, bt, igs, FOLN, p)
        rs_sun, psn_sun = stomata_light(par_sun, leaf, p)
        rs_sha, psn_sha = stomata_light(par_sha, leaf, p)

        # interception
        wmax = canopy.capacity(elai, esai, p.ch2op)
        canwat, rain_ground = canopy.intercept(v[V_RAIN, l], canwat0, wmax, fv, dt)
        fwet = canopy.wet_fraction(canwat, wmax)

        # leaf and ground conductances for vapour; the coefficients of the energy balance
        safe_fv = fmax(fv, 1e-6)
        c_leaf = 2.0 * vai_e / rb if fv > 0 else 0.0
        c_evap = fwet * vai_e / rb if fv > 0 else 0.0
        c_transp = (1.0 - fwet) * (lai_sun / safe_fv / (rb + rs_sun) + lai_sha / safe_fv / (rb + rs_sha)) \
            if fv > 0 else 0.0
        r_surf, h_surf = _soil_surface(sh2o0[0], tg0, fsno, p)
        k_ground = soil_heat.ground_conductance(soil_heat.conductivity(smc0[0], sh2o0[0], p), snowh0)
        lat_v, lat_g = energy.latent_heats(tv0, tg0, fsno)
        energy.coefficients(e, l, tair, qair, psurf, v[V_LW, l], sw_canopy, sw_ground, v[V_STC0, l], lat_v, lat_g,
                            fv, 1.0 - fexp(-vai_e), c_leaf, c_evap, c_transp, p.emis_soil * (1.0 - fsno) + fsno,
                            h_surf, r_surf, k_ground, c_air_veg, c_ground_veg, c_air_bare)

        v[V_FSNO, l], v[V_BTRAN, l], v[V_IGS, l] = fsno, bt, igs
        v[V_LAI_SUN, l], v[V_LAI_SHA, l], v[V_PSN_SUN, l], v[V_PSN_SHA, l] = lai_sun, lai_sha, psn_sun, psn_sha
        v[V_WMAX, l], v[V_CANWAT, l], v[V_RAIN_GROUND, l] = wmax, canwat, rain_ground
        v[V_LAT_V, l], v[V_LAT_G, l], v[V_SWNET, l] = lat_v, lat_g, sw_canopy + sw_ground
        v[V_TV, l], v[V_TG, l] = tv0, tg0
        _put_layers(v, V_ROOT, l, root_w)


@jit
def _energy(v, e):
    """Stage 2: the canopy and ground energy balances of all lanes, Newton iterations in lockstep.

    Over snow a ground above freezing is clamped and its lanes restart from (tv, TFRZ);
    the ground balance is then closed (melt energy, ground heat flux).
    """
    for _ in range(energy.NEWTON_ITERATIONS):
        for l in range(LANES):
            r = energy.balance(e, l, v[V_TV, l], v[V_TG, l])
            v[V_TV, l], v[V_TG, l] = energy.newton_update(r, v[V_TV, l], v[V_TG, l], False)
    n_clamped = 0
    for l in range(LANES):
        clamped = energy.snow_clamp(v[V_SNEQV0, l] > 0, v[V_TG, l])
        v[V_CLAMP, l] = 1.0 if clamped else 0.0
        v[V_TV2, l], v[V_TG2, l] = v[V_TV, l], TFRZ
        n_clamped += 1 if clamped else 0
    if n_clamped > 0:                    # (skips work only: every lane's result is its own)
        for _ in range(energy.NEWTON_ITERATIONS):
            for l in range(LANES):
                r = energy.balance(e, l, v[V_TV2, l], v[V_TG2, l])
                v[V_TV2, l], v[V_TG2, l] = energy.newton_update(r, v[V_TV2, l], v[V_TG2, l], True)
        for l in range(LANES):
            clamped = v[V_CLAMP, l] > 0
            v[V_TV, l] = v[V_TV2, l] if clamped else v[V_TV, l]
            v[V_TG, l] = v[V_TG2, l] if clamped else v[V_TG, l]
    for l in range(LANES):
        r = energy.balance(e, l, v[V_TV, l], v[V_TG, l])
        melt_energy, g = energy.close_ground(r[1], r[14], v[V_CLAMP, l] > 0)
        v[V_ERES, l], v[V_EAH, l], v[V_HFX, l] = r[0], r[7], r[8] + r[9]
        v[V_LE_EVAP, l], v[V_LE_TRANSP, l], v[V_LE_GROUND, l] = r[10], r[11], r[12]
        v[V_LWNET, l], v[V_G, l], v[V_MELT_E, l] = -r[13], g, melt_energy


@jit
def _water(v, par, dt):
    """Stage 3: canopy water and evaporation limits, snow, and the soil water's upper boundary (infiltration)."""
    for l in range(LANES):
        p = par[l]
        tair, snowf = v[V_TAIR, l], v[V_SNOWF, l]
        sneqv0, snowh0, fsno = v[V_SNEQV0, l], v[V_SNOWH0, l], v[V_FSNO, l]
        canwat, wmax, lat_v, lat_g = v[V_CANWAT, l], v[V_WMAX, l], v[V_LAT_V, l], v[V_LAT_G, l]
        smc0, sh2o0 = _layers(v, V_SMC0, l), _layers(v, V_SH2O0, l)

        # canopy water: evaporation limited by the store; dew from either leaf flux joins it
        e_evap = v[V_LE_EVAP, l] / lat_v
        e_tran = v[V_LE_TRANSP, l] / lat_v
        evap_mass = fmin(e_evap * dt, canwat)                  # no more than the store holds ...
        over = e_evap - evap_mass / dt                         # ... the rest becomes sensible heat
        e_evap = evap_mass / dt
        h_total = v[V_HFX, l] + over * lat_v
        dew = fmin(e_tran, 0.0)                                # condensation on dry leaves joins the store
        e_canopy = e_evap + dew
        transp = fmax(e_tran, 0.0)
        canwat = canwat - evap_mass - dew * dt
        drip = fmax(canwat - wmax, 0.0)
        canwat = canwat - drip
        rain_ground = v[V_RAIN_GROUND, l] + drip / dt

        # ground evaporation: sublimation from snow, evaporation from soil layer 1
        e_ground = v[V_LE_GROUND, l] / lat_g
        sneqv, snowh = snow.accumulate(sneqv0, snowh0, snowf, tair, dt)
        e_snow = fsno * e_ground
        e_soil = (1.0 - fsno) * e_ground
        subl_mass = fmin(e_snow * dt, sneqv)
        over_snow = e_snow - subl_mass / dt
        avail_soil = fmax(sh2o0[0] - fmax(p.smcdry, DRY_SURFACE), 0.0) * DZ[0] * DENH2O / dt
        over_soil = fmax(e_soil - avail_soil, 0.0)
        e_snow = subl_mass / dt
        e_soil = e_soil - over_soil
        h_extra = over_snow * lat_g + over_soil * lat_g
        h_total = h_total + h_extra
        sneqv = sneqv - subl_mass
        # melt with the energy that the snow surface could not use to warm above freezing
        melt_energy = v[V_MELT_E, l]
        melt = fmin(melt_energy / HFUS * dt, fmax(sneqv, 0.0))
        g_soil = v[V_G, l] + melt_energy - melt * HFUS / dt    # energy beyond the last snow enters the soil
        sneqv = sneqv - melt
        gone = sneqv < 1e-6                                    # vanishing snow leaves as melt water
        fallen = sneqv0 + snowf * dt
        shrunk = fmax(snowh * (sneqv / fmax(fallen, 1e-12) if fallen > 0 else 0.0), 0.0)
        melt = melt + sneqv if gone else melt
        sneqv = 0.0 if gone else sneqv
        snowh = snow.settle(sneqv, 0.0 if gone else shrunk, dt)

        # soil water: what reaches the surface, infiltration, transpiration from the root layers
        qinsur = rain_ground + melt / dt                       # kg m-2 s-1 reaching the soil surface
        sice = (smc0[0] - sh2o0[0], smc0[1] - sh2o0[1], smc0[2] - sh2o0[2], smc0[3] - sh2o0[3])
        k, d = soil_water.hydraulics_layers(sh2o0, sice, p)
        k1 = k[0] if sh2o0[0] + sice[0] == smc0[0] else soil_water.hydraulics(smc0[0], sice[0], p)[0]
        infil, runoff_inf = soil_water.infiltration(qinsur / DENH2O, smc0, sice, k1, dt, p)
        root_w = _layers(v, V_ROOT, l)
        uptake = transp / DENH2O

        v[V_CANWAT, l], v[V_SNEQV, l], v[V_SNOWH, l] = canwat, sneqv, snowh
        v[V_ALB, l] = snow.albedo_step(v[V_ALB0, l], snowf, dt, p.swemx)
        v[V_TRANSP, l], v[V_ECAN, l], v[V_ESOIL, l], v[V_ESNOW, l] = transp, e_canopy, e_soil, e_snow
        v[V_MELT, l], v[V_HFX, l], v[V_GHF, l] = melt / dt, h_total, g_soil
        v[V_LH, l] = v[V_LE_EVAP, l] + v[V_LE_TRANSP, l] + v[V_LE_GROUND, l] - over * lat_v - h_extra
        v[V_TOP, l], v[V_QS_INF, l], v[V_DRAIN, l], v[V_RUNOFF, l] = infil - e_soil / DENH2O, runoff_inf, 0.0, 0.0
        _put_layers(v, V_SICE, l, sice)
        _put_layers(v, V_SH2O, l, sh2o0)
        _put_layers(v, V_K, l, k)
        _put_layers(v, V_D, l, d)
        _put_layers(v, V_ET_L, l, (uptake * root_w[0], uptake * root_w[1], uptake * root_w[2], uptake * root_w[3]))


@jit
def _richards(v, par, dt, slope, n_sub):
    """Stage 4: the implicit Richards sub-steps of all lanes (K and D of the first from stage 3)."""
    for sub in range(n_sub):
        for l in range(LANES):
            p = par[l]
            sh2o, sice = _layers(v, V_SH2O, l), _layers(v, V_SICE, l)
            if sub == 0:
                k, d = _layers(v, V_K, l), _layers(v, V_D, l)
            else:
                k, d = soil_water.hydraulics_layers(sh2o, sice, p)
            sh2o, dr, rs_ = soil_water.richards_solve(sh2o, sice, k, d, v[V_TOP, l], _layers(v, V_ET_L, l),
                                                      dt / n_sub, p, slope)
            _put_layers(v, V_SH2O, l, sh2o)
            v[V_DRAIN, l] = v[V_DRAIN, l] + dr / n_sub
            v[V_RUNOFF, l] = v[V_RUNOFF, l] + rs_ / n_sub


@jit
def _soil_and_carbon(v, par, dt):
    """Stage 5: soil heat and phase change, carbon and the next LAI, the column's budgets and fluxes."""
    for l in range(LANES):
        p = par[l]
        sh2o, sice = _layers(v, V_SH2O, l), _layers(v, V_SICE, l)
        qs = (v[V_QS_INF, l] + v[V_RUNOFF, l]) * DENH2O        # kg m-2 s-1
        qsb = v[V_DRAIN, l] * DENH2O

        # soil heat and phase change
        smc = (sh2o[0] + sice[0], sh2o[1] + sice[1], sh2o[2] + sice[2], sh2o[3] + sice[3])
        cap = (soil_heat.heat_capacity(smc[0], sh2o[0], p), soil_heat.heat_capacity(smc[1], sh2o[1], p),
               soil_heat.heat_capacity(smc[2], sh2o[2], p), soil_heat.heat_capacity(smc[3], sh2o[3], p))
        tk = (soil_heat.conductivity(smc[0], sh2o[0], p), soil_heat.conductivity(smc[1], sh2o[1], p),
              soil_heat.conductivity(smc[2], sh2o[2], p), soil_heat.conductivity(smc[3], sh2o[3], p))
        stc, _ = soil_heat.diffuse(_layers(v, V_STC0, l), v[V_GHF, l], cap, tk, v[V_TBOT0, l], dt)
        stc, sh2o = soil_heat.phase_change(stc, smc, sh2o, cap, p)

        # carbon and the next step's LAI
        tv = v[V_TV, l]
        psn = v[V_PSN_SUN, l] * v[V_LAI_SUN, l] + v[V_PSN_SHA, l] * v[V_LAI_SHA, l]   # umol CO2 m-2 s-1 (grid)
        w_root = (p.root1 * smc[0] / p.smcmax + p.root2 * smc[1] / p.smcmax + p.root3 * smc[2] / p.smcmax
                  + p.root4 * smc[3] / p.smcmax)
        (lfmass, stmass, rtmass, wood, fastcp, stblcp, gpp, npp, _, _, nee, _, lai, sai) = carbon_column(
            v[V_LF, l], v[V_ST, l], v[V_RT, l], v[V_WD, l], v[V_FC, l], v[V_SB, l],
            psn, v[V_LAI0, l], tv, stc[0], v[V_BTRAN, l], w_root, v[V_IGS, l], dt, p)

        # the new state, the budgets and the fluxes
        tair, tbot0 = v[V_TAIR, l], v[V_TBOT0, l]
        _put_layers(v, V_SMC, l, smc)
        _put_layers(v, V_SH2O, l, sh2o)
        _put_layers(v, V_STC, l, stc)
        v[V_LFN, l], v[V_STN, l], v[V_RTN, l], v[V_WDN, l], v[V_FCN, l], v[V_SBN, l] = (lfmass, stmass, rtmass, wood,
                                                                                     fastcp, stblcp)
        v[V_LAI, l], v[V_SAI, l] = lai, sai
        v[V_TBOT, l] = tbot0 + (tair - tbot0) * (dt / TBOT_TIME_SCALE)
        et = v[V_ECAN, l] + v[V_TRANSP, l] + v[V_ESNOW, l] + v[V_ESOIL, l]
        water_after = v[V_CANWAT, l] + v[V_SNEQV, l] + (DZ[0] * smc[0] + DZ[1] * smc[1] + DZ[2] * smc[2]
                                                      + DZ[3] * smc[3]) * DENH2O
        v[V_WERR, l] = water_after - v[V_WATER0, l] - (v[V_RAIN, l] + v[V_SNOWF, l] - et - qs - qsb) * dt
        v[V_ET, l], v[V_QS, l], v[V_QSB, l] = et, qs, qsb
        v[V_GPP, l], v[V_NEE, l], v[V_NPP, l] = gpp * 1e-3, nee * 1e-3, npp * 1e-3


@kernel
def _step_kernel(table, forcing, smc_in, sh2o_in, stc_in, columns, new, out, dt, slope, n_sub,
                 sin_decl, cos_decl, sin_utc, cos_utc):
    """One model step of every column (m, c): reads the state arrays, writes the new state and the fluxes.

    table: (n_cells,) parameter records; forcing: (8, n_ens, n_cells) in the order FORCING;
    the state: smc, sh2o, stc (4, n_ens, n_cells) and the tuple of COLUMN_FIELDS arrays
    (n_ens, n_cells); new: (_N_STATE, n_ens, n_cells) the new smc, sh2o, stc and column
    fields; out: (len(FLUXES), n_ens, n_cells) the fluxes; dt [s]; slope: free-drainage
    factor; n_sub: Richards sub-steps; the sun at mid-step (radiation.solar_position).
    """
    n_ens, n_cells = columns[0].shape
    v = np.empty((N_ROWS, LANES))
    e = np.empty((energy.N_COEF, LANES))
    par = np.empty(LANES, dtype=table.dtype)
    sun = (sin_decl, cos_decl, sin_utc, cos_utc)
    members = np.empty(LANES, dtype=np.int64)
    cells = np.empty(LANES, dtype=np.int64)
    n_columns = n_ens * n_cells
    for col0 in range(0, n_columns, LANES):
        nl = min(LANES, n_columns - col0)
        _lanes(col0, nl, n_cells, members, cells)
        for l in range(LANES):                       # (a copy: the lanes then read it from the cache)
            par[l] = table[cells[l]]
        _load(v, forcing, smc_in, sh2o_in, stc_in, columns, members, cells)
        _surface(v, e, par, sun, dt)
        _energy(v, e)
        _water(v, par, dt)
        _richards(v, par, dt, slope, n_sub)
        _soil_and_carbon(v, par, dt)
        _store(v, new, out, members, cells, nl)
