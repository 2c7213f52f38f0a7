"""Pieces of the Noah-MP physics against theory: radiative transfer, the surface layer, snow and soil heat."""

import math

import numpy as np
import pytest

from mpilda.model import radiation, snow, soil_heat, surface
from mpilda.model.constants import CICE, CWAT, DZ, HFUS, TFRZ, VKC
from mpilda.model.jit import fatan
from mpilda.model.noahmp import ColumnParameters
from mpilda.model.parameters import read_mptable, read_soilparm

GRASS, DBF, LOAM = 10, 4, 6


def params(landcover=GRASS, soil=LOAM):
    return ColumnParameters(np.array([landcover]), np.array([soil]), read_mptable(), read_soilparm(), 0.8,
                            285.0).table[0]


# --- radiation -----------------------------------------------------------------------------------

def _optics(rho, tau, xl):
    """Two-stream coefficients written out from Sellers (1985) / Dickinson (1983) for leaves without snow."""
    chil = min(max(xl, -0.4), 0.6)
    phi1 = 0.5 - 0.633 * chil - 0.33 * chil ** 2
    phi2 = 0.877 * (1 - 2 * phi1)
    avmu = (1 - phi1 / phi2 * math.log((phi1 + phi2) / phi1)) / phi2
    omega = rho + tau
    betai = 0.5 * (rho + tau + (rho - tau) * ((1 + chil) / 2) ** 2) / omega
    return omega, betai, avmu


_OPTICS = ("xl", "betads", "betais", "rhol_vis", "rhol_nir", "rhos_vis", "rhos_nir", "taul_vis", "taul_nir",
           "taus_vis", "taus_nir", "albsat_vis", "albsat_nir", "albdry_vis", "albdry_nir", "omegas_vis", "omegas_nir")


def _canopy(rho, tau, xl, ground, cosz, elai, fveg, esai=0.0):
    """Shortwave of a canopy whose leaves and stems have the same reflectance and transmittance in both bands,
    over a ground of albedo ``ground`` (a full snow cover of that albedo), without snow on the leaves."""
    optics = dict(zip(_OPTICS, (xl, 0.5, 0.5, rho, rho, rho, rho, tau, tau, tau, tau, 0.1, 0.1, 0.2, 0.2, 0.8, 0.4)))
    return radiation.shortwave_columns(cosz=cosz, swdown=700.0, elai=elai, esai=esai, fveg=fveg, fwet=0.0,
                                       tv=290.0, fsno=1.0, smc1=0.25, albsnow=ground, **optics)


@pytest.mark.parametrize("rho, tau, xl", [(0.1, 0.05, 0.01), (0.45, 0.25, 0.25), (0.35, 0.1, -0.3)])
def test_a_deep_canopy_reflects_diffuse_light_as_the_semi_infinite_two_stream_solution(rho, tau, xl):
    # For an infinitely deep canopy the upward diffuse flux is R = (b - sqrt(b^2 - c^2)) / c times the
    # downward one, b = 1 - omega + omega beta, c = omega beta (Sellers 1985 eq. 14-15 with no ground)
    omega, betai, _ = _optics(rho, tau, xl)
    b = 1 - omega + omega * betai
    c = omega * betai
    expected = (b - math.sqrt(b * b - c * c)) / c
    out = _canopy(rho, tau, xl, 0.2, 0.6, 60.0, 1.0)
    for band in ("vis", "nir"):
        assert out[f"frei_{band}"][0] == pytest.approx(expected, rel=1e-9)
        assert out[f"ftii_{band}"][0] < 1e-12 and out[f"fabi_{band}"][0] == pytest.approx(1.0 - expected, rel=1e-9)
        assert out[f"ftdd_{band}"][0] < 1e-12     # the direct beam does not get through either


