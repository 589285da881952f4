"""The what-if engine behind ``coverage-planner serve``: edits answered without a full rerun.

:class:`Engine` is loaded once per scenario and shared (read-only, plus caches) by every browser
tab; :class:`Session` is one tab's state: which stations are open and where, rule thresholds, rules
switched on, a road-speed factor, and undo/redo.

Speed comes from three things:

- each station's travel costs to the cells are computed once, by a Dijkstra bounded at the largest
  threshold the sliders allow (:meth:`Engine.station_costs`, cached and shared by sessions);
- each rule's facility group keeps, per cell, its best and second-best station (:class:`Group`):
  opening or moving a station is one bounded search and a vectorised minimum, closing one falls back
  to the second best (and refreshes the seconds of the cells it touched);
- a threshold slider or a rule switch only re-judges the cells.

The numbers are those of ``coverage-planner run`` on the scenario written by :meth:`Session.save`:
the minimum over stations of single-station costs equals the multi-source search of the CLI
(floating-point addition is monotone), and the tables come from the same public functions
(:func:`coverage.judge_cells`, :func:`coverage.summarise_spatial`, the rule kinds' summaries).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .. import coverage as cov
from ..cell_groups import CellGroups
from ..facility_types import has_role
from ..network import travel_profile, with_speeds
from ..pipeline import Region, Steps, assign_units, evaluate, tag_rule_rows
from ..scenario import Scenario
from ..standards import Profile, Rule, load_profile
from ..travel import straight_nearest

SPEED_RANGE = (0.5, 1.5)          # road-speed factor the slider allows
THRESHOLD_RANGE = (0.25, 2.0)     # slider range, as multiples of the profile's threshold
VEHICLE_PROFILES = ("ambulance", "car")   # the speed factor scales vehicles, not walking
BEYOND = np.finfo(float).max      # reachable, but farther than the bound of the cached searches
STATE_CODES = {"covered": 0, cov.GAP_BEYOND: 1, cov.GAP_NO_ROAD: 2, cov.GAP_CUT_OFF: 3, "n/a": 4}
REASONS = cov.REASON_CODES          # gap reason codes (coverage.judge_codes) = their state codes
RESOURCE_COLUMNS = ("beds", "doctors", "nurses", "gps", "negative_pressure_ambulances")
NEW_SEARCHES = 2   # a rule's group is merged from per-station costs when at most this many are missing
LABEL_RE = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


class EditError(ValueError):
    """An edit the state refuses (answered as a 4xx message): what is wrong and how to fix it."""

    def __init__(self, message: str, status: int = 422):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Combo:
    """One kind of cost search: travel profile, direction, weight ('time' or 'length'), turnout."""

    profile: str
    direction: str
    weight: str
    turnout: bool


def rule_combo(rule: Rule) -> Combo:
    """The cost search a spatial rule's network measure needs."""
    if rule.kind == "radius":
        return Combo(rule.travel_profile, rule.direction, "length", False)
    return Combo(rule.travel_profile, rule.direction, "time", bool(rule.include_turnout))


def threshold_unit(rule: Rule) -> str:
    """'km' for radius rules, 'min' for time rules."""
    return "km" if rule.kind == "radius" else "min"


def scaled_overrides(name: str, base: dict | None, factor: float) -> dict | None:
    """Scenario overrides of a travel profile with every road speed multiplied by ``factor``.

    Walking and factor 1 keep the scenario's own overrides. The access (walked) speed is kept.
    """
    if factor == 1.0 or name not in VEHICLE_PROFILES:
        return copy.deepcopy(base) if base else base
    prof = travel_profile(name, base)
    out = copy.deepcopy(base) if base else {}
    out["speeds_kmh"] = {k: float(v) * factor for k, v in prof["speeds_kmh"].items()}
    for key in ("max_kmh", "ferry_kmh", "maxspeed_factor"):
        out[key] = float(prof[key]) * factor
    return out


@dataclass
class Group:
    """Best and second-best station per cell among the open stations of some types, for one Combo.

    ``best_s``/``second_s`` hold station positions (into the session's station table), -1 for none.
    When ``seconds_ok`` is False the seconds are unknown (after a speed change, the bests come from
    one multi-source search) and are rebuilt from the cached per-station costs when needed.
    """

    combo: Combo
    types: tuple[str, ...]
    best_v: np.ndarray
    best_s: np.ndarray
    second_v: np.ndarray
    second_s: np.ndarray
    seconds_ok: bool = True

    @classmethod
    def empty(cls, combo: Combo, types: tuple[str, ...], n: int) -> "Group":
        return cls(combo, types, np.full(n, np.inf), np.full(n, -1, np.int64), np.full(n, np.inf),
                   np.full(n, -1, np.int64))

    def merge(self, s: int, idx: np.ndarray, vals: np.ndarray) -> None:
        """Add station ``s`` with its costs ``vals`` to cells ``idx`` (vectorised)."""
        bv, bs = self.best_v[idx], self.best_s[idx]
        better = vals < bv
        mid = ~better & (vals < self.second_v[idx])
        ib, im = idx[better], idx[mid]
        if self.seconds_ok:
            self.second_v[ib], self.second_s[ib] = bv[better], bs[better]
            self.second_v[im], self.second_s[im] = vals[mid], s
        self.best_v[ib], self.best_s[ib] = vals[better], s

    def affected(self, s: int) -> np.ndarray:
        """Cells whose best or second station is ``s``."""
        return np.flatnonzero((self.best_s == s) | (self.second_s == s))

    def rebuild(self, cells: np.ndarray, stations: list[tuple[int, np.ndarray, np.ndarray]]) -> None:
        """Best two over ``stations`` [(position, cell idx, costs)] for ``cells`` only."""
        n = len(self.best_v)
        for arr, fill in ((self.best_v, np.inf), (self.second_v, np.inf), (self.best_s, -1), (self.second_s, -1)):
            arr[cells] = fill
        pos = np.full(n, False)
        pos[cells] = True
        for s, idx, vals in stations:
            keep = pos[idx]
            self.merge(s, idx[keep], vals[keep])


