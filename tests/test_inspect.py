"""`inspect`: format detection and summaries of input files."""

import datetime as dt
import json

import netCDF4
import numpy as np
import pytest

from mpilda import inspect
from mpilda.errors import InputError
from mpilda.inspect import inspect_path

from .conftest import REAL_DATA
from .era5_files import UTC, hours, write_new_cds

ERA5 = REAL_DATA / "era5"


def nc(path, name):
    """A whole variable read by netCDF4 (its own unpacking), float64 with NaN where masked."""
    with netCDF4.Dataset(path) as ds:
        return np.ma.filled(np.ma.asarray(ds[name][:], dtype=np.float64), np.nan)


def stats(values, units):
    values = values[np.isfinite(values)]
    return {"units": units, "count": values.size, "mean": values.mean(), "min": values.min(), "max": values.max()}


def iso_times(path, name="time"):
    with netCDF4.Dataset(path) as ds:
        t = netCDF4.num2date(ds[name][[0, -1]], ds[name].units, getattr(ds[name], "calendar", "standard"),
                             only_use_cftime_datetimes=False, only_use_python_datetimes=True)
    return [x.strftime("%Y-%m-%dT%H:%M:%SZ") for x in t]


# Expected summaries written out by hand: model name, conversion to SI, SI units.
def hour_mean(x):
    return np.maximum(x, 0.0) / 3600.0          # J m-2 over one hour -> W m-2, clipped at 0


EXPECTED = {
    "ERA5_2020-01-01_d2m.nc": {"dewpoint": ("d2m", lambda x: x, "K")},
    "ERA5_2020-01-01_sp.nc": {"psurf": ("sp", lambda x: x, "Pa")},
    "ERA5_2020-01-01_tp.nc": {"precipitation": ("tp", lambda x: np.maximum(x, 0.0) * 1000.0 / 3600.0, "kg m-2 s-1")},
    "ERA5_2020-01-01_u10.nc": {"wind_u": ("u10", lambda x: x, "m s-1")},
    "ERA5_2020-01-01_v10.nc": {"wind_v": ("v10", lambda x: x, "m s-1")},
    "ERA5_2022-08-31_ml_q.nc": {"qair": ("q", lambda x: x[:, 21], "kg kg-1")},     # level index 21 = 137
    "example_downloaded_raw.nc": {"swvl1": ("swvl1", lambda x: x, "m3 m-3"), "lsm": ("lsm", lambda x: x, "1")},
}
for _name in ("era5_testfile.nc", "era5_testfile_1day.nc"):
    EXPECTED[_name] = {"tair": ("t2m", lambda x: x, "K"), "wind_u": ("u10", lambda x: x, "m s-1"),
                       "wind_v": ("v10", lambda x: x, "m s-1"), "psurf": ("sp", lambda x: x, "Pa"),
                       "swdown": ("msdwswrf", lambda x: np.maximum(x, 0.0), "W m-2"),
                       "msdwswrfcs": ("msdwswrfcs", lambda x: x, "W m-2"),
                       "msdrswrf": ("msdrswrf", lambda x: x, "W m-2"),
                       "msdrswrfcs": ("msdrswrfcs", lambda x: x, "W m-2")}


def test_every_real_era5_sample_is_covered():
    assert sorted(EXPECTED) == sorted(p.name for p in ERA5.glob("*.nc"))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_real_era5_files(name):
    path = ERA5 / name
    result = inspect_path(path)
    json.dumps(result, allow_nan=False)
    assert result["format"] == "era5-netcdf" and result["dialect"] == "legacy-cds"
    assert [result["time_start"], result["time_end"]] == iso_times(path)
    assert set(result["variables"]) == set(EXPECTED[name])
    for model, (era5_name, convert, units) in EXPECTED[name].items():
        got = result["variables"][model]
        want = stats(convert(nc(path, era5_name)), units)
        assert got["units"] == units and got["count"] == want["count"] and got["source"] == era5_name
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-9, abs=1e-12), (model, key)
    if name.endswith("ml_q.nc"):
        assert result["variables"]["qair"]["level"] == 137 and "137" in result["variables"]["qair"]["note"]


