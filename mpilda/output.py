"""Gridded CF netCDF-4 output, written by all ranks at once.

One writer interface, two modes that produce the same file:

* ``mpio``: parallel HDF5 (h5py built with MPI).  Each rank writes the union of
  its tiles (land values, fill over sea) with one collective write per
  variable and time; ranks never skip a collective call.
* ``gather``: the land values are gathered to rank 0, which writes the whole
  grid.  For an h5py without MPI, and for one rank.

The file structure (dimensions, coordinates, attributes) is created through
h5netcdf, so the result follows the netCDF-4 data model and opens in xarray,
ncview and Panoply; the data are then written through h5py.  Files are written
under a temporary name and renamed when complete.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from . import __version__
from .parallel import LocalDomain

#: netCDF's default fill values (netcdf.h NC_FILL_*), used as _FillValue.
FILL = {"f4": np.float32(9.9692099683868690e36), "f8": np.float64(9.9692099683868690e36),
        "i4": np.int32(-2147483647), "i2": np.int16(-32767), "i1": np.int8(-127)}
INCOMPLETE = ".incomplete"


class OutputError(RuntimeError):
    """An output file cannot be written as configured."""


@dataclass(frozen=True)
class Variable:
    """One output variable on the grid.

    ``extra`` names dimensions between time and (lat, lon), e.g. ("member",) or
    ("month", "percentile"), whose sizes the writer knows; ``static`` drops the
    time dimension.  ``dtype`` is a numpy type code of FILL.
    """

    name: str
    units: str
    long_name: str
    standard_name: str | None = None
    dtype: str = "f4"
    extra: tuple[str, ...] = ()
    static: bool = False
    cell_methods: str | None = "time: mean"


#: cell_methods of the ensemble range of daily means.  CF 1.8 section 7.3 applies the methods left to
#: right: first each member's mean over the day, then the range over the members (Appendix E: "range:
#: absolute difference between the maximum and the minimum").  The members' axis is named by its
#: standard name ``realization`` (the standard name of daily_members.nc's ``member`` coordinate): the
#: spread file has no member dimension, and CF 7.3.4 allows a standard name as the name of an axis
#: that has no coordinate in the file (as ``time`` or ``area``).  ``member: range`` would name nothing.
ENSEMBLE_RANGE_METHODS = "time: mean realization: range"


def ensemble_range(variable: Variable) -> Variable:
    """The variable holding the ensemble spread (max - min over the members) of the daily mean ``variable``.

    Same name, units and dtype; a long_name that says what it is, cell_methods
    :data:`ENSEMBLE_RANGE_METHODS` and no standard_name (a range of soil moisture is not itself a
    ``volume_fraction_of_condensed_water_in_soil``).
    """
    return Variable(variable.name, variable.units,
                    f"ensemble spread (max - min over members) of daily mean {variable.long_name}",
                    None, dtype=variable.dtype, extra=variable.extra, static=variable.static,
                    cell_methods=ENSEMBLE_RANGE_METHODS)


def h5py_has_mpi() -> bool:
    """True when the installed h5py was built against an MPI-enabled HDF5."""
    import h5py

    return bool(h5py.get_config().mpi)


def ensure_directory(path: Path, what: str, comm) -> None:
    """Create ``path`` and check that files can be written in it, before any work (collective):
    OutputError on every rank naming ``what`` (e.g. the config key) otherwise."""
    error = None
    if comm.rank == 0:
        probe = Path(path) / f".mpilda-write-test-{os.getpid()}"
        try:
            Path(path).mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"mpilda")
            probe.unlink()
        except OSError as exc:
            error = f"{what} = {path}: cannot write there ({exc.strerror or exc})"
    error = comm.bcast(error, root=0)
    if error:
        raise OutputError(error)


def resolve_io_mode(requested: str, comm) -> str:
    """'mpio' or 'gather' for the ``[output] io_mode`` value on this communicator."""
    if requested == "mpio":
        if not h5py_has_mpi():
            raise OutputError("[output] io_mode = mpio, but h5py was built without MPI support "
                              "(h5py.get_config().mpi is False): run `make setup` to build the parallel h5py, "
                              "or set io_mode = gather")
        return "mpio"
    if requested == "gather":
        return "gather"
    return "mpio" if comm.size > 1 and h5py_has_mpi() else "gather"


def git_commit() -> str:
    """The git commit of the mpilda source tree, or 'unknown'."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=Path(__file__).parent,
                             capture_output=True, text=True, timeout=5)
        return out.stdout.strip() or "unknown" if out.returncode == 0 else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def standard_attributes(comm, title: str, config_text: str) -> dict[str, str]:
    """Global attributes every output file carries; equal on all ranks (from rank 0)."""
    attrs = None
    if comm.rank == 0:
        now = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        attrs = {"Conventions": "CF-1.8", "title": title, "institution": "mpilda",
                 "source": f"mpilda {__version__}", "mpilda_version": __version__, "git_commit": git_commit(),
                 "history": f"{now} created by mpilda {__version__}", "date_created": now,
                 "config": config_text}
    return comm.bcast(attrs, root=0)


