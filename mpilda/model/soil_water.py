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
from collections import namedtuple

from .constants import DZ, GRAV, MPE, RW, ZSOIL
from .jit import LANES, clip, fexp, flog, fmax, fmin, fpow, jit, select

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
def btran(sh2o0, sh2o1, sh2o2, sh2o3, nroot, smcwlt, smcref):
    """Soil-water factor of transpiration BTRAN [0-1] (BTR = 1) of the liquid water [m3 m-3] of the layers, and
    the layers' shares of it (0 below the nroot root layers): (btran, w0, w1, w2, w3)."""
    zroot = select(nroot == 1.0, -_ZSOIL[0], select(nroot == 2.0, -_ZSOIL[1], select(nroot == 3.0, -_ZSOIL[2],
                                                                                      -_ZSOIL[3])))
    zroot = select(nroot > 0.0, zroot, 1.0)
    w0 = select(nroot > 0.0, fmax(MPE, _DZ[0] / zroot * clip((sh2o0 - smcwlt) / (smcref - smcwlt), 0.0, 1.0)), 0.0)
    w1 = select(nroot > 1.0, fmax(MPE, _DZ[1] / zroot * clip((sh2o1 - smcwlt) / (smcref - smcwlt), 0.0, 1.0)), 0.0)
    w2 = select(nroot > 2.0, fmax(MPE, _DZ[2] / zroot * clip((sh2o2 - smcwlt) / (smcref - smcwlt), 0.0, 1.0)), 0.0)
    w3 = select(nroot > 3.0, fmax(MPE, _DZ[3] / zroot * clip((sh2o3 - smcwlt) / (smcref - smcwlt), 0.0, 1.0)), 0.0)
    total = fmax(MPE, ((w0 + w1) + w2) + w3)
    return total, w0 / total, w1 / total, w2 / total, w3 / total


def surface_diffusivity(smcmax, smcwlt, bexp):
    """Per-cell vapour diffusivity of the dry surface layer [m2 s-1] (Sakaguchi & Zeng 2009):
    2.2e-5 theta_s^2 (1 - theta_w/theta_s)^(2 + 3/b)."""
    return 2.2e-5 * smcmax * smcmax * (1.0 - smcwlt / smcmax) ** (2.0 + 3.0 / bexp)


@jit
def soil_surface(sh2o1, snowh, fsno, tg, p):
    """Soil surface resistance to evaporation [s m-1] (Sakaguchi & Zeng 2009) and pore humidity [-].

    sh2o1: liquid water of layer 1 [m3 m-3]; snowh: snow depth [m]; fsno: snow cover;
    tg: ground temperature [K]; p: smcmax, bexp, psisat, d_rsurf (:func:`surface_diffusivity`),
    urban (no evaporation from urban soil without snow).
    """
    dry = 1.0 - fmin(1.0, sh2o1 / p.smcmax)
    d5 = dry * dry * dry * dry * dry
    l_rsurf = -_ZSOIL[0] * (fexp(d5) - 1.0) / (2.71828 - 1.0)
    rsurf = l_rsurf / p.d_rsurf
    rsurf = select(((sh2o1 < 0.01) | (p.urban > 0.0)) & (snowh == 0.0), 1.0e6, rsurf)   # dry, or sealed urban
    psi = -p.psisat * fpow(fmax(0.01, sh2o1) / p.smcmax, -p.bexp)
    rhsur = fsno + (1.0 - fsno) * fexp(psi * GRAV / (RW * tg))
    return rsurf, rhsur


