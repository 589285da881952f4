"""Population cells: people per cell from a GeoTIFF (WorldPop) or a vector grid (polygons or points),
clipped to the region and optionally aggregated to a coarser grid, and the check that every person
in the region is counted once."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, PlannerWarning, warn
from .layers import LayerSpec, check_frame, read_vector, require_columns, require_mapped_columns, rows_text

RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")

# Values GIS tools write for "no data" in population grids: GDAL/ArcGIS defaults and integer/float minima.
SENTINELS = np.array([-9999.0, -99999.0, -999999.0, -32767.0, -32768.0,
                      -2147483646.0, -2147483647.0, -2147483648.0])
SENTINEL_BELOW = -1e30     # -3.4e38 (float32 minimum), -1.8e308 (float64 minimum)


class PopulationMismatch(RuntimeError):
    """The cells do not hold the people of the population layer inside the units: a bug, not an input error."""


def load_population(spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                    cell_size_m: float | None = None) -> gpd.GeoDataFrame:
    """Population cells (points at cell centres) with columns population and cell_m (cell width).

    A GeoTIFF is read pixel by pixel (people per pixel, nodata masked) and each pixel's people are
    placed at its centre, so the total is conserved exactly. A vector layer needs a population
    column; its cell width is the square root of the median polygon area, or for points the grid
    spacing (:func:`point_spacing`). Sentinel nodata values (-9999, -3.4e38, ...) are dropped with a
    warning. ``cell_size_m`` aggregates to a coarser square grid (sums) for speed; it never makes
    cells finer than the layer's own.
    """
    if not spec.path.exists():
        raise InputError(f"the population file {spec.path} does not exist.", file=spec.path,
                         field="population.path", fix="check the path in the scenario.")
    if spec.path.suffix.lower() in RASTER_SUFFIXES:
        x, y, pop, cell = _raster_points(spec, crs)
    else:
        x, y, pop, cell = _frame_points(read_vector(spec), spec, crs)
    return _cells(x, y, pop, cell, spec, crs, region, cell_size_m)


def population_from_frame(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                          cell_size_m: float | None = None) -> gpd.GeoDataFrame:
    """:func:`load_population` on a vector layer already read (or given to the library API as a frame).

    Parameters
    ----------
    frame : GeoDataFrame
        Polygons or points with a population column (``spec.column("population")``), with a CRS.
    spec : LayerSpec
        Where it comes from, for messages.
    crs, region, cell_size_m
        As for :func:`load_population`.

    Returns
    -------
    GeoDataFrame
        Cell centres with columns population and cell_m.
    """
    x, y, pop, cell = _frame_points(frame, spec, crs)
    return _cells(x, y, pop, cell, spec, crs, region, cell_size_m)


def _cells(x: np.ndarray, y: np.ndarray, pop: np.ndarray, cell: float, spec: LayerSpec, crs: str,
           region: shapely.Geometry | None, cell_size_m: float | None) -> gpd.GeoDataFrame:
    """Points with people → cells inside the region, aggregated to ``cell_size_m`` when coarser."""
    if not np.isfinite(cell):
        if not cell_size_m:
            raise InputError("the population layer has a single point, so its cell size is unknown.",
                             file=spec.path, field="population.cell_size_m",
                             fix="set [population] cell_size_m to the width in metres of the area it stands for.")
        cell = float(cell_size_m)
    if region is not None:
        inside = shapely.contains_xy(region, x, y)
        if not inside.any():
            raise InputError("no people of the population layer lie inside the region's boundaries: the layer "
                             "does not overlap the region, or holds only 0 or nodata there.",
                             file=spec.path, field="population.path",
                             fix="use a layer that covers the region with its people (check its CRS and extent, "
                                 "and that the boundaries are the region you mean).")
        x, y, pop = x[inside], y[inside], pop[inside]
    if cell_size_m and cell_size_m >= cell * (1 - 1e-6):
        x, y, pop = aggregate_to_grid(x, y, pop, cell_size_m)
        cell = float(cell_size_m)
    elif cell_size_m:
        warn(f"[population] cell_size_m = {cell_size_m:g} is finer than the population layer's own cells "
             f"({cell:,.0f} m) in {spec.path.name}: the cells are kept at {cell:,.0f} m.")
    keep = pop > 0
    return gpd.GeoDataFrame({"population": pop[keep], "cell_m": cell},
                            geometry=gpd.points_from_xy(x[keep], y[keep]), crs=crs)


def is_sentinel(values: np.ndarray) -> np.ndarray:
    """True where a value is a GIS "no data" sentinel rather than a count of people."""
    values = np.asarray(values, dtype=float)
    return np.isin(values, SENTINELS) | (values <= SENTINEL_BELOW)


def check_population_values(pop: np.ndarray, spec: LayerSpec, field: str,
                            where: Callable[[np.ndarray], str] | None = None) -> None:
    """InputError for negative or missing (NaN) population values, naming them counted from 1.

    ``where`` turns 0-based positions into the text naming them (default: "row(s) 1, 4, ...").
    """
    bad = np.flatnonzero(~np.isfinite(pop) | (pop < 0))
    if len(bad):
        place = where(bad) if where else f"row(s) {rows_text(bad)} (counting from 1)"
        raise InputError(f"{len(bad)} negative or missing (NaN) population value(s), at {place}.",
                         file=spec.path, field=field,
                         fix="population must be a number ≥ 0; mark empty cells as nodata in a raster "
                             "or 0 in a table.")


def _drop_sentinels(pop: np.ndarray, spec: LayerSpec, field: str, where: Callable[[np.ndarray], str]) -> np.ndarray:
    """Mask of the sentinel values, with a warning giving their count and positions."""
    sentinel = is_sentinel(pop)
    if sentinel.any():
        hits = np.flatnonzero(sentinel)
        values = ", ".join(f"{v:g}" for v in np.unique(pop[sentinel])[:3])
        warn(f"{len(hits)} population value(s) in {spec.path.name} ('{field}') are 'no data' markers ({values}), "
             f"at {where(hits)}: they are left out (no people). Mark them as nodata or 0 to silence this.")
    return sentinel


def _feature_rows(index: np.ndarray) -> str:
    return f"feature(s) {rows_text(index)} (counting from 1)"


def _frame_points(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Points, people and cell width of a vector population layer (polygons or points)."""
    frame = check_frame(frame, spec)
    if len(frame) == 0:
        raise InputError("the population layer is empty (no features).", file=spec.path, field="population.path",
                         fix="give a grid of polygons or points with a population column.")
    col = spec.column("population", "population")
    require_columns(frame, {"population": col}, spec)
    require_mapped_columns(frame, spec)
    missing = np.flatnonzero((frame.geometry.isna() | frame.geometry.is_empty).to_numpy())
    if len(missing):
        raise InputError(f"{len(missing)} population feature(s) have no geometry, at {_feature_rows(missing)}.",
                         file=spec.path, field="geometry", fix="give every cell its square or point, or remove them.")
    pop = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
    good = ~_drop_sentinels(pop, spec, col, _feature_rows)
    check_population_values(np.where(good, pop, 0.0), spec, col, _feature_rows)
    metric = frame.to_crs(crs).geometry
    pts = metric.representative_point()
    x, y = pts.x.to_numpy(), pts.y.to_numpy()
    area = metric.area.to_numpy()
    cell = float(np.sqrt(np.median(area[area > 0]))) if (area > 0).any() else point_spacing(x, y)
    return x[good], y[good], pop[good], cell


