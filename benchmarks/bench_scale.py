"""Municipality-scale benchmark: ``run`` at ¼, ½ and full size, and the same run on Dask.

    python benchmarks/bench_scale.py                      # 38 counties (≈80,000 km², 30M people)
    python benchmarks/bench_scale.py --counties 8 --workers 2 --out bench_scale.json   # fits a small machine
    python benchmarks/bench_scale.py --counties 8 --no-dask                             # the scaling runs only

Generates the region (:mod:`coverage_planner.generators.municipality`) into a temporary folder for
each size (¼, ½ and all of ``--counties``), times ``run`` plus every output (no isochrones) on each in
a child process (wall and CPU seconds, peak resident memory of that process, and the wall and CPU
seconds of every progress step and of writing the outputs, with the peak memory so far after each:
the profile by stage), then, on the full size, routes the region on a ``LocalCluster`` of
``--workers`` workers and compares every cell's times and nearest stations with the single-machine run. Prints JSON: ``cells``, ``network_nodes``,
``counties``, ``run_s``, ``cpu_s``, ``peak_rss_mb``, ``dask_workers``, ``dask_run_s``, ``identical``,
``scaling_s`` (size → wall seconds) and beside it ``scaling_cpu_s``, ``scaling_cells``,
``scaling_network_nodes``, ``scaling_peak_rss_mb``, ``dask_client_peak_rss_mb`` and
``dask_worker_peak_rss_mb`` (the Dask run's process, which also holds the single-machine result it
compares with, and its busiest worker), ``scaling_loadavg`` (1-minute load before and
after each size), ``stages``; ``scaling_fit`` and ``scaling_cpu_fit`` (seconds per million cells,
least squares through the sizes), ``growth_exponent`` (log cost ratio / log cells ratio between the
smallest and the largest size: 1 is linear), ``rss_fit`` (MB per million cells and a fixed part;
per million road nodes at the full size's nodes per cell) to extrapolate memory, and the load
average. On a shared machine compare CPU seconds: wall seconds include waiting for the cores.
Heavy: 38 counties need ~12.3 GB by the 8-county fit; cap it with ``prlimit --as=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SINGLE = """
import json, resource, sys, time
from contextlib import contextmanager
from coverage_planner import progress
from coverage_planner.outputs import write_outputs
from coverage_planner.pipeline import check_scenario_out_dir, run
from coverage_planner.scenario import load_scenario
stages = []

@contextmanager
def timed(self, text):   # every progress step's wall and CPU seconds (the profile by stage)
    t, c = time.perf_counter(), time.process_time()
    yield
    stages.append([text, round(time.perf_counter() - t, 2), round(time.process_time() - c, 2), peak_mb()])

def peak_mb():   # the process's peak resident memory so far
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)

progress.Steps.step = timed
t, c = time.perf_counter(), time.process_time()
scn = load_scenario(sys.argv[1], sys.argv[2])
check_scenario_out_dir(scn, sys.argv[2])
result = run(scn, quiet=True, isochrones=False)
t_out, c_out = time.perf_counter(), time.process_time()
write_outputs(result, scn.out_dir)
stages.append(["write_outputs", round(time.perf_counter() - t_out, 2), round(time.process_time() - c_out, 2), peak_mb()])
net = next(iter(result.models.values())).net
print(json.dumps({"run_s": time.perf_counter() - t, "cpu_s": time.process_time() - c, "stages": stages,
                  "cells": len(result.cells), "network_nodes": int(net.n_nodes),
                  "network_segments": int(net.n_segments)}))
"""

DASK = """
import json, sys, time
import numpy as np
from coverage_planner import pipeline as P
from coverage_planner.dask_run import dask_runner, partitioner_for, dask_client, n_workers
from coverage_planner.scenario import load_scenario
def vm_hwm_mb():   # a worker's own peak: ru_maxrss would carry this process's peak over fork and exec
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024.0

scn = load_scenario(sys.argv[1], sys.argv[2])
steps = P.Steps(True)
region = P.load_region(scn, steps)
t = time.perf_counter(); whole = P.evaluate(scn, region, steps); single = time.perf_counter() - t
with dask_client(sys.argv[3]) as client:
    workers = n_workers(client)
    t = time.perf_counter()
    part = partitioner_for(region, scn, dask_runner(client), workers * 4)
    got = P.evaluate(scn, region, steps, nearest=part)
    dask_s = time.perf_counter() - t
    worker_mb = client.run(vm_hwm_mb)
cols = [c for c in whole.cells.columns if c.endswith(("_time_min", "_network_km", "_straight_km", "_nearest"))]
same = all(np.array_equal(whole.cells[c].to_numpy(), got.cells[c].to_numpy()) for c in cols)
net = next(iter(whole.models.values())).net
print(json.dumps({"cells": len(region.cells), "network_nodes": int(net.n_nodes), "evaluate_s": single,
                  "dask_workers": workers, "dask_run_s": dask_s, "identical": bool(same),
                  "worker_peak_rss_mb": max(worker_mb.values()),
                  "rounds": part.rounds}))
