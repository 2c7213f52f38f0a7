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
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from ..solar import declination

#: Fractions of SW down: visible/near-infrared halves, 70 % direct (Noah-MP ATM).
VIS_FRACTION = 0.5
DIRECT_FRACTION = 0.7
#: Energy of 1 W of PAR in photons: 4.6 umol J-1 (Noah-MP STOMATA).
PAR_PHOTONS = 4.6


def cos_zenith(lat: np.ndarray, lon: np.ndarray, time: dt.datetime) -> np.ndarray:
    """Cosine of the solar zenith angle at ``time`` (UTC) for cells at lat/lon [degrees].

    Declination of the Spencer (1971) series (``mpilda.solar``); hour angle from local
    solar time = UTC + lon/15 h (SPEC section 1, no equation of time).
    """
    year_start = dt.datetime(time.year, 1, 1, tzinfo=time.tzinfo)
    year_length = (dt.datetime(time.year + 1, 1, 1, tzinfo=time.tzinfo) - year_start).total_seconds()
    decl = declination((time - year_start).total_seconds() / year_length)
    hours = time.hour + time.minute / 60.0 + time.second / 3600.0
    hour_angle = np.deg2rad(15.0 * (hours + np.asarray(lon) / 15.0 - 12.0))
    phi = np.deg2rad(lat)
    return np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.cos(hour_angle)


def soil_albedo(theta1: np.ndarray, colour_sat_dry: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Soil albedo (VIS, NIR) from top-layer moisture: min(sat + max(0.11 - 0.40 theta, 0), dry) (GROUNDALB)."""
    sat_vis, sat_nir, dry_vis, dry_nir = colour_sat_dry
    inc = np.maximum(0.11 - 0.40 * theta1, 0.0)
    return np.minimum(sat_vis + inc, dry_vis), np.minimum(sat_nir + inc, dry_nir)


def leaf_angle(xl):
    """(phi1, phi2) of G(mu) = phi1 + phi2 mu (Noah-MP TWOSTREAM)."""
    chi = np.clip(xl, -0.4, 0.6)
    phi1 = 0.5 - 0.633 * chi - 0.33 * chi * chi
    return phi1, 0.877 * (1.0 - 2.0 * phi1)


def shortwave(sw, cosz, elai, esai, fveg, p, ground_vis, ground_nir):
    """Absorbed shortwave of canopy and ground, reflected shortwave, and PAR of sunlit/shaded leaves.

    Args:
        sw: downward shortwave [W m-2]; cosz: cosine of the zenith angle.
        elai, esai: leaf and stem area index not buried by snow [m2 m-2] (grid values).
        fveg: vegetated fraction; the canopy of the vegetated part has VAI / fveg (capped at 6).
        p: per-column optical parameters (rhol_vis, rhol_nir, rhos_vis, rhos_nir, taul_vis,
           taul_nir, taus_vis, taus_nir, xl).
        ground_vis, ground_nir: ground albedos.
    Returns a dict (per unit grid area unless stated): sw_canopy, sw_ground, sw_reflected [W m-2],
    lai_sun, lai_sha [m2 m-2], par_sun, par_sha [W m-2 per unit sunlit/shaded leaf area].
    """
    vai_grid = elai + esai
    veg = (fveg > 0) & (vai_grid > 0)
    fv = np.where(veg, fveg, 0.0)
    vai = np.where(veg, np.minimum(6.0, vai_grid / np.maximum(fv, 1e-6)), 0.0)
    w_leaf = np.where(vai_grid > 0, elai / np.maximum(vai_grid, 1e-12), 0.0)
    mu = np.maximum(cosz, 0.05)   # the hourly-mean SW of a step around sunrise keeps a low sun
    phi1, phi2 = leaf_angle(p.xl)
    kb = (phi1 + phi2 * mu) / mu
    kd = 0.8 * 2.0 * (phi1 + 0.5 * phi2)
    out = dict(sw_canopy=np.zeros_like(sw), sw_ground=np.zeros_like(sw), sw_reflected=np.zeros_like(sw))
    par_direct = par_diffuse = None
    for band, frac, rho_l, rho_s, tau_l, tau_s, alb_g in (
            ("vis", VIS_FRACTION, p.rhol_vis, p.rhos_vis, p.taul_vis, p.taus_vis, ground_vis),
            ("nir", 1.0 - VIS_FRACTION, p.rhol_nir, p.rhos_nir, p.taul_nir, p.taus_nir, ground_nir)):
        omega = np.minimum((rho_l + tau_l) * w_leaf + (rho_s + tau_s) * (1.0 - w_leaf), 0.99)
        root = np.sqrt(1.0 - omega)
        rho_h = (1.0 - root) / (1.0 + root)
        trans_up = np.exp(-kd * root * vai)          # ground-reflected (diffuse) light through the canopy
        absorbed_beams = []
        for beam_frac, k, rho_c in ((DIRECT_FRACTION, kb, np.minimum(2.0 * kb / (kb + kd) * rho_h, 0.99)),
                                    (1.0 - DIRECT_FRACTION, kd, rho_h)):
            s = sw * frac * beam_frac
            trans = np.exp(-k * root * vai)
            reflected_c = rho_c * (1.0 - trans) * s
            absorbed_c = (1.0 - rho_c) * (1.0 - trans) * s + alb_g * trans * s * (1.0 - trans_up)
            absorbed_g = (1.0 - alb_g) * trans * s
            escaped_g = alb_g * trans * s * trans_up
            # vegetated part, then bare part (ground albedo only)
            out["sw_canopy"] += fv * absorbed_c
            out["sw_ground"] += fv * absorbed_g + (1.0 - fv) * (1.0 - alb_g) * s
            out["sw_reflected"] += fv * (reflected_c + escaped_g) + (1.0 - fv) * alb_g * s
            absorbed_beams.append(absorbed_c)
        if band == "vis":
            par_direct, par_diffuse = absorbed_beams
    kbv = kb * vai
    fsun = np.where(kbv > 1e-6, (1.0 - np.exp(-kbv)) / np.maximum(kbv, 1e-6), 1.0)
    fsun = np.where(fsun < 0.01, 0.0, fsun)
    lai_e = vai * w_leaf                                      # leaf area of the vegetated part
    lai_sun = lai_e * fsun
    lai_sha = lai_e - lai_sun
    leaf_share = w_leaf                                       # PAR absorbed by leaves rather than stems
    par_sun = np.where(lai_sun > 0, (par_direct + fsun * par_diffuse) * leaf_share / np.maximum(lai_sun, 1e-12), 0.0)
    par_sha = np.where(lai_sha > 0, (1.0 - fsun) * par_diffuse * leaf_share / np.maximum(lai_sha, 1e-12), 0.0)
    out.update(lai_sun=fv * lai_sun, lai_sha=fv * lai_sha, par_sun=par_sun, par_sha=par_sha,
               vai_e=vai, fveg=fv)
    return out
