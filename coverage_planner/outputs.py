"""Outputs of a coverage run: summary.csv/json, cells.gpkg, isochrones.gpkg, coverage.html, a table.

All files are written into a temporary folder beside the target and moved into place at the end, so
a failed run leaves no half-written output folder. Files are deterministic for the same inputs.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from .errors import InputError
from .labels import GAP_LABELS, TYPE_LABELS, cell_polygons  # noqa: F401  (labels: old import paths)

FIXED_DATE = "2000-01-01T00:00:00Z"  # GeoPackage timestamps, for byte-identical outputs
CSV_ENCODING = "utf-8-sig"           # with a BOM, so Excel/WPS on Chinese Windows read the Chinese text


def check_out_dir(target: Path, file: object = None, field: str = "--out") -> None:
    """Refuse, before any work, an output folder that the run could not write into.

    Parameters
    ----------
    target : Path
        The output folder; it may not exist yet (it is made when the outputs are written).
    file, field : object, str
        Where the folder was given (the scenario file and ``outputs.dir``, or ``--out``), for the message.

    Raises
    ------
    InputError
        ``target`` is a file, lies under a file, or its nearest existing folder cannot be written to
        (no permission, read-only file system): a temporary folder is made and removed there to check.
    """
    target = Path(target)
    fix = "choose another output folder with --out (or [outputs] dir in the scenario)."
    if os.path.lexists(target) and not target.is_dir():
        raise InputError(f"the output folder {target} is a file, not a folder.", file=file, field=field, fix=fix)
    base = target
    while not os.path.lexists(base):
        base = base.parent
    if not base.is_dir():
        raise InputError(f"the output folder {target} cannot be made: {base} is a file, not a folder.",
                         file=file, field=field, fix=fix)
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".coverage-planner-check-", dir=base))
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise InputError(f"the output folder {target} cannot be written: {exc.strerror or exc} in {base}.",
                         file=file, field=field, fix=fix) from None


# Errors of writing or moving files that the user can fix (space, permissions, file systems).
WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EXDEV}


@contextmanager
def atomic_dir(target: Path):
    """Yield a temporary folder; on success its files move into ``target``; on any failure it is removed.

    Each file appears complete or not at all; files of other commands already in ``target`` (say,
    ``coverage.html`` beside ``siting.html``) are kept. The temporary folder is made inside an
    existing ``target`` (else beside it), so the final renames never cross file systems, even when
    ``target`` is a mount point. Failing to write (disk full, permissions) is an :class:`InputError`.
    """
    target = Path(target)
    check_out_dir(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target if target.is_dir() else target.parent))
    try:
        yield tmp
        _move_into(tmp, target)
    except OSError as exc:
        if exc.errno not in WRITE_ERRNOS:
            raise
        raise InputError(f"the outputs could not be written into {target}: {exc.strerror or exc}.",
                         field="--out", fix="free disk space or choose another output folder with --out.") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _move_into(tmp: Path, target: Path) -> None:
    """Rename the finished folder to ``target``, or its files into an existing ``target``."""
    if not target.exists():
        os.replace(tmp, target)
        return
    for item in sorted(tmp.iterdir()):
        os.replace(item, target / item.name)


def write_gpkg(frame: gpd.GeoDataFrame, path: Path, layer: str, append: bool = False) -> None:
    """Write a GeoPackage layer with a fixed timestamp so that reruns give identical bytes.

    ``append`` adds the rows to an existing layer (same columns) instead of replacing the file's layer.
    """
    import pyogrio

    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": FIXED_DATE})
    frame.to_file(path, layer=layer, driver="GPKG", engine="pyogrio", **({"mode": "a"} if append else {}))


CELL_CHUNK = 500_000   # cells turned into squares and written at a time (a municipality has millions)


def write_cells_gpkg(cells: gpd.GeoDataFrame, path: Path, chunk: int = CELL_CHUNK) -> None:
    """The cells as squares (:func:`labels.cell_polygons`) in layer ``cells`` of ``path``.

    Written ``chunk`` rows at a time, so only one chunk's squares and columns are copied at once;
    a region of at most ``chunk`` cells is written in one go (the same bytes as before chunking).
    """
    for start in range(0, max(len(cells), 1), chunk):
        write_gpkg(cell_polygons(cells.iloc[start:start + chunk]), path, "cells", append=start > 0)


def _jsonable(value):
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else round(float(value), 6)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value


def summary_json(result) -> dict:
    """The summary as a JSON-able dict: population_total and one entry per rule with its rows."""
    scn = result.scenario
    rules = []
    for rule in result.rules:
        rows = result.summary[result.summary["rule_id"] == rule.id]
        rows = rows.drop(columns=["rule_id", "rule_zh", "rule_en", "kind", "threshold", "source", "basis",
                                  "level"])
        empty = [c for c in rows.columns if rows[c].isna().all() and c not in ("pass", "value", "target")]
        rows = rows.drop(columns=empty)   # columns of other rule kinds
        region_row = rows[rows["unit_id"] == "ALL"]
        overall = region_row[region_row["zone"] == "all"]
        rules.append({
            "id": rule.id, "name_zh": rule.name_zh, "name_en": rule.name_en, "kind": rule.kind,
            "threshold": rule.threshold_label(), "facility_types": list(rule.facility_types),
            "source": rule.source, "line": rule.line, "quote": rule.quote, "note": rule.note,
            "basis": rule.basis, "basis_note": rule.basis_note, "level": _level(rule),
            "standards": list(rule.standards),
            "measure": rule.measure, "travel_profile": rule.travel_profile if rule.spatial else None,
            "pass": _jsonable(overall["pass"].iloc[0]) if len(overall) and overall["pass"].iloc[0] is not None else None,
            "rows": [{k: _jsonable(v) for k, v in r.items()} for r in rows.to_dict(orient="records")],
        })
    return {
        "scenario": scn.name, "title_zh": scn.title_zh, "title_en": scn.title_en,
        "standards_profile": scn.profile.id, "standards_sources": list(scn.profile.sources),
        "crs": result.region.crs, "population_total": round(result.population_total, 3),
        "cells": int(len(result.cells)), "facilities": int(len(result.region.facilities)),
        "assumptions": {"min_share": scn.profile.min_share, "max_access_m": scn.profile.max_access_m,
                        "urban_density_per_km2": scn.profile.urban_density_per_km2,
                        "default_turnout_min": scn.profile.default_turnout_min},
        "warnings": list(result.warnings), "rules": rules,
        "not_checked": [{**vars(item), "standards": list(item.standards)} for item in scn.profile.not_checked],
        "census_scaling": _census_rows(getattr(result.region, "census_scaling", None)),
        "credits": "Road data © OpenStreetMap contributors (ODbL) where OSM files are used.",
    }


def _census_rows(report) -> list[dict] | None:
    """Per unit: raster and census totals and the factor, when population was scaled to a census."""
    if report is None:
        return None
    return [{k: _jsonable(v) for k, v in r.items()} for r in report.to_dict(orient="records")]


def _level(rule) -> str:
    """region or unit for ratio, share and count rules; zone for spatial rules (by zone and unit)."""
    from .standards import LEVEL_KINDS

    return rule.level if rule.kind in LEVEL_KINDS else "zone"


def write_outputs(result, out_dir: Path) -> Path:
    """Write every output of a coverage run into ``out_dir`` atomically; returns the folder."""
    from .maps import coverage_map

    with atomic_dir(out_dir) as tmp:
        result.summary.to_csv(tmp / "summary.csv", index=False, float_format="%.6g", encoding=CSV_ENCODING)
        (tmp / "summary.json").write_text(json.dumps(summary_json(result), ensure_ascii=False, indent=1),
                                          encoding="utf-8")
        write_cells_gpkg(result.cells, tmp / "cells.gpkg")
        for name in ("stations", "sensitivity"):   # criticality.py, sensitivity.py
            table = getattr(result, name, None)
            if table is not None:
                table.to_csv(tmp / f"{name}.csv", index=False, float_format="%.6g", encoding=CSV_ENCODING)
        if result.isochrones is not None and len(result.isochrones):
            write_gpkg(result.isochrones, tmp / "isochrones.gpkg", "isochrones")
        coverage_map(result).save(tmp / "coverage.html")
        finalize_html(tmp / "coverage.html")
    if result.isochrones is None or not len(result.isochrones):   # none this run: no stale file of an earlier one
        (Path(out_dir) / "isochrones.gpkg").unlink(missing_ok=True)
    if getattr(result, "sensitivity", None) is None:
        (Path(out_dir) / "sensitivity.csv").unlink(missing_ok=True)
    return out_dir


def write_isochrones_only(iso: gpd.GeoDataFrame, out_dir: Path) -> Path:
    """Write isochrones.gpkg into ``out_dir`` (replacing that one file atomically)."""
    with atomic_dir(out_dir) as tmp:
        write_gpkg(iso, tmp / "isochrones.gpkg", "isochrones")
    return out_dir / "isochrones.gpkg"


STATIC = Path(__file__).resolve().parent / "static"
# Assets folium links to from CDNs. Bundled and inlined for offline use: Leaflet 1.9.3 (BSD-2-Clause)
# draws the map, jQuery 3.7.1 (MIT) is used by folium's popups. Dropped: Bootstrap, Font Awesome,
# glyphicons and Leaflet.awesome-markers only style icon markers, which the maps do not use (markers
# are circles and DivIcons). Any other external script or stylesheet is a bug, refused at writing.
INLINE_SCRIPTS = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js": "leaflet/leaflet.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/jquery.min.js",
}
INLINE_STYLES = {"https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css": "leaflet/leaflet.css"}
DROPPED_ASSETS = (
    "https://cdn.jsdelivr.net/npm/bootstrap@", "https://netdna.bootstrapcdn.com/bootstrap/",
    "https://cdn.jsdelivr.net/npm/@fortawesome/", "https://cdnjs.cloudflare.com/ajax/libs/Leaflet.awesome-markers/",
    "https://cdn.jsdelivr.net/gh/python-visualization/folium/folium/templates/leaflet.awesome.rotate",
)
_SCRIPT_TAG = r'<script src="(?P<url>[^"]+)"></script>'
_STYLE_TAG = r'<link rel="stylesheet" href="(?P<url>[^"]+)"/>'
# URLs a page would fetch: src/href attributes of script, link, img, source; CSS url() and @import;
# tile-layer templates. Hyperlinks (<a href>) and XML namespaces are not fetched.
_ASSET_URLS = (r'<(?:script|img|source|link|iframe|embed)\b[^>]*?\b(?:src|href)\s*=\s*["\']?(https?://[^"\'\s>]+)',
               r'url\(\s*["\']?(https?://[^"\')\s]+)', r'@import\s+["\']?(https?://[^"\';\s]+)',
               r'L\.tileLayer\(\s*"(https?://[^"]+)"')


def external_assets(text: str) -> list[str]:
    """The http(s) URLs of scripts, stylesheets, fonts, images and tiles that an HTML page would fetch."""
    import re

    return sorted({m.group(1) for pattern in _ASSET_URLS for m in re.finditer(pattern, text, re.IGNORECASE)})


def _offline_css(css: str) -> str:
    """Leaflet's CSS with its image references made local: the layer icon inlined, the marker path dropped."""
    import base64

    icon = base64.b64encode((STATIC / "icons" / "layers.svg").read_bytes()).decode("ascii")
    css = css.replace("url(images/layers.png)", f"url(data:image/svg+xml;base64,{icon})")
    css = css.replace("url(images/layers-2x.png)", f"url(data:image/svg+xml;base64,{icon})")
    return css.replace("background-image: url(images/marker-icon.png);", "")


