"""The coverage-gap map (folium): facilities, isochrones, uncovered population, boundaries, legend.

Every page works offline: the basemap is drawn from the scenario's own roads and water
(:mod:`coverage_planner.basemap`), Leaflet is inlined by :func:`coverage_planner.outputs.finalize_html`,
and markers are circles (no icon fonts). The title, legend, scale bar and layer control are Leaflet
controls in separate corners, so they stack instead of covering one another; every text that comes
from the user's data (names, ids, titles) is HTML-escaped.
"""

from __future__ import annotations

import math
from html import escape

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from .labels import GAP_LABELS, ISOCHRONE_COLOURS, POP_COLOURS, TYPE_LABELS, UNIT_LINE, ZONE_COLOURS, ZONE_FILL_OPACITY, cell_polygons

OSM_CREDIT = "© OpenStreetMap contributors"


class MapControl(MacroElement):
    """A Leaflet control holding fixed HTML, in one of the map's corners.

    Controls in the same corner stack (Leaflet lays them out), so a legend never covers the scale bar.
    ``html`` must already be escaped where it holds user text.
    """

    _template = Template("""{% macro script(this, kwargs) %}
var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
{{ this.get_name() }}.onAdd = function () {
  var div = L.DomUtil.create('div', {{ this.css_class|tojson }});
  div.innerHTML = {{ this.html_js }};
  L.DomEvent.disableClickPropagation(div);
  L.DomEvent.disableScrollPropagation(div);
  return div;
};
{{ this.get_name() }}.addTo({{ this._parent.get_name() }});
{% endmacro %}""")

    def __init__(self, html: str, position: str, css_class: str):
        super().__init__()
        self.html, self.position, self.css_class = html, position, css_class
        self.html_js = js_string(html)


def js_string(text: str) -> str:
    """A JavaScript string literal of ``text`` that is safe inside a <script> element and keeps 中文
    readable in the page source (``<``, ``>``, ``&`` and quotes are written as \\u escapes)."""
    import json

    return (json.dumps(text, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")
            .replace("&", "\\u0026").replace("'", "\\u0027").replace("\u2028", "\\u2028")
            .replace("\u2029", "\\u2029"))


class ScaleBar(MacroElement):
    """A metric scale bar, bottom left."""

    _template = Template("""{% macro script(this, kwargs) %}
L.control.scale({imperial: false, maxWidth: 160, position: 'bottomleft'}).addTo({{ this._parent.get_name() }});
{% endmacro %}""")


CONTROL_CSS = """<style>
.cp-title {background: white; padding: 6px 10px; border: 1px solid #888; border-radius: 4px;
  font: 14px sans-serif; clear: none !important; max-width: calc(100vw - 140px); box-sizing: border-box}
.cp-legend {background: white; padding: 8px; border: 1px solid #888; border-radius: 4px; font: 12px sans-serif;
  line-height: 1.5; max-width: 330px; max-height: calc(100vh - 190px); overflow-y: auto; box-sizing: border-box}
.leaflet-control-scale-line {background: rgba(255, 255, 255, 0.85)}
</style>"""


def base_map(frame_4326: gpd.GeoDataFrame, title: str, region=None, scenario=None) -> folium.Map:
    """A map fitted to the layer, with an offline basemap, a title, a metric scale bar.

    Parameters
    ----------
    frame_4326 : GeoDataFrame
        The layer to fit the map to (WGS84).
    title : str
        The page and map title (plain text; it is escaped here).
    region, scenario : optional
        The run's region (its roads) and scenario (its roads file for water, ``[outputs] tiles``):
        with them the scenario's roads and water are drawn as the basemap, and the tile layer the
        scenario asks for is added. Without them the map has no basemap (only the given layers).
    """
    minx, miny, maxx, maxy = frame_4326.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11, tiles=None,
                      control_scale=False)
    fmap.cp_notes = []
    fmap.get_root().header.add_child(folium.Element(f"<title>{escape(title)}</title>"))
    fmap.get_root().header.add_child(folium.Element(CONTROL_CSS))
    if scenario is not None:
        from .basemap import add_tiles

        note = add_tiles(fmap, scenario.raw.get("outputs", {}), ((minx + maxx) / 2, (miny + maxy) / 2))
        fmap.cp_notes += [note] if note else []
    if region is not None and getattr(region, "roads", None) is not None:
        from .basemap import add_basemap

        fmap.cp_notes.append(add_basemap(fmap, region.roads, getattr(scenario, "roads", None), region.units))
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    MapControl(f"<b>{escape(title)}</b>", "topleft", "cp-title").add_to(fmap)
    ScaleBar().add_to(fmap)
    return fmap


