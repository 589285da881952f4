"""The library API for notebooks: load a region, check it against a standards profile, site stations.

>>> import coverage_planner as cp
>>> region = cp.load_region("scenarios/demo.toml")           # or cp.Region.from_geodataframes(...)
>>> result = cp.check(region)                                 # GeoDataFrames and the summary DataFrame
>>> siting = cp.site(region, rule="ems_radius", models=["lscp", "mclp"], p=3)

Every input goes through the same checks as the scenario files of the command line (an
:class:`~coverage_planner.errors.InputError` naming the layer, the feature and the fix), and
:meth:`CheckResult.to_files` / :meth:`SitingResult.to_files` write the same files as
``coverage-planner run`` / ``site``. The siting models on a matrix are :mod:`coverage_planner.optimize`
(``cp.optimize.lscp(cover, weights)``, ``mclp``, ``p_median``, ``p_center``, ``mexclp``,
``backup_coverage``).
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import geopandas as gpd
import pandas as pd

from . import optimize as opt
from .errors import InputError, PlannerWarning, raise_all
from .layers import COLUMN_KEYS, LayerSpec, column_key_problems
from .pipeline import Result, add_isochrones, evaluate
from .progress import Steps
from .region import LayerFrames, Region
from .region import load_region as _pipeline_load_region
from .scenario import Scenario, load_scenario, minutes_problem
from .settings_check import closest
from .standards import Profile, load_profile

__all__ = ["CheckResult", "Region", "SitingResult", "check", "load_region", "site"]

T = TypeVar("T")


def _recorded(work: Callable[[], T]) -> tuple[T, list[str]]:
    """Run ``work``; return its value and the PlannerWarnings it raised (passed on to the caller's
    handlers as well, as ``pipeline.run`` does)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlannerWarning)
        value = work()
    for w in caught:
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return value, [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)]


def load_region(path: str | Path, progress: bool = False) -> Region:
    """Load the layers of a scenario file with the checks of ``coverage-planner run``.

    Parameters
    ----------
    path : str or Path
        A scenario TOML file, e.g. ``scenarios/demo.toml``.
    progress : bool
        Show a spinner per loading step on the terminal.

    Returns
    -------
    Region
        The layers in the region's metric CRS, with its ``scenario`` and the loaders' ``warnings``.

    Raises
    ------
    InputError
        Any problem of the scenario file or its layers.
    """
    scn = load_scenario(path)
    region, caught = _recorded(lambda: _pipeline_load_region(scn, Steps(not progress)))
    region.warnings = caught
    return region


def _layer(argument: str, key: str, columns: dict | None, coords: str = "wgs84") -> LayerSpec:
    """The LayerSpec of a frame argument, with its columns from ``columns[key]``."""
    spec = LayerSpec.of_frame(argument, key, (columns or {}).get(key))
    spec.coords = coords
    return spec


def _profile_of(profile: str | Path | Profile, rules: list[str] | None, overrides: dict | None,
                base: Path) -> Profile:
    """A loaded profile from a name, a path or a Profile (rules and overrides only with a name or path)."""
    if isinstance(profile, Profile):
        if rules is not None or overrides is not None:
            raise InputError("rules and overrides apply to a profile named by its id or path, not to a loaded "
                             "Profile.", field="profile", fix="pass the profile's name (e.g. profile=\"chongqing\") "
                             "with rules/overrides, or narrow the Profile yourself.")
        return profile
    if not isinstance(profile, str | Path):
        raise InputError(f"profile must be a profile name, a .toml path or a Profile, got {type(profile).__name__}.",
                         field="profile", fix="e.g. profile=\"chongqing\".")
    return load_profile(str(profile), base, overrides, rules)


