"""Benchmark: edit latency of ``coverage-planner serve`` through its HTTP API.

Not a test. Prints ONE JSON line per region on stdout; progress goes to stderr.

For the demo and for a generated square region (``--side`` cells of 100 m a side: 1000 → 1,000,000
cells, with a street grid every 500 m, four units, EMS stations, township health centres and
hospitals), it starts the app on a free loopback port (uvicorn, in this process), opens one session
and sends ``--edits`` random edits (add a station near a road, move one, close or reopen one, move
a threshold slider, move the speed slider, undo, redo) with a fixed seed; each latency is the
client's wall time for the POST, response (table, cell states, stations) included, and the CPU time
this process (client and server threads) spent meanwhile. Then it saves the state and times
``coverage-planner run --no-isochrones`` of the saved scenario (``full_rerun_s``, a subprocess; its
CPU time too; serve draws no isochrones, so the rerun computes what serve shows: the rules' tables
and cell states).

Keys: ``region``, ``cells``, ``edits``, ``p50_ms``, ``p95_ms``, ``max_ms``, ``p95_ms_by_op`` (wall),
``cpu_p50_ms``, ``cpu_p95_ms``, ``cpu_p95_ms_by_op`` (CPU), ``full_rerun_s``, ``full_rerun_cpu_s``,
``startup_s`` (load + per-station searches), ``peak_rss_mb`` (this process, server included),
``load_avg`` (os.getloadavg() before and after: the machine may be shared). ``--load`` also runs
the loopback load test (20 tabs × 25 edits = 500 edits, in two waves of new tabs: the second only
replaces tabs, so it shows whether memory is steady) and adds ``load`` (errors, edits each tab
reports against those it sent, server RSS after a warm-up wave and after each wave).

    python benchmarks/bench_serve.py [--side 1000] [--edits 200] [--skip-demo] [--skip-generated] [--load]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

SEED = 20261130


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def generated_region(folder: Path, side: int) -> Path:
    """A square region of side × side cells (100 m) with a 500 m street grid; returns its scenario."""
    from conftest import UTM, X0, Y0, lonlat, polygon_lonlat, write_geojson, write_osm, write_raster

    rng = np.random.default_rng(SEED)
    metres = side * 100.0
    k = int(metres // 500) + 1
    nodes, ways = {}, []
    nid = lambda i, j: 1 + i * k + j  # noqa: E731
    for i in range(k):
        for j in range(k):
            nodes[nid(i, j)] = (500.0 * i + rng.uniform(-40, 40), 500.0 * j + rng.uniform(-40, 40))
    for j in range(k):
        cls = "primary" if j % 10 == 0 else "residential"
        ways.append(([nid(i, j) for i in range(k)], {"highway": cls}))
    for i in range(k):
        cls = "primary" if i % 10 == 0 else "residential"
        ways.append(([nid(i, j) for j in range(k)], {"highway": cls}))
    write_osm(folder / "roads.osm", nodes, ways)
    yy, xx = np.mgrid[0:side, 0:side]
    centre = side / 2
    pop = 2.0 + 200.0 * np.exp(-((xx - centre) ** 2 + (yy - centre) ** 2) / (2 * (side / 8) ** 2))
    write_raster(folder / "pop.tif", pop, X0, Y0 + metres)
    half = metres / 2
    units, q = [], 0
    for ux in (0, 1):
        for uy in (0, 1):
            q += 1
            units.append({"type": "Feature", "properties": {"unit_id": f"U{q}", "name": f"单元{q}", "kind": "town",
                                                            "zone": "urban" if q == 1 else "rural"},
                          "geometry": {"type": "Polygon", "coordinates": polygon_lonlat(
                              ux * half, uy * half, (ux + 1) * half, (uy + 1) * half)}})
    write_geojson(folder / "units.geojson", units)
    feats = []
    n_fac = max(8, side // 25)
    for f in range(n_fac):
        x, y = rng.uniform(0.05, 0.95, 2) * metres
        x, y = round(x / 500) * 500.0, round(y / 500) * 500.0   # on a crossing
        ftype = ("ems", "thc", "hospital")[f % 3]
        feats.append({"type": "Feature", "properties": {"id": f"F{f:03d}", "name": f"站{f}", "type": ftype,
                                                        "ambulances": 1},
                      "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + y))}})
    write_geojson(folder / "facilities.geojson", feats)
    (folder / "scenario.toml").write_text(f"""
