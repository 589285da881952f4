"""Partitioned routing: the nearest-facility search split into groups of counties, each with a halo.

The region's cells are split into groups of units (counties when the units say which county they
belong to, else single units), ordered along a Z-curve so neighbours share a group. Each group is
routed on the part of the road network inside its *halo*: the group's bounding box (grown by its
cells' longest access leg) grown again by the halo distance ``H``. A path of road length at most
``H`` from a cell never leaves the halo, so the subgraph finds it, and a subgraph never finds a path
cheaper than the whole network. Hence a cell's result is *certified* exact when its network distance
is at most ``H`` and its time at most ``H / v_max`` (``v_max`` the fastest road speed of the
profile): the same path, the same sums, the same nearest facility as the single-machine search.
Cells that are not certified (beyond the threshold, unreachable) are routed again with the halo
doubled, until every cell is certified or the halo holds the whole network. The merged arrays are
therefore identical, cell by cell, to :func:`coverage.nearest_measures` on the whole region.

Jobs are plain arrays (no geometries), routed by :func:`route_job` with the engine's own
:class:`travel.Router`, so any executor can run them: in this process, or on Dask workers
(:mod:`coverage_planner.dask_run`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import shapely

from .network import RoadNetwork, seconds_per_segment
from .travel import Router, Snapped, morton_order, straight_nearest

Runner = Callable[[Iterable["RouteJob"]], list[dict]]
WHOLE = -1            # the group id of a job routed on the whole network


@dataclass(frozen=True)
class SubnetworkJob:
    """The part of the road network one worker searches: its segments, in local node numbers (arrays
    only; :func:`subnetwork` cuts it, :func:`job_network` makes it a network again)."""

    group: int
    halo_m: float
    n_nodes: int
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_fwd: np.ndarray
    seg_bwd: np.ndarray
    seg_length: np.ndarray


def subnetwork(net: RoadNetwork, keep: np.ndarray) -> tuple[dict, np.ndarray]:
    """The :class:`SubnetworkJob` arrays of the segments ``keep`` (their nodes renumbered in their
    original order), and each segment's local number (-1 for those left out)."""
    segs = np.flatnonzero(keep)
    nodes = np.unique(np.concatenate([net.seg_a[segs], net.seg_b[segs]]))
    local_seg = np.full(net.n_segments, -1, dtype=np.int64)
    local_seg[segs] = np.arange(len(segs))
    fields = {"n_nodes": len(nodes), "seg_a": np.searchsorted(nodes, net.seg_a[segs]),
              "seg_b": np.searchsorted(nodes, net.seg_b[segs]), "seg_fwd": net.seg_fwd[segs],
              "seg_bwd": net.seg_bwd[segs], "seg_length": net.seg_length[segs]}
    return fields, local_seg


@dataclass(frozen=True)
class RouteJob(SubnetworkJob):
    """One partition's routing problem, in local node and segment numbers (arrays only)."""

    seg_time: np.ndarray
    cells: np.ndarray          # global cell indices
    cell_snap: Snapped         # local segment numbers
    facilities: np.ndarray     # global facility indices (a subset of the rule's, in the same order)
    fac_snap: Snapped          # local segment numbers
    fac_offset: np.ndarray     # turnout seconds of those facilities
    access_mps: float
    direction: str

    @property
    def size(self) -> int:
        """Work estimate: segments plus cells."""
        return len(self.seg_a) + len(self.cells)


