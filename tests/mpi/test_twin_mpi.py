"""``python -m mpilda twin`` end to end on a tiny twin: every stage, stages side by side on groups of
ranks, the same bytes as a stage run alone, the report with every table and figure, and a resume."""

import json

import h5py
import numpy as np
import pytest
from mpi4py import MPI

from mpilda.config import config_from_text
from mpilda.experiment import OUTPUT_VARIABLES, run
from mpilda.twin import run_twin, stage_configs

from ..conftest import WINDOW
from .conftest import assert_all, on_root, shared_directory

CONFIG = WINDOW + """
[time]
start = 2015-04-01
end = 2015-04-13
[ensemble]
members = 4
[synthetic]
directory = {tmp}/world
errors = specified
lai_pixel_size = 0.0625
[obs.smap]
rescale = mean
rescale_directory = {tmp}/twin/truth
min_cdf_samples = 2
[obs.lai]
rescale = no
[obs.vod]
calibration_directory = {tmp}/twin/truth
[evaluation]
min_values = 5
min_years = 1
[twin]
directory = {tmp}/twin
truth_spinup_cycles = 0
model_spinup_cycles = 1
ensemble_spinup_days = 3
beyond = ssm_seasonal
[output]
checkpoint_days = 0
"""

#: The figures the report draws (paper Figs. 1, 2, 4, 5-8, 10, 11 and the innovation time series).
FIGURES = ("fig1_assimilated.png", "fig2_vod_calibration.png", "fig4_impact_rmsd.png",
           "fig5_8_delta_r_anom_truth.png", "fig10_increment_correlation.png",
           "fig11_normalised_innovation_std.png", "timeseries_innovations_increments.png")


@pytest.fixture(scope="module")
def tiny_twin():
    comm = MPI.COMM_WORLD
    with shared_directory(comm, "mpilda-twin-") as tmp:
        cfg = config_from_text(CONFIG.format(tmp=tmp))
        run_twin(cfg, comm)
        yield cfg


@pytest.mark.mpi(min_size=1)
def test_twin_writes_every_stage_the_tables_and_the_figures(tiny_twin):
    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory

    def check():
        names = [name for name, _ in stage_configs(tiny_twin)]
        missing = [n for n in names if not (root / "stages" / f"{n}.done").exists()]
        assert not missing, f"stages without a marker: {missing}"
        for experiment in ["OL"] + tiny_twin.twin.experiment_list:
            with h5py.File(root / experiment / "daily_mean.nc") as f:
                assert f["ssm"].shape[0] == 12, f"{experiment}: {f['ssm'].shape[0]} days, expected 12"
        # SMAP's mean offsets are fitted to the truth and the SSM runs assimilate the rescaled retrievals
        with h5py.File(root / "OL" / "smap_mean_offset.nc") as f:
            count = f["count"][...]
            offset = f["offset"][...][(count >= 2) & (count < 1e9)]
        assert offset.size > 0 and abs(offset).max() < 0.1, f"offsets {offset}"
        with h5py.File(root / "DA_SSM" / "diagnostics.nc") as f:
            assimilated = f["smap_assimilated"][...]
        assert assimilated[assimilated < 1e30].sum() > 0, "DA_SSM assimilated no SMAP retrieval"
        result = json.loads((root / "evaluation" / "evaluation.json").read_text())
        assert {"table3", "table4", "truth_skill"} <= set(result), sorted(result)
        experiments = {row["experiment"] for row in result["table4"]}
        assert experiments == set(tiny_twin.twin.experiment_list), experiments
        # Table 4: the whole domain's ratio beside the common mask's, recomputed from the spread files
        def mean_spread(experiment, variable):
            with h5py.File(root / experiment / "daily_spread.nc") as f:
                x = f[variable][...].astype(np.float64)
            return np.nanmean(np.where(np.abs(x) < 1e30, x, np.nan))

        for row in result["table4"]:
            expected = mean_spread(row["experiment"], row["variable"]) / mean_spread("OL", row["variable"])
            assert abs(row["spread_ratio_whole_domain"] - expected) < 1e-6 * expected, (row, expected)
        skill = {(row["experiment"], row["variable"]) for row in result["truth_skill"]}
        assert ("DA_SSM", "ssm") in skill and ("DA_LAI", "lai") in skill, sorted(skill)
        report = (root / "report" / "report.md").read_text()
        for heading in ("Table 3", "Table 4"):
            assert heading in report, f"report.md has no {heading}"
        for figure in FIGURES:
            path = root / "report" / figure
            assert path.exists() and path.stat().st_size > 10_000, f"{figure} missing or empty"
            assert f"({figure})" in report, f"report.md does not show {figure}"

    on_root(comm, check)