@jit
def infiltration(qinsur, s0, s1, s2, s3, i0, i1, i2, i3, dt, p):
    """Schaake infiltration (INFIL): (surface runoff, infiltration) [m s-1] of the input qinsur [m s-1] over dt [s].

    s0..s3, i0..i3: liquid and frozen water of the layers [m3 m-3]; p: smcmax, smcwlt,
    satdk, bexp, kdt [day-1], frzx [m].
    """
    dt1 = dt / 86400.0
    smcav = p.smcmax - p.smcwlt
    dice = _DZ[0] * i0 + _DZ[1] * i1 + _DZ[2] * i2 + _DZ[3] * i3
    dd = _DZ[0] * smcav * (1.0 - (s0 + i0 - p.smcwlt) / smcav)
    dd += _DZ[1] * smcav * (1.0 - (s1 + i1 - p.smcwlt) / smcav)
    dd += _DZ[2] * smcav * (1.0 - (s2 + i2 - p.smcwlt) / smcav)
    dd += _DZ[3] * smcav * (1.0 - (s3 + i3 - p.smcwlt) / smcav)
    ddt = dd * (1.0 - fexp(-p.kdt * dt1))
    px = fmax(0.0, qinsur * dt)
    infmax = (px * (ddt / (px + ddt))) / dt
    # frozen ground (Koren et al. 1999), CVFRZ = 3: the Gamma distribution's 1 - e^-a (1 + a + a^2/2)
    acrt = CVFRZ * p.frzx / dice
    frozen = 1.0 - fexp(-acrt) * (1.0 + acrt + acrt * acrt / 2.0)
    infmax = infmax * frozen if dice > 1.0e-2 else infmax
    # at least the conductivity of layer 1's liquid water (WDFCND2)
    k1 = p.satdk * fexp((2.0 * p.bexp + 3.0) * flog(fmax(0.01, s0 / p.smcmax)))
    infmax = fmax(infmax, k1)
    infmax = fmin(infmax, px)               # (Noah-MP compares the rate with the step's depth here)
    runsrf = fmax(0.0, qinsur - infmax)
    return runsrf, qinsur - runsrf


# --- the soil water of a chunk of columns, in SIMD lanes -----------------------------------------------
# Rows of the lane block (block[row * LANES + l]): the caller fills the inputs, reads sh2o, smc and the outputs.
_IN = ("sh2o0", "sh2o1", "sh2o2", "sh2o3", "smc0", "smc1", "smc2", "smc3", "sice0", "sice1", "sice2", "sice3",
       "et0", "et1", "et2", "et3", "qinsur", "qseva", "smcmax", "smcwlt", "bexp", "satdk", "satdw", "kdt", "frzx",
       "urban")
_OUT = ("runsrf", "qdrain", "fix")
_WORK = ("fcr0", "fcr1", "fcr2", "fcr3", "rsat", "n_sub", "dtfine", "pddum", "infil_runoff", "runsrf_sum",
         "qdrain_sum")
ROWS = {name: i for i, name in enumerate(_IN + _OUT + _WORK)}
BLOCK = len(ROWS) * LANES
(SH2O, SMC, SICE, ET) = (ROWS["sh2o0"], ROWS["smc0"], ROWS["sice0"], ROWS["et0"])
(QINSUR, QSEVA, SMCMAX, SMCWLT, BEXP, SATDK, SATDW, KDT, FRZX, URBAN) = (ROWS[k] for k in _IN[16:])
RUNSRF, QDRAIN, FIX = (ROWS[k] for k in _OUT)
(FCR, RSAT, NSUB, DTFINE, PDDUM, INFIL_RUNOFF, RUNSRF_SUM,
 QDRAIN_SUM) = (ROWS[k] for k in ("fcr0", "rsat", "n_sub", "dtfine", "pddum", "infil_runoff", "runsrf_sum", "qdrain_sum"))
_L = LANES
#: The soil parameters of the scalar functions (a record for the lanes).
Soil = namedtuple("Soil", ("smcmax", "smcwlt", "bexp", "satdk", "satdw", "kdt", "frzx"))
#: Sub-steps of Richards' equation: 3, or 6 when a step's infiltration exceeds layer 1's pore space.
SUBSTEPS, MAX_SUBSTEPS = 3, 6


@jit
def _soil(S, l):
    return Soil(S[SMCMAX * _L + l], S[SMCWLT * _L + l], S[BEXP * _L + l], S[SATDK * _L + l], S[SATDW * _L + l],
                S[KDT * _L + l], S[FRZX * _L + l])


@jit
def _lane_infiltration(S, l, dt):
    """(surface runoff, infiltration) [m s-1] of lane l over dt [s] from its present water (:func:`infiltration`)."""
    return infiltration(S[QINSUR * _L + l], S[SH2O * _L + l], S[(SH2O + 1) * _L + l], S[(SH2O + 2) * _L + l],
                        S[(SH2O + 3) * _L + l], S[SICE * _L + l], S[(SICE + 1) * _L + l], S[(SICE + 2) * _L + l],
                        S[(SICE + 3) * _L + l], dt, _soil(S, l))


