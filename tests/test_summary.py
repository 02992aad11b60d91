"""The executive summary: plain words, every number from results.json."""
import re

import pytest

from helpers.report.summary import bottom_line, executive_summary, relative_change_phrase, verdict


def test_interval_in_words():
    assert relative_change_phrase(0.6061, 1.0106) == "between 39% fewer and 1% more withdrawals"
    assert relative_change_phrase(0.5, 0.9) == "between 50% fewer and 10% fewer withdrawals"


def test_summary_numbers_trace_to_results(reference_results):
    text = executive_summary(reference_results)
    attrition = reference_results["outcomes"]["attrition"]
    extra = reference_results["extrapolation"]
    expected = [
        f"{reference_results['flow']['randomised']} hate crime reports",
        f"{attrition['treatment']['risk'] * 100:.1f}%", f"{attrition['control']['risk'] * 100:.1f}%",
        "between 39% fewer and 1% more withdrawals",
        f"p = {attrition['itt']['p_value_exact']:.3f}", f"p = {attrition['itt']['p_value_exact_one_sided']:.3f}",
        f"about {extra['prevented']['itt']:,.0f} fewer withdrawals a year",
        f"about {extra['prevented']['full_compliance']:,.0f} fewer",
        f"{attrition['power']['n_per_arm_for_target_power']:,} reports per arm",
        f"{abs(attrition['power']['minimum_detectable_difference']) * 100:.1f} percentage points or more",
        "Starting from a sceptical view",
        "which includes none", "does not establish", "12.0 fewer withdrawals per 100 victims",
        "−12.0 percentage points",
    ]
    for phrase in expected:
        assert phrase in text, phrase


def test_every_number_in_the_summary_is_in_the_results(reference_results):
    """No number typed by hand: each figure in the text appears, rounded, somewhere in results.json."""
    text = executive_summary(reference_results)
    allowed = _rounded_values(reference_results) | STATED_CONSTANTS
    for token in re.findall(r"\d[\d,]*\.?\d*", text):
        number = float(token.replace(",", "").rstrip("."))
        assert any(abs(number - v) < 0.051 for v in allowed), token


# Numbers of the wording itself, not of the data: "per 100 victims", and the 2.5% one-sided
# threshold that matches a two-sided 5% test.
STATED_CONSTANTS = {100.0, 2.5, 5.0}


def _rounded_values(results) -> set:
    values = set()

    def walk(node):
        if isinstance(node, dict):
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
        elif isinstance(node, (int, float)) and not isinstance(node, bool):
            for v in (node, node * 100, abs(node), abs(node) * 100, abs(node - 1) * 100):
                values.add(round(v, 1))
                values.add(round(v))
        elif isinstance(node, str):
            for token in re.findall(r"\d[\d,]*", node):
                values.add(float(token.replace(",", "")))
    walk(results)
    # the risk with SRC among compliers is derived: control risk plus the effect
    cace = results["outcomes"]["attrition"]["cace"]
    values.add(round((cace["complier_control_risk"] + cace["risk_difference"]) * 100))
    return values


def _trial_results(reference_results, *, control, treatment, n=125):
    """The shipped results with the withdrawal counts and their estimates replaced."""
    import copy

    import pandas as pd

    from helpers.methods.design import COMPLETE
    from helpers.methods.registry import Settings, analyse_outcome
    from helpers.pipeline.effects import outcome_entry
    data = pd.DataFrame({"assigned": [1] * n + [0] * n, "received": [1] * n + [0] * n,
                         "attrition": [1] * treatment + [0] * (n - treatment) + [1] * control + [0] * (n - control)})
    entry = outcome_entry(analyse_outcome(data, "attrition", COMPLETE, Settings(conf_level=0.95, draws=2000),
                                          codes=["14", "16"]))
    results = copy.deepcopy(reference_results)
    results["outcomes"]["attrition"] = entry
    return results


