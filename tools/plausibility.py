#!/usr/bin/env python
"""Plausibility of a model run on the synthetic world: a JSON summary and a figure.

    python tools/plausibility.py CONFIG [--json]

Reads ``daily_mean.nc`` of the run of CONFIG and the land-cover map, and checks
the targets of the land-surface-model issue against independent expectations:

* annual ET / P between 0.3 and 1.0 where P > 300 mm;
* peak-month GPP of forests (classes 1-5) and crops (12, 14) 5-15 g C m-2 d-1;
* the seasonal amplitude of LAI by class next to the range of Noah-MP's own
  monthly LAI climatology (MPTABLE LAI_JAN..LAI_DEC);
* soil moisture always within [air-dry, porosity] of each cell's soil class.

Writes ``plausibility.json`` and ``plausibility.png`` into the run's output directory.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

SECONDS_PER_DAY = 86400.0


def _class_maps(cfg, grid):
    from mpilda.landscape import read_class_map

    lat, lon = np.meshgrid(grid.lat, grid.lon, indexing="ij")
    land = grid.land
    lc = np.zeros(grid.shape, dtype=int)
    soil = np.zeros(grid.shape, dtype=int)
    lc[land] = read_class_map(cfg.landcover_file, "landcover", lat[land], lon[land], 20)
    soil[land] = read_class_map(cfg.soil_file, "soil", lat[land], lon[land], 19)
    return lc, soil


def summarise(cfg) -> dict:
    import xarray as xr

    from mpilda.grid import Grid
    from mpilda.landscape import LANDCOVER_CLASSES
    from mpilda.model.parameters import read_mptable, read_soilparm

    grid = Grid.from_config(cfg.domain)
    lc, soil = _class_maps(cfg, grid)
    veg, soiltab = read_mptable(), read_soilparm()
    land = grid.land
    with xr.open_dataset(cfg.output.directory / "daily_mean.nc") as ds:
        years = ds.time.dt.year.values
        full_years = [y for y in np.unique(years) if (years == y).sum() >= 365]
        sel = np.isin(years, full_years)
        p = ds.precip.values[sel] * SECONDS_PER_DAY          # mm/day
        et = ds.et.values[sel] * SECONDS_PER_DAY
        n_years = len(full_years)
        p_year = p.sum(axis=0) / n_years
        et_year = et.sum(axis=0) / n_years
        gpp_month = ds.gpp.resample(time="1MS").mean().values * SECONDS_PER_DAY * 1000.0   # g C m-2 d-1
        lai_month = ds.lai.resample(time="1MS").mean().values
        sm = np.stack([ds[f"sm{k}"].values for k in range(1, 5)])
        lai_mean = ds.lai.values.mean(axis=0)
        sm1_mean = ds.sm1.values.mean(axis=0)
    out = {"run": str(cfg.output.directory), "years": [int(y) for y in full_years],
           "land_cells": int(land.sum()), "checks": {}}
    wet = land & (p_year > 300.0)
    ratio = et_year[wet] / p_year[wet]
    out["checks"]["et_over_p_where_p_gt_300mm"] = dict(
        target=[0.3, 1.0], cells=int(wet.sum()), fraction_in_target=float(np.mean((ratio >= 0.3) & (ratio <= 1.0))),
        p5_p50_p95=[float(np.percentile(ratio, q)) for q in (5, 50, 95)])
    peak = np.nanmax(gpp_month, axis=0)
    groups = {"forests (1-5)": np.isin(lc, [1, 2, 3, 4, 5]), "crops (12, 14)": np.isin(lc, [12, 14])}
    out["checks"]["peak_month_gpp_g_c_m2_d"] = {
        name: dict(target=[5.0, 15.0], cells=int((m & land).sum()),
                   fraction_in_target=float(np.mean((peak[m & land] >= 5) & (peak[m & land] <= 15))),
                   p5_p50_p95=[float(np.percentile(peak[m & land], q)) for q in (5, 50, 95)])
        for name, m in groups.items() if (m & land).any()}
    amp_model = np.nanmax(lai_month, axis=0) - np.nanmin(lai_month, axis=0)
    by_class = {}
    for k in np.unique(lc[land]):
        m = land & (lc == k)
        table = veg.lai[:, k - 1]
        by_class[f"{k} {LANDCOVER_CLASSES[int(k)]}"] = dict(
            cells=int(m.sum()), model_amplitude_p50=float(np.median(amp_model[m])),
            model_mean_lai=float(np.mean(lai_mean[m])), table_amplitude=float(table.max() - table.min()),
            table_range=[float(table.min()), float(table.max())])
    out["checks"]["lai_seasonal_amplitude_by_class"] = by_class
    smin = soiltab.params["DRYSMC"][soil - 1]
    smax = soiltab.params["MAXSMC"][soil - 1]
    low = np.nanmin(sm, axis=1)
    high = np.nanmax(sm, axis=1)
    inside = (low >= smin[None] - 1e-6) & (high <= smax[None] + 1e-6)
    out["checks"]["soil_moisture_within_dry_and_porosity"] = dict(
        fraction_of_cell_layers=float(inside[:, land].mean()),
        worst_below_dry=float(np.max(smin[None] - low, where=land[None], initial=-1)),
        worst_above_porosity=float(np.max(high - smax[None], where=land[None], initial=-1)))
    out["figure"] = str(_figure(cfg, grid, p_year, et_year, peak, lai_mean, sm1_mean, lc))
    return out


def _figure(cfg, grid, p_year, et_year, peak_gpp, lai_mean, sm1_mean, lc) -> Path:
    from mpilda.plots import _pyplot

    plt = _pyplot()
    land = grid.land
    half = grid.resolution / 2
    extent = (grid.lon[0] - half, grid.lon[-1] + half, grid.lat[0] - half, grid.lat[-1] + half)
    panels = [(p_year, "annual precipitation", "mm yr-1", "YlGnBu", None),
              (et_year, "annual evapotranspiration", "mm yr-1", "YlGnBu", None),
              (np.where(p_year > 0, et_year / np.maximum(p_year, 1e-9), np.nan), "ET / P", "-", "RdYlBu_r", (0, 1.2)),
              (peak_gpp, "peak-month GPP", "g C m-2 d-1", "YlGn", (0, 16)),
              (lai_mean, "mean LAI", "m2 m-2", "YlGn", None),
              (sm1_mean, "mean surface soil moisture", "m3 m-3", "BrBG", None)]
    ratio = (grid.shape[0] / max(grid.shape[1], 1))
    fig, axes = plt.subplots(2, 3, figsize=(13, 2 * 3.8 * min(max(ratio, 0.5), 2.5)))
    for ax, (values, title, unit, cmap, lim) in zip(axes.ravel(), panels):
        shown = np.where(land, values, np.nan)
        im = ax.imshow(shown, origin="lower", extent=extent, cmap=cmap, aspect="auto",
                       vmin=None if lim is None else lim[0], vmax=None if lim is None else lim[1])
        ax.contour(grid.lon, grid.lat, land.astype(float), levels=[0.5], colors="k", linewidths=0.4)
        ax.set_title(title)
        ax.set_xlabel("longitude [degrees east]")
        ax.set_ylabel("latitude [degrees north]")
        fig.colorbar(im, ax=ax, label=unit)
    fig.suptitle(f"mpilda {cfg.experiment.name} run on the synthetic world: {cfg.output.directory.name}")
    fig.tight_layout(rect=(0, 0, 1, 0.97))      # room for the title above the top row
    path = cfg.output.directory / "plausibility.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from mpilda.config import load_config

    cfg = load_config(args.config)
    result = summarise(cfg)
    (cfg.output.directory / "plausibility.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
