"""Isochrone polygons: exact shapes on hand-built roads, quality against the engine's own cell times on
the demo, display only, and the ways to turn them off (``--no-isochrones``, ``isochrone_minutes = []``)."""

from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from coverage_planner.cli import main
from coverage_planner.coverage import TravelModel, turnout_seconds
from coverage_planner.isochrones import facility_isochrones
from coverage_planner.network import RoadNetwork
from coverage_planner.pipeline import run
from coverage_planner.scenario import load_scenario
from coverage_planner.travel import FROM_FACILITY, TO_FACILITY, snap

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "scenarios" / "demo.toml"
ACCESS_MPS = 5.0 / 3.6        # 5 km/h
ROAD_MPS = 10.0               # 36 km/h
MARGIN_S = 5.0 / ACCESS_MPS   # half a 10 m pixel of walking: the contour lies at the limit plus this


def straight_road(n_pieces: int, piece_m: float, fwd_only: bool = False) -> RoadNetwork:
    """A straight road along y = 0 from x = 0, cut into ``n_pieces`` segments, driven at 36 km/h."""
    x = np.arange(n_pieces + 1) * piece_m
    a, b = np.arange(n_pieces), np.arange(1, n_pieces + 1)
    geoms = shapely.linestrings(np.stack([np.column_stack([x[a], 0 * x[a]]), np.column_stack([x[b], 0 * x[b]])], 1))
    n = n_pieces
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=np.zeros(n + 1), seg_a=a, seg_b=b,
                       seg_length=np.full(n, piece_m), seg_highway=np.full(n, "residential", dtype=object),
                       seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.full(n, not fwd_only),
                       seg_geometry=geoms, seg_speed_kmh=np.full(n, ROAD_MPS * 3.6))


def road_of_pieces(lengths: list[float]) -> RoadNetwork:
    """A straight two-way road along y = 0 from x = 0, cut into segments of the given lengths, at 36 km/h."""
    x = np.r_[0.0, np.cumsum(lengths)]
    n = len(lengths)
    a, b = np.arange(n), np.arange(1, n + 1)
    geoms = shapely.linestrings(np.stack([np.column_stack([x[a], 0 * x[a]]), np.column_stack([x[b], 0 * x[b]])], 1))
    return RoadNetwork(crs="EPSG:32648", node_x=x, node_y=np.zeros(n + 1), seg_a=a, seg_b=b,
                       seg_length=np.asarray(lengths, float), seg_highway=np.full(n, "residential", dtype=object),
                       seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.ones(n, bool),
                       seg_geometry=geoms, seg_speed_kmh=np.full(n, ROAD_MPS * 3.6))


def model_on(net: RoadNetwork, fx: float, fy: float = 0.0) -> tuple[TravelModel, gpd.GeoDataFrame]:
    everything = np.ones(net.n_segments, dtype=bool)
    fac = snap(net, np.array([fx]), np.array([fy]))
    cells = snap(net, np.array([fx]), np.array([fy]))
    model = TravelModel("ambulance", {"access_kmh": 5.0}, net, everything, everything, cells, fac,
                        np.zeros(1, dtype=bool))
    frame = gpd.GeoDataFrame({"facility_id": ["F"], "name": ["F"], "type": ["ems"]},
                             geometry=gpd.points_from_xy([fx], [fy]), crs=net.crs)
    return model, frame


def diamond(x0: float, forward_m: float, backward_m: float, half_width_m: float) -> shapely.Geometry:
    """Points (x, y) with |y| ≤ half_width · (1 − distance along the road / reach): the exact reach beside a road."""
    return shapely.Polygon([(x0 - backward_m, 0), (x0, half_width_m), (x0 + forward_m, 0), (x0, -half_width_m)])


def half_disc_behind(radius: float) -> shapely.Geometry:
    """Points with x < 0 within ``radius`` of the road's end at (0, 0): they join the road at that end."""
    return shapely.Point(0, 0).buffer(radius, quad_segs=256).intersection(shapely.box(-2 * radius, -radius, 0, radius))