def escaped(frame: gpd.GeoDataFrame, columns: list[str]) -> gpd.GeoDataFrame:
    """A copy with the given text columns HTML-escaped (tooltips insert them as HTML)."""
    out = frame.copy()
    for col in columns:
        out[col] = [escape(str(v)) for v in out[col]]
    return out


def layer_name(text: str) -> str:
    """A layer-control label: plain text, escaped (Leaflet inserts it as HTML)."""
    return escape(text)


def rgba(colour: str, alpha: float) -> str:
    """``#rrggbb`` with an opacity, as CSS ``rgba()``."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha:g})"


def add_units(fmap: folium.Map, units: gpd.GeoDataFrame) -> None:
    """Zone and unit boundaries (urban streets and rural towns coloured differently)."""
    layer = folium.FeatureGroup(name="行政区划 Units (街道/镇, urban/rural)")
    data = escaped(units[["unit_id", "name", "name_en", "zone", "kind", "geometry"]].to_crs("EPSG:4326"),
                   ["unit_id", "name", "name_en", "zone", "kind"])
    folium.GeoJson(
        data, style_function=lambda f: {
            "color": UNIT_LINE, "weight": 1.5, "fillOpacity": ZONE_FILL_OPACITY,
            "fillColor": ZONE_COLOURS["urban"] if f["properties"]["zone"] == "urban" else ZONE_COLOURS["rural"]},
        tooltip=folium.GeoJsonTooltip(["name", "name_en", "zone", "kind"],
                                      aliases=["名称", "Name", "区域 Zone", "类型 Kind"]),
    ).add_to(layer)
    layer.add_to(fmap)


GAP_CELLS_DRAWN = 150_000   # uncovered cells a gap layer draws one by one; above: coarser blocks
GAP_BLOCKS = 30_000          # the most blocks a gap layer draws (the map of a municipality stays light)
BLOCK_STEPS = (2, 5, 10, 20, 50, 100, 200, 500, 1000)   # block sides, in cell sides


def gap_polygons(cells: gpd.GeoDataFrame, mask: np.ndarray, reasons: np.ndarray | None = None,
                 max_cells: int | None = None, max_blocks: int | None = None) -> gpd.GeoDataFrame:
    """Uncovered cells (``mask``) merged into one shape per gap reason and population class.

    Merging (a coverage union of the cell squares) keeps the map light: a few dozen shapes instead
    of tens of thousands of cells. Each shape carries its people and cell count. A layer of more
    than ``max_cells`` uncovered cells (a municipality) is drawn on square blocks of several cells
    instead (:func:`gap_blocks`): the frame's ``block_m`` column says their side, ``people_per_block``
    replaces ``people_per_cell``, and the people and cell counts stay exact. The defaults are
    :data:`GAP_CELLS_DRAWN` and :data:`GAP_BLOCKS`.
    """
    mask = np.asarray(mask, dtype=bool)
    reasons = np.full(int(mask.sum()), "") if reasons is None else np.asarray(reasons)[mask]
    if not mask.any():
        return gpd.GeoDataFrame({"gap": [], "people_per_cell": [], "population": [], "cells": [], "colour": []},
                                geometry=[], crs=cells.crs)
    if mask.sum() > (GAP_CELLS_DRAWN if max_cells is None else max_cells):
        return gap_blocks(cells, mask, reasons, GAP_BLOCKS if max_blocks is None else max_blocks)
    bad = cells.loc[mask, ["population", "cell_m", cells.geometry.name]]
    density = bad["population"].to_numpy()
    squares = cell_polygons(bad).geometry.to_numpy()
    return _merged_classes(density, reasons, np.ones(len(bad), dtype=np.int64), squares, "people_per_cell", cells.crs)


def _merged_classes(people: np.ndarray, reasons: np.ndarray, counts: np.ndarray, squares: np.ndarray,
                    column: str, crs) -> gpd.GeoDataFrame:
    """Squares merged per reason and quintile class of ``people`` (each square's people)."""
    breaks = np.unique(np.quantile(people, [0.2, 0.4, 0.6, 0.8]))
    klass = np.searchsorted(breaks, people, side="right")
    edges = np.concatenate([[people.min()], breaks, [people.max()]])
    rows = []
    for reason in sorted(set(reasons)):
        for k in range(len(edges) - 1):
            pick = (reasons == reason) & (klass == k)
            if pick.any():
                rows.append({"gap": GAP_LABELS.get(reason, reason or "—"),
                             column: f"{edges[k]:,.1f}–{edges[k + 1]:,.1f}",
                             "population": round(float(people[pick].sum()), 1), "cells": int(counts[pick].sum()),
                             "colour": POP_COLOURS[k], "geometry": shapely.coverage_union_all(squares[pick])})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=crs)