def _chunk_side(tile_size: int, n: int) -> int:
    """Chunk side in cells: a multiple of the tile size, about 32 cells, at most the dimension."""
    return min(n, tile_size * max(1, -(-32 // tile_size)))


#: Days a GridWriter holds back and writes in one call per variable (see GridWriter) ...
BUFFER_DAYS = 8
#: ... fewer when that many days of an average rank's values exceed this (daily_members.nc of many cells).
HOLD_BYTES = 64 * 2 ** 20

#: Dirty metadata [bytes] that triggers a metadata-cache sync point (HDF5's default is 256 KiB).
SYNC_DIRTY_BYTES = 16 * 2 ** 20   # HDF5 refuses more than a quarter of its largest cache (128 MiB)


def _mpio_fapl(comm):
    """File access properties of a data file written collectively.

    HDF5 1.10 (Debian 12's libhdf5-openmpi) deadlocks when a metadata-cache sync point falls inside a
    collective write of a filtered dataset: one rank flushes a B-tree node through a collective
    MPI_File_set_view while the others wait in a barrier (seen with both OMPIO and ROMIO). The cache is
    therefore allowed to hold far more dirty metadata than one day of writes produces, and
    GridWriter.write flushes the file (a collective sync point outside any write) after each day.
    """
    from h5py import h5p
    from mpi4py import MPI

    fapl = h5p.create(h5p.FILE_ACCESS)
    fapl.set_fapl_mpio(comm, MPI.INFO_NULL)
    config = fapl.get_mdc_config()
    config.max_size = 4 * SYNC_DIRTY_BYTES
    config.initial_size = max(config.initial_size, 2 * 2 ** 20)
    config.dirty_bytes_threshold = SYNC_DIRTY_BYTES
    fapl.set_mdc_config(config)
    return fapl


class GridWriter:
    """Write daily fields of a rank's cells into one CF netCDF-4 file (collective).

    Args:
        path: final file name; written as ``path + '.incomplete'`` until closed.
        local: the rank's part of the grid.
        comm: communicator of all ranks writing the file.
        variables: the variables of the file.
        start: start of the first daily interval (UTC midnight).
        n_times: number of daily intervals (length of the time dimension); 0 for a file of
            static variables only.
        dims: sizes of the extra dimensions the variables use, e.g. {"member": 24}.
        coords: optional coordinate values and attributes of extra dimensions,
            {name: (values, {attribute: value})}; "member" gets 0..n-1 (CF realization).
        mode: 'mpio' or 'gather' (see ``resolve_io_mode``).
        compression: deflate level, 0 for none.
        attrs: global attributes (see ``standard_attributes``).
        resume_days: continue the ``.incomplete`` file of an interrupted run: a new file gets its
            static variables and its first ``resume_days`` days (those before the checkpoint the
            run resumes from); later days of the old file are not trusted (a killed writer may
            have left them half written) and are written again.

    ``write(t, fields)`` takes, per variable, an array (*extra sizes, n_cells) of the
    rank's land cells in ``local.cell_ids`` order. Consecutive days of the same variables are
    held back and written together, ``buffer_days`` at a time, fewer when that many days of an
    average rank's values exceed HOLD_BYTES (one collective write per variable and block, not per
    day); ``flush`` and ``close`` write what is held.
    Every rank must call ``write``, ``write_static`` and ``close`` with the same
    arguments apart from the data.
    """

    def __init__(self, path: str | Path, local: LocalDomain, comm, variables: Sequence[Variable], *,
                 start: dt.datetime, n_times: int, dims: Mapping[str, int] | None = None, mode: str = "gather",
                 compression: int = 0, attrs: Mapping[str, str] | None = None,
                 coords: Mapping[str, tuple] | None = None, resume_days: int | None = None,
                 buffer_days: int = BUFFER_DAYS):
        self.path = Path(path)
        self.buffer_days = int(buffer_days)
        self._held: list[tuple[int, dict[str, np.ndarray]]] = []
        self.tmp = self.path.with_name(self.path.name + INCOMPLETE)
        self.local, self.comm, self.mode = local, comm, mode
        self.variables = {v.name: v for v in variables}
        self.dims = dict(dims or {})
        self.extra_coords = dict(coords or {})
        self.ny, self.nx = local.grid.shape
        for v in variables:
            for d in v.extra:
                if self.dims.get(d, 0) < 1:
                    raise OutputError(f"{self.path}: variable {v.name} uses dimension {d!r} of unknown size")
        if mode not in ("mpio", "gather"):
            raise OutputError(f"{self.path}: io mode {mode!r}; expected 'mpio' or 'gather'")
        # days held: at most HOLD_BYTES of an average rank's values (the same number on every rank,
        # since every rank must write at the same calls)
        per_rank_day = self.bytes_per_day() / comm.size
        self.buffer_days = max(1, min(self.buffer_days, int(HOLD_BYTES // max(per_rank_day, 1.0))))
        old = self.tmp.with_name(self.tmp.name + ".resumed")
        if resume_days is not None:
            self._check_resumable(old, n_times)
        self._create(start, n_times, compression, dict(attrs or {}))
        self._open_data()
        if resume_days is not None:
            self._carry_over(old, resume_days)

    # -- structure ---------------------------------------------------------
    def _create(self, start: dt.datetime, n_times: int, compression: int, attrs: dict) -> None:
        """Create dimensions, coordinates and empty variables (collective in mpio mode)."""
        import h5netcdf

        if self.comm.rank == 0:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.comm.Barrier()
        grid = self.local.grid
        kwargs = dict(driver="mpio", comm=self.comm) if self.mode == "mpio" else {}
        if self.mode == "gather" and self.comm.rank != 0:
            return
        side = _chunk_side(self.local.decomposition.tile_size, self.ny), \
            _chunk_side(self.local.decomposition.tile_size, self.nx)
        with h5netcdf.File(self.tmp, "w", **kwargs) as f:
            dims = {"time": n_times, "bnds": 2, "lat": self.ny, "lon": self.nx} if n_times else \
                {"bnds": 2, "lat": self.ny, "lon": self.nx}
            dims.update(self.dims)
            f.dimensions = dims
            coords = {}
            lat = f.create_variable("lat", ("lat",), "f8")
            lat.attrs.update(units="degrees_north", standard_name="latitude", long_name="latitude of cell centre",
                             axis="Y", bounds="lat_bnds")
            lon = f.create_variable("lon", ("lon",), "f8")
            lon.attrs.update(units="degrees_east", standard_name="longitude", long_name="longitude of cell centre",
                             axis="X", bounds="lon_bnds")
            half = grid.resolution / 2
            coords["lat"] = grid.lat
            coords["lon"] = grid.lon
            coords["lat_bnds"] = np.stack([grid.lat - half, grid.lat + half], axis=1)
            coords["lon_bnds"] = np.stack([grid.lon - half, grid.lon + half], axis=1)
            f.create_variable("lat_bnds", ("lat", "bnds"), "f8")
            f.create_variable("lon_bnds", ("lon", "bnds"), "f8")
            if n_times:
                time = f.create_variable("time", ("time",), "f8")
                time.attrs.update(units=f"days since {start:%Y-%m-%d %H:%M:%S}", calendar="proleptic_gregorian",
                                  standard_name="time", long_name="time (middle of the daily averaging interval)",
                                  axis="T", bounds="time_bnds")
                f.create_variable("time_bnds", ("time", "bnds"), "f8")
                coords["time"] = np.arange(n_times) + 0.5
                coords["time_bnds"] = np.stack([np.arange(n_times), np.arange(n_times) + 1.0], axis=1)
            extra_coords = dict(self.extra_coords)
            if "member" in self.dims and "member" not in extra_coords:
                extra_coords["member"] = (np.arange(self.dims["member"], dtype=np.int32),
                                          dict(long_name="ensemble member", standard_name="realization"))
            for name, (values, cattrs) in extra_coords.items():
                values = np.asarray(values)
                cvar = f.create_variable(name, (name,), values.dtype)
                cvar.attrs.update(cattrs)
                coords[name] = values
            for v in self.variables.values():
                vdims = (() if v.static else ("time",)) + v.extra + ("lat", "lon")
                chunks = (() if v.static else (1,)) + tuple(self.dims[d] for d in v.extra) + side
                extra = dict(compression="gzip", compression_opts=compression, shuffle=True) if compression else {}
                var = f.create_variable(v.name, vdims, v.dtype, fillvalue=FILL[v.dtype], chunks=chunks, **extra)
                var.attrs["units"] = v.units
                var.attrs["long_name"] = v.long_name
                if v.standard_name:
                    var.attrs["standard_name"] = v.standard_name
                if not v.static and v.cell_methods:
                    var.attrs["cell_methods"] = v.cell_methods
            for key, value in attrs.items():
                f.attrs[key] = value
            if self.comm.rank == 0:  # small contiguous coordinates: independent writes by one rank
                for name, values in coords.items():
                    f.variables[name][...] = values

    def _check_resumable(self, old: Path, n_times: int) -> None:
        """Move the interrupted run's ``.incomplete`` file aside to ``old`` (unless an earlier resume
        attempt did); OutputError on every rank unless it is there with these variables."""
        error = None
        if self.comm.rank == 0:
            import h5py

            try:
                if not old.exists():
                    os.replace(self.tmp, old)
                with h5py.File(old, "r") as f:
                    absent = [v for v in self.variables if v not in f]
                    found = f["time"].shape[0] if "time" in f else 0
                if absent or found != n_times:
                    error = (f"{self.tmp}: cannot resume into it: it lacks {absent}" if absent else
                             f"{self.tmp}: cannot resume into it: {found} days; this run has {n_times}")
            except OSError as exc:
                error = (f"{self.tmp}: cannot resume: the output of the interrupted run is missing or unreadable "
                         f"({exc}); run again without --resume")
        error = self.comm.bcast(error, root=0)
        if error:
            raise OutputError(error)

    def _carry_over(self, old: Path, days: int) -> None:
        """Copy the static variables and days 0..days-1 of every variable of ``old`` (collective), then
        remove it."""
        import h5py

        r0, r1, c0, c1 = self.local.bounds
        rows, cols = self.local.grid.rows_cols(self.local.cell_ids)
        rows, cols = rows - r0, cols - c0
        with h5py.File(old, "r") as f:
            for v in self.variables.values():
                ds = f[v.name]
                if v.static:
                    self._write(v, None, ds[..., r0:r1, c0:c1][..., rows, cols])
                    continue
                for t0 in range(0, days, 32):       # 32 days at a time: bounded memory
                    t1 = min(t0 + 32, days)
                    self._write(v, slice(t0, t1), ds[t0:t1, ..., r0:r1, c0:c1][..., rows, cols])
        self.flush()
        self.comm.Barrier()
        if self.comm.rank == 0:
            old.unlink()

    def bytes_per_day(self) -> int:
        """Uncompressed bytes of one day of every time-dependent variable over the whole grid."""
        cells = self.ny * self.nx
        return sum(int(np.prod([self.dims[d] for d in v.extra], dtype=np.int64)) * cells * np.dtype(v.dtype).itemsize
                   for v in self.variables.values() if not v.static)

    def flush(self) -> None:
        """Put every day written so far on disk (collective)."""
        self._write_held()
        if self.file is not None:
            self.file.flush()

    def _open_data(self) -> None:
        import h5py

        self.comm.Barrier()
        if self.mode == "mpio":
            from h5py import h5f, h5fd, h5p

            self.file = h5py.File(h5f.open(os.fsencode(self.tmp), h5f.ACC_RDWR, fapl=_mpio_fapl(self.comm)))

            self._dxpl = h5p.create(h5p.DATASET_XFER)
            self._dxpl.set_dxpl_mpio(h5fd.MPIO_COLLECTIVE)
        elif self.comm.rank == 0:
            self.file = h5py.File(self.tmp, "r+")
        else:
            self.file = None
        if self.mode == "gather":
            counts = np.array(self.comm.allgather(self.local.n_cells), dtype=np.int64)
            ids = self.comm.gather(self.local.cell_ids, root=0)
            self._counts = counts
            self._all_ids = np.concatenate(ids) if self.comm.rank == 0 else None

    # -- data --------------------------------------------------------------
    def _check(self, v: Variable, values: np.ndarray) -> np.ndarray:
        want = tuple(self.dims[d] for d in v.extra) + (self.local.n_cells,)
        values = np.asarray(values)
        if values.shape != want:
            raise OutputError(f"{self.path}: variable {v.name} given shape {values.shape}; expected {want}")
        return values.astype(v.dtype, copy=False)

    def write(self, t: int, fields: Mapping[str, np.ndarray]) -> None:
        """Write the daily values of interval ``t`` for the variables in ``fields`` (collective)."""
        checked = {}
        for name, v in self.variables.items():
            if name in fields:
                if v.static:
                    raise OutputError(f"{self.path}: {name} is static; use write_static")
                checked[name] = self._check(v, fields[name]).copy()
        if self._held and (t != self._held[-1][0] + 1 or checked.keys() != self._held[-1][1].keys()):
            self._write_held()
        self._held.append((t, checked))
        if len(self._held) >= self.buffer_days:
            self._write_held()

    def _write_held(self) -> None:
        """Write the held consecutive days, each variable in one call (collective)."""
        if not self._held:
            return
        t0, n = self._held[0][0], len(self._held)
        for name in self._held[0][1]:
            self._write(self.variables[name], slice(t0, t0 + n), np.stack([f[name] for _, f in self._held]))
        self._held = []
        if self.mode == "mpio":
            self.file.flush()   # a metadata sync point outside the collective writes (see _mpio_fapl)

    def write_static(self, fields: Mapping[str, np.ndarray]) -> None:
        """Write variables without a time dimension (collective)."""
        for name, v in self.variables.items():
            if name in fields:
                self._write(v, None, self._check(v, fields[name]))

    def _write(self, v: Variable, t: slice | None, values: np.ndarray) -> None:
        """Write ``values`` (*extra, n_cells) of a static variable (t None) or (n_days, *extra, n_cells) of
        the days ``t`` (a slice of the time axis)."""
        lead = (() if t is None else (t.stop - t.start,))
        mshape = tuple(self.dims[d] for d in v.extra)
        if self.mode == "gather":
            width = int(np.prod(lead + mshape, dtype=np.int64))
            # Cells are gathered rank after rank, each cell with its `width` day and member values.
            send = np.ascontiguousarray(values.reshape(width, -1).T)
            recv = np.empty((int(self._counts.sum()), width), dtype=v.dtype) if self.comm.rank == 0 else None
            self.comm.Gatherv(send, None if recv is None else (recv, self._counts * width), root=0)
            if self.comm.rank == 0:
                full = np.full((width, self.ny * self.nx), FILL[v.dtype], dtype=v.dtype)
                full[:, self._all_ids] = recv.T
                self.file[v.name][() if t is None else (t,)] = full.reshape(lead + mshape + (self.ny, self.nx))
            return
        from h5py import h5s

        ds = self.file[v.name]
        space = ds.id.get_space()
        space.select_none()
        first = () if t is None else (t.start,)
        for row0, col0, rows, cols in self.local.boxes:
            space.select_hyperslab(first + (0,) * len(mshape) + (row0, col0),
                                   lead + mshape + (rows, cols), op=h5s.SELECT_OR)
        box = np.full(lead + mshape + (self.local.box_ids.size,), FILL[v.dtype], dtype=v.dtype)
        box[..., self.local.box_land] = values
        mspace = h5s.create_simple((box.size,))
        ds.id.write(mspace, space, box.reshape(-1), dxpl=self._dxpl)

    # -- closing -----------------------------------------------------------
    def close(self) -> Path:
        """Close the file everywhere, then rename it to its final name (collective)."""
        self._write_held()
        if self.file is not None:
            self.file.close()
            self.file = None
        self.comm.Barrier()
        if self.comm.rank == 0:
            fd = os.open(self.tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(self.tmp, self.path)
        self.comm.Barrier()
        return self.path

    def abandon(self) -> None:
        """Give up the file after an error: the ``.incomplete`` file stays for ``run --resume``.

        In mpio mode nothing is closed: closing is collective, and the error may have struck one
        rank only while the others wait in a collective write; the job is aborted next
        (parallel.run_guarded) and the file keeps what the last flush put on disk. The reference is
        kept so that no garbage collection closes it either.
        """
        if self.mode == "mpio":
            return
        if getattr(self, "file", None) is not None:
            try:
                self.file.close()
            finally:
                self.file = None

    def __enter__(self) -> "GridWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abandon()


def read_cells(path: str | Path, names: Sequence[str], local: LocalDomain) -> dict[str, np.ndarray]:
    """Variables of a file written by ``GridWriter`` at a rank's cells: {name: (..., n_cells)} (independent reads).

    Reads only the rows and columns of the rank's tiles; fill values become NaN for float variables.
    """
    import h5py

    from .errors import InputError

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable netCDF-4 file ({exc})") from None
    r0, r1, c0, c1 = local.bounds
    rows, cols = local.grid.rows_cols(local.cell_ids)
    out = {}
    with f:
        if f["lat"].shape[0] != local.grid.shape[0] or f["lon"].shape[0] != local.grid.shape[1] or \
                not np.allclose(f["lat"][...], local.grid.lat) or not np.allclose(f["lon"][...], local.grid.lon):
            raise InputError(f"{path}: its lat/lon grid is not the grid of this run's [domain]")
        for name in names:
            if name not in f:
                raise InputError(f"{path}: no variable {name!r}")
            block = f[name][..., r0:r1, c0:c1]
            values = block[..., rows - r0, cols - c0]
            if values.dtype.kind == "f":
                fill = f[name].attrs.get("_FillValue")
                values = values.astype(np.float64)
                if fill is not None:
                    values[values == np.asarray(fill).astype(np.float64)] = np.nan
            out[name] = values
    return out
