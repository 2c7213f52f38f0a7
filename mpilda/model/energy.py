"""The surface energy balances of the vegetated and the bare part of a cell, for a chunk of columns at once.

Noah-MP 4.0.1's VEGE_FLUX and BARE_FLUX with SFC = 1, CRS = 1, STC = 1
([NMP VEGE_FLUX, BARE_FLUX]): each part of the cell has its own ground temperature
(TGV under the canopy, TGB bare) and its own exchange with the air; the cell's fluxes
are their FVEG-weighted sum (done by the caller).

* Vegetated part: the canopy air (TAH, EAH) couples the leaves, the ground under the
  canopy and the air above by conductances: to the air 1/r_ah (Monin-Obukhov,
  :func:`~mpilda.model.surface.monin_obukhov`), leaf boundary layer 2 VAI/r_b,
  ground 1/r_ah,g (:func:`~mpilda.model.surface.under_canopy`); vapour likewise with
  the wet leaves' evaporation, the dry leaves' transpiration through the sunlit and
  shaded stomata (Ball-Berry, computed once, at the first pass) and the soil
  evaporation through r_surf.  The leaf temperature is found by Newton steps within the
  stability iteration (at least 5 passes, then until |dT_v| <= 0.01 K, one more, at
  most 20); the under-canopy ground temperature then by 5 Newton steps.
* Bare part: the same for the bare ground (5 passes of stability and Newton steps).
* On a snowpack deeper than 5 cm the ground is held at the freezing point and the
  surplus goes into the ground heat flux (melt).

Leaf and stem area enter the vegetated part's exchange per unit of its area
(VAI/FVEG, at most 6).  Fluxes are positive upward, the ground heat flux positive
into the ground; all in W m-2 of the part's area except the canopy's (per cell area).

**Lanes.** The balances of LANES columns are solved together: every value of the
chunk lives in a row of the flat lane block ``E`` (``E[row * LANES + l]`` for lane
``l``), and each step of the computation is a loop over the lanes that the compiler
runs in SIMD registers.  The loops are kept small and free of conditional loads so
that they vectorise; a column whose canopy iteration has converged keeps its values
(selects), so every column gets exactly the passes it would get alone and its
arithmetic does not depend on the other lanes.  :func:`solve` runs the stages; the
caller fills the input rows (``IN_ROWS``) and reads the output rows (``OUT_ROWS``).
"""

from __future__ import annotations

from collections import namedtuple

from .constants import CPAIR, SB, TFRZ
from .jit import LANES, flog, fmax, fmin, jit, select
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

#: The rows the caller fills: the forcing and state of the chunk's columns and the leaves' parameters.
IN_ROWS = ("veg", "dt", "sav", "sag", "lwdn", "ur", "sfctmp", "qair", "eair", "rhoair", "snowh", "vai", "gammav",
           "gammag", "fwet", "laisun", "laisha", "zlvl", "zpd", "z0m", "fveg", "z0mg", "zpdg", "emv", "emg", "canliq",
           "canice", "stc_top", "df_top", "dz_top", "rsurf", "latheav", "parsun", "parsha", "igs", "btran", "sfcprs",
           "rhsur", "pahv", "pahg", "pahb", "foln", "eah", "tah", "tv", "tg", "hvt", "cwpvt", "dleaf", "vcmx25", "mp",
           "bp", "qe25", "folnmx", "kc25", "ko25", "c3psn", "ln_akc", "ln_ako", "ln_avcmx", "co2", "o2")
#: The rows the caller reads: bare part (tgb ...), vegetated part (eah ... ghv), photosynthesis.
OUT_ROWS = ("tgb", "irb", "shb", "evb", "ghb", "tgv", "irg", "irc", "shg", "shc", "evg", "evc", "tr", "ghv",
            "psnsun", "psnsha", "rssun", "rssha", "passes")
_WORK_ROWS = ("vaie", "laisune", "laishae", "estg", "uc", "logz", "air", "cir", "rhocp", "fv", "moz", "mozsgn", "fm",
              "fh", "fhg", "h", "hg", "rahc", "rahg", "rb", "active", "last", "n_fv", "n_moz", "n_sgn", "n_fm", "n_fh",
              "n_fhg", "n_rahc", "n_rahg", "n_rb", "csh", "cev", "cgh", "estg_last", "log_bare")
