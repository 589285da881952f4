"""Basemaps that need no internet: the scenario's own roads by class, water from its OSM file, and an
optional online tile layer (OpenStreetMap, Tianditu, Amap) for planners who have a connection.

Tile layers are off unless the scenario asks for one (``[outputs] tiles = "osm"``): the HTML files
must open on machines without internet, and a tile layer there is a grey grid.
Amap tiles are drawn in GCJ-02 (火星坐标), about 300–600 m away from WGS84 in China; the tile layer is
moved by the local GCJ-02 offset at the map's centre (recomputed per zoom level), so the WGS84 data
lie on the right streets. Tianditu uses CGCS2000, which equals WGS84 to well under a metre.
"""

from __future__ import annotations

from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import MacroElement
from jinja2 import Template

from .coords import wgs84_to_gcj02

# Road classes drawn, from the widest; each with its line colour and width in pixels.
ROAD_CLASSES = {
    "major": ({"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link"}, "#a58b6f", 2.0),
    "middle": ({"secondary", "secondary_link", "tertiary", "tertiary_link"}, "#b7b0a6", 1.3),
    "minor": (None, "#cfcac3", 0.7),
}
WATER_COLOUR = "#9cc3e0"
PAPER = "#f3f1ec"            # the map's background where no tile layer is drawn
SIMPLIFY_M = 5.0             # line simplification, metres (invisible below zoom 17)
MAX_VERTICES = 250_000       # above this the minor roads are left out of the basemap (file size)
MAX_WATER_FILE_MB = 400      # water is read from OSM files up to this size
TILES = {
    "osm": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "© OpenStreetMap contributors", "wgs84", 19),
    "tianditu": ("https://t{s}.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                 "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                 "© 天地图 Tianditu (国家地理信息公共服务平台)", "cgcs2000", 18),
    "amap": ("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
             "© 高德地图 Amap (GCJ-02, shifted to WGS84 here)", "gcj02", 18),
}
SUBDOMAINS = {"tianditu": "01234567", "amap": "1234"}


def tiles_problem(outputs: dict) -> tuple[str, str, str] | None:
    """Check ``[outputs] tiles`` and ``tianditu_key``; returns (field, problem, fix) or None.

    Parameters
    ----------
    outputs : dict
        The scenario's ``[outputs]`` table.
    """
    tiles = outputs.get("tiles", "none")
    if not isinstance(tiles, str) or tiles.lower() not in ("none", *TILES):
        return ("outputs.tiles", f"unknown tile layer {tiles!r}.",
                'use tiles = "none" (the default: offline), "osm", "tianditu" (with tianditu_key) or "amap".')
    key = outputs.get("tianditu_key")
    if tiles.lower() == "tianditu" and not (isinstance(key, str) and key.strip()):
        return ("outputs.tianditu_key", "Tianditu tiles need a key (tk), and none is given.",
                'get a browser key at console.tianditu.gov.cn and add tianditu_key = "…" under [outputs].')
    return None


def road_lines(roads, box) -> gpd.GeoDataFrame:
    """The road network as one simplified multi-line per drawn class, within ``box`` (metric CRS).

    Parameters
    ----------
    roads : RoadNetwork
        The scenario's network (``seg_geometry``, ``seg_highway``, ``crs``).
    box : tuple of float
        (minx, miny, maxx, maxy) in the network's CRS: segments outside are left out.

    Returns
    -------
    GeoDataFrame
        Columns ``road_class``, ``colour``, ``weight``, ``segments``; the minor class is left out when
        the network has more than :data:`MAX_VERTICES` vertices (then ``dropped`` says how many segments).
    """
    geoms = np.asarray(roads.seg_geometry)
    highway = np.asarray(roads.seg_highway).astype(str)
    inside = shapely.intersects(geoms, shapely.box(*box))
    geoms, highway = geoms[inside], highway[inside]
    classes = np.full(len(geoms), "minor", dtype=object)
    for name, (members, _, _) in ROAD_CLASSES.items():
        if members is not None:
            classes[np.isin(highway, list(members))] = name
    drop_minor = shapely.get_num_coordinates(geoms).sum() > MAX_VERTICES
    rows = []
    for name, (_, colour, weight) in ROAD_CLASSES.items():
        pick = classes == name
        if not pick.any() or (name == "minor" and drop_minor):
            continue
        merged = shapely.line_merge(shapely.multilinestrings(geoms[pick]))
        rows.append({"road_class": name, "colour": colour, "weight": weight, "segments": int(pick.sum()),
                     "geometry": shapely.simplify(merged, SIMPLIFY_M)})
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=roads.crs) if rows else \
        gpd.GeoDataFrame({"road_class": [], "colour": [], "weight": [], "segments": []}, geometry=[], crs=roads.crs)
    frame.attrs["dropped"] = int((classes == "minor").sum()) if drop_minor else 0
    return frame


