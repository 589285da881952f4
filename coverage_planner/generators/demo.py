"""The embedded demo region: 青衣区 Qingyi District, a fictional hilly Sichuan district.

Modelled on Leshan Shizhong (seed 004): a dense street-grid district seat on the west bank of a
river, three central towns (中心镇) that are county sub-centre candidates, six more towns, about
twenty villages on winding county and village roads, an expressway, and a river crossed only at a
few bridges. ``coverage-planner demo --regenerate`` writes it into ``coverage_planner/data/demo/`` in real
formats, so the demo passes through the same loaders as real data:

- ``roads.osm`` — OSM XML 0.6: highway classes motorway … residential, service, track, some
  ``maxspeed`` and ``oneway``; bridges (``bridge=yes``, ``layer=1``); a ``waterway=river``, one
  ``railway=rail`` and one ``highway=footway`` that the loader must drop; a ferry hamlet whose only
  road is cut off from the rest;
- ``population.tif`` — GeoTIFF, people per 100 m cell, EPSG:32648, nodata on the river and outside
  the district;
- ``facilities.geojson`` and ``facilities.csv`` (经度/纬度 columns), WGS84 — hospitals (general,
  TCM and maternal-child: ``hospital;general``, ``hospital;tcm``, ``hospital;mch``), township health
  centres (``thc``; one town has none), community health centres (``chc``; one street has none),
  community health stations (``chs``; one street has too few), village clinics (``village_clinic``;
  three villages have none) and EMS stations, with ambulances, beds, doctors, nurses and GPs;
- ``villages.geojson``, WGS84 — administrative villages (行政村) as points with their population, one
  of them under 800 people without a clinic of its own;
- ``units.geojson``, WGS84 — streets (街道, urban, county seat) and towns (镇, rural) that tile the
  district, with ``central_town`` flags.

Everything is fictional and deterministic (one seeded random generator, fixed order, no
timestamps): regenerating gives byte-identical text files and an identical raster. Geometry is
built in metres in UTM 48N relative to the south-west corner of a 36 km box and reprojected on
output.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
import shapely.ops
from pyproj import Transformer
from scipy.interpolate import CubicSpline

DEMO_DIR = Path(__file__).resolve().parents[1] / "data" / "demo"     # package data (a checkout's copy)
SCENARIO = DEMO_DIR.parent / "demo.toml"

CRS = "EPSG:32648"                      # UTM 48N
SEED = 20251124
X0, Y0 = 360_900.0, 3_251_600.0         # south-west corner of the box (multiples of 100 m)
BOX = 36_000.0                          # the box is 36 km × 36 km; the district is ~800 km² inside it
CELL = 100.0
NODATA = -9999.0
KM = 1000.0
DISTRICT_AREA_M2 = 800e6
RIVER_HALF_WIDTH = 130.0

# The district seat: a 6 km × 5 km street grid (200 m blocks) west of the river.
CORE = (12.0 * KM, 14.6 * KM, 18.0 * KM, 19.6 * KM)
BLOCK = 200.0
CORE_CENTRE = (15.0 * KM, 17.0 * KM)
DISPERSED_PEOPLE = 100_000.0            # farmsteads along rural roads
LOCAL_ROADS = {"trunk", "primary", "secondary", "tertiary", "unclassified", "track", "residential", "service"}


@dataclass(frozen=True)
class Unit:
    """A street (街道) of the district seat or a town (镇) with its seat."""

    unit_id: str
    name: str
    name_en: str
    x: float                            # seat (towns) or nothing in particular (streets), metres
    y: float
    people: float                       # streets: everyone; towns: the seat only (villages come on top)
    central: bool = False


# Streets: the core split in 3 columns (at x = 14, 16 km) × 2 rows (at the avenue, y = 17 km).
STREETS = [
    Unit("J01", "青石街道", "Qingshi Street", 0, 0, 45_000),
    Unit("J02", "棠梨街道", "Tangli Street", 0, 0, 66_000),
    Unit("J03", "云锦街道", "Yunjin Street", 0, 0, 47_000),
    Unit("J04", "玉堂街道", "Yutang Street", 0, 0, 43_000),
    Unit("J05", "书院街道", "Shuyuan Street", 0, 0, 58_000),
    Unit("J06", "桂园街道", "Guiyuan Street", 0, 0, 44_000),
]
STREET_X = (12.0 * KM, 14.0 * KM, 16.0 * KM, 18.0 * KM)
STREET_Y = (14.6 * KM, 17.0 * KM, 19.6 * KM)

# Towns: Z01–Z03 are the central towns (sub-centre candidates). Suxi is large and just across the
# river from the seat (and has a town hospital); Maolin is the largest, far south-west on a slow
# county road, so more than 100,000 people are nearer to it than to any hospital; Tuqiao is small,
# remote, in the north-eastern hills at the end of one winding road.
TOWNS = [
    Unit("Z01", "苏溪镇", "Suxi Town", 23.0 * KM, 17.5 * KM, 48_000, True),
    Unit("Z02", "茅林镇", "Maolin Town", 7.0 * KM, 4.4 * KM, 60_000, True),
    Unit("Z03", "土桥镇", "Tuqiao Town", 30.0 * KM, 29.2 * KM, 6_000, True),
    Unit("Z04", "云岭镇", "Yunling Town", 4.2 * KM, 14.2 * KM, 7_000),
    Unit("Z05", "松坪镇", "Songping Town", 8.6 * KM, 27.0 * KM, 8_000),
    Unit("Z06", "梨溪镇", "Lixi Town", 15.6 * KM, 29.0 * KM, 6_500),
    Unit("Z07", "竹坝镇", "Zhuba Town", 16.4 * KM, 6.4 * KM, 7_500),
    Unit("Z08", "枫林镇", "Fenglin Town", 29.6 * KM, 12.6 * KM, 5_500),
    Unit("Z09", "鹿鸣镇", "Luming Town", 25.0 * KM, 6.2 * KM, 6_000),
]
NO_THC_TOWN = "Z08"                     # Fenglin has no township health centre (the rule fails there)
NO_CHC_STREET = "J05"                   # Shuyuan Street has no community health centre
FERRY_HAMLET = (20.5 * KM, 11.4 * KM)   # east bank, reached only by ferry (not drawn)
FERRY_PEOPLE = 56.0
HILL_HAMLETS = 5                        # populated cells more than 1 km from any road
N_VILLAGES = 20


def town(uid: str) -> Unit:
    """The town with this unit id."""
    return next(t for t in TOWNS if t.unit_id == uid)


# ---------------------------------------------------------------- outline and river

def district_outline() -> shapely.Polygon:
    """The district: a smooth blob of 800 km², longer south-west to north-east, with a NE lobe."""
    theta = np.linspace(0.0, 2 * np.pi, 720, endpoint=False)
    lobe = np.angle(np.exp(1j * (theta - np.pi / 4)))
    r = (1.0 + 0.12 * np.cos(2 * (theta - np.pi / 4)) + 0.05 * np.sin(3 * theta + 2.1)
         + 0.03 * np.sin(5 * theta + 0.3) + 0.10 * np.exp(-(lobe / 0.35) ** 2))
    cx, cy = 17.6 * KM, 17.2 * KM
    unit = shapely.Polygon(np.c_[np.cos(theta) * r, np.sin(theta) * r])
    scale = np.sqrt(DISTRICT_AREA_M2 / unit.area)
    return shapely.Polygon(np.round(np.c_[cx + np.cos(theta) * r * scale, cy + np.sin(theta) * r * scale]))


_RIVER = CubicSpline([-2.0, 4.0, 9.0, 13.0, 17.0, 21.0, 25.0, 30.0, 38.0],
                     [23.0, 21.6, 20.7, 19.4, 19.0, 19.4, 20.6, 21.4, 20.2])


def river_x(y):
    """x (metres) of the river's centre line at y (metres); it flows north to south."""
    return _RIVER(np.asarray(y) / KM) * KM


