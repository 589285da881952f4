"""One way to check a table of settings: the scenario's own sections, ``[siting]`` and ``[subcentres]``.

Each table is declared as a list of :class:`Field` (key, what the value must be, default, fix);
:func:`check_table` checks a table against it and returns the values with every problem found, each
an :class:`InputError` naming the file and ``section.key``. A key the table does not declare is
refused with the list of the keys it does (a typo never passes silently). A field may hold a table of
its own (``[subcentres.weights]``), checked the same way.
"""

from __future__ import annotations

import copy
import difflib
import math
from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import InputError, is_number


@dataclass(frozen=True)
class Field:
    """One setting of a table.

    Attributes
    ----------
    key : str
        The key as written in the TOML table.
    ok : callable or None
        True when the (prepared) value is acceptable; None accepts anything (checked elsewhere).
    need : str
        What the value must be, completing "``section.key`` must be ...".
    fix : str
        The fix, e.g. ``"e.g. spacing_m = 1000."``.
    default : object
        The value when the key is absent.
    about : str
        What the key is for, shown in the list of known keys.
    prepare : callable or None
        Applied to the value before it is checked (e.g. ``"p-median"`` → ``"p_median"``).
    convert : callable or None
        Applied to an accepted value (e.g. ``float``).
    extra : callable or None
        A second check on an accepted value: ``(problem, fix)`` or None.
    table : sequence of Field or None
        The value is a table of its own, with these keys (``ok`` is then not used).
    """

    key: str
    ok: Callable[[object], bool] | None
    need: str = ""
    fix: str = ""
    default: object = None
    about: str = ""
    prepare: Callable[[object], object] | None = None
    convert: Callable[[object], object] | None = None
    extra: Callable[[object], tuple[str, str] | None] | None = None
    table: Sequence[Field] | None = None


# ------------------------------------------------------------------------------ value predicates

def finite(value: object) -> bool:
    """A TOML number (not a boolean), finite."""
    return is_number(value) and math.isfinite(value)


def positive(value: object) -> bool:
    """A finite number above 0."""
    return finite(value) and value > 0


def at_least(low: float) -> Callable[[object], bool]:
    """A finite number ≥ ``low``."""
    return lambda value: finite(value) and value >= low


def between(low: float, high: float, *, low_open: bool = False, high_open: bool = False) -> Callable[[object], bool]:
    """A finite number from ``low`` to ``high`` (``low_open``/``high_open``: that end excluded)."""
    def ok(value: object) -> bool:
        return finite(value) and (value > low if low_open else value >= low) and \
            (value < high if high_open else value <= high)
    return ok


def whole(low: int) -> Callable[[object], bool]:
    """An integer (not a boolean) ≥ ``low``."""
    return lambda value: isinstance(value, int) and not isinstance(value, bool) and value >= low


def boolean(value: object) -> bool:
    """true or false."""
    return isinstance(value, bool)


def text(value: object) -> bool:
    """A string."""
    return isinstance(value, str)


def nonempty_text(value: object) -> bool:
    """A string that is not empty."""
    return isinstance(value, str) and value != ""


def one_of(choices: Sequence[object]) -> Callable[[object], bool]:
    """One of ``choices``."""
    return lambda value: isinstance(value, str) and value in choices


def list_of(item: Callable[[object], bool], *, nonempty: bool = False) -> Callable[[object], bool]:
    """A list whose every item passes ``item`` (and, with ``nonempty``, at least one item)."""
    return lambda value: isinstance(value, list) and (bool(value) or not nonempty) and all(item(v) for v in value)


def text_table(value: object) -> bool:
    """A table whose values are strings (e.g. ``[facilities.columns]``)."""
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def listed_twice(values: list) -> list:
    """The values that occur more than once, sorted (by their text)."""
    return sorted({v for v in values if values.count(v) > 1}, key=str)


# --------------------------------------------------------------------------------------- checking

