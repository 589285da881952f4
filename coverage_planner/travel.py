"""Travel costs between facilities and population cells on the road network, in compiled code.

Every point (cell centroid or facility) is snapped to its nearest road segment: it joins the road at
the nearest point on that segment after an *access leg* (the straight distance, walked at the
profile's access speed). A facility becomes a virtual source node with arcs to the two ends of its
segment; a cell is reached from the two ends of its segment. Shortest paths are scipy's Dijkstra on
a CSR matrix: one multi-source run (``min_only``) for the nearest facility, or bounded runs
(``limit``) per facility for isochrones and covering sets.

Direction: ``from_facility`` searches forward from facilities (an ambulance driving to a patient);
``to_facility`` searches the transposed graph (a patient travelling to a clinic).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from .network import Graph, RoadNetwork, build_graph

FROM_FACILITY = "from_facility"
TO_FACILITY = "to_facility"


@dataclass(frozen=True)
class Snapped:
    """Points snapped to segments: segment index, position along it (0 at a, 1 at b), access leg (m)."""

    seg: np.ndarray
    frac: np.ndarray
    access_m: np.ndarray

    def __len__(self) -> int:
        return len(self.seg)

    def take(self, idx: np.ndarray) -> "Snapped":
        return Snapped(self.seg[idx], self.frac[idx], self.access_m[idx])


def snap(net: RoadNetwork, x: np.ndarray, y: np.ndarray, allowed: np.ndarray | None = None,
         tree: shapely.STRtree | None = None) -> Snapped:
    """Snap points to the nearest segment (only ``allowed`` segments if given), via an STRtree."""
    candidates = np.arange(net.n_segments) if allowed is None else np.flatnonzero(allowed)
    if len(candidates) == 0:
        raise ValueError("no road segments to snap to")
    x, y = np.asarray(x, float), np.asarray(y, float)
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if len(bad):
        raise ValueError(f"{len(bad)} point(s) have no finite coordinates (first at position {bad[0]})")
    geoms = net.seg_geometry[candidates]
    tree = tree or shapely.STRtree(geoms)
    order = morton_order(x, y)            # nearby queries in a row: GEOS's search is ~3x cheaper
    points = shapely.points(x[order], y[order])
    seg = np.empty(len(points), dtype=np.int64)
    access = np.empty(len(points))
    for start, ((pt_idx, tree_idx), dist) in _nearest_in_chunks(tree, points):
        seg[order[start + pt_idx]] = candidates[tree_idx]
        access[order[start + pt_idx]] = dist
    frac = np.empty(len(points))
    frac[order] = shapely.line_locate_point(net.seg_geometry[seg[order]], points, normalized=True)
    return Snapped(seg, np.nan_to_num(frac, nan=0.0), access)


def morton_order(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Permutation that visits points along a Z-order (Morton) curve over their bounding box."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)

    def spread(v: np.ndarray) -> np.ndarray:   # insert a zero bit between each of the 16 low bits
        v = v.astype(np.uint64)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    scale = (1 << bits) - 1
    qx = ((x - x.min()) / max(float(np.ptp(x)), 1e-9) * scale).astype(np.uint64)
    qy = ((y - y.min()) / max(float(np.ptp(y)), 1e-9) * scale).astype(np.uint64)
    return np.argsort(spread(qx) | (spread(qy) << np.uint64(1)), kind="stable")


def _nearest_in_chunks(tree: shapely.STRtree, points: np.ndarray, chunk: int = 50_000):
    """STRtree nearest-segment queries, split over the CPU cores (shapely releases the GIL)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    starts = list(range(0, len(points), chunk))
    query = lambda s: (s, tree.query_nearest(points[s:s + chunk], return_distance=True,  # noqa: E731
                                               all_matches=False))
    if len(starts) <= 1:
        return [query(s) for s in starts]
    with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1)) as pool:
        return list(pool.map(query, starts))


