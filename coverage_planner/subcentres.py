"""County medical sub-centres (县域医疗次中心): rank candidate towns on their own catchment.

``coverage-planner subcentres SCENARIO`` ranks the township health centres that could be built up
into county medical sub-centres (STANDARDS.md §3; seeds 003 and 004), optionally chooses the number
the plan names, and writes, into ``maps/<scenario>/`` (or ``--out``): ``subcentres.csv``,
``subcentres.gpkg`` (layers ``candidates``, ``catchments`` and ``own_catchments``) and
``subcentres.html``, and prints a table.

Candidates
    By default every township health centre (facility type ``thc``) standing in a unit flagged
    ``central_town`` in the boundary layer (000/001 「适度集聚中心镇医疗卫生资源」, 003 中心卫生院,
    004 「依托…中心镇、特色镇卫生院」). ``[subcentres] candidates = ["T01", ...]`` (facility ids) or
    ``candidates_path = "file.geojson"`` (points with an ``id`` column, optional ``name``/``name_en``;
    read like the facility layer by :func:`coverage_planner.candidates.read_candidates`: also CSV or
    Excel with 经度/纬度, in the facilities' ``coords`` or a 坐标系 column)
    replace that list.

County hospital
    ``[subcentres] county_hospital = "H01"`` (a facility id); by default the first (by id)
    ``hospital``-type facility standing in a unit flagged ``county_seat``. The existing hospitals are
    every ``hospital``-type facility and the county hospital.

Travel
    The ``car`` travel profile (with the scenario's ``[travel.profiles.car]`` overrides), patients
    travelling to the centre (``to_facility``); time = access leg from the cell to the road + driving +
    access leg from the road to the centre. Limits are inclusive.

Own catchment (``own_catchment_pop``)
    The people within ``minutes`` of the candidate for whom it would be the nearest of {the
    candidate, the existing hospitals}, county-seat residents excluded. A tie (equal times) goes to
    the existing hospital. A candidate that is itself an existing hospital competes with the other
    hospitals only. ``meets_100k`` = ``own_catchment_pop`` ≥ ``min_population`` (003 L305
    「辐射服务常住人口10万以上」). ``gross_reach_pop`` is everyone within ``minutes``, county seat included.
    Computed with one search from all existing hospitals together and one bounded search per candidate.

Assumptions (the plans give no number; change them in ``[subcentres]``)
    * ``minutes = 30``: 003 L305 gives no travel time; 30 minutes by car is the rural medical service
      circle of 001 L34. The table also gives the own catchment and the rank at each of
      ``sensitivity_minutes = [20, 30, 45]`` (columns ``own_catchment_pop_<m>min``, ``rank_<m>min``).
    * the weights of the ranking (below).

Criteria (one column each; see :data:`coverage_planner.subcentre_choice.CRITERIA`)

==================  ================================  ==============================  ===========  ======
key (weight)        column                            plan                            1 point =    default
==================  ================================  ==============================  ===========  ======
population          own_catchment_pop                 003 L305; 004 L331 人口数量       100,000 ppl  3
threshold           meets_100k                        003 L305 10万以上                  yes          2
county_seat         is_county_seat (subtracts)        003 L305 优先支持非县级政府驻地    yes          2
distance            minutes_from_county_hospital      003 L305; 004 L331 服务半径大      ``minutes``  0.5
concentration       settlement_concentration          004 L331 聚居程度                 share 1      1
transport           catchment_mean_minutes            004 L331 交通便捷程度             see below    1
radiation           newly_covered_rural               004 L331 医疗辐射力               100,000 ppl  1
ems                 ems_gain_pop                      004 L271, L331 急救               100,000 ppl  1
beds                beds                              003 L305; 004 L185–187           100 beds     0.5
grade               grade_level                       001 L572; 004 L331               one level    0.5
==================  ================================  ==============================  ===========  ======

* ``settlement_concentration``: share of the own catchment's people in cells at or above the
  profile's ``urban_density_per_km2``;
* ``catchment_mean_minutes``: the own catchment's population-weighted mean time to the centre;
  points = weight × (1 − mean / ``minutes``), the share of the limit to spare (0 for no catchment);
* ``newly_covered_rural``: rural people within ``minutes`` whom no existing hospital reaches within it;
* ``ems_gain_pop``: people who would newly meet the profile's EMS rule (``ems_radius`` first, or
  ``[subcentres] ems_rule``, judged as ``coverage-planner run`` judges it) if the centre hosted an
  ambulance station with the profile's default turnout (004 L271: sub-centres host EMS extension
  stations);
* ``beds`` and ``grade`` (一级/二级/三级 with 甲等/乙等/丙等 → ``grade_level`` 1–3.5: 二级乙等 = 2.25,
  二级甲等 = 2.5) from the facility layer's ``beds``/``床位`` and ``grade``/``等级`` columns when it has
  them (a missing value counts 0);
* 产业基础好 (industrial base, 004 L331) cannot be measured from population, facilities and roads and
  is not a criterion; ``catchment_units`` and ``share_outside_own_unit`` (004 「打破行政区划界限」) are
  reported, not scored.

Ranking
    score = Σ weight × value / scale (the "1 point =" column); ``rank`` 1, 2, 3, … by score, exact
    ties by facility id. ``[subcentres.weights]`` changes any weight, e.g. ``population = 5``. A
    county-seat town is not preferred (it loses the ``county_seat`` points), not ineligible.
    ``decisive`` names the criterion that gave a candidate its largest lead over the next one;
    ``reasons`` / ``reasons_zh`` say it in English and 中文 with the candidate's figures.

Joint choice (``[subcentres] choose = 3``, 004 L331 「力争建成 3 个县域医疗卫生次中心」)
    The ``choose`` candidates whose own catchments together serve the most people, each person counted
    once, so two towns competing for the same people are not both chosen for them. Towns outside the
    county seat are chosen first (003 L305 优先支持); county-seat towns only fill places they cannot.
    Every set is examined when there are at most 200,000; among equal sets the best-ranked members
    win. ``selected``, ``selection_order`` and ``marginal_gain_pop`` (the people each adds to those
    chosen before it) are columns. Not required to meet ``min_population``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from . import coverage as cov
from . import subcentre_choice as choice
from .candidates import read_candidates
from . import settings_check as sc
from .errors import InputError, PlannerWarning, raise_all, warn
from .facility_types import has_role
from .layers import LayerSpec
from .progress import Steps
from .region import Region, assign_units, load_region
from .scenario import Scenario, load_scenario
from .standards import Rule
from .travel import FROM_FACILITY, TO_FACILITY

SECTION = "subcentres"
TRAVEL_PROFILE = "car"
DEFAULT_MINUTES = 30.0
DEFAULT_MIN_POPULATION = 100_000.0
DEFAULT_BAND = (20.0, 30.0, 45.0)
OUTPUT_FILES = ("subcentres.csv", "subcentres.gpkg", "subcentres.html")
BEDS_COLUMNS = ("beds", "床位", "床位数", "编制床位", "实有床位")
GRADE_COLUMNS = ("grade", "等级", "医院等级", "级别")

MAIN_COLUMNS = [
    "rank", "score", "decisive", "selected", "selection_order", "marginal_gain_pop", "facility_id", "name",
    "name_en", "unit_id", "unit_name", "preferred", "is_county_seat", "own_catchment_pop", "gross_reach_pop",
    "meets_100k", "minutes_from_county_hospital", "settlement_concentration", "catchment_mean_minutes",
    "newly_covered_rural", "ems_gain_pop", "beds", "grade", "grade_level", "catchment_units",
    "share_outside_own_unit",
]
TAIL_COLUMNS = ["minutes", "min_population", "reasons", "reasons_zh"]


def band_columns(minutes: list[float]) -> list[str]:
    """The sensitivity columns: own catchment and rank at each time limit."""
    return [f"{name}_{m:g}min" for m in minutes for name in ("own_catchment_pop", "rank")]


@dataclass
class Settings:
    """The validated ``[subcentres]`` section."""

    candidates: list[str] | None = None
    candidates_path: Path | None = None
    county_hospital: str | None = None
    minutes: float = DEFAULT_MINUTES
    min_population: float = DEFAULT_MIN_POPULATION
    sensitivity_minutes: list[float] = field(default_factory=lambda: list(DEFAULT_BAND))
    choose: int | None = None
    weights: dict[str, float] = field(default_factory=dict)
    ems_rule: str | None = None

    def weight(self, key: str) -> float:
        """The weight of a criterion (the scenario's, else the default)."""
        return float(self.weights.get(key, choice.WEIGHT_KEYS[key].weight))


@dataclass
class SubcentreResult:
    """The ranked candidates (``table``, in rank order) and their catchment polygons."""

    scenario: Scenario
    region: Region
    settings: Settings
    table: gpd.GeoDataFrame
    catchments: gpd.GeoDataFrame
    county_hospital: pd.Series
    warnings: list[str] = field(default_factory=list)
    own_catchments: gpd.GeoDataFrame | None = None
    ems_rule: str | None = None
    choice: choice.Choice | None = None


# ----------------------------------------------------------------------------------------- settings

def _twice(what: str) -> Callable[[list], tuple[str, str] | None]:
    def check(values: list) -> tuple[str, str] | None:
        dup = sc.listed_twice(values)
        return (f"{what} listed twice: {', '.join(map(str, dup))} (in {values!r}).", "list each once.") if dup else None
    return check


# The [subcentres] table (checked by settings_check.check_table); weights are a table of their own.
FIELDS = (
    sc.Field("candidates", sc.list_of(lambda i: isinstance(i, (str, int)) and not isinstance(i, bool), nonempty=True),
             "a non-empty list of facility ids", 'e.g. candidates = ["T01", "T02"].', None,
             'facility ids of the candidate centres, e.g. ["T01", "T02"]',
             prepare=lambda v: [str(i) for i in v] if isinstance(v, list) and
             all(isinstance(i, (str, int)) and not isinstance(i, bool) for i in v) else v,
             extra=_twice("candidate id(s)")),
    sc.Field("candidates_path", sc.nonempty_text, "a file path", 'e.g. candidates_path = "candidates.geojson".', None,
             "a layer of candidate points with an id column (GeoJSON/GPKG/Shapefile, CSV or Excel with 经度/纬度)"),
    sc.Field("county_hospital", lambda v: isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) != "",
             "one facility id", 'e.g. county_hospital = "H01".', None,
             'the facility id of the county hospital, e.g. "H01"', convert=str),
    sc.Field("minutes", sc.positive, "a positive number", f"e.g. minutes = {DEFAULT_MINUTES:g}.", DEFAULT_MINUTES,
             "the catchment's travel-time limit by car in minutes (default 30, an assumption)", convert=float),
    sc.Field("min_population", sc.at_least(0), "a number ≥ 0", f"e.g. min_population = {DEFAULT_MIN_POPULATION:g}.",
             DEFAULT_MIN_POPULATION, "people the own catchment must hold (default 100000, seed 003 L305)",
             convert=float),
    sc.Field("sensitivity_minutes", sc.list_of(sc.positive), "a list of positive minutes",
             "e.g. sensitivity_minutes = [20, 30, 45], or [] for none.", list(DEFAULT_BAND),
             "other time limits for the rank and own catchment (default [20, 30, 45])",
             convert=lambda band: sorted(float(m) for m in band), extra=_twice("time limit(s)")),
    sc.Field("choose", sc.whole(1), "a whole number of sub-centres (1 or more)",
             "e.g. choose = 3 (seed 004 L331: 3 sub-centres by 2025), or leave it out to rank only.", None,
             "how many sub-centres to choose together, e.g. 3 (seed 004 L331)"),
    sc.Field("weights", None, "a table of criterion weights",
             "write [subcentres.weights] with lines such as population = 3.", {},
             "a table of criterion weights, e.g. [subcentres.weights] population = 3",
             table=tuple(sc.Field(c.key, sc.at_least(0), "a number ≥ 0",
                                  f"e.g. {c.key} = {c.weight:g} (0 leaves the criterion out).", c.weight,
                                  f"{c.en}, default {c.weight:g}", convert=float) for c in choice.CRITERIA)),
    sc.Field("ems_rule", sc.nonempty_text, "a rule id", 'e.g. ems_rule = "ems_radius".', None,
             'the profile\'s EMS rule the EMS gain is judged on, e.g. "ems_radius"'),
)


