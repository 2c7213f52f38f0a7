"""Synthetic observations drawn from the truth run, written in the real products' formats.

``make_observations(cfg, comm)`` reads the truth run's ``overpass.nc`` (the
truth state at each cell's local overpass times) and writes, day by day (days
shared round-robin among ranks; every random number keyed by position and day,
so the files do not depend on the rank count):

* SMAP SPL2SMP granules, one per day and direction (06:00 descending, 18:00
  ascending local time): the mean truth SM1 of the model cells in each 36 km
  EASE cell, plus noise, through a per-EASE-cell non-linear bias
  g(x) = a + b x + c (x - 0.25)^2 (monotonic on 0..0.6); swaths shifting from day
  to day (revisit ~2-3 days per direction, more often in the north); retrievals
  not "recommended" over frozen or snowy ground, dense forest, persistent
  trouble cells (RFI and the like, ~10 %) and ~15 % at random.
* CGLS LAI 300 m dekad files (10th, 20th, last day of a month): the truth LAI
  averaged over the dekad, times a per-cell scale bias (0.75-1.3), plus noise;
  pixel-to-pixel heterogeneity; cloudy cells (more in winter and in the north)
  filled with 255 and QFLAG "no_observation".
* AMSR2 LPDR VOD descending (01:30 local) GeoTIFFs on EASE-Grid 2.0 25 km:
  VOD = clim_VOD + alpha LAI' + beta(LAI, RZSM) RZSM' + noise with per-cell "true"
  coefficients (written to ``vod_true_coefficients.nc``), anomalies from the
  truth's mean seasonal cycles; ~15 % swath gaps; QA flagged over frozen or
  snowy ground.

Noise levels are the [synthetic] keys (in model units, so that the errors
after rescaling match the paper's observation errors).

Problems the paper's discussion names (issue 18), each off by default (the
files are then those of the code before them, bit for bit):

* ``vod_error_spread = s``: a spatially varying VOD error where the operator is
  poor. A pixel's error std is ``noise * (1 + s * g)`` with ``g`` in [0, 1] the
  fraction of the pixel's model cells that are cropland (IGBP 12 or 14, the
  classes of ``CROPLANDS``): harvest removes the canopy within days and
  management decouples VOD from the modelled LAI and RZSM; the paper's region of
  a poor operator (north of the Black Sea, section 4.2.3, Fig. 2b) is cropland.
* ``vod_error_smoothing_days = k``: LPDR-like smoothing (section 4.2.4). The
  error of calendar day ``t`` is ``noise_pixel * sum_{j<k} z(t - j) / sqrt(k)``,
  a k-day moving average of keyed daily standard normals ``z`` (keyed by the
  pixel and the day number since 1970-01-01, never by where a file or rank
  starts) rescaled to unit variance: the error variance is preserved and its
  autocorrelation at a lag of L days is ``(k - L) / k`` for L < k and 0 beyond
  (``smoothed_normals``). The truth VOD itself is not smoothed (LAI and RZSM
  change slowly). k = 1 keeps the independent daily errors of before.
* ``irrigation_ssm = w`` and ``irrigation_months``: a summer wetting of the
  retrievals only. In the listed months every SMAP retrieval gets ``w * c`` added
  (m3 m-3; after the bias g(x)), ``c`` the fraction of the EASE cell's
  model cells that are cropland. The truth run is not changed, so against the
  truth it is an observation error with a seasonal cycle. (An anomaly the model
  lacks, section 4.2.1, is ``irrigation_threshold``: irrigation of the truth run
  itself, ``mpilda.forcing.irrigation``, which the retrievals then carry.)

With ``[synthetic] errors = specified`` the observations carry exactly the
errors the filter assumes: SMAP is the EASE-cell mean truth plus noise of
[obs.smap] error_std (no bias g); LAI is the truth at the dekad's date and
assimilation hour plus noise of [obs.lai] error_std (no dekad mean, scale bias
or pixel heterogeneity; the files' 1/30 quantisation remains); VOD's noise is
[obs.vod] error_std. Swaths, flags, clouds and gaps are unchanged.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from pathlib import Path

import numpy as np

from ..climatology import day_slot, seasonal_cycle
from ..config import Config
from ..errors import InputError
from ..grid import Grid
from ..landscape import CROPLANDS
from ..log import Progress, log
from ..model.constants import TFRZ
from ..parallel import Decomposition
from ..random import Stream, normals, uniforms
from . import ease
from .cgls import lai_file_name, write_lai_file
from .smap import granule_name, write_smap_granule
from .vod import vod_file_name, write_vod_file

# Random-number "members" of Stream.SYNTHETIC_OBS, one per use (never renumber).
_SMAP_NOISE, _SMAP_SWATH, _SMAP_FLAG, _SMAP_BIAS, _SMAP_TROUBLE = 1, 2, 3, 4, 5
_LAI_NOISE, _LAI_PIXEL, _LAI_CLOUD, _LAI_BIAS = 11, 12, 13, 14
_VOD_NOISE, _VOD_GAP, _VOD_COEF = 21, 22, 23
_VOD_SMOOTH = 24          # the daily normals of the k-day moving-average VOD errors
#: SPL2SMP bits: retrieval_qual_flag bit 0 = not recommended; surface_flag bits 5 snow, 8 model frozen,
#: 10 dense vegetation (data-formats.md s.1).
_NOT_RECOMMENDED = 1
_SNOW, _FROZEN, _DENSE = 1 << 5, 1 << 8, 1 << 10
FORESTS = (1, 2, 3, 4, 5)
#: Day numbers of the keyed VOD error normals count from this date.
_EPOCH = dt.date(1970, 1, 1)


def day_number(day: dt.date) -> int:
    """Days since 1970-01-01 of ``day``: the time counter of the smoothed VOD errors."""
    return (day - _EPOCH).days


def smoothed_normals(seed: int, ids: np.ndarray, days: np.ndarray, k: int) -> np.ndarray:
    """(n_days, n_ids) unit-variance k-day moving averages of keyed daily standard normals.

    ``e(t) = sum_{j=0}^{k-1} z(t - j) / sqrt(k)`` with ``z`` the normals of Stream.SYNTHETIC_OBS,
    member ``_VOD_SMOOTH``, keyed by id and day number ``t`` (``days``, (n_days,) int, days since
    1970-01-01, each >= k - 1). Var e = 1; corr(e(t), e(t + L)) = (k - L) / k for 0 <= L < k and 0
    beyond. A pure function of (seed, id, day): any split of ids or days gives the same bits (the
    lags are summed one after the other, the same order for every element).
    """
    days = np.atleast_1d(np.asarray(days, dtype=np.int64))
    ids = np.asarray(ids, dtype=np.int64)
    if k < 1 or (days.size and days.min() < k - 1):
        raise ValueError(f"smoothing over k = {k} days from day number {days.min() if days.size else 0}: "
                         f"expected k >= 1 and day numbers >= k - 1")
    total = np.zeros((days.size, ids.size))
    for j in range(k):
        total += normals(seed, Stream.SYNTHETIC_OBS, ids[None, :], member=_VOD_SMOOTH,
                         time=(days - j)[:, None])[0]
    return total / np.sqrt(k)


def cropland_fraction(groups: np.ndarray, landcover: np.ndarray, n_groups: int) -> np.ndarray:
    """(n_groups,) fraction of the cells of each group (an EASE cell; ``groups`` (n_cells,) its index
    0..n_groups-1 per model cell) whose land cover is a class of ``CROPLANDS``; 0 for empty groups."""
    crop = np.isin(landcover, CROPLANDS).astype(np.float64)
    cells = np.bincount(groups, minlength=n_groups)
    return np.bincount(groups, weights=crop, minlength=n_groups) / np.maximum(cells, 1)


def vod_error_std(noise_std: float, spread: float, poor_fraction: np.ndarray) -> np.ndarray | float:
    """Error std of each VOD pixel, ``noise_std * (1 + spread * g)`` with ``g`` (n,) in [0, 1] the
    pixel's share of vegetation where the VOD operator is poor (``cropland_fraction``); just
    ``noise_std`` when ``spread`` is 0 (the paper's constant error)."""
    if spread == 0:
        return noise_std
    return noise_std * (1.0 + spread * np.asarray(poor_fraction, dtype=np.float64))


def irrigation_wetting(day: dt.date, amount: float, months: tuple[int, ...],
                       crop_fraction: np.ndarray) -> np.ndarray:
    """(n,) SSM [m3 m-3] added to the SMAP retrievals of EASE cells with ``crop_fraction`` (n,) on
    ``day``: ``amount * crop_fraction`` in the ``months`` (1..12), 0 otherwise."""
    if amount == 0 or day.month not in months:
        return np.zeros(np.shape(crop_fraction))
    return amount * np.asarray(crop_fraction, dtype=np.float64)


def true_vod_coefficients(seed: int, cell_ids: np.ndarray) -> np.ndarray:
    """(5, n): alpha, beta0..beta3 of each model cell's "true" VOD relation.

    beta(LAI, RZSM) is negative at low LAI and high RZSM and positive at high LAI and
    low RZSM, as the paper reasons (section 2.3): beta1 > 0, beta2 < 0.
    """
    u = uniforms(seed, Stream.SYNTHETIC_OBS, cell_ids, member=_VOD_COEF, n=5)
    alpha = 0.05 + 0.10 * u[0]                     # VOD per unit LAI
    beta1 = 0.15 + 0.35 * u[2]                     # more LAI: more sensitivity to water
    beta2 = -(1.0 + 2.0 * u[3])                    # wetter soil: less (saturation)
    beta3 = -0.3 + 0.6 * u[4]
    beta0 = 0.6 * (u[1] - 0.5) - beta2 * 0.25      # about zero at moderate states
    return np.stack([alpha, beta0, beta1, beta2, beta3])


def _dekads(start: dt.date, end: dt.date) -> list[dt.date]:
    """Dekad dates (10th, 20th, last day of the month) in [start, end)."""
    out = []
    year, month = start.year, start.month
    while dt.date(year, month, 1) < end:
        last = calendar.monthrange(year, month)[1]
        out += [d for d in (dt.date(year, month, 10), dt.date(year, month, 20), dt.date(year, month, last))
                if start <= d < end]
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return out


class _Truth:
    """The truth overpass samples of all land cells, read day by day."""

    def __init__(self, path: Path, grid: Grid):
        import h5py

        self.path, self.grid = path, grid
        try:
            self.file = h5py.File(path, "r")
        except OSError as exc:
            raise InputError(f"{path}: no readable truth overpass file ({exc}); run the truth experiment first "
                             f"([synthetic] truth_directory)") from None
        units = self.file["time"].attrs["units"]
        units = units.decode() if isinstance(units, bytes) else units
        self.start = dt.date.fromisoformat(units.split("since")[1].strip()[:10])
        self.n_days = self.file["time"].shape[0]
        self.rows, self.cols = grid.rows_cols(grid.land_ids)

    def day(self, index: int, names) -> dict[str, np.ndarray]:
        """Values (n_land,) of the named samples on day ``index`` (NaN outside the file's period)."""
        out = {}
        for n in names:
            if 0 <= index < self.n_days:
                v = self.file[n][index][self.rows, self.cols].astype(np.float64)
                v[v > 1e30] = np.nan
            else:
                v = np.full(self.rows.size, np.nan)
            out[n] = v
        return out

    def series(self, name: str) -> np.ndarray:
        """(n_days, n_land) of one sample."""
        v = self.file[name][...][:, self.rows, self.cols].astype(np.float64)
        v[v > 1e30] = np.nan
        return v


def make_observations(cfg: Config, comm) -> dict:
    """Write the synthetic SMAP, LAI and VOD files of the truth run (collective); returns a summary."""
    from ..landscape import read_class_map

    _check_earlier_problems(cfg)
    grid = Grid.from_config(cfg.domain)
    truth = _Truth(cfg.synthetic.truth_directory / "overpass.nc", grid)
    ids = grid.land_ids
    lat, lon = grid.cell_lat_lon(ids)
    landcover = read_class_map(cfg.landcover_file, "landcover", lat, lon, 20)
    seed = cfg.random.seed
    dirs = {s: cfg.obs_directory(s) for s in ("smap", "lai", "vod")}
    if comm.rank == 0:
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
    comm.Barrier()
    # the truth's mean seasonal cycles of LAI and RZSM at 01:30 (VOD anomalies), on rank 0, shared
    clim = None
    if comm.rank == 0:
        slots = day_slot(np.arange(np.datetime64(truth.start), np.datetime64(truth.start) + truth.n_days))
        window = cfg.assimilation.climatology_window
        clim = (seasonal_cycle(truth.series("lai_0130"), slots, window)[0],
                seasonal_cycle(truth.series("rzsm_0130"), slots, window)[0])
    clim_lai, clim_rzsm = comm.bcast(clim, root=0)
    coef = true_vod_coefficients(seed, ids)
    if comm.rank == 0:
        _write_true_coefficients(cfg, grid, coef, comm)
    smap = _SmapMaker(cfg, lat, lon, landcover, seed)
    vod = _VodMaker(cfg, lat, lon, seed, coef, clim_lai, clim_rzsm, landcover)
    lai = _LaiMaker(cfg, grid, lat, lon, landcover, seed)
    days = [truth.start + dt.timedelta(days=i) for i in range(truth.n_days)]
    dekads = set(_dekads(days[0], days[-1] + dt.timedelta(days=1)))
    mine = [i for i in range(len(days)) if i % comm.size == comm.rank]
    progress = Progress(len(mine), "make-obs", enabled=comm.rank == 0, unit="days")
    stats = np.zeros(6)
    for k, i in enumerate(mine):
        day = days[i]
        s = truth.day(i, ("sm1_0600", "tsoil1_0600", "swe_0600", "sm1_1800", "tsoil1_1800", "swe_1800"))
        stats[:2] += smap.write(dirs["smap"], day, i, s)
        stats[2:4] += vod.write(dirs["vod"], day, i, truth)
        if day in dekads:
            stats[4:6] += lai.write(dirs["lai"], day, i, truth)
        progress.update(k + 1, dt.datetime.combine(day, dt.time(), dt.timezone.utc))
    total = comm.allreduce(stats)
    summary = dict(days=len(days), smap_retrievals=int(total[0]), smap_recommended_fraction=float(total[1] / max(total[0], 1)),
                   vod_retrievals=int(total[2]), vod_qa_good_fraction=float(total[3] / max(total[2], 1)),
                   lai_cells=int(total[4]), lai_clear_fraction=float(total[5] / max(total[4], 1)),
                   directories={k: str(v) for k, v in dirs.items()})
    problems = _problems(cfg)
    if problems:
        summary["problems"] = problems
    if comm.rank == 0:
        path = cfg.synthetic.directory / "obs" / "obs_summary.json"
        path.write_text(json.dumps(summary, indent=1))
        log.info("synthetic observations: %s", summary)
    truth.file.close()
    return summary


def _problems(cfg: Config) -> dict:
    """The [synthetic] problems switched on (issue 18), for the summary; {} with the defaults."""
    s = cfg.synthetic
    out = {}
    if s.vod_error_spread:
        out["vod_error_spread"] = s.vod_error_spread
    if s.vod_error_smoothing_days > 1:
        out["vod_error_smoothing_days"] = s.vod_error_smoothing_days
    if s.irrigation_ssm:
        out.update(irrigation_ssm=s.irrigation_ssm, irrigation_months=list(s.irrigation_month_list))
    return out


def _check_earlier_problems(cfg: Config) -> None:
    """An InputError when the world's obs/ holds observations made with other [synthetic] problems: files
    already there are not written again, so they would silently keep the earlier ones."""
    path = cfg.synthetic.directory / "obs" / "obs_summary.json"
    if not path.exists():
        return
    found = json.loads(path.read_text()).get("problems", {})
    want = _problems(cfg)
    if found != want:
        raise InputError(f"{path}: the observations in {path.parent} were made with the [synthetic] problems "
                         f"{found or 'off'}, not {want or 'off'}; choose another [synthetic] directory or delete "
                         f"{path.parent}")


def _write_true_coefficients(cfg, grid, coef, comm) -> None:
    from mpi4py import MPI

    from ..output import GridWriter, Variable

    local = Decomposition.build(grid, cfg.domain.tile_size, 1).local(0)
    names = ("alpha", "beta0", "beta1", "beta2", "beta3")
    variables = [Variable(n, "1", f"true {n} of the synthetic VOD relation (paper eq. 1-2)", dtype="f8", static=True)
                 for n in names]
    with GridWriter(cfg.synthetic.directory / "obs" / "vod_true_coefficients.nc", local, MPI.COMM_SELF, variables,
                    start=cfg.time.start, n_times=0, mode="gather", attrs={"title": "mpilda synthetic VOD truth"}) as w:
        w.write_static({n: coef[k] for k, n in enumerate(names)})


class _SmapMaker:
    """SMAP granules: EASE M36 cells of the domain, averaged truth, swaths, flags, noise and bias."""

    def __init__(self, cfg, lat, lon, landcover, seed):
        self.seed = seed
        specified = cfg.synthetic.errors == "specified"
        self.noise = cfg.obs_smap.error_std if specified else cfg.synthetic.smap_noise_std
        row, col = ease.rowcol("M36", lat, lon)
        key = row * 1000 + col
        self.keys, self.inverse = np.unique(key, return_inverse=True)
        self.row, self.col = self.keys // 1000, self.keys % 1000
        self.elat, self.elon = ease.latlon("M36", self.row, self.col)
        n = self.keys.size
        self.count = np.bincount(self.inverse, minlength=n).astype(float)
        forest = np.bincount(self.inverse, weights=np.isin(landcover, FORESTS), minlength=n) / self.count
        self.dense = forest > 0.5
        u = uniforms(seed, Stream.SYNTHETIC_OBS, self.keys, member=_SMAP_BIAS, n=3)
        self.a, self.b, self.c = (0.0, 1.0, 0.0) if specified else (-0.05 + 0.13 * u[0], 0.7 + 0.6 * u[1],
                                                                     -0.5 + u[2])
        self.trouble = uniforms(seed, Stream.SYNTHETIC_OBS, self.keys, member=_SMAP_TROUBLE)[0] < 0.10
        # the irrigation-like wetting the model lacks: on the cropland share of each EASE cell
        self.irrigation = cfg.synthetic.irrigation_ssm
        self.irrigation_months = cfg.synthetic.irrigation_month_list
        self.crop = cropland_fraction(self.inverse, landcover, n)
        # revisit: the swath covers a fraction of the cells each day, more towards the pole
        self.cover = np.clip(0.35 + 0.5 * (np.abs(self.elat) - 30.0) / 40.0, 0.35, 0.85)
        self.orbit0 = 1000

    def _mean(self, values):
        ok = np.isfinite(values)
        s = np.bincount(self.inverse, weights=np.where(ok, values, 0.0), minlength=self.keys.size)
        n = np.bincount(self.inverse, weights=ok.astype(float), minlength=self.keys.size)
        return np.where(n > 0, s / np.maximum(n, 1), np.nan)

    def write(self, directory: Path, day: dt.date, index: int, s) -> tuple[int, int]:
        n_all, n_rec = 0, 0
        for d, (direction, hour, tag) in enumerate((("D", 6.0, "0600"), ("A", 18.0, "1800"))):
            phase = np.mod(self.col * 0.0381966 + index * 0.381966 + 0.5 * d + 0.013 * self.row, 1.0)
            seen = phase < self.cover
            truth = self._mean(s[f"sm1_{tag}"])
            frozen = self._mean(s[f"tsoil1_{tag}"]) < TFRZ
            snow = self._mean(s[f"swe_{tag}"]) > 1.0
            keep = seen & np.isfinite(truth)
            if not keep.any():
                continue
            z = normals(self.seed, Stream.SYNTHETIC_OBS, self.keys, member=_SMAP_NOISE + 100 * d, time=index, n=1)[0]
            x = np.clip(truth + self.noise * z, 0.0, 0.65)
            sm = np.clip(self.a + self.b * x + self.c * (x - 0.25) ** 2, 0.01, None)
            if self.irrigation:
                sm = sm + irrigation_wetting(day, self.irrigation, self.irrigation_months, self.crop)
            rnd = uniforms(self.seed, Stream.SYNTHETIC_OBS, self.keys, member=_SMAP_FLAG + 100 * d, time=index)[0]
            bad = frozen | snow | self.dense | self.trouble | (rnd < 0.15)
            qual = np.where(bad, _NOT_RECOMMENDED, 0).astype(np.uint16)
            surface = (np.where(snow, _SNOW, 0) | np.where(frozen, _FROZEN, 0) | np.where(self.dense, _DENSE, 0))
            day_s = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp())
            jitter = 600.0 * (rnd - 0.5)
            time = day_s + (np.mod(hour - self.elon / 15.0, 24.0)) * 3600.0 + jitter
            k = np.flatnonzero(keep)
            t0 = dt.datetime.fromtimestamp(float(time[k].min()), dt.timezone.utc)
            path = directory / granule_name(self.orbit0 + 2 * index + d, direction, t0)
            if not path.exists():
                tmp = path.with_name(path.name + ".incomplete")
                write_smap_granule(tmp, orbit=self.orbit0 + 2 * index + d, direction=direction, row=self.row[k],
                                   col=self.col[k], soil_moisture=sm[k], retrieval_qual_flag=qual[k], time=time[k],
                                   surface_flag=surface[k].astype(np.uint16))
                tmp.replace(path)
            n_all += k.size
            n_rec += int((qual[k] == 0).sum())
        return n_all, n_rec


