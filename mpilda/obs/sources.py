"""Reading a sensor's observations for a rank's cells over a period, and the model values paired with them.

``read_period`` returns every retrieval of a sensor between two times at the
rank's cells (the readers read only the part of each file the cells need).
``ModelSeries`` gives an open-loop run's values at observation times: from its
``overpass.nc`` (the state at each cell's local overpass time) when the run
wrote one, else from ``daily_mean.nc`` (the daily mean of the UTC day).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputError
from ..output import read_cells
from ..parallel import LocalDomain
from .records import CellObservations, as_seconds

SENSORS = ("smap", "lai", "vod")


class SensorReader:
    """Finds and reads one sensor's files for a rank's cells.

    The directory is listed once, on the first ``files`` call, into an index of the files' times
    from their names (an archive of eight years holds some 90,000 SMAP granules: listing and parsing
    it for every simulated day on every rank would load a parallel file system's metadata servers);
    each day then looks only at the files whose names place them near the day. Files added to the
    directory during a run are not seen.
    """

    def __init__(self, cfg: Config, sensor: str, local: LocalDomain):
        self.cfg, self.sensor, self.local = cfg, sensor, local
        self.directory = cfg.obs_directory(sensor)
        lat, lon = local.lat, local.lon
        if sensor == "smap":
            from .smap import HALF_ORBIT_SPAN, SmapReader, find_smap_granules, parse_name

            self.reader, self.find = SmapReader(lat, lon), find_smap_granules
            # a granule's retrievals lie within HALF_ORBIT_SPAN after the start in its name
            self._span = lambda p: None if (x := parse_name(p)) is None else (x[2], x[2] + HALF_ORBIT_SPAN)
        elif sensor == "lai":
            from .cgls import LaiReader, find_lai_files, parse_lai_name

            self.reader = LaiReader(lat, lon, cfg.domain.resolution, cfg.obs_lai.min_valid_fraction)
            self.find = find_lai_files
            self._span = lambda p: None if (x := parse_lai_name(p)) is None else _day_span(x[0])
        elif sensor == "vod":
            from .vod import VodReader, find_vod_files, parse_name as vod_name

            self.reader = VodReader(lat, lon)
            self.find = lambda d, a, b, paths=None: find_vod_files(d, a, b, direction="D", paths=paths)
            self._span = lambda p: None if (x := vod_name(p)) is None else _day_span(x[0])
        else:
            raise ValueError(f"unknown sensor {sensor!r}")
        self._index: tuple[np.ndarray, np.ndarray, list[Path]] | None = None

    def files(self, start: dt.datetime, end: dt.datetime) -> list[Path]:
        """The sensor's files with retrievals in [start, end) (as the product's finder decides)."""
        if self._index is None:
            if not self.directory.is_dir():
                raise InputError(f"[obs.{self.sensor}] directory = {self.directory}: no such directory")
            spans = sorted((span, path) for path in self.directory.iterdir()
                           if (span := self._span(path)) is not None)
            self._index = (np.array([s[0][0] for s in spans], dtype=np.int64),
                           np.array([s[0][1] for s in spans], dtype=np.int64), [s[1] for s in spans])
        begins, ends, paths = self._index
        t0, t1 = as_seconds(start), as_seconds(end)
        near = np.flatnonzero((begins < t1) & (ends >= t0))
        return self.find(self.directory, start, end, paths=[paths[i] for i in near])

    def span(self, path: Path) -> tuple[int, int] | None:
        """[start, end) in s since 1970 of the retrievals the file's name promises, or None (not a name of
        the product)."""
        return self._span(path)

    def read(self, path: Path) -> CellObservations:
        """The file's retrievals at the rank's cells; InputError naming the file if it cannot be read
        (the readers name what is wrong; a read error of the file system or the HDF5 library, e.g. of a
        truncated file, too)."""
        try:
            if self.sensor == "lai":
                return self.reader.read(path, self.cfg.obs_lai.local_hour)
            return self.reader.read(path)
        except OSError as exc:
            raise InputError(f"{path}: not a readable {self.sensor.upper()} file ({exc})") from None


def _day_span(date: dt.date) -> tuple[int, int]:
    """[start, end) in s since 1970 of a UTC day."""
    t = int(dt.datetime(date.year, date.month, date.day, tzinfo=dt.timezone.utc).timestamp())
    return t, t + 86400


def read_period(cfg: Config, sensor: str, local: LocalDomain, start: dt.datetime, end: dt.datetime) -> CellObservations:
    """All retrievals of ``sensor`` at the rank's cells with start <= time < end."""
    reader = SensorReader(cfg, sensor, local)
    parts = [reader.read(p).between(start, end) for p in reader.files(start, end)]
    return CellObservations.concatenate(parts)


class ModelSeries:
    """An open-loop run's daily values at a rank's cells (n_days, n_cells), and lookups at observation times."""

    def __init__(self, run_dir: Path, local: LocalDomain):
        self.dir = Path(run_dir)
        self.local = local
        daily = self.dir / "daily_mean.nc"
        if not daily.exists():
            raise InputError(f"{daily}: no open-loop output; run the OL experiment first ([assimilation] "
                             f"ol_directory)")
        self.start = _file_start(daily)
        self.overpass_path = self.dir / "overpass.nc"

    def daily(self, names) -> dict[str, np.ndarray]:
        """Daily means (n_days, n_cells)."""
        return read_cells(self.dir / "daily_mean.nc", names, self.local)

    def at_overpass(self, names) -> dict[str, np.ndarray] | None:
        """Overpass samples (n_days, n_cells) named like ``sm1_0600``, or None without an overpass.nc."""
        if not self.overpass_path.exists():
            return None
        return read_cells(self.overpass_path, names, self.local)

    def day_index(self, seconds: np.ndarray) -> np.ndarray:
        return (np.asarray(seconds, dtype=np.int64) - int(self.start.timestamp())) // 86400


def _file_start(path: Path) -> dt.datetime:
    import h5py

    with h5py.File(path, "r") as f:
        units = f["time"].attrs["units"]
    units = units.decode() if isinstance(units, bytes) else units
    return dt.datetime.fromisoformat(units.split("since")[1].strip()).replace(tzinfo=dt.timezone.utc)
