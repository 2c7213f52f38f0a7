"""Dynamic vegetation and carbon (mpilda.model.vegetation), Noah-MP DVEG = 2.

Expected numbers are worked by hand from noahmp-physics.md s.1.3, s.7 and s.9.4 in the
tests themselves; the budget test checks the identity the module promises
(d total = (GPP - Ra - Rh + adjustment) dt) on random states.
"""

import math
from dataclasses import replace

import numpy as np
import pytest

from mpilda.model.parameters import read_mptable
from mpilda.model.vegetation import (
    CarbonPools, area_indices, carbon_params, carbon_step, cold_start_pools, phenology_column,
    vegetation_fraction_column)
from mpilda.model.noahmp import ColumnParameters
from mpilda.model.parameters import read_soilparm

TABLE = read_mptable()
ENF, EBF, DBF, GRASS, WETLAND, CROP = 1, 2, 4, 10, 11, 12
URBAN, SNOW, BARREN, WATER = 13, 15, 16, 17
DT = 900.0


def pools_of(lf, st, rt, wd, fc, sb):
    return CarbonPools(*(np.asarray(v, dtype=float) for v in (lf, st, rt, wd, fc, sb)))


def budget_residual(old, new, fl, dt):
    return new.total() - old.total() - (fl.gpp - fl.autotrophic_resp - fl.heterotrophic_resp
                                        + fl.carbon_adjustment) * dt


# --- initialisation and diagnostics ----------------------------------------------------

def test_cold_start_pools():
    p = carbon_params(TABLE, np.array([DBF, GRASS, URBAN, WATER]))
    pools = cold_start_pools(np.array([4.0, 1.2, 3.0, 0.0]), np.array([0.6, 0.3, 0.5, 0.0]), p)
    # LFMASS = LAI 1000/SLA: 4*1000/80 = 50, 1.2*1000/60 = 20; STMASS = SAI 1000/3
    assert pools.lfmass == pytest.approx([50.0, 20.0, 0.0, 0.0], rel=1e-12)
    assert pools.stmass == pytest.approx([200.0, 100.0, 0.0, 0.0], rel=1e-12)
    assert list(pools.rtmass) == [500.0, 500.0, 0.0, 0.0]
    assert list(pools.wood) == [500.0, 500.0, 0.0, 0.0]
    assert list(pools.fastcp) == [1000.0, 1000.0, 0.0, 0.0]
    assert list(pools.stblcp) == [1000.0, 1000.0, 0.0, 0.0]
    lai, sai = area_indices(pools, p)
    assert lai == pytest.approx([4.0, 1.2, 0.0, 0.0]) and sai == pytest.approx([0.6, 0.3, 0, 0])
    # (members, cells) LAI with (cells,) parameters
    assert cold_start_pools(np.ones((5, 4)), 0.4, p).wood.shape == (5, 4)


def _record(landcover, shdmax=0.7):
    return ColumnParameters(np.array([landcover]), np.array([6]), TABLE, read_soilparm(), shdmax, 285.0).table[0]


def test_vegetation_fraction():
    # DVEG 2: 1 - exp(-0.52 (LAI + SAI)), at least 0.05; DVEG 5: SHDMAX, at least 0.05; 0 without exposed canopy
    # or vegetation (NOAHMP_SFLX)
    dbf = _record(DBF, shdmax=0.63)
    assert vegetation_fraction_column(2, 3.0, 1.0, 3.0, 1.0, dbf) == pytest.approx(1.0 - math.exp(-2.08), rel=1e-15)
    assert vegetation_fraction_column(2, 0.03, 0.06, 0.0, 0.06, dbf) == 0.05
    assert vegetation_fraction_column(5, 3.0, 1.0, 3.0, 1.0, dbf) == 0.63
    assert vegetation_fraction_column(5, 0.5, 0.1, 0.5, 0.1, _record(DBF, shdmax=0.01)) == 0.05
    for dveg in (2, 5):
        assert vegetation_fraction_column(dveg, 3.0, 1.0, 0.0, 0.0, dbf) == 0.0       # buried by snow
        assert vegetation_fraction_column(dveg, 3.0, 1.0, 3.0, 1.0, _record(BARREN)) == 0.0
        assert vegetation_fraction_column(dveg, 3.0, 1.0, 3.0, 1.0, _record(URBAN)) == 0.0


