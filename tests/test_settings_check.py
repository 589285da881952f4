"""One validation style for settings tables (settings_check), one candidate reader (candidates), one
snap-and-check helper (coverage.snap_sites): known answers on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from conftest import X0, Y0, lonlat
from refusals import refused, refused_cli

from coverage_planner import settings_check as sc
from coverage_planner.coverage import FarFromRoad, snap_sites
from coverage_planner.errors import InputError, raise_all
from coverage_planner.network import RoadNetwork

FIELDS = (sc.Field("n", sc.whole(1), "a whole number of at least 1", "e.g. n = 2.", 1, "how many"),
          sc.Field("mode", sc.one_of(("a", "b")), "a or b", "use a or b.", "a", "which",
                   prepare=lambda v: v.lower() if isinstance(v, str) else v),
          sc.Field("w", None, "a table of weights", "write [t.w].", {}, "weights",
                   table=(sc.Field("x", sc.at_least(0), "a number ≥ 0", "e.g. x = 1.", 1.0, "x", convert=float),)))


def test_check_table_values_defaults_and_every_problem_in_order():
    values, errors = sc.check_table({"mode": "B", "w": {"x": 2}}, FIELDS, section="t", file="f.toml")
    assert errors == [] and values == {"n": 1, "mode": "b", "w": {"x": 2.0}}
    values["w"]["x"] = 5.0                                  # the defaults are not shared between calls
    assert sc.check_table({}, FIELDS, section="t", file=None)[0]["w"] == {}
    _, errors = sc.check_table({"nn": 1, "n": 0, "mode": "c", "w": {"y": 1, "x": -1}, "a": 1}, FIELDS,
                               section="t", file="f.toml")
    assert [e.field for e in errors] == ["t.a", "t.nn", "t.n", "t.mode", "t.w.y", "t.w.x"]
    assert errors[1].fix == "keys of [t] are n (how many); mode (which); w (weights)."
    assert errors[2].problem == "t.n = 0, but t.n must be a whole number of at least 1."
    assert sc.check_table({"n": True}, FIELDS, section="t", file=None)[1][0].field == "t.n"   # not a number
    _, errors = sc.check_table({"n": 0}, FIELDS, section="t", file=None,
                               where=lambda k: f"--{k} (command line)")
    assert errors[0].field == "--n (command line)" and errors[0].problem.startswith("n = 0, but n must")
    assert sc.check_table({"n": 0}, FIELDS, section="t", file=None, skip=("n",)) == ({"n": 0, "mode": "a", "w": {}}, [])


@pytest.mark.parametrize("section, typo, known, case", [
    ("siting", "spaceing_m = 500", "spacing_m", "A misspelt key in [siting] (spaceing_m)"),
    ("travel", "facility_max_acces_m = 800", "facility_max_access_m", "A misspelt key in [travel] (facility_max_acces_m)"),
])
def test_a_typo_in_a_settings_key_is_refused_with_the_known_keys(siting_region, section, typo, known, case):
    text = siting_region.read_text()
    header = f"[{section}]"
    siting_region.write_text(text.replace(header, f"{header}\n{typo}", 1) if header in text
                             else text + f"\n{header}\n{typo}\n")
    key = typo.split(" = ")[0]
    refused_cli(case, ["site", str(siting_region), "--quiet", "--models", "lscp"],
                match=rf"{section}\.{key}.*unknown key '{key}' in \[{section}\] \(did you mean '{known}'\?\).*Fix: keys of \[{section}\] are .*{known}")


def test_siting_settings_are_checked_the_same_way(siting_region, capsys):
    from coverage_planner.scenario import load_scenario
    from coverage_planner.siting import read_settings

    text = siting_region.read_text()
    siting_region.write_text(text.replace('candidates = "network"', 'candidates = "both"')
                             .replace("p = 1", 'p = 2\napply = "P-Median"\ncandidate_types = "thc"'))
    settings = read_settings(load_scenario(siting_region), {"p": None, "relocate": None}, ["p_median"])
    assert settings["apply"] == "p_median" and settings["candidate_types"] == ["thc"] and settings["p"] == 2
    assert settings["spacing_m"] == 500 and settings["alpha"] == 0.9
    with pytest.raises(InputError, match=r"--p \(command line\).*p = 0, but p must be a whole number"):
        read_settings(load_scenario(siting_region), {"p": 0}, ["mclp"])
    siting_region.write_text(text)
    assert read_settings(load_scenario(siting_region), {"p": 0}, ["lscp"])["p"] == 0   # p unused by LSCP


# ------------------------------------------------------------------------------------ snap_sites

def _two_roads() -> RoadNetwork:
    """Two roads along y = 0 (x 0–1000) and x = 2000 (y 0–1000)."""
    geoms = np.array([shapely.LineString([(0, 0), (1000, 0)]), shapely.LineString([(2000, 0), (2000, 1000)])],
                     dtype=object)
    return RoadNetwork(crs="EPSG:32648", node_x=np.array([0.0, 1000, 2000, 2000]), node_y=np.array([0.0, 0, 0, 1000]),
                       seg_a=np.array([0, 2]), seg_b=np.array([1, 3]), seg_length=np.array([1000.0, 1000.0]),
                       seg_highway=np.array(["residential"] * 2, dtype=object), seg_maxspeed=np.full(2, np.nan),
                       seg_fwd=np.ones(2, bool), seg_bwd=np.ones(2, bool), seg_geometry=geoms)


def test_snap_sites_lists_the_far_ones_with_their_distances():
    net = _two_roads()
    x = np.r_[500.0, 1500.0, np.full(10, 500.0)]
    y = np.r_[100.0, 0.0, 1000.0 + np.arange(10) * 10]      # 100 m, 500 m, then 1,000–1,090 m off the road
    ids = np.array([f"S{i}" for i in range(12)], dtype=object)
    ok = snap_sites(net, x[:2], y[:2], ids[:2], 500.0)
    np.testing.assert_allclose(ok.access_m, [100.0, 500.0])   # 500 m is allowed (inclusive)
    assert list(ok.seg) == [0, 0]
    with pytest.raises(FarFromRoad) as info:
        snap_sites(net, x, y, ids, 500.0, what=("candidate", "candidates"), file="plots.csv", field="id")
    err = info.value
    assert list(err.far) == list(range(2, 12)) and err.file == "plots.csv" and err.field == "id"
    np.testing.assert_allclose(err.access_m, 1000.0 + np.arange(10) * 10)
    assert err.problem == ("10 candidates are more than 500 m from the road network: S2 (1,000 m), S3 (1,010 m), "
                           "S4 (1,020 m), S5 (1,030 m), S6 (1,040 m), S7 (1,050 m), S8 (1,060 m), S9 (1,070 m) "
                           "and 2 more.")
    # only the allowed road counts: the point 500 m from road 0 is 500 m from road 1 too, the other 1,500 m
    s = snap_sites(net, np.array([1500.0]), np.array([0.0]), np.array(["A"]), 500.0, allowed=np.array([False, True]))
    assert list(s.seg) == [1] and s.access_m[0] == pytest.approx(500.0)
    with pytest.raises(FarFromRoad, match=r"1 facility is more than 400 m.*A \(1,000 m\)"):
        snap_sites(net, np.array([1000.0]), np.array([0.0]) + 0, np.array(["A"]), 400.0,
                   allowed=np.array([False, True]))


# ---------------------------------------------------------------------------------- candidates

def _candidate_files(folder, rows):
    """rows (id, name, x, y in the test CRS) as a GeoJSON, a CSV with 经度/纬度 in WGS84, and a CSV in
    GCJ-02 (Amap) with a 坐标系 column."""
    import json

    from coverage_planner.coords import wgs84_to_gcj02

    feats = [{"type": "Feature", "properties": {"id": i, "name": n},
              "geometry": {"type": "Point", "coordinates": list(lonlat(x, y))}} for i, n, x, y in rows]
    (folder / "cand.geojson").write_text(json.dumps({"type": "FeatureCollection", "features": feats},
                                                    ensure_ascii=False), encoding="utf-8")
    wgs = "id,name,经度,纬度\n" + "".join(f"{i},{n},{lonlat(x, y)[0]!r},{lonlat(x, y)[1]!r}\n" for i, n, x, y in rows)
    (folder / "cand.csv").write_text(wgs, encoding="utf-8")
    gcj = "id,name,经度,纬度,坐标系\n"
    for i, n, x, y in rows:
        glon, glat = wgs84_to_gcj02(*lonlat(x, y))
        gcj += f"{i},{n},{float(glon)!r},{float(glat)!r},gcj02\n"
    (folder / "cand_gcj.csv").write_text(gcj, encoding="utf-8")


def test_read_candidates_csv_gcj02_and_geojson_agree(tmp_path):
    from coverage_planner.candidates import read_candidates
    from coverage_planner.layers import LayerSpec

    rows = [("C1", "一号地块", X0 + 200, Y0 + 300), ("C2", "二号地块", X0 + 900, Y0 + 100)]
    _candidate_files(tmp_path, rows)
    region = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    read = {name: read_candidates(LayerSpec(tmp_path / name, key="siting.candidates_path"), region, "EPSG:32648")
            for name in ("cand.geojson", "cand.csv", "cand_gcj.csv")}
    for frame in read.values():
        assert list(frame["candidate_id"]) == ["C1", "C2"] and list(frame["name"]) == ["一号地块", "二号地块"]
        np.testing.assert_allclose(frame.geometry.x, [r[2] for r in rows], atol=0.05)   # 5 cm: GCJ-02 inverted
        np.testing.assert_allclose(frame.geometry.y, [r[3] for r in rows], atol=0.05)
    # the same GCJ-02 CSV without its 坐标系 column, with the facilities' coords = "gcj02" declared
    text = (tmp_path / "cand_gcj.csv").read_text(encoding="utf-8").replace(",坐标系", "").replace(",gcj02", "")
    (tmp_path / "plain.csv").write_text(text, encoding="utf-8")
    declared = read_candidates(LayerSpec(tmp_path / "plain.csv", key="siting.candidates_path", coords="gcj02"),
                               region, "EPSG:32648")
    np.testing.assert_allclose(declared.geometry.x, [r[2] for r in rows], atol=0.05)
    undeclared = read_candidates(LayerSpec(tmp_path / "plain.csv", key="siting.candidates_path"), region, "EPSG:32648")
    assert np.hypot(undeclared.geometry.x - declared.geometry.x, undeclared.geometry.y - declared.geometry.y).min() > 100


def test_candidate_layer_refusals(tmp_path):
    from coverage_planner.candidates import read_candidates
    from coverage_planner.layers import LayerSpec

    region = shapely.box(X0, Y0, X0 + 1000, Y0 + 1000)
    lon, lat = lonlat(X0 + 500, Y0 + 500)
    (tmp_path / "dup.csv").write_text(f"id,经度,纬度\nC1,{lon},{lat}\nC2,{lon},{lat}\nC1,{lon},{lat}\n", encoding="utf-8")
    with refused("A candidate id used twice in the candidate layer",
                 match=r"dup\.csv.*'id'.*candidate id\(s\) used twice: 'C1' \(line 2, line 4\)"):
        read_candidates(LayerSpec(tmp_path / "dup.csv", key="siting.candidates_path"), region, "EPSG:32648")
    far_lon, far_lat = lonlat(X0 + 500, Y0 + 7000)
    (tmp_path / "far.csv").write_text(f"id,经度,纬度\nC1,{lon},{lat}\nC9,{far_lon},{far_lat}\n", encoding="utf-8")
    with refused("A candidate site more than 5 km outside the region",
                 match=r"far\.csv.*1 candidate\(s\) lie more than 5 km outside the region: C9"):
        read_candidates(LayerSpec(tmp_path / "far.csv", key="subcentres.candidates_path"), region, "EPSG:32648")
    (tmp_path / "noid.csv").write_text(f"name,经度,纬度\nA,{lon},{lat}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"no 'id' column"):
        read_candidates(LayerSpec(tmp_path / "noid.csv", key="subcentres.candidates_path"), region, "EPSG:32648",
                        require_id=True)
    plain = read_candidates(LayerSpec(tmp_path / "noid.csv", key="siting.candidates_path"), region, "EPSG:32648")
    assert list(plain["candidate_id"]) == ["P001"] and list(plain["name"]) == ["A"] and list(plain["name_en"]) == [""]


def test_raise_all_of_check_table_reports_every_problem():
    _, errors = sc.check_table({"n": "two", "mode": 3}, FIELDS, section="t", file="f.toml")
    with pytest.raises(InputError, match=r"(?s)2 problem.*t\.n = 'two'.*t\.mode = 3"):
        raise_all(errors)