def test_new_cds_file_with_humidity_and_accumulations(tmp_path):
    lat, lon = np.arange(40.0, 41.01, 0.5), np.arange(-1.0, 1.01, 0.5)
    rng = np.random.default_rng(3)
    shape = (5, lat.size, lon.size)
    fields = {"d2m": rng.uniform(260, 290, shape), "sp": rng.uniform(9e4, 1.03e5, shape),
              "tp": rng.uniform(-1e-7, 2e-3, shape), "ssrd": rng.uniform(0, 3e6, shape)}
    fields["sp"][2, 1, 1] = np.nan
    path = tmp_path / "data_stream-oper.nc"
    write_new_cds(path, hours(dt.datetime(2024, 7, 1, 6, tzinfo=UTC), 5), lat, lon, fields)
    result = inspect_path(path)
    json.dumps(result, allow_nan=False)
    assert result["format"] == "era5-netcdf" and result["dialect"] == "new-cds"
    assert (result["time_start"], result["time_end"]) == ("2024-07-01T06:00:00Z", "2024-07-01T10:00:00Z")
    assert [result["time_start"], result["time_end"]] == iso_times(path, "valid_time")
    d2m, sp = nc(path, "d2m")[0], nc(path, "sp")[0]
    e = 611.2 * np.exp(17.67 * (d2m - 273.15) / (d2m - 29.65))
    expected = {"qair": stats(0.622 * e / (sp - 0.378 * e), "kg kg-1"),
                "psurf": stats(sp, "Pa"), "dewpoint": stats(d2m, "K"),
                "precipitation": stats(np.maximum(nc(path, "tp")[0], 0) * 1000.0 / 3600.0, "kg m-2 s-1"),
                "swdown": stats(nc(path, "ssrd")[0] / 3600.0, "W m-2")}
    assert set(result["variables"]) == set(expected)
    assert result["variables"]["qair"]["count"] == 5 * 3 * 5 - 1
    for model, want in expected.items():
        got = result["variables"][model]
        assert got["units"] == want["units"] and got["count"] == want["count"]
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-9), (model, key)


