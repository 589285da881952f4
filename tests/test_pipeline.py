"""The coverage pipeline on the tiny hand-built region: exact figures, outputs, and bad input."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from conftest import X0, Y0, lonlat, write_geojson, write_raster
from refusals import record

from coverage_planner.cli import main
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario


def cell_at(cells: gpd.GeoDataFrame, x: float, y: float):
    """The cell whose centre is (x, y) metres from the tiny region's origin."""
    cx = cells.geometry.x.to_numpy() - X0
    cy = cells.geometry.y.to_numpy() - Y0
    (hit,) = np.flatnonzero((np.abs(cx - x) < 1) & (np.abs(cy - y) < 1))
    return cells.iloc[hit]


def test_known_measures_for_one_cell(tiny_region):
    """Cell (150, 250): nearest road x=0 at 150 m, EMS E1 on node (0, 500) with 1 min turnout.

    Ambulance on residential maxspeed 36 km/h = 10 m/s; access leg 150 m at 5 km/h = 108 s.
    Network distance 250 + 150 = 400 m; time 60 + 25 + 108 = 193 s. Straight line to (0, 500):
    hypot(150, 250). Car to the CHC at (500, 500) (to_facility, 36 × 0.85 km/h): 750 m of road.
    """
    result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    c = cell_at(result.cells, 150, 250)
    assert c["ems_radius_network_km"] == pytest.approx(0.4, abs=1e-5)
    assert c["ems_radius_straight_km"] == pytest.approx(np.hypot(150, 250) / 1000, abs=1e-5)
    assert c["ems_response_time_min"] * 60 == pytest.approx(193.0, abs=1e-2)
    assert c["service_circle_network_km"] == pytest.approx(0.9, abs=1e-5)
    assert c["service_circle_time_min"] * 60 == pytest.approx(108 + 750 / (36 * 0.85 / 3.6), abs=1e-2)
    assert c["ems_radius_nearest"] == "E1" and c["service_circle_nearest"] == "C1"


def test_totals_zones_and_cut_off(tiny_region):
    """Population total equals the raster sum; the cut-off road's people are gaps with that reason.

    The isolated road at x = 2600 is 350–650 m from the grid's people there; with the profile's
    no-road-access distance lowered to 300 m no connected road is close enough, so they stay cut off
    (with the default 1,000 m they join the grid: tests/test_snapping_inputs.py).
    """
    from dataclasses import replace

    scn = load_scenario(tiny_region)
    scn.profile = replace(scn.profile, max_access_m=300.0)
    with pytest.warns(UserWarning, match=r"not connected.*14\.29%"):
        result = run(scn, quiet=True, isochrones=False)
    assert result.population_total == pytest.approx(12 * 28 * 10.0)
    s = result.summary
    radius = s[(s.rule_id == "ems_radius") & (s.unit_id == "ALL")].set_index("zone")
    assert radius.loc["urban", "population"] == pytest.approx(1320)   # x < 1000: 11 columns × 12 × 10
    assert radius.loc["rural", "population"] == pytest.approx(2040)
    assert radius.loc["urban", "share_covered"] == pytest.approx(1.0)
    # the 4 columns x = 2300..2600 (480 people) snap to the isolated road: cut off, not covered
    assert radius.loc["rural", "gap_cut_off"] == pytest.approx(480)
    assert radius.loc["rural", "covered_population"] == pytest.approx(2040 - 480)
    assert bool(radius.loc["all", "pass"]) is False
    cut = result.cells[result.cells["ems_radius_gap"] == "cut_off"]
    assert (cut.geometry.x - X0).min() > 2250


def test_inclusive_threshold(tiny_region):
    """A cell exactly at the rural limit is covered; lowering the limit by 1 m uncovers it."""
    scn = load_scenario(tiny_region)
    result = run(scn, quiet=True, isochrones=False)
    c = cell_at(result.cells, 1950, 950)           # rural cell, network distance to E1 known exactly
    exact_km = float(c["ems_radius_network_km"])
    text = tiny_region.read_text() + f"\n[standards.overrides.ems_radius]\nrural_km = {exact_km!r}\n"
    tiny_region.write_text(text.replace('profile = "chongqing"', 'profile = "chongqing"\n'))
    covered = cell_at(run(load_scenario(tiny_region), quiet=True, isochrones=False).cells, 1950, 950)
    assert bool(covered["ems_radius_pass"]) is True
    tiny_region.write_text(text.replace(f"rural_km = {exact_km!r}", f"rural_km = {exact_km - 0.001!r}"))
    missed = cell_at(run(load_scenario(tiny_region), quiet=True, isochrones=False).cells, 1950, 950)
    assert bool(missed["ems_radius_pass"]) is False and missed["ems_radius_gap"] == "beyond_threshold"


