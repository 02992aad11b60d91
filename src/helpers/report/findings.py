"""What each figure of the report shows, as a finding in a sentence from results.json.

The sentence is the figure's caption and its alternative text, so a reader who cannot see the chart
(or a print where it is small) still gets its finding; where the data could not support the figure's
figure, the sentence says so and why.
"""
from __future__ import annotations

from helpers.parameters import short_label
from helpers.report import numbers
from helpers.report.numbers import NOT_ESTIMABLE, count, interval, minus, missing, pct, points

__all__ = ["FINDINGS", "finding", "drawn"]


def finding(name: str, results: dict) -> str:
    """What a figure shows, as a finding in a sentence from results.json: its caption and its alt text."""
    return FINDINGS[name](results)


def drawn(name: str, results: dict) -> bool:
    """Whether the figure has something to show on these data; a figure that has not is replaced by its finding,
    which says why (an empty chart would show only axes)."""
    shows = SHOWS.get(name)
    return shows is None or shows(results)


def _forest_shows(results: dict) -> bool:
    return any(not missing(entry["itt"]["risk_difference"]) for entry in results["outcomes"].values())


def _level(results: dict) -> str:
    return numbers.level(results["provenance"]["parameters"]["confidence_level"])


def outcome_name(results: dict, name: str) -> str:
    """An outcome's label for a sentence: 'victim withdrew support for the investigation'."""
    definition = results["provenance"]["parameters"].get("outcomes", {}).get(name)
    return short_label(str(definition["label"])) if definition else name.replace("_", " ")


def _why(notes: dict, key: str) -> str:
    """' (the reason)' for a figure that is not estimable, from an outcome's or section's notes."""
    reason = (notes or {}).get(key)
    return f" ({reason.removeprefix(NOT_ESTIMABLE + ': ')})" if reason else ""


def _more_or_fewer(value: float) -> str:
    """'about 1,487 fewer' for a positive number prevented, 'about 300 more' for a negative one."""
    return f"about {count(abs(value))} {'fewer' if value >= 0 else 'more'}"


def _flow_finding(results: dict) -> str:
    flow = results["flow"]
    allocated, received = flow["allocated"], flow["received_src"]
    analysed = sum(flow["analysed"].values())
    open_cases = sum((flow.get("outcome_open") or {}).values())
    return (f"Of {flow['assessed']:,} hate-flagged records, {flow['excluded_before_randomisation']:,} were excluded before "
            f"randomisation and {flow['randomised']:,} randomised: {allocated['treatment']:,} to SRC, of whom "
            f"{received['treatment']:,} received the contact, and {allocated['control']:,} to business as usual; "
            f"{analysed:,} analysed as randomised" +
            (f"; {open_cases:,} investigation{'s' if open_cases > 1 else ''} still open" if open_cases else ""))


def _balance_finding(results: dict) -> str:
    rows = [row for row in results["allocation_audit"]["balance"]
            if not missing(row.get("standardised_difference"))]
    if not rows:
        return "No baseline characteristic could be compared between the arms (each level is the same in both)"
    largest = max(rows, key=lambda row: abs(row["standardised_difference"]))
    large = results["thresholds"].get("large_standardised_difference", 0.25)
    beyond = sum(abs(row["standardised_difference"]) > large for row in rows)
    return (f"The arms differ most in {largest['covariate'].lower()}, {largest['level']} "
            f"({minus(format(largest['standardised_difference'], '+.2f'))} standard deviations); {beyond} of the "
            f"{len(rows)} levels shown differ{'s' if beyond == 1 else ''} by more than {large:g}")


def _delivery_finding(results: dict) -> str:
    compliance = results["compliance"]
    rate = compliance["treatment_received_rate"]
    if missing(rate):
        return "No report was allocated to SRC, so there is no delivery to show"
    text = f"{pct(rate, 0)} of the SRC arm received the contact"
    monthly = [r["rate"] * 100 for r in compliance["by_month"] if r["rate"] is not None]
    if len(monthly) >= 2:
        spread = (f"{min(monthly):.0f}% in every month reported" if round(min(monthly)) == round(max(monthly)) else
                  f"by month reported, between {min(monthly):.0f}% and {max(monthly):.0f}%")
        text += f"; {spread}"
    return text


def _timing_finding(results: dict) -> str:
    timing = results["compliance"].get("contact_timing") or {}
    if not timing.get("n"):
        return "No contact has a recorded date"
    return (f"Half the contacts came within {timing['median']:.0f} days of the report, the middle half between "
            f"{timing['q1']:.0f} and {timing['q3']:.0f} days ({timing['n']:,} contacts with a date)")


