"""Numba compilation of the model's physics: the decorator, numpy-like scalar helpers, parameter records.

Every physics function of the model is a scalar ``@jit`` function working on one
column (``jit`` = ``numba.njit(cache=True, error_model="numpy", forceinline=True)``:
IEEE division, inf/NaN instead of exceptions, like numpy).  ``NoahMP.step`` calls
one compiled kernel that loops over the columns, a chunk of lanes at a time; the
functions are inlined into its lane loops, which the compiler turns into SIMD code.
Small array wrappers give the tests and the callers array interfaces over the same
scalar functions.

**Cache.** Compiled code is cached in ``__pycache__`` next to the modules (numba's
in-tree cache; ``NUMBA_CACHE_DIR`` or a user-wide directory when that is not
writable).  Numba keys a function's cache on its *own* source file only, but the
model's kernel inlines functions of every module here, so an edit of, say,
``soil_water.py`` would leave a stale ``noahmp`` kernel in the cache.  The cache
locators below therefore stamp every function of ``mpilda/model`` with a hash of
*all* the package's model sources: any edit recompiles the whole model once.

**NaN.** ``fmax``/``fmin``/``clip`` propagate NaN as numpy's ``maximum``/``minimum``/
``clip`` do (Python's ``max``/``min`` may drop a NaN), so a NaN in the forcing or
the state reaches the balance checks instead of being hidden.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import math

import numba
import numpy as np
from llvmlite import ir as llvm_ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

MODEL_DIR = Path(__file__).resolve().parent
#: Columns solved together in the SIMD lanes of the kernel's vectorised stages (a multiple of any SIMD width).
LANES = 16


def _sources_stamp() -> str:
    """Hash of every Python source of the model package (the cache stamp of all its compiled functions)."""
    h = hashlib.sha256(numba.__version__.encode())
    for path in sorted(MODEL_DIR.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _install_cache_locators() -> None:
    """Put model-wide-stamped variants of numba's cache locators first (functions of this package only)."""
    try:
        from numba.core import caching
        bases = (caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator)
        classes = caching.CacheImpl._locator_classes
    except (ImportError, AttributeError):     # another numba layout: fall back to numba's own stamps
        return
    if any(getattr(c, "_mpilda_model", False) for c in classes):
        return
    stamp = _sources_stamp()

    def make(base):
        class ModelLocator(base):
            _mpilda_model = True

            def get_source_stamp(self):
                return stamp

            @classmethod
            def from_function(cls, py_func, py_file):
                if Path(py_file).resolve().parent != MODEL_DIR:
                    return None
                return super().from_function(py_func, py_file)

        ModelLocator.__name__ = ModelLocator.__qualname__ = f"Model{base.__name__}"
        return ModelLocator

    classes[:0] = [make(b) for b in bases]


_install_cache_locators()


def jit(func):
    """Compile a scalar physics function with numba: cached, numpy's error model, inlined into its callers.

    Strict IEEE arithmetic (no fast-math): the same operations give the same bits in
    scalar code and in the SIMD lanes of the kernel, whatever lane a column falls in.
    """
    return numba.njit(cache=True, error_model="numpy", forceinline=True)(func)


def kernel(func):
    """Compile a kernel (a function that loops over columns): cached, numpy's error model, not inlined."""
    return numba.njit(cache=True, error_model="numpy")(func)


@jit
def fmax(a, b):
    """numpy.maximum of two floats (NaN if either is NaN)."""
    return a if (a >= b or a != a) else b


@jit
def fmin(a, b):
    """numpy.minimum of two floats (NaN if either is NaN)."""
    return a if (a <= b or a != a) else b


@jit
def select(c, a, b):
    """a if c else b, as one expression: both are computed, so that the compiler can run it in SIMD lanes."""
    return a if c else b


@jit
def clip(x, lo, hi):
    """numpy.clip of a float: fmin(fmax(x, lo), hi)."""
    return fmin(fmax(x, lo), hi)


# --- elementary functions ----------------------------------------------------------------
# exp, log, pow, log10 and tanh written out in IEEE arithmetic (no libm call), so that the
# compiler can evaluate them in SIMD lanes for many columns at once; polynomials use fused
# multiply-adds.  Accuracy: exp and log within 1-2 ulp of the correctly rounded value
# (fdlibm's log; Cody-Waite reduction and a degree-13 Taylor polynomial for exp),
# pow(x, y) = exp(y log x) within |y log x| ulp, tanh within 4 ulp.

