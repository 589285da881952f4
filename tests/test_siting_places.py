"""Proposed sites a planner can find (lon/lat, road, township, readable id, costs with units), one status
meaning across models, every model on the siting map, and --relocate that keeps fixed stations."""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import tomllib
from conftest import GRID_STREET, UTM, X0, Y0, lonlat, tiny_grid, write_geojson, write_osm
from pyproj import Transformer
from refusals import refused

from coverage_planner.cli import main
from coverage_planner.coords import gcj02_to_wgs84, wgs84_to_gcj02
from coverage_planner.scenario import load_scenario
from coverage_planner.siting import run_siting, solutions_frame
from coverage_planner.siting_map import siting_map

ALL_BUT_DSM = ["lscp", "mclp", "p_median", "p_center", "mexclp"]


def _named_roads(folder):
    """The tiny region's grid with OSM names on the middle street (y = 500) and column x = 1000."""
    nodes, ways = tiny_grid(
        row_tags=lambda j: {**GRID_STREET, "name": "中街 Middle Street"} if j == 1 else GRID_STREET,
        column_tags=lambda i: {"highway": "tertiary" if i == 4 else "residential", "maxspeed": "36",
                               **({"name": "一号路"} if i == 2 else {})})
    write_osm(folder / "roads.osm", nodes, ways)


def _plots(folder, rows):
    """A candidate layer (CSV, 经度/纬度) with plots at (id, x, y) metres from the origin."""
    text = "id,name,经度,纬度\n" + "".join(f"{i},{i},{lonlat(X0 + x, Y0 + y)[0]},{lonlat(X0 + x, Y0 + y)[1]}\n"
                                             for i, x, y in rows)
    (folder / "plots.csv").write_text(text, encoding="utf-8")


def test_site_lon_lat_round_trip_to_the_projected_point(siting_region):
    """lon/lat (6 decimals) go back to the UTM point within 0.15 m; siting.csv keeps them unrounded."""
    result, sites = run_siting(load_scenario(siting_region), models=["lscp", "mclp"])
    back = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    x, y = back.transform(sites["lon"].to_numpy(), sites["lat"].to_numpy())
    assert np.abs(x - sites["x"]).max() < 0.15 and np.abs(y - sites["y"]).max() < 0.15
    assert (sites["lon"] == sites["lon"].round(6)).all()
    # E1 was written at lonlat(X0, Y0 + 500): the table gives it back
    e1 = sites[sites["candidate_id"] == "E1"].iloc[0]
    assert (e1["lon"], e1["lat"]) == pytest.approx(lonlat(X0, Y0 + 500.0), abs=6e-7)
    from coverage_planner.siting import write_siting_outputs

    write_siting_outputs(result, sites, siting_region.parent / "out")
    csv = pd.read_csv(siting_region.parent / "out" / "siting.csv", encoding="utf-8-sig")
    np.testing.assert_allclose(csv["y"], sites["y"], atol=1e-6)      # %.6g rounded y to 10 m before
    np.testing.assert_allclose(csv["lat"], sites["lat"], atol=0)


def test_road_name_township_and_readable_id_of_each_site(siting_region):
    """Plot Q1 20 m off 中街 in 西街道, Q2 on the unnamed tertiary column x = 2000 in 东镇, Q3 on the
    crossing of 中街 and 一号路 (named both ways: the lower segment index wins, the horizontal street)."""
    folder = siting_region.parent
    _named_roads(folder)
    _plots(folder, [("Q1", 750, 520), ("Q2", 2000, 750), ("Q3", 1000, 500)])
    siting_region.write_text(siting_region.read_text().replace(
        'candidates = "network"', 'candidates = "layer"\ncandidates_path = "plots.csv"').replace("p = 1", "p = 3")
        .replace("spacing_m = 500\n", ""))
    _, sites = run_siting(load_scenario(siting_region), models=["mclp"])
    by = sites.set_index("candidate_id")
    assert by.loc["Q1", "road"] == "中街 Middle Street" and by.loc["Q1", "road_m"] == pytest.approx(20.0, abs=0.2)
    assert by.loc["Q2", "road"] == "无名道路 (tertiary)" and by.loc["Q2", "road_m"] == pytest.approx(0.0, abs=0.2)
    assert by.loc["Q3", "road"] in ("中街 Middle Street", "一号路")
    assert by.loc["E1", "road"] == "中街 Middle Street"
    assert list(by.loc[["Q1", "Q2", "E1"], "township"]) == ["西街道", "东镇", "西街道"]
    assert list(by.loc[["Q1", "Q2", "E1"], "unit_id"]) == ["S1", "T1", "S1"]
    assert by.loc["Q1", "site_id"] == "西街道-新站-1" and by.loc["Q2", "site_id"] == "东镇-新站-1"
    assert by.loc["E1", "site_id"] == "西街道-现有-E1"
    assert {"gain_people", "served_people", "mean_km", "max_km"} <= set(sites.columns)
    # the people a site serves are within the loose limit (0.8 km × 1.5) and the mean is below the worst
    new = sites[sites["status"] == "new"]
    assert (new["max_km"] <= 1.2 + 1e-9).all() and (new["mean_km"] <= new["max_km"]).all()
    assert new["served_people"].sum() + by.loc["E1", "served_people"] <= 3360