def read_settings(scn: Scenario) -> Settings:
    """Validate the scenario's ``[subcentres]`` section (:data:`FIELDS`).

    Raises
    ------
    InputError
        Every unknown key, value out of range and missing candidate file, at once.
    """
    table = scn.raw.get(SECTION, {})
    file = scn.path
    if not isinstance(table, dict):
        raise InputError(f"[{SECTION}] must be a table.", file=file, field=SECTION,
                         fix=f"write it as a section: [{SECTION}] on its own line, then key = value lines.")
    values, errors = sc.check_table(table, FIELDS, section=SECTION, file=file)
    if values["candidates_path"] is not None:
        values["candidates_path"] = path = (scn.path.parent / values["candidates_path"]).resolve()
        if not path.exists():
            errors.append(InputError(f"the file {path} does not exist.", file=file, field=f"{SECTION}.candidates_path",
                                     fix="check the path; relative paths are read from the scenario file's folder."))
    if "candidates" in table and "candidates_path" in table:
        errors.append(InputError("both candidates and candidates_path are given.", file=file,
                                 field=f"{SECTION}.candidates", fix="keep only one of them."))
    raise_all(errors)
    return Settings(**values)


# ------------------------------------------------------------------------------ candidates, hospital

def _inside(fac: gpd.GeoDataFrame) -> np.ndarray:
    """Facilities inside the region's boundaries (not those kept just outside them)."""
    return fac["in_region"].to_numpy(dtype=bool) if "in_region" in fac else np.ones(len(fac), dtype=bool)


