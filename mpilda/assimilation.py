"""Data assimilation during a run: observations of each step, masks, rescaling, H(x), the EnKF, diagnostics.

``Assimilator`` serves one rank's cells.  At the start of each UTC day it reads
the day's retrievals of the experiment's sensors; at the end of every model
step it takes the observations whose time falls in that step, masks them
(counting why), rescales them to the model's climatology, predicts them for
every member, and updates the members' SM1..SM4 and LAI with one batched EnKF
analysis over the cells that have observations (all observations of a cell in
the step together).  The control run restarts from the analysis mean.

An observation reaches the EnKF only if its rescaled value, the prediction of
every member, the innovation and the error are finite; the others are
rejected and counted under the ``invalid`` mask (a VOD climatology day without
a fitted retrieval predicts NaN), and every analysis checks that its
increments are finite (``AnalysisError`` naming the cell, step and sensors if
not).  An observation file the reader cannot read is skipped with a warning
(``[assimilation] unreadable = skip``; the ranks agree on the files they skip)
or stops the run (``stop``).

Daily diagnostics (per cell, sums so that means and standard deviations come
out exactly for any period) go to ``diagnostics.nc``: counts of available,
assimilated and rejected observations per sensor and mask, and of the files
skipped as unreadable; innovations and normalised innovations; Desroziers et
al. (2005) products; increments of SM1, RZSM and LAI by the sensor combination
that caused them; the ensemble spread (max - min) before and after analyses; the sum of the error
variances R of the assimilated observations.

Observation errors (``[obs.<sensor>]``): each cell's configured error std (``error`` = constant, map
or operator: mpilda.obs.error_models), optionally re-estimated per cell from the Desroziers relation
over a moving window of days (``adaptive = desroziers``: mpilda.obs.adaptive; the window advances as
each day's diagnostics are taken); thinning (``thin_days``) rejects a cell's retrievals of the k-1 days
after a day whose retrievals were assimilated (mask ``thinned``).  The windows and the last
assimilated days are in the checkpoints.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import OrderedDict
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .climatology import day_slot
from .config import Config
from .enkf import analysis_increments, innovation_statistics, observation_perturbations
from .errors import AnalysisError, InputError
from .log import log
from .model.constants import TFRZ
from .model.snow import SNOW_FLAG_SWE
from .obs.adaptive import DesroziersWindow
from .obs.error_models import configured_error_std
from .obs.masks import MaskCounts, assimilated_days, not_finite, retrieval_day, thinned
from .obs.operators import rzsm
from .obs.records import CellObservations, as_seconds, iso
from .obs.rescale import MeanOffset, SeasonalCycleOffset
from .obs.sources import SensorReader
from .output import Variable
from .parallel import LocalDomain
from .perturb import apply_increments

#: State vector per cell: SM1..SM4, LAI; which of them each sensor may update (paper Table 1).
STATE = ("sm1", "sm2", "sm3", "sm4", "lai")
UPDATES = {"smap": (0, 1, 2, 3), "lai": (4,), "vod": (0, 1, 2, 3, 4)}
SENSOR_ORDER = ("smap", "lai", "vod")
#: Masks that apply to each sensor (SPEC section 4).
SENSOR_MASKS = {"smap": ("invalid", "quality", "frozen", "snow", "rain", "no_cdf", "thinned"),
                "lai": ("invalid", "quality", "frozen", "snow", "no_cdf", "bare", "thinned"),
                "vod": ("invalid", "quality", "frozen", "snow", "bare", "operator", "thinned")}


def combinations(sensors) -> list[str]:
    """Names of the non-empty sensor combinations, e.g. smap, vod, smap_vod."""
    ordered = [s for s in SENSOR_ORDER if s in sensors]
    return ["_".join(c) for k in range(1, len(ordered) + 1) for c in itertools.combinations(ordered, k)]


def diagnostic_variables(sensors) -> list[Variable]:
    """The variables of diagnostics.nc for an experiment's sensors (daily sums and counts per cell)."""
    out = []
    for s in SENSOR_ORDER:
        if s not in sensors:
            continue
        unit = {"smap": "m3 m-3", "lai": "m2 m-2", "vod": "1"}[s]
        out += [Variable(f"{s}_{k}", "1", f"{s} observations: {k.replace('_', ' ')} (daily count)",
                         cell_methods="time: sum") for k in ("available", "assimilated", "rejected")]
        out += [Variable(f"{s}_rejected_{m}", "1", f"{s} observations rejected by the {m} mask (daily count)",
                         cell_methods="time: sum") for m in SENSOR_MASKS[s]]
        out.append(Variable(f"{s}_unreadable_files", "1", f"{s} observation files skipped as unreadable, counted on "
                                                          f"the day their names place their first retrieval in "
                                                          f"(daily count of the whole domain, the same in every "
                                                          f"cell)",
                            cell_methods="time: sum"))
        out += [Variable(f"{s}_innov_sum", unit, f"sum of {s} innovations O-F", cell_methods="time: sum"),
                Variable(f"{s}_innov_sumsq", f"({unit})2", f"sum of squared {s} innovations", cell_methods="time: sum"),
                Variable(f"{s}_ninnov_sum", "1", f"sum of normalised {s} innovations (O-F)/sqrt(HPH'+R)",
                         cell_methods="time: sum"),
                Variable(f"{s}_ninnov_sumsq", "1", f"sum of squared normalised {s} innovations",
                         cell_methods="time: sum"),
                Variable(f"{s}_oma_omb_sum", f"({unit})2", f"sum of (O-A)(O-F) of {s} (Desroziers et al. 2005: "
                                                           f"its mean estimates R)", cell_methods="time: sum"),
                Variable(f"{s}_amb_omb_sum", f"({unit})2", f"sum of (A-F)(O-F) of {s} (Desroziers: its mean "
                                                           f"estimates HBH')", cell_methods="time: sum"),
                Variable(f"{s}_r_var_sum", f"({unit})2", f"sum of the observation error variances R used for "
                                                         f"the assimilated {s} observations (mean R = this / "
                                                         f"{s}_assimilated)", cell_methods="time: sum")]
    for c in combinations(sensors):
        for var, unit in (("sm1", "m3 m-3"), ("rzsm", "m3 m-3"), ("lai", "m2 m-2")):
            out += [Variable(f"inc_{var}_{c}_sum", unit, f"sum of {var} increments A-F caused by {c}",
                             cell_methods="time: sum"),
                    Variable(f"inc_{var}_{c}_abs", unit, f"sum of |{var} increments| caused by {c}",
                             cell_methods="time: sum")]
        out.append(Variable(f"inc_{c}_count", "1", f"analyses caused by {c} (daily count)", cell_methods="time: sum"))
    for var, unit in (("ssm", "m3 m-3"), ("rzsm", "m3 m-3"), ("lai", "m2 m-2")):
        out += [Variable(f"spread_{var}_before_sum", unit, f"sum over analyses of the {var} spread (max-min) "
                                                           "before the analysis", cell_methods="time: sum"),
                Variable(f"spread_{var}_after_sum", unit, f"sum over analyses of the {var} spread after it",
                         cell_methods="time: sum")]
    out.append(Variable("analysis_count", "1", "analyses (daily count)", cell_methods="time: sum"))
    return out


