"""Partitioned routing (groups of units with halos) and Dask runs: identical to the single-machine run."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import ROOT
from refusals import refused, refused_cli

from coverage_planner import coverage as cov
from coverage_planner import pipeline as P
from coverage_planner.network import RoadNetwork, with_speeds
from coverage_planner.partition import Partitioner, halo_distance, run_locally, unit_groups
from coverage_planner.scenario import load_scenario

DEMO = ROOT / "scenarios" / "demo.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo region loaded once, and its single-machine evaluation."""
    scn = load_scenario(DEMO, tmp_path_factory.mktemp("scale"))
    steps = P.Steps(True)
    region = P.load_region(scn, steps)
    return scn, region, P.evaluate(scn, region, steps)


def _cell_units(region) -> np.ndarray:
    cells = region.cells
    return P._assign_units(region.units, cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy())


def _assert_cells_identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Every column of every cell equal (floats bit for bit, inf = inf), not close."""
    assert list(a.columns) == list(b.columns)
    for col in a.columns:
        if col == "geometry":
            continue
        x, y = a[col].to_numpy(), b[col].to_numpy()
        if x.dtype.kind == "f":
            same = (x == y) | (np.isnan(x) & np.isnan(y))
        else:
            same = x == y
        assert same.all(), f"{col}: {int((~same).sum())} cells differ"


def test_demo_partitioned_by_units_is_identical(demo):
    """One group per unit and a 2 km first halo: several widening rounds, and every cell as the whole run."""
    scn, region, whole = demo
    units = _cell_units(region)
    part = Partitioner(unit_groups(region.units, units, len(region.units)), 2000.0, run_locally)
    got = P.evaluate(scn, region, P.Steps(True), nearest=part)
    assert len(np.unique(part.groups)) == len(region.units) > 10
    assert len(part.rounds) > 3 and part.rounds[0]["jobs"] == len(region.units)
    _assert_cells_identical(whole.cells, got.cells)
    pd.testing.assert_frame_equal(whole.summary, got.summary)


def test_halo_from_the_profile(demo):
    """Largest distance threshold, or largest time threshold × top speed (30 min at 100 km/h = 50 km)."""
    scn, _, _ = demo
    rules = [r for r in scn.profile.rules if r.spatial]
    assert halo_distance(rules, 100.0) == pytest.approx(1800 * 100 / 3.6)
    radius_only = [r for r in rules if r.kind == "radius"]
    assert halo_distance(radius_only, 100.0) == max(r.threshold("rural") for r in radius_only)


def _line_network() -> RoadNetwork:
    """A straight road 0 … 20 km, nodes every km, plus a 60 km detour loop from km 0 back to km 20."""
    xs = np.arange(21) * 1000.0
    node_x = np.r_[xs, 10_000.0]
    node_y = np.r_[np.zeros(21), 30_000.0]
    a = np.r_[np.arange(20), 0, 21]
    b = np.r_[np.arange(1, 21), 21, 20]
    geoms = shapely.linestrings(np.stack([np.column_stack([node_x[a], node_y[a]]),
                                          np.column_stack([node_x[b], node_y[b]])], axis=1))
    n = len(a)
    net = RoadNetwork("EPSG:32648", node_x, node_y, a, b, shapely.length(geoms), np.full(n, "primary", dtype=object),
                      np.full(n, np.nan), np.ones(n, bool), np.ones(n, bool), geoms)
    return net


def test_a_path_leaving_the_first_halo_is_routed_again():
    """A cell 15 km from its only facility with a 2 km halo: the first round cannot see the path;
    the result must still be the whole network's (15 km), found after widening, never the 2 km guess."""
    net = with_speeds(_line_network(), {"speeds_kmh": {"primary": 60.0}, "max_kmh": 60.0, "access_kmh": 5.0,
                                        "ferry_kmh": 10.0})
    fac = gpd.GeoDataFrame({"facility_id": ["F"], "type": ["ems"]}, geometry=shapely.points([[0.0, 0.0]]),
                           crs="EPSG:32648")
    cx, cy = np.array([15_000.0, 500.0]), np.array([0.0, 0.0])
    model = cov.build_travel_model(net, "ambulance", {"speeds_kmh": {"primary": 60.0}}, cx, cy, fac, 500.0)
    whole = cov.nearest_measures(model, np.array([0]), np.zeros(1), "from_facility", cx, cy,
                                 np.array([0.0]), np.array([0.0]))
    part = Partitioner(np.array([0, 1]), 2000.0)
    got = part(model, np.array([0]), np.zeros(1), "from_facility", cx, cy, np.array([0.0]), np.array([0.0]))
    assert whole["network_m"][0] == pytest.approx(15_000.0)
    for key in whole:
        assert np.array_equal(whole[key], got[key]), key
    assert [r["halo_m"] for r in part.rounds][:2] == [2000.0, 4000.0] and len(part.rounds) >= 3


