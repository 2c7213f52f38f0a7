"""The surface layer: saturation vapour pressure, Monin-Obukhov exchange and the under-canopy resistances.

* :func:`saturation` -- Noah-MP's ESAT: sixth-order polynomials of the Celsius
  temperature for the saturation vapour pressure over water and over ice and their
  slopes (coefficients of [NMP ESAT]), with the temperature clamped to -50..50 deg C
  and the ice branch at or below 0 deg C, as VEGE_FLUX and BARE_FLUX choose it.
* :func:`monin_obukhov` -- one pass of Noah-MP's SFCDIF1: the exchange coefficients
  for momentum and heat between the surface (displacement ``zpd``, roughness ``z0m``)
  and the forcing level ``zlvl``, with the Paulson (unstable) / Webb (stable)
  stability functions of the Obukhov length from the previous pass's sensible heat
  flux, averaged with the previous pass; after two sign changes of z/L the stability
  correction is switched off (Noah-MP's guard against oscillation).
* :func:`under_canopy` -- one pass of Noah-MP's RAGRB: the aerodynamic resistance
  between the ground and the canopy air (exponential wind profile within the canopy
  with the stability factor of the under-canopy Obukhov length) and the leaf
  boundary-layer resistance.

Scalar numba functions of one column.  Units: temperatures K, pressures Pa,
resistances s m-1, lengths m, fluxes W m-2.
"""

from __future__ import annotations


from .constants import CPAIR, GRAV, MPE, TFRZ, VKC
from .jit import fatan, fexp, flog, fmax, fmin, fsqrt, jit

# ESAT's polynomials (hPa, hPa K-1 of the Celsius temperature), [NMP ESAT]
_A = (6.107799961, 4.436518521e-01, 1.428945805e-02, 2.650648471e-04, 3.031240396e-06, 2.034080948e-08,
      6.136820929e-11)
_B = (6.109177956, 5.034698970e-01, 1.886013408e-02, 4.176223716e-04, 5.824720280e-06, 4.838803174e-08,
      1.838826904e-10)
_C = (4.438099984e-01, 2.857002636e-02, 7.938054040e-04, 1.215215065e-05, 1.036561403e-07, 3.532421810e-10,
      -7.090244804e-13)
_D = (5.030305237e-01, 3.773255020e-02, 1.267995369e-03, 2.477563108e-05, 3.005693132e-07, 2.158542548e-09,
      7.131097725e-12)
#: pi/2 as SFCDIF1 writes it
_HALF_PI = 1.5707963


@jit
def _poly(c, t):
    return 100.0 * (c[0] + t * (c[1] + t * (c[2] + t * (c[3] + t * (c[4] + t * (c[5] + t * c[6]))))))


@jit
def saturation(t):
    """(e_sat [Pa], d e_sat/dT [Pa K-1]) at temperature t [K]: over water above 0 deg C, over ice at or below.

    The Celsius temperature is clamped to -50..50 (Noah-MP's TDC) before the polynomials.
    """
    tc = fmin(50.0, fmax(-50.0, t - TFRZ))
    if tc > 0.0:
        return _poly(_A, tc), _poly(_C, tc)
    return _poly(_B, tc), _poly(_D, tc)


