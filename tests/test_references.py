"""Synthetic references (ISMN-like stations, FLUXNET DD towers, X-BASE files) read back by the readers."""

import zipfile

import numpy as np
import pandas as pd
import pytest

from mpilda.evaluation import fluxnet, ismn, metrics, register_detectors, synthetic, xbase
from mpilda.grid import builtin_landmask
from mpilda.inspect import inspect_path
from mpilda.landscape import synthetic_landcover

SEED = 20240611
DAYS = np.arange(np.datetime64("2015-01-01"), np.datetime64("2018-01-01"))      # 3 years


@pytest.fixture(scope="module")
def world():
    """A small window of real 0.25 degree land cells in France (dense stations) with a made-up truth."""
    lat_axis = 44.125 + 0.25 * np.arange(12)
    lon_axis = 2.125 + 0.25 * np.arange(16)
    lat2, lon2 = np.meshgrid(lat_axis, lon_axis, indexing="ij")
    land = np.ones(lat2.shape, bool)           # inland France: every cell is land (checked below)
    ids = np.flatnonzero(land) + 100000        # ids as in a bigger window
    lat, lon = lat2[land], lon2[land]
    rng = np.random.default_rng(7)
    n, m = DAYS.size, lat.size
    doy = (DAYS - DAYS.astype("datetime64[Y]")).astype(int)
    season = np.cos(2 * np.pi * (doy - 20) / 365.25)[:, None]                  # +1 in winter
    from scipy.signal import lfilter
    weather = lfilter([1.0], [1.0, -0.9], rng.standard_normal((n, m)), axis=0) * np.sqrt(1 - 0.81)
    truth = {}
    for k, (amp, noise) in enumerate(((0.07, 0.04), (0.06, 0.03), (0.05, 0.02), (0.03, 0.01)), start=1):
        smooth = lfilter([1.0], [1.0, -(1 - 0.3 / k)], weather, axis=0) * np.sqrt(1 - (1 - 0.3 / k) ** 2)
        truth[f"sm{k}"] = 0.25 + amp * season + noise * smooth
    gpp_g = np.maximum(0.0, 5.0 - 4.0 * season + 1.0 * weather)                  # gC m-2 d-1
    truth["gpp"] = gpp_g * 1e-3 / 86400
    truth["nee"] = (1.5 + 0.5 * season + 0.5 * weather - 0.6 * gpp_g) * 1e-3 / 86400
    truth["et"] = np.maximum(0.0, 1.8 - 1.4 * season + 0.4 * weather) / 86400    # mm d-1 -> kg m-2 s-1
    truth["tsoil1"] = 284.0 - 10.0 * season + 3.0 * weather
    landcover = synthetic_landcover(SEED, lat, lon)
    return {"ids": ids, "lat": lat, "lon": lon, "truth": truth, "landcover": landcover}


def test_world_cells_are_land():
    lat_axis = 44.125 + 0.25 * np.arange(12)
    lon_axis = 2.125 + 0.25 * np.arange(16)
    assert builtin_landmask(lat_axis, lon_axis).all()


def test_layer_weights_interpolate_between_layer_midpoints():
    np.testing.assert_allclose(synthetic.layer_weights(0.05), [1, 0, 0, 0])
    np.testing.assert_allclose(synthetic.layer_weights(0.10), [0.75, 0.25, 0, 0])        # mids 0.05, 0.25
    np.testing.assert_allclose(synthetic.layer_weights(0.50), [0, 0.2 / 0.45, 0.25 / 0.45, 0])
    np.testing.assert_allclose(synthetic.layer_weights(0.01), [1, 0, 0, 0])
    np.testing.assert_allclose(synthetic.layer_weights(2.0), [0, 0, 0, 1])


