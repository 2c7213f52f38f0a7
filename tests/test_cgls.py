"""CGLS netCDF conventions on the real SSM 1 km proxy, and LAI 300 m aggregation to model cells."""

import datetime as dt

import netCDF4
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.obs import cgls
from mpilda.obs.records import as_seconds

from .conftest import REAL_DATA

UTC = dt.timezone.utc
PROXY = REAL_DATA / "cgls_proxy_not_lai300" / "c_gls_SSM1km_201706010000_CEURO_S1CSAR_V1.1.1.nc"


# ---------------------------------------------------------------------------
# The generic layer on the real proxy
# ---------------------------------------------------------------------------

def test_proxy_conventions():
    with cgls.CglsFile(PROXY) as f:
        assert f.descending and f.lat.size == f.lon.size == 448
        # 1 km CGLS pixels are 1/112 degree; coordinates are pixel centres: half a pixel off k/112
        assert f.dlat == pytest.approx(1 / 112, rel=1e-9) and f.dlon == pytest.approx(1 / 112, rel=1e-9)
        assert np.allclose(f.lat * 112 - 0.5, np.round(f.lat * 112 - 0.5), atol=1e-6)
        assert np.allclose(f.lon * 112 - 0.5, np.round(f.lon * 112 - 0.5), atol=1e-6)
        assert f.lat[0] == pytest.approx(45 - 1 / 224) and f.lon[0] == pytest.approx(-1 + 1 / 224)
        # "days since 1970-01-01T12:00:00" = 17317.5 -> 2017-06-01 00:00 UTC, the date of the name
        assert f.time == as_seconds(dt.datetime(2017, 6, 1, tzinfo=UTC)) and f.day() == f.time
        layer = f.layer("ssm")
        assert layer.scale == 0.5 and layer.offset == 0.0 and layer.fills == (255,)
        assert layer.valid_range == (0.0, 200.0) and layer.units == "%"
        assert layer.flag_values == (241, 242, 251, 252, 253)
        assert layer.flag_meanings == ("ExceedingMin", "ExceedingMax", "WaterMask", "SensitivityMask", "SlopeMask")
        assert f.data_names == ["ssm", "ssm_noise"]
        ours = f.read("ssm")
        window = f.read("ssm", slice(100, 140), slice(200, 260))
        # the subset kept its parent tile's GeoTransform (72 N, 11 W): the grid comes from lat/lon instead
        geotransform = [float(v) for v in f.ds["crs"].GeoTransform.split()]
        assert geotransform[3] == 72.0 and f.lat[0] + f.dlat / 2 != pytest.approx(72.0)
    with netCDF4.Dataset(PROXY) as ds:
        theirs = np.ma.filled(ds["ssm"][0].astype(np.float64), np.nan)     # netCDF4's own unpacking and masking
    assert np.array_equal(ours, theirs, equal_nan=True)
    assert np.array_equal(window, theirs[100:140, 200:260], equal_nan=True)
    assert np.isfinite(ours).sum() == 27563 and np.nanmax(ours) == 100.0


def test_excluded_meanings():
    cases = {"sea": "sea", "Land/Sea": "sea", "land_sea_mask": "sea", "Filled": "filled/no data",
             "gap_filled": "filled/no data", "no_data": "filled/no data", "NoData": "filled/no data",
             "no_observation": "filled/no data", "missing": "filled/no data",
             "lai_out_of_range": "out of range/invalid",
             "ExceedingMax": "out of range/invalid", "LAI_invalid": "out of range/invalid",
             "input_invalid": "out of range/invalid", "snow": None, "evergreen_broadleaf_forest": None,
             "season": None, "suspect": None, "aerosol_climatology": None}
    assert {m: cgls.excluded_meaning(m) for m in cases} == cases


# ---------------------------------------------------------------------------
# LAI 300 m files
# ---------------------------------------------------------------------------

DATE = dt.date(2018, 7, 20)


