"""mpilda's Noah-MP-like land surface model: one 900 s step for all columns, one compiled kernel.

The order of processes follows Noah-MP's NOAHMP_SFLX (noahmp-physics.md s.1.1):
vegetation structure and snow burial, radiation, soil-moisture stress,
stomata (sunlit/shaded Ball-Berry/Farquhar), canopy interception, the coupled
canopy/ground energy balance, evaporation limits, snow, soil water (Schaake
infiltration, implicit Richards, free drainage), soil heat and phase change,
and the carbon model (DVEG = 2) that gives the next step's LAI.

``NoahMP.step`` calls ONE numba kernel (:func:`_step_kernel`) that loops over the
columns and runs the whole step for each, calling the scalar physics of the
modules soil_water, soil_heat, radiation, energy, canopy, snow, photosynthesis and
vegetation.  Every column's arithmetic is its own (no reduction across columns),
so a column's result does not depend on how many columns a call holds or their
order: runs on any number of MPI ranks are bit-identical.

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
from .constants import DENH2O, DZ, GRAV, HFUS, RW, ZSOIL
from .jit import clip, fmax, fmin, jit, records
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
    a cell is what the scalar physics take as ``p``), with the cell's latitude sine and
    cosine and longitude [degrees] (0 unless given).
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
        fields = dict(smcmax=self.smcmax, smcref=self.smcref, smcwlt=self.smcwlt, smcdry=self.smcdry,
                      bexp=self.bexp, psisat=self.psisat, satdk=self.satdk, satdw=self.satdw,
                      root_fraction=self.root_fraction.T, has_roots=self.has_roots.astype(np.float64),
                      # Sakaguchi & Zeng's vapour diffusivity of the dry surface layer [m2 s-1] (_soil_surface)
                      d_vap=2.2e-5 * self.smcmax ** 2 * (1.0 - self.smcwlt / self.smcmax) ** (2.0 + 3.0 / self.bexp),
                      **soil_heat.thermal_constants(self.smcmax, self.quartz),
                      **{k.lower(): getattr(self, k.lower()) for k in (
                          "CH2OP", "DLEAF", "Z0MVT", "HVT", "HVB", "XL", "CWPVT", "MFSNO", "RHOL_VIS", "RHOL_NIR",
                          "RHOS_VIS", "RHOS_NIR", "TAUL_VIS", "TAUL_NIR", "TAUS_VIS", "TAUS_NIR")},
                      albsat_vis=self.soil_albedo[0], albsat_nir=self.soil_albedo[1],
                      albdry_vis=self.soil_albedo[2], albdry_nir=self.soil_albedo[3],
                      emis_soil=self.emis_soil, swemx=self.swemx, rsurf_snow=self.rsurf_snow,
                      sin_lat=np.sin(phi), cos_lat=np.cos(phi),
                      lon=np.zeros(lc.size) if lon is None else np.asarray(lon, dtype=np.float64),
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
        sin_decl, cos_decl, hours = radiation.solar_position(time + dt.timedelta(seconds=dt_ / 2))
        layers = (4,) + shape
        smc, sh2o, stc = (_float_c(getattr(s, k), layers, k) for k in ("smc", "sh2o", "stc"))
        columns = [_float_c(getattr(s, k), shape, k) for k in COLUMN_FIELDS]
        new = np.empty((_N_STATE,) + shape)
        out = np.empty((len(FLUXES),) + shape)
        if timings is not None:
            t1 = _time.perf_counter()
        _step_kernel(self.p.table, block, smc, sh2o, stc, *columns, new, out, dt_, float(settings.drainage_slope),
                     int(settings.soil_substeps), sin_decl, cos_decl, hours)
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


@jit
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
    if hvt <= 1.0:
        decayed = hvt * math.exp(-snowh / 0.2)
        fb = fmin(snowh, decayed) / fmax(decayed, 1e-9) if decayed > 0 else 0.0
    else:
        fb = clip(snowh - hvb, 0.0, fmax(hvt - hvb, 0.0)) / fmax(hvt - hvb, 1e-9)
    return clip(fb, 0.0, 1.0)


@jit
def _soil_surface(sh2o1, tg, fsno, p):
    """Soil surface resistance [s m-1] (Sakaguchi & Zeng 2009) and surface relative humidity [-].

    sh2o1: liquid water of layer 1 [m3 m-3]; tg: ground temperature [K]; fsno: snow cover;
    p: smcmax, bexp, psisat, d_vap (the dry layer's vapour diffusivity [m2 s-1]), rsurf_snow.
    """
    if sh2o1 < DRY_SURFACE:
        r_soil = 1e6
    else:
        wet = fmin(1.0, sh2o1 / p.smcmax)
        dry = 1.0 - wet
        l_dry = DZ[0] * (math.exp(dry * dry * (dry * dry) * dry) - 1.0) / (math.e - 1.0)    # exp((1 - wet)^5)
        r_soil = l_dry / p.d_vap
    r_surf = fsno * p.rsurf_snow + (1.0 - fsno) * r_soil
    psi = -p.psisat * (fmax(0.01, sh2o1) / p.smcmax) ** (-p.bexp)
    h_surf = fsno + (1.0 - fsno) * math.exp(fmax(psi * GRAV / (RW * tg), -50.0))
    return r_surf, h_surf


@jit
def _step_kernel(table, forcing, smc_in, sh2o_in, stc_in, tv_in, tg_in, eah_in, canwat_in, sneqv_in, snowh_in,
                 albedo_in, lfmass_in, stmass_in, rtmass_in, wood_in, fastcp_in, stblcp_in, lai_in, sai_in, tbot_in,
                 new, out, dt, slope, n_sub, sin_decl, cos_decl, hours):
    """One model step of every column (m, c): reads the state arrays, writes the new state and the fluxes.

    table: (n_cells,) parameter records; forcing: (8, n_ens, n_cells) in the order FORCING;
    the state: smc, sh2o, stc (4, n_ens, n_cells) and the COLUMN_FIELDS (n_ens, n_cells);
    new: (_N_STATE, n_ens, n_cells) the new smc, sh2o, stc and column fields; out:
    (len(FLUXES), n_ens, n_cells) the fluxes; dt [s]; slope: free-drainage factor; n_sub:
    Richards sub-steps; sin_decl, cos_decl, hours: the sun at mid-step (radiation.solar_position).
    """
    n_ens, n_cells = tv_in.shape
    lay = np.empty((10, 4))
    smc0, sh2o0, sice, sh2o, smc, stc, cap, tk, root_w, et_layers = (
        lay[0], lay[1], lay[2], lay[3], lay[4], lay[5], lay[6], lay[7], lay[8], lay[9])
    work = np.empty((max(soil_water.WORK_ROWS, soil_heat.WORK_ROWS), 4))
    for m in range(n_ens):
        for c in range(n_cells):
            p = table[c]
            swdown, lwdown, tair = forcing[0, m, c], forcing[1, m, c], forcing[2, m, c]
            qair, psurf, wind = forcing[3, m, c], forcing[4, m, c], forcing[5, m, c]
            rain, snowf = forcing[6, m, c], forcing[7, m, c]
            tv0, tg0, eah0, canwat0 = tv_in[m, c], tg_in[m, c], eah_in[m, c], canwat_in[m, c]
            sneqv0, snowh0, albedo0 = sneqv_in[m, c], snowh_in[m, c], albedo_in[m, c]
            lai0, sai0 = lai_in[m, c], sai_in[m, c]
            soil_water_before = 0.0
            for k in range(4):
                smc0[k], sh2o0[k], stc[k] = smc_in[k, m, c], sh2o_in[k, m, c], stc_in[k, m, c]
                soil_water_before = soil_water_before + DZ[k] * smc0[k]
            water_before = canwat0 + sneqv0 + soil_water_before * DENH2O

            # vegetation structure and snow burial (PHENOLOGY)
            fb = _buried_fraction(snowh0, p.hvt, p.hvb)
            elai, esai = lai0 * (1.0 - fb), sai0 * (1.0 - fb)
            fveg = vegetation_fraction_column(lai0, sai0, p) if elai + esai > 0 else 0.0
            fsno = snow.cover_fraction(sneqv0, snowh0, p.mfsno)

            # radiation
            cosz = radiation.cos_zenith(p.sin_lat, p.cos_lat, p.lon, sin_decl, cos_decl, hours)
            soil_vis, soil_nir = radiation.soil_albedo(sh2o0[0], p)
            g_vis = soil_vis * (1.0 - fsno) + albedo0 * fsno
            g_nir = soil_nir * (1.0 - fsno) + albedo0 * fsno
            (sw_canopy, sw_ground, _, lai_sun, lai_sha, par_sun, par_sha, vai_e,
             fv) = radiation.shortwave(swdown, cosz, elai, esai, fveg, p, g_vis, g_nir)

            # soil-moisture stress, conductances, stomata (with last step's leaf temperature and canopy air)
            bt = soil_water.btran(sh2o0, p, root_w)
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
            canwat, rain_ground = canopy.intercept(rain, canwat0, wmax, fv, dt)
            fwet = canopy.wet_fraction(canwat, wmax)

            # leaf and ground conductances for vapour
            if fv > 0:
                safe_fv = fmax(fv, 1e-6)
                c_leaf = 2.0 * vai_e / rb
                c_evap = fwet * vai_e / rb
                c_transp = (1.0 - fwet) * (lai_sun / safe_fv / (rb + rs_sun) + lai_sha / safe_fv / (rb + rs_sha))
            else:
                c_leaf = c_evap = c_transp = 0.0
            r_surf, h_surf = _soil_surface(sh2o0[0], tg0, fsno, p)
            k_ground = soil_heat.ground_conductance(soil_heat.conductivity(smc0[0], sh2o0[0], p), snowh0)
            (tv, tg, h_total, _, le_evap, le_transp, le_ground, g, melt_energy, lw_net_up, canopy_residual, _,
             eah, lat_v, lat_g) = energy.surface_energy(
                tair, qair, psurf, lwdown, sw_canopy, sw_ground, tv0, tg0, stc[0], sneqv0 > 0,
                fv, vai_e, 1.0 - math.exp(-vai_e), c_leaf, c_evap, c_transp,
                p.emis_soil * (1.0 - fsno) + fsno, h_surf, r_surf, k_ground, fsno,
                c_air_veg, c_ground_veg, c_air_bare)

            # canopy water: evaporation limited by the store; dew from either leaf flux joins it
            e_evap = le_evap / lat_v
            e_tran = le_transp / lat_v
            evap_mass = fmin(e_evap * dt, canwat)                  # no more than the store holds ...
            over = e_evap - evap_mass / dt                         # ... the rest becomes sensible heat
            e_evap = evap_mass / dt
            h_total = h_total + over * lat_v
            dew = fmin(e_tran, 0.0)                                # condensation on dry leaves joins the store
            e_canopy = e_evap + dew
            transp = fmax(e_tran, 0.0)
            canwat = canwat - evap_mass - dew * dt
            drip = fmax(canwat - wmax, 0.0)
            canwat = canwat - drip
            rain_ground = rain_ground + drip / dt

            # ground evaporation: sublimation from snow, evaporation from soil layer 1
            e_ground = le_ground / lat_g
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
            melt = fmin(melt_energy / HFUS * dt, fmax(sneqv, 0.0))
            g_soil = g + melt_energy - melt * HFUS / dt            # energy beyond the last snow enters the soil
            sneqv = sneqv - melt
            if sneqv < 1e-6:                                       # vanishing snow leaves as melt water
                melt = melt + sneqv
                sneqv = 0.0
                snowh = 0.0
            else:
                fallen = sneqv0 + snowf * dt
                snowh = fmax(snowh * (sneqv / fmax(fallen, 1e-12) if fallen > 0 else 0.0), 0.0)
            snowh = snow.settle(sneqv, snowh, dt)
            snow_albedo = snow.albedo_step(albedo0, snowf, dt, p.swemx)

            # soil water
            qinsur = rain_ground + melt / dt                       # kg m-2 s-1 reaching the soil surface
            for k in range(4):
                sice[k] = smc0[k] - sh2o0[k]
                sh2o[k] = sh2o0[k]
            for k in range(4):
                work[6, k], work[7, k] = soil_water.hydraulics(sh2o[k] + sice[k], sice[k], p)
            if sh2o[0] + sice[0] == smc0[0]:                      # layer 1's K at the state's smc: computed
                k1 = work[6, 0]
            else:
                k1 = soil_water.hydraulics(smc0[0], sice[0], p)[0]
            infil, runoff_inf = soil_water.infiltration(qinsur / DENH2O, smc0, sice, k1, dt, p)
            for k in range(4):
                et_layers[k] = transp / DENH2O * root_w[k]
            drainage = 0.0
            runoff_sat = 0.0
            for sub in range(n_sub):
                if sub > 0:
                    for k in range(4):
                        work[6, k], work[7, k] = soil_water.hydraulics(sh2o[k] + sice[k], sice[k], p)
                dr, rs_ = soil_water.richards_solve(sh2o, sice, infil - e_soil / DENH2O, et_layers, dt / n_sub, p,
                                                    slope, work)
                drainage = drainage + dr / n_sub
                runoff_sat = runoff_sat + rs_ / n_sub
            qs = (runoff_inf + runoff_sat) * DENH2O                # kg m-2 s-1
            qsb = drainage * DENH2O

            # soil heat and phase change
            for k in range(4):
                smc[k] = sh2o[k] + sice[k]
                cap[k] = soil_heat.heat_capacity(smc[k], sh2o[k], p)
                tk[k] = soil_heat.conductivity(smc[k], sh2o[k], p)
            soil_heat.diffuse(stc, g_soil, cap, tk, tbot_in[m, c], dt, work)
            soil_heat.phase_change(stc, smc, sh2o, cap, p)

            # carbon and the next step's LAI
            psn = psn_sun * lai_sun + psn_sha * lai_sha            # umol CO2 m-2 s-1 (grid)
            w_root = 0.0
            for k in range(4):
                w_root = w_root + p.root_fraction[k] * smc[k] / p.smcmax
            (lfmass, stmass, rtmass, wood, fastcp, stblcp, gpp, npp, _, _, nee, _, lai, sai) = carbon_column(
                lfmass_in[m, c], stmass_in[m, c], rtmass_in[m, c], wood_in[m, c], fastcp_in[m, c], stblcp_in[m, c],
                psn, lai0, tv, stc[0], bt, w_root, igs, dt, p)

            # the new state
            soil_water_after = 0.0
            for k in range(4):
                new[k, m, c] = smc[k]
                new[4 + k, m, c] = sh2o[k]
                new[8 + k, m, c] = stc[k]
                soil_water_after = soil_water_after + DZ[k] * smc[k]
            tbot0 = tbot_in[m, c]
            for i, v in enumerate((tv, tg, eah, canwat, sneqv, snowh, snow_albedo, lfmass, stmass, rtmass, wood,
                                   fastcp, stblcp, lai, sai, tbot0 + (tair - tbot0) * (dt / TBOT_TIME_SCALE))):
                new[12 + i, m, c] = v

            et = e_canopy + transp + e_snow + e_soil
            water_after = canwat + sneqv + soil_water_after * DENH2O
            water_error = water_after - water_before - (rain + snowf - et - qs - qsb) * dt
            lh = le_evap + le_transp + le_ground - over * lat_v - h_extra
            for i, v in enumerate((et, transp, e_canopy, e_soil, e_snow, qs, qsb, gpp * 1e-3, nee * 1e-3,
                                   npp * 1e-3, melt / dt, sw_canopy + sw_ground, -lw_net_up, h_total, lh, g_soil,
                                   fsno, bt, water_error, canopy_residual)):
                out[i, m, c] = v