def pick_candidates(settings: Settings, scn: Scenario, region: Region) -> gpd.GeoDataFrame:
    """Candidate points: facility_id, name, name_en, unit (index into region.units), geometry."""
    fac, units = region.facilities, region.units
    if settings.candidates_path is not None:
        return _candidates_from_file(settings.candidates_path, scn, region)
    if settings.candidates is not None:
        known = set(fac["facility_id"])
        missing = [i for i in settings.candidates if i not in known]
        if missing:
            raise InputError(f"candidate id(s) not among the facilities: {', '.join(missing)}.",
                             file=scn.path, field=f"{SECTION}.candidates",
                             fix=f"use ids from the facility layer ({scn.facilities.path}), e.g. "
                                 f"{', '.join(sorted(known)[:6])}.")
        pos = {fid: i for i, fid in enumerate(fac["facility_id"])}
        idx = np.array([pos[i] for i in settings.candidates], dtype=np.int64)
    else:
        central = units["central_town"].to_numpy(dtype=bool)[region.fac_unit]
        idx = np.flatnonzero(has_role(fac["type"], ["thc"]) & central & _inside(fac))
        if len(idx) == 0:
            n_central = int(units["central_town"].sum())
            raise InputError(
                f"no candidate: no township health centre (facility type 'thc') stands in a unit flagged "
                f"central_town ({n_central} unit(s) are flagged).", file=scn.boundaries.path,
                field="central_town",
                fix="flag the central towns (中心镇) with central_town = true in the boundary layer, or list "
                    "the candidates in the scenario: [subcentres] candidates = [\"T01\", ...].")
    out = gpd.GeoDataFrame({
        "facility_id": fac["facility_id"].to_numpy()[idx], "name": fac["name"].to_numpy()[idx],
        "name_en": fac["name_en"].to_numpy()[idx], "unit": region.fac_unit[idx], "fac_index": idx,
    }, geometry=fac.geometry.to_numpy()[idx], crs=region.crs)
    return out.reset_index(drop=True)