def test_phenology_burial_and_thresholds():
    grass = _record(GRASS)          # HVT 0.5, HVB 0.05: short vegetation, exponential burial
    p = grass
    lai, sai, elai, esai, igs = phenology_column(2.0, 0.4, 0.1, 290.0, p)
    snowhc = p["hvt"] * math.exp(-0.1 / 0.2)                    # critical depth of short vegetation
    fb = min(0.1, snowhc) / snowhc
    assert (lai, sai) == (2.0, 0.4)
    assert elai == pytest.approx(2.0 * (1.0 - fb), rel=1e-14) and esai == pytest.approx(0.4 * (1 - fb), rel=1e-14)
    assert igs == (1.0 if 290.0 > p["tmin"] else 0.0)
    assert phenology_column(2.0, 0.4, 0.0, p["tmin"] - 1.0, p)[4] == 0.0
    # SAI below 0.05 counts as none, and then so does LAI; exposed areas below 0.05 too
    assert phenology_column(2.0, 0.04, 0.0, 290.0, p)[:4] == (0.0, 0.0, 0.0, 0.0)
    assert phenology_column(0.04, 0.3, 0.0, 290.0, p)[:4] == (0.0, 0.3, 0.0, 0.3)
    # a tall canopy is buried linearly between HVB and HVT
    enf = _record(ENF)
    h = enf["hvb"] + 0.25 * (enf["hvt"] - enf["hvb"])
    _, _, elai, esai, _ = phenology_column(4.0, 0.8, h, 290.0, enf)
    assert elai == pytest.approx(3.0, rel=1e-12) and esai == pytest.approx(0.6, rel=1e-12)
    assert phenology_column(4.0, 0.8, 3.0, 290.0, _record(BARREN))[:4] == (0.0, 0.0, 0.0, 0.0)


def test_lai_follows_leaf_mass():
    classes = np.array([ENF, EBF, DBF, GRASS, CROP, 6, 9, URBAN])
    p = carbon_params(TABLE, classes)
    sla = {ENF: 80, EBF: 80, DBF: 80, GRASS: 60, CROP: 80, 6: 60, 9: 50, URBAN: 60}   # s.9.4
    pools = cold_start_pools(np.array([4.0, 4.5, 2.0, 1.0, 0.3, 0.02, 2.0, 0.0]), 0.5, p)
    lai = area_indices(pools, p)[0]
    rng = np.random.default_rng(11)
    for _ in range(50):
        pools, fl = carbon_step(pools, rng.uniform(0, 25, 8), lai, rng.uniform(270, 305, 8),
                                285.0, rng.uniform(0, 1, 8), 0.3, 1.0, 3600.0, p)
        lai = fl.lai
        for i, k in enumerate(classes):
            if k == URBAN:
                assert fl.lai[i] == 0.0 and fl.sai[i] == 0.0
            else:
                assert fl.lai[i] == pytest.approx(max(pools.lfmass[i] * sla[k] / 1000.0, 0.05),
                                                  rel=1e-12)
                assert fl.sai[i] == pytest.approx(max(pools.stmass[i] * 0.003, 0.05), rel=1e-12)


# --- one step by hand ------------------------------------------------------------------

