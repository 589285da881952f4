"""Input normalising and small sparse helpers shared by the location models.

Rows are demand (population cells), columns candidate sites; see :mod:`coverage_planner.optimize`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .errors import BadP


def _check_shape(shape: tuple[int, int]) -> None:
    if shape[0] == 0:
        raise ValueError("there are no demand cells (the matrix has 0 rows).")
    if shape[1] == 0:
        raise ValueError("there are no candidate sites (the matrix has 0 columns).")


def as_cover(cover) -> sp.csr_matrix:
    """Boolean CSR matrix with sorted indices, no duplicates and no stored False entries."""
    if sp.issparse(cover):
        mat = sp.csr_matrix(cover).astype(bool)
    else:
        arr = np.asarray(cover)
        if arr.ndim != 2:
            raise ValueError("the covering matrix must be 2-dimensional (cells × candidates).")
        mat = sp.csr_matrix(arr != 0)
    _check_shape(mat.shape)
    mat.eliminate_zeros()
    mat.sum_duplicates()
    mat.sort_indices()
    return mat


def as_cost(cost) -> sp.csr_matrix:
    """Float CSR matrix of allowed pairs (explicit zeros kept; the cheapest of duplicate pairs)."""
    if sp.issparse(cost) and cost.format == "csr" and cost.has_canonical_format:   # no sort needed
        _check_shape(cost.shape)
        data = np.asarray(cost.data, dtype=float)
        if np.isfinite(data).all():
            if (data < 0).any():
                raise ValueError("travel costs must not be negative.")
            return sp.csr_matrix((data + 0.0, cost.indices.astype(np.int32), cost.indptr.copy()), shape=cost.shape)
    if sp.issparse(cost):
        coo = sp.coo_matrix(cost)
        rows, cols, vals = coo.row, coo.col, coo.data.astype(float)
    else:
        arr = np.asarray(cost, dtype=float)
        if arr.ndim != 2:
            raise ValueError("the cost matrix must be 2-dimensional (cells × candidates).")
        rows, cols = np.nonzero(np.isfinite(arr))
        vals = arr[rows, cols]
    shape = cost.shape
    _check_shape(shape)
    ok = np.isfinite(vals)
    rows, cols, vals = rows[ok], cols[ok], vals[ok] + 0.0  # + 0.0 turns -0.0 into 0.0
    if (vals < 0).any():
        raise ValueError("travel costs must not be negative.")
    order = np.lexsort((vals, cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    first = np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])]
    rows, cols, vals = rows[first], cols[first], vals[first]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return sp.csr_matrix((vals, cols.astype(np.int32), indptr), shape=shape)


def _as_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float).ravel()
    if len(w) != n:
        raise ValueError(f"weights has {len(w)} values but there are {n} demand cells.")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("weights (population) must be finite and not negative.")
    return w


def _as_fixed(fixed, n_cols: int) -> np.ndarray:
    if fixed is None:
        return np.zeros(0, dtype=np.int64)
    arr = np.asarray(fixed).ravel()
    if arr.dtype == bool:
        if len(arr) != n_cols:
            raise ValueError("a boolean `fixed` mask must have one value per candidate.")
        return np.flatnonzero(arr)
    out = np.unique(arr.astype(np.int64))
    if len(out) and (out[0] < 0 or out[-1] >= n_cols):
        raise ValueError(f"fixed site indices must lie in 0..{n_cols - 1}.")
    return out


def _check_p(p, n_free: int, what: str = "new sites", model: str = "model") -> int:
    if isinstance(p, (bool, np.bool_)) or not float(p).is_integer():
        raise BadP(model, f"p must be a whole number (got {p!r}).", p)
    p = int(p)
    if p <= 0:
        raise BadP(model, f"p (the number of {what}) must be at least 1 (got {p}).", p)
    if p > n_free:
        raise BadP(model, f"p={p} {what} requested but only {n_free} free candidate sites "
                   f"(not already fixed) can take them.", p, n_free)
    return p


def _indicator(idx: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    out[idx] = 1.0
    return out


def _gather(indptr: np.ndarray, indices: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column indices of the given CSR rows, concatenated, and which of ``rows`` each came from."""
    rows = np.asarray(rows, dtype=np.int64)
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    owner = np.repeat(np.arange(len(rows)), lengths)
    pos = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return indices[np.repeat(starts, lengths) + pos], owner


def _top_sum(values: np.ndarray, k: int) -> float:
    """Sum of the k largest positive finite values."""
    v = values[np.isfinite(values) & (values > 0)]
    if len(v) <= k:
        return float(v.sum())
    return float(np.partition(v, len(v) - k)[len(v) - k:].sum())


def covered_weight(C: sp.csr_matrix, w: np.ndarray, open_cols: np.ndarray) -> float:
    return float(w[(C @ _indicator(open_cols, C.shape[1])) > 0].sum())


def _value(Ca, wa, sel) -> float:
    return float(wa[(Ca @ _indicator(sel, Ca.shape[1])) > 0].sum())


def _keep_columns(M: sp.csr_matrix, allowed: np.ndarray) -> sp.csr_matrix:
    """The stored entries (explicit zeros included) whose column is allowed."""
    ok = allowed[M.indices]
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))[ok]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_e, minlength=M.shape[0]))])
    return sp.csr_matrix((M.data[ok], M.indices[ok], indptr), shape=M.shape)


def _within(M: sp.csr_matrix, radius: float) -> sp.csr_matrix:
    """Boolean structure of the pairs with cost ≤ radius."""
    ok = M.data <= radius
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_e[ok], minlength=M.shape[0]))])
    return sp.csr_matrix((np.ones(int(ok.sum()), bool), M.indices[ok], indptr), shape=M.shape)

