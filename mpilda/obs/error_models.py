"""Observation error models: each cell's configured error standard deviation of a sensor.

``[obs.<sensor>] error`` chooses it:

* ``constant``: ``error_std`` in every cell (the paper);
* ``map``: the variable ``error_std`` of the netCDF map ``error_file``, at the rank's land cells; a
  missing, non-finite or non-positive value at a land cell is an error naming the file, the variable,
  the value and the point;
* ``operator`` (VOD only): the VOD operator's RMSE on held-out weeks (``rmse`` of vod_calibration.nc,
  the paper's Fig. 2), at least ``error_std``: max(rmse, error_std); a cell without an evaluated RMSE
  (no held-out retrievals, NaN) keeps ``error_std``.

This is the R of the analyses unless ``[obs.<sensor>] adaptive`` re-estimates it
(:mod:`mpilda.obs.adaptive`, which starts from it).
"""

from __future__ import annotations

import numpy as np

#: The units of each sensor's observations (and error standard deviations).
UNITS = {"smap": "m3 m-3", "lai": "m2 m-2", "vod": "1"}


def operator_error_std(rmse: np.ndarray, floor: float) -> np.ndarray:
    """(n_cells,) error std [VOD units] from the operator's held-out RMSE (n_cells,): max(rmse, floor);
    a NaN RMSE gives ``floor``."""
    return np.fmax(np.asarray(rmse, dtype=np.float64), float(floor))


def read_error_map(path, lat: np.ndarray, lon: np.ndarray, units: str, key: str) -> np.ndarray:
    """The map's ``error_std`` (n_cells,) at the cells ``lat``, ``lon`` [degrees] (the file's layout as
    :func:`mpilda.landscape.read_class_map`).

    Raises InputError naming the file, the variable, the first bad value and its point, and ``key`` (the
    config key that named the file) for an unreadable file, a missing variable or cell, or a value that
    is missing (fill), not finite or not positive at one of the cells.
    """
    from ..landscape import _map_values, _reject

    raw, fill, want_lat, want_lon = _map_values(path, "error_std", lat, lon)
    with np.errstate(invalid="ignore"):
        bad = fill | ~np.isfinite(raw) | ~(raw > 0.0)
    _reject(path, "error_std", raw, fill, bad, want_lat, want_lon,
            f"expected a positive, finite observation error standard deviation [{units}] at every land cell "
            f"({key})")
    return raw.astype(np.float64).reshape(np.shape(lat))


def configured_error_std(cfg, sensor: str, local) -> np.ndarray:
    """The configured error std (n_cells,) [sensor units] of ``sensor`` at the cells of ``local``
    (a LocalDomain), per ``[obs.<sensor>] error``."""
    section = getattr(cfg, f"obs_{sensor}")
    if section.error == "map":
        return read_error_map(section.error_file, local.lat, local.lon, UNITS[sensor],
                              f"[obs.{sensor}] error = map, error_file = {section.error_file}")
    if section.error == "operator":
        from .tables import load_vod_rmse

        return operator_error_std(load_vod_rmse(cfg, local), section.error_std)
    return np.full(local.n_cells, section.error_std)
