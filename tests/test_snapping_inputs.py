"""Snapping, access legs and the station each rule names, on hand-built roads with known answers."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely
from conftest import (GRID_STREET, SHARED, UTM, X0, Y0, build_tiny_region, lonlat, tiny_grid, write_geojson,
                      write_osm, write_raster)
from refusals import warned

from coverage_planner import coverage as cov
from coverage_planner.pipeline import run
from coverage_planner.roads import load_roads
from coverage_planner.scenario import load_scenario


def cell_at(cells: gpd.GeoDataFrame, x: float, y: float):
    """The cell whose centre is (x, y) metres from the tiny region's origin."""
    cx = cells.geometry.x.to_numpy() - X0
    cy = cells.geometry.y.to_numpy() - Y0
    (hit,) = np.flatnonzero((np.abs(cx - x) < 1) & (np.abs(cy - y) < 1))
    return cells.iloc[hit]


# --- 1. cells whose nearest way is an isolated fragment -------------------------------------------------

def fragment_roads(tmp_path: Path):
    """A core road along y = 0 (x = 0 … 3000) and an isolated driveway at y = 1500 (x = 0 … 600)."""
    nodes = {1: (0, 0), 2: (1000, 0), 3: (2000, 0), 4: (3000, 0), 10: (0, 1500), 11: (600, 1500)}
    ways = [([1, 2, 3, 4], {"highway": "residential"}),
            ([10, 11], {"highway": "service", "service": "driveway"})]
    write_osm(tmp_path / "roads.osm", nodes, ways)
    return load_roads(tmp_path / "roads.osm", UTM)


def station_at(x: float, y: float) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"facility_id": ["S"], "name": ["站"]},
                            geometry=[shapely.Point(X0 + x, Y0 + y)], crs=UTM)


# cells: 50 m from the driveway (the core 1,450 m away), 600 m from it (core 900 m), on the core side
CELLS_X = X0 + np.array([300.0, 300.0, 300.0])
CELLS_Y = Y0 + np.array([1450.0, 900.0, 200.0])


@pytest.mark.parametrize("max_access_m, cut, access", [
    (1000.0, [True, False, False], [50.0, 900.0, 200.0]),   # the middle cell joins the core road
    (850.0, [True, True, False], [50.0, 600.0, 200.0]),     # no core road within 850 m: cut off
])
def test_fragment_cells_join_a_core_road_within_max_access(tmp_path, max_access_m, cut, access):
    roads = fragment_roads(tmp_path)
    model = cov.build_travel_model(roads, "car", None, CELLS_X, CELLS_Y, station_at(1000, 0), 500.0,
                                   max_access_m=max_access_m)
    assert model.cut_off.tolist() == cut
    assert np.allclose(model.cell_snap.access_m, access, atol=1e-2)
    assert model.moved.tolist() == [False, not cut[1], False]
    # a moved cell is routed from the core road: its network distance is leg + road, never infinite
    src = model.fac_snap
    dist, _ = model.router("to_facility", "length").nearest(src, src.access_m, model.cell_snap,
                                                             model.cell_snap.access_m)
    assert np.isinf(dist[0]) and dist[2] == pytest.approx(200 + 700, abs=1e-2)
    assert dist[1] == (pytest.approx(900 + 700, abs=1e-2) if not cut[1] else np.inf)


def test_fragment_warning_names_the_way_and_the_people_moved(tmp_path):
    roads = fragment_roads(tmp_path)
    model = cov.build_travel_model(roads, "car", None, CELLS_X, CELLS_Y, station_at(1000, 0), 500.0)
    with warned("People nearest to an isolated driveway, a connected road within reach",
                match=r"way 2 \(service, [\d.]+°E [\d.]+°N\).*20 people \(33\.33%\) were joined.*"
                      r"16\.67% of the population \(10 people\) have no connected road within 1,000 m") as w:
        share = cov.warn_cut_off(model, np.array([10.0, 20.0, 30.0]))
    assert share == pytest.approx(10 / 60)
    lon, lat = (float(v) for v in w.message.split("(service, ")[1].split(")")[0].replace("°E", "").replace(
        "°N", "").split())
    assert (lon, lat) == pytest.approx(lonlat(X0 + 300, Y0 + 1500), abs=1e-5)   # the driveway's middle


