"""The executive summary, in plain English, written from results.json alone.

No number in the summary is typed by hand: every one is read from the results, so a new
extract gives a new summary.
"""
from __future__ import annotations


def pct(value: float | None, digits: int = 0) -> str:
    return "not estimable" if value is None else f"{value * 100:.{digits}f}%".replace("-", "−")


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


def p_value_phrase(p: float | None) -> str:
    if p is None:
        return "no p-value (the comparison is not estimable)"
    odds = round(p * 100)
    return f"p = {p:.3f}: if SRC had no effect at all, a difference this large would arise by chance in about " \
           f"{odds} trials in 100"


def verdict(itt: dict) -> str:
    """Benefit likely, harm likely or no evidence either way, from the risk difference's interval."""
    low, high = itt["risk_difference_ci"]
    if itt["risk_difference"] is None or low is None or high is None:
        return "not estimable"
    if high < 0:
        return "benefit"
    if low > 0:
        return "harm"
    return "unclear"


VERDICT_SENTENCES = {
    "benefit": "The interval lies wholly below no effect: the trial is evidence that SRC reduces withdrawal.",
    "harm": "The interval lies wholly above no effect: the trial is evidence that SRC increases withdrawal.",
    "unclear": "The interval includes no effect, so the trial alone does not establish whether SRC reduces or "
               "increases withdrawal.",
    "not estimable": "The trial's data cannot estimate the effect on withdrawal.",
}


def _change(difference: float, unit: str = "per 100 victims") -> str:
    """A signed difference in risk as words: '12.0 fewer withdrawals per 100 victims'."""
    if abs(difference) < 0.0005:
        return f"no difference in withdrawals {unit}"
    return f"{abs(difference) * 100:.1f} {'fewer' if difference < 0 else 'more'} withdrawals {unit}"


def _what_changed(attrition: dict, level: str) -> str:
    itt = attrition["itt"]
    head = "**What changed.** "
    if itt["risk_difference"] is None:
        return head + ("Withdrawal cannot be compared between the arms: "
                       + attrition.get("notes", {}).get("itt.risk_difference", "not estimable").removeprefix(
                           "not estimable: ") + ".")
    text = (f"{pct(attrition['treatment']['risk'], 1)} of victims offered SRC withdrew support for the investigation, "
            f"against {pct(attrition['control']['risk'], 1)} under business as usual: {_change(itt['risk_difference'])} "
            f"(a difference of {_signed_points(itt['risk_difference'])}, {level} interval "
            f"{_points(itt['risk_difference_ci'])})")
    if itt["risk_ratio"] is not None:
        text += f", a relative {'reduction' if itt['risk_ratio'] < 1 else 'increase'} of " \
                f"{pct(abs(1 - itt['risk_ratio']))} ({level} interval {relative_change_phrase(*itt['risk_ratio_ci'])})"
    return head + text + "."


def _how_sure(itt: dict) -> str:
    text = f"**How sure we are.** {VERDICT_SENTENCES[verdict(itt)]} "
    if itt["p_value_exact"] is None:
        return text
    text += f"Fisher's exact test gives {p_value_phrase(itt['p_value_exact'])}. "
    one_sided = itt["p_value_exact_one_sided"]
    text += (f"Tested only in the direction stated before the trial (fewer withdrawals with SRC), p = {one_sided:.3f}; "
             f"a one-sided p is read against {itt.get('one_sided_threshold', 0.025) * 100:g}% to match the two-sided "
             "test, and it cannot detect harm; the primary analysis is the two-sided one. ")
    bayes = itt.get("bayesian") or {}
    probability = bayes.get("probability_of_reduction")
    if probability is not None:
        judgement = ("SRC very probably reduces withdrawal" if probability >= 0.95 else
                     "a reduction is more likely than not, but not established" if probability >= 0.5 else
                     "SRC is more likely to increase withdrawal than to reduce it")
        text += (f"With no prior view of the effect ({bayes['prior']}), the probability that SRC reduces withdrawal "
                 f"is {pct(probability)}, and that it reduces it by at least {pct(bayes['relative_threshold'])} is "
                 f"{pct(bayes['probability_of_relative_reduction_at_least'])}: {judgement}.")
        sceptical = itt.get("bayesian_sceptical") or {}
        if sceptical.get("probability_of_reduction") is not None:
            text += (f" Starting from a sceptical view ({sceptical['prior']}, which pulls the arms together), it is "
                     f"{pct(sceptical['probability_of_reduction'])}.")
    return text


