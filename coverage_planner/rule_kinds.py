"""Summaries of the non-spatial rule kinds: ratios, shares, counts, per-village and any_of.

Each summariser returns rows per administrative unit plus one region row (``unit_id == "ALL"``) with
columns zone, unit_id, unit_name, population, value, required, target, pass. A rule's ``level``
decides which rows carry a verdict: ``region`` judges the region row only (unit rows are information,
``pass`` is None there); ``unit`` judges every unit and the region passes when all of them do.
A verdict the data cannot support (a resource column missing, a blank value, no villages layer)
is None with a :class:`PlannerWarning`, never a guess.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import warn
from .facility_types import SUBTYPES, has_role, unspecified_kind
from .standards import Rule

ALL = {"zone": "all", "unit_id": "ALL", "unit_name": "全部 all"}
RESOURCE_COLUMNS = {"beds": "beds or 床位/床位数", "doctors": "doctors or 执业（助理）医师/执业医师",
                    "nurses": "nurses or 注册护士", "gps": "gps or 全科医生",
                    "negative_pressure_ambulances": "negative_pressure_ambulances or 负压救护车",
                    "ambulances": "ambulances"}


def facility_mask(types: tuple[str, ...], facilities) -> np.ndarray:
    """True for the facilities that have one of the roles ``types`` and stand inside the region
    (``in_region``: those a little outside serve people but belong to a neighbour's count)."""
    inside = facilities["in_region"].to_numpy(dtype=bool) if "in_region" in facilities else True
    return has_role(facilities["type"], types) & inside


def unit_frame(units: pd.DataFrame, unit_pop: np.ndarray) -> pd.DataFrame:
    """One row per unit: zone, unit_id, unit_name, kind, population."""
    return pd.DataFrame({"zone": units["zone"].fillna("n/a").to_numpy(), "unit_id": units["unit_id"].to_numpy(),
                         "unit_name": units["name"].to_numpy(), "kind": units["kind"].to_numpy(),
                         "population": np.asarray(unit_pop, dtype=float)})


def per_unit_sum(values: np.ndarray, fac_unit: np.ndarray, n_units: int) -> np.ndarray:
    """Sum of a facility value per unit (facilities outside every unit are left out)."""
    inside = fac_unit >= 0
    return np.bincount(fac_unit[inside], weights=values[inside], minlength=n_units)


def attribute_values(rule: Rule, facilities, attribute: str, types: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(values, unknown) over facilities: the attribute where the facility counts (0 elsewhere), and
    True where a counting facility has no value (column missing or cell blank)."""
    mine = facility_mask(types, facilities)
    raw = facilities[attribute].to_numpy(dtype=float) if attribute in facilities else np.full(len(facilities), np.nan)
    unknown = mine & ~np.isfinite(raw)
    return np.where(mine & np.isfinite(raw), raw, 0.0), unknown


def required_count(rule: Rule, population: np.ndarray) -> np.ndarray:
    """How many facilities (or resources) a unit of this population needs under the rule."""
    population = np.asarray(population, dtype=float)
    if rule.kind == "ratio":
        return rule.min_count * population / rule.per_people
    if rule.kind == "count_per_band":
        need = np.zeros(len(population))
        for min_people, count in rule.bands:
            need = np.where(population >= min_people, count, need)
    else:
        need = np.full(len(population), float(rule.min_count))
    if rule.people_per_facility:
        need = np.maximum(need, np.ceil(population / rule.people_per_facility))
    return need


def _selected_units(rule: Rule, frame: pd.DataFrame) -> pd.DataFrame:
    if rule.unit_kinds:
        frame = frame[frame["kind"].isin(rule.unit_kinds)]
    if set(rule.applies_to_zones) != {"urban", "rural"}:
        frame = frame[frame["zone"].isin(rule.applies_to_zones) | (frame["zone"] == "n/a")]
    return frame


def _judge_levels(rule: Rule, out: pd.DataFrame, ok: np.ndarray) -> pd.DataFrame:
    """Put verdicts where the rule's level says: region row only, or every unit and all of them."""
    region = (out["unit_id"] == "ALL").to_numpy()
    verdict = pd.Series(ok, index=out.index, dtype=object)
    if rule.level == "region":
        verdict[~region] = None
    else:
        units = verdict[~region]
        verdict[region] = None if units.isna().any() and not (units == False).any() else bool(  # noqa: E712
            (units == True).all())  # noqa: E712
    out["pass"] = [None if v is None else bool(v) for v in verdict]
    out["pass"] = out["pass"].astype(object)
    return out


def summarise_ratio(rule: Rule, units: pd.DataFrame, unit_pop: np.ndarray, facilities,
                    fac_unit: np.ndarray) -> pd.DataFrame:
    """``sum(attribute)`` per ``per_people`` residents against ``min_count`` (and ``max_count``).

    When the rule counts a kind of hospital (``tcm``: 中医类医院 beds) and some hospitals have no kind,
    their attribute may or may not count: column ``unspecified`` (inf where such a hospital has no
    value). A verdict stands only where they cannot change it; elsewhere it is None, with a warning.
    """
    values, unknown = attribute_values(rule, facilities, rule.attribute, rule.facility_types)
    maybe = unspecified_kind(facilities["type"], rule.facility_types) & facility_mask(tuple(SUBTYPES), facilities)
    raw = facilities[rule.attribute].to_numpy(dtype=float) if rule.attribute in facilities \
        else np.full(len(maybe), np.nan)
    extra = np.where(maybe, np.where(np.isfinite(raw), raw, np.inf), 0.0)
    frame = unit_frame(units, unit_pop)
    frame["value"] = per_unit_sum(values, fac_unit, len(units))
    frame["facilities_without_value"] = per_unit_sum(unknown.astype(float), fac_unit, len(units))
    frame["unspecified"] = per_unit_sum(extra, fac_unit, len(units))
    total = {**ALL, "kind": "all", "population": frame["population"].sum(), "value": values.sum(),
             "facilities_without_value": float(unknown.sum()), "unspecified": float(extra.sum())}
    out = pd.concat([frame, pd.DataFrame([total])], ignore_index=True).drop(columns="kind")
    pop = out["population"].to_numpy(dtype=float)
    out["required"] = required_count(rule, pop)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["rate"] = np.where(pop > 0, out["value"] / pop * rule.per_people, np.nan)
    ok = out["value"].to_numpy() >= out["required"].to_numpy() - 1e-9
    if rule.max_count is not None:
        out["maximum"] = rule.max_count * pop / rule.per_people
        within = out["value"].to_numpy() <= out["maximum"].to_numpy() + 1e-9
    else:
        within = np.ones(len(out), dtype=bool)
    # blanks can only add: a row already above the minimum stands, any other verdict is unknown
    known = (out["facilities_without_value"].to_numpy() == 0) | (ok & (rule.max_count is None))
    # hospitals of unknown kind can only add: a minimum already met without them stands, and so does a
    # shortfall they could not close; a maximum is decided only when they cannot exceed it
    more = out["unspecified"].to_numpy(dtype=float)
    short = out["value"].to_numpy() + more < out["required"].to_numpy() - 1e-9
    within_all = out["value"].to_numpy() + more <= out["maximum"].to_numpy() + 1e-9 if rule.max_count is not None \
        else np.ones(len(out), dtype=bool)
    known &= (more == 0) | short | (ok & within_all) | ~within
    verdict = np.where(known, ok & within, None)
    out["target"] = out["required"]
    _warn_unknown(rule, rule.attribute, int(unknown.sum()), int(facility_mask(rule.facility_types, facilities).sum()))
    if not maybe.any():
        out = out.drop(columns="unspecified")
    elif pd.isna(verdict[(out["unit_id"] == "ALL").to_numpy() if rule.level == "region" else slice(None)]).any():
        _warn_unspecified(rule, facilities, maybe)
    return _judge_levels(rule, out, verdict)


def summarise_share(rule: Rule, units: pd.DataFrame, unit_pop: np.ndarray, facilities,
                    fac_unit: np.ndarray) -> pd.DataFrame:
    """``sum(attribute)`` of the rule's facilities as a share of ``sum(of_attribute)`` of
    ``of_facility_types`` (default: the same facilities), against ``min_value``/``max_value``."""
    of_attr = rule.of_attribute or rule.attribute
    of_types = rule.of_facility_types or rule.facility_types
    num, num_unknown = attribute_values(rule, facilities, rule.attribute, rule.facility_types)
    den, den_unknown = attribute_values(rule, facilities, of_attr, of_types)
    unknown = num_unknown | den_unknown
    frame = unit_frame(units, unit_pop)
    frame["numerator"] = per_unit_sum(num, fac_unit, len(units))
    frame["denominator"] = per_unit_sum(den, fac_unit, len(units))
    frame["facilities_without_value"] = per_unit_sum(unknown.astype(float), fac_unit, len(units))
    total = {**ALL, "kind": "all", "population": frame["population"].sum(), "numerator": num.sum(),
             "denominator": den.sum(), "facilities_without_value": float(unknown.sum())}
    out = pd.concat([frame, pd.DataFrame([total])], ignore_index=True).drop(columns="kind")
    with np.errstate(invalid="ignore", divide="ignore"):
        out["value"] = np.where(out["denominator"] > 0, out["numerator"] / out["denominator"], np.nan)
    out["required"] = rule.min_value
    out["target"] = rule.min_value
    ok = (out["value"] >= rule.min_value - 1e-12) & (
        out["value"] <= rule.max_value + 1e-12 if rule.max_value is not None else True)
    known = (out["facilities_without_value"] == 0) & (out["denominator"] > 0)
    verdict = np.where(known.to_numpy(), ok.to_numpy(), None)
    n_mine = int((facility_mask(rule.facility_types, facilities) | facility_mask(of_types, facilities)).sum())
    _warn_unknown(rule, f"{rule.attribute}/{of_attr}", int(unknown.sum()), n_mine)
    if not unknown.any() and out["denominator"].iloc[-1] <= 0:
        warn(f"rule {rule.id} ({rule.name_en}) is not checked: the facilities of types "
             f"{', '.join(of_types)} have no {of_attr} to take a share of.")
    return _judge_levels(rule, out, verdict)


def _warn_unknown(rule: Rule, what: str, n_unknown: int, n_counting: int) -> None:
    if n_unknown == 0:
        return
    column = RESOURCE_COLUMNS.get(what, what)
    if n_unknown == n_counting:
        warn(f"rule {rule.id} ({rule.name_en}) is not checked: no facility of types {', '.join(rule.facility_types)} "
             f"gives {what} (column {column} in the facility layer); add the column to check it.")
    else:
        warn(f"rule {rule.id} ({rule.name_en}): {n_unknown} of {n_counting} counting facilities have no {what} "
             f"value; the verdict is given only where the known values already decide it (fill the blanks).")


def summarise_count(rule: Rule, units: pd.DataFrame, unit_pop: np.ndarray, facilities,
                    fac_unit: np.ndarray) -> pd.DataFrame:
    """Facilities of the types counted per unit and for the region, against ``required_count``.

    When the rule looks for a kind of a type (``general`` hospitals) and some facilities have the type
    but no kind (a plain ``hospital``), they may or may not count: column ``unspecified``. The verdict
    stands where the known facilities decide it (enough without them, or too few even with them);
    elsewhere it is None, with a warning naming them.
    """
    mine = facility_mask(rule.facility_types, facilities).astype(float)
    maybe = (unspecified_kind(facilities["type"], rule.facility_types) & facility_mask(
        tuple(SUBTYPES), facilities)).astype(float)
    frame = unit_frame(units, unit_pop).assign(value=per_unit_sum(mine, fac_unit, len(units)),
                                               unspecified=per_unit_sum(maybe, fac_unit, len(units)))
    frame = _selected_units(rule, frame)
    if rule.level == "region":  # the whole jurisdiction: every facility and every resident
        total_pop, total_value = float(np.sum(unit_pop)), float(mine[fac_unit >= 0].sum())
        total_maybe = float(maybe[fac_unit >= 0].sum())
    else:
        total_pop, total_value, total_maybe = (frame[c].sum() for c in ("population", "value", "unspecified"))
    total = pd.DataFrame([{**ALL, "kind": "all", "population": total_pop, "value": total_value,
                           "unspecified": total_maybe}])
    out = pd.concat([frame, total], ignore_index=True).drop(columns="kind")
    out["required"] = required_count(rule, out["population"].to_numpy(dtype=float))
    region = (out["unit_id"] == "ALL").to_numpy()
    if rule.level == "unit":  # the region needs every unit to pass, not a sum
        out.loc[region, "required"] = out.loc[~region, "required"].sum()
    out["target"] = out["required"]
    value, need, extra = (out[c].to_numpy(dtype=float) for c in ("value", "required", "unspecified"))
    ok = value >= need - 1e-9
    decided = ok | (value + extra < need - 1e-9)
    verdict = np.where(decided, ok, None)
    if not maybe.any():
        out = out.drop(columns="unspecified")
    elif not decided[region if rule.level == "region" else ~region].all():
        _warn_unspecified(rule, facilities, maybe.astype(bool))
    return _judge_levels(rule, out, verdict)


def _warn_unspecified(rule: Rule, facilities, maybe: np.ndarray) -> None:
    """Warn that facilities of unknown kind left a count rule undecided."""
    ids = facilities["facility_id"] if "facility_id" in facilities else pd.Series(range(1, len(maybe) + 1))
    names = ", ".join(str(i) for i in np.asarray(ids)[maybe][:5]) + (" …" if maybe.sum() > 5 else "")
    kinds = ", ".join(rule.facility_types)
    warn(f"rule {rule.id} ({rule.name_en}) is not checked where it counts {kinds}: {int(maybe.sum())} "
         f"facilit{'y is' if maybe.sum() == 1 else 'ies are'} of type hospital with no kind ({names}), so it is not "
         "known whether they count. Write the kind in the type column: 综合医院 (hospital;general), 中医院 "
         "(hospital;tcm) or 妇幼保健院 (hospital;mch).")


def summarise_counts(rule: Rule, units: pd.DataFrame, unit_pop: np.ndarray, facilities,
                     fac_unit: np.ndarray) -> pd.DataFrame:
    """Ratio, share and count rules per administrative unit and for the region, at the rule's level."""
    if rule.kind == "ratio":
        return summarise_ratio(rule, units, unit_pop, facilities, fac_unit)
    if rule.kind == "share":
        return summarise_share(rule, units, unit_pop, facilities, fac_unit)
    return summarise_count(rule, units, unit_pop, facilities, fac_unit)


# ------------------------------------------------------------------------------- villages

def village_areas(geometry: np.ndarray, region: shapely.Geometry | None) -> np.ndarray:
    """Village polygons as given, or, for village points, the Voronoi cell of each point clipped to
    the region (each place belongs to its nearest village seat)."""
    kinds = shapely.get_type_id(geometry)
    if np.isin(kinds, (3, 6)).all():
        return geometry
    points = shapely.points(shapely.get_coordinates(shapely.centroid(geometry)))
    if len(points) == 1:
        return np.array([region if region is not None else points[0].buffer(1e6)], dtype=object)
    extent = region if region is not None else shapely.box(*shapely.total_bounds(points)).buffer(1e5)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=extent))
    pi, ci = shapely.STRtree(cells).query(points, predicate="intersects")
    first = np.unique(pi, return_index=True)[1]
    areas = np.empty(len(points), dtype=object)
    areas[pi[first]] = cells[ci[first]]
    return shapely.intersection(areas, extent) if region is not None else areas


