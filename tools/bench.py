#!/usr/bin/env python
"""mpilda benchmarks; each prints figures (medians of repeated runs), never pass/fail.

    python tools/bench.py io --json       # output writer: paper grid, 10 daily fields, 30 days, 2 ranks
    python tools/bench.py forcing --json  # weather generation and ERA5 reading/regridding, paper domain
    python tools/bench.py model --json    # the land surface model, one core, 10,000 columns
    python tools/bench.py da --json       # the full DA cycle of DA_SSM+VOD at paper load, one core
    python tools/bench.py ensemble --json # the 24-member open loop on the paper domain, 2 ranks
    python tools/bench.py scaling --json  # strong (1, 2, 4, 8 ranks) and weak scaling of that open loop
    python tools/bench.py all --json      # the issue's figures: model, DA cycle, I/O share, efficiency, memory

The io benchmark launches itself under ``mpirun -n RANKS`` once per case and
repeat, and reports for mpio and gather, with and without a member dimension,
the data rate (MB/s of uncompressed field data) and the seconds per simulated
day of output.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAPER = """
[time]
start = 2015-04-01
end = 2015-05-01
"""


def io_worker(args) -> None:
    """One timed write of the benchmark file (run under mpirun)."""
    import numpy as np
    from mpi4py import MPI

    from mpilda.config import config_from_text
    from mpilda.grid import Grid
    from mpilda.output import GridWriter, Variable
    from mpilda.parallel import Decomposition

    comm = MPI.COMM_WORLD
    cfg = config_from_text(PAPER)
    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, comm.size).local(comm.rank)
    members = args.members
    variables = [Variable(f"field{i}", "1", f"benchmark field {i}", extra=("member",) if members > 0 else ()) for i in range(args.fields)]
    shape = ((members,) if members else ()) + (local.n_cells,)
    rng = np.random.default_rng(comm.rank)
    data = [rng.random(shape, dtype=np.float32) for _ in range(args.fields)]
    path = Path(args.dir) / f"bench_{args.mode}_{members}.nc"
    comm.Barrier()
    t0 = time.perf_counter()
    with GridWriter(path, local, comm, variables, start=cfg.time.start, n_times=args.days, dims={"member": members} if members else None,
                    mode=args.mode, compression=args.compression) as w:
        for day in range(args.days):
            w.write(day, {v.name: data[i] for i, v in enumerate(variables)})
    comm.Barrier()
    seconds = time.perf_counter() - t0
    if comm.rank == 0:
        mb = grid.n_land * max(members, 1) * 4 * args.fields * args.days / 1e6
        print(json.dumps(dict(seconds=seconds, mb=mb, file_mb=path.stat().st_size / 1e6)))
        path.unlink()


def bench_io(args) -> dict:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cases = []
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        for mode in ("mpio", "gather"):
            for members in (0, 24):
                runs = []
                for _ in range(args.repeat):
                    cmd = ["mpirun", "-n", str(args.ranks), "--oversubscribe", sys.executable, __file__, "_io",
                           "--mode", mode, "--members", str(members), "--days", str(args.days),
                           "--fields", str(args.fields), "--compression", str(args.compression), "--dir", tmp]
                    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
                    runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                sec = statistics.median(r["seconds"] for r in runs)
                mb = runs[0]["mb"]
                cases.append(dict(mode=mode, members=members, days=args.days, fields=args.fields,
                                  seconds_median=round(sec, 3), seconds_min=round(min(r["seconds"] for r in runs), 3),
                                  seconds_max=round(max(r["seconds"] for r in runs), 3),
                                  mb_per_s=round(mb / sec, 1), s_per_simulated_day=round(sec / args.days, 4),
                                  data_mb=round(mb, 1), file_mb=round(runs[0]["file_mb"], 1)))
    return dict(benchmark="io", ranks=args.ranks, grid="paper 168x207, 19701 land cells", repeat=args.repeat,
                compression=args.compression, cases=cases)


def _rank_share(cfg, ranks: int, rank: int = 0):
    """Rank ``rank``'s cells of the paper domain cut for ``ranks`` ranks, and its ERA5 lattice rows."""
    import numpy as np

    from mpilda.forcing.era5_layout import era5_lattice
    from mpilda.grid import Grid
    from mpilda.parallel import Decomposition

    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, ranks).local(rank)
    d = cfg.domain
    lat, lon = era5_lattice(d.south, d.north, d.west, d.east, cfg.synthetic.margin)
    rows = np.array_split(np.arange(lat.size), ranks)[rank]
    return local, np.repeat(lat[rows], lon.size), np.tile(lon, rows.size)