@pytest.mark.mpi(min_size=1)
def test_stages_side_by_side_write_the_bytes_of_a_stage_run_alone(tiny_twin):
    """On 2+ ranks the DA experiments ran in groups of ranks (stage_ranks = 0); each file equals
    that of the same stage run again on one rank."""
    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory
    stage = dict(stage_configs(tiny_twin))["DA_LAI"]()
    alone = config_from_text(stage.to_ini(), overrides=[f"output.directory={root / 'DA_LAI_alone'}"])
    if comm.rank == 0:
        run(alone, MPI.COMM_SELF)
    comm.Barrier()

    def check():
        for file in ("daily_mean.nc", "daily_spread.nc"):
            with h5py.File(root / "DA_LAI" / file) as a, h5py.File(root / "DA_LAI_alone" / file) as b:
                for v in OUTPUT_VARIABLES:
                    assert a[v.name][...].tobytes() == b[v.name][...].tobytes(), \
                        f"{file}:{v.name} differs from the stage run alone ({comm.size} ranks)"

    on_root(comm, check)


@pytest.mark.mpi(min_size=1)
def test_a_finished_twin_resumes_without_running_a_stage(tiny_twin):
    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory
    before = {p.name: p.stat().st_mtime_ns for p in (root / "stages").iterdir()}
    run_twin(tiny_twin, comm)
    after = {p.name: p.stat().st_mtime_ns for p in (root / "stages").iterdir()}
    assert_all(comm, before == after, "a stage ran again")


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.mpi(min_size=1)
def test_evaluation_maps_have_units_and_one_rank_evaluates_the_same_bytes(tiny_twin):
    """Issue 17: evaluation.nc's maps carry their units and long names (item 8); the evaluation on
    one rank equals, byte for byte, that of the twin's ranks (item 9)."""
    from mpilda.evaluation.run import evaluate

    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory
    alone = root / "evaluated_alone"
    if comm.rank == 0:
        alone.mkdir(exist_ok=True)
        for experiment in ["OL"] + tiny_twin.twin.experiment_list + ["beyond"]:
            if not (alone / experiment).exists():
                (alone / experiment).symlink_to(root / experiment)
        stage = dict(stage_configs(tiny_twin))["evaluate"]()
        evaluate(config_from_text(stage.to_ini(), overrides=[f"evaluation.runs_directory={alone}"]), MPI.COMM_SELF)
    comm.Barrier()

    def check():
        with h5py.File(root / "OL" / "daily_mean.nc") as f:
            units = {v: _text(f[v].attrs["units"]) for v in ("ssm", "rzsm", "lai", "gpp", "et", "qs")}
        assert (units["ssm"], units["lai"]) == ("m3 m-3", "m2 m-2")
        with h5py.File(root / "evaluation" / "evaluation.nc") as a, \
                h5py.File(alone / "evaluation" / "evaluation.nc") as b:
            maps = sorted(k for k in a if k.startswith(("impact_", "delta_", "assimilated_", "common_")))
            assert maps == sorted(k for k in b if k.startswith(("impact_", "delta_", "assimilated_", "common_")))
            assert "impact_rmsd_ssm_DA_SSM" in maps and "common_mask" in maps and "assimilated_smap" in maps
            for name in maps:
                assert a[name][...].tobytes() == b[name][...].tobytes(), f"{name}: 1 rank != {comm.size}"
                unit, long_name = _text(a[name].attrs["units"]), _text(a[name].attrs["long_name"])
                if name.startswith("impact_rmsd_"):
                    variable = name.split("_")[2]
                    assert unit == units["qs" if variable == "runoff" else variable], (name, unit)
                else:
                    assert unit == "1", (name, unit)
                assert long_name != name.replace("_", " ") and len(long_name) > 20, (name, long_name)
            assert "all three sensors" in _text(a["common_mask"].attrs["long_name"])
            assert "number of SMAP retrievals" in _text(a["assimilated_smap"].attrs["long_name"])
        together = (root / "evaluation" / "evaluation.json").read_text()
        assert together == (alone / "evaluation" / "evaluation.json").read_text(), f"1 rank != {comm.size}"
        assert all("n_sites" in row for row in json.loads(together)["table3"])

    on_root(comm, check)