class _VodMaker:
    """Daily descending VOD on EASE M25 from the truth's LAI and RZSM at 01:30 local."""

    def __init__(self, cfg, lat, lon, seed, coef, clim_lai, clim_rzsm, landcover=None):
        self.seed = seed
        self.noise = cfg.obs_vod.error_std if cfg.synthetic.errors == "specified" else cfg.synthetic.vod_noise_std
        self.smoothing = cfg.synthetic.vod_error_smoothing_days
        self.lon, self.coef, self.clim_lai, self.clim_rzsm = lon, coef, clim_lai, clim_rzsm
        row, col = ease.rowcol("M25", lat, lon)
        self.r0, self.c0 = int(row.min()), int(col.min())
        self.shape = (int(row.max()) - self.r0 + 1, int(col.max()) - self.c0 + 1)
        self.flat = (row - self.r0) * self.shape[1] + (col - self.c0)
        self.keys = row * 2000 + col
        size = self.shape[0] * self.shape[1]
        self.pixels = self.r0 * 2000 + self.c0 + (np.arange(size) // self.shape[1]) * 2000 \
            + np.arange(size) % self.shape[1]                              # global row * 2000 + col
        # the error std of each pixel: larger on the cropland share (vod_error_spread; no land cover: none)
        crop = cropland_fraction(self.flat, np.zeros(lat.size) if landcover is None else landcover, size)
        self.std = vod_error_std(self.noise, cfg.synthetic.vod_error_spread, crop)
        # climatological VOD: a per-cell base plus a share of the LAI cycle (VOD ~0.2-1 in Europe)
        u = uniforms(seed, Stream.SYNTHETIC_OBS, np.arange(lat.size), member=_VOD_COEF + 50, n=2)
        self.base, self.lai_share = 0.15 + 0.25 * u[0], 0.08 + 0.06 * u[1]

    def write(self, directory: Path, day: dt.date, index: int, truth: _Truth) -> tuple[int, int]:
        # 01:30 local is on the previous UTC day east of 22.5 E: take each cell's sample of its UTC day
        utc_hour = 1.5 - self.lon / 15.0
        prev = utc_hour < 0
        today = truth.day(index, ("lai_0130", "rzsm_0130", "tsoil1_0600", "swe_0600"))
        before = truth.day(index - 1, ("lai_0130", "rzsm_0130"))
        lai = np.where(prev, before["lai_0130"], today["lai_0130"])
        rz = np.where(prev, before["rzsm_0130"], today["rzsm_0130"])
        slot = int(day_slot(np.array([np.datetime64(day)]))[0])
        cells = np.arange(lai.size)
        la, ra = lai - self.clim_lai[slot, cells], rz - self.clim_rzsm[slot, cells]
        a, b0, b1, b2, b3 = self.coef
        beta = b0 + b1 * lai + b2 * rz + b3 * rz * lai
        vod = self.base + self.lai_share * self.clim_lai[slot, cells] + a * la + beta * ra
        frozen = (today["tsoil1_0600"] < TFRZ) | (today["swe_0600"] > 1.0)
        gap = uniforms(self.seed, Stream.SYNTHETIC_OBS, self.keys, member=_VOD_GAP, time=index)[0] < 0.15
        grid_qa = np.zeros(self.shape[0] * self.shape[1], dtype=np.uint8)
        ok = np.isfinite(vod) & ~gap
        # several model cells can share an EASE cell: the mean of their VOD, plus one retrieval's noise
        s = np.bincount(self.flat[ok], weights=vod[ok], minlength=grid_qa.size)
        n = np.bincount(self.flat[ok], minlength=grid_qa.size)
        grid_vod = np.where(n > 0, s / np.maximum(n, 1) + self.std * self.errors(day, index), np.nan)
        np.maximum.at(grid_qa, self.flat[frozen & ok], 1)
        path = directory / vod_file_name(day, "D")
        if not path.exists():
            write_vod_file(directory, day, "D", np.clip(grid_vod, 0.0, 3.0).reshape(self.shape),
                           qa=grid_qa.reshape(self.shape), row0=self.r0, col0=self.c0)
        return int(ok.sum()), int((ok & ~frozen).sum())

    def errors(self, day: dt.date, index: int) -> np.ndarray:
        """(n_pixels,) unit-variance errors of the day's retrievals: the day's own normals keyed by its
        index in the truth file (k = 1, as before issue 18), or the k-day moving average of
        ``smoothed_normals``."""
        if self.smoothing == 1:
            return normals(self.seed, Stream.SYNTHETIC_OBS, self.pixels, member=_VOD_NOISE, time=index)[0]
        return smoothed_normals(self.seed, self.pixels, np.array([day_number(day)]), self.smoothing)[0]


class _LaiMaker:
    """CGLS LAI dekads: the dekad's mean truth LAI, scale bias, noise, pixel heterogeneity and clouds."""

    def __init__(self, cfg, grid, lat, lon, landcover, seed):
        self.seed, self.grid = seed, grid
        #: specified errors: the truth at the dekad's date and hour plus noise (no dekad mean, no scale
        #: bias, no pixel heterogeneity)
        self.specified = cfg.synthetic.errors == "specified"
        self.noise = cfg.obs_lai.error_std if self.specified else cfg.synthetic.lai_noise_std
        self.hour_tag = f"lai_{int(cfg.obs_lai.local_hour):02d}{int(round(cfg.obs_lai.local_hour % 1 * 60)):02d}"
        self.lat, self.lon = lat, lon
        ids = grid.land_ids
        self.ids = ids
        self.scale = 1.0 if self.specified else 0.75 + 0.55 * uniforms(seed, Stream.SYNTHETIC_OBS, ids,
                                                                        member=_LAI_BIAS)[0]
        res = grid.resolution
        k = max(1, int(round(res / cfg.synthetic.lai_pixel_size)))
        self.k = k
        step = res / k
        # pixel centres covering the grid window, north to south
        ny, nx = grid.shape[0] * k, grid.shape[1] * k
        south_edge, west_edge = grid.lat[0] - res / 2, grid.lon[0] - res / 2
        self.plat = south_edge + (np.arange(ny)[::-1] + 0.5) * step
        self.plon = west_edge + (np.arange(nx) + 0.5) * step
        rows, cols = grid.rows_cols(ids)
        self.cell_rows, self.cell_cols = rows, cols

    def write(self, directory: Path, day: dt.date, index: int, truth: _Truth) -> tuple[int, int]:
        vals = [truth.day(index - j, (self.hour_tag,))[self.hour_tag] for j in range(1 if self.specified else 10)]
        with np.errstate(all="ignore"):
            mean = np.nanmean(np.stack(vals), axis=0) if np.isfinite(np.stack(vals)).any() else vals[0]
        z = normals(self.seed, Stream.SYNTHETIC_OBS, self.ids, member=_LAI_NOISE, time=index)[0]
        cell_obs = np.clip(self.scale * (mean + self.noise * z), 0.0, 7.0)
        # clouds: more often in winter and in the north
        winter = 0.5 * (1 + np.cos(2 * np.pi * (day.timetuple().tm_yday - 15) / 365.0))
        p_cloud = np.clip(0.05 + 0.25 * winter * np.clip((self.lat - 35.0) / 30.0, 0, 1), 0.0, 0.6)
        cloudy = uniforms(self.seed, Stream.SYNTHETIC_OBS, self.ids, member=_LAI_CLOUD, time=index)[0] < p_cloud
        k = self.k
        ny, nx = self.grid.shape
        lai = np.full((ny * k, nx * k), np.nan)
        qflag = np.full((ny * k, nx * k), 1, dtype=np.uint8)            # sea everywhere first
        # pixel heterogeneity: +-15 % around the cell's value, keyed by the pixel's global position
        cells_px = np.repeat(np.arange(self.ids.size), k * k)
        sub = np.tile(np.arange(k * k), self.ids.size)
        prow = (ny - 1 - self.cell_rows[cells_px]) * k + sub // k        # north-to-south pixel rows
        pcol = self.cell_cols[cells_px] * k + sub % k
        pid = self.ids[cells_px] * (k * k) + sub
        het = 1.0 if self.specified else \
            1.0 + 0.15 * normals(self.seed, Stream.SYNTHETIC_OBS, pid, member=_LAI_PIXEL, time=index)[0]
        values = np.clip(cell_obs[cells_px] * het, 0.0, 7.0)
        clouded = cloudy[cells_px]
        lai[prow, pcol] = np.where(clouded, np.nan, values)
        qflag[prow, pcol] = np.where(clouded, 8, 0)                      # 8: no_observation
        path = directory / lai_file_name(day)
        if not path.exists():
            tmp = path.with_name(path.name + ".incomplete")
            write_lai_file(tmp, day, self.plat, self.plon, lai, qflag)
            tmp.replace(path)
        return int(self.ids.size), int((~cloudy).sum())
