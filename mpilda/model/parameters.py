"""Noah-MP's own parameter tables: MPTABLE.TBL (vegetation) and SOILPARM.TBL (soil).

No parameter value is copied into code: the tables shipped in
``mpilda/model/tables/`` (or a user's copies) are parsed, and per-column arrays
are made by indexing the per-class arrays with each column's class.

* ``MPTABLE.TBL`` holds Fortran namelists; the MODIS-IGBP block
  ``&noahmp_modis_parameters`` (NVEG = 20, "modified igbp modis noah") gives one
  value per class for each key, and the monthly ``LAI_JAN .. LAI_DEC`` and
  ``SAI_JAN .. SAI_DEC`` rows; ``&noahmp_rad_parameters`` and
  ``&noahmp_global_parameters`` hold soil-colour albedos, emissivities, CO2, O2, ...
* ``SOILPARM.TBL`` holds blocks per scheme; the ``STAS`` block (19 STATSGO
  classes) has columns BB DRYSMC F11 MAXSMC REFSMC SATPSI SATDK SATDW WLTSMC QTZ.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError

TABLES = Path(__file__).parent / "tables"
#: Typical maximum green vegetation fraction SHDMAX of each MODIS-IGBP class (annual maxima of satellite
#: greenness, in the range of the Noah-MP reference columns: 0.85 Landes pine, 0.90 deciduous forest, 0.85 crops,
#: 0.35 open shrubland, 0.70 boreal pine): the synthetic world's class values and the model's default.
SHDMAX_BY_CLASS = {1: 0.85, 2: 0.9, 3: 0.8, 4: 0.9, 5: 0.88, 6: 0.6, 7: 0.35, 8: 0.7, 9: 0.55, 10: 0.75, 11: 0.7,
                   12: 0.85, 13: 0.3, 14: 0.8, 15: 0.0, 16: 0.05, 17: 0.0, 18: 0.5, 19: 0.4, 20: 0.15}
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def _value(token: str, path, key):
    token = token.strip()
    if token.startswith(("'", '"')):
        return token.strip("'\"")
    if token.lower() in (".true.", ".false.", "t", "f"):
        return token.lower() in (".true.", "t")
    try:
        return float(token.lower().replace("d", "e")) if any(c in token for c in ".eEdD") else int(token)
    except ValueError:
        raise InputError(f"{path}: key {key}: value {token!r} is not a number, string or logical") from None


_TOKEN = re.compile(r"'[^']*'|\"[^\"]*\"|[^,\s]+")


def parse_namelists(text: str, path: str | Path = "<text>") -> dict[str, dict[str, list]]:
    """Fortran namelist groups ``&name ... /`` -> {name: {KEY: [values]}} (comments after '!' dropped)."""
    groups: dict[str, dict[str, list]] = {}
    current = None
    key = None
    for raw in text.splitlines():
        line = raw.split("!", 1)[0].strip()
        if not line:
            continue
        if line.startswith("&"):
            current = groups.setdefault(line[1:].split()[0].lower(), {})
            key = None
            continue
        if line == "/":
            current, key = None, None
            continue
        if current is None:
            continue
        match = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$", line)
        if match:
            key = match.group(1).upper()
            current[key] = []
            rest = match.group(2)
        elif key is not None:  # a continuation line of the previous key
            rest = line
        else:
            raise InputError(f"{path}: cannot read the line {raw.strip()!r}")
        current[key] += [_value(t, path, key) for t in _TOKEN.findall(rest)]
    return groups


@dataclass(frozen=True)
class VegetationTable:
    """Per-class vegetation parameters of one MPTABLE dataset (class k at index k - 1).

    ``params[KEY]`` is a float array (n_classes,); ``lai``/``sai`` are (12, n_classes)
    monthly climatologies [m2 m-2]; ``special`` the class numbers ISURBAN, ISWATER,
    ISBARREN, ISICE, ISCROP, EBLFOREST, NATURAL; ``rad`` and ``glob`` the radiation and
    global parameter groups.
    """

    description: str
    n_classes: int
    params: dict[str, np.ndarray]
    lai: np.ndarray
    sai: np.ndarray
    special: dict[str, int]
    rad: dict[str, np.ndarray]
    glob: dict[str, float]

    def column(self, key: str, classes: np.ndarray) -> np.ndarray:
        """Parameter ``key`` for each column's class (1-based class numbers)."""
        return self.params[key][np.asarray(classes) - 1]


