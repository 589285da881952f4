"""The command line's own inputs: output folders checked before any work, --minutes, --models,
siting errors mapped to the setting to change, Ctrl-C during a solve, and what the terminal shows."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from refusals import refused_cli

from coverage_planner import optimize as opt
from coverage_planner.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _no_loading(monkeypatch):
    """Fail the test if any layer is loaded: the command must stop before any work."""
    import coverage_planner.pipeline as pipeline
    import coverage_planner.siting as siting
    import coverage_planner.subcentres as subcentres

    def boom(*args, **kwargs):
        pytest.fail("layers were loaded before the output folder was checked")

    for module in (pipeline, siting, subcentres):
        monkeypatch.setattr(module, "load_region", boom)


def _hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*tmp*"))


# ------------------------------------------------------------------------------ output folder

@pytest.mark.parametrize("command, case", [
    ("run", "run --out names an existing file"), ("isochrones", "isochrones --out names an existing file"),
    ("site", "site --out names an existing file"), ("subcentres", "subcentres --out names an existing file"),
])
def test_out_is_a_file_refused_before_any_work(tiny_region, monkeypatch, command, case):
    target = tiny_region.parent / "report.txt"
    target.write_text("not a folder")
    _no_loading(monkeypatch)
    refused_cli(case, [command, str(tiny_region), "--out", str(target)],
                match=r"--out.*report\.txt is a file, not a folder.*Fix: choose another output folder")
    assert target.read_text() == "not a folder" and not _hidden_leftovers(tiny_region.parent)


def test_out_under_a_file_refused_before_any_work(tiny_region, monkeypatch):
    """A path whose parent is a file cannot be made, for root too (root ignores permissions)."""
    blocker = tiny_region.parent / "blocker"
    blocker.write_text("")
    _no_loading(monkeypatch)
    refused_cli("--out lies under a file", ["run", str(tiny_region), "--out", str(blocker / "out")],
                match=r"blocker/out cannot be made: .*blocker is a file")


def test_scenario_outputs_dir_under_a_file_names_the_scenario(tiny_region, monkeypatch):
    (tiny_region.parent / "out").write_text("")   # the scenario's [outputs] dir = "out" is a file
    _no_loading(monkeypatch)
    out = refused_cli("[outputs] dir names an existing file", ["run", str(tiny_region), "--quiet"],
                      match=r"scenario\.toml.*outputs\.dir.*is a file")
    assert "--out" in out.message  # the fix names both ways to choose a folder


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the parent-is-a-file "
                                               "case covers root")
def test_read_only_out_refused_before_any_work(tiny_region, monkeypatch):
    folder = tiny_region.parent / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        _no_loading(monkeypatch)
        refused_cli("--out in a read-only folder", ["run", str(tiny_region), "--out", str(folder / "out")],
                    match=r"cannot be written: Permission denied")
    finally:
        folder.chmod(0o700)


def test_failed_move_leaves_no_temp_folder_and_no_outputs(tiny_region, monkeypatch):
    """A rename that fails at the end (another file system, a full disk) is an InputError, and the
    temporary folder with the finished files is removed."""
    import coverage_planner.outputs as outputs

    def cross_device(tmp, target):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(outputs, "_move_into", cross_device)
    out = tiny_region.parent / "cross"
    refused_cli("Outputs that cannot be moved into place", ["run", str(tiny_region), "--out", str(out), "--quiet"],
                match=r"could not be written into .*cross: Invalid cross-device link")
    assert not out.exists() and not _hidden_leftovers(tiny_region.parent)


def test_temp_folder_inside_an_existing_target(tiny_region, monkeypatch):
    """An existing output folder (maybe a mount point) gets its temporary folder inside itself, so the
    final renames never cross file systems; other commands' files there are kept."""
    import coverage_planner.outputs as outputs

    out = tiny_region.parent / "existing"
    out.mkdir()
    (out / "siting.html").write_text("kept")
    seen = []
    real = outputs.os.replace
    monkeypatch.setattr(outputs.os, "replace", lambda a, b: (seen.append((Path(a), Path(b))), real(a, b))[1])
    assert main(["run", str(tiny_region), "--out", str(out), "--quiet"]) == 0
    into = [(a, b) for a, b in seen if b.parent == out]
    assert into and all(a.parent.parent == out for a, b in into), seen
    assert (out / "siting.html").read_text() == "kept" and (out / "summary.json").exists()
    assert not _hidden_leftovers(tiny_region.parent)


def test_demo_regenerate_checks_its_folder(tmp_path, monkeypatch):
    import coverage_planner.generators.demo as demo

    monkeypatch.setattr(demo, "build_region", lambda: pytest.fail("the region was built"))
    (tmp_path / "f").write_text("")
    refused_cli("demo --regenerate --out lies under a file", ["demo", "--regenerate", "--out", str(tmp_path / "f" / "d")],
                match=r"cannot be made")


# ------------------------------------------------------------------------------ --minutes

