"""Where do new ambulance stations go? ``coverage-planner site SCENARIO``.

Covering sets come from bounded Dijkstra runs from every candidate site (existing stations plus new
candidates) on the same network, rule and zone thresholds as the coverage check; the models are the
exact HiGHS formulations of :mod:`coverage_planner.optimize`:

* LSCP — the fewest new stations so that every populated cell meets its zone's rule;
* MCLP — the best ``p`` new stations for covered population;
* p-median — minimise population-weighted travel (cost within the loose limit);
* p-center — minimise the worst travel;
* MEXCLP (Daskin 1983) — ``p`` new ambulances when each is busy a fraction of the time;
* double standard (Gendreau, Laporte & Semet 1997) — cover twice within a looser standard.

Existing stations stay open. ``--relocate`` (``[siting] relocate = true``) lets the models close the
stations that are not fixed and open new sites instead: a station is fixed when the facility layer's
``fixed`` column says so, and by default (empty or no column) the main EMS centre (the station
named 急救中心 with the most ambulances, else the one with the most ambulances) and every station with
ambulances > 0 are fixed; write ``fixed = false`` to let one move. In every mode ``p`` counts the
stations added: the network ends with the existing stations plus ``p`` (each closed station frees a
new site); closed stations are listed in ``siting.csv`` with status ``closed``. Candidates are a layer
(``[siting] candidates_path``, or facility types such as township health centres), generated
road-network nodes at a spacing (``candidates = "network"``), or both. Settings live in the
scenario's ``[siting]`` table (see ``SETTINGS``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from . import coverage as cov
from . import optimize as opt
from . import settings_check as sc
from .candidates import read_candidates
from .errors import InputError, raise_all
from .facility_types import has_role
from .layers import LayerSpec
from .pipeline import check_scenario_out_dir
from .progress import Steps
from .region import Region, load_region
from .scenario import Scenario, load_scenario
from .sensitivity import scaled_model
from .standards import Rule
from .travel import Snapped

MODELS = ("lscp", "mclp", "p_median", "p_center", "mexclp", "dsm")
# The [siting] table: key, what it must be, default, fix (checked by settings_check.check_table).
FIELDS = (
    sc.Field("rule", sc.text, "a rule id", 'e.g. rule = "ems_radius".', "ems_radius",
             "the spatial rule whose zone thresholds define coverage"),
    sc.Field("candidates", sc.one_of(("network", "layer", "both")), "a candidate source: network, layer or both",
             "use network, layer or both.", "both", "where candidate sites come from"),
    sc.Field("candidates_path", lambda v: v is None or isinstance(v, str), "a file path",
             'e.g. candidates_path = "plots.geojson".', None,
             "a point layer of proposed plots (GeoJSON/GPKG/Shapefile, CSV or Excel with 经度/纬度)"),
    sc.Field("candidate_types", sc.list_of(sc.text), "a list of facility types", 'e.g. candidate_types = ["thc"].',
             [], "existing facility types that may host a station",
             prepare=lambda v: [v] if isinstance(v, str) else v),
    sc.Field("spacing_m", sc.positive, "a positive number of metres", "e.g. spacing_m = 1000.", 1000.0,
             "generated candidates: one road node per square of this size"),
    sc.Field("p", sc.whole(1), "a whole number of at least 1", "e.g. p = 3 (or -p 3 on the command line).", 3,
             "new stations for MCLP, p-median, p-center, MEXCLP, DSM"),
    sc.Field("busy_fraction", sc.between(0, 1, high_open=True), "at least 0 and below 1",
             "e.g. busy_fraction = 0.3 (busy 30% of the time).", 0.3, "MEXCLP: share of time an ambulance is busy"),
    sc.Field("loose_factor", sc.at_least(1), "a number of at least 1",
             "e.g. loose_factor = 1.5 (the loose standard is 1.5 × the rule's).", 1.5,
             "DSM and p-median: loose standard = strict × this"),
    sc.Field("alpha", sc.between(0, 1, low_open=True), "above 0 and at most 1",
             "e.g. alpha = 0.9 (90% of people within the strict standard).", 0.9,
             "DSM: share of people covered within the strict standard"),
    sc.Field("relocate", sc.boolean, "true or false", "write relocate = true or false.", False,
             "let existing stations move"),
    sc.Field("time_limit_s", sc.positive, "a positive number of seconds", "e.g. time_limit_s = 60.", 60.0,
             "the solver's time limit per model"),
    sc.Field("apply", sc.one_of(MODELS), f"one of {', '.join(MODELS)}", f"use one of {', '.join(MODELS)}.", "lscp",
             "the model whose sites go into the proposed scenario",
             prepare=lambda v: v.strip().lower().replace("-", "_") if isinstance(v, str) else v),  # "p-median" too
    sc.Field("per", lambda v: v is None or v == "county", 'per = "county"',
             'write per = "county" (one problem per county_id of the units), or leave it out.', None,
             "\"county\": one problem per county (site --per county)"),
)
SETTINGS = {f.key: f.default for f in FIELDS}   # the defaults


@dataclass
class SitingProblem:
    """Candidates (existing stations first) and the sparse matrices of the models."""

    rule: Rule
    candidates: gpd.GeoDataFrame
    n_existing: int
    cover: sp.csr_matrix          # cells × candidates: within the cell's zone limit
    cover_loose: sp.csr_matrix    # within limit × loose_factor
    cost: sp.csr_matrix           # the rule's measure (m or s) for pairs within the loose limit
    weights: np.ndarray
    fixed: np.ndarray
    limit: np.ndarray             # per cell


@dataclass
class SitingResult:
    scenario: Scenario
    region: Region
    problem: SitingProblem
    settings: dict
    solutions: dict = field(default_factory=dict)
    curve: np.ndarray | None = None


def read_settings(scn: Scenario, overrides: dict | None = None, models: list[str] | None = None) -> dict:
    """The ``[siting]`` table merged over the defaults and ``overrides`` (command-line values), with
    every setting checked (:data:`FIELDS`); ``p`` only matters (and is only checked) when a p-model is
    among ``models``.

    Raises
    ------
    InputError
        Every unknown key and every value out of range, at once.
    """
    given = {k: v for k, v in (overrides or {}).items() if v is not None}   # on the command line
    table = {**dict(scn.raw.get("siting", {})), **given}
    apply = next(f for f in FIELDS if f.key == "apply")
    needs_p = any(m != "lscp" for m in [*(models or MODELS), apply.prepare(table.get("apply", apply.default))])

    def where(key: str) -> str:
        return f"--{key} (command line)" if key in given else f"siting.{key}"

    settings, errors = sc.check_table(table, FIELDS, section="siting", file=scn.path, where=where,
                                      skip=() if needs_p else ("p",))
    raise_all(errors + unused_settings(table, settings["candidates"], scn.path))
    return settings


# The [siting] keys that only one candidate source uses: given with the other source they change nothing.
LAYER_KEYS = ("candidates_path", "candidate_types")
NETWORK_KEYS = ("spacing_m",)


def unused_settings(table: dict, candidates: str, file: object) -> list[InputError]:
    """The refusals for [siting] keys that the candidate source ``candidates`` does not use:
    ``candidates_path``/``candidate_types`` with ``"network"``, ``spacing_m`` with ``"layer"``.

    Parameters
    ----------
    table : dict
        The [siting] table as written.
    candidates : str
        The checked candidate source: network, layer or both.
    file : path
        The scenario, for the messages.
    """
    if candidates == "network":
        return sc.unused_keys(table, LAYER_KEYS, when='candidates = "network" (sites on the road network only)',
                              section="siting", file=file,
                              fix='set candidates = "both" (road network and layer) or "layer" to use it, or '
                                  "remove the key.")
    if candidates == "layer":
        return sc.unused_keys(table, NETWORK_KEYS, when='candidates = "layer" (no sites generated on the roads)',
                              section="siting", file=file,
                              fix='set candidates = "both" (road network and layer) or "network" to use it, or '
                                  "remove the key.")
    return []


def applied_model(scn: Scenario, settings: dict, models: list[str]) -> str:
    """The model whose sites go into the proposed scenario: ``[siting] apply`` when it is among the
    models run, else the first model run; only the models asked for are solved.

    Raises
    ------
    InputError
        ``apply`` was set in the scenario to a model that is not among ``models``.
    """
    if settings["apply"] in models:
        return settings["apply"]
    if "apply" in scn.raw.get("siting", {}):
        raise InputError(f"apply = {settings['apply']!r} but only {', '.join(models)} "
                         f"{'is' if len(models) == 1 else 'are'} solved (--models).", file=scn.path,
                         field="siting.apply", fix=f"add {settings['apply']} to --models, or set apply to one "
                         f"of {', '.join(models)}.")
    return models[0]


def siting_rule(scn: Scenario, settings: dict) -> Rule:
    """The spatial rule that defines coverage for siting."""
    try:
        rule = scn.profile.rule(settings["rule"])
    except KeyError:
        raise InputError(f"rule '{settings['rule']}' is not in the {scn.profile.id} profile.", file=scn.path,
                         field="siting.rule", fix="name a radius or travel_time rule of the profile, e.g. "
                         "ems_radius.") from None
    if rule.kind not in ("radius", "travel_time"):
        raise InputError(f"rule '{rule.id}' is a {rule.kind} rule; siting needs a radius or travel_time rule.",
                         file=scn.path, field="siting.rule", fix="e.g. rule = \"ems_radius\".")
    return rule


def network_candidates(model: cov.TravelModel, region: Region, spacing: float,
                       existing_xy: np.ndarray) -> gpd.GeoDataFrame:
    """One road node of the routable core per ``spacing`` square, inside the region, away from stations."""
    nodes = np.unique(np.concatenate([model.net.seg_a[model.snappable], model.net.seg_b[model.snappable]]))
    x, y = model.net.node_x[nodes], model.net.node_y[nodes]
    inside = shapely.contains_xy(region.region, x, y)
    nodes, x, y = nodes[inside], x[inside], y[inside]
    gx, gy = np.floor(x / spacing + 0.5), np.floor(y / spacing + 0.5)   # squares centred on multiples
    off = np.hypot(x - gx * spacing, y - gy * spacing)
    order = np.lexsort((nodes, off, gy, gx))
    first = order[np.r_[True, (np.diff(gx[order]) != 0) | (np.diff(gy[order]) != 0)]]
    keep = first
    if len(existing_xy):
        from scipy.spatial import cKDTree

        dist, _ = cKDTree(existing_xy).query(np.column_stack([x[keep], y[keep]]))
        keep = keep[dist > spacing / 2]
    keep = np.sort(keep)
    return gpd.GeoDataFrame({"candidate_id": [f"N{int(n)}" for n in nodes[keep]], "name": "",
                             "name_en": [f"road node {int(n)}" for n in nodes[keep]], "source": "network"},
                            geometry=gpd.points_from_xy(x[keep], y[keep]), crs=region.crs)


def layer_candidates(scn: Scenario, region: Region, settings: dict) -> gpd.GeoDataFrame:
    """Candidates from the planner's layer and from existing facilities of the named types."""
    parts = []
    if settings.get("candidates_path"):
        spec = LayerSpec(path=(scn.path.parent / settings["candidates_path"]).resolve(), key="siting.candidates_path",
                         coords=scn.facilities.coords)
        frame = read_candidates(spec, region.region, region.crs,
                                empty_fix="give at least one candidate site, or use candidates = \"network\".")
        parts.append(frame.assign(source="layer")[["candidate_id", "name", "name_en", "source", "geometry"]])
    types = list(settings.get("candidate_types") or [])
    fac = region.facilities
    hosts = fac[has_role(fac["type"], types)]
    if len(hosts):
        parts.append(gpd.GeoDataFrame({"candidate_id": hosts["facility_id"].to_numpy(),
                                       "name": hosts["name"].to_numpy(), "name_en": hosts["name_en"].to_numpy(),
                                       "source": "layer"}, geometry=hosts.geometry.to_numpy(), crs=region.crs))
    if not parts:
        return gpd.GeoDataFrame({"candidate_id": [], "name": [], "name_en": [], "source": []}, geometry=[],
                                crs=region.crs)
    return pd.concat(parts, ignore_index=True)


