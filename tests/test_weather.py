"""The synthetic weather generator against climatological targets and theory, and its determinism.

Expected values come from station climatology (stated at each test) or from
theory (top-of-atmosphere insolation computed here independently, the
correlation sqrt(1 - weather_error) of the model's weather with the truth's),
never from the generator itself.  One year of hourly truth at ~1,000 land points
of the paper's domain is generated once per module.
"""

import numpy as np
import pytest
from global_land_mask import globe

from mpilda.forcing.synthetic import ERA5_VARIABLES, WeatherGenerator

SEED = 20240601
HOUR_2015 = (np.datetime64("2015-01-01T01", "h") - np.datetime64("1900-01-01T00", "h")).astype(int)
DAYS = 365
# Named places (rounded onto the ERA5 0.25 degree lattice): climate targets from WMO 1991-2020 normals.
PLACES = {"lisbon": (38.75, -9.0), "moscow": (55.75, 37.5), "sahara": (30.0, 10.0), "lapland": (67.5, 25.0)}


def _sample_points():
    """ERA5 lattice land points of the paper's window, every 4th row and column (~1,000), plus PLACES."""
    lat = np.arange(30.0, 71.5 + 1e-9, 1.0)
    lon = np.arange(-11.0, 40.0 + 1e-9, 1.0)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    land = globe.is_land(la, lo)
    la, lo = la[land], lo[land]
    extra = np.array(list(PLACES.values()))
    return np.concatenate([la, extra[:, 0]]), np.concatenate([lo, extra[:, 1]])


def _generate(gen, days, chunk=73):
    truth, model = {k: [] for k in ERA5_VARIABLES}, {k: [] for k in ERA5_VARIABLES}
    for d in range(0, days, chunk):
        t, m = gen.hourly(HOUR_2015 + 24 * d, 24 * min(chunk, days - d))
        for k in ERA5_VARIABLES:
            truth[k].append(t[k])
            model[k].append(m[k])
    return ({k: np.concatenate(v) for k, v in truth.items()}, {k: np.concatenate(v) for k, v in model.items()})


@pytest.fixture(scope="module")
def year():
    """One year of truth (no forcing errors, so model == truth) at the sample points."""
    lat, lon = _sample_points()
    gen = WeatherGenerator(SEED, lat, lon, precip_bias_std=0.0, radiation_bias_std=0.0, weather_error=0.0)
    truth, model = _generate(gen, DAYS)
    daily_p = truth["tp"].reshape(DAYS, 24, -1).sum(axis=1) * 1000.0     # mm/day
    return {"lat": lat, "lon": lon, "truth": truth, "model": model, "daily_p": daily_p}


def _place(year, name):
    lat, lon = PLACES[name]
    return int(np.flatnonzero((year["lat"] == lat) & (year["lon"] == lon))[-1])


def _box(year, s, n, w, e):
    return (year["lat"] >= s) & (year["lat"] <= n) & (year["lon"] >= w) & (year["lon"] <= e)


# -- shapes and physical bounds -------------------------------------------------------------------------------

def test_variables_shapes_and_physical_ranges(year):
    t = year["truth"]
    n = year["lat"].size
    assert set(t) == set(ERA5_VARIABLES)
    for k, v in t.items():
        assert v.shape == (DAYS * 24, n) and v.dtype == np.float64 and np.isfinite(v).all(), k
    assert (t["tp"] >= 0).all()
    assert (t["ssrd"] >= 0).all()
    # longwave: 0 < LW, hourly means between ~100 W m-2 (arctic winter nights) and ~550 W m-2 (desert heat)
    assert (t["strd"] > 100 * 3600).all() and (t["strd"] < 550 * 3600).all()
    assert (t["d2m"] <= t["t2m"]).all()
    assert 180.0 < t["t2m"].min() and t["t2m"].max() < 335.0
    assert 94000 < t["sp"].min() and t["sp"].max() < 107000     # sea level: ~940..1070 hPa extremes
    speed = np.hypot(t["u10"], t["v10"])
    assert 2.0 < np.median(speed) < 8.0 and speed.max() < 45.0


# -- precipitation ------------------------------------------------------------------------------------------

