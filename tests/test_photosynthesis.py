"""Leaf photosynthesis and stomatal resistance (mpilda.model.photosynthesis).

Expected values come from noahmp-physics.md s.6 / s.9.3 worked by hand in the tests,
from saturation vapour pressure tables, or from relations the solution must satisfy
(Ball–Berry at the returned point); none is taken from the code under test.
"""

import math

import numpy as np
import pytest

from mpilda.model.parameters import read_mptable
from mpilda.model.photosynthesis import (
    RS_CLOSED, PhotosynthesisParams, desat_dt, esat, photosynthesis_params, stomata, vcmax)

TABLE = read_mptable()
CROP, DBF, URBAN, SNOW, BARREN, WATER, ENF = 12, 4, 13, 15, 16, 17, 1

P0 = 1.0e5          # surface pressure [Pa]
T25 = 298.16        # 25 deg C as Noah-MP counts it (T_f = 273.16 K)


def crop():
    return photosynthesis_params(TABLE, CROP)


def cf_by_hand(psurf, tair):
    """CF = p/(8.314 T_a) 1e6 [umol m-3], s.6."""
    return psurf / (8.314 * tair) * 1.0e6


# --- saturation vapour pressure -------------------------------------------------------

@pytest.mark.parametrize("t_c, table_pa", [
    (0.0, 611.2),      # over ice/water at 0 deg C (both 611.2 Pa)
    (10.0, 1228.1),    # over water (Wexler / Hyland-Wexler tables)
    (20.0, 2339.0),
    (30.0, 4246.0),
    (40.0, 7384.9),
    (-10.0, 259.9),    # over ice
    (-20.0, 103.2),
    (-40.0, 12.84),
])
def test_esat_against_tables(t_c, table_pa):
    assert esat(273.15 + t_c) == pytest.approx(table_pa, rel=5e-3)


def test_esat_shape_switch_and_derivative():
    t = np.array([[250.0, 273.0], [273.2, 300.0]])
    assert esat(t).shape == (2, 2)
    # the water/ice switch at T_f = 273.16 K is continuous to 0.05 %
    assert esat(273.16 + 1e-9) == pytest.approx(esat(273.16 - 1e-9), rel=5e-4)
    # over ice below T_f: less than over water would give (supercooled water > ice)
    assert esat(263.15) < 286.0      # water at -10 deg C would be 286.5 Pa
    # derivative: central differences (Noah-MP's ESAT fits the slope with a polynomial of its own, within
    # 0.1 % of the derivative of its e_sat polynomial), and Clausius–Clapeyron L e/(R_v T^2)
    for t0 in (253.15, 268.15, 283.15, 293.15, 308.15):
        h = 1e-3
        assert desat_dt(t0) == pytest.approx((esat(t0 + h) - esat(t0 - h)) / (2 * h), rel=1e-3)
    latent = 2.453e6          # J kg-1 at 20 deg C
    assert desat_dt(293.15) == pytest.approx(latent * 2339.0 / (461.5 * 293.15 ** 2), rel=0.02)


# --- parameters -----------------------------------------------------------------------

def test_params_from_table():
    p = photosynthesis_params(TABLE, np.array([CROP, DBF, URBAN, ENF]))
    assert list(p.vcmx25) == [80.0, 60.0, 0.0, 50.0]        # s.9.3
    assert list(p.mp) == [9.0, 9.0, 9.0, 6.0]
    assert list(p.closed) == [False, False, True, False]     # BP = 1e15 for urban
    assert p.co2 == 395e-6 and p.o2 == 0.209                 # global group
    assert p.all_c3


# --- night, closed classes, limits ----------------------------------------------------

