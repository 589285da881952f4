"""County medical sub-centres (县域医疗次中心): rank candidate towns by the seeds' criteria.

``coverage-planner subcentres SCENARIO`` ranks the township health centres that could be built up
into county medical sub-centres (STANDARDS.md §3; seeds 003 and 004) and writes, into
``maps/<scenario>/`` (or ``--out``): ``subcentres.csv``, ``subcentres.gpkg`` (layers ``candidates``
and ``catchments``) and ``subcentres.html``, and prints a table.

Candidates
    By default every township health centre (facility type ``thc``) standing in a unit flagged
    ``central_town`` in the boundary layer (000/001 「适度集聚中心镇医疗卫生资源」, 003 中心卫生院,
    004 「依托…中心镇、特色镇卫生院」). ``[subcentres] candidates = ["T01", ...]`` (facility ids) or
    ``candidates_path = "file.geojson"`` (points with an ``id`` column, optional ``name``/``name_en``)
    replace that list.

County hospital
    ``[subcentres] county_hospital = "H01"`` (a facility id); by default the first (by id)
    ``hospital``-type facility standing in a unit flagged ``county_seat``.

Travel
    The ``car`` travel profile (with the scenario's ``[travel.profiles.car]`` overrides), patients
    travelling to the centre (``to_facility``); time = access leg from the cell to the road + driving +
    access leg from the road to the centre. Thresholds are inclusive.

Criteria (one column each; ``minutes`` defaults to 30 and ``min_population`` to 100,000 — the
column names keep "30min"/"100k" and the values used are in the ``minutes`` and ``min_population``
columns)

* ``pop_within_30min`` — people whose travel time to the candidate is ≤ ``minutes``
  (003 L305 「辐射服务常住人口10万以上」; 004 「覆盖人口多」);
* ``meets_100k`` — ``pop_within_30min`` ≥ ``min_population`` (003 L305);
* ``is_county_seat`` — the candidate stands in a ``county_seat`` unit; 003 L305 requires
  「非县级政府驻地」, so such a candidate is not ``eligible``;
* ``minutes_from_county_hospital`` — car time from the county hospital to the candidate (the route
  of referrals and support from the county hospital, 004 「交通便捷程度」);
* ``newly_covered_rural`` — rural-zone people within ``minutes`` of the candidate whom no existing
  ``hospital``-type facility (nor the county hospital) reaches within ``minutes`` (004 「医疗辐射力」);
* ``settlement_concentration`` — share of the catchment's people living in cells at or above the
  standards profile's ``urban_density_per_km2`` (the same rule that makes a cell urban when the
  boundaries have no zone attribute) (004 「聚居程度」);
* ``catchment_units`` and ``share_outside_own_unit`` — how many units the catchment spans and the
  share of its people outside the candidate's own township (004 「按照自然地理方位，打破行政区划界限」).

Ranking
    1. eligible (not in the county seat) before ineligible;
    2. then those that meet the population threshold (``meets_100k``) first;
    3. then more ``newly_covered_rural`` first;
    4. then more ``pop_within_30min`` first;
    5. then by facility id (only to make ties deterministic).

``rank`` is 1, 2, 3, … in that order, and ``reasons`` (English) / ``reasons_zh`` (中文) say in one
sentence why. The seeds give no weights between the criteria; this order puts the two hard
conditions of seed 003 first and, among candidates that pass or fail them alike, prefers the one
that brings the most rural people without a nearby hospital into the circle.
"""

from __future__ import annotations

import html as _html
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from . import coverage as cov
from .errors import InputError, PlannerWarning, raise_all
from .facility_types import has_role
from .layers import LayerSpec, read_vector
from .pipeline import Region, Steps, _assign_units, load_region
from .scenario import Scenario, load_scenario
from .travel import FROM_FACILITY, TO_FACILITY, snap

SECTION = "subcentres"
KEYS = {
    "candidates": "facility ids of the candidate centres, e.g. [\"T01\", \"T02\"]",
    "candidates_path": "a GeoJSON/GeoPackage of candidate points with an id column",
    "county_hospital": "the facility id of the county hospital, e.g. \"H01\"",
    "minutes": "the catchment's travel-time limit by car in minutes (default 30)",
    "min_population": "people the centre must reach within the limit (default 100000, seed 003 L305)",
}
TRAVEL_PROFILE = "car"
DEFAULT_MINUTES = 30.0
DEFAULT_MIN_POPULATION = 100_000.0
OUTPUT_FILES = ("subcentres.csv", "subcentres.gpkg", "subcentres.html")

