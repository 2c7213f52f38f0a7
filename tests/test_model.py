"""The land surface model against theory, published cases and stated climatological ranges."""

import datetime as dt

import numpy as np
import pytest

from mpilda.model import canopy, soil_water
from mpilda.model.constants import DZ
from mpilda.model.jit import LANES
from mpilda.model.noahmp import BalanceError, ColumnParameters, ModelSettings, NoahMP
from mpilda.model.parameters import read_mptable, read_soilparm

from .model_forcing import UTC, DiurnalForcing, run

LOAM, GRASS, CROP, DBF, ENF = 6, 10, 12, 4, 1


def params(landcover=GRASS, soil=LOAM):
    """The parameter record of one cell (what the scalar physics take as ``p``)."""
    return ColumnParameters(np.array([landcover]), np.array([soil]), read_mptable(), read_soilparm(), 0.8,
                            285.0).table[0]


def _soil_block(p, sh2o, sice, qinsur, qseva=0.0, et=(0.0,) * 4):
    """The soil-water lane block of one column (every lane the same)."""
    S = np.zeros(soil_water.BLOCK)

    def put(row, value):
        S[row * LANES:(row + 1) * LANES] = value

    for k in range(4):
        put(soil_water.SH2O + k, sh2o[k])
        put(soil_water.SMC + k, sh2o[k] + sice[k])
        put(soil_water.SICE + k, sice[k])
        put(soil_water.ET + k, et[k])
    put(soil_water.QINSUR, qinsur)
    put(soil_water.QSEVA, qseva)
    for name, row in (("smcmax", soil_water.SMCMAX), ("smcwlt", soil_water.SMCWLT), ("bexp", soil_water.BEXP),
                      ("satdk", soil_water.SATDK), ("satdw", soil_water.SATDW), ("kdt", soil_water.KDT),
                      ("frzx", soil_water.FRZX), ("urban", soil_water.URBAN)):
        put(row, p[name])
    return S


def _lane0(S, row):
    return S[row * LANES]


def test_soil_column_reaches_the_free_drainage_steady_state():
    p = params()
    q = 1.0e-8                                   # 0.86 mm/day entering the top, no evapotranspiration
    slope = 0.1
    S = _soil_block(p, np.full(4, 0.2), np.zeros(4), q)
    for _ in range(20000):
        soil_water.solve(S, 3600.0, slope)
    runsrf, drainage, fix = (_lane0(S, r) for r in (soil_water.RUNSRF, soil_water.QDRAIN, soil_water.FIX))
    sh2o = np.array([_lane0(S, soil_water.SH2O + k) for k in range(4)])
    # steady state: the drainage carries the input, and slope * K(theta_4) = q gives theta_4 (Clapp-Hornberger)
    assert drainage == pytest.approx(q * 1000.0, rel=1e-4) and runsrf == 0.0 and fix == 0.0
    theta4 = p["smcmax"] * (q / (slope * p["satdk"])) ** (1.0 / (2 * p["bexp"] + 3))
    assert sh2o[3] == pytest.approx(theta4, rel=1e-4)
    # every interface carries the same flux q: D grad + K of the upper layer
    ratio = sh2o / p["smcmax"]
    k = p["satdk"] * ratio ** (2 * p["bexp"] + 3)
    d = p["satdw"] * ratio ** (p["bexp"] + 2)
    fluxes = d[:-1] * 2 * (sh2o[:-1] - sh2o[1:]) / (DZ[:-1] + DZ[1:]) + k[:-1]
    assert np.allclose(fluxes, q, rtol=1e-4)
    # every lane did the same
    assert np.all(S[soil_water.SH2O * LANES:(soil_water.SH2O + 4) * LANES].reshape(4, LANES) == sh2o[:, None])


def test_the_soil_water_step_conserves_water():
    p = params()
    rng = np.random.default_rng(3)
    for _ in range(20):
        sh2o, sice = rng.uniform(0.05, 0.4, 4), rng.uniform(0.0, 0.05, 4)
        qinsur, qseva, et = rng.uniform(0, 3e-5), rng.uniform(0, 3e-8), rng.uniform(0, 2e-8, 4)
        S = _soil_block(p, sh2o, sice, qinsur, qseva, et)
        soil_water.solve(S, 900.0, 0.1)
        # stored water [mm] after - before = inflow - surface runoff - drainage (with the fix), everything included
        after = sum(_lane0(S, soil_water.SMC + k) * DZ[k] for k in range(4)) * 1000.0
        before = np.sum((sh2o + sice) * DZ) * 1000.0
        inflow = (qinsur - qseva - et.sum()) * 1000.0 * 900.0
        runoff = (_lane0(S, soil_water.RUNSRF) + _lane0(S, soil_water.QDRAIN) + _lane0(S, soil_water.FIX)) * 900.0
        assert after - before == pytest.approx(inflow - runoff, abs=1e-9)


