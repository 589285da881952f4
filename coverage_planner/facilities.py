"""Health facilities as points: from a CSV table or an Excel workbook with longitude/latitude, a vector
layer, or the health and ambulance-station tags of an OSM file.

Every facility gets its type ids through :mod:`facility_types` (Chinese and English words, several
roles per facility), its own id, and a flag ``in_region``: facilities a little outside the boundaries
still serve people inside (distance and time rules) but are not counted in the region's ratios.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from .errors import InputError, warn
from .facility_types import ROLE_SEPARATOR, normalise_word, resolve_types
from .layers import (OSM_SUFFIXES, LayerSpec, check_frame, existing_path, numeric_column, read_vector,
                     require_columns, require_mapped_columns)

# OSM tags read as facilities; which of them are facilities of the plan is decided by OSM_ROLES.
OSM_HEALTH_FILTER = {"amenity": ["hospital", "clinic", "doctors", "pharmacy", "dentist"], "healthcare": True,
                     "emergency": ["ambulance_station"]}
# amenity=* first, then healthcare=*: the values that are facilities of the plan, as type ids.
OSM_HEALTH_TYPES = {"hospital": "hospital", "clinic": "clinic", "doctors": "clinic", "doctor": "clinic",
                    "centre": "clinic"}
OSM_ROLES = ("hospital", "clinic", "ems")
# healthcare:speciality values that make a clinic something else (left out unless mapped).
OSM_SPECIALITY_KINDS = {
    "dentistry": "dentist", "orthodontics": "dentist", "oral_surgery": "dentist", "dental_oral_maxillo_facial_surgery":
    "dentist", "optometry": "optometrist", "psychotherapy": "psychotherapist", "alternative": "alternative",
    "acupuncture": "alternative", "homeopathy": "alternative", "naturopathy": "alternative",
    "chiropractic": "alternative", "osteopathy": "alternative", "ayurveda": "alternative",
    "reflexology": "alternative"}
FACILITY_MARGIN_M = 5000.0   # facilities this far outside the boundaries still serve people inside
TABLE_SUFFIXES = (".csv", ".txt", ".tsv", ".xlsx", ".xlsm", ".xls")
# Resources read for ratio and share rules: our name → accepted column names. A column that is not
# there gives NaN (the rule is reported as not checked), never 0.
RESOURCE_ALIASES = {"beds": ("beds", "床位", "床位数"),
                    "doctors": ("doctors", "执业（助理）医师", "执业(助理)医师", "执业医师"),
                    "nurses": ("nurses", "注册护士"), "gps": ("gps", "全科医生"),
                    "negative_pressure_ambulances": ("negative_pressure_ambulances", "负压救护车")}


def read_points(spec: LayerSpec, noun: tuple[str, str] = ("feature", "features")) -> gpd.GeoDataFrame:
    """Points from a CSV table or Excel workbook with longitude/latitude columns or from a vector layer
    (polygons become representative points), converted from ``spec.coords`` (GCJ-02, BD-09) to WGS84
    where needed. For a workbook, ``spec.layer`` names the sheet. A feature without a location is an
    InputError naming the rows; ``noun`` (singular, plural) names what they are in that message. The
    frame's ``attrs`` say where its rows are in the file (:func:`tableio.row_label`)."""
    if existing_path(spec).suffix.lower() in TABLE_SUFFIXES:
        from .tableio import points_from_table, read_table

        lon_col, lat_col = spec.column("lon"), spec.column("lat")
        table = read_table(spec.path, encoding=spec.encoding, layer=spec.key, sheet=spec.layer,
                           header_names=tuple(c for c in (lon_col, lat_col) if c))
        return points_from_table(table, spec.path, lon_col, lat_col, coords=spec.coords)
    return points_from_frame(read_vector(spec), spec, noun)


