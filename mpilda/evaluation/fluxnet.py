"""FLUXNET2015 / ICOS Warm Winter 2020 (ONEFlux) CSV files: GPP, NEE and ET as daily SI rates.

File layout (data-formats.md section 6): one header row, comma-separated, -9999 for missing,
line endings LF, CRLF or CR only.  Time columns: HH/HR ``TIMESTAMP_START``/``TIMESTAMP_END``
(``YYYYMMDDHHMM``), DD ``TIMESTAMP`` (``YYYYMMDD``), WW ``TIMESTAMP_START``/``_END``
(``YYYYMMDD``), MM ``TIMESTAMP`` (``YYYYMM``), YY ``TIMESTAMP`` (``YYYY``).  Times are LOCAL
STANDARD TIME (no daylight saving); the site's UTC offset is not in the file (it comes from
the site metadata: :func:`read_site_list`), so it is a parameter, default 0 (local = UTC).

Variables used:

* GPP = ``GPP_NT_VUT_REF`` (night-time partitioning of NEE_VUT_REF), NEE = ``NEE_VUT_REF``:
  HH/HR in umol CO2 m-2 s-1, DD/WW/MM in gC m-2 d-1, YY in gC m-2 yr-1.  Both get the QC of
  ``NEE_VUT_REF_QC`` (GPP is partitioned from NEE_VUT_REF and has no QC column of its own).
* ET from latent heat ``LE_F_MDS`` (or ``LE_CORR``, energy-balance corrected, when asked) in
  W m-2 at every resolution: ET = LE / lambda, with the QC of ``LE_F_MDS_QC``.
* QC: HH/HR integers 0 measured, 1 good-quality gap-fill, 2 medium, 3 poor; DD/WW/MM/YY the
  fraction 0..1 of measured or good-quality gap-filled half-hours in the record.

Output: every record as a mean rate in SI units (kg C m-2 s-1 for GPP and NEE, positive NEE
= source to the atmosphere as in the model; kg m-2 s-1 for ET), with the good fraction of each
record.  HH/HR records are aggregated into UTC days (after the UTC offset): the daily mean of
the values present, and the good fraction = good records / records a full day has (48 or
24), so a partial day (e.g. the end of a file) has a low fraction.  A record's value is kept
only when its good fraction is at least ``min_good_fraction`` (default 0.8, the usual filter
on the DD ``*_QC`` fractions); 0 keeps every value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..summary import Stats

#: File names: FLUXNET2015 / Warm Winter ``FLX_{site}_FLUXNET2015_FULLSET_{res}_{y1}-{y2}_{ver}.csv``
#: (data-formats.md s.6); searched anywhere in the name (copies may carry a prefix).
NAME_RE = re.compile(r"FLX_(?P<site>[A-Z]{2}-\w{3})_FLUXNET2015_FULLSET_(?P<res>HH|HR|DD|WW|MM|YY)_"
                     r"(?P<y1>\d{4})-(?P<y2>\d{4})_(?P<ver>.+)\.csv$")
RESOLUTIONS = ("HH", "HR", "DD", "WW", "MM", "YY")
FILL = -9999.0
#: Latent heat of vaporisation [J kg-1]: 2.45 MJ kg-1, the value at about 20 degC used by FAO-56
#: (Allen et al. 1998, eq. 20 and Annex 3) and in data-formats.md s.6 for ET from LE.
LAMBDA = 2.45e6
#: umol CO2 m-2 s-1 -> kg C m-2 s-1: 1e-6 mol/umol * 12.0107e-3 kg C/mol.  12.0107 g/mol is the molar
#: mass of carbon implied by ONEFlux's own conversion CO2TOC = 1.03772448 gC m-2 d-1 per
#: umol m-2 s-1 (= 12.0107e-6 * 86400; ONEFlux common.h), so HH and DD files convert alike.
UMOL_CO2_TO_KG_C = 12.0107e-9
#: gC m-2 d-1 -> kg C m-2 s-1.
GC_PER_DAY_TO_KG_C_PER_S = 1e-3 / 86400.0
#: Records per full day at the sub-daily resolutions.
RECORDS_PER_DAY = {"HH": 48, "HR": 24}
#: HH/HR QC values that count as good: 0 measured, 1 good-quality gap-fill (data-formats.md s.6).
GOOD_QC = (0, 1)
#: Default least good fraction of a record (data-formats.md s.6: NEE_VUT_REF_QC >= 0.8, LE_F_MDS_QC >= 0.8).
MIN_GOOD_FRACTION = 0.8

GPP, NEE, NEE_QC = "GPP_NT_VUT_REF", "NEE_VUT_REF", "NEE_VUT_REF_QC"
LE_QC = "LE_F_MDS_QC"
LE_CHOICES = ("LE_F_MDS", "LE_CORR")


@dataclass(eq=False)
class FluxSite:
    """One tower file's records as mean rates in SI units.

    Attributes:
        site: FLUXNET site id ('CH-Cha'); resolution: HH, HR, DD, WW, MM or YY of the file.
        days: (n,) datetime64[D] first day of each record (UTC days for HH/HR after the offset,
            local-standard-time days otherwise).
        ndays: (n,) int days each record spans (1 for HH/HR/DD, 7 for WW, month/year length).
        gpp, nee: (n,) kg C m-2 s-1 mean rates (NaN: missing or good fraction too low).
        et: (n,) kg m-2 s-1 mean rate (from ``le_variable``).
        gpp_good, nee_good, et_good: (n,) good fraction 0..1 of each record (NaN when unknown).
        utc_offset_hours, le_variable, min_good_fraction: as read; source: the file.
    """

    site: str
    resolution: str
    days: np.ndarray
    ndays: np.ndarray
    gpp: np.ndarray
    nee: np.ndarray
    et: np.ndarray
    gpp_good: np.ndarray
    nee_good: np.ndarray
    et_good: np.ndarray
    utc_offset_hours: float
    le_variable: str
    min_good_fraction: float
    source: str

    @property
    def is_daily(self) -> bool:
        """True when every record is one day (HH, HR, DD files): usable for daily evaluation."""
        return self.resolution in ("HH", "HR", "DD")


def parse_name(name: str) -> dict | None:
    """site, res, y1, y2, ver of a FLUXNET2015-style file name, or None."""
    m = NAME_RE.search(Path(name).name)
    return m.groupdict() if m else None


def _header(path: Path) -> list[str]:
    """Column names of the first line (any line ending)."""
    with open(path, "rb") as f:
        head = f.read(65536)
    line = head.replace(b"\r", b"\n").split(b"\n", 1)[0].decode("ascii", "replace")
    return [c.strip() for c in line.split(",")]


def _resolution(path: Path, columns: list[str], first: str) -> str:
    parsed = parse_name(path.name)
    if parsed:
        return parsed["res"]
    digits = len(first.strip())
    if "TIMESTAMP_START" in columns:
        return "WW" if digits == 8 else "HH"      # HH vs HR decided from the spacing below
    return {8: "DD", 6: "MM", 4: "YY"}.get(digits, "")


def read_fluxnet(path: str | Path, utc_offset_hours: float = 0.0, min_good_fraction: float = MIN_GOOD_FRACTION,
                 le_variable: str = "LE_F_MDS") -> FluxSite:
    """Read a FLUXNET2015 / Warm Winter 2020 FULLSET CSV (any resolution) into SI mean rates.

    Args:
        path: the CSV file.
        utc_offset_hours: the site's offset of local standard time from UTC [h] (CET = +1);
            HH/HR records are shifted by it before they are grouped into UTC days.  Default 0:
            local standard time taken as UTC.  DD..YY records cannot be shifted (their days stay
            local days; the error is at most the offset in hours).
        min_good_fraction: least good fraction of a record (0..1) for its value to be kept; 0
            keeps every value that is present.
        le_variable: ``LE_F_MDS`` (default) or ``LE_CORR``.

    Raises:
        InputError: no such file, no time column, a needed column missing, a bad timestamp.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if le_variable not in LE_CHOICES:
        raise ValueError(f"le_variable {le_variable!r}: expected one of {', '.join(LE_CHOICES)}")
    columns = _header(path)
    time_col = "TIMESTAMP_START" if "TIMESTAMP_START" in columns else "TIMESTAMP" if "TIMESTAMP" in columns else None
    if time_col is None:
        raise InputError(f"{path}: no TIMESTAMP or TIMESTAMP_START column; not a FLUXNET2015-format CSV")
    wanted = [GPP, NEE, NEE_QC, le_variable, LE_QC]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)} (a FLUXNET2015 FULLSET file has them)")
    try:
        table = pd.read_csv(path, usecols=[time_col] + wanted, dtype={time_col: str}, na_values=[FILL, "-9999"],
                            keep_default_na=True)
    except (ValueError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: unreadable CSV ({exc})") from None
    stamps = table[time_col].str.strip()
    res = _resolution(path, columns, stamps.iloc[0] if len(stamps) else "")
    if res not in RESOLUTIONS:
        raise InputError(f"{path}: cannot tell the time resolution (TIMESTAMP {stamps.iloc[0]!r})")
    fmt = {"HH": "%Y%m%d%H%M", "HR": "%Y%m%d%H%M", "DD": "%Y%m%d", "WW": "%Y%m%d", "MM": "%Y%m", "YY": "%Y"}[res]
    try:
        start = pd.to_datetime(stamps, format=fmt).to_numpy().astype("datetime64[m]")
    except (ValueError, TypeError) as exc:
        raise InputError(f"{path}: {time_col} is not {fmt} ({exc})") from None
    if res in ("HH", "HR") and start.size > 1 and parse_name(path.name) is None:
        step = np.median(np.diff(start).astype(np.int64))
        res = "HR" if step == 60 else "HH"

    def col(name):
        return table[name].to_numpy(dtype=np.float64)

    gpp, nee, le, nee_qc, le_qc = col(GPP), col(NEE), col(le_variable), col(NEE_QC), col(LE_QC)
    site = (parse_name(path.name) or {}).get("site") or path.stem

    if res in RECORDS_PER_DAY:
        utc = start - np.timedelta64(round(utc_offset_hours * 60), "m")
        day = utc.astype("datetime64[D]")
        days, inverse = np.unique(day, return_inverse=True)
        per_day = RECORDS_PER_DAY[res]
        out = {}
        for key, values, qc, factor in (("gpp", gpp, nee_qc, UMOL_CO2_TO_KG_C), ("nee", nee, nee_qc, UMOL_CO2_TO_KG_C),
                                        ("et", le, le_qc, 1.0 / LAMBDA)):
            ok = np.isfinite(values)
            n = np.bincount(inverse, weights=ok, minlength=days.size)
            total = np.bincount(inverse, weights=np.where(ok, values, 0.0), minlength=days.size)
            good = np.bincount(inverse, weights=ok & np.isin(qc, GOOD_QC), minlength=days.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                mean = np.where(n > 0, total / np.maximum(n, 1), np.nan) * factor
            out[key] = (mean, good / per_day)
        ndays = np.ones(days.size, dtype=np.int64)
    else:
        days = start.astype("datetime64[D]")
        if res == "DD":
            ndays = np.ones(days.size, dtype=np.int64)
        elif res == "WW":
            ndays = _week_lengths(path, days)
        else:
            unit = "datetime64[M]" if res == "MM" else "datetime64[Y]"
            ndays = ((start.astype(unit) + 1).astype("datetime64[D]") - days).astype(np.int64)
        # carbon: gC m-2 per day (DD, WW, MM) or per year (YY) -> kg C m-2 s-1
        carbon = GC_PER_DAY_TO_KG_C_PER_S / (ndays if res == "YY" else 1)
        out = {"gpp": (gpp * carbon, nee_qc), "nee": (nee * carbon, nee_qc), "et": (le / LAMBDA, le_qc)}

    kept = {}
    for key, (values, good) in out.items():
        good = np.asarray(good, dtype=np.float64)
        if min_good_fraction > 0:
            with np.errstate(invalid="ignore"):
                values = np.where(good >= min_good_fraction, values, np.nan)
        kept[key] = (values, good)
    return FluxSite(site=site, resolution=res, days=days, ndays=ndays,
                    gpp=kept["gpp"][0], nee=kept["nee"][0], et=kept["et"][0],
                    gpp_good=kept["gpp"][1], nee_good=kept["nee"][1], et_good=kept["et"][1],
                    utc_offset_hours=float(utc_offset_hours), le_variable=le_variable,
                    min_good_fraction=float(min_good_fraction), source=str(path))


def _week_lengths(path: Path, days: np.ndarray) -> np.ndarray:
    """Days of each WW record: TIMESTAMP_END - TIMESTAMP_START + 1 (both inclusive dates), else 7."""
    import pandas as pd

    if "TIMESTAMP_END" not in _header(path):
        return np.full(days.size, 7, dtype=np.int64)
    end = pd.read_csv(path, usecols=["TIMESTAMP_END"], dtype=str)["TIMESTAMP_END"].str.strip()
    end = pd.to_datetime(end, format="%Y%m%d").to_numpy().astype("datetime64[D]")
    return (end - days).astype(np.int64) + 1


def find_fluxnet_files(directory: str | Path, resolution: str = "DD") -> dict[str, Path]:
    """{site: file} of the FLUXNET2015-named files of one resolution under ``directory`` (recursive).

    With several files of a site (e.g. versions), the last in sorted order wins.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"{directory}: no such directory")
    found = {}
    for p in sorted(directory.rglob("*.csv")):
        parsed = parse_name(p.name)
        if parsed and parsed["res"] == resolution:
            found[parsed["site"]] = p
    return found


# ---------------------------------------------------------------------------
# Site metadata (the CSVs do not hold position, land cover or time zone)
# ---------------------------------------------------------------------------

#: Columns of a site list, named as the FLUXNET BADM / BIF variables.
SITE_COLUMNS = ("SITE_ID", "LOCATION_LAT", "LOCATION_LONG", "IGBP", "UTC_OFFSET")


@dataclass(frozen=True)
class SiteInfo:
    """A tower's metadata: latitude/longitude [degrees], IGBP class code ('ENF'), UTC offset [h]."""

    site: str
    lat: float
    lon: float
    igbp: str
    utc_offset_hours: float


def read_site_list(path: str | Path) -> dict[str, SiteInfo]:
    """Read a site list CSV with columns SITE_ID, LOCATION_LAT, LOCATION_LONG, IGBP, UTC_OFFSET."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    table = pd.read_csv(path, dtype={"SITE_ID": str, "IGBP": str})
    missing = [c for c in SITE_COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; a site list has {', '.join(SITE_COLUMNS)}")
    return {str(r.SITE_ID): SiteInfo(str(r.SITE_ID), float(r.LOCATION_LAT), float(r.LOCATION_LONG), str(r.IGBP),
                                     float(r.UTC_OFFSET))
            for r in table.itertuples(index=False)}


def write_site_list(path: str | Path, sites: list[SiteInfo]) -> Path:
    """Write a site list CSV (the inverse of :func:`read_site_list`)."""
    import pandas as pd

    path = Path(path)
    pd.DataFrame({"SITE_ID": [s.site for s in sites], "LOCATION_LAT": [s.lat for s in sites],
                  "LOCATION_LONG": [s.lon for s in sites], "IGBP": [s.igbp for s in sites],
                  "UTC_OFFSET": [s.utc_offset_hours for s in sites]}).to_csv(path, index=False, float_format="%.6g")
    return path


# ---------------------------------------------------------------------------
# inspect
# ---------------------------------------------------------------------------

def is_fluxnet(path: Path) -> bool:
    """A CSV whose header has a TIMESTAMP column and the FLUXNET carbon or LE columns (never raises)."""
    try:
        if Path(path).suffix.lower() != ".csv":
            return False
        columns = set(_header(Path(path)))
        return bool(columns & {"TIMESTAMP", "TIMESTAMP_START"}) and bool(columns & {NEE, GPP, "LE_F_MDS"})
    except Exception:  # detect never raises
        return False


def summarise_fluxnet(path: Path) -> dict:
    """``inspect`` summary: gpp, nee, et over all records present, and ``*_good`` over those whose good
    fraction is at least 0.8 (SI mean rates; HH/HR as UTC days with offset 0)."""
    every = read_fluxnet(path, min_good_fraction=0.0)
    good = read_fluxnet(path)
    variables = {}
    for name, units in (("gpp", "kg m-2 s-1"), ("nee", "kg m-2 s-1"), ("et", "kg m-2 s-1")):
        for suffix, site in (("", every), ("_good", good)):
            stats = Stats()
            stats.add(getattr(site, name))
            variables[name + suffix] = stats.summary(units)
    end = every.days[-1] + every.ndays[-1] if every.days.size else None
    return {"path": str(path), "site": every.site, "resolution": every.resolution, "records": int(every.days.size),
            "time_start": str(every.days[0].astype("datetime64[s]")) + "Z" if every.days.size else None,
            "time_end": str(end.astype("datetime64[s]")) + "Z" if end is not None else None,
            "note": "times are local standard time taken as UTC (offset 0)", "variables": variables}
