"""Settings that would change nothing are refused, never silently ignored: unknown road classes in
``speeds_kmh``, unknown keys of a layer's ``columns`` table (and mapped columns the file lacks),
[siting] keys the chosen candidate source does not use, census and OSM keys without their file."""

from __future__ import annotations

import ast
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest

from conftest import UTM
from refusals import refused, refused_cli

from coverage_planner.layers import COLUMN_KEYS, LayerSpec
from coverage_planner.network import ROAD_CLASSES, TRAVEL_PROFILES
from coverage_planner.scenario import load_scenario

PACKAGE = Path(__file__).resolve().parents[1] / "coverage_planner"


def _edit(scenario: Path, old: str, new: str) -> Path:
    text = scenario.read_text(encoding="utf-8")
    assert old in text, old
    scenario.write_text(text.replace(old, new, 1), encoding="utf-8")
    return scenario


# ------------------------------------------------------------------------ 1. road classes

def test_a_misspelt_road_class_in_speeds_kmh_is_refused_with_the_closest_class(tiny_region):
    _edit(tiny_region, "[roads]", "[travel.profiles.ambulance]\nspeeds_kmh = { trak = 0 }\n\n[roads]")
    refused_cli("A misspelt road class in speeds_kmh (trak)", ["run", str(tiny_region), "--quiet"],
                match=r"travel\.profiles\.ambulance\.speeds_kmh\.trak.*unknown road class 'trak'.*"
                      r"did you mean 'track'.*Fix: use OSM highway classes: .*track")
    assert not (tiny_region.parent / "out").exists()


def test_ferry_in_speeds_kmh_points_to_ferry_kmh_and_known_classes_absent_from_the_file_pass(tiny_region):
    _edit(tiny_region, "[roads]", "[travel.profiles.car]\nspeeds_kmh = { ferry = 5 }\n\n[roads]")
    with refused("A ferry speed under speeds_kmh (ferries have ferry_kmh)", match=r"unknown road class 'ferry' in [^(]*: no road.*ferry_kmh"):
        load_scenario(tiny_region)
    # the tiny region has only residential streets: motorway and bridleway (routed, in no default
    # table) are known classes, so naming them is fine
    _edit(tiny_region, "speeds_kmh = { ferry = 5 }", "speeds_kmh = { motorway = 80, bridleway = 4, track = 0 }")
    assert load_scenario(tiny_region).travel_overrides["car"]["speeds_kmh"] == {"motorway": 80, "bridleway": 4,
                                                                                "track": 0}


def test_the_known_road_classes_are_every_profile_class_and_no_ferry():
    for profile in TRAVEL_PROFILES.values():
        assert set(profile["speeds_kmh"]) <= set(ROAD_CLASSES)
    assert "ferry" not in ROAD_CLASSES and "trak" not in ROAD_CLASSES and "bridleway" in ROAD_CLASSES


# ------------------------------------------------------------------------ 2. column mappings

def test_a_misspelt_column_key_is_refused_with_the_closest_key(tiny_region):
    _edit(tiny_region, 'path = "facilities.geojson"',
          'path = "facilities.geojson"\n[facilities.columns]\nambulance = "救护车数"')
    refused_cli("A misspelt key under [facilities.columns] (ambulance)", ["run", str(tiny_region), "--quiet"],
                match=r"facilities\.columns\.ambulance.*unknown key 'ambulance' in \[facilities\.columns\] "
                      r"\(did you mean 'ambulances'\?\).*救护车数.*Fix: keys of \[facilities\.columns\] are .*ambulances")


@pytest.mark.parametrize("section, key, close, case", [
    ("boundaries", "unitid", "unit_id", "A misspelt key under [boundaries.columns] (unitid)"),
    ("population", "pop", None, "A key under [population.columns] that no reader uses (pop)"),
    ("villages", "names", "name", "A misspelt key under [villages.columns] (names)")])
def test_unknown_column_keys_of_every_layer_are_refused(tiny_region, section, key, close, case):
    if section == "villages":
        _edit(tiny_region, "[roads]", '[villages]\npath = "units.geojson"\n\n[roads]')
    _edit(tiny_region, f"[{section}]\n", f'[{section}.columns]\n{key} = "X"\n[{section}]\n')
    with refused(case,
                 match=rf"unknown key '{key}' in \[{section}\.columns\]") as out:
        load_scenario(tiny_region)
    assert (f"did you mean '{close}'" in out.message) if close else "did you mean" not in out.message


