"""Station-siting benchmark: our sparse HiGHS models against spopt, and a 1M-cell MCLP.

Covering sets come from the project's own network engine, as in the real tool: a synthetic
road-like network (perturbed grid, ~10% of edges removed, 100–300 m edges, 30–60 km/h), population
cells every 100 m snapped to it, candidates snapped to its strongly connected core, and a bounded
Dijkstra per candidate (Router.bounded, ambulance direction) with turnout and access legs.

spopt 0.7 runs with PuLP's CBC and with PuLP's HiGHS (highspy), both at our relative MIP gap of 1e-6;
its time is split into the model build (the dense cost matrix spopt needs + ``from_cost_matrix``,
i.e. PuLP's model) and ``solve`` (the solver call and spopt's post-processing). Ours is one call
(``optimize.mclp`` / ``optimize.lscp``: sparse input, row merging, HiGHS). The script asserts that every
spopt objective equals ours and reports ``speedup_vs_spopt_<solver>_<model>`` = spopt's build + solve
over ours; the target is ≥ 10× over spopt + HiGHS for MCLP and LSCP.

The demo figures (issue 9): ``coverage-planner site scenarios/demo.toml`` with every default model
(LSCP, MCLP, p-median, p-center, MEXCLP, DSM at their default 60 s limits), run first in a child
process of its own: ``demo_site_all_s`` is its wall time from start to exit (loading the region,
snapping, routing, the six solves, the site table and every output file: CSV, GeoPackage, the map,
the curve PNG), ``demo_site_cpu_s`` its CPU time (user + system, all threads) and
``demo_site_peak_mb`` its peak resident memory (``getrusage(RUSAGE_CHILDREN)``, measured before any
other child runs). Targets: ≤ 20 s and ≤ 1,500 MB. ``--demo-only`` runs just this.

Prints ONE JSON line on stdout; phase timings go to stderr. Run:
    python benchmarks/bench_siting.py [--skip-big] [--skip-spopt] [--solvers highs,cbc] [--quick]
                                      [--demo-only | --skip-demo] [--demo-models lscp mclp ...]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, no install needed

from coverage_planner import optimize as opt  # noqa: E402
from coverage_planner.network import RoadNetwork, largest_component, seconds_per_segment  # noqa: E402
from coverage_planner.travel import FROM_FACILITY, Router, snap  # noqa: E402

ACCESS_MPS = 5.0 / 3.6   # walking leg between a point and its road (the ambulance profile's access_kmh)
TURNOUT_S = 60.0         # station turnout time
OURS_LIMIT_S = 900.0     # our solver's time limit in the spopt comparison: far above what it needs


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def road_grid(nx: int, ny: int, rng: np.random.Generator, spacing: float = 200.0) -> RoadNetwork:
    """Perturbed grid: nodes jittered ±40 m, 10% of edges removed, arterials every 8th line."""
    iy, ix = np.divmod(np.arange(nx * ny), nx)
    x = ix * spacing + rng.uniform(-40, 40, nx * ny)
    y = iy * spacing + rng.uniform(-40, 40, nx * ny)
    ids = np.arange(nx * ny)
    horiz = ids[ix < nx - 1]
    vert = ids[iy < ny - 1]
    a = np.concatenate([horiz, vert])
    b = np.concatenate([horiz + 1, vert + nx])
    keep = rng.random(len(a)) >= 0.10
    a, b = a[keep], b[keep]
    arterial = np.where(b == a + 1, iy[a] % 8 == 0, ix[a] % 8 == 0)
    speed = np.where(arterial, rng.uniform(50, 60, len(a)), rng.uniform(30, 40, len(a)))
    coords = np.stack([np.column_stack([x[a], y[a]]), np.column_stack([x[b], y[b]])], axis=1)
    n = len(a)
    return RoadNetwork(
        crs="EPSG:32648", node_x=x, node_y=y, seg_a=a, seg_b=b,
        seg_length=np.hypot(x[b] - x[a], y[b] - y[a]),
        seg_highway=np.where(arterial, "primary", "residential").astype(object),
        seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.ones(n, bool),
        seg_geometry=shapely.linestrings(coords), seg_speed_kmh=speed, source="synthetic grid")


def population(cx: np.ndarray, cy: np.ndarray, size_m: float, n_towns: int, rng: np.random.Generator) -> np.ndarray:
    """Towns (Gaussian blobs, 70% of people) on a sparse rural background with many empty cells."""
    pop = rng.poisson(1.5, len(cx)) * (rng.random(len(cx)) > 0.4).astype(float)
    rural = pop.sum()
    towns = np.zeros(len(cx))
    for _ in range(n_towns):
        tx, ty = rng.uniform(0.05, 0.95, 2) * size_m
        sigma = rng.uniform(400, 2500)
        d2 = (cx - tx) ** 2 + (cy - ty) ** 2
        blob = np.exp(-d2 / (2 * sigma ** 2)) * (d2 < (4 * sigma) ** 2)
        towns += rng.lognormal(0, 1) * blob / blob.sum()
    return np.round(pop + towns / towns.sum() * rural * 7 / 3)


def instance(n_side: int, n_candidates: int, n_towns: int, limit_s: float, seed: int):
    """Cells (n_side² at 100 m), candidates and the sparse cells × candidates covering matrix."""
    rng = np.random.default_rng(seed)
    size = n_side * 100.0
    t = time.perf_counter()
    net = road_grid(n_side // 2 + 1, n_side // 2 + 1, rng)
    main = largest_component(net, strong=True)
    log(f"  network: {net.n_nodes:,} nodes, {net.n_segments:,} segments ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    g = (np.arange(n_side) + 0.5) * 100.0
    cx, cy = (a.ravel() for a in np.meshgrid(g, g))
    weights = population(cx, cy, size, n_towns, rng)
    near_town = rng.random(n_candidates) < 0.5  # half the candidates in populated places
    pick = rng.choice(len(cx), n_candidates, p=weights / weights.sum())
    fx = np.where(near_town, cx[pick], rng.uniform(0, size, n_candidates))
    fy = np.where(near_town, cy[pick], rng.uniform(0, size, n_candidates))
    tree = shapely.STRtree(net.seg_geometry[np.flatnonzero(main)])
    cells = snap(net, cx, cy, allowed=main, tree=tree)
    sites = snap(net, fx, fy, allowed=main, tree=tree)
    log(f"  {len(cx):,} cells, {n_candidates} candidates snapped ({time.perf_counter() - t:.1f} s)")
    t = time.perf_counter()
    router = Router(net, seconds_per_segment(net), FROM_FACILITY)
    cost = router.bounded(sites, TURNOUT_S + sites.access_m / ACCESS_MPS, cells, cells.access_m / ACCESS_MPS,
                          limit=limit_s)
    cover = sp.csr_matrix((np.ones(cost.nnz, bool), cost.indices, cost.indptr), shape=cost.shape)
    log(f"  covering matrix within {limit_s:.0f} s: {cover.nnz:,} pairs, "
        f"{(np.diff(cover.indptr) == 0).sum():,} cells unreachable ({time.perf_counter() - t:.1f} s)")
    return cost, cover, weights


def dense_costs(cost: sp.csr_matrix) -> np.ndarray:
    """The cells × candidates cost matrix spopt takes: dense, inf beyond the limit."""
    dense = np.full(cost.shape, np.inf)
    rows = np.repeat(np.arange(cost.shape[0]), np.diff(cost.indptr))
    dense[rows, cost.indices] = cost.data
    return dense


def spopt_solvers(names: list[str]) -> dict:
    """PuLP solvers for spopt, at our relative MIP gap (1e-6) so that the objectives must agree."""
    import pulp

    make = {"cbc": lambda: pulp.PULP_CBC_CMD(msg=False, gapRel=1e-6),
            "highs": lambda: pulp.HiGHS(msg=False, gapRel=1e-6)}
    return {name: make[name]() for name in names}


def run_spopt(cost: sp.csr_matrix, cover: sp.csr_matrix, weights: np.ndarray, limit_s: float, p: int,
              solver_name: str, solver) -> dict:
    """spopt's MCLP and LSCP with one PuLP solver: the model build (dense matrix + ``from_cost_matrix``)
    and ``solve`` (PuLP's solver call and spopt's post-processing) timed apart."""
    import pulp
    from spopt.locate import LSCP, MCLP

    out, key = {}, f"spopt_{solver_name}"
    t = time.perf_counter()
    model = MCLP.from_cost_matrix(dense_costs(cost), weights, limit_s, p)
    out[f"{key}_mclp_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model.solve(solver)
    out[f"{key}_mclp_solve_s"] = time.perf_counter() - t
    out[f"{key}_mclp_obj"] = float(pulp.value(model.problem.objective))
    log(f"  spopt + {solver_name} MCLP: build {out[f'{key}_mclp_build_s']:.1f} s, solve "
        f"{out[f'{key}_mclp_solve_s']:.1f} s, objective {out[f'{key}_mclp_obj']:,.0f}")
    reachable = np.diff(cover.indptr) > 0  # spopt's LSCP raises "Infeasible" unless these are dropped
    t = time.perf_counter()
    model = LSCP.from_cost_matrix(dense_costs(cost)[reachable], limit_s)
    out[f"{key}_lscp_build_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model.solve(solver)
    out[f"{key}_lscp_solve_s"] = time.perf_counter() - t
    out[f"{key}_lscp_obj"] = float(pulp.value(model.problem.objective))
    log(f"  spopt + {solver_name} LSCP: build {out[f'{key}_lscp_build_s']:.1f} s, solve "
        f"{out[f'{key}_lscp_solve_s']:.1f} s, {out[f'{key}_lscp_obj']:.0f} sites")
    return out


def same_objective(a: float, b: float) -> bool:
    """Equal at the MIP gap both sides were solved to (1e-6 relative)."""
    return abs(a - b) <= 1e-6 * max(1.0, abs(a), abs(b))


def compare(out: dict, solvers: list[str]) -> None:
    """Assert equal objectives with every spopt solver; add our speed-up over spopt + HiGHS in total."""
    for name in solvers:
        for model in ("mclp", "lscp"):
            ours, theirs = out[f"ours_{model}_obj"], out[f"spopt_{name}_{model}_obj"]
            assert same_objective(ours, theirs), f"{model}: ours {ours} vs spopt + {name} {theirs}"
            total = out[f"spopt_{name}_{model}_build_s"] + out[f"spopt_{name}_{model}_solve_s"]
            out[f"speedup_vs_spopt_{name}_{model}"] = total / out[f"ours_{model}_s"]
    if "highs" in solvers:
        out["targets"] = {f"{m}_ge_10x_spopt_highs": bool(out[f"speedup_vs_spopt_highs_{m}"] >= 10)
                          for m in ("mclp", "lscp")}


def small(solvers: list[str], side: int = 100, candidates: int = 500) -> dict:
    log(f"{side * side:,} cells × {candidates} candidates")
    limit_s, p = 240.0, 20
    cost, cover, weights = instance(side, candidates, 6, limit_s, seed=1)
    out = {"small_cells": int(cover.shape[0]), "small_candidates": int(cover.shape[1])}
    t = time.perf_counter()
    s = opt.mclp(cover, weights, p, time_limit=OURS_LIMIT_S)      # to proven optimality, as spopt runs
    out["ours_mclp_s"], out["ours_mclp_obj"] = time.perf_counter() - t, s.objective
    out["ours_mclp_status"], out["ours_mclp_gap"] = s.status, s.gap
    log(f"  ours MCLP: {out['ours_mclp_s']:.2f} s, {s.rows_in:,} → {s.rows_after_aggregation:,} rows; {s.message}")
    t = time.perf_counter()
    s = opt.lscp(cover, time_limit=OURS_LIMIT_S)
    out["ours_lscp_s"], out["ours_lscp_obj"] = time.perf_counter() - t, s.objective
    out["ours_lscp_status"], out["ours_lscp_gap"] = s.status, s.gap
    log(f"  ours LSCP: {out['ours_lscp_s']:.2f} s; {s.message}")
    for name, solver in spopt_solvers(solvers).items():
        out.update(run_spopt(cost, cover, weights, limit_s, p, name, solver))
    compare(out, solvers)
    return out


def big(time_limit: float) -> dict:
    log("1,000,000 cells × 2,000 candidates")
    limit_s, p = 600.0, 20
    _, cover, weights = instance(1000, 2000, 40, limit_s, seed=2)
    t = time.perf_counter()
    s = opt.mclp(cover, weights, p, time_limit=time_limit)
    seconds = time.perf_counter() - t
    log(f"  ours MCLP: {seconds:.1f} s, {s.rows_in:,} → {s.rows_after_aggregation:,} rows; {s.message}")
    return {"big_cells": int(cover.shape[0]), "big_candidates": int(cover.shape[1]),
            "big_rows_after_aggregation": s.rows_after_aggregation, "big_mclp_s": seconds,
            "big_mclp_gap": s.gap, "big_mclp_status": s.status, "big_mclp_obj": s.objective}


def demo_site_all(models: list[str] | None = None) -> dict:
    """``coverage-planner site`` on the demo in a child process: wall, CPU and peak memory of the child.

    Must run before any other child process of this one: ``RUSAGE_CHILDREN`` keeps the largest peak
    of all the children that have ended.
    """
    root = Path(__file__).resolve().parents[1]
    log(f"demo: coverage-planner site scenarios/demo.toml ({' '.join(models) if models else 'all models'})")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "coverage_planner.cli", "site", str(root / "scenarios" / "demo.toml"),
               "--quiet", "--out", str(Path(tmp) / "site")] + (["--models", *models] if models else [])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"demo site failed ({proc.returncode}): {proc.stderr[-2000:]}")
        import pandas as pd

        solved = pd.read_csv(Path(tmp) / "site" / "siting_models.csv", encoding="utf-8-sig")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = {"demo_site_all_s": seconds, "demo_site_cpu_s": cpu, "demo_site_peak_mb": after.ru_maxrss / 1024,
           "demo_site_models": {r.model: {"objective": float(r.objective), "status": r.status, "gap": float(r.gap),
                                          "seconds": float(r.seconds)} for r in solved.itertuples()}}
    log(f"  {seconds:.1f} s wall, {cpu:.1f} s CPU, peak {out['demo_site_peak_mb']:,.0f} MB; "
        + ", ".join(f"{r.model} {r.seconds:.1f} s {r.status}" for r in solved.itertuples()))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--skip-spopt", action="store_true")
    parser.add_argument("--solvers", default="highs,cbc", help="PuLP solvers for spopt (highs, cbc)")
    parser.add_argument("--quick", action="store_true", help="2,500 cells × 60 candidates, no 1M-cell run")
    parser.add_argument("--side", type=int, default=100, help="cells per side of the small instance (100 m cells)")
    parser.add_argument("--candidates", type=int, default=500, help="candidates of the small instance")
    parser.add_argument("--time-limit", type=float, default=60.0, help="solver time limit for the 1M-cell MCLP")
    parser.add_argument("--demo-only", action="store_true", help="only `site` on the demo (demo_site_all_s, ...)")
    parser.add_argument("--skip-demo", action="store_true", help="no `site` run on the demo")
    parser.add_argument("--demo-models", nargs="+", help="models of the demo run (default: all, as the CLI)")
    args = parser.parse_args()
    load_start = os.getloadavg()
    solvers = [] if args.skip_spopt else [s.strip() for s in args.solvers.split(",") if s.strip()]
    if args.quick:
        args.side, args.candidates, args.skip_big = 50, 60, True
    out = {} if args.skip_demo else demo_site_all(args.demo_models)   # first: the children's peak is its own
    if not args.skip_demo and not args.demo_models:
        out["demo_targets"] = {"demo_site_all_le_20s": bool(out["demo_site_all_s"] <= 20),
                               "demo_site_peak_le_1500mb": bool(out["demo_site_peak_mb"] <= 1500)}
    if not args.demo_only:
        out.update(small(solvers, args.side, args.candidates))
    if not args.skip_big and not args.demo_only:
        out.update(big(args.time_limit))
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.update({"cpu_count": os.cpu_count(), "load_avg_start": [round(v, 2) for v in load_start],
                "load_avg_end": [round(v, 2) for v in os.getloadavg()]})
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in out.items()}))


if __name__ == "__main__":
    main()