@dataclass
class SitingInputs:
    """What every siting problem on a region is built from: the rule, its travel model, the snapped
    candidates (existing stations first) and the offsets and thresholds per cell.

    ``is_ems`` marks the region's facilities that are existing stations of the rule (``ems`` those
    rows); ``src_offset``/``dst_offset`` are the candidates' and cells' access legs (metres for a
    radius rule, seconds with turnout for a time rule); ``limit`` is each cell's threshold (0 where
    the rule does not apply, ``applies`` False).
    """

    rule: Rule
    model: cov.TravelModel
    candidates: gpd.GeoDataFrame
    is_ems: np.ndarray
    ems: pd.DataFrame
    snap: Snapped
    src_offset: np.ndarray
    dst_offset: np.ndarray
    limit: np.ndarray
    applies: np.ndarray

    @property
    def n_existing(self) -> int:
        """Existing stations: the first rows of ``candidates``."""
        return len(self.ems)


def siting_inputs(scn: Scenario, region: Region, settings: dict, steps: Steps) -> SitingInputs:
    """The travel model, the candidates (existing stations, the layer, generated road nodes) snapped to
    its routable core, and the offsets and thresholds of the siting rule.

    Raises
    ------
    InputError
        No candidate besides the existing stations, or a candidate farther from the roads than
        ``[travel] facility_max_access_m``.
    """
    rule = siting_rule(scn, settings)
    fac = region.facilities
    cells = region.cells
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    with steps.step(f"Snapping to roads, profile '{rule.travel_profile}'"):
        model = cov.build_travel_model(region.roads, rule.travel_profile, scn.travel_overrides.get(rule.travel_profile),
                                       x, y, fac, scn.facility_max_access_m, scn.facilities.path,
                                       max_access_m=scn.profile.max_access_m)
    is_ems = np.asarray(has_role(fac["type"], rule.facility_types))
    ems = fac[is_ems]
    existing = gpd.GeoDataFrame({"candidate_id": ems["facility_id"].to_numpy(), "name": ems["name"].to_numpy(),
                                 "name_en": ems["name_en"].to_numpy(), "source": "existing"},
                                geometry=ems.geometry.to_numpy(), crs=region.crs)
    parts = [existing]
    if settings["candidates"] in ("layer", "both"):
        parts.append(layer_candidates(scn, region, settings))
    if settings["candidates"] in ("network", "both"):
        parts.append(network_candidates(model, region, float(settings["spacing_m"]),
                                        np.column_stack([existing.geometry.x, existing.geometry.y])))
    cand = pd.concat(parts, ignore_index=True).drop_duplicates("candidate_id").reset_index(drop=True)
    cand = gpd.GeoDataFrame(cand, geometry="geometry", crs=region.crs)
    if len(cand) == len(existing):
        raise InputError("there are no candidate sites for new stations.", file=scn.path, field="siting.candidates",
                         fix="set candidates = \"network\" or \"both\", or give candidates_path / candidate_types.")
    csnap = cov.snap_sites(model, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy(),
                           cand["candidate_id"].to_numpy(), scn.facility_max_access_m, what=("candidate site", "candidate sites"),
                           file=(scn.path.parent / settings["candidates_path"]).resolve()
                           if settings.get("candidates_path") else scn.path, field="siting.candidates_path")
    limit = cov.cell_thresholds(rule, cells["zone"].to_numpy())
    applies = np.isfinite(limit)
    limit = np.where(applies, limit, 0.0)
    if rule.kind == "radius":
        src_off, dst_off = csnap.access_m, model.cell_snap.access_m
    else:
        turnout = scn.profile.default_turnout_min * 60.0 if rule.include_turnout else 0.0
        turn = np.full(len(cand), turnout)
        if rule.include_turnout:
            by_id = dict(zip(fac["facility_id"], cov.turnout_seconds(fac, scn.profile)))
            turn = np.array([by_id.get(c, turnout) for c in cand["candidate_id"]])
        src_off = turn + csnap.access_m / model.access_mps
        dst_off = model.cell_snap.access_m / model.access_mps
    return SitingInputs(rule, model, cand, is_ems, ems, csnap, np.asarray(src_off, float), np.asarray(dst_off, float),
                        limit, applies)


