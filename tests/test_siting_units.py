"""``site --per county``: one siting problem per county in one call, exact against the whole region.

The demo region split into two counties (west and east of the median unit) with the EMS radius
shortened to 2 km (urban) and 3 km (rural), so each county's halo (4.5 km with the loose factor)
holds only part of the region's roads and candidates: the per-county covering sets come from
bounded runs on a cut network, and must equal the whole network's, entry for entry.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from refusals import refused, refused_cli

from coverage_planner import siting
from coverage_planner import siting_units as su
from coverage_planner.progress import Steps
from coverage_planner.region import load_region
from coverage_planner.scenario import load_scenario

DATA = ROOT / "coverage_planner" / "data" / "demo"
MODELS = ["lscp", "mclp"]


def two_county_demo(folder: Path, rule: str = "ems_radius", extra: str = "") -> Path:
    """The demo scenario with a county_id per unit (W/E of the median unit) and short EMS limits."""
    folder.mkdir(parents=True, exist_ok=True)
    gj = json.loads((DATA / "units.geojson").read_text(encoding="utf-8"))
    xs = [np.mean([c[0] for c in f["geometry"]["coordinates"][0]]) for f in gj["features"]]
    mid = float(np.median(xs))
    for f, x in zip(gj["features"], xs):
        f["properties"]["county_id"] = "W" if x < mid else "E"
    (folder / "units.geojson").write_text(json.dumps(gj, ensure_ascii=False), encoding="utf-8")
    text = (ROOT / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    text = text.replace('"../coverage_planner/data/demo/units.geojson"', json.dumps(str(folder / "units.geojson")))
    text = text.replace('"../coverage_planner/data/demo/', f'"{DATA.as_posix()}/')
    text = text.replace('# [standards.overrides.ems_radius]\n# urban_km = 4.0',
                        "[standards.overrides.ems_radius]\nurban_km = 2.0\nrural_km = 3.0\n"
                        "[standards.overrides.ems_response]\nurban_min = 4.0\nrural_min = 6.0")
    text += f'\n[siting]\nrule = "{rule}"\ncandidates = "network"\nspacing_m = 1500\np = 2\n{extra}'
    path = folder / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module", params=["ems_radius", "ems_response"])
def demo(request, tmp_path_factory):
    """Scenario, region, settings, the whole region's problem and the per-county problems."""
    folder = tmp_path_factory.mktemp("units")
    scn = load_scenario(two_county_demo(folder, request.param), folder / "out")
    settings = siting.read_settings(scn, {}, MODELS)
    region = load_region(scn, Steps(True))
    whole, _ = siting.build_problem(scn, region, settings, Steps(True))
    rc, problems = su.county_problems(scn, region, settings, Steps(True))
    return scn, region, settings, whole, rc, problems


def _same_csr(a, b) -> bool:
    """Same stored entries (explicit zeros included), values bit for bit."""
    a, b = a.tocsr(), b.tocsr()
    a.sort_indices()
    b.sort_indices()
    return a.shape == b.shape and np.array_equal(a.indptr, b.indptr) and np.array_equal(a.indices, b.indices) \
        and np.array_equal(a.data, b.data)


def test_county_matrices_are_the_whole_regions(demo):
    """Each county's costs and covering sets from the halo network equal the whole network's rows of that
    county; no candidate outside the halo reaches the county; the halo really cuts the region."""
    scn, region, settings, whole, rc, problems = demo
    assert list(rc.candidates["candidate_id"]) == list(whole.candidates["candidate_id"])
    assert sorted(p.county for p in problems) == ["E", "W"]
    assert sum(len(p.cells) for p in problems) == len(region.cells)
    if whole.rule.kind == "radius":   # 4.5 km halo: a real cut (a time halo, limit × top speed, holds it all)
        assert min(len(p.columns) for p in problems) < len(whole.candidates) * 0.9
    for cp in problems:
        rows = whole.cost[cp.cells]
        assert rows[:, np.setdiff1d(np.arange(rows.shape[1]), cp.columns)].nnz == 0   # nothing missed
        prob = cp.problem
        assert _same_csr(rows[:, cp.columns], prob.cost)
        assert _same_csr(whole.cover[cp.cells][:, cp.columns], prob.cover)
        assert _same_csr(whole.cover_loose[cp.cells][:, cp.columns], prob.cover_loose)
        assert np.array_equal(whole.weights[cp.cells], prob.weights)
        assert prob.n_existing == int((cp.columns < whole.n_existing).sum())
        assert prob.cost.nnz > 1000


def test_county_models_solve_the_whole_problem_restricted(demo):
    """LSCP covers every coverable person of the county with the fewest sites, MCLP with p = 2 covers at
    least as many as any single added site, and both equal the models solved on the whole region's
    matrices cut to the county (an independent build of the same problem)."""
    from coverage_planner import optimize as opt

    scn, region, settings, whole, rc, problems = demo
    sites, summary = su.solve_counties(scn, region, settings, MODELS, problems, Steps(True))
    for cp in problems:
        row = summary.set_index(["county", "model"])
        lscp, mclp = row.loc[(cp.county, "lscp")], row.loc[(cp.county, "mclp")]
        cover = whole.cover[cp.cells][:, cp.columns].tocsr()
        w = whole.weights[cp.cells]
        fixed = np.arange(cp.problem.n_existing)
        ref_l = opt.lscp(cover, w, fixed=fixed)
        ref_m = opt.mclp(cover, w, 2, fixed=fixed)      # p counts the new sites
        assert lscp["new_sites"] == len(ref_l.selected) - len(fixed)
        assert mclp["covered_after"] == pytest.approx(ref_m.objective)
        assert lscp["covered_after"] == pytest.approx(lscp["population"] - lscp["uncoverable_people"])
        best_one = max(siting.covered_population(cp.problem, np.r_[fixed, c])
                       for c in range(cp.problem.n_existing, len(cp.columns)))
        assert mclp["covered_after"] >= best_one - 1e-6 and mclp["new_sites"] == 2
        mine = sites[(sites["county"] == cp.county) & (sites["model"] == "lscp") & (sites["status"] == "new")]
        assert len(mine) == lscp["new_sites"]


