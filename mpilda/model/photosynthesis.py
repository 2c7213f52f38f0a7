"""Leaf photosynthesis and stomatal resistance: Noah-MP's STOMATA.

Ball–Berry stomatal conductance coupled to the Farquhar/Collatz leaf model (C3 and
C4), with the leaf boundary layer, solved by Noah-MP's fixed three-pass iteration on
the intercellular CO2 partial pressure ([NMP STOMATA] noahmp-physics.md s.6). The model
calls :func:`stomata_leaf` once for sunlit and once for shaded leaves.

The physics are scalar numba functions of one leaf (``p`` a parameter record with the
fields of :class:`PhotosynthesisParams`); :func:`stomata`, :func:`vcmax`, :func:`esat`
and :func:`desat_dt` apply them to arrays that broadcast (state such as ``tv`` may be
(n_members, n_cells) while the parameters are (n_cells,) or scalars).

Units: temperatures K, vapour and partial pressures Pa, resistances s m-1, absorbed PAR
W m-2 (per unit leaf area), rates umol CO2 m-2 (leaf) s-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from .jit import fexp, fmax, fmin, fsqrt, jit, kernel, records
from .surface import saturation

#: Freezing point [K] ([NMP module header] noahmp-physics.md s.1.4).
TFRZ = 273.16
#: Gas constant used by STOMATA [J mol-1 K-1] ([NMP STOMATA] s.6).
RGAS = 8.314
#: Photons per joule of PAR [umol J-1] ([NMP STOMATA] s.6: J = 4.6 APAR QE25).
PHOTONS_PER_JOULE = 4.6
#: Passes of the ci iteration ([NMP STOMATA] s.6: "repeat 3 times").
N_ITER = 3
#: Noah-MP's guard against division by zero (MPE) ([NMP STOMATA] s.6: cs >= 1e-6).
MPE = 1.0e-6
#: Stomatal resistance returned for closed classes (BP >= BP_CLOSED) [s m-1]. Noah-MP
#: gives these classes (urban, snow/ice, water: BP = 1e15, s.9.3) no vegetation at all;
#: its formula would turn BP = 1e15 into a *tiny* resistance, so mpilda returns a huge one.
RS_CLOSED = 1.0e15
#: BP at or above which a class counts as closed [umol m-2 s-1] (MPTABLE uses 1e15, s.9.3).
BP_CLOSED = 1.0e14

@numba.vectorize(["float64(float64)"], cache=True)
def esat(t):
    """Saturation vapour pressure [Pa] at temperature ``t`` [K], any shape (Noah-MP's ESAT, :func:`saturation`)."""
    return saturation(t)[0]


@numba.vectorize(["float64(float64)"], cache=True)
def desat_dt(t):
    """Derivative of :func:`esat` with respect to temperature [Pa K-1] at ``t`` [K] (any shape)."""
    return saturation(t)[1]


_FIELDS = ("vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "akc", "ko25", "ako", "avcmx", "c3psn")


@dataclass(frozen=True)
class PhotosynthesisParams:
    """Per-column photosynthesis parameters (arrays (n_cells,) or scalars) [MPT] s.9.3.

    vcmx25 [umol CO2 m-2 s-1] Vcmax at 25 deg C; mp [-] Ball–Berry slope; bp
    [umol m-2 s-1] minimum conductance (>= 1e14: closed class); qe25 [mol CO2 per mol
    photon] quantum efficiency; folnmx [%] foliage N at saturation; kc25, ko25 [Pa]
    Michaelis–Menten constants at 25 deg C and akc, ako, avcmx [-] their (and Vcmax's)
    Q10-type factors; c3psn 1 = C3, 0 = C4; co2, o2 [mol mol-1] atmospheric mole
    fractions (the table's global group). Derived fields are filled in on creation.
    """

    vcmx25: np.ndarray
    mp: np.ndarray
    bp: np.ndarray
    qe25: np.ndarray
    folnmx: np.ndarray
    kc25: np.ndarray
    akc: np.ndarray
    ko25: np.ndarray
    ako: np.ndarray
    avcmx: np.ndarray
    c3psn: np.ndarray
    co2: float
    o2: float
    closed: np.ndarray = field(init=False, repr=False)     # BP >= BP_CLOSED
    shape: tuple = field(init=False, repr=False)           # broadcast shape of the arrays
    all_c3: bool = field(init=False, repr=False)

    def __post_init__(self):
        put = object.__setattr__
        for name in _FIELDS:
            put(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        put(self, "co2", float(self.co2))
        put(self, "o2", float(self.o2))
        put(self, "closed", self.bp >= BP_CLOSED)
        put(self, "shape", np.broadcast_shapes(*(np.shape(getattr(self, k)) for k in _FIELDS)))
        put(self, "all_c3", bool(np.all(self.c3psn == 1.0)))

    def record_fields(self) -> dict:
        """The fields :func:`stomata_leaf` reads from its parameter record (logarithms of the Q10-type factors)."""
        out = {k: getattr(self, k) for k in ("vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "ko25", "c3psn")}
        out.update(ln_akc=np.log(self.akc), ln_ako=np.log(self.ako), ln_avcmx=np.log(self.avcmx),
                   co2=self.co2, o2=self.o2)
        return out


def photosynthesis_params(table, classes) -> PhotosynthesisParams:
    """Per-column :class:`PhotosynthesisParams` from a ``VegetationTable`` and class numbers.

    ``classes`` holds 1-based vegetation class numbers (any shape, usually (n_cells,));
    CO2 and O2 mole fractions come from the table's global group ([MPT] s.9).
    """
    classes = np.asarray(classes)
    col = table.column
    return PhotosynthesisParams(**{k: col(k.upper(), classes) for k in _FIELDS},
                                co2=table.glob["CO2"], o2=table.glob["O2"])


@jit
def _vcmax(tv, x, btran, foln, p):
    """Vcmax [umol m-2 s-1] given x = (T_c - 25)/10 (see :func:`vcmax_leaf`)."""
    # f_hot = 1 + exp((-2.2e5 + 710 T)/(8.314 T)), T = T_c + 273.16 = tv  [NMP STOMATA] s.6
    f_hot = 1.0 + fexp((710.0 * tv - 2.2e5) / (RGAS * tv))
    # FNF = min(FOLN / max(MPE, FOLNMX), 1)  [NMP STOMATA] s.6
    fnf = fmin(foln / fmax(p.folnmx, MPE), 1.0)
    # Vcmax = VCMX25 AVCMX^((T_c-25)/10) / f_hot * FNF * BTRAN  [NMP STOMATA] s.6
    return p.vcmx25 * fexp(p.ln_avcmx * x) / f_hot * fnf * btran


@jit
def vcmax_leaf(tv, btran, foln, p):
    """Maximum carboxylation rate Vcmax [umol CO2 m-2 s-1] at leaf temperature tv [K].

    Q10-type rise AVCMX^((T_c - 25)/10) damped by the high-temperature inhibition
    f_hot, times the nitrogen factor min(FOLN/FOLNMX, 1) (foliage nitrogen FOLN [%])
    and the soil-water factor BTRAN [0-1] ([NMP STOMATA] noahmp-physics.md s.6).
    """
    x = (tv - (TFRZ + 25.0)) * 0.1
    return _vcmax(tv, x, btran, foln, p)


@jit
def leaf_conditions(tv, ei, tair, eah, psurf, rb, btran, igs, foln, p):
    """The parts of :func:`stomata_leaf` that are the same for every leaf of a canopy (all but the light).

    Arguments as :func:`stomata_leaf`, and ei the saturation vapour pressure at the leaf
    temperature [Pa]; returns a tuple for :func:`stomata_light`.
    """
    # --- step constants  [NMP STOMATA] s.6
    # CF = p/(8.314 T_a) 1e6 converts s m2 umol-1 <-> s m-1;  r_lb = r_b / CF
    rlb = rb * (RGAS * 1.0e-6) * tair / psurf
    co2 = p.co2 * psurf          # CO2 partial pressure [Pa]  s.1.4 (395e-6 p)
    x = (tv - (TFRZ + 25.0)) * 0.1          # (T_c - 25)/10 of f(a, T_c) = a^((T_c-25)/10)
    kc = p.kc25 * fexp(p.ln_akc * x)        # Kc = KC25 f(AKC, T_c)
    o2_ko = (p.o2 * psurf) / (p.ko25 * fexp(p.ln_ako * x))       # O2/Ko, Ko = KO25 f(AKO, T_c)
    awc = kc * (1.0 + o2_ko)                # Kc (1 + O2/Ko) of W_c
    cp = 0.105 * kc * o2_ko                 # Gamma* = 0.5 Kc/Ko 0.21 O2 [Pa]
    vcmx = _vcmax(tv, x, btran, foln, p)
    mixed = p.c3psn != 1.0   # Noah-MP blends the C3 and C4 forms linearly with C3PSN (0 or 1)
    f3 = p.c3psn
    f4 = 1.0 - f3
    # e_s = max(0.25 e_i (C3) | 0.40 e_i (C4), min(e_ah, e_i)); MP e_s/e_i kept as mp_hum
    floor = 0.25 * f3 + 0.40 * f4 if mixed else 0.25
    mp_hum = fmax(floor * ei, fmin(eah, ei)) / ei * p.mp
    # first ci = 0.7 CO2 (C3) | 0.4 CO2 (C4)
    ci0 = co2 * (0.7 * f3 + 0.4 * f4 if mixed else 0.7)
    cf = psurf / (RGAS * tair) * 1.0e6      # s m2 umol-1 -> s m-1
    return rlb, co2, awc, cp, vcmx, mp_hum, ci0, cf, psurf, igs, mixed, f3, f4


@jit
def stomata_light(apar, c, p):
    """Stomatal resistance [s m-1] and net photosynthesis [umol CO2 m-2 s-1] of a leaf absorbing ``apar``
    [W m-2] under the :func:`leaf_conditions` ``c`` (see :func:`stomata_leaf`)."""
    rlb, co2, awc, cp, vcmx, mp_hum, ci, cf, psurf, igs, mixed, f3, f4 = c
    # J = 4.6 APAR QE25 [umol m-2 s-1]; APAR <= 0 -> J = 0 -> A = 0, g_s = BP
    j = (PHOTONS_PER_JOULE * p.qe25) * fmax(apar, 0.0)
    we = 0.5 * vcmx                  # W_e = 0.5 Vcmax (C3) | 4000 Vcmax ci/p (C4)
    psn = 0.0
    r = 0.0
    for _ in range(N_ITER):
        d = fmax(ci - cp, 0.0)                       # max(ci - G*, 0)
        w1 = j / (ci + cp + cp) * d                  # W_j = max(ci-G*,0) J/(ci+2G*)
        w2 = vcmx / (ci + awc) * d                   # W_c = max(ci-G*,0) Vcmax/(ci+Kc(1+O2/Ko))
        if mixed:
            w1 = w1 * f3 + f4 * j                    # C4: W_j = J
            w2 = w2 * f3 + f4 * vcmx                 # C4: W_c = Vcmax
            we = vcmx * (0.5 * f3 + (4000.0 * f4) * ci / psurf)
        psn = fmin(fmin(w1, w2), we) * igs           # A = min(W_j, W_c, W_e) IGS
        pa = psn * psurf                             # p A
        # cs = max(CO2 - 1.37 r_lb p A, 1e-6)
        cs = fmax(rlb * pa * -1.37 + co2, MPE)
        # a r^2 + b r - r_lb = 0 with a = MP A p e_s/(cs e_i) + BP, b = (MP A p/cs + BP) r_lb - 1
        pa_cs = pa / cs                              # A p / cs
        qa = mp_hum * pa_cs + p.bp
        qb = (p.mp * pa_cs + p.bp) * rlb - 1.0
        sq = fsqrt(qa * rlb * 4.0 + qb * qb)     # sqrt(b^2 + 4 a r_lb)
        # the positive root: 2 r_lb/(|b| + sq) for b >= 0 (stable), (sq - b)/(2a) for b < 0 (one division)
        positive = qb >= 0.0
        r = (2.0 * rlb if positive else sq - qb) / (abs(qb) + sq if positive else qa * 2.0)
        # ci = max(cs - 1.65 r_s p A, 0)  (r_s [s m2 umol-1])
        ci = fmax(r * pa * -1.65 + cs, 0.0)
    rs = r * cf                                      # s m2 umol-1 -> s m-1 (x CF)
    if p.bp >= BP_CLOSED:
        rs = rs * 0.0 + RS_CLOSED
        psn = psn * 0.0
    return rs, psn


@jit
def stomata_leaf(apar, tv, tair, eah, psurf, rb, btran, igs, foln, p):
    """Stomatal resistance and net photosynthesis of a leaf ([NMP STOMATA] noahmp-physics.md s.6).

    apar  absorbed PAR per unit leaf area [W m-2]
    tv    leaf temperature [K];  tair  air temperature [K] (converts resistances)
    eah   canopy-air vapour pressure [Pa];  psurf  surface pressure [Pa]
    rb    leaf boundary-layer resistance [s m-1]
    btran soil-water stress factor [0-1];  igs  growing-season flag (0/1)
    foln  foliage nitrogen [%] (Noah-MP fixes 1.0, noahmp-physics.md s.1.4)
    p     parameter record: vcmx25, mp, bp, qe25, folnmx, kc25, ko25, c3psn, ln_akc,
          ln_ako, ln_avcmx, co2, o2 (see :class:`PhotosynthesisParams`)

    Returns ``(rs, psn)``: stomatal resistance [s m-1] and net leaf photosynthesis
    [umol CO2 m-2 leaf s-1]. With APAR <= 0 (or IGS = 0, or BTRAN = 0) psn = 0 and the
    conductance is BP (rs = CF/BP); closed classes (BP >= 1e14) give rs = RS_CLOSED and psn = 0.
    The model computes :func:`leaf_conditions` once for the sunlit and the shaded leaves.
    """
    return stomata_light(apar, leaf_conditions(tv, saturation(tv)[0], tair, eah, psurf, rb, btran, igs, foln, p), p)


@kernel
def _stomata_loop(apar, tv, tair, eah, psurf, rb, btran, igs, foln, p, rs, psn):
    for i in range(rs.size):
        rs[i], psn[i] = stomata_leaf(apar[i], tv[i], tair[i], eah[i], psurf[i], rb[i], btran[i], igs[i], foln[i],
                                     p[i])


@kernel
def _vcmax_loop(tv, btran, foln, p, out):
    for i in range(out.size):
        out[i] = vcmax_leaf(tv[i], btran[i], foln[i], p[i])


def _flat(shape, *values):
    return [np.ascontiguousarray(np.broadcast_to(np.asarray(v, dtype=np.float64), shape)).reshape(-1)
            for v in values]


def vcmax(tv, btran, foln, p: PhotosynthesisParams):
    """:func:`vcmax_leaf` of arrays that broadcast with the parameters (see there)."""
    shape = np.broadcast_shapes(np.shape(tv), np.shape(btran), np.shape(foln), p.shape)
    out = np.empty(shape)
    _vcmax_loop(*_flat(shape, tv, btran, foln), records(p.record_fields(), shape).reshape(-1), out.reshape(-1))
    return out


def stomata(apar, tv, tair, eah, psurf, rb, btran, igs, foln, p: PhotosynthesisParams):
    """:func:`stomata_leaf` of arrays that broadcast with the parameters: (rs, psn) of the broadcast shape."""
    values = (apar, tv, tair, eah, psurf, rb, btran, igs, foln)
    shape = np.broadcast_shapes(*(np.shape(v) for v in values), p.shape)
    rs, psn = np.empty(shape), np.empty(shape)
    _stomata_loop(*_flat(shape, *values), records(p.record_fields(), shape).reshape(-1), rs.reshape(-1),
                  psn.reshape(-1))
    return rs, psn
