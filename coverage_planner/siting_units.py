"""Siting county by county in one call: ``coverage-planner site SCENARIO --per county [--dask SPEC]``.

One siting problem per county (the units' ``county_id``): the county's populated cells, and every
candidate site (existing stations first, then the new candidates) on the roads within the county's
*halo* — the box around the county's cells grown by the longest access leg and by the rule's loose
limit (a distance, or a time × the profile's top speed). The covering sets come from bounded
Dijkstra runs from those candidates on the roads inside the halo only. A path within the limit never
leaves the halo, and a subnetwork never finds a path cheaper than the whole network, so each
county's cost and covering matrices are exactly the whole region's matrices restricted to the
county's rows and the halo's candidates (tested against :func:`siting.build_problem`). Candidates in
a neighbouring county may be chosen (a station across the border serves both); stations of other
counties are always kept open (``--relocate`` closes only the county's own).

The bounded runs are plain array jobs (:class:`CoverJob`, :func:`cover_job`); with ``--dask`` they
run on Dask workers (``dask_run.dask_runner``, with retries), with identical matrices. The models
(:func:`siting.solve_models`), the site rows (:func:`siting.site_table`) and the per-model summary
(:func:`siting.solutions_frame`) are siting's own, per county. Outputs: ``siting.csv`` (one row per
county, model and site, with a ``county`` column), ``siting_models.csv`` (one row per county and
model) and ``siting.gpkg``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely

from . import coverage as cov
from . import siting
from .errors import InputError
from .facility_types import has_role
from .network import seconds_per_segment
from .partition import SubnetworkJob, job_network, subnetwork, top_speed_mps
from .progress import Steps
from .region import Region
from .scenario import Scenario
from .travel import Router, Snapped

COUNTY = "county_id"
PER = ("county",)
CoverRunner = Callable[[list["CoverJob"]], list[sp.csr_matrix]]


@dataclass(frozen=True)
class CoverJob(SubnetworkJob):
    """One county's bounded runs, in the halo subnetwork's own node and segment numbers (arrays only)."""

    seg_cost: np.ndarray       # metres or seconds, the rule's measure
    direction: str
    cand_snap: Snapped         # local segment numbers
    src_offset: np.ndarray
    cell_snap: Snapped         # local segment numbers
    dst_offset: np.ndarray
    bound: float               # the largest loose limit of the county's cells


def cover_job(job: CoverJob) -> sp.csr_matrix:
    """Cells × candidates costs within ``job.bound`` on the job's subnetwork (pure; runs on a worker)."""
    router = Router(job_network(job), job.seg_cost, job.direction)
    return router.bounded(job.cand_snap, job.src_offset, job.cell_snap, job.dst_offset, job.bound)


def run_cover_locally(jobs: list[CoverJob]) -> list[sp.csr_matrix]:
    """Every county's bounded runs in this process, one after another."""
    return [cover_job(job) for job in jobs]


@dataclass
class CountyProblem:
    """One county's siting problem: its cells (rows of the region) and candidates (rows of ``candidates``)."""

    county: str
    cells: np.ndarray          # region cell indices
    columns: np.ndarray        # indices into the region's candidate table
    problem: siting.SitingProblem


@dataclass
class RegionCandidates:
    """What every county's problem shares: the rule, the travel model and the snapped candidates."""

    rule: object
    model: cov.TravelModel
    candidates: gpd.GeoDataFrame
    n_existing: int
    snap: Snapped
    src_offset: np.ndarray
    dst_offset: np.ndarray
    limit: np.ndarray          # per cell, 0 where the rule does not apply
    applies: np.ndarray
    fixed: np.ndarray          # per existing station: kept open by its own county's models
    station_county: np.ndarray  # per existing station: its county ('' outside every unit)


def cell_counties(region: Region, scn: Scenario) -> np.ndarray:
    """The county of every cell, from the units' ``county_id`` column.

    Raises
    ------
    InputError
        The boundaries layer has no county column.
    """
    units = region.units
    if COUNTY not in units:
        raise InputError("--per county needs the county of every unit, but the boundaries have no county_id "
                         "column.", file=scn.boundaries.path,
                         field="boundaries.columns.county_id",
                         fix="add a county_id column to the boundaries (or name it with [boundaries.columns] "
                             "county_id = \"...\"), or run site without --per county.")
    county = units[COUNTY].astype(str).to_numpy()
    unit = pd.Index(units["unit_id"]).get_indexer(region.cells["unit_id"])
    return county[unit]


