"""The loaded region: its layers in one metric CRS (:class:`Region`), and :func:`load_region`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .boundaries import attach_census, boundaries_from_frame, load_boundaries
from .dasymetric import allocate, road_weights
from .facilities import facilities_from_frame, load_facilities, points_from_frame
from .layers import region_crs
from .population import check_population_total, load_population, population_from_frame, population_in_region
from .progress import Steps
from .roads import load_roads, roads_from_graph, scenario_clip
from .scenario import Scenario

__all__ = ["LayerFrames", "Region", "assign_units", "load_region"]


@dataclass
class LayerFrames:
    """Layers given to the library API as objects; None means the scenario's file is read.

    The same checks run on them as on files (the loaders' ``*_from_frame`` functions).
    """

    boundaries: gpd.GeoDataFrame | None = None
    facilities: gpd.GeoDataFrame | None = None
    population: gpd.GeoDataFrame | None = None
    roads: object | None = None                     # an OSMnx graph (networkx.MultiDiGraph)
    villages: gpd.GeoDataFrame | None = None


@dataclass
class Region:
    """The loaded layers in one metric CRS.

    Build one with :meth:`from_scenario` (a scenario TOML file) or :meth:`from_geodataframes`
    (layers as GeoDataFrames, population as a frame or a raster path, roads as an OSM file or an
    OSMnx graph); check it with ``coverage_planner.check`` and site stations with
    ``coverage_planner.site``.
    """

    crs: str
    units: gpd.GeoDataFrame
    region: shapely.Geometry
    facilities: gpd.GeoDataFrame
    cells: gpd.GeoDataFrame       # population, cell_m, unit_id, unit_name, zone, geometry
    roads: object
    unit_pop: np.ndarray
    fac_unit: np.ndarray
    villages: gpd.GeoDataFrame | None = None      # 行政村 with population, unit_id, unit_name, zone
    census_scaling: pd.DataFrame | None = None    # per unit: raster and census totals, factor
    population_in: float = float("nan")   # people of the input inside the units, counted independently
    scenario: Scenario | None = None      # what it was loaded for (profile, travel settings, layers)
    layers: LayerFrames | None = None     # the objects given to the library API instead of files
    warnings: list[str] = field(default_factory=list)   # PlannerWarnings raised while loading

    @classmethod
    def from_scenario(cls, path: str | Path, progress: bool = False) -> Region:
        """Load the layers of a scenario file (as ``coverage-planner run`` does), with the same checks.

        Parameters
        ----------
        path : str or Path
            A scenario TOML file, e.g. ``scenarios/demo.toml``.
        progress : bool
            Show a spinner per loading step on the terminal.

        Returns
        -------
        Region
            With ``scenario`` set; ``warnings`` lists the loaders' warnings (also emitted).

        Raises
        ------
        InputError
            Any problem of the scenario or its layers.
        """
        from .api import load_region as _load

        return _load(path, progress=progress)

    @classmethod
    def from_geodataframes(cls, units: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                           population: gpd.GeoDataFrame | str | Path, roads: object | str | Path, *,
                           profile: object = "chongqing", crs: str | None = None,
                           villages: gpd.GeoDataFrame | None = None, columns: dict[str, dict[str, str]] | None = None,
                           types: dict[str, str] | None = None, coords: str = "wgs84",
                           cell_size_m: float | None = None, facility_max_access_m: float = 500.0,
                           travel: dict[str, dict] | None = None, isochrone_minutes: list[float] | None = None,
                           rules: list[str] | None = None, overrides: dict[str, dict] | None = None,
                           name: str = "region", cache_dir: str | Path | None = None,
                           progress: bool = False) -> Region:
        """A region from layers in memory, with every check the scenario loaders run on files.

        Parameters
        ----------
        units : GeoDataFrame
            One polygon per township or street (镇/街道) with ``unit_id`` and ``name`` (and optionally
            ``name_en``, ``zone`` urban/rural, ``kind``, ``county_seat``, ``central_town``).
        facilities : GeoDataFrame
            Facility points with ``type`` (and optionally ``id``, ``name``, ``ambulances``,
            ``turnout_min``, ``beds``, ``doctors``, ...), as the ``[facilities]`` layer.
        population : GeoDataFrame, str or Path
            Polygons or points with a ``population`` column, or the path of a population raster
            (GeoTIFF of people per pixel) or vector file.
        roads : str, Path or networkx.MultiDiGraph
            An OpenStreetMap extract (.osm.pbf, .osm, .osm.bz2, .graphml), or an OSMnx graph.
        profile : str or Profile
            A bundled standards profile (``chongqing``, ``zhejiang``, ``ganzhou``,
            ``leshan-shizhong``), the path of a profile TOML, or a loaded ``Profile``.
        crs : str, optional
            The metric CRS to work in (default: the units' UTM zone).
        villages : GeoDataFrame, optional
            行政村 points or polygons with population, for per-village rules.
        columns : dict, optional
            Per layer (``boundaries``, ``facilities``, ``population``, ``villages``), our column name →
            the frame's, e.g. ``{"boundaries": {"unit_id": "乡镇代码"}}``.
        types : dict, optional
            The user's facility-type words → type ids (as ``[facilities.types]``).
        coords : str
            The facilities' coordinate system when they are in longitude/latitude: ``wgs84``,
            ``gcj02`` (Amap, Tencent) or ``bd09`` (Baidu).
        cell_size_m : float, optional
            Aggregate population to square cells of this size.
        facility_max_access_m : float
            A facility further than this from any road is an input error.
        travel : dict, optional
            Travel profile settings (as ``[travel.profiles]``), e.g. ``{"ambulance": {"max_kmh": 80}}``.
        isochrone_minutes : list of float, optional
            Isochrone limits of :func:`coverage_planner.check` (default 15 and 30).
        rules, overrides
            Keep only these rule ids; per-rule changes (as ``[standards]`` rules and overrides).
        name : str
            The region's name in outputs.
        cache_dir : str or Path, optional
            Folder for the road cache (none by default).
        progress : bool
            Show a spinner per loading step on the terminal.

        Returns
        -------
        Region

        Raises
        ------
        InputError
            Naming the frame (``<units GeoDataFrame>``), the feature and the fix, as for files.
        """
        from .api import _region_from_frames

        return _region_from_frames(units=units, facilities=facilities, population=population, roads=roads,
                                   profile=profile, crs=crs, villages=villages, columns=columns, types=types,
                                   coords=coords, cell_size_m=cell_size_m,
                                   facility_max_access_m=facility_max_access_m, travel=travel,
                                   isochrone_minutes=isochrone_minutes, rules=rules, overrides=overrides,
                                   name=name, cache_dir=cache_dir, progress=progress)


def assign_units(units: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Index of the unit containing each point (the nearest unit for points on no polygon).

    Parameters
    ----------
    units : GeoDataFrame
        The unit polygons (townships, streets), in the points' CRS.
    x, y : ndarray
        Point coordinates.

    Returns
    -------
    ndarray of int64
        Row position in ``units`` for each point.
    """
    tree = shapely.STRtree(units.geometry.to_numpy())
    points = shapely.points(x, y)
    idx = np.full(len(points), -1, dtype=np.int64)
    pt, poly = tree.query(points, predicate="within")
    idx[pt] = poly
    left = np.flatnonzero(idx < 0)
    if len(left):
        p, q = tree.query_nearest(points[left], all_matches=False)
        idx[left[p]] = q
    return idx


def load_region(scn: Scenario, steps: Steps, given: LayerFrames | None = None) -> Region:
    """Load and check boundaries, facilities, population and roads in the region's metric CRS.

    ``given`` holds layers passed to the library API as objects; they go through the same checks.
    """
    given = given or LayerFrames()
    with steps.step("Loading boundaries 行政区划"):
        census = None if scn.census_path else scn.census_column
        units = load_boundaries(scn.boundaries, census_column=census) if given.boundaries is None \
            else boundaries_from_frame(given.boundaries, scn.boundaries, census_column=census)
        if scn.census_path:
            units = attach_census(units, scn.census_path, scn.census_key, scn.census_column,
                                  scn.population.encoding)
        crs = scn.crs or region_crs(units)
        units = units.to_crs(crs)
        region = shapely.union_all(units.geometry.to_numpy())
    with steps.step("Loading facilities 医疗机构"):
        facilities = load_facilities(scn.facilities, crs, region, scn.type_map, scn.profile) \
            if given.facilities is None else facilities_from_frame(
                points_from_frame(given.facilities, scn.facilities, ("facility", "facilities")), scn.facilities,
                crs, region, scn.type_map, scn.profile)
    with steps.step("Loading roads 道路 (OpenStreetMap)"):
        roads = load_roads(scn.roads, crs, scn.cache_dir, clip=scenario_clip(scn, region, crs, facilities.geometry)) \
            if given.roads is None else roads_from_graph(given.roads, crs, str(scn.roads))
    with steps.step("Loading population 人口"):
        if scn.census_column:   # census counts per unit, spread along the roads
            cells = allocate(units, road_weights(roads), scn.cell_size_m, population="census_population")
            cells = cells[cells["population"] > 0].drop(columns="unit").reset_index(drop=True)
        elif given.population is not None:
            cells = population_from_frame(given.population, scn.population, crs, region, scn.cell_size_m)
        else:
            cells = load_population(scn.population, crs, region, scn.cell_size_m)
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    unit_idx = assign_units(units, x, y)
    scaling = None
    if scn.census_scale_path:   # 常住人口 per unit: each unit's cells scaled to its census total
        from .census import scale_to_census

        pop, scaling = scale_to_census(cells["population"].to_numpy(dtype=float), unit_idx, units,
                                       scn.census_scale_path, scn.census_scale_key, scn.census_scale_column,
                                       scn.population.encoding)
        cells["population"] = pop
    cells["unit_id"] = units["unit_id"].to_numpy()[unit_idx]
    cells["unit_name"] = units["name"].to_numpy()[unit_idx]
    zone = units["zone"].to_numpy()[unit_idx]
    if pd.isna(zone).any():  # no zone attribute: the profile's density threshold decides
        density = cells["population"].to_numpy() / (cells["cell_m"].to_numpy() ** 2 / 1e6)
        by_density = np.where(density >= scn.profile.urban_density_per_km2, "urban", "rural")
        zone = np.where(pd.isna(zone), by_density, zone)
    cells["zone"] = zone.astype(str)
    unit_pop = np.bincount(unit_idx, weights=cells["population"].to_numpy(), minlength=len(units))
    if scaling is not None:       # the census totals are the population now (people in = people counted)
        population_in = float(scaling["census_population"].sum())
    elif scn.census_column:
        population_in = float(units["census_population"].sum())
    else:
        population_in = population_in_region(scn.population, crs, region, given.population)
    check_population_total(float(cells["population"].sum()), unit_pop, population_in)
    fac_unit = assign_units(units, facilities.geometry.x.to_numpy(), facilities.geometry.y.to_numpy())
    villages = _load_villages(scn, units, crs, given.villages) if scn.villages else None
    return Region(crs, units, region, facilities, cells, roads, unit_pop, fac_unit, villages, scaling, population_in,
                  scenario=scn, layers=given)


def _load_villages(scn: Scenario, units: gpd.GeoDataFrame, crs: str,
                   frame: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """The [villages] layer (or the villages frame given) with the unit (and its zone) each village lies in."""
    from .villages import load_villages, villages_from_frame

    villages = load_villages(scn.villages, crs) if frame is None else villages_from_frame(frame, scn.villages, crs)
    seat = villages.geometry.representative_point()
    idx = assign_units(units, seat.x.to_numpy(), seat.y.to_numpy())
    villages["unit_id"] = units["unit_id"].to_numpy()[idx]
    villages["unit_name"] = units["name"].to_numpy()[idx]
    villages["zone"] = pd.Series(units["zone"].to_numpy()[idx]).fillna("n/a").astype(str).to_numpy()
    return villages
