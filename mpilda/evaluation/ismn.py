"""ISMN in-situ station files: reader, daily means, folder and zip walking, static metadata.

An ISMN download (data-formats.md section 5) holds one file per sensor and variable,
``{CSE}_{Network}_{Station}_{var}_{depth_from:.6f}_{depth_to:.6f}_{Sensor}_{start}_{end}.stm``,
in ``Network/Station/`` folders, either unpacked or inside a zip archive, with one
``{CSE}_{Network}_{Station}_static_variables.csv`` per station.  Two record layouts exist:

* **header_values**: line 1 ``CSE Network Station lat lon elevation depth_from depth_to sensor``
  (the sensor may contain spaces in 2025 downloads), then one record a line
  ``YYYY/MM/DD HH:MM value ismn_flag provider_flag``;
* **ceop_sep**: no header; every line has 15 tokens
  ``date time date time CSE network station lat lon elevation depth_from depth_to value ismn_flag
  provider_flag`` (the first date and time are used, as the TUW-GEO ``ismn`` package does).

Both layouts are recognised from the content (as the ``ismn`` package does: CEOP when the
first two lines have 15 tokens each); line endings may be LF, CRLF, CR only or mixed.
Times are UTC.  The variable code, the sensor depths [m, positive down] and the file-name
form of the sensor come from the file name; network, station, coordinates and elevation from
the content (network names may contain underscores, so the file name alone is ambiguous).

Quality: ISMN flags are ``G`` (good), ``M`` (missing), ``C01..C03``, ``D01..D10`` and ``U``
(unchecked, old files), several comma-joined (``D03,D05``).  :func:`daily_means` keeps a value
only when every comma-separated part of its flag is accepted (default: ``G`` only, the
paper's rule, section 2.6.1).
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from ..errors import InputError
from ..summary import Stats

#: ISMN variable codes -> long names (TUW-GEO ismn ``const.VARIABLE_LUT``; data-formats.md s.5).
VARIABLES = {"sm": "soil_moisture", "ts": "soil_temperature", "p": "precipitation", "ta": "air_temperature",
             "su": "soil_suction", "sd": "snow_depth", "sweq": "snow_water_equivalent",
             "tsf": "surface_temperature"}
#: Flags kept by default: 'G' only (paper section 2.6.1: "Only measurements that have been flagged as
#: 'good' are used").
GOOD = ("G",)

#: The data file name; the station part is matched lazily so the first ``_var_depth_depth_`` wins.
NAME_RE = re.compile(r"^(?P<prefix>.+?)_(?P<var>[A-Za-z]+)_(?P<depth_from>-?\d+\.\d+)_(?P<depth_to>-?\d+\.\d+)_"
                     r"(?P<sensor>.+)_(?P<start>\d{8})_(?P<end>\d{8})\.stm$")
STATIC_SUFFIX = "_static_variables.csv"
#: Tokens of a CEOP-separate line (TUW-GEO ismn filehandlers: 15 tokens, value at column 12).
CEOP_TOKENS = 15
#: Header depths and file-name depths count as the same when closer than this [m] (the header
#: rounds to 2-4 decimals, the name has 6).
_DEPTH_TOL = 0.0051
#: Upper bound of whitespace tokens read per header_values record: date, time, value, flag and a
#: provider flag that might contain spaces.
_MAX_TOKENS = 12


@dataclass(frozen=True)
class ZipMember:
    """A file inside a zip archive: the archive's path and the member's name (posix, as in the zip)."""

    archive: Path
    member: str

    @property
    def name(self) -> str:
        return PurePosixPath(self.member).name

    def __str__(self) -> str:
        return f"{self.archive}/{self.member}"


Source = str | Path | ZipMember


@dataclass(eq=False)
class Station:
    """One ISMN sensor time series (one file).

    Attributes:
        network, station, cse: names from the file content.
        lat, lon: degrees_north, degrees_east; elevation: m above sea level.
        depth_from, depth_to: sensor depths from the file name [m, positive down].
        sensor: the sensor as written in the file name (spaces and underscores turned into '-').
        header_sensor: the sensor as written in the header line (may hold spaces), None for CEOP.
        variable: ISMN variable code from the file name ('sm', 'ts', ...).
        times: (n,) datetime64[s] UTC record times.
        values: (n,) float64 values in the file's units (sm: m3 m-3); NaN where not a number.
        flags: (n,) str ISMN quality flags ('G', 'D03,D05', ...).
        provider_flags: (n,) str provider flags (free-form).
        layout: 'header_values' or 'ceop_sep'.
        source: the file (path, or archive/member).
    """

    network: str
    station: str
    cse: str
    lat: float
    lon: float
    elevation: float
    depth_from: float
    depth_to: float
    sensor: str
    header_sensor: str | None
    variable: str
    times: np.ndarray
    values: np.ndarray
    flags: np.ndarray
    provider_flags: np.ndarray
    layout: str
    source: str

    @property
    def depth(self) -> float:
        """Centre of the sensor's depth range [m]."""
        return 0.5 * (self.depth_from + self.depth_to)

    @property
    def variable_name(self) -> str:
        """Long name of the variable ('soil_moisture' for 'sm'), the code itself when unknown."""
        return VARIABLES.get(self.variable, self.variable)