def test_night_step_by_hand():
    """DBF at night: maintenance respiration, turnover, death, soil carbon (s.7, s.9.4)."""
    p = carbon_params(TABLE, np.array([DBF, DBF]))
    old = pools_of([40.0] * 2, [200.0] * 2, [500.0] * 2, [500.0] * 2, [1000.0] * 2, [1000.0] * 2)
    tv = np.array([298.16, 308.16])
    igs = np.array([1.0, 0.0])
    new, fl = carbon_step(old, 0.0, 2.0, tv, 293.16, 1.0, 0.3, igs, DT, p)
    # DBF: RMF25 3.0, RMS25 0.10, RMR25 0.01, ARM 2, FOLNMX 1.5, SLA 80, LTOVRC 0.55,
    # DILEFC 0.6, DILEFW 0.2, TDLEF 278, MRP 0.40, WDPOOL 1
    # column 0: TF = 1, RF = 1; column 1: TF = 2, RF = 0.5 -> TF RF = 1 for leaf/stem/root
    rsleaf = 3.0 * (1.0 / 1.5) * 2.0 * 1.0 * 12e-6                 # 4.8e-5
    rsstem = 0.10 * (200.0 - 0.05 / 0.003) / 1000.0 * 12e-6       # 2.2e-7
    rsroot = 0.01 * 500.0 / 1000.0 * 12e-6                         # 6e-8
    rswood = 3.0e-10 * np.exp(0.08 * (tv - 298.16)) * 500.0        # 1.5e-7, 3.338e-7
    ra = rsleaf + rsstem + rsroot + rswood                          # no growth respiration (GPP 0)
    assert fl.autotrophic_resp == pytest.approx(ra, rel=1e-12)
    assert np.all(fl.gpp == 0.0)
    # leaves lose turnover and cold death only (respiration is not taken from the leaf pool)
    die = 1e-6 * (0.2 * math.exp(-100.0) + 0.6 * np.exp(-0.3 * (tv - 278.0)) * 40.0 / 120.0)
    lftovr, dielf = 0.55 * 5e-7 * 40.0, 40.0 * die
    assert new.lfmass == pytest.approx(40.0 - (lftovr + dielf) * DT, rel=1e-13)
    sttovr, diest = 0.55 * 5e-7 * 200.0, 200.0 * die
    assert new.stmass == pytest.approx(200.0 - (sttovr + diest) * DT, rel=1e-13)
    rttovr, wdtovr = 2e-8 * 500.0, 9.5e-10 * 500.0
    assert new.rtmass == pytest.approx(500.0 + (-rsroot - rttovr) * DT, rel=1e-13)
    assert new.wood == pytest.approx(500.0 + (-rswood - wdtovr) * DT, rel=1e-13)
    # soil: f_T = 2^((293.16-283.16)/10) = 2, f_W = 0.3/0.5 * 0.23/0.53 = 0.26038
    fast1 = 1000.0 + (lftovr + dielf + sttovr + diest + rttovr + wdtovr) * DT
    rssoil = 0.3 / 0.5 * 0.23 / 0.53 * 2.0 * 0.40 * fast1 / 1000.0 * 12e-6   # ~2.5e-6
    assert fl.heterotrophic_resp == pytest.approx(0.9 * rssoil, rel=1e-12)
    assert new.fastcp == pytest.approx(fast1 - 1.1 * rssoil * DT, rel=1e-13)
    assert new.stblcp == pytest.approx(1000.0 + 0.1 * rssoil * DT, rel=1e-13)
    assert fl.nee == pytest.approx(ra + 0.9 * rssoil, rel=1e-12)          # a source, g C
    assert fl.npp == pytest.approx(-(rsroot + rswood), rel=1e-12)
    # created: leaf and stem maintenance respiration (not drawn from the pools);
    # destroyed: 0.1 RSSOIL
    assert fl.carbon_adjustment == pytest.approx(rsleaf + rsstem - 0.1 * rssoil, rel=1e-10)
    assert np.abs(budget_residual(old, new, fl, DT)).max() < 1e-11


def test_day_step_only_the_soil_leak_is_unbalanced():
    """Strong uptake, warm, pools above their minima: the only adjustment is -0.1 RSSOIL."""
    p = carbon_params(TABLE, DBF)
    old = pools_of(40.0, 200.0, 500.0, 500.0, 1000.0, 1000.0)
    new, fl = carbon_step(old, 30.0, 3.2, 295.0, 290.0, 0.9, 0.35, 1.0, DT, p)
    assert fl.gpp == pytest.approx(30.0 * 12e-6, rel=1e-14)
    assert fl.carbon_adjustment == pytest.approx(-fl.heterotrophic_resp / 9.0, rel=1e-9)
    assert abs(budget_residual(old, new, fl, DT)) < 1e-11
    assert fl.nee < 0.0 and new.lfmass > old.lfmass


