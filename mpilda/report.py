"""The ``report`` command: report.md with the paper's tables and figures, from an evaluated set of runs.

Reads ``<dir>/evaluation/evaluation.json`` and ``evaluation.nc`` and the DA
runs' ``diagnostics.nc``; writes ``<dir>/report/report.md`` and PNG figures:
assimilated observations (paper Fig. 1), the VOD operator fit (Fig. 2), impact
RMSD (Fig. 4), delta R_anom against the truth and the gridded reference (Figs.
5-8), the correlation of RZSM increments from SSM and VOD (Fig. 10), the std of
normalised innovations (Fig. 11), time series of innovations and increments, and the
lagged autocorrelation of the innovations (Figs. S17/S19, with its table).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .config import Config
from .grid import Grid
from .plots import _pyplot, map_panels, plot_innovation_autocorrelation, plot_vod_calibration

#: The paper's values (SPEC section 9: Table 3 medians of delta R_anom, Table 4 spread ratios DA/OL).
PAPER_TABLE3 = {("DA_SSM", "ssm"): 0.016, ("DA_SSM", "rzsm"): 0.015, ("DA_LAI", "gpp", "X-BASE"): 0.022}
PAPER_TABLE4 = {("DA_SSM", "ssm"): 0.79, ("DA_SSM", "rzsm"): 0.62, ("DA_LAI", "lai"): 0.76, ("DA_VOD", "lai"): 0.74,
                ("DA_SSM+VOD", "ssm"): 0.79, ("DA_SSM+VOD", "rzsm"): 0.60, ("DA_SSM+VOD", "lai"): 0.71}
SENSORS = ("smap", "lai", "vod")


def _fmt(v, digits=3) -> str:
    return "–" if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:.{digits}f}"


def _paper3(row) -> str:
    key = (row["experiment"], row["variable"])
    if "X-BASE" in row["reference"]:
        return _fmt(PAPER_TABLE3.get(key + ("X-BASE",)))
    if row["variable"] in ("ssm", "rzsm"):
        return _fmt(PAPER_TABLE3.get(key))
    return "–"


def tables(result: dict) -> str:
    """Tables 3 and 4 and the skill against the truth as markdown, the paper's values beside them."""
    out = ["## Table 3: median ΔR_anom (DA − OL) over the common mask", "",
           ("In situ and tower R_anom are averaged over the sites of a cell first; the median and the "
            "Wilcoxon test (two-sided, DA vs OL) are over those cells."), "",
           "| experiment | variable | reference | median ΔR_anom | cells | sites | Wilcoxon p | paper |",
           "|---|---|---|---|---|---|---|---|"]
    for r in result.get("table3", []):
        sites = r.get("n_sites")
        out.append(f"| {r['experiment']} | {r['variable']} | {r['reference']} | {_fmt(r['median_delta_r_anom'])} | "
                   f"{r['n']} | {'–' if sites is None else sites} | {_fmt(r['p_wilcoxon'])} | {_paper3(r)} |")
    out += ["", "## Table 4: ensemble spread ratio DA/OL (time- and space-mean max − min over the common mask)", "",
            "| experiment | variable | spread ratio | cells | whole domain | paper |", "|---|---|---|---|---|---|"]
    for r in result.get("table4", []):
        out.append(f"| {r['experiment']} | {r['variable']} | {_fmt(r['spread_ratio'], 2)} | {r.get('n_cells', '')} | "
                   f"{_fmt(r.get('spread_ratio_whole_domain'), 2)} | "
                   f"{_fmt(PAPER_TABLE4.get((r['experiment'], r['variable'])), 2)} |")
    if result.get("truth_skill"):
        out += ["", "## Skill against the truth (twin world; medians over the cells of the common mask)", "",
                "| experiment | variable | RMSE | RMSE OL | R_anom | R_anom OL |", "|---|---|---|---|---|---|"]
        for r in result["truth_skill"]:
            digits = 4 if r["variable"] in ("ssm", "rzsm") else 3
            scale = 86400 * 1000 if r["variable"] == "gpp" else (86400 if r["variable"] == "et" else 1)
            rm = None if r["rmse"] is None else r["rmse"] * scale
            rmo = None if r["rmse_ol"] is None else r["rmse_ol"] * scale
            out.append(f"| {r['experiment']} | {r['variable']} | {_fmt(rm, digits)} | {_fmt(rmo, digits)} | "
                       f"{_fmt(r['r_anom'])} | {_fmt(r['r_anom_ol'])} |")
        out.append("")
        out.append("RMSE units: m3 m-3 (ssm, rzsm), m2 m-2 (lai), g C m-2 d-1 (gpp), mm d-1 (et).")
    out += autocorrelation_table(result.get("innovation_autocorrelation", []))
    out += beyond_table(result.get("beyond", []), result.get("beyond_innovations", []))
    out += beyond_table(result.get("beyond_cropland", []), result.get("beyond_innovations_cropland", []),
                        "that are cropland")
    return "\n".join(out) + "\n"