def test_unit_groups_keep_counties_together():
    """With a county_id column every county's units share a group; groups are contiguous ids."""
    boxes = [shapely.box(i * 10, j * 10, i * 10 + 10, j * 10 + 10) for i in range(4) for j in range(4)]
    units = gpd.GeoDataFrame({"unit_id": [f"U{k}" for k in range(16)],
                              "county_id": [f"C{(k // 4) % 4}" for k in range(16)]}, geometry=boxes)
    cell_unit = np.repeat(np.arange(16), 10)
    groups = unit_groups(units, cell_unit, 3)
    for county in units["county_id"].unique():
        members = np.flatnonzero(units["county_id"].to_numpy() == county)
        assert len(np.unique(groups[np.isin(cell_unit, members)])) == 1
    assert set(np.unique(groups)) == {0, 1, 2}
    assert len(np.unique(unit_groups(units.drop(columns="county_id"), cell_unit, 16))) == 16


distributed = pytest.importorskip("distributed", reason="the scale extra (dask[distributed]) is not installed")


@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of two worker processes (killable, restarted by their nannies)."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as lc, distributed.Client(lc) as client:
        yield client


def test_dask_local_cluster_is_identical(demo, cluster):
    """Two workers, groups of units: every cell and every summary row as the single-machine run."""
    from coverage_planner.dask_run import dask_runner, partitioner_for

    scn, region, whole = demo
    part = partitioner_for(region, scn, dask_runner(cluster), 8)
    got = P.evaluate(scn, region, P.Steps(True), nearest=part)
    assert len(np.unique(part.groups)) == 8
    _assert_cells_identical(whole.cells, got.cells)
    pd.testing.assert_frame_equal(whole.summary, got.summary)


def test_dask_runner_keeps_few_jobs_in_flight_and_results_in_order(cluster):
    """Jobs are pulled from the iterable as tasks finish (never more than ``in_flight`` held), and
    the results come back in the jobs' order."""
    import operator
    from types import SimpleNamespace

    from coverage_planner.dask_run import dask_runner

    held = []

    def jobs():
        for i in range(9):
            held.append(len(cluster.futures))     # futures this client holds when the next job is cut
            yield SimpleNamespace(group=i, value=i * i)

    got = dask_runner(cluster, route=operator.attrgetter("value"), in_flight=2)(jobs())
    assert got == [i * i for i in range(9)]
    assert held[:2] == [0, 1] and all(1 <= h <= 2 for h in held[2:])   # pulled as tasks come back, not all first


def kill_first_attempt(job, marker=None):
    """Route the job, but the first task to run kills its worker process (once, via a marker file)."""
    from coverage_planner.partition import route_job

    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return route_job(job)
    os.close(fd)
    os._exit(1)     # the worker dies mid-run, as on a preempted node


