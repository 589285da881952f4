"""Road layer: OpenStreetMap XML (osmnx) or PBF (pyrosm) into a :class:`RoadNetwork`, with a cache.

Only ways tagged ``highway=*`` (and ``route=ferry``) become roads; railways, rivers and other ways
in the file are dropped. ``oneway=yes|true|1|-1`` and roundabouts are honoured, ``maxspeed`` is parsed
to km/h. Geometry is projected to the region's metric CRS and lengths are measured there.
The cache is a compressed ``.npz`` keyed by the file's path and content (SHA-1 of its bytes), the CRS
and the clip box (see :func:`_cache_path`). It holds the ways as read, with no speeds: travel profiles
and their scenario overrides (``speeds_kmh``, ``ferry_kmh``, ``maxspeed_factor``) are applied after
loading (:func:`network.with_speeds`), so one cached network serves every setting, and a setting that
changes which ways are read (``max_kmh``, the rules and minutes behind the clip margin) changes the box.

A national extract is clipped before the graph is built: :func:`clip_box` gives the region's
bounding box plus a margin (:func:`clip_margin_m`, the farthest any rule, isochrone or catchment of
the scenario can reach), and only the ways with a node inside it are read (whole ways, so roads
crossing the edge stay connected). A trip that stays within the margin is modelled exactly as on the
whole extract: every verdict, and every value up to the margin's reach.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .network import TRAVEL_PROFILES, RoadNetwork, parse_maxspeed, segments_from_directed_edges, travel_profile

CACHE_VERSION = "roads-v4"   # v3: way names (seg_name); v4: keyed by the file's content, not its size and mtime
CACHE_KEEP = 32              # cached networks kept per cache folder (the most recently written; older ones go)
_ONEWAY_TRUE = {"yes", "true", "1"}
_ONEWAY_REVERSE = {"-1", "reverse"}
CLIP_SAFETY = 1.5            # roads are kept up to 1.5 × the scenario's farthest reach beyond the region
MIN_CLIP_MARGIN_M = 5_000.0  # and never less than 5 km
SUBCENTRE_MINUTES = 30.0     # the sub-centre catchment's default limit (subcentres.DEFAULT_MINUTES)


def _first(value: object) -> object:
    """First element of an osmnx list attribute (merged ways), else the value itself."""
    if isinstance(value, (list, tuple)):
        return value[0] if value else None
    return value


def _cache_path(path: Path, crs: str, cache_dir: Path, clip: tuple | None = None) -> Path:
    """The cache file for the network read from ``path`` in ``crs`` within ``clip``.

    Keyed by everything the cached arrays depend on: the reader's version, the file's path (kept as
    the network's ``source``) and content, the CRS and the clip box. The content is hashed rather than
    trusted to size and modification time, which a rewrite within the file system's timestamp
    granularity, or a copy that keeps the time, leaves unchanged (about 0.25 s of CPU per 300 MB).
    """
    with open(path, "rb") as handle:
        digest = hashlib.file_digest(handle, "sha1").hexdigest()
    box = "all" if clip is None else ",".join(f"{v:.6f}" for v in clip)
    key = f"{CACHE_VERSION}|{path.resolve()}|{digest}|{crs}|{box}"
    return cache_dir / f"roads-{hashlib.sha1(key.encode()).hexdigest()[:16]}.npz"


def _save(net: RoadNetwork, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    wkb = shapely.to_wkb(net.seg_geometry)
    lengths = np.array([len(w) for w in wkb], dtype=np.int64)
    tmp = target.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez_compressed(
        tmp, crs=np.array(net.crs), source=np.array(net.source), node_x=net.node_x, node_y=net.node_y,
        seg_a=net.seg_a, seg_b=net.seg_b, seg_length=net.seg_length,
        seg_highway=net.seg_highway.astype(str), seg_maxspeed=net.seg_maxspeed, seg_fwd=net.seg_fwd,
        seg_bwd=net.seg_bwd, seg_ferry=net.seg_ferry, seg_way=net.seg_way,
        seg_name=net.seg_name.astype(str), wkb=np.frombuffer(b"".join(wkb), dtype=np.uint8), wkb_len=lengths)
    os.replace(tmp, target)
    _prune(target.parent)


def _prune(cache_dir: Path, keep: int | None = None) -> None:
    """Remove all but the ``keep`` (default :data:`CACHE_KEEP`) most recently written networks of the
    folder: every edit of a road file, clip box or CRS keys a new file (earlier cache versions too),
    and nothing else would ever remove the old ones. Files being written (``*.tmp.npz``) are left."""
    keep = CACHE_KEEP if keep is None else keep
    done = []
    for f in cache_dir.glob("roads-*.npz"):
        if ".tmp." not in f.name:
            try:
                done.append((f.stat().st_mtime_ns, f.name, f))
            except FileNotFoundError:   # another process removed it meanwhile
                pass
    done.sort(reverse=True)
    for _, _, old in done[keep:]:
        old.unlink(missing_ok=True)   # another process may have removed it already


def _load(target: Path) -> RoadNetwork:
    with np.load(target) as z:
        ends = np.cumsum(z["wkb_len"])
        blob = z["wkb"].tobytes()
        starts = ends - z["wkb_len"]
        geoms = shapely.from_wkb(np.array([blob[s:e] for s, e in zip(starts, ends)], dtype=object))
        return RoadNetwork(
            crs=str(z["crs"]), node_x=z["node_x"], node_y=z["node_y"], seg_a=z["seg_a"],
            seg_b=z["seg_b"], seg_length=z["seg_length"], seg_highway=z["seg_highway"].astype(object),
            seg_maxspeed=z["seg_maxspeed"], seg_fwd=z["seg_fwd"], seg_bwd=z["seg_bwd"],
            seg_geometry=geoms, seg_ferry=z["seg_ferry"], seg_way=z["seg_way"],
            seg_name=z["seg_name"].astype(object), source=str(z["source"]))


def load_roads(path: str | Path, crs: str, cache_dir: str | Path | None = None,
               clip: tuple[float, float, float, float] | None = None) -> RoadNetwork:
    """Read an OSM file (.osm/.xml/.osm.bz2 via osmnx, .pbf via pyrosm) as a projected RoadNetwork.

    Parameters
    ----------
    path : OSM extract (or GraphML from ``coverage-planner fetch osm``).
    crs : the region's metric CRS.
    cache_dir : folder for the ``.npz`` cache (none when not given).
    clip : (west, south, east, north) in degrees: keep only the ways with a node in this box
        (see :func:`clip_box`); None reads every way.

    Returns
    -------
    RoadNetwork
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"the road file {path} does not exist.", file=path, field="roads.path",
                         fix="check the path in the scenario (relative paths are relative to the scenario file), "
                             "or download an extract with 'coverage-planner fetch pbf'.")
    if clip is not None and _file_within(path, clip):
        clip = None          # the extract lies inside the box: clipping would drop nothing
    cache = _cache_path(path, crs, Path(cache_dir), clip) if cache_dir and path.is_file() else None
    if cache and cache.exists():
        try:
            return _load(cache)
        except (FileNotFoundError, EOFError, ValueError, KeyError, zipfile.BadZipFile):
            pass   # removed or cut short by another process meanwhile: read the file again
    name = path.name.lower()
    if not name.endswith((".pbf", ".osm", ".xml", ".osm.bz2", ".xml.bz2", ".graphml")):
        raise InputError(f"unknown road file type '{path.suffix}'.", file=path, field="roads.path",
                         fix="give an OpenStreetMap extract as .osm.pbf, .osm or .osm.bz2, or a .graphml "
                             "from 'coverage-planner fetch osm'.")
    with tempfile.TemporaryDirectory(prefix="coverage-planner-clip-") as tmp:
        source = path if clip is None or name.endswith(".graphml") else _clip_osm(path, clip, Path(tmp))
        edges, ids = _read_pbf(source) if source.name.lower().endswith(".pbf") else _read_xml(source)
    if clip is not None and name.endswith(".graphml"):
        edges = _edges_in_box(edges, ids, clip)
    net = _to_network(edges, ids, crs, str(path))
    if net.n_segments == 0:
        raise InputError("the road file contains no ways tagged highway=*.", file=path, field="highway",
                         fix="use an OpenStreetMap extract that covers the region's roads.")
    if cache:
        _save(net, cache)
    return net


