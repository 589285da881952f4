"""Scenario files (TOML): which data, which standards profile, which travel profile, which outputs.

:func:`load_scenario` validates the whole file and reports every problem at once, each with the
file and the key.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import settings_check as sc
from .errors import InputError, is_number, raise_all
from .layers import OSM_SUFFIXES, LayerSpec, column_key_problems
from .network import ROAD_CLASSES, TRAVEL_PROFILES
from .standards import Profile, load_profile

def _text(key: str) -> sc.Field:
    return sc.Field(key, sc.text, "text in quotes", f'e.g. {key} = "...".')


def _names(section: str, key: str) -> sc.Field:
    example = '急救站 = "ems"' if key == "types" else 'name = "名称"'
    return sc.Field(key, sc.text_table, "a table of names",
                    f"write [{section}.{key}] followed by lines such as {example}.")


def _metres(key: str, default: float) -> sc.Field:
    # any number above 0 (inf: no limit), as before; checked also when absent (the default)
    return sc.Field(key, lambda v: is_number(v) and v > 0, "a positive number of metres", f"e.g. {key} = {default:g}.",
                    default)


def _checked_elsewhere(key: str) -> sc.Field:
    return sc.Field(key, None)


# The scenario's own sections (checked by settings_check.check_table; the keys that need more than a
# type check are checked in load_scenario). [siting] and [subcentres] are checked by their commands.
FIELDS = {
    "scenario": tuple(_text(k) for k in ("name", "title_zh", "title_en", "crs")),
    "standards": (_text("profile"), sc.Field("rules", sc.list_of(sc.text), "a list of rule ids",
                                             'e.g. rules = ["ems_radius", "ems_response"].'),
                  _checked_elsewhere("overrides")),
    "travel": (_text("profile"), _metres("facility_max_access_m", 500.0), _checked_elsewhere("profiles"),
               _checked_elsewhere("speed_factors")),
    "boundaries": (_text("path"), _text("layer"), _names("boundaries", "columns"), _checked_elsewhere("admin_level")),
    "facilities": (*(_text(k) for k in ("path", "layer", "encoding", "coords")), _names("facilities", "columns"),
                   _names("facilities", "types")),
    "population": (*(_text(k) for k in ("path", "layer", "encoding", "census_column", "census_path", "census_key",
                                        "census_scale_path", "census_scale_key", "census_scale_column")),
                   _names("population", "columns"), _metres("cell_size_m", 200.0)),
    "villages": (*(_text(k) for k in ("path", "layer", "coords", "encoding")), _names("villages", "columns")),
    "roads": (_text("path"),),
    "outputs": (_text("dir"), _text("cache_dir"), *(_checked_elsewhere(k) for k in ("isochrone_minutes", "tiles",
                                                                                     "tianditu_key"))),
}
SECTIONS = {**{section: {f.key for f in fields} for section, fields in FIELDS.items()},
            "siting": None,  # validated by the siting module
            "subcentres": None}  # validated by the subcentres module

REQUIRED = [("roads", "path"), ("population", "path"), ("facilities", "path"), ("boundaries", "path")]
COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


@dataclass
class Scenario:
    """A validated scenario: paths are absolute, the standards profile is loaded."""

    path: Path
    name: str
    title_zh: str
    title_en: str
    crs: str | None
    profile: Profile
    travel_overrides: dict
    facility_max_access_m: float
    boundaries: LayerSpec
    facilities: LayerSpec
    population: LayerSpec
    roads: Path
    cell_size_m: float | None
    census_column: str | None
    census_path: Path | None
    census_key: str
    type_map: dict
    out_dir: Path
    cache_dir: Path
    isochrone_minutes: list[float]
    raw: dict = field(default_factory=dict)
    villages: LayerSpec | None = None            # 行政村 points or polygons with population
    census_scale_path: Path | None = None        # 常住人口 per unit: cells are scaled to these totals
    census_scale_key: str = "name"
    census_scale_column: str = "population"
    speed_factors: list[float] = field(default_factory=list)   # [travel] speed_factors (sensitivity.py)


def _positive(value) -> bool:
    return is_number(value) and value > 0


def minutes_problem(minutes: object) -> str | None:
    """What is wrong with a list of isochrone minutes (scenario or command line), or None.

    Parameters
    ----------
    minutes : object
        The value given: it must be a non-empty list of positive, finite numbers.
    """
    if not isinstance(minutes, list) or not minutes or \
            not all(_positive(m) and math.isfinite(m) for m in minutes):
        return f"isochrone minutes must be positive numbers, got {minutes}."
    return None


def _is_zero(value) -> bool:
    return is_number(value) and value == 0


def load_scenario(path: str | Path, out_dir: str | Path | None = None) -> Scenario:
    """Read and validate a scenario file; every problem is reported at once (InputErrors)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"the scenario file {path} does not exist.", file=path, field="SCENARIO",
                         fix="give the path of a .toml scenario, e.g. scenarios/demo.toml.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"the scenario is not valid TOML ({exc}).", file=path, field="SCENARIO",
                         fix="correct the TOML syntax (strings in double quotes, tables in [brackets]).") from None
    base = path.resolve().parent
    errors: list[InputError] = []

    def problem(key: str, text: str, fix: str) -> None:
        errors.append(InputError(text, file=path, field=key, fix=fix))

    for section, table in list(data.items()):
        if section not in SECTIONS:
            problem(section, f"unknown section [{section}].", f"use only {', '.join(SECTIONS)}.")
        elif not isinstance(table, dict):
            problem(section, f"{section} must be a table, got {table!r}.",
                    f"write it as a [{section}] header followed by key = value lines.")
            del data[section]
        elif SECTIONS[section] is not None:
            _, problems = sc.check_table(table, FIELDS[section], section=section, file=path)
            errors += problems
            for e in problems:   # a value of the wrong type is not used further
                table.pop(e.field.split(".", 1)[1], None)
            if isinstance(table.get("columns"), dict):   # [facilities.columns] etc.: keys a reader uses
                errors += column_key_problems(section, table["columns"], file=path, section=f"{section}.columns")
    errors += _unused_problems(data, path)
    census = data.get("population", {}).get("census_column")
    for section, key in REQUIRED:
        if section == "population" and census:
            continue  # people come from a census column of the boundary layer
        if not data.get(section, {}).get(key):
            problem(f"{section}.{key}", f"missing required key {section}.{key}.", f"add [{section}] {key} = \"...\".")
    paths = {s: (base / data[s]["path"]).resolve() for s, _ in REQUIRED if data.get(s, {}).get("path")}
    for section, p in paths.items():
        if not p.exists():
            problem(f"{section}.path", f"the file {p} does not exist.",
                    "check the path; relative paths are read from the scenario file's folder.")
    for section, key in (("villages", "path"), ("population", "census_scale_path")):
        given = data.get(section, {}).get(key)
        if isinstance(given, str) and not (base / given).exists():
            problem(f"{section}.{key}", f"the file {(base / given).resolve()} does not exist.",
                    "check the path; relative paths are read from the scenario file's folder.")
    fac = data.get("facilities", {})
    coords = str(fac.get("coords", "wgs84")).lower()
    if coords not in COORD_SYSTEMS:
        problem("facilities.coords", f"unknown coordinate system '{coords}'.", f"use one of {', '.join(COORD_SYSTEMS)}.")
    travel = data.get("travel", {})
    profiles = travel.get("profiles", {})
    if not isinstance(profiles, dict):
        problem("travel.profiles", "travel.profiles must be tables of settings per travel profile.",
                "write [travel.profiles.ambulance] followed by e.g. max_kmh = 80.")
        profiles = {}
    for name, settings in profiles.items():
        if name not in TRAVEL_PROFILES:
            problem(f"travel.profiles.{name}", f"unknown travel profile '{name}'.",
                    f"use one of {', '.join(TRAVEL_PROFILES)}.")
            continue
        for key, value in (settings.items() if isinstance(settings, dict) else [("", settings)]):
            if key == "speeds_kmh" and isinstance(value, dict):  # 0 km/h leaves a road class out
                ok = all(_positive(v) or _is_zero(v) for v in value.values())
                errors += _road_class_problems(value, f"travel.profiles.{name}.speeds_kmh", path)
            else:
                ok = key in TRAVEL_PROFILES[name] and key != "speeds_kmh" and (
                    _positive(value) or (key == "ferry_kmh" and _is_zero(value)))
            if not ok:
                problem(f"travel.profiles.{name}.{key}".rstrip("."),
                        f"travel.profiles.{name}: {key or 'the value'} = {value!r} is not a known positive setting.",
                        f"use keys {', '.join(TRAVEL_PROFILES[name])} with positive numbers "
                        "(speeds_kmh as a table of road class = km/h; 0 leaves a class, or ferries, out).")
    std = data.get("standards", {})
    profile = None
    try:
        profile = load_profile(std.get("profile", "chongqing"), base, std.get("overrides"), std.get("rules"),
                               scenario_file=path)
    except InputError as exc:
        errors.append(exc)
    if profile is not None:
        for rule in profile.rules:
            if rule.spatial and rule.travel_profile not in TRAVEL_PROFILES:
                problem(f"rules.{rule.id}.travel_profile", f"unknown travel profile '{rule.travel_profile}'.",
                        f"use one of {', '.join(TRAVEL_PROFILES)}.")
    from .sensitivity import factors_problem

    if "speed_factors" in travel and factors_problem(travel["speed_factors"]):
        problem("travel.speed_factors", factors_problem(travel["speed_factors"]),
                "e.g. speed_factors = [0.8, 1.0, 1.2] (road speeds × each factor), or leave the key out.")
    minutes = data.get("outputs", {}).get("isochrone_minutes", [15, 30])
    if minutes != [] and minutes_problem(minutes):      # [] means no isochrones
        problem("outputs.isochrone_minutes", minutes_problem(minutes),
                "e.g. isochrone_minutes = [15, 30], or [] for none.")
    from .basemap import tiles_problem   # the maps' optional online tile layer

    if tiles_problem(data.get("outputs", {})):
        problem(*tiles_problem(data.get("outputs", {})))
    raise_all(errors)

    head = data.get("scenario", {})
    name = str(head.get("name", path.stem))
    outputs = data.get("outputs", {})

    if census:
        paths["population"] = paths["boundaries"]

    def spec(section: str) -> LayerSpec:
        table = data[section]
        return LayerSpec(path=paths[section], layer=table.get("layer"), columns=table.get("columns"),
                         encoding=table.get("encoding"), coords=coords if section == "facilities" else "wgs84",
                         key=section, admin_level=table.get("admin_level"))

    return Scenario(
        path=path.resolve(), name=name, title_zh=str(head.get("title_zh", name)),
        title_en=str(head.get("title_en", name)),
        crs=None if str(head.get("crs", "auto")).lower() == "auto" else str(head["crs"]),
        profile=profile, travel_overrides=travel.get("profiles", {}),
        facility_max_access_m=float(travel.get("facility_max_access_m", 500.0)),
        boundaries=spec("boundaries"), facilities=spec("facilities"), population=spec("population"),
        roads=paths["roads"], cell_size_m=data["population"].get("cell_size_m", 200.0 if census else None),
        census_column=census,
        census_path=(base / data["population"]["census_path"]).resolve() if data["population"].get("census_path") else None,
        census_key=str(data["population"].get("census_key", "name")),
        type_map=dict(fac.get("types", {})),
        out_dir=Path(out_dir) if out_dir else (base / outputs["dir"] if "dir" in outputs else Path("maps") / name),
        cache_dir=base / outputs["cache_dir"] if "cache_dir" in outputs else Path(".cache/coverage-planner"),
        isochrone_minutes=[float(m) for m in minutes], raw=data,
        villages=_villages_spec(data.get("villages"), base),
        census_scale_path=(base / data["population"]["census_scale_path"]).resolve()
        if data["population"].get("census_scale_path") else None,
        census_scale_key=str(data["population"].get("census_scale_key", "name")),
        census_scale_column=str(data["population"].get("census_scale_column", "population")),
        speed_factors=sorted({float(f) for f in travel.get("speed_factors", [])}),
    )


