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
9. ``evaluate`` and ``report``.

Every stage is a config derived from the twin's config by overriding keys,
validated like a user's (its resolved text is in each output file).
"""

from __future__ import annotations

import datetime as dt
import hashlib
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
    stages.append(("evaluate", derive(common)))
    stages.append(("report", derive(common)))
    return stages


def _stage_hash(stage_cfg: Config) -> str:
    return hashlib.sha256(stage_cfg.to_ini().encode()).hexdigest()[:16]


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

        make_rescaling(stage_cfg, comm)
        calibrate_vod(stage_cfg, comm)
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


def run_twin(cfg: Config, comm) -> Path:
    """Run (or resume) every stage of the twin experiment (collective); returns the twin directory."""
    stages = stage_configs(cfg)
    marks = cfg.twin.directory / "stages"
    if comm.rank == 0:
        marks.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    t_all = time.monotonic()
    for k, (name, make) in enumerate(stages, 1):
        stage_cfg = make()
        marker = marks / f"{name}.done"
        digest = _stage_hash(stage_cfg)
        if marker.exists() and marker.read_text().strip() == digest:
            log.info("twin stage %d/%d %s: already done", k, len(stages), name)
            continue
        t0 = time.monotonic()
        log.info("twin stage %d/%d %s ...", k, len(stages), name)
        _run_stage(name, stage_cfg, comm)
        comm.Barrier()
        if comm.rank == 0:
            marker.write_text(digest + "\n")
        log.info("twin stage %d/%d %s: done in %.0f s", k, len(stages), name, time.monotonic() - t0)
    log.info("twin experiment complete in %.0f s: %s", time.monotonic() - t_all, cfg.twin.directory)
    return cfg.twin.directory
