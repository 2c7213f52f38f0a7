"""The snowpack: cover fraction, snowfall, compaction, layer combination and division, liquid water.

Noah-MP 4.0.1's snow (Niu et al. 2011; [NMP ENERGY, SNOWWATER, SNOWFALL, COMPACT,
COMBINE, DIVIDE, COMBO, SNOWH2O]):

* up to three layers once the pack is 2.5 cm deep; a shallower pack is held as SWE
  and depth only ("layer-less", its heat in the top soil layer);
* compaction by destructive metamorphism, overburden (viscosity 0.8e6 kg s m-2) and
  melt (Anderson 1976, Jordan 1991);
* layers thinner than 2.5, 2.5 and 10 cm (from the top) are merged with a neighbour,
  layers holding less than 0.1 mm of ice with the one below; thick layers are split
  (top at most 5 cm, second at most 20 cm), conserving mass and enthalpy (COMBO);
* liquid water held up to 3 % of the pore space (SSI), the excess percolating down
  and out of the bottom layer; sublimation and frost act on the top layer.

Layer arrays have three entries, index 2 the bottom layer touching the soil, the top
active one ``3 - nsnow`` (Noah-MP's layers -2..0); thicknesses dz [m], ice and liquid
[mm], temperatures [K].  Scalar numba functions of one column, in place.
"""

from __future__ import annotations

from .constants import CICE, CWAT, DENH2O, DENICE, HFUS, TFRZ, Z0_BARE
from .jit import fexp, fmax, fmin, fpow, ftanh, jit, select

#: SWE above which a cell counts as snow covered for masks and outputs [kg m-2].
SNOW_FLAG_SWE = 1.0
#: Depth at which a layer-less pack becomes a layer [m] (SNOWFALL, COMBINE).
FIRST_LAYER_DEPTH = 0.025
#: Minimum thickness of the first, second and third layer from the top [m] (COMBINE DZMIN).
_DZMIN = (0.025, 0.025, 0.1)
#: Compaction constants (COMPACT): [m3 kg-1], [s-1], [K-1], [-], [kg m-3], [kg s m-2]
_C2, _C3, _C4, _C5, _DM, _ETA0 = 21.0e-3, 2.5e-6, 0.04, 2.0, 100.0, 0.8e6
#: Maximum SWE [mm]; the excess leaves as runoff from the bottom layer (SNOWWATER).
MAX_SWE = 2000.0


@jit
def cover_fraction(snowh, sneqv, mfsno):
    """Snow-covered fraction of the ground (Niu & Yang 2007): tanh(h / (2.5 z0 (rho/100)^m)); depth h [m], SWE [mm]."""
    fmelt = fpow(sneqv / snowh / 100.0, mfsno)
    fsno = select(fmelt < 1.0e-6, 1.0, ftanh(snowh / (2.5 * Z0_BARE * fmelt)))
    return select(snowh > 0.0, fsno, 0.0)


@jit
def combo(dz, wliq, wice, t, dz2, wliq2, wice2, t2):
    """Merge layer 2 into layer 1 conserving mass and enthalpy: (dz, wliq, wice, t) of the merged layer."""
    dzc = dz + dz2
    wicec = wice + wice2
    wliqc = wliq + wliq2
    h = (CICE * wice + CWAT * wliq) * (t - TFRZ) + HFUS * wliq
    h2 = (CICE * wice2 + CWAT * wliq2) * (t2 - TFRZ) + HFUS * wliq2
    hc = h + h2
    if hc < 0.0:
        tc = TFRZ + hc / (CICE * wicec + CWAT * wliqc)
    elif hc <= HFUS * wliqc:
        tc = TFRZ
    else:
        tc = TFRZ + (hc - HFUS * wliqc) / (CICE * wicec + CWAT * wliqc)
    return dzc, wliqc, wicec, tc


@jit
def _shift_down(j, top, dz, snliq, snice, stc):
    """Move layers top..j-1 one place down into top+1..j (the caller then drops the top)."""
    for i in range(j, top, -1):
        stc[i] = stc[i - 1]
        snliq[i] = snliq[i - 1]
        snice[i] = snice[i - 1]
        dz[i] = dz[i - 1]


