"""Perturbations of paper Table 2: distributions, correlations, truncation, the control, and the Ryu correction.

Tolerances are 4 standard errors of the estimate (a false alarm rate below 1e-4 per check).
"""

import datetime as dt

import numpy as np
import pytest
from scipy import integrate, stats

from mpilda.config import config_from_text
from mpilda.model.noahmp import NoahMP
from mpilda.perturb import Perturber, lognormal_parameters, ryu_correct

from .conftest import MINIMAL
from .model_forcing import UTC, DiurnalForcing

CUT = 2.5


def settings(extra=""):
    return config_from_text(MINIMAL + "[perturbations]\n" + extra).perturbations


@pytest.mark.parametrize("std", [0.3, 0.5, 1.0])
def test_cut_lognormal_multiplier_has_mean_one_and_the_given_std(std):
    mu, s = lognormal_parameters(std, CUT)
    # independent numerical integration over the standard normal, values beyond the cut clipped
    def moment(k):
        inner = integrate.quad(lambda z: np.exp(k * (mu + s * z)) * stats.norm.pdf(z), -CUT, CUT, epsabs=1e-13)[0]
        return inner + stats.norm.sf(CUT) * (np.exp(k * (mu + s * CUT)) + np.exp(k * (mu - s * CUT)))
    m1, m2 = moment(1), moment(2)
    assert m1 == pytest.approx(1.0, abs=1e-10)
    assert np.sqrt(m2 - m1 ** 2) == pytest.approx(std, abs=1e-10)


@pytest.fixture(scope="module")
def series():
    """Forcing perturbations of 1000 cells x 24 members over 30 hourly intervals."""
    p = Perturber(settings(), 7, np.arange(1000) * 13, 24)
    xi, z, factors = [], [], []
    for h in range(400000, 400030):
        p._update_forcing(h)
        xi.append(p.pert.xi.copy())
        z.append(p.correlate_forcing(p.pert.xi))
        factors.append({k: v.copy() for k, v in p.factors.items()})
    return p, np.array(xi), np.array(z), factors


def test_forcing_perturbations_follow_table_2(series):
    p, xi, z, factors = series
    n = xi[0, 0].size                                           # 24,000 samples per interval
    # cross-correlations of the normals: SW-LW -0.5, SW-P -0.8, LW-P 0.5 (SE (1 - r^2)/sqrt(n))
    for (i, j), r in {(0, 1): -0.5, (0, 2): -0.8, (1, 2): 0.5}.items():
        est = np.mean([np.corrcoef(z[t, i].ravel(), z[t, j].ravel())[0, 1] for t in (0, 15, 29)])
        assert abs(est - r) < 4 * (1 - r * r) / np.sqrt(3 * n), (i, j, est)
    # multipliers: mean 1 and std 0.3 (SW), 0.5 (P); LW additive: mean 0, std of the cut normal times 50 W m-2
    cut_sd = np.sqrt((2 * stats.norm.cdf(CUT) - 1) - 2 * CUT * stats.norm.pdf(CUT) + 2 * CUT ** 2 * stats.norm.sf(CUT))
    for t in (0, 29):
        for name, mean, sd in (("swdown", 1.0, 0.3), ("precip", 1.0, 0.5), ("lwdown", 0.0, 50.0 * cut_sd)):
            v = factors[t][name]
            assert abs(v.mean() - mean) < 4 * sd / np.sqrt(n), (name, v.mean())
            assert abs(v.std() - sd) < 4 * sd * np.sqrt(stats.kurtosis(v.ravel()) + 2) / np.sqrt(4 * n), (name, v.std())
    # lag-1 autocorrelation of the AR(1) state: exp(-1 h / 24 h)
    c = np.exp(-1.0 / 24.0)
    est = np.corrcoef(xi[:-1].ravel(), xi[1:].ravel())[0, 1]
    assert abs(est - c) < 4 * (1 - c * c) / np.sqrt(xi[:-1].size)
    # every perturbation normal within the cut, and the AR state has zero ensemble mean per cell
    for f in factors:
        assert np.all(np.abs(np.log(f["swdown"]) - p.sw[0]) <= p.sw[1] * CUT + 1e-12)
        assert np.all(np.abs(f["lwdown"]) <= 50.0 * CUT + 1e-9)
    assert np.abs(xi.mean(axis=2)).max() < 1e-12