def build_problem(scn: Scenario, region: Region, settings: dict, steps: Steps) -> tuple[SitingProblem, cov.TravelModel]:
    """Candidates and the covering and cost matrices, from bounded runs on the rule's network."""
    inp = siting_inputs(scn, region, settings, steps)
    rule, model, cand, cells, limit = inp.rule, inp.model, inp.candidates, region.cells, inp.limit
    loose = float(settings["loose_factor"])
    weight = "length" if rule.kind == "radius" else "time"
    with steps.step(f"Covering sets: {len(cand)} candidates × {len(cells)} cells"):
        if rule.kind == "radius" and rule.measure == "straight_line":
            cost = straight_cost(cand, cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy(), limit.max() * loose)
        else:
            cost = model.router(rule.direction, weight).bounded(inp.snap, inp.src_offset, model.cell_snap,
                                                                 inp.dst_offset, float(limit.max() * loose))
        cost = keep_within(cost, limit * loose)
    fixed = np.flatnonzero(fixed_stations(inp.ems, bool(settings["relocate"])))
    weights = np.where(inp.applies, cells["population"].to_numpy(dtype=float), 0.0)  # people the rule covers
    problem = SitingProblem(rule, cand, inp.n_existing, within(cost, limit), within(cost, limit * loose), cost,
                            weights, fixed, limit)
    return problem, model