def river_line() -> shapely.LineString:
    """The river's centre line across the whole box, a node every 100 m."""
    ys = np.arange(BOX, -1.0, -CELL)
    return shapely.LineString(np.c_[np.round(river_x(ys), 1), ys])


def river_polygon() -> shapely.Polygon:
    """The water surface: the centre line buffered by the half width."""
    return river_line().buffer(RIVER_HALF_WIDTH, quad_segs=4)


def west_of_river(x, y) -> np.ndarray:
    """True for points west of the river's centre line."""
    return np.asarray(x) < river_x(y)


# ---------------------------------------------------------------- OSM writer

class OsmBuilder:
    """Collects nodes (metres) and ways; nodes closer than 0.1 m are merged into one."""

    def __init__(self) -> None:
        self.xy: list[tuple[float, float]] = []
        self._index: dict[tuple[int, int], int] = {}
        self.ways: list[tuple[list[int], dict[str, str]]] = []

    def node(self, x: float, y: float) -> int:
        """The id of the node at (x, y), created if new."""
        key = (int(round(x * 10)), int(round(y * 10)))
        if key not in self._index:
            self.xy.append((float(x), float(y)))
            self._index[key] = len(self.xy)
        return self._index[key]

    def way(self, points, tags: dict[str, str]) -> None:
        """Add a way through the points (consecutive duplicates dropped)."""
        refs = [self.node(float(x), float(y)) for x, y in points]
        refs = [r for i, r in enumerate(refs) if i == 0 or r != refs[i - 1]]
        if len(refs) >= 2:
            self.ways.append((refs, dict(tags)))

    def line(self, k: int) -> shapely.LineString:
        """Way k (0-based) as a line in metres."""
        return shapely.LineString([self.xy[r - 1] for r in self.ways[k][0]])

    def to_xml(self) -> str:
        """OSM XML 0.6 text (WGS84, 7 decimals)."""
        xy = np.array(self.xy)
        lon, lat = to_lonlat(xy[:, 0], xy[:, 1])
        out = ['<?xml version="1.0" encoding="UTF-8"?>',
               '<osm version="0.6" generator="coverage-planner demo_region">']
        out += [f'  <node id="{i}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>'
                for i, (lo, la) in enumerate(zip(lon, lat), start=1)]
        for k, (refs, tags) in enumerate(self.ways, start=1):
            out.append(f'  <way id="{k}" version="1">')
            out += [f'    <nd ref="{r}"/>' for r in refs]
            out += [f'    <tag k="{key}" v="{_xml_escape(val)}"/>' for key, val in tags.items()]
            out.append("  </way>")
        out.append("</osm>")
        return "\n".join(out) + "\n"


def _xml_escape(text: str) -> str:
    return (str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace(">", "&gt;"))


_TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Box metres → (lon, lat) in WGS84."""
    lon, lat = _TO_LONLAT.transform(np.asarray(x, dtype=float) + X0, np.asarray(y, dtype=float) + Y0)
    return np.asarray(lon), np.asarray(lat)


# ---------------------------------------------------------------- road shapes

def winding(a, b, rng: np.random.Generator, amplitude: float, step: float = 70.0) -> list[tuple[float, float]]:
    """A road from a to b that winds over the hills: smooth sideways waves plus small bends."""
    (ax, ay), (bx, by) = a, b
    length = float(np.hypot(bx - ax, by - ay))
    n = max(2, int(np.ceil(length / step)))
    t = np.linspace(0.0, 1.0, n + 1)
    nx, ny = -(by - ay) / length, (bx - ax) / length
    phase = rng.uniform(0, 2 * np.pi, 3)
    waves = rng.integers(1, 4, 2)
    bends = max(2, int(length / 700.0))
    off = amplitude * np.sin(np.pi * t) * (np.sin(waves[0] * np.pi * t + phase[0])
                                           + 0.45 * np.sin(waves[1] * 2 * np.pi * t + phase[1]))
    off += min(60.0, 0.15 * amplitude) * np.sin(np.pi * t) ** 0.5 * np.sin(bends * 2 * np.pi * t + phase[2])
    x, y = ax + (bx - ax) * t + nx * off, ay + (by - ay) * t + ny * off
    return list(zip(np.round(x, 1), np.round(y, 1)))


def add_road(osm: OsmBuilder, points, tags: dict[str, str], water: shapely.Polygon,
             bridge_name: tuple[str, str] | None = None) -> None:
    """Add a road; where it crosses the river, the crossing becomes a straight bridge way.

    Segments that come within 60 m of the water are cut into 50 m pieces, points within 60 m of
    the water are dropped, and the last point before and the first after are joined by a
    ``bridge=yes``, ``layer=1`` way. Roads without ``bridge_name`` must not come near the water.
    """
    shore = water.buffer(60.0)
    pts = _densify_near(np.asarray(points, dtype=float), shore)
    near = shapely.contains_xy(shore, pts[:, 0], pts[:, 1])
    if not near.any():
        osm.way(pts, tags)
        return
    if bridge_name is None:
        raise ValueError(f"road {tags.get('name:en')} crosses the river without a bridge")
    runs = np.flatnonzero(np.diff(np.r_[0, near.astype(int), 0]))
    start = 0
    for first, end in zip(runs[::2], runs[1::2]):
        osm.way(pts[start:first], tags)
        osm.way([pts[first - 1], pts[end]], {**tags, "bridge": "yes", "layer": "1",
                                              "name": bridge_name[0], "name:en": bridge_name[1]})
        start = end
    osm.way(pts[start:], tags)


def _densify_near(pts: np.ndarray, area: shapely.Polygon, step: float = 50.0) -> np.ndarray:
    """The polyline with extra points every `step` metres on the segments that touch `area`."""
    segments = shapely.linestrings(np.stack([pts[:-1], pts[1:]], axis=1))
    touch = shapely.intersects(segments, area)
    out = [pts[:1]]
    for k in range(len(pts) - 1):
        a, b = pts[k], pts[k + 1]
        if touch[k]:
            n = max(1, int(np.ceil(np.hypot(*(b - a)) / step)))
            t = np.arange(1, n + 1)[:, None] / n
            out.append(np.round(a + (b - a) * t, 1))
        else:
            out.append(b[None, :])
    return np.concatenate(out)


# ---------------------------------------------------------------- the road network

def grid_lines(x0: float, y0: float, x1: float, y1: float, step: float):
    """Coordinates of the grid lines of a box (xs, ys)."""
    return np.arange(x0, x1 + 1.0, step), np.arange(y0, y1 + 1.0, step)


def build_core_grid(osm: OsmBuilder) -> None:
    """The district seat's street grid: avenues, secondary roads, residential and one-way streets."""
    xs, ys = grid_lines(*CORE, BLOCK)
    for j, y in enumerate(ys):
        if np.isclose(y, CORE_CENTRE[1]):
            tags = {"highway": "primary", "maxspeed": "60", "name": "青衣大道", "name:en": "Qingyi Avenue"}
        elif j % 5 == 0:
            tags = {"highway": "secondary", "maxspeed": "40", "name": f"横{j + 1}路", "name:en": f"Heng {j + 1} Road"}
        else:
            tags = {"highway": "residential", "name": f"横{j + 1}街", "name:en": f"Heng {j + 1} Street"}
        pts = [(x, y) for x in xs]
        if tags["highway"] == "residential" and j % 4 == 1:
            tags["oneway"] = "yes"
            pts = pts if j % 8 == 1 else pts[::-1]
        osm.way(pts, tags)
    for i, x in enumerate(xs):
        if np.isclose(x, CORE_CENTRE[0]):
            tags = {"highway": "primary", "maxspeed": "60", "name": "人民路", "name:en": "Renmin Road"}
        elif i % 5 == 0:
            tags = {"highway": "secondary", "maxspeed": "40", "name": f"纵{i + 1}路", "name:en": f"Zong {i + 1} Road"}
        else:
            tags = {"highway": "residential", "name": f"纵{i + 1}街", "name:en": f"Zong {i + 1} Street"}
        pts = [(x, y) for y in ys]
        if tags["highway"] == "residential" and i % 4 == 3:
            tags["oneway"] = "yes"
            pts = pts if i % 8 == 3 else pts[::-1]
        osm.way(pts, tags)


