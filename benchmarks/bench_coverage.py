"""Benchmark: nearest-facility travel times for every population cell of a road-like network, ours
against the recipes a user would pick instead, all on the same instance in one run.

Not a test. Prints ONE JSON line on stdout; phase timings go to stderr. Default size: 1,000,000
nodes (a 1000 × 1000 perturbed grid), 1,000,000 cells, 200 facilities.

What is timed (wall seconds; ``*_cpu_s`` is the CPU time of the same phase, all threads: on a shared
machine the wall times grow with the load average, which the JSON records, the CPU times much less)
  snap_index_s      ``snap_index(net)``: the network's snapping index (the segments' straight pieces
                    and a uniform grid over their parts), a once-per-network preparation like
                    router_build_s; not part of coverage_s
  snap_s            ``snap`` of cells and facilities (one call) on that built index: the queries only
  nearest_s         ``Router.nearest``: each cell's nearest facility and time, with turnout, access
                    legs and partial segments (one multi-source Dijkstra + the per-cell combination)
  coverage_s        ours, prepared: snap_s + nearest_s, best of 3 runs on the same index and CSR (as the
                    scipy floor is best of 3; every run's answers must be identical; all three in coverage_runs_s)
  coverage_cold_s   ours from nothing but the network and its CSR: snap_index_s + the first snap and nearest
                    (the three run once, in that order, on a network with nothing cached)
  router_build_s    ``Router(...)`` (CSR build), in neither coverage figure
  scipy_floor_s     a bare ``scipy.sparse.csgraph.dijkstra(csr, indices=facility nodes, min_only=True)``
                    on the same CSR (best of 3): what any scipy-based engine pays for the search alone
  kdtree_floor_s    scipy ``cKDTree`` over the road vertices, built (kdtree_build_s) and queried for
                    every cell on all cores (kdtree_query_s): the floor of any snapping, to the nearest
                    vertex rather than segment; kdtree_floor_s = build + query
  osmnx_networkx_s  the OSMnx recipe in a child process: ``osmnx.distance.nearest_nodes`` for cells
                    and facilities (each call builds its own KD-tree), ONE
                    ``networkx.multi_source_dijkstra_path_length`` from the facilities' nodes, and
                    each cell's time read from its node; the networkx graph build (nodes with x/y,
                    arcs with travel_time, ``crs`` set) is reported apart as osmnx_graph_build_s. Its
                    node times are checked against the scipy floor's.
  pandana_build_s   pandana 0.8 ``Network`` (incl. its contraction-hierarchy preprocessing) on the
                    same arcs, reversed so that its node → POI times are facility → node times; in a
                    child process stopped after --pandana-limit seconds (then pandana_limit_hit and
                    no times)
  pandana_query_s   ``set_pois`` + ``nearest_pois`` (max distance: the largest finite floor time) +
                    ``get_node_ids`` for every cell; its node times are checked against the floor's
  pandana_nodes     the largest rung of --pandana-sides whose build finished within the limit, with
                    its times and ours on that same smaller instance (pandana_small_*); the ladder
                    stops where the next rung would pass the limit at the growth seen so far
  peak_rss_mb       this process's peak RSS (children excluded: their peaks are reported apart)

Both recipes snap to the nearest vertex and have no turnout, access legs or partial segments, so
they answer a cruder question than ours; their node times are the floor's up to rounding.

Targets (on 1M cells, 1M nodes): coverage_s ≤ 4 × scipy_floor_s; ≥ 10× faster than the OSMnx/networkx
recipe; faster than pandana's build + query; peak ≤ 4 GB. Each target on coverage_s is reported for
coverage_cold_s too (``*_cold_*`` keys): the OSMnx recipe's timed part builds its KD-trees, so
speedup_cold_vs_osmnx_networkx is the like-for-like figure.

    python benchmarks/bench_coverage.py [--side 1000] [--cells 1000000] [--facilities 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import resource
import sys
import time

import numpy as np
import shapely
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from coverage_planner.network import RoadNetwork, seconds_per_segment  # noqa: E402
from coverage_planner.travel import FROM_FACILITY, Router, snap, snap_index  # noqa: E402

ACCESS_MPS = 5.0 / 3.6       # the ambulance profile's access speed (5 km/h)
SEED = 20240611


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def machine() -> str:
    """CPU model, core count and memory of this machine, in words."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            model = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
        with open("/proc/meminfo") as fh:
            mem_gb = int(fh.readline().split()[1]) / 1024 ** 2
    except (OSError, StopIteration, ValueError, IndexError):
        mem_gb = float("nan")
    return f"{model}, {os.cpu_count()} cores, {mem_gb:.0f} GB, {platform.system()} {platform.release()}"


