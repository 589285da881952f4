"""Merging demand rows with identical covering sets (exact), and dropping dominated sites."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .sparse import _as_weights, _indicator, as_cover

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def row_hashes(mat: sp.csr_matrix, with_values: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Two order-free 64-bit hashes per row: sums of random keys of its columns (and values)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(2):
        keys = rng.integers(0, np.iinfo(np.uint64).max, size=mat.shape[1], dtype=np.uint64, endpoint=True)
        elem = keys[mat.indices]
        if with_values:
            elem = _mix(elem ^ np.ascontiguousarray(mat.data, dtype=np.float64).view(np.uint64))
        csum = np.concatenate([np.zeros(1, np.uint64), np.cumsum(elem, dtype=np.uint64)])
        out.append(csum[mat.indptr[1:]] - csum[mat.indptr[:-1]])
    return out[0], out[1]


def _rows_equal(mat: sp.csr_matrix, a: np.ndarray, b: np.ndarray, with_values: bool,
                chunk_nnz: int = 4_000_000) -> np.ndarray:
    """For row pairs (a[k], b[k]) of equal length: are their entries identical? In chunks of rows."""
    lengths = np.diff(mat.indptr)[a]
    equal = np.ones(len(a), dtype=bool)
    ends = np.cumsum(lengths)
    start = 0
    while start < len(a):
        stop = int(np.searchsorted(ends, (ends[start - 1] if start else 0) + chunk_nnz, side="right"))
        stop = max(stop, start + 1)
        ln = lengths[start:stop]
        owner = np.repeat(np.arange(stop - start), ln)
        within = np.arange(ln.sum()) - np.repeat(np.cumsum(ln) - ln, ln)
        pa = mat.indptr[a[start:stop]][owner] + within
        pb = mat.indptr[b[start:stop]][owner] + within
        diff = mat.indices[pa] != mat.indices[pb]
        if with_values:
            diff |= mat.data[pa] != mat.data[pb]
        equal[start + owner[diff]] = False
        start = stop
    return equal


def group_rows(mat: sp.csr_matrix, with_values: bool = False, hasher=None) -> tuple[np.ndarray, np.ndarray]:
    """Group identical non-empty rows: (representative row of each group, group of each row or -1).

    Rows are grouped by (length, two 64-bit hashes) and every member is then compared entry by entry
    with its group's representative, so the grouping is exact; members that differ (a hash collision)
    are grouped again with new hash keys. Empty rows get -1 and belong to no group.
    """
    hasher = hasher or row_hashes
    length = np.diff(mat.indptr)
    inverse = np.full(mat.shape[0], -1, dtype=np.int64)
    todo = np.flatnonzero(length > 0)
    reps, n_groups, seed = [], 0, 0
    while len(todo):
        if seed > 8:
            raise RuntimeError("row grouping did not converge (hash collisions).")
        h1, h2 = hasher(mat, with_values, seed)
        order = todo[np.lexsort((h2[todo], h1[todo], length[todo]))]
        k1, k2, kl = h1[order], h2[order], length[order]
        start = np.r_[True, (k1[1:] != k1[:-1]) | (k2[1:] != k2[:-1]) | (kl[1:] != kl[:-1])]
        gid = np.cumsum(start) - 1
        rep = order[start][gid]
        same = _rows_equal(mat, order, rep, with_values)
        inverse[order[same]] = n_groups + gid[same]
        reps.append(order[start])
        n_groups += int(start.sum())
        todo, seed = order[~same], seed + 1
    rep_rows = np.concatenate(reps) if reps else np.zeros(0, dtype=np.int64)
    return rep_rows, inverse


def aggregate_rows(cover, weights) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Merge rows with identical covering sets (exact for covering models).

    Returns ``(cover_unique, weights_unique, inverse)``: ``inverse[i]`` is the merged row of input
    row i, or -1 for rows that no candidate covers; those are kept apart (not in ``cover_unique``)
    so that callers can report them. Vectorised: hashes of each row's column set, then an exact
    entry-by-entry check against the group's representative.
    """
    mat = as_cover(cover)
    w = _as_weights(weights, mat.shape[0])
    rep, inverse = group_rows(mat)
    used = inverse >= 0
    w_unique = np.bincount(inverse[used], weights=w[used], minlength=len(rep))
    return mat[rep], w_unique, inverse


def reduce_cover(C: sp.csr_matrix, w: np.ndarray, fixed: np.ndarray, free: np.ndarray,
                  aggregate: bool = True) -> tuple[sp.csr_matrix, np.ndarray, float]:
    """Rows still to be served: drop rows already covered by fixed sites, empty or weightless rows;
    keep only the free columns; merge identical rows. Returns (matrix, weights, weight of fixed)."""
    length = np.diff(C.indptr)
    hit = (C @ _indicator(fixed, C.shape[1])) > 0 if len(fixed) else np.zeros(C.shape[0], bool)
    keep = ~hit & (length > 0) & (w > 0)
    sub = C if keep.all() else C[keep]
    if len(fixed):
        sub = sub[:, free]
    wk = w[keep]
    if aggregate:
        rep, inverse = group_rows(sub)
        sub, wk = sub[rep], np.bincount(inverse, weights=wk, minlength=len(rep))
    return sub, wk, float(w[hit].sum())


def dominated_columns(Ca: sp.csr_matrix, max_work: float = 2e8) -> np.ndarray:
    """Columns whose covering set lies inside another column's (of equal sets, all but the lowest).

    Such a site is never needed in MCLP or LSCP: the other one does at least as well. Found from the
    column overlap counts AᵀA; nothing is flagged when that product would be too costly.
    """
    F = Ca.shape[1]
    deg = np.diff(Ca.indptr).astype(float)
    if F < 2 or float(deg @ deg) > max_work:
        return np.zeros(F, bool)
    overlap = (Ca.T.astype(np.int32) @ Ca.astype(np.int32)).tocoo()
    size = np.bincount(Ca.indices, minlength=F)
    j, k = overlap.row, overlap.col
    inside = (overlap.data == size[j]) & (j != k)
    j, k = j[inside], k[inside]
    out = size == 0
    out[j[(size[j] < size[k]) | (k < j)]] = True
    return out


def _drop_dominated(Ca: sp.csr_matrix, wa: np.ndarray, min_cols: int):
    """Remove dominated columns (if at least ``min_cols`` remain) and merge rows that became equal.
    Returns (matrix, weights, kept column indices)."""
    dominated = dominated_columns(Ca)
    if not dominated.any() or int((~dominated).sum()) < min_cols:
        return Ca, wa, np.arange(Ca.shape[1])
    cols = np.flatnonzero(~dominated)
    sub = Ca[:, cols]
    rep, inverse = group_rows(sub)
    return sub[rep], np.bincount(inverse, weights=wa, minlength=len(rep)), cols