def test_count_rules(tiny_region):
    """The town has no THC (fail), the street has its CHC (pass); ambulances 2 for 3,360 people pass 1/10k.

    The ambulance ratio is a municipal figure (level region): judged once for the whole region; the
    per-unit rows are information without a verdict."""
    s = run(load_scenario(tiny_region), quiet=True, isochrones=False).summary
    thc = s[s.rule_id == "thc_per_township"].set_index("unit_id")
    assert thc.loc["T1", "value"] == 0 and not thc.loc["T1", "pass"] and not thc.loc["ALL", "pass"]
    chc = s[s.rule_id == "chc_per_street"].set_index("unit_id")
    assert chc.loc["S1", "value"] == 1 and chc.loc["S1", "pass"]
    amb = s[s.rule_id == "ambulances_per_10k"].set_index("unit_id")
    assert amb.loc["ALL", "value"] == 2 and amb.loc["ALL", "required"] == pytest.approx(0.336)
    assert amb.loc["ALL", "pass"] is True or amb.loc["ALL", "pass"] == True  # noqa: E712
    assert amb.loc["S1", "pass"] is None and amb.loc["T1", "pass"] is None   # T1 has no station: not a failing unit


def test_cli_outputs_and_determinism(tiny_region):
    """The CLI writes every output; a second run writes identical files."""
    out = tiny_region.parent / "out"
    assert main(["run", str(tiny_region), "--quiet"]) == 0
    names = {"coverage.html", "cells.gpkg", "isochrones.gpkg", "summary.csv", "summary.json"}
    assert names <= {p.name for p in out.iterdir()}
    first = {n: (out / n).read_bytes() for n in names}
    summary = json.loads(first["summary.json"])
    assert summary["population_total"] == pytest.approx(3360)
    assert {r["id"] for r in summary["rules"]} >= {"ems_radius", "service_circle", "thc_per_township"}
    html = first["coverage.html"].decode()
    for layer in ("Uncovered", "isochrones", "EMS station", "Units", "Legend", "OpenStreetMap contributors"):
        assert layer in html
    iso = gpd.read_file(out / "isochrones.gpkg")
    assert set(iso["minutes"]) == {5.0, 10.0} and set(iso["facility_id"]) == {"E1", "C1"}
    assert main(["run", str(tiny_region), "--quiet"]) == 0
    assert all((out / n).read_bytes() == first[n] for n in names), "outputs differ between identical runs"


