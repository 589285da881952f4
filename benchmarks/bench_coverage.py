"""Benchmark: nearest-facility travel times for 1,000,000 cells on a 1,000,000-node road-like network.

Prints one JSON line. Phases (stderr): network generation, snapping, router build, our nearest-facility
run, a bare scipy multi-source Dijkstra on the same CSR (the floor), and the usual networkx recipe
(single-source Dijkstra per facility) timed on a few facilities and scaled to all of them.

    python benchmarks/bench_coverage.py [--side 1000] [--cells 1000000] [--facilities 200]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra

from coverage_planner.network import RoadNetwork, seconds_per_segment
from coverage_planner.travel import Router, snap


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def road_like_network(side: int, rng: np.random.Generator) -> RoadNetwork:
    """A perturbed side × side grid (100 m spacing), 10% of edges removed, 5% one-way, 20–80 km/h."""
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (i * 100.0 + rng.uniform(-20, 20, i.shape)).ravel()
    y = (j * 100.0 + rng.uniform(-20, 20, j.shape)).ravel()
    ids = np.arange(side * side).reshape(side, side)
    a = np.concatenate([ids[:-1, :].ravel(), ids[:, :-1].ravel()])
    b = np.concatenate([ids[1:, :].ravel(), ids[:, 1:].ravel()])
    keep = rng.random(len(a)) > 0.10
    a, b = a[keep], b[keep]
    coords = np.stack([np.column_stack([x[a], y[a]]), np.column_stack([x[b], y[b]])], axis=1)
    geoms = shapely.linestrings(coords)
    oneway = rng.random(len(a)) < 0.05
    n = len(a)
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=y, seg_a=a, seg_b=b, seg_length=shapely.length(geoms),
                       seg_highway=np.full(n, "residential", dtype=object), seg_maxspeed=np.full(n, np.nan),
                       seg_fwd=np.ones(n, bool), seg_bwd=~oneway, seg_geometry=geoms,
                       seg_speed_kmh=rng.uniform(20, 80, n))


def points_near_roads(net: RoadNetwork, n: int, rng: np.random.Generator, spread: float) -> tuple[np.ndarray, np.ndarray]:
    seg = rng.integers(0, net.n_segments, n)
    f = rng.random(n)
    x = net.node_x[net.seg_a[seg]] * (1 - f) + net.node_x[net.seg_b[seg]] * f + rng.normal(0, spread, n)
    y = net.node_y[net.seg_a[seg]] * (1 - f) + net.node_y[net.seg_b[seg]] * f + rng.normal(0, spread, n)
    return x, y


def networkx_recipe(router: Router, sources: np.ndarray, k: int) -> tuple[float, int]:
    """Seconds per facility of networkx single_source_dijkstra_path_length (graph build not counted)."""
    import networkx as nx

    mat = router.graph.matrix().tocoo()
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(mat.row.tolist(), mat.col.tolist(), mat.data.tolist()))
    t = time.perf_counter()
    for s in sources[:k]:
        nx.single_source_dijkstra_path_length(g, int(s), weight="weight")
    return (time.perf_counter() - t) / k, g.number_of_edges()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--side", type=int, default=1000, help="grid side (nodes = side²)")
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--facilities", type=int, default=200)
    parser.add_argument("--nx-sample", type=int, default=3, help="facilities timed with networkx")
    args = parser.parse_args()
    rng = np.random.default_rng(42)

    t = time.perf_counter()
    net = road_like_network(args.side, rng)
    cx, cy = points_near_roads(net, args.cells, rng, spread=60.0)
    fx, fy = points_near_roads(net, args.facilities, rng, spread=10.0)
    log(f"network {net.n_nodes:,} nodes, {net.n_segments:,} segments, {args.cells:,} cells: "
        f"{time.perf_counter() - t:.1f} s to generate")

    t = time.perf_counter()
    tree = shapely.STRtree(net.seg_geometry)
    cells = snap(net, cx, cy, tree=tree)
    fac = snap(net, fx, fy, tree=tree)
    snap_s = time.perf_counter() - t
    log(f"snap: {snap_s:.2f} s")

    t = time.perf_counter()
    router = Router(net, seconds_per_segment(net), "from_facility")
    build_s = time.perf_counter() - t
    log(f"router build: {build_s:.2f} s")

    access = 5.0 / 3.6
    t = time.perf_counter()
    cost, label = router.nearest(fac, fac.access_m / access, cells, cells.access_m / access)
    nearest_s = time.perf_counter() - t
    log(f"nearest facility for every cell: {nearest_s:.2f} s ({np.isfinite(cost).mean():.1%} reached)")

    base = router.graph.matrix()
    src_nodes = net.seg_a[fac.seg]
    floor = []
    for _ in range(3):
        t = time.perf_counter()
        dijkstra(base, indices=src_nodes, min_only=True)
        floor.append(time.perf_counter() - t)
    scipy_floor_s = min(floor)
    log(f"scipy floor (bare multi-source Dijkstra, best of 3): {scipy_floor_s:.2f} s")

    per_facility, _ = networkx_recipe(router, src_nodes, args.nx_sample)
    nx_s = per_facility * args.facilities
    log(f"networkx recipe: {per_facility:.2f} s per facility → {nx_s:.0f} s for {args.facilities}")

    coverage_s = snap_s + nearest_s
    print(json.dumps({
        "network_nodes": int(net.n_nodes), "network_segments": int(net.n_segments), "cells": int(args.cells),
        "facilities": int(args.facilities), "coverage_s": round(coverage_s, 3), "snap_s": round(snap_s, 3),
        "nearest_s": round(nearest_s, 3), "router_build_s": round(build_s, 3),
        "scipy_floor_s": round(scipy_floor_s, 3), "networkx_recipe_s": round(nx_s, 1),
        "networkx_recipe_note": f"networkx single_source_dijkstra_path_length timed on {args.nx_sample} "
                                f"facilities and multiplied by {args.facilities}; graph build not counted",
        "speedup_vs_networkx": round(nx_s / coverage_s, 1),
        "target_coverage_vs_floor": f"coverage_s {coverage_s:.2f} <= 3 x floor {scipy_floor_s:.2f} + snap {snap_s:.2f}"
                                    f" = {3 * scipy_floor_s + snap_s:.2f}: {coverage_s <= 3 * scipy_floor_s + snap_s}",
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