def test_control_column_is_unperturbed():
    p = Perturber(settings(), 3, np.arange(10), 4)
    f = dict(swdown=np.full(10, 500.0), lwdown=np.full(10, 300.0), rainf=np.full(10, 1e-4), snowf=np.full(10, 2e-5),
             tair=np.full(10, 280.0))
    out = p.forcing(f, 3600 * 1000)
    assert out["swdown"].shape == (5, 10) and np.all(out["swdown"][-1] == 500.0) and np.all(out["rainf"][-1] == 1e-4)
    assert np.all(out["snowf"][:-1] / 2e-5 == pytest.approx(out["rainf"][:-1] / 1e-4))   # snow takes P's multiplier
    assert out["tair"].shape == (10,)                                                      # not perturbed


def test_state_perturbations_follow_table_2():
    p = Perturber(settings(), 5, np.arange(2000), 24)
    d = np.concatenate([p.state_perturbations(k) for k in range(3)], axis=1).reshape(5, -1)
    std = np.array([0.004, 0.00007, 0.00004, 0.00002, 0.01])
    corr = np.array(settings().state_correlation).reshape(5, 5)
    cut_sd = np.sqrt((2 * stats.norm.cdf(CUT) - 1) - 2 * CUT * stats.norm.pdf(CUT) + 2 * CUT ** 2 * stats.norm.sf(CUT))
    n = d.shape[1]
    assert np.all(np.abs(d) <= CUT * std[:, None] + 1e-15)
    assert np.allclose(d.std(axis=1), std * cut_sd, rtol=4 * np.sqrt(2 / n) + 0.002)
    est = np.corrcoef(d)
    assert np.all(np.abs(est - corr) < 4 * (1 - corr ** 2) / np.sqrt(n) + 0.01)   # + the cut's slight shrinkage
    # zero ensemble mean per cell and variable, except where the cut clipped a member
    d9 = p.state_perturbations(9)
    uncut = np.all(np.abs(d9) < CUT * std[:, None, None] * (1 - 1e-12), axis=1)
    assert uncut.mean() > 0.5 and np.abs(d9.mean(axis=1)[uncut]).max() < 1e-15


