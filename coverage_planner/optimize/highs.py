"""The HiGHS wrapper: a model built from sparse arrays, solved until a deadline, interruptible by Ctrl-C,
its answer checked against the objective HiGHS reports."""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import sys
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .errors import SolverFailure
from .solution import OPTIMAL, TIME_LIMIT

_BANNER_HIDDEN = False


@contextlib.contextmanager
def _c_stdout_to_devnull():
    """Send what C code writes to file descriptor 1 to /dev/null while the block runs.

    HiGHS prints its banner from C when the first ``Highs`` object is made, before any option can
    turn output off; only this block is affected, and file descriptor 1 is restored afterwards.
    """
    sys.stdout.flush()
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
        try:
            ctypes.CDLL(None).fflush(None)
        except (OSError, AttributeError):  # pragma: no cover - non-POSIX libc
            pass
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _new_highs():
    """A quiet highspy.Highs (its one-off banner hidden the first time)."""
    global _BANNER_HIDDEN
    import highspy

    if _BANNER_HIDDEN:
        return highspy.Highs()
    with _c_stdout_to_devnull():
        h = highspy.Highs()
    _BANNER_HIDDEN = True
    return h


@dataclass
class MipResult:
    status: str              # OPTIMAL | TIME_LIMIT | "infeasible"
    x: np.ndarray | None     # column values of the best solution found
    bound: float             # proven dual bound (nan if none)
    row_dual: np.ndarray | None = None  # row duals, for an LP


def solve_mip(A, cost, lower, upper, row_lo, row_hi, integer, maximize: bool, time_limit: float,
               mip_gap: float, start: np.ndarray | None = None, offset: float = 0.0,
               proof_only: bool = False, interior: bool = False) -> MipResult:
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
        return MipResult(TIME_LIMIT, None, math.nan)
    deadline = time.perf_counter() + max(float(time_limit), 1e-3)
    h, state, info = _highs_solve(A, cost, lower, upper, row_lo, row_hi, integer, maximize, deadline, mip_gap,
                                  start, offset, proof_only, interior)
    if state == OPTIMAL and start is not None and not _solution_matches(h, info, cost, offset):
        # HiGHS 1.16 can report the optimum of a presolved MIP yet hand back the start solution as
        # its solution: solve again without the start rather than return that one as optimal.
        h, state, info = _highs_solve(A, cost, lower, upper, row_lo, row_hi, integer, maximize, deadline,
                                      mip_gap, None, offset, proof_only, interior)
    if state == "infeasible":
        return MipResult("infeasible", None, math.nan)
    x = np.asarray(h.getSolution().col_value) if info.primal_solution_status == 2 else None
    if state == OPTIMAL and np.any(integer) and not _solution_matches(h, info, cost, offset):
        state = TIME_LIMIT   # the optimum's solution was not handed back: claim no more than its bound
    if np.any(integer):
        bound, duals = float(info.mip_dual_bound), None
    else:
        bound, duals = float(info.objective_function_value), np.asarray(h.getSolution().row_dual)
    return MipResult(state, x, bound if np.isfinite(bound) else math.nan, duals)


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