def test_infiltration_excess_only_when_rain_exceeds_the_capacity():
    p = params(soil=12)                          # clay: Ks = 9.74e-7 m/s
    w = (0.35,) * 4
    dry = (0.0,) * 4
    k1 = p["satdk"] * (0.35 / p["smcmax"]) ** (2 * p["bexp"] + 3)
    gentle = 0.2 * k1
    runoff, infil = soil_water.infiltration(gentle, *w, *dry, 300.0, p)
    assert runoff == 0.0 and infil == gentle
    storm = 50.0 / 3600.0 / 1000.0                # 50 mm/h on clay
    runoff, infil = soil_water.infiltration(storm, *w, *dry, 300.0, p)
    assert runoff > 0.5 * storm and infil + runoff == pytest.approx(storm)
    # Schaake et al. (1996) by hand: D = sum dz (theta_s - theta), Ddt = D (1 - exp(-KDT dt/86400)), I = P Ddt/(P + Ddt)
    deficit = (p["smcmax"] - 0.35) * 2.0
    ddt = deficit * (1.0 - np.exp(-p["kdt"] * 300.0 / 86400.0))
    px = storm * 300.0
    assert infil == pytest.approx(max(px * ddt / (px + ddt) / 300.0, k1), rel=1e-12)
    # frozen ground takes in less (Koren et al. 1999)
    runoff_f, infil_f = soil_water.infiltration(storm, *(0.25,) * 4, *(0.1,) * 4, 300.0, p)
    assert infil_f < infil


def test_interception_store_fills_to_its_capacity_and_no_further():
    elai, esai, fveg, ch2op = 3.0, 0.5, 0.9, 0.1
    maxliq = ch2op * (elai + esai)                                       # 0.35 mm
    canliq = 0.0
    fp = 1.0 / 1.9                                                       # 10 % convective rain
    for _ in range(20):                                                  # 20 mm/h for 5 h
        canliq, canice, qrain, qsnow, fwet, *_ = canopy.intercept(20.0 / 3600, 0.0, fp, 100.0, elai, esai, fveg,
                                                                  canliq, 0.0, 290.0, 290.0, 290.0, 2.0, 900.0,
                                                                  ch2op)
        assert 0.0 <= canliq <= maxliq + 1e-15 and qrain >= 0 and canice == 0.0 and qsnow == 0.0
    assert canliq == pytest.approx(maxliq, rel=1e-3)
    assert fwet == pytest.approx(1.0, rel=1e-3)
    # snow: the capacity 6.6 (0.27 + 46/rho_new) (ELAI + ESAI) of Hedstrom & Pomeroy (1998)
    maxsno = 6.6 * (0.27 + 46.0 / 80.0) * (elai + esai)
    canice = 0.0
    for _ in range(100):
        _, canice, _, qsnow, fwet, *_ = canopy.intercept(0.0, 10.0 / 3600, fp, 80.0, elai, esai, fveg, 0.0, canice,
                                                         265.0, 265.0, 265.0, 0.0, 900.0, ch2op)
    assert 0.5 * maxsno < canice <= maxsno


def _model(classes, soils, lat, lon, dveg=5):
    return NoahMP(np.array(classes), np.array(soils), np.array(lat, float), np.array(lon, float),
                  settings=ModelSettings(dveg=dveg))


def test_drydown_without_rain_is_monotonic_and_slows():
    m = _model([GRASS, CROP], [LOAM, LOAM], [45.0, 45.0], [5.0, 5.0])
    f = DiurnalForcing(m.lat, m.lon, tmin=285.0, tmax=299.0, rh=0.5, wind=3.0)
    start = dt.datetime(2015, 6, 15, tzinfo=UTC)
    s = m.cold_start(1, f.at(start), start)
    s.smc[:] = s.sh2o[:] = m.p.smcmax[None, None, :] * 0.9
    out = run(m, s, f, start, 40)
    sm1 = out["sm1"][:, 0, :]
    rz = out["rzsm"][:, 0, :]
    assert np.all(np.diff(rz, axis=0) < 0)                         # root zone dries every day
    assert np.all(np.diff(sm1[3:], axis=0) <= 1e-12)              # surface dries (no rain, no capillary rise)
    early = rz[0] - rz[5]
    late = rz[-6] - rz[-1]
    assert np.all(late < 0.5 * early)                              # ... and ever more slowly


