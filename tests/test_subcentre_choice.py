"""The array core of the sub-centre ranking: own catchments, scores, the decisive criterion and the
joint choice, on hand-built matrices with known answers and against brute force."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from coverage_planner import subcentre_choice as choice
from coverage_planner.subcentres import grade_level


def _matrix(rows: list[list[float]]) -> sp.csc_matrix:
    """cells × candidates seconds; NaN = not reached; 0 stays an explicit (reached) entry."""
    a = np.array(rows, dtype=float)
    r, c = np.nonzero(~np.isnan(a))
    return sp.csc_matrix((a[r, c], (r, c)), shape=a.shape)


def test_own_catchment_ties_go_to_the_hospital_and_zero_time_counts():
    """Four cells, one candidate: reached at 0 s (counted), at a tie with the hospital (not), beyond the
    limit (not), and nearer than the hospital but in the county seat (not)."""
    times = _matrix([[0.0], [600.0], [2000.0], [300.0]])
    hospital = np.array([2000.0, 600.0, np.inf, 1200.0])   # cell 0: no hospital within 30 min
    counted = np.array([True, True, True, False])
    own = choice.own_catchments(times, hospital, 1800.0, counted)
    assert own.toarray()[:, 0].tolist() == [1, 0, 0, 0]
    crit = choice.catchment_criteria(times, hospital, 1800.0, np.array([10.0, 20.0, 40.0, 80.0]), counted,
                                     rural=np.ones(4, bool), dense=np.array([True, False, False, False]))
    assert crit["gross_reach_pop"].tolist() == [110.0]           # cells 0, 1, 3 within 30 min
    assert crit["own_catchment_pop"].tolist() == [10.0]
    assert crit["newly_covered_rural"].tolist() == [10.0]        # cells 1 and 3 are reached by the hospital
    assert crit["settlement_concentration"].tolist() == [1.0]
    assert crit["catchment_mean_minutes"].tolist() == [0.0]


def test_a_candidate_that_is_a_hospital_competes_with_the_other_hospitals_only():
    """Candidate 0 is an existing hospital, candidate 1 a health centre: candidate 0 is not its own
    rival, but it is candidate 1's (a cell nearer to candidate 0 is not candidate 1's)."""
    times = _matrix([[100.0, 500.0], [700.0, 200.0], [400.0, 400.0]])
    other_hospitals = np.array([300.0, np.inf, 450.0])
    own = choice.own_catchments(times, other_hospitals, 1800.0, np.ones(3, bool),
                                candidate_hospital=np.array([True, False])).toarray()
    assert own[:, 0].tolist() == [1, 1, 1]      # nearer than the other hospitals (300, inf, 450)
    assert own[:, 1].tolist() == [0, 1, 0]      # cell 2: a tie with candidate 0, an existing hospital


def test_score_and_decisive_follow_the_weights():
    frame = pd.DataFrame({"facility_id": ["A", "B"], "own_catchment_pop": [120_000.0, 90_000.0],
                          "meets_100k": [True, False], "is_county_seat": [True, False],
                          "minutes_from_county_hospital": [6.0, 45.0], "catchment_mean_minutes": [np.nan, 15.0]})
    defaults = {c.key: c.weight for c in choice.CRITERIA}
    points = choice.score(frame, defaults, minutes=30.0, min_population=100_000.0)
    # A: 3 × 1.2 + 2 (threshold) − 2 (county seat) + 0.5 × 6/30 = 3.7; B: 3 × 0.9 + 0.5 × 1.5 + 1 × 0.5 = 3.95
    assert points.sum(axis=1).tolist() == pytest.approx([3.7, 3.95])
    order = choice.rank_order(points, frame["facility_id"].to_numpy())
    assert order.tolist() == [1, 0]
    # B's lead: +2 (not in the county seat) outweighs A's +2 (threshold) and +0.9 (people) only in sum
    assert choice.decisive(points.iloc[order].reset_index(drop=True)) == ["county_seat", ""]
    only_people = {k: 0.0 for k in defaults} | {"population": 1.0}
    points = choice.score(frame, only_people, 30.0, 100_000.0)
    assert choice.rank_order(points, frame["facility_id"].to_numpy()).tolist() == [0, 1]
    assert choice.decisive(points) == ["population", ""]
    tied = choice.score(frame.assign(own_catchment_pop=[1.0, 1.0]), only_people, 30.0, 100_000.0)
    assert choice.rank_order(tied, np.array(["B", "A"])).tolist() == [1, 0]     # ties by id
    assert choice.decisive(tied) == ["tie", ""]


def _brute(own: np.ndarray, pop: np.ndarray, k: int) -> float:
    return max(pop[own[:, list(s)].any(axis=1)].sum() for s in combinations(range(own.shape[1]), k))


@pytest.mark.parametrize("seed", range(40))
def test_joint_choice_equals_brute_force(seed):
    """Random small cases (6–9 candidates, 30 cells, overlapping catchments): the chosen set serves
    exactly the brute-force optimum, and the marginal gains add up to it."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(6, 10))
    own = rng.random((30, n)) < 0.25
    pop = rng.integers(0, 1000, 30).astype(float)
    k = int(rng.integers(1, 4))
    got = choice.choose_jointly(sp.csc_matrix(own.astype(float)), pop, k, np.arange(n))
    best = _brute(own, pop, k)
    assert got.exact and got.served == pytest.approx(best) and got.bound == pytest.approx(best)
    assert len(set(got.chosen)) == k and sum(got.gains) == pytest.approx(best)
    assert got.gains == sorted(got.gains, reverse=True)           # each adds no more than the one before
    assert pop[own[:, got.chosen].any(axis=1)].sum() == pytest.approx(best)


