"""Location models for station siting, as pure functions on scipy sparse matrices.

Rows are demand (population cells), columns are candidate sites.

* ``cover`` is a 0/1 (or boolean) matrix: a non-zero entry means the candidate covers the cell.
* ``cost`` is a travel-cost matrix: every *stored* entry (explicit zeros included) is an allowed
  pair; absent entries are not allowed (too far). In a dense array, inf/NaN means absent.
* ``weights`` is the population of each row. ``fixed`` are candidates that stay open whatever
  happens (existing stations); ``p`` always counts NEW sites (new ambulances for MEXCLP) on top.

Exact models are solved with HiGHS (highspy), built directly from sparse arrays. Covering models
merge demand rows with identical covering sets and drop dominated sites first (exact), and every MIP
is seeded with a greedy (+ swap) solution. MCLP adds a Lagrangian bound, which also proves optimality
on instances far too large for an LP (1M cells). The proven bound and the relative gap are always
reported; at the time limit the best solution found is returned with status "time_limit", never
silently as if it were optimal.

The time limit bounds the whole call, model building included: HiGHS gets what is left, is stopped
through its interrupt callback at the deadline, is not started on a model it could not even set up
in the time left, and runs without presolve on large models (neither presolve nor the MIP set-up
watches the clock). Every solution HiGHS hands back is checked against the objective it reports
(HiGHS 1.16 can report an optimum but hand back the start solution).
"""

from __future__ import annotations

import ctypes
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from . import median_lagrange as _ml
from . import median_swap as _ms
from .solver_errors import BadP, InfeasibleModel, SitingModelError, SolverFailure, SolverTimeLimit

__all__ = [
    "Solution", "aggregate_rows", "lscp", "mclp", "p_median", "p_center", "mexclp", "backup_coverage",
    "greedy_mclp", "swap_improve", "greedy_lscp", "coverage_curve", "ambulances_needed",
    "SitingModelError", "BadP", "InfeasibleModel", "SolverTimeLimit", "SolverFailure",
]

OPTIMAL, TIME_LIMIT, HEURISTIC, PARTIAL = "optimal", "time_limit", "heuristic", "partial"


@dataclass
class Solution:
    """Result of a location model.

    ``selected``: sorted candidate indices, fixed ones included. ``objective``: the model's value
    (LSCP: number of new sites; MCLP: covered weight; p-median: total weighted cost; p-center: worst
    cost; MEXCLP: expected covered weight; backup: weight covered twice). ``bound``: best proven bound
    on the optimum; ``gap``: |objective - bound| / |objective| (0 when proven optimal).
    ``status``: "optimal"; "partial" (optimal for the coverable rows, but some rows that must be
    covered or assigned have no candidate at all; they are in ``uncoverable_rows``); "time_limit"
    (solver stopped, ``gap`` says how far from optimal at most); "heuristic" (greedy/swap answer).
    ``uncoverable_rows`` (rows no candidate covers or reaches) are listed by every model.
    ``counts``: ambulances per selected site for MEXCLP/backup models (None elsewhere: one each).
    """

    model: str
    selected: np.ndarray
    objective: float
    bound: float
    gap: float
    status: str
    seconds: float
    rows_in: int
    rows_after_aggregation: int
    uncoverable_rows: np.ndarray
    uncoverable_weight: float
    message: str
    counts: np.ndarray | None = None


# --------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------

def _check_shape(shape: tuple[int, int]) -> None:
    if shape[0] == 0:
        raise ValueError("there are no demand cells (the matrix has 0 rows).")
    if shape[1] == 0:
        raise ValueError("there are no candidate sites (the matrix has 0 columns).")


def _as_cover(cover) -> sp.csr_matrix:
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


def _as_cost(cost) -> sp.csr_matrix:
    """Float CSR matrix of allowed pairs (explicit zeros kept; the cheapest of duplicate pairs)."""
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


