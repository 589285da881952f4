"""Known-answer tests for the travel-time engine (coverage_planner.travel) and the road arrays
(coverage_planner.network).

Hand-built networks use 36 km/h = 10 m/s roads so that times are round numbers, and the ambulance
profile's access speed of 5 km/h, at which a 50 m access leg takes exactly 36 s. A random road-like
network of 2,000+ nodes is cross-checked against an independent networkx model.
"""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest
import shapely

from coverage_planner.network import (
    TRAVEL_PROFILES, RoadNetwork, build_graph, largest_component, parse_maxspeed,
    seconds_per_segment, segments_from_directed_edges, travel_profile, with_speeds,
)
from coverage_planner.travel import FROM_FACILITY, TO_FACILITY, Router, Snapped, snap

ACCESS_MPS = TRAVEL_PROFILES["ambulance"]["access_kmh"] / 3.6   # 5 km/h
INF = math.inf


def make_net(nodes, segs, speed_kmh=36.0, geometry=None, length=None) -> RoadNetwork:
    """RoadNetwork from node coordinates and (a, b, fwd, bwd) tuples; straight 2-point geometries."""
    nodes = np.asarray(nodes, float)
    a = np.array([s[0] for s in segs], dtype=np.int64)
    b = np.array([s[1] for s in segs], dtype=np.int64)
    fwd = np.array([s[2] for s in segs], dtype=bool)
    bwd = np.array([s[3] for s in segs], dtype=bool)
    geoms = shapely.linestrings(np.stack([nodes[a], nodes[b]], axis=1)) if geometry is None \
        else np.asarray(geometry, dtype=object)
    n = len(a)
    return RoadNetwork(
        crs="EPSG:32648", node_x=nodes[:, 0].copy(), node_y=nodes[:, 1].copy(), seg_a=a, seg_b=b,
        seg_length=shapely.length(geoms) if length is None else np.asarray(length, float),
        seg_highway=np.full(n, "residential", dtype=object), seg_maxspeed=np.full(n, np.nan),
        seg_fwd=fwd, seg_bwd=bwd, seg_geometry=geoms,
        seg_speed_kmh=np.broadcast_to(np.asarray(speed_kmh, float), (n,)).copy())


def snapped(seg, frac, access=None) -> Snapped:
    seg = np.atleast_1d(np.asarray(seg, dtype=np.int64))
    frac = np.atleast_1d(np.asarray(frac, float))
    access = np.zeros(len(seg)) if access is None else np.atleast_1d(np.asarray(access, float))
    return Snapped(seg, frac, access)


def dense(mat) -> np.ndarray:
    """Bounded matrix as dense costs, inf where no entry is stored (explicit zeros kept)."""
    out = np.full(mat.shape, np.inf)
    coo = mat.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


# --------------------------------------------------------------------------------------------------
# The hand-built network
#
#   4 (0,1000) ────── s3: 2000 m, two-way ────── 3 (2000,1000)
#   │                                            ▲
#   s4 (a=4 → b=0), two-way                      s2: 2 → 3 ONE-WAY (northbound only)
#   │                                            │
#   0 (0,0) ── s0: two-way ── 1 (1000,0) ── s1 ── 2 (2000,0)          5 ── s5 ── 6 (isolated, far away)
#
# Facilities: F0 at (200, -50) on s0 (frac 0.2, 50 m off the road), turnout 60 s;
#             F1 at (2050, 800) on s2 (frac 0.8, 50 m off the road), no turnout.
# Cells:      C0 (2050, 500) on s2, C1 (-50, 500) on s4, C2 (1000, 1050) on s3, C3 on the isolated s5,
#             C4 (1800, 1050) on s3 near node 3.  Every access leg is 50 m = 36 s.
# --------------------------------------------------------------------------------------------------

NODES = [(0, 0), (1000, 0), (2000, 0), (2000, 1000), (0, 1000), (5000, 5000), (6000, 5000)]
SEGS = [(0, 1, True, True), (1, 2, True, True), (2, 3, True, False), (3, 4, True, True),
        (4, 0, True, True), (5, 6, True, True)]
FAC_XY = ([200.0, 2050.0], [-50.0, 800.0])
TURNOUT = np.array([60.0, 0.0])
CELL_XY = ([2050.0, -50.0, 1000.0, 5500.0, 1800.0], [500.0, 500.0, 1050.0, 5050.0, 1050.0])


@pytest.fixture(scope="module")
def square():
    net = make_net(NODES, SEGS)
    fac = snap(net, *FAC_XY)
    cells = snap(net, *CELL_XY)
    return net, fac, cells


