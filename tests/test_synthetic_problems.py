"""The twin that has the paper's problems (issue 18, item 6): [synthetic] vod_error_spread,
vod_error_smoothing_days, irrigation_ssm and irrigation_months.

Expected values come from the definitions, not from the code under test: a pixel's VOD error std is
noise * (1 + spread * g), g its cropland share; a k-day moving average of independent unit normals,
divided by sqrt(k), has variance 1 and autocorrelation (k - L) / k at lag L < k (0 beyond); the
irrigation wetting is amount * cropland share in its months and 0 otherwise. The observations are
drawn from a hand-made truth overpass file whose states are constant in time, so that a pixel's
retrieval minus its mean over the days is its error (up to the error's own mean).
"""

import datetime as dt

import h5py
import netCDF4
import numpy as np
import pytest
import tifffile

from mpilda.config import ConfigError, config_from_text
from mpilda.grid import Grid
from mpilda.obs import ease
from mpilda.obs.synthetic import irrigation_wetting, make_observations, smoothed_normals, vod_error_std
from mpilda.obs.vod import BANDS, FILL, vod_file_name
from mpilda.random import Stream, normals

from .conftest import window_config

SEED = 2024
NOISE = 0.03                 # [obs.vod] error_std: the VOD noise of [synthetic] errors = specified
_SUMMER = (6, 7, 8)


class _SerialComm:
    """One rank of ``size`` played in this process: collectives are local (rank 0 runs first and
    shares its broadcast with the others through ``shared``)."""

    def __init__(self, rank: int, size: int, shared: dict):
        self.rank, self.size, self.shared = rank, size, shared

    def Barrier(self):
        pass

    def bcast(self, obj, root=0):
        if self.rank == root:
            self.shared["bcast"] = obj
        return self.shared["bcast"]

    def allreduce(self, value):
        return value


def _landcover_class(lon):
    """Cropland (12) in the west of the window, a mosaic (14) in the middle, forest (4) in the east."""
    return np.where(lon < 4.9, 12, np.where(lon < 5.2, 14, 4))


def _config(tmp, start, end, extra=""):
    return config_from_text(window_config(start, end, f"""
[random]
seed = {SEED}
[experiment]
name = truth
[ensemble]
members = 0
[model]
landcover_file = {tmp}/landcover.nc
[synthetic]
directory = {tmp}/world
truth_directory = {tmp}/truth
errors = specified
lai_pixel_size = 0.0625
""" + extra))


def _write_inputs(tmp, start: str, n_days: int) -> None:
    """landcover.nc of ``_landcover_class`` and truth/overpass.nc with states constant in time."""
    (tmp / "truth").mkdir(parents=True, exist_ok=True)
    grid = _grid()
    with netCDF4.Dataset(tmp / "landcover.nc", "w") as ds:
        ds.createDimension("lat", grid.shape[0])
        ds.createDimension("lon", grid.shape[1])
        ds.createVariable("lat", "f8", ("lat",))[:] = grid.lat
        ds.createVariable("lon", "f8", ("lon",))[:] = grid.lon
        ds.createVariable("landcover", "i4", ("lat", "lon"))[:] = \
            _landcover_class(np.broadcast_to(grid.lon, grid.shape))
    ids = grid.land_ids
    rows, cols = grid.rows_cols(ids)
    per_cell = {"sm1_0600": 0.2 + 0.002 * np.arange(ids.size), "sm1_1800": 0.21 + 0.002 * np.arange(ids.size),
                "tsoil1_0600": 290.0, "tsoil1_1800": 290.0, "swe_0600": 0.0, "swe_1800": 0.0,
                "lai_0130": 3.0, "rzsm_0130": 0.3, "lai_1000": 3.0}
    with h5py.File(tmp / "truth" / "overpass.nc", "w") as f:
        f.create_dataset("time", data=np.arange(n_days, dtype=np.float64)).attrs["units"] = \
            f"days since {start} 00:00:00"
        for name, value in per_cell.items():
            a = np.full((n_days,) + grid.shape, 1e36, dtype=np.float32)
            a[:, rows, cols] = value
            f.create_dataset(name, data=a)


def _grid():
    return Grid.from_config(config_from_text(window_config("2015-04-01", "2015-04-02", "")).domain)


def _make(tmp, start, end, extra="", comm=None):
    from mpi4py import MPI

    cfg = _config(tmp, start, end, extra)
    make_observations(cfg, comm or MPI.COMM_SELF)
    return cfg