def test_ryu_correction_removes_the_drift_of_a_nonlinear_drydown():
    lat, lon = np.array([40.0, 45.0]), np.array([0.0, 5.0])
    f = DiurnalForcing(lat, lon, tmin=288.0, tmax=302.0, rh=0.4)
    start = dt.datetime(2015, 7, 1, tzinfo=UTC)
    drift = {}
    for ryu in (False, True):
        m = NoahMP(np.array([10, 12]), np.array([3, 6]), lat, lon)
        s = m.cold_start(25, f.at(start), start)
        p = Perturber(settings("sm_std = 0.02, 0.005, 0.002, 0.001\nlai_std = 0.05\n"), 11, np.arange(2), 24)
        for i in range(96 * 8):
            t = start + dt.timedelta(seconds=900 * i)
            m.step(s, p.forcing(f.at(t), int(t.timestamp())), t)
            if (i + 1) % 12 == 0:
                p.perturb_state(m, s, i // 12)
            if ryu:
                ryu_correct(m, s, 24)
        drift[ryu] = np.abs(s.smc[:, :24].mean(axis=1) - s.smc[:, 24]).max()
    assert drift[False] > 1e-3                # without the correction the mean leaves the control ...
    assert drift[True] < 1e-3 * drift[False]  # ... with it, it follows the control


def test_ryu_correction_is_the_control_minus_member_mean_through_the_increment_rules():
    """The compiled correction gives the very bits of the formula written with numpy: the increments
    control - member mean, applied by apply_increments (bounds, ice kept, leaf carbon)."""
    from mpilda.perturb import apply_increments

    lat, lon = np.array([40.0, 45.0, 50.0]), np.array([0.0, 5.0, 10.0])
    f = DiurnalForcing(lat, lon, tmin=270.0, tmax=285.0, rh=0.6)
    start = dt.datetime(2015, 3, 1, tzinfo=UTC)
    m = NoahMP(np.array([10, 12, 16]), np.array([3, 6, 9]), lat, lon)   # 16: barren, not vegetated
    s = m.cold_start(9, f.at(start), start)
    rng = np.random.default_rng(5)
    s.smc = s.smc + rng.normal(0.0, 0.05, s.smc.shape)        # some members beyond the bounds
    s.sh2o = np.minimum(s.sh2o, s.smc) - rng.uniform(0.0, 0.01, s.smc.shape)   # some ice
    s.lai = s.lai + rng.normal(0.0, 0.5, s.lai.shape)
    expected = s.copy()
    d_sm = np.zeros_like(expected.smc)
    d_lai = np.zeros_like(expected.lai)
    d_sm[:, :8] = expected.smc[:, -1:] - expected.smc[:, :8].mean(axis=1, keepdims=True)
    d_lai[:8] = expected.lai[-1:] - expected.lai[:8].mean(axis=0, keepdims=True)
    apply_increments(m, expected, d_sm, d_lai)
    ryu_correct(m, s, 8)
    for name in ("smc", "sh2o", "lai", "lfmass"):
        assert getattr(s, name).tobytes() == getattr(expected, name).tobytes(), name


def test_increments_keep_the_state_physical():
    lat, lon = np.array([40.0, 45.0, 50.0]), np.array([0.0, 5.0, 10.0])
    f = DiurnalForcing(lat, lon, tmin=285.0, tmax=295.0)
    start = dt.datetime(2015, 6, 1, tzinfo=UTC)
    m = NoahMP(np.array([10, 12, 16]), np.array([3, 12, 1]), lat, lon)        # grass, crop, barren
    s = m.cold_start(5, f.at(start), start)
    from mpilda.perturb import apply_increments
    rng = np.random.default_rng(0)
    apply_increments(m, s, rng.normal(0, 0.5, s.smc.shape), rng.normal(0, 5.0, s.lai.shape))
    assert np.all(s.smc >= m.p.smcdry - 1e-15) and np.all(s.smc <= m.p.smcmax + 1e-15)
    assert np.all(s.sh2o <= s.smc) and np.all(s.sh2o >= 0)
    assert np.all(s.lai >= 0) and np.all(s.lai[:, 2] == 0)                  # bare ground keeps LAI 0
    veg = m.p.vegetated
    assert np.allclose(s.lfmass[:, veg], s.lai[:, veg] / (m.p.sla[veg] * 1e-3))   # leaf carbon follows LAI


def test_a_zero_increment_leaves_the_value_as_it_is_even_beyond_the_bounds():
    """The model may dry urban soil below its air-dry bound (0.40); an update of other cells (or a zero
    increment) must not clip it, or the state would depend on which cells share an update (a rank's)."""
    from mpilda.perturb import apply_increments

    lat, lon = np.array([45.0, 45.0]), np.array([5.0, 5.5])
    f = DiurnalForcing(lat, lon, tmin=285.0, tmax=295.0)
    start = dt.datetime(2015, 6, 1, tzinfo=UTC)
    m = NoahMP(np.array([13, 10]), np.array([6, 6]), lat, lon)                # urban, grass
    s = m.cold_start(4, f.at(start), start)
    s.smc = np.full_like(s.smc, 0.35)                                         # below urban air-dry 0.40
    s.sh2o = s.smc.copy()
    before = s.copy()
    d_sm = np.zeros_like(s.smc)
    d_sm[:, :, 1] = 0.01                                                      # only the grass cell
    d_lai = np.zeros_like(s.lai)
    apply_increments(m, s, d_sm, d_lai)
    assert s.smc[:, :, 0].tobytes() == before.smc[:, :, 0].tobytes()
    assert s.lai.tobytes() == before.lai.tobytes() and s.lfmass.tobytes() == before.lfmass.tobytes()
    assert np.all(s.smc[:, :, 1] == before.smc[:, :, 1] + 0.01)
    d_sm[:, :, 0] = 0.01                          # an increment moves a value below air-dry normally ...
    apply_increments(m, s, d_sm, None)
    assert np.all(s.smc[:, :, 0] == 0.36) and m.p.smcdry[0] == 0.40
    d_sm[:, :, 0] = -0.01                         # ... and does not drive a value further below air-dry
    apply_increments(m, s, d_sm, None)
    assert np.all(s.smc[:, :, 0] == 0.36)
    d_sm[:, :, 0] = 0.1                           # nor above porosity (0.45)
    apply_increments(m, s, d_sm, None)
    assert np.all(s.smc[:, :, 0] == 0.45)
    ryu_correct(m, before, 3)      # members equal to the control: round-off increments, not a pull to 0.40
    assert np.all(np.abs(before.smc[:, :, 0] - 0.35) < 1e-15)


def _grass_and_barren(n_ens):
    """A grass cell and a barren cell (not vegetated), cold-started with ``n_ens`` columns each."""
    lat, lon = np.array([45.0, 45.0]), np.array([5.0, 5.5])
    f = DiurnalForcing(lat, lon, tmin=285.0, tmax=295.0)
    start = dt.datetime(2015, 6, 1, tzinfo=UTC)
    m = NoahMP(np.array([10, 16]), np.array([6, 6]), lat, lon)
    return m, m.cold_start(n_ens, f.at(start), start)


def test_lai_is_floored_at_the_models_minimum_and_leaf_carbon_follows():
    """An increment that would take LAI to 0.01 gives Noah-MP's LAIMIN 0.05 (not 0.01 or 0: below 0.05 the
    model's next step creates leaf carbon); a value already below the floor is not moved further down."""
    from mpilda.model.vegetation import LAI_MIN
    from mpilda.perturb import apply_increments

    m, s = _grass_and_barren(3)
    assert LAI_MIN == 0.05 and m.p.vegetated.tolist() == [True, False]
    lapm = m.p.sla[0] * 1e-3
    s.lai[:, 0] = [0.5, 0.5, 0.03]
    s.lfmass[:, 0] = s.lai[:, 0] / lapm
    d_lai = np.zeros_like(s.lai)
    d_lai[:, 0] = [-0.49, 0.2, -0.01]
    d_lai[:, 1] = -1.0
    apply_increments(m, s, None, d_lai)
    assert s.lai[:, 0].tolist() == [0.05, 0.7, 0.03]
    assert s.lfmass[:, 0] == pytest.approx(np.array([0.05, 0.7, 0.03]) / lapm, rel=1e-14)
    assert np.all(s.lai[:, 1] == 0.0)                          # barren keeps LAI 0


def test_ryu_correction_floors_lai_at_the_models_minimum():
    """The compiled Ryu step takes LAI no lower than 0.05 either (control 0.2, member mean 0.4: -0.2 each)."""
    m, s = _grass_and_barren(4)
    s.lai[:, 0] = [0.74, 0.23, 0.23, 0.2]
    ryu_correct(m, s, 3)
    assert s.lai[:, 0] == pytest.approx([0.54, 0.05, 0.05, 0.2], abs=1e-15)
    assert s.lai[1, 0] == 0.05 and s.lai[2, 0] == 0.05
    assert s.lfmass[1:3, 0] == pytest.approx(0.05 / (m.p.sla[0] * 1e-3), rel=1e-14)


# -- [perturbations] zero_mean ----------------------------------------------------------------------------

def _factors_by_hand(s, seed, cells, n, hours):
    """The applied forcing perturbations of successive hourly draws, built from the primitives as Table 2
    and the module docstring describe them (zero-mean white noise, AR(1), Cholesky, cut, lognormal)."""
    from mpilda.random import Stream, normals

    corr = np.array([[1.0, s.sw_lw_correlation, s.sw_precip_correlation],
                     [s.sw_lw_correlation, 1.0, s.lw_precip_correlation],
                     [s.sw_precip_correlation, s.lw_precip_correlation, 1.0]])
    chol = np.linalg.cholesky(corr)
    c = np.exp(-s.forcing_interval / s.time_correlation)
    (mu_sw, s_sw), (mu_p, s_p) = lognormal_parameters(s.sw_std, s.truncation), \
        lognormal_parameters(s.precip_std, s.truncation)
    out, xi = [], None
    for h in hours:
        w = normals(seed, Stream.FORCING_PERTURBATION, cells[None, :], np.arange(n)[:, None], h, n=3)
        w = (w - w.mean(axis=-2, keepdims=True)) * np.sqrt(n / (n - 1.0))
        xi = w if xi is None else c * xi + np.sqrt(1.0 - c * c) * w
        z = np.clip(np.einsum("ij,j...->i...", chol, xi), -s.truncation, s.truncation)
        out.append(dict(swdown=np.exp(mu_sw + s_sw * z[0]), lwdown=s.lw_std * z[1], precip=np.exp(mu_p + s_p * z[2])))
    return out


def test_forcing_perturbations_by_default_are_not_recentred():
    """The default (zero_mean = no) is today's scheme, bit for bit: only the white noises have zero member
    mean, so the applied multipliers' member means are off 1 (and LW's off 0) by the cut and the lognormal."""
    s = settings()
    assert s.zero_mean is False
    cells, hours = np.arange(50) * 13, range(400000, 400006)
    p = Perturber(s, 7, cells, 24)
    for h, want in zip(hours, _factors_by_hand(s, 7, cells, 24, hours)):
        p._update_forcing(h)
        for name in ("swdown", "lwdown", "precip"):
            assert p.factors[name].tobytes() == want[name].tobytes(), (h, name)
    assert np.abs(p.factors["precip"].mean(axis=0) - 1.0).max() > 1e-3


def test_zero_mean_recentres_every_draw_and_leaves_the_ar1_state_alone():
    """zero_mean = yes: at every draw the member means of the applied SW and P multipliers are 1 and of the
    LW perturbation 0 to round-off; the factors are the default ones re-centred (multipliers divided by,
    LW less, their member mean) and the AR(1) state (restarts carry it) is the default run's, bit for bit."""
    cells = np.arange(200) * 13
    on, off = Perturber(settings("zero_mean = yes\n"), 7, cells, 24), Perturber(settings(), 7, cells, 24)
    for h in range(400000, 400030):
        on._update_forcing(h)
        off._update_forcing(h)
        assert on.pert.xi.tobytes() == off.pert.xi.tobytes()
        k, k0 = on.factors, off.factors
        assert np.abs(k["swdown"].mean(axis=0) - 1.0).max() < 1e-14
        assert np.abs(k["precip"].mean(axis=0) - 1.0).max() < 1e-14
        assert np.abs(k["lwdown"].mean(axis=0)).max() < 1e-12                      # W m-2
        assert np.allclose(k["swdown"], k0["swdown"] / k0["swdown"].mean(axis=0), rtol=1e-15, atol=0)
        assert np.allclose(k["lwdown"], k0["lwdown"] - k0["lwdown"].mean(axis=0), rtol=0, atol=1e-12)
    f = dict(swdown=np.full(200, 500.0), lwdown=np.full(200, 300.0), rainf=np.full(200, 1e-4),
             snowf=np.full(200, 2e-5))
    out = on.forcing(f, 3600 * 400029)
    for name, value in f.items():                                                 # the members keep the mean
        assert out[name][:-1].mean(axis=0) == pytest.approx(value, rel=1e-14)
        assert np.all(out[name][-1] == value)                                     # control unperturbed


def test_zero_mean_keeps_restarts_bit_identical():
    """A run restarted from the perturbation state of its checkpoint draws the same factors."""
    cells = np.arange(30) * 13
    whole = Perturber(settings("zero_mean = yes\n"), 7, cells, 24)
    for h in range(400000, 400006):
        whole._update_forcing(h)
        if h == 400002:
            saved = {k: v.copy() for k, v in whole.arrays().items()}
    later = Perturber(settings("zero_mean = yes\n"), 7, cells, 24)
    later.load(saved)
    for h in range(400003, 400006):
        later._update_forcing(h)
    for name in ("swdown", "lwdown", "precip"):
        assert later.factors[name].tobytes() == whole.factors[name].tobytes()


def test_zero_mean_leaves_a_lone_member_perturbed():
    """With one member (the twin's perturbed truth) there is no ensemble to re-centre over."""
    p = Perturber(settings("zero_mean = yes\n"), 7, np.arange(5), 1, first_member=1_000_000, control=False)
    q = Perturber(settings(), 7, np.arange(5), 1, first_member=1_000_000, control=False)
    p._update_forcing(400000)
    q._update_forcing(400000)
    assert all(p.factors[k].tobytes() == q.factors[k].tobytes() for k in p.factors)
    assert np.all(p.factors["swdown"] != 1.0)


def test_zero_mean_must_be_a_boolean():
    from mpilda.config import ConfigError

    with pytest.raises(ConfigError, match=r"zero_mean = 'sometimes': expected a boolean"):
        settings("zero_mean = sometimes\n")


@pytest.mark.parametrize("zero_mean", ["no", "yes"])
def test_a_cells_perturbations_do_not_depend_on_the_other_cells_of_its_rank(zero_mean):
    """A cell alone on a rank gets the very bits it gets among others (numpy's mean of a one-cell array
    sums 24 members pairwise, in another order than for several cells)."""
    cells = np.arange(12) * 13
    s = settings("" if zero_mean == "no" else "zero_mean = yes\n")
    many = Perturber(s, 7, cells, 24)
    many._update_forcing(400000)
    many._update_forcing(400001)
    state = many.state_perturbations(55)
    for i, c in enumerate(cells):
        one = Perturber(s, 7, np.array([c]), 24)
        one._update_forcing(400000)
        one._update_forcing(400001)
        for name in ("swdown", "lwdown", "precip"):
            assert one.factors[name][:, 0].tobytes() == many.factors[name][:, i].tobytes(), (c, name)
        assert one.state_perturbations(55)[:, :, 0].tobytes() == state[:, :, i].tobytes(), c
