"""Property-based tests (hypothesis) on the core: what must hold for every input, checked on many
random ones with known or brute-force answers.

- Population is conserved: by grid aggregation, by clipping a raster to the units (a random GeoTIFF
  and random rectangle units, against a pixel-by-pixel sum), and by dasymetric allocation (each unit).
- Coverage is monotone: adding a station, or raising a threshold, never lowers a coverage share.
- Network distance is at least the straight line between a cell and its facility (access legs
  included); travel time is at least that straight line at the profile's top speed, plus turnout.
- Coordinate conversions WGS84 ↔ GCJ-02 ↔ BD-09 round-trip inside China to the module's 1e-10°.

Every run is deterministic (``derandomize=True``, no example database) and bounded in examples, so
the file takes well under a minute on one core.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import UTM, write_raster
from refusals import refused
from coverage_planner import coords
from coverage_planner.coverage import (
    build_travel_model, judge_cells, nearest_measures, rule_value, summarise_spatial,
)
from coverage_planner.dasymetric import allocate
from coverage_planner.errors import InputError
from coverage_planner.layers import LayerSpec
from coverage_planner.network import TRAVEL_PROFILES, RoadNetwork, travel_profile
from coverage_planner.population import aggregate_to_grid, load_population
from coverage_planner.standards import Rule
from coverage_planner.travel import FROM_FACILITY, TO_FACILITY

PROPERTY = settings(derandomize=True, database=None, deadline=None, max_examples=100,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])

finite = {"allow_nan": False, "allow_infinity": False}


# --------------------------------------------------------------------------------------------------
# Population: aggregation, clipping, dasymetric allocation
# --------------------------------------------------------------------------------------------------

@st.composite
def weighted_points(draw, max_n: int = 60):
    """(x, y, population) arrays: points anywhere in a UTM zone (negative offsets included)."""
    n = draw(st.integers(1, max_n))
    x0 = draw(st.floats(-5e5, 9e5, **finite))
    y0 = draw(st.floats(-1e5, 5e6, **finite))
    span = draw(st.floats(1.0, 2e4, **finite))
    xs = draw(st.lists(st.floats(0.0, 1.0, **finite), min_size=n, max_size=n))
    ys = draw(st.lists(st.floats(0.0, 1.0, **finite), min_size=n, max_size=n))
    pop = draw(st.lists(st.floats(0.0, 1e5, **finite), min_size=n, max_size=n))
    return x0 + span * np.array(xs), y0 + span * np.array(ys), np.array(pop)


@PROPERTY
@given(points=weighted_points(), size=st.floats(1.0, 5000.0, **finite))
def test_aggregation_to_a_grid_keeps_every_person_in_the_cell_around_them(points, size):
    x, y, pop = points
    cx, cy, sums = aggregate_to_grid(x, y, pop, size)
    assert sums.sum() == pytest.approx(pop.sum(), rel=1e-12, abs=1e-9)
    assert len(set(zip(cx.tolist(), cy.tolist()))) == len(cx)          # one row per grid cell
    # brute force: the cell of each point is floor(coordinate / size); sum per cell by hand
    expected: dict[tuple[int, int], float] = {}
    for px, py, p in zip(x, y, pop):
        key = (math.floor(px / size), math.floor(py / size))
        expected[key] = expected.get(key, 0.0) + p
    got = {(int(round(a / size - 0.5)), int(round(b / size - 0.5))): s for a, b, s in zip(cx, cy, sums)}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-9)


@st.composite
def rasters_and_units(draw):
    """A small raster of people per 100 m pixel (zeros and nodata included) and 1–4 rectangle units
    whose edges lie on pixel edges (some partly or wholly outside the raster)."""
    rows, cols = draw(st.integers(1, 10)), draw(st.integers(1, 10))
    kinds = draw(st.lists(st.sampled_from(["people", "people", "zero", "nodata"]),
                          min_size=rows * cols, max_size=rows * cols))
    people = draw(st.lists(st.floats(0.01, 5000.0, **finite), min_size=rows * cols, max_size=rows * cols))
    values = np.array([p if k == "people" else (0.0 if k == "zero" else -9999.0)
                       for k, p in zip(kinds, people)]).reshape(rows, cols)
    rects = []
    for _ in range(draw(st.integers(1, 4))):
        c0, c1 = sorted(draw(st.lists(st.integers(-3, cols + 3), min_size=2, max_size=2, unique=True)))
        r0, r1 = sorted(draw(st.lists(st.integers(-3, rows + 3), min_size=2, max_size=2, unique=True)))
        rects.append((c0, c1, r0, r1))
    cell_size = draw(st.sampled_from([None, 100.0, 250.0, 1000.0]))
    return values, rects, cell_size


RASTER_X0, RASTER_TOP = 400000.0, 3381000.0     # top-left corner of the random rasters (UTM 48N)


@PROPERTY
@given(case=rasters_and_units())
def test_clipping_a_raster_to_the_units_keeps_exactly_the_people_inside_them(case):
    values, rects, cell_size = case
    # brute force over pixels: a pixel counts when its index lies in some rectangle (row 0 is the top)
    inside = np.zeros(values.shape, dtype=bool)
    for c0, c1, r0, r1 in rects:
        inside[max(r0, 0):max(r1, 0), max(c0, 0):max(c1, 0)] = True
    people = np.where(values > 0, values.astype("float32").astype(float), 0.0)
    expected = float(people[inside].sum())
    region = shapely.union_all([shapely.box(RASTER_X0 + 100 * c0, RASTER_TOP - 100 * r1,
                                            RASTER_X0 + 100 * c1, RASTER_TOP - 100 * r0)
                                for c0, c1, r0, r1 in rects])
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "pop.tif"
        write_raster(path, values, RASTER_X0, RASTER_TOP)
        spec = LayerSpec(path, key="population")
        if expected == 0:        # no person inside the units: refused, never an empty result
            with pytest.raises(InputError):
                load_population(spec, UTM, region=region, cell_size_m=cell_size)
            return
        cells = load_population(spec, UTM, region=region, cell_size_m=cell_size)
    assert cells["population"].sum() == pytest.approx(expected, rel=1e-9)
    assert (cells["population"] > 0).all()
    if cell_size is None:        # unaggregated cells are the pixel centres themselves, all inside
        assert shapely.contains_xy(region, cells.geometry.x, cells.geometry.y).all()
        assert len(cells) == int((people[inside] > 0).sum())


@st.composite
def census_units(draw):
    """1–5 polygon units (convex hulls of random points, some smaller than a cell, some
    overlapping), their populations, weighted ancillary points and a cell size."""
    polygons = []
    for _ in range(draw(st.integers(1, 5))):
        cx, cy = draw(st.floats(0, 3000, **finite)), draw(st.floats(0, 3000, **finite))
        radius = draw(st.sampled_from([5.0, 60.0, 400.0, 1500.0]))
        n = draw(st.integers(3, 7))
        xs = draw(st.lists(st.floats(-1, 1, **finite), min_size=n, max_size=n))
        ys = draw(st.lists(st.floats(-1, 1, **finite), min_size=n, max_size=n))
        hull = shapely.convex_hull(shapely.multipoints(np.column_stack([cx + radius * np.array(xs),
                                                                        cy + radius * np.array(ys)])))
        assume(hull.geom_type == "Polygon" and hull.area > 1.0)
        polygons.append(hull)
    population = draw(st.lists(st.floats(0, 1e6, **finite), min_size=len(polygons), max_size=len(polygons)))
    m = draw(st.integers(0, 40))
    wx = draw(st.lists(st.floats(-500, 3500, **finite), min_size=m, max_size=m))
    wy = draw(st.lists(st.floats(-500, 3500, **finite), min_size=m, max_size=m))
    w = draw(st.lists(st.sampled_from([0.0, 0.5, 1.0, 30.0, 1e4]), min_size=m, max_size=m))
    units = gpd.GeoDataFrame({"population": population}, geometry=polygons, crs=UTM)
    cell = draw(st.sampled_from([50.0, 100.0, 333.0, 1000.0]))
    return units, (np.array(wx), np.array(wy), np.array(w)), cell


@PROPERTY
@given(case=census_units())
def test_dasymetric_allocation_keeps_each_units_total_inside_the_unit(case):
    units, weights, cell = case
    cells = allocate(units, weights, cell)
    totals = np.bincount(cells["unit"].to_numpy(), weights=cells["population"].to_numpy(), minlength=len(units))
    assert totals == pytest.approx(units["population"].to_numpy(), rel=1e-9, abs=1e-9)
    assert (cells["population"] >= 0).all()
    # every cell lies in (or on the edge of) its own unit
    own = units.geometry.to_numpy()[cells["unit"].to_numpy()]
    assert shapely.intersects(own, cells.geometry.to_numpy()).all()


# --------------------------------------------------------------------------------------------------
# Travel and coverage on random small road grids
# --------------------------------------------------------------------------------------------------

CLASSES = ["residential", "residential", "primary", "tertiary", "service", "trunk", "motorway", "track",
           "footway"]


@st.composite
def road_grids(draw):
    """A jittered street grid (2–4 × 2–4 nodes, 150–800 m blocks): random classes (a footway is not
    driveable, a motorway cannot be joined from the roadside), one-way rules, maxspeed tags (some far
    above the profile's cap), bent roads and ferries; segments may be missing."""
    ni, nj = draw(st.integers(2, 4)), draw(st.integers(2, 4))
    step = draw(st.floats(150.0, 800.0, **finite))
    jitter = draw(st.lists(st.floats(-0.3, 0.3, **finite), min_size=2 * ni * nj, max_size=2 * ni * nj))
    nodes = np.array([(step * (i + jitter[2 * (i * nj + j)]), step * (j + jitter[2 * (i * nj + j) + 1]))
                      for i in range(ni) for j in range(nj)])
    pairs = [(i * nj + j, (i + 1) * nj + j) for i in range(ni - 1) for j in range(nj)]
    pairs += [(i * nj + j, i * nj + j + 1) for i in range(ni) for j in range(nj - 1)]
    pairs += [(0, ni * nj - 1)]                                    # one long diagonal road
    segs = []
    for a, b in pairs:
        if not draw(st.booleans()) and draw(st.booleans()):        # about a quarter are missing
            continue
        segs.append((a, b, draw(st.sampled_from(CLASSES)), draw(st.sampled_from(["both", "both", "fwd", "bwd"])),
                     draw(st.one_of(st.just(math.nan), st.floats(5.0, 250.0, **finite))),
                     draw(st.sampled_from([0.0, 0.0, 0.25, -0.4])), draw(st.sampled_from([False] * 7 + [True]))))
    assume(segs)
    a = np.array([s[0] for s in segs], dtype=np.int64)
    b = np.array([s[1] for s in segs], dtype=np.int64)
    geoms = []
    for (sa, sb, *_rest, bend, _ferry) in segs:
        pa, pb = nodes[sa], nodes[sb]
        normal = np.array([pa[1] - pb[1], pb[0] - pa[0]])        # perpendicular, as long as the road
        geoms.append(shapely.LineString([pa, (pa + pb) / 2 + bend * normal, pb]) if bend
                     else shapely.LineString([pa, pb]))
    geoms = np.array(geoms, dtype=object)
    return RoadNetwork(
        crs=UTM, node_x=nodes[:, 0].copy(), node_y=nodes[:, 1].copy(), seg_a=a, seg_b=b,
        seg_length=shapely.length(geoms), seg_highway=np.array([s[2] for s in segs], dtype=object),
        seg_maxspeed=np.array([s[4] for s in segs], float),
        seg_fwd=np.array([s[3] != "bwd" for s in segs]), seg_bwd=np.array([s[3] != "fwd" for s in segs]),
        seg_geometry=geoms, seg_ferry=np.array([s[6] for s in segs]), source="random grid")


def points_near(draw, net: RoadNetwork, n_min: int, n_max: int) -> tuple[np.ndarray, np.ndarray]:
    """Random points over the network's extent and 300 m around it; some exactly on a node or on a
    road (where a point and its snapped position coincide, and two points may share a spot)."""
    n = draw(st.integers(n_min, n_max))
    x0, x1 = net.node_x.min() - 300, net.node_x.max() + 300
    y0, y1 = net.node_y.min() - 300, net.node_y.max() + 300
    xs = np.array(draw(st.lists(st.floats(x0, x1, **finite), min_size=n, max_size=n)))
    ys = np.array(draw(st.lists(st.floats(y0, y1, **finite), min_size=n, max_size=n)))
    where = draw(st.lists(st.sampled_from(["free", "free", "free", "node", "road"]), min_size=n, max_size=n))
    for k, kind in enumerate(where):
        if kind == "node":
            i = draw(st.integers(0, net.n_nodes - 1))
            xs[k], ys[k] = net.node_x[i], net.node_y[i]
        elif kind == "road":
            on = shapely.line_interpolate_point(net.seg_geometry[draw(st.integers(0, net.n_segments - 1))],
                                                draw(st.sampled_from([0.0, 0.5, 1.0, 0.1])), normalized=True)
            xs[k], ys[k] = on.x, on.y
    return xs, ys


@st.composite
def coverage_cases(draw, min_facilities: int = 1):
    """A road grid, a profile (with a random cap and maxspeed factor), cells with people and
    facilities with turnout times, and a travel direction."""
    net = draw(road_grids())
    name = draw(st.sampled_from(sorted(TRAVEL_PROFILES)))
    overrides = draw(st.sampled_from([{}, {"max_kmh": 40.0}, {"max_kmh": 150.0, "maxspeed_factor": 1.2},
                                      {"maxspeed_factor": 0.5}, {"access_kmh": 20.0, "ferry_kmh": 30.0},
                                      {"speeds_kmh": {"residential": 140.0, "track": 0.0}}]))
    cx, cy = points_near(draw, net, 1, 25)
    fx, fy = points_near(draw, net, min_facilities, 5)
    pop = np.array(draw(st.lists(st.floats(0.0, 500.0, **finite), min_size=len(cx), max_size=len(cx))))
    turnout = np.array(draw(st.lists(st.sampled_from([0.0, 0.0, 30.0, 90.0]), min_size=len(fx), max_size=len(fx))))
    direction = draw(st.sampled_from([FROM_FACILITY, TO_FACILITY]))
    return net, name, overrides, (cx, cy, pop), (fx, fy, turnout), direction


def travel_model(net, name, overrides, cells, facs):
    """build_travel_model on the case; examples without a road a point may join are skipped."""
    facilities = gpd.GeoDataFrame({"facility_id": [f"F{i}" for i in range(len(facs[0]))]},
                                  geometry=gpd.points_from_xy(facs[0], facs[1]), crs=UTM)
    try:
        return build_travel_model(net, name, overrides, cells[0], cells[1], facilities, 1e12)
    except InputError:           # no driveable road at all for the profile, or none to join
        assume(False)


def measures(model, idx, facs, cells, direction):
    fx, fy, turnout = facs
    return nearest_measures(model, np.asarray(idx, dtype=np.int64), turnout, direction, cells[0], cells[1], fx, fy)


def rule(kind: str, measure: str, urban: float, rural: float) -> Rule:
    return Rule(id="r", kind=kind, name_zh="规则", name_en="rule", facility_types=("ems",), source="test",
                line="1", urban=urban, rural=rural, measure=measure, min_share=0.5)


RULES = [("radius", "straight_line"), ("radius", "network_distance"), ("travel_time", "network_distance")]


def shares(the_rule: Rule, m: dict, model, cells) -> np.ndarray:
    """share_covered of every summary row (per zone × unit, per zone, region) for the rule."""
    n = len(cells[0])
    zones = np.where(np.arange(n) % 3 == 0, "rural", "urban")
    frame = pd.DataFrame({"population": cells[2], "zone": zones, "unit_id": np.where(np.arange(n) % 2, "A", "B"),
                          "unit_name": "u"})
    limit = np.where(zones == "urban", the_rule.threshold("urban"), the_rule.threshold("rural"))
    passed, reason = judge_cells(rule_value(the_rule, m), limit, model.cell_snap.access_m, model.cut_off, 1e12)
    out = summarise_spatial(the_rule, frame, passed, reason, np.ones(n, dtype=bool))
    return out.set_index(["zone", "unit_id"])["share_covered"]


@PROPERTY
@given(case=coverage_cases(min_facilities=2), pick=st.data())
def test_adding_a_station_never_lowers_any_measure_or_coverage_share(case, pick):
    net, name, overrides, cells, facs, direction = case
    model = travel_model(net, name, overrides, cells, facs)
    n_fac = len(facs[0])
    keep = pick.draw(st.lists(st.integers(0, n_fac - 1), min_size=1, max_size=n_fac - 1, unique=True))
    fewer = measures(model, sorted(keep), facs, cells, direction)
    more = measures(model, np.arange(n_fac), facs, cells, direction)
    for key in ("straight_m", "network_m", "time_s"):
        assert (more[key] <= fewer[key]).all(), key
    for kind, measure in RULES:
        the_rule = rule(kind, measure, *pick.draw(st.tuples(st.sampled_from([0.5, 1.0, 3.0]),
                                                            st.sampled_from([0.5, 1.0, 3.0]))))
        before, after = shares(the_rule, fewer, model, cells), shares(the_rule, more, model, cells)
        assert (after.fillna(0) >= before.fillna(0)).all(), (kind, measure)


@PROPERTY
@given(case=coverage_cases(), low=st.floats(0.1, 5.0, **finite), factor=st.floats(1.0, 3.0, **finite))
def test_raising_a_threshold_never_lowers_any_coverage_share(case, low, factor):
    net, name, overrides, cells, facs, direction = case
    model = travel_model(net, name, overrides, cells, facs)
    m = measures(model, np.arange(len(facs[0])), facs, cells, direction)
    for kind, measure in RULES:
        strict = shares(rule(kind, measure, low, low * 0.5), m, model, cells)
        looser = shares(rule(kind, measure, low * factor, low * 0.5 * factor), m, model, cells)
        assert (looser.fillna(0) >= strict.fillna(0)).all(), (kind, measure)


def pair_costs(model, direction: str, weight: str, facs) -> np.ndarray:
    """Cost of every (cell, facility) pair from Router.bounded with no practical limit (the covering
    sets behind isochrones and siting): turnout + facility access leg + road + cell access leg."""
    v = model.access_mps
    src, cells = model.fac_snap, model.cell_snap
    if weight == "time":
        mat = model.router(direction, "time").bounded(src, facs[2] + src.access_m / v, cells, cells.access_m / v, 1e15)
    else:
        mat = model.router(direction, "length").bounded(src, src.access_m, cells, cells.access_m, 1e15)
    out = np.full(mat.shape, np.inf)
    coo = mat.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


@PROPERTY
@given(case=coverage_cases())
def test_network_distance_and_time_are_bounded_by_the_straight_line(case):
    """For every cell and facility: network metres ≥ the straight line between them (access legs
    included), and seconds ≥ turnout + that straight line at the profile's top speed (maxspeed tags
    and overrides are capped at max_kmh; access legs go at access_kmh). The nearest facility's
    cost is the least of the pair costs (nearest search and covering matrix agree)."""
    net, name, overrides, cells, facs, direction = case
    model = travel_model(net, name, overrides, cells, facs)
    fx, fy, turnout = facs
    m = measures(model, np.arange(len(fx)), facs, cells, direction)
    profile = travel_profile(name, overrides)
    assert (model.net.seg_speed_kmh <= float(profile["max_kmh"]) + 1e-9).all()
    # the model's top speed: roads are capped at max_kmh, access legs go at access_kmh (slower, except
    # for an override that makes walking to the road faster than walking along it)
    top_mps = max(float(profile["max_kmh"]), float(profile.get("access_kmh", 5.0))) / 3.6
    line = np.hypot(cells[0][:, None] - fx[None, :], cells[1][:, None] - fy[None, :])   # cells × facilities
    metres, seconds = pair_costs(model, direction, "length", facs), pair_costs(model, direction, "time", facs)
    assert (metres >= line - 1e-6 * (1 + line)).all()
    bound = turnout[None, :] + line / top_mps
    assert (seconds >= bound - 1e-6 * (1 + bound)).all()
    assert m["straight_m"] == pytest.approx(line.min(axis=1), rel=1e-12)
    for key, label, pairs in (("network_m", "network_fac", metres), ("time_s", "time_fac", seconds)):
        assert m[key] == pytest.approx(pairs.min(axis=1), rel=1e-9), key
        reached = np.isfinite(m[key])
        assert ((m[label] >= 0) == reached).all()
        got = pairs[np.flatnonzero(reached), m[label][reached]]     # the facility named is the one reached
        assert got == pytest.approx(m[key][reached], rel=1e-9), label


def tiny_net(nodes, segs) -> RoadNetwork:
    """RoadNetwork from node coordinates and (a, b, highway, fwd, bwd, ferry) tuples."""
    nodes = np.asarray(nodes, float)
    a, b = (np.array([s[k] for s in segs], dtype=np.int64) for k in (0, 1))
    geoms = shapely.linestrings(np.stack([nodes[a], nodes[b]], axis=1))
    return RoadNetwork(crs=UTM, node_x=nodes[:, 0].copy(), node_y=nodes[:, 1].copy(), seg_a=a, seg_b=b,
                       seg_length=shapely.length(geoms), seg_highway=np.array([s[2] for s in segs], dtype=object),
                       seg_maxspeed=np.full(len(a), np.nan), seg_fwd=np.array([s[3] for s in segs]),
                       seg_bwd=np.array([s[4] for s in segs]), seg_geometry=geoms,
                       seg_ferry=np.array([s[5] for s in segs]))


CORE_WITHOUT_LOCAL_ROADS = {
    # found by the properties above: two strongly connected parts of two nodes each, a two-way ferry
    # and a two-way street, joined by a one-way street; the tie goes to the ferry
    "ferry": tiny_net([(0, 0), (0, 150), (150, 0), (150, 150)],
                      [(0, 2, "residential", True, True, False), (1, 3, "residential", True, True, True),
                       (0, 1, "residential", True, False, False)]),
    # a two-way motorway of four nodes, reached from a two-way street only by a one-way slip road
    "motorway": tiny_net([(0, 1000), (500, 1000), (1000, 1000), (1500, 1000), (1500, 0), (0, 0)],
                         [(0, 1, "motorway", True, True, False), (1, 2, "motorway", True, True, False),
                          (2, 3, "motorway", True, True, False), (3, 4, "residential", True, False, False),
                          (4, 5, "residential", True, True, False)]),
}


@pytest.mark.parametrize("core", sorted(CORE_WITHOUT_LOCAL_ROADS))
def test_a_core_of_ferries_or_motorways_only_is_not_a_crash(core):
    """The routable core is the strongly connected part with the most joinable roads: the local
    two-way street here, not the larger ring of ferries or motorways (found by hypothesis)."""
    facilities = gpd.GeoDataFrame({"facility_id": ["F1"]}, geometry=gpd.points_from_xy([50.0], [10.0]), crs=UTM)
    net = CORE_WITHOUT_LOCAL_ROADS[core]
    model = build_travel_model(net, "ambulance", None, np.array([100.0]), np.array([20.0]), facilities, 500.0)
    assert model.snappable[model.fac_snap.seg].all() and model.snappable.any()
    assert not (model.net.seg_ferry[model.main] | np.isin(model.net.seg_highway[model.main].astype(str),
                                                           ["motorway", "motorway_link"])).any()


def test_no_joinable_road_at_all_is_refused():
    """Only a two-way motorway: nothing a point may join, refused with a message (not a traceback)."""
    net = tiny_net([(0, 0), (500, 0), (1000, 0)], [(0, 1, "motorway", True, True, False),
                                                   (1, 2, "motorway", True, True, False)])
    facilities = gpd.GeoDataFrame({"facility_id": ["F1"]}, geometry=gpd.points_from_xy([50.0], [10.0]), crs=UTM)
    with refused("A road file with only motorways, ramps or ferries", match="joined from the roadside"):
        build_travel_model(net, "ambulance", None, np.array([100.0]), np.array([20.0]), facilities, 500.0)


# --------------------------------------------------------------------------------------------------
# Coordinate conversions
# --------------------------------------------------------------------------------------------------

# Well inside the box in which Chinese maps shift (72.004–137.8347°E, 0.8293–55.8271°N); at its edge
# the GCJ-02 shift switches on and off, and a point and its shifted image may lie on either side.
china_lon = st.floats(72.2, 137.6, **finite)
china_lat = st.floats(1.0, 55.6, **finite)
TOL_DEG = 1e-9          # the module iterates to 1e-10°; allow rounding in the last step


@st.composite
def china_points(draw):
    n = draw(st.integers(1, 30))
    lon = draw(st.lists(china_lon, min_size=n, max_size=n))
    lat = draw(st.lists(china_lat, min_size=n, max_size=n))
    return np.array(lon), np.array(lat)


def close(a: tuple, b: tuple, tol: float = TOL_DEG) -> bool:
    return bool(np.all(np.abs(a[0] - b[0]) < tol) and np.all(np.abs(a[1] - b[1]) < tol))


@PROPERTY
@given(points=china_points())
def test_coordinate_conversions_round_trip_inside_china(points):
    lon, lat = points
    gcj = coords.wgs84_to_gcj02(lon, lat)
    bd = coords.wgs84_to_bd09(lon, lat)
    assert close(coords.gcj02_to_wgs84(*gcj), points)
    assert close(coords.bd09_to_wgs84(*bd), points)
    assert close(coords.bd09_to_gcj02(*coords.gcj02_to_bd09(*gcj)), gcj)
    # the inverses are exact inverses: forward(inverse(p)) = p, for points given in either system
    assert close(coords.wgs84_to_gcj02(*coords.gcj02_to_wgs84(lon, lat)), points)
    assert close(coords.gcj02_to_bd09(*coords.bd09_to_gcj02(lon, lat)), points)
    assert close(coords.wgs84_to_bd09(*coords.bd09_to_wgs84(lon, lat)), points)
    for system in coords.SYSTEMS:
        assert close(coords.to_wgs84(*coords.from_wgs84(lon, lat, system), system), points), system
    # the shift is real inside China (GCJ-02: a few hundred metres; BD-09 more), so the test can fail
    assert not close(gcj, points, 1e-4) and not close(bd, points, 1e-3)


@PROPERTY
@given(lon=st.floats(-180.0, 71.8, **finite), lat=st.floats(-89.0, 89.0, **finite))
def test_gcj02_leaves_points_outside_china_where_they_are(lon, lat):
    assert coords.wgs84_to_gcj02(lon, lat) == (lon, lat)
    assert coords.gcj02_to_wgs84(lon, lat) == (lon, lat)
    assert close(coords.bd09_to_wgs84(*coords.wgs84_to_bd09(lon, lat)), (lon, lat))
