"""The ``evaluate`` command: every experiment against every reference, and against the truth.

Each rank evaluates its own cells: it reads the runs' daily means there, the
references of the sites in its cells and the gridded references at its cell
centres; per-site and per-cell metrics are gathered on rank 0, which forms the
paper's tables:

* Table 3: spatial median of delta R_anom (DA - OL) per experiment, variable and
  reference over the cells of the common mask (cells where all three products are
  assimilated): for in situ stations and towers, R_anom per site averaged per cell
  first, with the two-sided Wilcoxon test of DA vs OL on the same per-cell values;
  for the gridded reference, every cell (no test);
* Table 4: spread ratios DA/OL of the time- and space-mean spread of SSM, RZSM, LAI over the common mask;
* skill against the truth (twin world): median over cells of RMSE and R_anom;
* the lagged autocorrelation of the innovations O − F (the "total error", paper 4.2, Figs. S17/S19)
  per DA experiment and assimilated sensor at lags of 1-10 days, per cell from diagnostics.nc
  (:mod:`.innovations`), the median over the cells of the common mask
  (``innovation_autocorrelation``: rows of experiment, sensor, lag_days, autocorrelation,
  autocorrelation_q25, autocorrelation_q75, n_cells, n_pairs; None where no cell has enough pairs);
* maps: impact RMSD (eq. 3, in the variable's units), delta R_anom against the truth and
  the gridded reference, assimilated counts per sensor, the common mask.

The whole domain's per-cell values are joined in global cell-id order on rank 0, and every
sum over days runs in day order per cell (:func:`metrics.time_sum`), so the results are
the same bytes on any rank count.

Writes ``<runs>/evaluation/evaluation.json`` and ``evaluation.nc`` (maps).
On the synthetic world, references absent from their directories are first
drawn from the truth run (ISMN-like sites, towers, X-BASE-like grids).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import Config
from ..errors import InputError
from ..grid import Grid
from ..log import log
from ..output import GridWriter, Variable, read_cells, resolve_io_mode, standard_attributes
from ..parallel import Decomposition, LocalDomain
from . import innovations, metrics

EXPERIMENTS = ("DA_SSM", "DA_LAI", "DA_VOD", "DA_SSM+LAI", "DA_SSM+VOD")
SENSORS = ("smap", "lai", "vod")
#: Variables of each reference kind (names as in daily_mean.nc).
ISMN_VARIABLES = ("ssm", "rzsm")
FLUX_VARIABLES = ("gpp", "et", "nee")
TRUTH_VARIABLES = ("ssm", "rzsm", "lai", "gpp", "et")
IMPACT_VARIABLES = ("ssm", "rzsm", "lai", "gpp", "et", "runoff")


def _tag(experiment: str) -> str:
    return experiment.replace("+", "_")


@dataclass(frozen=True)
class MapField:
    """One map of evaluation.nc: values (n_cells,) of the rank's cells, their units and long name."""

    values: np.ndarray
    units: str
    long_name: str


class _Runs:
    """The daily means of the available runs at a rank's cells, read variable by variable."""

    def __init__(self, root: Path, local: LocalDomain, experiments):
        self.root, self.local = root, local
        self.names = [e for e in ("OL",) + tuple(experiments) if (root / e / "daily_mean.nc").exists()]
        if "OL" not in self.names:
            raise InputError(f"{root / 'OL' / 'daily_mean.nc'}: no open loop to evaluate against")
        with _h5(root / "OL" / "daily_mean.nc") as f:
            units = f["time"].attrs["units"]
            n = f["time"].shape[0]
        units = units.decode() if isinstance(units, bytes) else units
        start = np.datetime64(units.split("since")[1].strip()[:10])
        self.days = start + np.arange(n)

    def units(self, variable: str) -> str:
        """Units of a variable ('runoff' = qs + qsb: those of qs) as the open loop's daily_mean.nc gives them."""
        with _h5(self.root / "OL" / "daily_mean.nc") as f:
            units = f["qs" if variable == "runoff" else variable].attrs.get("units", "")
        units = units.decode() if isinstance(units, bytes) else str(units)
        if not units:
            raise InputError(f"{self.root / 'OL' / 'daily_mean.nc'}: {variable} has no units")
        return units

    def daily(self, name: str, variable: str, path: Path | None = None) -> np.ndarray:
        """(n_days, n_cells) of one variable ('runoff' = qs + qsb) of run ``name`` (or a file)."""
        path = path or self.root / name / "daily_mean.nc"
        if variable == "runoff":
            v = read_cells(path, ["qs", "qsb"], self.local)
            return v["qs"] + v["qsb"]
        return read_cells(path, [variable], self.local)[variable]