COLUMNS = [
    "rank", "facility_id", "name", "name_en", "unit_id", "unit_name", "eligible", "is_county_seat",
    "pop_within_30min", "meets_100k", "minutes_from_county_hospital", "newly_covered_rural",
    "settlement_concentration", "catchment_units", "share_outside_own_unit", "minutes", "min_population",
    "reasons", "reasons_zh",
]


@dataclass
class Settings:
    """The validated ``[subcentres]`` section."""

    candidates: list[str] | None = None
    candidates_path: Path | None = None
    county_hospital: str | None = None
    minutes: float = DEFAULT_MINUTES
    min_population: float = DEFAULT_MIN_POPULATION


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


# ----------------------------------------------------------------------------------------- settings

def read_settings(scn: Scenario) -> Settings:
    """Validate the scenario's ``[subcentres]`` section; every problem is reported at once."""
    table = scn.raw.get(SECTION, {})
    file = scn.path
    if not isinstance(table, dict):
        raise InputError(f"[{SECTION}] must be a table.", file=file, field=SECTION,
                         fix=f"write it as a section: [{SECTION}] on its own line, then key = value lines.")
    errors: list[InputError] = []

    def problem(key: str, text: str, fix: str) -> None:
        errors.append(InputError(text, file=file, field=f"{SECTION}.{key}", fix=fix))

    for key in table:
        if key not in KEYS:
            problem(key, f"unknown key '{key}' in [{SECTION}].",
                    "keys of [subcentres] are " + "; ".join(f"{k} ({v})" for k, v in KEYS.items()) + ".")
    out = Settings()
    if "candidates" in table:
        ids = table["candidates"]
        if not isinstance(ids, list) or not ids or not all(isinstance(i, (str, int)) for i in ids):
            problem("candidates", f"candidates must be a non-empty list of facility ids, got {ids!r}.",
                    'e.g. candidates = ["T01", "T02"].')
        else:
            out.candidates = [str(i) for i in ids]
            dup = sorted({i for i in out.candidates if out.candidates.count(i) > 1})
            if dup:
                problem("candidates", f"candidate id(s) listed twice: {', '.join(dup)}.", "list each id once.")
    if "candidates_path" in table:
        value = table["candidates_path"]
        if not isinstance(value, str) or not value:
            problem("candidates_path", f"candidates_path must be a file path, got {value!r}.",
                    'e.g. candidates_path = "candidates.geojson".')
        else:
            path = (scn.path.parent / value).resolve()
            if not path.exists():
                problem("candidates_path", f"the file {path} does not exist.",
                        "check the path; relative paths are read from the scenario file's folder.")
            out.candidates_path = path
    if "candidates" in table and "candidates_path" in table:
        problem("candidates", "both candidates and candidates_path are given.", "keep only one of them.")
    if "county_hospital" in table:
        value = table["county_hospital"]
        if not isinstance(value, (str, int)) or str(value) == "":
            problem("county_hospital", f"county_hospital must be one facility id, got {value!r}.",
                    'e.g. county_hospital = "H01".')
        else:
            out.county_hospital = str(value)
    for key, default in (("minutes", DEFAULT_MINUTES), ("min_population", DEFAULT_MIN_POPULATION)):
        value = table.get(key, default)
        ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
        if not ok or value < 0 or (key == "minutes" and value == 0):
            problem(key, f"{key} must be a positive number, got {value!r}.",
                    f"e.g. {key} = {default:g}.")
        else:
            setattr(out, key, float(value))
    raise_all(errors)
    return out


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
        "name_en": fac["name_en"].to_numpy()[idx], "unit": region.fac_unit[idx],
    }, geometry=fac.geometry.to_numpy()[idx], crs=region.crs)
    return out.reset_index(drop=True)