# --------------------------------------------------------------------------------------------------
# Merging demand rows with identical covering sets
# --------------------------------------------------------------------------------------------------

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def _row_hashes(mat: sp.csr_matrix, with_values: bool, seed: int) -> tuple[np.ndarray, np.ndarray]:
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


def _group_rows(mat: sp.csr_matrix, with_values: bool = False, hasher=None) -> tuple[np.ndarray, np.ndarray]:
    """Group identical non-empty rows: (representative row of each group, group of each row or -1).

    Rows are grouped by (length, two 64-bit hashes) and every member is then compared entry by entry
    with its group's representative, so the grouping is exact; members that differ (a hash collision)
    are grouped again with new hash keys. Empty rows get -1 and belong to no group.
    """
    hasher = hasher or _row_hashes
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
    mat = _as_cover(cover)
    w = _as_weights(weights, mat.shape[0])
    rep, inverse = _group_rows(mat)
    used = inverse >= 0
    w_unique = np.bincount(inverse[used], weights=w[used], minlength=len(rep))
    return mat[rep], w_unique, inverse


# --------------------------------------------------------------------------------------------------
# Small sparse helpers
# --------------------------------------------------------------------------------------------------

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


def _reduce_cover(C: sp.csr_matrix, w: np.ndarray, fixed: np.ndarray, free: np.ndarray,
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
        rep, inverse = _group_rows(sub)
        sub, wk = sub[rep], np.bincount(inverse, weights=wk, minlength=len(rep))
    return sub, wk, float(w[hit].sum())


def _covered_weight(C: sp.csr_matrix, w: np.ndarray, open_cols: np.ndarray) -> float:
    return float(w[(C @ _indicator(open_cols, C.shape[1])) > 0].sum())


def _rel_gap(objective: float, bound: float) -> float:
    if not np.isfinite(bound):
        return math.inf
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / abs(objective) if objective else math.inf


# --------------------------------------------------------------------------------------------------
# HiGHS
# --------------------------------------------------------------------------------------------------

_BANNER_HIDDEN = False


def _new_highs():
    """A quiet highspy.Highs. Its one-off banner goes to C stdout; it is sent to /dev/null."""
    global _BANNER_HIDDEN
    import highspy

    if _BANNER_HIDDEN:
        return highspy.Highs()
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        h = highspy.Highs()
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):  # pragma: no cover - non-POSIX libc
            pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)
    _BANNER_HIDDEN = True
    return h


@dataclass
class _Mip:
    status: str              # OPTIMAL | TIME_LIMIT | "infeasible"
    x: np.ndarray | None     # column values of the best solution found
    bound: float             # proven dual bound (nan if none)
    row_dual: np.ndarray | None = None  # row duals, for an LP


def _solve_mip(A, cost, lower, upper, row_lo, row_hi, integer, maximize: bool, time_limit: float,
               mip_gap: float, start: np.ndarray | None = None, offset: float = 0.0,
               proof_only: bool = False, interior: bool = False) -> _Mip:
    """Solve  opt cost·x + offset  s.t. row_lo ≤ A x ≤ row_hi, lower ≤ x ≤ upper  with HiGHS.

    ``proof_only=True`` is for a caller that supplies a strong incumbent as ``start`` and has fixed
    columns by its own bounds: HiGHS's primal heuristics (RINS, RENS, feasibility jump, reduced
    cost), its root restarts, strong branching and cut rounds below the root are skipped, and the
    time goes to closing the bound with cheap nodes. (On the siting benchmark's covering models
    this proves optimality 2–3× sooner than HiGHS's defaults.)
    ``interior=True`` solves an LP by interior point without crossover (approximate duals, fast).
    """
    A = sp.csc_matrix(A, dtype=float)
    if time_limit < HIGHS_SETUP_SECONDS_PER_NONZERO * A.nnz:   # HiGHS would overrun the limit setting up
        return _Mip(TIME_LIMIT, None, math.nan)
    deadline = time.perf_counter() + max(float(time_limit), 1e-3)
    h, state, info = _highs_solve(A, cost, lower, upper, row_lo, row_hi, integer, maximize, deadline, mip_gap,
                                  start, offset, proof_only, interior)
    if state == OPTIMAL and start is not None and not _solution_matches(h, info, cost, offset):
        # HiGHS 1.16 can report the optimum of a presolved MIP yet hand back the start solution as
        # its solution: solve again without the start rather than return that one as optimal.
        h, state, info = _highs_solve(A, cost, lower, upper, row_lo, row_hi, integer, maximize, deadline,
                                      mip_gap, None, offset, proof_only, interior)
    if state == "infeasible":
        return _Mip("infeasible", None, math.nan)
    x = np.asarray(h.getSolution().col_value) if info.primal_solution_status == 2 else None
    if state == OPTIMAL and np.any(integer) and not _solution_matches(h, info, cost, offset):
        state = TIME_LIMIT   # the optimum's solution was not handed back: claim no more than its bound
    if np.any(integer):
        bound, duals = float(info.mip_dual_bound), None
    else:
        bound, duals = float(info.objective_function_value), np.asarray(h.getSolution().row_dual)
    return _Mip(state, x, bound if np.isfinite(bound) else math.nan, duals)


