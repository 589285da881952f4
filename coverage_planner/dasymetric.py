"""Census counts without a raster: spread each unit's people over a grid where roads and settlements are.

Dasymetric allocation: every unit's total (a township's or street's census count) is shared among
the grid cells whose centres lie in the unit, in proportion to an ancillary weight per cell — by
default the length of residential and local roads in the cell, which follows where people live. A
unit with no weight at all falls back to an even spread. Each unit's total is conserved exactly.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from .network import RoadNetwork

# How strongly each road class signals homes nearby (per metre of road).
ROAD_WEIGHTS = {"residential": 3.0, "living_street": 3.0, "service": 1.5, "unclassified": 2.0, "tertiary": 2.0,
                "tertiary_link": 1.0, "secondary": 1.0, "secondary_link": 0.5, "primary": 0.7, "primary_link": 0.3,
                "trunk": 0.2, "track": 0.3, "road": 1.0}


def road_weights(net: RoadNetwork) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ancillary points from roads: segment midpoints weighted by length × class weight."""
    mid = shapely.line_interpolate_point(net.seg_geometry, 0.5, normalized=True)
    w = net.seg_length * np.array([ROAD_WEIGHTS.get(str(h), 0.0) for h in net.seg_highway])
    keep = w > 0
    return shapely.get_x(mid)[keep], shapely.get_y(mid)[keep], w[keep]


def allocate(units: gpd.GeoDataFrame, population: np.ndarray, wx: np.ndarray, wy: np.ndarray, w: np.ndarray,
             cell_size_m: float) -> gpd.GeoDataFrame:
    """Cells (points at cell centres, metric CRS) with columns population and unit (row of ``units``).

    ``population`` is each unit's total; (wx, wy, w) are ancillary points and weights.
    """
    population = np.asarray(population, dtype=float)
    x0, y0, x1, y1 = units.total_bounds
    gx0, gy0 = np.floor(x0 / cell_size_m), np.floor(y0 / cell_size_m)
    nx_, ny_ = int(np.ceil(x1 / cell_size_m) - gx0), int(np.ceil(y1 / cell_size_m) - gy0)
    ix, iy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    cx = (gx0 + ix.ravel() + 0.5) * cell_size_m
    cy = (gy0 + iy.ravel() + 0.5) * cell_size_m
    tree = shapely.STRtree(units.geometry.to_numpy())
    pt, poly = tree.query(shapely.points(cx, cy), predicate="within")
    unit = np.full(len(cx), -1)
    unit[pt] = poly
    inside = unit >= 0
    cx, cy, unit = cx[inside], cy[inside], unit[inside]
    # ancillary weight per grid cell
    cell_of = np.full(nx_ * ny_, -1)
    cell_of[np.flatnonzero(inside)] = np.arange(inside.sum())
    wi = np.floor(np.asarray(wx) / cell_size_m) - gx0
    wj = np.floor(np.asarray(wy) / cell_size_m) - gy0
    ok = (wi >= 0) & (wi < nx_) & (wj >= 0) & (wj < ny_)
    flat = (wi[ok] * ny_ + wj[ok]).astype(np.int64)
    target = cell_of[flat]
    weight = np.bincount(target[target >= 0], weights=np.asarray(w)[ok][target >= 0], minlength=len(cx))
    # units without any cell centre inside (very small units) get one cell at a point inside them
    empty = np.setdiff1d(np.arange(len(units)), unit)
    if len(empty):
        reps = units.geometry.iloc[empty].representative_point()
        cx = np.concatenate([cx, reps.x.to_numpy()])
        cy = np.concatenate([cy, reps.y.to_numpy()])
        unit = np.concatenate([unit, empty])
        weight = np.concatenate([weight, np.zeros(len(empty))])
    per_unit = np.bincount(unit, weights=weight, minlength=len(units))
    cells_per_unit = np.bincount(unit, minlength=len(units))
    share = np.where(per_unit[unit] > 0, weight / np.where(per_unit[unit] > 0, per_unit[unit], 1.0),
                     1.0 / cells_per_unit[unit])
    people = population[unit] * share
    return gpd.GeoDataFrame({"population": people, "unit": unit, "cell_m": float(cell_size_m)},
                            geometry=gpd.points_from_xy(cx, cy), crs=units.crs)