def test_night_is_bp_limited():
    p = photosynthesis_params(TABLE, np.array([CROP, DBF, ENF, BARREN]))
    rs, psn = stomata(0.0, 290.0, 288.0, 1200.0, P0, 40.0, 1.0, 1.0, 1.0, p)
    # conductance = BP = 2000 umol m-2 s-1 -> rs = CF/BP, CF = 1e5/(8.314*288) 1e6 = 4.1763e7
    assert rs == pytest.approx(np.full(4, 4.17632e7 / 2000.0), rel=1e-5)
    assert np.all(psn == 0.0)
    rs2, psn2 = stomata(-5.0, 290.0, 288.0, 1200.0, P0, 40.0, 1.0, 1.0, 1.0, p)
    assert rs2 == pytest.approx(rs, rel=1e-12) and np.all(psn2 == 0.0)
    # outside the growing season A = 0 whatever the light: again g_s = BP
    rs3, psn3 = stomata(300.0, 290.0, 288.0, 1200.0, P0, 40.0, 1.0, 0.0, 1.0, p)
    assert rs3 == pytest.approx(rs, rel=1e-12) and np.all(psn3 == 0.0)


def test_closed_classes():
    p = photosynthesis_params(TABLE, np.array([URBAN, SNOW, WATER, BARREN]))
    rs, psn = stomata(300.0, 300.0, 300.0, 1500.0, P0, 30.0, 1.0, 1.0, 1.0, p)
    assert np.all(rs[:3] == RS_CLOSED) and RS_CLOSED >= 1e14
    assert np.all(psn == 0.0)                 # barren: VCMX25 = 0 -> no photosynthesis
    assert rs[3] == pytest.approx(cf_by_hand(P0, 300.0) / 2000.0, rel=1e-9)


# --- responses ------------------------------------------------------------------------

def test_conductance_rises_with_light():
    apar = np.array([0.0, 5.0, 20.0, 50.0, 100.0, 200.0, 400.0])
    rs, psn = stomata(apar, T25, T25, 2000.0, P0, 30.0, 1.0, 1.0, 1.0, crop())
    assert np.all(np.diff(1.0 / rs) >= 0.0) and np.all(np.diff(psn) >= 0.0)
    assert np.all(np.diff(1.0 / rs[:5]) > 0.0)   # strictly while light-limited (A = W_j)
    assert psn[0] == 0.0 and psn[1] > 0.0
    # beyond ~100 W m-2 the crop leaf is Rubisco/export-limited: A and g_s saturate
    assert psn[-1] == pytest.approx(psn[-2], rel=1e-9)


def test_conductance_falls_with_vapour_pressure_deficit():
    ei = 3169.9                                  # e_sat at 25 deg C, Pa (tables)
    eah = ei * np.array([0.95, 0.8, 0.6, 0.4, 0.3])   # all above the 0.25 e_i floor
    rs, psn = stomata(200.0, T25, T25, eah, P0, 30.0, 1.0, 1.0, 1.0, crop())
    assert np.all(np.diff(1.0 / rs) < 0.0)
    # below the floor e_s = 0.25 e_i: no further closure
    rs_floor, _ = stomata(200.0, T25, T25, ei * np.array([0.24, 0.1, 0.0]), P0, 30.0,
                          1.0, 1.0, 1.0, crop())
    assert rs_floor == pytest.approx(np.full(3, rs_floor[0]), rel=1e-12)


def test_conductance_falls_with_soil_drying():
    btran = np.array([1.0, 0.7, 0.4, 0.1, 0.01, 0.0])
    rs, psn = stomata(200.0, T25, T25, 2000.0, P0, 30.0, btran, 1.0, 1.0, crop())
    assert np.all(np.diff(1.0 / rs) < 0.0) and np.all(np.diff(psn) < 0.0)
    assert psn[-1] == 0.0
    assert rs[-1] == pytest.approx(cf_by_hand(P0, T25) / 2000.0, rel=1e-9)   # back to BP