def _h5(path):
    import h5py

    return h5py.File(path, "r")


def make_references(cfg: Config, comm) -> None:
    """Synthetic ISMN, FLUXNET and X-BASE files from the truth run, where their directories are absent."""
    from ..landscape import read_class_map
    from .synthetic import write_flux_references, write_ismn_references, write_xbase_references

    kinds = [k for k in ("ismn", "fluxnet", "xbase") if not cfg.reference_directory(k).exists()]
    if not kinds or comm.rank != 0:
        comm.Barrier()
        return
    truth_file = cfg.synthetic.truth_directory / "daily_mean.nc"
    if not truth_file.exists():
        raise InputError(f"{truth_file}: no truth run to draw synthetic references from")
    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, 1).local(0)
    names = ["sm1", "sm2", "sm3", "sm4", "tsoil1", "gpp", "nee", "et"]
    truth = read_cells(truth_file, names, local)
    with _h5(truth_file) as f:
        units = f["time"].attrs["units"]
        n = f["time"].shape[0]
    units = units.decode() if isinstance(units, bytes) else units
    days = np.datetime64(units.split("since")[1].strip()[:10]) + np.arange(n)
    landcover = read_class_map(cfg.landcover_file, "landcover", local.lat, local.lon, 20)
    ids, lat, lon, seed = local.cell_ids, local.lat, local.lon, cfg.random.seed
    if "ismn" in kinds:
        write_ismn_references(cfg.reference_directory("ismn"), seed, days, truth, ids, lat, lon, landcover,
                              resolution=cfg.domain.resolution)
    if "fluxnet" in kinds:
        write_flux_references(cfg.reference_directory("fluxnet"), seed, days, truth, ids, lat, lon, landcover)
    if "xbase" in kinds:
        write_xbase_references(cfg.reference_directory("xbase"), seed, days, truth, ids, lat, lon)
    log.info("synthetic references written: %s", ", ".join(str(cfg.reference_directory(k)) for k in kinds))
    comm.Barrier()


def _ismn_sites(cfg: Config, local: LocalDomain, days: np.ndarray):
    """Per site in the rank's cells: (cell index, global cell id, {'ssm': (n_days,), 'rzsm': (n_days,)})."""
    from .ismn import daily_means, find_ismn_files, read_ismn_file

    root = cfg.reference_directory("ismn")
    if not root.exists():
        return []
    grid = local.grid
    accepted = tuple(f.strip() for f in cfg.evaluation.accepted_flags.split(",") if f.strip())
    stations: dict[tuple, list] = {}
    for source in find_ismn_files(root, variable="sm"):
        st = read_ismn_file(source)
        row = int(round((st.lat - grid.lat[0]) / grid.resolution))
        col = int(round((st.lon - grid.lon[0]) / grid.resolution))
        if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]):
            continue
        gid = row * grid.shape[1] + col
        k = np.searchsorted(local.cell_ids, gid)
        if k >= local.n_cells or local.cell_ids[k] != gid:
            continue                                           # another rank's cell (or sea)
        d, v, _ = daily_means(st, accepted_flags=accepted)
        stations.setdefault((st.network, st.station, k, gid), []).append(
            metrics.SensorDaily(st.depth_from, st.depth_to, d, v))
    out = []
    for (_, _, k, gid), sensors in stations.items():
        series = {}
        for var, fn in (("ssm", metrics.site_ssm), ("rzsm", metrics.site_rzsm)):
            got = fn(sensors)
            series[var] = metrics.align(got[0], got[1], days) if got is not None else np.full(days.size, np.nan)
            if not metrics.enough_data(days, series[var], cfg.evaluation.min_values, cfg.evaluation.min_years):
                series[var] = np.full(days.size, np.nan)
        out.append((k, gid, series))
    return out


