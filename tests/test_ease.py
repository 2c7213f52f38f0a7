"""EASE-Grid 2.0 maths against the real NSIDC-0772 lat/lon file and the real SMAP granule."""

import h5py
import netCDF4
import numpy as np
import pytest

from mpilda.obs import ease

from .conftest import REAL_DATA

NSIDC = REAL_DATA / "ease_grid" / "NSIDC0772_LatLon_EASE2_M36km_v1.0.nc"
GRANULE = REAL_DATA / "smap_spl2smp" / "SMAP_L2_SM_P_02801_A_20150811T013002_R18290_001.h5"


def test_every_m36_cell_centre_of_nsidc0772():
    with netCDF4.Dataset(NSIDC) as ds:
        lat, lon = ds["latitude"][:].filled(np.nan), ds["longitude"][:].filled(np.nan)
        x, y = np.asarray(ds["x"][:]), np.asarray(ds["y"][:])
    assert lat.shape == (406, 964)
    row, col = np.meshgrid(np.arange(406), np.arange(964), indexing="ij")
    got_lat, got_lon = ease.latlon("M36", row, col)
    assert np.max(np.abs(got_lat - lat)) < 1e-9
    assert np.max(np.abs(got_lon - lon)) < 1e-9
    back_row, back_col = ease.rowcol("M36", lat, lon)
    assert np.array_equal(back_row, row) and np.array_equal(back_col, col)
    # the projected coordinates of the file are the cell centres of the grid constants
    g = ease.GRIDS["M36"]
    assert np.allclose(x, g.x0 + (np.arange(964) + 0.5) * g.cell, atol=1e-6)
    assert np.allclose(y, g.y0 - (np.arange(406) + 0.5) * g.cell, atol=1e-6)
    # forward of the file's centres lands within 2 mm of them (the inverse series is truncated at e^6)
    px, py = ease.forward(lat, lon)
    assert np.max(np.abs(px - x[None, :])) < 1e-5 and np.max(np.abs(py - y[:, None])) < 1e-2


def test_smap_granule_rows_columns_and_centres():
    with h5py.File(GRANULE) as f:
        g = f["Soil_Moisture_Retrieval_Data"]
        row, col = g["EASE_row_index"][...], g["EASE_column_index"][...]
        lat, lon = g["latitude"][...], g["longitude"][...]
    got_lat, got_lon = ease.latlon("M36", row, col)
    # the granule stores float32 centres: 4e-6 deg is float32 precision at 180 degrees
    assert np.max(np.abs(got_lat - lat)) < 1e-5 and np.max(np.abs(got_lon - lon)) < 1e-5
    back_row, back_col = ease.rowcol("M36", lat, lon)
    assert np.array_equal(back_row, row) and np.array_equal(back_col, col)


def test_m25_grid_round_trip_and_extent():
    g = ease.GRIDS["M25"]
    assert 2 * abs(g.x0) / g.cell == pytest.approx(1388) and 2 * g.y0 / g.cell == pytest.approx(584)
    row, col = np.meshgrid(np.arange(584), np.arange(1388), indexing="ij")
    lat, lon = ease.latlon("M25", row, col)
    assert np.array_equal(ease.rowcol("M25", lat, lon)[0], row)
    assert np.array_equal(ease.rowcol("M25", lat, lon)[1], col)
    # grid edges at +-84.4397905 deg (EASE2_M25km.gpd): the outermost centres are inside them
    edge_lat, _ = ease.inverse(0.0, g.y0)
    assert edge_lat == pytest.approx(84.4397905, abs=1e-6)
    assert lat.max() < edge_lat and lat.min() > -edge_lat


def test_points_inside_a_cell_and_outside_the_grid():
    # corners of cell (100, 200): a point just inside each corner maps to it
    g = ease.GRIDS["M36"]
    for dx, dy in ((0.01, -0.01), (0.99, -0.01), (0.01, -0.99), (0.99, -0.99)):
        lat, lon = ease.inverse(g.x0 + (200 + dx) * g.cell, g.y0 - (100 - dy) * g.cell)
        assert tuple(int(v) for v in ease.rowcol("M36", lat, lon)) == (100, 200)
    row, col = ease.rowcol("M36", np.array([89.0, -89.0, np.nan]), np.array([0.0, 10.0, 0.0]))
    assert row.tolist() == [-1, -1, -1] and col.tolist() == [-1, -1, -1]
    # longitudes given as 0..360 wrap
    assert np.array_equal(ease.rowcol("M36", 45.0, 350.0)[1], ease.rowcol("M36", 45.0, -10.0)[1])
    with pytest.raises(ValueError, match="unknown EASE-Grid"):
        ease.rowcol("M09", 0.0, 0.0)
