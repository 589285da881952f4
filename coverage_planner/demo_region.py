"""The embedded demo region: a fictional hilly Sichuan district (modelled on Leshan Shizhong, seed 004).

``coverage-planner demo --regenerate`` writes it into ``geodata/demo/`` in real formats, so the demo
passes through the same loaders as real data:

- ``roads.osm`` — OSM XML with highway classes motorway … track, some ``maxspeed`` and ``oneway``,
  bridges over a river, a railway and a footway (which the loader must drop);
- ``population.tif`` — GeoTIFF, people per 100 m cell, EPSG:32648, nodata on the river;
- ``facilities.geojson`` and ``facilities.csv`` (经度/纬度 columns) — hospitals, township and
  community health centres, EMS stations;
- ``units.geojson`` — streets (街道, urban) and towns (镇, rural) with zone, county-seat and
  central-town flags.

Everything is fictional and deterministic (a fixed random seed; no timestamps).
``coverage-planner demo`` without ``--regenerate`` runs ``scenarios/demo.toml``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

DEMO_DIR = Path(__file__).resolve().parent.parent / "geodata" / "demo"
SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "demo.toml"
CRS = "EPSG:32648"
X0, Y0 = 366000.0, 3256000.0          # south-west corner (UTM 48N), about 103.6°E 29.4°N
SIZE = 28000.0                        # 28 km × 28 km ≈ 784 km²
CELL = 100.0
SEED = 20251124
CORE = (4600.0, 11400.0, 10600.0, 16400.0)   # urban core (x0, y0, x1, y1), metres from the corner

# (id, name, name_en, centre x, centre y, people, is central town)
TOWNS = [
    ("T01", "苏溪镇", "Suxi Town", 15600.0, 14600.0, 62000, True),
    ("T02", "茅林镇", "Maolin Town", 19500.0, 5200.0, 30000, True),
    ("T03", "土桥镇", "Tuqiao Town", 24000.0, 24500.0, 11000, True),
    ("T04", "白马镇", "Baima Town", 3000.0, 4000.0, 7000, False),
    ("T05", "青龙镇", "Qinglong Town", 3500.0, 23500.0, 8000, False),
    ("T06", "石桥镇", "Shiqiao Town", 9000.0, 24500.0, 6000, False),
    ("T07", "临江镇", "Linjiang Town", 9500.0, 5000.0, 9000, False),
    ("T08", "安谷镇", "Angu Town", 24500.0, 12500.0, 7000, False),
    ("T09", "悦来镇", "Yuelai Town", 16500.0, 23000.0, 6000, False),
]
STREETS = [  # the core split 3 × 2; (id, name, name_en)
    ("S01", "青石街道", "Qingshi Street"), ("S02", "嘉州街道", "Jiazhou Street"), ("S03", "凌云街道", "Lingyun Street"),
    ("S04", "碧山街道", "Bishan Street"), ("S05", "柏杨街道", "Baiyang Street"), ("S06", "观澜街道", "Guanlan Street"),
]


def river_x(y: np.ndarray) -> np.ndarray:
    """x of the river's centre line at y (it meanders south to north east of the core)."""
    return 12600.0 + 900.0 * np.sin(2 * np.pi * np.asarray(y) / 17000.0)


class _Osm:
    """Collects OSM nodes and ways in metres and writes them as OSM XML."""

    def __init__(self) -> None:
        self.nodes: list[tuple[float, float]] = []
        self.index: dict[tuple[int, int], int] = {}
        self.ways: list[tuple[list[int], dict]] = []

    def node(self, x: float, y: float) -> int:
        key = (int(round(x * 10)), int(round(y * 10)))   # nodes closer than 0.1 m are the same node
        if key not in self.index:
            self.nodes.append((x, y))
            self.index[key] = len(self.nodes)
        return self.index[key]

    def way(self, points, tags: dict) -> None:
        refs = [self.node(x, y) for x, y in points]
        refs = [r for i, r in enumerate(refs) if i == 0 or r != refs[i - 1]]
        if len(refs) >= 2:
            self.ways.append((refs, tags))

    def write(self, path: Path) -> None:
        xy = np.array(self.nodes)
        lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(X0 + xy[:, 0], Y0 + xy[:, 1])
        lines = ['<?xml version="1.0" encoding="UTF-8"?>',
                 '<osm version="0.6" generator="coverage-planner demo_region">']
        lines += [f'  <node id="{i + 1}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>' for i, (lo, la) in enumerate(zip(lon, lat))]
        for k, (refs, tags) in enumerate(self.ways, start=1):
            lines.append(f'  <way id="{k}" version="1">')
            lines += [f'    <nd ref="{r}"/>' for r in refs]
            lines += [f'    <tag k="{key}" v="{_xml(val)}"/>' for key, val in tags.items()]
            lines.append("  </way>")
        lines.append("</osm>\n")
        path.write_text("\n".join(lines), encoding="utf-8")