def fixed_stations(ems: pd.DataFrame, relocate: bool) -> np.ndarray:
    """Which existing stations every model must keep open (boolean, in the order of ``ems``).

    Without ``relocate`` all of them. With it, the facility layer's ``fixed`` column where given, and
    elsewhere the default: the main EMS centre (:func:`main_centre`) and every station with
    ambulances > 0.
    """
    n = len(ems)
    if not relocate:
        return np.ones(n, dtype=bool)
    explicit = ems["fixed"].to_numpy(dtype=float) if "fixed" in ems else np.full(n, np.nan)
    default = ems["ambulances"].to_numpy(dtype=float) > 0
    if n:
        default[main_centre(ems)] = True
    return np.where(np.isnan(explicit), default, explicit == 1.0)


def main_centre(ems: pd.DataFrame) -> int:
    """Position of the main EMS centre: the station named 急救中心 (or "emergency centre") with the
    most ambulances, else the station with the most ambulances; the first in the layer on ties."""
    amb = ems["ambulances"].to_numpy(dtype=float)
    names = (ems["name"].astype(str) + " " + ems["name_en"].astype(str)).str.lower()
    centre = names.str.contains("急救中心|emergency cent", regex=True).to_numpy()
    pool = np.flatnonzero(centre) if centre.any() else np.arange(len(ems))
    return int(pool[np.argmax(amb[pool])])


def straight_cost(cand: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray, radius: float) -> sp.csr_matrix:
    """Straight-line distances (m) of cells at ``x``, ``y`` (rows) to the candidates (columns), within
    ``radius``."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([cand.geometry.x, cand.geometry.y]))
    return cKDTree(np.column_stack([x, y])).sparse_distance_matrix(tree, radius, output_type="coo_matrix").tocsr()


def _row_of_entries(mat: sp.csr_matrix) -> np.ndarray:
    return np.repeat(np.arange(mat.shape[0]), np.diff(mat.indptr))


def keep_within(mat: sp.csr_matrix, row_limit: np.ndarray) -> sp.csr_matrix:
    """The entries at most their row's limit (inclusive; explicit zeros kept)."""
    rows = _row_of_entries(mat)
    keep = mat.data <= row_limit[rows] + 1e-9
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=mat.shape[0]))])
    return sp.csr_matrix((mat.data[keep], mat.indices[keep], indptr), shape=mat.shape)


def binary(mat: sp.csr_matrix) -> sp.csr_matrix:
    """The 0/1 matrix of ``mat``'s stored entries (zero costs included)."""
    return sp.csr_matrix((np.ones(mat.nnz), mat.indices, mat.indptr), shape=mat.shape)


def within(cost: sp.csr_matrix, row_limit: np.ndarray) -> sp.csr_matrix:
    """0/1 covering matrix: the entries within their row's limit (inclusive)."""
    return binary(keep_within(cost, row_limit))


def solve_models(problem: SitingProblem, settings: dict, models: list[str], steps: Steps) -> dict:
    """Run the requested models; returns {model: Solution}."""
    p = settings["p"] + (problem.n_existing - len(problem.fixed))   # relocated stations are not lost
    w, limit_s = problem.weights, float(settings["time_limit_s"])
    fixed = problem.fixed
    out: dict[str, opt.Solution] = {}
    runners = {
        "lscp": lambda: opt.lscp(problem.cover, w, fixed=fixed, time_limit=limit_s),
        "mclp": lambda: opt.mclp(problem.cover, w, p, fixed=fixed, time_limit=limit_s),
        "p_median": lambda: opt.p_median(problem.cost, w, p, fixed=fixed, time_limit=limit_s,
                                         seed=np.arange(problem.n_existing)),   # moved stations as a start
        "p_center": lambda: opt.p_center(problem.cost, p, fixed=fixed, time_limit=limit_s, weights=w),
        "mexclp": lambda: opt.mexclp(problem.cover, w, p, float(settings["busy_fraction"]), fixed=fixed,
                                     time_limit=limit_s),
        "dsm": lambda: opt.backup_coverage(problem.cover, problem.cover_loose, w, p,
                                           alpha=float(settings["alpha"]), fixed=fixed, time_limit=limit_s),
    }
    for name in models:
        with steps.step(f"Solving {name}"):
            try:
                out[name] = runners[name]()
            except opt.SitingModelError as exc:
                raise model_error(name, exc, settings, len(problem.candidates) - len(fixed)) from None
    return out


def model_error(name: str, exc: Exception, settings: dict, n_free: int) -> InputError:
    """The message for a model that gave no answer, naming the setting that can change that.

    Parameters
    ----------
    name : str
        The model as the ``site`` command names it (``p_median``).
    exc : SitingModelError
        What the optimiser raised: :class:`BadP`, :class:`InfeasibleModel`, :class:`SolverTimeLimit`
        or :class:`SolverFailure`.
    settings : dict
        The ``[siting]`` settings in force (``p``, ``time_limit_s``).
    n_free : int
        Candidate sites that can take a new station.
    """
    p, limit = settings["p"], settings["time_limit_s"]
    if isinstance(exc, opt.BadP):
        return InputError(f"{name}: {exc}", field="siting.p",
                          fix=f"choose p between 1 and {exc.room if exc.room is not None else n_free} (the free "
                              "candidate sites), or add candidates (spacing_m, candidates_path).")
    if isinstance(exc, opt.InfeasibleModel):
        return InputError(f"{name}: {exc}", field="siting.p",
                          fix=f"raise p (now {p}), raise loose_factor or lower alpha, or add candidate sites.")
    if isinstance(exc, opt.SolverTimeLimit):
        return InputError(f"{name}: no answer within the time limit of {limit:g} s: {exc}", field="siting.time_limit_s",
                          fix="raise time_limit_s, use fewer candidates (a larger spacing_m) or larger population "
                              "cells (cell_size_m), or leave this model out (--models).")
    return InputError(f"{name}: the solver failed: {exc}", field="siting",
                      fix="leave this model out (--models) or change the candidates; if it persists, report it "
                          "with the scenario.")


