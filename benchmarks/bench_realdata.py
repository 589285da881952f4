"""Benchmark: real data from ../shared/geodata. Prints one JSON line.

- liechtenstein_load_s: reading all of Liechtenstein's roads from the PBF (no cache);
- liechtenstein_end_to_end_s: `coverage-planner run scenarios/liechtenstein.toml` in-process, with an
  empty road cache (roads, facilities and communes from the PBF, census spread on roads, the check and
  every output file);
- wuhan_raster_load_s and wuhan_total_rel_error: the WorldPop 100 m raster of Wuhan into metric cells,
  and how far their total is from the raster's own sum.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import rasterio

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "geodata"


def main() -> None:
    if not SHARED.exists():
        sys.exit(f"real data not present: {SHARED}")
    from coverage_planner.layers import LayerSpec
    from coverage_planner.population import load_population
    from coverage_planner.pipeline import run_scenario_file
    from coverage_planner.roads import load_roads

    t = time.perf_counter()
    net = load_roads(SHARED / "liechtenstein.osm.pbf", "EPSG:32632")
    load_s = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        text = (ROOT / "scenarios" / "liechtenstein.toml").read_text(encoding="utf-8")
        text = text.replace('"../../shared/geodata/', f'"{SHARED}/').replace(
            'census_path = "data/', f'census_path = "{ROOT}/scenarios/data/')
        scenario = Path(tmp) / "liechtenstein.toml"
        scenario.write_text(text + f'\n[outputs]\ncache_dir = "{tmp}/cache"\n', encoding="utf-8")
        t = time.perf_counter()
        run_scenario_file(scenario, Path(tmp) / "out", quiet=True)
        e2e_s = time.perf_counter() - t
    raster = SHARED / "wuhan_pop20plus_100m.tif"
    t = time.perf_counter()
    cells = load_population(LayerSpec(raster, key="population"), "EPSG:32650")
    wuhan_s = time.perf_counter() - t
    with rasterio.open(raster) as src:
        total = float(src.read(1, masked=True).sum(dtype="float64"))
    print(json.dumps({
        "liechtenstein_load_s": round(load_s, 3), "liechtenstein_segments": int(net.n_segments),
        "liechtenstein_end_to_end_s": round(e2e_s, 3),
        "wuhan_raster_load_s": round(wuhan_s, 3), "wuhan_cells": int(len(cells)),
        "wuhan_total": round(float(cells["population"].sum()), 3), "wuhan_raster_sum": round(total, 3),
        "wuhan_total_rel_error": abs(float(cells["population"].sum()) / total - 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


if __name__ == "__main__":
    main()