def _candidates_from_file(path: Path, scn: Scenario, region: Region) -> gpd.GeoDataFrame:
    spec = LayerSpec(path=path, key=f"{SECTION}.candidates_path")
    frame = read_vector(spec)
    if len(frame) == 0:
        raise InputError("the candidate layer is empty.", file=path, field=f"{SECTION}.candidates_path",
                         fix="give at least one candidate point.")
    if "id" not in frame.columns:
        raise InputError(f"the candidate layer has no 'id' column. The file has: "
                         f"{', '.join(map(str, frame.columns))}.", file=path, field="id",
                         fix="add an id column (one unique id per candidate).")
    ids = frame["id"].astype(str)
    dup = sorted(set(ids[ids.duplicated()]))
    if dup:
        raise InputError(f"candidate id(s) used twice: {', '.join(dup[:8])}.", file=path, field="id",
                         fix="give every candidate its own id.")
    geom = frame.geometry
    if not geom.geom_type.isin(["Point"]).all():
        geom = geom.representative_point()
    geom = gpd.GeoSeries(geom, crs=frame.crs).to_crs(region.crs)
    x, y = geom.x.to_numpy(), geom.y.to_numpy()
    outside = ~shapely.contains_xy(shapely.buffer(region.region, 5000), x, y)
    if outside.any():
        listing = ", ".join(ids.to_numpy()[outside][:8])
        raise InputError(f"{int(outside.sum())} candidate(s) lie more than 5 km outside the region: {listing}.",
                         file=path, field="geometry",
                         fix="check that longitude and latitude are not swapped and that the layer's CRS is right.")
    text = lambda col: frame[col].fillna("").astype(str).to_numpy() if col in frame else ids.to_numpy()  # noqa: E731
    return gpd.GeoDataFrame({
        "facility_id": ids.to_numpy(), "name": text("name"),
        "name_en": frame["name_en"].fillna("").astype(str).to_numpy() if "name_en" in frame else text("name"),
        "unit": _assign_units(region.units, x, y),
    }, geometry=gpd.points_from_xy(x, y), crs=region.crs)


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

def _structure(matrix: sp.csr_matrix) -> sp.csc_matrix:
    """0/1 matrix of the entries present (explicit zero costs count as reached)."""
    ones = matrix.copy()
    ones.data = np.ones_like(ones.data)
    return ones.tocsc()


def evaluate_candidates(scn: Scenario, region: Region, settings: Settings, cand: gpd.GeoDataFrame,
                        hosp_idx: int, steps: Steps) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """The criteria per candidate (in candidate order) and each candidate's reached cell indices."""
    cells, fac = region.cells, region.facilities
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    pop = cells["population"].to_numpy(dtype=float)
    limit = settings.minutes * 60.0
    with steps.step(f"Snapping to roads, profile '{TRAVEL_PROFILE}'"):
        model = cov.build_travel_model(region.roads, TRAVEL_PROFILE, scn.travel_overrides.get(TRAVEL_PROFILE),
                                       x, y, fac, scn.facility_max_access_m, scn.facilities.path,
                                       max_access_m=scn.profile.max_access_m)
        cov.warn_cut_off(model, pop)
        csnap = snap(model.net, cand.geometry.x.to_numpy(), cand.geometry.y.to_numpy(), allowed=model.snappable)
        far = np.flatnonzero(csnap.access_m > scn.facility_max_access_m)
        if len(far):
            listing = ", ".join(f"{cand['facility_id'].iloc[i]} ({csnap.access_m[i]:,.0f} m)" for i in far[:8])
            raise InputError(f"{len(far)} candidate(s) more than {scn.facility_max_access_m:,.0f} m from the "
                             f"road network: {listing}.", file=scn.path, field=f"{SECTION}.candidates",
                             fix="check those coordinates, or raise [travel] facility_max_access_m.")
    v = model.access_mps
    cell_off = model.cell_snap.access_m / v
    with steps.step(f"{settings.minutes:g}-minute catchments of {len(cand)} candidate(s) 服务范围"):
        reach = _structure(model.router(TO_FACILITY, "time").bounded(
            csnap, csnap.access_m / v, model.cell_snap, cell_off, limit))
    with steps.step("Existing hospitals' reach and the county hospital 现有医院"):
        hosp = np.union1d(np.flatnonzero(has_role(fac["type"], ["hospital"])), [hosp_idx])
        hsnap = model.fac_snap.take(hosp)
        hosp_time, _ = model.router(TO_FACILITY, "time").nearest(hsnap, hsnap.access_m / v, model.cell_snap,
                                                                  cell_off)
        one = model.fac_snap.take(np.array([hosp_idx]))
        from_hosp, _ = model.router(FROM_FACILITY, "time").nearest(one, one.access_m / v, csnap,
                                                                    csnap.access_m / v)
    rural = (cells["zone"].to_numpy() == "rural")
    uncovered = ~(hosp_time <= limit)
    density = pop / (cells["cell_m"].to_numpy(dtype=float) ** 2 / 1e6)
    dense = density >= scn.profile.urban_density_per_km2
    unit_of_cell = cells["unit_id"].to_numpy().astype(str)
    own_unit = region.units["unit_id"].to_numpy().astype(str)[cand["unit"].to_numpy()]
    within = reach.T @ pop
    rows, reached_cells = [], []
    for k in range(len(cand)):
        hit = reach.indices[reach.indptr[k]:reach.indptr[k + 1]]
        reached_cells.append(np.sort(hit))
        p = pop[hit]
        total = float(p.sum())
        outside = float(p[unit_of_cell[hit] != own_unit[k]].sum())
        rows.append({
            "pop_within_30min": float(within[k]),
            "newly_covered_rural": float(p[rural[hit] & uncovered[hit]].sum()),
            "settlement_concentration": float(p[dense[hit]].sum()) / total if total > 0 else np.nan,
            "catchment_units": int(len(np.unique(unit_of_cell[hit][p > 0]))),
            "share_outside_own_unit": outside / total if total > 0 else np.nan,
            "minutes_from_county_hospital": float(from_hosp[k]) / 60.0,
        })
    return pd.DataFrame(rows), reached_cells