def pixel_grid(north, south, west, east, size):
    """Pixel-centre latitudes (descending) and longitudes of a box, pixels of ``size`` degrees."""
    ny, nx = int(round((north - south) / size)), int(round((east - west) / size))
    return north - (np.arange(ny) + 0.5) * size, west + (np.arange(nx) + 0.5) * size


def random_lai(lat, lon, seed=1):
    rng = np.random.default_rng(seed)
    shape = (lat.size, lon.size)
    lai = rng.uniform(0.0, 6.5, shape)
    lai[rng.random(shape) < 0.1] = np.nan                        # fill 255
    lai[rng.random(shape) < 0.03] = 7.6                          # DN 228: outside valid_range
    qflag = np.zeros(shape, np.uint8)
    for bit, p in ((cgls.QFLAG_BITS["sea"], 0.05), (cgls.QFLAG_BITS["snow"], 0.1),
                   (cgls.QFLAG_BITS["filled"], 0.03), (cgls.QFLAG_BITS["lai_invalid"], 0.02),
                   (cgls.QFLAG_BITS["evergreen_broadleaf_forest"], 0.1)):
        qflag[rng.random(shape) < p] |= bit
    return lai, qflag


def by_hand(lat, lon, lai, qflag, cell_lat, cell_lon, res, min_fraction, pixel):
    """Per cell, from the pixel centres inside its box: (pixels of the extended lattice, valid, mean LAI)."""
    dn = np.where(np.isfinite(lai), np.clip(np.round(np.nan_to_num(lai) * 30), 0, 254), 255)
    excluded = sum(cgls.QFLAG_BITS[k] for k in ("sea", "filled", "no_observation", "lai_out_of_range", "lai_invalid"))
    good = (dn <= 210) & ((qflag & excluded) == 0)
    rows = []
    for clat, clon in zip(cell_lat, cell_lon):
        inside = ((lat[:, None] >= clat - res / 2) & (lat[:, None] < clat + res / 2)
                  & (lon[None, :] >= clon - res / 2) & (lon[None, :] < clon + res / 2))
        # pixel centres of the lattice (continued beyond the file) inside the box
        ky = np.arange(-2000, 2000)
        lat_lattice = lat[0] - ky * pixel
        lon_lattice = lon[0] + ky * pixel
        n_lat = np.sum((lat_lattice >= clat - res / 2) & (lat_lattice < clat + res / 2))
        n_lon = np.sum((lon_lattice >= clon - res / 2) & (lon_lattice < clon + res / 2))
        n_ok = np.sum(inside & good)
        mean = dn[inside & good].mean() / 30 if n_ok else np.nan
        rows.append((inside.sum(), n_lat * n_lon, n_ok, mean))
    return rows


@pytest.mark.parametrize("pixel", [1 / 112, 1 / 336, 0.03])
def test_lai_aggregation_round_trip(tmp_path, pixel):
    res = 0.25
    lat, lon = pixel_grid(46.0, 44.5, 5.0, 6.9, pixel)            # the eastern edge cuts the cells at 6.875
    lai, qflag = random_lai(lat, lon)
    path = cgls.write_lai_file(tmp_path / cgls.lai_file_name(DATE), DATE, lat, lon, lai, qflag)
    # cells inside, on the file's edge (partly covered) and outside it
    cell_lat = np.array([45.875, 45.125, 44.625, 44.375, 46.125, 45.375, 45.625, 45.875])
    cell_lon = np.array([5.125, 6.375, 6.875, 5.625, 5.375, 7.125, 4.875, 6.875])
    reader = cgls.LaiReader(cell_lat, cell_lon, res, 0.6)
    obs = reader.read(path, local_hour=10.0)
    expected = by_hand(lat, lon, lai, qflag, cell_lat, cell_lon, res, 0.6, pixel)
    seen = [k for k, e in enumerate(expected) if e[0] > 0]
    assert obs.cell.tolist() == seen                          # the cells the file covers, in cell order
    for k, c in enumerate(obs.cell):
        _, n_lattice, n_ok, mean = expected[c]
        assert obs.extra["n_pixels"][k] == n_lattice and obs.extra["n_valid"][k] == n_ok
        fraction = n_ok / n_lattice
        assert obs.extra["valid_fraction"][k] == pytest.approx(fraction)
        assert obs.quality[k] == (fraction >= 0.6)
        if fraction >= 0.6:
            assert obs.value[k] == pytest.approx(mean, rel=1e-12) and obs.valid[k]
        else:
            assert np.isnan(obs.value[k]) and not obs.valid[k]
    assert obs.cell.tolist() == [0, 1, 2, 7]
    assert obs.quality.tolist() == [True, True, False, False]       # the cells cut by the file's edge fail
    # 10:00 local solar time -> UTC = 10 h - lon / 15 h on the dekad date
    day = as_seconds(DATE)
    assert obs.time.tolist() == [day + round((10.0 - cell_lon[c] / 15.0) * 3600) for c in obs.cell]


