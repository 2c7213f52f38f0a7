"""Point columns (``python -m mpilda site CONFIG``): Noah-MP at sites from per-site forcing.

The input is a ``columns.json`` in the layout of the Noah-MP reference package
(``[site] columns_file``): per column an ``id``, ``lat``, ``lon``, MODIS-IGBP
``landcover``, STATSGO ``soil``, ``shdmax``, ``tbot_k`` and its initial state ``init``
(Noah-MP's cold start as LIS's NOAHMP_INIT makes it; without ``init`` the model's own
cold start is used), and the column's forcing in ``forcing/<id>.nc`` beside it: the 8
model forcings (swdown, lwdown [W m-2], tair [K], qair [kg kg-1], psurf [Pa], wind
[m s-1], rainf, snowf [kg m-2 s-1]) at a fixed step of at most 3600 s, each value
applying to [time, time + step).  A forcing step coarser than the model's is brought
to the model step as the ERA5 reader does: air temperature, humidity, pressure and
wind are interpolated linearly between the values at the step starts, radiation and
precipitation keep the rate of the interval the step lies in.

All columns run at once, as one array of cells (one ensemble column each, no
perturbations: the run is deterministic); under mpirun the columns are split over the
ranks.  Each column's daily means are written to ``<output>/<id>.nc`` (CF-1.8), with
the reference package's variable names and units: states are the mean of the
end-of-step values, fluxes the mean of the step fluxes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Config
from .errors import InputError
from .log import Progress, log

#: Daily output variables: name -> (units, long name, CF standard name or None).
OUTPUT = {
    "sm1": ("m3 m-3", "volumetric total soil water (liquid + ice), layer 1 (0-0.1 m)", None),
    "sm2": ("m3 m-3", "volumetric total soil water (liquid + ice), layer 2 (0.1-0.4 m)", None),
    "sm3": ("m3 m-3", "volumetric total soil water (liquid + ice), layer 3 (0.4-1.0 m)", None),
    "sm4": ("m3 m-3", "volumetric total soil water (liquid + ice), layer 4 (1.0-2.0 m)", None),
    "rzsm": ("m3 m-3", "root-zone soil moisture 0-1 m: (0.1 sm1 + 0.3 sm2 + 0.6 sm3) / 1.0", None),
    "lai": ("m2 m-2", "leaf area index", "leaf_area_index"),
    "sai": ("m2 m-2", "stem area index", None),
    "gpp": ("kg m-2 s-1", "gross primary production (carbon mass)",
            "gross_primary_productivity_of_biomass_expressed_as_carbon"),
    "nee": ("kg m-2 s-1", "net ecosystem exchange (carbon mass; positive = source to the atmosphere)", None),
    "et": ("kg m-2 s-1", "evapotranspiration: transpiration + soil evaporation (incl. snow sublimation) + canopy "
                         "evaporation", "water_evapotranspiration_flux"),
    "transpiration": ("kg m-2 s-1", "transpiration", "transpiration_flux"),
    "soil_evaporation": ("kg m-2 s-1", "evaporation from the ground surface, including sublimation from snow",
                         None),
    "canopy_evaporation": ("kg m-2 s-1", "evaporation and sublimation of water intercepted by the canopy", None),
    "qs": ("kg m-2 s-1", "surface runoff", "surface_runoff_flux"),
    "qsb": ("kg m-2 s-1", "subsurface runoff (free drainage out of the bottom of the 2 m soil column)",
            "subsurface_runoff_flux"),
    "swe": ("kg m-2", "snow water equivalent", "surface_snow_amount"),
    "snow_depth": ("m", "snow depth", "surface_snow_thickness"),
    "tsoil1": ("K", "soil temperature, layer 1 (0-0.1 m)", "soil_temperature"),
    "tskin": ("K", "radiative surface (skin) temperature", "surface_temperature"),
    "sensible_heat": ("W m-2", "sensible heat flux (positive upward)", "surface_upward_sensible_heat_flux"),
    "latent_heat": ("W m-2", "latent heat flux (positive upward)", "surface_upward_latent_heat_flux"),
    "ground_heat": ("W m-2", "ground heat flux (positive into the ground)", "downward_heat_flux_in_soil"),
    "net_shortwave": ("W m-2", "absorbed (net) shortwave radiation", "surface_net_downward_shortwave_flux"),
    "fveg": ("1", "vegetated (green vegetation) fraction FVEG", None),
}
#: The forcing variables of a site file (the model's FORCING) and which are rates over the step.
FORCING_VARIABLES = ("swdown", "lwdown", "tair", "qair", "psurf", "wind", "rainf", "snowf")
_RATES = ("swdown", "lwdown", "rainf", "snowf")
#: Plausible ranges of the forcing [its units] (a value outside is an input error).
_FORCING_RANGE = {"swdown": (0.0, 1500.0), "lwdown": (0.0, 700.0), "tair": (170.0, 340.0), "qair": (0.0, 0.1),
                  "psurf": (3.0e4, 1.2e5), "wind": (0.0, 100.0), "rainf": (0.0, 0.5), "snowf": (0.0, 0.5)}
_ID = re.compile(r"^[A-Za-z0-9_.+-]+$")


@dataclass(frozen=True)
class SiteColumn:
    """One column of a columns.json: its classes, maps' values, initial state and forcing file."""

    id: str
    lat: float
    lon: float
    landcover: int
    soil: int
    shdmax: float
    tbot: float
    init: dict | None
    forcing: Path


