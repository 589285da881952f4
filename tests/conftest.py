"""Shared fixtures: a tiny region written in real formats (OSM XML, GeoTIFF, GeoJSON, TOML)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "geodata"
UTM = "EPSG:32648"
X0, Y0 = 400000.0, 3380000.0   # UTM 48N, near 103.96°E 30.55°N
_to_lonlat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True)


def lonlat(x, y):
    """UTM 48N metres → (lon, lat)."""
    return _to_lonlat.transform(x, y)


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict]]) -> None:
    """Write an OSM XML file; node coordinates are given in UTM metres relative to (X0, Y0)."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for nid, (x, y) in sorted(nodes.items()):
        lon, lat = lonlat(X0 + x, Y0 + y)
        lines.append(f'  <node id="{nid}" version="1" lat="{lat:.8f}" lon="{lon:.8f}"/>')
    for k, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{k}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f'    <tag k="{key}" v="{val}"/>' for key, val in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def write_raster(path: Path, values: np.ndarray, x0: float, y0: float, cell: float = 100.0,
                 crs: str | None = UTM, nodata: float | None = -9999.0) -> None:
    """Write a single-band float32 GeoTIFF whose top-left corner is (x0, y0) in metres."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=values.shape[1], height=values.shape[0], count=1,
                       dtype="float32", crs=crs, transform=from_origin(x0, y0, cell, cell), nodata=nodata) as dst:
        dst.write(values.astype("float32"), 1)


def polygon_lonlat(x0, y0, x1, y1):
    ring = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    return [[list(lonlat(X0 + x, Y0 + y)) for x, y in ring]]


def write_geojson(path: Path, features: list[dict], crs: bool = True) -> None:
    data = {"type": "FeatureCollection", "features": features}
    if not crs:
        data["crs"] = None
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


# The siting settings of the tiny region: an 800 m radius and candidates on the road grid.
SITING = """
[standards.overrides.ems_radius]
urban_km = 0.8
rural_km = 0.8

[siting]
candidates = "network"
spacing_m = 500
p = 1
time_limit_s = 30
"""


@pytest.fixture
def siting_region(tiny_region: Path) -> Path:
    """The tiny region with the [siting] settings of SITING (returns the scenario file)."""
    tiny_region.write_text(tiny_region.read_text() + SITING)
    return tiny_region


@pytest.fixture
def tiny_region(tmp_path: Path) -> Path:
    """The tiny region of :func:`build_tiny_region` in a temporary folder; returns the scenario file."""
    return build_tiny_region(tmp_path)


GRID_STREET = {"highway": "residential", "maxspeed": "36"}


def grid_node(i: int, j: int) -> int:
    """OSM node id of the tiny grid's crossing in column i (x = 500 i) and row j (y = 500 j)."""
    return 100 + 10 * i + j


def tiny_grid(row_tags=lambda j: GRID_STREET, column_tags=lambda i: GRID_STREET):
    """Nodes and ways of the tiny region's 3×5 street grid (500 m blocks): the rows y = 0, 500, 1000
    first, then the columns x = 0 … 2000, each tagged by ``row_tags(j)`` / ``column_tags(i)``."""
    nodes = {grid_node(i, j): (500.0 * i, 500.0 * j) for i in range(5) for j in range(3)}
    ways = [([grid_node(i, j) for i in range(5)], dict(row_tags(j))) for j in range(3)]
    ways += [([grid_node(i, j) for j in range(3)], dict(column_tags(i))) for i in range(5)]
    return nodes, ways


def build_tiny_region(tmp_path: Path) -> Path:
    """A 2 km × 1 km region: a 3×5 street grid (500 m blocks), two units, two facilities.

    Returns the scenario file. Roads run along y = 0, 500, 1000 and x = 0 … 2000 (every 500 m),
    plus one isolated road piece at x = 2600 (cut off) and a railway (ignored).
    """
    nodes, ways = tiny_grid()
    nodes[900], nodes[901] = (2600.0, 0.0), (2600.0, 1000.0)
    ways.append(([900, 901], {"highway": "residential", "maxspeed": "36"}))
    nodes[950], nodes[951] = (-200.0, 1200.0), (2200.0, 1200.0)
    ways.append(([950, 951], {"railway": "rail"}))
    write_osm(tmp_path / "roads.osm", nodes, ways)
    pop = np.full((12, 28), 10.0)          # 100 m cells from x = -100 … 2700, y = -100 … 1100
    write_raster(tmp_path / "pop.tif", pop, X0 - 100, Y0 + 1100)
    units = [
        {"type": "Feature", "properties": {"unit_id": "S1", "name": "西街道", "name_en": "West Street",
                                           "kind": "street", "zone": "urban"},
         "geometry": {"type": "Polygon", "coordinates": polygon_lonlat(-100, -100, 1000, 1100)}},
        {"type": "Feature", "properties": {"unit_id": "T1", "name": "东镇", "name_en": "East Town",
                                           "kind": "town", "zone": "rural"},
         "geometry": {"type": "Polygon", "coordinates": polygon_lonlat(1000, -100, 2700, 1100)}},
    ]
    write_geojson(tmp_path / "units.geojson", units)
    facilities = [
        {"type": "Feature", "properties": {"id": "E1", "name": "急救站", "name_en": "EMS 1", "type": "ems",
                                           "ambulances": 2, "turnout_min": 1.0},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 0.0, Y0 + 500.0))}},
        {"type": "Feature", "properties": {"id": "C1", "name": "社区卫生服务中心", "name_en": "CHC 1",
                                           "type": "chc", "ambulances": 0, "turnout_min": 0.0},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 500.0, Y0 + 500.0))}},
    ]
    write_geojson(tmp_path / "facilities.geojson", facilities)
    (tmp_path / "scenario.toml").write_text(f"""
[scenario]
name = "tiny"
crs = "{UTM}"

[standards]
profile = "chongqing"

[boundaries]
path = "units.geojson"

[facilities]
path = "facilities.geojson"

[population]
path = "pop.tif"

[roads]
path = "roads.osm"

[outputs]
dir = "out"
cache_dir = "cache"
isochrone_minutes = [5, 10]
""", encoding="utf-8")
    return tmp_path / "scenario.toml"
