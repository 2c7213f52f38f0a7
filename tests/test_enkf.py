"""The EnKF against the Kalman filter and its limits (tolerances from sampling theory)."""

import numpy as np
import pytest

from mpilda.enkf import analysis_increments, innovation_statistics, observation_perturbations
from mpilda.enkf import zero_member_mean as _zero_mean


def _ensemble(rng, mean, cov, n, cells=1):
    return rng.multivariate_normal(mean, cov, size=(cells, n)).transpose(0, 2, 1)     # (cells, n_state, N)


def _update(x, h, y, r, impact=None, rng=None, zero_mean=True):
    cells, n_state, n = x.shape
    hx = np.einsum("ji,cim->cjm", h, x)
    n_obs = h.shape[0]
    v = rng.normal(0, 1, (cells, n_obs, n)) * np.sqrt(r)[None, :, None]
    if zero_mean:
        v = _zero_mean(v)
    imp = np.ones((cells, n_state, n_obs)) if impact is None else impact
    return x + analysis_increments(x, hx, np.broadcast_to(y, (cells, n_obs)), np.broadcast_to(r, (cells, n_obs)),
                                   np.ones((cells, n_obs), bool), imp, v)


def test_linear_gaussian_analysis_matches_the_kalman_filter():
    rng = np.random.default_rng(0)
    mean = np.array([0.25, 0.22, 0.20, 0.18, 2.0])
    a = rng.normal(0, 1, (5, 5))
    cov = a @ a.T * 1e-3 + np.diag([1e-4, 1e-4, 1e-4, 1e-4, 0.05])
    h = np.array([[1.0, 0, 0, 0, 0], [0, 0, 0, 0, 1.0]])
    r = np.array([0.0125 ** 2, 0.05 ** 2])
    y = np.array([0.30, 2.3])
    n = 20000
    x = _ensemble(rng, mean, cov, n)
    xa = _update(x, h, y, r, rng=rng)[0]
    # the Kalman filter with the ensemble's own forecast covariance (exact for the perturbed-obs EnKF in expectation)
    pf = np.cov(x[0])
    k = pf @ h.T @ np.linalg.inv(h @ pf @ h.T + np.diag(r))
    mean_kf = x[0].mean(axis=1) + k @ (y - h @ x[0].mean(axis=1))
    pa_kf = (np.eye(5) - k @ h) @ pf
    se = np.sqrt(np.diag(pa_kf) / n)
    assert np.all(np.abs(xa.mean(axis=1) - mean_kf) < 5 * se)
    # covariance: relative sampling error of a variance ~ sqrt(2/n) (here ~1 %); allow 6 %
    assert np.allclose(np.cov(xa), pa_kf, atol=0.06 * np.sqrt(np.outer(np.diag(pa_kf), np.diag(pa_kf))))


def test_tiny_observation_error_moves_to_the_observation_and_huge_error_does_not_move():
    rng = np.random.default_rng(1)
    x = _ensemble(rng, [0.2, 0.2, 0.2, 0.2, 1.0], np.diag([1e-3, 5e-4, 2e-4, 1e-4, 0.1]), 50, cells=3)
    h = np.array([[1.0, 0, 0, 0, 0]])
    xa = _update(x, h, np.array([0.31]), np.array([1e-12]), rng=rng)
    assert np.allclose(xa[:, 0, :], 0.31, atol=1e-5)
    xb = _update(x, h, np.array([0.31]), np.array([1e12]), rng=rng)
    assert np.allclose(xb, x, atol=1e-9)


def test_joint_update_equals_two_sequential_updates_in_the_linear_gaussian_case():
    rng = np.random.default_rng(2)
    mean = np.array([0.25, 0.22, 0.20, 0.18, 2.0])
    cov = np.diag([4e-4, 2e-4, 1e-4, 5e-5, 0.09]) + 5e-5
    n = 40000
    x = _ensemble(rng, mean, cov, n)
    h = np.array([[1.0, 0, 0, 0, 0], [0, 0.5, 0.5, 0, 0.02]])
    r = np.array([1e-4, 2e-4])
    y = np.array([0.27, 0.26])
    joint = _update(x, h, y, r, rng=rng)[0]
    seq = _update(_update(x, h[:1], y[:1], r[:1], rng=rng), h[1:], y[1:], r[1:], rng=rng)[0]
    se = np.sqrt(np.diag(np.cov(joint)) / n)
    assert np.all(np.abs(joint.mean(axis=1) - seq.mean(axis=1)) < 6 * se)
    assert np.allclose(np.diag(np.cov(joint)), np.diag(np.cov(seq)), rtol=0.05)


