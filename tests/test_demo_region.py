"""The embedded demo region: regenerating reproduces the committed files, and the files hold what
the demo promises (population, tiling units, facilities on roads, OSM traps for the loader)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer

from coverage_planner.cli import main
from coverage_planner.generators.demo import DEMO_DIR

UTM = "EPSG:32648"
TEXT_FILES = ["roads.osm", "facilities.geojson", "facilities.csv", "units.geojson", "README.md", "villages.geojson"]
_to_utm = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, dict]:
    """`coverage-planner demo --regenerate --out DIR` into a temporary folder, and its printed summary."""
    out = tmp_path_factory.mktemp("regen") / "demo"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["demo", "--regenerate", "--out", str(out)]) == 0
    return out, json.loads(printed.getvalue())


@pytest.fixture(scope="module")
def osm() -> dict:
    """roads.osm parsed: node coordinates in UTM metres and ways as (tags, [node ids])."""
    root = ET.parse(DEMO_DIR / "roads.osm").getroot()
    ids = [int(n.get("id")) for n in root.iter("node")]
    lon = np.array([float(n.get("lon")) for n in root.iter("node")])
    lat = np.array([float(n.get("lat")) for n in root.iter("node")])
    x, y = _to_utm.transform(lon, lat)
    ways = [({t.get("k"): t.get("v") for t in w.iter("tag")}, [int(nd.get("ref")) for nd in w.iter("nd")])
            for w in root.iter("way")]
    return {"root": root, "ids": ids, "xy": dict(zip(ids, zip(x, y))), "ways": ways}


def _line(osm: dict, refs: list[int]) -> shapely.LineString:
    return shapely.LineString([osm["xy"][r] for r in refs])


def _units_utm() -> tuple[list[dict], list[shapely.Geometry]]:
    data = json.loads((DEMO_DIR / "units.geojson").read_text(encoding="utf-8"))
    props = [f["properties"] for f in data["features"]]
    geoms = [shapely.transform(shapely.geometry.shape(f["geometry"]), lambda c: np.c_[_to_utm.transform(c[:, 0], c[:, 1])])
             for f in data["features"]]
    return props, geoms


def test_regenerating_gives_the_committed_files(regenerated):
    out, summary = regenerated
    assert sorted(p.name for p in out.iterdir()) == sorted(TEXT_FILES + ["population.tif"])
    assert not list(out.parent.glob(".demo.*")), "the temporary folder was left behind"
    for name in TEXT_FILES:
        assert (out / name).read_bytes() == (DEMO_DIR / name).read_bytes(), f"{name} differs: run coverage-planner demo --regenerate"
    # the raster is compared decoded: DEFLATE bytes depend on the zlib build, not on our code
    with rasterio.open(out / "population.tif") as new, rasterio.open(DEMO_DIR / "population.tif") as old:
        assert new.profile == old.profile
        assert np.array_equal(new.read(1), old.read(1))
    assert summary["counts"] == {"hospital": 4, "thc": 8, "chc": 5, "chs": 18, "village_clinic": 17, "ems": 5}
    assert summary["staff"] == {"doctors": 1738, "nurses": 2124, "gps": 272, "negative_pressure_ambulances": 9}
    assert summary["villages"] == 21


def test_population_raster(regenerated, osm):
    _, summary = regenerated
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        assert src.crs.to_epsg() == 32648 and src.nodata == -9999.0 and src.dtypes == ("float32",)
        assert src.res == (100.0, 100.0) and src.transform.c % 100 == 0 and src.transform.f % 100 == 0
        assert src.compression.name.lower() == "deflate"
        values = src.read(1)
        rows, cols = np.indices(values.shape)
        x, y = rasterio.transform.xy(src.transform, rows.ravel(), cols.ravel())
    total = float(values[values != -9999.0].sum(dtype="float64"))
    assert 500_000 <= total <= 600_000
    assert total == pytest.approx(summary["population_total"], rel=1e-3)
    assert values[values != -9999.0].min() >= 0
    # nodata on the river (cells within 100 m of its centre line) and outside the district
    river = next(_line(osm, refs) for tags, refs in osm["ways"] if tags.get("waterway") == "river")
    points = shapely.points(np.asarray(x), np.asarray(y))
    flat = values.ravel()
    on_river = shapely.dwithin(points, river, 100.0)
    assert on_river.sum() > 300 and np.all(flat[on_river] == -9999.0)
    _, geoms = _units_utm()
    district = shapely.union_all(geoms)
    outside = ~shapely.contains(district, points)
    assert outside.sum() > 1000 and np.all(flat[outside] == -9999.0)
    assert np.all(flat[~outside & ~shapely.dwithin(points, river, 250.0)] >= 0)


def test_units_tile_the_district():
    props, geoms = _units_utm()
    assert [list(p) for p in props] == [["unit_id", "name", "name_en", "kind", "zone", "county_seat", "central_town"]] * len(props)
    union = shapely.union_all(geoms)
    assert union.geom_type == "Polygon" and not union.interiors, "gaps inside the district"
    assert sum(g.area for g in geoms) == pytest.approx(union.area, abs=10.0)
    assert 750e6 <= union.area <= 850e6
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    for i, j in zip(a, b):
        if i < j:
            assert geoms[i].intersection(geoms[j]).area < 1.0, (props[i]["unit_id"], props[j]["unit_id"])
    streets = [p for p in props if p["kind"] == "street"]
    towns = [p for p in props if p["kind"] == "town"]
    assert 5 <= len(streets) <= 6 and all(p["zone"] == "urban" and p["county_seat"] for p in streets)
    assert all(p["zone"] == "rural" and not p["county_seat"] for p in towns)
    assert sum(p["central_town"] for p in towns) == 3 and not any(p["central_town"] for p in streets)


def test_street_populations():
    """The district seat holds about 300,000 people in streets of 40,000–70,000."""
    props, geoms = _units_utm()
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        values = src.read(1)
        rows, cols = np.nonzero(values > 0)
        x, y = rasterio.transform.xy(src.transform, rows, cols)
    people = values[rows, cols].astype("float64")
    points = shapely.points(np.asarray(x), np.asarray(y))
    by_unit = {p["unit_id"]: people[shapely.contains(g, points)].sum() for p, g in zip(props, geoms)}
    streets = [by_unit[p["unit_id"]] for p in props if p["kind"] == "street"]
    assert all(40_000 <= s <= 70_000 for s in streets), streets
    assert 270_000 <= sum(streets) <= 330_000


def test_facilities_csv_and_geojson_agree():
    data = json.loads((DEMO_DIR / "facilities.geojson").read_text(encoding="utf-8"))
    with open(DEMO_DIR / "facilities.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    fields = ["id", "name", "name_en", "type", "ambulances", "negative_pressure_ambulances", "beds", "doctors", "nurses",
              "gps", "turnout_min", "unit_id"]
    assert list(rows[0]) == fields + ["经度", "纬度"]
    feats = data["features"]
    assert [f["properties"]["id"] for f in feats] == [r["id"] for r in rows]
    for feat, row in zip(feats, rows):
        p = feat["properties"]
        assert list(p) == fields
        assert all(isinstance(p[k], int) for k in fields[4:10]) and isinstance(p["turnout_min"], float)
        assert all(int(row[k]) == p[k] for k in fields[4:10])
        assert (p["type"], p["name"], p["unit_id"]) == (row["type"], row["name"], row["unit_id"])
        assert int(row["ambulances"]) == p["ambulances"] and float(row["turnout_min"]) == p["turnout_min"]
        lon, lat = feat["geometry"]["coordinates"]
        assert abs(lon - float(row["经度"])) <= 1e-6 and abs(lat - float(row["纬度"])) <= 1e-6
        assert re.fullmatch(r"\d+\.\d{6}", row["经度"]) and re.fullmatch(r"\d+\.\d{6}", row["纬度"])


def test_facilities_stand_in_their_units_and_break_the_right_rules():
    data = json.loads((DEMO_DIR / "facilities.geojson").read_text(encoding="utf-8"))["features"]
    props, geoms = _units_utm()
    unit_of = {}
    for f in data:
        pt = shapely.Point(_to_utm.transform(*f["geometry"]["coordinates"]))
        (k,) = [k for k, g in enumerate(geoms) if g.contains(pt)]
        unit_of[f["properties"]["id"]] = props[k]
        assert props[k]["unit_id"] == f["properties"]["unit_id"], f["properties"]["id"]
    kinds = {p["unit_id"]: p["kind"] for p in props}
    with_thc = {f["properties"]["unit_id"] for f in data if f["properties"]["type"] == "thc"}
    with_chc = {f["properties"]["unit_id"] for f in data if f["properties"]["type"] == "chc"}
    assert len({u for u, k in kinds.items() if k == "town"} - with_thc) == 1      # one town without a THC
    assert len({u for u, k in kinds.items() if k == "street"} - with_chc) == 1    # one street without a CHC
    hospitals = [f["properties"]["id"] for f in data if f["properties"]["type"].startswith("hospital;")]
    assert sorted(f["properties"]["type"] for f in data if f["properties"]["id"] in hospitals) == [
        "hospital;general", "hospital;general", "hospital;mch", "hospital;tcm"]
    in_seat = [h for h in hospitals if unit_of[h]["county_seat"]]
    assert 3 <= len(in_seat) <= 4 and len(hospitals) - len(in_seat) == 1
    assert next(unit_of[h] for h in hospitals if h not in in_seat)["central_town"]
    assert 3 <= sum(f["properties"]["type"] == "ems" for f in data) <= 5
    ambulances = sum(f["properties"]["ambulances"] for f in data)
    assert 35 <= ambulances <= 45
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        total = float(src.read(1, masked=True).sum(dtype="float64"))
    # per 10,000 people: below Chongqing's 1, above Zhejiang's 1 per 30,000
    assert 1 / 3 < ambulances / (total / 10_000) < 1


def test_every_facility_is_within_100_m_of_a_road(osm):
    roads = [_line(osm, refs) for tags, refs in osm["ways"]
             if tags.get("highway") not in (None, "footway")]
    tree = shapely.STRtree(roads)
    data = json.loads((DEMO_DIR / "facilities.geojson").read_text(encoding="utf-8"))["features"]
    points = shapely.points([_to_utm.transform(*f["geometry"]["coordinates"]) for f in data])
    _, dist = tree.query_nearest(points, return_distance=True, all_matches=False)
    assert dist.max() <= 100.0, [f["properties"]["id"] for f, d in zip(data, dist) if d > 100]


def test_osm_file_format_and_traps(osm):
    root = osm["root"]
    assert root.get("version") == "0.6" and root.get("generator") == "coverage-planner demo_region"
    ids = osm["ids"]
    assert ids[0] > 0 and all(b > a for a, b in zip(ids, ids[1:]))
    assert all(n.get("version") == "1" and re.fullmatch(r"-?\d+\.\d{7}", n.get("lat"))
               and re.fullmatch(r"-?\d+\.\d{7}", n.get("lon")) for n in root.iter("node"))
    ways = osm["ways"]
    assert sum("railway" in t for t, _ in ways) == 1
    assert sum(t.get("highway") == "footway" for t, _ in ways) == 1
    assert sum(t.get("waterway") == "river" for t, _ in ways) == 1
    classes = {t["highway"] for t, _ in ways if "highway" in t}
    assert {"motorway", "motorway_link", "trunk", "primary", "secondary", "tertiary", "unclassified",
            "residential", "service", "track"} <= classes
    motorways = [t for t, _ in ways if t.get("highway") == "motorway"]
    assert all(t.get("oneway") == "yes" and t.get("maxspeed") == "100" for t in motorways)
    assert any(t.get("oneway") == "yes" for t, _ in ways if t.get("highway") == "residential")
    assert all(re.fullmatch(r"\d+", t["maxspeed"]) for t, _ in ways if "maxspeed" in t)
    assert all("name" in t and "name:en" in t for t, _ in ways if t.get("highway") not in (None, "motorway_link"))
    assert (DEMO_DIR / "roads.osm").stat().st_size < 6_000_000


def test_roads_cross_the_river_only_on_bridges(osm):
    river = next(_line(osm, refs) for tags, refs in osm["ways"] if tags.get("waterway") == "river")
    water = river.buffer(100.0)
    crossings = []
    for tags, refs in osm["ways"]:
        if "highway" not in tags or tags["highway"] == "footway":
            continue
        line = _line(osm, refs)
        if tags.get("bridge") == "yes":
            assert tags.get("layer") == "1" and line.crosses(river)
            crossings.append(line.intersection(river).centroid)
        else:
            assert not line.intersects(water), tags.get("name:en")
    assert len(crossings) >= 3
    places = shapely.union_all([p.buffer(300.0) for p in crossings])
    assert 3 <= len(getattr(places, "geoms", [places])) <= 4         # 3–4 bridges (the expressway has two ways)


def test_osmnx_loads_the_roads_with_one_cut_off_part():
    import networkx as nx
    import osmnx

    graph = osmnx.graph_from_xml(DEMO_DIR / "roads.osm", simplify=True, retain_all=True)
    roads = graph.edge_subgraph([(u, v, k) for u, v, k, h in graph.edges(keys=True, data="highway")
                                 if h is not None and h != "footway"])
    parts = sorted(nx.weakly_connected_components(roads), key=len, reverse=True)
    assert len(parts) == 2, [len(p) for p in parts]          # the network and the ferry hamlet's lane
    assert len(parts[1]) <= 5 and len(parts[0]) > 1000


def _street_people() -> dict[str, float]:
    props, geoms = _units_utm()
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        values = src.read(1)
        rows, cols = np.nonzero(values > 0)
        x, y = rasterio.transform.xy(src.transform, rows, cols)
    points = shapely.points(np.asarray(x), np.asarray(y))
    people = values[rows, cols].astype("float64")
    return {p["unit_id"]: people[shapely.contains(g, points)].sum() for p, g in zip(props, geoms)
            if p["kind"] == "street"}


def test_primary_care_and_staff_break_the_right_rules():
    """Stations: one per 20,000 people in every street but 玉堂街道 (J04); a village clinic in every
    village but three, and the one village under 800 people has a neighbour's; doctors and nurses
    per 1,000 between Ganzhou's and Chongqing's standards, GPs above Chongqing's 4 per 10,000, and
    under 40% of the EMS stations' ambulances negative-pressure."""
    data = [f["properties"] for f in json.loads((DEMO_DIR / "facilities.geojson").read_text(encoding="utf-8"))["features"]]
    stations = {}
    for f in data:
        if f["type"] == "chs":
            stations[f["unit_id"]] = stations.get(f["unit_id"], 0) + 1
    needed = {u: int(np.ceil(p / 20_000)) for u, p in _street_people().items()}
    assert {u for u in needed if stations.get(u, 0) < needed[u]} == {"J04"}
    villages = json.loads((DEMO_DIR / "villages.geojson").read_text(encoding="utf-8"))["features"]
    clinics = {f["name"].removesuffix("卫生室") for f in data if f["type"] == "village_clinic"}
    without = [v["properties"] for v in villages if v["properties"]["name"] not in clinics]
    assert sorted((v["name"], v["population"] < 800) for v in without) == [
        ("回龙村", True), ("新桥村", False), ("石门村", False), ("红岩村", False)]
    with rasterio.open(DEMO_DIR / "population.tif") as src:
        total = float(src.read(1, masked=True).sum(dtype="float64"))
    per_1000 = {k: sum(f[k] for f in data) / total * 1000 for k in ("doctors", "nurses")}
    assert 2.6 < per_1000["doctors"] < 3.6 and 3.1 < per_1000["nurses"] < 4.7, per_1000
    assert 4.0 < sum(f["gps"] for f in data if f["type"] != "ems") / total * 10_000 < 5.0
    ems = [f for f in data if f["type"] == "ems"]
    assert 0 < sum(f["negative_pressure_ambulances"] for f in ems) / sum(f["ambulances"] for f in ems) < 0.4
    assert all(f["negative_pressure_ambulances"] <= f["ambulances"] for f in data)