@intrinsic
def _as_float(typingctx, bits):
    """The float64 whose bits are the int64 ``bits``."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())
    return types.float64(types.int64), codegen


@intrinsic
def _as_int(typingctx, x):
    """The bits of the float64 ``x`` as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.IntType(64))
    return types.int64(types.float64), codegen


@intrinsic
def fma(typingctx, a, b, c):
    """a * b + c with one rounding (the fused multiply-add of IEEE 754, the same in scalar and SIMD code)."""
    def codegen(context, builder, signature, args):
        f64 = llvm_ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, llvm_ir.FunctionType(f64, [f64, f64, f64]), "llvm.fma.f64")
        return builder.call(fn, args)
    return types.float64(types.float64, types.float64, types.float64), codegen


@intrinsic
def fsqrt(typingctx, x):
    """Square root (IEEE, correctly rounded: LLVM's sqrt intrinsic, which the compiler can run in SIMD lanes)."""
    def codegen(context, builder, signature, args):
        f64 = llvm_ir.DoubleType()
        fn = cgutils.get_or_insert_function(builder.module, llvm_ir.FunctionType(f64, [f64]), "llvm.sqrt.f64")
        return builder.call(fn, args)
    return types.float64(types.float64), codegen


_INV_LN2 = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01          # fdlibm's split of ln 2
_LN2_LO = 1.90821492927058770002e-10
_ROUND = 6755399441055744.0                    # 1.5 * 2**52: adding it rounds to an integer
_EXP_MAX = 709.782712893384                    # exp overflows above
_EXP_MIN = -745.1332191019412                  # exp underflows to 0 below
_LG1, _LG2, _LG3, _LG4 = 6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, \
    2.222219843214978396e-01
_LG5, _LG6, _LG7 = 1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01
_SQRT2 = 1.4142135623730951
_TINY_NORMAL = 2.2250738585072014e-308
_INV_LN10 = 0.43429448190325176
_INV_FACTORIAL = np.array([1.0 / math.factorial(j) for j in range(18)])


@jit
def fexp(x):
    """e^x (IEEE special values: exp(NaN) = NaN, overflow to inf, underflow to 0, subnormal results)."""
    xc = x if x > _EXP_MIN else _EXP_MIN
    xc = xc if xc < _EXP_MAX else _EXP_MAX     # (a NaN x becomes _EXP_MAX here; restored below)
    t = xc * _INV_LN2 + _ROUND
    k = t - _ROUND                              # nearest integer to x / ln 2
    ki = _as_int(t) - _as_int(_ROUND)
    r = (xc - k * _LN2_HI) - k * _LN2_LO       # |r| <= ln 2 / 2
    p = 1.0 / 6227020800.0                       # Taylor polynomial of degree 13 (Horner, fused)
    p = fma(p, r, 1.0 / 479001600.0)
    p = fma(p, r, 1.0 / 39916800.0)
    p = fma(p, r, 1.0 / 3628800.0)
    p = fma(p, r, 1.0 / 362880.0)
    p = fma(p, r, 1.0 / 40320.0)
    p = fma(p, r, 1.0 / 5040.0)
    p = fma(p, r, 1.0 / 720.0)
    p = fma(p, r, 1.0 / 120.0)
    p = fma(p, r, 1.0 / 24.0)
    p = fma(p, r, 1.0 / 6.0)
    p = fma(p, r, 0.5)
    p = fma(p, r, 1.0)
    p = fma(p, r, 1.0)
    k1 = ki >> 1                                # 2^k as two normal factors (subnormal results too)
    y = p * _as_float((k1 + 1023) << 52) * _as_float((ki - k1 + 1023) << 52)
    y = y if x < _EXP_MAX else math.inf
    y = y if x > _EXP_MIN else 0.0
    return y if x == x else x


