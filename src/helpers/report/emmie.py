"""The EMMIE summary (Effect, Mechanism, Moderators, Implementation, Economic cost).

The College of Policing's frame for weighing evidence, written from results.json and the
parameters: no number is typed by hand.
"""
from __future__ import annotations

from helpers.report import numbers
from helpers.report.numbers import count, pct
from helpers.report.summary import relative_change_phrase

SUBGROUP_NAMES = {"primary_strand": "hate strand", "offence_group": "offence group", "borough": "borough"}


def effect(results: dict) -> str:
    attrition = results["outcomes"]["attrition"]
    itt, cace = attrition["itt"], attrition["cace"]
    level = numbers.level(results['provenance']['parameters']['confidence_level'])
    low, high = cace["relative_risk_reduction_ci"]
    identification = results.get("identification") or {}
    if identification.get("identified") is False:
        return (f"Not estimable: {identification['reason']}. The difference between the arms is reported as a "
                "comparison of the allocation, not as an effect of SRC.")
    if itt["risk_ratio"] is None:
        offered = "Offering SRC: the relative change in withdrawal is not estimable on these data."
    else:
        direction = "fewer" if itt["risk_ratio"] < 1 else "more"
        offered = (f"Offering SRC: central estimate {pct(abs(1 - itt['risk_ratio']), 0)} {direction} withdrawals, "
                   f"{level} interval {relative_change_phrase(*itt['risk_ratio_ci'])}.")
    if cace["relative_risk_reduction"] is None:
        compliers = "Among victims who take the contact, the relative change is not estimable."
    else:
        compliers = (f"Among victims who take the contact, the relative reduction in withdrawal is "
                     f"{pct(cace['relative_risk_reduction'], 0)} ({level} interval "
                     f"{'no lower limit' if low is None else pct(low, 0)} to {pct(high, 0)}).")
    tests = ("" if itt["p_value_exact"] is None else
             f" Two-sided exact p = {itt['p_value_exact']:.3f}; in the direction stated before the trial, "
             f"p = {itt['p_value_exact_one_sided']:.3f} (to be read against "
             f"{(1 - results['provenance']['parameters']['confidence_level']) * 50:g}%).")
    return f"{offered} {compliers}{tests}"


def mechanism(params: dict) -> str:
    return " ".join(str(params["mechanism"]).split())


def moderators(results: dict) -> str:
    identification = results.get("identification") or {}
    if identification.get("identified") is False:
        return (f"Not estimable: {identification['delivery']}, so there is no effect of SRC whose size could differ "
                "between groups.")
    subgroups = results.get("subgroups") or []
    tested = [s for s in subgroups if s.get("interaction_p_value") is not None]
    if not tested:
        return "Not estimable at this sample size: no subgroup holds enough reports in both arms."
    name = lambda s: SUBGROUP_NAMES.get(s["by"], s["by"])
    adjusted = lambda s: s.get("interaction_p_value_holm", s["interaction_p_value"])
    differing = [s for s in tested if adjusted(s) < 0.05]
    alike = [s for s in tested if adjusted(s) >= 0.05]
    parts = []
    if differing:
        parts.append("the effect may differ by " + " and ".join(
            f"{name(s)} (interaction p = {adjusted(s):.2f} after Holm's adjustment)" for s in differing))
    if alike:
        parts.append("there is no evidence that it differs by " + " or ".join(
            f"{name(s)} (p = {s['interaction_p_value']:.2f}; {adjusted(s):.2f} after Holm's adjustment)"
            for s in alike))
    text = "; ".join(parts)
    synthetic = (results.get("inputs", {}).get("origin") or {}).get("synthetic")
    if synthetic:
        text += " (the data are synthetic and their subgroups invented, so these tests illustrate the method only)"
    return (f"Exploratory: {text[0].upper() + text[1:]}. With {len(tested)} subgroup tests, one p-value below 0.05 "
            "would not be unusual by chance alone; subgroups were not pre-specified and a trial of "
            f"{results['flow']['randomised']} reports has little power to tell subgroups apart.")


def implementation(results: dict, params: dict) -> str:
    compliance = results["compliance"]
    modes = compliance.get("contact_modes") or {}
    delivered = sum(modes.values())
    mix = ", ".join(f"{n} {mode}" for mode, n in modes.items()) if delivered else "none recorded"
    days = compliance["contact_timing"]["median"]
    timing = f"a median of {days:.0f} days after the report" if days is not None else "at an unrecorded time"
    if compliance["treatment_received_rate"] is None:
        return "No report was allocated to SRC, so delivery cannot be described."
    if not delivered and compliance["treatment_received_rate"] == 0:
        return (f"No victim allocated to SRC received the contact; {pct(compliance['control_contamination_rate'], 0)} "
                f"of business-as-usual victims got one. {' '.join(str(params['delivery_constraints']).split())}")
    return (f"{pct(compliance['treatment_received_rate'], 0)} of victims allocated to SRC received the contact "
            f"({mix}), {timing}; {pct(compliance['control_contamination_rate'], 0)} of business-as-usual victims got "
            f"one. {' '.join(str(params['delivery_constraints']).split())}")


def economic_cost(results: dict) -> str:
    econ = results["economics"]
    if econ is None:
        return f"Not estimated: {not_costed_reason(results)}."
    level = numbers.level(results['provenance']['parameters']['confidence_level'])
    low, high = econ["cost_per_prevented_withdrawal_ci"]
    if econ["cost_per_year"] is None:
        reason = econ.get("reason") or "not estimable"
        return f"{reason[:1].upper()}{reason[1:]}."
    if econ["cost_per_prevented_withdrawal"] is None:
        per = None
    elif high is None:
        per = (f"about £{count(econ['cost_per_prevented_withdrawal'])} ({level} interval from £{count(low)} with "
               "no upper bound, because the interval of the effect includes no effect)")
    else:
        per = f"about £{count(econ['cost_per_prevented_withdrawal'])} ({level} interval £{count(low)} to £{count(high)})"
    return (f"Offering SRC to all {econ['victims_per_year']:,} hate crime victims a year would take about "
            f"{count(econ['hours_per_year'])} officer hours, £{count(econ['cost_per_year'])} a year at the assumed "
            "rates. " + (f"Each withdrawal prevented would cost {per}. " if per else
                         "The cost per withdrawal prevented cannot be estimated: "
                         + (econ.get("reason") or "not estimable").removeprefix("not estimable: ") + ". ")
            + "All cost inputs are assumptions "
            "about officer time and pay, not measured in the trial; an analyst can replace them with the force's own "
            "costing.")


def emmie_sections(results: dict, params: dict) -> list[tuple[str, str]]:
    """(heading, text) for each of the five EMMIE elements."""
    return [("Effect", effect(results)), ("Mechanism", mechanism(params)), ("Moderators", moderators(results)),
            ("Implementation", implementation(results, params)), ("Economic cost", economic_cost(results))]


def not_costed_reason(results: dict) -> str:
    """Why the cost of delivery is not estimated: no contact modes, or too few of one to publish the mix."""
    if results["compliance"].get("contact_modes") is None:
        return "the extract does not record how contacts were made, on which the cost rests"
    return ("too few contacts were made by phone to publish how many, and the cost, which rests on the mix of "
            "calls and visits, would give the number back (disclosure control)")
