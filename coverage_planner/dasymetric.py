"""Census counts without a raster: spread each unit's people over a grid where roads and settlements are.

Dasymetric allocation: every unit's total (a township's or street's census count) is shared among
the grid cells whose centres lie in the unit, in proportion to the ancillary weight that falls in
each cell: by default road-segment midpoints weighted by length × road class (residential and
local roads follow where people live), to which settlement points (villages, hamlets) can be added.
A unit with no weight at all falls back to an even spread over its cells; a unit too small to hold
a cell centre gets one cell at a point inside it. Each unit's total is conserved exactly (up to
floating-point rounding, about 1e-15 relative).

The grid is aligned to multiples of the cell size in the units' metric CRS, so cells of
neighbouring units never overlap. Weight is counted in the cell it falls in, and belongs to the
unit holding that cell's centre.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from numpy.typing import ArrayLike

from .errors import InputError
from .network import RoadNetwork

# How strongly each road class signals homes nearby (per metre of road).
ROAD_WEIGHTS = {"residential": 3.0, "living_street": 3.0, "service": 1.5, "unclassified": 2.0, "tertiary": 2.0,
                "tertiary_link": 1.0, "secondary": 1.0, "secondary_link": 0.5, "primary": 0.7, "primary_link": 0.3,
                "trunk": 0.2, "track": 0.3, "road": 1.0}

WeightPoints = tuple[np.ndarray, np.ndarray, np.ndarray]


def road_weights(net: RoadNetwork) -> WeightPoints:
    """Ancillary points from roads: segment midpoints (x, y) weighted by length × class weight."""
    mid = shapely.line_interpolate_point(net.seg_geometry, 0.5, normalized=True)
    per_metre = pd.Series(np.asarray(net.seg_highway).astype(str)).map(ROAD_WEIGHTS).fillna(0.0).to_numpy()
    w = np.asarray(net.seg_length, float) * per_metre
    keep = w > 0
    return shapely.get_x(mid)[keep], shapely.get_y(mid)[keep], w[keep]


def combine_weights(*parts: WeightPoints) -> WeightPoints:
    """Several sets of weighted points (roads, settlements, ...) as one (x, y, weight) triple."""
    return tuple(np.concatenate([np.asarray(p[k], float) for p in parts]) if parts else np.empty(0)
                 for k in range(3))


def _unit_cells(geometry: shapely.Geometry, cell: float) -> tuple[np.ndarray, np.ndarray]:
    """Global grid indices (i, j) of the cells whose centres lie inside one unit."""
    x0, y0, x1, y1 = geometry.bounds
    i = np.arange(np.floor(x0 / cell), np.ceil(x1 / cell), dtype=np.int64)
    j = np.arange(np.floor(y0 / cell), np.ceil(y1 / cell), dtype=np.int64)
    ii, jj = np.meshgrid(i, j, indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    inside = shapely.contains_xy(geometry, (ii + 0.5) * cell, (jj + 0.5) * cell)
    return ii[inside], jj[inside]


def grid_cells(geometries: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Global grid indices (i, j) and unit row of every cell whose centre lies inside a unit."""
    parts_i, parts_j, parts_u = [], [], []
    for u, geom in enumerate(geometries):          # one vectorised pass per unit; units are few
        shapely.prepare(geom)
        i, j = _unit_cells(geom, cell)
        parts_i.append(i)
        parts_j.append(j)
        parts_u.append(np.full(len(i), u, dtype=np.int64))
    return (np.concatenate(parts_i) if parts_i else np.empty(0, np.int64),
            np.concatenate(parts_j) if parts_j else np.empty(0, np.int64),
            np.concatenate(parts_u) if parts_u else np.empty(0, np.int64))


def _weight_per_cell(ci: np.ndarray, cj: np.ndarray, wx: np.ndarray, wy: np.ndarray, w: np.ndarray,
                     cell: float) -> np.ndarray:
    """The ancillary weight that falls in each listed cell (np.bincount over matched cell keys).

    Cells listed twice (units that overlap) each get the full weight of their square.
    """
    if len(ci) == 0 or len(w) == 0:
        return np.zeros(len(ci))
    wi, wj = np.floor(wx / cell).astype(np.int64), np.floor(wy / cell).astype(np.int64)
    i0, j0 = min(ci.min(), wi.min()), min(cj.min(), wj.min())
    height = max(cj.max(), wj.max()) - j0 + 1
    keys, cell_of_key = np.unique((ci - i0) * height + (cj - j0), return_inverse=True)
    point_key = (wi - i0) * height + (wj - j0)
    pos = np.minimum(np.searchsorted(keys, point_key), len(keys) - 1)
    hit = keys[pos] == point_key                 # points in some unit's cell; the rest fall outside all units
    per_key = np.bincount(pos[hit], weights=w[hit], minlength=len(keys))
    return per_key[cell_of_key]


