"""Domain decomposition over MPI ranks: the one module that knows what a rank is.

The grid is cut into square tiles of ``tile_size`` cells; tiles with no land are
dropped.  The land tiles are ordered along a Hilbert curve and the curve is cut
into ``n_ranks`` contiguous pieces of near-equal land-cell count, so each
rank's tiles are compact and the load is balanced.  The cut minimises the
largest piece first (the "linear partition" bottleneck, found by bisection),
then puts every cut as close to the ideal share as that bound allows.

Nothing here depends on the communicator except the helpers at the end; the
decomposition itself is a pure function of (grid, tile size, rank count).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from .grid import Grid


class DecompositionError(ValueError):
    """The requested rank count cannot be served by the tiles of the grid."""


def hilbert_index(order: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Position of points (x, y) along a Hilbert curve filling a 2**order square.

    Vectorised form of the classic bit-by-bit conversion (each level picks the
    quadrant, then rotates/reflects the frame so the curve stays continuous).
    """
    x = np.asarray(x, dtype=np.int64).copy()
    y = np.asarray(y, dtype=np.int64).copy()
    d = np.zeros_like(x)
    s = 1 << max(order - 1, 0)
    n = 1 << order
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        flip = ~ry & rx
        x = np.where(flip, n - 1 - x, x)
        y = np.where(flip, n - 1 - y, y)
        swap = ~ry
        x, y = np.where(swap, y, x), np.where(swap, x, y)
        s >>= 1
    return d


def _bottleneck(weights: np.ndarray, n_parts: int) -> int:
    """Smallest possible maximum part weight when cutting ``weights`` into n contiguous parts."""
    prefix = np.concatenate([[0], np.cumsum(weights)])

    def parts_needed(cap: int) -> int:
        count, start = 0, 0
        while start < weights.size:
            start = int(np.searchsorted(prefix, prefix[start] + cap, side="right")) - 1
            count += 1
        return count

    lo, hi = int(weights.max()), int(prefix[-1])
    while lo < hi:
        mid = (lo + hi) // 2
        if parts_needed(mid) <= n_parts:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _balanced_cuts(weights: np.ndarray, n_parts: int, cap: int) -> np.ndarray | None:
    """Cut positions (n_parts + 1,) putting each cut nearest the ideal share, no part above ``cap``.

    Returns None when the rule cannot keep every part within ``cap``.
    """
    prefix = np.concatenate([[0], np.cumsum(weights)])
    n = weights.size
    cuts = [0]
    for part in range(n_parts - 1):
        start = cuts[-1]
        left = n_parts - part
        target = prefix[start] + (prefix[-1] - prefix[start]) / left
        k = int(np.searchsorted(prefix, target))
        k = k - 1 if k > 0 and (k > n or target - prefix[k - 1] <= prefix[k] - target) else k
        k_cap = int(np.searchsorted(prefix, prefix[start] + cap, side="right")) - 1
        cuts.append(int(np.clip(k, start + 1, min(k_cap, n - (left - 1)))))
    cuts.append(n)
    cuts_arr = np.array(cuts)
    return cuts_arr if np.diff(prefix[cuts_arr]).max() <= cap else None


@dataclass(frozen=True, eq=False)
class Decomposition:
    """Tiles of a grid and their assignment to ranks.

    Tile arrays are in Hilbert-curve order; tile k covers rows
    ``tile_row0[k] : tile_row0[k] + tile_rows[k]`` and the columns likewise.
    """

    grid: Grid
    tile_size: int
    n_ranks: int
    tile_row0: np.ndarray
    tile_col0: np.ndarray
    tile_rows: np.ndarray
    tile_cols: np.ndarray
    tile_land: np.ndarray
    tile_rank: np.ndarray

    @classmethod
    def build(cls, grid: Grid, tile_size: int, n_ranks: int) -> "Decomposition":
        ny, nx = grid.shape
        row0 = np.arange(0, ny, tile_size)
        col0 = np.arange(0, nx, tile_size)
        counts = np.add.reduceat(np.add.reduceat(grid.land.astype(np.int64), row0, axis=0), col0, axis=1)
        ty, tx = np.nonzero(counts)
        order = np.argsort(hilbert_index(int(np.ceil(np.log2(max(len(row0), len(col0), 1)))), tx, ty),
                           kind="stable")
        ty, tx = ty[order], tx[order]
        land = counts[ty, tx]
        if n_ranks < 1:
            raise DecompositionError(f"rank count {n_ranks}: expected at least 1")
        if n_ranks > land.size:
            raise DecompositionError(
                f"{n_ranks} ranks but the grid has only {land.size} land tiles of {tile_size}x{tile_size} cells: "
                f"run on at most {land.size} ranks or lower [domain] tile_size")
        cap = _bottleneck(land, n_ranks)
        while (cuts := _balanced_cuts(land, n_ranks, cap)) is None:
            cap += 1
        rank = np.repeat(np.arange(n_ranks), np.diff(cuts))
        r0 = row0[ty]
        c0 = col0[tx]
        return cls(grid, tile_size, n_ranks, r0, c0, np.minimum(tile_size, ny - r0),
                   np.minimum(tile_size, nx - c0), land, rank)

    @property
    def n_tiles(self) -> int:
        return int(self.tile_land.size)

    @cached_property
    def rank_land(self) -> np.ndarray:
        """(n_ranks,) land cells per rank."""
        return np.bincount(self.tile_rank, weights=self.tile_land, minlength=self.n_ranks).astype(np.int64)

    def owner_map(self) -> np.ndarray:
        """(ny, nx) int32 rank owning each cell of a land tile; -1 outside them."""
        owner = np.full(self.grid.shape, -1, dtype=np.int32)
        for k in range(self.n_tiles):
            owner[self.tile_row0[k]:self.tile_row0[k] + self.tile_rows[k],
                  self.tile_col0[k]:self.tile_col0[k] + self.tile_cols[k]] = self.tile_rank[k]
        return owner

    def local(self, rank: int) -> "LocalDomain":
        """The cells and tiles of one rank."""
        tiles = np.flatnonzero(self.tile_rank == rank)
        return LocalDomain(self, rank, tiles)

    def summary(self) -> dict:
        """Figures of the decomposition (the ``decompose --json`` object)."""
        loads = self.rank_land
        return dict(land_cells=int(self.grid.n_land), tiles=self.n_tiles, ranks=self.n_ranks,
                    min_cells=int(loads.min()), max_cells=int(loads.max()), mean_cells=float(loads.mean()),
                    imbalance=float(loads.max() / loads.mean()))