# HiGHS does not watch the clock while it sets up a MIP (clique table, MIP start, root): about 4 µs
# per nonzero, more on a busy machine (4–7 s for the 1M nonzeros of a 350k-pair p-median model), so
# it is not started with less time left than this allows.
HIGHS_SETUP_SECONDS_PER_NONZERO = 1e-5
# HiGHS's presolve does not watch the clock either: about 12 µs per nonzero (22 s of a 7 s limit on the
# demo's backup-coverage model, 1.9M nonzeros), so it runs only when it would take a quarter of the
# time left at most.
PRESOLVE_SECONDS_PER_NONZERO = 5e-5
# Told to stop, HiGHS may finish a cut round or a root heuristic first (a second on 300k nonzeros of a
# busy machine), so it is told that much before the deadline (at most 10% of its time).
HIGHS_STOP_SECONDS_PER_NONZERO = 4e-6


def _highs_solve(A, cost, lower, upper, row_lo, row_hi, integer, maximize, deadline, mip_gap, start, offset,
                 proof_only, interior):
    """Pass the model to a fresh HiGHS, solve it until ``deadline`` and return (highs, state, info);
    state is OPTIMAL, TIME_LIMIT or "infeasible"."""
    import highspy

    h = _new_highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(max(deadline - time.perf_counter(), 1e-3)))
    h.setOptionValue("mip_rel_gap", float(mip_gap))
    h.setOptionValue("threads", int(os.cpu_count() or 1))
    h.setOptionValue("random_seed", 0)
    if deadline - time.perf_counter() < PRESOLVE_SECONDS_PER_NONZERO * A.nnz:
        h.setOptionValue("presolve", "off")
    if proof_only:
        for name in ("rins", "rens", "feasibility_jump", "root_reduced_cost"):
            h.setOptionValue(f"mip_heuristic_run_{name}", False)
        h.setOptionValue("mip_allow_restart", False)
        h.setOptionValue("mip_pscost_minreliable", 0)
        h.setOptionValue("mip_allow_cut_separation_at_nodes", False)
    if interior:
        h.setOptionValue("solver", "ipm")
        h.setOptionValue("run_crossover", "off")
    n_row, n_col = A.shape
    status = h.passModel(int(n_col), int(n_row), int(A.nnz), 1, -1 if maximize else 1, float(offset),
                         *(np.ascontiguousarray(a, dtype=float) for a in (cost, lower, upper, row_lo, row_hi)),
                         A.indptr.astype(np.int32), A.indices.astype(np.int32), A.data,
                         np.asarray(integer, dtype=np.int32))
    if status == highspy.HighsStatus.kError:
        raise SolverFailure("HiGHS", "HiGHS rejected the model.")
    if start is not None:
        h.setSolution(int(n_col), np.arange(n_col, dtype=np.int32), np.asarray(start, dtype=float))
    left = deadline - time.perf_counter()
    _run_interruptibly(h, deadline - min(0.1 * left, HIGHS_STOP_SECONDS_PER_NONZERO * A.nnz))
    ms, info = h.getModelStatus(), h.getInfo()
    M = highspy.HighsModelStatus
    if ms in (M.kInfeasible, M.kUnboundedOrInfeasible):
        return h, "infeasible", info
    if ms == M.kOptimal:
        return h, OPTIMAL, info
    if ms in (M.kTimeLimit, M.kIterationLimit, M.kSolutionLimit, M.kInterrupt, M.kHighsInterrupt,
              M.kUnknown, M.kMemoryLimit):
        return h, TIME_LIMIT, info
    raise SolverFailure("HiGHS", f"HiGHS stopped: {h.modelStatusToString(ms)}.")


