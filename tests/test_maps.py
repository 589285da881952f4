"""The HTML maps and PNG charts: offline (no external asset), escaped, readable, bilingual.

The demo's three maps (coverage, siting, subcentres) are written once; a static check reads them,
and a browser check opens them in headless Chromium with the network blocked (skipped, with the
reason, where Playwright or Chromium is missing).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import replace

import folium
import geopandas as gpd
import numpy as np
import pytest
import shapely
import tomli_w
from conftest import ROOT
from refusals import refused

from coverage_planner import basemap, charts
from coverage_planner.cli import main
from coverage_planner.coords import wgs84_to_gcj02
from coverage_planner.maps import (ISOCHRONE_COLOURS, ZONE_COLOURS, ZONE_FILL_OPACITY, base_map, coverage_map, rgba)
from coverage_planner.network import RoadNetwork
from coverage_planner.outputs import external_assets, finalize_html
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario

SCENARIO = ROOT / "scenarios" / "demo.toml"
MAPS = ("coverage.html", "siting.html", "subcentres.html")
HOSTILE = '<img src=x onerror="document.title=1">'


@pytest.fixture(scope="module")
def demo_maps(tmp_path_factory):
    """The demo's coverage, siting (LSCP) and sub-centre maps, written by the CLI into one folder."""
    out = tmp_path_factory.mktemp("maps") / "demo"
    assert main(["run", str(SCENARIO), "--out", str(out), "--quiet"]) == 0
    assert main(["site", str(SCENARIO), "--out", str(out), "--quiet", "--models", "lscp"]) == 0
    assert main(["subcentres", str(SCENARIO), "--out", str(out), "--quiet"]) == 0
    return out


@pytest.fixture(scope="module")
def demo_result():
    return run(load_scenario(SCENARIO), quiet=True, isochrones=False)


# ------------------------------------------------------------------------------------------ offline


def test_written_maps_fetch_nothing_from_the_internet(demo_maps):
    for name in MAPS:
        text = (demo_maps / name).read_text(encoding="utf-8")
        assert external_assets(text) == [], name
        assert not re.search(r'<(script|link)[^>]+(src|href)="https?://', text), name
        assert "awesome" not in text.lower() and "bootstrap" not in text.lower(), name
        assert "<style>" in text and "L.map(" in text, name     # Leaflet itself is inlined


def test_external_assets_finds_scripts_styles_fonts_images_and_tiles():
    page = ('<script src="https://cdn.x/a.js"></script><link rel="stylesheet" href="http://cdn.x/b.css"/>'
            '<style>@font-face{src:url("https://f.x/c.woff2")} @import "https://f.x/d.css";</style>'
            '<img src="https://i.x/e.png"><a href="https://leafletjs.com">Leaflet</a>'
            '<svg xmlns="http://www.w3.org/2000/svg"></svg><script>L.tileLayer("https://t.x/{z}/{x}/{y}.png")</script>')
    assert external_assets(page) == ["http://cdn.x/b.css", "https://cdn.x/a.js", "https://f.x/c.woff2",
                                     "https://f.x/d.css", "https://i.x/e.png", "https://t.x/{z}/{x}/{y}.png"]


