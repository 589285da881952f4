"""What the tables and the maps share: facility-type and gap names, map colours, cell squares.

A module of its own so that :mod:`coverage_planner.outputs` and :mod:`coverage_planner.maps` both read
them without importing each other.
"""

from __future__ import annotations

import geopandas as gpd
import shapely

__all__ = ["GAP_LABELS", "cell_polygons", "ISOCHRONE_COLOURS", "POP_COLOURS", "TYPE_LABELS", "UNIT_LINE", "ZONE_COLOURS",
           "ZONE_FILL_OPACITY"]

# facility type → (中文, English, map colour)
TYPE_LABELS = {
    "hospital": ("医院", "Hospital", "#d62728"), "thc": ("乡镇卫生院", "Township health centre", "#2ca02c"),
    "chc": ("社区卫生服务中心", "Community health centre", "#1f77b4"), "ems": ("急救站", "EMS station", "#ff7f0e"),
    "chs": ("社区卫生服务站", "Community health station", "#17becf"),
    "village_clinic": ("村卫生室", "Village clinic", "#8c564b"),
    "hospital;general": ("综合医院", "General hospital", "#d62728"),
    "hospital;tcm": ("中医院", "TCM hospital", "#e377c2"),
    "hospital;mch": ("妇幼保健院", "Maternal and child health hospital", "#9467bd"),
}
GAP_LABELS = {"no_road_access": "无道路可达 no road access", "cut_off": "路网不连通 cut off from the network",
              "beyond_threshold": "超出标准 beyond the threshold"}
POP_COLOURS = ["#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15"]
ZONE_COLOURS = {"urban": "#6a51a3", "rural": "#b8860b"}   # purple / dark goldenrod: no isochrone colour
ZONE_FILL_OPACITY = 0.12
ISOCHRONE_COLOURS = ["#31a354", "#3182bd", "#dd3497", "#e6550d"]
UNIT_LINE = "#444444"



def cell_polygons(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells as squares of their cell size around their centre points."""
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    half = cells["cell_m"].to_numpy(dtype=float) / 2
    return cells.set_geometry(shapely.box(x - half, y - half, x + half, y + half))