def clip_margin_m(rules, travel_overrides: dict | None = None, minutes: list[float] | tuple = (),
                  safety: float = CLIP_SAFETY) -> float:
    """How far beyond the region roads are kept: ``safety`` × the farthest reach of the scenario.

    Reach is a radius rule's largest distance, or a time limit (time rules, isochrones, catchments:
    ``minutes``) driven at the top speed (max_kmh) of any travel profile. The safety factor (1.5)
    covers the siting models' loose standard (DSM, 1.5 × the rule) and keeps values exact up to
    1.5 × each limit. At least :data:`MIN_CLIP_MARGIN_M`.
    """
    top_kmh = max(float(travel_profile(name, (travel_overrides or {}).get(name)).get("max_kmh", 130.0))
                  for name in TRAVEL_PROFILES)
    reach = [float(m) * 60.0 * top_kmh / 3.6 for m in minutes]
    for rule in rules:
        if not rule.spatial:
            continue
        limits = [v for v in (rule.threshold("urban"), rule.threshold("rural")) if v is not None]
        if limits:   # metres for radius rules, seconds for time rules
            reach.append(max(limits) if rule.kind == "radius" else max(limits) * top_kmh / 3.6)
    return max(MIN_CLIP_MARGIN_M, safety * max(reach, default=0.0))