def test_readable_ids_count_north_to_south_within_each_township():
    from coverage_planner.siting_report import readable_ids

    township = np.array(["甲镇", "甲镇", "乙镇", "甲镇", "甲镇"])
    x = np.array([0.0, 500.0, 0.0, 100.0, 0.0])
    y = np.array([0.0, 900.0, 0.0, 900.0, 50.0])
    ids = readable_ids(township, x, y, np.array([True, True, True, True, False]), np.array(["a", "b", "c", "d", "E9"]))
    assert list(ids) == ["甲镇-新站-3", "甲镇-新站-2", "乙镇-新站-1", "甲镇-新站-1", "甲镇-现有-E9"]


def test_site_ids_unique_per_model_the_same_in_every_model_and_run(siting_region):
    scn = load_scenario(siting_region)
    _, first = run_siting(scn, models=ALL_BUT_DSM, p=3)
    _, again = run_siting(load_scenario(siting_region), models=ALL_BUT_DSM, p=3)
    pd.testing.assert_frame_equal(first.drop(columns=["gap"]), again.drop(columns=["gap"]))
    assert not first.duplicated(["model", "site_id"]).any()
    pairs = first[["candidate_id", "site_id"]].drop_duplicates()
    assert pairs["candidate_id"].is_unique and pairs["site_id"].is_unique   # one place, one id, in every model


def test_statuses_mean_one_thing_and_uncoverable_people_are_reported_alike(siting_region):
    """The cut-off island (480 people) is uncoverable; before, LSCP and p-center said "partial" and
    MCLP and MEXCLP "optimal" for the same people."""
    scn = load_scenario(siting_region)
    scn.profile = replace(scn.profile, max_access_m=300.0)
    result, sites = run_siting(scn, models=ALL_BUT_DSM, p=3)
    frame = solutions_frame(result).set_index("model")
    assert set(frame["status"]) == {"optimal"}
    assert np.allclose(frame["uncoverable_people"], 480.0) and (frame["uncoverable_cells"] == 48).all()
    assert frame["message"].str.contains("48 populated cells (480 people) cannot be covered", regex=False).all()
    assert not frame["message"].str.contains("infeasible for|cannot be reached", regex=True).any()
    assert set(sites["model_status"]) == {"optimal"}
    assert dict(frame["objective_unit"]) == {"lscp": "sites", "mclp": "people", "p_median": "people × km",
                                             "p_center": "km", "mexclp": "people (expected)"}


def test_gcj02_facilities_give_gcj02_columns(siting_region):
    """Facilities given in GCJ-02: the sites carry GCJ-02 lon/lat too; E1's are the file's own."""
    folder = siting_region.parent
    data = json.loads((folder / "facilities.geojson").read_text(encoding="utf-8"))
    for f in data["features"]:
        f["geometry"]["coordinates"] = [float(v) for v in wgs84_to_gcj02(*f["geometry"]["coordinates"])]
    write_geojson(folder / "facilities.geojson", data["features"])
    siting_region.write_text(siting_region.read_text().replace('path = "facilities.geojson"',
                                                               'path = "facilities.geojson"\ncoords = "gcj02"'))
    _, sites = run_siting(load_scenario(siting_region), models=["mclp"])
    e1 = sites[sites["candidate_id"] == "E1"].iloc[0]
    given = data["features"][0]["geometry"]["coordinates"]
    assert (e1["lon_gcj02"], e1["lat_gcj02"]) == pytest.approx(given, abs=6e-7)
    lon, lat = gcj02_to_wgs84(sites["lon_gcj02"].to_numpy(), sites["lat_gcj02"].to_numpy())
    np.testing.assert_allclose(lon, sites["lon"], atol=2e-6)
    np.testing.assert_allclose(lat, sites["lat"], atol=2e-6)


