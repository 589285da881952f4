"""A Lagrangian bound and column fixing for the p-median problem, on sparse cost matrices.

Relaxing "every row is assigned once" with multipliers λ gives (Beasley 1993)

    L(λ) = Σ_i λ_i + Σ_{j open} ρ_j,   ρ_j = Σ_i min(0, w_i c_ij − λ_i),

minimised by opening the fixed columns and the p free columns of smallest ρ. Every L(λ) is a proven
lower bound on the optimum; the open sets met on the way are feasible solutions. A free column whose
opening would lift the bound above the best solution known cannot be in a better one and is dropped,
which shrinks the exact model to a size HiGHS solves in little memory. All steps are O(pairs) numpy
operations; nothing is dense.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class Lagrange:
    """The best bound found and the solution behind the best upper bound.

    ``bound``: the best L(λ); ``rho``: the column values ρ_j at that λ; ``open_cols``: the best
    feasible open set met (fixed columns included); ``cost``: its weighted cost.
    """

    bound: float
    rho: np.ndarray
    open_cols: np.ndarray
    cost: float


def row_min_cost(M: sp.csr_matrix, is_open: np.ndarray) -> np.ndarray:
    """Per row, the cheapest stored cost to an open column (inf where there is none).

    Parameters
    ----------
    M : scipy.sparse.csr_matrix
        Rows × columns costs; stored entries (explicit zeros included) are the allowed pairs.
    is_open : numpy.ndarray
        Boolean mask of the open columns.
    """
    out = np.full(M.shape[0], math.inf)
    if M.nnz == 0:
        return out
    data = np.where(is_open[M.indices], M.data, math.inf)
    nonempty = np.diff(M.indptr) > 0
    out[nonempty] = np.minimum.reduceat(data, M.indptr[:-1][nonempty])
    return out


def assignment_cost(M: sp.csr_matrix, w: np.ndarray, is_open: np.ndarray) -> float:
    """Σ_i w_i × (cheapest open cost of row i); inf when a row has no open column."""
    best = row_min_cost(M, is_open)
    return float(np.dot(w, best)) if np.isfinite(best).all() else math.inf


def _open_set(rho: np.ndarray, fixed_mask: np.ndarray, p: int) -> np.ndarray:
    """Fixed columns plus the p free columns of smallest ρ (ties by index), as a mask."""
    free = np.flatnonzero(~fixed_mask)
    pick = free[np.lexsort((free, rho[free]))[:p]]
    mask = fixed_mask.copy()
    mask[pick] = True
    return mask


def subgradient(M: sp.csr_matrix, w: np.ndarray, fixed_mask: np.ndarray, p: int, start: np.ndarray,
                deadline: float, mip_gap: float, max_iter: int = 400) -> Lagrange:
    """Subgradient optimisation of L(λ) from the incumbent ``start`` (a feasible open mask).

    Parameters
    ----------
    M, w : csr_matrix, numpy.ndarray
        Costs of the allowed pairs (every row has at least one) and row weights.
    fixed_mask : numpy.ndarray
        Columns that are always open.
    p : int
        New columns to open.
    start : numpy.ndarray
        A feasible open mask (its cost is the first upper bound).
    deadline : float
        ``time.perf_counter()`` value to stop at.
    mip_gap : float
        Stop once (upper − bound) ≤ mip_gap × upper.
    max_iter : int
        Most iterations.
    """
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    wc = w[rows_e] * M.data
    best_open, ub = start.copy(), assignment_cost(M, w, start)
    lam = w * row_min_cost(M, start)
    best = Lagrange(-math.inf, np.zeros(M.shape[1]), best_open, ub)
    theta, stall = 2.0, 0
    for _ in range(max_iter):
        red = wc - lam[rows_e]
        neg = red < 0
        rho = np.bincount(M.indices[neg], weights=red[neg], minlength=M.shape[1])
        is_open = _open_set(rho, fixed_mask, p)
        value = float(lam.sum() + rho[is_open].sum())
        if value > best.bound:
            best.bound, best.rho, stall = value, rho, 0
        else:
            stall += 1
        cost = assignment_cost(M, w, is_open)
        if cost < best.cost:
            best.cost, best.open_cols = cost, is_open
        if best.cost - best.bound <= mip_gap * abs(best.cost) or time.perf_counter() > deadline:
            break
        if stall >= 20:
            theta, stall = theta / 2, 0
            if theta < 1e-4:
                break
        g = 1.0 - np.bincount(rows_e[neg & is_open[M.indices]], minlength=M.shape[0])
        norm = float(np.dot(g, g))
        if norm == 0:   # every row assigned exactly once: the relaxation's answer is optimal
            break
        lam = lam + theta * (best.cost - value) / norm * g
    return best


def fixed_by_bound(lag: Lagrange, fixed_mask: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Free columns that no solution cheaper than ``lag.cost`` can open, or can close.

    Opening a column outside the bound's open set lifts the bound by at least ρ_j − ρ_(p) (it takes
    the place of the p-th column); closing one inside lifts it by ρ_(p+1) − ρ_j. When that pushes the
    bound above the best cost known, the column is closed (or opened) in every cheaper solution.

    Returns
    -------
    closed, forced_open : numpy.ndarray
        Boolean masks over the columns.
    """
    closed = np.zeros(len(fixed_mask), bool)
    forced = np.zeros(len(fixed_mask), bool)
    if not np.isfinite(lag.bound):
        return closed, forced
    free = np.flatnonzero(~fixed_mask)
    order = free[np.lexsort((free, lag.rho[free]))]
    inside, outside = order[:p], order[p:]
    limit = lag.cost + 1e-9 * max(1.0, abs(lag.cost))
    if len(outside):
        closed[outside] = lag.bound + lag.rho[outside] - lag.rho[inside[-1]] > limit
        forced[inside] = lag.bound - lag.rho[inside] + lag.rho[outside[0]] > limit
    return closed, forced
