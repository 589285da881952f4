"""The package's structure: every module imports, no import cycles, one home per concern."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from conftest import ROOT

PKG = ROOT / "coverage_planner"

# Function-level imports that close a loop on purpose, each for a convenience entry point:
# Region.from_scenario/from_geodataframes call the library API (region -> api), and the API writes
# siting outputs (api -> siting); subcentres writes its report (subcentres -> subcentre_report).
# A loop through a function-level import never breaks importing; a new one is still reported here.
LAZY_LOOPS = [
    {"coverage_planner.api", "coverage_planner.pipeline", "coverage_planner.region", "coverage_planner.siting"},
    {"coverage_planner.subcentre_report", "coverage_planner.subcentres"},
]


def _modules(root: Path = PKG) -> dict[str, tuple[Path, bool]]:
    """Dotted module name → (file, is a package's __init__)."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_pkg else parts)] = (path, is_pkg)
    return out


def import_graph(module_level_only: bool, root: Path = PKG) -> dict[str, set[str]]:
    """Intra-package imports of each module: those run on import, or (False) those in functions too."""
    mods = _modules(root)
    graph = {}
    for name, (path, is_pkg) in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if is_pkg else name.rsplit(".", 1)[0]
        targets = set()
        for node in (tree.body if module_level_only else ast.walk(tree)):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                targets |= {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names}
            elif isinstance(node, ast.Import):
                targets |= {a.name for a in node.names}
        graph[name] = {t for t in targets if t in mods and t != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[v] = min(low[v], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = set()
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.add(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(comp)
    return found


def test_the_cycle_finder_finds_a_known_cycle(tmp_path):
    pkg = tmp_path / "coverage_planner"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .sub import b\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "b.py").write_text("def f():\n    from ..c import g\n")
    (pkg / "c.py").write_text("from . import a\nfrom .sub.b import f\n")
    (pkg / "d.py").write_text("from .a import x\n")
    assert cycles(import_graph(True, pkg)) == []                  # b imports c only inside a function
    assert cycles(import_graph(False, pkg)) == [{"coverage_planner.a", "coverage_planner.sub.b",
                                                 "coverage_planner.c"}]


def test_no_import_cycle_among_module_level_imports():
    assert cycles(import_graph(module_level_only=True)) == []


def test_no_import_cycle_but_the_known_lazy_ones():
    found = cycles(import_graph(module_level_only=False))
    assert [c for c in found if c not in LAZY_LOOPS] == []
    assert not any({"coverage_planner.maps", "coverage_planner.outputs"} <= c for c in found)


@pytest.mark.parametrize("name", sorted(_modules()))
def test_every_module_imports_on_its_own(name):
    if name.endswith("__main__"):
        pytest.skip("runs the command line")
    assert importlib.import_module(name).__name__ in (name, name.replace("siting_cli", "cli.siting")
                                                      .replace("solver_errors", "optimize.errors")
                                                      .replace("coverage_planner.median", "coverage_planner.optimize.median"))


def test_old_import_paths_still_work():
    from coverage_planner import optimize as opt
    from coverage_planner import outputs, pipeline, region, solver_errors, labels, progress

    assert solver_errors.BadP is opt.BadP is importlib.import_module("coverage_planner.optimize.errors").BadP
    assert importlib.import_module("coverage_planner.median_swap") is opt.median_swap
    assert importlib.import_module("coverage_planner.median_lagrange") is opt.median_lagrange
    assert importlib.import_module("coverage_planner.siting_cli").model_name("P-Median") == "p_median"
    assert pipeline.Region is region.Region and pipeline.Steps is progress.Steps
    assert pipeline._assign_units is region.assign_units
    assert outputs.TYPE_LABELS is labels.TYPE_LABELS and outputs.cell_polygons is labels.cell_polygons
    for name in opt.__all__:
        assert getattr(opt, name) is not None


def test_every_parser_lives_in_the_cli_package():
    """No module outside coverage_planner/cli builds an argparse parser."""
    outside = [p.relative_to(ROOT).as_posix() for p in PKG.rglob("*.py")
               if "cli" not in p.relative_to(PKG).parts[:1] and ("add_parser(" in p.read_text(encoding="utf-8")
                                                               or "ArgumentParser(" in p.read_text(encoding="utf-8"))]
    assert outside == []


def test_siting_and_subcentres_do_not_import_pipeline_for_the_region():
    for name in ("coverage_planner.siting", "coverage_planner.subcentres", "coverage_planner.api"):
        tree = ast.parse((PKG / f"{name.rsplit('.', 1)[1]}.py").read_text(encoding="utf-8"))
        from_pipeline = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module == "pipeline"
                         for a in n.names}
        assert not from_pipeline & {"Region", "Steps", "load_region", "_assign_units", "LayerFrames"}, name