def test_fao56_brussels_6_july_reference_evapotranspiration():
    # FAO-56 (Allen et al. 1998) Example 18: Brussels, 50 deg 48' N, 6 July: Tmax 21.5, Tmin 12.3 deg C,
    # ea = 1.409 kPa, u2 = 2.078 m/s, Rs = 22.07 MJ m-2 d-1, net longwave 3.71 MJ m-2 d-1 -> ET0 = 3.9 mm/day.
    et0 = 3.9
    lat, lon = 50.8, 4.35
    m = _model([GRASS], [LOAM], [lat], [lon])
    u10 = 2.078 * np.log(67.8 * 10 - 5.42) / 4.87                 # FAO-56 eq. 47 inverted: 10 m wind
    ea = 1409.0

    class Brussels(DiurnalForcing):
        def at(self, time):
            f = super().at(time)
            f["qair"] = np.full(1, 0.622 * ea / (101325 - 0.378 * ea))
            f["lwdown"] = 5.67e-8 * f["tair"] ** 4 - 3.71e6 / 86400.0   # net longwave of the example
            return f

    f = Brussels([lat], [lon], tmin=285.45, tmax=294.65, wind=u10, sw_daily=22.07e6)
    start = dt.datetime(2015, 7, 1, tzinfo=UTC)
    s = m.cold_start(1, f.at(start), start)
    s.smc[:] = s.sh2o[:] = m.p.smcref[None, None, :]                 # well watered: field capacity
    s.lai[:], s.lfmass[:] = 2.88, 2.88 / (m.p.sla * 1e-3)              # FAO reference grass: LAI 2.88
    out = run(m, s, f, start, 5)
    et = out["et"][-1, 0, 0]
    assert abs(et - et0) <= 0.25 * et0, f"ET {et:.2f} mm/day vs FAO-56 ET0 {et0}"


@pytest.fixture(scope="module")
def one_year():
    """One year of four columns: deciduous broadleaf and crop at 50 N, needleleaf and grass at 65 N."""
    lat = np.array([50.0, 50.0, 65.0, 65.0])
    lon = np.array([10.0, 10.0, 25.0, 25.0])
    m = _model([DBF, CROP, ENF, GRASS], [LOAM, LOAM, 3, 3], lat, lon)
    # seasonal cycle: coldest mid-January, warmest mid-July; 65 N winters well below freezing
    mean = np.array([282.0, 282.0, 274.0, 274.0])
    amp = np.array([9.0, 9.0, 14.0, 14.0])

    def t_at(doy, offset):
        return mean + amp * -np.cos(2 * np.pi * (doy - 15) / 365.0) + offset
    f = DiurnalForcing(lat, lon, tmin=lambda d: t_at(d, -4.0), tmax=lambda d: t_at(d, 4.0), rh=0.75,
                       wind=3.0, rain_mm_day=2.2)
    start = dt.datetime(2015, 1, 1, tzinfo=UTC)
    s = m.cold_start(1, f.at(start), start)
    out = run(m, s, f, start, 365)
    return m, s, out


def test_deciduous_forest_grows_leaves_in_spring_and_loses_them_in_autumn(one_year):
    _, _, out = one_year
    lai = out["lai"][:, 0, 0]
    march, july, december = lai[59:90].mean(), lai[181:212].mean(), lai[334:].mean()
    # spring green-up: the Fortran reference's deciduous column (c02, DVEG 2, 2017) goes from 1.8 in March
    # to 3.5 in July
    assert july > 1.5 * march, (march, july)
    # autumn: cold death (T_v < TDLEF) and turnover shed leaves month after month; Noah-MP's DVEG = 2
    # sheds slowly (its cold-death rate scales with LFMASS^2), so December keeps part of the summer LAI
    monthly = [lai[d:d + 30].mean() for d in (243, 273, 304, 334)]   # Sep, Oct, Nov, Dec
    assert np.all(np.diff(monthly) < 0) and december < 0.6 * july, monthly
    assert 2.0 < lai.max() < 7.0
    assert np.argmax(lai) in range(120, 270)        # peak in the growing season


def test_snow_accumulates_in_winter_and_melts_in_spring_in_the_north(one_year):
    _, _, out = one_year
    swe = out["swe"][:, 0, 2]
    assert swe[31:59].mean() > 30.0                  # a pack in February (mm)
    assert swe[160:250].max() == 0.0                 # gone by June, none in summer
    melt = out["snowmelt"][:, 0, 2]
    assert melt[60:160].sum() > 20.0                 # a melt season in spring
    assert out["swe"][:, 0, 0].max() < swe.max()     # less snow at the milder site


