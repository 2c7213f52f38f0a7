"""Synthetic reference data drawn from a truth run, in the real products' file formats.  No MPI.

The caller gives the truth's DAILY MEANS as arrays (n_days, n_cells) keyed by model names,
the days (n_days,) and, per cell, the global cell id, the centre latitude/longitude and the
MODIS-IGBP land cover; the functions write files that the readers of this package read back:

* :func:`write_ismn_references` - ISMN-like stations (header_values layout) in
  ``Network/Station/`` folders or one zip archive, with static metadata CSVs;
* :func:`write_flux_references` - FLUXNET2015 / Warm Winter 2020 DD-style CSVs, one per tower,
  and a site list CSV (position, IGBP, UTC offset: the CSVs do not hold them);
* :func:`write_xbase_references` - X-BASE-style ``{VAR}_{YYYY}_025_daily.nc`` files.

Every random number comes from :mod:`mpilda.random` (Stream.SYNTHETIC_REFERENCE), keyed by
the cell id (stations, towers) or the 0.25 degree lattice position (X-BASE) and by the hour or
day counted from 1970: the output is a pure function of the seed and the inputs, never of a
rank.  Which cells get a station or a tower depends only on (seed, cell id, position, land
cover), so the caller may pass only the columns of the cells :func:`plan_ismn_stations` /
:func:`plan_flux_towers` select (to read less of the truth output).

The error levels below are choices for a plausible twin experiment (marked "policy"); the
physical constants and formats are cited where they are used.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..forcing.lattice import Scale, project, space_time_field, static_field
from ..model.constants import DZ, TFRZ
from ..random import Stream, normals, uniforms
from . import fluxnet, xbase
from .ismn import STATIC_SUFFIX

STREAM = Stream.SYNTHETIC_REFERENCE
# "members" of the stream, one per use (never renumber: results depend on them).
#   stations: 1 choice of cells and station count, 3 position/profile/sensor, 6 error parameters,
#   7 AR(1) and white noise, 9 daily flags, 10 hourly flags and drops, 11 outages, 12 life span
_ST_SITE, _ST_POS, _ST_ERR, _ST_AR, _ST_DAYFLAG, _ST_HOURFLAG, _ST_GAP, _ST_LIFE = 1, 3, 6, 7, 9, 10, 11, 12
_FX_SITE, _FX_POS, _FX_ERR, _FX_AR, _FX_WHITE, _FX_QC, _FX_GAP, _FX_LIFE = 21, 22, 23, 24, 25, 26, 27, 28
_FX_BLOCK, _FX_MISSING = 29, 30
_XB_BIAS, _XB_NOISE = 41, 45          # + 0, 1, 2 for GPP, NEE, ET (Scale members of the lattice fields)

SECONDS_PER_DAY = 86400.0
#: kg C m-2 s-1 -> gC m-2 d-1 (1 kg = 1000 g, 1 d = 86400 s).
KG_S_TO_G_D = 1e3 * SECONDS_PER_DAY


# ---------------------------------------------------------------------------
# Common helpers
# ---------------------------------------------------------------------------

def _day_numbers(days) -> np.ndarray:
    """Days since 1970-01-01 (int64) of datetime64 days: the time word of daily random numbers."""
    return np.asarray(days).astype("datetime64[D]").astype(np.int64)


def _ar1(innovations: np.ndarray, phi: float) -> np.ndarray:
    """Stationary unit-variance AR(1) series x[0] = e[0], x[n] = phi x[n-1] + sqrt(1 - phi^2) e[n] along axis 0."""
    from scipy.signal import lfilter

    scale = np.full(innovations.shape[0], np.sqrt(1.0 - phi * phi))
    scale[:1] = 1.0
    x = innovations * scale.reshape((-1,) + (1,) * (innovations.ndim - 1))
    return lfilter([1.0], [1.0, -phi], x, axis=0)


def _columns(cell_ids: np.ndarray, wanted: np.ndarray, what: str) -> np.ndarray:
    """Positions of the cells ``wanted`` in ``cell_ids``."""
    order = np.argsort(cell_ids)
    pos = np.searchsorted(cell_ids, wanted, sorter=order)
    pos = np.clip(pos, 0, cell_ids.size - 1)
    found = cell_ids[order[pos]] == wanted
    if not found.all():
        raise ValueError(f"{what}: cell {int(wanted[~found][0])} is not among the cells given")
    return order[pos]


def _truth(truth: Mapping[str, np.ndarray], name: str, n_days: int, n_cells: int) -> np.ndarray:
    if name not in truth:
        raise ValueError(f"the truth has no {name!r} (it has {', '.join(sorted(truth))})")
    a = np.asarray(truth[name], dtype=np.float64)
    if a.shape != (n_days, n_cells):
        raise ValueError(f"truth[{name!r}] has shape {a.shape}; expected (n_days, n_cells) = {(n_days, n_cells)}")
    return a


class _Sink:
    """Writes files under a directory, or into one zip archive there (complete or not at all)."""

    def __init__(self, directory: Path, zip_name: str | None):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.zip_path = directory / zip_name if zip_name else None
        self.zip = None
        if self.zip_path is not None:
            self.tmp = self.zip_path.with_name(self.zip_path.name + ".incomplete")
            self.zip = zipfile.ZipFile(self.tmp, "w", compression=zipfile.ZIP_DEFLATED)

    def write(self, relpath: str, text: str) -> None:
        if self.zip is not None:
            self.zip.writestr(relpath, text)
        else:
            path = self.directory / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".incomplete")
            tmp.write_text(text, newline="")
            tmp.replace(path)

    def close(self) -> Path:
        if self.zip is not None:
            self.zip.close()
            self.tmp.replace(self.zip_path)
            return self.zip_path
        return self.directory


# ---------------------------------------------------------------------------
# (a) ISMN-like stations
# ---------------------------------------------------------------------------

#: Expected stations per land cell (policy: ISMN's European networks give very roughly one station
#: per 15-25 land cells of 0.25 degrees where they exist).
STATIONS_PER_CELL = 1.0 / 20.0
#: Mean of the regional density factor over the paper domain's 19,701 land cells (computed once with
#: :func:`_station_density`; a constant so a cell's chance never depends on which other cells are given).
_DENSITY_MEAN = 0.656
#: Chance that a cell with stations has a 2nd and a 3rd one (policy; real networks cluster).
_SECOND, _THIRD = 0.20, 0.06
#: Sensor depth profiles [m] and their chances (policy, after typical designs: many stations only at
#: 5 cm, SMOSMANIA 5/10/20/30 cm, SCAN 5/10/20/50/100 cm).
PROFILES = ((0.05,), (0.05, 0.20), (0.05, 0.20, 0.50), (0.05, 0.10, 0.20, 0.50))
_PROFILE_CHANCE = np.cumsum([0.40, 0.15, 0.20, 0.25])
#: Sensor models written in headers; some hold a space or '_' as in 2025 downloads.
SENSORS = ("ThetaProbe ML2X", "Hydraprobe Analog_E", "5TM", "CS655")
#: Representativeness and measurement errors [m3 m-3] (policy): a per-sensor linear mismatch
#: a + b x, a persistent AR(1) error (e-folding 5 days, as point-to-cell differences persist over
#: wetting/drying events), white sensor noise.
_BIAS_RANGE = (-0.04, 0.06)
_SCALE_RANGE = (0.75, 1.25)
_AR_STD_RANGE = (0.01, 0.03)
_AR_HOURS = 120.0
_WHITE_STD = 0.004
#: ISMN consistency bounds (data-formats.md s.5: C01 SM < 0, C02 SM > 0.6 m3 m-3).
_C01, _C02 = 0.0, 0.6
#: Flag and gap rates (policy): daily D05 events, hourly spikes (D06) and missing values (M),
#: 10-day outages, single missing hours; late-starting and early-ending stations.
_D05_DAY, _SPIKE_HOUR, _MISSING_HOUR, _DROP_HOUR = 0.02, 0.002, 0.003, 0.01
_SPIKE = 0.08
_OUTAGE_DAYS, _OUTAGE_CHANCE = 10, 0.04
_LATE_START, _EARLY_END = 0.25, 0.10

#: MODIS-IGBP class -> (ESA CCI land cover class, its legend name), for the static metadata CSV
#: (closest CCI-LC legend class; ESA CCI Land Cover product user guide v2).
_CCI = {1: (70, "Tree cover, needleleaved, evergreen, closed to open (>15%)"),
        2: (50, "Tree cover, broadleaved, evergreen, closed to open (>15%)"),
        3: (80, "Tree cover, needleleaved, deciduous, closed to open (>15%)"),
        4: (60, "Tree cover, broadleaved, deciduous, closed to open (>15%)"),
        5: (90, "Tree cover, mixed leaf type (broadleaved and needleleaved)"),
        6: (120, "Shrubland"), 7: (120, "Shrubland"),
        8: (100, "Mosaic tree and shrub (>50%) / herbaceous cover (<50%)"),
        9: (110, "Mosaic herbaceous cover (>50%) / tree and shrub (<50%)"), 10: (130, "Grassland"),
        11: (180, "Shrub or herbaceous cover, flooded, fresh/saline/brakish water"), 12: (10, "Cropland, rainfed"),
        13: (190, "Urban areas"),
        14: (30, ("Mosaic cropland (>50%) / natural vegetation (tree, shrub, herbaceous cover) (<50%)")),
        15: (220, "Permanent snow and ice"), 16: (200, "Bare areas"), 17: (210, "Water bodies"),
        18: (100, "Mosaic tree and shrub (>50%) / herbaceous cover (<50%)"), 19: (140, "Lichens and mosses"),
        20: (200, "Bare areas")}


@dataclass(frozen=True)
class SyntheticStation:
    """One synthetic ISMN station: names, the model cell it lies in, position, sensor depths [m]."""

    network: str
    station: str
    cell_id: int
    key: int                  # random-number id of the station: cell_id * 4 + k
    lat: float
    lon: float
    depths: tuple[float, ...]
    sensor: str               # as in the header (may hold spaces)

    @property
    def file_sensor(self) -> str:
        """The sensor as in file names: spaces and underscores become '-' (as in ISMN 2025 names)."""
        return self.sensor.replace(" ", "-").replace("_", "-")


def _station_density(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Regional factor of the station density: most stations in western/central Europe (policy, after
    the ISMN map), few in the north, the east and North Africa."""
    return 0.3 + 2.2 * np.exp(-(((lat - 48.5) / 7.0) ** 2 + ((lon - 8.0) / 13.0) ** 2))


