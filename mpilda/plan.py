"""``python -m mpilda plan CONFIG --ranks N``: size a batch job before submitting it.

Prints the decomposition of the config's grid on N ranks, an estimate of the peak memory per rank
and of the wall time and core-hours of the run (spin-up cycles included), from figures measured
with ``tools/bench.py`` on the 2-core development machine (see the README's benchmark table).
The estimates are linear in the columns a rank holds; a cluster's cores may be faster or slower.
"""

from __future__ import annotations

from dataclasses import dataclass

from .config import Config
from .grid import Grid
from .parallel import Decomposition

#: Peak resident memory of a rank [MB] apart from its columns: the interpreter, numpy, numba's
#: compiled kernel, h5py/netCDF4, MPI and the forcing reader (measured with /usr/bin/time -v on one
#: rank: 257 MB for a truth run of 377 columns and for a 24-member OL of 3,800 columns).
BASE_MB = 250.0
#: Peak resident memory per ensemble column [MB]: state, fluxes, daily sums and perturbations with
#: their temporaries (measured by tools/bench.py all: 785 MiB a rank for the 24-member OL of the
#: paper domain on 2 ranks, 246,262 columns a rank: 2.2 kB a column).
PER_COLUMN_MB = 0.0022
#: More memory of a DA run [MB]: observations of a day, rescaling tables, the VOD operator
#: (DA_SSM+VOD of 3,800 columns on one rank: 266 MB).
DA_MB = 10.0
#: Run-loop cost [us per column-step per core] with Noah-MP 4.0.1 (tools/bench.py all, one core at the
#: paper's load per rank of 7,650 columns: the full DA cycle of DA_SSM+VOD 1.37, of which the analysis,
#: observations and diagnostics 4 %), the open loop (and a truth run) without those.
US_PER_COLUMN_STEP = {"truth": 1.31, "OL": 1.31, "DA": 1.37}


@dataclass(frozen=True)
class Plan:
    ranks: int
    land_cells: int
    tiles: int
    max_cells: int
    imbalance: float
    columns_per_rank: int
    memory_mb_per_rank: float
    steps: int
    wall_hours: float
    core_hours: float

    def text(self) -> str:
        return (f"{self.land_cells} land cells in {self.tiles} tiles on {self.ranks} ranks: at most "
                f"{self.max_cells} cells ({self.columns_per_rank} ensemble columns) a rank, imbalance "
                f"{self.imbalance:.3f}\n"
                f"peak memory per rank: about {self.memory_mb_per_rank:.0f} MB\n"
                f"{self.steps} model steps (spin-up included): about {self.wall_hours:.2f} h of wall time, "
                f"{self.core_hours:.1f} core-hours (figures of the 2-core development machine)")


def make_plan(cfg: Config, ranks: int) -> Plan:
    """The plan of the run of ``cfg`` on ``ranks`` ranks."""
    grid = Grid.from_config(cfg.domain)
    summary = Decomposition.build(grid, cfg.domain.tile_size, ranks).summary()
    n_ens = cfg.ensemble.members + 1 if cfg.ensemble.members else 1
    columns = summary["max_cells"] * n_ens
    sp = cfg.spinup
    spin_steps = 0
    if sp.cycles:
        start, end = sp.start or cfg.time.start, sp.end or cfg.time.end
        spin_steps = sp.cycles * int((end - start).total_seconds()) // cfg.time.timestep
    steps = cfg.time.n_steps + spin_steps
    kind = "DA" if cfg.experiment.name.startswith("DA_") else cfg.experiment.name
    wall_s = US_PER_COLUMN_STEP[kind] * 1e-6 * columns * steps
    return Plan(ranks=ranks, land_cells=summary["land_cells"], tiles=summary["tiles"],
                max_cells=summary["max_cells"], imbalance=summary["imbalance"], columns_per_rank=columns,
                memory_mb_per_rank=BASE_MB + PER_COLUMN_MB * columns + (DA_MB if kind == "DA" else 0.0), steps=steps, wall_hours=wall_s / 3600,
                core_hours=wall_s / 3600 * ranks)
