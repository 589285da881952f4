"""coverage-planner serve: incremental state, HTTP API, safety, load and a real browser.

The served tables are checked against ``coverage-planner run`` of the saved scenario (the CLI and a
fresh load + evaluate), on fixed and on random edit sequences.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from coverage_planner import pipeline
from coverage_planner.scenario import load_scenario
from coverage_planner import coverage as cov
from coverage_planner.coverage import judge_codes
from coverage_planner.serve.state import REASONS, STATE_CODES, Combo, EditError, Engine, Group, Session, state_codes
from refusals import refused_cli

ROOT = Path(__file__).resolve().parents[1]
BEYOND_VALUE = np.finfo(float).max     # serve's "reachable but beyond the cached bound"
DEMO = ROOT / "scenarios" / "demo.toml"


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serve-out")


@pytest.fixture(scope="module")
def engine(out_dir) -> Engine:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = load_scenario(DEMO, out_dir)
        region = pipeline.load_region(scn, pipeline.Steps(True))
        return Engine(scn, region)


def gap_points(engine: Engine, rule: str = "ems_radius", k: int = 3, max_access_m: float = 150.0) -> np.ndarray:
    """Cells failing ``rule`` (beyond its threshold) that stand near a road, far apart: places to add."""
    ses = Session(engine)
    states = ses.cell_states(rule)
    access = engine.model("ambulance", 1.0).cell_snap.access_m
    fx, fy = engine.region.facilities.geometry.x.to_numpy(), engine.region.facilities.geometry.y.to_numpy()
    clear = np.hypot(engine.x[:, None] - fx[None, :], engine.y[:, None] - fy[None, :]).min(axis=1) > 600
    # (clear of every facility marker, so that a click there lands on the map, not on a station)
    cand = np.flatnonzero((states == STATE_CODES["beyond_threshold"]) & (access < max_access_m) & clear)
    chosen = []
    for i in cand[np.argsort(-engine.pop[cand], kind="stable")]:
        if all(np.hypot(engine.x[i] - engine.x[j], engine.y[i] - engine.y[j]) > 3000 for j in chosen):
            chosen.append(int(i))
        if len(chosen) == k:
            break
    return np.array(chosen)


def rerun(path: Path) -> pd.DataFrame:
    """Summary of a fresh load + evaluate of a scenario file (what coverage-planner run computes)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = load_scenario(path)
        region = pipeline.load_region(scn, pipeline.Steps(True))
        return pipeline.evaluate(scn, region, pipeline.Steps(True)).summary


# -- the incremental state ------------------------------------------------------------------------

def test_group_best_two_matches_brute_force():
    """Adding stations keeps each cell's two cheapest; closing one re-derives them from the rest."""
    rng = np.random.default_rng(4)
    n, stations = 50, {}
    grp = Group.empty(Combo("ambulance", "from_facility", "time", False), ("ems",), n)
    for s in range(6):
        idx = np.sort(rng.choice(n, 30, replace=False))
        vals = rng.integers(0, 20, 30).astype(float)   # ties on purpose
        stations[s] = (idx, vals)
        grp.merge(s, idx, vals)
    dense = np.full((6, n), np.inf)
    for s, (idx, vals) in stations.items():
        dense[s, idx] = vals
    srt = np.sort(dense, axis=0)
    assert np.array_equal(grp.best_v, srt[0]) and np.array_equal(grp.second_v, srt[1])
    grp.rebuild(grp.affected(2), [(s, *stations[s]) for s in stations if s != 2])
    srt = np.sort(np.delete(dense, 2, axis=0), axis=0)
    assert np.array_equal(grp.best_v, srt[0]) and np.array_equal(grp.second_v, srt[1])
    assert not (grp.best_s == 2).any() and not (grp.second_s == 2).any()