def _flux_sites(cfg: Config, local: LocalDomain, days: np.ndarray):
    """Per tower in the rank's cells: (cell index, global id, {'gpp', 'et', 'nee': (n_days,)})."""
    from .fluxnet import find_fluxnet_files, read_fluxnet, read_site_list

    root = cfg.reference_directory("fluxnet")
    if not root.exists():
        return []
    sites_file = cfg.evaluation.fluxnet_sites or next(
        (p for p in (root / "sites.csv", root / "fluxnet_sites.csv") if p.exists()), root / "sites.csv")
    info = read_site_list(sites_file) if Path(sites_file).exists() else {}
    grid = local.grid
    out = []
    for path in find_fluxnet_files(root, "DD").values():
        site = read_fluxnet(path, min_good_fraction=cfg.evaluation.fluxnet_min_good_fraction)
        meta = info.get(site.site)
        if meta is None:
            continue
        row = int(round((meta.lat - grid.lat[0]) / grid.resolution))
        col = int(round((meta.lon - grid.lon[0]) / grid.resolution))
        gid = row * grid.shape[1] + col
        k = np.searchsorted(local.cell_ids, gid)
        if not (0 <= row < grid.shape[0] and 0 <= col < grid.shape[1]) or k >= local.n_cells \
                or local.cell_ids[k] != gid:
            continue
        series = {}
        for var in FLUX_VARIABLES:
            v = metrics.align(site.days, getattr(site, var), days)
            # the paper's site rule, as for the in situ stations: min_values daily values in min_years years
            ok = metrics.enough_data(days, v, cfg.evaluation.min_values, cfg.evaluation.min_years)
            series[var] = v if ok else np.full(days.size, np.nan)
        out.append((k, gid, series))
    return out


