"""The coverage check end to end: scenario → layers → network → travel times → rules → outputs.

``coverage-planner run SCENARIO`` and ``coverage-planner isochrones SCENARIO`` live here.
"""

from __future__ import annotations

import argparse
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import coverage as cov
from .dasymetric import allocate, road_weights
from .errors import InputError, PlannerWarning
from .isochrones import facility_isochrones
from .boundaries import attach_census, boundaries_from_frame, load_boundaries
from .facilities import facilities_from_frame, load_facilities, points_from_frame
from .facility_types import has_role, warn_unmatched_rule
from .layers import region_crs
from .population import check_population_total, load_population, population_from_frame, population_in_region
from .roads import load_roads, roads_from_graph, scenario_clip
from .scenario import Scenario, load_scenario
from .standards import LEVEL_KINDS, Rule


@dataclass
class LayerFrames:
    """Layers given to the library API as objects; None means the scenario's file is read.

    The same checks run on them as on files (the loaders' ``*_from_frame`` functions).
    """

    boundaries: gpd.GeoDataFrame | None = None
    facilities: gpd.GeoDataFrame | None = None
    population: gpd.GeoDataFrame | None = None
    roads: object | None = None                     # an OSMnx graph (networkx.MultiDiGraph)
    villages: gpd.GeoDataFrame | None = None