def _candidates_from_file(path: Path, scn: Scenario, region: Region) -> gpd.GeoDataFrame:
    """Candidates of ``[subcentres] candidates_path`` (see :func:`candidates.read_candidates`), in the
    facilities' coordinate system; a candidate that is no facility has ``fac_index`` -1."""
    spec = LayerSpec(path=path, key=f"{SECTION}.candidates_path", coords=scn.facilities.coords)
    frame = read_candidates(spec, region.region, region.crs, require_id=True, names_from_id=True,
                            empty_fix="give at least one candidate point.")
    x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    return gpd.GeoDataFrame({
        "facility_id": frame["candidate_id"].to_numpy(), "name": frame["name"].to_numpy(),
        "name_en": frame["name_en"].to_numpy(), "unit": assign_units(region.units, x, y),
        "fac_index": np.full(len(frame), -1, dtype=np.int64),
    }, geometry=frame.geometry.to_numpy(), crs=region.crs)


def pick_county_hospital(settings: Settings, scn: Scenario, region: Region) -> int:
    """Index (into region.facilities) of the county hospital."""
    fac, units = region.facilities, region.units
    ids = fac["facility_id"].to_numpy()
    if settings.county_hospital is not None:
        hit = np.flatnonzero(ids == settings.county_hospital)
        if len(hit) == 0:
            raise InputError(f"county hospital id '{settings.county_hospital}' is not among the facilities.",
                             file=scn.path, field=f"{SECTION}.county_hospital",
                             fix=f"use an id from the facility layer ({scn.facilities.path}); hospitals there: "
                                 f"{', '.join(sorted(ids[has_role(fac['type'], ['hospital'])])[:8]) or 'none'}.")
        return int(hit[0])
    seat = units["county_seat"].to_numpy(dtype=bool)[region.fac_unit]
    hit = np.flatnonzero(has_role(fac["type"], ["hospital"]) & seat & _inside(fac))
    if len(hit) == 0:
        raise InputError("no county hospital: no hospital-type facility stands in a unit flagged county_seat.",
                         file=scn.path, field=f"{SECTION}.county_hospital",
                         fix="name it in the scenario: [subcentres] county_hospital = \"H01\", or flag the "
                             "county seat (县级政府驻地) with county_seat = true in the boundary layer.")
    return int(hit[np.argsort(ids[hit], kind="stable")[0]])



# ----------------------------------------------------------------------------------------- criteria

@dataclass
class Measures:
    """Per-cell and per-candidate travel results that every time limit is judged on."""

    times: sp.csc_matrix         # cells × candidates: seconds to the candidate, up to the largest limit
    hospital_s: np.ndarray       # cells: seconds to the nearest existing hospital that is not a candidate
    candidate_hospital: np.ndarray   # candidates: the candidate is itself an existing hospital
    from_county_hospital_s: np.ndarray   # candidates: seconds from the county hospital
    pop: np.ndarray
    counted: np.ndarray          # cells outside the county seat
    rural: np.ndarray
    dense: np.ndarray
    ems_gain: np.ndarray         # candidates: people newly meeting the EMS rule (NaN when no rule)
    ems_rule: str | None


def _hospitals(fac: pd.DataFrame, hosp_idx: int) -> np.ndarray:
    """Indices of the existing hospitals: every hospital-type facility and the county hospital."""
    return np.union1d(np.flatnonzero(has_role(fac["type"], ["hospital"])), [hosp_idx])


def _snap_candidates(model: cov.TravelModel, cand: gpd.GeoDataFrame, scn: Scenario, settings: Settings | None):
    """The candidates snapped to the model's core roads; those too far from a road are refused."""
    from_file = settings is not None and settings.candidates_path is not None
    return cov.snap_sites(model, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy(), cand["facility_id"].to_numpy(),
                          scn.facility_max_access_m, what=("candidate", "candidates"),
                          file=settings.candidates_path if from_file else scn.path,
                          field=f"{SECTION}.candidates_path" if from_file else f"{SECTION}.candidates")


