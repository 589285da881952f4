"""Facility types and roles: the words planners write in a facility list, and which rules they serve.

A facility list's ``type`` column holds words such as 乡镇卫生院, 急救站, ``hospital`` or ``THC``.
:func:`resolve_types` turns each into the type ids the standards profiles use (``hospital``, ``ems``,
``thc``, ``chc``, ``chs``, ``village_clinic``, ``clinic``; hospitals may add their kind, ``general``,
``tcm`` or ``mch``), through the scenario's
``[facilities.types]`` table first and the built-in :data:`VOCABULARY` second. A facility may have
several roles, written with ``;``, ``、``, ``,``, ``/`` or ``|`` between them (``hospital;ems``: a
hospital that is also an ambulance base); the resolved type keeps them as ``"hospital;ems"``. Every
place that selects facilities for a rule asks :func:`has_role`, never compares the text.

A word that neither table knows stops the run: guessing would silently drop facilities or count them
in the wrong rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from .errors import InputError, warn

ROLE_SEPARATOR = ";"
_SPLIT = re.compile(r"[;、,/|]")          # after NFKC: ；→;  ，→,  ／→/  ｜→|

TYPE_IDS = ("hospital", "ems", "thc", "chc", "chs", "village_clinic", "clinic")
# Kinds of hospital, written as a second role: ``hospital;general`` (综合医院), ``hospital;tcm``
# (中医院 and 中西医结合/民族医院), ``hospital;mch`` (妇幼保健院). A plain ``hospital`` has no known kind.
SUBTYPES: dict[str, tuple[str, ...]] = {"hospital": ("general", "tcm", "mch")}
SUBTYPE_IDS = tuple(t for kinds in SUBTYPES.values() for t in kinds)

_WORDS: dict[str, tuple[str, ...]] = {
    "hospital": ("hospital", "医院", "县级医院", "公立医院", "区县级医院"),
    "hospital;general": (
        "general", "general hospital", "county hospital", "综合医院", "综合性医院", "人民医院", "县医院", "县人民医院",
        "区人民医院", "市人民医院", "中心医院", "县办综合医院", "区县级综合医院"),
    "hospital;tcm": ("tcm", "tcm hospital", "中医院", "中医医院", "中西医结合医院", "民族医院", "民族医医院"),
    "hospital;mch": ("mch", "mch hospital", "maternal and child health hospital", "妇幼保健院", "妇幼保健计划生育服务中心"),
    "ems": (
        "ems", "ambulance", "ambulance station", "ems station", "emergency centre", "emergency center",
        "急救中心", "急救站", "120急救分站", "急救分站", "院前急救站", "120急救站", "120急救中心", "120急救",
        "急救分中心", "120", "院前急救", "急救"),
    "thc": (
        "thc", "township health centre", "township health center", "township hospital",
        "乡镇卫生院", "中心卫生院", "卫生院", "乡卫生院", "镇卫生院", "乡镇中心卫生院", "中心乡镇卫生院"),
    "chc": (
        "chc", "community health centre", "community health center",
        "社区卫生服务中心", "社区卫生中心", "社区医院"),
    "chs": ("chs", "community health station", "社区卫生服务站", "社区卫生站"),
    "village_clinic": ("village clinic", "村卫生室", "卫生室", "村卫生站", "村卫生所"),
    "clinic": ("clinic", "doctors", "诊所", "门诊部", "综合门诊部", "门诊", "医务室", "卫生所"),
}

# Substrings that suggest a type for an unknown word (only in the fix text, never applied).
_HINTS = (("急救", "ems"), ("社区卫生服务中心", "chc"), ("服务站", "chs"), ("卫生院", "thc"),
          ("卫生室", "village_clinic"), ("医院", "hospital"), ("门诊", "clinic"), ("诊所", "clinic"),
          ("hospital", "hospital"), ("clinic", "clinic"), ("ambulance", "ems"))


def normalise_word(text: object) -> str:
    """A type word in one spelling: full-width forms folded (NFKC), lower case, spaces, hyphens and
    underscores between words as one ``_``, no spaces around the text."""
    folded = unicodedata.normalize("NFKC", str(text)).strip().lower()
    return re.sub(r"[\s\-_]+", "_", folded)


VOCABULARY: dict[str, str] = {normalise_word(w): tid for tid, words in _WORDS.items() for w in words}


def split_roles(text: object) -> list[str]:
    """The roles written in one cell (``"医院、急救站"`` → ``["医院", "急救站"]``), normalised, empties dropped."""
    folded = unicodedata.normalize("NFKC", str(text))
    return [normalise_word(p) for p in _SPLIT.split(folded) if p.strip()]


def has_role(types: pd.Series | Sequence[str] | np.ndarray, wanted: Iterable[str]) -> np.ndarray:
    """Which facilities have at least one of the ``wanted`` roles.

    Parameters
    ----------
    types : Series or sequence of str
        Resolved facility types, several roles joined by ``;`` (``"hospital;ems"``).
    wanted : iterable of str
        Type ids a rule looks for.

    Returns
    -------
    numpy.ndarray of bool, one per facility.
    """
    wanted = set(wanted)
    codes, uniques = pd.factorize(pd.Series(np.asarray(types, dtype=object)), use_na_sentinel=True)
    hit = np.array([bool(wanted.intersection(str(u).split(ROLE_SEPARATOR))) for u in uniques] + [False])
    return hit[codes]                     # code -1 (missing) takes the trailing False


def unspecified_kind(types: pd.Series | Sequence[str] | np.ndarray, wanted: Iterable[str]) -> np.ndarray:
    """Facilities that may or may not be of the ``wanted`` kinds: a rule looks for a kind of a type
    (``general``: a kind of ``hospital``) and the facility has the type but no kind at all.

    Parameters
    ----------
    types : Series or sequence of str
        Resolved facility types (``"hospital"``, ``"hospital;tcm"``, ...).
    wanted : iterable of str
        Type ids a rule looks for.

    Returns
    -------
    numpy.ndarray of bool, one per facility; all False when ``wanted`` names no kind.
    """
    wanted = set(wanted)
    out = np.zeros(len(types), dtype=bool)
    for parent, kinds in SUBTYPES.items():
        if wanted & set(kinds) and parent not in wanted:
            out |= has_role(types, [parent]) & ~has_role(types, kinds)
    return out


def roles_present(types: pd.Series | Sequence[str]) -> list[str]:
    """The distinct roles among the facilities, sorted."""
    return sorted({r for t in pd.unique(pd.Series(types, dtype=object).dropna()) for r in str(t).split(ROLE_SEPARATOR)})


def _lookup(word: str, user: dict[str, str], known: set[str]) -> str | None:
    """One role word: the user's table first, then the vocabulary, then a profile type id as written."""
    if word in user:
        return user[word]
    if word in VOCABULARY:
        return VOCABULARY[word]
    return word if word in known else None