def point_spacing(x: np.ndarray, y: np.ndarray) -> float:
    """Cell width of a grid given as points: the median over points of √(d₁·d₃), d the distances to
    the four nearest other points (√(dx·dy) on a rectangular grid, the spacing on a square one);
    the median nearest-neighbour distance for fewer than five points, NaN for one point."""
    from scipy.spatial import cKDTree

    xy = np.unique(np.column_stack([x, y]), axis=0)
    if len(xy) < 2:
        return float("nan")
    k = min(5, len(xy))
    dist, _ = cKDTree(xy).query(xy, k=k)
    if k == 5:
        return float(np.median(np.sqrt(dist[:, 1] * dist[:, 3])))
    return float(np.median(dist[:, 1]))


def _pixel_text(shape: tuple[int, int]) -> Callable[[np.ndarray], str]:
    """Formatter naming raster pixels (flat indices) as 1-based (row, column) pairs."""
    def where(index: np.ndarray) -> str:
        rows, cols = np.unravel_index(np.asarray(index)[:5], shape)
        more = " …" if len(index) > 5 else ""
        return "pixel(s) " + ", ".join(f"(row {r + 1}, column {c + 1})" for r, c in zip(rows, cols)) + more
    return where


def _open_raster(spec: LayerSpec):
    import rasterio

    try:
        src = rasterio.open(spec.path)
    except Exception as exc:
        raise InputError(f"could not read the raster ({exc}).", file=spec.path, field="population.path",
                         fix="give a GeoTIFF of people per cell.") from None
    if src.crs is None:
        src.close()
        raise InputError("the raster has no coordinate reference system (CRS).", file=spec.path,
                         field="crs", fix="assign one, e.g. gdal_edit.py -a_srs EPSG:4326 FILE.")
    return src


def _read_band(src, spec: LayerSpec, window=None) -> np.ma.MaskedArray:
    """Band 1 as a masked array; a damaged or truncated file is an InputError."""
    try:
        return src.read(1, masked=True, window=window)
    except Exception as exc:
        raise InputError(f"the raster is damaged or truncated: its pixels could not be read ({exc}).",
                         file=spec.path, field="population.path",
                         fix="download or export the GeoTIFF again (check its size against the source).") from None


