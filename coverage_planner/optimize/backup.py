"""Fleet models: maximum expected covering (MEXCLP) and double-standard backup coverage."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse as sp

from .errors import BadP, InfeasibleModel, SolverTimeLimit
from .grouping import group_rows
from .highs import solve_mip
from .solution import OPTIMAL, Solution, _proven, _result, _sites_text, _time_left
from .sparse import _as_fixed, _as_weights, _indicator, as_cover


def _capacity(max_per_site, n_cols: int, lower: np.ndarray, total: int) -> np.ndarray:
    cap = np.full(n_cols, float(total)) if max_per_site is None else np.broadcast_to(
        np.asarray(max_per_site, dtype=float), (n_cols,)).copy()
    if (cap < lower).any() or (cap < 0).any():
        raise ValueError("max_per_site must allow at least the existing ambulance at each fixed site.")
    return cap


def _prep_fleet(cover, weights, p, fixed, max_per_site, what="new ambulances", model="MEXCLP"):
    C = as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    lower = _indicator(fixed, C.shape[1])
    if isinstance(p, (bool, np.bool_)) or not float(p).is_integer() or int(p) <= 0:
        raise BadP(model, f"p (the number of {what}) must be a whole number of at least 1 (got {p!r}).", p)
    p = int(p)
    cap = _capacity(max_per_site, C.shape[1], lower, p + len(fixed))
    room = int(np.floor(cap - lower).sum())
    if p > room:
        raise BadP(model, f"p={p} {what} requested but the candidate sites have room for only {room} more "
                   "(max_per_site).", p, room)
    return C, w, fixed, lower, cap, p


def _mexclp_greedy(Ca, Cat, wa, q, lower, cap, p) -> np.ndarray:
    """Add ambulances one at a time where the expected coverage rises most."""
    counts = lower.copy()
    k = Ca @ counts
    for _ in range(p):
        gains = (1 - q) * (Cat @ (wa * q ** k))
        gains[counts >= cap] = -1.0
        j = int(np.argmax(gains))
        counts[j] += 1
        k[Cat.indices[Cat.indptr[j]:Cat.indptr[j + 1]]] += 1
    return counts


def mexclp(cover, weights, p: int, busy_fraction: float, fixed=None, max_per_site=None,
           time_limit: float = 60, mip_gap: float = 1e-6) -> Solution:
    """Maximum expected covering (Daskin 1983): place p NEW ambulances, several may share a site.

    A row covered by k ambulances counts w·(1 - q^k), q = ``busy_fraction``. Each fixed site holds
    one existing ambulance (kept; new ones may join it). ``max_per_site`` (scalar or per site)
    caps ambulances per site, existing included; default: no cap. Model: integer x_j ambulances,
    y_ik ∈ [0,1] for k = 1..K_i with Σ_k y_ik ≤ Σ_j a_ij x_j, max Σ w_i (1-q) q^(k-1) y_ik.
    ``objective``: expected covered weight; ``counts``: ambulances per selected site.
    """
    t0 = time.perf_counter()
    q = float(busy_fraction)
    if not 0 <= q < 1:
        raise ValueError("busy_fraction must be at least 0 and below 1.")
    C, w, fixed, lower, cap, p = _prep_fleet(cover, weights, p, fixed, max_per_site)
    m, total = C.shape[1], p + len(fixed)
    keep = (np.diff(C.indptr) > 0) & (w > 0)
    Ck = C[keep]
    rep, inverse = group_rows(Ck)
    Ca, wa = Ck[rep], np.bincount(inverse, weights=w[keep], minlength=len(rep))
    Cat = Ca.T.tocsr()
    R = Ca.shape[0]
    # Levels k of row i that can be filled: below min(total, ambulances that can reach it); with q = 0
    # only the first counts. The existing ambulances fill the first k0 levels whatever is added (the
    # level values (1-q)q^k fall with k, so an optimum fills the lowest levels first), and the p new
    # ones at most p more: only levels k0 .. k0+p-1 get variables, the first k0 are a constant
    # (Σ_{k<k0} (1-q)q^k = 1 - q^k0 per person, the objective's offset); same optimum and bound.
    levels = np.minimum(total, np.rint(Ca @ cap)).astype(np.int64) if q > 0 else np.ones(R, np.int64)
    levels = np.minimum(levels, np.rint(Ca @ lower).astype(np.int64) + p)
    filled = np.minimum(np.rint(Ca @ lower).astype(np.int64), levels)
    span = levels - filled
    live = np.flatnonzero(span > 0)
    row_y = np.repeat(np.arange(len(live)), span[live])
    k_y = filled[live][row_y] + np.arange(len(row_y)) - np.repeat(np.cumsum(span[live]) - span[live], span[live])
    Y, L = len(row_y), len(live)
    A = sp.vstack([sp.hstack([-Ca[live].astype(float), sp.csr_matrix((np.ones(Y), (row_y, np.arange(Y))), shape=(L, Y))]),
                   sp.hstack([np.ones((1, m)), sp.csr_matrix((1, Y))])], format="csc")
    start = _mexclp_greedy(Ca, Cat, wa, q, lower, cap, p)
    y0 = (k_y < (Ca[live] @ start)[row_y]).astype(float)
    mip = solve_mip(A, np.concatenate([np.zeros(m), wa[live][row_y] * (1 - q) * q ** k_y]),
                     np.concatenate([lower, np.zeros(Y)]), np.concatenate([cap, np.ones(Y)]),
                     np.r_[np.full(L, -math.inf), total], np.r_[-filled[live].astype(float), total],
                     np.r_[np.ones(m, bool), np.zeros(Y, bool)], True, _time_left(t0, time_limit), mip_gap,
                     start=np.concatenate([start, y0]), offset=float(np.sum(wa * (1 - q ** filled))))
    counts = np.rint(mip.x[:m]) if mip.x is not None else start
    obj = float(np.sum(w * (1 - q ** (C @ counts))))
    start_obj = float(np.sum(w * (1 - q ** (C @ start))))
    if start_obj > obj:
        counts, obj = start, start_obj
    chosen = np.flatnonzero(counts > 0)
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    total_w = float(w.sum())
    summary = (f"{p} new ambulance{'s' if p != 1 else ''} ({int(counts.sum())} in all at {len(chosen)} sites); "
               f"expected coverage {obj:,.0f} of {total_w:,.0f} people ({obj / total_w if total_w else 0:.1%}) "
               f"with busy fraction {q:.2f}")
    ceiling = float(np.sum(wa * (1 - q ** levels)))   # every row covered by all the ambulances it can see
    bound = obj if mip.status == OPTIMAL else max(obj, _proven(mip.bound, ceiling))
    return _result("MEXCLP", t0, chosen, obj, bound, mip.status,
                   C.shape[0], R, unc, float(w[unc].sum()), summary, counts=counts[chosen].astype(np.int64))


def _dsm_greedy(S, L, D, w, lower, cap, total, alpha) -> np.ndarray | None:
    """Warm start for the backup model: cover every row loosely, then strictly up to alpha, then add
    where most weight becomes doubly covered. None if that takes more than ``total`` ambulances."""
    counts = lower.copy()
    St, Lt, Dt = S.T.tocsr(), L.T.tocsr(), D.T.tocsr()
    target = alpha * float(w.sum()) * (1 - 1e-12)

    def pick(gains):
        gains[counts >= cap] = -math.inf
        j = int(np.argmax(gains))
        if not gains[j] > 0 or counts.sum() >= total:
            return False
        counts[j] += 1
        return True

    while ((L @ counts) < 0.5).any():
        if not pick(Lt @ ((L @ counts) < 0.5).astype(float)):
            return None
    while float(w[(S @ counts) > 0.5].sum()) < target:
        if not pick(St @ (w * ((S @ counts) < 0.5))):
            return None
    while counts.sum() < total:
        d = D @ counts
        if not pick(Dt @ (w * (np.abs(d - 1) < 0.5)) + 0.5 * (Dt @ (w * (d < 0.5))) + 1e-9):
            break
    return counts if counts.sum() == total else None


@dataclass
class _DsmModel:
    """The backup-coverage MIP with the columns whose count is settled (``lower == cap``: a fixed site
    at its cap) folded into constants; ``free`` are the remaining columns, first in ``A``."""

    A: sp.csc_matrix
    cost: np.ndarray
    col_lo: np.ndarray
    col_hi: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    integer: np.ndarray
    offset: float
    free: np.ndarray
    S: sp.csr_matrix      # strict cover of the u rows, free columns
    D: sp.csr_matrix      # double cover of the v rows, free columns
    d0: np.ndarray        # settled ambulances double-covering each v row

    def start(self, counts: np.ndarray) -> np.ndarray:
        """The model's start vector for ambulance ``counts`` per column (all columns)."""
        x = counts[self.free]
        return np.concatenate([x, np.minimum(1.0, self.S @ x), ((self.d0 + self.D @ x) >= 2).astype(float)])


