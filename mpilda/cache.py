"""A small on-disk cache of derived arrays that are slow to make and never change (e.g. land masks).

Arrays live in ``$MPILDA_CACHE/arrays`` (default ``~/.cache/mpilda/arrays``), one ``.npy`` per key,
written under a temporary name and renamed, so concurrent ranks and interrupted writes are safe.
A cache that cannot be written is skipped silently: the array is then computed every time.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

import numpy as np


def cache_directory() -> Path:
    return Path(os.environ.get("MPILDA_CACHE", Path.home() / ".cache" / "mpilda")) / "arrays"


def cached_array(key: str, compute: Callable[[], np.ndarray]) -> np.ndarray:
    """The array of ``key`` from the cache, or ``compute()`` (stored for next time)."""
    path = cache_directory() / (hashlib.sha256(key.encode()).hexdigest()[:32] + ".npy")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        pass
    value = np.asarray(compute())
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.stem}.{os.getpid()}.incomplete.npy")
        np.save(tmp, value, allow_pickle=False)
        os.replace(tmp, path)
    except OSError:
        pass
    return value