def village_facts(rule: Rule, villages: gpd.GeoDataFrame, facilities, region) -> pd.DataFrame:
    """Per village: its facilities of the types, whether it needs one, shares a neighbour's, may branch."""
    areas = village_areas(villages.geometry.to_numpy(), region)
    tree = shapely.STRtree(areas)
    fac_pts = facilities.geometry.to_numpy()
    fi, vi = tree.query(fac_pts, predicate="intersects")
    first = np.unique(fi, return_index=True)[1]          # a facility on a shared edge counts once
    fi, vi = fi[first], vi[first]
    n = len(villages)
    own = np.bincount(vi, weights=facility_mask(rule.facility_types, facilities)[fi], minlength=n) > 0
    exempt = np.bincount(vi, weights=facility_mask(rule.except_with_types, facilities)[fi], minlength=n) > 0 \
        if rule.except_with_types else np.zeros(n, dtype=bool)
    pop = villages["population"].to_numpy(dtype=float)
    needs = ~exempt & (pop > rule.required_above_people if rule.required_above_people is not None else True)
    a, b = tree.query(areas, predicate="intersects")
    pair = a != b
    neighbour_has = np.bincount(a[pair], weights=own[b[pair]], minlength=n) > 0
    small = pop < rule.merge_below_people if rule.merge_below_people is not None else np.zeros(n, dtype=bool)
    shared = ~own & small & neighbour_has
    branch = pop >= rule.branch_from_people if rule.branch_from_people is not None else np.zeros(n, dtype=bool)
    return pd.DataFrame({
        "village_id": villages["village_id"].to_numpy(), "village_name": villages["name"].to_numpy(),
        "zone": villages["zone"].to_numpy(), "unit_id": villages["unit_id"].to_numpy(),
        "unit_name": villages["unit_name"].to_numpy(), "population": pop, "needs": needs, "own": own,
        "shared": needs & shared, "served": needs & (own | shared), "branch_allowed": branch})


