"""Station criticality: who loses coverage if one existing station closes (stations.csv).

For each spatial rule (not ``mean_time``, whose verdict is a mean, not a per-cell pass), each cell
keeps its best two stations from one pair of searches, not one rerun per station:

* network time or distance: the usual multi-source search gives every road node its nearest station
  (label 1); a second search over the edges *inside* one label's territory, seeded at the territory
  borders with the neighbour's cost, gives every node its nearest *other* station (label 2). This is
  exact: on a shortest path from the second-nearest station ``s2`` to node ``v``, the node ``u``
  before ``v`` either has a nearest station other than ``label1(v)`` (then ``d1(u) + w`` is a
  cost from a station other than ``label1(v)`` and no larger than ``d(s2, v)``) or the same one
  (then ``d(s2, u) ≥ d2(u)``, so ``d2(u) + w`` is no larger); both candidates are real costs from
  stations other than ``label1(v)``, so the minimum over them is ``d2(v)``. A cell takes the best
  candidate over its segment's two ends (and direct routes along its own segment) whose station is
  not its own nearest;
* straight line: the two nearest stations from one KD-tree query.

Closing station ``s`` moves every cell of its territory (cells whose judged nearest station is
``s``) to its second-nearest station; the cell is re-judged with that value against its zone's
limit. People lost = people in the territory who pass now and fail then.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import dijkstra

from . import coverage as cov
from .standards import Rule
from .travel import Router, Snapped, _arriving, _csr_keep_zeros, take_direct

STATION_COLUMNS = [
    "rank", "rule_id", "rule_zh", "rule_en", "facility_id", "name", "type", "ambulances", "territory_population",
    "covered_population", "population_lost", "share_lost", "fallback_station", "fallback_share",
    "added_mean", "added_max", "added_unit", "population_no_fallback",
]


@dataclass
class BestTwo:
    """Per destination: nearest and second-nearest source (indices into the sources) and their costs."""

    cost1: np.ndarray
    label1: np.ndarray
    cost2: np.ndarray
    label2: np.ndarray


def second_node_costs(router: Router, src: Snapped, src_offset: np.ndarray, d1: np.ndarray,
                      lab1: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cost from the nearest *other* source to every road node, and that source (-1 if none).

    Parameters
    ----------
    router : Router
        The router whose graph (and direction) the costs are on.
    src : Snapped
        The sources (stations) snapped to the network.
    src_offset : numpy.ndarray
        Per source, the cost added at the start (turnout, access leg).
    d1, lab1 : numpy.ndarray
        Per road node, the nearest source's cost and index (``Router.node_costs``).

    Returns
    -------
    tuple of numpy.ndarray
        ``d2`` (inf where no second source reaches the node) and ``lab2`` per road node.
    """
    n, k = router.graph.n_nodes, len(src)
    coo = router._source_matrix(src, src_offset).tocoo()
    u, v, w = coo.row.astype(np.int64), coo.col.astype(np.int64), coo.data
    # the virtual source nodes n .. n+k-1 are their own nearest source at cost 0
    d1_all = np.concatenate([d1, np.zeros(k)])
    lab_all = np.concatenate([lab1, np.arange(k)])
    reached = lab_all[u] >= 0
    border = reached & (lab_all[u] != lab_all[v])
    inner = reached & (lab_all[u] == lab_all[v])
    seed_node, seed_cost, seed_lab = v[border], d1_all[u[border]] + w[border], lab_all[u[border]]
    order = np.lexsort((seed_cost, seed_node))
    first = order[np.r_[True, np.diff(seed_node[order]) != 0]] if len(order) else order
    seed_node, seed_cost, seed_lab = seed_node[first], seed_cost[first], seed_lab[first]
    m, size = len(seed_node), n + k + len(seed_node)
    if m == 0:
        return np.full(n, np.inf), np.full(n, -1)
    rows = np.concatenate([u[inner], n + k + np.arange(m)])
    cols = np.concatenate([v[inner], seed_node])
    vals = np.concatenate([w[inner], seed_cost])
    mat = _csr_keep_zeros(rows, cols, vals, (size, size))
    dist, _pred, origin = dijkstra(mat, indices=n + k + np.arange(m), min_only=True, return_predecessors=True)
    lab2 = np.where(origin[:n] >= 0, seed_lab[np.maximum(origin[:n] - n - k, 0)], -1)
    return dist[:n], np.where(np.isfinite(dist[:n]), lab2, -1)