ROWS = {name: i for i, name in enumerate(IN_ROWS + tuple(r for r in OUT_ROWS if r not in IN_ROWS) + _WORK_ROWS)}
#: Size of the lane block [values].
BLOCK = len(ROWS) * LANES
# row indices as module constants (numba folds them)
(VEG, DT, SAV, SAG, LWDN, UR, SFCTMP, QAIR, EAIR, RHOAIR, SNOWH, VAI, GAMMAV, GAMMAG, FWET, LAISUN, LAISHA, ZLVL, ZPD,
 Z0M, FVEG, Z0MG, ZPDG, EMV, EMG, CANLIQ, CANICE, STC_TOP, DF_TOP, DZ_TOP, RSURF, LATHEAV, PARSUN, PARSHA, IGS, BTRAN,
 SFCPRS, RHSUR, PAHV, PAHG, PAHB, FOLN, EAH, TAH, TV, TG, HVT, CWPVT, DLEAF, VCMX25, MP, BP, QE25, FOLNMX, KC25, KO25,
 C3PSN, LN_AKC, LN_AKO, LN_AVCMX, CO2, O2) = (ROWS[k] for k in IN_ROWS)
(TGB, IRB, SHB, EVB, GHB, TGV, IRG, IRC, SHG, SHC, EVG, EVC, TR, GHV, PSNSUN, PSNSHA, RSSUN, RSSHA,
 PASSES) = (ROWS[k] for k in OUT_ROWS)
(VAIE, LAISUNE, LAISHAE, ESTG, UC, LOGZ, AIR, CIR, RHOCP, FV, MOZ, MOZSGN, FM, FH, FHG, H, HG, RAHC, RAHG, RB, ACTIVE,
 LAST, N_FV, N_MOZ, N_SGN, N_FM, N_FH, N_FHG, N_RAHC, N_RAHG, N_RB, CSH, CEV, CGH, ESTG_LAST,
 LOG_BARE) = (ROWS[k] for k in _WORK_ROWS)
_L = LANES

#: The leaf parameters of :func:`~mpilda.model.photosynthesis.leaf_conditions` (a record for the lanes).
Leaf = namedtuple("Leaf", ("vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "ko25", "c3psn", "ln_akc", "ln_ako",
                           "ln_avcmx", "co2", "o2"))


@jit
def _bare_stability(E, first):
    """One Monin-Obukhov pass of the bare part of every lane (sensible heat of the previous pass)."""
    for l in range(_L):
        logz = E[LOG_BARE * _L + l]
        cm, ch, fv, moz, mozsgn, fm, fh = monin_obukhov(first, E[SFCTMP * _L + l], E[RHOAIR * _L + l], E[H * _L + l],
                                                        E[QAIR * _L + l], E[ZLVL * _L + l], E[ZPDG * _L + l], logz,
                                                        logz, E[UR * _L + l], E[FV * _L + l], E[MOZ * _L + l],
                                                        E[MOZSGN * _L + l], E[FM * _L + l], E[FH * _L + l])
        E[FV * _L + l] = fv
        E[MOZ * _L + l] = moz
        E[MOZSGN * _L + l] = mozsgn
        E[FM * _L + l] = fm
        E[FH * _L + l] = fh
        E[RAHC * _L + l] = fmax(1.0, 1.0 / (ch * E[UR * _L + l]))


@jit
def _bare_newton(E):
    """One Newton step of the bare ground temperature of every lane, its fluxes, and the next pass's H."""
    for l in range(_L):
        tgb = E[TGB * _L + l]
        rahb = E[RAHC * _L + l]
        rhocp = E[RHOAIR * _L + l] * CPAIR
        cir = E[EMG * _L + l] * SB
        cgh = 2.0 * E[DF_TOP * _L + l] / E[DZ_TOP * _L + l]
        estg, destg = saturation(tgb)
        csh = rhocp / rahb
        cev = rhocp / E[GAMMAG * _L + l] / (E[RSURF * _L + l] + rahb)
        tg3 = tgb * tgb * tgb
        irb = cir * tg3 * tgb - E[EMG * _L + l] * E[LWDN * _L + l]
        shb = csh * (tgb - E[SFCTMP * _L + l])
        evb = cev * (estg * E[RHSUR * _L + l] - E[EAIR * _L + l])
        ghb = cgh * (tgb - E[STC_TOP * _L + l])
        b = E[SAG * _L + l] - irb - shb - evb - ghb + E[PAHB * _L + l]
        a = 4.0 * cir * tg3 + csh + cev * destg + cgh
        dtg = b / a
        E[IRB * _L + l] = irb + 4.0 * cir * tg3 * dtg
        E[SHB * _L + l] = shb + csh * dtg
        E[EVB * _L + l] = evb + cev * destg * dtg
        E[GHB * _L + l] = ghb + cgh * dtg
        tgb = tgb + dtg
        E[TGB * _L + l] = tgb
        E[H * _L + l] = csh * (tgb - E[SFCTMP * _L + l])
        E[CSH * _L + l] = csh
        E[CEV * _L + l] = cev
        E[ESTG_LAST * _L + l] = saturation(tgb)[0]


