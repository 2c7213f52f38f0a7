"""Logging and progress reports."""

import datetime as dt
import io
import logging

from mpilda.log import Progress, setup_logging


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_progress_plain_lines_with_rate_and_eta():
    out, clock = io.StringIO(), Clock()
    p = Progress(total=400, label="OL", stream=out, interval=10, clock=clock)
    t0 = dt.datetime(2015, 4, 1, tzinfo=dt.timezone.utc)
    clock.t = 20.0
    p.update(100, t0 + dt.timedelta(days=1))   # 100 steps in 20 s: 5 steps/s, 300 left: 60 s
    clock.t = 25.0
    p.update(120, t0)                          # within the interval: silent
    clock.t = 80.0
    p.update(400, t0 + dt.timedelta(days=4))   # the end is always reported
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0] == "OL 2015-04-02 00:00  25.0%      5.0 steps/s ETA 0:01:00"
    assert lines[1].startswith("OL 2015-04-05 00:00 100.0%") and lines[1].endswith("ETA 0:00:00")


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_bar_on_a_terminal_and_silence_elsewhere(monkeypatch):
    for v in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID", "MPILDA_PROGRESS"):
        monkeypatch.delenv(v, raising=False)
    out, clock = Tty(), Clock()
    p = Progress(total=10, stream=out, clock=clock)
    clock.t = 1.0
    p.update(5, dt.datetime(2015, 4, 1))
    assert out.getvalue().startswith("\r[###############...............]")
    quiet = io.StringIO()
    Progress(total=10, stream=quiet, enabled=False).update(10, dt.datetime(2015, 4, 1))
    assert quiet.getvalue() == ""


def test_rank_zero_informs_other_ranks_only_warn_with_prefix():
    out0, out1 = io.StringIO(), io.StringIO()
    log = setup_logging(rank=0, size=4, stream=out0)
    log.info("hello")
    assert "INFO hello" in out0.getvalue() and "[rank" not in out0.getvalue()
    log = setup_logging(rank=3, size=4, stream=out1)
    log.info("not shown")
    log.warning("careful")
    assert "not shown" not in out1.getvalue() and "[rank 3] WARNING careful" in out1.getvalue()
    assert log.level == logging.WARNING


def test_plain_lines_under_an_mpi_launcher_unless_asked_for_a_bar(monkeypatch):
    """mpirun hands ranks a pseudo-terminal even when the job's output goes to a batch log."""
    monkeypatch.delenv("MPILDA_PROGRESS", raising=False)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "2")
    out = Tty()
    Progress(total=10, stream=out, clock=Clock()).update(10, dt.datetime(2015, 4, 1))
    assert out.getvalue().startswith("2015-04-01 00:00 100.0%")
    monkeypatch.setenv("MPILDA_PROGRESS", "bar")
    out = Tty()
    Progress(total=10, stream=out, clock=Clock()).update(10, dt.datetime(2015, 4, 1))
    assert out.getvalue().startswith("\r[##############################]")