def _resolve_one(raw: str, user: dict[str, str], known: set[str]) -> tuple[str | None, list[str]]:
    """The resolved type of one cell value, and the words in it nobody knows."""
    key = normalise_word(raw)
    if key in user:                                 # the whole cell mapped by the user
        parts = [user[key]]
    else:
        parts = []
        unknown = []
        for word in split_roles(raw):
            found = _lookup(word, user, known)
            (parts if found is not None else unknown).append(found if found is not None else word)
        if unknown or not parts:
            return None, unknown
    roles = []
    for target in parts:                            # a target may itself name several roles
        for word in split_roles(target):            # and a word several (综合医院 → hospital;general)
            for role in VOCABULARY.get(word, word).split(ROLE_SEPARATOR):
                if role not in roles:
                    roles.append(role)
    return ROLE_SEPARATOR.join(roles) if roles else None, []


def suggest(word: str) -> str | None:
    """A likely type id for an unknown word (for the fix text only)."""
    return next((tid for hint, tid in _HINTS if hint in word), None)


def resolve_types(values: pd.Series, type_map: dict[str, str] | None, known: Iterable[str],
                  file: object = None, rows: Sequence[str] | None = None, field: str = "type") -> np.ndarray:
    """Facility types as the profile's type ids, several roles joined by ``;``.

    Parameters
    ----------
    values : Series
        The type column as read (text; missing cells are NaN or empty).
    type_map : dict
        The scenario's ``[facilities.types]``: a user word (or a whole cell) → type id(s). It wins over
        the built-in vocabulary.
    known : iterable of str
        Type ids used by the profile's rules; written as they are, they need no mapping.
    file, rows, field
        For the error message: the file, a label per facility (``"line 7"``), the type column.

    Returns
    -------
    numpy.ndarray of str, one resolved type per facility.

    Raises
    ------
    InputError
        Listing every unknown word with its count, the rows, and the ``[facilities.types]`` line that
        would map it; or naming the rows without a type.
    """
    user = {normalise_word(k): str(v) for k, v in (type_map or {}).items()}
    known = set(known) | set(TYPE_IDS) | set(SUBTYPE_IDS) | {r for v in user.values() for r in split_roles(v)}
    text = values.astype("string").fillna("").str.strip()
    rows = list(rows) if rows is not None else [f"row {i + 1}" for i in range(len(values))]
    empty = np.flatnonzero((text == "").to_numpy())
    if len(empty):
        raise InputError(f"{len(empty)} facilit{'y has' if len(empty) == 1 else 'ies have'} no type "
                         f"({_listing([rows[i] for i in empty])}).", file=file, field=field,
                         fix="give every facility a type (e.g. 乡镇卫生院, 急救站, hospital;ems), or remove those rows.")
    codes, uniques = pd.factorize(text)
    resolved, unknown = [], {}
    for raw in uniques:
        value, words = _resolve_one(str(raw), user, known)
        resolved.append(value)
        for word in words:
            unknown.setdefault(word, []).append(str(raw))
    if unknown:
        raise _unknown_error(unknown, text, rows, file, field, known)
    return np.asarray(resolved, dtype=object)[codes]


