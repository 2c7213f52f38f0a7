"""Shared fixtures of the serial tests."""

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Unmodified copies of real sample files of the input formats (provenance in tests/data/real/README.md).
REAL_DATA = REPO / "tests" / "data" / "real"


@pytest.fixture
def write_config(tmp_path):
    """Write an INI text to a file in tmp_path and return its path."""

    def write(text: str, name: str = "run.ini") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


MINIMAL = """
[time]
start = 2015-04-01
end = 2015-04-03
"""

#: A 6 x 8-cell window of south-eastern France (44.125-45.375 N, 4.125-5.875 E), tiles of 2 x 2:
#: small enough for whole runs in a test.
WINDOW = """
[domain]
south = 44.125
north = 45.375
west = 4.125
east = 5.875
tile_size = 2
"""


def window_config(start: str, end: str, text: str = "") -> str:
    """A config of WINDOW from ``start`` to ``end`` (ISO dates) followed by ``text``."""
    return WINDOW + f"[time]\nstart = {start}\nend = {end}\n" + text


def tiny_twin_config(tmp, name: str, out: str, start: str = "2015-04-01", end: str = "2015-05-16", members: int = 0,
                     overrides=()):
    """A run ``name`` of the test window in a tiny twin under ``tmp``: the synthetic world in tmp/world with
    the errors the filter assumes, the truth run in tmp/truth standing in for the open loop, tables in
    tmp/tables, output in tmp/<out>, SMAP and LAI assimilated as they are; ``overrides``
    ("section.key=value") on top."""
    from mpilda.config import config_from_text

    return config_from_text(window_config(start, end, f"""
[experiment]
name = {name}
[ensemble]
members = {members}
[output]
directory = {tmp}/{out}
overpass = yes
checkpoint_days = 0
[synthetic]
directory = {tmp}/world
truth_directory = {tmp}/truth
errors = specified
lai_pixel_size = 0.0625
[obs.smap]
rescale = no
[obs.lai]
rescale = no
[assimilation]
ol_directory = {tmp}/truth
tables_directory = {tmp}/tables
"""), overrides=list(overrides))