def test_vcmax_temperature_response():
    p = crop()
    tc = np.arange(0.0, 50.01, 0.05)
    v = vcmax(tc + 273.16, 1.0, 1.0, p)
    # at 25 deg C: VCMX25 FNF / f_hot, FNF = min(1.0/1.5, 1), f_hot = 1 + exp((-2.2e5 + 710 T)/(8.314 T))
    f_hot = 1.0 + math.exp((-2.2e5 + 710.0 * T25) / (8.314 * T25))      # = 1.03504
    assert vcmax(T25, 1.0, 1.0, p) == pytest.approx(80.0 / 1.5 / f_hot, rel=1e-12)
    # Q10-type rise: between 5 and 15 deg C f_hot ~ 1, so the ratio is AVCMX = 2.4
    assert vcmax(288.16, 1.0, 1.0, p) / vcmax(278.16, 1.0, 1.0, p) == pytest.approx(2.4, rel=2e-3)
    # peak where ln(2.4)/10 = s' e^s/(1 + e^s), s = (710 T - 2.2e5)/(8.314 T):
    # s' = 2.2e5/(8.314 T^2) = 0.2756 near 307 K, e^s/(1+e^s) = 0.08755/0.2756 -> s = -0.763
    # -> T = 2.2e5/(710 - 8.314 s) = 307.1 K = 34.0 deg C
    peak = tc[np.argmax(v)]
    assert 30.0 <= peak <= 40.0 and peak == pytest.approx(34.0, abs=0.3)
    assert v[-1] < 0.5 * v.max()                 # strong inhibition at 50 deg C
    # nitrogen and water factors scale linearly
    assert vcmax(T25, 0.5, 0.75, p) == pytest.approx(0.5 * 0.5 * 80.0 / f_hot, rel=1e-12)


# --- the solution ---------------------------------------------------------------------

def test_sunlit_crop_leaf_at_25C():
    # 1000 umol photons m-2 s-1 = 217 W m-2 PAR (4.6 umol J-1), moist soil, 60 % humidity
    rs, psn = stomata(217.0, T25, T25, 0.6 * 3170.0, P0, 30.0, 1.0, 1.0, 1.0, crop())
    assert 5.0 <= psn <= 20.0
    # by hand: Vcmax = 80/1.5/1.035 = 51.5, so W_e = 25.8; J = 4.6 217 0.06 = 59.9;
    # W_c = (ci - 2.19) 51.5/(ci + 30 (1 + 20900/3e4)) stays below W_j for ci < CO2 = 39.5 Pa
    assert psn < 51.53 * (39.5 - 2.19) / (39.5 + 50.9)
    assert 50.0 < rs < 1000.0                   # an open stoma: g_s ~ 0.1-0.8 mol m-2 s-1


def _ball_berry_residual(apar, tv, tair, eah, psurf, rb, btran, p, c3=True):
    rs, psn = stomata(apar, tv, tair, eah, psurf, rb, btran, 1.0, 1.0, p)
    cf = cf_by_hand(psurf, tair)
    r, rlb = rs / cf, rb / cf                    # s m2 umol-1
    co2 = 395e-6 * psurf
    cs = max(co2 - 1.37 * rlb * psurf * psn, 1e-6)
    ei = esat(tv)
    cea = max((0.25 if c3 else 0.40) * ei, min(eah, ei))
    # leaf-surface vapour pressure: conductance-weighted mean of canopy air and leaf interior
    es_leaf = (cea / rlb + ei / r) / (1.0 / rlb + 1.0 / r)
    mp = float(np.asarray(p.mp))
    gs = mp * psn * psurf * es_leaf / (cs * ei) + 2000.0      # Ball–Berry, BP = 2000
    return gs * r - 1.0, psn


@pytest.mark.parametrize("apar, tv, eah_frac, rb, btran", [
    (217.0, 298.16, 0.6, 30.0, 1.0),
    (50.0, 288.0, 0.9, 100.0, 0.5),
    (400.0, 305.0, 0.3, 10.0, 0.8),
    (120.0, 280.0, 0.5, 250.0, 0.2),
])
def test_ball_berry_relation_holds(apar, tv, eah_frac, rb, btran):
    residual, psn = _ball_berry_residual(apar, tv, tv - 1.0, eah_frac * esat(tv), 9.5e4, rb,
                                         btran, crop())
    assert psn > 0.0
    assert abs(residual) < 1e-10