def _forest_finding(results: dict) -> str:
    level, primary = _level(results), results["provenance"]["parameters"]["analysis_plan"]["primary_outcome"]
    parts = []
    for name, entry in results["outcomes"].items():
        itt = entry["itt"]
        if missing(itt["risk_difference"]):
            parts.append(f"{outcome_name(results, name)} not estimable{_why(entry.get('notes'), 'itt.risk_difference')}")
            continue
        parts.append(f"{outcome_name(results, name)} {points(itt['risk_difference'], signed=True)} "
                     f"({interval(itt['risk_difference_ci'], points)})")
        cace = entry["cace"]
        if name == primary and not missing(cace["risk_difference"]):
            parts[-1] += (f", and {points(cace['risk_difference'], signed=True)} if delivered to every victim "
                          f"(complier effect, {interval(cace['risk_difference_ci'], points)})")
    return (f"Difference in risk with SRC as randomised, in percentage points ({level} intervals): "
            + "; ".join(parts))


def _extrapolation_finding(results: dict) -> str:
    force, level = results["extrapolation"], _level(results)
    prevented = force["prevented"]
    if missing(prevented["itt"]):
        return f"Withdrawals prevented across the {force['population']} are not estimable{_why(force.get('notes'), 'itt')}"
    text = (f"{_more_or_fewer(prevented['itt']).capitalize()} withdrawals a year across the {force['population']} with "
            f"SRC as delivered in the trial ({level} interval {interval(prevented['itt_ci'], count)})")
    if not missing(prevented["full_compliance"]):
        text += (f", and {_more_or_fewer(prevented['full_compliance'])} if every victim received it "
                 f"({interval(prevented['full_compliance_ci'], count)})")
    return text + _zero_note([prevented["itt_ci"], prevented["full_compliance_ci"]])


def _zero_note(intervals: list) -> str:
    """'; both intervals include zero' where they do: the data allow no change at all."""
    spans = [(low, high) for low, high in intervals if not missing(low) and not missing(high)]
    zero = [low <= 0 <= high for low, high in spans]
    if not any(zero):
        return ""
    if len(spans) == 1:
        return "; the interval includes zero"
    return "; " + ("both intervals include" if all(zero) else
                   "the first interval includes" if zero[0] else "the second interval includes") + " zero"


def _cost_finding(results: dict) -> str:
    econ, level = results["economics"], _level(results)
    if econ is None:
        return "The cost is not estimated: the extract does not record how contacts were made"
    if missing(econ["cost_per_prevented_withdrawal"]):
        return ("The cost per withdrawal prevented is not estimable"
                + _why(results["extrapolation"].get("notes"), "full_compliance"))
    low, high = econ["cost_per_prevented_withdrawal_ci"]
    money = lambda v: "no upper limit" if missing(v) else f"£{v:,.0f}"
    return (f"At the assumed costs, offering SRC to every victim would take about "
            f"£{econ['cost_per_prevented_withdrawal']:,.0f} of officer time per withdrawal prevented ({level} interval "
            f"{'no lower limit' if missing(low) else money(low)} to {money(high)})")


def _national_finding(results: dict) -> str:
    national, level = results["national_scenario"], _level(results)
    if not national or missing(national["prevented"]["itt"]):
        return "The national scenario is not estimable" + _why(results["extrapolation"].get("notes"), "itt")
    prevented = national["prevented"]
    return (f"At the assumed withdrawal share of {pct(national['assumed_withdrawal_share'])}, "
            f"{_more_or_fewer(prevented['itt'])} withdrawals a year in {national['population']} with SRC as delivered "
            f"in the trial ({level} interval {interval(prevented['itt_ci'], count)}); the number moves in proportion "
            "to the assumed share")


FINDINGS = {"flow_diagram": _flow_finding, "balance": _balance_finding, "delivery_by_week": _delivery_finding,
            "contact_timing": _timing_finding, "forest_plot": _forest_finding,
            "extrapolation": _extrapolation_finding, "cost_per_prevented": _cost_finding,
            "national_sensitivity": _national_finding}

# What a figure needs in results.json to show anything: without it, its finding alone, as one line.
SHOWS = {"balance": lambda r: any(not missing(row.get("standardised_difference"))
                                  for row in r["allocation_audit"]["balance"]),
         "delivery_by_week": lambda r: not missing(r["compliance"]["treatment_received_rate"]),
         "contact_timing": lambda r: bool((r["compliance"].get("contact_timing") or {}).get("n")),
         "forest_plot": _forest_shows,
         "extrapolation": lambda r: not missing(r["extrapolation"]["prevented"]["itt"]),
         "cost_per_prevented": lambda r: r["economics"] is not None
         and not missing(r["economics"]["cost_per_prevented_withdrawal"]),
         "national_sensitivity": lambda r: bool(r["national_scenario"])
         and not missing(r["national_scenario"]["prevented"]["itt"])}
