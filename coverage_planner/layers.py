"""Reading input layers: where a layer comes from (:class:`LayerSpec`), reading vector files, and
the checks every loader shares (missing file, missing CRS, missing columns, numbers, yes/no flags).

The loaders themselves live in :mod:`boundaries`, :mod:`facilities` and :mod:`population`; every one
raises :class:`InputError` naming the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError

VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")


OSM_SUFFIXES = (".pbf", ".osm", ".bz2")


@dataclass
class LayerSpec:
    """Where a layer comes from and how to read it (one table of the scenario file)."""

    path: Path
    layer: str | None = None
    columns: dict | None = None   # our field name -> the file's column name
    encoding: str | None = None
    coords: str = "wgs84"
    key: str = ""                 # the scenario key, for messages (e.g. "facilities")
    admin_level: str | None = None  # OSM boundaries: which admin_level are the units

    @property
    def path_field(self) -> str:
        """The scenario key that names this file, for messages."""
        return self.key if "." in self.key else f"{self.key}.path"

    def column(self, ours: str, default: str | None = None) -> str | None:
        return (self.columns or {}).get(ours, default)


def existing_path(spec: LayerSpec) -> Path:
    """The layer's path, or an InputError naming the scenario key if the file is missing."""
    if not spec.path.exists():
        raise InputError(f"the {spec.key or 'layer'} file {spec.path} does not exist.", file=spec.path,
                         field=spec.path_field, fix="check the path in the scenario; relative paths "
                         "are read from the scenario file's folder.")
    return spec.path


def read_vector(spec: LayerSpec) -> gpd.GeoDataFrame:
    """Read a vector file; a missing file, unreadable data or a missing CRS is an InputError."""
    path = existing_path(spec)
    try:
        frame = gpd.read_file(path, layer=spec.layer) if spec.layer else gpd.read_file(path)
    except Exception as exc:
        raise InputError(f"could not read {path} ({type(exc).__name__}: {exc}).", file=path,
                         field=spec.path_field, fix="give a GeoJSON, GeoPackage or Shapefile.") from None
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError("the file has no geometry.", file=path, field=spec.path_field,
                         fix="give a GeoJSON, GeoPackage or Shapefile of points or polygons.")
    if frame.crs is None:
        raise InputError("the layer has no coordinate reference system (CRS).", file=path, field="crs",
                         fix="save it with a CRS (e.g. EPSG:4326 for longitude/latitude), or for a "
                             "Shapefile add the .prj file.")
    return frame


def region_crs(boundaries: gpd.GeoDataFrame) -> str:
    """The UTM zone (as 'EPSG:xxxxx') that suits the region, from its boundaries."""
    return str(boundaries.estimate_utm_crs().to_string())


def require_columns(frame: pd.DataFrame, wanted: dict[str, str], spec: LayerSpec) -> None:
    missing = [f"{ours} (column '{col}')" for ours, col in wanted.items() if col not in frame.columns]
    if missing:
        raise InputError(f"column(s) not found: {', '.join(missing)}. The file has: "
                         f"{', '.join(map(str, frame.columns))}.", file=spec.path,
                         field=f"{spec.key}.columns", fix=f"name the right columns under "
                         f"[{spec.key}.columns] in the scenario, e.g. type = \"机构类型\".")


_TRUE_WORDS = {"true", "t", "yes", "y", "1", "是", "对"}


def truthy(value: object) -> bool:
    """A yes/no attribute from GeoJSON, Shapefile or CSV: True, 1, "true", "yes", "是" are true."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value) and not np.isnan(value)
    return str(value).strip().lower() in _TRUE_WORDS


def numeric_column(frame: pd.DataFrame, col: str | None, spec: LayerSpec, default: float) -> np.ndarray:
    if col is None or col not in frame:
        return np.full(len(frame), default, dtype=float)
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        raise InputError(f"non-numeric values in rows {list(np.flatnonzero(bad.to_numpy())[:5])}.",
                         file=spec.path, field=col, fix="give numbers (or leave the cell empty).")
    return values.fillna(default).to_numpy(dtype=float)
