"""The README's bad-input catalogue lists exactly the cases the tests check (tools/bad_input_catalogue.py
writes it from the tests' own messages)."""

from __future__ import annotations

import ast
import re

from conftest import ROOT

HELPERS = {"refused": "refused", "refused_cli": "refused", "warned": "warned"}


def _parametrized(func: ast.FunctionDef) -> dict[str, list]:
    """The values each parameter of a test takes in its @pytest.mark.parametrize decorators."""
    values: dict[str, list] = {}
    for deco in func.decorator_list:
        if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "parametrize" and len(deco.args) >= 2:
            names = [n.strip() for n in ast.literal_eval(deco.args[0]).split(",")] \
                if isinstance(deco.args[0], ast.Constant) else []
            rows = deco.args[1].elts if isinstance(deco.args[1], (ast.List, ast.Tuple)) else []
            for row in rows:
                items = row.elts if isinstance(row, ast.Tuple) and len(names) > 1 else [row]
                for name, item in zip(names, items):
                    if isinstance(item, ast.Constant):
                        values.setdefault(name, []).append(item.value)
    return values


def _case_values(arg: ast.expr, params: dict[str, list]) -> list[str]:
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.Name):
        return [v for v in params.get(arg.id, []) if isinstance(v, str)]
    return []


def _cases_in_tests() -> set[tuple[str, str]]:
    """Cases named in the tests: the first argument of refused/refused_cli/warned, or a ``case=``
    keyword of any call (a literal, or a parameter of the test whose parametrized values count)."""
    found = set()
    for path in sorted((ROOT / "tests").glob("test_*.py")):
        for func in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(func, ast.FunctionDef):
                continue
            params = _parametrized(func)
            for node in ast.walk(func):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in HELPERS and node.args:
                    found |= {(HELPERS[name], v) for v in _case_values(node.args[0], params)}
                for kw in node.keywords:
                    if kw.arg == "case":
                        found |= {(HELPERS.get(name, "refused"), v) for v in _case_values(kw.value, params)}
    return found


def _cases_in_readme() -> set[tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- bad-inputs -->", 1)[1].split("<!-- /bad-inputs -->", 1)[0]
    found, kind = set(), None
    for line in block.splitlines():
        if line.startswith("**Refused"):
            kind = "refused"
        elif line.startswith("**Warned"):
            kind = "warned"
        elif (m := re.match(r"\| (.+?) \| ", line)) and m.group(1) not in ("input", "---"):
            found.add((kind, m.group(1)))
    return found


def test_readme_catalogue_lists_every_tested_case():
    in_tests, in_readme = _cases_in_tests(), _cases_in_readme()
    assert in_tests, "no bad-input cases found in the tests"
    missing, stale = in_tests - in_readme, in_readme - in_tests
    assert not missing and not stale, (
        f"run `python tools/bad_input_catalogue.py`: missing from README {sorted(missing)}, "
        f"no longer tested {sorted(stale)}")
