"""Scaling population cells to census totals per unit (常住人口): each unit's cells are multiplied so
that the unit's total equals its census figure; the population invariant is then the census total."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError, warn


def census_factors(raster_total: np.ndarray, census_total: np.ndarray, names: np.ndarray, path: Path,
                   column: str) -> np.ndarray:
    """Per-unit factor census / raster; a unit with census people but no cell population is refused."""
    empty = (raster_total <= 0) & (census_total > 0)
    if empty.any():
        listing = ", ".join(f"{n} ({c:,.0f})" for n, c in zip(names[empty][:8], census_total[empty][:8]))
        raise InputError(f"{int(empty.sum())} unit(s) have census people but no population cells to scale: "
                         f"{listing}.", file=path, field=column,
                         fix="check that the population raster covers those units, or spread the census over a "
                             "grid with [population] census_column instead.")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(raster_total > 0, census_total / np.where(raster_total > 0, raster_total, 1.0), 1.0)


def scale_to_census(population: np.ndarray, unit_idx: np.ndarray, units: pd.DataFrame, path: Path, key: str,
                    column: str, encoding: str | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Cell population scaled per unit to the census table's totals.

    Parameters
    ----------
    population : ndarray
        People per cell.
    unit_idx : ndarray
        Index of each cell's unit in ``units``.
    units : DataFrame
        Units with unit_id and name.
    path, key, column, encoding
        The census table: one row per unit, matched on ``key`` (unit ids or names), people in ``column``.

    Returns
    -------
    (ndarray, DataFrame)
        The scaled population, and per unit: unit_id, name, raster_population, census_population, factor.
    """
    from .boundaries import attach_census

    census = attach_census(units, path, key, column, encoding)["census_population"].to_numpy(dtype=float)
    raster = np.bincount(unit_idx, weights=population, minlength=len(units))
    factor = census_factors(raster, census, units["name"].astype(str).to_numpy(), path, column)
    report = pd.DataFrame({"unit_id": units["unit_id"].to_numpy(), "name": units["name"].to_numpy(),
                           "raster_population": raster, "census_population": census, "factor": factor})
    warn(f"population scaled to the census totals of {Path(path).name}: {raster.sum():,.0f} people in the "
         f"raster → {census.sum():,.0f} in the census (unit factors {factor.min():.3f}–{factor.max():.3f}); "
         "summary.json lists every unit.")
    return population * factor[unit_idx], report
