"""Exact known answers where older tests checked only a direction or the parsing: zones by density,
a speed factor, zero speeds."""

from __future__ import annotations

import json
import shutil
import tomllib

import numpy as np
import pytest
from conftest import X0, Y0, grid_node, tiny_grid, write_osm, write_raster

from coverage_planner.pipeline import run
from coverage_planner.progress import Steps
from coverage_planner.region import load_region
from coverage_planner.scenario import load_scenario
from coverage_planner.standards import load_profile


def test_each_cell_of_zoneless_units_gets_the_zone_of_its_own_density(tiny_region):
    """No unit has a zone: each cell is urban exactly when its own density reaches the profile's
    threshold (1,500 people per km²), rural below it."""
    assert load_profile("chongqing").urban_density_per_km2 == 1500
    pop = np.full((12, 28), 10.0)             # 100 m cells: 10 people = 1,000 per km² (rural)
    pop[:, ::3] = 20.0                        # every third column 2,000 per km² (urban)
    pop[:6, 1::3] = 15.0                      # exactly the threshold in the top half: urban (≥)
    write_raster(tiny_region.parent / "pop.tif", pop, X0 - 100, Y0 + 1100)
    units = tiny_region.parent / "units.geojson"
    data = json.loads(units.read_text())
    for f in data["features"]:
        del f["properties"]["zone"]
    units.write_text(json.dumps(data))
    cells = load_region(load_scenario(tiny_region), Steps(True)).cells
    people = cells["population"].to_numpy()
    col = np.rint((cells.geometry.x.to_numpy() - X0 + 50) / 100).astype(int)   # raster column of each cell
    row = np.rint((Y0 + 1050 - cells.geometry.y.to_numpy()) / 100).astype(int)
    assert np.array_equal(people, pop[row, col])
    assert list(cells["zone"]) == ["urban" if p >= 15 else "rural" for p in pop[row, col]]
    assert (cells["zone"] == "urban").sum() == 12 * 10 + 6 * 9 and (cells["zone"] == "rural").sum() == 336 - 174


def _time_at(cells, x: float, y: float, column: str = "ems_response_time_min") -> float:
    d = np.hypot(cells.geometry.x.to_numpy() - (X0 + x), cells.geometry.y.to_numpy() - (Y0 + y))
    k = int(np.argmin(d))
    assert d[k] < 1e-6
    return float(cells[column].iloc[k])


@pytest.mark.parametrize("factor, road_kmh", [(None, 36.0), (0.5, 18.0), (0.25, 9.0)])
def test_a_speed_factor_gives_the_exact_response_time(tiny_region, factor, road_kmh):
    """Cell (250, 450): E1 stands on the node (0, 500) with 1 min turnout; the cell joins the street
    y = 500 at (250, 500), 250 m of road from E1 at the posted 36 km/h × factor, then 50 m on foot
    at 5 km/h."""
    if factor is not None:
        tiny_region.write_text(tiny_region.read_text().replace(
            "[outputs]", f"[travel.profiles.ambulance]\nmaxspeed_factor = {factor}\n\n[outputs]"))
    cells = run(load_scenario(tiny_region), quiet=True, isochrones=False).cells
    expected = 1.0 + (250.0 / (road_kmh / 3.6) + 50.0 / (5.0 / 3.6)) / 60.0
    assert _time_at(cells, 250.0, 450.0) == pytest.approx(expected, abs=2e-4)   # 12 ms: coordinates pass through lon/lat


