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
members = {members}
[experiment]
name = {name}
[output]
directory = {out}
checkpoint_days = 2
members = {write_members}
[synthetic]
directory = {world}
irrigation_threshold = {irrigation}
irrigation_months = 4
"""


def _config(tmp, name, out, members, irrigation=0.0):
    return config_from_text(CONFIG.format(name=name, out=tmp / out, world=tmp / "world", members=members,
                                          write_members="yes" if members else "no", irrigation=irrigation))


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name, members, irrigation", [("truth", 0, 0.0), ("truth", 0, 1.0), ("OL", 0, 0.0),
                                                       ("OL", 3, 0.0)])
def test_run_is_identical_on_any_number_of_ranks(comm, mpi_tmp_path, name, members, irrigation):
    """... and the truth's irrigation (every cropland cell below field capacity irrigated in April) too."""
    tag = f"{name}{members}{'_irrigated' if irrigation else ''}"
    summary = run(_config(mpi_tmp_path, name, f"{tag}_k", members, irrigation), comm)
    assert_all(comm, abs(summary["residual_mm"]) < 1e-9, f"domain water balance residual {summary}")
    assert_all(comm, summary["max_water_error_kg_m2_per_step"] < 1e-9, "a step broke the water balance")
    if irrigation:
        assert_all(comm, summary["irrigation_mm"] > 1.0, f"no irrigation water given: {summary}")
    if comm.rank == 0:
        run(_config(mpi_tmp_path, name, f"{tag}_1", members, irrigation), MPI.COMM_SELF)
    comm.Barrier()
    files = ["daily_mean.nc"] + (["daily_spread.nc", "daily_members.nc"] if members else [])

    def check():
        for file in files:
            with h5py.File(mpi_tmp_path / f"{tag}_k" / file) as a, h5py.File(mpi_tmp_path / f"{tag}_1" / file) as b:
                for v in OUTPUT_VARIABLES:
                    assert a[v.name][...].tobytes() == b[v.name][...].tobytes(), \
                        f"{file}:{v.name} differs on {comm.size} ranks"
        with h5py.File(mpi_tmp_path / f"{tag}_k" / "daily_mean.nc") as a:
            sm1 = a["sm1"][...]
            land = sm1[0] < 1e30
            assert land.sum() > 100 and np.all((sm1[:, land] > 0.01) & (sm1[:, land] < 0.6))
        if members:
            with h5py.File(mpi_tmp_path / f"{tag}_k" / "daily_spread.nc") as a:
                spread = a["ssm"][...][:, land]
                assert np.all(spread >= 0) and spread.mean() > 0
            with h5py.File(mpi_tmp_path / f"{tag}_k" / "daily_members.nc") as a:
                assert a["lai"].shape[1] == members
        restarts = sorted((mpi_tmp_path / f"{tag}_k" / "restart").glob("restart_*.nc"))
        assert [p.name for p in restarts] == ["restart_20150404.nc"]   # the day-2 checkpoint was replaced
        with h5py.File(restarts[0]) as a, h5py.File(mpi_tmp_path / f"{tag}_1" / "restart" / restarts[0].name) as b:
            for key in a:
                assert a[key][...].tobytes() == b[key][...].tobytes(), f"restart {key} differs"

    on_root(comm, check)
