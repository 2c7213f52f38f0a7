"""The synthetic world made by K ranks is bit-identical to the one made by one rank."""

import h5py
import pytest
from mpi4py import MPI

from mpilda.config import config_from_text
from mpilda.world import make_world

from .conftest import on_root

CONFIG = """
[domain]
south = 58.125
north = 60.875
west = 9.125
east = 13.875
tile_size = 2
[time]
start = 2015-12-31
end = 2016-01-02
[synthetic]
directory = {world}
[output]
io_mode = {mode}
"""


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("mode", ["mpio", "gather"])
def test_world_files_do_not_depend_on_the_rank_count(comm, mpi_tmp_path, mode):
    make_world(config_from_text(CONFIG.format(world=mpi_tmp_path / f"k_{mode}", mode=mode)), comm)
    if comm.rank == 0:
        make_world(config_from_text(CONFIG.format(world=mpi_tmp_path / "one", mode="gather")), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        one = mpi_tmp_path / "one"
        files = sorted(p.relative_to(one) for p in one.rglob("*.nc"))
        assert len(files) == 4 + 2 * 3          # 4 maps, and truth/model forcing of 2 days + the day after
        for rel in files:
            with h5py.File(one / rel) as a, h5py.File(mpi_tmp_path / f"k_{mode}" / rel) as b:
                for name in a:
                    assert a[name][...].tobytes() == b[name][...].tobytes(), f"{rel}:{name}"
                    for key in ("scale_factor", "add_offset"):
                        if key in a[name].attrs:
                            assert a[name].attrs[key] == b[name].attrs[key], f"{rel}:{name}.{key}"

    on_root(comm, check)


@pytest.mark.mpi(min_size=1)
def test_a_longer_period_extends_the_world_and_specified_errors_write_one_forcing(comm, mpi_tmp_path):
    """A world made again for a longer period adds the missing days and leaves the others; with
    [synthetic] errors = specified the model forcing is the truth's and its files are written once."""
    import json

    from mpilda.world import forcing_pattern

    text = CONFIG.format(world=mpi_tmp_path / "grow", mode="mpio").replace("[synthetic]\n",
                                                                          "[synthetic]\nerrors = specified\n")
    short = config_from_text(text)
    make_world(short, comm)
    root = short.synthetic.directory
    first = root / "truth" / "era5_20151231.nc"
    stamp = first.stat().st_mtime_ns
    longer = config_from_text(text.replace("end = 2016-01-02", "end = 2016-01-04"))
    make_world(longer, comm)

    def check():
        assert first.stat().st_mtime_ns == stamp, "a day already made was written again"
        days = sorted(p.name for p in (root / "truth").glob("*.nc"))
        assert days == ["era5_20151231.nc"] + [f"era5_2016010{d}.nc" for d in range(1, 5)]   # + the day after
        assert not (root / "model").exists(), "specified errors: no separate model forcing"
        assert forcing_pattern(longer, "model") == forcing_pattern(longer, "truth")
        record = json.loads((root / "world.json").read_text())
        assert (record["start"], record["end"]) == ("2015-12-31", "2016-01-04")

    on_root(comm, check)
