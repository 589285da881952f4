"""Administrative units (镇/街道) from a vector layer or OSM boundary relations, with zone, kind and
county-seat / central-town flags, and census tables joined per unit."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError, warn
from .layers import (OSM_SUFFIXES, LayerSpec, check_frame, read_vector, require_columns,
                     require_mapped_columns, rows_text, truthy)
from .population import check_population_values

ZONE_WORDS = {
    "urban": "urban", "城市": "urban", "城镇": "urban", "城区": "urban", "市区": "urban", "u": "urban",
    "rural": "rural", "农村": "rural", "乡村": "rural", "r": "rural",
}


UNIT_KIND_WORDS = {"street": "street", "街道": "street", "town": "town", "镇": "town", "township": "town",
                   "乡": "town", "乡镇": "town"}


def load_boundaries(spec: LayerSpec, crs: str | None = None, census_column: str | None = None) -> gpd.GeoDataFrame:
    """Administrative units with columns unit_id, name, name_en, kind, zone (or None), county_seat.

    Invalid polygons (a ring crossing itself) are repaired with a warning; units that overlap by
    more than a digitising sliver are an InputError (see :func:`check_overlaps`). With
    ``census_column``, also ``census_population`` (checked: numbers ≥ 0).
    """
    frame = osm_boundaries(spec) if spec.path.name.lower().endswith(OSM_SUFFIXES) else read_vector(spec)
    return boundaries_from_frame(frame, spec, crs, census_column)


def boundaries_from_frame(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str | None = None,
                          census_column: str | None = None) -> gpd.GeoDataFrame:
    """The checks and columns of :func:`load_boundaries` on a layer already read (or given as a frame).

    Parameters
    ----------
    frame : GeoDataFrame
        One (Multi)Polygon per unit, with a CRS.
    spec : LayerSpec
        Where it comes from and its column names (``spec.columns``), for messages.
    crs : str, optional
        The CRS to return the units in (their own when None).
    census_column : str, optional
        A column of census counts, returned as ``census_population``.

    Returns
    -------
    GeoDataFrame
        Columns unit_id, name, name_en, kind, zone (or None), county_seat, central_town (and
        county_id when the layer has one).
    """
    frame = check_frame(frame, spec)
    if len(frame) == 0:
        raise InputError("the boundary layer is empty (no features).", file=spec.path, field=spec.path_field,
                         fix="give a layer with one polygon per township or street (镇/街道) of the region.")
    cols = {"unit_id": spec.column("unit_id", "unit_id"), "name": spec.column("name", "name")}
    require_columns(frame, cols, spec)
    require_mapped_columns(frame, spec)
    out = gpd.GeoDataFrame({
        "unit_id": frame[cols["unit_id"]].astype(str).to_numpy(),
        "name": frame[cols["name"]].astype(str).to_numpy(),
        "name_en": frame[spec.column("name_en", "name_en")].astype(str).to_numpy()
        if spec.column("name_en", "name_en") in frame else frame[cols["name"]].astype(str).to_numpy(),
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    out = out.set_geometry(unit_polygons(out, spec))
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
    out["kind"] = (frame[kind_col].astype(str).map(lambda k: UNIT_KIND_WORDS.get(k.strip().lower(), k)).to_numpy()
                   if kind_col in frame else "unit")
    for flag in ("county_seat", "central_town"):
        col = spec.column(flag, flag)
        out[flag] = frame[col].map(truthy).to_numpy() if col in frame else False
    county_col = spec.column("county_id", "county_id")
    if county_col in frame:   # the county of each unit: --dask keeps a county in one partition
        out["county_id"] = frame[county_col].astype(str).to_numpy()
    if census_column:
        out["census_population"] = census_values(frame, census_column, spec)
    check_overlaps(out, spec)
    if crs:
        out = out.to_crs(crs)
    return out


def census_values(frame: pd.DataFrame, column: str, spec: LayerSpec) -> np.ndarray:
    """The units' census counts from a column of the boundary layer (numbers ≥ 0, checked)."""
    require_columns(frame, {"census population": column}, spec)
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float)
    check_population_values(values, spec, column, lambda bad: f"unit(s) {rows_text(bad)} (counting features from 1)")
    return values