def evaluate(cfg: Config, comm) -> dict:
    """Evaluate the runs under the runs directory (collective); rank 0 writes evaluation.json and .nc."""
    make_references(cfg, comm)
    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, comm.size).local(comm.rank)
    root = cfg.runs_directory
    runs = _Runs(root, local, EXPERIMENTS)
    das = [e for e in runs.names if e != "OL"]
    days = runs.days
    window = cfg.assimilation.climatology_window
    maps: dict[str, MapField] = {}
    # assimilated counts per sensor (from the experiments that assimilate it) and the common mask
    counts = {}
    for s in SENSORS:
        for e in das:
            diag = root / e / "diagnostics.nc"
            if diag.exists():
                with _h5(diag) as f:
                    has = f"{s}_assimilated" in f
                if has:
                    x = runs.daily(e, f"{s}_assimilated", diag)
                    counts[s] = np.maximum(counts.get(s, 0), metrics.time_sum(np.where(np.isfinite(x), x, 0.0)))
                    maps[f"assimilated_{s}"] = MapField(counts[s], "1", f"number of {s.upper()} retrievals "
                                                        "assimilated (the most of any experiment assimilating it)")
    common = metrics.common_mask(counts) if counts else np.ones(local.n_cells, bool)
    maps["common_mask"] = MapField(common.astype(np.float64), "1", "common mask: 1 where retrievals of all three "
                                   "sensors (SMAP, LAI, VOD) are assimilated, 0 elsewhere")
    # --- per-cell: truth skill, impact RMSD, gridded references, spread
    truth_dir = cfg.synthetic.truth_directory
    has_truth = (truth_dir / "daily_mean.nc").exists()
    cell_rows = {}          # (experiment, variable, kind) -> per-cell metric
    for var in sorted(set(TRUTH_VARIABLES) | set(IMPACT_VARIABLES) | set(FLUX_VARIABLES)):
        model_var = var
        ol = runs.daily("OL", model_var)
        truth = runs.daily("", model_var, truth_dir / "daily_mean.nc") if has_truth and var in TRUTH_VARIABLES \
            else None
        if truth is not None:
            cell_rows[("OL", var, "truth_rmse")] = metrics.rmsd(ol, truth)
            cell_rows[("OL", var, "truth_r_anom")] = metrics.r_anom(ol, truth, days, window)
        for e in das:
            da = runs.daily(e, model_var)
            if var in IMPACT_VARIABLES:
                maps[f"impact_rmsd_{var}_{_tag(e)}"] = MapField(
                    metrics.impact_rmsd(da, ol), runs.units(var),
                    f"impact RMSD of the daily mean {var} between {e} and OL (paper eq. 3)")
            if truth is not None:
                cell_rows[(e, var, "truth_rmse")] = metrics.rmsd(da, truth)
                cell_rows[(e, var, "truth_r_anom")] = metrics.r_anom(da, truth, days, window)
                maps[f"delta_r_anom_truth_{var}_{_tag(e)}"] = MapField(
                    cell_rows[(e, var, "truth_r_anom")] - cell_rows[("OL", var, "truth_r_anom")], "1",
                    f"R_anom of {e} minus R_anom of OL against the truth, daily {var}")
    xbase = _xbase(cfg, local, days)
    for var, ref in xbase.items():
        ol_r = metrics.r_anom(runs.daily("OL", var), ref, days, window)
        cell_rows[("OL", var, "xbase_r_anom")] = ol_r
        for e in das:
            d = metrics.r_anom(runs.daily(e, var), ref, days, window) - ol_r
            cell_rows[(e, var, "xbase_delta")] = d
            maps[f"delta_r_anom_xbase_{var}_{_tag(e)}"] = MapField(
                d, "1", f"R_anom of {e} minus R_anom of OL against X-BASE, daily {var}")
    cell_rows.update(_innovation_autocorrelation(root, local, das))
    if has_truth:
        cell_rows.update(_beyond_cells(runs, truth_dir / "daily_mean.nc", days, window, das, cfg))
    spread = {}
    for e in runs.names:
        path = root / e / "daily_spread.nc"
        if path.exists():
            s = read_cells(path, ["ssm", "rzsm", "lai"], local)
            spread[e] = {v: (metrics.time_sum(np.where(np.isfinite(x), x, 0.0)), np.isfinite(x).sum(axis=0))
                         for v, x in s.items()}
    # --- per-site: in situ and towers
    site_rows = []          # (kind, variable, cell id, in the common mask, {experiment: r_anom}, site number)
    for kind, sites, variables, model_of in (("ismn", _ismn_sites(cfg, local, days), ISMN_VARIABLES,
                                              {"ssm": "ssm", "rzsm": "rzsm"}),
                                             ("fluxnet", _flux_sites(cfg, local, days), FLUX_VARIABLES,
                                              {v: v for v in FLUX_VARIABLES})):
        if not sites:
            continue
        cells = np.array([k for k, _, _ in sites])
        model = {(e, v): runs.daily(e, model_of[v])[:, cells] for e in runs.names for v in variables}
        for j, (k, gid, series) in enumerate(sites):
            for v in variables:
                obs = series[v]
                if not np.isfinite(obs).any():
                    continue
                r = {e: float(metrics.r_anom(model[(e, v)][:, j], obs, days, window)) for e in runs.names}
                site_rows.append((kind, v, int(gid), bool(common[k]), r, j))
    return _finish(cfg, comm, local, grid, runs, das, maps, cell_rows, site_rows, spread, common, root)


def _xbase(cfg: Config, local: LocalDomain, days) -> dict[str, np.ndarray]:
    from .xbase import read_xbase_period

    root = cfg.reference_directory("xbase")
    out = {}
    if not root.exists():
        return out
    start = dt.datetime.fromisoformat(str(days[0])).replace(tzinfo=dt.timezone.utc)
    end = dt.datetime.fromisoformat(str(days[-1] + 1)).replace(tzinfo=dt.timezone.utc)
    for var in FLUX_VARIABLES:
        data = read_xbase_period(root, var.upper(), local.lat, local.lon, np.datetime64(start.date()),
                                 np.datetime64(end.date()))
        if np.isfinite(data.values).any():
            out[var] = metrics.align(data.days, data.values, days)
    return out