def scenario_clip(scn, region: shapely.Geometry, crs: str, points=None) -> tuple[float, float, float, float]:
    """The clip box for a scenario's roads.

    The bounding box of the region and of ``points`` (the facilities, which must find their roads
    even when they stand outside the region), grown by :func:`clip_margin_m` of the scenario's rules,
    its isochrone minutes and its sub-centre catchment minutes ([subcentres] minutes, default 30).
    """
    sub = scn.raw.get("subcentres", {}) if isinstance(scn.raw.get("subcentres", {}), dict) else {}
    minutes = [*scn.isochrone_minutes, sub.get("minutes", SUBCENTRE_MINUTES)]
    minutes = [m for m in minutes if isinstance(m, (int, float)) and not isinstance(m, bool) and m > 0]
    extent = region if points is None else shapely.union_all([region, *np.asarray(points, dtype=object)])
    return clip_box(extent, crs, clip_margin_m(scn.profile.rules, scn.travel_overrides, minutes))


def clip_box(region: shapely.Geometry, crs: str, margin_m: float) -> tuple[float, float, float, float]:
    """(west, south, east, north) in degrees of the region's bounding box grown by ``margin_m``."""
    from pyproj import Transformer

    x0, y0, x1, y1 = region.bounds
    box = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform_bounds(
        x0 - margin_m, y0 - margin_m, x1 + margin_m, y1 + margin_m, densify_pts=21)
    return tuple(round(float(v), 6) for v in box)


def _file_within(path: Path, box: tuple[float, float, float, float]) -> bool:
    """True when the OSM file's header gives its bounds and they lie inside ``box``.

    Every way of an extract has a node inside its bounds, so clipping to a larger box keeps them all.
    """
    if path.name.lower().endswith(".graphml"):
        return False
    import osmium

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        bounds = reader.header().box()
        reader.close()
    except RuntimeError:
        return False          # unreadable: the readers report it
    if not bounds.valid():
        return False
    west, south, east, north = box
    return (west <= bounds.bottom_left.lon and bounds.top_right.lon <= east
            and south <= bounds.bottom_left.lat and bounds.top_right.lat <= north)