@dataclass(frozen=True, eq=False)
class LocalDomain:
    """The part of the grid that one rank owns.

    ``cell_ids`` (n_cells,) are the global ids of the rank's land cells, ascending;
    every per-cell array of the rank follows that order.  ``box_ids`` are the ids
    of all cells (land and sea) inside the rank's tiles, ascending: the order in
    which a write of the union of the tiles walks the file.
    """

    decomposition: Decomposition
    rank: int
    tiles: np.ndarray

    @property
    def grid(self) -> Grid:
        return self.decomposition.grid

    @cached_property
    def box_ids(self) -> np.ndarray:
        d = self.decomposition
        nx = self.grid.shape[1]
        parts = [((d.tile_row0[k] + np.arange(d.tile_rows[k]))[:, None] * nx
                  + d.tile_col0[k] + np.arange(d.tile_cols[k])[None, :]).ravel() for k in self.tiles]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    @cached_property
    def box_land(self) -> np.ndarray:
        """(n_box,) bool: which of ``box_ids`` are land."""
        return self.grid.land.ravel()[self.box_ids]

    @cached_property
    def cell_ids(self) -> np.ndarray:
        return self.box_ids[self.box_land]

    @property
    def n_cells(self) -> int:
        return int(self.cell_ids.size)

    @cached_property
    def lat(self) -> np.ndarray:
        """(n_cells,) cell-centre latitudes [degrees_north]."""
        return self.grid.cell_lat_lon(self.cell_ids)[0]

    @cached_property
    def lon(self) -> np.ndarray:
        """(n_cells,) cell-centre longitudes [degrees_east]."""
        return self.grid.cell_lat_lon(self.cell_ids)[1]

    @property
    def boxes(self) -> list[tuple[int, int, int, int]]:
        """(row0, col0, rows, cols) of each tile of the rank."""
        d = self.decomposition
        return [(int(d.tile_row0[k]), int(d.tile_col0[k]), int(d.tile_rows[k]), int(d.tile_cols[k]))
                for k in self.tiles]

    @cached_property
    def bounds(self) -> tuple[int, int, int, int]:
        """(row_min, row_max_exclusive, col_min, col_max_exclusive) of the rank's tiles."""
        b = np.array(self.boxes)
        return (int(b[:, 0].min()), int((b[:, 0] + b[:, 2]).max()),
                int(b[:, 1].min()), int((b[:, 1] + b[:, 3]).max()))


# ---------------------------------------------------------------------------
# Communicator helpers (MPI at the edge; the communicator is always passed in)
# ---------------------------------------------------------------------------

def world():
    """The world communicator (imported lazily so serial commands need not start MPI)."""
    from mpi4py import MPI

    return MPI.COMM_WORLD


def all_ok(comm, ok: bool) -> bool:
    """True on every rank iff ``ok`` is true on every rank (one collective)."""
    from mpi4py import MPI

    return bool(comm.allreduce(bool(ok), op=MPI.LAND))


def run_guarded(comm, func, *args, user_errors: tuple = (), passthrough: tuple = (), **kwargs):
    """Call ``func``; if it raises on this rank, print why and end the whole job.

    Errors of the ``user_errors`` types are printed as their message alone and end
    with status 2; anything else with its traceback and status 1.  With more than
    one rank the job is aborted (MPI_Abort), so ranks waiting in a collective
    call do not hang.  Errors of the ``passthrough`` types, which every rank
    raises alike, are re-raised to the caller.
    """
    import traceback

    try:
        return func(*args, **kwargs)
    except passthrough:
        raise
    except user_errors as exc:
        prefix = f"[rank {comm.rank}] " if comm.size > 1 else ""
        print(f"mpilda: error: {prefix}{exc}", file=sys.stderr)
        abort(comm, 2)
    except Exception:  # noqa: BLE001 - any failure must end every rank
        prefix = f"[rank {comm.rank}] " if comm.size > 1 else ""
        print(f"mpilda: {prefix}unexpected error:\n{traceback.format_exc()}", file=sys.stderr)
        abort(comm, 1)


def abort(comm, code: int = 1) -> None:
    """End the whole job now: flush, then MPI_Abort so no rank waits forever."""
    sys.stdout.flush()
    sys.stderr.flush()
    if comm is not None and comm.size > 1:
        comm.Abort(code)
    raise SystemExit(code)