def route_job(job: RouteJob) -> dict:
    """Nearest facility by time and by network distance for the job's cells (pure; runs on a worker).

    Parameters
    ----------
    job : RouteJob
        The partition's subnetwork, cells and facilities.

    Returns
    -------
    dict
        ``cells`` (global indices), ``time_s``, ``time_fac``, ``network_m``, ``network_fac``
        (global facility indices, -1 for none), ``group`` and ``halo_m``.
    """
    net = job_network(job)
    src, dst, v = job.fac_snap, job.cell_snap, job.access_mps
    fac = np.asarray(job.facilities)
    if len(fac) == 0:
        inf, none = np.full(len(job.cells), np.inf), np.full(len(job.cells), -1, dtype=np.int64)
        time_s, t_lab, net_m, d_lab = inf, none, inf.copy(), none.copy()
    else:   # the same calls, in the same order, as coverage.nearest_measures
        time_s, t_lab = Router(net, job.seg_time, job.direction).nearest(
            src, job.fac_offset + src.access_m / v, dst, dst.access_m / v)
        net_m, d_lab = Router(net, job.seg_length, job.direction).nearest(src, src.access_m, dst, dst.access_m)
    return {"group": job.group, "halo_m": job.halo_m, "cells": job.cells,
            "time_s": time_s, "time_fac": _global(fac, t_lab), "network_m": net_m, "network_fac": _global(fac, d_lab)}


def _global(fac: np.ndarray, label: np.ndarray) -> np.ndarray:
    """Local source labels → global facility indices (-1 stays -1)."""
    if len(fac) == 0:
        return np.full(len(label), -1, dtype=np.int64)
    return np.where(label >= 0, fac[np.maximum(label, 0)], -1)


def job_network(job: SubnetworkJob) -> RoadNetwork:
    """A geometry-free RoadNetwork holding what the Router reads (from a job's ``n_nodes`` and ``seg_*`` arrays)."""
    n = len(job.seg_a)
    return RoadNetwork("", np.zeros(job.n_nodes), np.zeros(job.n_nodes), job.seg_a, job.seg_b, job.seg_length,
                       np.full(n, "", dtype=object), np.full(n, np.nan), job.seg_fwd, job.seg_bwd,
                       np.empty(n, dtype=object))


def run_locally(jobs: Iterable[RouteJob]) -> list[dict]:
    """Route every job in this process, one after another (one job's subnetwork held at a time)."""
    return [route_job(job) for job in jobs]


def unit_groups(units, cell_unit: np.ndarray, n_groups: int, county_column: str = "county_id") -> np.ndarray:
    """Group id per cell: units (or whole counties) in Z-curve order, cut into ``n_groups`` by cell count.

    Parameters
    ----------
    units : GeoDataFrame
        The region's units; a ``county_id`` column (when present) keeps each county in one group.
    cell_unit : ndarray of int
        Each cell's unit (row of ``units``).
    n_groups : int
        How many groups at most.

    Returns
    -------
    ndarray of int
        Group id per cell, 0 … n_groups-1.
    """
    keys = units[county_column].astype(str).to_numpy() if county_column in units else \
        units["unit_id"].astype(str).to_numpy()
    names, key_of_unit = np.unique(keys, return_inverse=True)
    centre = units.geometry.representative_point()
    kx = np.bincount(key_of_unit, weights=centre.x.to_numpy()) / np.bincount(key_of_unit)
    ky = np.bincount(key_of_unit, weights=centre.y.to_numpy()) / np.bincount(key_of_unit)
    order = morton_order(kx, ky)
    cells_per_key = np.bincount(key_of_unit[cell_unit], minlength=len(names)).astype(float)
    run = np.cumsum(cells_per_key[order])
    total = max(run[-1] if len(run) else 0.0, 1.0)
    k = max(1, min(int(n_groups), len(names)))
    if k == len(names):   # one group per unit (or county)
        group_of_rank = np.arange(k)
    else:                 # contiguous runs along the curve with about the same number of cells
        group_of_rank = np.minimum(((run - cells_per_key[order] / 2) / total * k).astype(np.int64), k - 1)
    group_of_key = np.empty(len(names), dtype=np.int64)
    group_of_key[order] = group_of_rank
    _, dense = np.unique(group_of_key, return_inverse=True)   # no empty group ids
    return dense[key_of_unit[cell_unit]]