def test_without_leaves_or_with_a_full_gap_the_light_reaches_the_ground():
    # no leaves: all light through the gap; the ground reflects its albedo, nothing is absorbed above it
    out = _canopy(0.1, 0.05, 0.01, 0.15, 0.5, 0.0, 0.0)
    for beam in ("d", "i"):
        assert out[f"fab{beam}_vis"][0] == pytest.approx(0.0, abs=1e-14)
        assert out[f"fre{beam}_vis"][0] == pytest.approx(0.15)
    assert out["ftdd_vis"][0] + out["ftid_vis"][0] == pytest.approx(1.0) and out["ftii_vis"][0] == pytest.approx(1.0)
    assert out["sav"][0] == pytest.approx(0.0, abs=1e-12) and out["sag"][0] == pytest.approx(0.85 * 700.0)
    # a vegetated fraction f: absorbed (and transmitted through leaves) scales with f (RAD = 3, gap 1 - f)
    full, half = (_canopy(0.1, 0.05, 0.01, 0.15, 0.5, 3.0, fveg) for fveg in (1.0, 0.5))
    for row in ("fabd_vis", "fabi_vis", "fabd_nir", "sav"):
        assert half[row][0] == pytest.approx(0.5 * full[row][0], rel=1e-12)


def test_without_sun_nothing_is_absorbed_and_all_leaves_are_shaded():
    out = _canopy(0.1, 0.05, 0.01, 0.15, -0.2, 3.0, 0.8)
    assert all(out[k][0] == 0.0 for k in ("fsun", "parsun", "parsha", "laisun", "sav", "sag", "fsr"))
    assert out["laisha"][0] == 3.0


def test_shortwave_conserves_energy_and_the_sunlit_leaves_follow_beers_law():
    p = params(DBF)
    sw = 700.0
    cosz = np.array([0.9, 0.4, 0.1])
    out = radiation.shortwave_columns(cosz=cosz, swdown=sw, elai=3.5, esai=0.7, fveg=0.8, fwet=0.0, tv=293.0,
                                      fsno=0.0, smc1=0.25, albsnow=0.6, **{k: p[k] for k in _OPTICS})
    assert out["sav"] + out["sag"] + out["fsr"] == pytest.approx(np.full(3, sw), rel=1e-12)   # absorbed + reflected
    assert np.all(out["sav"] > 0) and np.all(out["sag"] > 0) and np.all((out["fsr"] > 0) & (out["fsr"] < 0.3 * sw))
    # sunlit fraction (1 - exp(-K L)) / (K L), K = G(mu)/mu sqrt(1 - omega_vis)
    chil = 0.01 if abs(p["xl"]) <= 0.01 else min(max(p["xl"], -0.4), 0.6)
    phi1 = 0.5 - 0.633 * chil - 0.33 * chil ** 2
    phi2 = 0.877 * (1 - 2 * phi1)
    wl = 3.5 / 4.2
    rho, tau = p["rhol_vis"] * wl + p["rhos_vis"] * (1 - wl), p["taul_vis"] * wl + p["taus_vis"] * (1 - wl)
    k = (phi1 + phi2 * cosz) / cosz * math.sqrt(1 - rho - tau)
    assert out["fsun"] == pytest.approx((1 - np.exp(-k * 4.2)) / (k * 4.2), rel=1e-12)
    assert out["laisun"] + out["laisha"] == pytest.approx(np.full(3, 3.5), rel=1e-12)


def test_class_snow_albedo_ages_in_daylight_hours_and_is_refreshed_by_snowfall():
    # decay towards 0.55 by 1 % an hour; SWEMX (1 mm) of new snow restores 0.84
    a = radiation.snow_albedo(0.0, 3600.0, 0.84, 1.0)
    assert a == pytest.approx(0.55 + 0.29 * math.exp(-0.01))
    assert radiation.snow_albedo(1.0 / 900.0, 900.0, 0.6, 1.0) == pytest.approx(0.84, rel=1e-12)


