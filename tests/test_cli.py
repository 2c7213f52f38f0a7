"""The command line as a user runs it."""

import json
import subprocess
import sys

from .conftest import MINIMAL


def mpilda(*args):
    return subprocess.run([sys.executable, "-m", "mpilda", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_help_lists_the_commands():
    out = mpilda("--help")
    assert out.returncode == 0
    for command in ("check-config", "decompose", "grid"):
        assert command in out.stdout


def test_check_config_prints_resolved_config_or_error(write_config):
    path = write_config(MINIMAL)
    out = mpilda("check-config", path, "--set", "ensemble.members=8")
    assert out.returncode == 0, out.stderr
    assert "[ensemble]\nmembers = 8\n" in out.stdout and "tile_size = 4" in out.stdout
    bad = mpilda("check-config", path, "--set", "ensemble.member=8")
    assert bad.returncode == 2
    assert "did you mean 'members'" in bad.stderr and "Traceback" not in bad.stderr


def test_decompose_json(write_config, tmp_path):
    out = mpilda("decompose", write_config(MINIMAL), "--ranks", 64, "--json", "--plot", tmp_path / "d.png")
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert {"land_cells", "tiles", "ranks", "min_cells", "max_cells", "mean_cells", "imbalance"} <= set(result)
    assert result["land_cells"] == 19701 and result["ranks"] == 64 and result["imbalance"] <= 1.05
    assert (tmp_path / "d.png").stat().st_size > 10000
    too_many = mpilda("decompose", write_config(MINIMAL), "--ranks", 100000)
    assert too_many.returncode == 2 and "land tiles" in too_many.stderr and "Traceback" not in too_many.stderr
