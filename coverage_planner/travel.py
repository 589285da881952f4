"""Travel costs between facilities and population cells on the road network, in compiled code.

Every point (cell centroid or facility) is snapped to its nearest road segment: it joins the road at
the nearest point on that segment after an *access leg* (the straight distance, walked at the
profile's access speed); the snapping index of a network and an allowed mask (:func:`snap_index`)
is built once and cached on the network for every later snap to them. A facility becomes a virtual
source node with arcs to the two ends of its segment; a cell is reached from the two ends of its
segment. Shortest paths are scipy's Dijkstra on a CSR matrix: one multi-source run (``min_only``) for
the nearest facility, or bounded runs (``limit``) per facility for isochrones and covering sets.

Direction: ``from_facility`` searches forward from facilities (an ambulance driving to a patient);
``to_facility`` searches the transposed graph (a patient travelling to a clinic).
"""

from __future__ import annotations

import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely
from scipy.sparse.csgraph import dijkstra

from .network import Graph, RoadNetwork, build_graph

FROM_FACILITY = "from_facility"
TO_FACILITY = "to_facility"


@dataclass(frozen=True)
class Snapped:
    """Points snapped to segments: segment index, position along it (0 at a, 1 at b), access leg (m)."""

    seg: np.ndarray
    frac: np.ndarray
    access_m: np.ndarray

    def __len__(self) -> int:
        return len(self.seg)

    def take(self, idx: np.ndarray) -> "Snapped":
        return Snapped(self.seg[idx], self.frac[idx], self.access_m[idx])


def snap(net: RoadNetwork, x: np.ndarray, y: np.ndarray, allowed: np.ndarray | None = None,
         tree: shapely.STRtree | None = None, index: "SnapIndex | None" = None) -> Snapped:
    """Snap points to the nearest road segment.

    Parameters
    ----------
    net : RoadNetwork
        The roads, in a projected metric CRS.
    x, y : numpy.ndarray
        Point coordinates in the network's CRS; every one must be finite.
    allowed : numpy.ndarray of bool, optional
        Only these segments may be joined (all of them if not given).
    tree : shapely.STRtree, optional
        An STRtree over ``net.seg_geometry[allowed]`` (in that order), reused where one is needed.
    index : SnapIndex, optional
        The snapping index of ``net`` and ``allowed`` (:func:`snap_index`); by default the one cached
        on the network is used, and built (then cached) unless a ``tree`` is given for a small batch.

    Returns
    -------
    Snapped
        Per point: the nearest segment, the position of the nearest point on it as a share of the
        segment's length from its start (``shapely.line_locate_point(..., normalized=True)``; 0 for a
        segment of zero length) and the straight distance to it in metres (GEOS's point-to-line
        distance, as ``shapely.distance``).

    Raises
    ------
    ValueError
        No segment is allowed, a point is not finite, the allowed segments have no geometry, or
        ``index`` belongs to another network or mask.

    Notes
    -----
    Where several segments lie at exactly the same distance (a point nearest to a junction), the
    lowest segment index wins; every tied segment joins the road at that same point, so the travel
    times do not depend on the choice. Points are snapped through a uniform grid over short parts of
    the segments (:class:`_PartGrid`, held by the :class:`SnapIndex`): the exact distance to every
    segment with a part in the point's block of grid cells, kept only where no segment outside the
    block can be as close; the other points go through an STRtree asking for every equidistant
    segment. A small batch with a ``tree`` and no cached index goes through the tree alone. Both
    routes give the same answer.
    """
    n_allowed = net.n_segments if allowed is None else int(np.count_nonzero(allowed))
    if n_allowed == 0:
        raise ValueError("no road segments to snap to")
    x, y = np.asarray(x, float), np.asarray(y, float)
    bad = np.flatnonzero(~(np.isfinite(x) & np.isfinite(y)))
    if len(bad):
        raise ValueError(f"{len(bad)} point(s) have no finite coordinates (first at position {bad[0]})")
    if index is not None:
        if not index.serves(net, _mask_key(allowed)):
            raise ValueError("the snapping index was built for another road network or allowed mask")
    elif len(x):
        index = cached_snap_index(net, allowed)
        if index is None and (tree is None or len(x) >= _GRID_POINTS_PER_SEGMENT * n_allowed):
            index = snap_index(net, allowed)
    line = np.full(len(x), -1, dtype=np.int64)
    frac, access = np.zeros(len(x)), np.full(len(x), np.inf)
    if index is None:
        candidates = np.arange(net.n_segments) if allowed is None else np.flatnonzero(allowed)
        geoms, done = net.seg_geometry[candidates], np.zeros(len(x), dtype=bool)
    else:
        candidates, geoms = index.candidates, index.geoms
        done = _grid_snap(index, x, y, line, frac, access)
    rest = np.flatnonzero(~done)
    if len(rest):
        if tree is None and index is not None:
            tree = index.tree()
        _tree_snap(geoms, tree, rest, x, y, line, frac, access)
    if (line < 0).any():
        raise ValueError("the road segments to snap to have no geometry")
    return Snapped(candidates[line], frac, access)