def covered_population(problem: SitingProblem, open_cols: np.ndarray) -> float:
    """People within their zone's limit of at least one open site."""
    if len(open_cols) == 0:
        return 0.0
    hit = np.asarray(problem.cover[:, open_cols].sum(axis=1)).ravel() > 0
    return float(problem.weights[hit].sum())


def site_table(result: SitingResult, per_people: float, min_count: float) -> pd.DataFrame:
    """One row per model and site: new (in order of the people each adds), existing, or closed (an
    existing station a ``--relocate`` model does not keep), with where the site is on the ground
    (:mod:`coverage_planner.siting_report`), the people it adds and serves, the mean and worst travel
    to it (``mean_km``/``max_km`` for a radius rule, ``mean_minutes``/``max_minutes`` for a time rule)
    and the ambulances it needs."""
    unit, scale = cost_unit(result.problem.rule)
    columns = ["model", "status", "order", "candidate", "gain_people", "served_people", f"mean_{unit}",
               f"max_{unit}", "ambulances_needed", "model_status", "gap"]
    rows = [row for name, sol in result.solutions.items()
            for row in _model_rows(result.problem, name, sol, unit, scale, per_people, min_count)]
    return _with_places(result, pd.DataFrame(rows, columns=columns))


def _model_rows(prob: SitingProblem, name: str, sol: opt.Solution, unit: str, scale: float, per_people: float,
                min_count: float) -> list[dict]:
    """The rows of one model: new sites in greedy order, kept existing stations, closed ones."""
    open_cols = np.asarray(sol.selected, dtype=int)
    new = [int(c) for c in open_cols if c >= prob.n_existing]
    base = [int(c) for c in open_cols if c < prob.n_existing]
    closed = sorted(set(range(prob.n_existing)) - set(base))
    served, mean, worst = _served(prob, open_cols)
    order, gained = _marginal_order(prob, base, new)
    entries = ([(c, "new", k, g) for k, (c, g) in enumerate(zip(order, gained), start=1)]
               + [(c, "existing", 0, 0.0) for c in base] + [(c, "closed", 0, 0.0) for c in closed])
    rows = []
    for c, kind, rank, gain in entries:
        pop = float(served[c]) if kind != "closed" else 0.0
        rows.append({"model": name, "status": kind, "order": rank, "candidate": c,
                     "gain_people": round(gain, 3), "served_people": round(pop, 3),
                     f"mean_{unit}": round(float(mean[c]) * scale, 3) if pop > 0 else np.nan,
                     f"max_{unit}": round(float(worst[c]) * scale, 3) if pop > 0 else np.nan,
                     "ambulances_needed": int(math.ceil(pop * min_count / per_people - 1e-9)) if pop > 0 else 0,
                     "model_status": model_status(sol), "gap": sol.gap})
    return rows


def cost_unit(rule: Rule) -> tuple[str, float]:
    """The unit of the rule's measure in column names, and the factor from metres or seconds to it."""
    return ("km", 1e-3) if rule.kind == "radius" else ("minutes", 1 / 60)


def _with_places(result: SitingResult, table: pd.DataFrame) -> pd.DataFrame:
    """The site rows with the candidate's ids, names, lon/lat, road and township (siting_report)."""
    from .siting_report import local_lonlat, nearest_road, readable_ids, townships, wgs84_lonlat

    prob = result.problem
    cand = prob.candidates
    used = np.unique(table["candidate"].to_numpy(dtype=int))
    x, y = cand.geometry.x.to_numpy()[used], cand.geometry.y.to_numpy()[used]
    lon, lat = wgs84_lonlat(x, y, result.region.crs)
    road, road_m = nearest_road(result.region.roads, x, y)
    places = townships(result.region.units, x, y)
    ids = cand["candidate_id"].astype(str).to_numpy()[used]
    site_id = readable_ids(places["township"], x, y, used >= prob.n_existing, ids)
    info = pd.DataFrame({"candidate": used, "site_id": site_id, "candidate_id": ids,
                         "name": cand["name"].to_numpy()[used], "name_en": cand["name_en"].to_numpy()[used],
                         "source": cand["source"].to_numpy()[used], **places, "road": road, "road_m": road_m,
                         "lon": lon, "lat": lat, **local_lonlat(lon, lat, result.scenario.facilities.coords),
                         "x": x, "y": y})
    merged = table.merge(info, on="candidate", how="left", sort=False)
    front = ["model", "status", "order", "site_id", "candidate_id", "name", "name_en", "source", "township",
             "township_en", "unit_id", "road", "road_m", "lon", "lat"]
    rest = [c for c in merged.columns if c not in front and c not in ("candidate", "x", "y")]
    return merged[front + rest + ["x", "y"]]


def model_status(sol: opt.Solution) -> str:
    """One meaning in every model: "optimal" (proven, for the people the candidates can cover), else
    "feasible" (a solution whose distance from the optimum is the ``gap``). People no candidate can
    cover are reported beside it (``uncoverable_people``), never in the status."""
    return "optimal" if sol.status in (opt.OPTIMAL, opt.PARTIAL) else "feasible"


