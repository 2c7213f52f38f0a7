"""The ``rescale`` and ``calibrate-vod`` commands: tables from an open-loop run and the observations.

Each rank fits the tables of its own cells (CDF matching, seasonal LAI
statistics, the VOD operator) and the tables are written with the parallel CF
writer on the model grid:

* ``cdf_smap.nc``: obs_knots, model_knots (month, percentile, lat, lon), count (month, lat, lon);
  or, with ``[obs.smap] rescale = mean``, ``smap_mean_offset.nc``: offset, count (lat, lon);
  or, with ``rescale = seasonal``, ``smap_seasonal_cycle.nc``: obs_clim, model_clim, count (day, lat, lon);
* ``lai_rescaling.nc``: obs_clim, obs_std, model_clim, model_std (day, lat, lon);
* ``vod_calibration.nc``: alpha, beta0..beta3, r2, rmse, r_anom, mask, n_fit, n_eval (lat, lon)
  and clim_vod, clim_lai, clim_rzsm (day, lat, lon); ``vod_calibration.png`` (the paper's Fig. 2).

The loaders at the end give a DA run its rank's part of each table.
"""

from __future__ import annotations

import json

import numpy as np

from ..climatology import DAYS, day_slot
from ..config import Config
from ..errors import InputError
from ..grid import Grid
from ..log import log
from ..output import GridWriter, Variable, read_cells, resolve_io_mode, standard_attributes
from ..parallel import Decomposition, LocalDomain
from .calibration import VodCalibration, calibrate
from .operators import VodOperator
from .rescale import PERCENTILES, CdfMatching, MeanOffset, SeasonalCycleOffset, SeasonalRescaling, daily_pairs
from .sources import ModelSeries, read_period

CDF_FILE, MEAN_FILE, SEASONAL_FILE = "cdf_smap.nc", "smap_mean_offset.nc", "smap_seasonal_cycle.nc"
LAI_FILE, VOD_FILE = "lai_rescaling.nc", "vod_calibration.nc"
_COORDS = {"month": (np.arange(1, 13, dtype=np.int32), {"long_name": "calendar month (1-12)", "units": "1"}),
           "percentile": (PERCENTILES.astype(np.float64), {"long_name": "percentile", "units": "%"}),
           # the climatology slot of mpilda.climatology.day_slot plus one; a label, not a time: units "1"
           # (units "days" would make CF readers take it for a duration)
           "day": (np.arange(1, DAYS + 1, dtype=np.int32),
                   {"long_name": f"day of year (1-{DAYS} climatology slot; 29 February shares 28 February's slot)",
                    "units": "1"})}


class _Context:
    def __init__(self, cfg: Config, comm):
        self.cfg, self.comm = cfg, comm
        grid = Grid.from_config(cfg.domain)
        self.local: LocalDomain = Decomposition.build(grid, cfg.domain.tile_size, comm.size).local(comm.rank)
        self.mode = resolve_io_mode(cfg.output.io_mode, comm)
        self.start, self.end = cfg.climatology_period
        self.out = cfg.tables_directory
        self._ol: ModelSeries | None = None

    @property
    def ol(self) -> ModelSeries:
        """The open loop's daily series (opened when first needed: the VOD calibration may use another run)."""
        if self._ol is None:
            self._ol = ModelSeries(self.cfg.assimilation.ol_directory, self.local)
        return self._ol

    def write(self, name: str, title: str, variables, fields, dims) -> None:
        attrs = standard_attributes(self.comm, f"mpilda {title}", self.cfg.to_ini())
        with GridWriter(self.out / name, self.local, self.comm, variables, start=self.start, n_times=0,
                        dims=dims, coords={d: _COORDS[d] for d in dims}, mode=self.mode,
                        compression=self.cfg.output.compression, attrs=attrs) as w:
            w.write_static(fields)

    def period_days(self, series: ModelSeries | None = None):
        """First and last (exclusive) day numbers of the climatology period in the days of ``series``
        (default: the open loop)."""
        series = series or self.ol
        first = (self.start - series.start).days
        last = (self.end - series.start).days
        return first, last


def _counts(comm, local_counts: dict[str, int]) -> dict[str, int]:
    return {k: int(comm.allreduce(int(v))) for k, v in local_counts.items()}


