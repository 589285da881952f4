"""The travel engine on hand-built networks with known travel times, and a networkx cross-check."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from nxref import reference_costs

from coverage_planner.network import (RoadNetwork, largest_component, parse_maxspeed, segments_from_directed_edges,
                                      travel_profile, with_speeds)
from coverage_planner.travel import Router, snap


def network(nodes, segs, oneway=()):
    """Segments (a, b) between nodes (x, y); all two-way except those in ``oneway`` (a → b only)."""
    x = np.array([p[0] for p in nodes], float)
    y = np.array([p[1] for p in nodes], float)
    a = np.array([s[0] for s in segs])
    b = np.array([s[1] for s in segs])
    geoms = shapely.linestrings(np.stack([np.column_stack([x[a], y[a]]), np.column_stack([x[b], y[b]])], axis=1))
    n = len(segs)
    return RoadNetwork("EPSG:32648", x, y, a, b, shapely.length(geoms), np.full(n, "primary", dtype=object),
                       np.full(n, np.nan), np.ones(n, bool), np.array([i not in oneway for i in range(n)]), geoms)


# A square 0-1-2-3 of 1 km sides (10 m/s → 100 s per side); side 1→2 is one-way.
SQUARE = [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]
SIDES = [(0, 1), (1, 2), (2, 3), (3, 0)]


def test_one_way_makes_directions_differ():
    net = network(SQUARE, SIDES, oneway={1})
    secs = net.seg_length / 10.0
    fac = snap(net, [0.0], [-50.0])                 # 50 m south of node 0: access 50 m
    cell = snap(net, [1050.0], [500.0])             # 50 m east of the middle of side 1→2
    assert fac.access_m[0] == pytest.approx(50) and cell.frac[0] == pytest.approx(0.5)
    out, _ = Router(net, secs, "from_facility").nearest(fac, [10.0], cell, [5.0])
    # 0 → 1 (100 s) then half of 1→2 (50 s), plus offsets 10 + 5
    assert out[0] == pytest.approx(165.0)
    back, _ = Router(net, secs, "to_facility").nearest(fac, [10.0], cell, [5.0])
    # the cell can only drive on to node 2 (50 s), then 2 → 3 → 0 (200 s)
    assert back[0] == pytest.approx(265.0)


def test_unreachable_label_and_inclusive_limit():
    net = network(SQUARE + [(5000, 0), (6000, 0)], SIDES + [(4, 5)])
    secs = net.seg_length / 10.0
    fac = snap(net, [0.0], [0.0])
    cells = snap(net, [500.0, 5500.0], [0.0, 0.0])
    router = Router(net, secs)
    cost, label = router.nearest(fac, [0.0], cells, [0.0])
    assert cost[0] == pytest.approx(50.0) and label[0] == 0
    assert np.isinf(cost[1]) and label[1] == -1
    exact = router.bounded(fac, [0.0], cells, [0.0], limit=50.0)
    assert exact.nnz == 1 and exact[0, 0] == pytest.approx(50.0)     # exactly at the limit: inside
    assert router.bounded(fac, [0.0], cells, [0.0], limit=50.0 - 1e-6).nnz == 0


def test_territories_and_explicit_zero_costs():
    net = network(SQUARE, SIDES)
    secs = net.seg_length / 10.0
    facs = snap(net, [0.0, 1000.0], [0.0, 1000.0])                   # on nodes 0 and 2
    cells = snap(net, [300.0, 1000.0, 0.0], [0.0, 700.0, 0.0])
    router = Router(net, secs)
    cost, label = router.nearest(facs, [0.0, 0.0], cells, [0.0, 0.0, 0.0])
    assert cost.tolist() == pytest.approx([30.0, 30.0, 0.0]) and label.tolist() == [0, 1, 0]
    m = router.bounded(facs, [0.0, 0.0], cells, [0.0, 0.0, 0.0], limit=100.0)
    row = slice(m.indptr[2], m.indptr[3])                            # the cell on facility 0's node
    assert 0 in m.indices[row] and m.data[row][list(m.indices[row]).index(0)] == 0.0
    assert [m.data[m.indptr[r]:m.indptr[r + 1]].min() for r in range(3)] == pytest.approx(cost)


def test_parallel_edges_keep_the_cheapest():
    net = network(SQUARE, SIDES + [(0, 1)])                          # a second 0–1 edge, 5× slower
    secs = net.seg_length / 10.0
    secs[-1] = 500.0
    cost, _ = Router(net, secs).nearest(snap(net, [0.0], [0.0]), [0.0], snap(net, [1000.0], [300.0]), [0.0])
    assert cost[0] == pytest.approx(130.0)


def test_bounded_agrees_with_nearest_and_networkx():
    rng = np.random.default_rng(5)
    side = 45
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    nodes = list(zip((i * 100 + rng.uniform(-20, 20, i.shape)).ravel(), (j * 100 + rng.uniform(-20, 20, j.shape)).ravel()))
    ids = np.arange(side * side).reshape(side, side)
    segs = list(zip(ids[:-1].ravel(), ids[1:].ravel())) + list(zip(ids[:, :-1].ravel(), ids[:, 1:].ravel()))
    keep = rng.random(len(segs)) > 0.1
    segs = [s for s, k in zip(segs, keep) if k]
    oneway = set(np.flatnonzero(rng.random(len(segs)) < 0.1).tolist())
    net = network(nodes, segs, oneway)
    secs = net.seg_length / rng.uniform(5, 20, net.n_segments)
    fac = snap(net, rng.uniform(0, 4400, 5), rng.uniform(0, 4400, 5))
    cells = snap(net, rng.uniform(0, 4400, 200), rng.uniform(0, 4400, 200))
    src_off, dst_off = rng.uniform(0, 60, 5), cells.access_m / 1.4
    for direction in ("from_facility", "to_facility"):
        router = Router(net, secs, direction)
        cost, _ = router.nearest(fac, src_off, cells, dst_off)
        ref = reference_costs(net, secs, direction, fac, src_off, cells, dst_off, np.arange(200))
        assert np.array_equal(np.isfinite(cost), np.isfinite(ref))
        assert np.max(np.abs(cost[np.isfinite(ref)] - ref[np.isfinite(ref)])) < 1e-6
        m = router.bounded(fac, src_off, cells, dst_off, limit=400.0)
        best = np.full(200, np.inf)
        for r in range(200):
            if m.indptr[r + 1] > m.indptr[r]:
                best[r] = m.data[m.indptr[r]:m.indptr[r + 1]].min()
        within = cost <= 400.0
        assert np.allclose(best[within], cost[within]) and np.isinf(best[~within]).all()


def test_speeds_segments_and_components():
    assert parse_maxspeed("50") == 50 and parse_maxspeed("50 mph") == pytest.approx(80.4672)
    assert parse_maxspeed("80 km/h") == 80 and np.isnan(parse_maxspeed("CN:urban"))
    assert parse_maxspeed("50;60") == 50 and parse_maxspeed(["40", "60"]) == 40
    assert np.isnan(parse_maxspeed("none")) and np.isnan(parse_maxspeed("")) and np.isnan(parse_maxspeed(None))
    net = network(SQUARE, SIDES)
    net.seg_highway = np.array(["primary", "footway", "motorway", "residential"], dtype=object)
    net.seg_maxspeed = np.array([30.0, np.nan, 200.0, np.nan])
    fast = with_speeds(net, travel_profile("ambulance"))
    assert list(fast.seg_highway) == ["primary", "motorway", "residential"]     # footway dropped
    assert fast.seg_speed_kmh.tolist() == [30.0, 100.0, 25.0]                   # maxspeed, cap, class
    seg = segments_from_directed_edges(np.array([0, 1, 1]), np.array([1, 0, 2]), np.array([10.0, 10.0, 5.0]),
                                       np.array([shapely.LineString([(0, 0), (10, 0)]),
                                                 shapely.LineString([(10, 0), (0, 0)]),
                                                 shapely.LineString([(10, 0), (15, 0)])], dtype=object))
    assert seg["seg_fwd"].tolist() == [True, True] and seg["seg_bwd"].tolist() == [True, False]
    big = network(SQUARE + [(5000, 0), (6000, 0)], SIDES + [(4, 5)])
    assert largest_component(big).tolist() == [True] * 4 + [False]
