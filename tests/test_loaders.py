"""Loaders in every promised format, zones by density, speed overrides."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import X0, Y0

from coverage_planner.generators.demo import DEMO_DIR
from coverage_planner.facilities import load_facilities
from coverage_planner.layers import LayerSpec
from coverage_planner.population import load_population
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario

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


def test_zone_by_density_when_boundaries_have_none(tiny_region):
    units = tiny_region.parent / "units.geojson"
    data = json.loads(units.read_text())
    for f in data["features"]:
        del f["properties"]["zone"]
    units.write_text(json.dumps(data))
    tiny_region.write_text(tiny_region.read_text() + "\n[standards.overrides.ems_radius]\nurban_km = 0.5\n")
    result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    # 10 people per hectare = 1,000 per km² < the profile's 1,500: every cell is rural
    assert set(result.cells["zone"]) == {"rural"}


def test_speed_override_changes_times(tiny_region):
    base = run(load_scenario(tiny_region), quiet=True, isochrones=False).cells["ems_response_time_min"]
    tiny_region.write_text(tiny_region.read_text().replace(
        "[outputs]", "[travel.profiles.ambulance]\nmaxspeed_factor = 0.5\n\n[outputs]"))
    slow = run(load_scenario(tiny_region), quiet=True, isochrones=False).cells["ems_response_time_min"]
    finite = np.isfinite(base.to_numpy())
    assert (slow.to_numpy()[finite] >= base.to_numpy()[finite]).all() and (slow > base).sum() > 100
