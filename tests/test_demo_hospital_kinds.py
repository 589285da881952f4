"""Kinds of hospital (issue 8): the plans' county hospital rule counts 综合医院 (000 L285–287, 002 L122,
003 L289), so TCM (中医院) and maternal-child (妇幼保健院) hospitals must not count, and a hospital of
unknown kind leaves the verdict open where it could change it.

Hand-built units and facilities; every expected figure is worked out in the test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from refusals import warned

from coverage_planner.facility_types import has_role, resolve_types, unspecified_kind
from coverage_planner.rule_kinds import summarise_counts
from coverage_planner.standards import load_profile

UNITS = pd.DataFrame({"unit_id": ["A", "B"], "name": ["甲街道", "乙镇"], "kind": ["street", "town"],
                      "zone": ["urban", "rural"]})
POP = np.array([300_000.0, 200_000.0])          # 500,000 people: one county general hospital needed


def _count(profile: str, types: list[str]) -> pd.DataFrame:
    """The profile's county_general_hospital rule on facilities of the given (written) types, all in A."""
    rule = load_profile(profile).rule("county_general_hospital")
    resolved = resolve_types(pd.Series(types), None, rule.facility_types)
    fac = pd.DataFrame({"facility_id": [f"H{i + 1}" for i in range(len(types))], "type": resolved})
    return summarise_counts(rule, UNITS, POP, fac, np.zeros(len(types), dtype=int))


def _region(frame: pd.DataFrame) -> pd.Series:
    return frame[frame["unit_id"] == "ALL"].iloc[0]


def test_hospital_words_resolve_to_their_kind():
    words = pd.Series(["综合医院", "县人民医院", "中医院", "中西医结合医院", "妇幼保健院", "医院", "hospital;general",
                       "General hospital", "TCM hospital", "人民医院、急救站", "县一院"])
    got = resolve_types(words, {"县一院": "general"}, ())
    assert got.tolist() == ["hospital;general", "hospital;general", "hospital;tcm", "hospital;tcm", "hospital;mch",
                            "hospital", "hospital;general", "hospital;general", "hospital;tcm",
                            "hospital;general;ems", "hospital;general"]
    # every kind is still a hospital for the rules that count all hospitals (beds, service circle)
    assert has_role(got, ["hospital"]).all()
    assert has_role(got, ["general"]).tolist() == [True, True, False, False, False, False, True, True, False,
                                                   True, True]
    assert unspecified_kind(got, ["general"]).tolist() == [False] * 5 + [True] + [False] * 5
    assert not unspecified_kind(got, ["hospital"]).any()          # a rule on all hospitals: nothing unknown


@pytest.mark.parametrize("profile", ["chongqing", "ganzhou", "zhejiang"])
def test_tcm_and_mch_hospitals_are_not_a_county_general_hospital(profile):
    """A county with a TCM and an MCH hospital but no general hospital: 0 of 1, FAIL (counted 2 before)."""
    out = _region(_count(profile, ["中医院", "妇幼保健院"]))
    assert out["value"] == 0 and out["required"] == 1 and out["pass"] is False
    assert "unspecified" not in out.index


def test_one_general_hospital_passes_beside_tcm():
    out = _region(_count("chongqing", ["县人民医院", "中医院", "妇幼保健院"]))
    assert out["value"] == 1 and out["pass"] is True


def test_plain_hospital_with_a_general_one_passes_without_warning(recwarn):
    out = _region(_count("chongqing", ["综合医院", "医院"]))
    assert out["value"] == 1 and out["unspecified"] == 1 and out["pass"] is True
    assert not [w for w in recwarn if "no kind" in str(w.message)]


def test_plain_hospitals_alone_leave_the_verdict_open():
    """Two hospitals of unknown kind: 0 known general hospitals, but 0 + 2 ≥ 1 could pass, so no verdict."""
    with warned("Hospitals without their kind (综合/中医/妇幼) for the county general hospital rule",
                match=r"county_general_hospital .*2 facilities are of type hospital with no kind \(H1, H2\).*"
                      r"综合医院 \(hospital;general\)"):
        out = _region(_count("chongqing", ["医院", "hospital"]))
    assert out["value"] == 0 and out["unspecified"] == 2 and out["pass"] is None


def test_unit_level_count_with_a_plain_hospital_per_unit():
    """At unit level (a kind of rule a scenario may write): unit A has a general hospital (pass), unit B
    only a plain one (open), so the region verdict is open too."""
    rule = load_profile("chongqing").rule("county_general_hospital")
    from dataclasses import replace
    rule = replace(rule, level="unit")
    fac = pd.DataFrame({"facility_id": ["H1", "H2"], "type": ["hospital;general", "hospital"]})
    with warned("Hospitals without their kind in a unit-level count", match=r"1 facility is of type hospital"):
        out = summarise_counts(rule, UNITS, POP, fac, np.array([0, 1]))
    assert out.set_index("unit_id")["pass"].to_dict() == {"A": True, "B": None, "ALL": None}


@pytest.mark.parametrize("profile, rule_id, types, value, ok", [
    ("ganzhou", "county_tcm_hospital", ["综合医院", "中医院"], 1, True),       # 003 L289
    ("ganzhou", "county_tcm_hospital", ["综合医院", "妇幼保健院"], 0, False),
    ("ganzhou", "county_mch_hospital", ["综合医院", "妇幼保健院"], 1, True),
    ("zhejiang", "county_tcm_hospital", ["中西医结合医院"], 1, True),          # 002 L122
    ("zhejiang", "county_tcm_hospital", ["人民医院"], 0, False),
    ("chongqing", "county_mch", ["妇幼保健计划生育服务中心"], 1, True),         # 001 L613
    ("chongqing", "county_mch", ["中医院"], 0, False),
    ("chongqing", "ems_centre_per_county", ["人民医院"], 0, False),            # 001 L487
    ("chongqing", "ems_centre_per_county", ["人民医院、急救站"], 1, True),
])
def test_county_hospitals_of_each_kind(profile, rule_id, types, value, ok):
    """The plans' other county-level counts, now that hospitals carry their kind: one county TCM and
    one MCH hospital (Ganzhou, Zhejiang), an MCH institution and an EMS centre per district (Chongqing)."""
    rule = load_profile(profile).rule(rule_id)
    resolved = resolve_types(pd.Series(types), None, rule.facility_types)
    fac = pd.DataFrame({"facility_id": [f"H{i + 1}" for i in range(len(types))], "type": resolved})
    out = _region(summarise_counts(rule, UNITS, POP, fac, np.zeros(len(types), dtype=int)))
    assert out["value"] == value and out["required"] == 1 and out["pass"] is ok
