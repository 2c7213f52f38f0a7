"""The decomposition as the ranks of a job see it."""

import numpy as np
import pytest

from mpilda.cli import load_config_everywhere
from mpilda.config import ConfigError, config_from_text
from mpilda.grid import Grid
from mpilda.parallel import Decomposition

from ..conftest import MINIMAL
from .conftest import assert_all

WINDOWS = ["", "[domain]\nsouth = 36\nnorth = 44\nwest = -10\neast = 3.5\n",
           "[domain]\nsouth = 35\nnorth = 41\nwest = 19\neast = 29\nresolution = 0.5\n"]


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("tile_size", [1, 2, 4, 9])
def test_each_land_cell_on_exactly_one_rank(comm, window, tile_size):
    grid = Grid.from_config(config_from_text(MINIMAL + window).domain)
    dec = Decomposition.build(grid, tile_size, comm.size)
    local = dec.local(comm.rank)
    everyone = comm.allgather(local.cell_ids)
    owned = np.concatenate(everyone)
    assert_all(comm, local.n_cells > 0, "a rank without cells")
    assert_all(comm, owned.size == grid.n_land and np.array_equal(np.sort(owned), grid.land_ids),
               "land cells not owned exactly once")
    assert_all(comm, np.all(grid.land.ravel()[local.cell_ids]), "a sea cell among a rank's cells")
    counts = comm.allgather(local.n_cells)
    assert_all(comm, max(counts) == dec.summary()["max_cells"], "summary disagrees with the ranks")


@pytest.mark.mpi(min_size=1)
def test_config_error_on_one_rank_stops_every_rank(comm, tmp_path):
    path = tmp_path / f"run{comm.rank}.ini"
    path.write_text(MINIMAL)

    class Args:
        config = path
        overrides = ["ensemble.members=-3"] if comm.rank == comm.size - 1 else []

    raised = False
    try:
        load_config_everywhere(Args, comm)
    except ConfigError as exc:
        raised = "members" in str(exc)
    assert_all(comm, raised, "a rank went on although another rank's config was invalid")