def test_unknown_formats_and_missing_files(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path in (text, REAL_DATA / "ease_grid" / "NSIDC0772_LatLon_EASE2_M36km_v1.0.nc"):
        with pytest.raises(InputError, match=rf"{path.name}: not a file of a known format; the known formats are "
                                             r".*era5-netcdf"):
            inspect_path(path)
    with pytest.raises(InputError, match=r"nothing\.nc: no such file"):
        inspect_path(tmp_path / "nothing.nc")


def test_a_reader_adds_its_own_detector(tmp_path, monkeypatch):
    monkeypatch.setattr(inspect, "DETECTORS", list(inspect.DETECTORS))
    inspect.register("greeting-text", lambda p: p.read_bytes().startswith(b"hello"),
                     lambda p: {"variables": {}, "time_start": None, "time_end": None})
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    assert inspect_path(path) == {"format": "greeting-text", "variables": {}, "time_start": None, "time_end": None}
    assert inspect_path(ERA5 / "ERA5_2020-01-01_sp.nc")["format"] == "era5-netcdf"
    with pytest.raises(ValueError, match="already registered"):
        inspect.register("greeting-text", lambda p: False, lambda p: {})


# ---------------------------------------------------------------------------
# Observation files
# ---------------------------------------------------------------------------

SMAP_GRANULE = REAL_DATA / "smap_spl2smp" / "SMAP_L2_SM_P_02801_A_20150811T013002_R18290_001.h5"
CGLS_PROXY = REAL_DATA / "cgls_proxy_not_lai300" / "c_gls_SSM1km_201706010000_CEURO_S1CSAR_V1.1.1.nc"


def test_real_smap_granule():
    import h5py

    result = inspect_path(SMAP_GRANULE)
    json.dumps(result, allow_nan=False)
    with h5py.File(SMAP_GRANULE) as f:
        g = f["Soil_Moisture_Retrieval_Data"]
        sm, flag = g["soil_moisture"][...].astype(np.float64), g["retrieval_qual_flag"][...]
        t = g["tb_time_seconds"][...]
    retrieved = sm != -9999.0
    # the reader's valid range: the dataset's valid_min..valid_max (float32 0.02..0.5 in v8)
    accepted = retrieved & (sm >= np.float32(0.02)) & (sm <= np.float32(0.5))
    recommended = accepted & ((flag & 1) == 0)
    assert result["format"] == "smap-spl2smp" and result["direction"] == "A" and result["orbit"] == 2801
    assert result["crid"] == "R18290" and result["cells"] == 17251
    assert result["variables"]["ssm"]["valid_range"] == [0.02, 0.5]
    assert result["variables"]["ssm"]["retrieved"] == 1333 and result["variables"]["ssm"]["rejected"] == 181
    for name, which, count in (("ssm", accepted, 1152), ("ssm_recommended", recommended, 592),
                               ("ssm_rejected", retrieved & ~accepted, 181)):
        want = stats(sm[which], "m3 m-3")
        got = result["variables"][name]
        assert got["count"] == want["count"] == count and got["units"] == "m3 m-3"
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-12)
    noon_2000 = dt.datetime(2000, 1, 1, 12, tzinfo=dt.timezone.utc)
    first, last = (noon_2000 + dt.timedelta(seconds=round(float(v))) for v in (t.min(), t.max()))
    assert result["time_start"] == first.strftime("%Y-%m-%dT%H:%M:%SZ") == "2015-08-11T01:31:20Z"
    assert result["time_end"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_inspect_counts_what_the_smap_reader_accepts():
    """A reader at the centre of every 36 km cell of the real granule accepts (``valid``) exactly the
    retrievals inspect counts in ``ssm``, and finds usable those of ``ssm_recommended``; the 181
    retrievals above the file's valid_max of 0.5 are in ``ssm_rejected``, not in ``ssm``."""
    import h5py

    from mpilda.obs import ease, smap

    with h5py.File(SMAP_GRANULE) as f:
        g = f["Soil_Moisture_Retrieval_Data"]
        rows, cols = g["EASE_row_index"][...], g["EASE_column_index"][...]
    lat, lon = ease.latlon("M36", rows, cols)
    obs = smap.SmapReader(lat, lon).read(SMAP_GRANULE)
    assert obs.cell.size == rows.size                     # one entry per granule cell
    result = inspect_path(SMAP_GRANULE)["variables"]
    assert result["ssm"]["count"] == int(obs.valid.sum()) == 1152
    assert result["ssm_recommended"]["count"] == int(obs.usable.sum()) == 592
    assert result["ssm"]["max"] == pytest.approx(float(np.max(obs.value[obs.valid])), rel=0, abs=0)
    assert result["ssm"]["mean"] == pytest.approx(float(np.mean(obs.value[obs.valid])), rel=1e-12)
    assert result["ssm_rejected"]["count"] == int((np.isfinite(obs.value) & ~obs.valid).sum()) == 181
    assert result["ssm_rejected"]["min"] > 0.5


def test_inspect_text_names_the_valid_range_and_the_rejected(tmp_path):
    """The plain-text output of ``mpilda inspect`` shows the reader's valid range and the rejected count."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "mpilda", "inspect", str(SMAP_GRANULE)], capture_output=True,
                         text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    line = next(ln for ln in out.stdout.splitlines() if ln.split()[:1] == ["ssm"])
    assert "n=1152" in line and "valid_range=[0.02, 0.5]" in line and "rejected=181" in line


def test_real_cgls_proxy():
    result = inspect_path(CGLS_PROXY)
    json.dumps(result, allow_nan=False)
    assert result["format"] == "cgls-netcdf"
    assert result["time_start"] == result["time_end"] == "2017-06-01T00:00:00Z"
    assert result["grid"]["latitude_descending"] is True and result["grid"]["shape"] == [448, 448]
    assert set(result["variables"]) == {"ssm", "ssm_noise"}
    for name in ("ssm", "ssm_noise"):
        want = stats(nc(CGLS_PROXY, name), "%")           # netCDF4's own unpacking and valid_range masking
        got = result["variables"][name]
        assert got["units"] == "%" and got["count"] == want["count"]
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-12)


def test_written_lai_file(tmp_path):
    from mpilda.obs import cgls

    lat = 46.0 - (np.arange(112) + 0.5) / 112
    lon = 5.0 + (np.arange(224) + 0.5) / 112
    rng = np.random.default_rng(5)
    lai = rng.uniform(0, 6, (112, 224))
    lai[:5] = np.nan
    lai[5:8] = 7.5                                               # DN 225, outside valid_range
    qflag = np.where(rng.random(lai.shape) < 0.2, cgls.QFLAG_BITS["sea"], 0).astype(np.uint8)
    qflag[10:12] |= cgls.QFLAG_BITS["snow"]                      # informative only
    date = dt.date(2019, 5, 20)
    path = cgls.write_lai_file(tmp_path / cgls.lai_file_name(date), date, lat, lon, lai, qflag)
    result = inspect_path(path)
    json.dumps(result, allow_nan=False)
    assert result["format"] == "cgls-lai300"
    assert result["time_start"] == result["time_end"] == "2019-05-20T00:00:00Z"
    dn = np.where(np.isfinite(lai), np.round(np.nan_to_num(lai) * 30), 255)
    present = dn != 255
    usable = present & (dn <= 210) & (qflag & 1 == 0)
    for name, which in (("lai", present), ("lai_valid", usable)):
        want = stats(dn[which] / 30, "m2 m-2")
        got = result["variables"][name]
        assert got["count"] == want["count"] and got["units"] == "m2 m-2"
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-12)
    assert result["variables"]["lai_valid"]["excluded_flags"] == ["filled", "lai_invalid", "lai_out_of_range",
                                                                  "no_observation", "sea"]


def test_written_vod_file(tmp_path):
    from mpilda.obs import ease, vod

    rng = np.random.default_rng(6)
    values = rng.uniform(0, 1.2, (60, 100))
    values[:3] = np.nan
    values[3, :10] = 3.3
    qa = (rng.random(values.shape) < 0.3).astype(np.uint8)
    path, _ = vod.write_vod_file(tmp_path, dt.date(2016, 2, 29), "D", values, qa, row0=50, col0=700)
    result = inspect_path(path)
    json.dumps(result, allow_nan=False)
    assert result["format"] == "lpdr-vod-geotiff" and result["grid"] == "ease2" and result["direction"] == "D"
    stored = values.astype(np.float32).astype(np.float64)
    present = np.isfinite(stored)
    for name, which in (("vod", present), ("vod_valid", present & (stored <= 3) & (qa == 0))):
        want = stats(stored[which], "1")
        got = result["variables"][name]
        assert got["count"] == want["count"]
        for key in ("mean", "min", "max"):
            assert got[key] == pytest.approx(want[key], rel=1e-12)
    # 01:30 local solar time of 2016-02-29 (day 060) at the westernmost and easternmost columns
    _, lon = ease.latlon("M25", [0, 0], [700, 799])
    day = dt.datetime(2016, 2, 29, tzinfo=dt.timezone.utc)
    first, last = (day + dt.timedelta(seconds=round((1.5 - x / 15) * 3600)) for x in (lon[1], lon[0]))
    assert result["time_start"] == first.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert result["time_end"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------
# A member of a zip archive, as the ISMN reader reads it
# ---------------------------------------------------------------------------

ISMN = REAL_DATA / "ismn"
ISMN_MEMBERS = {  # member path inside the test's archive -> the real sample file
    "SCAN/Kainaliu/SCAN_SCAN_Kainaliu_sm_0.050800_0.050800_Hydraprobe-Analog-E_19500101_20250617.stm":
        ISMN / "ISMN_V20250617" / "SCAN" / "Kainaliu" /
        "SCAN_SCAN_Kainaliu_sm_0.050800_0.050800_Hydraprobe-Analog-E_19500101_20250617.stm",
    "COSMOS/ARM-1/COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm":
        ISMN / "tuw_ismn_tests" / "Data_seperate_files_header_20170810_20180809" / "COSMOS" / "ARM-1" /
        "COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm",
}


@pytest.fixture
def ismn_zip(tmp_path):
    """A deflated zip archive of real ISMN files in their Network/Station folders."""
    import zipfile

    path = tmp_path / "ISMN_download.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member, source in ISMN_MEMBERS.items():
            zf.write(source, member)
    return path


@pytest.mark.parametrize("member", sorted(ISMN_MEMBERS))
def test_inspect_reads_a_member_inside_an_ismn_zip_archive_as_the_reader_does(ismn_zip, member):
    from mpilda.evaluation import ismn

    inside = ismn_zip / member
    got = inspect_path(inside)
    json.dumps(got, allow_nan=False)
    want = inspect_path(ISMN_MEMBERS[member])
    assert got["format"] == "ismn" and got["path"] == str(inside)
    assert {k: v for k, v in got.items() if k != "path"} == {k: v for k, v in want.items() if k != "path"}
    station = ismn.read_ismn_file(inside)                   # the reader takes the same path
    assert got["records"] == station.times.size
    assert got["variables"]["soil_moisture"]["count"] == int(ismn.accepted(station.flags).sum())


def test_inspect_of_a_missing_member_says_no_such_file(ismn_zip):
    with pytest.raises(InputError, match="no such file"):
        inspect_path(ismn_zip / "SCAN" / "Nowhere" / "SCAN_SCAN_Nowhere_sm_0.050000_0.050000_X_20200101_20200102.stm")
    assert inspect_path(ismn_zip)["format"] == "ismn-zip"           # the archive itself, as before
