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
  are solved (2 bands x 2 beams).
* The sunlit fraction of the leaves FSUN = (1 - exp(-K VAI)) / (K VAI) with the
  extinction K of the direct beam (0 when below 0.01); absorbed PAR per unit sunlit and
  shaded leaf area.

Direct/diffuse: 70 % / 30 % of SW, each half visible and half near-infrared (ATM).
Snow age and albedo are scalar numba functions of one column; the canopy and the fluxes
are solved for a chunk of LANES columns at once in the rows of a lane block (as
:mod:`~mpilda.model.energy` does): the caller fills ``IN_ROWS``, calls :func:`solve`
and reads ``OUT_ROWS``.  Both beams of a band share one solution of the two-stream
equations.  Fluxes W m-2.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from .constants import MPE, TFRZ
from .jit import LANES, fexp, flog, fmax, fmin, fsqrt, jit, select

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
    arg = 5.0e3 * (1.0 / TFRZ - 1.0 / tg)
    dela = 1.0e-6 * dt * (fexp(arg) + fexp(fmin(0.0, 10.0 * arg)) + 0.3)
    dels = fmax(0.0, sneqv - sneqvo) / swemx
    return select((sneqv <= 0.0) | (sneqv > 800.0), 0.0, fmax(0.0, (tauss + dela) * (1.0 - dels)))


@jit
def snow_albedo(qsnow, dt, albold, swemx):
    """CLASS snow albedo [-] after a step (SNOWALB_CLASS): decay towards 0.55, refresh by snowfall qsnow [mm s-1]."""
    alb = ALBEDO_OLD + (albold - ALBEDO_OLD) * fexp(-ALBEDO_DECAY_PER_HOUR * dt / 3600.0)
    full = swemx / dt
    return select(qsnow > 0.0, alb + fmin(qsnow, full) * (ALBEDO_FRESH - alb) / full, alb)


# --- the canopy in lanes -------------------------------------------------------------------------
#: The rows the caller fills: the column's sun, leaves, snow and soil, and its optical parameters
#: (per band, MPTABLE's leaf and stem reflectance and transmittance, the soil colour's albedos, the
#: snow's single scattering albedo; the leaf orientation XL and the snow's upscatter parameters).
IN_ROWS = ("cosz", "swdown", "elai", "esai", "fveg", "fwet", "tv", "fsno", "smc1", "albsnow", "xl", "betads",
           "betais", "rhol_vis", "rhol_nir", "rhos_vis", "rhos_nir", "taul_vis", "taul_nir", "taus_vis", "taus_nir",
           "albsat_vis", "albsat_nir", "albdry_vis", "albdry_nir", "omegas_vis", "omegas_nir")
#: The rows the caller reads (zero, and laisha = elai, without sun): sunlit fraction of the leaves, absorbed PAR
#: per unit sunlit and shaded leaf area [W m-2], sunlit and shaded leaf area of the cell, shortwave absorbed by
#: the vegetation and the ground and reflected [W m-2 of the cell].
OUT_ROWS = ("fsun", "parsun", "parsha", "laisun", "laisha", "sav", "sag", "fsr")
#: Per band (visible, near-infrared): leaf+stem reflectance and transmittance, ground albedo, and the fractions
#: of the direct (d) and diffuse (i) beams absorbed by the canopy, reflected, and reaching the ground as direct
#: and as diffuse light.
BAND_ROWS = ("rho", "tau", "albg", "fabd", "fred", "ftdd", "ftid", "fabi", "frei", "ftii")
_GEOMETRY_ROWS = ("vai", "gap", "chil", "gdir", "ext", "avmu", "betadl", "s2")
ROWS = {name: i for i, name in enumerate(IN_ROWS + OUT_ROWS + _GEOMETRY_ROWS
                                         + tuple(f"{r}_{b}" for b in ("vis", "nir") for r in BAND_ROWS))}
