"""The command line: ``python -m mpilda COMMAND CONFIG [--set section.key=value ...]``.

Each sub-command parses its arguments, loads the config once, and calls one
function.  Under mpirun every rank runs the same command; an error on any rank
ends the whole job with that rank's message (no rank is left waiting).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .config import Config, ConfigError, load_config
from .errors import InputError
from .grid import Grid, GridError
from .log import log, setup_logging
from .output import OutputError
from .parallel import Decomposition, DecompositionError, run_guarded, world

#: Errors whose message says all a user needs: printed without a traceback, exit status 2.
USER_ERRORS = (ConfigError, GridError, DecompositionError, OutputError, InputError)


def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", type=Path, help="the run's INI config file")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override a config key (repeatable); validated like the file")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mpilda",
                                     description="mpilda: MPI-parallel land data assimilation.")
    parser.add_argument("--version", action="version", version=f"mpilda {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug messages on rank 0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("check-config", help="validate a config file and print it with all defaults filled in")
    _config_args(p)
    p.set_defaults(func=cmd_check_config)

    p = sub.add_parser("decompose", help="show how the grid's tiles are spread over N ranks")
    _config_args(p)
    p.add_argument("--ranks", type=int, required=True, help="number of MPI ranks")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", type=Path, metavar="FILE.png", help="draw the tiles coloured by rank")
    p.set_defaults(func=cmd_decompose)

    p = sub.add_parser("plan", help="size a batch job: decomposition, memory per rank, wall time and core-hours")
    _config_args(p)
    p.add_argument("--ranks", type=int, required=True, help="number of MPI ranks")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("run-status", help="is a run complete? its newest checkpoint (exit 0: complete, 1: not)")
    _config_args(p)
    p.add_argument("--quiet", action="store_true", help="print nothing; the exit status says it")
    p.set_defaults(func=cmd_run_status)

    p = sub.add_parser("run", help="run an experiment: spin-up, then the run period, writing daily means and "
                                   "restarts (under mpirun)")
    _config_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its newest checkpoint ([output] checkpoint_days) in the "
                        "output directory; the result is bit-identical to an uninterrupted run. Without a "
                        "checkpoint the run starts from the beginning; a complete run is left as it is")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("site", help="run Noah-MP point columns ([site] columns_file: columns.json with forcing/<id>.nc "
                                    "beside it) over [time], writing <output>/<id>.nc daily means (under mpirun the "
                                    "columns are split over the ranks)")
    _config_args(p)
    p.set_defaults(func=cmd_site)

    p = sub.add_parser("make-synthetic", help="make the synthetic world: land-cover and soil maps, truth and model "
                                              "forcing in ERA5 layout, climate summary (run under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_make_synthetic)

    p = sub.add_parser("make-obs", help="draw synthetic SMAP, CGLS LAI and AMSR2 VOD files from the truth run, in "
                                        "the real formats (under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_make_obs)

    p = sub.add_parser("rescale", help="CDF matching tables of SMAP and seasonal rescaling of LAI from an open-loop "
                                       "run (under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_rescale)

    p = sub.add_parser("calibrate-vod", help="fit and evaluate the VOD observation operator per cell from an "
                                             "open-loop run (under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_calibrate_vod)

    p = sub.add_parser("evaluate", help="evaluate every run of a set (OL and the DA experiments) against the "
                                        "references and the truth: Tables 3 and 4, maps (under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("report", help="report.md with the paper's tables and figures from an evaluated set of runs")
    p.add_argument("directory", type=Path, help="the runs directory (with evaluation/)")
    p.add_argument("--json", action="store_true",
                   help="print {table3, table4, truth_skill, innovation_autocorrelation, beyond, "
                        "beyond_innovations, beyond_cropland, beyond_innovations_cropland} as one JSON object")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("twin", help="the whole twin experiment: world, truth, spin-ups, OL, observations, tables, "
                                    "DA experiments, evaluation and report, resuming finished stages (under mpirun)")
    _config_args(p)
    p.set_defaults(func=cmd_twin)

    p = sub.add_parser("inspect", help="what mpilda sees in an input file: format, variables in SI units, times")
    p.add_argument("path", type=Path, help="an input file")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_inspect)

    p = sub.add_parser("grid", help="write the grid, land mask and decomposition to <output>/grid.nc "
                                    "(run under mpirun: each rank writes its own cells)")
    _config_args(p)
    p.set_defaults(func=cmd_grid)
    return parser


def load_config_everywhere(args, comm) -> Config:
    """Load the config on every rank; if any rank fails, all raise the same error (one collective)."""
    error = None
    cfg = None
    try:
        cfg = load_config(args.config, args.overrides)
    except ConfigError as exc:
        error = exc
    errors = comm.allgather(None if error is None else str(error))
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise error if error is not None else ConfigError(str(args.config), "-", None, None, first)
    return cfg


def cmd_check_config(args, comm) -> int:
    cfg = load_config_everywhere(args, comm)
    if comm.rank == 0:
        sys.stdout.write(cfg.to_ini())
    return 0


def cmd_decompose(args, comm) -> int:
    cfg = load_config_everywhere(args, comm)
    if comm.rank != 0:
        return 0
    grid = Grid.from_config(cfg.domain)
    dec = Decomposition.build(grid, cfg.domain.tile_size, args.ranks)
    summary = dec.summary()
    if args.plot:
        from .plots import plot_decomposition

        plot_decomposition(dec, args.plot)
        summary["plot"] = str(args.plot)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['land_cells']} land cells in {summary['tiles']} tiles of "
              f"{cfg.domain.tile_size}x{cfg.domain.tile_size} on {summary['ranks']} ranks: "
              f"{summary['min_cells']}..{summary['max_cells']} cells per rank "
              f"(mean {summary['mean_cells']:.1f}, imbalance {summary['imbalance']:.3f})")
    return 0


def cmd_plan(args, comm) -> int:
    from dataclasses import asdict

    from .plan import make_plan

    cfg = load_config_everywhere(args, comm)
    if comm.rank == 0:
        plan = make_plan(cfg, args.ranks)
        print(json.dumps(asdict(plan)) if args.json else plan.text())
    return 0


def cmd_run_status(args, comm) -> int:
    cfg = load_config_everywhere(args, comm)
    out = cfg.output.directory
    complete = (out / "daily_mean.nc").exists() and (out / "balance.json").exists() \
        and not list(out.glob("*.incomplete"))
    if complete:
        text = f"{out}: complete"
    else:
        days = sorted(p.stem[-8:] for p in (out / "restart").glob("restart_????????.nc")) \
            if (out / "restart").is_dir() else []
        text = f"{out}: not complete; " + (f"newest checkpoint {days[-1]}" if days else "no checkpoint")
    if comm.rank == 0 and not args.quiet:
        print(text)
    return 0 if complete else 1


def cmd_run(args, comm) -> int:
    from .experiment import run

    cfg = load_config_everywhere(args, comm)
    run(cfg, comm, resume=args.resume)
    return 0


def cmd_site(args, comm) -> int:
    from .site import run_sites

    run_sites(load_config_everywhere(args, comm), comm)
    return 0


def cmd_make_synthetic(args, comm) -> int:
    from .world import make_world

    cfg = load_config_everywhere(args, comm)
    make_world(cfg, comm)
    return 0


def cmd_make_obs(args, comm) -> int:
    from .obs.synthetic import make_observations

    make_observations(load_config_everywhere(args, comm), comm)
    return 0


def cmd_rescale(args, comm) -> int:
    from .obs.tables import make_rescaling

    make_rescaling(load_config_everywhere(args, comm), comm)
    return 0


def cmd_calibrate_vod(args, comm) -> int:
    from .obs.tables import calibrate_vod

    calibrate_vod(load_config_everywhere(args, comm), comm)
    return 0


def cmd_evaluate(args, comm) -> int:
    from .evaluation.run import evaluate

    evaluate(load_config_everywhere(args, comm), comm)
    return 0


def cmd_report(args, comm) -> int:
    from .report import load_result, write_report

    if comm.rank != 0:
        return 0
    path = write_report(args.directory)
    if args.json:
        result = load_result(args.directory)
        keys = ("table3", "table4", "truth_skill", "innovation_autocorrelation", "beyond", "beyond_innovations",
                "beyond_cropland", "beyond_innovations_cropland")
        print(json.dumps({k: result.get(k, []) for k in keys}))
    else:
        print(f"report: {path}")
    return 0


def cmd_twin(args, comm) -> int:
    from .twin import run_twin

    run_twin(load_config_everywhere(args, comm), comm)
    return 0


def cmd_inspect(args, comm) -> int:
    from .inspect import inspect_path

    if comm.rank != 0:
        return 0
    result = inspect_path(args.path)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.path}: {result['format']}, {result.get('time_start')} .. {result.get('time_end')}")
        for name, v in result["variables"].items():
            stats = " ".join(f"{k}={v[k]:.6g}" for k in ("mean", "min", "max") if v.get(k) is not None)
            if v.get("valid_range") is not None:       # what the reader accepts, and what it rejects
                lo, hi = v["valid_range"]
                stats += f" valid_range=[{lo:.6g}, {hi:.6g}] rejected={v.get('rejected', 0)}"
            print(f"  {name:14s} [{v['units']}] n={v['count']} {stats}")
    return 0


def cmd_grid(args, comm) -> int:
    import numpy as np

    from .output import GridWriter, Variable, resolve_io_mode, standard_attributes

    cfg = load_config_everywhere(args, comm)
    grid = Grid.from_config(cfg.domain)
    dec = Decomposition.build(grid, cfg.domain.tile_size, comm.size)
    local = dec.local(comm.rank)
    mode = resolve_io_mode(cfg.output.io_mode, comm)
    variables = [Variable("cell_id", "1", "global cell id (row-major index in the grid window)", dtype="i4",
                          static=True),
                 Variable("rank", "1", "MPI rank owning the cell", dtype="i4", static=True),
                 Variable("tile", "1", "tile index (Hilbert-curve order)", dtype="i4", static=True)]
    path = cfg.output.directory / "grid.nc"
    attrs = standard_attributes(comm, "mpilda grid and decomposition", cfg.to_ini())
    tile_of_cell = np.repeat(local.tiles, [dec.tile_land[k] for k in local.tiles])
    order = np.argsort(np.concatenate([_tile_land_ids(dec, k) for k in local.tiles]))
    with GridWriter(path, local, comm, variables, start=cfg.time.start, n_times=0, mode=mode,
                    compression=cfg.output.compression, attrs=attrs) as writer:
        writer.write_static({"cell_id": local.cell_ids, "rank": np.full(local.n_cells, comm.rank),
                             "tile": tile_of_cell[order]})
    log.info("wrote %s (%d land cells, %d tiles, %d ranks, io_mode %s)", path, grid.n_land, dec.n_tiles,
             comm.size, mode)
    return 0


def _tile_land_ids(dec: Decomposition, k: int):
    land = dec.grid.land[dec.tile_row0[k]:dec.tile_row0[k] + dec.tile_rows[k],
                         dec.tile_col0[k]:dec.tile_col0[k] + dec.tile_cols[k]]
    rows, cols = land.nonzero()
    return (rows + dec.tile_row0[k]) * dec.grid.shape[1] + cols + dec.tile_col0[k]


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    comm = world()
    setup_logging(comm.rank, comm.size, args.verbose)
    try:
        return run_guarded(comm, args.func, args, comm, user_errors=USER_ERRORS, passthrough=(ConfigError,))
    except ConfigError as exc:
        # Config errors are agreed on by all ranks (load_config_everywhere): all stop, rank 0 says why.
        if comm.rank == 0:
            print(f"mpilda: error: {exc}", file=sys.stderr)
        return 2
