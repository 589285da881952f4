"""The result of a location model (:class:`Solution`), its statuses and its one-line message."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

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


def _rel_gap(objective: float, bound: float) -> float:
    if not np.isfinite(bound):
        return math.inf
    diff = abs(bound - objective)
    if diff <= 1e-9 * max(1.0, abs(objective)):
        return 0.0
    return diff / abs(objective) if objective else math.inf


def _proven(bound: float, ceiling: float) -> float:
    """HiGHS's dual bound of a maximisation, or ``ceiling`` (a trivial bound) when it proved none
    (stopped in presolve or the root LP: its bound is then nan, not the incumbent's value)."""
    return min(bound, ceiling) if np.isfinite(bound) else ceiling


def _time_left(t0: float, time_limit: float | None) -> float:
    limit = math.inf if time_limit is None else float(time_limit)
    return limit - (time.perf_counter() - t0)


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


def _share(deadline: float, fraction: float) -> float:
    """The clock value ``fraction`` of the way from now to ``deadline``."""
    now = time.perf_counter()
    return now + fraction * max(0.0, deadline - now)


def _time_left_until(deadline: float) -> float:
    return deadline - time.perf_counter()