def _fails_cleanly(scenario: Path, pattern: str, capsys, case: str | None = None) -> str:
    """Run the CLI; it must exit 2 with one message matching pattern, no traceback, no outputs.
    ``case`` names the input for the README's bad-input catalogue."""
    code = main(["run", str(scenario), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    assert re.search(pattern, err, re.S), err
    assert not (scenario.parent / "out").exists()
    if case:
        record("refused", case, err.strip().removeprefix("error: "))
    return err


def test_missing_file(tiny_region, capsys):
    (tiny_region.parent / "pop.tif").unlink()
    _fails_cleanly(tiny_region, r"population\.path.*does not exist.*Fix:", capsys, case="A layer file that does not exist")


def test_unknown_column(tiny_region, capsys):
    tiny_region.write_text(tiny_region.read_text().replace(
        'path = "facilities.geojson"', 'path = "facilities.geojson"\n[facilities.columns]\ntype = "机构类型"'))
    _fails_cleanly(tiny_region, r"facilities\.columns.*机构类型.*The file has", capsys, case="A column name that is not in the file")


def test_layer_without_crs(tiny_region, capsys):
    write_raster(tiny_region.parent / "pop.tif", np.ones((3, 3)), X0, Y0 + 300, crs=None)
    _fails_cleanly(tiny_region, r"pop\.tif.*no coordinate reference system", capsys, case="A layer without a CRS")


def test_swapped_lat_lon(tiny_region, capsys):
    path = tiny_region.parent / "facilities.geojson"
    data = json.loads(path.read_text())
    for f in data["features"]:
        f["geometry"]["coordinates"] = f["geometry"]["coordinates"][::-1]
    path.write_text(json.dumps(data))
    _fails_cleanly(tiny_region, r"facilities\.geojson.*geometry.*swapped", capsys)


def test_empty_facility_layer(tiny_region, capsys):
    write_geojson(tiny_region.parent / "facilities.geojson", [])
    _fails_cleanly(tiny_region, r"facilit.*empty", capsys)


def test_facility_far_from_road(tiny_region, capsys):
    path = tiny_region.parent / "facilities.geojson"
    data = json.loads(path.read_text())
    data["features"][0]["geometry"]["coordinates"] = list(lonlat(X0 + 250, Y0 + 250 + 1500))
    path.write_text(json.dumps(data))
    _fails_cleanly(tiny_region, r"E1 \(750 m\).*facility_max_access_m", capsys)


def test_unknown_profile_and_rule_key(tiny_region, capsys):
    text = tiny_region.read_text()
    tiny_region.write_text(text.replace('profile = "chongqing"', 'profile = "atlantis"'))
    _fails_cleanly(tiny_region, r"unknown standards profile 'atlantis'.*chongqing", capsys)
    tiny_region.write_text(text + '\n[standards.overrides.ems_radius]\nurban_kilometres = 4\n')
    _fails_cleanly(tiny_region, r"standards\.overrides\.ems_radius\.urban_kilometres.*urban_km", capsys)
    tiny_region.write_text(text.replace('profile = "chongqing"', 'profile = "chongqing"\nrules = ["ems_radiuss"]'))
    _fails_cleanly(tiny_region, r"unknown rule key.*ems_radiuss", capsys)


def test_negative_or_nan_population(tiny_region, capsys):
    values = np.full((3, 3), 5.0)
    values[1, 1] = -3.0
    write_raster(tiny_region.parent / "pop.tif", values, X0, Y0 + 300)
    _fails_cleanly(tiny_region, r"negative or missing \(NaN\) population", capsys)
    values[1, 1] = np.nan
    write_raster(tiny_region.parent / "pop.tif", values, X0, Y0 + 300, nodata=-9999.0)
    _fails_cleanly(tiny_region, r"negative or missing \(NaN\) population", capsys)


def test_every_scenario_problem_reported_at_once(tiny_region, capsys):
    tiny_region.write_text(tiny_region.read_text().replace('[roads]\npath = "roads.osm"', '[roads]\npath = "nope.osm"')
                           + '\n[bogus]\nx = 1\n')
    err = _fails_cleanly(tiny_region, r"2 problem", capsys)
    assert "roads.path" in err and "[bogus]" in err


OVERRIDE = "\n[standards.overrides.ems_radius]\n"


@pytest.mark.parametrize("old, new, pattern", [
    ("", OVERRIDE + 'urban_km = "abc"', r"standards\.overrides\.ems_radius\.urban_km.*'abc'"),
    ("", OVERRIDE + "urban_km = -2", r"urban_km must be a number above 0"),
    ("", OVERRIDE + 'applies_to_zones = "suburb"', r"applies_to_zones names unknown zone.*suburb"),
    ("", OVERRIDE + 'min_share = "most"', r"scenario\.toml.*min_share must be a number"),
    ("isochrone_minutes = [5, 10]", "isochrone_minutes = 15", r"outputs\.isochrone_minutes.*\[15, 30\]"),
    ("[roads]", '[travel]\nfacility_max_access_m = "far"\n\n[roads]', r"travel\.facility_max_access_m.*'far'"),
    ('path = "pop.tif"', 'path = "pop.tif"\ncell_size_m = 0', r"population\.cell_size_m.*positive"),
    ("[roads]", '[travel.profiles.ambulance]\nmax_kmh = "fast"\n\n[roads]', r"travel\.profiles\.ambulance\.max_kmh"),
    ("[scenario]", 'travel = "fast"\n[scenario]', r"travel must be a table"),
    ("[roads]", '[travel.profiles.ambulance]\nspeeds_kmh = { motorway = "fast" }\n\n[roads]',
     r"travel\.profiles\.ambulance\.speeds_kmh"),
    ('profile = "chongqing"', 'profile = "chongqing"\nrules = 5', r"standards\.rules must be a list"),
    ("", OVERRIDE + 'travel_profile = ["car"]', r"travel_profile must be text"),
    ("", OVERRIDE + "min_share = 95", r"min_share is a share between 0 and 1"),
    ('path = "facilities.geojson"', 'path = "facilities.geojson"\ntypes = 5', r"facilities\.types must be a table"),
    ('[scenario]\nname = "tiny"', '[scenario]\nname = 7', r"scenario\.name must be text"),
])
def test_wrong_types_in_scenario(tiny_region, capsys, old, new, pattern):
    """Values of the wrong type or sign get a message naming the key, not a traceback."""
    text = tiny_region.read_text()
    assert old in text
    tiny_region.write_text(text.replace(old, new, 1) if old else text + new + "\n")
    _fails_cleanly(tiny_region, pattern, capsys)


@pytest.mark.parametrize("text, pattern", [
    ("profile = 5\n", r"\[profile\] table and \[\[rules\]\]"),
    ("rules = [5]\n", r"\[profile\] table and \[\[rules\]\]"),
    ('[profile]\nmin_share = "most"\n', r"profile\.min_share must be a number"),
])
def test_malformed_profile_file(tmp_path, text, pattern):
    from coverage_planner.errors import InputError
    from coverage_planner.standards import load_profile

    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=pattern):
        load_profile("mine.toml", tmp_path)


def test_facility_without_location(tiny_region, capsys):
    path = tiny_region.parent / "facilities.geojson"
    data = json.loads(path.read_text())
    data["features"][1]["geometry"] = None
    path.write_text(json.dumps(data))
    _fails_cleanly(tiny_region, r"facilities\.geojson.*1 facility has no location \(feature 2", capsys,
                   case="A facility without a location")


def test_console_script_help():
    """Every sub-command has --help (through the installed entry point's module)."""
    for cmd in ("run", "isochrones", "demo"):
        done = subprocess.run([sys.executable, "-m", "coverage_planner.cli", cmd, "--help"],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0 and "usage" in done.stdout


def test_gcj02_looking_offset_is_warned(tiny_region):
    """Facilities all 420 m north of the northern street: a warning names GCJ-02."""
    path = tiny_region.parent / "facilities.geojson"
    data = json.loads(path.read_text())
    data["features"] = [{"type": "Feature", "properties": {"id": f"E{i}", "type": "ems", "ambulances": 1},
                         "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + 1420))}}
                        for i, x in enumerate((250, 750, 1250, 1750))]
    path.write_text(json.dumps(data))
    tiny_region.write_text(tiny_region.read_text().replace("[outputs]", "[travel]\nfacility_max_access_m = 800\n\n[outputs]"))
    with pytest.warns(UserWarning, match=r"GCJ-02.*coords = \"gcj02\""):
        run(load_scenario(tiny_region), quiet=True, isochrones=False)


def test_mean_time_counts_people_without_time_apart():
    """Mean over people with a modelled time; the unreachable are reported, not silently dropped."""
    import pandas as pd

    from dataclasses import replace

    from coverage_planner.coverage import judge_cells, summarise_spatial
    from coverage_planner.standards import Rule

    rule = Rule(id="m", kind="mean_time", name_zh="m", name_en="m", facility_types=("ems",), source="", line="",
                urban=1.7, rural=1.0, measure="travel_time", min_share=0.5)
    cells = pd.DataFrame({"zone": ["urban", "urban", "urban", "rural"], "unit_id": ["A", "A", "B", "C"],
                          "unit_name": ["a", "a", "b", "c"], "population": [10.0, 20.0, 30.0, 5.0]})
    value = np.array([60.0, 120.0, np.inf, 30.0])
    limit = np.array([rule.threshold(z) for z in cells["zone"]])
    passed, reason = judge_cells(value, limit, np.zeros(4), np.zeros(4, bool), 1000.0)
    out = summarise_spatial(rule, cells, passed, reason, np.ones(4, bool), value=value)
    urban = out[(out["zone"] == "urban") & (out["unit_id"] == "ALL")].iloc[0]
    assert urban["value"] == pytest.approx((10 * 60 + 20 * 120) / 30 / 60)  # 1.667 min
    assert urban["population_no_time"] == 30 and bool(urban["pass"]) is True
    b = out[out["unit_id"] == "B"].iloc[0]
    assert np.isinf(b["value"]) and b["population_no_time"] == 30 and bool(b["pass"]) is False
    region = out[out["zone"] == "all"].iloc[0]
    assert region["population_no_time"] == 30 and region["population"] == 65
    # urban passes on its mean (1.67 ≤ 1.7 min) only while the 30 people without a time are tolerated
    strict_share = summarise_spatial(replace(rule, min_share=0.95), cells, passed, reason, np.ones(4, bool),
                                     value=value)
    urban = strict_share[(strict_share["zone"] == "urban") & (strict_share["unit_id"] == "ALL")].iloc[0]
    assert bool(urban["pass"]) is False  # 30 of 60 people have no time, more than 5%


def test_rules_with_the_same_search_share_it(tiny_region, monkeypatch):
    """ems_radius and ems_response use the same stations, profile and direction: one search serves
    both; service_circle (car, towards clinics) needs its own."""
    import coverage_planner.coverage as cov

    calls = []
    real = cov.nearest_measures
    monkeypatch.setattr(cov, "nearest_measures", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    result = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert len(calls) == 2
    c = cell_at(result.cells, 150, 250)
    assert c["ems_radius_time_min"] == c["ems_response_time_min"] == pytest.approx(193.0 / 60, abs=1e-4)