def _network(lat: float, lon: float) -> str:
    """A network per 5 x 5 degree box: 'SYN' + box row and column (no '_': network names sit in file names)."""
    return f"SYN{int((lat + 90) // 5):02d}{int((lon + 180) // 5):02d}"


def plan_ismn_stations(seed: int, cell_ids, lat, lon, resolution: float = 0.25,
                       stations_per_cell: float = STATIONS_PER_CELL) -> list[SyntheticStation]:
    """Which cells hold stations, where, and with which sensors (pure function of seed and cell).

    Args:
        cell_ids: (n,) global cell ids; lat, lon: (n,) cell centres [degrees].
        resolution: cell size [degrees] (stations lie inside their cell).
        stations_per_cell: expected stations per land cell over the paper domain.
    """
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    mean_count = 1.0 + _SECOND + _THIRD
    chance = np.clip(stations_per_cell / (mean_count * _DENSITY_MEAN) * _station_density(lat, lon), 0.0, 1.0)
    u = uniforms(seed, STREAM, cell_ids, member=_ST_SITE, n=2)
    chosen = np.flatnonzero(u[0] < chance)
    count = 1 + (u[1, chosen] < _SECOND).astype(int) + (u[1, chosen] < _THIRD).astype(int)
    out = []
    for i, n in zip(chosen, count):
        for k in range(n):
            key = int(cell_ids[i]) * 4 + k
            v = uniforms(seed, STREAM, key, member=_ST_POS, n=4)
            slat = float(lat[i] + (v[0] - 0.5) * 0.9 * resolution)
            slon = float(lon[i] + (v[1] - 0.5) * 0.9 * resolution)
            profile = PROFILES[int(np.searchsorted(_PROFILE_CHANCE, v[2]))]
            sensor = SENSORS[min(int(v[3] * len(SENSORS)), len(SENSORS) - 1)]
            out.append(SyntheticStation(_network(slat, slon), f"C{int(cell_ids[i])}-{k + 1}", int(cell_ids[i]), key,
                                        round(slat, 5), round(slon, 5), profile, sensor))
    return out


