"""Random numbers keyed, not drawn: a pure function of (seed, stream, id, member, time).

Every random number of mpilda comes from the counter-based generator
Philox4x32-10 (Salmon et al. 2011, "Parallel random numbers: as easy as 1, 2,
3"), evaluated on arrays of counters (a small compiled kernel: integer arithmetic, so the
same bits on any machine).  The counter holds the global cell
id (or another global position, e.g. a lattice point), the ensemble member, the
time index and the stream with a block number; the key holds the seed.  Hence a
number never depends on which rank computes it, on how cells are split, or on
where a run was restarted: the same tuple always gives the same number.

Streams separate independent uses (weather, perturbations, observations ...);
each stream gives up to 2 * 256 independent normals per tuple (``n``).
"""

from __future__ import annotations

from enum import IntEnum

import numba
import numpy as np

# Philox4x32 constants (Salmon et al. 2011; Random123 philox.h) are in _philox_kernel.
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
    words = np.broadcast_arrays(*(np.asarray(c, dtype=np.uint64) for c in counter))
    shape = words[0].shape
    c = np.stack([w.ravel() for w in words])                 # (4, n), contiguous
    out = np.empty_like(c)
    _philox_columns(c, np.uint64(key[0] & 0xFFFFFFFF), np.uint64(key[1] & 0xFFFFFFFF), rounds, out)
    return [out[i].reshape(shape) for i in range(4)]


@numba.njit(cache=True)
def _philox_columns(c, k0, k1, rounds, out):
    """Philox of every column of the counters c (4, n) into out (4, n)."""
    for j in range(c.shape[1]):
        out[0, j], out[1, j], out[2, j], out[3, j] = _philox(c[0, j], c[1, j], c[2, j], c[3, j], k0, k1, rounds)


@numba.njit(cache=True, inline="always")
def _philox(c0, c1, c2, c3, k0, k1, rounds):
    """The rounds of Philox4x32 on one counter (uint32 values held in uint64)."""
    mask = np.uint64(0xFFFFFFFF)
    m0, m1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
    w0, w1 = np.uint64(0x9E3779B9), np.uint64(0xBB67AE85)
    shift = np.uint64(32)
    c0, c1, c2, c3 = c0 & mask, c1 & mask, c2 & mask, c3 & mask
    for r in range(rounds):
        if r:
            k0 = (k0 + w0) & mask
            k1 = (k1 + w1) & mask
        p0 = m0 * c0
        p1 = m1 * c2
        c0, c1, c2, c3 = (p1 >> shift) ^ c1 ^ k0, p1 & mask, (p0 >> shift) ^ c3 ^ k1, p0 & mask
    return c0, c1, c2, c3


@numba.njit(cache=True)
def _unit(hi, lo):
    """Uniform in the open interval (0, 1) from two 32-bit words (53 random bits)."""
    return (np.float64(hi >> np.uint64(5)) * 67108864.0 + np.float64(lo >> np.uint64(6)) + 0.5) \
        / 9007199254740992.0


@numba.njit(cache=True)
def _draw(ids, member, time, base, k0, k1, out):
    """out (2, n_blocks, size): the two uniforms of the Philox block (ids[j], member[j], time[j],
    base + block) of every counter j."""
    for j in range(ids.size):
        for b in range(out.shape[1]):
            w0, w1, w2, w3 = _philox(ids[j], member[j], time[j], base + np.uint64(b), k0, k1, 10)
            out[0, b, j] = _unit(w0, w1)
            out[1, b, j] = _unit(w2, w3)


def _uniform_pairs(seed: int, stream: int, ids, member, time, n: int) -> tuple[np.ndarray, tuple]:
    """The uniform pairs (2, ceil(n/2), size) of the counters, and the broadcast shape."""
    if not 0 <= seed < 2**64:
        raise ValueError(f"seed {seed}: expected 0 <= seed < 2**64")
    if not 1 <= n <= 2 * _BLOCKS:
        raise ValueError(f"n = {n}: expected 1 .. {2 * _BLOCKS}")
    ids, member, time = np.broadcast_arrays(np.asarray(ids, dtype=np.int64), np.asarray(member, dtype=np.int64),
                                            np.asarray(time, dtype=np.int64))
    for name, a in (("id", ids), ("member", member), ("time", time)):
        if a.size and (a.min() < 0 or a.max() >= 2**32):
            raise ValueError(f"random counter {name} outside 0 .. 2**32-1")
    out = np.empty((2, (n + 1) // 2, ids.size))
    _draw(ids.astype(np.uint64).ravel(), member.astype(np.uint64).ravel(), time.astype(np.uint64).ravel(),
          np.uint64(int(stream) * _BLOCKS), np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32), out)
    return out, ids.shape


def uniforms(seed: int, stream: int, ids, member=0, time=0, n: int = 1) -> np.ndarray:
    """Uniform numbers in (0, 1): shape (n,) + broadcast shape of (ids, member, time)."""
    u, shape = _uniform_pairs(seed, stream, ids, member, time, n)
    return np.stack([u[0], u[1]], axis=1).reshape((-1,) + shape)[:n]


def normals(seed: int, stream: int, ids, member=0, time=0, n: int = 1) -> np.ndarray:
    """Standard normal numbers: shape (n,) + broadcast shape of (ids, member, time).

    Box-Muller on the two uniforms of each Philox block gives two independent normals (numpy's
    vectorised log, cos and sin on the uniforms of the compiled generator).
    """
    u, shape = _uniform_pairs(seed, stream, ids, member, time, n)
    radius = np.sqrt(-2.0 * np.log(u[0]))
    angle = 2.0 * np.pi * u[1]
    z = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    return z.reshape((-1,) + shape)[:n]