@pytest.mark.parametrize("minutes, case, scenario_case", [
    (["0", "-5"], "isochrones --minutes 0 -5", "isochrone_minutes = [0, -5] in the scenario"),
    (["inf"], "isochrones --minutes inf", "isochrone_minutes = [inf] in the scenario"),
    (["nan"], "isochrones --minutes nan", "isochrone_minutes = [nan] in the scenario"),
])
def test_isochrone_minutes_follow_the_scenario_rule(tiny_region, monkeypatch, minutes, case, scenario_case):
    _no_loading(monkeypatch)
    out = refused_cli(case, ["isochrones", str(tiny_region), "--minutes",
                                                                     *minutes], match=r"--minutes")
    assert "isochrone minutes must be positive numbers" in out.message
    # the same values in the scenario give the same words
    text = tiny_region.read_text().replace("isochrone_minutes = [5, 10]",
                                           f"isochrone_minutes = [{', '.join(minutes)}]")
    tiny_region.write_text(text)
    same = refused_cli(scenario_case, ["run", str(tiny_region)],
                       match=r"outputs\.isochrone_minutes")
    assert "isochrone minutes must be positive numbers" in same.message


# ------------------------------------------------------------------------------ --models

def test_models_hyphen_or_underscore_and_only_those(siting_region, monkeypatch):
    import pandas as pd

    import coverage_planner.siting as siting

    ran = []
    real = siting.solve_models
    monkeypatch.setattr(siting, "solve_models", lambda prob, s, models, steps: (ran.append(list(models)),
                                                                                real(prob, s, models, steps))[1])
    assert main(["site", str(siting_region), "--quiet", "-p", "3", "--models", "p-median"]) == 0
    assert main(["site", str(siting_region), "--quiet", "-p", "3", "--models", "P_Center", "mclp"]) == 0
    assert ran == [["p_median"], ["p_center", "mclp"]]
    models = pd.read_csv(siting_region.parent / "out" / "siting_models.csv")
    assert list(models["model"]) == ["p_center", "mclp"]
    proposed = (siting_region.parent / "out" / "tiny_proposed.toml").read_text(encoding="utf-8")
    assert "p_center sites" in proposed   # the first model asked for is applied


def test_apply_not_among_models(siting_region, monkeypatch):
    siting_region.write_text(siting_region.read_text() + 'apply = "lscp"\n')
    _no_loading(monkeypatch)
    refused_cli("[siting] apply names a model that --models leaves out",
                ["site", str(siting_region), "--quiet", "--models", "mclp"],
                match=r"siting\.apply.*apply = 'lscp' but only mclp is solved.*Fix: add lscp to --models")


# ------------------------------------------------------------------------------ siting errors

@pytest.mark.parametrize("kind, args, case, pattern", [
    ("SolverTimeLimit", ("p-median", "p-median: no feasible solution found within the time limit.", 30),
     "A model that finds no solution within the time limit", r"siting\.time_limit_s.*30 s.*Fix: raise time_limit_s"),
    ("InfeasibleModel", ("p-center", "p-center has no solution: with p=1 new sites"),
     "A p-model with no solution for this p", r"siting\.p.*no solution.*Fix: raise p \(now 1\)"),
    ("SolverFailure", ("HiGHS", "HiGHS stopped: Solve error."),
     "The solver stops with an error", r"the solver failed: HiGHS stopped.*Fix: leave this model out"),
])
def test_solver_errors_name_the_setting(siting_region, monkeypatch, kind, args, case, pattern):
    """Each typed optimiser error becomes one message naming the setting to change (no traceback)."""
    def fails(*a, **k):
        raise getattr(opt, kind)(*args)

    monkeypatch.setattr(opt, "p_median", fails)
    monkeypatch.setattr(opt, "p_center", fails)
    refused_cli(case, ["site", str(siting_region), "--quiet", "--models", "p-median", "p-center"], match=pattern)


def test_too_large_p_names_p_and_the_room(siting_region):
    refused_cli("p larger than the free candidate sites", ["site", str(siting_region), "--quiet", "--models",
                                                           "mclp", "-p", "99"],
                match=r"siting\.p.*p=99 new sites requested but only 14 free.*Fix: choose p between 1 and 14")


def test_a_message_with_p_in_it_is_not_blamed_on_p(siting_region, monkeypatch):
    """The old mapping searched the message for the letter 'p' (it is in 'people', 'pairs' ...)."""
    monkeypatch.setattr(opt, "mclp", lambda *a, **k: (_ for _ in ()).throw(
        opt.SolverTimeLimit("MCLP", "MCLP: no feasible solution found within the time limit for these people.", 30)))
    out = refused_cli("A time limit whose message mentions people", ["site", str(siting_region), "--quiet",
                                                                     "--models", "mclp"], match=r"time_limit_s")
    assert "siting.p'" not in out.message


