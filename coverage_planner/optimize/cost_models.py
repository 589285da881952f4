"""Cost models on a sparse travel-cost matrix: p-median and p-center."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from . import median_lagrange as _ml
from . import median_swap as _ms
from .covering import _lscp_exact
from .errors import InfeasibleModel, SolverTimeLimit
from .grouping import group_rows
from .heuristics import _greedy_cover_all, _pad
from .highs import MipResult, solve_mip
from .solution import (
    HEURISTIC,
    OPTIMAL,
    TIME_LIMIT,
    Solution,
    _result,
    _share,
    _sites_text,
    _time_left,
    _time_left_until,
)
from .sparse import (
    _as_fixed,
    _as_weights,
    _check_p,
    _indicator,
    _keep_columns,
    _within,
    as_cost,
)


def _row_min(M: sp.csr_matrix, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: cheapest cost to an open column (inf if none) and the position of that entry (the
    first of the row's cheapest; the row's first entry when no column of it is open)."""
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    cost_e = np.where(is_open[M.indices], M.data, math.inf)
    nonempty = np.diff(M.indptr) > 0
    best = np.full(M.shape[0], math.inf)
    pos = np.full(M.shape[0], -1, dtype=np.int64)
    if M.nnz:
        best[nonempty] = np.minimum.reduceat(cost_e, M.indptr[:-1][nonempty])
        pos[nonempty] = _first_per_row(np.flatnonzero(cost_e == best[rows_e]), rows_e)
    return best, pos


def _first_per_row(entries: np.ndarray, rows_e: np.ndarray) -> np.ndarray:
    """The first of ``entries`` (ascending entry positions) in each row that has one."""
    r = rows_e[entries]
    return entries[np.r_[True, r[1:] != r[:-1]]] if len(entries) else entries


def _median_greedy(M: sp.csr_matrix, w: np.ndarray, is_open: np.ndarray, allowed: np.ndarray,
                   k: int) -> np.ndarray:
    """Greedy p-median: add k columns, each time the one that cuts the weighted cost most
    (unassigned rows count at a cost above any stored cost). Returns the added columns in order."""
    big = 2.0 * (float(M.data.max()) if M.nnz else 0.0) + 1.0
    cur = np.minimum(_row_min(M, is_open)[0], big)
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    allowed = allowed & ~is_open
    Mt = M.T.tocsr()
    added = []
    for _ in range(k):
        gains = np.bincount(M.indices, weights=w[rows_e] * np.maximum(0.0, cur[rows_e] - M.data),
                            minlength=M.shape[1])
        gains[~allowed] = -1.0
        j = int(np.argmax(gains))
        if gains[j] < 0:
            break
        rows = Mt.indices[Mt.indptr[j]:Mt.indptr[j + 1]]
        cur[rows] = np.minimum(cur[rows], Mt.data[Mt.indptr[j]:Mt.indptr[j + 1]])
        allowed[j] = False
        added.append(j)
    return np.asarray(added, dtype=np.int64)


def truncate_at_fixed(M: sp.csr_matrix, fixed_mask: np.ndarray,
                      bound: float = math.inf) -> tuple[sp.csr_matrix, np.ndarray]:
    """The pairs an optimal p-median or p-center solution can use, when ``fixed_mask`` columns are open.

    Keeps, per row, its cheapest fixed pair (one; the first column on ties) and the free pairs strictly
    cheaper than it, and drops every pair costlier than ``bound``.

    Proof that nothing else matters. Let b_i be row i's cheapest fixed cost (∞ without one). Every
    allowed open set O contains the fixed columns, so row i's cost min_{j∈O} c_ij ≤ b_i: a free pair
    with c_ij ≥ b_i, or another fixed pair, can never be strictly below that minimum, and leaving it
    out leaves min_{j∈O} c_ij unchanged for every O. (p-median: every solution keeps its objective,
    so the optimum, the optimal sets and every bound are those of the full matrix. p-center: for each
    radius r, row i is within r of O in both matrices alike.) For ``bound``: p-center passes the
    worst cost U of a feasible solution; the optimum r* ≤ U, so at every radius r ≤ U tried by the
    search the pairs above U are not within r, and dropping them changes no answer; r* itself is a
    kept pair's cost (the cheapest open pair of the row that attains it).

    Returns
    -------
    (csr_matrix, numpy.ndarray)
        The kept pairs (same shape) and, per row, whether only its fixed pair is left (its cost is the
        same in every solution).
    """
    R = M.shape[0]
    rows_e = np.repeat(np.arange(R), np.diff(M.indptr))
    fixed_e = fixed_mask[M.indices]
    best_fixed = np.full(R, math.inf)
    np.minimum.at(best_fixed, rows_e[fixed_e], M.data[fixed_e])
    first_fixed = np.full(R, -1, dtype=np.int64)
    at_best = _first_per_row(np.flatnonzero(fixed_e & (M.data == best_fixed[rows_e])), rows_e)
    first_fixed[rows_e[at_best]] = at_best
    keep = ~fixed_e & (M.data < best_fixed[rows_e])
    keep[first_fixed[first_fixed >= 0]] = True
    keep &= M.data <= bound
    kept_rows = rows_e[keep]
    counts = np.bincount(kept_rows, minlength=R)
    out = sp.csr_matrix((M.data[keep], M.indices[keep], np.concatenate([[0], np.cumsum(counts)])), shape=M.shape)
    only_fixed = (counts == 1) & (first_fixed >= 0) & np.isfinite(best_fixed) & (best_fixed <= bound)
    return out, only_fixed