def test_each_county_alone_equals_the_combined_call(demo):
    """``only=[county]`` (the county solved alone) gives the same rows as the all-counties call."""
    scn, *_ = demo
    sites, summary, _ = su.run_units(scn, MODELS)
    assert sorted(sites["county"].unique()) == ["E", "W"]
    for county in ("E", "W"):
        alone, alone_sum, _ = su.run_units(scn, MODELS, only=[county])
        pd.testing.assert_frame_equal(sites[sites["county"] == county].reset_index(drop=True), alone)
        pd.testing.assert_frame_equal(summary[summary["county"] == county].drop(columns="seconds")
                                      .reset_index(drop=True), alone_sum.drop(columns="seconds"))


def test_dask_covering_sets_are_identical(demo):
    """``dask="local:2"``: the bounded runs on two worker processes, the same sites and summary."""
    pytest.importorskip("distributed", reason="the scale extra (dask[distributed]) is not installed")
    scn, *_ = demo
    sites, summary, _ = su.run_units(scn, MODELS)
    d_sites, d_summary, _ = su.run_units(scn, MODELS, dask="local:2")
    pd.testing.assert_frame_equal(sites, d_sites)
    pd.testing.assert_frame_equal(summary.drop(columns="seconds"), d_summary.drop(columns="seconds"))


def test_cli_site_per_county(tmp_path):
    """``site --per county`` writes one siting.csv with a county column and a summary per county and model;
    ``[siting] per = "county"`` does the same without the flag."""
    from coverage_planner.cli import main

    path = two_county_demo(tmp_path / "a")
    assert main(["site", str(path), "--per", "county", "--models", "lscp", "mclp", "--out",
                 str(tmp_path / "o1"), "--quiet"]) == 0
    sites = pd.read_csv(tmp_path / "o1" / "siting.csv")
    models = pd.read_csv(tmp_path / "o1" / "siting_models.csv")
    assert sites.columns[0] == "county" and set(sites["county"]) == {"E", "W"}
    assert sorted(zip(models["county"], models["model"])) == [("E", "lscp"), ("E", "mclp"), ("W", "lscp"),
                                                              ("W", "mclp")]
    assert (tmp_path / "o1" / "siting.gpkg").exists()
    proposed = load_scenario(tmp_path / "o1" / "demo_proposed.toml")     # the applied model: lscp
    new_ids = set(sites.loc[(sites["model"] == "lscp") & (sites["status"] == "new"), "candidate_id"])
    fac = json.loads(Path(proposed.facilities.path).read_text(encoding="utf-8"))
    added = [f for f in fac["features"] if f["properties"]["id"].startswith("NEW")]
    assert 0 < len(added) == len(new_ids) <= models.loc[models["model"] == "lscp", "new_sites"].sum()
    assert len(fac["features"]) == len(pd.read_csv(DATA / "facilities.csv")) + len(new_ids)
    path2 = two_county_demo(tmp_path / "b", extra='per = "county"\n')
    assert main(["site", str(path2), "--models", "lscp", "mclp", "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    pd.testing.assert_frame_equal(models.drop(columns="seconds"),
                                  pd.read_csv(tmp_path / "o2" / "siting_models.csv").drop(columns="seconds"))


def test_per_county_without_a_county_column(tmp_path):
    refused_cli("site --per county on boundaries without a county_id column",
                ["site", str(ROOT / "scenarios" / "demo.toml"), "--per", "county", "--models", "lscp",
                 "--out", str(tmp_path / "o"), "--quiet"], match=r"county_id")


def test_site_dask_without_per_county(tmp_path):
    refused_cli("site --dask without --per county",
                ["site", str(two_county_demo(tmp_path / "a")), "--dask", "local:1", "--out", str(tmp_path / "o"),
                 "--quiet"], match=r"--per county")


def test_per_must_be_county(tmp_path):
    scn = load_scenario(two_county_demo(tmp_path / "a", extra='per = "town"\n'), tmp_path / "o")
    with refused("[siting] per other than county", match=r"per county only"):
        su.per_setting(scn, None)


def test_unknown_county_is_refused(demo):
    scn, region, settings, *_ = demo
    with refused("site --county naming a county that is not in the boundaries", match=r"not a county_id"):
        su.county_problems(scn, region, settings, Steps(True), only=["X9"])


def test_library_site_refuses_per_county(tmp_path):
    """``cp.site`` returns one whole-region solution: asked for per county, it says so instead of ignoring it."""
    import coverage_planner as cp

    region = cp.Region.from_scenario(two_county_demo(tmp_path / "a"))
    with refused("cp.site with per = county (the library solves the whole region)", match=r"siting_units"):
        cp.site(region, models=["lscp"], per="county")