def _dsm_reduced(Sa, La, Da, wa, lower, cap, total: int, alpha: float) -> _DsmModel:
    """The backup-coverage MIP on the rows and columns still open to choice; the same optimum.

    A column with ``lower == cap`` (a fixed site that may hold no more ambulances: ``max_per_site``
    = 1, the default) has a settled count x⁰_j. For each row, with s⁰, l⁰, d⁰ the settled ambulances
    that cover it strictly, loosely and for the double cover:

    * l⁰ ≥ 1: the loose-cover constraint holds whatever the free columns do, and is left out;
    * s⁰ ≥ 1: u_i = 1 is optimal (u_i only appears in the alpha constraint, with a positive weight),
      so its weight moves to the constant side of the alpha constraint;
    * d⁰ ≥ 2: v_i = 1 is feasible for every choice, so its weight is a constant of the objective
      (``offset``); a row whose free double cover cannot reach 2 keeps v_i = 0 and is left out;
    * otherwise the row keeps its variable, with the settled part on the right-hand side
      (2 v_i − D_free x ≤ d⁰).

    Every feasible choice of the free columns has the same objective in both models (the dropped
    variables take their best values), so the optimum, the set of optimal choices and the proven
    bound (plus ``offset``) are those of the full model. Rows with the same free pattern (and d⁰) are
    merged, their weights added: identical rows take the same best values.
    """
    settled = lower >= cap
    free = np.flatnonzero(~settled)
    x_set = np.where(settled, lower, 0.0)
    s0, l0, d0 = Sa @ x_set, La @ x_set, Da @ x_set
    SF, LF, DF = Sa[:, free], La[:, free], Da[:, free]
    n = len(free)
    # loose cover still to be met: one row per distinct free pattern
    need_l = l0 < 1 - 1e-9
    Lr = LF[need_l]
    rep, _ = group_rows(Lr) if Lr.shape[0] else (np.zeros(0, np.int64), None)
    Lr = Lr[rep]
    # strict cover: u for rows no settled column covers strictly
    need_u = (s0 < 1 - 1e-9) & (np.diff(SF.indptr) > 0)
    settled_u = float(wa[s0 >= 1 - 1e-9].sum())
    Su = SF[need_u]
    if Su.shape[0]:
        rep, inv = group_rows(Su)
        Su, wu = Su[rep], np.bincount(inv, weights=wa[need_u], minlength=len(rep))
    else:
        wu = np.zeros(0)
    # double cover: v for rows the settled columns do not double-cover but the free ones can
    done_v = d0 >= 2 - 1e-9
    need_v = ~done_v & (d0 + DF @ cap[free] >= 2 - 1e-9)
    Dv = sp.hstack([DF[need_v], sp.csr_matrix(np.minimum(d0[need_v], 2.0)[:, None])], format="csr")
    if Dv.shape[0]:
        rep, inv = group_rows(Dv, with_values=True)
        Dv, wv = Dv[rep], np.bincount(inv, weights=wa[need_v], minlength=len(rep))
    else:
        wv = np.zeros(0)
    dv0 = Dv[:, n].toarray().ravel()
    Dv = Dv[:, :n].tocsr()
    U, V = Su.shape[0], Dv.shape[0]
    W = float(wa.sum())
    A = sp.vstack([
        sp.hstack([Lr, sp.csr_matrix((Lr.shape[0], U + V))]),
        sp.hstack([-Su, sp.identity(U, format="csr"), sp.csr_matrix((U, V))]),
        sp.hstack([-Dv, sp.csr_matrix((V, U)), 2 * sp.identity(V, format="csr")]),
        sp.hstack([sp.csr_matrix((1, n)), wu[None, :], sp.csr_matrix((1, V))]),
        sp.hstack([np.ones((1, n)), sp.csr_matrix((1, U + V))]),
    ], format="csc")
    k_free = total - float(x_set.sum())
    return _DsmModel(
        A=A, cost=np.concatenate([np.zeros(n + U), wv]), col_lo=np.concatenate([lower[free], np.zeros(U + V)]),
        col_hi=np.concatenate([cap[free], np.ones(U + V)]),
        row_lo=np.r_[np.ones(Lr.shape[0]), np.full(U + V, -math.inf), alpha * W * (1 - 1e-9) - settled_u, k_free],
        row_hi=np.r_[np.full(Lr.shape[0], math.inf), np.zeros(U), dv0, math.inf, k_free],
        integer=np.r_[np.ones(n, bool), np.zeros(U, bool), np.ones(V, bool)],
        offset=float(wa[done_v].sum()), free=free, S=Su, D=Dv, d0=dv0)


