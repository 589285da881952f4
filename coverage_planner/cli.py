"""Command line: ``coverage-planner run|isochrones|demo|site|subcentres|fetch``.

Each sub-command lives in the module that does the work and registers itself through a
``register_cli(subparsers)`` function; this module only wires them up and turns user mistakes
(:class:`InputError`) into a one-paragraph message and exit code 2, without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from .errors import InputError, PlannerWarning

# Modules that provide a register_cli(subparsers) function, in the order shown by --help.
COMMAND_MODULES = ["pipeline", "demo", "siting_cli", "fetch"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(
        prog="coverage-planner",
        description="Check health-service coverage standards on road networks (EMS radius, "
                    "15/30-minute service circles, facility ratios) and propose new sites. "
                    "检查医疗卫生服务覆盖标准并提出新站点。",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f".{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(name):
                continue  # that part of the tool is not installed in this build
            raise
        module.register_cli(sub)
    return parser


def _show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
    text = f"warning: {message}" if issubclass(category, PlannerWarning) else \
        warnings.formatwarning(message, category, filename, lineno, line)
    print(text.rstrip(), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``coverage-planner`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    warnings.showwarning = _show_warning
    for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
        warnings.filterwarnings("ignore", category=category)   # libraries' notes to developers, not planners
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"error: {exc.paragraph()}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print("interrupted", file=sys.stderr)
        if getattr(exc, "solver_running", False):  # HiGHS still winding down in C: do not wait for it
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        return 130


if __name__ == "__main__":
    sys.exit(main())
