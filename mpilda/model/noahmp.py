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

The physics are scalar numba functions of one column in the modules atmosphere of
:mod:`canopy`, :mod:`radiation`, :mod:`surface`, :mod:`energy`, :mod:`photosynthesis`,
:mod:`soil_heat`, :mod:`snow`, :mod:`soil_water` and :mod:`vegetation`; the kernel
runs them column by column.  Every column's arithmetic is its own (no reduction across
columns), so results do not depend on how columns are split over ranks.

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
        #: (n_cells, N_PARAMS): the LANE_PARAMS of every cell, rows of the kernel's parameter block
        self.lanes = np.ascontiguousarray(np.stack([np.broadcast_to(np.asarray(fields[k], dtype=np.float64), lc.shape)
                                                    for k in LANE_PARAMS], axis=-1))


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
        _step_kernel(self.p.table, self.p.lanes, block, cosz, xin, xout, out, dt_, int(settings.dveg),
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
# The kernel takes LANES columns at a time, in lane-major blocks: the state X (N_VALUES rows, LAYOUT order), the
# forcing F (8 rows, FORCING order), the parameters P (LANE_PARAMS rows), the values carried between the stages
# C (N_CARRY rows) and the blocks of the vectorised stages (E energy, R shortwave, H soil heat, S soil water, K
# carbon).  The stages before the energy balance (_prepare) run in SIMD lanes; after it, the canopy water and
# the snowpack run column by column (_after) on per-column work arrays w (rows of 7: 0 dz, 9 btrani,
# 10 ficeold, 11 sice, 17..24 soil water), ws (16) and imelt (7).
(_C_RAIN, _C_SNOW, _C_QRAIN, _C_QSNOW, _C_SNOWHIN, _C_BDFALL, _C_WATER0, _C_ELAI, _C_ESAI, _C_FVEG, _C_IGS,
 _C_LATHEAG, _C_FROZEN_CANOPY, _C_FROZEN_GROUND, _C_FSNO, _C_ET, _C_ETRAN, _C_EDIR, _C_ECAN, _C_SNOFLOW, _C_DISCARD,
 _C_PSN, _C_MELT, _C_FSA, _C_FIRA, _C_FSH, _C_LH, _C_SSOIL, _C_PAH, _C_TRAD, _C_FGEV, _C_FCEV, _C_FCTR, _C_FICEOLD,
 _, _, _C_BTRANI, _, _, _) = range(40)
N_CARRY = 40
# rows of the carbon's lane block (vegetation.CARBON_ROWS)
(_K_LF, _K_ST, _K_RT, _K_WD, _K_FC, _K_SB, _K_PSN, _K_LAI, _K_TV, _K_STC1, _K_BTRAN, _K_WROOT,
 _K_IGS) = range(13)
_K_P = vegetation.CARBON_ROWS[vegetation.CARBON_FIELDS[0]]
_K_RESULTS = tuple(vegetation.CARBON_ROWS[k] for k in ("lf_new", "st_new", "rt_new", "wd_new", "fc_new", "sb_new",
                                                       "gpp", "npp", "nee", "lai_new", "sai_new"))
#: The parameters of a column the lane stages before the energy balance read (rows of the block P, in this order).
LANE_PARAMS = ("nroot", "vegetated", "hvt", "hvb", "tmin", "shdmax", "ch2op", "mfsno", "z0sno", "z0mvt", "swemx",
               "smcwlt", "smcref", "smcmax", "bexp", "psisat", "d_rsurf", "urban", "eg_soil", "tbot", "tk_solids",
               "tk_dry", "csoil", "cwpvt", "dleaf", "vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "ko25", "c3psn",
               "ln_akc", "ln_ako", "ln_avcmx", "co2", "o2", "xl", "betads", "betais", "rhol_vis", "rhol_nir",
               "rhos_vis", "rhos_nir", "taul_vis", "taul_nir", "taus_vis", "taus_nir", "albsat_vis", "albsat_nir",
               "albdry_vis", "albdry_nir", "omegas_vis", "omegas_nir")
N_PARAMS = len(LANE_PARAMS)
(_P_NROOT, _P_VEGETATED, _P_HVT, _P_HVB, _P_TMIN, _P_SHDMAX, _P_CH2OP, _P_MFSNO, _P_Z0SNO, _P_Z0MVT, _P_SWEMX,
 _P_SMCWLT, _P_SMCREF, _P_SMCMAX, _P_BEXP, _P_PSISAT, _P_D_RSURF, _P_URBAN, _P_EG_SOIL, _P_TBOT, _P_TK_SOLIDS,
 _P_TK_DRY, _P_CSOIL, _P_CWPVT) = range(24)
_P_XL = LANE_PARAMS.index("xl")
#: The parameters copied as they are into the energy balance's rows (from cwpvt on) and the shortwave's (from xl).
_ENERGY_PARAMS = tuple(getattr(energy, k.upper()) for k in LANE_PARAMS[_P_CWPVT:_P_XL])
_RADIATION_PARAMS = tuple(getattr(radiation, k.upper()) for k in LANE_PARAMS[_P_XL:])
# regions of the kernel's lane block B [rows]: state, forcing, parameters, carry, cos z, and the blocks of
# the energy balance, the shortwave and the soil heat
_XB = 0
_FB = _XB + N_VALUES
_PB = _FB + len(FORCING)
_CB = _PB + N_PARAMS
_ZB = _CB + N_CARRY
_EB = _ZB + 1
_RB = _EB + len(energy.ROWS)
_HB = _RB + len(radiation.ROWS)
_B_ROWS = _HB + len(soil_heat.ROWS)
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
def _after_energy(x, f, carry, E, H, l):
    """A column's fluxes from its energy balances (lane l of E): the cell's, from its two parts; the ground heat
    flux into the layers (lane l of H)."""
    lwdn = f[1]
    fveg = carry[_C_FVEG]

    # --- the cell's fluxes from its two parts
    sav, sag = E[energy.SAV * LANES + l], E[energy.SAG * LANES + l]
    emv, emg = E[energy.EMV * LANES + l], E[energy.EMG * LANES + l]
    irb, shb = E[energy.IRB * LANES + l], E[energy.SHB * LANES + l]
    evb, ghb = E[energy.EVB * LANES + l], E[energy.GHB * LANES + l]
    pahb = E[energy.PAHB * LANES + l]
    tv, tah, eah = x[_TV], x[_TAH], x[_EAH]
    psn = 0.0
    if E[energy.VEG * LANES + l] > 0.0:
        tv, tah, eah = E[energy.TV * LANES + l], E[energy.TAH * LANES + l], E[energy.EAH * LANES + l]
        fira = fveg * E[energy.IRG * LANES + l] + (1.0 - fveg) * irb + E[energy.IRC * LANES + l]
        fsh = fveg * E[energy.SHG * LANES + l] + (1.0 - fveg) * shb + E[energy.SHC * LANES + l]
        fgev = fveg * E[energy.EVG * LANES + l] + (1.0 - fveg) * evb
        ssoil = fveg * E[energy.GHV * LANES + l] + (1.0 - fveg) * ghb
        fcev = E[energy.EVC * LANES + l]
        fctr = E[energy.TR * LANES + l]
        pah = fveg * E[energy.PAHG * LANES + l] + (1.0 - fveg) * pahb + E[energy.PAHV * LANES + l]
        tg = fveg * E[energy.TGV * LANES + l] + (1.0 - fveg) * E[energy.TGB * LANES + l]
        laisun, laisha = E[energy.LAISUN * LANES + l], E[energy.LAISHA * LANES + l]
        psn = E[energy.PSNSUN * LANES + l] * laisun + E[energy.PSNSHA * LANES + l] * laisha
    else:
        fira = irb
        fsh = shb
        fgev = evb
        ssoil = ghb
        fcev = 0.0
        fctr = 0.0
        pah = pahb
        tg = E[energy.TGB * LANES + l]
    emissi = fveg * (emg * (1.0 - emv) + emv + emv * (1.0 - emv) * (1.0 - emg)) + (1.0 - fveg) * emg
    trad = fsqrt(fsqrt((lwdn + fira - (1.0 - emissi) * lwdn) / (emissi * SB)))
    H[soil_heat.SSOIL * LANES + l] = ssoil
    x[_TV], x[_TG], x[_TAH], x[_EAH] = tv, tg, tah, eah
    carry[_C_FGEV], carry[_C_FCEV], carry[_C_FCTR] = fgev, fcev, fctr
    carry[_C_PSN] = psn
    carry[_C_FSA], carry[_C_FIRA], carry[_C_FSH], carry[_C_LH] = sav + sag, fira, fsh, fcev + fgev + fctr
    carry[_C_SSOIL], carry[_C_PAH], carry[_C_TRAD] = ssoil, pah, trad


@jit
def _after(x, f, p, dt, w, ws, imelt, carry, H, S, l):
    """A column's step from its soil heat (lane l of H) to its soil water (lane l of S): canopy water, snow; fills
    the soil water's inputs."""
    sfctmp = f[2]
    smc = x[_SMC:_SMC + 4]
    sh2o = x[_SH2O:_SH2O + 4]
    stc = x[_STC7:_STC7 + 7]
    snice = x[_SNICE:_SNICE + 3]
    snliq = x[_SNLIQ:_SNLIQ + 3]
    nsnow = int(x[_NSNOW])
    canliq, canice, tv = x[_CANLIQ], x[_CANICE], x[_TV]
    dz = w[0]
    sice = w[11]
    nroot = int(p.nroot)
    latheag = carry[_C_LATHEAG]
    frozen_ground = carry[_C_FROZEN_GROUND] > 0.0
    fgev, fcev, fctr = carry[_C_FGEV], carry[_C_FCEV], carry[_C_FCTR]
    ficeold = w[10]
    for i in range(7):
        dz[i] = H[(soil_heat.DZ + i) * LANES + l]
        stc[i] = H[(soil_heat.STC + i) * LANES + l]
        imelt[i] = int(H[(soil_heat.IMELT + i) * LANES + l])
    for j in range(3):
        ficeold[j] = carry[_C_FICEOLD + j]
    for i in range(3):
        snice[i] = H[(soil_heat.SNICE + i) * LANES + l]
        snliq[i] = H[(soil_heat.SNLIQ + i) * LANES + l]
    for k in range(4):
        smc[k] = H[(soil_heat.SMC + k) * LANES + l]
        sh2o[k] = H[(soil_heat.SH2O + k) * LANES + l]
    sneqv, snowh = H[soil_heat.SNEQV * LANES + l], H[soil_heat.SNOWH * LANES + l]
    qmelt, ponding = H[soil_heat.QMELT * LANES + l], H[soil_heat.PONDING * LANES + l]

    # --- water
    for k in range(4):
        sice[k] = fmax(0.0, smc[k] - sh2o[k])
    sneqvo = sneqv
    qvap = fmax(fgev / latheag, 0.0)
    qdew = abs(fmin(fgev / latheag, 0.0))
    edir = qvap - qdew
    canliq, canice, tv, ecan, etran, _, discard = canopy_water(fcev, fctr, carry[_C_ELAI], carry[_C_ESAI],
                                                               carry[_C_BDFALL], carry[_C_FROZEN_CANOPY] > 0.0,
                                                               canliq, canice, tv, dt, p.ch2op)
    qsnsub = fmin(qvap, sneqv / dt) if sneqv > 0.0 else 0.0
    qseva = qvap - qsnsub
    qsnfro = qdew if sneqv > 0.0 else 0.0
    qsdew = qdew - qsnfro
    qrain = carry[_C_QRAIN]
    nsnow, sneqv, snowh, qsnbot, snoflow, ponding1, ponding2, dropped = snow_water(
        nsnow, dz[0:3], snice, snliq, stc[0:3], sice, sh2o, _DZ[0], sneqv, snowh, carry[_C_QSNOW],
        carry[_C_SNOWHIN], qsnfro, qsnsub, qrain, sfctmp, imelt, w[10], dt, p.ssi, ws)
    discard += dropped
    if frozen_ground:
        sice[0] = sice[0] + (qsdew - qseva) * dt / (_DZ[0] * 1000.0)
        qsdew = 0.0
        qseva = 0.0
        if sice[0] < 0.0:
            sh2o[0] = sh2o[0] + sice[0]
            sice[0] = 0.0
    qinsur = (ponding + ponding1 + ponding2) / dt * 0.001
    if nsnow == 0:
        qinsur = qinsur + (qsnbot + qsdew + qrain) * 0.001
    else:
        qinsur = qinsur + (qsnbot + qsdew) * 0.001
    for k in range(4):
        S[(soil_water.SH2O + k) * LANES + l] = sh2o[k]
        S[(soil_water.SMC + k) * LANES + l] = smc[k]
        S[(soil_water.SICE + k) * LANES + l] = sice[k]
        S[(soil_water.ET + k) * LANES + l] = etran * carry[_C_BTRANI + k] * 0.001 if k < nroot else 0.0
    S[soil_water.QINSUR * LANES + l] = qinsur
    S[soil_water.QSEVA * LANES + l] = qseva * 0.001
    S[soil_water.SMCMAX * LANES + l] = p.smcmax
    S[soil_water.SMCWLT * LANES + l] = p.smcwlt
    S[soil_water.BEXP * LANES + l] = p.bexp
    S[soil_water.SATDK * LANES + l] = p.satdk
    S[soil_water.SATDW * LANES + l] = p.satdw
    S[soil_water.KDT * LANES + l] = p.kdt
    S[soil_water.FRZX * LANES + l] = p.frzx
    S[soil_water.URBAN * LANES + l] = p.urban
    x[_CANLIQ], x[_CANICE], x[_SNEQV], x[_SNOWH] = canliq, canice, sneqv, snowh
    x[_SNEQVO], x[_TV] = sneqvo, tv
    x[_NSNOW] = nsnow
    for i in range(3):
        x[_DZSNO + i] = dz[i]
    carry[_C_ET], carry[_C_ETRAN], carry[_C_EDIR], carry[_C_ECAN] = etran + edir + ecan, etran, edir, ecan
    carry[_C_SNOFLOW], carry[_C_DISCARD] = snoflow, discard
    carry[_C_MELT] = qsnbot + (ponding + ponding1 + ponding2) / dt
    _ = qmelt


@jit
def _after_soil(x, p, w, carry, E, S, K, l):
    """A column's step after its soil water (lane l of S): the new soil water, the carbon's inputs (lane l of K)."""
    smc = x[_SMC:_SMC + 4]
    sh2o = x[_SH2O:_SH2O + 4]
    sice = w[11]
    nroot = int(p.nroot)
    for k in range(4):
        sh2o[k] = S[(soil_water.SH2O + k) * LANES + l]
        smc[k] = sh2o[k] + sice[k]
    wroot = 0.0
    for k in range(nroot):
        wroot += smc[k] / p.smcmax * _DZ[k] / (-_ZSOIL[nroot - 1])
    K[_K_LF * LANES + l] = x[_LF]
    K[_K_ST * LANES + l] = x[_ST]
    K[_K_RT * LANES + l] = x[_RT]
    K[_K_WD * LANES + l] = x[_WD]
    K[_K_FC * LANES + l] = x[_FC]
    K[_K_SB * LANES + l] = x[_SB]
    K[_K_PSN * LANES + l] = carry[_C_PSN]
    K[_K_LAI * LANES + l] = x[_LAI]
    K[_K_TV * LANES + l] = x[_TV]
    K[_K_STC1 * LANES + l] = x[_STC7 + 3]
    K[_K_BTRAN * LANES + l] = E[energy.BTRAN * LANES + l]
    K[_K_WROOT * LANES + l] = wroot
    K[_K_IGS * LANES + l] = carry[_C_IGS]
    K[(_K_P + 0) * LANES + l] = p.lapm
    K[(_K_P + 1) * LANES + l] = p.lfmsmn
    K[(_K_P + 2) * LANES + l] = p.ln_arm
    K[(_K_P + 3) * LANES + l] = p.fnf
    K[(_K_P + 4) * LANES + l] = p.rmf25
    K[(_K_P + 5) * LANES + l] = p.rms25
    K[(_K_P + 6) * LANES + l] = p.rmr25
    K[(_K_P + 7) * LANES + l] = p.wdpool
    K[(_K_P + 8) * LANES + l] = p.leaf_exp
    K[(_K_P + 9) * LANES + l] = p.wrrat
    K[(_K_P + 10) * LANES + l] = p.fragr
    K[(_K_P + 11) * LANES + l] = p.dilefw
    K[(_K_P + 12) * LANES + l] = p.dilefc
    K[(_K_P + 13) * LANES + l] = p.tdlef
    K[(_K_P + 14) * LANES + l] = p.tmin
    K[(_K_P + 15) * LANES + l] = p.ltovrc
    K[(_K_P + 16) * LANES + l] = p.mrp
    K[(_K_P + 17) * LANES + l] = p.vegetated


@jit
def _finish(x, dt, carry, E, S, K, l, o):
    """A column's step after its carbon (lane l of K): balances, the new state and the fluxes o."""
    smc = x[_SMC:_SMC + 4]
    nsnow = int(x[_NSNOW])
    runsrf = S[soil_water.RUNSRF * LANES + l]
    runsub = S[soil_water.FIX * LANES + l] + S[soil_water.QDRAIN * LANES + l] + carry[_C_SNOFLOW]
    canliq, canice, sneqv, snowh = x[_CANLIQ], x[_CANICE], x[_SNEQV], x[_SNOWH]
    discard = carry[_C_DISCARD]
    et = carry[_C_ET]
    prcp = carry[_C_RAIN] + carry[_C_SNOW]
    lf, st, rt = K[_K_RESULTS[0] * LANES + l], K[_K_RESULTS[1] * LANES + l], K[_K_RESULTS[2] * LANES + l]
    wd, fc, sb = K[_K_RESULTS[3] * LANES + l], K[_K_RESULTS[4] * LANES + l], K[_K_RESULTS[5] * LANES + l]
    gpp, npp, nee = K[_K_RESULTS[6] * LANES + l], K[_K_RESULTS[7] * LANES + l], K[_K_RESULTS[8] * LANES + l]
    lai, sai = K[_K_RESULTS[9] * LANES + l], K[_K_RESULTS[10] * LANES + l]

    # --- Noah-MP's end-of-step discard of a trace of snow; the water balance with every discard booked
    if snowh <= 1.0e-6 or sneqv <= 1.0e-3:
        discard += sneqv if nsnow == 0 else 0.0
        snowh = 0.0
        sneqv = 0.0
    water1 = canliq + canice + sneqv
    for k in range(4):
        water1 += smc[k] * _DZ[k] * 1000.0
    o[_F_WERR] = water1 - carry[_C_WATER0] - (prcp - et - runsrf - runsub) * dt + discard
    o[_F_DISCARD] = discard / dt

    # --- the new state and the fluxes
    x[_SNEQV], x[_SNOWH] = sneqv, snowh
    x[_LF], x[_ST], x[_RT], x[_WD], x[_FC], x[_SB] = lf, st, rt, wd, fc, sb
    x[_LAI], x[_SAI] = lai, sai
    o[_F_ET] = et
    o[_F_TRANSP] = carry[_C_ETRAN]
    o[_F_ECAN] = carry[_C_ECAN]
    o[_F_EDIR] = carry[_C_EDIR]
    o[_F_QS] = runsrf
    o[_F_QSB] = runsub
    o[_F_GPP] = gpp * 1.0e-3
    o[_F_NEE] = nee * 1.0e-3
    o[_F_NPP] = npp * 1.0e-3
    o[_F_MELT] = carry[_C_MELT]
    o[_F_SWNET] = carry[_C_FSA]
    o[_F_LWNET] = -carry[_C_FIRA]
    o[_F_HFX] = carry[_C_FSH]
    o[_F_LH] = carry[_C_LH]
    o[_F_GHF] = carry[_C_SSOIL]
    o[_F_FSNO] = carry[_C_FSNO]
    o[_F_BTRAN] = E[energy.BTRAN * LANES + l]
    o[_F_FVEG] = carry[_C_FVEG]
    o[_F_TSKIN] = carry[_C_TRAD]
    o[_F_ERES] = carry[_C_FSA] + carry[_C_PAH] - carry[_C_FIRA] - carry[_C_FSH] - carry[_C_LH] - carry[_C_SSOIL]


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
def _step_kernel(table, params, forcing, cosz, xin, xout, out, dt, dveg, slope, zref):
    """One model step of every column (m, c): reads the state block xin, writes xout and the fluxes out.

    table: (n_cells,) parameter records; params: (n_cells, N_PARAMS) the LANE_PARAMS;
    forcing: (8, n_ens, n_cells) in FORCING order; cosz: (n_cells,); xin, xout:
    (N_VALUES, n_ens, n_cells); out: (len(FLUXES), n_ens, n_cells); dt [s]; dveg; slope;
    zref [m].  The columns are taken cell by cell (the members of a cell side by side in
    the lanes); a last partial chunk repeats its last column in the spare lanes.
    """
    n_ens, n_cells = xin.shape[1], xin.shape[2]
    L = LANES
    B = np.zeros(_B_ROWS * L)
    X = B[_XB * L:_FB * L].reshape(N_VALUES, L)
    F = B[_FB * L:_PB * L].reshape(8, L)
    P = B[_PB * L:_CB * L]
    C = B[_CB * L:_ZB * L].reshape(N_CARRY, L)
    E = B[_EB * L:_RB * L]
    R = B[_RB * L:_HB * L]
    H = B[_HB * L:_B_ROWS * L]
    O = np.empty((L, _N_FLUX))
    W = np.zeros((L, 25, 7))
    WS = np.zeros((L, 16))
    IM = np.zeros((L, 7), dtype=np.int64)
    S = np.zeros(soil_water.BLOCK)
    K = np.zeros(vegetation.CARBON_BLOCK)
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
                X[i, l] = xin[i, m, c]
            for i in range(8):
                F[i, l] = forcing[i, m, c]
            for i in range(N_PARAMS):
                P[i * L + l] = params[c, i]
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
        for l in range(L):
            _after_energy(X[:, l], F[:, l], C[:, l], E, H, l)
        soil_heat.diffuse(H)
        soil_heat.phase_change(H)
        for l in range(L):
            _after(X[:, l], F[:, l], table[cells[l]], dt, W[l], WS[l], IM[l], C[:, l], H, S, l)
        soil_water.solve(S, dt, slope)
        for l in range(L):
            _after_soil(X[:, l], table[cells[l]], W[l], C[:, l], E, S, K, l)
        vegetation.carbon_lanes(K, dt)
        for l in range(L):
            _finish(X[:, l], dt, C[:, l], E, S, K, l, O[l])
        for l in range(nl):
            m, c = members[l], cells[l]
            for i in range(N_VALUES):
                xout[i, m, c] = X[i, l]
            for i in range(_N_FLUX):
                out[i, m, c] = O[l, i]
