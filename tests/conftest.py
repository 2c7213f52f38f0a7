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
