"""Write forcing in the layout of legacy CDS ERA5 netCDF files, from all ranks at once.

The synthetic world's forcing goes through the very reader that reads real
ERA5, so its files copy the legacy CDS (grib_to_netcdf) dialect
(data-formats.md section 4a): dims (time, latitude, longitude), ``time`` int32
hours since 1900-01-01, latitude descending, variables int16 packed with a
per-file, per-variable ``scale_factor``/``add_offset`` and
``_FillValue = missing_value = -32767``; accumulations in J m-2 and m over the
hour ending at the stamp.  One file holds one UTC day (24 stamps, 00..23) of
all variables.

Each rank owns a block of latitude rows of the lattice; the packing parameters
come from the global minimum and maximum (one reduction per file), so every
rank packs alike and the file does not depend on the rank count.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from ..output import INCOMPLETE

#: ERA5 short name -> (units as CDS writes them, long_name).
ERA5_VARIABLES = {
    "t2m": ("K", "2 metre temperature"),
    "d2m": ("K", "2 metre dewpoint temperature"),
    "sp": ("Pa", "Surface pressure"),
    "u10": ("m s**-1", "10 metre U wind component"),
    "v10": ("m s**-1", "10 metre V wind component"),
    "tp": ("m", "Total precipitation"),
    "ssrd": ("J m**-2", "Surface solar radiation downwards"),
    "strd": ("J m**-2", "Surface thermal radiation downwards"),
}
PACKED_FILL = np.int16(-32767)
#: Packed values span -32766 .. 32766, keeping -32767 free for the fill value.
_HALF_RANGE = 32766
ERA5_EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.timezone.utc)


def hours_since_1900(time: dt.datetime) -> int:
    """ERA5's legacy time coordinate of a UTC time (whole hours)."""
    return int((time - ERA5_EPOCH).total_seconds()) // 3600


def packing(vmin: float, vmax: float) -> tuple[float, float]:
    """(scale_factor, add_offset) that map [vmin, vmax] onto int16 -32766 .. 32766."""
    offset = 0.5 * (vmin + vmax)
    scale = (vmax - vmin) / (2 * _HALF_RANGE)
    return (scale if scale > 0 else 1.0), offset


def pack(values: np.ndarray, scale: float, offset: float) -> np.ndarray:
    """int16 packed values: round((x - offset) / scale)."""
    return np.clip(np.rint((values - offset) / scale), -_HALF_RANGE, _HALF_RANGE).astype(np.int16)


