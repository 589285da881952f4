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

The county hospital reaches the cells up to 39.5 km within 30 min. A cell's own-catchment test is
"strictly nearer to the candidate than to H01 @10, and not in U0 (the county seat)". By hand:

    T01 @40: gross 10.5–69.5 = 40,000 (U0) + 50,000 (U1) + 24,000 (U2) = 114,000;
             own 25.5–69.5 = 45,000 (U1 25–50) + 24,000 (U2) = 69,000; new rural 10,000 + 24,000 = 34,000
    T02 @60: gross 30.5–89.5 = 92,800; own 35.5–89.5 = 25,000 + 24,000 + 28,800 (U3 70–90) = 77,800
    T03 @85: gross = own 55.5–99.5 = 18,000 (U2) + 46,800 (U3) = 64,800; all new rural
    T00 @15: gross 0.5–44.5 = 125,000; own 20.5–44.5 (13.5–19.5 are in the seat; 12.5 is a tie with
             H01 and goes to the hospital) = 45,000; new rural 5,000 (U1 40–45)

Together (choose = 2 of T01, T02, T03): {T01, T03} serve 25.5–99.5 = 115,800; {T01, T02} 97,800;
{T02, T03} 95,800. T02 has the largest own catchment, so taking the best one first would give
97,800: the joint choice takes T01 (69,000) and T03 (+46,800) instead.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from conftest import X0, Y0, lonlat, polygon_lonlat, write_geojson, write_osm, write_raster
from refusals import refused_cli, warned

from coverage_planner.cli import main
from coverage_planner.scenario import load_scenario
from coverage_planner.subcentres import rank_subcentres

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


