"""The structured abstract and the harms section, read against results.json on the shipped data and on the
degenerate trials (every stage run in process, tests/trials.py).

Each expected phrase is built here from results.json's raw figures, not from the module under test, so a wrong
figure, a wrong direction or a missing reason fails.
"""
from __future__ import annotations

import copy
import datetime
import html
import re

import pytest

from helpers.report import abstract
from helpers.report.numbers import interval, p_value, pct, points

from . import trials

TRIALS = {
    "no withdrawals": dict(control_withdrawal=0, complier_withdrawal=0, noncomplier_withdrawal=0),
    "no delivery": dict(compliance=0.0),
    "open investigations": dict(open_investigations=30),
    "SRC increases withdrawal": dict(complier_withdrawal=0.9, noncomplier_withdrawal=0.8),
}


@pytest.fixture(scope="module")
def degenerate(tmp_path_factory) -> dict:
    built = {name: trials.run_in_process(*trials.simulated(**design), tmp_path_factory.mktemp("trial"), report=False)
             for name, design in TRIALS.items()}
    allocation, extract = trials.simulated()
    built["every investigation open"] = trials.run_in_process(
        allocation, extract.assign(**{"Outcome Code": "", "outcome_on": ""}), tmp_path_factory.mktemp("open"),
        report=False)
    return built


def _flat(markdown: str) -> str:
    return " ".join(markdown.replace("**", "").split())


def _part(markdown: str, heading: str) -> str:
    """One part of the abstract or the harms section, by its bold heading, to the next heading, as flat text."""
    found = re.search(rf"\*\*{re.escape(heading)}\.\*\* (.*?)(?=\n\n\*\*|$)", markdown, re.S)
    assert found, f"no part '{heading}'"
    return " ".join(html.unescape(found.group(1)).replace("*", "").split())  # as the reader sees it


def _day(iso: str) -> str:
    day = datetime.date.fromisoformat(iso)
    return f"{day.day} {day.strftime('%B')} {day.year}"


def _arm(arm: dict) -> str:
    return f"{arm['events']} of {arm['n']} ({arm['risk'] * 100:.1f}%)"


def _interval_verdict(itt: dict) -> str:
    low, high = itt["risk_difference_ci"]
    return "benefit" if high < 0 else "harm" if low > 0 else "unclear"


def test_the_abstract_has_the_five_parts_in_order(reference_results):
    text = abstract.structured_abstract(reference_results)
    headings = re.findall(r"\*\*([^*]+)\.\*\*", text)
    assert headings == ["Background and question", "Data", "Methods", "Findings", "Conclusions"]


def test_the_shipped_abstract_states_the_figures_of_results_json(reference_results):
    results = reference_results
    text = abstract.structured_abstract(results)
    attrition, flow, trial = results["outcomes"]["attrition"], results["flow"], results["trial"]
    itt = attrition["itt"]
    findings, data = _part(text, "Findings"), _part(text, "Data")
    assert f"{flow['randomised']} hate crime reports" in data
    assert f"{_day(trial['reported_from'])} and {_day(trial['reported_to'])}" in data
    assert f"last outcome recorded, on {_day(trial['last_outcome_on'])}" in data  # the end of follow-up
    assert _arm(attrition["treatment"]) in findings and _arm(attrition["control"]) in findings
    low, high = itt["risk_difference_ci"]
    assert f"{points(itt['risk_difference'], signed=True)} percentage points (95% interval {points(low)} to " \
           f"{points(high)})" in findings
    assert f"p = {itt['p_value_exact']:.3f}" in findings
    assert f"{flow['received_src']['treatment']} of {flow['allocated']['treatment']} victims allocated to SRC " \
           "received the contact" in findings
    # the harm the interval allows: its upper end, as an increase
    assert f"increase in withdrawal of up to {high * 100:.1f} percentage points" in findings
    conclusions = _part(text, "Conclusions")
    assert _interval_verdict(itt) == "unclear" and conclusions.startswith("Inconclusive: the interval includes no effect")
    assert f"about {2 * attrition['power']['n_per_arm_for_target_power']:,} reports" in conclusions