def _xml(text: str) -> str:
    return str(text).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _winding(a, b, rng, amplitude: float, step: float = 120.0) -> list[tuple[float, float]]:
    """A road from a to b that winds over the hills (a smooth random sideways wobble)."""
    (ax, ay), (bx, by) = a, b
    length = float(np.hypot(bx - ax, by - ay))
    n = max(2, int(length / step))
    t = np.linspace(0, 1, n + 1)
    nx, ny = -(by - ay) / max(length, 1), (bx - ax) / max(length, 1)
    phase, waves = rng.uniform(0, 2 * np.pi, 2), rng.integers(1, 4, 2)
    off = amplitude * np.sin(np.pi * t) * (np.sin(waves[0] * np.pi * t + phase[0]) + 0.5 * np.sin(waves[1] * 2 * np.pi * t + phase[1]))
    return list(zip(ax + (bx - ax) * t + nx * off, ay + (by - ay) * t + ny * off))


def _crosses_river(p, q) -> bool:
    return (p[0] - river_x(p[1])) * (q[0] - river_x(q[1])) < 0


def _road(osm: _Osm, points, tags: dict) -> None:
    """A road, split where it crosses the river: only the crossing piece is a bridge."""
    pts = list(points)
    start = 0
    for i in range(len(pts) - 1):
        if _crosses_river(pts[i], pts[i + 1]):
            osm.way(pts[start:i + 1], tags)
            osm.way([pts[i], pts[i + 1]], {**tags, "bridge": "yes", "layer": "1"})
            start = i + 1
    osm.way(pts[start:], tags)