@dataclass
class Region:
    """The loaded layers in one metric CRS.

    Build one with :meth:`from_scenario` (a scenario TOML file) or :meth:`from_geodataframes`
    (layers as GeoDataFrames, population as a frame or a raster path, roads as an OSM file or an
    OSMnx graph); check it with ``coverage_planner.check`` and site stations with
    ``coverage_planner.site``.
    """

    crs: str
    units: gpd.GeoDataFrame
    region: shapely.Geometry
    facilities: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame       # population, cell_m, unit_id, unit_name, zone, geometry
    roads: object
    unit_pop: np.ndarray
    fac_unit: np.ndarray
    villages: gpd.GeoDataFrame | None = None      # 行政村 with population, unit_id, unit_name, zone
    census_scaling: pd.DataFrame | None = None    # per unit: raster and census totals, factor
    population_in: float = float("nan")   # people of the input inside the units, counted independently
    scenario: Scenario | None = None      # what it was loaded for (profile, travel settings, layers)
    layers: LayerFrames | None = None     # the objects given to the library API instead of files
    warnings: list[str] = field(default_factory=list)   # PlannerWarnings raised while loading

    @classmethod
    def from_scenario(cls, path: str | Path, progress: bool = False) -> Region:
        """Load the layers of a scenario file (as ``coverage-planner run`` does), with the same checks.

        Parameters
        ----------
        path : str or Path
            A scenario TOML file, e.g. ``scenarios/demo.toml``.
        progress : bool
            Show a spinner per loading step on the terminal.

        Returns
        -------
        Region
            With ``scenario`` set; ``warnings`` lists the loaders' warnings (also emitted).

        Raises
        ------
        InputError
            Any problem of the scenario or its layers.
        """
        from .api import load_region as _load

        return _load(path, progress=progress)

    @classmethod
    def from_geodataframes(cls, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                           population: gpd.GeoDataFrame | str | Path, roads: object | str | Path, *,
                           profile: object = "chongqing", crs: str | None = None,
                           villages: gpd.GeoDataFrame | None = None, columns: dict[str, dict[str, str]] | None = None,
                           types: dict[str, str] | None = None, coords: str = "wgs84",
                           cell_size_m: float | None = None, facility_max_access_m: float = 500.0,
                           travel: dict[str, dict] | None = None, isochrone_minutes: list[float] | None = None,
                           rules: list[str] | None = None, overrides: dict[str, dict] | None = None,
                           name: str = "region", cache_dir: str | Path | None = None,
                           progress: bool = False) -> Region:
        """A region from layers in memory, with every check the scenario loaders run on files.

        Parameters
        ----------
        units : GeoDataFrame
            One polygon per township or street (镇/街道) with ``unit_id`` and ``name`` (and optionally
            ``name_en``, ``zone`` urban/rural, ``kind``, ``county_seat``, ``central_town``).
        facilities : GeoDataFrame
            Facility points with ``type`` (and optionally ``id``, ``name``, ``ambulances``,
            ``turnout_min``, ``beds``, ``doctors``, ...), as the ``[facilities]`` layer.
        population : GeoDataFrame, str or Path
            Polygons or points with a ``population`` column, or the path of a population raster
            (GeoTIFF of people per pixel) or vector file.
        roads : str, Path or networkx.MultiDiGraph
            An OpenStreetMap extract (.osm.pbf, .osm, .osm.bz2, .graphml), or an OSMnx graph.
        profile : str or Profile
            A bundled standards profile (``chongqing``, ``zhejiang``, ``ganzhou``,
            ``leshan-shizhong``), the path of a profile TOML, or a loaded ``Profile``.
        crs : str, optional
            The metric CRS to work in (default: the units' UTM zone).
        villages : GeoDataFrame, optional
            行政村 points or polygons with population, for per-village rules.
        columns : dict, optional
            Per layer (``boundaries``, ``facilities``, ``population``, ``villages``), our column name →
            the frame's, e.g. ``{"boundaries": {"unit_id": "乡镇代码"}}``.
        types : dict, optional
            The user's facility-type words → type ids (as ``[facilities.types]``).
        coords : str
            The facilities' coordinate system when they are in longitude/latitude: ``wgs84``,
            ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu).
        cell_size_m : float, optional
            Aggregate population to square cells of this size.
        facility_max_access_m : float
            A facility further than this from any road is an input error.
        travel : dict, optional
            Travel profile settings (as ``[travel.profiles]``), e.g. ``{"ambulance": {"max_kmh": 80}}``.
        isochrone_minutes : list of float, optional
            Isochrone limits of :func:`coverage_planner.check` (default 15 and 30).
        rules, overrides
            Keep only these rule ids; per-rule changes (as ``[standards]`` rules and overrides).
        name : str
            The region's name in outputs.
        cache_dir : str or Path, optional
            Folder for the road cache (none by default).
        progress : bool
            Show a spinner per loading step on the terminal.

        Returns
        -------
        Region

        Raises
        ------
        InputError
            Naming the frame (``<units GeoDataFrame>``), the feature and the fix, as for files.
        """
        from .api import _region_from_frames

        return _region_from_frames(units=units, facilities=facilities, population=population, roads=roads,
                                   profile=profile, crs=crs, villages=villages, columns=columns, types=types,
                                   coords=coords, cell_size_m=cell_size_m,
                                   facility_max_access_m=facility_max_access_m, travel=travel,
                                   isochrone_minutes=isochrone_minutes, rules=rules, overrides=overrides,
                                   name=name, cache_dir=cache_dir, progress=progress)


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

    @property
    def population_total(self) -> float:
        return float(self.region.cells["population"].sum())


class Steps:
    """Progress display for long steps (a spinner on a terminal, then one line per finished step)."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet

    @contextmanager
    def step(self, text: str):
        """Show ``text`` while the block runs and ``text ✓`` when it is done (nothing when quiet)."""
        if self.quiet:
            yield
            return
        from rich.console import Console

        console = Console(stderr=True)
        with console.status(f"[bold]{text}…"):
            yield
        console.print(f"{text} ✓", highlight=False)  # no time stamp or source-file location


def _assign_units(units: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the unit containing each point (the nearest unit for points on no polygon)."""
    tree = shapely.STRtree(units.geometry.to_numpy())
    points = shapely.points(x, y)
    idx = np.full(len(points), -1, dtype=np.int64)
    pt, poly = tree.query(points, predicate="within")
    idx[pt] = poly
    left = np.flatnonzero(idx < 0)
    if len(left):
        p, q = tree.query_nearest(points[left], all_matches=False)
        idx[left[p]] = q
    return idx