def test_annual_precipitation_by_region(year):
    p = year["daily_p"].sum(axis=0)
    north_of_sahara = year["lat"] >= 36.0
    # over most non-desert land 100-2500 mm/yr
    inside = (p[north_of_sahara] >= 100) & (p[north_of_sahara] <= 2500)
    assert inside.mean() > 0.95
    # Sahara (< 100 mm/yr at Ouargla, Ghadames, Siwa ...)
    sahara = _box(year, 29.9, 31.1, -2.0, 30.0)
    assert sahara.sum() >= 20 and np.median(p[sahara]) < 60 and (p[sahara] < 100).mean() > 0.9
    # central Europe 600-900 mm (Paris 640, Frankfurt 640, Prague 500, Munich 950): median 550-1000
    central = _box(year, 47.0, 54.0, 3.0, 20.0)
    assert 550 < np.median(p[central]) < 1000
    # the interior east 450-700 (Voronezh 570, Kyiv 620, Moscow 700)
    east = _box(year, 48.0, 58.0, 30.0, 40.0)
    assert 400 < np.median(p[east]) < 800
    # windward Atlantic coasts wettest (Valentia 1400, western Scotland 1500-2500, Bergen 2250 mm), much
    # wetter than the interior at the same latitudes (Moscow 700, Kazan 550); sheltered North Sea coasts
    # in between (Amsterdam 850, Hamburg 770)
    windward = _box(year, 51.0, 58.5, -11.0, -5.0) | _box(year, 58.5, 64.0, 4.5, 8.0)
    interior = _box(year, 51.0, 64.0, 25.0, 40.0)
    north_sea = _box(year, 52.0, 56.0, 4.0, 10.0)
    assert windward.sum() >= 10 and north_sea.sum() >= 5
    assert np.median(p[windward]) > 1000
    assert np.median(p[windward]) > 1.6 * np.median(p[interior])
    assert np.median(p[interior]) < np.median(p[north_sea]) < np.median(p[windward])


def test_mediterranean_summers_are_dry_and_continental_summers_wet(year):
    dp = year["daily_p"]
    jja = dp[151:243].sum(axis=0) / np.maximum(dp.sum(axis=0), 1e-9)
    med = _box(year, 35.0, 42.0, -10.0, 30.0)
    # JJA share: Athens 4 %, Seville 3 %, Rome 9 %, Algiers 2 %: small
    assert np.median(jja[med]) < 0.12
    # Moscow 33 %, Kyiv 30 %, Warsaw 33 %: the summer is the wettest season inland
    east = _box(year, 50.0, 60.0, 20.0, 40.0)
    assert np.median(jja[east]) > 0.25


def test_wet_day_frequency(year):
    wet = (year["daily_p"] >= 1.0).mean(axis=0)
    outside_desert = year["lat"] >= 36.0
    # days >= 1 mm: Athens 0.15, Madrid 0.16, Berlin 0.29, Moscow 0.34, Bergen 0.55
    assert ((wet[outside_desert] >= 0.1) & (wet[outside_desert] <= 0.6)).mean() > 0.95
    sahara = _box(year, 29.9, 31.1, -2.0, 30.0)
    assert np.median(wet[sahara]) < 0.05


def test_daily_precipitation_is_skewed(year):
    dp = year["daily_p"]
    central = _box(year, 47.0, 54.0, 3.0, 20.0)
    wet = dp[:, central][dp[:, central] >= 1.0]
    # wet-day amounts are right-skewed: mean > median, the 99th percentile several times the mean
    assert wet.mean() > 1.2 * np.median(wet)
    assert np.percentile(wet, 99) > 4.0 * wet.mean()


def test_precipitation_correlation_falls_with_distance(year):
    dp = year["daily_p"]
    sel = np.flatnonzero(year["lat"] >= 36.0)[::2]
    lat, lon = np.radians(year["lat"][sel]), np.radians(year["lon"][sel])
    # great-circle distances [km]
    cosd = (np.sin(lat)[:, None] * np.sin(lat)[None, :]
            + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.cos(lon[:, None] - lon[None, :]))
    dist = 6371.0 * np.arccos(np.clip(cosd, -1.0, 1.0))
    corr = np.corrcoef(dp[:, sel].T)
    iu = np.triu_indices(sel.size, 1)
    d, c = dist[iu], corr[iu]
    means = [np.nanmean(c[(d >= a) & (d < b)]) for a, b in ((0, 150), (150, 400), (400, 1000), (1000, 4000))]
    assert means[0] > 0.5
    assert means[0] > means[1] > means[2] > means[3]
    assert abs(means[3]) < 0.1


# -- radiation ----------------------------------------------------------------------------------------------

