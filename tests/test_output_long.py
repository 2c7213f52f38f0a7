"""A long collective compressed write (many variables, many days) completes on 2 ranks.

HDF5 1.10 deadlocked when a metadata-cache sync point fell inside a collective write of a filtered
dataset (mpilda.output._mpio_fapl); this run hung near day 160 before that was worked around.
"""

import os
import subprocess
import sys

SCRIPT = """
import datetime as dt
import numpy as np
from mpi4py import MPI
from mpilda.grid import Grid
from mpilda.output import GridWriter, Variable
from mpilda.parallel import Decomposition

comm = MPI.COMM_WORLD
grid = Grid(43.125, -0.875, 0.25, np.ones((8, 16), dtype=bool))
local = Decomposition.build(grid, 3, comm.size).local(comm.rank)
variables = [Variable(f"v{{i}}", "1", f"variable {{i}}") for i in range(60)]
rng = np.random.default_rng(comm.rank)
with GridWriter("{path}", local, comm, variables, start=dt.datetime(2016, 1, 1), n_times=300, mode="mpio",
                compression=4) as w:
    for day in range(300):
        w.write(day, {{v.name: rng.random(local.n_cells) for v in variables}})
if comm.rank == 0:
    print("done")
"""


def test_long_collective_compressed_write_does_not_hang(tmp_path):
    script = tmp_path / "long.py"
    script.write_text(SCRIPT.format(path=tmp_path / "long.nc"))
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    out = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, str(script)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip() == "done"
    assert (tmp_path / "long.nc").exists()