@jit
def _start(S, dt):
    """Liquid water above the effective porosity leaves; impermeable fractions; no infiltration yet (3
    sub-steps)."""
    for l in range(_L):
        smcmax = S[SMCMAX * _L + l]
        rsat = 0.0
        for k in range(4):
            sice = S[(SICE + k) * _L + l]
            epore = fmax(1.0e-4, smcmax - sice)
            sh2o = S[(SH2O + k) * _L + l]
            rsat += fmax(0.0, sh2o - epore) * _DZ[k]
            S[(SH2O + k) * _L + l] = fmin(epore, sh2o)
            fice = fmin(1.0, sice / smcmax)
            S[(FCR + k) * _L + l] = fmax(0.0, fexp(-FROZEN_A * (1.0 - fice)) - _E_A) / (1.0 - _E_A)
        urban = S[URBAN * _L + l] > 0.0
        S[FCR * _L + l] = 0.95 if urban else S[FCR * _L + l]      # sealed urban ground: layer 1 nearly impermeable
        S[RSAT * _L + l] = rsat
        S[INFIL_RUNOFF * _L + l] = 0.0
        S[PDDUM * _L + l] = 0.0
        S[NSUB * _L + l] = float(SUBSTEPS)
        S[DTFINE * _L + l] = dt / float(SUBSTEPS)
        S[RUNSRF_SUM * _L + l] = 0.0
        S[QDRAIN_SUM * _L + l] = 0.0


@jit
def _start_infiltration(S, dt):
    """The step's infiltration of the lanes with water at the surface, and their sub-step count."""
    for l in range(_L):
        qinsur = S[QINSUR * _L + l]
        runsrf, infil = _lane_infiltration(S, l, dt)
        wet = qinsur > 0.0
        pddum = infil if wet else 0.0
        S[INFIL_RUNOFF * _L + l] = runsrf if wet else 0.0
        S[PDDUM * _L + l] = pddum
        n_sub = float(MAX_SUBSTEPS) if pddum * dt > _DZ[0] * S[SMCMAX * _L + l] else float(SUBSTEPS)
        S[NSUB * _L + l] = n_sub
        S[DTFINE * _L + l] = dt / n_sub


@jit
def _any_wet(S):
    """Whether some lane has water reaching its surface (qinsur > 0)."""
    for l in range(_L):
        if S[QINSUR * _L + l] > 0.0:
            return True
    return False


@jit
def _most_substeps(S):
    """The largest sub-step count of the lanes."""
    n = 0.0
    for l in range(_L):
        n = fmax(n, S[NSUB * _L + l])
    return int(n)


@jit
def _infiltrate(S, sub):
    """A sub-step's infiltration (recomputed from the sub-step's water) in the lanes that take this sub-step."""
    for l in range(_L):
        qinsur = S[QINSUR * _L + l]
        runsrf, infil = _lane_infiltration(S, l, S[DTFINE * _L + l])
        take = (sub < S[NSUB * _L + l]) & (qinsur > 0.0)
        S[INFIL_RUNOFF * _L + l] = runsrf if take else S[INFIL_RUNOFF * _L + l]
        S[PDDUM * _L + l] = infil if take else S[PDDUM * _L + l]