def _along(cost: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Cost of covering ``share`` of a segment; inf where the direction is not allowed.

    A point exactly at a segment's end (share 0) is at that node: it costs nothing, whatever the
    direction rules of the segment.
    """
    finite = np.isfinite(cost)
    return np.where(share <= 0, 0.0, np.where(finite, share * np.where(finite, cost, 0.0), np.inf))


def _leaving(graph: Graph, p: Snapped, seg_a: np.ndarray, seg_b: np.ndarray):
    """(node, cost) pairs to leave points onto the network, in the graph's own direction."""
    wf, wb = graph.cost_fwd[p.seg], graph.cost_bwd[p.seg]
    if graph.reverse:  # in the transposed graph, "leaving" means arriving in the real world
        return (seg_a[p.seg], _along(wf, p.frac)), (seg_b[p.seg], _along(wb, 1 - p.frac))
    return (seg_b[p.seg], _along(wf, 1 - p.frac)), (seg_a[p.seg], _along(wb, p.frac))


def _arriving(graph: Graph, p: Snapped, seg_a: np.ndarray, seg_b: np.ndarray):
    """(node, cost) pairs to reach points from the network, in the graph's own direction."""
    wf, wb = graph.cost_fwd[p.seg], graph.cost_bwd[p.seg]
    if graph.reverse:
        return (seg_b[p.seg], _along(wf, 1 - p.frac)), (seg_a[p.seg], _along(wb, p.frac))
    return (seg_a[p.seg], _along(wf, p.frac)), (seg_b[p.seg], _along(wb, 1 - p.frac))


class Router:
    """Shortest-path costs between snapped sources (facilities) and destinations (cells).

    ``seg_cost`` is per segment (seconds or metres). Source and destination offsets (turnout time,
    access legs) are added at the two ends. ``direction`` is FROM_FACILITY or TO_FACILITY.
    """

    def __init__(self, net: RoadNetwork, seg_cost: np.ndarray, direction: str = FROM_FACILITY):
        if direction not in (FROM_FACILITY, TO_FACILITY):
            raise ValueError(f"direction must be {FROM_FACILITY!r} or {TO_FACILITY!r}")
        self.net = net
        self.direction = direction
        self.graph = build_graph(net, np.asarray(seg_cost, float), reverse=direction == TO_FACILITY)

    def _source_matrix(self, src: Snapped, src_offset: np.ndarray) -> sp.csr_matrix:
        (n1, c1), (n2, c2) = _leaving(self.graph, src, self.net.seg_a, self.net.seg_b)
        rows = np.tile(np.arange(len(src)), 2)
        cols = np.concatenate([n1, n2])
        costs = np.concatenate([c1, c2]) + np.tile(np.asarray(src_offset, float), 2)
        ok = np.isfinite(costs)
        return self.graph.matrix((rows[ok], cols[ok], costs[ok]), n_extra=len(src))

    def _combine(self, node_cost: np.ndarray, dst: Snapped, dst_offset: np.ndarray):
        (n1, c1), (n2, c2) = _arriving(self.graph, dst, self.net.seg_a, self.net.seg_b)
        via1 = node_cost[..., n1] + c1
        via2 = node_cost[..., n2] + c2
        return np.minimum(via1, via2) + dst_offset, via2 < via1, n1, n2

    def node_costs(self, src: Snapped, src_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost from the nearest source to every road node, and that source's index (-1 if none)."""
        n = self.graph.n_nodes
        mat = self._source_matrix(src, src_offset)
        virtual = np.arange(n, n + len(src))
        dist, _pred, origin = dijkstra(mat, indices=virtual, min_only=True, return_predecessors=True)
        label = np.where(origin[:n] >= 0, origin[:n] - n, -1)
        return dist[:n], label

    def nearest(self, src: Snapped, src_offset: np.ndarray, dst: Snapped,
                dst_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost from the nearest source to each destination, and that source's index (-1 if none)."""
        dst_offset = np.broadcast_to(np.asarray(dst_offset, float), (len(dst),))
        src_offset = np.broadcast_to(np.asarray(src_offset, float), (len(src),))
        node_cost, node_label = self.node_costs(src, src_offset)
        cost, via2, n1, n2 = self._combine(node_cost, dst, dst_offset)
        label = np.where(via2, node_label[n2], node_label[n1])
        d, s, direct = self.same_segment(src, src_offset, dst, dst_offset)
        order = np.lexsort((s, direct, d))
        first = order[np.r_[True, d[order][1:] != d[order][:-1]]] if len(order) else order
        better = direct[first] < cost[d[first]]
        cost[d[first][better]] = direct[first][better]
        label[d[first][better]] = s[first][better]
        label = np.where(np.isfinite(cost), label, -1)
        return cost, label

    def same_segment(self, src: Snapped, src_offset: np.ndarray, dst: Snapped, dst_offset: np.ndarray):
        """(destination, source, cost) for pairs on one segment, travelling directly along it.

        The graph joins points only at segment ends; a cell next to its facility on a long road is
        reached straight along the road here, in an allowed direction.
        """
        order = np.argsort(src.seg, kind="stable")
        sorted_seg = src.seg[order]
        lo = np.searchsorted(sorted_seg, dst.seg, "left")
        counts = np.searchsorted(sorted_seg, dst.seg, "right") - lo
        total = int(counts.sum())
        d = np.repeat(np.arange(len(dst)), counts)
        s = order[np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)]
        seg, fs, fd = dst.seg[d], src.frac[s], dst.frac[d]
        ahead = fd >= fs if not self.graph.reverse else fs >= fd   # the trip runs from a towards b
        share = np.abs(fd - fs)
        along = np.where(ahead, _along(self.graph.cost_fwd[seg], share), _along(self.graph.cost_bwd[seg], share))
        return d, s, np.asarray(src_offset, float)[s] + along + np.asarray(dst_offset, float)[d]

    def bounded_node_costs(self, src: Snapped, src_offset: np.ndarray, limit: float,
                           batch: int = 16):
        """Yield (source index, reached node indices, their costs) for each source, within ``limit``."""
        n = self.graph.n_nodes
        mat = self._source_matrix(src, src_offset)
        for start in range(0, len(src), batch):
            ids = np.arange(start, min(start + batch, len(src)))
            rows = dijkstra(mat, indices=n + ids, limit=limit)[:, :n]
            for k, i in enumerate(ids):
                reached = np.flatnonzero(np.isfinite(rows[k]))
                yield int(i), reached, rows[k, reached]

    def bounded(self, src: Snapped, src_offset: np.ndarray, dst: Snapped, dst_offset: np.ndarray,
                limit: float) -> sp.csr_matrix:
        """Sparse (destinations × sources) matrix of costs ≤ ``limit``; absent entries are beyond it.

        Costs of exactly 0 are stored as explicit entries, so use the matrix's structure (not its
        values) to tell reached from not reached.
        """
        dst_offset = np.broadcast_to(np.asarray(dst_offset, float), (len(dst),))
        src_offset = np.broadcast_to(np.asarray(src_offset, float), (len(src),))
        (n1, c1), (n2, c2) = _arriving(self.graph, dst, self.net.seg_a, self.net.seg_b)
        index = _NodeIndex(self.graph.n_nodes, n1, n2)
        rows_out, cols_out, vals_out = [], [], []
        scratch = np.full(self.graph.n_nodes, np.inf)
        for i, reached, costs in self.bounded_node_costs(src, src_offset, limit):
            scratch[reached] = costs
            cand = index.destinations(reached)
            cost = np.minimum(scratch[n1[cand]] + c1[cand], scratch[n2[cand]] + c2[cand]) + dst_offset[cand]
            scratch[reached] = np.inf
            ok = cost <= limit
            rows_out.append(cand[ok])
            cols_out.append(np.full(ok.sum(), i))
            vals_out.append(cost[ok])
        d, s, direct = self.same_segment(src, src_offset, dst, dst_offset)
        ok = direct <= limit
        rows = np.concatenate([*rows_out, d[ok]]).astype(np.int64)
        cols = np.concatenate([*cols_out, s[ok]]).astype(np.int64)
        vals = np.concatenate([*vals_out, direct[ok]])
        order = np.lexsort((vals, cols, rows))       # keep the cheaper of network and direct routes
        keep = order[np.r_[True, (np.diff(rows[order]) != 0) | (np.diff(cols[order]) != 0)]] if len(order) else order
        return _csr_keep_zeros(rows[keep], cols[keep], vals[keep], (len(dst), len(src)))


class _NodeIndex:
    """Which destinations hang off each node (through either end of their segment)."""

    def __init__(self, n_nodes: int, n1: np.ndarray, n2: np.ndarray):
        dst = np.arange(len(n1))
        nodes = np.concatenate([n1, n2])
        owners = np.concatenate([dst, dst])
        order = np.argsort(nodes, kind="stable")
        self.owners = owners[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(nodes, minlength=n_nodes))])

    def destinations(self, nodes: np.ndarray) -> np.ndarray:
        starts, ends = self.indptr[nodes], self.indptr[nodes + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        picked = self.owners[np.arange(lengths.sum()) + offsets]
        return np.unique(picked)


def _csr_keep_zeros(rows, cols, vals, shape) -> sp.csr_matrix:
    """CSR matrix that keeps explicit zero entries (scipy's constructors may drop them)."""
    order = np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return sp.csr_matrix((np.asarray(vals, float)[order], np.asarray(cols)[order].astype(np.int32), indptr),
                         shape=shape)


def straight_nearest(src_x: np.ndarray, src_y: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Straight-line distance (m) to the nearest source and its index, via a KD-tree."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([src_x, src_y]))
    dist, idx = tree.query(np.column_stack([x, y]))
    return dist, idx
