"""The whole twin experiment in one command: ``python -m mpilda twin CONFIG``.

Stages (each writes a marker ``<twin directory>/stages/<name>.done`` holding the
hash of its configuration; a stage whose marker matches is skipped, so a
stopped twin resumes where it stopped):

1. ``world``: the synthetic world for the ensemble spin-up and the run period;
2. ``truth``: the truth run (truth forcing; spun up by cycling the run period);
3. ``model_spinup``: the deterministic model spun up with the model forcing;
4. ``ensemble_spinup``: the ensemble spun up over the days before the run;
5. ``OL``: the ensemble open loop (it also gives the climatologies);
6. ``observations``: synthetic SMAP, CGLS LAI and AMSR2 VOD from the truth;
7. ``tables``: CDF matching, seasonal LAI rescaling, VOD calibration from the OL;
8. one stage per DA experiment of ``[twin] experiments``;
9. with ``[twin] beyond``: ``beyond_tables`` (the seasonal SMAP rescaling, if an option needs
   it) and one stage per variant ``<experiment>@<option>`` (``mpilda.beyond``), in
   ``<twin directory>/beyond/``;
10. ``evaluate`` and ``report``.

Every stage is a config derived from the twin's config by overriding keys,
validated like a user's (its resolved text is in each output file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from pathlib import Path

from .config import Config, config_from_text, format_value
from .log import log


def _derive(cfg: Config, overrides: dict[str, object]) -> Config:
    """``cfg`` with keys replaced (section.key -> value), validated again."""
    items = [f"{k}={v if isinstance(v, str) else format_value(v)}" for k, v in overrides.items()]
    return config_from_text(cfg.to_ini(), source=f"{cfg.source} (twin stage)", overrides=items)


def stage_configs(cfg: Config) -> list[tuple[str, object]]:
    """The (name, config maker) of every stage, in order.

    A stage's config is made just before it runs: it may name files that earlier
    stages write (restarts), which must exist when it is validated.
    """
    root = cfg.twin.directory
    start, end = cfg.time.start, cfg.time.end
    ens_start = start - dt.timedelta(days=cfg.twin.ensemble_spinup_days)
    period = {"spinup.start": start, "spinup.end": end}
    common = {"synthetic.truth_directory": root / "truth", "assimilation.ol_directory": root / "OL",
              "assimilation.climatology_start": start, "assimilation.climatology_end": end}
    members = cfg.ensemble.members
    def derive(overrides):
        return lambda: _derive(cfg, overrides)
    stages = [
        ("world", derive({**common, "time.start": ens_start})),
        ("truth", derive({**common, **period, "experiment.name": "truth", "ensemble.members": 0,
                          "spinup.cycles": cfg.twin.truth_spinup_cycles, "output.directory": root / "truth",
                          "output.overpass": True})),
        ("model_spinup", derive({**common, **period, "experiment.name": "OL", "ensemble.members": 0,
                                 "spinup.cycles": max(cfg.twin.model_spinup_cycles, 1),
                                 "time.start": ens_start, "time.end": start,
                                 "output.directory": root / "model_spinup"})),
    ]
    spun = root / "model_spinup" / "restart" / f"spinup_cycle_{max(cfg.twin.model_spinup_cycles, 1):03d}.nc"
    stages.append(("ensemble_spinup", derive({**common, "experiment.name": "OL", "ensemble.members": members,
                                              "spinup.cycles": 0, "spinup.restart_file": spun,
                                              "time.start": ens_start, "time.end": start,
                                              "output.directory": root / "ensemble_spinup"})))
    ens_restart = root / "ensemble_spinup" / "restart" / f"restart_{start:%Y%m%d}.nc"
    run = {**common, "ensemble.members": members, "spinup.cycles": 0, "spinup.restart_file": ens_restart}
    stages.append(("OL", derive({**run, "experiment.name": "OL", "output.directory": root / "OL",
                                 "output.overpass": True})))
    stages.append(("observations", derive({**common, "experiment.name": "truth", "ensemble.members": 0})))
    stages.append(("tables", derive({**common, "experiment.name": "OL"})))
    for name in cfg.twin.experiment_list:
        stages.append((name, derive({**run, "experiment.name": name, "output.directory": root / name})))
    extra = beyond_variants(cfg)
    if any(v.overrides.get("obs.smap.rescale") == "seasonal" for v in extra):
        stages.append(("beyond_tables", derive({**common, "experiment.name": "OL", "obs.smap.rescale": "seasonal",
                                                "obs.lai.rescale": False})))
    for v in extra:
        stages.append((v.name, derive({**run, "experiment.name": v.experiment,
                                       "output.directory": root / "beyond" / v.name, **v.overrides})))
    stages.append(("evaluate", derive(common)))
    stages.append(("report", derive(common)))
    return stages


def beyond_variants(cfg: Config):
    """The variants of ``[twin] beyond`` (``mpilda.beyond.Variant``) over ``[twin] experiments``."""
    from .beyond import variants

    return variants(cfg.twin.beyond, cfg.twin.experiment_list)


def _stage_hash(stage_cfg: Config, name: str = "") -> str:
    """The hash of stage ``name``'s configuration, without ``[twin] stage_ranks`` (how many ranks run a
    stage does not change its results, so a change of it does not run finished stages again) and,
    but for the evaluation and the report, ``[twin] beyond`` (the variants are stages of their own:
    adding one runs only it, the evaluation and the report)."""
    skip = ("stage_ranks",) if name in ("evaluate", "report") else ("stage_ranks", "beyond")
    text = "\n".join(line for line in stage_cfg.to_ini().splitlines() if not line.startswith(skip))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _run_stage(name: str, stage_cfg: Config, comm) -> None:
    from .experiment import run

    if name == "world":
        from .world import make_world

        make_world(stage_cfg, comm)
    elif name == "observations":
        from .obs.synthetic import make_observations

        make_observations(stage_cfg, comm)
    elif name == "tables":
        from .obs.tables import calibrate_vod, make_rescaling

        if stage_cfg.obs_smap.rescale != "no" or stage_cfg.obs_lai.rescale:
            make_rescaling(stage_cfg, comm)
        calibrate_vod(stage_cfg, comm)
    elif name == "beyond_tables":
        from .obs.tables import make_rescaling

        make_rescaling(stage_cfg, comm, summary_file="rescaling_seasonal.json")    # the paper's tables stay
    elif name == "evaluate":
        from .evaluation.run import evaluate

        evaluate(stage_cfg, comm)
    elif name == "report":
        from .report import load_result, tables, write_report

        if comm.rank == 0:
            path = write_report(stage_cfg.twin.directory, stage_cfg)
            print(tables(load_result(stage_cfg.twin.directory)))
            print(f"report: {path}")
        comm.Barrier()
    else:
        run(stage_cfg, comm)


def tables_need_ol(cfg: Config) -> bool:
    """Whether the tables the DA experiments read come from the open loop: a rescaling of SMAP or LAI
    fitted to it, or a VOD operator fitted to its states. Otherwise the open loop is just one more run
    of the set, and runs beside the DA experiments."""
    seasonal = any(v.overrides.get("obs.smap.rescale") == "seasonal" for v in beyond_variants(cfg))
    return ((cfg.obs_smap.rescale != "no" or seasonal) and cfg.obs_smap.rescale_directory is None) \
        or cfg.obs_lai.rescale or cfg.obs_vod.calibration_directory is None


def stage_rounds(names: list[str], experiments: list[str], size: int, stage_ranks: int,
                 ol_first: bool = True) -> list[list[list[str]]]:
    """The stages grouped into rounds of chains: the chains of a round run side by side, each on its
    own group of ranks, the stages of a chain one after the other; rounds run in order.

    Stages that do not depend on each other run side by side when there are ranks for it: the truth
    beside the model and ensemble spin-ups, and the DA experiments beside each other, ``stage_ranks``
    ranks each (0: one stage per rank, up to all of them at once).  Every experiment gives the
    same numbers on any number of ranks; side by side, the per-step costs that do not shrink with the
    cells of a rank (forcing, random numbers, Python) are paid once per rank rather than once per
    experiment, and the ranks wait less on each other.  With ``ol_first`` False (the tables do not
    come from the open loop) the open loop is one of the runs side by side.
    """
    rounds: list[list[list[str]]] = []
    spinups = [n for n in ("model_spinup", "ensemble_spinup") if n in names]
    side = max(1, min(size, size // stage_ranks if stage_ranks else size))
    pending = ([] if ol_first else ["OL"]) + [n for n in experiments if n in names]
    for name in names:
        if name in spinups or name in pending:
            continue
        if name == "truth" and side > 1 and spinups:
            rounds.append([["truth"], spinups])
            continue
        if name == "evaluate" and pending:
            while pending:
                rounds.append([[n] for n in pending[:side]])
                pending = pending[side:]
        rounds.append([[name]])
        if name == "truth" and spinups:
            rounds.append([spinups])
    return rounds


def _groups(comm, n: int):
    """``comm`` cut into ``n`` groups of consecutive ranks (sizes differing by at most one): (index, sub-comm)."""
    color = comm.rank * n // comm.size
    return color, comm.Split(color, comm.rank)


def run_twin(cfg: Config, comm) -> Path:
    """Run (or resume) every stage of the twin experiment (collective); returns the twin directory."""
    stages = stage_configs(cfg)
    makers = dict(stages)
    numbers = {name: k for k, (name, _) in enumerate(stages, 1)}
    marks = cfg.twin.directory / "stages"
    if comm.rank == 0:
        marks.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    t_all = time.monotonic()

    def run_chain(chain: list[str], group, beside: str) -> dict[str, float]:
        seconds = {}
        for name in chain:
            stage_cfg = makers[name]()
            marker = marks / f"{name}.done"
            digest = _stage_hash(stage_cfg, name)
            if marker.exists() and marker.read_text().strip() == digest:
                log.info("twin stage %d/%d %s: already done", numbers[name], len(stages), name)
                continue
            t0 = time.monotonic()
            log.info("twin stage %d/%d %s%s ...", numbers[name], len(stages), name, beside)
            _run_stage(name, stage_cfg, group)
            group.Barrier()
            if group.rank == 0:
                marker.write_text(digest + "\n")
            seconds[name] = time.monotonic() - t0
        return seconds

    runs = cfg.twin.experiment_list + [v.name for v in beyond_variants(cfg)]
    rounds = stage_rounds([n for n, _ in stages], runs, comm.size, cfg.twin.stage_ranks, ol_first=tables_need_ol(cfg))
    for chains in rounds:
        n = len(chains)
        if n == 1:
            index, group, beside = 0, comm, ""
        else:
            index, group = _groups(comm, n)
            sizes = [sum(1 for r in range(comm.size) if r * n // comm.size == k) for k in range(n)]
            beside = " (" + ", ".join(f"{' + '.join(c)} on {m} rank{'s' * (m > 1)}" for c, m in zip(chains, sizes)) \
                + " side by side)"
        first = group.rank == 0
        level = log.level
        if first and comm.rank != 0:
            log.setLevel(min(level, logging.INFO))   # the first rank of each group tells its chain's story
        try:
            seconds = run_chain(chains[index], group, beside)
        finally:
            log.setLevel(level)
            if group is not comm:
                group.Free()
        # each group's first rank reports its stages' times; rank 0 logs them
        everything = comm.gather(seconds if first else {}, root=0)
        if comm.rank == 0:
            for name, t in ((name, t) for part in everything for name, t in part.items()):
                log.info("twin stage %d/%d %s: done in %.0f s", numbers[name], len(stages), name, t)
        comm.Barrier()
    log.info("twin experiment complete in %.0f s: %s", time.monotonic() - t_all, cfg.twin.directory)
    return cfg.twin.directory