def build_town_streets(osm: OsmBuilder) -> None:
    """Suxi and Maolin get small street grids; every other town one street through its seat."""
    suxi, maolin = town("Z01"), town("Z02")
    for t, half_w, half_h, step in ((suxi, 1250.0, 1000.0, 250.0), (maolin, 600.0, 600.0, 200.0)):
        xs, ys = grid_lines(t.x - half_w, t.y - half_h, t.x + half_w, t.y + half_h, step)
        for j, y in enumerate(ys):
            main = np.isclose(y, t.y)
            osm.way([(x, y) for x in xs], {"highway": "secondary" if main else "residential",
                                           **({"maxspeed": "40"} if main else {}),
                                           "name": f"{t.name[:2]}横{j + 1}街", "name:en": f"{t.name_en.split()[0]} Heng {j + 1} Street"})
        for i, x in enumerate(xs):
            osm.way([(x, y) for y in ys], {"highway": "residential", "name": f"{t.name[:2]}纵{i + 1}街",
                                           "name:en": f"{t.name_en.split()[0]} Zong {i + 1} Street"})
    for t in TOWNS[2:]:
        osm.way([(t.x - 500.0, t.y - 150.0), (t.x, t.y), (t.x + 500.0, t.y + 150.0)],
                {"highway": "residential", "name": f"{t.name[:2]}正街", "name:en": f"{t.name_en.split()[0]} Main Street"})


def motorway_centre(x):
    """y of the expressway's centre line at x (it runs west to east north of the seat)."""
    x = np.asarray(x) / KM
    return (21.6 - 0.05 * x + 0.0105 * np.clip(x - 19.0, 0, None) ** 2) * KM


def carriageway(xs: np.ndarray, side: float) -> np.ndarray:
    """Points of one carriageway, offset `side` metres to the left of west→east travel."""
    y = motorway_centre(xs)
    dy = (motorway_centre(xs + 1.0) - motorway_centre(xs - 1.0)) / 2.0
    norm = np.hypot(1.0, dy)
    return np.round(np.c_[xs - side * dy / norm, y + side / norm], 1)


INTERCHANGES = ((15.0 * KM, "青衣北"), (23.0 * KM, "苏溪"))


def build_expressway(osm: OsmBuilder, water) -> None:
    """Two one-way carriageways (100 km/h) with diamond interchanges north of the seat and of Suxi."""
    xs = np.arange(0.0, BOX + 1.0, 250.0)
    ramp_x = [ix + d for ix, _ in INTERCHANGES for d in (-600.0, 600.0)]
    xs = np.unique(np.r_[xs, ramp_x])
    tags = {"highway": "motorway", "oneway": "yes", "maxspeed": "100", "name": "青云高速", "name:en": "Qingyun Expressway"}
    east, west = carriageway(xs, -15.0), carriageway(xs, 15.0)
    add_road(osm, east, tags, water, ("青云高速青溪河大桥", "Qingyun Expressway Qingxi River Bridge"))
    add_road(osm, west[::-1], tags, water, ("青云高速青溪河大桥", "Qingyun Expressway Qingxi River Bridge"))
    link = {"highway": "motorway_link", "oneway": "yes", "maxspeed": "40"}
    for ix, name in INTERCHANGES:
        ym = float(motorway_centre(ix))
        south, north = (ix, ym - 200.0), (ix, ym + 200.0)
        e = {d: tuple(carriageway(np.array([ix + d]), -15.0)[0]) for d in (-600.0, 600.0)}
        w = {d: tuple(carriageway(np.array([ix + d]), 15.0)[0]) for d in (-600.0, 600.0)}
        named = {**link, "name": f"{name}互通", "name:en": f"{name} interchange"}
        osm.way([e[-600.0], (ix - 250.0, ym - 120.0), south], named)     # eastbound off
        osm.way([south, (ix + 250.0, ym - 120.0), e[600.0]], named)      # eastbound on
        osm.way([w[600.0], (ix + 250.0, ym + 120.0), north], named)      # westbound off
        osm.way([north, (ix - 250.0, ym + 120.0), w[-600.0]], named)     # westbound on


def through_interchange(x: float) -> list[tuple[float, float]]:
    """The two points where a north-south road meets the ramps of the interchange at x."""
    ym = float(motorway_centre(x))
    return [(x, ym - 200.0), (x, ym + 200.0)]


