"""The structured abstract and the harms section, written from results.json alone.

The wording lives in ``templates/sections/abstract.md.j2`` and ``templates/sections/harms.md.j2``;
this module gives them the figures, each formatted by :mod:`helpers.report.numbers`, and decides
the few things a sentence turns on (the verdict of the interval, whether any victim had the
outcome, whether the open investigations could move it). The abstract follows the structure
criminology journals ask for: background and question, data, methods, findings, conclusions.
"""
from __future__ import annotations

import datetime
import re

from helpers.parameters import short_label
from helpers.report import numbers, summary
from helpers.report.decision import open_bounds
from helpers.report.numbers import count, interval, missing, num, pct, points

__all__ = ["structured_abstract", "harms", "abstract_context", "harms_context", "follow_up_period", "long_date"]

_NOT_ESTIMABLE = numbers.NOT_ESTIMABLE + ": "  # the prefix of a reason in an outcome's notes


def long_date(iso: str | None) -> str | None:
    """An ISO date as a reader writes it: '2023-06-14' -> '14 June 2023'."""
    if not iso:
        return None
    day = datetime.date.fromisoformat(str(iso)[:10])
    return f"{day.day} {day:%B %Y}"


def follow_up_period(results: dict) -> dict:
    """The periods of recruitment and follow-up (CONSORT 23a): the first and last randomised report, and the last
    outcome recorded, which ends follow-up; None where the extract has no such date."""
    trial = results.get("trial") or {}
    return {"first_report": long_date(trial.get("reported_from")), "last_report": long_date(trial.get("reported_to")),
            "last_outcome": long_date(trial.get("last_outcome_on"))}


def places(trial: dict) -> str | None:
    """The trial's boroughs in words ('Kingston, Merton and Richmond and 1 borough too small to name'); None if the
    extract names none."""
    named, unnamed = list(trial.get("boroughs") or []), trial.get("boroughs_not_named") or 0
    if not named and not unnamed:
        return None
    text = ", ".join(named[:-1]) + " and " + named[-1] if len(named) > 1 else "".join(named)
    hidden = f"{unnamed} borough{'s' if unnamed > 1 else ''} too small to name" if unnamed else ""
    return f"{text} and {hidden}" if text and hidden else text or hidden


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+!|~])")  # < and > are escaped as HTML


def _plain(text: str | None) -> str | None:
    """Text from the input files, with Markdown's punctuation escaped so that it shows as typed."""
    return None if text is None else _MARKDOWN.sub(r"\\\1", text)


def _reason(notes: dict, key: str, default: str = "the data do not support it") -> str:
    return (notes.get(key) or default).removeprefix(_NOT_ESTIMABLE)


def _label(results: dict, name: str) -> str:
    definition = results["provenance"]["parameters"]["outcomes"].get(name) or {}
    return short_label(str(definition.get("label", name.replace("_", " "))))


def _codes(results: dict, name: str) -> str:
    codes = (results["provenance"]["parameters"]["outcomes"].get(name) or {}).get("codes") or []
    return f"code{'s' if len(codes) > 1 else ''} {', '.join(codes)}" if codes else "its outcome codes"


def _events(arm: dict) -> str:
    """'54 of 125 (43.2%)'; 'no report with an outcome' when the arm has none."""
    if not arm["n"]:
        return "no report with an outcome"
    return f"{count(arm['events'])} of {count(arm['n'])} ({pct(arm['risk'])})"


def _no_direction(entry: dict) -> str | None:
    """Why an outcome's arms show no direction at all: nobody, or everybody, had the outcome in both arms."""
    treated, control = entry["treatment"], entry["control"]
    if not treated["n"] or not control["n"]:
        return None
    if treated["events"] == 0 and control["events"] == 0:
        return "none"
    if treated["events"] == treated["n"] and control["events"] == control["n"]:
        return "all"
    return None


def _estimate_method(results: dict, outcome: str, estimand: str) -> str | None:
    rows = [row for row in results["estimates"] if (row["outcome"], row["estimand"]) == (outcome, estimand)]
    return rows[0]["method"] if rows else None


def _outcome_figures(results: dict, name: str) -> dict:
    """One outcome's figures as the templates print them, and the facts their sentences turn on."""
    entry = results["outcomes"][name]
    itt, notes = entry["itt"], entry.get("notes") or {}
    intended = itt.get("one_sided_direction") or "decrease"
    low, high = itt["risk_difference_ci"]
    # The far end of the interval in the unintended direction: the largest harm the data allow.
    harmful_end = high if intended == "decrease" else low
    return {
        "name": name, "label": _label(results, name), "codes": _codes(results, name),
        "treatment": _events(entry["treatment"]), "control": _events(entry["control"]),
        "no_direction": _no_direction(entry), "intended": intended,
        "harm_word": "an increase" if intended == "decrease" else "a fall",
        "estimable": not missing(itt["risk_difference"]),
        "rd": points(itt["risk_difference"], signed=True), "rd_ci": interval(itt["risk_difference_ci"], points),
        "rr": num(itt["risk_ratio"]), "rr_ci": interval(itt["risk_ratio_ci"], num),
        "rr_reason": _reason(notes, "itt.risk_ratio"), "rr_estimable": not missing(itt["risk_ratio"]),
        "rd_reason": _reason(notes, "itt.risk_difference"), "p": numbers.p_value(itt["p_value_exact"]),
        "p_estimable": not missing(itt["p_value_exact"]),
        "p_randomisation": None if missing(itt.get("p_value_randomisation")) else numbers.p_value(
            itt["p_value_randomisation"]), "randomisation_method": itt.get("randomisation_method"),
        "harm": _harm_status(itt["risk_difference"], low, high, intended),
        "harmful_end": None if missing(harmful_end) else points(abs(harmful_end)),
        "harmful_end_signed": None if missing(harmful_end) else points(harmful_end, signed=True),
    }


