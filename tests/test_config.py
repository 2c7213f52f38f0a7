"""Config: typed values, defaults, overrides, and a clear error for every kind of mistake."""

import dataclasses
import datetime as dt
from pathlib import Path

import pytest

from mpilda import config as C
from mpilda.config import ConfigError, config_from_text, load_config

from .conftest import MINIMAL, REPO


def test_defaults_fill_in_and_types(write_config):
    cfg = load_config(write_config(MINIMAL))
    assert cfg.domain.shape == (168, 207)  # the paper's 0.25 degree window (SPEC section 1)
    assert cfg.time.start == dt.datetime(2015, 4, 1, tzinfo=dt.timezone.utc)
    assert cfg.time.timestep == 900 and cfg.time.n_days == 2 and cfg.time.n_steps == 2 * 96
    assert cfg.ensemble.members == 24 and cfg.experiment.name == "OL"
    assert isinstance(cfg.output.directory, Path) and cfg.output.directory.is_absolute()
    # relative paths are resolved against the config file's directory
    assert cfg.output.directory.parent == write_config(MINIMAL).parent.resolve()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.domain.south = 0.0


def test_resolved_text_reads_back_to_the_same_config(write_config):
    cfg = load_config(write_config(MINIMAL + "[experiment]\nname = da_ssm+vod\n"), ["domain.tile_size=3"])
    again = config_from_text(cfg.to_ini())
    for section in ("domain", "time", "ensemble", "random", "experiment", "output"):
        assert getattr(again, section) == getattr(cfg, section)
    assert again.experiment.name == "DA_SSM+VOD"  # canonical spelling
    assert again.domain.tile_size == 3


def test_override_beats_file_and_is_validated(write_config):
    path = write_config(MINIMAL + "[ensemble]\nmembers = 12\n")
    assert load_config(path, ["ensemble.members=5"]).ensemble.members == 5
    with pytest.raises(ConfigError) as err:
        load_config(path, ["ensemble.members=five"])
    assert "--set ensemble.members" in str(err.value) and "'five'" in str(err.value)
    assert "integer" in str(err.value)


@pytest.mark.parametrize("extra, overrides, words", [
    # wrong type
    ("[domain]\nsouth = abc\n", [], ["[domain] south", "'abc'", "number"]),
    ("[domain]\ntile_size = 2.5\n", [], ["[domain] tile_size", "'2.5'", "integer"]),
    ("[domain]\nsouth = nan\n", [], ["[domain] south", "finite"]),
    ("", ["time.start=yesterday"], ["[time] start", "'yesterday'", "ISO 8601"]),
    # out of range
    ("[domain]\ntile_size = 0\n", [], ["[domain] tile_size", "'0'", "[1, 1024]"]),
    ("[ensemble]\nmembers = -1\n", [], ["[ensemble] members", "'-1'", "[0, 10000]"]),
    ("[domain]\nresolution = 0\n", [], ["[domain] resolution", "degrees"]),
    # not one of the allowed values, with a suggestion
    ("[experiment]\nname = DA_SMM\n", [], ["[experiment] name", "'DA_SMM'", "DA_SSM+VOD", "did you mean 'DA_SSM'"]),
    ("[output]\nio_mode = parallel\n", [], ["[output] io_mode", "mpio", "gather"]),
    # unknown keys and sections, with a suggestion
    ("[domain]\ntile_sise = 3\n", [], ["[domain] tile_sise", "unknown key", "did you mean 'tile_size'"]),
    ("[domian]\nsouth = 30\n", [], ["[domian]", "unknown section", "did you mean 'domain'"]),
    # cross-key rules
    ("", ["time.end=2015-03-01"], ["[time] end", "2015-03-01T00:00:00Z", "after start"]),
    ("", ["time.start=2015-04-01T06:00"], ["[time] start", "00:00 UTC"]),
    ("", ["time.timestep=700"], ["[time] timestep", "divisor of 3600"]),
    ("[domain]\nnorth = 20\n", [], ["[domain] north", "'20.0'", ">= south"]),
    ("[domain]\nnorth = 71.7\n", [], ["[domain] north", "whole number of resolution steps"]),
    ("[domain]\nwest = 10\neast = 5\n", [], ["[domain] east", ">= west"]),
    # file existence
    ("[domain]\nlandmask_file = nowhere.nc\n", [], ["[domain] landmask_file", "nowhere.nc", "does not exist"]),
    # not UTC
    ("", ["time.start=2015-04-01T00:00:00+02:00"], ["[time] start", "UTC"]),
])
def test_each_mistake_names_file_section_key_value_and_expectation(write_config, extra, overrides, words):
    path = write_config(MINIMAL + extra)
    with pytest.raises(ConfigError) as err:
        load_config(path, overrides)
    message = str(err.value)
    assert message.startswith(str(path)), message
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"


def test_missing_required_key(write_config):
    path = write_config("[time]\nstart = 2015-04-01\n")
    with pytest.raises(ConfigError, match=r"run.ini: \[time\] end: a value is required"):
        load_config(path)


def test_missing_file_bad_syntax_and_bad_override(tmp_path, write_config):
    with pytest.raises(ConfigError, match="nothere.ini.*existing config file"):
        load_config(tmp_path / "nothere.ini")
    with pytest.raises(ConfigError, match="run.ini.*INI syntax"):
        load_config(write_config("south = 3\n"))
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config(write_config(MINIMAL), ["members=3"])


def test_section_names_with_dots_in_overrides():
    assert C.parse_overrides(["obs.smap.error=0.02"]) == [("obs.smap", "error", "0.02")]


def test_reference_page_is_current():
    page = (REPO / "docs" / "config.md").read_text()
    assert page == C.reference_markdown(), "docs/config.md is stale: run `make docs`"
    for cls in C.SECTIONS:  # every key of every section is documented
        for f in dataclasses.fields(cls):
            assert f"| `{f.name}` |" in page
