"""The executive summary, in plain English, written from results.json alone.

No number in the summary is typed by hand: every one is read from the results, so a new
extract gives a new summary.
"""
from __future__ import annotations


def pct(value: float | None, digits: int = 0) -> str:
    return "not estimable" if value is None else f"{value * 100:.{digits}f}%"


def count(value: float | None) -> str:
    return "not estimable" if value is None else f"{value:,.0f}"


def relative_change_phrase(low_ratio: float | None, high_ratio: float | None) -> str:
    """A risk-ratio interval in words: 'between 39% fewer and 1% more withdrawals'."""
    if low_ratio is None or high_ratio is None:
        return "an interval that cannot be estimated"

    def word(ratio: float) -> str:
        change = ratio - 1
        return f"{abs(change):.0%} {'fewer' if change < 0 else 'more'}"

    return f"between {word(low_ratio)} and {word(high_ratio)} withdrawals"


def p_value_phrase(p: float) -> str:
    odds = round(p * 100)
    return f"p = {p:.3f}: if SRC had no effect at all, a difference this large would arise by chance in about " \
           f"{odds} trials in 100"


def executive_summary(results: dict) -> str:
    """The summary as Markdown: what was tested, what changed, how sure we are, what it means."""
    level = f"{results['provenance']['parameters']['confidence_level']:.0%}"
    flow, attrition = results["flow"], results["outcomes"]["attrition"]
    itt, cace, power = attrition["itt"], attrition["cace"], attrition["power"]
    extra = results["extrapolation"]
    trial = results.get("trial", {})
    period = f" reported between {trial['reported_from']} and {trial['reported_to']}" if trial else ""
    compliance = results["compliance"]["treatment_received_rate"]
    low_rr, high_rr = itt["risk_ratio_ci"]
    includes_no_effect = low_rr is not None and low_rr <= 1 <= high_rr
    parts = [
        "**What was tested.** After a hate crime is reported, a neighbourhood officer contacts the victim a few "
        "weeks later to acknowledge the harm and offer help: the *secondary reassurance contact* (SRC). "
        f"{flow['randomised']} hate crime reports{period} were allocated at random, "
        f"{flow['allocated']['treatment']} to SRC and {flow['allocated']['control']} to business as usual. "
        f"{flow['received_src']['treatment']} of the {flow['allocated']['treatment']} SRC victims "
        f"({pct(compliance)}) actually received the contact.",

        f"**What changed.** {pct(attrition['treatment']['risk'], 1)} of victims offered SRC withdrew support for "
        f"the investigation, against {pct(attrition['control']['risk'], 1)} under business as usual: "
        f"{abs(itt['risk_difference']) * 100:.1f} {'fewer' if itt['risk_difference'] < 0 else 'more'} withdrawals "
        f"per 100 victims, a relative {'reduction' if itt['risk_difference'] < 0 else 'increase'} of "
        f"{pct(abs(itt['relative_risk_reduction']) if itt['relative_risk_reduction'] is not None else None)}. "
        f"Allowing for chance, the {level} interval runs {relative_change_phrase(low_rr, high_rr)}.",

        f"**How sure we are.** {'The interval includes no effect, so the trial alone does not establish that SRC works. ' if includes_no_effect else 'The interval excludes no effect. '}"
        f"Fisher's exact test gives {p_value_phrase(itt['p_value_exact'])}. "
        f"Tested only in the direction stated before the trial (SRC reduces withdrawal), p = "
        f"{itt['p_value_exact_one_sided']:.3f}: "
        + ("below the conventional 5% because the direction was fixed in advance, which halves the p-value; "
           "it does not make the effect certain, and such a test could not have detected harm. "
           if itt["p_value_exact_one_sided"] < 0.05 <= itt["p_value_exact"] else
           "the direction fixed in advance halves the p-value but cannot detect harm. ")
        + (f"With no prior view of the effect, the probability that SRC reduces withdrawal is "
           f"{pct(itt['bayesian']['probability_of_reduction'])}, and that it reduces it by at least "
           f"{pct(itt['bayesian']['relative_threshold'])} is "
           f"{pct(itt['bayesian']['probability_of_relative_reduction_at_least'])}: "
           "the effect is likely, not established." if "bayesian" in itt else ""),

        f"**If every victim received the contact.** Among victims who take the contact when it is offered, "
        f"SRC changed the withdrawal rate from {pct(cace['complier_control_risk'])} to "
        f"{pct((cace['complier_control_risk'] or 0) + (cace['risk_difference'] or 0))}: "
        f"{abs(cace['risk_difference'] or 0) * 100:.1f} points ({level} interval "
        f"{_points(cace['risk_difference_ci'])}), a relative reduction of {pct(cace['relative_risk_reduction'])} "
        f"({level} interval {_pct_range(cace['relative_risk_reduction_ci'])}).",

        f"**Across the force.** {extra['population']}: {extra['hate_crimes']:,} hate crimes recorded, "
        f"{extra['withdrawals']:,} of them ended by the victim withdrawing support. SRC as delivered in the trial would "
        f"prevent about {count(extra['prevented']['itt'])} withdrawals a year ({level} interval "
        f"{_count_range(extra['prevented']['itt_ci'])}"
        f"{', which includes none' if extra['prevented']['itt_ci'][0] is not None and extra['prevented']['itt_ci'][0] <= 0 else ''}"
        f"); delivered to every victim, about {count(extra['prevented']['full_compliance'])} "
        f"({_count_range(extra['prevented']['full_compliance_ci'])}). That is "
        f"{pct(extra['share_of_hate_crimes']['itt'], 1)} to {pct(extra['share_of_hate_crimes']['full_compliance'], 1)} "
        "of all hate crimes.",

        f"**What would settle it.** This trial had {pct(power['achieved_power'])} power to detect the difference it "
        f"observed. A trial with {_n(power['n_per_arm_for_80_percent_power'])} reports per arm would have 80% power "
        "to detect it. " + _rare_outcomes(results),
    ]
    return "\n\n".join(parts)


def _points(interval) -> str:
    low, high = interval
    return "not estimable" if low is None else f"{low * 100:.1f} to {high * 100:.1f} points"


def _pct_range(interval) -> str:
    low, high = interval
    return "not estimable" if low is None else f"{low:.0%} to {high:.0%}"


def _count_range(interval) -> str:
    low, high = interval
    return "not estimable" if low is None else f"{low:,.0f} to {high:,.0f}"


def _n(value) -> str:
    return "no finite number of" if value is None else f"{value:,}"


def _rare_outcomes(results: dict) -> str:
    phrases = []
    for name, label in (("charge", "charge"), ("positive_outcome", "positive outcome")):
        outcome = results["outcomes"][name]
        phrases.append(f"{label} {outcome['treatment']['events']} vs {outcome['control']['events']} "
                       f"(a trial would need {_n(outcome['power']['n_per_arm_for_80_percent_power'])} per arm)")
    return "Charges and positive outcomes are too rare in a trial of this size to show a difference: " \
           + "; ".join(phrases) + "."