def test_hand_network_snaps_where_drawn(square):
    net, fac, cells = square
    np.testing.assert_array_equal(fac.seg, [0, 2])
    np.testing.assert_allclose(fac.frac, [0.2, 0.8], atol=1e-12)
    np.testing.assert_allclose(fac.access_m, [50.0, 50.0], atol=1e-9)
    np.testing.assert_array_equal(cells.seg, [2, 4, 3, 5, 3])
    np.testing.assert_allclose(cells.frac, [0.5, 0.5, 0.5, 0.5, 0.1], atol=1e-12)
    np.testing.assert_allclose(cells.access_m, 50.0, atol=1e-9)
    assert 50.0 / ACCESS_MPS == pytest.approx(36.0, abs=1e-9)
    np.testing.assert_allclose(seconds_per_segment(net), [100, 100, 100, 200, 100, 100], atol=1e-9)


def _hand_times(square, direction, turnout=TURNOUT, which=None):
    net, fac, cells = square
    router = Router(net, seconds_per_segment(net), direction)
    src_off = turnout + fac.access_m / ACCESS_MPS
    if which is not None:
        fac, src_off = fac.take(np.asarray(which)), src_off[np.asarray(which)]
    return router.nearest(fac, src_off, cells, cells.access_m / ACCESS_MPS)


def test_hand_network_from_facility_times_and_territories(square):
    # F0 reaches node 0 at 60+36+20 = 116 s and node 1 at 176 s; F1 can only leave northbound to node 3
    # (36+20 = 56 s). C0 is 300 m down the one-way street from F1 but F1 must drive all the way round.
    cost, label = _hand_times(square, FROM_FACILITY)
    np.testing.assert_allclose(cost, [362.0, 202.0, 192.0, INF, 112.0], atol=1e-9)
    np.testing.assert_array_equal(label, [0, 0, 1, -1, 1])


def test_hand_network_to_facility_times_and_territories(square):
    # Patients drive towards the clinic: C0 drives 300 m north up its own one-way street straight to F1
    # (36 + 30 + 36 s); nothing north of the one-way street can reach F1 (it is approached from node 2).
    cost, label = _hand_times(square, TO_FACILITY)
    np.testing.assert_allclose(cost, [102.0, 202.0, 352.0, INF, 432.0], atol=1e-9)
    np.testing.assert_array_equal(label, [1, 0, 0, -1, 0])


def test_one_way_street_gives_different_times_per_direction(square):
    # F1 alone: F1 → C0 may not drive south on the one-way street, so it goes round 3,4,0,1,2 and up
    # half of s2; C0 → F1 drives 300 m north along the same street.
    from_f1, _ = _hand_times(square, FROM_FACILITY, which=[1])
    to_f1, _ = _hand_times(square, TO_FACILITY, which=[1])
    assert from_f1[0] == pytest.approx(36 + 20 + 500 + 50 + 36, abs=1e-9)       # 642 s
    assert to_f1[0] == pytest.approx(36 + 30 + 36, abs=1e-9)                     # 102 s
    from_f0, _ = _hand_times(square, FROM_FACILITY, which=[0])
    to_f0, _ = _hand_times(square, TO_FACILITY, which=[0])
    assert from_f0[0] == pytest.approx(362.0, abs=1e-9)
    assert to_f0[0] == pytest.approx(502.0, abs=1e-9)


def test_turnout_is_added_at_the_source(square):
    with_turnout, _ = _hand_times(square, FROM_FACILITY, which=[0])
    without, _ = _hand_times(square, FROM_FACILITY, turnout=np.zeros(2), which=[0])
    finite = np.isfinite(without)
    np.testing.assert_allclose(with_turnout[finite] - without[finite], 60.0, atol=1e-9)
    assert without[1] == pytest.approx(36 + 20 + 50 + 36, abs=1e-9)   # F0 → node 0 → C1: 142 s


def test_access_leg_walked_at_access_speed(square):
    net, fac, cells = square
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    no_access, _ = router.nearest(fac.take([0]), np.zeros(1), cells, np.zeros(len(cells)))
    walked, _ = router.nearest(fac.take([0]), fac.access_m[:1] / ACCESS_MPS, cells, cells.access_m / ACCESS_MPS)
    assert no_access[1] == pytest.approx(20 + 50, abs=1e-9)
    assert walked[1] == pytest.approx(36 + 20 + 50 + 36, abs=1e-9)


def test_unreachable_cell_is_inf_with_label_minus_one(square):
    for direction in (FROM_FACILITY, TO_FACILITY):
        cost, label = _hand_times(square, direction)
        assert cost[3] == INF and label[3] == -1
        net, fac, cells = square
        router = Router(net, seconds_per_segment(net), direction)
        m = router.bounded(fac, TURNOUT + 36.0, cells, np.full(len(cells), 36.0), 1e9)
        assert m[3].nnz == 0
        assert m.shape == (5, 2)


