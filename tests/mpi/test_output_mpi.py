"""Output written by K ranks: identical to one rank's file, in both modes, and correct."""

import h5py
import numpy as np
import pytest
import xarray as xr
from mpi4py import MPI

from mpilda.cli import main
from mpilda.output import GridWriter
from mpilda.parallel import Decomposition

from .. import output_cases as oc
from .conftest import assert_all, on_root

NAMES = [v.name for v in oc.VARIABLES] + ["lat", "lon", "time", "time_bnds", "member", "lat_bnds", "lon_bnds"]


def write(path, comm, mode, compression):
    g = oc.grid()
    local = Decomposition.build(g, 3, comm.size).local(comm.rank)
    attrs = {"title": "mpi test"}
    with GridWriter(path, local, comm, oc.VARIABLES, start=oc.START, n_times=oc.N_TIMES, dims={"member": oc.N_MEMBERS},
                    mode=mode, compression=compression, attrs=attrs) as w:
        oc.write_all(w, local.cell_ids)
    return g


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("compression", [0, 4])
def test_k_ranks_write_what_one_rank_writes(comm, mpi_tmp_path, compression):
    g = write(mpi_tmp_path / "mpio.nc", comm, "mpio", compression)
    write(mpi_tmp_path / "gather.nc", comm, "gather", compression)
    if comm.rank == 0:  # the one-rank reference, written alone
        write(mpi_tmp_path / "one.nc", MPI.COMM_SELF, "gather", compression)
    comm.Barrier()

    def check():
        with h5py.File(mpi_tmp_path / "one.nc") as one, h5py.File(mpi_tmp_path / "mpio.nc") as a, \
                h5py.File(mpi_tmp_path / "gather.nc") as b:
            for name in NAMES:
                ref = one[name][...].tobytes()
                assert a[name][...].tobytes() == ref, f"mpio on {comm.size} ranks differs in {name}"
                assert b[name][...].tobytes() == ref, f"gather on {comm.size} ranks differs in {name}"
        with xr.open_dataset(mpi_tmp_path / "mpio.nc") as ds:
            for t in range(oc.N_TIMES):
                np.testing.assert_array_equal(ds.lai_ens[t].values, oc.expected_grid("lai_ens", g, t))
                np.testing.assert_array_equal(ds.ssm[t].values, oc.expected_grid("ssm", g, t))
        assert not list(mpi_tmp_path.glob("*.incomplete"))

    on_root(comm, check)


@pytest.mark.mpi(min_size=1)
def test_grid_command_writes_owner_of_each_cell(comm, mpi_tmp_path):
    cfg = mpi_tmp_path / "grid.ini"
    if comm.rank == 0:
        cfg.write_text(oc.CONFIG + f"[output]\ndirectory = {mpi_tmp_path / 'out'}\n")
    comm.Barrier()
    status = main(["grid", str(cfg)])
    assert_all(comm, status == 0, "grid command failed")
    dec = Decomposition.build(oc.grid(), 3, comm.size)

    def check():
        with xr.open_dataset(mpi_tmp_path / "out" / "grid.nc") as ds:
            ids = ds.cell_id.values
            land = dec.grid.land
            assert np.array_equal(~np.isnan(ids), land)
            assert np.array_equal(ids[land], dec.grid.land_ids)
            owner = dec.owner_map()
            assert np.array_equal(ds["rank"].values[land], owner[land])

    on_root(comm, check)