def _road_class_problems(speeds: dict, section: str, file: Path) -> list[InputError]:
    """An InputError for every key of a ``speeds_kmh`` table that is not a road class the tool routes
    (:data:`network.ROAD_CLASSES`): such a speed would change nothing. A known class that does not
    occur in the road file is fine."""
    listing = ", ".join(ROAD_CLASSES)
    return [InputError(f"unknown road class '{k}' in [{section}]{'' if k == 'ferry' else sc.closest(k, ROAD_CLASSES)}"
                       ": no road has it, so "
                       "this speed would change nothing.", file=file, field=f"{section}.{k}",
                       fix=("ferries have their own setting: write ferry_kmh = ... under the travel profile. "
                            if k == "ferry" else "") + f"use OSM highway classes: {listing}.")
            for k in sorted(speeds, key=str) if k not in ROAD_CLASSES]


# Settings that only matter when another key is given: (section, key, the key it needs).
NEEDS = (("population", "census_key", "census_path"), ("population", "census_scale_key", "census_scale_path"),
         ("population", "census_scale_column", "census_scale_path"))


def _unused_problems(data: dict, file: Path) -> list[InputError]:
    """Settings given where they change nothing (refused, not silently ignored): the census table's
    key or column without the table, population columns when people come from census counts, and an
    OSM admin_level for boundaries that are no OSM file."""
    errors = []
    for section, key, needs in NEEDS:
        table = data.get(section, {})
        if key in table and not table.get(needs):
            errors += sc.unused_keys(table, [key], when=f"{section}.{needs} is not given", section=section,
                                     file=file, fix=f"add {needs} = \"...\" (the table {key} refers to), "
                                     f"or remove {key}.")
    pop = data.get("population", {})
    if pop.get("census_column"):   # people come from census counts per unit: no population layer is read
        errors += sc.unused_keys(pop, ["columns"], when="population.census_column is given (census counts per "
                                 "unit are spread along the roads; no population layer is read)",
                                 section="population", file=file,
                                 fix="remove [population.columns], or remove census_column to read the population "
                                     "layer with it.")
    bounds = data.get("boundaries", {})
    if "admin_level" in bounds and isinstance(bounds.get("path"), str) and \
            not bounds["path"].lower().endswith(OSM_SUFFIXES):
        errors += sc.unused_keys(bounds, ["admin_level"], when="boundaries.path is not an OSM file (.pbf, .osm)",
                                 section="boundaries", file=file,
                                 fix="remove admin_level (it picks the level of OSM boundary relations); a "
                                     "boundary layer's features are the units as they are.")
    return errors


def _villages_spec(table: dict | None, base: Path) -> LayerSpec | None:
    """The [villages] layer (行政村 with population), or None when the scenario has none."""
    if not table or not table.get("path"):
        return None
    return LayerSpec(path=(base / table["path"]).resolve(), layer=table.get("layer"), columns=table.get("columns"),
                     encoding=table.get("encoding"), coords=str(table.get("coords", "wgs84")).lower(),
                     key="villages")
