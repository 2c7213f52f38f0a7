"""LPDR v3 VOD GeoTIFFs: geokeys, windows, band layouts, fill/range/QA handling, file finding."""

import datetime as dt

import numpy as np
import pytest
import tifffile

from mpilda.errors import InputError
from mpilda.obs import ease, vod
from mpilda.obs.records import as_seconds

UTC = dt.timezone.utc
DATE = dt.date(2015, 8, 11)                 # day 223
G = ease.GRIDS["M25"]


def paper_cells():
    lat, lon = np.meshgrid(np.arange(29.875, 71.7, 0.25), np.arange(-11.375, 40.2, 0.25), indexing="ij")
    return lat.ravel(), lon.ravel()


def random_vod(shape, seed=0):
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 1.5, shape)
    values[rng.random(shape) < 0.05] = np.nan                    # written as -999
    values[rng.random(shape) < 0.02] = 3.4                       # outside 0..3
    values[rng.random(shape) < 0.02] = -0.2
    qa = np.where(rng.random(shape) < 0.1, rng.integers(1, 8, shape), 0).astype(np.uint8)
    return values, qa


def test_round_trip_full_grid_with_geokeys(tmp_path):
    values, qa = random_vod((G.nrow, G.ncol))
    path, qa_path = vod.write_vod_file(tmp_path, DATE, "D", values, qa)
    assert path.name == "AMSRU_Mland_2015223D.tif" and qa_path.name == "AMSRU_Mland_2015223D_QA.tif"
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        tags = page.geotiff_tags                                   # tifffile's own geokey parsing
        assert page.shape == (7, G.nrow, G.ncol) and page.dtype == np.float32
        stored = page.asarray()
    assert int(tags["ProjectedCSTypeGeoKey"]) == 6933 and int(tags["GTModelTypeGeoKey"]) == 1
    assert int(tags["GTRasterTypeGeoKey"]) == 1
    assert list(tags["ModelPixelScale"][:2]) == [G.cell, G.cell]
    assert list(tags["ModelTiepoint"][3:5]) == [G.x0, G.y0]
    assert np.all(stored[[0, 1, 2, 3, 5, 6]] == -999.0) and np.all(stored[4][np.isnan(values)] == -999.0)

    lat, lon = paper_cells()
    obs = vod.VodReader(lat, lon).read(path)
    assert obs.cell.tolist() == list(range(lat.size))
    row, col = ease.rowcol("M25", lat, lon)
    want = values[row, col].astype(np.float32).astype(np.float64)
    assert np.array_equal(obs.value, want, equal_nan=True)
    assert np.array_equal(obs.valid, np.isfinite(want) & (want >= 0) & (want <= 3))
    assert np.array_equal(obs.quality, qa[row, col] == 0) and np.array_equal(obs.extra["qa"], qa[row, col])
    # 01:30 local solar time -> UTC per cell, on the file's date
    assert np.array_equal(obs.time, as_seconds(DATE) + np.round((1.5 - lon / 15.0) * 3600).astype(np.int64))
    assert set(obs.extra["direction"].tolist()) == {"D"}


def test_window_with_tiepoint(tmp_path):
    values, qa = random_vod((90, 170), seed=1)
    row0, col0 = 40, 650
    path, _ = vod.write_vod_file(tmp_path / vod.vod_file_name(DATE, "A"), DATE, "A", values, qa, row0=row0, col0=col0)
    with tifffile.TiffFile(path) as tif:
        tie = tif.pages.first.geotiff_tags["ModelTiepoint"]
    assert tie[3] == pytest.approx(G.x0 + col0 * G.cell) and tie[4] == pytest.approx(G.y0 - row0 * G.cell)
    lat, lon = paper_cells()
    obs = vod.VodReader(lat, lon).read(path)
    row, col = ease.rowcol("M25", lat, lon)
    inside = (row >= row0) & (row < row0 + 90) & (col >= col0) & (col < col0 + 170)
    assert obs.cell.tolist() == np.flatnonzero(inside).tolist() and 0 < inside.sum() < lat.size
    assert np.array_equal(obs.value, values[row[inside] - row0, col[inside] - col0].astype(np.float32),
                          equal_nan=True)
    # the ascending overpass: 13:30 local solar time
    assert np.array_equal(obs.time, as_seconds(DATE) + np.round((13.5 - lon[inside] / 15) * 3600).astype(np.int64))