def _listing(labels: Sequence[str], most: int = 5) -> str:
    head = ", ".join(labels[:most])
    return head + (f" and {len(labels) - most} more" if len(labels) > most else "")


def _unknown_error(unknown: dict[str, list[str]], text: pd.Series, rows: Sequence[str], file: object,
                   field: str, known: set[str]) -> InputError:
    """One error listing each unknown word, how many facilities use it, where, and a mapping line."""
    words = sorted(unknown)
    parts, lines = [], []
    cells = text.to_numpy()
    for word in words:
        where = np.flatnonzero(np.isin(cells, unknown[word]))
        parts.append(f'"{word}" ({len(where)} facilit{"y" if len(where) == 1 else "ies"}: '
                     f"{_listing([rows[i] for i in where], 3)})")
        lines.append(f'"{word}" = "{suggest(word) or "TYPE"}"')
    ids = ", ".join(sorted(known & set(TYPE_IDS)) + sorted(known - set(TYPE_IDS)))
    return InputError(
        f"{len(words)} facility type{'s are' if len(words) > 1 else ' is'} not known: {'; '.join(parts)}.",
        file=file, field=field,
        fix=f"map each under [facilities.types] in the scenario: {'; '.join(lines)} (TYPE one of {ids}; "
            f'several roles as "hospital;ems"), or correct the type in the file.')


def warn_unmatched_rule(rule_id: str, wanted: Sequence[str], types: pd.Series) -> bool:
    """Warn when no facility has any of the types a rule looks for (the rule would show 0%).

    Returns True when it warned.
    """
    if has_role(types, wanted).any() or unspecified_kind(types, wanted).any():
        return False                      # hospitals of unknown kind: the rule itself warns
    present = ", ".join(roles_present(types)) or "none"
    warn(f"rule '{rule_id}' looks for facilities of type {', '.join(wanted)}, but no facility has that type "
         f"(the types present are: {present}); its coverage is 0. Check the type column, or map your words "
         "under [facilities.types] in the scenario.")
    return True


__all__ = ["ROLE_SEPARATOR", "SUBTYPES", "SUBTYPE_IDS", "TYPE_IDS", "VOCABULARY", "has_role", "normalise_word",
           "resolve_types", "roles_present", "split_roles", "suggest", "unspecified_kind", "warn_unmatched_rule"]
