"""Mean seasonal cycles and anomalies: the "climatology" of SPEC section 4.

Per cell and day of year, a moving-window mean over all years of a period,
the window (in days, odd) wrapping around the year end.  Day of year runs over
365 slots: 29 February shares the slot of 28 February, so that calendar dates
line up across years.  Missing values (NaN) are ignored; a slot whose window
holds fewer than ``min_count`` values is NaN.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

DAYS = 365


def day_slot(times) -> np.ndarray:
    """Day-of-year slot 0..364 of UTC times (datetime64 or seconds since 1970), 29 Feb -> 28 Feb."""
    t = np.asarray(times)
    if not np.issubdtype(t.dtype, np.datetime64):
        t = t.astype("int64").astype("datetime64[s]")
    day = t.astype("datetime64[D]")
    year = day.astype("datetime64[Y]")
    doy = (day - year.astype("datetime64[D]")).astype(np.int64)          # 0-based day of year
    leap = _is_leap(year.astype(np.int64) + 1970)
    return np.where(leap & (doy >= 59), np.maximum(doy - 1, 58), doy)


def _is_leap(year: np.ndarray) -> np.ndarray:
    return (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))


def slot_of(date: dt.date | dt.datetime) -> int:
    """Day-of-year slot of one date."""
    return int(day_slot(np.array([np.datetime64(dt.date(date.year, date.month, date.day))]))[0])


def _window_sum(per_slot: np.ndarray, window: int) -> np.ndarray:
    """Circular moving sum over axis 0 (365 slots) with an odd window."""
    half = window // 2
    padded = np.concatenate([per_slot[-half:], per_slot, per_slot[:half]], axis=0) if half else per_slot
    csum = np.concatenate([np.zeros((1,) + per_slot.shape[1:]), np.cumsum(padded, axis=0)], axis=0)
    return csum[window:] - csum[:-window]


def seasonal_cycle(values: np.ndarray, slots: np.ndarray, window: int = 31, min_count: int = 1,
                   power: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Moving-window mean seasonal cycle (365, ...) of ``values`` (n_time, ...) at day slots (n_time,).

    Returns (mean, count): the window mean of ``values ** power`` per slot and the
    number of values in each slot's window.
    """
    if window < 1 or window % 2 == 0 or window > DAYS:
        raise ValueError(f"climatology window {window}: expected an odd number of days in 1..{DAYS}")
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    sums = np.zeros((DAYS,) + v.shape[1:])
    counts = np.zeros((DAYS,) + v.shape[1:])
    np.add.at(sums, slots, np.where(ok, v, 0.0) ** power)
    np.add.at(counts, slots, ok.astype(np.float64))
    s, n = _window_sum(sums, window), _window_sum(counts, window)
    mean = np.where(n >= max(min_count, 1), s / np.maximum(n, 1.0), np.nan)
    return mean, n


def anomalies(values: np.ndarray, slots: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Departures of ``values`` (n_time, ...) from a seasonal cycle (365, ...) at their slots."""
    return np.asarray(values, dtype=np.float64) - cycle[slots]


def anomaly_std(values: np.ndarray, slots: np.ndarray, cycle: np.ndarray, window: int = 31,
                min_count: int = 2) -> np.ndarray:
    """Moving-window standard deviation (365, ...) of the anomalies from ``cycle``."""
    a = anomalies(values, slots, cycle)
    var, n = seasonal_cycle(a, slots, window, min_count, power=2)
    return np.sqrt(var)
