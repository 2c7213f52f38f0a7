"""The surface energy balances of the vegetated and the bare part of a cell.

Noah-MP 4.0.1's VEGE_FLUX and BARE_FLUX with SFC = 1, CRS = 1, STC = 1
([NMP VEGE_FLUX, BARE_FLUX]): each part of the cell has its own ground temperature
(TGV under the canopy, TGB bare) and its own exchange with the air; the cell's fluxes
are their FVEG-weighted sum (done by the caller).

* Vegetated part: the canopy air (TAH, EAH) couples the leaves, the ground under the
  canopy and the air above by conductances: to the air 1/r_ah (Monin-Obukhov,
  :func:`~mpilda.model.surface.monin_obukhov`), leaf boundary layer 2 VAI/r_b,
  ground 1/r_ah,g (:func:`~mpilda.model.surface.under_canopy`); vapour likewise with
  the wet leaves' evaporation, the dry leaves' transpiration through the sunlit and
  shaded stomata (Ball-Berry, computed once at the first pass) and the soil
  evaporation through r_surf.  The leaf temperature is found by Newton steps within the
  stability iteration (at least 5 passes, then until |dT_v| <= 0.01 K, one more, at
  most 20); the under-canopy ground temperature then by 5 Newton steps.
* Bare part: the same for the bare ground (5 passes of stability and Newton steps).
* On a snowpack deeper than 5 cm the ground is held at the freezing point and the
  surplus goes into the ground heat flux (melt).

Leaf and stem area enter the vegetated part's exchange per unit of its area
(VAI/FVEG, at most 6).  Fluxes are positive upward, the ground heat flux positive
into the ground; all in W m-2 of the part's area except the canopy's (per cell area).
"""

from __future__ import annotations

from .constants import CPAIR, SB, TFRZ
from .jit import flog, fmax, fmin, jit
from .photosynthesis import leaf_conditions, stomata_light
from .surface import monin_obukhov, saturation, under_canopy

#: Stability passes of the canopy (at most) and of the ground Newton steps (NITERC, NITERG) and of the bare part.
CANOPY_PASSES = 20
GROUND_PASSES = 5
BARE_PASSES = 5
#: The canopy iteration stops once |dT_v| <= this after at least MIN_CANOPY_PASSES passes (plus one).
CANOPY_TOLERANCE = 0.01
MIN_CANOPY_PASSES = 5
#: Snow depth above which a ground above freezing is held at freezing [m] (STC = 1).
DEEP_SNOW = 0.05