def test_allocation_and_evergreen_broadleaf_exponent():
    """Leaf/stem shares of GPP with respiration, turnover and death switched off (s.7)."""
    p = replace(carbon_params(TABLE, np.array([ENF, EBF])), ltovrc=0.0, dilefc=0.0, dilefw=0.0,
                rmf25=0.0, rms25=0.0, rmr25=0.0, fragr=0.2)
    old = pools_of([30.0] * 2, [100.0] * 2, [500.0] * 2, [500.0] * 2, [1000.0] * 2, [1000.0] * 2)
    lai, psn = 2.0, 20.0
    new, fl = carbon_step(old, psn, lai, 295.0, 290.0, 1.0, 0.3, 1.0, DT, p)
    carbfx = psn * 12e-6
    for i, exponent in enumerate((0.75, 0.5)):
        leafpt = math.exp(0.01 * (1.0 - math.exp(exponent * lai)) * lai)   # 0.93273 / 0.96621
        stempt = lai / 10.0 * leafpt
        dleaf = (1.0 - 0.2) * (leafpt - stempt) * carbfx * DT                # GR = 0.2 of the share
        dstem = (1.0 - 0.2) * stempt * carbfx * DT
        assert new.lfmass[i] - 30.0 == pytest.approx(dleaf, rel=1e-9)
        assert new.stmass[i] - 100.0 == pytest.approx(dstem, rel=1e-9)
    assert new.lfmass[1] > new.lfmass[0]          # the EBF keeps more carbon in leaves


def test_tmin_stops_leaf_growth():
    p = carbon_params(TABLE, np.array([DBF, DBF]))                # TMIN = 273 K
    old = pools_of([12.5] * 2, [100.0] * 2, [500.0] * 2, [500.0] * 2, [1e3] * 2, [1e3] * 2)
    tv = np.array([272.0, 274.0])
    new, fl = carbon_step(old, 25.0, 1.0, tv, 275.0, 1.0, 0.3, 1.0, DT, p)
    # below TMIN: only turnover and cold death (TDLEF = 278 K: SC = exp(0) 12.5/120)
    die = 1e-6 * (0.2 * math.exp(-100.0) + 0.6 * 12.5 / 120.0)
    assert new.lfmass[0] == pytest.approx(12.5 - (0.55 * 5e-7 + die) * 12.5 * DT, rel=1e-13)
    assert new.lfmass[1] > 12.5
    assert abs(budget_residual(old, new, fl, DT)).max() < 1e-11
    assert fl.carbon_adjustment[0] < 0.0            # the leaf's net share is discarded


def test_non_vegetated_classes_are_emptied():
    p = carbon_params(TABLE, np.array([URBAN, SNOW, BARREN, WATER]))
    old = pools_of([10.0] * 4, [20.0] * 4, [30.0] * 4, [40.0] * 4, [50.0] * 4, [60.0] * 4)
    new, fl = carbon_step(old, 10.0, 1.0, 290.0, 285.0, 1.0, 0.3, 1.0, DT, p)
    for v in (new.lfmass, new.stmass, new.rtmass, new.wood, new.fastcp, new.stblcp,
              fl.gpp, fl.npp, fl.autotrophic_resp, fl.heterotrophic_resp, fl.nee, fl.lai, fl.sai):
        assert np.all(v == 0.0)
    assert fl.carbon_adjustment == pytest.approx(np.full(4, -210.0 / DT), rel=1e-14)


# --- conservation ----------------------------------------------------------------------

