"""The batch job templates, run with stand-in sbatch/srun/squeue: a chain queues its successor and
runs `run --resume` until the run is complete, then stops queueing."""

import os
import stat
import subprocess
import sys

from .conftest import REPO, window_config

CONFIG = window_config("2015-04-01", "2015-04-03", """
[ensemble]
members = 0
[experiment]
name = OL
[output]
directory = out
checkpoint_days = 1
[synthetic]
directory = world
""")


def _fake(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_templates_are_valid_bash():
    for script in sorted((REPO / "jobs").rglob("*")):
        if script.is_file():
            assert subprocess.run(["bash", "-n", str(script)], capture_output=True).returncode == 0, script


def test_the_slurm_chain_runs_to_completion_then_stops(tmp_path):
    (tmp_path / "run.ini").write_text(CONFIG)
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    (tmp_path / ".venv" / "bin" / "activate").write_text("")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "sbatch.log"
    _fake(bin_dir, "sbatch", f'echo "$@" >> {log}\n')
    _fake(bin_dir, "srun", '"$@"\n')
    _fake(bin_dir, "python", f'exec {sys.executable} "$@"\n')
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", SLURM_JOB_ID="101", SLURM_NTASKS="1",
               SLURM_JOB_NAME="mpilda-chain", SLURM_SUBMIT_DIR=str(tmp_path))
    job = REPO / "jobs" / "slurm" / "mpilda-chain.sbatch"
    first = subprocess.run(["bash", str(job), "run.ini"], capture_output=True, text=True, env=env, cwd=tmp_path,
                           timeout=300)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "--dependency=afterany:101" in log.read_text()        # the successor was queued first ...
    assert (tmp_path / "out" / "daily_mean.nc").exists()          # ... and the run done with --resume
    queued = log.read_text().count("\n")
    second = subprocess.run(["bash", str(job), "run.ini"], capture_output=True, text=True, env=env, cwd=tmp_path,
                            timeout=300)
    assert second.returncode == 0 and "the chain ends" in second.stdout
    assert log.read_text().count("\n") == queued                  # nothing more queued
