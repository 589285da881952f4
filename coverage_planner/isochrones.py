"""Isochrone polygons for display: contours of the travel-time field (never used to count coverage).

How a polygon is made, for one facility and one time limit:

1. **A time grid, once per travel profile.** Square pixels (``pixel_m``, 100 m by default) cover the
   routable roads plus the no-road-access distance (``max_access_m``) around them. Every pixel centre
   is joined to a road point the way a population cell is (:mod:`travel`): the roads are cut into
   vertices at most a pixel apart, and a Euclidean distance transform
   (:func:`scipy.ndimage.distance_transform_edt`) gives each pixel its nearest road vertex, hence its
   road segment, its position along it and its access leg (the straight distance to that vertex: at
   most about a pixel longer than to the nearest road point). This stands in for snapping every pixel
   (GEOS nearest-segment queries), which costs an order of magnitude more. Pixels farther than
   ``max_access_m`` from any road are never reached, as the engine reports such cells as ``no_road_access``.
2. **The time field, per facility.** One bounded Dijkstra run (the engine's
   :meth:`Router.bounded_node_costs`) gives the time to every road node within the largest limit;
   each pixel's time is the engine's formula for a cell: facility offset (turnout, facility access
   leg) + road time to either end of the pixel's segment + the part of the segment + the pixel's
   access leg at the profile's access speed. A pixel on the facility's own segment may be reached
   straight along it (:meth:`Router.same_segment`). Partial edges (reached from one end only) are
   part of the field like every other road point.
3. **Filled contours** of that field (``contourpy``, marching squares with linear interpolation) at
   the limit plus half a pixel of walking (``pixel_m / 2`` at the access speed, 36 s at 100 m and
   5 km/h): the grid cannot place the boundary closer than half a pixel, and the margin keeps every
   cell the engine reaches inside.
4. **Clean-up**: holes and specks smaller than ``(2 × pixel_m)²`` are dropped, rings are simplified
   by half a pixel (Douglas–Peucker; a part made invalid by it is repaired with ``make_valid``), and
   the parts become one (Multi)Polygon per facility and limit (empty when nothing is reached, e.g. a
   turnout longer than the limit).

The result is the set of places the engine itself would count as reached, to about a pixel; no
hulls, no spikes out to lone road nodes, no slivers. On the demo each polygon holds ≥ 99.5% of the
cells the engine reaches within its limit and < 0.1% of those it reaches only after limit + 2 min
(``tests/test_isochrones.py``). Grids above ``MAX_PIXELS`` pixels use larger pixels (the polygons are
for display). Grid and pixel arrivals are cached in ``TravelModel.routers`` (keys starting with
``"isochrone"``), so every facility group of a run shares them.
"""

from __future__ import annotations

from dataclasses import dataclass

import contourpy
import geopandas as gpd
import numpy as np
import shapely
from scipy.ndimage import distance_transform_edt

from .coverage import TravelModel
from .travel import Router, Snapped, _arriving

PIXEL_M = 100.0             # default pixel size of the time grid (metres)
MAX_PIXELS = 3_000_000      # larger grids get larger pixels (about 50 bytes a pixel are kept)
COLUMNS = ["facility_id", "name", "type", "minutes", "direction", "profile", "geometry"]


@dataclass(frozen=True)
class TimeGrid:
    """Pixel centres of a square grid, each joined to a road point (segment, position, access leg).

    Arrays have the grid's shape ``(rows, columns)``; row ``i`` lies at ``y0 + i * pixel_m`` and
    column ``j`` at ``x0 + j * pixel_m``. ``seg`` is -1 for pixels with no road within
    ``max_access_m``.
    """

    x0: float
    y0: float
    pixel_m: float
    seg: np.ndarray
    frac: np.ndarray
    access_m: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.seg.shape

    @property
    def xs(self) -> np.ndarray:
        return self.x0 + self.pixel_m * np.arange(self.shape[1])

    @property
    def ys(self) -> np.ndarray:
        return self.y0 + self.pixel_m * np.arange(self.shape[0])


