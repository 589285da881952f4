"""Population cells: people per cell from a GeoTIFF (WorldPop) or a vector grid, clipped to the
region and optionally aggregated to a coarser grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .layers import LayerSpec, read_vector, require_columns


def load_population(spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                    cell_size_m: float | None = None) -> gpd.GeoDataFrame:
    """Population cells (points at cell centres) with columns population and cell_m (cell width).

    A GeoTIFF is read pixel by pixel (people per pixel, nodata masked) and each pixel's people are
    placed at its centre, so the total is conserved exactly. A vector layer needs a population
    column. ``cell_size_m`` aggregates to a coarser square grid (sums) for speed.
    """
    if not spec.path.exists():
        raise InputError(f"the population file {spec.path} does not exist.", file=spec.path,
                         field="population.path", fix="check the path in the scenario.")
    if spec.path.suffix.lower() in (".tif", ".tiff", ".vrt"):
        x, y, pop, cell = _raster_points(spec, crs)
    else:
        frame = read_vector(spec)
        col = spec.column("population", "population")
        require_columns(frame, {"population": col}, spec)
        pop = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        check_population_values(pop, spec, col)
        area = frame.to_crs(crs).geometry.area.to_numpy()
        pts = frame.to_crs(crs).geometry.representative_point()
        x, y = pts.x.to_numpy(), pts.y.to_numpy()
        cell = float(np.sqrt(np.median(area))) if (area > 0).any() else 100.0
    if region is not None:
        inside = shapely.contains_xy(region, x, y)
        if not inside.any():
            raise InputError("the population layer does not overlap the region's boundaries.",
                             file=spec.path, field="population.path",
                             fix="use a raster that covers the region (check its CRS and extent).")
        x, y, pop = x[inside], y[inside], pop[inside]
    if cell_size_m:
        x, y, pop = aggregate_to_grid(x, y, pop, cell_size_m)
        cell = float(cell_size_m)
    keep = pop > 0
    return gpd.GeoDataFrame({"population": pop[keep], "cell_m": cell},
                            geometry=gpd.points_from_xy(x[keep], y[keep]), crs=crs)


def check_population_values(pop: np.ndarray, spec: LayerSpec, field: str) -> None:
    bad = np.flatnonzero(~np.isfinite(pop) | (pop < 0))
    if len(bad):
        raise InputError(f"{len(bad)} negative or missing (NaN) population value(s), e.g. at "
                         f"{list(bad[:5])}.", file=spec.path, field=field,
                         fix="population must be a number ≥ 0; mark empty cells as nodata in a raster "
                             "or 0 in a table.")


def _raster_points(spec: LayerSpec, crs: str):
    import rasterio
    from pyproj import Transformer

    try:
        src = rasterio.open(spec.path)
    except Exception as exc:
        raise InputError(f"could not read the raster ({exc}).", file=spec.path, field="population.path",
                         fix="give a GeoTIFF of people per cell.") from None
    with src:
        if src.crs is None:
            raise InputError("the raster has no coordinate reference system (CRS).", file=spec.path,
                             field="crs", fix="assign one, e.g. gdal_edit.py -a_srs EPSG:4326 FILE.")
        band = src.read(1, masked=True)
        data = np.ma.filled(band.astype("float64"), np.nan)
        masked = np.ma.getmaskarray(band)
        check_population_values(np.where(masked, 0.0, data), spec, "band 1")
        rows, cols = np.nonzero(~masked & (data > 0))
        pop = data[rows, cols]
        xs, ys = rasterio.transform.xy(src.transform, rows, cols, offset="center")
        xs, ys = np.asarray(xs, float), np.asarray(ys, float)
        res = src.res
        if src.crs.is_geographic:
            lat = float(np.mean(ys)) if len(ys) else 0.0
            cell = float(np.sqrt(res[0] * 111320 * np.cos(np.radians(lat)) * res[1] * 110540))
        else:
            cell = float(np.sqrt(res[0] * res[1]))
        transformer = Transformer.from_crs(src.crs, crs, always_xy=True)
        x, y = transformer.transform(xs, ys)
    return np.asarray(x), np.asarray(y), pop, cell


def aggregate_to_grid(x: np.ndarray, y: np.ndarray, pop: np.ndarray, size: float):
    """Sum points into a square grid of ``size`` metres; returns cell centres and sums."""
    ix = np.floor(x / size).astype(np.int64)
    iy = np.floor(y / size).astype(np.int64)
    keys, inverse = np.unique(np.stack([ix, iy], axis=1), axis=0, return_inverse=True)
    sums = np.bincount(inverse.ravel(), weights=pop, minlength=len(keys))
    return (keys[:, 0] + 0.5) * size, (keys[:, 1] + 0.5) * size, sums
