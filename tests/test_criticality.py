"""Station criticality (stations.csv) and speed sensitivity (sensitivity.csv, siting ``robust``).

Known answers: a hand-built line of roads at 36 km/h (10 m/s) where closing a station moves its
cells to a known second station with known added seconds; brute force (remove each station and
rerun the rule) on random networks, the tiny region and the demo; and for speed factors, the same
runs with the roads' posted speeds scaled through the travel profile (``maxspeed_factor``), a
different code path.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from coverage_planner import coverage as cov
from coverage_planner import pipeline
from coverage_planner.criticality import best_two
from coverage_planner.network import RoadNetwork
from coverage_planner.scenario import load_scenario
from coverage_planner.sensitivity import check_factors, scaled_model
from coverage_planner.travel import FROM_FACILITY, TO_FACILITY, Router, Snapped
from refusals import refused, refused_cli

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.toml"


def line_net(n_seg: int = 4, seg_m: float = 1000.0, fwd=None, bwd=None, speed_kmh: float = 36.0) -> RoadNetwork:
    """Nodes at x = 0, seg_m, 2·seg_m, ... joined by straight segments (both ways unless told)."""
    x = np.arange(n_seg + 1) * seg_m
    a, b = np.arange(n_seg), np.arange(1, n_seg + 1)
    geoms = shapely.linestrings(np.stack([np.column_stack([x[a], 0 * a]), np.column_stack([x[b], 0 * b])], axis=1))
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=np.zeros(n_seg + 1), seg_a=a, seg_b=b,
                       seg_length=np.full(n_seg, seg_m), seg_highway=np.full(n_seg, "residential", dtype=object),
                       seg_maxspeed=np.full(n_seg, np.nan),
                       seg_fwd=np.ones(n_seg, bool) if fwd is None else np.asarray(fwd, bool),
                       seg_bwd=np.ones(n_seg, bool) if bwd is None else np.asarray(bwd, bool),
                       seg_geometry=geoms, seg_speed_kmh=np.full(n_seg, speed_kmh))


def pts(seg, frac) -> Snapped:
    seg = np.asarray(seg, dtype=np.int64)
    return Snapped(seg, np.asarray(frac, float), np.zeros(len(seg)))


# ------------------------------------------------------------------------------ hand network

def test_closing_the_middle_station_moves_its_cells_to_the_known_neighbours():
    """Stations A (x=0), C (x=2000), B (x=4000); cells at x = 500, 1500, 2500, 3500; 10 m/s roads."""
    router = Router(line_net(), line_net().seg_length / 10.0)
    src = pts([0, 1, 3], [0.0, 1.0, 1.0])            # A, C, B
    cells = pts([0, 1, 2, 3], [0.5, 0.5, 0.5, 0.5])
    two = best_two(router, src, np.zeros(3), cells, np.zeros(4))
    np.testing.assert_array_equal(two.label1, [0, 1, 1, 2])
    np.testing.assert_allclose(two.cost1, [50, 50, 50, 50])
    np.testing.assert_array_equal(two.label2, [1, 0, 2, 1])      # C, A, B, C
    np.testing.assert_allclose(two.cost2, [150, 150, 150, 150])  # closing C: +100 s for x=1500 and 2500


def test_second_station_respects_one_way_roads_and_turnout():
    """Segment 1 (x 1000→2000) is one way eastward: C (x=2000) and B (x=4000) cannot drive west on it,
    so the cell at x=1500 has A first (30 s turnout + 150 s) and no second station at all."""
    net = line_net(fwd=[1, 1, 1, 1], bwd=[1, 0, 1, 1])
    router = Router(net, net.seg_length / 10.0)
    src = pts([0, 1, 3], [0.0, 1.0, 1.0])            # A, C (x=2000), B
    cells = pts([1], [0.5])
    two = best_two(router, src, np.array([30.0, 0.0, 0.0]), cells, np.zeros(1))   # A has 30 s turnout
    assert two.label1[0] == 0 and two.cost1[0] == pytest.approx(180.0)
    assert two.label2[0] == -1 and np.isinf(two.cost2[0])


def test_a_single_station_has_no_fallback():
    router = Router(line_net(), line_net().seg_length / 10.0)
    two = best_two(router, pts([0], [0.0]), np.zeros(1), pts([2], [0.5]), np.zeros(1))
    assert two.label1[0] == 0 and two.cost1[0] == pytest.approx(250.0)
    assert two.label2[0] == -1 and np.isinf(two.cost2[0])


def _random_grid(rng, n=12, spacing=300.0):
    """An n×n grid with random speeds, some one-way streets and some missing blocks."""
    ids = np.arange(n * n).reshape(n, n)
    a = np.concatenate([ids[:, :-1].ravel(), ids[:-1, :].ravel()])
    b = np.concatenate([ids[:, 1:].ravel(), ids[1:, :].ravel()])
    keep = rng.random(len(a)) > 0.1
    a, b = a[keep], b[keep]
    oneway = rng.random(len(a)) < 0.2
    flip = rng.random(len(a)) < 0.5
    xs, ys = (ids % n).ravel() * spacing, (ids // n).ravel() * spacing
    geoms = shapely.linestrings(np.stack([np.column_stack([xs[a], ys[a]]), np.column_stack([xs[b], ys[b]])], axis=1))
    m = len(a)
    return RoadNetwork(crs="EPSG:32648", node_x=xs.astype(float), node_y=ys.astype(float), seg_a=a, seg_b=b,
                       seg_length=np.full(m, spacing), seg_highway=np.full(m, "residential", dtype=object),
                       seg_maxspeed=np.full(m, np.nan), seg_fwd=~(oneway & flip), seg_bwd=~(oneway & ~flip),
                       seg_geometry=geoms, seg_speed_kmh=rng.uniform(20, 60, m))


@pytest.mark.parametrize("direction", [FROM_FACILITY, TO_FACILITY])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_second_station_equals_brute_force_on_random_networks(seed, direction):
    """The second-nearest cost of every cell equals the nearest cost with its nearest station removed."""
    rng = np.random.default_rng(seed)
    net = _random_grid(rng)
    router = Router(net, net.seg_length / (net.seg_speed_kmh / 3.6), direction)
    k = 7
    src = Snapped(rng.integers(0, net.n_segments, k), rng.random(k), rng.uniform(0, 80, k))
    src.seg[1] = src.seg[0]                                 # two stations on one segment
    cells = Snapped(rng.integers(0, net.n_segments, 400), rng.random(400), rng.uniform(0, 50, 400))
    cells.seg[:5] = src.seg[0]                              # cells beside them: direct routes along it
    s_off, c_off = rng.uniform(0, 120, k), cells.access_m / 1.4
    two = best_two(router, src, s_off, cells, c_off)
    for s in range(k):
        rest = np.flatnonzero(np.arange(k) != s)
        cost, lab = router.nearest(src.take(rest), s_off[rest], cells, c_off)
        mine = two.label1 == s
        np.testing.assert_allclose(two.cost2[mine], cost[mine], rtol=1e-12, atol=1e-9)
        reached = mine & np.isfinite(cost)
        np.testing.assert_array_equal(two.label2[reached] != s, True)
        # the second station named is one whose own cost equals the second cost
        own = np.array([router.nearest(src.take([t]), s_off[[t]], cells, c_off)[0][i]
                        for i, t in zip(np.flatnonzero(reached)[:20], two.label2[reached][:20])])
        np.testing.assert_allclose(own, two.cost2[reached][:20], rtol=1e-12, atol=1e-9)


# ------------------------------------------------------------------------------ pipeline

def _add_station(scenario: Path, x: float, fid: str = "E2") -> None:
    """A second EMS station in the tiny region, at (x, 500) of its local grid."""
    from conftest import X0, Y0, lonlat

    path = scenario.parent / "facilities.geojson"
    data = json.loads(path.read_text())
    data["features"].append({"type": "Feature", "properties": {
        "id": fid, "name": "二站", "name_en": "EMS 2", "type": "ems", "ambulances": 1, "turnout_min": 1.0},
        "geometry": {"type": "Point", "coordinates": list(lonlat(X0 + x, Y0 + 500.0))}})
    path.write_text(json.dumps(data))


def _brute_force_lost(result, rule_id: str, s: int) -> float:
    """People covered now who fail the rule when facility s is removed and the rule is rerun."""
    rule = next(r for r in result.rules if r.id == rule_id)
    fac, cells, scn = result.region.facilities, result.cells, result.scenario
    idx = cov.rule_facilities(rule, fac)
    rest = idx[idx != s]
    now = cells[f"{rule.id}_pass"].to_numpy(bool)
    if len(rest) == 0:
        return float(cells["population"][now].sum())
    turnout = cov.turnout_seconds(fac, scn.profile) if rule.include_turnout else np.zeros(len(fac))
    meas = cov.nearest_measures(result.models[rule.travel_profile], rest, turnout, rule.direction,
                                cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy(),
                                fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    after = cov.rule_value(rule, meas) <= cov.cell_thresholds(rule, cells["zone"].to_numpy())
    return float(cells["population"][now & ~after].sum())


@pytest.fixture(scope="module")
def tiny_two(tmp_path_factory):
    """The tiny region with a second EMS station at x = 2000 (east end), run once."""
    from conftest import build_tiny_region

    scenario = build_tiny_region(tmp_path_factory.mktemp("tiny2"))
    _add_station(scenario, 2000.0)
    return pipeline.run(load_scenario(scenario), quiet=True, isochrones=False)


def test_people_lost_equal_brute_force_on_the_tiny_region(tiny_two):
    table = tiny_two.stations
    fids = tiny_two.region.facilities["facility_id"].tolist()
    checked = 0
    for row in table.itertuples():
        if row.rule_id in ("ems_radius", "ems_response"):
            assert row.population_lost == pytest.approx(_brute_force_lost(tiny_two, row.rule_id, fids.index(row.facility_id)))
            checked += 1
    assert checked == 4
    lost = table[table["rule_id"] == "ems_response"].set_index("facility_id")
    assert lost.loc["E1", "fallback_station"] == "E2" and lost.loc["E2", "fallback_station"] == "E1"
    assert (table.groupby("rule_id")["rank"].apply(list) == table.groupby("rule_id")["rank"].apply(
        lambda r: list(range(1, len(r) + 1)))).all()


def test_added_minutes_on_the_tiny_region_match_the_rerun(tiny_two):
    """Mean and max added minutes of E2's territory = the rerun without E2 minus the run with it."""
    res = tiny_two
    rule = next(r for r in res.rules if r.id == "ems_response")
    cells, fac = res.cells, res.region.facilities
    mine = (cells["ems_response_nearest"] == "E2").to_numpy()
    turnout = cov.turnout_seconds(fac, res.scenario.profile)
    without = cov.nearest_measures(res.models["ambulance"], np.array([0]), turnout, rule.direction,
                                   cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy(),
                                   fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy())
    added = (without["time_s"] / 60.0 - cells["ems_response_time_min"].to_numpy())[mine]
    pop = cells["population"].to_numpy()[mine]
    row = res.stations[(res.stations["rule_id"] == "ems_response") & (res.stations["facility_id"] == "E2")].iloc[0]
    assert row["added_mean"] == pytest.approx(float((added * pop).sum() / pop.sum()))
    assert row["added_max"] == pytest.approx(float(added.max()))
    assert row["added_unit"] == "min" and row["territory_population"] == pytest.approx(pop.sum())