def summarise_villages(rule: Rule, villages: gpd.GeoDataFrame | None, facilities,
                       region: shapely.Geometry | None = None) -> pd.DataFrame:
    """Per-village rule: rows per unit (villages needing a facility, served, shared, may branch, the
    failing villages' names) and the region row; every needing village must be served."""
    if villages is None or len(villages) == 0:
        warn(f"rule {rule.id} ({rule.name_en}) is not checked: the scenario has no [villages] layer of "
             "administrative villages (行政村) with their population.")
        return pd.DataFrame([{**ALL, "population": np.nan, "value": np.nan, "required": np.nan,
                              "target": np.nan, "pass": None}])
    facts = village_facts(rule, villages, facilities, region)
    facts["failing"] = np.where(facts["needs"] & ~facts["served"], facts["village_name"].astype(str), "")
    sums = {"population": "sum", "villages": "size", "value": "sum", "required": "sum", "shared": "sum",
            "branch_allowed": "sum"}
    facts = facts.assign(villages=1, value=facts["served"].astype(float), required=facts["needs"].astype(float),
                         shared=facts["shared"].astype(float), branch_allowed=facts["branch_allowed"].astype(float))
    keys = ["zone", "unit_id", "unit_name"]
    rows = facts.groupby(keys, sort=True).agg(sums).reset_index()
    rows["failing_villages"] = facts.groupby(keys, sort=True)["failing"].agg(
        lambda s: "、".join(v for v in s if v)).to_numpy()
    total = facts.agg(sums).to_frame().T.assign(**ALL)
    total["failing_villages"] = "、".join(v for v in facts["failing"] if v)
    out = pd.concat([rows, total], ignore_index=True)
    out["target"] = out["required"]
    return _judge_levels(rule, out, (out["value"] >= out["required"] - 1e-9).to_numpy())