def test_carbon_budget_closes_over_many_random_steps():
    rng = np.random.default_rng(2024)
    classes = np.tile(np.arange(1, 21), 3)                      # every class, 60 cells
    p = carbon_params(TABLE, classes)
    shape = (4, classes.size)                                   # (members, cells)
    pools = cold_start_pools(rng.uniform(0.0, 5.0, shape), rng.uniform(0.0, 1.0, shape), p)
    pools = replace(pools, rtmass=pools.rtmass * (rng.random(shape) < 0.8) * rng.random(shape),
                    wood=pools.wood * (rng.random(shape) < 0.8))   # small and empty pools too
    lai = area_indices(pools, p)[0]
    start = pools.total()
    net = np.zeros(shape)
    for step in range(300):
        dt = DT if step % 3 else 3600.0
        gpp = rng.uniform(0.0, 35.0, shape) * (rng.random(shape) < 0.6)
        tv = rng.uniform(255.0, 312.0, shape)
        btran = rng.uniform(0.0, 1.0, shape) * (rng.random(shape) < 0.9)
        old = pools
        pools, fl = carbon_step(pools, gpp, lai, tv, tv - rng.uniform(0, 5, shape), btran,
                                rng.uniform(0.0, 1.0, shape), (tv > 273.0) * 1.0, dt, p)
        lai = fl.lai
        scale = 1.0 + old.total()
        assert np.abs(budget_residual(old, pools, fl, dt) / scale).max() < 1e-14
        assert np.allclose(fl.nee, fl.autotrophic_resp + fl.heterotrophic_resp - fl.gpp,
                           rtol=0, atol=1e-18)
        net += (fl.gpp - fl.autotrophic_resp - fl.heterotrophic_resp + fl.carbon_adjustment) * dt
    assert np.abs(pools.total() - start - net).max() < 1e-9
    assert np.all(pools.rtmass >= 0.0)
    assert np.all(pools.lfmass[:, p.vegetated] > 0.0)


def test_root_clip_is_accounted():
    """RTMASS < 0 -> RTMASS = 0, RTTOVR = NPPR: the old root mass is destroyed (s.7).

    Root loss is (RMR25 TF RF 12e-9 + 2e-8) RTMASS per second, so it overshoots only for
    steps longer than ~1/7e-7 s at RMR25 = 2.11 (wooded tundra); a 2e7 s step forces it.
    """
    p = carbon_params(TABLE, np.array([18, 18]))
    old = pools_of([20.0] * 2, [100.0] * 2, [10.0] * 2, [0.0] * 2, [1000.0] * 2, [1000.0] * 2)
    dt = np.array([900.0, 2.0e7])
    for k in range(2):
        new, fl = carbon_step(old, 0.0, 1.6, 308.16, 290.0, 1.0, 0.3, 1.0, dt[k], p)
        assert np.abs(budget_residual(old, new, fl, dt[k]) / (1.0 + old.total())).max() < 1e-14
    assert np.all(new.rtmass == 0.0)
    # the budget above closes only because the adjustment holds -RTMASS/dt = -10/2e7;
    # NPP is the root's alone: NPPR = -RSROOT (no GPP, no wood, leaf/stem above minimum)
    rsroot = 2.11 * 10.0 / 1000.0 * 2.0 * 12e-6          # RMR25 RTMASS/1000 TF RF 12e-6
    assert fl.npp == pytest.approx(np.full(2, -rsroot), rel=1e-12)


# --- seasonal behaviour -----------------------------------------------------------------

def synthetic_day(doy, dt):
    """Leaf temperature [K] and light fraction [0-1] over one day (a mid-latitude climate).

    Daily mean -5 deg C in mid-January, +21 deg C in mid-July, +-5 K daily cycle peaking
    at 15 h; day length 8 h (winter) to 16 h (summer).
    """
    hours = (np.arange(int(86400 / dt)) + 0.5) * dt / 3600.0
    tmean = 281.15 - 13.0 * math.cos(2.0 * math.pi * (doy - 15) / 365.0)
    tv = tmean + 5.0 * np.sin(2.0 * math.pi * (hours - 9.0) / 24.0)
    daylen = 12.0 - 4.0 * math.cos(2.0 * math.pi * (doy + 10) / 365.0)
    light = np.clip(np.sin(math.pi * (hours - (12.0 - daylen / 2.0)) / daylen), 0.0, None)
    light[np.abs(hours - 12.0) >= daylen / 2.0] = 0.0
    return tmean, tv, light


