"""Water on the canopy: interception of rain and snow, its evaporation, melt and refreezing.

Noah-MP 4.0.1's PRECIP_HEAT (before the energy balance) and CANWATER (after it):

* liquid: capacity CH2OP (ELAI + ESAI) [mm]; the vegetated part intercepts
  min(FVEG P FP, (W_max - W)/dt (1 - exp(-P dt/W_max))), the rest drips, the gap
  (1 - FVEG) lets rain through.  FP = (Pc + Pl)/(10 Pc + Pl) is the fraction of the
  cell that receives precipitation (10 % convective);
* snow: capacity 6.6 (0.27 + 46/rho_new) (ELAI + ESAI) [mm] (Hedstrom & Pomeroy
  1998), loading like rain, unloading at a rate of intercepted snow times (wind/1.56e5
  + max(0, T_v - 270.15)/1.87e5) per second;
* the wetted fraction f_wet = min(1, W/W_max)^0.667, of the ice store when there is
  ice, else of the liquid store;
* heat advected by precipitation (PAHV, PAHG, PAHB, each limited to +-20 W m-2);
* after the energy balance: evaporation/sublimation and dew/frost from the canopy
  flux, transpiration, melt of canopy ice above freezing and freezing of canopy
  water below it (with the leaf temperature pulled towards the freezing point).

Scalar numba functions of one column, branch-free (both sides of a
choice computed, one selected), so that the kernel runs them in SIMD lanes.  Water [kg m-2 = mm], rates [mm s-1].
"""

from __future__ import annotations

from .constants import CICE, CWAT, DENH2O, DENICE, HFUS, HSUB, HVAP, TFRZ
from .jit import fexp, fmax, fmin, fpow, jit, select


@jit
def snow_capacity(bdfall, vai):
    """Interception capacity of snow [kg m-2] for new-snow density bdfall [kg m-3] and leaf+stem area vai."""
    return 6.6 * (0.27 + 46.0 / bdfall) * vai


@jit
def wet_fraction(canliq, canice, maxliq, maxsno):
    """Wetted (or snowed) fraction of the canopy: (store / capacity)^0.667 of the ice store if any, else liquid."""
    w = select(canice > 0.0, fmax(0.0, canice) / fmax(maxsno, 1.0e-6), fmax(0.0, canliq) / fmax(maxliq, 1.0e-6))
    w = fmin(w, 1.0)
    return select(w > 0.0, fpow(w, 0.667), 0.0)


@jit
def intercept(rain, snow, fp, bdfall, elai, esai, fveg, canliq, canice, tv, tg, sfctmp, wind, dt, ch2op):
    """Precipitation through the canopy (PRECIP_HEAT).

    rain, snow: rates [mm s-1]; fp: fraction of the cell receiving precipitation;
    bdfall: new-snow density [kg m-3]; elai, esai [m2 m-2]; fveg: vegetated fraction;
    canliq, canice: stores [mm]; tv, tg, sfctmp: leaf, ground, air temperature [K];
    wind [m s-1]; dt [s]; ch2op: liquid capacity per unit leaf+stem area [mm].

    Returns (canliq, canice, qrain, qsnow, fwet, pahv, pahg, pahb): the new stores,
    rain and snow reaching the ground [mm s-1], the wetted fraction and the heat
    advected to the vegetation, the ground under it and the bare ground [W m-2]
    (the last two per unit area of their part).
    """
    vai = elai + esai
    leaves = vai > 0.0              # else: a buried canopy drops its water (branch-free: both are computed)
    maxliq = ch2op * vai
    qintr = fveg * rain * fp
    qintr = fmin(qintr, (maxliq - canliq) / dt * (1.0 - fexp(-rain * dt / maxliq)))
    qintr = fmax(qintr, 0.0)
    qdripr = select(leaves, fveg * rain - qintr, select(canliq > 0.0, canliq / dt, 0.0))
    qthror = select(leaves, (1.0 - fveg) * rain, rain)
    canliq = select(leaves, fmax(0.0, canliq + qintr * dt), select(canliq > 0.0, 0.0, canliq))
    pah_ac = fveg * rain * (CWAT / 1000.0) * (sfctmp - tv)
    pah_cg = qdripr * (CWAT / 1000.0) * (tv - tg)
    pah_ag = qthror * (CWAT / 1000.0) * (sfctmp - tg)

    maxsno = snow_capacity(bdfall, vai)
    qints = fveg * snow * fp
    qints = fmin(qints, (maxsno - canice) / dt * (1.0 - fexp(-snow * dt / maxsno)))
    qints = fmax(qints, 0.0)
    ft = fmax(0.0, (tv - 270.15) / 1.87e5)
    fv = wind / 1.56e5
    icedrip = fmax(0.0, canice) * (fv + ft)
    qdrips = select(leaves, (fveg * snow - qints) + icedrip, select(canice > 0.0, canice / dt, 0.0))
    qthros = select(leaves, (1.0 - fveg) * snow, snow)
    canice = select(leaves, fmax(0.0, canice + (qints - icedrip) * dt), select(canice > 0.0, 0.0, canice))
    fwet = wet_fraction(canliq, canice, maxliq, maxsno)
    pah_ac = pah_ac + fveg * snow * (CICE / 1000.0) * (sfctmp - tv)
    pah_cg = pah_cg + qdrips * (CICE / 1000.0) * (tv - tg)
    pah_ag = pah_ag + qthros * (CICE / 1000.0) * (sfctmp - tg)
    partial = (fveg > 0.0) & (fveg < 1.0)
    bare = fveg <= 0.0
    pahv = select(bare, 0.0, pah_ac - pah_cg)
    pahg = select(partial, pah_cg / fveg, select(bare, 0.0, pah_cg))
    pahb = select(partial, pah_ag / (1.0 - fveg), select(bare, pah_cg + pah_ag, 0.0))
    pahv = fmin(fmax(pahv, -20.0), 20.0)
    pahg = fmin(fmax(pahg, -20.0), 20.0)
    pahb = fmin(fmax(pahb, -20.0), 20.0)
    return canliq, canice, qdripr + qthror, qdrips + qthros, fwet, pahv, pahg, pahb