def road_like_network(side: int, rng: np.random.Generator) -> RoadNetwork:
    """A perturbed side × side grid: irregular block sizes, ~10% of edges removed, 5% one-way (either way),
    lengths 60–300 m (straight distance × a winding factor), speeds 20–80 km/h."""
    gx = np.concatenate([[0.0], np.cumsum(rng.uniform(70, 230, side - 1))])   # irregular streets
    gy = np.concatenate([[0.0], np.cumsum(rng.uniform(70, 230, side - 1))])
    i, j = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    x = (gx[i] + rng.uniform(-12, 12, i.shape)).ravel()
    y = (gy[j] + rng.uniform(-12, 12, j.shape)).ravel()
    ids = np.arange(side * side).reshape(side, side)
    a = np.concatenate([ids[:-1, :].ravel(), ids[:, :-1].ravel()])
    b = np.concatenate([ids[1:, :].ravel(), ids[:, 1:].ravel()])
    keep = rng.random(len(a)) > 0.10
    a, b = a[keep], b[keep]
    n = len(a)
    coords = np.empty((n, 2, 2))
    coords[:, 0, 0], coords[:, 0, 1], coords[:, 1, 0], coords[:, 1, 1] = x[a], y[a], x[b], y[b]
    geoms = shapely.linestrings(coords)
    length = np.clip(shapely.length(geoms) * rng.uniform(1.0, 1.25, n), 60.0, 300.0)
    r = rng.random(n)
    fwd, bwd = r >= 0.025, (r < 0.025) | (r >= 0.05)           # 2.5% one-way a→b, 2.5% one-way b→a
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=y, seg_a=a, seg_b=b, seg_length=length,
                       seg_highway=np.full(n, "residential", dtype=object), seg_maxspeed=np.full(n, np.nan),
                       seg_fwd=fwd, seg_bwd=bwd, seg_geometry=geoms,
                       seg_speed_kmh=rng.uniform(20, 80, n), source="synthetic")


def clustered_points_near_roads(net: RoadNetwork, side: int, n: int, rng: np.random.Generator,
                                n_clusters: int, clustered_share: float, spread_m: float):
    """Points beside roads: ``clustered_share`` of them around towns (Gaussian in grid steps), the rest
    anywhere; each point lies at a random place along a segment at the drawn node, ``spread_m`` off it."""
    node_seg = np.full(net.n_nodes, -1, dtype=np.int64)
    node_seg[net.seg_b] = np.arange(net.n_segments)
    node_seg[net.seg_a] = np.arange(net.n_segments)
    centres = rng.integers(0, side, (n_clusters, 2))
    sigma = rng.uniform(3, 25, n_clusters)                     # towns of 0.5–4 km radius
    k = int(n * clustered_share)
    c = rng.integers(0, n_clusters, k)
    gi = np.rint(centres[c, 0] + rng.normal(0, 1, k) * sigma[c])
    gj = np.rint(centres[c, 1] + rng.normal(0, 1, k) * sigma[c])
    gi = np.concatenate([gi, rng.integers(0, side, n - k)]).clip(0, side - 1).astype(np.int64)
    gj = np.concatenate([gj, rng.integers(0, side, n - k)]).clip(0, side - 1).astype(np.int64)
    seg = node_seg[gi * side + gj]
    lost = seg < 0                                             # nodes that lost all their roads
    seg[lost] = rng.integers(0, net.n_segments, lost.sum())
    f = rng.random(n)
    ax, ay = net.node_x[net.seg_a[seg]], net.node_y[net.seg_a[seg]]
    bx, by = net.node_x[net.seg_b[seg]], net.node_y[net.seg_b[seg]]
    x = ax + f * (bx - ax) + rng.normal(0, spread_m, n)
    y = ay + f * (by - ay) + rng.normal(0, spread_m, n)
    return x, y


