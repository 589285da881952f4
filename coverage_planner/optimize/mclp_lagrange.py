"""MCLP machinery: the MIP, a Lagrangian bound (subgradient and LP duals), column fixing and a kernel MIP."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .grouping import group_rows
from .heuristics import _mclp_heuristic, _swap_rounds
from .highs import solve_mip
from .solution import OPTIMAL, TIME_LIMIT
from .sparse import _gather, _indicator, _top_sum, _value


def mclp_model(Ca, wa, p: int) -> tuple:
    """max Σ w_r y_r  s.t.  y_r ≤ Σ_j a_rj x_j,  Σ x = p,  0 ≤ x, y ≤ 1: the arguments of
    :func:`solve_mip` after ``integer`` (columns x then y)."""
    R, F = Ca.shape
    A = sp.vstack([sp.hstack([-Ca.astype(float), sp.identity(R, format="csr")]),
                   sp.hstack([np.ones((1, F)), sp.csr_matrix((1, R))])], format="csc")
    return (A, np.concatenate([np.zeros(F), wa]), np.zeros(F + R), np.ones(F + R),
            np.r_[np.full(R, -math.inf), p], np.r_[np.zeros(R), p])


def mclp_exact(Ca, wa, p: int, start: np.ndarray, time_limit: float, mip_gap: float, offset: float,
                proof_only: bool = False):
    """The MCLP as a MIP (x binary), started from the sites ``start``. Returns (sites, status, bound)."""
    R, F = Ca.shape
    x0 = _indicator(start, F)
    y0 = np.minimum(1.0, Ca @ x0)
    mip = solve_mip(*mclp_model(Ca, wa, p), np.r_[np.ones(F, bool), np.zeros(R, bool)], True, time_limit,
                     mip_gap, start=np.concatenate([x0, y0]), offset=offset, proof_only=proof_only)
    sel = np.flatnonzero(mip.x[:F] > 0.5) if mip.x is not None else start
    return sel, mip.status, mip.bound


def _lagrangian_bound(Cat, wa, mu, p: int) -> float:
    """L(μ) = Σ (w − μ) + (sum of the p largest Aᵀμ), an upper bound on MCLP for any 0 ≤ μ ≤ w."""
    return float(wa.sum() - mu.sum()) + _top_sum(Cat @ mu, p)


def lp_multipliers(Ca, Cat, wa, p: int, time_limit: float) -> tuple[np.ndarray, float] | None:
    """Multipliers from the LP relaxation's duals (interior point, no crossover), clipped to
    0 ≤ μ ≤ w, and their Lagrangian bound, which is valid whatever the LP's accuracy. These are the
    best multipliers there are (the LP bound), where subgradient steps only approach them."""
    lp = solve_mip(*mclp_model(Ca, wa, p), np.zeros(sum(Ca.shape), bool), True, time_limit, 0.0,
                    interior=True)
    if lp.row_dual is None or lp.status != OPTIMAL:
        return None
    mu = np.clip(np.abs(lp.row_dual[:Ca.shape[0]]), 0.0, wa)
    return mu, _lagrangian_bound(Cat, wa, mu, p)


@dataclass
class MclpLagrange:
    bound: float          # best (lowest) Lagrangian bound
    mu: np.ndarray        # its multipliers
    freq: np.ndarray      # how often each column was among the top p
    sel: np.ndarray       # best top-p set seen, as a solution
    value: float          # its covered weight


def mclp_lagrangian(Ca, Cat, wa, p: int, incumbent: float, deadline: float, tol: float,
                     max_iter: int = 3000, patience: int = 100) -> MclpLagrange:
    """Subgradient optimisation of the Lagrangian bound for MCLP.

    Relaxing y_i ≤ Σ_j a_ij x_j with multipliers 0 ≤ μ_i ≤ w_i leaves
    L(μ) = Σ_i (w_i − μ_i) + (sum of the p largest c_j), c = Aᵀμ: an upper bound on the optimum for
    every μ (μ = 0 gives the total weight), whose minimum equals the LP bound. Starts at μ = w/2;
    Polyak steps towards the best known value, halved after ``patience`` steps without progress.
    Each top-p set is also a solution to try.
    """
    R, F = Ca.shape
    total = float(wa.sum())
    mu = 0.5 * wa
    best, best_mu, stall, theta = total, np.zeros(R), 0, 2.0
    freq, best_sel, best_val = np.zeros(F), np.zeros(0, np.int64), -math.inf
    for _ in range(max_iter):
        if time.perf_counter() > deadline:
            break
        c = Cat @ mu
        top = np.argpartition(c, F - p)[F - p:]
        L = total - float(mu.sum()) + float(c[top].sum())
        count = np.bincount(_gather(Cat.indptr, Cat.indices, top)[0], minlength=R)
        value = float(wa[count > 0].sum())
        freq[top] += 1
        if value > best_val:
            best_sel, best_val = top.copy(), value
        target = max(incumbent, best_val)
        if L < best - 1e-12 * total:
            best, best_mu, stall = L, mu, 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall, mu = theta / 2, 0, best_mu
                if theta < 1e-4:
                    break
                continue
        if best - target <= tol:
            break
        g = count - 1.0
        g[((mu <= 0) & (g > 0)) | ((mu >= wa) & (g < 0))] = 0.0
        norm = float(g @ g)
        if norm == 0:
            break
        mu = np.clip(mu - theta * (L - target) / norm * g, 0.0, wa)
    return MclpLagrange(best, best_mu, freq, best_sel, best_val)


def lagrangian_fixing(Cat, wa, mu, p: int, incumbent: float, tol: float):
    """Columns that cannot be in (fix0) or out of (fix1) any solution better than the incumbent:
    the Lagrangian bound with x_j forced to 1 (resp. 0) is already below it."""
    c = Cat @ mu
    F = len(c)
    order = np.argsort(-c, kind="stable")
    top = np.zeros(F, bool)
    top[order[:p]] = True
    L = float(wa.sum() - mu.sum() + c[order[:p]].sum())
    with_j = np.where(top, L, L + c - c[order[p - 1]])
    without_j = np.where(top, L - c + (c[order[p]] if p < F else -math.inf), L)
    return with_j < incumbent - tol, without_j < incumbent - tol


def _kernel_mip(Ca, wa, p: int, sel: np.ndarray, freq: np.ndarray, size: int, time_limit: float,
                mip_gap: float) -> np.ndarray:
    """Best p sites among the incumbent's and the ``size`` columns most often in the Lagrangian
    top-p sets: an exact MIP on that small column set (rows merged again)."""
    cols = np.union1d(sel, np.argsort(-freq, kind="stable")[:size])
    sub = Ca[:, cols]
    rep, inverse = group_rows(sub)
    used = inverse >= 0
    Ck, wk = sub[rep], np.bincount(inverse[used], weights=wa[used], minlength=len(rep))
    local, _, _ = mclp_exact(Ck, wk, p, np.searchsorted(cols, sel), time_limit, mip_gap, 0.0)
    return cols[local]


class _McState:
    """Incumbent and bound of an MCLP solve on a reduced matrix."""

    def __init__(self, Ca, Cat, wa, p, mip_gap, offset):
        self.Ca, self.Cat, self.wa, self.p, self.offset = Ca, Cat, wa, p, offset
        self.sel, self.value, self.bound = _mclp_heuristic(Ca, Cat, wa, p)
        self.tol = lambda: mip_gap * max(1.0, self.value + offset)

    def closed(self) -> bool:
        return self.bound - self.value <= self.tol()

    def offer(self, sel: np.ndarray) -> None:
        """Polish a candidate solution with swaps and keep it if it beats the incumbent."""
        if len(sel) != self.p or _value(self.Ca, self.wa, sel) <= self.value:
            return
        sel, value, bound = _swap_rounds(self.Ca, self.Cat, self.wa, sel, np.zeros(0, np.int64), 100, self.p)
        self.bound = min(self.bound, bound)
        if value > self.value:
            self.sel, self.value = sel, value


def _mclp_fixed_mip(st: _McState, mu: np.ndarray, time_limit: float, mip_gap: float) -> str:
    """Fix columns by the Lagrangian bound, then solve the rest exactly. Returns the MIP status."""
    fix0, fix1 = lagrangian_fixing(st.Cat, st.wa, mu, st.p, st.value, st.tol() * 1e-3)
    ones, free = np.flatnonzero(fix1), np.flatnonzero(~fix0 & ~fix1)
    k = st.p - len(ones)
    if k < 0 or len(free) < k:  # nothing can beat the incumbent
        st.bound = st.value
        return OPTIMAL
    hit = (st.Ca @ _indicator(ones, st.Ca.shape[1])) > 0
    sub = st.Ca[~hit][:, free]
    rep, inverse = group_rows(sub)
    used = inverse >= 0
    Cr, wr = sub[rep], np.bincount(inverse[used], weights=st.wa[~hit][used], minlength=len(rep))
    if k == 0 or Cr.shape[0] == 0 or k == len(free):
        st.offer(np.concatenate([ones, free[:k]]))
        st.bound = st.value
        return OPTIMAL
    inc = np.setdiff1d(st.sel, ones)
    if np.isin(ones, st.sel).all() and not fix0[st.sel].any():
        start = np.searchsorted(free, inc)
    else:
        start = _mclp_heuristic(Cr, Cr.T.tocsr(), wr, k)[0]
    local, status, bound = mclp_exact(Cr, wr, k, start, time_limit, mip_gap, float(st.wa[hit].sum()),
                                       proof_only=True)
    st.offer(np.concatenate([ones, free[local]]))
    if status == OPTIMAL:
        st.bound = st.value
    elif np.isfinite(bound):
        st.bound = min(st.bound, max(st.value, bound))
    return status


def _solve_mclp(Ca, wa, p: int, deadline: float, mip_gap: float, offset: float) -> tuple[np.ndarray, float, float, str]:
    """MCLP on a reduced matrix: greedy + swaps, Lagrangian bound, kernel MIP, fixing, full MIP.
    Returns (columns, covered weight, bound, status)."""
    R, F = Ca.shape
    if R == 0 or p >= F:
        sel = np.arange(min(p, F))
        value = _value(Ca, wa, sel) if R else 0.0
        return sel, value, value, OPTIMAL
    st = _McState(Ca, Ca.T.tocsr(), wa, p, mip_gap, offset)
    if st.closed():
        return st.sel, st.value, st.value, OPTIMAL
    now = time.perf_counter()
    lag = mclp_lagrangian(Ca, st.Cat, wa, p, st.value, now + 0.25 * (deadline - now), st.tol())
    st.bound = min(st.bound, lag.bound)
    st.offer(lag.sel)
    left = deadline - time.perf_counter()
    if not st.closed() and left > 0:
        st.offer(_kernel_mip(Ca, wa, p, st.sel, lag.freq, max(3 * p, 40), min(0.25 * left, 60.0), mip_gap))
    mu, left = lag.mu, deadline - time.perf_counter()
    if not st.closed() and left > 0:
        lp = lp_multipliers(Ca, st.Cat, wa, p, 0.25 * left)
        if lp is not None and lp[1] < lag.bound:
            mu, st.bound = lp[0], min(st.bound, lp[1])
    left = deadline - time.perf_counter()
    if not st.closed() and left > 0:
        _mclp_fixed_mip(st, mu, left, mip_gap)
    status = OPTIMAL if st.closed() else TIME_LIMIT
    return st.sel, st.value, (st.value if status == OPTIMAL else st.bound), status