@pytest.mark.skipif(not DEMO.exists(), reason="demo scenario not in this checkout")
def test_people_lost_equal_brute_force_on_the_demo_for_the_ems_response_rule(tmp_path):
    res = pipeline.run(load_scenario(DEMO, tmp_path), quiet=True, isochrones=False)
    table = res.stations[res.stations["rule_id"] == "ems_response"]
    fids = res.region.facilities["facility_id"].tolist()
    assert len(table) >= 3 and table["population_lost"].sum() > 0
    for row in table.itertuples():
        assert row.population_lost == pytest.approx(_brute_force_lost(res, "ems_response", fids.index(row.facility_id)),
                                                    abs=1e-6)
    assert list(table["population_lost"]) == sorted(table["population_lost"], reverse=True)


def test_run_writes_stations_csv_and_a_map_layer(tiny_region):
    _add_station(tiny_region, 2000.0)
    from coverage_planner.cli import main

    out = tiny_region.parent / "maps"
    assert main(["run", str(tiny_region), "--out", str(out), "--quiet", "--no-isochrones"]) == 0
    table = pd.read_csv(out / "stations.csv", encoding="utf-8-sig")
    assert {"rank", "population_lost", "fallback_station", "added_mean", "added_max"} <= set(table.columns)
    assert set(table["facility_id"]) >= {"E1", "E2", "C1"}
    html = (out / "coverage.html").read_text(encoding="utf-8")
    assert "Station criticality (if closed)" in html and "cp-critical" in html
    assert not (out / "sensitivity.csv").exists()