class Engine:
    """A scenario loaded once: region, travel models, cached per-station costs; shared by sessions."""

    def __init__(self, scn: Scenario, region: Region, steps: Steps | None = None, cache_entries: int = 4096,
                 cache_bytes: int = 1536 * 2 ** 20):
        self.scn, self.region = scn, region
        self.steps = steps or Steps(quiet=True)
        std = scn.raw.get("standards", {})
        self.profile_name = std.get("profile", "chongqing")
        self.base_overrides = copy.deepcopy(std.get("overrides") or {})
        self.base_rules_only = list(std["rules"]) if std.get("rules") else None
        self.full_profile = self.load_profile(self.base_overrides, None)
        self.rule_ids = [r.id for r in self.full_profile.rules]
        self.cells = region.cells
        self.x = self.cells.geometry.x.to_numpy()
        self.y = self.cells.geometry.y.to_numpy()
        self.pop = self.cells["population"].to_numpy(dtype=float)
        self.zones = self.cells["zone"].to_numpy()
        self.n = len(self.cells)
        self.cell_groups = CellGroups.of(self.cells)     # zone × unit codes for the rules' tables
        self._limits: OrderedDict = OrderedDict()
        self._states: OrderedDict = OrderedDict()
        self._top_speed: dict[tuple, float] = {}
        self._models: dict[tuple[str, float], cov.TravelModel] = {}
        self._trees: dict[str, shapely.STRtree] = {}
        self._reach: dict[tuple, np.ndarray] = {}
        self._costs: OrderedDict = OrderedDict()
        self._frames: OrderedDict = OrderedDict()
        self._cache_entries = cache_entries
        self._cache_bytes = cache_bytes         # per-station costs kept: at 1M cells, a few MB each
        self._cost_bytes = 0
        self._lock = threading.RLock()
        self.bounds = self._bounds()
        for name in sorted({r.travel_profile for r in self.full_profile.rules if r.spatial}):
            self.model(name, 1.0)
        self._lonlat = None
        fac = region.facilities.geometry
        self.fac_outside_m = shapely.distance(region.region, fac.to_numpy())   # 0 inside the boundaries
        self._transformers: dict = {}

    # -- settings ------------------------------------------------------------------------------
    def load_profile(self, overrides: dict, only: list[str] | None) -> Profile:
        """The standards profile with ``overrides`` and rules ``only``, as ``load_scenario`` builds it."""
        name = self.profile_name
        base = self.scn.path.parent
        return load_profile(name, base, overrides or None, only, scenario_file=self.scn.path)

    def _bounds(self) -> dict[Combo, float]:
        """Per cost search, the largest value a slider can ask about (inf for mean-time rules)."""
        out: dict[Combo, float] = {}
        for rule in self.full_profile.rules:
            if not rule.spatial:
                continue
            scale = 1000.0 if rule.kind == "radius" else 60.0
            top = max(v for v in (rule.urban, rule.rural, 0.0) if v is not None) * THRESHOLD_RANGE[1] * scale
            if rule.kind == "mean_time":
                top = math.inf
            combo = rule_combo(rule)
            out[combo] = max(out.get(combo, 0.0), top)
        return out

    def threshold_range(self, rule: Rule) -> tuple[float, float] | None:
        """(low, high) slider range of a spatial rule, in km or minutes, from the profile's values."""
        base = self.full_profile.rules[self.rule_ids.index(rule.id)]
        values = [v for v in (base.urban, base.rural) if v is not None]
        if not values or not rule.spatial:
            return None
        return (min(values) * THRESHOLD_RANGE[0], max(values) * THRESHOLD_RANGE[1])

    def limit(self, rule: Rule) -> np.ndarray:
        """Per cell, the rule's threshold for the cell's zone, NaN where it has none
        (:func:`coverage.cell_thresholds`, from one lookup per zone; cached, read-only)."""
        def of_zone(zone) -> float:
            value = rule.threshold(zone) if zone in ("urban", "rural") else None
            return np.nan if value is None else float(value)

        with self._lock:
            if rule not in self._limits:
                out = self.cell_groups.zone_values(of_zone)
                out.flags.writeable = False
                self._limits[rule] = out
                while len(self._limits) > 64:
                    self._limits.popitem(last=False)
            self._limits.move_to_end(rule)
            return self._limits[rule]

    # -- travel models -------------------------------------------------------------------------
    def model(self, name: str, factor: float) -> cov.TravelModel:
        """The travel model of profile ``name`` with road speeds × ``factor`` (snaps are shared)."""
        with self._lock:
            key = (name, float(factor))
            if key in self._models:
                return self._models[key]
            if factor == 1.0:
                fac = self.region.facilities
                model = cov.build_travel_model(self.region.roads, name, self.scn.travel_overrides.get(name),
                                               self.x, self.y, fac, self.scn.facility_max_access_m,
                                               self.scn.facilities.path, self.scn.profile.max_access_m)
            else:   # same segments, other speeds: the snaps do not change
                base = self.model(name, 1.0)
                prof = travel_profile(name, scaled_overrides(name, self.scn.travel_overrides.get(name), factor))
                model = dataclasses.replace(base, profile=prof, net=with_speeds(self.region.roads, prof), routers={})
            if len(self._models) > 8:   # slider positions visited long ago
                for old in [k for k in self._models if k[1] != 1.0][:1]:
                    del self._models[old]
            self._models[key] = model
            return model

    def snap_point(self, name: str, x: float, y: float, max_m: float = math.inf):
        """Snap one point as the facility loader's model does (nearest joinable core road).

        Raises :class:`coverage.FarFromRoad` when the point is more than ``max_m`` from that road.
        """
        model = self.model(name, 1.0)
        with self._lock:
            if name not in self._trees:
                self._trees[name] = shapely.STRtree(model.net.seg_geometry[np.flatnonzero(model.snappable)])
        return cov.snap_sites(model, np.array([x]), np.array([y]), np.array(["the point"]), max_m,
                              tree=self._trees[name], what=("point", "points"))

    def reachable(self, combo: Combo) -> np.ndarray:
        """Cells that some station of the routable core can reach (the core is strongly connected)."""
        key = (combo.profile, combo.direction)
        with self._lock:
            if key not in self._reach:
                model = self.model(combo.profile, 1.0)
                src = model.fac_snap
                cost, _ = model.router(combo.direction, "length").nearest(
                    src, np.zeros(len(src)), model.cell_snap, np.zeros(self.n))
                self._reach[key] = np.isfinite(cost)
            return self._reach[key]

    # -- per-station costs ---------------------------------------------------------------------
    def station_costs(self, combo: Combo, factor: float, snaps, turnout_s: np.ndarray,
                      keys: list[tuple]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Bounded costs from each station to the cells: [(cell indices, costs)], cached by ``keys``.

        ``snaps`` are the stations' Snapped points for the combo's profile, ``turnout_s`` their
        turnout seconds. Missing entries are computed together (one batched bounded search).
        """
        full = [(combo, float(factor), *k) for k in keys]
        got: dict = {}
        while True:     # again only if another tab evicted an entry between the check and the end
            with self._lock:
                for k, entry in got.items():
                    if k not in self._costs:
                        self._costs[k] = entry
                        self._cost_bytes += sum(a.nbytes for a in entry)
                missing = [i for i, k in enumerate(full) if k not in self._costs]
                if not missing:
                    out = []
                    for k in full:
                        self._costs.move_to_end(k)
                        out.append(self._costs[k])
                    # the oldest go first; this request's entries (just moved to the end) stay
                    while (len(self._costs) > self._cache_entries or self._cost_bytes > self._cache_bytes) \
                            and len(self._costs) > len(set(full)):
                        _, old = self._costs.popitem(last=False)
                        self._cost_bytes -= sum(a.nbytes for a in old)
                    return out
            got = self._search(combo, factor, snaps, turnout_s, full, missing)

    def _search(self, combo: Combo, factor: float, snaps, turnout_s: np.ndarray, full: list[tuple],
                missing: list[int]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
        """One batched bounded search from the stations ``missing`` (positions into ``full``)."""
        model = self.model(combo.profile, factor)
        idx = np.asarray(missing)
        src = snaps.take(idx)
        v = model.access_mps
        near = self.cells_near([full[i][2:4] for i in missing], self.reach_m(combo, factor))
        cells = model.cell_snap if near is None else model.cell_snap.take(near)
        if combo.weight == "time":
            offset = (turnout_s[idx] if combo.turnout else 0.0) + src.access_m / v
            dst_off = cells.access_m / v
        else:
            offset, dst_off = src.access_m, cells.access_m
        mat = model.router(combo.direction, combo.weight).bounded(
            src, offset, cells, dst_off, self.bounds.get(combo, math.inf)).tocsc()
        got = {}
        kind = np.int32 if self.n < 2 ** 31 else np.int64
        for k, i in enumerate(missing):
            lo, hi = mat.indptr[k], mat.indptr[k + 1]
            at = mat.indices[lo:hi]
            got[full[i]] = ((at if near is None else near[at]).astype(kind), mat.data[lo:hi].copy())
        return got

    def missing_costs(self, combo: Combo, factor: float, keys: list[tuple]) -> int:
        """How many of ``keys`` (see :meth:`station_costs`) have no cached costs."""
        with self._lock:
            return sum((combo, float(factor), *k) not in self._costs for k in keys)

    def reach_m(self, combo: Combo, factor: float) -> float:
        """Straight-line metres beyond which no cell can be within the combo's search bound.

        Every route is at least as long as the straight line from station to cell (access legs are
        straight, a road is at least as long as its chord), and takes at least that length over the
        fastest speed of any road or of walking. A margin absorbs rounding. Infinite for unbounded
        searches (mean-time rules).
        """
        bound = self.bounds.get(combo, math.inf)
        if not math.isfinite(bound):
            return math.inf
        if combo.weight == "length":
            return bound * 1.001 + 1.0
        key = (combo.profile, combo.direction, float(factor))
        with self._lock:
            speed = self._top_speed.get(key)
        if speed is None:
            model = self.model(combo.profile, factor)
            length = model.router(combo.direction, "length").graph
            time = model.router(combo.direction, "time").graph
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = np.concatenate([length.cost_fwd / time.cost_fwd, length.cost_bwd / time.cost_bwd])
            ratio = ratio[~np.isnan(ratio)]          # directions closed in both graphs
            speed = max(float(ratio.max()) if len(ratio) else 0.0, model.access_mps)
            with self._lock:
                self._top_speed[key] = speed
        return bound * speed * 1.001 + 1.0 if math.isfinite(speed) else math.inf

    def cells_near(self, points: list[tuple[float, float]], radius: float) -> np.ndarray | None:
        """Cells within ``radius`` metres of any of ``points`` (sorted), or None when that is all of them."""
        if not math.isfinite(radius):
            return None
        mask = np.zeros(self.n, dtype=bool)
        for x, y in points:     # stations, not cells
            mask |= (self.x - x) ** 2 + (self.y - y) ** 2 <= radius ** 2
        return None if mask.all() else np.flatnonzero(mask)

    def frame(self, key: tuple, rows: pd.DataFrame | None = None) -> pd.DataFrame | None:
        """A rule's summary rows for a state key (see ``Session._rule_key``), shared by sessions.

        With ``rows``, store them (read-only from then on) and return them; without, the stored rows or None.
        """
        return self._shared(self._frames, 4096, key, rows)

    def states(self, key: tuple, codes: np.ndarray | None = None) -> np.ndarray | None:
        """A spatial rule's cell states (see :meth:`Session.cell_states`) for a state key, shared.

        With ``codes``, store them (read-only from then on) and return them; without, the stored ones or None.
        """
        if codes is not None:
            codes.flags.writeable = False
        return self._shared(self._states, 64, key, codes)      # one byte per cell each

    def _shared(self, store: OrderedDict, most: int, key: tuple, value=None):
        """Least-recently-used store shared by sessions: look ``key`` up, or store ``value`` under it
        (keeping at most ``most`` entries)."""
        with self._lock:
            if value is None:
                if key in store:
                    store.move_to_end(key)
                return store.get(key)
            store[key] = value
            while len(store) > most:
                store.popitem(last=False)
            return value

    # -- display helpers -----------------------------------------------------------------------
    def lonlat(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell centres in longitude/latitude (for the page)."""
        if self._lonlat is None:
            pts = gpd.GeoSeries(gpd.points_from_xy(self.x, self.y), crs=self.region.crs).to_crs("EPSG:4326")
            self._lonlat = (pts.x.to_numpy(), pts.y.to_numpy())
        return self._lonlat

    def _transformer(self, src: str, dst: str):
        from pyproj import Transformer

        key = (src, dst, threading.get_ident())    # pyproj transformers are not shared between threads
        if key not in self._transformers:
            self._transformers[key] = Transformer.from_crs(src, dst, always_xy=True)
        return self._transformers[key]

    def to_metric(self, lon: float, lat: float) -> tuple[float, float]:
        """A longitude/latitude point in the region's metric CRS."""
        x, y = self._transformer("EPSG:4326", str(self.region.crs)).transform(lon, lat)
        return float(x), float(y)

    def to_lonlat(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Points of the region's metric CRS in longitude/latitude."""
        lon, lat = self._transformer(str(self.region.crs), "EPSG:4326").transform(x, y)
        return np.atleast_1d(lon), np.atleast_1d(lat)


@dataclass
class Edit:
    """One undoable step: a list of (setter name, argument before, argument after)."""

    label: str
    steps: list[tuple[str, tuple, tuple]] = field(default_factory=list)


class Session:
    """One browser tab's what-if state on a shared :class:`Engine`."""

    def __init__(self, engine: Engine, sid: str = "s"):
        self.engine, self.sid = engine, sid
        fac = engine.region.facilities.reset_index(drop=True).copy()
        fac["added"] = False
        self.fac = fac
        self.x = fac.geometry.x.to_numpy().copy()
        self.y = fac.geometry.y.to_numpy().copy()
        self.open = np.ones(len(fac), dtype=bool)
        self.deleted = np.zeros(len(fac), dtype=bool)
        self.version = np.zeros(len(fac), dtype=np.int64)        # bumped when a station moves
        self.fac_unit = np.asarray(engine.region.fac_unit).copy()
        self.overrides = copy.deepcopy(engine.base_overrides)
        self.rules_on = list(engine.base_rules_only or engine.rule_ids)
        self.factor = 1.0
        self.groups: dict[tuple, Group] = {}
        self._snaps: dict[tuple, object] = {}
        self._straight: OrderedDict = OrderedDict()
        self._straight_last: dict[tuple, tuple] = {}
        self._roles: dict[tuple, np.ndarray] = {}
        self._cols: dict[str, np.ndarray] = {}
        self._alive: np.ndarray | None = None
        self.undo_stack: list[Edit] = []
        self.redo_stack: list[Edit] = []
        self.lock = threading.RLock()
        self.edits = 0
        self._profile_key = None
        self._profile = None

    # -- current settings ----------------------------------------------------------------------
    def profile(self) -> Profile:
        """The standards profile with this session's thresholds and rule switches."""
        key = (repr(sorted((k, sorted(v.items())) for k, v in self.overrides.items())), tuple(self.rules_on))
        if key != self._profile_key:
            only = None if set(self.rules_on) == set(self.engine.rule_ids) and self.engine.base_rules_only is None \
                else list(self.rules_on)
            self._profile = self.engine.load_profile(self.overrides, only)
            self._profile_key = key
        return self._profile

    def factor_for(self, combo: Combo) -> float:
        """The speed factor a cost search sees: 1 for distances (road speeds do not change them)."""
        return self.factor if combo.weight == "time" else 1.0

    def travel_overrides(self) -> dict:
        """The scenario's [travel.profiles] with this session's speed factor applied."""
        base = self.engine.scn.travel_overrides or {}
        names = set(base) | (set(VEHICLE_PROFILES) if self.factor != 1.0 else set())
        out = {}
        for name in sorted(names):
            scaled = scaled_overrides(name, base.get(name), self.factor)
            if scaled:
                out[name] = scaled
        return out

    def kept(self) -> np.ndarray:
        """Stations the facility loader keeps under the current rules: within the facility margin of
        the region (:func:`facilities.facility_margin_m`, which follows the radius thresholds)."""
        from ..facilities import facility_margin_m

        margin = facility_margin_m(self.profile())
        out = np.ones(len(self.fac), dtype=bool)
        out[:len(self.engine.fac_outside_m)] = self.engine.fac_outside_m <= margin
        return out

    def alive(self) -> np.ndarray:
        """Open, not taken back, and kept by the loader: the stations that serve."""
        if self._alive is None or len(self._alive) != len(self.fac):
            self._alive = self.open & ~self.deleted & self.kept()
        return self._alive

    def live(self) -> np.ndarray:
        """Positions of the serving stations (:meth:`alive`)."""
        return np.flatnonzero(self.alive())

    def _refresh_alive(self) -> None:
        """After a change of state or rules: close or open the stations whose serving changed."""
        before = self._alive if self._alive is not None and len(self._alive) == len(self.fac) else None
        self._alive = None
        now = self.alive()
        if before is None:
            return
        for s in np.flatnonzero(before & ~now):
            self._close_station(int(s))
        for s in np.flatnonzero(now & ~before):
            self._open_station(int(s))

    def open_facilities(self) -> gpd.GeoDataFrame:
        """The open stations as the facility loader would give them (columns of the loader)."""
        live = self.live()
        fac = self.fac.iloc[live].drop(columns=["added"]).reset_index(drop=True)
        fac = fac.set_geometry(gpd.points_from_xy(self.x[live], self.y[live], crs=self.engine.region.crs))
        return fac

    # -- stations ------------------------------------------------------------------------------
    def _turnout(self) -> np.ndarray:
        return cov.turnout_seconds(self.fac, self.profile())

    def _snaps_for(self, profile: str):
        """Snapped stations (every position of the table, at its current place) for a travel profile."""
        from ..travel import Snapped

        cache = self._snaps.setdefault(profile, {})
        if not cache:
            base = self.engine.model(profile, 1.0).fac_snap
            fac0 = self.engine.region.facilities.geometry   # the loader's places, not the current ones
            for i, (x0, y0) in enumerate(zip(fac0.x.to_numpy(), fac0.y.to_numpy())):
                cache[(float(x0), float(y0))] = (base.seg[i], base.frac[i], base.access_m[i])
        parts = []
        for i in range(len(self.fac)):   # stations, not cells
            key = (float(self.x[i]), float(self.y[i]))
            if key not in cache:
                s = self.engine.snap_point(profile, self.x[i], self.y[i])
                cache[key] = (s.seg[0], s.frac[0], s.access_m[0])
            parts.append(cache[key])
        seg, frac, acc = (np.array(a) for a in zip(*parts))
        return Snapped(seg.astype(np.int64), frac.astype(float), acc.astype(float))

    def _station_keys(self, pos: np.ndarray, turnout: np.ndarray, combo: Combo) -> list[tuple]:
        return [(float(self.x[i]), float(self.y[i]), float(turnout[i]) if combo.turnout else 0.0) for i in pos]

    def _costs(self, combo: Combo, pos: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray]]:
        turnout = self._turnout()
        snaps = self._snaps_for(combo.profile)
        got = self.engine.station_costs(combo, self.factor_for(combo), snaps.take(pos), turnout[pos],
                                        self._station_keys(pos, turnout, combo))
        return [(int(p), idx, vals) for p, (idx, vals) in zip(pos, got)]

    def _columns(self) -> dict[str, np.ndarray]:
        """The station table's type, ambulances and turnout as arrays (refreshed when stations are added)."""
        if len(self._cols.get("type", ())) != len(self.fac):
            self._cols = {c: self.fac[c].to_numpy() for c in ("type", "ambulances", "turnout_min")}
        return self._cols

    def _role(self, types: tuple[str, ...]) -> np.ndarray:
        """Which stations of the table (open or not) have one of ``types`` among their roles."""
        hit = self._roles.get(types)
        if hit is None or len(hit) != len(self.fac):
            hit = self._roles[types] = has_role(self.fac["type"].to_numpy(), types)
        return hit

    def _members(self, types: tuple[str, ...]) -> np.ndarray:
        return np.flatnonzero(self.alive() & self._role(types))

    def group(self, combo: Combo, types: tuple[str, ...], seconds: bool = False) -> Group:
        """The group of a rule's stations, built on first use.

        At the scenario's speeds it is built from the per-station costs (cached, shared) when at most
        :data:`NEW_SEARCHES` of them are missing. Otherwise (another speed factor, or back at the
        scenario's speeds after stations were added or moved at another one) the bests come from one
        multi-source search and the seconds are left unknown until ``seconds`` asks for them
        (criticality); a closing then rebuilds the group the same way.
        """
        key = (combo, types)
        grp = self.groups.get(key)
        if grp is not None and (grp.seconds_ok or not seconds):
            return grp
        members = self._members(types)
        if seconds or (self.factor_for(combo) == 1.0 and self._missing_costs(combo, members) <= NEW_SEARCHES):
            grp = Group.empty(combo, types, self.engine.n)
            for s, idx, vals in self._costs(combo, members):
                grp.merge(s, idx, vals)
        else:
            grp = self._group_by_nearest(combo, types, members)
        self.groups[key] = grp
        return grp

    def _missing_costs(self, combo: Combo, pos: np.ndarray) -> int:
        """How many of the stations ``pos`` have no cached per-station costs for the combo."""
        keys = self._station_keys(pos, self._turnout(), combo)
        return self.engine.missing_costs(combo, self.factor_for(combo), keys)

    def _group_by_nearest(self, combo: Combo, types: tuple[str, ...], members: np.ndarray) -> Group:
        """Best station per cell by one multi-source search (seconds unknown)."""
        grp = Group.empty(combo, types, self.engine.n)
        grp.seconds_ok = False
        if len(members) == 0:
            return grp
        model = self.engine.model(combo.profile, self.factor_for(combo))
        src = self._snaps_for(combo.profile).take(members)
        cells, v = model.cell_snap, model.access_mps
        if combo.weight == "time":
            turnout = self._turnout()[members] if combo.turnout else 0.0
            offset, dst_off = turnout + src.access_m / v, cells.access_m / v
        else:
            offset, dst_off = src.access_m, cells.access_m
        cost, label = model.router(combo.direction, combo.weight).nearest(src, offset, cells, dst_off)
        grp.best_v[:] = cost
        grp.best_s[:] = np.where(label >= 0, members[np.maximum(label, 0)], -1)
        return grp

    def _open_station(self, s: int) -> None:
        for (combo, types), grp in self.groups.items():
            if self._role(types)[s]:
                (_, idx, vals), = self._costs(combo, np.array([s]))
                grp.merge(s, idx, vals)

    def _close_station(self, s: int) -> None:
        for (combo, types), grp in list(self.groups.items()):
            if not self._role(types)[s]:
                continue
            if not grp.seconds_ok:
                del self.groups[(combo, types)]     # rebuilt from cached costs on next use
                continue
            cells = grp.affected(s)
            others = self._members(types)
            others = others[others != s]
            grp.rebuild(cells, self._costs(combo, others))

    # setters: each undoable primitive -----------------------------------------------------
    def _set_open(self, s: int, value: bool) -> None:
        self.open[s] = value
        self._refresh_alive()

    def _set_deleted(self, s: int, value: bool) -> None:
        self.deleted[s] = value
        self._refresh_alive()

    def _set_position(self, s: int, x: float, y: float, version: int, unit: int) -> None:
        live = bool(self.alive()[s])
        if live:
            self._close_station(s)
        self.x[s], self.y[s], self.version[s], self.fac_unit[s] = x, y, version, unit
        if live:
            self._open_station(s)

    def _set_override(self, rule_id: str, key: str, value) -> None:
        table = self.overrides.setdefault(rule_id, {})
        if value is None:
            table.pop(key, None)
            if not table:
                self.overrides.pop(rule_id)
        else:
            table[key] = value
        self._refresh_alive()     # the facility margin follows the radius thresholds

    def _set_rules(self, rules: tuple) -> None:
        self.rules_on = list(rules)
        self._refresh_alive()

    def _set_factor(self, factor: float) -> None:
        self.factor = float(factor)
        for key in [k for k in self.groups if k[0].weight == "time"]:   # distances do not change
            del self.groups[key]

    def _apply(self, name: str, args: tuple) -> None:
        getattr(self, name)(*args)

    def _do(self, label: str, steps: list[tuple[str, tuple, tuple]]) -> None:
        for name, _before, after in steps:
            self._apply(name, after)
        self.undo_stack.append(Edit(label, steps))
        self.redo_stack.clear()
        self.edits += 1

    def undo(self) -> str:
        """Take back the last edit; returns its label."""
        if not self.undo_stack:
            raise EditError("nothing to undo.", 409)
        edit = self.undo_stack.pop()
        for name, before, _after in reversed(edit.steps):
            self._apply(name, before)
        self.redo_stack.append(edit)
        self.edits += 1
        return edit.label

    def redo(self) -> str:
        """Do again the last edit taken back; returns its label."""
        if not self.redo_stack:
            raise EditError("nothing to redo.", 409)
        edit = self.redo_stack.pop()
        for name, _before, after in edit.steps:
            self._apply(name, after)
        self.undo_stack.append(edit)
        self.edits += 1
        return edit.label

    # -- edits (validated) ---------------------------------------------------------------------
    def index_of(self, facility_id: str) -> int:
        hits = np.flatnonzero((self.fac["facility_id"].to_numpy() == facility_id) & ~self.deleted)
        if len(hits) == 0:
            raise EditError(f"no station with id '{facility_id}' in this session.", 404)
        return int(hits[0])

    def check_place(self, x: float, y: float) -> int:
        """The unit containing (x, y); refuses points outside the region or too far from a road."""
        region = self.engine.region
        if not shapely.contains_xy(region.region, x, y):
            raise EditError("that point is outside the region's boundaries; place stations inside the region.")
        for name in sorted({r.travel_profile for r in self.profile().rules if r.spatial}):
            try:
                self.engine.snap_point(name, x, y, self.engine.scn.facility_max_access_m)
            except cov.FarFromRoad as far:
                raise EditError(f"that point is {far.access_m[0]:,.0f} m from the nearest road the {name} profile "
                                f"can use (more than the scenario's facility_max_access_m, "
                                f"{self.engine.scn.facility_max_access_m:,.0f} m); place it nearer a road.") from None
        return int(assign_units(region.units, np.array([x]), np.array([y]))[0])

    def add_station(self, x: float, y: float, ftype: str, name: str = "", ambulances: float = 1.0) -> str:
        """Open a new station of type ``ftype`` at (x, y) in the region's CRS; returns its id."""
        unit = self.check_place(x, y)
        n_added = int(self.fac["added"].sum())
        ids = set(self.fac["facility_id"].astype(str))
        k = n_added + 1
        while f"NEW{k:02d}" in ids:
            k += 1
        fid = f"NEW{k:02d}"
        row = {c: np.nan for c in self.fac.columns if c != "geometry"}
        row.update(facility_id=fid, name=name or f"新站 new station {k}", name_en=f"new station {k}", type=ftype,
                   ambulances=float(ambulances), turnout_min=np.nan, in_region=True, added=True,
                   **{c: 0.0 for c in RESOURCE_COLUMNS if c in self.fac.columns})
        new = gpd.GeoDataFrame([row], geometry=[shapely.Point(x, y)], crs=self.fac.crs)
        self.fac = pd.concat([self.fac, new], ignore_index=True)
        for c in ("ambulances", "turnout_min", *RESOURCE_COLUMNS):
            if c in self.fac:
                self.fac[c] = self.fac[c].astype(float)
        s = len(self.fac) - 1
        self.x = np.append(self.x, x)
        self.y = np.append(self.y, y)
        self.open = np.append(self.open, False)
        self.deleted = np.append(self.deleted, True)
        self.version = np.append(self.version, 1)
        self.fac_unit = np.append(self.fac_unit, unit)
        self.open[s] = True
        self._alive = None
        self.alive()          # the new row, not serving yet: the undoable step opens it
        self._do(f"add {fid}", [("_set_deleted", (s, True), (s, False))])
        return fid

    def move_station(self, fid: str, x: float, y: float) -> None:
        """Move a station to (x, y) in the region's CRS."""
        s = self.index_of(fid)
        unit = self.check_place(x, y)
        before = (s, float(self.x[s]), float(self.y[s]), int(self.version[s]), int(self.fac_unit[s]))
        after = (s, float(x), float(y), int(self.version.max()) + 1, unit)
        self._do(f"move {fid}", [("_set_position", before, after)])

    def set_station_open(self, fid: str, value: bool) -> None:
        """Close (False) or reopen (True) a station."""
        s = self.index_of(fid)
        if bool(self.open[s]) == bool(value):
            return
        self._do(f"{'reopen' if value else 'close'} {fid}", [("_set_open", (s, not value), (s, bool(value)))])

    def set_threshold(self, rule_id: str, zone: str, value: float) -> None:
        """Set a spatial rule's urban or rural threshold (km or minutes) within the slider's range."""
        rule = self.rule(rule_id)
        rng = self.engine.threshold_range(rule)
        if rng is None:
            raise EditError(f"rule '{rule_id}' has no distance or time threshold to set.")
        if zone not in ("urban", "rural") or getattr(rule, zone) is None:
            raise EditError(f"rule '{rule_id}' sets no {zone} threshold; use "
                            f"{' or '.join(z for z in ('urban', 'rural') if getattr(rule, z) is not None)}.")
        if not (math.isfinite(value) and rng[0] - 1e-9 <= value <= rng[1] + 1e-9):
            raise EditError(f"the {zone} threshold of '{rule_id}' must be between {rng[0]:g} and {rng[1]:g} "
                            f"{threshold_unit(rule)}, got {value!r}.")
        key = f"{zone}_{threshold_unit(rule)}"
        before = self.overrides.get(rule_id, {}).get(key)
        self._do(f"{rule_id} {zone} = {value:g}", [("_set_override", (rule_id, key, before),
                                                     (rule_id, key, float(value)))])

    def set_rule(self, rule_id: str, on: bool) -> None:
        """Switch a rule on or off."""
        self.rule(rule_id)
        before = tuple(self.rules_on)
        after = [r for r in self.engine.rule_ids if (r in self.rules_on or (on and r == rule_id))
                 and not (not on and r == rule_id)]
        if not after:
            raise EditError("at least one rule must stay on.")
        self._do(f"{'on' if on else 'off'} {rule_id}", [("_set_rules", (before,), (tuple(after),))])

    def set_speed(self, factor: float) -> None:
        """Multiply every vehicle road speed by ``factor`` (slider 0.5–1.5)."""
        if not (math.isfinite(factor) and SPEED_RANGE[0] <= factor <= SPEED_RANGE[1]):
            raise EditError(f"the speed factor must be between {SPEED_RANGE[0]} and {SPEED_RANGE[1]}, got {factor!r}.")
        self._do(f"speed × {factor:g}", [("_set_factor", (self.factor,), (float(factor),))])

    def rule(self, rule_id: str) -> Rule:
        for r in self.engine.load_profile(self.overrides, None).rules:
            if r.id == rule_id:
                return r
        raise EditError(f"unknown rule '{rule_id}'; rules are {', '.join(self.engine.rule_ids)}.")

    # -- measures and tables -------------------------------------------------------------------
    def _straight_for(self, types: tuple[str, ...]) -> np.ndarray:
        """Straight-line metres from each cell to the nearest serving station of ``types``.

        Kept for the last few station sets (8 bytes a cell each). A new set that differs from the
        last one by a few stations is derived from it: an added station lowers the cells it is
        nearer to, and only the cells whose distance was that of a removed station are searched again
        (the same sum of squares and square root as the KD-tree, so the values are the same).
        """
        members = self._members(types)
        key = (types, tuple(members), self.x[members].tobytes(), self.y[members].tobytes())
        if key in self._straight:
            self._straight.move_to_end(key)
            return self._straight[key]
        ex, ey = self.engine.x, self.engine.y
        pts = set(zip(self.x[members].tolist(), self.y[members].tolist()))
        last = self._straight_last.get(types)
        if len(members) == 0:
            value = np.full(self.engine.n, np.inf)
        elif last is not None and len(pts ^ last[0]) <= 4:
            old_pts, old = last
            value = old.copy()
            stale = np.zeros(self.engine.n, dtype=bool)
            for a, b in old_pts - pts:
                stale |= old == _distance(ex, ey, a, b)
            for a, b in pts - old_pts:
                np.minimum(value, _distance(ex, ey, a, b), out=value)
            redo = np.flatnonzero(stale)
            if len(redo):
                value[redo] = straight_nearest(self.x[members], self.y[members], ex[redo], ey[redo])[0]
        else:
            value = straight_nearest(self.x[members], self.y[members], ex, ey)[0]
        value.flags.writeable = False
        self._straight[key] = value
        self._straight_last[types] = (pts, value)
        while len(self._straight) > 4:
            self._straight.popitem(last=False)
        return value

    def _network_value(self, combo: Combo, types: tuple[str, ...]) -> np.ndarray:
        grp = self.group(combo, types)
        if len(self._members(types)) == 0:
            return np.full(self.engine.n, np.inf)
        reach = self.engine.reachable(combo)
        return np.where(grp.best_s >= 0, grp.best_v, np.where(reach, BEYOND, np.inf))

    def measures(self, rule: Rule) -> dict[str, np.ndarray]:
        """The rule's per-cell measures: value judged, and for radius rules both distances."""
        types = tuple(rule.facility_types)
        net = self._network_value(rule_combo(rule), types)
        if rule.kind != "radius":
            return {"value": net}
        straight = self._straight_for(types)
        return {"value": straight if rule.measure == "straight_line" else net, "straight_m": straight,
                "network_m": net}

    def judge(self, rule: Rule) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """(passed, reason, applies, measures) of a spatial rule for every cell."""
        model = self.engine.model(rule.travel_profile, 1.0)
        meas = self.measures(rule)
        limit = self.engine.limit(rule)
        passed, code = cov.judge_codes(meas["value"], limit, model.cell_snap.access_m, model.cut_off,
                                   self.profile().max_access_m)
        return passed, pd.Categorical.from_codes(code, categories=REASONS), np.isfinite(limit), meas

    def _rule_key(self, rule: Rule) -> tuple:
        """What a rule's rows depend on besides the cells: the rule, speeds and its stations' places."""
        types = set(rule.facility_types) | set(rule.of_facility_types) | set(rule.except_with_types)
        members = self._members(tuple(sorted(types))) if types else self.live()
        cols = self._columns()
        # bytes, not floats: a NaN (no turnout given) is unequal to itself and would never match
        rows = (self.x[members].tobytes(), self.y[members].tobytes(), self.fac_unit[members].tobytes(),
                tuple(cols["type"][members]), *(np.asarray(cols[c][members], float).tobytes()
                                                for c in ("ambulances", "turnout_min")))
        factor = self.factor if rule.spatial and rule_combo(rule).weight == "time" else 1.0
        return (rule, factor, rows)    # the same for every session in that state: shared

    def _rule_rows(self, rule: Rule, fac: gpd.GeoDataFrame, fac_unit: np.ndarray) -> pd.DataFrame:
        """The rule's summary rows (spatial, counts or villages), as the pipeline tags them."""
        region = self.engine.region
        if rule.spatial:
            passed, reason, applies, meas = self.judge(rule)
            extra = None
            if rule.kind == "radius":
                limit = self.engine.limit(rule)
                extra = {"straight_line": meas["straight_m"] <= limit, "network_distance": meas["network_m"] <= limit}
            return tag_rule_rows(cov.summarise_spatial(rule, self.engine.cells, passed, reason, applies, extra,
                                                       meas["value"] if rule.kind == "mean_time" else None,
                                                       groups=self.engine.cell_groups), rule)
        if rule.kind == "per_village":
            return tag_rule_rows(cov.summarise_villages(rule, region.villages, fac, region.region), rule)
        return tag_rule_rows(cov.summarise_counts(rule, region.units, region.unit_pop, fac, fac_unit), rule)

    def summary(self) -> pd.DataFrame:
        """The rules table, as ``coverage-planner run`` writes it to summary.csv.

        Each rule's rows are kept until the rule, the speeds or one of its stations change.
        """
        rules = list(self.profile().rules)
        fac, fac_unit = None, None
        frames: dict[str, pd.DataFrame] = {}
        for rule in rules:
            if rule.kind == "any_of":
                continue
            key = self._rule_key(rule)
            rows = self.engine.frame(key)
            if rows is None:
                if fac is None and not rule.spatial:
                    fac, fac_unit = self.open_facilities(), self.fac_unit[self.live()]
                rows = self.engine.frame(key, self._rule_rows(rule, fac, fac_unit))
            frames[rule.id] = rows
        for rule in rules:
            if rule.kind == "any_of":
                frames[rule.id] = tag_rule_rows(cov.combine_any(rule, {p: frames[p].copy() for p in rule.parts}), rule)
        rows = [frames[r.id] for r in rules]
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    def cell_states(self, rule_id: str) -> np.ndarray:
        """Per cell, the state code (:data:`STATE_CODES`) for a spatial rule."""
        rule = next((r for r in self.profile().rules if r.id == rule_id and r.spatial), None)
        if rule is None:
            raise EditError(f"'{rule_id}' is not a distance or time rule switched on.")
        key = self._rule_key(rule)
        out = self.engine.states(key)
        if out is None:
            passed, reason, applies, _ = self.judge(rule)
            out = self.engine.states(key, state_codes(passed, reason, applies))
        return out

    def criticality(self, rule_id: str) -> pd.DataFrame:
        """People who lose coverage of a rule if each open station of its types closes (alone)."""
        rule = next((r for r in self.profile().rules if r.id == rule_id and r.spatial), None)
        if rule is None:
            raise EditError(f"'{rule_id}' is not a distance or time rule switched on.")
        types = tuple(rule.facility_types)
        members = self._members(types)
        limit = self.engine.limit(rule)
        ok = np.isfinite(limit)
        if rule.kind == "radius" and rule.measure == "straight_line":
            lose = np.zeros(len(members))
            for k, s in enumerate(members):   # one KD-tree per station: stations, not cells
                rest = members[members != s]
                d = straight_nearest(self.x[rest], self.y[rest], self.engine.x, self.engine.y)[0] if len(rest) \
                    else np.full(self.engine.n, np.inf)
                now = self._straight_for(types)
                lose[k] = self.engine.pop[ok & (now <= limit) & ~(d <= limit)].sum()
        else:
            grp = self.group(rule_combo(rule), types, seconds=True)
            drop = ok & (grp.best_v <= limit) & ~(grp.second_v <= limit) & (grp.best_s >= 0)
            lose_all = np.bincount(grp.best_s[drop], weights=self.engine.pop[drop], minlength=len(self.fac))
            lose = lose_all[members]
        return pd.DataFrame({"facility_id": self.fac["facility_id"].to_numpy()[members],
                             "name": self.fac["name"].astype(str).to_numpy()[members],
                             "people_losing_coverage": lose}).sort_values(
            ["people_losing_coverage", "facility_id"], ascending=[False, True], ignore_index=True)

    # -- files ---------------------------------------------------------------------------------
    def scenario_dict(self, facilities_file: str = "facilities.gpkg") -> dict:
        """The current state as a scenario table (for tomli_w), with absolute paths to the data."""
        scn = self.engine.scn
        raw = copy.deepcopy(scn.raw)
        base = scn.path.parent

        def absolute(value: str) -> str:
            return str((base / value).resolve())

        for section in ("boundaries", "population", "roads", "villages"):
            if isinstance(raw.get(section), dict) and raw[section].get("path"):
                raw[section]["path"] = absolute(raw[section]["path"])
        pop = raw.get("population", {})
        for key in ("census_path", "census_scale_path"):
            if pop.get(key):
                pop[key] = absolute(pop[key])
        raw["facilities"] = {"path": facilities_file, "columns": {"id": "facility_id", "type": "type",
                                                                  "name": "name"}}
        raw.setdefault("scenario", {})["crs"] = str(self.engine.region.crs)
        std = raw.setdefault("standards", {})
        if (base / self.engine.profile_name).exists():
            std["profile"] = absolute(self.engine.profile_name)
        if self.overrides:
            std["overrides"] = copy.deepcopy(self.overrides)
        else:
            std.pop("overrides", None)
        if self.engine.base_rules_only is not None or set(self.rules_on) != set(self.engine.rule_ids):
            std["rules"] = list(self.rules_on)
        travel = raw.setdefault("travel", {})
        overrides = self.travel_overrides()
        if overrides:
            travel["profiles"] = overrides
        else:
            travel.pop("profiles", None)
        out = raw.setdefault("outputs", {})
        out["dir"] = "run"
        out["cache_dir"] = str(scn.cache_dir.resolve())
        return raw

    def save(self, folder: Path) -> Path:
        """Write scenario.toml, facilities.gpkg and summary.csv into ``folder``; returns the TOML path."""
        import tomli_w

        from ..outputs import CSV_ENCODING, atomic_dir, write_gpkg

        fac = self.open_facilities()
        keep = [c for c in ("facility_id", "name", "name_en", "type", "ambulances", "turnout_min",
                            *RESOURCE_COLUMNS) if c in fac.columns]
        layer = gpd.GeoDataFrame(fac[keep], geometry=fac.geometry, crs=self.engine.region.crs)
        summary = self.summary()
        with atomic_dir(folder) as tmp:
            write_gpkg(layer, tmp / "facilities.gpkg", "facilities")
            (tmp / "scenario.toml").write_text(
                f"# Saved by coverage-planner serve from {self.engine.scn.path.name}; "
                "reproduce with: coverage-planner run scenario.toml\n" + tomli_w.dumps(self.scenario_dict()),
                encoding="utf-8")
            summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g", encoding=CSV_ENCODING)
        return Path(folder) / "scenario.toml"

    def full_result(self):
        """A full ``pipeline.evaluate`` of the current state (for the cells download)."""
        scn = dataclasses.replace(self.engine.scn, profile=self.profile(), travel_overrides=self.travel_overrides())
        region = dataclasses.replace(self.engine.region, facilities=self.open_facilities(),
                                     fac_unit=self.fac_unit[self.live()])
        return evaluate(scn, region, self.engine.steps)


def _distance(x: np.ndarray, y: np.ndarray, a: float, b: float) -> np.ndarray:
    """Straight-line metres from (a, b) to each point, computed as scipy's KD-tree computes them."""
    dx, dy = x - a, y - b
    return np.sqrt(dx * dx + dy * dy)


def state_codes(passed: np.ndarray, reason: pd.Categorical, applies: np.ndarray) -> np.ndarray:
    """Per cell, the state code (:data:`STATE_CODES`) from a rule's judgement (uint8).

    Every applying cell that fails has a gap reason (:func:`coverage.judge_codes`), and the reasons' codes
    are their state codes.
    """
    return np.where(applies, np.where(passed, STATE_CODES["covered"], reason.codes), STATE_CODES["n/a"]
                    ).astype(np.uint8)


def check_label(label: str) -> str:
    """A save name from the page: letters, digits, '-' and '_' only (the client never sends paths)."""
    if not isinstance(label, str) or not LABEL_RE.match(label):
        raise EditError("a save name may hold only letters, digits, '-' and '_' (1 to 40 characters).")
    return label


def known_types(engine: Engine) -> list[str]:
    """Facility types a station may have: those the rules look for and those in the layer."""
    from ..facility_types import roles_present

    wanted = {t for r in engine.full_profile.rules for t in r.facility_types}
    return sorted(wanted | set(roles_present(engine.region.facilities["type"])))


def check_type(engine: Engine, ftype: str) -> str:
    types = known_types(engine)
    if ftype not in types:
        raise EditError(f"unknown station type '{ftype}'; use one of {', '.join(types)}.")
    return ftype


__all__ = ["BEYOND", "Combo", "EditError", "Engine", "Group", "Session", "check_label", "check_type",
           "known_types", "rule_combo", "scaled_overrides"]