def _raster_points(spec: LayerSpec, crs: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Pixel centres (in ``crs``), people and cell width of a population raster."""
    import rasterio
    from pyproj import Transformer

    with _open_raster(spec) as src:
        band = _read_band(src, spec)
        data = np.ma.filled(band.astype("float64"), np.nan)
        masked = np.ma.getmaskarray(band)
        if masked.all():
            raise InputError("every pixel of the raster is nodata: it holds no people.", file=spec.path,
                             field="population.path", fix="check that this is the population raster of the region "
                             "and that its nodata value is right (gdalinfo shows it).")
        masked = masked | _drop_sentinels(np.where(masked, 0.0, data), spec, "band 1", _pixel_text(data.shape))
        check_population_values(np.where(masked, 0.0, data).ravel(), spec, "band 1", _pixel_text(data.shape))
        rows, cols = np.nonzero(~masked & (data > 0))
        if len(rows) == 0:
            raise InputError("the raster holds no people: every pixel is 0 or nodata.", file=spec.path,
                             field="population.path", fix="check that this is the population raster of the region.")
        pop = data[rows, cols]
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        cell = _raster_cell_m(src, ys)
        x, y = Transformer.from_crs(src.crs, crs, always_xy=True).transform(xs, ys)
    return np.asarray(x), np.asarray(y), pop, cell


def _raster_cell_m(src, ys: np.ndarray) -> float:
    """Width in metres of a square of the pixel's area."""
    res = src.res
    if src.crs.is_geographic:
        lat = float(np.mean(ys)) if len(ys) else 0.0
        return float(np.sqrt(res[0] * 111320 * np.cos(np.radians(lat)) * res[1] * 110540))
    return float(np.sqrt(res[0] * res[1]))


def aggregate_to_grid(x: np.ndarray, y: np.ndarray, pop: np.ndarray, size: float):
    """Sum points into a square grid of ``size`` metres; returns cell centres and sums."""
    ix = np.floor(x / size).astype(np.int64)
    iy = np.floor(y / size).astype(np.int64)
    keys, inverse = np.unique(np.stack([ix, iy], axis=1), axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=pop, minlength=len(keys))
    return (keys[:, 0] + 0.5) * size, (keys[:, 1] + 0.5) * size, sums


def population_in_region(spec: LayerSpec, crs: str, region: shapely.Geometry,
                         frame: gpd.GeoDataFrame | None = None) -> float:
    """The people of the population layer inside ``region`` (in ``crs``), read afresh from the file.

    Independent of the cells: a raster is read again in a window over the region, every valid
    pixel whose centre lies in the region counts; a vector layer counts the features whose
    representative point lies in it. Nodata and sentinel values count nothing. ``frame`` is the
    vector layer when it was given to the library API rather than read from ``spec.path``.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)   # already reported by load_population
        if frame is None and spec.path.suffix.lower() in RASTER_SUFFIXES:
            return _raster_total(spec, crs, region)
        frame = read_vector(spec) if frame is None else frame
    pop = pd.to_numeric(frame[spec.column("population", "population")], errors="coerce").to_numpy(dtype=float)
    pts = frame.to_crs(crs).geometry.representative_point()
    inside = shapely.contains_xy(region, pts.x.to_numpy(), pts.y.to_numpy()) & ~is_sentinel(pop) & (pop > 0)
    return float(pop[inside].sum())


def _raster_total(spec: LayerSpec, crs: str, region: shapely.Geometry) -> float:
    import rasterio
    from pyproj import Transformer
    from rasterio.warp import transform_bounds
    from rasterio.windows import Window, from_bounds

    with _open_raster(spec) as src:
        bounds = transform_bounds(crs, src.crs, *region.bounds, densify_pts=21)
        w = from_bounds(*bounds, transform=src.transform)
        c0, r0 = int(np.floor(w.col_off)) - 1, int(np.floor(w.row_off)) - 1      # one pixel of margin
        c1, r1 = int(np.ceil(w.col_off + w.width)) + 1, int(np.ceil(w.row_off + w.height)) + 1
        window = Window(c0, r0, c1 - c0, r1 - r0)
        try:
            window = window.intersection(Window(0, 0, src.width, src.height))
        except rasterio.errors.WindowError:     # the raster does not reach the region
            return 0.0
        band = _read_band(src, spec, window)
        data = np.ma.filled(band.astype("float64"), 0.0)
        valid = ~np.ma.getmaskarray(band) & ~is_sentinel(data) & (data > 0)
        rows, cols = np.nonzero(valid)
        xs, ys = rasterio.transform.xy(src.window_transform(window), rows, cols, offset="center")
        x, y = Transformer.from_crs(src.crs, crs, always_xy=True).transform(np.asarray(xs, float),
                                                                            np.asarray(ys, float))
    inside = shapely.contains_xy(region, np.asarray(x), np.asarray(y))
    return float(data[rows, cols][inside].sum())


def check_population_total(counted: float, per_unit: np.ndarray, population_in: float) -> None:
    """Raise :class:`PopulationMismatch` unless the cells and the units each hold ``population_in``
    people (relative tolerance 1e-9: floating-point sums)."""
    for what, total in (("the population cells", counted), ("the units", float(np.sum(per_unit)))):
        if not np.isclose(total, population_in, rtol=1e-9, atol=1e-6):
            raise PopulationMismatch(
                f"internal error: {what} hold {total:,.3f} people but the population layer has "
                f"{population_in:,.3f} inside the units (difference {total - population_in:+,.3f}). No output "
                "was written. This is a bug in coverage-planner: please report it with the scenario.")
