"""A run killed with SIGKILL (no clean-up at all, as at a batch job's wall-time limit) and resumed
with ``run --resume`` on another number of ranks writes the very bytes of an uninterrupted run."""

import json
import os
import signal
import subprocess
import sys
import time

import h5py
import pytest

from .conftest import window_config

CONFIG = window_config("2015-04-01", "2015-05-31", """
[ensemble]
members = 4
[experiment]
name = OL
[spinup]
cycles = 0
[output]
directory = {out}
checkpoint_days = 2
[synthetic]
directory = {world}
""")


def _mpirun(n, *args):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return ["mpirun", "-n", str(n), "--oversubscribe", sys.executable, "-m", "mpilda", *args], env


def test_killed_run_resumes_bit_identically_on_another_rank_count(tmp_path):
    world = tmp_path / "world"
    for name in ("whole", "killed"):
        (tmp_path / f"{name}.ini").write_text(CONFIG.format(out=tmp_path / name, world=world))
    cmd, env = _mpirun(2, "make-synthetic", str(tmp_path / "whole.ini"))
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)
    cmd, env = _mpirun(2, "run", str(tmp_path / "whole.ini"))
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=300)

    cmd, env = _mpirun(2, "run", str(tmp_path / "killed.ini"))
    job = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    restart = tmp_path / "killed" / "restart"
    deadline = time.monotonic() + 240
    while not list(restart.glob("restart_2015040[5-9].nc")) and job.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(job.pid, signal.SIGKILL)
    job.wait(timeout=60)
    out = tmp_path / "killed"
    if (out / "daily_mean.nc").exists():
        pytest.fail("the run finished before it could be killed; lengthen [time]")
    assert (out / "daily_mean.nc.incomplete").exists()

    cmd, env = _mpirun(3, "run", str(tmp_path / "killed.ini"), "--resume")
    resumed = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming OL from checkpoint" in resumed.stdout + resumed.stderr
    for file in ("daily_mean.nc", "daily_spread.nc"):
        with h5py.File(tmp_path / "whole" / file) as a, h5py.File(out / file) as b:
            for name in a:
                assert a[name][...].tobytes() == b[name][...].tobytes(), f"{file}:{name} differs after the resume"
    whole = json.loads((tmp_path / "whole" / "balance.json").read_text())
    again = json.loads((out / "balance.json").read_text())
    for key, value in whole.items():                # sums over ranks: 2 vs 3 ranks round differently
        assert again[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
    assert not list(out.glob("*.incomplete"))