def read_mptable(path: str | Path = TABLES / "MPTABLE.TBL", dataset: str = "modis") -> VegetationTable:
    """Read the vegetation parameters of ``dataset`` ('modis' or 'usgs') from an MPTABLE.TBL."""
    path = Path(path)
    try:
        groups = parse_namelists(path.read_text(errors="replace"), path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the Noah-MP vegetation table ({exc})") from None
    cat, par = f"noahmp_{dataset}_veg_categories", f"noahmp_{dataset}_parameters"
    for g in (cat, par, "noahmp_rad_parameters", "noahmp_global_parameters"):
        if g not in groups:
            raise InputError(f"{path}: no namelist group &{g}")
    n = int(groups[cat]["NVEG"][0])
    description = str(groups[cat].get("VEG_DATASET_DESCRIPTION", [dataset])[0])
    params, special = {}, {}
    monthly = {"LAI": np.zeros((12, n)), "SAI": np.zeros((12, n))}
    for key, values in groups[par].items():
        if len(values) == 1 and isinstance(values[0], int):
            special[key] = values[0]
            continue
        if len(values) < n:
            raise InputError(f"{path}: &{par} {key} has {len(values)} values; expected {n} (NVEG)")
        arr = np.array(values[:n], dtype=np.float64)
        head, _, month = key.rpartition("_")
        if head in monthly and month in MONTHS:
            monthly[head][MONTHS.index(month)] = arr
        else:
            params[key] = arr
    for needed in ("SLA", "VCMX25", "NROOT", "Z0MVT", "HVT", "CH2OP"):
        if needed not in params:
            raise InputError(f"{path}: &{par} has no {needed}")
    rad = {k: np.array(v, dtype=np.float64) for k, v in groups["noahmp_rad_parameters"].items()}
    glob = {k: float(v[0]) for k, v in groups["noahmp_global_parameters"].items()}
    return VegetationTable(description, n, params, monthly["LAI"], monthly["SAI"], special, rad, glob)


SOIL_COLUMNS = ("BB", "DRYSMC", "F11", "MAXSMC", "REFSMC", "SATPSI", "SATDK", "SATDW", "WLTSMC", "QTZ")


@dataclass(frozen=True)
class SoilTable:
    """Per-class soil hydraulic and thermal parameters (class k at index k - 1): ``params[KEY]`` (n_classes,)."""

    scheme: str
    names: tuple[str, ...]
    params: dict[str, np.ndarray]

    def column(self, key: str, classes: np.ndarray) -> np.ndarray:
        return self.params[key][np.asarray(classes) - 1]


def read_soilparm(path: str | Path = TABLES / "SOILPARM.TBL", scheme: str = "STAS") -> SoilTable:
    """Read the soil parameters of ``scheme`` from a SOILPARM.TBL."""
    path = Path(path)
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the Noah-MP soil table ({exc})") from None
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == scheme)
    except StopIteration:
        raise InputError(f"{path}: no soil scheme block {scheme!r}") from None
    header = lines[start + 1]
    n = int(header.split(",")[0])
    columns = re.findall(r"[A-Z0-9]+", header.split("'")[1]) if "'" in header else list(SOIL_COLUMNS)
    rows, names = [], []
    for line in lines[start + 2:start + 2 + n]:
        parts = [p.strip() for p in line.split(",")]
        try:
            rows.append([float(p) for p in parts[1:1 + len(columns)]])
        except ValueError:
            raise InputError(f"{path}: block {scheme}: cannot read the line {line.strip()!r}") from None
        names.append(parts[1 + len(columns)].strip("'\" ") if len(parts) > 1 + len(columns) else "")
    if len(rows) != n:
        raise InputError(f"{path}: block {scheme} announces {n} classes but has {len(rows)}")
    data = np.array(rows)
    return SoilTable(scheme, tuple(names), {c: data[:, j] for j, c in enumerate(columns)})