def test_an_unbundled_script_is_refused_rather_than_written(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<html><script src="https://cdn.example.org/new-plugin.js"></script></html>', encoding="utf-8")
    with pytest.raises(RuntimeError, match="not bundled: https://cdn.example.org/new-plugin.js"):
        finalize_html(page)


def test_icon_markers_are_not_used_so_no_icon_font_is_needed(demo_maps):
    """folium.Icon needs awesome-markers from a CDN (offline: "reading 'icon'", no markers at all)."""
    for name in MAPS:
        text = (demo_maps / name).read_text(encoding="utf-8")
        assert "L.AwesomeMarkers" not in text and "icon-glyphicon" not in text, name


# ------------------------------------------------------------------------------------------ escaping


def test_user_text_is_escaped_in_titles_tooltips_and_popups(demo_result):
    res = demo_result
    scn = replace(res.scenario, title_zh=HOSTILE, title_en="A & B")
    fac = res.region.facilities.copy()
    fac.loc[fac.index[0], "name"] = HOSTILE
    units = res.region.units.copy()
    units.loc[units.index[0], "name"] = HOSTILE
    region = replace(res.region, facilities=fac, units=units)
    html = coverage_map(replace(res, scenario=scn, region=region)).get_root().render()
    assert HOSTILE not in html and "&lt;img src=x onerror=" in html
    assert "<title>&lt;img src=x" in html and "A &amp; B" in html


def test_siting_popups_escape_site_names(demo_maps):
    from coverage_planner.siting import run_siting
    from coverage_planner.siting_map import siting_map

    result, sites = run_siting(load_scenario(SCENARIO), models=["lscp"])
    sites = sites.copy()
    sites["name"] = HOSTILE
    sites["candidate_id"] = "<b>N1</b>"
    html = siting_map(result, sites).get_root().render()
    assert HOSTILE not in html and "<b>N1</b>" not in html
    assert "&lt;b&gt;N1&lt;/b&gt;" in html


# ------------------------------------------------------------------------------------------ colours


def test_zone_colours_in_the_legend_are_the_ones_drawn(demo_maps):
    text = (demo_maps / "coverage.html").read_text(encoding="utf-8")
    for zone, colour in ZONE_COLOURS.items():
        assert f'"fillColor": "{colour}"' in text, zone                       # drawn on the map
        assert rgba(colour, ZONE_FILL_OPACITY) in text, zone                   # the legend, same opacity
    assert f'"fillOpacity": {ZONE_FILL_OPACITY}' in text
    assert ZONE_COLOURS["rural"] not in ISOCHRONE_COLOURS and ZONE_COLOURS["urban"] not in ISOCHRONE_COLOURS
    assert "#41ab5d" not in text                                               # the old rural green


# ------------------------------------------------------------------------------------------ basemap


def _net(highways: list[str], crs="EPSG:32648") -> RoadNetwork:
    n = len(highways)
    xs = np.arange(n + 1, dtype=float) * 100
    geoms = np.array([shapely.LineString([(xs[i], 0), (xs[i] + 50, 30), (xs[i + 1], 0)]) for i in range(n)])
    return RoadNetwork(crs=crs, node_x=xs, node_y=np.zeros(n + 1), seg_a=np.arange(n), seg_b=np.arange(1, n + 1),
                       seg_length=np.full(n, 100.0), seg_highway=np.array(highways, dtype=object),
                       seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.ones(n, bool),
                       seg_geometry=geoms)


def test_basemap_roads_are_grouped_by_class_within_the_box():
    net = _net(["motorway", "primary", "tertiary", "residential", "track", "service", "secondary"])
    lines = basemap.road_lines(net, (-10, -10, 10_000, 100))
    got = dict(zip(lines["road_class"], lines["segments"]))
    assert got == {"major": 2, "middle": 2, "minor": 3}
    assert lines.attrs["dropped"] == 0
    assert [float(w) for w in lines["weight"]] == sorted((float(w) for w in lines["weight"]), reverse=True)
    only_first = basemap.road_lines(net, (-10, -10, 90, 100))       # the box holds the first segment only
    assert dict(zip(only_first["road_class"], only_first["segments"])) == {"major": 1}


def test_basemap_leaves_minor_roads_out_of_a_huge_network_and_says_so(monkeypatch):
    monkeypatch.setattr(basemap, "MAX_VERTICES", 10)
    lines = basemap.road_lines(_net(["primary"] * 2 + ["residential"] * 5), (-10, -10, 10_000, 100))
    assert set(lines["road_class"]) == {"major"} and lines.attrs["dropped"] == 5


def test_basemap_reads_the_demo_river_from_the_osm_file():
    water = basemap.water_features(ROOT / "coverage_planner" / "data" / "demo" / "roads.osm", (100.0, 25.0, 110.0, 35.0))
    assert list(water["kind"]) == ["river"]
    assert water.geometry.iloc[0].length > 0.1                                # degrees: tens of km
    assert basemap.water_features(ROOT / "coverage_planner" / "data" / "demo" / "roads.osm", (0.0, 0.0, 1.0, 1.0)).empty


def test_basemap_says_when_water_is_not_drawn(monkeypatch, demo_result):
    monkeypatch.setattr(basemap, "MAX_WATER_FILE_MB", 0.001)
    fmap = folium.Map(tiles=None)
    note = basemap.add_basemap(fmap, demo_result.region.roads, ROOT / "coverage_planner" / "data" / "demo" / "roads.osm",
                               demo_result.region.units)
    assert "water not drawn: the roads file is over 0.001 MB" in note
    rendered = fmap.get_root().render()
    assert "cp-basemap" in rendered and basemap.WATER_COLOUR not in rendered


def test_written_maps_draw_the_basemap_and_no_tiles_by_default(demo_maps):
    for name in MAPS:
        text = (demo_maps / name).read_text(encoding="utf-8")
        assert "L.tileLayer(" not in text, name
        assert text.count('"className": "cp-basemap"') >= 2, name                # water and roads
        assert basemap.PAPER in text, name


# ------------------------------------------------------------------------------------------ tiles


def _scenario_with(tmp_path, **outputs):
    import tomllib

    data = tomllib.loads(SCENARIO.read_text(encoding="utf-8"))
    for section in ("boundaries", "facilities", "population", "roads", "villages"):
        data[section]["path"] = str((SCENARIO.parent / data[section]["path"]).resolve())
    data["outputs"].update(outputs)
    path = tmp_path / "s.toml"
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return path


def test_amap_tiles_are_moved_by_the_local_gcj02_offset(tmp_path, demo_result):
    scn = load_scenario(_scenario_with(tmp_path, tiles="amap"))
    frame = demo_result.region.units.to_crs("EPSG:4326")
    html = base_map(frame, "t", None, scn).get_root().render()
    assert "autonavi.com" in html and "marginLeft" in html
    minx, miny, maxx, maxy = frame.total_bounds
    lon, lat = (minx + maxx) / 2, (miny + maxy) / 2
    glon, glat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    shift = re.search(r"gcj = L\.latLng\(\[([-\d.e]+), ([-\d.e]+)\]\)", html)
    assert float(shift.group(1)) == pytest.approx(glat[0], abs=1e-9)
    assert float(shift.group(2)) == pytest.approx(glon[0], abs=1e-9)
    assert 100 < np.hypot((glon[0] - lon) * 97_000, (glat[0] - lat) * 111_000) < 1000   # metres, China


def test_osm_tiles_are_added_only_when_asked(tmp_path, demo_result):
    frame = demo_result.region.units.to_crs("EPSG:4326")
    with_tiles = base_map(frame, "t", None, load_scenario(_scenario_with(tmp_path, tiles="osm"))).get_root().render()
    tiles = [u for u in external_assets(with_tiles) if "{z}" in u]     # CDN links go at finalize_html
    assert tiles == ["https://tile.openstreetmap.org/{z}/{x}/{y}.png"]
    assert "gcj = " not in with_tiles                                          # WGS84 tiles are not moved


def test_unknown_tile_layer_is_refused(tmp_path):
    with refused("Map tile layer that the tool does not know", match=r"outputs\.tiles.*unknown tile layer 'google'"):
        load_scenario(_scenario_with(tmp_path, tiles="google"))


def test_tianditu_tiles_without_a_key_are_refused(tmp_path):
    with refused("Tianditu map tiles without a key", match=r"tianditu_key.*need a key"):
        load_scenario(_scenario_with(tmp_path, tiles="tianditu"))


# ------------------------------------------------------------------------------------------ charts

CURVE = np.array([400_000, 500_000, 560_000, 580_000, 590_000], dtype=float)


def _texts(fig) -> list[str]:
    ax = fig.axes[0]
    return [ax.get_title(), ax.get_xlabel(), ax.get_ylabel(), *(t.get_text() for t in ax.get_legend().get_texts())]


def _draw(**kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, chinese = charts.curve_figure(CURVE, 595_000.0, "ems_radius", "院前医疗急救服务半径", 0.95)
        fig.canvas.draw()
    glyphs = [str(w.message) for w in caught if "missing from" in str(w.message).lower()]
    return fig, chinese, glyphs


def test_curve_has_the_target_line_and_rings_the_first_count_that_reaches_it():
    fig, _, _ = _draw()
    ax = fig.axes[0]
    flat = [ln for ln in ax.lines if len(set(np.asarray(ln.get_ydata(), float))) == 1 and len(ln.get_ydata()) == 2]
    assert [float(ln.get_ydata()[0]) for ln in flat] == [95.0]                 # the target, in percent
    ring = [ln for ln in ax.lines if len(ln.get_xdata()) == 1]
    assert [float(ring[0].get_xdata()[0])] == [3.0]                            # 580,000 / 595,000 = 97.5%
    assert any("95%" in t for t in _texts(fig))


def test_curve_falls_back_to_english_without_a_chinese_font(monkeypatch):
    monkeypatch.setattr(charts, "cjk_font", lambda texts: None)
    fig, chinese, glyphs = _draw()
    assert not chinese and glyphs == []
    assert not any(charts._has_cjk(t) for t in _texts(fig))
    assert "New stations" in _texts(fig)[1]


def test_curve_is_bilingual_with_a_system_chinese_font():
    if charts.cjk_font(["覆盖人口"]) is None:
        pytest.skip("no font with Chinese glyphs on this machine (e.g. apt-get install fonts-wqy-microhei)")
    fig, chinese, glyphs = _draw()
    assert chinese and glyphs == []                                            # no empty boxes
    assert "新增站点数" in _texts(fig)[1] and "New stations" in _texts(fig)[1]


def test_font_check_rejects_a_font_without_the_characters():
    dejavu = [f for f in charts._candidate_files() + tuple(
        f.fname for f in __import__("matplotlib").font_manager.fontManager.ttflist) if "DejaVuSans.ttf" in f]
    if not dejavu:
        pytest.skip("DejaVu Sans (matplotlib's own font) not found")
    assert charts.covers(dejavu[0], ["New stations 95%"]) and not charts.covers(dejavu[0], ["覆盖"])


# ------------------------------------------------------------------------------------------ browser


@pytest.fixture(scope="module")
def browser_reports(demo_maps):
    from mapcheck import browser_missing, check_pages

    reason = browser_missing()
    if reason:
        pytest.skip(f"browser check skipped: {reason}")
    shots = demo_maps / "screenshots"
    return check_pages([demo_maps / name for name in MAPS], shots), shots


def _expected_markers(out) -> dict[str, int]:
    import pandas as pd

    fac = gpd.read_file(ROOT / "coverage_planner" / "data" / "demo" / "facilities.geojson")
    sites = pd.read_csv(out / "siting.csv")
    return {"coverage.html": len(fac), "siting.html": int((sites["model"] == "lscp").sum()),
            "subcentres.html": len(pd.read_csv(out / "subcentres.csv")) + 1}     # and the county hospital


@pytest.mark.parametrize("size", [(1400, 1000), (1000, 700)])
@pytest.mark.parametrize("name", MAPS)
def test_map_opens_offline_without_errors_and_shows_its_markers(browser_reports, demo_maps, name, size):
    reports, shots = browser_reports
    rep = reports[(name, size)]
    assert rep["errors"] == [] and rep["blocked"] == []
    assert rep["markers"] == _expected_markers(demo_maps)[name] > 0
    assert rep["basemap_lines"] >= 2 and rep["layers"] >= 4 and not rep["layers_expanded"]
    assert (shots / f"{name[:-5]}_{size[0]}x{size[1]}.png").stat().st_size > 10_000


@pytest.mark.parametrize("size", [(1400, 1000), (1000, 700)])
@pytest.mark.parametrize("name", MAPS)
def test_legend_scale_bar_title_and_layer_control_do_not_overlap(browser_reports, name, size):
    rep = browser_reports[0][(name, size)]
    assert {"legend", "scale", "layers", "title", "zoom"} <= set(rep["boxes"])
    assert rep["overlapping"] == [] and rep["outside"] == []
    layers = rep["boxes"]["layers"]
    assert (layers["right"] - layers["left"]) * (layers["bottom"] - layers["top"]) < 0.05 * size[0] * size[1]


def test_light_geojson_is_the_layer_cut_to_six_decimals(demo_result):
    """The gap layers' GeoJSON equals the text recipe it replaced (GeoPandas' to_json with every
    number cut to 6 decimals, parsed back), up to one unit in the 6th decimal."""
    import json
    import re

    from coverage_planner.maps import gap_polygons, light_geojson

    cells = demo_result.cells
    rule = next(r for r in demo_result.rules if f"{r.id}_pass" in cells)
    mask = (cells[f"{rule.id}_applies"] & ~cells[f"{rule.id}_pass"]).to_numpy()
    shapes = gap_polygons(cells, mask, cells[f"{rule.id}_gap"].to_numpy())
    assert len(shapes) > 1
    new = light_geojson(shapes)
    text = shapes.to_crs("EPSG:4326").to_json(drop_id=True, ensure_ascii=False)
    old = json.loads(re.sub(r"(-?\d+\.\d{6})\d+", r"\1", text))
    assert [f["properties"] for f in new["features"]] == [f["properties"] for f in old["features"]]
    for a, b in zip(new["features"], old["features"]):
        assert a["geometry"]["type"] == b["geometry"]["type"]
        ca = np.array(shapely.get_coordinates(shapely.from_geojson(json.dumps(a["geometry"]))))
        cb = np.array(shapely.get_coordinates(shapely.from_geojson(json.dumps(b["geometry"]))))
        assert ca.shape == cb.shape and np.abs(ca - cb).max() <= 1.01e-6
        assert np.all(np.abs(ca * 1e6 - np.round(ca * 1e6)) < 1e-3)      # six decimals at most


# ------------------------------------------------------------------- large regions: blocks, chunks


def _hand_cells(rows):
    """Cells from (x, y, people, cell_m) rows, in a metric CRS."""
    x, y, people, side = (np.array(c, dtype=float) for c in zip(*rows))
    return gpd.GeoDataFrame({"population": people, "cell_m": side}, geometry=gpd.points_from_xy(x, y),
                            crs="EPSG:32650")


def test_gap_blocks_sum_cells_on_the_smallest_block_that_fits_and_keep_the_main_reason():
    from coverage_planner.labels import GAP_LABELS
    from coverage_planner.maps import gap_polygons

    # 100 m cells; on 200 m blocks (aligned to multiples of 200 m) they fall into 3 blocks:
    # block (0,0): a (cut_off, 5 people) and b (beyond, 7 people) -> beyond wins;
    # block (1,0): c (cut_off, 2) and d (cut_off, 3); block (5,5): e (beyond, 1)
    cells = _hand_cells([(50, 50, 5, 100), (150, 150, 7, 100), (250, 50, 2, 100), (350, 150, 3, 100),
                         (1050, 1050, 1, 100), (950, 950, 40, 100)])
    mask = np.array([True, True, True, True, True, False])
    reasons = np.array(["cut_off", "beyond_threshold", "cut_off", "cut_off", "beyond_threshold", "cut_off"])
    whole = gap_polygons(cells, mask, reasons, max_cells=10)
    assert "block_m" not in whole and whole["cells"].sum() == 5
    shapes = gap_polygons(cells, mask, reasons, max_cells=4, max_blocks=3)
    assert set(shapes["block_m"]) == {200.0}                    # 2 cells: 3 blocks; 1 cell would be 5
    assert shapes["cells"].sum() == 5 and shapes["population"].sum() == pytest.approx(18.0)
    by_gap = shapes.groupby("gap")[["population", "cells"]].sum()
    assert by_gap.loc[GAP_LABELS["beyond_threshold"]].tolist() == [13.0, 3]   # block (0,0) and block (5,5)
    assert by_gap.loc[GAP_LABELS["cut_off"]].tolist() == [5.0, 2]
    assert shapes.geometry.area.sum() == pytest.approx(3 * 200.0 ** 2)
    assert shapes.geometry.union_all().equals(shapely.union_all(shapely.box(
        [0, 200, 1000], [0, 0, 1000], [200, 400, 1200], [200, 200, 1200])))
    tighter = gap_polygons(cells, mask, reasons, max_cells=4, max_blocks=2)
    assert set(tighter["block_m"]) == {500.0} and tighter["cells"].sum() == 5


def test_gap_blocks_keep_the_totals_of_the_demo(demo_result):
    from coverage_planner.maps import gap_polygons

    cells = demo_result.cells
    rule = next(r for r in demo_result.rules if f"{r.id}_pass" in cells)
    mask = (cells[f"{rule.id}_applies"] & ~cells[f"{rule.id}_pass"]).to_numpy()
    reasons = cells[f"{rule.id}_gap"].to_numpy()
    exact = gap_polygons(cells, mask, reasons)
    blocks = gap_polygons(cells, mask, reasons, max_cells=10, max_blocks=50)
    assert len(set(blocks["block_m"])) == 1 and blocks["block_m"].iloc[0] > cells["cell_m"].max()
    assert blocks["cells"].sum() == exact["cells"].sum() == mask.sum()
    assert blocks["population"].sum() == pytest.approx(cells.loc[mask, "population"].sum(), rel=1e-6)
    assert blocks.geometry.union_all().covers(exact.geometry.union_all())   # every uncovered cell is drawn


def test_a_large_gap_layer_says_it_is_drawn_on_blocks(demo_result, monkeypatch):
    import coverage_planner.maps as maps

    monkeypatch.setattr(maps, "GAP_CELLS_DRAWN", 0)
    monkeypatch.setattr(maps, "GAP_BLOCKS", 50)
    html = coverage_map(demo_result).get_root().render()
    text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), html)   # JSON escapes
    assert re.search(r"方格汇总 on \d+(\.\d+)? k?m blocks", text), "layer names say their blocks"
    assert text.count("blocks for this large region (side in the layer") == 1 and "cells.gpkg" in text   # legend
    assert "People per block" in text and "People per cell" not in text


def test_cells_gpkg_written_in_chunks_reads_back_as_one_write(demo_result, tmp_path):
    from coverage_planner.labels import cell_polygons
    from coverage_planner.outputs import write_cells_gpkg, write_gpkg

    cells = demo_result.cells.iloc[:2500]
    write_gpkg(cell_polygons(cells), tmp_path / "one.gpkg", "cells")
    write_cells_gpkg(cells, tmp_path / "chunked.gpkg", chunk=1000)
    one = gpd.read_file(tmp_path / "one.gpkg", layer="cells")
    chunked = gpd.read_file(tmp_path / "chunked.gpkg", layer="cells")
    assert len(chunked) == len(cells) == 2500
    assert list(chunked.columns) == list(one.columns)
    from geopandas.testing import assert_geodataframe_equal

    assert_geodataframe_equal(chunked, one)
    write_cells_gpkg(cells, tmp_path / "single.gpkg", chunk=5000)      # one chunk: the same bytes as before
    assert (tmp_path / "single.gpkg").read_bytes() == (tmp_path / "one.gpkg").read_bytes()