def water_features(path: Path, box_4326: tuple[float, float, float, float]) -> gpd.GeoDataFrame:
    """Rivers, canals and streams (lines) and water areas from an OSM file, within a WGS84 box.

    Files larger than :data:`MAX_WATER_FILE_MB` and files osmium cannot read give an empty layer:
    water is context on a display map, never an input of a rule.
    """
    empty = gpd.GeoDataFrame({"kind": []}, geometry=[], crs="EPSG:4326")
    path = Path(path)
    if water_skipped(path):
        return empty
    import osmium

    rows: list[tuple[str, shapely.Geometry]] = []
    try:
        proc = osmium.FileProcessor(str(path)).with_locations().with_areas(
            osmium.filter.TagFilter(("natural", "water"), ("waterway", "riverbank"), ("landuse", "reservoir")))
        proc = proc.with_filter(osmium.filter.KeyFilter("waterway", "natural", "landuse"))
        for obj in proc:
            rows.extend(_water_row(obj))
    except (RuntimeError, ValueError, osmium.InvalidLocationError):
        return empty
    if not rows:
        return empty
    frame = gpd.GeoDataFrame({"kind": [k for k, _ in rows]}, geometry=[g for _, g in rows], crs="EPSG:4326")
    return frame[frame.intersects(shapely.box(*box_4326))].reset_index(drop=True)


def water_skipped(path: Path | None) -> str | None:
    """Why water is not read from ``path`` (not an OSM file, missing, too large), or None."""
    if path is None or Path(path).suffix.lower() not in (".osm", ".pbf", ".xml", ".bz2", ".gz"):
        return "the roads are not an OSM file"
    if not Path(path).exists():
        return "the roads file is gone"
    if Path(path).stat().st_size > MAX_WATER_FILE_MB * 1e6:
        return f"the roads file is over {MAX_WATER_FILE_MB} MB"
    return None


def _water_row(obj) -> list[tuple[str, shapely.Geometry]]:
    """A water line (a way tagged waterway=river/canal/stream) or a water area, as a shapely geometry."""
    import osmium

    tags = obj.tags
    if isinstance(obj, osmium.osm.Area):
        polys = [shapely.Polygon([(n.lon, n.lat) for n in outer],
                                 [[(n.lon, n.lat) for n in inner] for inner in obj.inner_rings(outer)])
                 for outer in obj.outer_rings()]
        return [("area", shapely.make_valid(shapely.multipolygons(polys)))] if polys else []
    if isinstance(obj, osmium.osm.Way) and tags.get("waterway") in ("river", "canal", "stream"):
        coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
        return [(tags.get("waterway"), shapely.LineString(coords))] if len(coords) > 1 else []
    return []


class _Paper(MacroElement):
    """The map's background colour where nothing is drawn (Leaflet's default is grey)."""

    _template = Template("""{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.getContainer().style.background = {{ this.colour|tojson }};
{% endmacro %}""")

    def __init__(self, colour: str):
        super().__init__()
        self.colour = colour