@dataclass(frozen=True)
class FileName:
    """What an ISMN data file name says."""

    prefix: str            # CSE_Network_Station (ambiguous when a name holds '_')
    variable: str
    depth_from: float
    depth_to: float
    sensor: str
    start: str             # YYYYMMDD of the download period
    end: str


def parse_name(name: str) -> FileName | None:
    """The parts of an ISMN data file name, or None when it is not one."""
    m = NAME_RE.match(PurePosixPath(name).name)
    if m is None:
        return None
    return FileName(m["prefix"], m["var"], float(m["depth_from"]), float(m["depth_to"]), m["sensor"],
                    m["start"], m["end"])


# ---------------------------------------------------------------------------
# Access to files in folders and zip archives
# ---------------------------------------------------------------------------

def resolve(source: Source) -> Path | ZipMember:
    """A file path, or a zip member when ``source`` is a ZipMember or a path running through a .zip file."""
    if isinstance(source, ZipMember):
        return source
    path = Path(source)
    if path.exists():
        return path
    for parent in path.parents:
        if parent.suffix.lower() == ".zip" and parent.is_file():
            return ZipMember(parent, path.relative_to(parent).as_posix())
    return path


def exists(source: Source) -> bool:
    """A file, or a member of a readable zip archive (a ZipMember or a path running through the
    archive, as :func:`resolve` reads it); never raises."""
    where = resolve(source)
    try:
        if isinstance(where, ZipMember):
            with zipfile.ZipFile(where.archive) as zf:
                zf.getinfo(where.member)
            return True
        return where.is_file()
    except (KeyError, OSError, zipfile.BadZipFile):
        return False


def _head(source: Source, size: int = 4096) -> bytes:
    """The first ``size`` bytes of a file or a zip member (only those read)."""
    where = resolve(source)
    if isinstance(where, ZipMember):
        with zipfile.ZipFile(where.archive) as zf, zf.open(where.member) as f:
            return f.read(size)
    with open(where, "rb") as f:
        return f.read(size)


def read_bytes(source: Source) -> bytes:
    """The bytes of a file or a zip member (read in memory, never extracted to disk)."""
    where = resolve(source)
    try:
        if isinstance(where, ZipMember):
            with zipfile.ZipFile(where.archive) as zf:
                return zf.read(where.member)
        return where.read_bytes()
    except KeyError:
        raise InputError(f"{where}: no such member in the zip archive") from None
    except FileNotFoundError:
        raise InputError(f"{where}: no such file") from None
    except (OSError, zipfile.BadZipFile) as exc:
        raise InputError(f"{where}: cannot read ({exc})") from None


def read_text(source: Source) -> str:
    """Text of a file with every line ending (LF, CRLF, CR) turned into LF.

    ISMN data files are ASCII; bytes that are not UTF-8 (the ISO-8859-1 flag description, the
    mojibake of Readme.txt) are decoded as ISO-8859-1 instead of failing.
    """
    raw = read_bytes(source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def find_ismn_files(root: str | Path, variable: str | None = None) -> list[Path | ZipMember]:
    """All ISMN data files under ``root``: a folder (walked recursively, zip archives inside
    included) or one zip archive.  Sorted by folder/archive and member path.

    Args:
        root: a directory or a .zip file.
        variable: keep only files of this variable code ('sm'); None keeps all.
    """
    root = Path(root)
    if not root.exists():
        raise InputError(f"{root}: no such file or directory")
    archives = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.suffix.lower() == ".zip"
                                                     and p.is_file())
    found: list[Path | ZipMember] = []
    if root.is_dir():
        found += sorted(p for p in root.rglob("*.stm") if p.is_file())
    for archive in archives:
        try:
            with zipfile.ZipFile(archive) as zf:
                names = sorted(n for n in zf.namelist() if n.lower().endswith(".stm"))
        except zipfile.BadZipFile as exc:
            raise InputError(f"{archive}: not a readable zip archive ({exc})") from None
        found += [ZipMember(archive, n) for n in names]
    if variable is not None:
        found = [f for f in found if (p := parse_name(f.name)) is not None and p.variable == variable]
    return found