def halo_distance(rules: Sequence, profile_kmh: float) -> float:
    """Halo in metres: the largest distance threshold, or the largest time threshold × top speed.

    Parameters
    ----------
    rules : sequence of Rule
        The spatial rules of the run.
    profile_kmh : float
        The fastest road speed of the travel profiles, km/h.
    """
    top = profile_kmh / 3.6
    limits = [0.0]
    for rule in rules:
        for zone in ("urban", "rural"):
            t = rule.threshold(zone)
            if t is not None:
                limits.append(t if rule.kind == "radius" else t * top)
    return max(limits)


class Partitioner:
    """Nearest-facility measures computed partition by partition; a drop-in for ``nearest_measures``.

    Parameters
    ----------
    groups : ndarray of int
        Group id per cell (:func:`unit_groups`).
    halo_m : float
        First halo distance in metres (:func:`halo_distance`); doubled for cells not certified.
    runner : callable
        Routes an iterable of :class:`RouteJob` (cut as it is consumed) and returns their results
        in order (:func:`run_locally`, or :func:`dask_run.dask_runner`).
    """

    def __init__(self, groups: np.ndarray, halo_m: float, runner: Runner = run_locally):
        self.groups = np.asarray(groups, dtype=np.int64)
        self.halo_m = max(float(halo_m), 1.0)
        self.runner = runner
        self.rounds: list[dict] = []        # per call and round: jobs, cells, halo (for reports and tests)
        self._bounds: dict[int, np.ndarray] = {}

    def __call__(self, model, fac_idx: np.ndarray, turnout_s: np.ndarray, direction: str,
                 cell_x: np.ndarray, cell_y: np.ndarray, fac_x: np.ndarray, fac_y: np.ndarray) -> dict:
        """The same dict as :func:`coverage.nearest_measures`, identical cell by cell."""
        n = len(cell_x)
        out = {"time_s": np.full(n, np.inf), "time_fac": np.full(n, -1, dtype=np.int64),
               "network_m": np.full(n, np.inf), "network_fac": np.full(n, -1, dtype=np.int64)}
        seg_time = seconds_per_segment(model.net)
        vmax = top_speed_mps(model.net)
        todo = np.ones(n, dtype=bool)
        halo = self.halo_m
        while todo.any():
            sent: list[tuple[int, np.ndarray]] = []     # (group, cells) of every job handed to the runner
            jobs = _noting(self._jobs(model, fac_idx, turnout_s, direction, cell_x, cell_y, todo, halo, seg_time), sent)
            results = self.runner(jobs)
            _check_results(sent, results)
            for res in results:
                done = _certified(res, vmax)
                cells = res["cells"][done]
                for key in out:
                    out[key][cells] = res[key][done]
                todo[cells] = False
            self.rounds.append({"halo_m": halo, "jobs": len(sent), "cells": int(sum(len(c) for _, c in sent))})
            halo *= 2.0
        straight_m, s_lab = straight_nearest(fac_x[fac_idx], fac_y[fac_idx], cell_x, cell_y)
        return {"straight_m": straight_m, "straight_fac": fac_idx[s_lab],
                "network_m": out["network_m"], "network_fac": out["network_fac"],
                "time_s": out["time_s"], "time_fac": out["time_fac"]}

    def _jobs(self, model, fac_idx, turnout_s, direction, cell_x, cell_y, todo, halo, seg_time) -> Iterator[RouteJob]:
        """One job per group with cells left; groups whose halo holds the whole network share one job.

        Jobs are cut as the runner asks for them, so a runner that keeps a few in flight holds only
        those few subnetworks (a municipality's jobs together are several times its network).
        """
        net = model.net
        bounds = self._segment_bounds(net)
        whole_box = (bounds[:, 0].min(), bounds[:, 1].min(), bounds[:, 2].max(), bounds[:, 3].max())
        whole = []
        access = model.cell_snap.access_m
        for g in np.unique(self.groups[todo]):
            cells = np.flatnonzero(todo & (self.groups == g))
            reach = float(access[cells].max()) + halo
            box = (cell_x[cells].min() - reach, cell_y[cells].min() - reach,
                   cell_x[cells].max() + reach, cell_y[cells].max() + reach)
            if box[0] <= whole_box[0] and box[1] <= whole_box[1] and box[2] >= whole_box[2] and box[3] >= whole_box[3]:
                whole.append(cells)
                continue
            keep = (bounds[:, 0] <= box[2]) & (bounds[:, 2] >= box[0]) & (bounds[:, 1] <= box[3]) & \
                   (bounds[:, 3] >= box[1])
            keep[model.cell_snap.seg[cells]] = True   # a cell's own road, whatever the box says
            yield _make_job(int(g), halo, net, keep, seg_time, model, cells, fac_idx, turnout_s, direction)
        if whole:
            keep = np.ones(net.n_segments, dtype=bool)
            yield _make_job(WHOLE, np.inf, net, keep, seg_time, model, np.sort(np.concatenate(whole)),
                            fac_idx, turnout_s, direction)

    def _segment_bounds(self, net: RoadNetwork) -> np.ndarray:
        key = id(net)
        if key not in self._bounds:
            self._bounds = {key: shapely.bounds(net.seg_geometry)}
        return self._bounds[key]