def test_only_the_window_is_decoded(tmp_path, monkeypatch):
    values, qa = random_vod((G.nrow, G.ncol), seed=2)
    path, _ = vod.write_vod_file(tmp_path, DATE, "D", values, qa)
    decoded = []
    original = tifffile.TiffPage.decode

    class Spy:
        def __get__(self, page, owner):
            inner = original.__get__(page, owner)

            def decode(data, index, **kwargs):
                decoded.append(index)
                return inner(data, index, **kwargs)
            return decode

    monkeypatch.setattr(tifffile.TiffPage, "decode", Spy())
    lat, lon = paper_cells()
    vod.VodReader(lat, lon).read(path)
    with tifffile.TiffFile(path) as tif:
        per_band = len(tif.pages.first.dataoffsets) // 7
    assert decoded and len(decoded) < 0.15 * per_band * 2          # a few strips of band 5 of both files


@pytest.mark.parametrize("layout", ["contig-tiled", "pages", "planar-tiled"])
def test_band_layouts(tmp_path, layout):
    values, _ = random_vod((120, 200), seed=3)
    stack = np.full((7, 120, 200), -999.0, np.float32)
    stack[4] = np.where(np.isfinite(values), values, -999.0)
    ref = vod.Georef("ease2", row0=30, col0=640)
    path = tmp_path / vod.vod_file_name(DATE, "D")
    tags = vod._geotiff_tags(ref, -999.0)
    if layout == "contig-tiled":
        tifffile.imwrite(path, np.moveaxis(stack, 0, -1), photometric="minisblack", planarconfig="contig",
                         tile=(32, 48), compression="zlib", metadata=None, extratags=tags)
    elif layout == "planar-tiled":
        tifffile.imwrite(path, stack, photometric="minisblack", planarconfig="separate", tile=(32, 48),
                         metadata=None, extratags=tags)
    else:
        with tifffile.TiffWriter(path) as tw:
            for k in range(7):
                tw.write(stack[k], photometric="minisblack", metadata=None, extratags=tags if k == 0 else None)
    lat, lon = paper_cells()
    obs = vod.VodReader(lat, lon).read(path, require_qa=False)
    row, col = ease.rowcol("M25", lat, lon)
    assert len(obs) > 0
    assert np.array_equal(obs.value, values[row[obs.cell] - 30, col[obs.cell] - 640].astype(np.float32),
                          equal_nan=True)
    assert np.array_equal(obs.quality, obs.valid) and np.all(obs.extra["qa"] == -1)


def test_geographic_latlon_geotiff(tmp_path):
    # a 0.25 degree lat/lon raster over Europe (as one third-party loader assumed NTSG files to be)
    north, west, step = 72.0, -12.0, 0.25
    values = np.add.outer(np.arange(170) * 0.001, np.arange(220) * 0.002).astype(np.float32)
    ref = vod.Georef("latlon", west=west, north=north, dlon=step, dlat=step)
    stack = np.full((7,) + values.shape, -999.0, np.float32)
    stack[4] = values
    path = vod.write_geotiff(tmp_path / vod.vod_file_name(DATE, "D"), stack, ref, -999.0)
    vod.write_geotiff(vod.qa_file_name(path), np.zeros(values.shape, np.uint8), ref, 255)
    with tifffile.TiffFile(path) as tif:
        assert int(tif.pages.first.geotiff_tags["GTModelTypeGeoKey"]) == 2
    lat, lon = paper_cells()
    obs = vod.VodReader(lat, lon).read(path)
    i = np.floor((north - lat) / step).astype(int)
    j = np.floor((lon - west) / step).astype(int)
    assert obs.cell.tolist() == list(range(lat.size))
    assert np.array_equal(obs.value, values[i, j].astype(np.float64))
    assert obs.quality.all()