def test_ball_berry_relation_for_needleleaf_slope():
    p = photosynthesis_params(TABLE, ENF)          # MP = 6
    residual, psn = _ball_berry_residual(150.0, 293.0, 292.0, 1200.0, P0, 50.0, 1.0, p)
    assert psn > 0.0 and abs(residual) < 1e-10


@pytest.mark.parametrize("apar", [2.0, 5.0, 10.0])
def test_light_limited_rate_at_low_apar(apar):
    rs, psn = stomata(apar, T25, T25, 2500.0, P0, 30.0, 1.0, 1.0, 1.0, crop())
    cf = cf_by_hand(P0, T25)
    r, rlb = rs / cf, 30.0 / cf
    # ci from the returned solution: cs = CO2 - 1.37 r_lb p A, ci = cs - 1.65 r_s p A
    ci = 39.5 - 1.37 * rlb * P0 * psn - 1.65 * r * P0 * psn
    j = 4.6 * apar * 0.06                            # J [umol m-2 s-1]
    gamma = 0.5 * 30.0 / 3.0e4 * 0.21 * 0.209 * P0   # Gamma* = 2.1945 Pa at 25 deg C
    w_j = j * (ci - gamma) / (ci + 2.0 * gamma)
    # three passes converge ci to < 1e-4 at low light, where A = W_j
    assert psn == pytest.approx(w_j, rel=1e-4)
    assert 25.0 < ci < 39.5


def _stomata_by_hand(apar, tv, tair, eah, psurf, rb, btran, igs, foln, k, c3=None):
    """A scalar, loop-based transcription of noahmp-physics.md s.6 (one column, class k)."""
    g = {name: float(TABLE.params[name][k - 1]) for name in (
        "VCMX25", "MP", "BP", "QE25", "FOLNMX", "KC25", "AKC", "KO25", "AKO", "AVCMX", "C3PSN")}
    c3 = g["C3PSN"] == 1.0 if c3 is None else c3
    cf = psurf / (8.314 * tair) * 1e6
    if apar <= 0.0:
        return cf / g["BP"], 0.0
    tc = tv - 273.16
    f = lambda a: a ** ((tc - 25.0) / 10.0)                               # noqa: E731
    f_hot = 1.0 + math.exp((-2.2e5 + 710.0 * (tc + 273.16)) / (8.314 * (tc + 273.16)))
    co2, o2 = 395e-6 * psurf, 0.209 * psurf
    j = 4.6 * apar * g["QE25"]
    kc, ko = g["KC25"] * f(g["AKC"]), g["KO25"] * f(g["AKO"])
    gamma = 0.5 * kc / ko * 0.21 * o2
    vmax = g["VCMX25"] * f(g["AVCMX"]) / f_hot * min(foln / g["FOLNMX"], 1.0) * btran
    ci = 0.7 * co2 if c3 else 0.4 * co2
    rlb = rb / cf
    ei = esat(tv)
    es = max((0.25 if c3 else 0.40) * ei, min(eah, ei))
    for _ in range(3):
        if c3:
            wj = max(ci - gamma, 0.0) * j / (ci + 2 * gamma)
            wc = max(ci - gamma, 0.0) * vmax / (ci + kc * (1 + o2 / ko))
            we = 0.5 * vmax
        else:
            wj, wc, we = j, vmax, 4000.0 * vmax * ci / psurf
        a = min(wj, wc, we) * igs
        cs = max(co2 - 1.37 * rlb * psurf * a, 1e-6)
        qa = g["MP"] * a * psurf * es / (cs * ei) + g["BP"]
        qb = (g["MP"] * a * psurf / cs + g["BP"]) * rlb - 1.0
        root = math.sqrt(qb * qb + 4.0 * qa * rlb)
        # positive root (-b + sqrt)/(2a), rationalised to 2 r_lb/(b + sqrt) when b > 0
        r = 2.0 * rlb / (qb + root) if qb > 0.0 else (root - qb) / (2.0 * qa)
        ci = max(cs - 1.65 * r * psurf * a, 0.0)
    return r * cf, a


