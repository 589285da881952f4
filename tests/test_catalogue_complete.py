"""The standards catalogue is complete: every id of ../shared/STANDARDS.md is in its profile.

Each bundled profile covers every catalogue id whose seed is one of the profile's sources, as one or
more rules (``standards = [...]`` on the rule) or as exactly one ``[[not_checked]]`` entry, never
both; no profile names an id that does not exist or belongs to another seed. The ids are read from
the master tables of ../shared/STANDARDS.md (rows ``| A01 | 001_....txt | ...``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT
from refusals import refused, warned

from coverage_planner.standards import available_profiles, load_profile

CATALOGUE = ROOT.parent / "shared" / "STANDARDS.md"
ROW = re.compile(r"^\| ([A-Z]\d\d) \| ([^|]*) \|")


def catalogue_seeds(text: str) -> dict[str, set[str]]:
    """Catalogue id → the seed codes (``"001"``) of its row."""
    out = {}
    for line in text.splitlines():
        m = ROW.match(line)
        if m:
            out[m.group(1)] = set(re.findall(r"\b(\d{3})_[0-9a-f]{16}\.txt", m.group(2)))
    return out


def profile_seeds(profile) -> set[str]:
    """The seed codes a profile's ``sources`` name (``"001 重庆市…"`` → ``"001"``)."""
    return {s.split()[0] for s in profile.sources}


def coverage_problems(profile, catalogue: dict[str, set[str]]) -> list[str]:
    """What is missing or wrong in a profile's coverage of the catalogue (empty when complete)."""
    seeds = profile_seeds(profile)
    by_rules = {i for r in profile.rules for i in r.standards}
    listed = Counter(i for n in profile.not_checked for i in n.standards)
    problems = [f"rule {r.id} names no catalogue id" for r in profile.rules
                if not r.standards and r.basis == "plan"]
    problems += [f"not_checked {n.id} names no catalogue id" for n in profile.not_checked if not n.standards]
    problems += [f"{i} is not in the catalogue" for i in sorted((by_rules | set(listed)) - set(catalogue))]
    problems += [f"{i} belongs to seed(s) {sorted(catalogue[i])}, not {sorted(seeds)}"
                 for i in sorted((by_rules | set(listed)) & set(catalogue)) if not catalogue[i] & seeds]
    problems += [f"{i} is listed {k} times as not checked" for i, k in sorted(listed.items()) if k > 1]
    problems += [f"{i} is both a rule and not checked" for i in sorted(by_rules & set(listed))]
    mine = {i for i, s in catalogue.items() if s & seeds}
    problems += [f"{i} is not covered" for i in sorted(mine - by_rules - set(listed))]
    problems += [f"not_checked {n.id} quotes {n.source[:3]}, not a seed of {i}" for n in profile.not_checked
                 for i in n.standards if i in catalogue and n.source[:3] not in catalogue[i]]
    return problems