def layer_weights(depth: float) -> np.ndarray:
    """(4,) weights of the model's soil layers giving the value at ``depth`` [m]: linear in depth between
    the layer mid-depths (0.05, 0.25, 0.70, 1.50 m for Noah-MP's 0.1/0.3/0.6/1.0 m layers), constant
    above the first and below the last."""
    mids = np.cumsum(DZ) - 0.5 * np.asarray(DZ)
    x = np.interp(depth, mids, np.arange(mids.size, dtype=np.float64))
    w = np.zeros(mids.size)
    k = min(int(np.floor(x)), mids.size - 2)
    w[k] = 1.0 - (x - k)
    w[k + 1] = x - k
    return w


def _fmt_header(st: SyntheticStation, depth: float, elevation: float) -> str:
    return (f"{st.network:<10} {st.network:<10} {st.station:<15} {st.lat:10.5f} {st.lon:11.5f} {elevation:21.1f} "
            f"{depth:.4f} {depth:.4f} {st.sensor}\n")


def _records(times: np.ndarray, values: np.ndarray, flags: np.ndarray) -> str:
    """``YYYY/MM/DD HH:MM value flag provider_flag`` lines (value %.4f or NaN; provider flag 'M': none given).

    Built with numpy's vectorised string functions (a pandas ``to_csv`` is ~4 times slower here).
    """
    if times.size == 0:
        return ""
    stamp = np.datetime_as_string(times.astype("datetime64[m]"), unit="m").astype("S16")   # YYYY-MM-DDTHH:MM
    chars = stamp.view(np.uint8).reshape(-1, 16).copy()
    chars[:, [4, 7]] = ord("/")
    chars[:, 10] = ord(" ")
    text = np.where(np.isfinite(values), np.char.mod("%.4f", np.nan_to_num(values)), "NaN").astype("S")
    line = np.char.add(np.char.add(chars.view("S16").ravel(), b" "), np.char.add(text, b" "))
    line = np.char.add(line, np.char.add(np.asarray(flags).astype("S"), b" M\n"))
    return b"".join(line.tolist()).decode("ascii")


