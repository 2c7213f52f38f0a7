"""Synthetic land cover and soils: plausible by region, patchy, deterministic; reading class maps."""

import netCDF4
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.grid import builtin_landmask
from mpilda.landscape import read_class_map, synthetic_landcover, synthetic_soil

SEED = 77


@pytest.fixture(scope="module")
def world():
    """The paper's 0.25 degree window (29.875..71.625 N, -11.375..40.125 E) with its land mask and maps."""
    lat = 29.875 + 0.25 * np.arange(168)
    lon = -11.375 + 0.25 * np.arange(207)
    land = builtin_landmask(lat, lon)
    la, lo = np.meshgrid(lat, lon, indexing="ij")
    lc = synthetic_landcover(SEED, la[land], lo[land])
    soil = synthetic_soil(SEED, la[land], lo[land], lc)
    lc_map = np.zeros(land.shape, dtype=int)
    lc_map[land] = lc
    return {"lat": la[land], "lon": lo[land], "lc": lc, "soil": soil, "land": land, "lc_map": lc_map}


def _box(w, s, n, west, e):
    return (w["lat"] >= s) & (w["lat"] <= n) & (w["lon"] >= west) & (w["lon"] <= e)


def _share(values, classes):
    return np.isin(values, classes).mean()


def test_landcover_classes_are_valid_and_never_water_or_ice(world):
    lc = world["lc"]
    assert lc.size == 19701                        # the paper's land cells
    assert lc.min() >= 1 and lc.max() <= 20
    assert not np.isin(lc, (15, 17)).any()
    # a few urban and wetland cells (MODIS: ~1-2 % urban, < 1 % wetland at 0.25 degrees)
    assert 0.003 < (lc == 13).mean() < 0.03
    assert 0.0005 < (lc == 11).mean() < 0.02


def test_landcover_plausible_by_region(world):
    lc = world["lc"]
    # Sahara: barren and open shrubland
    sahara = _box(world, 29.8, 31.5, -3.0, 30.0)
    assert sahara.sum() > 200 and _share(lc[sahara], (16, 7)) > 0.8
    # Scandinavia and the Russian north: needleleaf and mixed forest, tundra towards 70 N
    north = _box(world, 61.0, 70.0, 12.0, 32.0)
    assert _share(lc[north], (1, 5, 18, 19, 20)) > 0.75
    assert _share(lc[_box(world, 69.0, 71.7, 15.0, 40.0)], (18, 19, 20)) > 0.4
    # the central European crop belt: cropland, mosaic, deciduous and mixed forest all present and dominant
    central = _box(world, 47.0, 54.0, 3.0, 20.0)
    for k in (12, 14, 4, 5):
        assert (lc[central] == k).mean() > 0.01, k
    assert _share(lc[central], (12, 14, 4, 5, 1, 10)) > 0.8
    assert _share(lc[central], (12, 14)) > 0.4
    # around the Mediterranean: shrubs, savannas, evergreen broadleaf forest and crops
    med = _box(world, 36.0, 42.0, -9.5, 28.0)
    present = [k for k in (2, 6, 8, 9, 12, 14) if (lc[med] == k).mean() > 0.01]
    assert len(present) >= 5 and _share(lc[med], (2, 6, 7, 8, 9, 10, 12, 13, 14)) > 0.8
    # the steppe east: grass and crops
    steppe = _box(world, 45.0, 52.0, 30.0, 40.0)
    assert _share(lc[steppe], (10, 12, 14)) > 0.7


def test_landcover_is_patchy_not_banded(world):
    m, land = world["lc_map"], world["land"]
    same_ew = (m[:, 1:] == m[:, :-1])[land[:, 1:] & land[:, :-1]]
    same_ns = (m[1:, :] == m[:-1, :])[land[1:, :] & land[:-1, :]]
    # neighbours often share a class, but classes change in both directions alike (no bands)
    assert 0.5 < same_ew.mean() < 0.95 and 0.5 < same_ns.mean() < 0.95
    assert 0.67 < (1 - same_ew.mean()) / (1 - same_ns.mean()) < 1.5