def _columns_problems(columns: object) -> list[InputError]:
    """The refusals for a ``columns`` argument whose layers or keys no reader uses (a typo such as
    ``{"facilities": {"ambulance": ...}}`` would otherwise be ignored)."""
    if columns is None:
        return []
    if not isinstance(columns, dict) or not all(isinstance(m, dict) for m in columns.values()):
        return [InputError("columns must be a dict of layer → {our name: your column}.", field="columns",
                           fix='e.g. columns={"facilities": {"type": "机构类型"}}.')]
    layers = list(COLUMN_KEYS)
    errors = [InputError(f"unknown layer '{layer}' in columns{closest(layer, layers)}.", field=f"columns['{layer}']",
                         fix=f"use the layers {', '.join(layers)}.") for layer in columns if layer not in COLUMN_KEYS]
    for layer, mapping in columns.items():
        if layer in COLUMN_KEYS:
            errors += column_key_problems(layer, mapping, file=None, section=f"columns['{layer}']")
    return errors


def _frame_scenario(*, profile: Profile, crs: str | None, columns: dict | None, types: dict | None, coords: str,
                    population: object, roads: object, villages: object, cell_size_m: float | None,
                    facility_max_access_m: float, travel: dict | None, isochrone_minutes: list[float] | None,
                    name: str, cache_dir: str | Path | None, standards: dict) -> Scenario:
    """The Scenario of a region built from frames: what a scenario file would hold."""
    minutes = [15.0, 30.0] if isochrone_minutes is None else list(isochrone_minutes)
    if minutes_problem(minutes):
        raise InputError(minutes_problem(minutes), field="isochrone_minutes", fix="e.g. isochrone_minutes=[15, 30].")
    if not (isinstance(facility_max_access_m, int | float) and facility_max_access_m > 0):
        raise InputError(f"facility_max_access_m must be a positive number of metres, got {facility_max_access_m!r}.",
                         field="facility_max_access_m", fix="e.g. facility_max_access_m=500.")
    raise_all(_columns_problems(columns))
    raster = isinstance(population, str | Path)
    pop_spec = (LayerSpec(path=Path(population), columns=(columns or {}).get("population"), key="population")
                if raster else _layer("population", "population", columns))
    road_path = Path(roads) if isinstance(roads, str | Path) else Path("<roads graph>")
    return Scenario(
        path=Path.cwd() / f"<{name}>", name=name, title_zh=name, title_en=name, crs=crs, profile=profile,
        travel_overrides=dict(travel or {}), facility_max_access_m=float(facility_max_access_m),
        boundaries=_layer("units", "boundaries", columns),
        facilities=_layer("facilities", "facilities", columns, coords.lower()),
        population=pop_spec, roads=road_path, cell_size_m=cell_size_m, census_column=None, census_path=None,
        census_key="name", type_map=dict(types or {}), out_dir=Path("maps") / name,
        cache_dir=Path(cache_dir) if cache_dir else None, isochrone_minutes=[float(m) for m in minutes],
        raw={"standards": standards}, villages=None if villages is None else _layer("villages", "villages", columns))


def _region_from_frames(*, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, population: object,
                        roads: object, profile: str | Path | Profile, crs: str | None,
                        villages: gpd.GeoDataFrame | None, columns: dict | None, types: dict | None, coords: str,
                        cell_size_m: float | None, facility_max_access_m: float, travel: dict | None,
                        isochrone_minutes: list[float] | None, rules: list[str] | None, overrides: dict | None,
                        name: str, cache_dir: str | Path | None, progress: bool) -> Region:
    """:meth:`Region.from_geodataframes` (documented there)."""
    loaded = _profile_of(profile, rules, overrides, Path.cwd())
    standards = {"profile": str(loaded.path), "rules": rules, "overrides": overrides}
    scn = _frame_scenario(profile=loaded, crs=crs, columns=columns, types=types, coords=coords,
                          population=population, roads=roads, villages=villages, cell_size_m=cell_size_m,
                          facility_max_access_m=facility_max_access_m, travel=travel,
                          isochrone_minutes=isochrone_minutes, name=name, cache_dir=cache_dir, standards=standards)
    given = LayerFrames(boundaries=units, facilities=facilities,
                        population=None if isinstance(population, str | Path) else population,
                        roads=None if isinstance(roads, str | Path) else roads, villages=villages)
    for argument, frame in (("units", units), ("facilities", facilities)):
        if frame is None:
            raise InputError(f"{argument} is required.", field=argument, fix=f"pass {argument}=a GeoDataFrame.")
    region, caught = _recorded(lambda: _pipeline_load_region(scn, Steps(not progress), given))
    region.warnings = caught
    return region


