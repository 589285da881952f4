"""Administrative units (镇/街道) from a vector layer or OSM boundary relations, with zone, kind and
county-seat / central-town flags, and census tables joined per unit."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pandas as pd

from .errors import InputError
from .layers import OSM_SUFFIXES, LayerSpec, read_vector, require_columns, truthy
from .population import check_population_values

ZONE_WORDS = {
    "urban": "urban", "城市": "urban", "城镇": "urban", "城区": "urban", "市区": "urban", "u": "urban",
    "rural": "rural", "农村": "rural", "乡村": "rural", "r": "rural",
}


UNIT_KIND_WORDS = {"street": "street", "街道": "street", "town": "town", "镇": "town", "township": "town",
                   "乡": "town", "乡镇": "town"}


def load_boundaries(spec: LayerSpec, crs: str | None = None, census_column: str | None = None) -> gpd.GeoDataFrame:
    """Administrative units with columns unit_id, name, name_en, kind, zone (or None), county_seat.

    With ``census_column``, also ``census_population`` (checked: numbers ≥ 0).
    """
    frame = osm_boundaries(spec) if spec.path.name.lower().endswith(OSM_SUFFIXES) else read_vector(spec)
    cols = {"unit_id": spec.column("unit_id", "unit_id"), "name": spec.column("name", "name")}
    require_columns(frame, cols, spec)
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
        out[flag] = frame[col].map(truthy).to_numpy() if col in frame else False
    if crs:
        out = out.to_crs(crs)
    return out


def attach_census(units: gpd.GeoDataFrame, path: Path, key: str, column: str,
                  encoding: str | None = None) -> gpd.GeoDataFrame:
    """Join a census table (one row per unit: key, population) to the units as census_population."""
    from .tableio import read_table

    if not Path(path).exists():
        raise InputError(f"the census table {path} does not exist.", file=path, field="population.census_path",
                         fix="check the path (relative to the scenario file).")
    table = read_table(path, encoding, layer="population")
    spec = LayerSpec(path=Path(path), key="population")
    require_columns(table, {"census key": key, "census population": column}, spec)
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=float)
    check_population_values(values, spec, column)
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
