"""mpilda's Noah-MP 4.0.1: one 900 s step for all columns, one compiled kernel.

A re-implementation of the Noah-MP 4.0.1 land surface model (Niu et al. 2011, Yang
et al. 2011) as NASA LIS runs it, with LIS's options: dynamic vegetation DVEG = 2
(FVEG from LAI + SAI) or 5 (FVEG = the cell's maximum SHDMAX, the paper's), Ball-Berry
stomata, the Noah soil-moisture stress, Schaake runoff with free drainage, Monin-Obukhov
surface layer, Niu & Yang frozen soil, the two-stream canopy with a gap of 1 - FVEG,
CLASS snow albedo, Jordan's rain/snow split, TBOT at 8 m, semi-implicit soil heat,
Sakaguchi & Zeng soil resistance.  The order of a step is NOAHMP_SFLX's:

1. the forcing: air density, vapour pressure, rain and snow of the total precipitation;
2. phenology: leaf and stem area buried by snow, FVEG;
3. precipitation through the canopy (interception of rain and snow, advected heat);
4. energy: thermal properties, snow cover, shortwave (snow age and albedo, two-stream),
   soil-water stress and the soil's surface resistance, the vegetated and the bare
   energy balances, soil and snow heat diffusion, phase change;
5. water: canopy water, the snowpack (snowfall, compaction, layers, percolation), soil
   water (infiltration, Richards' equation, drainage);
6. carbon: photosynthate allocation, respiration, turnover, and the new LAI and SAI.

The physics are numba functions in the modules :mod:`canopy`, :mod:`radiation`,
:mod:`surface`, :mod:`energy`, :mod:`photosynthesis`, :mod:`soil_heat`, :mod:`snow`,
:mod:`soil_water` and :mod:`vegetation`.  The kernel takes the columns 16 at a time
(a chunk, padded by repeating its last column) and runs the stages of the step as
loops over the chunk's lanes that the compiler turns into SIMD code: branch-free
(selects), iterations masked per lane, so every column gets exactly the arithmetic it
would get alone.  Only the snowpack's layering runs column by column, and only for
the columns with snow.  No arithmetic mixes columns, so results do not depend on how
the columns are split over chunks or ranks.

Every step checks, per column, the water balance (the change of stored water against
precipitation - evapotranspiration - runoff, with Noah-MP's own small discards of
water booked as such) and the energy balance of the surface (absorbed shortwave +
advected heat = net longwave + sensible + latent + ground heat); ``step`` raises
``BalanceError`` beyond the tolerances (NaN counts as beyond).
"""

from __future__ import annotations

import datetime as dt
import time as _time
from collections import namedtuple
from dataclasses import dataclass

import numpy as np

from .canopy import canopy_water, intercept, precipitation_phase
from .constants import CPAIR, CSOIL, DZ, HSUB, HVAP, RAIR, SB, TFRZ, Z0_BARE, ZSOIL
from . import energy
from .jit import LANES, fexp, fmax, fmin, fsqrt, jit, kernel, records, select
from .parameters import SHDMAX_BY_CLASS, SoilTable, VegetationTable, read_mptable, read_soilparm
from .photosynthesis import photosynthesis_params
from . import radiation
from .radiation import cos_zenith_cells, snow_albedo, snow_age
from .snow import cover_fraction, snow_water
from . import soil_heat
from .soil_heat import conductivity_constants
from . import soil_water
from .soil_water import btran, infiltration_constants, soil_surface, surface_diffusivity
from .state import N_VALUES, OFFSET, State
from . import vegetation
from .vegetation import carbon_params, cold_start_pools, phenology_column, vegetation_fraction_column

#: Water balance tolerance per column and step [kg m-2] (float64 closes to ~1e-12).
WATER_TOLERANCE = 1e-9
#: Surface energy balance tolerance [W m-2] (Noah-MP ERROR's 0.01 W m-2).
ENERGY_TOLERANCE = 0.01
#: Foliage nitrogen [%] (Noah-MP's driver fixes FOLN = 1.0).
FOLN = 1.0
#: Soil water limits [m3 m-3] and heat capacity of soil solids [J m-3 K-1] of urban cells (LIS's
#: TRANSFER_MP_PARAMETERS); urban soil also has a conductivity of 3.24 W m-1 K-1 (THERMOPROP), no soil
#: evaporation (RSURF = 1e6 without snow) and an impermeable fraction 0.95 of layer 1 (SOILWATER).
URBAN_SOIL = dict(smcmax=0.45, smcref=0.42, smcwlt=0.40, smcdry=0.40, csoil=3.0e6)
#: Soil colour index (MPTABLE's soil albedos): 4, LIS's default everywhere.
SOIL_COLOUR = 4
#: Cold start (NOAHMP_INIT via LIS's cold start): total soil water [m3 m-3] (at most porosity), initial snow
#: albedo, and the constants of the initial freezing-point depression (latent heat [J kg-1], g [m s-2], T0 [K]).
COLD_START_SMC = 0.30
COLD_START_ALBEDO = 0.65
_INIT_HLICE, _INIT_GRAV, _INIT_T0 = 3.335e5, 9.81, 273.15

#: The forcing fields a step reads, in the order of the kernel's forcing block.
FORCING = ("swdown", "lwdown", "tair", "qair", "psurf", "wind", "rainf", "snowf")
#: The fluxes a step returns [SI units], in the order of the kernel's flux block.  ``discarded`` [kg m-2 s-1] is
#: the water Noah-MP drops from traces of canopy water and of a layer-less snowpack (negative: creates).
FLUXES = ("et", "transpiration", "canopy_evaporation", "soil_evaporation", "qs", "qsb", "gpp", "nee", "npp",
          "snowmelt", "swnet", "lwnet", "hfx", "lh", "ghf", "fsno", "btran", "fveg", "tskin", "discarded",
          "water_error", "energy_residual")
_N_FLUX = len(FLUXES)
(_F_ET, _F_TRANSP, _F_ECAN, _F_EDIR, _F_QS, _F_QSB, _F_GPP, _F_NEE, _F_NPP, _F_MELT, _F_SWNET, _F_LWNET, _F_HFX,
 _F_LH, _F_GHF, _F_FSNO, _F_BTRAN, _F_FVEG, _F_TSKIN, _F_DISCARD, _F_WERR, _F_ERES) = range(_N_FLUX)
#: Dynamic vegetation options the model offers.
DVEG_OPTIONS = (2, 5)

# offsets of the state block (state.LAYOUT)
_SMC, _SH2O, _STC7, _SNICE, _SNLIQ, _DZSNO = (OFFSET[k] for k in ("smc", "sh2o", "tsno", "snice", "snliq", "dzsno"))
(_NSNOW, _TV, _TG, _TAH, _EAH, _CANLIQ, _CANICE, _SNEQV, _SNOWH, _SNEQVO, _ALBOLD, _TAUSS, _LF, _ST, _RT, _WD, _FC,
 _SB, _LAI, _SAI) = (OFFSET[k] for k in ("nsnow", "tv", "tg", "tah", "eah", "canliq", "canice", "sneqv", "snowh",
                                         "sneqvo", "albold", "tauss", "lfmass", "stmass", "rtmass", "wood", "fastcp",
                                         "stblcp", "lai", "sai"))
_DZ = (float(DZ[0]), float(DZ[1]), float(DZ[2]), float(DZ[3]))
_ZSOIL = (float(ZSOIL[0]), float(ZSOIL[1]), float(ZSOIL[2]), float(ZSOIL[3]))


class BalanceError(RuntimeError):
    """A column's water or energy balance does not close."""


@dataclass(frozen=True)
class ModelSettings:
    """Choices of the model that a run may change ([model] section)."""

    dt: float = 900.0
    dveg: int = 5                    # dynamic vegetation: 2 (FVEG from LAI+SAI) or 5 (FVEG = SHDMAX, the paper's)
    drainage_slope: float = 0.1      # SLOPE of free drainage (GENPARM SLOPE_DATA of slope type 1)
    reference_height: float = 10.0   # height of the forcing's temperature, humidity and wind above the canopy [m]
    check_balance: bool = True

    def __post_init__(self):
        if self.dveg not in DVEG_OPTIONS:
            raise ValueError(f"dveg must be one of {DVEG_OPTIONS}; got {self.dveg}")