@dataclass
class CheckResult:
    """The coverage check of a region: per-cell measures, the summary table, the warnings.

    Attributes
    ----------
    result : pipeline.Result
        Everything the run produced (rules, travel models, isochrones).
    """

    result: Result

    @property
    def cells(self) -> gpd.GeoDataFrame:
        """Population cells with, per spatial rule, distances, time, nearest facility, pass and gap."""
        return self.result.cells

    @property
    def stations(self) -> pd.DataFrame | None:
        """Station criticality (``stations.csv``): people lost per rule if each station closes."""
        return self.result.stations

    @property
    def summary(self) -> pd.DataFrame:
        """Per rule × zone × unit: population, covered, share, target, pass, ``basis`` and ``level``."""
        return self.result.summary

    @property
    def units(self) -> gpd.GeoDataFrame:
        """The administrative units as loaded (unit_id, name, zone, kind, geometry)."""
        return self.result.region.units

    @property
    def facilities(self) -> gpd.GeoDataFrame:
        """The facilities as loaded (facility_id, type, in_region, resources, geometry)."""
        return self.result.region.facilities

    @property
    def isochrones(self) -> gpd.GeoDataFrame | None:
        """One polygon per facility and time limit (display only), when computed."""
        return self.result.isochrones

    @property
    def warnings(self) -> list[str]:
        """The PlannerWarnings of loading and checking, as in ``summary.json``."""
        return self.result.warnings

    def to_files(self, out_dir: str | Path) -> Path:
        """Write the files of ``coverage-planner run`` (coverage.html, cells.gpkg, isochrones.gpkg,
        summary.csv, summary.json) into ``out_dir``, all or nothing.

        Parameters
        ----------
        out_dir : str or Path
            The output folder (created; an existing folder of outputs is replaced).

        Returns
        -------
        Path
            The folder written.
        """
        from .outputs import check_out_dir, write_outputs

        out = Path(out_dir)
        check_out_dir(out, field="out_dir")
        return write_outputs(self.result, out)


def _merged_overrides(base: dict | None, extra: dict | None) -> dict | None:
    """Per-rule overrides of the scenario with those of the call on top."""
    if not base and not extra:
        return None
    out = {k: dict(v) for k, v in (base or {}).items() if isinstance(v, dict)}
    for rule_id, changes in (extra or {}).items():
        out[rule_id] = {**out.get(rule_id, {}), **changes} if isinstance(changes, dict) else changes
    return out


def _scenario_for(region: Region, profile: str | Path | Profile | None, rules: list[str] | None,
                  overrides: dict | None) -> Scenario:
    """The region's scenario with the profile of the call: the scenario's own when none is given
    (with its rules and overrides, and those of the call on top), else the one named."""
    scn = _require_scenario(region)
    if profile is None and rules is None and overrides is None:
        return scn
    standards = scn.raw.get("standards", {}) if isinstance(scn.raw.get("standards"), dict) else {}
    base = scn.path.parent
    if profile is None:
        loaded = load_profile(str(standards.get("profile", scn.profile.path)), base,
                              _merged_overrides(standards.get("overrides"), overrides),
                              rules if rules is not None else standards.get("rules"))
    else:
        loaded = _profile_of(profile, rules, overrides, base)
    return dataclasses.replace(scn, profile=loaded)


def _require_scenario(region: object) -> Scenario:
    if not isinstance(region, Region) or region.scenario is None:
        raise InputError(f"expected a Region from cp.load_region or cp.Region.from_geodataframes, got "
                         f"{type(region).__name__}.", field="region",
                         fix="load it with cp.load_region(\"scenario.toml\") or cp.Region.from_geodataframes(...).")
    return region.scenario


