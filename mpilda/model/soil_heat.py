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

**Lanes.** The column's layers are solved for a chunk of LANES columns at once in the rows
of a lane block ``H`` (``H[row * LANES + l]``, per-layer quantities in 7, 3 or 4
consecutive rows), as :mod:`~mpilda.model.energy` does: layers above a column's top
(``top``, a row) are carried as identity rows and left alone.  The caller fills
``IN_ROWS`` and the layer rows, calls :func:`properties` before the energy balance and
:func:`diffuse` and :func:`phase_change` after it, and reads the layer rows back;
:func:`columns` runs the stages on arrays (the tests).
"""

from __future__ import annotations

import math

import numpy as np

from .constants import CICE, CPAIR, CWAT, DENH2O, DENICE, GRAV, HFUS, TFRZ, TKICE, ZBOT
from .jit import LANES, fexp, flog10, fmax, fmin, fpow, jit, select

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

#: Scalar rows the caller fills: the top layer (3 - nsnow), the step [s], the depth [m] and water equivalent
#: [mm] of a layer-less snowpack, the heat flux into the top layer [W m-2] (before :func:`diffuse`), the
#: temperature at 8 m [K] and the soil's parameters.
IN_ROWS = ("top", "dt", "snowh", "sneqv", "ssoil", "tbot", "smcmax", "tk_solids", "tk_dry", "csoil", "urban",
           "psisat", "bexp")
#: Rows the caller reads: the melt of snow [mm s-1] and the melt water of a layer-less pack [mm] (phase_change).
OUT_ROWS = ("qmelt", "ponding")
#: Per-layer rows: (name, number of layers).  The caller fills dz [m] (snow layers above the top 0), stc [K],
#: snice, snliq [mm] and smc, sh2o [m3 m-3]; properties gives df [W m-1 K-1], hcpct [J m-3 K-1] and
#: fact = dt/(C dz); diffuse changes stc; phase_change changes stc, snice, snliq, smc, sh2o, sneqv, snowh and
#: gives imelt (1 melting, 2 freezing, else 0).
LAYER_ROWS = (("dz", 7), ("stc", 7), ("snice", 3), ("snliq", 3), ("smc", 4), ("sh2o", 4), ("df", 7), ("hcpct", 7),
              ("fact", 7), ("imelt", 7), ("a", 7), ("b", 7), ("c", 7), ("d", 7), ("x", 7), ("mice", 7),
              ("mliq", 7), ("hm", 7), ("supercool", 7))
_WORK_ROWS = ("dtsdz_prev", "ddz_prev")
ROWS = {}
for _name in IN_ROWS + OUT_ROWS + _WORK_ROWS:
    ROWS[_name] = len(ROWS)
for _name, _n in LAYER_ROWS:
    for _k in range(_n):
        ROWS[f"{_name}{_k}"] = len(ROWS)
#: Size of the lane block [values].
BLOCK = len(ROWS) * LANES
(TOP, DT, SNOWH, SNEQV, SSOIL, TBOT, SMCMAX, TK_SOLIDS, TK_DRY, CSOIL_, URBAN, PSISAT, BEXP) = (ROWS[k] for k in IN_ROWS)
QMELT, PONDING = (ROWS[k] for k in OUT_ROWS)
DTSDZ_PREV, DDZ_PREV = (ROWS[k] for k in _WORK_ROWS)
(DZ, STC, SNICE, SNLIQ, SMC, SH2O, DF, HCPCT, FACT, IMELT, A, B, C, D, X, MICE, MLIQ, HM,
 SUPERCOOL) = (ROWS[f"{name}0"] for name, _ in LAYER_ROWS)
_L = LANES


@jit
def soil_conductivity(smc, sh2o, smcmax, tk_solids, tk_dry):
    """Thermal conductivity of a soil layer [W m-1 K-1] (Johansen; TDFCND) from total and liquid water [m3 m-3].

    The saturated conductivity tks^(1 - theta_s) 2.2^(theta_s - x_u) 0.57^x_u (ice and water in the pores,
    x_u the unfrozen share of the pores) is blended with the dry one by the Kersten number; tk_solids,
    tk_dry: :func:`conductivity_constants`.
    """
    satratio = smc / smcmax
    xu = select(smc > 0.0, sh2o / smc, 1.0) * smcmax
    thksat = tk_solids * fexp((smcmax - xu) * _LN_TKICE + xu * _LN_THKW)
    ake = select(satratio > 0.1, flog10(satratio) + 1.0, 0.0)
    ake = select(sh2o + 0.0005 < smc, satratio, ake)          # frozen
    return ake * (thksat - tk_dry) + tk_dry


@jit
def properties(H):
    """Conductivity df, heat capacity hcpct and dt/(C dz) fact of the layers top..6 of every lane (THERMOPROP).

    Snow: C_ice theta_ice + C_wat theta_liq and 3.2217e-6 rho^2; soil: the water, solids, air and ice of the
    layer and Johansen's conductivity (urban soil 3.24); the top soil layer's conductivity is averaged with
    0.35 W m-1 K-1 over the depth of a layer-less snowpack, or with the bottom snow layer's.
    """
    for i in range(3):
        for l in range(_L):
            active = i >= H[TOP * _L + l]
            dz = H[(DZ + i) * _L + l]
            ice = H[(SNICE + i) * _L + l]
            liq = H[(SNLIQ + i) * _L + l]
            snicev = fmin(1.0, ice / (dz * DENICE))
            snliqv = fmin(1.0 - snicev, liq / (dz * DENH2O))
            rho = (ice + liq) / dz
            H[(HCPCT + i) * _L + l] = select(active, CICE * snicev + CWAT * snliqv, 0.0)
            H[(DF + i) * _L + l] = select(active, 3.2217e-6 * rho * rho, 0.0)
    for k in range(4):
        for l in range(_L):
            smc = H[(SMC + k) * _L + l]
            sh2o = H[(SH2O + k) * _L + l]
            smcmax = H[SMCMAX * _L + l]
            H[(HCPCT + 3 + k) * _L + l] = (sh2o * CWAT + (1.0 - smcmax) * H[CSOIL_ * _L + l] + (smcmax - smc) * CPAIR
                                           + (smc - sh2o) * CICE)
            df = soil_conductivity(smc, sh2o, smcmax, H[TK_SOLIDS * _L + l], H[TK_DRY * _L + l])
            H[(DF + 3 + k) * _L + l] = select(H[URBAN * _L + l] > 0.0, URBAN_CONDUCTIVITY, df)
    for i in range(7):
        for l in range(_L):
            fact = H[DT * _L + l] / (H[(HCPCT + i) * _L + l] * H[(DZ + i) * _L + l])
            H[(FACT + i) * _L + l] = select(i >= H[TOP * _L + l], fact, 0.0)
    for l in range(_L):
        dz2, dz3 = H[(DZ + 2) * _L + l], H[(DZ + 3) * _L + l]
        df3 = H[(DF + 3) * _L + l]
        snowh = H[SNOWH * _L + l]
        thin = (df3 * dz3 + TK_THIN_SNOW * snowh) / (snowh + dz3)
        layered = (df3 * dz3 + H[(DF + 2) * _L + l] * dz2) / (dz2 + dz3)
        H[(DF + 3) * _L + l] = select(H[TOP * _L + l] == 3.0, thin, layered)


@jit
def _heat_row(H, k):
    """Row k of the implicit heat equation of every lane (HRT): a, b, c, d times dt (identity above the top)."""
    for l in range(_L):
        top = H[TOP * _L + l]
        is_top = k == top
        xkm1 = H[(X + k - 1) * _L + l] if k > 0 else 0.0       # 0 at the top: depths below the column's top
        xk = H[(X + k) * _L + l]
        df = H[(DF + k) * _L + l]
        dfm1 = H[(DF + k - 1) * _L + l] if k > 0 else 0.0
        dtsdz_prev = H[DTSDZ_PREV * _L + l]
        ddz_prev = H[DDZ_PREV * _L + l]
        dt = H[DT * _L + l]
        stc = H[(STC + k) * _L + l]
        denom = (xkm1 - xk) * H[(HCPCT + k) * _L + l]
        if k < 6:
            span = xkm1 - H[(X + k + 1) * _L + l]
            ddz = 2.0 / span
            dtsdz = 2.0 * (stc - H[(STC + k + 1) * _L + l]) / span
            eflux = df * dtsdz - select(is_top, H[SSOIL * _L + l], dfm1 * dtsdz_prev)
            a = select(is_top, 0.0, -dfm1 * ddz_prev / denom)
            c = -df * ddz / denom
            b = -(a + c)
        else:                         # the bottom: the flux from TBOT at 8 m below the surface
            zbot = ZBOT - H[SNOWH * _L + l]
            dtsdz = (stc - H[TBOT * _L + l]) / (0.5 * (xkm1 + xk) - zbot)
            eflux = df * dtsdz - dfm1 * dtsdz_prev
            a = -dfm1 * ddz_prev / denom
            c = 0.0
            b = -a
            ddz = 0.0
        active = k >= top
        H[(A + k) * _L + l] = select(active, a * dt, 0.0)
        H[(B + k) * _L + l] = select(active, 1.0 + b * dt, 1.0)
        H[(C + k) * _L + l] = select(active, c * dt, 0.0)
        H[(D + k) * _L + l] = select(active, eflux / (-denom) * dt, 0.0)
        H[DTSDZ_PREV * _L + l] = dtsdz
        H[DDZ_PREV * _L + l] = ddz


@jit
def diffuse(H):
    """Advance the temperatures stc of the layers top..6 of every lane by one implicit step (TSNOSOI: HRT +
    HSTEP): the ground heat flux ssoil into the top layer, TBOT at 8 m below the ground (below the snow
    surface by snowh), solved by the Thomas algorithm (ROSR12)."""
    for i in range(7):                # depths of the layer bottoms below the column's top (negative)
        for l in range(_L):
            above = H[(X + i - 1) * _L + l] if i > 0 else 0.0
            H[(X + i) * _L + l] = above - select(i >= H[TOP * _L + l], H[(DZ + i) * _L + l], 0.0)
    for k in range(7):
        _heat_row(H, k)
    for k in range(7):                # forward sweep (x holds the upper factors from here on)
        for l in range(_L):
            a = H[(A + k) * _L + l]
            xprev = H[(X + k - 1) * _L + l] if k > 0 else 0.0
            dprev = H[(D + k - 1) * _L + l] if k > 0 else 0.0
            inv = 1.0 / (H[(B + k) * _L + l] + a * xprev)
            H[(X + k) * _L + l] = -H[(C + k) * _L + l] * inv if k < 6 else 0.0
            H[(D + k) * _L + l] = (H[(D + k) * _L + l] - a * dprev) * inv
    for l in range(_L):
        H[(X + 6) * _L + l] = H[(D + 6) * _L + l]
    for k in range(5, -1, -1):
        for l in range(_L):
            H[(X + k) * _L + l] = H[(X + k) * _L + l] * H[(X + k + 1) * _L + l] + H[(D + k) * _L + l]
    for k in range(7):
        for l in range(_L):
            stc = H[(STC + k) * _L + l]
            H[(STC + k) * _L + l] = select(k >= H[TOP * _L + l], stc + H[(X + k) * _L + l], stc)


@jit
def _phase_start(H, i):
    """Ice, liquid and supercooled limit [mm] of layer i of every lane; its melt flag and energy surplus hm."""
    for l in range(_L):
        top = H[TOP * _L + l]
        stc = H[(STC + i) * _L + l]
        if i < 3:
            mice = H[(SNICE + i) * _L + l]
            mliq = H[(SNLIQ + i) * _L + l]
            supercool = 0.0
        else:
            dz = H[(DZ + i) * _L + l]
            sh2o = H[(SH2O + i - 3) * _L + l]
            mliq = sh2o * dz * 1000.0
            mice = (H[(SMC + i - 3) * _L + l] - sh2o) * dz * 1000.0
            # Niu & Yang (2006): liquid water in equilibrium with the ice below freezing
            smp = HFUS * (TFRZ - stc) / (GRAV * stc)
            limit = H[SMCMAX * _L + l] * fpow(smp / H[PSISAT * _L + l], -1.0 / H[BEXP * _L + l]) * dz * 1000.0
            supercool = select(stc < TFRZ, limit, 0.0)
        imelt = select((mice > 0.0) & (stc >= TFRZ), 1.0, 0.0)
        imelt = select((mliq > supercool) & (stc < TFRZ), 2.0, imelt)
        if i == 3:
            imelt = select((top == 3.0) & (H[SNEQV * _L + l] > 0.0) & (stc >= TFRZ), 1.0, imelt)
        imelt = select(i >= top, imelt, 0.0)
        changes = imelt > 0.0
        H[(HM + i) * _L + l] = select(changes, (stc - TFRZ) / H[(FACT + i) * _L + l], 0.0)
        H[(STC + i) * _L + l] = select(changes, TFRZ, stc)
        H[(IMELT + i) * _L + l] = imelt
        H[(MICE + i) * _L + l] = mice
        H[(MLIQ + i) * _L + l] = mliq
        H[(SUPERCOOL + i) * _L + l] = supercool


@jit
def _phase_layer(H, i):
    """Melt or freeze layer i of every lane by its energy surplus hm (down to the supercooled limit)."""
    for l in range(_L):
        hm = H[(HM + i) * _L + l]
        go = (H[(IMELT + i) * _L + l] > 0.0) & (abs(hm) > 0.0)
        dt = H[DT * _L + l]
        xm = hm * dt / HFUS
        wice0 = H[(MICE + i) * _L + l]
        wliq0 = H[(MLIQ + i) * _L + l]
        wmass0 = wice0 + wliq0
        melt = fmax(0.0, wice0 - xm)
        if i < 3:
            freeze = fmin(wmass0, wice0 - xm)
        else:
            supercool = H[(SUPERCOOL + i) * _L + l]
            freeze = select(wmass0 < supercool, 0.0, fmax(fmin(wmass0 - supercool, wice0 - xm), 0.0))
        mice = select(xm > 0.0, melt, select(xm < 0.0, freeze, wice0))
        heatr = select((xm > 0.0) | (xm < 0.0), hm - HFUS * (wice0 - mice) / dt, 0.0)
        mliq = fmax(0.0, wmass0 - mice)
        stc = H[(STC + i) * _L + l]
        warmed = abs(heatr) > 0.0
        stc_new = select(warmed, stc + H[(FACT + i) * _L + l] * heatr, stc)
        if i < 3:
            stc_new = select(warmed & (mliq * mice > 0.0), TFRZ, stc_new)
            H[(SNICE + i) * _L + l] = select(go, mice, H[(SNICE + i) * _L + l])
            H[(SNLIQ + i) * _L + l] = select(go, mliq, H[(SNLIQ + i) * _L + l])
            H[QMELT * _L + l] = H[QMELT * _L + l] + select(go, fmax(0.0, wice0 - mice) / dt, 0.0)
        else:
            dz = H[(DZ + i) * _L + l]
            H[(SH2O + i - 3) * _L + l] = select(go, mliq / (1000.0 * dz), H[(SH2O + i - 3) * _L + l])
            H[(SMC + i - 3) * _L + l] = select(go, (mliq + mice) / (1000.0 * dz), H[(SMC + i - 3) * _L + l])
        H[(STC + i) * _L + l] = select(go, stc_new, stc)
        H[(MICE + i) * _L + l] = select(go, mice, wice0)
        H[(MLIQ + i) * _L + l] = select(go, mliq, wliq0)


@jit
def phase_change(H):
    """Melt and freeze in the layers top..6 of every lane from the energy of their departure from freezing
    (PHASECHANGE, FRZ = 1); a layer-less snowpack (sneqv, snowh) melts first from the top soil layer's
    surplus.  Sets imelt, qmelt [mm s-1] and ponding [mm]."""
    for i in range(7):
        _phase_start(H, i)
    for l in range(_L):               # the layer-less pack
        hm = H[(HM + 3) * _L + l]
        old = H[SNEQV * _L + l]
        melts = (H[TOP * _L + l] == 3.0) & (old > 0.0) & (hm > 0.0)
        dt = H[DT * _L + l]
        sneqv = fmax(0.0, old - hm * dt / HFUS)
        heatr = hm - HFUS * (old - sneqv) / dt
        H[SNOWH * _L + l] = select(melts, fmax(0.0, sneqv / old * H[SNOWH * _L + l]), H[SNOWH * _L + l])
        H[(HM + 3) * _L + l] = select(melts, select(heatr > 0.0, heatr, 0.0), hm)
        H[QMELT * _L + l] = select(melts, fmax(0.0, old - sneqv) / dt, 0.0)
        H[PONDING * _L + l] = select(melts, old - sneqv, 0.0)
        H[SNEQV * _L + l] = select(melts, sneqv, old)
    for i in range(7):
        _phase_layer(H, i)


def columns(stages, repeat: int = 1, **inputs) -> dict[str, np.ndarray]:
    """Run ``stages`` (functions of H, e.g. ``(properties, diffuse)``) ``repeat`` times on arrays.

    ``inputs``: every IN_ROWS value and the layer rows the stages read, as arrays (n,) or
    scalars (one value per row name such as ``"stc3"``), or per layer as arrays (n, layers)
    or (layers,) under the layer's name (``stc=...``).  Returns every row as an array (n,).
    """
    layers = dict(LAYER_ROWS)
    flat = {}
    for name, value in inputs.items():
        if name in layers:
            v = np.asarray(value, dtype=np.float64)
            for k in range(layers[name]):
                flat[f"{name}{k}"] = v[..., k]
        elif name in ROWS:
            flat[name] = np.asarray(value, dtype=np.float64)
        else:
            raise TypeError(f"soil_heat.columns: unknown row {name!r}")
    n = max([np.size(v) for v in flat.values()] + [1])
    out = {k: np.empty(n) for k in ROWS}
    H = np.zeros(BLOCK)
    for c0 in range(0, n, LANES):
        lanes = np.minimum(np.arange(c0, c0 + LANES), n - 1)
        H[:] = 0.0
        for name, v in flat.items():
            H[ROWS[name] * LANES:(ROWS[name] + 1) * LANES] = np.broadcast_to(v, (n,))[lanes]
        for _ in range(repeat):
            for stage in stages:
                stage(H)
        k = min(LANES, n - c0)
        for name, row in ROWS.items():
            out[name][c0:c0 + k] = H[row * LANES:row * LANES + k]
    return out
