"""The pipeline on the real Chengdu OSM extract (../shared/geodata), with hospitals from OSM tags."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from conftest import SHARED, write_geojson, write_raster
from nxref import reference_costs
from pyproj import Transformer

from coverage_planner.facilities import osm_facilities
from coverage_planner.network import seconds_per_segment
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario

PBF = SHARED / "chengdu_core.osm.pbf"
XML = SHARED / "chengdu_core.osm.bz2"
pytestmark = pytest.mark.skipif(not PBF.exists(), reason=f"real data not present: {PBF} (needs ../shared/geodata)")
UTM = "EPSG:32648"


@pytest.fixture(scope="module", params=[PBF, XML], ids=["pbf", "xml"])
def chengdu(tmp_path_factory, request):
    """A 200 m population grid (50 people per cell) over the extract's hospitals, and a scenario
    reading roads and hospitals from the PBF or from the XML copy of the same extract."""
    osm_file = request.param
    root = tmp_path_factory.mktemp("chengdu")
    hospitals = osm_facilities(PBF).to_crs(UTM)
    x0, y0, x1, y1 = hospitals.total_bounds
    x0, y0 = np.floor(x0 / 200) * 200 - 1000, np.floor(y0 / 200) * 200 - 1000
    x1, y1 = np.ceil(x1 / 200) * 200 + 1000, np.ceil(y1 / 200) * 200 + 1000
    pop = np.full((int((y1 - y0) / 200), int((x1 - x0) / 200)), 50.0)
    write_raster(root / "pop.tif", pop, x0, y1, cell=200.0)
    to_ll = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)
    ring = [list(to_ll.transform(x, y)) for x, y in [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]]
    write_geojson(root / "units.geojson", [{"type": "Feature", "properties": {
        "unit_id": "CD", "name": "成都中心城区", "name_en": "Chengdu core", "zone": "urban", "kind": "street"},
        "geometry": {"type": "Polygon", "coordinates": [ring]}}])
    (root / "scenario.toml").write_text(f"""
[scenario]
name = "chengdu"
[standards]
profile = "chongqing"
rules = ["service_circle"]
[boundaries]
path = "units.geojson"
[facilities]
path = "{osm_file}"
[facilities.types]
clinic = "chc"
[population]
path = "pop.tif"
[roads]
path = "{osm_file}"
[outputs]
dir = "out"
cache_dir = "cache"
""", encoding="utf-8")
    return root / "scenario.toml", float(pop.sum())


def test_nearest_hospital_times_on_real_osm(chengdu):
    scenario, raster_total = chengdu
    result = run(load_scenario(scenario), quiet=True, isochrones=False)
    assert result.population_total == pytest.approx(raster_total)
    assert len(result.region.facilities) == 31
    t = result.cells["service_circle_time_min"].to_numpy()
    assert np.isfinite(t).mean() > 0.95
    assert 1.0 < np.median(t[np.isfinite(t)]) < 15.0   # central Chengdu: hospitals are close
    # an independent networkx Dijkstra agrees on 40 cells
    model = result.models["car"]
    fac = np.arange(len(result.region.facilities))
    src = model.fac_snap.take(fac)
    sample = np.random.default_rng(1).choice(len(result.cells), 40, replace=False)
    ref = reference_costs(model.net, seconds_per_segment(model.net), "to_facility", src,
                          src.access_m / model.access_mps, model.cell_snap,
                          model.cell_snap.access_m / model.access_mps, sample)
    assert np.allclose(t[sample] * 60, ref, atol=1e-6, rtol=0, equal_nan=False)


def test_facility_points_lie_on_the_extract(chengdu):
    hospitals = osm_facilities(PBF)
    assert (hospitals["type"] == "hospital").sum() == 28
    assert hospitals["name"].str.contains("医院").sum() >= 20
    assert shapely.box(103.9, 30.5, 104.3, 30.8).contains(shapely.union_all(hospitals.geometry.to_numpy()))
