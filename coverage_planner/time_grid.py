"""The time grid of the isochrones: square pixels, each joined to a road point as a population cell is.

Square pixels (``pixel_m``, 100 m by default) cover the routable roads plus the no-road-access
distance (``max_access_m``) around them. Every pixel centre is joined to a road point the way a
population cell is (:mod:`travel`): the roads are cut into vertices at most a pixel apart (a road end
shared by several segments only once), and a Euclidean distance transform
(:func:`scipy.ndimage.distance_transform_edt`) gives each pixel its nearest road vertex, hence its road
segment, its position along it and its access leg (the straight distance to that vertex: at most
about a pixel longer than to the nearest road point). This stands in for snapping every pixel (GEOS
nearest-segment queries), which costs an order of magnitude more. Pixels farther than
``max_access_m`` from any road are never reached, as the engine reports such cells as
``no_road_access``. Grids above ``MAX_PIXELS`` pixels use larger pixels (the polygons are for
display). The grid is built once per travel model and pixel size and cached on the model
(``TravelModel.routers``); :mod:`isochrones` draws the polygons on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from scipy.ndimage import distance_transform_edt

from .coverage import TravelModel

PIXEL_M = 100.0             # default pixel size of the time grid (metres)
MAX_PIXELS = 3_000_000      # larger grids get larger pixels (about 50 bytes a pixel are kept)


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
        lo, hi, size = _grid_frame(model, pixel_m)
        model.routers[key] = _build_grid(model.net, model.snappable, lo, hi, size, model.max_access_m)
    return model.routers[key]


def _grid_frame(model: TravelModel, pixel_m: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Lower-left and upper-right corners of the time grid and its pixel size (cached on the model)."""
    key = ("isochrone_frame", float(pixel_m))
    if key not in model.routers:
        seg_bounds = snappable_bounds(model)
        bounds = np.r_[np.nanmin(seg_bounds[:, :2], axis=0), np.nanmax(seg_bounds[:, 2:], axis=0)] \
            if len(seg_bounds) else np.full(4, np.nan)                   # as shapely.total_bounds
        lo, hi = bounds[:2] - model.max_access_m, bounds[2:] + model.max_access_m
        model.routers[key] = (lo, hi, max(float(pixel_m), float(np.sqrt(np.prod(hi - lo) / MAX_PIXELS))))
    return model.routers[key]


