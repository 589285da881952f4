"""``coverage-planner demo``: check the shipped demo region, or (``--regenerate``) rebuild its files.

Running the demo reads only package data (``coverage_planner/data/demo.toml`` and ``data/demo/``, see
:mod:`coverage_planner.package_data`), so it works from an installed wheel; the generator
(:mod:`coverage_planner.generators.demo`) is imported only for ``--regenerate``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from .package_data import data_root, demo_scenario

__all__ = ["regenerate_demo", "run_demo"]


def run_demo(out_dir: str | Path | None = None, quiet: bool = False) -> int:
    """Check the shipped demo region against its scenario and write the outputs.

    Parameters
    ----------
    out_dir : str or Path, optional
        Output folder; by default ``maps/demo`` in the current folder, as for any scenario.
    quiet : bool
        No progress display and no table.

    Returns
    -------
    int
        The process exit code (0).
    """
    from .pipeline import run_scenario_file

    with demo_scenario() as scenario:
        return run_scenario_file(scenario, out_dir, quiet)


def regenerate_demo(out_dir: str | Path | None = None) -> dict:
    """Rebuild the demo region's files (deterministic) into ``out_dir`` or the package's ``data/demo``.

    Parameters
    ----------
    out_dir : str or Path, optional
        Folder for the region's files; by default the package's own data folder (in a checkout).

    Returns
    -------
    dict
        The region's totals, as printed by ``demo --regenerate``.
    """
    from .generators.demo import generate_demo_region

    return generate_demo_region(Path(out_dir) if out_dir else Path(str(data_root() / "demo")))


def _cmd_demo(args: argparse.Namespace) -> int:
    if args.regenerate:
        print(json.dumps(regenerate_demo(args.out), ensure_ascii=False, indent=1))
        return 0
    return run_demo(args.out, args.quiet)