def exact_reach(seconds: float, backward: bool = True) -> shapely.Geometry:
    """What the engine reaches from a facility at the start (x = 0) of the straight road within ``seconds``."""
    lateral = ACCESS_MPS * seconds          # < 1,000 m (max_access_m) for the limits used here
    front = diamond(0.0, ROAD_MPS * seconds, 0.0, lateral)
    return shapely.union(front, half_disc_behind(lateral)) if backward else front


def assert_area_between(geom, inner, outer, slack: float = 0.01) -> None:
    assert (1 - slack) * inner.area <= geom.area <= (1 + slack) * outer.area, (geom.area, inner.area, outer.area)


def one_polygon(model, frame, minutes: float, direction: str = FROM_FACILITY, pixel_m: float = 10.0):
    iso = facility_isochrones(model, frame, np.array([0]), np.zeros(1), direction, [minutes], pixel_m=pixel_m)
    assert len(iso) == 1 and iso["minutes"].iloc[0] == minutes and iso["direction"].iloc[0] == direction
    return iso.geometry.iloc[0]


@pytest.mark.parametrize("minutes", [2.0, 5.0])
def test_straight_road_polygon_is_the_exact_reach(minutes):
    """A facility at the end of a straight 36 km/h road: within L the engine reaches a thin diamond along the
    road (lateral reach = walking the time left) and a half disc behind the road's end. The contour lies at
    L plus half a pixel of walking (the documented margin: 3.6 s at 10 m pixels), so the polygon's area is
    between those of the shapes for L and for L + margin (1% slack); it holds ≥ 99% of the shape for L and
    nothing reached only after L + 2 minutes."""
    model, frame = model_on(straight_road(20, 500.0), 0.0)
    geom = one_polygon(model, frame, minutes)
    exact = exact_reach(minutes * 60)
    assert geom.is_valid and geom.geom_type == "Polygon" and len(geom.interiors) == 0
    assert_area_between(geom, exact, exact_reach(minutes * 60 + MARGIN_S))
    assert shapely.difference(exact, geom).area < 0.01 * exact.area
    assert shapely.difference(geom, exact_reach(minutes * 60 + 120)).area < 1e-6 * exact.area
    # the reach along the road ends where time runs out (the simplification may shave the thin tip a little)
    assert 0.95 * ROAD_MPS * minutes * 60 <= geom.bounds[2] <= ROAD_MPS * (minutes * 60 + MARGIN_S)


def test_facility_in_the_middle_of_a_long_road_reaches_both_ways():
    """One 10 km segment, the facility half-way: the reach runs straight along that segment both ways (its
    ends are beyond the limit), a diamond 6 km long."""
    model, frame = model_on(straight_road(1, 10_000.0), 5000.0)
    geom = one_polygon(model, frame, 5.0)
    exact = diamond(5000.0, 3000.0, 3000.0, ACCESS_MPS * 300)
    reach = 300 + MARGIN_S
    assert_area_between(geom, exact, diamond(5000.0, ROAD_MPS * reach, ROAD_MPS * reach, ACCESS_MPS * reach))
    assert shapely.difference(exact, geom).area < 0.01 * exact.area


def test_reach_along_a_partial_last_edge_is_not_cut_off():
    """A 100 m piece, then a 10 km piece whose far end is never reached: within 5 minutes the engine
    reaches 3 km along the long piece (a partial last edge). The polygon runs out to there, not only to the
    last reached node plus the walking distance (the window drawn around reached nodes alone stopped at
    about 530 m)."""
    model, frame = model_on(road_of_pieces([100.0, 10_000.0]), 0.0)
    geom = one_polygon(model, frame, 5.0)
    exact = exact_reach(300)
    assert_area_between(geom, exact, exact_reach(300 + MARGIN_S))
    assert shapely.difference(exact, geom).area < 0.01 * exact.area
    assert 0.95 * ROAD_MPS * 300 <= geom.bounds[2] <= ROAD_MPS * (300 + MARGIN_S)