def bench_forcing(args) -> dict:
    """Seconds per simulated day, for the share of one rank of 2: generating the synthetic weather
    (truth and model forcing), and reading + regridding ERA5-layout files for every 900 s step."""
    import datetime as dt

    from mpi4py import MPI

    from mpilda.config import config_from_text
    from mpilda.experiment import open_forcing
    from mpilda.forcing.era5_layout import hours_since_1900
    from mpilda.forcing.synthetic import WeatherGenerator
    from mpilda.world import make_world

    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        cfg = config_from_text(PAPER.replace("2015-05-01", f"2015-04-{1 + args.days:02d}")
                               + f"[synthetic]\ndirectory = {tmp}/world\n[output]\ndirectory = {tmp}/out\n"
                               "[ensemble]\nmembers = 0\n")
        local, plat, plon = _rank_share(cfg, args.ranks)
        gen = WeatherGenerator(cfg.random.seed, plat, plon)
        gen_times = []
        for day in range(args.days):
            t0 = time.perf_counter()
            gen.hourly(hours_since_1900(cfg.time.start) + 24 * day, 24)
            gen_times.append(time.perf_counter() - t0)
        make_world(cfg, MPI.COMM_SELF)
        forcing = open_forcing(cfg, local)
        read_times = []
        for day in range(args.days):
            t0 = time.perf_counter()
            for step in range(96):
                forcing.at(cfg.time.start + dt.timedelta(days=day, seconds=900 * step))
            read_times.append(time.perf_counter() - t0)
        forcing.close()
    return dict(benchmark="forcing", ranks=args.ranks, cells_per_rank=int(local.n_cells),
                era5_points_per_rank=int(plat.size), days=args.days,
                generation_s_per_day=round(statistics.median(gen_times), 3),
                generation_s_per_day_min_max=[round(min(gen_times), 3), round(max(gen_times), 3)],
                read_regrid_s_per_day=round(statistics.median(read_times), 3),
                read_regrid_s_per_day_min_max=[round(min(read_times), 3), round(max(read_times), 3)],
                note="median over days; generation = truth + model forcing of the rank's ERA5 rows; reading = "
                     "96 forcing.at() calls over the rank's cells (first day includes opening files)")


def bench_model(args) -> dict:
    """Microseconds per column-step of the land surface model on one core (steady state after warm-up)."""
    import datetime as dt

    import numpy as np

    from mpilda.landscape import synthetic_landcover, synthetic_soil
    from mpilda.model.noahmp import NoahMP

    rng = np.random.default_rng(1)
    n = args.columns
    lat = rng.uniform(36.0, 62.0, n)
    lon = rng.uniform(-9.0, 35.0, n)
    lc = synthetic_landcover(1, lat, lon)
    keep = lc != 16                                     # vegetated columns: the expensive case
    lat, lon = np.resize(lat[keep], n), np.resize(lon[keep], n)
    lc = synthetic_landcover(1, lat, lon)
    model = NoahMP(lc, synthetic_soil(1, lat, lon, lc), lat, lon)
    start = dt.datetime(2015, 6, 1, tzinfo=dt.timezone.utc)

    def forcing(i):
        t = start + dt.timedelta(seconds=900 * i)
        solar = (t.hour + t.minute / 60.0 + lon / 15.0) % 24.0
        cz = np.maximum(np.cos((solar - 12.0) / 24.0 * 2 * np.pi), 0.0)
        return dict(swdown=850.0 * cz, lwdown=np.full(n, 320.0), tair=289.0 + 6.0 * np.cos((solar - 15.0) / 24.0 * 2 * np.pi),
                    qair=np.full(n, 0.008), psurf=np.full(n, 1.0e5), wind=np.full(n, 3.0),
                    rainf=np.full(n, 2.0e-4 if t.hour == 3 else 0.0), snowf=np.zeros(n))
    steps = [forcing(i) for i in range(96)]
    state = model.cold_start(1, steps[0], start)
    for i in range(args.warmup):
        model.step(state, steps[i % 96], start + dt.timedelta(seconds=900 * i))
    times = []
    for rep in range(args.repeat):
        t0 = time.perf_counter()
        for i in range(args.steps):
            k = args.warmup + rep * args.steps + i
            model.step(state, steps[k % 96], start + dt.timedelta(seconds=900 * k))
        times.append((time.perf_counter() - t0) / (args.steps * n) * 1e6)
    # the split: cProfile cannot see inside the compiled kernel, so NoahMP.step times its own parts ...
    model.timings = {}
    for i in range(args.steps):
        model.step(state, steps[i % 96], start + dt.timedelta(seconds=900 * i))
    total = sum(model.timings.values())
    split = {k: round(100 * v / total, 1) for k, v in model.timings.items()}
    model.timings = None
    return dict(benchmark="model", columns=n, us_per_column_step=round(statistics.median(times), 3),
                us_per_column_step_min_max=[round(min(times), 3), round(max(times), 3)], repeat=args.repeat,
                steps_per_repeat=args.steps, split_percent=split,
                note="median of repeats; split = share of NoahMP.step's time: prepare (forcing block, state "
                     "block, sun, Python), kernel (the compiled physics of all columns), check (balance checks, "
                     "flux views)")