def _catalogue() -> dict[str, set[str]]:
    if not CATALOGUE.is_file():
        pytest.skip(f"the standards catalogue is not at {CATALOGUE}")
    return catalogue_seeds(CATALOGUE.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", available_profiles())
def test_profile_covers_its_seeds_catalogue(name):
    assert coverage_problems(load_profile(name), _catalogue()) == []


def test_every_catalogue_id_is_in_some_profile():
    """The four profiles together cover all 307 ids of the five seeds."""
    catalogue = _catalogue()
    assert len(catalogue) == 307
    covered = set()
    for name in available_profiles():
        prof = load_profile(name)
        covered |= {i for r in prof.rules for i in r.standards} | {i for n in prof.not_checked for i in n.standards}
    assert covered == set(catalogue)


HEAD = '[profile]\nid = "mine"\nsources = ["001 plan"]\n'
RULE = '\n[[rules]]\nid = "r"\nkind = "ratio"\nlevel = "region"\nbasis = "plan"\nsource = "001_x.txt"\n'
NOTE = '\n[[not_checked]]\nid = "{id}"\nstandards = {ids}\nsource = "{src}"\nline = "1"\nquote = "q"\nwhy = "w"\n'


def _profile(tmp_path: Path, text: str):
    (tmp_path / "mine.toml").write_text(text, encoding="utf-8")
    return load_profile("mine.toml", tmp_path)


def test_coverage_problems_on_a_hand_built_catalogue(tmp_path):
    """A01 and A02 (seed 001), B01 (seed 002): the checker names each gap and each wrong id."""
    catalogue = {"A01": {"001"}, "A02": {"001"}, "A03": {"001"}, "B01": {"002"}}
    text = (HEAD + RULE + 'standards = ["A01"]\n' + NOTE.format(id="n1", ids='["A01", "B01"]', src="001_x.txt")
            + NOTE.format(id="n2", ids='["A02"]', src="001_x.txt") + NOTE.format(id="n3", ids='["A02", "Z99"]',
                                                                                src="002_y.txt"))
    assert coverage_problems(_profile(tmp_path, text), catalogue) == [
        "Z99 is not in the catalogue", "B01 belongs to seed(s) ['002'], not ['001']",
        "A02 is listed 2 times as not checked", "A01 is both a rule and not checked", "A03 is not covered",
        "not_checked n1 quotes 001, not a seed of B01", "not_checked n3 quotes 002, not a seed of A02"]
    complete = HEAD + RULE + 'standards = ["A01", "A02"]\n' + NOTE.format(id="n", ids='["A03"]', src="001_x.txt")
    assert coverage_problems(_profile(tmp_path, complete), catalogue) == []


def test_catalogue_rows_are_parsed():
    text = ("| A01 | 001_03ece8309cda7d16.txt | x | 1 | km |\n| A20 | 000_00274df2a72b100d.txt / "
            "001_03ece8309cda7d16.txt | y |\n| not a row |\n")
    assert catalogue_seeds(text) == {"A01": {"001"}, "A20": {"000", "001"}}


@pytest.mark.parametrize("case, extra, pattern", [
    ("A rule's catalogue id that is not a capital letter and two digits", 'standards = ["F2"]',
     r"rules\[1\]\.standards names 'F2', not an id of the standards catalogue"),
    ("A rule naming one catalogue id twice", 'standards = ["F21", "F21"]',
     r"rules\[1\]\.standards names F21 more than once"),
    ("Catalogue ids given as text, not a list", 'standards = "F21"', r"names 'F21', not an id"),
])
def test_bad_catalogue_ids_are_refused(tmp_path, case, extra, pattern):
    with refused(case, match=pattern):
        _profile(tmp_path, HEAD + RULE + extra + "\n")


def test_bad_not_checked_catalogue_id_is_refused(tmp_path):
    with refused("A not_checked entry with a catalogue id that is not a letter and two digits",
                 match=r"not_checked\[1\]\.standards names 'a01'"):
        _profile(tmp_path, HEAD + NOTE.format(id="n", ids='["a01"]', src="001_x.txt"))


def test_scenario_cannot_change_catalogue_ids(tiny_region):
    from coverage_planner.scenario import load_scenario

    tiny_region.write_text(tiny_region.read_text() + '\n[standards.overrides.ems_radius]\nstandards = ["A03"]\n')
    with refused("A scenario override that changes which catalogue standards a rule implements",
                 match=r"is the profile's to say"):
        load_scenario(tiny_region)


def test_summary_json_names_catalogue_ids(tiny_region):
    """summary.json gives each rule's and each not-checked entry's catalogue ids (Chongqing profile)."""
    from coverage_planner.cli import main

    assert main(["run", str(tiny_region)]) == 0
    data = json.loads((tiny_region.parent / "out" / "summary.json").read_text(encoding="utf-8"))
    rules = {r["id"]: r["standards"] for r in data["rules"]}
    assert rules["ems_radius"] == ["A01", "A02"] and rules["ems_response"] == []
    listed = {n["id"]: n["standards"] for n in data["not_checked"]}
    assert listed["call_answer_dispatch"] == ["A17", "A18"] and listed["S01"] == ["S01"]
    assert rules["doctor_nurse_ratio"] == ["W09", "W14"]


def test_tcm_beds_ratio_with_hospitals_of_unknown_kind():
    """Ganzhou's 0.75 中医类医院 beds per 1,000 (B27) counts hospital;tcm beds only. 10,000 people need
    7.5 beds. TCM 5 beds + a plain hospital of 100 beds: 5 short, but the plain one may be TCM → no
    verdict, with a warning; TCM 8 beds: met whatever the plain one is; TCM 2 beds + plain 3 beds:
    short even if the plain one counts; a plain hospital with no beds value leaves a shortfall open."""
    import pandas as pd

    from coverage_planner.coverage import summarise_counts

    rule = next(r for r in load_profile("ganzhou").rules if r.id == "tcm_beds_per_1000")
    units = pd.DataFrame({"unit_id": ["A"], "name": ["甲镇"], "kind": ["town"], "zone": ["rural"]})
    pop, fac_unit = np.array([10000.0]), np.array([0, 0, 0])

    def verdict(tcm_beds: float, plain_beds: float, general_beds: float = 50.0):
        fac = pd.DataFrame({"facility_id": ["T", "P", "G"], "type": ["hospital;tcm", "hospital", "hospital;general"],
                            "beds": [tcm_beds, plain_beds, general_beds]})
        out = summarise_counts(rule, units, pop, fac, fac_unit).set_index("unit_id")
        return out.loc["ALL", "pass"], out.loc["ALL", "value"], out.loc["ALL", "unspecified"]

    with warned("A ratio of TCM hospital beds where a plain hospital of unknown kind could close the gap",
                match=r"tcm_beds_per_1000 .* 1 facility is of type hospital with no kind \(P\)"):
        assert verdict(5.0, 100.0) == (None, 5.0, 100.0)
    assert verdict(8.0, 100.0) == (True, 8.0, 100.0)
    assert verdict(2.0, 3.0) == (False, 2.0, 3.0)
    assert verdict(7.5, 0.0)[0] is True      # 7.5 / 10,000 × 1,000 = 0.75, inclusive
    with pytest.warns(Warning):
        assert verdict(2.0, np.nan)[0] is None


def test_staffing_ratios_as_shares_of_two_columns():
    """Chongqing's 医护比 ≥ 1:1.3, 床护比 ≥ 1:0.58, 床医比 ≥ 1:0.45 (W09, W14), region-wide. Hospital
    100 beds, 40 doctors, 52 nurses; THC 20 beds, 8 doctors, 10 nurses: 48 doctors / 62 nurses = 0.774
    > 1/1.3 = 0.769 → fails; with 65 nurses 48/65 = 0.738 passes. Nurses/beds 62/120 = 0.517 < 0.58
    fails, 70/120 = 0.583 passes; doctors/beds 48/120 = 0.40 < 0.45 fails, 54/120 = 0.45 passes
    (bounds inclusive: 50 doctors / 65 nurses = 1/1.3 passes)."""
    import pandas as pd

    from coverage_planner.coverage import summarise_counts

    prof = load_profile("chongqing")
    units = pd.DataFrame({"unit_id": ["A"], "name": ["甲镇"], "kind": ["town"], "zone": ["rural"]})

    def verdict(rule_id: str, doctors: tuple[float, float], nurses: tuple[float, float]):
        fac = pd.DataFrame({"facility_id": ["H", "T"], "type": ["hospital", "thc"], "beds": [100.0, 20.0],
                            "doctors": list(doctors), "nurses": list(nurses)})
        out = summarise_counts(prof.rule(rule_id), units, np.array([30000.0]), fac, np.array([0, 0]))
        row = out.set_index("unit_id").loc["ALL"]
        return row["pass"], round(float(row["value"]), 3)

    assert verdict("doctor_nurse_ratio", (40, 8), (52, 10)) == (False, 0.774)
    assert verdict("doctor_nurse_ratio", (40, 8), (55, 10)) == (True, 0.738)
    assert verdict("doctor_nurse_ratio", (40, 10), (55, 10)) == (True, 0.769)   # 50/65 = 1/1.3 exactly
    assert verdict("bed_nurse_ratio", (40, 8), (52, 10)) == (False, 0.517)
    assert verdict("bed_nurse_ratio", (40, 8), (60, 10)) == (True, 0.583)
    assert verdict("bed_doctor_ratio", (40, 8), (52, 10)) == (False, 0.4)
    assert verdict("bed_doctor_ratio", (46, 8), (52, 10)) == (True, 0.45)