class ColumnParameters:
    """Per-cell parameters from class maps, tables and the SHDMAX and TBOT maps.

    Attributes are arrays (n_cells,) (``smcmax``, ``sla``, ``vegetated``, ...); ``table``
    is the structured array (n_cells,) of every field the kernel reads (the record of a
    cell is what the scalar physics take as ``p``).

    Args:
        landcover, soil: (n_cells,) MODIS-IGBP and STATSGO classes.
        veg, soiltab: the parsed MPTABLE and SOILPARM.
        shdmax: (n_cells,) maximum green vegetation fraction [0-1] (DVEG 5).
        tbot: (n_cells,) temperature at 8 m depth [K].
    """

    def __init__(self, landcover: np.ndarray, soil: np.ndarray, veg: VegetationTable, soiltab: SoilTable,
                 shdmax, tbot):
        lc = np.asarray(landcover, dtype=np.int64)
        sc = np.asarray(soil, dtype=np.int64)
        if lc.min() < 1 or lc.max() > veg.n_classes:
            raise ValueError(f"land-cover classes must be 1..{veg.n_classes}; got {lc.min()}..{lc.max()}")
        if sc.min() < 1 or sc.max() > len(soiltab.names):
            raise ValueError(f"soil classes must be 1..{len(soiltab.names)}; got {sc.min()}..{sc.max()}")
        self.landcover, self.soil, self.n_cells = lc, sc, lc.size
        self.shdmax = np.broadcast_to(np.asarray(shdmax, dtype=np.float64), lc.shape).copy()
        self.tbot = np.broadcast_to(np.asarray(tbot, dtype=np.float64), lc.shape).copy()
        s = soiltab.column
        self.urban = lc == veg.special["ISURBAN"]
        # LIS's TRANSFER_MP_PARAMETERS gives urban cells fixed soil water limits and a larger soil heat capacity
        self.smcmax = np.where(self.urban, URBAN_SOIL["smcmax"], s("MAXSMC", sc))
        self.smcref = np.where(self.urban, URBAN_SOIL["smcref"], s("REFSMC", sc))
        self.smcwlt = np.where(self.urban, URBAN_SOIL["smcwlt"], s("WLTSMC", sc))
        self.smcdry = np.where(self.urban, URBAN_SOIL["smcdry"], s("DRYSMC", sc))
        self.csoil = np.where(self.urban, URBAN_SOIL["csoil"], CSOIL)
        self.bexp, self.psisat = s("BB", sc), s("SATPSI", sc)
        self.satdk, self.satdw, self.quartz = s("SATDK", sc), s("SATDW", sc), s("QTZ", sc)
        kdt, frzx = infiltration_constants(self.satdk, self.smcmax, self.smcref)
        d_rsurf = surface_diffusivity(self.smcmax, self.smcwlt, self.bexp)
        v = veg.column
        keys = ("CH2OP", "DLEAF", "Z0MVT", "HVT", "HVB", "XL", "CWPVT", "MFSNO", "RHOL_VIS", "RHOL_NIR", "RHOS_VIS",
                "RHOS_NIR", "TAUL_VIS", "TAUL_NIR", "TAUS_VIS", "TAUS_NIR", "SLA")
        for key in keys:
            setattr(self, key.lower(), v(key, lc))
        self.nroot = v("NROOT", lc).astype(np.int64)
        self.photo = photosynthesis_params(veg, lc)
        self.carbon = carbon_params(veg, lc, foln=FOLN)
        self.vegetated = self.carbon.vegetated
        self.lai_table = veg.lai[:, lc - 1]
        self.sai_table = veg.sai[:, lc - 1]
        colour = SOIL_COLOUR - 1
        rad = veg.rad
        fields = dict(urban=self.urban.astype(np.float64), csoil=self.csoil,
                      smcmax=self.smcmax, smcref=self.smcref, smcwlt=self.smcwlt, smcdry=self.smcdry, bexp=self.bexp,
                      psisat=self.psisat, satdk=self.satdk, satdw=self.satdw, quartz=self.quartz, kdt=kdt, frzx=frzx,
                      d_rsurf=d_rsurf, **conductivity_constants(self.smcmax, self.quartz),
                      nroot=self.nroot.astype(np.float64), shdmax=self.shdmax, tbot=self.tbot,
                      **{k.lower(): getattr(self, k.lower()) for k in keys},
                      albsat_vis=rad["ALBSAT_VIS"][colour], albsat_nir=rad["ALBSAT_NIR"][colour],
                      albdry_vis=rad["ALBDRY_VIS"][colour], albdry_nir=rad["ALBDRY_NIR"][colour],
                      omegas_vis=rad["OMEGAS"][0], omegas_nir=rad["OMEGAS"][1], betads=rad["BETADS"][0],
                      betais=rad["BETAIS"][0], eg_soil=rad["EG"][0], swemx=veg.glob["SWEMX"],
                      z0sno=veg.glob["Z0SNO"], ssi=veg.glob["SSI"],
                      **self.photo.record_fields(), **self.carbon.record_fields())
        self.table = records(fields, lc.shape)
        # The LANE_PARAMS of the cells (rows of the kernel's parameter block) as the few distinct sets the
        # classes give (lanes, (n_sets, N_PARAMS), small enough to stay in cache) and each cell's set
        # (lane_set), but for the cell's own SHDMAX and TBOT (per_cell, (n_cells, 2)), which the sets hold as 0.
        per_cell = np.stack([np.broadcast_to(np.asarray(fields[k], dtype=np.float64), lc.shape)
                             for k in LANE_PARAMS], axis=-1).reshape(-1, len(LANE_PARAMS))
        self.per_cell = np.ascontiguousarray(per_cell[:, [_P_SHDMAX, _P_TBOT]])
        per_cell[:, [_P_SHDMAX, _P_TBOT]] = 0.0
        sets, inverse = np.unique(per_cell, axis=0, return_inverse=True)
        self.lanes = np.ascontiguousarray(sets)
        self.lane_set = inverse.reshape(-1).astype(np.int64)


def _monthly(table: np.ndarray, time: dt.datetime) -> np.ndarray:
    """A monthly climatology (12, n) interpolated between mid-months."""
    doy = time.timetuple().tm_yday
    t = 12.0 * doy / 365.25 - 0.5
    m0 = int(np.floor(t)) % 12
    w = t - np.floor(t)
    return (1.0 - w) * table[m0] + w * table[(m0 + 1) % 12]