def backup_coverage(cover, cover_loose, weights, p: int, alpha: float = 0.95, fixed=None,
                    max_per_site=1, double_within: str = "loose", time_limit: float = 60,
                    mip_gap: float = 1e-6) -> Solution:
    """Double-standard backup coverage, after Gendreau, Laporte & Semet (1997), simplified.

    ``cover`` is the strict standard r1, ``cover_loose`` the loose standard r2 (pairs within r1 count
    as within r2 as well). With x_j ambulances at site j (fixed sites hold one existing ambulance;
    ``p`` new ones are added; at most ``max_per_site`` per site, default 1 so p counts new sites),
    u_i ∈ [0,1] "covered within r1" and v_i ∈ {0,1} "covered twice":

        max  Σ_i w_i v_i
        s.t. Σ_j L_ij x_j ≥ 1            every coverable row within the loose standard
             u_i ≤ Σ_j S_ij x_j           strict cover
             Σ_i w_i u_i ≥ alpha Σ_i w_i  share alpha of the (coverable) weight within r1
             2 v_i ≤ Σ_j D_ij x_j         double cover, D = L (default) or S (double_within="strict",
                                          as in the original DSM)
             Σ_j x_j = p + |fixed|,  x_j integer in [fixed_j, max_per_site]

    Rows with no candidate within r2 are uncoverable (reported, excluded; status "partial").
    ``objective`` is the weight covered twice. Raises ValueError if p is too small for the
    constraints.
    """
    t0 = time.perf_counter()
    if double_within not in ("loose", "strict"):
        raise ValueError("double_within must be 'loose' or 'strict'.")
    if not 0 <= alpha <= 1:
        raise ValueError("alpha must lie between 0 and 1.")
    S = as_cover(cover)
    Lraw = as_cover(cover_loose)
    if Lraw.shape != S.shape:
        raise ValueError("cover and cover_loose must have the same shape.")
    L = (Lraw + S).astype(bool)
    C, w, fixed, lower, cap, p = _prep_fleet(L, weights, p, fixed, max_per_site, what="new sites/ambulances",
                                             model="backup")
    m, total = C.shape[1], p + len(fixed)
    unc = np.flatnonzero(np.diff(L.indptr) == 0)
    keep = (np.diff(L.indptr) > 0) & (w > 0)
    both = sp.hstack([S[keep], L[keep]], format="csr")
    rep, inverse = group_rows(both)
    Ba, wa = both[rep], np.bincount(inverse, weights=w[keep], minlength=len(rep))
    Sa, La = Ba[:, :m].astype(float), Ba[:, m:].astype(float)
    Da = La if double_within == "loose" else Sa
    R = len(wa)
    counts0 = _dsm_greedy(Sa, La, Da, wa, lower, cap, total, alpha)
    red = _dsm_reduced(Sa, La, Da, wa, lower, cap, total, alpha)
    x0 = None if counts0 is None else red.start(counts0)
    mip = solve_mip(red.A, red.cost, red.col_lo, red.col_hi, red.row_lo, red.row_hi, red.integer, True,
                    _time_left(t0, time_limit), mip_gap, start=x0, offset=red.offset)
    if mip.x is not None:
        x_full = lower.copy()
        x_full[red.free] = mip.x[:len(red.free)]
        mip = replace(mip, x=x_full)
    if mip.status == "infeasible":
        raise InfeasibleModel("backup", f"backup coverage has no solution with p={p}: covering every reachable cell within the "
                         f"loose standard and {alpha:.0%} of people within the strict standard needs more sites "
                         "(see lscp() on the loose standard), or a lower alpha.")
    if mip.x is None and counts0 is None:
        raise SolverTimeLimit("backup", "backup coverage: no feasible solution found within the time limit.", time_limit)
    counts = np.rint(mip.x[:m]) if mip.x is not None else counts0
    D = L if double_within == "loose" else S
    obj = float(w[keep & ((D @ counts) >= 2)].sum())
    strict = float(w[keep & ((S @ counts) > 0)].sum())
    chosen = np.flatnonzero(counts > 0)
    wk = float(w[keep].sum())
    summary = (f"{_sites_text(p, len(fixed))}; {obj:,.0f} of {wk:,.0f} reachable people covered twice within the "
               f"{double_within} standard ({obj / wk if wk else 0:.1%}), {strict / wk if wk else 0:.1%} within "
               f"the strict one, all within the loose one")
    ceiling = float(wa[(Da @ cap) >= 2 - 1e-9].sum())   # every row that two ambulances can reach
    bound = obj if mip.status == OPTIMAL else max(obj, _proven(mip.bound, ceiling))
    return _result("backup", t0, chosen, obj, bound, mip.status,
                   C.shape[0], R, unc, float(w[unc].sum()), summary, dropped=bool(w[unc].sum() > 0),
                   counts=counts[chosen].astype(np.int64))

