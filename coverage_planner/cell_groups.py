"""The cells' zone × unit groups as integer codes, computed once and reused by every summary.

:func:`coverage.summarise_spatial` groups the cells by (zone, unit_id, unit_name) and by zone. With
string keys pandas hashes a million strings on every call; ``coverage-planner serve`` summarises
after every edit, so it builds :class:`CellGroups` once and passes it in. The sums are the same
pandas group sums over the same rows in the same order (only the keys are integers), so the rows are
identical, bit for bit, to those grouped by the strings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

KEYS = ("zone", "unit_id", "unit_name")


@dataclass(frozen=True)
class CellGroups:
    """Per cell, the code of its (zone, unit_id, unit_name) group and of its zone.

    Codes number the groups in sorted key order (as ``groupby(sort=True)`` lists them); a cell with
    a missing key has code -1 and, as with pandas' ``dropna``, counts only in the region's total.
    """

    unit_code: np.ndarray     # int64 per cell
    zone_code: np.ndarray     # int64 per cell
    unit_keys: pd.DataFrame   # zone, unit_id, unit_name of each unit code
    zone_keys: pd.DataFrame   # zone of each zone code

    @classmethod
    def of(cls, cells: pd.DataFrame) -> "CellGroups":
        """The groups of ``cells`` (columns zone, unit_id, unit_name).

        Parameters
        ----------
        cells : pandas.DataFrame
            The population cells.

        Returns
        -------
        CellGroups
        """
        keys = pd.DataFrame({k: cells[k].to_numpy() for k in KEYS})
        by_unit = keys.groupby(list(KEYS), sort=True)
        by_zone = keys.groupby(["zone"], sort=True)
        unit_code = by_unit.ngroup().fillna(-1).to_numpy(dtype=np.int64)
        zone_code = by_zone.ngroup().fillna(-1).to_numpy(dtype=np.int64)
        unit_keys = by_unit.size().reset_index()[list(KEYS)]
        zone_keys = by_zone.size().reset_index()[["zone"]]
        return cls(unit_code, zone_code, unit_keys, zone_keys)

    def zone_values(self, value_of_zone) -> np.ndarray:
        """Per cell, ``value_of_zone(zone)`` (NaN for a missing zone), from one call per zone.

        Parameters
        ----------
        value_of_zone : callable
            zone name → float (e.g. a rule's threshold, NaN where it has none).

        Returns
        -------
        numpy.ndarray
        """
        table = np.array([value_of_zone(z) for z in self.zone_keys["zone"]] + [np.nan], dtype=float)
        return table[self.zone_code]   # code -1 takes the NaN at the end

    def sums(self, frame: pd.DataFrame, applies: np.ndarray) -> list[pd.DataFrame]:
        """Column sums of ``frame`` (the applying cells' rows) per unit group, per zone and in all.

        Parameters
        ----------
        frame : pandas.DataFrame
            Numeric columns, one row per applying cell, in cell order.
        applies : numpy.ndarray
            Boolean mask over all cells: the rows of ``frame``.

        Returns
        -------
        list of pandas.DataFrame
            The three parts :func:`coverage.summarise_spatial` concatenates, with its key columns.
        """
        parts = []
        for codes, keys in ((self.unit_code[applies], self.unit_keys), (self.zone_code[applies], self.zone_keys)):
            known = codes >= 0
            part = frame[known] if not known.all() else frame
            got = part.groupby(codes[known], sort=True).sum()
            idx = got.index.to_numpy()
            got.index = pd.MultiIndex.from_arrays([keys[k].to_numpy(dtype=object)[idx] for k in keys.columns],
                                                  names=list(keys.columns))
            parts.append(got.reset_index())     # key columns typed as a string groupby types them
        parts[1] = parts[1].assign(unit_id="ALL", unit_name="全部 all")
        parts.append(frame.sum().to_frame().T.assign(zone="all", unit_id="ALL", unit_name="全部 all"))
        return parts


__all__ = ["CellGroups"]