def test_the_abstract_says_the_plan_was_declared_for_the_re_analysis(reference_results):
    methods = _part(abstract.structured_abstract(reference_results), "Methods")
    assert "declared for this re-analysis" in methods and "not before the trial" in methods
    assert "pre-specified" not in methods.lower() and "prespecified" not in methods.lower()


def test_no_withdrawals_give_no_direction(degenerate):
    results = degenerate["no withdrawals"]
    text = abstract.structured_abstract(results)
    assert results["outcomes"]["attrition"]["treatment"]["events"] == 0
    assert "no victim withdrew in either arm, so the trial shows no direction" in _part(text, "Findings")
    conclusions = _part(text, "Conclusions")
    assert conclusions.startswith("Inconclusive: no victim withdrew in either arm")
    assert "reduces" not in conclusions and "more likely" not in text
    ratio_reason = results["outcomes"]["attrition"]["notes"]["itt.risk_ratio"].removeprefix("not estimable: ")
    assert f"the risk ratio is not estimable ({ratio_reason})" in _part(text, "Findings")


def test_no_delivery_credits_no_difference_to_src(degenerate):
    results = degenerate["no delivery"]
    text = abstract.structured_abstract(results)
    delivery = results["identification"]["delivery"]
    assert results["identification"]["identified"] is False
    assert f"The difference is not an effect of SRC: {delivery}." in _part(text, "Findings")
    assert _part(text, "Conclusions") == f"No effect of SRC can be read from this trial: {delivery}."
    assert "take the contact when offered, the difference" not in text  # no complier effect is printed
    assert "Harm:" not in text


def test_open_investigations_show_their_bounds_in_the_findings(degenerate):
    results = degenerate["open investigations"]
    text = abstract.structured_abstract(results)
    open_cases = results["flow"]["outcome_open"]
    bounds = results["outcomes"]["attrition"]["itt"]["open_investigation_bounds"]
    reach = [bounds[key]["risk_difference"] for key in ("all_open_cases", "no_open_cases", "src_open_cases_only",
                                                        "bau_open_cases_only")]
    total = open_cases["treatment"] + open_cases["control"]
    assert total == 30
    assert f"{total} investigations ({open_cases['treatment']} SRC, {open_cases['control']} business as usual) were " \
           "still open" in _part(text, "Data")
    assert f"However the {total} open investigations end, the risk difference of withdrawal lies between " \
           f"{points(min(reach), signed=True)} and {points(max(reach), signed=True)} percentage points" \
           in _part(text, "Findings")
    assert "Manski 1990" in _part(text, "Methods")


def test_a_trial_with_no_outcome_says_so_and_concludes_nothing(degenerate):
    results = degenerate["every investigation open"]
    text = abstract.structured_abstract(results)
    reason = results["outcomes"]["attrition"]["notes"]["itt.risk_difference"].removeprefix("not estimable: ")
    assert results["trial"]["last_outcome_on"] is None
    assert "the extract holds no outcome dates, so when follow-up ended is not known" in _part(text, "Data")
    assert f"Withdrawal cannot be compared between the arms: {reason}." in _part(text, "Findings")
    assert _part(text, "Conclusions").startswith("The trial's data cannot estimate the effect")
    assert "0 of 0" not in text


def test_an_increase_in_withdrawal_is_concluded_as_a_harm(degenerate):
    results = degenerate["SRC increases withdrawal"]
    itt = results["outcomes"]["attrition"]["itt"]
    assert _interval_verdict(itt) == "harm"
    text = abstract.structured_abstract(results)
    assert _part(text, "Conclusions").startswith("The trial is evidence that offering SRC increases withdrawal")
    harms = abstract.harms(results)
    assert "The whole interval lies in the unintended direction: the data show an increase with SRC." in harms


# -- harms -------------------------------------------------------------------------------------------