def test_lai_reads_only_the_cells_hyperslab(tmp_path, monkeypatch):
    lat, lon = pixel_grid(50.0, 40.0, 0.0, 10.0, 1 / 112)
    lai, qflag = random_lai(lat, lon, seed=2)
    path = cgls.write_lai_file(tmp_path / cgls.lai_file_name(DATE), DATE, lat, lon, lai, qflag)
    reads = []
    original = cgls.CglsFile.read_dn

    def spy(self, layer, rows, cols):
        reads.append((layer.name, rows, cols))
        return original(self, layer, rows, cols)

    monkeypatch.setattr(cgls.CglsFile, "read_dn", spy)
    monkeypatch.setattr(cgls, "STRIP_PIXELS", 1_000)                 # several strips
    reader = cgls.LaiReader(np.array([45.125, 45.375]), np.array([3.125, 3.375]), 0.25, 0.0)
    obs = reader.read(path, 12.0)
    assert obs.cell.tolist() == [0, 1]
    rows = sorted({(r.start, r.stop) for _, r, _ in reads})
    cols = {(c.start, c.stop) for _, _, c in reads}
    # two 0.25 degree boxes: 56 pixel rows (45.0..45.5) and 56 columns (3.0..3.5) of 1/112 degree
    assert cols == {(336, 392)}
    assert rows[0][0] == 504 and rows[-1][1] == 560 and len(rows) > 1
    assert {name for name, _, _ in reads} == {"LAI", "QFLAG"}
    expected = by_hand(lat, lon, lai, qflag, [45.125, 45.375], [3.125, 3.375], 0.25, 0.0, 1 / 112)
    assert obs.value.tolist() == pytest.approx([e[3] for e in expected], rel=1e-12)


def test_lai_written_layout(tmp_path):
    lat, lon = pixel_grid(46.0, 45.0, 5.0, 6.0, 1 / 336)
    lai, qflag = random_lai(lat, lon)
    path = cgls.write_lai_file(tmp_path / cgls.lai_file_name(DATE, rt=2), DATE, lat, lon, lai, qflag, rt=2)
    assert path.name == "c_gls_LAI300-RT2_201807200000_GLOBE_OLCI_V1.1.2.nc"
    with netCDF4.Dataset(path) as ds:
        assert ds["LAI"].dimensions == ("time", "lat", "lon") and ds["LAI"].dtype == np.uint8
        assert ds["LAI"].scale_factor == pytest.approx(1 / 30) and ds["LAI"]._FillValue == 255
        assert list(ds["LAI"].valid_range) == [0, 210] and ds["LAI"].grid_mapping == "crs"
        assert ds["time"].units == "days since 1970-01-01 00:00:00"
        assert netCDF4.num2date(ds["time"][0], ds["time"].units).strftime("%Y-%m-%d %H") == "2018-07-20 00"
        assert list(ds["QFLAG"].flag_masks) == list(cgls.QFLAG_BITS.values())
        assert ds["QFLAG"].flag_meanings.split() == list(cgls.QFLAG_BITS)
        gt = [float(v) for v in ds["crs"].GeoTransform.split()]
        assert gt == pytest.approx([5.0, 1 / 336, 0.0, 46.0, 0.0, -1 / 336])
        assert "RT2" in ds.identifier and ds.Conventions == "CF-1.6"
        unpacked = np.ma.filled(ds["LAI"][0].astype(np.float64), np.nan)   # netCDF4's own unpacking
    dn = np.where(np.isfinite(lai), np.round(np.nan_to_num(lai) * 30), 255)
    want = np.where(dn <= 210, dn / 30, np.nan)
    assert np.allclose(unpacked, want, equal_nan=True, atol=1e-12)
    with cgls.CglsFile(path) as f:
        assert f.layer("QFLAG").excluded_bits()[0] == 1 | 4 | 8 | 16 | 32