@jit
def canopy_water(fcev, fctr, elai, esai, bdfall, frozen_canopy, canliq, canice, tv, dt, ch2op):
    """The canopy stores after the energy balance (CANWATER).

    fcev, fctr: canopy evaporation and transpiration heat [W m-2]; frozen_canopy: the
    leaf temperature at the start of the step was at or below freezing (sublimation
    and frost instead of evaporation and dew).

    Returns (canliq, canice, tv, ecan, etran, fwet, discard): new stores [mm], leaf
    temperature [K], net canopy evaporation and transpiration [mm s-1], wetted fraction,
    and the water Noah-MP drops from a store left with at most 1e-6 mm [mm].
    """
    vai = elai + esai
    maxliq = ch2op * vai
    heat = select(frozen_canopy, HSUB, HVAP)
    etran = fmax(fctr / heat, 0.0)
    evaporation = fmax(fcev / heat, 0.0)
    condensation = abs(fmin(fcev / heat, 0.0))
    qevac = select(frozen_canopy, 0.0, evaporation)
    qdewc = select(frozen_canopy, 0.0, condensation)
    qsubc = select(frozen_canopy, evaporation, 0.0)
    qfroc = select(frozen_canopy, condensation, 0.0)
    qevac = fmin(canliq / dt, qevac)
    canliq = fmax(0.0, canliq + (qdewc - qevac) * dt)
    trace = canliq <= 1.0e-6
    discard = select(trace, canliq, 0.0)
    canliq = select(trace, 0.0, canliq)
    maxsno = snow_capacity(bdfall, vai)
    qsubc = fmin(canice / dt, qsubc)
    canice = fmax(0.0, canice + (qfroc - qsubc) * dt)
    trace = canice <= 1.0e-6
    discard = select(trace, discard + canice, discard)
    canice = select(trace, 0.0, canice)
    fwet = wet_fraction(canliq, canice, maxliq, maxsno)
    melt = (canice > 1.0e-6) & (tv > TFRZ)                 # canopy ice melts, the leaves cool towards freezing
    qmeltc = fmin(canice / dt, (tv - TFRZ) * CICE * canice / DENICE / (dt * HFUS))
    canliq, canice, tv = (select(melt, fmax(0.0, canliq + qmeltc * dt), canliq),
                          select(melt, fmax(0.0, canice - qmeltc * dt), canice),
                          select(melt, fwet * TFRZ + (1.0 - fwet) * tv, tv))
    freeze = (canliq > 1.0e-6) & (tv < TFRZ)               # canopy water freezes, the leaves warm
    qfrzc = fmin(canliq / dt, (TFRZ - tv) * CWAT * canliq / DENH2O / (dt * HFUS))
    canliq, canice, tv = (select(freeze, fmax(0.0, canliq - qfrzc * dt), canliq),
                          select(freeze, fmax(0.0, canice + qfrzc * dt), canice),
                          select(freeze, fwet * TFRZ + (1.0 - fwet) * tv, tv))
    ecan = qevac + qsubc - qdewc - qfroc
    return canliq, canice, tv, ecan, etran, fwet, discard


@jit
def precipitation_phase(sfctmp, prcp):
    """Rain and snow [mm s-1] of total precipitation prcp at air temperature sfctmp [K] (ATM, SNF = 1).

    Jordan (1991): all snow at or below T_f + 0.5 K, 1 - (-54.632 + 0.2 T) up to
    T_f + 2 K, 0.6 up to T_f + 2.5 K, all rain above.  Also returns the fraction of
    the cell receiving precipitation FP (10 % of it convective) and the density of new
    snow [kg m-3] (Hedstrom & Pomeroy 1998).
    """
    fpice = select(sfctmp <= TFRZ + 2.0, 1.0 - (-54.632 + 0.2 * sfctmp), 0.6)
    fpice = select(sfctmp <= TFRZ + 0.5, 1.0, fpice)
    fpice = select(sfctmp > TFRZ + 2.5, 0.0, fpice)
    fp = select(prcp > 0.0, (0.1 * prcp + 0.9 * prcp) / (10.0 * 0.1 * prcp + 0.9 * prcp), 0.0)
    bdfall = fmin(120.0, 67.92 + 51.25 * fexp((sfctmp - TFRZ) / 2.59))
    return prcp * (1.0 - fpice), prcp * fpice, fp, bdfall