def build_county_roads(osm: OsmBuilder, water, rng: np.random.Generator) -> None:
    """Trunk, primary, county (tertiary) roads and the south bridge between the towns."""
    x0, y0, x1, y1 = CORE
    t = {u.unit_id: (u.x, u.y) for u in TOWNS}
    suxi_west = (t["Z01"][0] - 1250.0, CORE_CENTRE[1])
    # Qingyi Avenue continues over the main bridge to Suxi
    add_road(osm, [(x1, CORE_CENTRE[1]), (x1 + 1500.0, CORE_CENTRE[1]), (x1 + 2600.0, CORE_CENTRE[1] + 20.0),
                   suxi_west],
             {"highway": "primary", "maxspeed": "60", "name": "苏溪大道", "name:en": "Suxi Avenue"},
             water, ("青溪河大桥", "Qingxi River Bridge"))
    # the trunk road leaves the seat to the north-west through Songping
    trunk = {"highway": "trunk", "maxspeed": "80", "name": "青松公路", "name:en": "Qingsong Highway"}
    add_road(osm, winding((x0, y1), t["Z05"], rng, 250.0, 100.0), trunk, water)
    add_road(osm, winding(t["Z05"], (4.4 * KM, 33.0 * KM), rng, 200.0, 100.0), trunk, water)
    # the mountain road to Maolin: the only direct link from the seat, posted 30 km/h over the pass
    add_road(osm, winding((x0, y0), t["Z02"], rng, 650.0),
             {"highway": "tertiary", "maxspeed": "30", "name": "茅林路", "name:en": "Maolin Road"}, water)
    roads = [  # (from, to, amplitude m, name, name_en): county roads (tertiary)
        ((x0, 16.6 * KM), t["Z04"], 450.0, "云岭路", "Yunling Road"),
        (t["Z04"], t["Z02"], 600.0, "云茅路", "Yunling–Maolin Road"),
        ((16.0 * KM, y0), t["Z07"], 450.0, "竹坝路", "Zhuba Road"),
        (t["Z07"], t["Z02"], 550.0, "竹茅路", "Zhuba–Maolin Road"),
        (t["Z04"], t["Z05"], 600.0, "云松路", "Yunling–Songping Road"),
        (t["Z06"], t["Z05"], 500.0, "梨松路", "Lixi–Songping Road"),
        ((t["Z01"][0] + 1250.0, t["Z01"][1]), t["Z08"], 550.0, "枫林路", "Fenglin Road"),
        (t["Z08"], t["Z09"], 550.0, "枫鹿路", "Fenglin–Luming Road"),
    ]
    for a, b, amp, name, name_en in roads:
        add_road(osm, winding(a, b, rng, amp), {"highway": "tertiary", "name": name, "name:en": name_en}, water)
    # Renmin Road leaves the seat to the north, through the expressway interchange, to Lixi
    a, b = through_interchange(CORE_CENTRE[0])
    tags = {"highway": "tertiary", "name": "梨溪路", "name:en": "Lixi Road"}
    osm.way([(CORE_CENTRE[0], y1), a, b], {**tags, "highway": "secondary", "maxspeed": "40"})
    add_road(osm, winding(b, t["Z06"], rng, 450.0), tags, water)
    # Suxi's main north-south street goes to the interchange and on, winding, to Tuqiao
    a, b = through_interchange(t["Z01"][0])
    tags = {"highway": "tertiary", "maxspeed": "30", "name": "土桥路", "name:en": "Tuqiao Road"}
    osm.way([(t["Z01"][0], t["Z01"][1] + 1000.0), a, b], {**tags, "highway": "secondary", "maxspeed": "40"})
    add_road(osm, winding(b, t["Z03"], rng, 1000.0), tags, water)
    # the southern crossing: Zhuba – south bridge – Luming
    add_road(osm, _bridge_route(t["Z07"], t["Z09"], 6.6 * KM, rng),
             {"highway": "tertiary", "name": "竹鹿路", "name:en": "Zhuba–Luming Road"},
             water, ("竹鹿大桥", "Zhuba–Luming Bridge"))


def _bridge_route(a, b, y_cross: float, rng) -> list[tuple[float, float]]:
    """A winding road from a (west bank) to b (east bank) that crosses the river square at y_cross."""
    xr = float(river_x(y_cross))
    west_end, east_end = (xr - 400.0, y_cross), (xr + 400.0, y_cross)
    mid = [(xr - 400.0 + 100.0 * k, y_cross) for k in range(9)]
    return winding(a, west_end, rng, 300.0)[:-1] + mid + winding(east_end, b, rng, 300.0)[1:]


def service_spur(osm: OsmBuilder, a, b, name: str, name_en: str) -> None:
    """A short service road (hospital or station access)."""
    osm.way([a, b], {"highway": "service", "name": name, "name:en": name_en})


# ---------------------------------------------------------------- villages

@dataclass(frozen=True)
class Village:
    """A village (村) with its people and the road that links it to the network."""

    name: str
    name_en: str
    x: float
    y: float
    people: float


VILLAGE_NAMES = [
    ("青杠村", "Qinggang"), ("桃坪村", "Taoping"), ("柳湾村", "Liuwan"), ("黄桷村", "Huangjue"),
    ("石门村", "Shimen"), ("杉木村", "Shanmu"), ("龙潭村", "Longtan"), ("高峰村", "Gaofeng"),
    ("大坪村", "Daping"), ("水井村", "Shuijing"), ("双河村", "Shuanghe"), ("红岩村", "Hongyan"),
    ("马鞍村", "Ma'an"), ("金竹村", "Jinzhu"), ("白果村", "Baiguo"), ("茶园村", "Chayuan"),
    ("新桥村", "Xinqiao"), ("楠木村", "Nanmu"), ("凤凰村", "Fenghuang"), ("长岭村", "Changling"),
    ("回龙村", "Huilong"), ("碾房村", "Nianfang"),
]


def _network_nodes(osm: OsmBuilder) -> np.ndarray:
    """Nodes of the rural road network (trunk, tertiary, unclassified) as an (n, 2) array."""
    keep = {"trunk", "tertiary", "unclassified", "track"}
    ids = sorted({r for refs, tags in osm.ways if tags.get("highway") in keep and "bridge" not in tags for r in refs})
    return np.array([osm.xy[i - 1] for i in ids])


