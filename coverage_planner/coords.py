"""Chinese coordinate systems: GCJ-02 (Amap, Tencent) and BD-09 (Baidu) to WGS84.

GCJ-02 is the officially required obfuscated datum of Chinese web maps; it shifts points by
100–700 m. BD-09 adds Baidu's own shift on top. The forward formulas are the public ones (as in the
eviltransform and coordtransform projects); the inverse is solved by fixed-point iteration to below
1e-9°, vectorised on numpy arrays. Points outside China are left as they are, as those maps do.
"""

from __future__ import annotations

import numpy as np

_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = np.pi * 3000.0 / 180.0


def out_of_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """The rough box outside which Chinese maps apply no GCJ-02 shift."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return (lon < 72.004) | (lon > 137.8347) | (lat < 0.8293) | (lat > 55.8271)


def _shift(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (degrees) of WGS84 points."""
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


def wgs84_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 → GCJ-02."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dlon, dlat = _shift(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, tol: float = 1e-10, max_iter: int = 30) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → WGS84, by iterating the forward formula until it reproduces the input."""
    glon, glat = np.asarray(lon, float), np.asarray(lat, float)
    wlon, wlat = glon.copy(), glat.copy()
    for _ in range(max_iter):
        flon, flat = wgs84_to_gcj02(wlon, wlat)
        elon, elat = flon - glon, flat - glat
        wlon, wlat = wlon - elon, wlat - elat
        if np.all(np.abs(elon) < tol) and np.all(np.abs(elat) < tol):
            break
    return wlon, wlat


def bd09_to_gcj02(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """BD-09 → GCJ-02 (Baidu's published conversion)."""
    x, y = np.asarray(lon, float) - 0.0065, np.asarray(lat, float) - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def gcj02_to_bd09(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 → BD-09."""
    x, y = np.asarray(lon, float), np.asarray(lat, float)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def to_wgs84(lon, lat, system: str) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in ``system`` ("wgs84", "gcj02" or "bd09") as WGS84."""
    system = system.lower().replace("-", "")
    if system == "wgs84":
        return np.asarray(lon, float), np.asarray(lat, float)
    if system == "gcj02":
        return gcj02_to_wgs84(lon, lat)
    if system == "bd09":
        return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))
    raise ValueError(f"unknown coordinate system {system!r}: use wgs84, gcj02 or bd09")


def suspect_gcj02_offset(dx: np.ndarray, dy: np.ndarray) -> str | None:
    """A warning when facilities sit consistently 300–700 m off the roads in one direction.

    ``dx``, ``dy``: metres from each facility to its nearest road point. That pattern is the
    signature of GCJ-02 or BD-09 coordinates (copied from Amap, Tencent or Baidu) declared as WGS84.
    """
    dx, dy = np.asarray(dx, float), np.asarray(dy, float)
    if len(dx) < 3:
        return None
    lengths = np.hypot(dx, dy)
    mean = float(lengths.mean())
    resultant = float(np.hypot(dx.mean(), dy.mean()))
    if 300.0 <= mean <= 700.0 and resultant / mean > 0.8:
        bearing = (np.degrees(np.arctan2(dx.mean(), dy.mean())) + 360) % 360
        return (f"the facilities lie on average {mean:,.0f} m from the nearest road, all in about the same "
                f"direction (the roads are {bearing:.0f}° from them): the coordinates look like GCJ-02 "
                "(Amap/Tencent) or BD-09 (Baidu) rather than WGS84. Set coords = \"gcj02\" (or \"bd09\") "
                "under [facilities] in the scenario.")
    return None
