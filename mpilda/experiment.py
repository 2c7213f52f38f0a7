"""The run loop: spin-up, the run period, daily-mean output, checkpoints, balance summaries.

``run(cfg, comm)`` is what ``python -m mpilda run CONFIG`` does on every rank.
Each rank steps the model for its own cells; ranks meet only to write output
and restarts (collective) and for the end-of-run summaries (reductions).
"""

from __future__ import annotations

import datetime as dt
import json
import time as _time
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError
from .grid import Grid
from .log import Progress, log
from .output import (GridWriter, OutputError, Variable, ensemble_range, ensure_directory, resolve_io_mode,
                     standard_attributes)
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
    Variable("precip", "kg m-2 s-1", "precipitation (rain and snow) of the forcing", "precipitation_flux"),
]
#: The variables of daily_spread.nc: the ensemble range of each daily mean, so labelled (no standard_name).
SPREAD_VARIABLES = [ensemble_range(v) for v in OUTPUT_VARIABLES]
_FLUX_NAMES = ("gpp", "et", "nee", "qs", "qsb", "swnet", "lwnet", "hfx", "lh", "ghf")


def output_fields(state, fluxes, forcing) -> dict[str, np.ndarray]:
    """The daily_mean.nc variables of one step, (n_ens, n_cells) each."""
    out = {f"sm{k + 1}": state.smc[k] for k in range(4)}
    out["precip"] = np.broadcast_to(forcing["rainf"] + forcing["snowf"], state.tv.shape)
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

    def spread(self, members: slice) -> dict[str, np.ndarray]:
        """Ensemble spread of the daily means: max - min over the members, (n_cells,)."""
        return {name: (s[members].max(axis=0) - s[members].min(axis=0)) / self.steps for name, s in self.sums.items()}

    def member_means(self, members: slice) -> dict[str, np.ndarray]:
        """Daily means of every member, (n_members, n_cells)."""
        return {name: s[members] / self.steps for name, s in self.sums.items()}

    def reset(self) -> None:
        self.sums, self.steps = {}, 0


class Budget:
    """Per-cell sums of a rank for the water and energy balance summary of a run.

    Every field is (n_cells,), summed over the ensemble columns of a cell [kg m-2], so that a
    checkpoint carries it by cell id and a resumed run on any number of ranks continues it.
    """

    NAMES = ("precip", "et", "runoff", "drainage", "external", "discarded", "storage_start", "storage_end",
             "max_water_error", "max_energy_residual")

    def __init__(self, n_cells: int, n_ens: int):
        self.n_ens = n_ens
        for name in self.NAMES:
            setattr(self, name, np.zeros(n_cells))

    def add(self, forcing, fluxes, dt_s: float) -> None:
        shape = fluxes["et"].shape
        self.precip += np.broadcast_to(forcing["rainf"] + forcing["snowf"], shape).sum(axis=0) * dt_s
        self.et += fluxes["et"].sum(axis=0) * dt_s
        self.runoff += fluxes["qs"].sum(axis=0) * dt_s
        self.drainage += fluxes["qsb"].sum(axis=0) * dt_s
        self.discarded += fluxes["discarded"].sum(axis=0) * dt_s
        np.maximum(self.max_water_error, np.abs(fluxes["water_error"]).max(axis=0), out=self.max_water_error)
        np.maximum(self.max_energy_residual, np.abs(fluxes["energy_residual"]).max(axis=0),
                   out=self.max_energy_residual)

    def arrays(self) -> dict[str, np.ndarray]:
        """The sums as restart arrays ``budget_<name>`` (n_cells,)."""
        return {f"budget_{name}": getattr(self, name) for name in self.NAMES}

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        for name in self.NAMES:
            setattr(self, name, np.array(arrays[f"budget_{name}"], dtype=np.float64))

    def summary(self, comm) -> dict:
        """Domain-mean budget in mm (kg m-2) over the run, on every rank."""
        from mpi4py import MPI

        sums = np.array([getattr(self, k).sum() for k in ("precip", "et", "runoff", "drainage", "storage_start",
                                                          "storage_end", "external", "discarded")]
                        + [self.precip.size * self.n_ens], dtype=np.float64)
        total = np.empty_like(sums)
        comm.Allreduce(sums, total, op=MPI.SUM)
        worst = comm.allreduce(float(self.max_water_error.max(initial=0.0)), op=MPI.MAX)
        worst_e = comm.allreduce(float(self.max_energy_residual.max(initial=0.0)), op=MPI.MAX)
        n = max(total[8], 1.0)
        p, et, qs, qsb, s0, s1, ext, gone = (total[:8] / n).tolist()
        return dict(precipitation_mm=p, evapotranspiration_mm=et, surface_runoff_mm=qs, drainage_mm=qsb,
                    storage_change_mm=s1 - s0, increments_mm=ext, discarded_mm=gone,
                    residual_mm=(s1 - s0) - (p - et - qs - qsb) - ext + gone,
                    max_water_error_kg_m2_per_step=worst, max_energy_residual_w_m2=worst_e)