def test_vectorised_matches_scalar_hand_transcription():
    rng = np.random.default_rng(7)
    n = 40
    classes = rng.choice([1, 2, 4, 5, 10, 12, 14, 18], n)
    apar = rng.uniform(-20.0, 400.0, n)
    tv = rng.uniform(265.0, 315.0, n)
    tair = tv + rng.normal(0.0, 2.0, n)
    eah = rng.uniform(0.1, 1.1, n) * esat(tv)
    psurf = rng.uniform(7e4, 1.03e5, n)
    rb = rng.uniform(5.0, 300.0, n)
    btran = rng.uniform(0.0, 1.0, n)
    igs = rng.integers(0, 2, n).astype(float)
    rs, psn = stomata(apar, tv, tair, eah, psurf, rb, btran, igs, 1.0,
                      photosynthesis_params(TABLE, classes))
    for i in range(n):
        r0, a0 = _stomata_by_hand(apar[i], tv[i], tair[i], eah[i], psurf[i], rb[i], btran[i],
                                  igs[i], 1.0, classes[i])
        assert rs[i] == pytest.approx(r0, rel=1e-9)
        assert psn[i] == pytest.approx(a0, rel=1e-9, abs=1e-12)


def test_c4_leaf_and_large_boundary_resistance():
    base = photosynthesis_params(TABLE, CROP)
    fields = {k: getattr(base, k) for k in ("vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "akc",
                                             "ko25", "ako", "avcmx")}
    c3psn = np.array([0.0, 0.0, 1.0, 1.0])
    rb = np.array([30.0, 3e4, 30.0, 3e4])       # 3e4 s m-1: the b >= 0 branch of the quadratic
    p = PhotosynthesisParams(**fields, c3psn=c3psn, co2=395e-6, o2=0.209)
    rs, psn = stomata(217.0, T25, T25, 1900.0, P0, rb, 1.0, 1.0, 1.0, p)
    # C4: A = min(J, Vcmax, 4000 Vcmax ci/p) <= Vcmax = 80/1.5/f_hot
    f_hot = 1.0 + math.exp((-2.2e5 + 710.0 * T25) / (8.314 * T25))
    assert 0.0 < psn[0] <= 80.0 / 1.5 / f_hot * (1 + 1e-12)
    for i in range(4):
        r0, a0 = _stomata_by_hand(217.0, T25, T25, 1900.0, P0, rb[i], 1.0, 1.0, 1.0, CROP,
                                  c3=bool(c3psn[i]))
        assert rs[i] == pytest.approx(r0, rel=1e-9) and psn[i] == pytest.approx(a0, rel=1e-9)


def test_members_by_cells_broadcast():
    classes = np.array([CROP, DBF, URBAN, ENF, 10])
    p = photosynthesis_params(TABLE, classes)
    rng = np.random.default_rng(3)
    tv = rng.uniform(280.0, 305.0, (6, 5))                 # (members, cells)
    apar = rng.uniform(0.0, 300.0, (6, 5))
    rs, psn = stomata(apar, tv, tv, 0.7 * esat(tv), P0, 40.0, np.linspace(0.2, 1.0, 5), 1.0, 1.0, p)
    assert rs.shape == psn.shape == (6, 5)
    for m in range(6):
        for c in range(5):
            r1, a1 = stomata(apar[m, c], tv[m, c], tv[m, c], 0.7 * esat(tv[m, c]), P0, 40.0,
                             np.linspace(0.2, 1.0, 5)[c], 1.0, 1.0,
                             photosynthesis_params(TABLE, classes[c]))
            assert rs[m, c] == pytest.approx(float(r1), rel=1e-12)
            assert psn[m, c] == pytest.approx(float(a1), rel=1e-12, abs=1e-15)