@jit
def _substep(S, sub, slope):
    """One implicit sub-step of Richards' equation (SRT + SSTEP) in the lanes that take this sub-step.

    Fluxes across the interfaces (positive down) use D and K of the upper layer's total water and the
    gradient over the mid-point distance; free drainage slope K(theta_4) at the bottom; the tridiagonal
    system is solved by elimination; water above the effective porosity moves up, and what exceeds layer 1
    is pushed down again and leaves as saturation excess.
    """
    for l in range(_L):
        act = sub < S[NSUB * _L + l]
        dt = S[DTFINE * _L + l]
        smcmax, bexp = S[SMCMAX * _L + l], S[BEXP * _L + l]
        satdk, satdw = S[SATDK * _L + l], S[SATDW * _L + l]
        m0, m1, m2, m3 = S[SMC * _L + l], S[(SMC + 1) * _L + l], S[(SMC + 2) * _L + l], S[(SMC + 3) * _L + l]
        w0, w1, w2, w3 = S[SH2O * _L + l], S[(SH2O + 1) * _L + l], S[(SH2O + 2) * _L + l], S[(SH2O + 3) * _L + l]
        i0, i1, i2, i3 = S[SICE * _L + l], S[(SICE + 1) * _L + l], S[(SICE + 2) * _L + l], S[(SICE + 3) * _L + l]
        # diffusivity Dsat f^(b+2) and conductivity Ks f^(2b+3) = Ks f^(2b+4)/f, f = max(0.01, theta/theta_s)
        f0, f1, f2, f3 = fmax(0.01, m0 / smcmax), fmax(0.01, m1 / smcmax), fmax(0.01, m2 / smcmax), \
            fmax(0.01, m3 / smcmax)
        p0, p1, p2 = fexp((bexp + 2.0) * flog(f0)), fexp((bexp + 2.0) * flog(f1)), fexp((bexp + 2.0) * flog(f2))
        p3 = fexp((bexp + 2.0) * flog(f3))
        g0, g1, g2, g3 = 1.0 - S[FCR * _L + l], 1.0 - S[(FCR + 1) * _L + l], 1.0 - S[(FCR + 2) * _L + l], \
            1.0 - S[(FCR + 3) * _L + l]
        wdf0, wdf1, wdf2 = satdw * p0 * g0, satdw * p1 * g1, satdw * p2 * g2
        k0, k1, k2, k3 = satdk * (p0 * p0 / f0) * g0, satdk * (p1 * p1 / f1) * g1, satdk * (p2 * p2 / f2) * g2, \
            satdk * (p3 * p3 / f3) * g3
        span0, span1, span2 = -_ZSOIL[1], _ZSOIL[0] - _ZSOIL[2], _ZSOIL[1] - _ZSOIL[3]
        ddz0, ddz1, ddz2 = 2.0 / span0, 2.0 / span1, 2.0 / span2
        q0 = wdf0 * 2.0 * (m0 - m1) / span0 + k0
        q1 = wdf1 * 2.0 * (m1 - m2) / span1 + k1
        q2 = wdf2 * 2.0 * (m2 - m3) / span2 + k2
        qdrain = slope * k3
        d0 = (q0 - S[PDDUM * _L + l] + S[ET * _L + l] + S[QSEVA * _L + l]) / (-_DZ[0]) * dt
        d1 = (q1 - q0 + S[(ET + 1) * _L + l]) / (-_DZ[1]) * dt
        d2 = (q2 - q1 + S[(ET + 2) * _L + l]) / (-_DZ[2]) * dt
        d3 = (-q2 + S[(ET + 3) * _L + l] + qdrain) / (-_DZ[3]) * dt
        b0 = wdf0 * ddz0 / _DZ[0]
        c0 = -b0
        a1, c1 = -wdf0 * ddz0 / _DZ[1], -wdf1 * ddz1 / _DZ[1]
        b1 = -(a1 + c1)
        a2, c2 = -wdf1 * ddz1 / _DZ[2], -wdf2 * ddz2 / _DZ[2]
        b2 = -(a2 + c2)
        a3 = -wdf2 * ddz2 / _DZ[3]
        b3 = -a3
        b0, c0 = 1.0 + b0 * dt, c0 * dt
        a1, b1, c1 = a1 * dt, 1.0 + b1 * dt, c1 * dt
        a2, b2, c2 = a2 * dt, 1.0 + b2 * dt, c2 * dt
        a3, b3 = a3 * dt, 1.0 + b3 * dt
        # elimination (Noah-MP's ROSR12)
        x0 = -c0 / b0
        d0 = d0 / b0
        inv = 1.0 / (b1 + a1 * x0)
        x1 = -c1 * inv
        d1 = (d1 - a1 * d0) * inv
        inv = 1.0 / (b2 + a2 * x1)
        x2 = -c2 * inv
        d2 = (d2 - a2 * d1) * inv
        inv = 1.0 / (b3 + a3 * x2)
        d3 = (d3 - a3 * d2) * inv
        x3 = d3
        x2 = x2 * x3 + d2
        x1 = x1 * x2 + d1
        x0 = x0 * x1 + d0
        w0, w1, w2, w3 = w0 + x0, w1 + x1, w2 + x2, w3 + x3
        # water above the effective porosity moves up ...
        e3 = fmax(1.0e-4, smcmax - i3)
        plus = fmax(w3 - e3, 0.0) * _DZ[3]
        w3 = fmin(e3, w3)
        w2 = w2 + plus / _DZ[2]
        e2 = fmax(1.0e-4, smcmax - i2)
        plus = fmax(w2 - e2, 0.0) * _DZ[2]
        w2 = fmin(e2, w2)
        w1 = w1 + plus / _DZ[1]
        e1 = fmax(1.0e-4, smcmax - i1)
        plus = fmax(w1 - e1, 0.0) * _DZ[1]
        w1 = fmin(e1, w1)
        w0 = w0 + plus / _DZ[0]
        e0 = fmax(1.0e-4, smcmax - i0)
        excess = fmax(w0 - e0, 0.0) * _DZ[0]
        w0 = fmin(e0, w0)
        # ... and what exceeds layer 1 is pushed down again; what still exceeds layer 4 leaves
        down = excess > 0.0
        v1 = w1 + excess / _DZ[1]
        plus = fmax(v1 - e1, 0.0) * _DZ[1]
        v1 = fmin(e1, v1)
        v2 = w2 + plus / _DZ[2]
        plus = fmax(v2 - e2, 0.0) * _DZ[2]
        v2 = fmin(e2, v2)
        v3 = w3 + plus / _DZ[3]
        wplus = fmax(v3 - e3, 0.0) * _DZ[3]
        v3 = fmin(e3, v3)
        w1, w2, w3 = (v1, v2, v3) if down else (w1, w2, w3)
        wplus = wplus if down else 0.0
        S[SH2O * _L + l] = w0 if act else S[SH2O * _L + l]
        S[(SH2O + 1) * _L + l] = w1 if act else S[(SH2O + 1) * _L + l]
        S[(SH2O + 2) * _L + l] = w2 if act else S[(SH2O + 2) * _L + l]
        S[(SH2O + 3) * _L + l] = w3 if act else S[(SH2O + 3) * _L + l]
        S[SMC * _L + l] = w0 + i0 if act else m0
        S[(SMC + 1) * _L + l] = w1 + i1 if act else m1
        S[(SMC + 2) * _L + l] = w2 + i2 if act else m2
        S[(SMC + 3) * _L + l] = w3 + i3 if act else m3
        S[RSAT * _L + l] += wplus if act else 0.0
        S[QDRAIN_SUM * _L + l] += qdrain if act else 0.0
        S[RUNSRF_SUM * _L + l] += S[INFIL_RUNOFF * _L + l] if act else 0.0