def _solution_matches(h, info, cost, offset: float) -> bool:
    """Does the solution HiGHS hands back have the objective value it reports?"""
    if info.primal_solution_status != 2:
        return False
    x = np.asarray(h.getSolution().col_value)
    value = float(np.dot(np.asarray(cost, dtype=float), x)) + float(offset)
    reported = float(info.objective_function_value)
    return abs(value - reported) <= 1e-6 * max(1.0, abs(reported))


def _run_interruptibly(h, deadline: float = math.inf) -> None:
    """Run HiGHS in a thread of its own so that Ctrl-C stops it at once, and stop it at ``deadline``.

    HiGHS runs in C, where Python's signal handler cannot act; here the main thread waits in short
    steps, and on ``KeyboardInterrupt`` tells HiGHS to stop (its interrupt callback), gives it half a
    second to do so and raises the interrupt again, marked ``solver_running`` when HiGHS is still busy
    (it may take seconds to reach its next check). HiGHS checks its own time limit only now and then
    (rarely in cut rounds); at ``deadline`` it is told to stop through the same callback.
    """
    h.HandleUserInterrupt = True
    thread = h.startSolve()
    cancelled = False
    try:
        while not h.wait(0.05)[0]:
            if not cancelled and time.perf_counter() > deadline:
                h.cancelSolve()
                cancelled = True
    except KeyboardInterrupt as exc:
        h.cancelSolve()
        thread.join(0.5)
        exc.solver_running = thread.is_alive()  # the CLI then exits at once rather than wait for HiGHS
        raise


def _proven(bound: float, ceiling: float) -> float:
    """HiGHS's dual bound of a maximisation, or ``ceiling`` (a trivial bound) when it proved none
    (stopped in presolve or the root LP: its bound is then nan, not the incumbent's value)."""
    return min(bound, ceiling) if np.isfinite(bound) else ceiling


