"""Snapping (coverage_planner.travel.snap) against brute force: shapely's distance from every point to
every segment, the lowest segment index among the equidistant ones, and shapely's line_locate_point.

Large batches go through snap's grid, small ones (fewer points than an eighth of the segments)
through its STRtree; both must give the brute-force answer, with curved multi-vertex roads, repeated
vertices, roads of zero length, points on the roads, at junctions (ties) and far outside the network.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import shapely

from coverage_planner.network import RoadNetwork
from coverage_planner.travel import snap


def curvy_network(side: int, rng: np.random.Generator, spacing: float = 100.0) -> RoadNetwork:
    """A jittered grid whose roads have 1–6 interior vertices (some repeated), plus a few roads of
    zero length and a few long diagonal roads."""
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (i * spacing + rng.uniform(-0.25, 0.25, i.shape) * spacing).ravel()
    y = (j * spacing + rng.uniform(-0.25, 0.25, j.shape) * spacing).ravel()
    ids = np.arange(side * side).reshape(side, side)
    a = np.concatenate([ids[:-1, :].ravel(), ids[:, :-1].ravel()])
    b = np.concatenate([ids[1:, :].ravel(), ids[:, 1:].ravel()])
    keep = rng.random(len(a)) > 0.15
    a, b = a[keep], b[keep]
    diag = rng.choice(side * side, (12, 2))                       # long roads across the grid
    a, b = np.concatenate([a, diag[:, 0], [5, 9]]), np.concatenate([b, diag[:, 1], [5, 9]])  # + 2 zero-length
    geoms = []
    for s, (u, v) in enumerate(zip(a, b)):
        k = int(rng.integers(0, 7))
        t = np.sort(rng.uniform(0, 1, k))
        bend = rng.normal(0, 0.08, k) * spacing
        px = x[u] + t * (x[v] - x[u]) + bend
        py = y[u] + t * (y[v] - y[u]) - bend
        line = np.column_stack([np.r_[x[u], px, x[v]], np.r_[y[u], py, y[v]]])
        if k and rng.random() < 0.2:                              # a repeated vertex (zero-length piece)
            line = np.insert(line, 1, line[1], axis=0)
        if u == v:
            line = np.array([[x[u], y[u]], [x[u], y[u]], [x[u], y[u]]])
        geoms.append(shapely.linestrings(line))
    geoms = np.asarray(geoms, dtype=object)
    n = len(a)
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=y, seg_a=a, seg_b=b, seg_length=shapely.length(geoms),
                       seg_highway=np.full(n, "residential", dtype=object), seg_maxspeed=np.full(n, np.nan),
                       seg_fwd=np.ones(n, bool), seg_bwd=np.ones(n, bool), seg_geometry=geoms,
                       seg_speed_kmh=np.full(n, 30.0))


def brute_force(net: RoadNetwork, x, y, allowed=None):
    """Nearest allowed segment by shapely.distance to every segment (ties: the lowest index), the
    normalized line_locate_point on it (0 on a zero-length road) and the distance."""
    cand = np.arange(net.n_segments) if allowed is None else np.flatnonzero(allowed)
    pts = shapely.points(x, y)
    dist = shapely.distance(pts[:, None], net.seg_geometry[cand][None, :])
    pick = np.argmin(dist, axis=1)                                 # first of the minima: lowest index
    seg = cand[pick]
    frac = np.nan_to_num(shapely.line_locate_point(net.seg_geometry[seg], pts, normalized=True), nan=0.0)
    return seg, frac, dist[np.arange(len(x)), pick]


def tricky_points(net: RoadNetwork, n: int, rng: np.random.Generator):
    """Points beside the roads, on them, exactly at nodes and vertices, on the far side of junctions,
    and far outside the network."""
    coords = shapely.get_coordinates(net.seg_geometry)
    lo, hi = coords.min(axis=0), coords.max(axis=0)
    k = n // 6
    near = coords[rng.integers(0, len(coords), k)] + rng.normal(0, 30, (k, 2))
    on = shapely.get_coordinates(shapely.line_interpolate_point(
        net.seg_geometry[rng.integers(0, net.n_segments, k)], rng.uniform(0, 1, k), normalized=True))
    at = coords[rng.integers(0, len(coords), k)]
    corner = np.column_stack([net.node_x, net.node_y])[rng.integers(0, net.n_nodes, k)] + \
        rng.choice([-1, 1], (k, 2)) * rng.uniform(1, 20, (k, 1))   # diagonal off a junction: often equidistant
    anywhere = rng.uniform(lo - 300, hi + 300, (n - 5 * k, 2))
    far = np.array([[lo[0] - 5e4, lo[1]], [hi[0] + 3e5, hi[1] + 3e5], [lo[0] + 1e6, lo[1] - 2e6]])
    pts = np.vstack([near, on, at, corner, anywhere, far])
    return pts[:, 0], pts[:, 1]


def assert_same(got, want, x):
    seg, frac, dist = want
    bad = np.flatnonzero(got.seg != seg)
    assert len(bad) == 0, (f"{len(bad)} of {len(x)} points on another segment, first {bad[0]}: "
                           f"{got.seg[bad[0]]} at {got.access_m[bad[0]]!r} vs {seg[bad[0]]} at {dist[bad[0]]!r}")
    np.testing.assert_allclose(got.access_m, dist, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.frac, frac, rtol=0, atol=1e-9)


@pytest.fixture(scope="module", params=[(0.0, 0.0), (404_321.7, 3_386_512.3)], ids=["origin", "utm"])
def curvy(request):
    """The network near (0, 0), and shifted to UTM-sized coordinates (rounding in the differences)."""
    rng = np.random.default_rng(20260611)
    net = curvy_network(24, rng)
    x, y = tricky_points(net, 3000, rng)
    dx, dy = request.param
    if dx or dy:
        net = replace(net, node_x=net.node_x + dx, node_y=net.node_y + dy,
                      seg_geometry=shapely.transform(net.seg_geometry, lambda c: c + [dx, dy]))
        x, y = x + dx, y + dy
    return net, x, y


def test_snap_matches_brute_force_on_a_curvy_network(curvy):
    net, x, y = curvy
    want = brute_force(net, x, y)
    assert len(x) >= net.n_segments / 8                       # one batch: the grid
    assert_same(snap(net, x, y), want, x)


def test_snap_in_small_batches_matches_brute_force(curvy):
    """Batches of 20 points (fewer than an eighth of the segments) take the STRtree route."""
    net, x, y = curvy
    want = brute_force(net, x, y)
    parts = [snap(net, x[s:s + 20], y[s:s + 20]) for s in range(0, len(x), 20)]
    got = type(parts[0])(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("seg", "frac", "access_m")))
    assert_same(got, want, x)


def test_snap_with_an_allowed_mask_matches_brute_force(curvy):
    net, x, y = curvy
    allowed = np.random.default_rng(5).random(net.n_segments) < 0.3
    assert_same(snap(net, x, y, allowed=allowed), brute_force(net, x, y, allowed), x)
    tree = shapely.STRtree(net.seg_geometry[allowed])
    assert_same(snap(net, x[:30], y[:30], allowed=allowed, tree=tree), brute_force(net, x[:30], y[:30], allowed), x[:30])


def junction(arm_angles_deg) -> RoadNetwork:
    """Arms of 100 m from a junction at (0, 0), each running from its far end to the junction."""
    ang = np.radians(np.asarray(arm_angles_deg, float))
    nodes = np.vstack([[0.0, 0.0], np.column_stack([100 * np.cos(ang), 100 * np.sin(ang)])])
    a, b = np.arange(1, len(ang) + 1), np.zeros(len(ang), dtype=np.int64)
    geoms = shapely.linestrings(np.stack([nodes[a], nodes[b]], axis=1))
    n = len(a)
    return RoadNetwork(crs="EPSG:32648", node_x=nodes[:, 0], node_y=nodes[:, 1], seg_a=a, seg_b=b,
                       seg_length=shapely.length(geoms), seg_highway=np.full(n, "residential", dtype=object),
                       seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.ones(n, bool),
                       seg_geometry=geoms, seg_speed_kmh=np.full(n, 30.0))


@pytest.mark.parametrize("copies", [1, 50])
def test_equidistant_segments_resolve_to_the_lowest_index(copies):
    """Points behind a junction whose arms all point north-east are equally far from every arm (at
    the junction); the lowest segment index wins, in small and large batches alike (the STRtree
    search used to return whichever arm it met first)."""
    net = junction([90, 60, 30, 0, 45, 75, 15])
    x = np.tile([-30.0, -5.0, 0.0, -70.0], copies)
    y = np.tile([-40.0, -12.0, 0.0, -0.5], copies)
    s = snap(net, x, y)
    assert s.seg.tolist() == [0] * len(x)
    np.testing.assert_allclose(s.access_m, np.tile([50.0, 13.0, 0.0, np.hypot(70, 0.5)], copies), atol=1e-12)
    np.testing.assert_array_equal(s.frac, 1.0)           # every arm ends at the junction


@pytest.mark.parametrize("n_points", [1, 40])
def test_snap_to_roads_without_geometry_is_an_error_not_a_segment(n_points):
    """Segments whose geometries are all empty give no answer: an error rather than an arbitrary
    segment (both routes used to leave the segment unset)."""
    net = junction([0, 90])
    net = replace(net, seg_geometry=np.array([shapely.LineString(), shapely.LineString()], dtype=object))
    with pytest.raises(ValueError, match="no geometry"):
        snap(net, np.zeros(n_points), np.zeros(n_points))