def rank_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by the documented ranking and number the rows 1, 2, 3, …"""
    order = frame.assign(_new=-frame["newly_covered_rural"], _pop=-frame["pop_within_30min"],
                         _inel=~frame["eligible"].astype(bool), _miss=~frame["meets_100k"].astype(bool))
    order = order.sort_values(["_inel", "_miss", "_new", "_pop", "facility_id"], kind="stable")
    out = frame.loc[order.index].reset_index(drop=True)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    return out


def _people(n: float) -> str:
    return f"{n:,.0f}"


def _wan(n: float) -> str:
    return f"{n / 10000:g}万" if n >= 10000 and n % 1000 == 0 else f"{n:,.0f}"


def reasons(row: pd.Series, settings: Settings) -> tuple[str, str]:
    """One plain sentence in English and one in Chinese explaining a candidate's standing."""
    m = settings.minutes
    en, zh = [], []
    if row["is_county_seat"]:
        en.append("not eligible: stands in the county seat (seed 003 requires a non-county-seat town)")
        zh.append("不符合条件：位于县级政府驻地（赣州规划要求“非县级政府驻地”）")
    ok = bool(row["meets_100k"])
    en.append(f"reaches {_people(row['pop_within_30min'])} people within {m:g} min "
              f"({'≥' if ok else '<'}{_people(settings.min_population)} {'✓' if ok else '✗'})")
    zh.append(f"{m:g}分钟车程内覆盖常住人口{_people(row['pop_within_30min'])}人"
              f"（{'≥' if ok else '<'}{_wan(settings.min_population)} {'✓' if ok else '✗'}）")
    t = row["minutes_from_county_hospital"]
    if np.isfinite(t):
        en.append(f"{t:.0f} min from the county hospital")
        zh.append(f"距县医院车程{t:.0f}分钟")
    else:
        en.append("not reachable by car from the county hospital")
        zh.append("县医院无法驾车到达")
    en.append(f"brings {_people(row['newly_covered_rural'])} rural people into the {m:g}-min circle")
    zh.append(f"新增{_people(row['newly_covered_rural'])}名农村居民进入{m:g}分钟服务圈")
    conc, share = row["settlement_concentration"], row["share_outside_own_unit"]
    if np.isfinite(conc):
        en.append(f"{conc:.0%} live in dense settlements")
        zh.append(f"{conc:.0%}居住在人口密集区")
    n = int(row["catchment_units"])
    if np.isfinite(share):
        en.append(f"catchment spans {n} township{'s' if n != 1 else ''} ({share:.0%} outside its own)")
        zh.append(f"服务范围跨{n}个乡镇（街道）（{share:.0%}在本镇以外）")
    return "; ".join(en), "；".join(zh)


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
    """Load the region and rank the candidates (no files written)."""
    settings = settings or read_settings(scn)
    steps = Steps(quiet)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlannerWarning)
        region = load_region(scn, steps)
        cand = pick_candidates(settings, scn, region)
        hosp_idx = pick_county_hospital(settings, scn, region)
        crit, reached = evaluate_candidates(scn, region, settings, cand, hosp_idx, steps)
    units = region.units
    unit = cand["unit"].to_numpy()
    seat = units["county_seat"].to_numpy(dtype=bool)[unit]
    frame = pd.DataFrame({
        "facility_id": cand["facility_id"].to_numpy(), "name": cand["name"].to_numpy(),
        "name_en": cand["name_en"].to_numpy(), "unit_id": units["unit_id"].to_numpy()[unit],
        "unit_name": units["name"].to_numpy()[unit], "eligible": ~seat, "is_county_seat": seat,
    })
    frame = pd.concat([frame, crit], axis=1)
    frame["meets_100k"] = frame["pop_within_30min"] >= settings.min_population
    frame["minutes"] = settings.minutes
    frame["min_population"] = settings.min_population
    text = [reasons(r, settings) for _, r in frame.iterrows()]
    frame["reasons"] = [t[0] for t in text]
    frame["reasons_zh"] = [t[1] for t in text]
    frame["_k"] = np.arange(len(frame))
    ranked = rank_table(frame)
    geometry = cand.geometry.to_numpy()[ranked.pop("_k").to_numpy()]
    table = gpd.GeoDataFrame(ranked[COLUMNS], geometry=geometry, crs=region.crs)
    catch = catchment_polygons(region, cand, table, reached, settings.minutes)
    result = SubcentreResult(scn, region, settings, table, catch, region.facilities.iloc[hosp_idx],
                             [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)])
    for w in caught:  # pass them on to the caller's handlers (the CLI prints them)
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