def test_distances_in_metres(square):
    net, fac, cells = square
    for direction in (FROM_FACILITY, TO_FACILITY):
        router = Router(net, net.seg_length, direction)
        cost, label = router.nearest(fac.take([0]), fac.access_m[:1], cells, cells.access_m)
        # F0 → node 0 (200 m) → node 4 (1000 m) → half of s3 (1000 m), plus 50 m at each end.
        assert cost[2] == pytest.approx(50 + 200 + 1000 + 1000 + 50, abs=1e-9)
        assert cost[1] == pytest.approx(50 + 200 + 500 + 50, abs=1e-9)
    from_m, _ = Router(net, net.seg_length, FROM_FACILITY).nearest(fac.take([0]), [50.0], cells, cells.access_m)
    to_m, _ = Router(net, net.seg_length, TO_FACILITY).nearest(fac.take([0]), [50.0], cells, cells.access_m)
    assert from_m[0] == pytest.approx(50 + 800 + 1000 + 500 + 50, abs=1e-9)            # 2400 m
    assert to_m[0] == pytest.approx(50 + 500 + 2000 + 1000 + 200 + 50, abs=1e-9)      # 3800 m


@pytest.mark.parametrize("order", [(0, 1, 2), (1, 0, 2), (2, 1, 0), (1, 2, 0)])
def test_parallel_edges_keep_the_cheapest_per_direction(order):
    # Three roads between nodes 0 and 1: a straight two-way street (1000 m at 36 km/h = 100 s), a fast
    # one-way bypass 0 → 1 (2200 m at 144 km/h = 55 s) and a slow straight lane (1000 m at 18 km/h).
    nodes = [(0, 0), (1000, 0), (2000, 0)]
    straight = shapely.LineString([(0, 0), (1000, 0)])
    bypass = shapely.LineString([(0, 0), (0, -600), (1000, -600), (1000, 0)])
    roads = [((0, 1, True, True), straight, 36.0), ((0, 1, True, False), bypass, 144.0),
             ((0, 1, True, True), straight, 18.0)]
    roads = [roads[i] for i in order] + [((1, 2, True, True), shapely.LineString([(1000, 0), (2000, 0)]), 36.0)]
    net = make_net(nodes, [r[0] for r in roads], speed_kmh=[r[2] for r in roads],
                   geometry=[r[1] for r in roads])
    last = net.n_segments - 1
    at_2 = snapped(last, 1.0)                               # node 2, end of the last segment (1 → 2)
    src0 = snapped(int(np.flatnonzero(net.seg_speed_kmh == 36.0)[0]), 0.0)   # at node 0
    fwd = Router(net, seconds_per_segment(net), FROM_FACILITY)
    cost, _ = fwd.nearest(src0, [0.0], at_2, [0.0])
    assert cost[0] == pytest.approx(55.0 + 100.0, abs=1e-9)      # bypass, then 1 → 2
    back, _ = fwd.nearest(at_2, [0.0], snapped(src0.seg, 0.0), [0.0])
    assert back[0] == pytest.approx(100.0 + 100.0, abs=1e-9)     # the bypass is one-way: straight street back
    g = build_graph(net, seconds_per_segment(net))
    mat = g.matrix()
    assert mat[0, 1] == pytest.approx(55.0) and mat[1, 0] == pytest.approx(100.0)
    assert mat.nnz == 4                                          # 0→1, 1→0, 1→2, 2→1: one arc each


# --------------------------------------------------------------------------------------------------
# Bounded runs: the inclusive threshold, explicit zeros, agreement with nearest
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chain():
    # 0 ──(9000 m, 900 s)── 1 ──(1000 m, 100 s)── 2, both two-way
    return make_net([(0, 0), (9000, 0), (10000, 0)], [(0, 1, True, True), (1, 2, True, True)])


def test_bounded_threshold_is_inclusive(chain):
    net = chain
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    assert seconds_per_segment(net)[0] == 900.0
    src = snapped(0, 0.0)                               # at node 0, no offset
    # cell 0: at node 1 — reached only through node 1, which Dijkstra reaches at exactly 900.0 s;
    # cell 1: the same place + 1e-6 s; cell 2: halfway along s0 (450 s) + 450 s access;
    # cell 3: 10 m past node 1 (901 s).
    dst = snapped([1, 1, 0, 1], [0.0, 0.0, 0.5, 0.01])
    off = np.array([0.0, 1e-6, 450.0, 0.0])
    cost, _ = router.nearest(src, [0.0], dst, off)
    assert cost[0] == 900.0 and cost[1] == 900.0 + 1e-6 and cost[2] == 900.0
    assert cost[3] == pytest.approx(901.0, abs=1e-9)
    m = router.bounded(src, [0.0], dst, off, 900.0)
    assert m.shape == (4, 1)
    assert m[0].nnz == 1 and m[0, 0] == 900.0
    assert m[1].nnz == 0
    assert m[2].nnz == 1 and m[2, 0] == 900.0
    assert m[3].nnz == 0
    # a hair below the limit excludes the 900.0 s cells too
    below = router.bounded(src, [0.0], dst, off, 900.0 - 1e-6)
    assert below.nnz == 0