@jit
def _bare_clamp(E):
    """A bare ground above freezing under deep snow is held at freezing; the surplus heats the ground."""
    for l in range(_L):
        tgb = E[TGB * _L + l]
        clamp = (E[SNOWH * _L + l] > DEEP_SNOW) & (tgb > TFRZ)
        t = TFRZ
        emg = E[EMG * _L + l]
        irb = emg * SB * t * t * t * t - emg * E[LWDN * _L + l]
        shb = E[CSH * _L + l] * (t - E[SFCTMP * _L + l])
        evb = E[CEV * _L + l] * (E[ESTG_LAST * _L + l] * E[RHSUR * _L + l] - E[EAIR * _L + l])
        ghb = E[SAG * _L + l] + E[PAHB * _L + l] - (irb + shb + evb)
        E[TGB * _L + l] = select(clamp, t, tgb)
        E[IRB * _L + l] = select(clamp, irb, E[IRB * _L + l])
        E[SHB * _L + l] = select(clamp, shb, E[SHB * _L + l])
        E[EVB * _L + l] = select(clamp, evb, E[EVB * _L + l])
        E[GHB * _L + l] = select(clamp, ghb, E[GHB * _L + l])


@jit
def _bare(E):
    """The bare part's balance of every lane (BARE_FLUX): TGB and the fluxes irb, shb, evb, ghb."""
    for l in range(_L):
        E[LOG_BARE * _L + l] = flog((E[ZLVL * _L + l] - E[ZPDG * _L + l]) / E[Z0MG * _L + l])
        E[TGB * _L + l] = E[TG * _L + l]
        E[FV * _L + l] = 0.1
        E[MOZ * _L + l] = 0.0
        E[MOZSGN * _L + l] = 0.0
        E[FM * _L + l] = 0.0
        E[FH * _L + l] = 0.0
        E[H * _L + l] = 0.0
    for it in range(BARE_PASSES):
        _bare_stability(E, it == 0)
        _bare_newton(E)
    _bare_clamp(E)


@jit
def _canopy_start(E):
    """The pass-independent terms of the vegetated part, and the iteration's starting state."""
    for l in range(_L):
        fveg = E[FVEG * _L + l]
        E[VAIE * _L + l] = fmin(6.0, E[VAI * _L + l] / fveg)
        E[LAISUNE * _L + l] = fmin(6.0, E[LAISUN * _L + l] / fveg)
        E[LAISHAE * _L + l] = fmin(6.0, E[LAISHA * _L + l] / fveg)
        tg = E[TG * _L + l]
        E[ESTG * _L + l] = saturation(tg)[0]
        zpd, z0m, zlvl = E[ZPD * _L + l], E[Z0M * _L + l], E[ZLVL * _L + l]
        E[UC * _L + l] = E[UR * _L + l] * flog((E[HVT * _L + l] - zpd + z0m) / z0m) / flog(zlvl / z0m)
        E[LOGZ * _L + l] = flog((zlvl - zpd) / z0m)
        emv, emg = E[EMV * _L + l], E[EMG * _L + l]
        E[AIR * _L + l] = -emv * (1.0 + (1.0 - emv) * (1.0 - emg)) * E[LWDN * _L + l] - emv * emg * SB * tg * tg * tg * tg
        E[CIR * _L + l] = (2.0 - emv * (1.0 - emg)) * emv * SB
        E[RHOCP * _L + l] = E[RHOAIR * _L + l] * CPAIR
        E[FV * _L + l] = 0.1
        E[MOZ * _L + l] = 0.0
        E[MOZSGN * _L + l] = 0.0
        E[FM * _L + l] = 0.0
        E[FH * _L + l] = 0.0
        E[FHG * _L + l] = 0.0
        E[H * _L + l] = 0.0
        E[HG * _L + l] = 0.0
        E[PASSES * _L + l] = 0.0
        E[LAST * _L + l] = 0.0
        E[ACTIVE * _L + l] = E[VEG * _L + l]
        E[TGV * _L + l] = tg
        for r in (IRC, SHC, EVC, TR, RSSUN, RSSHA, PSNSUN, PSNSHA, RAHC, RAHG, RB):
            E[r * _L + l] = 0.0