def make_rescaling(cfg: Config, comm, summary_file: str = "rescaling.json") -> dict:
    """The rescaling tables of SMAP (``[obs.smap] rescale``: monthly CDF matching, a mean offset, or the
    mean seasonal cycles) and the seasonal rescaling of LAI (``[obs.lai] rescale``), for the cells of
    every rank (collective); their summary goes to ``summary_file`` in the tables directory."""
    ctx = _Context(cfg, comm)
    summary = {}
    if cfg.obs_smap.rescale != "no":
        summary["smap"] = _smap_rescaling(cfg, comm, ctx)
    if cfg.obs_lai.rescale:
        summary["lai"] = _lai_rescaling(cfg, comm, ctx)
    summary["period"] = [f"{ctx.start:%Y-%m-%d}", f"{ctx.end:%Y-%m-%d}"]
    if comm.rank == 0:
        ctx.out.mkdir(parents=True, exist_ok=True)
        (ctx.out / summary_file).write_text(json.dumps(summary, indent=1))
        log.info("rescaling tables in %s: %s", ctx.out, summary)
    return summary


def _smap_rescaling(cfg: Config, comm, ctx: "_Context") -> dict:
    """SMAP against the SM1 of the rescaling run at the observation times: CDF matching per calendar
    month (cdf_smap.nc), a mean offset per cell (smap_mean_offset.nc) or the mean seasonal cycles
    (smap_seasonal_cycle.nc)."""
    n = ctx.local.n_cells
    series = ctx.ol if cfg.obs_smap.rescale_directory is None else \
        ModelSeries(cfg.obs_smap.rescale_directory, ctx.local)
    obs = read_period(cfg, "smap", ctx.local, ctx.start, ctx.end)
    obs = obs.select(obs.usable)
    day = series.day_index(obs.time)
    first, last = ctx.period_days(series)
    inside = (day >= first) & (day < last)
    obs, day = obs.select(inside), day[inside]
    over = series.at_overpass(["sm1_0600", "sm1_1800"])
    if over is not None:
        asc = obs.extra["direction"] == "A"
        model = np.where(asc, over["sm1_1800"][day, obs.cell], over["sm1_0600"][day, obs.cell])
    else:
        model = series.daily(["sm1"])["sm1"][day, obs.cell]
    if cfg.obs_smap.rescale == "seasonal":
        return _smap_seasonal(cfg, comm, ctx, series, obs.value, model, day, obs.cell)
    if cfg.obs_smap.rescale == "mean":
        table = MeanOffset.fit(obs.value, model, obs.cell, n, cfg.obs_smap.min_cdf_samples)
        ctx.write(MEAN_FILE, "per-cell mean offset of SMAP SSM to the model's SM1", [
            Variable("offset", "m3 m-3", "mean model SM1 minus mean SMAP SSM at the SMAP times", dtype="f8",
                     static=True),
            Variable("count", "1", "SMAP/model pairs", dtype="i4", static=True)],
            dict(offset=table.offset, count=table.count.astype(np.int32)), {})
        return _counts(comm, dict(pairs=obs.value.size, robust_cells=table.robust().sum(), cells=n))
    month = obs.time.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    cdf = CdfMatching.fit(obs.value, model, month, obs.cell, n, cfg.obs_smap.min_cdf_samples)
    pct = ("month", "percentile")
    ctx.write(CDF_FILE, "monthly CDF matching of SMAP SSM to the model's SM1", [
        Variable("obs_knots", "m3 m-3", "SMAP SSM percentiles", dtype="f8", extra=pct, static=True),
        Variable("model_knots", "m3 m-3", "model SM1 percentiles at the SMAP times", dtype="f8", extra=pct,
                 static=True),
        Variable("count", "1", "SMAP/model pairs", dtype="i4", extra=("month",), static=True)],
        dict(obs_knots=cdf.obs_knots, model_knots=cdf.model_knots, count=cdf.count.astype(np.int32)),
        {"month": 12, "percentile": PERCENTILES.size})
    return _counts(comm, dict(pairs=obs.value.size, robust_cell_months=cdf.robust().sum(), cell_months=12 * n))


