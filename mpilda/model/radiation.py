"""Solar geometry and shortwave radiation: what canopy and ground absorb, sunlit and shaded leaves.

Noah-MP splits downward shortwave into visible and near-infrared halves,
each 70 % direct and 30 % diffuse (ATM), and solves a two-stream canopy
(TWOSTREAM).  mpilda keeps the bands, the beams, the leaf and stem optical
properties of MPTABLE and the sunlit/shaded split, but replaces two-stream by
a single-bounce Beer's-law canopy, the simplification noahmp-physics.md s.4.2
calls defensible:

* extinction of black leaves K_b = G(mu)/mu with Noah-MP's leaf-angle function
  G(mu) = phi1 + phi2 mu (Ross-Goudriaan, chi = XL clipped to -0.4..0.6),
  K_d = 0.8 * 2 G(0.5) for diffuse light (0.8 for spherical leaves, Goudriaan & van Laar 1994);
* scattering leaves: extinction K sqrt(1 - omega), canopy reflectance
  (1 - sqrt(1 - omega)) / (1 + sqrt(1 - omega)), times 2 K_b / (K_b + K_d) for
  the direct beam (Goudriaan 1977);
* ground-reflected light is absorbed by the canopy on its way up with the
  diffuse transmissivity; the rest leaves.  Shortwave is conserved exactly.
Sunlit fraction f_sun = (1 - exp(-K_b VAI)) / (K_b VAI) and absorbed PAR per
unit sunlit and shaded leaf area follow Noah-MP's ALBEDO and SURRAD.

Scalar numba functions of one column; ``p`` is the column's parameter record.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from ..solar import declination
from .jit import clip, fexp, fmax, fmin, jit

#: Fractions of SW down: visible/near-infrared halves, 70 % direct (Noah-MP ATM).
VIS_FRACTION = 0.5
DIRECT_FRACTION = 0.7
#: Energy of 1 W of PAR in photons: 4.6 umol J-1 (Noah-MP STOMATA).
PAR_PHOTONS = 4.6
_DEG = math.pi / 180.0


def solar_position(time: dt.datetime) -> tuple[float, float, float, float]:
    """The sun at ``time`` for :func:`cos_zenith`: sine and cosine of the declination and of (UTC hour - 12) 15 deg.

    Declination of the Spencer (1971) series (``mpilda.solar``); no equation of time (SPEC section 1).
    """
    year_start = dt.datetime(time.year, 1, 1, tzinfo=time.tzinfo)
    year_length = (dt.datetime(time.year + 1, 1, 1, tzinfo=time.tzinfo) - year_start).total_seconds()
    decl = declination((time - year_start).total_seconds() / year_length)
    hours = time.hour + time.minute / 60.0 + time.second / 3600.0
    angle = 15.0 * (hours - 12.0) * _DEG
    return float(np.sin(decl)), float(np.cos(decl)), math.sin(angle), math.cos(angle)


@jit
def cos_zenith(sin_lat, cos_lat, sin_lon, cos_lon, sin_decl, cos_decl, sin_utc, cos_utc):
    """Cosine of the solar zenith angle of a cell from the sines and cosines of its latitude and longitude.

    The hour angle is that of local solar time = UTC + lon/15 h (SPEC section 1): the sum
    of the UTC angle 15 (hour - 12) deg (sin_utc, cos_utc) and the longitude; declination
    and UTC angle from :func:`solar_position`.
    """
    cos_hour_angle = cos_utc * cos_lon - sin_utc * sin_lon
    return sin_lat * sin_decl + cos_lat * cos_decl * cos_hour_angle


@jit
def soil_albedo(theta1, p):
    """Soil albedo (VIS, NIR) from top-layer moisture [m3 m-3]: min(sat + max(0.11 - 0.40 theta, 0), dry) (GROUNDALB).

    ``p`` holds the soil colour's albsat_vis, albsat_nir, albdry_vis, albdry_nir.
    """
    inc = fmax(0.11 - 0.40 * theta1, 0.0)
    return fmin(p.albsat_vis + inc, p.albdry_vis), fmin(p.albsat_nir + inc, p.albdry_nir)


@jit
def leaf_angle(xl):
    """(phi1, phi2) of G(mu) = phi1 + phi2 mu (Noah-MP TWOSTREAM) for the leaf orientation index XL."""
    chi = clip(xl, -0.4, 0.6)
    phi1 = 0.5 - 0.633 * chi - 0.33 * chi * chi
    return phi1, 0.877 * (1.0 - 2.0 * phi1)


@jit
def _band(sw, frac, rho_l, rho_s, tau_l, tau_s, alb_g, w_leaf, vai, fv, kb, kd, canopy, ground, reflected):
    """One band (VIS or NIR) of :func:`shortwave`, added to the sums canopy, ground, reflected [W m-2 grid].

    Returns the new sums and the canopy's absorption of the direct and of the diffuse
    beam [W m-2 of the vegetated part].
    """
    omega = fmin((rho_l + tau_l) * w_leaf + (rho_s + tau_s) * (1.0 - w_leaf), 0.99)
    root = math.sqrt(1.0 - omega)
    rho_h = (1.0 - root) / (1.0 + root)
    trans_up = fexp(-kd * root * vai)          # ground-reflected (diffuse) light through the canopy
    absorbed_direct = 0.0
    for beam in range(2):
        if beam == 0:
            beam_frac, k, rho_c = DIRECT_FRACTION, kb, fmin(2.0 * kb / (kb + kd) * rho_h, 0.99)
        else:
            beam_frac, k, rho_c = 1.0 - DIRECT_FRACTION, kd, rho_h
        s = sw * frac * beam_frac
        trans = fexp(-k * root * vai)
        reflected_c = rho_c * (1.0 - trans) * s
        absorbed_c = (1.0 - rho_c) * (1.0 - trans) * s + alb_g * trans * s * (1.0 - trans_up)
        absorbed_g = (1.0 - alb_g) * trans * s
        escaped_g = alb_g * trans * s * trans_up
        # vegetated part, then bare part (ground albedo only)
        canopy = canopy + fv * absorbed_c
        ground = ground + (fv * absorbed_g + (1.0 - fv) * (1.0 - alb_g) * s)
        reflected = reflected + (fv * (reflected_c + escaped_g) + (1.0 - fv) * alb_g * s)
        if beam == 0:
            absorbed_direct = absorbed_c
    return canopy, ground, reflected, absorbed_direct, absorbed_c


@jit
def shortwave(sw, cosz, elai, esai, fveg, p, ground_vis, ground_nir):
    """Absorbed shortwave of canopy and ground, reflected shortwave, and PAR of sunlit/shaded leaves.

    Args:
        sw: downward shortwave [W m-2]; cosz: cosine of the zenith angle.
        elai, esai: leaf and stem area index not buried by snow [m2 m-2] (grid values).
        fveg: vegetated fraction; the canopy of the vegetated part has VAI / fveg (capped at 6).
        p: optical parameters (rhol_vis, rhol_nir, rhos_vis, rhos_nir, taul_vis, taul_nir,
           taus_vis, taus_nir, xl).
        ground_vis, ground_nir: ground albedos.
    Returns (sw_canopy, sw_ground, sw_reflected [W m-2 grid], lai_sun, lai_sha [m2 m-2 grid],
    par_sun, par_sha [W m-2 per unit sunlit/shaded leaf area], vai_e (VAI of the vegetated
    part) [m2 m-2], fveg (0 without canopy)).
    """
    vai_grid = elai + esai
    veg = fveg > 0 and vai_grid > 0
    fv = fveg if veg else 0.0
    vai = fmin(6.0, vai_grid / fmax(fv, 1e-6)) if veg else 0.0
    w_leaf = elai / fmax(vai_grid, 1e-12) if vai_grid > 0 else 0.0
    mu = fmax(cosz, 0.05)   # the hourly-mean SW of a step around sunrise keeps a low sun
    phi1, phi2 = leaf_angle(p.xl)
    kb = (phi1 + phi2 * mu) / mu
    kd = 0.8 * 2.0 * (phi1 + 0.5 * phi2)
    canopy, ground, reflected, par_direct, par_diffuse = _band(
        sw, VIS_FRACTION, p.rhol_vis, p.rhos_vis, p.taul_vis, p.taus_vis, ground_vis, w_leaf, vai, fv, kb, kd,
        0.0, 0.0, 0.0)
    canopy, ground, reflected, _, _ = _band(
        sw, 1.0 - VIS_FRACTION, p.rhol_nir, p.rhos_nir, p.taul_nir, p.taus_nir, ground_nir, w_leaf, vai, fv, kb, kd,
        canopy, ground, reflected)
    kbv = kb * vai
    fsun = (1.0 - fexp(-kbv)) / fmax(kbv, 1e-6) if kbv > 1e-6 else 1.0
    if fsun < 0.01:
        fsun = 0.0
    lai_e = vai * w_leaf                                      # leaf area of the vegetated part
    lai_sun = lai_e * fsun
    lai_sha = lai_e - lai_sun
    leaf_share = w_leaf                                       # PAR absorbed by leaves rather than stems
    par_sun = (par_direct + fsun * par_diffuse) * leaf_share / fmax(lai_sun, 1e-12) if lai_sun > 0 else 0.0
    par_sha = (1.0 - fsun) * par_diffuse * leaf_share / fmax(lai_sha, 1e-12) if lai_sha > 0 else 0.0
    return canopy, ground, reflected, fv * lai_sun, fv * lai_sha, par_sun, par_sha, vai, fv
