"""Trials the shipped data never show: each runs to a complete report, honest about what it cannot say.

Each case once stopped the pipeline with a Python error or printed an impossible number (a
complier risk above 1, an interval of zero width, prevented withdrawals beyond the force's).
"""
from __future__ import annotations

import pandas as pd
import pytest

from .trials import adjusted_rows, check_parameter_space, required_columns_only, run_in_process, simulated

NO_RARE_OUTCOMES = dict(control_charge=0, treatment_charge=0, control_positive=0, treatment_positive=0)


def _all_open():
    allocation, extract = simulated()
    return allocation, extract.assign(**{"Outcome Code": "", "outcome_on": ""})


def _everyone_src():
    allocation, extract = simulated()
    return allocation.assign(Allocation="SRC"), extract


def _late_allocation():
    allocation, extract = simulated()
    late = pd.to_datetime(allocation["Allocated On"]) + pd.Timedelta(days=120)
    return allocation.assign(**{"Allocated On": late.dt.date}), extract


def _constant_covariates():
    allocation, extract = simulated()
    return allocation, extract.assign(victim_sex="Male", victim_age_band="25-34", repeat_victim="N",
                                      suspect_identified="Y")


CASES = {
    "only the required columns": lambda: required_columns_only(*simulated(seed=1)),
    "required columns and open investigations": lambda: required_columns_only(*simulated(seed=5,
                                                                                         open_investigations=4)),
    "no contact delivered": lambda: simulated(compliance=0.0),
    "contact delivered to every SRC report": lambda: simulated(compliance=1.0),
    "no withdrawals in either arm": lambda: simulated(control_withdrawal=0, complier_withdrawal=0,
                                                      noncomplier_withdrawal=0),
    "every report withdrew": lambda: simulated(control_withdrawal=1, complier_withdrawal=1, noncomplier_withdrawal=1,
                                               **NO_RARE_OUTCOMES),
    "no withdrawals with SRC": lambda: simulated(complier_withdrawal=0, noncomplier_withdrawal=0),
    "SRC 100% against BAU 0% withdrawals": lambda: simulated(control_withdrawal=0, complier_withdrawal=1,
                                                             noncomplier_withdrawal=1, **NO_RARE_OUTCOMES),
    "every investigation open": _all_open,
    "every report allocated to SRC": _everyone_src,
    "every report allocated to BAU": lambda: (lambda a, e: (a.assign(Allocation="BAU"), e))(*simulated()),
    "more reports than randomisation inference on balance takes": lambda: simulated(n_control=2600,
                                                                                     n_treatment=2600),
    "one report in each arm": lambda: simulated(n_control=1, n_treatment=1, **NO_RARE_OUTCOMES),
    "three reports in each arm": lambda: simulated(n_control=3, n_treatment=3),
    "five reports in each arm": lambda: simulated(n_control=5, n_treatment=5, **NO_RARE_OUTCOMES),
    "arms of 1:20": lambda: simulated(n_control=20, n_treatment=400),
    "three reports in one arm": lambda: simulated(n_control=3, n_treatment=120),
    "one borough": lambda: (lambda a, e: (a, e.assign(borough="Merton")))(*simulated()),
    "constant covariates": _constant_covariates,
    "allocation months after the report": _late_allocation,
    "SRC increases withdrawal": lambda: simulated(complier_withdrawal=0.62, noncomplier_withdrawal=0.56),
}


@pytest.fixture(scope="module")
def unusual(tmp_path_factory):
    """results.json of a case of CASES, every stage notebook's code run on it in process, report included;
    each case runs once in the module, whichever of its tests asks first."""
    made: dict[str, dict] = {}

    def results(case: str) -> dict:
        if case not in made:
            made[case] = run_in_process(*CASES[case](), tmp_path_factory.mktemp("case"))
        return made[case]

    return results


@pytest.mark.parametrize("case", list(CASES))
def test_an_unusual_trial_runs_to_a_report_inside_the_parameter_space(case, unusual):
    check_parameter_space(unusual(case))


def test_required_columns_alone_give_the_full_extract_headline(tmp_path, unusual):
    """Optional means optional: without any optional column the headline figures are unchanged."""
    full = run_in_process(*simulated(seed=1), tmp_path / "full", report=False)
    bare = unusual("only the required columns")  # the same trial, simulated(seed=1), its optional columns removed
    for name in ("attrition", "charge", "positive_outcome"):
        for section, keys in (("itt", ("risk_ratio", "risk_ratio_ci", "risk_difference", "risk_difference_ci",
                                       "p_value_exact", "p_value_randomisation")),
                              ("cace", ("risk_difference", "risk_difference_ci", "complier_control_risk",
                                        "relative_risk_reduction", "relative_risk_reduction_ci"))):
            for key in keys:
                assert bare["outcomes"][name][section][key] == full["outcomes"][name][section][key], (name, key)
    assert bare["extrapolation"]["prevented"] == full["extrapolation"]["prevented"]
    skipped = {s["analysis"] for s in bare["skipped"]}
    assert len(skipped) == 8 and not full["skipped"]
    assert bare["economics"] is None and full["economics"] is not None


def test_no_delivery_makes_the_complier_figures_not_estimable_with_the_reason(unusual):
    results = unusual("no contact delivered")
    attrition = results["outcomes"]["attrition"]
    assert attrition["cace"]["risk_difference"] is None and attrition["cace"]["relative_risk_reduction"] is None
    assert "no more often delivered" in attrition["notes"]["cace.risk_difference"]
    assert attrition["itt"]["risk_difference"] is not None  # the randomised comparison still stands


def test_full_delivery_has_no_infinite_first_stage(unusual):
    attrition = unusual("contact delivered to every SRC report")["outcomes"]["attrition"]
    assert attrition["cace"]["first_stage_f"] is None and attrition["cace"]["weak_instrument"] is False
    assert "determines it exactly" in attrition["notes"]["cace.first_stage_f"]


def test_adjustment_is_not_attempted_with_three_reports_in_an_arm(unusual):
    results = unusual("three reports in one arm")
    adjusted = adjusted_rows(results)
    assert len(adjusted) == 2
    for estimate in adjusted:
        assert estimate["estimate"] is None and estimate["p_value"] is None
        assert "smaller arm has 3 report(s)" in estimate["reason"]
