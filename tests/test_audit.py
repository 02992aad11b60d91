"""Allocation audit: each check against a hand-computed expectation, and on a subverted allocation."""
import math

import numpy as np
import pandas as pd
import pytest

from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.simulate import simulate_trial, subvert_allocation
from helpers.methods import audit, audit_design
from helpers.methods.design import Design


def test_shipped_allocation_raises_no_flag(analysis):
    checks = audit.allocation_audit(analysis)
    assert checks["flags"] == []
    assert checks["ratio"] == {"treatment": 125, "control": 125, "p_value": 1.0}
    assert checks["omnibus"]["p_value"] > audit.FLAG_P_VALUE
    assert checks["threshold_rule_breaches"] == 0
    assert checks["allocated_before_report"] == 0


def test_ratio_test_by_hand():
    """Exact two-sided binomial p for 140 of 250: twice the upper tail (the distribution is symmetric)."""
    data = pd.DataFrame({"assigned": [1] * 140 + [0] * 110})
    upper = sum(math.comb(250, k) for k in range(140, 251)) / 2 ** 250
    assert audit.ratio_test(data)["p_value"] == pytest.approx(2 * upper, rel=1e-9)


def test_runs_test_flags_alternation():
    data = pd.DataFrame({"assigned": [1, 0] * 50, "allocation_order": range(100)})
    runs = audit.runs_test(data)
    assert runs["runs"] == 100 and runs["longest_run"] == 1
    assert runs["p_value"] < 1e-6


def test_runs_test_by_hand():
    """Wald-Wolfowitz: mean 2 n1 n0 / n + 1, variance 2 n1 n0 (2 n1 n0 - n) / (n^2 (n - 1))."""
    sequence = [1, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0]
    data = pd.DataFrame({"assigned": sequence, "allocation_order": range(12)})
    n1, n0, n = 6, 6, 12
    mean = 2 * n1 * n0 / n + 1
    var = 2 * n1 * n0 * (2 * n1 * n0 - n) / (n ** 2 * (n - 1))
    z = (6 - mean) / math.sqrt(var)
    assert audit.runs_test(data)["runs"] == 6
    assert audit.runs_test(data)["p_value"] == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2)))), rel=1e-9)


def test_standardised_difference_by_hand():
    data = pd.DataFrame({"assigned": [1] * 10 + [0] * 10,
                         "offence_group": ["public order"] * 6 + ["other"] * 4 + ["public order"] * 3 + ["other"] * 7,
                         "days_report_to_allocation": [1] * 20})
    table = audit.balance_table(data)
    row = table[(table["covariate"] == "Offence group") & (table["level"] == "public order")].iloc[0]
    assert row["standardised_difference"] == pytest.approx((0.6 - 0.3) / math.sqrt((0.6 * 0.4 + 0.3 * 0.7) / 2))


def test_allocation_before_report_is_flagged(analysis):
    early = analysis.copy()
    early.loc[[0, 1], "allocated_on"] = early.loc[[0, 1], "reported_on"] - pd.Timedelta(days=3)
    checks = audit.allocation_audit(early)
    assert checks["allocated_before_report"] == 2
    assert "2 report(s) were allocated before the date they were reported." in checks["flags"]


def test_threshold_rule_breaches_counted(analysis):
    broken = analysis.copy()
    broken.loc[:4, "random_number"] = np.where(broken.loc[:4, "allocation"] == "SRC", 0.9, 0.1)
    assert audit.threshold_rule_breaches(broken) == 5
    assert audit.threshold_rule_breaches(broken.assign(random_number=np.nan)) is None


def test_subverted_allocation_is_flagged(tmp_path, params):
    subverted = subvert_allocation(simulate_trial(), pairs=30)
    paths = subverted.write(tmp_path)
    data = clean_inputs(*paths, params["outcomes"]).analysis
    checks = audit.allocation_audit(data)
    assert checks["ratio"]["p_value"] == 1.0  # arm sizes kept: only balance can tell
    assert checks["omnibus"]["p_value"] < 0.001
    assert any("may have been subverted" in flag for flag in checks["flags"])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fair_allocations_are_not_flagged(tmp_path, params, seed):
    paths = simulate_trial(seed=seed).write(tmp_path)
    checks = audit.allocation_audit(clean_inputs(*paths, params["outcomes"]).analysis)
    assert checks["flags"] == []


