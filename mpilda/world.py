"""The synthetic world: make its maps and forcing files, in parallel, once.

``make_world`` writes into ``[synthetic] directory``:

* ``landcover.nc``, ``soil.nc``, ``shdmax.nc``, ``tbot.nc``: MODIS-IGBP and STATSGO
  class maps, the maximum vegetation fraction and the deep soil temperature on the
  model grid (read back through the same path as a user's real maps);
* ``truth/era5_YYYYMMDD.nc`` and ``model/era5_YYYYMMDD.nc``: hourly forcing of
  the truth run and of the runs that are evaluated, in the legacy ERA5 layout,
  over the domain plus ``[synthetic] margin``, for every day of the run and the
  day after its end (the last steps interpolate towards it); with ``[synthetic]
  errors = specified`` the two are equal and only ``truth/`` is written;
* ``climate_summary.json`` and ``climate.png``: the climate it produced;
* ``world.json``: written last; its presence means the world is complete.

Weather rows of the ERA5 lattice are spread over ranks; every value is a pure
function of (seed, point, hour), so the files do not depend on the rank count.
Days already on disk are not written again, so an interrupted run resumes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError
from .forcing.era5_layout import Era5DayWriter, era5_lattice, hours_since_1900
from .grid import Grid, builtin_landmask
from .log import Progress, log
from .output import GridWriter, Variable, resolve_io_mode, standard_attributes
from .parallel import Decomposition

#: The static maps of the world (<name>.nc with variable <name>).
STATIC_MAPS = ("landcover", "soil", "shdmax", "tbot")
#: File name pattern of the synthetic forcing (strftime), relative to the world's directory.
FORCING_PATTERN = "{realisation}/era5_%Y%m%d.nc"
#: Boxes (south, north, west, east) for the climate summary; names say what they stand for.
REGIONS = {
    "iberia": (36.0, 43.5, -9.5, 3.0),
    "france": (43.5, 50.5, -4.5, 7.5),
    "british_isles": (50.0, 58.5, -10.5, 1.5),
    "central_europe": (47.0, 54.5, 6.0, 20.0),
    "scandinavia": (58.0, 71.5, 5.0, 31.0),
    "eastern_europe": (45.0, 58.0, 24.0, 40.0),
    "italy_balkans": (37.0, 46.0, 8.0, 28.0),
    "anatolia": (36.5, 41.5, 27.0, 40.0),
    "sahara": (30.0, 32.5, -5.0, 30.0),
}


def forcing_pattern(cfg: Config, realisation: str) -> Path:
    """The strftime pattern of the synthetic forcing files of 'truth' or 'model' (with [synthetic]
    errors = specified the model forcing is the truth forcing, bit for bit: its files serve both)."""
    if cfg.synthetic.errors == "specified":
        realisation = "truth"
    return cfg.synthetic.directory / FORCING_PATTERN.format(realisation=realisation)


def world_identity(cfg: Config) -> dict:
    """Everything the world's content depends on (recorded in world.json)."""
    d = cfg.domain
    return dict(seed=cfg.random.seed, south=d.south, north=d.north, west=d.west, east=d.east,
                resolution=d.resolution, margin=cfg.synthetic.margin, **model_forcing_errors(cfg))


def model_forcing_errors(cfg: Config) -> dict:
    """The WeatherGenerator's errors of the model forcing: none when [synthetic] errors = specified
    (the truth run then carries the errors, as one realisation of the ensemble perturbations)."""
    s = cfg.synthetic
    if s.errors == "specified":
        return dict(precip_bias_std=0.0, radiation_bias_std=0.0, weather_error=0.0)
    return dict(precip_bias_std=s.precip_bias_std, radiation_bias_std=s.radiation_bias_std,
                weather_error=s.weather_error)


def world_is_complete(cfg: Config) -> bool:
    """True when a world of these settings covering this run's period is on disk.

    An InputError when the directory holds a world of other settings; False when its
    period does not cover the run's (with its spin-up): ``make_world`` then adds the
    missing days.
    """
    marker = cfg.synthetic.directory / "world.json"
    if not marker.exists() or not all((cfg.synthetic.directory / f"{n}.nc").exists() for n in STATIC_MAPS):
        return False
    record = json.loads(marker.read_text())
    found = record.get("identity")
    want = world_identity(cfg)
    if found != want:
        diff = {k: (found.get(k) if found else None, v) for k, v in want.items() if not found or found.get(k) != v}
        raise InputError(f"{marker}: the synthetic world in {cfg.synthetic.directory} was made for other settings "
                         f"(found vs wanted: {diff}); choose another [synthetic] directory or delete it")
    have = (record["start"], record["end"])
    need_start = min(cfg.time.start, cfg.spinup.start or cfg.time.start)
    need_end = max(cfg.time.end, cfg.spinup.end or cfg.time.end)
    need = (f"{need_start:%Y-%m-%d}", f"{need_end:%Y-%m-%d}")
    return have[0] <= need[0] and need[1] <= have[1]