def _recomputed_autocorrelation(root, experiment, sensor, lags, min_pairs, rows, cols):
    """Cell by cell with numpy's corrcoef, the lagged autocorrelation of the daily mean innovations in
    diagnostics.nc: (n_lags, n_cells) at the cells (rows, cols) of the grid."""
    with h5py.File(root / experiment / "diagnostics.nc") as f:
        s = f[f"{sensor}_innov_sum"][...].astype(np.float64)
        n = f[f"{sensor}_assimilated"][...].astype(np.float64)
    s[np.abs(s) > 1e30] = np.nan
    n[np.abs(n) > 1e30] = np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(n > 0, s / n, np.nan)[:, rows, cols]
    out = np.full((len(lags), x.shape[1]), np.nan)
    for i, lag in enumerate(lags):
        for k in range(x.shape[1]):
            a, b = x[:-lag, k], x[lag:, k]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() >= min_pairs and a[ok].std() > 0 and b[ok].std() > 0:
                out[i, k] = np.corrcoef(a[ok], b[ok])[0, 1]
    return out


@pytest.mark.mpi(min_size=1)
def test_evaluation_and_report_json_give_the_lagged_autocorrelation_of_the_innovations(tiny_twin, capsys):
    """Issue 18, item 5 (paper Figs. S17/S19): evaluation.json's innovation_autocorrelation has a row per
    DA experiment, assimilated sensor and lag 1-10 d, each the median over the common mask of the
    per-cell autocorrelations recomputed here cell by cell; report --json prints the same rows and
    report.md shows the table.  The tiny twin's 12 days give few pairs, so the per-cell values are also
    checked over the whole domain with 3 pairs at least."""
    from mpilda.cli import build_parser, cmd_report
    from mpilda.evaluation.innovations import LAGS, MIN_LAG_PAIRS
    from mpilda.evaluation.run import _innovation_autocorrelation
    from mpilda.grid import Grid
    from mpilda.parallel import Decomposition

    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory
    sensors = {"DA_SSM": ["smap"], "DA_LAI": ["lai"], "DA_VOD": ["vod"], "DA_SSM+LAI": ["smap", "lai"],
               "DA_SSM+VOD": ["smap", "vod"]}

    def check():
        result = json.loads((root / "evaluation" / "evaluation.json").read_text())
        rows = result["innovation_autocorrelation"]
        expected = {(e, s, lag) for e in tiny_twin.twin.experiment_list for s in sensors[e] for lag in LAGS}
        assert {(r["experiment"], r["sensor"], r["lag_days"]) for r in rows} == expected
        assert len(rows) == len(expected)
        with h5py.File(root / "evaluation" / "evaluation.nc") as f:
            common = np.nonzero(f["common_mask"][...] == 1)
        assert common[0].size == result["common_mask_cells"]
        recomputed = {}
        for r in rows:
            key = (r["experiment"], r["sensor"])
            if key not in recomputed:
                recomputed[key] = _recomputed_autocorrelation(root, *key, LAGS, MIN_LAG_PAIRS, *common)
            v = recomputed[key][LAGS.index(r["lag_days"])]
            v = v[np.isfinite(v)]
            assert r["n_cells"] == v.size, (r, v)
            if v.size == 0:
                assert r["autocorrelation"] is None and r["autocorrelation_q25"] is None, r
            else:
                assert -1 <= r["autocorrelation_q25"] <= r["autocorrelation"] <= r["autocorrelation_q75"] <= 1, r
                assert r["autocorrelation"] == pytest.approx(float(np.median(v)), abs=1e-9), r
                assert r["n_pairs"] >= MIN_LAG_PAIRS, r
        grid = Grid.from_config(tiny_twin.domain)
        local = Decomposition.build(grid, tiny_twin.domain.tile_size, 1).local(0)
        cells = _innovation_autocorrelation(root, local, tiny_twin.twin.experiment_list, min_pairs=3)
        rows_cols = grid.rows_cols(local.cell_ids)
        n_values = 0
        for e, s in {(r["experiment"], r["sensor"]) for r in rows}:
            want = _recomputed_autocorrelation(root, e, s, LAGS, 3, *rows_cols)
            got = np.stack([cells[(e, s, f"innov_acf_lag{lag:02d}")] for lag in LAGS])
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-9, err_msg=f"{e} {s}")
            n_values += int(np.isfinite(got).sum())
        assert n_values > 0, "no cell of the tiny twin has 3 pairs of innovations at any lag"
        capsys.readouterr()
        cmd_report(build_parser().parse_args(["report", str(root), "--json"]), MPI.COMM_SELF)
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert printed["innovation_autocorrelation"] == rows
        report = (root / "report" / "report.md").read_text()
        assert "## Lagged autocorrelation of the innovations" in report
        has_value = any(r["autocorrelation"] is not None for r in rows)
        assert (root / "report" / "innovation_autocorrelation.png").exists() == has_value
        assert ("(innovation_autocorrelation.png)" in report) == has_value

    on_root(comm, check)


