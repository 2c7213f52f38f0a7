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