def add_basemap(fmap: folium.Map, roads, roads_path: Path | None, units: gpd.GeoDataFrame) -> str:
    """Draw the offline basemap (water, then roads by class) under every other layer.

    Parameters
    ----------
    fmap : folium.Map
    roads : RoadNetwork
        The scenario's road network.
    roads_path : Path or None
        The OSM file the roads came from (for water); None leaves water out.
    units : GeoDataFrame
        The scenario's units, for the extent (the units' box plus 10%).

    Returns
    -------
    str
        A legend line: what the basemap shows and what was left out.
    """
    _Paper(PAPER).add_to(fmap)
    folium.map.CustomPane("cp-basemap", z_index=250, pointer_events=False).add_to(fmap)
    minx, miny, maxx, maxy = units.to_crs(roads.crs).total_bounds
    pad = 0.1 * max(maxx - minx, maxy - miny)
    box = (minx - pad, miny - pad, maxx + pad, maxy + pad)
    layer = folium.FeatureGroup(name="底图 Basemap (道路 roads, 水系 water)", control=True)
    water = water_features(roads_path, tuple(gpd.GeoSeries([shapely.box(*box)], crs=roads.crs)
                                             .to_crs("EPSG:4326").total_bounds)) if roads_path else None
    if water is not None and len(water):
        folium.GeoJson(_rounded(water), pane="cp-basemap", interactive=False, class_name="cp-basemap",
                       style_function=lambda f: {
                           "color": WATER_COLOUR, "weight": 3 if f["properties"]["kind"] == "river" else 1.5,
                           "fillColor": WATER_COLOUR, "fillOpacity": 0.8}).add_to(layer)
    lines = road_lines(roads, box)
    if len(lines):
        folium.GeoJson(_rounded(lines.drop(columns="segments")), pane="cp-basemap", interactive=False,
                       class_name="cp-basemap",
                       style_function=lambda f: {"color": f["properties"]["colour"],
                                                 "weight": f["properties"]["weight"], "opacity": 1}).add_to(layer)
    layer.add_to(fmap)
    note = "底图: 本情景道路与水系（离线） basemap: the scenario's roads and water (offline)"
    if water_skipped(roads_path):
        note += f"; 水系未绘制 water not drawn: {water_skipped(roads_path)}"
    if lines.attrs.get("dropped"):
        note += f"; {lines.attrs['dropped']:,} minor road segments not drawn 次要道路未绘制"
    return note


def _rounded(frame: gpd.GeoDataFrame) -> dict:
    """GeoJSON in WGS84 with 5 decimals (about 1 m), for a light page."""
    import json
    import re

    text = frame.to_crs("EPSG:4326").to_json(drop_id=True, ensure_ascii=False)
    return json.loads(re.sub(r"(-?\d+\.\d{5})\d+", r"\1", text))


class _GcjShift(MacroElement):
    """Move a GCJ-02 tile layer so that it lines up with WGS84 data: at every zoom, by the pixel offset
    between the map centre and its GCJ-02 position (the offset changes by metres across a district)."""

    _template = Template("""{% macro script(this, kwargs) %}
(function () {
  var map = {{ this._parent.get_name() }}, layer = {{ this.layer.get_name() }};
  var wgs = L.latLng({{ this.wgs|tojson }}), gcj = L.latLng({{ this.gcj|tojson }});
  function shift() {
    var el = layer.getContainer(); if (!el) { return; }
    var z = map.getZoom(), d = map.project(wgs, z).subtract(map.project(gcj, z));
    el.style.marginLeft = d.x + 'px'; el.style.marginTop = d.y + 'px';
  }
  map.on('zoomend', shift); layer.on('add load', shift); shift();
})();
{% endmacro %}""")

    def __init__(self, layer: folium.TileLayer, centre: tuple[float, float]):
        super().__init__()
        self.layer = layer
        lon, lat = centre
        glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
        self.wgs, self.gcj = [lat, lon], [float(glat[0]), float(glon[0])]


def add_tiles(fmap: folium.Map, outputs: dict, centre: tuple[float, float]) -> str | None:
    """The online tile layer the scenario asks for (``[outputs] tiles``), shown under the basemap.

    Returns a legend line naming it, or None when no tile layer is asked for (the default).
    """
    name = str(outputs.get("tiles", "none")).lower()
    if name == "none":
        return None
    url, credit, system, max_zoom = TILES[name]
    url = url.replace("{key}", str(outputs.get("tianditu_key", "")))
    layer = folium.TileLayer(url, attr=credit, name=f"在线底图 Online tiles ({name}, needs internet)",
                             max_zoom=max_zoom, subdomains=SUBDOMAINS.get(name, "abc"), overlay=True)
    layer.add_to(fmap)
    if system == "gcj02":
        _GcjShift(layer, centre).add_to(fmap)
    return f"在线底图 online tiles: {credit}"