def build_roads(rng) -> _Osm:
    """Street grid, expressway, county and village roads, bridges, a railway, a footway, the river."""
    osm = _Osm()
    x0, y0, x1, y1 = CORE
    xs, ys = np.arange(x0, x1 + 1, 200.0), np.arange(y0, y1 + 1, 200.0)
    for j, y in enumerate(ys):                     # east-west streets
        tags = {"highway": "secondary", "maxspeed": "40", "name": f"{j + 1}号路", "name:en": f"Road {j + 1}"} \
            if j % 5 == 0 else {"highway": "residential", "name": f"{j + 1}号街", "name:en": f"Street {j + 1}"}
        if j % 5 != 0 and j % 3 == 1:
            tags["oneway"] = "yes"
        pts = [(x, y) for x in xs]
        osm.way(pts if j % 2 == 0 or "oneway" not in tags else pts[::-1], tags)
    for i, x in enumerate(xs):                     # north-south streets
        tags = {"highway": "primary", "maxspeed": "60", "name": f"{i + 1}号大道", "name:en": f"Avenue {i + 1}"} \
            if i % 6 == 0 else {"highway": "residential", "name": f"{i + 1}号巷", "name:en": f"Lane {i + 1}"}
        osm.way([(x, y) for y in ys], tags)
    centre = ((x0 + x1) / 2, (y0 + y1) / 2)
    # bridges: a primary road to Suxi (the big central town across the river), and two county roads
    suxi, maolin, tuqiao = (TOWNS[0][3], TOWNS[0][4]), (TOWNS[1][3], TOWNS[1][4]), (TOWNS[2][3], TOWNS[2][4])
    _road(osm, [(x1, 14600.0)] + _winding((x1, 14600.0), suxi, rng, 150.0)[1:],
          {"highway": "primary", "maxspeed": "60", "name": "苏溪大道", "name:en": "Suxi Avenue"})
    _road(osm, _winding((x1, y0), maolin, rng, 600.0),
          {"highway": "tertiary", "name": "茅林路", "name:en": "Maolin Road"})
    _road(osm, _winding(suxi, tuqiao, rng, 700.0), {"highway": "tertiary", "name": "土桥路", "name:en": "Tuqiao Road"})
    # expressway: two one-way carriageways along y = 18.5 km with interchanges near the core and Suxi
    ys_e = 18500.0
    east = [(x, ys_e + 200 * np.sin(x / 4000.0)) for x in np.arange(0.0, SIZE + 1, 500.0)]
    tags = {"highway": "motorway", "oneway": "yes", "maxspeed": "100", "name": "乐宜高速", "name:en": "Leyi Expressway"}
    _road(osm, east, tags)
    _road(osm, [(x, y + 30.0) for x, y in east][::-1], tags)
    for ix, target in ((7500.0, (7600.0, y1)), (15500.0, suxi)):
        k = int(ix / 500.0)
        link = {"highway": "motorway_link", "oneway": "yes", "maxspeed": "60"}
        osm.way([east[k], (ix + 300, ys_e - 600), target], link)                       # off-ramp
        osm.way([target, (ix - 300, ys_e - 600 + 30), (east[k - 1][0], east[k - 1][1] + 30)], link)  # on-ramp
    # county roads from the core or from Suxi to every other town seat
    for tid, _n, _e, tx, ty, _p, _c in TOWNS[3:]:
        start = _core_exit((tx, ty)) if tx < river_x(ty) else suxi
        _road(osm, _winding(start, (tx, ty), rng, 500.0), {"highway": "tertiary", "name": f"{_n}公路", "name:en": f"{_e} Road"})
    return osm


def _core_exit(target) -> tuple[float, float]:
    """The street-grid node on the core's edge nearest to the target (where a county road leaves)."""
    x0, y0, x1, y1 = CORE
    xs, ys = np.arange(x0, x1 + 1, 200.0), np.arange(y0, y1 + 1, 200.0)
    edge = [(x, y0) for x in xs] + [(x, y1) for x in xs] + [(x0, y) for y in ys] + [(x1, y) for y in ys]
    return min(edge, key=lambda p: (p[0] - target[0]) ** 2 + (p[1] - target[1]) ** 2)


def build_villages(osm: _Osm, rng) -> list[tuple[float, float, float]]:
    """About 20 villages on winding village roads to the nearest town seat; returns (x, y, people)."""
    seats = np.array([(t[3], t[4]) for t in TOWNS])
    villages = []
    while len(villages) < 21:
        x, y = rng.uniform(1500, SIZE - 1500, 2)
        x0, y0, x1, y1 = CORE
        if (x0 - 1500 < x < x1 + 1500 and y0 - 1500 < y < y1 + 1500) or abs(x - river_x(y)) < 800:
            continue
        if np.min(np.hypot(*(seats - (x, y)).T)) < 2500 or any(np.hypot(x - v[0], y - v[1]) < 2500 for v in villages):
            continue
        villages.append((x, y, float(rng.integers(1500, 3200))))
    for k, (x, y, _p) in enumerate(villages):
        same_bank = [s for s in seats if (s[0] - river_x(s[1])) * (x - river_x(y)) > 0]
        seat = min(same_bank, key=lambda s: np.hypot(s[0] - x, s[1] - y))
        cls = "track" if k % 4 == 3 else "unclassified"
        osm.way(_winding((x, y), tuple(seat), rng, 350.0), {"highway": cls, "name": f"村道{k + 1}", "name:en": f"Village road {k + 1}"})
        osm.way([(x - 250, y), (x, y), (x + 250, y)], {"highway": "residential"})
    return villages