def test_bounded_threshold_with_turnout_and_access(chain):
    net = chain
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    src = snapped(0, 0.5)                               # halfway along s0, 450 s from node 1
    dst = snapped([1, 1], [0.0, 0.0], [50.0, 50.0])     # at node 1, 50 m off the road (36 s)
    m = router.bounded(src, [414.0], dst, [36.0, 36.0 + 1e-6], 900.0)
    assert m[0].nnz == 1 and m[0, 0] == pytest.approx(900.0, abs=1e-9)
    assert m[1].nnz == 0


def test_bounded_keeps_explicit_zero_costs(chain):
    net = chain
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    src = snapped([0, 1], [0.0, 0.0])                   # facility 0 on node 0, facility 1 on node 1
    dst = snapped([0, 1, 1], [0.0, 0.0, 0.5])           # cell 0 on node 0, cell 1 on node 1, cell 2 mid s1
    m = router.bounded(src, np.zeros(2), dst, np.zeros(3), 100.0)
    d = dense(m)
    assert m.nnz == 3
    assert m[0].indices.tolist() == [0] and m[0].data.tolist() == [0.0]
    assert sorted(m[1].indices.tolist()) == [1] and m[1].data.tolist() == [0.0]
    assert d[2, 1] == pytest.approx(50.0)
    assert np.isinf(d[1, 0]) and np.isinf(d[2, 0])      # 900 s away: beyond the limit
    cost, label = router.nearest(src, np.zeros(2), dst, np.zeros(3))
    np.testing.assert_allclose(cost, [0.0, 0.0, 50.0])
    np.testing.assert_array_equal(label, [0, 1, 1])


# --------------------------------------------------------------------------------------------------
# snap
# --------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_roads():
    # s0 west→east along y = 0 from x = 0 to 100; s1 east→west along y = 1000 (oriented b→a in x).
    return make_net([(0, 0), (100, 0), (100, 1000), (0, 1000)], [(0, 1, True, True), (2, 3, True, True)])


@pytest.mark.parametrize("x, y, seg, frac, access", [
    (30.0, 0.0, 0, 0.3, 0.0),        # on the road
    (40.0, 25.0, 0, 0.4, 25.0),      # beside it
    (70.0, -12.0, 0, 0.7, 12.0),     # beside it, other side
    (130.0, 40.0, 0, 1.0, 50.0),     # beyond the end b: 3-4-5 triangle to node 1
    (-30.0, -40.0, 0, 0.0, 50.0),    # before the start a
    (30.0, 990.0, 1, 0.7, 10.0),     # s1 runs from x = 100 to x = 0
    (130.0, 1040.0, 1, 0.0, 50.0),   # beyond s1's start (node 2)
])
def test_snap_segment_fraction_and_access(two_roads, x, y, seg, frac, access):
    s = snap(two_roads, [x], [y])
    assert s.seg.tolist() == [seg]
    assert s.frac[0] == pytest.approx(frac, abs=1e-12)
    assert s.access_m[0] == pytest.approx(access, abs=1e-9)


def test_snap_allowed_mask_and_many_points(two_roads):
    s = snap(two_roads, [40.0], [25.0], allowed=np.array([False, True]))
    assert s.seg.tolist() == [1] and s.frac[0] == pytest.approx(0.6) and s.access_m[0] == pytest.approx(975.0)
    # more points than one query chunk (50,000): the chunks must land at the right offsets
    rng = np.random.default_rng(3)
    n = 120_001
    x = rng.uniform(0, 100, n)
    near_top = rng.random(n) < 0.5
    y = np.where(near_top, 1000.0 - rng.uniform(1, 400, n), rng.uniform(1, 400, n))
    s = snap(two_roads, x, y)
    np.testing.assert_array_equal(s.seg, near_top.astype(int))
    np.testing.assert_allclose(s.frac, np.where(near_top, (100 - x) / 100, x / 100), atol=1e-9)
    np.testing.assert_allclose(s.access_m, np.where(near_top, 1000.0 - y, y), atol=1e-9)


def test_snap_rejects_missing_coordinates(two_roads):
    """Regression (fixed in 603832e): a NaN coordinate used to be left out of STRtree.query_nearest's
    answer, so its entry of the ``np.empty`` segment array was never written — an IndexError with a
    garbage index, or silently a random segment."""
    with pytest.raises(ValueError):
        snap(two_roads, [np.nan, 30.0], [np.nan, 0.0])
    with pytest.raises(ValueError):
        snap(two_roads, [30.0, np.inf], [0.0, 5.0])


# --------------------------------------------------------------------------------------------------
# Points exactly on a node: the same place must get the same time whichever segment it snapped to
# --------------------------------------------------------------------------------------------------

