"""Greedy and swap heuristics for covering (warm starts, fallbacks, the coverage curve)."""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp

from .grouping import reduce_cover
from .solution import HEURISTIC, Solution, _result, _sites_text
from .sparse import (
    _as_fixed,
    _as_weights,
    _check_p,
    _gather,
    _indicator,
    _top_sum,
    as_cover,
)


def _greedy_steps(C: sp.csr_matrix, Ct: sp.csr_matrix, w: np.ndarray, covered: np.ndarray,
                  n_steps: int, p_bound: int = 0):
    """Greedy maximum coverage from the rows already ``covered``, at most ``n_steps`` additions.

    Gains are updated incrementally (only rows newly covered are touched), so the whole run costs
    O(nnz). With ``p_bound`` > 0 it also returns Minoux's bound for choosing p_bound sites:
    OPT ≤ f(S) + (sum of the p_bound largest gains at S), the minimum over all greedy steps.
    Returns (order of columns, covered weight after each step, bound).
    """
    covered = covered.copy()
    gains = Ct @ np.where(covered, 0.0, w)
    tol = 1e-12 * max(1.0, float(w.sum()))
    value = float(w[covered].sum())
    reachable = float(w[covered | (np.diff(C.indptr) > 0)].sum())
    order, values, bound = [], [value], math.inf
    for _ in range(n_steps):
        if p_bound:
            bound = min(bound, value + _top_sum(gains, p_bound), reachable)
        j = int(np.argmax(gains))
        if not gains[j] > tol:
            break
        rows = Ct.indices[Ct.indptr[j]:Ct.indptr[j + 1]]
        new = rows[~covered[rows]]
        covered[new] = True
        cols, owner = _gather(C.indptr, C.indices, new)
        gains -= np.bincount(cols, weights=w[new][owner], minlength=len(gains))
        gains[j] = -math.inf
        value += float(w[new].sum())
        order.append(j)
        values.append(value)
    if p_bound:
        bound = min(bound, value + _top_sum(gains, p_bound), reachable)
    return np.asarray(order, dtype=np.int64), np.asarray(values), bound


def _pad(selected: np.ndarray, n_cols: int, k: int, blocked: np.ndarray | None = None) -> np.ndarray:
    """Add the lowest-numbered unused columns until ``selected`` has k entries."""
    if len(selected) >= k:
        return selected
    used = np.zeros(n_cols, bool)
    used[selected] = True
    if blocked is not None:
        used[blocked] = True
    return np.concatenate([selected, np.flatnonzero(~used)[:k - len(selected)]])


def _swap_rounds(C: sp.csr_matrix, Ct: sp.csr_matrix, w: np.ndarray, sel: np.ndarray, fixed: np.ndarray,
                 max_rounds: int, p_bound: int = 0) -> tuple[np.ndarray, float, float]:
    """Best-improvement single swaps (Teitz–Bart vertex substitution) for maximum coverage.

    For each selected site s and unselected j the change is  gain(j) - loss(s) + both(s, j), where
    loss(s) is the weight only s covers and both(s, j) the part of it j covers too; all of these come
    from sparse products, so each round costs O(nnz). Returns (sites, covered weight, Minoux bound).
    """
    n_rows, n_cols = C.shape
    sel = np.array(sel, dtype=np.int64)
    is_open = np.zeros(n_cols, bool)
    is_open[sel] = True
    is_open[fixed] = True
    count = np.bincount(_gather(Ct.indptr, Ct.indices, np.flatnonzero(is_open))[0], minlength=n_rows)
    tol = 1e-9 * max(1.0, float(w.sum()))
    for _ in range(max_rounds if len(sel) else 0):
        gain = Ct @ np.where(count == 0, w, 0.0)
        gain[is_open] = -math.inf
        rows, owner = _gather(Ct.indptr, Ct.indices, sel)
        only = count[rows] == 1
        loss = np.bincount(owner[only], weights=w[rows[only]], minlength=len(sel))
        U = sp.csr_matrix((w[rows[only]], (owner[only], rows[only])), shape=(len(sel), n_rows))
        delta = (U @ C).toarray() + gain[None, :] - loss[:, None]
        k, j = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if not delta[k, j] > tol:
            break
        out = sel[k]
        count[Ct.indices[Ct.indptr[out]:Ct.indptr[out + 1]]] -= 1
        count[Ct.indices[Ct.indptr[j]:Ct.indptr[j + 1]]] += 1
        is_open[out], is_open[j], sel[k] = False, True, j
    value = float(w[count > 0].sum())
    gain = Ct @ np.where(count == 0, w, 0.0)
    gain[is_open] = -math.inf
    reachable = float(w[np.diff(C.indptr) > 0].sum())
    return sel, value, min(value + _top_sum(gain, p_bound), reachable) if p_bound else math.inf


def _mclp_heuristic(Ca, Cat, wa, p: int, max_rounds: int = 100) -> tuple[np.ndarray, float, float]:
    """Greedy then swaps on a reduced problem (no fixed columns). Returns (sites, value, bound)."""
    order, values, bound = _greedy_steps(Ca, Cat, wa, np.zeros(Ca.shape[0], bool), p, p_bound=p)
    sel = _pad(order, Ca.shape[1], p)
    sel, value, swap_bound = _swap_rounds(Ca, Cat, wa, sel, np.zeros(0, np.int64), max_rounds, p_bound=p)
    return sel, value, min(bound, swap_bound)


