"""The 'Beyond the paper' variants (issue 18): options, the experiments they apply to, their twin
stages and the arithmetic of their comparison."""

from __future__ import annotations

import numpy as np
import pytest

from mpilda.beyond import innovation_std, parse_options, split_name, variants, verdict
from mpilda.errors import InputError

from .conftest import window_config


def test_options_parse_with_defaults_and_values():
    assert parse_options("") == []
    assert parse_options("vod_thinning, ssm_seasonal") == [("vod_thinning", 3), ("ssm_seasonal", None)]
    assert parse_options(" vod_thinning=7 ,adaptive_error") == [("vod_thinning", 7), ("adaptive_error", None)]


@pytest.mark.parametrize("text, words", [("vod_thining", "vod_thining"), ("vod_thinning=0", "integer >= 1"),
                                         ("ssm_seasonal=2", "takes no value")])
def test_bad_options_are_named(text, words):
    with pytest.raises(InputError, match=words):
        parse_options(text)


def test_variants_only_where_the_experiment_assimilates_the_sensor():
    got = variants("vod_error_operator, adaptive_error, ssm_seasonal",
                   ["DA_SSM", "DA_LAI", "DA_VOD", "DA_SSM+LAI", "DA_SSM+VOD"])
    names = [v.name for v in got]
    assert names == ["DA_VOD@vod_error_operator", "DA_SSM+VOD@vod_error_operator",
                     "DA_SSM@adaptive_error", "DA_LAI@adaptive_error", "DA_VOD@adaptive_error",
                     "DA_SSM+LAI@adaptive_error", "DA_SSM+VOD@adaptive_error",
                     "DA_SSM@ssm_seasonal", "DA_SSM+LAI@ssm_seasonal", "DA_SSM+VOD@ssm_seasonal"]
    by = {v.name: v.overrides for v in got}
    assert by["DA_SSM+VOD@adaptive_error"] == {"obs.smap.adaptive": "desroziers", "obs.vod.adaptive": "desroziers"}
    assert by["DA_VOD@vod_error_operator"] == {"obs.vod.error": "operator"}
    thin = variants("vod_thinning=5", ["DA_SSM", "DA_VOD"])
    assert [(v.name, v.overrides) for v in thin] == [("DA_VOD@vod_thinning=5", {"obs.vod.thin_days": "5"})]
    assert split_name(type("P", (), {"name": "DA_SSM+VOD@vod_thinning=5"})()) == ("DA_SSM+VOD", "vod_thinning=5")
    assert split_name(type("P", (), {"name": "OL"})()) is None


def test_innovation_std_is_the_sample_std():
    rng = np.random.default_rng(3)
    x = [rng.normal(size=n) for n in (1, 2, 7, 50)]
    n = np.array([v.size for v in x], dtype=float)
    got = innovation_std(n, np.array([v.sum() for v in x]), np.array([(v * v).sum() for v in x]))
    assert np.isnan(got[0])
    np.testing.assert_allclose(got[1:], [np.std(v, ddof=1) for v in x[1:]], rtol=1e-12)


def test_verdict():
    assert verdict(0.9, 1.0, 0.8, 0.7) == "helps"
    assert verdict(1.1, 1.0, 0.6, 0.7) == "hurts"
    assert verdict(0.9, 1.0, 0.6, 0.7) == "mixed"
    assert verdict(1.0, 1.0, 0.7, 0.7) == "no change"
    assert verdict(None, 1.0, 0.7, 0.7) == "n/a"


def test_twin_stages_of_the_variants(tmp_path):
    """[twin] beyond adds a seasonal-tables stage and one run per variant in <twin>/beyond/, with the
    option's keys on top of the experiment's config; without it the stages are the paper's."""
    from mpilda.config import config_from_text
    from mpilda.twin import stage_configs, stage_rounds, tables_need_ol

    twin = tmp_path / "twin"
    text = window_config("2015-04-01", "2015-04-03", f"[twin]\ndirectory = {twin}\nexperiments = DA_SSM, DA_VOD\n")
    restart = twin / "ensemble_spinup" / "restart" / "restart_20150401.nc"     # the runs' start, as if spun up
    restart.parent.mkdir(parents=True)
    restart.write_bytes(b"")
    plain = config_from_text(text, source="t.ini")
    names = [n for n, _ in stage_configs(plain)]
    assert not any("@" in n for n in names) and "beyond_tables" not in names
    cfg = config_from_text(text + "beyond = ssm_seasonal, vod_thinning\n", source="t.ini")
    stages = dict(stage_configs(cfg))
    names = list(stages)
    assert names[names.index("DA_VOD") + 1:names.index("evaluate")] == [
        "beyond_tables", "DA_SSM@ssm_seasonal", "DA_VOD@vod_thinning=3"]
    assert stages["beyond_tables"]().obs_smap.rescale == "seasonal"
    run = stages["DA_SSM@ssm_seasonal"]()
    assert run.experiment.name == "DA_SSM" and run.obs_smap.rescale == "seasonal"
    assert run.output.directory == cfg.twin.directory / "beyond" / "DA_SSM@ssm_seasonal"
    thin = stages["DA_VOD@vod_thinning=3"]()
    assert thin.obs_vod.thin_days == 3 and thin.experiment.name == "DA_VOD"
    assert tables_need_ol(cfg)
    rounds = stage_rounds(names, ["DA_SSM", "DA_VOD", "DA_SSM@ssm_seasonal", "DA_VOD@vod_thinning=3"], 2, 0)
    flat = [c for r in rounds for c in r]
    assert flat.index(["beyond_tables"]) < flat.index(["DA_SSM@ssm_seasonal"]) < flat.index(["evaluate"])
    assert flat.index(["beyond_tables"]) < flat.index(["DA_VOD@vod_thinning=3"]) < flat.index(["evaluate"])


