"""Siting sub-commands of the command line: ``site`` and ``subcentres``.

``subcentres``: rank candidate towns for county medical sub-centres (县域医疗次中心), see
:mod:`coverage_planner.subcentres`. Each sub-command has its own ``_add_<name>`` function below and
imports its module only when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the siting sub-commands."""
    _add_site(sub)
    _add_subcentres(sub)


# ------------------------------------------------------------------------------------------- site

def _add_site(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "site", help="propose new ambulance stations (急救站选址: LSCP, MCLP, p-median, p-center, MEXCLP, DSM)",
        description="Propose new EMS stations with existing ones kept open (or --relocate): LSCP (fewest "
                    "stations so everyone meets the zone's rule), MCLP (best p), p-median, p-center, MEXCLP "
                    "(busy ambulances) and the double standard model, solved exactly with HiGHS. Settings: "
                    "the scenario's [siting] table (rule, candidates, candidates_path, candidate_types, "
                    "spacing_m, p, busy_fraction, loose_factor, alpha, relocate, time_limit_s, apply). Writes "
                    "siting.html, siting.csv, siting_models.csv, siting.gpkg, coverage_curve.png and "
                    "<scenario>_proposed.toml (check it with coverage-planner run).")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/demo.toml")
    p.add_argument("--models", nargs="+", type=model_name, metavar="MODEL",
                   choices=["lscp", "mclp", "p_median", "p_center", "mexclp", "dsm"],
                   help="models to solve, only these: lscp mclp p-median p-center mexclp dsm (p_median and "
                        "p_center also work; default: all)")
    p.add_argument("-p", "--p", type=int, help="number of new stations for the p-models (default [siting] p)")
    p.add_argument("--relocate", action="store_true", help="close stations not marked fixed (default: the main EMS centre and stations with ambulances stay); p counts the stations added")
    p.add_argument("--out", help="output folder (default: the scenario's outputs.dir or maps/<name>)")
    p.add_argument("--per", choices=["county"], help="one problem per county (the units' county_id), all in one "
                   "call: each on its county's cells and the candidates within its halo (default [siting] per)")
    p.add_argument("--county", nargs="+", metavar="COUNTY", help="with --per county: solve only these counties "
                   "(county_id values)")
    p.add_argument("--dask", metavar="CLUSTER", help="with --per county: compute the covering sets on Dask "
                   "workers, local[:N] or tcp://HOST:PORT (identical results)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table")
    p.set_defaults(func=_cmd_site)


def model_name(text: str) -> str:
    """A model name as the code spells it: ``p-median`` and ``P_Median`` both become ``p_median``."""
    return text.strip().lower().replace("-", "_")


def _cmd_site(args: argparse.Namespace) -> int:
    from ..siting_units import run_units_file   # one problem per county, or siting.run_siting_file's one

    return run_units_file(args.scenario, args.out, args.models, args.p, args.relocate, args.quiet, args.per,
                          args.dask, args.county)


# ------------------------------------------------------------------------------------- subcentres

def _add_subcentres(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "subcentres", help="rank candidate towns for county medical sub-centres (县域医疗次中心)",
        description="Rank candidate township health centres for county medical sub-centres (seeds 003, 004): "
                    "people within 30 min by car (≥ 100,000), not in the county seat, minutes from the "
                    "county hospital, rural people newly within 30 min, settlement concentration, and "
                    "catchments across township lines. Settings: the scenario's [subcentres] section "
                    "(candidates, candidates_path, county_hospital, minutes, min_population). Writes "
                    "subcentres.csv, subcentres.gpkg and subcentres.html into maps/<scenario>/.")
    p.add_argument("scenario", help="scenario TOML file, e.g. scenarios/demo.toml")
    p.add_argument("--out", help="output folder (default: the scenario's outputs.dir or maps/<name>)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table")
    p.set_defaults(func=_cmd_subcentres)


def _cmd_subcentres(args: argparse.Namespace) -> int:
    from ..subcentres import run_subcentres_file

    return run_subcentres_file(args.scenario, args.out, args.quiet)