class Instance:
    """A network with its cells and facilities, all drawn from one seed."""

    def __init__(self, side: int, cells: int, facilities: int, seed: int):
        rng = np.random.default_rng(seed)
        self.side = side
        self.net = road_like_network(side, rng)
        self.cx, self.cy = clustered_points_near_roads(self.net, side, cells, rng, n_clusters=max(side, 10),
                                                       clustered_share=0.8, spread_m=40.0)
        self.fx, self.fy = clustered_points_near_roads(self.net, side, facilities, rng, n_clusters=facilities,
                                                       clustered_share=0.75, spread_m=15.0)
        self.turnout = np.where(rng.random(facilities) < 0.5, 60.0, 0.0)

    @property
    def nodes_xy(self) -> np.ndarray:
        return np.column_stack([self.net.node_x, self.net.node_y])


def run_ours(inst: Instance) -> dict:
    """Our coverage run: the snapping index, one snap for cells and facilities on it, then the nearest
    facility for every cell (the CSR build timed apart). The snap and nearest steps run three times on
    the same index and CSR, as the scipy floor does (best of 3); ``coverage_cold_s`` is the index build
    plus the first of them. Every repeat must give the same answers."""
    net, n = inst.net, len(inst.cx)
    assert len(net.snap_cache) == 0, "the network must start with no snapping index"
    t, c = time.perf_counter(), time.process_time()
    index = snap_index(net)
    snap_index_s, snap_index_cpu_s = time.perf_counter() - t, time.process_time() - c
    router, router_build_s, runs, first = None, 0.0, [], None
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        both = snap(net, np.concatenate([inst.cx, inst.fx]), np.concatenate([inst.cy, inst.fy]), index=index)
        cells, fac = both.take(np.arange(n)), both.take(np.arange(n, len(both)))
        snap_s, snap_cpu_s = time.perf_counter() - t, time.process_time() - c
        if router is None:
            t = time.perf_counter()
            router = Router(net, seconds_per_segment(net), FROM_FACILITY)
            router_build_s = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        cost, label = router.nearest(fac, inst.turnout + fac.access_m / ACCESS_MPS, cells, cells.access_m / ACCESS_MPS)
        nearest_s, nearest_cpu_s = time.perf_counter() - t, time.process_time() - c
        runs.append((snap_s + nearest_s, snap_s, nearest_s, snap_cpu_s, nearest_cpu_s))
        if first is None:
            first = (cost, label)
        else:
            assert np.array_equal(cost, first[0]) and np.array_equal(label, first[1]), "a repeat gave other answers"
    best = min(runs)
    total_s, snap_s, nearest_s, snap_cpu_s, nearest_cpu_s = best
    reached = np.isfinite(cost)
    log(f"ours: snap index {snap_index_s:.2f} s ({snap_index_cpu_s:.2f} s CPU, {index.nbytes / 2**20:,.0f} MB); "
        f"snap + nearest {', '.join(f'{r[0]:.2f}' for r in runs)} s, best: snap {snap_s:.2f} s ({snap_cpu_s:.2f} s CPU), "
        f"nearest {nearest_s:.2f} s ({nearest_cpu_s:.2f} s CPU) — "
        f"{reached.mean():.2%} of cells reached, median {np.median(cost[reached]) / 60:.1f} min, "
        f"{(cost <= 900).mean():.1%} within 15 min, {len(np.unique(label[reached]))} territories; "
        f"peak RSS {peak_rss_mb():,.0f} MB")
    return {"coverage_s": total_s, "coverage_cold_s": snap_index_s + runs[0][0],
            "coverage_runs_s": [round(r[0], 3) for r in runs],
            "snap_index_s": snap_index_s, "snap_s": snap_s, "nearest_s": nearest_s,
            "router_build_s": router_build_s, "snap_index_cpu_s": snap_index_cpu_s, "snap_cpu_s": snap_cpu_s,
            "nearest_cpu_s": nearest_cpu_s, "first_snap_cpu_s": runs[0][3], "first_nearest_cpu_s": runs[0][4],
            "snap_index_mb": index.nbytes / 2**20, "router": router}