def test_station_and_tower_density_on_the_paper_domain():
    lat_axis = 29.875 + 0.25 * np.arange(168)
    lon_axis = -11.375 + 0.25 * np.arange(207)
    land = builtin_landmask(lat_axis, lon_axis)
    lat2, lon2 = np.meshgrid(lat_axis, lon_axis, indexing="ij")
    ids, lat, lon = np.flatnonzero(land), lat2[land], lon2[land]
    assert ids.size == 19701
    stations = synthetic.plan_ismn_stations(SEED, ids, lat, lon)
    assert 19701 / 25 < len(stations) < 19701 / 15
    cells, per_cell = np.unique([s.cell_id for s in stations], return_counts=True)
    assert per_cell.max() == 3 and (per_cell == 2).sum() > 10
    pos = {int(i): k for k, i in enumerate(ids)}
    st_lat = lat[[pos[c] for c in cells]]
    st_lon = lon[[pos[c] for c in cells]]
    centre = ((lat > 43) & (lat < 55) & (lon > -5) & (lon < 15))
    south = lat < 36
    in_centre = ((st_lat > 43) & (st_lat < 55) & (st_lon > -5) & (st_lon < 15)).sum() / centre.sum()
    in_south = (st_lat < 36).sum() / south.sum()
    assert in_centre > 3 * in_south
    # stations lie inside their cell, in their network's 5-degree box
    for s in stations[:50]:
        k = pos[s.cell_id]
        assert abs(s.lat - lat[k]) < 0.125 and abs(s.lon - lon[k]) < 0.125
        assert "_" not in s.network + s.station
    # a pure function of (seed, cell): a subset of cells gives the stations of those cells
    some = ids[::7]
    sub = synthetic.plan_ismn_stations(SEED, some, lat[::7], lon[::7])
    assert sub == [s for s in stations if s.cell_id in set(some.tolist())]
    assert synthetic.plan_ismn_stations(SEED + 1, ids, lat, lon) != stations
    # towers: one per ~150-300 land cells, preferring forests
    lc = synthetic_landcover(SEED, lat, lon)
    towers = synthetic.plan_flux_towers(SEED, ids, lat, lon, lc)
    assert 19701 / 300 < len(towers) < 19701 / 150
    forest = np.isin(lc, [1, 2, 3, 4, 5])
    tower_forest = np.mean([t.igbp in ("ENF", "EBF", "DNF", "DBF", "MF") for t in towers])
    assert tower_forest > forest.mean()
    assert len({t.site for t in towers}) == len(towers)
    assert all(fluxnet.NAME_RE.search(f"FLX_{t.site}_FLUXNET2015_FULLSET_DD_2015-2017_beta-3.csv") for t in towers)


def test_ismn_round_trip(world, tmp_path):
    w = world
    stations = synthetic.write_ismn_references(tmp_path, SEED, DAYS, w["truth"], w["ids"], w["lat"], w["lon"],
                                               w["landcover"])
    assert len(stations) >= 5
    files = ismn.find_ismn_files(tmp_path)
    assert len(files) == sum(len(s.depths) for s in stations)
    table = pd.read_csv(tmp_path / "synthetic_stations.csv")
    by_name = {s.station: s for s in stations}
    flags_seen = set()
    col_of = {int(c): k for k, c in enumerate(w["ids"])}
    correlations = []
    for f in files:
        st = ismn.read_ismn_file(f)
        plan = by_name[st.station]
        assert st.layout == "header_values" and st.variable == "sm"
        assert (st.network, st.lat, st.lon, st.header_sensor, st.sensor) == (plan.network, plan.lat, plan.lon,
                                                                            plan.sensor, plan.file_sensor)
        assert st.depth_from == st.depth_to and st.depth_from in plan.depths
        flags_seen |= set(np.unique(st.flags).tolist())
        assert np.isnan(st.values[st.flags == "M"]).all()
        days, values, counts = ismn.daily_means(st)
        assert counts.max() == 24
        # the daily G means follow a + b x(depth) of the truth, up to the representativeness error
        row = table[(table.station == st.station) & np.isclose(table.depth_m, st.depth_from)].iloc[0]
        col = col_of[plan.cell_id]
        x = np.tensordot(synthetic.layer_weights(st.depth_from),
                         np.stack([w["truth"][f"sm{k}"][:, col] for k in range(1, 5)]), axes=(0, 0))
        expected = metrics.align(DAYS, row.bias + row.scale * x, days)
        resid = values - expected
        assert abs(np.mean(resid)) < 3 * row.ar1_std and np.std(resid) < 2 * row.ar1_std + 0.01
        correlations.append(metrics.pearson(values, expected))
        # frozen days (truth tsoil1 below TFRZ = 273.16 K) carry D01,D03 and give no daily mean
        frozen = DAYS[w["truth"]["tsoil1"][:, col] < 273.16]
        assert not np.isin(days, frozen).any()
    assert {"G", "D05", "D06", "M", "D01,D03"} <= flags_seen
    assert np.median(correlations) > 0.7
    # static metadata: ESA CCI class of the cell's land cover
    st0 = stations[0]
    meta = ismn.static_metadata_for(next(f for f in files if st0.station in f.name))
    assert meta.landcover() == synthetic._CCI[int(w["landcover"][col_of[st0.cell_id]])][0]
    # the site rule sees the late-starting stations
    usable = [metrics.enough_data(*ismn.daily_means(ismn.read_ismn_file(f))[:2]) for f in files]
    assert any(usable)


