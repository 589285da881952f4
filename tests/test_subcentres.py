"""County medical sub-centres on a line of towns with known answers, bad input, and the demo.

The line region: one primary road along y = 0 from x = 0 to 100 km (a node every km), driven by
car at 60 km/h (a scenario override), i.e. exactly 1 km per minute. Population sits in one row of
1 km² cells whose centres lie on the road (x = 0.5, 1.5, …, 99.5 km), so a cell at distance d km
from a facility on a node is d minutes away. Every facility is on a whole km and every cell centre
on a half km, so no cell is exactly 30 min away: membership of a 30-min catchment is unambiguous.

    unit  x (km)   zone   flags                     people per cell
    U0    0–20     urban  county_seat, central_town 4,000 (20 cells: 80,000)
    U1    20–50    rural  central_town              1,000; 3,000 at 30–40 km (10 + 30 + 10 thousand)
    U2    50–70    rural  —                         1,200 (24,000)
    U3    70–100   rural  central_town              600; 9,000 at 84–86 km; 1,800 at 90–100 km

    H01 hospital (county hospital) at 10 km; THCs T00 at 15 km (U0), T01 at 40 km (U1),
    T02 at 60 km (U2), T03 at 85 km (U3).

The county hospital reaches the cells up to 39.5 km within 30 min. By hand:

    T01 @40: cells 10.5–69.5 = 40,000 (U0) + 50,000 (U1) + 24,000 (U2) = 114,000 ≥ 100,000;
             new rural = 10,000 (U1 40–50) + 24,000 (U2) = 34,000
    T02 @60: cells 30.5–89.5 = 40,000 (U1) + 24,000 (U2) + 28,800 (U3 70–90) = 92,800;
             new rural = 92,800 − 30,000 (U1 30–40, reached by H01) = 62,800
    T03 @85: cells 55.5–99.5 = 18,000 (U2) + 46,800 (U3) = 64,800; all new rural
    T00 @15: cells 0.5–44.5 = 80,000 (U0) + 45,000 (U1 20–45) = 125,000; new rural 5,000 (U1 40–45)

Ranking (eligible, ≥100k, new rural, people): T01, T03, T02, T00 — T03 before T02 although it
reaches fewer people, because it brings more rural people into the circle; T00 last although it
reaches the most, because it is in the county seat.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from conftest import X0, Y0, lonlat, polygon_lonlat, write_geojson, write_osm, write_raster

from coverage_planner.cli import main

ROOT = Path(__file__).resolve().parents[1]
KM = 1000.0


def _pop_row() -> np.ndarray:
    pop = np.zeros(100)
    pop[0:20] = 4000
    pop[20:50] = 1000
    pop[30:40] = 3000
    pop[50:70] = 1200
    pop[70:100] = 600
    pop[84:86] = 9000
    pop[90:100] = 1800
    return pop


def build_line_region(tmp_path: Path, subcentres: str = "") -> Path:
    """The line region of the module docstring; returns its scenario file."""
    nodes = {1000 + k: (k * KM, 0.0) for k in range(101)}
    write_osm(tmp_path / "roads.osm", nodes, [(list(nodes), {"highway": "primary"})])
    write_raster(tmp_path / "pop.tif", _pop_row()[None, :], X0, Y0 + 500, cell=KM)
    units = [("U0", "县城街道", "County Seat", 0, 20, "urban", True, True),
             ("U1", "甲镇", "Jia Town", 20, 50, "rural", False, True),
             ("U2", "乙镇", "Yi Town", 50, 70, "rural", False, False),
             ("U3", "丙镇", "Bing Town", 70, 100, "rural", False, True)]
    write_geojson(tmp_path / "units.geojson", [
        {"type": "Feature", "properties": {"unit_id": uid, "name": zh, "name_en": en, "zone": zone,
                                           "kind": "street" if zone == "urban" else "town",
                                           "county_seat": seat, "central_town": central},
         "geometry": {"type": "Polygon", "coordinates": polygon_lonlat(x0 * KM, -1000, x1 * KM, 1000)}}
        for uid, zh, en, x0, x1, zone, seat, central in units])
    facilities = [("H01", "县人民医院", "County People's Hospital", "hospital", 10),
                  ("T00", "城关镇卫生院", "Chengguan THC", "thc", 15),
                  ("T01", "甲镇中心卫生院", "Jia Central THC", "thc", 40),
                  ("T02", "乙镇卫生院", "Yi THC", "thc", 60),
                  ("T03", "丙镇中心卫生院", "Bing Central THC", "thc", 85)]
    write_geojson(tmp_path / "facilities.geojson", [
        {"type": "Feature", "properties": {"id": fid, "name": zh, "name_en": en, "type": kind},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x * KM, Y0))}}
        for fid, zh, en, kind, x in facilities])
    (tmp_path / "scenario.toml").write_text(f"""