def test_judge_codes_agree_with_judge_cells():
    """The numeric judge of serve gives the pipeline's verdicts and reasons, cell by cell."""
    rng = np.random.default_rng(5)
    n = 5000
    value = rng.choice([0.0, 500.0, 1000.0, 1500.0, np.inf, BEYOND_VALUE], n)
    limit = rng.choice([1000.0, np.nan], n, p=[0.8, 0.2])
    access = rng.choice([10.0, 999.0, 1000.0, 1001.0], n)
    cut = rng.random(n) < 0.1
    passed, reason = cov.judge_cells(value, limit, access, cut, 1000.0)
    got_passed, code = judge_codes(value, limit, access, cut, 1000.0)
    assert np.array_equal(got_passed, passed)
    assert np.array_equal(np.array(REASONS, dtype=object)[code], reason)
    assert set(reason) == {"", *cov.GAP_REASONS}       # every branch taken

    def by_hand(v, lim, acc, c):   # the reasons' order of precedence, one cell at a time
        if not (v > lim) or np.isnan(lim):
            return ""
        if acc > 1000.0:
            return cov.GAP_NO_ROAD
        return cov.GAP_CUT_OFF if (not np.isfinite(v) or c) else cov.GAP_BEYOND

    assert list(reason) == [by_hand(*row) for row in zip(value, limit, access, cut)]
    applies = np.isfinite(limit)
    states = state_codes(passed, pd.Categorical.from_codes(code, categories=REASONS), applies)
    expect = np.where(~applies, STATE_CODES["n/a"], np.where(passed, STATE_CODES["covered"],
                      [STATE_CODES.get(r, -1) for r in reason]))
    assert np.array_equal(states, expect)


def test_searches_on_nearby_cells_equal_searches_on_all_cells(engine):
    """Each station's bounded search runs on the cells within reach only; the costs are those of a
    search over every cell (same cells, same values), and the cut does leave cells out."""
    ses = Session(engine)
    checked = 0
    for combo, bound in engine.bounds.items():
        if not np.isfinite(bound):
            continue
        members = np.flatnonzero(ses.alive())
        model = engine.model(combo.profile, 1.0)
        src, cells, v = ses._snaps_for(combo.profile).take(members), model.cell_snap, model.access_mps
        if combo.weight == "time":
            offset = (ses._turnout()[members] if combo.turnout else 0.0) + src.access_m / v
            dst_off = cells.access_m / v
        else:
            offset, dst_off = src.access_m, cells.access_m
        full = model.router(combo.direction, combo.weight).bounded(src, offset, cells, dst_off, bound).tocsc()
        for k, (s, idx, vals) in enumerate(ses._costs(combo, members)):
            lo, hi = full.indptr[k], full.indptr[k + 1]
            assert np.array_equal(idx, full.indices[lo:hi]) and np.array_equal(vals, full.data[lo:hi]), (combo, s)
            near = engine.cells_near([(ses.x[s], ses.y[s])], engine.reach_m(combo, 1.0))
            checked += near is not None and len(near) < engine.n
    assert checked > 0


def test_straight_distances_kept_up_to_date_equal_a_kd_tree(engine):
    """Straight-line distances derived edit by edit (add, move, close, reopen, undo) equal, bit for
    bit, a KD-tree search over the stations serving after each edit."""
    from coverage_planner.travel import straight_nearest

    ses = Session(engine)
    near_road = np.flatnonzero(engine.model("ambulance", 1.0).cell_snap.access_m < 100)[::211]
    derived = 0
    for k, step in enumerate(["add", "add", "move", "close", "reopen", "undo", "undo", "close", "close"]):
        ids = [i for i in ses.fac["facility_id"] if str(i).startswith(("E", "NEW"))]
        i = near_road[(7 * k) % len(near_road)]
        if step == "add":
            ses.add_station(engine.x[i], engine.y[i], "ems")
        elif step == "move":
            ses.move_station(ids[-1], engine.x[i], engine.y[i])
        elif step in ("close", "reopen"):
            ses.set_station_open(ids[k % len(ids)], step == "reopen")
        else:
            ses.undo()
        before = ses._straight_last.get(("ems",))
        got = ses._straight_for(("ems",))
        derived += before is not None and got is not before[1]
        m = ses._members(("ems",))
        assert np.array_equal(got, straight_nearest(ses.x[m], ses.y[m], engine.x, engine.y)[0]), step
    assert derived >= 5