# ------------------------------------------------------------------------------------------ outputs

def _csv_frame(table: gpd.GeoDataFrame) -> pd.DataFrame:
    out = pd.DataFrame(table.drop(columns="geometry"))
    for col in ("pop_within_30min", "newly_covered_rural", "min_population"):
        out[col] = out[col].round(1)
    out["minutes_from_county_hospital"] = out["minutes_from_county_hospital"].round(2)
    for col in ("settlement_concentration", "share_outside_own_unit"):
        out[col] = out[col].round(4)
    return out.replace([np.inf, -np.inf], np.nan)


def write_subcentre_outputs(result: SubcentreResult, out_dir: Path) -> Path:
    """Write subcentres.csv/.gpkg/.html into ``out_dir``.

    The three files are written into a temporary folder beside ``out_dir`` and then moved in one by
    one, so a failure leaves nothing behind and other commands' files in the folder are kept.
    """
    from .outputs import CSV_ENCODING, atomic_dir, finalize_html, write_gpkg

    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        table = _csv_frame(result.table)
        table.to_csv(tmp / "subcentres.csv", index=False, encoding=CSV_ENCODING)
        points = gpd.GeoDataFrame(table, geometry=result.table.geometry.to_numpy(), crs=result.table.crs)
        write_gpkg(points, tmp / "subcentres.gpkg", "candidates")
        catch = result.catchments.merge(table[["facility_id", "pop_within_30min", "meets_100k", "eligible"]],
                                        on="facility_id", how="left")
        write_gpkg(catch, tmp / "subcentres.gpkg", "catchments")
        subcentre_map(result).save(tmp / "subcentres.html")
        finalize_html(tmp / "subcentres.html")
    return out_dir


