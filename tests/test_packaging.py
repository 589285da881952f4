"""The package installs anywhere: what it reads ships as package data, its declared dependencies are
exactly what it imports, and a wheel installed outside the checkout runs ``demo`` and ``run``.

The wheel test builds the wheel the way a user does (``pip wheel``, with the build backend from the
configured package index), installs it into a fresh virtual environment in a temporary folder and
runs the console script there, with the working directory outside the checkout. The dependencies are
not downloaded again: installing ~70 wheels (rasterio and pyogrio with GDAL, pyrosm, osmnx, ...) takes
minutes, so the fresh environment sees this test environment's site-packages through a ``.pth`` file,
with every trace of the checkout's own (editable) coverage_planner left out. The package itself comes
only from the wheel (asserted), and ``pip check`` verifies the wheel's declared requirements against
those dependencies.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "coverage_planner"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
# the tests' own modules (helpers and test files that import each other) and the package itself
LOCAL_TEST_MODULES = {p.stem for p in (ROOT / "tests").glob("*.py")} | {"coverage_planner"}
# Declared but never imported, with the reason: used through another library.
INDIRECT = {"openpyxl": ("coverage_planner/tableio.py", 'engine="openpyxl"')}   # pandas.read_excel's engine


def _norm(name: str) -> str:
    """A distribution name in its canonical form (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings (``numpy>=1.26`` → ``numpy``)."""
    return {_norm(re.match(r"[A-Za-z0-9._-]+", r).group(0)) for r in requirements}


def _top_level_imports(folder: Path) -> set[str]:
    """Top-level names of absolute imports in every .py file under ``folder``, less the standard library."""
    names = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names}


def _distributions(import_names: set[str]) -> set[str]:
    """The installed distributions that provide the import names (``yaml`` → ``pyyaml``)."""
    providers = packages_distributions()
    missing = sorted(n for n in import_names if n not in providers)
    assert not missing, f"imported but not installed: {missing}"
    return {_norm(d) for n in import_names for d in providers[n]}


def test_runtime_dependencies_are_exactly_the_imports():
    """Every third-party import of the package is declared, and every declared one is imported."""
    declared = _requirement_names(PYPROJECT["project"]["dependencies"])
    optional = _requirement_names(PYPROJECT["project"]["optional-dependencies"]["scale"])   # --dask only
    imported = _distributions(_top_level_imports(PACKAGE) - {"coverage_planner"})
    assert declared - set(INDIRECT) == imported - optional, (
        f"declared but not imported: {sorted(declared - set(INDIRECT) - imported)}; "
        f"imported but not declared: {sorted(imported - declared - optional)}")
    assert not optional & declared, "the scale extra repeats a runtime dependency"
    for name, (path, usage) in INDIRECT.items():
        assert name in declared and usage in (ROOT / path).read_text(encoding="utf-8"), name


def test_test_extra_covers_what_the_tests_import():
    """A test-only import is declared in the ``test`` extra, not in the runtime dependencies."""
    runtime = _requirement_names(PYPROJECT["project"]["dependencies"])
    test_extra = _requirement_names(PYPROJECT["project"]["optional-dependencies"]["test"])
    imported = _distributions(_top_level_imports(ROOT / "tests") - LOCAL_TEST_MODULES)
    assert imported - runtime <= test_extra, f"undeclared test imports: {sorted(imported - runtime - test_extra)}"
    assert not test_extra & runtime, "a test extra repeats a runtime dependency"
    assert "scale" in PYPROJECT["project"]["optional-dependencies"]   # dask, for the partitioned runs


def test_profiles_and_demo_come_from_package_data():
    """Profiles and the demo are read through importlib.resources from the package's data folder."""
    from coverage_planner import available_profiles, load_profile
    from coverage_planner.package_data import data_root, standards_root

    assert available_profiles() == ["chongqing", "ganzhou", "leshan-shizhong", "zhejiang"]
    assert Path(str(standards_root())) == PACKAGE / "data" / "standards"
    assert load_profile("chongqing").path == PACKAGE / "data" / "standards" / "chongqing.toml"
    shipped = (data_root() / "demo.toml").read_text(encoding="utf-8")
    checkout = (ROOT / "scenarios" / "demo.toml").read_text(encoding="utf-8")
    # the checkout's scenario is the shipped one with its paths pointing into the package
    assert checkout.split("\n\n", 1)[1] == shipped.replace('"demo/', '"../coverage_planner/data/demo/')


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The project's wheel, built with pip from a copy of the sources (the checkout stays clean)."""
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "pyproject.toml", "README.md",
                            "coverage_planner"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in files.split():
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            (src / name).write_bytes((ROOT / name).read_bytes())
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(work / "dist")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (built,) = (work / "dist").glob("coverage_planner-*.whl")
    return built


def test_wheel_ships_every_package_file(wheel):
    """The wheel holds every tracked file under coverage_planner/ (modules, profiles, demo data, static, py.typed)."""
    tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "coverage_planner"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout.split()
    shipped = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(n for n in tracked if n not in shipped and (ROOT / n).is_file())
    assert not missing, f"not in the wheel: {missing}"
    assert {"coverage_planner/py.typed", "coverage_planner/data/demo.toml",
            "coverage_planner/data/standards/chongqing.toml", "coverage_planner/data/demo/roads.osm"} <= shipped


def _fresh_venv(where: Path) -> Path:
    """A virtual environment without pip whose dependencies are this environment's, minus coverage_planner."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True, timeout=120)
    deps = where / "deps"
    deps.mkdir()
    site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    for entry in site.iterdir():
        if entry.name.startswith(("coverage_planner", "__editable__", "_distutils_hack")) or entry.suffix == ".pth":
            continue
        (deps / entry.name).symlink_to(entry)
    (site_new,) = where.glob("lib/python*/site-packages")
    (site_new / "zz_dependencies.pth").write_text(f"{deps}\n", encoding="utf-8")
    return where / "bin" / "python"


def test_installed_wheel_runs_demo_and_a_copied_scenario(wheel, tmp_path):
    """Installed from the wheel, outside the checkout: demo and run give the checkout's example outputs."""
    python = _fresh_venv(tmp_path / "venv")
    pip = [sys.executable, "-m", "pip", "--python", str(python)]
    done = subprocess.run([*pip, "install", "--no-deps", "--no-index", "-q", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    check = subprocess.run([*pip, "check"], capture_output=True, text=True, timeout=300)
    assert check.returncode == 0, check.stdout + check.stderr
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    code = ("import json, importlib.resources as r, coverage_planner as cp; print(json.dumps("
            "[cp.__file__, cp.available_profiles(), str(r.files('coverage_planner') / 'data')]))")
    probe = subprocess.run([str(python), "-c", code],
                           cwd=work, env=env, capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr[-3000:]
    module_file, profiles, data = json.loads(probe.stdout)
    assert Path(module_file).is_relative_to(tmp_path / "venv") and not Path(data).is_relative_to(ROOT)
    assert profiles == ["chongqing", "ganzhou", "leshan-shizhong", "zhejiang"]

    script = tmp_path / "venv" / "bin" / "coverage-planner"
    demo = subprocess.run([str(script), "demo", "--out", "demo-out", "--quiet"], cwd=work,
                          env={**env, "PYTHONPROFILEIMPORTTIME": "1"}, capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "coverage_planner.generators" not in demo.stderr          # the generator is off the runtime path
    for name in ("summary.csv", "summary.json"):
        assert (work / "demo-out" / name).read_bytes() == (ROOT / "maps" / "example" / name).read_bytes(), name

    copied = work / "mine"
    copied.mkdir()
    (copied / "demo").mkdir()
    for entry in (Path(data) / "demo").iterdir():
        (copied / "demo" / entry.name).write_bytes(entry.read_bytes())
    (copied / "region.toml").write_bytes((Path(data) / "demo.toml").read_bytes())
    run = subprocess.run([str(script), "run", "mine/region.toml", "--out", "run-out", "--quiet", "--no-isochrones"],
                         cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    for name in ("summary.csv", "summary.json"):
        assert (work / "run-out" / name).read_bytes() == (work / "demo-out" / name).read_bytes(), name
    assert sorted(p.name for p in (work / "run-out").iterdir()) == ["cells.gpkg", "coverage.html", "stations.csv",
                                                                    "summary.csv", "summary.json"]


def test_profiles_and_demo_data_read_from_a_zipped_package(wheel, tmp_path):
    """Imported straight from the wheel (a zip file), profiles load and the demo's files reach the disk."""
    code = ("import json, sys; sys.path.insert(0, sys.argv[1]); import coverage_planner as cp; "
            "from coverage_planner.package_data import demo_scenario\n"
            "with demo_scenario() as scn:\n"
            "    files = sorted(p.name for p in (scn.parent / 'demo').iterdir()); text = scn.read_text('utf-8')\n"
            "print(json.dumps([cp.__file__, cp.available_profiles(), cp.load_profile('zhejiang').id, files, text, "
            "scn.exists()]))")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    done = subprocess.run([sys.executable, "-c", code, str(wheel)], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    module_file, profiles, zhejiang, files, text, still_there = json.loads(done.stdout)
    assert module_file.startswith(str(wheel))
    assert profiles == ["chongqing", "ganzhou", "leshan-shizhong", "zhejiang"] and zhejiang == "zhejiang"
    assert files == sorted(p.name for p in (PACKAGE / "data" / "demo").iterdir())
    assert text == (PACKAGE / "data" / "demo.toml").read_text(encoding="utf-8")
    assert not still_there        # the temporary copy is removed when the context ends