[scenario]
name = "generated"
crs = "{UTM}"
[standards]
profile = "chongqing"
rules = ["ems_radius", "ems_response", "service_circle", "ambulances_per_10k"]
[boundaries]
path = "units.geojson"
[facilities]
path = "facilities.geojson"
[population]
path = "pop.tif"
[roads]
path = "roads.osm"
[outputs]
dir = "out"
cache_dir = "cache"
""", encoding="utf-8")
    return folder / "scenario.toml"


def start_server(app) -> tuple[str, object, threading.Thread]:
    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return f"http://127.0.0.1:{port}", server, thread


def random_edits(engine, n: int, rng: np.random.Generator) -> list[dict]:
    """``n`` edit bodies: places near roads, ids of the baseline, thresholds within the sliders."""
    access = engine.model("ambulance", 1.0).cell_snap.access_m
    near = np.flatnonzero(access < 100)
    lon, lat = engine.to_lonlat(engine.x[near], engine.y[near])
    ids = list(engine.region.facilities["facility_id"])
    rules = [r for r in engine.full_profile.rules if r.spatial]
    added, out = 0, []
    for _ in range(n):
        op = rng.choice(["add", "move", "close", "reopen", "threshold", "speed", "undo", "redo"],
                        p=[0.2, 0.15, 0.15, 0.1, 0.2, 0.05, 0.1, 0.05])
        k = int(rng.integers(len(near)))
        if op == "add":
            out.append({"op": "add", "lon": float(lon[k]), "lat": float(lat[k]), "type": "ems"})
            added += 1
        elif op == "move":
            out.append({"op": "move", "id": ids[int(rng.integers(len(ids)))], "lon": float(lon[k]), "lat": float(lat[k])})
        elif op in ("close", "reopen"):
            out.append({"op": op, "id": ids[int(rng.integers(len(ids)))]})
        elif op == "threshold":
            r = rules[int(rng.integers(len(rules)))]
            zone = "urban" if r.urban is not None and rng.random() < 0.5 else "rural"
            base = getattr(r, zone) or r.urban
            zone = zone if getattr(r, zone) is not None else "urban"
            out.append({"op": "threshold", "rule": r.id, "zone": zone,
                        "value": round(float(base * rng.uniform(0.6, 1.6)), 1)})
        elif op == "speed":
            out.append({"op": "speed", "value": float(rng.choice([0.8, 0.9, 1.0, 1.1]))})
        else:
            out.append({"op": op})
    return out


def bench_region(name: str, scenario: Path, out_dir: Path, n_edits: int, load: bool) -> dict:
    import httpx

    from coverage_planner import pipeline
    from coverage_planner.scenario import load_scenario
    from coverage_planner.serve.app import create_app
    from coverage_planner.serve.state import Engine

    load0 = os.getloadavg()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = load_scenario(scenario, out_dir)
        region = pipeline.load_region(scn, pipeline.Steps(True))
        engine = Engine(scn, region)
        app = create_app(engine, out_dir)
    startup = time.perf_counter() - t0
    log(f"{name}: {engine.n:,} cells, startup {startup:.1f} s")
    url, server, thread = start_server(app)
    rng = np.random.default_rng(SEED)
    times: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    refused = 0
    with httpx.Client(base_url=url, timeout=600) as c:
        sid = c.post("/api/session").json()["view"]["sid"]
        for body in random_edits(engine, n_edits, rng):
            t, t_cpu = time.perf_counter(), time.process_time()
            r = c.post(f"/api/{sid}/edit", json=body)
            ms = (time.perf_counter() - t) * 1000
            if r.status_code == 200:
                times.setdefault(body["op"], []).append(ms)
                cpu.setdefault(body["op"], []).append((time.process_time() - t_cpu) * 1000)
            else:
                refused += 1      # e.g. nothing to undo: answered, not timed
        saved = c.post(f"/api/{sid}/save", json={"name": "bench"}).json()["scenario"]
    result_load = None
    if load:
        from test_serve import load_test

        access = engine.model("ambulance", 1.0).cell_snap.access_m
        i = int(np.flatnonzero(access < 100)[0])
        lon, lat = engine.to_lonlat(np.array([engine.x[i]]), np.array([engine.y[i]]))
        t = time.perf_counter()
        result_load = load_test(url, float(lon[0]), float(lat[0]), clients=20, edits=25)
        result_load = {"clients": 20, "edits": 500, "waves": 2, "errors": len(result_load["errors"]),
                       "lost_edits": int(sum(25 - c for c in result_load["counts"] + result_load["counts_second_wave"])),
                       "rss_growth_mb": round(result_load["rss_growth_mb"], 1),
                       "rss_second_wave_growth_mb": round(result_load["rss_second_wave_growth_mb"], 1),
                       "rss_before_mb": round(result_load["rss_before_mb"], 1),
                       "rss_after_mb": round(result_load["rss_after_mb"], 1),
                       "rss_after_second_wave_mb": round(result_load["rss_after_second_wave_mb"], 1),
                       "seconds": round(time.perf_counter() - t, 1)}
    server.should_exit = True
    thread.join(10)
    t, children = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-m", "coverage_planner.cli", "run", saved, "--quiet", "--no-isochrones"],
                   check=True,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL)
    full = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    full_cpu = after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime
    every = np.concatenate([np.asarray(v) for v in times.values()])
    every_cpu = np.concatenate([np.asarray(v) for v in cpu.values()])
    out = {"region": name, "cells": engine.n, "edits": int(len(every)), "refused_edits": refused,
           "p50_ms": round(float(np.percentile(every, 50)), 1), "p95_ms": round(float(np.percentile(every, 95)), 1),
           "max_ms": round(float(every.max()), 1),
           "p95_ms_by_op": {k: round(float(np.percentile(v, 95)), 1) for k, v in sorted(times.items())},
           "cpu_p50_ms": round(float(np.percentile(every_cpu, 50)), 1),
           "cpu_p95_ms": round(float(np.percentile(every_cpu, 95)), 1),
           "cpu_p95_ms_by_op": {k: round(float(np.percentile(v, 95)), 1) for k, v in sorted(cpu.items())},
           "full_rerun_s": round(full, 2), "full_rerun_cpu_s": round(full_cpu, 2), "startup_s": round(startup, 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "load_avg": [round(load0[0], 2), round(os.getloadavg()[0], 2)]}
    if result_load:
        out["load"] = result_load
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--side", type=int, default=1000, help="cells per side of the generated region (1000: 1M)")
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-generated", action="store_true")
    parser.add_argument("--load", action="store_true", help="also the 20-tab, 500-edit load test (demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        if not args.skip_demo:
            print(json.dumps(bench_region("demo", ROOT / "scenarios" / "demo.toml", tmp / "demo-out", args.edits,
                                          args.load)), flush=True)
        if not args.skip_generated:
            (tmp / "gen").mkdir()
            scenario = generated_region(tmp / "gen", args.side)
            print(json.dumps(bench_region(f"generated {args.side}x{args.side}", scenario, tmp / "gen-out",
                                          args.edits, False)), flush=True)


if __name__ == "__main__":
    main()
