"""The executive summary: plain words, every number from results.json."""
import re

import pytest

from helpers.summary import executive_summary, relative_change_phrase


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
        f"about {extra['prevented']['itt']:,.0f} withdrawals", f"about {extra['prevented']['full_compliance']:,.0f}",
        f"{attrition['power']['n_per_arm_for_80_percent_power']:,} reports per arm",
        "which includes none", "does not establish",
    ]
    for phrase in expected:
        assert phrase in text, phrase


def test_every_number_in_the_summary_is_in_the_results(reference_results):
    """No number typed by hand: each figure in the text appears, rounded, somewhere in results.json."""
    text = executive_summary(reference_results)
    allowed = _rounded_values(reference_results)
    for token in re.findall(r"\d[\d,]*\.?\d*", text):
        number = float(token.replace(",", "").rstrip("."))
        assert any(abs(number - v) < 0.051 for v in allowed), token


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