def _corner_net(one_way_into_corner: bool) -> RoadNetwork:
    # 3 (0,1000) ── two-way ── 2 (1000,1000)
    # │ two-way                 │ two-way
    # 0 (0,0) ── ONE-WAY ────── 1 (1000,0)   (0 → 1 or 1 → 0); strongly connected either way.
    oneway = (0, 1, True, False) if one_way_into_corner else (1, 0, True, False)
    return make_net([(0, 0), (1000, 0), (1000, 1000), (0, 1000)],
                    [oneway, (1, 2, True, True), (2, 3, True, True), (3, 0, True, True)])


@pytest.mark.parametrize("direction, one_way_into_corner", [(FROM_FACILITY, True), (TO_FACILITY, False)])
def test_point_at_node_end_of_one_way_segment(direction, one_way_into_corner):
    """Regression (fixed in 603832e): a point exactly at an end of a one-way segment (frac 0 or 1, where
    every point snaps that lies beyond the end of its nearest road, e.g. outside the corner of an L
    junction) is at that node. ``_along`` used to return inf for the disallowed direction even when
    ``share`` was 0, so the point was only reachable from the far end of the segment.

    Here a cell (or facility) sits outside corner node 1 at (1100, -100); STRtree picks the one-way
    segment 0–1 (tie with segment 1–2). The other party stands at node 2, 100 s up the two-way
    road: the true time is 100 s; the old engine said 300 s (round via nodes 3 and 0)."""
    net = _corner_net(one_way_into_corner)
    router = Router(net, seconds_per_segment(net), direction)
    at_node2 = snapped(1, 1.0)            # node 2, end of segment 1–2
    corner_on_oneway = snapped(0, 1.0 if one_way_into_corner else 0.0)
    corner_on_twoway = snapped(1, 0.0)
    ok, _ = router.nearest(at_node2, [0.0], corner_on_twoway, [0.0])
    assert ok[0] == pytest.approx(100.0)
    other, _ = router.nearest(at_node2, [0.0], corner_on_oneway, [0.0])
    snapped_real = snap(net, [1100.0], [-100.0])
    real, _ = router.nearest(at_node2, [0.0], snapped_real, [0.0])
    assert (other[0], real[0]) == pytest.approx((100.0, 100.0)), (
        f"same point on the other tied segment: {other[0]} s; as snap() put it (segment "
        f"{snapped_real.seg[0]}, frac {snapped_real.frac[0]}): {real[0]} s; expected 100 s")
    # bounded runs see the same
    m = router.bounded(at_node2, [0.0], corner_on_oneway, [0.0], 100.0)
    assert m.nnz == 1 and m.data[0] == pytest.approx(100.0)


def test_facility_at_node_start_of_one_way_segment():
    """The source side of the same regression (travel._leaving → _along): a station exactly at node a of a
    one-way a → b street leaves through node a at no cost (it used to have to drive the whole street)."""
    net = _corner_net(one_way_into_corner=False)        # one-way 1 → 0
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    station = snapped(0, 0.0)                             # at node 1, on the one-way segment's start
    cell_at_node2 = snapped(1, 1.0)
    cost, _ = router.nearest(station, [0.0], cell_at_node2, [0.0])
    assert cost[0] == pytest.approx(100.0), f"{cost[0]} s instead of 100 s (1 → 2 directly)"


def test_source_without_any_finite_arc():
    """Regression for 701d057: the last source has no finite arc (infinite turnout = out of service);
    the virtual-source rows must still be sized by the number of sources."""
    net = make_net(NODES, SEGS)
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    src = snapped([0, 2], [0.2, 0.8])
    dst = snapped([2, 4, 3], [0.5, 0.5, 0.5])
    cost, label = router.nearest(src, [0.0, np.inf], dst, np.zeros(3))
    alone, _ = router.nearest(src.take([0]), [0.0], dst, np.zeros(3))
    np.testing.assert_allclose(cost, alone)
    np.testing.assert_array_equal(label, [0, 0, 0])
    m = router.bounded(src, [0.0, np.inf], dst, np.zeros(3), 1e9)
    assert m.shape == (3, 2) and m[:, 1].nnz == 0


def test_cell_on_the_facilitys_own_segment():
    """Facility and cell on the same 2 km road, 100 m apart: 10 s of driving straight along it, not
    0.5·200 + 0.45·200 = 190 s via the segment's end and back."""
    net = make_net([(0, 0), (2000, 0)], [(0, 1, True, True)])
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    cost, _ = router.nearest(snapped(0, 0.5), [0.0], snapped(0, 0.55), [0.0])
    assert cost[0] == pytest.approx(10.0)


# --------------------------------------------------------------------------------------------------
# Cross-check on a random road-like network against an independent networkx model
# --------------------------------------------------------------------------------------------------

