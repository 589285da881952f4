"""Write the README's standards table from the bundled profiles (coverage_planner/data/standards/*.toml, package data).

One row per rule (id, what it says, value as judged, level, basis, seed and line, and the ids of
../shared/STANDARDS.md it implements) and one per
``[[not_checked]]`` entry, per profile, between ``<!-- standards -->`` and ``<!-- /standards -->``.
Usage: ``python tools/standards_table.py`` (``--check`` exits 1 when the README is not current).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from coverage_planner.standards import LEVEL_KINDS, available_profiles, load_profile  # noqa: E402

START, END = "<!-- standards -->", "<!-- /standards -->"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _seed(source: str, line: str) -> str:
    return f"{source[:3]} L{line.replace(' ', '')}"


def _ids(ids: tuple[str, ...]) -> str:
    return ", ".join(ids) or "–"


def render() -> str:
    """The Markdown tables, one per bundled profile."""
    lines = []
    for name in available_profiles():
        prof = load_profile(name)
        lines += [f"**{prof.name_zh} {prof.name_en}** (`{name}`)", "",
                  "| rule | standard | value (as judged) | level | basis | seed line | catalogue ids |",
                  "|---|---|---|---|---|---|---|"]
        for r in prof.rules:
            level = r.level if r.kind in LEVEL_KINDS else "zone"
            basis = r.basis if r.basis == "plan" else f"assumption: {r.basis_note}"
            lines.append(f"| `{r.id}` | {_cell(r.name_zh)} {_cell(r.name_en)} | {_cell(r.threshold_label())} | {level} "
                         f"| {_cell(basis)} | {_seed(r.source, r.line)} | {_ids(r.standards)} |")
        for n in prof.not_checked:
            lines.append(f"| `{n.id}` | {_cell(n.name_en)} | not checked: {_cell(n.why)} | – | plan "
                         f"| {_seed(n.source, n.line)} | {_ids(n.standards)} |")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def updated(text: str) -> str:
    """The README text with the block between the markers replaced by :func:`render`."""
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}\n{render()}{END}{tail}"


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        print(f"README.md lacks the markers {START} … {END}", file=sys.stderr)
        return 1
    new = updated(text)
    if "--check" in argv:
        return 0 if new == text else 1
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