class NoahMP:
    """The land surface model behind mpilda's run loop.

    Interface (all a different model needs to offer): ``cold_start(n_ens, forcing, time)
    -> State``, ``step(state, forcing, time) -> fluxes`` (the state's fields are replaced
    by the new ones), ``DA_VARIABLES`` and ``get`` of them.

    Args:
        landcover, soil: (n_cells,) MODIS-IGBP and STATSGO classes of the cells.
        lat, lon: (n_cells,) cell centres [degrees].
        vegtable, soiltable: parsed MPTABLE/SOILPARM (default: the shipped tables).
        settings: the model's options.
        shdmax: (n_cells,) maximum vegetation fraction (DVEG 5; default: the class's typical value,
            ``parameters.SHDMAX_BY_CLASS``).
        tbot: (n_cells,) temperature at 8 m [K] (default 285 K).
    """

    #: State variables an analysis may update: volumetric soil moisture of each layer and LAI.
    DA_VARIABLES = ("sm1", "sm2", "sm3", "sm4", "lai")

    def __init__(self, landcover, soil, lat, lon, vegtable: VegetationTable | None = None,
                 soiltable: SoilTable | None = None, settings: ModelSettings = ModelSettings(), shdmax=None,
                 tbot=None):
        self.veg = vegtable or read_mptable()
        self.soiltab = soiltable or read_soilparm()
        self.lat, self.lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        if shdmax is None:
            shdmax = np.array([SHDMAX_BY_CLASS.get(int(k), 0.5) for k in np.asarray(landcover).ravel()])
        self.p = ColumnParameters(landcover, soil, self.veg, self.soiltab, shdmax, 285.0 if tbot is None else tbot)
        self.settings = settings
        #: Set to a dict to accumulate the seconds spent in the parts of ``step`` (prepare, kernel, check).
        self.timings: dict[str, float] | None = None

    # -- state ----------------------------------------------------------------
    def cold_start(self, n_ens: int, forcing: dict, time: dt.datetime) -> State:
        """The cold start of LIS's Noah-MP (NOAHMP_INIT): the state of every column before its first step.

        Soil water 0.30 m3 m-3 (at most porosity), liquid water from the freezing-point
        depression where the soil starts below 273.149 K; soil, leaf, ground and canopy
        air at the deep temperature TBOT; the canopy air's vapour pressure and
        temperature of the first forcing (LIS's first-step glue); no snow, no canopy
        water; LAI of the MPTABLE climatology at ``time`` (at least 0.05), SAI = max(0.1
        LAI, 0.05) and Noah-MP's initial carbon pools.
        """
        p = self.p
        shape = (n_ens, p.n_cells)
        block = np.zeros((N_VALUES,) + shape)
        s = State.from_block(block)
        tbot = np.broadcast_to(p.tbot, shape)
        smc = np.minimum(COLD_START_SMC, p.smcmax)
        frozen = p.tbot < 273.149
        # FK = theta_s ((L_f / (g (-psi_s))) (T - T0)/T)^(-1/b), at least 0.02 (NOAHMP_INIT)
        ratio = np.where(frozen, _INIT_HLICE / (_INIT_GRAV * -p.psisat) * (p.tbot - _INIT_T0) / p.tbot, 1.0)
        fk = np.maximum(np.abs(ratio) ** (-1.0 / p.bexp) * p.smcmax, 0.02)
        sh2o = np.where(frozen, np.minimum(fk, smc), smc)
        s.smc[:] = smc[None, None, :]
        s.sh2o[:] = sh2o[None, None, :]
        s.stc[:] = tbot[None]
        s.tv[:] = tbot
        s.tg[:] = tbot
        q = np.broadcast_to(np.asarray(forcing["qair"], dtype=np.float64), shape)
        w = q / (1.0 - q)                                      # mixing ratio, as LIS's glue passes it
        s.eah[:] = np.broadcast_to(forcing["psurf"], shape) * (w / (0.622 + w))
        s.tah[:] = np.broadcast_to(forcing["tair"], shape)
        s.albold[:] = COLD_START_ALBEDO
        lai = np.where(p.vegetated, np.maximum(_monthly(p.lai_table, time), 0.05), 0.0)
        sai = np.where(p.vegetated, np.maximum(0.1 * lai, 0.05), 0.0)
        pools = cold_start_pools(np.broadcast_to(lai, shape), np.broadcast_to(sai, shape), p.carbon)
        for name in ("lfmass", "stmass", "rtmass", "wood", "fastcp", "stblcp"):
            getattr(s, name)[:] = getattr(pools, name)
        s.lai[:] = lai
        s.sai[:] = sai
        return s

    def get(self, state: State, name: str) -> np.ndarray:
        """A DA state variable as a (n_ens, n_cells) array."""
        if name == "lai":
            return state.lai
        return state.smc[int(name[2]) - 1]

    # -- the step -------------------------------------------------------------------
    def step(self, s: State, forcing: dict, time: dt.datetime) -> dict[str, np.ndarray]:
        """Advance all columns by one step from ``time``; returns the step's fluxes (SI units).

        The state's fields are replaced by views of a new block; the fluxes are views of
        another block, fresh every step.
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
        cosz = cos_zenith_cells(time + dt.timedelta(seconds=dt_ / 2), self.lat, self.lon)
        xin = s.block()
        xout = np.empty_like(xin)
        out = np.empty((_N_FLUX,) + shape)
        if timings is not None:
            t1 = _time.perf_counter()
        _step_kernel(self.p.table, self.p.lanes, self.p.lane_set, self.p.per_cell, block, cosz, xin, xout, out, dt_, int(settings.dveg),
                     float(settings.drainage_slope), float(settings.reference_height))
        if timings is not None:
            t2 = _time.perf_counter()
        new = State.from_block(xout)
        for name, value in new.arrays().items():
            setattr(s, name, value)
        fluxes = {name: out[i] for i, name in enumerate(FLUXES)}
        if settings.check_balance:
            self._check(fluxes, time)
        if timings is not None:
            t3 = _time.perf_counter()
            for key, seconds in (("prepare", t1 - t0), ("kernel", t2 - t1), ("check", t3 - t2)):
                timings[key] = timings.get(key, 0.0) + seconds
        return fluxes

    def _check(self, fluxes, time):
        """Raise BalanceError if a column's water error or energy residual exceeds its tolerance (or is NaN)."""
        for key, tol, what, unit in (("water_error", WATER_TOLERANCE, "water balance", "kg m-2"),
                                     ("energy_residual", ENERGY_TOLERANCE, "surface energy balance", "W m-2")):
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


# --- the step of a chunk of columns ---------------------------------------------------------------
# The kernel takes LANES columns at a time in one lane-major block B (B[row * LANES + lane]) with the regions:
# the state X (N_VALUES rows, LAYOUT order), the forcing F (8 rows, FORCING order), the parameters P (LANE_PARAMS
# rows), the values carried between the stages C (N_CARRY rows), cos z, the blocks of the vectorised stages (E
# energy, R shortwave, H soil heat, S soil water, K carbon) and the fluxes O.  One block for all: the compiler
# then sees that a lane loop's reads and writes do not overlap and vectorises it.  The snowpack of a lane with
# snow runs on per-lane work arrays w (rows of 7), ws (16) and imelt (7).
(_C_RAIN, _C_SNOW, _C_QRAIN, _C_QSNOW, _C_SNOWHIN, _C_BDFALL, _C_WATER0, _C_ELAI, _C_ESAI, _C_FVEG, _C_IGS,
 _C_LATHEAG, _C_FROZEN_CANOPY, _C_FROZEN_GROUND, _C_FSNO, _C_ET, _C_ETRAN, _C_EDIR, _C_ECAN, _C_SNOFLOW, _C_DISCARD,
 _C_PSN, _C_MELT, _C_FSA, _C_FIRA, _C_FSH, _C_LH, _C_SSOIL, _C_PAH, _C_TRAD, _C_FGEV, _C_FCEV, _C_FCTR, _C_FICEOLD,
 _, _, _C_BTRANI, _, _, _, _C_SICE, _, _, _, _C_QSNSUB, _C_QSNFRO, _C_QSEVA, _C_QSDEW, _C_QSNBOT, _C_PONDING1,
 _C_PONDING2, _C_SNOWY) = range(52)
N_CARRY = 52
# rows of the carbon's lane block (vegetation.CARBON_ROWS)
(_K_LF, _K_ST, _K_RT, _K_WD, _K_FC, _K_SB, _K_PSN, _K_LAI, _K_TV, _K_STC1, _K_BTRAN, _K_WROOT,
 _K_IGS) = range(13)
_K_P = vegetation.CARBON_ROWS[vegetation.CARBON_FIELDS[0]]
_K_RESULTS = tuple(vegetation.CARBON_ROWS[k] for k in ("lf_new", "st_new", "rt_new", "wd_new", "fc_new", "sb_new",
                                                       "gpp", "npp", "nee", "lai_new", "sai_new"))
#: The parameters of a column the lane stages read (rows of the region P of the lane block, in this order; the
#: runs from smcmax, cwpvt, xl and lapm on are copied as they are into the rows of the soil water, the energy
#: balance, the shortwave and the carbon).
_SOIL_RUN = ("smcmax", "smcwlt", "bexp", "satdk", "satdw", "kdt", "frzx", "urban")
_ENERGY_RUN = ("cwpvt", "dleaf", "vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "ko25", "c3psn", "ln_akc", "ln_ako",
               "ln_avcmx", "co2", "o2")
_RADIATION_RUN = ("xl", "betads", "betais", "rhol_vis", "rhol_nir", "rhos_vis", "rhos_nir", "taul_vis", "taul_nir",
                  "taus_vis", "taus_nir", "albsat_vis", "albsat_nir", "albdry_vis", "albdry_nir", "omegas_vis",
                  "omegas_nir")
LANE_PARAMS = (("nroot", "vegetated", "hvt", "hvb", "tmin", "shdmax", "ch2op", "mfsno", "z0sno", "z0mvt", "swemx",
                "smcref", "psisat", "d_rsurf", "eg_soil", "tbot", "tk_solids", "tk_dry", "csoil")
               + _SOIL_RUN + _ENERGY_RUN + _RADIATION_RUN + vegetation.CARBON_FIELDS)
