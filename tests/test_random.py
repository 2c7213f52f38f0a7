"""Counter-based random numbers: the published known answers, moments, independence, split invariance."""

import numpy as np
import pytest

from mpilda.random import Stream, normals, philox4x32, uniforms

# Known-answer vectors of Philox4x32-10 from Random123's kat_vectors (counter[4], key[2] -> output[4]).
KAT = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
       ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
       ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]


@pytest.mark.parametrize("counter, key, expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = philox4x32(tuple(np.array([c]) for c in counter), key)
    assert tuple(int(w[0]) for w in out) == expected


def test_moments_of_normals_and_uniforms():
    z = normals(7, Stream.STATE_PERTURBATION, np.arange(200_000), n=2)
    n = z.size
    # standard errors of the raw moments of a standard normal: sqrt(Var(z^k) / n) with
    # Var(z) = 1, Var(z^2) = 2, Var(z^3) = E z^6 = 15, Var(z^4) = E z^8 - 9 = 96
    assert abs(z.mean()) < 4 / np.sqrt(n)
    assert abs(z.var() - 1) < 4 * np.sqrt(2 / n)
    assert abs((z ** 3).mean()) < 4 * np.sqrt(15 / n)
    assert abs((z ** 4).mean() - 3) < 4 * np.sqrt(96 / n)
    assert abs((np.abs(z) < 1.959964).mean() - 0.95) < 4 * np.sqrt(0.95 * 0.05 / n)
    u = uniforms(7, Stream.WEATHER, np.arange(100_000))
    assert u.min() > 0 and u.max() < 1 and abs(u.mean() - 0.5) < 4 * np.sqrt(1 / 12 / u.size)


def _corr(a, b):
    return np.corrcoef(a.ravel(), b.ravel())[0, 1]


def test_no_correlation_across_cells_members_steps_streams_seeds_and_draws():
    ids = np.arange(100_000)
    bound = 4 / np.sqrt(ids.size)  # 4 sigma of a correlation estimate
    base = normals(3, Stream.FORCING_PERTURBATION, ids, member=5, time=11, n=2)
    assert abs(_corr(base[0][:-1], base[0][1:])) < bound                       # neighbouring cells
    for other in (normals(3, Stream.FORCING_PERTURBATION, ids, member=6, time=11),   # next member
                  normals(3, Stream.FORCING_PERTURBATION, ids, member=5, time=12),   # next step
                  normals(3, Stream.STATE_PERTURBATION, ids, member=5, time=11),     # another stream
                  normals(4, Stream.FORCING_PERTURBATION, ids, member=5, time=11)):  # another seed
        assert abs(_corr(base[0], other[0])) < bound
    assert abs(_corr(base[0], base[1])) < bound                                  # two draws of one tuple


def test_same_numbers_for_any_split_and_order_of_cells():
    ids = np.arange(5000) * 7 + 3
    whole = normals(11, Stream.WEATHER, ids[:, None], member=np.arange(4)[None, :], time=99, n=3)
    perm = np.random.default_rng(0).permutation(ids.size)
    pieces = [normals(11, Stream.WEATHER, ids[p][:, None], member=np.arange(4)[None, :], time=99, n=3)
              for p in np.array_split(perm, 7)]
    again = np.empty_like(whole)
    for p, piece in zip(np.array_split(perm, 7), pieces):
        again[:, p] = piece
    assert np.array_equal(whole, again)
    assert np.array_equal(normals(11, Stream.WEATHER, 5, 2, 9, n=5),
                          normals(11, Stream.WEATHER, [5], [2], [9], n=5)[:, 0])


def test_first_draws_do_not_depend_on_how_many_are_asked():
    a = normals(1, Stream.WEATHER, np.arange(10), n=1)
    b = normals(1, Stream.WEATHER, np.arange(10), n=4)
    assert np.array_equal(a[0], b[0])


def test_bad_counters_are_refused():
    with pytest.raises(ValueError, match="member outside"):
        normals(1, Stream.WEATHER, [1], member=-1)
    with pytest.raises(ValueError, match="seed"):
        normals(-1, Stream.WEATHER, [1])