def gap_blocks(cells: gpd.GeoDataFrame, mask: np.ndarray, reasons: np.ndarray, max_blocks: int) -> gpd.GeoDataFrame:
    """Uncovered cells summed on square blocks (at most ``max_blocks``), merged like :func:`gap_polygons`.

    The block side is the smallest of :data:`BLOCK_STEPS` × the largest cell side that leaves at
    most ``max_blocks`` blocks holding uncovered cells; blocks are aligned to multiples of their side
    in the region's CRS. A block's people and cells are the sums of its uncovered cells (so the
    layer's totals equal the cells'), its reason the one with the most uncovered people in it (ties:
    the first by name), and its class the quintile of people per block.
    """
    x = cells.geometry.x.to_numpy()[mask]
    y = cells.geometry.y.to_numpy()[mask]
    people = cells["population"].to_numpy(dtype=float)[mask]
    base = float(cells["cell_m"].to_numpy(dtype=float)[mask].max())
    for step in BLOCK_STEPS:
        side = base * step
        bx, by = np.floor(x / side).astype(np.int64), np.floor(y / side).astype(np.int64)
        keys, block = np.unique(np.stack([bx, by], axis=1), axis=0, return_inverse=True)
        if len(keys) <= max_blocks:
            break
    block = block.ravel()
    names, code = np.unique(reasons, return_inverse=True)
    n = len(keys)
    by_reason = np.bincount(block * len(names) + code, weights=people, minlength=n * len(names))
    main = np.argmax(by_reason.reshape(n, len(names)), axis=1)
    block_people = np.bincount(block, weights=people, minlength=n)
    block_cells = np.bincount(block, minlength=n)
    squares = shapely.box(keys[:, 0] * side, keys[:, 1] * side, (keys[:, 0] + 1) * side, (keys[:, 1] + 1) * side)
    frame = _merged_classes(block_people, names[main], block_cells, squares, "people_per_block", cells.crs)
    frame["block_m"] = side
    return frame