PROBLEMS = """vod_error_spread = 1.0
irrigation_ssm = 0.03
irrigation_months = 6, 7, 8
"""


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    """376 days of observations from a constant truth: with the problems (k = 1) and without."""
    out = {}
    n_days = 376                                  # 2015-04-01 .. 2016-04-10: every day slot of the year
    for name, extra in (("off", ""), ("on", PROBLEMS)):
        tmp = tmp_path_factory.mktemp(f"year-{name}")
        _write_inputs(tmp, "2015-04-01", n_days)
        out[name] = (tmp, _make(tmp, "2015-04-01", "2016-04-11", extra))
    return out


def _pixels(grid):
    """The M25 window of the grid's land cells: (r0, c0, shape, pixel of each cell (flat index))."""
    lat, lon = grid.cell_lat_lon(grid.land_ids)
    row, col = ease.rowcol("M25", lat, lon)
    r0, c0 = int(row.min()), int(col.min())
    shape = (int(row.max()) - r0 + 1, int(col.max()) - c0 + 1)
    return r0, c0, shape, (row - r0) * shape[1] + (col - c0)


def _pixel_keys(r0, c0, shape):
    """The keys (row * 2000 + col on EASE M25) of the window's pixels, flat in row-major order: the
    pixel numbers the synthetic VOD errors are drawn with."""
    size = shape[0] * shape[1]
    return r0 * 2000 + c0 + (np.arange(size) // shape[1]) * 2000 + np.arange(size) % shape[1]


def _vod_series(directory, days):
    """(n_days, n_pixels) VOD of the files (NaN where not written or a gap)."""
    out = []
    for day in days:
        path = directory / vod_file_name(day, "D")
        bands = tifffile.imread(path)
        v = bands[BANDS.index("vod")].astype(np.float64).ravel()
        out.append(np.where(v == FILL, np.nan, v))
    return np.array(out)


def _days(start, n):
    return [dt.date.fromisoformat(start) + dt.timedelta(days=i) for i in range(n)]


def _crop_share(grid, flat, size):
    lat, lon = grid.cell_lat_lon(grid.land_ids)
    crop = np.isin(_landcover_class(lon), (12, 14))
    return np.array([crop[flat == p].mean() if (flat == p).any() else np.nan for p in range(size)])


# -- the rules ---------------------------------------------------------------------------------------

def test_vod_error_std_rule():
    g = np.array([0.0, 0.5, 1.0])
    assert vod_error_std(0.03, 0.0, g) == 0.03
    np.testing.assert_allclose(vod_error_std(0.03, 2.0, g), [0.03, 0.06, 0.09], rtol=1e-15)


def test_smoothed_normals_have_unit_variance_and_the_moving_average_autocorrelation():
    k = 5
    ids = np.arange(300) * 7 + 11
    e = smoothed_normals(SEED, ids, np.arange(20000, 22000), k)            # (2000 days, 300 ids)
    n = e.size
    # sum over all lags of rho^2 = 1 + 2 * sum_L ((k - L) / k)^2 = 3.4 for k = 5: the sampling variance
    # of the pooled lag products is about 3.4 / n (Bartlett); 6 standard errors
    tol = 6 * np.sqrt(2 * 3.4 / n)
    assert abs(e.var() - 1.0) < tol
    assert abs(e.mean()) < 6 * np.sqrt(k / n)
    for lag in range(1, k + 3):
        r = np.mean(e[:-lag] * e[lag:])
        expected = max(k - lag, 0) / k
        assert abs(r - expected) < tol, (lag, r, expected)


def test_smoothed_normals_are_keyed_by_id_and_day_only():
    ids = np.array([5, 900, 4_000_017, 12, 77])
    days = np.arange(16600, 16640)
    whole = smoothed_normals(SEED, ids, days, 7)
    parts = np.concatenate([np.concatenate([smoothed_normals(SEED, ids[i], days[d], 7) for i in (slice(0, 2),
                                                                                            slice(2, 5))], axis=1)
                            for d in (slice(0, 13), slice(13, 40))], axis=0)
    assert whole.tobytes() == parts.tobytes()
    single = smoothed_normals(SEED, ids[3:4], days[21:22], 7)
    assert single[0, 0] == whole[21, 3]
    # k = 1: the keyed normals of the day itself; and the moving average of them is the definition
    z = normals(SEED, Stream.SYNTHETIC_OBS, ids[None, :], member=24, time=np.arange(16594, 16640)[:, None])[0]
    np.testing.assert_array_equal(smoothed_normals(SEED, ids, days, 1), z[6:])
    np.testing.assert_allclose(whole, sum(z[6 - j:46 - j] for j in range(7)) / np.sqrt(7), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="k = 3"):
        smoothed_normals(SEED, ids, np.array([1]), 3)


def test_irrigation_wetting_rule():
    share = np.array([0.0, 0.5, 1.0])
    assert irrigation_wetting(dt.date(2016, 7, 3), 0.03, _SUMMER, share).tolist() == [0.0, 0.015, 0.03]
    assert irrigation_wetting(dt.date(2016, 9, 1), 0.03, _SUMMER, share).tolist() == [0.0, 0.0, 0.0]
    assert irrigation_wetting(dt.date(2016, 7, 3), 0.0, _SUMMER, share).tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("key, value, expected", [
    ("irrigation_months", "6, 13", "months 1..12"), ("irrigation_months", "june", "months 1..12"),
    ("irrigation_months", "7, 7", "distinct"), ("irrigation_ssm", "-0.01", r"\[0.0, 0.3\]"),
    ("vod_error_smoothing_days", "0", r"\[1, 60\]"), ("vod_error_spread", "x", "a number")])
def test_config_errors_name_the_key_and_value(key, value, expected):
    with pytest.raises(ConfigError, match=rf"\[synthetic\] {key} = '{value}'.*{expected}"):
        config_from_text(window_config("2015-04-01", "2015-04-02", f"[synthetic]\n{key} = {value}\n"))


def test_config_defaults_are_off():
    s = config_from_text(window_config("2015-04-01", "2015-04-02")).synthetic
    assert (s.vod_error_spread, s.vod_error_smoothing_days, s.irrigation_ssm) == (0.0, 1, 0.0)
    assert s.irrigation_month_list == (6, 7, 8)


# -- the observations ---------------------------------------------------------------------------------

def test_defaults_keep_the_vod_noise_of_before(year):
    """With the options off a pixel's retrieval is its constant truth plus NOISE times the keyed normal of
    member 21 at the day's index in the truth file, as before issue 18."""
    tmp, cfg = year["off"]
    grid = _grid()
    r0, c0, shape, _ = _pixels(grid)
    days = _days("2015-04-01", 376)
    v = _vod_series(cfg.obs_directory("vod"), days)
    pixels = _pixel_keys(r0, c0, shape)
    z = normals(SEED, Stream.SYNTHETIC_OBS, pixels[None, :], member=21, time=np.arange(376)[:, None])[0]
    truth = v - NOISE * z
    seen = np.isfinite(v).sum(axis=0) > 100
    assert seen.sum() >= 20
    # constant in time up to the float32 of the files
    assert np.nanmax(np.nanstd(truth[:, seen], axis=0)) < 1e-6


def test_vod_error_std_follows_the_cropland_share(year):
    tmp, cfg = year["on"]
    grid = _grid()
    _, _, shape, flat = _pixels(grid)
    v = _vod_series(cfg.obs_directory("vod"), _days("2015-04-01", 376))
    g = _crop_share(grid, flat, shape[0] * shape[1])
    n = np.isfinite(v).sum(axis=0)
    use = n > 200
    assert (g[use] == 0).sum() >= 5 and (g[use] == 1).sum() >= 5
    s = np.nanstd(v[:, use], axis=0, ddof=1)
    expected = NOISE * (1.0 + 1.0 * g[use])
    # the sample std of n independent normals: relative standard error 1 / sqrt(2 (n - 1)); 5 of them
    ratio = s / expected
    assert np.all(np.abs(ratio - 1.0) < 5.0 / np.sqrt(2.0 * (n[use] - 1))), ratio
    # pooled over the cropland and over the forest pixels: 4 relative standard errors of the pooled std
    for group in (g[use] == 1, g[use] == 0):
        pooled = np.sqrt(np.sum((n[use][group] - 1) * s[group] ** 2 / expected[group] ** 2)
                         / np.sum(n[use][group] - 1))
        assert abs(pooled - 1.0) < 4.0 / np.sqrt(2.0 * np.sum(n[use][group] - 1)), pooled


def test_irrigation_adds_the_configured_wetting_on_cropland_in_summer_only(year):
    tmp_off, cfg_off = year["off"]
    tmp_on, cfg_on = year["on"]
    grid = _grid()
    lat, lon = grid.cell_lat_lon(grid.land_ids)
    row, col = ease.rowcol("M36", lat, lon)
    crop = np.isin(_landcover_class(lon), (12, 14))
    share = {}
    for r, c in set(zip(row.tolist(), col.tolist())):
        cells = (row == r) & (col == c)
        share[(r, c)] = crop[cells].mean()
    files = sorted(p.name for p in cfg_off.obs_directory("smap").glob("*.h5"))
    assert files == sorted(p.name for p in cfg_on.obs_directory("smap").glob("*.h5")) and len(files) > 500
    summer = other = 0
    full = set()
    for name in files:
        with h5py.File(cfg_off.obs_directory("smap") / name) as a, h5py.File(cfg_on.obs_directory("smap") / name) as b:
            ga, gb = a["Soil_Moisture_Retrieval_Data"], b["Soil_Moisture_Retrieval_Data"]
            for key in ("EASE_row_index", "EASE_column_index", "retrieval_qual_flag", "tb_time_seconds"):
                assert np.array_equal(ga[key][...], gb[key][...]), key
            month = (dt.datetime(2000, 1, 1, 12) + dt.timedelta(seconds=float(ga["tb_time_seconds"][0]))).month
            diff = gb["soil_moisture"][...].astype(np.float64) - ga["soil_moisture"][...].astype(np.float64)
            want = np.array([share[(r, c)] for r, c in zip(ga["EASE_row_index"][...].tolist(),
                                                            ga["EASE_column_index"][...].tolist())])
            want = 0.03 * want if month in _SUMMER else 0.0 * want
            # the files hold float32: equal to the wetting within the rounding of two float32 values
            np.testing.assert_allclose(diff, want, rtol=0, atol=1e-7)
            if month in _SUMMER:
                summer += 1
                full |= {k for k, w in zip(ga["EASE_row_index"][...].tolist(), want) if w == 0.03}
            else:
                other += 1
                assert np.array_equal(ga["soil_moisture"][...], gb["soil_moisture"][...])
    assert summer > 100 and other > 300 and full
    assert 0.0 in share.values() and 1.0 in share.values()


SMOOTHED = PROBLEMS + "vod_error_smoothing_days = 4\n"


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """40 days with every problem on, written by one rank, and by three ranks (days shared round-robin)."""
    out = {}
    for name, size in (("one", 1), ("three", 3)):
        tmp = tmp_path_factory.mktemp(f"short-{name}")
        _write_inputs(tmp, "2016-05-20", 40)
        shared = {}
        for rank in range(size):
            cfg = _make(tmp, "2016-05-20", "2016-06-29", SMOOTHED, comm=_SerialComm(rank, size, shared))
        out[name] = (tmp, cfg)
    return out


def test_smoothed_vod_errors_in_the_files(short):
    """retrieval - std * smoothed_normals(day number) is the pixel's constant truth on every day."""
    tmp, cfg = short["one"]
    grid = _grid()
    r0, c0, shape, flat = _pixels(grid)
    days = _days("2016-05-20", 40)
    v = _vod_series(cfg.obs_directory("vod"), days)
    pixels = _pixel_keys(r0, c0, shape)
    numbers = np.array([(d - dt.date(1970, 1, 1)).days for d in days])
    z = normals(SEED, Stream.SYNTHETIC_OBS, pixels[None, :], member=24, time=np.arange(numbers[0] - 3,
                                                                                      numbers[-1] + 1)[:, None])[0]
    e = sum(z[3 - j:z.shape[0] - j] for j in range(4)) / 2.0
    std = NOISE * (1.0 + _crop_share(grid, flat, pixels.size))
    truth = v - std * e
    seen = np.isfinite(v).sum(axis=0) > 20
    assert seen.sum() >= 20
    assert np.nanmax(np.nanstd(truth[:, seen], axis=0)) < 1e-6


def test_the_files_do_not_depend_on_the_rank_count(short):
    one, three = short["one"][1], short["three"][1]
    for sensor in ("smap", "lai", "vod"):
        a = sorted(p.name for p in one.obs_directory(sensor).iterdir())
        b = sorted(p.name for p in three.obs_directory(sensor).iterdir())
        assert a == b and a, sensor
        for name in a:
            data = (one.obs_directory(sensor) / name).read_bytes()
            assert data == (three.obs_directory(sensor) / name).read_bytes(), name


def test_observations_of_other_problems_are_not_silently_kept(short):
    from mpi4py import MPI

    from mpilda.errors import InputError

    tmp, _ = short["one"]
    with pytest.raises(InputError, match="vod_error_smoothing_days"):
        make_observations(_config(tmp, "2016-05-20", "2016-06-29", PROBLEMS), MPI.COMM_SELF)
    with pytest.raises(InputError, match="off"):
        make_observations(_config(tmp, "2016-05-20", "2016-06-29"), MPI.COMM_SELF)