@pytest.mark.mpi(min_size=1)
def test_the_variants_beyond_the_paper_run_and_are_compared_with_their_experiment(tiny_twin, capsys):
    """Issue 18, item 7: [twin] beyond = ssm_seasonal makes the seasonal SMAP tables and runs every
    experiment assimilating SMAP once more with them; evaluation.json's beyond rows compare each with
    its experiment (per-cell RMSE against the truth recomputed here), and report --json and report.md
    show them."""
    from mpilda.cli import build_parser, cmd_report
    from mpilda.evaluation.run import _beyond_cells, _Runs
    from mpilda.grid import Grid
    from mpilda.parallel import Decomposition

    comm = MPI.COMM_WORLD
    root = tiny_twin.twin.directory
    experiments = ("DA_SSM", "DA_SSM+LAI", "DA_SSM+VOD")
    variants = [f"{e}@ssm_seasonal" for e in experiments]

    def check():
        assert (root / "OL" / "smap_seasonal_cycle.nc").exists()          # the twin's tables go beside the OL
        for name in variants:
            assert (root / "beyond" / name / "daily_mean.nc").exists(), name
        result = json.loads((root / "evaluation" / "evaluation.json").read_text())
        got = {(r["experiment"], r["option"], r["variable"]) for r in result["beyond"]}
        assert got == {(e, "ssm_seasonal", v) for e in experiments for v in ("ssm", "rzsm", "lai", "gpp")}
        assert {(r["experiment"], r["sensor"]) for r in result["beyond_innovations"]} == {
            ("DA_SSM", "smap"), ("DA_SSM+LAI", "smap"), ("DA_SSM+LAI", "lai"), ("DA_SSM+VOD", "smap"),
            ("DA_SSM+VOD", "vod")}
        grid = Grid.from_config(tiny_twin.domain)
        local = Decomposition.build(grid, tiny_twin.domain.tile_size, 1).local(0)
        runs = _Runs(root, local, tiny_twin.twin.experiment_list)
        truth_file = root / "truth" / "daily_mean.nc"
        cells = _beyond_cells(runs, truth_file, runs.days, 31, tiny_twin.twin.experiment_list, tiny_twin)
        rows, cols = grid.rows_cols(local.cell_ids)
        with h5py.File(truth_file) as t, h5py.File(root / "beyond" / variants[0] / "daily_mean.nc") as v, \
                h5py.File(root / "DA_SSM" / "daily_mean.nc") as b:
            truth = t["ssm"][...][:, rows, cols].astype(np.float64)
            run = v["ssm"][...][:, rows, cols].astype(np.float64)
            baseline = b["ssm"][...][:, rows, cols].astype(np.float64)
        assert not np.array_equal(run, baseline), "the seasonal rescaling changed nothing"
        want = np.sqrt(np.mean((run - truth) ** 2, axis=0))
        np.testing.assert_allclose(cells[(variants[0], "ssm", "truth_rmse")], want, rtol=1e-12)
        capsys.readouterr()
        cmd_report(build_parser().parse_args(["report", str(root), "--json"]), MPI.COMM_SELF)
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert printed["beyond"] == result["beyond"]
        # the same rows over the common mask's cropland cells (IGBP 12, 14), fewer of them
        assert printed["beyond_cropland"] == result["beyond_cropland"]
        assert {(r["experiment"], r["variable"]) for r in result["beyond_cropland"]} == {
            (r["experiment"], r["variable"]) for r in result["beyond"]}
        with h5py.File(root / "evaluation" / "evaluation.nc") as f, \
                h5py.File(tiny_twin.landcover_file) as g:
            common = f["common_mask"][...] == 1
            crop = np.isin(g["landcover"][...], (12, 14))
        assert result["beyond"][0]["n_cells"] == result["common_mask_cells"] == int(common.sum())
        assert result["beyond_cropland"][0]["n_cells"] == int((common & crop).sum())
        assert "## Beyond the paper" in (root / "report" / "report.md").read_text()

    on_root(comm, check)