def _served(prob: SitingProblem, open_cols: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People assigned to each open site (its nearest, by the rule's measure, within the loose limit),
    and the people-weighted mean and the worst measure of its assigned cells; per candidate column."""
    n = prob.cover.shape[1]
    people, mean, worst = np.zeros(n), np.zeros(n), np.zeros(n)
    sub = prob.cost[:, open_cols].tocsr()
    if sub.nnz == 0:
        return people, mean, worst
    rows = _row_of_entries(sub)
    order = np.lexsort((sub.data, rows))
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]]
    owners, w, c = open_cols[sub.indices[first]], prob.weights[rows[first]], sub.data[first]
    people = np.bincount(owners, weights=w, minlength=n)
    total = np.bincount(owners, weights=w * c, minlength=n)
    mean = np.divide(total, people, out=np.zeros(n), where=people > 0)
    np.maximum.at(worst, owners[w > 0], c[w > 0])
    return people, mean, worst


def _marginal_order(prob: SitingProblem, base: list[int], new: list[int]) -> tuple[list[int], list[float]]:
    """New sites in greedy order of the people each adds to what is already covered."""
    covered = np.asarray(prob.cover[:, base].sum(axis=1)).ravel() > 0 if base else np.zeros(prob.cover.shape[0], bool)
    left, order, gains = list(new), [], []
    cov_csc = prob.cover.tocsc()
    while left:
        g = [float(prob.weights[cov_csc[:, c].indices[~covered[cov_csc[:, c].indices]]].sum()) for c in left]
        k = int(np.argmax(g))
        c = left.pop(k)
        covered[cov_csc[:, c].indices] = True
        order.append(c)
        gains.append(g[k])
    return order, gains


def ambulance_ratio(scn: Scenario) -> tuple[float, float]:
    """People per ambulance from the profile's ambulance ratio rule (default 1 per 10,000)."""
    for rule in scn.profile.rules:
        if rule.kind == "ratio" and rule.attribute == "ambulances":
            return rule.per_people, rule.min_count
    return 10000.0, 1.0


def run_siting(scn: Scenario, models: list[str] | None = None, p: int | None = None, relocate: bool | None = None,
               quiet: bool = True) -> tuple[SitingResult, pd.DataFrame]:
    """Build the problem and solve the models (no files written)."""
    settings = read_settings(scn, {"relocate": relocate, "p": p}, models)
    models = list(dict.fromkeys(models or MODELS))
    settings["apply"] = applied_model(scn, settings, models)
    steps = Steps(quiet)
    region = load_region(scn, steps)
    problem, model = build_problem(scn, region, settings, steps)
    result = SitingResult(scn, region, problem, settings)
    result.solutions = solve_models(problem, settings, models, steps)
    lscp_sol = result.solutions.get("lscp")
    p_max = None if lscp_sol is None else max(0, len(lscp_sol.selected) - len(problem.fixed))
    result.curve = opt.coverage_curve(problem.cover, problem.weights, fixed=problem.fixed, p_max=p_max)
    per_people, min_count = ambulance_ratio(scn)
    return result, site_robustness(result, model, site_table(result, per_people, min_count))


def proposed_scenario(scn: Scenario, region: Region, settings: dict, rule: Rule, sites: pd.DataFrame, folder: Path,
                      final_folder: Path) -> Path:
    """Write facilities + proposed stations as GeoJSON and a scenario TOML that uses them.

    ``sites`` are site rows (:func:`site_table`) of at least the applied model (``settings["apply"]``);
    with ``settings["relocate"]`` the rule's existing stations not among its rows, or closed, are left out.
    """
    import tomli_w

    fac = region.facilities
    model = settings["apply"]
    new = sites[(sites["model"] == model) & (sites["status"] == "new")]
    rows = fac[["facility_id", "name", "name_en", "type", "ambulances", "turnout_min", "geometry"]].copy()
    rows = rows.rename(columns={"facility_id": "id"})
    if settings["relocate"]:
        keep = set(sites.loc[(sites["model"] == model) & (sites["status"] != "closed"), "candidate_id"])
        rows = rows[~has_role(rows["type"], rule.facility_types) | rows["id"].isin(keep).to_numpy()]
    added = gpd.GeoDataFrame({
        "id": [f"NEW{i + 1:02d}" for i in range(len(new))],
        "name": [f"拟建急救站{i + 1}（{s}）" for i, s in enumerate(new["site_id"])],
        "name_en": [f"Proposed EMS station {i + 1} ({s}, {r})"
                    for i, (s, r) in enumerate(zip(new["site_id"], new["road"]))],
        "type": rule.facility_types[0], "ambulances": new["ambulances_needed"].to_numpy(),
        "turnout_min": scn.profile.default_turnout_min,
    }, geometry=gpd.points_from_xy(new["x"], new["y"]), crs=region.crs)
    both = pd.concat([rows, added], ignore_index=True)
    both = gpd.GeoDataFrame(both, geometry="geometry", crs=region.crs).to_crs("EPSG:4326")
    fac_path = folder / "facilities_proposed.geojson"
    fac_path.write_text(both.to_json(drop_id=True, ensure_ascii=False), encoding="utf-8")
    raw = json.loads(json.dumps(scn.raw))  # a deep copy of plain TOML data
    for section, key in (("boundaries", "path"), ("population", "path"), ("roads", "path"),
                         ("population", "census_path")):
        if key in raw.get(section, {}):
            raw[section][key] = str((scn.path.parent / raw[section][key]).resolve())
    raw["facilities"] = {"path": str((final_folder / "facilities_proposed.geojson").resolve())}
    raw.setdefault("scenario", {})["name"] = f"{scn.name}-proposed"
    n_closed = int(((sites["model"] == model) & (sites["status"] == "closed")).sum())
    moved_en = f", {n_closed} closed" if n_closed else ""
    moved_zh = f"，撤并{n_closed}个" if n_closed else ""
    raw["scenario"]["title_en"] = f"{scn.title_en} + {len(new)} proposed stations{moved_en} ({model})"
    raw["scenario"]["title_zh"] = f"{scn.title_zh}（新增{len(new)}个拟建急救站{moved_zh}）"
    raw.pop("siting", None)
    outputs = raw.setdefault("outputs", {})
    outputs.pop("dir", None)
    if "cache_dir" in outputs:
        outputs["cache_dir"] = str((scn.path.parent / outputs["cache_dir"]).resolve())
    path = folder / f"{scn.name}_proposed.toml"
    path.write_text(f"# Written by coverage-planner site: {scn.name} plus the {model} sites.\n" + tomli_w.dumps(raw),
                    encoding="utf-8")
    return path


def coverage_curve_png(result: SitingResult, path: Path) -> None:
    """Plot covered population against the number of new stations, 0 … the LSCP count (see charts.py)."""
    from .charts import coverage_curve_png as draw

    rule = result.problem.rule
    draw(result.curve, float(result.problem.weights.sum()), path, rule.id, rule.name_zh,
         result.scenario.profile.min_share)


def write_siting_outputs(result: SitingResult, sites: pd.DataFrame, out_dir: Path) -> Path:
    """siting.csv, siting.gpkg, siting.html, coverage_curve.png and the proposed scenario, atomically."""
    from .outputs import CSV_ENCODING, finalize_html, atomic_dir, write_gpkg
    from .siting_map import siting_map

    with atomic_dir(out_dir) as tmp:
        sites.to_csv(tmp / "siting.csv", index=False, encoding=CSV_ENCODING)   # coordinates in full
        gdf = gpd.GeoDataFrame(sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites["x"], sites["y"]),
                               crs=result.region.crs)
        write_gpkg(gdf, tmp / "siting.gpkg", "sites")
        summary = solutions_frame(result)
        summary.to_csv(tmp / "siting_models.csv", index=False, float_format="%.6g", encoding=CSV_ENCODING)
        unc = _uncoverable_cells(result)
        if len(unc):
            write_gpkg(unc, tmp / "siting.gpkg", "uncoverable_cells")
        coverage_curve_png(result, tmp / "coverage_curve.png")
        proposed_scenario(result.scenario, result.region, result.settings, result.problem.rule, sites, tmp, out_dir)
        siting_map(result, sites).save(tmp / "siting.html")
        finalize_html(tmp / "siting.html")
    return out_dir


OBJECTIVE_UNITS = {"lscp": "sites", "mclp": "people", "p_median": "people × {unit}", "p_center": "{unit}",
                   "mexclp": "people (expected)", "dsm": "people"}


def solutions_frame(result: SitingResult) -> pd.DataFrame:
    """One row per model: new and closed sites, objective and bound (in ``objective_unit``: p-median and
    p-center in km or minutes, not the solver's metres or seconds), gap, status, people
    covered before and after, and the people no candidate can cover (the same for every model)."""
    prob = result.problem
    before = covered_population(prob, np.arange(prob.n_existing))
    unc_cells, unc_people = uncoverable(prob)
    unit, scale = cost_unit(prob.rule)
    rows = []
    for name, sol in result.solutions.items():
        sel = np.asarray(sol.selected, int)
        factor = scale if name in ("p_median", "p_center") else 1.0    # metres or seconds → km or minutes
        rows.append({"model": name, "new_sites": int((sel >= prob.n_existing).sum()),
                     "closed_sites": int(prob.n_existing - (sel < prob.n_existing).sum()),
                     "objective": sol.objective * factor, "objective_unit": OBJECTIVE_UNITS[name].format(unit=unit),
                     "bound": sol.bound * factor, "gap": sol.gap, "status": model_status(sol),
                     "seconds": round(sol.seconds, 3), "rows": sol.rows_in, "rows_after_aggregation": sol.rows_after_aggregation,
                     "covered_before": before, "covered_after": covered_population(prob, sel),
                     "population": float(prob.weights.sum()), "uncoverable_cells": unc_cells,
                     "uncoverable_people": unc_people, "message": model_message(sol, unc_cells, unc_people)})
    return pd.DataFrame(rows)


def uncoverable(prob: SitingProblem) -> tuple[int, float]:
    """Populated cells (and their people) that no candidate site covers within the rule's limit."""
    none = (np.diff(prob.cover.indptr) == 0) & (prob.weights > 0)
    return int(none.sum()), float(prob.weights[none].sum())


_UNCOVERABLE_TEXT = (r"; (?:\S+ was infeasible for .*? that no candidate can reach; solved for the coverable rest"
                     r"|[^;]*cannot be reached from any candidate)\.$")


def model_message(sol: opt.Solution, cells: int, people: float) -> str:
    """The optimiser's message with its own count of unreachable rows (which differs between models:
    the loose standard for DSM and p-median) replaced by the count every model shares."""
    import re

    text = re.sub(_UNCOVERABLE_TEXT, ".", sol.message)
    if cells:
        text = text[:-1] + (f"; {cells:,} populated cell{'s' if cells != 1 else ''} ({people:,.0f} people) "
                            "cannot be covered from any candidate site within the rule's limit.")
    return text


def _uncoverable_cells(result: SitingResult) -> gpd.GeoDataFrame:
    prob = result.problem
    none = np.asarray(prob.cover.sum(axis=1)).ravel() == 0
    cells = result.region.cells
    return cells.loc[none, ["population", "unit_id", "unit_name", "zone", "geometry"]]


def print_siting(result: SitingResult, sites: pd.DataFrame) -> None:
    """Model results and the proposed sites as tables."""
    import sys

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 160)
    frame = solutions_frame(result)
    table = Table(title=f"Siting 选址: {result.problem.rule.name_zh} {result.problem.rule.threshold_label()} — "
                        f"{len(result.problem.candidates)} candidate sites, {result.problem.n_existing} existing")
    for col in ("model 模型", "new sites 新增", "covered 覆盖人口 before→after", "objective 目标值", "gap 差距", "status 状态", "note 说明"):
        table.add_column(col, overflow="fold")
    total = frame["population"].iloc[0] if len(frame) else 0
    for _, r in frame.iterrows():
        table.add_row(r["model"], str(r["new_sites"]),
                      f"{r['covered_before']:,.0f} → {r['covered_after']:,.0f} of {total:,.0f}",
                      f"{r['objective']:,.4g}", f"{r['gap']:.2%}", r["status"], r["message"])
    console.print(table)
    apply = result.settings["apply"]
    new = sites[(sites["model"] == apply) & (sites["status"] == "new")]
    t2 = Table(title=f"Proposed sites ({apply}) 拟建站点")
    for col in ("order", "site 站点", "road 道路", "lon, lat 经纬度", "people gained 新增覆盖",
                "people served 服务人口", "ambulances 救护车"):
        t2.add_column(col)
    for _, r in new.iterrows():
        t2.add_row(str(r["order"]), r["site_id"], r["road"], f"{r['lon']:.6f}, {r['lat']:.6f}",
                   f"{r['gain_people']:,.0f}", f"{r['served_people']:,.0f}", str(r["ambulances_needed"]))
    console.print(t2)
    closed = sites[(sites["model"] == apply) & (sites["status"] == "closed")]
    if len(closed):
        console.print(f"Closed 撤并 ({apply}, --relocate): " + ", ".join(closed["site_id"]))