@jit
def combine(nsnow, dz, snice, snliq, stc, sice, sh2o, dz_soil1, sneqv, snowh, ponding1, ponding2):
    """Remove layers with too little ice and merge thin layers (COMBINE).

    sice, sh2o: soil ice and liquid [m3 m-3] (layer 1 may lose ice to an over-sublimated
    pack); dz_soil1: thickness of soil layer 1 [m].

    Returns (nsnow, sneqv, snowh, ponding1, ponding2, created): ponding1 and ponding2 [mm]
    are the liquid water a vanishing pack leaves on the soil (kept unchanged when not set);
    created [mm] is water Noah-MP creates when an over-sublimated pack takes more ice than
    soil layer 1 holds (the soil ice is floored at 0).
    """
    created = 0.0
    n_old = nsnow
    for j in range(3 - n_old, 3):
        if snice[j] <= 0.1:
            if j != 2:
                snliq[j + 1] += snliq[j]
                snice[j + 1] += snice[j]
            elif n_old > 1:
                snliq[j - 1] += snliq[j]
                snice[j - 1] += snice[j]
            else:
                if snice[j] >= 0.0:
                    ponding1 = snliq[j]
                    sneqv = snice[j]
                    snowh = dz[j]
                else:                              # over-sublimated: take the deficit from the soil ice
                    ponding1 = snliq[j] + snice[j]
                    if ponding1 < 0.0:
                        left = sice[0] + ponding1 / (dz_soil1 * 1000.0)
                        created += fmax(0.0, -left) * dz_soil1 * 1000.0
                        sice[0] = fmax(0.0, left)
                        ponding1 = 0.0
                    sneqv = 0.0
                    snowh = 0.0
                snliq[j] = 0.0
                snice[j] = 0.0
                dz[j] = 0.0
            top = 3 - nsnow
            if j > top and nsnow > 1:
                _shift_down(j, top, dz, snliq, snice, stc)
            nsnow -= 1
    if sice[0] < 0.0:
        sh2o[0] += sice[0]
        sice[0] = 0.0
    if nsnow == 0:
        return nsnow, sneqv, snowh, ponding1, ponding2, created
    sneqv = 0.0
    snowh = 0.0
    zwice = 0.0
    zwliq = 0.0
    for j in range(3 - nsnow, 3):
        sneqv += snice[j] + snliq[j]
        snowh += dz[j]
        zwice += snice[j]
        zwliq += snliq[j]
    if snowh < FIRST_LAYER_DEPTH:
        nsnow = 0
        sneqv = zwice
        ponding2 = zwliq
        if sneqv <= 0.0:
            snowh = 0.0
    if nsnow > 1:
        n_old = nsnow
        mssi = 0
        for i in range(3 - n_old, 3):
            if dz[i] < _DZMIN[mssi]:
                top = 3 - nsnow
                if i == top:
                    neighbour = i + 1
                elif i == 2:
                    neighbour = i - 1
                else:
                    neighbour = i + 1
                    if dz[i - 1] + dz[i] < dz[i + 1] + dz[i]:
                        neighbour = i - 1
                if neighbour > i:
                    j, l = neighbour, i
                else:
                    j, l = i, neighbour
                dz[j], snliq[j], snice[j], stc[j] = combo(dz[j], snliq[j], snice[j], stc[j], dz[l], snliq[l],
                                                          snice[l], stc[l])
                if j - 1 > top:
                    _shift_down(j - 1, top, dz, snliq, snice, stc)
                nsnow -= 1
                if nsnow <= 1:
                    break
            else:
                mssi += 1
    return nsnow, sneqv, snowh, ponding1, ponding2, created


