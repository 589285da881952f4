"""Chinese coordinate systems: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) to and from WGS84.

GCJ-02 ("Mars coordinates", 火星坐标) is the obfuscated datum that Chinese web maps must use; it
shifts points by 100–700 m. BD-09 adds Baidu's own shift on top of GCJ-02 (about 1–1.5 km from
WGS84 in all). The forward formulas are the published ones, as in the coordtransform
(wandergis) and eviltransform (googollee) projects, with the Krasovsky semi-major axis 6378245 m.
Neither has a closed-form inverse: :func:`gcj02_to_wgs84` and :func:`bd09_to_gcj02` solve the
forward formula by fixed-point iteration (the shift changes slowly, so two or three steps reach
1e-10°), vectorised on numpy arrays. Outside China's rough bounding box GCJ-02 applies no shift,
as those maps do; BD-09's shift applies everywhere, as in coordtransform.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

SYSTEMS = ("wgs84", "gcj02", "bd09")
_ALIASES = {"wgs84": "wgs84", "wgs": "wgs84", "epsg4326": "wgs84",
            "gcj02": "gcj02", "gcj": "gcj02", "mars": "gcj02", "火星": "gcj02", "火星坐标": "gcj02",
            "国测局": "gcj02", "高德": "gcj02", "腾讯": "gcj02",
            "bd09": "bd09", "bd09ll": "bd09", "bd": "bd09", "baidu": "bd09", "百度": "bd09"}

_A = 6378245.0                       # Krasovsky 1940 semi-major axis, as in the published formula
_EE = 0.00669342162296594323         # its first eccentricity squared
_X_PI = np.pi * 3000.0 / 180.0       # Baidu's constant
_TOL = 1e-10                         # degrees; far below the 1e-7° a planner could notice (1 cm)

Pair = tuple[np.ndarray, np.ndarray]


def normalise_system(system: str) -> str:
    """"wgs84", "gcj02" or "bd09" for a user's spelling ("GCJ-02", "BD09LL", "百度", ...); ValueError else."""
    key = str(system).strip().lower().replace("-", "").replace("_", "").replace(" ", "")
    if key not in _ALIASES:
        raise ValueError(f"unknown coordinate system {system!r}: use wgs84, gcj02 (Amap/Tencent) or bd09 (Baidu)")
    return _ALIASES[key]


