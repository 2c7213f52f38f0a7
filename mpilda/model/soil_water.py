"""Soil water: root-water stress, the soil surface's resistance, infiltration and Richards' equation.

Noah-MP 4.0.1 with the options LIS runs ([NMP ENERGY (BTRAN, RSURF), SOILWATER,
INFIL, SRT, SSTEP, WDFCND1/2]):

* BTR = 1: the Noah soil-moisture factor (theta_liq - theta_w)/(theta_ref - theta_w)
  of each root layer, weighted by thickness; its normalised weights take the
  transpiration from the layers;
* RSF = 1: the soil surface resistance of Sakaguchi & Zeng (2009) from the dry
  surface layer's depth; the relative humidity of the soil pores from the matric
  potential (Kelvin);
* RUN = 3: Schaake et al. (1996) infiltration, reduced on frozen ground by the
  Gamma-distribution of Koren et al. (1999), free drainage SLOPE K(theta_4) at the
  bottom of the 2 m column;
* INF = 1 (Niu & Yang 2006): hydraulic conductivity Ks (theta/theta_s)^(2b+3) and
  diffusivity Dsat (theta/theta_s)^(b+2) of the total water content, both reduced by
  the impermeable fraction of frozen soil; the infiltration's lower bound is the
  conductivity of the liquid water of layer 1 (WDFCND2);
* Richards' equation in Noah's diffusive theta form, linearised implicit with the
  coefficients of the sub-step's start, solved in 3 sub-steps (6 when the
  infiltration of a step exceeds the pore space of layer 1), infiltration recomputed
  in each; water above the effective porosity moves up and leaves as saturation-
  excess runoff; a layer left below 0.01 mm borrows from the one beneath.

Scalar numba functions of one column; the layer arrays (4) are changed in place.
Water [m3 m-3]; fluxes [m s-1] inside, [mm s-1] returned.
"""

from __future__ import annotations

import math

from .constants import DZ, GRAV, MPE, RW, ZSOIL
from .jit import fexp, fmax, fmin, fpow, jit
from .soil_heat import tridiagonal

#: Frozen-soil impermeability shape parameter A (Niu & Yang 2006; SOILWATER).
FROZEN_A = 4.0
_E_A = math.exp(-FROZEN_A)
#: Gamma-distribution shape of the frozen-ground infiltration reduction (INFIL CVFRZ).
CVFRZ = 3
#: Schaake's reference conductivity and KDT (GENPARM.TBL REFDK_DATA, REFKDT_DATA) and FRZK_DATA.
REFDK = 2.0e-6
REFKDT = 3.0
FRZK = 0.15
#: Liquid water a layer keeps in the negative-water fix [mm] (SOILWATER WATMIN).
WATMIN = 0.01
_DZ = (float(DZ[0]), float(DZ[1]), float(DZ[2]), float(DZ[3]))
_ZSOIL = (float(ZSOIL[0]), float(ZSOIL[1]), float(ZSOIL[2]), float(ZSOIL[3]))


def infiltration_constants(satdk, smcmax, smcref):
    """Per-cell KDT [day-1] and FRZX [m] of Schaake's infiltration (TRANSFER_MP_PARAMETERS).

    KDT = REFKDT Ks / REFDK; FRZX = FRZK (theta_s / theta_ref) (0.412 / 0.468).
    """
    return REFKDT * satdk / REFDK, FRZK * (smcmax / smcref) * (0.412 / 0.468)


@jit
def btran(sh2o, nroot, p, weights):
    """Soil-water factor of transpiration BTRAN [0-1] (BTR = 1); weights[0:4] receive the layers' shares."""
    total = 0.0
    zroot = -_ZSOIL[nroot - 1] if nroot > 0 else 1.0
    for k in range(4):
        weights[k] = 0.0
    for k in range(nroot):
        gx = (sh2o[k] - p.smcwlt) / (p.smcref - p.smcwlt)
        gx = fmin(1.0, fmax(0.0, gx))
        weights[k] = fmax(MPE, _DZ[k] / zroot * gx)
        total += weights[k]
    total = fmax(MPE, total)
    for k in range(nroot):
        weights[k] = weights[k] / total
    return total


