"""Chinese coordinate systems against published vectors; round trips; the GCJ-02 offset warning."""

from __future__ import annotations

import numpy as np
import pytest
from pyproj import Transformer

from coverage_planner.coords import (bd09_to_gcj02, bd09_to_gcj02_published, bd09_to_wgs84, from_wgs84,
                                     gcj02_to_bd09, gcj02_to_wgs84, normalise_system, suspect_gcj02_offset, to_wgs84,
                                     wgs84_to_bd09, wgs84_to_gcj02)

# googollee/eviltransform, python/test.py and go/transform_test.go: (wgs lat, wgs lng, gcj lat, gcj lng)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),     # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),    # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),    # Beijing
]
# wandergis/coordtransform README.md and wyxloading/coordtransform-rs tests/tests.rs, all at (116.404, 39.915),
# Beijing (lon, lat)
BEIJING = (116.404, 39.915)
WGS84_TO_GCJ02 = (116.41024449916938, 39.91640428150164)
GCJ02_TO_BD09 = (116.41036949371029, 39.92133699351021)
WGS84_TO_BD09 = (116.41662724378733, 39.922699552216216)      # coordtransform-rs only
BD09_TO_GCJ02_PUBLISHED = (116.39762729119315, 39.90865673957631)
GCJ02_TO_WGS84_ONE_STEP = (116.39775550083061, 39.91359571849836)
BD09_TO_WGS84_ONE_STEP = (116.3913836995125, 39.907253214522164)  # coordtransform-rs only
# dromara/hutool, hutool-core/src/test/java/cn/hutool/core/util/CoordinateUtilTest.java (wgs84toBd09Test2)
HUTOOL_WGS84 = (122.99395597, 44.99804071)
HUTOOL_BD09 = (123.00636516028885, 45.00636909189589)


def metres(lon1, lat1, lon2, lat2):
    return np.hypot((np.asarray(lon1) - lon2) * 111320 * np.cos(np.radians(lat1)), (np.asarray(lat1) - lat2) * 110574)


@pytest.mark.parametrize("wlat, wlng, glat, glng", EVILTRANSFORM)
def test_wgs84_to_gcj02_eviltransform_vectors(wlat, wlng, glat, glng):
    lon, lat = wgs84_to_gcj02(wlng, wlat)
    assert lon == pytest.approx(glng, abs=1e-9) and lat == pytest.approx(glat, abs=1e-9)
    back_lon, back_lat = to_wgs84(glng, glat, "gcj02")         # exact inverse
    assert back_lon == pytest.approx(wlng, abs=1e-9) and back_lat == pytest.approx(wlat, abs=1e-9)


def test_beijing_in_three_systems():
    """One WGS84 point in Beijing, its GCJ-02 and BD-09 equivalents, both ways, to 1e-6° or better."""
    assert np.allclose(wgs84_to_gcj02(*BEIJING), WGS84_TO_GCJ02, rtol=0, atol=1e-9)
    assert np.allclose(wgs84_to_bd09(*BEIJING), WGS84_TO_BD09, rtol=0, atol=1e-9)
    assert np.allclose(from_wgs84(*BEIJING, "bd09"), WGS84_TO_BD09, rtol=0, atol=1e-9)
    assert np.allclose(gcj02_to_bd09(*BEIJING), GCJ02_TO_BD09, rtol=0, atol=1e-9)
    assert np.allclose(to_wgs84(*WGS84_TO_GCJ02, "gcj02"), BEIJING, rtol=0, atol=1e-9)
    assert np.allclose(to_wgs84(*WGS84_TO_BD09, "bd09"), BEIJING, rtol=0, atol=1e-9)
    assert np.allclose(wgs84_to_bd09(*HUTOOL_WGS84), HUTOOL_BD09, rtol=0, atol=1e-9)
    assert np.allclose(to_wgs84(*HUTOOL_BD09, "BD-09"), HUTOOL_WGS84, rtol=0, atol=1e-9)


def test_published_inverses_are_one_step_approximations():
    """The libraries' inverses are closed-form approximations; ours are exact and lie within 1e-6° of theirs."""
    assert np.allclose(bd09_to_gcj02_published(*BEIJING), BD09_TO_GCJ02_PUBLISHED, rtol=0, atol=1e-12)
    exact = bd09_to_gcj02(*BEIJING)
    assert np.allclose(gcj02_to_bd09(*exact), BEIJING, rtol=0, atol=1e-12)
    assert np.allclose(exact, BD09_TO_GCJ02_PUBLISHED, rtol=0, atol=1e-6)
    assert np.allclose(gcj02_to_wgs84(*BEIJING), GCJ02_TO_WGS84_ONE_STEP, rtol=0, atol=1e-6)
    assert np.allclose(bd09_to_wgs84(*BEIJING), BD09_TO_WGS84_ONE_STEP, rtol=0, atol=1e-5)
    assert metres(*bd09_to_wgs84(*BEIJING), *BD09_TO_WGS84_ONE_STEP) < 1.0