def scipy_floor(router: Router, sources: np.ndarray) -> tuple[float, float, np.ndarray]:
    """Best of 3 bare multi-source Dijkstras on our CSR; returns the wall and CPU times and the node times."""
    csr = router.graph.matrix()
    times, cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        dist = dijkstra(csr, indices=sources, min_only=True)
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    log(f"scipy floor (dijkstra min_only, {len(sources)} sources): best {min(times):.2f} s of "
        f"{', '.join(f'{s:.2f}' for s in times)} ({min(cpu):.2f} s CPU)")
    return min(times), min(cpu), dist


def kdtree_floor(inst: Instance) -> dict:
    """cKDTree over the road vertices, built, then queried for every cell on all cores (wall, CPU)."""
    t, c = time.perf_counter(), time.process_time()
    tree = cKDTree(inst.nodes_xy)
    build_s, build_cpu_s = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    tree.query(np.column_stack([inst.cx, inst.cy]), workers=-1)
    query_s, query_cpu_s = time.perf_counter() - t, time.process_time() - c
    return {"kdtree_floor_s": build_s + query_s, "kdtree_floor_cpu_s": build_cpu_s + query_cpu_s,
            "kdtree_build_s": build_s, "kdtree_query_s": query_s, "kdtree_query_cpu_s": query_cpu_s}


def in_child(target, args: tuple, limit_s: float | None) -> dict | None:
    """Run ``target(*args, conn)`` in a forked child; its dict, or None when it passed ``limit_s``.

    Forked, so the child's memory does not count in this process's peak and a stuck child can be
    stopped (SIGKILL to that one process, which this function started)."""
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    child.close()
    if parent.poll(limit_s):
        out = parent.recv()
        proc.join()
        return out
    proc.kill()
    proc.join()
    return None


def _osmnx_networkx_child(inst: Instance, router: Router, floor_dist: np.ndarray, conn) -> None:
    """The OSMnx recipe: a networkx graph, nearest_nodes, ONE multi-source Dijkstra, a lookup per cell."""
    import networkx as nx
    import osmnx as ox

    g = router.graph
    t = time.perf_counter()
    graph = nx.DiGraph(crs=inst.net.crs)
    graph.add_nodes_from((i, {"x": x, "y": y}) for i, (x, y) in enumerate(zip(inst.net.node_x.tolist(),
                                                                                inst.net.node_y.tolist())))
    tails = np.repeat(np.arange(len(g.indptr) - 1), np.diff(g.indptr))
    graph.add_weighted_edges_from(zip(tails.tolist(), g.indices.tolist(), g.data.tolist()), weight="travel_time")
    del tails
    build_s = time.perf_counter() - t
    t, c = time.perf_counter(), time.process_time()
    cell_node = ox.distance.nearest_nodes(graph, inst.cx, inst.cy)
    fac_node = ox.distance.nearest_nodes(graph, inst.fx, inst.fy)
    snap_s = time.perf_counter() - t
    dist = nx.multi_source_dijkstra_path_length(graph, set(fac_node.tolist()), weight="travel_time")
    dijkstra_s = time.perf_counter() - t - snap_s
    cell_time = np.fromiter((dist.get(v, np.inf) for v in cell_node.tolist()), float, len(cell_node))
    total_s, cpu_s = time.perf_counter() - t, time.process_time() - c
    nodes = np.fromiter(dist.keys(), np.int64, len(dist))
    values = np.fromiter(dist.values(), float, len(dist))
    reached_same = bool(np.array_equal(np.sort(nodes), np.flatnonzero(np.isfinite(floor_dist))))
    conn.send({"build_s": build_s, "total_s": total_s, "cpu_s": cpu_s, "snap_s": snap_s, "dijkstra_s": dijkstra_s,
               "max_abs_diff_s": float(np.max(np.abs(values - floor_dist[nodes]))) if len(nodes) else 0.0,
               "reached_same_nodes": reached_same, "cells_reached": float(np.isfinite(cell_time).mean()),
               "arcs": graph.number_of_edges(), "peak_rss_mb": peak_rss_mb()})
    conn.close()


