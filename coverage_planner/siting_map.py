"""The siting map: coverage gaps before and after, existing and proposed stations with their gains."""

from __future__ import annotations

from html import escape

import folium
import numpy as np
import pandas as pd

from .maps import (POP_COLOURS, add_gap_layer, add_layer_control, add_legend_box, add_units, base_map, colour_ramp,
                   swatch, zone_swatches)


def siting_map(result, sites: pd.DataFrame) -> folium.Map:
    """Before/after coverage of the applied model, with proposed sites and their marginal gains."""
    prob, region = result.problem, result.region
    apply = result.settings["apply"]
    sol = result.solutions[apply]
    fmap = base_map(region.units.to_crs("EPSG:4326"),
                    f"{result.scenario.title_zh} 急救站选址 · EMS station siting ({apply}, {prob.rule.id})",
                    region, result.scenario)
    add_units(fmap, region.units)
    before = np.asarray(prob.cover[:, :prob.n_existing].sum(axis=1)).ravel() > 0 if prob.n_existing else \
        np.zeros(prob.cover.shape[0], bool)
    after = np.asarray(prob.cover[:, np.asarray(sol.selected, int)].sum(axis=1)).ravel() > 0
    add_gap_layer(fmap, region.cells, ~before, None, "现状未覆盖 Uncovered before", show=False)
    add_gap_layer(fmap, region.cells, ~after, None, f"新增后未覆盖 Uncovered after ({apply})", show=True)
    crs_sites = sites[sites["model"] == apply]
    import geopandas as gpd

    pts = gpd.GeoDataFrame(crs_sites, geometry=gpd.points_from_xy(crs_sites["x"], crs_sites["y"]),
                           crs=region.crs).to_crs("EPSG:4326")
    for status, colour, label in (("existing", "#ff7f0e", "现有急救站 Existing stations"),
                                  ("new", "#6a00a8", "拟建急救站 Proposed stations")):
        layer = folium.FeatureGroup(name=label)
        for _, r in pts[pts["status"] == status].iterrows():
            html = (f"<b>{escape(str(r['candidate_id']))}</b> {escape(str(r['name']))}<br>{label}<br>"
                    f"新增覆盖人口 people gained: {r['marginal_population']:,.0f}<br>"
                    f"服务人口 people served: {r['population_served']:,.0f}<br>"
                    f"所需救护车 ambulances needed: {r['ambulances_needed']}")
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=8 if status == "new" else 6, color="#222",
                                weight=1, fill=True, fill_color=colour, fill_opacity=0.95,
                                popup=folium.Popup(html, max_width=260), tooltip=escape(str(r["candidate_id"])),
                                class_name="cp-marker").add_to(layer)
        layer.add_to(fmap)
    add_legend_box(fmap, [f"{swatch('#ff7f0e')}现有急救站 existing station",
                          f"{swatch('#6a00a8')}拟建急救站 proposed station",
                          f"未覆盖人口 uncovered people (low→high)<br>{colour_ramp(POP_COLOURS)}",
                          zone_swatches()])
    add_layer_control(fmap)
    return fmap