_INDEXES_PER_NETWORK = 2   # a run snaps to two masks per network: roads joinable from the side, the core
_INDEXES_IN_ALL = 4        # over all networks alive (a server holds several speed-scaled networks)
_INDEX_LOCK = threading.Lock()
_RECENT: "OrderedDict[tuple[int, bytes], weakref.ref]" = OrderedDict()   # (id(net), mask key), oldest first


class SnapIndex:
    """What snapping needs of a road network and an allowed mask, built once and reused for any points.

    Holds the allowed segments (``candidates``, in index order) and their geometries, their straight
    pieces (:class:`_Pieces`), the uniform part grid over them (:class:`_PartGrid`) and, built on
    first need, an STRtree for the points the grid is not sure of. Build it with :func:`snap_index`,
    which caches it on the network.
    """

    def __init__(self, net: RoadNetwork, allowed: np.ndarray | None = None):
        self.key = _mask_key(allowed)
        self.candidates = np.arange(net.n_segments) if allowed is None else np.flatnonzero(allowed)
        self.geoms = net.seg_geometry[self.candidates]
        self.pieces = _Pieces(self.geoms)
        self.grid = _PartGrid(self.pieces) if len(self.pieces) else None
        self._geometry = net.seg_geometry          # the network's array itself: ``serves`` checks identity
        self._n_segments = net.n_segments
        self._tree: shapely.STRtree | None = None

    def serves(self, net: RoadNetwork, key: bytes) -> bool:
        """Whether this index belongs to ``net`` (its very geometry array) and the mask with ``key``."""
        return self._geometry is net.seg_geometry and self._n_segments == net.n_segments and self.key == key

    def tree(self) -> shapely.STRtree:
        """An STRtree over the allowed segments' geometries, built on first use and kept."""
        if self._tree is None:
            self._tree = shapely.STRtree(self.geoms)
        return self._tree

    @property
    def nbytes(self) -> int:
        """Memory held by the index's arrays (the geometries themselves and any STRtree excluded)."""
        arrays = [self.candidates, self.geoms, *vars(self.pieces).values()]
        if self.grid is not None:
            arrays += [v for v in vars(self.grid).values() if isinstance(v, np.ndarray)]
        return int(sum(a.nbytes for a in arrays if isinstance(a, np.ndarray)))


def _mask_key(allowed: np.ndarray | None) -> bytes:
    """Cache key of an allowed mask: a hash of its bits (all segments: a fixed key)."""
    if allowed is None:
        return b"all"
    mask = np.asarray(allowed, dtype=bool)
    return hashlib.blake2b(np.packbits(mask).tobytes() + str(len(mask)).encode(), digest_size=16).digest()


def cached_snap_index(net: RoadNetwork, allowed: np.ndarray | None = None) -> SnapIndex | None:
    """The snapping index cached on ``net`` for ``allowed``, or None (nothing is built)."""
    key = _mask_key(allowed)
    with _INDEX_LOCK:
        index = net.snap_cache.get(key)
        if index is None:
            return None
        if not index.serves(net, key):        # the network's geometry array was replaced since
            del net.snap_cache[key]
            _RECENT.pop((id(net), key), None)
            return None
        net.snap_cache.move_to_end(key)
        if (id(net), key) in _RECENT:
            _RECENT.move_to_end((id(net), key))
        return index


def snap_index(net: RoadNetwork, allowed: np.ndarray | None = None) -> SnapIndex:
    """The snapping index of ``net`` for the segments ``allowed``, cached on the network.

    Parameters
    ----------
    net : RoadNetwork
        The roads; their geometries must not change in place afterwards.
    allowed : numpy.ndarray of bool, optional
        The segments points may join (all if not given); masks with the same bits share an index.

    Returns
    -------
    SnapIndex
        The same object for every call with the same network and mask while it stays cached: at
        most two indexes per network and four over all networks are kept, least recently used
        dropped first (an index for 1.8M segments holds about 250 MB).
    """
    index = cached_snap_index(net, allowed)
    if index is not None:
        return index
    index = SnapIndex(net, allowed)
    with _INDEX_LOCK:
        _remember(net, index)
    return index