def _smap_seasonal(cfg: Config, comm, ctx: "_Context", series: ModelSeries, obs, model, day, cell) -> dict:
    """The mean seasonal cycles of SMAP and of the model's SM1 at the SMAP times (smap_seasonal_cycle.nc).

    ``obs``, ``model`` (n,) [m3 m-3]: the pairs of the period; ``day`` (n,): their day in ``series``;
    ``cell`` (n,): their local cell.  The pairs are averaged per day and cell, and the cycles are the
    moving-window climatology of those daily series (``[assimilation] climatology_window``), as for
    R_anom.
    """
    n = ctx.local.n_cells
    first, last = ctx.period_days(series)
    pairs_o, pairs_m = daily_pairs(obs, model, day - first, cell, last - first, n)
    slots = day_slot(np.datetime64(series.start.date()) + np.arange(first, last))
    table = SeasonalCycleOffset.fit(pairs_o, pairs_m, slots, cfg.assimilation.climatology_window,
                                    cfg.obs_smap.min_cdf_samples)
    d = ("day",)
    ctx.write(SEASONAL_FILE, "seasonal-cycle rescaling of SMAP SSM to the model's SM1 (Kwon et al. 2022)", [
        Variable("obs_clim", "m3 m-3", "mean seasonal cycle of the daily SMAP SSM (days with a model pair)",
                 dtype="f8", extra=d, static=True),
        Variable("model_clim", "m3 m-3", "mean seasonal cycle of the model SM1 at the SMAP times", dtype="f8",
                 extra=d, static=True),
        Variable("count", "1", "days with a SMAP/model pair in the day's climatology window (all years)",
                 dtype="i4", extra=d, static=True)],
        dict(obs_clim=table.obs_clim, model_clim=table.model_clim, count=table.count.astype(np.int32)),
        {"day": DAYS})
    return _counts(comm, dict(pairs=obs.size, days_with_pairs=np.isfinite(pairs_o).sum(),
                              robust_cell_slots=table.robust().sum(), cell_slots=DAYS * n))


def _lai_rescaling(cfg: Config, comm, ctx: "_Context") -> dict:
    """LAI against the open loop's daily LAI: seasonal mean and anomaly std (lai_rescaling.nc)."""
    n = ctx.local.n_cells
    first, last = ctx.period_days()
    lai = read_period(cfg, "lai", ctx.local, ctx.start, ctx.end)
    lai = lai.select(lai.usable)
    dates = lai.time.astype("datetime64[s]").astype("datetime64[D]")
    uniq, which = np.unique(dates, return_inverse=True)
    series = np.full((uniq.size, n), np.nan)
    series[which, lai.cell] = lai.value
    model = ctx.ol.daily(["lai"])["lai"][first:last]
    model_days = np.datetime64(ctx.start.date()) + np.arange(model.shape[0])
    table = SeasonalRescaling.fit(series, day_slot(uniq), model, day_slot(model_days),
                                  cfg.assimilation.climatology_window)
    d = ("day",)
    ctx.write(LAI_FILE, "seasonal rescaling of CGLS LAI to the model (Scherrer et al. 2023)", [
        Variable("obs_clim", "m2 m-2", "mean seasonal cycle of the LAI observations", dtype="f8", extra=d,
                 static=True),
        Variable("obs_std", "m2 m-2", "anomaly standard deviation of the LAI observations", dtype="f8", extra=d,
                 static=True),
        Variable("model_clim", "m2 m-2", "mean seasonal cycle of the model LAI", dtype="f8", extra=d, static=True),
        Variable("model_std", "m2 m-2", "anomaly standard deviation of the model LAI", dtype="f8", extra=d,
                 static=True)],
        dict(obs_clim=table.obs_clim, obs_std=table.obs_std, model_clim=table.model_clim,
             model_std=table.model_std), {"day": DAYS})
    return _counts(comm, dict(observations=lai.value.size,
                              cells_with_statistics=np.isfinite(table.obs_clim).any(axis=0).sum()))


