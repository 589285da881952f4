"""Reductions that must not change an optimum: p-median and p-center on the pairs cheaper than a row's
nearest fixed site (and p-center below the greedy's worst cost), the backup-coverage model with the
fixed sites folded into constants; brute force on tiny instances, the untruncated model on larger ones.
The siting run routes once per rule, and every model reads the covering sets built from that run."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp

from coverage_planner import optimize as opt
from coverage_planner.optimize import backup, cost_models


def _random_cost(rng, n, m, holes=0.25, high=40):
    cost = rng.integers(0, high, (n, m)).astype(float)
    cost[rng.random((n, m)) < holes] = np.inf
    return cost


def _brute(cost, w, fixed, p):
    """(best p-median total, best p-center worst) over every choice of p free sites plus ``fixed``."""
    free = [j for j in range(cost.shape[1]) if j not in fixed]
    reach = np.isfinite(cost).any(axis=1) & (w > 0)
    medians, centers = [], []
    for c in itertools.combinations(free, p):
        near = cost[:, list(fixed) + list(c)].min(axis=1)[reach]
        if np.isfinite(near).all():
            medians.append(float(np.dot(w[reach], near)))
            centers.append(float(near.max()))
    return min(medians), min(centers)


@pytest.mark.parametrize("seed", range(6))
def test_truncated_cost_models_match_brute_force_with_fixed_sites(seed):
    rng = np.random.default_rng(300 + seed)
    n, m, p = 14, 7, 2
    cost = _random_cost(rng, n, m)
    fixed = sorted(rng.choice(m, 2, replace=False).tolist())
    cost[:, fixed[0]] = np.where(np.isinf(cost[:, fixed[0]]) & (rng.random(n) < 0.5), 35.0, cost[:, fixed[0]])
    cost[:, 6 if 6 not in fixed else 5] = np.where(np.isinf(cost[:, 6 if 6 not in fixed else 5]), 38.0,
                                                   cost[:, 6 if 6 not in fixed else 5])  # every row reachable
    w = rng.integers(0, 9, n).astype(float)
    med, cen = _brute(cost, w, fixed, p)
    s = opt.p_median(cost, w, p, fixed=fixed)
    assert s.objective == pytest.approx(med) and s.bound == pytest.approx(med)
    assert set(fixed) <= set(s.selected.tolist())
    c = opt.p_center(cost, p, fixed=fixed, weights=w)
    assert c.objective == pytest.approx(cen) and c.bound == pytest.approx(cen)


def _untruncated(M, fixed_mask, bound=np.inf):
    """The identity in place of ``truncate_at_fixed``: every pair kept, no row settled."""
    return sp.csr_matrix(M), np.zeros(M.shape[0], bool)


@pytest.mark.parametrize("seed", range(3))
def test_truncated_cost_models_equal_the_untruncated_model(seed, monkeypatch):
    rng = np.random.default_rng(400 + seed)
    n, m, p = 400, 30, 3
    xy_d, xy_s = rng.uniform(0, 10, (n, 2)), rng.uniform(0, 10, (m, 2))
    cost = np.round(np.hypot(*(xy_d[:, None, :] - xy_s[None, :, :]).transpose(2, 0, 1)), 2)
    cost[cost > 5.0] = np.inf                      # a loose limit, as the siting problem has
    w = rng.gamma(1.0, 50.0, n) * (rng.random(n) > 0.2)
    fixed = [0, 1, 2]
    truncated = (opt.p_median(cost, w, p, fixed=fixed), opt.p_center(cost, p, fixed=fixed, weights=w))
    monkeypatch.setattr(cost_models, "truncate_at_fixed", _untruncated)
    full = (opt.p_median(cost, w, p, fixed=fixed), opt.p_center(cost, p, fixed=fixed, weights=w))
    for a, b in zip(truncated, full):
        assert a.status == b.status
        assert a.objective == pytest.approx(b.objective, rel=1e-9)
        assert a.bound == pytest.approx(b.bound, rel=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_truncation_keeps_every_row_minimum_of_every_open_set_with_the_fixed_sites(seed):
    rng = np.random.default_rng(500 + seed)
    n, m = 30, 8
    dense = _random_cost(rng, n, m, holes=0.4, high=10)   # many ties
    fixed_mask = np.zeros(m, bool)
    fixed_mask[[1, 4]] = True
    M = opt.sparse.as_cost(dense)
    T, settled = cost_models.truncate_at_fixed(M, fixed_mask)
    assert T.nnz < M.nnz
    for c in itertools.combinations(np.flatnonzero(~fixed_mask), 3):
        is_open = fixed_mask.copy()
        is_open[list(c)] = True
        assert np.array_equal(cost_models._row_min(T, is_open)[0], cost_models._row_min(M, is_open)[0])
    # a settled row keeps one pair, its nearest fixed site, whatever is open
    assert (np.diff(T.indptr)[settled] == 1).all() and fixed_mask[T.indices[T.indptr[:-1][settled]]].all()
    # with a bound: nothing above it
    B, _ = cost_models.truncate_at_fixed(M, fixed_mask, bound=5.0)
    assert (B.data <= 5.0).all()


@pytest.mark.parametrize("seed,max_per_site", [(0, 1), (1, 1), (2, 1), (3, 2), (4, 2)])
def test_backup_coverage_with_fixed_sites_matches_brute_force(seed, max_per_site):
    rng = np.random.default_rng(600 + seed)
    n, m, p, alpha = 12, 6, 2, 0.5
    strict = (rng.random((n, m)) < 0.3).astype(int)
    loose = np.maximum(strict, (rng.random((n, m)) < 0.5).astype(int))
    w = rng.integers(1, 20, n).astype(float)
    fixed = [0, 3]
    reach = loose.any(axis=1)
    feasible = []
    free = [j for j in range(m) if j not in fixed] if max_per_site == 1 else list(range(m))
    for c in itertools.combinations_with_replacement(free, p):
        x = np.bincount(list(fixed) + list(c), minlength=m)
        if (x > max_per_site).any():
            continue
        if (loose[reach] @ x >= 1).all() and w[reach & (strict @ x > 0)].sum() >= alpha * w[reach].sum():
            feasible.append(float(w[reach & (loose @ x >= 2)].sum()))
    if not feasible:
        with pytest.raises(ValueError):
            opt.backup_coverage(strict, loose, w, p, alpha=alpha, fixed=fixed, max_per_site=max_per_site)
        return
    s = opt.backup_coverage(strict, loose, w, p, alpha=alpha, fixed=fixed, max_per_site=max_per_site)
    assert s.objective == pytest.approx(max(feasible)) and s.bound == pytest.approx(max(feasible))
    assert set(fixed) <= set(s.selected.tolist())


def _weak_start(Ca, Cat, wa, q, lower, cap, p):
    """A poor MEXCLP start (every new ambulance at the last site), so that HiGHS must find the optimum."""
    counts = lower.copy()
    counts[-1] += p
    return counts


@pytest.mark.parametrize("seed,q", [(0, 0.3), (1, 0.5), (2, 0.0), (3, 0.8)])
@pytest.mark.parametrize("weak", [False, True])
def test_mexclp_with_fixed_ambulances_matches_brute_force(seed, q, weak, monkeypatch):
    """The levels the existing ambulances fill are a constant; only p more levels get variables."""
    if weak:
        monkeypatch.setattr(backup, "_mexclp_greedy", _weak_start)
    rng = np.random.default_rng(700 + seed)
    n, m, p = 10, 5, 3
    cover = (rng.random((n, m)) < 0.45).astype(int)
    w = rng.integers(1, 20, n).astype(float)
    fixed = [1, 3]
    best = max(float(np.sum(w * (1 - q ** (cover @ np.bincount(fixed + list(c), minlength=m)))))
               for c in itertools.combinations_with_replacement(range(m), p))
    s = opt.mexclp(cover, w, p, q, fixed=fixed)
    assert s.objective == pytest.approx(best) and s.bound == pytest.approx(best)
    assert int(s.counts.sum()) == p + len(fixed) and set(fixed) <= set(s.selected.tolist())


def test_mexclp_stacks_every_new_ambulance_on_the_heavy_row(monkeypatch):
    """Row 0 (100 people) sees the fixed site 0 and site 1; row 1 (1 person) only site 2. With q = 0.5
    both new ambulances go where row 0 sees them: 100 × (1 − 0.5³) = 87.5, not 100 × 0.75 + 0.5."""
    monkeypatch.setattr(backup, "_mexclp_greedy", _weak_start)     # HiGHS finds it, not the greedy
    s = opt.mexclp(np.array([[1, 1, 0], [0, 0, 1]]), np.array([100.0, 1.0]), 2, 0.5, fixed=[0])
    assert s.objective == pytest.approx(87.5) and s.bound == pytest.approx(87.5)
    assert 2 not in s.selected.tolist()