def light_geojson(frame: gpd.GeoDataFrame) -> dict:
    """GeoJSON (WGS84) with coordinates cut to 6 decimals (about 0.1 m): a third of the file size.

    The geometries go through GEOS's GeoJSON writer and the properties through pandas, with no
    text round trip of the whole layer (a municipality's gap layers hold millions of vertices).
    """
    import json

    wgs = frame.to_crs("EPSG:4326")
    geoms = shapely.transform(wgs.geometry.to_numpy(), lambda c: np.trunc(c * 1e6) / 1e6)
    props = pd.DataFrame(wgs.drop(columns=wgs.geometry.name)).to_dict("records")
    return {"type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": p, "geometry": json.loads(g)}
                         for p, g in zip(props, shapely.to_geojson(geoms))]}


def add_gap_layer(fmap: folium.Map, cells: gpd.GeoDataFrame, mask: np.ndarray, reasons: np.ndarray | None,
                  name: str, show: bool) -> None:
    """A layer of uncovered population, shaded by people per cell, with the gap reason."""
    shapes = gap_polygons(cells, mask, reasons)
    blocks = "block_m" in shapes
    if blocks:   # said in the layer's name, its tooltip and the legend
        side = block_label(float(shapes["block_m"].iloc[0]))
        name = f"{name} ({side} 方格汇总 on {side} blocks)"
        note = ("未覆盖人口按方格汇总绘制（边长见图层名；人数、格数不变；逐格结果见 run 的 cells.gpkg）· Uncovered "
                "people drawn on blocks for this large region (side in the layer's name; people and cell counts "
                "exact; every cell is in the cells.gpkg of run)")
        notes = getattr(fmap, "cp_notes", None)
        if notes is not None and note not in notes:
            notes.append(note)
        shapes = shapes.drop(columns="block_m")
    layer = folium.FeatureGroup(name=layer_name(name), show=show)
    if len(shapes):
        density, alias = ("people_per_block", "每方格人口 People per block") if blocks else \
            ("people_per_cell", "每格人口 People per cell")
        folium.GeoJson(
            light_geojson(shapes),
            style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": None, "weight": 0,
                                      "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(["gap", density, "population", "cells"],
                                          aliases=["原因 Reason", alias, "人口 People", "格数 Cells"]),
        ).add_to(layer)
    layer.add_to(fmap)


def block_label(side_m: float) -> str:
    """A block side for people: ``500 m`` or ``2 km``."""
    return f"{side_m / 1000:g} km" if side_m >= 1000 else f"{side_m:g} m"


def add_gaps(fmap: folium.Map, cells: gpd.GeoDataFrame, rule, show: bool) -> None:
    """Uncovered population of one rule."""
    mask = (cells[f"{rule.id}_applies"] & ~cells[f"{rule.id}_pass"]).to_numpy()
    add_gap_layer(fmap, cells, mask, cells[f"{rule.id}_gap"].to_numpy(),
                  f"未覆盖人口 Uncovered: {rule.name_zh} {rule.name_en}", show)


def add_isochrones(fmap: folium.Map, iso: gpd.GeoDataFrame | None) -> None:
    """One layer per time limit with every facility's isochrone."""
    if iso is None or not len(iso):
        return
    for k, minutes in enumerate(sorted(iso["minutes"].unique())):
        sub = escaped(iso[iso["minutes"] == minutes][["facility_id", "name", "type", "minutes", "direction",
                                                      "geometry"]], ["facility_id", "name", "type", "direction"])
        layer = folium.FeatureGroup(name=f"{minutes:g} 分钟等时圈 {minutes:g}-minute isochrones", show=k == 0)
        colour = isochrone_colour(k)
        folium.GeoJson(sub.to_crs("EPSG:4326"),
                       style_function=lambda f, c=colour: {"color": c, "weight": 1, "fillOpacity": 0.08},
                       tooltip=folium.GeoJsonTooltip(["name", "type", "minutes", "direction"])).add_to(layer)
        layer.add_to(fmap)


def isochrone_colour(k: int) -> str:
    """The line colour of the k-th isochrone limit (by increasing minutes)."""
    return ISOCHRONE_COLOURS[k % len(ISOCHRONE_COLOURS)]


