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