def build_villages(osm: OsmBuilder, district, water, rng: np.random.Generator) -> list[Village]:
    """About twenty villages, each on a winding village road to the nearest rural road on its bank."""
    x0, y0, x1, y1 = CORE
    inner = district.buffer(-1200.0)
    keep_out = shapely.union_all([shapely.box(x0, y0, x1, y1).buffer(2000.0), water.buffer(900.0),
                                  shapely.Point(FERRY_HAMLET).buffer(2500.0)])
    seats = np.array([(t.x, t.y) for t in TOWNS])
    villages: list[Village] = []
    tries = 0
    while len(villages) < N_VILLAGES:
        if tries == 5000:
            raise RuntimeError(f"placed only {len(villages)} of {N_VILLAGES} villages")
        tries += 1
        x, y = rng.uniform(0.0, BOX, 2).round(-1)
        p = shapely.Point(x, y)
        if not inner.contains(p) or keep_out.contains(p):
            continue
        if np.hypot(*(seats - (x, y)).T).min() < 2500.0 or any(np.hypot(v.x - x, v.y - y) < 2300.0 for v in villages):
            continue
        nodes = _network_nodes(osm)
        same_bank = west_of_river(nodes[:, 0], nodes[:, 1]) == west_of_river(x, y)
        nodes = nodes[same_bank]
        target = nodes[np.argmin(np.hypot(*(nodes - (x, y)).T))]
        path = winding((x, y), tuple(target), rng, 300.0)
        line = shapely.LineString(path)
        if line.intersects(water.buffer(100.0)) or not district.contains(line) \
                or line.distance(shapely.Point(FERRY_HAMLET)) < 1800.0:
            continue
        k = len(villages)
        name, name_en = VILLAGE_NAMES[k]
        villages.append(Village(name, f"{name_en} Village", float(x), float(y), float(rng.integers(900, 2600))))
        cls = "track" if k % 4 == 3 else "unclassified"
        osm.way(path, {"highway": cls, "name": f"{name}道", "name:en": f"{name_en} Village Road"})
        osm.way([(x - 300.0, y - 60.0), (x, y), (x + 300.0, y + 60.0)],
                {"highway": "residential", "name": f"{name}街", "name:en": f"{name_en} Street"})
    return villages


def build_extras(osm: OsmBuilder) -> None:
    """The river, one railway and one footway (both for the loader to drop), the ferry hamlet's lane."""
    line = river_line()
    osm.way(list(line.coords), {"waterway": "river", "name": "青溪河", "name:en": "Qingxi River"})
    xs = np.arange(0.0, BOX + 1.0, 500.0)
    ys = 12.4 * KM + 500.0 * np.sin(xs / (7.0 * KM))
    osm.way(list(zip(xs, np.round(ys, 1))), {"railway": "rail", "name": "青江铁路", "name:en": "Qingjiang Railway"})
    # a park path across a block: a shortcut if the loader kept it
    osm.way([(14.4 * KM, 18.0 * KM), (14.6 * KM, 18.15 * KM), (14.8 * KM, 18.4 * KM)],
            {"highway": "footway", "name": "书院公园步道", "name:en": "Shuyuan Park Path"})
    fx, fy = FERRY_HAMLET
    osm.way([(fx - 350.0, fy), (fx, fy), (fx + 200.0, fy + 150.0)],
            {"highway": "residential", "name": "渡口村路", "name:en": "Dukou Hamlet Lane"})


# ---------------------------------------------------------------- population

def cell_centres() -> tuple[np.ndarray, np.ndarray]:
    """Cell-centre coordinates (rows north to south)."""
    n = int(BOX / CELL)
    centres = (np.arange(n) + 0.5) * CELL
    return np.meshgrid(centres, BOX - centres)


def road_distance(osm: OsmBuilder, x: np.ndarray, y: np.ndarray, classes: set[str] | None) -> np.ndarray:
    """Distance (m) from each point to the nearest highway way of the given classes (None: all)."""
    lines = [osm.line(k) for k, (_, tags) in enumerate(osm.ways)
             if "highway" in tags and tags["highway"] != "footway" and (classes is None or tags["highway"] in classes)]
    tree = shapely.STRtree(lines)
    _, dist = tree.query_nearest(shapely.points(x.ravel(), y.ravel()), return_distance=True, all_matches=False)
    return dist.reshape(x.shape)


def _blob(x, y, cx: float, cy: float, sigma: float) -> np.ndarray:
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2.0 * sigma ** 2))


def _spread(weight: np.ndarray, people: float) -> np.ndarray:
    total = weight.sum()
    if total <= 0:
        raise ValueError("no cell to put people on")
    return weight * (people / total)


def build_population(osm: OsmBuilder, villages: list[Village], district, water,
                     rng: np.random.Generator) -> np.ndarray:
    """People per cell (float32, rows north to south); nodata on the river and outside the district."""
    x, y = cell_centres()
    inside = shapely.contains_xy(district, x, y)
    wet = shapely.contains_xy(water, x, y)
    land = inside & ~wet
    cx0, cy0, cx1, cy1 = CORE
    core = (x > cx0) & (x < cx1) & (y > cy0) & (y < cy1)
    west = west_of_river(x, y)
    texture = rng.lognormal(0.0, 0.25, x.shape)
    pop = np.zeros(x.shape)
    density = (0.35 + _blob(x, y, *CORE_CENTRE, 2300.0)) * texture
    for k, street in enumerate(STREETS):
        i, j = k % 3, k // 3
        cells = core & (x > STREET_X[i]) & (x < STREET_X[i + 1]) & (y > STREET_Y[j]) & (y < STREET_Y[j + 1])
        pop += _spread(density * cells, street.people)
    local = road_distance(osm, x, y, LOCAL_ROADS)
    ferry_cells = np.hypot(x - FERRY_HAMLET[0], y - FERRY_HAMLET[1]) < 1500.0
    rural = land & ~core & ~ferry_cells & (local < 800.0)      # people live along the roads
    for t in TOWNS:
        sigma = 300.0 + 3.5 * np.sqrt(t.people)
        pop += _spread(_blob(x, y, t.x, t.y, sigma) * texture * rural * (west == west_of_river(t.x, t.y)), t.people)
    for v in villages:
        pop += _spread(_blob(x, y, v.x, v.y, 220.0) * texture * rural, v.people)
    farm = np.exp(-local / 300.0) * rural * rng.gamma(2.0, 0.5, x.shape)
    pop += _spread(farm, DISPERSED_PEOPLE)
    pop = np.round(pop, 1)
    hamlet = (np.abs(x - FERRY_HAMLET[0]) < CELL) & (np.abs(y - FERRY_HAMLET[1]) < CELL) & land   # 2 × 2 cells
    pop += _spread(hamlet.astype(float), FERRY_PEOPLE)
    pop += hill_hamlets(osm, x, y, land & ~core, rng)
    pop[~land] = NODATA
    return pop.astype("float32")


def hill_hamlets(osm: OsmBuilder, x, y, allowed, rng: np.random.Generator) -> np.ndarray:
    """A few hamlets of 15–40 people in single cells more than 1.3 km from any road."""
    far = road_distance(osm, x, y, None)
    ferry = np.hypot(x - FERRY_HAMLET[0], y - FERRY_HAMLET[1]) < 2500.0
    candidates = np.flatnonzero((far > 1300.0) & allowed & ~ferry)
    out = np.zeros(x.shape)
    chosen: list[int] = []
    for c in rng.permutation(candidates):
        if all(np.hypot(x.flat[c] - x.flat[d], y.flat[c] - y.flat[d]) > 3000.0 for d in chosen):
            chosen.append(int(c))
            out.flat[c] = float(rng.integers(15, 41))
        if len(chosen) == HILL_HAMLETS:
            break
    return out