def _number(entry, key, where, lo, hi, integer=False):
    if key not in entry:
        raise InputError(f"{where}: no {key!r}")
    v = entry[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (integer and not float(v).is_integer()):
        raise InputError(f"{where}: {key} = {v!r}; expected {'an integer' if integer else 'a number'}")
    if not (lo <= v <= hi):
        raise InputError(f"{where}: {key} = {v!r}; expected {lo:g}..{hi:g}")
    return int(v) if integer else float(v)


_INIT_KEYS = {"smc": (4, 0.0, 1.0), "sh2o": (4, 0.0, 1.0), "tsoil_k": (4, 200.0, 340.0), "tv_k": (1, 200.0, 340.0),
              "tg_k": (1, 200.0, 340.0), "tah_k": (1, 180.0, 340.0), "eah_pa": (1, 0.0, 1.0e4),
              "lai": (1, 0.0, 20.0), "sai": (1, 0.0, 20.0), "lfmass_g_m2": (1, 0.0, 1e5), "stmass_g_m2": (1, 0.0, 1e5),
              "rtmass_g_m2": (1, 0.0, 1e5), "wood_g_m2": (1, 0.0, 1e6), "stblcp_g_m2": (1, 0.0, 1e6),
              "fastcp_g_m2": (1, 0.0, 1e6), "canliq_kg_m2": (1, 0.0, 100.0), "canice_kg_m2": (1, 0.0, 100.0),
              "swe_kg_m2": (1, 0.0, 2000.0), "snow_depth_m": (1, 0.0, 20.0), "snow_albedo_prev": (1, 0.0, 1.0),
              "swe_prev_kg_m2": (1, 0.0, 2000.0), "snow_age": (1, 0.0, 1e3)}


def _init_state(entry, where) -> dict:
    init = entry["init"]
    if not isinstance(init, dict):
        raise InputError(f"{where}: init is {type(init).__name__}; expected an object")
    out = {}
    for key, (n, lo, hi) in _INIT_KEYS.items():
        if key not in init:
            raise InputError(f"{where}: init has no {key!r}")
        v = init[key]
        values = v if isinstance(v, list) else [v]
        if len(values) != n or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in values):
            raise InputError(f"{where}: init {key} = {v!r}; expected {n} number{'s' if n > 1 else ''}")
        if not all(lo <= x <= hi for x in values):
            raise InputError(f"{where}: init {key} = {v!r}; expected values in {lo:g}..{hi:g}")
        out[key] = np.array(values, dtype=np.float64) if n > 1 else float(values[0])
    if init.get("isnow", 0) != 0:
        raise InputError(f"{where}: init isnow = {init['isnow']!r}; only a state without snow layers (isnow = 0) can "
                         f"be given (a layer-less pack is swe_kg_m2 and snow_depth_m)")
    if np.any(out["sh2o"] > out["smc"] + 1e-9):
        raise InputError(f"{where}: init sh2o {out['sh2o'].tolist()} exceeds smc {out['smc'].tolist()}")
    return out