@jit
def divide(nsnow, dz, snice, snliq, stc, work):
    """Split thick layers: the top layer at most 5 cm, the second at most 20 cm, up to three layers (DIVIDE).

    work: an array of at least 12 (top-first copies of the layers). Returns nsnow.
    """
    d = work[0:3]
    wi = work[3:6]
    wl = work[6:9]
    ts = work[9:12]
    n = nsnow
    for j in range(n):                      # top first
        i = 3 - n + j
        d[j], wi[j], wl[j], ts[j] = dz[i], snice[i], snliq[i], stc[i]
    if n == 1 and d[0] > 0.05:
        n = 2
        d[0] = d[0] / 2.0
        wi[0] = wi[0] / 2.0
        wl[0] = wl[0] / 2.0
        d[1], wi[1], wl[1], ts[1] = d[0], wi[0], wl[0], ts[0]
    if n > 1 and d[0] > 0.05:
        drr = d[0] - 0.05
        propor = drr / d[0]
        zwice = propor * wi[0]
        zwliq = propor * wl[0]
        propor = 0.05 / d[0]
        wi[0] = propor * wi[0]
        wl[0] = propor * wl[0]
        d[0] = 0.05
        d[1], wl[1], wi[1], ts[1] = combo(d[1], wl[1], wi[1], ts[1], drr, zwliq, zwice, ts[0])
        if n <= 2 and d[1] > 0.20:
            n = 3
            dtdz = (ts[0] - ts[1]) / ((d[0] + d[1]) / 2.0)
            d[1] = d[1] / 2.0
            wi[1] = wi[1] / 2.0
            wl[1] = wl[1] / 2.0
            d[2], wi[2], wl[2] = d[1], wi[1], wl[1]
            ts[2] = ts[1] - dtdz * d[1] / 2.0
            if ts[2] >= TFRZ:
                ts[2] = ts[1]
            else:
                ts[1] = ts[1] + dtdz * d[1] / 2.0
    if n > 2 and d[1] > 0.2:
        drr = d[1] - 0.2
        propor = drr / d[1]
        zwice = propor * wi[1]
        zwliq = propor * wl[1]
        propor = 0.2 / d[1]
        wi[1] = propor * wi[1]
        wl[1] = propor * wl[1]
        d[1] = 0.2
        d[2], wl[2], wi[2], ts[2] = combo(d[2], wl[2], wi[2], ts[2], drr, zwliq, zwice, ts[1])
    for j in range(n):
        i = 3 - n + j
        dz[i], snice[i], snliq[i], stc[i] = d[j], wi[j], wl[j], ts[j]
    return n


@jit
def compact(nsnow, dz, snice, snliq, stc, imelt, ficeold, dt):
    """Compaction of the layers by metamorphism, overburden and melt (COMPACT); changes dz in place.

    imelt: 1 where the layer melted this step; ficeold: its ice fraction at the start of the step.
    """
    burden = 0.0
    for j in range(3 - nsnow, 3):
        wx = snice[j] + snliq[j]
        fice = snice[j] / wx
        void = 1.0 - (snice[j] / DENICE + snliq[j] / DENH2O) / dz[j]
        if void > 0.001 and snice[j] > 0.1:
            bi = snice[j] / dz[j]
            td = fmax(0.0, TFRZ - stc[j])
            ddz1 = -_C3 * fexp(-_C4 * td)
            if bi > _DM:
                ddz1 = ddz1 * fexp(-46.0e-3 * (bi - _DM))
            if snliq[j] > 0.01 * dz[j]:
                ddz1 = ddz1 * _C5
            ddz2 = -(burden + 0.5 * wx) * fexp(-0.08 * td - _C2 * bi) / _ETA0
            ddz3 = 0.0
            if imelt[j] == 1:
                ddz3 = -fmax(0.0, (ficeold[j] - fice) / fmax(1.0e-6, ficeold[j])) / dt
            pdzdtc = fmax(-0.5, (ddz1 + ddz2 + ddz3) * dt)
            dz[j] = dz[j] * (1.0 + pdzdtc)
        burden += wx


