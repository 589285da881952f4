"""Where a proposed site is on the ground: lon/lat, nearest named road, township, readable id, costs.

Every site of every model in ``siting.csv`` gets columns a planner can act on:

* ``lon``, ``lat``: WGS84 degrees rounded to 6 decimals (about 0.1 m); ``lon_gcj02``/``lat_gcj02``
  (or ``_bd09``) beside them when the scenario's facilities were given in that system, so the site
  can be pasted into the map app the facilities came from;
* ``road``: the OSM ``name`` of the nearest road segment, or ``无名道路 (residential)`` with the
  highway class where the nearest segment has no name; ``road_m`` is the distance to it;
* ``township``/``township_en``/``unit_id``: the administrative unit the site lies in
  (``区外 outside`` where none);
* ``site_id``: a readable id, ``<township>-新站-<k>`` for a new site (``k`` numbers, within each
  township, the new sites of all models solved, north to south then west to east; the same place has
  the same id in every model) and ``<township>-现有-<facility id>`` for an existing station.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer

from .coords import from_wgs84, normalise_system
from .network import RoadNetwork

OUTSIDE = ("区外", "outside")
NAME_TOLERANCE_M = 1.0    # a named road this much farther than the nearest unnamed one still names the site


def wgs84_lonlat(x: np.ndarray, y: np.ndarray, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Projected points as WGS84 longitude/latitude rounded to 6 decimals.

    Parameters
    ----------
    x, y : ndarray
        Coordinates in ``crs`` (metres).
    crs : str
        The region's metric CRS.

    Returns
    -------
    (lon, lat) : tuple of ndarray
    """
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(np.asarray(x, float),
                                                                                 np.asarray(y, float))
    return np.round(np.asarray(lon, float), 6), np.round(np.asarray(lat, float), 6)


def local_lonlat(lon: np.ndarray, lat: np.ndarray, system: str) -> dict[str, np.ndarray]:
    """``lon_<system>``/``lat_<system>`` columns (6 decimals) for GCJ-02 or BD-09; none for WGS84."""
    system = normalise_system(system)
    if system == "wgs84":
        return {}
    lo, la = from_wgs84(lon, lat, system)
    return {f"lon_{system}": np.round(np.asarray(lo, float), 6), f"lat_{system}": np.round(np.asarray(la, float), 6)}


def nearest_road(net: RoadNetwork, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Name of the road segment nearest each point and the distance to it in metres.

    Unnamed segments give ``无名道路 (<highway class>)``. A named segment within
    :data:`NAME_TOLERANCE_M` of the nearest wins over an unnamed nearest one (a site at a crossing, or
    a station a few centimetres off the street it stands on), then the nearer, then the lowest index.

    Returns
    -------
    (road, metres) : tuple of ndarray
    """
    pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
    if net.n_segments == 0 or len(pts) == 0:
        return np.full(len(pts), "", dtype=object), np.full(len(pts), np.nan)
    tree = shapely.STRtree(net.seg_geometry)
    (point, _), dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    nearest = np.zeros(len(pts))
    nearest[point] = dist
    which, seg = tree.query(pts, predicate="dwithin", distance=nearest + NAME_TOLERANCE_M)
    dist = shapely.distance(pts[which], net.seg_geometry[seg])
    unnamed = net.seg_name[seg].astype(str) == ""
    order = np.lexsort((seg, dist, unnamed, which))
    first = order[np.r_[True, which[order][1:] != which[order][:-1]]]
    seg, dist = seg[first], dist[first]
    names = net.seg_name[seg].astype(str)
    classes = net.seg_highway[seg].astype(str)
    road = np.where(names != "", names, np.char.add(np.char.add("无名道路 (", classes), ")")).astype(object)
    return road, np.round(dist, 1)


def townships(units: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The unit each point lies in: ``township``, ``township_en``, ``unit_id`` (the first unit in file
    order where units touch; :data:`OUTSIDE` where the point is in none)."""
    pts = shapely.points(np.asarray(x, float), np.asarray(y, float))
    n = len(pts)
    hit = np.full(n, -1)
    if n and len(units):
        which, unit = units.sindex.query(pts, predicate="intersects")
        order = np.lexsort((unit, which))[::-1]       # the lowest unit index is written last
        hit[which[order]] = unit[order]
    inside = hit >= 0
    pick = np.where(inside, hit, 0)

    def column(name: str, default: str) -> np.ndarray:
        values = units[name].astype(str).to_numpy(object) if name in units and len(units) else np.full(n, "", object)
        return np.where(inside, values[pick] if len(units) else "", default).astype(object)

    return {"township": column("name", OUTSIDE[0]), "township_en": column("name_en", OUTSIDE[1]),
            "unit_id": column("unit_id", "")}


def readable_ids(township: np.ndarray, x: np.ndarray, y: np.ndarray, is_new: np.ndarray,
                 facility_id: np.ndarray) -> np.ndarray:
    """``<township>-新站-<k>`` for new sites, ``<township>-现有-<facility id>`` for existing stations.

    Parameters
    ----------
    township : ndarray of str
        The unit of each site (one row per distinct site).
    x, y : ndarray
        Site coordinates (metres); ``k`` counts new sites within a township north to south, then west
        to east (rounded to the metre), so the ids are stable from run to run.
    is_new : ndarray of bool
        The site is a candidate, not an existing station.
    facility_id : ndarray of str
        The candidate or facility id (used for existing stations and as the last tie-break).
    """
    township = np.asarray(township, dtype=object).astype(str)
    out = np.array([f"{t}-现有-{f}" for t, f in zip(township, facility_id)], dtype=object)
    new = np.flatnonzero(is_new)
    if len(new) == 0:
        return out
    order = new[np.lexsort((np.asarray(facility_id, dtype=str)[new], np.round(x[new]), -np.round(y[new]),
                            township[new]))]
    start = np.r_[True, township[order][1:] != township[order][:-1]]
    group = np.cumsum(start) - 1
    first_pos = np.flatnonzero(start)
    k = np.arange(len(order)) - first_pos[group] + 1
    out[order] = [f"{t}-新站-{i}" for t, i in zip(township[order], k)]
    return out