def read_columns(path: str | Path, n_landcover: int = 20, n_soil: int = 19) -> list[SiteColumn]:
    """The columns of a columns.json, validated; InputError naming the file, column and key otherwise."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise InputError(f"{path}: cannot read the columns file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None
    entries = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: expected an object with a non-empty list 'columns'")
    columns, seen = [], set()
    for i, entry in enumerate(entries):
        where = f"{path}: columns[{i}]"
        if not isinstance(entry, dict):
            raise InputError(f"{where}: expected an object")
        cid = entry.get("id")
        if not isinstance(cid, str) or not _ID.match(cid):
            raise InputError(f"{where}: id = {cid!r}; expected a name of letters, digits and _.+-")
        if cid in seen:
            raise InputError(f"{where}: id {cid!r} appears twice")
        seen.add(cid)
        where = f"{path}: column {cid}"
        landcover = _number(entry, "landcover", where, 1, n_landcover, integer=True)
        if landcover == 17:
            raise InputError(f"{where}: landcover = 17 (water); a land column is needed")
        soil = _number(entry, "soil", where, 1, n_soil, integer=True)
        if soil == 14:
            raise InputError(f"{where}: soil = 14 (water); a land soil class is needed")
        forcing = entry.get("forcing", f"forcing/{cid}.nc")
        columns.append(SiteColumn(
            id=cid, lat=_number(entry, "lat", where, -90.0, 90.0), lon=_number(entry, "lon", where, -180.0, 360.0),
            landcover=landcover, soil=soil, shdmax=_number(entry, "shdmax", where, 0.0, 1.0),
            tbot=_number(entry, "tbot_k", where, 180.0, 340.0),
            init=_init_state(entry, where) if "init" in entry else None, forcing=path.parent / forcing))
    return columns


def read_forcing(column: SiteColumn, start: dt.datetime, end: dt.datetime, step: int) -> dict[str, np.ndarray]:
    """The column's forcing at every model step of [start, end): {variable: (n_steps,)} in SI units."""
    import netCDF4

    path = column.forcing
    try:
        ds = netCDF4.Dataset(path)
    except (OSError, FileNotFoundError) as exc:
        raise InputError(f"{path}: the forcing of column {column.id} is not a readable netCDF file ({exc})") from None
    with ds:
        if "time" not in ds.variables:
            raise InputError(f"{path}: no variable 'time'")
        tv = ds["time"]
        units = getattr(tv, "units", "")
        try:
            times = netCDF4.num2date(tv[:], units, getattr(tv, "calendar", "standard"),
                                     only_use_cftime_datetimes=False, only_use_python_datetimes=True)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{path}: time units {units!r} cannot be read ({exc})") from None
        raw = {}
        for name in FORCING_VARIABLES:
            if name not in ds.variables:
                raise InputError(f"{path}: no forcing variable {name!r} (has {', '.join(ds.variables)})")
            v = ds[name]
            v.set_auto_mask(True)
            raw[name] = np.ma.asarray(v[:])
    seconds = np.array([(t.replace(tzinfo=dt.timezone.utc) - start).total_seconds() for t in times])
    if seconds.size < 2:
        raise InputError(f"{path}: {seconds.size} time step(s); expected a series")
    steps = np.diff(seconds)
    fstep = steps[0]
    if not np.all(steps == fstep) or fstep <= 0 or fstep > 3600 or fstep % step:
        raise InputError(f"{path}: the forcing step is {sorted(set(steps.tolist()))[:3]} s; expected one fixed step "
                         f"of at most 3600 s that is a multiple of the model step ({step} s)")
    n = int(round((end - start).total_seconds() / step))
    model_t = np.arange(n, dtype=np.float64) * step
    first = seconds[0]
    last_needed = model_t[-1] if n else 0.0
    if first > 0 or seconds[-1] + fstep < last_needed + step:
        t0 = start + dt.timedelta(seconds=float(first))
        t1 = start + dt.timedelta(seconds=float(seconds[-1] + fstep))
        raise InputError(f"{path}: the forcing covers {t0:%Y-%m-%d %H:%M} .. {t1:%Y-%m-%d %H:%M}; the run needs "
                         f"{start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M}")
    k = np.floor((model_t - first) / fstep).astype(np.int64)     # the forcing interval each model step lies in
    out = {}
    for name in FORCING_VARIABLES:
        values = raw[name]
        need = np.unique(np.concatenate([k, np.minimum(k + 1, values.size - 1)]))
        bad = np.ma.getmaskarray(values)[need] | ~np.isfinite(np.ma.getdata(values)[need])
        lo, hi = _FORCING_RANGE[name]
        data = np.ma.getdata(values).astype(np.float64)
        bad |= (data[need] < lo) | (data[need] > hi)
        if bad.any():
            j = int(need[np.flatnonzero(bad)[0]])
            when = start + dt.timedelta(seconds=float(seconds[j]))
            raise InputError(f"{path}: {name} = {float(data[j])!r} at {when:%Y-%m-%d %H:%M} is missing or outside "
                             f"{lo:g}..{hi:g}")
        if name in _RATES or fstep == step:
            out[name] = data[k]
        else:
            w = (model_t - first - k * fstep) / fstep
            out[name] = (1.0 - w) * data[k] + w * data[np.minimum(k + 1, data.size - 1)]
    return out