def test_lai_name_and_time_must_agree(tmp_path):
    lat, lon = pixel_grid(46.0, 45.0, 5.0, 6.0, 1 / 112)
    lai, qflag = random_lai(lat, lon)
    path = cgls.write_lai_file(tmp_path / cgls.lai_file_name(dt.date(2018, 7, 31)), DATE, lat, lon, lai, qflag)
    with pytest.raises(InputError, match=r"name says 2018-07-31 but its time variable is 2018-07-20"):
        cgls.LaiReader([45.5], [5.5], 0.25, 0.5).read(path, 10.0)


def test_find_lai_files_keeps_the_highest_stage(tmp_path):
    names = [
        "c_gls_LAI300-RT0_202107100000_GLOBE_OLCI_V1.1.2.nc",
        "c_gls_LAI300-RT2_202107100000_GLOBE_OLCI_V1.1.2.nc",
        "c_gls_LAI300-RT6_202107100000_GLOBE_OLCI_V1.1.1.nc",     # highest stage wins over a newer version
        "c_gls_LAI300-RT1_202107200000_GLOBE_OLCI_V1.1.1.nc",
        "c_gls_LAI300-RT1_202107200000_GLOBE_OLCI_V1.1.2.nc",     # same stage: the higher version
        "c_gls_LAI300-RT0_202006300000_GLOBE_PROBAV_V1.0.1.nc",
        "c_gls_LAI300_202006300000_GLOBE_PROBAV_V1.0.1.nc",       # the consolidated archive over RT0
        "c_gls_LAI300_202006200000_GLOBE_PROBAV_V1.0.1.nc",       # before the period
        "c_gls_LAI300-RT0_202107310000_GLOBE_OLCI_V1.1.2.nc",     # the period's end is exclusive
        "c_gls_FCOVER300-RT0_202107100000_GLOBE_OLCI_V1.1.2.nc",  # another product
        "notes.txt",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")
    found = cgls.find_lai_files(tmp_path, dt.datetime(2020, 6, 21, tzinfo=UTC), dt.datetime(2021, 7, 31, tzinfo=UTC))
    assert [p.name for p in found] == ["c_gls_LAI300_202006300000_GLOBE_PROBAV_V1.0.1.nc",
                                       "c_gls_LAI300-RT6_202107100000_GLOBE_OLCI_V1.1.1.nc",
                                       "c_gls_LAI300-RT1_202107200000_GLOBE_OLCI_V1.1.2.nc"]
    assert cgls.lai_file_name(dt.date(2014, 1, 10)) == "c_gls_LAI300_201401100000_GLOBE_PROBAV_V1.0.1.nc"
    assert cgls.lai_file_name(dt.date(2021, 12, 20), rt=0) == "c_gls_LAI300-RT0_202112200000_GLOBE_OLCI_V1.1.2.nc"


def test_lai_reader_arguments():
    with pytest.raises(ValueError, match="not on one lattice"):
        cgls.LaiReader([45.125, 45.2], [5.125, 5.125], 0.25, 0.5)
    with pytest.raises(ValueError, match="180 degree meridian"):
        cgls.LaiReader([45.0], [179.9], 0.25, 0.5)
    with pytest.raises(ValueError, match="share one lattice position"):
        cgls.LaiReader([45.125, 45.125], [5.125, 5.125], 0.25, 0.5)