def loop_worker(args) -> None:
    """One timed run (under mpirun): the config ``args.config`` for ``args.days`` days, or with
    ``args.experiment`` that experiment's stage of the twin of ``args.config``. Prints the wall time and
    the mean over ranks of each part of the run loop (Runner.timings)."""
    import datetime as dt

    from mpi4py import MPI

    from mpilda.config import load_config
    from mpilda.experiment import Runner
    from mpilda.twin import _derive, stage_configs

    comm = MPI.COMM_WORLD
    cfg = load_config(args.config)
    if args.experiment:
        missing = [n for n in ("OL", "observations", "tables")
                   if not (cfg.twin.directory / "stages" / f"{n}.done").exists()]
        if missing:
            raise SystemExit(f"{args.config}: the twin stages {missing} are not done; run `make demo` (or "
                             f"`python -m mpilda twin {args.config}`) first")
        cfg = dict(stage_configs(cfg))[args.experiment]()
    cfg = _derive(cfg, {"time.end": cfg.time.start + dt.timedelta(days=args.days),
                        "output.directory": Path(args.dir) / (args.experiment or "run")})
    runner = Runner(cfg, comm)
    runner.timings = {}
    comm.Barrier()
    t0 = time.perf_counter()
    summary = runner.run()
    comm.Barrier()
    wall = time.perf_counter() - t0
    # the forcing's file reads apart from its per-step interpolation (Era5Forcing.read_seconds)
    read = getattr(runner.forcing, "read_seconds", 0.0)
    runner.timings["forcing (file reads)"] = read
    runner.timings["forcing"] = runner.timings.get("forcing", 0.0) - read
    parts = comm.gather(runner.timings, root=0)
    columns = comm.allreduce(runner.local.n_cells * runner.n_ens)
    rss = comm.allreduce(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, op=MPI.MAX)   # KiB -> MiB
    if comm.rank == 0:
        mean = {k: sum(p.get(k, 0.0) for p in parts) / len(parts) for k in sorted({k for p in parts for k in p})}
        steps = args.days * 86400 // cfg.time.timestep
        assimilated = {k: v["assimilated"] for k, v in summary.get("assimilation", {}).items() if "assimilated" in v}
        print(json.dumps(dict(wall=wall, parts=mean, columns=columns, steps=steps, ranks=comm.size, rss_mib=rss,
                              assimilated=assimilated)))


ENSEMBLE = """
[time]
start = 2015-04-01
end = 2015-04-03
[ensemble]
members = 24
[experiment]
name = OL
[output]
checkpoint_days = 0
[synthetic]
directory = {world}
"""


