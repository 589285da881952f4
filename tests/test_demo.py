"""The whole CLI on the embedded demo region, checked against independent references."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
from conftest import ROOT
from nxref import reference_costs

from coverage_planner.cli import main
from coverage_planner.facility_types import has_role
from coverage_planner.network import seconds_per_segment
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario

SCENARIO = ROOT / "scenarios" / "demo.toml"
DEMO = ROOT / "coverage_planner" / "data" / "demo"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """The CLI run on the demo into a temporary folder, and the same run in memory."""
    out = tmp_path_factory.mktemp("demo") / "maps"
    assert main(["run", str(SCENARIO), "--out", str(out), "--quiet"]) == 0
    result = run(load_scenario(SCENARIO, out), quiet=True, isochrones=False)
    return out, result


def test_population_total_equals_raster_sum(demo_run):
    out, _ = demo_run
    with rasterio.open(DEMO / "population.tif") as src:
        total = float(src.read(1, masked=True).sum(dtype="float64"))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["population_total"] == pytest.approx(total, rel=1e-9)
    assert 500_000 <= total <= 600_000
    ids = {r["id"] for r in summary["rules"]}
    assert {"ems_radius", "service_circle", "ambulances_per_10k", "thc_per_township", "chc_per_street"} <= ids
    verdicts = {r["id"]: r["pass"] for r in summary["rules"]}
    assert True in verdicts.values() and False in verdicts.values(), "the demo should pass some rules and fail others"


class _Checker(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.scripts += tag == "script"


def test_html_map_has_the_layers(demo_run):
    out, result = demo_run
    html = (out / "coverage.html").read_text(encoding="utf-8")
    checker = _Checker()
    checker.feed(html)
    checker.close()
    assert "html" in checker.tags and "div" in checker.tags and checker.scripts >= 3
    assert "L.map(" in html and "L.control.layers(" in html
    for label in ("未覆盖人口 Uncovered", "15 分钟等时圈", "30 分钟等时圈", "行政区划 Units", "急救站 EMS station",
                  "综合医院 General hospital", "中医院 TCM hospital", "妇幼保健院 Maternal and child health hospital",
                  "乡镇卫生院 Township health centre", "社区卫生服务站 Community health station",
                  "村卫生室 Village clinic", "图例 Legend", "© OpenStreetMap contributors"):
        assert label in html or json.dumps(label)[1:-1] in html, label   # layer names are JSON-escaped
    for name in result.region.facilities["name"].head(5):
        assert name in html


@pytest.mark.parametrize("rule_id", ["ems_response", "service_circle"])
def test_travel_times_match_networkx(demo_run, rule_id):
    """200 random cells: our times equal an independent networkx Dijkstra within 1e-6 s."""
    _, result = demo_run
    rule = result.scenario.profile.rule(rule_id)
    model = result.models[rule.travel_profile]
    fac = result.region.facilities
    idx = np.flatnonzero(has_role(fac["type"], rule.facility_types))
    src = model.fac_snap.take(idx)
    turnout = fac["turnout_min"].fillna(result.scenario.profile.default_turnout_min).to_numpy()[idx] * 60.0
    offsets = (turnout if rule.include_turnout else 0.0) + src.access_m / model.access_mps
    sample = np.random.default_rng(7).choice(len(result.cells), 200, replace=False)
    ref = reference_costs(model.net, seconds_per_segment(model.net), rule.direction, src, offsets,
                          model.cell_snap, model.cell_snap.access_m / model.access_mps, sample)
    ours = result.cells[f"{rule_id}_time_min"].to_numpy()[sample] * 60.0
    finite = np.isfinite(ref)
    assert finite.mean() > 0.9
    assert np.array_equal(np.isfinite(ours), finite)
    assert np.max(np.abs(ours[finite] - ref[finite])) < 1e-6


def test_straight_line_coverage_matches_buffer_join(demo_run):
    """Cells within the EMS radius by straight line = a geopandas buffer-and-join, zone by zone."""
    _, result = demo_run
    cells = result.cells
    ems = result.region.facilities[result.region.facilities["type"] == "ems"]
    ours = cells["ems_radius_straight_km"].to_numpy() * 1000
    for zone, radius in (("urban", 3500.0), ("rural", 10000.0)):
        pts = gpd.GeoDataFrame(geometry=cells.geometry[cells["zone"] == zone], crs=cells.crs)
        buffers = gpd.GeoDataFrame(geometry=ems.geometry.buffer(radius, quad_segs=256), crs=cells.crs)
        joined = gpd.sjoin(pts, buffers, predicate="within")
        brute = np.zeros(len(cells), dtype=bool)
        brute[cells.index.get_indexer(joined.index.unique())] = True
        mine = (ours <= radius) & (cells["zone"] == zone).to_numpy()
        differ = brute != mine
        # a 256-segment polygon is inscribed in the circle: it may miss points within 0.05 m of it
        assert np.all(np.abs(ours[differ] - radius) < 0.05), np.flatnonzero(differ)[:5]
        assert mine.sum() > 0


def test_demo_gives_a_verdict_for_every_rule(demo_run):
    """Issue 8: every rule of the demo has a verdict (none 'not checked'), some pass and some fail as in
    a real district. Figures from the generator (tests/test_demo_region.py checks them on the files):
    38 ambulances, 3,060 beds, 1,738 doctors, 2,124 nurses, 272 GPs, 18 stations where 19 are needed (玉堂街道
    2 of 3), 2 general hospitals (TCM and MCH not counted), 18 of 21 villages served (回龙村 shares
    凤凰村's clinic; 石门村、红岩村、新桥村 have none)."""
    out, _ = demo_run
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    s = pd.read_csv(out / "summary.csv", encoding="utf-8-sig")
    rows = s[(s["unit_id"] == "ALL") & (s["zone"] == "all")].set_index("rule_id")
    assert rows["pass"].notna().all(), rows[rows["pass"].isna()].index.tolist()
    assert rows.loc[["ambulances_per_10k", "beds_per_1000", "doctors_per_1000", "nurses_per_1000", "gps_per_10k",
                     "chs_per_20k", "county_general_hospital", "village_clinic_per_village"], "value"].tolist() == \
        [38, 3060, 1738, 2124, 272, 18, 2, 18]
    verdicts = rows["pass"].astype(str).to_dict()
    assert {k: verdicts[k] for k in ("doctors_per_1000", "nurses_per_1000", "gps_per_10k", "chs_per_20k",
                                     "county_general_hospital", "village_clinic_per_village")} == {
        "doctors_per_1000": "False", "nurses_per_1000": "False", "gps_per_10k": "True", "chs_per_20k": "False",
        "county_general_hospital": "True", "village_clinic_per_village": "False"}
    chs = s[(s["rule_id"] == "chs_per_20k") & (s["unit_id"] != "ALL")]
    assert chs.loc[chs["pass"].astype(str) == "False", "unit_id"].tolist() == ["J04"]
    village = rows.loc["village_clinic_per_village"]
    assert village["required"] == 21 and village["shared"] == 1 and village["failing_villages"] == "石门村、红岩村、新桥村"
    assert "basis" in s.columns and set(s["basis"]) == {"plan", "assumption"}
    assert not [w for w in summary["warnings"] if "not checked" in w or "no facility has that type" in w]