def _pandana_child(inst: Instance, router: Router, floor_dist: np.ndarray, conn) -> None:
    """pandana: Network (contraction hierarchy) on the reversed arcs, then nearest_pois per node."""
    import pandas as pd
    import pandana

    os.dup2(2, 1)              # pandana's C++ progress lines go to stderr: stdout carries only the JSON
    g = router.graph
    heads = np.repeat(np.arange(len(g.indptr) - 1), np.diff(g.indptr))
    reach = float(np.max(floor_dist[np.isfinite(floor_dist)])) * 1.001 + 1.0
    t, c = time.perf_counter(), time.process_time()
    network = pandana.Network(inst.net.node_x, inst.net.node_y, g.indices, heads,   # reversed: to → from
                              pd.DataFrame({"travel_time": g.data}), twoway=False)
    build_s, build_cpu_s = time.perf_counter() - t, time.process_time() - c
    t, c = time.perf_counter(), time.process_time()
    network.set_pois("facility", reach, 1, pd.Series(inst.fx), pd.Series(inst.fy))
    node_time = network.nearest_pois(reach, "facility", num_pois=1)[1].to_numpy()
    cell_node = network.get_node_ids(pd.Series(inst.cx), pd.Series(inst.cy)).to_numpy()
    cell_time = node_time[cell_node]
    query_s, cpu_s = time.perf_counter() - t, time.process_time() - c
    both = np.isfinite(floor_dist) & (node_time < reach)
    conn.send({"build_s": build_s, "build_cpu_s": build_cpu_s, "query_s": query_s, "query_cpu_s": cpu_s,
               "max_abs_diff_s": float(np.max(np.abs(node_time[both] - floor_dist[both]))) if both.any() else 0.0,
               "nodes_compared": int(both.sum()), "cells_within_reach": float((cell_time < reach).mean()),
               "peak_rss_mb": peak_rss_mb()})
    conn.close()


def facility_nodes(inst: Instance) -> np.ndarray:
    """The road vertex nearest each facility, as nearest_nodes and pandana pick them."""
    return np.unique(cKDTree(inst.nodes_xy).query(np.column_stack([inst.fx, inst.fy]))[1])


def pandana_run(inst: Instance, router: Router, floor_dist: np.ndarray, limit_s: float) -> dict | None:
    t = time.perf_counter()
    out = in_child(_pandana_child, (inst, router, floor_dist), limit_s)
    if out is None:
        log(f"pandana on {inst.net.n_nodes:,} nodes: stopped after {time.perf_counter() - t:.0f} s (limit {limit_s:.0f} s)")
    else:
        log(f"pandana on {inst.net.n_nodes:,} nodes: build {out['build_s']:.1f} s, query {out['query_s']:.2f} s, "
            f"node times vs floor within {out['max_abs_diff_s']:.3g} s")
    return out


