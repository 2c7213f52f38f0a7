"""The field's own libraries as oracles: mpilda against ``ismn`` (1.5.4) and ``pytesmo`` (0.18.1).

The expected values come from the libraries (and pandas for the daily aggregation of what ``ismn``
reads), never from mpilda.  Settings are matched where the two can be matched; where mpilda's
definition differs on purpose, the test compares only where the definitions agree, and its
docstring says why (the README's "The field's libraries as oracles", under Tests, lists the same).
Both libraries are test-only dependencies (``pip install -e .[test]``, what ``make setup`` runs);
without them these tests skip.
"""

import warnings

import numpy as np
import pandas as pd
import pytest

from mpilda.evaluation import ismn as mpilda_ismn
from mpilda.evaluation import metrics
from mpilda.obs.rescale import PERCENTILES, CdfMatching

from .conftest import REAL_DATA

ISMN = REAL_DATA / "ismn"
TUW = ISMN / "tuw_ismn_tests"
NARBONNE = "SMOSMANIA/SMOSMANIA_SMOSMANIA_Narbonne_sm_0.050000_0.050000_ThetaProbe-ML2X_20070101_20070131.stm"
#: (root: a folder or zip archive, the file's path inside it) of every real ISMN data file sample.
ISMN_FILES = [
    (ISMN / "ISMN_V20250617",
     "SCAN/Kainaliu/SCAN_SCAN_Kainaliu_sm_0.050800_0.050800_Hydraprobe-Analog-E_19500101_20250617.stm"),
    (ISMN / "ISMN_V20250617",
     "SCAN/Kainaliu/SCAN_SCAN_Kainaliu_ts_0.508000_0.508000_Hydraprobe-Analog-C_19500101_20250617.stm"),
    (TUW / "format_header_values", NARBONNE),
    (TUW / "format_ceop_sep", NARBONNE),
    (TUW / "Data_seperate_files_header_20170810_20180809",
     "COSMOS/ARM-1/COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm"),
    (TUW / "zip_archives" / "header" / "Data_seperate_files_header_20170810_20180809.zip",
     "COSMOS/ARM-1/COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm"),
    (TUW / "zip_archives" / "header" / "Data_seperate_files_header_20170810_20180809.zip",
     "COSMOS/Barrow-ARM/COSMOS_COSMOS_Barrow-ARM_sm_0.000000_0.210000_Cosmic-ray-Probe_20170810_20180809.stm"),
]


# ---------------------------------------------------------------------------
# ISMN files: mpilda's reader against the ismn package's DataFile
# ---------------------------------------------------------------------------