def _with_track_and_ferry(tiny_region, track_and_ferry: bool, track_tags: dict | None = None) -> None:
    """The tiny region's streets; when asked, the isolated piece x = 2600 joined to the grid by a track
    round the south (tagged ``track_tags``, highway=track by default) and a ferry round the north."""
    nodes, ways = tiny_grid()
    nodes[900], nodes[901] = (2600.0, 0.0), (2600.0, 1000.0)
    ways.append(([900, 901], {"highway": "residential", "maxspeed": "36"}))
    if track_and_ferry:   # long ways round the region, from grid corners straight to the piece's ends
        nodes.update({911: (-1000.0, -2000.0), 912: (3600.0, -2000.0), 921: (-1000.0, 3000.0), 922: (3600.0, 3000.0)})
        ways.append(([grid_node(0, 0), 911, 912, 900], dict(track_tags or {"highway": "track"})))
        ways.append(([grid_node(0, 2), 921, 922, 901], {"route": "ferry"}))
    write_osm(tiny_region.parent / "roads.osm", nodes, ways)


def set_ambulance(tiny_region, settings: str) -> None:
    """Replace the scenario's [travel.profiles.ambulance] table by ``settings`` (TOML lines; none when
    empty), keeping every other table; fails unless the scenario then reads exactly these settings."""
    head, found, tail = tiny_region.read_text().partition("[travel.profiles.ambulance]\n")
    text = head + (tail[tail.index("\n[") + 1:] if found else "")   # the old table, up to the next one
    if settings:
        text = text.replace("[outputs]", f"[travel.profiles.ambulance]\n{settings}\n\n[outputs]")
    tiny_region.write_text(text)
    scn = load_scenario(tiny_region)
    assert scn.travel_overrides.get("ambulance", {}) == tomllib.loads(settings)
    assert scn.raw["outputs"]["cache_dir"] == "cache"     # the tables after it are still there


def times(tiny_region, track_and_ferry: bool, speeds: str, cache: str | None = None,
          track_tags: dict | None = None) -> np.ndarray:
    """EMS response minutes per cell, with the roads of :func:`_with_track_and_ferry` and the ambulance
    settings ``speeds``, the roads cached in the folder ``cache`` (a fresh one when not given)."""
    _with_track_and_ferry(tiny_region, track_and_ferry, track_tags)
    set_ambulance(tiny_region, speeds)
    scn = load_scenario(tiny_region)
    folder = tiny_region.parent / (cache or "cache-fresh")
    if cache is None:
        shutil.rmtree(folder, ignore_errors=True)
    scn.cache_dir = folder
    return run(scn, quiet=True, isochrones=False).cells["ems_response_time_min"].to_numpy()


def test_zero_speeds_route_exactly_as_if_the_track_and_ferry_were_not_there(tiny_region):
    """Speed 0 for the track class and the ferry: the ways are gone for the ambulance. The cells of the
    piece x = 2600 then walk to the grid exactly as when the file has no track or ferry, while either
    way driven (track 20 km/h, or ferry alone at 10 km/h) takes them onto the piece's own road."""
    without = times(tiny_region, False, "")
    both = times(tiny_region, True, "speeds_kmh = { track = 20 }\nferry_kmh = 10")
    assert (np.abs(both - without) > 1).sum() > 10        # the isolated piece is joined: its cells route on
    ferry_only = times(tiny_region, True, "speeds_kmh = { track = 0 }\nferry_kmh = 10")
    assert (np.abs(ferry_only - without) > 1).sum() > 10 and not np.array_equal(ferry_only, both)
    zero = times(tiny_region, True, "speeds_kmh = { track = 0 }\nferry_kmh = 0")
    assert np.array_equal(zero, without)
    # a posted limit on the track does not bring back a class set to 0 (it still sets a driven one's speed)
    posted = {"highway": "track", "maxspeed": "30"}
    assert np.array_equal(times(tiny_region, True, "speeds_kmh = { track = 0 }\nferry_kmh = 0", track_tags=posted),
                          without)
    driven = times(tiny_region, True, "speeds_kmh = { track = 20 }\nferry_kmh = 0", track_tags=posted)
    assert (np.abs(driven - without) > 1).sum() > 10
    assert not np.array_equal(driven, times(tiny_region, True, "speeds_kmh = { track = 20 }\nferry_kmh = 0"))