#: Size of the lane block [values].
BLOCK = len(ROWS) * LANES
(COSZ, SWDOWN, ELAI, ESAI, FVEG, FWET, TV, FSNO, SMC1, ALBSNOW, XL, BETADS, BETAIS, RHOL_VIS, RHOL_NIR, RHOS_VIS,
 RHOS_NIR, TAUL_VIS, TAUL_NIR, TAUS_VIS, TAUS_NIR, ALBSAT_VIS, ALBSAT_NIR, ALBDRY_VIS, ALBDRY_NIR, OMEGAS_VIS,
 OMEGAS_NIR) = (ROWS[k] for k in IN_ROWS)
FSUN, PARSUN, PARSHA, LAISUN, LAISHA, SAV, SAG, FSR = (ROWS[k] for k in OUT_ROWS)
VAI, GAP, CHIL, GDIR, EXT, AVMU, BETADL, S2 = (ROWS[k] for k in _GEOMETRY_ROWS)
_BAND0 = ROWS["rho_vis"]
_NB = len(BAND_ROWS)
_L = LANES


@jit
def _geometry(R):
    """The beam-independent canopy terms of every lane: gap, G(mu), extinction, mean inverse diffuse optical depth,
    the leaves' direct-beam upscatter (the same in both bands: omega cancels) and the direct transmittance."""
    for l in range(_L):
        cosz = fmax(0.001, R[COSZ * _L + l])
        vai = R[ELAI * _L + l] + R[ESAI * _L + l]
        chil = fmin(fmax(R[XL * _L + l], -0.4), 0.6)
        chil = select(abs(chil) <= 0.01, 0.01, chil)
        phi1 = 0.5 - 0.633 * chil - 0.330 * chil * chil
        phi2 = 0.877 * (1.0 - 2.0 * phi1)
        gdir = phi1 + phi2 * cosz
        ext = gdir / cosz
        avmu = (1.0 - phi1 / phi2 * flog((phi1 + phi2) / phi1)) / phi2
        t0 = gdir + phi2 * cosz
        t1 = phi1 * cosz
        # Noah-MP's betadl = (1 + mu K) / (omega mu K) asu with asu = omega/2 G/t0 (1 - t1/t0 ln((t1 + t0)/t1))
        R[BETADL * _L + l] = (1.0 + avmu * ext) / (avmu * ext) * 0.5 * gdir / t0 * (1.0 - t1 / t0 * flog((t1 + t0) / t1))
        R[VAI * _L + l] = vai
        R[GAP * _L + l] = select(vai > 0.0, 1.0 - R[FVEG * _L + l], 1.0)
        R[CHIL * _L + l] = chil
        R[GDIR * _L + l] = gdir
        R[EXT * _L + l] = ext
        R[AVMU * _L + l] = avmu
        R[S2 * _L + l] = fexp(-ext * vai)