@jit
def monin_obukhov(first, sfctmp, rhoair, h, qair, zlvl, zpd, log_m, log_h, ur, fv, moz, mozsgn, fm, fh):
    """One pass of the surface-layer exchange (SFCDIF1).

    first: the first pass of the step (neutral); sfctmp [K], rhoair [kg m-3], qair [kg kg-1]
    at the forcing level zlvl [m]; h: sensible heat flux of the previous pass [W m-2];
    zpd: displacement [m]; log_m, log_h: ln((zlvl - zpd)/z0) for momentum and heat;
    ur: wind speed [m s-1]; fv, moz, mozsgn, fm, fh: friction velocity [m s-1], z/L,
    sign changes of z/L and the stability corrections of the previous pass.

    Returns (cm, ch, fv, moz, mozsgn, fm, fh): the drag and heat exchange coefficients
    [-] and the new pass's state.
    """
    moz_old = moz
    if first:
        fv = 0.0
        moz = 0.0
    else:
        tvir = (1.0 + 0.61 * qair) * sfctmp
        tmp = VKC * (GRAV / tvir) * h / (rhoair * CPAIR)
        if abs(tmp) <= MPE:
            tmp = MPE
        mol = -fv * fv * fv / tmp
        moz = fmin((zlvl - zpd) / mol, 1.0)
    if moz_old * moz < 0.0:
        mozsgn += 1
    if mozsgn >= 2:
        moz = 0.0
        fm = 0.0
        fh = 0.0
    if moz < 0.0:          # unstable: Paulson (1970)
        x = fsqrt(fsqrt(1.0 - 16.0 * moz))
        t2 = flog((1.0 + x * x) / 2.0)
        # 2 ln((1 + x)/2) + t2
        fm_new = flog((1.0 + x) * (1.0 + x) * (1.0 + x * x) / 8.0) - 2.0 * fatan(x) + _HALF_PI
        fh_new = 2.0 * t2
    else:                  # stable
        fm_new = -5.0 * moz
        fh_new = fm_new
    if first:
        fm, fh = fm_new, fh_new
    else:
        fm = 0.5 * (fm + fm_new)
        fh = 0.5 * (fh + fh_new)
    fh = fmin(fh, 0.9 * log_h)
    fm = fmin(fm, 0.9 * log_m)
    cmfm = log_m - fm
    chfh = log_h - fh
    if abs(cmfm) <= MPE:
        cmfm = MPE
    if abs(chfh) <= MPE:
        chfh = MPE
    cm = VKC * VKC / (cmfm * cmfm)
    ch = VKC * VKC / (cmfm * chfh)
    fv = ur * fsqrt(cm)
    return cm, ch, fv, moz, mozsgn, fm, fh


@jit
def under_canopy(first, vai, rhoair, hg, tah, zpd, z0mg, z0hg, hcan, uc, z0h, fv, cwp, dleaf, fhg):
    """One pass of the under-canopy resistances (RAGRB).

    vai: leaf+stem area within the vegetated part [m2 m-2]; hg: ground-to-canopy-air
    sensible heat of the previous pass [W m-2]; tah: canopy air temperature [K]; zpd,
    z0mg, z0hg, hcan, z0h [m]; uc: wind at the canopy top [m s-1]; fv: friction velocity
    [m s-1]; cwp: canopy wind parameter; dleaf: leaf dimension [m]; fhg: the stability
    factor of the previous pass.

    The in-canopy profile's resistance hcan e^c/c (e^(-c z0hg/hcan) - e^(-c (z0h+zpd)/hcan))
    with c = sqrt(cwp vai hcan fhg) is evaluated as hcan/c (e^(c (1 - z0hg/hcan)) -
    e^(c (1 - (z0h+zpd)/hcan))).

    Returns (rahg, rb, fhg): ground-to-canopy-air resistance for heat (and vapour)
    [s m-1], leaf boundary-layer resistance [s m-1] and the stability factor.
    """
    mozg = 0.0
    if not first:
        tmp = VKC * (GRAV / tah) * hg / (rhoair * CPAIR)
        if abs(tmp) <= MPE:
            tmp = MPE
        molg = -fv * fv * fv / tmp
        mozg = fmin((zpd - z0mg) / molg, 1.0)
    if mozg < 0.0:
        fhg_new = 1.0 / fsqrt(fsqrt(1.0 - 15.0 * mozg))
    else:
        fhg_new = 1.0 + 4.7 * mozg
    fhg = fhg_new if first else 0.5 * (fhg + fhg_new)
    cwpc = fsqrt(cwp * vai * hcan * fhg)
    rah2 = hcan / cwpc * (fexp(cwpc * (1.0 - z0hg / hcan)) - fexp(cwpc * (1.0 - (z0h + zpd) / hcan)))
    kh = fmax(VKC * fv * (hcan - zpd), MPE)
    rb = cwpc * 50.0 / (1.0 - fexp(-cwpc / 2.0)) * fsqrt(dleaf / uc)
    return rah2 / kh, fmax(rb, 100.0), fhg
