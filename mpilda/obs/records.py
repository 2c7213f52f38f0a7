"""What every observation reader returns: retrievals mapped to the caller's model cells.

A reader is built for a set of model cells (arrays of cell-centre latitude and longitude)
and returns, for one file, a ``CellObservations`` with one entry per (model cell,
retrieval) pair.  Nothing is dropped: fill values become NaN and the ``valid`` flag says
whether a value is finite and inside the product's valid range, so the masks downstream
can count what they reject.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def as_seconds(time: dt.datetime | dt.date | int | np.integer) -> int:
    """Whole seconds since 1970-01-01 UTC of an aware datetime, a date (its 00:00 UTC) or a number of seconds."""
    if isinstance(time, dt.datetime):
        if time.tzinfo is None or time.utcoffset() is None:
            raise ValueError(f"{time!r}: expected an aware (UTC) datetime")
        return (time - _EPOCH) // dt.timedelta(seconds=1)
    if isinstance(time, dt.date):
        return (time - _EPOCH.date()).days * 86400
    return int(time)


def iso(seconds: int) -> str:
    """ISO 8601 UTC text ("2015-08-11T01:30:02Z") of whole seconds since 1970-01-01."""
    return (_EPOCH + dt.timedelta(seconds=int(seconds))).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CellObservations:
    """Retrievals of one file at the caller's model cells; every array has shape (n,).

    Attributes:
        cell: int64 index into the caller's cell arrays (a model cell may appear more than
            once, e.g. in two SMAP half-orbits; a 36 km SMAP cell serves several model cells).
        time: int64 seconds since 1970-01-01 UTC of the retrieval.
        value: float64 retrieval in the sensor's units (SSM m3 m-3, LAI m2 m-2, VOD -);
            NaN where the file holds a fill value.
        quality: bool, the product's own quality test passed (SMAP: "recommended"
            retrieval; LAI: enough valid pixels; VOD: QA companion says good).
        valid: bool, value finite and inside the product's valid range.
        extra: further per-entry arrays of the product (e.g. ``direction`` 'A'/'D',
            ``surface_flag``, ``valid_fraction``), each of shape (n,).
    """

    cell: np.ndarray
    time: np.ndarray
    value: np.ndarray
    quality: np.ndarray
    valid: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.cell = np.asarray(self.cell, dtype=np.int64)
        self.time = np.asarray(self.time, dtype=np.int64)
        self.value = np.asarray(self.value, dtype=np.float64)
        self.quality = np.asarray(self.quality, dtype=bool)
        self.valid = np.asarray(self.valid, dtype=bool)
        self.extra = {k: np.asarray(v) for k, v in self.extra.items()}
        n = self.cell.shape
        for name in ("time", "value", "quality", "valid"):
            if getattr(self, name).shape != n:
                raise ValueError(f"CellObservations.{name} has shape {getattr(self, name).shape}; expected {n}")
        for name, values in self.extra.items():
            if values.shape != n:
                raise ValueError(f"CellObservations.extra[{name!r}] has shape {values.shape}; expected {n}")

    def __len__(self) -> int:
        return int(self.cell.size)

    @property
    def usable(self) -> np.ndarray:
        """(n,) bool: valid and of the product's own good quality (before the model-based masks)."""
        return self.valid & self.quality

    def select(self, which: np.ndarray) -> "CellObservations":
        """The entries picked by a boolean mask or an index array."""
        return CellObservations(self.cell[which], self.time[which], self.value[which], self.quality[which],
                                self.valid[which], {k: v[which] for k, v in self.extra.items()})

    def between(self, start: dt.datetime | int, end: dt.datetime | int) -> "CellObservations":
        """The entries with start <= time < end (aware datetimes or seconds since 1970-01-01 UTC)."""
        return self.select((self.time >= as_seconds(start)) & (self.time < as_seconds(end)))

    @staticmethod
    def empty(extra: dict[str, np.dtype] | None = None) -> "CellObservations":
        """No entries (with empty extra arrays of the given dtypes)."""
        return CellObservations(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0), np.empty(0, bool),
                                np.empty(0, bool), {k: np.empty(0, dtype) for k, dtype in (extra or {}).items()})

    @staticmethod
    def concatenate(parts: list["CellObservations"]) -> "CellObservations":
        """All entries of ``parts`` in order; the extra arrays kept are those every part has."""
        if not parts:
            return CellObservations.empty()
        keys = [k for k in parts[0].extra if all(k in p.extra for p in parts[1:])]
        return CellObservations(
            np.concatenate([p.cell for p in parts]), np.concatenate([p.time for p in parts]),
            np.concatenate([p.value for p in parts]), np.concatenate([p.quality for p in parts]),
            np.concatenate([p.valid for p in parts]),
            {k: np.concatenate([p.extra[k] for p in parts]) for k in keys})


def local_solar_to_utc(day_seconds: int, local_hour: float, lon: np.ndarray) -> np.ndarray:
    """(n,) int64 UTC seconds of ``local_hour`` [h] local mean solar time on the day starting at ``day_seconds``.

    Local mean solar time = UTC + lon / 15 h (15 degrees of longitude per hour), so
    UTC = day + local_hour - lon / 15 h; rounded to the second.
    """
    offset = (float(local_hour) - np.asarray(lon, dtype=np.float64) / 15.0) * 3600.0
    return int(day_seconds) + np.round(offset).astype(np.int64)