def _timed_runs(args, config: Path, tmp: str, experiment: str = "") -> dict:
    """``args.repeat`` timed runs under mpirun; the figures of the median one (us per column-step per core)."""
    runs = []
    for rep in range(args.repeat):
        cmd = ["mpirun", "-n", str(args.ranks), "--oversubscribe", sys.executable, __file__, "_loop",
               "--config", str(config), "--days", str(args.days), "--dir", f"{tmp}/{rep}", "--experiment", experiment]
        out = subprocess.run(cmd, capture_output=True, text=True, env=_mpi_env())
        if out.returncode:
            raise SystemExit(f"bench {args.what} failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    us = [r["wall"] * r["ranks"] / (r["steps"] * r["columns"]) * 1e6 for r in runs]
    best = runs[us.index(statistics.median_low(us))]
    parts, wall = best["parts"], best["wall"]
    split = {k: round(100 * v / wall, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])}
    split["other (set-up, spin-up read, restarts, closing)"] = round(100 * (wall - sum(parts.values())) / wall, 1)
    return dict(ranks=best["ranks"], days=args.days, columns=best["columns"],
                columns_per_rank=best["columns"] // best["ranks"],
                peak_rss_mib_per_rank=round(max(r["rss_mib"] for r in runs), 1),
                **({"assimilated": best["assimilated"]} if best.get("assimilated") else {}),
                us_per_column_step_per_core=round(statistics.median(us), 3),
                us_min_max=[round(min(us), 3), round(max(us), 3)], repeat=args.repeat,
                seconds_per_simulated_day=round(wall / args.days, 3), split_percent_of_wall=split,
                perturbations_percent_of_model=round(100 * parts.get("perturbations", 0.0) / parts["model"], 1),
                note="wall x ranks / (steps x ensemble columns incl. the control); parts are means over ranks of "
                     "the time inside each part of the run loop; perturbations = forcing and state perturbations "
                     "and the Ryu correction")


def _ol_world(tmp: str, name: str = "ol", domain: str = "") -> Path:
    """The config of the one-day 24-member OL benchmark (the paper domain, or ``domain``), with its
    synthetic world of two days made (untimed, on 2 ranks)."""
    config = Path(tmp) / f"{name}.ini"
    config.write_text(ENSEMBLE.format(world=Path(tmp) / f"world-{name}") + domain)
    made = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, "-m", "mpilda",
                           "make-synthetic", str(config)], capture_output=True, text=True, env=_mpi_env())
    if made.returncode:
        raise SystemExit(f"bench: make-synthetic failed:\n{made.stderr[-3000:]}")
    return config


def _with(args, **changes):
    out = argparse.Namespace(**vars(args))
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def bench_ensemble(args) -> dict:
    """The 24-member OL of the paper domain: a synthetic world of two days is made first (untimed)."""
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        figures = _timed_runs(args, _ol_world(tmp), tmp)
    return dict(benchmark="ensemble", domain="paper (19,701 land cells), synthetic world", members=24, **figures)


#: The western part of the paper domain (9,687 land cells, about half of 19,701): weak scaling.
WEST = """
[domain]
east = 20.125
"""


def bench_scaling(args) -> dict:
    """Strong scaling of the paper-domain OL day on 1, 2, 4 and 8 ranks (4 and 8 oversubscribe the 2 cores:
    their wall time shows the cost of more ranks' communication and imbalance, not a speed-up), and weak
    scaling: about half the domain on 1 rank against the whole on 2."""
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        paper = _ol_world(tmp)
        strong = {n: _timed_runs(_with(args, ranks=n, days=1), paper, f"{tmp}/s{n}") for n in (1, 2, 4, 8)}
        west = _timed_runs(_with(args, ranks=1, days=1), _ol_world(tmp, "west", WEST), f"{tmp}/w")
    t = {n: f["seconds_per_simulated_day"] for n, f in strong.items()}
    return dict(
        benchmark="scaling", members=24,
        strong={n: dict(ranks=n, seconds_per_simulated_day=t[n], columns=f["columns"],
                        us_per_column_step_per_core=f["us_per_column_step_per_core"],
                        speed_up=round(t[1] / t[n], 3), efficiency_on_min_ranks_cores=round(
                            t[1] / (min(n, os.cpu_count() or n) * t[n]), 3)) for n, f in strong.items()},
        weak=dict(one_rank_west=dict(columns=west["columns"], seconds_per_simulated_day=west["seconds_per_simulated_day"],
                                     us_per_column_step_per_core=west["us_per_column_step_per_core"]),
                  two_ranks_paper=dict(columns=strong[2]["columns"], seconds_per_simulated_day=t[2],
                                       us_per_column_step_per_core=strong[2]["us_per_column_step_per_core"]),
                  efficiency=round(west["us_per_column_step_per_core"] / strong[2]["us_per_column_step_per_core"], 3)),
        note="efficiency_on_min_ranks_cores = t1 / (min(ranks, cores) x tN): the ranks beyond the cores share them")