# ---------------------------------------------------------------- units

def build_units(district) -> list[tuple[Unit, str, str, bool, shapely.Polygon]]:
    """(unit, kind, zone, county_seat, polygon): six street rectangles; towns are the Voronoi cells
    of their seats on their own bank of the river over the rest of the district."""
    out = []
    for k, street in enumerate(STREETS):
        i, j = k % 3, k // 3
        out.append((street, "street", "urban", True,
                    shapely.box(STREET_X[i], STREET_Y[j], STREET_X[i + 1], STREET_Y[j + 1])))
    rest = district.difference(shapely.box(*CORE))
    halves = shapely.ops.split(rest, river_line()).geoms
    banks = {True: [], False: []}
    for part in halves:
        c = part.representative_point()
        banks[bool(west_of_river(c.x, c.y))].append(part)
    for west, parts in banks.items():
        bank = shapely.union_all(parts)
        towns = [t for t in TOWNS if bool(west_of_river(t.x, t.y)) == west]
        cells = shapely.voronoi_polygons(shapely.MultiPoint([(t.x, t.y) for t in towns]),
                                         extend_to=shapely.box(-BOX, -BOX, 2 * BOX, 2 * BOX))
        for t in towns:
            cell = next(c for c in cells.geoms if c.contains(shapely.Point(t.x, t.y)))
            out.append((t, "town", "rural", False, cell.intersection(bank)))
    broken = [u.unit_id for u, *_, poly in out if poly.geom_type != "Polygon"
              or (u.x and not poly.contains(shapely.Point(u.x, u.y)))]
    if broken:
        raise ValueError(f"units in several pieces or without their seat: {broken}")
    out = [(*u[:4], poly) for u, poly in zip(out, shared_vertices([u[4] for u in out]))]
    order = [u.unit_id for u in STREETS + TOWNS]
    return sorted(out, key=lambda u: order.index(u[0].unit_id))


def shared_vertices(polygons: list[shapely.Polygon]) -> list[shapely.Polygon]:
    """Each polygon with the other polygons' vertices that lie on its edges inserted (within 1 mm).

    Neighbours then share identical vertex lists along their common border, so the border stays
    common after reprojection to WGS84 (a long straight edge in UTM bends by millimetres).
    """
    vertices = shapely.MultiPoint(np.unique(np.concatenate([shapely.get_coordinates(p) for p in polygons]), axis=0))
    return [shapely.snap(p, vertices, 0.001) for p in polygons]


# ---------------------------------------------------------------- facilities

FIELDS = ("id", "name", "name_en", "type", "ambulances", "negative_pressure_ambulances", "beds", "doctors",
          "nurses", "gps", "turnout_min", "unit_id")
# Staff and negative-pressure ambulances per facility: (doctors 执业（助理）医师, nurses 注册护士,
# gps 全科医生, negative-pressure ambulances). Plausible for a district of ~600,000: doctors 2.9 and
# nurses 3.5 per 1,000 (below Chongqing's 3.6 and 4.7, above Ganzhou's 2.6 and 3.1), GPs 4.1 per
# 10,000 (above Chongqing's 4), 8 of the EMS stations' 23 ambulances negative-pressure (35%, below
# Zhejiang's 40%).
STAFF = {
    "H01": (600, 820, 12, 1), "H02": (240, 290, 4, 0), "H03": (150, 210, 2, 0), "H04": (130, 170, 8, 0),
    "E01": (26, 30, 0, 4), "E02": (12, 14, 0, 2), "E03": (10, 11, 0, 1), "E04": (8, 9, 0, 1), "E05": (8, 9, 0, 0),
}
STAFF_BY_TYPE = {"central_thc": (45, 48, 14, 0), "thc": (18, 17, 6, 0), "chc": (48, 52, 24, 0),
                 "chs": (4, 4, 3, 0), "village_clinic": (1, 0, 0, 0)}
# Community health stations (社区卫生服务站) per street: one per 20,000 people (Chongqing 001 L566)
# everywhere but 玉堂街道 Yutang (J04: 43,000 people, 2 stations where 3 are needed).
CHS_PER_STREET = {"J01": 3, "J02": 4, "J03": 3, "J04": 2, "J05": 3, "J06": 3}
# Villages without a village clinic (村卫生室): the per-village rule fails there.
NO_CLINIC_VILLAGES = ("石门村", "红岩村", "新桥村")
# A small administrative village (under 800 people: 001 L568 lets it share a neighbour's clinic) on
# the road of the village named second; its people are farmsteads along that road (already in the
# raster's dispersed population), so the raster does not change.
SMALL_VILLAGE = ("回龙村", "Huilong", "凤凰村", 640)


def build_facilities(osm: OsmBuilder) -> list[dict]:
    """Hospitals, township and community health centres and EMS stations (coordinates in metres).

    Each stands a few tens of metres from a road node; hospitals and the district emergency
    centre get a short service road from that node to their door.
    """
    suxi, maolin = town("Z01"), town("Z02")
    rows = [  # id, name, name_en, type, ambulances, beds, turnout_min, unit, road node, offset, service road
        ("H01", "青衣区人民医院", "Qingyi District People's Hospital", "hospital;general", 3, 1200, 3.0, "J05",
         (15.2 * KM, 17.0 * KM), (70.0, 70.0), True),
        ("H02", "青衣区中医医院", "Qingyi District TCM Hospital", "hospital;tcm", 1, 500, 3.0, "J01",
         (13.2 * KM, 15.8 * KM), (70.0, 70.0), True),
        ("H03", "青衣区妇幼保健院", "Qingyi District Maternal and Child Health Hospital", "hospital;mch", 1, 300,
         3.0, "J06", (16.8 * KM, 18.4 * KM), (70.0, 70.0), True),
        ("H04", "苏溪镇人民医院", "Suxi Town People's Hospital", "hospital;general", 2, 350, 3.0, "Z01",
         (suxi.x - 250.0, suxi.y), (80.0, 80.0), True),
        ("E01", "青衣区急救中心", "Qingyi District Emergency Centre", "ems", 8, 0, 2.0, "J04",
         (13.6 * KM, 17.0 * KM), (60.0, 60.0), True),
        ("E02", "东城急救站", "East City EMS Station", "ems", 5, 0, 2.5, "J03", (16.5 * KM, 16.8 * KM), (0.0, 30.0), False),
        ("E03", "苏溪急救站", "Suxi EMS Station", "ems", 4, 0, 2.5, "Z01", (suxi.x + 125.0, suxi.y), (0.0, 30.0), False),
        ("E04", "茅林急救站", "Maolin EMS Station", "ems", 3, 0, 3.0, "Z02", (maolin.x + 100.0, maolin.y), (0.0, -30.0), False),
        ("E05", "松坪急救站", "Songping EMS Station", "ems", 3, 0, 3.0, "Z05",
         (town("Z05").x, town("Z05").y), (30.0, 30.0), False),
    ]
    for t in TOWNS:
        if t.unit_id == NO_THC_TOWN:
            continue
        kind, kind_en = ("中心卫生院", "Central Health Centre") if t.central else ("卫生院", "Health Centre")
        rows.append((f"T{t.unit_id[1:]}", f"{t.name}{kind}", f"{t.name_en} {kind_en}", "thc", 1,
                     120 if t.central else 40, 3.0, t.unit_id, (t.x, t.y), (-20.0, 30.0), False))
    for k, s in enumerate(STREETS):
        if s.unit_id == NO_CHC_STREET:
            continue
        i, j = k % 3, k // 3
        node = ((STREET_X[i] + STREET_X[i + 1]) / 2 + 100.0, STREET_Y[j] + 6 * BLOCK)
        rows.append((f"C{s.unit_id[1:]}", f"{s.name}社区卫生服务中心", f"{s.name_en} Community Health Centre",
                     "chc", 0, 30, 3.0, s.unit_id, node, (0.0, 30.0), False))
    out = []
    for *values, (nx, ny), (dx, dy), spur in rows:
        x, y = nx + dx, ny + dy
        if spur:
            service_spur(osm, (nx, ny), (x, y), f"{values[1]}通道", f"{values[2]} access")
        out.append(_facility(*values, x=x, y=y))
    return out


