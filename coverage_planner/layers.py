"""Input layers as GeoDataFrames in one projected metric CRS: boundaries, facilities, population.

Every loader checks its input and raises :class:`InputError` naming the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError

ZONE_WORDS = {
    "urban": "urban", "城市": "urban", "城镇": "urban", "城区": "urban", "市区": "urban", "u": "urban",
    "rural": "rural", "农村": "rural", "乡村": "rural", "r": "rural",
}
UNIT_KIND_WORDS = {"street": "street", "街道": "street", "town": "town", "镇": "town", "township": "town",
                   "乡": "town", "乡镇": "town"}
VECTOR_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp", ".fgb")
OSM_SUFFIXES = (".pbf", ".osm", ".bz2")
# OSM health tags → facility types (amenity first, then healthcare=*)
OSM_HEALTH_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "clinic", "centre": "clinic"}
OSM_HEALTH_FILTER = {"amenity": ["hospital", "clinic", "doctors"], "healthcare": True}


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


def _existing(spec: LayerSpec) -> Path:
    """The layer's path, or an InputError naming the scenario key if the file is missing."""
    if not spec.path.exists():
        raise InputError(f"the {spec.key or 'layer'} file {spec.path} does not exist.", file=spec.path,
                         field=spec.path_field, fix="check the path in the scenario; relative paths "
                         "are read from the scenario file's folder.")
    return spec.path


def read_vector(spec: LayerSpec) -> gpd.GeoDataFrame:
    """Read a vector file; a missing file, unreadable data or a missing CRS is an InputError."""
    path = _existing(spec)
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


def _require_columns(frame: pd.DataFrame, wanted: dict[str, str], spec: LayerSpec) -> None:
    missing = [f"{ours} (column '{col}')" for ours, col in wanted.items() if col not in frame.columns]
    if missing:
        raise InputError(f"column(s) not found: {', '.join(missing)}. The file has: "
                         f"{', '.join(map(str, frame.columns))}.", file=spec.path,
                         field=f"{spec.key}.columns", fix=f"name the right columns under "
                         f"[{spec.key}.columns] in the scenario, e.g. type = \"机构类型\".")


def load_boundaries(spec: LayerSpec, crs: str | None = None, census_column: str | None = None) -> gpd.GeoDataFrame:
    """Administrative units with columns unit_id, name, name_en, kind, zone (or None), county_seat.

    With ``census_column``, also ``census_population`` (checked: numbers ≥ 0).
    """
    frame = osm_boundaries(spec) if spec.path.name.lower().endswith(OSM_SUFFIXES) else read_vector(spec)
    cols = {"unit_id": spec.column("unit_id", "unit_id"), "name": spec.column("name", "name")}
    _require_columns(frame, cols, spec)
    if len(frame) == 0:
        raise InputError("the boundary layer is empty.", file=spec.path, field=spec.key,
                         fix="give at least one polygon of the region.")
    out = gpd.GeoDataFrame({
        "unit_id": frame[cols["unit_id"]].astype(str),
        "name": frame[cols["name"]].astype(str),
        "name_en": frame[spec.column("name_en", "name_en")].astype(str)
        if spec.column("name_en", "name_en") in frame else frame[cols["name"]].astype(str),
    }, geometry=frame.geometry.make_valid(), crs=frame.crs)
    zone_col = spec.column("zone", "zone")
    if zone_col in frame:
        zones = frame[zone_col].astype(str).str.strip().str.lower().map(lambda z: ZONE_WORDS.get(z))
        bad = frame.loc[zones.isna(), zone_col]
        if len(bad):
            raise InputError(f"unknown zone value(s) {sorted(set(map(str, bad)))[:5]}.", file=spec.path,
                             field=zone_col, fix="use urban/rural (or 城市/城镇 and 农村/乡村).")
        out["zone"] = zones.to_numpy()
    else:
        out["zone"] = None
    kind_col = spec.column("kind", "kind")
    out["kind"] = (frame[kind_col].astype(str).map(lambda k: UNIT_KIND_WORDS.get(k.strip().lower(), k))
                   if kind_col in frame else "unit")
    for flag in ("county_seat", "central_town"):
        col = spec.column(flag, flag)
        out[flag] = frame[col].map(_truthy).to_numpy() if col in frame else False
    if crs:
        out = out.to_crs(crs)
    return out


_TRUE_WORDS = {"true", "t", "yes", "y", "1", "是", "对"}


