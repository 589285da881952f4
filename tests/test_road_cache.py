"""The road cache (roads.py, ``roads-v4``) never serves a network built for other settings or another
file: same results in one cache folder as in fresh ones, whatever ran there before."""

from __future__ import annotations

import os
import shutil
from dataclasses import fields

import numpy as np
import shapely
from conftest import X0, Y0, lonlat, tiny_grid, write_osm
from test_exact_answers import times

from coverage_planner.network import RoadNetwork, travel_profile, with_speeds
from coverage_planner.progress import Steps
from coverage_planner.region import load_region
from coverage_planner.roads import load_roads, scenario_clip
from coverage_planner.scenario import load_scenario

UTM = "EPSG:32648"
ZERO = "speeds_kmh = { track = 0 }\nferry_kmh = 0"
BOTH = "speeds_kmh = { track = 20 }\nferry_kmh = 10"


def assert_same_network(a: RoadNetwork, b: RoadNetwork) -> None:
    """Every array of the two networks equal (geometries exactly)."""
    for f in fields(RoadNetwork):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if f.name == "seg_geometry":
            assert shapely.equals_exact(x, y, tolerance=0.0).all()
        elif isinstance(x, np.ndarray):
            assert np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def _grid_file(path, speed: str) -> None:
    """The tiny street grid and the piece x = 2600, every way posted at ``speed`` km/h (two digits)."""
    nodes, ways = tiny_grid(lambda j: {"highway": "residential", "maxspeed": speed},
                            lambda i: {"highway": "residential", "maxspeed": speed})
    nodes[900], nodes[901] = (2600.0, 0.0), (2600.0, 1000.0)
    ways.append(([900, 901], {"highway": "residential", "maxspeed": speed}))
    write_osm(path, nodes, ways)