def measure_candidates(scn: Scenario, region: Region, settings: Settings, cand: gpd.GeoDataFrame,
                       hosp_idx: int, steps: Steps) -> Measures:
    """One multi-source search from the existing hospitals, one bounded search per candidate (up to
    the largest time limit), the county hospital's time to each candidate, and the EMS gain."""
    cells, fac = region.cells, region.facilities
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    pop = cells["population"].to_numpy(dtype=float)
    longest = max([settings.minutes, *settings.sensitivity_minutes]) * 60.0
    with steps.step(f"Snapping to roads, profile '{TRAVEL_PROFILE}'"):
        model = cov.build_travel_model(region.roads, TRAVEL_PROFILE, scn.travel_overrides.get(TRAVEL_PROFILE),
                                       x, y, fac, scn.facility_max_access_m, scn.facilities.path,
                                       max_access_m=scn.profile.max_access_m)
        cov.warn_cut_off(model, pop)
        csnap = _snap_candidates(model, cand, scn, settings)
    v = model.access_mps
    cell_off = model.cell_snap.access_m / v
    with steps.step(f"Catchments of {len(cand)} candidate(s) up to {longest / 60:g} min 服务范围"):
        times = model.router(TO_FACILITY, "time").bounded(csnap, csnap.access_m / v, model.cell_snap,
                                                          cell_off, longest).tocsc()
    hosp = _hospitals(fac, hosp_idx)
    is_cand = _candidate_facilities(cand, fac)
    competing = np.setdiff1d(hosp, is_cand)
    with steps.step("Existing hospitals' reach and the county hospital 现有医院"):
        if len(competing):
            hsnap = model.fac_snap.take(competing)
            hospital_s, _ = model.router(TO_FACILITY, "time").nearest(hsnap, hsnap.access_m / v,
                                                                      model.cell_snap, cell_off)
        else:
            hospital_s = np.full(len(cells), np.inf)
        one = model.fac_snap.take(np.array([hosp_idx]))
        from_hosp, _ = model.router(FROM_FACILITY, "time").nearest(one, one.access_m / v, csnap,
                                                                    csnap.access_m / v)
    seat_units = set(region.units["unit_id"].to_numpy()[region.units["county_seat"].to_numpy(dtype=bool)])
    density = pop / (cells["cell_m"].to_numpy(dtype=float) ** 2 / 1e6)
    rule = ems_rule(scn, settings)
    gain = np.full(len(cand), np.nan)
    if rule is not None:
        with steps.step(f"EMS gain on rule {rule.id} 急救站点增益"):
            gain = ems_gain(scn, region, cand, rule, settings)
    fac_ids = fac["facility_id"].to_numpy()
    return Measures(
        times=times, hospital_s=hospital_s,
        candidate_hospital=np.isin(cand["facility_id"].to_numpy(), fac_ids[hosp]),
        from_county_hospital_s=from_hosp, pop=pop,
        counted=~np.isin(cells["unit_id"].to_numpy(), list(seat_units)),
        rural=cells["zone"].to_numpy() == "rural", dense=density >= scn.profile.urban_density_per_km2,
        ems_gain=gain, ems_rule=None if rule is None else rule.id)


def _candidate_facilities(cand: gpd.GeoDataFrame, fac: pd.DataFrame) -> np.ndarray:
    """Facility indices of the candidates that are facilities (not new sites from a file)."""
    if "fac_index" not in cand:
        return np.zeros(0, dtype=np.int64)
    idx = cand["fac_index"].to_numpy()
    return idx[idx >= 0].astype(np.int64)


# --------------------------------------------------------------------------------------------- EMS

def ems_rule(scn: Scenario, settings: Settings) -> Rule | None:
    """The EMS rule the gain is judged on: ``[subcentres] ems_rule``, else the profile's first radius or
    travel-time rule for ``ems`` facilities that is not marked an assumption (else the first such)."""
    rules = [r for r in scn.profile.rules if r.kind in ("radius", "travel_time") and "ems" in r.facility_types]
    if settings.ems_rule is not None:
        hit = [r for r in rules if r.id == settings.ems_rule]
        if not hit:
            raise InputError(f"ems_rule '{settings.ems_rule}' is not an EMS radius or response-time rule of "
                             f"the profile '{scn.profile.id}'.", file=scn.path, field=f"{SECTION}.ems_rule",
                             fix="use one of: " + (", ".join(r.id for r in rules) or "none (leave ems_rule out)") + ".")
        return hit[0]
    planned = [r for r in rules if getattr(r, "basis", "plan") != "assumption"]
    if not (planned or rules):
        warn(f"the standards profile '{scn.profile.id}' has no EMS radius or response-time rule, so the EMS "
             "gain of the sub-centre candidates (ems_gain_pop) is not computed and does not count in the rank.")
        return None
    return (planned or rules)[0]


def ems_gain(scn: Scenario, region: Region, cand: gpd.GeoDataFrame, rule: Rule,
             settings: Settings | None = None) -> np.ndarray:
    """People who would newly meet ``rule`` if an ambulance station stood at each candidate.

    The existing stations are judged as ``coverage-planner run`` judges them; a station at the
    candidate has the profile's default turnout; a cell newly passes when the better of the two
    meets its zone's limit.
    """
    cells, fac = region.cells, region.facilities
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    pop = cells["population"].to_numpy(dtype=float)
    model = cov.build_travel_model(region.roads, rule.travel_profile, scn.travel_overrides.get(rule.travel_profile),
                                   x, y, fac, scn.facility_max_access_m, scn.facilities.path)
    idx = cov.rule_facilities(rule, fac)
    turnout = cov.turnout_seconds(fac, scn.profile) if rule.include_turnout else np.zeros(len(fac))
    if len(idx):
        old = cov.nearest_measures(model, idx, turnout, rule.direction, x, y, fac.geometry.x.to_numpy(),
                                   fac.geometry.y.to_numpy())
    else:
        old = {k: np.full(len(cells), np.inf) for k in ("straight_m", "network_m", "time_s")}
    limit = cov.cell_thresholds(rule, cells["zone"].to_numpy())
    judge = lambda meas: cov.judge_cells(cov.rule_value(rule, meas), limit, model.cell_snap.access_m,  # noqa: E731
                                         model.cut_off, scn.profile.max_access_m)[0] & np.isfinite(limit)
    before = judge(old)
    column = _candidate_columns(model, cand, rule, scn, limit, x, y, settings)
    gain = np.empty(len(cand))
    for k in range(len(cand)):     # one vector operation over the cells per candidate
        meas = {key: np.minimum(old[key], value) for key, value in column(k).items()}
        gain[k] = float(pop[judge(meas) & ~before].sum())
    return gain


