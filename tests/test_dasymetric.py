"""Census counts spread over a grid along roads: conservation, road-following, fallbacks; real
boundaries (Wuhan) and the Liechtenstein census scenario end to end."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry

from coverage_planner.dasymetric import allocate, allocate_counts, combine_weights, road_weights
from coverage_planner.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "geodata"
UTM = "EPSG:32648"


def two_units(pop=(1000.0, 300.0)) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"unit_id": ["A", "B"], "population": list(pop)},
                            geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)], crs=UTM)


def west_roads():
    """Weight points in the west half of unit A only: one per 100 m cell at x = 50 … 450."""
    x = np.repeat(np.arange(50.0, 500.0, 100.0), 10)
    y = np.tile(np.arange(50.0, 1000.0, 100.0), 5)
    return x, y, np.ones(len(x))


def per_unit(cells: gpd.GeoDataFrame, n: int) -> np.ndarray:
    return np.bincount(cells["unit"].to_numpy(), weights=cells["population"].to_numpy(), minlength=n)


def test_people_follow_the_roads_and_units_without_roads_spread_evenly():
    cells = allocate(two_units(), west_roads(), 100.0)
    assert list(cells.columns) == ["population", "unit", "cell_m", "geometry"] and cells.crs == UTM
    assert per_unit(cells, 2) == pytest.approx([1000.0, 300.0], rel=1e-12)
    a = cells[cells["unit"] == 0]
    west = a.geometry.x < 500
    assert len(a) == 100 and np.allclose(a.loc[west, "population"], 1000.0 / 50)   # 50 cells of equal weight
    assert (a.loc[~west, "population"] == 0).all()
    b = cells[cells["unit"] == 1]                               # no roads: an even spread over its 100 cells
    assert len(b) == 100 and np.allclose(b["population"], 3.0)


def test_weight_decides_the_share():
    units = two_units()
    x, y = np.array([50.0, 150.0, 150.0, 950.0]), np.array([50.0, 50.0, 60.0, 950.0])
    cells = allocate(units, np.column_stack([x, y, [1.0, 2.0, 1.0, 6.0]]), 100.0)   # an (n, 3) array works too
    got = cells.set_index([cells.geometry.x, cells.geometry.y])["population"]
    assert got[(50.0, 50.0)] == pytest.approx(100.0) and got[(150.0, 50.0)] == pytest.approx(300.0)
    assert got[(950.0, 950.0)] == pytest.approx(600.0) and got.sum() == pytest.approx(1300.0)
    # points outside every unit carry no weight anywhere
    outside = allocate(units, (np.array([-500.0, 5000.0]), np.array([50.0, 50.0]), np.array([9.0, 9.0])), 100.0)
    assert np.allclose(outside["population"], np.repeat([10.0, 3.0], 100))


def test_conservation_on_irregular_units():
    rng = np.random.default_rng(11)
    star = shapely.Polygon([(3000 + r * np.cos(t), 3000 + r * np.sin(t))
                            for t, r in zip(np.linspace(0, 2 * np.pi, 24, endpoint=False), np.tile([2500, 900], 12))])
    ring = shapely.box(-2000, -2000, 8000, 8000).difference(shapely.box(-1000, -1000, 7000, 7000))
    islands = shapely.MultiPolygon([shapely.box(9000, 0, 9350, 420), shapely.box(9800, 300, 9900, 9000)])
    sliver = shapely.box(10_010, 10_010, 10_040, 10_030)       # too small to hold a 250 m cell centre
    pop = np.array([1_234_567.0, 89_012.5, 3_456.0, 78.0])
    units = gpd.GeoDataFrame({"population": pop}, geometry=[star, ring, islands, sliver], crs=UTM)
    wx, wy = rng.uniform(-2500, 10_500, 20_000), rng.uniform(-2500, 10_500, 20_000)
    w = rng.gamma(0.5, 2.0, 20_000)
    cells = allocate(units, (wx, wy, w), 250.0)
    assert per_unit(cells, 4) == pytest.approx(pop, rel=1e-9)
    assert (cells["population"] >= 0).all()
    geoms = units.geometry.to_numpy()[cells["unit"].to_numpy()]
    assert shapely.contains_xy(geoms, cells.geometry.x, cells.geometry.y).all()   # every cell inside its unit
    tiny = cells[cells["unit"] == 3]
    assert len(tiny) == 1 and tiny["population"].iloc[0] == pytest.approx(78.0)
    keys = np.column_stack([cells.geometry.x, cells.geometry.y])
    assert len(np.unique(keys, axis=0)) == len(keys)            # neighbouring units never share a cell
    assert np.allclose(np.mod(cells.geometry.x[cells["unit"] < 3], 250.0), 125.0)  # one grid for all units


def test_road_class_weights_and_settlements():
    segs = [shapely.LineString([(50, 100), (50, 300)]), shapely.LineString([(850, 100), (850, 300)]),
            shapely.LineString([(450, 100), (450, 300)])]
    net = SimpleNamespace(seg_geometry=np.array(segs, dtype=object), seg_length=np.array([200.0, 200.0, 200.0]),
                          seg_highway=np.array(["residential", "trunk", "motorway"], dtype=object))
    x, y, w = road_weights(net)                                   # motorways carry no weight
    assert x.tolist() == [50.0, 850.0] and y.tolist() == [200.0, 200.0] and w.tolist() == [600.0, 40.0]
    units = two_units((640.0, 0.0))
    cells = allocate(units, (x, y, w), 100.0)
    got = cells.set_index([cells.geometry.x, cells.geometry.y])["population"]
    assert got[(50.0, 250.0)] == pytest.approx(600.0) and got[(850.0, 250.0)] == pytest.approx(40.0)
    village = (np.array([550.0]), np.array([750.0]), np.array([640.0]))
    both = allocate(units, combine_weights((x, y, w), village), 100.0)
    got = both.set_index([both.geometry.x, both.geometry.y])["population"]
    assert got[(550.0, 750.0)] == pytest.approx(320.0) and got.sum() == pytest.approx(640.0)


def test_array_call_matches():
    units = two_units()
    new = allocate(units, west_roads(), 100.0)
    arrays = allocate_counts(units, [1000.0, 300.0], *west_roads(), 100.0)
    assert np.array_equal(arrays["population"], new["population"]) and np.array_equal(arrays["unit"], new["unit"])


def test_bad_inputs():
    units = two_units()
    with pytest.raises(InputError, match="no population column 'people'.*unit_id, population"):
        allocate(units, west_roads(), 100.0, population="people")
    units.loc[1, "population"] = -5.0
    with pytest.raises(InputError, match=r"1 unit\(s\) have no valid population"):
        allocate(units, west_roads(), 100.0)
    with pytest.raises(ValueError, match="metric CRS"):
        allocate(two_units().set_crs("EPSG:4326", allow_override=True), west_roads(), 100.0)
    with pytest.raises(ValueError, match="cell_size_m"):
        allocate(two_units(), west_roads(), 0.0)
    with pytest.raises(ValueError, match="weights"):
        allocate(two_units(), (np.array([1.0]), np.array([1.0]), np.array([-1.0])), 100.0)


needs_wuhan = pytest.mark.skipif(not (SHARED / "wuhan_boundary.geojson").exists(),
                                 reason=f"real data not present: {SHARED / 'wuhan_boundary.geojson'} "
                                        "(needs ../shared/geodata)")


def wuhan_outline() -> shapely.Geometry:
    """The Wuhan outline in UTM 50N. The shared file has one stray character (line 5, '"5",m"name"'),
    repaired here in memory."""
    text = (SHARED / "wuhan_boundary.geojson").read_text(encoding="utf-8").replace('"5",m"name"', '"5", "name"')
    try:
        features = json.loads(text)["features"]
    except json.JSONDecodeError as exc:
        pytest.skip(f"the shared wuhan_boundary.geojson is not valid JSON even after the known repair: {exc}")
    shapes = [shapely.geometry.shape(f["geometry"]) for f in features]
    return gpd.GeoSeries(shapes, crs="EPSG:4326").to_crs("EPSG:32650").union_all()


@needs_wuhan
def test_wuhan_boundary_split_into_units():
    """The real Wuhan outline (about 8,500 km²) cut into a 4×4 block of units, people placed at 200 m."""
    wuhan = wuhan_outline()
    x0, y0, x1, y1 = wuhan.bounds
    xs, ys = np.linspace(x0, x1, 5), np.linspace(y0, y1, 5)
    blocks = [shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]) for i in range(4) for j in range(4)]
    parts = [wuhan.intersection(b) for b in blocks]
    parts = [p for p in parts if p.area > 0]
    rng = np.random.default_rng(5)
    pop = rng.uniform(1e4, 2e6, len(parts))
    units = gpd.GeoDataFrame({"population": pop}, geometry=parts, crs="EPSG:32650")
    wx, wy = rng.uniform(x0, x1, 50_000), rng.uniform(y0, y1, 50_000)
    cells = allocate(units, (wx, wy, rng.uniform(0, 1, 50_000)), 200.0)
    assert per_unit(cells, len(units)) == pytest.approx(pop, rel=1e-9)
    area_cells = len(cells) * 200.0 ** 2
    assert area_cells == pytest.approx(wuhan.area, rel=0.01)          # the grid covers the city, once


SCENARIO = ROOT / "scenarios" / "liechtenstein.toml"
needs_pbf = pytest.mark.skipif(not (SHARED / "liechtenstein.osm.pbf").exists(),
                               reason=f"real data not present: {SHARED / 'liechtenstein.osm.pbf'} "
                                      "(needs ../shared/geodata)")


@needs_pbf
def test_liechtenstein_communes_census_and_coverage(tmp_path):
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario

    table = pd.read_csv(ROOT / "scenarios" / "data" / "liechtenstein_communes.csv")
    result = run(load_scenario(SCENARIO, tmp_path), quiet=True, isochrones=False)
    units = result.region.units
    # the 11 communes of Liechtenstein; Fläsch (CH) has 5 of its 9 member ways in the extract and is left out
    assert len(units) == 11 and {"Vaduz", "Schaan", "Balzers"} <= set(units["name"]) and "Fläsch" not in set(units["name"])
    assert any("relation 1684081 (Fläsch)" in w or "and 3 more" in w for w in result.warnings)
    table = table[table["name"].isin(units["name"])]
    assert units.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert result.population_total == pytest.approx(table["population"].sum())
    per_name = result.cells.groupby("unit_name")["population"].sum()
    assert per_name.to_dict() == pytest.approx(dict(zip(table["name"], table["population"].astype(float))))
    assert len(result.region.facilities) > 0
    t = result.cells["service_circle_time_min"].to_numpy()
    assert np.isfinite(t).mean() > 0.9


@needs_pbf
def test_census_table_missing_a_unit(tmp_path):
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario

    short = tmp_path / "communes.csv"
    table = pd.read_csv(ROOT / "scenarios" / "data" / "liechtenstein_communes.csv")
    table[table["name"] != "Vaduz"].to_csv(short, index=False)
    text = SCENARIO.read_text(encoding="utf-8").replace('census_path = "data/liechtenstein_communes.csv"',
                                                         f'census_path = "{short}"')
    text = text.replace('"../../shared/geodata/', f'"{SHARED}/')
    scenario = tmp_path / "li.toml"
    scenario.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=r"no row in the census table: Vaduz"):
        run(load_scenario(scenario, tmp_path / "out"), quiet=True, isochrones=False)