def points_from_frame(frame: gpd.GeoDataFrame, spec: LayerSpec,
                      noun: tuple[str, str] = ("feature", "features")) -> gpd.GeoDataFrame:
    """The point checks of :func:`read_points` on a vector layer already read (or given as a frame).

    Parameters
    ----------
    frame : GeoDataFrame
        Points or polygons (polygons become representative points), with a CRS.
    spec : LayerSpec
        Where it comes from and its coordinate system (``spec.coords``: wgs84, gcj02, bd09).
    noun : (str, str)
        What the features are (singular, plural), for messages.

    Returns
    -------
    GeoDataFrame
        The features as points (in WGS84 when converted from GCJ-02/BD-09).
    """
    frame = check_frame(frame, spec)
    missing = np.flatnonzero((frame.geometry.isna() | frame.geometry.is_empty).to_numpy())
    if len(missing):
        rows = ", ".join(str(i + 1) for i in missing[:10]) + (" …" if len(missing) > 10 else "")
        which = f"{noun[0]} has" if len(missing) == 1 else f"{noun[1]} have"
        raise InputError(f"{len(missing)} {which} no location (feature {rows}, counting from 1).", file=spec.path,
                         field="geometry", fix=f"give every {noun[0]} a location, or remove those features.")
    frame = frame.set_geometry(frame.geometry.representative_point())
    if spec.coords not in ("wgs84", "gcj02", "bd09"):
        raise InputError(f"unknown coordinate system '{spec.coords}'.", file=spec.path, field="coords",
                         fix="use one of wgs84, gcj02, bd09.")
    if spec.coords != "wgs84":
        from .coords import to_wgs84

        frame = frame.to_crs("EPSG:4326")
        lon, lat = to_wgs84(frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), spec.coords)
        frame = frame.set_geometry(gpd.points_from_xy(lon, lat), crs="EPSG:4326")
    frame.attrs.update(row_word="feature", first_row=1)
    return frame


def _row_labels(frame: gpd.GeoDataFrame, osm: bool) -> list[str]:
    """Where each facility is in its file: "line 7" (CSV), "row 9" (workbook), "feature 3", or the OSM id."""
    if osm:
        return [f"OSM {i}" for i in frame["id"]]
    from .tableio import row_label

    return [row_label(frame, i) for i in range(len(frame))]


def facility_margin_m(profile: object | None) -> float:
    """How far outside the boundaries facilities are kept: the largest distance threshold of the
    profile's radius rules, at least :data:`FACILITY_MARGIN_M`."""
    limits = [rule.threshold(zone) for rule in getattr(profile, "rules", ()) if rule.kind == "radius"
              for zone in ("urban", "rural")]
    return max([FACILITY_MARGIN_M] + [float(v) for v in limits if v is not None])


def load_facilities(spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                    type_map: dict | None = None, profile: object | None = None) -> gpd.GeoDataFrame:
    """Facilities as points in ``crs``.

    Parameters
    ----------
    spec : the [facilities] layer (OSM file, CSV, Excel workbook or vector layer).
    crs : the region's metric CRS.
    region : the region's boundaries in ``crs``; facilities further outside than
        :func:`facility_margin_m` are left out (with a warning), and the others are flagged.
    type_map : the scenario's [facilities.types]: the user's words → type ids (wins over the vocabulary).
    profile : the standards profile; its rules' type ids are known types, and its radius
        thresholds set the margin.

    Returns
    -------
    GeoDataFrame with columns facility_id, name, name_en, type (type ids, several roles joined by
    ";"), ambulances, turnout_min, in_region.

    Raises
    ------
    InputError
        For an empty layer, a missing type column, unknown or missing types, duplicate ids, swapped
        coordinates, or a file that does not cover the region.
    """
    osm = existing_path(spec).name.lower().endswith(OSM_SUFFIXES)
    frame = osm_facilities(spec.path, type_map) if osm else read_points(spec, ("facility", "facilities"))
    return facilities_from_frame(frame, spec, crs, region, type_map, profile, osm=osm)