def _shares(unit: np.ndarray, weight: np.ndarray, n_units: int) -> np.ndarray:
    """Each cell's share of its unit: weight / unit weight, or 1 / cells where the unit has no weight."""
    per_unit = np.bincount(unit, weights=weight, minlength=n_units)
    cells_per_unit = np.bincount(unit, minlength=n_units)
    weighted = per_unit[unit] > 0
    share = np.empty(len(unit))
    share[weighted] = weight[weighted] / per_unit[unit][weighted]
    share[~weighted] = 1.0 / cells_per_unit[unit][~weighted]
    return share


def _check_inputs(units: gpd.GeoDataFrame, population: np.ndarray, w: np.ndarray, cell_size_m: float) -> None:
    if units.crs is not None and units.crs.is_geographic:
        raise ValueError("units must be in a metric CRS (project them first), not longitude/latitude")
    if not np.isfinite(cell_size_m) or cell_size_m <= 0:
        raise ValueError(f"cell_size_m must be a positive number of metres, not {cell_size_m!r}")
    if len(population) != len(units):
        raise ValueError(f"{len(population)} population values for {len(units)} units")
    if not np.isfinite(population).all() or (population < 0).any():
        raise ValueError("unit populations must be finite and not negative")
    if (units.geometry.isna() | units.geometry.is_empty).any():
        raise ValueError("every unit needs a geometry (some are missing or empty)")
    if not np.isfinite(w).all() or (w < 0).any():
        raise ValueError("ancillary weights must be finite and not negative")


def allocate_counts(units: gpd.GeoDataFrame, population: ArrayLike, wx: ArrayLike, wy: ArrayLike, w: ArrayLike,
                    cell_size_m: float) -> gpd.GeoDataFrame:
    """:func:`allocate` with the populations and weighted points given as plain arrays."""
    population = np.asarray(population, dtype=float)
    wx, wy, w = (np.asarray(a, dtype=float).ravel() for a in (wx, wy, w))
    cell = float(cell_size_m)
    _check_inputs(units, population, w, cell)
    geometries = units.geometry.to_numpy()
    ci, cj, unit = grid_cells(geometries, cell)
    weight = _weight_per_cell(ci, cj, wx, wy, w, cell)
    cx, cy = (ci + 0.5) * cell, (cj + 0.5) * cell
    empty = np.setdiff1d(np.arange(len(units)), unit)
    if len(empty):                                   # units too small to hold a cell centre
        reps = shapely.point_on_surface(geometries[empty])
        cx = np.concatenate([cx, shapely.get_x(reps)])
        cy = np.concatenate([cy, shapely.get_y(reps)])
        unit = np.concatenate([unit, empty])
        weight = np.concatenate([weight, np.zeros(len(empty))])
    people = population[unit] * _shares(unit, weight, len(units))
    return gpd.GeoDataFrame({"population": people, "unit": unit, "cell_m": cell},
                            geometry=gpd.points_from_xy(cx, cy), crs=units.crs)


def _weight_triple(weights_points: object) -> WeightPoints:
    """(x, y, weight) from a triple of arrays or an (n, 3) array."""
    if isinstance(weights_points, np.ndarray) and weights_points.ndim == 2 and weights_points.shape[1] == 3:
        return weights_points[:, 0], weights_points[:, 1], weights_points[:, 2]
    x, y, w = weights_points
    return np.asarray(x, float), np.asarray(y, float), np.asarray(w, float)


def allocate(units: gpd.GeoDataFrame, weights_points: WeightPoints | np.ndarray, cell_size_m: float,
             *, population: str = "population") -> gpd.GeoDataFrame:
    """Cell centroids (points in the units' metric CRS) with columns population, unit and cell_m.

    ``units`` has a population column (``population``, by default "population");
    ``weights_points`` is (x, y, weight) arrays or an (n, 3) array of ancillary points, e.g.
    :func:`road_weights` combined with settlement points by :func:`combine_weights`. ``unit`` is the
    row position in ``units``; x and y are the geometry's coordinates. Each unit's population is
    shared among its cells in proportion to the weight in them (evenly without weight), conserving the
    unit's total. :func:`allocate_counts` takes the totals and weights as plain arrays.
    """
    if population not in units.columns:
        raise InputError(f"the units have no population column '{population}'; they have: "
                         f"{', '.join(map(str, units.columns))}.", field=population,
                         fix="join the census table to the units first, or name its population column.")
    counts = pd.to_numeric(units[population], errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero(~np.isfinite(counts) | (counts < 0))
    if len(bad):
        raise InputError(f"{len(bad)} unit(s) have no valid population in '{population}' (unit(s) "
                         f"{', '.join(str(i + 1) for i in bad[:5])}, counting from 1).", field=population,
                         fix="give every unit a population of 0 or more.")
    return allocate_counts(units, counts, *_weight_triple(weights_points), cell_size_m)