def beyond_table(rows, innovations, cells: str = "") -> list[str]:
    """Markdown lines of the 'Beyond the paper' table ([twin] beyond): each option against the
    paper's setting of the same experiment, against the truth (medians over the common mask, or over
    the part of it that ``cells`` names, e.g. "that are cropland")."""
    if not rows:
        return []
    where = f"the {rows[0].get('n_cells', '?')} cells of the common mask{' ' + cells if cells else ''}"
    out = ["", "## Beyond the paper: each option against the paper's setting of the same experiment"
           + (f" ({cells})" if cells else ""), "",
           (f"Medians over {where} of RMSE and R_anom against the truth; 'helps' when "
            "both improve, 'hurts' when both worsen, 'mixed' otherwise, 'no change' within 0.05 % of RMSE "
            "and 0.0005 of R_anom."), "",
           "| experiment | option | variable | RMSE | RMSE paper | R_anom | R_anom paper | verdict |",
           "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        digits = 4 if r["variable"] in ("ssm", "rzsm") else 3
        scale = 86400 * 1000 if r["variable"] == "gpp" else 1
        rm, rb = ((None if x is None else x * scale) for x in (r["rmse"], r["rmse_baseline"]))
        out.append(f"| {r['experiment']} | {r['option']} | {r['variable']} | {_fmt(rm, digits)} | {_fmt(rb, digits)} "
                   f"| {_fmt(r['r_anom'])} | {_fmt(r['r_anom_baseline'])} | {r['verdict']} |")
    out += ["", "RMSE units: m3 m-3 (ssm, rzsm), m2 m-2 (lai), g C m-2 d-1 (gpp)."]
    if innovations:
        out += ["", "| experiment | option | sensor | std of normalised innovations | paper's setting |",
                "|---|---|---|---|---|"]
        out += [f"| {r['experiment']} | {r['option']} | {r['sensor'].upper()} | {_fmt(r['ninnov_std'], 2)} | "
                f"{_fmt(r['ninnov_std_baseline'], 2)} |" for r in innovations]
    return out


def autocorrelation_table(rows) -> list[str]:
    """Markdown lines of the innovations' lagged autocorrelation: a row per experiment and sensor, a
    column per lag (median over the cells of the common mask; – where fewer than MIN_LAG_PAIRS pairs)."""
    if not rows:
        return []
    from .evaluation.innovations import MIN_LAG_PAIRS

    lags = sorted({r["lag_days"] for r in rows})
    out = ["", "## Lagged autocorrelation of the innovations O − F (total error; cf. paper Figs. S17/S19)", "",
           (f"Per cell, the Pearson correlation of the daily mean innovations d and d + lag over the day pairs "
            f"with an assimilated retrieval on both days (at least {MIN_LAG_PAIRS} pairs); the median over the "
            f"cells of the common mask, and the number of cells with a value at lag {lags[0]}.  The paper finds "
            f"it much larger for the smoothed VOD than for SMAP SSM."), "",
           "| experiment | sensor | " + " | ".join(f"lag {k} d" for k in lags) + f" | cells (lag {lags[0]}) |",
           "|---|---|" + "---|" * (len(lags) + 1)]
    for key in dict.fromkeys((r["experiment"], r["sensor"]) for r in rows):
        got = {r["lag_days"]: r for r in rows if (r["experiment"], r["sensor"]) == key}
        values = " | ".join(_fmt(got[k]["autocorrelation"], 2) if k in got else "–" for k in lags)
        first = got.get(lags[0], {}).get("n_cells", "–")
        out.append(f"| {key[0]} | {key[1].upper()} | {values} | {first} |")
    return out


def _grid_field(ds, name, grid):
    return np.where(grid.land, ds[name].values, np.nan) if name in ds else None


def figures(root: Path, out: Path, grid: Grid, experiments: list[str], cfg: Config | None) -> list[tuple[str, Path]]:
    """Write the figures; returns (caption, path) pairs."""
    import xarray as xr

    made = []
    with xr.open_dataset(root / "evaluation" / "evaluation.nc") as ds:
        panels = [(_grid_field(ds, f"assimilated_{s}", grid), f"assimilated {s.upper()} observations", "count",
                   "viridis", None) for s in SENSORS if f"assimilated_{s}" in ds]
        if "common_mask" in ds:
            panels.append((_grid_field(ds, "common_mask", grid), "common mask (all products assimilated)", "-",
                           "Greys", (0, 1)))
        if panels:
            made.append(("Fig. 1: assimilated observations per cell", map_panels(
                grid, panels, out / "fig1_assimilated.png", "Assimilated observations (cf. paper Fig. 1)")))
        impact = [(_grid_field(ds, name, grid), f"{e}: {v}", ds[name].attrs.get("units", ""), "magma_r", None)
                  for e in experiments for v in ("ssm", "rzsm", "lai")
                  if (name := f"impact_rmsd_{v}_{e.replace('+', '_')}") in ds]
        if impact:
            made.append(("Fig. 4: impact RMSD between DA and OL daily means (eq. 3)", map_panels(
                grid, impact, out / "fig4_impact_rmsd.png", "Impact RMSD DA vs OL (cf. paper Fig. 4)")))
        for ref, variables in (("truth", ("ssm", "rzsm", "lai", "gpp")), ("xbase", ("gpp", "et", "nee"))):
            panels = [(_grid_field(ds, f"delta_r_anom_{ref}_{v}_{e.replace('+', '_')}", grid), f"{e}: {v}", "-",
                       "RdBu", (-0.3, 0.3))
                      for e in experiments for v in variables
                      if f"delta_r_anom_{ref}_{v}_{e.replace('+', '_')}" in ds]
            if panels:
                name = "truth" if ref == "truth" else "X-BASE"
                made.append((f"Figs. 5-8: ΔR_anom against {name}", map_panels(
                    grid, panels, out / f"fig5_8_delta_r_anom_{ref}.png",
                    f"ΔR_anom (DA − OL) against {name} (cf. paper Figs. 5-8)", ncols=4)))
    vod = (cfg.tables_directory if cfg else root / "OL") / "vod_calibration.nc"
    if vod.exists():
        made.append(("Fig. 2: VOD operator on left-out retrievals",
                     plot_vod_calibration(vod, out / "fig2_vod_calibration.png", grid)))
    made += _diagnostic_figures(root, out, grid, experiments)
    return made


def _diagnostic_figures(root: Path, out: Path, grid: Grid, experiments) -> list[tuple[str, Path]]:
    import xarray as xr

    made = []
    std_panels, series = [], {}
    fig10 = None
    for e in experiments:
        path = root / e / "diagnostics.nc"
        if not path.exists():
            continue
        with xr.open_dataset(path) as ds:
            for s in SENSORS:
                if f"{s}_assimilated" not in ds:
                    continue
                n = ds[f"{s}_assimilated"].sum("time").values
                m1 = ds[f"{s}_ninnov_sum"].sum("time").values / np.where(n > 0, n, np.nan)
                m2 = ds[f"{s}_ninnov_sumsq"].sum("time").values / np.where(n > 0, n, np.nan)
                std = np.sqrt(np.maximum(m2 - m1 ** 2, 0.0)) * np.where(n >= 5, 1.0, np.nan)
                std_panels.append((np.where(grid.land, std, np.nan), f"{e}: {s.upper()}", "-", "coolwarm",
                                   (0.5, 1.5)))
                daily_n = ds[f"{s}_assimilated"].sum(("lat", "lon")).values
                series[(e, s, "innovation")] = (ds.time.values, ds[f"{s}_innov_sum"].sum(("lat", "lon")).values
                                               / np.where(daily_n > 0, daily_n, np.nan))
            for var in ("rzsm", "lai"):
                for c in ("smap", "lai", "vod", "smap_vod", "smap_lai"):
                    if f"inc_{var}_{c}_sum" in ds:
                        cnt = ds[f"inc_{c}_count"].sum(("lat", "lon")).values
                        series[(e, c, f"{var} increment")] = (
                            ds.time.values, ds[f"inc_{var}_{c}_sum"].sum(("lat", "lon")).values
                            / np.where(cnt > 0, cnt, np.nan))
            if "inc_rzsm_smap_sum" in ds and "inc_rzsm_vod_sum" in ds:
                both = (ds["inc_smap_count"].values > 0) & (ds["inc_vod_count"].values > 0)
                a = np.where(both, ds["inc_rzsm_smap_sum"].values, np.nan)
                b = np.where(both, ds["inc_rzsm_vod_sum"].values, np.nan)
                from .evaluation.metrics import pearson

                r = pearson(a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1), min_pairs=10)
                fig10 = (np.where(grid.land, np.asarray(r).reshape(grid.shape), np.nan), e)
    if std_panels:
        made.append(("Fig. 11: temporal std of normalised innovations (1 when errors are well specified)",
                     map_panels(grid, std_panels, out / "fig11_normalised_innovation_std.png",
                                "Std of normalised innovations (cf. paper Fig. 11)")))
    if fig10 is not None:
        made.append(("Fig. 10: correlation of RZSM increments from SSM and from VOD",
                     map_panels(grid, [(fig10[0], f"{fig10[1]}: corr(RZSM inc. SSM, RZSM inc. VOD)", "-", "RdBu",
                                        (-1, 1))], out / "fig10_increment_correlation.png",
                                "Correlation of RZSM increments from SSM and VOD (cf. paper Fig. 10)", ncols=1)))
    if series:
        plt = _pyplot()
        kinds = sorted({k[2] for k in series})
        fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 2.8 * len(kinds)), squeeze=False)
        for ax, kind in zip(axes[:, 0], kinds):
            for (e, s, k), (t, v) in series.items():
                if k == kind:
                    ax.plot(t, v, lw=0.8, label=f"{e} ({s})")
            ax.axhline(0, color="k", lw=0.5)
            unit = "m3 m-3 (SSM), m2 m-2 (LAI), - (VOD)" if kind == "innovation" else (
                "m3 m-3" if kind.startswith("rzsm") else "m2 m-2")
            ax.set_ylabel(f"domain mean {kind}\n[{unit}]", fontsize=8)
            ax.legend(fontsize=6, ncol=3)
        axes[0, 0].set_title("Domain-mean innovations and increments per day (cf. paper Figs. 7-9)")
        fig.tight_layout()
        path = out / "timeseries_innovations_increments.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        made.append(("Time series of domain-mean innovations and increments", path))
    return made