def test_a_rewritten_file_with_the_same_size_and_time_is_read_again(tmp_path):
    """36 → 72 km/h: the same number of bytes, and the old modification time put back (as a copy that
    keeps times, or two writes within the file system's timestamp granularity, leave it)."""
    osm, cache = tmp_path / "roads.osm", tmp_path / "cache"
    _grid_file(osm, "36")
    before = osm.stat()
    assert np.all(load_roads(osm, UTM, cache).seg_maxspeed == 36.0)
    _grid_file(osm, "72")
    os.utime(osm, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (osm.stat().st_size, osm.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    again = load_roads(osm, UTM, cache)
    assert np.all(again.seg_maxspeed == 72.0)
    assert_same_network(again, load_roads(osm, UTM))          # what the file holds, read without a cache
    assert len(list(cache.glob("roads-*.npz"))) == 2


def test_each_clip_and_crs_gets_its_own_network_from_one_cache_folder(tmp_path):
    """A box that leaves out the piece x = 2600 gives one segment fewer; in one cache folder, in either
    order, each box and each CRS gives exactly the network read without a cache."""
    osm = tmp_path / "roads.osm"
    _grid_file(osm, "36")
    west, south = lonlat(X0 - 100, Y0 - 100)
    east, north = lonlat(X0 + 2300, Y0 + 1100)
    near = (round(west, 6), round(south, 6), round(east, 6), round(north, 6))
    settings = [(UTM, None), (UTM, near), ("EPSG:3857", None), (UTM, None), (UTM, near)]
    fresh = {s: load_roads(osm, s[0], clip=s[1]) for s in settings}
    assert fresh[(UTM, near)].n_segments == fresh[(UTM, None)].n_segments - 1
    for order in (settings, settings[::-1]):
        cache = tmp_path / f"cache-{order is settings}"
        for crs, clip in order:
            assert_same_network(load_roads(osm, crs, cache, clip=clip), fresh[(crs, clip)])
        assert len(list(cache.glob("roads-*.npz"))) == 3


def test_speed_settings_reuse_the_cached_network_and_clip_settings_key_a_new_one(tiny_region):
    """The cache holds the ways as read, with no speeds: the ambulance's speeds, ferry speed and
    maxspeed factor, a rule's travel profile and the standards rules reuse one cached network; settings
    that widen or narrow the clip box (the top max_kmh of the profiles, the sub-centre minutes) get their own. For
    every setting, the network from the shared folder is the one a fresh folder builds."""
    base = tiny_region.read_text()
    settings = [
        "",
        "[travel.profiles.ambulance]\n" + ZERO,
        "[travel.profiles.ambulance]\n" + BOTH + "\nmaxspeed_factor = 0.5",
        '[standards.overrides.ems_response]\ntravel_profile = "car"',
        "[travel.profiles.car]\nmax_kmh = 60",
        "[subcentres]\nminutes = 45",
        "",
    ]
    shared, boxes = tiny_region.parent / "shared-cache", set()
    for extra in settings:
        tiny_region.write_text(base.replace("[outputs]", f"{extra}\n\n[outputs]") if extra else base)
        scn = load_scenario(tiny_region)
        scn.cache_dir = shared
        cached = load_region(scn, Steps(True))
        assert cached.roads.seg_speed_kmh is None
        shutil.rmtree(tiny_region.parent / "fresh", ignore_errors=True)
        scn.cache_dir = tiny_region.parent / "fresh"
        fresh = load_region(scn, Steps(True))
        assert_same_network(cached.roads, fresh.roads)
        boxes.add(scenario_clip(scn, fresh.region, fresh.crs, fresh.facilities.geometry))
    assert len(boxes) == 3                                      # default, car max_kmh 60, 45 minutes
    assert len(list(shared.glob("roads-*.npz"))) == len(boxes)


def test_zero_speed_results_are_the_same_in_one_cache_folder_and_in_fresh_ones(tiny_region):
    """Track and ferry at 0 km/h, run twice in fresh cache folders and twice in one folder with the ways
    driven in between: the same minutes every time (those of the file without the ways, per
    test_exact_answers), and the shared folder holds one cached network, written once."""
    first = times(tiny_region, True, ZERO)
    assert np.array_equal(times(tiny_region, True, ZERO), first)
    shared = times(tiny_region, True, ZERO, cache="shared")
    cached = list((tiny_region.parent / "shared").glob("roads-*.npz"))
    assert len(cached) == 1
    written = cached[0].stat().st_mtime_ns
    driven = times(tiny_region, True, BOTH, cache="shared")
    again = times(tiny_region, True, ZERO, cache="shared")
    assert np.array_equal(shared, first) and np.array_equal(again, first)
    assert (np.abs(driven - first) > 1).sum() > 10              # the settings in between did change the answer
    assert list((tiny_region.parent / "shared").glob("roads-*.npz")) == cached
    assert cached[0].stat().st_mtime_ns == written


def test_a_zero_class_is_dropped_whatever_its_posted_maxspeed():
    """with_speeds: track posted at 30 km/h is driven at 30 when the class has a speed, and is gone at
    track = 0; a ferry at ferry_kmh = 0 is gone too."""
    line = shapely.LineString
    net = RoadNetwork(
        crs=UTM, node_x=np.array([0.0, 100.0, 200.0, 300.0]), node_y=np.zeros(4),
        seg_a=np.array([0, 1, 2]), seg_b=np.array([1, 2, 3]), seg_length=np.full(3, 100.0),
        seg_highway=np.array(["track", "residential", "ferry"], dtype=object),
        seg_maxspeed=np.array([30.0, np.nan, np.nan]), seg_fwd=np.ones(3, bool), seg_bwd=np.ones(3, bool),
        seg_geometry=np.array([line([(100 * k, 0), (100 * k + 100, 0)]) for k in range(3)]),
        seg_ferry=np.array([False, False, True]))
    driven = with_speeds(net, travel_profile("ambulance"))
    np.testing.assert_array_equal(driven.seg_speed_kmh, [30.0, 25.0, 10.0])
    no_track = with_speeds(net, travel_profile("ambulance", {"speeds_kmh": {"track": 0}}))
    np.testing.assert_array_equal(no_track.seg_a, [1, 2])
    neither = with_speeds(net, travel_profile("ambulance", {"speeds_kmh": {"track": 0}, "ferry_kmh": 0}))
    np.testing.assert_array_equal(neither.seg_a, [1])
    np.testing.assert_array_equal(neither.seg_speed_kmh, [25.0])


def test_the_cache_folder_keeps_the_most_recently_written_networks(tmp_path, monkeypatch):
    """With room for 2: a third network (another CRS) removes the oldest file, never one being
    written; the removed one is read from the OSM file again, the same network."""
    from coverage_planner import roads

    monkeypatch.setattr(roads, "CACHE_KEEP", 2)
    osm, cache = tmp_path / "roads.osm", tmp_path / "cache"
    _grid_file(osm, "36")
    crss = ["EPSG:32648", "EPSG:32647", "EPSG:3857"]
    fresh = {crs: load_roads(osm, crs) for crs in crss}
    written = []
    for k, crs in enumerate(crss):
        load_roads(osm, crs, cache)
        new = {f for f in cache.glob("roads-*.npz") if ".tmp." not in f.name} - set(written)
        written += sorted(new)
        if k == 0:
            (cache / "roads-0000000000000000.4242.tmp.npz").write_bytes(b"being written")
        for i, f in enumerate(written):   # distinct past write times, in order, whatever the granularity
            if f.exists():
                os.utime(f, ns=(10**18 + i * 10**9, 10**18 + i * 10**9))     # 2001-09-09 plus i seconds
    left = sorted(f.name for f in cache.glob("roads-*.npz") if ".tmp." not in f.name)
    assert len(written) == 3 and left == sorted(f.name for f in written[1:])
    assert (cache / "roads-0000000000000000.4242.tmp.npz").exists()
    assert_same_network(load_roads(osm, crss[0], cache), fresh[crss[0]])


def test_a_cut_short_cache_file_is_read_again_from_the_osm_file(tmp_path):
    osm, cache = tmp_path / "roads.osm", tmp_path / "cache"
    _grid_file(osm, "36")
    first = load_roads(osm, UTM, cache)
    (path,) = cache.glob("roads-*.npz")
    path.write_bytes(path.read_bytes()[:200])          # as a full disk or a killed writer would leave it
    assert_same_network(load_roads(osm, UTM, cache), first)
