"""Rule kinds with known answers: resource ratios and shares at their level, counts per population
band, per-village clinics, any_of, the walking profile, census scaling, and basis in the outputs.

Hand-built units and facilities; every expected figure is worked out in the docstring or comment.
"""

from __future__ import annotations

import json
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from conftest import X0, Y0, lonlat, write_geojson
from refusals import refused, warned

from coverage_planner.coverage import combine_any, summarise_counts, summarise_villages
from coverage_planner.standards import Rule, load_profile

UNITS = pd.DataFrame({"unit_id": ["A", "B", "C"], "name": ["甲街道", "乙镇", "丙镇"],
                      "kind": ["street", "town", "town"], "zone": ["urban", "rural", "rural"]})
POP = np.array([20000.0, 10000.0, 5000.0])   # 35,000 people


def facilities(**columns) -> pd.DataFrame:
    """H (hospital, A), T (thc, B), C (chc, A), E (ems, C), with the given attribute columns."""
    base = {"facility_id": ["H", "T", "C", "E"], "type": ["hospital", "thc", "chc", "ems"]}
    return pd.DataFrame({**base, **columns})


FAC_UNIT = np.array([0, 1, 0, 2])


def rule(kind: str, **values) -> Rule:
    return Rule(id=values.pop("id", kind), kind=kind, name_zh=kind, name_en=kind,
                facility_types=values.pop("facility_types", ("hospital", "thc", "chc")), source="", line="",
                **values)


def rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.set_index("unit_id")


# ------------------------------------------------------------------ resource ratios

def test_beds_per_1000_judged_once_for_the_region():
    """200 + 50 + 30 = 280 beds for 35,000 people = 8.0 per 1,000: meets 8 (inclusive), not 8.1;
    the units' own rates (A 11.5, B 5.0, C 0) are information, never failing units."""
    fac = facilities(beds=[200.0, 50.0, 30.0, 0.0])
    beds = rule("ratio", attribute="beds", min_count=8.0, per_people=1000, level="region")
    out = rows(summarise_counts(beds, UNITS, POP, fac, FAC_UNIT))
    assert out.loc["ALL", "value"] == 280 and out.loc["ALL", "rate"] == pytest.approx(8.0)
    assert out.loc["ALL", "pass"] is True
    assert out.loc["A", "rate"] == pytest.approx(11.5) and out.loc["B", "rate"] == pytest.approx(5.0)
    assert out.loc[["A", "B", "C"], "pass"].isna().all()
    strict = rows(summarise_counts(replace(beds, min_count=8.1), UNITS, POP, fac, FAC_UNIT))
    assert strict.loc["ALL", "pass"] is False
    capped = rows(summarise_counts(replace(beds, max_count=7.9, min_count=7.0), UNITS, POP, fac, FAC_UNIT))
    assert capped.loc["ALL", "pass"] is False and capped.loc["ALL", "maximum"] == pytest.approx(276.5)


def test_ratio_at_unit_level_judges_every_unit():
    """Doctors per 1,000 at unit level: A 40/20,000 = 2.0, B 30/10,000 = 3.0, C 0; min 2.5 → only B
    passes, so the region fails."""
    fac = facilities(doctors=[30.0, 30.0, 10.0, 0.0])
    out = rows(summarise_counts(rule("ratio", attribute="doctors", min_count=2.5, per_people=1000, level="unit"),
                                UNITS, POP, fac, FAC_UNIT))
    assert [out.loc[u, "pass"] for u in "ABC"] == [False, True, False] and out.loc["ALL", "pass"] is False


def test_missing_resource_column_is_not_checked():
    with warned("A resource rule (beds, doctors…) with no such column in the facility layer",
                match=r"is not checked: no facility .* gives nurses"):
        out = rows(summarise_counts(rule("ratio", attribute="nurses", min_count=1.0, per_people=1000, level="region"),
                                    UNITS, POP, facilities(), FAC_UNIT))
    assert out.loc["ALL", "pass"] is None