def test_impact_matrix_keeps_unupdated_variables_unchanged_and_padding_is_inert():
    rng = np.random.default_rng(3)
    x = _ensemble(rng, [0.2, 0.2, 0.2, 0.2, 1.0], np.eye(5) * 1e-3 + 2e-4, 24, cells=2)
    hx = x[:, :1, :]
    impact = np.zeros((2, 5, 2))
    impact[:, :4, 0] = 1.0                           # an SSM observation updates SM1..SM4 only
    present = np.array([[True, False], [True, False]])
    v = rng.normal(0, 0.01, (2, 2, 24))
    hx2 = np.concatenate([hx, np.zeros_like(hx)], axis=1)
    d = analysis_increments(x, hx2, np.array([[0.3, 0.0], [0.1, 0.0]]), np.full((2, 2), 1e-4), present, impact, v)
    assert np.all(d[:, 4] == 0) and np.abs(d[:, 0]).max() > 0
    single = analysis_increments(x, hx, np.array([[0.3], [0.1]]), np.full((2, 1), 1e-4), present[:, :1],
                                 impact[:, :, :1], v[:, :1])
    assert np.allclose(d, single)


def test_observation_perturbations_have_zero_mean_and_innovations_are_normalised():
    rng = np.random.default_rng(4)
    v = observation_perturbations(7, np.arange(2000), 123456, 2, 24, np.array([0.0125, 0.03]))
    assert v.shape == (2000, 2, 24) and np.abs(v.mean(axis=-1)).max() < 1e-15
    assert v[:, 0].std() == pytest.approx(0.0125, rel=0.02) and v[:, 1].std() == pytest.approx(0.03, rel=0.02)
    assert np.array_equal(v[500:600], observation_perturbations(7, np.arange(500, 600), 123456, 2, 24,
                                                                np.array([0.0125, 0.03])))   # any split of cells
    hx = rng.normal(0.2, 0.02, (1000, 1, 24))
    y = 0.2 + rng.normal(0, np.sqrt(0.02 ** 2 + 0.01 ** 2), (1000, 1))
    inn, norm = innovation_statistics(hx, y, np.full((1000, 1), 0.01 ** 2))
    assert norm.std() == pytest.approx(1.0, abs=0.1)


def test_a_cells_increments_do_not_depend_on_the_cells_sharing_the_call():
    """Bit for bit: a cell with one observation analysed alone, or next to cells with 1..7 observations
    (padding its slots to 7), gets the same increments; otherwise results would depend on the tiles
    a rank holds."""
    rng = np.random.default_rng(4)
    n, k = 24, 7
    x = rng.normal(0.25, 0.03, (k, 5, n))
    hx = rng.normal(0.25, 0.03, (k, k, n))
    y = rng.normal(0.25, 0.02, (k, k))
    r_var = np.full((k, k), 0.04 ** 2)
    present = np.arange(k)[None, :] <= np.arange(k)[:, None]       # cell c has c + 1 observations
    impact = np.ones((k, 5, k))
    v = rng.normal(0.0, 0.04, (k, k, n))
    together = analysis_increments(x, hx, y, r_var, present, impact, v)
    for c in (0, 3, 6):
        m = c + 1
        alone = analysis_increments(x[c:c + 1], hx[c:c + 1, :m], y[c:c + 1, :m], r_var[c:c + 1, :m],
                                    present[c:c + 1, :m], impact[c:c + 1, :, :m], v[c:c + 1, :m])
        assert together[c].tobytes() == alone[0].tobytes()
    with pytest.raises(ValueError, match="leading slots"):
        analysis_increments(x[:1], hx[:1, :2], y[:1, :2], r_var[:1, :2], np.array([[False, True]]),
                            impact[:1, :, :2], v[:1, :2])