def region_candidates(scn: Scenario, region: Region, settings: dict, steps: Steps) -> RegionCandidates:
    """Rule, travel model, candidates and offsets (:func:`siting.siting_inputs`), with each existing
    station's county and whether it must stay open."""
    inp = siting.siting_inputs(scn, region, settings, steps)
    county = region.units[COUNTY].astype(str).to_numpy() if COUNTY in region.units else np.full(len(region.units), "")
    unit = np.asarray(region.fac_unit)[inp.is_ems]
    station_county = np.where(unit >= 0, county[np.maximum(unit, 0)], "")
    fixed = siting.fixed_stations(inp.ems, bool(settings["relocate"]))
    return RegionCandidates(inp.rule, inp.model, inp.candidates, inp.n_existing, inp.snap, inp.src_offset,
                            inp.dst_offset, inp.limit, inp.applies, fixed, station_county)


def county_jobs(rc: RegionCandidates, counties: np.ndarray, names: list[str], loose: float,
                cell_x: np.ndarray, cell_y: np.ndarray) -> tuple[list[CoverJob], list[np.ndarray], list[np.ndarray]]:
    """One :class:`CoverJob` per county: its cells, and the candidates on the roads of its halo.

    Returns
    -------
    jobs, cells, columns
        The jobs, and per county its region cell indices and candidate indices (ascending, so the
        existing stations come first).
    """
    net, model = rc.model.net, rc.model
    seg_cost = seconds_per_segment(net) if rc.rule.kind != "radius" else np.asarray(net.seg_length, float)
    vmax = top_speed_mps(net)
    bounds = shapely.bounds(net.seg_geometry)
    jobs, cells_of, cols_of = [], [], []
    code = pd.Index(names).get_indexer(counties)          # -1: a county not asked for
    order = np.argsort(code, kind="stable")               # cells grouped by county, ascending within each
    starts = np.searchsorted(code[order], np.arange(len(names) + 1))
    for k, name in enumerate(names):
        cells = order[starts[k]:starts[k + 1]]
        bound = float(rc.limit[cells].max() * loose) if len(cells) else 0.0
        halo = bound if rc.rule.kind == "radius" else bound * vmax
        reach = float(model.cell_snap.access_m[cells].max()) + halo if len(cells) else 0.0
        box = (cell_x[cells].min() - reach, cell_y[cells].min() - reach,
               cell_x[cells].max() + reach, cell_y[cells].max() + reach)
        keep = (bounds[:, 0] <= box[2]) & (bounds[:, 2] >= box[0]) & (bounds[:, 1] <= box[3]) & (bounds[:, 3] >= box[1])
        keep[model.cell_snap.seg[cells]] = True     # a cell's own road, whatever the box says
        cols = np.flatnonzero(keep[rc.snap.seg])     # candidates on the halo's roads
        fields, local = subnetwork(net, keep)
        cs, ks = model.cell_snap.take(cells), rc.snap.take(cols)
        jobs.append(CoverJob(
            group=k, halo_m=halo, **fields, seg_cost=seg_cost[keep], direction=rc.rule.direction,
            cand_snap=Snapped(local[ks.seg], ks.frac, ks.access_m), src_offset=rc.src_offset[cols],
            cell_snap=Snapped(local[cs.seg], cs.frac, cs.access_m), dst_offset=rc.dst_offset[cells], bound=bound))
        cells_of.append(cells)
        cols_of.append(cols)
    return jobs, cells_of, cols_of


