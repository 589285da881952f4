"""The ``demo`` sub-command: check the embedded demo region, or regenerate it.

Only the parser lives here; the command is ``_cmd_demo`` in :mod:`coverage_planner.demo` (running the
demo reads only package data; ``--regenerate`` imports the generator).
"""

from __future__ import annotations

import argparse


def register_cli(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``demo`` sub-command: run the shipped demo, or regenerate its files."""
    p = subparsers.add_parser(
        "demo", help="check the embedded demo region, or regenerate it (演示区：检查或重新生成)",
        description="Without --regenerate: check the embedded fictional demo region (shipped in the package, "
                    "coverage_planner/data/demo) against its scenario (data/demo.toml) and write maps/demo/ "
                    "(检查演示区). With --regenerate: rebuild the region's files deterministically and print "
                    "their totals (重新生成演示数据).")
    p.add_argument("--regenerate", action="store_true",
                   help="rewrite the region's files into the package's data/demo or --out (重新生成演示数据)")
    p.add_argument("--out", metavar="DIR",
                   help="with --regenerate: the folder for the region's files; otherwise: the output folder "
                        "of the check (输出目录)")
    p.add_argument("--quiet", action="store_true", help="no progress display and no table (安静模式)")
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..demo import _cmd_demo as cmd_demo

    return cmd_demo(args)