@jit
def vegetated(dt, sav, sag, lwdn, ur, sfctmp, qair, eair, rhoair, snowh, vai, gammav, gammag, fwet, laisun,
              laisha, zlvl, zpd, z0m, fveg, z0mg, emv, emg, canliq, canice, stc_top, df_top, dz_top, rsurf,
              latheav, parsun, parsha, igs, btran, sfcprs, rhsur, pahv, pahg, foln, eah, tah, tv, tg, p):
    """The energy balance of the vegetated part (VEGE_FLUX).

    sav, sag: shortwave absorbed by the canopy and (per cell area) by the ground under
    it; vai, laisun, laisha: leaf+stem, sunlit and shaded leaf area of the cell; gammav,
    gammag: psychrometric constants of the canopy and the ground [Pa K-1]; zlvl, zpd,
    z0m, z0mg: forcing height, displacement, roughness of the canopy and of the ground
    [m]; emv, emg: emissivities; stc_top, df_top, dz_top: temperature [K],
    conductivity and thickness [m] of the top snow or soil layer; rsurf, rhsur: soil
    surface resistance and pore humidity; latheav: latent heat at the leaves [J kg-1];
    parsun, parsha: absorbed PAR per unit sunlit/shaded leaf area [W m-2]; pahv, pahg:
    heat advected by precipitation; eah, tah, tv, tg: the canopy air vapour pressure
    [Pa] and temperatures [K] at the start; p: hvt, cwpvt, dleaf and the photosynthesis
    parameters.

    Returns (eah, tah, tv, tg, irg, irc, shg, shc, evg, evc, tr, ghv, psnsun, psnsha,
    rssun, rssha, passes).
    """
    vaie = fmin(6.0, vai / fveg)
    laisune = fmin(6.0, laisun / fveg)
    laishae = fmin(6.0, laisha / fveg)
    estg = saturation(tg)[0]
    hcan = p.hvt
    uc = ur * flog((hcan - zpd + z0m) / z0m) / flog(zlvl / z0m)
    log_z = flog((zlvl - zpd) / z0m)
    tg4 = tg * tg * tg * tg
    air = -emv * (1.0 + (1.0 - emv) * (1.0 - emg)) * lwdn - emv * emg * SB * tg4
    cir = (2.0 - emv * (1.0 - emg)) * emv * SB
    rhocp = rhoair * CPAIR
    fv = 0.1
    moz = 0.0
    mozsgn = 0
    fm = 0.0
    fh = 0.0
    fhg = 0.0
    h = 0.0
    hg = 0.0
    rssun = 0.0
    rssha = 0.0
    psnsun = 0.0
    psnsha = 0.0
    rahc = 0.0
    rahg = 0.0
    rb = 0.0
    irc = 0.0
    shc = 0.0
    evc = 0.0
    tr = 0.0
    last = False
    passes = 0
    for it in range(CANOPY_PASSES):
        first = it == 0
        passes = it + 1
        cm, ch, fv, moz, mozsgn, fm, fh = monin_obukhov(first, sfctmp, rhoair, h, qair, zlvl, zpd, log_z, log_z,
                                                        ur, fv, moz, mozsgn, fm, fh)
        rahc = fmax(1.0, 1.0 / (ch * ur))
        rahg, rb, fhg = under_canopy(first, vaie, rhoair, hg, tah, zpd, z0mg, z0mg, hcan, uc, z0m, fv, p.cwpvt,
                                     p.dleaf, fhg)
        estv, destv = saturation(tv)
        if first:
            conditions = leaf_conditions(tv, estv, sfctmp, eah, sfcprs, rb, btran, igs, foln, p)
            rssun, psnsun = stomata_light(parsun, conditions, p)
            rssha, psnsha = stomata_light(parsha, conditions, p)
        cah = 1.0 / rahc
        cvh = 2.0 * vaie / rb
        cgh = 1.0 / rahg
        cond = cah + cvh + cgh
        ata = (sfctmp * cah + tg * cgh) / cond
        bta = cvh / cond
        csh = (1.0 - bta) * rhocp * cvh
        caw = 1.0 / rahc
        cew = fwet * vaie / rb
        ctw = (1.0 - fwet) * (laisune / (rb + rssun) + laishae / (rb + rssha))
        cgw = 1.0 / (rahg + rsurf)
        cond = caw + cew + ctw + cgw
        aea = (eair * caw + estg * cgw) / cond
        bea = (cew + ctw) / cond
        cev = (1.0 - bea) * cew * rhocp / gammav
        ctr = (1.0 - bea) * ctw * rhocp / gammav
        tah = ata + bta * tv
        eah = aea + bea * estv
        tv3 = tv * tv * tv
        irc = fveg * (air + cir * tv3 * tv)
        shc = fveg * rhocp * cvh * (tv - tah)
        evc = fveg * rhocp * cew * (estv - eah) / gammav
        tr = fveg * rhocp * ctw * (estv - eah) / gammav
        if tv > TFRZ:
            evc = fmin(canliq * latheav / dt, evc)
        else:
            evc = fmin(canice * latheav / dt, evc)
        b = sav - irc - shc - evc - tr + pahv
        a = fveg * (4.0 * cir * tv3 + csh + (cev + ctr) * destv)
        dtv = b / a
        irc = irc + fveg * 4.0 * cir * tv3 * dtv
        shc = shc + fveg * csh * dtv
        evc = evc + fveg * cev * destv * dtv
        tr = tr + fveg * ctr * destv * dtv
        tv = tv + dtv
        h = rhocp * (tah - sfctmp) / rahc
        hg = rhocp * (tg - tah) / rahg
        if last:
            break
        if it + 1 >= MIN_CANOPY_PASSES and abs(dtv) <= CANOPY_TOLERANCE:
            last = True

    # the ground under the canopy
    tv4 = tv * tv * tv * tv
    air = -emg * (1.0 - emv) * lwdn - emg * emv * SB * tv4
    cir = emg * SB
    csh = rhocp / rahg
    cev = rhocp / (gammag * (rahg + rsurf))
    cgh = 2.0 * df_top / dz_top
    irg = 0.0
    shg = 0.0
    evg = 0.0
    gh = 0.0
    estg = 0.0
    for _ in range(GROUND_PASSES):
        estg, destg = saturation(tg)
        tg3 = tg * tg * tg
        irg = cir * tg3 * tg + air
        shg = csh * (tg - tah)
        evg = cev * (estg * rhsur - eah)
        gh = cgh * (tg - stc_top)
        b = sag - irg - shg - evg - gh + pahg
        a = 4.0 * cir * tg3 + csh + cev * destg + cgh
        dtg = b / a
        irg = irg + 4.0 * cir * tg3 * dtg
        shg = shg + csh * dtg
        evg = evg + cev * destg * dtg
        gh = gh + cgh * dtg
        tg = tg + dtg
    if snowh > DEEP_SNOW and tg > TFRZ:
        tg = TFRZ
        irg = cir * tg * tg * tg * tg - emg * (1.0 - emv) * lwdn - emg * emv * SB * tv4
        shg = csh * (tg - tah)
        evg = cev * (estg * rhsur - eah)
        gh = sag + pahg - (irg + shg + evg)
    return eah, tah, tv, tg, irg, irc, shg, shc, evg, evc, tr, gh, psnsun, psnsha, rssun, rssha, passes