def _candidate_columns(model: cov.TravelModel, cand: gpd.GeoDataFrame, rule: Rule, scn: Scenario,
                       limit: np.ndarray, x: np.ndarray, y: np.ndarray, settings: Settings | None = None):
    """A function of the candidate position k giving straight-line and network metres and seconds
    from a station there to every cell (``inf`` beyond the rule's largest limit or not measured)."""
    cells = model.cell_snap
    csnap = _snap_candidates(model, cand, scn, settings)
    top = float(np.nanmax(limit)) if np.isfinite(limit).any() else 0.0
    cx, cy = cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy()
    if rule.kind == "radius":
        key = "network_m"
        matrix = model.router(rule.direction, "length").bounded(csnap, csnap.access_m, cells, cells.access_m, top)
    else:
        key = "time_s"
        v = model.access_mps
        turnout = scn.profile.default_turnout_min * 60.0 if rule.include_turnout else 0.0
        matrix = model.router(rule.direction, "time").bounded(csnap, turnout + csnap.access_m / v, cells,
                                                              cells.access_m / v, top)
    matrix = matrix.tocsc()

    def column(k: int) -> dict[str, np.ndarray]:
        out = {name: np.full(len(cells), np.inf) for name in ("straight_m", "network_m", "time_s")}
        lo, hi = matrix.indptr[k], matrix.indptr[k + 1]
        out[key][matrix.indices[lo:hi]] = matrix.data[lo:hi]
        if rule.kind == "radius":
            out["straight_m"] = np.hypot(x - cx[k], y - cy[k])
        return out

    return column


# ------------------------------------------------------------------------------------- capability

GRADE_LEVELS = {"一": 1.0, "二": 2.0, "三": 3.0, "1": 1.0, "2": 2.0, "3": 3.0}
GRADE_CLASSES = {"甲": 0.5, "乙": 0.25, "丙": 0.0, "A": 0.5, "B": 0.25, "C": 0.0}


def grade_level(text: object) -> float:
    """一级/二级/三级 (or 1/2/3) plus 0.5 for 甲等 (A), 0.25 for 乙等 (B); NaN for empty or unknown text.

    Examples: 二级甲等 → 2.5, 二甲 → 2.5, 二级乙等 → 2.25, 一级 → 1, 3A → 3.5, 未定级 → NaN.
    """
    s = "" if text is None or (isinstance(text, float) and np.isnan(text)) else str(text).strip().upper()
    if not s or s[0] not in GRADE_LEVELS:
        return np.nan
    rest = s[1:].lstrip("级 ")
    return GRADE_LEVELS[s[0]] + (GRADE_CLASSES.get(rest[0], np.nan) if rest else 0.0)


def _raw_facility_table(scn: Scenario) -> pd.DataFrame | None:
    """The facility layer's attribute table as read (None for OSM files)."""
    from .facilities import read_points
    from .layers import OSM_SUFFIXES, existing_path

    if existing_path(scn.facilities).name.lower().endswith(OSM_SUFFIXES):
        return None
    return pd.DataFrame(read_points(scn.facilities, ("facility", "facilities")).drop(columns="geometry"))


def _first_column(frame: pd.DataFrame, spec: LayerSpec, ours: str, aliases: tuple[str, ...]) -> str | None:
    named = spec.column(ours)
    if named is not None:
        return named if named in frame else None
    return next((c for c in aliases if c in frame), None)


def capability(scn: Scenario, region: Region, cand: gpd.GeoDataFrame) -> pd.DataFrame:
    """Beds, grade text and grade level of each candidate from the facility layer (NaN/"" if absent).

    Taken from the loaded facilities when they carry ``beds``/``grade``, else from the layer's own
    columns (``beds``, ``床位``, … and ``grade``, ``等级``, …, or as named under ``[facilities.columns]``),
    matched by facility id. A bed count that is not a number ≥ 0, or a grade that is not 一级/二级/三级
    (甲等/乙等/丙等), is an InputError naming the row.
    """
    fac = region.facilities
    frame = fac if {"beds", "grade"} <= set(fac.columns) else _raw_facility_table(scn)
    out = pd.DataFrame({"beds": np.full(len(cand), np.nan), "grade": [""] * len(cand),
                        "grade_level": np.full(len(cand), np.nan)})
    if frame is None:
        return out
    spec = scn.facilities
    id_col = "facility_id" if frame is fac else spec.column("id", "id")
    ids = frame[id_col].astype(str).to_numpy() if id_col in frame else fac["facility_id"].to_numpy()
    row_of = {fid: k for k, fid in enumerate(ids)}
    pos = np.array([row_of.get(fid, -1) for fid in cand["facility_id"]], dtype=np.int64)
    has = pos >= 0
    beds_col = "beds" if frame is fac and "beds" in fac else _first_column(frame, spec, "beds", BEDS_COLUMNS)
    if beds_col is not None:
        beds = pd.to_numeric(frame[beds_col], errors="coerce").to_numpy(dtype=float)
        text = frame[beds_col].astype(str).str.strip()
        bad = np.flatnonzero((np.isnan(beds) & frame[beds_col].notna().to_numpy() & (text != "").to_numpy())
                             | (beds < 0))
        if len(bad):
            raise InputError(f"the bed count in row(s) {', '.join(str(i + 1) for i in bad[:8])} (counting from 1) "
                             f"is not a number ≥ 0: {', '.join(repr(frame[beds_col].iloc[i]) for i in bad[:3])}.",
                             file=spec.path, field=beds_col, fix="give the number of beds, or leave the cell empty.")
        out.loc[has, "beds"] = beds[pos[has]]
    grade_col = "grade" if frame is fac and "grade" in fac else _first_column(frame, spec, "grade", GRADE_COLUMNS)
    if grade_col is not None:
        text = frame[grade_col].fillna("").astype(str).str.strip().to_numpy()
        level = np.array([grade_level(t) for t in text])
        bad = np.flatnonzero(np.isnan(level) & (text != "") & ~np.isin(text, ["未定级", "无", "-"]))
        if len(bad):
            raise InputError(f"the grade in row(s) {', '.join(str(i + 1) for i in bad[:8])} (counting from 1) is "
                             f"not a hospital grade: {', '.join(repr(text[i]) for i in bad[:3])}.",
                             file=spec.path, field=grade_col,
                             fix="write 一级, 二级 or 三级 with 甲等/乙等/丙等 (e.g. 二级乙等), 未定级, or leave it empty.")
        out.loc[has, "grade"] = text[pos[has]]
        out.loc[has, "grade_level"] = level[pos[has]]
    return out