def _road_vertices(geoms: np.ndarray, spacing: float, start_node: np.ndarray | None = None,
                   end_node: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points at most ``spacing`` apart along each line: coordinates, line index, position (0–1).

    Each straight piece of a line is cut into equal steps (numpy, no per-line loop); the lines' last
    vertices are added. Given the road nodes at the lines' ends, a line's end point is left out where an
    earlier point (a lower index) lies at exactly the same place: the first point of the lowest-numbered
    line starting at that node, or the last point of the lowest-numbered line ending there. Such a point
    could never be a pixel's nearest (ties go to the lowest index), so the result is the same, with
    about half the points on a street grid.
    """
    xy, line = shapely.get_coordinates(geoms, return_index=True)
    step = np.r_[0.0, np.hypot(*np.diff(xy, axis=0).T)]
    first = np.r_[True, line[1:] != line[:-1]]
    ends = np.flatnonzero(np.r_[first[1:], True])
    head = np.flatnonzero(first)
    keep_head = np.ones(len(geoms), dtype=bool)
    keep_tail = np.ones(len(geoms), dtype=bool)
    if start_node is not None and end_node is not None:
        keep_head, keep_tail = _unique_ends(xy[head], xy[ends], start_node, end_node)
    step[first] = 0.0
    along = np.cumsum(step)
    along -= np.maximum.accumulate(np.where(first, along, 0.0))      # distance from the line's start
    start = np.flatnonzero(~first[1:])                                 # pieces: vertex i to i + 1
    length = step[start + 1]
    n = np.maximum(1, np.ceil(length / spacing)).astype(np.int64)
    skip = (~keep_head[line[start]] & first[start]).astype(np.int64)  # a line's first point left out
    count = n - skip
    piece = np.repeat(np.arange(len(start)), count)
    t = np.arange(len(piece)) - np.repeat(np.cumsum(count) - count - skip, count)
    t = t / n[piece]
    last = ends[keep_tail]
    delta = (xy[start + 1] - xy[start])[piece]
    delta *= t[:, None]
    delta += xy[start][piece]
    pts = np.concatenate([delta, xy[last]])
    pos = np.concatenate([along[start][piece] + t * length[piece], along[last]])
    owner = np.concatenate([line[start][piece], line[last]])
    total = np.zeros(len(geoms))
    total[line[ends]] = along[ends]
    return pts, owner, np.divide(pos, total[owner], out=np.zeros_like(pos), where=total[owner] > 0)


def _unique_ends(head: np.ndarray, tail: np.ndarray, start_node: np.ndarray,
                 end_node: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which lines' first and last points to keep: not those with an exact copy at a lower point index.

    Points are numbered first points (by line) before last points, so at a node the kept copy is the
    first point of the lowest line starting there, else the last point of the lowest line ending there.
    """
    n = len(head)
    if n == 0:
        return np.ones(0, dtype=bool), np.ones(0, dtype=bool)
    n_nodes = int(max(start_node.max(), end_node.max())) + 1
    lines = np.arange(n)
    low_start = np.full(n_nodes, n)
    np.minimum.at(low_start, start_node, lines)
    low_end = np.full(n_nodes, n)
    np.minimum.at(low_end, end_node, lines)
    hx, hy = np.r_[head[:, 0], np.nan], np.r_[head[:, 1], np.nan]     # index n: no such line
    tx, ty = np.r_[tail[:, 0], np.nan], np.r_[tail[:, 1], np.nan]
    at = low_start[start_node]
    keep_head = (at == lines) | (hx[at] != hx[:n]) | (hy[at] != hy[:n])
    at = low_start[end_node]
    copy_head = (hx[at] == tx[:n]) & (hy[at] == ty[:n])                # a first point sits there
    at = low_end[end_node]
    copy_tail = (at < lines) & (tx[at] == tx[:n]) & (ty[at] == ty[:n])
    return keep_head, ~(copy_head | copy_tail)


def _nearest_vertex_per_pixel(pix: np.ndarray, off: np.ndarray, n_pixels: int) -> np.ndarray:
    """For each pixel, the index of the vertex nearest its centre among those inside it (-1 for none)."""
    key = (np.rint(off * 100.0).astype(np.int64) << 32) | np.arange(len(pix), dtype=np.int64)
    best = np.full(n_pixels, np.iinfo(np.int64).max)
    np.minimum.at(best, pix, key)                       # nearest first, then the lowest index: deterministic
    return np.where(best < np.iinfo(np.int64).max, best & 0xFFFFFFFF, -1)


def snappable_bounds(model: TravelModel) -> np.ndarray:
    """(n, 4) bounds of the model's snappable segments, in segment order (cached on the model)."""
    key = ("isochrone_seg_bounds",)
    if key not in model.routers:
        model.routers[key] = shapely.bounds(model.net.seg_geometry[model.snappable])
    return model.routers[key]


def _build_grid(net, snappable: np.ndarray, lo: np.ndarray, hi: np.ndarray, pixel_m: float,
                max_access_m: float, drop_copies: bool = True) -> TimeGrid:
    """Rasterise the snappable roads' vertices, then join every pixel to its nearest vertex (EDT).

    ``drop_copies=False`` keeps every line's end points (the same grid, more work; for tests).
    """
    segs = np.flatnonzero(snappable)
    ncol, nrow = (np.floor((hi - lo) / pixel_m).astype(int) + 1)
    ends = (net.seg_a[segs], net.seg_b[segs]) if drop_copies else (None, None)
    xy, line, frac = _road_vertices(net.seg_geometry[segs], pixel_m, *ends)
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


__all__ = ["MAX_PIXELS", "PIXEL_M", "TimeGrid", "snappable_bounds", "time_grid"]