def test_lis_sun():
    # calc_declin_401: declination asin(sin 23.5 sin(360/365 (d - 80))); cos z at noon = cos(lat - decl)
    import datetime as dt
    t = dt.datetime(2017, 6, 21, 12, tzinfo=dt.timezone.utc)
    d = (t - dt.datetime(2017, 1, 1, tzinfo=dt.timezone.utc)).total_seconds() / 86400
    decl = math.asin(math.sin(math.radians(23.5)) * math.sin(math.radians(360 / 365 * (d - 80))))
    cz = radiation.cos_zenith_cells(t, np.array([45.0, -30.0]), np.array([0.0, 0.0]))
    assert cz == pytest.approx(np.cos(np.radians([45.0, -30.0]) - decl), rel=1e-12)


# --- the surface layer ---------------------------------------------------------------------------

def test_neutral_exchange_coefficients_are_the_log_law():
    zlvl, zpd, z0 = 12.0, 0.3, 0.05
    log_z = math.log((zlvl - zpd) / z0)
    cm, ch, fv, moz, *_ = surface.monin_obukhov(True, 290.0, 1.2, 0.0, 0.008, zlvl, zpd, log_z, log_z, 4.0, 0.0, 0.0,
                                                0, 0.0, 0.0)
    assert cm == pytest.approx((VKC / log_z) ** 2, rel=1e-14) and ch == cm and moz == 0.0
    assert fv == pytest.approx(4.0 * VKC / log_z, rel=1e-14)             # u* = k U / ln(z/z0)


def test_stability_functions_are_paulsons_and_webbs():
    zlvl, zpd, z0, ur = 12.0, 0.3, 0.05, 4.0
    log_z = math.log((zlvl - zpd) / z0)
    fv = ur * VKC / log_z
    for h in (150.0, -40.0):              # unstable (upward heat flux), stable
        cm, ch, fv2, moz, mozsgn, fm, fh = surface.monin_obukhov(False, 290.0, 1.2, h, 0.008, zlvl, zpd, log_z,
                                                                 log_z, ur, fv, 0.0, 0, 0.0, 0.0)
        tv = 290.0 * (1 + 0.61 * 0.008)
        mol = -fv ** 3 / (VKC * 9.80616 / tv * h / (1.2 * 1004.64))
        zeta = min((zlvl - zpd) / mol, 1.0)
        assert moz == pytest.approx(zeta, rel=1e-12)
        if zeta < 0:
            x = (1 - 16 * zeta) ** 0.25
            psi_m = 2 * math.log((1 + x) / 2) + math.log((1 + x * x) / 2) - 2 * math.atan(x) + math.pi / 2
            psi_h = 2 * math.log((1 + x * x) / 2)
        else:
            psi_m = psi_h = -5 * zeta
        # averaged with the previous pass's correction (0 here)
        assert fm == pytest.approx(0.5 * psi_m, rel=1e-7) and fh == pytest.approx(0.5 * psi_h, rel=1e-12)
        assert (ch > (VKC / log_z) ** 2) == (zeta < 0)      # unstable air exchanges more heat


def test_atan():
    x = np.concatenate([np.linspace(-30, 30, 20001), np.geomspace(1e-10, 1e10, 2001)])
    got = np.array([fatan(v) for v in x])
    assert np.max(np.abs(got - np.arctan(x)) / np.maximum(np.abs(np.arctan(x)), 1e-300)) < 5e-16


# --- snow ------------------------------------------------------------------------------------------