def run_siting_file(path: str | Path, out_dir: str | Path | None = None, models: list[str] | None = None,
                    p: int | None = None, relocate: bool = False, quiet: bool = False) -> int:
    """The ``site`` command: solve, write outputs, print tables."""
    scn = load_scenario(path, out_dir)
    check_scenario_out_dir(scn, out_dir)
    result, sites = run_siting(scn, models, p, relocate or None, quiet)
    write_siting_outputs(result, sites, scn.out_dir)
    if not quiet:
        print_siting(result, sites)
        console_note = scn.out_dir / f"{scn.name}_proposed.toml"
        print(f"Outputs 输出: {scn.out_dir}/ (siting.html, siting.csv, siting_models.csv, siting.gpkg, "
              f"coverage_curve.png); check the proposal with: coverage-planner run {console_note}")
    return 0


# ------------------------------------------------ robustness of the proposed sites to road speeds

def rescaled_problem(result, model: cov.TravelModel):
    """The siting problem's covering sets and costs on ``model`` (same candidates, cells, limits, offsets).

    Mirrors the time branch of ``siting.build_problem``: candidates snapped to the same roads, the
    same turnout per candidate, the same loose factor.
    """
    from .travel import snap

    prob, scn = result.problem, result.scenario
    rule, cand, fac = prob.rule, prob.candidates, result.region.facilities
    csnap = snap(model.net, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy(), allowed=model.snappable)
    default = scn.profile.default_turnout_min * 60.0 if rule.include_turnout else 0.0
    own = dict(zip(fac["facility_id"], cov.turnout_seconds(fac, scn.profile)))
    turn = np.array([own.get(c, default) if rule.include_turnout else 0.0 for c in cand["candidate_id"]])
    loose = float(result.settings["loose_factor"])
    cells = model.cell_snap
    cost = model.router(rule.direction, "time").bounded(csnap, turn + csnap.access_m / model.access_mps, cells,
                                                        cells.access_m / model.access_mps,
                                                        float(prob.limit.max() * loose))
    cost = keep_within(cost, prob.limit * loose)
    return replace(prob, cost=cost, cover=within(cost, prob.limit),
                               cover_loose=within(cost, prob.limit * loose))