def random_road_network(side: int, rng: np.random.Generator) -> RoadNetwork:
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (i * 100.0 + rng.uniform(-25, 25, i.shape)).ravel()
    y = (j * 100.0 + rng.uniform(-25, 25, j.shape)).ravel()
    ids = np.arange(side * side).reshape(side, side)
    a = np.concatenate([ids[:-1, :].ravel(), ids[:, :-1].ravel()])
    b = np.concatenate([ids[1:, :].ravel(), ids[:, 1:].ravel()])
    keep = rng.random(len(a)) > 0.10
    a, b = a[keep], b[keep]
    flip = rng.random(len(a)) < 0.5                   # orientation a→b is arbitrary
    a, b = np.where(flip, b, a), np.where(flip, a, b)
    # a few parallel roads (same ends, own speed)
    par = rng.choice(len(a), 40, replace=False)
    a, b = np.concatenate([a, a[par]]), np.concatenate([b, b[par]])
    n = len(a)
    r = rng.random(n)
    fwd, bwd = r >= 0.08, (r < 0.04) | (r >= 0.08)    # 4% one-way a→b, 4% one-way b→a
    geoms = shapely.linestrings(np.stack([np.column_stack([x[a], y[a]]), np.column_stack([x[b], y[b]])], axis=1))
    length = shapely.length(geoms) * rng.uniform(1.0, 1.3, n)      # roads are not straight
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=y, seg_a=a, seg_b=b, seg_length=length,
                       seg_highway=np.full(n, "residential", dtype=object), seg_maxspeed=np.full(n, np.nan),
                       seg_fwd=fwd, seg_bwd=bwd, seg_geometry=geoms, seg_speed_kmh=rng.uniform(20, 80, n))


def points_near_roads(net, n, rng, spread):
    """Points beside segment interiors (so that every snap lands strictly inside a segment)."""
    seg = rng.integers(0, net.n_segments, n)
    f = rng.uniform(0.1, 0.9, n)
    ax, ay = net.node_x[net.seg_a[seg]], net.node_y[net.seg_a[seg]]
    bx, by = net.node_x[net.seg_b[seg]], net.node_y[net.seg_b[seg]]
    dx, dy = bx - ax, by - ay
    norm = np.hypot(dx, dy)
    side = rng.uniform(-spread, spread, n)
    return ax + f * dx - side * dy / norm, ay + f * dy + side * dx / norm


def _concat(*parts: Snapped) -> Snapped:
    return Snapped(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("seg", "frac", "access_m")))


@pytest.fixture(scope="module")
def random_case():
    """2,304-node network; 5 facilities (one exactly at the start node of a one-way segment) and 200
    cells: 150 snapped beside segment interiors, 20 uniform anywhere, 30 exactly at the ends of one-way
    segments (frac 0 or 1: the node, whatever the one-way rule)."""
    rng = np.random.default_rng(20240611)
    net = random_road_network(48, rng)
    one_way = np.flatnonzero(net.seg_fwd != net.seg_bwd)
    fx, fy = points_near_roads(net, 4, rng, 30.0)
    fac = _concat(snap(net, fx, fy), Snapped(one_way[:1], np.where(net.seg_fwd[one_way[:1]], 0.0, 1.0), np.array([20.0])))
    cx, cy = points_near_roads(net, 150, rng, 30.0)
    ux, uy = rng.uniform(net.node_x.min(), net.node_x.max(), 20), rng.uniform(net.node_y.min(), net.node_y.max(), 20)
    ends = rng.choice(one_way, 30, replace=False)
    cells = _concat(snap(net, cx, cy), snap(net, ux, uy),
                    Snapped(ends, rng.integers(0, 2, 30).astype(float), rng.uniform(0, 80, 30)))
    assert net.n_nodes >= 2000 and len(cells) == 200 and len(fac) == 5
    turnout = rng.uniform(0, 120, 5)
    return net, fac, cells, turnout