@jit
def _band(R, band):
    """The two-stream solution (TWOSTREAM, RAD = 3) of one band (0 visible, 1 near-infrared) for both beams.

    The cell's leaf+stem area VAI forms the canopy, a gap of 1 - FVEG lets both beams through unimpeded (no gap
    without leaves); leaf and stem optics are mixed by their shares of VAI, and below freezing the wetted
    fraction FWET scatters as snow.  The ground albedo is the soil's (saturated + 0.11 - 0.40 theta_1, at
    most dry) blended with the snow's by the snow cover, the same for both beams.
    """
    o = band
    b0 = _BAND0 + band * _NB
    for l in range(_L):
        vai = R[VAI * _L + l]
        wl = R[ELAI * _L + l] / fmax(vai, MPE)
        ws = R[ESAI * _L + l] / fmax(vai, MPE)
        rho = fmax(R[(RHOL_VIS + o) * _L + l] * wl + R[(RHOS_VIS + o) * _L + l] * ws, MPE)
        tau = fmax(R[(TAUL_VIS + o) * _L + l] * wl + R[(TAUS_VIS + o) * _L + l] * ws, MPE)
        soil = fmin(R[(ALBSAT_VIS + o) * _L + l] + fmax(0.11 - 0.40 * R[SMC1 * _L + l], 0.0),
                    R[(ALBDRY_VIS + o) * _L + l])
        fsno = R[FSNO * _L + l]
        albg = soil * (1.0 - fsno) + R[ALBSNOW * _L + l] * fsno
        chil = R[CHIL * _L + l]
        avmu = R[AVMU * _L + l]
        ext = R[EXT * _L + l]
        gap = R[GAP * _L + l]
        omegal = rho + tau
        betadl = R[BETADL * _L + l]
        betail = 0.5 * (rho + tau + (rho - tau) * ((1.0 + chil) / 2.0) ** 2) / omegal
        fwet = select(R[TV * _L + l] > TFRZ, 0.0, R[FWET * _L + l])      # snow on the canopy below freezing
        omegas = R[(OMEGAS_VIS + o) * _L + l]
        omega = (1.0 - fwet) * omegal + fwet * omegas
        betad = ((1.0 - fwet) * omegal * betadl + fwet * omegas * R[BETADS * _L + l]) / omega
        betai = ((1.0 - fwet) * omegal * betail + fwet * omegas * R[BETAIS * _L + l]) / omega
        b = 1.0 - omega + omega * betai
        c = omega * betai
        t0 = avmu * ext
        d = t0 * omega * betad
        f = t0 * omega * (1.0 - betad)
        t1 = b * b - c * c
        h = fsqrt(t1) / avmu
        sigma = t0 * t0 - t1
        sigma = select(abs(sigma) < 1.0e-6, select(sigma >= 0.0, 1.0e-6, -1.0e-6), sigma)
        p1 = b + avmu * h
        p2 = b - avmu * h
        p3 = b + t0
        p4 = b - t0
        s1 = fexp(-h * vai)
        s2 = R[S2 * _L + l]
        u1 = b - c / albg
        u2 = b - c * albg
        u3 = f + c * albg
        t2 = u1 - avmu * h
        t3 = u1 + avmu * h
        d1 = p1 * t2 / s1 - p2 * t3 * s1
        t4 = u2 + avmu * h
        t5 = u2 - avmu * h
        d2 = t4 / s1 - t5 * s1
        # direct beam
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
        ftdd = s2 * (1.0 - gap) + gap
        ftid = (h4 * s2 / sigma + h5 * s1 + h6 / s1) * (1.0 - gap)
        fred = (h1 / sigma + h2 + h3) * (1.0 - gap) + albg * gap
        # diffuse beam
        h7 = (c * t2) / (d1 * s1)
        h8 = (-c * t3 * s1) / d1
        h9 = t4 / (d2 * s1)
        h10 = (-t5 * s1) / d2
        ftii = (h9 * s1 + h10 / s1) * (1.0 - gap) + gap
        frei = (h7 + h8) * (1.0 - gap) + albg * gap
        R[(b0 + 0) * _L + l] = rho
        R[(b0 + 1) * _L + l] = tau
        R[(b0 + 2) * _L + l] = albg
        R[(b0 + 3) * _L + l] = 1.0 - fred - (1.0 - albg) * (ftdd + ftid)
        R[(b0 + 4) * _L + l] = fred
        R[(b0 + 5) * _L + l] = ftdd
        R[(b0 + 6) * _L + l] = ftid
        R[(b0 + 7) * _L + l] = 1.0 - frei - (1.0 - albg) * ftii
        R[(b0 + 8) * _L + l] = frei
        R[(b0 + 9) * _L + l] = ftii