def site_robustness(result, model: cov.TravelModel, sites: pd.DataFrame,
                    factors: list[float] | None = None) -> pd.DataFrame:
    """Add ``robust`` and ``chosen_at`` to the sites: chosen by the same model at every speed factor.

    Parameters
    ----------
    result : siting.SitingResult
        The solved run (its models at the speeds as they are, factor 1).
    model : TravelModel
        The travel model the problem was built on.
    sites : DataFrame
        ``siting.site_table`` rows (model, candidate_id, ...).
    factors : list of float, optional
        Default: the scenario's ``[travel] speed_factors``; none leaves ``sites`` as they are.

    Returns
    -------
    DataFrame
        ``sites`` with ``robust`` (True when the site is chosen at factor 1 and at every factor) and
        ``chosen_at`` (the factors at which it is chosen, e.g. ``"1 1.2"``). Radius rules do not
        depend on speed: every site is robust without a re-solve.
    """
    factors = sorted(set(factors if factors is not None else result.scenario.speed_factors) | {1.0})
    if len(factors) == 1 or sites.empty:
        return sites
    models = list(result.solutions)
    chosen = {1.0: {m: set(np.asarray(s.selected, dtype=int)) for m, s in result.solutions.items()}}
    for f in factors:
        if f == 1.0:
            continue
        if result.problem.rule.kind == "radius":
            chosen[f] = chosen[1.0]
            continue
        sols = solve_models(rescaled_problem(result, scaled_model(model, f)), result.settings, models, Steps(True))
        chosen[f] = {m: set(np.asarray(s.selected, dtype=int)) for m, s in sols.items()}
    col = pd.Series(np.arange(len(result.problem.candidates)), index=result.problem.candidates["candidate_id"])
    c = col.reindex(sites["candidate_id"]).to_numpy()
    at = [[f for f in factors if c_ in chosen[f][m]] for m, c_ in zip(sites["model"], c)]
    out = sites.copy()
    out["robust"] = [len(a) == len(factors) for a in at]
    out["chosen_at"] = [" ".join(f"{f:g}" for f in a) for a in at]
    return out