def test_blank_resource_values_decide_only_when_the_known_ones_do():
    """T's beds are blank. Known 230 beds = 6.57 per 1,000: meets 6 whatever T has (pass), but for 7
    the blank could decide, so no verdict."""
    fac = facilities(beds=[200.0, np.nan, 30.0, 0.0])
    meets = rows(summarise_counts(rule("ratio", attribute="beds", min_count=6.0, per_people=1000, level="region"), UNITS, POP,
                                  fac, FAC_UNIT))
    assert meets.loc["ALL", "pass"] is True and meets.loc["ALL", "facilities_without_value"] == 1
    with warned("Blank resource values (beds, doctors…) for some counting facilities",
                match=r"1 of 3 counting facilities have no beds"):
        open_ = rows(summarise_counts(rule("ratio", attribute="beds", min_count=7.0, per_people=1000, level="region"), UNITS, POP,
                                      fac, FAC_UNIT))
    assert open_.loc["ALL", "pass"] is None


def test_zhejiang_counts_only_the_ems_centres_ambulances():
    """35,000 people need 35,000 / 30,000 = 1.17 EMS ambulances; E has 1, the hospital 5: fails with the
    EMS centre's vehicles only (it would pass with all six)."""
    amb = load_profile("zhejiang").rule("ambulances_per_30k")
    fac = facilities(ambulances=[5.0, 0.0, 0.0, 1.0])
    out = rows(summarise_counts(amb, UNITS, POP, fac, FAC_UNIT))
    assert amb.level == "region" and amb.facility_types == ("ems",)
    assert out.loc["ALL", "value"] == 1 and out.loc["ALL", "required"] == pytest.approx(35000 / 30000)
    assert out.loc["ALL", "pass"] is False and out.loc[["A", "B", "C"], "pass"].isna().all()


# ------------------------------------------------------------------ shares

def test_negative_pressure_share():
    """E has 5 ambulances: 2 negative-pressure = 40% (passes ≥ 40%), 1 = 20% (fails)."""
    share = load_profile("zhejiang").rule("negative_pressure_share")
    ok = rows(summarise_counts(share, UNITS, POP, facilities(ambulances=[3.0, 0, 0, 5.0],
                                                             negative_pressure_ambulances=[3.0, 0, 0, 2.0]), FAC_UNIT))
    assert ok.loc["ALL", "value"] == pytest.approx(0.4) and ok.loc["ALL", "pass"] is True
    low = rows(summarise_counts(share, UNITS, POP, facilities(ambulances=[3.0, 0, 0, 5.0],
                                                              negative_pressure_ambulances=[3.0, 0, 0, 1.0]), FAC_UNIT))
    assert low.loc["ALL", "value"] == pytest.approx(0.2) and low.loc["ALL", "pass"] is False
    with warned("A share rule whose facility column is missing (negative-pressure ambulances)",
                match=r"negative_pressure_share .* is not checked"):
        none = rows(summarise_counts(share, UNITS, POP, facilities(ambulances=[3.0, 0, 0, 5.0]), FAC_UNIT))
    assert none.loc["ALL", "pass"] is None


def test_grassroots_beds_share_of_county_beds():
    """Ganzhou 003 L313: grassroots (thc, chc) 150 + 50 = 200 of 1,000 county beds = 20% (passes ≥ 20%);
    with the hospital at 900 beds, 200 / 1,100 = 18.2% fails."""
    share = load_profile("ganzhou").rule("grassroots_beds_share")
    ok = rows(summarise_counts(share, UNITS, POP, facilities(beds=[800.0, 150.0, 50.0, 0.0]), FAC_UNIT))
    assert ok.loc["ALL", "value"] == pytest.approx(0.2) and ok.loc["ALL", "pass"] is True
    low = rows(summarise_counts(share, UNITS, POP, facilities(beds=[900.0, 150.0, 50.0, 0.0]), FAC_UNIT))
    assert low.loc["ALL", "value"] == pytest.approx(200 / 1100) and low.loc["ALL", "pass"] is False


# ------------------------------------------------------------------ counts per population band

def test_county_hospital_by_population_band():
    """Bands: 1 up to 1 million, 2 from 1 million. 35,000 people and 1 hospital: pass; the same
    county with 1.2 million people needs 2 and fails."""
    band = rule("count_per_band", facility_types=("hospital",), level="region",
                bands=((0.0, 1.0), (1_000_000.0, 2.0)))
    small = rows(summarise_counts(band, UNITS, POP, facilities(), FAC_UNIT))
    assert small.loc["ALL", "required"] == 1 and small.loc["ALL", "pass"] is True
    big = rows(summarise_counts(band, UNITS, POP * 1_200_000 / 35_000, facilities(), FAC_UNIT))
    assert big.loc["ALL", "required"] == 2 and big.loc["ALL", "value"] == 1 and big.loc["ALL", "pass"] is False
    assert big.loc[["A", "B", "C"], "pass"].isna().all()