def _facility(fid: str, name: str, name_en: str, ftype: str, ambulances: int, beds: int, turnout: float,
              unit_id: str, x: float, y: float) -> dict:
    """One facility row with its staff (:data:`STAFF`, else by type) in the order of :data:`FIELDS`."""
    kind = "central_thc" if ftype == "thc" and beds >= 120 else ftype
    doctors, nurses, gps, negative = STAFF.get(fid) or STAFF_BY_TYPE[kind]
    values = (fid, name, name_en, ftype, ambulances, negative, beds, doctors, nurses, gps, turnout, unit_id)
    return {**dict(zip(FIELDS, values)), "x": float(x), "y": float(y)}


def small_village(osm: OsmBuilder, villages: list[Village]) -> Village:
    """:data:`SMALL_VILLAGE`: at 55% of the way along its neighbour's village road, from the village."""
    name, name_en, neighbour, people = SMALL_VILLAGE
    (refs,) = [refs for refs, tags in osm.ways if tags.get("name") == f"{neighbour}道"]
    road = shapely.LineString([osm.xy[r - 1] for r in refs])
    point = road.interpolate(0.55, normalized=True)
    return Village(name, f"{name_en} Village", round(point.x, -1), round(point.y, -1), float(people))


def build_primary_care(villages: list[Village], units) -> list[dict]:
    """Community health stations in the streets (:data:`CHS_PER_STREET`) and a village clinic in every
    village but :data:`NO_CLINIC_VILLAGES` and the small village; coordinates in metres.

    Stations stand 30 m off a street in the middle of a block (as the community health centres do),
    spread across their street in two rows away from the community health centre; clinics 35 m off their village street. No road is added.
    """
    out = []
    for k, street in enumerate(STREETS):
        i, j = k % 3, k // 3
        n = CHS_PER_STREET[street.unit_id]
        for m in range(n):
            col = min(9, max(1, int(round((m + 0.5) * 10 / n))))
            x, y = STREET_X[i] + col * BLOCK - 100.0, STREET_Y[j] + (3 if m % 2 == 0 else 9) * BLOCK + 15.0
            out.append(_facility(f"S{street.unit_id[1:]}{m + 1}", f"{street.name}第{m + 1}社区卫生服务站",
                                 f"{street.name_en} Community Health Station {m + 1}", "chs", 0, 0, 3.0,
                                 street.unit_id, x, y))
    small = SMALL_VILLAGE[0]
    for k, v in enumerate(villages):
        if v.name in NO_CLINIC_VILLAGES or v.name == small:
            continue
        x, y = v.x + 60.0, v.y + 47.0
        unit = next(u.unit_id for u, *_, poly in units if poly.contains(shapely.Point(x, y)))
        out.append(_facility(f"VC{k + 1:02d}", f"{v.name}卫生室", f"{v.name_en} Clinic", "village_clinic", 0, 0,
                             3.0, unit, x, y))
    return out


# ---------------------------------------------------------------- writers

def _round_ring(coords) -> list[list[float]]:
    xy = np.asarray(coords)
    lon, lat = to_lonlat(xy[:, 0], xy[:, 1])
    return [[round(float(a), 7), round(float(b), 7)] for a, b in zip(lon, lat)]


def _polygon_json(poly) -> dict:
    poly = shapely.geometry.polygon.orient(poly, sign=1.0)     # exterior counter-clockwise (RFC 7946)
    rings = [_round_ring(poly.exterior.coords)] + [_round_ring(r.coords) for r in poly.interiors]
    return {"type": "Polygon", "coordinates": rings}


def feature_collection(features: list[dict]) -> str:
    """GeoJSON text with a CRS84 member, one feature per line, stable key order."""
    head = ('{"type": "FeatureCollection", "crs": {"type": "name", "properties": '
            '{"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}, "features": [\n')
    body = ",\n".join(json.dumps(f, ensure_ascii=False) for f in features)
    return head + body + "\n]}\n"


def write_units(units, path: Path) -> None:
    """units.geojson (WGS84)."""
    feats = []
    for u, kind, zone, seat, poly in units:
        props = {"unit_id": u.unit_id, "name": u.name, "name_en": u.name_en, "kind": kind, "zone": zone,
                 "county_seat": seat, "central_town": u.central}
        feats.append({"type": "Feature", "properties": props, "geometry": _polygon_json(poly)})
    path.write_text(feature_collection(feats), encoding="utf-8")