@jit
def flog(x):
    """Natural logarithm (fdlibm's algorithm; log(0) = -inf, log(x < 0) = NaN, log(inf) = inf)."""
    small = x < _TINY_NORMAL
    xs = x * 18014398509481984.0 if small else x         # subnormal: scale by 2^54
    bits = _as_int(xs)
    e = (bits >> 52) - (1023 + 54 if small else 1023)
    m = _as_float((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)   # 1 <= m < 2
    big = m > _SQRT2
    m = m * 0.5 if big else m
    e = e + 1 if big else e
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = fma(z, fma(w, fma(w, fma(w, _LG7, _LG5), _LG3), _LG1), w * fma(w, fma(w, _LG6, _LG4), _LG2))
    hfsq = 0.5 * f * f
    dk = float(e)
    y = dk * _LN2_HI - ((hfsq - (s * (hfsq + r) + dk * _LN2_LO)) - f)
    y = y if x < math.inf else x
    y = y if x > 0.0 else (-math.inf if x == 0.0 else math.nan)
    return y if x == x else x


@jit
def fpow(x, y):
    """x^y for x >= 0 as exp(y log x) (NaN for x < 0, as numpy for a non-integer y)."""
    return fexp(y * flog(x))


@jit
def flog10(x):
    """Decimal logarithm: log(x) / ln 10."""
    return flog(x) * _INV_LN10


@jit
def ftanh(x):
    """Hyperbolic tangent: (e^2a - 1)/(e^2a + 1), a = |x|, with a Taylor e^2a - 1 for 2a < 1."""
    a = abs(x)
    u = 2.0 * a
    em_small = 1.0 / 355687428096000.0           # e^u - 1 by its Taylor polynomial of degree 17 (Horner, fused)
    for j in range(16, 0, -1):
        em_small = fma(em_small, u, _INV_FACTORIAL[j])
    em_small = em_small * u
    em = em_small if u < 1.0 else fexp(u) - 1.0
    t = em / (em + 2.0) if a < 20.0 else 1.0
    t = t if x >= 0.0 else -t
    return t if x == x else x


_ATAN_P = (-8.750608600031904122785e-01, -1.615753718733365076637e+01, -7.500855792314704667340e+01,
           -1.228866684490136173410e+02, -6.485021904942025371773e+01)
_ATAN_Q = (2.485846490142306297962e+01, 1.650270098316988542046e+02, 4.328810604912902668951e+02,
           4.853903996359136964868e+02, 1.945506571482613964425e+02)
_TAN_3PI_8 = 2.41421356237309504880
_PI_2 = 1.5707963267948966
_PI_4 = 0.7853981633974483
_MOREBITS = 6.123233995736765886130e-17


@jit
def fatan(x):
    """Arc tangent (Cephes' atan: range reduction to |x| <= tan(pi/8) and a rational approximation), within 2 ulp."""
    a = abs(x)
    big = a > _TAN_3PI_8
    mid = (a > 0.66) and not big
    y0 = _PI_2 if big else (_PI_4 if mid else 0.0)
    extra = _MOREBITS if big else (0.5 * _MOREBITS if mid else 0.0)
    xr = -1.0 / a if big else ((a - 1.0) / (a + 1.0) if mid else a)
    z = xr * xr
    p = (((_ATAN_P[0] * z + _ATAN_P[1]) * z + _ATAN_P[2]) * z + _ATAN_P[3]) * z + _ATAN_P[4]
    q = ((((z + _ATAN_Q[0]) * z + _ATAN_Q[1]) * z + _ATAN_Q[2]) * z + _ATAN_Q[3]) * z + _ATAN_Q[4]
    y = y0 + (xr * z * p / q + xr + extra)
    y = y if x >= 0.0 else -y
    return y if x == x else x


def records(fields: dict, shape=()) -> np.ndarray:
    """A structured float64 array of ``shape`` with one field per entry of ``fields``, each broadcast to ``shape``.

    Values may be scalars or arrays broadcasting to ``shape``; a value of shape
    ``shape + (k,)`` becomes a per-layer (sub-array) field.  The scalar kernels
    read parameters from such records (``p.smcmax``).
    """
    shape = tuple(shape)
    spec = []
    values = {}
    for name, value in fields.items():
        v = np.asarray(value, dtype=np.float64)
        extra = v.shape[len(shape):] if v.ndim > len(shape) and v.shape[:len(shape)] == shape else ()
        spec.append((name, np.float64, extra) if extra else (name, np.float64))
        values[name] = v
    out = np.empty(shape, dtype=np.dtype(spec, align=True))
    for name, v in values.items():
        out[name] = v
    return out