def test_polygons_do_not_depend_on_the_number_of_threads():
    """Drawing a batch's polygons in threads gives exactly the polygons drawn one by one: three facilities
    on a road grid (some streets one-way), two limits, 0, 1 and 3 drawing threads, with Dijkstra batches
    of one facility and of all three."""
    xs = np.arange(6) * 400.0
    pieces = []
    for y in xs:                       # a 6 × 6 grid of 400 m blocks: rows and columns of straight roads
        pieces += [((x0, y), (x0 + 400.0, y)) for x0 in xs[:-1]] + [((y, x0), (y, x0 + 400.0)) for x0 in xs[:-1]]
    geoms = shapely.linestrings(np.array(pieces))
    nodes, seg_ab = np.unique(np.array(pieces).reshape(-1, 2), axis=0, return_inverse=True)
    seg_ab = seg_ab.reshape(-1, 2)
    n = len(pieces)
    net = RoadNetwork(crs="EPSG:32648", node_x=nodes[:, 0], node_y=nodes[:, 1], seg_a=seg_ab[:, 0],
                      seg_b=seg_ab[:, 1], seg_length=np.full(n, 400.0),
                      seg_highway=np.full(n, "residential", dtype=object),
                      seg_maxspeed=np.full(n, np.nan), seg_fwd=np.ones(n, bool), seg_bwd=np.arange(n) % 3 > 0,
                      seg_geometry=geoms, seg_speed_kmh=np.full(n, ROAD_MPS * 3.6))
    fx, fy = np.array([130.0, 1000.0, 1900.0]), np.array([10.0, 1210.0, 600.0])
    everything = np.ones(n, dtype=bool)
    fac = snap(net, fx, fy)
    model = TravelModel("ambulance", {"access_kmh": 5.0}, net, everything, everything, fac, fac, np.zeros(3, bool))
    frame = gpd.GeoDataFrame({"facility_id": ["A", "B", "C"], "name": ["A", "B", "C"], "type": ["ems"] * 3},
                             geometry=gpd.points_from_xy(fx, fy), crs=net.crs)
    runs = []
    for workers, floats in ((0, 10**9), (1, 1), (3, 1), (3, 10**9)):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("coverage_planner.isochrones.DIJKSTRA_FLOATS", floats)
            runs.append(facility_isochrones(model, frame, np.arange(3), np.array([0.0, 60.0, 0.0]), FROM_FACILITY,
                                            [2.0, 4.0], pixel_m=20.0, workers=workers))
    first = runs[0].geometry.to_numpy()
    assert not shapely.is_empty(first).any() and len(set(shapely.area(first).round(3))) == 6
    for other in runs[1:]:
        assert other.drop(columns="geometry").equals(runs[0].drop(columns="geometry"))
        assert shapely.equals_exact(other.geometry.to_numpy(), first, tolerance=0).all()


def test_one_way_road_reach_depends_on_direction():
    """A one-way road leaving the facility: ambulances drive out along it (from_facility), but nobody
    downstream can drive back (to_facility reaches only the half disc behind the road's start)."""
    model, frame = model_on(straight_road(20, 500.0, fwd_only=True), 0.0)
    out = one_polygon(model, frame, 5.0, FROM_FACILITY)
    back = one_polygon(model, frame, 5.0, TO_FACILITY)
    assert_area_between(out, exact_reach(300), exact_reach(300 + MARGIN_S))
    assert_area_between(back, half_disc_behind(ACCESS_MPS * 300), half_disc_behind(ACCESS_MPS * (300 + MARGIN_S)),
                        slack=0.03)
    assert back.bounds[2] < 50.0                        # nothing along the road


def test_turnout_beyond_the_limit_gives_an_empty_polygon():
    """A 6-minute turnout and a 5-minute limit: nothing is reached, and the polygon is empty (not a dot)."""
    model, frame = model_on(straight_road(4, 500.0), 0.0)
    iso = facility_isochrones(model, frame, np.array([0]), np.array([360.0]), FROM_FACILITY, [5.0, 10.0],
                              pixel_m=10.0)
    assert iso.geometry.iloc[0].is_empty
    assert_area_between(iso.geometry.iloc[1], exact_reach(240), exact_reach(240 + MARGIN_S))


