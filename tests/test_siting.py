"""The site command on the tiny region: exact counts, confirmation by the coverage check, bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import X0, Y0, lonlat, write_geojson

from coverage_planner.cli import main
from coverage_planner.scenario import load_scenario
from coverage_planner.siting import run_siting




def test_lscp_and_mclp_exact(siting_region):
    """Roads every 500 m; E1 at (0, 500); radius 0.8 km of road + access legs.

    Candidates are the 15 grid nodes, one per 500 m square, less the one under E1. The cut-off island
    (480 people) can never be covered and is reported. Every other cell must be covered by the LSCP,
    and brute force over the candidates confirms both optima.
    """
    from dataclasses import replace

    scn = load_scenario(siting_region)    # the island is 350-650 m from the grid: keep it out of reach
    scn.profile = replace(scn.profile, max_access_m=300.0)
    result, sites = run_siting(scn, models=["lscp", "mclp"])
    prob = result.problem
    lscp, mclp = result.solutions["lscp"], result.solutions["mclp"]
    n = len(prob.candidates)
    assert prob.n_existing == 1 and n == 1 + 14 and (prob.candidates["source"][1:] == "network").all()
    assert lscp.uncoverable_weight == pytest.approx(480)
    coverable = prob.weights.sum() - 480
    covered = np.asarray(prob.cover[:, lscp.selected].sum(axis=1)).ravel() > 0
    assert prob.weights[covered].sum() == pytest.approx(coverable)
    # brute force over all subsets of the 14 new candidates: nothing smaller covers everyone
    from itertools import combinations

    need = np.asarray(prob.cover.sum(axis=1)).ravel() > 0
    dense = prob.cover.toarray().astype(bool)
    n_new = len(lscp.selected) - 1
    for k in range(n_new):
        for combo in combinations(range(1, n), k):
            assert not (dense[:, [0, *combo]].any(axis=1) >= need).all()
    # MCLP with p = 1: the best single new site, checked against every candidate
    gains = [prob.weights[dense[:, [0, c]].any(axis=1)].sum() for c in range(1, n)]
    assert mclp.objective == pytest.approx(max(gains))
    new = sites[(sites.model == "lscp") & (sites.status == "new")]
    assert len(new) == n_new and new["gain_people"].sum() == pytest.approx(
        coverable - prob.weights[dense[:, 0]].sum())


def test_proposed_scenario_confirms_the_gain(siting_region):
    out = siting_region.parent / "out"
    assert main(["site", str(siting_region), "--models", "lscp", "mclp", "--quiet"]) == 0
    for name in ("siting.html", "siting.csv", "siting_models.csv", "siting.gpkg", "coverage_curve.png",
                 "tiny_proposed.toml", "facilities_proposed.geojson"):
        assert (out / name).exists(), name
    models = pd.read_csv(out / "siting_models.csv").set_index("model")
    proposed = out / "tiny_proposed.toml"
    assert main(["run", str(proposed), "--out", str(out / "check"), "--quiet"]) == 0
    summary = json.loads((out / "check" / "summary.json").read_text(encoding="utf-8"))
    radius = next(r for r in summary["rules"] if r["id"] == "ems_radius")
    total = next(row for row in radius["rows"] if row["zone"] == "all" and row["unit_id"] == "ALL")
    assert total["covered_population"] == pytest.approx(models.loc["lscp", "covered_after"])
    assert models.loc["lscp", "covered_after"] > models.loc["lscp", "covered_before"]
    curve_png = (out / "coverage_curve.png").read_bytes()
    assert curve_png[:8] == b"\x89PNG\r\n\x1a\n"


def _fails(scenario, args, pattern, capsys):
    code = main(["site", str(scenario), "--quiet", *args])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    import re

    assert re.search(pattern, err, re.S), err


def test_bad_settings_are_all_reported_before_any_work(siting_region, capsys, monkeypatch):
    import coverage_planner.siting as siting

    text = siting_region.read_text()
    siting_region.write_text(text.replace("p = 1", 'p = "five"').replace(
        "time_limit_s = 30", "time_limit_s = -1\nbusy_fraction = 1.5\nrelocate = \"yes\""))
    real = siting.load_region
    monkeypatch.setattr(siting, "load_region", lambda *a: pytest.fail("the region was loaded"))
    _fails(siting_region, ["--models", "mclp"], r"4 problem.*siting\.p.*'five'.*whole number"
           r".*siting\.busy_fraction.*below 1.*siting\.relocate.*true or false.*siting\.time_limit_s.*positive",
           capsys)
    monkeypatch.setattr(siting, "load_region", real)
    siting_region.write_text(text.replace("p = 1", "p = 0"))  # p is not used by LSCP, and -p replaces it
    assert main(["site", str(siting_region), "--quiet", "--models", "lscp"]) == 0
    assert main(["site", str(siting_region), "--quiet", "--models", "mclp", "-p", "1"]) == 0
    _fails(siting_region, ["--models", "mclp"], r"siting\.p.*p = 0.*at least 1", capsys)


def test_bad_p_and_candidates(siting_region, capsys):
    _fails(siting_region, ["--models", "mclp", "-p", "99"], r"mclp.*p", capsys)
    _fails(siting_region, ["--models", "mclp", "-p", "0"], r"--p \(command line\).*p = 0.*at least 1", capsys)
    siting_region.write_text(siting_region.read_text().replace('candidates = "network"', 'candidates = "layer"')
                             .replace("spacing_m = 500\n", ""))   # spacing_m is for network candidates
    _fails(siting_region, ["--models", "lscp"], r"no candidate sites.*candidates", capsys)
    plots = siting_region.parent / "plots.geojson"
    write_geojson(plots, [{"type": "Feature", "properties": {"id": "P1"},
                           "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 250, Y0 + 2500))}}])
    siting_region.write_text(siting_region.read_text().replace('candidates = "layer"',
                                                               'candidates = "layer"\ncandidates_path = "plots.geojson"'))
    _fails(siting_region, ["--models", "lscp"], r"P1.*road network", capsys)


def test_candidates_from_a_csv_of_plots(siting_region):
    """A CSV of proposed plots with 经度/纬度 columns is a candidate layer like a GeoJSON one."""
    lon, lat = lonlat(X0 + 1500, Y0 + 520)  # 20 m from the road y = 500, at the node x = 1500
    (siting_region.parent / "plots.csv").write_text(f"id,name,经度,纬度\nQ7,地块七,{lon},{lat}\n", encoding="utf-8")
    siting_region.write_text(siting_region.read_text().replace(
        'candidates = "network"', 'candidates = "layer"\ncandidates_path = "plots.csv"').replace("spacing_m = 500\n", ""))
    result, sites = run_siting(load_scenario(siting_region), models=["mclp"])
    cands = result.problem.candidates
    assert list(cands["candidate_id"]) == ["E1", "Q7"] and cands["name"].iloc[1] == "地块七"
    chosen = sites[(sites.model == "mclp") & (sites.status == "new")]
    assert list(chosen["candidate_id"]) == ["Q7"] and chosen["gain_people"].iloc[0] > 0
