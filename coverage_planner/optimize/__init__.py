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


Layout: :mod:`.sparse` (input normalising), :mod:`.grouping` (merging identical rows, dominated
sites), :mod:`.highs` (the HiGHS wrapper), :mod:`.heuristics` (greedy and swaps), :mod:`.covering`
(LSCP, MCLP) with :mod:`.mclp_lagrange` (its Lagrangian bound and fixing), :mod:`.cost_models`
(p-median, p-center) with :mod:`.median_swap` and :mod:`.median_lagrange`, :mod:`.backup` (MEXCLP,
backup coverage), :mod:`.solution` (the result type) and :mod:`.errors` (why a model gave no answer).
Every public name is exported here: ``from coverage_planner import optimize as opt; opt.mclp(...)``.
"""

from __future__ import annotations

from .backup import backup_coverage, mexclp
from .cost_models import MEDIAN_MAX_PAIRS, p_center, p_median  # noqa: F401  (a setting, read by callers)
from .covering import lscp, mclp
from .errors import (
    BadP,
    InfeasibleModel,
    SitingModelError,
    SolverFailure,
    SolverTimeLimit,
)
from .grouping import aggregate_rows
from .heuristics import (
    ambulances_needed,
    coverage_curve,
    greedy_lscp,
    greedy_mclp,
    swap_improve,
)
from .solution import HEURISTIC, OPTIMAL, PARTIAL, TIME_LIMIT, Solution  # noqa: F401  (status values)

__all__ = [
    "BadP",
    "InfeasibleModel",
    "SitingModelError",
    "Solution",
    "SolverFailure",
    "SolverTimeLimit",
    "aggregate_rows",
    "ambulances_needed",
    "backup_coverage",
    "coverage_curve",
    "greedy_lscp",
    "greedy_mclp",
    "lscp",
    "mclp",
    "mexclp",
    "p_center",
    "p_median",
    "swap_improve",
]
