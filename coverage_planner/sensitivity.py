"""Speed sensitivity: the spatial rules rerun with every road speed scaled (sensitivity.csv).

``coverage-planner run --speed-factor 0.8 1.0 1.2`` (or ``[travel] speed_factors = [0.8, 1.0, 1.2]``)
scales the speed of every road segment by each factor — a factor of 0.8 makes every drive 25 %
longer — and judges every spatial rule again on the same cells, facilities and snaps. Not scaled:
the access legs between a point and its road (walked at the profile's access speed), the stations'
turnout times and ferry crossings (timetabled). Rules on distance (radius) do not depend on speed;
their band is one value.

For ``site``, a proposed site is *robust* when the same model, re-solved with the same candidates,
settings and ``p`` on the covering sets and costs of each factor's network, still chooses it at
every factor (and in the run itself). Radius rules need no re-solve (their costs are distances).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd

from . import coverage as cov
from .errors import InputError, is_number

MAX_FACTORS = 8
FACTOR_RANGE = (0.1, 5.0)


def factors_problem(value: object) -> str | None:
    """What is wrong with a list of speed factors, or None (a list of 1–8 numbers in 0.1–5)."""
    if not isinstance(value, list) or not value:
        return f"speed_factors must be a list of 1 to {MAX_FACTORS} numbers, got {value!r}."
    if len(value) > MAX_FACTORS:
        return f"at most {MAX_FACTORS} speed factors (each one reruns every rule), got {len(value)}."
    bad = [v for v in value if not is_number(v) or isinstance(v, bool) or not math.isfinite(float(v))
           or not FACTOR_RANGE[0] <= float(v) <= FACTOR_RANGE[1]]
    if bad:
        return (f"speed factors must be numbers from {FACTOR_RANGE[0]:g} to {FACTOR_RANGE[1]:g} (1 = the speeds as "
                f"they are, 0.8 = 20% slower), got {', '.join(repr(b) for b in bad)}.")
    return None


def check_factors(factors: list, file: object = None, field: str = "--speed-factor (command line)") -> list[float]:
    """The factors sorted without repeats; raises InputError naming ``field`` when they are wrong.

    Parameters
    ----------
    factors : list
        Numbers from the command line or the scenario's ``[travel] speed_factors``.
    file, field
        Where they came from, for the message.

    Returns
    -------
    list of float
    """
    problem = factors_problem(factors)
    if problem:
        raise InputError(problem, file=file, field=field,
                         fix="e.g. --speed-factor 0.8 1.0 1.2, or speed_factors = [0.8, 1.0, 1.2] under [travel].")
    return sorted({float(f) for f in factors})


def scaled_model(model: cov.TravelModel, factor: float) -> cov.TravelModel:
    """The travel model with every road segment's speed times ``factor`` (ferries and access legs as they are).

    Parameters
    ----------
    model : TravelModel
        A built model; its snaps, routable core and cut-off cells are kept.
    factor : float
        Speed multiplier: 0.5 doubles every segment's driving time.

    Returns
    -------
    TravelModel
        A copy with its own (empty) router cache.
    """
    net = model.net
    speed = net.seg_speed_kmh * np.where(net.seg_ferry, 1.0, float(factor))
    return dataclasses.replace(model, net=dataclasses.replace(net, seg_speed_kmh=speed), routers={})


def _label(factor: float) -> str:
    return f"x{factor:g}"


def rule_rows(result, factor: float, models: dict) -> pd.DataFrame:
    """Every spatial rule judged at one speed factor: rule_id, zone, unit_id, unit_name, value, pass.

    ``value`` is the share of people covered, or for ``mean_time`` rules the mean time in minutes.
    """
    region, scn = result.region, result.scenario
    fac, cells = region.facilities, result.cells
    x, y = cells.geometry.x.to_numpy(), cells.geometry.y.to_numpy()
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    turnout = cov.turnout_seconds(fac, scn.profile)
    zones = cells["zone"].to_numpy()
    measured, frames = {}, []
    for rule in (r for r in result.rules if r.spatial):
        idx = cov.rule_facilities(rule, fac)
        if len(idx) == 0:
            continue      # no station of the rule's types: nothing depends on speed (see summary.csv)
        if rule.travel_profile not in models:
            models[rule.travel_profile] = scaled_model(result.models[rule.travel_profile], factor)
        model = models[rule.travel_profile]
        key = (rule.travel_profile, rule.direction, rule.include_turnout, idx.tobytes())
        if key not in measured:
            offsets = turnout if rule.include_turnout else np.zeros(len(fac))
            measured[key] = cov.nearest_measures(model, idx, offsets, rule.direction, x, y, fx, fy)
        value = cov.rule_value(rule, measured[key])
        limit = cov.cell_thresholds(rule, zones)
        passed, reason = cov.judge_cells(value, limit, model.cell_snap.access_m, model.cut_off,
                                         scn.profile.max_access_m)
        out = cov.summarise_spatial(rule, cells, passed, reason, np.isfinite(limit), None,
                                    value if rule.kind == "mean_time" else None)
        share = out["value"] if rule.kind == "mean_time" else out["share_covered"]
        frames.append(pd.DataFrame({"rule_id": rule.id, "measure": "mean_min" if rule.kind == "mean_time"
                                    else "share_covered", "zone": out["zone"], "unit_id": out["unit_id"],
                                    "unit_name": out["unit_name"], "value": share.to_numpy(dtype=float),
                                    "pass": out["pass"].to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def sensitivity(result, factors: list[float]) -> pd.DataFrame:
    """sensitivity.csv: per spatial rule, zone and unit, the band of the value across speed factors.

    Parameters
    ----------
    result : pipeline.Result
        A finished run (its travel models are reused; only the road speeds change).
    factors : list of float
        Speed factors, e.g. ``[0.8, 1.0, 1.2]``.

    Returns
    -------
    DataFrame
        rule_id, measure, zone, unit_id, unit_name, low, high, then per factor ``x<f>`` (the value)
        and ``pass_x<f>`` (the verdict), and ``verdict`` (pass at every factor / fail at every
        factor / depends on speed).
    """
    per = {}
    for f in factors:
        models: dict = {}
        per[f] = rule_rows(result, f, models)
    if not per or per[factors[0]].empty:
        return pd.DataFrame()
    keys = ["rule_id", "measure", "zone", "unit_id", "unit_name"]
    out = per[factors[0]][keys].copy()
    values = np.column_stack([per[f]["value"].to_numpy() for f in factors])
    verdicts = np.column_stack([per[f]["pass"].to_numpy(dtype=object) for f in factors])
    with np.errstate(invalid="ignore"):
        out["low"], out["high"] = np.nanmin(values, axis=1), np.nanmax(values, axis=1)
    for k, f in enumerate(factors):
        out[_label(f)] = values[:, k]
        out[f"pass_{_label(f)}"] = verdicts[:, k]
    ok = np.vectorize(lambda v: v is True or v is np.True_, otypes=[bool])(verdicts)
    bad = np.vectorize(lambda v: v is False or v is np.False_, otypes=[bool])(verdicts)
    out["verdict"] = np.where(ok.all(axis=1), "pass at every factor", np.where(
        bad.all(axis=1), "fail at every factor", np.where(ok.any(axis=1), "depends on speed", "no verdict")))
    return out.reset_index(drop=True)


def _mark(verdict: object) -> str:
    if verdict is True or verdict is np.True_:
        return " ✓"
    return " ✗" if verdict is False or verdict is np.False_ else ""


def print_sensitivity(table: pd.DataFrame, factors: list[float]) -> None:
    """The region-wide rows of sensitivity.csv as a terminal table."""
    from rich.console import Console
    from rich.table import Table

    if table.empty:
        return
    t = Table(title="Speed sensitivity 车速敏感性 (road speeds × " + ", ".join(f"{f:g}" for f in factors) + ")",
              caption="per unit: sensitivity.csv")
    for col in ("rule 规则", "zone 区域", "band 区间", *[f"× {f:g}" for f in factors], "verdict 结论"):
        t.add_column(col, overflow="fold")
    region_rows = table[table["unit_id"] == "ALL"]
    for _, row in region_rows.iterrows():
        fmt = (lambda v: f"{v:.1f} min") if row["measure"] == "mean_min" else (lambda v: f"{v:.1%}")
        cells = [fmt(row[_label(f)]) + _mark(row[f"pass_{_label(f)}"]) for f in factors]
        t.add_row(row["rule_id"], str(row["zone"]), f"{fmt(row['low'])} – {fmt(row['high'])}", *cells,
                  row["verdict"])
    import sys

    Console(width=None if sys.stdout.isatty() else 160).print(t)
