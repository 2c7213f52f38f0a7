"""Beyond the paper: the remedies its discussion proposes, run as variants of its DA experiments.

``[twin] beyond`` names options (``name`` or ``name=value``); each runs every DA
experiment of ``[twin] experiments`` that assimilates the option's sensor once more
with the option on, everything else as the paper's setting (the baseline: the same
experiment of the twin).  The options (paper sections 4.1-4.2):

* ``vod_error_operator``: VOD error std per cell from the operator's held-out RMSE
  (``[obs.vod] error = operator``, 4.2.3);
* ``adaptive_error``: the Desroziers et al. (2005) estimate of R per cell for every
  sensor the experiment assimilates (``[obs.<sensor>] adaptive = desroziers``, 4.1.1);
* ``vod_thinning[=k]``: a cell's VOD assimilated at most once every k days (default 3;
  ``[obs.vod] thin_days``, 4.2.4);
* ``ssm_seasonal``: SMAP rescaled by the difference of the mean seasonal cycles only
  (``[obs.smap] rescale = seasonal``, 4.2.1, Kwon et al. 2022).

A variant runs in ``<runs>/beyond/<experiment>@<option>``; :func:`beyond_rows` compares
it with its baseline against the truth (medians over the common mask of RMSE and R_anom
of SSM, RZSM, LAI, GPP, and of the cells' normalised-innovation std per sensor).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError

#: option -> (sensors: the experiment must assimilate one of them; default value or None).
OPTIONS: dict[str, tuple[tuple[str, ...], int | None]] = {
    "vod_error_operator": (("vod",), None),
    "adaptive_error": (("smap", "lai", "vod"), None),
    "vod_thinning": (("vod",), 3),
    "ssm_seasonal": (("smap",), None),
}
#: Sensors assimilated by each DA experiment (paper Table 1).
SENSORS_OF = {"DA_SSM": ("smap",), "DA_LAI": ("lai",), "DA_VOD": ("vod",), "DA_SSM+LAI": ("smap", "lai"),
              "DA_SSM+VOD": ("smap", "vod")}
#: The variables compared with the truth (names as in daily_mean.nc).
VARIABLES = ("ssm", "rzsm", "lai", "gpp")


@dataclass(frozen=True)
class Variant:
    """One DA experiment with one option on."""

    experiment: str
    option: str             # as written in [twin] beyond, e.g. "vod_thinning=5"
    overrides: dict         # section.key -> value on top of the experiment's config

    @property
    def name(self) -> str:
        return f"{self.experiment}@{self.option}"


def parse_options(text: str) -> list[tuple[str, int | None]]:
    """``[twin] beyond`` -> [(option, value)]; an InputError names a bad option or value."""
    out = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        name, sep, value = (s.strip() for s in item.partition("="))
        if name not in OPTIONS:
            raise InputError(f"[twin] beyond = {text}: {name!r} is not an option; expected some of "
                             f"{', '.join(OPTIONS)}")
        default = OPTIONS[name][1]
        if sep and default is None:
            raise InputError(f"[twin] beyond = {text}: {name} takes no value (got {value!r})")
        if sep and not (value.isdigit() and int(value) >= 1):
            raise InputError(f"[twin] beyond = {text}: {name}={value}: expected an integer >= 1 (days)")
        out.append((name, int(value) if sep else default))
    return out


def _overrides(option: str, value: int | None, sensors: tuple[str, ...]) -> dict:
    if option == "vod_error_operator":
        return {"obs.vod.error": "operator"}
    if option == "adaptive_error":
        return {f"obs.{s}.adaptive": "desroziers" for s in sensors}
    if option == "vod_thinning":
        return {"obs.vod.thin_days": str(value)}
    return {"obs.smap.rescale": "seasonal"}


def variants(beyond: str, experiments: list[str]) -> list[Variant]:
    """The variants of ``[twin] beyond`` over the DA experiments that assimilate an option's sensor."""
    out = []
    for option, value in parse_options(beyond):
        label = option if value is None else f"{option}={value}"      # "vod_thinning=3": the value in the name
        for e in experiments:
            sensors = SENSORS_OF[e]
            if set(sensors) & set(OPTIONS[option][0]):
                out.append(Variant(e, label, _overrides(option, value, sensors)))
    return out


def split_name(directory: Path) -> tuple[str, str] | None:
    """(experiment, option) of a variant directory ``<experiment>@<option>``, else None."""
    experiment, sep, option = directory.name.partition("@")
    return (experiment, option) if sep and experiment in SENSORS_OF and option else None


# ---------------------------------------------------------------------------
# The comparison with the baseline
# ---------------------------------------------------------------------------

def innovation_std(assimilated: np.ndarray, ninnov_sum: np.ndarray, ninnov_sumsq: np.ndarray) -> np.ndarray:
    """Per cell, the std over the run of the normalised innovations (n_cells,), from the run's totals
    (n_cells,) of counts, sums and sums of squares; NaN with fewer than 2 innovations.
    Sample std: sqrt((sumsq/n - mean^2) n/(n-1))."""
    n = np.asarray(assimilated, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = ninnov_sum / n
        var = np.maximum(ninnov_sumsq / n - mean * mean, 0.0) * n / (n - 1.0)
    return np.where(n >= 2, np.sqrt(var), np.nan)


def verdict(rmse: float | None, rmse_baseline: float | None, r_anom: float | None,
            r_anom_baseline: float | None) -> str:
    """'helps' (lower RMSE and higher R_anom than the baseline), 'hurts' (both worse), 'mixed', or
    'no change' (RMSE within 0.05 % and R_anom within 0.0005 of the baseline's); 'n/a' without numbers."""
    if None in (rmse, rmse_baseline, r_anom, r_anom_baseline):
        return "n/a"
    d_rmse = (rmse - rmse_baseline) / max(abs(rmse_baseline), 1e-300)       # relative: GPP is ~1e-8 kg m-2 s-1
    d_r = r_anom - r_anom_baseline
    if abs(d_rmse) < 5e-4 and abs(d_r) < 5e-4:
        return "no change"
    if d_rmse < 0 and d_r > 0:
        return "helps"
    if d_rmse > 0 and d_r < 0:
        return "hurts"
    return "mixed"
