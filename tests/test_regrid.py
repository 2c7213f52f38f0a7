"""Bilinear regridding from a lat/lon lattice to points."""

import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.forcing.regrid import bilinear


def linear(lat, lon):
    """A field linear in latitude and longitude (longitude as given)."""
    return 3.0 + 2.0 * lat - 0.5 * lon


def wrap180(lon):
    return (np.asarray(lon, dtype=float) + 180.0) % 360.0 - 180.0


def hyperslab(box, full):
    """The hyperslab of ``full`` (..., ny, nx) the regridding asks for."""
    return box.read(lambda rows, cols: full[..., rows, cols])


def targets(rng, n, south, north, west, east):
    return rng.uniform(south, north, n), rng.uniform(west, east, n)


@pytest.mark.parametrize("descending", [False, True])
def test_exact_on_a_linear_field_either_latitude_order(descending):
    src_lat = np.arange(40.0, 50.01, 0.25)
    if descending:
        src_lat = src_lat[::-1]
    src_lon = np.arange(-5.0, 10.01, 0.25)
    full = linear(src_lat[:, None], src_lon[None, :])
    lat, lon = targets(np.random.default_rng(1), 500, 40.0, 50.0, -5.0, 10.0)
    box = bilinear(src_lat, src_lon, lat, lon, "src.nc")
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, lon), rtol=0, atol=1e-10)
    assert np.allclose(box.weights.sum(axis=0), 1.0)


def test_hyperslab_is_the_targets_box_plus_the_bilinear_halo():
    src_lat = np.arange(60.0, 29.99, -0.5)          # descending, 61 rows
    src_lon = np.arange(0.0, 20.01, 0.5)             # 41 columns
    lat = np.array([40.2, 44.9])                     # rows of 40.5/40.0 and 45.0/44.5
    lon = np.array([3.1, 7.6])                       # columns of 3.0/3.5 and 7.5/8.0
    box = bilinear(src_lat, src_lon, lat, lon)
    assert box.rows == slice(30, 41)                 # 45.0 (row 30) .. 40.0 (row 40)
    assert box.cols == (slice(6, 17),)               # 3.0 (col 6) .. 8.0 (col 16)
    assert box.shape == (11, 11)
    assert box.lat[0] == 45.0 and box.lat[-1] == 40.0 and box.lon[0] == 3.0 and box.lon[-1] == 8.0
    # a target exactly on a lattice point takes that point alone
    on = bilinear(src_lat, src_lon, np.array([45.0]), np.array([5.0]))
    k = np.argmax(on.weights[:, 0])
    assert on.weights[k, 0] == 1.0 and on.where(on.index[k, 0]) == (45.0, 5.0)


def test_global_0_360_grid_read_across_the_seam_in_two_pieces():
    src_lat = np.arange(90.0, -90.01, -1.0)
    src_lon = np.arange(0.0, 359.5, 1.0)             # global, periodic
    full = linear(src_lat[:, None], wrap180(src_lon)[None, :])
    # the paper's window in -180..180 longitudes straddles 0 E
    lat, lon = targets(np.random.default_rng(2), 400, 29.875, 71.625, -11.375, 40.125)
    lat, lon = np.append(lat, [29.875, 71.625]), np.append(lon, [-11.375, 40.125])   # with the corners
    box = bilinear(src_lat, src_lon, lat, lon, "global.nc")
    assert box.cols == (slice(348, 360), slice(0, 42))   # 348..359 E then 0..41 E
    assert box.rows == slice(18, 62)                      # 72 N .. 29 N (exactly the halo)
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, wrap180(lon)), atol=1e-10)
    # the same points in 0..360 longitudes give the same weights
    again = bilinear(src_lat, src_lon, lat, lon % 360.0)
    assert again.cols == box.cols and np.array_equal(again.index, box.index)
    assert np.allclose(again.weights, box.weights)


def test_global_grid_wraps_between_its_last_and_first_column():
    src_lat = np.arange(-90.0, 90.01, 5.0)
    src_lon = np.arange(0.0, 356.0, 5.0)             # 0..355: 357.5 lies between 355 and 0 (=360)
    full = linear(src_lat[:, None], wrap180(src_lon)[None, :])
    lat, lon = np.array([12.5, -3.0, 88.0]), np.array([357.5, -1.0, 359.9])
    box = bilinear(src_lat, src_lon, lat, lon)
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, wrap180(lon)), atol=1e-10)
    assert box.cols == (slice(71, 72), slice(0, 1))


