"""Standards profiles: one TOML file per jurisdiction in ``scenarios/standards/``.

Each rule carries its source document, line and quote. Rule kinds:

- ``radius``: distance to the nearest facility of the types ≤ ``urban_km``/``rural_km``
  (``measure`` = network_distance or straight_line decides pass/fail; both are reported);
- ``travel_time``: modelled time (turnout + travel for ambulances) ≤ ``urban_min``/``rural_min``;
- ``mean_time``: population-weighted mean modelled time per zone below ``urban_min``/``rural_min``,
  over the people with a modelled time; those without one (cut off) may be at most 1 − ``min_share``;
- ``ratio``: ``sum(attribute)`` of the facilities ≥ ``min_count`` per ``per_people`` residents;
- ``count_per_unit``: at least ``min_count`` facilities in every unit of ``unit_kinds``, and one per
  ``people_per_facility`` residents where that is given (e.g. a CHC per street or per 100,000).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import InputError, is_number

STANDARDS_DIR = Path(__file__).resolve().parent.parent / "scenarios" / "standards"
KINDS = ("radius", "travel_time", "mean_time", "ratio", "count_per_unit")
COMMON_KEYS = {"id", "kind", "name_zh", "name_en", "facility_types", "source", "line", "quote", "note",
               "min_share", "applies_to_zones"}
KIND_KEYS = {
    "radius": {"urban_km", "rural_km", "measure", "direction", "travel_profile"},
    "travel_time": {"urban_min", "rural_min", "direction", "travel_profile", "include_turnout"},
    "mean_time": {"urban_min", "rural_min", "direction", "travel_profile", "include_turnout", "strict"},
    "ratio": {"attribute", "min_count", "per_people"},
    "count_per_unit": {"unit_kinds", "min_count", "people_per_facility"},
}
PROFILE_KEYS = {"id", "name_zh", "name_en", "sources", "min_share", "urban_density_per_km2",
                "max_access_m", "default_turnout_min", "turnout_source", "note"}


@dataclass(frozen=True)
class Rule:
    """One checkable standard, with where it comes from."""

    id: str
    kind: str
    name_zh: str
    name_en: str
    facility_types: tuple[str, ...]
    source: str
    line: str
    quote: str = ""
    note: str = ""
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
    per_people: float = 10000.0
    unit_kinds: tuple[str, ...] = ()
    people_per_facility: float | None = None

    @property
    def spatial(self) -> bool:
        """True for rules checked cell by cell on travel measures."""
        return self.kind in ("radius", "travel_time", "mean_time")

    def threshold(self, zone: str) -> float | None:
        """The zone's limit in metres (radius) or seconds (time rules); None if not set."""
        value = self.urban if zone == "urban" else self.rural
        if value is None or zone not in self.applies_to_zones:
            return None
        return float(value) * (1000.0 if self.kind == "radius" else 60.0)

    def threshold_label(self) -> str:
        unit = "km" if self.kind == "radius" else "min"
        if self.kind == "ratio":
            return f"≥{self.min_count:g} {self.attribute} per {self.per_people:,.0f}"
        if self.kind == "count_per_unit":
            extra = f" or per {self.people_per_facility:,.0f} people" if self.people_per_facility else ""
            return f"≥{self.min_count:g} per {'/'.join(self.unit_kinds) or 'unit'}{extra}"
        parts = [f"{z} {'<' if self.strict else '≤'}{v:g} {unit}" for z, v in
                 (("urban", self.urban), ("rural", self.rural)) if v is not None and z in self.applies_to_zones]
        return ", ".join(parts)


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

    def rule(self, rule_id: str) -> Rule:
        for r in self.rules:
            if r.id == rule_id:
                return r
        raise KeyError(rule_id)


def available_profiles() -> list[str]:
    """Names of the bundled standards profiles."""
    return sorted(p.stem for p in STANDARDS_DIR.glob("*.toml"))


