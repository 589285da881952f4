"""Fleet models: maximum expected covering (MEXCLP) and double-standard backup coverage."""

from __future__ import annotations

import math
import time

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
    levels = np.minimum(total, np.rint(Ca @ cap)).astype(np.int64) if q > 0 else np.ones(R, np.int64)
    row_y = np.repeat(np.arange(R), levels)
    k_y = np.arange(len(row_y)) - np.repeat(np.cumsum(levels) - levels, levels)  # 0-based level
    Y = len(row_y)
    A = sp.vstack([sp.hstack([-Ca.astype(float), sp.csr_matrix((np.ones(Y), (row_y, np.arange(Y))), shape=(R, Y))]),
                   sp.hstack([np.ones((1, m)), sp.csr_matrix((1, Y))])], format="csc")
    start = _mexclp_greedy(Ca, Cat, wa, q, lower, cap, p)
    y0 = (k_y < (Ca @ start)[row_y]).astype(float)
    mip = solve_mip(A, np.concatenate([np.zeros(m), wa[row_y] * (1 - q) * q ** k_y]),
                     np.concatenate([lower, np.zeros(Y)]), np.concatenate([cap, np.ones(Y)]),
                     np.r_[np.full(R, -math.inf), total], np.r_[np.zeros(R), total],
                     np.r_[np.ones(m, bool), np.zeros(Y, bool)], True, _time_left(t0, time_limit), mip_gap,
                     start=np.concatenate([start, y0]))
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
    I = sp.identity(R, format="csr")
    Z = sp.csr_matrix((R, R))
    A = sp.vstack([
        sp.hstack([La, Z, Z]),
        sp.hstack([-Sa, I, Z]),
        sp.hstack([-Da, Z, 2 * I]),
        sp.hstack([sp.csr_matrix((1, m)), wa[None, :], sp.csr_matrix((1, R))]),
        sp.hstack([np.ones((1, m)), sp.csr_matrix((1, 2 * R))]),
    ], format="csc")
    W = float(wa.sum())
    counts0 = _dsm_greedy(Sa, La, Da, wa, lower, cap, total, alpha)
    x0 = None
    if counts0 is not None:
        x0 = np.concatenate([counts0, np.minimum(1.0, Sa @ counts0), ((Da @ counts0) >= 2).astype(float)])
    mip = solve_mip(A, np.concatenate([np.zeros(m + R), wa]), np.concatenate([lower, np.zeros(2 * R)]),
                     np.concatenate([cap, np.ones(2 * R)]),
                     np.r_[np.ones(R), np.full(2 * R, -math.inf), alpha * W * (1 - 1e-9), total],
                     np.r_[np.full(R, math.inf), np.zeros(2 * R), math.inf, total],
                     np.r_[np.ones(m, bool), np.zeros(R, bool), np.ones(R, bool)], True,
                     _time_left(t0, time_limit), mip_gap, start=x0)
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