def test_round_trips_over_china_vectorised():
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, (40, 25))
    lat = rng.uniform(19, 53, (40, 25))
    for system in ("gcj02", "bd09"):
        there = from_wgs84(lon, lat, system)
        assert there[0].shape == lon.shape
        assert metres(*there, lon, lat).min() > 10              # the shift is real everywhere in the box
        back_lon, back_lat = to_wgs84(*there, system)
        assert np.abs(back_lon - lon).max() < 1e-9 and np.abs(back_lat - lat).max() < 1e-9
    assert np.array_equal(to_wgs84(lon, lat, "wgs84")[0], lon)


def test_outside_china_unchanged_and_nan_kept():
    lon = np.array([2.35, 9.52, -74.0, 104.07, np.nan])
    lat = np.array([48.86, 47.14, 40.7, 30.67, 30.0])
    glon, glat = wgs84_to_gcj02(lon, lat)
    assert np.array_equal(glon[:3], lon[:3]) and np.array_equal(glat[:3], lat[:3])
    assert 100 < metres(glon[3], glat[3], lon[3], lat[3]) < 700
    wlon, wlat = to_wgs84(lon, lat, "gcj02")
    assert np.array_equal(wlon[:3], lon[:3]) and np.array_equal(wlat[:3], lat[:3])
    assert np.isnan(wlon[4]) and np.isfinite(wlon[:4]).all()


def test_system_names():
    assert [normalise_system(s) for s in ("WGS-84", "gcj_02", "GCJ02", "bd09ll", "BD-09", "百度", "高德")] == \
        ["wgs84", "gcj02", "gcj02", "bd09", "bd09", "bd09", "gcj02"]
    with pytest.raises(ValueError, match="unknown coordinate system"):
        to_wgs84(1.0, 2.0, "cgcs2000-gk")


# ---- offset warning -------------------------------------------------------------------------

_UTM48 = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)


def offsets_of(system: str, n: int = 12, seed: int = 1):
    """Facilities whose true (WGS84) position is on a road, but given in ``system`` and read as WGS84:
    their metric positions and the vectors from them to the road point (Chengdu)."""
    rng = np.random.default_rng(seed)
    lon, lat = 104.06 + rng.uniform(-0.1, 0.1, n), 30.66 + rng.uniform(-0.1, 0.1, n)
    road = np.column_stack(_UTM48.transform(lon, lat))
    fac = np.column_stack(_UTM48.transform(*from_wgs84(lon, lat, system)))
    return fac, road - fac


def test_offset_warning_for_gcj02_and_bd09_data():
    fac, vec = offsets_of("gcj02")
    text = suspect_gcj02_offset(fac, vec)
    assert text and "GCJ-02 (Amap/Tencent)" in text and 'coords = "gcj02"' in text and "BD-09 (Baidu)" in text
    fac, vec = offsets_of("bd09")
    assert 'coords = "bd09"' in suspect_gcj02_offset(fac, vec)


def test_offset_warning_criteria():
    rng = np.random.default_rng(3)
    fac = rng.uniform(0, 10_000, (12, 2))
    shifted = np.column_stack([420 + rng.normal(0, 40, 12), -260 + rng.normal(0, 40, 12)])   # ~500 m, one way
    assert "GCJ-02" in suspect_gcj02_offset(fac, shifted)
    ang = rng.uniform(0, 2 * np.pi, 12)                                 # 450 m in scattered directions
    assert suspect_gcj02_offset(fac, 450 * np.column_stack([np.cos(ang), np.sin(ang)])) is None
    assert suspect_gcj02_offset(fac, np.tile([30.0, 0.0], (12, 1))) is None        # close to the roads
    assert suspect_gcj02_offset(fac, np.tile([2500.0, 0.0], (12, 1))) is None      # far, but not a datum shift
    assert suspect_gcj02_offset(fac[:2], shifted[:2]) is None                    # too few to tell
    half = shifted.copy()
    half[::2] *= -1                                                      # half one way, half the other
    assert suspect_gcj02_offset(fac, half) is None
    with pytest.raises(ValueError):
        suspect_gcj02_offset(fac[:5], shifted)