def test_chs_station_per_20000_people_per_street():
    """Street A of 45,000 people needs ceil(45,000 / 20,000) = 3 stations: 2 fail, 3 pass; towns are
    not judged by a street rule."""
    chs = load_profile("chongqing").rule("chs_per_20k")
    pop = np.array([45000.0, 10000.0, 5000.0])
    two = pd.DataFrame({"facility_id": ["S1", "S2"], "type": ["chs", "chs"]})
    out = rows(summarise_counts(chs, UNITS, pop, two, np.array([0, 0])))
    assert list(out.index) == ["A", "ALL"] and out.loc["A", "required"] == 3 and out.loc["A", "pass"] is False
    three = pd.concat([two, pd.DataFrame({"facility_id": ["S3"], "type": ["chs"]})], ignore_index=True)
    out = rows(summarise_counts(chs, UNITS, pop, three, np.array([0, 0, 0])))
    assert out.loc["A", "pass"] is True and out.loc["ALL", "pass"] is True


# ------------------------------------------------------------------ villages

def village_layer(points: bool = True) -> gpd.GeoDataFrame:
    """Four villages in a row, 1 km apart: V1 900 people and V2 700 (unit B), V3 3,000 and V4 500 (C)."""
    xs = np.array([0.0, 1000.0, 2000.0, 3000.0])
    geom = shapely.points(xs, 0.0) if points else shapely.box(xs - 500, -500, xs + 500, 500)
    return gpd.GeoDataFrame({"village_id": ["V1", "V2", "V3", "V4"], "name": ["一村", "二村", "三村", "四村"],
                             "population": [900.0, 700.0, 3000.0, 500.0], "zone": "rural",
                             "unit_id": ["B", "B", "C", "C"], "unit_name": ["乙镇", "乙镇", "丙镇", "丙镇"]},
                            geometry=geom, crs="EPSG:32648")


def clinics(*xs: float, types=None) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"facility_id": [f"K{i}" for i in range(len(xs))],
                             "type": types or ["village_clinic"] * len(xs)},
                            geometry=shapely.points(np.array(xs), 10.0), crs="EPSG:32648")


@pytest.mark.parametrize("points", [True, False], ids=["points", "polygons"])
def test_a_clinic_in_every_village_with_merge_and_branch(points):
    """Chongqing 001 L568, one clinic in V1: V2 (700 < 800) shares its neighbour V1's; V3 (3,000) has
    none and fails (a branch is allowed); V4 (500) has no neighbour with a clinic (V3 has none): fails.
    Unit B passes 2/2, C fails 0/2, the region fails 2/4 naming 三村 and 四村."""
    vc = load_profile("chongqing").rule("village_clinic_per_village")
    region = shapely.box(-500, -500, 3500, 500)
    out = rows(summarise_villages(vc, village_layer(points), clinics(0.0), region))
    assert out.loc["B", "value"] == 2 and out.loc["B", "shared"] == 1 and out.loc["B", "pass"] is True
    assert out.loc["C", "value"] == 0 and out.loc["C", "required"] == 2 and out.loc["C", "pass"] is False
    assert out.loc["ALL", "branch_allowed"] == 1 and out.loc["ALL", "failing_villages"] == "三村、四村"
    assert out.loc["ALL", "pass"] is False


def test_village_thresholds_of_ganzhou_and_zhejiang():
    """Ganzhou (> 800 people): V1 and V3 need one; clinic in V1 only → 1 of 2, fails. Zhejiang (> 1,000
    people, THC seats exempt): only V3 needs one, and with a THC in V3 nobody does → passes."""
    region = shapely.box(-500, -500, 3500, 500)
    gz = rows(summarise_villages(load_profile("ganzhou").rule("village_clinic_over_800"), village_layer(),
                                 clinics(0.0), region))
    assert gz.loc["ALL", "required"] == 2 and gz.loc["ALL", "value"] == 1 and gz.loc["ALL", "pass"] is False
    zj_rule = load_profile("zhejiang").rule("village_clinic_over_1000")
    zj = rows(summarise_villages(zj_rule, village_layer(), clinics(0.0), region))
    assert zj.loc["ALL", "required"] == 1 and zj.loc["ALL", "pass"] is False
    seat = rows(summarise_villages(zj_rule, village_layer(), clinics(0.0, 2000.0, types=["village_clinic", "thc"]),
                                   region))
    assert seat.loc["ALL", "required"] == 0 and seat.loc["ALL", "pass"] is True