# ------------------------------------------------------------------------------------------ table

def _static_frame(region: Region, cand: gpd.GeoDataFrame, meas: Measures, cap: pd.DataFrame) -> pd.DataFrame:
    """The criteria that do not depend on the time limit."""
    units = region.units
    unit = cand["unit"].to_numpy()
    seat = units["county_seat"].to_numpy(dtype=bool)[unit]
    frame = pd.DataFrame({
        "facility_id": cand["facility_id"].to_numpy(), "name": cand["name"].to_numpy(),
        "name_en": cand["name_en"].to_numpy(), "unit_id": units["unit_id"].to_numpy()[unit],
        "unit_name": units["name"].to_numpy()[unit], "preferred": ~seat, "is_county_seat": seat,
        "minutes_from_county_hospital": meas.from_county_hospital_s / 60.0, "ems_gain_pop": meas.ems_gain,
    })
    return pd.concat([frame, cap], axis=1)


def criteria_at(static: pd.DataFrame, meas: Measures, settings: Settings,
                minutes: float) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Every criterion at one time limit with score and rank (candidate order), the points per
    criterion, and the candidate positions in rank order."""
    crit = choice.catchment_criteria(meas.times, meas.hospital_s, minutes * 60.0, meas.pop, meas.counted,
                                     meas.rural, meas.dense, meas.candidate_hospital)
    frame = pd.concat([static, crit], axis=1)
    frame["meets_100k"] = frame["own_catchment_pop"] >= settings.min_population
    points = choice.score(frame, {c.key: settings.weight(c.key) for c in choice.CRITERIA}, minutes,
                          settings.min_population)
    order = choice.rank_order(points, frame["facility_id"].to_numpy())
    frame["score"] = points.sum(axis=1).round(6)
    frame["rank"] = np.empty(len(frame), dtype=np.int64)
    frame.loc[frame.index[order], "rank"] = np.arange(1, len(frame) + 1)
    return frame, points, order


def _spread(region: Region, own: sp.csc_matrix, cand: gpd.GeoDataFrame, pop: np.ndarray) -> pd.DataFrame:
    """Townships in each own catchment and the share of its people outside the candidate's own."""
    unit_of_cell = region.cells["unit_id"].to_numpy().astype(str)
    own_unit = region.units["unit_id"].to_numpy().astype(str)[cand["unit"].to_numpy()]
    coo = sp.coo_matrix(own)
    people = pop[coo.row]
    out_pop = np.bincount(coo.col, weights=people * (unit_of_cell[coo.row] != own_unit[coo.col]),
                          minlength=own.shape[1])
    total = np.bincount(coo.col, weights=people, minlength=own.shape[1])
    pairs = pd.DataFrame({"c": coo.col, "u": unit_of_cell[coo.row]})[people > 0].drop_duplicates()
    units = np.bincount(pairs["c"].to_numpy(), minlength=own.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, out_pop / total, np.nan)
    return pd.DataFrame({"catchment_units": units, "share_outside_own_unit": share})


def _select(frame: pd.DataFrame, own: sp.csc_matrix, meas: Measures, settings: Settings,
            order: np.ndarray, scn: Scenario) -> choice.Choice | None:
    n = len(frame)
    frame["selected"] = False
    frame["selection_order"] = 0
    frame["marginal_gain_pop"] = np.nan
    if settings.choose is None:
        return None
    if settings.choose > n:
        raise InputError(f"choose = {settings.choose} but there are only {n} candidate(s).",
                         file=scn.path, field=f"{SECTION}.choose",
                         fix=f"choose at most {n}, or list more candidates ([subcentres] candidates = [...]).")
    picked = choice.choose_jointly(own, meas.pop, settings.choose, order, frame["preferred"].to_numpy(dtype=bool))
    for step, (k, gain) in enumerate(zip(picked.chosen, picked.gains), start=1):
        frame.loc[frame.index[k], ["selected", "selection_order", "marginal_gain_pop"]] = [True, step, gain]
    if not picked.exact:
        warn(f"the {settings.choose} sub-centres were chosen by marginal gain among too many possible sets to "
             f"examine: together they serve {picked.served:,.0f} people; no set of {settings.choose} serves more "
             f"than {picked.bound:,.0f}.")
    return picked


