"""Moved to :mod:`coverage_planner.cli.siting`; this name stays for old imports."""

import sys

from .cli import siting as _moved

sys.modules[__name__] = _moved