def facilities_from_frame(frame: gpd.GeoDataFrame, spec: LayerSpec, crs: str, region: shapely.Geometry | None = None,
                          type_map: dict | None = None, profile: object | None = None,
                          osm: bool = False) -> gpd.GeoDataFrame:
    """The checks and columns of :func:`load_facilities` on facility points already read.

    Parameters
    ----------
    frame : GeoDataFrame
        Facility points (from :func:`read_points`, :func:`points_from_frame` or :func:`osm_facilities`).
    spec, crs, region, type_map, profile
        As for :func:`load_facilities`.
    osm : bool
        The points come from an OSM file (rows are named by their OSM id).

    Returns
    -------
    GeoDataFrame
        As :func:`load_facilities`.
    """
    if len(frame) == 0:
        raise InputError("the facility layer is empty.", file=spec.path, field="facilities",
                         fix="give at least one facility, or check the file's filter.")
    cols = {"type": spec.column("type", "type")}
    require_columns(frame, cols, spec)
    require_mapped_columns(frame, spec)
    labels = _row_labels(frame, osm)
    if not frame.geometry.geom_type.isin(["Point"]).all():
        frame = frame.set_geometry(frame.geometry.representative_point())
    _check_lonlat(frame, spec)
    known = {t for rule in getattr(profile, "rules", ()) for t in rule.facility_types}
    types = resolve_types(frame[cols["type"]], type_map, known, file=spec.path, rows=labels, field=cols["type"])
    id_col = spec.column("id", "id")
    ids = frame[id_col].astype("string").str.strip().fillna("") if id_col in frame \
        else pd.Series([f"F{i + 1:04d}" for i in range(len(frame))])
    _check_unique_ids(ids, labels, spec, id_col)
    name_col = spec.column("name", "name")
    out = gpd.GeoDataFrame({
        "facility_id": ids.to_numpy(dtype=object),
        "name": frame[name_col].astype(str) if name_col in frame else "",
        "name_en": frame[spec.column("name_en", "name_en")].astype(str)
        if spec.column("name_en", "name_en") in frame else "",
        "type": types,
        "ambulances": numeric_column(frame, spec.column("ambulances", "ambulances"), spec, 0),
        "turnout_min": numeric_column(frame, spec.column("turnout_min", "turnout_min"), spec, np.nan),
        **resource_columns(frame, spec),
        "fixed": fixed_column(frame, spec.column("fixed", "fixed"), spec, labels),
    }, geometry=frame.geometry.to_numpy(), crs=frame.crs)
    lonlat = out if out.crs is not None and out.crs.is_geographic else None
    out = out.to_crs(crs)
    out["in_region"] = True
    if region is not None:
        out = clip_to_region(out, region, facility_margin_m(profile), spec, lonlat)
    return out.reset_index(drop=True)


def _check_unique_ids(ids: pd.Series, labels: list[str], spec: LayerSpec, id_col: str) -> None:
    """InputError naming every id used more than once, with the rows that use it."""
    dup = ids.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    groups = pd.Series(np.flatnonzero(dup)).groupby(ids.to_numpy()[dup], sort=True).agg(list)
    listing = "; ".join(f"'{fid or '(empty)'}' ({', '.join(labels[i] for i in rows[:5])})"
                        for fid, rows in list(groups.items())[:8])
    more = f" and {len(groups) - 8} more" if len(groups) > 8 else ""
    raise InputError(f"{len(groups)} facility id{'s are' if len(groups) > 1 else ' is'} used more than once: "
                     f"{listing}{more}.", file=spec.path, field=id_col,
                     fix="give every facility its own id (e.g. H01, E01, T01), or remove the repeated rows.")


_YES = {"true", "t", "yes", "y", "1", "是", "对"}
_NO = {"false", "f", "no", "n", "0", "否", "不"}


def fixed_column(frame: pd.DataFrame, col: str | None, spec: LayerSpec, labels: list[str]) -> np.ndarray:
    """The ``fixed`` attribute (a station that ``site --relocate`` must keep): 1.0 for yes, 0.0 for no,
    NaN where not given (the siting default decides).

    Raises
    ------
    InputError
        A value that is neither yes nor no (true/false, yes/no, 1/0, 是/否), naming its rows.
    """
    if col is None or col not in frame:
        return np.full(len(frame), np.nan)
    raw = frame[col]
    given = raw.notna().to_numpy() & (raw.astype(str).str.strip() != "").to_numpy()
    words = raw.astype(str).str.strip().str.lower().str.replace(r"\.0$", "", regex=True).to_numpy()
    yes, no = np.isin(words, list(_YES)), np.isin(words, list(_NO))
    bad = np.flatnonzero(given & ~yes & ~no)
    if len(bad):
        shown = ", ".join(f"{labels[i]} ({raw.iloc[i]!r})" for i in bad[:8])
        raise InputError(f"'{col}' must be yes or no; {len(bad)} row(s) say otherwise: {shown}"
                         f"{' …' if len(bad) > 8 else ''}.", file=spec.path, field=col,
                         fix="write true or false (yes/no, 1/0, 是/否), or leave the cell empty for the default "
                             "(stations with ambulances and the main EMS centre stay).")
    return np.where(given & yes, 1.0, np.where(given & no, 0.0, np.nan))