def test_baseline_table_equals_run(engine):
    ses = Session(engine)
    ref = pipeline.evaluate(engine.scn, engine.region, pipeline.Steps(True)).summary
    pd.testing.assert_frame_equal(ses.summary(), ref)


def test_edits_reproduced_by_the_cli(engine, out_dir):
    """Add in a gap, move, close, thresholds, speed, a rule off, undo/redo: the CLI run of the saved
    TOML writes the same summary.csv, byte for byte, and the served share rose as expected."""
    from coverage_planner.cli import main

    ses = Session(engine)
    base = ses.summary()
    a, b, c = gap_points(engine)
    fid = ses.add_station(engine.x[a], engine.y[a], "ems")
    ses.move_station(fid, engine.x[b], engine.y[b])
    ses.add_station(engine.x[c], engine.y[c], "ems")
    ses.set_station_open("E01", False)
    ses.set_threshold("ems_response", "urban", 13.0)
    ses.set_speed(0.85)
    ses.set_rule("beds_per_1000", False)
    ses.undo()
    ses.undo()
    ses.redo()
    assert ses.factor == 0.85 and "beds_per_1000" in ses.rules_on
    served = ses.summary()
    share = lambda f: f.query("rule_id == 'ems_radius' and zone == 'all'")["share_covered"].iat[0]  # noqa: E731
    assert share(served) != share(base)
    path = ses.save(out_dir / "serve" / "fixed")
    assert main(["run", str(path), "--quiet"]) == 0
    assert (path.parent / "run" / "summary.csv").read_bytes() == (path.parent / "summary.csv").read_bytes()
    pd.testing.assert_frame_equal(served, rerun(path))


EDIT = st.one_of(
    st.tuples(st.just("add"), st.integers(0, 10 ** 6), st.sampled_from(["ems", "thc", "hospital"])),
    st.tuples(st.just("move"), st.integers(0, 10 ** 6), st.integers(0, 10 ** 6)),
    st.tuples(st.just("toggle"), st.integers(0, 10 ** 6)),
    st.tuples(st.just("threshold"), st.sampled_from(["ems_radius", "ems_response", "service_circle"]),
              st.sampled_from(["urban", "rural"]), st.floats(0.3, 1.9)),
    st.tuples(st.just("speed"), st.sampled_from([0.6, 0.8, 1.0, 1.25])),
    st.tuples(st.just("undo")), st.tuples(st.just("redo")),
)


def _apply(ses: Session, engine: Engine, edit: tuple, near_road: np.ndarray) -> None:
    kind = edit[0]
    try:
        if kind == "add":
            i = near_road[edit[1] % len(near_road)]
            ses.add_station(engine.x[i], engine.y[i], edit[2])
        elif kind == "move":
            ids = ses.fac["facility_id"].to_numpy()[~ses.deleted]
            i = near_road[edit[2] % len(near_road)]
            ses.move_station(ids[edit[1] % len(ids)], engine.x[i], engine.y[i])
        elif kind == "toggle":
            ids = ses.fac["facility_id"].to_numpy()[~ses.deleted]
            s = ses.index_of(ids[edit[1] % len(ids)])
            ses.set_station_open(ses.fac["facility_id"].iat[s], not ses.open[s])
        elif kind == "threshold":
            rule = ses.rule(edit[1])
            base = engine.full_profile.rules[engine.rule_ids.index(edit[1])]
            if getattr(base, edit[2]) is not None:
                ses.set_threshold(edit[1], edit[2], round(getattr(base, edit[2]) * edit[3], 2))
            assert rule
        elif kind == "speed":
            ses.set_speed(edit[1])
        elif kind == "undo":
            ses.undo()
        else:
            ses.redo()
    except EditError:
        pass    # refused edits (nothing to undo, ...) leave the state as it was


