"""Every observation mask with a case that triggers it, and the counting of masked observations."""

import numpy as np

from mpilda.assimilation import SENSOR_MASKS, observation_masks
from mpilda.obs.masks import MaskCounts
from mpilda.obs.records import CellObservations

# one observation per case: 0 clean, 1 NaN value, 2 not recommended, 3 frozen soil, 4 snow, 5 raining,
# 6 no robust rescaling, 7 bare ground, 8 poor VOD operator, 9 thinned away ([obs.<sensor>] thin_days)
N = 10


def _obs():
    value = np.full(N, 0.25)
    value[1] = np.nan
    valid = np.isfinite(value)
    quality = np.ones(N, bool)
    quality[2] = False
    return CellObservations(np.arange(N), np.zeros(N, np.int64), value, quality, valid)


def _inputs():
    tsoil = np.full(N, 285.0)
    tsoil[3] = 270.0
    swe = np.zeros(N)
    swe[4] = 5.0
    rain = np.zeros(N)
    rain[5] = 1e-4
    scalable = np.ones(N, bool)
    scalable[6] = False
    bare = np.zeros(N, bool)
    bare[7] = True
    poor = np.zeros(N, bool)
    poor[8] = True
    return scalable, tsoil, swe, rain, bare, poor


def test_every_mask_is_triggered_by_its_case_and_only_by_it():
    expected = {"invalid": 1, "quality": 2, "frozen": 3, "snow": 4, "rain": 5, "no_cdf": 6, "bare": 7, "operator": 8,
                "thinned": 9}
    scalable, tsoil, swe, rain, bare, poor = _inputs()
    thin = np.arange(N) == 9
    for sensor in ("smap", "lai", "vod"):
        hits = observation_masks(sensor, _obs(), scalable, tsoil, swe, rain, 3e-6, bare, poor, thin)
        assert set(hits) == set(SENSOR_MASKS[sensor])
        for name, hit in hits.items():
            assert np.flatnonzero(hit).tolist() == [expected[name]], (sensor, name)
        # the clean observation passes every mask of every sensor
        assert not any(hit[0] for hit in hits.values())


def test_rain_threshold_is_the_papers_0_0108_mm_per_hour():
    scalable, tsoil, swe, rain, bare, poor = _inputs()
    rain[:] = 0.0108 / 3600.0 * 1.0001             # just above 0.0108 mm/h = 3e-6 kg m-2 s-1
    hits = observation_masks("smap", _obs(), scalable, tsoil, swe, rain, 3e-6, bare, poor)
    assert hits["rain"].all()


def test_counts_per_mask_and_cell():
    counts = MaskCounts(N)
    scalable, tsoil, swe, rain, bare, poor = _inputs()
    obs = _obs()
    hits = observation_masks("vod", obs, scalable, tsoil, swe, rain, 3e-6, bare, poor)
    hits["snow"] = hits["snow"] | (np.arange(N) == 3)          # one observation hit twice
    keep = counts.add("vod", obs.cell, hits)
    c = counts.counts["vod"]
    # no rain/cdf for VOD; no thinning asked for
    assert keep.tolist() == [True, False, False, False, False, True, True, False, False, True]
    assert c["available"].sum() == N and c["assimilated"].sum() == 4 and c["rejected"].sum() == 6
    assert c["snow"][3] == 1 and c["frozen"][3] == 1 and c["rejected"][3] == 1      # counted per mask, rejected once