def networkx_nearest(net, seg_cost, direction, src, src_off, dst, dst_off):
    """Independent model: real nodes, directed arcs per allowed direction, a virtual node per source
    with arcs to its segment's ends (partial cost + offset), cells reached from their segment's ends.
    A partial cost exists where the direction is allowed, or where the share is 0 (the point is at
    that end's node)."""
    def part(allowed, share, w):
        return share * w if allowed else (0.0 if share == 0 else None)

    g = nx.MultiDiGraph()
    g.add_nodes_from(range(net.n_nodes))
    forward = direction == FROM_FACILITY
    for s in range(net.n_segments):
        a, b, w = int(net.seg_a[s]), int(net.seg_b[s]), float(seg_cost[s])
        if net.seg_fwd[s]:
            g.add_edge(a, b, w=w) if forward else g.add_edge(b, a, w=w)
        if net.seg_bwd[s]:
            g.add_edge(b, a, w=w) if forward else g.add_edge(a, b, w=w)
    sources = []
    for i in range(len(src)):
        s, f = int(src.seg[i]), float(src.frac[i])
        a, b, w = int(net.seg_a[s]), int(net.seg_b[s]), float(seg_cost[s])
        v = ("facility", i)
        sources.append(v)
        g.add_node(v)
        if forward:   # drive out of the facility along its segment
            arcs = [(b, part(net.seg_fwd[s], 1 - f, w)), (a, part(net.seg_bwd[s], f, w))]
        else:         # transposed: the real trip arrives at the facility from a (forward) or b (backward)
            arcs = [(a, part(net.seg_fwd[s], f, w)), (b, part(net.seg_bwd[s], 1 - f, w))]
        for node, c in arcs:
            if c is not None:
                g.add_edge(v, node, w=c + src_off[i])
    dist, paths = nx.multi_source_dijkstra(g, sources, weight="w")
    cost = np.full(len(dst), np.inf)
    label = np.full(len(dst), -1)
    for k in range(len(dst)):
        s, f = int(dst.seg[k]), float(dst.frac[k])
        a, b, w = int(net.seg_a[s]), int(net.seg_b[s]), float(seg_cost[s])
        if forward:   # road → cell
            ends = [(a, part(net.seg_fwd[s], f, w)), (b, part(net.seg_bwd[s], 1 - f, w))]
        else:         # cell → road
            ends = [(b, part(net.seg_fwd[s], 1 - f, w)), (a, part(net.seg_bwd[s], f, w))]
        for node, c in ends:
            if c is not None and node in dist and dist[node] + c + dst_off[k] < cost[k]:
                cost[k] = dist[node] + c + dst_off[k]
                label[k] = paths[node][0][1]
        for i in range(len(src)):                     # straight along a segment shared with a source
            if int(src.seg[i]) == s:
                fs = float(src.frac[i])
                ahead = f >= fs if forward else fs >= f
                c = part(net.seg_fwd[s] if ahead else net.seg_bwd[s], abs(f - fs), w)
                if c is not None and src_off[i] + c + dst_off[k] < cost[k]:
                    cost[k] = src_off[i] + c + dst_off[k]
                    label[k] = i
    return cost, label


@pytest.mark.parametrize("direction", [FROM_FACILITY, TO_FACILITY])
@pytest.mark.parametrize("weight", ["time", "length"])
def test_nearest_matches_networkx(random_case, direction, weight):
    net, fac, cells, turnout = random_case
    if weight == "time":
        seg_cost = seconds_per_segment(net)
        src_off, dst_off = turnout + fac.access_m / ACCESS_MPS, cells.access_m / ACCESS_MPS
    else:
        seg_cost = net.seg_length
        src_off, dst_off = fac.access_m, cells.access_m
    cost, label = Router(net, seg_cost, direction).nearest(fac, src_off, cells, dst_off)
    ref_cost, ref_label = networkx_nearest(net, seg_cost, direction, fac, src_off, cells, dst_off)
    assert np.isfinite(ref_cost).sum() >= 150            # the random network is mostly connected
    np.testing.assert_array_equal(np.isfinite(cost), np.isfinite(ref_cost))
    fin = np.isfinite(ref_cost)
    np.testing.assert_allclose(cost[fin], ref_cost[fin], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(label, ref_label)
    assert len(np.unique(label[fin])) >= 3               # several territories, not one facility


@pytest.mark.parametrize("direction", [FROM_FACILITY, TO_FACILITY])
def test_bounded_agrees_with_nearest(random_case, direction):
    net, fac, cells, turnout = random_case
    router = Router(net, seconds_per_segment(net), direction)
    src_off, dst_off = turnout + fac.access_m / ACCESS_MPS, cells.access_m / ACCESS_MPS
    nearest, _ = router.nearest(fac, src_off, cells, dst_off)
    limit = float(np.nanmedian(nearest[np.isfinite(nearest)]))
    m = router.bounded(fac, src_off, cells, dst_off, limit)
    d = dense(m)
    assert m.shape == (len(cells), len(fac))
    assert np.all(m.data <= limit)
    within = nearest <= limit
    assert 50 <= within.sum() < len(cells)
    np.testing.assert_allclose(d.min(axis=1)[within], nearest[within], rtol=0, atol=1e-9)
    assert np.isinf(d.min(axis=1)[~within]).all()
    # every stored entry is that facility's own nearest-time to the cell (single-source runs)
    for j in range(len(fac)):
        own, _ = router.nearest(fac.take([j]), src_off[j:j + 1], cells, dst_off)
        inside = own <= limit
        np.testing.assert_array_equal(np.isfinite(d[:, j]), inside)
        np.testing.assert_allclose(d[inside, j], own[inside], rtol=0, atol=1e-9)


# --------------------------------------------------------------------------------------------------
# network.py
# --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("50", 50.0), ("50 mph", 50 * 1.609344), ("80 km/h", 80.0), ("CN:urban", math.nan), ("50;60", 50.0),
    ("60;50", 50.0), (["40", "60"], 40.0), ("none", math.nan), ("", math.nan), (None, math.nan),
    ("DE:urban", 50.0), (30, 30.0), ("signals", math.nan), ("0", math.nan),
])
def test_parse_maxspeed(value, expected):
    got = parse_maxspeed(value)
    if math.isnan(expected):
        assert math.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)


