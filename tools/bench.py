#!/usr/bin/env python
"""mpilda benchmarks; each prints figures (medians of repeated runs), never pass/fail.

    python tools/bench.py io --json     # output writer: paper grid, 10 daily fields, 30 days, 2 ranks

The io benchmark launches itself under ``mpirun -n RANKS`` once per case and
repeat, and reports for mpio and gather, with and without a member dimension,
the data rate (MB/s of uncompressed field data) and the seconds per simulated
day of output.
"""

from __future__ import annotations

import argparse
import json
import os
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
    variables = [Variable(f"field{i}", "1", f"benchmark field {i}", member=members > 0) for i in range(args.fields)]
    shape = ((members,) if members else ()) + (local.n_cells,)
    rng = np.random.default_rng(comm.rank)
    data = [rng.random(shape, dtype=np.float32) for _ in range(args.fields)]
    path = Path(args.dir) / f"bench_{args.mode}_{members}.nc"
    comm.Barrier()
    t0 = time.perf_counter()
    with GridWriter(path, local, comm, variables, start=cfg.time.start, n_times=args.days, n_members=members,
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
    w = sub.add_parser("_io", help=argparse.SUPPRESS)
    for name, typ in (("--mode", str), ("--members", int), ("--days", int), ("--fields", int),
                      ("--compression", int), ("--dir", str)):
        w.add_argument(name, type=typ, required=True)
    args = parser.parse_args(argv)
    if args.what == "_io":
        io_worker(args)
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