def _unit_label(units: gpd.GeoDataFrame, i: int) -> str:
    """How messages name a unit: its 1-based feature number, unit_id and name."""
    return f"unit {i + 1} ({units['unit_id'].iat[i]}, {units['name'].iat[i]})"


def unit_polygons(units: gpd.GeoDataFrame, spec: LayerSpec) -> np.ndarray:
    """The units' geometries as valid (Multi)Polygons.

    A missing, empty or non-polygon geometry is an InputError naming the features. An invalid
    polygon is repaired with shapely's ``make_valid`` (method "structure": every area the outline
    encloses is kept, also where it loops over itself) keeping only the polygonal parts, and a
    :class:`PlannerWarning` names the unit and the fault. A hole the repair opens between the unit
    and its neighbours where the outline crosses itself (the wedges a bow-tie ring does not enclose)
    is given to the unit, so no one is lost (:func:`_fill_repair_gaps`); the warning says how much,
    how much of such wedges lies outside the region (a bow-tie on the outer edge) and any other gap
    left beside the unit.
    """
    geoms = units.geometry.to_numpy()
    polygonal = shapely.get_type_id(geoms) == 3
    polygonal |= shapely.get_type_id(geoms) == 6
    bad = np.flatnonzero(shapely.is_missing(geoms) | shapely.is_empty(geoms) | ~polygonal)
    if len(bad):
        raise InputError(f"{len(bad)} unit(s) have no polygon (feature {rows_text(bad)}, counting from 1): "
                         f"{', '.join(_unit_label(units, i) for i in bad[:3])}.", file=spec.path,
                         field="geometry", fix="give every unit its polygon outline, or remove those features.")
    invalid = np.flatnonzero(~shapely.is_valid(geoms))
    if len(invalid) == 0:
        return geoms
    reasons = shapely.is_valid_reason(geoms[invalid])
    fixed = geoms.copy()
    fixed[invalid] = [_polygonal_part(shapely.make_valid(g, method="structure", keep_collapsed=False))
                      for g in geoms[invalid]]
    empty = [i for i in invalid if shapely.is_empty(fixed[i])]
    if empty:
        raise InputError(f"{', '.join(_unit_label(units, i) for i in empty)}: the outline encloses no area "
                         f"({reasons[list(invalid).index(empty[0])]}).", file=spec.path, field="geometry",
                         fix="redraw the unit's outline.")
    fixed, given = _fill_repair_gaps(geoms, fixed, invalid)
    outside = _left_outside(geoms, fixed, invalid, units.crs)
    gaps = _gaps_beside(fixed, invalid, units.crs)
    for k, (i, reason) in enumerate(zip(invalid, reasons)):
        area = _area_km2(fixed[i:i + 1], units.crs)[0]
        warn(f"{_unit_label(units, i)} in {spec.path.name} has an invalid polygon ({reason}); it was repaired "
             f"with make_valid to {shapely.get_num_geometries(fixed[i])} polygon(s), {area:,.3f} km²."
             f"{_repair_gap_text(_area_km2(given[k:k + 1], units.crs)[0], outside[k], gaps[k])} "
             "Check the outline in a GIS (QGIS: Vector ▸ Geometry Tools ▸ Check Validity) and save it fixed.")
    return fixed


