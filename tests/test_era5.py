"""The ERA5 forcing reader: real sample files, both CDS dialects, time interpolation, errors.

Expected values are read independently with netCDF4 (its own unpacking) and converted by the
formulas written out here.
"""

import datetime as dt

import netCDF4
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.forcing import VARIABLES
from mpilda.forcing.era5 import Era5File, Era5Forcing, Field
from mpilda.forcing.regrid import bilinear

from .conftest import REAL_DATA
from .era5_files import UTC, hours, write_legacy, write_new_cds

ERA5 = REAL_DATA / "era5"
SNOW_T = 274.66


def nc(path, name):
    """A whole variable read by netCDF4 (its own unpacking), float64 with NaN where masked."""
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(np.ma.asarray(ds[name][:], dtype=np.float64), np.nan)


def humidity(td, p):
    # data-formats.md section 4: vapour pressure (Bolton) and specific humidity
    e = 611.2 * np.exp(17.67 * (td - 273.15) / (td - 29.65))
    return 0.622 * e / (p - 0.378 * e)


def when(*args):
    return dt.datetime(*args, tzinfo=UTC)


# ---------------------------------------------------------------------------
# Real files
# ---------------------------------------------------------------------------

def test_real_grid_files_one_variable_each(tmp_path):
    """d2m, sp, tp, u10, v10 from the real daily files; t2m, ssrd, strd from a file made on their grid."""
    lat, lon = nc(ERA5 / "ERA5_2020-01-01_d2m.nc", "latitude"), nc(ERA5 / "ERA5_2020-01-01_d2m.nc", "longitude")
    h = np.arange(24.0)[:, None, None]
    t2m = 270.0 + (lat - 45.0)[None, :, None] + 0.01 * h + 0.0 * lon   # 270 K at 45 N .. 280 K at 55 N
    ssrd = 3600.0 * (10.0 * h + 0.0 * lat[:, None] + 0.0 * lon)
    strd = 3600.0 * (250.0 + 0.5 * lon + 0.0 * lat[:, None] + 0.0 * h)
    extra = tmp_path / "extra_20200101.nc"
    write_legacy(extra, hours(when(2020, 1, 1), 24), lat, lon, {"t2m": t2m, "ssrd": ssrd, "strd": strd})
    pattern = [ERA5 / "ERA5_%Y-%m-%d_{var}.nc", tmp_path / "extra_%Y%m%d.nc"]
    # a lattice point (row 20, col 20), the centre of four (rows 19..20, cols 20..21), the SW corner
    lat_t, lon_t = np.array([50.0, 50.125, 45.0]), np.array([5.0, 5.125, 0.0])

    def at_targets(field):
        return np.array([field[20, 20], field[19:21, 20:22].mean(), field[40, 0]])

    real = {v: nc(ERA5 / f"ERA5_2020-01-01_{v}.nc", v) for v in ("d2m", "sp", "tp", "u10", "v10")}
    made = {v: nc(extra, v) for v in ("t2m", "ssrd", "strd")}
    with Era5Forcing(pattern, lat_t, lon_t, 900, SNOW_T) as forcing:
        out = forcing.at(when(2020, 1, 1, 21, 30))         # between 21:00 and 22:00; accumulations of 22:00
        assert list(out) == list(VARIABLES)
        assert all(v.dtype == np.float64 and v.shape == (3,) for v in out.values())

        def inst(values):
            return 0.5 * at_targets(values[21]) + 0.5 * at_targets(values[22])

        assert np.allclose(out["tair"], inst(made["t2m"]), rtol=1e-12)
        assert np.allclose(out["psurf"], inst(real["sp"]), rtol=1e-12)
        assert np.allclose(out["qair"], inst(humidity(real["d2m"], real["sp"])), rtol=1e-10)
        assert np.allclose(out["wind"], inst(np.sqrt(real["u10"] ** 2 + real["v10"] ** 2)), rtol=1e-10)
        precipitation = at_targets(np.maximum(real["tp"][22], 0.0)) * 1000.0 / 3600.0
        assert np.all(precipitation > 0)
        assert np.allclose(out["rainf"] + out["snowf"], precipitation, rtol=1e-12, atol=0)
        snow = inst(made["t2m"]) < SNOW_T
        assert list(snow) == [False, False, True]
        assert np.all(out["snowf"][~snow] == 0) and np.all(out["rainf"][snow] == 0)
        assert np.allclose(out["swdown"], at_targets(made["ssrd"][22]) / 3600.0, rtol=1e-12)
        assert np.allclose(out["lwdown"], at_targets(made["strd"][22]) / 3600.0, rtol=1e-12)
        assert len(forcing._files) == 6          # the five real files and the made one, kept open
    assert not forcing._files                    # closed by the context manager


