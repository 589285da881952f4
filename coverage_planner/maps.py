"""The coverage-gap map (folium): facilities, isochrones, uncovered population, boundaries, legend."""

from __future__ import annotations

from html import escape

import folium
import geopandas as gpd
import numpy as np
from branca.element import Element

from .outputs import GAP_LABELS, TYPE_LABELS, cell_polygons

OSM_CREDIT = "© OpenStreetMap contributors"
POP_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]


def _pop_colour(value: float, breaks: np.ndarray) -> str:
    return POP_COLOURS[int(np.searchsorted(breaks, value, side="right"))]


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


def add_gaps(fmap: folium.Map, cells: gpd.GeoDataFrame, rule, show: bool) -> None:
    """Uncovered population cells of one rule, shaded by population, with the gap reason."""
    bad = cells[cells[f"{rule.id}_applies"] & ~cells[f"{rule.id}_pass"]]
    layer = folium.FeatureGroup(name=f"未覆盖人口 Uncovered: {rule.name_zh} {rule.name_en}", show=show)
    if len(bad):
        breaks = np.quantile(bad["population"], [0.2, 0.4, 0.6, 0.8])
        data = cell_polygons(bad)[["population", "unit_name", "zone", f"{rule.id}_gap",
                                   f"{rule.id}_time_min", f"{rule.id}_network_km", "geometry"]].copy()
        data["gap"] = data.pop(f"{rule.id}_gap").map(GAP_LABELS)
        data["population"] = data["population"].round(1)
        data["time_min"] = data.pop(f"{rule.id}_time_min").round(1)
        data["network_km"] = data.pop(f"{rule.id}_network_km").round(2)
        data = data.replace([np.inf, -np.inf], None).to_crs("EPSG:4326")
        folium.GeoJson(
            data, style_function=lambda f: {"fillColor": _pop_colour(f["properties"]["population"], breaks),
                                            "color": None, "weight": 0, "fillOpacity": 0.75},
            tooltip=folium.GeoJsonTooltip(["population", "unit_name", "zone", "gap", "time_min", "network_km"],
                                          aliases=["人口 Population", "单元 Unit", "区域 Zone", "原因 Reason",
                                                   "时间 Time (min)", "路网距离 Network (km)"]),
        ).add_to(layer)
    layer.add_to(fmap)


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


def add_legend(fmap: folium.Map, types: list[str]) -> None:
    """A fixed legend: facility types, uncovered population shading, zones."""
    items = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;border-radius:6px;'
        f'background:{TYPE_LABELS.get(t, (t, t, "#333"))[2]};margin-right:6px"></span>'
        f'{TYPE_LABELS.get(t, (t, t))[0]} {TYPE_LABELS.get(t, (t, t))[1]}</div>' for t in types)
    ramp = "".join(f'<span style="display:inline-block;width:18px;height:10px;background:{c}"></span>'
                   for c in POP_COLOURS)
    fmap.get_root().html.add_child(Element(
        '<div style="position:fixed;bottom:30px;left:10px;z-index:9999;background:white;padding:8px;'
        'border:1px solid #888;font:12px sans-serif;line-height:1.5">'
        f'<b>图例 Legend</b>{items}<div>未覆盖人口 Uncovered people (low→high)<br>{ramp}</div>'
        '<div><span style="display:inline-block;width:12px;height:10px;background:#6a51a3;opacity:.5"></span>'
        ' 城市 urban &nbsp; <span style="display:inline-block;width:12px;height:10px;background:#41ab5d;'
        f'opacity:.5"></span> 农村 rural</div><div style="color:#666">{OSM_CREDIT}</div></div>'))


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