def _ismn_oracle(root, member, tmp_path):
    """The ismn package's reading of one file: (DataFile, its DataFrame: value, flag, provider flag)."""
    filehandlers = pytest.importorskip("ismn.filehandlers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # the package's own pandas deprecations
        data_file = filehandlers.DataFile(str(root), member, temp_root=str(tmp_path))
        frame = data_file.read_data()
    return data_file, frame


def _ids(case):
    root, member = case
    return f"{root.name}:{member.rsplit('/', 1)[-1][:40]}"


@pytest.mark.parametrize("case", ISMN_FILES, ids=_ids)
def test_ismn_records_and_metadata_match_the_ismn_package(case, tmp_path):
    """Every record (time, value, ISMN flag), the layout, the station's coordinates, elevation and
    sensor depths: as ``ismn.filehandlers.DataFile`` reads them, folders, zip archives, both layouts
    and CR-only line endings included."""
    root, member = case
    oracle, frame = _ismn_oracle(root, member, tmp_path)
    station = mpilda_ismn.read_ismn_file(root / member)
    variable = oracle.metadata["variable"].val
    assert station.variable_name == variable
    assert station.layout == oracle.file_type
    assert station.times.size == len(frame)
    np.testing.assert_array_equal(station.times, frame.index.to_numpy().astype("datetime64[s]"))
    np.testing.assert_array_equal(station.values, frame[variable].to_numpy(dtype=np.float64))
    np.testing.assert_array_equal(station.flags, frame[f"{variable}_flag"].to_numpy(dtype=str))
    meta = oracle.metadata
    assert (station.lat, station.lon, station.elevation) == (meta["latitude"].val, meta["longitude"].val,
                                                             meta["elevation"].val)
    depth = meta["instrument"].depth
    assert (station.depth_from, station.depth_to) == (depth.start, depth.end)
    assert (station.network, station.station) == (meta["network"].val, meta["station"].val)


@pytest.mark.parametrize("flags", [("G",), ("G", "U")], ids=["G", "G+U"])
@pytest.mark.parametrize("case", ISMN_FILES, ids=_ids)
def test_ismn_daily_means_of_accepted_values_match_pandas_on_the_ismn_package(case, flags, tmp_path):
    """Counts, mean and UTC daily means (with their value counts) of the values whose flag is one of
    ``flags`` ('G': the paper's rule): the ismn package's records, filtered on the flag and averaged
    per UTC day by pandas (``resample("D")``), the way a pytesmo/ismn user aggregates them."""
    root, member = case
    oracle, frame = _ismn_oracle(root, member, tmp_path)
    variable = oracle.metadata["variable"].val
    good = frame[frame[f"{variable}_flag"].isin(flags)][variable].dropna()
    station = mpilda_ismn.read_ismn_file(root / member)
    kept = station.values[mpilda_ismn.accepted(station.flags, flags) & np.isfinite(station.values)]
    assert kept.size == good.size
    if good.size:
        assert kept.mean() == pytest.approx(good.mean(), rel=1e-14)
    daily = good.resample("D").agg(["mean", "count"])
    daily = daily[daily["count"] > 0]
    days, means, counts = mpilda_ismn.daily_means(station, flags)
    np.testing.assert_array_equal(days, daily.index.to_numpy().astype("datetime64[D]"))
    np.testing.assert_array_equal(counts, daily["count"].to_numpy())
    np.testing.assert_allclose(means, daily["mean"].to_numpy(), rtol=1e-14, atol=0)


def test_the_oracle_samples_hold_good_values_on_many_days(tmp_path):
    """The comparison above is not empty: ARM-1 has 6,514 'G' values on 333 days."""
    root, member = ISMN_FILES[4]
    days, _, counts = mpilda_ismn.daily_means(mpilda_ismn.read_ismn_file(root / member))
    assert days.size == 333 and counts.sum() == 6514


# ---------------------------------------------------------------------------
# Anomalies and R_anom against pytesmo.time_series.anomaly
# ---------------------------------------------------------------------------

#: The window of mpilda's climatology [days]; pytesmo's ``moving_avg_clim`` box of the same width
#: (|t - t0| <= 15.5 days: 31 daily slots).
WINDOW = metrics.WINDOW


def _pytesmo_anomalies(days, values):
    """pytesmo's anomalies of a daily series from its own climatology, with mpilda's settings where
    pytesmo has them: no smoothing of the series itself (``moving_avg_orig=1``: a box of one day),
    a 31-day box over the day-of-year climatology wrapping around the year end; its default
    leap-day handling (``respect_leap_years=False``: 366 day-of-year slots, 29 February its own)."""
    anomaly = pytest.importorskip("pytesmo.time_series.anomaly")
    series = pd.Series(values, index=pd.DatetimeIndex(days.astype("datetime64[ns]")))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clim = anomaly.calc_climatology(series, moving_avg_orig=1, moving_avg_clim=WINDOW, wraparound=True,
                                        respect_leap_years=False, min_obs_orig=1, min_obs_clim=1)
        return anomaly.calc_anomaly(series, climatology=clim, respect_leap_years=False).to_numpy()


def _two_series(days):
    """Two complete daily series sharing a seasonal cycle and slow anomalies (an in situ-like and a
    model-like soil moisture, m3 m-3)."""
    rng = np.random.default_rng(11)
    doy = (days - days.astype("datetime64[Y]")).astype(np.int64)
    season = 0.25 + 0.1 * np.sin(2 * np.pi * doy / 365.25)
    slow = np.convolve(rng.normal(0.0, 0.03, days.size + 20), np.ones(10) / 10, "same")[10:days.size + 10]
    return season + slow, 0.8 * season + 0.05 + 0.7 * slow + rng.normal(0.0, 0.01, days.size)


def _near_leap_day(days):
    """(n,) bool: 13 February to 15 March, the days whose 31-day window holds 28 or 29 February."""
    stamp = pd.DatetimeIndex(days.astype("datetime64[ns]"))
    month_day = stamp.month * 100 + stamp.day
    return np.asarray((month_day >= 213) & (month_day <= 315))


def test_anomalies_and_r_anom_match_pytesmo_away_from_the_leap_day():
    """mpilda's anomalies (``metrics.anomalies``) are pytesmo's (``calc_climatology`` +
    ``calc_anomaly``) to round-off on every day but those whose window reaches 28/29 February, and
    so is the anomaly correlation over those days (pytesmo's ``pearson_r``).

    Settings that differ, and why:

    * leap day: mpilda has 365 day-of-year slots, 29 February shares 28 February's slot, so that
      calendar dates line up across years (``mpilda.climatology``); pytesmo keeps 366 slots, a
      29 February slot of the leap years alone.  Windows that hold 28/29 February (13 February
      to 15 March) therefore average different days;
    * window averaging: mpilda pools every value in the window (a mean over days), pytesmo averages
      the per-slot means (a mean of means).  With complete years, as here, every slot but 28/29
      February holds as many values as years, and the two are equal; with gaps they differ;
    * smoothing: pytesmo's default also smooths the series with a 5-day box first
      (``moving_avg_orig=5``) and uses a 35-day window; mpilda does neither, so the test sets 1 and 31.

    Over four years with one leap day the whole-series R_anom differs by about 1e-4 (checked below
    with a bound of 1e-3).
    """
    pearson_r = pytest.importorskip("pytesmo.metrics").pearson_r
    days = np.arange(np.datetime64("2015-01-01"), np.datetime64("2019-01-01"))
    a, b = _two_series(days)
    want_a, want_b = _pytesmo_anomalies(days, a), _pytesmo_anomalies(days, b)
    got_a, got_b = metrics.anomalies(days, a), metrics.anomalies(days, b)
    away = ~_near_leap_day(days)
    np.testing.assert_allclose(got_a[away], want_a[away], rtol=0, atol=1e-14)
    np.testing.assert_allclose(got_b[away], want_b[away], rtol=0, atol=1e-14)
    assert metrics.pearson(got_a[away], got_b[away]) == pytest.approx(pearson_r(want_a[away], want_b[away]),
                                                                     rel=1e-12)
    assert np.abs(got_a[~away] - want_a[~away]).max() > 1e-6          # the documented difference is real
    assert metrics.r_anom(a, b, days) == pytest.approx(pearson_r(want_a, want_b), abs=1e-3)


# ---------------------------------------------------------------------------
# CDF matching against pytesmo.cdf_matching
# ---------------------------------------------------------------------------

def _pytesmo_cdf(obs, model, x):
    """pytesmo's CDF matching of obs onto model, evaluated at x: mpilda's percentiles (0, 5, ..., 100),
    no bin resizing (``minobs=None``: mpilda masks thin samples instead), no linear edge scaling
    (the end knots are the extremes, the end segments extrapolated linearly), pairs only
    (``combine_invalid=True``).  Returns (x knots, y knots, rescaled x)."""
    cdf_matching = pytest.importorskip("pytesmo.cdf_matching")
    matcher = cdf_matching.CDFMatching(percentiles=PERCENTILES, minobs=None, linear_edge_scaling=False,
                                       combine_invalid=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        matcher.fit(obs, model)
        return matcher.x_perc_, matcher.y_perc_, matcher.predict(x)


@pytest.mark.parametrize("n", [11, 30, 400])
def test_cdf_matching_matches_pytesmo(n):
    """Knots and rescaled values (inside the observed range and extrapolated beyond it) of each
    (month, cell) are pytesmo's, with mpilda's Hazen percentiles (plotting positions (i - 0.5) / n,
    as pytesmo's "Matlab" percentiles).

    Settings that differ, and why: pytesmo re-interpolates tied percentile values between their
    neighbours, mpilda nudges a tied knot above the one before it (1e-9 of the range).  Ties come
    from repeated values, or from samples of 10 pairs or fewer, where the 5 % knot falls below the
    first plotting position (50 / n %) and equals the minimum; the test has neither (n >= 11,
    continuous values).  pytesmo also resizes bins for thin samples (``minobs``) where mpilda masks
    a (cell, month) with fewer than ``[obs.smap] min_cdf_samples`` pairs.
    """
    rng = np.random.default_rng(n)
    cases = {(4, 0): 1.0, (4, 1): 2.0, (9, 0): 0.5}            # (month, cell): a different skew each
    obs, model, month, cell = [], [], [], []
    for (m, c), power in cases.items():
        mod = rng.beta(2.0, 5.0, n) * 0.5
        ob = 0.6 * mod ** power + 0.05 + rng.normal(0.0, 0.01, n)
        if n > 11:
            ob[::9] = np.nan                                     # a missing retrieval is not a pair
        obs.append(ob), model.append(mod), month.append(np.full(n, m)), cell.append(np.full(n, c))
    obs, model, month, cell = (np.concatenate(v) for v in (obs, model, month, cell))
    table = CdfMatching.fit(obs, model, month, cell, 2, min_samples=1)
    for (m, c) in cases:
        pick = (month == m) & (cell == c)
        x = np.concatenate([obs[pick][np.isfinite(obs[pick])], np.linspace(-0.1, 0.7, 81)])
        x_knots, y_knots, want = _pytesmo_cdf(obs[pick], model[pick], x)
        np.testing.assert_allclose(table.obs_knots[m - 1, :, c], x_knots, rtol=0, atol=1e-15)
        np.testing.assert_allclose(table.model_knots[m - 1, :, c], y_knots, rtol=0, atol=1e-15)
        got, ok = table.apply(x, np.full(x.size, m), np.full(x.size, c))
        assert ok.all()
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