def out_of_china(lon: ArrayLike, lat: ArrayLike) -> np.ndarray:
    """True outside the rough box in which Chinese maps apply the GCJ-02 shift."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _gcj02_shift(lon: np.ndarray, lat: np.ndarray) -> Pair:
    """The GCJ-02 offset (degrees of longitude, latitude) at WGS84 points; zero outside China."""
    x, y = lon - 105.0, lat - 35.0
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x)) + common
    dlat += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x)) + common
    dlon += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1 - _EE * np.sin(rad) ** 2
    dlat = dlat * 180.0 / ((_A * (1 - _EE)) / (magic * np.sqrt(magic)) * np.pi)
    dlon = dlon * 180.0 / (_A / np.sqrt(magic) * np.cos(rad) * np.pi)
    outside = out_of_china(lon, lat)
    return np.where(outside, 0.0, dlon), np.where(outside, 0.0, dlat)


def _invert(forward: Callable[[np.ndarray, np.ndarray], Pair], lon: np.ndarray, lat: np.ndarray,
            start: Pair, tol: float = _TOL, max_iter: int = 30) -> Pair:
    """Solve forward(x) = (lon, lat) for x by fixed-point iteration from ``start``, all points at once.

    Works because each forward transform is the identity plus a slowly varying shift.
    Non-finite inputs stay non-finite and do not hold up the others.
    """
    x, y = np.array(start[0], float, copy=True), np.array(start[1], float, copy=True)
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - lon, fy - lat
        x, y = x - ex, y - ey
        worst = max(np.max(np.abs(ex), where=np.isfinite(ex), initial=0.0),
                    np.max(np.abs(ey), where=np.isfinite(ey), initial=0.0))
        if worst < tol:
            break
    return x, y


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """WGS84 → GCJ-02 (the published formula); points outside China are returned unchanged."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _gcj02_shift(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike, tol: float = _TOL) -> Pair:
    """GCJ-02 → WGS84: the point that :func:`wgs84_to_gcj02` maps to the input, to ``tol`` degrees."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _gcj02_shift(lon, lat)                  # the usual one-step estimate as a start
    return _invert(wgs84_to_gcj02, lon, lat, (lon - dlon, lat - dlat), tol)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """GCJ-02 → BD-09 (Baidu's published formula)."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def bd09_to_gcj02_published(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """BD-09 → GCJ-02 by the widely copied closed formula: an approximate inverse (errors up to ~1e-6°)."""
    x, y = np.asarray(lon, float) - 0.0065, np.asarray(lat, float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike, tol: float = _TOL) -> Pair:
    """BD-09 → GCJ-02: the exact inverse of :func:`gcj02_to_bd09`, to ``tol`` degrees."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return _invert(gcj02_to_bd09, lon, lat, bd09_to_gcj02_published(lon, lat), tol)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> Pair:
    """WGS84 → BD-09."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike, tol: float = _TOL) -> Pair:
    """BD-09 → WGS84 (both steps exact inverses)."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat, tol), tol)


def to_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> Pair:
    """Coordinates in ``system`` ("wgs84", "gcj02" or "bd09", any usual spelling) as WGS84 arrays."""
    system = normalise_system(system)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return bd09_to_wgs84(lon, lat)
    return np.array(lon, float, copy=True), np.array(lat, float, copy=True)


def from_wgs84(lon: ArrayLike, lat: ArrayLike, system: str) -> Pair:
    """WGS84 coordinates expressed in ``system`` (for writing files that Amap or Baidu will show)."""
    system = normalise_system(system)
    if system == "gcj02":
        return wgs84_to_gcj02(lon, lat)
    if system == "bd09":
        return wgs84_to_bd09(lon, lat)
    return np.array(lon, float, copy=True), np.array(lat, float, copy=True)


# Offset bands (metres, mean distance to the nearest road) and the system that explains them: GCJ-02
# moves points 300–700 m in most of China (150–665 m anywhere); BD-09 adds about 0.0065°/0.006° more,
# 720–1,480 m from WGS84 in all (measured on a 1° grid over China).
OFFSET_BANDS = ((300.0, 700.0, "gcj02"), (700.0, 1600.0, "bd09"))
MIN_FACILITIES = 3
MIN_AGREEMENT = 0.8


def _offset_vectors(fac_xy_metric: ArrayLike, road_nearest_vectors: ArrayLike) -> np.ndarray:
    """The (n, 2) offset vectors, checked against the (n, 2) facility positions."""
    first, second = np.asarray(fac_xy_metric, float), np.asarray(road_nearest_vectors, float)
    if second.ndim != 2 or second.shape[1] != 2 or len(first) != len(second):
        raise ValueError("give facility positions (n, 2) and offset vectors (n, 2) of the same length")
    return second


def suspect_gcj02_offset(fac_xy_metric: ArrayLike, road_nearest_vectors: ArrayLike) -> str | None:
    """A warning text when facilities declared WGS84 sit consistently off the roads in one direction.

    ``road_nearest_vectors``: for each facility, the vector (dx, dy) in metres from the facility to
    its nearest road point; ``fac_xy_metric``: the facilities' positions (n, 2), used to check the
    input.

    Returns a text when there are at least 3 facilities, their mean distance to the road lies in
    300–700 m (GCJ-02) or 700–1,600 m (BD-09), and the vectors agree in direction (the length of their
    mean vector over their mean length, 1 for a pure translation, exceeds 0.8); otherwise None.
    """
    vectors = _offset_vectors(fac_xy_metric, road_nearest_vectors)
    vectors = vectors[np.isfinite(vectors).all(axis=1)]
    if len(vectors) < MIN_FACILITIES:
        return None
    mean_length = float(np.hypot(vectors[:, 0], vectors[:, 1]).mean())
    resultant = vectors.mean(axis=0)
    agreement = float(np.hypot(*resultant)) / mean_length if mean_length > 0 else 0.0
    system = next((s for lo, hi, s in OFFSET_BANDS if lo <= mean_length <= hi), None)
    if system is None or agreement <= MIN_AGREEMENT:
        return None
    bearing = (np.degrees(np.arctan2(resultant[0], resultant[1])) + 360.0) % 360.0
    likely = ("GCJ-02 (Amap/Tencent) or BD-09 (Baidu)" if system == "gcj02"
              else "BD-09 (Baidu) or GCJ-02 (Amap/Tencent)")
    return (f"the {len(vectors)} facilities lie on average {mean_length:,.0f} m from the nearest road, all in "
            f"about the same direction (the roads are at a bearing of {bearing:.0f}° from them, agreement "
            f"{agreement:.2f}): the coordinates look like {likely} rather than WGS84. If they were copied "
            f"from a Chinese web map, set coords = \"{system}\" in the scenario's [facilities] layer.")


# The inverse-transform test: labelled WGS84, but converting them as if they were GCJ-02 (or BD-09)
# brings most facilities closer to a road, and clearly more of them than the same move turned in other
# directions does. Facilities stand by roads; a datum shift moves them off in one direction, and only
# the right inverse moves them back. The turned moves are the control: in a dense street grid any move
# of a few hundred metres lands near some road, and facilities set far back from their roads come
# closer to a road whichever way they move.
CLOSER_SHARE = 0.8         # at least this share of facilities closer to a road after the inverse
CLOSER_MARGIN = 0.15       # and this much more than after the same move turned by 45°, 90°, … 315°,
BEST_SHARE = 0.5           # or this share closest after the inverse of all eight moves (1/8 by chance)
CONTROL_TURNS_DEG = (45, 90, 135, 180, 225, 270, 315)
_SYSTEM_NAMES = {"gcj02": "GCJ-02 (Amap/高德, Tencent/腾讯)", "bd09": "BD-09 (Baidu/百度)"}


def _turned(base: np.ndarray, moved: np.ndarray, degrees: float) -> np.ndarray:
    """``base`` moved by each point's move from ``base`` to ``moved``, turned by ``degrees``."""
    shift, turn = moved - base, np.radians(degrees)
    c, s = np.cos(turn), np.sin(turn)
    return base + np.column_stack([c * shift[:, 0] - s * shift[:, 1], s * shift[:, 0] + c * shift[:, 1]])


def suspect_offset_by_inverse(xy: ArrayLike, converted: dict[str, ArrayLike],
                              distance: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> str | None:
    """A warning text when facilities labelled WGS84 look like GCJ-02 or BD-09 coordinates, judged by
    how converting them to WGS84 changes their distance to the roads.

    Parameters
    ----------
    xy : (n, 2) facility positions as given, in metres (a metric CRS).
    converted : for "gcj02" and/or "bd09", the (n, 2) positions after converting the given
        coordinates from that system to WGS84, in the same CRS.
    distance : (x, y) arrays → metres to the nearest road, for each point.

    Returns
    -------
    The warning text, naming the system and the fix ``coords = "..."``, when there are at least 3
    facilities, at least 80 % of them are more than 1 m closer to a road after the conversion, their
    median distance to a road falls, and the conversion beats the controls (the same per-facility
    moves turned by 45°, 90°, …, 315°): its share closer exceeds each control's by 0.15, or at least
    half the facilities are closer after it than after any control (one in eight by chance). The
    system with more facilities closer wins. None otherwise.
    """
    xy = np.asarray(xy, float)
    finite = np.isfinite(xy).all(axis=1)
    if finite.sum() < MIN_FACILITIES:
        return None
    given = np.asarray(distance(xy[:, 0], xy[:, 1]), float)
    best = None
    for system, moved in converted.items():
        moved = np.asarray(moved, float)
        ok = finite & np.isfinite(moved).all(axis=1) & np.isfinite(given)
        if ok.sum() < MIN_FACILITIES:
            continue
        base, to, d0 = xy[ok], moved[ok], given[ok]
        after = np.asarray(distance(to[:, 0], to[:, 1]), float)
        closer = float(np.mean(after < d0 - 1.0))
        if closer < CLOSER_SHARE or np.median(after) >= np.median(d0):
            continue
        controls = np.array([distance(*_turned(base, to, deg).T) for deg in CONTROL_TURNS_DEG], float)
        control = float(np.max(np.mean(controls < d0 - 1.0, axis=1)))
        closest = float(np.mean(after < controls.min(axis=0)))
        if (closer >= control + CLOSER_MARGIN or closest >= BEST_SHARE) and (best is None or closer > best[1]):
            best = (system, closer, float(np.median(after)), float(np.median(d0)), int(ok.sum()), control)
    if best is None:
        return None
    system, closer, after, before, n, control = best
    return (f"the facilities' coordinates look like {_SYSTEM_NAMES[system]} rather than WGS84: converted from "
            f"{system} to WGS84, {closer:.0%} of the {n} facilities lie closer to a road (median distance to the "
            f"nearest road {after:,.0f} m instead of {before:,.0f} m; the same moves in other directions bring at "
            f"most {control:.0%} closer). If they were copied from a Chinese web map, set coords = \"{system}\" in "
            "the scenario's [facilities] layer.")