def test_soils_plausible_by_region(world):
    soil, lc = world["soil"], world["lc"]
    assert soil.min() >= 1 and soil.max() <= 13
    assert (soil == 13).mean() < 0.02                 # organic soils only in a few boreal wetlands
    assert not np.isin(soil[lc != 11], (13,)).any()
    sahara = _box(world, 29.8, 31.5, -3.0, 30.0)
    assert _share(soil[sahara], (1, 2, 3, 7)) > 0.6                  # sands in the desert
    north = _box(world, 61.0, 70.0, 12.0, 32.0)
    assert _share(soil[north], (1, 2, 3)) > 0.45                    # sandy tills of the north
    crops = _box(world, 47.0, 54.0, 3.0, 20.0) & np.isin(lc, (12, 14))
    assert _share(soil[crops], (4, 6, 8, 9)) > 0.55                 # loess and loams under the crops
    steppe = _box(world, 45.0, 52.0, 30.0, 40.0)
    assert _share(soil[steppe], (4, 6, 8, 9, 11, 12)) > 0.6         # chernozem loams and clays


def test_maps_are_deterministic_and_pointwise(world):
    lat, lon = world["lat"], world["lon"]
    sub = np.random.default_rng(0).permutation(lat.size)[:500]
    lc_sub = synthetic_landcover(SEED, lat[sub], lon[sub])
    assert np.array_equal(lc_sub, world["lc"][sub])
    assert np.array_equal(synthetic_soil(SEED, lat[sub], lon[sub], lc_sub), world["soil"][sub])
    other = synthetic_landcover(SEED + 1, lat, lon)
    assert (other != world["lc"]).mean() > 0.2


def _write_map(path, lat, lon, values, name="landcover", fill=None):
    with netCDF4.Dataset(path, "w") as ds:
        ds.createDimension("latitude", lat.size)
        ds.createDimension("longitude", lon.size)
        ds.createVariable("latitude", "f8", ("latitude",))[:] = lat
        ds.createVariable("longitude", "f8", ("longitude",))[:] = lon
        v = ds.createVariable(name, "i2", ("latitude", "longitude"), fill_value=fill)
        v[:] = values


def test_read_class_map_round_trip_descending_lat_and_0_360_lon(world, tmp_path):
    lat = 29.875 + 0.25 * np.arange(168)
    lon = -11.375 + 0.25 * np.arange(207)
    m = np.where(world["land"], world["lc_map"], 17)
    path = tmp_path / "lc.nc"
    _write_map(path, lat[::-1], lon % 360.0, m[::-1, :])          # north to south, 0..360 longitudes
    got = read_class_map(path, "landcover", world["lat"], world["lon"], 20)
    assert np.array_equal(got, world["lc"])
    # 2-D request shape kept
    la, lo = np.meshgrid(lat[:3], lon[:4], indexing="ij")
    assert read_class_map(path, "landcover", la, lo, 20).shape == (3, 4)


def test_read_class_map_errors(tmp_path):
    lat = np.array([40.125, 40.375])
    lon = np.array([350.125, 350.375, 350.625])
    values = np.array([[1, 2, 3], [4, 21, 6]])
    path = tmp_path / "map.nc"
    _write_map(path, lat, lon, values)
    assert read_class_map(path, "landcover", [40.125], [-9.875], 20).tolist() == [1]
    with pytest.raises(InputError, match=r"map\.nc.*lat 41\.125, lon -9\.875"):
        read_class_map(path, "landcover", [41.125], [-9.875], 20)                    # not in the file
    with pytest.raises(InputError, match=r"map\.nc.*= 21 at lat 40\.375, lon -9\.625.*1\.\.20"):
        read_class_map(path, "landcover", [40.375, 40.125], [-9.625, -9.875], 20)    # class out of range
    assert read_class_map(path, "landcover", [40.125], [-9.375], 20).tolist() == [3]   # the bad cell not needed
    with pytest.raises(InputError, match=r"map\.nc.*'soil'"):
        read_class_map(path, "soil", [40.125], [-9.875], 19)                         # no such variable
    with pytest.raises(InputError, match=r"missing\.nc"):
        read_class_map(tmp_path / "missing.nc", "landcover", [40.125], [-9.875], 20)
    masked = tmp_path / "masked.nc"
    _write_map(masked, lat, lon, np.ma.masked_equal(values, 2), fill=-1)
    with pytest.raises(InputError, match=r"masked\.nc.*missing.*lat 40\.125, lon -9\.625"):
        read_class_map(masked, "landcover", [40.125], [-9.625], 20)