def best_two(router: Router, src: Snapped, src_offset: np.ndarray, dst: Snapped,
             dst_offset: np.ndarray) -> BestTwo:
    """Nearest and second-nearest source of every destination on the network, from two searches.

    Parameters
    ----------
    router : Router
        Time or length router of a travel model, in the rule's direction.
    src, dst : Snapped
        Sources (stations) and destinations (cells).
    src_offset, dst_offset : numpy.ndarray
        Costs added at the sources (turnout, access leg) and destinations (access leg).

    Returns
    -------
    BestTwo
        The nearest source exactly as :meth:`Router.nearest` gives it, and the nearest other one.
    """
    src_offset = np.broadcast_to(np.asarray(src_offset, float), (len(src),))
    dst_offset = np.broadcast_to(np.asarray(dst_offset, float), (len(dst),))
    cost1, label1 = router.nearest(src, src_offset, dst, dst_offset)
    d1, lab1 = router.node_costs(src, src_offset)
    d2, lab2 = second_node_costs(router, src, src_offset, d1, lab1)
    (n1, c1), (n2, c2) = _arriving(router.graph, dst, router.net.seg_a, router.net.seg_b)
    cands = []
    for node, c in ((n1, c1), (n2, c2)):
        other = lab1[node] != label1
        cost = np.where(other, d1[node], d2[node]) + c + dst_offset
        lab = np.where(other, lab1[node], lab2[node])
        cands.append((np.where(lab >= 0, cost, np.inf), lab))
    cost2 = np.minimum(cands[0][0], cands[1][0])
    label2 = np.where(cands[1][0] < cands[0][0], cands[1][1], cands[0][1])
    d, s, direct = router.same_segment(src, src_offset, dst, dst_offset)
    keep = s != label1[d]
    take_direct(cost2, label2, d[keep], s[keep], direct[keep])
    label2 = np.where(np.isfinite(cost2), label2, -1)
    return BestTwo(cost1, label1, cost2, label2)


def best_two_straight(src_x: np.ndarray, src_y: np.ndarray, x: np.ndarray, y: np.ndarray,
                      label1: np.ndarray) -> BestTwo:
    """Straight-line nearest (``label1``, as judged) and nearest other source, from one KD-tree query."""
    from scipy.spatial import cKDTree

    k = min(2, len(src_x))
    dist, idx = cKDTree(np.column_stack([src_x, src_y])).query(np.column_stack([x, y]), k=[1, 2][:k])
    dist, idx = dist.reshape(len(x), k), idx.reshape(len(x), k)
    if k == 1:
        return BestTwo(dist[:, 0], idx[:, 0], np.full(len(x), np.inf), np.full(len(x), -1))
    first_is_own = idx[:, 0] == label1
    cost1 = np.where(first_is_own, dist[:, 0], dist[:, 1])
    return BestTwo(cost1, label1, np.where(first_is_own, dist[:, 1], dist[:, 0]),
                   np.where(first_is_own, idx[:, 1], idx[:, 0]))


def rule_best_two(rule: Rule, model: cov.TravelModel, fac_idx: np.ndarray, turnout_s: np.ndarray,
                  cell_x: np.ndarray, cell_y: np.ndarray, fac_x: np.ndarray, fac_y: np.ndarray,
                  judged: np.ndarray) -> BestTwo:
    """Best two stations per cell on the measure the rule judges (labels index into ``fac_idx``).

    ``judged`` is the judged nearest facility per cell (index into all facilities, -1 for none), so
    the straight-line variant keeps the same station on ties.
    """
    if rule.kind == "radius" and rule.measure == "straight_line":
        pos = np.full(int(max(fac_idx.max(), judged.max())) + 1, -1)
        pos[fac_idx] = np.arange(len(fac_idx))
        return best_two_straight(fac_x[fac_idx], fac_y[fac_idx], cell_x, cell_y, pos[judged])
    src, cells, v = model.fac_snap.take(fac_idx), model.cell_snap, model.access_mps
    if rule.kind == "radius":
        return best_two(model.router(rule.direction, "length"), src, src.access_m, cells, cells.access_m)
    offsets = turnout_s[fac_idx] if rule.include_turnout else np.zeros(len(fac_idx))
    return best_two(model.router(rule.direction, "time"), src, offsets + src.access_m / v, cells,
                    cells.access_m / v)


