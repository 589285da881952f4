"""Write the README's bad-input catalogue from the tests.

Runs the test suite with ``CP_CATALOGUE`` set, so that every case checked with
``tests/refusals.py`` (:func:`refused`, :func:`refused_cli`, :func:`warned`) records its message, and
replaces the README's block between ``<!-- bad-inputs -->`` and ``<!-- /bad-inputs -->`` with a table
of them. Usage: ``python tools/bad_input_catalogue.py [pytest args]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- bad-inputs -->", "<!-- /bad-inputs -->"


def render(rows: list[dict]) -> str:
    """The Markdown table: one row per case, refusals first, in the order of the test files."""
    seen, lines = set(), []
    for kind, title in (("refused", "Refused (exit 2, nothing written)"), ("warned", "Warned (exit 0, the result stands)")):
        lines += [f"**{title}**", "", "| input | message |", "|---|---|"]
        for row in sorted((r for r in rows if r["kind"] == kind), key=lambda r: (r["test"].split("::")[0], r["case"])):
            if (kind, row["case"]) in seen:
                continue
            seen.add((kind, row["case"]))
            msg = " ".join(row["message"].split()).replace("|", "\\|")
            lines.append(f"| {row['case']} | {msg} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "catalogue.jsonl"
        target.touch()
        env = dict(os.environ, CP_CATALOGUE=str(target))
        code = subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                "--deselect", "tests/test_catalogue.py::test_readme_catalogue_lists_every_tested_case",
                                *argv],
                               cwd=ROOT, env=env)
        if code != 0:
            print("tests failed: README not changed", file=sys.stderr)
            return code
        rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines() if line]
    sys.path.insert(0, str(ROOT / "tests"))
    from test_catalogue import _cases_in_tests   # every case named in the tests, run here or not

    recorded = {(r["kind"], r["case"]) for r in rows}
    rows += [{"kind": kind, "case": case, "test": "~", "message": "(not run on this machine: the test was skipped)"}
             for kind, case in sorted(_cases_in_tests() - recorded)]
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{render(rows)}{END}{tail}", encoding="utf-8")
    print(f"{len(rows)} cases written to README.md")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
