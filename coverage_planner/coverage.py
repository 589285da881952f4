"""Coverage of population cells: three measures per cell, a pass/fail and a gap reason per rule.

Everything here works on numpy arrays over cells; the per-rule summaries are population-weighted and
grouped by urban/rural zone and by administrative unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely

from .cell_groups import CellGroups
from .errors import InputError, warn
from .facility_types import has_role
from .network import RoadNetwork, largest_component, seconds_per_segment, travel_profile, with_speeds
from .rule_kinds import combine_any, required_count, summarise_counts, summarise_villages  # noqa: F401
from .standards import Profile, Rule
from .travel import FROM_FACILITY, Router, Snapped, snap, straight_nearest

GAP_NO_ROAD = "no_road_access"
GAP_CUT_OFF = "cut_off"
GAP_BEYOND = "beyond_threshold"
GAP_REASONS = (GAP_NO_ROAD, GAP_CUT_OFF, GAP_BEYOND)
REASON_CODES = ("", GAP_BEYOND, GAP_NO_ROAD, GAP_CUT_OFF)   # judge_codes' codes (serve's state codes 0–3)
# Roads nobody joins from the roadside: expressways and their ramps (entered only at interchanges).
NO_ACCESS_CLASSES = ["motorway", "motorway_link"]
DEFAULT_MAX_ACCESS_M = 1000.0   # the standards profiles' default no-road-access distance
LONG_ACCESS_LEG_M = 300.0       # a facility farther than this from its road is listed in a warning


@dataclass
class TravelModel:
    """One travel profile on the region: network with speeds, snapped cells and facilities."""

    name: str
    profile: dict
    net: RoadNetwork
    main: np.ndarray          # segments in the largest strongly connected part (the routable core)
    snappable: np.ndarray     # core segments a point may join (no motorways, ramps or ferries)
    cell_snap: Snapped
    fac_snap: Snapped
    cut_off: np.ndarray       # cells nearest to an isolated fragment with no core road within max_access_m
    routers: dict = field(default_factory=dict)
    fragment_seg: np.ndarray | None = None   # per cell: the isolated segment it was nearest to, or -1
    max_access_m: float = DEFAULT_MAX_ACCESS_M

    @property
    def access_mps(self) -> float:
        return float(self.profile.get("access_kmh", 5.0)) / 3.6

    @property
    def moved(self) -> np.ndarray:
        """Cells whose nearest road is an isolated fragment but that joined a core road instead."""
        if self.fragment_seg is None:
            return np.zeros(len(self.cut_off), dtype=bool)
        return (self.fragment_seg >= 0) & ~self.cut_off

    def router(self, direction: str, weight: str) -> Router:
        """Cached Router for a direction and a weight ('time' in seconds or 'length' in metres)."""
        key = (direction, weight)
        if key not in self.routers:
            cost = seconds_per_segment(self.net) if weight == "time" else self.net.seg_length
            self.routers[key] = Router(self.net, cost, direction)
        return self.routers[key]


def build_travel_model(roads: RoadNetwork, name: str, overrides: dict | None, cell_x: np.ndarray,
                       cell_y: np.ndarray, facilities, max_facility_access_m: float,
                       facility_file: object = None, max_access_m: float = DEFAULT_MAX_ACCESS_M) -> TravelModel:
    """Speeds for the profile, the routable core, and cells and facilities snapped to it.

    Points never join motorways, their ramps or ferries directly. Facilities join the largest
    strongly connected part (the core). A cell joins its nearest road if that road is in the core.
    Otherwise it joins the nearest core road: always when its nearest road is physically linked to
    the core but not routable both ways (a one-way stub at the edge of an extract), and when its
    nearest road is an isolated fragment (a private driveway, a parking aisle, an island's road)
    only if a core road is within ``max_access_m`` (the standards profile's no-road-access
    distance); with none that close the cell is *cut off* and keeps its leg to the fragment.
    """
    profile = travel_profile(name, overrides)
    net = with_speeds(roads, profile)
    if net.n_segments == 0:
        raise InputError("no driveable roads in the road file for this travel profile.", file=roads.source,
                         field="highway", fix="use an extract with roads (highway=primary, residential, ...).")
    reachable_from_side = ~np.isin(net.seg_highway.astype(str), NO_ACCESS_CLASSES) & ~net.seg_ferry
    # the routable core: the strongly connected part with the most roads a point may join
    main = largest_component(net, strong=True, counted=reachable_from_side)
    if not main.any():
        raise InputError("no part of the road network can be driven both ways and joined from the roadside: "
                         "every road is one-way out of the extract, a motorway, a ramp or a ferry.",
                         file=roads.source, field="highway",
                         fix="use an extract that holds the local streets (highway=primary, residential, ...) "
                             "of the region, not only expressways or ferries.")
    linked = largest_component(net, counted=main)
    snappable = main & reachable_from_side
    # each snap below builds (once) or reuses the network's snapping index for its mask, as do later
    # snaps of candidates and added stations to ``snappable`` on this network
    nearest = snap(net, cell_x, cell_y, allowed=reachable_from_side)
    cell_snap, cut_off, fragment_seg = _join_core(net, nearest, ~linked[nearest.seg], snappable,
                                                  cell_x, cell_y, max_access_m)
    fac_snap = snap_sites(net, facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy(),
                          facilities["facility_id"].to_numpy(), max_facility_access_m, allowed=snappable,
                          file=facility_file, field="geometry")
    return TravelModel(name, profile, net, main, snappable, cell_snap, fac_snap, cut_off,
                       fragment_seg=fragment_seg, max_access_m=float(max_access_m))


FAR_FIX = ("check those coordinates (swapped or wrong coordinate system?) or move them nearer the road network, "
           "or raise [travel] facility_max_access_m in the scenario.")


class FarFromRoad(InputError):
    """Sites farther than the allowed access leg from the roads they may join (see :func:`snap_sites`).

    ``far`` are their positions among the sites given, ``access_m`` their distances to the road.
    """

    def __init__(self, problem: str, *, far: np.ndarray, access_m: np.ndarray, file: object = None,
                 field: str | None = None, fix: str | None = None):
        self.far = far
        self.access_m = access_m
        super().__init__(problem, file=file, field=field, fix=fix)


def snap_sites(model_or_net: TravelModel | RoadNetwork, x: np.ndarray, y: np.ndarray, ids: np.ndarray,
               max_m: float, *, allowed: np.ndarray | None = None, tree: shapely.STRtree | None = None,
               file: object = None, field: str | None = "geometry",
               what: tuple[str, str] = ("facility", "facilities"), fix: str = FAR_FIX) -> Snapped:
    """Snap sites (facilities, candidate sites, a station placed on the map) to the roads they may
    join, and refuse those farther than ``max_m`` from them.

    Parameters
    ----------
    model_or_net : TravelModel or RoadNetwork
        A travel model (the sites join its ``snappable`` core), or a network with ``allowed``.
    x, y : ndarray
        The sites in the network's CRS.
    ids : ndarray
        The sites' ids, named in the message.
    max_m : float
        The longest access leg allowed (the scenario's ``[travel] facility_max_access_m``).
    allowed : ndarray of bool, optional
        The segments the sites may join (with a network; a model's ``snappable`` otherwise).
    tree : shapely.STRtree, optional
        A spatial index of the allowed segments' geometries, if one is at hand.
    file, field : optional
        Where the sites come from, for the message.
    what : (str, str)
        What the sites are, singular and plural ("facility", "facilities").
    fix : str
        The fix in the message.

    Returns
    -------
    Snapped
        The sites' snaps (segment, position, access leg in metres).

    Raises
    ------
    FarFromRoad
        An InputError listing up to 8 of the sites too far from the road, with their distances.
    """
    if isinstance(model_or_net, TravelModel):
        net, allowed = model_or_net.net, model_or_net.snappable if allowed is None else allowed
    else:
        net = model_or_net
    snapped = snap(net, np.asarray(x, dtype=float), np.asarray(y, dtype=float), allowed=allowed, tree=tree)
    far = np.flatnonzero(snapped.access_m > max_m)
    if len(far):
        ids = np.asarray(ids, dtype=object)
        listing = ", ".join(f"{ids[i]} ({snapped.access_m[i]:,.0f} m)" for i in far[:8])
        more = f" and {len(far) - 8} more" if len(far) > 8 else ""
        noun = f"{what[0]} is" if len(far) == 1 else f"{what[1]} are"
        raise FarFromRoad(f"{len(far)} {noun} more than {max_m:,.0f} m from the road network: {listing}{more}.",
                          far=far, access_m=snapped.access_m[far], file=file, field=field, fix=fix)
    return snapped


def _join_core(net: RoadNetwork, nearest: Snapped, isolated: np.ndarray, snappable: np.ndarray,
               x: np.ndarray, y: np.ndarray,
               max_access_m: float) -> tuple[Snapped, np.ndarray, np.ndarray]:
    """Move cells whose nearest road is off the core onto the nearest core road (one extra snap).

    Returns the cells' snaps, the cut-off mask (isolated nearest road and no core road within
    ``max_access_m``) and, per cell, the isolated segment it was nearest to (-1 for none).
    """
    redo = np.flatnonzero(~snappable[nearest.seg])
    fragment_seg = np.where(isolated, nearest.seg, -1)
    if len(redo) == 0:
        return nearest, np.zeros(len(nearest), dtype=bool), fragment_seg
    again = snap(net, x[redo], y[redo], allowed=snappable)
    stays = isolated[redo] & (again.access_m > max_access_m)   # no core road close enough: cut off
    move = redo[~stays]
    out = Snapped(*(np.copy(a) for a in (nearest.seg, nearest.frac, nearest.access_m)))
    out.seg[move], out.frac[move], out.access_m[move] = (a[~stays] for a in (again.seg, again.frac, again.access_m))
    cut_off = np.zeros(len(nearest), dtype=bool)
    cut_off[redo[stays]] = True
    return out, cut_off, fragment_seg


def turnout_seconds(facilities, profile: Profile) -> np.ndarray:
    """Turnout time per facility in seconds (its own turnout_min, else the profile's default)."""
    minutes = facilities["turnout_min"].to_numpy(dtype=float)
    return np.where(np.isfinite(minutes), minutes, profile.default_turnout_min) * 60.0


def rule_facilities(rule: Rule, facilities) -> np.ndarray:
    """Indices of the facilities that have one of the rule's types among their roles."""
    return np.flatnonzero(has_role(facilities["type"], rule.facility_types))


def nearest_measures(model: TravelModel, fac_idx: np.ndarray, turnout_s: np.ndarray, direction: str,
                     cell_x: np.ndarray, cell_y: np.ndarray, fac_x: np.ndarray, fac_y: np.ndarray) -> dict:
    """Straight-line distance, network distance and travel time to the nearest of the facilities.

    Time = turnout (if any) + facility access leg + road travel + cell access leg.
    Returns arrays over cells, with the nearest facility's index (into all facilities) for each.
    """
    src = model.fac_snap.take(fac_idx)
    cells = model.cell_snap
    v = model.access_mps
    time_s, t_lab = model.router(direction, "time").nearest(
        src, turnout_s[fac_idx] + src.access_m / v, cells, cells.access_m / v)
    net_m, d_lab = model.router(direction, "length").nearest(src, src.access_m, cells, cells.access_m)
    straight_m, s_lab = straight_nearest(fac_x[fac_idx], fac_y[fac_idx], cell_x, cell_y)
    return {
        "straight_m": straight_m, "straight_fac": fac_idx[s_lab],
        "network_m": net_m, "network_fac": np.where(d_lab >= 0, fac_idx[d_lab], -1),
        "time_s": time_s, "time_fac": np.where(t_lab >= 0, fac_idx[t_lab], -1),
    }


def rule_value(rule: Rule, measures: dict) -> np.ndarray:
    """The per-cell value a rule is judged on (metres or seconds)."""
    if rule.kind == "radius":
        return measures["straight_m" if rule.measure == "straight_line" else "network_m"]
    return measures["time_s"]


def cell_thresholds(rule: Rule, zones: np.ndarray) -> np.ndarray:
    """Per-cell limit from the cell's zone (NaN where the rule does not apply)."""
    out = np.full(len(zones), np.nan)
    for zone in ("urban", "rural"):
        limit = rule.threshold(zone)
        if limit is not None:
            out[zones == zone] = limit
    return out


def judge_codes(value: np.ndarray, limit: np.ndarray, access_m: np.ndarray, cut_off: np.ndarray,
                max_access_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pass (inclusive: value ≤ limit) and, for each cell that fails, its gap reason as a code into
    :data:`REASON_CODES` (uint8; 0 for none). A later reason overrides an earlier one: beyond the
    threshold, then cut off (unreachable or on a cut-off road), then no road access."""
    passed = value <= limit
    failed = ~passed & np.isfinite(limit)
    code = np.zeros(len(value), dtype=np.uint8)
    code[failed] = REASON_CODES.index(GAP_BEYOND)
    code[failed & (~np.isfinite(value) | cut_off)] = REASON_CODES.index(GAP_CUT_OFF)
    code[failed & (access_m > max_access_m)] = REASON_CODES.index(GAP_NO_ROAD)
    return passed, code


def judge_cells(value: np.ndarray, limit: np.ndarray, access_m: np.ndarray, cut_off: np.ndarray,
                max_access_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pass (inclusive: value ≤ limit) and the gap reason (text, "" for none) for each cell that
    fails (:func:`judge_codes`)."""
    passed, code = judge_codes(value, limit, access_m, cut_off, max_access_m)
    return passed, np.array(REASON_CODES, dtype=object)[code]


def summarise_spatial(rule: Rule, cells: pd.DataFrame, passed: np.ndarray, reason: np.ndarray | pd.Categorical,
                      applies: np.ndarray, extra_shares: dict[str, np.ndarray] | None = None,
                      value: np.ndarray | None = None, groups: CellGroups | None = None) -> pd.DataFrame:
    """Population-weighted rows per zone × unit, per zone and for the whole region.

    ``cells`` needs columns population, zone, unit_id, unit_name. For ``mean_time`` rules the row's
    value is the population-weighted mean time in minutes over the people with a modelled time, and
    pass compares it with the limit; ``population_no_time`` counts the people left out (cut off), and
    the row fails too when they are more than the share the rule tolerates (1 − min_share).
    ``groups`` (``CellGroups.of(cells)``, built once) groups by integer codes instead of the key
    strings: the same rows, faster when the same cells are summarised many times (``serve``, which
    also passes ``reason`` as a pandas Categorical of the same strings).
    """
    cols = {} if groups is not None else {k: cells[k].to_numpy()[applies]
                                          for k in ("zone", "unit_id", "unit_name")}
    pop = cols["population"] = cells["population"].to_numpy()[applies]
    cols["covered_population"] = pop * passed[applies]
    why = reason[applies]
    for gap in GAP_REASONS:
        cols[f"gap_{gap}"] = pop * (why == gap)
    for name, ok in (extra_shares or {}).items():
        cols[f"_cov_{name}"] = pop * ok[applies]
    if value is not None:
        finite = np.isfinite(value[applies])
        cols["_wtime"] = np.where(finite, pop * value[applies], 0.0)
        cols["_wpop"] = np.where(finite, pop, 0.0)
    frame = pd.DataFrame(cols)   # built at once: no copy per added column
    sums = [c for c in frame.columns if c not in ("zone", "unit_id", "unit_name")]
    parts = groups.sums(frame, applies) if groups is not None else [
        frame.groupby(["zone", "unit_id", "unit_name"], sort=True)[sums].sum().reset_index(),
        frame.groupby(["zone"], sort=True)[sums].sum().reset_index().assign(unit_id="ALL", unit_name="全部 all"),
        frame[sums].sum().to_frame().T.assign(zone="all", unit_id="ALL", unit_name="全部 all"),
    ]
    out = pd.concat(parts, ignore_index=True)
    pop = out["population"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["share_covered"] = np.where(pop > 0, out["covered_population"] / pop, np.nan)
        for name in (extra_shares or {}):
            out[f"share_{name}"] = np.where(pop > 0, out.pop(f"_cov_{name}") / pop, np.nan)
        if value is not None:  # people with no finite time are counted apart, not hidden in the mean
            out["population_no_time"] = out["population"] - out["_wpop"]
            out["value"] = np.where(out["_wpop"] > 0, out.pop("_wtime") / out.pop("_wpop") / 60.0, np.inf)
    if rule.kind == "mean_time":
        limits = out["zone"].map(lambda z: _mean_limit(rule, z))
        out["target"] = limits
        ok = np.where(rule.strict, out["value"] < limits, out["value"] <= limits)
        ok &= out["population_no_time"] <= (1 - rule.min_share) * out["population"] + 1e-9
        out["pass"] = pd.Series(ok, index=out.index, dtype=object).where(limits.notna(), None)  # no limit: no verdict
    else:
        out["target"] = rule.min_share
        out["pass"] = out["share_covered"] >= rule.min_share - 1e-12
    return out


def _mean_limit(rule: Rule, zone: str) -> float:
    if zone == "all":
        return np.nan
    limit = rule.threshold(zone)
    return np.nan if limit is None else limit / 60.0


def warn_coordinate_offset(model: TravelModel, facilities) -> str | None:
    """Warn when facilities declared WGS84 look like GCJ-02 or BD-09 coordinates.

    Two tests: they sit 300–1,600 m off the roads all in one direction
    (:func:`coords.suspect_gcj02_offset`), or converting them from GCJ-02 (or BD-09) to WGS84 brings
    most of them closer to a road, unlike the same moves in other directions
    (:func:`coords.suspect_offset_by_inverse`; this one also catches shifted points that still lie
    near some other road). Returns the warning text, or None.
    """
    from .coords import suspect_gcj02_offset, suspect_offset_by_inverse

    snap_pts = shapely.line_interpolate_point(model.net.seg_geometry[model.fac_snap.seg], model.fac_snap.frac,
                                              normalized=True)
    fac_xy = np.column_stack([facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy()])
    to_road = np.column_stack([shapely.get_x(snap_pts), shapely.get_y(snap_pts)]) - fac_xy
    text = suspect_gcj02_offset(fac_xy, to_road)
    if not text and facilities.crs is not None:
        text = suspect_offset_by_inverse(fac_xy, {s: np.column_stack(_as_if(facilities, s)) for s in ("gcj02", "bd09")},
                                         lambda x, y: _road_distance(model, x, y))
    if text:
        warn(text)
    return text


def _as_if(facilities, system: str) -> tuple[np.ndarray, np.ndarray]:
    """The facilities' positions (in their metric CRS) if their coordinates were in ``system``."""
    from pyproj import Transformer

    from .coords import to_wgs84

    lonlat = facilities.geometry.to_crs("EPSG:4326")
    lon, lat = to_wgs84(lonlat.x.to_numpy(), lonlat.y.to_numpy(), system)
    x, y = Transformer.from_crs("EPSG:4326", facilities.crs, always_xy=True).transform(lon, lat)
    return np.asarray(x, float), np.asarray(y, float)


def _road_distance(model: TravelModel, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Metres from each point to the nearest road a point may join (inf for a point not finite),
    through the network's cached snapping index."""
    out = np.full(len(x), np.inf)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.any():
        out[ok] = snap(model.net, x[ok], y[ok], allowed=model.snappable).access_m
    return out


def warn_long_access_legs(model: TravelModel, facilities, limit_m: float = LONG_ACCESS_LEG_M) -> list[int]:
    """Warn about facilities whose straight access leg to the road is longer than ``limit_m``.

    The leg is walked in a straight line, so a long one may cross water or private land and make the
    facility reach people it cannot. Returns the positions of the facilities listed.
    """
    long = np.flatnonzero(model.fac_snap.access_m > limit_m)
    if len(long):
        ids = facilities["facility_id"].to_numpy()
        names = facilities["name"].to_numpy() if "name" in facilities else np.full(len(ids), "")
        listing = ", ".join(" ".join(str(t) for t in (ids[i], names[i]) if str(t).strip())
                            + f" ({model.fac_snap.access_m[i]:,.0f} m)" for i in long[:8])
        more = f" and {len(long) - 8} more" if len(long) > 8 else ""
        warn(f"{len(long)} facilit{'y is' if len(long) == 1 else 'ies are'} more than {limit_m:,.0f} m from the "
             f"nearest connected road: {listing}{more}. Their access leg to the road is modelled as a straight "
             "walk, and the leg may cross water or private land; check the location (or move the point to "
             "the facility's entrance).")
    return long.tolist()


def warn_cut_off(model: TravelModel, population: np.ndarray) -> float:
    """Warn about people whose nearest road is an isolated fragment; returns the cut-off share.

    The warning names the fragments (OSM way id, highway class and location), the people moved to
    a core road within the profile's max_access_m instead, and the people left ``cut_off``.
    """
    fragment_seg = model.fragment_seg if model.fragment_seg is not None else np.full(len(population), -1)
    total = max(float(population.sum()), 1e-12)
    cut, moved = float(population[model.cut_off].sum()), float(population[model.moved].sum())
    if cut <= 0 and moved <= 0:
        return 0.0
    segs = np.unique(fragment_seg[fragment_seg >= 0])
    parts = [f"the road network is not connected: the nearest road of some people is one of {len(segs)} "
             f"isolated road piece(s) not linked to the routable network ({describe_ways(model.net, segs)})."]
    if moved > 0:
        parts.append(f"{moved:,.0f} people ({moved / total:.2%}) were joined to the nearest connected road "
                     f"within {model.max_access_m:,.0f} m instead (their access leg is walked).")
    if cut > 0:
        parts.append(f"{cut / total:.2%} of the population ({cut:,.0f} people) have no connected road within "
                     f"{model.max_access_m:,.0f} m; they are reported as 'cut_off' gaps.")
    warn(" ".join(parts) + f" ({model.name} profile; check those ways in OSM: a missing link or access tag.)")
    return cut / total


def describe_ways(net: RoadNetwork, segs: np.ndarray, limit: int = 8) -> str:
    """Up to ``limit`` segments as "way 123 (service, 104.06210°E 30.67120°N)", one entry per OSM way."""
    from pyproj import Transformer

    way = net.seg_way[segs]
    known = way >= 0
    _, first = np.unique(np.where(known, way, -1 - segs), return_index=True)   # one entry per way
    segs = segs[np.sort(first)]
    mid = shapely.line_interpolate_point(net.seg_geometry[segs], 0.5, normalized=True)
    lon, lat = Transformer.from_crs(net.crs, "EPSG:4326", always_xy=True).transform(
        shapely.get_x(mid), shapely.get_y(mid))
    names = [(f"way {w}" if w >= 0 else "a way") + f" ({h}, {x:.5f}°E {y:.5f}°N)"
             for w, h, x, y in zip(net.seg_way[segs], net.seg_highway[segs], np.atleast_1d(lon), np.atleast_1d(lat))]
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


__all__ = [
    "FROM_FACILITY", "GAP_REASONS", "TravelModel", "build_travel_model", "cell_thresholds", "combine_any",
    "judge_cells", "judge_codes", "REASON_CODES",
    "nearest_measures", "required_count", "snap_sites", "FarFromRoad", "rule_facilities", "rule_value",
    "summarise_counts",
    "summarise_spatial", "summarise_villages", "turnout_seconds", "warn_cut_off", "warn_long_access_legs",
]
