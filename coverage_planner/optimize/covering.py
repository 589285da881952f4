"""Location set covering (LSCP) and maximal covering (MCLP), exact with HiGHS."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from .errors import SolverFailure
from .grouping import _drop_dominated, reduce_cover
from .heuristics import _greedy_cover_all, _pad
from .highs import solve_mip
from .mclp_lagrange import _solve_mclp
from .solution import OPTIMAL, TIME_LIMIT, Solution, _result, _sites_text, _time_left
from .sparse import (
    _as_fixed,
    _as_weights,
    _check_p,
    _indicator,
    as_cover,
    covered_weight,
)


def _lscp_exact(Ca: sp.csr_matrix, start: np.ndarray, time_limit: float, mip_gap: float):
    """min Σx  s.t.  Ca x ≥ 1, x binary. Returns (sites, status, lower bound)."""
    R, F = Ca.shape
    mip = solve_mip(Ca, np.ones(F), np.zeros(F), np.ones(F), np.ones(R), np.full(R, math.inf),
                     np.ones(F, bool), False, time_limit, mip_gap, start=_indicator(start, F))
    if mip.status == "infeasible":  # cannot happen: every row has a candidate
        raise SolverFailure("LSCP", "HiGHS reported the covering of coverable rows infeasible.")
    sel = np.flatnonzero(mip.x > 0.5) if mip.x is not None else start
    if len(start) < len(sel):
        sel = start
    bound = math.ceil(mip.bound - 1e-6) if np.isfinite(mip.bound) else 0
    return sel, mip.status, float(bound)


def lscp(cover, weights=None, fixed=None, time_limit: float = 60, mip_gap: float = 1e-6,
         aggregate: bool = True) -> Solution:
    """Location set covering: fewest new sites (beyond ``fixed``) so every coverable row is covered.

    Rows no candidate covers are not an error: they are listed in ``uncoverable_rows`` with their
    weight, the model is solved for the rest, and the status is "partial". With ``weights`` given,
    rows of weight 0 (nobody lives there) need no cover. ``objective`` is the number of new sites.
    Identical rows are merged and dominated sites dropped first (exact); greedy cover seeds HiGHS.
    """
    t0 = time.perf_counter()
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, _, _ = reduce_cover(C, w, fixed, free, aggregate)
    cols = np.arange(Ca.shape[1])
    if aggregate:
        Ca, _, cols = _drop_dominated(Ca, np.ones(Ca.shape[0]), 0)
    free = free[cols]
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    sel, bound = _greedy_cover_all(Ca, Ca.T.tocsr())
    status = OPTIMAL if len(sel) <= bound else None
    if status is None:
        left = _time_left(t0, time_limit)
        if left <= 0:
            status = TIME_LIMIT
        else:
            sel, status, mip_bound = _lscp_exact(Ca, sel, left, mip_gap)
            bound = max(bound, mip_bound)
    summary = f"every reachable cell covered with {_sites_text(len(sel), len(fixed))}"
    unc_w = float(w[unc].sum())
    return _result("LSCP", t0, np.concatenate([free[sel], fixed]), len(sel),
                   len(sel) if status == OPTIMAL else bound, status, C.shape[0], Ca.shape[0], unc, unc_w,
                   summary, weighted=weights is not None, dropped=unc_w > 0)


def mclp(cover, weights, p: int, fixed=None, time_limit: float = 60, mip_gap: float = 1e-6,
         aggregate: bool = True) -> Solution:
    """Maximal covering: choose p NEW sites (in addition to ``fixed``) to maximise covered weight.

    Rows covered by fixed sites are counted and dropped, identical rows merged and dominated sites
    removed (all exact). Then: greedy + swaps; a Lagrangian bound (subgradient), whose top-p sets
    also feed a small exact "kernel" MIP for a better incumbent; columns fixed by the Lagrangian
    bound; the rest solved by HiGHS with the incumbent as start. Stops as soon as the proven gap is
    within ``mip_gap``. ``aggregate=False`` skips row merging and column dominance (for checks).
    """
    t0 = time.perf_counter()
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    p = _check_p(p, len(free), model="MCLP")
    Ca, wa, base = reduce_cover(C, w, fixed, free, aggregate)
    cols = np.arange(Ca.shape[1])
    if aggregate:
        Ca, wa, cols = _drop_dominated(Ca, wa, p)
    deadline = t0 + (math.inf if time_limit is None else float(time_limit))
    sel, value, bound, status = _solve_mclp(Ca, wa, p, deadline, mip_gap, base)
    chosen = _pad(np.concatenate([free[cols[sel]], fixed]), C.shape[1], p + len(fixed))
    obj = covered_weight(C, w, chosen)
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    total = float(w.sum())
    summary = (f"{obj:,.0f} of {total:,.0f} people ({obj / total if total else 0:.1%}) covered with "
               f"{_sites_text(p, len(fixed))}")
    return _result("MCLP", t0, chosen, obj, obj if status == OPTIMAL else max(obj, bound + base), status,
                   C.shape[0], Ca.shape[0], unc, float(w[unc].sum()), summary)

