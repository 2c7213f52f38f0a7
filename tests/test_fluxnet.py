"""FLUXNET2015 / Warm Winter 2020 CSV reader: HH (partial days, UTC offset), MM and YY real samples."""

import numpy as np
import pandas as pd
import pytest

from mpilda.errors import InputError
from mpilda.evaluation import fluxnet, register_detectors
from mpilda.inspect import inspect_path

from .conftest import REAL_DATA

FLUX = REAL_DATA / "fluxnet"
HH = FLUX / "exampledata_FLUXNET-FULLSET-HH-CSV-30MIN_FLX_CH-Cha_FLUXNET2015_FULLSET_HH_2005-2020_beta-3.csv"
MM = FLUX / "FLX_FR-Pue_FLUXNET2015_FULLSET_MM_2007-2014_2-3.csv"
YY = FLUX / "FLX_FR-Pue_FLUXNET2015_FULLSET_YY_2007-2014_2-3.csv"

# The conversions, written out independently of the module:
#   umol CO2 m-2 s-1 -> kg C m-2 s-1: 1e-6 mol/umol * 12.0107 g C/mol * 1e-3 kg/g
#   gC m-2 d-1 -> kg C m-2 s-1: 1e-3 kg/g / 86400 s/d;  gC m-2 yr-1: also / days of the year
#   LE W m-2 -> ET kg m-2 s-1: / 2.45e6 J kg-1
UMOL = 1e-6 * 12.0107 * 1e-3
GC_DAY = 1e-3 / 86400.0
LV = 2.45e6


def pandas_read(path):
    return pd.read_csv(path, na_values=[-9999])


def hh_expected(df, offset_hours=0):
    t = pd.to_datetime(df.TIMESTAMP_START.astype(str), format="%Y%m%d%H%M") - pd.Timedelta(hours=offset_hours)
    day = t.dt.floor("D")
    cols = ["GPP_NT_VUT_REF", "NEE_VUT_REF", "LE_F_MDS", "LE_CORR"]
    g = df[cols].assign(day=day).groupby("day")
    return g, day


def test_hh_sample_daily_means_and_partial_last_day():
    df = pandas_read(HH)
    assert len(df) == 99                                     # 2 full days + 3 half-hours of the third
    site = fluxnet.read_fluxnet(HH, min_good_fraction=0.0)
    assert (site.site, site.resolution) == ("CH-Cha", "HH")
    g, _ = hh_expected(df)
    np.testing.assert_array_equal(site.days, np.array(["2005-01-01", "2005-01-02", "2005-01-03"],
                                                      dtype="datetime64[D]"))
    np.testing.assert_allclose(site.gpp, g.GPP_NT_VUT_REF.mean().to_numpy() * UMOL, rtol=1e-12)
    np.testing.assert_allclose(site.nee, g.NEE_VUT_REF.mean().to_numpy() * UMOL, rtol=1e-12)
    np.testing.assert_allclose(site.et, g.LE_F_MDS.mean().to_numpy() / LV, rtol=1e-12)
    np.testing.assert_array_equal(site.ndays, [1, 1, 1])
    # every half-hour of January 2005 at CH-Cha is poor gap-fill (QC 3): no good fraction, nothing kept
    assert (df.NEE_VUT_REF_QC == 3).all()
    np.testing.assert_array_equal(site.nee_good, [0, 0, 0])
    strict = fluxnet.read_fluxnet(HH)
    assert np.isnan(strict.gpp).all() and np.isnan(strict.nee).all() and np.isnan(strict.et).all()
    # LE_CORR when asked
    corr = fluxnet.read_fluxnet(HH, min_good_fraction=0.0, le_variable="LE_CORR")
    np.testing.assert_allclose(corr.et, g.LE_CORR.mean().to_numpy() / LV, rtol=1e-12)


def test_hh_good_fraction_counts_a_partial_day_against_a_full_day(tmp_path):
    df = pandas_read(HH)
    df["NEE_VUT_REF_QC"] = np.where(np.arange(len(df)) % 4 == 0, 2, 0)     # 3 in 4 half-hours good
    df["LE_F_MDS_QC"] = 1
    path = tmp_path / "FLX_CH-Cha_FLUXNET2015_FULLSET_HH_2005-2005_beta-3.csv"
    df.to_csv(path, index=False, na_rep="-9999")
    site = fluxnet.read_fluxnet(path)
    np.testing.assert_allclose(site.nee_good, [36 / 48, 36 / 48, 2 / 48])
    np.testing.assert_allclose(site.et_good, [1.0, 1.0, 3 / 48])
    # NEE and GPP fail 0.8 every day; ET passes on the full days only (the partial day has 3 of 48)
    assert np.isnan(site.nee).all() and np.isnan(site.gpp).all()
    g, _ = hh_expected(df)
    np.testing.assert_allclose(site.et[:2], g.LE_F_MDS.mean().to_numpy()[:2] / LV, rtol=1e-12)
    assert np.isnan(site.et[2])
    loose = fluxnet.read_fluxnet(path, min_good_fraction=0.7)
    assert np.isfinite(loose.nee[:2]).all() and np.isnan(loose.nee[2])