@pytest.fixture(scope="module")
def demo_result(tmp_path_factory):
    return run(load_scenario(DEMO, tmp_path_factory.mktemp("demo")), quiet=True, isochrones=False)


def engine_reach(model: TravelModel, offsets: np.ndarray, direction: str, seconds: float) -> np.ndarray:
    """(cells × facilities) bool: the cells the engine reaches within ``seconds`` and counts (road access)."""
    cells, v = model.cell_snap, model.access_mps
    src = model.fac_snap
    mat = model.router(direction, "time").bounded(src, offsets + src.access_m / v, cells, cells.access_m / v,
                                                   seconds)
    reached = np.zeros(mat.shape, dtype=bool)
    coo = mat.tocoo()
    reached[coo.row, coo.col] = True
    return reached & ((cells.access_m <= model.max_access_m) & ~model.cut_off)[:, None]


@pytest.mark.parametrize("direction", [FROM_FACILITY, TO_FACILITY])
def test_demo_polygons_hold_the_cells_the_engine_reaches(demo_result, direction):
    """For every demo facility and limit (15, 30 min): the polygon holds ≥ 98% of the cells the engine
    reaches within the limit, ≤ 5% of those it reaches only after limit + 2 min (or never), and ≤ 5% of
    the cells inside it are such late ones."""
    model = demo_result.models["ambulance"]
    fac = demo_result.region.facilities
    offsets = turnout_seconds(fac, demo_result.scenario.profile) if direction == FROM_FACILITY else np.zeros(len(fac))
    iso = facility_isochrones(model, fac, np.arange(len(fac)), offsets, direction, [15, 30])
    x, y = demo_result.cells.geometry.x.to_numpy(), demo_result.cells.geometry.y.to_numpy()
    for minutes in (15, 30):
        reached = engine_reach(model, offsets, direction, minutes * 60.0)
        late = ~engine_reach(model, offsets, direction, minutes * 60.0 + 120.0)
        geoms = iso.loc[iso["minutes"] == minutes, "geometry"].to_numpy()
        assert len(geoms) == len(fac)
        for k, geom in enumerate(geoms):
            inside = shapely.contains_xy(geom, x, y)
            assert reached[:, k].sum() > 100
            recall = (inside & reached[:, k]).sum() / reached[:, k].sum()
            spill = (inside & late[:, k]).sum() / late[:, k].sum()
            spill_inside = (inside & late[:, k]).sum() / inside.sum()
            case = (fac["facility_id"].iloc[k], minutes, recall, spill, spill_inside)
            assert recall >= 0.98 and spill <= 0.05 and spill_inside <= 0.05, case


def test_time_grid_is_the_same_without_copies_of_road_ends(demo_result):
    """The grid leaves out road end points that have an exact copy at a lower index (a node shared by
    several segments); every pixel still joins the same road point as with all of them kept (demo roads,
    100 m pixels)."""
    from coverage_planner.time_grid import _build_grid, _grid_frame

    model = demo_result.models["ambulance"]
    lo, hi, pixel = _grid_frame(model, 100.0)
    fast = _build_grid(model.net, model.snappable, lo, hi, pixel, model.max_access_m)
    full = _build_grid(model.net, model.snappable, lo, hi, pixel, model.max_access_m, drop_copies=False)
    assert (fast.seg >= 0).sum() > 10_000
    for a, b in ((fast.seg, full.seg), (fast.frac, full.frac), (fast.access_m, full.access_m)):
        assert np.array_equal(a, b)


def test_demo_polygons_are_clean(demo_result):
    """Valid (Multi)Polygons with no hole or part smaller than (2 pixels)² = 0.04 km², and no more vertices
    than the outline needs (simplified: under 2,000 for a district-sized polygon)."""
    model = demo_result.models["ambulance"]
    fac = demo_result.region.facilities
    iso = facility_isochrones(model, fac, np.arange(len(fac)), turnout_seconds(fac, demo_result.scenario.profile),
                              FROM_FACILITY, [15, 30])
    geoms = iso.geometry.to_numpy()
    assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any()
    parts = shapely.get_parts(geoms)
    assert (shapely.area(parts) >= 0.04e6).all()
    holes = [shapely.Polygon(r).area for p in parts for r in p.interiors]
    assert all(a >= 0.04e6 for a in holes), min(holes)
    assert shapely.get_num_coordinates(geoms).max() < 2000
    assert (iso.loc[iso["minutes"] == 15].geometry.area.to_numpy()
            <= iso.loc[iso["minutes"] == 30].geometry.area.to_numpy()).all()