def observation_masks(sensor: str, obs: CellObservations, scalable: np.ndarray, tsoil1: np.ndarray,
                      swe: np.ndarray, rain: np.ndarray, rain_threshold: float, bare: np.ndarray,
                      operator_poor: np.ndarray | None, thin: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Which masks hit each observation (SPEC section 4); arrays (n_obs,) at the observations' cells.

    ``scalable``: a robust rescaling exists (CDF matching / seasonal statistics);
    ``tsoil1``, ``swe``: ensemble-mean soil layer-1 temperature [K] and snow [kg m-2];
    ``rain``: the forcing's rain rate [kg m-2 s-1]; ``bare``: non-vegetated cell;
    ``operator_poor``: the VOD operator fits the cell poorly; ``thin``: thinned away
    (mpilda.obs.masks.thinned; None: nothing is).
    """
    hits = {"invalid": ~obs.valid, "quality": ~obs.quality, "frozen": tsoil1 < TFRZ, "snow": swe > SNOW_FLAG_SWE}
    if sensor == "smap":
        hits["rain"] = rain > rain_threshold
        hits["no_cdf"] = ~scalable & obs.valid
    elif sensor == "lai":
        hits["no_cdf"] = ~scalable & obs.valid
        hits["bare"] = bare
    elif sensor == "vod":
        hits["bare"] = bare
        hits["operator"] = operator_poor
    hits["thinned"] = np.zeros(len(obs), dtype=bool) if thin is None else np.asarray(thin, dtype=bool)
    return hits


class Batch(NamedTuple):
    """The observations of one sensor in a step that pass every mask: what the EnKF assimilates."""

    sensor: str
    cell: np.ndarray        # (n,) local cell index
    value: np.ndarray       # (n,) observation rescaled to the model's climatology (sensor units)
    time: np.ndarray        # (n,) s since 1970
    hx: np.ndarray          # (N, n) the members' predictions (sensor units)
    r_std: np.ndarray       # (n,) the observation error std of the analysis (sensor units)


@dataclass
class Slots:
    """A step's observations grouped by cell into padded slots for ``analysis_increments``.

    Per observation, sorted by (cell, sensor, time, value) so that a cell's slots do not depend on the
    order of reading: ``sensor`` (n,) index into SENSOR_ORDER, ``cell``, ``value``, ``time``, ``hx``
    (N, n), ``order`` (n,) the sort of the concatenated batches, ``row`` and ``slot`` (n,) where each
    sits. Per analysed cell (nc of them, ``cells`` their local index) and slot (k, the most
    observations of a cell): ``present``, ``y``, ``r_std``, ``hxb`` (nc, k, N), ``impact`` (nc, 5, k).
    """

    sensor: np.ndarray
    cell: np.ndarray
    value: np.ndarray
    time: np.ndarray
    hx: np.ndarray
    order: np.ndarray
    row: np.ndarray
    slot: np.ndarray
    cells: np.ndarray
    present: np.ndarray
    y: np.ndarray
    r_std: np.ndarray
    hxb: np.ndarray
    impact: np.ndarray


class Assimilator:
    """The observations and analyses of a rank's cells in a DA run.

    ``comm`` (optional): the run's communicator, with which the ranks agree on the observation files
    they skip as unreadable and rank 0 alone names them in a warning.
    """

    def __init__(self, cfg: Config, local: LocalDomain, model, n_members: int, comm=None):
        from .obs.tables import load_lai_rescaling, load_smap_rescaling, load_vod_operator

        self.cfg, self.local, self.model, self.n, self.comm = cfg, local, model, n_members, comm
        self.sensors = [s for s in SENSOR_ORDER if cfg.sensors()[s]]
        if n_members < 2:
            raise InputError(f"[experiment] name = {cfg.experiment.name} assimilates {', '.join(self.sensors)}: "
                             f"an EnKF needs [ensemble] members >= 2 (the paper: 24)")
        self.dt = cfg.time.timestep
        self.readers = {s: SensorReader(cfg, s, local) for s in self.sensors}
        #: Per sensor: the configured error std (n_cells,), the adaptive window of R (adaptive =
        #: desroziers), the thinning interval and the last day (since 1970; NaN: none) with assimilated
        #: retrievals per cell (thin_days > 1).
        self.error = {s: configured_error_std(cfg, s, local) for s in self.sensors}
        sections = {s: getattr(cfg, f"obs_{s}") for s in self.sensors}
        self.adaptive = {s: DesroziersWindow(self.error[s], c.adaptive_days, c.adaptive_min_count, c.adaptive_bounds)
                         for s, c in sections.items() if c.adaptive == "desroziers"}
        self.thin_days = {s: c.thin_days for s, c in sections.items() if c.thin_days > 1}
        self.last_day = {s: np.full(local.n_cells, np.nan) for s in self.thin_days}
        self.day_start: int | None = None
        self.smap_scaling = load_smap_rescaling(cfg, local) if "smap" in self.sensors and cfg.obs_smap.rescale != "no" \
            else None
        self.lai_scaling = load_lai_rescaling(cfg, local) if "lai" in self.sensors and cfg.obs_lai.rescale else None
        self.vod_op, self.vod_mask = load_vod_operator(cfg, local) if "vod" in self.sensors else (None, None)
        self.updated = sorted(set().union(*(UPDATES[s] for s in self.sensors)))
        self.bare = ~model.p.vegetated
        self.counts = MaskCounts(local.n_cells)          # the run's totals, for the summaries
        self.variables = diagnostic_variables(self.sensors)
        self.daily = {v.name: np.zeros(local.n_cells) for v in self.variables}
        #: The daily sums accumulated over the run (per cell), for the summaries; checkpoints carry them.
        self.totals = {v.name: np.zeros(local.n_cells) for v in self.variables}
        self.day_obs: dict[str, CellObservations] = {}
        self.obs_steps: set[int] = set()
        self.cache: OrderedDict = OrderedDict()
        #: The files skipped as unreadable, agreed by all ranks: (sensor, path) -> why; and those counted.
        self.unreadable: dict[tuple[str, str], str] = {}
        self.counted: set[tuple[str, str]] = set()

    # -- observations of a day ------------------------------------------------------
    def _read(self, sensor: str, path) -> CellObservations:
        key = (sensor, str(path))
        if key not in self.cache:
            self.cache[key] = self.readers[sensor].read(path)
            while len(self.cache) > 8:
                self.cache.popitem(last=False)
        return self.cache[key]

    def _try_read(self, sensor: str, path, failed: dict) -> CellObservations | None:
        """The file's observations; None for a file skipped as unreadable (a new one goes into ``failed``).
        With [assimilation] unreadable = stop the reader's InputError stops the run."""
        key = (sensor, str(path))
        if key in self.unreadable:
            return None
        try:
            return self._read(sensor, path)
        except InputError as exc:
            if self.cfg.assimilation.unreadable == "stop":
                raise InputError(f"{exc} ([assimilation] unreadable = stop; with unreadable = skip the run skips "
                                 f"such a file with a warning)") from None
            failed[key] = str(exc) if str(path) in str(exc) else f"{path}: {exc}"
            return None

    def load_day(self, day_start: dt.datetime) -> None:
        """Read the retrievals with day_start <= time < day_start + 1 day, per sensor (collective with
        [assimilation] unreadable = skip: the ranks agree on the files they skip)."""
        end = day_start + dt.timedelta(days=1)
        found, parts, failed = {}, {}, {}
        for s in self.sensors:
            found[s] = self.readers[s].files(day_start - dt.timedelta(days=1), end + dt.timedelta(days=1))
            parts[s] = []
            for path in found[s]:
                obs = self._try_read(s, path, failed)
                parts[s].append((str(path), None if obs is None else obs.between(day_start, end)))
        if self.cfg.assimilation.unreadable == "skip":
            for key, why in self._agree(failed).items():
                self.unreadable.setdefault(key, why)
                self.cache.pop(key, None)
        for s in self.sensors:
            self.day_obs[s] = CellObservations.concatenate([o for p, o in parts[s] if (s, p) not in self.unreadable])
        self._count_unreadable(found, day_start, end)
        self.day_start = int(day_start.timestamp())
        # the steps of the day with a retrieval of any sensor (the others need no analysis): start times [s]
        times = np.concatenate([o.time for o in self.day_obs.values()] + [np.empty(0, np.int64)])
        self.obs_steps = set((times - times % self.dt).tolist())

    def _agree(self, failed: dict) -> dict:
        """The files any rank failed to read, {(sensor, path): why} (collective with a communicator).

        Every rank reads only the part of a file its cells need, so a damaged file can fail on some
        ranks only; all skip it, so that the results do not depend on the rank count."""
        if self.comm is None or self.comm.size == 1:
            return failed
        merged: dict = {}
        for items in self.comm.allgather(sorted(failed.items())):
            for key, why in items:
                merged.setdefault(key, why)
        return merged

    def _count_unreadable(self, found: dict, day_start: dt.datetime, end: dt.datetime) -> None:
        """Count (in every cell's ``<sensor>_unreadable_files``) and name (on rank 0) the skipped files
        of the day: a file belongs to the day of the first retrieval its name promises, or to the run's
        first day if that is earlier (not at all if its retrievals all precede the run), so that each is
        counted once, in a resumed run too."""
        t0, t1 = as_seconds(day_start), as_seconds(end)
        run_start = as_seconds(self.cfg.time.start)
        for s in self.sensors:
            for path in found[s]:
                key = (s, str(path))
                if key not in self.unreadable or key in self.counted:
                    continue
                begin, stop = self.readers[s].span(path)
                if stop <= run_start or not t0 <= max(begin, run_start) < t1:
                    continue
                self.counted.add(key)
                self.daily[f"{s}_unreadable_files"] += 1.0
                if self.comm is None or self.comm.rank == 0:
                    log.warning("skipping an unreadable %s observation file ([assimilation] unreadable = skip): %s",
                                s.upper(), self.unreadable[key])

    # -- the analysis of a step -----------------------------------------------------------
    def analyse(self, state, step_end: dt.datetime, rain_control: np.ndarray, global_step: int) -> np.ndarray:
        """Assimilate the observations of the step that ends at ``step_end``; returns analysed cells (n_cells,)."""
        t1 = int(step_end.timestamp())
        t0 = t1 - self.dt
        analysed = np.zeros(self.local.n_cells, dtype=bool)
        if t0 not in self.obs_steps:
            return analysed
        members = slice(0, self.n)
        mean_tsoil = state.stc[0][members].mean(axis=0)
        mean_swe = state.sneqv[members].mean(axis=0)
        batches = []
        for s in self.sensors:
            obs = self.day_obs[s]
            here = obs.select((obs.time >= t0) & (obs.time < t1))
            if len(here) == 0:
                continue
            batch = self._screen(state, s, here, mean_tsoil, mean_swe, rain_control)
            if batch is not None:
                batches.append(batch)
        if batches:
            self._update(state, batches, global_step, t0, analysed)
        return analysed

    def _screen(self, state, sensor: str, obs: CellObservations, mean_tsoil: np.ndarray, mean_swe: np.ndarray,
                rain_control: np.ndarray) -> Batch | None:
        """Mask, rescale and predict one sensor's observations of a step and count them; the ones to assimilate.

        The masks of SPEC section 4 come first; the observations they leave are predicted for every
        member, and those whose rescaled value, prediction, innovation or error is not finite are
        rejected too (mask ``invalid``), before they reach the EnKF. ``mean_tsoil`` [K], ``mean_swe``
        [kg m-2] and ``rain_control`` [kg m-2 s-1] are (n_cells,).
        """
        value, ok_scale = self._rescale(sensor, obs)
        c = obs.cell
        day = retrieval_day(obs.time)
        thin = thinned(day, self.last_day[sensor][c], self.thin_days[sensor]) if sensor in self.thin_days else None
        hits = observation_masks(sensor, obs, ok_scale, mean_tsoil[c], mean_swe[c], rain_control[c],
                                 self.cfg.obs_smap.rain_threshold, self.bare[c],
                                 None if self.vod_mask is None else self.vod_mask[c], thin)
        candidate = np.flatnonzero(~np.logical_or.reduce(list(hits.values())))
        hx = self._predict(state, sensor, c[candidate], obs.time[candidate], slice(0, self.n)) if candidate.size \
            else np.empty((self.n, 0))
        r_std = self.error_std(sensor)[c]
        bad = not_finite(value[candidate], hx, r_std[candidate])
        hits["invalid"] = hits["invalid"].copy()
        hits["invalid"][candidate[bad]] = True
        keep = self.counts.add(sensor, c, hits)
        self._count_daily(sensor, c, hits, keep)
        if not keep.any():
            return None
        if sensor in self.thin_days:
            self.last_day[sensor] = assimilated_days(day[keep], c[keep], self.last_day[sensor])
        return Batch(sensor, c[keep], value[keep], obs.time[keep], hx[:, ~bad], r_std[keep])

    def error_std(self, sensor: str) -> np.ndarray:
        """The error std (n_cells,) [sensor units] of the sensor's analyses now: the configured one, or
        the adaptive estimate of the window up to the previous day."""
        window = self.adaptive.get(sensor)
        return self.error[sensor] if window is None else window.std

    def _rescale(self, sensor: str, obs: CellObservations):
        value = np.where(np.isfinite(obs.value), obs.value, 0.0)
        if sensor == "smap" and isinstance(self.smap_scaling, MeanOffset):
            return self.smap_scaling.apply(value, obs.cell)
        if sensor == "smap" and isinstance(self.smap_scaling, SeasonalCycleOffset):
            # [obs.smap] rescale = seasonal: the cycles' difference at the retrieval's day-of-year slot
            return self.smap_scaling.apply(value, day_slot(obs.time), obs.cell)
        if sensor == "smap" and self.smap_scaling is not None:
            month = obs.time.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64) % 12 + 1
            return self.smap_scaling.apply(value, month, obs.cell)
        if sensor == "lai" and self.lai_scaling is not None:
            return self.lai_scaling.apply(value, day_slot(obs.time), obs.cell)
        return value, np.ones(value.size, dtype=bool)

    def _count_daily(self, s, c, hits, keep) -> None:
        d = self.daily
        np.add.at(d[f"{s}_available"], c, 1.0)
        np.add.at(d[f"{s}_assimilated"], c[keep], 1.0)
        np.add.at(d[f"{s}_rejected"], c[~keep], 1.0)
        for m, hit in hits.items():
            np.add.at(d[f"{s}_rejected_{m}"], c[hit], 1.0)

    def _predict(self, state, sensor, cells, times, which):
        """Predicted observations (N, n_obs) of the members (or the given members' index) at ``cells``."""
        if sensor == "smap":
            return state.smc[0][which][:, cells]
        if sensor == "lai":
            return state.lai[which][:, cells]
        return self.vod_op(state.lai[which][:, cells], state.smc[:, which][:, :, cells],
                           day_slot(times)[None, :], cells[None, :])

    def _slots(self, batches: list[Batch]) -> Slots:
        """The batches of a step grouped by cell (see Slots)."""
        sensor = np.concatenate([np.full(b.cell.size, SENSOR_ORDER.index(b.sensor)) for b in batches])
        cell = np.concatenate([b.cell for b in batches])
        value = np.concatenate([b.value for b in batches])
        times = np.concatenate([b.time for b in batches])
        hx = np.concatenate([b.hx for b in batches], axis=1)                      # (N, n_obs)
        errors = np.concatenate([b.r_std for b in batches])
        # group by cell: slots in a fixed order (sensor, then time, then value) whatever the reading order
        order = np.lexsort((value, times, sensor, cell))
        sensor, cell, value, times, hx = sensor[order], cell[order], value[order], times[order], hx[:, order]
        cells, start, per_cell = np.unique(cell, return_index=True, return_counts=True)
        slot = np.arange(cell.size) - np.repeat(start, per_cell)
        row = np.repeat(np.arange(cells.size), per_cell)
        k = int(per_cell.max())
        nc = cells.size
        present = np.zeros((nc, k), dtype=bool)
        y = np.zeros((nc, k))
        r_std = np.ones((nc, k))
        hxb = np.zeros((nc, k, self.n))
        impact = np.zeros((nc, len(STATE), k))
        present[row, slot] = True
        y[row, slot] = value
        r_std[row, slot] = errors[order]
        hxb[row, slot] = hx.T
        for j, s in enumerate(SENSOR_ORDER):
            allowed = [i for i in UPDATES[s] if i in self.updated]
            sel = sensor == j
            for i in allowed:
                impact[row[sel], i, slot[sel]] = 1.0
        return Slots(sensor, cell, value, times, hx, order, row, slot, cells, present, y, r_std, hxb, impact)

    def _check_increments(self, dx: np.ndarray, b: Slots, t0: int) -> None:
        """AnalysisError naming a cell (the lowest global id), the step and the sensors if increments
        ``dx`` (nc, 5, N) are not finite."""
        ok = np.isfinite(dx).all(axis=2)                                          # (nc, 5)
        if ok.all():
            return
        bad = np.flatnonzero(~ok.all(axis=1))
        i = bad[np.argmin(self.local.cell_ids[b.cells[bad]])]
        c = b.cells[i]
        sensors = "+".join(SENSOR_ORDER[j] for j in np.unique(b.sensor[b.row == i]))
        more = f" (and {bad.size - 1} more cells of this rank)" if bad.size > 1 else ""
        raise AnalysisError(
            f"the analysis of the step {iso(t0)} to {iso(t0 + self.dt)} gave non-finite increments of "
            f"{', '.join(STATE[j] for j in np.flatnonzero(~ok[i]))} in cell {int(self.local.cell_ids[c])} "
            f"({self.local.lat[c]:.3f}N, {self.local.lon[c]:.3f}E), assimilating {sensors}{more}. The cell's "
            f"observations and their predictions are finite (the invalid mask rejects the others): the "
            f"non-finite number is in the cell's forecast state or arose in the EnKF's arithmetic")

    def _update(self, state, batches: list[Batch], global_step, t0, analysed) -> None:
        members = slice(0, self.n)
        b = self._slots(batches)
        cells = b.cells
        x = np.stack([state.smc[i][members][:, cells] for i in range(4)] + [state.lai[members][:, cells]],
                     axis=1).transpose(2, 1, 0)                       # (nc, 5, N)
        before = self._spreads(state, cells)
        v = observation_perturbations(self.cfg.random.seed, self.local.cell_ids[cells], global_step,
                                      b.present.shape[1], self.n, b.r_std)
        dx = analysis_increments(x, b.hxb, b.y, b.r_std ** 2, b.present, b.impact, v)   # (nc, 5, N)
        self._check_increments(dx, b, t0)
        inn, ninn = innovation_statistics(b.hxb, b.y, b.r_std ** 2)
        forecast = {"sm1": state.smc[0][members][:, cells].mean(axis=0),
                    "rzsm": rzsm(state.smc[:, members][:, :, cells]).mean(axis=0),
                    "lai": state.lai[members][:, cells].mean(axis=0)}
        self._apply(state, dx, cells)
        analysed[cells] = True
        self._diagnose(state, batches, b, inn, ninn, forecast, before)

    def _apply(self, state, dx: np.ndarray, cells: np.ndarray) -> None:
        """Add increments dx (nc, 5, N) to the members at ``cells`` (bounds kept), then restart the control
        from the analysis mean."""
        members = slice(0, self.n)
        d_sm = np.zeros_like(state.smc)
        d_lai = np.zeros_like(state.lai)
        for i in range(4):
            d_sm[i, members][:, cells] = dx[:, i, :].T
        d_lai[members][:, cells] = dx[:, 4, :].T
        apply_increments(self.model, state, d_sm, d_lai)
        control_sm = state.smc[:, members].mean(axis=1) - state.smc[:, -1]
        control_lai = state.lai[members].mean(axis=0) - state.lai[-1]
        d_sm = np.zeros_like(state.smc)
        d_lai = np.zeros_like(state.lai)
        d_sm[:, -1, cells] = control_sm[:, cells]
        d_lai[-1, cells] = control_lai[cells]
        apply_increments(self.model, state, d_sm, d_lai)

    def _diagnose(self, state, batches: list[Batch], b: Slots, inn, ninn, forecast, before) -> None:
        """The daily sums of an analysis: innovations, Desroziers, increments by combination, spread."""
        members = slice(0, self.n)
        cells, sensor, cell, row, slot, value = b.cells, b.sensor, b.cell, b.row, b.slot, b.value
        hxa = np.concatenate([self._predict(state, x.sensor, x.cell, x.time, members) for x in batches],
                             axis=1)[:, b.order]
        mean_f = b.hx.mean(axis=0)
        mean_a = hxa.mean(axis=0)
        omb = value - mean_f
        d = self.daily
        for j, s in enumerate(SENSOR_ORDER):
            sel = sensor == j
            if not sel.any():
                continue
            c = cell[sel]
            np.add.at(d[f"{s}_innov_sum"], c, inn[row[sel], slot[sel]])
            np.add.at(d[f"{s}_innov_sumsq"], c, inn[row[sel], slot[sel]] ** 2)
            np.add.at(d[f"{s}_ninnov_sum"], c, ninn[row[sel], slot[sel]])
            np.add.at(d[f"{s}_ninnov_sumsq"], c, ninn[row[sel], slot[sel]] ** 2)
            np.add.at(d[f"{s}_oma_omb_sum"], c, (value[sel] - mean_a[sel]) * omb[sel])
            np.add.at(d[f"{s}_amb_omb_sum"], c, (mean_a[sel] - mean_f[sel]) * omb[sel])
            np.add.at(d[f"{s}_r_var_sum"], c, b.r_std[row[sel], slot[sel]] ** 2)
        present_sensors = np.zeros((cells.size, len(SENSOR_ORDER)), dtype=bool)
        present_sensors[row, sensor] = True
        combo = np.array(["_".join(s for j, s in enumerate(SENSOR_ORDER) if p[j]) for p in present_sensors])
        inc = {"sm1": state.smc[0][members][:, cells].mean(axis=0) - forecast["sm1"],
               "rzsm": rzsm(state.smc[:, members][:, :, cells]).mean(axis=0) - forecast["rzsm"],
               "lai": state.lai[members][:, cells].mean(axis=0) - forecast["lai"]}
        for c in np.unique(combo):
            sel = combo == c
            for var, values in inc.items():
                d[f"inc_{var}_{c}_sum"][cells[sel]] += values[sel]
                d[f"inc_{var}_{c}_abs"][cells[sel]] += np.abs(values[sel])
            d[f"inc_{c}_count"][cells[sel]] += 1.0
        after = self._spreads(state, cells)
        for var in ("ssm", "rzsm", "lai"):
            d[f"spread_{var}_before_sum"][cells] += before[var]
            d[f"spread_{var}_after_sum"][cells] += after[var]
        d["analysis_count"][cells] += 1.0

    def _spreads(self, state, cells) -> dict[str, np.ndarray]:
        members = slice(0, self.n)
        sm1 = state.smc[0][members][:, cells]
        rz = rzsm(state.smc[:, members][:, :, cells])
        lai = state.lai[members][:, cells]
        return {"ssm": np.ptp(sm1, axis=0), "rzsm": np.ptp(rz, axis=0), "lai": np.ptp(lai, axis=0)}

    def take_daily(self) -> dict[str, np.ndarray]:
        """The day's sums (n_cells,) by diagnostics.nc variable; they join the run's totals, and the
        Desroziers sums join the adaptive windows (the R of the next day's analyses)."""
        out = self.daily
        for k, v in out.items():
            self.totals[k] += v
        if self.day_start is not None:
            for s, window in self.adaptive.items():
                window.push(self.day_start // 86400, out[f"{s}_oma_omb_sum"], out[f"{s}_assimilated"])
        self.daily = {k: np.zeros(self.local.n_cells) for k in out}
        return out

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint carries: the observation counts and the run's totals, (n_cells,) each; the
        adaptive windows ((adaptive_days, n_cells) daily sums) and the thinning's last days (n_cells,)."""
        out = dict(self.counts.arrays(), **{f"total_{k}": v for k, v in self.totals.items()})
        for s, window in self.adaptive.items():
            out.update(window.arrays(f"adaptive_{s}"))
        out.update({f"thin_{s}_last_day": v for s, v in self.last_day.items()})
        return out

    def load(self, arrays: dict[str, np.ndarray]) -> None:
        self.counts.load(arrays)
        for k in self.totals:
            # a checkpoint of an older mpilda lacks the later diagnostics (unreadable files): zero so far
            total = arrays.get(f"total_{k}")
            self.totals[k] = np.zeros(self.local.n_cells) if total is None else np.array(total, dtype=np.float64)
        for s, window in self.adaptive.items():
            window.load(arrays, f"adaptive_{s}")
        for s in self.last_day:
            last = arrays.get(f"thin_{s}_last_day")
            self.last_day[s] = np.full(self.local.n_cells, np.nan) if last is None else \
                np.array(last, dtype=np.float64)

    def summary(self, comm) -> dict:
        """Totals over the run so far and all ranks (collective): counts per sensor and mask, and of the
        observation files skipped as unreadable (``unreadable_files``); mean and std of the normalised
        innovations and the mean error variance R of the assimilated observations (``r_var_mean``) per
        sensor; mean |increment| of SM1, RZSM and LAI per analysis; the mean spread
        (max - min) of SSM, RZSM and LAI before and after the analyses."""
        from mpi4py import MPI

        t = self.totals
        names = sorted(t)
        sums = np.array([t[k].sum() for k in names])
        total = dict(zip(names, comm.allreduce(sums, op=MPI.SUM)))
        out = {}
        for s in self.sensors:
            c = self.counts.counts[s]
            out[s] = {k: int(comm.allreduce(int(c[k].sum()), op=MPI.SUM)) for k in ("available", "assimilated",
                                                                                     "rejected") + SENSOR_MASKS[s]}
            # a count of the domain that every cell holds: the largest, not the sum
            out[s]["unreadable_files"] = int(comm.allreduce(float(t[f"{s}_unreadable_files"].max(initial=0.0)),
                                                            op=MPI.MAX))
            n = total[f"{s}_assimilated"]
            if n > 1:
                mean = total[f"{s}_ninnov_sum"] / n
                out[s]["ninnov_mean"] = round(float(mean), 6)
                out[s]["ninnov_std"] = round(float(np.sqrt(max(total[f"{s}_ninnov_sumsq"] / n - mean ** 2, 0.0)
                                                           * n / (n - 1))), 6)
            if n > 0:
                out[s]["r_var_mean"] = float(f"{total[f'{s}_r_var_sum'] / n:.6g}")
        analyses = total["analysis_count"]
        if analyses > 0:
            out["mean_abs_increment"] = {var: round(float(sum(total[k] for k in names if k.startswith(f"inc_{var}_")
                                                              and k.endswith("_abs")) / analyses), 8)
                                         for var in ("sm1", "rzsm", "lai")}
            out["mean_spread"] = {f"{var}_{when}": round(float(total[f"spread_{var}_{when}_sum"] / analyses), 6)
                                  for var in ("ssm", "rzsm", "lai") for when in ("before", "after")}
        return out