def _median_exact(M, w, fixed_mask: np.ndarray, p: int, start: np.ndarray | None, time_limit: float,
                  mip_gap: float, allowed: np.ndarray | None = None) -> MipResult:
    """min Σ w_i c_ij z_ij  s.t.  Σ_j z_ij = 1,  z_ij ≤ x_j (free j),  Σ_free x = p;  fixed x = 1.

    Pairs costlier than the row's cheapest fixed site are never needed and are left out. Columns
    outside ``allowed`` (a mask; default all) stay closed.
    """
    R, m = M.shape
    rows_e = np.repeat(np.arange(R), np.diff(M.indptr))
    fixed_e = fixed_mask[M.indices]
    best_fixed = np.full(R, math.inf)
    np.minimum.at(best_fixed, rows_e[fixed_e], M.data[fixed_e])
    keep = (fixed_e & (M.data <= best_fixed[rows_e])) | (M.data < best_fixed[rows_e])
    rows_e, cols_e, cost_e = rows_e[keep], M.indices[keep], M.data[keep]
    E = len(rows_e)
    free_e = np.flatnonzero(~fixed_mask[cols_e])
    L = len(free_e)
    z_col = m + np.arange(E)
    link = R + np.arange(L)
    coo_r = np.concatenate([rows_e, link, link, np.full(m, R + L)])
    coo_c = np.concatenate([z_col, z_col[free_e], cols_e[free_e], np.arange(m)])
    vals = np.concatenate([np.ones(E + L), -np.ones(L), (~fixed_mask).astype(float)])
    A = sp.csc_matrix((vals, (coo_r, coo_c)), shape=(R + L + 1, m + E))
    x_lo = fixed_mask.astype(float)
    x0 = None
    if start is not None:
        is_open = fixed_mask.copy()
        is_open[start] = True
        sub = sp.csr_matrix((cost_e, cols_e, np.concatenate([[0], np.cumsum(np.bincount(rows_e, minlength=R))])),
                            shape=(R, m))
        _, pos = _row_min(sub, is_open)
        if (pos >= 0).all():
            x0 = np.concatenate([is_open.astype(float), _indicator(pos, E)])
    x_hi = np.ones(m) if allowed is None else (allowed | fixed_mask).astype(float)
    return solve_mip(A, np.concatenate([np.zeros(m), w[rows_e] * cost_e]), np.concatenate([x_lo, np.zeros(E)]),
                      np.concatenate([x_hi, np.ones(E)]), np.r_[np.ones(R), np.full(L, -math.inf), p],
                      np.r_[np.ones(R), np.zeros(L), p], np.r_[np.ones(m, bool), np.zeros(E, bool)],
                      False, time_limit, mip_gap, start=x0)


def _prep_cost(cost, weights, fixed):
    M = as_cost(cost)
    w = _as_weights(weights, M.shape[0])
    fixed = _as_fixed(fixed, M.shape[1])
    fixed_mask = np.zeros(M.shape[1], bool)
    fixed_mask[fixed] = True
    unc = np.flatnonzero(np.diff(M.indptr) == 0)
    return M, w, fixed, fixed_mask, unc