N_PARAMS = len(LANE_PARAMS)
(_P_NROOT, _P_VEGETATED, _P_HVT, _P_HVB, _P_TMIN, _P_SHDMAX, _P_CH2OP, _P_MFSNO, _P_Z0SNO, _P_Z0MVT, _P_SWEMX,
 _P_SMCREF, _P_PSISAT, _P_D_RSURF, _P_EG_SOIL, _P_TBOT, _P_TK_SOLIDS, _P_TK_DRY, _P_CSOIL, _P_SMCMAX, _P_SMCWLT,
 _P_BEXP) = range(22)
_P_URBAN = LANE_PARAMS.index("urban")
_P_CWPVT = LANE_PARAMS.index("cwpvt")
_P_XL = LANE_PARAMS.index("xl")
_P_CARBON = len(LANE_PARAMS) - len(vegetation.CARBON_FIELDS)
_SOIL_PARAMS = tuple(getattr(soil_water, k.upper()) for k in _SOIL_RUN)
_ENERGY_PARAMS = tuple(getattr(energy, k.upper()) for k in _ENERGY_RUN)
_RADIATION_PARAMS = tuple(getattr(radiation, k.upper()) for k in _RADIATION_RUN)
# regions of the kernel's lane block B [rows]: state, forcing, parameters, carry, cos z, the blocks of the energy
# balance, the shortwave, the soil heat, the soil water and the carbon, and the fluxes
_XB = 0
_FB = _XB + N_VALUES
_PB = _FB + len(FORCING)
_CB = _PB + N_PARAMS
_ZB = _CB + N_CARRY
_EB = _ZB + 1
_RB = _EB + len(energy.ROWS)
_HB = _RB + len(radiation.ROWS)
_SB = _HB + len(soil_heat.ROWS)
_KB = _SB + len(soil_water.ROWS)
_OB = _KB + len(vegetation.CARBON_ROWS)
_B_ROWS = _OB + _N_FLUX
_Phenology = namedtuple("_Phenology", ("vegetated", "hvt", "hvb", "tmin", "shdmax"))
_SoilSurface = namedtuple("_SoilSurface", ("smcmax", "bexp", "psisat", "d_rsurf", "urban"))