def _time_left(t0: float, time_limit: float | None) -> float:
    limit = math.inf if time_limit is None else float(time_limit)
    return limit - (time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------------
# Messages and results
# --------------------------------------------------------------------------------------------------

def _people(n_rows: int, weight: float, weighted: bool) -> str:
    cells = f"{n_rows:,} cell{'s' if n_rows != 1 else ''}"
    people = "person" if round(weight) == 1 else "people"
    return f"{cells} ({weight:,.0f} {people})" if weighted else cells


def _status_text(status: str, gap: float) -> str:
    if status in (OPTIMAL, PARTIAL):
        return "optimal"
    proven = f"proven within {gap:.1%} of optimum" if np.isfinite(gap) else "no bound proven"
    if gap == 0:
        proven = "proven optimal"
    if status == TIME_LIMIT:
        return f"time limit hit: best solution found, {proven}"
    return f"heuristic solution, {proven}"


def _result(model: str, t0: float, selected, objective: float, bound: float, status: str, rows_in: int,
            rows_agg: int, unc_rows: np.ndarray, unc_weight: float, summary: str, weighted: bool = True,
            dropped: bool = False, counts: np.ndarray | None = None) -> Solution:
    """Assemble a Solution; ``dropped``: uncoverable rows were left out of a must-cover model."""
    if status == OPTIMAL and dropped and len(unc_rows):
        status = PARTIAL
    gap = 0.0 if status in (OPTIMAL, PARTIAL) else _rel_gap(objective, bound)
    parts = [f"{model}: {summary}", _status_text(status, gap)]
    if len(unc_rows):
        who = _people(len(unc_rows), unc_weight, weighted)
        if dropped:
            parts.append(f"{model} was infeasible for {who} that no candidate can reach; "
                         f"solved for the coverable rest")
        else:
            parts.append(f"{who} cannot be reached from any candidate")
    return Solution(model, np.sort(np.asarray(selected, dtype=np.int64)), float(objective), float(bound),
                    float(gap), status, time.perf_counter() - t0, int(rows_in), int(rows_agg),
                    np.asarray(unc_rows, dtype=np.int64), float(unc_weight), "; ".join(parts) + ".", counts)


def _sites_text(n_new: int, n_fixed: int, noun: str = "site") -> str:
    text = f"{n_new} new {noun}{'s' if n_new != 1 else ''}"
    return text + (f" plus {n_fixed} fixed" if n_fixed else "")


# --------------------------------------------------------------------------------------------------
# Greedy and swap heuristics for covering
# --------------------------------------------------------------------------------------------------

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
    C = _as_cover(cover)
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
    C = _as_cover(cover)
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
    C = _as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, _, _ = _reduce_cover(C, w, fixed, free)
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
    C = _as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, wa, base = _reduce_cover(C, w, fixed, free)
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


# --------------------------------------------------------------------------------------------------
# LSCP and MCLP
# --------------------------------------------------------------------------------------------------

def _lscp_exact(Ca: sp.csr_matrix, start: np.ndarray, time_limit: float, mip_gap: float):
    """min Σx  s.t.  Ca x ≥ 1, x binary. Returns (sites, status, lower bound)."""
    R, F = Ca.shape
    mip = _solve_mip(Ca, np.ones(F), np.zeros(F), np.ones(F), np.ones(R), np.full(R, math.inf),
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
    C = _as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    Ca, _, _ = _reduce_cover(C, w, fixed, free, aggregate)
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


def _mclp_model(Ca, wa, p: int) -> tuple:
    """max Σ w_r y_r  s.t.  y_r ≤ Σ_j a_rj x_j,  Σ x = p,  0 ≤ x, y ≤ 1: the arguments of
    :func:`_solve_mip` after ``integer`` (columns x then y)."""
    R, F = Ca.shape
    A = sp.vstack([sp.hstack([-Ca.astype(float), sp.identity(R, format="csr")]),
                   sp.hstack([np.ones((1, F)), sp.csr_matrix((1, R))])], format="csc")
    return (A, np.concatenate([np.zeros(F), wa]), np.zeros(F + R), np.ones(F + R),
            np.r_[np.full(R, -math.inf), p], np.r_[np.zeros(R), p])


def _mclp_exact(Ca, wa, p: int, start: np.ndarray, time_limit: float, mip_gap: float, offset: float,
                proof_only: bool = False):
    """The MCLP as a MIP (x binary), started from the sites ``start``. Returns (sites, status, bound)."""
    R, F = Ca.shape
    x0 = _indicator(start, F)
    y0 = np.minimum(1.0, Ca @ x0)
    mip = _solve_mip(*_mclp_model(Ca, wa, p), np.r_[np.ones(F, bool), np.zeros(R, bool)], True, time_limit,
                     mip_gap, start=np.concatenate([x0, y0]), offset=offset, proof_only=proof_only)
    sel = np.flatnonzero(mip.x[:F] > 0.5) if mip.x is not None else start
    return sel, mip.status, mip.bound


def _lagrangian_bound(Cat, wa, mu, p: int) -> float:
    """L(μ) = Σ (w − μ) + (sum of the p largest Aᵀμ), an upper bound on MCLP for any 0 ≤ μ ≤ w."""
    return float(wa.sum() - mu.sum()) + _top_sum(Cat @ mu, p)


def _lp_multipliers(Ca, Cat, wa, p: int, time_limit: float) -> tuple[np.ndarray, float] | None:
    """Multipliers from the LP relaxation's duals (interior point, no crossover), clipped to
    0 ≤ μ ≤ w, and their Lagrangian bound, which is valid whatever the LP's accuracy. These are the
    best multipliers there are (the LP bound), where subgradient steps only approach them."""
    lp = _solve_mip(*_mclp_model(Ca, wa, p), np.zeros(sum(Ca.shape), bool), True, time_limit, 0.0,
                    interior=True)
    if lp.row_dual is None or lp.status != OPTIMAL:
        return None
    mu = np.clip(np.abs(lp.row_dual[:Ca.shape[0]]), 0.0, wa)
    return mu, _lagrangian_bound(Cat, wa, mu, p)


def _dominated(Ca: sp.csr_matrix, max_work: float = 2e8) -> np.ndarray:
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
    dominated = _dominated(Ca)
    if not dominated.any() or int((~dominated).sum()) < min_cols:
        return Ca, wa, np.arange(Ca.shape[1])
    cols = np.flatnonzero(~dominated)
    sub = Ca[:, cols]
    rep, inverse = _group_rows(sub)
    return sub[rep], np.bincount(inverse, weights=wa, minlength=len(rep)), cols


@dataclass
class _Lagrange:
    bound: float          # best (lowest) Lagrangian bound
    mu: np.ndarray        # its multipliers
    freq: np.ndarray      # how often each column was among the top p
    sel: np.ndarray       # best top-p set seen, as a solution
    value: float          # its covered weight


def _mclp_lagrangian(Ca, Cat, wa, p: int, incumbent: float, deadline: float, tol: float,
                     max_iter: int = 3000, patience: int = 100) -> _Lagrange:
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
    return _Lagrange(best, best_mu, freq, best_sel, best_val)


def _lagrangian_fixing(Cat, wa, mu, p: int, incumbent: float, tol: float):
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
    rep, inverse = _group_rows(sub)
    used = inverse >= 0
    Ck, wk = sub[rep], np.bincount(inverse[used], weights=wa[used], minlength=len(rep))
    local, _, _ = _mclp_exact(Ck, wk, p, np.searchsorted(cols, sel), time_limit, mip_gap, 0.0)
    return cols[local]


def _value(Ca, wa, sel) -> float:
    return float(wa[(Ca @ _indicator(sel, Ca.shape[1])) > 0].sum())


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
    fix0, fix1 = _lagrangian_fixing(st.Cat, st.wa, mu, st.p, st.value, st.tol() * 1e-3)
    ones, free = np.flatnonzero(fix1), np.flatnonzero(~fix0 & ~fix1)
    k = st.p - len(ones)
    if k < 0 or len(free) < k:  # nothing can beat the incumbent
        st.bound = st.value
        return OPTIMAL
    hit = (st.Ca @ _indicator(ones, st.Ca.shape[1])) > 0
    sub = st.Ca[~hit][:, free]
    rep, inverse = _group_rows(sub)
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
    local, status, bound = _mclp_exact(Cr, wr, k, start, time_limit, mip_gap, float(st.wa[hit].sum()),
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
    lag = _mclp_lagrangian(Ca, st.Cat, wa, p, st.value, now + 0.25 * (deadline - now), st.tol())
    st.bound = min(st.bound, lag.bound)
    st.offer(lag.sel)
    left = deadline - time.perf_counter()
    if not st.closed() and left > 0:
        st.offer(_kernel_mip(Ca, wa, p, st.sel, lag.freq, max(3 * p, 40), min(0.25 * left, 60.0), mip_gap))
    mu, left = lag.mu, deadline - time.perf_counter()
    if not st.closed() and left > 0:
        lp = _lp_multipliers(Ca, st.Cat, wa, p, 0.25 * left)
        if lp is not None and lp[1] < lag.bound:
            mu, st.bound = lp[0], min(st.bound, lp[1])
    left = deadline - time.perf_counter()
    if not st.closed() and left > 0:
        _mclp_fixed_mip(st, mu, left, mip_gap)
    status = OPTIMAL if st.closed() else TIME_LIMIT
    return st.sel, st.value, (st.value if status == OPTIMAL else st.bound), status


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
    C = _as_cover(cover)
    w = _as_weights(weights, C.shape[0])
    fixed = _as_fixed(fixed, C.shape[1])
    free = np.setdiff1d(np.arange(C.shape[1]), fixed)
    p = _check_p(p, len(free), model="MCLP")
    Ca, wa, base = _reduce_cover(C, w, fixed, free, aggregate)
    cols = np.arange(Ca.shape[1])
    if aggregate:
        Ca, wa, cols = _drop_dominated(Ca, wa, p)
    deadline = t0 + (math.inf if time_limit is None else float(time_limit))
    sel, value, bound, status = _solve_mclp(Ca, wa, p, deadline, mip_gap, base)
    chosen = _pad(np.concatenate([free[cols[sel]], fixed]), C.shape[1], p + len(fixed))
    obj = _covered_weight(C, w, chosen)
    unc = np.flatnonzero(np.diff(C.indptr) == 0)
    total = float(w.sum())
    summary = (f"{obj:,.0f} of {total:,.0f} people ({obj / total if total else 0:.1%}) covered with "
               f"{_sites_text(p, len(fixed))}")
    return _result("MCLP", t0, chosen, obj, obj if status == OPTIMAL else max(obj, bound + base), status,
                   C.shape[0], Ca.shape[0], unc, float(w[unc].sum()), summary)


# --------------------------------------------------------------------------------------------------
# p-median and p-center
# --------------------------------------------------------------------------------------------------

def _row_min(M: sp.csr_matrix, is_open: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row: cheapest cost to an open column (inf if none) and the position of that entry."""
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    cost_e = np.where(is_open[M.indices], M.data, math.inf)
    order = np.lexsort((cost_e, rows_e))
    nonempty = np.diff(M.indptr) > 0
    best = np.full(M.shape[0], math.inf)
    pos = np.full(M.shape[0], -1, dtype=np.int64)
    first = order[M.indptr[:-1][nonempty]]
    best[nonempty], pos[nonempty] = cost_e[first], first
    return best, pos


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


def _median_exact(M, w, fixed_mask: np.ndarray, p: int, start: np.ndarray | None, time_limit: float,
                  mip_gap: float, allowed: np.ndarray | None = None) -> _Mip:
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
    return _solve_mip(A, np.concatenate([np.zeros(m), w[rows_e] * cost_e]), np.concatenate([x_lo, np.zeros(E)]),
                      np.concatenate([x_hi, np.ones(E)]), np.r_[np.ones(R), np.full(L, -math.inf), p],
                      np.r_[np.ones(R), np.zeros(L), p], np.r_[np.ones(m, bool), np.zeros(E, bool)],
                      False, time_limit, mip_gap, start=x0)


def _prep_cost(cost, weights, fixed):
    M = _as_cost(cost)
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
    uncoverable and excluded (status "partial"). Identical rows (same pairs and costs) are merged.
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
    Mk = M[keep]
    rep, inverse = _group_rows(Mk, with_values=True)
    Ma, wa = Mk[rep], np.bincount(inverse, weights=w[keep], minlength=len(rep))
    chosen, bound, status = _median_solve(Ma, wa, fixed_mask, p, t0 + float(time_limit), mip_gap,
                                           None if seed is None else _as_fixed(seed, M.shape[1]))
    best, _ = _row_min(M, np.isin(np.arange(M.shape[1]), chosen))
    obj = float(np.sum(w[keep] * best[keep]))
    total = float(w[keep].sum())
    summary = (f"{_sites_text(p, len(fixed))}; weighted cost {obj:,.1f} "
               f"(mean {obj / total if total else 0:,.1f} per person)")
    return _result("p-median", t0, chosen, obj, obj if status == OPTIMAL else min(bound, obj), status, M.shape[0],
                   Ma.shape[0], unc, float(w[unc].sum()), summary, dropped=bool(w[unc].sum() > 0))


MEDIAN_MAX_PAIRS = 400_000   # pairs of the exact p-median model; about 1 GB of HiGHS memory at most


def _share(deadline: float, fraction: float) -> float:
    """The clock value ``fraction`` of the way from now to ``deadline``."""
    now = time.perf_counter()
    return now + fraction * max(0.0, deadline - now)


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
    rep, _ = _group_rows(sub)
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


def _keep_columns(M: sp.csr_matrix, allowed: np.ndarray) -> sp.csr_matrix:
    """The stored entries (explicit zeros included) whose column is allowed."""
    ok = allowed[M.indices]
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))[ok]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_e, minlength=M.shape[0]))])
    return sp.csr_matrix((M.data[ok], M.indices[ok], indptr), shape=M.shape)


def _time_left_until(deadline: float) -> float:
    return deadline - time.perf_counter()


def _within(M: sp.csr_matrix, radius: float) -> sp.csr_matrix:
    """Boolean structure of the pairs with cost ≤ radius."""
    ok = M.data <= radius
    rows_e = np.repeat(np.arange(M.shape[0]), np.diff(M.indptr))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows_e[ok], minlength=M.shape[0]))])
    return sp.csr_matrix((np.ones(int(ok.sum()), bool), M.indices[ok], indptr), shape=M.shape)


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
    rep, _ = _group_rows(sub)
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
    exact LSCP). Rows with no stored pair are reported as uncoverable and excluded. At the time
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
    lo = int(np.searchsorted(values, nearest))
    warm = _median_greedy(M, coverable.astype(float), fixed_mask, ~fixed_mask, p)
    warm_cost = _row_min(M, fixed_mask | np.isin(np.arange(M.shape[1]), warm))[0][coverable].max()
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
    obj = float(_row_min(M, is_open)[0][coverable].max())
    summary = f"{_sites_text(p, len(fixed))}; worst cost {obj:,.1f}"
    return _result("p-center", t0, np.flatnonzero(is_open), obj, values[lo] if status != OPTIMAL else obj,
                   status, M_all.shape[0], M.shape[0], unc, float(w_all[unc].sum()), summary,
                   weighted=weights is not None, dropped=len(unc) > 0)


# --------------------------------------------------------------------------------------------------
# MEXCLP and the double-standard backup model
# --------------------------------------------------------------------------------------------------

def _capacity(max_per_site, n_cols: int, lower: np.ndarray, total: int) -> np.ndarray:
    cap = np.full(n_cols, float(total)) if max_per_site is None else np.broadcast_to(
        np.asarray(max_per_site, dtype=float), (n_cols,)).copy()
    if (cap < lower).any() or (cap < 0).any():
        raise ValueError("max_per_site must allow at least the existing ambulance at each fixed site.")
    return cap


def _prep_fleet(cover, weights, p, fixed, max_per_site, what="new ambulances", model="MEXCLP"):
    C = _as_cover(cover)
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
    rep, inverse = _group_rows(Ck)
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
    mip = _solve_mip(A, np.concatenate([np.zeros(m), wa[row_y] * (1 - q) * q ** k_y]),
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
    S = _as_cover(cover)
    Lraw = _as_cover(cover_loose)
    if Lraw.shape != S.shape:
        raise ValueError("cover and cover_loose must have the same shape.")
    L = (Lraw + S).astype(bool)
    C, w, fixed, lower, cap, p = _prep_fleet(L, weights, p, fixed, max_per_site, what="new sites/ambulances",
                                             model="backup")
    m, total = C.shape[1], p + len(fixed)
    unc = np.flatnonzero(np.diff(L.indptr) == 0)
    keep = (np.diff(L.indptr) > 0) & (w > 0)
    both = sp.hstack([S[keep], L[keep]], format="csr")
    rep, inverse = _group_rows(both)
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
    mip = _solve_mip(A, np.concatenate([np.zeros(m + R), wa]), np.concatenate([lower, np.zeros(2 * R)]),
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