@pytest.mark.parametrize(("control", "treatment", "expected", "absent"), [
    (69, 30, ["evidence that SRC reduces withdrawal", "fewer withdrawals per 100 victims", "very probably reduces"],
     ["more withdrawals per 100", "does not establish"]),
    (69, 69, ["does not establish", "no difference in withdrawals"], ["evidence that SRC reduces"]),
    (69, 76, ["does not establish", "5.6 more withdrawals per 100 victims", "more likely to increase"],
     ["very probably reduces", "fewer withdrawals per 100"]),
    (50, 100, ["evidence that SRC increases withdrawal", "more withdrawals per 100 victims", "a relative increase of"],
     ["fewer withdrawals per 100", "relative reduction of −"]),
])
def test_the_wording_follows_the_result(reference_results, control, treatment, expected, absent):
    """A beneficial, a null, a mildly harmful and a clearly harmful trial each read as what they are."""
    text = executive_summary(_trial_results(reference_results, control=control, treatment=treatment))
    for phrase in expected:
        assert phrase in text, phrase
    for phrase in absent:
        assert phrase not in text, phrase
    assert not re.search(r"(?<![\w])-\d", text)  # a minus sign, never a hyphen, before a number


def test_a_degenerate_trial_prints_no_number_it_cannot_support(reference_results):
    """Every report withdrew: no ratio, no power; the summary names them as not estimable."""
    text = executive_summary(_trial_results(reference_results, control=125, treatment=125))
    assert "does not establish" in text and "no difference in withdrawals" in text
    assert "power" not in text.split("What would settle it")[1].split(".")[0] or "no difference" in text
    assert "nan" not in text.lower() and "None" not in text


def _no_contrast(reference_results, received_control: int = 0):
    """The shipped results as if the allocation had not changed delivery (nobody reached, or both arms alike)."""
    import copy

    import pandas as pd

    from helpers.methods.identification import delivery_contrast
    results = copy.deepcopy(reference_results)
    data = pd.DataFrame({"assigned": [1] * 125 + [0] * 125,
                         "received": [0] * (125 - received_control) + [1] * received_control
                         + [1] * received_control + [0] * (125 - received_control)})
    results["identification"] = delivery_contrast(data)
    results["flow"]["received_src"] = {"treatment": received_control, "control": received_control}
    return results


def test_without_a_delivery_contrast_no_wording_credits_src(reference_results):
    """The shipped arms differ by 12 points; had no one been contacted, that difference is not SRC's."""
    results = _no_contrast(reference_results)
    assert verdict(results["outcomes"]["attrition"]["itt"], results["identification"]) == "no contrast"
    text, top = executive_summary(results), bottom_line(results)
    reason = results["identification"]["reason"]
    assert f"No effect of SRC can be read from this trial: {reason}." in text
    assert "None of the 125 victims allocated to SRC received the contact." in text
    assert "the arms differ by −12.0 percentage points (95% interval" in text
    assert "Fisher's exact test of the difference between the arms gives p = 0.076: it tests the allocation" in text
    for phrase in ("evidence that SRC", "does not establish", "one-sided", "With no prior view", "relative reduction of"):
        assert phrase not in text, phrase
    assert top.startswith("**The decision.**")
    assert ("**How sure.** The trial cannot show whether SRC reduces withdrawal, because no victim received the "
            "contact (none of the 125 allocated to SRC); the arms differed by 12.0 fewer withdrawals per 100 victims")\
        in top
    assert "probability" not in top


def test_equal_delivery_in_both_arms_is_no_contrast_either(reference_results):
    results = _no_contrast(reference_results, received_control=40)
    text, top = executive_summary(results), bottom_line(results)
    assert results["identification"]["delivery"] == ("the contact was delivered no more often in the SRC arm (40 of "
                                                     "125) than under business as usual (40 of 125)")
    assert ("40 of the 125 SRC victims (80%) actually received the contact, and 40 of the 125 business-as-usual "
            "victims did.") in text
    assert "because the contact was delivered no more often in the SRC arm (40 of 125)" in top


def test_the_smallest_detectable_change_is_said_in_the_outcomes_direction(reference_results):
    import copy

    results = copy.deepcopy(reference_results)
    power = results["outcomes"]["attrition"]["power"]
    assert power["minimum_detectable_difference"] < 0
    assert "power to detect a fall in withdrawal of" in executive_summary(results)
    power["minimum_detectable_difference"] = abs(power["minimum_detectable_difference"])
    assert "power to detect a rise in withdrawal of" in executive_summary(results)
