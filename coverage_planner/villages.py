"""The [villages] layer: administrative villages (行政村) as points or polygons with their population,
for per-village rules such as 「每个行政村设置1个标准化的村卫生室」."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .layers import LayerSpec, check_frame, existing_path, read_vector, require_columns, require_mapped_columns
from .population import check_population_values

POPULATION_ALIASES = ("population", "常住人口", "人口", "户籍人口")


def load_villages(spec: LayerSpec, crs: str) -> gpd.GeoDataFrame:
    """Villages with columns village_id, name, population and a point or polygon geometry in ``crs``.

    Points may come from a CSV with longitude/latitude (经度/纬度) or a vector layer; polygons from a
    vector layer. A layer mixing points and polygons, or without a population column, is refused.
    """
    from .facilities import read_points

    path = existing_path(spec)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return _villages(read_points(spec, ("village", "villages")), spec, crs)
    return villages_from_frame(read_vector(spec), spec, crs)


def villages_from_frame(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str) -> gpd.GeoDataFrame:
    """:func:`load_villages` on a vector layer already read (or given to the library API as a frame).

    Parameters
    ----------
    frame : GeoDataFrame
        One point (the village seat) or one polygon per 行政村, with a population column and a CRS.
    spec : LayerSpec
        Where it comes from and its columns, for messages.
    crs : str
        The CRS of the result.

    Returns
    -------
    GeoDataFrame
        As :func:`load_villages`.
    """
    from .facilities import points_from_frame

    frame = check_frame(frame, spec)
    polygons = frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    if not polygons and not frame.geometry.geom_type.isin(["Point"]).all():
        raise InputError("the villages layer mixes points and polygons (or holds lines).", file=spec.path,
                         field="geometry", fix="give one point (the village seat) or one polygon per 行政村.")
    return _villages(frame if polygons else points_from_frame(frame, spec, ("village", "villages")), spec, crs)


def _villages(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str) -> gpd.GeoDataFrame:
    """The population, id and name columns of the villages, checked."""
    pop_col = spec.column("population") or next((c for c in POPULATION_ALIASES if c in frame), "population")
    id_col, name_col = spec.column("id", "id"), spec.column("name", "name")
    require_columns(frame, {"population": pop_col}, spec)
    require_mapped_columns(frame, spec)
    values = pd.to_numeric(frame[pop_col], errors="coerce").to_numpy(dtype=float)
    check_population_values(values, spec, pop_col)
    if len(frame) == 0:
        raise InputError("the villages layer is empty.", file=spec.path, field="villages",
                         fix="give at least one village, or remove [villages] from the scenario.")
    names = frame[name_col].astype(str) if name_col in frame else pd.Series([f"V{i + 1}" for i in range(len(frame))])
    return gpd.GeoDataFrame({
        "village_id": frame[id_col].astype(str).to_numpy() if id_col in frame else
        np.array([f"V{i + 1:04d}" for i in range(len(frame))]),
        "name": names.to_numpy(), "population": values,
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs).to_crs(crs).reset_index(drop=True)
