"""mpilda's Noah-MP-like land surface model: one 900 s step for all columns at once.

The order of processes follows Noah-MP's NOAHMP_SFLX (noahmp-physics.md s.1.1):
vegetation structure and snow burial, radiation, soil-moisture stress,
stomata (sunlit/shaded Ball-Berry/Farquhar), canopy interception, the coupled
canopy/ground energy balance, evaporation limits, snow, soil water (Schaake
infiltration, implicit Richards, free drainage), soil heat and phase change,
and the carbon model (DVEG = 2) that gives the next step's LAI.

Every step checks, per column, that the change of stored water equals
precipitation - evapotranspiration - surface runoff - drainage, and reports
the energy residual of the canopy balance (the ground balance closes by
construction).  ``step`` raises ``BalanceError`` beyond the tolerances.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from . import canopy, energy, radiation, snow, soil_heat, soil_water
from .constants import DENH2O, DZ, HFUS, HSUB, RW, GRAV, TFRZ, ZSOIL
from .parameters import SoilTable, VegetationTable, read_mptable, read_soilparm
from .photosynthesis import photosynthesis_params, stomata
from .state import State
from .vegetation import CarbonPools, carbon_params, carbon_step, cold_start_pools, vegetation_fraction

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
    """Per-cell parameters (arrays (n_cells,), per-layer ones (4, 1, n_cells)) from class maps and tables."""

    def __init__(self, landcover: np.ndarray, soil: np.ndarray, veg: VegetationTable, soiltab: SoilTable):
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
        self.root_fraction = np.where(layer < nroot[None, :], DZ[:, None] / zroot[None, :], 0.0)[:, None, :]
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


def _monthly(table: np.ndarray, time: dt.datetime) -> np.ndarray:
    """A monthly climatology (12, n) interpolated between mid-months (Noah-MP PHENOLOGY)."""
    doy = time.timetuple().tm_yday
    t = 12.0 * doy / 365.25 - 0.5
    m0 = int(np.floor(t)) % 12
    w = t - np.floor(t)
    return (1.0 - w) * table[m0] + w * table[(m0 + 1) % 12]


class NoahMP:
    """The land surface model behind mpilda's run loop.

    Interface (all a different model needs to offer, e.g. a compiled Noah-MP):
    ``cold_start(n_ens, forcing, time) -> State``, ``step(state, forcing, time) -> fluxes``
    (state updated in place), ``DA_VARIABLES`` and ``get``/``set`` of them.

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
        self.p = ColumnParameters(landcover, soil, self.veg, self.soiltab)
        self.lat, self.lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
        self.settings = settings

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
        """Advance all columns by one step from ``time``; returns the step's fluxes (SI units)."""
        p, dt_ = self.p, self.settings.dt
        f = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), s.shape) for k, v in forcing.items()}
        water_before = s.water()
        rain, snowf = f["rainf"], f["snowf"]

        # vegetation structure and snow burial (PHENOLOGY)
        fb = _buried_fraction(s.snowh, p.hvt, p.hvb)
        elai, esai = s.lai * (1.0 - fb), s.sai * (1.0 - fb)
        fveg = np.where(elai + esai > 0, vegetation_fraction(s.lai, s.sai, p.carbon), 0.0)
        fsno = snow.cover_fraction(s.sneqv, s.snowh, p.mfsno)

        # radiation
        cosz = radiation.cos_zenith(self.lat, self.lon, time + dt.timedelta(seconds=dt_ / 2))
        soil_vis, soil_nir = radiation.soil_albedo(s.sh2o[0], p.soil_albedo)
        g_vis = soil_vis * (1.0 - fsno) + s.snow_albedo * fsno
        g_nir = soil_nir * (1.0 - fsno) + s.snow_albedo * fsno
        rad = radiation.shortwave(f["swdown"], cosz, elai, esai, fveg, p, g_vis, g_nir)
        fv = rad["fveg"]
        vai_e = rad["vai_e"]

        # soil-moisture stress, conductances, stomata (with last step's leaf temperature and canopy air)
        bt, root_w = soil_water.btran(s.sh2o, p)
        t_surf_prev = fv * s.tv + (1.0 - fv) * s.tg
        c_air_veg, c_ground_veg, rb, c_air_bare = energy.exchange_conductances(
            f["wind"], f["tair"], t_surf_prev, p.hvt, p.z0mvt, vai_e, p.cwpvt, p.dleaf)
        igs = (s.tv > p.tmin).astype(np.float64)
        rs_sun, psn_sun = stomata(rad["par_sun"], s.tv, f["tair"], s.eah, f["psurf"], rb, bt, igs, FOLN, p.photo)
        rs_sha, psn_sha = stomata(rad["par_sha"], s.tv, f["tair"], s.eah, f["psurf"], rb, bt, igs, FOLN, p.photo)

        # interception
        wmax = canopy.capacity(elai, esai, p.ch2op)
        canwat, rain_ground = canopy.intercept(rain, s.canwat, wmax, fv, dt_)
        fwet = canopy.wet_fraction(canwat, wmax)

        # leaf and ground conductances for vapour
        safe_fv = np.maximum(fv, 1e-6)
        c_leaf = np.where(fv > 0, 2.0 * vai_e / rb, 0.0)
        c_evap = np.where(fv > 0, fwet * vai_e / rb, 0.0)
        c_transp = np.where(fv > 0, (1.0 - fwet) * (rad["lai_sun"] / safe_fv / (rb + rs_sun)
                                                     + rad["lai_sha"] / safe_fv / (rb + rs_sha)), 0.0)
        r_surf, h_surf = _soil_surface(s.sh2o[0], s.tg, fsno, p)
        tk = soil_heat.conductivity(s.smc, s.sh2o, p)
        k_ground = soil_heat.ground_conductance(tk[0], s.snowh)
        tv, tg, ef = energy.surface_energy(
            f, rad["sw_canopy"], rad["sw_ground"],
            dict(tv=s.tv, tg=s.tg, t_soil1=s.stc[0], snow=s.sneqv > 0),
            dict(fveg=fv, vai_e=vai_e, emis_veg=1.0 - np.exp(-vai_e), c_leaf=c_leaf, c_evap=c_evap,
                 c_transp=c_transp),
            dict(emis_ground=p.emis_soil * (1.0 - fsno) + fsno, h_surf=h_surf, r_surf=r_surf,
                 k_ground=k_ground, fsno=fsno),
            dict(c_air_veg=c_air_veg, c_ground_veg=c_ground_veg, c_air_bare=c_air_bare))
        h_canopy, h_total = ef["h_canopy"].copy(), ef["h"].copy()

        # canopy water: evaporation limited by the store; dew from either leaf flux joins it
        e_evap = ef["le_evap"] / ef["lat_v"]
        e_tran = ef["le_transp"] / ef["lat_v"]
        evap_mass = np.minimum(e_evap * dt_, canwat)               # no more than the store holds ...
        over = e_evap - evap_mass / dt_                            # ... the rest becomes sensible heat
        e_evap = evap_mass / dt_
        h_canopy += over * ef["lat_v"]
        h_total += over * ef["lat_v"]
        dew = np.minimum(e_tran, 0.0)                              # condensation on dry leaves joins the store
        e_canopy = e_evap + dew
        transp = np.maximum(e_tran, 0.0)
        canwat = canwat - evap_mass - dew * dt_
        drip = np.maximum(canwat - wmax, 0.0)
        canwat -= drip
        rain_ground = rain_ground + drip / dt_

        # ground evaporation: sublimation from snow, evaporation from soil layer 1
        e_ground = ef["le_ground"] / ef["lat_g"]
        sneqv, snowh = snow.accumulate(s.sneqv, s.snowh, snowf, f["tair"], dt_)
        e_snow = fsno * e_ground
        e_soil = (1.0 - fsno) * e_ground
        subl_mass = np.minimum(e_snow * dt_, sneqv)
        over_snow = e_snow - subl_mass / dt_
        avail_soil = np.maximum(s.sh2o[0] - np.maximum(p.smcdry, DRY_SURFACE), 0.0) * DZ[0] * DENH2O / dt_
        over_soil = np.maximum(e_soil - avail_soil, 0.0)
        e_snow = subl_mass / dt_
        e_soil = e_soil - over_soil
        h_extra = over_snow * ef["lat_g"] + over_soil * ef["lat_g"]
        h_total += h_extra
        sneqv = sneqv - subl_mass
        # melt with the energy that the snow surface could not use to warm above freezing
        melt = np.minimum(ef["melt_energy"] / HFUS * dt_, np.maximum(sneqv, 0.0))
        g_soil = ef["g"] + ef["melt_energy"] - melt * HFUS / dt_   # energy beyond the last snow enters the soil
        sneqv = sneqv - melt
        gone = sneqv < 1e-6                                       # vanishing snow leaves as melt water
        melt = melt + np.where(gone, sneqv, 0.0)
        sneqv = np.where(gone, 0.0, sneqv)
        snowh = np.where(gone, 0.0, np.maximum(snowh * np.where(s.sneqv + snowf * dt_ > 0,
                                                                 sneqv / np.maximum(s.sneqv + snowf * dt_, 1e-12),
                                                                 0.0), 0.0))
        snowh = snow.settle(sneqv, snowh, dt_)
        snow_albedo = snow.albedo_step(s.snow_albedo, snowf, dt_, p.swemx)

        # soil water
        qinsur = rain_ground + melt / dt_                          # kg m-2 s-1 reaching the soil surface
        sice = s.smc - s.sh2o
        k1, _ = soil_water.hydraulics(s.smc[:1], sice[:1], p)
        infil, runoff_inf = soil_water.infiltration(qinsur / DENH2O, s.smc, sice, k1[0], dt_, p)
        et_layers = transp / DENH2O * root_w
        sh2o = s.sh2o
        drainage = np.zeros_like(tv)
        runoff_sat = np.zeros_like(tv)
        n_sub = self.settings.soil_substeps
        for _ in range(n_sub):
            sh2o, dr, rs_ = soil_water.richards_step(sh2o, sice, infil - e_soil / DENH2O, et_layers, dt_ / n_sub,
                                                     p, self.settings.drainage_slope)
            drainage += dr / n_sub
            runoff_sat += rs_ / n_sub
        qs = (runoff_inf + runoff_sat) * DENH2O                    # kg m-2 s-1
        qsb = drainage * DENH2O

        # soil heat and phase change
        smc = sh2o + sice
        cap = soil_heat.heat_capacity(smc, sh2o, p)
        tk = soil_heat.conductivity(smc, sh2o, p)
        stc, _ = soil_heat.diffuse(s.stc, g_soil, cap, tk, s.tbot, dt_)
        stc, sh2o, _ = soil_heat.phase_change(stc, smc, sh2o, cap, soil_heat.supercooled_liquid(stc, p))

        # carbon and the next step's LAI
        psn = psn_sun * rad["lai_sun"] + psn_sha * rad["lai_sha"]   # umol CO2 m-2 s-1 (grid)
        w_root = (p.root_fraction * smc / p.smcmax).sum(axis=0)
        pools, cf = carbon_step(CarbonPools(s.lfmass, s.stmass, s.rtmass, s.wood, s.fastcp, s.stblcp),
                                psn, s.lai, tv, stc[0], bt, w_root, igs, dt_, p.carbon)

        # the new state
        s.smc, s.sh2o, s.stc, s.tv, s.tg, s.eah = smc, sh2o, stc, tv, tg, ef["eah"]
        s.canwat, s.sneqv, s.snowh, s.snow_albedo = canwat, sneqv, snowh, snow_albedo
        s.lfmass, s.stmass, s.rtmass, s.wood, s.fastcp, s.stblcp = (pools.lfmass, pools.stmass, pools.rtmass,
                                                                    pools.wood, pools.fastcp, pools.stblcp)
        s.lai, s.sai = cf.lai, cf.sai
        s.tbot = s.tbot + (f["tair"] - s.tbot) * (dt_ / TBOT_TIME_SCALE)

        et = e_canopy + transp + e_snow + e_soil
        fluxes = dict(et=et, transpiration=transp, canopy_evaporation=e_canopy, soil_evaporation=e_soil,
                      sublimation=e_snow, qs=qs, qsb=qsb, gpp=cf.gpp * 1e-3, nee=cf.nee * 1e-3,
                      npp=cf.npp * 1e-3, snowmelt=melt / dt_,
                      swnet=rad["sw_canopy"] + rad["sw_ground"], lwnet=-ef["lw_net_up"], hfx=h_total,
                      lh=ef["le_evap"] + ef["le_transp"] + ef["le_ground"] - over * ef["lat_v"] - h_extra,
                      ghf=g_soil, fsno=fsno, btran=bt)
        fluxes["water_error"] = s.water() - water_before - (rain + snowf - et - qs - qsb) * dt_
        fluxes["energy_residual"] = ef["canopy_residual"]
        if self.settings.check_balance:
            self._check(fluxes, time)
        return fluxes

    def _check(self, fluxes, time):
        werr = np.abs(fluxes["water_error"])
        werr = np.where(np.isfinite(werr), werr, np.inf)
        if werr.max(initial=0.0) > WATER_TOLERANCE:
            i = np.unravel_index(np.argmax(werr), werr.shape)
            raise BalanceError(f"water balance of column (member {i[0]}, cell {i[1]}) at {time:%Y-%m-%d %H:%M} "
                               f"off by {fluxes['water_error'][i]:.3e} kg m-2 (tolerance {WATER_TOLERANCE})")
        eres = np.abs(fluxes["energy_residual"])
        eres = np.where(np.isfinite(eres), eres, np.inf)
        if eres.max(initial=0.0) > ENERGY_TOLERANCE:
            i = np.unravel_index(np.argmax(eres), eres.shape)
            raise BalanceError(f"canopy energy balance of column (member {i[0]}, cell {i[1]}) at "
                               f"{time:%Y-%m-%d %H:%M} off by {fluxes['energy_residual'][i]:.3e} W m-2 "
                               f"(tolerance {ENERGY_TOLERANCE})")