def build_extras(osm: _Osm) -> None:
    """The river, a railway, a footway and the ferry village's isolated road."""
    ys = np.arange(0.0, SIZE + 1, 250.0)
    osm.way(list(zip(river_x(ys), ys)), {"waterway": "river", "name": "青衣江", "name:en": "Qingyi River"})
    osm.way([(0.0, 9800.0), (SIZE, 10300.0)], {"railway": "rail", "name": "成昆铁路", "name:en": "Chengdu–Kunming Railway"})
    osm.way([(5000.0, 12500.0), (5400.0, 12900.0)], {"highway": "footway"})
    fx = float(river_x(1800.0)) + 900.0
    osm.way([(fx, 1500.0), (fx, 2100.0), (fx + 400, 2100.0)], {"highway": "residential", "name": "渡口村路", "name:en": "Ferry village lane"})


def build_population(villages, rng) -> np.ndarray:
    """People per 100 m cell (rows from north to south), nodata (-9999) on the river."""
    n = int(SIZE / CELL)
    cx = (np.arange(n) + 0.5) * CELL
    cy = SIZE - (np.arange(n) + 0.5) * CELL
    X, Y = np.meshgrid(cx, cy)
    pop = np.zeros((n, n))
    x0, y0, x1, y1 = CORE
    core = (X > x0 - 100) & (X < x1 + 100) & (Y > y0 - 100) & (Y < y1 + 100)
    dense = np.exp(-(((X - (x0 + x1) / 2) / 2600.0) ** 2 + ((Y - (y0 + y1) / 2) / 2200.0) ** 2))
    pop[core] = dense[core] / dense[core].sum() * 300000.0
    for _id, _n, _e, tx, ty, people, _c in TOWNS:
        blob = np.exp(-((X - tx) ** 2 + (Y - ty) ** 2) / (2 * (500.0 + people / 100.0) ** 2))
        pop += blob / blob.sum() * people
    for vx, vy, people in villages:
        blob = np.exp(-((X - vx) ** 2 + (Y - vy) ** 2) / (2 * 250.0 ** 2))
        pop += blob / blob.sum() * people
    land = ~core
    background = rng.gamma(0.6, 0.9, size=pop.shape) * land
    pop += background
    fx = float(river_x(1800.0)) + 900.0
    ferry = (np.abs(X - fx - 100) < 200) & (np.abs(Y - 1900) < 200)
    pop[ferry] += 60.0 / ferry.sum()
    pop = np.round(pop, 2)
    river = np.abs(X - river_x(Y)) < 120.0
    pop[river] = -9999.0
    return pop.astype("float32")


def build_units() -> list[dict]:
    """Streets tile the core; towns are the Voronoi cells of their seats over the rest of the square."""
    x0, y0, x1, y1 = CORE
    units = []
    xs, ys = np.linspace(x0, x1, 4), np.linspace(y0, y1, 3)
    for k, (sid, name, name_en) in enumerate(STREETS):
        i, j = k % 3, k // 3
        units.append((sid, name, name_en, "street", "urban", True, False, shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1])))
    square = shapely.box(0, 0, SIZE, SIZE).difference(shapely.box(x0, y0, x1, y1))
    seats = shapely.MultiPoint([(t[3], t[4]) for t in TOWNS])
    cells = shapely.voronoi_polygons(seats, extend_to=shapely.box(-SIZE, -SIZE, 2 * SIZE, 2 * SIZE))
    for tid, name, name_en, tx, ty, _p, central in TOWNS:
        poly = next(c for c in cells.geoms if c.contains(shapely.Point(tx, ty)))
        units.append((tid, name, name_en, "town", "rural", False, central, poly.intersection(square)))
    return units