# ------------------------------------------------------------------------------- any_of

def unit_verdicts(frame: pd.DataFrame, zones: tuple[str, ...]) -> pd.DataFrame:
    """unit_id → pass (True/False/None), unit_name, zone, population from a part's unit rows in the zones
    (rows of units whose zone is not known, "n/a", are kept)."""
    rows = frame[(frame["unit_id"] != "ALL") & (frame["zone"].isin(zones) | (frame["zone"] == "n/a"))]
    return rows.groupby("unit_id", sort=True).agg(
        unit_name=("unit_name", "first"), zone=("zone", "first"), population=("population", "sum"),
        ok=("pass", lambda s: bool((s == True).all()) if (s == True).any() else None)).reset_index()  # noqa: E712


def combine_any(rule: Rule, parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """An ``any_of`` rule from its parts' summaries: a unit passes when any part passes there; the
    region passes when every unit does or a part passes for the whole region. ``passed_by`` names
    the parts that passed."""
    zones = rule.applies_to_zones
    verdicts = {pid: unit_verdicts(frame, zones).set_index("unit_id") for pid, frame in parts.items()}
    ids = sorted(set().union(*(v.index for v in verdicts.values()))) if verdicts else []
    rows = []
    for uid in ids:
        known = [v.loc[uid] for v in verdicts.values() if uid in v.index]
        passed = [pid for pid, v in verdicts.items() if uid in v.index and _true(v.loc[uid, "ok"])]
        rows.append({"zone": known[0]["zone"], "unit_id": uid, "unit_name": known[0]["unit_name"],
                     "population": max(k["population"] for k in known), "value": float(len(passed)),
                     "required": 1.0, "passed_by": " + ".join(passed), "pass": bool(passed)})
    out = pd.DataFrame(rows, columns=["zone", "unit_id", "unit_name", "population", "value", "required",
                                      "passed_by", "pass"])
    whole = [pid for pid, frame in parts.items() if _region_pass(frame, zones)]
    every = bool(len(out)) and bool(out["pass"].all())
    by = " + ".join(whole) if whole else ("every unit: " + ", ".join(sorted(set(
        p for s in out["passed_by"] for p in s.split(" + ") if p))) if every else "")
    total = {**ALL, "population": out["population"].sum(), "value": float(out["pass"].sum()),
             "required": float(len(out)), "passed_by": by, "pass": bool(whole) or every}
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    out["target"] = out["required"]
    out["pass"] = [bool(v) for v in out["pass"]]
    out["pass"] = out["pass"].astype(object)
    return out


def _true(value) -> bool:
    return value is not None and not (isinstance(value, float) and np.isnan(value)) and bool(value)


def _region_pass(frame: pd.DataFrame, zones: tuple[str, ...]) -> bool:
    """True when a part passes for the whole region in the zones (its zone rows, or its region row)."""
    region = frame[frame["unit_id"] == "ALL"]
    in_zones = region[region["zone"].isin(zones)]
    rows = in_zones if len(in_zones) == len(zones) else region[region["zone"] == "all"]
    return bool(len(rows)) and bool((rows["pass"] == True).all())  # noqa: E712
