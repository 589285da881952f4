"""Candidate sites from a planner's layer, for siting (``[siting] candidates_path``) and for
sub-centres (``[subcentres] candidates_path``).

One reader for both, built on the facility reader (:func:`facilities.read_points`): CSV or Excel
tables with 经度/纬度 (lon/lat, …) columns, GeoJSON, GeoPackage, Shapefile; coordinates in the
scenario's facility coordinate system (``[facilities] coords``: wgs84, gcj02, bd09) or a per-row
``coord_system``/``坐标系`` column, converted to WGS84 as facilities are; polygons become
representative points. Empty layers, missing or repeated ids and points far outside the region are
refused.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .facilities import read_points
from .layers import LayerSpec

OUTSIDE_MARGIN_M = 5000.0   # candidates this far outside the region's boundaries are refused


def read_candidates(spec: LayerSpec, region_geometry: shapely.Geometry, crs: str, *, require_id: bool = False,
                    names_from_id: bool = False, empty_fix: str = "give at least one candidate site.",
                    margin_m: float = OUTSIDE_MARGIN_M) -> gpd.GeoDataFrame:
    """Candidate points of a layer, in the region's CRS.

    Parameters
    ----------
    spec : LayerSpec
        The layer: ``path``, ``key`` (the scenario key that names it, e.g. ``"siting.candidates_path"``),
        ``coords`` (the facilities' coordinate system), ``layer`` (a workbook's sheet) and ``columns``
        (our name → the file's column, for ``id``, ``name``, ``name_en``, ``lon``, ``lat``).
    region_geometry : shapely geometry
        The region's boundaries in ``crs``.
    crs : str
        The region's metric CRS.
    require_id : bool
        Refuse a layer without an id column (else ids are P001, P002, … in file order).
    names_from_id : bool
        Without a name column the name is the id, and without a name_en column name_en is the name
        (else both are empty).
    empty_fix : str
        The fix for an empty layer.
    margin_m : float
        Candidates farther than this outside the boundaries are refused (swapped or wrong coordinates).

    Returns
    -------
    GeoDataFrame
        Columns ``candidate_id``, ``name``, ``name_en`` (text, empty cells as ""), points in ``crs``.

    Raises
    ------
    InputError
        A missing or unreadable file, an empty layer, a missing (with ``require_id``) or repeated id,
        a row without coordinates or with coordinates out of range, or candidates outside the region.
    """
    frame = read_points(spec, ("candidate site", "candidate sites"))
    if len(frame) == 0:
        raise InputError("the candidate layer is empty.", file=spec.path, field=spec.path_field, fix=empty_fix)
    labels = _row_labels(frame)
    id_col = spec.column("id", "id")
    if id_col in frame:
        ids = frame[id_col].astype("string").str.strip().fillna("").astype(str)
    elif require_id:
        raise InputError(f"the candidate layer has no '{id_col}' column. The file has: "
                         f"{', '.join(map(str, frame.columns))}.", file=spec.path, field=id_col,
                         fix="add an id column (one unique id per candidate).")
    else:
        ids = pd.Series([f"P{i + 1:03d}" for i in range(len(frame))])
    _check_ids(ids.to_numpy(dtype=object), labels, spec, id_col)
    points = frame.geometry.to_crs(crs)
    x, y = points.x.to_numpy(), points.y.to_numpy()
    _check_inside(ids.to_numpy(dtype=object), x, y, region_geometry, margin_m, spec)

    def text(ours: str, fallback: np.ndarray) -> np.ndarray:
        col = spec.column(ours, ours)
        if col in frame:
            return frame[col].astype(object).where(frame[col].notna(), "").astype(str).to_numpy(dtype=object)
        return fallback

    blank = np.full(len(frame), "", dtype=object)
    name = text("name", ids.to_numpy(dtype=object) if names_from_id else blank)
    name_en = text("name_en", name if names_from_id else blank)
    return gpd.GeoDataFrame({"candidate_id": ids.to_numpy(dtype=object), "name": name, "name_en": name_en},
                            geometry=gpd.points_from_xy(x, y), crs=crs)


def _row_labels(frame: pd.DataFrame) -> list[str]:
    from .tableio import row_label

    return [row_label(frame, i) for i in range(len(frame))]


def _check_ids(ids: np.ndarray, labels: list[str], spec: LayerSpec, id_col: str) -> None:
    """InputError naming every empty or repeated id, with its rows."""
    empty = np.flatnonzero(ids == "")
    if len(empty):
        raise InputError(f"{len(empty)} candidate(s) have no id ({', '.join(labels[i] for i in empty[:8])}).",
                         file=spec.path, field=id_col, fix="give every candidate its own id.")
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    if dup.any():
        groups = pd.Series(np.flatnonzero(dup)).groupby(ids[dup], sort=True).agg(list)
        listing = "; ".join(f"'{cid}' ({', '.join(labels[i] for i in rows[:5])})"
                            for cid, rows in list(groups.items())[:8])
        raise InputError(f"candidate id(s) used twice: {listing}.", file=spec.path, field=id_col,
                         fix="give every candidate its own id.")


def _check_inside(ids: np.ndarray, x: np.ndarray, y: np.ndarray, region: shapely.Geometry, margin_m: float,
                  spec: LayerSpec) -> None:
    outside = ~shapely.contains_xy(shapely.buffer(region, margin_m), x, y)
    if outside.any():
        listing = ", ".join(map(str, ids[outside][:8])) + (" …" if outside.sum() > 8 else "")
        raise InputError(f"{int(outside.sum())} candidate(s) lie more than {margin_m / 1000:g} km outside the "
                         f"region: {listing}.", file=spec.path, field="geometry",
                         fix="check that longitude and latitude are not swapped and that the layer's CRS (or "
                             "[facilities] coords: wgs84, gcj02, bd09) is right.")
