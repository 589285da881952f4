"""Benchmark: isochrone polygons (15 and 30 minutes) of 50 facilities on a 250,000-node road network.

Not a test. Prints ONE JSON line on stdout; phase timings go to stderr.

What is timed (every figure is wall time, with the process CPU time of the same call beside it: the machine
may be shared, and wall time then counts other people's work)
  total_s          ``facility_isochrones`` for every facility and limit, from nothing cached: the time grid
                   (pixels joined to roads) and the pixels' arrivals, the bounded Dijkstra runs (compiled,
                   ``batch`` facilities a call), the time fields, contours, clean-up, with the default
                   drawing threads (``workers``: each batch's polygons are drawn in threads after its
                   Dijkstra call). ``polygons_per_s`` = polygons / total_s. The router (CSR graph)
                   is built before, as the coverage run has built it already; nothing else of the run is
                   reused (its searches are multi-source, nearest facility only: no per-facility times).
                   ``polygons_per_cpu_s`` = polygons / total_cpu_s.
  serial_s         the same from nothing cached with no drawing threads (``workers=0``)
  warm_s           a second call that finds the grid cached (a run with several facility groups, or the
                   ``isochrones`` command after the run's grid): Dijkstra + drawing; ``polygons_per_s_warm``
  grid_s           the time grid and arrivals alone (once per travel profile)
  dijkstra_s       the bounded Dijkstra runs alone (the same facilities and limit, the same batches): the
                   floor of any method that searches from each facility
  draw_s           drawing alone, given every facility's node times (field, contours, clean-up; serial):
                   ``polygons_per_s_given_node_times``, the rate if the engine kept per-facility times
  old_hull_s_per_polygon  the recipe before (concave hull of reached nodes, ratio 0.3, buffered 100 m),
                   timed on ``--old-sample`` facilities; ``old_polygons_per_s`` its rate

Quality (the engine's own answer, not the polygons): for every facility and limit L, the cells the engine
reaches within L (``Router.bounded``, access legs included, cells within max_access_m) and those it reaches
only after L + 2 minutes (or never). ``recall`` is the worst share of the first held by the polygon, ``spill``
the worst share of the second held by it; ``spill_of_polygon`` the worst share of a polygon's cells that are
late. ``*_mean`` are the means over polygons.

Diagnostics: ``load_avg_1m_start``/``_end`` (os.getloadavg(); the machine may be shared, which inflates wall
times), ``cpus`` (os.cpu_count()) and ``peak_rss_mb`` (ru_maxrss at the end, generation included).

Target: polygons_per_s ≥ 100, recall ≥ 0.98, spill ≤ 0.05.

    python benchmarks/bench_isochrones.py [--side 500] [--facilities 50] [--cells 200000] [--old-sample 4] [--workers N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import shapely

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_coverage import clustered_points_near_roads, log, peak_rss_mb, road_like_network  # noqa: E402

from coverage_planner.coverage import TravelModel  # noqa: E402
from coverage_planner import isochrones  # noqa: E402
from coverage_planner.isochrones import facility_isochrones  # noqa: E402
from coverage_planner.time_grid import PIXEL_M, time_grid  # noqa: E402
from coverage_planner.network import largest_component  # noqa: E402
from coverage_planner.travel import FROM_FACILITY, snap  # noqa: E402

SEED = 20240611


def synthetic_model(side: int, n_cells: int, n_fac: int, rng: np.random.Generator):
    """A TravelModel on the road-like network, cells and facilities; as in the engine, points join the
    largest strongly connected part (the generator removes edges and makes some one-way)."""
    net = road_like_network(side, rng)
    cx, cy = clustered_points_near_roads(net, side, n_cells, rng, n_clusters=max(side, 10),
                                         clustered_share=0.8, spread_m=40.0)
    fx, fy = clustered_points_near_roads(net, side, n_fac, rng, n_clusters=n_fac, clustered_share=0.75,
                                         spread_m=15.0)
    core = largest_component(net, strong=True)
    tree = shapely.STRtree(net.seg_geometry[core])
    model = TravelModel("ambulance", {"access_kmh": 5.0}, net, core, core, snap(net, cx, cy, core, tree),
                        snap(net, fx, fy, core, tree), np.zeros(n_cells, dtype=bool))
    facilities = _facility_frame(net.crs, fx, fy)
    return model, facilities, cx, cy


def _facility_frame(crs: str, x: np.ndarray, y: np.ndarray):
    import geopandas as gpd

    ids = [f"F{i:03d}" for i in range(len(x))]
    return gpd.GeoDataFrame({"facility_id": ids, "name": ids, "type": "ems"}, geometry=gpd.points_from_xy(x, y),
                            crs=crs)


def old_hull(model: TravelModel, facilities, idx: np.ndarray, offsets: np.ndarray, minutes: list[float]) -> int:
    """The recipe before this benchmark: concave hull (ratio 0.3) of the reached nodes, buffered 100 m."""
    router = model.router(FROM_FACILITY, "time")
    src = model.fac_snap.take(idx)
    n = 0
    for k, reached, costs in router.bounded_node_costs(src, offsets[idx] + src.access_m / model.access_mps,
                                                       max(minutes) * 60.0):
        p = facilities.geometry.iloc[idx[k]]
        for m in minutes:
            inside = reached[costs <= m * 60.0]
            pts = shapely.multipoints(np.column_stack([np.r_[model.net.node_x[inside], p.x],
                                                       np.r_[model.net.node_y[inside], p.y]]))
            shapely.buffer(shapely.concave_hull(pts, ratio=0.3), 100.0, quad_segs=4)
            n += 1
    return n


def quality(model: TravelModel, iso, offsets: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> dict:
    """Worst and mean recall and spill of the polygons against the engine's per-facility cell times."""
    cells, v = model.cell_snap, model.access_mps
    router = model.router(FROM_FACILITY, "time")
    src = model.fac_snap
    start = offsets + src.access_m / v
    usable = cells.access_m <= model.max_access_m
    recall, spill, spill_poly = [], [], []
    for m in sorted(iso["minutes"].unique()):
        within = router.bounded(src, start, cells, cells.access_m / v, m * 60.0).tocsc()
        early = router.bounded(src, start, cells, cells.access_m / v, m * 60.0 + 120.0).tocsc()
        geoms = iso.loc[iso["minutes"] == m, "geometry"].to_numpy()
        for k, geom in enumerate(geoms):
            reached = np.zeros(len(cx), dtype=bool)
            reached[within.indices[within.indptr[k]:within.indptr[k + 1]]] = True
            late = np.ones(len(cx), dtype=bool)
            late[early.indices[early.indptr[k]:early.indptr[k + 1]]] = False
            reached &= usable
            late |= ~usable
            shapely.prepare(geom)
            inside = shapely.contains_xy(geom, cx, cy)
            recall.append((inside & reached).sum() / max(reached.sum(), 1))
            spill.append((inside & late).sum() / max(late.sum(), 1))
            spill_poly.append((inside & late).sum() / max(inside.sum(), 1))
    return {"recall": float(min(recall)), "spill": float(max(spill)), "spill_of_polygon": float(max(spill_poly)),
            "recall_mean": float(np.mean(recall)), "spill_mean": float(np.mean(spill))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=500, help="grid side (nodes = side²)")
    parser.add_argument("--facilities", type=int, default=50)
    parser.add_argument("--minutes", type=float, nargs="+", default=[15.0, 30.0])
    parser.add_argument("--cells", type=int, default=200_000, help="population cells for the quality check")
    parser.add_argument("--pixel-m", type=float, default=PIXEL_M)
    parser.add_argument("--old-sample", type=int, default=4, help="facilities timed with the old hull recipe")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", type=int, default=None, help="drawing threads (default: as the library)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    load_start = os.getloadavg()[0]

    t = time.perf_counter()
    model, facilities, cx, cy = synthetic_model(args.side, args.cells, args.facilities, rng)
    offsets = np.where(rng.random(args.facilities) < 0.5, 60.0, 0.0)      # half with a 1-minute turnout
    idx = np.arange(args.facilities)
    log(f"generate + snap: {model.net.n_nodes:,} nodes, {args.cells:,} cells, {args.facilities} facilities: "
        f"{time.perf_counter() - t:.1f} s")

    router = model.router(FROM_FACILITY, "time")       # built by the coverage run before any isochrone
    v = model.access_mps

    def uncached() -> None:
        for key in [k for k in model.routers if k[0].startswith("isochrone")]:
            del model.routers[key]

    def timed(fn):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        return out, time.perf_counter() - t, time.process_time() - c

    def draw_all():
        return facility_isochrones(model, facilities, idx, offsets, FROM_FACILITY, args.minutes, pixel_m=args.pixel_m,
                                   workers=args.workers)

    uncached()
    iso, total_s, total_cpu_s = timed(draw_all)
    _, warm_s, warm_cpu_s = timed(draw_all)
    uncached()
    _, serial_s, serial_cpu_s = timed(lambda: facility_isochrones(model, facilities, idx, offsets, FROM_FACILITY,
                                                                  args.minutes, pixel_m=args.pixel_m, workers=0))
    uncached()
    def grid_and_arrivals():
        g = time_grid(model, args.pixel_m)
        return g, isochrones._arrivals(model, g, router, FROM_FACILITY)

    (grid, arr), grid_s, grid_cpu_s = timed(grid_and_arrivals)
    seconds = [m * 60.0 + grid.pixel_m / 2 / v for m in sorted(args.minutes)]
    src = model.fac_snap
    start = offsets + src.access_m / v
    batch = max(1, min(len(idx), isochrones.DIJKSTRA_FLOATS // (model.net.n_nodes + len(idx))))
    rows, dijkstra_s, dijkstra_cpu_s = timed(lambda: [row for _, row in router.bounded_node_rows(
        src, start, seconds[-1], batch)])
    own = shapely.bounds(model.net.seg_geometry[src.seg])
    own = np.column_stack([np.minimum(own[:, 0], facilities.geometry.x), np.minimum(own[:, 1], facilities.geometry.y),
                           np.maximum(own[:, 2], facilities.geometry.x), np.maximum(own[:, 3], facilities.geometry.y)])
    _, draw_s, draw_cpu_s = timed(lambda: [isochrones._facility_polygons(
        model, grid, arr, router, src.take(np.array([k])), float(start[k]), own[k], rows[k], seconds)
        for k in range(len(idx))])
    del rows
    workers = min(isochrones.MAX_WORKERS, os.cpu_count() or 1) if args.workers is None else args.workers
    log(f"isochrones: {len(iso)} polygons from nothing cached in {total_s:.2f} s ({total_cpu_s:.2f} s CPU, "
        f"{workers} drawing threads); serial {serial_s:.2f} s ({serial_cpu_s:.2f} s CPU); grid cached "
        f"{warm_s:.2f} s ({warm_cpu_s:.2f} s CPU). Parts: grid {grid.shape} of {grid.pixel_m:.0f} m "
        f"{grid_s:.2f} s ({grid_cpu_s:.2f} s CPU), Dijkstra {dijkstra_s:.2f} s ({dijkstra_cpu_s:.2f} s CPU), "
        f"drawing {draw_s:.2f} s ({draw_cpu_s:.2f} s CPU)")

    old = {}
    if args.old_sample > 0:
        t = time.perf_counter()
        n_old = old_hull(model, facilities, idx[:args.old_sample], offsets, args.minutes)
        per = (time.perf_counter() - t) / n_old
        old = {"old_hull_s_per_polygon": round(per, 3), "old_polygons_per_s": round(1 / per, 2)}
        log(f"old concave hulls: {per:.2f} s per polygon")

    t = time.perf_counter()
    q = quality(model, iso, offsets, cx, cy)
    log(f"quality: {q} ({time.perf_counter() - t:.1f} s)")
    vertices = shapely.get_num_coordinates(iso.geometry.to_numpy())
    print(json.dumps({
        "polygons": int(len(iso)), "network_nodes": int(model.net.n_nodes), "facilities": args.facilities,
        "minutes": args.minutes, "polygons_per_s": round(len(iso) / total_s, 1), "total_s": round(total_s, 3),
        "total_cpu_s": round(total_cpu_s, 3), "polygons_per_cpu_s": round(len(iso) / total_cpu_s, 1),
        "workers": workers, "serial_s": round(serial_s, 3), "serial_cpu_s": round(serial_cpu_s, 3),
        "polygons_per_s_serial": round(len(iso) / serial_s, 1),
        "warm_s": round(warm_s, 3), "warm_cpu_s": round(warm_cpu_s, 3),
        "polygons_per_s_warm": round(len(iso) / warm_s, 1), "polygons_per_cpu_s_warm": round(len(iso) / warm_cpu_s, 1),
        "grid_s": round(grid_s, 3), "grid_cpu_s": round(grid_cpu_s, 3),
        "dijkstra_s": round(dijkstra_s, 3), "dijkstra_cpu_s": round(dijkstra_cpu_s, 3), "batch": batch,
        "draw_s": round(draw_s, 3), "draw_cpu_s": round(draw_cpu_s, 3),
        "polygons_per_s_given_node_times": round(len(iso) / draw_s, 1),
        "pixel_m": grid.pixel_m, "grid_pixels": int(np.prod(grid.shape)), **old,
        "recall": round(q["recall"], 4), "spill": round(q["spill"], 5),
        "spill_of_polygon": round(q["spill_of_polygon"], 4), "recall_mean": round(q["recall_mean"], 4),
        "spill_mean": round(q["spill_mean"], 5), "cells": args.cells,
        "vertices_median": int(np.median(vertices)), "vertices_max": int(vertices.max()),
        "load_avg_1m_start": round(load_start, 2), "load_avg_1m_end": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(), "peak_rss_mb": round(peak_rss_mb(), 1),
    }))


if __name__ == "__main__":
    main()
