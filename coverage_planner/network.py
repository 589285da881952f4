"""Road network as arrays: segments between nodes, travel speeds per profile, and CSR graphs.

A *segment* is one physical piece of road between two nodes, stored once, with flags for the
directions in which it may be driven. All path searches run on scipy CSR matrices built from these
arrays; networkx is only used by the OSM XML reader (osmnx) at load time.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

# Speeds in km/h per OSM highway class. `ambulance` is a blue-light vehicle on Chinese roads,
# `car` an ordinary private car in free flow. Classes not listed (footway, path, cycleway, steps,
# pedestrian, construction, ...) are not driveable and are dropped from the network.
TRAVEL_PROFILES: dict[str, dict] = {
    "ambulance": {
        "speeds_kmh": {
            "motorway": 90, "motorway_link": 50, "trunk": 70, "trunk_link": 45,
            "primary": 55, "primary_link": 40, "secondary": 45, "secondary_link": 35,
            "tertiary": 40, "tertiary_link": 30, "unclassified": 35, "residential": 25,
            "living_street": 15, "service": 20, "road": 30, "track": 15,
        },
        "maxspeed_factor": 1.0,   # blue-light driving reaches the posted limit
        "max_kmh": 100.0,
        "access_kmh": 5.0,        # off-road leg from the road to a cell or a facility, on foot
        "ferry_kmh": 10.0,
    },
    "car": {
        "speeds_kmh": {
            "motorway": 90, "motorway_link": 45, "trunk": 60, "trunk_link": 40,
            "primary": 45, "primary_link": 35, "secondary": 40, "secondary_link": 30,
            "tertiary": 35, "tertiary_link": 25, "unclassified": 30, "residential": 20,
            "living_street": 10, "service": 15, "road": 25, "track": 10,
        },
        "maxspeed_factor": 0.85,  # private cars average below the posted limit
        "max_kmh": 110.0,
        "access_kmh": 5.0,
        "ferry_kmh": 10.0,
    },
    # On foot at 5 km/h on footways, paths, pedestrian ways and streets; no motorways or trunk roads;
    # one-way rules do not apply to pedestrians (for the urban 15-minute circle of primary care).
    "walk": {
        "speeds_kmh": {
            "footway": 5, "path": 5, "pedestrian": 5, "steps": 5, "living_street": 5, "residential": 5,
            "service": 5, "unclassified": 5, "tertiary": 5, "tertiary_link": 5, "secondary": 5,
            "secondary_link": 5, "primary": 5, "primary_link": 5, "road": 5, "track": 5, "cycleway": 5,
        },
        "maxspeed_factor": 1.0,
        "max_kmh": 5.0,           # posted limits are for vehicles: everything is walked at 5 km/h
        "access_kmh": 5.0,
        "ferry_kmh": 10.0,
        "oneway": 0,              # 0: one-way streets are walked both ways
    },
}

# highway values the road readers keep (every highway=* way) that no profile drives by default; a
# scenario may give them a speed under [travel.profiles.<name>] speeds_kmh.
OTHER_HIGHWAY_CLASSES = ("bridleway", "bus_guideway", "busway", "construction", "corridor", "escape", "raceway")
# The road classes a speeds_kmh table may name (ferries have their own setting, ferry_kmh).
ROAD_CLASSES: tuple[str, ...] = tuple(sorted({c for p in TRAVEL_PROFILES.values() for c in p["speeds_kmh"]}
                                             | set(OTHER_HIGHWAY_CLASSES)))

# Implicit national limits written as "CC:zone" in OSM maxspeed (km/h). China sets no national
# urban/rural default in OSM, so CN:* values fall back to the class speed (NaN here).
_IMPLICIT_MAXSPEED = {
    "urban": 50.0, "rural": 80.0, "motorway": 120.0, "trunk": 100.0, "living_street": 20.0,
    "walk": 7.0,
}


def parse_maxspeed(value: object) -> float:
    """OSM ``maxspeed`` as km/h; NaN when missing or not understood.

    Handles numbers, "50 mph", "80 km/h", "DE:urban"-style implicit values, lists ("50;60" or
    python lists from osmnx: the lowest is taken, the safe choice) and "none"/"signals" (NaN).
    """
    if value is None:
        return float("nan")
    if isinstance(value, (list, tuple, np.ndarray)):
        speeds = [parse_maxspeed(v) for v in value]
        speeds = [s for s in speeds if not np.isnan(s)]
        return min(speeds) if speeds else float("nan")
    if isinstance(value, (int, float, np.integer, np.floating)):
        v = float(value)
        return v if v > 0 else float("nan")
    text = str(value).strip().lower()
    if not text:
        return float("nan")
    if ";" in text or "|" in text:
        return parse_maxspeed(re.split(r"[;|]", text))
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(mph|km/h|kmh|kph)?", text)
    if match:
        v = float(match.group(1))
        if match.group(2) == "mph":
            v *= 1.609344
        return v if v > 0 else float("nan")
    if ":" in text:
        country, zone = text.split(":", 1)
        if country == "cn":
            return float("nan")
        return _IMPLICIT_MAXSPEED.get(zone, float("nan"))
    return _IMPLICIT_MAXSPEED.get(text, float("nan"))


def travel_profile(name: str, overrides: dict | None = None) -> dict:
    """A named travel profile, with scenario overrides (speeds_kmh merged per class)."""
    if name not in TRAVEL_PROFILES:
        raise KeyError(name)
    prof = {**TRAVEL_PROFILES[name], "speeds_kmh": dict(TRAVEL_PROFILES[name]["speeds_kmh"])}
    for key, value in (overrides or {}).items():
        if key == "speeds_kmh":
            prof["speeds_kmh"].update({k: float(v) for k, v in value.items()})
        else:
            prof[key] = value
    return prof


@dataclass
class RoadNetwork:
    """Road segments in a projected metric CRS.

    Segment i runs from node ``seg_a[i]`` to ``seg_b[i]``; ``seg_fwd``/``seg_bwd`` say whether a→b and
    b→a may be driven. ``seg_geometry`` is oriented a→b. ``seg_speed_kmh`` is filled by
    :func:`with_speeds`; ``seg_ferry`` marks ferry crossings (speed from the profile's ferry_kmh).
    ``seg_way`` is the OSM way id of each segment (-1 where the source gives none); ``seg_name`` its
    OSM ``name`` ("" where the way has none).

    ``snap_cache`` holds the snapping indexes built for this network (:func:`travel.snap_index`, a
    few per network, least recently used first); it is not part of the network's value: equality,
    ``repr``, :func:`dataclasses.replace` and pickling leave it out. The arrays are treated as
    read-only once points have been snapped to them.
    """

    crs: str
    node_x: np.ndarray
    node_y: np.ndarray
    seg_a: np.ndarray
    seg_b: np.ndarray
    seg_length: np.ndarray
    seg_highway: np.ndarray
    seg_maxspeed: np.ndarray
    seg_fwd: np.ndarray
    seg_bwd: np.ndarray
    seg_geometry: np.ndarray
    seg_ferry: np.ndarray = field(default=None)  # type: ignore[assignment]
    seg_way: np.ndarray = field(default=None)  # type: ignore[assignment]
    seg_name: np.ndarray = field(default=None)  # type: ignore[assignment]
    seg_speed_kmh: np.ndarray | None = None
    source: str = ""
    snap_cache: OrderedDict = field(default_factory=OrderedDict, init=False, repr=False, compare=False)

    def __getstate__(self) -> dict:
        """Pickled without the snapping indexes (rebuilt where needed, not shipped to workers)."""
        state = self.__dict__.copy()
        state["snap_cache"] = OrderedDict()
        return state

    def __setstate__(self, state: dict) -> None:
        """Unpickled with an empty cache (also for networks pickled before the cache existed)."""
        self.__dict__.update(state)
        self.snap_cache = OrderedDict()

    def __post_init__(self) -> None:
        if self.seg_ferry is None:
            self.seg_ferry = np.zeros(len(self.seg_a), dtype=bool)
        if self.seg_way is None:
            self.seg_way = np.full(len(self.seg_a), -1, dtype=np.int64)
        if self.seg_name is None:
            self.seg_name = np.full(len(self.seg_a), "", dtype=object)

    @property
    def n_nodes(self) -> int:
        return len(self.node_x)

    @property
    def n_segments(self) -> int:
        return len(self.seg_a)

    def subset(self, keep: np.ndarray) -> "RoadNetwork":
        """Only the segments where ``keep`` is true (nodes are kept as they are)."""
        fields = {k: getattr(self, k)[keep] for k in (
            "seg_a", "seg_b", "seg_length", "seg_highway", "seg_maxspeed", "seg_fwd", "seg_bwd",
            "seg_geometry", "seg_ferry", "seg_way", "seg_name")}
        if self.seg_speed_kmh is not None:
            fields["seg_speed_kmh"] = self.seg_speed_kmh[keep]
        return replace(self, **fields)


def segments_from_directed_edges(
    u: np.ndarray, v: np.ndarray, length: np.ndarray, geometry: np.ndarray, **attrs: np.ndarray
) -> dict[str, np.ndarray]:
    """Merge directed edges (as osmnx/pyrosm give them) into segments with direction flags.

    Edges u→v and v→u with the same length (to 0.1 m) are one two-way segment. Returns the segment
    arrays, each attribute taken from the first edge of the pair, geometry oriented a→b.
    """
    u = np.asarray(u, dtype=np.int64)
    v = np.asarray(v, dtype=np.int64)
    lo, hi = np.minimum(u, v), np.maximum(u, v)
    frame = pd.DataFrame({"lo": lo, "hi": hi, "len": np.round(np.asarray(length, float), 1),
                          "forward": u == lo})
    group = frame.groupby(["lo", "hi", "len"], sort=True).ngroup().to_numpy()
    order = np.argsort(group, kind="stable")
    first = order[np.r_[True, group[order][1:] != group[order][:-1]]]
    n = group.max() + 1 if len(group) else 0
    fwd = np.zeros(n, dtype=bool)
    bwd = np.zeros(n, dtype=bool)
    np.logical_or.at(fwd, group, frame["forward"].to_numpy())
    np.logical_or.at(bwd, group, ~frame["forward"].to_numpy())
    geoms = np.asarray(geometry, dtype=object)[first]
    flip = ~frame["forward"].to_numpy()[first]
    if flip.any():
        import shapely
        geoms = geoms.copy()
        geoms[flip] = shapely.reverse(geoms[flip])
    out = {"seg_a": lo[first], "seg_b": hi[first], "seg_length": np.asarray(length, float)[first],
           "seg_geometry": geoms, "seg_fwd": fwd, "seg_bwd": bwd}
    for name, values in attrs.items():
        out[name] = np.asarray(values)[first]
    return out


def with_speeds(net: RoadNetwork, profile: dict) -> RoadNetwork:
    """Speeds per segment for a travel profile; segments of non-driveable classes are dropped.

    ``maxspeed`` is honoured where present (times the profile's maxspeed_factor), the class speed
    is used otherwise, and everything is capped at the profile's max_kmh.

    A class speed of 0 (``speeds_kmh = { track = 0 }``) or ``ferry_kmh = 0`` drops those segments
    whatever their ``maxspeed`` tag: the ways are then absent for this profile, for routing, for the
    routable core and for the roads a point may join, exactly as if they were not in the file.
    """
    table = profile["speeds_kmh"]
    class_speed = np.array([table.get(str(h), np.nan) for h in net.seg_highway], dtype=float)
    class_speed[net.seg_ferry] = profile.get("ferry_kmh", 10.0)
    posted = net.seg_maxspeed * float(profile.get("maxspeed_factor", 1.0))
    # a posted limit sets the speed of a class the profile drives, never brings back one it leaves out (0)
    use_posted = np.isfinite(posted) & np.isfinite(class_speed) & (class_speed > 0) & ~net.seg_ferry
    speed = np.where(use_posted, posted, class_speed)
    speed = np.minimum(speed, float(profile.get("max_kmh", np.inf)))
    keep = np.isfinite(speed) & (speed > 0)
    out = net.subset(keep)
    out.seg_speed_kmh = speed[keep]
    if not profile.get("oneway", 1):   # pedestrians: every segment both ways
        out.seg_fwd = np.ones(out.n_segments, dtype=bool)
        out.seg_bwd = np.ones(out.n_segments, dtype=bool)
    return out


def largest_component(net: RoadNetwork, strong: bool = False, counted: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of segments in the largest connected part of the network.

    ``strong=False``: weakly connected (ignoring one-way rules) — what is physically linked.
    ``strong=True``: strongly connected — every node can reach every other one, respecting one-way
    streets; one-way stubs that leave an extract and never come back are outside it.
    ``counted``: a segment mask; the part with the most of these segments wins (e.g. the roads a
    point may join, so that a ring of motorways or ferries is never the "largest" part). All False
    when no part holds one.
    """
    if net.n_segments == 0:
        return np.zeros(0, dtype=bool)
    if strong:
        tail = np.concatenate([net.seg_a[net.seg_fwd], net.seg_b[net.seg_bwd]])
        head = np.concatenate([net.seg_b[net.seg_fwd], net.seg_a[net.seg_bwd]])
    else:
        tail, head = net.seg_a, net.seg_b
    adj = sp.coo_matrix((np.ones(len(tail)), (tail, head)), shape=(net.n_nodes, net.n_nodes)).tocsr()
    _, labels = connected_components(adj, directed=True, connection="strong" if strong else "weak")
    if counted is not None:
        inner = (labels[net.seg_a] == labels[net.seg_b]) & counted
        if not inner.any():
            return np.zeros(net.n_segments, dtype=bool)
        biggest = np.argmax(np.bincount(labels[net.seg_a[inner]]))
    else:
        used = np.concatenate([net.seg_a, net.seg_b])
        biggest = np.argmax(np.bincount(labels[used]))
    return (labels[net.seg_a] == biggest) & (labels[net.seg_b] == biggest)


@dataclass
class Graph:
    """A directed graph in CSR form for one cost (seconds or metres) per segment.

    ``cost_fwd``/``cost_bwd`` are per-segment costs of driving a→b and b→a (inf where not allowed).
    ``reverse=True`` stores the transposed graph, for trips towards a facility.
    """

    n_nodes: int
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    cost_fwd: np.ndarray
    cost_bwd: np.ndarray
    reverse: bool = False

    def matrix(self, extra_rows: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
               n_extra: int = 0) -> sp.csr_matrix:
        """The CSR matrix, with ``n_extra`` virtual source nodes appended as rows (row, col, cost)."""
        if extra_rows is None:
            return sp.csr_matrix((self.data, self.indices, self.indptr), shape=(self.n_nodes,) * 2)
        rows, cols, costs = extra_rows
        order = np.lexsort((cols, rows))
        counts = np.bincount(rows, minlength=n_extra)
        indptr = np.concatenate([self.indptr, self.indptr[-1] + np.cumsum(counts)])
        indices = np.concatenate([self.indices, cols[order]]).astype(np.int32, copy=False)
        data = np.concatenate([self.data, costs[order]])
        n = self.n_nodes + n_extra
        return sp.csr_matrix((data, indices, indptr), shape=(n, n))


def build_graph(net: RoadNetwork, seg_cost: np.ndarray, reverse: bool = False) -> Graph:
    """CSR graph of the segments with the given per-segment cost (parallel arcs keep the cheapest)."""
    cost_fwd = np.where(net.seg_fwd, seg_cost, np.inf)
    cost_bwd = np.where(net.seg_bwd, seg_cost, np.inf)
    tail = np.concatenate([net.seg_a[net.seg_fwd], net.seg_b[net.seg_bwd]])
    head = np.concatenate([net.seg_b[net.seg_fwd], net.seg_a[net.seg_bwd]])
    cost = np.concatenate([seg_cost[net.seg_fwd], seg_cost[net.seg_bwd]]).astype(float)
    if reverse:
        tail, head = head, tail
    order = np.lexsort((cost, head, tail))
    tail, head, cost = tail[order], head[order], cost[order]
    keep = np.r_[True, (tail[1:] != tail[:-1]) | (head[1:] != head[:-1])]
    tail, head, cost = tail[keep], head[keep], cost[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(tail, minlength=net.n_nodes))])
    return Graph(net.n_nodes, indptr.astype(np.int64), head.astype(np.int32), cost,
                 cost_fwd, cost_bwd, reverse)


def seconds_per_segment(net: RoadNetwork) -> np.ndarray:
    """Traversal time in seconds of each segment at its profile speed."""
    if net.seg_speed_kmh is None:
        raise ValueError("network has no speeds: call with_speeds() first")
    return net.seg_length / (net.seg_speed_kmh / 3.6)