def calibrate_vod(cfg: Config, comm) -> dict:
    """Fit and evaluate the VOD operator per cell (collective); writes vod_calibration.nc and the Fig. 2 maps."""
    ctx = _Context(cfg, comm)
    n = ctx.local.n_cells
    # the run whose states the operator is fitted to: the open loop, or [obs.vod] calibration_directory
    # (then the open loop is not needed: the twin runs it beside the DA experiments)
    states = ctx.ol if cfg.obs_vod.calibration_directory is None else \
        ModelSeries(cfg.obs_vod.calibration_directory, ctx.local)
    first, last = ctx.period_days(states)
    where = cfg.obs_vod.calibration_directory or cfg.assimilation.ol_directory
    if first < 0:
        raise InputError(f"{where}: its run starts {states.start:%Y-%m-%d}, after the start of the calibration "
                         f"period {ctx.start:%Y-%m-%d} ([assimilation] climatology_start)")
    obs = read_period(cfg, "vod", ctx.local, ctx.start, ctx.end)
    obs = obs.select(obs.usable)
    day = states.day_index(obs.time)
    inside = (day >= first) & (day < last)
    obs, day = obs.select(inside), day[inside] - first
    n_days = last - first
    over = states.at_overpass(["lai_0130", "rzsm_0130"])
    if over is not None:
        lai, rz = over["lai_0130"][first:last], over["rzsm_0130"][first:last]
    else:
        daily = states.daily(["lai", "rzsm"])
        lai, rz = daily["lai"][first:last], daily["rzsm"][first:last]
    if lai.shape[0] < n_days:
        raise InputError(f"{where}: its run ends before the end of the calibration period {ctx.end:%Y-%m-%d} "
                         f"([assimilation] climatology_end)")
    vod = np.full((n_days, n), np.nan)
    vod[day, obs.cell] = obs.value
    slots = day_slot(np.datetime64(ctx.start.date()) + np.arange(n_days))
    v = cfg.obs_vod
    cal = calibrate(vod, lai, rz, slots, np.arange(n_days), cfg.assimilation.climatology_window,
                    holdout_every=v.holdout_every, r2_threshold=v.r2_threshold, rmse_threshold=v.rmse_threshold,
                    rule=v.mask_rule)
    d = ("day",)
    static = [Variable(name, "1", long, dtype="f8", static=True) for name, long in (
        ("alpha", "VOD per unit LAI anomaly (eq. 1)"), ("beta0", "beta constant (eq. 2)"),
        ("beta1", "beta LAI term (eq. 2)"), ("beta2", "beta RZSM term (eq. 2)"),
        ("beta3", "beta RZSM x LAI term (eq. 2)"), ("r2", "coefficient of determination on left-out retrievals"),
        ("rmse", "RMSE on left-out retrievals"), ("r_anom", "anomaly correlation on left-out retrievals"))]
    static += [Variable("mask", "1", "1: the operator fits poorly, VOD is not assimilated", dtype="i4", static=True),
               Variable("n_fit", "1", "retrievals in the fit", dtype="i4", static=True),
               Variable("n_eval", "1", "left-out retrievals", dtype="i4", static=True)]
    cycles = [Variable("clim_vod", "1", "mean seasonal cycle of the VOD retrievals", dtype="f8", extra=d, static=True),
              Variable("clim_lai", "m2 m-2", "mean seasonal cycle of the model LAI", dtype="f8", extra=d, static=True),
              Variable("clim_rzsm", "m3 m-3", "mean seasonal cycle of the model RZSM", dtype="f8", extra=d,
                       static=True)]
    fields = dict(alpha=cal.alpha, beta0=cal.beta[0], beta1=cal.beta[1], beta2=cal.beta[2], beta3=cal.beta[3],
                  r2=cal.r2, rmse=cal.rmse, r_anom=cal.r_anom, mask=cal.mask.astype(np.int32),
                  n_fit=cal.n_fit.astype(np.int32), n_eval=cal.n_eval.astype(np.int32),
                  clim_vod=cal.clim_vod, clim_lai=cal.clim_lai, clim_rzsm=cal.clim_rzsm)
    ctx.write(VOD_FILE, "calibration of the VOD observation operator (paper eq. 1-2)", static + cycles, fields,
              {"day": DAYS})
    summary = _vod_summary(cfg, comm, ctx, cal)
    if comm.rank == 0:
        from ..plots import plot_vod_calibration

        summary["figure"] = str(plot_vod_calibration(ctx.out / VOD_FILE, ctx.out / "vod_calibration.png",
                                                     Grid.from_config(cfg.domain)))
        (ctx.out / "vod_calibration.json").write_text(json.dumps(summary, indent=1))
        log.info("VOD calibration in %s: %s", ctx.out / VOD_FILE, summary)
    return summary