def _innovation_autocorrelation(root: Path, local: LocalDomain, das,
                                min_pairs: int = innovations.MIN_LAG_PAIRS) -> dict:
    """Per-cell lagged autocorrelations of the daily mean innovations of every DA run and sensor.

    Returns {(experiment, sensor, "innov_acf_lagLL"): (n_cells,) autocorrelation, (experiment, sensor,
    "innov_pairs_lagLL"): (n_cells,) day pairs (float)} for the lags of :data:`innovations.LAGS`.
    """
    out = {}
    for e in das:
        diag = root / e / "diagnostics.nc"
        if not diag.exists():
            continue
        with _h5(diag) as f:
            sensors = [s for s in SENSORS if f"{s}_innov_sum" in f and f"{s}_assimilated" in f]
        for s in sensors:
            v = read_cells(diag, [f"{s}_innov_sum", f"{s}_assimilated"], local)
            x = innovations.daily_mean_innovation(v[f"{s}_innov_sum"], v[f"{s}_assimilated"])
            acf, pairs = innovations.lagged_autocorrelation(x, min_pairs=min_pairs)
            for i, lag in enumerate(innovations.LAGS):
                out[(e, s, f"innov_acf_lag{lag:02d}")] = acf[i]
                out[(e, s, f"innov_pairs_lag{lag:02d}")] = pairs[i].astype(np.float64)
    return out


def _variants(root: Path, das) -> list[tuple[str, str, str]]:
    """The runs of ``<runs>/beyond/<experiment>@<option>`` (``[twin] beyond``) whose experiment was run
    too: (name, experiment, option), sorted by name."""
    from ..beyond import split_name

    found = []
    for d in sorted((root / "beyond").glob("*@*")) if (root / "beyond").is_dir() else []:
        parts = split_name(d)
        if parts and parts[0] in das and (d / "daily_mean.nc").exists():
            found.append((d.name, *parts))
    return found


def _beyond_cells(runs: "_Runs", truth_file: Path, days, window: int, das, cfg: Config) -> dict:
    """Per-cell skill of the variants against the truth, and the normalised-innovation std per sensor
    of the variants and of their baselines: {(run, variable, "truth_rmse" | "truth_r_anom"): (n_cells,),
    (run, sensor, "ninnov_std"): (n_cells,)}, and CROPLAND_KEY: 1.0 on cropland cells (IGBP 12, 14,
    where the beyond twin's problems are), else 0.0."""
    from ..beyond import VARIABLES, innovation_std
    from ..landscape import CROPLANDS, read_class_map

    found = _variants(runs.root, das)
    out = {}
    if not found:
        return out
    landcover = read_class_map(cfg.landcover_file, "landcover", runs.local.lat, runs.local.lon, 20)
    out[CROPLAND_KEY] = np.isin(landcover, CROPLANDS).astype(np.float64)
    for var in VARIABLES:
        truth = runs.daily("", var, truth_file)
        for name, _, _ in found:
            v = runs.daily(name, var, runs.root / "beyond" / name / "daily_mean.nc")
            out[(name, var, "truth_rmse")] = metrics.rmsd(v, truth)
            out[(name, var, "truth_r_anom")] = metrics.r_anom(v, truth, days, window)
    paths = {e: runs.root / e / "diagnostics.nc" for e in {x[1] for x in found}}
    paths.update({name: runs.root / "beyond" / name / "diagnostics.nc" for name, _, _ in found})
    for run_name, diag in paths.items():
        if not diag.exists():
            continue
        with _h5(diag) as f:
            sensors = [s for s in SENSORS if f"{s}_ninnov_sumsq" in f]
        for s in sensors:
            names = [f"{s}_assimilated", f"{s}_ninnov_sum", f"{s}_ninnov_sumsq"]
            v = read_cells(diag, names, runs.local)
            totals = [metrics.time_sum(np.where(np.isfinite(v[k]), v[k], 0.0)) for k in names]
            out[(run_name, s, "ninnov_std")] = innovation_std(*totals)
    return out


#: The key of the per-cell cropland flag among the evaluation's cell rows (:func:`_beyond_cells`).
CROPLAND_KEY = ("", "", "cropland")


