"""VOD operator: calibration recovers known coefficients; the operator reproduces eq. 1-2."""

import numpy as np
import pytest

from mpilda.climatology import day_slot, seasonal_cycle
from mpilda.obs.calibration import calibrate
from mpilda.obs.operators import VodOperator, rzsm, vod_regressors

TRUE = np.array([[0.08, 0.9, 0.3, -1.0, 0.6],     # alpha, beta0, beta1, beta2, beta3 of three cells
                 [0.12, -0.4, 0.5, 0.5, -0.2],
                 [0.05, 1.5, -0.2, -2.0, 0.4]])


def _series(noise, seed=0):
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2013-01-01"), np.datetime64("2019-01-01"))
    slots = day_slot(days)
    season = np.sin(2 * np.pi * (slots - 100) / 365.0)
    n = days.size
    # AR(1) anomalies with a few weeks' memory, as LAI and soil moisture have
    def ar(scale):
        e = rng.normal(0, scale, (n, 3))
        out = np.zeros_like(e)
        for t in range(1, n):
            out[t] = 0.95 * out[t - 1] + e[t]
        return out
    lai = np.clip(2.0 + 1.5 * season[:, None] + ar(0.08), 0.1, None)
    rz = np.clip(0.25 - 0.05 * season[:, None] + ar(0.006), 0.05, 0.45)
    clim_lai, _ = seasonal_cycle(lai, slots, 31)
    clim_rz, _ = seasonal_cycle(rz, slots, 31)
    x = vod_regressors(lai - clim_lai[slots], rz - clim_rz[slots], lai, rz)
    signal = 0.6 + 0.1 * season[:, None] + np.einsum("tck,ck->tc", x, TRUE)
    vod = signal + rng.normal(0, noise, signal.shape)
    vod[rng.random(vod.shape) < 0.3] = np.nan              # retrieval gaps
    return vod, lai, rz, slots, (days - days[0]).astype(int), np.einsum("tck,ck->tc", x, TRUE)


def test_calibration_recovers_known_coefficients_with_little_noise():
    vod, lai, rz, slots, days, _ = _series(noise=0.002)
    cal = calibrate(vod, lai, rz, slots, days)
    assert np.allclose(cal.alpha, TRUE[:, 0], rtol=0.05)
    # the four beta terms are strongly collinear (RZSM' times 1, LAI, RZSM, RZSM LAI), so single betas are
    # poorly determined; what the operator needs, beta(LAI, RZSM), is recovered at the cells' typical states
    def beta_of(c, l, r):
        return c[:, 1] + c[:, 2] * l + c[:, 3] * r + c[:, 4] * r * l
    for q in (25, 50, 75):
        l, r = np.nanpercentile(lai, q, axis=0), np.nanpercentile(rz, q, axis=0)
        assert np.allclose(beta_of(cal.coef, l, r), beta_of(TRUE, l, r), rtol=0.1, atol=0.02), q
    assert np.all(cal.r2 > 0.9) and np.all(cal.r_anom > 0.9) and not cal.mask.any()
    assert np.all(cal.n_eval > 0.15 * (cal.n_fit + cal.n_eval))    # one week in five held out


def test_calibration_skill_with_realistic_noise_is_as_expected():
    noise = 0.03
    vod, lai, rz, slots, days, anom = _series(noise=noise, seed=1)
    cal = calibrate(vod, lai, rz, slots, days)
    # expected R^2 of the total VOD: 1 - noise variance / total variance (the fit itself adds little error)
    total = np.nanvar(vod, axis=0)
    assert np.allclose(cal.r2, 1 - noise ** 2 / total, atol=0.06)
    assert np.allclose(cal.rmse, noise, rtol=0.15)


def test_mask_rule_and_or():
    vod, lai, rz, slots, days, _ = _series(noise=0.03, seed=2)
    strict = calibrate(vod, lai, rz, slots, days, r2_threshold=0.999, rmse_threshold=0.001, rule="and")
    assert strict.mask.all()
    either = calibrate(vod, lai, rz, slots, days, r2_threshold=0.999, rmse_threshold=1.0, rule="and")
    assert not either.mask.any()                         # R2 poor but RMSE fine: 'and' keeps the cell ...
    either_or = calibrate(vod, lai, rz, slots, days, r2_threshold=0.999, rmse_threshold=1.0, rule="or")
    assert either_or.mask.all()                          # ... 'or' masks it


