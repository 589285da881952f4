"""Why a location model gave no answer: the typed exceptions of :mod:`coverage_planner.optimize`.

Callers catch what they can handle (the ``site`` command turns each into a message that names the
setting to change); each keeps the base class the optimiser raised before (``ValueError`` for what
the caller asked, ``RuntimeError`` for what the solver did), so existing ``except`` clauses still work.
"""

from __future__ import annotations

__all__ = ["BadP", "InfeasibleModel", "SitingModelError", "SolverFailure", "SolverTimeLimit"]


class SitingModelError(Exception):
    """A location model could not give an answer.

    Parameters
    ----------
    model : str
        The model, as the optimiser names it ("MCLP", "p-median", ...).
    message : str
        What happened, in one sentence.
    """

    def __init__(self, model: str, message: str):
        self.model = model
        super().__init__(message)


class BadP(SitingModelError, ValueError):
    """``p`` is not a whole number of at least 1, or more than the free candidate sites can take.

    ``p`` is the value asked for; ``room`` the most the candidates can take (None when ``p`` < 1).
    """

    def __init__(self, model: str, message: str, p: object, room: int | None = None):
        self.p, self.room = p, room
        super().__init__(model, message)


class InfeasibleModel(SitingModelError, ValueError):
    """No choice of ``p`` sites meets the model's must-serve constraints (proven by the solver)."""


class SolverTimeLimit(SitingModelError, RuntimeError):
    """The time limit passed before the solver found any feasible solution; ``time_limit`` in seconds."""

    def __init__(self, model: str, message: str, time_limit: float):
        self.time_limit = time_limit
        super().__init__(model, message)


class SolverFailure(SitingModelError, RuntimeError):
    """HiGHS rejected the model or stopped for a reason other than optimality, infeasibility or a limit."""
