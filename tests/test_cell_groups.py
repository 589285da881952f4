"""CellGroups: the rules' tables grouped by integer codes equal those grouped by the key strings."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from coverage_planner import coverage as cov
from coverage_planner.cell_groups import CellGroups
from coverage_planner.standards import load_profile


def _cells(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    zone = np.where(rng.random(n) < 0.3, "urban", "rural").astype(object)
    unit = np.array([f"U{k}" for k in rng.integers(1, 6, n)], dtype=object)
    name = np.array([f"单元{k}" for k in rng.integers(1, 3, n)], dtype=object)
    zone[:3] = None          # missing keys: counted in the region's total only
    unit[3:6] = None
    return pd.DataFrame({"zone": zone, "unit_id": unit, "unit_name": name, "population": rng.random(n) * 50})


def test_codes_follow_sorted_keys_and_zone_values():
    cells = pd.DataFrame({"zone": ["rural", "urban", "rural", None], "unit_id": ["B", "A", "A", "A"],
                          "unit_name": ["b", "a", "a", "a"], "population": [1.0, 2.0, 3.0, 4.0]})
    g = CellGroups.of(cells)
    assert g.unit_keys.values.tolist() == [["rural", "A", "a"], ["rural", "B", "b"], ["urban", "A", "a"]]
    assert g.unit_code.tolist() == [1, 2, 0, -1] and g.zone_code.tolist() == [0, 1, 0, -1]
    got = g.zone_values({"rural": 5.0, "urban": np.nan}.get)
    assert np.array_equal(got, [5.0, np.nan, 5.0, np.nan], equal_nan=True)


@pytest.mark.parametrize("profile, rule_id", [("chongqing", "ems_radius"), ("chongqing", "ems_response"),
                                              ("zhejiang", None)])
@pytest.mark.parametrize("applies_share", [1.0, 0.4, 0.0])
def test_summary_by_codes_is_identical_to_summary_by_strings(profile, rule_id, applies_share):
    """Bit for bit (check_exact): the same pandas group sums over the same rows in the same order."""
    rules = [r for r in load_profile(profile).rules if r.spatial]
    rule = next(r for r in rules if r.id == rule_id) if rule_id else next(r for r in rules if r.kind == "mean_time")
    cells = _cells(20_000, 7)
    rng = np.random.default_rng(11)
    n = len(cells)
    value = rng.random(n) * (8000.0 if rule.kind == "radius" else 1800.0)
    value[rng.random(n) < 0.05] = np.inf
    limit = cov.cell_thresholds(rule, cells["zone"].to_numpy())
    passed, reason = cov.judge_cells(value, limit, rng.random(n) * 1500, rng.random(n) < 0.02, 1000.0)
    applies = np.isfinite(limit) & (rng.random(n) < applies_share)
    extra = {"straight_line": value < 3000, "network_distance": passed} if rule.kind == "radius" else None
    timed = value if rule.kind == "mean_time" else None
    by_strings = cov.summarise_spatial(rule, cells, passed, reason, applies, extra, timed)
    by_codes = cov.summarise_spatial(rule, cells, passed, reason, applies, extra, timed,
                                     groups=CellGroups.of(cells))
    pd.testing.assert_frame_equal(by_codes, by_strings, check_exact=True)
    if applies_share:
        assert len(by_strings) > 3       # unit rows, zone rows and the total