def beyond_results(cells: dict, common: np.ndarray, root: Path, das) -> dict:
    """evaluation.json's ``beyond`` and ``beyond_innovations`` (medians over the common mask) and
    ``beyond_cropland`` and ``beyond_innovations_cropland`` (over its cropland cells, where the beyond
    twin's problems are: the larger VOD errors, the irrigation; the other cells are the control)."""
    out = dict(zip(("beyond", "beyond_innovations"), beyond_rows(cells, common, root, das)))
    crop = cells.get(CROPLAND_KEY)
    if crop is not None:
        out.update(zip(("beyond_cropland", "beyond_innovations_cropland"),
                       beyond_rows(cells, common & (crop == 1.0), root, das)))
    return out


def beyond_rows(cells: dict, mask: np.ndarray, root: Path, das) -> tuple[list[dict], list[dict]]:
    """Rows of medians over the cells of ``mask`` (n_cells,) bool: of skill and of innovations.

    Skill rows: per variant and variable (SSM, RZSM, LAI, GPP), the variant's and its baseline's RMSE
    and R_anom against the truth, with a verdict (``mpilda.beyond.verdict``) and the number of cells
    ``n_cells``. Innovation rows: per variant and sensor, the std of the normalised innovations of the
    variant and the baseline.
    """
    from ..beyond import VARIABLES, verdict

    def median(key):
        return _finite(metrics.spatial_median(cells[key][mask])) if key in cells else None
    skill, innov = [], []
    for name, e, option in _variants(root, das):
        for var in VARIABLES:
            r = dict(experiment=e, option=option, variable=var, rmse=median((name, var, "truth_rmse")),
                     rmse_baseline=median((e, var, "truth_rmse")), r_anom=median((name, var, "truth_r_anom")),
                     r_anom_baseline=median((e, var, "truth_r_anom")), n_cells=int(mask.sum()))
            skill.append(dict(r, verdict=verdict(r["rmse"], r["rmse_baseline"], r["r_anom"], r["r_anom_baseline"])))
        innov += [dict(experiment=e, option=option, sensor=s, ninnov_std=median((name, s, "ninnov_std")),
                       ninnov_std_baseline=median((e, s, "ninnov_std")))
                  for s in SENSORS if (name, s, "ninnov_std") in cells]
    return skill, innov


def _finite(x):
    return None if x is None or not np.isfinite(x) else float(x)


def innovation_autocorrelation_rows(cells: dict, common: np.ndarray, das) -> list[dict]:
    """evaluation.json's ``innovation_autocorrelation``: per DA experiment, sensor and lag, the median over
    the cells of the common mask of the innovations' lagged autocorrelation (:func:`innovations.summary_rows`).

    cells: the whole domain's per-cell values (keys of :func:`_innovation_autocorrelation`); common:
    (n_cells,) bool.
    """
    rows = []
    for e in das:
        for s in SENSORS:
            keys = [(e, s, f"innov_{k}_lag{lag:02d}") for k in ("acf", "pairs") for lag in innovations.LAGS]
            if all(k in cells for k in keys):
                n = len(innovations.LAGS)
                acf = np.stack([cells[k] for k in keys[:n]])
                pairs = np.nan_to_num(np.stack([cells[k] for k in keys[n:]]), nan=0.0)
                rows += innovations.summary_rows(e, s, acf, pairs, common)
    return rows


def table4_rows(parts, experiments) -> list[dict]:
    """Table 4: the spread ratios DA/OL of the time- and space-mean ensemble spread of SSM, RZSM and LAI.

    The paper's caption: "only pixels where observations from all three sensors are
    assimilated are considered", so the means are over the common mask (``spread_ratio``,
    None when the mask is empty, with ``n_cells``); the whole domain's ratio is beside it
    (``spread_ratio_whole_domain``).  parts: pieces of the domain, each (common mask (n_cells,)
    bool, {experiment: {variable: (sum over days (n_cells,), valid days (n_cells,))}}), "OL"
    among the experiments; the sums add piece by piece, so the evaluation passes the whole
    domain as one piece in cell-id order (the same bytes on any rank count).
    """
    totals = {}
    n_common = 0
    for mask, spread in parts:
        n_common += int(np.count_nonzero(mask))
        for e, per_var in spread.items():
            for v, (total, count) in per_var.items():
                t = totals.setdefault((e, v), np.zeros(4))
                t += (total[mask].sum(), count[mask].sum(), total.sum(), count.sum())

    def ratio(a, b):
        if a[1] == 0 or b[1] == 0 or b[0] == 0:
            return None
        return float((a[0] / a[1]) / (b[0] / b[1]))

    rows = []
    for e in experiments:
        for v in ("ssm", "rzsm", "lai"):
            if (e, v) in totals and ("OL", v) in totals:
                da, ol = totals[(e, v)], totals[("OL", v)]
                rows.append(dict(experiment=e, variable=v, spread_ratio=ratio(da[:2], ol[:2]), n_cells=n_common,
                                 spread_ratio_whole_domain=ratio(da[2:], ol[2:])))
    return rows


