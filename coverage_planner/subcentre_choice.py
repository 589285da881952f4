"""County medical sub-centres: own catchments, weighted ranking and the joint choice, on arrays.

Everything here works on numpy arrays and sparse matrices, without a scenario, so it can be used
(and tested) on a cost matrix of one's own, like spopt's ``from_cost_matrix``:

* :func:`catchment_criteria` — per candidate, the people it reaches within a time limit (gross
  reach) and the people for whom it would be the nearest of {the candidate, the existing
  hospitals} (its **own catchment**, county-seat residents excluded), with the criteria measured on
  that catchment;
* :func:`score` and :func:`rank_order` — the documented weighted combination of the criteria
  (:data:`CRITERIA`) and the order it gives; :func:`decisive` names the criterion that put each
  candidate above the next;
* :func:`choose_jointly` — the ``k`` candidates whose own catchments together serve the most people
  (overlaps counted once): exact by enumeration when there are at most :data:`MAX_ENUMERATED` sets,
  otherwise by marginal gain with a proven upper bound.

Ties: a cell whose travel time to the candidate equals its time to the nearest existing hospital
belongs to the hospital (the candidate must be strictly nearer). Time limits are inclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import scipy.sparse as sp

MAX_ENUMERATED = 200_000     # candidate sets examined one by one before falling back to marginal gain


@dataclass(frozen=True)
class Criterion:
    """One ranking criterion: the table column it reads and how it becomes points.

    ``points = weight × value / scale`` (``direction`` −1 subtracts); ``kind`` says how the value
    is turned into a number first: ``linear`` (NaN counts 0), ``flag`` (True = 1) or ``spare``
    (1 − value / scale, the share of the time limit to spare; NaN counts 0).
    """

    key: str                 # the [subcentres.weights] key
    column: str
    weight: float            # default weight (an assumption: the plans give none)
    scale: str               # "min_population", "minutes", or a number as text
    kind: str = "linear"
    direction: int = 1
    zh: str = ""
    en: str = ""
    source: str = ""
    lead_zh: str = ""        # how the reasons name an advantage on it (default: ``zh``)
    lead_en: str = ""


CRITERIA = (
    Criterion("population", "own_catchment_pop", 3.0, "min_population", zh="自有服务人口", en="own catchment",
              source="003 L305 辐射服务常住人口; 004 L331 人口数量、覆盖人口多"),
    Criterion("threshold", "meets_100k", 2.0, "1", "flag", zh="自有服务人口达到门槛",
              en="meets the population threshold", source="003 L305 10万以上"),
    Criterion("county_seat", "is_county_seat", 2.0, "1", "flag", -1, zh="位于县级政府驻地（不优先）",
              en="in the county seat (not preferred)", source="003 L305 优先支持…非县级政府驻地",
              lead_zh="不在县级政府驻地（优先支持）", lead_en="not being in the county seat (003 priority)"),
    Criterion("distance", "minutes_from_county_hospital", 0.5, "minutes", zh="距县城（县医院）车程",
              en="distance from the county seat", source="003 L305 非县级政府驻地; 004 L331 服务半径大"),
    Criterion("concentration", "settlement_concentration", 1.0, "1", zh="聚居程度", en="settlement concentration",
              source="004 L331 聚居程度"),
    Criterion("transport", "catchment_mean_minutes", 1.0, "minutes", "spare", zh="交通便捷程度",
              en="transport convenience", source="004 L331 交通便捷程度"),
    Criterion("radiation", "newly_covered_rural", 1.0, "min_population", zh="医疗辐射力（新纳入服务圈的农村人口）",
              en="medical reach (rural people newly within the limit)", source="004 L331 医疗辐射力"),
    Criterion("ems", "ems_gain_pop", 1.0, "min_population", zh="急救站点增益", en="EMS gain",
              source="004 L271 次中心设立医疗急救站延伸站点; L331 急救中心"),
    Criterion("beds", "beds", 0.5, "100", zh="床位", en="beds", source="003 L305 参照县级医院医疗服务能力; 004 L185–187"),
    Criterion("grade", "grade_level", 0.5, "1", zh="医院等级", en="hospital grade",
              source="001 L572 二级医疗机构水平; 004 L331 二级乙等/二级甲等"),
)
WEIGHT_KEYS = {c.key: c for c in CRITERIA}


# ------------------------------------------------------------------------------------ catchments

def _entries(times: sp.spmatrix, hospital_s: np.ndarray, candidate_hospital: np.ndarray | None):
    """(cell, candidate, time, rival time) per reached pair; the rival is the nearest existing hospital
    other than the candidate itself (candidates that are hospitals compete with each other)."""
    coo = sp.coo_matrix(times)
    rows, cols, vals = coo.row, coo.col, coo.data
    rival = np.asarray(hospital_s, float)[rows]
    mask = np.zeros(coo.shape[1], bool) if candidate_hospital is None else np.asarray(candidate_hospital, bool)
    if mask.any():
        hosp_cols = np.flatnonzero(mask)
        sub = sp.coo_matrix(sp.csc_matrix(times)[:, hosp_cols])
        dense = np.full((coo.shape[0], len(hosp_cols) + 1), np.inf)   # one spare inf column
        dense[sub.row, sub.col] = sub.data
        part = np.sort(dense, axis=1)
        first, second, which = part[:, 0], part[:, 1], hosp_cols[np.argmin(dense[:, :-1], axis=1)]
        other = np.where(mask[cols] & (which[rows] == cols), second[rows], first[rows])
        rival = np.minimum(rival, other)
    return rows, cols, vals, rival


def own_catchments(times: sp.spmatrix, hospital_s: np.ndarray, limit_s: float, counted: np.ndarray,
                   candidate_hospital: np.ndarray | None = None) -> sp.csc_matrix:
    """0/1 (cells × candidates) matrix of each candidate's own catchment.

    Parameters
    ----------
    times : sparse (cells × candidates)
        Travel time in seconds from each cell to each candidate; absent entries are unreached (an
        explicit 0 is a time of zero).
    hospital_s : ndarray (cells,)
        Time to the nearest existing hospital that is not a candidate (``inf`` where none reaches).
    limit_s : float
        The time limit in seconds (inclusive).
    counted : ndarray of bool (cells,)
        Cells whose people may count (False for county-seat residents).
    candidate_hospital : ndarray of bool (candidates,), optional
        Candidates that are themselves existing hospitals: they compete with each other's times.

    Returns
    -------
    scipy.sparse.csc_matrix
        1 where the candidate is within the limit and strictly nearer than every other existing
        hospital (a tie goes to the hospital).
    """
    rows, cols, vals, rival = _entries(times, hospital_s, candidate_hospital)
    keep = (vals <= limit_s) & (vals < rival) & np.asarray(counted, bool)[rows]
    return sp.csc_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=times.shape)


def within_limit(times: sp.spmatrix, limit_s: float) -> sp.csc_matrix:
    """0/1 (cells × candidates) matrix of the cells within ``limit_s`` of each candidate (gross reach)."""
    coo = sp.coo_matrix(times)
    keep = coo.data <= limit_s
    return sp.csc_matrix((np.ones(int(keep.sum())), (coo.row[keep], coo.col[keep])), shape=coo.shape)


def catchment_criteria(times: sp.spmatrix, hospital_s: np.ndarray, limit_s: float, pop: np.ndarray,
                       counted: np.ndarray, rural: np.ndarray, dense: np.ndarray,
                       candidate_hospital: np.ndarray | None = None) -> pd.DataFrame:
    """The time-dependent criteria of every candidate at one time limit.

    Parameters
    ----------
    times, hospital_s, limit_s, counted, candidate_hospital
        As in :func:`own_catchments`.
    pop : ndarray (cells,)
        People per cell.
    rural, dense : ndarray of bool (cells,)
        Rural-zone cells; cells at or above the urban density.

    Returns
    -------
    DataFrame, one row per candidate (in column order of ``times``)
        ``gross_reach_pop`` (everyone within the limit, county seat included), ``own_catchment_pop``,
        ``newly_covered_rural`` (rural people within the limit whom no other existing hospital
        reaches within it), ``settlement_concentration`` (share of the own catchment in dense cells),
        ``catchment_mean_minutes`` (the own catchment's population-weighted mean time to the centre).
    """
    n = times.shape[1]
    pop = np.asarray(pop, float)
    rows, cols, vals, rival = _entries(times, hospital_s, candidate_hospital)
    within = vals <= limit_s
    own = within & (vals < rival) & np.asarray(counted, bool)[rows]
    new = within & np.asarray(rural, bool)[rows] & ~(rival <= limit_s)
    total = lambda keep, w: np.bincount(cols[keep], weights=w[keep], minlength=n)  # noqa: E731
    people = pop[rows]
    own_pop = total(own, people)
    dense_pop = total(own & np.asarray(dense, bool)[rows], people)
    minutes_pop = total(own, people * vals / 60.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        conc = np.where(own_pop > 0, dense_pop / own_pop, np.nan)
        mean_min = np.where(own_pop > 0, minutes_pop / own_pop, np.nan)
    return pd.DataFrame({"gross_reach_pop": total(within, people), "own_catchment_pop": own_pop,
                         "newly_covered_rural": total(new, people), "settlement_concentration": conc,
                         "catchment_mean_minutes": mean_min})


# --------------------------------------------------------------------------------------- ranking

def _scale(criterion: Criterion, minutes: float, min_population: float) -> float:
    named = {"minutes": minutes, "min_population": min_population}
    return float(named[criterion.scale]) if criterion.scale in named else float(criterion.scale)


def score(frame: pd.DataFrame, weights: dict[str, float], minutes: float, min_population: float) -> pd.DataFrame:
    """Points per criterion (one column per criterion key) for every row of ``frame``.

    Parameters
    ----------
    frame : DataFrame
        The candidates with the criterion columns of :data:`CRITERIA` (missing columns count 0).
    weights : dict
        Weight per criterion key; keys not given take the criterion's default weight.
    minutes, min_population : float
        The scales named ``minutes`` and ``min_population``.

    Returns
    -------
    DataFrame
        One column per criterion key; the row sum is the candidate's score.
    """
    out = {}
    for c in CRITERIA:
        w = float(weights.get(c.key, c.weight))
        s = _scale(c, minutes, min_population)
        raw = frame[c.column].to_numpy(dtype=float) if c.column in frame else np.zeros(len(frame))
        if c.kind == "flag":
            value = (raw > 0).astype(float)
        elif c.kind == "spare":
            value = np.where(np.isfinite(raw), 1.0 - raw / s, 0.0)
        else:
            value = np.where(np.isfinite(raw), raw / s, 0.0)
        out[c.key] = c.direction * w * value
    return pd.DataFrame(out, index=frame.index)


def rank_order(points: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    """Row positions in rank order: higher score first, then facility id (only to break exact ties)."""
    total = np.round(points.sum(axis=1).to_numpy(dtype=float), 9)
    return np.lexsort((np.asarray(ids).astype(str), -total))


def decisive(points: pd.DataFrame) -> list[str]:
    """For rows in rank order: the criterion key whose points put each row above the next one.

    That is the criterion with the largest point advantage over the next row; ``"tie"`` when both
    scores are equal (the order then follows the facility id), ``""`` for the last row.
    """
    values = points.to_numpy(dtype=float)
    keys = list(points.columns)
    out = []
    for i in range(len(values)):
        if i == len(values) - 1:
            out.append("")
            continue
        diff = values[i] - values[i + 1]
        out.append("tie" if abs(diff.sum()) < 1e-9 else keys[int(np.argmax(diff))])
    return out


# ---------------------------------------------------------------------------------- joint choice

@dataclass
class Choice:
    """The chosen candidates, in the order of their marginal gain, and what the set serves."""

    chosen: list[int]          # candidate positions, each adding the most given those before it
    gains: list[float]         # people each adds to those before it
    served: float              # people served by the set (own catchments, overlaps counted once)
    bound: float               # no set of the same size serves more (= served when exact)
    exact: bool


def _patterns(own: sp.spmatrix, pop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows (which candidates hold a cell) with their people: cells with equal sets merge."""
    own = sp.csr_matrix(own)
    rows = np.flatnonzero(np.diff(own.indptr) > 0)
    dense = own[rows].toarray() > 0
    weights = np.asarray(pop, float)[rows]
    if len(rows) == 0:
        return np.zeros((0, own.shape[1]), bool), np.zeros(0)
    uniq, inverse = np.unique(dense, axis=0, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=weights, minlength=len(uniq))


def _served(patterns: np.ndarray, weights: np.ndarray, sets: np.ndarray) -> np.ndarray:
    """People served by each set (rows of candidate positions)."""
    out = np.empty(len(sets))
    chunk = max(1, 20_000_000 // max(1, patterns.shape[0] * max(1, sets.shape[1])))
    for start in range(0, len(sets), chunk):
        block = sets[start:start + chunk]
        hit = patterns[:, block].any(axis=2) if block.shape[1] else np.zeros((patterns.shape[0], len(block)), bool)
        out[start:start + chunk] = weights @ hit
    return out


def _greedy(patterns: np.ndarray, weights: np.ndarray, pool: list[int], k: int,
            base: np.ndarray) -> tuple[list[int], list[float], float]:
    """Marginal-gain order from ``pool`` on top of the covered cells ``base``, and a proven upper
    bound on what any ``k`` of the pool serve with ``base``: after each step, what is served plus the
    ``k`` largest marginal gains (coverage is submodular; Nemhauser, Wolsey and Fisher 1978)."""
    covered = base.copy()
    pool = list(pool)
    chosen, gains = [], []
    bound = np.inf
    for step in range(k + 1):
        gain = (weights * ~covered) @ patterns[:, pool] if pool else np.zeros(0)
        bound = min(bound, float(weights @ covered) + float(np.sort(gain)[::-1][:k].sum()))
        if step == k:
            break
        top = gain.max()
        best = pool[int(np.flatnonzero(gain >= top - 1e-9 * max(1.0, top))[0])]   # ties: best-ranked
        chosen.append(best)
        gains.append(float(gain[pool.index(best)]))
        covered |= patterns[:, best]
        pool.remove(best)
    return chosen, gains, bound


def _order_by_gain(patterns: np.ndarray, weights: np.ndarray, members: list[int],
                   base: np.ndarray) -> tuple[list[int], list[float]]:
    chosen, gains, _ = _greedy(patterns, weights, list(members), len(members), base)
    return chosen, gains


def choose_jointly(own: sp.spmatrix, pop: np.ndarray, k: int, order: np.ndarray,
                   preferred: np.ndarray | None = None) -> Choice:
    """Choose ``k`` candidates whose own catchments together serve the most people.

    Parameters
    ----------
    own : sparse (cells × candidates)
        Own catchments (:func:`own_catchments`).
    pop : ndarray (cells,)
        People per cell.
    k : int
        How many to choose (at most the number of candidates).
    order : ndarray
        Candidate positions in rank order: among sets serving equally many people, the one whose
        members rank best (lexicographically) is chosen.
    preferred : ndarray of bool, optional
        Candidates to choose from first (003 L305 优先支持 towns that are not the county seat): if there
        are at most ``k`` of them they are all chosen and the rest come from the others; otherwise
        only they are considered.

    Returns
    -------
    Choice
        Exact (every set enumerated) when there are at most :data:`MAX_ENUMERATED` sets; otherwise
        chosen by marginal gain, with ``bound`` the proven most any set of ``k`` could serve.
    """
    n = own.shape[1]
    if not 0 <= k <= n:
        raise ValueError(f"k = {k} but there are {n} candidates")
    patterns, weights = _patterns(own, pop)
    preferred = np.ones(n, bool) if preferred is None else np.asarray(preferred, bool)
    ranked = [int(i) for i in order]
    first = [i for i in ranked if preferred[i]]
    others = [i for i in ranked if not preferred[i]]
    fixed, pool, need = ([], first, k) if len(first) >= k else (first, others, k - len(first))
    base = patterns[:, fixed].any(axis=1) if fixed else np.zeros(len(weights), bool)
    if math.comb(len(pool), need) <= MAX_ENUMERATED:
        sets = np.array(list(combinations(pool, need)), dtype=np.int64).reshape(-1, need)
        full = np.hstack([np.tile(np.array(fixed, dtype=np.int64), (len(sets), 1)), sets])
        served = _served(patterns, weights, full)
        top = served.max()
        pick = int(np.flatnonzero(served >= top - 1e-9 * max(1.0, top))[0])   # first = best-ranked members
        members = [int(i) for i in full[pick]]
        chosen, gains = _order_by_gain(patterns, weights, members, np.zeros(len(weights), bool))
        return Choice(chosen, gains, float(top), float(top), True)
    chosen, gains, bound = _greedy(patterns, weights, pool, need, base)
    members = fixed + chosen
    chosen, gains = _order_by_gain(patterns, weights, members, np.zeros(len(weights), bool))
    served = float(sum(gains))
    return Choice(chosen, gains, served, max(bound, served), False)