def canopy_psn(light, tv, lai, btran=1.0):
    """A plausible canopy PSN [umol m-2 s-1]: 15 umol m-2 leaf s-1 at full light and
    >= 15 deg C, scaled by the light-weighted leaf area (1 - e^{-0.5 LAI})/0.5 and BTRAN."""
    leaf = 15.0 * light * np.clip((tv - 273.15) / 15.0, 0.0, 1.0) * btran
    return leaf * (1.0 - np.exp(-0.5 * lai)) / 0.5


def test_deciduous_broadleaf_year():
    """A DBF cell from 1 August through one year: autumn leaf fall, spring green-up."""
    p = carbon_params(TABLE, DBF)                               # TDLEF 278 K, TMIN 273 K
    dt = 3600.0
    pools = cold_start_pools(3.5, 1.0, p)
    lai = area_indices(pools, p)[0]
    start = pools.total()
    net = 0.0
    days = list(range(212, 365)) + list(range(0, 212))          # 1 Aug .. 31 Jul
    daily_lai = {}
    for doy in days:
        tmean, tvs, light = synthetic_day(doy, dt)
        for tv, li in zip(tvs, light):
            pools, fl = carbon_step(pools, canopy_psn(li, tv, lai), lai, tv, tmean, 1.0, 0.3,
                                    float(tv > p.tmin), dt, p)
            lai = fl.lai
            net += (fl.gpp - fl.autotrophic_resp - fl.heterotrophic_resp
                    + fl.carbon_adjustment) * dt
        daily_lai[doy] = float(lai)
    late_winter = np.mean([daily_lai[d] for d in range(45, 59)])     # 15-28 Feb
    summer = np.mean([daily_lai[d] for d in range(181, 212)])       # July
    assert summer > 3.0 * late_winter
    assert 2.0 < summer < 7.0 and late_winter < 1.0
    assert daily_lai[150] > 5.0 * daily_lai[59]                     # green-up Mar 1 -> May 31
    assert daily_lai[348] < 0.5 * daily_lai[258]                    # leaf fall Sep 15 -> Dec 15
    assert daily_lai[258] > 2.5                                     # no fall before the cold
    assert abs(float(pools.total() - start) - net) < 1e-8           # the year's budget


def test_drought_increases_leaf_loss():
    """30 warm summer days, wet (BTRAN 1) vs dry (BTRAN 1e-6) soil, DBF."""
    p = carbon_params(TABLE, np.array([DBF] * 4))
    pools = cold_start_pools(np.full(4, 4.0), 1.0, p)            # LFMASS 50 g m-2
    lai = area_indices(pools, p)[0]
    btran = np.array([1.0, 1e-6, 1.0, 1e-6])
    dt = 3600.0
    for doy in range(180, 210):
        _, tvs, light = synthetic_day(doy, dt)
        for tv, li in zip(tvs, light):
            # columns 0, 1: no photosynthesis (isolates death); 2, 3: GPP scaled by BTRAN
            psn = np.where(np.arange(4) < 2, 0.0, canopy_psn(li, tv, lai, btran))
            pools, fl = carbon_step(pools, psn, lai, tv, tv, btran, 0.3, 1.0, dt, p)
            lai = fl.lai
    lf = pools.lfmass
    # without GPP: d LFMASS/dt = -(turnover + death) LFMASS; drought adds DILEFW exp(-100 BTRAN) 1e-6
    expected_ratio = math.exp(-0.2e-6 * (math.exp(-1e-4) - math.exp(-100.0)) * 30 * 86400)  # 0.595
    assert lf[1] / lf[0] == pytest.approx(expected_ratio, rel=1e-2)
    assert lf[3] < lf[2] and lf[3] < 50.0 * 0.7                  # drought: net leaf loss
    assert fl.lai[3] < fl.lai[2]
