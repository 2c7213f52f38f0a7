"""Heat in the snow and soil column: thermal properties, implicit diffusion, freezing and thawing.

Noah-MP 4.0.1's THERMOPROP/CSNOW/TDFCND, TSNOSOI/HRT/HSTEP and PHASECHANGE with the
options LIS runs (STC = 1 semi-implicit with the ground heat flux as the upper
boundary, TBOT = 2 a fixed temperature at ZBOT = 8 m below the surface, FRZ = 1
supercooled liquid water of Niu & Yang 2006).

The column holds up to three snow layers above the four soil layers, in arrays of
seven: indices 0..2 are snow (2 touches the soil), 3..6 soil; the top active layer is
``top = 3 - nsnow``.  ``dz`` holds the thicknesses [m] (positive).

* heat capacity: snow C_ice theta_ice + C_wat theta_liq; soil theta_liq C_wat +
  (1 - theta_s) C_soil + (theta_s - theta) c_air + theta_ice C_ice (Noah-MP puts the
  specific heat of air there as it stands);
* conductivity: snow 3.2217e-6 rho^2 (Stieglitz, Yen 1965); soil Johansen (Peters-
  Lidard et al. 1998) from quartz and saturation; the top soil layer's value is
  averaged with 0.35 W m-1 K-1 over the depth of a layer-less snowpack, or with the
  bottom snow layer's;
* phase change from the energy of the departure from the freezing point, a layer-less
  snowpack melting first from the top soil layer's surplus.

Scalar numba functions of one column working in place on the layer arrays.
"""

from __future__ import annotations

import math

import numpy as np

from .constants import CICE, CPAIR, CWAT, DENH2O, DENICE, GRAV, HFUS, TFRZ, TKICE, ZBOT
from .jit import fexp, flog10, fmax, fmin, fpow, jit

#: Conductivity of a layer-less snowpack used to insulate the top soil layer [W m-1 K-1] (THERMOPROP).
TK_THIN_SNOW = 0.35
#: Conductivity of urban soil [W m-1 K-1] (THERMOPROP).
URBAN_CONDUCTIVITY = 3.24
#: Conductivities of water and of quartz and other minerals in Johansen's scheme [W m-1 K-1] (TDFCND).
_THKW, _THKQTZ, _THKO = 0.57, 7.7, 2.0


def conductivity_constants(smcmax, quartz) -> dict:
    """Per-cell parts of Johansen's conductivity [W m-1 K-1]: the solids' share tks^(1 - theta_s) of the
    saturated conductivity (tks = 7.7^q 2.0^(1 - q) of quartz content q) and the dry conductivity (TDFCND)."""
    smcmax = np.asarray(smcmax, dtype=np.float64)
    quartz = np.asarray(quartz, dtype=np.float64)
    thks = _THKQTZ ** quartz * _THKO ** (1.0 - quartz)
    gammd = (1.0 - smcmax) * 2700.0
    return dict(tk_solids=thks ** (1.0 - smcmax), tk_dry=(0.135 * gammd + 64.7) / (2700.0 - 0.947 * gammd))


_LN_TKICE, _LN_THKW = math.log(TKICE), math.log(_THKW)


@jit
def soil_conductivity(smc, sh2o, p):
    """Thermal conductivity of a soil layer [W m-1 K-1] (Johansen; TDFCND) from total and liquid water [m3 m-3].

    The saturated conductivity tks^(1 - theta_s) 2.2^(theta_s - x_u) 0.57^x_u (ice and water in the pores,
    x_u the unfrozen share of the pores) is blended with the dry one by the Kersten number; p: smcmax,
    tk_solids, tk_dry (:func:`conductivity_constants`).
    """
    satratio = smc / p.smcmax
    xunfroz = sh2o / smc if smc > 0.0 else 1.0
    xu = xunfroz * p.smcmax
    thksat = p.tk_solids * fexp((p.smcmax - xu) * _LN_TKICE + xu * _LN_THKW)
    if sh2o + 0.0005 < smc:          # frozen
        ake = satratio
    elif satratio > 0.1:
        ake = flog10(satratio) + 1.0
    else:
        ake = 0.0
    return ake * (thksat - p.tk_dry) + p.tk_dry