def era5_lattice(south: float, north: float, west: float, east: float, margin: float,
                 step: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """ERA5 grid points (multiples of ``step``) covering a window plus a margin.

    Returns latitude (descending, as ERA5 writes it) and longitude (ascending) [degrees].
    """
    lat0 = np.floor((south - margin) / step) * step
    lat1 = np.ceil((north + margin) / step) * step
    lon0 = np.floor((west - margin) / step) * step
    lon1 = np.ceil((east + margin) / step) * step
    lat = np.round(np.arange(round((lat1 - lat0) / step) + 1) * step + lat0, 6)
    lon = np.round(np.arange(round((lon1 - lon0) / step) + 1) * step + lon0, 6)
    return np.clip(lat[::-1], -90.0, 90.0), lon


class Era5DayWriter:
    """Writes day files of ERA5-layout forcing for one lattice, collectively.

    Args:
        lat: (ny,) latitudes of the lattice, descending [degrees_north].
        lon: (nx,) longitudes [degrees_east].
        rows: this rank's contiguous block of latitude rows (a slice of range(ny)).
        comm: communicator of all writing ranks.
        mode: 'mpio' (each rank writes its rows through parallel HDF5) or 'gather'.
        compression: deflate level (0 = none).
    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, rows: slice, comm, mode: str = "gather",
                 compression: int = 1):
        self.lat, self.lon, self.rows, self.comm, self.mode = lat, lon, rows, comm, mode
        self.compression = compression
        self.n_rows = rows.stop - rows.start
        self.counts = np.array(comm.allgather(self.n_rows * lon.size), dtype=np.int64)

    def write(self, path: Path, day: dt.datetime, fields: Mapping[str, np.ndarray], history: str = "") -> None:
        """Write one day: ``fields[name]`` is (24, n_rows * nx) for this rank's rows (row-major), ERA5 units."""
        from mpi4py import MPI

        names = [n for n in ERA5_VARIABLES if n in fields]
        local = np.array([[np.min(fields[n]), -np.max(fields[n])] if fields[n].size else [np.inf, np.inf]
                          for n in names]).ravel()
        bounds = np.empty_like(local)
        self.comm.Allreduce(local, bounds, op=MPI.MIN)
        params = {n: packing(bounds[2 * i], -bounds[2 * i + 1]) for i, n in enumerate(names)}
        packed = {n: pack(fields[n], *params[n]).reshape(24, self.n_rows, self.lon.size) for n in names}
        tmp = path.with_name(path.name + INCOMPLETE)
        if self.comm.rank == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        self.comm.Barrier()
        self._create(tmp, day, params, history)
        if self.mode == "mpio":
            self._write_mpio(tmp, packed)
        else:
            self._write_gather(tmp, packed)
        self.comm.Barrier()
        if self.comm.rank == 0:
            os.replace(tmp, path)
        self.comm.Barrier()

    def _create(self, tmp: Path, day: dt.datetime, params, history: str) -> None:
        import h5netcdf

        if self.mode == "gather" and self.comm.rank != 0:
            return
        kwargs = dict(driver="mpio", comm=self.comm) if self.mode == "mpio" else {}
        extra = dict(compression="gzip", compression_opts=self.compression, shuffle=True) if self.compression else {}
        with h5netcdf.File(tmp, "w", **kwargs) as f:
            f.dimensions = {"time": 24, "latitude": self.lat.size, "longitude": self.lon.size}
            lon = f.create_variable("longitude", ("longitude",), "f4")
            lon.attrs.update(units="degrees_east", long_name="longitude")
            lat = f.create_variable("latitude", ("latitude",), "f4")
            lat.attrs.update(units="degrees_north", long_name="latitude")
            time = f.create_variable("time", ("time",), "i4")
            time.attrs.update(units="hours since 1900-01-01 00:00:00.0", long_name="time", calendar="gregorian")
            for name, (scale, offset) in params.items():
                units, long_name = ERA5_VARIABLES[name]
                var = f.create_variable(name, ("time", "latitude", "longitude"), "i2", fillvalue=PACKED_FILL,
                                        chunks=(1, self.lat.size, self.lon.size), **extra)
                var.attrs.update(scale_factor=np.float64(scale), add_offset=np.float64(offset),
                                 missing_value=PACKED_FILL, units=units, long_name=long_name)
            f.attrs.update(Conventions="CF-1.6", history=history or "mpilda synthetic world (ERA5 legacy layout)")
            if self.comm.rank == 0:
                lon[...] = self.lon.astype(np.float32)
                lat[...] = self.lat.astype(np.float32)
                time[...] = hours_since_1900(day) + np.arange(24, dtype=np.int32)

    def _write_mpio(self, tmp: Path, packed) -> None:
        import h5py
        from h5py import h5fd, h5p, h5s

        dxpl = h5p.create(h5p.DATASET_XFER)
        dxpl.set_dxpl_mpio(h5fd.MPIO_COLLECTIVE)
        with h5py.File(tmp, "r+", driver="mpio", comm=self.comm) as f:
            for name, values in packed.items():
                ds = f[name]
                space = ds.id.get_space()
                if self.n_rows:
                    space.select_hyperslab((0, self.rows.start, 0), (24, self.n_rows, self.lon.size))
                else:
                    space.select_none()
                mspace = h5s.create_simple((max(values.size, 1),))
                if not values.size:
                    mspace.select_none()
                ds.id.write(mspace, space, values.reshape(-1) if values.size else np.zeros(1, np.int16), dxpl=dxpl)

    def _write_gather(self, tmp: Path, packed) -> None:
        import h5py

        f = h5py.File(tmp, "r+") if self.comm.rank == 0 else None
        try:
            for name, values in packed.items():
                send = np.ascontiguousarray(values.transpose(1, 2, 0).reshape(-1, 24))  # points x hours
                recv = np.empty((int(self.counts.sum()), 24), np.int16) if f is not None else None
                self.comm.Gatherv(send, None if recv is None else (recv, self.counts * 24), root=0)
                if f is not None:
                    f[name][...] = recv.T.reshape(24, self.lat.size, self.lon.size)
        finally:
            if f is not None:
                f.close()