def profile_path(name_or_path: str, base: Path | None = None) -> Path:
    """Path of a profile given by name (bundled) or by file path."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        return candidate if candidate.is_absolute() or base is None else base / candidate
    return STANDARDS_DIR / f"{name_or_path}.toml"


def load_profile(name_or_path: str, base: Path | None = None, overrides: dict | None = None,
                 only: list[str] | None = None, scenario_file: Path | None = None) -> Profile:
    """Load and validate a standards profile; ``overrides`` maps rule id → {key: value}.
    Problems in ``overrides`` or ``only`` are reported against ``scenario_file`` when given."""
    path = profile_path(name_or_path, base)
    if not path.exists():
        raise InputError(f"unknown standards profile '{name_or_path}'.", file=path, field="standards.profile",
                         fix=f"use one of {', '.join(available_profiles())}, or a path to a .toml profile.")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"the profile is not valid TOML ({exc}).", file=path, field="standards.profile",
                         fix="correct the TOML syntax.") from None
    head = data.get("profile", {})
    if not isinstance(head, dict) or not isinstance(data.get("rules", []), list) \
            or not all(isinstance(t, dict) for t in data.get("rules", [])):
        raise InputError("the profile needs a [profile] table and [[rules]] tables.", file=path,
                         field="rules", fix="see scenarios/standards/chongqing.toml for the layout.")
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
    rules = [_rule_from_table(t, path, min_share) for t in data.get("rules", [])]
    ids = [r.id for r in rules]
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
        rules = [r for r in rules if r.id in only]
    return Profile(id=head.get("id", path.stem), name_zh=head.get("name_zh", ""),
                   name_en=head.get("name_en", path.stem), path=path, rules=tuple(rules),
                   sources=tuple(head.get("sources", ())), min_share=min_share,
                   urban_density_per_km2=float(head.get("urban_density_per_km2", 1500.0)),
                   max_access_m=float(head.get("max_access_m", 1000.0)),
                   default_turnout_min=float(head.get("default_turnout_min", 0.0)), note=head.get("note", ""))


def _check_keys(table: dict, kind: str, rule_id: str, path: Path, prefix: str) -> None:
    allowed = COMMON_KEYS | KIND_KEYS[kind]
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(f"rule '{rule_id}' has unknown key(s) {unknown}.", file=path,
                         field=f"{prefix}.{unknown[0]}", fix=f"keys for kind '{kind}' are {sorted(allowed)}.")


NUMBER_KEYS = {"min_count", "per_people", "people_per_facility"}
TEXT_KEYS = {"measure", "direction", "travel_profile", "attribute"}
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


def _fields(table: dict, kind: str, path: Path, prefix: str) -> dict:
    """Rule fields from a TOML table (urban_km/urban_min become ``urban``, tuples for lists), with
    numbers, flags and zone names checked."""
    unit = "km" if kind == "radius" else "min"
    out = {}
    for key, value in table.items():
        field = f"{prefix}.{key}"
        if key in (f"urban_{unit}", f"rural_{unit}"):
            out[key.split("_")[0]] = _number(value, path, field)
        elif key == "min_share":
            out[key] = _share(value, path, field)
        elif key in NUMBER_KEYS:
            out[key] = _number(value, path, field)
        elif key in TEXT_KEYS and not isinstance(value, str):
            raise InputError(f"{field} must be text in quotes, got {value!r}.", file=path, field=field,
                             fix=f'e.g. {key} = "{getattr(Rule, key)}".')
        elif key in BOOL_KEYS:
            if not isinstance(value, bool):
                raise InputError(f"{field} must be true or false, got {value!r}.", file=path, field=field,
                                 fix=f"write {key} = true or {key} = false.")
            out[key] = value
        elif key in ("facility_types", "applies_to_zones", "unit_kinds"):
            items = (value,) if isinstance(value, str) else value
            if not isinstance(items, (list, tuple)) or not all(isinstance(v, str) for v in items):
                raise InputError(f"{field} must be a name or a list of names, got {value!r}.", file=path,
                                 field=field, fix=f'e.g. {key} = ["a", "b"].')
            if key == "applies_to_zones" and not set(items) <= set(ZONES):
                raise InputError(f"{field} names unknown zone(s) {sorted(set(items) - set(ZONES))}.", file=path,
                                 field=field, fix='use "urban" and/or "rural".')
            out[key] = tuple(items)
        elif key in ("line", "source", "quote", "note", "id", "name_zh", "name_en"):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _validated(rule: Rule, path: Path, prefix: str) -> Rule:
    unit = "km" if rule.kind == "radius" else "min"
    if rule.spatial and rule.urban is None and rule.rural is None:
        raise InputError(f"rule '{rule.id}' sets no threshold.", file=path, field=f"{prefix}.urban_{unit}",
                         fix=f"set urban_{unit} and/or rural_{unit}.")
    if rule.kind == "radius" and rule.measure not in ("network_distance", "straight_line"):
        raise InputError(f"rule '{rule.id}': measure {rule.measure!r} is not a distance.", file=path,
                         field=f"{prefix}.measure", fix="use network_distance or straight_line.")
    if rule.kind == "ratio" and rule.attribute != "ambulances":
        raise InputError(f"rule '{rule.id}': attribute {rule.attribute!r} is not read from facilities.", file=path,
                         field=f"{prefix}.attribute", fix='use attribute = "ambulances".')
    if rule.direction not in ("from_facility", "to_facility"):
        raise InputError(f"rule '{rule.id}': direction {rule.direction!r}.", file=path,
                         field=f"{prefix}.direction", fix="use from_facility or to_facility.")
    return rule


def _rule_from_table(table: dict, path: Path, min_share: float, key_prefix: str = "rules") -> Rule:
    rule_id = str(table.get("id", "?"))
    kind = table.get("kind")
    if kind not in KINDS:
        raise InputError(f"rule '{rule_id}' has unknown kind {kind!r}.", file=path, field=f"{key_prefix}.kind",
                         fix=f"use one of {', '.join(KINDS)}.")
    _check_keys(table, kind, rule_id, path, key_prefix)
    values = {"name_zh": rule_id, "name_en": rule_id, "facility_types": (), "source": "", "line": "",
              "min_share": min_share, **_fields(table, kind, path, key_prefix)}
    if kind != "radius":
        values["measure"] = "travel_time" if kind in ("travel_time", "mean_time") else kind
    return _validated(Rule(**values), path, key_prefix)


def _override(rule: Rule, changes: dict, path: Path) -> Rule:
    prefix = f"standards.overrides.{rule.id}"
    _check_keys(changes, rule.kind, rule.id, path, prefix)
    return _validated(replace(rule, **_fields(changes, rule.kind, path, prefix)), path, prefix)