def build_line_region(tmp_path: Path, subcentres: str = "", profile: str = "chongqing",
                      extra: dict[str, dict] | None = None) -> Path:
    """The line region of the module docstring; returns its scenario file. ``extra`` adds properties
    to facilities by id (e.g. beds, grade)."""
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
        {"type": "Feature", "properties": {"id": fid, "name": zh, "name_en": en, "type": kind,
                                           **(extra or {}).get(fid, {})},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x * KM, Y0))}}
        for fid, zh, en, kind, x in facilities])
    (tmp_path / "scenario.toml").write_text(f"""
[scenario]
name = "line"
crs = "EPSG:32648"

[standards]
profile = "{profile}"

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


def _rows(tmp_path: Path, subcentres: str = "", **kw) -> dict[str, dict]:
    scenario = build_line_region(tmp_path, subcentres, **kw)
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    return {r["facility_id"]: r for r in _read_csv(tmp_path / "out" / "subcentres.csv")}


def _col(rows: dict[str, dict], col: str) -> dict[str, float]:
    return {f: float(r[col]) for f, r in rows.items()}


def _mean_minutes(x: float, lo: int, hi: int) -> float:
    """Population-weighted mean time (1 min per km) from cells lo … hi−1 to a centre at x km."""
    pop = _pop_row()[lo:hi]
    return float((pop * np.abs(np.arange(lo, hi) + 0.5 - x)).sum() / pop.sum())


# Chongqing's urban EMS radius is 3.5 km, which falls exactly on cell centres (x.5 km) around T00:
# 3.2 km keeps every cell clearly inside or outside.
EXACT_EMS = "[standards.overrides.ems_radius]\nurban_km = 3.2\n"


def test_own_catchment_known_answers(tmp_path):
    """Default candidates T00, T01, T03 (central towns); H01 found as the county hospital. Gross reach
    and own catchment differ as computed by hand in the module docstring."""
    rows = _rows(tmp_path, EXACT_EMS)
    assert list(rows) == ["T03", "T01", "T00"]                      # rank order (see the next test)
    assert [rows[f]["rank"] for f in rows] == ["1", "2", "3"]
    assert _col(rows, "gross_reach_pop") == pytest.approx({"T01": 114_000, "T03": 64_800, "T00": 125_000})
    assert _col(rows, "own_catchment_pop") == pytest.approx({"T01": 69_000, "T03": 64_800, "T00": 45_000})
    assert _col(rows, "newly_covered_rural") == pytest.approx({"T01": 34_000, "T03": 64_800, "T00": 5_000})
    assert {f: r["meets_100k"] for f, r in rows.items()} == {"T01": "False", "T03": "False", "T00": "False"}
    assert {f: r["is_county_seat"] for f, r in rows.items()} == {"T01": "False", "T03": "False", "T00": "True"}
    assert {f: r["preferred"] for f, r in rows.items()} == {"T01": "True", "T03": "True", "T00": "False"}
    assert _col(rows, "minutes_from_county_hospital") == pytest.approx({"T01": 30, "T03": 75, "T00": 5}, abs=0.01)
    # dense cells (≥ 1,500/km²): U1 30–40 km, U3 84–86 and 90–100 km (U0 is outside every own catchment)
    assert _col(rows, "settlement_concentration") == pytest.approx(
        {"T01": 30_000 / 69_000, "T03": 36_000 / 64_800, "T00": 30_000 / 45_000}, abs=1e-4)
    assert _col(rows, "catchment_mean_minutes") == pytest.approx(
        {"T01": _mean_minutes(40, 25, 70), "T03": _mean_minutes(85, 55, 100), "T00": _mean_minutes(15, 20, 45)},
        abs=0.01)
    assert {f: r["catchment_units"] for f, r in rows.items()} == {"T01": "2", "T03": "2", "T00": "1"}
    assert _col(rows, "share_outside_own_unit") == pytest.approx(
        {"T01": 24_000 / 69_000, "T03": 18_000 / 64_800, "T00": 1.0}, abs=1e-4)
    # EMS gain: no ambulance station yet; Chongqing's ems_radius by road: 10 km rural, urban 3.2 km here.
    # T01 @40: 30.5–49.5; T03 @85: 75.5–94.5; T00 @15: urban 12.5–17.5 (24,000) + rural 20.5–24.5 (5,000)
    assert _col(rows, "ems_gain_pop") == pytest.approx({"T01": 40_000, "T03": 34_800, "T00": 29_000})
    assert rows["T01"]["reasons"].startswith("above #3 城关镇卫生院 mainly on not being in the county seat "
                                             "(003 priority) (+2.00 points; score +")
    assert "own catchment 69,000 people within 30 min (<100,000 ✗; gross reach 114,000)" in rows["T01"]["reasons"]
    assert "in the county seat: not preferred" in rows["T00"]["reasons"]
    assert "不优先" in rows["T00"]["reasons_zh"] and "（<10万 ✗；总覆盖114,000人）" in rows["T01"]["reasons_zh"]
    assert rows["T00"]["decisive"] == "" and rows["T00"]["reasons"].startswith("ranked last")
    assert {r["selected"] for r in rows.values()} == {"False"}      # choose not set: rank only


def test_score_is_the_documented_weighted_sum_and_weights_change_the_order(tmp_path):
    """Default weights: T03 (remote, 75 min from the county hospital) ranks above T01 (a larger own
    catchment) and the reason names distance; with only own catchment weighted, T01 comes first."""
    rows = _rows(tmp_path)
    t01 = (3 * 0.69 + 0.5 * 30 / 30 + 30_000 / 69_000 + (1 - _mean_minutes(40, 25, 70) / 30) + 0.34 + 0.40)
    t03 = (3 * 0.648 + 0.5 * 75 / 30 + 36_000 / 64_800 + (1 - _mean_minutes(85, 55, 100) / 30) + 0.648 + 0.348)
    assert _col(rows, "score")["T01"] == pytest.approx(t01, abs=1e-4)
    assert _col(rows, "score")["T03"] == pytest.approx(t03, abs=1e-4)
    assert rows["T03"]["decisive"] == "distance" and rows["T01"]["decisive"] == "county_seat"
    assert rows["T03"]["reasons"].startswith("above #2 甲镇中心卫生院 mainly on distance from the county seat")
    zero = "\n".join(f"{k} = 0" for k in ("threshold", "county_seat", "distance", "concentration", "transport",
                                           "radiation", "ems", "beds", "grade"))
    rows = _rows(tmp_path, f"[subcentres.weights]\npopulation = 1\n{zero}\n")
    assert list(rows) == ["T01", "T03", "T00"]
    assert _col(rows, "score") == pytest.approx({"T01": 0.69, "T03": 0.648, "T00": 0.45})
    assert rows["T01"]["decisive"] == "population"


def test_joint_choice_takes_the_pair_that_serves_most(tmp_path):
    """choose = 2 among T01, T02, T03: T02 alone has the largest own catchment, but T01 + T03 serve
    115,800 people together against 97,800 for T02 + T01 (hand figures in the module docstring)."""
    rows = _rows(tmp_path, '[subcentres]\ncandidates = ["T01", "T02", "T03"]\ncounty_hospital = "H01"\nchoose = 2\n')
    assert _col(rows, "own_catchment_pop")["T02"] == pytest.approx(77_800)
    assert _col(rows, "gross_reach_pop")["T02"] == pytest.approx(92_800)
    assert {f: r["selected"] for f, r in rows.items()} == {"T01": "True", "T02": "False", "T03": "True"}
    assert {f: r["selection_order"] for f, r in rows.items()} == {"T01": "1", "T02": "0", "T03": "2"}
    assert rows["T02"]["marginal_gain_pop"] == ""
    gains = {f: float(rows[f]["marginal_gain_pop"]) for f in ("T01", "T03")}
    assert gains["T01"] == pytest.approx(69_000) and gains["T03"] == pytest.approx(46_800)
    assert "chosen 2 of 2, adding 46,800 people" in rows["T03"]["reasons"]
    assert "not among the 2 chosen together" in rows["T02"]["reasons"]


def test_sensitivity_band_and_threshold_setting(tmp_path):
    """T01's own catchment at 20, 30 and 45 min: 25.5–59.5 = 57,000; 69,000; 25.5–84.5 = 86,400.
    With minutes = 20 and min_population = 50,000 the 20-minute figure decides meets_100k."""
    rows = _rows(tmp_path)
    assert _col(rows, "own_catchment_pop_20min")["T01"] == pytest.approx(57_000)
    assert _col(rows, "own_catchment_pop_30min")["T01"] == pytest.approx(69_000)
    assert _col(rows, "own_catchment_pop_45min")["T01"] == pytest.approx(86_400)
    assert {f: r["rank_30min"] for f, r in rows.items()} == {f: r["rank"] for f, r in rows.items()}
    rows = _rows(tmp_path, "[subcentres]\nminutes = 20\nmin_population = 50000\nsensitivity_minutes = [45]\n")
    assert _col(rows, "own_catchment_pop")["T01"] == pytest.approx(57_000)
    assert rows["T01"]["meets_100k"] == "True" and rows["T01"]["minutes"] == "20.0"
    assert "own_catchment_pop_30min" not in rows["T01"] and "rank_45min" in rows["T01"]


def test_outputs_and_determinism(tmp_path):
    """The GeoPackage has three layers, the HTML its parts; a rerun gives identical files, and other
    files in the folder are kept."""
    scenario = build_line_region(tmp_path, "[subcentres]\nminutes = 20\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "coverage.html").write_text("from another command")
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    rows = {r["facility_id"]: r for r in _read_csv(out / "subcentres.csv")}
    assert (out / "coverage.html").read_text() == "from another command"
    cand = gpd.read_file(out / "subcentres.gpkg", layer="candidates")
    catch = gpd.read_file(out / "subcentres.gpkg", layer="catchments")
    own = gpd.read_file(out / "subcentres.gpkg", layer="own_catchments")
    assert list(cand["facility_id"]) == list(rows) and len(catch) == 3 and len(own) == 3
    assert catch.geometry.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    t01, t01_own = catch.set_index("facility_id").loc["T01"], own.set_index("facility_id").loc["T01"]
    assert t01.geometry.bounds[0] - X0 == pytest.approx(20_000, abs=1) and t01["cells"] == 40
    assert t01_own.geometry.bounds[0] - X0 == pytest.approx(25_000, abs=1) and t01_own["cells"] == 35
    html = (out / "subcentres.html").read_text(encoding="utf-8")
    for text in ("20-min catchments", "own catchments", "County hospital", "Units", "图例 Legend",
                 "新纳入20分钟圈的农村人口", "OpenStreetMap contributors", "甲镇中心卫生院"):
        assert text in html
    first = {n: (out / n).read_bytes() for n in ("subcentres.csv", "subcentres.gpkg", "subcentres.html")}
    assert main(["subcentres", str(scenario), "--quiet"]) == 0
    assert all((out / n).read_bytes() == b for n, b in first.items()), "outputs differ between identical runs"


def test_a_hospital_listed_as_candidate(tmp_path):
    """H01 (the only hospital) as a candidate is not its own rival: its own catchment is everyone
    within 30 min outside the seat (20.5–39.5 = 40,000); T01 still competes with it."""
    rows = _rows(tmp_path, '[subcentres]\ncandidates = ["H01", "T01"]\n')
    assert _col(rows, "own_catchment_pop") == pytest.approx({"H01": 40_000, "T01": 69_000})


def test_capability_from_the_facility_layer(tmp_path):
    """beds and grade (二级乙等 = 2.25) come from the facility layer and count in the score."""
    extra = {"T01": {"beds": 150, "grade": "二级乙等"}, "T03": {"beds": 40, "grade": ""}}
    rows = _rows(tmp_path, '[subcentres]\ncandidates = ["T01", "T03"]\n', extra=extra)
    assert _col(rows, "beds") == pytest.approx({"T01": 150, "T03": 40})
    assert rows["T01"]["grade"] == "二级乙等" and float(rows["T01"]["grade_level"]) == 2.25
    (tmp_path / "plain").mkdir()
    base = _rows(tmp_path / "plain", '[subcentres]\ncandidates = ["T01", "T03"]\n')
    gained = {f: _col(rows, "score")[f] - _col(base, "score")[f] for f in rows}
    assert gained == pytest.approx({"T01": 0.5 * 1.5 + 0.5 * 2.25, "T03": 0.5 * 0.4})
    assert "150 beds; grade 二级乙等" in rows["T01"]["reasons"]


def test_no_ems_rule_in_the_profile_is_said(tmp_path):
    scenario = build_line_region(tmp_path, profile="leshan-shizhong")
    with warned("Sub-centre EMS gain with a standards profile that has no EMS rule", match=r"ems_gain_pop"):
        result = rank_subcentres(load_scenario(scenario))
    assert result.table["ems_gain_pop"].isna().all() and result.ems_rule is None


def _refused(tmp_path: Path, subcentres: str, pattern: str, *, case: str, **kw) -> str:
    scenario = build_line_region(tmp_path, subcentres, **kw)
    out = refused_cli(case, ["subcentres", str(scenario), "--quiet"], match=pattern)
    assert not (scenario.parent / "out").exists()
    return out.message


def test_unknown_candidate_id(tmp_path):
    _refused(tmp_path, '[subcentres]\ncandidates = ["T01", "T99"]\n', r"subcentres\.candidates.*T99.*Fix:",
             case="Sub-centre candidate id not among the facilities")


def test_bad_settings_reported_at_once(tmp_path):
    _refused(tmp_path, '[subcentres]\nminute = 20\nmin_population = -5\nchoose = 1.5\nsensitivity_minutes = [20, -1]\n'
                       '[subcentres.weights]\npopulaton = 2\nbeds = -1\n',
             r"(?s)6 problem.*subcentres\.minute\b.*subcentres\.min_population.*subcentres\.sensitivity_minutes.*"
             r"subcentres\.choose.*subcentres\.weights\.populaton.*subcentres\.weights\.beds",
             case="Several bad [subcentres] settings at once")
    _refused(tmp_path, '[subcentres]\ncounty_hospital = "H99"\n', r"subcentres\.county_hospital.*H99.*H01",
             case="Sub-centre county hospital id not among the facilities")


def test_choose_more_than_the_candidates(tmp_path):
    _refused(tmp_path, "[subcentres]\nchoose = 4\n", r"choose = 4 but there are only 3 candidate",
             case="Sub-centres: choose more than there are candidates")


def test_unknown_ems_rule(tmp_path):
    _refused(tmp_path, '[subcentres]\nems_rule = "ems_speed"\n', r"ems_rule 'ems_speed'.*ems_radius",
             case="Sub-centre EMS gain on a rule the profile does not have")


@pytest.mark.parametrize("case, extra, pattern", [
    ("Sub-centre candidate with a grade that is not 一级/二级/三级", {"T01": {"grade": "甲级"}}, r"grade in row\(s\) 3 .*甲级"),
    ("Sub-centre candidate with a negative bed count", {"T03": {"beds": -5}}, r"bed count in row\(s\) 5 .*-5"),
])
def test_bad_capability_values(tmp_path, case, extra, pattern):
    _refused(tmp_path, "", pattern, case=case, extra=extra)


DEMO = ROOT / "coverage_planner" / "data" / "demo"


@pytest.mark.skipif(not DEMO.exists(), reason="coverage_planner/data/demo/ not generated (coverage-planner demo --regenerate)")
def test_demo_shows_both_outcomes(tmp_path):
    """The demo's three central towns: Maolin (T02, remote) honestly serves more than 100,000 people
    nearer to it than to any hospital; Suxi (T01) reaches 425,478 people but only 68,702 of them are
    its own (a town hospital and the district seat are close); Tuqiao (T03) is small. All three are
    chosen (choose = 3, Leshan 004 L331)."""
    units = json.loads((DEMO / "units.geojson").read_text(encoding="utf-8"))["features"]
    central = {f["properties"]["unit_id"] for f in units
               if f["properties"].get("central_town") and not f["properties"].get("county_seat")}
    assert len(central) == 3
    assert main(["subcentres", str(ROOT / "scenarios" / "demo.toml"), "--out", str(tmp_path), "--quiet"]) == 0
    rows = {r["facility_id"]: r for r in _read_csv(tmp_path / "subcentres.csv")}
    assert {r["unit_id"] for r in rows.values()} == central and list(rows) == ["T02", "T01", "T03"]
    assert _col(rows, "own_catchment_pop") == pytest.approx({"T02": 104_957.8, "T01": 68_701.9, "T03": 16_545.6},
                                                            abs=0.2)
    assert _col(rows, "gross_reach_pop") == pytest.approx({"T02": 115_707.1, "T01": 425_477.8, "T03": 20_282.1},
                                                          abs=0.2)
    assert {f: r["meets_100k"] for f, r in rows.items()} == {"T02": "True", "T01": "False", "T03": "False"}
    assert all(r["selected"] == "True" and r["reasons"] and r["reasons_zh"] for r in rows.values())
    assert sum(_col(rows, "marginal_gain_pop").values()) <= sum(_col(rows, "own_catchment_pop").values())
    assert _col(rows, "beds") == pytest.approx({"T02": 120, "T01": 120, "T03": 120})


def test_help(capsys):
    with pytest.raises(SystemExit) as done:
        main(["subcentres", "--help"])
    assert done.value.code == 0 and "county medical sub-centres" in capsys.readouterr().out


def _new_sites(folder: Path) -> list[tuple[str, str, float]]:
    """Two proposed sites on the road (not facilities): N1 at 30 km (甲镇), N2 at 75 km (丙镇)."""
    sites = [("N1", "新址一", 30.0), ("N2", "新址二", 75.0)]
    write_geojson(folder / "cand.geojson", [
        {"type": "Feature", "properties": {"id": i, "name": n},
         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x * KM, Y0))}} for i, n, x in sites])
    return sites


def _ranked(scenario: Path) -> pd.DataFrame:
    table = rank_subcentres(load_scenario(scenario)).table
    return pd.DataFrame(table.drop(columns="geometry")).assign(x=table.geometry.x, y=table.geometry.y)


def test_candidates_from_a_csv_with_经度_纬度_rank_as_from_geojson(tmp_path):
    """The sub-centre candidate reader is the facility reader: a CSV with 经度/纬度 columns, and the same
    CSV in GCJ-02 (Amap) coordinates with a 坐标系 column, give the GeoJSON's ranking."""
    from coverage_planner.coords import wgs84_to_gcj02

    scenario = build_line_region(tmp_path, '[subcentres]\ncandidates_path = "cand.geojson"\n')
    sites = _new_sites(tmp_path)
    lines, gcj = ["id,name,经度,纬度"], ["id,name,经度,纬度,坐标系"]
    for i, n, x in sites:
        lon, lat = lonlat(X0 + x * KM, Y0)
        glon, glat = wgs84_to_gcj02(lon, lat)
        lines.append(f"{i},{n},{lon!r},{lat!r}")
        gcj.append(f"{i},{n},{float(glon)!r},{float(glat)!r},gcj02")
    (tmp_path / "cand.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (tmp_path / "cand_gcj.csv").write_text("\n".join(gcj) + "\n", encoding="utf-8")
    expected = _ranked(scenario)
    assert sorted(expected["facility_id"]) == ["N1", "N2"]
    assert set(expected["name"]) == {"新址一", "新址二"} and (expected["own_catchment_pop"] > 0).all()
    text = scenario.read_text(encoding="utf-8")
    for name in ("cand.csv", "cand_gcj.csv"):
        scenario.write_text(text.replace("cand.geojson", name), encoding="utf-8")
        got = _ranked(scenario)
        np.testing.assert_allclose(got[["x", "y"]], expected[["x", "y"]], atol=0.05)
        pd.testing.assert_frame_equal(got.drop(columns=["x", "y"]), expected.drop(columns=["x", "y"]))