# ---------------------------------------------------------------------------
# Data files
# ---------------------------------------------------------------------------

def _is_number(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _parse_header(tokens: list[str], name: FileName, where) -> tuple[str, str, str, list[float], str]:
    """(cse, network, station, [lat, lon, elevation, depth_from, depth_to], sensor) of a header line.

    The station may hold spaces: the five numbers are the first run of five numeric tokens after
    the station whose depths agree with the file name (else the first run at all).
    """
    runs = [i for i in range(3, len(tokens) - 4) if all(_is_number(t) for t in tokens[i:i + 5])]
    if not runs:
        raise InputError(f"{where}: line 1 {' '.join(tokens)!r} is not an ISMN header (expected "
                         "'CSE Network Station lat lon elevation depth_from depth_to sensor')")
    agree = [i for i in runs if abs(float(tokens[i + 3]) - name.depth_from) < _DEPTH_TOL
             and abs(float(tokens[i + 4]) - name.depth_to) < _DEPTH_TOL]
    i = (agree or runs)[0]
    numbers = [float(t) for t in tokens[i:i + 5]]
    return tokens[0], tokens[1], " ".join(tokens[2:i]), numbers, " ".join(tokens[i + 5:])


def _table(body: str, n_columns: int, where, skip: int):
    """Whitespace-separated records as a DataFrame of strings with columns 0..n_columns-1."""
    import pandas as pd

    try:
        return pd.read_csv(io.StringIO(body), sep=r"\s+", header=None, names=list(range(n_columns)), dtype=str,
                           skip_blank_lines=True, engine="c")
    except pd.errors.ParserError as exc:
        raise InputError(f"{where}: unreadable records after line {skip} ({exc})") from None


def _times(date, time, where) -> np.ndarray:
    import pandas as pd

    try:
        t = pd.to_datetime(date.str.cat(time, sep=" "), format="%Y/%m/%d %H:%M")
    except (ValueError, TypeError) as exc:
        raise InputError(f"{where}: a record time is not 'YYYY/MM/DD HH:MM' ({exc})") from None
    return t.to_numpy().astype("datetime64[s]")


def read_ismn_file(source: Source) -> Station:
    """Read one ISMN data file (either layout), from a folder or inside a zip archive.

    Args:
        source: a path, a ZipMember, or a path running through a .zip file
            (``.../archive.zip/Network/Station/file.stm``).

    Raises:
        InputError: the file is missing, its name is not an ISMN data file name, or its content
            is neither layout (the message names the file and what is wrong).
    """
    import pandas as pd

    where = resolve(source)
    name = parse_name(where.name)
    if name is None:
        raise InputError(f"{where}: not an ISMN data file name (expected "
                         "CSE_Network_Station_var_depthfrom_depthto_Sensor_YYYYMMDD_YYYYMMDD.stm)")
    text = read_text(where).lstrip("\n")
    first, _, rest = text.partition("\n")
    second = rest.lstrip("\n").partition("\n")[0]
    head = first.split()
    if len(head) == CEOP_TOKENS and len(second.split()) in (0, CEOP_TOKENS) and _is_number(head[7]):
        layout, body, n_columns = "ceop_sep", text, CEOP_TOKENS
        cse, network, station = head[4], head[5], head[6]
        lat, lon, elevation = (float(t) for t in head[7:10])
        header_sensor = None
        columns = (0, 1, 12, 13, 14)
    else:
        layout, body, n_columns = "header_values", rest, _MAX_TOKENS
        cse, network, station, numbers, header_sensor = _parse_header(head, name, where)
        lat, lon, elevation = numbers[:3]
        columns = (0, 1, 2, 3, 4)
    table = _table(body, n_columns, where, 0 if layout == "ceop_sep" else 1)
    if layout == "ceop_sep" and len(table) and table[CEOP_TOKENS - 1].isna().any():
        k = int(np.flatnonzero(table[CEOP_TOKENS - 1].isna().to_numpy())[0])
        raise InputError(f"{where}: CEOP record {k + 1} has fewer than {CEOP_TOKENS} tokens")
    date, time, value, flag, pflag = (table[c] for c in columns)
    if len(table) and (time.isna().any() or flag.isna().any()):
        k = int(np.flatnonzero((time.isna() | flag.isna()).to_numpy())[0])
        raise InputError(f"{where}: record {k + 1} has fewer than 4 fields (expected 'date time value flag ...')")
    return Station(
        network=network, station=station, cse=cse, lat=lat, lon=lon, elevation=elevation,
        depth_from=name.depth_from, depth_to=name.depth_to, sensor=name.sensor, header_sensor=header_sensor,
        variable=name.variable, times=_times(date, time, where),
        values=pd.to_numeric(value, errors="coerce").to_numpy(dtype=np.float64),
        flags=flag.to_numpy(dtype=str), provider_flags=pflag.fillna("").to_numpy(dtype=str),
        layout=layout, source=str(where))


def accepted(flags: np.ndarray, accepted_flags: Iterable[str] = GOOD) -> np.ndarray:
    """(n,) bool: every comma-separated part of a flag is one of ``accepted_flags``."""
    flags = np.asarray(flags, dtype=str)
    ok_set = set(accepted_flags)
    unique, inverse = np.unique(flags, return_inverse=True)
    ok = np.array([all(part.strip() in ok_set for part in u.split(",")) for u in unique], dtype=bool)
    return ok[inverse.reshape(flags.shape)] if unique.size else np.zeros(flags.shape, bool)


def daily_means(station: Station, accepted_flags: Iterable[str] = GOOD,
                min_count: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Daily means (UTC days) of the accepted values of a station.

    Args:
        station: as read by :func:`read_ismn_file`.
        accepted_flags: flags whose values are kept (default 'G' only).
        min_count: least number of accepted values a day needs (default 1: any value).

    Returns:
        (days, values, counts): (n_days,) datetime64[D] days that have at least ``min_count``
        accepted finite values, ascending; (n_days,) float64 means; (n_days,) int64 number of
        values averaged (hourly values in practice).
    """
    ok = accepted(station.flags, accepted_flags) & np.isfinite(station.values)
    day = station.times[ok].astype("datetime64[D]")
    days, inverse = np.unique(day, return_inverse=True)
    counts = np.bincount(inverse, minlength=days.size).astype(np.int64)
    sums = np.bincount(inverse, weights=station.values[ok], minlength=days.size)
    keep = counts >= max(1, min_count)
    return days[keep], sums[keep] / counts[keep], counts[keep]


# ---------------------------------------------------------------------------
# Static metadata CSV
# ---------------------------------------------------------------------------

@dataclass(frozen=True)
class StaticMetadata:
    """A station's ``*_static_variables.csv``: one dict per row (keys = the CSV header)."""

    rows: tuple[dict, ...]
    source: str

    def values(self, quantity: str) -> list[tuple[float | None, float | None, str]]:
        """(depth_from [m], depth_to [m], value text) of every row of ``quantity`` ('clay fraction')."""
        out = []
        for r in self.rows:
            if r.get("quantity_name") == quantity:
                out.append((_float(r.get("depth_from[m]")), _float(r.get("depth_to[m]")), r.get("value", "")))
        return out

    def landcover(self, source_name: str = "CCI_landcover_2010") -> int | None:
        """ESA CCI land cover class of the station (from the row of ``source_name``), or None."""
        for r in self.rows:
            if r.get("quantity_name") == "land cover classification" and r.get("quantity_source_name") == source_name:
                v = _float(r.get("value"))
                return None if v is None else int(v)
        return None


def _float(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_static_metadata(source: Source) -> StaticMetadata:
    """Read a ``;``-separated ISMN static metadata CSV (header row, trailing ';' allowed)."""
    where = resolve(source)
    lines = [ln for ln in read_text(where).split("\n") if ln.strip()]
    if not lines or not lines[0].startswith("quantity_name;"):
        raise InputError(f"{where}: not an ISMN static metadata CSV (expected a header starting 'quantity_name;')")
    header = [h.strip() for h in lines[0].rstrip(";").split(";")]
    rows = []
    for ln in lines[1:]:
        cells = ln.rstrip(";").split(";")
        rows.append({h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)})
    return StaticMetadata(tuple(rows), str(where))


def static_metadata_for(source: Source) -> StaticMetadata | None:
    """The static metadata CSV beside a data file (same folder or zip folder), or None if there is none."""
    where = resolve(source)
    if isinstance(where, ZipMember):
        folder = PurePosixPath(where.member).parent
        with zipfile.ZipFile(where.archive) as zf:
            names = sorted(n for n in zf.namelist()
                           if PurePosixPath(n).parent == folder and n.endswith(STATIC_SUFFIX))
        return read_static_metadata(ZipMember(where.archive, names[0])) if names else None
    found = sorted(where.parent.glob("*" + STATIC_SUFFIX))
    return read_static_metadata(found[0]) if found else None


# ---------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------

#: Variables reported by ``inspect``: code -> (name, offset to SI, SI units).
#: ISMN units: sm m3 m-3, ts/ta degrees Celsius (ISMN Readme; data-formats.md s.5); 0 degC = 273.15 K.
_INSPECT_UNITS = {"sm": ("soil_moisture", 0.0, "m3 m-3"), "ts": ("soil_temperature", 273.15, "K"),
                  "ta": ("air_temperature", 273.15, "K")}


def is_ismn_file(path: Source) -> bool:
    """An ISMN data file, in a folder or inside a zip archive: the name pattern and a first line of
    either layout (never raises)."""
    try:
        if parse_name(resolve(path).name) is None:
            return False
        head = _head(path).decode("utf-8", "replace").replace("\r", "\n").lstrip("\n").partition("\n")[0]
        tokens = head.split()
        return len(tokens) >= 8 and (len(tokens) == CEOP_TOKENS or _is_number(tokens[3]) or
                                     any(_is_number(t) for t in tokens[3:]))
    except Exception:  # detect never raises
        return False


def _iso(t: np.datetime64) -> str:
    return str(np.datetime64(t, "s")) + "Z"


def summarise_ismn(path: Path) -> dict:
    """``inspect`` summary: the variable over 'G'-flagged values only, in SI units; record time range."""
    st = read_ismn_file(path)
    name, offset, units = _INSPECT_UNITS.get(st.variable, (st.variable_name, 0.0, None))
    stats = Stats()
    stats.add(st.values[accepted(st.flags)] + offset)
    flags, counts = np.unique(st.flags, return_counts=True)
    return {"path": str(path), "layout": st.layout, "network": st.network, "station": st.station,
            "lat": st.lat, "lon": st.lon, "elevation": st.elevation,
            "depth_from": st.depth_from, "depth_to": st.depth_to, "sensor": st.sensor,
            "records": int(st.times.size), "flags": {str(f): int(c) for f, c in zip(flags, counts)},
            "time_start": _iso(st.times.min()) if st.times.size else None,
            "time_end": _iso(st.times.max()) if st.times.size else None,
            "variables": {name: {**stats.summary(units), "source": f"{st.variable} (flag G)"}}}


def is_ismn_zip(path: Path) -> bool:
    """A zip archive holding ISMN data files (never raises)."""
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as zf:
            return any(parse_name(n) is not None for n in zf.namelist())
    except Exception:
        return False


def summarise_ismn_zip(path: Path) -> dict:
    """``inspect`` summary of an ISMN archive: soil moisture over the 'G' values of every sm file."""
    files = find_ismn_files(path)
    stats = Stats()
    stations, t0, t1 = set(), None, None
    for f in files:
        if parse_name(f.name).variable != "sm":
            continue
        st = read_ismn_file(f)
        stations.add((st.network, st.station))
        stats.add(st.values[accepted(st.flags)])
        if st.times.size:
            t0 = st.times.min() if t0 is None else min(t0, st.times.min())
            t1 = st.times.max() if t1 is None else max(t1, st.times.max())
    return {"path": str(path), "files": len(files), "stations": len(stations),
            "time_start": _iso(t0) if t0 is not None else None, "time_end": _iso(t1) if t1 is not None else None,
            "variables": {"soil_moisture": {**stats.summary("m3 m-3"), "source": "sm (flag G)"}}}


def sensors_of(stations: Sequence[Station]) -> dict[tuple[str, str], list[Station]]:
    """Group sensors by site (network, station), in the order given."""
    out: dict[tuple[str, str], list[Station]] = {}
    for st in stations:
        out.setdefault((st.network, st.station), []).append(st)
    return out