def county_problems(scn: Scenario, region: Region, settings: dict, steps: Steps,
                    runner: CoverRunner = run_cover_locally,
                    only: list[str] | None = None) -> tuple[RegionCandidates, list[CountyProblem]]:
    """One :class:`siting.SitingProblem` per county (or per county in ``only``), covering sets by ``runner``.

    Parameters
    ----------
    scn, region, settings, steps
        As for :func:`siting.build_problem`.
    runner : callable
        Runs a list of :class:`CoverJob` and returns their matrices in order (:func:`run_cover_locally`
        or ``dask_run.dask_runner(client, route=cover_job)``).
    only : list of str, optional
        Counties to solve (default: all, in sorted order).

    Raises
    ------
    InputError
        No county column, or a county in ``only`` that is not in the boundaries.
    """
    counties = cell_counties(region, scn)
    names = sorted(set(counties))
    if only is not None:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise InputError(f"county {', '.join(unknown)} is not a county_id of any populated cell.",
                             field="--county (command line)", fix=f"name one of {', '.join(names[:12])}.")
        names = [n for n in names if n in set(only)]
    rc = region_candidates(scn, region, settings, steps)
    loose = float(settings["loose_factor"])
    cells = region.cells
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    jobs, cells_of, cols_of = county_jobs(rc, counties, names, loose, x, y)
    rule = rc.rule
    with steps.step(f"Covering sets: {len(names)} counties, {len(rc.candidates)} candidates × {len(cells)} cells"):
        if rule.kind == "radius" and rule.measure == "straight_line":
            costs = [siting.straight_cost(rc.candidates.iloc[c], x[r], y[r], float(rc.limit[r].max() * loose))
                     for r, c in zip(cells_of, cols_of)]
        else:
            costs = runner(jobs)
    if len(costs) != len(jobs) or any(m.shape != (len(j.dst_offset), len(j.src_offset)) for m, j in zip(costs, jobs)):
        raise RuntimeError("a county's covering sets came back missing or for other cells")
    pop = cells["population"].to_numpy(dtype=float)
    out = []
    for name, rows, cols, cost in zip(names, cells_of, cols_of, costs):
        limit = rc.limit[rows]
        cost = siting.keep_within(cost, limit * loose)
        existing = cols[cols < rc.n_existing]
        own = (rc.station_county[existing] == name) & ~rc.fixed[existing]   # only the county's own may close
        prob = siting.SitingProblem(rule, rc.candidates.iloc[cols].reset_index(drop=True), len(existing),
                                    siting.within(cost, limit), siting.within(cost, limit * loose), cost,
                                    np.where(rc.applies[rows], pop[rows], 0.0), np.flatnonzero(~own), limit)
        out.append(CountyProblem(name, rows, cols, prob))
    return rc, out