def test_hh_utc_offset_moves_records_into_utc_days(tmp_path):
    df = pandas_read(HH)
    df["NEE_VUT_REF_QC"] = 0
    path = tmp_path / "FLX_CH-Cha_FLUXNET2015_FULLSET_HH_2005-2005_beta-3.csv"
    df.to_csv(path, index=False, na_rep="-9999")
    site = fluxnet.read_fluxnet(path, utc_offset_hours=1.0, min_good_fraction=0.0)   # CET = UTC+1
    g, _ = hh_expected(df, offset_hours=1)
    np.testing.assert_array_equal(site.days, np.array(["2004-12-31", "2005-01-01", "2005-01-02", "2005-01-03"],
                                                      dtype="datetime64[D]"))
    np.testing.assert_allclose(site.nee_good, [2 / 48, 1, 1, 1 / 48])
    np.testing.assert_allclose(site.nee, g.NEE_VUT_REF.mean().to_numpy() * UMOL, rtol=1e-12)


def test_mm_sample_against_pandas():
    df = pandas_read(MM)
    site = fluxnet.read_fluxnet(MM)
    assert (site.site, site.resolution, site.days.size) == ("FR-Pue", "MM", 96)
    month = pd.to_datetime(df.TIMESTAMP.astype(str), format="%Y%m")
    np.testing.assert_array_equal(site.days, month.to_numpy().astype("datetime64[D]"))
    np.testing.assert_array_equal(site.ndays, month.dt.days_in_month.to_numpy())
    nee_ok = df.NEE_VUT_REF_QC >= 0.8
    le_ok = df.LE_F_MDS_QC >= 0.8                      # -9999 (missing QC) read as NaN: not good
    np.testing.assert_allclose(site.gpp, np.where(nee_ok, df.GPP_NT_VUT_REF * GC_DAY, np.nan), rtol=1e-12)
    np.testing.assert_allclose(site.nee, np.where(nee_ok, df.NEE_VUT_REF * GC_DAY, np.nan), rtol=1e-12)
    np.testing.assert_allclose(site.et, np.where(le_ok, df.LE_F_MDS / LV, np.nan), rtol=1e-12)
    np.testing.assert_allclose(site.nee_good, df.NEE_VUT_REF_QC.to_numpy())
    np.testing.assert_allclose(site.gpp_good, df.NEE_VUT_REF_QC.to_numpy())
    assert 0 < np.isnan(site.nee).sum() < 96 and np.isnan(site.et).sum() >= np.isnan(df.LE_F_MDS_QC).sum()
    every = fluxnet.read_fluxnet(MM, min_good_fraction=0)
    np.testing.assert_allclose(every.nee, df.NEE_VUT_REF * GC_DAY, rtol=1e-12)
    assert not site.is_daily


def test_yy_sample_cr_only_against_pandas():
    df = pandas_read(YY)
    assert len(df) == 8
    site = fluxnet.read_fluxnet(YY, min_good_fraction=0.0)
    year_days = np.array([366 if y % 4 == 0 else 365 for y in df.TIMESTAMP])
    np.testing.assert_array_equal(site.ndays, year_days)
    np.testing.assert_allclose(site.gpp, df.GPP_NT_VUT_REF / year_days * GC_DAY, rtol=1e-12)
    np.testing.assert_allclose(site.nee, df.NEE_VUT_REF / year_days * GC_DAY, rtol=1e-12)
    np.testing.assert_allclose(site.et, df.LE_F_MDS / LV, rtol=1e-12)
    assert site.days[0] == np.datetime64("2007-01-01") and site.days[-1] == np.datetime64("2014-01-01")
    # 2014 has no LE_F_MDS_QC (-9999): unknown fraction, dropped under any threshold above 0
    strict = fluxnet.read_fluxnet(YY)
    assert np.isnan(strict.et[-1]) and np.isnan(strict.et_good[-1])
    assert np.isnan(strict.nee[5]) and df.NEE_VUT_REF_QC[5] < 0.8


def test_names_site_lists_and_errors(tmp_path):
    assert fluxnet.parse_name(HH.name) == {"site": "CH-Cha", "res": "HH", "y1": "2005", "y2": "2020",
                                           "ver": "beta-3"}
    assert fluxnet.parse_name("foo.csv") is None
    info = [fluxnet.SiteInfo("ZA-00A", 45.1, 5.25, "ENF", 0.0), fluxnet.SiteInfo("ZA-00B", -3.5, 12.0, "CRO", 1.0)]
    path = fluxnet.write_site_list(tmp_path / "sites.csv", info)
    assert fluxnet.read_site_list(path) == {i.site: i for i in info}
    pd.DataFrame({"TIMESTAMP": ["20150101"], "NEE_VUT_REF": [1.0]}).to_csv(tmp_path / "x.csv", index=False)
    with pytest.raises(InputError, match="missing column"):
        fluxnet.read_fluxnet(tmp_path / "x.csv")
    with pytest.raises(InputError, match="no such file"):
        fluxnet.read_fluxnet(tmp_path / "none.csv")
    assert fluxnet.find_fluxnet_files(FLUX, "MM") == {"FR-Pue": MM}


def test_inspect_fluxnet():
    register_detectors()
    out = inspect_path(MM)
    assert (out["format"], out["site"], out["resolution"]) == ("fluxnet-csv", "FR-Pue", "MM")
    df = pandas_read(MM)
    assert out["variables"]["nee"]["count"] == 96
    assert out["variables"]["nee"]["mean"] == pytest.approx((df.NEE_VUT_REF * GC_DAY).mean(), rel=1e-12)
    assert out["variables"]["nee_good"]["count"] == int((df.NEE_VUT_REF_QC >= 0.8).sum())
    assert out["time_start"] == "2007-01-01T00:00:00Z" and out["time_end"] == "2015-01-01T00:00:00Z"
    hh = inspect_path(HH)
    assert hh["format"] == "fluxnet-csv" and hh["variables"]["gpp"]["count"] == 3
    assert hh["variables"]["gpp_good"]["count"] == 0