# ------------------------------------------------------------------------------ speed factors

def test_speed_factor_one_half_doubles_the_driving_part_exactly(tiny_two):
    res = tiny_two
    model = res.models["ambulance"]
    fac, cells = res.region.facilities, res.cells
    idx = np.array([0, 2])                                   # E1, E2
    turnout = cov.turnout_seconds(fac, res.scenario.profile)
    args = (cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy(), fac.geometry.x.to_numpy(),
            fac.geometry.y.to_numpy())
    base = cov.nearest_measures(model, idx, turnout, FROM_FACILITY, *args)
    slow = cov.nearest_measures(scaled_model(model, 0.5), idx, turnout, FROM_FACILITY, *args)
    v = model.access_mps

    def driving(m):
        f = m["time_fac"]
        return m["time_s"] - turnout[f] - model.fac_snap.access_m[f] / v - model.cell_snap.access_m / v

    ok = np.isfinite(base["time_s"])
    assert ok.sum() > 100
    np.testing.assert_array_equal(slow["time_fac"][ok], base["time_fac"][ok])   # the same nearest (ties apart)
    np.testing.assert_allclose(driving(slow)[ok], 2 * driving(base)[ok], rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(slow["network_m"], base["network_m"])          # distances do not change


def _with_posted_factor(scenario: Path, factor: float) -> Path:
    """The same scenario with the ambulance profile's posted speeds × factor (tiny roads: maxspeed 36)."""
    path = scenario.parent / f"posted_{factor:g}.toml"
    path.write_text(scenario.read_text() + f"\n[travel.profiles.ambulance]\nmaxspeed_factor = {factor}\n")
    return path


def test_sensitivity_bands_equal_runs_with_scaled_posted_speeds(tiny_region):
    _add_station(tiny_region, 2000.0)
    text = tiny_region.read_text().replace('profile = "chongqing"',
                                           'profile = "chongqing"\nrules = ["ems_radius", "ems_response"]')
    tiny_region.write_text(text)
    factors = [0.15, 1.0, 2.0]          # 36 km/h × 0.15: the far end of the tiny region is beyond 15 min
    res = pipeline.run(load_scenario(tiny_region), quiet=True, isochrones=False, speed_factors=factors)
    band = res.sensitivity
    for f in factors:
        ref = pipeline.run(load_scenario(_with_posted_factor(tiny_region, f)), quiet=True, isochrones=False).summary
        ref = ref[ref["rule_id"] == "ems_response"]
        got = band[band["rule_id"] == "ems_response"]
        np.testing.assert_allclose(got[f"x{f:g}"].to_numpy(), ref["share_covered"].to_numpy(), rtol=1e-12)
        assert list(got[f"pass_x{f:g}"]) == list(ref["pass"])
    resp = band[(band["rule_id"] == "ems_response") & (band["unit_id"] == "ALL") & (band["zone"] == "all")].iloc[0]
    assert resp["low"] == resp["x0.15"] < resp["x2"] == resp["high"]
    radius = band[band["rule_id"] == "ems_radius"]
    assert (radius["low"] == radius["high"]).all()            # distances do not depend on speed


def test_site_robust_column_equals_resolving_with_scaled_posted_speeds(siting_region):
    from coverage_planner.siting import run_siting

    text = siting_region.read_text().replace("p = 1", 'p = 1\nrule = "ems_response"')
    siting_region.write_text(text + "\n[travel]\nspeed_factors = [0.7, 1.3]\n")
    _, sites = run_siting(load_scenario(siting_region), ["lscp", "mclp"])
    chosen = {}
    for f in (0.7, 1.0, 1.3):
        plain = siting_region.parent / f"site_{f:g}.toml"
        plain.write_text(text + f"\n[travel.profiles.ambulance]\nmaxspeed_factor = {f}\n")
        _, ref = run_siting(load_scenario(plain), ["lscp", "mclp"])
        chosen[f] = set(zip(ref["model"], ref["candidate_id"]))
    for row in sites.itertuples():
        at = [f for f in (0.7, 1.0, 1.3) if (row.model, row.candidate_id) in chosen[f]]
        assert row.chosen_at == " ".join(f"{f:g}" for f in at)
        assert row.robust == (len(at) == 3)


def test_speed_factors_are_sorted_without_repeats():
    assert check_factors([1.2, 0.8, 1.0, 0.8]) == [0.8, 1.0, 1.2]


def test_refused_speed_factor_on_the_command_line(tiny_region):
    refused_cli("--speed-factor 0 (roads that cannot be driven)",
                ["run", str(tiny_region), "--quiet", "--speed-factor", "0", "1"], match=r"from 0\.1 to 5")


@pytest.mark.parametrize("value, case, match", [
    ('"slow"', "[travel] speed_factors is not a list", r"must be a list of 1 to 8 numbers"),
    ("[0.8, -1]", "[travel] speed_factors holds a negative factor", r"from 0\.1 to 5.*-1"),
    ("[0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3]", "[travel] speed_factors lists more than 8 factors",
     r"at most 8 speed factors"),
])
def test_refused_speed_factors_in_the_scenario(tiny_region, value, case, match):
    tiny_region.write_text(tiny_region.read_text() + f"\n[travel]\nspeed_factors = {value}\n")
    with refused(case, match=rf"travel\.speed_factors(.|\n)*{match}"):
        load_scenario(tiny_region)