def table3_site_rows(site_rows, das) -> list[dict]:
    """Table 3's rows of the in situ stations and the flux towers (paper 2.6 and 2.6.1).

    Only sites in the common mask count.  Per cell, the R_anom of the DA run and that of the
    OL are averaged over the cell's sites where both exist (the paper: "the metrics are
    averaged to obtain a single value for the grid cell"); the median of ΔR_anom = DA − OL and
    the two-sided Wilcoxon signed-rank test of DA vs OL are both taken over these per-cell
    values, one sample.

    Args:
        site_rows: per site and variable (kind "ismn" or "fluxnet", variable, global cell id, in
            the common mask, {run: R_anom}, ...), "OL" among the runs.
        das: the DA experiments.

    Returns:
        dicts of experiment, variable, reference, median_delta_r_anom, n (cells the median and
        the test are over), n_sites (the sites averaged into them) and p_wilcoxon.
    """
    rows = []
    for kind, reference, variables in (("ismn", "in situ (ISMN)", ISMN_VARIABLES),
                                       ("fluxnet", "flux towers (FLUXNET/WW2020)", FLUX_VARIABLES)):
        for var in variables:
            chosen = [r for r in site_rows if r[0] == kind and r[1] == var and r[3]]
            if not chosen:
                continue
            gids = np.array([r[2] for r in chosen], dtype=np.int64)
            ol = np.array([r[4]["OL"] for r in chosen], dtype=np.float64)
            for e in das:
                da = np.array([r[4].get(e, np.nan) for r in chosen], dtype=np.float64)
                _, da_cell, ol_cell, n_sites = metrics.paired_cell_means(gids, da, ol)
                delta = metrics.delta(da_cell, ol_cell)
                rows.append(dict(experiment=e, variable=var, reference=reference,
                                 median_delta_r_anom=metrics.spatial_median(delta),
                                 n=int(np.isfinite(delta).sum()), n_sites=int(n_sites.sum()),
                                 p_wilcoxon=metrics.wilcoxon_test(da_cell, ol_cell).pvalue))
    return rows


def table3_gridded_rows(cells: dict, common: np.ndarray, das) -> list[dict]:
    """Table 3's rows of X-BASE: median over the cells of the common mask of ΔR_anom, no test (paper 2.6).

    cells: (experiment, variable, "xbase_delta") -> ΔR_anom (n_cells,) of the whole domain;
    common: (n_cells,) bool.  ``n`` counts the cells with a value; there are no sites.
    """
    rows = []
    for var in FLUX_VARIABLES:
        for e in das:
            key = (e, var, "xbase_delta")
            if key in cells:
                v = cells[key][common]
                rows.append(dict(experiment=e, variable=var, reference="X-BASE (gridded)",
                                 median_delta_r_anom=metrics.spatial_median(v), n=int(np.isfinite(v).sum()),
                                 n_sites=None, p_wilcoxon=None))
    return rows


def _joined(gathered, order, pieces, fill) -> np.ndarray:
    """(n_cells,) of the whole domain in global cell-id order from one (n_local,) array per rank
    (``pieces``, in the order of ``gathered``; None: ``fill`` at that rank's cells)."""
    parts = [np.full(part["cell_ids"].size, fill) if v is None else np.asarray(v)
             for part, v in zip(gathered, pieces)]
    return np.concatenate(parts)[order]