def _vod_summary(cfg, comm, ctx, cal: VodCalibration) -> dict:
    """Medians of the fit metrics over the domain, and, on the synthetic world, the match to the true relation."""
    parts = comm.gather(dict(r2=cal.r2, rmse=cal.rmse, r_anom=cal.r_anom, mask=cal.mask, coef=cal.coef,
                             ids=ctx.local.cell_ids), root=0)
    if comm.rank != 0:
        return {}
    get = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    out = {k: float(np.nanmedian(get[k])) for k in ("r2", "rmse", "r_anom")}
    out.update(cells=int(get["mask"].size), masked_fraction=float(get["mask"].mean()))
    truth_file = cfg.synthetic.directory / "obs" / "vod_true_coefficients.nc"
    if truth_file.exists():
        from ..obs.synthetic import true_vod_coefficients

        true = true_vod_coefficients(cfg.random.seed, get["ids"]).T
        fit = get["coef"]
        ok = np.all(np.isfinite(fit), axis=1)
        out["truth_comparison"] = dict(
            note="the calibration uses the LAI and RZSM of " + (
                f"the run in {cfg.obs_vod.calibration_directory}" if cfg.obs_vod.calibration_directory else
                "the open loop, which differ from the truth's"),
            alpha_correlation=float(np.corrcoef(fit[ok, 0], true[ok, 0])[0, 1]),
            alpha_median_ratio=float(np.median(fit[ok, 0] / true[ok, 0])))
    return out


# --- loaders for DA runs ------------------------------------------------------------------------

def load_smap_rescaling(cfg: Config, local: LocalDomain) -> CdfMatching | MeanOffset | SeasonalCycleOffset:
    """The SMAP rescaling of ``[obs.smap] rescale`` (cdf, mean or seasonal) at a rank's cells."""
    if cfg.obs_smap.rescale == "seasonal":
        t = read_cells(cfg.tables_directory / SEASONAL_FILE, ["obs_clim", "model_clim", "count"], local)
        return SeasonalCycleOffset(t["obs_clim"], t["model_clim"], t["count"].astype(np.int64),
                                   cfg.obs_smap.min_cdf_samples)
    if cfg.obs_smap.rescale == "mean":
        t = read_cells(cfg.tables_directory / MEAN_FILE, ["offset", "count"], local)
        return MeanOffset(t["offset"], t["count"].astype(np.int64), cfg.obs_smap.min_cdf_samples)
    t = read_cells(cfg.tables_directory / CDF_FILE, ["obs_knots", "model_knots", "count"], local)
    return CdfMatching(t["obs_knots"], t["model_knots"], t["count"].astype(np.int64), cfg.obs_smap.min_cdf_samples)


def load_lai_rescaling(cfg: Config, local: LocalDomain) -> SeasonalRescaling:
    t = read_cells(cfg.tables_directory / LAI_FILE, ["obs_clim", "obs_std", "model_clim", "model_std"], local)
    return SeasonalRescaling(t["obs_clim"], t["obs_std"], t["model_clim"], t["model_std"])


def load_vod_operator(cfg: Config, local: LocalDomain) -> tuple[VodOperator, np.ndarray]:
    """The operator of the rank's cells and its mask (True: do not assimilate)."""
    names = ["alpha", "beta0", "beta1", "beta2", "beta3", "mask", "clim_vod", "clim_lai", "clim_rzsm"]
    t = read_cells(cfg.tables_directory / VOD_FILE, names, local)
    coef = np.stack([t[k] for k in names[:5]], axis=1)
    mask = (t["mask"] != 0) | ~np.all(np.isfinite(coef), axis=1)
    return VodOperator(np.nan_to_num(coef), t["clim_vod"], t["clim_lai"], t["clim_rzsm"]), mask


def load_vod_rmse(cfg: Config, local: LocalDomain) -> np.ndarray:
    """The VOD operator's RMSE on held-out weeks (n_cells,) at a rank's cells (NaN where not evaluated)."""
    return read_cells(cfg.tables_directory / VOD_FILE, ["rmse"], local)["rmse"]