def _harm_status(estimate, low, high, intended: str) -> str:
    """Whether the interval shows harm (wholly in the unintended direction), excludes it, or allows it."""
    if missing(estimate) or missing(low) or missing(high):
        return "not estimable"
    harmful_low, harmful_high = (low, high) if intended == "decrease" else (-high, -low)
    if harmful_low > 0:
        return "shown"
    if harmful_high < 0:
        return "excluded"
    return "allowed"


def _bounds(results: dict) -> dict | None:
    """The open investigations and how far they could move the primary difference, when any is open."""
    open_cases = results["flow"]["outcome_open"]
    total = open_cases["treatment"] + open_cases["control"]
    if not total:
        return None
    reach = open_bounds(results["outcomes"]["attrition"]["itt"])
    includes_zero = reach is not None and reach[0] <= 0 <= reach[1]
    return {"total": count(total), "investigations": "investigation" + ("s" if total > 1 else ""),
            "verb": "were" if total > 1 else "was", "treatment": count(open_cases["treatment"]), "control": count(open_cases["control"]),
            "low": None if reach is None else points(reach[0], signed=True),
            "high": None if reach is None else points(reach[1], signed=True), "includes_zero": includes_zero}


def _common(results: dict) -> dict:
    """What both sections read."""
    identification = results.get("identification") or {}
    attrition = results["outcomes"]["attrition"]
    return {"level": numbers.level(results["provenance"]["parameters"]["confidence_level"]),
            "no_contrast": identification.get("identified") is False, "identification": identification,
            "primary": _outcome_figures(results, "attrition"), "bounds": _bounds(results),
            "secondary": [_outcome_figures(results, name) for name in results["outcomes"] if name != "attrition"],
            "verdict": summary.verdict(attrition["itt"], identification)}


def abstract_context(results: dict) -> dict:
    """The structured abstract's figures, from results.json."""
    flow, trial = results["flow"], results.get("trial") or {}
    attrition = results["outcomes"]["attrition"]
    cace, power = attrition["cace"], attrition["power"]
    identification = results.get("identification") or {}
    answer = summary.answer_word(attrition["itt"], identification, results["extrapolation"]["prevented"])
    treated, control = flow["allocated"]["treatment"], flow["allocated"]["control"]
    origin = results["inputs"].get("origin") or {}
    common = _common(results)
    return {**common, "flow": flow, "period": follow_up_period(results),
            "randomised": count(flow["randomised"]), "assessed": count(flow["assessed"]),
            "excluded": count(flow["excluded_before_randomisation"]),
            "allocated": {"treatment": count(treated), "control": count(control)},
            "received": {"treatment": count(flow["received_src"]["treatment"]),
                         "control": count(flow["received_src"]["control"])},
            "delivery_rate": pct(flow["received_src"]["treatment"] / treated, 0) if treated else None,
            "boroughs": _plain(places(trial)), "design": results["design"],
            "synthetic": bool(origin.get("synthetic")), "origin": origin,
            "rd_method": _estimate_method(results, "attrition", "risk_difference"),
            "rr_method": _estimate_method(results, "attrition", "risk_ratio"),
            "cace_method": _estimate_method(results, "attrition", "complier_average_causal_effect"),
            "cace": {"estimable": not missing(cace["risk_difference"]),
                     "rd": points(cace["risk_difference"], signed=True),
                     "rd_ci": interval(cace["risk_difference_ci"], points),
                     "reason": _reason(attrition.get("notes") or {}, "cace.risk_difference")},
            "answer": answer, "verdict_differs": answer != common["verdict"],
            "trial_size": None if missing(power["n_per_arm_for_target_power"])
            else count(2 * power["n_per_arm_for_target_power"]),
            "target": pct(power["target_relative_reduction"], 0), "target_power": pct(power["target_power"], 0),
            "settle_reason": summary.settle_reason(attrition)}


def harms_context(results: dict) -> dict:
    """The harms section's figures: each outcome read in its unintended direction."""
    return {**_common(results), "outcomes": [_outcome_figures(results, name) for name in results["outcomes"]]}


def structured_abstract(results: dict) -> str:
    """The structured abstract as Markdown: background and question, data, methods, findings, conclusions."""
    return summary.render_markdown("sections/abstract.md.j2", escape=True, **abstract_context(results))


def harms(results: dict) -> str:
    """What the trial recorded that could show harm, what it shows, and what it did not record, as Markdown."""
    return summary.render_markdown("sections/harms.md.j2", escape=True, **harms_context(results))