def _region_for(region: Region, scn: Scenario, steps: Steps) -> tuple[Region, list[str]]:
    """The region loaded for ``scn``: the same one when its profile is the one it was loaded for, else
    loaded again (facility types, the facility margin, the road clip and zones depend on the profile)."""
    if scn.profile == region.scenario.profile:
        return region, list(region.warnings)
    again, caught = _recorded(lambda: _pipeline_load_region(scn, steps, region.layers))
    again.warnings = caught
    return again, caught


def check(region: Region, profile: str | Path | Profile | None = None, rules: list[str] | None = None,
          overrides: dict[str, dict] | None = None, isochrones: bool = True, progress: bool = False) -> CheckResult:
    """Check a region against a standards profile, as ``coverage-planner run`` does.

    Parameters
    ----------
    region : Region
        From :func:`load_region` or :meth:`Region.from_geodataframes`.
    profile : str, Path or Profile, optional
        A bundled profile's name (``chongqing``, ``zhejiang``, ``ganzhou``, ``leshan-shizhong``), a
        profile TOML or a loaded Profile; default: the profile the region was loaded with. A profile
        other than that one loads the region's layers again for it.
    rules : list of str, optional
        Check only these rule ids (the parts of an ``any_of`` rule are kept).
    overrides : dict, optional
        Rule id → changed values, e.g. ``{"ems_radius": {"urban_km": 4.0}}`` (on top of the scenario's
        when ``profile`` is not given).
    isochrones : bool
        Also compute the isochrone polygons of every facility (for the map and ``isochrones.gpkg``).
    progress : bool
        Show a spinner per step on the terminal.

    Returns
    -------
    CheckResult
        ``.cells``, ``.summary``, ``.units``, ``.facilities``, ``.isochrones``, ``.warnings``;
        ``.to_files(out_dir)`` writes the outputs of ``coverage-planner run``.

    Raises
    ------
    InputError
        An unknown profile, rule or override, or a problem of the layers when they are loaded again.
    """
    scn = _scenario_for(region, profile, rules, overrides)
    steps = Steps(not progress)
    region, loaded = _region_for(region, scn, steps)

    def work() -> Result:
        from .criticality import criticality

        result = evaluate(scn, region, steps)
        result.stations = criticality(result)
        if isochrones:
            add_isochrones(result, scn.isochrone_minutes, steps)
        return result

    result, caught = _recorded(work)
    result.warnings = loaded + caught
    return CheckResult(result)


@dataclass
class SitingResult:
    """New station sites from the siting models.

    Attributes
    ----------
    result : siting.SitingResult
        The problem (candidates, covering and cost matrices) and every model's Solution.
    table : DataFrame
        One row per model and open site, as ``siting.csv``.
    warnings : list of str
        The PlannerWarnings raised while building and solving.
    """

    result: object
    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)

    @property
    def solutions(self) -> dict[str, opt.Solution]:
        """Model name → :class:`~coverage_planner.optimize.Solution` (selected columns, objective, bound, gap)."""
        return self.result.solutions

    @property
    def sites(self) -> gpd.GeoDataFrame:
        """One point per model and open site (new or existing) in the region's CRS, with the people it
        adds and serves and the ambulances it needs."""
        table = self.table
        if len(table) == 0:
            return gpd.GeoDataFrame(table, geometry=gpd.points_from_xy([], []), crs=self.result.region.crs)
        return gpd.GeoDataFrame(table.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(table["x"], table["y"]),
                                crs=self.result.region.crs)

    @property
    def models(self) -> pd.DataFrame:
        """One row per model: new sites, objective, bound, gap, status, people covered before and after."""
        from .siting import solutions_frame

        return solutions_frame(self.result)

    @property
    def candidates(self) -> gpd.GeoDataFrame:
        """The candidate sites (existing stations first); a Solution's ``selected`` indexes these rows."""
        return self.result.problem.candidates

    def to_files(self, out_dir: str | Path) -> Path:
        """Write the files of ``coverage-planner site`` into ``out_dir``, all or nothing.

        Parameters
        ----------
        out_dir : str or Path
            The output folder.

        Returns
        -------
        Path
            The folder written.

        Raises
        ------
        InputError
            For a region built from GeoDataFrames: the proposed scenario file needs a scenario file.
        """
        from .outputs import check_out_dir
        from .siting import write_siting_outputs

        if self.result.region.layers is not None and any(
                v is not None for v in dataclasses.astuple(self.result.region.layers)):
            raise InputError("the site outputs include a proposed scenario file, which needs a region loaded from a "
                             "scenario file; this one was built from GeoDataFrames.", field="out_dir",
                             fix="use .sites (a GeoDataFrame: .sites.to_file(\"sites.gpkg\")) and .models, or load "
                                 "the region with cp.load_region(\"scenario.toml\").")
        out = Path(out_dir)
        check_out_dir(out, field="out_dir")
        return write_siting_outputs(self.result, self.table, out)


