"""Figures (matplotlib, no screen needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
