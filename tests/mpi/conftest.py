"""MPI test helpers: every assertion is agreed on by all ranks, so one failing rank fails all and none hangs."""

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from mpi4py import MPI


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Give each rank its own pytest temporary root, so ranks do not clean up each other's directories."""
    if config.option.basetemp is None and MPI.COMM_WORLD.size > 1:
        config.option.basetemp = os.path.join(tempfile.gettempdir(),
                                              f"mpilda-pytest-{os.getuid()}-rank{MPI.COMM_WORLD.rank}")


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


def assert_all(comm, ok, message=""):
    """Assert on every rank that ``ok`` holds on every rank; the message says which ranks failed."""
    flags = comm.allgather(bool(ok))
    failed = [r for r, f in enumerate(flags) if not f]
    assert not failed, f"failed on ranks {failed}: {message}"


def on_root(comm, check):
    """Run ``check()`` on rank 0 only (e.g. reading a whole file) and share its outcome with all ranks."""
    error = None
    if comm.rank == 0:
        try:
            check()
        except AssertionError as exc:
            error = str(exc) or "assertion failed"
        except Exception as exc:           # any error on rank 0 fails every rank instead of leaving them waiting
            error = f"{type(exc).__name__}: {exc}"
    error = comm.bcast(error, root=0)
    assert error is None, f"rank 0: {error}"


@contextlib.contextmanager
def shared_directory(comm, prefix: str):
    """A temporary directory that rank 0 makes and every rank uses; rank 0 removes it when all are done."""
    tmp = Path(comm.bcast(tempfile.mkdtemp(prefix=prefix) if comm.rank == 0 else None, root=0))
    try:
        yield tmp
    finally:
        comm.Barrier()
        if comm.rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
