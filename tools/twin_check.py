#!/usr/bin/env python
"""The twin-experiment check of an evaluated twin (after ``make demo`` or ``mpilda twin CONFIG``).

    python tools/twin_check.py [TWIN_DIRECTORY] [--json]

The check is meant for a twin whose errors are those the filter assumes ([synthetic] errors =
specified, as in examples/twin/demo.ini): the truth is one more realisation of the ensemble's
perturbations and the observations are the truth plus noise of the configured error_std. A
working filter must then show, for each DA experiment:

1. a lower RMSE against the truth than the open loop for the variables it updates
   (SSM and RZSM for SSM and VOD, LAI for LAI and VOD; medians over the common mask, from evaluation.json);
   the unbiased RMSE and the anomaly correlation are printed beside it (not checked);
2. a time standard deviation of the normalised innovations (O-F)/sqrt(HPH^T + R) within
   0.7-1.3 in most (> 50 %) of the cells with at least 10 assimilated observations
   (from each run's diagnostics.nc);
3. ensemble spread ratios DA/OL below 1 where the paper's Table 4 has them below 1.

Prints each check with its numbers and the paper's Table 4 beside them; exit status 1 when a
check fails. On a twin with realistic errors (examples/twin/realistic.ini) the same numbers show
what biases, representativeness errors and rescaling over a short record do; failing checks there
are findings about the set-up, not necessarily about the filter.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

#: Variables each sensor's observations update (paper Table 1).
UPDATED = {"DA_SSM": ("ssm", "rzsm"), "DA_LAI": ("lai",), "DA_VOD": ("ssm", "rzsm", "lai"),
           "DA_SSM+LAI": ("ssm", "rzsm", "lai"), "DA_SSM+VOD": ("ssm", "rzsm", "lai")}
SENSORS = {"DA_SSM": ("smap",), "DA_LAI": ("lai",), "DA_VOD": ("vod",), "DA_SSM+LAI": ("smap", "lai"),
           "DA_SSM+VOD": ("smap", "vod")}
NINNOV_RANGE = (0.7, 1.3)
MIN_OBS = 10


def normalised_innovation_std(path: Path, sensor: str) -> np.ndarray:
    """Per-cell time std of the normalised innovations of ``sensor`` (cells with >= MIN_OBS)."""
    import h5py

    with h5py.File(path, "r") as f:
        def total(name):
            x = f[name][...].astype(np.float64)
            x[np.abs(x) > 1e30] = 0.0          # _FillValue over sea
            return x.sum(axis=0).ravel()
        n, s, q = total(f"{sensor}_assimilated"), total(f"{sensor}_ninnov_sum"), total(f"{sensor}_ninnov_sumsq")
    ok = n >= MIN_OBS
    mean = s[ok] / n[ok]
    return np.sqrt(np.maximum(q[ok] / n[ok] - mean ** 2, 0.0) * n[ok] / (n[ok] - 1))


def unbiased_rmse(twin: Path, experiment: str, variable: str) -> float:
    """Median over cells of the RMSE against the truth after removing each cell's time-mean bias
    (the part a filter with CDF matching / seasonal rescaling to the model climatology can reduce)."""
    import h5py

    def daily(run):
        with h5py.File(twin / run / "daily_mean.nc", "r") as f:
            x = f[variable][...].astype(np.float64)
        x[np.abs(x) > 1e30] = np.nan
        return x.reshape(x.shape[0], -1)

    d = daily(experiment) - daily("truth")
    land = np.isfinite(d).all(axis=0)
    return float(np.median(np.std(d[:, land], axis=0)))


def check(twin: Path) -> dict:
    from mpilda.report import PAPER_TABLE4

    ev = json.loads((twin / "evaluation" / "evaluation.json").read_text())
    skill = {(r["experiment"], r["variable"]): r for r in ev["truth_skill"]}
    spread = {(r["experiment"], r["variable"]): r["spread_ratio"] for r in ev["table4"]}
    rows = []
    for exp in ev["experiments"]:
        for var in UPDATED.get(exp, ()):
            r = skill.get((exp, var))
            if r is None:
                continue
            rows.append(dict(check="rmse_below_ol", experiment=exp, variable=var, value=r["rmse"],
                             reference=r["rmse_ol"], ok=bool(r["rmse"] < r["rmse_ol"])))
            rows.append(dict(check="ubrmse", experiment=exp, variable=var, value=unbiased_rmse(twin, exp, var),
                             reference=unbiased_rmse(twin, "OL", var), ok=None))
            rows.append(dict(check="r_anom", experiment=exp, variable=var, value=r["r_anom"],
                             reference=r["r_anom_ol"], ok=None))
        diag = twin / exp / "diagnostics.nc"
        for sensor in SENSORS.get(exp, ()):
            std = normalised_innovation_std(diag, sensor)
            inside = float(np.mean((std >= NINNOV_RANGE[0]) & (std <= NINNOV_RANGE[1]))) if std.size else 0.0
            rows.append(dict(check="ninnov_std_in_range", experiment=exp, variable=sensor,
                             value=float(np.median(std)) if std.size else None, reference=inside,
                             ok=bool(inside > 0.5), cells=int(std.size)))
        for var in ("ssm", "rzsm", "lai"):
            paper = PAPER_TABLE4.get((exp, var))
            ratio = spread.get((exp, var))
            if ratio is None:
                continue
            rows.append(dict(check="spread_ratio", experiment=exp, variable=var, value=ratio, reference=paper,
                             ok=bool(ratio < 1.0) if paper is not None and paper < 1.0 else None))
    return dict(twin=str(twin), rows=rows, passed=all(r["ok"] is not False for r in rows))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("twin", nargs="?", default=str(Path(__file__).resolve().parent.parent / "demo-output" / "twin"))
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    twin = Path(args.twin)
    if not (twin / "evaluation" / "evaluation.json").exists():
        print(f"{twin}: no evaluation/evaluation.json; run `make demo` (or `mpilda twin CONFIG`) first",
              file=sys.stderr)
        return 2
    result = check(twin)
    if args.json:
        print(json.dumps(result))
    else:
        names = {"rmse_below_ol": "RMSE vs truth (DA | OL)", "ubrmse": "  unbiased RMSE vs truth (DA | OL)",
                 "r_anom": "  R_anom vs truth (DA | OL)", "ninnov_std_in_range":
                 "std of normalised innovations (median | share of cells in 0.7-1.3)",
                 "spread_ratio": "spread ratio DA/OL (twin | paper Table 4)"}
        for r in result["rows"]:
            mark = {True: "ok  ", False: "FAIL", None: "    "}[r["ok"]]
            ref = "–" if r["reference"] is None else f"{r['reference']:.4g}"
            val = "–" if r["value"] is None else f"{r['value']:.4g}"
            print(f"{mark} {r['experiment']:11s} {r['variable']:5s} {names[r['check']]}: {val} | {ref}")
        print("twin check", "passed" if result["passed"] else "FAILED")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