def build_facilities() -> list[dict]:
    """Hospitals, THCs (one town lacks one), CHCs (one street lacks one) and EMS stations."""
    x0, y0, x1, y1 = CORE
    cx, cy = 7600.0, 13800.0
    f = [
        ("H01", "区人民医院", "District People's Hospital", "hospital", 6, 1000, 3.0, "S02", cx, cy + 5),
        ("H02", "区中医医院", "District TCM Hospital", "hospital", 3, 500, 3.0, "S01", 5800.0, 12605.0),
        ("H03", "区妇幼保健院", "District Maternal and Child Health Hospital", "hospital", 2, 300, 3.0, "S05", 8200.0, 15405.0),
        ("H04", "苏溪新区医院", "Suxi New Area Hospital", "hospital", 3, 300, 3.0, "T01", TOWNS[0][3] + 20, TOWNS[0][4] + 20),
        ("E01", "区急救中心", "District Emergency Centre", "ems", 8, 0, 2.0, "S02", cx + 200, cy + 5),
        ("E02", "东城急救站", "East City EMS Station", "ems", 5, 0, 2.5, "S06", 10000.0, 15605.0),
        ("E03", "苏溪急救站", "Suxi EMS Station", "ems", 5, 0, 2.5, "T01", TOWNS[0][3] - 30, TOWNS[0][4] - 20),
        ("E04", "茅林急救站", "Maolin EMS Station", "ems", 4, 0, 3.0, "T02", TOWNS[1][3] + 25, TOWNS[1][4] - 25),
    ]
    for tid, name, name_en, tx, ty, _p, _c in TOWNS:
        if tid == "T08":
            continue                                  # Angu Town has no township health centre
        f.append((f"W{tid[1:]}", f"{name}卫生院" if not _c else f"{name}中心卫生院",
                  f"{name_en} {'Central ' if _c else ''}Health Centre", "thc", 1, 120 if _c else 40, 3.0, tid, tx - 15, ty + 15))
    xs, ys = np.linspace(x0, x1, 4), np.linspace(y0, y1, 3)
    for k, (sid, name, name_en) in enumerate(STREETS):
        if sid == "S04":
            continue                                  # Bishan Street has no community health centre
        i, j = k % 3, k // 3
        sx = round(((xs[i] + xs[i + 1]) / 2) / 200.0) * 200.0 + 100.0
        sy = round(((ys[j] + ys[j + 1]) / 2) / 200.0) * 200.0 + 8.0
        f.append((f"C{sid[1:]}", f"{name}社区卫生服务中心", f"{name_en} Community Health Centre", "chc", 0, 0, 3.0, sid, sx, sy))
    return [dict(zip(("id", "name", "name_en", "type", "ambulances", "beds", "turnout_min", "unit_id", "x", "y"), r)) for r in f]


def _lonlat(x, y):
    return Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(np.asarray(x) + X0, np.asarray(y) + Y0)


def _geojson(features: list[dict]) -> str:
    return json.dumps({"type": "FeatureCollection",
                       "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}},
                       "features": features}, ensure_ascii=False, indent=0) + "\n"


def _ring_lonlat(poly) -> list:
    polys = list(getattr(poly, "geoms", [poly]))
    out = []
    for p in polys:
        rings = [p.exterior, *p.interiors]
        out.append([[[round(a, 7), round(b, 7)] for a, b in zip(*_lonlat(*np.asarray(r.coords).T))] for r in rings])
    return out


