"""The snapping index (coverage_planner.travel.snap_index): built once per road network and allowed
mask, reused by every snap to them, bounded in number, and giving the brute-force answer (shapely's
distance from every point to every segment, the lowest index among equidistant ones) for batches of
any size, with ties at junctions and points far outside the grid."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest
import shapely
from test_snap import assert_same, brute_force, curvy_network, junction, tricky_points
from test_snapping_inputs import CELLS_X, CELLS_Y, fragment_roads, station_at

from coverage_planner import coverage as cov
from coverage_planner import travel
from coverage_planner.travel import SnapIndex, cached_snap_index, snap, snap_index


@pytest.fixture(scope="module")
def curvy():
    rng = np.random.default_rng(20260612)
    net = curvy_network(20, rng)
    x, y = tricky_points(net, 2400, rng)
    return net, x, y


def fresh(net):
    """The same roads as a new network object: nothing cached on it."""
    out = replace(net)
    assert len(out.snap_cache) == 0
    return out


def concat(parts):
    return travel.Snapped(*(np.concatenate([getattr(p, k) for p in parts]) for k in ("seg", "frac", "access_m")))


@pytest.mark.parametrize("masked", [False, True], ids=["all", "mask"])
def test_index_matches_brute_force_in_batches_of_any_size(curvy, masked):
    """One index answers single points, small batches and one large batch, all as brute force does
    (points at junctions, on the roads, and 50–2,000 km outside the grid included)."""
    net, x, y = curvy
    net = fresh(net)
    allowed = np.random.default_rng(3).random(net.n_segments) < 0.4 if masked else None
    want = brute_force(net, x, y, allowed)
    index = snap_index(net, allowed)
    assert_same(snap(net, x, y, allowed=allowed, index=index), want, x)
    assert_same(concat([snap(net, x[s:s + 7], y[s:s + 7], allowed=allowed, index=index)
                        for s in range(0, len(x), 7)]), want, x)
    one = [snap(net, x[i:i + 1], y[i:i + 1], allowed=allowed, index=index) for i in range(0, len(x), 37)]
    assert_same(concat(one), tuple(w[::37] for w in want), x[::37])
    assert cached_snap_index(net, allowed) is index      # no other index was built on the way


def test_index_breaks_junction_ties_to_the_lowest_index_for_a_single_point():
    net = junction([90, 60, 30, 0, 45, 75, 15])
    index = snap_index(net)
    for px, py in [(-30.0, -40.0), (-5.0, -12.0), (0.0, 0.0), (-70.0, -0.5)]:
        s = snap(net, np.array([px]), np.array([py]), index=index)
        assert s.seg.tolist() == [0] and s.frac.tolist() == [1.0]
        assert s.access_m[0] == pytest.approx(np.hypot(px, py), abs=1e-12)


def test_index_and_tree_routes_agree_bit_for_bit(curvy):
    """The grid (through the index) and the STRtree (a small batch with a tree, no index cached)
    give the same bits; the tree route builds no index."""
    net, x, y = curvy
    allowed = np.random.default_rng(4).random(net.n_segments) < 0.5
    plain = fresh(net)
    tree = shapely.STRtree(plain.seg_geometry[allowed])
    by_tree = concat([snap(plain, x[s:s + 20], y[s:s + 20], allowed=allowed, tree=tree) for s in range(0, len(x), 20)])
    assert len(plain.snap_cache) == 0                      # small batches with a tree: the tree alone
    assert_same(by_tree, brute_force(net, x, y, allowed), x)
    by_index = snap(fresh(net), x, y, allowed=allowed)
    for k in ("seg", "frac", "access_m"):
        np.testing.assert_array_equal(getattr(by_index, k), getattr(by_tree, k), err_msg=k)


def test_the_same_mask_reuses_the_index_and_another_mask_gets_its_own(curvy):
    net = fresh(curvy[0])
    mask = np.arange(net.n_segments) % 3 > 0
    first = snap_index(net, mask)
    assert snap_index(net, mask.copy()) is first           # same bits, another array: same index
    x, y = curvy[1][:5], curvy[2][:5]
    snap(net, x, y, allowed=mask)                          # a few points reuse the cached index ...
    assert snap_index(net, mask) is first
    assert snap_index(net, ~mask) is not first and snap_index(net, ~mask) is snap_index(net, ~mask)
    assert snap_index(net, None) is not first
    other = replace(net, seg_geometry=net.seg_geometry.copy())
    assert snap_index(other, mask) is not first            # ... which belongs to its network only
    with pytest.raises(ValueError, match="another road network or allowed mask"):
        snap(other, x, y, allowed=mask, index=first)
    with pytest.raises(ValueError, match="another road network or allowed mask"):
        snap(net, x, y, allowed=~mask, index=first)


def test_the_cache_keeps_two_indexes_per_network_and_four_in_all(curvy):
    net = fresh(curvy[0])
    masks = [np.arange(net.n_segments) % k > 0 for k in (2, 3, 5)]
    a, b = snap_index(net, masks[0]), snap_index(net, masks[1])
    snap_index(net, masks[0])                               # a used last: b is the least recent
    c = snap_index(net, masks[2])
    assert len(net.snap_cache) == 2
    assert snap_index(net, masks[0]) is a and snap_index(net, masks[2]) is c
    assert snap_index(net, masks[1]) is not b               # b was dropped and is built again
    nets = [fresh(curvy[0]) for _ in range(4)]
    built = [snap_index(n) for n in nets]
    assert sum(len(n.snap_cache) for n in [net, *nets]) == 4
    assert cached_snap_index(nets[-1]) is built[-1] and len(net.snap_cache) == 0   # the oldest went first


def test_the_cache_is_not_pickled_copied_or_kept_after_the_geometry_changes(curvy):
    net = fresh(curvy[0])
    index = snap_index(net)
    assert isinstance(index, SnapIndex) and index.nbytes > 0
    assert len(pickle.loads(pickle.dumps(net)).snap_cache) == 0 and len(net.snap_cache) == 1
    assert len(replace(net).snap_cache) == 0
    net.seg_geometry = shapely.transform(net.seg_geometry, lambda c: c + [500.0, 0.0])
    assert cached_snap_index(net) is None                   # the roads moved: the old index is dropped
    s = snap(net, np.array([500.0]), np.array([0.0]))
    assert_same(s, brute_force(net, np.array([500.0]), np.array([0.0])), np.array([500.0]))


def test_a_travel_model_builds_one_index_per_mask_and_later_snaps_reuse_it(tmp_path):
    """Cells (roads joinable from the side), the cells moved onto the core and the facilities (the
    core's joinable roads) each use their mask's index; a later snap of candidates builds nothing."""
    roads = fragment_roads(tmp_path)
    model = cov.build_travel_model(roads, "car", None, CELLS_X, CELLS_Y, station_at(1000, 0), 500.0)
    assert len(model.net.snap_cache) == 2
    core = cached_snap_index(model.net, model.snappable)
    assert core is not None
    assert np.array_equal(core.candidates, np.flatnonzero(model.snappable))
    snap(model.net, CELLS_X, CELLS_Y, allowed=model.snappable)
    assert cached_snap_index(model.net, model.snappable) is core and len(model.net.snap_cache) == 2


def test_no_points_build_no_index(curvy):
    net = fresh(curvy[0])
    s = snap(net, np.zeros(0), np.zeros(0))
    assert len(s) == 0 and len(net.snap_cache) == 0