def test_killed_worker_costs_a_retry_not_a_wrong_result(demo, cluster, tmp_path):
    """A worker dies while routing: its partition runs again elsewhere; results still identical."""
    import functools

    import cloudpickle

    from coverage_planner.dask_run import dask_runner, partitioner_for

    scn, region, whole = demo
    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])   # workers cannot import tests/
    try:
        route = functools.partial(kill_first_attempt, marker=str(marker))
        part = partitioner_for(region, scn, dask_runner(cluster, retries=3, route=route), 4)
        got = P.evaluate(scn, region, P.Steps(True), nearest=part)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    assert marker.exists()              # a worker was killed
    _assert_cells_identical(whole.cells, got.cells)


def test_cli_run_with_dask_local(demo, tmp_path):
    """``run --dask local:2`` writes the single-machine run's times and nearest stations for every cell."""
    from coverage_planner.cli import main

    _, _, whole = demo
    assert main(["run", str(DEMO), "--out", str(tmp_path), "--quiet", "--no-isochrones", "--dask", "local:2"]) == 0
    got = gpd.read_file(tmp_path / "cells.gpkg")
    cols = [c for c in whole.cells.columns if c.endswith(("_time_min", "_network_km", "_nearest"))]
    assert len(cols) >= 6 and len(got) == len(whole.cells)
    _assert_cells_identical(whole.cells[cols].reset_index(drop=True), got[cols])


@pytest.mark.parametrize("case,spec", [("--dask value that is not a cluster", "cluster9"),
                                       ("--dask local cluster with no workers", "local:0")])
def test_bad_dask_spec_is_refused(case, spec, tmp_path):
    refused_cli(case, ["run", str(DEMO), "--out", str(tmp_path / "o"), "--dask", spec], match=r"--dask")


def test_no_scheduler_at_the_address():
    from coverage_planner.dask_run import dask_client

    with refused("--dask scheduler address where nothing answers", match=r"no Dask scheduler answered"):
        with dask_client("tcp://127.0.0.1:9", timeout_s=2):
            pass


def test_dask_not_installed_says_how_to_install(monkeypatch):
    from coverage_planner.dask_run import dask_client

    monkeypatch.setitem(sys.modules, "distributed", None)     # as if the scale extra were missing
    with refused("--dask without the scale extra installed", match=r"coverage-planner\[scale\]"):
        with dask_client("local:1"):
            pass


def test_partition_module_has_no_dask_import():
    """Partitioning is usable (and tested) without Dask; only dask_run imports it, lazily."""
    text = (Path(__file__).resolve().parents[1] / "coverage_planner" / "partition.py").read_text()
    assert "import dask" not in text and "distributed" not in text.split('"""', 2)[2]


def test_local_cluster_listens_on_loopback_only():
    """``--dask local`` binds its scheduler, workers and the scheduler's HTTP endpoint to 127.0.0.1."""
    from coverage_planner.dask_run import dask_client

    def http_hosts(dask_scheduler):
        return sorted({sock.getsockname()[0] for sock in dask_scheduler.http_server._sockets.values()})

    with dask_client("local:1") as client:
        assert client.scheduler.address.startswith("tcp://127.0.0.1:")
        assert all(addr.startswith("tcp://127.0.0.1:") for addr in client.scheduler_info()["workers"])
        assert client.run_on_scheduler(http_hosts) == ["127.0.0.1"]


def test_cli_run_on_a_running_scheduler(demo, cluster, tmp_path):
    """``run --dask tcp://HOST:PORT`` uses an existing scheduler (here the module's cluster) and
    writes the single-machine run's times and nearest stations for every cell."""
    from coverage_planner.cli import main

    _, _, whole = demo
    address = cluster.scheduler.address
    assert address.startswith("tcp://")
    assert main(["run", str(DEMO), "--out", str(tmp_path), "--quiet", "--no-isochrones", "--dask", address]) == 0
    got = gpd.read_file(tmp_path / "cells.gpkg")
    cols = [c for c in whole.cells.columns if c.endswith(("_time_min", "_network_km", "_nearest"))]
    _assert_cells_identical(whole.cells[cols].reset_index(drop=True), got[cols])
    assert len(cluster.scheduler_info()["workers"]) == 2      # the cluster is left running for its owner