"""


def _child(code: str, *args: str) -> tuple[dict, float]:
    """Run ``code`` in a child Python; its last stdout line as JSON and its peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, env=env, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"child failed (status {status})")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024.0


def main(argv: list[str] | None = None) -> dict:
    from coverage_planner.generators.municipality import write_municipality

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counties", type=int, default=38)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="also write the JSON here")
    parser.add_argument("--no-dask", action="store_true", help="only the single-machine runs")
    args = parser.parse_args(argv)
    sizes = sorted({max(1, round(args.counties * f)) for f in (0.25, 0.5, 1.0)})
    report: dict = {"counties": args.counties, "scaling_s": {}, "scaling_cpu_s": {}, "scaling_cells": {},
                    "scaling_network_nodes": {}, "scaling_peak_rss_mb": {}, "scaling_loadavg": {},
                    "generate_s": {}, "stages": {}}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for n in sizes:
            folder = Path(tmp) / f"c{n}"
            info = write_municipality(folder, counties=n)
            load0 = os.getloadavg()[0]
            t, c = time.perf_counter(), time.process_time()
            info = write_municipality(folder, counties=n)
            report["generate_s"][str(n)] = [round(time.perf_counter() - t, 2), round(time.process_time() - c, 2)]
            res, rss = _child(SINGLE, info["scenario"], str(folder / "out"))
            key = str(n)
            report["scaling_s"][key] = round(res["run_s"], 2)
            report["scaling_cpu_s"][key] = round(res["cpu_s"], 2)
            report["scaling_cells"][key] = res["cells"]
            report["scaling_network_nodes"][key] = res["network_nodes"]
            report["scaling_peak_rss_mb"][key] = round(rss, 1)
            report["scaling_loadavg"][key] = [round(load0, 2), round(os.getloadavg()[0], 2)]
            report["stages"][key] = res["stages"]
            print(json.dumps({"counties": n, **{k: report[k][key] for k in (
                "scaling_s", "scaling_cpu_s", "scaling_cells", "scaling_peak_rss_mb", "scaling_loadavg")}}),
                file=sys.stderr, flush=True)
            if n == sizes[-1]:
                report.update(run_s=round(res["run_s"], 2), cpu_s=round(res["cpu_s"], 2), peak_rss_mb=round(rss, 1),
                              osm_nodes=info["osm_nodes"], people=round(info["people"]))
                if args.no_dask:
                    continue
                dask, client_mb = _child(DASK, info["scenario"], str(folder / "out-dask"), f"local:{args.workers}")
                report.update(cells=dask["cells"], network_nodes=dask["network_nodes"],
                              dask_workers=dask["dask_workers"], dask_run_s=round(dask["dask_run_s"], 2),
                              evaluate_s=round(dask["evaluate_s"], 2), identical=dask["identical"],
                              dask_rounds=dask["rounds"], dask_client_peak_rss_mb=round(client_mb, 1),
                              dask_worker_peak_rss_mb=round(dask["worker_peak_rss_mb"], 1))
    import numpy as np

    cells = np.array([report["scaling_cells"][str(n)] for n in sizes], float) / 1e6
    secs = np.array([report["scaling_s"][str(n)] for n in sizes], float)
    slope, intercept = np.polyfit(cells, secs, 1) if len(sizes) > 1 else (secs[0] / cells[0], 0.0)
    report["scaling_fit"] = {"s_per_million_cells": round(float(slope), 1), "intercept_s": round(float(intercept), 1)}
    cpu = np.array([report["scaling_cpu_s"][str(n)] for n in sizes], float)
    rss = np.array([report["scaling_peak_rss_mb"][str(n)] for n in sizes], float)
    nodes = np.array([report["scaling_network_nodes"][str(n)] for n in sizes], float) / 1e6
    fit = (lambda x, y: np.polyfit(x, y, 1) if len(sizes) > 1 else (y[0] / x[0], 0.0))
    c_slope, c_icpt = fit(cells, cpu)
    r_slope, r_icpt = fit(cells, rss)
    report["scaling_cpu_fit"] = {"s_per_million_cells": round(float(c_slope), 1), "intercept_s": round(float(c_icpt), 1)}
    # memory: a fixed part (interpreter, libraries) plus a part per cell; per node at the same ratio
    report["rss_fit"] = {"mb_per_million_cells": round(float(r_slope), 1), "intercept_mb": round(float(r_icpt), 1),
                         "mb_per_million_nodes": round(float(r_slope * cells[-1] / nodes[-1]), 1),
                         "nodes_per_cell": round(float(nodes[-1] / cells[-1]), 3)}
    # growth exponent of cost with size between the smallest and the largest run (1 = linear)
    if len(sizes) > 1:
        report["growth_exponent"] = {"wall": round(float(np.log(secs[-1] / secs[0]) / np.log(cells[-1] / cells[0])), 2),
                                     "cpu": round(float(np.log(cpu[-1] / cpu[0]) / np.log(cells[-1] / cells[0])), 2)}
    report["loadavg"] = list(os.getloadavg())
    report["cpus"] = os.cpu_count()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    return report


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"total {time.perf_counter() - t0:.0f} s", file=sys.stderr)
