"""Known fields for output tests, computed from global cell ids alone (shared by serial and MPI tests)."""

import datetime as dt

import numpy as np

from mpilda.config import config_from_text
from mpilda.grid import Grid
from mpilda.output import Variable

CONFIG = """
[domain]
south = 36
north = 44
west = -10
east = 3.5
tile_size = 3
[time]
start = 2015-04-01
end = 2015-04-04
"""
START = dt.datetime(2015, 4, 1, tzinfo=dt.timezone.utc)
N_TIMES, N_MEMBERS = 3, 4
VARIABLES = [Variable("ssm", "m3 m-3", "surface soil moisture", "volume_fraction_of_condensed_water_in_soil"),
             Variable("lai_ens", "m2 m-2", "leaf area index of each member", "leaf_area_index", extra=("member",)),
             Variable("elev", "m", "a static field", dtype="f8", static=True),
             Variable("count", "1", "an integer field", dtype="i4")]


def grid():
    return Grid.from_config(config_from_text(CONFIG).domain)


def field(name, ids, t=0):
    """Exactly representable values of each variable at global cell ids and time index t."""
    ids = np.asarray(ids, dtype=np.int64)
    if name == "ssm":
        return (ids * 0.5 + t * 1000.0).astype(np.float32)
    if name == "lai_ens":
        return (ids[None, :] * 0.25 + t * 1000.0 + np.arange(N_MEMBERS)[:, None] * 1.0e5).astype(np.float32)
    if name == "elev":
        return ids * 1.0e-3 + 0.1
    if name == "count":
        return (ids % 97 + t).astype(np.int32)
    raise KeyError(name)


def write_all(writer, ids):
    writer.write_static({"elev": field("elev", ids)})
    for t in range(N_TIMES):
        writer.write(t, {v.name: field(v.name, ids, t) for v in VARIABLES if not v.static})


def expected_grid(name, g, t=0):
    """The full grid array of a variable: field values over land, None-masked (NaN) over sea."""
    ids = np.arange(g.shape[0] * g.shape[1])
    full = field(name, ids, t).astype(np.float64)
    full[..., ~g.land.ravel()] = np.nan
    return full.reshape(full.shape[:-1] + g.shape)