@settings(max_examples=int(os.environ.get("CP_SERVE_EXAMPLES", "3")), deadline=None, derandomize=True, database=None, phases=[Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(edits=st.lists(EDIT, min_size=1, max_size=7))
def test_random_edit_sequences_equal_a_fresh_run(engine, out_dir, edits):
    """Any sequence of edits: the served table equals a fresh run of the saved scenario."""
    access = engine.model("ambulance", 1.0).cell_snap.access_m
    near_road = np.flatnonzero(access < 100)[::97]
    ses = Session(engine)
    for edit in edits:
        _apply(ses, engine, edit, near_road)
    served = ses.summary()
    folder = out_dir / "serve" / "random"
    shutil.rmtree(folder, ignore_errors=True)
    pd.testing.assert_frame_equal(served, rerun(ses.save(folder)))


def test_back_at_scenario_speeds_after_stations_added_at_another(engine, out_dir):
    """Stations added at another speed have no cached costs at the scenario's speeds: going back,
    the groups come from one multi-source search; the table (and after a close) still equals a run."""
    ses = Session(engine)
    near_road = np.flatnonzero(engine.model("ambulance", 1.0).cell_snap.access_m < 100)
    ses.set_speed(0.8)
    for i in near_road[[11, len(near_road) // 2, len(near_road) - 5]]:
        ses.add_station(engine.x[i], engine.y[i], "ems")
    ses.set_speed(1.0)
    served = ses.summary()
    combo = next(c for c, _t in ses.groups if c.weight == "time" and c.profile == "ambulance")
    assert not ses.groups[(combo, ("ems",))].seconds_ok          # built by the multi-source search
    folder = out_dir / "serve" / "back-to-1"
    pd.testing.assert_frame_equal(served, rerun(ses.save(folder)))
    ses.set_station_open("NEW02", False)
    shutil.rmtree(folder)
    pd.testing.assert_frame_equal(ses.summary(), rerun(ses.save(folder)))


def test_refused_edits_change_nothing(engine):
    ses = Session(engine)
    before = ses.summary()
    x0, y0, x1, y1 = engine.region.region.bounds
    with pytest.raises(EditError, match="outside the region"):
        ses.add_station(x1 + 5000, y1 + 5000, "ems")
    with pytest.raises(EditError, match="between"):
        ses.set_threshold("ems_radius", "urban", float("inf"))
    with pytest.raises(EditError, match="unknown rule"):
        ses.set_rule("no_such_rule", False)
    with pytest.raises(EditError, match="nothing to undo"):
        ses.undo()
    pd.testing.assert_frame_equal(ses.summary(), before)


def test_criticality_equals_closing_each_station(engine):
    """People losing coverage if a station closes = the drop of covered people when it is closed."""
    ses = Session(engine)
    crit = ses.criticality("ems_radius").set_index("facility_id")["people_losing_coverage"]
    covered = lambda: ses.summary().query("rule_id == 'ems_radius' and zone == 'all'")["covered_population"].iat[0]  # noqa: E731
    before = covered()
    for fid in ["E01", "E03"]:
        ses.set_station_open(fid, False)
        assert before - covered() == pytest.approx(crit[fid], rel=1e-9, abs=1e-6)
        ses.undo()


def test_suggest_raises_coverage(engine):
    from coverage_planner.serve.suggest import suggest_sites

    ses = Session(engine)
    rule = ses.rule("ems_radius")
    sites = suggest_sites(ses, rule, 2)
    assert len(sites) == 2 and (sites["gain"] > 0).all()
    covered = lambda: ses.summary().query("rule_id == 'ems_radius' and zone == 'all'")["covered_population"].iat[0]  # noqa: E731
    before = covered()
    for x, y in zip(sites["x"], sites["y"]):
        ses.add_station(x, y, "ems")
    assert covered() - before == pytest.approx(sites["gain"].sum(), rel=1e-9)


# -- HTTP API -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client(engine, out_dir):
    from fastapi.testclient import TestClient

    from coverage_planner.serve.app import create_app

    return TestClient(create_app(engine, out_dir))


def _lonlat(engine, i):
    lon, lat = engine.to_lonlat(np.array([engine.x[i]]), np.array([engine.y[i]]))
    return float(lon[0]), float(lat[0])


@pytest.mark.parametrize("body, status, message", [
    ({"op": "add", "lon": 120.0, "lat": 29.5, "type": "ems"}, 422, "outside the region"),
    ({"op": "add", "lon": 200.0, "lat": 29.5, "type": "ems"}, 422, "lon"),
    ({"op": "add", "lon": 103.76, "lat": 29.55, "type": "spaceport"}, 422, "unknown station type"),
    ({"op": "speed", "value": "nan"}, 422, "finite"),
    ({"op": "speed", "value": 3}, 422, "between 0.5 and 1.5"),
    ({"op": "threshold", "rule": "ems_radius", "zone": "urban", "value": 1e9}, 422, "between"),
    ({"op": "rule", "rule": "nope", "on": True}, 422, "unknown rule"),
    ({"op": "close", "id": "ZZZ"}, 404, "no station"),
    ({"op": "add", "lon": 103.76, "lat": 29.55, "type": "ems", "path": "/etc/passwd"}, 422, "Extra inputs"),
    ({"op": "teleport"}, 422, "op"),
    ({"op": "move", "id": "E01"}, 422, "needs lon, lat"),
])
def test_requests_are_validated(client, body, status, message):
    sid = client.post("/api/session").json()["view"]["sid"]
    r = client.post(f"/api/{sid}/edit", json=body)
    assert r.status_code == status and message in r.json()["error"], r.json()


def test_tabs_hold_separate_states_and_writes_stay_in_the_output_folder(client, engine, out_dir):
    a = client.post("/api/session").json()["view"]["sid"]
    b = client.post("/api/session").json()["view"]["sid"]
    lon, lat = _lonlat(engine, gap_points(engine, k=1)[0])
    va = client.post(f"/api/{a}/edit", json={"op": "add", "lon": lon, "lat": lat, "type": "ems"}).json()
    vb = client.get(f"/api/{b}/view").json()
    assert len(va["facilities"]) == len(vb["facilities"]) + 1 and vb["edits"] == 0
    assert client.post(f"/api/{a}/save", json={"name": "../../etc"}).status_code == 422
    saved = client.post(f"/api/{a}/save", json={"name": "tab-a"}).json()
    assert Path(saved["scenario"]).resolve().is_relative_to(out_dir.resolve())
    r = client.get(f"/api/{a}/cells.gpkg")
    assert r.status_code == 200 and r.content[:16] == b"SQLite format 3\x00"
    assert client.get("/api/nope/view").status_code == 404


def test_token_is_required_when_set(engine, out_dir):
    from fastapi.testclient import TestClient

    from coverage_planner.serve.app import create_app

    c = TestClient(create_app(engine, out_dir, token="s3cret-token"))
    assert c.post("/api/session").status_code == 401
    assert c.get("/").status_code == 401
    assert c.post("/api/session", headers={"X-Token": "s3cret-token"}).status_code == 200
    assert c.get("/?token=s3cret-token").status_code == 200


def test_non_loopback_host_needs_a_token():
    refused_cli("serve on a network address without --token",
                ["serve", str(DEMO), "--host", "0.0.0.0", "--no-browser"], match=r"needs a token")


def test_port_in_use_is_refused():
    port = 47865          # a fixed port, so that the catalogue's message is the same on every run
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            pass          # someone else holds it: in use all the same
        refused_cli("serve on a port already in use", ["serve", str(DEMO), "--port", str(port), "--no-browser"],
                    match=r"cannot listen on 127.0.0.1:47865")


# -- loopback server: load test and browser ------------------------------------------------------

@pytest.fixture(scope="module")
def live(engine, out_dir):
    """The app on a real uvicorn server on a free loopback port, in a thread."""
    import uvicorn

    from coverage_planner.serve.app import create_app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(engine, out_dir), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS")) / 1024


def load_test(base_url: str, lon: float, lat: float, clients: int, edits: int) -> dict:
    """Two waves of ``clients`` concurrent tabs, ``edits`` edits each (add, close/reopen, undo, redo)
    on a live server.

    Returns the errors (refused requests, and tabs whose final state is not that of the edits they
    sent), the edit count each tab reports at the end of each wave, and the server's RSS (MB) after a
    warm-up wave and after each wave: memory is steady when the second wave, which only replaces
    tabs, adds little. Also used by benchmarks/bench_serve.py (20 × 25 = 500 edits a wave).
    """
    import httpx

    errors, counts = [], {}

    def client(k: int) -> None:
        with httpx.Client(base_url=base_url, timeout=120) as c:
            sid = c.post("/api/session").json()["view"]["sid"]
            ops = [{"op": "add", "lon": lon, "lat": lat, "type": "ems"}] + \
                [{"op": "close" if j % 2 == 0 else "reopen", "id": "E0" + str(1 + k % 5)} for j in range(edits - 3)] + \
                [{"op": "undo"}, {"op": "redo"}]
            for body in ops:
                r = c.post(f"/api/{sid}/edit", json=body)
                if r.status_code != 200:
                    errors.append(r.text)
            view = c.get(f"/api/{sid}/view").json()
            counts[sid] = view["edits"]
            # the final state is that of the edits sent: the new station open, the toggled one as
            # the last toggle left it (undo and redo of it cancel out)
            station = "E0" + str(1 + k % 5)
            should_be_open = (edits - 4) % 2 == 1 if edits > 3 else True
            got = {f["id"]: f["open"] for f in view["facilities"]}
            if got.get("NEW01") is not True or got.get(station) is not should_be_open:
                errors.append(f"tab {k}: final state {station} open={got.get(station)}, NEW01 "
                              f"open={got.get('NEW01')}; expected {should_be_open} and True")

    def wave(n: int) -> None:
        threads = [threading.Thread(target=client, args=(k,)) for k in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)

    wave(2)                     # warm-up: caches filled
    rss0 = _rss_mb()
    counts.clear()
    wave(clients)
    rss1 = _rss_mb()
    first = sorted(counts.values())
    counts.clear()
    wave(clients)               # the same load again: new tabs replace the oldest (at most MAX_SESSIONS kept)
    rss2 = _rss_mb()
    return {"errors": errors, "counts": first, "counts_second_wave": sorted(counts.values()),
            "rss_growth_mb": rss1 - rss0, "rss_second_wave_growth_mb": rss2 - rss1,
            "rss_before_mb": rss0, "rss_after_mb": rss1, "rss_after_second_wave_mb": rss2}


def test_load_20_concurrent_clients(live, engine):
    """20 concurrent tabs, 5 edits each, twice: no errors, no lost edits, memory steady after warm-up
    (the second wave of new tabs, which replace old ones, grows the process by less than the first).

    The 500-edit version (20 × 25) runs in benchmarks/bench_serve.py --load.
    """
    lon, lat = _lonlat(engine, gap_points(engine, k=1)[0])
    out = load_test(live, lon, lat, clients=20, edits=5)
    assert not out["errors"], out["errors"][:3]
    assert out["counts"] == [5] * 20 and out["counts_second_wave"] == [5] * 20
    assert out["rss_growth_mb"] < 300 and out["rss_second_wave_growth_mb"] < 150, out


def _chromium() -> str | None:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return None
    return path


@pytest.mark.skipif(_chromium() is None, reason="needs Debian's chromium and the playwright package "
                                                "(apt-get install -y chromium; pip install playwright)")
def test_browser_add_move_close_save(live, engine, out_dir):
    from playwright.sync_api import sync_playwright

    a, b = gap_points(engine, k=2)
    (lon_a, lat_a), (lon_b, lat_b) = _lonlat(engine, a), _lonlat(engine, b)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 850})
        errors = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(live + "/")
        page.wait_for_selector("body[data-ready='1']", timeout=60000)
        before = float(page.get_attribute("#share-ems_radius", "data-value"))

        def pixel(lon, lat):
            p = page.evaluate(f"(() => {{ const p = window.cpMap.latLngToContainerPoint([{lat}, {lon}]); "
                              "return [p.x, p.y]; })()")
            box = page.locator("#map").bounding_box()
            return box["x"] + p[0], box["y"] + p[1]

        def edits_done(n):
            page.wait_for_function(f"Number(document.body.dataset.edits) >= {n}", timeout=30000)

        page.click("#add-mode")
        page.mouse.click(*pixel(lon_a, lat_a))
        edits_done(1)
        after_add = float(page.get_attribute("#share-ems_radius", "data-value"))
        assert after_add > before
        page.fill("#save-name", "browser-add")
        page.click("#save")
        page.wait_for_selector("#saved:has-text('saved')")
        cli = rerun(out_dir / "serve" / "browser-add" / "scenario.toml")
        assert after_add == cli.query("rule_id == 'ems_radius' and zone == 'all'")["share_covered"].iat[0]
        # drag the new station to the second gap
        start = pixel(lon_a, lat_a)
        page.mouse.move(*start)
        page.mouse.down()
        end = pixel(lon_b, lat_b)
        for k in range(1, 11):
            page.mouse.move(start[0] + (end[0] - start[0]) * k / 10, start[1] + (end[1] - start[1]) * k / 10)
        page.mouse.up()
        edits_done(2)
        # close E01 from its popup
        page.locator("[title^='E01 ']").click()
        page.click(".leaflet-popup .toggle")
        edits_done(3)
        page.fill("#save-name", "browser-final")
        page.click("#save")
        page.wait_for_selector("#saved:has-text('browser-final')")
        final = float(page.get_attribute("#share-ems_radius", "data-value"))
        cli = rerun(out_dir / "serve" / "browser-final" / "scenario.toml")
        assert final == cli.query("rule_id == 'ems_radius' and zone == 'all'")["share_covered"].iat[0]
        if os.environ.get("CP_SERVE_SCREENSHOT"):   # the README's picture
            page.evaluate("document.getElementById('panel').scrollTop = 0")
            page.screenshot(path=os.environ["CP_SERVE_SCREENSHOT"])
        browser.close()
    assert not errors, errors
    fac = pd.read_csv(out_dir / "serve" / "browser-final" / "summary.csv")
    assert len(fac) > 0
    assert dataclasses.is_dataclass(engine.scn)


def test_station_outside_the_margin_follows_the_radius_threshold(engine, tmp_path):
    """A station 5.5–6.5 km outside the boundaries is kept while the rural radius (10 km) sets the
    facility margin; lowering the radius to 5 km makes the loader drop it, and the served table too."""
    import shapely

    region = engine.region
    model = engine.model("ambulance", 1.0)
    seg = np.flatnonzero(model.snappable)
    mid = shapely.line_interpolate_point(model.net.seg_geometry[seg], 0.5, normalized=True)
    away = shapely.distance(region.region, mid)
    pick = mid[np.flatnonzero((away > 5500) & (away < 6500))[0]]
    lon, lat = engine.to_lonlat(np.array([shapely.get_x(pick)]), np.array([shapely.get_y(pick)]))
    fac = pd.read_csv(ROOT / "coverage_planner" / "data" / "demo" / "facilities.csv")
    row = fac[fac["type"] == "ems"].iloc[[0]].copy()
    row["id"], row["经度"], row["纬度"] = "EOUT", lon[0], lat[0]
    pd.concat([fac, row]).to_csv(tmp_path / "facilities.csv", index=False)
    text = DEMO.read_text(encoding="utf-8").replace('"../coverage_planner/data/demo/facilities.csv"',
                                                    f'"{tmp_path / "facilities.csv"}"')
    text = text.replace('"../coverage_planner/', f'"{ROOT / "coverage_planner"}/')
    (tmp_path / "outside.toml").write_text(text, encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scn = load_scenario(tmp_path / "outside.toml", tmp_path / "out")
        region = pipeline.load_region(scn, pipeline.Steps(True))
        engine = Engine(scn, region)
    assert "EOUT" in set(region.facilities["facility_id"])
    ses = Session(engine)
    ses.set_threshold("ems_radius", "rural", 5.0)
    assert "EOUT" not in set(ses.open_facilities()["facility_id"])
    pd.testing.assert_frame_equal(ses.summary(), rerun(ses.save(tmp_path / "out" / "serve" / "margin")))
    ses.undo()
    assert "EOUT" in set(ses.open_facilities()["facility_id"])
    pd.testing.assert_frame_equal(ses.summary(), rerun(ses.save(tmp_path / "out" / "serve" / "margin-back")))
