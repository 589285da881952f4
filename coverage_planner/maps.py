"""The coverage-gap map (folium): facilities, isochrones, uncovered population, boundaries, legend."""

from __future__ import annotations

from html import escape

import folium
import geopandas as gpd
import numpy as np
import shapely
from branca.element import Element

from .outputs import GAP_LABELS, TYPE_LABELS, cell_polygons

OSM_CREDIT = "© OpenStreetMap contributors"
POP_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]


def base_map(frame_4326: gpd.GeoDataFrame, title: str) -> folium.Map:
    """A map fitted to the layer, with OSM tiles, their credit and a title."""
    minx, miny, maxx, maxy = frame_4326.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=11, tiles=None,
                      control_scale=True)
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap 底图", attr=OSM_CREDIT).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    fmap.get_root().html.add_child(Element(
        f'<div style="position:fixed;top:10px;left:60px;z-index:9999;background:white;padding:6px 10px;'
        f'border:1px solid #888;font:14px sans-serif"><b>{title}</b></div>'))
    return fmap


def add_units(fmap: folium.Map, units: gpd.GeoDataFrame) -> None:
    """Zone and unit boundaries (urban streets and rural towns coloured differently)."""
    layer = folium.FeatureGroup(name="行政区划 Units (街道/镇, urban/rural)")
    data = units[["unit_id", "name", "name_en", "zone", "kind", "geometry"]].to_crs("EPSG:4326")
    folium.GeoJson(
        data, style_function=lambda f: {
            "color": "#444", "weight": 1.5, "fillOpacity": 0.05,
            "fillColor": "#6a51a3" if f["properties"]["zone"] == "urban" else "#41ab5d"},
        tooltip=folium.GeoJsonTooltip(["name", "name_en", "zone", "kind"],
                                      aliases=["名称", "Name", "区域 Zone", "类型 Kind"]),
    ).add_to(layer)
    layer.add_to(fmap)


def gap_polygons(cells: gpd.GeoDataFrame, mask: np.ndarray, reasons: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Uncovered cells (``mask``) merged into one shape per gap reason and population class.

    Merging (a coverage union of the cell squares) keeps the map light: a few dozen shapes instead
    of tens of thousands of cells. Each shape carries its people and cell count.
    """
    bad = cells[mask]
    reasons = np.full(len(bad), "") if reasons is None else np.asarray(reasons)[mask]
    if not len(bad):
        return gpd.GeoDataFrame({"gap": [], "people_per_cell": [], "population": [], "cells": [], "colour": []},
                                geometry=[], crs=cells.crs)
    density = bad["population"].to_numpy()
    breaks = np.unique(np.quantile(density, [0.2, 0.4, 0.6, 0.8]))
    klass = np.searchsorted(breaks, density, side="right")
    edges = np.concatenate([[density.min()], breaks, [density.max()]])
    squares = cell_polygons(bad).geometry.to_numpy()
    rows = []
    for reason in sorted(set(reasons)):
        for k in range(len(edges) - 1):
            pick = (reasons == reason) & (klass == k)
            if pick.any():
                rows.append({"gap": GAP_LABELS.get(reason, reason or "—"),
                             "people_per_cell": f"{edges[k]:,.1f}–{edges[k + 1]:,.1f}",
                             "population": round(float(density[pick].sum()), 1), "cells": int(pick.sum()),
                             "colour": POP_COLOURS[k], "geometry": shapely.coverage_union_all(squares[pick])})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=cells.crs)


def light_geojson(frame: gpd.GeoDataFrame) -> dict:
    """GeoJSON (WGS84) with coordinates cut to 6 decimals (about 0.1 m): a third of the file size."""
    import json
    import re

    text = frame.to_crs("EPSG:4326").to_json(drop_id=True, ensure_ascii=False)
    return json.loads(re.sub(r"(-?\d+\.\d{6})\d+", r"\1", text))


def add_gap_layer(fmap: folium.Map, cells: gpd.GeoDataFrame, mask: np.ndarray, reasons: np.ndarray | None,
                  name: str, show: bool) -> None:
    """A layer of uncovered population, shaded by people per cell, with the gap reason."""
    layer = folium.FeatureGroup(name=name, show=show)
    shapes = gap_polygons(cells, mask, reasons)
    if len(shapes):
        folium.GeoJson(
            light_geojson(shapes),
            style_function=lambda f: {"fillColor": f["properties"]["colour"], "color": None, "weight": 0,
                                      "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(["gap", "people_per_cell", "population", "cells"],
                                          aliases=["原因 Reason", "每格人口 People per cell", "人口 People",
                                                   "格数 Cells"]),
        ).add_to(layer)
    layer.add_to(fmap)


def add_gaps(fmap: folium.Map, cells: gpd.GeoDataFrame, rule, show: bool) -> None:
    """Uncovered population of one rule."""
    mask = (cells[f"{rule.id}_applies"] & ~cells[f"{rule.id}_pass"]).to_numpy()
    add_gap_layer(fmap, cells, mask, cells[f"{rule.id}_gap"].to_numpy(),
                  f"未覆盖人口 Uncovered: {rule.name_zh} {rule.name_en}", show)


def add_isochrones(fmap: folium.Map, iso: gpd.GeoDataFrame | None) -> None:
    """One layer per time limit with every facility's isochrone."""
    if iso is None or not len(iso):
        return
    colours = ["#31a354", "#3182bd", "#756bb1", "#e6550d"]
    for k, minutes in enumerate(sorted(iso["minutes"].unique())):
        sub = iso[iso["minutes"] == minutes][["facility_id", "name", "type", "minutes", "direction", "geometry"]]
        layer = folium.FeatureGroup(name=f"{minutes:g} 分钟等时圈 {minutes:g}-minute isochrones", show=k == 0)
        colour = colours[k % len(colours)]
        folium.GeoJson(sub.to_crs("EPSG:4326"),
                       style_function=lambda f, c=colour: {"color": c, "weight": 1, "fillOpacity": 0.08},
                       tooltip=folium.GeoJsonTooltip(["name", "type", "minutes", "direction"])).add_to(layer)
        layer.add_to(fmap)


def add_facilities(fmap: folium.Map, facilities: gpd.GeoDataFrame) -> None:
    """Facilities by type, each with a popup of its attributes."""
    data = facilities.to_crs("EPSG:4326")
    for ftype in sorted(data["type"].unique()):
        zh, en, colour = TYPE_LABELS.get(ftype, (ftype, ftype, "#333333"))
        layer = folium.FeatureGroup(name=f"{zh} {en}")
        for _, row in data[data["type"] == ftype].iterrows():
            html = (f"<b>{escape(str(row['name']))}</b><br>{escape(str(row['name_en']))}<br>{zh} {en}<br>"
                    f"ID {escape(str(row['facility_id']))}<br>"
                    f"救护车 ambulances: {row['ambulances']:g}<br>出车时间 turnout: "
                    f"{'' if np.isnan(row['turnout_min']) else format(row['turnout_min'], 'g') + ' min'}")
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=7, color="#222", weight=1,
                                fill=True, fill_color=colour, fill_opacity=0.95,
                                popup=folium.Popup(html, max_width=260), tooltip=str(row["name"])).add_to(layer)
        layer.add_to(fmap)