def site(region: Region, rule: str | None = None, models: list[str] | None = None, p: int | None = None,
         relocate: bool | None = None, progress: bool = False, **settings: object) -> SitingResult:
    """Propose new ambulance stations for a region, as ``coverage-planner site`` does.

    Parameters
    ----------
    region : Region
        From :func:`load_region` or :meth:`Region.from_geodataframes`.
    rule : str, optional
        The radius or travel_time rule that defines coverage (default: the scenario's ``[siting]
        rule``, else ``ems_radius``).
    models : list of str, optional
        Among ``lscp``, ``mclp``, ``p_median``, ``p_center``, ``mexclp``, ``dsm`` (default: all).
    p : int, optional
        New stations for the p-models (default: the scenario's, else 3).
    relocate : bool, optional
        Let the models move existing stations.
    progress : bool
        Show a spinner per step on the terminal.
    **settings
        Other ``[siting]`` settings: ``candidates``, ``candidates_path``, ``candidate_types``,
        ``spacing_m``, ``busy_fraction``, ``loose_factor``, ``alpha``, ``time_limit_s``, ``apply``.

    Returns
    -------
    SitingResult
        ``.sites`` (GeoDataFrame), ``.models`` (DataFrame), ``.solutions`` (model → Solution).

    Raises
    ------
    InputError
        A setting out of range, an unknown rule or model, or a model without an answer.
    """
    from . import siting as st

    scn = _require_scenario(region)
    given = {k: v for k, v in {"rule": rule, "p": p, "relocate": relocate, **settings}.items() if v is not None}
    raw = {**scn.raw, "siting": {**(scn.raw.get("siting") or {}), **given}}
    scn = dataclasses.replace(scn, raw=raw)
    unknown = [m for m in (models or []) if m not in st.MODELS]
    if unknown or (models is not None and not models):
        raise InputError(f"unknown model(s) {unknown or models}.", field="models",
                         fix=f"use some of {', '.join(st.MODELS)}.")
    names = list(dict.fromkeys(models or st.MODELS))
    settings_in = st.read_settings(scn, None, names)
    if settings_in.get("per") is not None:   # one problem per county is not what this function returns
        raise InputError(f"per = {settings_in['per']!r}: cp.site solves one problem for the whole region.",
                         field="siting.per", fix="leave per out here; for one problem per county use "
                         "coverage_planner.siting_units.run_units(scenario) or coverage-planner site --per county.")
    settings_in["apply"] = st.applied_model(scn, settings_in, names)
    steps = Steps(not progress)

    def work() -> tuple[object, pd.DataFrame]:
        problem, _ = st.build_problem(scn, region, settings_in, steps)
        result = st.SitingResult(scn, region, problem, settings_in)
        result.solutions = st.solve_models(problem, settings_in, names, steps)
        lscp_sol = result.solutions.get("lscp")
        p_max = None if lscp_sol is None else max(0, len(lscp_sol.selected) - len(problem.fixed))
        result.curve = opt.coverage_curve(problem.cover, problem.weights, fixed=problem.fixed, p_max=p_max)
        return result, st.site_table(result, *st.ambulance_ratio(scn))

    (result, table), caught = _recorded(work)
    return SitingResult(result, table, caught)