def pandana_ladder(sides: list[int], args, limit_s: float) -> dict:
    """pandana on growing instances (cells and facilities scaled with the nodes), ours on each too.

    Stops at the first rung past the limit, or before a rung that the growth of the build time seen so
    far (at least linear in the nodes) says would pass it."""
    best, done = {}, []                 # done: (nodes, build seconds) of the rungs that finished
    for side in sorted(sides):
        share = side * side / (args.side * args.side)
        inst = Instance(side, max(int(args.cells * share), 100), max(int(args.facilities * share), 5), args.seed)
        nodes = inst.net.n_nodes
        if done:
            (n1, b1), (n2, b2) = done[-2] if len(done) > 1 else done[-1], done[-1]
            power = max(np.log(b2 / b1) / np.log(n2 / n1), 1.0) if n2 > n1 else 1.0
            if b2 * (nodes / n2) ** power > limit_s:
                log(f"pandana ladder: {nodes:,} nodes would take about {b2 * (nodes / n2) ** power:.0f} s; stop")
                best["pandana_ladder_stopped_before_nodes"] = int(nodes)
                break
        ours = run_ours(inst)
        _, _, floor_dist = scipy_floor(ours["router"], facility_nodes(inst))
        out = pandana_run(inst, ours["router"], floor_dist, limit_s)
        if out is None:
            best["pandana_ladder_limit_hit_nodes"] = int(nodes)
            break
        done.append((nodes, out["build_s"]))
        best.update({"pandana_nodes": int(nodes), "pandana_small_cells": len(inst.cx),
                     "pandana_small_build_s": out["build_s"], "pandana_small_query_s": out["query_s"],
                     "pandana_small_build_cpu_s": out["build_cpu_s"],
                     "pandana_small_max_abs_diff_s": out["max_abs_diff_s"],
                     "coverage_s_at_pandana_nodes": ours["coverage_s"],
                     "coverage_cold_s_at_pandana_nodes": ours["coverage_cold_s"],
                     "coverage_cpu_s_at_pandana_nodes": ours["snap_cpu_s"] + ours["nearest_cpu_s"]})
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=1000, help="grid side (nodes = side²)")
    parser.add_argument("--cells", type=int, default=1_000_000)
    parser.add_argument("--facilities", type=int, default=200)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quick", action="store_true", help="a small instance (side 60, 20,000 cells) for a try-out")
    parser.add_argument("--pandana-limit", type=float, default=300.0, help="seconds before pandana is stopped")
    parser.add_argument("--pandana-sides", default="200,300,400",
                        help="grid sides of the smaller pandana instances, tried upwards")
    parser.add_argument("--skip-pandana", action="store_true")
    parser.add_argument("--skip-networkx", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.side, args.cells, args.facilities, args.pandana_sides = 60, 20_000, 20, "20,30"
    load_start = os.getloadavg()

    t = time.perf_counter()
    inst = Instance(args.side, args.cells, args.facilities, args.seed)
    net = inst.net
    log(f"generate: {net.n_nodes:,} nodes, {net.n_segments:,} segments ({(~net.seg_bwd | ~net.seg_fwd).sum():,} "
        f"one-way), {args.cells:,} cells, {args.facilities} facilities: {time.perf_counter() - t:.1f} s")

    ours = run_ours(inst)
    router = ours.pop("router")
    scipy_floor_s, scipy_floor_cpu_s, floor_dist = scipy_floor(router, facility_nodes(inst))
    kdtree = kdtree_floor(inst)
    log(f"kdtree floor (nearest vertex for every cell): build {kdtree['kdtree_build_s']:.2f} s, query "
        f"{kdtree['kdtree_query_s']:.2f} s")
    peak = peak_rss_mb()
    result = {"machine": machine(), "network_nodes": int(net.n_nodes), "network_segments": int(net.n_segments),
              "cells": int(args.cells), "facilities": int(args.facilities),
              **{k: (round(v, 3) if isinstance(v, float) else v) for k, v in ours.items()},
              "coverage_cpu_s": round(ours["snap_cpu_s"] + ours["nearest_cpu_s"], 3),
              "coverage_cold_cpu_s": round(ours["snap_index_cpu_s"] + ours["first_snap_cpu_s"] + ours["first_nearest_cpu_s"], 3),
              "scipy_floor_s": round(scipy_floor_s, 3), "scipy_floor_cpu_s": round(scipy_floor_cpu_s, 3),
              **{k: round(v, 3) for k, v in kdtree.items()}}

    if not args.skip_networkx:
        nxr = in_child(_osmnx_networkx_child, (inst, router, floor_dist), None)
        log(f"osmnx + networkx: graph {nxr['build_s']:.1f} s; nearest_nodes {nxr['snap_s']:.2f} s, one multi-source "
            f"Dijkstra {nxr['dijkstra_s']:.1f} s, {nxr['total_s']:.1f} s in all; node times vs floor within "
            f"{nxr['max_abs_diff_s']:.3g} s; child peak {nxr['peak_rss_mb']:,.0f} MB")
        result.update({"osmnx_networkx_s": round(nxr["total_s"], 3), "osmnx_graph_build_s": round(nxr["build_s"], 3),
                       "osmnx_nearest_nodes_s": round(nxr["snap_s"], 3),
                       "networkx_dijkstra_s": round(nxr["dijkstra_s"], 3),
                       "osmnx_networkx_cpu_s": round(nxr["cpu_s"], 3),
                       "osmnx_networkx_max_abs_diff_s": nxr["max_abs_diff_s"],
                       "osmnx_networkx_reached_same_nodes": nxr["reached_same_nodes"],
                       "osmnx_networkx_child_peak_rss_mb": round(nxr["peak_rss_mb"], 1)})
    if not args.skip_pandana:
        pdr = pandana_run(inst, router, floor_dist, args.pandana_limit)
        result["pandana_limit_s"] = args.pandana_limit
        result["pandana_limit_hit"] = pdr is None
        if pdr is not None:
            result.update({"pandana_build_s": round(pdr["build_s"], 3), "pandana_query_s": round(pdr["query_s"], 3),
                           "pandana_build_cpu_s": round(pdr["build_cpu_s"], 3),
                           "pandana_query_cpu_s": round(pdr["query_cpu_s"], 3),
                           "pandana_max_abs_diff_s": pdr["max_abs_diff_s"],
                           "pandana_child_peak_rss_mb": round(pdr["peak_rss_mb"], 1)})
        del router
        ladder = pandana_ladder([int(s) for s in args.pandana_sides.split(",") if int(s) < args.side],
                                args, args.pandana_limit)
        result.update({k: round(v, 3) if isinstance(v, float) else v for k, v in ladder.items()})

    cov, cold = ours["coverage_s"], ours["coverage_cold_s"]
    cov_cpu = ours["snap_cpu_s"] + ours["nearest_cpu_s"]
    cold_cpu = cov_cpu + ours["snap_index_cpu_s"]
    targets = {"coverage_le_4x_scipy_floor": bool(cov <= 4 * scipy_floor_s),
               "coverage_over_scipy_floor": round(cov / scipy_floor_s, 2),
               "coverage_cold_over_scipy_floor": round(cold / scipy_floor_s, 2),
               "coverage_cpu_over_scipy_floor_cpu": round(cov_cpu / max(scipy_floor_cpu_s, 1e-9), 2),
               "coverage_cold_cpu_over_scipy_floor_cpu": round(cold_cpu / max(scipy_floor_cpu_s, 1e-9), 2),
               "peak_le_4gb": bool(peak <= 4096)}
    if "osmnx_networkx_s" in result:
        targets["speedup_vs_osmnx_networkx"] = round(result["osmnx_networkx_s"] / cov, 1)
        targets["speedup_cold_vs_osmnx_networkx"] = round(result["osmnx_networkx_s"] / cold, 1)
        targets["speedup_ge_10"] = bool(result["osmnx_networkx_s"] >= 10 * cov)
        targets["speedup_cold_ge_10"] = bool(result["osmnx_networkx_s"] >= 10 * cold)
        targets["cpu_speedup_vs_osmnx_networkx"] = round(result["osmnx_networkx_cpu_s"] / max(cov_cpu, 1e-9), 1)
        targets["cpu_speedup_cold_vs_osmnx_networkx"] = round(result["osmnx_networkx_cpu_s"] / max(cold_cpu, 1e-9), 1)
    if "pandana_limit_hit" in result:
        pandana_total = None if result["pandana_limit_hit"] else result["pandana_build_s"] + result["pandana_query_s"]
        targets["faster_than_pandana"] = bool(pandana_total is None or cov < pandana_total)
        targets["cold_faster_than_pandana"] = bool(pandana_total is None or cold < pandana_total)
        if "pandana_small_query_s" in result:
            targets["faster_than_pandana_query_alone_at_pandana_nodes"] = bool(
                result["coverage_s_at_pandana_nodes"] < result["pandana_small_query_s"])
    result.update({"peak_rss_mb": round(peak, 1), "targets": targets, "cpu_count": os.cpu_count(),
                   "load_avg_start": [round(v, 2) for v in load_start],
                   "load_avg_end": [round(v, 2) for v in os.getloadavg()], "seed": args.seed})
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
