"""The benchmark scripts run end to end at a tiny size and their baselines answer the same question:
the OSMnx/networkx and pandana node times equal the scipy floor's, spopt's objectives equal ours."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_script(name: str, *args: str, timeout: float = 300) -> dict:
    """Run a benchmark script in its own process group (its forked baselines are stopped with it)."""
    proc = subprocess.Popen([sys.executable, str(ROOT / "benchmarks" / name), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    assert proc.returncode == 0, stderr[-3000:]
    return json.loads(stdout.strip().splitlines()[-1])


def test_bench_coverage_runs_every_baseline_on_the_same_instance():
    have_pandana = importlib.util.find_spec("pandana") is not None
    out = run_script("bench_coverage.py", "--side", "30", "--cells", "2000", "--facilities", "6",
                     "--pandana-sides", "12", "--pandana-limit", "120", *([] if have_pandana else ["--skip-pandana"]))
    assert out["network_nodes"] == 900 and out["cells"] == 2000
    for key in ("coverage_s", "snap_s", "scipy_floor_s", "kdtree_floor_s", "osmnx_networkx_s", "osmnx_graph_build_s"):
        assert out[key] >= 0, key
    assert out["coverage_s"] == pytest.approx(out["snap_s"] + out["nearest_s"], abs=2e-3)
    # the once-per-network snapping index is reported apart, and counted in the cold figure
    assert out["snap_index_s"] > 0 and out["snap_index_mb"] > 0
    assert out["coverage_cold_s"] == pytest.approx(out["snap_index_s"] + out["coverage_s"], abs=3e-3)
    assert out["kdtree_floor_s"] == pytest.approx(out["kdtree_build_s"] + out["kdtree_query_s"], abs=2e-3)
    assert out["targets"]["coverage_cold_over_scipy_floor"] >= out["targets"]["coverage_over_scipy_floor"]
    assert out["osmnx_networkx_max_abs_diff_s"] < 1e-9 and out["osmnx_networkx_reached_same_nodes"]
    assert "networkx_recipe_s" not in out                 # the per-facility strawman is gone
    assert len(out["load_avg_start"]) == 3 and out["machine"]
    if have_pandana:
        assert out["pandana_limit_hit"] is False
        assert out["pandana_build_s"] > 0 and out["pandana_query_s"] > 0
        assert out["pandana_max_abs_diff_s"] < 0.1        # pandana keeps its times in single precision
        assert out["pandana_nodes"] == 144 and out["coverage_s_at_pandana_nodes"] > 0


@pytest.mark.skipif(importlib.util.find_spec("spopt") is None, reason="spopt (test extra) is not installed")
def test_bench_siting_asserts_equal_objectives_with_both_spopt_solvers():
    out = run_script("bench_siting.py", "--side", "20", "--candidates", "30", "--skip-big", "--solvers", "highs,cbc",
                     "--skip-demo")
    for solver in ("highs", "cbc"):
        for model in ("mclp", "lscp"):
            assert out[f"spopt_{solver}_{model}_obj"] == pytest.approx(out[f"ours_{model}_obj"], rel=1e-6)
            assert out[f"spopt_{solver}_{model}_build_s"] > 0 and out[f"spopt_{solver}_{model}_solve_s"] > 0
            assert out[f"speedup_vs_spopt_{solver}_{model}"] > 0
    assert set(out["targets"]) == {"mclp_ge_10x_spopt_highs", "lscp_ge_10x_spopt_highs"}


def test_bench_siting_demo_figures_come_from_the_site_command():
    out = run_script("bench_siting.py", "--demo-only", "--demo-models", "lscp", "mclp")
    assert set(out["demo_site_models"]) == {"lscp", "mclp"}
    assert out["demo_site_models"]["lscp"]["objective"] == 9 and out["demo_site_models"]["lscp"]["status"] == "optimal"
    assert out["demo_site_all_s"] > 0 and out["demo_site_cpu_s"] > 0
    assert 100 < out["demo_site_peak_mb"] < 4000          # the child's peak, not this test's or the script's
    assert "small_cells" not in out and "demo_targets" not in out   # targets only for the full default run