def _remember(net: RoadNetwork, index: SnapIndex) -> None:
    """Cache ``index`` on ``net``, then drop the least recently used beyond both bounds."""
    cache, key = net.snap_cache, index.key
    cache[key] = index
    cache.move_to_end(key)
    _RECENT[(id(net), key)] = weakref.ref(net)
    _RECENT.move_to_end((id(net), key))
    while len(cache) > _INDEXES_PER_NETWORK:
        _RECENT.pop((id(net), cache.popitem(last=False)[0]), None)
    for dead in [k for k, ref in _RECENT.items() if ref() is None or k[1] not in ref().snap_cache]:
        del _RECENT[dead]
    while len(_RECENT) > _INDEXES_IN_ALL:
        (_, old_key), ref = _RECENT.popitem(last=False)
        owner = ref()
        if owner is not None:
            owner.snap_cache.pop(old_key, None)


_GRID_POINTS_PER_SEGMENT = 1 / 8   # without a cached index, a batch this large builds one even with a tree
_GRID_CHUNK = 8_192                # points per vectorised batch (its arrays stay in the CPU caches)
_CELL_FACTOR = 1.6                 # cell side in bounding-box area per metre of road (tuned on 1M cells)
_CERTAIN_M = 1e-6                  # slack on the grid's guarantee, far above float rounding in metres