def _initial_state(model, columns: list[SiteColumn], forcing: dict, start: dt.datetime):
    """The state of every column before the first step: its ``init``, or the model's cold start."""
    state = model.cold_start(1, {name: v[:, 0] for name, v in forcing.items()}, start)
    fields = (("smc", "smc"), ("sh2o", "sh2o"), ("stc", "tsoil_k"), ("tv", "tv_k"), ("tg", "tg_k"),
              ("tah", "tah_k"), ("eah", "eah_pa"), ("lai", "lai"), ("sai", "sai"), ("lfmass", "lfmass_g_m2"),
              ("stmass", "stmass_g_m2"), ("rtmass", "rtmass_g_m2"), ("wood", "wood_g_m2"),
              ("stblcp", "stblcp_g_m2"), ("fastcp", "fastcp_g_m2"), ("canliq", "canliq_kg_m2"),
              ("canice", "canice_kg_m2"), ("sneqv", "swe_kg_m2"), ("snowh", "snow_depth_m"),
              ("albold", "snow_albedo_prev"), ("sneqvo", "swe_prev_kg_m2"), ("tauss", "snow_age"))
    for j, c in enumerate(columns):
        if c.init is None:
            continue
        for field, key in fields:
            getattr(state, field)[..., 0, j] = c.init[key]
    return state


def _daily_fields(state, fluxes) -> dict[str, np.ndarray]:
    """This step's values of the daily output variables, (n_columns,) each."""
    smc = state.smc[:, 0]
    return dict(sm1=smc[0], sm2=smc[1], sm3=smc[2], sm4=smc[3], rzsm=(0.1 * smc[0] + 0.3 * smc[1] + 0.6 * smc[2]),
                lai=state.lai[0], sai=state.sai[0], gpp=fluxes["gpp"][0], nee=fluxes["nee"][0], et=fluxes["et"][0],
                transpiration=fluxes["transpiration"][0], soil_evaporation=fluxes["soil_evaporation"][0],
                canopy_evaporation=fluxes["canopy_evaporation"][0], qs=fluxes["qs"][0], qsb=fluxes["qsb"][0],
                swe=state.sneqv[0], snow_depth=state.snowh[0], tsoil1=state.stc[0, 0], tskin=fluxes["tskin"][0],
                sensible_heat=fluxes["hfx"][0], latent_heat=fluxes["lh"][0], ground_heat=fluxes["ghf"][0],
                net_shortwave=fluxes["swnet"][0], fveg=fluxes["fveg"][0])


