"""Boundaries and population inputs that used to give a silently wrong answer or a traceback:
invalid and overlapping units, the population-total invariant, GBK Shapefiles without .cpg, point
grids, sentinel nodata, damaged or empty rasters and layers, clipped OSM admin relations, census rows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from conftest import SHARED, UTM, X0, Y0, lonlat, write_raster
from refusals import refused, refused_cli, warned

from coverage_planner.boundaries import attach_census, load_boundaries
from coverage_planner.generators.demo import DEMO_DIR
from coverage_planner.facilities import load_facilities
from coverage_planner.layers import LayerSpec
from coverage_planner.pipeline import Steps, load_region
from coverage_planner.population import load_population
from coverage_planner.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]


def _region(scenario: Path):
    return load_region(load_scenario(scenario), Steps(quiet=True))


def _units_gpkg(folder: Path, boxes: dict[str, tuple | list], names: dict[str, str] | None = None) -> Path:
    """Units as a GeoPackage in UTM metres relative to (X0, Y0), so edges fall exactly where given."""
    geoms = [shapely.box(X0 + b[0], Y0 + b[1], X0 + b[2], Y0 + b[3]) if isinstance(b[0], (int, float))
             else shapely.Polygon([(X0 + x, Y0 + y) for x, y in b]) for b in boxes.values()]
    frame = gpd.GeoDataFrame({"unit_id": list(boxes), "name": [(names or {}).get(k, k) for k in boxes]},
                             geometry=geoms, crs=UTM)
    path = folder / "units.gpkg"
    frame.to_file(path)
    return path


def _use_units(scenario: Path, path: Path) -> None:
    scenario.write_text(scenario.read_text().replace('path = "units.geojson"', f'path = "{path.name}"'))


def _pixel_total_inside(tif: Path, geometry: shapely.Geometry) -> float:
    """Brute force: every pixel of a UTM raster whose centre lies in the geometry, one by one."""
    import rasterio

    with rasterio.open(tif) as src:
        band = src.read(1, masked=True)
        total = 0.0
        for r in range(src.height):
            for c in range(src.width):
                if band.mask is not np.ma.nomask and band.mask[r, c]:
                    continue
                x, y = src.xy(r, c)
                if geometry.contains(shapely.Point(x, y)):
                    total += float(band[r, c])
    return total


# 1. invalid polygons ------------------------------------------------------------------------------

def _demo_copy(tmp_path: Path) -> Path:
    for name in ("facilities.csv", "population.tif", "roads.osm", "units.geojson", "villages.geojson"):
        shutil.copy(DEMO_DIR / name, tmp_path / name)
    text = (ROOT / "scenarios" / "demo.toml").read_text(encoding="utf-8").replace("../coverage_planner/data/demo/", "")
    scenario = tmp_path / "demo.toml"
    scenario.write_text(text, encoding="utf-8")
    return scenario


def test_bow_tie_unit_is_repaired_with_a_warning_and_no_person_lost(tmp_path):
    (tmp_path / "whole").mkdir()
    whole = _region(_demo_copy(tmp_path / "whole"))
    scenario = _demo_copy(tmp_path)
    data = json.loads((tmp_path / "units.geojson").read_text(encoding="utf-8"))
    ring = data["features"][0]["geometry"]["coordinates"][0]
    ring[1], ring[2] = ring[2], ring[1]            # two vertices swapped: the ring crosses itself
    (tmp_path / "units.geojson").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with warned("A township outline that crosses itself (bow-tie)",
                match=r"unit 1 \(J01, 青石街道\).*invalid polygon \(Self-intersection.*repaired.*left 2\.400 km² "
                      r"where its outline crosses itself enclosed by the units around it.*given to this unit"):
        region = _region(scenario)
    assert shapely.is_valid(region.units.geometry).all()
    # J01 was a box: the repair's two triangles plus the two wedges between them and the neighbours
    assert region.units.geometry.iat[0].symmetric_difference(whole.units.geometry.iat[0]).area < 1e-12
    with rasterio.open(tmp_path / "population.tif") as src:
        raster = float(src.read(1, masked=True).astype(float).sum())
    assert raster == pytest.approx(595_296.8, abs=0.05)            # every person of the raster …
    assert region.population_in == pytest.approx(raster, rel=1e-9)
    assert region.cells["population"].sum() == pytest.approx(raster, rel=1e-9)
    assert region.unit_pop.sum() == pytest.approx(raster, rel=1e-9)
    assert region.unit_pop[0] == pytest.approx(whole.unit_pop[0], rel=1e-12)   # … and J01 keeps all its people
    assert np.allclose(region.unit_pop, whole.unit_pop, rtol=1e-12)


def test_bow_tie_on_the_region_edge_says_what_is_left_outside(tiny_region):
    # T1 (x 1000-2700) drawn with its last two corners swapped: the ring encloses the top and bottom
    # triangles; the left wedge lies against S1 (a hole: given to T1), the right one on the outer edge.
    t1 = [(1000, -100), (2700, -100), (1000, 1100), (2700, 1100)]
    path = _units_gpkg(tiny_region.parent, {"S1": (-100, -100, 1000, 1100), "T1": t1})
    _use_units(tiny_region, path)
    with warned("A bow-tie township outline on the region's outer edge",
                match=r"unit 2 \(T1, T1\).*left 0\.510 km² .*enclosed by the units around it.*given to this "
                      r"unit.* 0\.510 km² where its outline crosses itself on the region's outer edge were left "
                      r"out: they are outside the region"):
        region = _region(tiny_region)
    right_wedge = shapely.Polygon([(X0 + 2700, Y0 - 100), (X0 + 2700, Y0 + 1100), (X0 + 1850, Y0 + 500)])
    expected = shapely.box(X0 - 100, Y0 - 100, X0 + 2700, Y0 + 1100).difference(right_wedge)
    t1_area = shapely.box(X0 + 1000, Y0 - 100, X0 + 2700, Y0 + 1100).difference(right_wedge)
    assert region.region.symmetric_difference(expected).area < 1e-3
    assert region.units.geometry.iat[1].symmetric_difference(t1_area).area < 1e-3
    brute = _pixel_total_inside(tiny_region.parent / "pop.tif", expected)
    assert region.cells["population"].sum() == pytest.approx(brute) == pytest.approx(region.population_in)
    brute_t1 = _pixel_total_inside(tiny_region.parent / "pop.tif", t1_area)
    assert region.unit_pop[1] == pytest.approx(brute_t1)
    assert region.unit_pop[0] == pytest.approx(10.0 * 12 * 11)      # S1 untouched: 11 × 12 pixels


def test_looping_outline_keeps_every_area_it_encloses(tiny_region):
    # T1 is drawn as its box, then a loop inside it: GEOS's default repair ("linework") turns the part
    # enclosed twice into a hole and loses its people; the "structure" repair keeps it.
    u = lambda a, b: (1000 + 425 * a, -100 + 300 * b)  # noqa: E731
    loop = [u(0, 0), u(4, 0), u(4, 4), u(0, 4), u(0, 1), u(3, 1), u(3, 3), u(1, 3), u(1, 0.5), u(0, 0.5)]
    path = _units_gpkg(tiny_region.parent, {"S1": (-100, -100, 1000, 1100), "T1": loop})
    _use_units(tiny_region, path)
    with warned("A township outline that loops over itself", match=r"unit 2 \(T1, T1\).*invalid polygon"):
        region = _region(tiny_region)
    # by hand: everything but the slit between the loop's end and the box's left side (x 1000-1425, y 50-200)
    expected_area = shapely.box(X0 - 100, Y0 - 100, X0 + 2700, Y0 + 1100).difference(
        shapely.box(X0 + 1000, Y0 + 50, X0 + 1425, Y0 + 200))
    assert region.region.symmetric_difference(expected_area).area < 1e-3
    brute = _pixel_total_inside(tiny_region.parent / "pop.tif", expected_area)
    assert region.cells["population"].sum() == pytest.approx(brute) == pytest.approx(region.population_in)
    assert brute == 10.0 * (12 * 28 - 8)          # 4 pixel centres lie in the slit (y = 150), 4 on its edge (y = 50)


# 2. overlapping units -----------------------------------------------------------------------------

def test_overlapping_units_are_refused_with_pair_and_area(tiny_region):
    path = _units_gpkg(tiny_region.parent, {"S1": (-100, -100, 1000, 1100), "T1": (900, -100, 2700, 1100)},
                       {"S1": "西街道", "T1": "东镇"})
    with refused("Two units that overlap", match=r"unit 1 \(S1, 西街道\) and unit 2 \(T1, 东镇\) share 0\.120 km²"):
        load_boundaries(LayerSpec(path, key="boundaries"))


def test_sliver_overlap_is_tolerated_and_cells_count_once(tiny_region):
    # 0.02 m × 1,200 m = 24 m² of overlap: above 10 m², below 0.01% of S1 (132 m²)
    path = _units_gpkg(tiny_region.parent, {"S1": (-100, -100, 1000.01, 1100), "T1": (999.99, -100, 2700, 1100)})
    _use_units(tiny_region, path)
    region = _region(tiny_region)
    assert region.cells["population"].sum() == pytest.approx(3360.0) == pytest.approx(region.population_in)


def test_cell_centres_on_a_shared_edge_count_once(tiny_region):
    # the units meet at x = 1050, exactly on the centres of one column of 100 m pixels
    path = _units_gpkg(tiny_region.parent, {"S1": (-100, -100, 1050, 1100), "T1": (1050, -100, 2700, 1100)})
    _use_units(tiny_region, path)
    region = _region(tiny_region)
    assert region.cells["population"].sum() == pytest.approx(3360.0)         # 12 × 28 pixels of 10 people
    assert region.unit_pop.sum() == pytest.approx(3360.0) and region.population_in == pytest.approx(3360.0)
    assert sorted(region.unit_pop) == pytest.approx([10.0 * 12 * 11 + 120, 10.0 * 12 * 16]) or \
        sorted(region.unit_pop) == pytest.approx([10.0 * 12 * 11, 10.0 * 12 * 17])


# 3. population-total invariant --------------------------------------------------------------------

def test_population_in_is_stored_and_a_lost_cell_is_an_error(tiny_region, monkeypatch):
    from coverage_planner.population import PopulationMismatch

    region = _region(tiny_region)
    assert region.population_in == pytest.approx(3360.0) == pytest.approx(region.cells["population"].sum())
    from coverage_planner import region as region_module

    real = region_module.load_population
    monkeypatch.setattr(region_module, "load_population", lambda *a, **k: real(*a, **k).iloc[1:])   # a bug
    with pytest.raises(PopulationMismatch, match=r"hold 3,350\.000 people but the population layer has 3,360\.000"):
        _region(tiny_region)


def test_census_total_is_the_invariant_on_the_census_path(tiny_region):
    data = json.loads((tiny_region.parent / "units.geojson").read_text(encoding="utf-8"))
    for f, n in zip(data["features"], (1200, 800)):
        f["properties"]["人口"] = n
    (tiny_region.parent / "units.geojson").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    tiny_region.write_text(tiny_region.read_text().replace('[population]\npath = "pop.tif"',
                                                           '[population]\ncensus_column = "人口"\ncell_size_m = 100'))
    region = _region(tiny_region)
    assert region.population_in == 2000.0 and region.cells["population"].sum() == pytest.approx(2000.0)
    assert region.unit_pop.tolist() == pytest.approx([1200.0, 800.0])


# 4. GBK Shapefiles without .cpg -------------------------------------------------------------------

def _gbk_shapefile(folder: Path, names: list[str], encoding: str = "gbk") -> Path:
    frame = gpd.GeoDataFrame({"unit_id": [f"U{i}" for i in range(len(names))], "name": names},
                             geometry=[shapely.box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000)
                                       for i in range(len(names))], crs=UTM)
    path = folder / "units.shp"
    frame.to_file(path, encoding=encoding)
    path.with_suffix(".cpg").unlink(missing_ok=True)
    return path


def test_gbk_shapefile_without_cpg_is_read_as_gbk(tmp_path):
    path = _gbk_shapefile(tmp_path, ["鹿鸣镇", "苏溪镇"])
    with warned("A Shapefile in GBK without a .cpg file",
                match=r"no \.cpg file.*'Â¹ÃùÕò' is '鹿鸣镇'.*GB18030.*encoding = \"gbk\".*units\.cpg"):
        units = load_boundaries(LayerSpec(path, key="boundaries"))
    assert units["name"].tolist() == ["鹿鸣镇", "苏溪镇"]


def test_shapefile_encoding_key_is_used(tmp_path):
    path = _gbk_shapefile(tmp_path, ["鹿鸣镇", "苏溪镇"])
    units = load_boundaries(LayerSpec(path, key="boundaries", encoding="gbk"))
    assert units["name"].tolist() == ["鹿鸣镇", "苏溪镇"]


def test_latin1_shapefile_is_left_alone(tmp_path, recwarn):
    path = _gbk_shapefile(tmp_path, ["Fläsch", "Mäls"], encoding="ISO-8859-1")
    units = load_boundaries(LayerSpec(path, key="boundaries"))
    assert units["name"].tolist() == ["Fläsch", "Mäls"]
    assert not [w for w in recwarn if "GB18030" in str(w.message)]


def test_gbk_facility_shapefile_too(tmp_path):
    frame = gpd.GeoDataFrame({"id": ["T1"], "name": ["鹿鸣镇卫生院"], "type": ["thc"]},
                             geometry=[shapely.Point(X0, Y0)], crs=UTM)
    frame.to_file(tmp_path / "fac.shp", encoding="gbk")
    (tmp_path / "fac.cpg").unlink(missing_ok=True)
    with warned("A facility Shapefile in GBK without a .cpg file", match=r"fac\.shp.*GB18030"):
        fac = load_facilities(LayerSpec(tmp_path / "fac.shp", key="facilities"), UTM)
    assert fac["name"].tolist() == ["鹿鸣镇卫生院"]


# 5. point grids -----------------------------------------------------------------------------------

def test_point_grid_cell_size_is_its_spacing(tmp_path):
    xs, ys = np.meshgrid(np.arange(5) * 1000.0, np.arange(4) * 1000.0)
    grid = gpd.GeoDataFrame({"population": np.full(20, 1000.0)},
                            geometry=gpd.points_from_xy(X0 + 500 + xs.ravel(), Y0 + 500 + ys.ravel()), crs=UTM)
    grid.to_file(tmp_path / "points.gpkg")
    cells = load_population(LayerSpec(tmp_path / "points.gpkg", key="population"), UTM)
    assert cells["cell_m"].iloc[0] == pytest.approx(1000.0)          # was 100 (a point has no area)
    assert cells["population"].sum() == 20000.0
    with warned("A population cell size finer than the layer's own cells", match=r"cell_size_m = 200.*1,000 m"):
        finer = load_population(LayerSpec(tmp_path / "points.gpkg", key="population"), UTM, cell_size_m=200)
    assert finer["cell_m"].iloc[0] == pytest.approx(1000.0) and len(finer) == 20


def test_point_spacing_of_a_lon_lat_grid():
    from pyproj import Geod

    from coverage_planner.population import point_spacing

    lon, lat = np.meshgrid(104.0 + np.arange(10) / 120, 30.5 + np.arange(8) / 120)   # 30″ grid
    x, y = gpd.GeoSeries(gpd.points_from_xy(lon.ravel(), lat.ravel()), crs=4326).to_crs(UTM).pipe(
        lambda s: (s.x.to_numpy(), s.y.to_numpy()))
    geod = Geod(ellps="WGS84")
    dx = geod.inv(104.0, 30.53, 104.0 + 1 / 120, 30.53)[2]
    dy = geod.inv(104.0, 30.53, 104.0, 30.53 + 1 / 120)[2]
    assert point_spacing(x, y) == pytest.approx(np.sqrt(dx * dy), rel=0.01)


# 6. sentinel nodata and 1-based rows --------------------------------------------------------------

def _vector_grid(folder: Path, values: list[float]) -> Path:
    squares = [shapely.box(X0 + i * 200, Y0, X0 + i * 200 + 200, Y0 + 200) for i in range(len(values))]
    gpd.GeoDataFrame({"population": values}, geometry=squares, crs=UTM).to_file(folder / "grid.gpkg")
    return folder / "grid.gpkg"


def test_sentinel_nodata_in_a_vector_grid_is_dropped_with_rows(tmp_path):
    path = _vector_grid(tmp_path, [10.0, -9999.0, 5.0, -3.4028234663852886e38, -2147483646.0, 2.5])
    with warned("Sentinel nodata values (-9999, -3.4e38) in a population grid",
                match=r"3 population value\(s\).*no data.*feature\(s\) 2, 4, 5 \(counting from 1\)"):
        cells = load_population(LayerSpec(path, key="population"), UTM)
    assert cells["population"].sum() == 17.5 and len(cells) == 3


def test_other_negative_values_are_refused_with_1_based_rows(tmp_path):
    path = _vector_grid(tmp_path, [10.0, 4.0, -5.0, float("nan")])
    with refused("A negative or missing value in a population grid",
                 match=r"2 negative or missing \(NaN\) population value\(s\), at feature\(s\) 3, 4 \(counting from 1\)"):
        load_population(LayerSpec(path, key="population"), UTM)


def test_negative_raster_pixel_is_named_by_row_and_column(tmp_path):
    values = np.full((3, 4), 5.0)
    values[1, 2] = -7.0
    write_raster(tmp_path / "pop.tif", values, X0, Y0)
    with refused("A negative pixel in a population raster", match=r"pixel\(s\) \(row 2, column 3\)"):
        load_population(LayerSpec(tmp_path / "pop.tif", key="population"), UTM)


def test_non_numeric_attribute_rows_count_from_1(tmp_path):
    frame = gpd.GeoDataFrame({"id": ["A", "B"], "type": ["ems", "ems"], "ambulances": ["2", "two"]},
                             geometry=[shapely.Point(X0, Y0), shapely.Point(X0 + 10, Y0)], crs=UTM)
    frame.to_file(tmp_path / "fac.gpkg")
    with refused("A word where a facility number is expected", match=r"non-numeric values in row\(s\) 2 "):
        load_facilities(LayerSpec(tmp_path / "fac.gpkg", key="facilities"), UTM)


# 7. damaged, empty and incomplete layers ----------------------------------------------------------

def test_truncated_geotiff_is_a_clear_error(tiny_region):
    tif = tiny_region.parent / "pop.tif"
    rng = np.random.default_rng(1)
    write_raster(tif, rng.uniform(0, 50, (300, 300)), X0 - 100, Y0 + 1100, cell=10.0)
    tif.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    refused_cli("A GeoTIFF cut short (truncated download)", ["run", str(tiny_region), "--quiet"],
                match=r"pop\.tif.*damaged or truncated.*download or export the GeoTIFF again")


def test_all_nodata_raster_says_so(tiny_region):
    write_raster(tiny_region.parent / "pop.tif", np.full((12, 28), -9999.0), X0 - 100, Y0 + 1100)
    refused_cli("A population raster that is all nodata", ["run", str(tiny_region), "--quiet"],
                match=r"every pixel of the raster is nodata")


def test_all_zero_raster_says_so(tiny_region):
    write_raster(tiny_region.parent / "pop.tif", np.zeros((12, 28)), X0 - 100, Y0 + 1100)
    with refused("A population raster with no people (all 0)", match=r"holds no people: every pixel is 0 or nodata"):
        _region(tiny_region)


def test_empty_boundary_layer(tmp_path):
    (tmp_path / "units.geojson").write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with refused("An empty boundary layer", match=r"boundary layer is empty.*one polygon per township"):
        load_boundaries(LayerSpec(tmp_path / "units.geojson", key="boundaries"))


def test_missing_boundary_column_shows_a_boundary_example(tiny_region):
    spec = LayerSpec(tiny_region.parent / "units.geojson", key="boundaries", columns={"unit_id": "乡镇代码"})
    with refused("A boundary column name that is not in the file",
                 match=r"unit_id \(column '乡镇代码'\).*\[boundaries\.columns\].*unit_id = \"乡镇代码\""):
        load_boundaries(spec)


def _osm_admin(path: Path, drop_way: int | None) -> None:
    """Two admin_level=8 relations of square rings, each of two ways; ``drop_way`` is left out."""
    nodes = {1: (0, 0), 2: (1000, 0), 3: (1000, 1000), 4: (0, 1000), 5: (2000, 0), 6: (2000, 1000)}
    ways = {11: [1, 2, 3], 12: [3, 4, 1], 21: [2, 5, 6], 22: [6, 3, 2]}
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="tests">']
    for nid, (x, y) in nodes.items():
        lon, lat = lonlat(X0 + x, Y0 + y)
        lines.append(f'<node id="{nid}" version="1" lat="{lat:.8f}" lon="{lon:.8f}"/>')
    for wid, refs in ways.items():
        if wid != drop_way:
            lines.append(f'<way id="{wid}" version="1">' + "".join(f'<nd ref="{r}"/>' for r in refs) + "</way>")
    for rid, name, members in ((101, "西镇", (11, 12)), (102, "东镇", (21, 22))):
        lines.append(f'<relation id="{rid}" version="1">'
                     + "".join(f'<member type="way" ref="{m}" role="outer"/>' for m in members)
                     + f'<tag k="type" v="boundary"/><tag k="boundary" v="administrative"/>'
                     f'<tag k="admin_level" v="8"/><tag k="name" v="{name}"/></relation>')
    lines.append("</osm>")
    path.write_text("\n".join(lines), encoding="utf-8")


def test_osm_relation_missing_a_way_is_left_out_with_a_warning(tmp_path):
    _osm_admin(tmp_path / "admin.osm", drop_way=22)
    with warned("An OSM boundary relation cut by the extract (others complete)",
                match=r"left out: relation 102 \(东镇\): 1 of 2 member ways present"):
        units = load_boundaries(LayerSpec(tmp_path / "admin.osm", key="boundaries", admin_level="8"), crs=UTM)
    assert units["unit_id"].tolist() == ["101"] and units.area.iloc[0] == pytest.approx(1e6, rel=1e-3)


def test_osm_relations_all_incomplete_are_refused(tmp_path):
    _osm_admin(tmp_path / "admin.osm", drop_way=11)
    (tmp_path / "admin.osm").write_text((tmp_path / "admin.osm").read_text().replace('<way id="22"', '<way id="99"'))
    with refused("OSM boundary relations all cut by the extract",
                 match=r"every relation is incomplete.*relation 101 \(西镇\): 1 of 2.*relation 102 \(东镇\): 1 of 2"):
        load_boundaries(LayerSpec(tmp_path / "admin.osm", key="boundaries", admin_level="8"))


@pytest.mark.skipif(not (SHARED / "chengdu_core.osm.bz2").exists(), reason=f"real data not present: {SHARED}")
def test_chengdu_extract_districts_are_incomplete():
    with refused("Districts of a clipped OSM extract (Chengdu core, admin_level 6)",
                 match=r"relation 3579975 \(金牛区 \(Jinniu\)\): 2 of 11 member ways present"):
        load_boundaries(LayerSpec(SHARED / "chengdu_core.osm.bz2", key="boundaries", admin_level="6"))


@pytest.mark.skipif(not (SHARED / "liechtenstein.osm.pbf").exists(), reason=f"real data not present: {SHARED}")
def test_liechtenstein_communes_match_pyrosm_and_edge_communes_are_named():
    from pyrosm import OSM

    with warned("Communes cut at the edge of an OSM extract (Liechtenstein)",
                match=r"relation 75155 \(Feldkirch\): 5 of 10 member ways present"):
        units = load_boundaries(LayerSpec(SHARED / "liechtenstein.osm.pbf", key="boundaries", admin_level="8"))
    ref = OSM(str(SHARED / "liechtenstein.osm.pbf")).get_boundaries(boundary_type="administrative")
    ref = ref.set_index(ref["id"].astype(str)).loc[units["unit_id"]]
    assert len(units) == 11
    ours, theirs = units.to_crs(UTM).geometry.to_numpy(), ref.to_crs(UTM).geometry.to_numpy()
    assert np.allclose(shapely.area(ours), shapely.area(theirs), rtol=1e-9)
    assert (shapely.area(shapely.symmetric_difference(ours, theirs)) < 1e-3).all()     # m²


# 8. census rows -----------------------------------------------------------------------------------

def test_census_errors_name_rows_as_in_excel(tiny_region):
    units = load_boundaries(LayerSpec(tiny_region.parent / "units.geojson", key="boundaries"))
    table = tiny_region.parent / "census.csv"
    table.write_text("name,population\n西街道,1200\n东镇,-5\n", encoding="utf-8")
    with refused("A negative count in a census table", match=r"row\(s\) 3 of the table \(numbered as in Excel"):
        attach_census(units, table, "name", "population")
    table.write_text("name,population\n西街道,1200\n东镇,800\n北镇,300\n", encoding="utf-8")
    with warned("A census row that matches no unit", match=r"1 row\(s\).*match no unit.*300 people.*北镇"):
        out = attach_census(units, table, "name", "population")
    assert out["census_population"].tolist() == [1200.0, 800.0]