def test_operator_is_eq_1_2():
    vod, lai, rz, slots, days, _ = _series(noise=0.002)
    cal = calibrate(vod, lai, rz, slots, days)
    op = VodOperator(cal.coef, cal.clim_vod, cal.clim_lai, cal.clim_rzsm)
    sm = np.zeros((4, 2, 3))
    sm[:3] = 0.3
    lai_m = np.array([[2.0, 3.0, 1.0], [2.5, 3.5, 1.5]])
    s = np.array([150, 150, 150])
    c = np.arange(3)
    got = op(lai_m, sm, s, c)
    la, ra = lai_m - cal.clim_lai[s, c], rzsm(sm) - cal.clim_rzsm[s, c]
    beta = cal.beta[0] + cal.beta[1] * lai_m + cal.beta[2] * 0.3 + cal.beta[3] * 0.3 * lai_m
    assert np.allclose(got, cal.clim_vod[s, c] + cal.alpha * la + beta * ra)
    assert rzsm(sm)[0, 0] == pytest.approx(0.3)


# -- the least-squares fit ---------------------------------------------------------------------------------

def _exact_least_squares(x, y):
    """The exact least-squares solution of float data x (n, k), y (n,): normal equations in rationals."""
    from fractions import Fraction
    rows = [[Fraction(float(v)) for v in r] for r in x]
    rhs = [Fraction(float(v)) for v in y]
    k = x.shape[1]
    a = [[sum(r[i] * r[j] for r in rows) for j in range(k)] + [sum(r[i] * t for r, t in zip(rows, rhs))]
         for i in range(k)]
    for c in range(k):                                       # Gauss-Jordan, exact
        p = next(i for i in range(c, k) if a[i][c] != 0)
        a[c], a[p] = a[p], a[c]
        for i in range(k):
            if i != c and a[i][c] != 0:
                f = a[i][c] / a[c][c]
                a[i] = [p - f * q for p, q in zip(a[i], a[c])]
    return np.array([float(a[i][k] / a[i][i]) for i in range(k)])


