"""An independent networkx reference for nearest-facility costs (slow; for cross-checking samples).

It rebuilds the same model from the road segments by hand: arcs per allowed direction, partial costs
along the snapped segment at both ends, offsets at the sources and destinations.
"""

from __future__ import annotations

import networkx as nx
import numpy as np


def reference_costs(net, seg_cost, direction, src, src_offset, dst, dst_offset, sample) -> np.ndarray:
    """Nearest-source cost for the destinations in ``sample``, computed with networkx Dijkstra."""
    g = nx.DiGraph()

    def arc(u, v, w):
        if np.isfinite(w) and (not g.has_edge(u, v) or g[u][v]["w"] > w):
            g.add_edge(u, v, w=float(w))

    for s in range(net.n_segments):
        a, b, w = int(net.seg_a[s]), int(net.seg_b[s]), float(seg_cost[s])
        if net.seg_fwd[s]:
            arc(a, b, w)
        if net.seg_bwd[s]:
            arc(b, a, w)
    wf = lambda s: seg_cost[s] if net.seg_fwd[s] else np.inf  # noqa: E731
    wb = lambda s: seg_cost[s] if net.seg_bwd[s] else np.inf  # noqa: E731

    def part(share, w):
        """Cost of a share of a segment; a point at the segment's end is at the node (cost 0)."""
        return 0.0 if share <= 0 else share * w

    forward = direction == "from_facility"
    if not forward:
        g = g.reverse(copy=True)
    for i in range(len(src.seg)):
        s, f = int(src.seg[i]), float(src.frac[i])
        a, b = int(net.seg_a[s]), int(net.seg_b[s])
        node = ("src", i)
        g.add_edge("S", node, w=float(src_offset[i]))
        if forward:   # leave the facility onto the road
            arc(node, b, part(1 - f, wf(s)))
            arc(node, a, part(f, wb(s)))
        else:         # reversed graph: arcs mirror the real trip road → facility
            arc(node, a, part(f, wf(s)))
            arc(node, b, part(1 - f, wb(s)))
    dist = nx.single_source_dijkstra_path_length(g, "S", weight="w")
    out = np.empty(len(sample))
    for k, j in enumerate(sample):
        s, f = int(dst.seg[j]), float(dst.frac[j])
        a, b = int(net.seg_a[s]), int(net.seg_b[s])
        if forward:   # road → cell
            ends = [(a, part(f, wf(s))), (b, part(1 - f, wb(s)))]
        else:         # cell → road (then on to the facility)
            ends = [(b, part(1 - f, wf(s))), (a, part(f, wb(s)))]
        out[k] = min(dist.get(n, np.inf) + c for n, c in ends) + float(dst_offset[j])
        for i in np.flatnonzero(src.seg == s):          # straight along the shared segment
            fs = float(src.frac[i])
            ahead = f >= fs if forward else fs >= f
            along = part(abs(f - fs), wf(s) if ahead else wb(s))
            out[k] = min(out[k], float(src_offset[i]) + along + float(dst_offset[j]))
    return out