def _truthy(value: object) -> bool:
    """A yes/no attribute from GeoJSON, Shapefile or CSV: True, 1, "true", "yes", "是" are true."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return bool(value) and not np.isnan(value)
    return str(value).strip().lower() in _TRUE_WORDS


def read_points(spec: LayerSpec, noun: tuple[str, str] = ("feature", "features")) -> gpd.GeoDataFrame:
    """Points from a CSV with longitude/latitude columns or from a vector layer (polygons become
    representative points), converted from ``spec.coords`` (GCJ-02, BD-09) to WGS84 where needed.
    A feature without a location is an InputError naming the rows; ``noun`` (singular, plural) names
    what they are in that message."""
    if _existing(spec).suffix.lower() in (".csv", ".txt", ".tsv"):
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
    if _existing(spec).name.lower().endswith(OSM_SUFFIXES):
        frame = osm_facilities(spec.path)
    else:
        frame = read_points(spec, ("facility", "facilities"))
    if len(frame) == 0:
        raise InputError("the facility layer is empty.", file=spec.path, field="facilities",
                         fix="give at least one facility, or check the file's filter.")
    cols = {"type": spec.column("type", "type")}
    _require_columns(frame, cols, spec)
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
        "ambulances": _numeric(frame, spec.column("ambulances", "ambulances"), spec, 0),
        "turnout_min": _numeric(frame, spec.column("turnout_min", "turnout_min"), spec, np.nan),
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs).to_crs(crs)
    if region is not None:
        outside = ~shapely.contains_xy(shapely.buffer(region, 5000), out.geometry.x, out.geometry.y)
        if outside.mean() > 0.5:
            raise InputError(f"{int(outside.sum())} of {len(out)} facilities lie outside the region "
                             "(more than 5 km beyond the boundaries).", file=spec.path, field="geometry",
                             fix="check that longitude and latitude are not swapped, and that the "
                                 "coordinate system (coords = wgs84/gcj02/bd09) is right.")
    return out.reset_index(drop=True)


def attach_census(units: gpd.GeoDataFrame, path: Path, key: str, column: str,
                  encoding: str | None = None) -> gpd.GeoDataFrame:
    """Join a census table (one row per unit: key, population) to the units as census_population."""
    from .tableio import read_table

    if not Path(path).exists():
        raise InputError(f"the census table {path} does not exist.", file=path, field="population.census_path",
                         fix="check the path (relative to the scenario file).")
    table = read_table(path, encoding, layer="population")
    spec = LayerSpec(path=Path(path), key="population")
    _require_columns(table, {"census key": key, "census population": column}, spec)
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    _check_population_values(values, spec, column)
    lookup = dict(zip(table[key].astype(str).str.strip(), values))
    unit_key = "unit_id" if key in ("unit_id", "id") else "name"
    missing = [k for k in units[unit_key] if k not in lookup]
    if missing:
        raise InputError(f"{len(missing)} unit(s) have no row in the census table: {', '.join(missing[:8])}.",
                         file=path, field=key, fix=f"add a row per unit (matched on the units' {unit_key}).")
    return units.assign(census_population=[lookup[k] for k in units[unit_key]])


def osm_boundaries(spec: LayerSpec) -> gpd.GeoDataFrame:
    """Administrative boundary relations of an OSM file, assembled into polygons (pyrosm / osmnx).

    Only ``admin_level = spec.admin_level`` (default "8", communes/townships) is kept. Columns:
    unit_id (relation id), name, name_en.
    """
    import json

    level = str(spec.admin_level or "8")
    try:
        if spec.path.suffix.lower() == ".pbf":
            from pyrosm import OSM

            frame = OSM(str(spec.path)).get_boundaries(boundary_type="administrative")
            extra = frame["tags"].map(lambda t: json.loads(t) if isinstance(t, str) else {})
            frame["name_en"] = extra.map(lambda t: t.get("name:en")).fillna(frame["name"])
        else:
            import osmnx as ox

            frame = ox.features_from_xml(spec.path, tags={"boundary": "administrative"}).reset_index()
            frame["name_en"] = frame.get("name:en", frame["name"]).fillna(frame["name"])
    except Exception as exc:
        raise InputError(f"could not read administrative boundaries ({type(exc).__name__}: {exc}).",
                         file=spec.path, field="boundaries.path", fix="check the OSM file.") from None
    frame = frame[(frame["admin_level"].astype(str) == level)
                  & frame.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(frame) == 0:
        raise InputError(f"no administrative boundaries with admin_level={level} in the OSM file.",
                         file=spec.path, field="boundaries.admin_level",
                         fix="set [boundaries] admin_level to a level present in the file (e.g. 6 or 8).")
    out = gpd.GeoDataFrame({"unit_id": frame["id"].astype(str).to_numpy(), "name": frame["name"].astype(str).to_numpy(),
                            "name_en": frame["name_en"].astype(str).to_numpy()},
                           geometry=frame.geometry.to_numpy(), crs="EPSG:4326")
    return out.sort_values("unit_id").reset_index(drop=True)


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


def _numeric(frame: pd.DataFrame, col: str | None, spec: LayerSpec, default: float) -> np.ndarray:
    if col is None or col not in frame:
        return np.full(len(frame), default, dtype=float)
    values = pd.to_numeric(frame[col], errors="coerce")
    bad = values.isna() & frame[col].notna()
    if bad.any():
        raise InputError(f"non-numeric values in rows {list(np.flatnonzero(bad.to_numpy())[:5])}.",
                         file=spec.path, field=col, fix="give numbers (or leave the cell empty).")
    return values.fillna(default).to_numpy(dtype=float)


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
        _require_columns(frame, {"population": col}, spec)
        pop = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
        _check_population_values(pop, spec, col)
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


def _check_population_values(pop: np.ndarray, spec: LayerSpec, field: str) -> None:
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
        _check_population_values(np.where(masked, 0.0, data), spec, "band 1")
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
