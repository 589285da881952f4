"""The library API (``import coverage_planner as cp``): the README example runs, and every entry point
gives the same answer as the command line or the file loaders on the same data."""

from __future__ import annotations

import json
import re
import tomllib
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import coverage_planner as cp
from coverage_planner.cli import main
from coverage_planner.errors import PlannerWarning
from coverage_planner.roads import load_roads, roads_from_graph
from coverage_planner.scenario import load_scenario
from coverage_planner.siting import run_siting

from conftest import ROOT, UTM, build_tiny_region
from refusals import refused

SCENARIO = ROOT / "scenarios" / "demo.toml"
DEMO = ROOT / "coverage_planner" / "data" / "demo"


def _demo_frames() -> dict:
    """The demo's layers as a notebook user reads them."""
    table = pd.read_csv(DEMO / "facilities.csv", encoding="utf-8")
    return {"units": gpd.read_file(DEMO / "units.geojson"),
            "facilities": gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["经度"], table["纬度"]), crs=4326),
            "villages": gpd.read_file(DEMO / "villages.geojson"),
            "population": str(DEMO / "population.tif")}


@pytest.fixture(scope="module")
def demo_region() -> cp.Region:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        return cp.load_region(SCENARIO)


@pytest.fixture(scope="module")
def demo_check(demo_region: cp.Region) -> cp.CheckResult:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        return cp.check(demo_region, isochrones=False)


def test_version_matches_pyproject_and_py_typed_ships():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert cp.__version__ == pyproject["project"]["version"]
    assert (ROOT / "coverage_planner" / "py.typed").exists()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["coverage_planner"]
    for module in (cp, cp.api):
        assert all(hasattr(module, name) for name in module.__all__)
    assert {"load_region", "check", "site", "Region", "optimize", "__version__"} <= set(cp.__all__)
    assert cp.Region is cp.pipeline.Region


def test_readme_library_example_runs(monkeypatch):
    """The README's "Library (Python API)" block, executed as written from the repository root."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- library-example -->\n```python\n(.*?)```\n<!-- /library-example -->", text, re.S)
    assert block, "README lacks the library example block"
    monkeypatch.chdir(ROOT)
    scope: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        exec(compile(block.group(1), "README.md (library example)", "exec"), scope)
    assert scope["result"].summary["rule_id"].iloc[0] == "ems_radius"
    assert list(scope["siting"].models["model"]) == ["lscp", "mclp"]
    # the hand-built matrix of the example: site 0 and 2 cover every row; one site covers most at 0
    assert list(scope["cover"].shape) == [4, 3]


def test_check_equals_the_cli_run(tmp_path, demo_region):
    """cp.check(...).to_files writes the same summary.csv and summary.json as `coverage-planner run`."""
    cli_out, api_out = tmp_path / "cli", tmp_path / "api"
    assert main(["run", str(SCENARIO), "--out", str(cli_out), "--quiet"]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        result = cp.check(demo_region)
    result.to_files(api_out)
    for name in ("summary.csv", "summary.json"):
        assert (api_out / name).read_bytes() == (cli_out / name).read_bytes(), name
    assert sorted(p.name for p in api_out.iterdir()) == sorted(p.name for p in cli_out.iterdir())
    cells = gpd.read_file(api_out / "cells.gpkg")
    pd.testing.assert_frame_equal(cells, gpd.read_file(cli_out / "cells.gpkg"))
    assert result.warnings == json.loads((cli_out / "summary.json").read_text(encoding="utf-8"))["warnings"]
    assert len(result.warnings) > 0
    assert {"basis", "level"} <= set(result.summary.columns)
    assert result.units is demo_region.units and len(result.facilities) == len(demo_region.facilities)


def test_from_geodataframes_equals_load_region(demo_check):
    """The demo's layers as GeoDataFrames give the same cells and summary as the scenario file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        region = cp.Region.from_geodataframes(**_demo_frames(), roads=DEMO / "roads.osm", name="demo")
        result = cp.check(region, isochrones=False)
    pd.testing.assert_frame_equal(result.cells, demo_check.cells)
    pd.testing.assert_frame_equal(result.summary, demo_check.summary)
    assert result.warnings == demo_check.warnings


def test_population_frame_equals_raster(tmp_path):
    """Population given as a GeoDataFrame of points gives the cells of the same people as a raster."""
    scenario = build_tiny_region(tmp_path)
    scn = load_scenario(scenario)
    ref = cp.load_region(scenario)
    x, y = ref.cells.geometry.x.to_numpy(), ref.cells.geometry.y.to_numpy()
    extra = gpd.GeoDataFrame({"人口": [5.0]}, geometry=gpd.points_from_xy([x[0] + 5000.0], [y[0]]), crs=UTM)
    points = gpd.GeoDataFrame({"人口": ref.cells["population"].to_numpy()}, geometry=gpd.points_from_xy(x, y), crs=UTM)
    points = pd.concat([points, extra], ignore_index=True)    # one point outside the region: left out
    region = cp.Region.from_geodataframes(
        units=gpd.read_file(tmp_path / "units.geojson"), facilities=gpd.read_file(tmp_path / "facilities.geojson"),
        population=points, roads=scn.roads, crs=UTM, columns={"population": {"population": "人口"}})
    pd.testing.assert_frame_equal(region.cells, ref.cells)
    assert region.population_in == pytest.approx(float(ref.cells["population"].sum()))