def _static_csv(landcover: int | None) -> str:
    header = ("quantity_name;unit;depth_from[m];depth_to[m];value;description;quantity_source_name;"
              "quantity_source_description;quantity_source_provider;quantity_source_version;"
              "quantity_source_resolution;quantity_source_timerange;quantity_source_url;")
    lines = [header]
    if landcover is not None and int(landcover) in _CCI:
        code, name = _CCI[int(landcover)]
        for year in (2000, 2005, 2010):
            lines.append(f"land cover classification;;;;{code};{name};CCI_landcover_{year};ESA CCI Land Cover;"
                         f"mpilda synthetic world (from MODIS-IGBP class {int(landcover)});;;;;")
    return "\r\n".join(lines) + "\r\n"


def write_ismn_references(directory: str | Path, seed: int, days, truth: Mapping[str, np.ndarray], cell_ids, lat,
                          lon, landcover=None, *, resolution: float = 0.25, zipped: bool = False,
                          step_hours: int = 1, stations_per_cell: float = STATIONS_PER_CELL,
                          elevation=None) -> list[SyntheticStation]:
    """Write ISMN-like soil-moisture station files (header_values layout) from the truth's daily means.

    Each sensor's hourly value is the day's truth at the sensor depth (layers interpolated,
    :func:`layer_weights`) through a per-sensor linear mismatch a + b x, plus an AR(1)
    representativeness error and white noise; flags: G, D05 days, D06 spikes, M (missing, NaN),
    C01/C02 outside 0..0.6 m3 m-3, and D01,D03 on days when ``truth`` has ``tsoil1`` below the
    freezing point (the model's TFRZ) [K];
    gaps: 10-day outages, missing hours, late-starting and early-ending stations.

    Args:
        directory: root of the ``Network/Station/`` folders (or of the zip archive).
        seed: the random seed.
        days: (n_days,) consecutive days of the truth's daily means.
        truth: ``sm1``..``sm4`` [m3 m-3] (n_days, n_cells), optionally ``tsoil1`` [K].
        cell_ids, lat, lon: (n_cells,) global ids and cell centres [degrees].
        landcover: (n_cells,) MODIS-IGBP classes (for the static metadata CSV), or None.
        resolution: cell size [degrees].
        zipped: write one zip archive ``Data_separate_files_header_{start}_{end}_synthetic.zip``
            instead of folders.
        step_hours: record spacing [h] (1 as ISMN; larger values write smaller files).
        stations_per_cell: expected stations per land cell (see :func:`plan_ismn_stations`).
        elevation: (n_cells,) [m] for the headers (default 0).

    Returns:
        The stations written (also listed in ``synthetic_stations.csv`` in ``directory``).
    """
    directory = Path(directory)
    days = np.asarray(days).astype("datetime64[D]")
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    n_days, n_cells = days.size, cell_ids.size
    if n_days == 0 or np.any(np.diff(days) != np.timedelta64(1, "D")):
        raise ValueError("days must be consecutive days")
    if 24 % step_hours:
        raise ValueError(f"step_hours {step_hours}: expected a divisor of 24")
    layers = np.stack([_truth(truth, f"sm{k}", n_days, n_cells) for k in range(1, 5)])        # (4, days, cells)
    tsoil = _truth(truth, "tsoil1", n_days, n_cells) if "tsoil1" in truth else None
    stations = plan_ismn_stations(seed, cell_ids, lat, lon, resolution, stations_per_cell)
    start, end = str(days[0]).replace("-", ""), str(days[-1]).replace("-", "")
    sink = _Sink(directory, f"Data_separate_files_header_{start}_{end}_synthetic.zip" if zipped else None)
    per_day = 24 // step_hours
    hours = (np.arange(n_days * per_day) * step_hours).astype("timedelta64[h]") + days[0].astype("datetime64[h]")
    hour_number = hours.astype(np.int64)                         # hours since 1970: the time word
    day_of = np.arange(hours.size) // per_day
    day_number = _day_numbers(days)
    phi = float(np.exp(-step_hours / _AR_HOURS))
    rows = []
    try:
        for st in stations:
            col = int(_columns(cell_ids, np.array([st.cell_id]), "write_ismn_references")[0])
            elev = 0.0 if elevation is None else float(np.asarray(elevation)[col])
            lc = None if landcover is None else int(np.asarray(landcover)[col])
            life = uniforms(seed, STREAM, st.key, member=_ST_LIFE, n=4)
            first = int(n_days * 0.6 * life[1]) if life[0] < _LATE_START else 0
            last = int(n_days * (0.4 + 0.6 * life[3])) if life[2] < _EARLY_END else n_days
            folder = f"{st.network}/{st.station}"
            for j, depth in enumerate(st.depths):
                key = st.key * 8 + j
                p = uniforms(seed, STREAM, key, member=_ST_ERR, n=3)
                a = _BIAS_RANGE[0] + (_BIAS_RANGE[1] - _BIAS_RANGE[0]) * p[0]
                b = _SCALE_RANGE[0] + (_SCALE_RANGE[1] - _SCALE_RANGE[0]) * p[1]
                sd = _AR_STD_RANGE[0] + (_AR_STD_RANGE[1] - _AR_STD_RANGE[0]) * p[2]
                daily = np.tensordot(layer_weights(depth), layers[:, :, col], axes=(0, 0))       # (n_days,)
                noise = normals(seed, STREAM, key, member=_ST_AR, time=hour_number, n=2)
                value = a + b * daily[day_of] + sd * _ar1(noise[0], phi) + _WHITE_STD * noise[1]
                # flags, in increasing priority: D05 days, frozen days, spikes, C01/C02, missing
                flags = np.full(hours.size, "G", dtype=object)
                u_day = uniforms(seed, STREAM, key, member=_ST_DAYFLAG, time=day_number, n=1)[0]
                flags[(u_day < _D05_DAY)[day_of]] = "D05"
                if tsoil is not None:
                    flags[(tsoil[:, col] < TFRZ)[day_of]] = "D01,D03"      # frozen soil
                u_hour = uniforms(seed, STREAM, key, member=_ST_HOURFLAG, time=hour_number, n=3)
                spike = u_hour[0] < _SPIKE_HOUR
                value[spike] += _SPIKE
                flags[spike] = "D06"
                flags[value < _C01] = "C01"
                flags[value > _C02] = "C02"
                missing = u_hour[1] < _MISSING_HOUR
                value[missing] = np.nan
                flags[missing] = "M"
                outage = uniforms(seed, STREAM, key, member=_ST_GAP,
                                  time=day_number // _OUTAGE_DAYS, n=1)[0] < _OUTAGE_CHANCE
                keep = ~outage[day_of] & (u_hour[2] >= _DROP_HOUR) & (day_of >= first) & (day_of < last)
                name = (f"{st.network}_{st.network}_{st.station}_sm_{depth:.6f}_{depth:.6f}_{st.file_sensor}_"
                        f"{start}_{end}.stm")
                sink.write(f"{folder}/{name}", _fmt_header(st, depth, elev)
                           + _records(hours[keep], value[keep], flags[keep].astype(str)))
                rows.append((st, depth, a, b, sd))
            sink.write(f"{folder}/{st.network}_{st.network}_{st.station}{STATIC_SUFFIX}", _static_csv(lc))
        sink.write("Readme.txt", "Synthetic ISMN-like soil moisture stations written by mpilda from a truth run "
                                 "(header_values layout; times UTC; values m3 m-3).\n")
    except BaseException:
        if sink.zip is not None:
            sink.zip.close()
            sink.tmp.unlink(missing_ok=True)
        raise
    sink.close()
    _write_station_list(directory / "synthetic_stations.csv", rows)
    return stations


def _write_station_list(path: Path, rows) -> None:
    import pandas as pd

    pd.DataFrame({"network": [r[0].network for r in rows], "station": [r[0].station for r in rows],
                  "cell_id": [r[0].cell_id for r in rows], "lat": [r[0].lat for r in rows],
                  "lon": [r[0].lon for r in rows], "depth_m": [r[1] for r in rows],
                  "bias": [r[2] for r in rows], "scale": [r[3] for r in rows],
                  "ar1_std": [r[4] for r in rows]}).to_csv(path, index=False, float_format="%.6g")


# ---------------------------------------------------------------------------
# (b) Flux towers (FLUXNET2015 DD layout)
# ---------------------------------------------------------------------------

#: Expected land cells per tower over the paper domain (policy; Warm Winter 2020 has 73 European
#: sites on ~20,000 land cells: one per ~270).
CELLS_PER_TOWER = 200.0
#: Tower preference by MODIS-IGBP class (policy: flux towers stand mostly in forests, crops and
#: grassland) and its mean over the paper domain's synthetic land cover (seed-independent to 2 %).
_TOWER_WEIGHT = {1: 2.0, 2: 2.0, 3: 2.0, 4: 2.0, 5: 2.0, 6: 0.4, 7: 0.4, 8: 0.8, 9: 0.8, 10: 1.5, 11: 1.0,
                 12: 1.0, 13: 0.2, 14: 1.0, 16: 0.05, 18: 0.5, 19: 0.5, 20: 0.05}
_TOWER_WEIGHT_MEAN = 1.115
#: MODIS-IGBP class -> IGBP code of FLUXNET site metadata (tundra classes 18-20 of Noah-MP have no IGBP code:
#: closest ones).
IGBP_CODES = {1: "ENF", 2: "EBF", 3: "DNF", 4: "DBF", 5: "MF", 6: "CSH", 7: "OSH", 8: "WSA", 9: "SAV", 10: "GRA",
              11: "WET", 12: "CRO", 13: "URB", 14: "CVM", 15: "SNO", 16: "BSV", 17: "WAT", 18: "OSH", 19: "GRA",
              20: "BSV"}
#: Errors (policy): per-site scale of each flux, an AR(1) representativeness error (e-folding 10 days)
#: and daily random errors a + p |flux| (eddy covariance daily random errors are ~10-20 % of the flux,
#: Richardson et al. 2006, Agric. For. Meteorol. 136), larger on days with few good half-hours.
#: Units: GPP, NEE gC m-2 d-1; LE W m-2.
_FLUX_ERR = {"gpp": (0.8, 1.2, 0.6, 0.3, 0.10), "nee": (0.7, 1.3, 0.5, 0.3, 0.15), "le": (0.8, 1.2, 6.0, 4.0, 0.10)}
_FLUX_AR_DAYS = 10.0
#: Daily good fractions: mostly ~0.95; 10-day episodes of poor gap-filling (0.1-0.7); 30-day missing
#: blocks and single missing days (policy).
_QC_SPREAD, _POOR_CHANCE, _POOR_DAYS = 0.06, 0.06, 10
_MISSING_BLOCK_DAYS, _MISSING_BLOCK_CHANCE, _MISSING_DAY = 30, 0.03, 0.01
_TOWER_LATE_START = 0.3
#: LE_CORR / LE_F_MDS: energy-balance closure gap of ~15 % at FLUXNET sites (Stoy et al. 2013, Agric. For.
#: Meteorol. 171-172; policy for the synthetic files).
_LE_CORR_FACTOR = 1.15


@dataclass(frozen=True)
class SyntheticTower:
    """One synthetic flux tower: FLUXNET-style id, its cell, position, IGBP code, UTC offset [h]."""

    site: str
    cell_id: int
    lat: float
    lon: float
    igbp: str
    utc_offset_hours: float


def site_id(cell_id: int) -> str:
    """A FLUXNET-style id ``Zx-yyy`` from a cell id: 'Z' (synthetic), a letter and 3 base-36 characters
    (unique for ids below 26 * 36**3 = 1,213,056, the global 0.25 degree grid has 1,036,800 cells)."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    hi, lo = divmod(int(cell_id), 36 ** 3)
    if hi >= 26:
        raise ValueError(f"cell id {cell_id} too large for a site id")
    return f"Z{chr(ord('A') + hi)}-{digits[lo // 1296]}{digits[lo // 36 % 36]}{digits[lo % 36]}"


def plan_flux_towers(seed: int, cell_ids, lat, lon, landcover, resolution: float = 0.25,
                     cells_per_tower: float = CELLS_PER_TOWER) -> list[SyntheticTower]:
    """Which cells hold a tower (at most one), preferring forests, crops and grass (pure function of seed
    and cell)."""
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    landcover = np.asarray(landcover, dtype=np.int64)
    weight = np.array([_TOWER_WEIGHT.get(int(c), 0.0) for c in range(21)])[np.clip(landcover, 0, 20)]
    chance = np.clip(weight / (cells_per_tower * _TOWER_WEIGHT_MEAN), 0.0, 1.0)
    u = uniforms(seed, STREAM, cell_ids, member=_FX_SITE, n=1)[0]
    out = []
    for i in np.flatnonzero(u < chance):
        v = uniforms(seed, STREAM, int(cell_ids[i]), member=_FX_POS, n=2)
        tlat = float(np.asarray(lat)[i] + (v[0] - 0.5) * 0.9 * resolution)
        tlon = float(np.asarray(lon)[i] + (v[1] - 0.5) * 0.9 * resolution)
        # time zone of the site: the nearest whole hour of solar time (policy for the synthetic sites)
        out.append(SyntheticTower(site_id(int(cell_ids[i])), int(cell_ids[i]), round(tlat, 5), round(tlon, 5),
                                  IGBP_CODES.get(int(landcover[i]), "GRA"), float(np.round(tlon / 15.0))))
    return out


def write_flux_references(directory: str | Path, seed: int, days, truth: Mapping[str, np.ndarray], cell_ids, lat,
                          lon, landcover, *, resolution: float = 0.25,
                          cells_per_tower: float = CELLS_PER_TOWER) -> list[SyntheticTower]:
    """Write FLUXNET2015 DD-style CSV files, one per tower, and ``fluxnet_sites.csv``.

    Columns: TIMESTAMP (YYYYMMDD), NEE_VUT_REF (+_QC), GPP_NT_VUT_REF, GPP_DT_VUT_REF,
    RECO_NT_VUT_REF (gC m-2 d-1), LE_F_MDS (+_QC), LE_CORR (W m-2); QC = fraction of good
    half-hours; -9999 for missing.  A DD day is the truth's (UTC) day: the up-to-3 h shift of
    local standard time is below the daily resolution and is not simulated.

    Args:
        truth: ``gpp``, ``nee`` [kg C m-2 s-1], ``et`` [kg m-2 s-1], each (n_days, n_cells).
        landcover: (n_cells,) MODIS-IGBP classes (tower placement and IGBP code).
        Others as :func:`write_ismn_references`.
    """
    import pandas as pd

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    days = np.asarray(days).astype("datetime64[D]")
    cell_ids = np.asarray(cell_ids, dtype=np.int64)
    n_days, n_cells = days.size, cell_ids.size
    gpp = _truth(truth, "gpp", n_days, n_cells) * KG_S_TO_G_D
    nee = _truth(truth, "nee", n_days, n_cells) * KG_S_TO_G_D
    le = _truth(truth, "et", n_days, n_cells) * fluxnet.LAMBDA
    towers = plan_flux_towers(seed, cell_ids, lat, lon, landcover, resolution, cells_per_tower)
    day_number = _day_numbers(days)
    phi = float(np.exp(-1.0 / _FLUX_AR_DAYS))
    y1, y2 = str(days[0])[:4], str(days[-1])[:4]
    stamps = pd.Series(days.astype("datetime64[s]")).dt.strftime("%Y%m%d")
    for tw in towers:
        col = int(_columns(cell_ids, np.array([tw.cell_id]), "write_flux_references")[0])
        key = tw.cell_id
        qc_noise = normals(seed, STREAM, key, member=_FX_QC, time=day_number, n=2)
        poor = uniforms(seed, STREAM, key, member=_FX_GAP, time=day_number // _POOR_DAYS, n=2)
        qc = np.clip(1.0 - _QC_SPREAD * np.abs(qc_noise), 0.0, 1.0)                     # (2, n_days): NEE, LE
        qc = np.where(poor[0] < _POOR_CHANCE, 0.1 + 0.6 * poor[1], qc)
        block = uniforms(seed, STREAM, key, member=_FX_BLOCK, time=day_number // _MISSING_BLOCK_DAYS, n=1)[0]
        single = uniforms(seed, STREAM, key, member=_FX_MISSING, time=day_number, n=3)
        life = uniforms(seed, STREAM, key, member=_FX_LIFE, n=2)
        first = int(n_days * 0.5 * life[1]) if life[0] < _TOWER_LATE_START else 0
        absent = (block < _MISSING_BLOCK_CHANCE) | (np.arange(n_days) < first)
        params = uniforms(seed, STREAM, key, member=_FX_ERR, n=3)
        ar = _ar1(normals(seed, STREAM, key, member=_FX_AR, time=day_number, n=3).T, phi).T
        white = normals(seed, STREAM, key, member=_FX_WHITE, time=day_number, n=4)
        out = {}
        for k, (name, series, q) in enumerate((("gpp", gpp[:, col], qc[0]), ("nee", nee[:, col], qc[0]),
                                               ("le", le[:, col], qc[1]))):
            lo, hi, rep, add, prop = _FLUX_ERR[name]
            scale = lo + (hi - lo) * params[k]
            value = (scale * series + rep * ar[k] + (add + prop * np.abs(series)) * (1.0 + 2.0 * (1.0 - q)) * white[k])
            out[name] = np.where(absent | (single[k] < _MISSING_DAY), np.nan, value)
        nee_qc = np.where(np.isnan(out["nee"]), np.nan, qc[0])
        le_qc = np.where(np.isnan(out["le"]), np.nan, qc[1])
        gpp_dt = out["gpp"] + (0.2 + 0.1 * np.abs(out["gpp"])) * white[3]      # NT vs DT partitioning differ
        table = pd.DataFrame({"TIMESTAMP": stamps, "NEE_VUT_REF": out["nee"], "NEE_VUT_REF_QC": nee_qc,
                              "GPP_NT_VUT_REF": out["gpp"], "GPP_DT_VUT_REF": gpp_dt,
                              "RECO_NT_VUT_REF": out["gpp"] + out["nee"], "LE_F_MDS": out["le"],
                              "LE_F_MDS_QC": le_qc, "LE_CORR": out["le"] * _LE_CORR_FACTOR})
        path = directory / f"FLX_{tw.site}_FLUXNET2015_FULLSET_DD_{y1}-{y2}_beta-3.csv"
        tmp = path.with_name(path.name + ".incomplete")
        table.to_csv(tmp, index=False, na_rep="-9999", float_format="%.6g", lineterminator="\n")
        tmp.replace(path)
    fluxnet.write_site_list(directory / "fluxnet_sites.csv",
                            [fluxnet.SiteInfo(t.site, t.lat, t.lon, t.igbp, t.utc_offset_hours) for t in towers])
    return towers


# ---------------------------------------------------------------------------
# (c) X-BASE-like gridded fluxes
# ---------------------------------------------------------------------------

#: X-BASE variable -> (truth name, factor from the model's kg m-2 s-1 to the file units).
_XBASE_VARS = {"GPP": ("gpp", KG_S_TO_G_D), "NEE": ("nee", KG_S_TO_G_D), "ET": ("et", SECONDS_PER_DAY)}
#: Errors (policy): a smooth multiplicative bias 1 + 0.12 f (f a standard-normal field, 400 km scale,
#: clipped to 0.6..1.4) and noise (0.08 |x| + additive) x g, g a space-time field (150 km, 3-day knots).
#: Additive noise in the file units: GPP, NEE gC m-2 d-1, ET mm d-1.
_XB_BIAS_STD, _XB_BIAS_KM, _XB_REL, _XB_KM, _XB_KNOT_HOURS = 0.12, 400.0, 0.08, 150.0, 72.0
_XB_ADD = {"GPP": 0.2, "NEE": 0.2, "ET": 0.1}
#: X-BASE's 0.25 degree grid (data-formats.md s.7: 720 x 1440 cell centres at +-0.125 offsets).
XBASE_RESOLUTION = 0.25


def write_xbase_references(directory: str | Path, seed: int, days, truth: Mapping[str, np.ndarray], cell_ids, lat,
                           lon, *, variables=("GPP", "NEE", "ET")) -> list[Path]:
    """Write X-BASE-style ``{VAR}_{YYYY}_025_daily.nc`` files (one per variable and year in ``days``).

    The files cover the cells' bounding box plus one 0.25 degree point on each side.  Each
    X-BASE point takes the mean of the model cells whose centre is nearest to it (the identity
    on a 0.25 degree model grid); points without a cell are fill (sea) with land_fraction 0.
    GPP and NEE are written in gC m-2 d-1, ET in mm d-1.  A year only partly in ``days`` gives a
    file with just those days.

    Args:
        truth: ``gpp``, ``nee`` [kg C m-2 s-1], ``et`` [kg m-2 s-1], each (n_days, n_cells).
        Others as :func:`write_ismn_references`.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    days = np.asarray(days).astype("datetime64[D]")
    lat = np.asarray(lat, dtype=np.float64)
    lon = np.asarray(lon, dtype=np.float64)
    n_days, n_cells = days.size, lat.size
    res = XBASE_RESOLUTION
    grid_lat = xbase.lattice(lat.min() - res, lat.max() + res, res, -90.0)[::-1]           # descending
    grid_lon = xbase.lattice(lon.min() - res, lon.max() + res, res, -180.0)
    rows = np.rint((grid_lat[0] - lat) / res).astype(np.int64)
    cols = np.rint((lon - grid_lon[0]) / res).astype(np.int64)
    flat = rows * grid_lon.size + cols
    points, inverse = np.unique(flat, return_inverse=True)
    per_point = np.bincount(inverse, minlength=points.size).astype(np.float64)
    plat = grid_lat[points // grid_lon.size]
    plon = grid_lon[points % grid_lon.size]
    x, y = project(plat, plon)
    land = np.zeros(grid_lat.size * grid_lon.size)
    land[points] = 1.0
    land = land.reshape(grid_lat.size, grid_lon.size)
    years = days.astype("datetime64[Y]")
    written = []
    for v, name in enumerate(variables):
        if name not in _XBASE_VARS:
            raise ValueError(f"X-BASE variable {name!r}: expected one of {', '.join(_XBASE_VARS)}")
        truth_name, factor = _XBASE_VARS[name]
        series = _truth(truth, truth_name, n_days, n_cells) * factor
        bias = np.clip(1.0 + _XB_BIAS_STD * static_field(seed, STREAM, Scale(_XB_BIAS + v, _XB_BIAS_KM), x, y),
                       0.6, 1.4)
        for year in np.unique(years):
            sel = np.flatnonzero(years == year)
            sums = np.zeros((sel.size, points.size))
            np.add.at(sums.T, inverse, series[sel].T)
            at_points = sums / per_point
            hours = _day_numbers(days[sel]) * 24 + 12
            g = space_time_field(seed, STREAM, Scale(_XB_NOISE + v, _XB_KM, _XB_KNOT_HOURS), x, y, hours)
            noisy = bias * at_points + (_XB_REL * np.abs(at_points) + _XB_ADD[name]) * g
            grid = np.full((sel.size, grid_lat.size * grid_lon.size), np.nan)
            grid[:, points] = noisy
            path = directory / xbase.file_name(name, int(str(year)))
            xbase.write_xbase_file(path, name, days[sel], grid_lat, grid_lon,
                                   grid.reshape(sel.size, grid_lat.size, grid_lon.size), land_fraction=land,
                                   title=f"synthetic X-BASE-like {name}, daily, 0.25 degree (mpilda twin)")
            written.append(path)
    return written


__all__ = ["SyntheticStation", "SyntheticTower", "layer_weights", "plan_flux_towers", "plan_ismn_stations", "site_id",
           "write_flux_references", "write_ismn_references", "write_xbase_references"]