def test_tiny_region_fragment_people_are_routed_not_cut_off(tiny_region):
    """The isolated road at x = 2600 is 350–650 m from the grid: its 480 people reach the EMS station
    through the x = 2000 road (default no-road-access distance 1,000 m) instead of being cut off."""
    with warned("People nearest to an isolated road piece within 1 km of the network",
                match=r"way 9 \(residential.*480 people \(14\.29%\) were joined"):
        result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    cells = result.cells
    assert (cells["ems_radius_gap"] == "cut_off").sum() == 0
    c = cell_at(cells, 2650, 450)       # 650 m walk to x = 2000, then 2,000 + 50 m of road to E1 at (0, 500)
    assert c["access_m"] == pytest.approx(650, abs=1e-2)
    assert c["ems_radius_network_km"] == pytest.approx(2.7, abs=1e-5)
    assert bool(c["ems_radius_pass"]) is True
    s = result.summary
    radius = s[(s.rule_id == "ems_radius") & (s.unit_id == "ALL")].set_index("zone")
    assert radius.loc["rural", "covered_population"] == pytest.approx(2040)


# --- 2. facility access legs ------------------------------------------------------------------------------

def add_facility(scenario: Path, fid: str, x: float, y: float, ftype: str = "chc") -> None:
    path = scenario.parent / "facilities.geojson"
    frame = gpd.read_file(path)
    features = [{"type": "Feature", "properties": {k: (None if isinstance(v, float) and np.isnan(v) else v)
                                                   for k, v in row.drop("geometry").items()},
                 "geometry": shapely.geometry.mapping(row.geometry)} for _, row in frame.iterrows()]
    features.append({"type": "Feature", "properties": {"id": fid, "name": "离岸诊所", "name_en": "Offshore",
                                                       "type": ftype, "ambulances": 0, "turnout_min": 0.0},
                     "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + y))}})
    write_geojson(path, features)


def test_facility_with_a_long_access_leg_is_listed(tiny_region):
    """C2 stands 490 m east of the x = 2000 road (the nearest connected one): allowed, but listed."""
    add_facility(tiny_region, "C2", 2490, 500)
    with warned("A facility far from its road (the access leg may cross water)",
                match=r"1 facility is more than 300 m .*C2 离岸诊所 \(490 m\).*cross water or private land; "
                      r"check the location") as w:
        result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert not any("E1" in m or "C1 " in m for m in w.messages if "more than 300 m" in m)
    fac = result.region.facilities
    leg = result.models["ambulance"].fac_snap.access_m[fac["facility_id"].to_numpy() == "C2"]
    assert leg == pytest.approx([490.0], abs=1e-2)


def test_facilities_on_their_roads_are_not_listed(tiny_region):
    with pytest.warns(UserWarning) as caught:
        run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert not [w for w in caught if "more than 300 m" in str(w.message)]


def test_long_leg_threshold(tmp_path):
    roads = fragment_roads(tmp_path)
    model = cov.build_travel_model(roads, "car", None, CELLS_X, CELLS_Y, station_at(1000, 299), 500.0)
    assert cov.warn_long_access_legs(model, station_at(1000, 299)) == []
    model = cov.build_travel_model(roads, "car", None, CELLS_X, CELLS_Y, station_at(1000, 301), 500.0)
    with pytest.warns(UserWarning, match=r"S 站 \(301 m\)"):
        assert cov.warn_long_access_legs(model, station_at(1000, 301)) == [0]


# --- 3. the station a rule names is the one whose value it judges ------------------------------------------

def two_station_region(tmp_path: Path) -> Path:
    """The tiny grid with a fast bottom road (y = 0, 90 km/h) and EMS stations EA at (0, 0), EB at (1500, 1000).

    Cell (1950, 150) joins the x = 2000 road 150 m up, 50 m away. EA: 2,000 m at 25 m/s + 150 m at
    10 m/s = 95 s of driving, 2,150 m; EB: 500 + 850 m at 10 m/s = 135 s, 1,350 m. EA is nearer in
    time, EB nearer by road and in a straight line.
    """
    scenario = build_tiny_region(tmp_path)
    nodes, ways = tiny_grid(row_tags=lambda j: {"highway": "primary", "maxspeed": "90"} if j == 0 else GRID_STREET)
    write_osm(tmp_path / "roads.osm", nodes, ways)
    feats = [{"type": "Feature", "properties": {"id": fid, "name": fid, "type": t, "ambulances": 1,
                                                "turnout_min": 0.0},
              "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + y))}}
             for fid, t, x, y in (("EA", "ems", 0, 0), ("EB", "ems", 1500, 1000), ("C1", "chc", 500, 500))]
    write_geojson(tmp_path / "facilities.geojson", feats)
    return scenario


def test_radius_rule_names_the_distance_nearest_station(tmp_path):
    result = run(load_scenario(two_station_region(tmp_path)), quiet=True, isochrones=False)
    c = cell_at(result.cells, 1950, 150)
    assert c["ems_radius_network_km"] == pytest.approx(1.4, abs=1e-6)      # EB: 1,350 m road + 50 m leg
    assert c["ems_radius_nearest"] == "EB"
    assert c["ems_radius_nearest_by_time"] == "EA"
    assert c["ems_response_nearest"] == "EA"                                # a time rule: the fastest
    assert c["ems_response_time_min"] * 60 == pytest.approx(95 + 36, abs=1e-2)
    # on every cell, the named station's own network distance is the judged (smallest) one
    model, fac = result.models["ambulance"], result.region.facilities
    ems = np.flatnonzero(fac["type"].to_numpy() == "ems")
    own = {fac["facility_id"].iloc[i]: model.router("from_facility", "length").nearest(
        model.fac_snap.take(np.array([i])), model.fac_snap.access_m[[i]], model.cell_snap,
        model.cell_snap.access_m)[0] for i in ems}
    named = result.cells["ems_radius_nearest"].to_numpy()
    judged = result.cells["ems_radius_network_km"].to_numpy() * 1000
    assert np.allclose([own[n][k] for k, n in enumerate(named)], judged, atol=1e-6)
    assert (named != result.cells["ems_radius_nearest_by_time"].to_numpy()).sum() > 0


def test_straight_line_radius_names_the_straight_line_nearest_station(tmp_path):
    scenario = two_station_region(tmp_path)
    scenario.write_text(scenario.read_text() + '\n[standards.overrides.ems_radius]\nmeasure = "straight_line"\n')
    result = run(load_scenario(scenario), quiet=True, isochrones=False)
    cells, fac = result.cells, result.region.facilities
    ems = fac[fac["type"] == "ems"]
    d = np.hypot(cells.geometry.x.to_numpy()[:, None] - ems.geometry.x.to_numpy()[None, :],
                 cells.geometry.y.to_numpy()[:, None] - ems.geometry.y.to_numpy()[None, :])
    assert (cells["ems_radius_nearest"].to_numpy() == ems["facility_id"].to_numpy()[d.argmin(axis=1)]).all()
    assert np.allclose(cells["ems_radius_straight_km"].to_numpy() * 1000, d.min(axis=1), atol=1e-6)


# --- 4. a national extract is clipped to the region plus a margin --------------------------------------------

LIE = SHARED / "liechtenstein.osm.pbf"


def commune_scenario(root: Path) -> Path:
    """Schellenberg commune cut from the Liechtenstein extract (the "national" file), a hospital and an
    EMS station at its centre, 10 people per 100 m cell, and 2-minute / 2–3 km limits: roads are kept
    1.5 × 2 min at 110 km/h = 5.5 km beyond the commune."""
    from coverage_planner.boundaries import load_boundaries
    from coverage_planner.layers import LayerSpec

    utm = "EPSG:32632"
    units = load_boundaries(LayerSpec(LIE, key="boundaries", admin_level=8))
    commune = units[units["name"] == "Schellenberg"][["unit_id", "name", "geometry"]]
    commune.to_file(root / "commune.geojson", driver="GeoJSON")
    centre = commune.to_crs(utm).geometry.iloc[0].representative_point()
    (hospital,) = gpd.GeoSeries([centre], crs=utm).to_crs("EPSG:4326")
    write_geojson(root / "facilities.geojson", [
        {"type": "Feature", "properties": {"id": fid, "name": fid, "type": t, "ambulances": 1},
         "geometry": {"type": "Point", "coordinates": [hospital.x, hospital.y]}}
        for fid, t in (("H1", "hospital"), ("E1", "ems"))])
    x0, y0, x1, y1 = np.round(commune.to_crs(utm).total_bounds / 100) * 100
    write_raster(root / "pop.tif", np.full((int((y1 - y0) / 100), int((x1 - x0) / 100)), 10.0), x0, y1,
                 crs=utm)
    (root / "scenario.toml").write_text(f"""
[scenario]
name = "schellenberg"
crs = "{utm}"
[standards]
profile = "chongqing"
rules = ["ems_radius", "ems_response", "service_circle"]
[standards.overrides.ems_radius]
urban_km = 2.0
rural_km = 3.0
[standards.overrides.ems_response]
urban_min = 2.0
rural_min = 2.0
[standards.overrides.service_circle]
urban_min = 2.0
rural_min = 2.0
[boundaries]
path = "commune.geojson"
[facilities]
path = "facilities.geojson"
[population]
path = "pop.tif"
[roads]
path = "{LIE}"
[outputs]
dir = "out"
cache_dir = "cache"
isochrone_minutes = [2]
[subcentres]
minutes = 2
""", encoding="utf-8")
    return root / "scenario.toml"


@pytest.mark.skipif(not LIE.exists(), reason=f"real data not present: {LIE} (needs ../shared/geodata)")
def test_clipped_national_extract_gives_identical_results(tmp_path, monkeypatch):
    import coverage_planner.region as region_module
    from coverage_planner.roads import scenario_clip

    scn = load_scenario(commune_scenario(tmp_path))
    clipped = run(scn, quiet=True, isochrones=False)
    box = scenario_clip(scn, clipped.region.region, scn.crs, clipped.region.facilities.geometry)
    monkeypatch.setattr(region_module, "scenario_clip", lambda *a, **k: None)    # the whole extract
    scn.cache_dir = tmp_path / "cache-whole"
    whole = run(scn, quiet=True, isochrones=False)
    assert clipped.region.roads.n_segments < 0.6 * whole.region.roads.n_segments   # it did clip
    roads = clipped.region.roads                        # every kept way has a piece in the box
    touches = gpd.GeoSeries(roads.seg_geometry, crs=scn.crs).to_crs("EPSG:4326").intersects(shapely.box(*box))
    assert touches.groupby(roads.seg_way).any().all()
    a, b = clipped.cells.drop(columns="geometry"), whole.cells.drop(columns="geometry")
    assert list(a.columns) == list(b.columns) and len(a) == len(b) > 300
    for col in a.columns:
        if a[col].dtype.kind == "f":
            assert np.allclose(a[col], b[col], rtol=0, atol=1e-9, equal_nan=True), col
        else:
            assert (a[col].to_numpy() == b[col].to_numpy()).all(), col
    assert clipped.summary.drop(columns=["source"]).equals(whole.summary.drop(columns=["source"]))
    from coverage_planner.roads import _file_within     # a box around the whole extract: no clip pass
    assert _file_within(LIE, (9.0, 46.5, 10.0, 47.5)) and not _file_within(LIE, box)
    shares = clipped.summary["share_covered"]
    assert ((shares > 0.05) & (shares < 0.95)).sum() >= 2      # verdicts that depend on the roads