def test_fill_range_and_qa_semantics(tmp_path):
    lat, lon = np.array([45.0, 45.0, 45.0, 45.0, 45.0]), np.array([0.0, 2.0, 4.0, 6.0, 8.0])
    row, col = ease.rowcol("M25", lat, lon)
    values = np.full((G.nrow, G.ncol), 0.5)
    qa = np.zeros((G.nrow, G.ncol), np.uint8)
    values[row[0], col[0]] = np.nan          # fill -999
    values[row[1], col[1]] = 3.2             # above the valid range: kept, not valid
    values[row[2], col[2]] = -0.1            # below it
    values[row[3], col[3]] = 3.0             # the edge of the range is valid
    qa[row[4], col[4]] = 4                   # flagged by the QA companion
    path, _ = vod.write_vod_file(tmp_path, DATE, "D", values, qa)
    obs = vod.VodReader(lat, lon).read(path)
    assert np.isnan(obs.value[0]) and obs.value[1:4].tolist() == pytest.approx([3.2, -0.1, 3.0])
    assert obs.valid.tolist() == [False, False, False, True, True]
    assert obs.quality.tolist() == [True, True, True, True, False]
    assert obs.usable.tolist() == [False, False, False, True, False]


def test_missing_qa_and_bad_files(tmp_path):
    values, qa = random_vod((G.nrow, G.ncol), seed=4)
    path, qa_path = vod.write_vod_file(tmp_path, DATE, "D", values, qa)
    other = qa_path.with_name("AMSRU_Mland_2015223D.QA.tif")
    qa_path.rename(other)
    assert vod.find_qa(path) == other
    other.unlink()
    reader = vod.VodReader(*paper_cells())
    with pytest.raises(InputError, match=r"AMSRU_Mland_2015223D\.tif: no QA companion"):
        reader.read(path)
    assert len(reader.read(path, require_qa=False)) > 0
    renamed = path.with_name("vod.tif")
    path.rename(renamed)
    with pytest.raises(InputError, match="not an LPDR VOD file name"):
        reader.read(renamed)
    # a Web Mercator raster is refused: the geokeys are read, not assumed
    wrong = tmp_path / vod.vod_file_name(dt.date(2015, 8, 12), "D")
    tags = vod._geotiff_tags(vod.Georef("ease2"), -999.0)
    tags[2] = (34735, "H", 16, [1, 1, 0, 3, 1024, 0, 1, 1, 1025, 0, 1, 1, 3072, 0, 1, 3857], True)
    tifffile.imwrite(wrong, np.zeros((7, 4, 4), np.float32), photometric="minisblack", planarconfig="separate",
                     metadata=None, extratags=tags)
    with pytest.raises(InputError, match="projected CRS 3857; expected EASE-Grid 2.0"):
        reader.read(wrong, require_qa=False)
    junk = tmp_path / vod.vod_file_name(dt.date(2015, 8, 13), "D")
    junk.write_text("x")
    with pytest.raises(InputError, match="not a readable TIFF"):
        reader.read(junk, require_qa=False)


def test_find_vod_files(tmp_path):
    for day in (10, 11, 12, 13):
        date = dt.date(2015, 8, day)
        for direction in "AD":
            (tmp_path / vod.vod_file_name(date, direction)).write_bytes(b"")
            (tmp_path / vod.qa_file_name(vod.vod_file_name(date, direction))).write_bytes(b"")
    found = vod.find_vod_files(tmp_path, dt.datetime(2015, 8, 11, tzinfo=UTC), dt.datetime(2015, 8, 13, tzinfo=UTC))
    assert [p.name for p in found] == ["AMSRU_Mland_2015223D.tif", "AMSRU_Mland_2015224D.tif"]
    ascending = vod.find_vod_files(tmp_path, dt.datetime(2015, 8, 13, tzinfo=UTC),
                                   dt.datetime(2015, 8, 14, tzinfo=UTC), direction="A")
    assert [p.name for p in ascending] == ["AMSRU_Mland_2015225A.tif"]
    assert vod.parse_name("AMSRU_Mland_2016366D.tif") == (dt.date(2016, 12, 31), "D")
    assert vod.parse_name("AMSRU_Mland_2015366D.tif") is None
