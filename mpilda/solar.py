"""The sun: calendar of the ERA5 hour axis, declination, eccentricity and top-of-atmosphere insolation.

Hours are counted since 1900-01-01 00:00 UTC (ERA5's legacy time axis).  Local
solar time is UTC + longitude / 15 h (the equation of time, at most about 16
minutes, is neglected).
"""

from __future__ import annotations

import numpy as np

#: Total solar irradiance at 1 AU [W m-2] (Kopp and Lean 2011, 1360.8 +- 0.5, rounded).
SOLAR_CONSTANT = 1361.0
_EPOCH = np.datetime64("1900-01-01T00", "h")
_SECONDS_PER_RADIAN = 86400.0 / (2.0 * np.pi)   # the hour angle turns 2 pi per day


def year_fraction(hours: np.ndarray) -> np.ndarray:
    """Fraction of the calendar year elapsed at each hour stamp (hours since 1900-01-01 UTC): [0, 1)."""
    t = _EPOCH + np.asarray(hours, dtype=np.int64).astype("timedelta64[h]")
    year = t.astype("datetime64[Y]")
    start = year.astype("datetime64[h]")
    length = (year + np.timedelta64(1, "Y")).astype("datetime64[h]") - start
    return (t - start).astype(np.float64) / length.astype(np.float64)


def declination(yf: np.ndarray) -> np.ndarray:
    """Solar declination [rad] at year fraction ``yf`` (Spencer 1971 Fourier series)."""
    g = 2.0 * np.pi * np.asarray(yf, dtype=np.float64)
    return (0.006918 - 0.399912 * np.cos(g) + 0.070257 * np.sin(g) - 0.006758 * np.cos(2 * g)
            + 0.000907 * np.sin(2 * g) - 0.002697 * np.cos(3 * g) + 0.00148 * np.sin(3 * g))


def eccentricity(yf: np.ndarray) -> np.ndarray:
    """Eccentricity correction (1 AU / Earth-sun distance)^2 [-] at year fraction ``yf`` (Spencer 1971)."""
    g = 2.0 * np.pi * np.asarray(yf, dtype=np.float64)
    return 1.000110 + 0.034221 * np.cos(g) + 0.001280 * np.sin(g) + 0.000719 * np.cos(2 * g) + 0.000077 * np.sin(2 * g)


def sunset_hour_angle(lat: np.ndarray, dec: np.ndarray) -> np.ndarray:
    """Hour angle of sunset [rad], 0 (polar night) .. pi (polar day); lat [degrees], dec [rad], broadcast."""
    phi = np.radians(lat)
    return np.arccos(np.clip(-np.tan(phi) * np.tan(dec), -1.0, 1.0))


def local_solar_hour(hours: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Local solar time [h, 0..24) at UTC hour stamps (n_hours,) and longitudes (n,) [degrees]: (n_hours, n)."""
    utc = (np.asarray(hours, dtype=np.int64) % 24).astype(np.float64)
    return (utc[:, None] + np.asarray(lon, dtype=np.float64)[None, :] / 15.0) % 24.0


def toa_hourly(hours: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Top-of-atmosphere insolation on a horizontal surface accumulated over the hour ENDING at each stamp.

    Args:
        hours: (n_hours,) int hour stamps since 1900-01-01 00 UTC.
        lat, lon: (n,) degrees.

    Returns:
        (n_hours, n) [J m-2]: the exact integral over the hour of S0 E0 max(0, cos zenith), with the
        declination and eccentricity of the middle of the hour; the hour's part before sunrise or after
        sunset contributes nothing.
    """
    hours = np.asarray(hours, dtype=np.int64)
    yf = year_fraction(hours) - 0.5 / (24.0 * 365.25)      # middle of the hour (year length: 365.25 d is enough)
    dec = declination(yf)[:, None]
    e0 = eccentricity(yf)[:, None]
    phi = np.radians(np.asarray(lat, dtype=np.float64))[None, :]
    ws = sunset_hour_angle(np.asarray(lat, dtype=np.float64)[None, :], dec)
    # hour angle at the end of the hour, wrapped into (-pi, pi]; the hour starts pi/12 earlier
    w2 = (local_solar_hour(hours, lon) - 12.0) * (np.pi / 12.0)
    w2 = np.where(w2 > np.pi, w2 - 2.0 * np.pi, w2)
    w1 = w2 - np.pi / 12.0
    a, b = np.sin(phi) * np.sin(dec), np.cos(phi) * np.cos(dec)
    total = np.zeros(w2.shape)
    for centre in (0.0, -2.0 * np.pi):               # daylight intervals [centre - ws, centre + ws]
        lo = np.maximum(w1, centre - ws)
        hi = np.minimum(w2, centre + ws)
        inside = hi > lo
        hi = np.where(inside, hi, lo)
        total += a * (hi - lo) + b * (np.sin(hi - centre) - np.sin(lo - centre))
    return SOLAR_CONSTANT * e0 * _SECONDS_PER_RADIAN * np.maximum(total, 0.0)