[scenario]
name = "line"
crs = "EPSG:32648"

[standards]
profile = "chongqing"

[travel.profiles.car]
speeds_kmh = {{ primary = 60 }}

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
{subcentres}
""", encoding="utf-8")
    return tmp_path / "scenario.toml"


def _read_csv(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_default_candidates_known_answers(tmp_path):
    """Central-town THCs T00, T01, T03 are the candidates; H01 is found as the county hospital."""
    scenario = build_line_region(tmp_path)
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    rows = {r["facility_id"]: r for r in _read_csv(tmp_path / "out" / "subcentres.csv")}
    assert list(rows) == ["T01", "T03", "T00"]                      # rank order
    assert [rows[f]["rank"] for f in rows] == ["1", "2", "3"]
    pop = {f: float(r["pop_within_30min"]) for f, r in rows.items()}
    assert pop == pytest.approx({"T01": 114_000, "T03": 64_800, "T00": 125_000})
    new = {f: float(r["newly_covered_rural"]) for f, r in rows.items()}
    assert new == pytest.approx({"T01": 34_000, "T03": 64_800, "T00": 5_000})
    assert {f: r["meets_100k"] for f, r in rows.items()} == {"T01": "True", "T03": "False", "T00": "True"}
    assert {f: r["is_county_seat"] for f, r in rows.items()} == {"T01": "False", "T03": "False", "T00": "True"}
    assert rows["T00"]["eligible"] == "False"
    minutes = {f: float(r["minutes_from_county_hospital"]) for f, r in rows.items()}
    assert minutes == pytest.approx({"T01": 30, "T03": 75, "T00": 5}, abs=0.01)
    # dense cells (≥ 1,500/km²): U0, U1 30–40 km, U3 84–86 and 90–100 km
    conc = {f: float(r["settlement_concentration"]) for f, r in rows.items()}
    assert conc == pytest.approx({"T01": 70_000 / 114_000, "T03": 36_000 / 64_800, "T00": 110_000 / 125_000},
                                 abs=1e-4)
    assert {f: r["catchment_units"] for f, r in rows.items()} == {"T01": "3", "T03": "2", "T00": "2"}
    outside = {f: float(r["share_outside_own_unit"]) for f, r in rows.items()}
    assert outside == pytest.approx({"T01": 64_000 / 114_000, "T03": 18_000 / 64_800, "T00": 45_000 / 125_000},
                                    abs=1e-4)
    assert rows["T01"]["reasons"].startswith("reaches 114,000 people within 30 min (≥100,000 ✓); "
                                             "30 min from the county hospital; brings 34,000 rural people")
    assert "catchment spans 3 townships (56% outside its own)" in rows["T01"]["reasons"]
    assert rows["T00"]["reasons"].startswith("not eligible: stands in the county seat")
    assert "非县级政府驻地" in rows["T00"]["reasons_zh"] and "（≥10万 ✓）" in rows["T01"]["reasons_zh"]


def test_listed_candidates_rank_by_new_rural_people(tmp_path):
    """With T02 listed too: T03 ranks above T02 (more new rural people, fewer people in all)."""
    scenario = build_line_region(tmp_path, '[subcentres]\ncandidates = ["T00", "T01", "T02", "T03"]\n'
                                           'county_hospital = "H01"\n')
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    rows = _read_csv(tmp_path / "out" / "subcentres.csv")
    assert [r["facility_id"] for r in rows] == ["T01", "T03", "T02", "T00"]
    t02 = rows[2]
    assert float(t02["pop_within_30min"]) == pytest.approx(92_800)
    assert float(t02["newly_covered_rural"]) == pytest.approx(62_800)
    assert t02["meets_100k"] == "False" and t02["catchment_units"] == "3"


def test_threshold_setting_and_outputs(tmp_path):
    """minutes = 20 shrinks the catchments; the GeoPackage has both layers, the HTML its parts;
    a rerun gives identical files, and other files in the folder are kept."""
    scenario = build_line_region(tmp_path, "[subcentres]\nminutes = 20\nmin_population = 50000\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "coverage.html").write_text("from another command")
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    rows = {r["facility_id"]: r for r in _read_csv(out / "subcentres.csv")}
    # T01 @40 within 20 min: cells 20.5–59.5 = 50,000 (U1) + 12,000 (U2 50–60)
    assert float(rows["T01"]["pop_within_30min"]) == pytest.approx(62_000)
    assert rows["T01"]["meets_100k"] == "True" and rows["T01"]["minutes"] == "20.0"
    assert (out / "coverage.html").read_text() == "from another command"
    cand = gpd.read_file(out / "subcentres.gpkg", layer="candidates")
    catch = gpd.read_file(out / "subcentres.gpkg", layer="catchments")
    assert list(cand["facility_id"]) == list(rows) and len(catch) == 3
    assert catch.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    t01 = catch.set_index("facility_id").loc["T01"]
    assert t01.geometry.bounds[0] - X0 == pytest.approx(20_000, abs=1) and t01["cells"] == 40
    html = (out / "subcentres.html").read_text(encoding="utf-8")
    for text in ("20-min catchments", "County hospital", "Units", "图例 Legend", "新纳入20分钟圈的农村人口",
                 "OpenStreetMap contributors", "甲镇中心卫生院"):
        assert text in html
    first = {n: (out / n).read_bytes() for n in ("subcentres.csv", "subcentres.gpkg", "subcentres.html")}
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    assert all((out / n).read_bytes() == b for n, b in first.items()), "outputs differ between identical runs"


def _fails(scenario: Path, pattern: str, capsys) -> str:
    code = main(["subcentres", str(scenario), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert re.search(pattern, err, re.S), err
    assert not (scenario.parent / "out").exists()
    return err


def test_unknown_candidate_id(tmp_path, capsys):
    scenario = build_line_region(tmp_path, '[subcentres]\ncandidates = ["T01", "T99"]\n')
    _fails(scenario, r"subcentres\.candidates.*T99.*Fix:", capsys)


def test_bad_settings_reported_at_once(tmp_path, capsys):
    scenario = build_line_region(tmp_path, '[subcentres]\nminute = 20\nmin_population = -5\n'
                                           'county_hospital = "H99"\n')
    err = _fails(scenario, r"2 problem", capsys)
    assert "subcentres.minute" in err and "subcentres.min_population" in err
    scenario = build_line_region(tmp_path, '[subcentres]\ncounty_hospital = "H99"\n')
    _fails(scenario, r"subcentres\.county_hospital.*H99.*H01", capsys)


DEMO = ROOT / "geodata" / "demo"


@pytest.mark.skipif(not DEMO.exists(), reason="geodata/demo/ not generated (coverage-planner demo --regenerate)")
def test_demo_ranks_the_central_towns(tmp_path):
    units = json.loads((DEMO / "units.geojson").read_text(encoding="utf-8"))["features"]
    central = {f["properties"]["unit_id"] for f in units
               if f["properties"].get("central_town") and not f["properties"].get("county_seat")}
    assert len(central) == 3
    assert main(["subcentres", str(ROOT / "scenarios" / "demo.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    rows = _read_csv(tmp_path / "subcentres.csv")
    ranked = [r for r in rows if r["unit_id"] in central]
    assert {r["unit_id"] for r in ranked} == central
    assert sorted(int(r["rank"]) for r in rows) == list(range(1, len(rows) + 1))
    for r in ranked:
        assert r["eligible"] == "True" and r["reasons"] and r["reasons_zh"]
        assert float(r["pop_within_30min"]) > 0


def test_candidates_from_a_file(tmp_path):
    """candidates_path: a new site N1 at 40 km (not a facility) gets T01's catchment; unit from the map."""
    write_geojson(tmp_path / "sites.geojson", [
        {"type": "Feature", "properties": {"id": "N1", "name": "新址", "name_en": "New site"},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 40 * KM, Y0 + 100))}}])
    scenario = build_line_region(tmp_path, '[subcentres]\ncandidates_path = "sites.geojson"\n')
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    (row,) = _read_csv(tmp_path / "out" / "subcentres.csv")
    assert row["facility_id"] == "N1" and row["unit_id"] == "U1" and row["name"] == "新址"
    # 100 m off the road: the access leg (100 m at 5 km/h = 1.2 min) pushes the end cells of T01's
    # catchment (10.5 and 69.5 km, 29.5 min by road) to 30.7 min: 114,000 − 4,000 − 1,200
    assert float(row["pop_within_30min"]) == pytest.approx(108_800)
    assert float(row["minutes_from_county_hospital"]) == pytest.approx(30 + 1.2, abs=0.01)


def test_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["subcentres", "--help"])
    assert done.value.code == 0 and "county medical sub-centres" in capsys.readouterr().out
