"""Numba compilation of the model's physics: the decorator, numpy-like scalar helpers, parameter records.

Every physics function of the model is a scalar ``@jit`` function working on one
column (``jit`` = ``numba.njit(cache=True, error_model="numpy")``: IEEE division,
inf/NaN instead of exceptions, like numpy).  ``NoahMP.step`` calls one compiled
kernel that loops over the columns; small array wrappers give the tests and the
callers array interfaces over the same scalar functions.

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

import numba
import numpy as np

MODEL_DIR = Path(__file__).resolve().parent


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


#: LLVM fast-math flags of the model's code: reassociation, FMA contraction, reciprocals, approximate
#: libm calls and no signed zeros; never ``nnan``/``ninf`` (NaN and inf stay visible to the checks).
FASTMATH = {"reassoc", "contract", "arcp", "afn", "nsz"}


def jit(func):
    """Compile a scalar physics function (or a kernel) with numba: cached, numpy's floating-point error model."""
    return numba.njit(cache=True, error_model="numpy", fastmath=FASTMATH)(func)


@jit
def fmax(a, b):
    """numpy.maximum of two floats (NaN if either is NaN)."""
    return a if (a >= b or a != a) else b


@jit
def fmin(a, b):
    """numpy.minimum of two floats (NaN if either is NaN)."""
    return a if (a <= b or a != a) else b


@jit
def clip(x, lo, hi):
    """numpy.clip of a float: fmin(fmax(x, lo), hi)."""
    return fmin(fmax(x, lo), hi)


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