@jit
def soil_surface(sh2o1, snowh, fsno, tg, p):
    """Soil surface resistance to evaporation [s m-1] (Sakaguchi & Zeng 2009) and pore humidity [-].

    sh2o1: liquid water of layer 1 [m3 m-3]; snowh: snow depth [m]; fsno: snow cover;
    tg: ground temperature [K]; p: smcmax, smcwlt, bexp, psisat, urban (no evaporation
    from urban soil without snow).
    """
    dry = 1.0 - fmin(1.0, sh2o1 / p.smcmax)
    d5 = dry * dry * dry * dry * dry
    l_rsurf = -_ZSOIL[0] * (fexp(d5) - 1.0) / (2.71828 - 1.0)
    d_rsurf = 2.2e-5 * p.smcmax * p.smcmax * fpow(1.0 - p.smcwlt / p.smcmax, 2.0 + 3.0 / p.bexp)
    rsurf = l_rsurf / d_rsurf
    if (sh2o1 < 0.01 or p.urban > 0.0) and snowh == 0.0:      # dry, or sealed urban ground
        rsurf = 1.0e6
    psi = -p.psisat * fpow(fmax(0.01, sh2o1) / p.smcmax, -p.bexp)
    rhsur = fsno + (1.0 - fsno) * fexp(psi * GRAV / (RW * tg))
    return rsurf, rhsur


@jit
def _conductivity(theta, p):
    """Ks (theta/theta_s)^(2b+3) [m s-1], the ratio floored at 0.01."""
    return p.satdk * fpow(fmax(0.01, theta / p.smcmax), 2.0 * p.bexp + 3.0)


@jit
def infiltration(qinsur, sh2o, sice, sicemax, dt, p):
    """Schaake infiltration (INFIL): (surface runoff, infiltration) [m s-1] of the input qinsur [m s-1] over dt [s].

    p: smcmax, smcwlt, satdk, bexp, kdt [day-1], frzx [m].
    """
    dt1 = dt / 86400.0
    smcav = p.smcmax - p.smcwlt
    dd = 0.0
    dice = 0.0
    for k in range(4):
        dice += _DZ[k] * sice[k]
        dd += _DZ[k] * smcav * (1.0 - (sh2o[k] + sice[k] - p.smcwlt) / smcav)
    ddt = dd * (1.0 - fexp(-p.kdt * dt1))
    px = fmax(0.0, qinsur * dt)
    infmax = (px * (ddt / (px + ddt))) / dt
    if dice > 1.0e-2:                       # frozen ground (Koren et al. 1999), CVFRZ = 3
        acrt = CVFRZ * p.frzx / dice
        total = 1.0 + acrt + acrt * acrt / 2.0
        infmax = infmax * (1.0 - fexp(-acrt) * total)
    infmax = fmax(infmax, _conductivity(sh2o[0], p))
    infmax = fmin(infmax, px)               # (Noah-MP compares the rate with the step's depth here)
    runsrf = fmax(0.0, qinsur - infmax)
    return runsrf, qinsur - runsrf


@jit
def _richards(sh2o, smc, sice, fcr, pddum, etrani, qseva, dt, slope, p, work):
    """One implicit sub-step of Richards' equation (SRT + SSTEP); returns (drainage [m s-1], excess [m]).

    smc: total water whose conductivity and diffusivity the sub-step uses (set to
    sh2o + sice on return); fcr: impermeable fractions; pddum: infiltration [m s-1];
    etrani: uptake of each layer [m s-1]; qseva: soil evaporation [m s-1]; work: rows
    1..7 of the caller's work array.
    """
    wdf, wcnd, a, b, c, d, x = work[1], work[2], work[3], work[4], work[5], work[6], work[7]
    for k in range(4):
        factr = fmax(0.01, smc[k] / p.smcmax)
        wdf[k] = p.satdw * fpow(factr, p.bexp + 2.0) * (1.0 - fcr[k])
        wcnd[k] = p.satdk * fpow(factr, 2.0 * p.bexp + 3.0) * (1.0 - fcr[k])
    # fluxes across the interfaces (positive down) with D and K of the upper layer
    flux_prev = 0.0
    ddz_prev = 0.0
    for k in range(3):
        span = -_ZSOIL[1] if k == 0 else _ZSOIL[k - 1] - _ZSOIL[k + 1]
        ddz = 2.0 / span
        flux = wdf[k] * 2.0 * (smc[k] - smc[k + 1]) / span + wcnd[k]
        if k == 0:
            wflux = flux - pddum + etrani[0] + qseva
            a[0] = 0.0
            b[0] = wdf[0] * ddz / _DZ[0]
            c[0] = -b[0]
        else:
            wflux = flux - flux_prev + etrani[k]
            a[k] = -wdf[k - 1] * ddz_prev / _DZ[k]
            c[k] = -wdf[k] * ddz / _DZ[k]
            b[k] = -(a[k] + c[k])
        d[k] = wflux / (-_DZ[k]) * dt
        flux_prev = flux
        ddz_prev = ddz
    qdrain = slope * wcnd[3]
    d[3] = (-flux_prev + etrani[3] + qdrain) / (-_DZ[3]) * dt
    a[3] = -wdf[2] * ddz_prev / _DZ[3]
    c[3] = 0.0
    b[3] = -a[3]
    for k in range(4):
        a[k] = a[k] * dt
        b[k] = 1.0 + b[k] * dt
        c[k] = c[k] * dt
    tridiagonal(a, b, c, d, x, 0, 3)
    for k in range(4):
        sh2o[k] = sh2o[k] + x[k]
    # water above the effective porosity moves up; above layer 1 it is pushed down again, then leaves
    for k in range(3, 0, -1):
        epore = fmax(1.0e-4, p.smcmax - sice[k])
        wplus = fmax(sh2o[k] - epore, 0.0) * _DZ[k]
        sh2o[k] = fmin(epore, sh2o[k])
        sh2o[k - 1] = sh2o[k - 1] + wplus / _DZ[k - 1]
    epore = fmax(1.0e-4, p.smcmax - sice[0])
    wplus = fmax(sh2o[0] - epore, 0.0) * _DZ[0]
    sh2o[0] = fmin(epore, sh2o[0])
    if wplus > 0.0:
        sh2o[1] = sh2o[1] + wplus / _DZ[1]
        for k in range(1, 3):
            epore = fmax(1.0e-4, p.smcmax - sice[k])
            wplus = fmax(sh2o[k] - epore, 0.0) * _DZ[k]
            sh2o[k] = fmin(epore, sh2o[k])
            sh2o[k + 1] = sh2o[k + 1] + wplus / _DZ[k + 1]
        epore = fmax(1.0e-4, p.smcmax - sice[3])
        wplus = fmax(sh2o[3] - epore, 0.0) * _DZ[3]
        sh2o[3] = fmin(epore, sh2o[3])
    for k in range(4):
        smc[k] = sh2o[k] + sice[k]
    return qdrain, wplus


