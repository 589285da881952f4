"""Moved to :mod:`coverage_planner.optimize.median_lagrange`; this name stays for old imports."""

import sys

from .optimize import median_lagrange as _moved

sys.modules[__name__] = _moved