def _domain(gathered) -> tuple[dict, np.ndarray, dict]:
    """The ranks' per-cell metrics, common mask and spread sums joined in global cell-id order, so
    that every sum over cells adds them in one order whatever the rank count."""
    order = np.argsort(np.concatenate([p["cell_ids"] for p in gathered]), kind="stable")
    keys = sorted({k for p in gathered for k in p["cell_rows"]})
    cells = {k: _joined(gathered, order, [p["cell_rows"].get(k) for p in gathered], np.nan) for k in keys}
    common = _joined(gathered, order, [p["common_mask"] for p in gathered], False).astype(bool)
    spread: dict[str, dict] = {}
    for e, v in sorted({(e, v) for p in gathered for e, per_var in p["spread"].items() for v in per_var}):
        pairs = [p["spread"].get(e, {}).get(v, (None, None)) for p in gathered]
        spread.setdefault(e, {})[v] = (_joined(gathered, order, [q[0] for q in pairs], 0.0),
                                       _joined(gathered, order, [q[1] for q in pairs], 0))
    return cells, common, spread


def _finish(cfg, comm, local, grid, runs, das, maps, cell_rows, site_rows, spread, common, root) -> dict:
    """Gather on rank 0, form the tables, write evaluation.json and evaluation.nc."""
    out_dir = root / "evaluation"
    gathered = comm.gather(dict(cell_ids=local.cell_ids, cell_rows=cell_rows, site_rows=site_rows, spread=spread,
                                common_mask=common), root=0)
    result = None
    if comm.rank == 0:
        cells, mask, spread_all = _domain(gathered)
        sites = [row for part in gathered for row in part["site_rows"]]
        table3 = table3_site_rows(sites, das) + table3_gridded_rows(cells, mask, das)
        table4 = table4_rows([(mask, spread_all)], das)
        truth_skill = []

        def median(key):        # over the common mask, as every evaluation of the paper (its section 2.6)
            return metrics.spatial_median(cells[key][mask])
        for e in das:
            for v in TRUTH_VARIABLES:
                if (e, v, "truth_rmse") in cells:
                    truth_skill.append(dict(
                        experiment=e, variable=v, rmse=median((e, v, "truth_rmse")),
                        rmse_ol=median(("OL", v, "truth_rmse")), r_anom=median((e, v, "truth_r_anom")),
                        r_anom_ol=median(("OL", v, "truth_r_anom"))))
        result = dict(table3=table3, table4=table4, truth_skill=truth_skill,
                      innovation_autocorrelation=innovation_autocorrelation_rows(cells, mask, das),
                      **beyond_results(cells, mask, root, das),
                      period=[str(runs.days[0]), str(runs.days[-1] + 1)], experiments=das,
                      common_mask_cells=int(mask.sum()),
                      sites={k: len({(r[2], r[5]) for r in sites if r[0] == k}) for k in ("ismn", "fluxnet")},
                      site_cells={k: len({r[2] for r in sites if r[0] == k}) for k in ("ismn", "fluxnet")})
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = out_dir / "evaluation.json.incomplete"
        tmp.write_text(json.dumps(_clean(result), indent=1))
        tmp.replace(out_dir / "evaluation.json")
    _write_maps(cfg, comm, local, maps, out_dir)
    return comm.bcast(result, root=0)


def _write_maps(cfg, comm, local, maps: dict[str, MapField], out_dir) -> None:
    """evaluation.nc (collective): every map any rank has, with its units and long name (NaN at the
    cells of a rank without it)."""
    meta = {}
    for part in comm.allgather({n: (m.units, m.long_name) for n, m in maps.items()}):
        meta.update(part)
    names = sorted(meta)
    variables = [Variable(n, meta[n][0], meta[n][1], dtype="f8", static=True) for n in names]
    attrs = standard_attributes(comm, "mpilda evaluation maps", cfg.to_ini())
    with GridWriter(out_dir / "evaluation.nc", local, comm, variables, start=cfg.time.start, n_times=0,
                    mode=resolve_io_mode(cfg.output.io_mode, comm), compression=cfg.output.compression,
                    attrs=attrs) as w:
        w.write_static({n: np.asarray(maps[n].values, dtype=np.float64) if n in maps
                        else np.full(local.n_cells, np.nan) for n in names})


def _clean(obj):
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj
