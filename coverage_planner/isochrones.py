"""Isochrone polygons for display: contours of the travel-time field (never used to count coverage).

How a polygon is made, for one facility and one time limit:

1. **A time grid, once per travel profile** (:mod:`time_grid`): square pixels (``pixel_m``, 100 m by
   default) over the routable roads plus ``max_access_m``, each joined to its nearest road vertex, hence
   a road segment, a position along it and an access leg, as a population cell is snapped. Each
   pixel's two arrival nodes and costs (access leg included) are kept with it.
2. **The time field, per facility.** Bounded Dijkstra runs (:meth:`Router.bounded_node_rows`: scipy's
   compiled loop over a batch of facilities per call) give the time to every road node within the
   largest limit; each pixel's time is the engine's formula for a cell: facility offset (turnout,
   facility access leg) + road time to either end of the pixel's segment + the part of the segment +
   the pixel's access leg at the profile's access speed. A pixel on the facility's own segment may be
   reached straight along it (:meth:`Router.same_segment`). Partial edges (reached from one end only)
   are part of the field like every other road point. The field is computed (numpy gathers) only on
   the facility's window: the box of the segments at the nodes it reaches (so the whole of a partial
   last edge) and of its own segment, plus the longest access leg; both limits come from one field.
3. **Filled contours** of that field (``contourpy``, marching squares with linear interpolation) at
   the limit plus half a pixel of walking (``pixel_m / 2`` at the access speed, 36 s at 100 m and
   5 km/h): the grid cannot place the boundary closer than half a pixel, and the margin keeps every
   cell the engine reaches inside. Each limit is contoured on the part of the field around its values
   at or under the limit.
4. **Clean-up**: holes and specks smaller than ``(2 × pixel_m)²`` are dropped, rings are simplified
   by half a pixel (Douglas–Peucker; a part made invalid by it is repaired with ``make_valid``), and
   the parts become one (Multi)Polygon per facility and limit (empty when nothing is reached, e.g. a
   turnout longer than the limit).

The result is the set of places the engine itself would count as reached, to about a pixel; no
hulls, no spikes out to lone road nodes, no slivers. On the demo each polygon holds ≥ 99.5% of the
cells the engine reaches within its limit and < 0.1% of those it reaches only after limit + 2 min
(``tests/test_isochrones.py``). Grids above ``time_grid.MAX_PIXELS`` pixels use larger pixels (the polygons are
for display). Grid and pixel arrivals are cached in ``TravelModel.routers`` (keys starting with
``"isochrone"``), so every facility group of a run shares them.

Speed: facilities go in batches: one compiled Dijkstra call for the batch, then steps 2–4 of its
facilities in drawing threads (contourpy, GEOS and numpy's large operations release the GIL; scipy's
Dijkstra holds it, so the two do not overlap); the polygons do not depend on the number of threads.
The coverage run's own searches are multi-source (nearest facility only), so they hold no
per-facility times to reuse; the grid is what a second facility group reuses.
``benchmarks/bench_isochrones.py`` times it all (250,000 road nodes, 50 facilities, 15 and 30 min).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass

import contourpy
import geopandas as gpd
import numpy as np
import shapely

from .coverage import TravelModel
from .time_grid import PIXEL_M, TimeGrid, snappable_bounds, time_grid
from .travel import Router, Snapped, _arriving

MAX_WORKERS = 4                # polygon-drawing threads (contourpy, GEOS and numpy release the GIL)
DIJKSTRA_FLOATS = 4_000_000    # facilities share one compiled Dijkstra call: up to 32 MB of node costs
COLUMNS = ["facility_id", "name", "type", "minutes", "direction", "profile", "geometry"]


@dataclass(frozen=True)
class _Arrivals:
    """Per pixel: the two road nodes it is reached from and the cost from each (the router's direction),
    the pixel's access leg included; and per road node, the box its pixels can lie in.

    ``box`` is ``(4, n_nodes)``: xmin, ymin, xmax, ymax of the snappable segments at the node (the node
    itself where there are none). A pixel reached through a node lies on one of those segments plus its
    access leg, even when the segment's other end is not reached (a partial last edge).
    """

    n1: np.ndarray
    c1: np.ndarray
    n2: np.ndarray
    c2: np.ndarray
    box: np.ndarray


def _arrivals(model: TravelModel, grid: TimeGrid, router: Router, direction: str) -> _Arrivals:
    key = ("isochrone_arrivals", grid.pixel_m, direction, model.access_mps)
    if key not in model.routers:
        net = model.net
        seg = grid.seg.ravel()
        pts = Snapped(np.maximum(seg, 0), grid.frac.ravel(), grid.access_m.ravel())
        (n1, c1), (n2, c2) = _arriving(router.graph, pts, net.seg_a, net.seg_b)
        walk = np.where(seg < 0, np.inf, grid.access_m.ravel() / model.access_mps)
        c1, c2 = c1 + walk, c2 + walk
        n1, n2 = n1.astype(np.int32), n2.astype(np.int32)
        model.routers[key] = _Arrivals(*(a.reshape(grid.shape) for a in (n1, c1, n2, c2)),
                                       _node_boxes(net, np.flatnonzero(model.snappable), snappable_bounds(model)))
    return model.routers[key]


def _node_boxes(net, segs: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """(4, n_nodes): bounds of the union of the given segments (``bounds``: theirs, (n, 4)) at each node
    (the node's point where there are none)."""
    box = np.stack([net.node_x, net.node_y, net.node_x, net.node_y]).astype(float)
    for end in (net.seg_a[segs], net.seg_b[segs]):
        for j, ufunc in enumerate((np.minimum, np.minimum, np.maximum, np.maximum)):
            ufunc.at(box[j], end, bounds[:, j])
    return box


def _time_field(arr: _Arrivals, node_time: np.ndarray, window: tuple[slice, slice]) -> np.ndarray:
    """Travel time (s) to the pixels of a window of the grid, through the road nodes' times.

    Parameters
    ----------
    arr : _Arrivals
        The pixels' arrival nodes and costs (access legs included) for the router in use.
    node_time : ndarray
        Time to every road node (inf where not reached).
    window : (slice, slice)
        Rows and columns of the grid.

    Returns
    -------
    ndarray
        Seconds per pixel of the window (inf where not reached), C-contiguous.
    """
    out = np.take(node_time, arr.n1[window])
    out += arr.c1[window]
    via2 = np.take(node_time, arr.n2[window])
    via2 += arr.c2[window]
    np.minimum(out, via2, out=out)
    return out


def _window(grid: TimeGrid, box: np.ndarray, pad_m: float) -> tuple[slice, slice]:
    """Rows and columns of the grid covering a box (xmin, ymin, xmax, ymax), ``pad_m`` beyond it (clipped)."""
    rows, cols = grid.shape
    c0 = int(np.clip(np.floor((box[0] - pad_m - grid.x0) / grid.pixel_m), 0, cols))
    c1 = int(np.clip(np.ceil((box[2] + pad_m - grid.x0) / grid.pixel_m) + 1, 0, cols))
    r0 = int(np.clip(np.floor((box[1] - pad_m - grid.y0) / grid.pixel_m), 0, rows))
    r1 = int(np.clip(np.ceil((box[3] + pad_m - grid.y0) / grid.pixel_m) + 1, 0, rows))
    return slice(r0, r1), slice(c0, c1)


def _reach_box(arr: _Arrivals, nodes: np.ndarray, own: np.ndarray) -> np.ndarray:
    """Box (xmin, ymin, xmax, ymax) of the segments at the given (reached) nodes and of the box ``own``."""
    if len(nodes) == 0:
        return own
    b = arr.box[:, nodes]
    return np.array([min(b[0].min(), own[0]), min(b[1].min(), own[1]), max(b[2].max(), own[2]),
                     max(b[3].max(), own[3])])


def _own_segment(field: np.ndarray, grid: TimeGrid, window: tuple[slice, slice], near: tuple[slice, slice],
                 router: Router, src: Snapped, offset: float, access_mps: float) -> None:
    """Lower the times of pixels on the facility's own segment to the direct trip along it (in place).

    ``field`` covers ``window``; only its pixels within ``near`` (the own segment's box plus the longest
    access leg) are looked at.
    """
    rows = slice(max(near[0].start, window[0].start), min(near[0].stop, window[0].stop))
    cols = slice(max(near[1].start, window[1].start), min(near[1].stop, window[1].stop))
    if rows.start >= rows.stop or cols.start >= cols.stop:
        return
    seg = grid.seg[rows, cols]
    r, c = np.nonzero(seg == src.seg[0])
    if len(r) == 0:
        return
    pts = Snapped(seg[r, c], grid.frac[rows, cols][r, c], grid.access_m[rows, cols][r, c])
    d, _s, direct = router.same_segment(src, np.array([offset]), pts, pts.access_m / access_mps)
    flat = field.reshape(-1)
    np.minimum.at(flat, ((r + rows.start - window[0].start) * field.shape[1] + c + cols.start - window[1].start)[d],
                  direct)


def _crop(field: np.ndarray, level: float) -> tuple[slice, slice]:
    """Rows and columns of a field around its values ≤ ``level``, one more on each side (within the field)."""
    inside = field <= level
    r = np.flatnonzero(inside.any(axis=1))
    if len(r) == 0:
        return slice(0, 0), slice(0, 0)
    c = np.flatnonzero(inside[r[0]:r[-1] + 1].any(axis=0))
    return (slice(max(r[0] - 1, 0), r[-1] + 2), slice(max(c[0] - 1, 0), c[-1] + 2))


def filled_polygons(gen: contourpy.ContourGenerator, level: float, min_area: float,
                    tolerance: float, origin: tuple[float, float] = (0.0, 0.0),
                    pixel: float = 1.0) -> shapely.Geometry:
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
    origin, pixel : (float, float), float
        Where the field's element (0, 0) lies and the spacing of its elements: point (column j, row i)
        of the contours becomes ``(origin[0] + j * pixel, origin[1] + i * pixel)``.

    Returns
    -------
    shapely.Geometry
        A Polygon or MultiPolygon (empty when no part is left).
    """
    points, offsets, outer = (part[0] for part in gen.filled(-np.inf, level))
    if points is None:
        return shapely.MultiPolygon()
    points = points * pixel
    points += origin
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
    # simplifying can pinch a polygon into several (a MultiPolygon) or collapse it: keep polygons only
    parts = shapely.get_parts(parts)
    parts = parts[(shapely.get_type_id(parts) == shapely.GeometryType.POLYGON) & ~shapely.is_empty(parts)]
    if len(parts) == 0:
        return shapely.MultiPolygon()
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


def contours(field: np.ndarray) -> contourpy.ContourGenerator | None:
    """A filled-contour generator of a finite field, in the field's index coordinates (column, row).

    None when the field is too small to contour (fewer than two rows or columns). The field must hold
    no inf or nan (no mask is made; contourpy's checks for them are skipped).
    """
    if field.shape[0] < 2 or field.shape[1] < 2:
        return None
    x, y = np.meshgrid(np.arange(field.shape[1], dtype=float), np.arange(field.shape[0], dtype=float))
    return contourpy.SerialContourGenerator(x, y, np.ascontiguousarray(field, dtype=float), None, corner_mask=True,
                                            line_type=contourpy.LineType.Separate,
                                            fill_type=contourpy.FillType.ChunkCombinedOffsetOffset,
                                            quad_as_tri=False, z_interp=contourpy.ZInterp.Linear)


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
                        pixel_m: float = PIXEL_M, workers: int | None = None) -> gpd.GeoDataFrame:
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
    workers : int, optional
        Threads drawing a batch of facilities' polygons at once, after the batch's Dijkstra runs (scipy's
        call holds the GIL, so searches and drawing do not overlap); default ``min(MAX_WORKERS, CPU
        count)``, 0 or 1 for none. The polygons are the same whatever the number.

    Returns
    -------
    GeoDataFrame
        Columns facility_id, name, type, minutes, direction, profile, geometry; rows by facility,
        then by limit (ascending).
    """
    fac_idx = np.asarray(fac_idx, dtype=np.int64)
    if not minutes or len(fac_idx) == 0:
        return gpd.GeoDataFrame(columns=COLUMNS, geometry="geometry", crs=model.net.crs)
    workers = min(MAX_WORKERS, os.cpu_count() or 1) if workers is None else int(workers)
    router = model.router(direction, "time")
    grid = time_grid(model, pixel_m)
    arr = _arrivals(model, grid, router, direction)
    v = model.access_mps
    levels = sorted(float(m) for m in minutes)
    seconds = [m * 60.0 + grid.pixel_m / 2 / v for m in levels]   # the contour levels: plus half a pixel's walk
    src = model.fac_snap.take(fac_idx)
    start = offsets_s[fac_idx] + src.access_m / v
    own = shapely.bounds(model.net.seg_geometry[src.seg])   # pixels reached straight along the own segment
    fx, fy = facilities.geometry.x.to_numpy()[fac_idx], facilities.geometry.y.to_numpy()[fac_idx]
    own = np.column_stack([np.minimum(own[:, 0], fx), np.minimum(own[:, 1], fy),
                           np.maximum(own[:, 2], fx), np.maximum(own[:, 3], fy)])
    batch = max(1, min(len(fac_idx), DIJKSTRA_FLOATS // (model.net.n_nodes + len(fac_idx))))

    def draw(item: tuple[int, np.ndarray]) -> list[shapely.Geometry]:
        k, node_time = item
        return _facility_polygons(model, grid, arr, router, src.take(np.array([k])), float(start[k]), own[k],
                                  node_time, seconds)

    geoms: list[shapely.Geometry] = []
    with ThreadPoolExecutor(workers) if workers > 1 else nullcontext() as pool:
        chunk = []
        for item in router.bounded_node_rows(src, start, seconds[-1], batch):
            chunk.append(item)
            if len(chunk) == batch or item[0] == len(fac_idx) - 1:   # a batch's searches done: draw them
                for polygons in (pool.map(draw, chunk) if pool else map(draw, chunk)):
                    geoms += polygons
                chunk = []
    take = np.repeat(fac_idx, len(levels))
    frame = {"facility_id": facilities["facility_id"].to_numpy()[take], "name": facilities["name"].to_numpy()[take],
             "type": facilities["type"].to_numpy()[take], "minutes": np.tile(levels, len(fac_idx)),
             "direction": direction, "profile": model.name, "geometry": geoms}
    return gpd.GeoDataFrame(frame, columns=COLUMNS, geometry="geometry", crs=model.net.crs)


def _facility_polygons(model: TravelModel, grid: TimeGrid, arr: _Arrivals, router: Router, src: Snapped,
                       start: float, own: np.ndarray, node_time: np.ndarray,
                       seconds: list[float]) -> list[shapely.Geometry]:
    """One facility's polygons, one per contour level (ascending ``seconds``), from its node times.

    The field is computed once, on the window of the largest level (the segments at nodes reached
    within it, plus the longest access leg); each level is contoured on the part of that field around
    its values ≤ the level.
    """
    v, limit = model.access_mps, seconds[-1]
    window = _window(grid, _reach_box(arr, np.flatnonzero(node_time <= limit), own),
                     min(model.max_access_m, limit * v) + grid.pixel_m)
    field = _time_field(arr, node_time, window)
    _own_segment(field, grid, window, _window(grid, own, model.max_access_m + grid.pixel_m), router, src, start, v)
    np.minimum(field, limit + grid.pixel_m / v, out=field)     # beyond the search: one pixel's walk past it
    geoms = []
    for level in seconds:
        rows, cols = _crop(field, level)
        gen = contours(field[rows, cols])
        origin = (grid.x0 + (window[1].start + cols.start) * grid.pixel_m,
                  grid.y0 + (window[0].start + rows.start) * grid.pixel_m)
        geoms.append(shapely.MultiPolygon() if gen is None else
                     filled_polygons(gen, level, (2 * grid.pixel_m) ** 2, grid.pixel_m / 2, origin, grid.pixel_m))
    return geoms