@jit
def _prepare(B, dt, dveg, zref):
    """The step of the chunk's columns up to the energy balances, in SIMD lanes: the forcing, phenology and
    FVEG, precipitation through the canopy, the surface's roughness and snow cover, snow age and albedo, the
    soil-water stress and the soil's surface resistance.  Reads the regions X, F, P and the sun (cos z) of the
    chunk's lane block B and fills the inputs of its regions E (but for the shortwave and the top layer's
    conductivity), R and H, and the carry C.  (One block for all: the compiler then sees that the lane loop's
    reads and writes do not overlap, and vectorises it.)"""
    L = LANES
    for l in range(L):
        swdown_in, lwdn, sfctmp, qair = B[(_FB + 0) * L + l], B[(_FB + 1) * L + l], B[(_FB + 2) * L + l], B[(_FB + 3) * L + l]
        sfcprs, wind, rainf, snowf = B[(_FB + 4) * L + l], B[(_FB + 5) * L + l], B[(_FB + 6) * L + l], B[(_FB + 7) * L + l]
        top = 3.0 - B[(_XB + _NSNOW) * L + l]
        tv, tg = B[(_XB + _TV) * L + l], B[(_XB + _TG) * L + l]
        canliq, canice, sneqv, snowh = B[(_XB + _CANLIQ) * L + l], B[(_XB + _CANICE) * L + l], B[(_XB + _SNEQV) * L + l], B[(_XB + _SNOWH) * L + l]
        hvt = B[(_PB + _P_HVT) * L + l]
        day = B[_ZB * L + l] > 0.0

        # --- the forcing (ATM)
        eair = qair * sfcprs / (0.622 + 0.378 * qair)
        rhoair = (sfcprs - 0.378 * eair) / (RAIR * sfctmp)
        rain, snow, fp, bdfall = precipitation_phase(sfctmp, rainf + snowf)
        water0 = canliq + canice + sneqv
        for k in range(4):
            water0 += B[(_XB + _SMC + k) * L + l] * _DZ[k] * 1000.0
        for j in range(3):
            ice, liq = B[(_XB + _SNICE + j) * L + l], B[(_XB + _SNLIQ + j) * L + l]
            B[(_CB + _C_FICEOLD + j) * L + l] = select(j >= top, ice / (ice + liq), 0.0)

        # --- phenology and the vegetated fraction
        pp = _Phenology(B[(_PB + _P_VEGETATED) * L + l], hvt, B[(_PB + _P_HVB) * L + l], B[(_PB + _P_TMIN) * L + l], B[(_PB + _P_SHDMAX) * L + l])
        lai, sai, elai, esai, igs = phenology_column(B[(_XB + _LAI) * L + l], B[(_XB + _SAI) * L + l], snowh, tv, pp)
        fveg = vegetation_fraction_column(dveg, lai, sai, elai, esai, pp)

        # --- precipitation through the canopy
        canliq, canice, qrain, qsnow, fwet, pahv, pahg, pahb = intercept(rain, snow, fp, bdfall, elai, esai, fveg,
                                                                          canliq, canice, tv, tg, sfctmp, wind, dt,
                                                                          B[(_PB + _P_CH2OP) * L + l])

        # --- the surface: roughness, displacement and reference heights of the vegetated and the bare part
        vai = elai + esai
        veg = vai > 0.0
        fsno = cover_fraction(snowh, sneqv, B[(_PB + _P_MFSNO) * L + l])
        z0mg = Z0_BARE * (1.0 - fsno) + fsno * B[(_PB + _P_Z0SNO) * L + l]
        zpdg = snowh
        z0m = select(veg, B[(_PB + _P_Z0MVT) * L + l], z0mg)
        zpd = select(veg, select(snowh > 0.65 * hvt, snowh, 0.65 * hvt), zpdg)
        zlvl = fmax(zpd, hvt) + zref
        zlvl = select(zpdg >= zlvl, zpdg + zref, zlvl)
        swemx = B[(_PB + _P_SWEMX) * L + l]
        B[(_XB + _TAUSS) * L + l] = select(day, snow_age(dt, tg, B[(_XB + _SNEQVO) * L + l], sneqv, B[(_XB + _TAUSS) * L + l], swemx), B[(_XB + _TAUSS) * L + l])
        albold = select(day, snow_albedo(qsnow, dt, B[(_XB + _ALBOLD) * L + l], swemx), B[(_XB + _ALBOLD) * L + l])

        # --- soil water stress, the soil's surface resistance, latent heats
        bt, w0, w1, w2, w3 = btran(B[(_XB + _SH2O) * L + l], B[(_XB + _SH2O + 1) * L + l], B[(_XB + _SH2O + 2) * L + l], B[(_XB + _SH2O + 3) * L + l],
                                   B[(_PB + _P_NROOT) * L + l], B[(_PB + _P_SMCWLT) * L + l], B[(_PB + _P_SMCREF) * L + l])
        ps = _SoilSurface(B[(_PB + _P_SMCMAX) * L + l], B[(_PB + _P_BEXP) * L + l], B[(_PB + _P_PSISAT) * L + l], B[(_PB + _P_D_RSURF) * L + l],
                          B[(_PB + _P_URBAN) * L + l])
        rsurf, rhsur = soil_surface(B[(_XB + _SH2O) * L + l], snowh, fsno, tg, ps)
        frozen_canopy = not tv > TFRZ
        frozen_ground = not tg > TFRZ
        latheav = select(frozen_canopy, HSUB, HVAP)
        latheag = select(frozen_ground, HSUB, HVAP)

        # --- the blocks' inputs
        B[(_EB + energy.VEG) * L + l] = select(veg & (fveg > 0.0), 1.0, 0.0)
        B[(_EB + energy.DT) * L + l] = dt
        B[(_EB + energy.LWDN) * L + l] = lwdn
        B[(_EB + energy.UR) * L + l] = fmax(abs(wind), 1.0)
        B[(_EB + energy.SFCTMP) * L + l] = sfctmp
        B[(_EB + energy.QAIR) * L + l] = qair
        B[(_EB + energy.EAIR) * L + l] = eair
        B[(_EB + energy.RHOAIR) * L + l] = rhoair
        B[(_EB + energy.SNOWH) * L + l] = snowh
        B[(_EB + energy.VAI) * L + l] = vai
        B[(_EB + energy.GAMMAV) * L + l] = CPAIR * sfcprs / (0.622 * latheav)
        B[(_EB + energy.GAMMAG) * L + l] = CPAIR * sfcprs / (0.622 * latheag)
        B[(_EB + energy.FWET) * L + l] = fwet
        B[(_EB + energy.ZLVL) * L + l] = zlvl
        B[(_EB + energy.ZPD) * L + l] = zpd
        B[(_EB + energy.Z0M) * L + l] = z0m
        B[(_EB + energy.FVEG) * L + l] = fveg
        B[(_EB + energy.Z0MG) * L + l] = z0mg
        B[(_EB + energy.ZPDG) * L + l] = zpdg
        B[(_EB + energy.EMV) * L + l] = 1.0 - fexp(-(elai + esai))
        B[(_EB + energy.EMG) * L + l] = B[(_PB + _P_EG_SOIL) * L + l] * (1.0 - fsno) + fsno
        B[(_EB + energy.CANLIQ) * L + l] = canliq
        B[(_EB + energy.CANICE) * L + l] = canice
        B[(_EB + energy.RSURF) * L + l] = rsurf
        B[(_EB + energy.LATHEAV) * L + l] = latheav
        B[(_EB + energy.IGS) * L + l] = igs
        B[(_EB + energy.BTRAN) * L + l] = bt
        B[(_EB + energy.SFCPRS) * L + l] = sfcprs
        B[(_EB + energy.RHSUR) * L + l] = rhsur
        B[(_EB + energy.PAHV) * L + l] = pahv
        B[(_EB + energy.PAHG) * L + l] = pahg
        B[(_EB + energy.PAHB) * L + l] = pahb
        B[(_EB + energy.FOLN) * L + l] = FOLN
        B[(_EB + energy.EAH) * L + l] = B[(_XB + _EAH) * L + l]
        B[(_EB + energy.TAH) * L + l] = B[(_XB + _TAH) * L + l]
        B[(_EB + energy.TV) * L + l] = tv
        B[(_EB + energy.TG) * L + l] = tg
        B[(_EB + energy.HVT) * L + l] = hvt
        B[(_RB + radiation.COSZ) * L + l] = B[_ZB * L + l]
        B[(_RB + radiation.SWDOWN) * L + l] = select(day, swdown_in, 0.0)
        B[(_RB + radiation.ELAI) * L + l] = elai
        B[(_RB + radiation.ESAI) * L + l] = esai
        B[(_RB + radiation.FVEG) * L + l] = fveg
        B[(_RB + radiation.FWET) * L + l] = fwet
        B[(_RB + radiation.TV) * L + l] = tv
        B[(_RB + radiation.FSNO) * L + l] = fsno
        B[(_RB + radiation.SMC1) * L + l] = B[(_XB + _SMC) * L + l]
        B[(_RB + radiation.ALBSNOW) * L + l] = albold
        B[(_HB + soil_heat.TOP) * L + l] = top
        B[(_HB + soil_heat.DT) * L + l] = dt
        B[(_HB + soil_heat.SNOWH) * L + l] = snowh
        B[(_HB + soil_heat.SNEQV) * L + l] = sneqv
        B[(_HB + soil_heat.TBOT) * L + l] = B[(_PB + _P_TBOT) * L + l]
        B[(_HB + soil_heat.SMCMAX) * L + l] = B[(_PB + _P_SMCMAX) * L + l]
        B[(_HB + soil_heat.TK_SOLIDS) * L + l] = B[(_PB + _P_TK_SOLIDS) * L + l]
        B[(_HB + soil_heat.TK_DRY) * L + l] = B[(_PB + _P_TK_DRY) * L + l]
        B[(_HB + soil_heat.CSOIL_) * L + l] = B[(_PB + _P_CSOIL) * L + l]
        B[(_HB + soil_heat.URBAN) * L + l] = B[(_PB + _P_URBAN) * L + l]
        B[(_HB + soil_heat.PSISAT) * L + l] = B[(_PB + _P_PSISAT) * L + l]
        B[(_HB + soil_heat.BEXP) * L + l] = B[(_PB + _P_BEXP) * L + l]
        B[(_XB + _CANLIQ) * L + l], B[(_XB + _CANICE) * L + l], B[(_XB + _ALBOLD) * L + l], B[(_XB + _LAI) * L + l], B[(_XB + _SAI) * L + l] = canliq, canice, albold, lai, sai
        B[(_CB + _C_RAIN) * L + l], B[(_CB + _C_SNOW) * L + l], B[(_CB + _C_QRAIN) * L + l], B[(_CB + _C_QSNOW) * L + l] = rain, snow, qrain, qsnow
        B[(_CB + _C_SNOWHIN) * L + l], B[(_CB + _C_BDFALL) * L + l], B[(_CB + _C_WATER0) * L + l] = qsnow / bdfall, bdfall, water0
        B[(_CB + _C_ELAI) * L + l], B[(_CB + _C_ESAI) * L + l], B[(_CB + _C_FVEG) * L + l], B[(_CB + _C_IGS) * L + l] = elai, esai, fveg, igs
        B[(_CB + _C_LATHEAG) * L + l], B[(_CB + _C_FSNO) * L + l] = latheag, fsno
        B[(_CB + _C_FROZEN_CANOPY) * L + l] = select(frozen_canopy, 1.0, 0.0)
        B[(_CB + _C_FROZEN_GROUND) * L + l] = select(frozen_ground, 1.0, 0.0)
        B[(_CB + _C_BTRANI) * L + l], B[(_CB + _C_BTRANI + 1) * L + l], B[(_CB + _C_BTRANI + 2) * L + l], B[(_CB + _C_BTRANI + 3) * L + l] = w0, w1, w2, w3
    # the layers, the top layer's temperature and thickness, and the parameters the blocks take as they are
    for i in range(3):
        for l in range(L):
            B[(_HB + soil_heat.DZ + i) * L + l] = B[(_XB + _DZSNO + i) * L + l]
    for k in range(4):
        for l in range(L):
            B[(_HB + soil_heat.DZ + 3 + k) * L + l] = _DZ[k]
    for i in range(7):
        for l in range(L):
            B[(_HB + soil_heat.STC + i) * L + l] = B[(_XB + _STC7 + i) * L + l]
    for j in range(3):
        for l in range(L):
            B[(_HB + soil_heat.SNICE + j) * L + l] = B[(_XB + _SNICE + j) * L + l]
            B[(_HB + soil_heat.SNLIQ + j) * L + l] = B[(_XB + _SNLIQ + j) * L + l]
    for k in range(4):
        for l in range(L):
            B[(_HB + soil_heat.SMC + k) * L + l] = B[(_XB + _SMC + k) * L + l]
            B[(_HB + soil_heat.SH2O + k) * L + l] = B[(_XB + _SH2O + k) * L + l]
    for i in range(len(_ENERGY_PARAMS)):
        for l in range(L):
            B[(_EB + _ENERGY_PARAMS[i]) * L + l] = B[(_PB + _P_CWPVT + i) * L + l]
    for i in range(len(_RADIATION_PARAMS)):
        for l in range(L):
            B[(_RB + _RADIATION_PARAMS[i]) * L + l] = B[(_PB + _P_XL + i) * L + l]


