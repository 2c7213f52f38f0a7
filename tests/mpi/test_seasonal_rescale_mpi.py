"""[obs.smap] rescale = seasonal on any rank count: the same tables and the same DA_SSM run, byte for byte."""


import h5py
import pytest
from mpi4py import MPI

from mpilda.assimilation import diagnostic_variables
from mpilda.experiment import OUTPUT_VARIABLES, run
from mpilda.obs.synthetic import make_observations
from mpilda.obs.tables import SEASONAL_FILE, make_rescaling

from ..conftest import tiny_twin_config
from .conftest import assert_all, on_root, shared_directory


def _config(tmp, name, out, start="2015-04-01", end="2015-05-16", members=0, tables="tables"):
    """The tiny twin's run with the seasonal SMAP rescaling, its tables in tmp/<tables>."""
    return tiny_twin_config(tmp, name, out, start, end, members,
                            ["obs.smap.rescale=seasonal", "obs.smap.min_cdf_samples=8",
                             f"assimilation.tables_directory={tmp}/{tables}"])


@pytest.fixture(scope="module")
def twin():
    comm = MPI.COMM_WORLD
    with shared_directory(comm, "mpilda-seasonal-") as tmp:
        truth = _config(tmp, "truth", "truth")
        run(truth, comm)
        make_observations(truth, comm)
        yield tmp


@pytest.mark.mpi(min_size=1)
def test_seasonal_tables_and_da_ssm_are_identical_on_any_number_of_ranks(twin):
    comm = MPI.COMM_WORLD
    make_rescaling(_config(twin, "OL", "truth", tables="tables_k"), comm)
    summary = run(_config(twin, "DA_SSM", "da_k", "2015-05-01", "2015-05-06", members=4, tables="tables_k"), comm)
    counts = summary["assimilation"]["smap"]
    assert_all(comm, counts["assimilated"] > 0, f"nothing assimilated: {counts}")
    if comm.rank == 0:
        make_rescaling(_config(twin, "OL", "truth", tables="tables_1"), MPI.COMM_SELF)
        run(_config(twin, "DA_SSM", "da_1", "2015-05-01", "2015-05-06", members=4, tables="tables_1"), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        with h5py.File(twin / "tables_k" / SEASONAL_FILE) as a, h5py.File(twin / "tables_1" / SEASONAL_FILE) as b:
            for n in ("obs_clim", "model_clim", "count"):
                assert a[n][...].tobytes() == b[n][...].tobytes(), f"{SEASONAL_FILE}:{n} differs on {comm.size} ranks"
        for file, names in (("daily_mean.nc", [v.name for v in OUTPUT_VARIABLES]),
                            ("diagnostics.nc", [v.name for v in diagnostic_variables(["smap"])])):
            with h5py.File(twin / "da_k" / file) as a, h5py.File(twin / "da_1" / file) as b:
                for n in names:
                    assert a[n][...].tobytes() == b[n][...].tobytes(), f"{file}:{n} differs on {comm.size} ranks"

    on_root(comm, check)