def _toa_quadrature(hours, lat, lon, steps=60):
    """TOA insolation [J m-2] over the hour ending at each stamp, by midpoint quadrature of 1-minute steps,
    with Cooper's (1969) declination and a first-harmonic eccentricity (Duffie and Beckman), and the sun's
    largest elevation sine within the hour."""
    stamps = np.datetime64("1900-01-01T00", "h") + hours.astype("timedelta64[h]")
    doy = (stamps.astype("datetime64[D]") - stamps.astype("datetime64[Y]").astype("datetime64[D]")).astype(float) + 1
    utc = (hours % 24).astype(float)
    phi = np.radians(lat)[None, :]
    total = np.zeros((hours.size, lat.size))
    highest = np.full((hours.size, lat.size), -1.0)
    for m in range(steps + 1):
        frac = m / steps                                  # end points included for the elevation check
        tau = utc - 1.0 + frac
        n = doy + tau / 24.0
        dec = np.radians(23.45) * np.sin(2 * np.pi * (284 + n) / 365.0)
        omega = np.radians(15.0 * (tau[:, None] + lon[None, :] / 15.0 - 12.0))
        cosz = np.sin(phi) * np.sin(dec)[:, None] + np.cos(phi) * np.cos(dec)[:, None] * np.cos(omega)
        highest = np.maximum(highest, cosz)
        if m < steps:
            mid = utc - 1.0 + (m + 0.5) / steps
            nm = doy + mid / 24.0
            decm = np.radians(23.45) * np.sin(2 * np.pi * (284 + nm) / 365.0)
            om = np.radians(15.0 * (mid[:, None] + lon[None, :] / 15.0 - 12.0))
            cz = np.sin(phi) * np.sin(decm)[:, None] + np.cos(phi) * np.cos(decm)[:, None] * np.cos(om)
            total += 1361.0 * (1.0 + 0.033 * np.cos(2 * np.pi * nm / 365.0))[:, None] * np.maximum(cz, 0) * 3600 / steps
    return total, highest


def test_shortwave_below_top_of_atmosphere_and_zero_at_night(year):
    sel = np.arange(0, year["lat"].size, 10)
    hours = HOUR_2015 + np.arange(DAYS * 24)
    toa, highest = _toa_quadrature(hours, year["lat"][sel], year["lon"][sel])
    sw = year["truth"]["ssrd"][:, sel]
    # never above the top of the atmosphere (1 % and 500 J m-2 = 0.14 W m-2 for the differences of the two
    # declination formulas, which put sunrise a minute or two apart)
    assert (sw <= 1.01 * toa + 500.0).all()
    # nothing while the sun stays well below the horizon for the whole hour (2.5 degrees: Cooper's declination
    # differs from the more exact Fourier series by up to ~1.5 degrees near the equinoxes)
    night = highest < -np.sin(np.radians(2.5))
    assert night.mean() > 0.3 and (sw[night] == 0.0).all()
    # daylight hours get light; the surface gets 40-80 % of TOA over the year (clouds and clear-sky extinction)
    assert (sw[toa > 5e5] > 0).all()
    ratio = sw.sum(axis=0) / toa.sum(axis=0)
    assert (ratio > 0.35).all() and (ratio < 0.8).all()


def test_sunny_south_and_cloudy_north(year):
    sw = year["truth"]["ssrd"].mean(axis=0) / 3600.0          # annual mean W m-2
    # annual means: Sahara ~240-260, central Europe ~115-130, Norway/Finland ~80-100 W m-2
    assert np.median(sw[_box(year, 29.9, 31.1, -2.0, 30.0)]) > 200
    assert 90 < np.median(sw[_box(year, 47.0, 54.0, 3.0, 20.0)]) < 160
    assert np.median(sw[_box(year, 62.0, 70.0, 5.0, 30.0)]) < 110


# -- temperature and humidity -------------------------------------------------------------------------------

def test_mean_temperature_and_seasonal_range_of_named_places(year):
    t = year["truth"]["t2m"] - 273.15
    daily = t.reshape(DAYS, 24, -1).mean(axis=1)
    monthly = np.array([daily[d:d + 30].mean(axis=0) for d in range(0, 360, 30)])   # ~months
    # (annual mean range, (half of warmest - coldest month) range): Lisbon 16.5 and 6, Moscow 5.8 and 13,
    # Sahara near 30 N 10 E 22-25 and ~10, Finnish Lapland (Sodankyla) -0.4 and 13
    targets = {"lisbon": ((14, 19), (4, 8)), "moscow": ((2, 8), (10, 16)), "sahara": ((20, 27), (7, 14)),
               "lapland": ((-4, 3), (9, 16))}
    for name, ((lo, hi), (alo, ahi)) in targets.items():
        i = _place(year, name)
        assert lo < t[:, i].mean() < hi, (name, t[:, i].mean())
        half_range = 0.5 * (monthly[:, i].max() - monthly[:, i].min())
        assert alo < half_range < ahi, (name, half_range)
        assert monthly[:, i].argmin() in (0, 1, 11)        # coldest in Dec-Feb (late January in the mean)
        assert monthly[:, i].argmax() in (5, 6, 7)         # warmest in Jun-Aug (late July in the mean)