@jit
def _fluxes(B):
    """The cell's fluxes from its two energy balances (E), in lanes: FVEG-weighted sums, the radiative
    temperature, the ground heat flux into the layers (H), the new leaf, ground and canopy-air state."""
    L = LANES
    for l in range(L):
        fveg = B[(_CB + _C_FVEG) * L + l]
        lwdn = B[(_FB + 1) * L + l]
        irb, shb, evb, ghb = B[(_EB + energy.IRB) * L + l], B[(_EB + energy.SHB) * L + l], B[(_EB + energy.EVB) * L + l], B[(_EB + energy.GHB) * L + l]
        pahb = B[(_EB + energy.PAHB) * L + l]
        emv, emg = B[(_EB + energy.EMV) * L + l], B[(_EB + energy.EMG) * L + l]
        veg = B[(_EB + energy.VEG) * L + l] > 0.0
        fira = select(veg, fveg * B[(_EB + energy.IRG) * L + l] + (1.0 - fveg) * irb + B[(_EB + energy.IRC) * L + l], irb)
        fsh = select(veg, fveg * B[(_EB + energy.SHG) * L + l] + (1.0 - fveg) * shb + B[(_EB + energy.SHC) * L + l], shb)
        fgev = select(veg, fveg * B[(_EB + energy.EVG) * L + l] + (1.0 - fveg) * evb, evb)
        ssoil = select(veg, fveg * B[(_EB + energy.GHV) * L + l] + (1.0 - fveg) * ghb, ghb)
        fcev = select(veg, B[(_EB + energy.EVC) * L + l], 0.0)
        fctr = select(veg, B[(_EB + energy.TR) * L + l], 0.0)
        pah = select(veg, fveg * B[(_EB + energy.PAHG) * L + l] + (1.0 - fveg) * pahb + B[(_EB + energy.PAHV) * L + l], pahb)
        tg = select(veg, fveg * B[(_EB + energy.TGV) * L + l] + (1.0 - fveg) * B[(_EB + energy.TGB) * L + l], B[(_EB + energy.TGB) * L + l])
        psn = select(veg, B[(_EB + energy.PSNSUN) * L + l] * B[(_EB + energy.LAISUN) * L + l]
                     + B[(_EB + energy.PSNSHA) * L + l] * B[(_EB + energy.LAISHA) * L + l], 0.0)
        emissi = fveg * (emg * (1.0 - emv) + emv + emv * (1.0 - emv) * (1.0 - emg)) + (1.0 - fveg) * emg
        B[(_XB + _TV) * L + l] = select(veg, B[(_EB + energy.TV) * L + l], B[(_XB + _TV) * L + l])
        B[(_XB + _TAH) * L + l] = select(veg, B[(_EB + energy.TAH) * L + l], B[(_XB + _TAH) * L + l])
        B[(_XB + _EAH) * L + l] = select(veg, B[(_EB + energy.EAH) * L + l], B[(_XB + _EAH) * L + l])
        B[(_XB + _TG) * L + l] = tg
        B[(_HB + soil_heat.SSOIL) * L + l] = ssoil
        B[(_CB + _C_FGEV) * L + l], B[(_CB + _C_FCEV) * L + l], B[(_CB + _C_FCTR) * L + l], B[(_CB + _C_PSN) * L + l] = fgev, fcev, fctr, psn
        B[(_CB + _C_FSA) * L + l] = B[(_EB + energy.SAV) * L + l] + B[(_EB + energy.SAG) * L + l]
        B[(_CB + _C_FIRA) * L + l], B[(_CB + _C_FSH) * L + l], B[(_CB + _C_LH) * L + l] = fira, fsh, fcev + fgev + fctr
        B[(_CB + _C_SSOIL) * L + l], B[(_CB + _C_PAH) * L + l] = ssoil, pah
        B[(_CB + _C_TRAD) * L + l] = fsqrt(fsqrt((lwdn + fira - (1.0 - emissi) * lwdn) / (emissi * SB)))


@jit
def _water(B, dt):
    """The layers back from the soil heat (H); the canopy water (CANWATER); the ground's share of evaporation
    and dew; the snowpack of the columns without one, without snowfall and without layers (what SNOWWATER
    leaves of them: no snow; the others are done column by column, _snowpack), in lanes."""
    L = LANES
    for i in range(7):
        for l in range(L):
            B[(_XB + _STC7 + i) * L + l] = B[(_HB + soil_heat.STC + i) * L + l]
    for j in range(3):
        for l in range(L):
            B[(_XB + _SNICE + j) * L + l] = B[(_HB + soil_heat.SNICE + j) * L + l]
            B[(_XB + _SNLIQ + j) * L + l] = B[(_HB + soil_heat.SNLIQ + j) * L + l]
    for k in range(4):
        for l in range(L):
            smc = B[(_HB + soil_heat.SMC + k) * L + l]
            sh2o = B[(_HB + soil_heat.SH2O + k) * L + l]
            B[(_XB + _SMC + k) * L + l] = smc
            B[(_XB + _SH2O + k) * L + l] = sh2o
            B[(_CB + _C_SICE + k) * L + l] = fmax(0.0, smc - sh2o)
    for l in range(L):
        sneqv = B[(_HB + soil_heat.SNEQV) * L + l]
        snowh = B[(_HB + soil_heat.SNOWH) * L + l]
        latheag = B[(_CB + _C_LATHEAG) * L + l]
        fgev = B[(_CB + _C_FGEV) * L + l]
        qvap = fmax(fgev / latheag, 0.0)
        qdew = abs(fmin(fgev / latheag, 0.0))
        canliq, canice, tv, ecan, etran, _, discard = canopy_water(
            B[(_CB + _C_FCEV) * L + l], B[(_CB + _C_FCTR) * L + l], B[(_CB + _C_ELAI) * L + l], B[(_CB + _C_ESAI) * L + l], B[(_CB + _C_BDFALL) * L + l], B[(_CB + _C_FROZEN_CANOPY) * L + l] > 0.0,
            B[(_XB + _CANLIQ) * L + l], B[(_XB + _CANICE) * L + l], B[(_XB + _TV) * L + l], dt, B[(_PB + _P_CH2OP) * L + l])
        snow = sneqv > 0.0
        qsnsub = select(snow, fmin(qvap, sneqv / dt), 0.0)
        qsnfro = select(snow, qdew, 0.0)
        snowy = (B[(_XB + _NSNOW) * L + l] > 0.0) | snow | (B[(_CB + _C_QSNOW) * L + l] > 0.0)
        B[(_XB + _CANLIQ) * L + l], B[(_XB + _CANICE) * L + l], B[(_XB + _TV) * L + l], B[(_XB + _SNEQVO) * L + l] = canliq, canice, tv, sneqv
        B[(_XB + _SNEQV) * L + l] = select(snowy, sneqv, 0.0)      # without a pack: none (a trace is dropped)
        B[(_XB + _SNOWH) * L + l] = select(snowy, snowh, 0.0)
        B[(_CB + _C_SNOWY) * L + l] = select(snowy, 1.0, 0.0)
        B[(_CB + _C_QSNSUB) * L + l], B[(_CB + _C_QSNFRO) * L + l] = qsnsub, qsnfro
        B[(_CB + _C_QSEVA) * L + l], B[(_CB + _C_QSDEW) * L + l] = qvap - qsnsub, qdew - qsnfro
        B[(_CB + _C_QSNBOT) * L + l], B[(_CB + _C_SNOFLOW) * L + l], B[(_CB + _C_PONDING1) * L + l], B[(_CB + _C_PONDING2) * L + l] = 0.0, 0.0, 0.0, 0.0
        B[(_CB + _C_ET) * L + l], B[(_CB + _C_ETRAN) * L + l], B[(_CB + _C_EDIR) * L + l], B[(_CB + _C_ECAN) * L + l] = etran + (qvap - qdew) + ecan, etran, qvap - qdew, ecan
        B[(_CB + _C_DISCARD) * L + l] = discard
    for j in range(3):                 # the snow layers of a column without a pack are empty
        for l in range(L):
            snowy = B[(_CB + _C_SNOWY) * L + l] > 0.0
            B[(_XB + _DZSNO + j) * L + l] = select(snowy, B[(_HB + soil_heat.DZ + j) * L + l], 0.0)
            B[(_XB + _STC7 + j) * L + l] = select(snowy, B[(_XB + _STC7 + j) * L + l], 0.0)
            B[(_XB + _SNICE + j) * L + l] = select(snowy, B[(_XB + _SNICE + j) * L + l], 0.0)
            B[(_XB + _SNLIQ + j) * L + l] = select(snowy, B[(_XB + _SNLIQ + j) * L + l], 0.0)


