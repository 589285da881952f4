"""Bad-input cases for the README's catalogue: each test that checks a refused input (exit 2) or a
warning names its case with :func:`refused`, :func:`refused_cli` or :func:`warned`.

The helpers assert the behaviour (an :class:`InputError`, exit code 2 with no traceback, or a
:class:`PlannerWarning`) and, when ``CP_CATALOGUE`` names a file, append the case and its message
to it as one JSON line. ``python tools/bad_input_catalogue.py`` runs the suite that way and writes
the README's catalogue; ``tests/test_catalogue.py`` checks that the README lists every case.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import warnings
from dataclasses import dataclass, field

import pytest

from coverage_planner.errors import InputError, PlannerWarning


@dataclass
class Outcome:
    """What the tool said: the one-paragraph message (for warnings, every warning joined)."""

    message: str = ""
    messages: list[str] = field(default_factory=list)


_PATH = re.compile(r"(/[^\s,;:'\"()\[\]]+)+/")


def _clean(message: str) -> str:
    """Drop temporary folders from file names so the catalogue is the same on every machine."""
    return _PATH.sub("", message)


def record(kind: str, case: str, message: str) -> None:
    target = os.environ.get("CP_CATALOGUE")
    if not target:
        return
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"kind": kind, "case": case, "message": _clean(message),
                             "test": os.environ.get("PYTEST_CURRENT_TEST", "").split(" ")[0]},
                            ensure_ascii=False) + "\n")


@contextlib.contextmanager
def refused(case: str, match: str | None = None):
    """Expect the block to raise :class:`InputError` (the CLI's exit 2); ``match`` is a regex the
    paragraph must contain. Yields an :class:`Outcome` whose ``message`` is the paragraph."""
    out = Outcome()
    with pytest.raises(InputError) as info:
        yield out
    out.message = info.value.paragraph()
    if match:
        assert re.search(match, out.message), f"{match!r} not in: {out.message}"
    record("refused", case, out.message)


def refused_cli(case: str, argv: list[str], match: str | None = None) -> Outcome:
    """Run the CLI; it must exit 2 with one ``error:`` paragraph on stderr and no traceback."""
    from coverage_planner.cli import main

    err, std = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
        try:
            code = main(argv)
        except SystemExit as exc:   # argparse refusals
            code = exc.code
    text = err.getvalue()
    assert code == 2, f"exit {code}, stderr: {text}"
    assert "Traceback" not in text, text
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if "error:" in line), 0)
    message = "\n".join(lines[first:]).strip() or text      # the paragraph (or list of problems)
    if match:
        assert re.search(match, text), f"{match!r} not in: {text}"
    out = Outcome(message=message.replace("error: ", "", 1) if message.startswith("error: ") else message)
    record("refused", case, out.message)
    return out


@contextlib.contextmanager
def warned(case: str, match: str):
    """Expect the block to emit a :class:`PlannerWarning` matching the regex ``match`` (the run goes
    on with exit 0). Yields an :class:`Outcome`; ``messages`` holds every planner warning."""
    out = Outcome()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield out
    out.messages = [str(w.message) for w in caught if issubclass(w.category, PlannerWarning)]
    hits = [m for m in out.messages if re.search(match, m)]
    assert hits, f"no planner warning matching {match!r}; got {out.messages}"
    out.message = hits[0]
    record("warned", case, out.message)