def test_regional_grid_across_the_seam_and_minus180_180_grids():
    # a box stored as 350..359.75, 0..10 (ascending once unwrapped)
    src_lon = np.concatenate([np.arange(350.0, 360.0, 0.25), np.arange(0.0, 10.01, 0.25)])
    src_lat = np.arange(30.0, 40.01, 0.25)
    full = linear(src_lat[:, None], wrap180(src_lon)[None, :])
    lat, lon = targets(np.random.default_rng(3), 200, 30.0, 40.0, -10.0, 10.0)
    box = bilinear(src_lat, src_lon, lat, lon)
    assert len(box.cols) == 1
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, lon), atol=1e-10)
    # a -180..180 grid with targets given in 0..360
    src_lon = np.arange(-180.0, 180.0, 0.5)
    full = linear(src_lat[:, None], src_lon[None, :])
    lat, lon = targets(np.random.default_rng(4), 200, 30.0, 40.0, 170.0, 179.0)
    box = bilinear(src_lat, src_lon, lat, lon)
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, lon), atol=1e-10)
    lat, lon = targets(np.random.default_rng(5), 200, 30.0, 40.0, 181.0, 189.0)   # = -179..-171
    box = bilinear(src_lat, src_lon, lat, lon)
    assert np.allclose(box.apply(hyperslab(box, full)), linear(lat, lon - 360.0), atol=1e-10)


def test_leading_dimensions_are_kept():
    src_lat, src_lon = np.arange(0.0, 5.01), np.arange(0.0, 5.01)
    full = np.stack([linear(src_lat[:, None], src_lon[None, :]) * k for k in (1.0, 2.0, 3.0)])
    lat, lon = np.array([1.5, 2.25]), np.array([0.5, 4.75])
    box = bilinear(src_lat, src_lon, lat, lon)
    out = box.apply(hyperslab(box, full))
    assert out.shape == (3, 2)
    assert np.allclose(out, np.outer([1.0, 2.0, 3.0], linear(lat, lon)))


def test_points_outside_the_grid_name_the_file_and_the_point():
    src_lat, src_lon = np.arange(45.0, 55.01, 0.25)[::-1], np.arange(0.0, 10.01, 0.25)
    with pytest.raises(InputError, match=r"ERA5_x\.nc: .*does not cover the point lat=44\.9, lon=5 \(1 of 2"):
        bilinear(src_lat, src_lon, np.array([50.0, 44.9]), np.array([5.0, 5.0]), "ERA5_x.nc")
    with pytest.raises(InputError, match=r"lat=50, lon=-0\.3"):
        bilinear(src_lat, src_lon, np.array([50.0]), np.array([-0.3]), "ERA5_x.nc")
    with pytest.raises(InputError, match=r"lat=50, lon=10\.01"):
        bilinear(src_lat, src_lon, np.array([50.0]), np.array([10.01]), "ERA5_x.nc")
    # within float32 rounding of the edge is inside
    box = bilinear(src_lat.astype(np.float32), src_lon.astype(np.float32), np.array([55.00001]), np.array([10.0]))
    assert box.weights.max() == pytest.approx(1.0)
    with pytest.raises(InputError, match="not strictly ascending or descending"):
        bilinear(np.array([1.0, 3.0, 2.0]), src_lon, np.array([2.0]), np.array([1.0]), "bad.nc")


def test_a_single_point_grid_serves_targets_on_that_point_only():
    box = bilinear(np.array([55.695], dtype=np.float32), np.array([12.495], dtype=np.float32),
                   np.array([55.695]), np.array([12.495]), "point.nc")
    assert box.shape == (1, 1)
    assert box.apply(np.array([[7.0]])) == pytest.approx([7.0])
    with pytest.raises(InputError, match=r"point\.nc: .*lat=55\.7, lon=12\.495"):
        bilinear(np.array([55.695]), np.array([12.495]), np.array([55.7]), np.array([12.495]), "point.nc")
