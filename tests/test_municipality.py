"""The generated municipality: deterministic, at the plans' densities, and partitioned runs identical."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from coverage_planner import pipeline as P
from coverage_planner.generators.municipality import PEOPLE_PER_COUNTY, write_municipality
from coverage_planner.partition import Partitioner, unit_groups
from coverage_planner.scenario import load_scenario


@pytest.fixture(scope="module")
def two_counties(tmp_path_factory):
    folder = tmp_path_factory.mktemp("muni")
    return folder, write_municipality(folder, counties=2)


def test_same_seed_same_files(two_counties, tmp_path):
    folder, info = two_counties
    again = write_municipality(tmp_path, counties=2)
    assert {k: v for k, v in again.items() if k != "scenario"} == {k: v for k, v in info.items() if k != "scenario"}
    for name in ("units.geojson", "facilities.csv", "municipality.toml", "roads.osm.pbf"):
        assert (tmp_path / name).read_bytes() == (folder / name).read_bytes(), name
    with rasterio.open(folder / "population.tif") as a, rasterio.open(tmp_path / "population.tif") as b:
        assert np.array_equal(a.read(1), b.read(1))


def test_size_and_densities(two_counties):
    """People per county, ≥ 3 million road nodes at 38 counties, one THC per town, one CHC per street."""
    folder, info = two_counties
    assert info["people"] == pytest.approx(2 * PEOPLE_PER_COUNTY, rel=1e-3)
    assert info["osm_nodes"] / 2 * 38 >= 3_000_000
    assert info["area_km2"] / 2 * 38 == pytest.approx(80_000, rel=0.03)
    fac = pd.read_csv(folder / "facilities.csv")
    units = gpd.read_file(folder / "units.geojson")
    towns = set(units.loc[units["kind"] == "town", "unit_id"])
    streets = set(units.loc[units["kind"] == "street", "unit_id"])
    assert sorted(fac.loc[fac["type"] == "thc", "unit_id"]) == sorted(towns)
    assert sorted(fac.loc[fac["type"] == "chc", "unit_id"]) == sorted(streets)
    assert set(units["county_id"]) == {"C01", "C02"} and len(units) == 32


def test_partitioned_by_county_is_identical(two_counties):
    """Two counties routed as two partitions give every cell's times and nearest stations of the whole run."""
    folder, _ = two_counties
    scn = load_scenario(folder / "municipality.toml", folder / "out")
    steps = P.Steps(True)
    region = P.load_region(scn, steps)
    whole = P.evaluate(scn, region, steps)
    cells = region.cells
    unit = P._assign_units(region.units, cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy())
    groups = unit_groups(region.units, unit, 2)
    county = region.units["county_id"].to_numpy()[unit]          # the loader keeps county_id
    assert all(len(np.unique(groups[county == c])) == 1 for c in ("C01", "C02"))
    part = Partitioner(groups, 20_000.0)
    got = P.evaluate(scn, region, steps, nearest=part)
    assert part.rounds[0]["jobs"] == 2
    cols = [c for c in whole.cells.columns if c.endswith(("_time_min", "_network_km", "_nearest"))]
    assert len(cols) >= 6
    for c in cols:
        assert np.array_equal(whole.cells[c].to_numpy(), got.cells[c].to_numpy()), c
