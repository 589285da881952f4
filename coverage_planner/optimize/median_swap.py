"""Vertex-substitution local search for the p-median problem (Teitz & Bart 1968), on sparse costs.

Each round evaluates every swap (close open site s, open candidate j) at once, with the
decomposition of Whitaker (1983) and Resende & Werneck (2003): with d1/d2 the costs of a row's
nearest and second-nearest open sites and n1 the nearest one,

    saving(s, j) = gain(j) − loss(s) + extra(s, j)
    gain(j)      = Σ_i w_i max(0, d1_i − c_ij)                  (open j, close nothing)
    loss(s)      = Σ_{n1(i)=s} w_i (d2_i − d1_i)                 (close s, open nothing)
    extra(s, j)  = Σ_{n1(i)=s, c_ij<d2_i} w_i (d2_i − max(c_ij, d1_i))

Rows that s alone reaches (no second open site) stay served only when j reaches them; swaps that
would leave such a row without an allowed site are not made. Every term is a scatter over the
stored pairs, so a round costs O(pairs) numpy work plus an (open sites × candidates) array.
"""

from __future__ import annotations

import math
import time

import numpy as np
import scipy.sparse as sp


def _two_nearest(M: sp.csr_matrix, rows_e: np.ndarray, is_open: np.ndarray):
    """Per row: nearest open column, its cost and the second-nearest open cost (inf when none)."""
    R = M.shape[0]
    ok = is_open[M.indices]
    r, c, d = rows_e[ok], M.indices[ok], M.data[ok]
    order = np.lexsort((c, d, r))   # by row, then cost, then column (deterministic ties)
    r, c, d = r[order], c[order], d[order]
    first = np.r_[True, r[1:] != r[:-1]]
    n1, d1, d2 = np.full(R, -1, np.int64), np.full(R, math.inf), np.full(R, math.inf)
    n1[r[first]], d1[r[first]] = c[first], d[first]
    second = np.r_[False, first[:-1]] & ~first
    d2[r[second]] = d[second]
    return n1, d1, d2


def _savings(M, rows_e, w, is_open, swappable):
    """Saving of every swap (row: a swappable open site, column: a closed candidate); -inf where the
    swap is not allowed or would leave a row without an allowed open site."""
    m = M.shape[1]
    n1, d1, d2 = _two_nearest(M, rows_e, is_open)
    out_cols = np.flatnonzero(swappable)
    slot = np.full(m, -1, np.int64)
    slot[out_cols] = np.arange(len(out_cols))
    K = len(out_cols)
    c_e, j_e, w_e = M.data, M.indices, w[rows_e]
    d1_e, d2_e, s_e = d1[rows_e], d2[rows_e], slot[n1[rows_e]]
    gain = np.bincount(j_e, weights=w_e * np.maximum(0.0, d1_e - c_e), minlength=m)
    single = ~np.isfinite(d2)          # rows only their nearest open site reaches
    owner = slot[n1]
    mine = owner >= 0
    finite = mine & ~single
    loss = np.bincount(owner[finite], weights=(w * (d2 - d1))[finite], minlength=K)
    a = (s_e >= 0) & np.isfinite(d2_e) & (c_e < d2_e)
    b = (s_e >= 0) & ~np.isfinite(d2_e)
    extra = _scatter(s_e[a], j_e[a], w_e[a] * (d2_e[a] - np.maximum(c_e[a], d1_e[a])), K, m)
    extra += _scatter(s_e[b], j_e[b], -w_e[b] * np.maximum(0.0, c_e[b] - d1_e[b]), K, m)
    reached = _scatter(s_e[b], j_e[b], None, K, m)
    alone = np.bincount(owner[mine & single], minlength=K)
    saving = gain[None, :] - loss[:, None] + extra
    saving[reached < alone[:, None]] = -math.inf
    saving[:, is_open] = -math.inf
    return saving, out_cols


def _scatter(r: np.ndarray, c: np.ndarray, values, K: int, m: int) -> np.ndarray:
    """Dense K × m sums of ``values`` (or counts) at (r, c)."""
    out = np.bincount(r * m + c, weights=values, minlength=K * m).reshape(K, m)
    return out if values is None else out.astype(float)


def swap_search(M: sp.csr_matrix, w: np.ndarray, is_open: np.ndarray, fixed_mask: np.ndarray,
                allowed: np.ndarray | None = None, deadline: float = math.inf,
                max_rounds: int = 200) -> np.ndarray:
    """Best-improvement single swaps from the open mask ``is_open`` until none saves anything.

    Parameters
    ----------
    M : scipy.sparse.csr_matrix
        Rows × columns costs; stored entries (explicit zeros included) are the allowed pairs.
    w : numpy.ndarray
        Row weights.
    is_open : numpy.ndarray
        Boolean mask of a feasible open set (every row with a weight has an open allowed column).
    fixed_mask : numpy.ndarray
        Columns that stay open (never swapped out).
    allowed : numpy.ndarray, optional
        Columns that may be opened (default: all).
    deadline : float
        ``time.perf_counter()`` value to stop at.
    max_rounds : int
        Most swaps.

    Returns
    -------
    numpy.ndarray
        The improved open mask (never costlier than ``is_open``).
    """
    is_open = is_open.copy()
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    closed_ok = np.ones(M.shape[1], bool) if allowed is None else allowed.copy()
    near = _nearest(M, is_open)
    tol = 1e-9 * max(1.0, float(np.dot(w, np.where(np.isfinite(near), near, 0.0))))
    for _ in range(max_rounds):
        if time.perf_counter() > deadline:
            break
        saving, out_cols = _savings(M, rows_e, w, is_open, is_open & ~fixed_mask)
        if saving.size == 0:
            break
        saving[:, ~closed_ok] = -math.inf
        k, j = np.unravel_index(int(np.argmax(saving)), saving.shape)
        if not saving[k, j] > tol:
            break
        is_open[out_cols[k]], is_open[j] = False, True
    return is_open


def _nearest(M: sp.csr_matrix, is_open: np.ndarray) -> np.ndarray:
    out = np.full(M.shape[0], math.inf)
    data = np.where(is_open[M.indices], M.data, math.inf)
    nonempty = np.diff(M.indptr) > 0
    if M.nnz:
        out[nonempty] = np.minimum.reduceat(data, M.indptr[:-1][nonempty])
    return out