@jit
def thermal_properties(top, dz, snice, snliq, smc, sh2o, snowh, dt, p, df, hcpct, fact):
    """Conductivity df [W m-1 K-1], heat capacity hcpct [J m-3 K-1] and dt/(C dz) fact of layers top..6.

    snice, snliq: snow layer ice and liquid [mm] (indices 0..2); smc, sh2o: soil total
    and liquid water [m3 m-3] (indices 0..3); snowh: snow depth [m] (of a layer-less
    pack); p: smcmax, tk_solids, tk_dry (:func:`conductivity_constants`), csoil (heat
    capacity of the solids) and urban (urban soil conducts 3.24 W m-1 K-1).
    """
    for i in range(top, 3):
        snicev = fmin(1.0, snice[i] / (dz[i] * DENICE))
        snliqv = fmin(1.0 - snicev, snliq[i] / (dz[i] * DENH2O))
        rho = (snice[i] + snliq[i]) / dz[i]
        hcpct[i] = CICE * snicev + CWAT * snliqv
        df[i] = 3.2217e-6 * rho * rho
    for k in range(4):
        sice = smc[k] - sh2o[k]
        hcpct[3 + k] = (sh2o[k] * CWAT + (1.0 - p.smcmax) * p.csoil + (p.smcmax - smc[k]) * CPAIR + sice * CICE)
        df[3 + k] = URBAN_CONDUCTIVITY if p.urban > 0.0 else soil_conductivity(smc[k], sh2o[k], p)
    for i in range(top, 7):
        fact[i] = dt / (hcpct[i] * dz[i])
    if top == 3:
        df[3] = (df[3] * dz[3] + TK_THIN_SNOW * snowh) / (snowh + dz[3])
    else:
        df[3] = (df[3] * dz[3] + df[2] * dz[2]) / (dz[2] + dz[3])


@jit
def tridiagonal(a, b, c, d, x, lo, hi):
    """Solve a_k x_{k-1} + b_k x_k + c_k x_{k+1} = d_k for k = lo..hi (Thomas algorithm, Noah-MP's ROSR12).

    a[lo] and c[hi] are ignored (taken as 0); x receives the solution; d is overwritten.
    """
    x[lo] = -c[lo] / b[lo]
    d[lo] = d[lo] / b[lo]
    for k in range(lo + 1, hi + 1):
        inv = 1.0 / (b[k] + a[k] * x[k - 1])
        x[k] = 0.0 if k == hi else -c[k] * inv
        d[k] = (d[k] - a[k] * d[k - 1]) * inv
    x[hi] = d[hi]
    for k in range(hi - 1, lo - 1, -1):
        x[k] = x[k] * x[k + 1] + d[k]


@jit
def diffuse(top, dz, stc, df, hcpct, ssoil, tbot, snowh, dt, a, b, c, d, x):
    """Advance the temperatures stc [K] of layers top..6 by one implicit step (TSNOSOI: HRT + HSTEP).

    ssoil: heat flux into the top layer [W m-2]; tbot: temperature at 8 m below the
    ground (below the snow surface by snowh) [K]; a, b, c, d, x: work arrays of 7.
    """
    zbot = ZBOT - snowh
    # depths of the layer bottoms below the top of the column (negative), in x
    z = 0.0
    for i in range(top, 7):
        z = z - dz[i]
        x[i] = z
    dtsdz_prev = 0.0
    ddz_prev = 0.0
    for k in range(top, 7):
        if k == top:
            denom = -x[k] * hcpct[k]
            span = -x[k + 1]
            ddz = 2.0 / span
            dtsdz = 2.0 * (stc[k] - stc[k + 1]) / span
            eflux = df[k] * dtsdz - ssoil
            a[k] = 0.0
            c[k] = -df[k] * ddz / denom
            b[k] = -c[k]
        elif k < 6:
            denom = (x[k - 1] - x[k]) * hcpct[k]
            span = x[k - 1] - x[k + 1]
            ddz = 2.0 / span
            dtsdz = 2.0 * (stc[k] - stc[k + 1]) / span
            eflux = df[k] * dtsdz - df[k - 1] * dtsdz_prev
            a[k] = -df[k - 1] * ddz_prev / denom
            c[k] = -df[k] * ddz / denom
            b[k] = -(a[k] + c[k])
        else:
            denom = (x[k - 1] - x[k]) * hcpct[k]
            dtsdz = (stc[k] - tbot) / (0.5 * (x[k - 1] + x[k]) - zbot)
            botflx = -df[k] * dtsdz
            eflux = -botflx - df[k - 1] * dtsdz_prev
            a[k] = -df[k - 1] * ddz_prev / denom
            c[k] = 0.0
            b[k] = -a[k]
            ddz = 0.0
        d[k] = eflux / (-denom) * dt
        dtsdz_prev = dtsdz
        ddz_prev = ddz
    for k in range(top, 7):
        a[k] = a[k] * dt
        b[k] = 1.0 + b[k] * dt
        c[k] = c[k] * dt
    tridiagonal(a, b, c, d, x, top, 6)
    for k in range(top, 7):
        stc[k] = stc[k] + x[k]