def build_table(scn: Scenario, region: Region, settings: Settings, cand: gpd.GeoDataFrame,
                meas: Measures) -> tuple[pd.DataFrame, choice.Choice | None, sp.csc_matrix]:
    """Criteria, score, rank, sensitivity band, joint choice and reasons, in rank order."""
    from .subcentre_report import reasons

    static = _static_frame(region, cand, meas, capability(scn, region, cand))
    frame, points, order = criteria_at(static, meas, settings, settings.minutes)
    own = choice.own_catchments(meas.times, meas.hospital_s, settings.minutes * 60.0, meas.counted,
                                meas.candidate_hospital)
    frame = pd.concat([frame, _spread(region, own, cand, meas.pop)], axis=1)
    for m in settings.sensitivity_minutes:
        at, _, _ = criteria_at(static, meas, settings, m)
        frame[f"own_catchment_pop_{m:g}min"] = at["own_catchment_pop"]
        frame[f"rank_{m:g}min"] = at["rank"]
    picked = _select(frame, own, meas, settings, order, scn)
    frame["minutes"] = settings.minutes
    frame["min_population"] = settings.min_population
    frame["_k"] = np.arange(len(frame))
    ranked = frame.iloc[order].reset_index(drop=True)
    ranked_points = points.iloc[order].reset_index(drop=True)
    ranked["decisive"] = choice.decisive(ranked_points)
    text = [reasons(ranked, ranked_points, i, settings, meas.ems_rule) for i in range(len(ranked))]
    ranked["reasons"] = [t[0] for t in text]
    ranked["reasons_zh"] = [t[1] for t in text]
    return ranked, picked, own


def _cells_of(matrix: sp.csc_matrix, k: int) -> np.ndarray:
    return np.sort(matrix.indices[matrix.indptr[k]:matrix.indptr[k + 1]])


def catchment_polygons(region: Region, cand: gpd.GeoDataFrame, table: pd.DataFrame,
                       reached: list[np.ndarray], minutes: float) -> gpd.GeoDataFrame:
    """Per candidate, the concave hull of its reached cells' centres, grown by half a cell (display)."""
    cells = region.cells
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    half = cells["cell_m"].to_numpy(dtype=float) / 2
    rank_of = dict(zip(table["facility_id"], table["rank"]))
    rows = []
    for k, hit in enumerate(reached):
        point = cand.geometry.iloc[k]
        pts = shapely.multipoints(np.column_stack([np.r_[x[hit], point.x], np.r_[y[hit], point.y]]))
        hull = shapely.concave_hull(pts, ratio=0.3) if len(hit) >= 3 else pts
        margin = float(half[hit].max()) if len(hit) else 50.0
        fid = cand["facility_id"].iloc[k]
        rows.append({"rank": int(rank_of[fid]), "facility_id": fid, "name": cand["name"].iloc[k],
                     "minutes": float(minutes), "cells": int(len(hit)),
                     "geometry": shapely.buffer(hull, margin, quad_segs=4)})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=region.crs) if rows else \
        gpd.GeoDataFrame(columns=["rank", "facility_id", "name", "minutes", "cells", "geometry"],
                         geometry="geometry", crs=region.crs)
    return frame.sort_values("rank", kind="stable").reset_index(drop=True)


def rank_subcentres(scn: Scenario, settings: Settings | None = None, quiet: bool = True) -> SubcentreResult:
    """Load the region, measure, rank and (with ``choose``) choose the candidates; no files written."""
    settings = settings or read_settings(scn)
    steps = Steps(quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlannerWarning)
        region = load_region(scn, steps)
        cand = pick_candidates(settings, scn, region)
        hosp_idx = pick_county_hospital(settings, scn, region)
        meas = measure_candidates(scn, region, settings, cand, hosp_idx, steps)
        ranked, picked, own = build_table(scn, region, settings, cand, meas)
    columns = MAIN_COLUMNS + band_columns(settings.sensitivity_minutes) + TAIL_COLUMNS
    geometry = cand.geometry.to_numpy()[ranked["_k"].to_numpy()]
    table = gpd.GeoDataFrame(ranked[columns], geometry=geometry, crs=region.crs)
    reach = choice.within_limit(meas.times, settings.minutes * 60.0)
    catch = catchment_polygons(region, cand, table, [_cells_of(reach, k) for k in range(len(cand))],
                               settings.minutes)
    own_catch = catchment_polygons(region, cand, table, [_cells_of(own, k) for k in range(len(cand))],
                                   settings.minutes)
    result = SubcentreResult(scn, region, settings, table, catch, region.facilities.iloc[hosp_idx],
                             [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)],
                             own_catch, meas.ems_rule, picked)
    for w in caught:  # pass them on to the caller's handlers (the CLI prints them)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


def run_subcentres_file(path: str | Path, out_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Load, rank, write the three files and print the table; returns the process exit code."""
    from .pipeline import check_scenario_out_dir
    from .subcentre_report import print_table, write_subcentre_outputs

    scn = load_scenario(path, out_dir)
    check_scenario_out_dir(scn, out_dir)
    settings = read_settings(scn)
    result = rank_subcentres(scn, settings, quiet=quiet)
    write_subcentre_outputs(result, scn.out_dir)
    if not quiet:
        print_table(result)
    return 0