def test_diurnal_cycle_peaks_in_the_afternoon(year):
    t = year["truth"]["t2m"]
    hours = HOUR_2015 + np.arange(DAYS * 24)
    solar = ((hours % 24)[:, None] + year["lon"][None, :] / 15.0) % 24.0
    bins = np.floor(solar).astype(int)
    n = year["lat"].size
    mean = np.zeros((24, n))
    count = np.zeros((24, n))
    np.add.at(mean, (bins, np.broadcast_to(np.arange(n), bins.shape)), t)
    np.add.at(count, (bins, np.broadcast_to(np.arange(n), bins.shape)), 1)
    cycle = mean / np.maximum(count, 1)
    hottest = cycle.argmax(axis=0) + 0.5
    coldest = cycle.argmin(axis=0) + 0.5
    assert ((hottest >= 13) & (hottest <= 17)).mean() > 0.95       # 14-16 local solar time
    assert ((coldest >= 2) & (coldest <= 8)).mean() > 0.95         # near sunrise


def test_dew_point_below_temperature_and_humidity_by_region(year):
    t, td = year["truth"]["t2m"] - 273.15, year["truth"]["d2m"] - 273.15
    assert (td <= t).all()
    es = lambda x: 6.112 * np.exp(17.67 * x / (x + 243.5))    # noqa: E731  Bolton (1980), hPa
    rh = es(td) / es(t)
    summer = slice(181 * 24, 243 * 24)                         # July-August
    annual = rh.mean(axis=0)
    jul = rh[summer].mean(axis=0)
    # Sahara ~20-40 % (drier in summer), Atlantic coasts ~80-90 %, continental interior summers ~60-70 %
    sahara = _box(year, 29.9, 31.1, -2.0, 30.0)
    assert np.median(annual[sahara]) < 0.45 and np.median(jul[sahara]) < 0.35
    atlantic = _box(year, 51.0, 64.0, -11.0, 6.0)
    assert np.median(annual[atlantic]) > 0.78
    east = _box(year, 48.0, 58.0, 30.0, 40.0)
    assert 0.5 < np.median(jul[east]) < 0.8 and np.median(jul[east]) < np.median(annual[east])