def _classes_net(highway, maxspeed, ferry=None) -> RoadNetwork:
    n = len(highway)
    nodes = [(100.0 * k, 0.0) for k in range(n + 1)]
    net = make_net(nodes, [(k, k + 1, True, True) for k in range(n)])
    net.seg_highway = np.array(highway, dtype=object)
    net.seg_maxspeed = np.array(maxspeed, float)
    net.seg_speed_kmh = None
    net.seg_ferry = np.zeros(n, bool) if ferry is None else np.array(ferry, bool)
    return net


def test_with_speeds_honours_maxspeed_caps_and_drops_non_roads():
    net = _classes_net(["residential", "residential", "footway", "unknown_class", "motorway", "primary", "ferry"],
                       [50.0, np.nan, 30.0, 30.0, 200.0, np.nan, 60.0],
                       ferry=[False] * 6 + [True])
    amb = with_speeds(net, travel_profile("ambulance"))
    assert amb.n_segments == 5
    np.testing.assert_array_equal(amb.seg_a, [0, 1, 4, 5, 6])       # footway and unknown dropped
    np.testing.assert_allclose(amb.seg_speed_kmh, [50.0, 25.0, 100.0, 55.0, 10.0])
    car = with_speeds(net, travel_profile("car"))
    np.testing.assert_allclose(car.seg_speed_kmh, [42.5, 20.0, 110.0, 45.0, 10.0])
    slow = with_speeds(net, travel_profile("ambulance", {"max_kmh": 45.0, "speeds_kmh": {"primary": 60}}))
    np.testing.assert_allclose(slow.seg_speed_kmh, [45.0, 25.0, 45.0, 45.0, 10.0])
    np.testing.assert_allclose(seconds_per_segment(amb), 100.0 / (amb.seg_speed_kmh / 3.6))
    with pytest.raises(ValueError):
        seconds_per_segment(net)


def test_segments_from_directed_edges_merges_two_way_pairs():
    xy = {1: (0, 0), 2: (100, 0), 3: (100, 50), 4: (0, 500), 5: (70, 500), 7: (0, 900), 8: (0, 990)}
    edges = [(2, 1, 100.0), (1, 2, 100.0),   # a two-way street listed v→u first
             (3, 2, 50.0),                   # one-way 3 → 2
             (4, 5, 70.0), (5, 4, 80.0),     # same ends, different lengths: two one-ways
             (7, 8, 90.0)]                   # one-way 7 → 8
    u = np.array([e[0] for e in edges])
    v = np.array([e[1] for e in edges])
    length = np.array([e[2] for e in edges])
    geom = shapely.linestrings([[xy[a], xy[b]] for a, b in zip(u, v)])
    out = segments_from_directed_edges(u, v, length, geom, seg_highway=np.array(list("ABCDEF"), dtype=object))
    rows = sorted(zip(out["seg_a"].tolist(), out["seg_b"].tolist(), out["seg_length"].tolist(),
                      out["seg_fwd"].tolist(), out["seg_bwd"].tolist(), out["seg_highway"].tolist()))
    assert rows == [(1, 2, 100.0, True, True, "A"),
                    (2, 3, 50.0, False, True, "C"),
                    (4, 5, 70.0, True, False, "D"),
                    (4, 5, 80.0, False, True, "E"),
                    (7, 8, 90.0, True, False, "F")]
    for a, b, g in zip(out["seg_a"], out["seg_b"], out["seg_geometry"]):   # geometry oriented a → b
        coords = shapely.get_coordinates(g)
        assert tuple(coords[0]) == xy[int(a)] and tuple(coords[-1]) == xy[int(b)]


def test_largest_component_weak_and_strong():
    # a 2×2 block of two-way streets (nodes 0–3), a one-way stub 3 → 4 that never comes back, and an
    # isolated two-way piece 5–6.
    nodes = [(0, 0), (100, 0), (100, 100), (0, 100), (200, 100), (900, 900), (1000, 900)]
    segs = [(0, 1, True, True), (1, 2, True, True), (2, 3, True, True), (3, 0, True, True),
            (3, 4, True, False), (5, 6, True, True)]
    net = make_net(nodes, segs)
    np.testing.assert_array_equal(largest_component(net), [True, True, True, True, True, False])
    np.testing.assert_array_equal(largest_component(net, strong=True), [True, True, True, True, False, False])
    empty = net.subset(np.zeros(net.n_segments, bool))
    assert largest_component(empty).shape == (0,)
