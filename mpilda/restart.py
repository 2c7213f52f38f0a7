"""Restart files: the whole state of a run, by global cell id, written by all ranks at once.

Arrays are stored with the land cells as the last dimension, in ascending
global id (``cell_id``), whatever the decomposition that wrote them; a run may
resume on any number of ranks.  Each rank writes and reads only its own cells
(a union of runs of consecutive positions).  A file is written under a
temporary name and renamed when complete, so a restart either exists whole or
not at all.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from .errors import InputError
from .output import INCOMPLETE
from .parallel import LocalDomain


def _runs(positions: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of the runs of consecutive integers in sorted ``positions``."""
    if positions.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(positions) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [positions.size]])
    return [(int(positions[a]), int(b - a)) for a, b in zip(starts, ends)]


def _select(space, lead: tuple[int, ...], runs):
    from h5py import h5s

    space.select_none()
    for start, length in runs:
        space.select_hyperslab((0,) * len(lead) + (start,), lead + (length,), op=h5s.SELECT_OR)


def write_restart(path: str | Path, local: LocalDomain, comm, arrays: Mapping[str, np.ndarray],
                  meta: Mapping, mode: str = "gather") -> Path:
    """Write ``arrays`` (each (..., n_cells) in ``local.cell_ids`` order) and ``meta`` (JSON-able) to ``path``.

    Collective: every rank calls it with the same names, shapes (except the last
    axis) and meta.
    """
    import h5py

    path = Path(path)
    tmp = path.with_name(path.name + INCOMPLETE)
    land_ids = local.grid.land_ids
    n_land = land_ids.size
    positions = np.searchsorted(land_ids, local.cell_ids)
    if comm.rank == 0:
        path.parent.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    names = sorted(arrays)
    if mode == "mpio":
        from h5py import h5fd, h5p, h5s

        dxpl = h5p.create(h5p.DATASET_XFER)
        dxpl.set_dxpl_mpio(h5fd.MPIO_COLLECTIVE)
        runs = _runs(positions)
        with h5py.File(tmp, "w", driver="mpio", comm=comm) as f:
            f.attrs["meta"] = json.dumps(dict(meta))
            ids = f.create_dataset("cell_id", (n_land,), "i8")
            data = {n: f.create_dataset(n, arrays[n].shape[:-1] + (n_land,), "f8") for n in names}
            for name, ds in [("cell_id", ids)] + list(data.items()):
                values = local.cell_ids.astype(np.int64) if name == "cell_id" else \
                    np.ascontiguousarray(arrays[name], dtype=np.float64)
                lead = values.shape[:-1]
                space = ds.id.get_space()
                _select(space, lead, runs)
                # the selection walks the file row-major: for each leading index, the runs in order
                mspace = h5s.create_simple((max(values.size, 1),))
                if values.size == 0:
                    mspace.select_none()
                ds.id.write(mspace, space, values.reshape(-1) if values.size else np.zeros(1, values.dtype),
                            dxpl=dxpl)
    else:
        gathered = {n: comm.gather(np.ascontiguousarray(arrays[n], dtype=np.float64), root=0) for n in names}
        pos = comm.gather(positions, root=0)
        if comm.rank == 0:
            order = np.concatenate(pos)
            with h5py.File(tmp, "w") as f:
                f.attrs["meta"] = json.dumps(dict(meta))
                f.create_dataset("cell_id", data=land_ids.astype(np.int64))
                for n in names:
                    values = np.concatenate(gathered[n], axis=-1)
                    out = np.empty(values.shape[:-1] + (n_land,))
                    out[..., order] = values
                    f.create_dataset(n, data=out)
    comm.Barrier()
    if comm.rank == 0:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    comm.Barrier()
    return path


def read_restart(path: str | Path, local: LocalDomain) -> tuple[dict[str, np.ndarray], dict]:
    """This rank's cells of every array of a restart file, and its meta (independent reads)."""
    import h5py

    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"{path}: not a readable restart file ({exc})") from None
    with f:
        ids = f["cell_id"][...]
        land_ids = local.grid.land_ids
        if ids.shape != land_ids.shape or not np.array_equal(ids, land_ids):
            raise InputError(f"{path}: the restart holds {ids.size} land cells of another grid; this run's grid "
                             f"has {land_ids.size} (a restart from another [domain]?)")
        positions = np.searchsorted(land_ids, local.cell_ids)
        runs = _runs(positions)
        out = {}
        for name in f:
            if name == "cell_id":
                continue
            ds = f[name]
            out[name] = np.concatenate([ds[..., s:s + n] for s, n in runs], axis=-1)
        meta = json.loads(f.attrs["meta"])
    return out, meta