def config_of(root: Path) -> Config:
    """The configuration an evaluation was made with (the resolved text in evaluation.nc)."""
    import h5py

    from .config import config_from_text

    with h5py.File(root / "evaluation" / "evaluation.nc", "r") as f:
        text = f.attrs["config"]
    return config_from_text(text.decode() if isinstance(text, bytes) else text,
                            source=str(root / "evaluation" / "evaluation.nc"))


def load_result(root: str | Path) -> dict:
    """evaluation.json of an evaluated set of runs (an InputError when absent)."""
    from .errors import InputError

    path = Path(root) / "evaluation" / "evaluation.json"
    if not path.exists():
        raise InputError(f"{path}: no evaluation; run `python -m mpilda evaluate CONFIG` (or `twin`) first")
    return json.loads(path.read_text())


def write_report(root: str | Path, cfg: Config | None = None) -> Path:
    """report.md and its figures in ``<root>/report``; returns the report's path."""
    root = Path(root)
    result = load_result(root)
    cfg = cfg or config_of(root)
    out = root / "report"
    out.mkdir(parents=True, exist_ok=True)
    grid = Grid.from_config(cfg.domain)
    made = figures(root, out, grid, result.get("experiments", []), cfg)
    acf = plot_innovation_autocorrelation(result.get("innovation_autocorrelation", []),
                                          out / "innovation_autocorrelation.png")
    if acf is not None:
        made.append(("Figs. S17/S19: lagged autocorrelation of the innovations (total error)", acf))
    sites, cells = result.get("sites", {}), result.get("site_cells", {})
    lines = [f"# mpilda report: {root}", "",
             (f"Period {result['period'][0]} .. {result['period'][1]}; experiments: "
              f"{', '.join(result['experiments'])}; common mask: {result.get('common_mask_cells')} cells; "
              f"in situ sites: {sites.get('ismn')} in {cells.get('ismn')} cells; "
              f"flux towers: {sites.get('fluxnet')} in {cells.get('fluxnet')} cells."), "",
             tables(result), "## Figures", ""]
    for caption, path in made:
        lines += [f"### {caption}", "", f"![{caption}]({Path(path).name})", ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report