def greedy_mclp(cover, weights, p: int, fixed=None) -> Solution:
    """Greedy maximal covering: add the site covering the most uncovered weight, p times.

    The bound is Minoux's online bound (covered weight plus the p largest marginal gains, best over
    the greedy steps), a valid upper bound on the MCLP optimum. If everything coverable is covered
    before p sites, the remaining picks are the lowest-numbered free sites.
    """
    t0 = time.perf_counter()
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    p = _check_p(p, C.shape[1] - len(fixed), model="MCLP")
    covered = (C @ _indicator(fixed, C.shape[1])) > 0
    order, values, bound = _greedy_steps(C, C.T.tocsr(), w, covered, p, p_bound=p)
    sel = _pad(order, C.shape[1], p, blocked=fixed)
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    obj = values[-1]
    summary = f"{obj:,.0f} of {w.sum():,.0f} people covered with {_sites_text(p, len(fixed))}"
    return _result("MCLP", t0, np.concatenate([sel, fixed]), obj, max(bound, obj), HEURISTIC, C.shape[0],
                   C.shape[0], unc, float(w[unc].sum()), summary)


def swap_improve(cover, weights, selected, fixed=None, max_rounds: int = 100) -> Solution:
    """Improve a maximal-covering solution by single swaps (Teitz–Bart vertex substitution).

    ``selected`` are the new sites (fixed ones in it are ignored; fixed sites are never swapped
    out). Each round makes the best improving swap, found with vectorised gain computations; it stops
    when no swap improves or after ``max_rounds`` swaps. The bound is Minoux's bound at the result.
    """
    t0 = time.perf_counter()
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    sel = np.setdiff1d(np.unique(np.asarray(selected, dtype=np.int64)), fixed)
    if len(sel) and (sel[0] < 0 or sel[-1] >= C.shape[1]):
        raise ValueError("selected site indices out of range.")
    sel, value, bound = _swap_rounds(C, C.T.tocsr(), w, sel, fixed, max_rounds, p_bound=len(sel))
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    summary = f"{value:,.0f} of {w.sum():,.0f} people covered with {_sites_text(len(sel), len(fixed))}"
    return _result("MCLP", t0, np.concatenate([sel, fixed]), value, max(bound, value), HEURISTIC,
                   C.shape[0], C.shape[0], unc, float(w[unc].sum()), summary)


def _greedy_cover_all(Ca: sp.csr_matrix, Cat: sp.csr_matrix) -> tuple[np.ndarray, float]:
    """Greedy set cover of all rows, then redundant sites removed (last picked first).

    Returns (sites, lower bound): the bound is max(rows / largest set, greedy count / H(largest set)),
    valid because greedy set cover is within a factor H(d) of the optimum.
    """
    R = Ca.shape[0]
    if R == 0:
        return np.zeros(0, np.int64), 0.0
    order, _, _ = _greedy_steps(Ca, Cat, np.ones(R), np.zeros(R, bool), Ca.shape[1])
    count = np.bincount(_gather(Cat.indptr, Cat.indices, order)[0], minlength=R)
    keep = np.ones(len(order), bool)
    for k in range(len(order) - 1, -1, -1):
        rows = Cat.indices[Cat.indptr[order[k]]:Cat.indptr[order[k] + 1]]
        if (count[rows] >= 2).all():
            count[rows] -= 1
            keep[k] = False
    d = int(np.diff(Cat.indptr).max())
    harmonic = float(np.sum(1.0 / np.arange(1, d + 1)))
    bound = max(math.ceil(R / d), math.ceil(len(order) / harmonic - 1e-9))
    return order[keep], float(bound)


def greedy_lscp(cover, weights=None, fixed=None) -> Solution:
    """Greedy set cover (most uncovered cells first), with redundant sites removed afterwards.

    Used as the LSCP warm start and fallback. Rows no candidate covers are listed and left out;
    with ``weights`` given, rows of weight 0 need no cover. The bound is a cheap valid lower bound.
    """
    t0 = time.perf_counter()
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, _, _ = reduce_cover(C, w, fixed, free)
    sel, bound = _greedy_cover_all(Ca, Ca.T.tocsr())
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    summary = f"every reachable cell covered with {_sites_text(len(sel), len(fixed))}"
    return _result("LSCP", t0, np.concatenate([free[sel], fixed]), len(sel), bound, HEURISTIC, C.shape[0],
                   Ca.shape[0], unc, float(w[unc].sum()), summary, weighted=weights is not None)


def coverage_curve(cover, weights, fixed=None, p_max: int | None = None) -> np.ndarray:
    """Covered weight with 0, 1, …, p_max new sites, in greedy order (cheap; for a plot).

    Entry 0 is what the fixed sites cover. By default the curve runs until every coverable cell is
    covered (the greedy covering count, at least the LSCP optimum); past the point where nothing more
    can be covered (or past the number of free candidates) the last value repeats.
    """
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, wa, base = reduce_cover(C, w, fixed, free)
    steps = len(free) if p_max is None else min(int(p_max), len(free))
    if p_max is not None and p_max < 0:
        raise ValueError("p_max must not be negative.")
    _, values, _ = _greedy_steps(Ca, Ca.T.tocsr(), wa, np.zeros(Ca.shape[0], bool), steps)
    values = values + base
    if p_max is not None and len(values) < p_max + 1:
        values = np.concatenate([values, np.full(p_max + 1 - len(values), values[-1])])
    return values


def ambulances_needed(population_served, per_10k: float) -> np.ndarray:
    """Ambulances for a population at ``per_10k`` vehicles per 10,000 people: ceil(pop/10,000 × ratio)."""
    pop = np.asarray(population_served, dtype=float)
    if per_10k < 0 or (pop < 0).any() or not np.all(np.isfinite(pop)):
        raise ValueError("population and the per-10,000 ratio must be finite and not negative.")
    return np.ceil(np.round(pop / 10_000.0 * float(per_10k), 9)).astype(np.int64)