def solve_counties(scn: Scenario, region: Region, settings: dict, models: list[str], problems: list[CountyProblem],
                   steps: Steps) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Solve every county's models; the combined site rows and the per-county model summary.

    Returns
    -------
    sites, summary
        ``siting.site_table`` rows and ``siting.solutions_frame`` rows of every county, each with
        ``county`` first (and ``cells``, ``candidates`` in the summary).
    """
    per_people, min_count = siting.ambulance_ratio(scn)
    sites, summary = [], []
    for cp in problems:
        try:
            solutions = siting.solve_models(cp.problem, settings, models, steps)
        except InputError as exc:
            raise InputError(f"county {cp.county}: {exc.problem}", file=exc.file, field=exc.field, fix=exc.fix) from None
        result = siting.SitingResult(scn, replace(region, cells=region.cells.iloc[cp.cells]), cp.problem, settings,
                                     solutions)
        table = siting.site_table(result, per_people, min_count)
        table.insert(0, "county", cp.county)
        sites.append(table)
        frame = siting.solutions_frame(result)
        frame.insert(0, "county", cp.county)
        frame.insert(1, "cells", len(cp.cells))
        frame.insert(2, "candidates", len(cp.columns))
        summary.append(frame)
    return pd.concat(sites, ignore_index=True), pd.concat(summary, ignore_index=True)


def run_units(scn: Scenario, models: list[str] | None = None, p: int | None = None, relocate: bool | None = None,
              quiet: bool = True, dask: str | None = None,
              only: list[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, Region]:
    """Per-county siting of a scenario (no files written): site rows, model summary and the region.

    Parameters
    ----------
    scn : Scenario
    models, p, relocate
        As for :func:`siting.run_siting`.
    quiet : bool
        No progress display.
    dask : str, optional
        ``local[:N]`` or a scheduler address: the covering sets are computed on Dask workers.
    only : list of str, optional
        Counties to solve (default: all).
    """
    from .region import load_region

    settings = siting.read_settings(scn, {"relocate": relocate, "p": p}, models)
    models = list(dict.fromkeys(models or siting.MODELS))
    settings["apply"] = siting.applied_model(scn, settings, models)
    steps = Steps(quiet)
    if dask:
        from .dask_run import parse_spec

        parse_spec(dask)           # a wrong --dask value is refused before any work
    region = load_region(scn, steps)
    cell_counties(region, scn)     # no county column: refused before the snapping
    if dask:
        from .dask_run import dask_client, dask_runner, n_workers

        with dask_client(dask) as client:
            with steps.step(f"Dask: {max(n_workers(client), 1)} worker(s) at {client.scheduler.address}"):
                runner = dask_runner(client, route=cover_job)
            _, problems = county_problems(scn, region, settings, steps, runner, only)
    else:
        _, problems = county_problems(scn, region, settings, steps, run_cover_locally, only)
    sites, summary = solve_counties(scn, region, settings, models, problems, steps)
    sites.attrs["settings"] = settings      # for the proposed scenario
    sites.attrs["rule"] = problems[0].problem.rule if problems else None
    return sites, summary, region


def proposal_rows(sites: pd.DataFrame, region: Region, settings: dict, rule) -> pd.DataFrame:
    """The applied model's new sites of every county, each once (a site chosen by two neighbouring
    counties is one station), and with ``--relocate`` every existing station its own county kept."""
    apply = settings["apply"]
    mine = sites[sites["model"] == apply]
    new = mine[mine["status"] == "new"].drop_duplicates("candidate_id")
    fac = region.facilities
    ems = fac.loc[np.asarray(has_role(fac["type"], rule.facility_types)), "facility_id"].astype(str)
    closed = set(mine.loc[mine["status"] == "closed", "candidate_id"].astype(str))
    kept = pd.DataFrame({"model": apply, "status": "existing", "candidate_id": [i for i in ems if i not in closed]})
    return pd.concat([new, kept], ignore_index=True)


def write_units_outputs(sites: pd.DataFrame, summary: pd.DataFrame, region: Region, out_dir: Path,
                        scn: Scenario | None = None) -> Path:
    """siting.csv (every county's sites), siting_models.csv (per county and model), siting.gpkg and the
    proposed scenario (:func:`siting.proposed_scenario` with :func:`proposal_rows`), atomically."""
    from .outputs import CSV_ENCODING, atomic_dir, write_gpkg

    settings, rule = sites.attrs.get("settings"), sites.attrs.get("rule")
    with atomic_dir(out_dir) as tmp:
        if settings is not None and rule is not None and scn is not None:
            siting.proposed_scenario(scn, region, settings, rule, proposal_rows(sites, region, settings, rule), tmp,
                                     Path(out_dir))
        sites.to_csv(tmp / "siting.csv", index=False, encoding=CSV_ENCODING)
        summary.to_csv(tmp / "siting_models.csv", index=False, float_format="%.6g", encoding=CSV_ENCODING)
        gdf = gpd.GeoDataFrame(sites.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(sites["x"], sites["y"]),
                               crs=region.crs)
        write_gpkg(gdf, tmp / "siting.gpkg", "sites")
    return out_dir


def per_setting(scn: Scenario, given: str | None) -> str | None:
    """``--per`` or the scenario's ``[siting] per``; None for one problem for the whole region.

    Raises
    ------
    InputError
        A value other than ``county``.
    """
    value = given if given is not None else scn.raw.get("siting", {}).get("per")
    if value is None:
        return None
    where = "--per (command line)" if given is not None else "siting.per"
    if value not in PER:
        raise InputError(f"per = {value!r}: siting can be split per county only.", file=None if given else scn.path,
                         field=where, fix='write per = "county" (one problem per county_id of the units), or leave '
                                          "it out for one problem for the whole region.")
    return value


def run_units_file(path: str | Path, out_dir: str | Path | None = None, models: list[str] | None = None,
                   p: int | None = None, relocate: bool = False, quiet: bool = False, per: str | None = None,
                   dask: str | None = None, counties: list[str] | None = None) -> int:
    """The ``site`` command: per county (``--per county`` or ``[siting] per``), else :func:`siting.run_siting_file`.

    Per county: solve every county (or ``counties``), write the outputs, print the summary.
    """
    from .pipeline import check_scenario_out_dir
    from .scenario import load_scenario

    scn = load_scenario(path, out_dir)
    if per_setting(scn, per) is None:
        if dask or counties:
            flag = "--dask" if dask else "--county"
            raise InputError(f"{flag} for site works county by county, but no per-county split was asked for.",
                             field=f"{flag} (command line)",
                             fix=f"add --per county (or [siting] per = \"county\"), or run site without {flag}.")
        return siting.run_siting_file(path, out_dir, models, p, relocate, quiet)
    check_scenario_out_dir(scn, out_dir)
    sites, summary, region = run_units(scn, models, p, relocate or None, quiet, dask, counties)
    write_units_outputs(sites, summary, region, scn.out_dir, scn)
    if not quiet:
        cols = ["county", "model", "new_sites", "covered_before", "covered_after", "population", "status"]
        print(summary[cols].to_string(index=False))
        print(f"Outputs 输出: {scn.out_dir}/ (siting.csv, siting_models.csv, siting.gpkg); check the proposal "
              f"with: coverage-planner run {scn.out_dir / f'{scn.name}_proposed.toml'}")
    return 0


__all__ = ["CountyProblem", "CoverJob", "county_problems", "cover_job", "run_cover_locally", "run_units",
           "run_units_file", "solve_counties", "write_units_outputs"]