def test_village_rule_without_a_villages_layer_is_not_checked():
    with warned("A per-village rule and a scenario without a [villages] layer",
                match=r"is not checked: the scenario has no \[villages\] layer"):
        out = summarise_villages(load_profile("chongqing").rule("village_clinic_per_village"), None, clinics(0.0))
    assert out["pass"].iloc[0] is None


# ------------------------------------------------------------------ any_of

def part(pass_b, pass_c, region_pass, zone_rows: bool) -> pd.DataFrame:
    unit = pd.DataFrame({"zone": ["rural", "rural"], "unit_id": ["B", "C"], "unit_name": ["乙镇", "丙镇"],
                         "population": [10000.0, 5000.0], "pass": [pass_b, pass_c]})
    region = pd.DataFrame({"zone": ["rural" if zone_rows else "all"], "unit_id": ["ALL"], "unit_name": ["全部 all"],
                           "population": [15000.0], "pass": [region_pass]})
    return pd.concat([unit, region], ignore_index=True)


def test_any_of_passes_per_unit_when_either_part_does():
    """Zhejiang 002 L105: B is beyond the radius but has a station; C is within the radius without a
    station. Each part fails for the county, yet every township meets one of them: the county passes."""
    either = load_profile("zhejiang").rule("ems_rural_or")
    radius = part(False, True, False, zone_rows=True)
    station = part(True, False, False, zone_rows=False)
    out = rows(combine_any(either, {"ems_radius": radius, "ems_station_per_township": station}))
    assert out.loc["B", "passed_by"] == "ems_station_per_township" and out.loc["C", "passed_by"] == "ems_radius"
    assert out.loc["ALL", "pass"] is True and out.loc["ALL", "passed_by"].startswith("every unit")
    neither = rows(combine_any(either, {"ems_radius": part(False, True, False, True),
                                        "ems_station_per_township": part(False, False, False, False)}))
    assert neither.loc["B", "pass"] is False and neither.loc["ALL", "pass"] is False


