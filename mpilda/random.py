"""Random numbers keyed, not drawn: a pure function of (seed, stream, id, member, time).

Every random number of mpilda comes from the counter-based generator
Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
3"), evaluated on numpy arrays of counters.  The counter holds the global cell
id (or another global position, e.g. a lattice point), the ensemble member, the
time index and the stream with a block number; the key holds the seed.  Hence a
number never depends on which rank computes it, on how cells are split, or on
where a run was restarted: the same tuple always gives the same number.

Streams separate independent uses (weather, perturbations, observations ...);
each stream gives up to 2 * 256 independent normals per tuple (``n``).
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

# Philox4x32 constants (Salmon et al. 2011; Random123 philox.h).
_M0, _M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
_W0, _W1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
_MASK = np.uint64(0xFFFFFFFF)
_BLOCKS = 256


class Stream(IntEnum):
    """Independent streams of random numbers; never renumber (results depend on the values)."""

    WEATHER = 1              # the synthetic world's weather generator
    WEATHER_ERROR = 2        # the errors of the model forcing against the truth forcing
    LANDSCAPE = 3            # land-cover and soil maps of the synthetic world
    FORCING_PERTURBATION = 10
    STATE_PERTURBATION = 11
    OBS_PERTURBATION = 20    # perturbed observations of the EnKF
    SYNTHETIC_OBS = 30       # errors and sampling of synthetic observations
    SYNTHETIC_REFERENCE = 31  # synthetic in situ and flux references


def philox4x32(counter: tuple[np.ndarray, ...], key: tuple[int, int], rounds: int = 10) -> list[np.ndarray]:
    """Philox4x32-R on arrays: four uint32-valued counter words (as uint64 arrays) -> four output words."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & _MASK for c in counter)
    k0, k1 = np.uint64(key[0] & 0xFFFFFFFF), np.uint64(key[1] & 0xFFFFFFFF)
    for r in range(rounds):
        if r:
            k0 = (k0 + _W0) & _MASK
            k1 = (k1 + _W1) & _MASK
        p0 = _M0 * c0
        p1 = _M1 * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & _MASK,
                          (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & _MASK)
    return [c0, c1, c2, c3]


def _words(seed: int, stream: int, ids, member, time, n_blocks: int) -> list[np.ndarray]:
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed {seed}: expected 0 <= seed < 2**64")
    ids, member, time = np.broadcast_arrays(np.asarray(ids, dtype=np.int64), np.asarray(member, dtype=np.int64),
                                            np.asarray(time, dtype=np.int64))
    for name, a in (("id", ids), ("member", member), ("time", time)):
        if a.size and (a.min() < 0 or a.max() >= 2**32):
            raise ValueError(f"random counter {name} outside 0 .. 2**32-1")
    blocks = np.arange(n_blocks, dtype=np.uint64).reshape((n_blocks,) + (1,) * ids.ndim)
    c3 = (np.uint64(int(stream) * _BLOCKS) + blocks) + np.zeros(ids.shape, dtype=np.uint64)
    return philox4x32((ids.astype(np.uint64), member.astype(np.uint64), time.astype(np.uint64), c3),
                      (seed & 0xFFFFFFFF, seed >> 32))


def _unit(hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """Uniform in the open interval (0, 1) from two 32-bit words (53 random bits)."""
    return ((hi >> np.uint64(5)).astype(np.float64) * 67108864.0 + (lo >> np.uint64(6)).astype(np.float64)
            + 0.5) / 9007199254740992.0


def uniforms(seed: int, stream: int, ids, member=0, time=0, n: int = 1) -> np.ndarray:
    """Uniform numbers in (0, 1): shape (n,) + broadcast shape of (ids, member, time)."""
    if not 1 <= n <= 2 * _BLOCKS:
        raise ValueError(f"n = {n}: expected 1 .. {2 * _BLOCKS}")
    w = _words(seed, stream, ids, member, time, (n + 1) // 2)
    u = np.stack([_unit(w[0], w[1]), _unit(w[2], w[3])], axis=1)  # (blocks, 2, ...)
    return u.reshape((-1,) + u.shape[2:])[:n]


def normals(seed: int, stream: int, ids, member=0, time=0, n: int = 1) -> np.ndarray:
    """Standard normal numbers: shape (n,) + broadcast shape of (ids, member, time).

    Box-Muller on the two uniforms of each Philox block gives two independent normals.
    """
    if not 1 <= n <= 2 * _BLOCKS:
        raise ValueError(f"n = {n}: expected 1 .. {2 * _BLOCKS}")
    w = _words(seed, stream, ids, member, time, (n + 1) // 2)
    radius = np.sqrt(-2.0 * np.log(_unit(w[0], w[1])))
    angle = 2.0 * np.pi * _unit(w[2], w[3])
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return z.reshape((-1,) + z.shape[2:])[:n]