@jit
def soil_water(sh2o, smc, sice, qinsur, qseva, etrani, dt, slope, p, work):
    """The soil column's water over one step (SOILWATER, RUN = 3, INF = 1).

    sh2o: liquid water [m3 m-3] (updated); smc: total water whose conductivities the
    first sub-step uses (updated to sh2o + sice); sice: ice (fixed); qinsur: water
    reaching the surface [m s-1]; qseva: soil evaporation [m s-1]; etrani: uptake of each
    layer [m s-1]; slope: the free-drainage factor; work: a (8, >= 4) array.

    Returns (runsrf, qdrain, runsub_fix) [mm s-1]: surface (infiltration- and
    saturation-excess) runoff, free drainage, and the (negative) adjustment of the
    subsurface runoff by the negative-water fix.
    """
    fcr = work[0]
    x = work[7]
    rsat = 0.0
    for k in range(4):
        epore = fmax(1.0e-4, p.smcmax - sice[k])
        rsat += fmax(0.0, sh2o[k] - epore) * _DZ[k]
        sh2o[k] = fmin(epore, sh2o[k])
    sicemax = 0.0
    for k in range(4):
        fice = fmin(1.0, sice[k] / p.smcmax)
        fcr[k] = fmax(0.0, fexp(-FROZEN_A * (1.0 - fice)) - _E_A) / (1.0 - _E_A)
        if sice[k] > sicemax:
            sicemax = sice[k]
    if p.urban > 0.0:
        fcr[0] = 0.95                   # sealed urban ground: layer 1 nearly impermeable (after FCRMAX)
    runsrf = 0.0
    pddum = 0.0
    if qinsur > 0.0:
        runsrf, pddum = infiltration(qinsur, sh2o, sice, sicemax, dt, p)
    n_sub = 3
    if pddum * dt > _DZ[0] * p.smcmax:
        n_sub = 6
    dtfine = dt / n_sub
    qdrain_sum = 0.0
    runsrf_sum = 0.0
    for _ in range(n_sub):
        if qinsur > 0.0:
            runsrf, pddum = infiltration(qinsur, sh2o, sice, sicemax, dtfine, p)
        qdrain, wplus = _richards(sh2o, smc, sice, fcr, pddum, etrani, qseva, dtfine, slope, p, work)
        rsat += wplus
        qdrain_sum += qdrain
        runsrf_sum += runsrf
    runsrf = runsrf_sum / n_sub * 1000.0 + rsat * 1000.0 / dt
    qdrain = qdrain_sum / n_sub * 1000.0
    # negative-water fix: a layer below WATMIN borrows from the one beneath, the bottom from the drainage
    fix = 0.0
    for k in range(4):
        x[k] = sh2o[k] * _DZ[k] * 1000.0
    for k in range(3):
        xs = WATMIN - x[k] if x[k] < 0.0 else 0.0
        x[k] += xs
        x[k + 1] -= xs
    if x[3] < WATMIN:
        xs = WATMIN - x[3]
        x[3] += xs
        fix = -xs / dt
    for k in range(4):
        sh2o[k] = x[k] / (_DZ[k] * 1000.0)
    return runsrf, qdrain, fix
