"""SPL2SMP v8 granules: the real granule against an independent h5py read, the writer, file finding."""

import datetime as dt
import shutil

import h5py
import numpy as np
import pytest

from mpilda.errors import InputError
from mpilda.obs import ease, smap
from mpilda.obs.records import CellObservations

from .conftest import REAL_DATA

UTC = dt.timezone.utc
GRANULE = REAL_DATA / "smap_spl2smp" / "SMAP_L2_SM_P_02801_A_20150811T013002_R18290_001.h5"
GROUP = "Soil_Moisture_Retrieval_Data"
#: tb_time_seconds counts from noon of 2000-01-01 UTC, without leap seconds (data-formats.md s.1).
EPOCH_2000 = int((dt.datetime(2000, 1, 1, 12, tzinfo=UTC) - dt.datetime(1970, 1, 1, tzinfo=UTC)).total_seconds())


def independent(path=GRANULE):
    """The granule's datasets read with plain h5py, fills applied by hand."""
    with h5py.File(path) as f:
        g = f[GROUP]
        d = {n: g[n][...] for n in ("soil_moisture", "retrieval_qual_flag", "surface_flag", "tb_time_seconds",
                                    "tb_time_utc", "EASE_row_index", "EASE_column_index")}
    d["sm"] = np.where(d["soil_moisture"] == -9999.0, np.nan, d["soil_moisture"].astype(np.float64))
    d["recommended"] = (d["retrieval_qual_flag"] != 65534) & (d["retrieval_qual_flag"] % 2 == 0)
    d["time"] = np.round(d["tb_time_seconds"]).astype(np.int64) + EPOCH_2000
    return d


def one_cell_per_ease_cell(rows, cols):
    """Model cells at the centres of the given M36 cells."""
    return ease.latlon("M36", rows, cols)