def _make_job(group: int, halo: float, net: RoadNetwork, keep: np.ndarray, seg_time: np.ndarray, model,
              cells: np.ndarray, fac_idx: np.ndarray, turnout_s: np.ndarray, direction: str) -> RouteJob:
    """Cut the subnetwork of ``keep`` (nodes renumbered in their original order) and its points."""
    fields, local_seg = subnetwork(net, keep)
    fac_in = fac_idx[keep[model.fac_snap.seg[fac_idx]]]
    cs, fs = model.cell_snap.take(cells), model.fac_snap.take(fac_in)
    return RouteJob(
        group=group, halo_m=float(halo), **fields, seg_time=seg_time[keep], cells=cells,
        cell_snap=Snapped(local_seg[cs.seg], cs.frac, cs.access_m), facilities=fac_in,
        fac_snap=Snapped(local_seg[fs.seg], fs.frac, fs.access_m), fac_offset=np.asarray(turnout_s)[fac_in],
        access_mps=float(model.access_mps), direction=direction)


def top_speed_mps(net: RoadNetwork) -> float:
    """The fastest segment speed of the profile, m/s (the bound that turns a halo into a time)."""
    speed = np.asarray(net.seg_speed_kmh, float)
    speed = speed[np.isfinite(speed) & (speed > 0)]
    return float(speed.max()) / 3.6 if len(speed) else np.inf


def _certified(res: dict, vmax: float) -> np.ndarray:
    """Cells whose partition result is provably the whole network's result."""
    if not np.isfinite(res["halo_m"]):
        return np.ones(len(res["cells"]), dtype=bool)
    return (res["network_m"] <= res["halo_m"]) & (res["time_s"] <= res["halo_m"] / vmax)


def _noting(jobs: Iterable[RouteJob], sent: list[tuple[int, np.ndarray]]) -> Iterator[RouteJob]:
    """The jobs, noting each one's group and cells in ``sent`` as it is handed out."""
    for job in jobs:
        sent.append((job.group, job.cells))
        yield job


def _check_results(sent: list[tuple[int, np.ndarray]], results: list[dict]) -> None:
    """Every job answered, for its own cells (a lost or mixed-up partition is an error, never a gap)."""
    if len(results) != len(sent):
        raise RuntimeError(f"{len(sent)} partitions routed but {len(results)} results came back")
    for (group, cells), res in zip(sent, results):
        if res["group"] != group or not np.array_equal(res["cells"], cells) or \
                any(len(res[k]) != len(cells) for k in ("time_s", "time_fac", "network_m", "network_fac")):
            raise RuntimeError(f"partition {group} came back incomplete or for other cells")


__all__ = ["Partitioner", "RouteJob", "SubnetworkJob", "halo_distance", "job_network", "route_job", "run_locally",
           "subnetwork", "top_speed_mps",
           "unit_groups"]
