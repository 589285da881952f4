"""Chinese coordinate systems against published vectors, and facility tables from Chinese Excel."""

from __future__ import annotations

import numpy as np
import pytest

from coverage_planner.coords import (bd09_to_gcj02, gcj02_to_bd09, gcj02_to_wgs84, suspect_gcj02_offset, to_wgs84,
                                     wgs84_to_gcj02)
from coverage_planner.errors import InputError
from coverage_planner.tableio import points_from_table, read_table

# googollee/eviltransform test suite: (wgs lat, wgs lng, gcj lat, gcj lng)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),     # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),    # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),    # Beijing
]


def metres(lon1, lat1, lon2, lat2):
    return np.hypot((lon1 - lon2) * 111320 * np.cos(np.radians(lat1)), (lat1 - lat2) * 110540)


@pytest.mark.parametrize("wlat, wlng, glat, glng", EVILTRANSFORM)
def test_wgs84_to_gcj02_published(wlat, wlng, glat, glng):
    lon, lat = wgs84_to_gcj02(wlng, wlat)
    assert lon == pytest.approx(glng, abs=1e-9) and lat == pytest.approx(glat, abs=1e-9)
    back_lon, back_lat = gcj02_to_wgs84(glng, glat)       # exact inverse: round trip below 1e-9°
    assert back_lon == pytest.approx(wlng, abs=1e-9) and back_lat == pytest.approx(wlat, abs=1e-9)


def test_bd09_published():
    """wandergis/coordtransform's README vectors at (116.404, 39.915)."""
    assert np.allclose(bd09_to_gcj02(116.404, 39.915), (116.39762729119315, 39.90865673957631), atol=1e-12)
    assert np.allclose(gcj02_to_bd09(116.404, 39.915), (116.41036949371029, 39.92133699351021), atol=1e-12)
    assert np.allclose(wgs84_to_gcj02(116.404, 39.915), (116.41024449916938, 39.91640428150164), atol=1e-12)
    # coordtransform's gcj02towgs84 is a one-step approximation; ours is exact and within a few metres of it
    lon, lat = gcj02_to_wgs84(116.404, 39.915)
    assert metres(lon, lat, 116.39775550083061, 39.91359571849836) < 5
    # Baidu's published BD-09 → GCJ-02 formula is itself an approximate inverse (about 0.1 m)
    lon, lat = to_wgs84(*gcj02_to_bd09(*wgs84_to_gcj02(116.404, 39.915)), "bd09")
    assert metres(lon, lat, 116.404, 39.915) < 0.5


def test_outside_china_unchanged_and_vectorised():
    lon = np.array([2.35, 9.52, 104.07])
    lat = np.array([48.86, 47.14, 30.67])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon[:2], lon[:2]) and np.array_equal(glat[:2], lat[:2])
    assert 100 < metres(glon[2], glat[2], lon[2], lat[2]) < 700


def test_offset_warning():
    rng = np.random.default_rng(3)
    dx, dy = 420 + rng.normal(0, 40, 12), -260 + rng.normal(0, 40, 12)
    assert "GCJ-02" in suspect_gcj02_offset(dx, dy)
    ang = rng.uniform(0, 2 * np.pi, 12)                    # scattered directions: no warning
    assert suspect_gcj02_offset(450 * np.cos(ang), 450 * np.sin(ang)) is None
    assert suspect_gcj02_offset(np.full(12, 30.0), np.zeros(12)) is None   # close to roads: no warning


def test_gbk_csv_with_chinese_columns(tmp_path):
    path = tmp_path / "机构.csv"
    path.write_bytes("id,name,type,经度,纬度\nT01,苏溪镇中心卫生院,thc,103.70,29.60\n".encode("gbk"))
    frame = points_from_table(read_table(path), path)
    assert frame["name"].iloc[0] == "苏溪镇中心卫生院"
    assert frame.geometry.x.iloc[0] == pytest.approx(103.70)
    with pytest.raises(InputError, match="encoding"):
        read_table(path, encoding="utf-8")
    path.write_bytes(b"id,name\n\xff\xfe\xfa,\x81\x20\n")
    with pytest.raises(InputError, match=r'encoding = "gbk"'):
        read_table(path)


def test_swapped_missing_and_mixed(tmp_path):
    path = tmp_path / "f.csv"
    path.write_text("id,type,经度,纬度\nA,ems,29.6,103.7\nB,ems,29.5,103.8\n", encoding="utf-8")
    with pytest.raises(InputError, match="swapped"):
        points_from_table(read_table(path), path)
    path.write_text("id,type,x_coord,y_coord\nA,ems,103.7,29.6\n", encoding="utf-8")
    with pytest.raises(InputError, match="no longitude column.*x_coord"):
        points_from_table(read_table(path), path)
    path.write_text("id,type,lon,lat,坐标系\nA,ems,116.41024449916938,39.91640428150164,gcj02\nB,ems,116.404,39.915,wgs84\n",
                    encoding="utf-8")
    frame = points_from_table(read_table(path), path)          # each row in its own system
    assert np.allclose(frame.geometry.x, [116.404, 116.404]) and np.allclose(frame.geometry.y, [39.915, 39.915])
    with pytest.raises(InputError, match="mixed coordinate systems"):
        points_from_table(read_table(path), path, coords="bd09")
