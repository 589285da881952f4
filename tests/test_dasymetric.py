"""Census counts spread over a grid along roads; the real Liechtenstein extract end to end."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import ROOT, SHARED

from coverage_planner.dasymetric import allocate
from coverage_planner.errors import InputError
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario


def two_units():
    units = gpd.GeoDataFrame({"unit_id": ["A", "B"]},
                             geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
                             crs="EPSG:32648")
    return units, np.array([1000.0, 300.0])


def test_conserves_each_unit_and_follows_the_roads():
    units, pop = two_units()
    # roads only in the west half of unit A: weight at x = 50 … 450
    wx = np.repeat(np.arange(50.0, 500.0, 100.0), 10)
    wy = np.tile(np.arange(50.0, 1000.0, 100.0), 5)
    cells = allocate(units, pop, wx, wy, np.ones(len(wx)), 100.0)
    sums = cells.groupby("unit")["population"].sum()
    assert sums[0] == pytest.approx(1000.0, rel=1e-12) and sums[1] == pytest.approx(300.0, rel=1e-12)
    a = cells[cells["unit"] == 0]
    west = a.geometry.x < 500
    assert a.loc[west, "population"].sum() == pytest.approx(1000.0) and (a.loc[~west, "population"] == 0).all()
    assert np.allclose(a.loc[west, "population"], 1000.0 / 50)            # 50 cells with equal weight
    # unit B has no roads: an even spread over its 100 cells
    b = cells[cells["unit"] == 1]
    assert len(b) == 100 and np.allclose(b["population"], 3.0)


def test_tiny_unit_gets_one_cell():
    units = gpd.GeoDataFrame({"unit_id": ["A", "T"]},
                             geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1010, 10, 1030, 30)], crs="EPSG:32648")
    cells = allocate(units, np.array([10.0, 7.0]), np.array([]), np.array([]), np.array([]), 100.0)
    assert cells.groupby("unit")["population"].sum().tolist() == pytest.approx([10.0, 7.0])


SCENARIO = ROOT / "scenarios" / "liechtenstein.toml"
needs_pbf = pytest.mark.skipif(not (SHARED / "liechtenstein.osm.pbf").exists(),
                               reason=f"real data not present: {SHARED / 'liechtenstein.osm.pbf'} (needs ../shared/geodata)")


@needs_pbf
def test_liechtenstein_communes_census_and_coverage(tmp_path):
    table = pd.read_csv(ROOT / "scenarios" / "data" / "liechtenstein_communes.csv")
    result = run(load_scenario(SCENARIO, tmp_path), quiet=True, isochrones=False)
    units = result.region.units
    assert len(units) == 12 and {"Vaduz", "Schaan", "Balzers", "Fläsch"} <= set(units["name"])
    assert units.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert result.population_total == pytest.approx(table["population"].sum())
    per_unit = result.cells.groupby("unit_name")["population"].sum()
    assert per_unit.to_dict() == pytest.approx(dict(zip(table["name"], table["population"].astype(float))))
    assert len(result.region.facilities) > 0
    t = result.cells["service_circle_time_min"].to_numpy()
    assert np.isfinite(t).mean() > 0.9


@needs_pbf
def test_census_table_missing_a_unit(tmp_path):
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
