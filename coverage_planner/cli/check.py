"""The ``run`` and ``isochrones`` sub-commands: check a scenario, or write its isochrones only."""

from __future__ import annotations

import argparse


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the ``run`` and ``isochrones`` sub-commands."""
    p = sub.add_parser("run", help="check a scenario against its standards profile (检查覆盖标准)",
                       description="Check every rule of the scenario's standards profile by urban/rural "
                                   "zone and administrative unit; write maps/<scenario>/ (coverage.html, "
                                   "cells.gpkg, isochrones.gpkg, summary.csv, summary.json).")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/demo.toml")
    p.add_argument("--out", help="output folder (default: the scenario's outputs.dir or maps/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table")
    p.add_argument("--no-isochrones", action="store_true",
                   help="skip the isochrone polygons (no isochrones.gpkg, no isochrone layers; coverage unchanged)")
    p.add_argument("--speed-factor", nargs="+", type=float, metavar="F",
                   help="rerun the spatial rules with every road speed times each factor, e.g. 0.8 1.0 1.2 "
                        "(writes sensitivity.csv; default: the scenario's [travel] speed_factors)")
    p.add_argument("--dask", metavar="CLUSTER",
                   help="route the region in partitions on Dask: local[:N] (N worker processes here) or "
                        "tcp://HOST:PORT (a running scheduler); results are identical. Needs the scale extra.")
    p.set_defaults(func=_cmd_run)
    q = sub.add_parser("isochrones", help="isochrone polygons of every facility (等时圈)",
                       description="Write isochrones.gpkg with one polygon per facility and time limit.")
    q.add_argument("scenario", help="scenario TOML file")
    q.add_argument("--minutes", nargs="+", type=float, default=[15.0, 30.0], help="time limits (default 15 30)")
    q.add_argument("--out", help="output folder")
    q.add_argument("--quiet", action="store_true", help="no progress display")
    q.set_defaults(func=_cmd_isochrones)


def _cmd_run(args: argparse.Namespace) -> int:
    from ..pipeline import run_scenario_file
    from ..sensitivity import check_factors

    factors = check_factors(args.speed_factor) if args.speed_factor is not None else None
    return run_scenario_file(args.scenario, args.out, args.quiet, isochrones=not args.no_isochrones,
                             speed_factors=factors, dask=args.dask)


def _cmd_isochrones(args: argparse.Namespace) -> int:
    from ..outputs import write_isochrones_only
    from ..pipeline import Steps, add_isochrones, check_minutes, check_scenario_out_dir, evaluate, load_region
    from ..scenario import load_scenario

    minutes = [float(m) for m in args.minutes]
    check_minutes(minutes)
    scn = load_scenario(args.scenario, args.out)
    check_scenario_out_dir(scn, args.out)
    steps = Steps(args.quiet)
    region = load_region(scn, steps)
    result = evaluate(scn, region, steps)
    iso = add_isochrones(result, minutes, steps)
    path = write_isochrones_only(iso, scn.out_dir)
    print(f"{len(iso)} isochrone polygons → {path}")
    return 0
