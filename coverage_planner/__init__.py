"""coverage-planner: check health-service coverage standards on road networks and propose new sites.

The library API (see the README's "Library (Python API)" section)::

    import coverage_planner as cp
    region = cp.load_region("scenarios/demo.toml")      # or cp.Region.from_geodataframes(...)
    result = cp.check(region, profile="chongqing")      # result.cells, result.summary, result.to_files(...)
    siting = cp.site(region, rule="ems_radius", models=["lscp", "mclp"], p=3)
    cp.optimize.mclp(cover, weights, p=3)               # the models on a sparse covering or cost matrix
"""

from __future__ import annotations

from . import optimize
from .api import CheckResult, SitingResult, check, load_region, site
from .errors import InputError, PlannerWarning
from .region import Region
from .standards import Profile, available_profiles, load_profile

__all__ = ["CheckResult", "InputError", "PlannerWarning", "Profile", "Region", "SitingResult", "__version__",
           "available_profiles", "check", "load_profile", "load_region", "optimize", "site"]


def _version() -> str:
    """The installed distribution's version, else the version in the checkout's pyproject.toml."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coverage-planner")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "0+unknown"


__version__ = _version()