def _clip_osm(path: Path, box: tuple[float, float, float, float], folder: Path) -> Path:
    """Copy of an OSM file with only the road and ferry ways that have a node in ``box``, and their nodes.

    One streaming pass over the file (pyosmium; node locations are cached in C++, only road ways reach
    Python); memory grows with the clipped part only. The copy is PBF for a PBF input, else OSM XML.
    """
    import osmium

    west, south, east, north = box
    ways, nodes = [], {}
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.KeyFilter("highway", "route")))
    try:
        for way in processor:
            if "highway" not in way.tags and way.tags.get("route") != "ferry":
                continue
            refs = [(n.ref, n.location) for n in way.nodes]
            if not any(loc.valid() and west <= loc.lon <= east and south <= loc.lat <= north for _, loc in refs):
                continue
            nodes.update((ref, (loc.lon, loc.lat)) for ref, loc in refs if loc.valid())
            ways.append(osmium.osm.mutable.Way(id=way.id, version=way.version, tags=dict(way.tags),
                                               nodes=[ref for ref, _ in refs]))
    except RuntimeError as exc:
        raise InputError(f"could not read the OSM file ({exc}); it may be truncated or corrupt.", file=path,
                         field="roads.path", fix="download the extract again (check its size against the "
                                                 "server's).") from None
    target = folder / ("clipped.osm.pbf" if path.name.lower().endswith(".pbf") else "clipped.osm")
    writer = osmium.SimpleWriter(str(target))
    try:
        for ref in sorted(nodes):
            writer.add_node(osmium.osm.mutable.Node(id=ref, version=1, location=nodes[ref]))
        for way in sorted(ways, key=lambda w: w.id):
            writer.add_way(way)
    finally:
        writer.close()
    return target


def _edges_in_box(edges: pd.DataFrame, coords: dict, box: tuple[float, float, float, float]) -> pd.DataFrame:
    """Edges with an end node inside ``box`` (GraphML input, already read whole)."""
    west, south, east, north = box
    inside = {i for i, (x, y) in coords.items() if west <= x <= east and south <= y <= north}
    keep = edges["u"].isin(inside) | edges["v"].isin(inside)
    return edges[keep.to_numpy()].reset_index(drop=True)


def _read_xml(path: Path):
    """Edges of an OSM XML file (node-to-node, all components kept) or a GraphML file, via osmnx."""
    import osmnx as ox

    tags = list(dict.fromkeys([*ox.settings.useful_tags_way, "route", "junction", "oneway", "maxspeed"]))
    ox.settings.useful_tags_way = tags
    try:
        if path.name.lower().endswith(".graphml"):
            graph = ox.load_graphml(path)
        else:
            graph = ox.graph_from_xml(path, simplify=False, retain_all=True)
    except Exception as exc:  # osmnx/xml raise many kinds of errors for broken files
        raise InputError(f"could not read the OSM XML file ({type(exc).__name__}: {exc}).", file=path,
                         field="roads.path", fix="check that the file is a complete OSM XML extract.") from None
    return _graph_edges(graph)


def _graph_edges(graph) -> tuple[pd.DataFrame, dict]:
    """Directed edges (u, v, way, highway, maxspeed, route, geometry) and node coordinates of an osmnx graph."""
    import osmnx as ox

    if graph.number_of_edges() == 0:
        return pd.DataFrame(columns=["u", "v", "way", "highway", "maxspeed", "oneway", "route", "geometry"]), {}
    nodes, edges = ox.graph_to_gdfs(graph, nodes=True, edges=True, fill_edge_geometry=True)
    edges = edges.reset_index()
    frame = pd.DataFrame({
        "u": edges["u"].to_numpy(), "v": edges["v"].to_numpy(),
        "way": edges["osmid"].map(_first) if "osmid" in edges else -1,
        "highway": edges["highway"].map(_first) if "highway" in edges else None,
        "name": edges["name"].map(_first) if "name" in edges else None,
        "maxspeed": edges["maxspeed"] if "maxspeed" in edges else None,
        "route": edges["route"].map(_first) if "route" in edges else None,
        "geometry": edges.geometry.to_numpy(),
        "oneway": True,  # osmnx already made one directed edge per drivable direction
    })
    coords = {int(i): (x, y) for i, x, y in zip(nodes.index, nodes["x"], nodes["y"])}
    return frame, coords