@jit
def _canopy_stability(E, first):
    """One pass's exchange above the canopy (SFCDIF1) of every lane."""
    for l in range(_L):
        logz = E[LOGZ * _L + l]
        cm, ch, fv, moz, mozsgn, fm, fh = monin_obukhov(first, E[SFCTMP * _L + l], E[RHOAIR * _L + l], E[H * _L + l],
                                                        E[QAIR * _L + l], E[ZLVL * _L + l], E[ZPD * _L + l], logz,
                                                        logz, E[UR * _L + l], E[FV * _L + l], E[MOZ * _L + l],
                                                        E[MOZSGN * _L + l], E[FM * _L + l], E[FH * _L + l])
        E[N_FV * _L + l] = fv
        E[N_MOZ * _L + l] = moz
        E[N_SGN * _L + l] = mozsgn
        E[N_FM * _L + l] = fm
        E[N_FH * _L + l] = fh
        E[N_RAHC * _L + l] = fmax(1.0, 1.0 / (ch * E[UR * _L + l]))


@jit
def _canopy_resistances(E, first):
    """One pass's under-canopy and leaf boundary-layer resistances (RAGRB) of every lane."""
    for l in range(_L):
        z0mg = E[Z0MG * _L + l]
        rahg, rb, fhg = under_canopy(first, E[VAIE * _L + l], E[RHOAIR * _L + l], E[HG * _L + l], E[TAH * _L + l],
                                     E[ZPD * _L + l], z0mg, z0mg, E[HVT * _L + l], E[UC * _L + l], E[Z0M * _L + l],
                                     E[N_FV * _L + l], E[CWPVT * _L + l], E[DLEAF * _L + l], E[FHG * _L + l])
        E[N_RAHG * _L + l] = rahg
        E[N_RB * _L + l] = rb
        E[N_FHG * _L + l] = fhg


@jit
def _stomata(E):
    """Sunlit and shaded stomatal resistance and photosynthesis of every lane (STOMATA), at the first pass."""
    for l in range(_L):
        leaf = Leaf(E[VCMX25 * _L + l], E[MP * _L + l], E[BP * _L + l], E[QE25 * _L + l], E[FOLNMX * _L + l],
                    E[KC25 * _L + l], E[KO25 * _L + l], E[C3PSN * _L + l], E[LN_AKC * _L + l], E[LN_AKO * _L + l],
                    E[LN_AVCMX * _L + l], E[CO2 * _L + l], E[O2 * _L + l])
        tv = E[TV * _L + l]
        c = leaf_conditions(tv, saturation(tv)[0], E[SFCTMP * _L + l], E[EAH * _L + l], E[SFCPRS * _L + l],
                            E[N_RB * _L + l], E[BTRAN * _L + l], E[IGS * _L + l], E[FOLN * _L + l], leaf)
        rs, psn = stomata_light(E[PARSUN * _L + l], c, leaf)
        E[RSSUN * _L + l] = rs
        E[PSNSUN * _L + l] = psn
        rs, psn = stomata_light(E[PARSHA * _L + l], c, leaf)
        E[RSSHA * _L + l] = rs
        E[PSNSHA * _L + l] = psn