@pytest.mark.parametrize("name, time, first", [
    ("era5_testfile.nc", when(2020, 6, 15, 10, 15), when(2020, 1, 1)),
    ("era5_testfile_1day.nc", when(2021, 1, 1, 12, 45), when(2021, 1, 1)),
])
def test_real_point_time_series_with_mean_rate_radiation(tmp_path, name, time, first):
    """t2m, sp, u10, v10, msdwswrf from the real point files; d2m, mtpr, msdwlwrf from a made twin."""
    path = ERA5 / name
    nt = nc(path, "time").size
    with netCDF4.Dataset(path) as ds:
        stamps = netCDF4.num2date(ds["time"][:], ds["time"].units, ds["time"].calendar,
                                  only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    assert stamps[0].replace(tzinfo=UTC) == first and len(stamps) == nt
    h = np.arange(nt, dtype=np.float64)[:, None, None]
    made = {"d2m": 270.0 + 0.001 * h, "mtpr": 1e-5 * (h % 5), "msdwlwrf": 300.0 + 0.01 * h}
    twin = tmp_path / "twin.nc"
    write_legacy(twin, hours(first, nt), nc(path, "latitude"), nc(path, "longitude"), made)
    k = int((time - first).total_seconds() // 3600)
    frac = (time.minute * 60) / 3600.0
    real = {v: nc(path, v)[:, 0, 0] for v in ("t2m", "sp", "u10", "v10", "msdwswrf")}
    twin_values = {v: nc(twin, v)[:, 0, 0] for v in made}

    def inst(values):
        return (1 - frac) * values[k] + frac * values[k + 1]

    with Era5Forcing([path, twin], np.array([55.695]), np.array([12.495]), 900, SNOW_T) as forcing:
        out = forcing.at(time)
    assert out["tair"] == pytest.approx(inst(real["t2m"]), rel=1e-12)
    assert out["psurf"] == pytest.approx(inst(real["sp"]), rel=1e-12)
    assert out["wind"] == pytest.approx(inst(np.sqrt(real["u10"] ** 2 + real["v10"] ** 2)), rel=1e-10)
    assert out["qair"] == pytest.approx(inst(humidity(twin_values["d2m"], real["sp"])), rel=1e-10)
    assert out["swdown"] == pytest.approx(max(real["msdwswrf"][k + 1], 0.0), rel=1e-12, abs=1e-12)
    assert out["lwdown"] == pytest.approx(twin_values["msdwlwrf"][k + 1], rel=1e-12)
    assert out["rainf"] + out["snowf"] == pytest.approx(twin_values["mtpr"][k + 1], rel=1e-12, abs=1e-15)


def test_real_global_5_degree_file_regrids_across_the_seam_and_is_no_forcing():
    path = ERA5 / "example_downloaded_raw.nc"
    swvl1 = nc(path, "swvl1")                       # (4, 37, 72): 90 N .. 90 S, 0 .. 355 E
    file = Era5File(path)
    try:
        assert file.dialect == "legacy-cds"
        assert np.array_equal(file.times[1:] - file.times[:-1], [21600] * 3)
        # 47.5 N, 2.5 W lies between 50/45 N (rows 8, 9) and 355/0 E (columns 71, 0)
        box = bilinear(file.lat, file.lon, np.array([47.5, 90.0]), np.array([-2.5, 100.0]), str(path))
        assert box.cols == (slice(71, 72), slice(0, 22))
        field = file.field("swvl1")
        out = box.apply(box.read(lambda rows, cols: field.read(2, rows, cols)))
        expected = [swvl1[2, 8:10][:, [71, 0]].mean(), swvl1[2, 0, 20]]
        assert np.allclose(out, expected, rtol=1e-12)
    finally:
        file.close()
    with pytest.raises(InputError, match=r"example_downloaded_raw\.nc: no variable t2m .*2010-01-01T00:00:00Z"):
        with Era5Forcing(path, np.array([47.5]), np.array([2.5]), 900, SNOW_T) as forcing:
            forcing.at(when(2010, 1, 1))


def test_real_model_level_file_reads_one_level():
    path = ERA5 / "ERA5_2022-08-31_ml_q.nc"
    q = nc(path, "q")                                # (24, 22, 41, 41)
    levels = nc(path, "level")
    assert levels[21] == 137
    file = Era5File(path)
    try:
        field = file.field("q")
        assert np.allclose(field.read(slice(0, 24), slice(None), slice(None), {"level": 21}), q[:, 21], rtol=1e-12)
        with pytest.raises(InputError, match=r"ml_q\.nc: variable q has a dimension level of length 22"):
            field.read(0, slice(None), slice(None))
    finally:
        file.close()


# ---------------------------------------------------------------------------
# Both dialects, crafted
# ---------------------------------------------------------------------------

def analytic(lat, lon, h):
    """Fields linear in latitude, longitude (-180..180) and hour index h, so bilinear is exact (but q)."""
    zero = 0.0 * lat + 0.0 * lon + 0.0 * h
    return {
        "t2m": 280.0 + 0.2 * lat + 0.1 * lon + h + zero,
        "d2m": 270.0 + h + zero,
        "sp": 100000.0 - 10.0 * lat + zero,
        "u10": 3.0 * (1 + h) + zero,
        "v10": 4.0 * (1 + h) + zero,
        "tp": 1e-3 * (1 + h) + zero,
        "ssrd": 3600.0 * (100.0 + lat) + zero,
        "strd": 3600.0 * 300.0 + zero,
    }


def test_both_dialects_give_the_same_forcing(tmp_path):
    times = hours(when(2021, 3, 1), 3)
    h = np.arange(3.0)[:, None, None]
    # new CDS: latitude ascending, longitude -180..180 (a box across 0 E), float32
    lat_n, lon_n = np.arange(40.0, 50.01, 0.5), np.arange(-10.0, 10.01, 0.5)
    write_new_cds(tmp_path / "new.nc", times, lat_n, lon_n,
                  analytic(lat_n[None, :, None], lon_n[None, None, :], h))
    # legacy CDS: latitude descending, global longitude 0..359, int16 packed
    lat_l, lon_l = np.arange(60.0, 29.99, -1.0), np.arange(0.0, 359.5, 1.0)
    lon_l180 = (lon_l + 180.0) % 360.0 - 180.0
    write_legacy(tmp_path / "legacy.nc", times, lat_l, lon_l,
                 analytic(lat_l[None, :, None], lon_l180[None, None, :], h))
    lat_t = np.array([41.3, 45.0, 49.9, 42.0])
    lon_t = np.array([-7.7, 0.3, 9.5, -0.5])       # across 0 E
    expected_q = [0.5 * (humidity(270.0, 1e5 - 10 * lat_t) + humidity(271.0, 1e5 - 10 * lat_t)),
                  humidity(271.0, 1e5 - 10 * lat_t)]
    for name, lon_given, rtol in (("new.nc", lon_t % 360.0, 1e-6), ("legacy.nc", lon_t, 1e-4)):
        with Era5Forcing(tmp_path / name, lat_t, lon_given, 900, SNOW_T) as forcing:
            for step, time in enumerate((when(2021, 3, 1, 0, 30), when(2021, 3, 1, 1))):
                out = forcing.at(time)
                hour = 0.5 if step == 0 else 1.0     # instantaneous: linear in time
                stamp = 1 if step == 0 else 2        # hour-mean fields: the next stamp
                assert np.allclose(out["tair"], 280.0 + 0.2 * lat_t + 0.1 * lon_t + hour, rtol=rtol), name
                assert np.allclose(out["psurf"], 1e5 - 10.0 * lat_t, rtol=rtol)
                assert np.allclose(out["qair"], expected_q[step], rtol=rtol)
                assert np.allclose(out["wind"], 5.0 * (1 + hour), rtol=rtol)
                assert np.allclose(out["rainf"] + out["snowf"], 1e-3 * (1 + stamp) * 1000.0 / 3600.0, rtol=rtol)
                assert np.allclose(out["swdown"], 100.0 + lat_t, rtol=rtol)
                assert np.allclose(out["lwdown"], 300.0, rtol=rtol)


def test_new_cds_nan_outside_the_needed_area_is_harmless_inside_an_error(tmp_path):
    times = hours(when(2021, 3, 1), 3)
    lat, lon = np.arange(40.0, 50.01, 0.5), np.arange(-10.0, 10.01, 0.5)
    fields = analytic(lat[None, :, None], lon[None, None, :], np.arange(3.0)[:, None, None])
    fields["t2m"][:, 0, 0] = np.nan                  # 40 N, 10 W: far from the targets
    fields["sp"][1, 12, 22] = np.nan                 # 46 N, 1 E at 01:00
    write_new_cds(tmp_path / "f.nc", times, lat, lon, fields)
    with Era5Forcing(tmp_path / "f.nc", np.array([46.2]), np.array([0.7]), 900, SNOW_T) as forcing:
        forcing.at(when(2021, 3, 1, 0))              # 00:00 needs instantaneous fields of 00:00 only
        with pytest.raises(InputError, match=r"f\.nc: sp at 2021-03-01T01:00:00Z is missing \(NaN or fill value\) "
                                             r"at lat=46, lon=1 "):
            forcing.at(when(2021, 3, 1, 0, 15))


# ---------------------------------------------------------------------------
# Time interpolation, files per day and per month, caching
# ---------------------------------------------------------------------------

def test_time_interpolation_across_daily_files(tmp_path, monkeypatch):
    lat, lon = np.array([10.0, 11.0]), np.array([20.0, 21.0])
    start = when(2020, 1, 1)
    n = 48
    rng = np.random.default_rng(7)
    t2m_series = 270.0 + np.round(rng.uniform(0, 20, n) * 4) / 4        # exact in float32
    tp_series = np.round(rng.uniform(0, 4, n)) * 2.0 ** -12
    ssrd_series = 3600.0 * np.round(rng.uniform(0, 800, n))
    ones = np.ones((n, 2, 2))
    fields = {"t2m": t2m_series[:, None, None] * ones, "d2m": 260.0 * ones, "sp": 1e5 * ones,
              "u10": 1.0 * ones, "v10": 0.0 * ones, "tp": tp_series[:, None, None] * ones,
              "ssrd": ssrd_series[:, None, None] * ones, "strd": 3600.0 * 300.0 * ones}
    for day in range(2):
        write_new_cds(tmp_path / f"era5_2020010{day + 1}.nc", hours(start + dt.timedelta(days=day), 24), lat, lon,
                      {k: v[24 * day:24 * day + 24] for k, v in fields.items()})
    reads = []
    original = Field.read

    def counting(self, time, rows, cols, select=None):
        hours = range(time.start, time.stop) if isinstance(time, slice) else [time]
        reads.extend((self.file.path.name, self.name, k) for k in hours)
        return original(self, time, rows, cols, select)

    monkeypatch.setattr(Field, "read", counting)
    with Era5Forcing(tmp_path / "era5_%Y%m%d.nc", np.array([10.5]), np.array([20.5]), 900, SNOW_T) as forcing:
        for step in range(4 * 22, 4 * 25):            # 22:00 .. 00:45 the next day
            time = start + dt.timedelta(seconds=900 * step)
            k, frac = divmod(step, 4)
            frac /= 4
            out = forcing.at(time)
            assert out["tair"][0] == pytest.approx(t2m_series[k] + frac * (t2m_series[k + 1] - t2m_series[k]),
                                                   rel=1e-14), time
            # steps hh:00 .. hh:45 take the accumulation of the hour ending at hh+1
            assert out["rainf"][0] + out["snowf"][0] == pytest.approx(tp_series[k + 1] * 1000.0 / 3600.0, rel=1e-14)
            assert out["swdown"][0] == pytest.approx(ssrd_series[k + 1] / 3600.0, rel=1e-14)
            assert out["wind"][0] == 1.0 and out["lwdown"][0] == pytest.approx(300.0)
    # every hour of every variable read once, in the file of its day (the rest of a day's file is read
    # ahead with the first hour needed)
    assert len(reads) == len(set(reads))
    assert ("era5_20200102.nc", "tp", 1) in reads and ("era5_20200101.nc", "t2m", 23) in reads
    assert ("era5_20200102.nc", "t2m", 1) in reads and ("era5_20200102.nc", "t2m", 23) in reads
    assert ("era5_20200101.nc", "t2m", 21) not in reads


def test_monthly_file_with_expver_and_snow_split(tmp_path):
    lat, lon = np.array([50.0, 49.0]), np.array([0.0, 1.0])
    n = 6
    ones = np.ones((n, 2, 2, 2))
    t2m = np.stack([np.full((n, 2, 2), 272.0), np.full((n, 2, 2), 276.0)], axis=1)  # expver 1 cold, 5 warm
    t2m[3:, 0] = np.nan                            # ERA5 final up to 02:00, ERA5T after
    t2m[:3, 1] = np.nan
    fields = {"t2m": t2m, "d2m": 260.0 * ones, "sp": 9e4 * ones, "u10": -2.0 * ones, "v10": 0.0 * ones,
              "mtpr": 1e-4 * ones, "msdwswrf": -0.001 * ones, "msdwlwrf": 310.0 * ones}
    write_legacy(tmp_path / "era5_202012.nc", hours(when(2020, 12, 31, 18), n), lat, lon, fields,
                 expver=[1, 5])
    with Era5Forcing(str(tmp_path / "era5_%Y%m.nc"), np.array([49.5]), np.array([0.5]), 1800, SNOW_T) as forcing:
        cold = forcing.at(when(2020, 12, 31, 19))
        warm = forcing.at(when(2020, 12, 31, 21, 30))
    assert cold["tair"][0] == pytest.approx(272.0, abs=1e-3) and warm["tair"][0] == pytest.approx(276.0, abs=1e-3)
    assert cold["snowf"][0] == pytest.approx(1e-4, rel=1e-3) and cold["rainf"][0] == 0
    assert warm["rainf"][0] == pytest.approx(1e-4, rel=1e-3) and warm["snowf"][0] == 0
    assert cold["swdown"][0] == 0.0                # negative packed radiation clipped
    assert cold["wind"][0] == pytest.approx(2.0, rel=1e-3)


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------

GOOD_TIMES = hours(when(2020, 1, 1), 4)


def small(tmp_path, name="era5_20200101.nc", times=GOOD_TIMES, legacy=False, drop=(), units=None, edit=None):
    lat, lon = np.arange(40.0, 42.01, 0.5), np.arange(0.0, 2.01, 0.5)
    nt = len(times)
    fields = analytic(lat[None, :, None], lon[None, None, :], np.arange(float(nt))[:, None, None])
    for key in drop:
        del fields[key]
    if edit:
        edit(fields)
    (write_legacy if legacy else write_new_cds)(tmp_path / name, times, lat, lon, fields, units=units)
    return tmp_path / "era5_%Y%m%d.nc"


def forcing_at(pattern, time, lat=41.2, lon=1.1):
    with Era5Forcing(pattern, np.array([lat]), np.array([lon]), 900, SNOW_T) as forcing:
        return forcing.at(time)


def test_missing_file(tmp_path):
    pattern = small(tmp_path)
    forcing_at(pattern, when(2020, 1, 1, 2, 45))
    with pytest.raises(InputError, match=r"era5_20200101\.nc: no data at 2020-01-01T04:00:00Z .*holds "
                                         r"2020-01-01T00:00:00Z\.\.2020-01-01T03:00:00Z"):
        forcing_at(pattern, when(2020, 1, 1, 3, 15))
    with pytest.raises(InputError, match=r"era5_20200102\.nc: no such file \(ERA5 t2m at 2020-01-02T00:00:00Z"):
        forcing_at(pattern, when(2020, 1, 2))
    with pytest.raises(InputError, match=r"ERA5_2020-01-01_t2m\.nc: no such file"):
        forcing_at(tmp_path / "ERA5_%Y-%m-%d_{var}.nc", when(2020, 1, 1))


def test_gap_duplicate_and_unordered_times(tmp_path):
    t = GOOD_TIMES
    pattern = small(tmp_path, times=[t[0], t[1], t[3]], legacy=True)
    with pytest.raises(InputError, match=r"era5_20200101\.nc: no data at 2020-01-01T02:00:00Z \(needed for t2m "
                                         r".*a gap between 2020-01-01T01:00:00Z and 2020-01-01T03:00:00Z"):
        forcing_at(pattern, when(2020, 1, 1, 1, 30))
    pattern = small(tmp_path, times=[t[0], t[1], t[1], t[2]], legacy=True)
    with pytest.raises(InputError, match=r"era5_20200101\.nc: time 2020-01-01T01:00:00Z repeats "
                                         r"2020-01-01T01:00:00Z.*duplicated or unordered"):
        forcing_at(pattern, when(2020, 1, 1))
    pattern = small(tmp_path, times=[t[0], t[2], t[1], t[3]])
    with pytest.raises(InputError, match=r"era5_20200101\.nc: time 2020-01-01T01:00:00Z comes before "
                                         r"2020-01-01T02:00:00Z"):
        forcing_at(pattern, when(2020, 1, 1))


def test_absent_variable_and_wrong_units(tmp_path):
    pattern = small(tmp_path, drop=("v10",))
    with pytest.raises(InputError, match=r"era5_20200101\.nc: no variable v10 \(needed at 2020-01-01T00:00:00Z\); "
                                         r"the file holds t2m, d2m, sp, u10, tp, ssrd, strd"):
        forcing_at(pattern, when(2020, 1, 1))
    pattern = small(tmp_path, drop=("ssrd",))
    with pytest.raises(InputError, match=r"no variable ssrd or msdwswrf \(needed at 2020-01-01T01:00:00Z\)"):
        forcing_at(pattern, when(2020, 1, 1))
    pattern = small(tmp_path, units={"t2m": "degC"})
    with pytest.raises(InputError, match=r"era5_20200101\.nc: variable t2m has units 'degC'; expected 'K'"):
        forcing_at(pattern, when(2020, 1, 1))
    pattern = small(tmp_path, legacy=True, units={"u10": "km h**-1"})
    with pytest.raises(InputError, match=r"variable u10 has units 'km h\*\*-1'; expected 'm s-1'"):
        forcing_at(pattern, when(2020, 1, 1))
    pattern = small(tmp_path, units={"tp": "mm"})
    with pytest.raises(InputError, match=r"variable tp has units 'mm'; expected 'm'"):
        forcing_at(pattern, when(2020, 1, 1))


def test_fill_value_in_the_needed_area(tmp_path):
    def hole(fields):
        fields["u10"][2, 2, 3] = np.nan              # 41 N, 1.5 E at 02:00

    pattern = small(tmp_path, legacy=True, edit=hole)
    forcing_at(pattern, when(2020, 1, 1, 1))         # 01:00 reads instantaneous 01:00 only
    with pytest.raises(InputError, match=r"era5_20200101\.nc: u10 at 2020-01-01T02:00:00Z is missing "
                                         r"\(NaN or fill value\) at lat=41, lon=1\.5"):
        forcing_at(pattern, when(2020, 1, 1, 1, 45))


def test_grid_not_covering_the_cells_and_unreadable_files(tmp_path):
    pattern = small(tmp_path)
    with pytest.raises(InputError, match=r"era5_20200101\.nc: the grid \(latitude 40\.\.42, longitude 0\.\.2\) "
                                         r"does not cover the point lat=41\.2, lon=-0\.5"):
        forcing_at(pattern, when(2020, 1, 1), lon=-0.5)
    (tmp_path / "era5_20200105.nc").write_text("not netCDF")
    with pytest.raises(InputError, match=r"era5_20200105\.nc: not a readable netCDF file"):
        forcing_at(pattern, when(2020, 1, 5))
    with pytest.raises(ValueError, match="aware"):
        forcing_at(pattern, dt.datetime(2020, 1, 1))
    with pytest.raises(ValueError, match="divisor of 3600"):
        Era5Forcing(pattern, np.array([41.0]), np.array([1.0]), 700, SNOW_T)