def write_region(out: Path) -> dict:
    """Write every file of the region into ``out``; returns the summary."""
    import rasterio
    from rasterio.transform import from_origin

    rng = np.random.default_rng(SEED)
    osm = build_roads(rng)
    villages = build_villages(osm, rng)
    build_extras(osm)
    osm.write(out / "roads.osm")
    pop = build_population(villages, rng)
    with rasterio.open(out / "population.tif", "w", driver="GTiff", width=pop.shape[1], height=pop.shape[0], count=1,
                       dtype="float32", crs=CRS, transform=from_origin(X0, Y0 + SIZE, CELL, CELL), nodata=-9999.0,
                       compress="deflate", predictor=2) as dst:
        dst.write(pop, 1)
    units = build_units()
    feats = []
    for uid, name, name_en, kind, zone, seat, central, poly in units:
        geom = {"type": "MultiPolygon", "coordinates": _ring_lonlat(poly)}
        feats.append({"type": "Feature", "properties": {"unit_id": uid, "name": name, "name_en": name_en, "kind": kind,
                                                         "zone": zone, "county_seat": seat, "central_town": central},
                      "geometry": geom})
    (out / "units.geojson").write_text(_geojson(feats), encoding="utf-8")
    fac = build_facilities()
    lon, lat = _lonlat([f["x"] for f in fac], [f["y"] for f in fac])
    feats, rows = [], ["id,name,name_en,type,ambulances,beds,turnout_min,unit_id,经度,纬度"]
    for f, lo, la in zip(fac, lon, lat):
        props = {k: f[k] for k in ("id", "name", "name_en", "type", "ambulances", "beds", "turnout_min", "unit_id")}
        feats.append({"type": "Feature", "properties": props,
                      "geometry": {"type": "Point", "coordinates": [round(lo, 6), round(la, 6)]}})
        rows.append(",".join(str(props[k]) for k in props) + f",{lo:.6f},{la:.6f}")
    (out / "facilities.geojson").write_text(_geojson(feats), encoding="utf-8")
    (out / "facilities.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    land = pop[pop >= 0]
    counts = {t: sum(f["type"] == t for f in fac) for t in ("hospital", "thc", "chc", "ems")}
    summary = {"population_total": round(float(land.sum(dtype="float64")), 2), "area_km2": SIZE * SIZE / 1e6,
               "units": len(units), "villages": len(villages), "road_ways": len(osm.ways), "road_nodes": len(osm.nodes),
               "facilities": counts, "ambulances": int(sum(f["ambulances"] for f in fac))}
    (out / "README.md").write_text(_readme(summary), encoding="utf-8")
    return summary


def _readme(s: dict) -> str:
    c = s["facilities"]
    return (
        "# Demo region 演示区 (fictional)\n\n"
        "A fictional hilly Sichuan district modelled on Leshan Shizhong (seed 004): a street-grid urban core "
        "(6 streets 街道, about 300,000 people), nine towns (镇) of which three central towns — 苏溪镇 Suxi, "
        "茅林镇 Maolin, 土桥镇 Tuqiao — are sub-centre candidates, about 20 villages on winding roads, the "
        "Qingyi River crossed only at a few bridges, and an expressway. Generated by "
        "`coverage-planner demo --regenerate` (code: `coverage_planner/demo_region.py`); names are invented.\n\n"
        "| file | content | CRS |\n|---|---|---|\n"
        "| `roads.osm` | OSM XML roads (plus a river, a railway and a footway the loader drops) | WGS84 |\n"
        "| `population.tif` | people per 100 m cell, nodata −9999 on the river | EPSG:32648 |\n"
        "| `facilities.geojson`, `facilities.csv` (经度/纬度) | health facilities | WGS84 |\n"
        "| `units.geojson` | streets and towns with `zone`, `county_seat`, `central_town` | WGS84 |\n\n"
        f"Totals: {s['population_total']:,.0f} people on {s['area_km2']:.0f} km²; {c['hospital']} hospitals, "
        f"{c['thc']} township health centres, {c['chc']} community health centres, {c['ems']} EMS stations, "
        f"{s['ambulances']} ambulances; {s['road_ways']} road ways.\n"
    )


def generate_demo_region(out_dir: Path = DEMO_DIR) -> dict:
    """(Re)generate the demo region into ``out_dir`` atomically; returns the summary."""
    from .outputs import atomic_dir

    with atomic_dir(Path(out_dir)) as tmp:
        return write_region(tmp)


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.regenerate:
        summary = generate_demo_region(Path(args.out) if args.out else DEMO_DIR)
        print(json.dumps(summary, ensure_ascii=False, indent=1))
        return 0
    from .pipeline import run_scenario_file

    return run_scenario_file(SCENARIO, args.out, args.quiet)


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command."""
    p = sub.add_parser("demo", help="run the embedded demo region (演示区), or regenerate it",
                       description="Without options: check the embedded demo region (geodata/demo) against "
                                   "scenarios/demo.toml and write maps/demo/. With --regenerate: rebuild the "
                                   "region's files (deterministic).")
    p.add_argument("--regenerate", action="store_true", help="rewrite geodata/demo (重新生成演示数据)")
    p.add_argument("--out", help="output folder (with --regenerate: where to write the region)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table")
    p.set_defaults(func=_cmd_demo)