#: The twin of ``bench da``: 18 x 17 land cells of central France (306 cells x 25 columns = 7,650, the
#: paper domain's load per rank on 64 ranks: 19,701 / 64 = 308 cells) with the errors the filter assumes
#: (as the demo); 45 days, short spin-ups; only the stages up to the tables are run (untimed).
DA_TWIN = """
[domain]
south = 44.125
north = 48.125
west = 0.125
east = 4.375
tile_size = 3
[time]
start = 2016-06-01
end = 2016-07-16
[ensemble]
members = 24
[synthetic]
directory = {tmp}/world
errors = specified
lai_pixel_size = 0.0625
[obs.smap]
rescale = no
[obs.lai]
rescale = no
[obs.vod]
calibration_directory = {tmp}/twin/truth
# 45 days: every third week is left out of the operator fit (weeks 3 and 6), enough to fit and evaluate it
holdout_every = 3
[assimilation]
climatology_window = 61
[twin]
directory = {tmp}/twin
truth_spinup_cycles = 1
model_spinup_cycles = 1
ensemble_spinup_days = 5
experiments = DA_SSM+VOD
[output]
checkpoint_days = 0
"""
#: Column-steps of one paper experiment: 19,701 land cells x 25 columns (24 members + control) x 271,872
#: steps of 900 s (1 Apr 2015 - 31 Dec 2022, as the issue "Performance" counts them).
PAPER_COLUMN_STEPS = 19701 * 25 * 271872


def twin_worker(args) -> None:
    """Run the stages of the twin of ``args.config`` up to (and including) the tables (under mpirun)."""
    from mpi4py import MPI

    from mpilda.config import load_config
    from mpilda.twin import _run_stage, stage_configs

    comm = MPI.COMM_WORLD
    cfg = load_config(args.config)
    marks = cfg.twin.directory / "stages"
    for name, make in stage_configs(cfg):
        if name.startswith("DA_") or name in ("evaluate", "report"):
            break
        _run_stage(name, make(), comm)
        comm.Barrier()
        if comm.rank == 0:
            marks.mkdir(parents=True, exist_ok=True)
            (marks / f"{name}.done").write_text("bench\n")


def bench_da(args) -> dict:
    """The full DA cycle of DA_SSM+VOD (model, perturbations, observations, analysis, diagnostics, output)
    on one core at the paper's load per rank; the twin it needs is made first (untimed)."""
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        config = Path(args.config) if args.config else Path(tmp) / "da_twin.ini"
        if not args.config:
            config.write_text(DA_TWIN.format(tmp=tmp))
            made = subprocess.run(["mpirun", "-n", "2", "--oversubscribe", sys.executable, __file__, "_twin",
                                   "--config", str(config)], capture_output=True, text=True, env=_mpi_env())
            if made.returncode:
                raise SystemExit(f"bench da: making the twin failed:\n{made.stderr[-3000:]}")
        figures = _timed_runs(args, config, tmp, experiment="DA_SSM+VOD")
    us = figures["us_per_column_step_per_core"]
    return dict(benchmark="da", experiment="DA_SSM+VOD", config=str(args.config or "built-in (DA_TWIN)"),
                **figures, paper_core_hours_per_experiment=round(us * PAPER_COLUMN_STEPS / 3.6e9, 1),
                paper_core_hours_formula=f"{us} us x 19,701 cells x 25 columns x 271,872 steps / 3.6e9 us per h")


#: The parts of the run loop that are input and output (io_share).
IO_PARTS = ("output", "forcing (file reads)", "observations")


def bench_all(args) -> dict:
    """The figures of the issue "Performance" in one object: the model on one core; the full DA cycle of
    DA_SSM+VOD on one core at the paper's load per rank (its I/O share and peak memory); the ensemble
    OL of the paper domain on 1 and 2 ranks (parallel efficiency); the sub-benchmarks in full."""
    model = bench_model(argparse.Namespace(columns=10000, warmup=96, steps=48, repeat=5))
    da = bench_da(_with(args, ranks=1))
    with tempfile.TemporaryDirectory(dir=args.tmpdir) as tmp:
        paper = _ol_world(tmp)
        ens = {n: _timed_runs(_with(args, ranks=n, days=1), paper, f"{tmp}/{n}") for n in (1, 2)}
    split = da["split_percent_of_wall"]
    return {
        "benchmark": "all",
        "model_us_per_column_step": model["us_per_column_step"],
        "da_cycle_us_per_column_step": da["us_per_column_step_per_core"],
        "io_share": round(sum(split.get(k, 0.0) for k in IO_PARTS) / 100.0, 3),
        "output_share": round(split.get("output", 0.0) / 100.0, 3),
        "efficiency_2_ranks": round(ens[1]["us_per_column_step_per_core"] / ens[2]["us_per_column_step_per_core"],
                                    3),
        "peak_rss_mib_per_rank": da["peak_rss_mib_per_rank"],
        "paper_core_hours_per_experiment": da["paper_core_hours_per_experiment"],
        "paper_core_hours_formula": da["paper_core_hours_formula"],
        "targets": {"da_cycle_us_per_column_step": 2.0, "efficiency_2_ranks": 0.9, "io_share": 0.05,
                    "peak_rss_mib_per_rank": 1024},
        "notes": {"io_share": "share of the DA cycle's wall time in reading the forcing files, reading the "
                              "day's observation files (and selecting the rank's cells), and writing the outputs "
                              "(daily means, spread, diagnostics); output_share: the writing alone",
                  "efficiency_2_ranks": "t1 / (2 t2) of the same paper-domain OL day on 1 and 2 ranks",
                  "peak_rss_mib_per_rank": "maximum resident memory of a rank of the DA cycle run (7,650 "
                                           "ensemble columns, the paper domain's load on 64 ranks)"},
        "model": model, "da": da, "ensemble_1_rank": ens[1], "ensemble_2_ranks": ens[2],
    }


