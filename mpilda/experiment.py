"""The run loop: spin-up, the run period, daily-mean output, checkpoints, balance summaries.

``run(cfg, comm)`` is what ``python -m mpilda run CONFIG`` does on every rank.
Each rank steps the model for its own cells; ranks meet only to write output
and restarts (collective) and for the end-of-run summaries (reductions).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError
from .grid import Grid
from .log import Progress, log
from .output import GridWriter, Variable, resolve_io_mode, standard_attributes
from .parallel import Decomposition, LocalDomain
from .restart import read_restart, write_restart

#: The variables of daily_mean.nc (names fixed by the model issue), with units and CF standard names.
OUTPUT_VARIABLES = [
    Variable("sm1", "m3 m-3", "volumetric soil moisture, layer 1 (0-10 cm)", "volume_fraction_of_condensed_water_in_soil"),
    Variable("sm2", "m3 m-3", "volumetric soil moisture, layer 2 (10-40 cm)", "volume_fraction_of_condensed_water_in_soil"),
    Variable("sm3", "m3 m-3", "volumetric soil moisture, layer 3 (40-100 cm)",
             "volume_fraction_of_condensed_water_in_soil"),
    Variable("sm4", "m3 m-3", "volumetric soil moisture, layer 4 (100-200 cm)",
             "volume_fraction_of_condensed_water_in_soil"),
    Variable("ssm", "m3 m-3", "surface soil moisture (layer 1)", "volume_fraction_of_condensed_water_in_soil"),
    Variable("rzsm", "m3 m-3", "root-zone soil moisture (0-100 cm, thickness-weighted)",
             "volume_fraction_of_condensed_water_in_soil"),
    Variable("lai", "m2 m-2", "leaf area index", "leaf_area_index"),
    Variable("gpp", "kg m-2 s-1", "gross primary production (carbon)",
             "gross_primary_productivity_of_biomass_expressed_as_carbon"),
    Variable("et", "kg m-2 s-1", "evapotranspiration", "water_evapotranspiration_flux"),
    Variable("nee", "kg m-2 s-1", "net ecosystem exchange (carbon, positive upward: respiration - GPP)"),
    Variable("qs", "kg m-2 s-1", "surface runoff", "surface_runoff_flux"),
    Variable("qsb", "kg m-2 s-1", "subsurface runoff (drainage)", "subsurface_runoff_flux"),
    Variable("swe", "kg m-2", "snow water equivalent", "surface_snow_amount"),
    Variable("tsoil1", "K", "soil temperature, layer 1", "soil_temperature"),
    Variable("swnet", "W m-2", "net shortwave radiation", "surface_net_downward_shortwave_flux"),
    Variable("lwnet", "W m-2", "net longwave radiation", "surface_net_downward_longwave_flux"),
    Variable("hfx", "W m-2", "sensible heat flux", "surface_upward_sensible_heat_flux"),
    Variable("lh", "W m-2", "latent heat flux", "surface_upward_latent_heat_flux"),
    Variable("ghf", "W m-2", "ground heat flux into the soil", "downward_heat_flux_in_soil"),
]
_FLUX_NAMES = ("gpp", "et", "nee", "qs", "qsb", "swnet", "lwnet", "hfx", "lh", "ghf")


def output_fields(state, fluxes) -> dict[str, np.ndarray]:
    """The daily_mean.nc variables of one step, (n_ens, n_cells) each."""
    out = {f"sm{k + 1}": state.smc[k] for k in range(4)}
    out.update(ssm=state.smc[0], rzsm=state.rzsm, lai=state.lai, swe=state.sneqv, tsoil1=state.stc[0])
    out.update({name: fluxes[name] for name in _FLUX_NAMES})
    return out


class DailyMeans:
    """Running sums of the output fields over the steps of a day."""

    def __init__(self):
        self.sums: dict[str, np.ndarray] = {}
        self.steps = 0

    def add(self, fields: dict[str, np.ndarray]) -> None:
        for name, value in fields.items():
            if name in self.sums:
                self.sums[name] += value
            else:
                self.sums[name] = np.array(value, dtype=np.float64)
        self.steps += 1

    def ensemble_mean(self, members: slice) -> dict[str, np.ndarray]:
        """Daily mean of each field over the day's steps and the given ensemble members: (n_cells,)."""
        return {name: s[members].mean(axis=0) / self.steps for name, s in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.steps = {}, 0


@dataclass
class Budget:
    """Per-rank sums for the water and energy balance summary of a run."""

    precip: float = 0.0
    et: float = 0.0
    runoff: float = 0.0
    drainage: float = 0.0
    max_water_error: float = 0.0
    max_energy_residual: float = 0.0
    storage_start: float | None = None
    storage_end: float = 0.0
    columns: int = 0
    extra: dict = field(default_factory=dict)

    def add(self, forcing, fluxes, dt_s: float, n_ens: int) -> None:
        self.precip += float(np.sum(np.broadcast_to(forcing["rainf"] + forcing["snowf"], fluxes["et"].shape))) * dt_s
        self.et += float(fluxes["et"].sum()) * dt_s
        self.runoff += float(fluxes["qs"].sum()) * dt_s
        self.drainage += float(fluxes["qsb"].sum()) * dt_s
        self.max_water_error = max(self.max_water_error, float(np.abs(fluxes["water_error"]).max(initial=0)))
        self.max_energy_residual = max(self.max_energy_residual,
                                       float(np.abs(fluxes["energy_residual"]).max(initial=0)))

    def summary(self, comm) -> dict:
        """Domain-mean budget in mm (kg m-2) over the run, on every rank."""
        from mpi4py import MPI

        sums = np.array([self.precip, self.et, self.runoff, self.drainage, self.storage_start or 0.0,
                         self.storage_end, self.columns], dtype=np.float64)
        total = np.empty_like(sums)
        comm.Allreduce(sums, total, op=MPI.SUM)
        worst = comm.allreduce(max(self.max_water_error, 0.0), op=MPI.MAX)
        worst_e = comm.allreduce(self.max_energy_residual, op=MPI.MAX)
        n = max(total[6], 1.0)
        p, et, qs, qsb, s0, s1 = (total[:6] / n).tolist()
        return dict(precipitation_mm=p, evapotranspiration_mm=et, surface_runoff_mm=qs, drainage_mm=qsb,
                    storage_change_mm=s1 - s0, residual_mm=(s1 - s0) - (p - et - qs - qsb),
                    max_water_error_kg_m2_per_step=worst, max_canopy_energy_residual_w_m2=worst_e)


def open_forcing(cfg: Config, local: LocalDomain):
    """The forcing of a run: the synthetic world's truth or model forcing, or ERA5 files."""
    from .forcing.era5 import Era5Forcing
    from .world import forcing_pattern

    if cfg.forcing.source == "synthetic":
        pattern = forcing_pattern(cfg, "truth" if cfg.experiment.name == "truth" else "model")
    else:
        pattern = cfg.forcing.era5_files
    return Era5Forcing(pattern, local.lat, local.lon, cfg.time.timestep, cfg.forcing.snow_temperature)


def build_model(cfg: Config, local: LocalDomain):
    """The land surface model for a rank's cells, with its maps and tables."""
    from .landscape import read_class_map
    from .model.noahmp import ModelSettings, NoahMP
    from .model.parameters import read_mptable, read_soilparm

    veg = read_mptable(cfg.model.mptable_file) if cfg.model.mptable_file else read_mptable()
    soil = read_soilparm(cfg.model.soilparm_file) if cfg.model.soilparm_file else read_soilparm()
    landcover = read_class_map(cfg.landcover_file, "landcover", local.lat, local.lon, veg.n_classes)
    soils = read_class_map(cfg.soil_file, "soil", local.lat, local.lon, len(soil.names))
    water_cells = landcover == veg.special["ISWATER"]
    if water_cells.any():
        i = int(np.flatnonzero(water_cells)[0])
        raise InputError(f"{cfg.landcover_file}: land cell at {local.lat[i]:.3f}N {local.lon[i]:.3f}E has the water "
                         f"class {veg.special['ISWATER']}; the land mask and the land-cover map disagree")
    settings = ModelSettings(dt=float(cfg.time.timestep), drainage_slope=cfg.model.drainage_slope,
                             soil_substeps=cfg.model.soil_substeps)
    return NoahMP(landcover, soils, local.lat, local.lon, veg, soil, settings)


class Runner:
    """Everything one rank needs to run an experiment."""

    def __init__(self, cfg: Config, comm):
        self.cfg, self.comm = cfg, comm
        if cfg.forcing.source == "synthetic":
            from .world import make_world

            make_world(cfg, comm)
        self.grid = Grid.from_config(cfg.domain)
        self.dec = Decomposition.build(self.grid, cfg.domain.tile_size, comm.size)
        self.local = self.dec.local(comm.rank)
        self.mode = resolve_io_mode(cfg.output.io_mode, comm)
        self.model = build_model(cfg, self.local)
        self.forcing = open_forcing(cfg, self.local)
        self.dt = cfg.time.timestep
        self.n_ens = max(cfg.ensemble.members, 1)
        self.members = slice(0, self.n_ens)
        self.out_dir = cfg.output.directory
        self.attrs = standard_attributes(comm, f"mpilda {cfg.experiment.name} run", cfg.to_ini())

    # -- state ---------------------------------------------------------------------
    def initial_state(self, time: dt.datetime):
        from .model.state import State

        path = self.cfg.spinup.restart_file
        if path is not None:
            arrays, meta = read_restart(path, self.local)
            state = State.from_arrays(arrays)
            if state.shape[0] != self.n_ens:
                raise InputError(f"{path}: the restart holds {state.shape[0]} ensemble columns per cell; this run "
                                 f"needs {self.n_ens}")
            log.info("starting from restart %s (written at %s)", path, meta.get("time"))
            return state
        return self.model.cold_start(self.n_ens, self.forcing.at(time), time)

    def save(self, state, path: Path, time: dt.datetime, extra: dict | None = None) -> Path:
        meta = dict(time=f"{time:%Y-%m-%dT%H:%M:%SZ}", experiment=self.cfg.experiment.name,
                    members=self.cfg.ensemble.members, seed=self.cfg.random.seed, **(extra or {}))
        return write_restart(path, self.local, self.comm, state.arrays(), meta, self.mode)

    # -- stepping ------------------------------------------------------------------
    def integrate(self, state, start: dt.datetime, days: int, label: str, writer=None, budget=None,
                  on_day=None):
        """Run ``days`` days from ``start``; write daily means to ``writer`` if given."""
        steps = 86400 // self.dt
        progress = Progress(days * steps, label, enabled=self.comm.rank == 0)
        daily = DailyMeans()
        for day in range(days):
            day_start = start + dt.timedelta(days=day)
            for i in range(steps):
                t = day_start + dt.timedelta(seconds=i * self.dt)
                forcing = self.forcing.at(t)
                fluxes = self.model.step(state, forcing, t)
                daily.add(output_fields(state, fluxes))
                if budget is not None:
                    budget.add(forcing, fluxes, self.dt, self.n_ens)
                progress.update(day * steps + i + 1, t + dt.timedelta(seconds=self.dt))
            if writer is not None:
                writer.write(day, daily.ensemble_mean(self.members))
            if on_day is not None:
                on_day(day, day_start + dt.timedelta(days=1), daily)
            daily.reset()
        return state

    def spinup(self, state):
        """Cycle the spin-up period; restarts after each cycle; the convergence table in spinup.json."""
        sp = self.cfg.spinup
        if sp.cycles == 0:
            return state
        start = sp.start or self.cfg.time.start
        end = sp.end or self.cfg.time.end
        days = (end - start).days
        table = []
        previous = None
        for cycle in range(1, sp.cycles + 1):
            means = {"sm": 0.0, "lai": 0.0, "carbon": 0.0}

            def collect(day, time, daily):
                means["sm"] += daily.sums["rzsm"][self.members].mean(axis=0) / daily.steps / days
                means["lai"] += daily.sums["lai"][self.members].mean(axis=0) / daily.steps / days
            state = self.integrate(state, start, days, f"spin-up {cycle}/{sp.cycles}", on_day=collect)
            means["carbon"] = state.carbon()[self.members].mean(axis=0)
            row = dict(cycle=cycle)
            if previous is not None:
                for key in ("sm", "lai", "carbon"):
                    change = np.abs(means[key] - previous[key]) / np.maximum(np.abs(previous[key]), 1e-6)
                    row[f"max_rel_change_{key}"] = float(self.comm.allreduce(float(change.max(initial=0.0)),
                                                                             op=_max()))
                    row[f"mean_rel_change_{key}"] = float(self.comm.allreduce(float(change.sum()), op=_sum())
                                                          / self.grid.n_land)
            previous = means
            self.save(state, self.out_dir / "restart" / f"spinup_cycle_{cycle:03d}.nc", end,
                      dict(spinup_cycle=cycle))
            table.append(row)
            if self.comm.rank == 0:
                _write_json(self.out_dir / "spinup.json", dict(period=[f"{start:%Y-%m-%d}", f"{end:%Y-%m-%d}"],
                                                               tolerance=sp.tolerance, cycles=table))
                log.info("spin-up cycle %d: %s", cycle, {k: round(v, 6) for k, v in row.items() if k != "cycle"})
            if sp.tolerance > 0 and cycle > 1 and all(row[f"max_rel_change_{k}"] < sp.tolerance
                                                      for k in ("sm", "lai", "carbon")):
                log.info("spin-up converged after %d cycles (tolerance %g)", cycle, sp.tolerance)
                break
        return state

    def run(self) -> dict:
        cfg = self.cfg
        start, days = cfg.time.start, cfg.time.n_days
        state = self.initial_state(start)
        state = self.spinup(state)
        budget = Budget(columns=self.local.n_cells * self.n_ens)
        budget.storage_start = float(state.water()[self.members].sum())
        checkpoints = cfg.output.checkpoint_days
        restart_dir = self.out_dir / "restart"
        last = {"path": None}

        def checkpoint(day, time, daily):
            if (checkpoints and (day + 1) % checkpoints == 0) or day + 1 == days:
                path = self.save(state, restart_dir / f"restart_{time:%Y%m%d}.nc", time)
                if self.comm.rank == 0 and last["path"] is not None and last["path"] != path:
                    last["path"].unlink(missing_ok=True)   # the previous one goes only once the new one is whole
                last["path"] = path
        with GridWriter(self.out_dir / "daily_mean.nc", self.local, self.comm, OUTPUT_VARIABLES, start=start,
                        n_times=days, mode=self.mode, compression=cfg.output.compression, attrs=self.attrs) as w:
            self.integrate(state, start, days, cfg.experiment.name, writer=w, budget=budget, on_day=checkpoint)
        budget.storage_end = float(state.water()[self.members].sum())
        summary = budget.summary(self.comm)
        if self.comm.rank == 0:
            _write_json(self.out_dir / "balance.json", summary)
            log.info("water balance over the run (domain mean, mm): P %.1f, ET %.1f, surface runoff %.1f, "
                     "drainage %.1f, storage change %.1f, residual %.2e; worst step error %.1e kg m-2; worst "
                     "canopy energy residual %.1e W m-2", summary["precipitation_mm"],
                     summary["evapotranspiration_mm"], summary["surface_runoff_mm"], summary["drainage_mm"],
                     summary["storage_change_mm"], summary["residual_mm"],
                     summary["max_water_error_kg_m2_per_step"], summary["max_canopy_energy_residual_w_m2"])
        self.forcing.close()
        return summary


def _max():
    from mpi4py import MPI

    return MPI.MAX


def _sum():
    from mpi4py import MPI

    return MPI.SUM


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".incomplete")
    tmp.write_text(json.dumps(obj, indent=1))
    tmp.replace(path)


def run(cfg: Config, comm) -> dict:
    """Run the experiment of ``cfg`` (collective)."""
    if cfg.experiment.name not in ("truth", "OL"):
        raise InputError(f"[experiment] name = {cfg.experiment.name}: data assimilation experiments are not "
                         f"available yet; this version runs truth and OL")
    if cfg.ensemble.members > 0:
        raise InputError(f"[ensemble] members = {cfg.ensemble.members}: ensembles are not available yet; "
                         f"set members = 0 for one unperturbed run")
    return Runner(cfg, comm).run()