def load_region(scn: Scenario, steps: Steps, given: LayerFrames | None = None) -> Region:
    """Load and check boundaries, facilities, population and roads in the region's metric CRS.

    ``given`` holds layers passed to the library API as objects; they go through the same checks.
    """
    given = given or LayerFrames()
    with steps.step("Loading boundaries 行政区划"):
        census = None if scn.census_path else scn.census_column
        units = load_boundaries(scn.boundaries, census_column=census) if given.boundaries is None \
            else boundaries_from_frame(given.boundaries, scn.boundaries, census_column=census)
        if scn.census_path:
            units = attach_census(units, scn.census_path, scn.census_key, scn.census_column,
                                  scn.population.encoding)
        crs = scn.crs or region_crs(units)
        units = units.to_crs(crs)
        region = shapely.union_all(units.geometry.to_numpy())
    with steps.step("Loading facilities 医疗机构"):
        facilities = load_facilities(scn.facilities, crs, region, scn.type_map, scn.profile) \
            if given.facilities is None else facilities_from_frame(
                points_from_frame(given.facilities, scn.facilities, ("facility", "facilities")), scn.facilities,
                crs, region, scn.type_map, scn.profile)
    with steps.step("Loading roads 道路 (OpenStreetMap)"):
        roads = load_roads(scn.roads, crs, scn.cache_dir, clip=scenario_clip(scn, region, crs, facilities.geometry)) \
            if given.roads is None else roads_from_graph(given.roads, crs, str(scn.roads))
    with steps.step("Loading population 人口"):
        if scn.census_column:   # census counts per unit, spread along the roads
            cells = allocate(units, road_weights(roads), scn.cell_size_m, population="census_population")
            cells = cells[cells["population"] > 0].drop(columns="unit").reset_index(drop=True)
        elif given.population is not None:
            cells = population_from_frame(given.population, scn.population, crs, region, scn.cell_size_m)
        else:
            cells = load_population(scn.population, crs, region, scn.cell_size_m)
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    unit_idx = _assign_units(units, x, y)
    scaling = None
    if scn.census_scale_path:   # 常住人口 per unit: each unit's cells scaled to its census total
        from .census import scale_to_census

        pop, scaling = scale_to_census(cells["population"].to_numpy(dtype=float), unit_idx, units,
                                       scn.census_scale_path, scn.census_scale_key, scn.census_scale_column,
                                       scn.population.encoding)
        cells["population"] = pop
    cells["unit_id"] = units["unit_id"].to_numpy()[unit_idx]
    cells["unit_name"] = units["name"].to_numpy()[unit_idx]
    zone = units["zone"].to_numpy()[unit_idx]
    if pd.isna(zone).any():  # no zone attribute: the profile's density threshold decides
        density = cells["population"].to_numpy() / (cells["cell_m"].to_numpy() ** 2 / 1e6)
        by_density = np.where(density >= scn.profile.urban_density_per_km2, "urban", "rural")
        zone = np.where(pd.isna(zone), by_density, zone)
    cells["zone"] = zone.astype(str)
    unit_pop = np.bincount(unit_idx, weights=cells["population"].to_numpy(), minlength=len(units))
    if scaling is not None:       # the census totals are the population now (people in = people counted)
        population_in = float(scaling["census_population"].sum())
    elif scn.census_column:
        population_in = float(units["census_population"].sum())
    else:
        population_in = population_in_region(scn.population, crs, region, given.population)
    check_population_total(float(cells["population"].sum()), unit_pop, population_in)
    fac_unit = _assign_units(units, facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
    villages = _load_villages(scn, units, crs, given.villages) if scn.villages else None
    return Region(crs, units, region, facilities, cells, roads, unit_pop, fac_unit, villages, scaling, population_in,
                  scenario=scn, layers=given)


def _load_villages(scn: Scenario, units: gpd.GeoDataFrame, crs: str,
                   frame: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The [villages] layer (or the villages frame given) with the unit (and its zone) each village lies in."""
    from .villages import load_villages, villages_from_frame

    villages = load_villages(scn.villages, crs) if frame is None else villages_from_frame(frame, scn.villages, crs)
    seat = villages.geometry.representative_point()
    idx = _assign_units(units, seat.x.to_numpy(), seat.y.to_numpy())
    villages["unit_id"] = units["unit_id"].to_numpy()[idx]
    villages["unit_name"] = units["name"].to_numpy()[idx]
    villages["zone"] = pd.Series(units["zone"].to_numpy()[idx]).fillna("n/a").astype(str).to_numpy()
    return villages


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


def run(scn: Scenario, quiet: bool = False, isochrones: bool = True, dask: str | None = None) -> Result:
    """Run the coverage check of a scenario (no files written); ``dask`` routes it on a Dask cluster."""
    steps = Steps(quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlannerWarning)
        region = load_region(scn, steps)
        if dask:
            from .dask_run import evaluate_on_dask

            result = evaluate_on_dask(scn, region, steps, dask)
        else:
            result = evaluate(scn, region, steps)
        if isochrones and scn.isochrone_minutes:
            add_isochrones(result, scn.isochrone_minutes, steps)
    result.warnings = [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)]
    for w in caught:  # pass them on to the caller's handlers (CLI prints them)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def run_scenario_file(path: str | Path, out_dir: str | Path | None = None, quiet: bool = False,
                      isochrones: bool = True, dask: str | None = None) -> int:
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
    result = run(scn, quiet=quiet, isochrones=isochrones, dask=dask)
    write_outputs(result, scn.out_dir)
    if not quiet:
        print_summary(result)
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


def _cmd_run(args: argparse.Namespace) -> int:
    return run_scenario_file(args.scenario, args.out, args.quiet, isochrones=not args.no_isochrones,
                             dask=args.dask)


def _cmd_isochrones(args: argparse.Namespace) -> int:
    from .outputs import write_isochrones_only

    minutes = [float(m) for m in args.minutes]
    check_minutes(minutes)
    scn = load_scenario(args.scenario, args.out)
    check_scenario_out_dir(scn, args.out)
    steps = Steps(args.quiet)
    region = load_region(scn, steps)
    result = evaluate(scn, region, steps)
    iso = add_isochrones(result, minutes, steps)
    path = write_isochrones_only(iso, scn.out_dir)
    print(f"{len(iso)} isochrone polygons → {path}")
    return 0


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` and ``isochrones`` sub-commands."""
    p = sub.add_parser("run", help="check a scenario against its standards profile (检查覆盖标准)",
                       description="Check every rule of the scenario's standards profile by urban/rural "
                                   "zone and administrative unit; write maps/<scenario>/ (coverage.html, "
                                   "cells.gpkg, isochrones.gpkg, summary.csv, summary.json).")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/demo.toml")
    p.add_argument("--out", help="output folder (default: the scenario's outputs.dir or maps/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table")
    p.add_argument("--no-isochrones", action="store_true",
                   help="skip the isochrone polygons (no isochrones.gpkg, no isochrone layers; coverage unchanged)")
    p.add_argument("--dask", metavar="CLUSTER",
                   help="route the region in partitions on Dask: local[:N] (N worker processes here) or "
                        "tcp://HOST:PORT (a running scheduler); results are identical. Needs the scale extra.")
    p.set_defaults(func=_cmd_run)
    q = sub.add_parser("isochrones", help="isochrone polygons of every facility (等时圈)",
                       description="Write isochrones.gpkg with one polygon per facility and time limit.")
    q.add_argument("scenario", help="scenario TOML file")
    q.add_argument("--minutes", nargs="+", type=float, default=[15.0, 30.0], help="time limits (default 15 30)")
    q.add_argument("--out", help="output folder")
    q.add_argument("--quiet", action="store_true", help="no progress display")
    q.set_defaults(func=_cmd_isochrones)