def test_combining_two_layers_conserves_mass_and_enthalpy():
    def enthalpy(wliq, wice, t):
        return (CICE * wice + CWAT * wliq) * (t - TFRZ) + HFUS * wliq

    # two dry layers: the mixture's temperature keeps the heat content
    dz, wliq, wice, t = snow.combo(0.1, 0.0, 10.0, 265.0, 0.05, 0.0, 5.0, 270.0)
    assert (dz, wliq, wice) == (pytest.approx(0.15), 0.0, 15.0)
    assert enthalpy(0.0, 15.0, t) == pytest.approx(enthalpy(0.0, 10.0, 265.0) + enthalpy(0.0, 5.0, 270.0), rel=1e-14)
    # a wet layer at 0 deg C with a cold one whose cold content does not freeze all the water: stays at 0 deg C
    h = enthalpy(3.0, 10.0, TFRZ) + enthalpy(0.0, 5.0, 273.1)
    assert 0.0 <= h <= HFUS * 3.0
    assert snow.combo(0.1, 3.0, 10.0, TFRZ, 0.05, 0.0, 5.0, 273.1)[3] == TFRZ
    # a wet layer warmer than melting (after rain): the surplus above the water's latent heat warms the mixture
    dz, wliq, wice, t = snow.combo(0.1, 2.0, 10.0, TFRZ + 1.0, 0.05, 0.0, 5.0, TFRZ)
    assert (CICE * wice + CWAT * wliq) * (t - TFRZ) == pytest.approx(enthalpy(2.0, 10.0, TFRZ + 1.0) - HFUS * 2.0,
                                                                     rel=1e-12)


def test_a_pack_becomes_a_layer_at_2_5_cm_and_layers_divide_and_keep_their_water():
    dz, snice, snliq, stc = np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3)
    sice, sh2o = np.zeros(4), np.full(4, 0.2)
    ws = np.zeros(16)
    imelt, ficeold = np.zeros(7, dtype=np.int64), np.zeros(3)
    nsnow, sneqv, snowh = 0, 0.0, 0.0
    total = 0.0
    for i in range(40):           # 1 mm of snow (1 cm at 100 kg m-3) per step, cold air
        nsnow, sneqv, snowh, qsnbot, snoflow, p1, p2, dropped = snow.snow_water(
            nsnow, dz, snice, snliq, stc, sice, sh2o, DZ[0], sneqv, snowh, 1.0 / 900.0, 0.01 / 900.0, 0.0, 0.0, 0.0,
            265.0, imelt, ficeold, 900.0, 0.03, ws)
        total += 1.0
        assert qsnbot == 0.0 and snoflow == 0.0 and dropped == 0.0
        assert sneqv == pytest.approx(total, rel=1e-12)
        if i == 1:
            assert nsnow == 0 and snowh == pytest.approx(0.02)      # still a layer-less pack
        if i == 2:
            assert nsnow == 1                                        # 3 cm: a layer
    assert nsnow == 3 and snice.sum() == pytest.approx(total, rel=1e-12)
    top = 3 - nsnow
    assert dz[top] <= 0.05 + 1e-12 and dz[top + 1] <= 0.2 + 1e-12      # DIVIDE's limits of the top two layers


# --- heat in the soil ------------------------------------------------------------------------------

def _soil_column(p, **rows):
    """The lane rows of one soil column without snow (top = 3) with the parameters of record p."""
    dz = np.zeros(7)
    dz[3:] = DZ
    values = dict(top=3, dt=900.0, snowh=0.0, sneqv=0.0, ssoil=0.0, tbot=285.0, smcmax=p["smcmax"],
                  tk_solids=p["tk_solids"], tk_dry=p["tk_dry"], csoil=p["csoil"], urban=p["urban"],
                  psisat=p["psisat"], bexp=p["bexp"], dz=dz)
    values.update(rows)
    return values


