"""Loaders in every promised format (zones by density and speed overrides: tests/test_exact_answers.py)."""

from __future__ import annotations


import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import X0, Y0

from coverage_planner.generators.demo import DEMO_DIR
from coverage_planner.facilities import load_facilities
from coverage_planner.layers import LayerSpec
from coverage_planner.population import load_population

UTM = "EPSG:32648"


@pytest.mark.parametrize("suffix, driver", [(".gpkg", "GPKG"), (".shp", "ESRI Shapefile"), (".geojson", "GeoJSON")])
def test_facilities_from_vector_formats(tmp_path, suffix, driver):
    csv = load_facilities(LayerSpec(DEMO_DIR / "facilities.csv", key="facilities"), UTM)
    frame = gpd.read_file(DEMO_DIR / "facilities.geojson")
    path = tmp_path / f"fac{suffix}"
    frame.to_file(path, driver=driver)
    other = load_facilities(LayerSpec(path, key="facilities"), UTM)
    assert list(other["facility_id"]) == list(csv["facility_id"]) and list(other["type"]) == list(csv["type"])
    assert np.allclose(other.geometry.x, csv.geometry.x, atol=0.2) and np.allclose(other.geometry.y, csv.geometry.y, atol=0.2)


def test_population_from_a_vector_grid(tmp_path):
    squares = [shapely.box(X0 + i * 200, Y0, X0 + i * 200 + 200, Y0 + 200) for i in range(5)]
    grid = gpd.GeoDataFrame({"人口": [10.0, 0.0, 5.5, 3.0, 1.5]}, geometry=squares, crs=UTM)
    grid.to_file(tmp_path / "grid.gpkg")
    cells = load_population(LayerSpec(tmp_path / "grid.gpkg", columns={"population": "人口"}, key="population"), UTM)
    assert cells["population"].sum() == pytest.approx(20.0) and len(cells) == 4     # the empty cell is dropped
    assert cells["cell_m"].iloc[0] == pytest.approx(200.0)