def p_median(cost, weights, p: int, fixed=None, time_limit: float = 60, mip_gap: float = 1e-6,
             seed=None) -> Solution:
    """p-median: choose p NEW sites (plus ``fixed``) minimising the weighted cost to the nearest one.

    Assignment variables exist only for stored pairs. Rows with no stored pair are reported as
    uncoverable and excluded (status "partial"). Only the pairs cheaper than a row's cheapest fixed
    site are kept (:func:`truncate_at_fixed`, with the proof that the optimum and its bound do not
    change); rows that only a fixed site can serve then cost the same in every solution and are left
    out of the model (their cost is added back to the bound). Identical rows (same pairs and costs)
    are merged.
    A greedy start and a Lagrangian bound (:mod:`coverage_planner.median_lagrange`) come first; the
    sites the bound rules out are dropped, and HiGHS solves what is left when it has at most
    ``MEDIAN_MAX_PAIRS`` pairs (else the best solution found is returned with its proven bound, status
    "heuristic"). Raises :class:`InfeasibleModel` when no choice of p sites gives every coverable row
    an allowed open site, :class:`SolverTimeLimit` when none was found within the time limit.
    ``seed``: candidate sites to try as a start (e.g. the existing stations when they may move); the
    starts are improved by vertex-substitution swaps (:mod:`coverage_planner.median_swap`).
    """
    t0 = time.perf_counter()
    M, w, fixed, fixed_mask, unc = _prep_cost(cost, weights, fixed)
    p = _check_p(p, M.shape[1] - len(fixed), model="p-median")
    keep = (np.diff(M.indptr) > 0) & (w > 0)
    Mk, settled = truncate_at_fixed(M[keep], fixed_mask)
    wk = w[keep]
    settled_cost = 0.0
    if not settled.all():    # rows whose cost no choice changes: a constant, outside the model
        settled_cost = float(np.dot(wk[settled], Mk[settled].sum(axis=1).A1))
        Mk, wk = Mk[~settled], wk[~settled]
    rep, inverse = group_rows(Mk, with_values=True)
    Ma, wa = Mk[rep], np.bincount(inverse, weights=wk, minlength=len(rep))
    chosen, bound, status = _median_solve(Ma, wa, fixed_mask, p, t0 + float(time_limit), mip_gap,
                                           None if seed is None else _as_fixed(seed, M.shape[1]))
    bound += settled_cost
    best, _ = _row_min(M, np.isin(np.arange(M.shape[1]), chosen))
    obj = float(np.sum(w[keep] * best[keep]))
    total = float(w[keep].sum())
    summary = (f"{_sites_text(p, len(fixed))}; weighted cost {obj:,.1f} "
               f"(mean {obj / total if total else 0:,.1f} per person)")
    return _result("p-median", t0, chosen, obj, obj if status == OPTIMAL else min(bound, obj), status, M.shape[0],
                   Ma.shape[0], unc, float(w[unc].sum()), summary, dropped=bool(w[unc].sum() > 0))


MEDIAN_MAX_PAIRS = 400_000   # pairs of the exact p-median model; about 1 GB of HiGHS memory at most


def _median_start(Ma, wa, fixed_mask: np.ndarray, p: int, deadline: float, mip_gap: float,
                  seed: np.ndarray | None) -> np.ndarray:
    """The cheapest of the greedy start and (with ``seed``) the seed sites topped up greedily, each
    improved by swaps (:func:`coverage_planner.median_swap.swap_search`). An open mask."""
    starts = [_median_greedy(Ma, wa, fixed_mask, ~fixed_mask, p)]
    if seed is not None and len(seed):
        first = np.setdiff1d(np.asarray(seed, dtype=np.int64), np.flatnonzero(fixed_mask))[:p]
        is_open = fixed_mask.copy()
        is_open[first] = True
        starts.append(np.concatenate([first, _median_greedy(Ma, wa, is_open, ~is_open, p - len(first))]))
    best, best_cost = None, math.inf
    for k, cols in enumerate(starts):
        mask = fixed_mask | np.isin(np.arange(Ma.shape[1]), cols)
        if not np.isfinite(_ml.assignment_cost(Ma, wa, mask)) or len(cols) < p:
            continue
        mask = _ms.swap_search(Ma, wa, mask, fixed_mask, deadline=_share(deadline, 0.2 / (len(starts) - k)))
        cost = _ml.assignment_cost(Ma, wa, mask)
        if cost < best_cost:
            best, best_cost = mask, cost
    if best is None:
        best = _median_feasible_start(Ma, wa, fixed_mask, p, deadline, mip_gap)
        best = _ms.swap_search(Ma, wa, best, fixed_mask, deadline=_share(deadline, 0.2))
    return best