def _read_pbf(path: Path):
    """Edges of an OSM PBF file via pyrosm (node-to-node segments, one row per way piece)."""
    from pyrosm import OSM

    try:
        osm = OSM(str(path))
        nodes, edges = osm.get_network(network_type="all", nodes=True,
                                       extra_attributes=["junction", "route"])
    except Exception as exc:
        raise InputError(f"could not read the PBF file ({type(exc).__name__}: {exc}); it may be truncated "
                         "or corrupt.", file=path, field="roads.path",
                         fix="download the extract again (check its size against the server's).") from None
    if edges is None or len(edges) == 0:
        return pd.DataFrame(columns=["u", "v", "way", "highway", "maxspeed", "oneway", "route", "geometry"]), {}
    oneway = edges["oneway"].fillna("").astype(str).str.lower() if "oneway" in edges else pd.Series("", index=edges.index)
    junction = edges["junction"].fillna("").astype(str).str.lower() if "junction" in edges else ""
    one = oneway.isin(_ONEWAY_TRUE) | (junction.isin(["roundabout", "circular"]) if len(junction) else False)
    rev = oneway.isin(_ONEWAY_REVERSE)
    frame = pd.DataFrame({
        "u": edges["u"].to_numpy(), "v": edges["v"].to_numpy(), "way": edges["id"].to_numpy(),
        "highway": edges["highway"].to_numpy(),
        "name": edges["name"].to_numpy() if "name" in edges else None,
        "maxspeed": edges["maxspeed"].to_numpy() if "maxspeed" in edges else None,
        "route": edges["route"].to_numpy() if "route" in edges else None,
        "geometry": edges.geometry.to_numpy(), "oneway": (one | rev).to_numpy(),
    })
    # a reversed one-way is stored as the opposite directed edge
    flip = rev.to_numpy()
    frame.loc[flip, ["u", "v"]] = frame.loc[flip, ["v", "u"]].to_numpy()
    frame.loc[flip, "geometry"] = shapely.reverse(frame.loc[flip, "geometry"].to_numpy())
    # two-way pieces become a pair of directed edges
    both = frame[~frame["oneway"].to_numpy()].copy()
    both[["u", "v"]] = both[["v", "u"]].to_numpy()
    both["geometry"] = shapely.reverse(both["geometry"].to_numpy())
    ferries, ferry_coords = _pbf_ferries(path)
    frame = pd.concat([frame, both, ferries], ignore_index=True)
    coords = {int(i): (x, y) for i, x, y in zip(nodes["id"], nodes["lon"], nodes["lat"])}
    coords.update(ferry_coords)
    return frame, coords


def _pbf_ferries(path: Path):
    """``route=ferry`` ways of a PBF file (pyrosm's networks leave them out), both directions."""
    import osmium

    rows, coords = [], {}
    processor = (osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
                 .with_filter(osmium.filter.EntityFilter(osmium.osm.WAY))
                 .with_filter(osmium.filter.TagFilter(("route", "ferry"))))
    for way in processor:
        refs = [(n.ref, n.lon, n.lat) for n in way.nodes if n.location.valid()]
        for (u, x0, y0), (v, x1, y1) in zip(refs[:-1], refs[1:]):
            coords[u], coords[v] = (x0, y0), (x1, y1)
            line = shapely.LineString([(x0, y0), (x1, y1)])
            rows += [(u, v, way.id, line), (v, u, way.id, shapely.reverse(line))]
    frame = pd.DataFrame(rows, columns=["u", "v", "way", "geometry"])
    frame["highway"], frame["maxspeed"], frame["route"], frame["oneway"] = None, None, "ferry", True
    return frame, coords