def test_real_granule_counts_means_and_times():
    d = independent()
    lat, lon = one_cell_per_ease_cell(d["EASE_row_index"], d["EASE_column_index"])
    obs = smap.SmapReader(lat, lon).read(GRANULE)
    assert len(obs) == 17251
    order = np.argsort(obs.cell)
    assert np.array_equal(obs.cell[order], np.arange(17251))
    value, quality, time = obs.value[order], obs.quality[order], obs.time[order]
    # 1333 retrievals, 592 of them recommended (tests/data/real/README.md)
    assert np.isfinite(value).sum() == 1333
    assert (quality & np.isfinite(value)).sum() == 592 and quality.sum() == 592
    assert np.array_equal(np.isnan(value), np.isnan(d["sm"]))
    finite = np.isfinite(value)
    assert np.array_equal(value[finite], d["sm"][finite])
    assert np.array_equal(quality, d["recommended"])
    rec = d["sm"][d["recommended"]]
    assert value[quality].mean() == pytest.approx(rec.mean(), rel=1e-12)
    assert value[quality].min() == pytest.approx(0.0628, abs=1e-4) and value[quality].max() == pytest.approx(0.368,
                                                                                                             abs=1e-3)
    assert np.nanmean(value) == pytest.approx(np.nanmean(d["sm"]), rel=1e-12)
    assert np.nanmax(value) == pytest.approx(0.73076, abs=1e-5)         # above valid_max: kept, not valid
    # valid = finite and within the attributes' valid_min..valid_max (0.02..0.5)
    assert np.array_equal(obs.valid[order], finite & (d["sm"] >= 0.02) & (d["sm"] <= 0.5))
    assert obs.valid.sum() == 1333 - 181
    assert np.array_equal(time, d["time"])
    # the times reproduce every tb_time_utc string that is not corrupt, to the second
    text = [s.decode() for s in d["tb_time_utc"]]
    good = np.array(["*" not in s for s in text])
    assert (~good).sum() == 10
    parsed = np.array([int(dt.datetime.strptime(s[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
                       + round(float(s[19:-1] or 0)) for s, ok in zip(text, good) if ok])
    assert np.max(np.abs(time[good] - parsed)) <= 1
    assert time.min() == int(dt.datetime(2015, 8, 11, 1, 31, 20, tzinfo=UTC).timestamp())
    assert set(obs.extra["direction"].tolist()) == {"A"}
    assert np.array_equal(obs.extra["surface_flag"][order], d["surface_flag"])
    assert np.array_equal(obs.extra["retrieval_qual_flag"][order], d["retrieval_qual_flag"])


def test_a_36km_cell_serves_several_quarter_degree_cells():
    d = independent()
    # a 0.25 degree grid over western North America, where this ascending half-orbit passed
    lat, lon = np.meshgrid(np.arange(30.125, 50.0, 0.25), np.arange(-124.875, -100.0, 0.25), indexing="ij")
    lat, lon = lat.ravel(), lon.ravel()
    obs = smap.SmapReader(lat, lon).read(GRANULE)
    row, col = ease.rowcol("M36", lat, lon)
    entry = {(int(r), int(c)): i for i, (r, c) in enumerate(zip(d["EASE_row_index"], d["EASE_column_index"]))}
    expected = [k for k in range(lat.size) if (row[k], col[k]) in entry]
    assert len(expected) > 500
    assert sorted(obs.cell.tolist()) == expected                 # each model cell once, only those in the granule
    granule_index = np.array([entry[(row[k], col[k])] for k in obs.cell])
    assert np.array_equal(obs.value, d["sm"][granule_index], equal_nan=True)
    assert np.array_equal(obs.time, d["time"][granule_index])
    assert np.array_equal(obs.quality, d["recommended"][granule_index])
    assert np.isfinite(obs.value).sum() > 100
    # several model cells share one EASE cell
    assert np.max(np.bincount(granule_index)) >= 4
    # cells the half-orbit did not see (Europe) get nothing
    assert len(smap.SmapReader([48.125], [10.125]).read(GRANULE)) == 0


def test_granule_name():
    start = dt.datetime(2015, 8, 11, 1, 30, 2, tzinfo=UTC)
    assert smap.granule_name(2801, "A", start) == GRANULE.name
    assert smap.parse_name(GRANULE) == (2801, "A", int(start.timestamp()))
    assert smap.granule_name(12, "D", start, crid="R19240", counter=2) == \
        "SMAP_L2_SM_P_00012_D_20150811T013002_R19240_002.h5"
    with pytest.raises(ValueError, match="direction"):
        smap.granule_name(1, "X", start)


def synthetic_granule(tmp_path, direction="D", start=dt.datetime(2016, 5, 3, 5, 0, tzinfo=UTC), orbit=1234,
                      seed=0):
    """A written granule over Europe with every case: fills, flags, out-of-range values, a filled time."""
    rng = np.random.default_rng(seed)
    rows, cols = np.meshgrid(np.arange(40, 90), np.arange(470, 540), indexing="ij")
    rows, cols = rows.ravel(), cols.ravel()
    n = rows.size
    sm = rng.uniform(0.0, 0.65, n)
    sm[rng.random(n) < 0.2] = np.nan
    qflag = rng.choice(np.array([0, 1, 5, 8, 15, 65534], np.uint16), n)
    surface = rng.integers(0, 4096, n).astype(np.uint16)
    t0 = start.timestamp()
    time = t0 + np.sort(rng.uniform(0, 2900, n))
    time[7] = np.nan
    name = smap.granule_name(orbit, direction, start)
    path = smap.write_smap_granule(tmp_path / name, orbit=orbit, direction=direction, row=rows, col=cols,
                                   soil_moisture=sm, retrieval_qual_flag=qflag, time=time, surface_flag=surface)
    return path, dict(rows=rows, cols=cols, sm=sm, qflag=qflag, surface=surface, time=time, start=int(t0))


def test_writer_reader_round_trip(tmp_path):
    path, w = synthetic_granule(tmp_path)
    lat, lon = ease.latlon("M36", w["rows"], w["cols"])
    obs = smap.SmapReader(lat, lon).read(path)
    order = np.argsort(obs.cell)
    assert np.array_equal(obs.cell[order], np.arange(w["rows"].size))
    value = obs.value[order]
    assert np.allclose(value, w["sm"].astype(np.float32), equal_nan=True, rtol=0, atol=0)
    assert np.array_equal(obs.quality[order], (w["qflag"] != 65534) & (w["qflag"] % 2 == 0))
    expected_time = np.where(np.isnan(w["time"]), w["start"], np.round(np.nan_to_num(w["time"]))).astype(np.int64)
    assert np.array_equal(obs.time[order], expected_time)
    finite = np.isfinite(w["sm"])
    sm32 = w["sm"].astype(np.float32)
    want_valid = finite & (sm32 >= np.float32(0.02)) & (sm32 <= np.float32(0.5))
    want_valid[7] = False                                          # the entry without a time
    assert np.array_equal(obs.valid[order], want_valid)
    assert np.array_equal(obs.extra["surface_flag"][order], w["surface"])
    assert set(obs.extra["direction"].tolist()) == {"D"}


def test_written_layout_matches_the_real_granule(tmp_path):
    path, _ = synthetic_granule(tmp_path)
    names = ("soil_moisture", "retrieval_qual_flag", "surface_flag", "tb_time_seconds", "tb_time_utc",
             "EASE_row_index", "EASE_column_index", "latitude", "longitude", "grid_surface_status")
    with h5py.File(GRANULE) as real, h5py.File(path) as ours:
        for name in names:
            a, b = real[GROUP][name], ours[GROUP][name]
            assert a.dtype == b.dtype and a.ndim == b.ndim == 1, name
            assert set(a.attrs) == set(b.attrs), name
            for key in a.attrs:
                assert a.attrs[key] == b.attrs[key], (name, key)
                assert a.attrs.get_id(key).dtype.kind == b.attrs.get_id(key).dtype.kind, (name, key)
        for group, attr in (("OrbitMeasuredLocation", "orbitDirection"), ("Extent", "rangeBeginningDateTime"),
                            ("Extent", "rangeEndingDateTime"), ("DatasetIdentification", "CompositeReleaseID")):
            assert attr in ours[f"Metadata/{group}"].attrs
        assert ours["Metadata/OrbitMeasuredLocation"].attrs["orbitDirection"] == "Descending"
        assert ours["Metadata/DatasetIdentification"].attrs["CompositeReleaseID"] == "R18290"
        assert ours["Metadata/Extent"].attrs["rangeBeginningDateTime"].startswith("2016-05-03T05:")
        utc = [s.decode() for s in ours[GROUP]["tb_time_utc"][:3]]
        secs = ours[GROUP]["tb_time_seconds"][:3]
    for text, s in zip(utc, secs):
        moment = dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert moment.timestamp() - EPOCH_2000 == pytest.approx(s, abs=1e-3)


def test_direction_cross_check(tmp_path):
    path, _ = synthetic_granule(tmp_path, direction="A")
    wrong = path.with_name(path.name.replace("_A_", "_D_"))
    path.rename(wrong)
    with pytest.raises(InputError, match=r"_D_.*says direction D but .*orbitDirection is 'Ascending'"):
        smap.SmapReader([50.0], [10.0]).read(wrong)
    # without a standard name, the metadata gives the direction
    plain = wrong.with_name("granule.h5")
    wrong.rename(plain)
    lat, lon = ease.latlon("M36", 50, 500)
    obs = smap.SmapReader([lat], [lon]).read(plain)
    assert obs.extra["direction"].tolist() == ["A"]


def test_not_a_granule(tmp_path):
    text = tmp_path / "SMAP_L2_SM_P_00001_A_20150101T000000_R18290_001.h5"
    text.write_text("not hdf5")
    with pytest.raises(InputError, match="not a readable HDF5 file"):
        smap.SmapReader([0.0], [0.0]).read(text)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f.create_dataset("x", data=[1])
    with pytest.raises(InputError, match=r"other\.h5: no dataset /Soil_Moisture_Retrieval_Data/EASE_row_index"):
        smap.SmapReader([0.0], [0.0]).read(other)


def test_find_granules_by_retrieval_time(tmp_path):
    shutil.copy(GRANULE, tmp_path / GRANULE.name)                 # 2015-08-11 01:31:20 .. 02:24:28
    day = dt.datetime(2015, 8, 11, tzinfo=UTC)
    # starts before the period but has retrievals inside it
    synthetic_granule(tmp_path, "D", day - dt.timedelta(minutes=20), orbit=1)
    # starts before the period, all retrievals before it (written times end 2900 s after the start)
    synthetic_granule(tmp_path, "D", day - dt.timedelta(minutes=49), orbit=2)
    synthetic_granule(tmp_path, "A", day + dt.timedelta(hours=12), orbit=3)
    synthetic_granule(tmp_path, "A", day + dt.timedelta(hours=23, minutes=50), orbit=4)   # starts inside
    synthetic_granule(tmp_path, "A", day + dt.timedelta(days=1), orbit=5)                 # the next day
    (tmp_path / "notes.txt").write_text("x")
    found = smap.find_smap_granules(tmp_path, day, day + dt.timedelta(days=1))
    assert [smap.parse_name(p)[0] for p in found] == [1, 3, 4, 2801]
    obs = smap.SmapReader(*ease.latlon("M36", 60, 500)).read(found[0])
    assert len(obs.between(day, day + dt.timedelta(days=1))) <= len(obs)
    assert smap.find_smap_granules(tmp_path, day + dt.timedelta(hours=3), day + dt.timedelta(hours=4)) == []
    with pytest.raises(InputError, match="no such directory"):
        smap.find_smap_granules(tmp_path / "missing", day, day)


def test_cell_observations_helpers():
    obs = CellObservations([0, 1, 2], [10, 20, 30], [0.1, np.nan, 0.3], [True, False, True], [True, False, False],
                           {"direction": np.array(["A", "A", "D"])})
    assert len(obs.between(15, 31)) == 2 and obs.usable.tolist() == [True, False, False]
    both = CellObservations.concatenate([obs, obs.select([2])])
    assert both.cell.tolist() == [0, 1, 2, 2] and both.extra["direction"].tolist() == ["A", "A", "D", "D"]
    with pytest.raises(ValueError, match="time has shape"):
        CellObservations([0], [1, 2], [0.0], [True], [True])