def _median_solve(Ma, wa, fixed_mask: np.ndarray, p: int, deadline: float,
                  mip_gap: float, seed: np.ndarray | None = None) -> tuple[np.ndarray, float, str]:
    """Open columns, proven lower bound and status: greedy (and ``seed``) starts improved by swaps,
    Lagrangian bound and fixing, then HiGHS."""
    start_mask = _median_start(Ma, wa, fixed_mask, p, deadline, mip_gap, seed)
    budget = max(0.0, deadline - time.perf_counter())
    lag = _ml.subgradient(Ma, wa, fixed_mask, p, start_mask, time.perf_counter() + budget / 2, mip_gap)
    if not np.array_equal(lag.open_cols, start_mask):   # a better set met on the way: polish it too
        polished = _ms.swap_search(Ma, wa, lag.open_cols, fixed_mask, deadline=_share(deadline, 0.25))
        cost = _ml.assignment_cost(Ma, wa, polished)
        if cost < lag.cost:
            lag.open_cols, lag.cost = polished, cost
    incumbent = np.flatnonzero(lag.open_cols)
    if lag.cost - lag.bound <= mip_gap * abs(lag.cost):
        return incumbent, lag.cost, OPTIMAL
    closed, forced = _ml.fixed_by_bound(lag, fixed_mask, p)
    Mr = _keep_columns(Ma, ~closed) if closed.any() else Ma
    if (np.diff(Mr.indptr) == 0).any():   # a row every cheaper solution would leave unserved
        return incumbent, lag.cost, OPTIMAL
    fixed_r = fixed_mask | forced
    if Mr.nnz > MEDIAN_MAX_PAIRS or time.perf_counter() >= deadline:
        return incumbent, lag.bound, HEURISTIC if time.perf_counter() < deadline else TIME_LIMIT
    new = np.flatnonzero(lag.open_cols & ~fixed_r)
    mip = _median_exact(Mr, wa, fixed_r, p - int(forced.sum()), new, _time_left_until(deadline), mip_gap,
                        allowed=~closed)
    if mip.status == "infeasible" or mip.x is None:   # nothing cheaper than the incumbent
        return incumbent, lag.cost if mip.status == "infeasible" else lag.bound, \
            OPTIMAL if mip.status == "infeasible" else mip.status
    chosen = np.flatnonzero(mip.x[:Ma.shape[1]] > 0.5)
    if _ml.assignment_cost(Ma, wa, np.isin(np.arange(Ma.shape[1]), chosen)) > lag.cost:
        chosen = incumbent
    bound = lag.bound if not np.isfinite(mip.bound) else max(lag.bound, min(mip.bound, lag.cost))
    return chosen, bound, mip.status


def _median_feasible_start(Ma, wa, fixed_mask: np.ndarray, p: int, deadline: float, mip_gap: float) -> np.ndarray:
    """An open mask that gives every row an allowed site: the fewest sites that reach every row (a set
    covering problem on the pairs, usually tiny after merging rows), topped up greedily to p.

    Raises :class:`InfeasibleModel` when more than p new sites are needed, :class:`SolverTimeLimit`
    when the time ran out before either was shown.
    """
    free = np.flatnonzero(~fixed_mask)
    S = sp.csr_matrix((np.ones(Ma.nnz, bool), Ma.indices, Ma.indptr), shape=Ma.shape)
    need = ~((S @ fixed_mask.astype(float)) > 0)
    sub = S[need][:, free]
    rep, _ = group_rows(sub)
    Sa = sub[rep]
    sel, lower = _greedy_cover_all(Sa, Sa.T.tocsr())
    if len(sel) > p and lower <= p:
        status = TIME_LIMIT
        if _time_left_until(deadline) > 0:
            exact, status, lower = _lscp_exact(Sa, sel, _time_left_until(deadline), mip_gap)
            sel = exact if len(exact) < len(sel) else sel
        if len(sel) > p and lower <= p:   # not proven either way (or HiGHS's solution was lost)
            raise SolverTimeLimit("p-median", "p-median: no feasible solution found within the time limit.",
                                  math.nan)
    if len(sel) > p:
        raise InfeasibleModel("p-median", f"p-median has no solution: with p={p} new sites (and "
                              f"{int(fixed_mask.sum())} fixed), some cells have no allowed open site; at least "
                              f"{max(math.ceil(lower - 1e-9), p + 1)} new sites are needed. Allow more pairs (a longer cost "
                              "limit) or a larger p.")
    is_open = fixed_mask.copy()
    is_open[free[sel]] = True
    is_open[_median_greedy(Ma, wa, is_open, ~is_open, p - len(sel))] = True
    return is_open