def test_temperature_anomalies_persist_for_days(year):
    daily = year["truth"]["t2m"].reshape(DAYS, 24, -1).mean(axis=1)
    # remove the seasonal cycle: least squares on the mean and two annual harmonics
    d = np.arange(DAYS) / DAYS * 2 * np.pi
    basis = np.stack([np.ones(DAYS), np.cos(d), np.sin(d), np.cos(2 * d), np.sin(2 * d)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, daily, rcond=None)
    anomaly = daily - basis @ coef
    a = anomaly - anomaly.mean(axis=0)
    lag1 = (a[1:] * a[:-1]).sum(axis=0) / (a * a).sum(axis=0)
    assert np.median(lag1) > 0.6 and (lag1 > 0.5).mean() > 0.95
    # synoptic anomalies of daily means: std ~2-4 K (larger inland)
    assert 1.5 < np.median(a.std(axis=0)) < 4.5


# -- determinism, decomposition and chunking ------------------------------------------------------------------

POINTS_LAT = np.array([38.75, 55.75, 30.0, 67.5, 48.25, 45.0, 60.5])
POINTS_LON = np.array([-9.0, 37.5, 10.0, 25.0, 2.25, 20.0, 5.25])


def _equal(a, b):
    return all(np.array_equal(a[k], b[k]) for k in ERA5_VARIABLES)


def test_same_seed_same_weather_other_seed_other_weather():
    h0 = HOUR_2015 + 24 * 100
    a = WeatherGenerator(5, POINTS_LAT, POINTS_LON).hourly(h0, 48)
    b = WeatherGenerator(5, POINTS_LAT, POINTS_LON).hourly(h0, 48)
    c = WeatherGenerator(6, POINTS_LAT, POINTS_LON).hourly(h0, 48)
    assert _equal(a[0], b[0]) and _equal(a[1], b[1])
    assert not np.array_equal(a[0]["t2m"], c[0]["t2m"]) and not np.array_equal(a[1]["sp"], c[1]["sp"])


def test_values_do_not_depend_on_other_points_or_chunks():
    h0 = HOUR_2015 + 24 * 180 + 5          # not at a day boundary
    rng = np.random.default_rng(1)
    lat = np.concatenate([POINTS_LAT, np.round(rng.uniform(30, 71.5, 60) * 4) / 4])
    lon = np.concatenate([POINTS_LON, np.round(rng.uniform(-11, 40, 60) * 4) / 4])
    whole = WeatherGenerator(9, lat, lon).hourly(h0, 72)
    # each point alone
    for i in (0, 3, 6):
        alone = WeatherGenerator(9, lat[i:i + 1], lon[i:i + 1]).hourly(h0, 72)
        for w, a in zip(whole, alone):
            assert all(np.array_equal(w[k][:, i:i + 1], a[k]) for k in ERA5_VARIABLES)
    # another set in another order (as another rank would hold)
    perm = rng.permutation(lat.size)[:37]
    part = WeatherGenerator(9, lat[perm], lon[perm]).hourly(h0, 72)
    for w, p in zip(whole, part):
        assert all(np.array_equal(w[k][:, perm], p[k]) for k in ERA5_VARIABLES)
    # day by day (and an odd chunk) against one call
    gen = WeatherGenerator(9, lat, lon)
    pieces = [gen.hourly(h0 + s, n) for s, n in ((0, 24), (24, 24), (48, 7), (55, 17))]
    for j in range(2):
        for k in ERA5_VARIABLES:
            assert np.array_equal(np.concatenate([p[j][k] for p in pieces]), whole[j][k]), k


# -- model forcing against truth ----------------------------------------------------------------------------

def test_model_equals_truth_without_errors(year):
    assert _equal(year["truth"], year["model"])


@pytest.fixture(scope="module")
def biased():
    """Half a year with per-point biases but no weather error, at the sample points."""
    lat, lon = _sample_points()
    gen = WeatherGenerator(SEED, lat, lon, precip_bias_std=0.25, radiation_bias_std=0.05, weather_error=0.0)
    truth, model = _generate(gen, 120, chunk=60)
    return lat, truth, model


def test_model_biases_have_the_configured_spread(biased):
    lat, truth, model = biased
    p_t, p_m = truth["tp"].sum(axis=0), model["tp"].sum(axis=0)
    wet = p_t > 1e-3                                   # > 1 mm over the period
    log_ratio = np.log(p_m[wet] / p_t[wet])
    # lognormal multiplier: std of log 0.25; mean of the multiplier 1. The points are correlated over ~300 km,
    # so the sample holds ~100 independent values: +-20 % on the std, +-0.1 on the mean
    assert 0.2 < log_ratio.std() < 0.3
    assert abs(np.exp(log_ratio).mean() - 1.0) < 0.1
    # constant in time: the ratio of every wet hour equals the ratio of the totals
    hourly = model["tp"][:, wet] / np.where(truth["tp"][:, wet] > 0, truth["tp"][:, wet], np.nan)
    assert np.nanmax(np.abs(hourly - (p_m[wet] / p_t[wet])[None, :])) < 1e-9
    sw_ratio = np.log(model["ssrd"].sum(axis=0) / truth["ssrd"].sum(axis=0))
    assert 0.035 < sw_ratio.std() < 0.065
    # no weather error: temperature and the rest are the truth's
    for k in ("t2m", "d2m", "sp", "u10", "v10", "strd"):
        assert np.array_equal(model[k], truth[k]), k


@pytest.mark.parametrize("weather_error", [0.15, 0.5])
def test_model_weather_correlates_with_truth_as_configured(weather_error):
    rng = np.random.default_rng(3)
    lat = np.round(rng.uniform(35, 70, 80) * 4) / 4
    lon = np.round(rng.uniform(-10, 40, 80) * 4) / 4
    gen = WeatherGenerator(11, lat, lon, precip_bias_std=0.0, radiation_bias_std=0.0, weather_error=weather_error)
    truth, model = _generate(gen, 200, chunk=100)
    # pressure anomalies are a linear combination of latent weather fields: corr = sqrt(1 - weather_error)
    a = truth["sp"] - truth["sp"].mean(axis=0)
    b = model["sp"] - model["sp"].mean(axis=0)
    corr = (a * b).sum(axis=0) / np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    assert abs(np.median(corr) - np.sqrt(1.0 - weather_error)) < 0.04
    # precipitation: related but not the same
    pt = truth["tp"].reshape(200, 24, -1).sum(axis=1)
    pm = model["tp"].reshape(200, 24, -1).sum(axis=1)
    c = [np.corrcoef(pt[:, i], pm[:, i])[0, 1] for i in range(lat.size) if pt[:, i].sum() > 0.02]
    assert 0.2 < np.median(c) < 0.97