def test_ismn_zip_equals_folders_and_is_deterministic(world, tmp_path):
    w = world
    plan = synthetic.plan_ismn_stations(SEED, w["ids"], w["lat"], w["lon"])
    cells = sorted({s.cell_id for s in plan})[:3]
    keep = np.isin(w["ids"], cells)                       # only the columns of a few station cells
    truth = {k: v[:400, keep] for k, v in w["truth"].items()}
    args = (SEED, DAYS[:400], truth, w["ids"][keep], w["lat"][keep], w["lon"][keep], w["landcover"][keep])
    synthetic.write_ismn_references(tmp_path / "a", *args)
    synthetic.write_ismn_references(tmp_path / "b", *args)
    synthetic.write_ismn_references(tmp_path / "z", *args, zipped=True)
    archives = list((tmp_path / "z").glob("*.zip"))
    assert [a.name for a in archives] == ["Data_separate_files_header_20150101_20160204_synthetic.zip"]
    folder_files = sorted(p.relative_to(tmp_path / "a").as_posix() for p in (tmp_path / "a").rglob("*")
                          if p.is_file() and p.parent != tmp_path / "a")
    with zipfile.ZipFile(archives[0]) as zf:
        members = sorted(n for n in zf.namelist() if "/" in n)
        assert members == folder_files
        for name in members:
            data = (tmp_path / "a" / name).read_bytes()
            assert zf.read(name) == data == (tmp_path / "b" / name).read_bytes()
    in_zip = [ismn.read_ismn_file(f) for f in ismn.find_ismn_files(archives[0])]
    assert len(in_zip) == sum(1 for n in members if n.endswith(".stm"))
    # the same station from all cells vs from its cell only: the same file
    full = synthetic.write_ismn_references(tmp_path / "full", SEED, DAYS[:400],
                                           {k: v[:400] for k, v in w["truth"].items()}, w["ids"], w["lat"],
                                           w["lon"], w["landcover"])
    assert len(full) >= 3
    name = members[0]
    assert (tmp_path / "full" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_flux_round_trip(world, tmp_path):
    w = world
    towers = synthetic.write_flux_references(tmp_path, SEED, DAYS, w["truth"], w["ids"], w["lat"], w["lon"],
                                             w["landcover"], cells_per_tower=20)
    assert len(towers) >= 3
    sites = fluxnet.read_site_list(tmp_path / "fluxnet_sites.csv")
    assert sorted(sites) == sorted(t.site for t in towers)
    files = fluxnet.find_fluxnet_files(tmp_path)
    assert sorted(files) == sorted(sites)
    col_of = {int(c): k for k, c in enumerate(w["ids"])}
    register_detectors()
    for tw in towers:
        path = files[tw.site]
        assert path.name == f"FLX_{tw.site}_FLUXNET2015_FULLSET_DD_2015-2017_beta-3.csv"
        assert sites[tw.site].igbp == tw.igbp and sites[tw.site].utc_offset_hours == tw.utc_offset_hours
        raw = pd.read_csv(path, na_values=[-9999])
        every = fluxnet.read_fluxnet(path, min_good_fraction=0.0)
        assert every.resolution == "DD" and every.days.size == DAYS.size
        np.testing.assert_allclose(every.nee_good, raw.NEE_VUT_REF_QC)
        np.testing.assert_allclose(every.gpp * 86400e3, raw.GPP_NT_VUT_REF, rtol=1e-12)
        np.testing.assert_allclose(every.et * fluxnet.LAMBDA, raw.LE_F_MDS, rtol=1e-12)
        assert np.isnan(every.gpp).sum() == raw.GPP_NT_VUT_REF.isna().sum()
        col = col_of[tw.cell_id]
        for name in ("gpp", "nee", "et"):
            assert metrics.pearson(getattr(every, name), w["truth"][name][:, col]) > 0.6, (tw.site, name)
        good = fluxnet.read_fluxnet(path)
        assert (np.isnan(good.nee) >= np.isnan(every.nee)).all()
        assert np.all(np.isnan(good.nee[every.nee_good < 0.8]))
        assert 0.01 < np.mean(every.nee_good < 0.8) < 0.5
        assert inspect_path(path)["format"] == "fluxnet-csv"


def test_xbase_round_trip(world, tmp_path):
    w = world
    files = synthetic.write_xbase_references(tmp_path, SEED, DAYS, w["truth"], w["ids"], w["lat"], w["lon"])
    assert sorted(p.name for p in files) == sorted(f"{v}_{y}_025_daily.nc" for v in ("GPP", "NEE", "ET")
                                                   for y in (2015, 2016, 2017))
    import xarray as xr
    with xr.open_dataset(tmp_path / "GPP_2016_025_daily.nc") as ds:
        assert ds["GPP"].dims == ("time", "lat", "lon") and ds.sizes["time"] == 366
        assert float(ds.lat[0]) > float(ds.lat[-1])
        assert ds["GPP"].attrs["units"] == "gC m-2 d-1"
        assert float(ds.land_fraction.sum()) == w["lat"].size
        assert np.isnan(ds["GPP"].isel(lat=0).values).all()          # the halo row holds no cell
    for name, var in (("gpp", "GPP"), ("nee", "NEE"), ("et", "ET")):
        data = xbase.read_xbase_period(tmp_path, var, w["lat"], w["lon"], DAYS[0], DAYS[-1] + 1)
        truth = w["truth"][name]
        assert data.values.shape == truth.shape and np.isfinite(data.values).all()
        np.testing.assert_allclose(data.land_fraction, 1.0)
        r = metrics.pearson(data.values, truth)
        assert np.median(r) > 0.85, name
        ratio = np.mean(data.values, axis=0) / np.mean(truth, axis=0)
        assert np.all((ratio > 0.5) & (ratio < 1.5)), name
    # deterministic: the same call writes the same numbers
    again = synthetic.write_xbase_references(tmp_path / "again", SEED, DAYS[:40],
                                             {k: v[:40] for k, v in w["truth"].items()}, w["ids"], w["lat"],
                                             w["lon"], variables=("GPP",))
    a = xbase.read_xbase(again[0], w["lat"], w["lon"])
    b = xbase.read_xbase(tmp_path / "GPP_2015_025_daily.nc", w["lat"], w["lon"], end=DAYS[40])
    np.testing.assert_array_equal(a.values, b.values)
    register_detectors()
    assert inspect_path(files[0])["format"] == "xbase-netcdf"


def test_evaluation_finds_every_synthetic_tower_of_its_domain(world, tmp_path):
    """The towers the synthetic references write (with their site list, fluxnet_sites.csv) are the
    towers the evaluation reads: each in its cell, its daily series aligned to the run's days."""
    from mpilda.config import config_from_text
    from mpilda.evaluation.run import _flux_sites
    from mpilda.grid import Grid
    from mpilda.parallel import Decomposition

    w = world
    towers = synthetic.write_flux_references(tmp_path, SEED, DAYS, w["truth"], w["ids"], w["lat"], w["lon"],
                                             w["landcover"], cells_per_tower=20)
    cfg = config_from_text(f"""
[domain]
south = 44.125
north = 46.875
west = 2.125
east = 5.875
tile_size = 4
[time]
start = 2015-01-01
end = 2018-01-01
[evaluation]
fluxnet_directory = {tmp_path}
""")
    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, 1).local(0)
    found = _flux_sites(cfg, local, DAYS)
    assert len(towers) >= 3 and len(found) == len(towers)
    cell_of = {(round(la, 3), round(lo, 3)): k for k, (la, lo) in enumerate(zip(local.lat, local.lon))}
    for tw in towers:
        k = cell_of[(round(float(w["lat"][list(w["ids"]).index(tw.cell_id)]), 3),
                     round(float(w["lon"][list(w["ids"]).index(tw.cell_id)]), 3))]
        series = next(s for kk, _, s in found if kk == k)
        col = list(w["ids"]).index(tw.cell_id)
        assert metrics.pearson(series["gpp"], w["truth"]["gpp"][:, col]) > 0.6, tw.site
    # the paper's site rule holds for the towers too: 200 daily values in 3 years ([evaluation] defaults);
    # a period of two years leaves every tower out
    two_years = _flux_sites(cfg, local, DAYS[:700])
    assert len(two_years) == len(towers)
    assert all(np.isnan(series[v]).all() for _, _, series in two_years for v in ("gpp", "et", "nee"))
