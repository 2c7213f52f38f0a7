"""The order of the twin's stages, and which run side by side."""

import pytest

from mpilda.twin import stage_rounds

NAMES = ["world", "truth", "model_spinup", "ensemble_spinup", "OL", "observations", "tables",
         "DA_SSM", "DA_LAI", "DA_VOD", "DA_SSM+LAI", "DA_SSM+VOD", "evaluate", "report"]
EXPERIMENTS = NAMES[7:12]
#: stage -> the stages whose outputs it reads
NEEDS = {"truth": ["world"], "model_spinup": ["world"], "ensemble_spinup": ["model_spinup"],
         "OL": ["ensemble_spinup"], "observations": ["truth"],
         **{e: ["tables", "observations", "ensemble_spinup"] for e in EXPERIMENTS},
         "evaluate": EXPERIMENTS + ["truth", "OL"], "report": ["evaluate"]}


@pytest.mark.parametrize("ol_first", [True, False])
@pytest.mark.parametrize("size, stage_ranks", [(1, 0), (2, 0), (2, 1), (2, 2), (3, 0), (4, 2), (8, 0), (64, 12)])
def test_every_stage_runs_once_after_the_stages_it_reads(size, stage_ranks, ol_first):
    needs = dict(NEEDS, tables=["OL", "truth", "observations"] if ol_first else ["truth", "observations"])
    rounds = stage_rounds(NAMES, EXPERIMENTS, size, stage_ranks, ol_first)
    order = [name for chains in rounds for chain in chains for name in chain]
    assert sorted(order) == sorted(NAMES)
    finished = {}
    for r, chains in enumerate(rounds):
        assert len(chains) <= size, f"round {r}: {len(chains)} chains on {size} ranks"
        for chain in chains:
            for k, name in enumerate(chain):
                for need in needs.get(name, []):
                    # a stage reads what finished in an earlier round or earlier in its own chain
                    assert finished.get(need, r) < r or need in chain[:k], f"{name} before {need}: {rounds}"
        for chain in chains:
            finished.update({name: r for name in chain})


def test_one_rank_or_all_ranks_per_stage_runs_the_stages_one_after_the_other():
    for size, stage_ranks in ((1, 0), (4, 4), (3, 5)):
        rounds = stage_rounds(NAMES, EXPERIMENTS, size, stage_ranks)
        assert all(len(chains) == 1 for chains in rounds)
        assert [n for chains in rounds for n in chains[0]] == NAMES


def test_side_by_side_on_two_and_on_many_ranks():
    rounds = stage_rounds(NAMES, EXPERIMENTS, 2, 0)
    assert [["truth"], ["model_spinup", "ensemble_spinup"]] in rounds
    assert [[c[0] for c in chains] for chains in rounds if chains[0][0] in EXPERIMENTS] == \
        [["DA_SSM", "DA_LAI"], ["DA_VOD", "DA_SSM+LAI"], ["DA_SSM+VOD"]]
    rounds = stage_rounds(NAMES, EXPERIMENTS, 64, 12)          # 5 groups of 12-13 ranks
    assert [[c[0] for c in chains] for chains in rounds if chains[0][0] in EXPERIMENTS] == [EXPERIMENTS]


def test_the_open_loop_runs_beside_the_experiments_when_the_tables_do_not_come_from_it():
    rounds = stage_rounds(NAMES, EXPERIMENTS, 2, 0, ol_first=False)
    assert [[c[0] for c in chains] for chains in rounds if chains[0][0] in ["OL"] + EXPERIMENTS] == \
        [["OL", "DA_SSM"], ["DA_LAI", "DA_VOD"], ["DA_SSM+LAI", "DA_SSM+VOD"]]
    assert [n for chains in stage_rounds(NAMES, EXPERIMENTS, 1, 0, ol_first=False) for n in chains[0]] == \
        NAMES[:4] + NAMES[5:7] + ["OL"] + NAMES[7:]


def test_tables_need_the_open_loop_unless_nothing_is_rescaled_and_vod_is_fitted_to_another_run(tmp_path):
    from mpilda.config import config_from_text
    from mpilda.twin import tables_need_ol

    from .conftest import window_config

    def cfg(text):
        return config_from_text(window_config("2015-04-01", "2015-04-05", text), base_dir=tmp_path)

    assert tables_need_ol(cfg(""))
    assert tables_need_ol(cfg("[obs.smap]\nrescale = no\n[obs.lai]\nrescale = no\n"))
    fitted = f"[obs.vod]\ncalibration_directory = {tmp_path}\n"
    assert not tables_need_ol(cfg("[obs.smap]\nrescale = no\n[obs.lai]\nrescale = no\n" + fitted))
    assert tables_need_ol(cfg("[obs.lai]\nrescale = no\n" + fitted))
    # SMAP's mean offset fitted to another run (the twin's truth) needs no open loop either
    smap_to = f"[obs.smap]\nrescale = mean\nrescale_directory = {tmp_path}\n"
    assert not tables_need_ol(cfg(smap_to + "[obs.lai]\nrescale = no\n" + fitted))
    assert tables_need_ol(cfg("[obs.smap]\nrescale = mean\n[obs.lai]\nrescale = no\n" + fitted))


def test_the_ranks_per_stage_do_not_change_a_stages_hash(tmp_path):
    from mpilda.config import config_from_text
    from mpilda.twin import _stage_hash

    from .conftest import window_config

    def digest(text):
        return _stage_hash(config_from_text(window_config("2015-04-01", "2015-04-05", text), base_dir=tmp_path))

    assert digest("[twin]\nstage_ranks = 1\n") == digest("") == digest("[twin]\nstage_ranks = 7\n")
    assert digest("[twin]\nensemble_spinup_days = 7\n") != digest("")


def test_the_variants_beyond_the_paper_change_only_the_evaluation_and_report_hashes(tmp_path):
    """Adding [twin] beyond to a finished twin runs the variants, the evaluation and the report only."""
    from mpilda.config import config_from_text
    from mpilda.twin import _stage_hash

    from .conftest import window_config

    def digest(text, name):
        return _stage_hash(config_from_text(window_config("2015-04-01", "2015-04-05", text), base_dir=tmp_path),
                           name)

    for name in ("truth", "OL", "tables", "DA_SSM"):
        assert digest("[twin]\nbeyond = vod_thinning\n", name) == digest("", name)
    for name in ("evaluate", "report"):
        assert digest("[twin]\nbeyond = vod_thinning\n", name) != digest("", name)