def test_annual_water_and_carbon_budgets_are_plausible(one_year):
    m, s, out = one_year
    p_year = 2.2 * 365
    et = out["et"].sum(axis=0)[0]
    runoff = (out["qs"] + out["qsb"]).sum(axis=0)[0]
    # temperate sites: ET/P 0.3..1 (noahmp-physics.md s.12.1: 400-650 mm in central Europe)
    assert np.all((et[:2] / p_year > 0.3) & (et[:2] / p_year < 1.0) & (et[:2] > 400)), et
    assert np.all(et[2:] > 100) and np.all(runoff > 0)
    gpp_peak = out["gpp"][:, 0, :].max(axis=0) * 1000        # g C m-2 d-1
    assert 5.0 <= gpp_peak[0] <= 15.0 and 5.0 <= gpp_peak[1] <= 20.0 and gpp_peak[2] > 2.0, gpp_peak
    assert np.all(s.smc >= m.p.smcdry[None, None, :] - 1e-9) and np.all(s.smc <= m.p.smcmax[None, None, :] + 1e-9)


def test_a_column_does_not_depend_on_the_other_columns_of_a_call():
    """The kernel runs columns in SIMD lanes of chunks: any split or order of the columns gives the same bits."""
    rng = np.random.default_rng(5)
    n = 150
    classes, soils = np.arange(n) % 20 + 1, np.arange(n) % 12 + 1
    lat, lon = rng.uniform(35.0, 68.0, n), rng.uniform(-10.0, 40.0, n)
    f = DiurnalForcing(lat, lon, tmin=rng.uniform(255.0, 290.0, n), tmax=rng.uniform(275.0, 300.0, n), rh=0.7,
                       rain_mm_day=3.0)
    start = dt.datetime(2015, 3, 20, 1, tzinfo=UTC)

    def run_columns(idx):
        m = _model(classes[idx], soils[idx], lat[idx], lon[idx])
        forcing = [{k: v[idx] for k, v in f.at(start + dt.timedelta(seconds=900 * i)).items()} for i in range(8)]
        s = m.cold_start(2, forcing[0], start)
        snowy, frozen = idx % 3 == 0, idx % 4 == 1                       # snow on a third, frozen topsoil on a quarter
        s.sneqv[:, snowy], s.snowh[:, snowy] = 20.0, 0.08
        for k in range(2):
            s.stc[k][:, frozen], s.sh2o[k][:, frozen] = 268.0, 0.3 * s.smc[k][:, frozen]
        s.lai[1] *= 1.1
        out = []
        for i in range(8):
            fl = m.step(s, forcing[i], start + dt.timedelta(seconds=900 * i))
            out.append(np.concatenate([np.stack(list(fl.values())), np.concatenate([s.smc, s.sh2o, s.stc]),
                                       np.stack([getattr(s, k) for k in ("tv", "tg", "sneqv", "lai", "fastcp")])]))
        return np.stack(out)                                             # (steps, fields, members, columns)

    whole = run_columns(np.arange(n))
    order = rng.permutation(n)
    assert np.array_equal(run_columns(order), whole[..., order])         # another order
    for part in (np.arange(0, 37), np.arange(37, 40), np.arange(40, n)):   # other batch sizes (chunks, lanes)
        assert np.array_equal(run_columns(part), whole[..., part])


@pytest.mark.parametrize("field", ["tair", "rainf", "swdown", "lwdown"])
def test_a_nan_in_the_forcing_breaks_the_balance_check(field):
    m = _model([GRASS, CROP], [LOAM, LOAM], [45.0, 50.0], [5.0, 10.0])
    start = dt.datetime(2015, 6, 1, 12, tzinfo=UTC)
    f = DiurnalForcing(m.lat, m.lon, tmin=285.0, tmax=299.0).at(start)
    s = m.cold_start(1, f, start)
    f[field] = np.array([f[field][0], np.nan])
    with pytest.raises(BalanceError, match=r"column \(member 0, cell 1\)"):
        m.step(s, f, start)


def test_root_zone_and_water_of_a_cell_do_not_depend_on_how_many_cells_are_beside_it():
    """RZSM and the stored water are per-cell sums in a fixed order: a cell's value is the same bytes
    in any slice of the columns (np.tensordot, a BLAS dot, rounded 2 of 500 cells differently in a
    slice; a rank's share of the grid is such a slice)."""
    from mpilda.model.state import N_VALUES, State

    rng = np.random.default_rng(3)
    block = rng.uniform(0.05, 0.45, size=(N_VALUES, 2, 500))
    whole = State.from_block(block)
    want = (DZ[0] * whole.smc[0] + DZ[1] * whole.smc[1] + DZ[2] * whole.smc[2]) / DZ[:3].sum()
    np.testing.assert_allclose(whole.rzsm, want, rtol=1e-15)
    for a, b in ((0, 1), (0, 7), (3, 250), (250, 500), (1, 2), (17, 18)):
        part = State.from_block(np.ascontiguousarray(block[:, :, a:b]))
        assert part.rzsm.tobytes() == np.ascontiguousarray(whole.rzsm[:, a:b]).tobytes(), (a, b)
        assert part.water().tobytes() == np.ascontiguousarray(whole.water()[:, a:b]).tobytes(), (a, b)