def resource_columns(frame: pd.DataFrame, spec: LayerSpec) -> dict[str, np.ndarray]:
    """Beds, doctors, nurses, GPs and negative-pressure ambulances per facility (NaN where not given),
    from the column named under [facilities.columns] or the first alias present."""
    named = {k: spec.column(k) for k in RESOURCE_ALIASES if spec.column(k)}
    require_columns(frame, named, spec)
    return {name: numeric_column(frame, named.get(name) or next((a for a in aliases if a in frame), None),
                                 spec, np.nan) for name, aliases in RESOURCE_ALIASES.items()}


def clip_to_region(fac: gpd.GeoDataFrame, region: shapely.Geometry, margin_m: float, spec: LayerSpec,
                   lonlat: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Facilities within ``margin_m`` of the region, flagged ``in_region`` when inside its boundaries.

    Facilities further out are left out with a warning. When none is left, the message says whether
    the coordinates look swapped (most points fall near the region with longitude and latitude
    exchanged; ``lonlat`` holds the points in longitude/latitude) or the file does not cover the region.
    """
    x, y = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    near_area = shapely.buffer(region, margin_m)
    near = shapely.contains_xy(near_area, x, y)
    swapped = _near_when_swapped(lonlat, near_area, str(fac.crs)) if lonlat is not None else np.zeros(len(fac), bool)
    km = margin_m / 1000.0
    if swapped.sum() > near.sum() and swapped.mean() >= 0.5:
        raise InputError(f"{int((~near).sum())} of {len(fac)} facilities lie more than {km:g} km outside the region, "
                         f"but {int(swapped.sum())} would lie in it with longitude and latitude exchanged: the "
                         "coordinates look swapped.", file=spec.path, field="geometry",
                         fix="swap longitude and latitude (经度 = longitude, east; 纬度 = latitude, north) in the "
                             "file or under [facilities.columns].")
    if not near.any():
        raise InputError(f"none of the {len(fac)} facilities lies in the region or within {km:g} km of it: the "
                         "facility file does not cover the region.", file=spec.path, field=spec.path_field,
                         fix="give the facility list of this region, or check the boundaries and the coordinate "
                             "system (coords = wgs84/gcj02/bd09).")
    fac = fac[near].copy()
    fac["in_region"] = shapely.contains_xy(region, x[near], y[near])
    _warn_outside(int((~near).sum()), int((~fac["in_region"]).sum()), len(near), km)
    return fac


def _near_when_swapped(lonlat: gpd.GeoDataFrame, area: shapely.Geometry, crs: str) -> np.ndarray:
    """Which points would lie in ``area`` (metric ``crs``) with longitude and latitude exchanged."""
    lon, lat = lonlat.geometry.x.to_numpy(), lonlat.geometry.y.to_numpy()
    ok = (np.abs(lon) <= 90) & np.isfinite(lon) & np.isfinite(lat)
    out = np.zeros(len(lon), dtype=bool)
    if ok.any():
        sx, sy = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lat[ok], lon[ok])
        out[ok] = shapely.contains_xy(area, np.asarray(sx), np.asarray(sy))
    return out


def _warn_outside(dropped: int, outside: int, total: int, km: float) -> None:
    if dropped:
        warn(f"{dropped} of {total} facilities lie more than {km:g} km outside the region and were left out.")
    if outside:
        warn(f"{outside} facilit{'y lies' if outside == 1 else 'ies lie'} outside the region's boundaries "
             f"(within {km:g} km): they count for the distance and travel-time rules, since they serve people "
             "inside, but not in the region's facility counts and ratios.")


def osm_health_features(path: Path) -> gpd.GeoDataFrame:
    """Health features tagged in an OSM file (amenity=hospital|clinic|doctors|pharmacy|dentist,
    healthcare=*, emergency=ambulance_station), with their kind as ``type``.

    ``type`` is a type id (hospital, clinic; ems for an ambulance station, added as a second role
    when a hospital is one too) or the OSM value for kinds that are not facilities of the plan
    (pharmacy, dentist, optometrist, psychotherapist, alternative, laboratory, ...). Polygons become
    representative points. Columns: id, name, name_zh, name_en, type.
    """
    if path.suffix.lower() == ".pbf":
        pois, extra = _pbf_pois(path)
        ids = pois["osm_type"].astype(str).str[0] + pois["id"].astype(str)
        tag = lambda k: pois[k] if k in pois else extra.map(lambda t, k=k: t.get(k))  # noqa: E731
    else:
        import osmnx as ox

        try:
            pois = ox.features_from_xml(path, tags=OSM_HEALTH_FILTER).reset_index()
        except Exception as exc:
            raise InputError(f"could not read health facilities from the OSM file ({exc}).", file=path,
                             field="facilities.path", fix="check that the file is a complete OSM extract.") from None
        ids = pois["element"].astype(str).str[0] + pois["id"].astype(str)
        tag = lambda k: pois[k] if k in pois else pd.Series([None] * len(pois), index=pois.index)  # noqa: E731
    kind = _osm_kinds(tag("amenity"), tag("healthcare"), tag("emergency"), tag("healthcare:speciality"))
    name = tag("name").astype(object)
    names = {k: tag(k).astype(object) for k in ("name:zh", "name:en")}
    out = gpd.GeoDataFrame({
        "id": ids.to_numpy(), "name": name.fillna(names["name:zh"]).fillna("").to_numpy(),
        "name_zh": names["name:zh"].fillna(name).to_numpy(), "name_en": names["name:en"].fillna("").to_numpy(),
        "type": kind,
    }, geometry=pois.geometry.representative_point().to_numpy(), crs="EPSG:4326")
    return out.sort_values("id", kind="stable").reset_index(drop=True)


def _pbf_pois(path: Path) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """pyrosm's health POIs and each one's other tags (as dicts)."""
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
    return pois, extra


def _osm_kind(amenity: object, healthcare: object, emergency: object, speciality: object) -> str:
    """One feature's kind from its tags (see :func:`osm_health_features`)."""
    text = lambda v: str(v).strip() if isinstance(v, str) and v.strip() else ""  # noqa: E731
    value = text(amenity) if text(amenity) in OSM_HEALTH_FILTER["amenity"] else text(healthcare)
    kind = OSM_HEALTH_TYPES.get(value, value)
    specialities = {s.strip() for s in text(speciality).split(";") if s.strip()}
    if kind == "clinic" and specialities and all(s in OSM_SPECIALITY_KINDS for s in specialities):
        kind = OSM_SPECIALITY_KINDS[sorted(specialities)[0]]
    roles = [kind] if kind else []
    if text(emergency) == "ambulance_station":
        roles.append("ems")
    return ROLE_SEPARATOR.join(dict.fromkeys(roles))


def _osm_kinds(*tags: pd.Series) -> np.ndarray:
    """The kind of every feature, computed once per distinct tag combination."""
    combos = pd.DataFrame({i: t.astype(object).where(t.notna(), None).to_numpy() for i, t in enumerate(tags)})
    keys = list(combos.itertuples(index=False, name=None))
    kinds = {key: _osm_kind(*key) for key in dict.fromkeys(keys)}
    return np.array([kinds[k] for k in keys], dtype=object)


def osm_facilities(path: Path, type_map: dict | None = None) -> gpd.GeoDataFrame:
    """The facilities of an OSM file: hospitals, clinics and ambulance stations, plus the other health
    features whose kind the scenario maps under [facilities.types] (e.g. ``pharmacy = "clinic"``).

    The others (pharmacies, dentists, optometrists, psychotherapists, alternative medicine, ...) are
    left out with a warning that counts them. Columns as :func:`osm_health_features`.
    """
    features = osm_health_features(path)
    mapped = {normalise_word(k) for k in (type_map or {})}
    keep_roles = set(OSM_ROLES) | mapped
    keep = np.array([bool(t) and all(normalise_word(r) in keep_roles for r in t.split(ROLE_SEPARATOR))
                     for t in features["type"]], dtype=bool)
    if not keep.all():
        counts = features.loc[~keep, "type"].replace("", "(no kind)").value_counts().sort_index()
        listing = ", ".join(f"{k} {n}" for k, n in counts.items())
        warn(f"{int((~keep).sum())} OSM health feature(s) are not facilities of the plan and were left out "
             f"({listing}). To count a kind, map it under [facilities.types] in the scenario, e.g. "
             f"{counts.index[0]} = \"clinic\".")
    return features[keep].reset_index(drop=True)


def _check_lonlat(frame: gpd.GeoDataFrame, spec: LayerSpec) -> None:
    if frame.crs is None or not frame.crs.is_geographic:
        return
    x, y = frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy()
    if (np.abs(y) > 90).any() or (np.abs(x) > 180).any():
        raise InputError("latitude outside ±90° or longitude outside ±180°: longitude and latitude look "
                         "swapped.", file=spec.path, field="geometry",
                         fix="swap the columns (经度 = longitude, 纬度 = latitude) or the point order.")