def _buried_fraction(snowh, hvt, hvb):
    """Fraction of the canopy buried by snow (Noah-MP PHENOLOGY)."""
    short = hvt <= 1.0
    decayed = hvt * np.exp(-snowh / 0.2)
    fb_short = np.where(decayed > 0, np.minimum(snowh, decayed) / np.maximum(decayed, 1e-9), 0.0)
    fb_tall = np.clip(snowh - hvb, 0.0, np.maximum(hvt - hvb, 0.0)) / np.maximum(hvt - hvb, 1e-9)
    return np.clip(np.where(short, fb_short, fb_tall), 0.0, 1.0)


def _soil_surface(sh2o1, tg, fsno, p):
    """Soil surface resistance [s m-1] (Sakaguchi & Zeng 2009) and surface relative humidity."""
    wet = np.minimum(1.0, sh2o1 / p.smcmax)
    l_dry = DZ[0] * (np.exp((1.0 - wet) ** 5) - 1.0) / (np.e - 1.0)
    d_vap = 2.2e-5 * p.smcmax ** 2 * (1.0 - p.smcwlt / p.smcmax) ** (2.0 + 3.0 / p.bexp)
    r_soil = np.where(sh2o1 < DRY_SURFACE, 1e6, l_dry / d_vap)
    r_surf = fsno * p.rsurf_snow + (1.0 - fsno) * r_soil
    psi = -p.psisat * (np.maximum(0.01, sh2o1) / p.smcmax) ** (-p.bexp)
    h_surf = fsno + (1.0 - fsno) * np.exp(np.maximum(psi * GRAV / (RW * tg), -50.0))
    return r_surf, h_surf