LABELS = [  # column, 中文, English
    ("pop_within_30min", "{m}分钟车程内常住人口", "People within {m} min by car"),
    ("meets_100k", "辐射人口≥{p}", "Reaches ≥ {pe} people"),
    ("is_county_seat", "位于县级政府驻地（不符合）", "In the county seat (not eligible)"),
    ("minutes_from_county_hospital", "距县医院车程（分钟）", "Minutes from the county hospital"),
    ("newly_covered_rural", "新纳入{m}分钟圈的农村人口", "Rural people newly within {m} min"),
    ("settlement_concentration", "聚居程度（居住在密集区的比例）", "Settlement concentration (share in dense cells)"),
    ("catchment_units", "服务范围涉及乡镇（街道）数", "Townships/streets in the catchment"),
    ("share_outside_own_unit", "本镇以外人口比例（打破行政区划）", "Share of people outside its own township"),
]
RANK_COLOURS = ["#006837", "#1a9850", "#66bd63", "#a6d96a", "#d9ef8b", "#fee08b", "#fdae61"]
MISS_COLOUR, INELIGIBLE_COLOUR, HOSPITAL_COLOUR = "#f46d43", "#969696", "#d62728"


def _colour(row) -> str:
    if not row["eligible"]:
        return INELIGIBLE_COLOUR
    if not row["meets_100k"]:
        return MISS_COLOUR
    return RANK_COLOURS[min(int(row["rank"]) - 1, len(RANK_COLOURS) - 1)]


def _value(col: str, value) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "是 yes" if value else "否 no"
    if col in ("settlement_concentration", "share_outside_own_unit"):
        return "n/a" if not np.isfinite(value) else f"{value:.0%}"
    if col == "minutes_from_county_hospital":
        return "不可达 unreachable" if not np.isfinite(value) else f"{value:.1f}"
    return f"{value:,.0f}"


def _labels(settings: Settings) -> list[tuple[str, str, str]]:
    m, p = f"{settings.minutes:g}", settings.min_population
    return [(c, zh.format(m=m, p=_wan(p)), en.format(m=m, pe=_people(p))) for c, zh, en in LABELS]