def _compliers(cace: dict, level: str) -> str:
    head = "**If every victim received the contact.** "
    if cace["risk_difference"] is None or cace["complier_control_risk"] is None:
        reason = (cace.get("reason") or "the data do not support it").removeprefix("not estimable: ")
        return head + f"The effect among victims who take the contact when offered cannot be estimated: {reason}."
    text = (f"Among victims who take the contact when it is offered, SRC changed the withdrawal rate from "
            f"{pct(cace['complier_control_risk'])} to {pct(cace['complier_treated_risk'])}: "
            f"{_change(cace['risk_difference'], 'per 100 such victims')} ({level} interval "
            f"{_points(cace['risk_difference_ci'])})")
    reduction = cace["relative_risk_reduction"]
    if reduction is not None and reduction >= 0:
        text += f", a relative reduction of {pct(reduction)} ({level} interval " \
                f"{_pct_range(cace['relative_risk_reduction_ci'])})"
    elif reduction is not None:
        low, high = cace["relative_risk_reduction_ci"]
        upper = "no upper limit" if low is None else pct(-low)
        text += f", a relative increase of {pct(-reduction)} ({level} interval {pct(-high)} to {upper})"
    return head + text + "."


def _force(extra: dict, level: str) -> str:
    head = (f"**Across the force.** {extra['population']}: {extra['hate_crimes']:,} hate crimes recorded, "
            f"{extra['withdrawals']:,} of them ended by the victim withdrawing support. ")
    prevented = extra["prevented"]
    if prevented["itt"] is None:
        return head + "The trial gives no relative change in withdrawal to carry to the force."
    text = (f"SRC as delivered in the trial would mean {_yearly(prevented['itt'])} ({level} interval "
            f"{_fewer_range(prevented['itt_ci'])}{_includes_none(prevented['itt_ci'])})")
    if prevented["full_compliance"] is not None:
        text += (f"; delivered to every victim, {_yearly(prevented['full_compliance'])} ({level} interval "
                 f"{_fewer_range(prevented['full_compliance_ci'])})")
    return head + text + "."


def _yearly(prevented: float) -> str:
    if round(prevented) == 0:
        return "no change in withdrawals a year"
    return f"about {abs(prevented):,.0f} {'fewer' if prevented > 0 else 'more'} withdrawals a year"


def _fewer_range(interval) -> str:
    """An interval of prevented withdrawals in words: 'from 171 more to 3,139 fewer'."""
    low, high = interval
    if low is None or high is None:
        return "not estimable"
    word = lambda v: f"{abs(v):,.0f} {'fewer' if v >= 0 else 'more'}"
    return f"from {word(low)} to {word(high)}"


def _includes_none(interval) -> str:
    low, high = interval
    return ", which includes none" if low is not None and high is not None and low <= 0 <= high else ""


def _settle(attrition: dict, results: dict) -> str:
    power = attrition["power"]
    target = f"{power['target_power']:.0%}"
    head = "**What would settle it.** "
    if power["minimum_detectable_difference"] is None:
        text = head + "The trial's data give no control risk to plan a larger trial around. "
    else:
        text = (head + f"With its arm sizes, this trial had {target} power to detect a fall in withdrawal of "
                f"{abs(power['minimum_detectable_difference']) * 100:.1f} percentage points or more. To detect a "
                f"{power['target_relative_reduction']:.0%} relative reduction with {target} power, a trial needs "
                f"{_n(power['n_per_arm_for_target_power'])} reports per arm. ")
    return text + _rare_outcomes(results)


