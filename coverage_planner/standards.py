"""Standards profiles: one TOML file per jurisdiction, shipped as package data
(``coverage_planner/data/standards/``, read with importlib.resources).

Each rule carries its source document, line and quote, and its ``basis``: ``"plan"`` when the plan
sets the figure, ``"assumption"`` (with a ``basis_note``) when it is a planning assumption of this
tool. Rule kinds (data-driven; no per-profile code):

- ``radius``: distance to the nearest facility of the types ≤ ``urban_km``/``rural_km``
  (``measure`` = network_distance or straight_line decides pass/fail; both are reported);
- ``travel_time``: modelled time (turnout + travel for ambulances) ≤ ``urban_min``/``rural_min``,
  in the rule's ``travel_profile`` (ambulance, car or walk);
- ``mean_time``: population-weighted mean modelled time per zone below ``urban_min``/``rural_min``,
  over the people with a modelled time; those without one (cut off) may be at most 1 − ``min_share``;
- ``ratio``: ``sum(attribute)`` of the facilities of the types ≥ ``min_count`` (and ≤ ``max_count``)
  per ``per_people`` residents; ``attribute`` is ambulances, beds, doctors, nurses, gps or
  negative_pressure_ambulances;
- ``share``: ``sum(attribute)`` of the facilities of the types as a share of ``sum(of_attribute)`` of
  the facilities of ``of_facility_types`` ≥ ``min_value`` (and ≤ ``max_value``);
- ``count_per_unit``: at least ``min_count`` facilities in every unit of ``unit_kinds``, and one per
  ``people_per_facility`` residents where that is given (e.g. a CHC per street or per 100,000);
- ``count_per_band``: facilities required by population band (``bands``: the largest band whose
  ``min_people`` the population reaches gives the ``count``) and/or one per ``people_per_facility``;
- ``per_village``: a facility of the types in every 行政村 of the scenario's ``[villages]`` layer with
  more than ``required_above_people`` residents; villages below ``merge_below_people`` may share
  their neighbour's; villages from ``branch_from_people`` may add a branch (reported);
- ``any_of``: passes per unit (and for the region) when any of its ``parts`` (other rules) passes.

Ratio, share and count rules have a ``level``: ``region`` (judged once for the scenario's whole
jurisdiction; per-unit figures are information) or ``unit`` (every unit judged).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, replace
from importlib.resources.abc import Traversable
from pathlib import Path

from .errors import InputError, is_number
from .package_data import standards_root

STANDARDS_DIR = standards_root()    # package data, read with importlib.resources
KINDS = ("radius", "travel_time", "mean_time", "ratio", "share", "count_per_unit", "count_per_band",
         "per_village", "any_of")
SPATIAL_KINDS = ("radius", "travel_time", "mean_time")
LEVEL_KINDS = ("ratio", "share", "count_per_unit", "count_per_band", "per_village")
RESOURCE_ATTRIBUTES = ("ambulances", "beds", "doctors", "nurses", "gps", "negative_pressure_ambulances")
BASES = ("plan", "assumption")
LEVELS = ("region", "unit")
COMMON_KEYS = {"id", "kind", "name_zh", "name_en", "facility_types", "source", "line", "quote", "note",
               "min_share", "applies_to_zones", "basis", "basis_note", "standards"}
KIND_KEYS = {
    "radius": {"urban_km", "rural_km", "measure", "direction", "travel_profile"},
    "travel_time": {"urban_min", "rural_min", "direction", "travel_profile", "include_turnout"},
    "mean_time": {"urban_min", "rural_min", "direction", "travel_profile", "include_turnout", "strict"},
    "ratio": {"attribute", "min_count", "max_count", "per_people", "level"},
    "share": {"attribute", "of_attribute", "of_facility_types", "min_value", "max_value", "level"},
    "count_per_unit": {"unit_kinds", "min_count", "people_per_facility", "level"},
    "count_per_band": {"unit_kinds", "min_count", "people_per_facility", "bands", "level"},
    "per_village": {"required_above_people", "merge_below_people", "branch_from_people", "except_with_types",
                    "level"},
    "any_of": {"parts"},
}
DEFAULT_LEVEL = {"ratio": "region", "share": "region", "count_per_unit": "unit", "count_per_band": "region",
                 "per_village": "unit"}
PROFILE_KEYS = {"id", "name_zh", "name_en", "sources", "min_share", "urban_density_per_km2",
                "max_access_m", "default_turnout_min", "turnout_source", "note"}
NOT_CHECKED_KEYS = {"id", "name_zh", "name_en", "source", "line", "quote", "why", "value", "standards"}
NOT_CHECKED_REQUIRED = ("id", "source", "line", "quote", "why")
STANDARD_ID = re.compile(r"[A-Z]\d\d")   # an id of ../shared/STANDARDS.md: A01, F21, W38
MEASURE_LABELS = {"network_distance": "network distance 路网距离", "straight_line": "straight line 直线距离"}
MODE_LABELS = {"ambulance": "by ambulance 救护车", "car": "by car 驾车", "walk": "on foot 步行"}


@dataclass(frozen=True)
class Rule:
    """One checkable standard, with where it comes from and whether the plan or an assumption sets it."""

    id: str
    kind: str
    name_zh: str
    name_en: str
    facility_types: tuple[str, ...]
    source: str
    line: str
    quote: str = ""
    note: str = ""
    basis: str = "plan"
    basis_note: str = ""
    standards: tuple[str, ...] = ()     # the STANDARDS.md ids the rule implements
    urban: float | None = None          # km for radius, minutes for time rules
    rural: float | None = None
    measure: str = "network_distance"
    direction: str = "from_facility"
    travel_profile: str = "ambulance"
    include_turnout: bool = True
    strict: bool = False
    min_share: float = 0.95
    applies_to_zones: tuple[str, ...] = ("urban", "rural")
    attribute: str = "ambulances"
    min_count: float = 1.0
    max_count: float | None = None
    per_people: float = 10000.0
    unit_kinds: tuple[str, ...] = ()
    people_per_facility: float | None = None
    level: str = "unit"
    of_attribute: str = ""
    of_facility_types: tuple[str, ...] = ()
    min_value: float = 0.0
    max_value: float | None = None
    bands: tuple[tuple[float, float], ...] = ()
    required_above_people: float | None = None
    merge_below_people: float | None = None
    branch_from_people: float | None = None
    except_with_types: tuple[str, ...] = ()
    parts: tuple[str, ...] = ()

    @property
    def spatial(self) -> bool:
        """True for rules checked cell by cell on travel measures."""
        return self.kind in SPATIAL_KINDS

    def threshold(self, zone: str) -> float | None:
        """The zone's limit in metres (radius) or seconds (time rules); None if not set."""
        value = self.urban if zone == "urban" else self.rural
        if value is None or zone not in self.applies_to_zones:
            return None
        return float(value) * (1000.0 if self.kind == "radius" else 60.0)

    def threshold_label(self) -> str:
        """The rule's target in words, with what is judged (measure, mode, level)."""
        where = f" ({self.level})" if self.kind in LEVEL_KINDS else ""
        if self.kind == "ratio":
            upper = f"–{self.max_count:g}" if self.max_count is not None else ""
            low = "" if upper else "≥"
            return f"{low}{self.min_count:g}{upper} {self.attribute} per {self.per_people:,.0f}{where}"
        if self.kind == "share":
            if self.max_value is None:
                bound = f"≥{self.min_value:.0%}"
            else:
                bound = f"{self.min_value:.0%}–{self.max_value:.1%}" if self.min_value else f"≤{self.max_value:.1%}"
            of_types = "/".join(self.of_facility_types or self.facility_types)
            return (f"{self.attribute} of {'/'.join(self.facility_types)} {bound} of "
                    f"{self.of_attribute or self.attribute} of {of_types}{where}")
        if self.kind == "count_per_unit":
            extra = f" or per {self.people_per_facility:,.0f} people" if self.people_per_facility else ""
            return f"≥{self.min_count:g} per {'/'.join(self.unit_kinds) or 'unit'}{extra}{where}"
        if self.kind == "count_per_band":
            parts = [f"{c:g} from {p:,.0f} people" if p else f"≥{c:g}" for p, c in self.bands]
            if self.people_per_facility:
                parts.append(f"1 per {self.people_per_facility:,.0f} people")
            return "; ".join(parts) + where
        if self.kind == "per_village":
            above = f" with > {self.required_above_people:,.0f} people" if self.required_above_people else ""
            return f"≥1 in every village 行政村{above}"
        if self.kind == "any_of":
            return "any of: " + " | ".join(self.parts)
        unit = "km" if self.kind == "radius" else "min"
        parts = [f"{z} {'<' if self.strict else '≤'}{v:g} {unit}" for z, v in
                 (("urban", self.urban), ("rural", self.rural)) if v is not None and z in self.applies_to_zones]
        how = MEASURE_LABELS.get(self.measure, self.measure) if self.kind == "radius" else \
            MODE_LABELS.get(self.travel_profile, self.travel_profile)
        return ", ".join(parts) + f" ({how})"


