"""The siting run routes once per rule: one bounded run from the candidates gives the covering sets
of LSCP, MCLP, MEXCLP and DSM (strict and loose) and the p-median/p-center costs, and each model
reads exactly those matrices."""

from __future__ import annotations

import numpy as np

from coverage_planner import optimize as opt
from coverage_planner import siting
from coverage_planner.scenario import load_scenario
from coverage_planner.travel import Router


def test_one_routing_run_feeds_every_model(siting_region, monkeypatch):
    calls, seen = [], {}
    bounded = Router.bounded

    def counting(self, *args, **kwargs):
        calls.append(args[-1] if args else kwargs.get("limit"))
        return bounded(self, *args, **kwargs)

    monkeypatch.setattr(Router, "bounded", counting)
    for name in ("lscp", "mclp", "p_median", "p_center", "mexclp", "backup_coverage"):
        real = getattr(opt, name)

        def spy(*args, _real=real, _name=name, **kwargs):
            seen[_name] = args
            return _real(*args, **kwargs)

        monkeypatch.setattr(opt, name, spy)
    result, _ = siting.run_siting(load_scenario(siting_region), p=5)   # DSM needs 5 here
    prob = result.problem
    assert len(calls) == 1                               # one bounded run for all six models
    assert calls[0] == float(prob.limit.max() * result.settings["loose_factor"])
    assert set(seen) == {"lscp", "mclp", "p_median", "p_center", "mexclp", "backup_coverage"}
    for name in ("lscp", "mclp", "mexclp"):
        assert seen[name][0] is prob.cover
    assert seen["backup_coverage"][0] is prob.cover and seen["backup_coverage"][1] is prob.cover_loose
    assert seen["p_median"][0] is prob.cost and seen["p_center"][0] is prob.cost
    # the covering sets are the cost matrix's pairs within each cell's limit (and its loose limit)
    rows = np.repeat(np.arange(prob.cost.shape[0]), np.diff(prob.cost.indptr))
    strict = prob.cost.data <= prob.limit[rows] + 1e-9
    assert prob.cover.nnz == strict.sum() and prob.cover_loose.nnz == prob.cost.nnz
