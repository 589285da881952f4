"""Health facilities as points: from a CSV/XLSX table with longitude/latitude, a vector layer, or
the health tags of an OSM file."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError
from .layers import OSM_SUFFIXES, LayerSpec, existing_path, numeric_column, read_vector, require_columns

# OSM health tags → facility types (amenity first, then healthcare=*)
OSM_HEALTH_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "clinic", "centre": "clinic"}


OSM_HEALTH_FILTER = {"amenity": ["hospital", "clinic", "doctors"], "healthcare": True}
# Resources read for ratio and share rules: our name → accepted column names. A column that is not
# there gives NaN (the rule is reported as not checked), never 0.
RESOURCE_ALIASES = {"beds": ("beds", "床位", "床位数"),
                    "doctors": ("doctors", "执业（助理）医师", "执业(助理)医师", "执业医师"),
                    "nurses": ("nurses", "注册护士"), "gps": ("gps", "全科医生"),
                    "negative_pressure_ambulances": ("negative_pressure_ambulances", "负压救护车")}


def read_points(spec: LayerSpec, noun: tuple[str, str] = ("feature", "features")) -> gpd.GeoDataFrame:
    """Points from a CSV with longitude/latitude columns or from a vector layer (polygons become
    representative points), converted from ``spec.coords`` (GCJ-02, BD-09) to WGS84 where needed.
    A feature without a location is an InputError naming the rows; ``noun`` (singular, plural) names
    what they are in that message."""
    if existing_path(spec).suffix.lower() in (".csv", ".txt", ".tsv"):
        from .tableio import points_from_table, read_table

        table = read_table(spec.path, encoding=spec.encoding, layer=spec.key)
        return points_from_table(table, spec.path, spec.column("lon"), spec.column("lat"), coords=spec.coords)
    frame = read_vector(spec)
    missing = np.flatnonzero((frame.geometry.isna() | frame.geometry.is_empty).to_numpy())
    if len(missing):
        rows = ", ".join(str(i + 1) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        which = f"{noun[0]} has" if len(missing) == 1 else f"{noun[1]} have"
        raise InputError(f"{len(missing)} {which} no location (feature {rows}, counting from 1).", file=spec.path,
                         field="geometry", fix=f"give every {noun[0]} a location, or remove those features.")
    frame = frame.set_geometry(frame.geometry.representative_point())
    if spec.coords != "wgs84":
        from .coords import to_wgs84

        frame = frame.to_crs("EPSG:4326")
        lon, lat = to_wgs84(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), spec.coords)
        frame = frame.set_geometry(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    return frame


def load_facilities(spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                    type_map: dict | None = None) -> gpd.GeoDataFrame:
    """Facilities as points with columns fid, name, name_en, type, ambulances, turnout_min."""
    if existing_path(spec).name.lower().endswith(OSM_SUFFIXES):
        frame = osm_facilities(spec.path)
    else:
        frame = read_points(spec, ("facility", "facilities"))
    if len(frame) == 0:
        raise InputError("the facility layer is empty.", file=spec.path, field="facilities",
                         fix="give at least one facility, or check the file's filter.")
    cols = {"type": spec.column("type", "type")}
    require_columns(frame, cols, spec)
    if not frame.geometry.geom_type.isin(["Point"]).all():
        frame = frame.set_geometry(frame.geometry.representative_point())
    _check_lonlat(frame, spec)
    id_col = spec.column("id", "id")
    name_col = spec.column("name", "name")
    types = frame[cols["type"]].astype(str).str.strip()
    if type_map:
        types = types.map(lambda t: type_map.get(t, t))
    out = gpd.GeoDataFrame({
        "facility_id": frame[id_col].astype(str) if id_col in frame else [f"F{i + 1:04d}" for i in range(len(frame))],
        "name": frame[name_col].astype(str) if name_col in frame else "",
        "name_en": frame[spec.column("name_en", "name_en")].astype(str)
        if spec.column("name_en", "name_en") in frame else "",
        "type": types.to_numpy(),
        "ambulances": numeric_column(frame, spec.column("ambulances", "ambulances"), spec, 0),
        "turnout_min": numeric_column(frame, spec.column("turnout_min", "turnout_min"), spec, np.nan),
        **resource_columns(frame, spec),
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs).to_crs(crs)
    if region is not None:
        outside = ~shapely.contains_xy(shapely.buffer(region, 5000), out.geometry.x, out.geometry.y)
        if outside.mean() > 0.5:
            raise InputError(f"{int(outside.sum())} of {len(out)} facilities lie outside the region "
                             "(more than 5 km beyond the boundaries).", file=spec.path, field="geometry",
                             fix="check that longitude and latitude are not swapped, and that the "
                                 "coordinate system (coords = wgs84/gcj02/bd09) is right.")
    return out.reset_index(drop=True)


def resource_columns(frame: pd.DataFrame, spec: LayerSpec) -> dict[str, np.ndarray]:
    """Beds, doctors, nurses, GPs and negative-pressure ambulances per facility (NaN where not given),
    from the column named under [facilities.columns] or the first alias present."""
    named = {k: spec.column(k) for k in RESOURCE_ALIASES if spec.column(k)}
    require_columns(frame, named, spec)
    return {name: numeric_column(frame, named.get(name) or next((a for a in aliases if a in frame), None),
                                 spec, np.nan) for name, aliases in RESOURCE_ALIASES.items()}


def osm_facilities(path: Path) -> gpd.GeoDataFrame:
    """Health facilities tagged in an OSM file (amenity=hospital|clinic|doctors, healthcare=*).

    Keeps ``name``, ``name:zh`` and ``name:en``; ``type`` is hospital or clinic (from amenity, else from
    healthcare); polygons become representative points. Columns: id, name, name_zh, name_en, type.
    """
    import json

    if path.suffix.lower() == ".pbf":
        from pyrosm import OSM

        try:
            pois = OSM(str(path)).get_pois(custom_filter=OSM_HEALTH_FILTER)
        except Exception as exc:
            raise InputError(f"could not read health facilities from the PBF file ({exc}).", file=path,
                             field="facilities.path", fix="download the extract again.") from None
        if pois is None or len(pois) == 0:
            pois = gpd.GeoDataFrame({"id": [], "osm_type": [], "name": [], "amenity": [], "healthcare": []},
                                    geometry=[], crs="EPSG:4326")
        extra = pois["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else {}) if "tags" in pois \
            else pd.Series([{}] * len(pois), index=pois.index)
        ids = pois["osm_type"].astype(str).str[0] + pois["id"].astype(str)
        names = {k: extra.map(lambda t, k=k: t.get(k)) for k in ("name:zh", "name:en")}
    else:
        import osmnx as ox

        try:
            pois = ox.features_from_xml(path, tags=OSM_HEALTH_FILTER).reset_index()
        except Exception as exc:
            raise InputError(f"could not read health facilities from the OSM file ({exc}).", file=path,
                             field="facilities.path", fix="check that the file is a complete OSM extract.") from None
        ids = pois["element"].astype(str).str[0] + pois["id"].astype(str)
        names = {k: pois[k] if k in pois else pd.Series([None] * len(pois)) for k in ("name:zh", "name:en")}
    amenity = pois["amenity"] if "amenity" in pois else pd.Series([None] * len(pois), index=pois.index)
    health = pois["healthcare"] if "healthcare" in pois else pd.Series([None] * len(pois), index=pois.index)
    kind = amenity.where(amenity.notna(), health).map(lambda v: OSM_HEALTH_TYPES.get(str(v), "clinic"))
    name = pois["name"] if "name" in pois else pd.Series([""] * len(pois), index=pois.index)
    out = gpd.GeoDataFrame({
        "id": ids.to_numpy(), "name": name.fillna(names["name:zh"]).fillna("").to_numpy(),
        "name_zh": names["name:zh"].fillna(name).to_numpy(), "name_en": names["name:en"].fillna("").to_numpy(),
        "type": kind.to_numpy(),
    }, geometry=pois.geometry.representative_point().to_numpy(), crs="EPSG:4326")
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _check_lonlat(frame: gpd.GeoDataFrame, spec: LayerSpec) -> None:
    if frame.crs is None or not frame.crs.is_geographic:
        return
    x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    if (np.abs(y) > 90).any() or (np.abs(x) > 180).any():
        raise InputError("latitude outside ±90° or longitude outside ±180°: longitude and latitude look "
                         "swapped.", file=spec.path, field="geometry",
                         fix="swap the columns (经度 = longitude, 纬度 = latitude) or the point order.")
