"""Outcome codes: what people type, and which outcome each code counts as."""
import pandas as pd
import pytest

from helpers.inputs.outcomes import classify, normalise_outcome_code

DEFINITIONS = {
    "attrition": {"codes": ["14", "16"]},
    "charge": {"codes": ["1"]},
    "positive_outcome": {"codes": ["1", "2", "3", "4", "5", "6", "8", "9", "10", "22"]},
}
# Expected classification of every outcome type in the Home Office framework (domain brief).
EXPECTED = {code: (code in (14, 16), code == 1, code in (1, 2, 3, 4, 5, 6, 8, 9, 10, 22)) for code in range(1, 23)}


@pytest.mark.parametrize("code", range(1, 23))
def test_every_code_is_classified(code):
    frame = classify(pd.Series([str(code)]), DEFINITIONS)
    assert tuple(bool(frame.loc[0, name]) for name in DEFINITIONS) == EXPECTED[code]


@pytest.mark.parametrize("typed, canonical", [
    ("14", "14"), ("OC14", "14"), ("oc 16", "16"), ("Outcome 16", "16"), ("outcome code 15", "15"),
    (" 14 ", "14"), ("14.0", "14"), ("1A", "1A"), ("1a", "1A"), ("OC-18", "18"), ("22", "22"), (14, "14"),
])
def test_typed_codes_are_normalised(typed, canonical):
    assert normalise_outcome_code(typed) == (canonical, None)


@pytest.mark.parametrize("typed", ["0", "23", "99", "14Z", "abc", "OC", "1.5"])
def test_unknown_codes_are_refused_with_a_reason(typed):
    code, problem = normalise_outcome_code(typed)
    assert code is None
    assert "not a Home Office outcome code" in problem and f"'{typed}'" not in problem


@pytest.mark.parametrize("blank", ["", "   ", None])
def test_blank_code_is_an_open_investigation(blank):
    assert normalise_outcome_code(blank) == (None, None)


def test_variant_counts_as_its_number():
    frame = classify(pd.Series(["1A"]), DEFINITIONS)
    assert frame.loc[0, "charge"] == 1 and frame.loc[0, "positive_outcome"] == 1


def test_open_investigation_is_missing_in_every_outcome():
    frame = classify(pd.Series([None, "14"]), DEFINITIONS)
    assert frame.loc[0].isna().all()
    assert frame.loc[1].tolist() == [1, 0, 0]
