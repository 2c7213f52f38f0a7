"""Grid and land mask."""

import netCDF4
import numpy as np
import pytest

from mpilda.config import config_from_text
from mpilda.grid import Grid, GridError, wrap_longitude

from .conftest import MINIMAL


def grid_of(text=""):
    return Grid.from_config(config_from_text(MINIMAL + text).domain)


def test_paper_domain_has_the_papers_land_cells():
    grid = grid_of()
    # SPEC section 1: 168 rows x 207 columns, 19,701 land cells on a real 0.25 degree mask.
    assert grid.shape == (168, 207)
    assert grid.n_land == 19701
    assert grid.lat[0] == 29.875 and grid.lat[-1] == 71.625
    assert grid.lon[0] == -11.375 and grid.lon[-1] == 40.125


def test_known_land_and_sea_cells():
    grid = grid_of()
    def at(lat, lon):
        return grid.land[np.argmin(abs(grid.lat - lat)), np.argmin(abs(grid.lon - lon))]
    assert at(48.875, 2.375)        # Paris
    assert at(40.375, -3.625)       # Madrid
    assert at(25.0 + 5.125, 25.125)  # Libyan desert
    assert not at(42.375, 5.125)    # Gulf of Lion
    assert not at(55.125, 3.125)    # North Sea


def test_cell_ids_are_row_major_from_the_south_west():
    grid = grid_of("[domain]\nsouth = 45\nnorth = 46\nwest = 5\neast = 7\n")
    ny, nx = grid.shape
    assert (ny, nx) == (5, 9)
    ids = grid.land_ids
    rows, cols = grid.rows_cols(ids)
    assert np.array_equal(ids, rows * nx + cols)
    assert np.all(grid.land[rows, cols])
    lat, lon = grid.cell_lat_lon(ids)
    assert np.allclose(lat, 45 + 0.25 * rows) and np.allclose(lon, 5 + 0.25 * cols)


def test_window_across_the_dateline_and_in_0_360():
    # a window given in 0..360 longitudes sees the same land as its -180..180 twin
    a = grid_of("[domain]\nsouth = 40\nnorth = 45\nwest = 350\neast = 355\n")
    b = grid_of("[domain]\nsouth = 40\nnorth = 45\nwest = -10\neast = -5\n")
    assert np.array_equal(a.land, b.land) and a.land.any()
    assert np.allclose(wrap_longitude([359.75, 180.0, -180.0]), [-0.25, -180.0, -180.0])


def test_all_sea_window_is_an_error():
    with pytest.raises(GridError, match="no land cell"):
        grid_of("[domain]\nsouth = 40\nnorth = 41\nwest = -30\neast = -29\n")


def _write_mask(path, lat, lon, values, name="landmask"):
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("latitude", lat.size)
        ds.createDimension("longitude", lon.size)
        ds.createVariable("latitude", "f8", ("latitude",))[:] = lat
        ds.createVariable("longitude", "f8", ("longitude",))[:] = lon
        ds.createVariable(name, "f4", ("latitude", "longitude"))[:] = values


def test_landmask_file_overrides_builtin_descending_lat_and_0_360_lon(tmp_path):
    # a file on a larger grid, latitude descending and longitude 0..360, like ERA5's lsm
    flat = np.arange(50.0, 39.75, -0.25)
    flon = np.arange(0.0, 360.0, 0.25)
    lon2, lat2 = np.meshgrid(flon, flat)
    values = ((np.round(lat2 * 4) + np.round(lon2 * 4)) % 3 == 0).astype("f4")  # a known pattern
    _write_mask(tmp_path / "mask.nc", flat, flon, values, name="lsm")
    grid = grid_of(f"[domain]\nsouth = 42\nnorth = 44\nwest = -2\neast = 3\nlandmask_file = {tmp_path / 'mask.nc'}\n")
    lon_g = wrap_longitude(grid.lon) % 360
    expect = ((np.round(grid.lat[:, None] * 4) + np.round(lon_g[None, :] * 4)) % 3 == 0)
    assert np.array_equal(grid.land, expect)


def test_landmask_file_must_cover_the_grid(tmp_path):
    lat = np.arange(42.0, 43.01, 0.25)
    lon = np.arange(0.0, 1.01, 0.25)
    _write_mask(tmp_path / "small.nc", lat, lon, np.ones((lat.size, lon.size)))
    with pytest.raises(GridError, match="small.nc: no latitude 43.25"):
        grid_of(f"[domain]\nsouth = 42\nnorth = 44\nwest = 0\neast = 1\nlandmask_file = {tmp_path / 'small.nc'}\n")


def test_landmask_file_that_is_not_netcdf(tmp_path):
    (tmp_path / "bad.nc").write_text("not a netcdf file")
    with pytest.raises(GridError, match="bad.nc: not a readable netCDF"):
        grid_of(f"[domain]\nlandmask_file = {tmp_path / 'bad.nc'}\n")