@jit
def _canopy_newton(E):
    """One pass's canopy-air node and Newton step of the leaf temperature of every active lane (VEGE_FLUX)."""
    for l in range(_L):
        act = E[ACTIVE * _L + l] > 0.0
        sfctmp = E[SFCTMP * _L + l]
        rahc, rahg, rb = E[N_RAHC * _L + l], E[N_RAHG * _L + l], E[N_RB * _L + l]
        tv = E[TV * _L + l]
        estv, destv = saturation(tv)
        vaie, fwet, fveg, rhocp = E[VAIE * _L + l], E[FWET * _L + l], E[FVEG * _L + l], E[RHOCP * _L + l]
        gammav = E[GAMMAV * _L + l]
        tg = E[TG * _L + l]
        cah = 1.0 / rahc
        cvh = 2.0 * vaie / rb
        cgh = 1.0 / rahg
        cond = cah + cvh + cgh
        ata = (sfctmp * cah + tg * cgh) / cond
        bta = cvh / cond
        csh = (1.0 - bta) * rhocp * cvh
        caw = 1.0 / rahc
        cew = fwet * vaie / rb
        ctw = (1.0 - fwet) * (E[LAISUNE * _L + l] / (rb + E[RSSUN * _L + l])
                              + E[LAISHAE * _L + l] / (rb + E[RSSHA * _L + l]))
        cgw = 1.0 / (rahg + E[RSURF * _L + l])
        cond = caw + cew + ctw + cgw
        aea = (E[EAIR * _L + l] * caw + E[ESTG * _L + l] * cgw) / cond
        bea = (cew + ctw) / cond
        cev = (1.0 - bea) * cew * rhocp / gammav
        ctr = (1.0 - bea) * ctw * rhocp / gammav
        tah = ata + bta * tv
        eah = aea + bea * estv
        tv3 = tv * tv * tv
        cir = E[CIR * _L + l]
        irc = fveg * (E[AIR * _L + l] + cir * tv3 * tv)
        shc = fveg * rhocp * cvh * (tv - tah)
        evc = fveg * rhocp * cew * (estv - eah) / gammav
        tr = fveg * rhocp * ctw * (estv - eah) / gammav
        liquid = 1.0 if tv > TFRZ else 0.0       # (an arithmetic select: a conditional load would stop the SIMD)
        store = liquid * E[CANLIQ * _L + l] + (1.0 - liquid) * E[CANICE * _L + l]
        evc = fmin(store * E[LATHEAV * _L + l] / E[DT * _L + l], evc)
        b = E[SAV * _L + l] - irc - shc - evc - tr + E[PAHV * _L + l]
        a = fveg * (4.0 * cir * tv3 + csh + (cev + ctr) * destv)
        dtv = b / a
        irc = irc + fveg * 4.0 * cir * tv3 * dtv
        shc = shc + fveg * csh * dtv
        evc = evc + fveg * cev * destv * dtv
        tr = tr + fveg * ctr * destv * dtv
        E[FV * _L + l] = select(act, E[N_FV * _L + l], E[FV * _L + l])
        E[MOZ * _L + l] = select(act, E[N_MOZ * _L + l], E[MOZ * _L + l])
        E[MOZSGN * _L + l] = select(act, E[N_SGN * _L + l], E[MOZSGN * _L + l])
        E[FM * _L + l] = select(act, E[N_FM * _L + l], E[FM * _L + l])
        E[FH * _L + l] = select(act, E[N_FH * _L + l], E[FH * _L + l])
        E[FHG * _L + l] = select(act, E[N_FHG * _L + l], E[FHG * _L + l])
        E[RAHC * _L + l] = select(act, rahc, E[RAHC * _L + l])
        E[RAHG * _L + l] = select(act, rahg, E[RAHG * _L + l])
        E[RB * _L + l] = select(act, rb, E[RB * _L + l])
        E[IRC * _L + l] = select(act, irc, E[IRC * _L + l])
        E[SHC * _L + l] = select(act, shc, E[SHC * _L + l])
        E[EVC * _L + l] = select(act, evc, E[EVC * _L + l])
        E[TR * _L + l] = select(act, tr, E[TR * _L + l])
        E[TV * _L + l] = select(act, tv + dtv, tv)
        E[TAH * _L + l] = select(act, tah, E[TAH * _L + l])
        E[EAH * _L + l] = select(act, eah, E[EAH * _L + l])
        E[H * _L + l] = select(act, rhocp * (tah - sfctmp) / rahc, E[H * _L + l])
        E[HG * _L + l] = select(act, rhocp * (tg - tah) / rahg, E[HG * _L + l])
        n = E[PASSES * _L + l] + (1.0 if act else 0.0)
        E[PASSES * _L + l] = n
        last = E[LAST * _L + l] > 0.0
        done = last | (not act)
        E[ACTIVE * _L + l] = 0.0 if done else 1.0
        E[LAST * _L + l] = 1.0 if (last | (act & (n >= MIN_CANOPY_PASSES) & (abs(dtv) <= CANOPY_TOLERANCE))) else 0.0


@jit
def _any_active(E):
    n = 0.0
    for l in range(_L):
        n = n + E[ACTIVE * _L + l]
    return n > 0.0