def test_bad_beyond_key_names_the_key(tmp_path):
    from mpilda.config import ConfigError, config_from_text

    text = window_config("2015-04-01", "2015-04-03", "[twin]\nbeyond = thinning\n")
    with pytest.raises(ConfigError, match="beyond"):
        config_from_text(text, source="t.ini")


def test_beyond_rows_are_medians_over_the_common_mask(tmp_path):
    """The table's numbers are numpy medians of the per-cell values over the common mask; only variants
    whose run exists under <runs>/beyond/ and whose experiment was run appear."""
    from mpilda.evaluation.run import beyond_rows

    for name in ("DA_VOD@vod_thinning=3", "DA_SSM@ssm_seasonal"):
        (tmp_path / "beyond" / name).mkdir(parents=True)
        (tmp_path / "beyond" / name / "daily_mean.nc").write_bytes(b"")
    rng = np.random.default_rng(5)
    mask = np.array([True, False, True, True, False, True])
    cells = {}
    for run in ("DA_VOD", "DA_VOD@vod_thinning=3"):
        for var in ("ssm", "rzsm", "lai", "gpp"):
            for kind in ("truth_rmse", "truth_r_anom"):
                cells[(run, var, kind)] = rng.uniform(size=6)
        cells[(run, "vod", "ninnov_std")] = rng.uniform(0.5, 1.5, size=6)
    skill, innov = beyond_rows(cells, mask, tmp_path, ["DA_VOD"])       # DA_SSM not run: its variant left out
    assert [(r["experiment"], r["option"], r["variable"]) for r in skill] == [
        ("DA_VOD", "vod_thinning=3", v) for v in ("ssm", "rzsm", "lai", "gpp")]
    for r in skill:
        v = r["variable"]
        assert r["rmse"] == float(np.median(cells[("DA_VOD@vod_thinning=3", v, "truth_rmse")][mask]))
        assert r["rmse_baseline"] == float(np.median(cells[("DA_VOD", v, "truth_rmse")][mask]))
        assert r["r_anom"] == float(np.median(cells[("DA_VOD@vod_thinning=3", v, "truth_r_anom")][mask]))
        assert r["r_anom_baseline"] == float(np.median(cells[("DA_VOD", v, "truth_r_anom")][mask]))
        assert r["verdict"] == verdict(r["rmse"], r["rmse_baseline"], r["r_anom"], r["r_anom_baseline"])
    assert innov == [dict(experiment="DA_VOD", option="vod_thinning=3", sensor="vod",
                          ninnov_std=float(np.median(cells[("DA_VOD@vod_thinning=3", "vod", "ninnov_std")][mask])),
                          ninnov_std_baseline=float(np.median(cells[("DA_VOD", "vod", "ninnov_std")][mask])))]
    assert {r["n_cells"] for r in skill} == {4}

    # the cropland part of the common mask: the same medians over cells 0, 2 and 5 only
    from mpilda.evaluation.run import CROPLAND_KEY, beyond_results

    cells[CROPLAND_KEY] = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    result = beyond_results(cells, mask, tmp_path, ["DA_VOD"])
    assert result["beyond"] == skill and result["beyond_innovations"] == innov
    crop = np.array([True, False, True, False, False, True])
    for r in result["beyond_cropland"]:
        v = r["variable"]
        assert r["n_cells"] == 3
        assert r["rmse"] == float(np.median(cells[("DA_VOD@vod_thinning=3", v, "truth_rmse")][crop]))
        assert r["r_anom_baseline"] == float(np.median(cells[("DA_VOD", v, "truth_r_anom")][crop]))
    [row] = result["beyond_innovations_cropland"]
    assert row["ninnov_std"] == float(np.median(cells[("DA_VOD@vod_thinning=3", "vod", "ninnov_std")][crop]))


def test_report_shows_the_beyond_table():
    from mpilda.report import tables

    row = dict(experiment="DA_VOD", option="vod_thinning=3", variable="gpp", rmse=1e-8, rmse_baseline=1.2e-8,
               r_anom=0.81, r_anom_baseline=0.8, verdict="helps")
    text = tables({"beyond": [row], "beyond_innovations": [dict(experiment="DA_VOD", option="vod_thinning=3",
                                                                sensor="vod", ninnov_std=0.9,
                                                                ninnov_std_baseline=1.0)]})
    assert "## Beyond the paper" in text
    assert "| DA_VOD | vod_thinning=3 | gpp | 0.864 | 1.037 | 0.810 | 0.800 | helps |" in text    # kg m-2 s-1 -> g C m-2 d-1
    assert "| DA_VOD | vod_thinning=3 | VOD | 0.90 | 1.00 |" in text
    crop = tables({"beyond": [row], "beyond_cropland": [dict(row, n_cells=7, verdict="hurts")]})
    assert "(that are cropland)" in crop and "Medians over the 7 cells of the common mask that are cropland" in crop
    assert "| DA_VOD | vod_thinning=3 | gpp | 0.864 | 1.037 | 0.810 | 0.800 | hurts |" in crop
    assert "Beyond the paper" not in tables({})
