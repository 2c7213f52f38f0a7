"""Dynamic vegetation and carbon: Noah-MP's CARBON/CO2FLUX with DVEG = 2.

One call of :func:`carbon_column` advances the six carbon pools of a column by one
model step: maintenance respiration (leaf, stem, root, wood), allocation of the
photosynthate, growth respiration, turnover, cold and drought leaf death, the TMIN
growth cut-off, and the fast/stable soil carbon pools; it returns the new LAI and SAI
([NMP CARBON, CO2FLUX] noahmp-physics.md s.7, Dickinson et al. 1998, Niu et al. 2011).

The physics are scalar numba functions of one column (``p`` a parameter record with
the fields of :meth:`CarbonParams.record_fields`); :func:`carbon_step`,
:func:`area_indices` apply them to arrays that
broadcast (pools and state such as ``tv`` may be (n_members, n_cells) while the
:class:`CarbonParams` arrays are (n_cells,)). Units: pools g C m-2, fluxes
g C m-2 s-1, temperatures K, time s.

**Carbon budget.** Noah-MP's scheme does not conserve carbon; mpilda keeps its numbers
and reports every place where carbon is created (+) or destroyed (-) in
``CarbonFluxes.carbon_adjustment`` [g C m-2 s-1], so that, to round-off,

    total(new) - total(old) = (gpp - autotrophic_resp - heterotrophic_resp
                               + carbon_adjustment) * dt

The terms (all s.7):

* leaf and stem: ``NPPL - (leafpt CARBFX - RSLEAF - GRLEAF)`` (likewise stem): the
  share of maintenance + growth respiration exceeding the organ's photosynthate is
  counted as respired but not taken from the organ (ADD = max(0, ...)); below TMIN
  the organ's net share is discarded; NPP = max(ADD, -(mass - minimum)/dt) refills
  a pool below its minimum mass (LFMSMN, STMSMN) from nothing;
* root: when RTMASS would turn negative it is set to 0 and the litter flux to
  RTTOVR = NPPR, which destroys the old root mass (``-RTMASS/dt``);
* wood: ``WOOD = (WOOD + (NPPW - WDTOVR) dt) WDPOOL`` destroys a fraction 1 - WDPOOL
  of the wood pool every step (all of it for WDPOOL = 0, half for wetland's 0.5);
* soil: FASTCP loses 1.1 RSSOIL, STBLCP gains 0.1 RSSOIL, but only 0.9 RSSOIL is
  respired (HETERS), so 0.1 RSSOIL vanishes;
* non-vegetated classes (urban, snow/ice, barren, water): all pools are set to 0.

NEE is reported in g C m-2 s-1 (positive = source), not g CO2 as in Noah-MP.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field, fields

import math

import numpy as np

from .jit import LANES, fexp, fmax, fmin, jit, kernel, records, select

#: umol CO2 -> g C (12 g C per mol)  [NMP CO2FLUX] s.7
G_C_PER_UMOL = 12.0e-6
#: Reference temperature of the respiration Q10 factors [K]  [NMP CO2FLUX] s.7
T_RESP_REF = 298.16
#: Minimum LAI and SAI [m2 m-2] (LAIMIN, XSAMIN)  [NMP CO2FLUX] s.7
LAI_MIN = 0.05
SAI_MIN = 0.05
#: Stem area per stem mass [m2 g-1] (SAPM = 3 m2 kg-1)  [NMP CO2FLUX] s.7
SAPM = 0.003
#: Minimum stem mass STMSMN = 0.05/0.003 [g m-2]  [NMP CO2FLUX] s.7
STMSMN = SAI_MIN / SAPM
#: Foliage nitrogen [%], fixed by Noah-MP's initialisation  [NMPDRV] s.1.4
FOLN_DEFAULT = 1.0
#: Cold-start pools [g m-2] (RTMASS, WOOD, STBLCP, FASTCP)  [NMPDRV NOAHMP_INIT] s.1.3
COLD_START_RTMASS = 500.0
COLD_START_WOOD = 500.0
COLD_START_STBLCP = 1000.0
COLD_START_FASTCP = 1000.0
#: Classes of MODIS-IGBP without vegetation, by their MPTABLE names  [MPT] s.9
NON_VEGETATED = ("ISURBAN", "ISICE", "ISBARREN", "ISWATER")
_LN2 = math.log(2.0)


@dataclass(frozen=True)
class CarbonPools:
    """The six carbon pools [g C m-2], arrays of one shape (e.g. (n_members, n_cells)).

    lfmass leaf, stmass stem, rtmass fine root, wood (incl. woody roots), fastcp
    short-lived and stblcp stable soil carbon (noahmp-physics.md s.1.3).
    """

    lfmass: np.ndarray
    stmass: np.ndarray
    rtmass: np.ndarray
    wood: np.ndarray
    fastcp: np.ndarray
    stblcp: np.ndarray

    def total(self) -> np.ndarray:
        """Total carbon of all pools [g C m-2]."""
        return self.lfmass + self.stmass + self.rtmass + self.wood + self.fastcp + self.stblcp


@dataclass(frozen=True)
class CarbonFluxes:
    """Carbon fluxes of one step [g C m-2 s-1] and the new leaf/stem area indices [m2 m-2].

    gpp gross primary production; npp net primary production (NPPL+NPPS+NPPR+NPPW);
    autotrophic_resp maintenance + growth respiration; heterotrophic_resp 0.9 RSSOIL;
    nee = autotrophic + heterotrophic - gpp (carbon, positive = source); carbon_adjustment
    carbon created (+) or destroyed (-) by the scheme (module docstring); lai, sai.
    """

    gpp: np.ndarray
    npp: np.ndarray
    autotrophic_resp: np.ndarray
    heterotrophic_resp: np.ndarray
    nee: np.ndarray
    carbon_adjustment: np.ndarray
    lai: np.ndarray
    sai: np.ndarray


_TABLE_KEYS = ("SLA", "LTOVRC", "DILEFC", "DILEFW", "TDLEF", "RMF25", "RMS25", "RMR25", "ARM",
               "FRAGR", "MRP", "WDPOOL", "WRRAT", "TMIN", "FOLNMX")


@dataclass(frozen=True)
class CarbonParams:
    """Per-column carbon/phenology parameters (arrays (n_cells,) or scalars) [MPT] s.9.3-9.4.

    sla [m2 kg-1]; ltovrc [-] (x 5e-7 s-1); dilefc, dilefw [-] (x 1e-6 s-1); tdlef [K];
    rmf25 [umol CO2 m-2 leaf s-1]; rms25, rmr25 [umol CO2 kg-1 s-1]; arm [-] Q10;
    fragr [-]; mrp [umol CO2 kg-1 C s-1]; wdpool [-]; wrrat [-]; tmin [K]; folnmx [%];
    vegetated (False for urban, snow/ice, barren, water: skipped); leaf_exp the
    allocation exponent (0.75; 0.5 for evergreen broadleaf); foln [%] foliage nitrogen.
    Derived fields are filled in on creation.
    """

    sla: np.ndarray
    ltovrc: np.ndarray
    dilefc: np.ndarray
    dilefw: np.ndarray
    tdlef: np.ndarray
    rmf25: np.ndarray
    rms25: np.ndarray
    rmr25: np.ndarray
    arm: np.ndarray
    fragr: np.ndarray
    mrp: np.ndarray
    wdpool: np.ndarray
    wrrat: np.ndarray
    tmin: np.ndarray
    folnmx: np.ndarray
    vegetated: np.ndarray
    leaf_exp: np.ndarray
    foln: float = FOLN_DEFAULT
    # derived
    lapm: np.ndarray = field(init=False, repr=False)      # leaf area per mass [m2 g-1]
    lfmsmn: np.ndarray = field(init=False, repr=False)    # minimum leaf mass [g m-2]
    ln_arm: np.ndarray = field(init=False, repr=False)    # ln(ARM)
    fnf: np.ndarray = field(init=False, repr=False)       # min(FOLN/FOLNMX, 1)
    all_vegetated: bool = field(init=False, repr=False)
    veg_f: np.ndarray = field(init=False, repr=False)     # 1.0 vegetated, 0.0 skipped
    shape: tuple = field(init=False, repr=False)          # broadcast shape of the arrays

    def __post_init__(self):
        put = object.__setattr__
        for f in fields(self):
            if f.init and f.name not in ("vegetated", "foln"):
                put(self, f.name, np.asarray(getattr(self, f.name), dtype=np.float64))
        veg = np.asarray(self.vegetated, dtype=bool)
        put(self, "vegetated", veg)
        put(self, "foln", float(self.foln))
        # LAPM = SLA/1000, LFMSMN = LAIMIN/LAPM  [NMP CO2FLUX] s.7 (0 where not vegetated)
        lapm = np.where(veg, self.sla * 1.0e-3, 0.0)
        put(self, "lapm", lapm)
        put(self, "lfmsmn", np.where(veg, LAI_MIN / np.where(veg, lapm, 1.0), 0.0))
        put(self, "ln_arm", np.log(self.arm))
        put(self, "veg_f", veg.astype(np.float64))
        put(self, "shape", np.broadcast_shapes(*(np.shape(getattr(self, f.name))
                                                 for f in fields(self) if f.init)))
        # FNF = min(FOLN / max(1e-6, FOLNMX), 1)  [NMP CO2FLUX] s.7
        put(self, "fnf", np.minimum(self.foln / np.maximum(self.folnmx, 1.0e-6), 1.0))
        put(self, "all_vegetated", bool(np.all(veg)))

    def record_fields(self) -> dict:
        """The fields :func:`carbon_column` and friends read from their parameter record."""
        return {k: getattr(self, "veg_f" if k == "vegetated" else k) for k in CARBON_FIELDS}


def carbon_params(table, classes, foln: float = FOLN_DEFAULT) -> CarbonParams:
    """Per-column :class:`CarbonParams` from a ``VegetationTable`` and 1-based class numbers."""
    classes = np.asarray(classes)
    values = {k.lower(): table.column(k, classes) for k in _TABLE_KEYS}
    skipped = [table.special[name] for name in NON_VEGETATED]
    # allocation exponent 0.75, 0.5 for the evergreen broadleaf class  [NMP CO2FLUX] s.7
    leaf_exp = np.where(classes == table.special["EBLFOREST"], 0.5, 0.75)
    return CarbonParams(**values, vegetated=~np.isin(classes, skipped), leaf_exp=leaf_exp,
                        foln=foln)


def cold_start_pools(lai, sai, p: CarbonParams) -> CarbonPools:
    """Initial pools from LAI and SAI [m2 m-2] ([NMPDRV NOAHMP_INIT] noahmp-physics.md s.1.3).

    LFMASS = LAI 1000/SLA, STMASS = SAI 1000/3, RTMASS = WOOD = 500, FASTCP = STBLCP
    = 1000 g m-2 (values the source calls arbitrary: spin up). Non-vegetated classes
    get all pools 0 (carbon_step would zero them anyway). Shape: lai, sai and p broadcast.
    """
    lai = np.asarray(lai, dtype=np.float64)
    sai = np.asarray(sai, dtype=np.float64)
    one = np.broadcast_to(p.veg_f, np.broadcast_shapes(lai.shape, sai.shape, p.shape))
    lfmass = lai / np.where(p.vegetated, p.lapm, 1.0) * one     # 0 where skipped
    stmass = sai * (1.0 / SAPM) * one
    return CarbonPools(lfmass=lfmass, stmass=stmass, rtmass=COLD_START_RTMASS * one,
                       wood=COLD_START_WOOD * one, fastcp=COLD_START_FASTCP * one,
                       stblcp=COLD_START_STBLCP * one)


@jit
def area_indices_column(lfmass, stmass, p):
    """(LAI, SAI) [m2 m-2] of leaf and stem carbon [g m-2]: max(LFMASS SLA/1000, 0.05), max(STMASS 0.003, 0.05).

    Both 0 for non-vegetated classes  ([NMP CO2FLUX] noahmp-physics.md s.7).
    """
    veg = p.vegetated != 0.0
    return (fmax(lfmass * p.lapm, LAI_MIN) if veg else 0.0), (fmax(stmass * SAPM, SAI_MIN) if veg else 0.0)


@jit
def phenology_column(lai, sai, snowh, tv, p):
    """Leaf and stem area checks, burial by snow and the growing season (Noah-MP PHENOLOGY with DVEG 2/5).

    lai, sai [m2 m-2] below 0.05 count as none (LAI also where SAI is none); both 0 for
    non-vegetated classes.  Snow of depth snowh [m] buries the canopy between its bottom
    hvb and top hvt [m]; for canopies up to 1 m tall the buried fraction is
    min(h, h_c)/h_c with h_c = hvt exp(-h/0.2).  The exposed areas ELAI, ESAI below 0.05
    count as none.  IGS = 1 when the leaf temperature tv [K] exceeds TMIN.

    Returns (lai, sai, elai, esai, igs).
    """
    vegetated = p.vegetated != 0.0
    sai = select(sai < 0.05, 0.0, sai)
    lai = select((lai < 0.05) | (sai == 0.0), 0.0, lai)
    lai = select(vegetated, lai, 0.0)
    sai = select(vegetated, sai, 0.0)
    span = p.hvt - p.hvb
    fb = fmin(fmax(snowh - p.hvb, 0.0), span) / fmax(1.0e-6, span)
    snowhc = p.hvt * fexp(-snowh / 0.2)
    short = select(snowhc > 1.0e-6, fmin(snowh, snowhc) / snowhc, 1.0)
    fb = select((p.hvt > 0.0) & (p.hvt <= 1.0), short, fb)
    elai = lai * (1.0 - fb)
    esai = sai * (1.0 - fb)
    esai = select(esai < 0.05, 0.0, esai)
    elai = select((elai < 0.05) | (esai == 0.0), 0.0, elai)
    igs = select(tv > p.tmin, 1.0, 0.0)
    return lai, sai, elai, esai, igs


@jit
def vegetation_fraction_column(dveg, lai, sai, elai, esai, p):
    """Green vegetation fraction FVEG [-] (NOAHMP_SFLX).

    DVEG 2: 1 - exp(-0.52 (LAI + SAI)); DVEG 5: the cell's maximum SHDMAX (p.shdmax);
    at least 0.05; 0 for non-vegetated classes and where the snow buries the whole
    canopy (ELAI + ESAI = 0).
    """
    fveg = fmax(select(dveg == 5, p.shdmax, 1.0 - fexp(-0.52 * (lai + sai))), 0.05)
    return select((p.vegetated == 0.0) | (elai + esai == 0.0), 0.0, fveg)


@jit
def carbon_column(lf, st, rt, wd, fc, sb, gpp_psn, lai, tv, stc1, btran, w_root, igs, dt, p):
    """Advance the carbon pools of one column by one step ([NMP CARBON, CO2FLUX] noahmp-physics.md s.7).

    lf, st, rt, wd, fc, sb  the pools LFMASS, STMASS, RTMASS, WOOD, FASTCP, STBLCP [g C m-2]
    gpp_psn canopy photosynthesis PSN [umol CO2 m-2 (ground) s-1] (sunlit + shaded)
    lai     current leaf area index [m2 m-2] (the one the canopy used this step)
    tv      leaf temperature [K];  stc1  top soil layer temperature [K]
    btran   soil-water stress factor [0-1] (WSTRES = 1 - BTRAN)
    w_root  root-zone wetness [0-1] = sum over root layers (SMC/SMCMAX) dz / z_root
    igs     growing-season flag (0/1);  dt  time step [s]
    p       parameter record (:meth:`CarbonParams.record_fields`)

    Returns the new pools (lf, st, rt, wd, fc, sb) [g C m-2], the fluxes (gpp, npp,
    autotrophic_resp, heterotrophic_resp, nee, carbon_adjustment) [g C m-2 s-1] and the
    new (lai, sai) [m2 m-2] (see :class:`CarbonFluxes`).  Non-vegetated classes: all
    pools, fluxes, LAI and SAI are 0 (their old pools appear in carbon_adjustment).
    """
    inv_dt = 1.0 / dt
    # --- maintenance respiration [g C m-2 s-1]  s.7
    # k = TF RF, TF = ARM^((Tv - 298.16)/10), RF = 1 in the growing season, else 0.5
    k = fexp((tv - T_RESP_REF) * (p.ln_arm * 0.1)) * (1.0 if igs != 0 else 0.5)
    lfdel = (lf - p.lfmsmn) * inv_dt                  # (LFMASS - LFMSMN)/dt
    stdel = (st - STMSMN) * inv_dt                    # (STMASS - STMSMN)/dt
    # RSLEAF = min((LFMASS-LFMSMN)/dt, RMF25 TF FNF LAI RF (1-WSTRES) 12e-6), 1-WSTRES = BTRAN
    rsleaf = fmin(lfdel, k * (p.rmf25 * p.fnf * G_C_PER_UMOL) * lai * btran)
    k = k * (1.0e-3 * G_C_PER_UMOL)                   # per kg biomass, umol -> g C
    rsstem = (st - STMSMN) * p.rms25 * k              # RMS25 (STMASS-STMSMN)/1000 TF RF 12e-6
    rsroot = rt * p.rmr25 * k                         # RMR25 RTMASS/1000 TF RF 12e-6
    # RSWOOD = 3e-10 exp(0.08 (Tv - 298.16)) WOOD WDPOOL
    rswood = fexp(0.08 * (tv - T_RESP_REF)) * wd * (3.0e-10 * p.wdpool)
    ra = rsleaf + rsstem + rsroot + rswood

    # --- allocation of CARBFX = PSN 12e-6 (= GPP)  s.7
    gpp = gpp_psn * G_C_PER_UMOL
    # leafpt = exp(0.01 (1 - exp(0.75 LAI)) LAI)  (0.5 for evergreen broadleaf)
    leafpt = fexp((1.0 - fexp(p.leaf_exp * lai)) * (0.01 * lai))
    # stempt = LAI/10 leafpt; leaf keeps leafpt - stempt; net_x = x_pt CARBFX - RS_x
    net_s = leafpt * lai * 0.1 * gpp
    net_l = leafpt * gpp - net_s - rsleaf
    net_s = net_s - rsstem
    nonlef = (1.0 - leafpt) * gpp                     # nonlef CARBFX
    # woodf = WDPOOL (1 - exp(-0.9 WRRAT RTMASS/WOOD)/0.9) if WOOD > 1e-6 else WDPOOL
    woodf = fexp(rt / fmax(wd, 1.0e-6) * (-0.9 * p.wrrat)) * (1.0 if wd > 1.0e-6 else 0.0)
    net_w = (woodf * (-1.0 / 0.9) + 1.0) * p.wdpool * nonlef   # woodpt CARBFX = nonlef woodf CARBFX
    net_r = nonlef - net_w - rsroot                   # rootpt CARBFX = nonlef (1-woodf) CARBFX
    net_w = net_w - rswood

    # --- growth respiration GR_x = max(0, FRAGR (x_pt CARBFX - RS_x)); net_x -= GR_x  s.7
    gr = fmax(net_l * p.fragr, 0.0)
    ra = ra + gr
    net_l = net_l - gr
    gr = fmax(net_s * p.fragr, 0.0)
    ra = ra + gr
    net_s = net_s - gr
    gr = fmax(net_r * p.fragr, 0.0)
    ra = ra + gr
    net_r = net_r - gr                                # NPPR
    gr = fmax(net_w * p.fragr, 0.0)
    ra = ra + gr
    net_w = net_w - gr                                # NPPW

    # --- cold and drought death (Dickinson et al. 1998)  s.7
    # die = 1e-6 (DILEFW exp((WSTRES-1) 100) + DILEFC exp(-0.3 max(0, Tv-TDLEF)) LFMASS/120)
    die = fexp(btran * -100.0) * (1.0e-6 * p.dilefw)
    die = die + fexp(fmax(tv - p.tdlef, 0.0) * -0.3) * lf * (p.dilefc * (1.0e-6 / 120.0))
    dielf = lf * die                                  # DIELF
    diest = die * st                                  # DIEST

    # --- net growth with the TMIN cut-off; leaf and stem update  s.7
    warm = 1.0 if tv >= p.tmin else 0.0               # T_v < TMIN: ADDNPPLF = ADDNPPST = 0
    ltov = p.ltovrc * 5.0e-7                          # leaf/stem turnover [s-1]
    # leaf: ADD = max(0, x_pt CARBFX - GR - RS); NPP_x = max(ADD, -(mass - min)/dt); turnover LTOVRC 5e-7 mass;
    # DIE = min(DIE, (mass-min)/dt + ADD - TOVR); mass += (NPP - TOVR - DIE) dt
    add = fmax(net_l, 0.0) * warm
    npp_l = fmax(add, -lfdel)
    tovr_l = lf * ltov
    dielf = fmin(dielf, lfdel + add - tovr_l)
    adjust = npp_l - net_l                            # carbon created by the clip (adjustment)
    lf_new = (npp_l - tovr_l - dielf) * dt + lf
    tovr_l = tovr_l + dielf
    # stem, the same
    add = fmax(net_s, 0.0) * warm
    npp_s = fmax(add, -stdel)
    tovr_s = st * ltov
    diest = fmin(diest, stdel + add - tovr_s)
    adjust = adjust + (npp_s - net_s)                 # NPPL - (leafpt CARBFX - GRLEAF - RSLEAF) + same for the stem
    st_new = (npp_s - tovr_s - diest) * dt + st
    tovr_s = tovr_s + diest
    litter = tovr_l + tovr_s                          # LFTOVR + DIELF + STTOVR + DIEST
    npp = npp_l + npp_s

    # --- fine roots: RTMASS += (NPPR - RTTOVR) dt; if < 0: RTMASS = 0, RTTOVR = NPPR  s.7
    rttovr = rt * 2.0e-8
    rt_new = (net_r - rttovr) * dt + rt
    no_roots = rt_new < 0.0
    rttovr = net_r if no_roots else rttovr
    adjust = (adjust - rt * inv_dt) if no_roots else adjust    # the old root mass is destroyed
    rt_new = 0.0 if no_roots else rt_new
    litter = litter + rttovr
    npp = npp + net_r

    # --- wood: WOOD = (WOOD + (NPPW - WDTOVR) dt) WDPOOL  s.7
    wdtovr = wd * 9.5e-10
    litter = litter + wdtovr
    wd_new = (net_w - wdtovr) * dt + wd
    adjust = adjust + wd_new * ((p.wdpool - 1.0) * inv_dt)    # the fraction 1 - WDPOOL vanishes
    wd_new = wd_new * p.wdpool
    npp = npp + net_w

    # --- soil carbon  s.7
    fc_new = litter * dt + fc                         # FASTCP += litter dt
    # RSSOIL = f_W f_T MRP max(0, FASTCP/1000) 12e-6, f_T = 2^((STC1-283.16)/10),
    # f_W = W_root/(0.20 + W_root) 0.23/(0.23 + W_root)
    f_t = fexp((_LN2 * 0.1) * (stc1 - 283.16))
    f_w = w_root / (0.20 + w_root) * (0.23 / (0.23 + w_root))
    rh = fmax(fc_new, 0.0) * (p.mrp * (1.0e-3 * G_C_PER_UMOL)) * (f_t * f_w)   # RSSOIL
    fc_new = fc_new - rh * (1.1 * dt)                 # FASTCP -= (RSSOIL + 0.1 RSSOIL) dt
    sb_new = sb + rh * (0.1 * dt)                     # STBLCP += 0.1 RSSOIL dt
    adjust = adjust - rh * 0.1                        # 0.1 RSSOIL is neither pooled nor respired
    rh = rh * 0.9                                     # HETERS = 0.9 RSSOIL
    nee = ra + rh - gpp                               # NEE = AUTORS + HETERS - GPP (g C)
    lai_new, sai_new = area_indices_column(lf_new, st_new, p)
    if p.vegetated != 0.0:
        return (lf_new, st_new, rt_new, wd_new, fc_new, sb_new, gpp, npp, ra, rh, nee, adjust, lai_new, sai_new)
    # skipped classes: everything 0 (branch-free above, so that the lanes vectorise)
    total = lf + st + rt + wd + fc + sb
    return (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -(total * inv_dt), 0.0, 0.0)


# --- the carbon of a chunk of columns, in SIMD lanes ----------------------------------------------
#: The parameter fields of :func:`carbon_column` (:meth:`CarbonParams.record_fields`), as the lanes carry them.
CARBON_FIELDS = ("lapm", "lfmsmn", "ln_arm", "fnf", "rmf25", "rms25", "rmr25", "wdpool", "leaf_exp", "wrrat",
                 "fragr", "dilefw", "dilefc", "tdlef", "tmin", "ltovrc", "mrp", "vegetated")
CarbonRecord = namedtuple("CarbonRecord", CARBON_FIELDS)
#: Rows of the lane block (``K[row * LANES + l]``): the caller fills the inputs (the arguments of
#: :func:`carbon_column` and the CARBON_FIELDS) and reads the outputs (its results, in order).
CARBON_IN = ("lf", "st", "rt", "wd", "fc", "sb", "psn", "lai", "tv", "stc1", "btran", "wroot", "igs") + CARBON_FIELDS
CARBON_OUT = ("lf_new", "st_new", "rt_new", "wd_new", "fc_new", "sb_new", "gpp", "npp", "ra", "rh", "nee", "adjust",
              "lai_new", "sai_new")
CARBON_ROWS = {name: i for i, name in enumerate(CARBON_IN + CARBON_OUT)}
CARBON_BLOCK = len(CARBON_ROWS) * LANES
_P0 = len(CARBON_IN) - len(CARBON_FIELDS)
_O0 = len(CARBON_IN)


@jit
def carbon_lanes(K, dt):
    """:func:`carbon_column` of the LANES columns of the lane block K (CARBON_ROWS), side by side in SIMD lanes."""
    L = LANES
    for l in range(L):
        p = CarbonRecord(K[_P0 * L + l], K[(_P0 + 1) * L + l], K[(_P0 + 2) * L + l], K[(_P0 + 3) * L + l],
                         K[(_P0 + 4) * L + l], K[(_P0 + 5) * L + l], K[(_P0 + 6) * L + l], K[(_P0 + 7) * L + l],
                         K[(_P0 + 8) * L + l], K[(_P0 + 9) * L + l], K[(_P0 + 10) * L + l], K[(_P0 + 11) * L + l],
                         K[(_P0 + 12) * L + l], K[(_P0 + 13) * L + l], K[(_P0 + 14) * L + l],
                         K[(_P0 + 15) * L + l], K[(_P0 + 16) * L + l], K[(_P0 + 17) * L + l])
        r = carbon_column(K[l], K[L + l], K[2 * L + l], K[3 * L + l], K[4 * L + l], K[5 * L + l], K[6 * L + l],
                          K[7 * L + l], K[8 * L + l], K[9 * L + l], K[10 * L + l], K[11 * L + l], K[12 * L + l], dt, p)
        for k in range(14):
            K[(_O0 + k) * L + l] = r[k]


# --- array interfaces (the tests, diagnostics) -----------------------------------------

@kernel
def _carbon_loop(inputs, dt, p, out):
    for i in range(p.size):
        r = carbon_column(inputs[0, i], inputs[1, i], inputs[2, i], inputs[3, i], inputs[4, i], inputs[5, i],
                          inputs[6, i], inputs[7, i], inputs[8, i], inputs[9, i], inputs[10, i], inputs[11, i],
                          inputs[12, i], dt, p[i])
        for k in range(14):
            out[k, i] = r[k]


@kernel
def _area_loop(lf, st, p, lai, sai):
    for i in range(p.size):
        lai[i], sai[i] = area_indices_column(lf[i], st[i], p[i])


def _broadcast(shape, *values):
    return [np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1) for v in values]


def area_indices(pools: CarbonPools, p: CarbonParams):
    """(LAI, SAI) [m2 m-2] of the pools, arrays of the broadcast shape (:func:`area_indices_column`)."""
    shape = np.broadcast_shapes(np.shape(pools.lfmass), np.shape(pools.stmass), p.shape)
    lai, sai = np.empty(shape), np.empty(shape)
    _area_loop(*_broadcast(shape, pools.lfmass, pools.stmass), records(p.record_fields(), shape).reshape(-1),
               lai.reshape(-1), sai.reshape(-1))
    return lai, sai


def carbon_step(pools: CarbonPools, gpp_psn, lai, tv, stc1, btran, w_root, igs, dt, p: CarbonParams):
    """:func:`carbon_column` of arrays that broadcast: ``(new CarbonPools, CarbonFluxes)`` of the broadcast shape.

    Arguments as :func:`carbon_column` (the pools as a :class:`CarbonPools`, the
    parameters as :class:`CarbonParams`).
    """
    values = (pools.lfmass, pools.stmass, pools.rtmass, pools.wood, pools.fastcp, pools.stblcp,
              gpp_psn, lai, tv, stc1, btran, w_root, igs)
    shape = np.broadcast_shapes(*(np.shape(v) for v in values), p.shape)
    n = int(np.prod(shape))
    inputs = np.empty((len(values), n))
    for k, v in enumerate(values):
        inputs[k] = np.broadcast_to(np.asarray(v, dtype=np.float64), shape).reshape(-1)
    out = np.empty((14, n))
    _carbon_loop(inputs, float(dt), records(p.record_fields(), shape).reshape(-1), out)
    r = [out[k].reshape(shape) for k in range(14)]
    new = CarbonPools(lfmass=r[0], stmass=r[1], rtmass=r[2], wood=r[3], fastcp=r[4], stblcp=r[5])
    fluxes = CarbonFluxes(gpp=r[6], npp=r[7], autotrophic_resp=r[8], heterotrophic_resp=r[9], nee=r[10],
                          carbon_adjustment=r[11], lai=r[12], sai=r[13])
    return new, fluxes
