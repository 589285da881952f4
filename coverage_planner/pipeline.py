"""The coverage check end to end: scenario → layers → network → travel times → rules → outputs.

The layers are loaded by :mod:`coverage_planner.region`; ``coverage-planner run SCENARIO`` and
``coverage-planner isochrones SCENARIO`` are parsed in :mod:`coverage_planner.cli.check` and run here.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from . import coverage as cov
from .errors import InputError, PlannerWarning
from .facility_types import has_role, warn_unmatched_rule
from .isochrones import facility_isochrones
from .progress import Steps
from .region import LayerFrames, Region, assign_units, load_region  # noqa: F401  (old import paths)
from .scenario import Scenario, load_scenario
from .standards import LEVEL_KINDS, Rule

_assign_units = assign_units   # the old private name, for old imports


@dataclass
class Result:
    """Everything a coverage run produces."""

    scenario: Scenario
    region: Region
    cells: gpd.GeoDataFrame
    summary: pd.DataFrame
    rules: list[Rule]
    models: dict
    isochrones: gpd.GeoDataFrame | None = None
    warnings: list[str] = field(default_factory=list)
    stations: pd.DataFrame | None = None      # station criticality (criticality.py): stations.csv
    sensitivity: pd.DataFrame | None = None   # speed-factor bands (sensitivity.py): sensitivity.csv
    speed_factors: list[float] = field(default_factory=list)

    @property
    def population_total(self) -> float:
        return float(self.region.cells["population"].sum())


def evaluate(scn: Scenario, region: Region, steps: Steps, nearest=None) -> Result:
    """Travel measures per cell for every spatial rule, then pass/fail and summaries for all rules.

    ``nearest`` replaces :func:`coverage.nearest_measures` (same signature and results), e.g. the
    partitioned search of :mod:`partition` run on Dask workers.
    """
    nearest = nearest or cov.nearest_measures
    cells = region.cells.copy()
    fac = region.facilities
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    turnout = cov.turnout_seconds(fac, scn.profile)
    zones = cells["zone"].to_numpy()
    pop = cells["population"].to_numpy()
    models: dict[str, cov.TravelModel] = {}
    measured: dict[tuple, dict] = {}  # rules with the same facilities and travel settings share one search
    rows, rules = [], list(scn.profile.rules)
    for rule in rules:
        warn_unmatched_rule(rule.id, rule.facility_types, fac["type"])
    for rule in rules:
        if not rule.spatial:
            continue
        if rule.travel_profile not in models:
            with steps.step(f"Snapping to roads, profile '{rule.travel_profile}'"):
                models[rule.travel_profile] = cov.build_travel_model(
                    region.roads, rule.travel_profile, scn.travel_overrides.get(rule.travel_profile), x, y,
                    fac, scn.facility_max_access_m, scn.facilities.path, scn.profile.max_access_m)
                if len(models) == 1:  # the same roads for every profile: warn once
                    cov.warn_cut_off(models[rule.travel_profile], pop)
                    cov.warn_long_access_legs(models[rule.travel_profile], fac)
                    if scn.facilities.coords == "wgs84":
                        cov.warn_coordinate_offset(models[rule.travel_profile], fac)
        model = models[rule.travel_profile]
        idx = cov.rule_facilities(rule, fac)
        limit = cov.cell_thresholds(rule, zones)
        applies = np.isfinite(limit)
        if len(idx) == 0:
            meas = {k: np.full(len(cells), np.inf) for k in ("straight_m", "network_m", "time_s")}
            meas.update({k: np.full(len(cells), -1) for k in ("straight_fac", "network_fac", "time_fac")})
        elif (key := (rule.travel_profile, rule.direction, rule.include_turnout, idx.tobytes())) in measured:
            meas = measured[key]
        else:
            with steps.step(f"Travel times for {rule.id} ({', '.join(rule.facility_types)})"):
                offsets = turnout if rule.include_turnout else np.zeros(len(fac))
                meas = measured[key] = nearest(model, idx, offsets, rule.direction, x, y, fx, fy)
        value = cov.rule_value(rule, meas)
        passed, reason = cov.judge_cells(value, limit, model.cell_snap.access_m, model.cut_off,
                                         scn.profile.max_access_m)
        extra = None
        if rule.kind == "radius":
            extra = {"straight_line": meas["straight_m"] <= limit, "network_distance": meas["network_m"] <= limit}
        summary = cov.summarise_spatial(rule, cells, passed, reason, applies, extra,
                                        value if rule.kind == "mean_time" else None)
        rows.append(_tag(summary, rule))
        _store_cell_columns(cells, rule, meas, value, passed, reason, applies, fac)
    frames = {r.id: f for r, f in zip([r for r in rules if r.spatial], rows)}
    for rule in rules:  # ratios, shares, counts and villages; then any_of from its parts
        if rule.kind == "per_village":
            frames[rule.id] = _tag(cov.summarise_villages(rule, region.villages, fac, region.region), rule)
        elif not rule.spatial and rule.kind != "any_of":
            frames[rule.id] = _tag(cov.summarise_counts(rule, region.units, region.unit_pop, fac, region.fac_unit),
                                   rule)
    for rule in rules:
        if rule.kind == "any_of":
            frames[rule.id] = _tag(cov.combine_any(rule, {p: frames[p] for p in rule.parts}), rule)
    rows = [frames[r.id] for r in rules]
    first = next(iter(models.values()), None)
    if first is not None:
        cells["access_m"] = first.cell_snap.access_m
    summary = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return Result(scn, region, cells, summary, rules, models)


def _tag(frame: pd.DataFrame, rule: Rule) -> pd.DataFrame:
    frame.insert(0, "rule_id", rule.id)
    frame.insert(1, "rule_zh", rule.name_zh)
    frame.insert(2, "rule_en", rule.name_en)
    frame.insert(3, "kind", rule.kind)
    frame.insert(4, "threshold", rule.threshold_label())
    frame.insert(5, "basis", rule.basis)
    frame.insert(6, "level", rule.level if rule.kind in LEVEL_KINDS else "zone")
    frame["source"] = f"{rule.source} L{rule.line}"
    return frame


def _judged_facility_key(rule: Rule) -> str:
    """The key of ``nearest_measures`` naming the facility whose value the rule judges."""
    if rule.kind == "radius":
        return "straight_fac" if rule.measure == "straight_line" else "network_fac"
    return "time_fac"


def _store_cell_columns(cells, rule: Rule, meas: dict, value, passed, reason, applies, fac) -> None:
    fids = fac["facility_id"].to_numpy()
    ids = lambda k: np.where(meas[k] >= 0, fids[np.maximum(meas[k], 0)], "")  # noqa: E731
    prefix = rule.id
    cells[f"{prefix}_straight_km"] = meas["straight_m"] / 1000.0
    cells[f"{prefix}_network_km"] = meas["network_m"] / 1000.0
    cells[f"{prefix}_time_min"] = meas["time_s"] / 60.0
    cells[f"{prefix}_nearest"] = ids(_judged_facility_key(rule))   # the station whose value is judged
    if rule.kind == "radius":
        cells[f"{prefix}_nearest_by_time"] = ids("time_fac")
    cells[f"{prefix}_pass"] = np.where(applies, passed, False)
    cells[f"{prefix}_applies"] = applies
    cells[f"{prefix}_gap"] = reason


def add_isochrones(result: Result, minutes: list[float], steps: Steps) -> gpd.GeoDataFrame:
    """Isochrones of every facility, with the travel settings of the time rule covering its type.

    Display only: the polygons are drawn from the travel times (:mod:`isochrones`) and never counted.
    No minutes (``isochrone_minutes = []``) gives no polygons (``result.isochrones`` stays None).
    """
    if not minutes:
        return gpd.GeoDataFrame(columns=["facility_id", "geometry"], geometry="geometry", crs=result.region.crs)
    fac = result.region.facilities
    turnout = cov.turnout_seconds(fac, result.scenario.profile)
    parts, done = [], np.zeros(len(fac), dtype=bool)
    time_rules = [r for r in result.rules if r.kind in ("travel_time", "mean_time")]
    with steps.step("Isochrones 等时圈"):
        for rule in time_rules + [None]:
            idx = np.flatnonzero(~done & (has_role(fac["type"], rule.facility_types) if rule else True))
            if len(idx) == 0:
                continue
            name = rule.travel_profile if rule else "ambulance"
            model = result.models.get(name) or _model_for(result, name)
            offsets = turnout if (rule is None or rule.include_turnout) else np.zeros(len(fac))
            direction = rule.direction if rule else "from_facility"
            parts.append(facility_isochrones(model, fac, idx, offsets, direction, minutes))
            done[idx] = True
    iso = pd.concat(parts, ignore_index=True) if parts else gpd.GeoDataFrame()
    result.isochrones = gpd.GeoDataFrame(iso, geometry="geometry", crs=result.region.crs)
    return result.isochrones


def _model_for(result: Result, name: str) -> cov.TravelModel:
    region, scn = result.region, result.scenario
    cells = region.cells
    model = cov.build_travel_model(region.roads, name, scn.travel_overrides.get(name),
                                   cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy(), region.facilities,
                                   scn.facility_max_access_m, scn.facilities.path, scn.profile.max_access_m)
    result.models[name] = model
    return model


def run(scn: Scenario, quiet: bool = False, isochrones: bool = True,
        speed_factors: list[float] | None = None, dask: str | None = None) -> Result:
    """Run the coverage check of a scenario (no files written).

    ``speed_factors`` (default: the scenario's ``[travel] speed_factors``) reruns the spatial rules
    with road speeds scaled (:mod:`sensitivity`); station criticality is always computed. ``dask``
    routes the region in partitions on a Dask cluster (:mod:`dask_run`; identical results).
    """
    from .criticality import criticality
    from .sensitivity import sensitivity

    steps = Steps(quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlannerWarning)
        region = load_region(scn, steps)
        if dask:
            from .dask_run import evaluate_on_dask

            result = evaluate_on_dask(scn, region, steps, dask, evaluate=evaluate)
        else:
            result = evaluate(scn, region, steps)
        with steps.step("Station criticality 站点关键性"):
            result.stations = criticality(result)
        result.speed_factors = list(speed_factors or scn.speed_factors)
        if result.speed_factors:
            with steps.step("Speed sensitivity 车速敏感性"):
                result.sensitivity = sensitivity(result, result.speed_factors)
        if isochrones and scn.isochrone_minutes:
            add_isochrones(result, scn.isochrone_minutes, steps)
    result.warnings = [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)]
    for w in caught:  # pass them on to the caller's handlers (CLI prints them)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def run_scenario_file(path: str | Path, out_dir: str | Path | None = None, quiet: bool = False,
                      isochrones: bool = True, speed_factors: list[float] | None = None,
                      dask: str | None = None) -> int:
    """Load, check, write every output and print the table; returns the process exit code.

    ``isochrones=False`` (``--no-isochrones``) skips the isochrone polygons, as does
    ``[outputs] isochrone_minutes = []``. ``dask`` (``--dask local[:N]`` or ``tcp://HOST:PORT``) routes
    the region in partitions on a Dask cluster, with identical results.
    """
    from .outputs import print_summary, write_outputs

    scn = load_scenario(path, out_dir)
    check_scenario_out_dir(scn, out_dir)
    if dask:
        from .dask_run import parse_spec

        parse_spec(dask)   # a wrong --dask value is refused before any work
    result = run(scn, quiet=quiet, isochrones=isochrones, speed_factors=speed_factors, dask=dask)
    with Steps(quiet).step("Writing outputs 输出 (summary, cells.gpkg, coverage.html)"):
        write_outputs(result, scn.out_dir)
    if not quiet:
        print_summary(result)
        if result.sensitivity is not None:
            from .sensitivity import print_sensitivity

            print_sensitivity(result.sensitivity, result.speed_factors)
    return 0


def check_scenario_out_dir(scn: Scenario, out_dir: str | Path | None) -> None:
    """Check the scenario's output folder before any work (see :func:`outputs.check_out_dir`).

    Parameters
    ----------
    scn : Scenario
        The loaded scenario; ``scn.out_dir`` is the folder checked.
    out_dir : str, Path or None
        The ``--out`` value, when given on the command line (the message names it, else ``outputs.dir``).
    """
    from .outputs import check_out_dir

    if out_dir:
        check_out_dir(scn.out_dir, field="--out (command line)")
    else:
        check_out_dir(scn.out_dir, file=scn.path, field="outputs.dir")


def check_minutes(minutes: list[float]) -> None:
    """Isochrone minutes from the command line follow the scenario's rule for ``isochrone_minutes``."""
    from .scenario import minutes_problem

    problem = minutes_problem(minutes)
    if problem:
        raise InputError(problem, field="--minutes (command line)", fix="e.g. --minutes 15 30.")


# Public name for callers outside the pipeline (the `serve` app recomputes tables incrementally).
tag_rule_rows = _tag
