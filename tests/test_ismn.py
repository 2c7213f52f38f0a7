"""ISMN station files: both layouts, line endings, zip archives, static metadata, daily means, inspect."""

import zipfile

import numpy as np
import pandas as pd
import pytest

from mpilda.errors import InputError
from mpilda.evaluation import ismn, register_detectors
from mpilda.evaluation.ismn import ZipMember
from mpilda.inspect import inspect_path

from .conftest import REAL_DATA

ISMN = REAL_DATA / "ismn"
KAINALIU = ISMN / "ISMN_V20250617" / "SCAN" / "Kainaliu"
KAINALIU_SM = KAINALIU / "SCAN_SCAN_Kainaliu_sm_0.050800_0.050800_Hydraprobe-Analog-E_19500101_20250617.stm"
KAINALIU_TS = KAINALIU / "SCAN_SCAN_Kainaliu_ts_0.508000_0.508000_Hydraprobe-Analog-C_19500101_20250617.stm"
TUW = ISMN / "tuw_ismn_tests"
ARM1_NAME = "COSMOS_COSMOS_ARM-1_sm_0.000000_0.190000_Cosmic-ray-Probe_20170810_20180809.stm"
ARM1 = TUW / "Data_seperate_files_header_20170810_20180809" / "COSMOS" / "ARM-1" / ARM1_NAME
NARBONNE = "SMOSMANIA_SMOSMANIA_Narbonne_sm_0.050000_0.050000_ThetaProbe-ML2X_20070101_20070131.stm"
HEADER = TUW / "format_header_values" / "SMOSMANIA" / NARBONNE
CEOP = TUW / "format_ceop_sep" / "SMOSMANIA" / NARBONNE
ZIP = TUW / "zip_archives" / "header" / "Data_seperate_files_header_20170810_20180809.zip"


def independent(path, skip_header=True, ceop=False):
    """An independent read: Python universal newlines, then pandas on whitespace."""
    with open(path, newline=None) as f:
        lines = [ln for ln in f.read().splitlines() if ln.strip()]
    if skip_header:
        lines = lines[1:]
    rows = [ln.split() for ln in lines]
    if ceop:
        rows = [[r[0], r[1], r[12], r[13], r[14]] for r in rows]
    df = pd.DataFrame([r[:5] for r in rows], columns=["date", "time", "value", "flag", "pflag"])
    df["t"] = pd.to_datetime(df.date + " " + df.time, format="%Y/%m/%d %H:%M")
    df["value"] = df.value.astype(float)
    return df


def test_header_values_2025_with_spaces_in_the_sensor():
    st = ismn.read_ismn_file(KAINALIU_SM)
    assert st.layout == "header_values"
    assert (st.cse, st.network, st.station) == ("SCAN", "SCAN", "Kainaliu")
    assert (st.lat, st.lon, st.elevation) == (19.53322, -155.92914, 411.0)
    assert (st.depth_from, st.depth_to, st.variable) == (0.0508, 0.0508, "sm")
    assert st.sensor == "Hydraprobe-Analog-E"                   # from the file name
    assert st.header_sensor == "Hydraprobe Analog_E"            # from the header, with its space
    ref = independent(KAINALIU_SM)
    np.testing.assert_array_equal(st.times, ref.t.to_numpy().astype("datetime64[s]"))
    np.testing.assert_array_equal(st.values, ref.value.to_numpy())
    np.testing.assert_array_equal(st.flags, ref.flag.to_numpy(dtype=str))
    assert st.times.size == 11 and st.times[0] == np.datetime64("2021-03-23T10:00:00")
    days, values, counts = ismn.daily_means(st)
    np.testing.assert_array_equal(days, [np.datetime64("2021-03-23")])
    assert values[0] == pytest.approx(0.228) and counts[0] == 11
    ts = ismn.read_ismn_file(KAINALIU_TS)
    assert ts.variable == "ts" and ts.variable_name == "soil_temperature" and ts.depth_from == 0.508


