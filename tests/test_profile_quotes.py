"""Every quote of every bundled standards profile is the plan's own words.

Each quote of a rule or ``[[not_checked]]`` entry, split at "…", must appear verbatim in its seed
file (../shared/seeds), and in the line(s) the profile names (``line = "34, 487"`` or ``"285-287"``;
the lines of a range are joined with their line breaks and surrounding spaces removed, as
STANDARDS.md quotes PDF-extracted seeds).
"""

from __future__ import annotations

import re

import pytest
from conftest import ROOT

from coverage_planner.standards import LEVEL_KINDS, available_profiles, load_profile

SEEDS = ROOT.parent / "shared" / "seeds"


def line_groups(line: str) -> list[tuple[int, int]]:
    """``"34, 487"`` → [(34, 34), (487, 487)]; ``"131-135"`` → [(131, 135)]."""
    groups = []
    for item in re.split(r"[,，]\s*", line.strip()):
        a, _, b = re.sub(r"[–—]", "-", item).partition("-")
        groups.append((int(a), int(b or a)))
    return groups


def quote_parts(quote: str) -> list[str]:
    return [p for p in quote.split("…") if p.strip()]


def entries():
    for name in available_profiles():
        prof = load_profile(name)
        for rule in prof.rules:
            yield pytest.param(rule.source, rule.line, rule.quote, id=f"{name}:{rule.id}")
        for item in prof.not_checked:
            yield pytest.param(item.source, item.line, item.quote, id=f"{name}:not_checked:{item.id}")


def test_line_groups_and_parts():
    assert line_groups("34, 487") == [(34, 34), (487, 487)]
    assert line_groups("131-135, 433") == [(131, 135), (433, 433)]
    assert quote_parts("a……b…c") == ["a", "b", "c"]


@pytest.mark.parametrize("source, line, quote", list(entries()))
def test_quote_is_verbatim_at_its_line(source, line, quote):
    if not SEEDS.is_dir():
        pytest.skip(f"seed texts not found at {SEEDS}")
    lines = (SEEDS / source).read_text(encoding="utf-8").splitlines()
    whole = "".join(s.strip() for s in lines)
    stated = ["".join(s.strip() for s in lines[a - 1:b]) for a, b in line_groups(line)]
    assert quote_parts(quote), "empty quote"
    for part in quote_parts(quote):
        assert part in whole, f"not verbatim in {source}: {part!r}"
        assert any(part in text for text in stated), f"not in line(s) {line} of {source}: {part!r}"


@pytest.mark.parametrize("name", available_profiles())
def test_every_bundled_rule_states_basis_and_level(name):
    """basis is plan or assumption (with a note); ratio and count rules name their level in the file."""
    import tomllib

    from coverage_planner.standards import STANDARDS_DIR

    raw = tomllib.loads((STANDARDS_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    for table in raw["rules"]:
        assert table["basis"] in ("plan", "assumption"), table["id"]
        if table["basis"] == "assumption":
            assert table["basis_note"].strip(), table["id"]
        if table["kind"] in LEVEL_KINDS:
            assert table.get("level") in ("region", "unit"), table["id"]


def test_chongqing_response_time_is_an_assumption():
    rule = load_profile("chongqing").rule("ems_response")
    assert rule.basis == "assumption" and "No Chongqing plan" in rule.basis_note


def test_readme_standards_table_is_current():
    """The README's standards table is the one tools/standards_table.py writes from the profiles."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("standards_table", ROOT / "tools" / "standards_table.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert tool.START in text and tool.END in text
    assert tool.updated(text) == text, "run python tools/standards_table.py"
    assert "`ems_response`" in text and "assumption: No Chongqing plan" in text
