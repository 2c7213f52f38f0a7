"""The evaluation's tables from per-site and per-cell metrics (issue 17, items 2 and 9): Table 3's
median and Wilcoxon test of one per-cell sample, with cell and site counts; the same bytes for any
split of the domain over ranks."""

import json

import numpy as np
import pytest
from scipy import stats

from mpilda.evaluation import metrics
from mpilda.evaluation.run import _clean, _domain, table3_gridded_rows, table3_site_rows, table4_rows
from mpilda.report import tables


def _site_rows(rng, n_cells=16):
    """In situ rows of 1-3 sites per cell, some without a DA value, some outside the common mask."""
    rows = []
    for cell in range(100, 100 + n_cells):
        for j in range(int(rng.integers(1, 4))):
            ol = float(rng.uniform(0.3, 0.8))
            da = ol + float(rng.normal(0.01, 0.02))
            rows.append(("ismn", "ssm", cell, True, {"OL": ol, "DA_SSM": da}, j))
    rows[1][4]["DA_SSM"] = float("nan")                                  # a site without DA value
    rows.append(("ismn", "ssm", 999, False, {"OL": 0.5, "DA_SSM": 0.9}, 0))    # outside the common mask
    rows.append(("ismn", "ssm", 998, True, {"OL": float("nan"), "DA_SSM": 0.9}, 0))  # a cell with no pair
    rows.append(("fluxnet", "gpp", 100, True, {"OL": 0.5, "DA_SSM": 0.6}, 0))    # another reference
    return rows


def test_table3_takes_the_median_and_the_wilcoxon_test_of_the_same_per_cell_values():
    """Paper 2.6.1: sites of a cell are averaged first; the median and the test are over cells."""
    rows = _site_rows(np.random.default_rng(3))
    got = {(r["variable"], r["reference"]): r for r in table3_site_rows(rows, ["DA_SSM"])}
    ssm = got[("ssm", "in situ (ISMN)")]
    # the per-cell values, computed here site by site
    per_cell: dict[int, list] = {}
    for kind, var, cell, in_mask, r, _ in rows:
        if kind == "ismn" and in_mask and np.isfinite(r["OL"]) and np.isfinite(r["DA_SSM"]):
            per_cell.setdefault(cell, []).append((r["DA_SSM"], r["OL"]))
    da = np.array([np.mean([p[0] for p in per_cell[c]]) for c in sorted(per_cell)])
    ol = np.array([np.mean([p[1] for p in per_cell[c]]) for c in sorted(per_cell)])
    assert ssm["n"] == len(per_cell) == 16
    assert ssm["n_sites"] == sum(len(v) for v in per_cell.values())
    assert ssm["n_sites"] > ssm["n"]
    assert ssm["median_delta_r_anom"] == pytest.approx(np.median(da - ol), abs=1e-15)
    assert ssm["p_wilcoxon"] == pytest.approx(stats.wilcoxon(da, ol).pvalue, rel=1e-12)
    # ... which is not the test over the sites (what the evaluation did before)
    sites = [r for r in rows if r[0] == "ismn" and r[3]]
    by_site = metrics.wilcoxon_test([r[4]["DA_SSM"] for r in sites], [r[4]["OL"] for r in sites])
    assert by_site.n == ssm["n_sites"] and abs(by_site.pvalue - ssm["p_wilcoxon"]) > 1e-6
    tower = got[("gpp", "flux towers (FLUXNET/WW2020)")]
    assert (tower["n"], tower["n_sites"]) == (1, 1) and np.isnan(tower["p_wilcoxon"])


def test_report_and_json_show_cells_and_sites():
    rows = table3_site_rows(_site_rows(np.random.default_rng(4)), ["DA_SSM"])
    cells = {("DA_SSM", "gpp", "xbase_delta"): np.array([0.1, np.nan, 0.3, -0.2])}
    rows += table3_gridded_rows(cells, np.array([True, True, True, False]), ["DA_SSM"])
    result = json.loads(json.dumps(_clean(dict(table3=rows))))
    xbase = [r for r in result["table3"] if r["reference"] == "X-BASE (gridded)"]
    assert xbase == [dict(experiment="DA_SSM", variable="gpp", reference="X-BASE (gridded)",
                          median_delta_r_anom=pytest.approx(0.2), n=2, n_sites=None, p_wilcoxon=None)]
    text = tables(result)
    assert "| median ΔR_anom | cells | sites | Wilcoxon p |" in text
    ssm = next(r for r in result["table3"] if r["variable"] == "ssm")
    assert f"| {ssm['n']} | {ssm['n_sites']} | {ssm['p_wilcoxon']:.3f} |" in text
    assert "| 2 | – | – |" in text                                     # X-BASE: cells, no sites, no test


def _parts(ids_per_rank, values, mask, spread):
    """The per-rank pieces _finish gathers, each rank's cells ascending (as LocalDomain.cell_ids)."""
    parts = []
    for ids in ids_per_rank:
        ids = np.sort(ids)
        parts.append(dict(cell_ids=ids, common_mask=mask[ids],
                          cell_rows={k: v[ids] for k, v in values.items()},
                          spread={e: {v: (s[ids], c[ids]) for v, (s, c) in per_var.items()}
                                  for e, per_var in spread.items()}))
    return parts


def test_the_tables_are_the_same_bytes_for_any_split_of_the_cells_over_ranks():
    """Per-rank sums of the spread, added in rank order, depend on the split (round-off); joined in
    global cell order they do not."""
    rng = np.random.default_rng(9)
    n = 61
    mask = rng.random(n) < 0.7
    values = {("DA_SSM", "gpp", "xbase_delta"): rng.normal(0, 0.05, n)}
    spread = {e: {v: (rng.lognormal(0, 3, n) * 365, np.full(n, 365)) for v in ("ssm", "rzsm", "lai")}
              for e in ("OL", "DA_SSM")}

    def tables_of(parts):
        cells, common, spread_all = _domain(parts)
        np.testing.assert_array_equal(common, mask)
        return json.dumps(_clean(dict(t3=table3_gridded_rows(cells, common, ["DA_SSM"]),
                                      t4=table4_rows([(common, spread_all)], ["DA_SSM"]))))

    one = tables_of(_parts([np.arange(n)], values, mask, spread))
    order = rng.permutation(n)                      # tiles along a Hilbert curve: not in cell-id order
    for cuts in ([30], [1, 2], [20, 21, 50], list(range(1, n))):   # down to ranks of one cell
        assert tables_of(_parts(np.split(order, cuts), values, mask, spread)) == one, cuts
