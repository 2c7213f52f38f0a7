"""Leaf photosynthesis and stomatal resistance: Noah-MP's STOMATA, vectorised.

Ball–Berry stomatal conductance coupled to the Farquhar/Collatz leaf model (C3 and
C4), with the leaf boundary layer, solved by Noah-MP's fixed three-pass iteration on
the intercellular CO2 partial pressure ([NMP STOMATA] noahmp-physics.md s.6). The caller
calls :func:`stomata` once for sunlit and once for shaded leaves.

Every function is pure numpy on arrays that broadcast: state such as ``tv`` may be
(n_members, n_cells) while the parameters in :class:`PhotosynthesisParams` are
(n_cells,) (or scalars). No loop runs over columns; the only loop is over the three
iterations of the ci solution.

Units: temperatures K, vapour and partial pressures Pa, resistances s m-1, absorbed PAR
W m-2 (per unit leaf area), rates umol CO2 m-2 (leaf) s-1.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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

# Saturation vapour pressure, Magnus form e = E0 exp(b t / (t + c)), t in deg C.
# Over water: Bolton (1980, Mon. Wea. Rev. 108, eq. 10); over ice: WMO-No. 8 (2008),
# Annex 4.B. noahmp-physics.md s.6 accepts a Magnus/Tetens form (over water above T_f,
# over ice below) in place of Noah-MP's 8th-order polynomials (within 0.5 %).
_E0 = 611.2                    # [Pa] at 0 deg C (Bolton 1980; WMO 2008)
_B_WATER, _C_WATER = 17.67, 243.5     # [-], [deg C] Bolton (1980)
_B_ICE, _C_ICE = 22.46, 272.62        # [-], [deg C] WMO-No. 8 (2008) Annex 4.B
_T0_MAGNUS = 273.15            # [K] the formulas' Celsius origin


def _magnus(t):
    """(e_sat [Pa], b c / (t_c + c)^2 [K-1]) at temperature t [K]; ice below TFRZ."""
    t = np.asarray(t, dtype=np.float64)
    tc = t - _T0_MAGNUS
    ice = t < TFRZ  # switch at T_f (noahmp-physics.md s.6); blended arithmetically (no np.where)
    b = ice * (_B_ICE - _B_WATER) + _B_WATER
    c = ice * (_C_ICE - _C_WATER) + _C_WATER
    den = tc + c
    e = np.exp(b * tc / den)
    e *= _E0
    b *= c
    b /= den * den                           # b c / (t_c + c)^2
    return e, b


def esat(t):
    """Saturation vapour pressure [Pa] at temperature ``t`` [K] (any shape).

    Magnus form over water for t >= T_f = 273.16 K (Bolton 1980), over ice below
    (WMO 2008); agrees with the Wexler/Hyland–Wexler tables within 0.3 % over
    -40..+45 deg C (noahmp-physics.md s.6 allows < 0.5 %).
    """
    return _magnus(t)[0]


def desat_dt(t):
    """Derivative of :func:`esat` with respect to temperature [Pa K-1] at ``t`` [K]."""
    e, k = _magnus(t)
    return e * k  # d/dt of E0 exp(b t/(t+c)) = e b c/(t+c)^2


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
    # derived: logarithms of the Q10-type factors (one exp per response), flags
    ln_akc: np.ndarray = field(init=False, repr=False)
    ln_ako: np.ndarray = field(init=False, repr=False)
    ln_avcmx: np.ndarray = field(init=False, repr=False)
    closed: np.ndarray = field(init=False, repr=False)
    open_f: np.ndarray = field(init=False, repr=False)     # 1.0 where not closed, else 0.0
    closed_rs: np.ndarray = field(init=False, repr=False)  # RS_CLOSED where closed, else 0.0
    shape: tuple = field(init=False, repr=False)           # broadcast shape of the arrays
    any_closed: bool = field(init=False, repr=False)
    all_c3: bool = field(init=False, repr=False)

    def __post_init__(self):
        put = object.__setattr__
        for name in ("vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "akc", "ko25", "ako",
                     "avcmx", "c3psn"):
            put(self, name, np.asarray(getattr(self, name), dtype=np.float64))
        put(self, "co2", float(self.co2))
        put(self, "o2", float(self.o2))
        put(self, "ln_akc", np.log(self.akc))
        put(self, "ln_ako", np.log(self.ako))
        put(self, "ln_avcmx", np.log(self.avcmx))
        put(self, "closed", self.bp >= BP_CLOSED)
        put(self, "open_f", np.where(self.closed, 0.0, 1.0))
        put(self, "closed_rs", np.where(self.closed, RS_CLOSED, 0.0))
        put(self, "shape", np.broadcast_shapes(*(np.shape(getattr(self, k)) for k in (
            "vcmx25", "mp", "bp", "qe25", "folnmx", "kc25", "akc", "ko25", "ako", "avcmx",
            "c3psn"))))
        put(self, "any_closed", bool(np.any(self.closed)))
        put(self, "all_c3", bool(np.all(self.c3psn == 1.0)))


def photosynthesis_params(table, classes) -> PhotosynthesisParams:
    """Per-column :class:`PhotosynthesisParams` from a ``VegetationTable`` and class numbers.

    ``classes`` holds 1-based vegetation class numbers (any shape, usually (n_cells,));
    CO2 and O2 mole fractions come from the table's global group ([MPT] s.9).
    """
    classes = np.asarray(classes)
    col = table.column
    return PhotosynthesisParams(
        vcmx25=col("VCMX25", classes), mp=col("MP", classes), bp=col("BP", classes),
        qe25=col("QE25", classes), folnmx=col("FOLNMX", classes), kc25=col("KC25", classes),
        akc=col("AKC", classes), ko25=col("KO25", classes), ako=col("AKO", classes),
        avcmx=col("AVCMX", classes), c3psn=col("C3PSN", classes),
        co2=table.glob["CO2"], o2=table.glob["O2"])


def _vcmax(tv, x, btran, foln, p):
    """Vcmax [umol m-2 s-1] given x = (T_c - 25)/10 (see :func:`vcmax`)."""
    # f_hot = 1 + exp((-2.2e5 + 710 T)/(8.314 T)), T = T_c + 273.16 = tv  [NMP STOMATA] s.6
    tv = np.asarray(tv, dtype=np.float64)
    f_hot = 1.0 + np.exp((710.0 * tv - 2.2e5) / (RGAS * tv))
    # FNF = min(FOLN / max(MPE, FOLNMX), 1)  [NMP STOMATA] s.6
    fnf = np.minimum(foln / np.maximum(p.folnmx, MPE), 1.0)
    # Vcmax = VCMX25 AVCMX^((T_c-25)/10) / f_hot * FNF * BTRAN  [NMP STOMATA] s.6
    return p.vcmx25 * np.exp(p.ln_avcmx * x) / f_hot * fnf * btran


def vcmax(tv, btran, foln, p: PhotosynthesisParams):
    """Maximum carboxylation rate Vcmax [umol CO2 m-2 s-1] at leaf temperature tv [K].

    Q10-type rise AVCMX^((T_c - 25)/10) damped by the high-temperature inhibition
    f_hot, times the nitrogen factor min(FOLN/FOLNMX, 1) and the soil-water factor
    BTRAN [0-1] ([NMP STOMATA] noahmp-physics.md s.6).
    """
    x = (np.asarray(tv, dtype=np.float64) - (TFRZ + 25.0)) * 0.1
    return _vcmax(tv, x, btran, foln, p)


def stomata(apar, tv, tair, eah, psurf, rb, btran, igs, foln, p: PhotosynthesisParams):
    """Stomatal resistance and net leaf photosynthesis ([NMP STOMATA] noahmp-physics.md s.6).

    apar  absorbed PAR per unit leaf area [W m-2]
    tv    leaf temperature [K];  tair  air temperature [K] (converts resistances)
    eah   canopy-air vapour pressure [Pa];  psurf  surface pressure [Pa]
    rb    leaf boundary-layer resistance [s m-1]
    btran soil-water stress factor [0-1];  igs  growing-season flag (0/1)
    foln  foliage nitrogen [%] (Noah-MP fixes 1.0, noahmp-physics.md s.1.4)
    p     :class:`PhotosynthesisParams`

    All inputs broadcast together. Returns ``(rs, psn)``: stomatal resistance [s m-1]
    and net leaf photosynthesis [umol CO2 m-2 leaf s-1], of the broadcast shape. With
    APAR <= 0 (or IGS = 0, or BTRAN = 0) psn = 0 and the conductance is BP
    (rs = CF/BP); closed classes (BP >= 1e14) give rs = RS_CLOSED and psn = 0.
    """
    apar, tv, tair, eah, psurf, rb, btran, igs, foln = (
        np.asarray(v, dtype=np.float64) for v in (apar, tv, tair, eah, psurf, rb, btran, igs, foln))
    shape = np.broadcast_shapes(apar.shape, tv.shape, tair.shape, eah.shape, psurf.shape,
                                rb.shape, btran.shape, igs.shape, foln.shape, p.shape)
    # --- step constants  [NMP STOMATA] s.6
    # CF = p/(8.314 T_a) 1e6 converts s m2 umol-1 <-> s m-1;  r_lb = r_b / CF
    rlb = rb * (RGAS * 1.0e-6) * tair / psurf
    co2 = p.co2 * psurf          # CO2 partial pressure [Pa]  s.1.4 (395e-6 p)
    x = (tv - (TFRZ + 25.0)) * 0.1          # (T_c - 25)/10 of f(a, T_c) = a^((T_c-25)/10)
    kc = p.kc25 * np.exp(p.ln_akc * x)      # Kc = KC25 f(AKC, T_c)
    o2_ko = (p.o2 * psurf) / (p.ko25 * np.exp(p.ln_ako * x))   # O2/Ko, Ko = KO25 f(AKO, T_c)
    awc = kc * (1.0 + o2_ko)                # Kc (1 + O2/Ko) of W_c
    cp = 0.105 * kc * o2_ko                 # Gamma* = 0.5 Kc/Ko 0.21 O2 [Pa]
    del kc, o2_ko
    vcmx = _vcmax(tv, x, btran, foln, p)
    del x
    # J = 4.6 APAR QE25 [umol m-2 s-1]; APAR <= 0 -> J = 0 -> A = 0, g_s = BP
    j = (PHOTONS_PER_JOULE * p.qe25) * np.maximum(apar, 0.0)
    ei = esat(tv)                           # e_i = e_sat(T_v)
    mixed = not p.all_c3
    if mixed:   # Noah-MP blends the C3 and C4 forms linearly with C3PSN (0 or 1)
        f3 = p.c3psn
        f4 = 1.0 - f3
    # e_s = max(0.25 e_i (C3) | 0.40 e_i (C4), min(e_ah, e_i)); MP e_s/e_i kept as mp_hum
    floor = 0.25 if not mixed else 0.25 * f3 + 0.40 * f4
    mp_hum = np.maximum(floor * ei, np.minimum(eah, ei))
    mp_hum /= ei
    mp_hum *= p.mp
    del ei
    # first ci = 0.7 CO2 (C3) | 0.4 CO2 (C4); W_e = 0.5 Vcmax (C3) | 4000 Vcmax ci/p (C4)
    ci = np.empty(shape)
    ci[...] = co2 * (0.7 if not mixed else 0.7 * f3 + 0.4 * f4)
    we = 0.5 * vcmx if not mixed else None
    d, w1, w2, psn, cs, a, b = (np.empty(shape) for _ in range(7))
    for _ in range(N_ITER):
        np.subtract(ci, cp, out=d)
        np.maximum(d, 0.0, out=d)                            # max(ci - G*, 0)
        np.add(ci, cp, out=w1)
        w1 += cp
        np.divide(j, w1, out=w1)
        w1 *= d                                              # W_j = max(ci-G*,0) J/(ci+2G*)
        np.add(ci, awc, out=w2)
        np.divide(vcmx, w2, out=w2)
        w2 *= d                                              # W_c = max(ci-G*,0) Vcmax/(ci+Kc(1+O2/Ko))
        if mixed:
            w1 *= f3
            w1 += f4 * j                                     # C4: W_j = J
            w2 *= f3
            w2 += f4 * vcmx                                  # C4: W_c = Vcmax
            we = vcmx * (0.5 * f3 + (4000.0 * f4) * ci / psurf)
        np.minimum(w1, w2, out=psn)
        np.minimum(psn, we, out=psn)
        psn *= igs                                           # A = min(W_j, W_c, W_e) IGS
        np.multiply(psn, psurf, out=w1)                      # p A
        # cs = max(CO2 - 1.37 r_lb p A, 1e-6)
        np.multiply(rlb, w1, out=cs)
        cs *= -1.37
        cs += co2
        np.maximum(cs, MPE, out=cs)
        # a r^2 + b r - r_lb = 0 with a = MP A p e_s/(cs e_i) + BP, b = (MP A p/cs + BP) r_lb - 1
        np.divide(w1, cs, out=w2)                            # A p / cs
        np.multiply(mp_hum, w2, out=a)
        a += p.bp
        np.multiply(p.mp, w2, out=b)
        b += p.bp
        b *= rlb
        b -= 1.0
        np.multiply(a, rlb, out=w2)
        w2 *= 4.0
        np.multiply(b, b, out=d)
        w2 += d
        np.sqrt(w2, out=w2)                                  # sq = sqrt(b^2 + 4 a r_lb)
        pos = b >= 0.0
        if pos.any():                                        # stable positive root for b >= 0
            s = np.abs(b) + w2
            np.copyto(a, np.where(pos, 2.0 * rlb / s, s / (2.0 * a)))
        else:                                                # b < 0: r = (sq - b)/(2a)
            np.subtract(w2, b, out=b)
            a *= 2.0
            np.divide(b, a, out=a)
        # ci = max(cs - 1.65 r_s p A, 0)  (a holds r_s [s m2 umol-1])
        np.multiply(a, w1, out=ci)
        ci *= -1.65
        ci += cs
        np.maximum(ci, 0.0, out=ci)
    rs = a
    rs *= psurf / (RGAS * tair) * 1.0e6                      # s m2 umol-1 -> s m-1 (x CF)
    if p.any_closed:
        rs *= p.open_f
        rs += p.closed_rs
        psn *= p.open_f
    return rs, psn