def station_table(rule: Rule, two: BestTwo, fac_idx: np.ndarray, facilities: pd.DataFrame, pop: np.ndarray,
                  limit: np.ndarray, passed: np.ndarray) -> pd.DataFrame:
    """One row per station of the rule: people lost if it closes, its territory's fallback station.

    Parameters
    ----------
    rule : Rule
        A spatial rule (radius or travel_time).
    two : BestTwo
        Best two stations per cell (labels index ``fac_idx``; costs in metres or seconds).
    fac_idx : numpy.ndarray
        The rule's stations (indices into ``facilities``).
    facilities : DataFrame
        All facilities (facility_id, name, type, ambulances).
    pop, limit, passed : numpy.ndarray
        Per cell: population, the zone's limit (NaN where the rule does not apply), pass now.

    Returns
    -------
    DataFrame
        Columns of ``STATION_COLUMNS`` except ``rank``; added values in minutes (time rules) or km.
    """
    k = len(fac_idx)
    scale, unit = (1000.0, "km") if rule.kind == "radius" else (60.0, "min")
    mine = (two.label1 >= 0) & np.isfinite(limit)
    lab = np.where(mine, two.label1, 0)
    w = np.where(mine, pop, 0.0)
    lost_cell = passed & ~(two.cost2 <= limit)
    has2 = mine & np.isfinite(two.cost2)
    with np.errstate(invalid="ignore"):
        added = np.where(has2, (two.cost2 - two.cost1) / scale, 0.0)
    served = np.bincount(lab, w, k)
    with_fallback = np.bincount(lab, np.where(has2, pop, 0.0), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(lab, np.where(has2, pop * added, 0.0), k) / with_fallback
    top = np.full(k, -np.inf)
    np.maximum.at(top, lab[has2], added[has2])
    fallback, fallback_pop = _main_fallback(lab[has2], two.label2[has2], pop[has2], k)
    fids = facilities["facility_id"].to_numpy()
    covered = np.bincount(lab, np.where(passed, w, 0.0), k)
    lost = np.bincount(lab, np.where(lost_cell, w, 0.0), k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame({
            "rule_id": rule.id, "rule_zh": rule.name_zh, "rule_en": rule.name_en,
            "facility_id": fids[fac_idx], "name": facilities["name"].to_numpy()[fac_idx],
            "type": facilities["type"].to_numpy()[fac_idx],
            "ambulances": facilities["ambulances"].to_numpy(dtype=float)[fac_idx],
            "territory_population": served, "covered_population": covered, "population_lost": lost,
            "share_lost": np.where(covered > 0, lost / covered, 0.0),
            "fallback_station": np.where(fallback >= 0, fids[fac_idx[np.maximum(fallback, 0)]], ""),
            "fallback_share": np.where(with_fallback > 0, fallback_pop / served, np.nan),
            "added_mean": np.where(with_fallback > 0, mean, np.nan),
            "added_max": np.where(np.isfinite(top), top, np.nan), "added_unit": unit,
            "population_no_fallback": served - with_fallback,
        })


def _main_fallback(owner: np.ndarray, second: np.ndarray, pop: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per station, the second station of most of its territory's people, and those people."""
    best, best_pop = np.full(k, -1), np.zeros(k)
    if len(owner) == 0:
        return best, best_pop
    pair_pop = pd.Series(pop).groupby([owner, second]).sum()
    frame = pair_pop.rename("p").reset_index()
    frame.columns = ["owner", "second", "p"]
    frame = frame.sort_values(["owner", "p", "second"], ascending=[True, False, True]).drop_duplicates("owner")
    best[frame["owner"].to_numpy()] = frame["second"].to_numpy()
    best_pop[frame["owner"].to_numpy()] = frame["p"].to_numpy()
    return best, best_pop


def rank_stations(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """All rules' station rows, ranked per rule by people lost (then territory, then id)."""
    if not frames:
        return pd.DataFrame(columns=STATION_COLUMNS)
    out = pd.concat(frames, ignore_index=True)
    out = out.sort_values(["rule_id", "population_lost", "territory_population", "facility_id"],
                          ascending=[True, False, False, True], kind="stable").reset_index(drop=True)
    out.insert(0, "rank", out.groupby("rule_id").cumcount() + 1)
    return out[STATION_COLUMNS]


def criticality(result) -> pd.DataFrame:
    """stations.csv of a coverage run: every rule's stations, ranked by the people lost if each closes.

    Parameters
    ----------
    result : pipeline.Result
        A finished run (its cells hold each rule's judged nearest station and pass).

    Returns
    -------
    DataFrame
        One row per (rule, station), columns ``STATION_COLUMNS``.
    """
    region, scn = result.region, result.scenario
    fac, cells = region.facilities, result.cells
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    turnout = cov.turnout_seconds(fac, scn.profile)
    pop, zones = cells["population"].to_numpy(dtype=float), cells["zone"].to_numpy()
    fid_pos = pd.Series(np.arange(len(fac)), index=fac["facility_id"].to_numpy())
    frames = []
    for rule in result.rules:
        idx = cov.rule_facilities(rule, fac) if rule.spatial else np.zeros(0, dtype=int)
        if not rule.spatial or rule.kind == "mean_time" or len(idx) == 0:
            continue
        near = cells[f"{rule.id}_nearest"].to_numpy()
        judged = np.where(near != "", fid_pos.reindex(near).fillna(-1).to_numpy(), -1).astype(np.int64)
        two = rule_best_two(rule, result.models[rule.travel_profile], idx, turnout, x, y, fx, fy, judged)
        limit = cov.cell_thresholds(rule, zones)
        frames.append(station_table(rule, two, idx, fac, pop, limit, cells[f"{rule.id}_pass"].to_numpy(bool)))
    return rank_stations(frames)
