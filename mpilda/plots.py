"""Figures (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    """Lay out, write (creating the directory) and close a figure; returns its path."""
    plt = _pyplot()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def plot_decomposition(dec, path: str | Path) -> Path:
    """Map of the land tiles coloured by owning rank, over the coastline of the land mask."""
    plt = _pyplot()
    from matplotlib.colors import ListedColormap

    grid = dec.grid
    owner = dec.owner_map().astype(float)
    owner[owner < 0] = np.nan
    # Neighbouring ranks on the Hilbert curve are neighbours in space: shuffle colours so they differ.
    rng = np.random.default_rng(0)
    base = plt.get_cmap("tab20")(np.arange(20) % 20)
    colours = ListedColormap(base[rng.permutation(np.arange(max(dec.n_ranks, 1)) % 20)])
    half = grid.resolution / 2
    extent = (grid.lon[0] - half, grid.lon[-1] + half, grid.lat[0] - half, grid.lat[-1] + half)
    fig, ax = plt.subplots(figsize=(8, 8 * grid.shape[0] / max(grid.shape[1], 1) + 0.8))
    ax.imshow(owner, origin="lower", extent=extent, cmap=colours, interpolation="nearest",
              vmin=-0.5, vmax=dec.n_ranks - 0.5)
    ax.contour(grid.lon, grid.lat, grid.land.astype(float), levels=[0.5], colors="k", linewidths=0.5)
    s = dec.summary()
    ax.set_title(f"{s['ranks']} ranks, {s['tiles']} tiles of {dec.tile_size}x{dec.tile_size} cells, "
                 f"{s['land_cells']} land cells\nland cells per rank {s['min_cells']}..{s['max_cells']}, "
                 f"imbalance max/mean {s['imbalance']:.3f}")
    ax.set_xlabel("longitude [degrees east]")
    ax.set_ylabel("latitude [degrees north]")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def map_panels(grid, panels, path: str | Path, title: str, ncols: int = 3) -> Path:
    """Maps of per-cell fields on the model grid, with coastlines and colour bars.

    ``panels``: list of (values (ny, nx) NaN over sea, title, units, colormap, (vmin, vmax) or None).
    """
    plt = _pyplot()
    half = grid.resolution / 2
    extent = (grid.lon[0] - half, grid.lon[-1] + half, grid.lat[0] - half, grid.lat[-1] + half)
    nrows = -(-len(panels) // ncols)
    aspect = grid.shape[0] / max(grid.shape[1], 1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 4.2 * nrows * min(max(aspect, 0.5), 2.0) + 0.6),
                             squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for ax, (values, label, unit, cmap, lim) in zip(axes.ravel(), panels):
        im = ax.imshow(values, origin="lower", extent=extent, cmap=cmap, aspect="auto",
                       vmin=None if lim is None else lim[0], vmax=None if lim is None else lim[1],
                       interpolation="nearest")
        ax.contour(grid.lon, grid.lat, grid.land.astype(float), levels=[0.5], colors="k", linewidths=0.4)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("longitude [degrees east]")
        ax.set_ylabel("latitude [degrees north]")
        fig.colorbar(im, ax=ax, label=unit, shrink=0.85)
    fig.suptitle(title)
    return _save(fig, path)


def plot_vod_calibration(table: str | Path, path: str | Path, grid) -> Path:
    """The paper's Fig. 2: R2, RMSE and R_anom of the VOD operator on left-out retrievals, and the mask."""
    import xarray as xr

    with xr.open_dataset(table) as ds:
        r2, rmse, ranom = ds.r2.values, ds.rmse.values, ds.r_anom.values
        mask = np.where(np.isnan(r2) & ~grid.land, np.nan, ds["mask"].values.astype(float))
    panels = [(r2, "R$^2$ of the VOD operator", "-", "viridis", (0, 1)),
              (rmse, "RMSE of the VOD operator", "-", "magma_r", (0, 0.12)),
              (ranom, "R$_{anom}$ of the VOD operator", "-", "RdBu_r", (-1, 1)),
              (np.where(grid.land, mask, np.nan), "VOD mask (1: not assimilated)", "-", "Greys", (0, 1))]
    return map_panels(grid, panels, path, "VOD observation operator on retrievals left out of the fit (cf. paper "
                                          "Fig. 2)", ncols=2)


def plot_innovation_autocorrelation(rows, path: str | Path) -> Path | None:
    """Lagged autocorrelation of the innovations vs lag, one panel per sensor, a line per experiment
    (cf. the paper's Figs. S17/S19).

    ``rows``: evaluation.json's ``innovation_autocorrelation`` (dicts of experiment, sensor, lag_days,
    autocorrelation (median over cells), autocorrelation_q25/_q75, n_cells; None where undefined).
    The quartiles over cells are drawn as a band; lags without a value are left out (markers show
    isolated lags, e.g. of the 10-daily LAI).  Returns None when no row has a value.
    """
    sensors = [s for s in ("smap", "lai", "vod") if any(r["sensor"] == s for r in rows)]
    if not any(r.get("autocorrelation") is not None for r in rows):
        return None
    plt = _pyplot()
    colours = {e: f"C{k}" for k, e in enumerate(dict.fromkeys(r["experiment"] for r in rows))}  # one per experiment
    low = min([-0.5] + [r["autocorrelation_q25"] for r in rows if r.get("autocorrelation_q25") is not None])
    fig, axes = plt.subplots(1, len(sensors), figsize=(4.4 * len(sensors), 3.8), squeeze=False, sharey=True)
    for ax, s in zip(axes[0], sensors):
        for e in dict.fromkeys(r["experiment"] for r in rows if r["sensor"] == s):
            got = [r for r in rows if r["sensor"] == s and r["experiment"] == e
                   and r.get("autocorrelation") is not None]
            if not got:
                continue
            lag = np.array([r["lag_days"] for r in got], dtype=float)
            med = np.array([r["autocorrelation"] for r in got], dtype=float)
            ax.plot(lag, med, marker="o", ms=3, lw=1.2, color=colours[e],
                    label=f"{e} ({got[0]['n_cells']} cells at lag {int(lag[0])})")
            lo = np.array([np.nan if r.get("autocorrelation_q25") is None else r["autocorrelation_q25"]
                           for r in got], dtype=float)
            hi = np.array([np.nan if r.get("autocorrelation_q75") is None else r["autocorrelation_q75"]
                           for r in got], dtype=float)
            ax.fill_between(lag, lo, hi, color=colours[e], alpha=0.15, lw=0)
        ax.axhline(0, color="k", lw=0.5)
        ax.set_xlim(0.5, 10.5)
        ax.set_ylim(low - 0.05, 1.0)
        ax.set_xlabel("lag [days]")
        ax.set_title(f"{s.upper()} innovations O − F", fontsize=10)
        ax.legend(fontsize=7)
    axes[0, 0].set_ylabel("autocorrelation [-]\n(median over cells, quartile band)")
    fig.suptitle("Lagged autocorrelation of the total error (cf. paper Figs. S17/S19)")
    return _save(fig, path)