def add_facilities(fmap: folium.Map, facilities: gpd.GeoDataFrame) -> None:
    """Facilities by type, each with a popup of its attributes."""
    data = facilities.to_crs("EPSG:4326")
    for ftype in sorted(data["type"].unique()):
        zh, en, colour = TYPE_LABELS.get(ftype, (escape(str(ftype)), escape(str(ftype)), "#333333"))
        layer = folium.FeatureGroup(name=f"{zh} {en}")
        for _, row in data[data["type"] == ftype].iterrows():
            html = (f"<b>{escape(str(row['name']))}</b><br>{escape(str(row['name_en']))}<br>{zh} {en}<br>"
                    f"ID {escape(str(row['facility_id']))}<br>"
                    f"救护车 ambulances: {row['ambulances']:g}<br>出车时间 turnout: "
                    f"{'' if np.isnan(row['turnout_min']) else format(row['turnout_min'], 'g') + ' min'}")
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=7, color="#222", weight=1,
                                fill=True, fill_color=colour, fill_opacity=0.95,
                                popup=folium.Popup(html, max_width=260), tooltip=escape(str(row["name"])),
                                class_name="cp-marker").add_to(layer)
        layer.add_to(fmap)


def swatch(colour: str, shape: str = "dot", border: str = "#222") -> str:
    """A small coloured dot, square (an area: ``colour`` may be ``rgba()``) or line for a legend row."""
    if shape == "line":
        return (f'<span style="display:inline-block;width:16px;height:0;border-top:2px solid {colour};'
                'vertical-align:middle;margin-right:6px"></span>')
    radius = "6px" if shape == "dot" else "0"
    return (f'<span style="display:inline-block;width:12px;height:12px;border-radius:{radius};box-sizing:border-box;'
            f'background:{colour};border:1px solid {border};vertical-align:middle;margin-right:6px"></span>')


def colour_ramp(colours: list[str]) -> str:
    """A row of colour blocks, low to high."""
    return "".join(f'<span style="display:inline-block;width:16px;height:10px;background:{c}"></span>'
                   for c in colours)


def zone_swatches() -> str:
    """The urban and rural fills as drawn (same colour and opacity, same outline)."""
    return (f"{swatch(rgba(ZONE_COLOURS['urban'], ZONE_FILL_OPACITY), 'square', UNIT_LINE)}城市 urban &nbsp; "
            f"{swatch(rgba(ZONE_COLOURS['rural'], ZONE_FILL_OPACITY), 'square', UNIT_LINE)}农村 rural")


def add_legend_box(fmap: folium.Map, rows: list[str]) -> None:
    """The legend (bottom right, above the credits): a title, the given HTML rows, basemap notes, credit.

    The layer control is collapsed at the top right and the scale bar is at the bottom left, so the
    three never overlap; the legend scrolls when the window is too low for it.
    """
    notes = [f'<div style="color:#666">{escape(n)}</div>' for n in getattr(fmap, "cp_notes", [])]
    body = "".join(f"<div>{row}</div>" for row in rows)
    MapControl(f'<b>图例 Legend</b>{body}{"".join(notes)}<div style="color:#666">{OSM_CREDIT}</div>',
               "bottomright", "cp-legend").add_to(fmap)


def add_layer_control(fmap: folium.Map) -> None:
    """The layer switcher, collapsed at the top right (it opens on hover or tap)."""
    folium.LayerControl(collapsed=True, position="topright").add_to(fmap)


def add_legend(fmap: folium.Map, types: list[str], minutes: list[float] = (), extra: list[str] = ()) -> None:
    """The coverage map's legend: facility types, isochrones, uncovered population shading, zones."""
    rows = list(extra)
    for t in types:
        zh, en, colour = TYPE_LABELS.get(t, (escape(str(t)), escape(str(t)), "#333333"))
        rows.append(f"{swatch(colour)}{zh} {en}")
    rows += [f"{swatch(isochrone_colour(k), 'line')}{m:g} 分钟等时圈 {m:g}-min isochrone"
             for k, m in enumerate(sorted(minutes))]
    rows.append(f"未覆盖人口 Uncovered people (low→high)<br>{colour_ramp(POP_COLOURS)}")
    rows.append(zone_swatches())
    add_legend_box(fmap, rows)


