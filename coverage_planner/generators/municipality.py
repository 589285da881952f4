"""A generated municipality-scale region (Chongqing-size) for benchmarks and partitioned-run tests.

``write_municipality(folder, counties=38)`` writes, in real formats, a fictional municipality of
``counties`` counties of about 2,100 km² each (38 counties ≈ 80,000 km²), 790,000 people per county
(38 counties ≈ 30 million) on 100 m cells with the empty cells left out:

- ``roads.osm.pbf`` — a jittered lattice of rural roads every 650 m with shape points every ~70 m
  (about 84,000 nodes per county; 38 counties ≈ 3.2 million), county roads (``secondary``) every
  eighth line, national roads (``trunk``) through every county seat, residential streets in the
  seats and towns, and expressways (``motorway``) from seat to seat joined to the roads only at
  interchanges in the seats;
- ``population.tif`` — GeoTIFF of people per 100 m cell (EPSG:32648): a county seat, twelve towns
  and scattered villages per county, zero (left out) on a share of the land;
- ``units.geojson`` — per county 4 × 4 townships: the 4 around the seat are streets (街道, urban,
  county seat), the other 12 are towns (镇, rural), each with ``county_id``;
- ``facilities.csv`` — per county a general and a TCM hospital, one THC per town, one CHC per street,
  and EMS stations at the hospital and every second THC (plans' densities: 1 THC per township,
  1 CHC per street);
- ``municipality.toml`` — the scenario (Chongqing profile, no villages layer, no isochrones).

Deterministic from the seed. The pieces (cell size, CRS, facility fields and staff, GeoJSON and CSV
writers, population blobs) are the demo generator's (:mod:`coverage_planner.generators.demo`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from pyproj import Transformer

from .demo import CELL, CRS, FIELDS, NODATA, STAFF_BY_TYPE, _blob, _csv_field, feature_collection

SEED = 20261130
COUNTY_KM2 = 80_000.0 / 38          # Chongqing: 82,000 km², 38 districts and counties
PEOPLE_PER_COUNTY = 30_000_000 / 38
LATTICE_M = 650.0                   # rural road spacing
SHAPE_M = 70.0                      # shape points along roads
UNITS_PER_SIDE = 4                  # 4 × 4 townships per county
ORIGIN = (530_000.0, 3_120_000.0)   # south-west corner, UTM 48N (≈105.3°E 28.2°N)
_TO_LONLAT = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


@dataclass(frozen=True)
class Layout:
    """Where the counties lie: a grid of square tiles of side ``side_m``."""

    counties: int
    cols: int
    rows: int
    side_m: float

    @property
    def width_m(self) -> float:
        return self.cols * self.side_m

    @property
    def height_m(self) -> float:
        return self.rows * self.side_m

    def origin(self, county: int) -> tuple[float, float]:
        """South-west corner of a county's tile (region metres)."""
        return (county % self.cols) * self.side_m, (county // self.cols) * self.side_m

    def seat(self, county: int) -> tuple[float, float]:
        ox, oy = self.origin(county)
        return ox + self.side_m / 2, oy + self.side_m / 2


def layout(counties: int) -> Layout:
    """Tiles for ``counties`` counties, as square a grid as possible; the side snapped to the lattice."""
    cols = math.ceil(math.sqrt(counties))
    rows = math.ceil(counties / cols)
    step = math.lcm(int(LATTICE_M), int(CELL))             # whole lattice steps and whole cells
    side = round(math.sqrt(COUNTY_KM2) * 1000 / step) * step
    return Layout(counties, cols, rows, side)


def to_lonlat(x, y) -> tuple[np.ndarray, np.ndarray]:
    """Region metres → WGS84 longitude, latitude."""
    lon, lat = _TO_LONLAT.transform(np.asarray(x, float) + ORIGIN[0], np.asarray(y, float) + ORIGIN[1])
    return np.asarray(lon), np.asarray(lat)


# ---------------------------------------------------------------- roads

@dataclass
class Roads:
    """Nodes (region metres, id = index + 1) and ways (node id lists with tags)."""

    x: np.ndarray
    y: np.ndarray
    ways: list[tuple[np.ndarray, dict[str, str]]]


def _lattice(lay: Layout, rng: np.random.Generator):
    """Jittered lattice points over the occupied tiles: (ix, iy) grid, x, y, inside mask."""
    nx, ny = int(round(lay.width_m / LATTICE_M)) + 1, int(round(lay.height_m / LATTICE_M)) + 1
    gx, gy = np.meshgrid(np.arange(nx) * LATTICE_M, np.arange(ny) * LATTICE_M)
    per_tile = int(round(lay.side_m / LATTICE_M))
    tile = np.minimum(gy // lay.side_m, lay.rows - 1).astype(int) * lay.cols + \
        np.minimum(gx // lay.side_m, lay.cols - 1).astype(int)
    inside = tile < lay.counties
    # points on the edge of an occupied tile belong to it too
    left = np.minimum((gx - 1) // lay.side_m, lay.cols - 1).astype(int).clip(0)
    below = np.minimum((gy - 1) // lay.side_m, lay.rows - 1).astype(int).clip(0)
    inside |= (below * lay.cols + np.minimum(gx // lay.side_m, lay.cols - 1).astype(int)) < lay.counties
    inside |= (np.minimum(gy // lay.side_m, lay.rows - 1).astype(int) * lay.cols + left) < lay.counties
    jitter = rng.uniform(-0.22, 0.22, (2, ny, nx)) * LATTICE_M
    seat_line = (np.arange(nx) % per_tile == per_tile // 2)
    jx = np.where(seat_line[None, :], 0.0, jitter[0])             # national roads run straight
    jy = np.where((np.arange(ny) % per_tile == per_tile // 2)[:, None], 0.0, jitter[1])
    return gx + jx, gy + jy, inside, per_tile


def _road_class(i: int, per_tile: int, urban: bool) -> str:
    """Tag of lattice line ``i``: trunk through the seats, secondary every 8th, else local."""
    if i % per_tile == per_tile // 2:
        return "trunk"
    if i % 8 == 0:
        return "secondary"
    return "residential" if urban else "unclassified"


def build_roads(lay: Layout, rng: np.random.Generator) -> Roads:
    """The lattice roads (one way per lattice edge, with shape points) and the expressways."""
    px, py, inside, per_tile = _lattice(lay, rng)
    ny, nx = px.shape
    ids = np.full(px.shape, -1, dtype=np.int64)
    ids[inside] = np.arange(int(inside.sum()))
    xs, ys = [px[inside]], [py[inside]]
    n_next = int(inside.sum())
    urban = _urban_mask(lay, px, py)
    ways: list[tuple[np.ndarray, dict[str, str]]] = []
    steps = max(1, int(round(LATTICE_M / SHAPE_M)))
    t = np.arange(1, steps) / steps
    for axis in (0, 1):       # 0: edges along x (rows), 1: along y (columns)
        a = ids[:, :-1] if axis == 0 else ids[:-1, :]
        b = ids[:, 1:] if axis == 0 else ids[1:, :]
        ok = (a >= 0) & (b >= 0)
        line = np.broadcast_to((np.arange(ny)[:, None] if axis == 0 else np.arange(nx)[None, :]), a.shape)[ok]
        ua = (urban[:, :-1] if axis == 0 else urban[:-1, :])[ok]
        ea, eb = a[ok], b[ok]
        ax_, ay_, bx_, by_ = xs[0][ea], ys[0][ea], xs[0][eb], ys[0][eb]
        wave = rng.uniform(-25.0, 25.0, len(ea))[:, None] * np.sin(np.pi * t)[None, :]
        nxn, nyn = -(by_ - ay_), (bx_ - ax_)
        norm = np.hypot(nxn, nyn)
        sx = ax_[:, None] + (bx_ - ax_)[:, None] * t + (nxn / norm)[:, None] * wave
        sy = ay_[:, None] + (by_ - ay_)[:, None] * t + (nyn / norm)[:, None] * wave
        shape_ids = n_next + np.arange(sx.size).reshape(sx.shape)
        n_next += sx.size
        xs.append(np.round(sx.ravel(), 1))
        ys.append(np.round(sy.ravel(), 1))
        refs = np.column_stack([ea, shape_ids, eb]) + 1
        for k in range(len(ea)):
            ways.append((refs[k], {"highway": _road_class(int(line[k]), per_tile, bool(ua[k]))}))
    x, y = np.concatenate(xs), np.concatenate(ys)
    x, y, motorways = _expressways(lay, ids, per_tile, x, y)
    return Roads(x, y, ways + motorways)


def _urban_mask(lay: Layout, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Lattice points in a county seat (within 3 km) or a town centre (within 800 m)."""
    urban = np.zeros(px.shape, dtype=bool)
    for c in range(lay.counties):
        sx, sy = lay.seat(c)
        urban |= np.hypot(px - sx, py - sy) < 3000.0
        for tx, ty in _town_centres(lay, c):
            urban |= np.hypot(px - tx, py - ty) < 800.0
    return urban


def _expressways(lay: Layout, ids: np.ndarray, per_tile: int, x: np.ndarray, y: np.ndarray):
    """Motorways from seat to seat (east and north neighbours), joined only at the seats' lattice nodes."""
    ways, xs, ys = [], [x], [y]
    n_next = len(x)
    half = per_tile // 2
    for c in range(lay.counties):
        i, j = c % lay.cols, c // lay.cols
        for di, dj in ((1, 0), (0, 1)):
            d = (j + dj) * lay.cols + (i + di)
            if i + di >= lay.cols or d >= lay.counties:
                continue
            a = ids[j * per_tile + half + 200 // int(LATTICE_M) * 0, i * per_tile + half]
            b = ids[(j + dj) * per_tile + half, (i + di) * per_tile + half]
            (ax_, ay_), (bx_, by_) = (x[a], y[a]), (x[b], y[b])
            n = int(np.hypot(bx_ - ax_, by_ - ay_) // 400.0)
            t = np.arange(1, n) / n
            off = 900.0 * np.sin(np.pi * t)      # a wide curve, off the national road
            nxn, nyn = (-(by_ - ay_), bx_ - ax_) / np.hypot(bx_ - ax_, by_ - ay_)
            sx, sy = ax_ + (bx_ - ax_) * t + nxn * off, ay_ + (by_ - ay_) * t + nyn * off
            shape = n_next + np.arange(len(t))
            n_next += len(t)
            xs.append(np.round(sx, 1))
            ys.append(np.round(sy, 1))
            ways.append((np.r_[a, shape, b] + 1, {"highway": "motorway", "oneway": "no", "ref": f"G{c + 1:02d}"}))
    return np.concatenate(xs), np.concatenate(ys), ways


def write_pbf(roads: Roads, path: Path) -> None:
    """roads.osm.pbf via osmium (WGS84)."""
    import osmium

    lon, lat = to_lonlat(roads.x, roads.y)
    if path.exists():
        path.unlink()
    with osmium.SimpleWriter(str(path)) as writer:
        for i in range(len(lon)):
            writer.add_node(osmium.osm.mutable.Node(id=i + 1, version=1, location=(float(lon[i]), float(lat[i]))))
        for k, (refs, tags) in enumerate(roads.ways, start=1):
            writer.add_way(osmium.osm.mutable.Way(id=k, version=1, nodes=[int(r) for r in refs], tags=tags))


# ---------------------------------------------------------------- units, towns, population

def _town_centres(lay: Layout, county: int) -> list[tuple[float, float]]:
    """Centres of the county's 12 towns (the unit squares that do not touch the seat)."""
    return [c for c, kind in _unit_squares(lay, county) if kind == "town"]


def _unit_squares(lay: Layout, county: int):
    """((centre x, centre y), kind) of the county's units, row by row."""
    ox, oy = lay.origin(county)
    s = lay.side_m / UNITS_PER_SIDE
    mid = (UNITS_PER_SIDE - 1) / 2
    out = []
    for j in range(UNITS_PER_SIDE):
        for i in range(UNITS_PER_SIDE):
            kind = "street" if abs(i - mid) < 1 and abs(j - mid) < 1 else "town"
            out.append(((ox + (i + 0.5) * s, oy + (j + 0.5) * s), kind))
    return out


def build_units(lay: Layout) -> list[dict]:
    """Unit rows: id, county, kind, zone, seat flag and polygon (region metres)."""
    s = lay.side_m / UNITS_PER_SIDE
    units = []
    for c in range(lay.counties):
        for k, ((cx, cy), kind) in enumerate(_unit_squares(lay, c)):
            units.append({"unit_id": f"C{c + 1:02d}{'J' if kind == 'street' else 'Z'}{k + 1:02d}",
                          "county_id": f"C{c + 1:02d}", "kind": kind,
                          "zone": "urban" if kind == "street" else "rural", "county_seat": kind == "street",
                          "central_town": False, "centre": (cx, cy),
                          "polygon": shapely.box(cx - s / 2, cy - s / 2, cx + s / 2, cy + s / 2)})
    return units


def build_population(lay: Layout, rng: np.random.Generator) -> np.ndarray:
    """People per 100 m cell (float32, rows north to south): seat 40 %, towns 30 %, villages 30 %.

    Cells outside the counties are nodata; about 45 % of the rural land is empty (0, left out).
    """
    ncol, nrow = int(lay.width_m / CELL), int(lay.height_m / CELL)
    pop = np.full((nrow, ncol), NODATA, dtype=np.float32)
    per = int(round(lay.side_m / CELL))
    centres = (np.arange(per) + 0.5) * CELL
    for c in range(lay.counties):
        ox, oy = lay.origin(c)
        x, y = np.meshgrid(ox + centres, oy + lay.side_m - centres)
        sx, sy = lay.seat(c)
        seat = _blob(x, y, sx, sy, 1600.0)
        towns = sum(_blob(x, y, tx, ty, 450.0) for tx, ty in _town_centres(lay, c))
        rural = rng.lognormal(0.0, 0.6, x.shape) * (rng.random(x.shape) > 0.45)
        tile = (0.40 * seat / seat.sum() + 0.30 * towns / towns.sum() + 0.30 * rural / rural.sum()) \
            * PEOPLE_PER_COUNTY
        tile[tile < 0.05] = 0.0      # no fractions of people on the blob's tails: empty cells
        r0 = nrow - int(round((oy + lay.side_m) / CELL))
        c0 = int(round(ox / CELL))
        pop[r0:r0 + per, c0:c0 + per] = tile.astype(np.float32)
    return pop


# doctors, nurses, GPs, negative-pressure ambulances for the types the demo's table does not hold
STAFF_MORE = {"hospital;general": (420, 560, 8, 1), "hospital;tcm": (160, 200, 3, 0), "ems": (12, 14, 0, 1)}


def _facility(fid: str, name: str, name_en: str, ftype: str, ambulances: int, beds: int, turnout: float,
              unit_id: str, x: float, y: float) -> dict:
    """One facility row in the demo's columns (:data:`demo.FIELDS`), staff by type."""
    doctors, nurses, gps, negative = STAFF_BY_TYPE.get(ftype) or STAFF_MORE[ftype]
    values = (fid, name, name_en, ftype, ambulances, negative, beds, doctors, nurses, gps, turnout, unit_id)
    return {**dict(zip(FIELDS, values)), "x": float(x), "y": float(y)}


def build_facilities(lay: Layout, units: list[dict], roads: Roads) -> list[dict]:
    """Hospitals, THCs, CHCs and EMS stations, each on the road node nearest to its place."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.column_stack([roads.x, roads.y]))

    def on_road(x: float, y: float) -> tuple[float, float]:
        _, i = tree.query([x, y])
        return float(roads.x[i]), float(roads.y[i])

    out = []
    for c in range(lay.counties):
        county = f"C{c + 1:02d}"
        sx, sy = lay.seat(c)
        seat_unit = next(u["unit_id"] for u in units if u["county_id"] == county and u["kind"] == "street")
        out.append(_facility(f"{county}H1", f"{county}县人民医院", f"County {county} People's Hospital",
                             "hospital;general", 3, 800, 3.0, seat_unit, *on_road(sx + 300, sy + 300)))
        out.append(_facility(f"{county}H2", f"{county}县中医院", f"County {county} TCM Hospital", "hospital;tcm",
                             1, 300, 3.0, seat_unit, *on_road(sx - 700, sy + 500)))
        out.append(_facility(f"{county}E0", f"{county}县急救中心", f"County {county} EMS centre", "ems", 4, 0, 2.0,
                             seat_unit, *on_road(sx, sy - 400)))
        for k, u in enumerate(u for u in units if u["county_id"] == county):
            cx, cy = u["centre"]
            if u["kind"] == "street":
                out.append(_facility(f"{u['unit_id']}C", f"{u['unit_id']}社区卫生服务中心",
                                     f"{u['unit_id']} CHC", "chc", 0, 20, 5.0, u["unit_id"], *on_road(cx, cy)))
                continue
            out.append(_facility(f"{u['unit_id']}T", f"{u['unit_id']}镇卫生院", f"{u['unit_id']} THC", "thc",
                                 1, 60, 5.0, u["unit_id"], *on_road(cx, cy)))
            if k % 2 == 0:
                out.append(_facility(f"{u['unit_id']}E", f"{u['unit_id']}急救站", f"{u['unit_id']} EMS station",
                                     "ems", 2, 0, 3.0, u["unit_id"], *on_road(cx + 200, cy)))
    return out


# ---------------------------------------------------------------- writers

def write_units(units: list[dict], path: Path) -> None:
    """units.geojson (WGS84) with county_id."""
    feats = []
    for u in units:
        ring = np.asarray(u["polygon"].exterior.coords)
        poly = shapely.Polygon(np.column_stack(to_lonlat(ring[:, 0], ring[:, 1])) - 0.0)
        props = {"unit_id": u["unit_id"], "name": f"{u['unit_id']}{'街道' if u['kind'] == 'street' else '镇'}",
                 "name_en": u["unit_id"], "county_id": u["county_id"], "kind": u["kind"], "zone": u["zone"],
                 "county_seat": u["county_seat"], "central_town": u["central_town"]}
        feats.append({"type": "Feature", "properties": props, "geometry": _lonlat_polygon(poly)})
    path.write_text(feature_collection(feats), encoding="utf-8")


def _lonlat_polygon(poly: shapely.Polygon) -> dict:
    poly = shapely.geometry.polygon.orient(poly, sign=1.0)
    return {"type": "Polygon", "coordinates": [[[round(a, 7), round(b, 7)] for a, b in poly.exterior.coords]]}


def write_facilities(facilities: list[dict], path: Path) -> None:
    """facilities.csv with 经度/纬度 (WGS84, 6 decimals), the demo's columns."""
    lon, lat = to_lonlat([f["x"] for f in facilities], [f["y"] for f in facilities])
    rows = [",".join(FIELDS) + ",经度,纬度"]
    rows += [",".join(_csv_field(f[k]) for k in FIELDS) + f",{lo:.6f},{la:.6f}"
             for f, lo, la in zip(facilities, lon, lat)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")


def write_population(pop: np.ndarray, path: Path) -> None:
    """population.tif: float32 people per 100 m cell, EPSG:32648, DEFLATE, tiled."""
    import rasterio
    from rasterio.transform import from_origin

    with rasterio.open(path, "w", driver="GTiff", width=pop.shape[1], height=pop.shape[0], count=1,
                       dtype="float32", crs=CRS, transform=from_origin(ORIGIN[0], ORIGIN[1] + pop.shape[0] * CELL,
                                                                       CELL, CELL),
                       nodata=NODATA, compress="deflate", predictor=3, tiled=True) as dst:
        dst.write(pop, 1)


SCENARIO = """# Generated municipality ({counties} counties, seed {seed}): coverage_planner.generators.municipality
[scenario]
name = "municipality"
title_zh = "生成的直辖市（虚构）"
title_en = "Generated municipality (fictional)"
crs = "EPSG:32648"

[standards]
profile = "chongqing"

[travel]
facility_max_access_m = 500

[boundaries]
path = "units.geojson"

[facilities]
path = "facilities.csv"
coords = "wgs84"
encoding = "utf-8"
[facilities.columns]
id = "id"
type = "type"
lon = "经度"
lat = "纬度"

[population]
path = "population.tif"

[roads]
path = "roads.osm.pbf"

[outputs]
isochrone_minutes = []
"""


def write_municipality(folder: str | Path, counties: int = 38, seed: int = SEED) -> dict:
    """Write the region's files and scenario into ``folder``; returns its size.

    Parameters
    ----------
    folder : str or Path
        Output folder (created).
    counties : int
        Number of counties (38: the full ~80,000 km², 30 million people; 10 ≈ ¼, 19 = ½).
    seed : int
        Seed of the random generator (same seed and counties → same files).

    Returns
    -------
    dict
        ``scenario`` (path), ``counties``, ``units``, ``facilities``, ``osm_nodes``, ``osm_ways``,
        ``people``, ``populated_cells``, ``area_km2``.
    """
    if counties < 1:
        raise ValueError("counties must be at least 1")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lay = layout(counties)
    roads = build_roads(lay, rng)
    write_pbf(roads, folder / "roads.osm.pbf")
    units = build_units(lay)
    write_units(units, folder / "units.geojson")
    facilities = build_facilities(lay, units, roads)
    write_facilities(facilities, folder / "facilities.csv")
    pop = build_population(lay, rng)
    write_population(pop, folder / "population.tif")
    scenario = folder / "municipality.toml"
    scenario.write_text(SCENARIO.format(counties=counties, seed=seed), encoding="utf-8")
    land = pop > 0
    return {"scenario": str(scenario), "counties": counties, "units": len(units), "facilities": len(facilities),
            "osm_nodes": len(roads.x), "osm_ways": len(roads.ways), "people": float(pop[land].sum()),
            "populated_cells": int(land.sum()), "area_km2": counties * lay.side_m ** 2 / 1e6}


__all__ = ["layout", "write_municipality"]