class OverpassSampler:
    """The state at fixed local solar times, once per UTC day and cell: what satellites would see.

    Each cell is sampled at the end of the model step that holds the local time
    (UTC = local - lon/15 h); variables are named ``<var>_<hhmm>``.
    """

    def __init__(self, lon: np.ndarray, dt_s: int, times: dict[float, tuple[str, ...]]):
        steps = 86400 // dt_s
        self.plan = []
        for hour, names in times.items():
            utc = np.mod(hour - lon / 15.0, 24.0)
            step = np.minimum((utc * 3600.0 // dt_s).astype(np.int64), steps - 1)
            self.plan.append((f"{int(hour):02d}{int(round(hour % 1 * 60)):02d}", names, step))
        self.values: dict[str, np.ndarray] = {}
        #: the steps of a day in which some cell is sampled
        self.due = frozenset(int(k) for _, _, step in self.plan for k in np.unique(step))

    def variables(self) -> list[Variable]:
        units = {"sm1": "m3 m-3", "rzsm": "m3 m-3", "lai": "m2 m-2", "tsoil1": "K", "swe": "kg m-2"}
        return [Variable(f"{n}_{tag}", units[n], f"{n} at {tag[:2]}:{tag[2:]} local solar time (end of the "
                                                 f"model step holding it)", cell_methods="time: point")
                for tag, names, _ in self.plan for n in names]

    def sample(self, step_in_day: int, fields: dict[str, np.ndarray]) -> None:
        """Record ``fields`` ((n_cells,) each) for the cells whose local time falls in this step."""
        for tag, names, step in self.plan:
            cells = step == step_in_day
            if cells.any():
                for n in names:
                    key = f"{n}_{tag}"
                    if key not in self.values:
                        self.values[key] = np.full(step.size, np.nan)
                    self.values[key][cells] = fields[n][cells]

    def take(self) -> dict[str, np.ndarray]:
        out, self.values = self.values, {}
        return out


def open_forcing(cfg: Config, local: LocalDomain):
    """The forcing of a run: the synthetic world's truth or model forcing, or ERA5 files."""
    from .forcing.era5 import Era5Forcing
    from .world import forcing_pattern

    if cfg.forcing.source == "synthetic":
        pattern = forcing_pattern(cfg, "truth" if cfg.experiment.name == "truth" else "model")
    else:
        pattern = cfg.forcing.era5_files
    return Era5Forcing(pattern, local.lat, local.lon, cfg.time.timestep, cfg.forcing.snow_temperature)


#: Random-number member identity of the perturbed truth (beyond any ensemble: [ensemble] members <= 10000).
TRUTH_MEMBER = 1_000_000


def perturbed_truth(cfg: Config) -> bool:
    """True for the truth run of a synthetic world with [synthetic] errors = specified."""
    return cfg.experiment.name == "truth" and cfg.forcing.source == "synthetic" and cfg.synthetic.errors == "specified"


def make_perturber(cfg: Config, local: LocalDomain):
    """The perturbations of an ensemble run's members; for the truth of a twin with specified errors,
    one more realisation of them (member TRUTH_MEMBER, no control); else None."""
    from .perturb import Perturber

    if perturbed_truth(cfg):
        return Perturber(cfg.perturbations, cfg.random.seed, local.cell_ids, 1, first_member=TRUTH_MEMBER,
                         control=False)
    return Perturber(cfg.perturbations, cfg.random.seed, local.cell_ids, cfg.ensemble.members) \
        if cfg.ensemble.members else None


def truth_irrigation(cfg: Config, local: LocalDomain, model):
    """The truth's sprinkler irrigation of its cropland cells (``mpilda.forcing.irrigation``), the water
    the model runs lack, for the truth run of a synthetic world with [synthetic] irrigation_threshold;
    else None."""
    if not (cfg.experiment.name == "truth" and cfg.forcing.source == "synthetic"
            and cfg.synthetic.irrigation_threshold):
        return None
    from .forcing.irrigation import Irrigation

    p = model.p
    return Irrigation(local.lon, p.landcover, p.smcref, p.smcwlt, cfg.synthetic.irrigation_threshold,
                      cfg.synthetic.irrigation_month_list, cfg.time.timestep)


def irrigation_summary(irrigation, comm, n_land: int) -> dict:
    """balance.json's irrigation terms (collective): the water given over the run, as a domain mean over
    the land cells [mm] like the budget's terms (it is part of their precipitation), and the number of
    irrigated cells."""
    water = comm.allreduce(float(irrigation.water.sum()), op=_sum())
    return dict(irrigation_mm=water / n_land, irrigated_cells=int(comm.allreduce(int(irrigation.irrigated.sum()),
                                                                                  op=_sum())))


def build_model(cfg: Config, local: LocalDomain):
    """The land surface model for a rank's cells, with its maps and tables."""
    from .landscape import read_class_map, read_value_map
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
    shdmax = read_value_map(cfg.shdmax_file, "shdmax", local.lat, local.lon, 0.0, 1.0, "(fraction)") \
        if cfg.model.dveg == 5 else None
    tbot = read_value_map(cfg.tbot_file, "tbot", local.lat, local.lon, 180.0, 340.0, "K")
    settings = ModelSettings(dt=float(cfg.time.timestep), dveg=cfg.model.dveg, drainage_slope=cfg.model.drainage_slope)
    return NoahMP(landcover, soils, local.lat, local.lon, veg, soil, settings, shdmax=shdmax, tbot=tbot)


def _state_of(arrays, path):
    """The model state of a restart's arrays; InputError naming the file when a field is missing."""
    from .model.state import State

    try:
        return State.from_arrays(arrays)
    except ValueError as exc:
        raise InputError(f"{path}: not a restart of this model: {exc}") from None


class Runner:
    """Everything one rank needs to run an experiment.

    Ensemble columns: ``members`` perturbed members, then (if members > 0) the
    unperturbed control run as the last column of every cell.
    """

    def __init__(self, cfg: Config, comm):
        self.cfg, self.comm = cfg, comm
        ensure_directory(cfg.output.directory, "[output] directory", comm)   # before any work
        #: Set to a dict to accumulate the seconds of each part of the run loop (tools/bench.py da).
        self.timings: dict[str, float] | None = None
        #: Days of the ``*.incomplete`` outputs of an interrupted run that a resumed run keeps
        #: (``run --resume``); None: new outputs.
        self.resume_days: int | None = None
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
        self.n_members = cfg.ensemble.members
        self.n_ens = self.n_members + 1 if self.n_members else 1
        self.members = slice(0, max(self.n_members, 1))
        self.perturber = make_perturber(cfg, self.local)
        self.irrigation = truth_irrigation(cfg, self.local, self.model)
        #: The parts whose state a checkpoint carries besides the model's.
        self.carried = [part for part in (self.perturber, self.irrigation) if part is not None]
        self.out_dir = cfg.output.directory
        self.attrs = standard_attributes(comm, f"mpilda {cfg.experiment.name} run", cfg.to_ini())
        self.assimilator = None
        if any(cfg.sensors().values()):
            from .assimilation import Assimilator

            self.assimilator = Assimilator(cfg, self.local, self.model, self.n_members, comm)
        self.overpass = None
        if cfg.output.overpass or cfg.experiment.name == "truth":
            self.overpass = OverpassSampler(self.local.lon, self.dt, {
                1.5: ("lai", "rzsm"), 6.0: ("sm1", "tsoil1", "swe"), 18.0: ("sm1", "tsoil1", "swe"),
                cfg.obs_lai.local_hour: ("lai",)})

    # -- state ---------------------------------------------------------------------
    def initial_state(self, time: dt.datetime):
        from .model.state import State

        path = self.cfg.spinup.restart_file
        if path is not None:
            arrays, meta = read_restart(path, self.local)
            state = _state_of(arrays, path)
            if state.shape[0] == 1 and self.n_ens > 1:
                # a single (e.g. spun-up deterministic) state starts every member and the control
                state = State.from_arrays({k: np.repeat(v, self.n_ens, axis=-2) for k, v in state.arrays().items()})
            elif state.shape[0] != self.n_ens:
                raise InputError(f"{path}: the restart holds {state.shape[0]} ensemble columns per cell; this run "
                                 f"needs {self.n_ens} ([ensemble] members = {self.n_members}, plus the control)")
            elif self.perturber is not None:
                self.perturber.load(arrays)
            if self.irrigation is not None:
                self.irrigation.load(arrays)
            log.info("starting from restart %s (written at %s)", path, meta.get("time"))
            return state
        return self.model.cold_start(self.n_ens, self.forcing.at(time), time)

    def _resume_state(self, path: Path, budget: Budget):
        """State, perturbations, budget and observation counts from a checkpoint of this run."""
        arrays, meta = read_restart(path, self.local)
        cfg = self.cfg
        if (meta.get("experiment"), meta.get("members"), meta.get("seed")) != \
                (cfg.experiment.name, self.n_members, cfg.random.seed):
            raise InputError(f"{path}: a checkpoint of experiment {meta.get('experiment')}, {meta.get('members')} "
                             f"members, seed {meta.get('seed')}; this run is {cfg.experiment.name}, "
                             f"{self.n_members} members, seed {cfg.random.seed}: use another [output] directory "
                             f"or run without --resume")
        missing = [k for k in budget.arrays() if k not in arrays]
        if missing:
            raise InputError(f"{path}: not a checkpoint of a run (no {missing[0]}); it can start a run as "
                             f"[spinup] restart_file, not resume one")
        state = _state_of(arrays, path)
        for part in self.carried:
            part.load(arrays)
        budget.load(arrays)
        if self.assimilator is not None:
            self.assimilator.load(arrays)
        return state, meta

    def save(self, state, path: Path, time: dt.datetime, extra: dict | None = None,
             arrays: dict | None = None) -> Path:
        """A restart of ``state`` (and the perturbations' AR(1) state, and ``arrays`` (n_cells,) such as
        the budget sums of a checkpoint) at ``time``; ``extra``: more metadata."""
        meta = dict(time=f"{time:%Y-%m-%dT%H:%M:%SZ}", experiment=self.cfg.experiment.name,
                    members=self.n_members, seed=self.cfg.random.seed, **(extra or {}))
        arrays = dict(state.arrays(), **(arrays or {}))
        for part in self.carried:
            arrays.update(part.arrays())
        return write_restart(path, self.local, self.comm, arrays, meta, self.mode)

    # -- stepping ------------------------------------------------------------------
    def _tick(self, part: str, t0: float) -> float:
        """Add the seconds since ``t0`` to ``part`` of ``self.timings`` (when timing); the time now."""
        now = _time.perf_counter()
        if self.timings is not None:
            self.timings[part] = self.timings.get(part, 0.0) + now - t0
        return now

    def step(self, state, t: dt.datetime, budget=None):
        """One model step of every ensemble column from ``t``, with perturbations and the Ryu correction."""
        from .perturb import ryu_correct

        t0 = _time.perf_counter()
        forcing = self.forcing.at(t)
        t0 = self._tick("forcing", t0)
        if self.perturber is not None:
            forcing = self.perturber.forcing(forcing, _epoch_seconds(t))
            t0 = self._tick("perturbations", t0)
        if self.irrigation is not None:
            forcing = self.irrigation.add(forcing, state.rzsm[0], t)
        fluxes = self.model.step(state, forcing, t)
        t0 = self._tick("model", t0)
        if self.perturber is not None:
            before = state.water() if budget is not None else None
            end = _epoch_seconds(t) + self.dt
            interval = self.cfg.perturbations.state_interval
            if end % interval == 0:
                self.perturber.perturb_state(self.model, state, end // interval)
            t0 = self._tick("perturbations", t0)
            if self.assimilator is not None:
                self.assimilator.analyse(state, t + dt.timedelta(seconds=self.dt), forcing["rainf"][-1],
                                         _epoch_seconds(t) // self.dt)
                t0 = self._tick("analysis", t0)
            if self.cfg.perturbations.ryu_correction:
                ryu_correct(self.model, state, self.n_members)
                t0 = self._tick("perturbations", t0)
            if budget is not None:
                budget.external += (state.water() - before).sum(axis=0)
        if budget is not None:
            budget.add(forcing, fluxes, self.dt)
            self._tick("diagnostics", t0)
        return forcing, fluxes

    def integrate(self, state, start: dt.datetime, days: int, label: str, writers=None, budget=None,
                  on_day=None, first_day: int = 0):
        """Run days ``first_day`` .. ``days - 1`` of the period from ``start``; daily means of the members,
        their spread and the members go to ``writers`` ({'mean': w, 'spread': w, 'members': w}, each
        optional) at their day index."""
        steps = 86400 // self.dt
        progress = Progress((days - first_day) * steps, label, enabled=self.comm.rank == 0)
        daily = DailyMeans()
        writers = writers or {}
        for day in range(first_day, days):
            day_start = start + dt.timedelta(days=day)
            if self.assimilator is not None:
                t0 = _time.perf_counter()
                self.assimilator.load_day(day_start)
                self._tick("observations", t0)
            for i in range(steps):
                t = day_start + dt.timedelta(seconds=i * self.dt)
                forcing, fluxes = self.step(state, t, budget)
                t0 = _time.perf_counter()
                fields = output_fields(state, fluxes, forcing)
                daily.add(fields)
                if "overpass" in writers and i in self.overpass.due:
                    self.overpass.sample(i, {k: fields[k][self.members].mean(axis=0)
                                             for k in ("sm1", "rzsm", "lai", "tsoil1", "swe")})
                progress.update((day - first_day) * steps + i + 1, t + dt.timedelta(seconds=self.dt))
                self._tick("daily means", t0)
            t0 = _time.perf_counter()
            if "mean" in writers:
                writers["mean"].write(day, daily.ensemble_mean(self.members))
            if "spread" in writers:
                writers["spread"].write(day, daily.spread(self.members))
            if "members" in writers:
                writers["members"].write(day, daily.member_means(self.members))
            if "overpass" in writers:
                writers["overpass"].write(day, self.overpass.take())
            if "diagnostics" in writers:
                writers["diagnostics"].write(day, self.assimilator.take_daily())
            if on_day is not None:
                on_day(day, day_start + dt.timedelta(days=1), daily)
            self._tick("output", t0)
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

    def _writers(self, start, days) -> dict[str, GridWriter]:
        """The run's output files (collective), by role: 'mean' (daily means), 'spread', 'members',
        'diagnostics' (the analyses' daily sums), 'overpass' (the state at overpass times)."""
        def writer(name: str, title: str, variables, member_dim: bool = False) -> GridWriter:
            if member_dim:
                variables = [Variable(v.name, v.units, v.long_name, v.standard_name, extra=("member",))
                             for v in variables]
            return GridWriter(self.out_dir / name, self.local, self.comm, variables, start=start, n_times=days,
                              dims={"member": max(self.n_members, 1)} if member_dim else None, mode=self.mode,
                              compression=self.cfg.output.compression,
                              attrs=dict(self.attrs, title=f"{self.attrs['title']}: {title}"),
                              resume_days=self.resume_days)

        out = {"mean": writer("daily_mean.nc", "daily means (ensemble mean)", OUTPUT_VARIABLES)}
        if self.n_members:
            out["spread"] = writer("daily_spread.nc", "ensemble spread (max - min over members) of the daily means",
                                   SPREAD_VARIABLES)
            if self.cfg.output.members:
                out["members"] = writer("daily_members.nc", "daily means of every member", OUTPUT_VARIABLES, True)
        if self.assimilator is not None:
            out["diagnostics"] = writer("diagnostics.nc", "data assimilation diagnostics (daily sums)",
                                        self.assimilator.variables)
        if self.overpass is not None:
            out["overpass"] = writer("overpass.nc", "state at local overpass times", self.overpass.variables())
        return out

    def run(self, resume: bool = False) -> dict:
        """Run the experiment (collective). ``resume``: continue from the newest checkpoint of an
        interrupted run of the same config in the output directory (its outputs are still
        ``*.incomplete``); without one, start from the beginning."""
        cfg = self.cfg
        start, days = cfg.time.start, cfg.time.n_days
        restart_dir = self.out_dir / "restart"
        checkpoint = find_checkpoint(self.comm, restart_dir, cfg.time.start, cfg.time.end) if resume else None
        if resume and checkpoint is None and (self.out_dir / "balance.json").exists() \
                and (self.out_dir / "daily_mean.nc").exists():
            log.info("%s: the run is already complete", self.out_dir)
            return json.loads((self.out_dir / "balance.json").read_text())
        budget = Budget(self.local.n_cells, self.n_ens)
        first_day = 0
        if checkpoint is not None:
            path, when = checkpoint
            state, meta = self._resume_state(path, budget)
            first_day = (when - start).days
            self.resume_days = first_day
            log.info("resuming %s from checkpoint %s: days %d..%d of %d", cfg.experiment.name, path,
                     first_day + 1, days, days)
        else:
            if resume:
                log.info("no checkpoint of this run in %s: starting from the beginning", restart_dir)
            state = self.initial_state(start)
            state = self.spinup(state)
            budget.storage_start = state.water().sum(axis=0)
            if self.irrigation is not None:
                self.irrigation.water[:] = 0.0          # the run's irrigation, not the spin-up's
        checkpoints = cfg.output.checkpoint_days
        last = {"path": checkpoint[0] if checkpoint else None}

        def on_day(day, time, daily):
            checkpoint_now = (checkpoints and (day + 1) % checkpoints == 0) or day + 1 == days
            check_space(self.comm, self.out_dir, state, writers, checkpoint_now, last["path"])
            if checkpoint_now:
                for w in writers.values():      # the outputs hold every day up to the checkpoint first
                    w.flush()
                extra = dict(budget.arrays(), **(self.assimilator.arrays() if self.assimilator else {}))
                path = self.save(state, restart_dir / f"restart_{time:%Y%m%d}.nc", time, arrays=extra)
                if self.comm.rank == 0 and last["path"] is not None and last["path"] != path:
                    last["path"].unlink(missing_ok=True)   # the previous one goes only once the new one is whole
                last["path"] = path
            if self.n_members and (time.day == 1 or day + 1 == days):
                self._log_spread(daily, time)
            if self.assimilator is not None and time.day == 1 and day + 1 < days:
                summary = self.assimilator.summary(self.comm)
                if self.comm.rank == 0:
                    log.info("assimilation up to %s: %s", f"{time - dt.timedelta(days=1):%Y-%m-%d}", summary)

        writers = self._writers(start, days)
        try:
            check_space(self.comm, self.out_dir, state, writers, True, last["path"])
            self.integrate(state, start, days, cfg.experiment.name, writers=writers, budget=budget, on_day=on_day,
                           first_day=first_day)
        except BaseException:
            for w in writers.values():
                w.abandon()
            raise
        for w in writers.values():
            w.close()
        budget.storage_end = state.water().sum(axis=0)
        summary = budget.summary(self.comm)
        if self.irrigation is not None:
            summary.update(irrigation_summary(self.irrigation, self.comm, self.grid.n_land))
        if self.assimilator is not None:
            summary["assimilation"] = self.assimilator.summary(self.comm)
            if self.comm.rank == 0:
                log.info("assimilation: %s", summary["assimilation"])
        if self.comm.rank == 0:
            _write_json(self.out_dir / "balance.json", summary)
            log.info("water balance over the run (domain mean, mm): P %.1f, ET %.1f, surface runoff %.1f, "
                     "drainage %.1f, storage change %.1f, increments %.2f, discarded by Noah-MP %.2e, residual "
                     "%.2e; worst step error %.1e kg m-2; worst energy residual %.1e W m-2",
                     summary["precipitation_mm"], summary["evapotranspiration_mm"], summary["surface_runoff_mm"],
                     summary["drainage_mm"], summary["storage_change_mm"], summary["increments_mm"],
                     summary["discarded_mm"], summary["residual_mm"], summary["max_water_error_kg_m2_per_step"],
                     summary["max_energy_residual_w_m2"])
        self.forcing.close()
        return summary

    def _log_spread(self, daily: "DailyMeans", time: dt.datetime) -> None:
        """Rank 0 logs the domain-mean ensemble spread of SSM, RZSM and LAI of the day (one reduction)."""
        spread = daily.spread(self.members)
        local = np.array([spread[k].sum() for k in ("ssm", "rzsm", "lai")] + [spread["ssm"].size], dtype=float)
        total = np.empty_like(local)
        self.comm.Allreduce(local, total, op=_sum())
        log.info("%s domain-mean spread (max - min): SSM %.4f m3 m-3, RZSM %.4f m3 m-3, LAI %.3f m2 m-2",
                 f"{time - dt.timedelta(days=1):%Y-%m-%d}", *(total[:3] / max(total[3], 1)))


def check_space(comm, out_dir: Path, state, writers: dict, checkpoint: bool, last: Path | None) -> None:
    """Stop with a clear error, on every rank, before the disk of ``out_dir`` fills up: there must be
    room for a day of every output file of ``writers`` (uncompressed) and, when one is due
    (``checkpoint``), a checkpoint of ``state``; ``last``: the last checkpoint written (collective; one
    statvfs on rank 0)."""
    import shutil

    per_day = sum(w.bytes_per_day() for w in writers.values())
    need = per_day + (comm.allreduce(sum(a.nbytes for a in state.arrays().values())) * 2 if checkpoint else 0)
    free = comm.bcast(shutil.disk_usage(out_dir).free if comm.rank == 0 else 0, root=0)
    if free < need + 4 * 2 ** 20:
        kept = f"the last checkpoint, {last}, is kept" if last else "no checkpoint was written yet"
        raise OutputError(f"[output] directory = {out_dir}: {free / 2**20:.0f} MB free; the next day and "
                          f"checkpoint need about {need / 2**20:.0f} MB (+4 MB reserve): stopping before the disk "
                          f"is full ({kept}; make room, then run again with --resume)")


def find_checkpoint(comm, restart_dir: Path, start: dt.datetime, end: dt.datetime) -> tuple[Path, dt.datetime] | None:
    """The newest checkpoint ``restart_YYYYMMDD.nc`` in ``restart_dir`` strictly inside the run period
    (start, end), or None (collective; rank 0 looks)."""
    found = None
    if comm.rank == 0 and restart_dir.is_dir():
        for path in sorted(restart_dir.glob("restart_????????.nc")):
            when = dt.datetime.strptime(path.stem[-8:], "%Y%m%d").replace(tzinfo=dt.timezone.utc)
            if start < when < end:
                found = (path, when)
    return comm.bcast(found, root=0)


def _epoch_seconds(t: dt.datetime) -> int:
    """Whole seconds since 1970-01-01 UTC (the time key of the perturbations' random numbers)."""
    return int((t - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)).total_seconds())


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


def run(cfg: Config, comm, resume: bool = False) -> dict:
    """Run the experiment of ``cfg`` (collective); ``resume``: from the newest checkpoint (Runner.run)."""
    if cfg.experiment.name == "truth" and cfg.ensemble.members > 0:
        raise InputError(f"[experiment] name = truth with [ensemble] members = {cfg.ensemble.members}: the truth "
                         f"run is one unperturbed run; set members = 0")
    return Runner(cfg, comm).run(resume=resume)