@dataclass(frozen=True)
class NotChecked:
    """A standard of the plan that the tool cannot check, with why (listed so the catalogue is complete)."""

    id: str
    source: str
    line: str
    quote: str
    why: str
    name_zh: str = ""
    name_en: str = ""
    value: str = ""
    standards: tuple[str, ...] = ()     # the STANDARDS.md ids the entry stands for


@dataclass(frozen=True)
class Profile:
    """A jurisdiction's standards."""

    id: str
    name_zh: str
    name_en: str
    path: Path
    rules: tuple[Rule, ...]
    sources: tuple[str, ...] = ()
    min_share: float = 0.95
    urban_density_per_km2: float = 1500.0
    max_access_m: float = 1000.0
    default_turnout_min: float = 0.0
    note: str = ""
    extra: dict = field(default_factory=dict)
    not_checked: tuple[NotChecked, ...] = ()

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def available_profiles() -> list[str]:
    """Names of the bundled standards profiles.

    Returns
    -------
    list of str
        Sorted profile names (``chongqing``, ...), each usable as ``profile = "NAME"``.
    """
    return sorted(p.name.removesuffix(".toml") for p in STANDARDS_DIR.iterdir()
                  if p.is_file() and p.name.endswith(".toml"))


def profile_path(name_or_path: str, base: Path | None = None) -> Path | Traversable:
    """Where a profile given by name (bundled, package data) or by ``.toml`` file path is read from.

    Parameters
    ----------
    name_or_path : str
        A bundled profile's name (``chongqing``) or the path of a ``.toml`` profile.
    base : Path, optional
        Folder that a relative ``.toml`` path is read from.

    Returns
    -------
    Path or importlib.resources.abc.Traversable
        A file path, or the bundled profile's resource (a :class:`Path` when installed as files).
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        return candidate if candidate.is_absolute() or base is None else base / candidate
    return STANDARDS_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str, base: Path | None = None, overrides: dict | None = None,
                 only: list[str] | None = None, scenario_file: Path | None = None) -> Profile:
    """Load and validate a standards profile.

    Parameters
    ----------
    name_or_path : str
        A bundled profile's name (``chongqing``) or the path of a ``.toml`` profile.
    base : Path, optional
        Folder that relative profile paths are read from.
    overrides : dict, optional
        Rule id → {key: value}, replacing the profile's values.
    only : list of str, optional
        Rule ids to keep (the parts of a kept ``any_of`` rule are kept too).
    scenario_file : Path, optional
        Problems in ``overrides`` or ``only`` are reported against this file.

    Returns
    -------
    Profile
    """
    source = profile_path(name_or_path, base)
    path = Path(str(source))
    if not source.is_file():
        raise InputError(f"unknown standards profile '{name_or_path}'.", file=path, field="standards.profile",
                         fix=f"use one of {', '.join(available_profiles())}, or a path to a .toml profile.")
    try:
        data = tomllib.loads(source.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the profile is not valid TOML ({exc}).", file=path, field="standards.profile",
                         fix="correct the TOML syntax.") from None
    head = data.get("profile", {})
    if not isinstance(head, dict) or not _list_of_tables(data.get("rules", [])) \
            or not _list_of_tables(data.get("not_checked", [])):
        raise InputError("the profile needs a [profile] table and [[rules]] tables.", file=path,
                         field="rules", fix="see the bundled profile coverage_planner/data/standards/chongqing.toml "
                                            "for the layout.")
    errors = [k for k in head if k not in PROFILE_KEYS]
    if errors:
        raise InputError(f"unknown profile key(s) {errors}.", file=path, field=f"profile.{errors[0]}",
                         fix=f"use only {sorted(PROFILE_KEYS)}.")
    min_share = _share(head.get("min_share", 0.95), path, "profile.min_share")
    for key in ("urban_density_per_km2", "max_access_m"):
        if key in head:
            _number(head[key], path, f"profile.{key}")
    if "default_turnout_min" in head:
        _number(head["default_turnout_min"], path, "profile.default_turnout_min", low=-1e-12)
    rules = [_rule_from_table(t, path, min_share, f"rules[{i + 1}]") for i, t in enumerate(data.get("rules", []))]
    ids = [r.id for r in rules]
    _check_unique_and_parts(rules, path)
    given = scenario_file or path
    only = [only] if isinstance(only, str) else only
    if not isinstance(overrides or {}, dict) or not all(isinstance(v, dict) for v in (overrides or {}).values()):
        raise InputError("standards.overrides must hold one table per rule.", file=given, field="standards.overrides",
                         fix="write [standards.overrides.RULE_ID] followed by e.g. urban_km = 4.")
    for rule_id, changes in (overrides or {}).items():
        if rule_id not in ids:
            raise InputError(f"unknown rule '{rule_id}' in the overrides.", file=given,
                             field=f"standards.overrides.{rule_id}", fix=f"use one of {', '.join(ids)}.")
        i = ids.index(rule_id)
        rules[i] = _override(rules[i], changes, given)
    if only:
        unknown = [r for r in only if r not in ids]
        if unknown:
            raise InputError(f"unknown rule key(s) {unknown}.", file=given, field="standards.rules",
                             fix=f"use rule ids from the profile: {', '.join(ids)}.")
        keep = set(only) | {p for r in rules if r.id in only for p in r.parts}
        rules = [r for r in rules if r.id in keep]
    not_checked = tuple(_not_checked(t, path, i + 1) for i, t in enumerate(data.get("not_checked", [])))
    return Profile(id=head.get("id", path.stem), name_zh=head.get("name_zh", ""),
                   name_en=head.get("name_en", path.stem), path=path, rules=tuple(rules),
                   sources=tuple(head.get("sources", ())), min_share=min_share,
                   urban_density_per_km2=float(head.get("urban_density_per_km2", 1500.0)),
                   max_access_m=float(head.get("max_access_m", 1000.0)),
                   default_turnout_min=float(head.get("default_turnout_min", 0.0)), note=head.get("note", ""),
                   not_checked=not_checked)


def _list_of_tables(value) -> bool:
    return isinstance(value, list) and all(isinstance(t, dict) for t in value)


def _check_unique_and_parts(rules: list[Rule], path: Path) -> None:
    """Rule ids are unique; an any_of rule names other, non-any_of rules of the profile."""
    ids = [r.id for r in rules]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InputError(f"rule id(s) {twice} appear more than once.", file=path, field="rules.id",
                         fix="give every rule its own id.")
    kinds = {r.id: r.kind for r in rules}
    for rule in rules:
        if rule.kind != "any_of":
            continue
        bad = [p for p in rule.parts if kinds.get(p) in (None, "any_of")]
        if bad or len(rule.parts) < 2:
            raise InputError(f"rule '{rule.id}': parts {list(rule.parts)} must name two or more other rules of "
                             f"the profile that are not any_of rules ({bad or 'too few'}).", file=path,
                             field=f"rules.{rule.id}.parts", fix=f"use rule ids from {', '.join(ids)}.")


def _not_checked(table: dict, path: Path, index: int) -> NotChecked:
    """A [[not_checked]] entry: seed, line, quote and why, all text."""
    prefix = f"not_checked[{index}]"
    unknown = sorted(set(table) - NOT_CHECKED_KEYS)
    missing = [k for k in NOT_CHECKED_REQUIRED if not str(table.get(k, "")).strip()]
    if unknown or missing:
        raise InputError(f"{prefix} ({table.get('id', '?')}) has unknown key(s) {unknown} or lacks {missing}.",
                         file=path, field=f"{prefix}.{(unknown or missing)[0]}",
                         fix=f"give {', '.join(NOT_CHECKED_REQUIRED)} "
                             "(and optionally standards, name_zh, name_en, value).")
    bad = [k for k, v in table.items() if not isinstance(v, str) and k != "standards"]
    if bad:
        raise InputError(f"{prefix}.{bad[0]} must be text in quotes, got {table[bad[0]]!r}.", file=path,
                         field=f"{prefix}.{bad[0]}", fix=f'e.g. {bad[0]} = "...".')
    ids = _standard_ids(table.get("standards", []), path, f"{prefix}.standards")
    return NotChecked(**{**table, "standards": ids})


def _standard_ids(value, path: Path, field: str) -> tuple[str, ...]:
    """``standards = ["A01", "F21"]``: ids of ../shared/STANDARDS.md, a letter and two digits, each once."""
    items = value if isinstance(value, list) else None
    bad = [v for v in items if not isinstance(v, str) or not STANDARD_ID.fullmatch(v)] if items is not None \
        else [value]
    if bad or len(set(items)) != len(items):
        twice = sorted({i for i in items if items.count(i) > 1}) if not bad else []
        what = f"names {bad[0]!r}, not an id of the standards catalogue (a capital letter and two digits)" if bad \
            else f"names {', '.join(twice)} more than once"
        raise InputError(f"{field} {what}.", file=path, field=field,
                         fix="list the ids of the standards catalogue (STANDARDS.md beside the seeds) the entry "
                             'stands for, e.g. standards = ["A01", "F21"].')
    return tuple(items)


def _check_keys(table: dict, kind: str, rule_id: str, path: Path, prefix: str) -> None:
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(f"rule '{rule_id}' has unknown key(s) {unknown}.", file=path,
                         field=f"{prefix}.{unknown[0]}", fix=f"keys for kind '{kind}' are {sorted(allowed)}.")


NUMBER_KEYS = {"min_count", "per_people", "people_per_facility", "max_count", "required_above_people",
               "merge_below_people", "branch_from_people"}
SHARE_KEYS = {"min_value", "max_value"}
TEXT_KEYS = {"measure", "direction", "travel_profile", "attribute", "of_attribute", "basis", "level"}
NAME_LIST_KEYS = {"facility_types", "applies_to_zones", "unit_kinds", "of_facility_types", "except_with_types",
                  "parts"}
BOOL_KEYS = {"include_turnout", "strict"}
ZONES = ("urban", "rural")


def _number(value, path: Path, field: str, low: float = 0.0) -> float:
    """``value`` as a float above ``low``, or an InputError naming the field."""
    if not is_number(value) or not value > low:
        raise InputError(f"{field} must be a number above {low:g}, got {value!r}.", file=path, field=field,
                         fix=f"write a plain number, e.g. {field.rsplit('.', 1)[-1]} = 15.")
    return float(value)


def _share(value, path: Path, field: str) -> float:
    """A share between 0 (exclusive) and 1."""
    share = _number(value, path, field)
    if share > 1:
        raise InputError(f"{field} is a share between 0 and 1, got {value!r}.", file=path, field=field,
                         fix=f"write e.g. {field.rsplit('.', 1)[-1]} = 0.95 for 95%.")
    return share


def _bands(value, path: Path, field: str) -> tuple[tuple[float, float], ...]:
    """Population bands [{min_people, count}, ...] sorted by min_people; the first starts at 0."""
    ok = isinstance(value, list) and value and all(
        isinstance(b, dict) and set(b) == {"min_people", "count"} and is_number(b["min_people"])
        and b["min_people"] >= 0 and is_number(b["count"]) and b["count"] >= 0 for b in value)
    bands = tuple(sorted((float(b["min_people"]), float(b["count"])) for b in value)) if ok else ()
    if not ok or bands[0][0] != 0 or len({b[0] for b in bands}) != len(bands):
        raise InputError(f"{field} must be a list of bands starting at 0 people, got {value!r}.", file=path,
                         field=field, fix="e.g. bands = [{min_people = 0, count = 1}, "
                                          "{min_people = 1000000, count = 2}].")
    return bands


def _names(value, path: Path, field: str, key: str) -> tuple[str, ...]:
    items = (value,) if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
        raise InputError(f"{field} must be a name or a list of names, got {value!r}.", file=path,
                         field=field, fix=f'e.g. {key} = ["a", "b"].')
    if key == "applies_to_zones" and not set(items) <= set(ZONES):
        raise InputError(f"{field} names unknown zone(s) {sorted(set(items) - set(ZONES))}.", file=path,
                         field=field, fix='use "urban" and/or "rural".')
    return tuple(items)


def _fields(table: dict, kind: str, path: Path, prefix: str) -> dict:
    """Rule fields from a TOML table (urban_km/urban_min become ``urban``, tuples for lists), with
    numbers, flags and zone names checked."""
    unit = "km" if kind == "radius" else "min"
    out = {}
    for key, value in table.items():
        field = f"{prefix}.{key}"
        if key in (f"urban_{unit}", f"rural_{unit}"):
            out[key.split("_")[0]] = _number(value, path, field)
        elif key == "min_share" or key in SHARE_KEYS:
            out[key] = _share(value, path, field)
        elif key in NUMBER_KEYS:
            out[key] = _number(value, path, field)
        elif key == "bands":
            out[key] = _bands(value, path, field)
        elif key == "standards":
            out[key] = _standard_ids(value, path, field)
        elif key in TEXT_KEYS and not isinstance(value, str):
            raise InputError(f"{field} must be text in quotes, got {value!r}.", file=path, field=field,
                             fix=f'e.g. {key} = "{getattr(Rule, key, "") or "..."}".')
        elif key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise InputError(f"{field} must be true or false, got {value!r}.", file=path, field=field,
                                 fix=f"write {key} = true or {key} = false.")
            out[key] = value
        elif key in NAME_LIST_KEYS:
            out[key] = _names(value, path, field, key)
        elif key in ("line", "source", "quote", "note", "id", "name_zh", "name_en", "basis_note"):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _validated(rule: Rule, path: Path, prefix: str) -> Rule:
    unit = "km" if rule.kind == "radius" else "min"
    problems = []
    if rule.spatial and rule.urban is None and rule.rural is None:
        problems.append(("urban_" + unit, "sets no threshold", f"set urban_{unit} and/or rural_{unit}."))
    if rule.kind == "radius" and rule.measure not in MEASURE_LABELS:
        problems.append(("measure", f"measure {rule.measure!r} is not a distance",
                         "use network_distance or straight_line."))
    if rule.kind in ("ratio", "share"):
        for key in ("attribute", "of_attribute"):
            value = getattr(rule, key)
            if value and value not in RESOURCE_ATTRIBUTES:
                problems.append((key, f"{key} {value!r} is not read from facilities",
                                 f"use one of {', '.join(RESOURCE_ATTRIBUTES)}."))
    if rule.kind == "ratio" and rule.max_count is not None and rule.max_count < rule.min_count:
        problems.append(("max_count", "max_count is below min_count", "give max_count ≥ min_count."))
    if rule.kind == "share" and rule.max_value is not None and rule.max_value < rule.min_value:
        problems.append(("max_value", "max_value is below min_value", "give max_value ≥ min_value."))
    if rule.kind == "count_per_band" and not rule.bands and not rule.people_per_facility:
        problems.append(("bands", "sets neither bands nor people_per_facility",
                         "give bands = [{min_people = 0, count = 1}, ...] or people_per_facility."))
    if rule.direction not in ("from_facility", "to_facility"):
        problems.append(("direction", f"direction {rule.direction!r}", "use from_facility or to_facility."))
    if rule.basis not in BASES:
        problems.append(("basis", f"basis {rule.basis!r} is neither plan nor assumption",
                         'write basis = "plan" when the plan sets the figure, or basis = "assumption" with a '
                         "basis_note saying why."))
    elif rule.basis == "assumption" and not rule.basis_note.strip():
        problems.append(("basis_note", "is an assumption without a basis_note",
                         "say in basis_note what is assumed and why."))
    if rule.level not in LEVELS or (rule.kind in ("count_per_unit", "per_village") and rule.level != "unit"):
        allowed = "unit" if rule.kind in ("count_per_unit", "per_village") else "region or unit"
        problems.append(("level", f"level {rule.level!r} is not allowed for kind {rule.kind}", f"use {allowed}."))
    if problems:
        key, text, fix = problems[0]
        raise InputError(f"rule '{rule.id}': {text}.", file=path, field=f"{prefix}.{key}", fix=fix)
    return rule


def _rule_from_table(table: dict, path: Path, min_share: float, key_prefix: str = "rules") -> Rule:
    rule_id = str(table.get("id", "?"))
    kind = table.get("kind")
    if kind not in KINDS:
        raise InputError(f"rule '{rule_id}' has unknown kind {kind!r}.", file=path, field=f"{key_prefix}.kind",
                         fix=f"use one of {', '.join(KINDS)}.")
    _check_keys(table, kind, rule_id, path, key_prefix)
    if "basis" not in table:
        raise InputError(f"rule '{rule_id}' does not say whether the plan sets it.", file=path,
                         field=f"{key_prefix}.basis", fix='add basis = "plan" (the plan sets the figure) or '
                                                          'basis = "assumption" with a basis_note.')
    values = {"name_zh": rule_id, "name_en": rule_id, "facility_types": (), "source": "", "line": "",
              "min_share": min_share, "level": DEFAULT_LEVEL.get(kind, "unit"),
              **_fields(table, kind, path, key_prefix)}
    if kind not in ("radius",):
        values["measure"] = "travel_time" if kind in ("travel_time", "mean_time") else kind
    return _validated(Rule(**values), path, key_prefix)


def _override(rule: Rule, changes: dict, path: Path) -> Rule:
    """The rule with a scenario's changes; a changed value is no longer the plan's figure, so the
    rule becomes an assumption saying what was changed (unless the override sets basis itself)."""
    prefix = f"standards.overrides.{rule.id}"
    if "standards" in changes:
        raise InputError(f"rule '{rule.id}': which catalogue standards a rule implements is the profile's to say, "
                         "not a scenario's.", file=path, field=f"{prefix}.standards",
                         fix="remove standards from the overrides (write your own profile to change it).")
    _check_keys(changes, rule.kind, rule.id, path, prefix)
    fields = _fields(changes, rule.kind, path, prefix)
    changed = {k: v for k, v in changes.items() if k not in ("basis", "basis_note", "note", "name_zh", "name_en")}
    if changed and "basis" not in changes:
        said = ", ".join(f"{k} = {v!r}" for k, v in changed.items())
        fields["basis"] = "assumption"
        fields["basis_note"] = (f"changed by the scenario {Path(path).name} ({said}); "
                                f"{rule.basis}{': ' + rule.basis_note if rule.basis_note else ''} before").strip()
    return _validated(replace(rule, **fields), path, prefix)