@jit
def _snowpack(B, l, p, dt, w, ws, imelt):
    """The snowpack of lane l over the step (SNOWWATER: snowfall, compaction, layers, sublimation, percolation),
    column by column on its work arrays w (rows of 7: 0 dz, 1 snow ice, 2 snow liquid, 3 temperatures,
    4 soil ice, 5 soil liquid water, 6 start-of-step ice fractions), ws (16) and imelt (7)."""
    L = LANES
    dz, snice, snliq, stc, sice, sh2o, ficeold = w[0], w[1], w[2], w[3], w[4], w[5], w[6]
    for i in range(7):
        imelt[i] = int(B[(_HB + soil_heat.IMELT + i) * L + l])
    for j in range(3):
        dz[j] = B[(_HB + soil_heat.DZ + j) * L + l]
        snice[j] = B[(_XB + _SNICE + j) * L + l]
        snliq[j] = B[(_XB + _SNLIQ + j) * L + l]
        stc[j] = B[(_XB + _STC7 + j) * L + l]
        ficeold[j] = B[(_CB + _C_FICEOLD + j) * L + l]
    for k in range(4):
        sice[k] = B[(_CB + _C_SICE + k) * L + l]
        sh2o[k] = B[(_XB + _SH2O + k) * L + l]
    nsnow, sneqv, snowh, qsnbot, snoflow, ponding1, ponding2, dropped = snow_water(
        int(B[(_XB + _NSNOW) * L + l]), dz, snice, snliq, stc, sice, sh2o, _DZ[0], B[(_XB + _SNEQV) * L + l], B[(_XB + _SNOWH) * L + l], B[(_CB + _C_QSNOW) * L + l],
        B[(_CB + _C_SNOWHIN) * L + l], B[(_CB + _C_QSNFRO) * L + l], B[(_CB + _C_QSNSUB) * L + l], B[(_CB + _C_QRAIN) * L + l], B[(_FB + 2) * L + l], imelt, ficeold, dt, p.ssi, ws)
    for j in range(3):
        B[(_XB + _DZSNO + j) * L + l] = dz[j]
        B[(_XB + _SNICE + j) * L + l] = snice[j]
        B[(_XB + _SNLIQ + j) * L + l] = snliq[j]
        B[(_XB + _STC7 + j) * L + l] = stc[j]
    for k in range(4):
        B[(_CB + _C_SICE + k) * L + l] = sice[k]
        B[(_XB + _SH2O + k) * L + l] = sh2o[k]
    B[(_XB + _NSNOW) * L + l], B[(_XB + _SNEQV) * L + l], B[(_XB + _SNOWH) * L + l] = nsnow, sneqv, snowh
    B[(_CB + _C_QSNBOT) * L + l], B[(_CB + _C_SNOFLOW) * L + l], B[(_CB + _C_PONDING1) * L + l], B[(_CB + _C_PONDING2) * L + l] = qsnbot, snoflow, ponding1, ponding2
    B[(_CB + _C_DISCARD) * L + l] = B[(_CB + _C_DISCARD) * L + l] + dropped


@jit
def _soil_inputs(B, dt):
    """Frost and evaporation of a frozen ground surface, the water reaching the soil surface, and the inputs of
    the soil water (S), in lanes."""
    L = LANES
    for l in range(L):
        frozen = B[(_CB + _C_FROZEN_GROUND) * L + l] > 0.0
        qsdew, qseva = B[(_CB + _C_QSDEW) * L + l], B[(_CB + _C_QSEVA) * L + l]
        sice0 = B[(_CB + _C_SICE) * L + l]
        sice0 = select(frozen, sice0 + (qsdew - qseva) * dt / (_DZ[0] * 1000.0), sice0)
        qsdew = select(frozen, 0.0, qsdew)
        qseva = select(frozen, 0.0, qseva)
        negative = frozen & (sice0 < 0.0)
        B[(_XB + _SH2O) * L + l] = select(negative, B[(_XB + _SH2O) * L + l] + sice0, B[(_XB + _SH2O) * L + l])
        B[(_CB + _C_SICE) * L + l] = select(negative, 0.0, sice0)
        ponding = B[(_HB + soil_heat.PONDING) * L + l] + B[(_CB + _C_PONDING1) * L + l] + B[(_CB + _C_PONDING2) * L + l]
        qsnbot = B[(_CB + _C_QSNBOT) * L + l]
        qinsur = ponding / dt * 0.001
        qinsur = select(B[(_XB + _NSNOW) * L + l] == 0.0, qinsur + (qsnbot + qsdew + B[(_CB + _C_QRAIN) * L + l]) * 0.001,
                        qinsur + (qsnbot + qsdew) * 0.001)
        B[(_SB + soil_water.QINSUR) * L + l] = qinsur
        B[(_SB + soil_water.QSEVA) * L + l] = qseva * 0.001
        B[(_CB + _C_MELT) * L + l] = qsnbot + ponding / dt
    for k in range(4):
        for l in range(L):
            B[(_SB + soil_water.SH2O + k) * L + l] = B[(_XB + _SH2O + k) * L + l]
            B[(_SB + soil_water.SMC + k) * L + l] = B[(_XB + _SMC + k) * L + l]
            B[(_SB + soil_water.SICE + k) * L + l] = B[(_CB + _C_SICE + k) * L + l]
            B[(_SB + soil_water.ET + k) * L + l] = select(k < B[(_PB + _P_NROOT) * L + l], B[(_CB + _C_ETRAN) * L + l] * B[(_CB + _C_BTRANI + k) * L + l]
                                                    * 0.001, 0.0)
    for i in range(len(_SOIL_PARAMS)):
        for l in range(L):
            B[(_SB + _SOIL_PARAMS[i]) * L + l] = B[(_PB + _P_SMCMAX + i) * L + l]


@jit
def _carbon_inputs(B):
    """The new soil water (S), the root zone's wetness and the carbon's inputs (K), in lanes."""
    L = LANES
    for k in range(4):
        for l in range(L):
            sh2o = B[(_SB + soil_water.SH2O + k) * L + l]
            B[(_XB + _SH2O + k) * L + l] = sh2o
            B[(_XB + _SMC + k) * L + l] = sh2o + B[(_CB + _C_SICE + k) * L + l]
    for l in range(L):
        nroot = B[(_PB + _P_NROOT) * L + l]
        zroot = select(nroot == 1.0, -_ZSOIL[0], select(nroot == 2.0, -_ZSOIL[1], select(nroot == 3.0, -_ZSOIL[2],
                                                                                          -_ZSOIL[3])))
        smcmax = B[(_PB + _P_SMCMAX) * L + l]
        wroot = 0.0
        for k in range(4):
            wroot += select(k < nroot, B[(_XB + _SMC + k) * L + l] / smcmax * _DZ[k] / zroot, 0.0)
        B[(_KB + _K_WROOT) * L + l] = wroot
        B[(_KB + _K_PSN) * L + l] = B[(_CB + _C_PSN) * L + l]
        B[(_KB + _K_TV) * L + l] = B[(_XB + _TV) * L + l]
        B[(_KB + _K_STC1) * L + l] = B[(_XB + _STC7 + 3) * L + l]
        B[(_KB + _K_BTRAN) * L + l] = B[(_EB + energy.BTRAN) * L + l]
        B[(_KB + _K_IGS) * L + l] = B[(_CB + _C_IGS) * L + l]
    for i in range(6):
        for l in range(L):
            B[(_KB + _K_LF + i) * L + l] = B[(_XB + _LF + i) * L + l]
    for l in range(L):
        B[(_KB + _K_LAI) * L + l] = B[(_XB + _LAI) * L + l]
    for i in range(len(vegetation.CARBON_FIELDS)):
        for l in range(L):
            B[(_KB + _K_P + i) * L + l] = B[(_PB + _P_CARBON + i) * L + l]