def _days(cfg: Config) -> list[dt.datetime]:
    """Days with forcing files: every day of the run and the day after its end."""
    return [cfg.time.start + dt.timedelta(days=i) for i in range(cfg.time.n_days + 1)]


def make_world(cfg: Config, comm) -> Path:
    """Make the synthetic world of ``cfg`` (collective); return its directory."""
    from .forcing.synthetic import WeatherGenerator
    from .landscape import synthetic_landcover, synthetic_shdmax, synthetic_soil, synthetic_tbot

    root = cfg.synthetic.directory
    if world_is_complete(cfg):
        log.info("synthetic world already complete in %s", root)
        return root
    mode = resolve_io_mode(cfg.output.io_mode, comm)
    attrs = standard_attributes(comm, "mpilda synthetic world", cfg.to_ini())
    seed = cfg.random.seed

    # 1. the static maps, on the model grid
    grid = Grid.from_config(cfg.domain)
    local = Decomposition.build(grid, cfg.domain.tile_size, comm.size).local(comm.rank)
    landcover = synthetic_landcover(seed, local.lat, local.lon)
    soil = synthetic_soil(seed, local.lat, local.lon, landcover)
    for name, values, variable in (
            ("landcover", landcover, Variable("landcover", "1", "MODIS-IGBP land-cover class (Noah-MP 'modified "
                                                               "igbp modis noah', 1..20)", dtype="i4", static=True)),
            ("soil", soil, Variable("soil", "1", "STATSGO soil-texture class (Noah-MP SOILPARM.TBL STAS, 1..19)",
                                    dtype="i4", static=True)),
            ("shdmax", synthetic_shdmax(seed, local.lat, local.lon, landcover),
             Variable("shdmax", "1", "maximum green vegetation fraction (Noah-MP SHDMAX)", static=True)),
            ("tbot", synthetic_tbot(seed, local.lat, local.lon),
             Variable("tbot", "K", "soil temperature at 8 m depth (Noah-MP TBOT): the mean annual air temperature",
                      "soil_temperature", static=True))):
        with GridWriter(root / f"{name}.nc", local, comm, [variable], start=cfg.time.start, n_times=0, mode=mode,
                        compression=cfg.output.compression, attrs=attrs) as w:
            w.write_static({name: values})
    log.info("wrote the maps %s", ", ".join(str(root / f"{n}.nc") for n in STATIC_MAPS))

    # 2. the hourly forcing, on the ERA5 lattice; each rank a block of latitude rows
    d = cfg.domain
    lat, lon = era5_lattice(d.south, d.north, d.west, d.east, cfg.synthetic.margin)
    rows = np.array_split(np.arange(lat.size), comm.size)[comm.rank]
    rows = slice(int(rows[0]), int(rows[-1]) + 1) if rows.size else slice(0, 0)
    plat = np.repeat(lat[rows], lon.size)
    plon = np.tile(lon, rows.stop - rows.start)
    gen = WeatherGenerator(seed, plat, plon, **model_forcing_errors(cfg))
    writer = Era5DayWriter(lat, lon, rows, comm, mode=mode, compression=1)
    stats = {r: _ClimateStats(plat.size) for r in ("truth", "model")}
    days = _days(cfg)
    progress = Progress(len(days), "make-synthetic", enabled=comm.rank == 0, unit="days")
    for i, day in enumerate(days):
        truth, model = gen.hourly(hours_since_1900(day), 24)
        written = set()
        for realisation, fields in (("truth", truth), ("model", model)):
            path = Path(day.strftime(str(forcing_pattern(cfg, realisation))))
            if path not in written and not path.exists():
                written.add(path)
                writer.write(path, day, fields, history=f"mpilda synthetic world, {realisation} forcing, "
                                                        f"seed {seed}")
            if day < cfg.time.end:
                stats[realisation].add_day(fields)
        progress.update(i + 1, day + dt.timedelta(days=1))

    # 3. the climate it made, and the marker
    summary = _summarise(cfg, comm, lat, lon, rows, stats)
    if comm.rank == 0:
        (root / "climate_summary.json").write_text(json.dumps(summary, indent=1))
        _write_atomic(root / "world.json", json.dumps(dict(identity=world_identity(cfg), days=len(days),
                                                            start=f"{cfg.time.start:%Y-%m-%d}",
                                                            end=f"{cfg.time.end:%Y-%m-%d}",
                                                            lattice=[int(lat.size), int(lon.size)])))
    comm.Barrier()
    log.info("synthetic world complete in %s (%d days, ERA5 lattice %dx%d)", root, len(days), lat.size, lon.size)
    return root


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".incomplete")
    tmp.write_text(text)
    os.replace(tmp, path)


class _ClimateStats:
    """Running sums per point of a realisation's daily weather: precipitation, wet days, temperature."""

    def __init__(self, n: int):
        self.days = 0
        self.precip = np.zeros(n)     # m
        self.wet_days = np.zeros(n)
        self.t2m = np.zeros(n)        # K, sum of daily means

    def add_day(self, fields) -> None:
        daily_p = fields["tp"].sum(axis=0)
        self.days += 1
        self.precip += daily_p
        self.wet_days += daily_p >= 1e-3   # a wet day: >= 1 mm (WMO/ETCCDI convention)
        self.t2m += fields["t2m"].mean(axis=0)


