"""The siting map: coverage gaps before and after each model, existing stations, and every model's
proposed (and, with ``--relocate``, closed) sites in a layer of their own, with popups that say where
each site is (lon/lat, road, township) and what it adds."""

from __future__ import annotations

from html import escape

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from .maps import (POP_COLOURS, add_gap_layer, add_layer_control, add_legend_box, add_units, base_map, colour_ramp,
                   layer_name, swatch, zone_swatches)

EXISTING, NEW, CLOSED = "#ff7f0e", "#6a00a8", "#7f7f7f"
MODEL_NAMES = {"lscp": "LSCP 最少站点全覆盖", "mclp": "MCLP 最大覆盖", "p_median": "p-median 平均距离最短",
               "p_center": "p-center 最远距离最短", "mexclp": "MEXCLP 期望覆盖", "dsm": "DSM 双重覆盖"}


def siting_map(result, sites: pd.DataFrame) -> folium.Map:
    """Before/after gaps per model, existing stations and each model's sites (the applied model shown).

    Parameters
    ----------
    result : siting.SitingResult
        The problem and every model's solution.
    sites : DataFrame
        :func:`coverage_planner.siting.site_table`.

    Returns
    -------
    folium.Map
    """
    prob, region = result.problem, result.region
    apply = result.settings["apply"]
    fmap = base_map(region.units.to_crs("EPSG:4326"),
                    f"{result.scenario.title_zh} 急救站选址 · EMS station siting ({apply}, {prob.rule.id})",
                    region, result.scenario)
    add_units(fmap, region.units)
    add_gap_layer(fmap, region.cells, ~_covered(prob, np.arange(prob.n_existing)), None,
                  "现状未覆盖 Uncovered before", show=False)
    for name, sol in result.solutions.items():
        label = MODEL_NAMES.get(name, name)
        add_gap_layer(fmap, region.cells, ~_covered(prob, np.asarray(sol.selected, int)), None,
                      f"{label}: 新增后未覆盖 uncovered after", show=name == apply)
    pts = _points(sites, region.crs)
    existing = pts[pts["status"] == "existing"].drop_duplicates("site_id")
    _marker_layer(fmap, existing, "现有急救站 Existing stations", show=True)
    for name in result.solutions:
        mine = pts[(pts["model"] == name) & (pts["status"] != "existing")]
        _marker_layer(fmap, mine, f"{MODEL_NAMES.get(name, name)}: 拟建站点 proposed sites", show=name == apply)
    add_legend_box(fmap, [f"{swatch(EXISTING)}现有急救站 existing station",
                          f"{swatch(NEW)}拟建急救站 proposed station",
                          f"{swatch(CLOSED)}撤并急救站 closed station (--relocate)",
                          f"未覆盖人口 uncovered people (low→high)<br>{colour_ramp(POP_COLOURS)}",
                          zone_swatches()])
    add_layer_control(fmap)
    return fmap


def _covered(prob, cols: np.ndarray) -> np.ndarray:
    """Cells within their zone's limit of at least one of ``cols``."""
    if len(cols) == 0:
        return np.zeros(prob.cover.shape[0], bool)
    return np.asarray(prob.cover[:, cols].sum(axis=1)).ravel() > 0


def _points(sites: pd.DataFrame, crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(sites, geometry=gpd.points_from_xy(sites["x"], sites["y"]), crs=crs).to_crs("EPSG:4326")


def _marker_layer(fmap: folium.Map, pts: gpd.GeoDataFrame, name: str, show: bool) -> None:
    layer = folium.FeatureGroup(name=layer_name(name), show=show)
    colours = {"existing": EXISTING, "new": NEW, "closed": CLOSED}
    for _, r in pts.iterrows():
        folium.CircleMarker([r.geometry.y, r.geometry.x], radius=8 if r["status"] == "new" else 6, color="#222",
                            weight=1, fill=True, fill_color=colours[r["status"]], fill_opacity=0.95,
                            popup=folium.Popup(site_popup(r), max_width=300), tooltip=escape(str(r["site_id"])),
                            class_name="cp-marker").add_to(layer)
    layer.add_to(fmap)


def site_popup(r: pd.Series) -> str:
    """Popup HTML for one site row: every user-given text escaped."""
    def e(key: str) -> str:
        return escape(str(r.get(key, "")))

    what = {"existing": "现有急救站 existing station", "new": f"拟建急救站 proposed station #{r['order']}",
            "closed": "撤并 closed (--relocate)"}[r["status"]]
    cost = [c for c in r.index if c.startswith(("mean_", "max_"))]
    lines = [f"<b>{e('site_id')}</b> {e('name')}", f"{escape(what)} · {e('model')}",
             f"经纬度 lon, lat (WGS84): {r['lon']:.6f}, {r['lat']:.6f}"]
    for system in ("gcj02", "bd09"):
        if f"lon_{system}" in r.index:
            lines.append(f"{system.upper()}: {r[f'lon_{system}']:.6f}, {r[f'lat_{system}']:.6f}")
    lines += [f"道路 road: {e('road')} ({r['road_m']:,.0f} m)", f"乡镇街道 township: {e('township')} {e('township_en')}",
              f"候选点 candidate: {e('candidate_id')} ({e('source')})",
              f"新增覆盖人口 people gained: {r['gain_people']:,.0f}",
              f"服务人口 people served: {r['served_people']:,.0f}"]
    lines += [f"{escape(c)}: {r[c]:,.2f}" for c in cost if pd.notna(r[c])]
    lines.append(f"所需救护车 ambulances needed: {r['ambulances_needed']}")
    return "<br>".join(lines)
