"""Real OSM quirks, read from the same small data written as OSM XML (osmnx) and as PBF (pyrosm)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import X0, Y0, lonlat, write_osm

from coverage_planner.errors import InputError
from coverage_planner.network import largest_component, travel_profile, with_speeds
from coverage_planner.roads import load_roads

UTM = "EPSG:32648"
NODES = {1: (0, 0), 2: (1000, 0), 3: (2000, 0), 4: (3000, 0), 5: (1000, 1000), 6: (2000, 1000),
         7: (0, -500), 8: (3000, -500), 10: (5000, 0), 11: (6000, 0), 12: (5000, 2000), 13: (6000, 2000)}
WAYS = [
    ([1, 2], {"highway": "primary", "maxspeed": "50 mph"}),
    ([2, 3], {"highway": "secondary", "maxspeed": "CN:urban"}),
    ([3, 4], {"highway": "tertiary", "maxspeed": "50;60"}),
    ([2, 5], {"highway": "residential", "oneway": "-1"}),
    ([5, 6], {"highway": "residential"}),
    ([5, 6], {"highway": "residential"}),          # a duplicate way
    ([7, 8], {"railway": "rail"}),                 # not a road
    ([3, 6], {"highway": "footway"}),              # not driveable
    ([10, 11], {"highway": "residential"}),        # island reached by ferry
    ([4, 10], {"route": "ferry"}),
    ([12, 13], {"highway": "residential"}),        # island with no link at all
]


def write_pbf(path: Path) -> None:
    import osmium

    writer = osmium.SimpleWriter(str(path))
    for nid, (x, y) in sorted(NODES.items()):
        writer.add_node(osmium.osm.mutable.Node(id=nid, location=lonlat(X0 + x, Y0 + y), version=1))
    for k, (refs, tags) in enumerate(WAYS, start=1):
        writer.add_way(osmium.osm.mutable.Way(id=k, nodes=refs, tags=tags, version=1))
    writer.close()


@pytest.fixture(params=["xml", "pbf"])
def quirky(request, tmp_path):
    path = tmp_path / ("quirks.osm" if request.param == "xml" else "quirks.osm.pbf")
    write_osm(path, NODES, WAYS) if request.param == "xml" else write_pbf(path)
    return load_roads(path, UTM)


def seg_between(net, p, q):
    """Index of the segment joining the nodes at positions p and q (metres from the origin)."""
    xy = np.column_stack([net.node_x - X0, net.node_y - Y0])
    ip = int(np.argmin(np.hypot(*(xy - p).T)))
    iq = int(np.argmin(np.hypot(*(xy - q).T)))
    hits = np.flatnonzero(((net.seg_a == ip) & (net.seg_b == iq)) | ((net.seg_a == iq) & (net.seg_b == ip)))
    return hits, ip, iq


def test_non_roads_dropped_and_duplicates_merged(quirky):
    assert "rail" not in set(quirky.seg_highway) and "railway" not in set(quirky.seg_highway)
    hits, _, _ = seg_between(quirky, NODES[5], NODES[6])
    assert len(hits) == 1 and quirky.seg_fwd[hits[0]] and quirky.seg_bwd[hits[0]]
    assert len(seg_between(quirky, NODES[7], NODES[8])[0]) == 0


def test_maxspeed_values(quirky):
    speed = lambda p, q: quirky.seg_maxspeed[seg_between(quirky, NODES[p], NODES[q])[0][0]]  # noqa: E731
    assert speed(1, 2) == pytest.approx(50 * 1.609344)
    assert np.isnan(speed(2, 3))            # CN:urban: China has no implicit urban limit in OSM
    assert speed(3, 4) == pytest.approx(50)  # a list: the lower value


def test_reverse_oneway(quirky):
    (s,), i2, i5 = seg_between(quirky, NODES[2], NODES[5])
    allowed_from_5 = quirky.seg_bwd[s] if quirky.seg_a[s] == i2 else quirky.seg_fwd[s]
    allowed_from_2 = quirky.seg_fwd[s] if quirky.seg_a[s] == i2 else quirky.seg_bwd[s]
    assert allowed_from_5 and not allowed_from_2


def test_ferry_links_island_and_cut_off_island(quirky):
    (s,), _, _ = seg_between(quirky, NODES[4], NODES[10])
    assert quirky.seg_ferry[s] and quirky.seg_fwd[s] and quirky.seg_bwd[s]
    net = with_speeds(quirky, travel_profile("ambulance"))
    assert "footway" not in set(net.seg_highway)
    assert net.seg_speed_kmh[net.seg_ferry][0] == pytest.approx(10.0)
    linked = largest_component(net)
    ferry_island = seg_between(net, NODES[10], NODES[11])[0][0]
    lost_island = seg_between(net, NODES[12], NODES[13])[0][0]
    assert linked[ferry_island] and not linked[lost_island]


def test_truncated_pbf_is_a_clear_error(tmp_path):
    source = Path(__file__).resolve().parents[1].parent / "shared" / "geodata" / "liechtenstein.osm.pbf"
    if not source.exists():
        pytest.skip(f"real data not present: {source}")
    broken = tmp_path / "broken.osm.pbf"
    broken.write_bytes(source.read_bytes()[:600_000])
    with pytest.raises(InputError, match=r"truncated or corrupt.*download the extract again"):
        load_roads(broken, "EPSG:32632")


def test_graphml_from_fetch_osm_loads_like_the_xml(tmp_path):
    """`coverage-planner fetch osm` saves GraphML; the road loader reads it to the same segments."""
    import osmnx as ox

    xml = tmp_path / "quirks.osm"
    write_osm(xml, NODES, WAYS)
    graphml = tmp_path / "quirks.graphml"
    ox.io.save_graphml(ox.graph_from_xml(xml, simplify=False, retain_all=True), graphml)
    a, b = load_roads(xml, UTM), load_roads(graphml, UTM)
    assert a.n_segments == b.n_segments and sorted(a.seg_highway) == sorted(b.seg_highway)
    assert np.isclose(a.seg_length.sum(), b.seg_length.sum())