def _center_try(M, radius, fixed, free, p, time_left, mip_gap):
    """Can p new sites (plus fixed) serve every coverable row within radius?
    Returns ("yes", new sites) | ("no", None) | ("unknown", None)."""
    S = _within(M, radius)
    need = np.diff(M.indptr) > 0
    if len(fixed):
        need &= ~((S @ _indicator(fixed, M.shape[1])) > 0)
    sub = S[need][:, free]
    if (np.diff(sub.indptr) == 0).any():
        return "no", None
    rep, _ = group_rows(sub)
    Sa = sub[rep]
    sel, lower = _greedy_cover_all(Sa, Sa.T.tocsr())
    if len(sel) <= p:
        return "yes", free[sel]
    if lower > p:
        return "no", None
    if time_left <= 0:
        return "unknown", None
    sel, _, lower = _lscp_exact(Sa, sel, time_left, mip_gap)
    if len(sel) <= p:
        return "yes", free[sel]
    if lower > p:   # proven, not merely "the solver said optimal" (its solution may still have more sites)
        return "no", None
    return "unknown", None


def p_center(cost, p: int, fixed=None, time_limit: float = 60, mip_gap: float = 1e-6,
             weights=None) -> Solution:
    """p-center: choose p NEW sites (plus ``fixed``) minimising the worst cost to the nearest site.

    Solved exactly by binary search over the distinct costs: radius r is achievable iff the set
    covering problem with the pairs of cost ≤ r needs at most p new sites (greedy first, then an
    exact LSCP), over the pairs no dearer than the greedy solution's worst cost and cheaper than the
    row's nearest fixed site (:func:`truncate_at_fixed` proves the answer is that of the full matrix).
    Rows with no stored pair are reported as uncoverable and excluded. At the time
    limit the best radius found is returned with the smallest radius not yet ruled out as bound.
    With ``weights`` (population), rows of weight 0 (nobody lives there) do not count, and the
    uncoverable rows are reported with their people; without, every row counts one.
    """
    t0 = time.perf_counter()
    M_all, w_all, fixed, fixed_mask, _ = _prep_cost(cost, weights, fixed)
    rows = np.flatnonzero(w_all > 0) if weights is not None else np.arange(M_all.shape[0])
    M = M_all[rows]
    unc = rows[np.diff(M.indptr) == 0]
    free = np.flatnonzero(~fixed_mask)
    p = _check_p(p, len(free), model="p-center")
    coverable = np.diff(M.indptr) > 0
    values = np.unique(M.data)
    if not coverable.any():
        raise InfeasibleModel("p-center", "p-center: no cell has an allowed pair with any candidate.")
    nearest = _row_min(M, np.ones(M.shape[1], bool))[0][coverable].max()
    warm = _median_greedy(M, coverable.astype(float), fixed_mask, ~fixed_mask, p)
    warm_cost = _row_min(M, fixed_mask | np.isin(np.arange(M.shape[1]), warm))[0][coverable].max()
    if np.isfinite(warm_cost):   # no optimal radius above the greedy's, nor pairs past a fixed site
        M, _ = truncate_at_fixed(M, fixed_mask, bound=float(warm_cost))
        values = np.unique(M.data)
    M_full, lo = M_all[rows], int(np.searchsorted(values, nearest))
    hi, best = (int(np.searchsorted(values, warm_cost)), warm) if np.isfinite(warm_cost) else (len(values) - 1, None)
    status = OPTIMAL
    if best is None:
        answer, best = _center_try(M, values[hi], fixed, free, p, _time_left(t0, time_limit), mip_gap)
        if answer != "yes":
            if answer == "no":
                raise InfeasibleModel("p-center", f"p-center has no solution: with p={p} new sites (and {len(fixed)} fixed) "
                                 "some cells cannot reach any open site through the allowed pairs.")
            raise SolverTimeLimit("p-center", "p-center: no feasible solution found within the time limit.", time_limit)
    while lo < hi:
        mid = (lo + hi) // 2
        answer, sel = _center_try(M, values[mid], fixed, free, p, _time_left(t0, time_limit), mip_gap)
        if answer == "yes":
            hi, best = mid, sel
        elif answer == "no":
            lo = mid + 1
        else:
            status = TIME_LIMIT
            break
    is_open = fixed_mask.copy()
    is_open[best] = True
    extra = _median_greedy(M, coverable.astype(float), is_open, ~is_open, p - len(best))
    is_open[extra] = True
    is_open[_pad(np.flatnonzero(is_open & ~fixed_mask), M.shape[1], p, blocked=fixed)] = True
    obj = float(_row_min(M_full, is_open)[0][coverable].max())
    summary = f"{_sites_text(p, len(fixed))}; worst cost {obj:,.1f}"
    return _result("p-center", t0, np.flatnonzero(is_open), obj, values[lo] if status != OPTIMAL else obj,
                   status, M_all.shape[0], M.shape[0], unc, float(w_all[unc].sum()), summary,
                   weighted=weights is not None, dropped=len(unc) > 0)