def _calibration_problem(vod, lai, rz, slots, days):
    """The regressors and VOD anomalies of calibrate's fit rows (the first cell), rebuilt independently."""
    held = (days // 7) % 5 == 4
    clim_lai, _ = seasonal_cycle(lai, slots, 31)
    clim_rz, _ = seasonal_cycle(rz, slots, 31)
    clim_vod, _ = seasonal_cycle(np.where(held[:, None], np.nan, vod), slots, 31)
    x = vod_regressors(lai - clim_lai[slots], rz - clim_rz[slots], lai, rz)[:, 0]
    y = (vod - clim_vod[slots])[:, 0]
    rows = ~held & np.isfinite(y)
    return x, y, rows


def _collinear_cell(eps, seed=0):
    """One cell whose RZSM follows LAI up to white noise of std eps: LAI' and RZSM' nearly collinear."""
    rng = np.random.default_rng(seed)
    days = np.arange(np.datetime64("2015-01-01"), np.datetime64("2017-01-01"))
    slots = day_slot(days)
    season = np.sin(2 * np.pi * (slots - 100) / 365.0)
    a = np.zeros(days.size)
    for t in range(1, days.size):
        a[t] = 0.95 * a[t - 1] + rng.normal(0, 0.08)
    lai = 2.0 + 1.5 * season + a
    rz = 0.25 + 0.01 * (lai - 2.0) + eps * rng.normal(0, 1, days.size)
    vod = 0.6 + 0.1 * season + rng.normal(0, 0.02, days.size)
    return vod[:, None], lai[:, None], rz[:, None], slots, (days - days[0]).astype(int)


def test_coefficients_of_a_nearly_collinear_cell_are_the_exact_least_squares_solution():
    """LAI and RZSM nearly collinear (condition number of the scaled regressors ~7e5, of the normal
    equations ~5e11 and 1e16 unscaled): the fit is the exact least-squares solution to ~1e-10 relative
    (the normal equations with their ridge were off by 100 %)."""
    args = _collinear_cell(1e-6)
    x, y, rows = _calibration_problem(*args)
    xs = x[rows] / np.linalg.norm(x[rows], axis=0)
    assert 1e5 < np.linalg.cond(xs) < 1e7
    exact = _exact_least_squares(x[rows], y[rows])
    coef = calibrate(*args).coef[0]
    assert np.abs(coef - exact).max() <= 1e-8 * np.abs(exact).max()


def test_least_squares_recovers_known_coefficients_of_collinear_regressors():
    """Noise-free y = X beta with nearly collinear columns of very different sizes (condition number
    of the scaled columns ~2e5), 3 cells with different numbers of valid rows: the exact least-squares
    solution of the float data to 1e-8 relative, and so beta up to the rounding of y."""
    from mpilda.obs.calibration import least_squares

    rng = np.random.default_rng(4)
    n = 400
    base = rng.normal(0, 1, (n, 4))
    x = np.stack([base[:, 0], 0.01 * base[:, 0] + 1e-7 * base[:, 3], 1e-3 * base[:, 2],
                  base[:, 1] * base[:, 2], base[:, 1]], axis=-1)
    x = np.stack([x, x[::-1], rng.normal(0, 1, (n, 5))], axis=1)          # (n, 3 cells, 5)
    beta = np.array([[0.3, -2.0, 40.0, 0.7, 0.01], [1.0, 2.0, 3.0, 4.0, 5.0], [-1.0, 0.5, 0.0, 2.0, 1.0]])
    y = np.einsum("tck,ck->tc", x, beta)
    rows = np.ones((n, 3), dtype=bool)
    rows[::3, 0] = False
    rows[: n // 2, 1] = False
    x[~rows] = np.nan                                                       # rows left out may hold anything
    y[~rows] = np.nan
    for c in range(2):
        xc = x[rows[:, c], c]
        assert 1e5 < np.linalg.cond(xc / np.linalg.norm(xc, axis=0)) < 1e7
    got = least_squares(x, y, rows)
    for c in range(3):
        exact = _exact_least_squares(x[rows[:, c], c], y[rows[:, c], c])    # beta up to y's rounding
        assert np.all(np.abs(got[c] - exact) <= 1e-8 * np.abs(exact).max()), c
        assert np.all(np.abs(got[c] - beta[c]) <= 1e-6 * np.abs(beta[c]).max()), c


def test_well_conditioned_predictions_are_those_of_the_normal_equations():
    """Where the regressors are well conditioned, the predicted anomalies are the normal equations'
    (without a ridge) to round-off (1e-12 of their largest value)."""
    rng = np.random.default_rng(3)
    n = 730
    days = np.arange(n)
    slots = day_slot(np.datetime64("2015-01-01") + days)
    lai = 2.0 + rng.normal(0, 0.5, (n, 2))
    rz = 0.25 + rng.normal(0, 0.05, (n, 2))
    vod = 0.6 + 0.3 * (lai - 2.0) + 0.5 * (rz - 0.25) + rng.normal(0, 0.05, (n, 2))
    cal = calibrate(vod, lai, rz, slots, days)
    held = (days // 7) % 5 == 4
    clim_lai, _ = seasonal_cycle(lai, slots, 31)
    clim_rz, _ = seasonal_cycle(rz, slots, 31)
    x = vod_regressors(lai - clim_lai[slots], rz - clim_rz[slots], lai, rz)
    y = vod - cal.clim_vod[slots]
    for c in range(2):
        xf, yf = x[~held, c], y[~held, c]
        assert np.linalg.cond(xf / np.linalg.norm(xf, axis=0)) < 100
        normal = np.linalg.solve(xf.T @ xf, xf.T @ yf)
        got, want = x[:, c] @ cal.coef[c], x[:, c] @ normal
        assert np.abs(got - want).max() <= 1e-12 * np.abs(want).max()


def test_cells_without_lai_variation_fit_an_lai_independent_beta():
    """LAI 0 (no vegetation) or constant (pinned at its minimum, evergreen): the LAI terms (alpha, beta1,
    beta3) are 0 exactly, beta0 and beta2 are the fit on RZSM' and RZSM RZSM' alone, so the operator
    does not depend on a member's LAI (a split of one slope over two indistinguishable terms would)."""
    rng = np.random.default_rng(3)
    n = 730
    days = np.arange(n)
    slots = day_slot(np.datetime64("2015-01-01") + days)
    lai = np.empty((n, 4))
    lai[:] = [0.0, 0.05, 3.7, 0.1 * np.pi]                  # climatology subtraction leaves round-off
    rz = 0.25 + rng.normal(0, 0.05, (n, 4))
    vod = 0.3 + 0.5 * (rz - 0.25) + rng.normal(0, 0.01, (n, 4))
    cal = calibrate(vod, lai, rz, slots, days)
    assert np.all(cal.coef[:, [0, 2, 4]] == 0.0)
    held = (days // 7) % 5 == 4
    clim_rz, _ = seasonal_cycle(rz, slots, 31)
    y = vod - cal.clim_vod[slots]
    for c in range(4):
        ra = (rz - clim_rz[slots])[~held, c]
        xf = np.stack([ra, rz[~held, c] * ra], axis=-1)
        assert cal.coef[c, [1, 3]] == pytest.approx(np.linalg.lstsq(xf, y[~held, c], rcond=None)[0], rel=1e-10)
    assert np.all(np.abs(cal.beta[0] + cal.beta[2] * 0.25 - 0.5) < 0.05)     # the true slope


def test_a_cell_alone_gets_the_bits_it_gets_among_others():
    """The tables are fitted per rank: a cell's coefficients and scores must not depend on the rank's
    other cells, also when it is alone (numpy sums a one-cell column pairwise, several in day order)."""
    vod, lai, rz, slots, days, _ = _series(noise=0.03, seed=5)
    full = calibrate(vod, lai, rz, slots, days)
    for c in range(3):
        one = calibrate(vod[:, [c]], lai[:, [c]], rz[:, [c]], slots, days)
        for name in ("coef", "r2", "rmse", "r_anom", "mask"):
            assert getattr(one, name)[0].tobytes() == getattr(full, name)[c].tobytes(), (c, name)