def _write_column(path: Path, column: SiteColumn, start: dt.datetime, daily: dict[str, np.ndarray], j: int,
                  attrs: dict) -> None:
    """Write one column's daily means to ``path`` (under a temporary name, renamed when complete)."""
    import netCDF4

    n_days = next(iter(daily.values())).shape[0]
    tmp = path.with_name(path.name + ".incomplete")
    with netCDF4.Dataset(tmp, "w", format="NETCDF4") as ds:
        ds.setncatts(dict(attrs, id=column.id, lat=column.lat, lon=column.lon, landcover=column.landcover,
                          soil=column.soil, shdmax=column.shdmax, tbot_k=column.tbot))
        ds.createDimension("time", n_days)
        ds.createDimension("nv", 2)
        units = f"days since {start:%Y-%m-%d %H:%M:%S}"
        t = ds.createVariable("time", "i4", ("time",))
        t.setncatts(dict(units=units, calendar="standard", standard_name="time", long_name="start of the day",
                         bounds="time_bnds"))
        t[:] = np.arange(n_days)
        b = ds.createVariable("time_bnds", "i4", ("time", "nv"))
        b[:] = np.stack([np.arange(n_days), np.arange(1, n_days + 1)], axis=1)
        for name, (u, long_name, standard_name) in OUTPUT.items():
            v = ds.createVariable(name, "f4", ("time",), zlib=True, complevel=4)
            atts = dict(units=u, long_name=long_name, cell_methods="time: mean")
            if standard_name:
                atts["standard_name"] = standard_name
            v.setncatts(atts)
            v[:] = daily[name][:, j]
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)


def run_sites(cfg: Config, comm) -> list[Path]:
    """Run the columns of ``[site] columns_file`` over [time] and write ``<output>/<id>.nc`` (collective).

    Returns the files this rank wrote.
    """
    from .model.noahmp import FORCING, ModelSettings, NoahMP
    from .model.parameters import read_mptable, read_soilparm
    from .output import ensure_directory, standard_attributes

    if cfg.site.columns_file is None:
        raise InputError(f"{cfg.source}: [site] columns_file is required by the site command")
    veg = read_mptable(cfg.model.mptable_file) if cfg.model.mptable_file else read_mptable()
    soil = read_soilparm(cfg.model.soilparm_file) if cfg.model.soilparm_file else read_soilparm()
    columns = read_columns(cfg.site.columns_file, veg.n_classes, len(soil.names))
    out_dir = cfg.output.directory
    ensure_directory(out_dir, "[output] directory", comm)
    attrs = standard_attributes(comm, "mpilda site run (Noah-MP 4.0.1 point columns)", cfg.to_ini())
    mine = np.array_split(np.arange(len(columns)), comm.size)[comm.rank]
    columns = [columns[i] for i in mine]
    if not columns:
        return []
    start, end, step = cfg.time.start, cfg.time.end, int(cfg.time.timestep)
    forcing = {name: np.empty((int(round((end - start).total_seconds() / step)), len(columns)))
               for name in FORCING}
    for j, c in enumerate(columns):
        for name, values in read_forcing(c, start, end, step).items():
            forcing[name][:, j] = values
    settings = ModelSettings(dt=float(step), dveg=cfg.model.dveg, drainage_slope=cfg.model.drainage_slope)
    model = NoahMP(np.array([c.landcover for c in columns]), np.array([c.soil for c in columns]),
                   np.array([c.lat for c in columns]), np.array([c.lon for c in columns]), veg, soil, settings,
                   shdmax=np.array([c.shdmax for c in columns]), tbot=np.array([c.tbot for c in columns]))
    state = _initial_state(model, columns, {k: v[:1] for k, v in forcing.items()}, start)
    steps_per_day = 86400 // step
    n_days = cfg.time.n_days
    daily = {name: np.zeros((n_days, len(columns))) for name in OUTPUT}
    progress = Progress(n_days, f"site ({len(columns)} columns)", enabled=comm.rank == 0, unit="days")
    for i in range(forcing["tair"].shape[0]):
        time = start + dt.timedelta(seconds=i * step)
        fluxes = model.step(state, {name: forcing[name][i][None, :] for name in FORCING}, time)
        day = i // steps_per_day
        for name, value in _daily_fields(state, fluxes).items():
            daily[name][day] += value
        if (i + 1) % steps_per_day == 0:
            progress.update(day + 1, time + dt.timedelta(seconds=step))
    for name in daily:
        daily[name] /= steps_per_day
    written = []
    for j, c in enumerate(columns):
        path = out_dir / f"{c.id}.nc"
        _write_column(path, c, start, daily, j, attrs)
        written.append(path)
    log.info("wrote the daily means of %d columns to %s", len(written), out_dir)
    return written