def roads_from_graph(graph: object, crs: str, source: str = "<roads graph>") -> RoadNetwork:
    """An OSMnx graph (``networkx.MultiDiGraph``) as a projected :class:`RoadNetwork`.

    Each directed edge is one drivable direction (as osmnx builds them, so ``oneway`` is already in
    the edges); its ``highway``, ``maxspeed``, ``route`` (ferries), ``osmid`` and ``geometry``
    (straight from node to node when absent) are read as :func:`load_roads` reads an OSM XML file,
    and lengths are measured on the projected geometry as for a file (the edges' ``length`` is not
    used). The graph's own CRS (``graph.graph["crs"]``, longitude/latitude when absent) is honoured.
    The same ways give the same network, and the same travel times, as the file.

    Parameters
    ----------
    graph : networkx.MultiDiGraph
        From ``osmnx.graph_from_place``, ``graph_from_xml``, ``load_graphml``, ... (simplified or not,
        projected or not).
    crs : str
        The region's metric CRS.
    source : str
        How messages and the network name the graph.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    InputError
        When ``graph`` is not a directed networkx graph, or has no edge tagged highway=* (or a ferry).
    """
    import networkx as nx

    if not isinstance(graph, nx.DiGraph | nx.MultiDiGraph):
        raise InputError(f"roads must be an OSM file path or an OSMnx graph (networkx.MultiDiGraph), got "
                         f"{type(graph).__name__}.", file=source, field="roads",
                         fix="pass a .osm.pbf/.osm path, or a graph from osmnx (e.g. ox.graph_from_place(...)).")
    edges, coords = _graph_edges(graph)
    graph_crs = graph.graph.get("crs") or "EPSG:4326"
    net = _to_network(edges, coords, crs, source, src_crs=graph_crs)
    if net.n_segments == 0:
        raise InputError("the roads graph has no edge tagged highway=* (or route=ferry).", file=source,
                         field="roads", fix="build the graph from OpenStreetMap with osmnx, which keeps the "
                                            "highway tag on every edge.")
    return net


def _to_network(frame: pd.DataFrame, coords: dict, crs: str, source: str, src_crs: object = "EPSG:4326") -> RoadNetwork:
    """Directed road edges (in ``src_crs``, lon/lat by default) → projected RoadNetwork with segments
    and direction flags."""
    import geopandas as gpd

    highway = frame["highway"].astype(object).where(frame["highway"].notna(), None)
    is_ferry = (frame["route"].astype(str) == "ferry").to_numpy() if "route" in frame else np.zeros(len(frame), bool)
    keep = highway.notna().to_numpy() | is_ferry
    frame = frame[keep].reset_index(drop=True)
    is_ferry = is_ferry[keep]
    highway = np.where(is_ferry, "ferry", frame["highway"].astype(str).to_numpy()).astype(object)
    geom = gpd.GeoSeries(frame["geometry"].to_numpy(), crs=src_crs).to_crs(crs).to_numpy()
    osm_ids = np.unique(np.concatenate([frame["u"].to_numpy(), frame["v"].to_numpy()]).astype(np.int64))
    lonlat = np.array([coords[i] for i in osm_ids.tolist()], dtype=float).reshape(-1, 2)
    xy = gpd.GeoSeries(gpd.points_from_xy(lonlat[:, 0], lonlat[:, 1]), crs=src_crs).to_crs(crs)
    u = np.searchsorted(osm_ids, frame["u"].to_numpy().astype(np.int64))
    v = np.searchsorted(osm_ids, frame["v"].to_numpy().astype(np.int64))
    maxspeed = np.array([parse_maxspeed(m) for m in frame["maxspeed"]]) if "maxspeed" in frame \
        else np.full(len(frame), np.nan)
    way = pd.to_numeric(frame["way"], errors="coerce").fillna(-1).to_numpy(np.int64) if "way" in frame \
        else np.full(len(frame), -1, dtype=np.int64)
    name = frame["name"].astype(object).where(frame["name"].notna(), "").astype(str).to_numpy(object) \
        if "name" in frame else np.full(len(frame), "", dtype=object)
    seg = segments_from_directed_edges(u, v, shapely.length(geom), geom, seg_highway=highway,
                                       seg_maxspeed=maxspeed, seg_ferry=is_ferry, seg_way=way, seg_name=name)
    return RoadNetwork(crs=crs, node_x=xy.x.to_numpy(), node_y=xy.y.to_numpy(), source=source, **seg)