def test_typed_errors_keep_their_old_bases():
    assert issubclass(opt.InfeasibleModel, ValueError) and issubclass(opt.BadP, ValueError)
    assert issubclass(opt.SolverTimeLimit, RuntimeError) and issubclass(opt.SolverFailure, RuntimeError)
    with pytest.raises(opt.BadP) as info:
        opt.mclp(np.eye(3), np.ones(3), 5)
    assert info.value.room == 3 and info.value.p == 5
    with pytest.raises(opt.InfeasibleModel):
        opt.p_median(sp.csr_matrix(np.eye(3)), np.ones(3), 1)   # every cell has its own only site


def test_p_center_reports_uncoverable_people_not_cells():
    """Two rows without any pair (5 and 7 people) and one of weight 0: 12 people, 2 cells."""
    cost = sp.csr_matrix(np.array([[1.0, 4.0], [3.0, 1.0], [0, 0], [0, 0], [2.0, 9.0]]))
    cost.eliminate_zeros()
    w = np.array([10.0, 20.0, 5.0, 7.0, 0.0])
    s = opt.p_center(cost, 1, weights=w)
    assert list(s.uncoverable_rows) == [2, 3] and s.uncoverable_weight == 12
    assert "2 cells (12 people)" in s.message
    assert s.objective == 3.0    # site 0: rows 0 and 1 at 1 and 3; row 4 (nobody) does not count
    assert opt.p_center(cost, 1).objective == 3.0 and opt.p_center(cost, 1).uncoverable_weight == 2


def test_p_center_people_in_the_site_table(siting_region):
    import pandas as pd

    from coverage_planner.standards import profile_path

    # the island is 350-650 m from the grid: with max_access_m = 300 its people stay cut off
    own = siting_region.parent / "profile_300m.toml"
    own.write_text(profile_path("chongqing").read_text(encoding="utf-8").replace(
        "max_access_m = 1000", "max_access_m = 300"), encoding="utf-8")
    siting_region.write_text(siting_region.read_text().replace('profile = "chongqing"', 'profile = "profile_300m.toml"'))
    assert main(["site", str(siting_region), "--quiet", "-p", "3", "--models", "p_center"]) == 0
    models = pd.read_csv(siting_region.parent / "out" / "siting_models.csv").set_index("model")
    assert models.loc["p_center", "uncoverable_people"] == pytest.approx(480)   # the cut-off island


# ------------------------------------------------------------------------------ time limit and Ctrl-C

def _hard_covering(seed: int = 3, rows: int = 3000, cols: int = 600, density: float = 0.012):
    """A random set-covering instance: a hard MIP with no structure to exploit (no merging helps)."""
    rng = np.random.default_rng(seed)
    C = sp.random(rows, cols, density=density, random_state=rng, format="csr")
    C.data[:] = 1
    return C


def test_time_limit_kept_within_ten_percent():
    C = _hard_covering()
    w = np.ones(C.shape[0])
    for call in (lambda: opt.lscp(C, time_limit=3), lambda: opt.mclp(C, w, 40, time_limit=3)):
        t = time.perf_counter()
        s = call()
        took = time.perf_counter() - t
        assert s.status == "time_limit" and took <= 3.3, (s.status, took)


SOLVE = textwrap.dedent("""
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    import coverage_planner.siting_units as siting_units
    from coverage_planner import optimize as opt
    from coverage_planner.cli import main
    from test_cli_inputs import _hard_covering

    def long_solve(*args, **kwargs):
        C = _hard_covering()
        print("solving", flush=True)
        opt.lscp(C, time_limit=120)
        return 0

    siting_units.run_units_file = long_solve     # what `site` calls
    sys.exit(main(["site", "any.toml"]))
""")


def test_ctrl_c_stops_a_solve_within_two_seconds(tmp_path):
    script = tmp_path / "solve.py"
    script.write_text(SOLVE.format(root=str(ROOT), tests=str(ROOT / "tests")))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "solving"
        time.sleep(1.5)           # HiGHS is inside its C search by now
        assert proc.poll() is None
        t = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
        took = time.perf_counter() - t
    finally:
        proc.kill()
    assert proc.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
    assert took <= 2.0, took


# ------------------------------------------------------------------------------ terminal

def test_terminal_warning_once_no_source_locations_no_failing_units_on_pass(tiny_region, capsys):
    assert main(["run", str(tiny_region)]) == 0
    out, err = capsys.readouterr()
    both = out + err
    assert both.count("road network is not connected") == 1, both
    assert "Loading roads" in err and not re.search(r"\w+\.py:\d+", err), err
    rows = [line for line in out.splitlines() if "PASS" in line]
    assert rows and all(not re.search(r"(西街道|东镇)", line) for line in rows), out


def test_failing_units_still_listed_on_fail_rows(tiny_region, capsys):
    assert main(["run", str(tiny_region)]) == 0
    out = capsys.readouterr().out
    assert any("FAIL" in line and "东镇" in line for line in out.splitlines()), out