def coverage_map(result) -> folium.Map:
    """The coverage-gap map of a run."""
    scn = result.scenario
    fmap = base_map(result.region.units.to_crs("EPSG:4326"),
                    f"{scn.title_zh} 覆盖缺口图 · {scn.title_en} coverage gaps "
                    f"({scn.profile.name_zh} {scn.profile.name_en})", result.region, scn)
    add_units(fmap, result.region.units)
    add_isochrones(fmap, result.isochrones)
    for k, rule in enumerate(r for r in result.rules if r.spatial):
        add_gaps(fmap, result.cells, rule, show=k == 0)
    add_facilities(fmap, result.region.facilities)
    add_criticality_layer(fmap, getattr(result, "stations", None), result.region.facilities)
    minutes = [] if result.isochrones is None or not len(result.isochrones) else \
        [float(m) for m in result.isochrones["minutes"].unique()]
    stations = getattr(result, "stations", None)
    add_legend(fmap, sorted(result.region.facilities["type"].unique()), minutes,
               [criticality_legend_row()] if stations is not None and len(stations) else [])
    add_layer_control(fmap)
    return fmap


# --------------------------------------------------------------------------- station criticality

CRITICAL_COLOUR = "#7b1fa2"   # purple: not a facility type, gap or zone colour of the maps


def criticality_legend_row() -> str:
    """The legend row of the station-criticality layer."""
    return f"{swatch(CRITICAL_COLOUR)}站点关键性 Station criticality (size: people lost if closed)"


def add_criticality_layer(fmap, stations: pd.DataFrame | None, facilities) -> None:
    """A toggleable layer (off at first): one circle per station, sized by the most people it would cost.

    The popup lists, per rule, the rank, people losing coverage if the station closes, the station
    that takes over most of its territory and the added time or distance.
    """
    if stations is None or stations.empty:
        return
    data = facilities.to_crs("EPSG:4326").set_index("facility_id")
    layer = folium.FeatureGroup(name="站点关键性 Station criticality (if closed)", show=False)
    worst = stations.groupby("facility_id", sort=True)["population_lost"].max()
    top = max(float(worst.max()), 1.0)
    for fid, lost in worst.items():
        pt = data.loc[fid].geometry
        rows = stations[stations["facility_id"] == fid]
        lines = "".join(
            f"<tr><td>{escape(str(r.rule_id))}</td><td>#{r.rank}</td><td>{r.population_lost:,.0f}</td>"
            f"<td>{escape(str(r.fallback_station))}</td><td>{_added(r)}</td></tr>" for r in rows.itertuples())
        html = (f"<b>{escape(str(data.loc[fid, 'name']))}</b> ({escape(str(fid))})<br>关闭后 if closed:"
                "<table><tr><th>rule</th><th>rank</th><th>people lost 失去覆盖</th><th>fallback 接替站</th>"
                f"<th>added 增加</th></tr>{lines}</table>")
        folium.CircleMarker([pt.y, pt.x], radius=6 + 14 * math.sqrt(float(lost) / top), color="#222", weight=1,
                            fill=True, fill_color=CRITICAL_COLOUR, fill_opacity=0.6,
                            popup=folium.Popup(html, max_width=420),
                            tooltip=f"{escape(str(data.loc[fid, 'name']))}: {lost:,.0f}",
                            class_name="cp-critical").add_to(layer)
    layer.add_to(fmap)


def _added(row) -> str:
    if not np.isfinite(row.added_mean):
        return "no fallback 无接替"
    return f"+{row.added_mean:.1f} (max {row.added_max:.1f}) {row.added_unit}"