class _Pieces:
    """The straight pieces (consecutive vertex pairs) of line strings, in line then vertex order.

    ``line`` is the position of each piece's line, ``start_m`` the length along the line before the
    piece and ``line_m`` the line's length, both summed piece by piece in vertex order as GEOS does.
    """

    def __init__(self, geoms: np.ndarray):
        coords, line = shapely.get_coordinates(geoms, return_index=True)
        k = np.flatnonzero(line[1:] == line[:-1])
        self.line = line[k]
        self.x0, self.y0 = coords[k, 0], coords[k, 1]
        self.x1, self.y1 = coords[k + 1, 0], coords[k + 1, 1]
        dx, dy = self.x1 - self.x0, self.y1 - self.y0
        self.length = np.sqrt(dx * dx + dy * dy)
        self.start_m = _running_length(self.line, self.length, len(geoms))
        self.line_m = np.zeros(len(geoms))               # as GEOS sums it: piece after piece
        last = np.flatnonzero(np.r_[self.line[1:] != self.line[:-1], True]) if len(k) else k
        self.line_m[self.line[last]] = self.start_m[last] + self.length[last]

    def __len__(self) -> int:
        return len(self.line)

    def distance(self, piece: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Distance from each point to its piece, computed as GEOS's ``Distance::pointToSegment``."""
        return self.locate(piece, px, py, share=False)[0]

    def fraction(self, piece: np.ndarray, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Position of each point's projection along its piece's line, as a share of the line's length
        (GEOS's ``LengthIndexedLine::project`` on that piece); 0 on a line of zero length."""
        return self.locate(piece, px, py, distance=False)[1]

    def locate(self, piece: np.ndarray, px: np.ndarray, py: np.ndarray, distance: bool = True,
               share: bool = True) -> tuple[np.ndarray | None, np.ndarray | None]:
        """:meth:`distance` and :meth:`fraction` together (either may be skipped: None), sharing the
        reads of the pieces' coordinates and the projection ``r`` (the same operations, so the same
        bits, as each alone)."""
        x0, y0, x1, y1 = self.x0[piece], self.y0[piece], self.x1[piece], self.y1[piece]
        dx, dy = x1 - x0, y1 - y0
        len2 = dx * dx + dy * dy
        dist = frac = None
        with np.errstate(invalid="ignore", divide="ignore"):
            r = ((px - x0) * dx + (py - y0) * dy) / len2
            if distance:
                across = np.abs(((y0 - py) * dx - (x0 - px) * dy) / len2) * np.sqrt(len2)
                to_a = np.sqrt((px - x0) ** 2 + (py - y0) ** 2)
                to_b = np.sqrt((px - x1) ** 2 + (py - y1) ** 2)
                dist = np.where((len2 == 0) | (r <= 0), to_a, np.where(r >= 1, to_b, across))
            if share:
                length = self.length[piece]
                along = np.where(r <= 0, 0.0, np.where(r <= 1, r * length, length))
                frac = np.nan_to_num((self.start_m[piece] + along) / self.line_m[self.line[piece]],
                                     nan=0.0, posinf=0.0, neginf=0.0)
        return dist, frac


def _running_length(line: np.ndarray, length: np.ndarray, n_lines: int) -> np.ndarray:
    """Length along each piece's line before the piece, added one piece after the other."""
    first = np.concatenate([[0], np.cumsum(np.bincount(line, minlength=n_lines))])
    rank = np.arange(len(line)) - first[line]
    start = np.zeros(len(line))
    later = np.flatnonzero(rank > 0)                   # first pieces start at 0
    if len(later) == 0:
        return start
    by_rank = later[np.argsort(rank[later], kind="stable")]
    bounds = np.searchsorted(rank[by_rank], np.arange(1, int(rank.max()) + 2))
    for r in range(len(bounds) - 1):                   # one step per vertex of the longest line
        at = by_rank[bounds[r]:bounds[r + 1]]
        start[at] = start[at - 1] + length[at - 1]
    return start


def _nearest_piece(pieces: _Pieces, point: np.ndarray, piece: np.ndarray, x: np.ndarray,
                   y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For (point, piece) pairs sorted by point: each point's nearest piece, distance and position.

    Returns the points that had pairs, their nearest piece (the lowest index among pieces at exactly
    the least distance: the lowest segment, then its first piece, as GEOS's projection picks), that
    distance and the share of the line's length at the projection (:meth:`_Pieces.fraction`).
    """
    if len(point) == 0:
        return point, piece, np.zeros(0), np.zeros(0)
    starts = np.flatnonzero(np.r_[True, point[1:] != point[:-1]])
    if len(starts) == len(point):                      # one pair per point (the common case)
        dist, frac = pieces.locate(piece, x[point], y[point])
        return point, piece, dist, frac
    dist = pieces.distance(piece, x[point], y[point])
    least = np.minimum.reduceat(dist, starts)
    tied = dist == np.repeat(least, np.diff(np.r_[starts, len(point)]))
    best = np.minimum.reduceat(np.where(tied, piece, np.iinfo(np.int64).max), starts)
    got = point[starts]
    return got, best, least, pieces.fraction(best, x[got], y[got])


class _PartGrid:
    """A uniform grid of square cells over the pieces of some lines, for nearest-piece queries.

    Each piece is cut into parts no longer than the cell side; a part is filed under the cell holding
    its midpoint. A point's candidates are the pieces with a part in the block of ``2r + 1`` × ``2r + 1``
    cells around the point's cell. Any other piece has every part's midpoint outside the block, so it
    is at least (distance from the point to the block's edge) − (half the longest part) away: a
    candidate nearer than that is the true nearest piece, and every piece tied with it is a candidate.
    """

    def __init__(self, pieces: _Pieces):
        self.pieces = pieces
        self.cell = _cell_side(pieces)
        n_part = np.maximum(1, np.ceil(pieces.length / self.cell)).astype(np.int64)
        piece = np.repeat(np.arange(len(pieces)), n_part)
        t = (np.arange(len(piece)) - np.repeat(np.cumsum(n_part) - n_part, n_part) + 0.5) / n_part[piece]
        dx, dy = pieces.x1 - pieces.x0, pieces.y1 - pieces.y0
        mx, my = pieces.x0[piece] + t * dx[piece], pieces.y0[piece] + t * dy[piece]
        self.half_part = float((pieces.length / n_part).max()) / 2
        self.x_min, self.y_min = float(mx.min()), float(my.min())
        self.nx = int((mx.max() - self.x_min) / self.cell) + 1
        self.ny = int((my.max() - self.y_min) / self.cell) + 1
        mx -= self.x_min
        mx /= self.cell
        my -= self.y_min
        my /= self.cell
        cell = my.astype(np.int64) * self.nx + mx.astype(np.int64)   # both ≥ 0: truncation is floor
        order = np.argsort(cell)                  # any order within a cell gives the same answers
        self.first = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=self.nx * self.ny))])
        self.piece = piece[order]
        with np.errstate(divide="ignore"):
            inv_len2 = np.where(pieces.length > 0, 1.0 / (dx * dx + dy * dy), 0.0)
        p = self.piece           # the pieces' coordinates in part order: a query reads them in runs
        self.x0, self.y0, self.dx, self.dy, self.inv_len2 = pieces.x0[p], pieces.y0[p], dx[p], dy[p], inv_len2[p]

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Row-major cell number of points inside the grid (a sort key for points outside it)."""
        fx, fy = self.fractional_cell(x, y)
        return np.floor(fy).astype(np.int64) * self.nx + np.floor(fx).astype(np.int64)

    def fractional_cell(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coordinates in cell sides from the grid's corner, kept within ±1e12 (an empty block)."""
        return (np.clip((x - self.x_min) / self.cell, -1e12, 1e12),
                np.clip((y - self.y_min) / self.cell, -1e12, 1e12))

    def block(self, x: np.ndarray, y: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Part ranges [start, end) of each point's block, one per block row (point-major), and the
        distance within which a candidate is certain to be the nearest."""
        fx, fy = self.fractional_cell(x, y)
        ix, iy = np.floor(fx), np.floor(fy)
        edge = np.minimum(np.minimum(fx - ix, ix + 1 - fx), np.minimum(fy - iy, iy + 1 - fy))
        certain = (r + edge) * self.cell - self.half_part - _CERTAIN_M
        ix, iy = ix.astype(np.int64), iy.astype(np.int64)
        lo, hi = np.clip(ix - r, 0, self.nx - 1), np.clip(ix + r, 0, self.nx - 1)
        rows = iy[:, None] + np.arange(-r, r + 1)
        ok = (rows >= 0) & (rows < self.ny) & ((ix + r >= 0) & (ix - r < self.nx))[:, None]
        rows = np.clip(rows, 0, self.ny - 1) * self.nx
        start = np.where(ok, self.first[rows + lo[:, None]], 0).ravel()
        end = np.where(ok, self.first[rows + hi[:, None] + 1], 0).ravel()
        return start, end, certain

    def nearest(self, x: np.ndarray, y: np.ndarray,
                r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Nearest piece and distance for a batch of points, whether the grid is sure of it, and the
        position on the piece's line (:meth:`_Pieces.fraction`).

        Squared distances (from the piece's projection, clamped) shortlist each point's pieces within
        a relative 1e-9 of its least; :func:`_nearest_piece` then decides among them exactly.
        """
        start, end, certain = self.block(x, y, r)
        size = end - start
        per_point = size.reshape(len(x), -1).sum(axis=1)
        part = np.repeat(start - (np.cumsum(size) - size), size)
        part += np.arange(len(part))
        ax, ay = np.repeat(x, per_point), np.repeat(y, per_point)
        ax -= self.x0[part]
        ay -= self.y0[part]
        dx, dy = self.dx[part], self.dy[part]
        t = ax * dx
        t += ay * dy
        t *= self.inv_len2[part]
        np.maximum(t, 0.0, out=t)
        np.minimum(t, 1.0, out=t)
        ax -= np.multiply(dx, t, out=dx)
        ay -= np.multiply(dy, t, out=dy)
        ax *= ax
        ay *= ay
        ax += ay                                   # squared distance to each candidate part
        has = per_point > 0
        offsets = (np.cumsum(per_point) - per_point)[has]
        least = np.minimum.reduceat(ax, offsets) if len(offsets) else ax[:0]
        short = np.flatnonzero(ax <= np.repeat(least * (1 + 1e-9) + 1e-12, per_point[has]))
        point = np.searchsorted(np.cumsum(per_point), short, side="right")
        got, piece, dist, share = _nearest_piece(self.pieces, point, self.piece[part[short]], x, y)
        best, least_m, frac = np.full(len(x), -1, dtype=np.int64), np.full(len(x), np.inf), np.zeros(len(x))
        best[got], least_m[got], frac[got] = piece, dist, share
        return best, least_m, least_m < certain, frac


def _cell_side(pieces: _Pieces) -> float:
    """Grid cell side (m): 1.6 × the bounding-box area per metre of road (a cell holds one or two
    parts on average); at least half the mean piece length (at most three parts per piece) and large
    enough that the grid has no more than four cells per piece."""
    width = float(np.ptp(np.r_[pieces.x0, pieces.x1])) if len(pieces) else 0.0
    height = float(np.ptp(np.r_[pieces.y0, pieces.y1])) if len(pieces) else 0.0
    area, total = max(width, 1.0) * max(height, 1.0), float(pieces.length.sum())
    n = max(len(pieces), 1)
    return max(_CELL_FACTOR * area / max(total, 1.0), total / n / 2, np.sqrt(area / (4 * n)), 1.0)


def _grid_snap(index: SnapIndex, x: np.ndarray, y: np.ndarray, line: np.ndarray, frac: np.ndarray,
               access: np.ndarray) -> np.ndarray:
    """Snap the points the grid is sure of (filling ``line``, ``frac``, ``access``); returns that mask.

    Batches of nearby points run on all CPU cores (numpy releases the GIL in its array loops); each
    batch writes its own points, so the result does not depend on the scheduling."""
    from concurrent.futures import ThreadPoolExecutor

    done = np.zeros(len(x), dtype=bool)
    grid, pieces = index.grid, index.pieces
    if grid is None or len(x) == 0:
        return done
    todo = np.argsort(grid.cell_of(x, y))                     # nearby points in a row: cache-friendly

    def batch(idx: np.ndarray, r: int) -> None:
        piece, dist, sure, share = grid.nearest(x[idx], y[idx], r)
        idx = idx[sure]
        line[idx], access[idx], frac[idx], done[idx] = pieces.line[piece[sure]], dist[sure], share[sure], True

    if len(x) <= _GRID_CHUNK:                                 # one batch: no threads to start
        for r in (1, 3):
            if len(todo):
                batch(todo, r)
                todo = todo[~done[todo]]
        return done
    with ThreadPoolExecutor(max_workers=max(1, min(os.cpu_count() or 1, 4))) as pool:
        for r in (1, 3):                                      # the 3 × 3 block, then 7 × 7 for the rest
            list(pool.map(lambda s: batch(todo[s:s + _GRID_CHUNK], r), range(0, len(todo), _GRID_CHUNK)))
            todo = todo[~done[todo]]
    return done


def _tree_snap(geoms: np.ndarray, tree: shapely.STRtree | None, idx: np.ndarray, x: np.ndarray,
               y: np.ndarray, line: np.ndarray, frac: np.ndarray, access: np.ndarray) -> None:
    """Snap points ``idx`` through an STRtree (every equidistant line), filling the output arrays."""
    tree = tree or shapely.STRtree(geoms)
    idx = idx[morton_order(x[idx], y[idx])]   # nearby queries in a row: GEOS's search is ~3x cheaper
    points = shapely.points(x[idx], y[idx])
    pairs = np.concatenate([p for _s, p in _nearest_in_chunks(tree, points)], axis=1)
    pairs = pairs[:, np.lexsort((pairs[1], pairs[0]))]
    used, which = np.unique(pairs[1], return_inverse=True)
    pieces = _Pieces(geoms[used])
    # every piece of every matched line: the expansion of (point, line) pairs to (point, piece) pairs
    first = np.searchsorted(pieces.line, np.arange(len(used) + 1))
    count = (first[1:] - first[:-1])[which]
    point = np.repeat(pairs[0], count)
    piece = np.repeat(first[which] - (np.cumsum(count) - count), count) + np.arange(int(count.sum()))
    got, best, dist, share = _nearest_piece(pieces, point, piece, x[idx], y[idx])
    out = idx[got]
    line[out], access[out], frac[out] = used[pieces.line[best]], dist, share


def morton_order(x: np.ndarray, y: np.ndarray, bits: int = 16) -> np.ndarray:
    """Permutation that visits points along a Z-order (Morton) curve over their bounding box."""
    if len(x) == 0:
        return np.zeros(0, dtype=np.int64)

    def spread(v: np.ndarray) -> np.ndarray:   # insert a zero bit between each of the 16 low bits
        v = v.astype(np.uint64)
        for shift, mask in ((8, 0x00FF00FF), (4, 0x0F0F0F0F), (2, 0x33333333), (1, 0x55555555)):
            v = (v | (v << np.uint64(shift))) & np.uint64(mask)
        return v

    scale = (1 << bits) - 1
    qx = ((x - x.min()) / max(float(np.ptp(x)), 1e-9) * scale).astype(np.uint64)
    qy = ((y - y.min()) / max(float(np.ptp(y)), 1e-9) * scale).astype(np.uint64)
    return np.argsort(spread(qx) | (spread(qy) << np.uint64(1)), kind="stable")


def _nearest_in_chunks(tree: shapely.STRtree, points: np.ndarray, chunk: int = 50_000):
    """STRtree nearest-segment queries (every equidistant one), split over the CPU cores (shapely
    releases the GIL); returns (chunk start, [point indices, tree indices]) per chunk."""
    from concurrent.futures import ThreadPoolExecutor

    def query(s: int) -> tuple[int, np.ndarray]:
        pairs = tree.query_nearest(points[s:s + chunk], all_matches=True)
        return s, pairs + np.array([[s], [0]])

    starts = list(range(0, len(points), chunk))
    if len(starts) <= 1:
        return [query(s) for s in starts]
    with ThreadPoolExecutor(max_workers=min(len(starts), os.cpu_count() or 1)) as pool:
        return list(pool.map(query, starts))


def _along(cost: np.ndarray, share: np.ndarray) -> np.ndarray:
    """Cost of covering ``share`` of a segment; inf where the direction is not allowed.

    A point exactly at a segment's end (share 0) is at that node: it costs nothing, whatever the
    direction rules of the segment.
    """
    finite = np.isfinite(cost)
    return np.where(share <= 0, 0.0, np.where(finite, share * np.where(finite, cost, 0.0), np.inf))


def _leaving(graph: Graph, p: Snapped, seg_a: np.ndarray, seg_b: np.ndarray):
    """(node, cost) pairs to leave points onto the network, in the graph's own direction."""
    wf, wb = graph.cost_fwd[p.seg], graph.cost_bwd[p.seg]
    if graph.reverse:  # in the transposed graph, "leaving" means arriving in the real world
        return (seg_a[p.seg], _along(wf, p.frac)), (seg_b[p.seg], _along(wb, 1 - p.frac))
    return (seg_b[p.seg], _along(wf, 1 - p.frac)), (seg_a[p.seg], _along(wb, p.frac))


def _arriving(graph: Graph, p: Snapped, seg_a: np.ndarray, seg_b: np.ndarray):
    """(node, cost) pairs to reach points from the network, in the graph's own direction."""
    wf, wb = graph.cost_fwd[p.seg], graph.cost_bwd[p.seg]
    if graph.reverse:
        return (seg_b[p.seg], _along(wf, 1 - p.frac)), (seg_a[p.seg], _along(wb, p.frac))
    return (seg_a[p.seg], _along(wf, p.frac)), (seg_b[p.seg], _along(wb, 1 - p.frac))


def take_direct(cost: np.ndarray, label: np.ndarray, d: np.ndarray, s: np.ndarray, direct: np.ndarray) -> None:
    """Lower ``cost``/``label`` in place where a source reaches a destination more cheaply straight
    along their shared segment (``d``, ``s``, ``direct`` as :meth:`Router.same_segment` gives them):
    per destination its cheapest such path, the lowest source index among equal ones."""
    order = np.lexsort((s, direct, d))
    first = order[np.r_[True, d[order][1:] != d[order][:-1]]] if len(order) else order
    better = direct[first] < cost[d[first]]
    cost[d[first][better]] = direct[first][better]
    label[d[first][better]] = s[first][better]


class Router:
    """Shortest-path costs between snapped sources (facilities) and destinations (cells).

    ``seg_cost`` is per segment (seconds or metres). Source and destination offsets (turnout time,
    access legs) are added at the two ends. ``direction`` is FROM_FACILITY or TO_FACILITY.
    """

    def __init__(self, net: RoadNetwork, seg_cost: np.ndarray, direction: str = FROM_FACILITY):
        if direction not in (FROM_FACILITY, TO_FACILITY):
            raise ValueError(f"direction must be {FROM_FACILITY!r} or {TO_FACILITY!r}")
        self.net = net
        self.direction = direction
        self.graph = build_graph(net, np.asarray(seg_cost, float), reverse=direction == TO_FACILITY)

    def _source_matrix(self, src: Snapped, src_offset: np.ndarray) -> sp.csr_matrix:
        (n1, c1), (n2, c2) = _leaving(self.graph, src, self.net.seg_a, self.net.seg_b)
        rows = np.tile(np.arange(len(src)), 2)
        cols = np.concatenate([n1, n2])
        costs = np.concatenate([c1, c2]) + np.tile(np.asarray(src_offset, float), 2)
        ok = np.isfinite(costs)
        return self.graph.matrix((rows[ok], cols[ok], costs[ok]), n_extra=len(src))

    def _combine(self, node_cost: np.ndarray, dst: Snapped, dst_offset: np.ndarray):
        (n1, c1), (n2, c2) = _arriving(self.graph, dst, self.net.seg_a, self.net.seg_b)
        via1 = node_cost[..., n1] + c1
        via2 = node_cost[..., n2] + c2
        return np.minimum(via1, via2) + dst_offset, via2 < via1, n1, n2

    def node_costs(self, src: Snapped, src_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost from the nearest source to every road node, and that source's index (-1 if none)."""
        n = self.graph.n_nodes
        mat = self._source_matrix(src, src_offset)
        virtual = np.arange(n, n + len(src))
        dist, _pred, origin = dijkstra(mat, indices=virtual, min_only=True, return_predecessors=True)
        label = np.where(origin[:n] >= 0, origin[:n] - n, -1)
        return dist[:n], label

    def nearest(self, src: Snapped, src_offset: np.ndarray, dst: Snapped,
                dst_offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cost from the nearest source to each destination, and that source's index (-1 if none)."""
        dst_offset = np.broadcast_to(np.asarray(dst_offset, float), (len(dst),))
        src_offset = np.broadcast_to(np.asarray(src_offset, float), (len(src),))
        node_cost, node_label = self.node_costs(src, src_offset)
        cost, via2, n1, n2 = self._combine(node_cost, dst, dst_offset)
        label = node_label[np.where(via2, n2, n1)]
        take_direct(cost, label, *self.same_segment(src, src_offset, dst, dst_offset))
        label = np.where(np.isfinite(cost), label, -1)
        return cost, label

    def same_segment(self, src: Snapped, src_offset: np.ndarray, dst: Snapped, dst_offset: np.ndarray):
        """(destination, source, cost) for pairs on one segment, travelling directly along it.

        The graph joins points only at segment ends; a cell next to its facility on a long road is
        reached straight along the road here, in an allowed direction.
        """
        order = np.argsort(src.seg, kind="stable")
        sorted_seg = src.seg[order]
        has_src = np.zeros(self.net.n_segments, dtype=bool)
        has_src[src.seg] = True
        near = np.flatnonzero(has_src[dst.seg])          # the few destinations on a source's segment
        lo = np.searchsorted(sorted_seg, dst.seg[near], "left")
        counts = np.searchsorted(sorted_seg, dst.seg[near], "right") - lo
        total = int(counts.sum())
        d = np.repeat(near, counts)
        s = order[np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts) + np.repeat(lo, counts)]
        seg, fs, fd = dst.seg[d], src.frac[s], dst.frac[d]
        ahead = fd >= fs if not self.graph.reverse else fs >= fd   # the trip runs from a towards b
        share = np.abs(fd - fs)
        along = np.where(ahead, _along(self.graph.cost_fwd[seg], share), _along(self.graph.cost_bwd[seg], share))
        return d, s, np.asarray(src_offset, float)[s] + along + np.asarray(dst_offset, float)[d]

    def bounded_node_costs(self, src: Snapped, src_offset: np.ndarray, limit: float,
                           batch: int = 16):
        """Yield (source index, reached node indices, their costs) for each source, within ``limit``."""
        for i, row in self.bounded_node_rows(src, src_offset, limit, batch):
            reached = np.flatnonzero(np.isfinite(row))
            yield i, reached, row[reached]

    def bounded_node_rows(self, src: Snapped, src_offset: np.ndarray, limit: float, batch: int = 16):
        """Yield (source index, cost to every road node) for each source, inf beyond ``limit``.

        ``batch`` sources share one call of scipy's compiled Dijkstra (one dense row of costs per
        source: ``batch × n_nodes`` floats at a time); a row is a view into the batch's array.
        """
        n = self.graph.n_nodes
        mat = self._source_matrix(src, src_offset)
        for start in range(0, len(src), batch):
            ids = np.arange(start, min(start + batch, len(src)))
            rows = dijkstra(mat, indices=n + ids, limit=limit)
            for k, i in enumerate(ids):
                yield int(i), rows[k, :n]

    def bounded(self, src: Snapped, src_offset: np.ndarray, dst: Snapped, dst_offset: np.ndarray,
                limit: float) -> sp.csr_matrix:
        """Sparse (destinations × sources) matrix of costs ≤ ``limit``; absent entries are beyond it.

        Costs of exactly 0 are stored as explicit entries, so use the matrix's structure (not its
        values) to tell reached from not reached.
        """
        dst_offset = np.broadcast_to(np.asarray(dst_offset, float), (len(dst),))
        src_offset = np.broadcast_to(np.asarray(src_offset, float), (len(src),))
        (n1, c1), (n2, c2) = _arriving(self.graph, dst, self.net.seg_a, self.net.seg_b)
        index = _NodeIndex(self.graph.n_nodes, n1, n2)
        rows_out, cols_out, vals_out = [], [], []
        scratch = np.full(self.graph.n_nodes, np.inf)
        for i, reached, costs in self.bounded_node_costs(src, src_offset, limit):
            scratch[reached] = costs
            cand = index.destinations(reached)
            cost = np.minimum(scratch[n1[cand]] + c1[cand], scratch[n2[cand]] + c2[cand]) + dst_offset[cand]
            scratch[reached] = np.inf
            ok = cost <= limit
            rows_out.append(cand[ok])
            cols_out.append(np.full(ok.sum(), i))
            vals_out.append(cost[ok])
        d, s, direct = self.same_segment(src, src_offset, dst, dst_offset)
        ok = direct <= limit
        rows = np.concatenate([*rows_out, d[ok]]).astype(np.int64)
        cols = np.concatenate([*cols_out, s[ok]]).astype(np.int64)
        vals = np.concatenate([*vals_out, direct[ok]])
        order = np.lexsort((vals, cols, rows))       # keep the cheaper of network and direct routes
        keep = order[np.r_[True, (np.diff(rows[order]) != 0) | (np.diff(cols[order]) != 0)]] if len(order) else order
        return _csr_keep_zeros(rows[keep], cols[keep], vals[keep], (len(dst), len(src)))


class _NodeIndex:
    """Which destinations hang off each node (through either end of their segment)."""

    def __init__(self, n_nodes: int, n1: np.ndarray, n2: np.ndarray):
        dst = np.arange(len(n1))
        nodes = np.concatenate([n1, n2])
        owners = np.concatenate([dst, dst])
        order = np.argsort(nodes, kind="stable")
        self.owners = owners[order]
        self.indptr = np.concatenate([[0], np.cumsum(np.bincount(nodes, minlength=n_nodes))])

    def destinations(self, nodes: np.ndarray) -> np.ndarray:
        starts, ends = self.indptr[nodes], self.indptr[nodes + 1]
        lengths = ends - starts
        if lengths.sum() == 0:
            return np.zeros(0, dtype=np.int64)
        offsets = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        picked = self.owners[np.arange(lengths.sum()) + offsets]
        return np.unique(picked)


def _csr_keep_zeros(rows, cols, vals, shape) -> sp.csr_matrix:
    """CSR matrix that keeps explicit zero entries (scipy's constructors may drop them)."""
    order = np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=shape[0]))])
    return sp.csr_matrix((np.asarray(vals, float)[order], np.asarray(cols)[order].astype(np.int32), indptr),
                         shape=shape)


def straight_nearest(src_x: np.ndarray, src_y: np.ndarray, x: np.ndarray, y: np.ndarray):
    """Straight-line distance (m) to the nearest source and its index, via a KD-tree."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([src_x, src_y]))
    dist, idx = tree.query(np.column_stack([x, y]))
    return dist, idx