def _inline_assets(text: str) -> str:
    """Inline the bundled scripts and stylesheets and drop the icon-font ones (see :data:`DROPPED_ASSETS`)."""
    import re

    def script(match: re.Match) -> str:
        url = match.group("url")
        if url in INLINE_SCRIPTS:
            return f"<script>{(STATIC / INLINE_SCRIPTS[url]).read_text(encoding='utf-8')}</script>"
        if url.startswith(DROPPED_ASSETS):
            return ""
        raise RuntimeError(f"the page links a script that is not bundled: {url}")

    def style(match: re.Match) -> str:
        url = match.group("url")
        if url in INLINE_STYLES:
            return f"<style>{_offline_css((STATIC / INLINE_STYLES[url]).read_text(encoding='utf-8'))}</style>"
        if url.startswith(DROPPED_ASSETS):
            return ""
        raise RuntimeError(f"the page links a stylesheet that is not bundled: {url}")

    return re.sub(_STYLE_TAG, style, re.sub(_SCRIPT_TAG, script, text))


def finalize_html(path: Path) -> None:
    """Make a folium page work offline and be deterministic.

    Leaflet and jQuery are inlined from the bundled copies (planners' machines may have no internet),
    the icon-font assets folium links are dropped, and folium's random element ids are replaced by
    sequential ones. Only a tile layer the scenario asks for (``[outputs] tiles``) fetches anything.

    Raises
    ------
    RuntimeError
        The page links a script or stylesheet that is neither bundled nor known to be unused.
    """
    import re

    text = _inline_assets(path.read_text(encoding="utf-8"))
    mapping: dict[str, str] = {}

    def sub(match: re.Match) -> str:
        return mapping.setdefault(match.group(0), f"{len(mapping) + 1:032x}")

    path.write_text(re.sub(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", sub, text), encoding="utf-8")


def _passed(ok: object) -> bool:
    """A summary row's pass value is a true boolean (not False, None or NaN)."""
    return ok is True or ok is np.True_


def _num(value, spec: str = "g") -> str:
    return "not checked 未检查" if value is None or pd.isna(value) else format(float(value), spec)


def _pct(value) -> str:
    return "not checked 未检查" if value is None or pd.isna(value) else f"{float(value):.1%}"


def print_summary(result) -> None:
    """A terminal table: one line per rule and zone, pass/fail in colour, failing units listed."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    s = result.summary
    table = Table(title=f"{result.scenario.title_zh} {result.scenario.title_en} — "
                        f"{result.scenario.profile.name_zh} {result.scenario.profile.name_en} standards",
                  caption=f"population 人口 {result.population_total:,.0f}; spatial rules pass when ≥ "
                          f"{result.scenario.profile.min_share:.0%} of people meet them (planning assumption); "
                          "\\[plan] = the plan sets the figure 规划指标, \\[assumption] = a planning assumption 规划假设 "
                          "(summary.json: basis_note); region-level rules are judged once for the whole "
                          "jurisdiction 全域判定")
    for col in ("rule 规则 \\[basis 依据]", "zone 区域", "population 人口", "covered / value 覆盖", "share 比例",
                "target 目标", "result 结果", "failing units 未达标单元"):
        table.add_column(col, overflow="fold")
    for rule in result.rules:
        rows = s[s["rule_id"] == rule.id]
        units = rows[rows["unit_id"] != "ALL"]
        for _, row in rows[rows["unit_id"] == "ALL"].iterrows():
            failing = units[(units["zone"] == row["zone"]) | (row["zone"] == "all")]
            failing = failing[failing["pass"] == False]  # noqa: E712
            ok = row["pass"]
            names = "" if _passed(ok) else \
                ", ".join(failing["unit_name"].astype(str).head(6)) + (" …" if len(failing) > 6 else "")
            verdict = "[green]PASS 达标[/]" if _passed(ok) else \
                ("[red]FAIL 未达标[/]" if ok is False or ok is np.False_ else "–")
            if rule.spatial and rule.kind != "mean_time":
                covered, share = f"{row['covered_population']:,.0f}", f"{row['share_covered']:.1%}"
                target = f"{row['target']:.0%}"
            elif rule.kind == "mean_time":
                lost = row.get("population_no_time", 0)
                share = f"{lost:,.0f} people have no time, not in the mean 无时间人口未计入" if lost > 0 else ""
                covered, target = f"mean {row['value']:.1f} min", \
                    ("" if pd.isna(row["target"]) else f"{'<' if rule.strict else '≤'}{row['target']:g} min")
            elif rule.kind == "share":
                covered, share, target = _pct(row["value"]), "", f"≥{rule.min_value:.0%}"
            elif rule.kind == "ratio":
                unknown = ok is None and (row.get("facilities_without_value", 0) > 0
                                          or row.get("unspecified", 0) > 0)
                covered = "not checked 未检查" if unknown else \
                    f"{row['value']:,.6g} ({row['rate']:.2f} per {rule.per_people:,.0f})"
                share, target = "", f"{row['required']:,.1f}"
            elif rule.kind == "per_village":
                covered = _num(row["value"]) + " villages served 村"
                share = "" if pd.isna(row.get("shared", np.nan)) else f"{row['shared']:g} share a neighbour's"
                target = _num(row["required"])
            elif rule.kind == "any_of":
                covered, share, target = f"{row['value']:g} units", str(row.get("passed_by", "")), \
                    f"{row['required']:g}"
            else:
                maybe = row.get("unspecified", 0)
                covered, target = _num(row["value"]), _num(row["required"], ".1f")
                share = f"+{maybe:g} of unknown kind 类别不明" if pd.notna(maybe) and maybe > 0 else ""
            label = f"{rule.id}: {rule.name_zh}\n{rule.threshold_label()}\n" + escape(f"[{rule.basis}]")
            table.add_row(label, str(row["zone"]), _num(row["population"], ",.0f"), covered, share, target, verdict,
                          names)
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)  # the run's warnings went to stderr once, as they were raised
    console.print(f"Outputs 输出: {result.scenario.out_dir}/ (coverage.html, summary.csv, summary.json, "
                  "cells.gpkg, isochrones.gpkg, stations.csv"
                  + (", sensitivity.csv)" if getattr(result, "sensitivity", None) is not None else ")"))