#: The targets of the Noah-MP reference comparison (issue "Noah-MP 4.0.1 as the paper runs it"): variable ->
#: (median RMSE over columns, worst column's RMSE) of the daily means, in the units of SCALE's.
TARGETS = {"sm1": (0.005, 0.015), "rzsm": (0.003, 0.010), "lai": (0.10, 0.30), "gpp": (0.30, 0.80),
           "et": (0.06, 0.15), "runoff": (0.06, 0.20), "swe": (5.0, 15.0), "tsoil1": (0.3, 0.8)}
#: Units of the comparison: kg m-2 s-1 -> mm d-1 (water), kg C m-2 s-1 -> g C m-2 d-1 (carbon).
SCALE = {"gpp": 86400.0e3, "nee": 86400.0e3, "et": 86400.0, "transpiration": 86400.0, "soil_evaporation": 86400.0,
         "canopy_evaporation": 86400.0, "qs": 86400.0, "qsb": 86400.0, "runoff": 86400.0}
#: A column is snowy (its SWE counts) when its reference has at least this many days with snow [days].
SNOWY_DAYS = 10


def compare_columns(model_dir: str | Path, reference_dir: str | Path, ids, since: dt.date,
                    variables=None) -> dict:
    """RMSE, bias and r of daily means of ``<model_dir>/<id>.nc`` against ``<reference_dir>/<id>.nc``.

    Days from ``since`` on; ``runoff`` is qs + qsb; SWE only at snowy columns (SNOWY_DAYS). Returns
    {variable: {"columns": {id: {rmse, bias, r}}, "median_rmse", "max_rmse", "worst"}} in the units of SCALE.
    """
    import netCDF4

    variables = list(variables or TARGETS)
    result = {v: {"columns": {}} for v in variables}
    for cid in ids:
        with netCDF4.Dataset(Path(model_dir) / f"{cid}.nc") as m, netCDF4.Dataset(Path(reference_dir) / f"{cid}.nc") \
                as r:
            def days(ds):
                t = ds["time"]
                return np.array([d.date() for d in netCDF4.num2date(t[:], t.units, getattr(t, "calendar", "standard"),
                                                                     only_use_cftime_datetimes=False,
                                                                     only_use_python_datetimes=True)])

            dm, dr = days(m), days(r)
            common = np.intersect1d(dm[dm >= since], dr[dr >= since])
            im, ir = np.searchsorted(dm, common), np.searchsorted(dr, common)

            def get(ds, name, idx):
                if name == "runoff":
                    return (np.asarray(ds["qs"][:], float) + np.asarray(ds["qsb"][:], float))[idx]
                return np.asarray(ds[name][:], float)[idx]

            for v in variables:
                a = get(m, v, im) * SCALE.get(v, 1.0)
                b = get(r, v, ir) * SCALE.get(v, 1.0)
                if v == "swe" and np.count_nonzero(b > 0.0) < SNOWY_DAYS:
                    continue
                r_val = float(np.corrcoef(a, b)[0, 1]) if a.std() > 0 and b.std() > 0 else None
                result[v]["columns"][cid] = dict(rmse=float(np.sqrt(np.mean((a - b) ** 2))),
                                                 bias=float(np.mean(a - b)), r=r_val)
    for v, res in result.items():
        rmse = {c: x["rmse"] for c, x in res["columns"].items()}
        if rmse:
            res["median_rmse"] = float(np.median(list(rmse.values())))
            res["max_rmse"] = max(rmse.values())
            res["worst"] = max(rmse, key=rmse.get)
    return result