@jit
def _ground_start(E):
    """The pass-independent terms of the ground under the canopy of every lane."""
    for l in range(_L):
        tv = E[TV * _L + l]
        emg, emv = E[EMG * _L + l], E[EMV * _L + l]
        rhocp = E[RHOCP * _L + l]
        E[AIR * _L + l] = -emg * (1.0 - emv) * E[LWDN * _L + l] - emg * emv * SB * tv * tv * tv * tv
        E[CIR * _L + l] = emg * SB
        E[CSH * _L + l] = rhocp / E[RAHG * _L + l]
        E[CEV * _L + l] = rhocp / (E[GAMMAG * _L + l] * (E[RAHG * _L + l] + E[RSURF * _L + l]))
        E[CGH * _L + l] = 2.0 * E[DF_TOP * _L + l] / E[DZ_TOP * _L + l]


@jit
def _ground_newton(E):
    """One Newton step of the temperature of the ground under the canopy of every lane."""
    for l in range(_L):
        tg = E[TGV * _L + l]
        estg, destg = saturation(tg)
        cir, csh, cev, cgh = E[CIR * _L + l], E[CSH * _L + l], E[CEV * _L + l], E[CGH * _L + l]
        tah, eah = E[TAH * _L + l], E[EAH * _L + l]
        tg3 = tg * tg * tg
        irg = cir * tg3 * tg + E[AIR * _L + l]
        shg = csh * (tg - tah)
        evg = cev * (estg * E[RHSUR * _L + l] - eah)
        gh = cgh * (tg - E[STC_TOP * _L + l])
        b = E[SAG * _L + l] - irg - shg - evg - gh + E[PAHG * _L + l]
        a = 4.0 * cir * tg3 + csh + cev * destg + cgh
        dtg = b / a
        E[IRG * _L + l] = irg + 4.0 * cir * tg3 * dtg
        E[SHG * _L + l] = shg + csh * dtg
        E[EVG * _L + l] = evg + cev * destg * dtg
        E[GHV * _L + l] = gh + cgh * dtg
        E[TGV * _L + l] = tg + dtg
        E[ESTG_LAST * _L + l] = estg


@jit
def _ground_clamp(E):
    """Ground under the canopy above freezing under deep snow: held at freezing; the surplus heats the ground."""
    for l in range(_L):
        tg = E[TGV * _L + l]
        clamp = (E[SNOWH * _L + l] > DEEP_SNOW) & (tg > TFRZ)
        t = TFRZ
        emg, emv, tv = E[EMG * _L + l], E[EMV * _L + l], E[TV * _L + l]
        irg = E[CIR * _L + l] * t * t * t * t - emg * (1.0 - emv) * E[LWDN * _L + l] - emg * emv * SB * tv * tv * tv * tv
        shg = E[CSH * _L + l] * (t - E[TAH * _L + l])
        evg = E[CEV * _L + l] * (E[ESTG_LAST * _L + l] * E[RHSUR * _L + l] - E[EAH * _L + l])
        gh = E[SAG * _L + l] + E[PAHG * _L + l] - (irg + shg + evg)
        E[TGV * _L + l] = select(clamp, t, tg)
        E[IRG * _L + l] = select(clamp, irg, E[IRG * _L + l])
        E[SHG * _L + l] = select(clamp, shg, E[SHG * _L + l])
        E[EVG * _L + l] = select(clamp, evg, E[EVG * _L + l])
        E[GHV * _L + l] = select(clamp, gh, E[GHV * _L + l])


@jit
def _vegetated(E):
    """The vegetated part's balance of the lanes with vegetation (row VEG = 1) (VEGE_FLUX)."""
    _canopy_start(E)
    for it in range(CANOPY_PASSES):
        first = it == 0
        _canopy_stability(E, first)
        _canopy_resistances(E, first)
        if first:
            _stomata(E)
        _canopy_newton(E)
        if not _any_active(E):
            break
    _ground_start(E)
    for _ in range(GROUND_PASSES):
        _ground_newton(E)
    _ground_clamp(E)


@jit
def solve(E, any_vegetated):
    """Both balances of the chunk's LANES columns: fills OUT_ROWS of the lane block E from its IN_ROWS.

    any_vegetated: whether some lane has vegetation (row VEG = 1; the vegetated part of
    the others is not used).
    """
    _bare(E)
    if any_vegetated:
        _vegetated(E)
