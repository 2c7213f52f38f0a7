"""The shipped example configs are valid: the paper's six need only their data files to exist."""

import pytest

from mpilda.config import ConfigError, load_config

from .conftest import REPO

PAPER = sorted((REPO / "examples" / "paper").glob("*.ini"))
TWIN = sorted((REPO / "examples" / "twin").glob("*.ini"))


def test_the_six_paper_experiments_are_there():
    assert {p.stem for p in PAPER} == {"OL", "DA_SSM", "DA_LAI", "DA_VOD", "DA_SSM+LAI", "DA_SSM+VOD"}


@pytest.mark.parametrize("path", PAPER, ids=lambda p: p.stem)
def test_paper_configs_are_valid_given_their_data(path, tmp_path):
    for name in ("landcover.nc", "soil.nc", "shdmax.nc", "tbot.nc", "restart.nc"):
        (tmp_path / name).write_text("")
    cfg = load_config(path, [f"model.landcover_file={tmp_path / 'landcover.nc'}",
                             f"model.soil_file={tmp_path / 'soil.nc'}",
                             f"model.shdmax_file={tmp_path / 'shdmax.nc'}",
                             f"model.tbot_file={tmp_path / 'tbot.nc'}",
                             f"spinup.restart_file={tmp_path / 'restart.nc'}"])
    assert cfg.experiment.name == path.stem and cfg.ensemble.members == 24 and cfg.model.dveg == 5
    assert cfg.domain.shape == (168, 207) and f"{cfg.time.start:%Y-%m-%d}" == "2015-04-01"
    assert cfg.obs_smap.error_std == 0.0125 and cfg.obs_lai.error_std == 0.05 and cfg.obs_vod.error_std == 0.03
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(path)                      # without the archives: a clear error, nothing else


@pytest.mark.parametrize("path", TWIN, ids=lambda p: p.stem)
def test_twin_configs_are_valid(path):
    load_config(path)