@jit
def phase_change(top, dt, dz, fact, stc, snice, snliq, smc, sh2o, sneqv, snowh, p, imelt, work):
    """Melt and freeze in every layer from the energy of its departure from freezing (PHASECHANGE, FRZ = 1).

    Changes stc [K], snice, snliq [mm] and smc, sh2o [m3 m-3] in place; imelt receives
    1 (melting) or 2 (freezing) per layer, else 0; work: array of 7x4.  A layer-less
    snowpack (sneqv [mm], snowh [m]) melts first from the top soil layer's surplus.

    Returns (sneqv, snowh, qmelt, ponding): the new pack, the melt of snow [mm s-1]
    and the melt water of the layer-less pack [mm] that reaches the soil surface.
    """
    mice = work[0]
    mliq = work[1]
    hm = work[2]
    supercool = work[3]
    qmelt = 0.0
    ponding = 0.0
    for i in range(top, 7):
        if i < 3:
            mice[i] = snice[i]
            mliq[i] = snliq[i]
            supercool[i] = 0.0
        else:
            k = i - 3
            mliq[i] = sh2o[k] * dz[i] * 1000.0
            mice[i] = (smc[k] - sh2o[k]) * dz[i] * 1000.0
            supercool[i] = 0.0
            if stc[i] < TFRZ:      # Niu & Yang (2006): liquid water in equilibrium with the ice
                smp = HFUS * (TFRZ - stc[i]) / (GRAV * stc[i])
                supercool[i] = p.smcmax * fpow(smp / p.psisat, -1.0 / p.bexp) * dz[i] * 1000.0
    for i in range(top, 7):
        imelt[i] = 0
        hm[i] = 0.0
        if mice[i] > 0.0 and stc[i] >= TFRZ:
            imelt[i] = 1
        if mliq[i] > supercool[i] and stc[i] < TFRZ:
            imelt[i] = 2
        if top == 3 and sneqv > 0.0 and i == 3 and stc[i] >= TFRZ:
            imelt[i] = 1
        if imelt[i] > 0:
            hm[i] = (stc[i] - TFRZ) / fact[i]
            stc[i] = TFRZ
    if top == 3 and sneqv > 0.0 and hm[3] > 0.0:
        old = sneqv
        sneqv = fmax(0.0, old - hm[3] * dt / HFUS)
        snowh = fmax(0.0, sneqv / old * snowh)
        heatr = hm[3] - HFUS * (old - sneqv) / dt
        hm[3] = heatr if heatr > 0.0 else 0.0
        qmelt = fmax(0.0, old - sneqv) / dt
        ponding = old - sneqv
    for i in range(top, 7):
        if imelt[i] > 0 and abs(hm[i]) > 0.0:
            xm = hm[i] * dt / HFUS
            wice0 = mice[i]
            wmass0 = mice[i] + mliq[i]
            heatr = 0.0
            if xm > 0.0:
                mice[i] = fmax(0.0, wice0 - xm)
                heatr = hm[i] - HFUS * (wice0 - mice[i]) / dt
            elif xm < 0.0:
                if i < 3:
                    mice[i] = fmin(wmass0, wice0 - xm)
                elif wmass0 < supercool[i]:
                    mice[i] = 0.0
                else:
                    mice[i] = fmax(fmin(wmass0 - supercool[i], wice0 - xm), 0.0)
                heatr = hm[i] - HFUS * (wice0 - mice[i]) / dt
            mliq[i] = fmax(0.0, wmass0 - mice[i])
            if abs(heatr) > 0.0:
                stc[i] = stc[i] + fact[i] * heatr
                if i < 3 and mliq[i] * mice[i] > 0.0:
                    stc[i] = TFRZ
            if i < 3:
                qmelt = qmelt + fmax(0.0, wice0 - mice[i]) / dt
                snice[i] = mice[i]
                snliq[i] = mliq[i]
            else:
                sh2o[i - 3] = mliq[i] / (1000.0 * dz[i])
                smc[i - 3] = (mliq[i] + mice[i]) / (1000.0 * dz[i])
    return sneqv, snowh, qmelt, ponding