def _tiny_graph(tmp_path: Path):
    import osmnx as ox

    ox.settings.useful_tags_way = list(dict.fromkeys([*ox.settings.useful_tags_way, "route", "junction"]))
    return ox.graph_from_xml(tmp_path / "roads.osm", simplify=False, retain_all=True)


def _add_bounds(path: Path) -> None:
    """Give an OSM XML file the <bounds> header of its nodes (plus 0.001°), as extracts have.

    Without it the scenario's road clip rewrites the file with coordinates rounded to 1e-7°, and on
    the tiny region's symmetric grid a millimetre decides ties between equally near roads."""
    text = path.read_text(encoding="utf-8")
    lat = [float(v) for v in re.findall(r'lat="([-0-9.]+)"', text)]
    lon = [float(v) for v in re.findall(r'lon="([-0-9.]+)"', text)]
    bounds = (f'  <bounds minlat="{min(lat) - 1e-3:.7f}" minlon="{min(lon) - 1e-3:.7f}" '
              f'maxlat="{max(lat) + 1e-3:.7f}" maxlon="{max(lon) + 1e-3:.7f}"/>')
    path.write_text(text.replace('generator="tests">', 'generator="tests">\n' + bounds, 1), encoding="utf-8")


def test_osmnx_graph_gives_the_file_network_and_times(tmp_path):
    """An OSMnx graph of the same ways: the same network arrays as the file, and the same travel
    times (raw, projected to UTM, or simplified) in a whole coverage check."""
    import osmnx as ox

    scenario = build_tiny_region(tmp_path)
    _add_bounds(tmp_path / "roads.osm")     # a header with bounds: the file is read whole, as the graph
    graph = _tiny_graph(tmp_path)
    from_file = load_roads(tmp_path / "roads.osm", UTM)
    from_graph = roads_from_graph(graph, UTM)
    for name in ("node_x", "node_y", "seg_a", "seg_b", "seg_length", "seg_fwd", "seg_bwd", "seg_maxspeed"):
        np.testing.assert_allclose(getattr(from_graph, name), getattr(from_file, name), rtol=0, atol=1e-6)
    assert list(from_graph.seg_highway) == list(from_file.seg_highway)
    ref = cp.check(cp.load_region(scenario), isochrones=False)
    frames = {"units": gpd.read_file(tmp_path / "units.geojson"),
              "facilities": gpd.read_file(tmp_path / "facilities.geojson"), "population": tmp_path / "pop.tif"}
    for g in (graph, ox.project_graph(graph, to_crs=UTM), ox.simplify_graph(graph)):
        region = cp.Region.from_geodataframes(**frames, roads=g, crs=UTM, name="tiny", isochrone_minutes=[5, 10])
        result = cp.check(region, isochrones=False)
        times = [c for c in ref.cells.columns if c.endswith(("_time_min", "_network_km"))]
        assert times
        np.testing.assert_allclose(result.cells[times].to_numpy(float), ref.cells[times].to_numpy(float),
                                   rtol=1e-9, atol=1e-9)
        pd.testing.assert_frame_equal(result.summary, ref.summary)


def test_check_with_another_profile_equals_that_scenario(tmp_path, demo_region):
    """cp.check(region, profile=..., rules=...) equals the CLI on a scenario naming that profile."""
    text = SCENARIO.read_text(encoding="utf-8").replace("../coverage_planner", str(ROOT / "coverage_planner"))
    text = text.replace('profile = "chongqing"', 'profile = "zhejiang"\nrules = ["ems_radius", "service_circle"]')
    other = tmp_path / "demo_zj.toml"
    other.write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        expected = cp.check(cp.load_region(other), isochrones=False)
        result = cp.check(demo_region, profile="zhejiang", rules=["ems_radius", "service_circle"], isochrones=False)
        narrowed = cp.check(demo_region, rules=["ems_radius"], overrides={"ems_radius": {"urban_km": 4.0}},
                            isochrones=False)
    pd.testing.assert_frame_equal(result.summary, expected.summary)
    assert set(result.summary["rule_id"]) == {"ems_radius", "service_circle"}
    assert set(narrowed.summary["rule_id"]) == {"ems_radius"}
    assert narrowed.summary["threshold"].iloc[0].startswith("urban ≤4 km")