def test_header_values_2017_mixed_line_endings_and_daily_means():
    st = ismn.read_ismn_file(ARM1)
    ref = independent(ARM1)
    assert st.times.size == len(ref) == 6865
    assert (st.network, st.station, st.lat, st.lon, st.elevation) == ("COSMOS", "ARM-1", 36.6054, -97.4878, 322.0)
    assert (st.depth_from, st.depth_to) == (0.0, 0.19) and st.depth == pytest.approx(0.095)
    np.testing.assert_array_equal(st.values, ref.value.to_numpy())
    flags, counts = np.unique(st.flags, return_counts=True)
    assert dict(zip(flags, counts)) == {"G": 6514, "D03": 137, "D03,D05": 17, "D05": 196, "D08,D05": 1}
    # daily means of the G values against pandas
    good = ref[ref.flag == "G"]
    by_day = good.groupby(good.t.dt.floor("D")).value.agg(["mean", "count"])
    days, values, counts = ismn.daily_means(st)
    np.testing.assert_array_equal(days, by_day.index.to_numpy().astype("datetime64[D]"))
    np.testing.assert_allclose(values, by_day["mean"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(counts, by_day["count"].to_numpy())
    assert days.size == 333
    # a minimum count of hourly values per day
    d20, _, c20 = ismn.daily_means(st, min_count=20)
    assert d20.size == int((by_day["count"] >= 20).sum()) < days.size and c20.min() >= 20


def test_accepted_flags_are_configurable_and_comma_joined_flags_need_every_part():
    st = ismn.read_ismn_file(ARM1)
    ok = ismn.accepted(st.flags, ("G", "D03"))
    assert ok.sum() == 6514 + 137                 # "D03,D05" is not accepted: D05 is not
    ok = ismn.accepted(st.flags, ("G", "D03", "D05"))
    assert ok.sum() == 6514 + 137 + 17 + 196
    _, _, counts = ismn.daily_means(st, accepted_flags=("G", "D03", "D05", "D08"))
    assert counts.sum() == 6865


def test_ceop_and_header_layouts_give_the_same_values():
    h = ismn.read_ismn_file(HEADER)
    c = ismn.read_ismn_file(CEOP)
    assert (h.layout, c.layout) == ("header_values", "ceop_sep")
    for name in ("network", "station", "cse", "lat", "lon", "elevation", "depth_from", "depth_to", "sensor",
                 "variable"):
        assert getattr(h, name) == getattr(c, name), name
    assert (h.network, h.station, h.lat, h.lon, h.elevation) == ("SMOSMANIA", "Narbonne", 43.15, 2.9567, 112.0)
    np.testing.assert_array_equal(h.times, c.times)
    np.testing.assert_array_equal(h.values, c.values)
    np.testing.assert_array_equal(h.flags, c.flags)
    ref = independent(CEOP, skip_header=False, ceop=True)
    assert h.times.size == len(ref) == 741                           # CR-only line endings
    np.testing.assert_array_equal(c.values, ref.value.to_numpy())
    flags, counts = np.unique(c.flags, return_counts=True)
    assert dict(zip(flags, counts)) == {"U": 736, "D05": 5}
    # no value is 'G': no daily mean by default; 'U' (unchecked) only when asked
    assert ismn.daily_means(c)[0].size == 0
    dh, vh, nh = ismn.daily_means(h, accepted_flags=("U",))
    dc, vc, _ = ismn.daily_means(c, accepted_flags=("U",))
    np.testing.assert_array_equal(dh, dc)
    np.testing.assert_array_equal(vh, vc)
    assert dh.size == 31 and nh.sum() == 736


def test_zip_archive_read_in_place():
    files = ismn.find_ismn_files(ZIP)
    barrow = "COSMOS_COSMOS_Barrow-ARM_sm_0.000000_0.210000_Cosmic-ray-Probe_20170810_20180809.stm"
    assert [f.name for f in files] == [ARM1_NAME, barrow]
    assert all(isinstance(f, ZipMember) for f in files)
    in_zip = ismn.read_ismn_file(files[0])
    on_disk = ismn.read_ismn_file(ARM1)
    np.testing.assert_array_equal(in_zip.times, on_disk.times)
    np.testing.assert_array_equal(in_zip.values, on_disk.values)
    np.testing.assert_array_equal(in_zip.flags, on_disk.flags)
    assert in_zip.source.endswith(".zip/COSMOS/ARM-1/" + ARM1_NAME)
    # a path running through the archive works too
    via_path = ismn.read_ismn_file(ZIP / "COSMOS" / "Barrow-ARM" / files[1].name)
    assert (via_path.station, via_path.lat, via_path.depth_to) == ("Barrow-ARM", 71.3298, 0.21)
    with zipfile.ZipFile(ZIP) as zf:
        text = zf.read(files[1].member).decode().replace("\r\n", "\n").replace("\r", "\n")
    n_records = sum(1 for ln in text.split("\n")[1:] if ln.strip())
    assert via_path.times.size == n_records
    # the static metadata beside it, inside the zip
    meta = ismn.static_metadata_for(files[0])
    assert meta is not None and meta.landcover() == 130


def test_find_files_walks_folders_and_zips():
    files = ismn.find_ismn_files(ISMN)
    names = [str(f) for f in files]
    assert len(files) == 7                      # 5 .stm on disk + 2 in the zip
    assert sum(isinstance(f, ZipMember) for f in files) == 2
    assert str(ARM1) in names
    assert len(ismn.find_ismn_files(ISMN, variable="sm")) == 6
    assert [f.name for f in ismn.find_ismn_files(ISMN, variable="ts")] == [KAINALIU_TS.name]
    with pytest.raises(InputError):
        ismn.find_ismn_files(ISMN / "nowhere")


def test_static_metadata_csv():
    meta = ismn.read_static_metadata(KAINALIU / "SCAN_SCAN_Kainaliu_static_variables.csv")
    assert len(meta.rows) == 15
    assert meta.landcover() == 50
    assert meta.values("clay fraction") == [(0.0, 0.3, "20.00"), (0.3, 1.0, "22.00")]
    assert ismn.static_metadata_for(KAINALIU_SM).landcover() == 50
    arm = ismn.static_metadata_for(ARM1)
    assert arm.values("saturation")[0] == (0.0, 0.3, "0.46")


def test_station_names_with_spaces_and_bad_files(tmp_path):
    name = "NET_NET_Le-Pont_sm_0.100000_0.100000_5TM_20200101_20200102.stm"
    path = tmp_path / name
    path.write_text("NET        NET        Le Pont 2       45.00000     5.00000  100.00  0.1000  0.1000 Decagon 5TM\r\n"
                    "2020/01/01 00:00 0.3000 G M\r\n2020/01/01 01:00 0.3200 G provider says ok\r\n"
                    "2020/01/02 00:00 NaN M M\r\n")
    st = ismn.read_ismn_file(path)
    assert (st.station, st.lat, st.header_sensor) == ("Le Pont 2", 45.0, "Decagon 5TM")
    assert st.provider_flags[1] == "provider"
    days, values, _ = ismn.daily_means(st)
    assert days.tolist() == [np.datetime64("2020-01-01")] and values[0] == pytest.approx(0.31)
    with pytest.raises(InputError, match="not an ISMN data file name"):
        ismn.read_ismn_file(tmp_path / "foo.stm")
    bad = tmp_path / name.replace("Le-Pont", "Bad")
    bad.write_text("this is no header\n2020/01/01 00:00 0.3 G M\n")
    with pytest.raises(InputError, match="not an ISMN header"):
        ismn.read_ismn_file(bad)
    bad.write_text("NET NET S 45.0 5.0 100.0 0.1 0.1 X\n2020-01-01 00:00 0.3 G M\n")
    with pytest.raises(InputError, match="YYYY/MM/DD"):
        ismn.read_ismn_file(bad)
    empty = tmp_path / name.replace("Le-Pont", "Empty")
    empty.write_text("NET NET Empty 45.0 5.0 100.0 0.1 0.1 X\n")
    assert ismn.read_ismn_file(empty).times.size == 0


def test_inspect_ismn_files_and_archives():
    register_detectors()
    register_detectors()                          # idempotent
    out = inspect_path(KAINALIU_SM)
    assert out["format"] == "ismn"
    sm = out["variables"]["soil_moisture"]
    assert sm["units"] == "m3 m-3" and sm["count"] == 11 and sm["mean"] == pytest.approx(0.228)
    assert (out["time_start"], out["time_end"]) == ("2021-03-23T10:00:00Z", "2021-03-23T20:00:00Z")
    out = inspect_path(ARM1)
    ref = independent(ARM1)
    good = ref[ref.flag == "G"].value
    sm = out["variables"]["soil_moisture"]
    assert sm["count"] == good.size and sm["mean"] == pytest.approx(good.mean(), rel=1e-12)
    assert (sm["min"], sm["max"]) == (good.min(), good.max())
    assert out["time_start"] == "2017-08-10T00:00:00Z" and out["time_end"] == "2018-08-09T23:00:00Z"
    ts = inspect_path(KAINALIU_TS)["variables"]["soil_temperature"]
    assert ts["units"] == "K" and ts["mean"] == pytest.approx(3.7909090909 + 273.15)
    assert inspect_path(CEOP)["variables"]["soil_moisture"]["count"] == 0      # no 'G' value
    z = inspect_path(ZIP)
    assert z["format"] == "ismn-zip" and z["stations"] == 2 and z["files"] == 2