def test_isochrones_are_display_only(tiny_region):
    """The rules' results are the same with and without the polygons."""
    with_iso = run(load_scenario(tiny_region), quiet=True)
    without = run(load_scenario(tiny_region), quiet=True, isochrones=False)
    assert len(with_iso.isochrones) == 4 and without.isochrones is None
    assert with_iso.summary.equals(without.summary)


def test_no_isochrones_flag_writes_none_and_removes_an_old_file(tiny_region):
    """``run --no-isochrones``: no isochrones.gpkg (an earlier run's file is removed, not left stale beside
    the new outputs), no isochrone layer on the map, the same summary."""
    out = tiny_region.parent / "out"
    assert main(["run", str(tiny_region), "--quiet"]) == 0
    assert (out / "isochrones.gpkg").exists()
    summary = (out / "summary.csv").read_bytes()
    assert main(["run", str(tiny_region), "--quiet", "--no-isochrones"]) == 0
    assert not (out / "isochrones.gpkg").exists()
    assert "isochrones" not in (out / "coverage.html").read_text(encoding="utf-8")
    assert (out / "summary.csv").read_bytes() == summary


def test_empty_isochrone_minutes_means_none(tiny_region):
    """``[outputs] isochrone_minutes = []`` is accepted and means no isochrones."""
    text = tiny_region.read_text(encoding="utf-8").replace("isochrone_minutes = [5, 10]", "isochrone_minutes = []")
    tiny_region.write_text(text, encoding="utf-8")
    scn = load_scenario(tiny_region)
    assert scn.isochrone_minutes == []
    assert run(scn, quiet=True).isochrones is None
    assert main(["run", str(tiny_region), "--quiet"]) == 0
    out = tiny_region.parent / "out"
    assert (out / "summary.csv").exists() and not (out / "isochrones.gpkg").exists()


def test_pipeline_isochrones_per_facility_and_limit(tiny_region):
    """The pipeline draws one polygon per facility and limit, each around its own facility."""
    result = run(load_scenario(tiny_region), quiet=True)
    iso = result.isochrones
    assert sorted(zip(iso["facility_id"], iso["minutes"])) == [("C1", 5.0), ("C1", 10.0), ("E1", 5.0), ("E1", 10.0)]
    fac = result.region.facilities.set_index("facility_id")
    for _, row in iso.iterrows():
        assert row.geometry.contains(fac.geometry[row["facility_id"]])
    assert not math.isnan(iso.geometry.area.sum())


def test_a_part_that_simplifying_pinches_in_two_is_kept_as_polygons():
    """A time field (saved from a served demo state whose `run` crashed) where Douglas–Peucker turns
    one contour part into a MultiPolygon: the isochrone is still drawn, valid, polygonal, and within 1% of
    the unsimplified contour's area."""
    from coverage_planner.isochrones import contours, filled_polygons

    field = np.load(Path(__file__).parent / "data" / "isochrone_simplify_split.npz")["tenths_s"] / 10.0
    level, pixel = 936.0, 100.0
    geom = filled_polygons(contours(field), level, (2 * pixel) ** 2, pixel / 2, (0.0, 0.0), pixel)
    assert shapely.is_valid(geom) and geom.geom_type in ("Polygon", "MultiPolygon") and not geom.is_empty
    raw = filled_polygons(contours(field), level, 0.0, 0.0, (0.0, 0.0), pixel)   # no simplifying, no specks dropped
    assert abs(geom.area - raw.area) <= 0.01 * raw.area, (geom.area, raw.area)   # specks and simplifying only