def time_grid(model: TravelModel, pixel_m: float = PIXEL_M) -> TimeGrid:
    """The model's time grid (built once per pixel size and cached on the model).

    Parameters
    ----------
    model : TravelModel
        The travel profile's network and snapping; pixels join its snappable core roads.
    pixel_m : float
        Wanted pixel size in metres (raised when the grid would exceed ``MAX_PIXELS``).

    Returns
    -------
    TimeGrid
    """
    key = ("isochrone_grid", float(pixel_m))
    if key not in model.routers:     # the model's cache of derived search structures
        model.routers[key] = _build_grid(model.net, model.snappable, float(pixel_m), model.max_access_m)
    return model.routers[key]


def _road_vertices(geoms: np.ndarray, spacing: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at most ``spacing`` apart along each line: coordinates, line index, position (0–1).

    Each straight piece of a line is cut into equal steps (numpy, no per-line loop); the lines' last
    vertices are added.
    """
    xy, line = shapely.get_coordinates(geoms, return_index=True)
    step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    first = np.r_[True, line[1:] != line[:-1]]
    step[first] = 0.0
    along = np.cumsum(step)
    along -= np.maximum.accumulate(np.where(first, along, 0.0))      # distance from the line's start
    start = np.flatnonzero(~first[1:])                                 # pieces: vertex i to i + 1
    length = step[start + 1]
    n = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    piece = np.repeat(np.arange(len(start)), n)
    t = np.arange(len(piece)) - np.repeat(np.cumsum(n) - n, n)
    t = t / n[piece]
    last = np.flatnonzero(np.r_[first[1:], True])
    delta = (xy[start + 1] - xy[start])[piece]
    delta *= t[:, None]
    delta += xy[start][piece]
    pts = np.concatenate([delta, xy[last]])
    pos = np.concatenate([along[start][piece] + t * length[piece], along[last]])
    owner = np.concatenate([line[start][piece], line[last]])
    total = np.zeros(len(geoms))
    total[line[last]] = along[last]
    return pts, owner, np.divide(pos, total[owner], out=np.zeros_like(pos), where=total[owner] > 0)


def _nearest_vertex_per_pixel(pix: np.ndarray, off: np.ndarray, n_pixels: int) -> np.ndarray:
    """For each pixel, the index of the vertex nearest its centre among those inside it (-1 for none)."""
    key = (np.rint(off * 100.0).astype(np.int64) << 32) | np.arange(len(pix), dtype=np.int64)
    best = np.full(n_pixels, np.iinfo(np.int64).max)
    np.minimum.at(best, pix, key)                       # nearest first, then the lowest index: deterministic
    return np.where(best < np.iinfo(np.int64).max, best & 0xFFFFFFFF, -1)


def _build_grid(net, snappable: np.ndarray, pixel_m: float, max_access_m: float) -> TimeGrid:
    """Rasterise the snappable roads' vertices, then join every pixel to its nearest vertex (EDT)."""
    segs = np.flatnonzero(snappable)
    bounds = shapely.total_bounds(net.seg_geometry[segs])
    lo, hi = bounds[:2] - max_access_m, bounds[2:] + max_access_m
    pixel_m = max(pixel_m, float(np.sqrt(np.prod(hi - lo) / MAX_PIXELS)))
    ncol, nrow = (np.floor((hi - lo) / pixel_m).astype(int) + 1)
    xy, line, frac = _road_vertices(net.seg_geometry[segs], pixel_m)
    col = np.rint((xy[:, 0] - lo[0]) / pixel_m).astype(np.int64)
    row = np.rint((xy[:, 1] - lo[1]) / pixel_m).astype(np.int64)
    off = np.hypot(xy[:, 0] - (lo[0] + col * pixel_m), xy[:, 1] - (lo[1] + row * pixel_m))
    vertex = _nearest_vertex_per_pixel(row * ncol + col, off, nrow * ncol).reshape(nrow, ncol)
    near = distance_transform_edt(vertex < 0, return_distances=False, return_indices=True)
    v = vertex[near[0], near[1]]
    gx = lo[0] + pixel_m * np.arange(ncol)[None, :]
    gy = lo[1] + pixel_m * np.arange(nrow)[:, None]
    access = np.hypot(gx - xy[v, 0], gy - xy[v, 1])
    seg = np.where(access <= max_access_m, segs[line[v]], -1)
    return TimeGrid(float(lo[0]), float(lo[1]), pixel_m, seg, frac[v], access)


@dataclass(frozen=True)
class _Arrivals:
    """Per pixel: the two road nodes it is reached from and the cost from each (the router's direction)."""

    n1: np.ndarray
    c1: np.ndarray
    n2: np.ndarray
    c2: np.ndarray


def _arrivals(model: TravelModel, grid: TimeGrid, router: Router, direction: str) -> _Arrivals:
    key = ("isochrone_arrivals", grid.pixel_m, direction)
    if key not in model.routers:
        seg = grid.seg.ravel()
        pts = Snapped(np.maximum(seg, 0), grid.frac.ravel(), grid.access_m.ravel())
        (n1, c1), (n2, c2) = _arriving(router.graph, pts, model.net.seg_a, model.net.seg_b)
        none = seg < 0
        c1, c2 = np.where(none, np.inf, c1), np.where(none, np.inf, c2)
        n1, n2 = n1.astype(np.int32), n2.astype(np.int32)
        model.routers[key] = _Arrivals(*(a.reshape(grid.shape) for a in (n1, c1, n2, c2)))
    return model.routers[key]


def _time_field(grid: TimeGrid, arr: _Arrivals, node_time: np.ndarray, window: tuple[slice, slice],
               access_mps: float) -> np.ndarray:
    """Travel time (s) to the pixels of a window of the grid, through the road nodes' times.

    Parameters
    ----------
    grid : TimeGrid
    arr : _Arrivals
        The pixels' arrival nodes and costs for the router in use.
    node_time : ndarray
        Time to every road node (inf where not reached).
    window : (slice, slice)
        Rows and columns of the grid.
    access_mps : float
        Access speed (m/s) for the pixels' access legs.

    Returns
    -------
    ndarray
        Seconds per pixel of the window (inf where not reached).
    """
    out = node_time[arr.n1[window]]
    out += arr.c1[window]
    via2 = node_time[arr.n2[window]]
    via2 += arr.c2[window]
    np.minimum(out, via2, out=out)
    out += grid.access_m[window] / access_mps
    return out


def _window(grid: TimeGrid, x: np.ndarray, y: np.ndarray, pad_m: float) -> tuple[slice, slice]:
    """Rows and columns of the grid around points, ``pad_m`` beyond them (clipped to the grid)."""
    rows, cols = grid.shape
    c0 = int(np.clip(np.floor((x.min() - pad_m - grid.x0) / grid.pixel_m), 0, cols))
    c1 = int(np.clip(np.ceil((x.max() + pad_m - grid.x0) / grid.pixel_m) + 1, 0, cols))
    r0 = int(np.clip(np.floor((y.min() - pad_m - grid.y0) / grid.pixel_m), 0, rows))
    r1 = int(np.clip(np.ceil((y.max() + pad_m - grid.y0) / grid.pixel_m) + 1, 0, rows))
    return slice(r0, r1), slice(c0, c1)


def _own_segment(field: np.ndarray, grid: TimeGrid, window, router: Router, src: Snapped, offset: float,
                 access_mps: float) -> None:
    """Lower the times of pixels on the facility's own segment to the direct trip along it (in place)."""
    seg = grid.seg[window]
    own = np.flatnonzero(seg.ravel() == src.seg[0])
    if len(own) == 0:
        return
    pts = Snapped(seg.ravel()[own], grid.frac[window].ravel()[own], grid.access_m[window].ravel()[own])
    d, _s, direct = router.same_segment(src, np.array([offset]), pts, pts.access_m / access_mps)
    flat = field.reshape(-1)
    np.minimum.at(flat, own[d], direct)


def filled_polygons(gen: contourpy.ContourGenerator, level: float, min_area: float,
                    tolerance: float) -> shapely.Geometry:
    """The area where a field is ≤ ``level``, as one (Multi)Polygon without small holes or specks.

    Parameters
    ----------
    gen : contourpy.ContourGenerator
        Contour generator of the field (see :func:`contours`), with the ChunkCombinedOffsetOffset fill type.
    level : float
        Contour level.
    min_area : float
        Holes and parts smaller than this (square metres) are dropped.
    tolerance : float
        Simplification tolerance (metres; topology kept).

    Returns
    -------
    shapely.Geometry
        A Polygon or MultiPolygon (empty when no part is left).
    """
    points, offsets, outer = (part[0] for part in gen.filled(-np.inf, level))
    if points is None:
        return shapely.MultiPolygon()
    keep_ring, polygon_of_ring = _rings_to_keep(points, offsets.astype(np.int64), outer.astype(np.int64), min_area)
    if not keep_ring.any():
        return shapely.MultiPolygon()
    lengths = np.diff(offsets.astype(np.int64))
    coords = points[np.repeat(keep_ring, lengths)]
    ring_offsets = np.r_[0, np.cumsum(lengths[keep_ring])]
    per_polygon = np.bincount(polygon_of_ring[keep_ring], minlength=len(outer) - 1)
    poly_offsets = np.r_[0, np.cumsum(per_polygon[per_polygon > 0])]
    parts = shapely.from_ragged_array(shapely.GeometryType.POLYGON, coords, (ring_offsets, poly_offsets))
    parts = shapely.simplify(parts, tolerance, preserve_topology=False)   # Douglas–Peucker, then repair
    parts = parts[~shapely.is_empty(parts)]
    geom = parts[0] if len(parts) == 1 else shapely.multipolygons(parts)
    geom = geom if shapely.is_valid(geom) else shapely.union_all(shapely.make_valid(parts))
    return _without_specks(geom, min_area)   # simplifying can shrink a part or hole below min_area


def _without_specks(geom: shapely.Geometry, min_area: float) -> shapely.Geometry:
    """``geom`` without polygon parts or holes smaller than ``min_area`` (other geometry types dropped)."""
    parts = shapely.get_parts(geom)
    parts = parts[(shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & (shapely.area(parts) >= min_area)]
    if len(parts) == 0:
        return shapely.MultiPolygon()
    kept = []
    for part in parts:   # a few parts per isochrone
        holes = [ring for ring in part.interiors if shapely.Polygon(ring).area >= min_area]
        kept.append(part if len(holes) == len(part.interiors) else shapely.Polygon(part.exterior, holes))
    return kept[0] if len(kept) == 1 else shapely.MultiPolygon(kept)


def contours(xs: np.ndarray, ys: np.ndarray, field: np.ndarray) -> contourpy.ContourGenerator | None:
    """A filled-contour generator of a field on a grid (None when the grid is too small to contour)."""
    if field.shape[0] < 2 or field.shape[1] < 2:
        return None
    return contourpy.contour_generator(xs, ys, field, name="serial",
                                       fill_type=contourpy.FillType.ChunkCombinedOffsetOffset)


def _rings_to_keep(points: np.ndarray, offsets: np.ndarray, outer: np.ndarray,
                   min_area: float) -> tuple[np.ndarray, np.ndarray]:
    """Which rings to keep (outer rings and holes of at least ``min_area``) and each ring's polygon."""
    x, y = points[:, 0], points[:, 1]
    cross = np.r_[x[:-1] * y[1:] - x[1:] * y[:-1], 0.0]
    cross[offsets[1:] - 1] = 0.0                        # no pair across two rings
    area = np.abs(np.add.reduceat(cross, offsets[:-1])) / 2.0
    n_rings = len(offsets) - 1
    polygon_of_ring = np.repeat(np.arange(len(outer) - 1), np.diff(outer))
    is_outer = np.zeros(n_rings, dtype=bool)
    is_outer[outer[:-1]] = True
    big_polygon = area[outer[:-1]] >= min_area
    keep = big_polygon[polygon_of_ring] & (is_outer | (area >= min_area))
    return keep, polygon_of_ring


def facility_isochrones(model: TravelModel, facilities: gpd.GeoDataFrame, fac_idx: np.ndarray,
                        offsets_s: np.ndarray, direction: str, minutes: list[float],
                        pixel_m: float = PIXEL_M) -> gpd.GeoDataFrame:
    """One polygon per facility and time limit (minutes), as a GeoDataFrame in the region's CRS.

    Parameters
    ----------
    model : TravelModel
        Travel profile (network, speeds, snapping).
    facilities : GeoDataFrame
        All facilities (facility_id, name, type, geometry).
    fac_idx : ndarray
        Indices of the facilities to draw.
    offsets_s : ndarray
        Per facility (all of them): seconds added at the start (turnout), before the access leg.
    direction : str
        ``from_facility`` or ``to_facility``.
    minutes : list of float
        Time limits; an empty list gives an empty frame.
    pixel_m : float
        Pixel size of the time grid (metres).

    Returns
    -------
    GeoDataFrame
        Columns facility_id, name, type, minutes, direction, profile, geometry; rows by facility,
        then by limit (ascending).
    """
    fac_idx = np.asarray(fac_idx, dtype=np.int64)
    if not minutes or len(fac_idx) == 0:
        return gpd.GeoDataFrame(columns=COLUMNS, geometry="geometry", crs=model.net.crs)
    grid = time_grid(model, pixel_m)
    router = model.router(direction, "time")
    arr = _arrivals(model, grid, router, direction)
    v = model.access_mps
    margin = grid.pixel_m / 2 / v                      # half a pixel of walking
    levels = sorted(float(m) for m in minutes)
    limit = levels[-1] * 60.0 + margin
    fill = limit + grid.pixel_m / v                    # beyond the search: one pixel's walk past it
    pad = min(model.max_access_m, limit * v) + grid.pixel_m
    src_all = model.fac_snap.take(fac_idx)
    start = offsets_s[fac_idx] + src_all.access_m / v
    node_time = np.full(model.net.n_nodes, np.inf)
    rows = []
    for k, reached, costs in router.bounded_node_costs(src_all, start, limit):
        i = fac_idx[k]
        point = facilities.geometry.iloc[i]
        node_time[reached] = costs
        x0, y0, x1, y1 = shapely.bounds(model.net.seg_geometry[src_all.seg[k]])   # reached straight along it
        window = _window(grid, np.r_[model.net.node_x[reached], point.x, x0, x1],
                         np.r_[model.net.node_y[reached], point.y, y0, y1], pad)
        field = _time_field(grid, arr, node_time, window, v)
        _own_segment(field, grid, window, router, src_all.take(np.array([k])), float(start[k]), v)
        node_time[reached] = np.inf
        field = np.minimum(field, fill)
        gen = contours(grid.xs[window[1]], grid.ys[window[0]], field)
        for m in levels:
            geom = shapely.MultiPolygon() if gen is None else \
                filled_polygons(gen, m * 60.0 + margin, (2 * grid.pixel_m) ** 2, grid.pixel_m / 2)
            rows.append({"facility_id": facilities["facility_id"].iloc[i], "name": facilities["name"].iloc[i],
                         "type": facilities["type"].iloc[i], "minutes": m, "direction": direction,
                         "profile": model.name, "geometry": geom})
    return gpd.GeoDataFrame(rows, columns=COLUMNS, geometry="geometry", crs=model.net.crs)