def test_heat_diffusion_relaxes_to_the_deep_temperature_and_carries_a_steady_flux():
    p = params()
    df, hc = np.zeros(7), np.zeros(7)
    df[3:] = 1.2
    hc[3:] = 2.5e6
    column = _soil_column(p, dt=3600.0, stc=np.full(7, 280.0), df=df, hcpct=hc)
    out = soil_heat.columns((soil_heat.diffuse,), repeat=200000, **column)
    stc = np.array([out[f"stc{k}"][0] for k in range(7)])
    assert stc[3:] == pytest.approx(285.0, abs=1e-6)
    # a steady flux G into the top: the profile is linear with slope G/k down to TBOT at 8 m
    g = 10.0
    out = soil_heat.columns((soil_heat.diffuse,), repeat=200000, **dict(column, stc=stc, ssoil=g))
    mid = -(np.cumsum(DZ) - 0.5 * DZ)
    assert [out[f"stc{k}"][0] for k in range(3, 7)] == pytest.approx(285.0 + g / 1.2 * (8.0 + mid), abs=1e-3)


def test_freezing_a_layer_conserves_energy():
    p = params()
    smc = np.full(4, 0.3)
    column = _soil_column(p, smc=smc, sh2o=smc)
    props = soil_heat.columns((soil_heat.properties,), **column)
    hc = np.array([props[f"hcpct{k}"][0] for k in range(3, 7)])
    # 2 K below freezing after the diffusion
    out = soil_heat.columns((soil_heat.properties, soil_heat.phase_change), **dict(column, stc=np.full(7, 271.0)))
    sh2o = np.array([out[f"sh2o{k}"][0] for k in range(4)])
    stc = np.array([out[f"stc{k}"][0] for k in range(3, 7)])
    frozen = (0.3 - sh2o) * DZ * 1000.0             # kg m-2 of water that froze
    assert np.all(frozen > 0) and all(out[f"imelt{k}"][0] == 2 for k in range(3, 7))
    # the latent heat released warms the layer back: C dz (T - 271) = L_f frozen
    warmed = hc * DZ * (stc - 271.0)
    assert warmed == pytest.approx(HFUS * frozen, rel=1e-9)
    assert np.all(stc <= TFRZ)
    # no more water froze than the supercooled limit allows (Niu & Yang 2006)
    smp = HFUS * (TFRZ - 271.0) / (9.80616 * 271.0)
    limit = p["smcmax"] * (smp / p["psisat"]) ** (-1.0 / p["bexp"])
    assert np.all(sh2o >= min(limit, 0.3) - 1e-12)
    assert [out[f"smc{k}"][0] for k in range(4)] == pytest.approx(list(smc), rel=1e-12)   # water is conserved


def test_a_thin_snowpack_melts_first_from_the_top_soil_layers_surplus():
    # no snow layers, 2 mm of snow, the top soil layer 1 K above freezing after the diffusion
    p = params()
    smc = np.full(4, 0.3)
    stc = np.full(7, 272.0)
    stc[3] = TFRZ + 1.0
    column = _soil_column(p, smc=smc, sh2o=smc, stc=stc, sneqv=2.0, snowh=0.01)
    hc = soil_heat.columns((soil_heat.properties,), **column)["hcpct3"][0]
    out = soil_heat.columns((soil_heat.properties, soil_heat.phase_change), **column)
    surplus = hc * DZ[0] * 1.0                                  # J m-2 above freezing
    melted = min(2.0, surplus / HFUS)
    assert out["sneqv"][0] == pytest.approx(2.0 - melted, rel=1e-9, abs=1e-12)
    assert out["ponding"][0] == pytest.approx(melted, rel=1e-9)
    assert out["qmelt"][0] == pytest.approx(melted / 900.0, rel=1e-9)
    assert out["stc3"][0] == pytest.approx(TFRZ + (surplus - HFUS * melted) / (hc * DZ[0]), abs=1e-9)


def test_snow_cover_fraction():
    # tanh(h / (2.5 z0 (rho/100)^m)) with z0 = 0.002 m (Niu & Yang 2007)
    assert snow.cover_fraction(0.1, 20.0, 1.5) == pytest.approx(math.tanh(0.1 / (2.5 * 0.002 * 2.0 ** 1.5)))
    assert snow.cover_fraction(0.0, 0.0, 1.5) == 0.0