def test_the_column_keys_are_the_keys_the_readers_look_up():
    """Every ``spec.column("...")`` a reader calls is a known key of its layer, and every known key
    is read by someone (else a mapping would be refused or ignored)."""
    from coverage_planner.facilities import RESOURCE_ALIASES

    readers = {"boundaries.py": "boundaries", "facilities.py": "facilities", "subcentres.py": "facilities",
               "population.py": "population", "villages.py": "villages"}
    used: dict[str, set[str]] = {layer: set() for layer in COLUMN_KEYS}
    for name, layer in readers.items():
        for node in ast.walk(ast.parse((PACKAGE / name).read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "column" \
                    and node.args and isinstance(node.args[0], ast.Constant):
                used[layer].add(node.args[0].value)
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "_first_column":   # subcentres
                used[layer].add(node.args[2].value)
    used["facilities"] |= set(RESOURCE_ALIASES)
    used["boundaries"] |= {"county_seat", "central_town"}   # spec.column(flag, flag) in a loop over these
    used["villages"] |= {"lon", "lat"}   # read_points of a CSV (facilities.py, shared)
    assert {layer: sorted(keys) for layer, keys in used.items()} == \
        {layer: sorted(keys) for layer, keys in COLUMN_KEYS.items()}


def test_a_mapped_column_missing_from_the_file_is_refused_not_defaulted(tiny_region):
    from coverage_planner.boundaries import load_boundaries
    from coverage_planner.facilities import load_facilities

    folder = tiny_region.parent
    read = load_facilities(LayerSpec(folder / "facilities.geojson", columns={"ambulances": "turnout_min"},
                                     key="facilities"), UTM)
    assert list(read["ambulances"]) == [1.0, 0.0]       # the mapped column is the one read
    with refused("A column named under [facilities.columns] that the file lacks (ambulances)",
                 match=r"facilities\.columns.*column\(s\) not found: ambulances \(column '救护车数'\)"):
        load_facilities(LayerSpec(folder / "facilities.geojson", columns={"ambulances": "救护车数"},
                                  key="facilities"), UTM)
    with refused("A column named under [boundaries.columns] that the file lacks (zone)",
                 match=r"zone \(column '城乡'\)"):
        load_boundaries(LayerSpec(folder / "units.geojson", columns={"zone": "城乡"}, key="boundaries"))
    assert list(load_boundaries(LayerSpec(folder / "units.geojson", columns={"zone": "zone"},
                                          key="boundaries"))["zone"]) == ["urban", "rural"]


def test_library_columns_are_checked_like_the_scenario(tiny_region):
    from coverage_planner.api import Region

    folder = tiny_region.parent
    frames = dict(units=gpd.read_file(folder / "units.geojson"), facilities=gpd.read_file(folder / "facilities.geojson"),
                  population=folder / "pop.tif", roads=folder / "roads.osm")
    with refused("A misspelt layer or key in the library's columns argument",
                 match=r"(?s)unknown layer 'facility' in columns \(did you mean 'facilities'\?\).*"
                       r"unknown key 'ambulance' in \[columns\['boundaries'\]\]"):
        Region.from_geodataframes(**frames, columns={"facility": {"type": "type"},
                                                     "boundaries": {"ambulance": "x"}}, progress=False)


# ------------------------------------------------------------------------ 3. unused settings

def test_candidate_layer_settings_with_network_candidates_are_refused(siting_region):
    _edit(siting_region, 'candidates = "network"', 'candidates = "network"\ncandidates_path = "plots.geojson"\n'
          'candidate_types = ["thc"]')
    out = refused_cli('candidates_path and candidate_types with candidates = "network"',
                      ["site", str(siting_region), "--quiet", "--models", "lscp"],
                      match=r"siting\.candidates_path is given but not used when candidates = \"network\"")
    assert "siting.candidate_types is given but not used" in out.message and 'candidates = "both"' in out.message


def test_spacing_with_layer_candidates_is_refused_and_both_uses_every_key(siting_region):
    from coverage_planner.siting import read_settings

    _edit(siting_region, 'candidates = "network"', 'candidates = "layer"\ncandidate_types = ["chc"]')
    with refused('spacing_m with candidates = "layer"',
                 match=r"siting\.spacing_m is given but not used when candidates = \"layer\".*\"both\""):
        read_settings(load_scenario(siting_region), None, ["lscp"])
    _edit(siting_region, 'candidates = "layer"', 'candidates = "both"')
    settings = read_settings(load_scenario(siting_region), None, ["lscp"])
    assert settings["spacing_m"] == 500 and settings["candidate_types"] == ["chc"]


@pytest.mark.parametrize("old, new, field, case", [
    ('path = "pop.tif"', 'path = "pop.tif"\ncensus_scale_column = "常住人口"', "population.census_scale_column",
     "census_scale_column without census_scale_path"),
    ('path = "pop.tif"', 'path = "pop.tif"\ncensus_key = "name"', "population.census_key",
     "census_key without census_path"),
    ('path = "units.geojson"', 'path = "units.geojson"\nadmin_level = "8"', "boundaries.admin_level",
     "admin_level for boundaries that are no OSM file"),
    ('path = "pop.tif"', 'path = "pop.tif"\ncensus_column = "population"\ncolumns = { population = "人口" }',
     "population.columns", "[population.columns] with census_column"),
])
def test_keys_that_need_another_key_or_an_osm_file_are_refused(tiny_region, old, new, field, case):
    _edit(tiny_region, old, new)
    with refused(case, match=rf"{field.replace('.', chr(92) + '.')} is given but not used"):
        load_scenario(tiny_region)


def test_every_scenario_of_the_repository_still_loads():
    root = PACKAGE.parent
    for path in sorted((root / "scenarios").glob("*.toml")):
        scn = load_scenario(path)
        assert scn.name and np.isfinite(scn.facility_max_access_m)
