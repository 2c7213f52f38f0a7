"""A truth and an open-loop run of a small synthetic window: identical output on any number of ranks."""

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import config_from_text
from mpilda.experiment import OUTPUT_VARIABLES, run

from .conftest import assert_all, on_root

CONFIG = """
[domain]
south = 44.125
north = 46.875
west = 4.125
east = 7.875
tile_size = 3
[time]
start = 2015-04-01
end = 2015-04-04
[ensemble]
members = 0
[experiment]
name = {name}
[output]
directory = {out}
checkpoint_days = 2
[synthetic]
directory = {world}
"""


def _config(tmp, name, out):
    return config_from_text(CONFIG.format(name=name, out=tmp / out, world=tmp / "world"))


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name", ["truth", "OL"])
def test_run_is_identical_on_any_number_of_ranks(comm, mpi_tmp_path, name):
    summary = run(_config(mpi_tmp_path, name, f"{name}_k"), comm)
    assert_all(comm, abs(summary["residual_mm"]) < 1e-9, f"domain water balance residual {summary}")
    assert_all(comm, summary["max_water_error_kg_m2_per_step"] < 1e-9, "a step broke the water balance")
    if comm.rank == 0:
        run(_config(mpi_tmp_path, name, f"{name}_1"), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        with h5py.File(mpi_tmp_path / f"{name}_k" / "daily_mean.nc") as a, \
                h5py.File(mpi_tmp_path / f"{name}_1" / "daily_mean.nc") as b:
            for v in OUTPUT_VARIABLES:
                assert a[v.name][...].tobytes() == b[v.name][...].tobytes(), f"{v.name} differs on {comm.size} ranks"
            sm1 = a["sm1"][...]
            land = sm1[0] < 1e30
            assert land.sum() > 100 and np.all((sm1[:, land] > 0.01) & (sm1[:, land] < 0.6))
        restarts = sorted((mpi_tmp_path / f"{name}_k" / "restart").glob("restart_*.nc"))
        assert [p.name for p in restarts] == ["restart_20150404.nc"]   # the day-2 checkpoint was replaced
        with h5py.File(restarts[0]) as a, h5py.File(mpi_tmp_path / f"{name}_1" / "restart" / restarts[0].name) as b:
            for key in a:
                assert a[key][...].tobytes() == b[key][...].tobytes(), f"restart {key} differs"

    on_root(comm, check)