def test_harms_read_each_outcome_in_its_unintended_direction(reference_results):
    results = reference_results
    shown = _part(abstract.harms(results), "What the data show")
    for name, entry in results["outcomes"].items():
        itt = entry["itt"]
        low, high = itt["risk_difference_ci"]
        assert f"risk difference {points(itt['risk_difference'], signed=True)} percentage points " \
               f"({interval(itt['risk_difference_ci'], points)}, two-sided {p_value(itt['p_value_exact'])})" in shown
        if itt["one_sided_direction"] == "decrease":  # withdrawal: the harm is more of it
            assert f"An increase of up to {points(high)} percentage points with SRC (the interval's upper end)" in shown
        else:  # charges, positive outcomes: the harm is fewer of them
            assert f"A fall of up to {points(-low)} percentage points with SRC (the interval's lower end)" in shown
    assert results["outcomes"]["attrition"]["itt"]["one_sided_direction"] == "decrease"


def test_harms_say_what_the_extract_does_not_hold(reference_results):
    text = abstract.harms(reference_results)
    missing = _part(text, "What was not recorded")
    for unrecorded in ("distress", "complaints", "repeat victimisation after the report"):
        assert unrecorded in missing
    assert "one-sided tests look only in the intended direction and cannot detect it" in _part(text, "What was recorded")


def test_harms_credit_nothing_to_src_without_delivery(degenerate):
    text = abstract.harms(degenerate["no delivery"])
    shown = _part(text, "What the data show")
    assert shown.startswith("No harm can be credited to SRC from this trial: "
                            + degenerate["no delivery"]["identification"]["delivery"])
    assert "with SRC" not in shown


def test_harms_with_no_withdrawals_show_no_direction(degenerate):
    results = degenerate["no withdrawals"]
    shown = _part(abstract.harms(results), "What the data show")
    high = results["outcomes"]["attrition"]["itt"]["risk_difference_ci"][1]
    assert "no report had this outcome in either arm, so the data show no direction" in shown
    assert f"An increase of up to {points(high)} percentage points with SRC" in shown


def test_harms_give_the_bounds_of_open_investigations(degenerate):
    results = degenerate["open investigations"]
    shown = _part(abstract.harms(results), "What the data show")
    bounds = results["outcomes"]["attrition"]["itt"]["open_investigation_bounds"]
    worst = bounds["src_open_cases_only"]["risk_difference"]
    assert f"and {points(worst, signed=True)} percentage points" in shown and worst > 0
    assert "so they could yet show SRC increasing withdrawal or reducing it" in shown


def test_dates_read_as_a_reader_writes_them():
    assert abstract.long_date("2023-06-14") == "14 June 2023" and abstract.long_date(None) is None
    assert pct(0.432) == "43.2%"  # the arms' shares above are formatted as the report formats them


def test_a_blocked_trial_is_tested_by_randomisation_not_fisher(tmp_path):
    from helpers.inputs.simulate import Assignment

    design = {"assignment": "blocked", "blocks": "borough", "clusters": None, "probability": 0.5}
    results = trials.run_in_process(*trials.designed(Assignment("blocked", "borough", (0.3, 0.5, 0.7, 0.5))), tmp_path,
                                    report=False, params={"design": design})
    itt = results["outcomes"]["attrition"]["itt"]
    assert itt["p_value_exact"] is None  # Fisher's test assumes one allocation share
    text = abstract.structured_abstract(results)
    assert "Fisher" not in text and results["design"]["description"] in _part(text, "Methods")
    assert f"randomisation test {p_value(itt['p_value_randomisation'])}" in _part(text, "Findings")


def test_one_open_investigation_is_one_that_was_still_open(reference_results):
    results = copy.deepcopy(reference_results)
    results["flow"]["outcome_open"] = {"treatment": 1, "control": 0}
    for text in (abstract.structured_abstract(results), abstract.harms(results)):
        assert "1 investigation" in text and " was still open" in text and " were still open" not in text
