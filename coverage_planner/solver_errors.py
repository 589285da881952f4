"""Moved to :mod:`coverage_planner.optimize.errors`; this name stays for old imports."""

import sys

from .optimize import errors as _moved

sys.modules[__name__] = _moved