def known_keys(fields: Sequence[Field]) -> str:
    """The keys of a table for messages: "a (what a is); b (...)" when they say what they are for."""
    if all(f.about for f in fields):
        return "; ".join(f"{f.key} ({f.about})" for f in fields)
    return ", ".join(sorted(f.key for f in fields))


def closest(word: object, known: Sequence[str]) -> str:
    """" (did you mean 'x'?)" naming the known word closest to ``word`` (difflib), or "" when none is close."""
    match = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def unknown_keys(table: dict, fields: Sequence[Field], section: str, file: object) -> list[InputError]:
    """An InputError for every key of ``table`` that ``fields`` do not declare, in sorted order; each
    names the closest declared key when one is close (a typo)."""
    known = [f.key for f in fields]
    return [InputError(f"unknown key '{k}' in [{section}]{closest(k, known)}.", file=file, field=f"{section}.{k}",
                       fix=f"keys of [{section}] are {known_keys(fields)}.")
            for k in sorted((k for k in table if k not in known), key=str)]


def unused_keys(table: dict, keys: Sequence[str], *, when: str, section: str, file: object,
                fix: str) -> list[InputError]:
    """An InputError for every key of ``keys`` given in ``table`` although it is not used ``when``
    (e.g. ``candidates_path`` when ``candidates = "network"``): a setting that changes nothing is
    refused rather than silently ignored.

    Parameters
    ----------
    table : dict
        The table as written.
    keys : sequence of str
        The keys that are not used in this case.
    when : str
        The case, completing "... is not used when ...", e.g. ``'candidates = "network"'``.
    section, file : str, path
        For the messages.
    fix : str
        The fix, e.g. ``'set candidates = "both" to use it, or remove the key.'``.
    """
    return [InputError(f"{section}.{k} is given but not used when {when}.", file=file, field=f"{section}.{k}",
                       fix=fix) for k in keys if k in table]


def check_table(table: dict, fields: Sequence[Field], *, section: str, file: object,
                where: Callable[[str], str] | None = None,
                skip: Sequence[str] = ()) -> tuple[dict, list[InputError]]:
    """Check ``table`` against ``fields``; every problem is returned, none raised.

    Parameters
    ----------
    table : dict
        The TOML table as read (merged with command-line values where a command has them).
    fields : sequence of Field
        Its declared keys, in the order their problems are reported.
    section : str
        The table's name, e.g. ``"siting"`` or ``"subcentres.weights"``.
    file : path or None
        The file named in the messages.
    where : callable, optional
        The field named in a message for a key (default ``"section.key"``), e.g. a command-line option.
    skip : sequence of str
        Keys not checked now (their value is kept as given).

    Returns
    -------
    (dict, list of InputError)
        Every declared key's value (prepared and converted; the default where absent or refused)
        and the problems: unknown keys first, then the fields in their declared order.
    """
    errors = unknown_keys(table, fields, section, file)
    values: dict = {}
    for f in fields:
        name = where(f.key) if where else f"{section}.{f.key}"
        if f.key not in table:
            values[f.key] = copy.deepcopy(f.default)    # a list or table default is the caller's own
            continue
        value = f.prepare(table[f.key]) if f.prepare else table[f.key]
        if f.key in skip:
            values[f.key] = value
            continue
        if f.table is not None:
            if isinstance(value, dict):
                sub, problems = check_table(value, f.table, section=f"{section}.{f.key}", file=file)
                values[f.key] = {k: v for k, v in sub.items() if k in value}
                errors += problems
                continue
            ok = False
        else:
            ok = f.ok is None or f.ok(value)
        if not ok:
            label = f.key if name.startswith("--") else f"{section}.{f.key}"
            errors.append(InputError(f"{label} = {value!r}, but {label} must be {f.need}.", file=file,
                                     field=name, fix=f.fix))
            values[f.key] = copy.deepcopy(f.default)
            continue
        found = f.extra(value) if f.extra else None
        if found:
            errors.append(InputError(found[0], file=file, field=name, fix=found[1]))
            values[f.key] = copy.deepcopy(f.default)
            continue
        values[f.key] = f.convert(value) if f.convert else value
    return values, errors