def swatch(colour: str, shape: str = "dot") -> str:
    """A small coloured dot (or square) for a legend row."""
    radius = "6px" if shape == "dot" else "0"
    return (f'<span style="display:inline-block;width:12px;height:12px;border-radius:{radius};'
            f'background:{colour};margin-right:6px"></span>')


def colour_ramp(colours: list[str]) -> str:
    """A row of colour blocks, low to high."""
    return "".join(f'<span style="display:inline-block;width:16px;height:10px;background:{c}"></span>'
                   for c in colours)


def add_legend_box(fmap: folium.Map, rows: list[str]) -> None:
    """A fixed legend (bottom left): a title, the given HTML rows, and the OSM credit."""
    body = "".join(f"<div>{row}</div>" for row in rows)
    fmap.get_root().html.add_child(Element(
        '<div style="position:fixed;bottom:30px;left:10px;z-index:9999;background:white;padding:8px;'
        'border:1px solid #888;font:12px sans-serif;line-height:1.5;max-width:340px">'
        f'<b>图例 Legend</b>{body}<div style="color:#666">{OSM_CREDIT}</div></div>'))


def add_legend(fmap: folium.Map, types: list[str]) -> None:
    """The coverage map's legend: facility types, uncovered population shading, zones."""
    rows = [swatch(TYPE_LABELS.get(t, (t, t, "#333"))[2]) + f"{TYPE_LABELS.get(t, (t, t))[0]} "
            f"{TYPE_LABELS.get(t, (t, t))[1]}" for t in types]
    rows.append(f"未覆盖人口 Uncovered people (low→high)<br>{colour_ramp(POP_COLOURS)}")
    rows.append(f"{swatch('#6a51a3', 'square')}城市 urban &nbsp; {swatch('#41ab5d', 'square')}农村 rural")
    add_legend_box(fmap, rows)


def coverage_map(result) -> folium.Map:
    """The coverage-gap map of a run."""
    scn = result.scenario
    fmap = base_map(result.region.units.to_crs("EPSG:4326"),
                    f"{scn.title_zh} 覆盖缺口图 · {scn.title_en} coverage gaps "
                    f"({scn.profile.name_zh} {scn.profile.name_en})")
    add_units(fmap, result.region.units)
    add_isochrones(fmap, result.isochrones)
    for k, rule in enumerate(r for r in result.rules if r.spatial):
        add_gaps(fmap, result.cells, rule, show=k == 0)
    add_facilities(fmap, result.region.facilities)
    add_legend(fmap, sorted(result.region.facilities["type"].unique()))
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap
