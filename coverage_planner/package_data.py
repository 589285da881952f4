"""Files shipped inside the package (``coverage_planner/data/``), found with :mod:`importlib.resources`.

The standards profiles (``data/standards/*.toml``), the demo scenario (``data/demo.toml``) and the demo
region's files (``data/demo/``) travel with the wheel, so an installed package finds them wherever it
lives; nothing is read from a source checkout's ``scenarios/`` or ``geodata/`` folders.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

__all__ = ["DATA_PACKAGE", "data_root", "demo_scenario", "standards_root"]

DATA_PACKAGE = "coverage_planner"
DATA_FOLDER = "data"


def data_root() -> Traversable:
    """The package's ``data`` folder (a :class:`pathlib.Path` when the package is installed as files).

    Returns
    -------
    importlib.resources.abc.Traversable
    """
    return resources.files(DATA_PACKAGE) / DATA_FOLDER


def standards_root() -> Traversable:
    """The folder of the bundled standards profiles (``data/standards``).

    Returns
    -------
    importlib.resources.abc.Traversable
    """
    return data_root() / "standards"


def _copy_tree(source: Traversable, target: Path) -> None:
    """Copy a resource folder to the file system (for packages imported from a zip file)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in source.iterdir():
        if entry.is_dir():
            _copy_tree(entry, target / entry.name)
        else:
            (target / entry.name).write_bytes(entry.read_bytes())


@contextmanager
def demo_scenario() -> Iterator[Path]:
    """The shipped demo scenario as a file on disk, its data files beside it (``demo/``).

    The data folder is used in place when the package is installed as files; otherwise (a zipped
    package) it is copied to a temporary folder for as long as the context lasts.

    Yields
    ------
    Path
        ``demo.toml``, whose layer paths are relative to its own folder.
    """
    root = data_root()
    if isinstance(root, Path):
        yield root / "demo.toml"
        return
    tmp = Path(tempfile.mkdtemp(prefix="coverage-planner-demo-"))
    try:
        (tmp / "demo.toml").write_bytes((root / "demo.toml").read_bytes())
        _copy_tree(root / "demo", tmp / "demo")
        yield tmp / "demo.toml"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