@jit
def bare(sag, lwdn, ur, sfctmp, qair, eair, rhoair, snowh, zlvl, zpdg, z0mg, emg, stc_top, df_top, dz_top, rsurf,
         gammag, rhsur, pahb, tgb):
    """The energy balance of the bare part (BARE_FLUX); arguments as :func:`vegetated` for the bare ground.

    Returns (tgb, irb, shb, evb, ghb).
    """
    cir = emg * SB
    cgh = 2.0 * df_top / dz_top
    rhocp = rhoair * CPAIR
    fv = 0.1
    moz = 0.0
    mozsgn = 0
    fm = 0.0
    fh = 0.0
    h = 0.0
    irb = 0.0
    shb = 0.0
    evb = 0.0
    ghb = 0.0
    csh = 0.0
    cev = 0.0
    estg = 0.0
    log_z = flog((zlvl - zpdg) / z0mg)
    for it in range(BARE_PASSES):
        cm, ch, fv, moz, mozsgn, fm, fh = monin_obukhov(it == 0, sfctmp, rhoair, h, qair, zlvl, zpdg, log_z, log_z,
                                                        ur, fv, moz, mozsgn, fm, fh)
        rahb = fmax(1.0, 1.0 / (ch * ur))
        estg, destg = saturation(tgb)
        csh = rhocp / rahb
        cev = rhocp / gammag / (rsurf + rahb)
        tg3 = tgb * tgb * tgb
        irb = cir * tg3 * tgb - emg * lwdn
        shb = csh * (tgb - sfctmp)
        evb = cev * (estg * rhsur - eair)
        ghb = cgh * (tgb - stc_top)
        b = sag - irb - shb - evb - ghb + pahb
        a = 4.0 * cir * tg3 + csh + cev * destg + cgh
        dtg = b / a
        irb = irb + 4.0 * cir * tg3 * dtg
        shb = shb + csh * dtg
        evb = evb + cev * destg * dtg
        ghb = ghb + cgh * dtg
        tgb = tgb + dtg
        h = csh * (tgb - sfctmp)
        estg = saturation(tgb)[0]
    if snowh > DEEP_SNOW and tgb > TFRZ:
        tgb = TFRZ
        irb = cir * tgb * tgb * tgb * tgb - emg * lwdn
        shb = csh * (tgb - sfctmp)
        evb = cev * (estg * rhsur - eair)
        ghb = sag + pahb - (irb + shb + evb)
    return tgb, irb, shb, evb, ghb