def test_joint_choice_beats_marginal_gain_where_greedy_fails(monkeypatch):
    """Three towns on a line of 3 cell groups: B (middle) has the largest own catchment, but A and C
    together serve everyone: the choice is {A, C}; marginal gain alone would take B first. With
    enumeration switched off, the fallback takes B and reports a bound that covers the optimum."""
    own = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 0], [0, 0, 1]], dtype=float)   # cells × (A, B, C)
    pop = np.array([40.0, 40.0, 35.0, 35.0])
    got = choice.choose_jointly(sp.csc_matrix(own), pop, 2, np.array([1, 0, 2]))
    assert sorted(got.chosen) == [0, 2] and got.served == 150.0 and got.exact
    assert got.gains == [75.0, 75.0]
    monkeypatch.setattr(choice, "MAX_ENUMERATED", 0)
    greedy = choice.choose_jointly(sp.csc_matrix(own), pop, 2, np.array([1, 0, 2]))
    assert not greedy.exact and greedy.chosen[0] == 1 and greedy.served == 115.0
    assert greedy.bound >= 150.0 and greedy.served >= (1 - 1 / np.e) * greedy.bound


def test_joint_choice_prefers_towns_outside_the_county_seat():
    """Candidate 0 (county seat) serves most, but two others outside the seat are chosen first; with
    choose = 3 the seat town fills the third place."""
    own = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], dtype=float)
    pop = np.array([500.0, 10.0, 5.0])
    preferred = np.array([False, True, True])
    two = choice.choose_jointly(sp.csc_matrix(own), pop, 2, np.arange(3), preferred)
    assert sorted(two.chosen) == [1, 2]
    three = choice.choose_jointly(sp.csc_matrix(own), pop, 3, np.arange(3), preferred)
    assert sorted(three.chosen) == [0, 1, 2] and three.served == 515.0


@pytest.mark.parametrize("text, level", [("二级甲等", 2.5), ("二甲", 2.5), ("二级乙等", 2.25), ("一级", 1.0),
                                         ("三级", 3.0), ("3A", 3.5), ("", np.nan), ("未定级", np.nan)])
def test_grade_levels(text, level):
    assert grade_level(text) == pytest.approx(level, nan_ok=True)