def _repair_gap_text(given: float, outside: float, gap: float) -> str:
    """The warning's sentences on what the repaired outline left between its parts (km² each)."""
    text = ""
    if given > 0:
        text += (f" The repair left {given:,.3f} km² where its outline crosses itself enclosed by the units "
                 "around it; that area was given to this unit, so the people there are counted in it.")
    if outside > 0:
        text += (f" {outside:,.3f} km² where its outline crosses itself on the region's outer edge were left "
                 "out: they are outside the region and the people there are not counted.")
    if gap > 0:
        text += (f" It leaves {gap:,.3f} km² between its parts and its neighbours in no unit: people there are "
                 "not counted.")
    if text:
        text += " A bow-tie outline usually means two vertices are in the wrong order."
    return text


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygons of a make_valid result (lines and points of collapsed parts dropped)."""
    parts = shapely.get_parts(geom)
    parts = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    return shapely.union_all(parts) if len(parts) else shapely.Polygon()


def _metric(geoms: np.ndarray, crs: object) -> np.ndarray:
    """The geometries in a metric CRS (their UTM zone when in longitude/latitude)."""
    series = gpd.GeoSeries(geoms, crs=crs)
    drawn = series[~series.is_empty]
    if series.crs is not None and series.crs.is_geographic and len(drawn):
        series = series.to_crs(drawn.estimate_utm_crs())
    return series.to_numpy()


def _area_km2(geoms: np.ndarray, crs: object) -> np.ndarray:
    return shapely.area(_metric(geoms, crs)) / 1e6


def _gaps_beside(geoms: np.ndarray, which: np.ndarray, crs: object) -> np.ndarray:
    """Per unit in ``which``: km² of holes in the union of all units that touch it (gaps the units
    enclose but none covers)."""
    metric = _metric(geoms, crs)
    holes = _holes(shapely.union_all(metric))
    if len(holes) == 0:
        return np.zeros(len(which))
    touching = shapely.intersects(metric[which][:, None], holes[None, :])
    return (touching * shapely.area(holes)[None, :]).sum(axis=1) / 1e6


# A hole in the units' union that lies this much inside a repaired unit's self-crossings is the repair's.
REPAIR_HOLE_SHARE = 0.999


def _crossing_quads(geom: shapely.Geometry) -> shapely.Geometry:
    """Where an outline crosses itself: the union of the convex hulls of each pair of its segments
    that cross (for a bow-tie, the box the two crossing edges span). Empty if no segments cross."""
    rings = shapely.get_rings(shapely.get_parts(geom))
    coords, ring = shapely.get_coordinates(rings, return_index=True)
    same = ring[:-1] == ring[1:]
    starts, ends = coords[:-1][same], coords[1:][same]
    segments = shapely.linestrings(np.stack([starts, ends], axis=1))
    a, b = shapely.STRtree(segments).query(segments, predicate="crosses")
    keep = a < b
    a, b = a[keep], b[keep]
    if len(a) == 0:
        return shapely.Polygon()
    corners = np.stack([starts[a], ends[a], starts[b], ends[b]], axis=1)
    return shapely.union_all(shapely.convex_hull(shapely.multipoints(corners)))


def _holes(geom: shapely.Geometry) -> np.ndarray:
    """The gaps a (Multi)Polygon encloses, as polygons: its interior rings, and also areas closed off
    by parts that touch only at points (a bow-tie's wedge against a neighbour)."""
    xmin, ymin, xmax, ymax = shapely.bounds(geom)
    margin = max(xmax - xmin, ymax - ymin, 1.0)
    frame = shapely.box(xmin - margin, ymin - margin, xmax + margin, ymax + margin)
    parts = shapely.get_parts(shapely.difference(frame, geom))
    return parts[(shapely.get_type_id(parts) == 3) & ~shapely.intersects(parts, frame.exterior)]


def _fill_repair_gaps(original: np.ndarray, fixed: np.ndarray, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Give each repaired unit the holes its repair opened between it and its neighbours.

    A hole in the union of all units is put down to a repair when at least ``REPAIR_HOLE_SHARE`` of
    it lies where a repaired outline crosses itself (:func:`_crossing_quads`): the wedges a bow-tie
    ring does not enclose but its neighbours do. Each such hole goes to the repaired unit whose
    crossings hold most of it. Other holes (real gaps in the layer) are left alone.

    Returns the geometries with those holes added and, per unit in ``which``, the area given to it
    (in the layer's units, as polygons).
    """
    fixed = fixed.copy()
    given = np.array([shapely.Polygon()] * len(which), dtype=object)
    holes = _holes(shapely.union_all(fixed))
    if len(holes) == 0:
        return fixed, given
    quads = np.array([_crossing_quads(g) for g in original[which]], dtype=object)
    inside = shapely.area(shapely.intersection(holes[:, None], quads[None, :]))
    best = inside.argmax(axis=1)
    owned = inside[np.arange(len(holes)), best] >= REPAIR_HOLE_SHARE * shapely.area(holes)
    for k in range(len(which)):
        mine = holes[owned & (best == k)]
        if len(mine):
            given[k] = shapely.union_all(mine)
            fixed[which[k]] = shapely.union_all([fixed[which[k]], given[k]])
    return fixed, given


def _left_outside(original: np.ndarray, fixed: np.ndarray, which: np.ndarray, crs: object) -> np.ndarray:
    """Per unit in ``which``: km² where its outline crosses itself that lie outside the region (no unit
    covers them and they are not enclosed by the units): what a bow-tie on the outer edge leaves out."""
    union = shapely.union_all(fixed)
    filled = shapely.union_all([union, *_holes(union)])
    quads = np.array([_crossing_quads(g) for g in original[which]], dtype=object)
    return _area_km2(shapely.difference(quads, filled), crs)


# Overlaps below this share of the smaller unit's area, or below SLIVER_M2, are digitising slivers.
SLIVER_SHARE = 1e-4
SLIVER_M2 = 10.0


def check_overlaps(units: gpd.GeoDataFrame, spec: LayerSpec) -> None:
    """InputError naming every pair of units that overlap by more than a sliver, with the area.

    People in an overlap would be counted in only one of the two units, silently, so overlaps are
    refused. Overlaps smaller than ``SLIVER_SHARE`` (0.01 %) of the smaller unit's area or smaller than
    ``SLIVER_M2`` (10 m²) are left alone: digitising slivers, whose cells count once.
    """
    geoms = _metric(units.geometry.to_numpy(), units.crs)
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    if len(left) == 0:
        return
    shared = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    smaller = np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    big = np.flatnonzero(shared > np.maximum(SLIVER_SHARE * smaller, SLIVER_M2))
    if len(big) == 0:
        return
    pairs = [f"{_unit_label(units, left[k])} and {_unit_label(units, right[k])} share "
             f"{shared[k] / 1e6:,.3f} km² ({100 * shared[k] / smaller[k]:.2f}% of the smaller)" for k in big[:5]]
    more = f" and {len(big) - 5} more pair(s)" if len(big) > 5 else ""
    raise InputError(f"{len(big)} pair(s) of units overlap: {'; '.join(pairs)}{more}. People in an overlap "
                     "would be counted in only one of the units.", file=spec.path, field="geometry",
                     fix="correct the boundaries so the units do not overlap (QGIS: Vector ▸ Geometry Tools ▸ "
                         "Check Validity, or the Topology Checker); overlaps under 0.01% of the smaller unit "
                         "or 10 m² (digitising slivers) are ignored.")


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
    check_population_values(values, spec, column, lambda bad: f"row(s) {rows_text(bad + 1)} of the table "
                            "(numbered as in Excel: the header is row 1)")
    lookup = dict(zip(table[key].astype(str).str.strip(), values))
    unit_key = "unit_id" if key in ("unit_id", "id") else "name"
    missing = [k for k in units[unit_key] if k not in lookup]
    if missing:
        raise InputError(f"{len(missing)} unit(s) have no row in the census table: {', '.join(missing[:8])}.",
                         file=path, field=key, fix=f"add a row per unit (matched on the units' {unit_key}).")
    extra = sorted(set(lookup) - set(units[unit_key]))
    if extra:
        people = sum(lookup[k] for k in extra)
        warn(f"{len(extra)} row(s) of the census table {Path(path).name} match no unit and are not counted "
             f"({people:,.0f} people): {', '.join(extra[:8])}{' …' if len(extra) > 8 else ''}. Check the "
             f"{key} spelling, or remove those rows if they lie outside the region.")
    return units.assign(census_population=[lookup[k] for k in units[unit_key]])


def osm_boundaries(spec: LayerSpec) -> gpd.GeoDataFrame:
    """Administrative boundary relations of an OSM file (.osm, .osm.bz2, .pbf), assembled into
    polygons by libosmium (pyosmium).

    Only ``admin_level = spec.admin_level`` (default "8", communes/townships) is kept. Columns:
    unit_id (relation id), name, name_en. A relation that an extract cut (member ways or their nodes
    missing) cannot be assembled: it is left out with a warning naming it, and when no relation of the
    level is complete the layer is an InputError naming them.
    """
    level = str(spec.admin_level or "8")
    try:
        relations = _admin_relations(spec.path, level)
        areas = _admin_areas(spec.path, level)
    except Exception as exc:
        raise InputError(f"could not read administrative boundaries ({type(exc).__name__}: {exc}).",
                         file=spec.path, field="boundaries.path", fix="check the OSM file.") from None
    if not relations:
        raise InputError(f"no administrative boundaries with admin_level={level} in the OSM file.",
                         file=spec.path, field="boundaries.admin_level",
                         fix="set [boundaries] admin_level to a level present in the file (e.g. 6 or 8).")
    incomplete = [rid for rid in relations if rid not in areas]
    if incomplete:
        ways = _present_ways(spec.path, {w for rid in incomplete for w in relations[rid]["ways"]})
        text = "; ".join(f"relation {rid} ({relations[rid]['name']}): {_members_present(relations[rid]['ways'], ways)}"
                         for rid in incomplete[:8]) + (f"; and {len(incomplete) - 8} more" if len(incomplete) > 8 else "")
        if len(incomplete) == len(relations):
            raise InputError(f"no admin_level={level} boundary can be assembled: every relation is incomplete in "
                             f"this extract ({text}).", file=spec.path, field="boundaries.path",
                             fix="use an extract that holds the whole boundaries (e.g. the province's Geofabrik "
                                 "file, or osmium extract with --strategy=smart), or give the boundaries as a "
                                 "GeoJSON/GeoPackage/Shapefile.")
        warn(f"{len(incomplete)} admin_level={level} boundary relation(s) in {spec.path.name} are incomplete in "
             f"this extract and are left out: {text}. The units are the other {len(areas)}; use an extract "
             "that holds the whole boundaries if you need those.")
    ids = sorted(areas)
    return gpd.GeoDataFrame({"unit_id": [str(i) for i in ids],
                             "name": [relations[i]["name"] for i in ids],
                             "name_en": [relations[i]["name_en"] for i in ids]},
                            geometry=[areas[i] for i in ids], crs="EPSG:4326")


def _level_filters(level: str) -> tuple:
    import osmium

    return (osmium.filter.TagFilter(("boundary", "administrative")), osmium.filter.TagFilter(("admin_level", level)))


def _admin_relations(path: Path, level: str) -> dict[int, dict]:
    """Relation id → name, name_en and member way ids, for boundary relations of ``level``."""
    import osmium

    out = {}
    processor = osmium.FileProcessor(str(path), osmium.osm.RELATION)
    for f in _level_filters(level):
        processor = processor.with_filter(f)
    for rel in processor:
        name = rel.tags.get("name") or f"relation {rel.id}"
        out[rel.id] = {"name": name, "name_en": rel.tags.get("name:en") or name,
                       "ways": [m.ref for m in rel.members if m.type == "w"]}
    return out


def _admin_areas(path: Path, level: str) -> dict[int, shapely.Geometry]:
    """Relation id → (Multi)Polygon for the boundary relations of ``level`` libosmium can assemble."""
    import osmium

    wkb = osmium.geom.WKBFactory()
    processor = osmium.FileProcessor(str(path)).with_areas(*_level_filters(level))
    out = {}
    for obj in processor.with_filter(osmium.filter.EntityFilter(osmium.osm.AREA)):
        tags = obj.tags
        if obj.from_way() or tags.get("boundary") != "administrative" or tags.get("admin_level") != level:
            continue
        try:
            out[obj.orig_id()] = shapely.from_wkb(wkb.create_multipolygon(obj))
        except RuntimeError:       # rings that do not close: treated as incomplete
            continue
    return out


def _present_ways(path: Path, wanted: set[int]) -> set[int]:
    """Which of the ``wanted`` way ids the file holds."""
    import osmium

    processor = osmium.FileProcessor(str(path), osmium.osm.WAY).with_filter(osmium.filter.IdFilter(wanted))
    return {way.id for way in processor}


def _members_present(members: list[int], present: set[int]) -> str:
    have = sum(w in present for w in members)
    if have < len(members):
        return f"{have} of {len(members)} member ways present"
    return f"all {len(members)} member ways present but nodes or rings missing"
