"""'Suggest N stations' for the current state of a session: the MCLP over road-node candidates."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .. import coverage as cov
from ..optimize import mclp
from ..siting import network_candidates
from ..standards import Rule
from ..travel import snap
from .state import Session, rule_combo

MAX_CANDIDATES = 600


def suggest_sites(ses: Session, rule: Rule, n: int, time_limit: float = 20.0) -> pd.DataFrame:
    """Up to ``n`` new sites that cover the most people the rule leaves uncovered now.

    Candidates are road nodes of the routable core inside the region (one per grid square, sized to
    give at most :data:`MAX_CANDIDATES`); rows are the cells that fail the rule and are not cut off from the network,
    weighted by population; a candidate covers a cell when its cost is within the cell's threshold.
    Returns columns x, y (region CRS) and gain (people newly covered), in order of gain.
    """
    eng = ses.engine
    passed, reason, applies, _ = ses.judge(rule)
    base = eng.model(rule.travel_profile, 1.0)
    rows = np.flatnonzero(applies & ~passed & ~base.cut_off)   # cells a new station could serve
    empty = pd.DataFrame({"x": [], "y": [], "gain": []})
    if len(rows) == 0:
        empty.attrs["status"] = "every cell with road access already passes"
        return empty
    model = eng.model(rule.travel_profile, ses.factor)
    area = float(eng.region.region.area)
    spacing = max(math.sqrt(area / MAX_CANDIDATES), 200.0)
    live = ses.live()
    cand = network_candidates(model, eng.region, spacing, np.column_stack([ses.x[live], ses.y[live]]))
    if len(cand) == 0:
        empty.attrs["status"] = "no candidate road nodes"
        return empty
    cx, cy = cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy()
    limit = cov.cell_thresholds(rule, eng.zones)[rows]
    if rule.kind == "radius" and rule.measure == "straight_line":
        from scipy.spatial import cKDTree

        mat = cKDTree(np.column_stack([eng.x[rows], eng.y[rows]])).sparse_distance_matrix(
            cKDTree(np.column_stack([cx, cy])), float(limit.max()), output_type="coo_matrix").tocsr()
    else:
        combo = rule_combo(rule)
        src = snap(model.net, cx, cy, allowed=base.snappable)
        v = model.access_mps
        cells = base.cell_snap.take(rows)
        turnout = ses.profile().default_turnout_min * 60.0 if combo.turnout else 0.0
        if combo.weight == "time":
            offset, dst_off = turnout + src.access_m / v, cells.access_m / v
        else:
            offset, dst_off = src.access_m, cells.access_m
        mat = model.router(combo.direction, combo.weight).bounded(src, offset, cells, dst_off, float(limit.max()))
    mat = mat.tocoo()
    keep = mat.data <= limit[mat.row]
    import scipy.sparse as sp

    cover = sp.csr_matrix((np.ones(int(keep.sum())), (mat.row[keep], mat.col[keep])), shape=mat.shape)
    n = min(n, cover.shape[1])
    sol = mclp(cover, eng.pop[rows], n, time_limit=time_limit)
    chosen = np.asarray(sol.selected)
    gains, covered = [], np.zeros(cover.shape[0], dtype=bool)
    order = []
    left = list(chosen)
    csc = cover.tocsc()
    while left:   # report in order of marginal gain
        g = [eng.pop[rows][csc[:, c].indices[~covered[csc[:, c].indices]]].sum() for c in left]
        k = int(np.argmax(g))
        c = left.pop(k)
        order.append(c)
        gains.append(float(g[k]))
        covered[csc[:, c].indices] = True
    out = pd.DataFrame({"x": cx[order], "y": cy[order], "gain": gains})
    out.attrs["status"] = sol.status
    return out