def test_station_in_every_township_passes_zhejiang_rural_ems(tiny_region):
    """The tiny region's rural town T1 is partly cut off (ems_radius fails in rural), but with an EMS
    station in T1 it meets the plan's 「或」: ems_rural_or passes for T1 and the region."""
    fac = json.loads((tiny_region.parent / "facilities.geojson").read_text())
    fac["features"].append({"type": "Feature", "properties": {"id": "E2", "name": "东镇急救点", "type": "ems",
                                                              "ambulances": 1, "turnout_min": 1.0},
                            "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 1500.0, Y0 + 500.0))}})
    write_geojson(tiny_region.parent / "facilities.geojson", fac["features"])
    tiny_region.write_text(tiny_region.read_text().replace('profile = "chongqing"', 'profile = "zhejiang"'))
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario

    from dataclasses import replace

    scn = load_scenario(tiny_region)   # the island is 350-650 m from the grid: keep it cut off
    scn.profile = replace(scn.profile, max_access_m=300.0)
    s = run(scn, quiet=True, isochrones=False).summary
    radius = s[(s.rule_id == "ems_radius") & (s.unit_id == "ALL") & (s.zone == "rural")]
    assert bool(radius["pass"].iloc[0]) is False
    either = s[s.rule_id == "ems_rural_or"].set_index("unit_id")
    assert either.loc["T1", "pass"] is True and "ems_station_per_township" in either.loc["T1", "passed_by"]
    assert list(either.index) == ["T1", "ALL"] and either.loc["ALL", "pass"] is True


# ------------------------------------------------------------------ walking, census, outputs

def test_walk_profile_for_the_urban_circle(tiny_region):
    """[standards.overrides.service_circle] travel_profile = "walk": cell (150, 250) walks 150 m to the
    road and 750 m along it to the CHC at 5 km/h: 900 / (5 / 3.6) = 648 s (the posted 36 km/h is for
    vehicles); a one-way street is walked against its direction."""
    from coverage_planner.network import TRAVEL_PROFILES, with_speeds
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario
    from test_pipeline import cell_at

    tiny_region.write_text(tiny_region.read_text() + '\n[standards.overrides.service_circle]\ntravel_profile = "walk"\n')
    result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert cell_at(result.cells, 150, 250)["service_circle_time_min"] * 60 == pytest.approx(648.0, abs=1e-2)
    net = result.models["walk"].net
    assert set(net.seg_speed_kmh) == {5.0} and net.seg_bwd.all()
    assert "motorway" not in TRAVEL_PROFILES["walk"]["speeds_kmh"] and "trunk" not in TRAVEL_PROFILES["walk"]["speeds_kmh"]
    one_way = replace(net, seg_fwd=np.ones(net.n_segments, bool), seg_bwd=np.zeros(net.n_segments, bool))
    assert with_speeds(one_way, TRAVEL_PROFILES["walk"]).seg_bwd.all()


def test_population_scaled_to_census_totals(tiny_region):
    """Raster: 西街道 1,320 and 东镇 2,040 people. Census 2,640 and 1,020: every West cell doubles, every
    East cell halves; the total is the census total 3,660 and each unit's cells sum to its figure."""
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario

    (tiny_region.parent / "census.csv").write_text("name,常住人口\n西街道,2640\n东镇,1020\n", encoding="utf-8")
    tiny_region.write_text(tiny_region.read_text().replace(
        'path = "pop.tif"', 'path = "pop.tif"\ncensus_scale_path = "census.csv"\ncensus_scale_column = "常住人口"'))
    with warned("Population scaled to census totals per unit", match=r"3,360 people in the raster → 3,660"):
        result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert result.population_total == pytest.approx(3660)
    by_unit = result.cells.groupby("unit_id")["population"].sum()
    assert by_unit["S1"] == pytest.approx(2640) and by_unit["T1"] == pytest.approx(1020)
    report = result.region.census_scaling.set_index("unit_id")
    assert report.loc["S1", "factor"] == pytest.approx(2.0) and report.loc["T1", "factor"] == pytest.approx(0.5)
    from coverage_planner.outputs import summary_json

    listed = {r["unit_id"]: r for r in summary_json(result)["census_scaling"]}
    assert listed["T1"]["raster_population"] == 2040 and listed["T1"]["census_population"] == 1020


def test_census_table_missing_a_unit_is_refused(tiny_region):
    from coverage_planner.pipeline import run
    from coverage_planner.scenario import load_scenario

    (tiny_region.parent / "census.csv").write_text("name,population\n西街道,2640\n", encoding="utf-8")
    tiny_region.write_text(tiny_region.read_text().replace('path = "pop.tif"',
                                                           'path = "pop.tif"\ncensus_scale_path = "census.csv"'))
    with refused("A census table for scaling that lacks a unit", match=r"1 unit\(s\) have no row.*东镇"):
        run(load_scenario(tiny_region), quiet=True, isochrones=False)


def test_basis_and_level_in_every_output(tiny_region, capsys):
    """summary.csv and summary.json carry basis and level; summary.json lists the not-checked
    standards; the terminal table marks the assumption."""
    from coverage_planner.cli import main

    assert main(["run", str(tiny_region)]) == 0
    printed = capsys.readouterr().out
    assert "[assumption]" in printed and "[plan]" in printed
    out = tiny_region.parent / "out"
    csv = pd.read_csv(out / "summary.csv")
    assert set(csv.loc[csv.rule_id == "ems_response", "basis"]) == {"assumption"}
    assert set(csv.loc[csv.rule_id == "ambulances_per_10k", "level"]) == {"region"}
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    by_id = {r["id"]: r for r in data["rules"]}
    assert by_id["ems_response"]["basis"] == "assumption" and by_id["ems_response"]["basis_note"]
    assert by_id["ems_radius"]["measure"] == "network_distance" and by_id["service_circle"]["travel_profile"] == "car"
    assert {n["id"] for n in data["not_checked"]} >= {"subcentres_120", "call_answer_dispatch"}


# ------------------------------------------------------------------ profile refusals

@pytest.mark.parametrize("case, table, pattern", [
    ("A standards rule that does not say plan or assumption (basis)",
     'id = "r"\nkind = "ratio"\nlevel = "region"', r"does not say whether the plan sets it"),
    ("An assumption rule without basis_note",
     'id = "r"\nkind = "ratio"\nlevel = "region"\nbasis = "assumption"', r"assumption without a basis_note"),
    ("A ratio rule on an attribute facilities do not carry",
     'id = "r"\nkind = "ratio"\nlevel = "region"\nbasis = "plan"\nattribute = "clinics"', r"is not read from facilities"),
    ("A rule level other than region or unit",
     'id = "r"\nkind = "ratio"\nlevel = "county"\nbasis = "plan"', r"level 'county' is not allowed"),
    ("Population bands that do not start at 0 people",
     'id = "r"\nkind = "count_per_band"\nbasis = "plan"\nbands = [{min_people = 10, count = 1}]',
     r"bands starting at 0 people"),
    ("An any_of rule naming a rule the profile lacks",
     'id = "r"\nkind = "any_of"\nbasis = "plan"\nparts = ["nope", "also_nope"]', r"must name two or more other rules"),
])
def test_bad_rules_are_refused(tmp_path, case, table, pattern):
    (tmp_path / "mine.toml").write_text(f"[profile]\nid = \"mine\"\n\n[[rules]]\n{table}\n", encoding="utf-8")
    with refused(case, match=pattern):
        load_profile("mine.toml", tmp_path)


def test_not_checked_entry_needs_why(tmp_path):
    (tmp_path / "mine.toml").write_text('[profile]\nid = "mine"\n\n[[not_checked]]\nid = "x"\nsource = "s"\n'
                                        'line = "1"\nquote = "q"\n', encoding="utf-8")
    with refused("A not_checked standard without why", match=r"lacks \['why'\]"):
        load_profile("mine.toml", tmp_path)


def test_demo_villages_layer_loads_with_population():
    """The demo's villages.geojson: one point per village of the generated region, integer people,
    each inside a unit; the per-village rule reads it through the ordinary loader."""
    from coverage_planner.generators.demo import DEMO_DIR, build_region
    from coverage_planner.layers import LayerSpec
    from coverage_planner.villages import load_villages

    villages = load_villages(LayerSpec(path=DEMO_DIR / "villages.geojson", key="villages"), "EPSG:32648")
    made = build_region()["villages"]
    assert len(villages) == len(made) and villages["population"].tolist() == [round(v.people) for v in made]
    assert (villages.geom_type == "Point").all() and villages["name"].str.endswith("村").all()


def test_resource_columns_read_under_chinese_aliases(tmp_path):
    """床位 and 执业（助理）医师 are read as beds and doctors; an absent resource is NaN (not zero); a
    column named under [facilities.columns] that the file lacks is refused."""
    from coverage_planner.facilities import load_facilities
    from coverage_planner.layers import LayerSpec

    feats = [{"type": "Feature", "properties": {"id": "H1", "type": "hospital", "床位": 120, "执业（助理）医师": 35},
              "geometry": {"type": "Point", "coordinates": list(lonlat(X0, Y0))}},
             {"type": "Feature", "properties": {"id": "T1", "type": "thc", "床位": None, "执业（助理）医师": 4},
              "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + 500, Y0))}}]
    write_geojson(tmp_path / "fac.geojson", feats)
    fac = load_facilities(LayerSpec(path=tmp_path / "fac.geojson", key="facilities"), "EPSG:32648")
    assert fac["beds"].iloc[0] == 120 and np.isnan(fac["beds"].iloc[1])
    assert fac["doctors"].tolist() == [35, 4] and fac["nurses"].isna().all()
    spec = LayerSpec(path=tmp_path / "fac.geojson", key="facilities", columns={"nurses": "护士数"})
    with refused("A resource column named in the scenario that the facility file lacks",
                 match=r"nurses \(column '护士数'\)"):
        load_facilities(spec, "EPSG:32648")


def test_scenario_override_turns_a_plan_figure_into_an_assumption(tiny_region):
    """[standards.overrides.ems_radius] urban_km = 4 is not Chongqing's 3.5 km: the rule is then shown
    as an assumption naming the change; untouched rules keep basis = plan."""
    from coverage_planner.scenario import load_scenario

    tiny_region.write_text(tiny_region.read_text() + "\n[standards.overrides.ems_radius]\nurban_km = 4.0\n")
    prof = load_scenario(tiny_region).profile
    radius = prof.rule("ems_radius")
    assert radius.urban == 4.0 and radius.basis == "assumption" and "urban_km = 4.0" in radius.basis_note
    assert prof.rule("service_circle").basis == "plan"
