"""An exception on one rank ends the whole MPI job quickly, with that rank's message."""

import os
import subprocess
import sys
import time

SCRIPT = """
import time
from mpi4py import MPI
from mpilda.parallel import run_guarded

comm = MPI.COMM_WORLD

def work():
    if comm.rank == 1:
        time.sleep(0.5)
        raise ValueError("cell 4711 has a negative soil moisture")
    comm.Barrier()          # rank 0 would wait here forever without the abort

run_guarded(comm, work, user_errors=(ValueError,))
"""


def test_failure_on_one_rank_ends_all_ranks(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    t0 = time.monotonic()
    out = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, str(script)],
                         capture_output=True, text=True, timeout=120, env=env)
    elapsed = time.monotonic() - t0
    assert out.returncode != 0
    assert "[rank 1] cell 4711 has a negative soil moisture" in out.stderr
    assert "Traceback" not in out.stderr
    assert elapsed < 60