def _summarise(cfg: Config, comm, lat, lon, rows, stats) -> dict:
    """Climate figures by region (land points of the lattice), and the maps on rank 0."""
    from mpi4py import MPI

    plat = np.repeat(lat[rows], lon.size)
    plon = np.tile(lon, rows.stop - rows.start)
    land = builtin_landmask(lat[rows], lon).ravel()
    n_days = max(stats["truth"].days, 1)
    out = dict(days=n_days, start=f"{cfg.time.start:%Y-%m-%d}", end=f"{cfg.time.end:%Y-%m-%d}",
               note="annual precipitation scaled from the period to 365.25 days; land points of the ERA5 lattice",
               regions={})
    for name, (s, n, w, e) in REGIONS.items():
        inside = land & (plat >= s) & (plat <= n) & (plon >= w) & (plon <= e)
        entry = {}
        for realisation, st in stats.items():
            sums = np.array([inside.sum(), st.precip[inside].sum(), st.wet_days[inside].sum(),
                             st.t2m[inside].sum()], dtype=np.float64)
            total = np.empty_like(sums)
            comm.Allreduce(sums, total, op=MPI.SUM)
            if total[0] == 0:
                continue
            entry[realisation] = dict(
                points=int(total[0]),
                annual_precip_mm=round(float(total[1] / total[0] / n_days * 365.25 * 1000.0), 1),
                wet_day_frequency=round(float(total[2] / total[0] / n_days), 3),
                mean_t2m_c=round(float(total[3] / total[0] / n_days - 273.15), 2))
        if entry:
            out["regions"][name] = entry
    # maps of the truth's annual precipitation and mean temperature, gathered on rank 0
    p_map = comm.gather(stats["truth"].precip / n_days * 365.25 * 1000.0, root=0)
    t_map = comm.gather(stats["truth"].t2m / n_days - 273.15, root=0)
    if comm.rank == 0:
        out["figure"] = str(_plot_climate(cfg, lat, lon, np.concatenate(p_map).reshape(lat.size, lon.size),
                                          np.concatenate(t_map).reshape(lat.size, lon.size)))
    return out


def _plot_climate(cfg: Config, lat, lon, precip, t2m) -> Path:
    """climate.png: maps of annual precipitation and mean temperature, and a week of hourly forcing at 3 cells."""
    from .forcing.era5 import Era5Forcing
    from .plots import _pyplot

    plt = _pyplot()
    land = builtin_landmask(lat, lon)
    fig = plt.figure(figsize=(13, 9))
    extent = (lon[0] - 0.125, lon[-1] + 0.125, lat[-1] - 0.125, lat[0] + 0.125)
    for k, (values, title, cmap, unit) in enumerate(((precip, "annual precipitation (truth)", "YlGnBu", "mm yr-1"),
                                                      (t2m, "mean 2 m air temperature (truth)", "RdYlBu_r",
                                                       "degC"))):
        ax = fig.add_subplot(2, 2, k + 1)
        im = ax.imshow(values, extent=extent, cmap=cmap, aspect="auto")
        ax.contour(lon, lat, land.astype(float), levels=[0.5], colors="k", linewidths=0.4)
        ax.set_title(f"{title}, {cfg.time.start:%Y-%m-%d}..{cfg.time.end:%Y-%m-%d}")
        ax.set_xlabel("longitude [degrees east]")
        ax.set_ylabel("latitude [degrees north]")
        fig.colorbar(im, ax=ax, label=unit)
    # a week of hourly forcing at three cells, read back through the ERA5 reader
    grid = Grid.from_config(cfg.domain)
    ids = grid.land_ids
    picks = ids[[0, ids.size // 2, ids.size - 1]]
    clat, clon = grid.cell_lat_lon(picks)
    n_hours = min(7 * 24, cfg.time.n_days * 24)
    times = [cfg.time.start + dt.timedelta(hours=h) for h in range(n_hours)]
    with Era5Forcing(forcing_pattern(cfg, "truth"), clat, clon, 3600, cfg.forcing.snow_temperature) as reader:
        series = [reader.at(t) for t in times]
    for k, (names, ylabel) in enumerate(((("tair",), "air temperature [K]"),
                                         (("swdown", "rainf"), "SW down [W m-2]; rain [mm h-1] x 100"))):
        ax = fig.add_subplot(2, 2, 3 + k)
        for c in range(3):
            for name in names:
                values = np.array([s[name][c] for s in series])
                if name == "rainf":
                    values = values * 3600 * 100
                ax.plot(times, values, lw=0.8, ls="-" if name != "rainf" else ":",
                        label=f"{name} at {clat[c]:.2f}N {clon[c]:.2f}E")
        ax.set_ylabel(ylabel)
        ax.set_title("hourly truth forcing read back through the ERA5 reader")
        ax.legend(fontsize=6)
        ax.tick_params(axis="x", labelrotation=30, labelsize=7)
    fig.tight_layout()
    path = cfg.synthetic.directory / "climate.png"
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