def test_site_equals_run_siting(demo_region):
    """cp.site on a loaded region gives the sites of `coverage-planner site` (run_siting)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        siting = cp.site(demo_region, rule="ems_radius", models=["mclp"], p=2)
        _, expected = run_siting(load_scenario(SCENARIO), ["mclp"], 2)
    pd.testing.assert_frame_equal(siting.table, expected)
    sites = siting.sites
    assert isinstance(sites, gpd.GeoDataFrame) and sites.crs == demo_region.crs
    np.testing.assert_allclose(sites.geometry.x, expected["x"])
    assert list(siting.solutions) == ["mclp"] and siting.models["new_sites"].iloc[0] == 2


def test_optimize_models_on_a_matrix_known_answers():
    """spopt-style: the models on a hand-built sparse matrix, answers checked by brute force."""
    from itertools import combinations

    cover = sp.csr_matrix(np.array([[1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 1], [0, 0, 0, 1]]))
    w = np.array([10.0, 20.0, 30.0, 40.0, 5.0])
    dense = cover.toarray().astype(bool)
    best = {p: max(w[dense[:, list(c)].any(axis=1)].sum() for c in combinations(range(4), p)) for p in (1, 2)}
    for p in (1, 2):
        sol = cp.optimize.mclp(cover, w, p)
        assert sol.objective == pytest.approx(best[p]) and len(sol.selected) == p
    fewest = min(k for k in range(1, 5) for c in combinations(range(4), k) if dense[:, list(c)].any(axis=1).all())
    assert len(cp.optimize.lscp(cover, w).selected) == fewest == 2
    cost = sp.csr_matrix(np.array([[1.0, 5.0], [4.0, 2.0], [3.0, 3.0]]))
    med = cp.optimize.p_median(cost, np.array([1.0, 1.0, 2.0]), 1)
    assert list(med.selected) == [0] and med.objective == pytest.approx(1 + 4 + 6)


def test_frame_without_crs_is_refused(tmp_path):
    build_tiny_region(tmp_path)
    units = gpd.read_file(tmp_path / "units.geojson")
    with refused("Library API: a GeoDataFrame without a CRS", match=r"units GeoDataFrame.*no coordinate reference"):
        cp.Region.from_geodataframes(units=units.set_crs(None, allow_override=True),
                                     facilities=gpd.read_file(tmp_path / "facilities.geojson"),
                                     population=tmp_path / "pop.tif", roads=tmp_path / "roads.osm")


def test_frame_missing_column_names_the_columns_argument(tmp_path):
    build_tiny_region(tmp_path)
    units = gpd.read_file(tmp_path / "units.geojson").rename(columns={"unit_id": "乡镇代码"})
    with refused("Library API: a units GeoDataFrame without the unit_id column",
                 match=r"<units GeoDataFrame>.*unit_id \(column 'unit_id'\).*columns argument"):
        cp.Region.from_geodataframes(units=units, facilities=gpd.read_file(tmp_path / "facilities.geojson"),
                                     population=tmp_path / "pop.tif", roads=tmp_path / "roads.osm")
    region = cp.Region.from_geodataframes(units=units, facilities=gpd.read_file(tmp_path / "facilities.geojson"),
                                          population=tmp_path / "pop.tif", roads=tmp_path / "roads.osm",
                                          columns={"boundaries": {"unit_id": "乡镇代码"}})
    assert list(region.units["unit_id"]) == ["S1", "T1"]


def test_frame_duplicate_facility_ids_are_refused_as_in_files(tmp_path):
    """The file loader's checks run on frames: duplicate ids name the rows of the frame."""
    build_tiny_region(tmp_path)
    fac = gpd.read_file(tmp_path / "facilities.geojson")
    fac["id"] = ["E1", "E1"]
    with refused("Library API: facility ids repeated in the facilities GeoDataFrame",
                 match=r"<facilities GeoDataFrame>.*'E1' \(feature 1, feature 2\)"):
        cp.Region.from_geodataframes(units=gpd.read_file(tmp_path / "units.geojson"), facilities=fac,
                                     population=tmp_path / "pop.tif", roads=tmp_path / "roads.osm")


def test_roads_that_are_not_a_graph_are_refused(tmp_path):
    build_tiny_region(tmp_path)
    with refused("Library API: roads neither a file path nor an OSMnx graph", match=r"OSMnx graph.*got dict"):
        cp.Region.from_geodataframes(units=gpd.read_file(tmp_path / "units.geojson"),
                                     facilities=gpd.read_file(tmp_path / "facilities.geojson"),
                                     population=tmp_path / "pop.tif", roads={"not": "a graph"})


def test_loaded_profile_with_rules_is_refused(tmp_path):
    region = cp.load_region(build_tiny_region(tmp_path))
    with refused("Library API: rules or overrides given with a loaded Profile", match=r"not to a loaded Profile"):
        cp.check(region, profile=region.scenario.profile, rules=["ems_radius"])
    with refused("Library API: an unknown siting model", match=r"unknown model\(s\) \['lcsp'\]"):
        cp.site(region, models=["lcsp"])