def write_facilities(facilities: list[dict], geojson: Path, csv: Path) -> None:
    """facilities.geojson and facilities.csv (经度/纬度), both WGS84 with 6 decimals."""
    lon, lat = to_lonlat([f["x"] for f in facilities], [f["y"] for f in facilities])
    feats, rows = [], [",".join(FIELDS) + ",经度,纬度"]
    for f, lo, la in zip(facilities, lon, lat):
        props = {k: f[k] for k in FIELDS}
        lo, la = round(float(lo), 6), round(float(la), 6)
        feats.append({"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [lo, la]}})
        rows.append(",".join(_csv_field(props[k]) for k in FIELDS) + f",{lo:.6f},{la:.6f}")
    geojson.write_text(feature_collection(feats), encoding="utf-8")
    csv.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_villages(villages: list[Village], path: Path) -> None:
    """villages.geojson (WGS84): one point per administrative village (行政村) with its population,
    for per-village rules (a 村卫生室 in every 行政村)."""
    lon, lat = to_lonlat([v.x for v in villages], [v.y for v in villages])
    feats = [{"type": "Feature",
              "properties": {"id": f"V{k + 1:02d}", "name": v.name if v.name.endswith("村") else f"{v.name}村",
                             "name_en": v.name_en, "population": int(round(v.people))},
              "geometry": {"type": "Point", "coordinates": [round(float(lo), 6), round(float(la), 6)]}}
             for k, (v, lo, la) in enumerate(zip(villages, lon, lat))]
    path.write_text(feature_collection(feats), encoding="utf-8")


def _csv_field(value) -> str:
    text = str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def write_population(pop: np.ndarray, path: Path) -> None:
    """population.tif: float32 people per 100 m cell, EPSG:32648, DEFLATE."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=pop.shape[1], height=pop.shape[0], count=1,
                       dtype="float32", crs=CRS, transform=from_origin(X0, Y0 + BOX, CELL, CELL),
                       nodata=NODATA, compress="deflate", predictor=3, tiled=True,
                       blockxsize=256, blockysize=256) as dst:
        dst.write(pop, 1)


def readme_text(s: dict) -> str:
    """The README of the region's folder (coverage_planner/data/demo/)."""
    c, st = s["counts"], s["staff"]
    return (
        "# Demo region 演示区 — 青衣区 Qingyi District (fictional)\n\n"
        "A fictional hilly Sichuan district modelled on Leshan Shizhong (seed 004), generated by "
        "`coverage-planner demo --regenerate` (code: `coverage_planner/generators/demo.py`, deterministic); "
        "every name is invented. A street-grid district seat (6 streets 街道) lies on the west bank of a river "
        "crossed only at a few bridges; nine towns (镇), of which three central towns (中心镇) — 苏溪镇 Suxi "
        "(large, across the river from the seat), 茅林镇 Maolin (the largest, remote, south-west) and 土桥镇 Tuqiao "
        "(small, remote, north-east) — are county sub-centre candidates; about twenty villages on winding "
        "roads; an expressway. Files: `roads.osm` (OSM XML 0.6, WGS84; also a river, one railway and one "
        "footway that the loader drops, and a ferry hamlet cut off from the network), `population.tif` "
        "(people per 100 m cell, EPSG:32648, nodata −9999 on the river and outside the district), "
        "`facilities.geojson` and `facilities.csv` (经度/纬度; WGS84; with `ambulances`, "
        "`negative_pressure_ambulances`, `beds`, `doctors`, `nurses`, `gps` and `turnout_min`; hospital types "
        "say their kind: `hospital;general` 综合医院, `hospital;tcm` 中医院, `hospital;mch` 妇幼保健院), "
        "`units.geojson` (streets and towns with `kind`, `zone`, `county_seat`, `central_town`; WGS84), "
        "`villages.geojson` (行政村 points with `population`; WGS84). "
        "On purpose, not every standard is met: 枫林镇 Fenglin has no township health centre, 书院街道 Shuyuan "
        "no community health centre, 玉堂街道 Yutang two community health stations where 43,000 people need "
        f"three, and {'、'.join(NO_CLINIC_VILLAGES)} no village clinic; {SMALL_VILLAGE[0]} ({SMALL_VILLAGE[3]} "
        f"people) shares {SMALL_VILLAGE[2]}'s clinic. "
        f"Totals: {s['population_total']:,.0f} people on {s['area_km2']:.0f} km² in {s['units']} units; "
        f"{c['hospital']} hospitals, {c['thc']} township health centres, {c['chc']} community health "
        f"centres, {c['chs']} community health stations, {c['village_clinic']} village clinics, {c['ems']} EMS "
        f"stations; {s['ambulances']} ambulances ({st['negative_pressure_ambulances']} negative-pressure); "
        f"{st['doctors']:,} doctors, {st['nurses']:,} nurses, {st['gps']} general practitioners; "
        f"{s['villages']} villages.\n"
    )


# ---------------------------------------------------------------- the whole region

def build_region() -> dict:
    """Every layer of the region in memory (metres in the box), in a fixed order."""
    rng = np.random.default_rng(SEED)
    district, water = district_outline(), river_polygon()
    osm = OsmBuilder()
    build_core_grid(osm)
    build_town_streets(osm)
    build_expressway(osm, water)
    build_county_roads(osm, water, rng)
    villages = build_villages(osm, district, water, rng)
    facilities = build_facilities(osm)
    build_extras(osm)
    population = build_population(osm, villages, district, water, rng)
    units = build_units(district)
    villages = villages + [small_village(osm, villages)]
    facilities = facilities + build_primary_care(villages, units)
    return {"osm": osm, "villages": villages, "facilities": facilities, "population": population,
            "units": units, "district": district}


def summarise(region: dict) -> dict:
    """Totals of the region: population, area, units, facilities by type, ambulances, road ways."""
    pop = region["population"]
    fac = region["facilities"]
    osm = region["osm"]
    return {
        "population_total": round(float(pop[pop != NODATA].sum(dtype="float64")), 1),
        "area_km2": round(sum(u[4].area for u in region["units"]) / 1e6, 1),
        "units": len(region["units"]),
        "villages": len(region["villages"]),
        "counts": {t: sum(f["type"].split(";")[0] == t for f in fac)
                   for t in ("hospital", "thc", "chc", "chs", "village_clinic", "ems")},
        "ambulances": int(sum(f["ambulances"] for f in fac)),
        "staff": {k: int(sum(f[k] for f in fac)) for k in ("doctors", "nurses", "gps", "negative_pressure_ambulances")},
        "road_ways": sum("highway" in tags for _, tags in osm.ways),
        "bridge_ways": sum(tags.get("bridge") == "yes" for _, tags in osm.ways),
        "osm_nodes": len(osm.xy),
    }


def write_region(region: dict, out: Path) -> None:
    """Write the files of the region (roads, population, facilities, units, villages, README) into ``out``."""
    (out / "roads.osm").write_text(region["osm"].to_xml(), encoding="utf-8")
    write_population(region["population"], out / "population.tif")
    write_facilities(region["facilities"], out / "facilities.geojson", out / "facilities.csv")
    write_units(region["units"], out / "units.geojson")
    write_villages(region["villages"], out / "villages.geojson")
    (out / "README.md").write_text(readme_text(summarise(region)), encoding="utf-8")


def generate_demo_region(out_dir: Path = DEMO_DIR) -> dict:
    """(Re)generate the demo region into ``out_dir``, atomically; returns the summary."""
    from ..outputs import check_out_dir

    out_dir = Path(out_dir).resolve()
    check_out_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    region = build_region()
    tmp = out_dir.parent / f".{out_dir.name}.tmp-{os.getpid()}"
    old = out_dir.parent / f".{out_dir.name}.old-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        write_region(region, tmp)
        if out_dir.exists():
            os.replace(out_dir, old)
        os.replace(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return summarise(region)


# ---------------------------------------------------------------- command line
# The ``demo`` sub-command runs coverage_planner.demo (package data only); its parser is in cli/demo.py.