def subcentre_map(result: SubcentreResult):
    """The folium map: ranked candidates with popups, catchments, county hospital, units, legend."""
    import folium

    from .maps import add_legend_box, add_units, base_map, colour_ramp, swatch

    scn, settings = result.scenario, result.settings
    fmap = base_map(result.region.units.to_crs("EPSG:4326"),
                    f"{scn.title_zh} 县域医疗次中心候选排序 · {scn.title_en} county medical sub-centre candidates")
    add_units(fmap, result.region.units)
    table = result.table
    colour = {fid: _colour(r) for fid, r in zip(table["facility_id"], table.to_dict("records"))}
    layer = folium.FeatureGroup(name=f"{settings.minutes:g} 分钟服务范围 {settings.minutes:g}-min catchments")
    catch = result.catchments[["rank", "facility_id", "name", "minutes", "geometry"]].to_crs("EPSG:4326")
    folium.GeoJson(catch, style_function=lambda f: {
        "color": colour.get(f["properties"]["facility_id"], "#333"), "weight": 1.5, "fillOpacity": 0.07},
        tooltip=folium.GeoJsonTooltip(["rank", "name", "minutes"], aliases=["排名 Rank", "名称 Name",
                                                                             "分钟 Minutes"])).add_to(layer)
    layer.add_to(fmap)
    hosp = result.county_hospital
    hl = folium.FeatureGroup(name="县医院 County hospital")
    hpt = gpd.GeoSeries([hosp.geometry], crs=result.region.crs).to_crs("EPSG:4326").iloc[0]
    folium.Marker([hpt.y, hpt.x], tooltip=_html.escape(f"县医院 County hospital: {hosp['name']} "
                                                       f"({hosp['facility_id']})"),
                  icon=folium.Icon(color="red", icon="plus")).add_to(hl)
    hl.add_to(fmap)
    labels = _labels(settings)
    cl = folium.FeatureGroup(name="候选次中心（按排名着色） Candidates by rank")
    for row in table.to_crs("EPSG:4326").to_dict("records"):
        pt = row["geometry"]
        cells = "".join(f"<tr><td>{zh}</td><td>{en}</td><td style='text-align:right'><b>"
                        f"{_value(col, row[col])}</b></td></tr>" for col, zh, en in labels)
        esc = {k: _html.escape(str(row[k])) for k in ("name", "name_en", "facility_id", "unit_name",
                                                       "reasons", "reasons_zh")}
        html = (f"<b>#{row['rank']} {esc['name']}</b> {esc['name_en']}<br>ID {esc['facility_id']} · "
                f"{esc['unit_name']}<table style='font-size:12px'>{cells}</table>"
                f"<p style='font-size:12px'>{esc['reasons_zh']}</p><p style='font-size:12px'>{esc['reasons']}</p>")
        folium.CircleMarker([pt.y, pt.x], radius=11, color="#222", weight=1.5, fill=True,
                            fill_color=colour[row["facility_id"]], fill_opacity=0.95,
                            popup=folium.Popup(html, max_width=460),
                            tooltip=f"#{row['rank']} {esc['name']}").add_to(cl)
        folium.Marker([pt.y, pt.x], icon=folium.DivIcon(
            icon_size=(22, 22), icon_anchor=(11, 9),
            html=f"<div style='font:bold 12px sans-serif;color:#000;text-align:center;"
                 f"text-shadow:0 0 3px #fff'>{row['rank']}</div>"),
        ).add_to(cl)
    cl.add_to(fmap)
    add_legend_box(fmap, [
        f"排名 Rank 1 → 7+ (达到{_wan(settings.min_population)}人 reaches {_people(settings.min_population)}): "
        f"{colour_ramp(RANK_COLOURS)}",
        f"{swatch(MISS_COLOUR)}未达到人口门槛 below the population threshold",
        f"{swatch(INELIGIBLE_COLOUR)}县级政府驻地（不符合） in the county seat (not eligible)",
        f"{swatch(HOSPITAL_COLOUR)}县医院 county hospital (red marker)",
        f"圆圈内数字 = 排名; 线框 = {settings.minutes:g}分钟车程服务范围 outline = {settings.minutes:g}-min "
        "catchment by car"])
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def print_table(result: SubcentreResult) -> None:
    """The ranking as a rich table in the terminal, with each candidate's reasons below it."""
    import sys

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s, scn = result.settings, result.scenario
    m = f"{s.minutes:g}"
    table = Table(title=f"{scn.title_zh} {scn.title_en} — 县域医疗次中心候选 county medical sub-centre candidates",
                  caption=f"car 驾车, to the centre; ≥{_people(s.min_population)} people within {m} min "
                          f"(003 L305); county hospital 县医院: {result.county_hospital['name']} "
                          f"({result.county_hospital['facility_id']})")
    for col in ("排名\nrank", "候选 candidate", "单元 unit", f"{m}分钟人口\npeople ≤{m} min",
                f"≥{_wan(s.min_population)}", "县城驻地\ncounty seat", "距县医院\nmin from CH",
                "新增农村人口\nnew rural", "聚居\ndense", "涉及单元\nunits", "本镇外\noutside"):
        table.add_column(col, overflow="fold")
    for r in result.table.to_dict("records"):
        style = "dim" if not r["eligible"] else ("bold green" if r["meets_100k"] else "")
        table.add_row(str(r["rank"]), f"{r['name']}\n{r['facility_id']}", str(r["unit_name"]),
                      _people(r["pop_within_30min"]), "[green]✓[/]" if r["meets_100k"] else "[red]✗[/]",
                      "[red]yes 是[/]" if r["is_county_seat"] else "no 否",
                      _value("minutes_from_county_hospital", r["minutes_from_county_hospital"]),
                      _people(r["newly_covered_rural"]),
                      _value("settlement_concentration", r["settlement_concentration"]),
                      str(r["catchment_units"]), _value("share_outside_own_unit", r["share_outside_own_unit"]),
                      style=style)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    for r in result.table.to_dict("records"):
        console.print(f"[bold]#{r['rank']} {escape(str(r['name']))}[/]: {escape(r['reasons'])}\n"
                      f"    {escape(r['reasons_zh'])}", soft_wrap=True)
    for text in result.warnings:
        console.print(f"[yellow]warning:[/] {text}")
    console.print(f"Outputs 输出: {scn.out_dir}/ ({', '.join(OUTPUT_FILES)})")


def run_subcentres_file(path: str | Path, out_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Load, rank, write the three files and print the table; returns the process exit code."""
    from .pipeline import check_scenario_out_dir

    scn = load_scenario(path, out_dir)
    check_scenario_out_dir(scn, out_dir)
    settings = read_settings(scn)
    result = rank_subcentres(scn, settings, quiet=quiet)
    write_subcentre_outputs(result, scn.out_dir)
    if not quiet:
        print_table(result)
    return 0
