"""Reading input layers: where a layer comes from (:class:`LayerSpec`), reading vector files, and
the checks every loader shares (missing file, missing CRS, missing columns, numbers, yes/no flags).

The loaders themselves live in :mod:`boundaries`, :mod:`facilities` and :mod:`population`; every one
raises :class:`InputError` naming the file, the field and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError, warn
from .settings_check import closest

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
    given: str | None = None      # set when the layer is a library argument: how messages name it

    @classmethod
    def of_frame(cls, argument: str, key: str, columns: dict | None = None) -> LayerSpec:
        """The spec of a layer given to the library API as a GeoDataFrame (``argument``, e.g. "units").

        Messages name it as ``<units GeoDataFrame>`` where a file's name would stand.
        """
        return cls(path=Path(f"<{argument} GeoDataFrame>"), columns=columns, key=key,
                   given=f"the {argument} GeoDataFrame")

    @property
    def path_field(self) -> str:
        """The scenario key that names this file (or the library argument), for messages."""
        if self.given:
            return self.path.name.strip("<>")
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
    """Read a vector file; a missing file, unreadable data or a missing CRS is an InputError.

    A Shapefile is read in ``spec.encoding`` when given. Without it and without a ``.cpg`` file, GDAL
    reads the DBF as Latin-1; when its text then looks like Latin-1 mojibake of Chinese (GBK bytes,
    the usual case for Chinese boundary data), the file is read again as GB18030 with a warning.
    """
    path = existing_path(spec)
    shapefile = path.suffix.lower() in (".shp", ".dbf")
    frame = _read_frame(spec, spec.encoding if shapefile else None)
    if shapefile and spec.encoding is None and not path.with_suffix(".cpg").exists():
        example = _gbk_mojibake(frame)
        if example:
            frame = _read_frame(spec, "gb18030")
            warn(f"the Shapefile {path.name} has no .cpg file and its text reads as Chinese in GBK "
                 f"(e.g. '{example[0]}' is '{example[1]}'), so it was read as GB18030. To make this "
                 f"explicit, set encoding = \"gbk\" under [{spec.key or 'layer'}] in the scenario or put "
                 f"a file {path.with_suffix('.cpg').name} containing GBK next to it.")
    return check_frame(frame, spec)


def check_frame(frame: object, spec: LayerSpec) -> gpd.GeoDataFrame:
    """The layer as a GeoDataFrame with a CRS, or an InputError (a file read without geometry, or a
    GeoDataFrame given to the library API without a CRS).

    Parameters
    ----------
    frame : object
        What was read from ``spec.path``, or the object given to the library API.
    spec : LayerSpec
        Where the layer comes from; ``spec.given`` tells a library argument from a file.
    """
    if not isinstance(frame, gpd.GeoDataFrame):
        if spec.given:
            raise InputError(f"{spec.given} must be a GeoDataFrame, got {type(frame).__name__}.", file=spec.path,
                             field=spec.path_field, fix="pass a geopandas GeoDataFrame (e.g. gpd.read_file(...), "
                             "or gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(lon, lat), crs=4326)).")
        raise InputError("the file has no geometry.", file=spec.path, field=spec.path_field,
                         fix="give a GeoJSON, GeoPackage or Shapefile of points or polygons.")
    if frame.crs is None:
        if spec.given:
            raise InputError(f"{spec.given} has no coordinate reference system (CRS).", file=spec.path,
                             field="crs", fix="set it, e.g. frame.set_crs(4326) for longitude/latitude.")
        raise InputError("the layer has no coordinate reference system (CRS).", file=spec.path, field="crs",
                         fix="save it with a CRS (e.g. EPSG:4326 for longitude/latitude), or for a "
                             "Shapefile add the .prj file.")
    return frame


def _read_frame(spec: LayerSpec, encoding: str | None) -> gpd.GeoDataFrame:
    """geopandas/pyogrio read of the layer, in ``encoding`` if given; failures are InputErrors."""
    options = {k: v for k, v in (("layer", spec.layer), ("encoding", encoding)) if v}
    try:
        return gpd.read_file(spec.path, **options)
    except LookupError:
        raise InputError(f"unknown text encoding '{encoding}'.", file=spec.path, field=f"{spec.key}.encoding",
                         fix='give an encoding Python knows, e.g. "gbk", "gb18030" or "utf-8".') from None
    except Exception as exc:
        raise InputError(f"could not read {spec.path} ({type(exc).__name__}: {exc}).", file=spec.path,
                         field=spec.path_field, fix="give a GeoJSON, GeoPackage or Shapefile.") from None


_CJK = re.compile(r"[\u3400-\u9fff]")


def _gbk_mojibake(frame: pd.DataFrame) -> tuple[str, str] | None:
    """(text, GBK reading) when every non-ASCII text value is Latin-1 mojibake of Chinese GBK bytes
    (re-encoded as Latin-1 it decodes as GB18030 to text whose letters are mostly CJK), else None."""
    example = None
    for col in frame.columns:
        if col == frame.geometry.name or not (pd.api.types.is_string_dtype(frame[col]) or frame[col].dtype == object):
            continue
        for text in frame[col].dropna().astype(str).unique():
            if text.isascii():
                continue
            try:
                fixed = text.encode("latin-1").decode("gb18030")
            except UnicodeError:
                return None
            letters = [c for c in fixed if c.isalpha()]
            if 2 * len(_CJK.findall(fixed)) < len(letters):   # e.g. "Fläsch" in Latin-1: not Chinese
                return None
            example = example or (text, fixed)
    return example


def region_crs(boundaries: gpd.GeoDataFrame) -> str:
    """The UTM zone (as 'EPSG:xxxxx') that suits the region, from its boundaries."""
    return str(boundaries.estimate_utm_crs().to_string())


# The keys of each layer's [<layer>.columns] table (our name → the file's column) that the readers use,
# with what each is for: boundaries.py, facilities.py (and subcentres.py: beds, grade), population.py,
# villages.py. lon/lat name the coordinate columns of a CSV or Excel table. A key not listed here would
# be read by nobody, so the scenario refuses it (tests/test_column_keys.py keeps this in step with the readers).
COLUMN_KEYS: dict[str, dict[str, str]] = {
    "boundaries": {"unit_id": "unit code", "name": "unit name", "name_en": "English name",
                   "zone": "urban/rural", "kind": "镇/街道/乡", "county_seat": "yes/no", "central_town": "yes/no",
                   "county_id": "the unit's county"},
    "facilities": {"type": "facility type", "id": "facility id", "name": "name", "name_en": "English name",
                   "ambulances": "ambulance count", "turnout_min": "turnout minutes", "fixed": "yes/no: keep",
                   "beds": "beds", "doctors": "doctors", "nurses": "nurses", "gps": "general practitioners",
                   "negative_pressure_ambulances": "negative-pressure ambulances", "grade": "hospital grade",
                   "lon": "longitude (CSV/Excel)", "lat": "latitude (CSV/Excel)"},
    "population": {"population": "people per cell"},
    "villages": {"population": "people", "id": "village id", "name": "name",
                 "lon": "longitude (CSV)", "lat": "latitude (CSV)"},
}
# Keys whose column a table reader consumes (checked there), not looked up in the layer's attributes.
COORD_KEYS = ("lon", "lat")


def column_key_problems(layer: str, columns: dict, *, file: object, section: str) -> list[InputError]:
    """An InputError for every key of a ``columns`` mapping that the ``layer``'s readers do not use.

    Parameters
    ----------
    layer : str
        boundaries, facilities, population or villages.
    columns : dict
        Our name → the file's column, as given.
    file : path or None
        The file named in the messages (the scenario).
    section : str
        How the mapping is named, e.g. ``"facilities.columns"`` or ``"columns['facilities']"``.
    """
    known = COLUMN_KEYS[layer]
    listing = "; ".join(f"{k} ({about})" for k, about in known.items())
    return [InputError(f"unknown key '{k}' in [{section}]{closest(k, list(known))}: no reader uses it, so the "
                       f"column '{v}' would be ignored.", file=file, field=f"{section}.{k}",
                       fix=f"keys of [{section}] are {listing}.")
            for k, v in sorted(columns.items(), key=lambda kv: str(kv[0])) if k not in known]


def require_mapped_columns(frame: pd.DataFrame, spec: LayerSpec) -> None:
    """InputError when a column named under ``[<layer>.columns]`` is not in the layer (a mapping to a
    column that is not there would otherwise fall back to the default, e.g. 0 ambulances)."""
    wanted = {k: v for k, v in (spec.columns or {}).items() if k not in COORD_KEYS}
    require_columns(frame, wanted, spec)


_COLUMN_EXAMPLES = {"boundaries": 'unit_id = "乡镇代码", name = "乡镇名称"', "facilities": 'type = "机构类型"',
                    "population": 'population = "人口"'}


def require_columns(frame: pd.DataFrame, wanted: dict[str, str], spec: LayerSpec) -> None:
    """InputError listing the wanted columns the layer lacks, with an example for its scenario table."""
    missing = [f"{ours} (column '{col}')" for ours, col in wanted.items() if col not in frame.columns]
    if missing:
        example = _COLUMN_EXAMPLES.get(spec.key, 'name = "名称"')
        fix = (f"name the right columns under [{spec.key}.columns] in the scenario, e.g. {example}." if not spec.given
               else f"rename the columns of {spec.given}, or map them with the columns argument "
                    f"({{'{spec.key}': {{our name: your column}}}}), e.g. {example}.")
        raise InputError(f"column(s) not found: {', '.join(missing)}. The {'frame' if spec.given else 'file'} has: "
                         f"{', '.join(map(str, frame.columns))}.", file=spec.path,
                         field=f"{spec.key}.columns", fix=fix)


def rows_text(index: np.ndarray, limit: int = 10) -> str:
    """Row positions (0-based) as the 1-based list planners see in a table, e.g. "2, 5, 9 …"."""
    index = np.asarray(index)
    return ", ".join(str(int(i) + 1) for i in index[:limit]) + (" …" if len(index) > limit else "")


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
        raise InputError(f"non-numeric values in row(s) {rows_text(np.flatnonzero(bad.to_numpy()))} "
                         "(counting features from 1).",
                         file=spec.path, field=col, fix="give numbers (or leave the cell empty).")
    return values.fillna(default).to_numpy(dtype=float)