def test_siting_map_has_every_model_in_its_own_layer_with_escaped_popups(siting_region):
    result, sites = run_siting(load_scenario(siting_region), models=["lscp", "mclp"], p=2)
    sites = sites.copy()
    sites["road"] = "<script>alert(1)</script>路"
    html = siting_map(result, sites).get_root().render()
    for layer in ("LSCP 最少站点全覆盖: 拟建站点 proposed sites", "MCLP 最大覆盖: 拟建站点 proposed sites",
                  "LSCP 最少站点全覆盖: 新增后未覆盖 uncovered after", "MCLP 最大覆盖: 新增后未覆盖 uncovered after",
                  "现状未覆盖 Uncovered before"):
        assert json.dumps(layer)[1:-1] in html, layer      # layer names are written as JSON strings
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;路" in html
    mclp_new = sites[(sites.model == "mclp") & (sites.status == "new")].iloc[0]
    assert json.dumps(mclp_new["site_id"])[1:-1] in html or mclp_new["site_id"] in html
    assert f"{mclp_new['lon']:.6f}, {mclp_new['lat']:.6f}" in html


# ------------------------------------------------------------------------------------------ relocate

def _three_stations(folder, extra: dict | None = None):
    """E1 (2 ambulances) at (0, 500), E2 (0 ambulances) at (0, 0), E3 (1 ambulance, fixed = false) at
    (0, 1000): all at the west edge, so moving E2 and E3 east covers more people."""
    feats = []
    for fid, x, y, amb, props in (("E1", 0, 500, 2, {}), ("E2", 0, 0, 0, {}), ("E3", 0, 1000, 1, {"fixed": False})):
        feats.append({"type": "Feature", "properties": {"id": fid, "name": f"急救站{fid}", "name_en": fid, "type": "ems",
                                                        "ambulances": amb, **props, **(extra or {}).get(fid, {})},
                      "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + y))}})
    write_geojson(folder / "facilities.geojson", feats)


def test_fixed_stations_default_to_those_with_ambulances_and_the_main_centre():
    from coverage_planner.siting import fixed_stations, main_centre

    ems = pd.DataFrame({"name": ["急救站A", "市急救中心", "急救站C", "急救站D"], "name_en": "",
                        "ambulances": [3.0, 0.0, 0.0, 1.0], "fixed": [np.nan, np.nan, 1.0, 0.0]})
    assert main_centre(ems) == 1                          # named 急救中心, though it has no ambulance
    assert list(fixed_stations(ems, relocate=True)) == [True, True, True, False]
    assert list(fixed_stations(ems, relocate=False)) == [True] * 4
    plain = pd.DataFrame({"name": ["a", "b"], "name_en": "", "ambulances": [0.0, 0.0]})
    assert main_centre(plain) == 0 and list(fixed_stations(plain, relocate=True)) == [True, False]


def test_relocate_keeps_fixed_stations_counts_p_as_added_and_lists_closed_ones(siting_region):
    folder = siting_region.parent
    _three_stations(folder)
    scn = load_scenario(siting_region)
    result, sites = run_siting(scn, models=["mclp"], p=1, relocate=True)
    prob = result.problem
    assert list(prob.candidates["candidate_id"][:3]) == ["E1", "E2", "E3"] and list(prob.fixed) == [0]
    mclp = sites[sites.model == "mclp"]
    kept = set(mclp.loc[mclp.status == "existing", "candidate_id"])
    closed = set(mclp.loc[mclp.status == "closed", "candidate_id"])
    n_new = int((mclp.status == "new").sum())
    assert "E1" in kept and kept | closed == {"E1", "E2", "E3"} and not kept & closed
    assert closed and n_new - len(closed) == 1                 # 3 stations before, 4 after
    # brute force: E1 plus the best 3 of the other columns
    dense = prob.cover.toarray().astype(bool)
    best = max(prob.weights[dense[:, [0, *c]].any(axis=1)].sum() for c in combinations(range(1, dense.shape[1]), 3))
    assert result.solutions["mclp"].objective == pytest.approx(best)
    frame = solutions_frame(result).set_index("model")
    assert frame.loc["mclp", "new_sites"] == n_new and frame.loc["mclp", "closed_sites"] == len(closed)
    # without --relocate every station stays and p is the number of new sites
    _, stay = run_siting(load_scenario(siting_region), models=["mclp"], p=1)
    assert set(stay.loc[stay.status == "existing", "candidate_id"]) == {"E1", "E2", "E3"}
    assert (stay.status == "new").sum() == 1 and (stay.status == "closed").sum() == 0


def test_relocate_proposed_scenario_drops_closed_stations_and_says_so(siting_region):
    folder = siting_region.parent
    _three_stations(folder)
    assert main(["site", str(siting_region), "--models", "mclp", "-p", "1", "--relocate", "--quiet"]) == 0
    sites = pd.read_csv(folder / "out" / "siting.csv", encoding="utf-8-sig")
    closed = sorted(sites.loc[sites.status == "closed", "candidate_id"])
    proposed = json.loads((folder / "out" / "facilities_proposed.geojson").read_text(encoding="utf-8"))
    ids = {f["properties"]["id"] for f in proposed["features"]}
    assert "E1" in ids and not ids & set(closed) and len(ids) == 3 + 1   # 3 stations + p = 1
    toml = tomllib.loads((folder / "out" / "tiny_proposed.toml").read_text(encoding="utf-8"))
    assert f"{len(closed)} closed" in toml["scenario"]["title_en"] and "撤并" in toml["scenario"]["title_zh"]


def test_relocate_fixed_false_lets_the_main_centre_move(siting_region):
    folder = siting_region.parent
    _three_stations(folder, {"E1": {"fixed": "否"}})
    result, _ = run_siting(load_scenario(siting_region), models=["mclp"], p=1, relocate=True)
    assert len(result.problem.fixed) == 0


def test_a_fixed_value_that_is_not_yes_or_no_is_refused(siting_region):
    _three_stations(siting_region.parent, {"E2": {"fixed": "maybe"}})
    with refused("A station's fixed value that is neither yes nor no", match=r"fixed.*feature 2.*'maybe'.*true or false"):
        run_siting(load_scenario(siting_region), models=["mclp"], p=1, relocate=True)


def test_demo_sites_are_named_placed_and_relocate_keeps_every_station_with_ambulances():
    """The demo: every EMS station has ambulances, so --relocate closes none (the 8-ambulance 青衣区急救中心
    stays); the 56 people no candidate reaches are reported alike by LSCP and MCLP, both optimal."""
    import geopandas as gpd
    from conftest import ROOT

    scn = load_scenario(ROOT / "scenarios" / "demo.toml")
    result, sites = run_siting(scn, models=["lscp", "mclp"], p=3, relocate=True)
    assert len(result.problem.fixed) == result.problem.n_existing == 5
    assert (sites["status"] != "closed").all() and "E01" in set(sites.loc[sites.status == "existing", "candidate_id"])
    frame = solutions_frame(result).set_index("model")
    assert list(frame["status"]) == ["optimal", "optimal"] and np.allclose(frame["uncoverable_people"], 56)
    assert frame.loc["mclp", "new_sites"] == 3 and frame.loc["mclp", "closed_sites"] == 0
    w, s, e, n = gpd.read_file(ROOT / "coverage_planner" / "data" / "demo" / "units.geojson").total_bounds
    assert sites["lon"].between(w, e).all() and sites["lat"].between(s, n).all()
    new = sites[sites.status == "new"]
    assert set(new["township"]) <= set(result.region.units["name"]) and (new["road"] != "").all()
    assert new["site_id"].str.fullmatch(r".+(镇|街道|乡)-新站-\d+").all()
    assert not sites.duplicated(["model", "site_id"]).any()


def test_p_median_and_p_center_objectives_are_in_the_unit_they_name(siting_region):
    """The solver works in metres; siting_models.csv gives km: objective = Σ people × km to the nearest
    open site (brute force over the cost matrix) and the worst km."""
    result, sites = run_siting(load_scenario(siting_region), models=["p_median", "p_center"], p=3)
    frame = solutions_frame(result).set_index("model")
    prob = result.problem
    for name in ("p_median", "p_center"):
        sub = prob.cost[:, result.solutions[name].selected].tocsr()
        sub.data = sub.data.copy()
        nearest = np.array([row.data.min() if row.nnz else np.nan for row in sub])   # test-side brute force
        reached = ~np.isnan(nearest) & (prob.weights > 0)
        if name == "p_median":
            assert frame.loc[name, "objective"] == pytest.approx((prob.weights[reached] * nearest[reached]).sum() / 1000)
        else:
            assert frame.loc[name, "objective"] == pytest.approx(nearest[reached].max() / 1000)
    assert list(frame["objective_unit"]) == ["people × km", "km"]