def test_allocation_by_weekday_by_hand():
    """Pearson chi-squared on a 2x2 table: sum (O - E)^2 / E with E from the margins."""
    dates = pd.to_datetime(["2022-10-03"] * 20 + ["2022-10-04"] * 20)  # a Monday, a Tuesday
    data = pd.DataFrame({"allocated_on": dates, "assigned": [1] * 15 + [0] * 5 + [1] * 5 + [0] * 15})
    check = audit.allocation_by_period(data, "weekday")
    expected = 4 * (15 - 10) ** 2 / 10
    assert check["statistic"] == pytest.approx(expected)
    assert check["table"]["SRC"].tolist() == [15, 5]


def test_shipped_allocation_does_not_depend_on_the_day(analysis):
    checks = audit.allocation_audit(analysis, draws=2000)
    assert checks["by_weekday"]["p_value"] > audit.FLAG_P_VALUE
    assert checks["by_month"]["p_value"] > audit.FLAG_P_VALUE
    assert checks["omnibus_randomisation"]["p_value"] > audit.FLAG_P_VALUE


def test_randomisation_balance_agrees_with_the_likelihood_ratio_test(analysis):
    """Two routes to the same question: their p-values should be close on a fair trial."""
    lr = audit.omnibus_balance_test(analysis)["p_value"]
    ri = audit.randomisation_balance_test(analysis, draws=4000, seed=2)["p_value"]
    assert ri == pytest.approx(lr, abs=0.1)


def test_randomisation_balance_flags_subversion(tmp_path, params):
    paths = subvert_allocation(simulate_trial(), pairs=30).write(tmp_path)
    data = clean_inputs(*paths, params["outcomes"]).analysis
    assert audit.randomisation_balance_test(data, draws=2000)["p_value"] < 0.001


def _log(**columns) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {"allocation_order": range(1, n + 1), "alloc_row": range(2, n + 2), "source_row": range(12, n + 12)}
    return pd.DataFrame({**base, **columns})


def test_random_numbers_no_generator_draws_are_flagged_and_left_out_of_the_rule():
    data = _log(random_number=[0.2, 7.0, -5.0, float("inf"), 0.7, np.nan],
                allocation=["SRC", "SRC", "BAU", "SRC", "SRC", "BAU"])
    odd = audit.random_numbers_out_of_range(data)
    assert odd["alloc_row"].tolist() == [3, 4, 5]
    assert audit.threshold_rule_breaches(data) == 1  # only 0.7 -> SRC breaks the rule; 7, -5 and inf are not read
    flag = audit.oddity_flags(odd, odd.iloc[:0], odd.iloc[:0])[0]
    assert flag.startswith("3 random number(s) in the allocation log are outside [0, 1] or not finite (allocation "
                           "log rows 3, 4 and 5)")


def test_an_allocation_after_its_outcome_is_flagged():
    day = pd.Timestamp("2022-10-10")
    data = _log(allocated_on=[day, day, day], outcome_on=[day - pd.Timedelta(days=1), day, pd.NaT])
    late = audit.allocated_after_outcome(data)
    assert late["alloc_row"].tolist() == [2] and late["source_row"].tolist() == [12]
    flag = audit.oddity_flags(late.iloc[:0], late, late.iloc[:0])[0]
    assert "allocation log row 2; crime extract row 12" in flag


def test_conflicting_log_entries_are_flagged_from_the_cleaned_table(analysis):
    marked = analysis.assign(allocation_entries_differ=analysis["allocation_order"] == 7)
    checks = audit.allocation_audit(marked, draws=200)
    assert checks["conflicting_log_entries"] == 1
    row = int(marked.loc[marked["allocation_order"] == 7, "alloc_row"].iloc[0])
    assert any(f"allocation log row {row} kept" in flag for flag in checks["flags"])


def test_ward_labels_in_several_boroughs_are_found_and_named():
    data = pd.DataFrame({"borough": ["Merton", "Sutton", "Merton", "Sutton", "Kingston"],
                         "ward": ["W01", "W01", "W02", "W03", "W01"]})
    labels = audit_design.wards_in_several_boroughs(data)
    assert labels == {"W01": 3}
    warning = audit_design.repeated_label_warning(labels, Design("cluster", ("ward",)))
    assert warning.startswith("1 ward label(s) appear in more than one borough: 'W01' (3 boroughs). The declared "
                              "design (clusters: ward) takes each label as one ward")
    assert audit_design.repeated_label_warning({}, Design("cluster", ("ward",))) is None


def test_a_flag_never_shows_a_p_value_in_scientific_notation():
    from helpers.methods.audit import flag_p

    assert flag_p(3.84e-28) == "< 0.0001" and flag_p(0.00421) == "= 0.00421" and flag_p(0.0001) == "= 0.0001"
