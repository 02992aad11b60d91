"""The parameters file is validated by its schema: every slip refused with the key, the value and what is allowed."""
from __future__ import annotations

import pytest

from helpers import config
from helpers.errors import InputError
from helpers.parameters import load_parameters

SHIPPED = config.PARAMETERS_FILE.read_text(encoding="utf-8")


def _load(tmp_path, old, new):
    assert old in SHIPPED
    path = tmp_path / "run.yml"
    path.write_text(SHIPPED.replace(old, new), encoding="utf-8")
    return load_parameters(path)


@pytest.mark.parametrize(("old", "new", "message"), [
    ("confidence_level: 0.95", "confidence_level: high", "parameter 'confidence_level' is 'high'"),
    ("confidence_level: 0.95", 'confidence_level: "0.95"', "parameter 'confidence_level' is '0.95'"),
    ("seed: 20230601", "seed: abc", "parameter 'seed' is 'abc'"),
    ("seed: 20230601", "seed: -1", "parameter 'seed' is -1: Input should be greater than or equal to 0"),
    ('codes: ["14", "16"]', "codes: 14, 16", "must be a list of outcome codes"),
    ('codes: ["14", "16"]', 'codes: ["99"]', "'99' is not a Home Office outcome code"),
    ("disclosure_threshold: 5", "disclosure_threshold: yes", "parameter 'disclosure_threshold' is True"),
    ("disclosure_threshold: 5", "disclosure_threshold: 4.9", "parameter 'disclosure_threshold' is 4.9"),
    ("disclosure_threshold: 5", "disclosure_threshold: 2", "greater than or equal to 3"),
    ("seed: 20230601", "seed: 20230601\nsede: 1", "parameter 'sede' is not a known parameter"),
    ("target_power: 0.80", "target_power: 1", "parameter 'target_power' is 1"),
    ("outcomes:\n", "outcomes: [attrition]\nunused:\n", "parameter 'outcomes'"),
    ("population: mps_2021_22", "population: nowhere", "population 'nowhere' (parameter 'population') is not in"),
    # money and time: finite and positive (an unsuccessful attempt may take no time)
    ("hourly_cost_constable: 45", "hourly_cost_constable: .inf", "parameter 'economics.hourly_cost_constable' is "
                                                                  "inf: Input should be a finite number"),
    ("hourly_cost_pcso: 30", "hourly_cost_pcso: 0", "parameter 'economics.hourly_cost_pcso' is 0: Input should be "
                                                    "greater than 0"),
    ("minutes_per_visit: 75", "minutes_per_visit: .nan", "parameter 'economics.minutes_per_visit' is nan"),
    ("minutes_per_unsuccessful_attempt: 10", "minutes_per_unsuccessful_attempt: -1",
     "parameter 'economics.minutes_per_unsuccessful_attempt' is -1"),
    ("sceptical_prior: [25, 25]", "sceptical_prior: [25, .inf]", "parameter 'analysis_plan.bayesian.sceptical_prior.1'"),
])
def test_a_slip_in_the_parameters_file_is_refused(tmp_path, old, new, message):
    with pytest.raises(InputError) as refused:
        _load(tmp_path, old, new)
    assert message in str(refused.value)


def test_codes_given_as_numbers_are_read_as_codes(tmp_path):
    params = _load(tmp_path, 'codes: ["14", "16"]', "codes: [14, 16]")
    assert params["outcomes"]["attrition"]["codes"] == ["14", "16"]


def test_the_shipped_file_is_valid_and_limits_take_their_defaults():
    params = load_parameters()
    assert params["disclosure_threshold"] == 5 and params["input_limits"]["max_rows"] == 2_000_000


def test_a_key_given_twice_is_refused(tmp_path):
    """A second `seed:` at the end of the file would silently win over the one a reader sees."""
    path = tmp_path / "run.yml"
    path.write_text(SHIPPED + "\nseed: 1\n", encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_parameters(path)
    assert "the key 'seed' is given twice" in str(refused.value)


def test_an_unsuccessful_attempt_may_take_no_time(tmp_path):
    params = _load(tmp_path, "minutes_per_unsuccessful_attempt: 10", "minutes_per_unsuccessful_attempt: 0")
    assert params["economics"]["minutes_per_unsuccessful_attempt"] == 0
