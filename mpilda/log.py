"""One logger for the whole job: rank 0 tells the story, other ranks only warn.

Rank 0 logs at INFO (or DEBUG with ``--verbose``); the other ranks log only
warnings and errors, each line prefixed with the rank.  ``Progress`` reports the
simulated date, the speed in steps per second and the remaining time: as a
bar that redraws itself on a terminal, as plain lines in a batch log.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from typing import TextIO

LOGGER_NAME = "mpilda"
log = logging.getLogger(LOGGER_NAME)


def setup_logging(rank: int = 0, size: int = 1, verbose: bool = False, stream: TextIO | None = None) -> logging.Logger:
    """Configure the ``mpilda`` logger for this rank (idempotent)."""
    handler = logging.StreamHandler(stream or (sys.stdout if rank == 0 else sys.stderr))
    prefix = f"[rank {rank}] " if size > 1 and rank > 0 else ""
    handler.setFormatter(logging.Formatter(f"%(asctime)s {prefix}%(levelname)s %(message)s", "%H:%M:%S"))
    log.handlers[:] = [handler]
    log.propagate = False
    if rank == 0:
        log.setLevel(logging.DEBUG if verbose else logging.INFO)
    else:
        log.setLevel(logging.WARNING)
    return log


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


#: Environment variables set by MPI launchers: under them a rank's stdout is a pseudo-terminal
#: (Open MPI) or a pipe whatever the launcher's own output is, e.g. a batch log file.
_LAUNCHER_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "SLURM_PROCID")


def _terminal(stream) -> bool:
    """Draw a bar (True) or print plain lines: ``MPILDA_PROGRESS`` = bar | lines, else a bar only on a
    terminal outside an MPI launcher (mpirun hands ranks a pseudo-terminal even when its output
    goes to a batch log)."""
    choice = os.environ.get("MPILDA_PROGRESS", "auto")
    if choice in ("bar", "lines"):
        return choice == "bar"
    if any(v in os.environ for v in _LAUNCHER_VARIABLES):
        return False
    return bool(getattr(stream, "isatty", lambda: False)())


class Progress:
    """Progress of a loop over model steps, printed by rank 0 only.

    Args:
        total: number of steps of the loop.
        label: what is running (e.g. the experiment name).
        stream: where to print; a terminal gets a redrawn bar.
        interval: seconds between plain lines (batch logs).
        enabled: False on ranks other than 0.
        clock: time source (seconds), replaceable in tests.
        unit: what is counted, for the rate (steps, days).
    """

    def __init__(self, total: int, label: str = "", stream: TextIO | None = None, interval: float = 30.0,
                 enabled: bool = True, clock=time.monotonic, unit: str = "steps"):
        self.total, self.label, self.interval, self.enabled, self.clock = total, label, interval, enabled, clock
        self.unit = unit
        self.stream = stream or sys.stdout
        self.tty = _terminal(self.stream)
        self.t0 = clock()
        self.last = -float("inf")

    def line(self, done: int, sim_time: dt.datetime) -> str:
        """The progress text after ``done`` steps at simulated time ``sim_time``."""
        elapsed = max(self.clock() - self.t0, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        eta_text = _fmt_seconds(eta) if eta != float("inf") else "?"
        pct = 100.0 * done / self.total if self.total else 100.0
        text = (f"{self.label + ' ' if self.label else ''}{sim_time:%Y-%m-%d %H:%M} "
                f"{pct:5.1f}% {rate:8.1f} {self.unit}/s ETA {eta_text}")
        if self.tty:
            width = 30
            filled = int(width * done / self.total) if self.total else width
            text = f"[{'#' * filled}{'.' * (width - filled)}] {text}"
        return text

    def update(self, done: int, sim_time: dt.datetime) -> None:
        """Report after ``done`` steps; prints at most every ``interval`` s, and at the end."""
        if not self.enabled:
            return
        now = self.clock()
        final = done >= self.total
        if not final and now - self.last < (0.5 if self.tty else self.interval):
            return
        self.last = now
        text = self.line(done, sim_time)
        if self.tty:
            self.stream.write("\r" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
