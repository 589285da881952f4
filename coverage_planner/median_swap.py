"""Moved to :mod:`coverage_planner.optimize.median_swap`; this name stays for old imports."""

import sys

from .optimize import median_swap as _moved

sys.modules[__name__] = _moved