@jit
def snow_water(nsnow, dz, snice, snliq, stc, sice, sh2o, dz_soil1, sneqv, snowh, qsnow, snowhin, qsnfro, qsnsub,
               qrain, sfctmp, imelt, ficeold, dt, ssi, work):
    """The snowpack's water over one step (SNOWWATER): snowfall, compaction, layers, sublimation, percolation.

    qsnow, snowhin: snowfall reaching the ground [mm s-1] and its depth rate [m s-1];
    qsnfro, qsnsub: frost on and sublimation from the snow [mm s-1]; qrain: rain on the
    ground [mm s-1]; sfctmp: air temperature [K]; imelt, ficeold: this step's melt flags
    and the start-of-step ice fractions of the layers; ssi: liquid holding capacity of
    the pore space [-]; work: an array of at least 12.  sice, sh2o: soil layer ice and
    liquid [m3 m-3] (layer 1 exchanges with a vanishing pack).

    Returns (nsnow, sneqv, snowh, qsnbot, snoflow, ponding1, ponding2, discard): the melt
    water leaving the bottom of the pack [mm s-1], the overflow above 2000 mm [mm s-1], the
    liquid water of a vanishing pack [mm] and the water Noah-MP drops with a trace of a
    layer-less pack (or creates, negative) [mm].
    """
    ponding1 = 0.0
    ponding2 = 0.0
    snoflow = 0.0
    discard = 0.0
    # snowfall (SNOWFALL)
    new_layer = False
    if nsnow == 0 and qsnow > 0.0:
        snowh = snowh + snowhin * dt
        sneqv = sneqv + qsnow * dt
        if snowh >= FIRST_LAYER_DEPTH:
            nsnow = 1
            new_layer = True
            dz[2] = snowh
            snowh = 0.0
            stc[2] = fmin(273.16, sfctmp)
            snice[2] = sneqv
            snliq[2] = 0.0
    if nsnow > 0 and not new_layer and qsnow > 0.0:
        top = 3 - nsnow
        snice[top] = snice[top] + qsnow * dt
        dz[top] = dz[top] + snowhin * dt
    if nsnow > 0:
        compact(nsnow, dz, snice, snliq, stc, imelt, ficeold, dt)
        nsnow, sneqv, snowh, ponding1, ponding2, created = combine(nsnow, dz, snice, snliq, stc, sice, sh2o, dz_soil1,
                                                                   sneqv, snowh, ponding1, ponding2)
        discard -= created
    if nsnow > 0:
        nsnow = divide(nsnow, dz, snice, snliq, stc, work)

    # sublimation, frost, rain and percolation (SNOWH2O)
    if sneqv == 0.0:
        sice[0] = sice[0] + (qsnfro - qsnsub) * dt / (dz_soil1 * 1000.0)
        if sice[0] < 0.0:
            sh2o[0] = sh2o[0] + sice[0]
            sice[0] = 0.0
    if nsnow == 0 and sneqv > 0.0:
        old = sneqv
        sneqv = sneqv - qsnsub * dt + qsnfro * dt
        snowh = fmax(0.0, sneqv / old * snowh)
        if sneqv < 0.0:
            sice[0] = sice[0] + sneqv / (dz_soil1 * 1000.0)
            sneqv = 0.0
            snowh = 0.0
        if sice[0] < 0.0:
            sh2o[0] = sh2o[0] + sice[0]
            sice[0] = 0.0
    if snowh <= 1.0e-8 or sneqv <= 1.0e-6:
        if nsnow == 0:
            discard += sneqv
        snowh = 0.0
        sneqv = 0.0
    if nsnow > 0:
        top = 3 - nsnow
        snice[top] = snice[top] - qsnsub * dt + qsnfro * dt
        if snice[top] < 1.0e-6:
            nsnow, sneqv, snowh, ponding1, ponding2, created = combine(nsnow, dz, snice, snliq, stc, sice, sh2o,
                                                                       dz_soil1, sneqv, snowh, ponding1, ponding2)
            discard -= created
        if nsnow > 0:
            top = 3 - nsnow
            snliq[top] = fmax(0.0, snliq[top] + qrain * dt)
    qout = 0.0
    qin = 0.0
    for j in range(3 - nsnow, 3):
        epore = 1.0 - fmin(1.0, snice[j] / (dz[j] * DENICE))
        snliq[j] = snliq[j] + qin
        vol_liq = snliq[j] / (dz[j] * DENH2O)
        qout = fmax(0.0, (vol_liq - ssi * epore) * dz[j]) * DENH2O
        snliq[j] = snliq[j] - qout
        qin = qout
    qsnbot = qout / dt

    # clear the unused layers; the pack's overflow; its SWE
    for j in range(3 - nsnow):
        snice[j] = 0.0
        snliq[j] = 0.0
        stc[j] = 0.0
        dz[j] = 0.0
    if sneqv > MAX_SWE:
        bdsnow = snice[2] / dz[2]
        excess = sneqv - MAX_SWE
        snice[2] = snice[2] - excess
        dz[2] = dz[2] - excess / bdsnow
        snoflow = excess / dt
    if nsnow > 0:
        sneqv = 0.0
        for j in range(3 - nsnow, 3):
            sneqv += snice[j] + snliq[j]
    return nsnow, sneqv, snowh, qsnbot, snoflow, ponding1, ponding2, discard