@jit
def _finish(B, dt):
    """The water balance (with Noah-MP's end-of-step discard of a trace of snow), the new state and the
    fluxes (O), in lanes."""
    L = LANES
    for l in range(L):
        runsrf = B[(_SB + soil_water.RUNSRF) * L + l]
        runsub = B[(_SB + soil_water.FIX) * L + l] + B[(_SB + soil_water.QDRAIN) * L + l] + B[(_CB + _C_SNOFLOW) * L + l]
        sneqv, snowh = B[(_XB + _SNEQV) * L + l], B[(_XB + _SNOWH) * L + l]
        trace = (snowh <= 1.0e-6) | (sneqv <= 1.0e-3)
        discard = B[(_CB + _C_DISCARD) * L + l] + select(trace & (B[(_XB + _NSNOW) * L + l] == 0.0), sneqv, 0.0)
        sneqv = select(trace, 0.0, sneqv)
        B[(_XB + _SNOWH) * L + l] = select(trace, 0.0, snowh)
        B[(_XB + _SNEQV) * L + l] = sneqv
        water1 = B[(_XB + _CANLIQ) * L + l] + B[(_XB + _CANICE) * L + l] + sneqv
        for k in range(4):
            water1 += B[(_XB + _SMC + k) * L + l] * _DZ[k] * 1000.0
        et = B[(_CB + _C_ET) * L + l]
        prcp = B[(_CB + _C_RAIN) * L + l] + B[(_CB + _C_SNOW) * L + l]
        B[(_OB + _F_WERR) * L + l] = water1 - B[(_CB + _C_WATER0) * L + l] - (prcp - et - runsrf - runsub) * dt + discard
        B[(_OB + _F_DISCARD) * L + l] = discard / dt
        B[(_OB + _F_ET) * L + l] = et
        B[(_OB + _F_TRANSP) * L + l] = B[(_CB + _C_ETRAN) * L + l]
        B[(_OB + _F_ECAN) * L + l] = B[(_CB + _C_ECAN) * L + l]
        B[(_OB + _F_EDIR) * L + l] = B[(_CB + _C_EDIR) * L + l]
        B[(_OB + _F_QS) * L + l] = runsrf
        B[(_OB + _F_QSB) * L + l] = runsub
        B[(_OB + _F_GPP) * L + l] = B[(_KB + _K_RESULTS[6]) * L + l] * 1.0e-3
        B[(_OB + _F_NPP) * L + l] = B[(_KB + _K_RESULTS[7]) * L + l] * 1.0e-3
        B[(_OB + _F_NEE) * L + l] = B[(_KB + _K_RESULTS[8]) * L + l] * 1.0e-3
        B[(_OB + _F_MELT) * L + l] = B[(_CB + _C_MELT) * L + l]
        B[(_OB + _F_SWNET) * L + l] = B[(_CB + _C_FSA) * L + l]
        B[(_OB + _F_LWNET) * L + l] = -B[(_CB + _C_FIRA) * L + l]
        B[(_OB + _F_HFX) * L + l] = B[(_CB + _C_FSH) * L + l]
        B[(_OB + _F_LH) * L + l] = B[(_CB + _C_LH) * L + l]
        B[(_OB + _F_GHF) * L + l] = B[(_CB + _C_SSOIL) * L + l]
        B[(_OB + _F_FSNO) * L + l] = B[(_CB + _C_FSNO) * L + l]
        B[(_OB + _F_BTRAN) * L + l] = B[(_EB + energy.BTRAN) * L + l]
        B[(_OB + _F_FVEG) * L + l] = B[(_CB + _C_FVEG) * L + l]
        B[(_OB + _F_TSKIN) * L + l] = B[(_CB + _C_TRAD) * L + l]
        B[(_OB + _F_ERES) * L + l] = B[(_CB + _C_FSA) * L + l] + B[(_CB + _C_PAH) * L + l] - B[(_CB + _C_FIRA) * L + l] - B[(_CB + _C_FSH) * L + l] - B[(_CB + _C_LH) * L + l] - B[(_CB + _C_SSOIL) * L + l]
        B[(_XB + _LAI) * L + l] = B[(_KB + _K_RESULTS[9]) * L + l]
        B[(_XB + _SAI) * L + l] = B[(_KB + _K_RESULTS[10]) * L + l]
    for i in range(6):
        for l in range(L):
            B[(_XB + _LF + i) * L + l] = B[(_KB + _K_RESULTS[i]) * L + l]


@jit
def _shortwave_to_energy(R, E):
    """The shortwave the energy balances take (lanes of R to lanes of E)."""
    for l in range(LANES):
        E[energy.SAV * LANES + l] = R[radiation.SAV * LANES + l]
        E[energy.SAG * LANES + l] = R[radiation.SAG * LANES + l]
        E[energy.LAISUN * LANES + l] = R[radiation.LAISUN * LANES + l]
        E[energy.LAISHA * LANES + l] = R[radiation.LAISHA * LANES + l]
        E[energy.PARSUN * LANES + l] = R[radiation.PARSUN * LANES + l]
        E[energy.PARSHA * LANES + l] = R[radiation.PARSHA * LANES + l]


@kernel
def _step_kernel(table, params, lane_set, per_cell, forcing, cosz, xin, xout, out, dt, dveg, slope, zref):
    """One model step of every column (m, c): reads the state block xin, writes xout and the fluxes out.

    table: (n_cells,) parameter records; params: (n_sets, N_PARAMS) the distinct sets of LANE_PARAMS,
    lane_set: (n_cells,) each cell's set, per_cell: (n_cells, 2) its SHDMAX and TBOT;
    forcing: (8, n_ens, n_cells) in FORCING order; cosz: (n_cells,); xin, xout:
    (N_VALUES, n_ens, n_cells); out: (len(FLUXES), n_ens, n_cells); dt [s]; dveg; slope;
    zref [m].  The columns are taken cell by cell (the members of a cell side by side in
    the lanes); a last partial chunk repeats its last column in the spare lanes.
    """
    n_ens, n_cells = xin.shape[1], xin.shape[2]
    L = LANES
    B = np.zeros(_B_ROWS * L)
    X = B[_XB * L:_FB * L].reshape(N_VALUES, L)
    E = B[_EB * L:_RB * L]
    R = B[_RB * L:_HB * L]
    H = B[_HB * L:_SB * L]
    S = B[_SB * L:_KB * L]
    K = B[_KB * L:_OB * L]
    O = B[_OB * L:_B_ROWS * L].reshape(_N_FLUX, L)
    W = np.zeros((L, 7, 7))
    WS = np.zeros((L, 16))
    IM = np.zeros((L, 7), dtype=np.int64)
    members = np.empty(L, dtype=np.int64)
    cells = np.empty(L, dtype=np.int64)
    n_columns = n_ens * n_cells
    for col0 in range(0, n_columns, L):
        nl = min(L, n_columns - col0)
        any_vegetated = False
        any_day = False
        for l in range(L):
            k = col0 + min(l, nl - 1)
            c = k // n_ens
            m = k - c * n_ens
            cells[l] = c
            members[l] = m
            for i in range(N_VALUES):
                B[(_XB + i) * L + l] = xin[i, m, c]
            for i in range(8):
                B[(_FB + i) * L + l] = forcing[i, m, c]
            ps = lane_set[c]
            for i in range(N_PARAMS):
                B[(_PB + i) * L + l] = params[ps, i]
            B[(_PB + _P_SHDMAX) * L + l] = per_cell[c, 0]
            B[(_PB + _P_TBOT) * L + l] = per_cell[c, 1]
            B[_ZB * L + l] = cosz[c]
            any_day = any_day or cosz[c] > 0.0
        _prepare(B, dt, dveg, zref)
        for l in range(L):
            any_vegetated = any_vegetated or E[energy.VEG * L + l] > 0.0
        if any_day:
            radiation.solve(R)
        else:
            radiation.night(R)
        _shortwave_to_energy(R, E)
        soil_heat.properties(H)
        for l in range(L):
            top = 3 - int(X[_NSNOW, l])
            E[energy.DF_TOP * L + l] = H[(soil_heat.DF + top) * L + l]
            E[energy.DZ_TOP * L + l] = H[(soil_heat.DZ + top) * L + l]
            E[energy.STC_TOP * L + l] = H[(soil_heat.STC + top) * L + l]
        energy.solve(E, any_vegetated)
        _fluxes(B)
        soil_heat.diffuse(H)
        soil_heat.phase_change(H)
        _water(B, dt)
        for l in range(L):
            if B[(_CB + _C_SNOWY) * L + l] > 0.0:
                _snowpack(B, l, table[cells[l]], dt, W[l], WS[l], IM[l])
        _soil_inputs(B, dt)
        soil_water.solve(S, dt, slope)
        _carbon_inputs(B)
        vegetation.carbon_lanes(K, dt)
        _finish(B, dt)
        for l in range(nl):
            m, c = members[l], cells[l]
            for i in range(N_VALUES):
                xout[i, m, c] = X[i, l]
            for i in range(_N_FLUX):
                out[i, m, c] = O[i, l]
