"""Shortwave radiation: snow age and albedo, ground albedo, the two-stream canopy, sunlit and shaded leaves.

Noah-MP 4.0.1's RADIATION with the options LIS runs ([NMP ALBEDO, SNOW_AGE,
SNOWALB_CLASS, GROUNDALB, TWOSTREAM, SURRAD]):

* CLASS snow albedo (ALB = 2): the albedo decays towards 0.55 by 1 % an hour and is
  refreshed towards 0.84 by snowfall (SWEMX of new snow refreshes it fully); the snow
  age TAUSS (Yang et al. 1997) is advanced too.  Both happen only while the sun is up
  (cos z > 0), as in Noah-MP, which skips ALBEDO at night.
* Ground albedo per band: the soil colour's saturated albedo plus 0.11 - 0.40 theta_1
  (total water of layer 1), at most its dry albedo, blended with the snow albedo by the
  snow cover.
* The two-stream canopy (Dickinson 1983, Sellers 1985) on the leaf+stem area of the
  cell, VAI = ELAI + ESAI, applied to the vegetated fraction: RAD = 3 puts a gap of
  1 - FVEG beside it for both beams.  Leaf and stem optics are mixed by their shares of
  VAI; below freezing the canopy's intercepted snow (wet fraction FWET) mixes in the
  snow's scattering.  Direct and diffuse beams of the visible and near-infrared bands
  are solved separately (4 calls).
* The sunlit fraction of the leaves FSUN = (1 - exp(-K VAI)) / (K VAI) with the
  extinction K of the direct beam (0 when below 0.01); absorbed PAR per unit sunlit and
  shaded leaf area.

Direct/diffuse: 70 % / 30 % of SW, each half visible and half near-infrared (ATM).
Scalar numba functions of one column; fluxes W m-2.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from .constants import MPE, TFRZ
from .jit import fexp, flog, fmax, fmin, fsqrt, jit

#: CLASS snow albedo: fresh and old limits and the decay per hour (TRANSFER_MP_PARAMETERS mxsnalb, mnsnalb,
#: sndecayexp).
ALBEDO_FRESH = 0.84
ALBEDO_OLD = 0.55
ALBEDO_DECAY_PER_HOUR = 0.01


@jit
def snow_age(dt, tg, sneqvo, sneqv, tauss, swemx):
    """Non-dimensional snow age TAUSS after a step (SNOW_AGE): grows with temperature, reset by new snow.

    dt [s]; tg: ground temperature [K]; sneqvo, sneqv: SWE of the previous and this step
    [kg m-2]; swemx: new snow that resets the age fully [kg m-2].
    """
    if sneqv <= 0.0 or sneqv > 800.0:
        return 0.0
    arg = 5.0e3 * (1.0 / TFRZ - 1.0 / tg)
    dela = 1.0e-6 * dt * (fexp(arg) + fexp(fmin(0.0, 10.0 * arg)) + 0.3)
    dels = fmax(0.0, sneqv - sneqvo) / swemx
    return fmax(0.0, (tauss + dela) * (1.0 - dels))


@jit
def snow_albedo(qsnow, dt, albold, swemx):
    """CLASS snow albedo [-] after a step (SNOWALB_CLASS): decay towards 0.55, refresh by snowfall qsnow [mm s-1]."""
    alb = ALBEDO_OLD + (albold - ALBEDO_OLD) * fexp(-ALBEDO_DECAY_PER_HOUR * dt / 3600.0)
    if qsnow > 0.0:
        full = swemx / dt
        alb = alb + fmin(qsnow, full) * (ALBEDO_FRESH - alb) / full
    return alb


@jit
def two_stream(diffuse, cosz, vai, fwet, tv, albgrd, albgri, rho, tau, fveg, xl, omegas, betads, betais):
    """One beam of one band through the canopy (TWOSTREAM with RAD = 3).

    diffuse: False for the direct beam, True for the diffuse one; cosz > 0; vai: leaf+stem
    area of the cell [m2 m-2]; fwet: wetted (snowed) fraction of the canopy; tv: leaf
    temperature [K]; albgrd, albgri: ground albedo for direct and diffuse light; rho, tau:
    the band's canopy reflectance and transmittance; fveg: vegetated fraction (gap
    1 - fveg); xl: leaf orientation index; omegas, betads, betais: the band's snow
    scattering parameters.

    Returns (fab, fre, ftd, fti, gdir): fractions of the incoming beam absorbed by the
    canopy, reflected, transmitted to the ground as direct and as diffuse light, and the
    projected leaf area G(mu) in the beam's direction.
    """
    if vai == 0.0:
        gap = 1.0
        kopen = 1.0
    else:
        gap = 1.0 - fveg
        kopen = 1.0 - fveg
    coszi = fmax(0.001, cosz)
    chil = fmin(fmax(xl, -0.4), 0.6)
    if abs(chil) <= 0.01:
        chil = 0.01
    phi1 = 0.5 - 0.633 * chil - 0.330 * chil * chil
    phi2 = 0.877 * (1.0 - 2.0 * phi1)
    gdir = phi1 + phi2 * coszi
    ext = gdir / coszi
    avmu = (1.0 - phi1 / phi2 * flog((phi1 + phi2) / phi1)) / phi2
    omegal = rho + tau
    t0 = gdir + phi2 * coszi
    t1 = phi1 * coszi
    asu = 0.5 * omegal * gdir / t0 * (1.0 - t1 / t0 * flog((t1 + t0) / t1))
    betadl = (1.0 + avmu * ext) / (omegal * avmu * ext) * asu
    betail = 0.5 * (rho + tau + (rho - tau) * ((1.0 + chil) / 2.0) ** 2) / omegal
    if tv > TFRZ:                     # no snow on the canopy
        omega, betad, betai = omegal, betadl, betail
    else:
        omega = (1.0 - fwet) * omegal + fwet * omegas
        betad = ((1.0 - fwet) * omegal * betadl + fwet * omegas * betads) / omega
        betai = ((1.0 - fwet) * omegal * betail + fwet * omegas * betais) / omega
    b = 1.0 - omega + omega * betai
    c = omega * betai
    t0 = avmu * ext
    d = t0 * omega * betad
    f = t0 * omega * (1.0 - betad)
    t1 = b * b - c * c
    h = fsqrt(t1) / avmu
    sigma = t0 * t0 - t1
    if abs(sigma) < 1.0e-6:
        sigma = 1.0e-6 if sigma >= 0.0 else -1.0e-6
    p1 = b + avmu * h
    p2 = b - avmu * h
    p3 = b + t0
    p4 = b - t0
    s1 = fexp(-h * vai)
    s2 = fexp(-ext * vai)
    albg = albgri if diffuse else albgrd
    u1 = b - c / albg
    u2 = b - c * albg
    u3 = f + c * albg
    t2 = u1 - avmu * h
    t3 = u1 + avmu * h
    d1 = p1 * t2 / s1 - p2 * t3 * s1
    t4 = u2 + avmu * h
    t5 = u2 - avmu * h
    d2 = t4 / s1 - t5 * s1
    h1 = -d * p4 - c * f
    t6 = d - h1 * p3 / sigma
    t7 = (d - c - h1 / sigma * (u1 + t0)) * s2
    h2 = (t6 * t2 / s1 - p2 * t7) / d1
    h3 = -(t6 * t3 * s1 - p1 * t7) / d1
    h4 = -f * p3 - c * d
    t8 = h4 / sigma
    t9 = (u3 - t8 * (u2 - t0)) * s2
    h5 = -(t8 * t4 / s1 + t9) / d2
    h6 = (t8 * t5 * s1 + t9) / d2
    h7 = (c * t2) / (d1 * s1)
    h8 = (-c * t3 * s1) / d1
    h9 = t4 / (d2 * s1)
    h10 = (-t5 * s1) / d2
    if diffuse:
        ftd = 0.0
        fti = (h9 * s1 + h10 / s1) * (1.0 - kopen) + kopen
        fre = (h7 + h8) * (1.0 - kopen) + albgri * kopen
    else:
        ftd = s2 * (1.0 - gap) + gap
        fti = (h4 * s2 / sigma + h5 * s1 + h6 / s1) * (1.0 - gap)
        fre = (h1 / sigma + h2 + h3) * (1.0 - gap) + albgrd * gap
    fab = 1.0 - fre - (1.0 - albgrd) * ftd - (1.0 - albgri) * fti
    return fab, fre, ftd, fti, gdir


@jit
def shortwave(cosz, swdown, elai, esai, fveg, fwet, tv, fsno, smc1, albsnow, p):
    """Absorbed and reflected shortwave of a column in daylight (ALBEDO + SURRAD, cos z > 0).

    swdown: downward shortwave [W m-2]; elai, esai: exposed leaf and stem area [m2 m-2];
    fveg: vegetated fraction; fwet: wetted canopy fraction; tv: leaf temperature [K];
    fsno: snow cover; smc1: total water of soil layer 1 [m3 m-3]; albsnow: the snow
    albedo of this step (CLASS; direct = diffuse); p: the column's optics (rhol_*,
    rhos_*, taul_*, taus_*, xl, albsat_*, albdry_*, omegas_*, betads, betais).

    Returns (fsun, parsun, parsha, sav, sag, fsr): sunlit fraction of the leaves,
    absorbed PAR per unit sunlit and shaded leaf area [W m-2], shortwave absorbed by the
    vegetation and by the ground [W m-2] (both per unit cell area) and reflected [W m-2].
    """
    solad = swdown * 0.7 * 0.5          # direct, per band
    solai = swdown * 0.3 * 0.5          # diffuse, per band
    vai = elai + esai
    wl = elai / fmax(vai, MPE)
    ws = esai / fmax(vai, MPE)
    inc = fmax(0.11 - 0.40 * smc1, 0.0)
    sav = 0.0
    sag = 0.0
    fsr = 0.0
    cad_vis = 0.0
    cai_vis = 0.0
    rho_vis = 0.0
    tau_vis = 0.0
    gdir = 0.0
    for band in range(2):
        if band == 0:
            rho = fmax(p.rhol_vis * wl + p.rhos_vis * ws, MPE)
            tau = fmax(p.taul_vis * wl + p.taus_vis * ws, MPE)
            soil = fmin(p.albsat_vis + inc, p.albdry_vis)
            omegas = p.omegas_vis
        else:
            rho = fmax(p.rhol_nir * wl + p.rhos_nir * ws, MPE)
            tau = fmax(p.taul_nir * wl + p.taus_nir * ws, MPE)
            soil = fmin(p.albsat_nir + inc, p.albdry_nir)
            omegas = p.omegas_nir
        albgrd = soil * (1.0 - fsno) + albsnow * fsno
        albgri = albgrd
        fabd, fred, ftdd, ftid, gdir = two_stream(False, cosz, vai, fwet, tv, albgrd, albgri, rho, tau, fveg, p.xl,
                                                  omegas, p.betads, p.betais)
        fabi, frei, _, ftii, gdir = two_stream(True, cosz, vai, fwet, tv, albgrd, albgri, rho, tau, fveg, p.xl,
                                               omegas, p.betads, p.betais)
        cad = solad * fabd
        cai = solai * fabi
        sav += cad + cai
        sag += solad * ftdd * (1.0 - albgrd) + (solad * ftid + solai * ftii) * (1.0 - albgri)
        fsr += fred * solad + frei * solai
        if band == 0:
            cad_vis, cai_vis, rho_vis, tau_vis = cad, cai, rho, tau
    # sunlit fraction from the direct beam's extinction of the visible band
    ext = gdir / cosz * fsqrt(1.0 - rho_vis - tau_vis)
    fsun = (1.0 - fexp(-ext * vai)) / fmax(ext * vai, MPE)
    if fsun < 0.01:
        fsun = 0.0
    fsha = 1.0 - fsun
    laisun = elai * fsun
    laisha = elai * fsha
    laifra = elai / fmax(vai, MPE)
    if fsun > 0.0:
        parsun = (cad_vis + fsun * cai_vis) * laifra / fmax(laisun, MPE)
        parsha = fsha * cai_vis * laifra / fmax(laisha, MPE)
    else:
        parsun = 0.0
        parsha = (cad_vis + cai_vis) * laifra / fmax(laisha, MPE)
    return fsun, parsun, parsha, sav, sag, fsr


# --- the sun -------------------------------------------------------------------------------------

_DEG = math.pi / 180.0


def solar_position(time: dt.datetime) -> tuple[float, float, float, float]:
    """The sun at ``time`` as LIS computes it for Noah-MP (calc_declin_401), for :func:`cos_zenith`.

    Declination asin(sin 23.5 deg sin(360/365 (d - 80) deg)) of the fractional day of
    year d (counted from 0 at 1 January 00 UTC); hour angle of local solar time UTC +
    lon/15 h (no equation of time).  Returns the sine and cosine of the declination and
    of the UTC hour angle 15 (hour - 12) deg.
    """
    year_start = dt.datetime(time.year, 1, 1, tzinfo=time.tzinfo)
    seconds = (time - year_start).total_seconds()
    julian = seconds / 86400.0
    dpd = 360.0 / 365.0
    sxlong = dpd * (julian - 80.0) * _DEG if julian >= 80.0 else dpd * (julian + 285.0) * _DEG
    decl = math.asin(math.sin(23.5 * _DEG) * math.sin(sxlong))
    hours = (seconds % 86400.0) / 3600.0
    angle = 15.0 * (hours - 12.0) * _DEG
    return math.sin(decl), math.cos(decl), math.sin(angle), math.cos(angle)


@jit
def cos_zenith(sin_lat, cos_lat, sin_lon, cos_lon, sin_decl, cos_decl, sin_utc, cos_utc):
    """Cosine of the solar zenith angle of a cell (local solar time = UTC + lon/15 h), clipped to [-1, 1]."""
    cos_hour_angle = cos_utc * cos_lon - sin_utc * sin_lon
    return fmin(1.0, fmax(-1.0, sin_lat * sin_decl + cos_lat * cos_decl * cos_hour_angle))


def cos_zenith_cells(time: dt.datetime, lat, lon) -> np.ndarray:
    """cos(solar zenith) at ``time`` for cells at lat, lon [degrees] (n,): :func:`solar_position`."""
    sd, cd, su, cu = solar_position(time)
    phi, lam = np.deg2rad(np.asarray(lat, dtype=np.float64)), np.deg2rad(np.asarray(lon, dtype=np.float64))
    cos_h = cu * np.cos(lam) - su * np.sin(lam)
    return np.clip(np.sin(phi) * sd + np.cos(phi) * cd * cos_h, -1.0, 1.0)
