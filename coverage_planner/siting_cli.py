"""Siting sub-commands of the command line.

``subcentres``: rank candidate towns for county medical sub-centres (县域医疗次中心), see
:mod:`coverage_planner.subcentres`. Each sub-command has its own ``_add_<name>`` function below and
imports its module only when it runs, so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse


def register_cli(sub: argparse._SubParsersAction) -> None:
    """Add the siting sub-commands."""
    _add_subcentres(sub)


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
    from .subcentres import run_subcentres_file

    return run_subcentres_file(args.scenario, args.out, args.quiet)