@jit
def _finish(S, dt):
    """The step's runoff and drainage [mm s-1]; a layer left below 0.01 mm borrows from the one beneath."""
    for l in range(_L):
        n_sub = S[NSUB * _L + l]
        S[RUNSRF * _L + l] = S[RUNSRF_SUM * _L + l] / n_sub * 1000.0 + S[RSAT * _L + l] * 1000.0 / dt
        S[QDRAIN * _L + l] = S[QDRAIN_SUM * _L + l] / n_sub * 1000.0
        x0 = S[SH2O * _L + l] * _DZ[0] * 1000.0
        x1 = S[(SH2O + 1) * _L + l] * _DZ[1] * 1000.0
        x2 = S[(SH2O + 2) * _L + l] * _DZ[2] * 1000.0
        x3 = S[(SH2O + 3) * _L + l] * _DZ[3] * 1000.0
        xs = WATMIN - x0 if x0 < 0.0 else 0.0
        x0, x1 = x0 + xs, x1 - xs
        xs = WATMIN - x1 if x1 < 0.0 else 0.0
        x1, x2 = x1 + xs, x2 - xs
        xs = WATMIN - x2 if x2 < 0.0 else 0.0
        x2, x3 = x2 + xs, x3 - xs
        xs = WATMIN - x3 if x3 < WATMIN else 0.0
        x3 = x3 + xs
        S[FIX * _L + l] = -xs / dt
        S[SH2O * _L + l] = x0 / (_DZ[0] * 1000.0)
        S[(SH2O + 1) * _L + l] = x1 / (_DZ[1] * 1000.0)
        S[(SH2O + 2) * _L + l] = x2 / (_DZ[2] * 1000.0)
        S[(SH2O + 3) * _L + l] = x3 / (_DZ[3] * 1000.0)


@jit
def solve(S, dt, slope):
    """The soil water of the chunk's LANES columns over one step (SOILWATER, RUN = 3, INF = 1), in place.

    Inputs (rows of the lane block S): sh2o0..3 liquid water [m3 m-3] (updated); smc0..3 the total water
    whose conductivities the first sub-step uses (updated to sh2o + sice); sice0..3 ice (fixed); et0..3
    uptake of each layer [m s-1]; qinsur water reaching the surface [m s-1]; qseva soil evaporation
    [m s-1]; the soil parameters.  Outputs: runsrf (infiltration- and saturation-excess runoff), qdrain
    (free drainage) and fix (the negative-water fix's change of the subsurface runoff) [mm s-1].
    """
    _start(S, dt)
    # (chunk-level shortcuts that change no lane's arithmetic: the infiltration only when some lane has water
    # at its surface, and only as many sub-steps as the lanes take; a lane's extra sub-steps are masked)
    wet = _any_wet(S)
    if wet:
        _start_infiltration(S, dt)
    for sub in range(_most_substeps(S)):
        if wet:
            _infiltrate(S, sub)
        _substep(S, sub, slope)
    _finish(S, dt)