@jit
def _fluxes(R):
    """Absorbed and reflected shortwave, the sunlit fraction (from the visible direct beam's extinction) and the
    PAR of sunlit and shaded leaves of every lane (SURRAD); no sun (cos z <= 0): nothing absorbed, all shaded."""
    v = _BAND0
    n = _BAND0 + _NB
    for l in range(_L):
        day = R[COSZ * _L + l] > 0.0
        sw = R[SWDOWN * _L + l]
        solad = sw * 0.7 * 0.5           # direct, per band (ATM: 70 % direct, half visible)
        solai = sw * 0.3 * 0.5           # diffuse, per band
        elai = R[ELAI * _L + l]
        vai = R[VAI * _L + l]
        cad_vis = solad * R[(v + 3) * _L + l]
        cai_vis = solai * R[(v + 7) * _L + l]
        sav = cad_vis + cai_vis + solad * R[(n + 3) * _L + l] + solai * R[(n + 7) * _L + l]
        sag = 0.0
        fsr = 0.0
        for b in (v, n):
            ground = 1.0 - R[(b + 2) * _L + l]
            sag += (solad * (R[(b + 5) * _L + l] + R[(b + 6) * _L + l]) + solai * R[(b + 9) * _L + l]) * ground
            fsr += solad * R[(b + 4) * _L + l] + solai * R[(b + 8) * _L + l]
        cosz = select(day, R[COSZ * _L + l], 1.0)
        ext = R[GDIR * _L + l] / cosz * fsqrt(1.0 - R[(v + 0) * _L + l] - R[(v + 1) * _L + l])
        fsun = (1.0 - fexp(-ext * vai)) / fmax(ext * vai, MPE)
        fsun = select(day & (fsun >= 0.01), fsun, 0.0)
        laisun = elai * fsun
        laisha = elai * (1.0 - fsun)
        laifra = elai / fmax(vai, MPE)
        sunlit = fsun > 0.0
        parsun = select(sunlit, (cad_vis + fsun * cai_vis) * laifra / fmax(laisun, MPE), 0.0)
        parsha = select(sunlit, (1.0 - fsun) * cai_vis, cad_vis + cai_vis) * laifra / fmax(laisha, MPE)
        R[FSUN * _L + l] = fsun
        R[LAISUN * _L + l] = laisun
        R[LAISHA * _L + l] = laisha
        R[PARSUN * _L + l] = select(day, parsun, 0.0)
        R[PARSHA * _L + l] = select(day, parsha, 0.0)
        R[SAV * _L + l] = select(day, sav, 0.0)
        R[SAG * _L + l] = select(day, sag, 0.0)
        R[FSR * _L + l] = select(day, fsr, 0.0)


@jit
def solve(R):
    """The shortwave of the chunk's LANES columns: fills OUT_ROWS (and the band rows) of the lane block R from
    its IN_ROWS (ALBEDO's canopy and ground + SURRAD)."""
    _geometry(R)
    _band(R, 0)
    _band(R, 1)
    _fluxes(R)


@jit
def night(R):
    """OUT_ROWS of a chunk without sun (what :func:`solve` gives at cos z <= 0, without solving the canopy)."""
    for l in range(_L):
        for row in (FSUN, PARSUN, PARSHA, LAISUN, SAV, SAG, FSR):
            R[row * _L + l] = 0.0
        R[LAISHA * _L + l] = R[ELAI * _L + l]


def shortwave_columns(**inputs) -> dict[str, np.ndarray]:
    """:func:`solve` on arrays: every IN_ROWS value as an array (n,) or a scalar; returns every row (n,)."""
    missing = set(IN_ROWS) - set(inputs)
    if missing:
        raise TypeError(f"shortwave_columns needs {sorted(missing)}")
    n = max(np.size(v) for v in inputs.values())
    values = {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in inputs.items()}
    out = {k: np.empty(n) for k in ROWS}
    R = np.zeros(BLOCK)
    for c0 in range(0, n, LANES):
        lanes = np.minimum(np.arange(c0, c0 + LANES), n - 1)
        for name in IN_ROWS:
            R[ROWS[name] * LANES:(ROWS[name] + 1) * LANES] = values[name][lanes]
        solve(R)
        k = min(LANES, n - c0)
        for name, row in ROWS.items():
            out[name][c0:c0 + k] = R[row * LANES:row * LANES + k]
    return out


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