def _mpi_env() -> dict:
    return dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("io", help="output writer throughput")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--fields", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--compression", type=int, default=4)
    p.add_argument("--tmpdir", default=None)
    p = sub.add_parser("forcing", help="synthetic weather generation and ERA5 reading, per rank")
    p.add_argument("--json", action="store_true")
    p.add_argument("--ranks", type=int, default=2, help="the rank count whose per-rank share is timed")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--tmpdir", default=None)
    p = sub.add_parser("model", help="the land surface model on one core")
    p.add_argument("--json", action="store_true")
    p.add_argument("--columns", type=int, default=10000)
    p.add_argument("--warmup", type=int, default=96)
    p.add_argument("--steps", type=int, default=48)
    p.add_argument("--repeat", type=int, default=5)
    p = sub.add_parser("da", help="the full DA cycle (DA_SSM+VOD) at the paper's load per rank, per column-step")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", default=None, help="a twin config whose stages up to the tables are done "
                                                  "(default: a built-in twin made first)")
    p.add_argument("--ranks", type=int, default=1)
    p.add_argument("--days", type=int, default=10)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tmpdir", default=None)
    p = sub.add_parser("ensemble", help="the 24-member open loop on the paper domain (synthetic world), per "
                                        "column-step, and the perturbations' share of the model's cost")
    p.add_argument("--json", action="store_true")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tmpdir", default=None)
    p = sub.add_parser("scaling", help="strong (1, 2, 4, 8 ranks) and weak scaling of the paper-domain OL")
    p.add_argument("--json", action="store_true")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--tmpdir", default=None)
    p = sub.add_parser("all", help="model, DA cycle (one core), ensemble on 1 and 2 ranks: the issue's figures")
    p.add_argument("--json", action="store_true")
    p.add_argument("--config", default=None)
    p.add_argument("--days", type=int, default=10, help="simulated days of each DA cycle run")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--tmpdir", default=None)
    w = sub.add_parser("_loop")
    for name, typ in (("--config", str), ("--days", int), ("--dir", str), ("--experiment", str)):
        w.add_argument(name, type=typ, required=True)
    w = sub.add_parser("_twin")
    w.add_argument("--config", type=str, required=True)
    w = sub.add_parser("_io")
    for name, typ in (("--mode", str), ("--members", int), ("--days", int), ("--fields", int),
                      ("--compression", int), ("--dir", str)):
        w.add_argument(name, type=typ, required=True)
    args = parser.parse_args(argv)
    if args.what == "_io":
        io_worker(args)
        return 0
    if args.what == "_loop":
        loop_worker(args)
        return 0
    if args.what == "_twin":
        twin_worker(args)
        return 0
    if args.what != "io":
        result = {"forcing": bench_forcing, "model": bench_model, "da": bench_da,
                  "ensemble": bench_ensemble, "scaling": bench_scaling, "all": bench_all}[args.what](args)
        print(json.dumps(result) if args.json else json.dumps(result, indent=1))
        return 0
    result = bench_io(args)
    if args.json:
        print(json.dumps(result))
    else:
        for c in result["cases"]:
            print(f"{c['mode']:7s} members={c['members']:2d}: {c['mb_per_s']:8.1f} MB/s, "
                  f"{c['s_per_simulated_day']:.4f} s per simulated day ({c['data_mb']} MB in {c['file_mb']} MB file)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