def executive_summary(results: dict) -> str:
    """The summary as Markdown: what was tested, what changed, how sure we are, what it means.

    Every sentence follows the numbers: the verdict from the interval, the direction from the
    sign, and a figure the data cannot support is named as not estimable, never printed.
    """
    level = f"{results['provenance']['parameters']['confidence_level']:.0%}"
    flow, attrition = results["flow"], results["outcomes"]["attrition"]
    trial = results.get("trial", {})
    period = f" reported between {trial['reported_from']} and {trial['reported_to']}" if trial.get("reported_from") else ""
    compliance = results["compliance"]["treatment_received_rate"]
    parts = [
        "**What was tested.** After a hate crime is reported, a neighbourhood officer contacts the victim a few "
        "weeks later to acknowledge the harm and offer help: the *secondary reassurance contact* (SRC). "
        f"{flow['randomised']} hate crime reports{period} were allocated at random, "
        f"{flow['allocated']['treatment']} to SRC and {flow['allocated']['control']} to business as usual. "
        f"{flow['received_src']['treatment']} of the {flow['allocated']['treatment']} SRC victims "
        f"({pct(compliance)}) actually received the contact.",
        _what_changed(attrition, level),
        _how_sure(attrition["itt"]),
        _compliers({**attrition["cace"], "reason": attrition.get("notes", {}).get("cace.risk_difference")}, level),
        _force(results["extrapolation"], level),
        _settle(attrition, results),
    ]
    return "\n\n".join(parts)


def _signed_points(value: float) -> str:
    return f"{value * 100:+.1f} percentage points".replace("-", "−")


def _points(interval) -> str:
    low, high = interval
    if low is None or high is None:
        return "not estimable"
    return f"{low * 100:.1f} to {high * 100:.1f} percentage points".replace("-", "−")


def _pct_range(interval) -> str:
    low, high = interval
    if high is None:
        return "not estimable"
    return f"{'no lower limit' if low is None else f'{low:.0%}'} to {high:.0%}".replace("-", "−")


def _count_range(interval) -> str:
    low, high = interval
    if low is None or high is None:
        return "not estimable"
    return f"{low:,.0f} to {high:,.0f}".replace("-", "−")


def _n(value) -> str:
    return "no finite number of" if value is None else f"{value:,}"


def _rare_outcomes(results: dict) -> str:
    phrases = []
    for name, label in (("charge", "charge"), ("positive_outcome", "positive outcome")):
        outcome = results["outcomes"][name]
        phrases.append(f"{label} {outcome['treatment']['events']} vs {outcome['control']['events']} "
                       f"(a trial would need {_n(outcome['power']['n_per_arm_for_target_power'])} per arm to detect a "
                       f"{outcome['power']['target_relative_reduction']:.0%} relative increase)")
    return "Charges and positive outcomes are too rare in a trial of this size to show a difference: " \
           + "; ".join(phrases) + "."


def bottom_line(results: dict) -> str:
    """Four sentences for leadership: the decision, how sure, what it costs, what would settle it."""
    attrition = results["outcomes"]["attrition"]
    itt, extra, econ = attrition["itt"], results["extrapolation"], results.get("economics")
    level = f"{results['provenance']['parameters']['confidence_level']:.0%}"
    judgement = {
        "benefit": "the trial is evidence that SRC reduces withdrawal",
        "harm": "the trial is evidence that SRC increases withdrawal",
        "unclear": "the trial alone does not establish whether SRC reduces withdrawal",
        "not estimable": "the trial's data cannot estimate the effect on withdrawal",
    }[verdict(itt)]
    probability = (itt.get("bayesian") or {}).get("probability_of_reduction")
    sure = f"**How sure.** {judgement[0].upper() + judgement[1:]}"
    if itt["risk_difference"] is not None:
        sure += (f": {_change(itt['risk_difference'])} ({level} interval {_points(itt['risk_difference_ci'])})")
    if probability is not None:
        sure += f"; the probability that it reduces withdrawal at all is {pct(probability)}"
    parts = ["**The decision.** Whether to offer the secondary reassurance contact to every hate crime victim.",
             sure + "."]
    full = extra["prevented"]["full_compliance"]
    if full is not None:
        impact = (f"**What it would mean.** Delivered to every victim, {_yearly(full)} across the "
                  f"{extra['population']} ({level} interval {_fewer_range(extra['prevented']['full_compliance_ci'])})")
        if econ is not None and econ.get("cost_per_year") is not None:
            impact += f", for about £{count(econ['cost_per_year'])} of officer time a year at the assumed rates"
        parts.append(impact + ".")
    needed = attrition["power"]["n_per_arm_for_target_power"]
    if needed is not None:
        parts.append(f"**What would settle it.** A trial of {needed:,} reports per arm (about "
                     f"{2 * needed:,} in all) would detect a {attrition['power']['target_relative_reduction']:.0%} "
                     f"relative reduction with {attrition['power']['target_power']:.0%} power.")
    return "\n\n".join(parts)
