"""What each section template of the report reads: numbers, tables and branch decisions, from results.json.

One function per section (``CONTEXTS``), each returning the template's variables, or None when the
section does not apply to this run (no warnings, no earlier run to compare with). Nothing here is
prose: the words are in ``templates/sections/``; a value here is a figure, a table, a label from the
parameters, or a decision that a template turns into words (which branch is true on these data).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from markupsafe import Markup

from helpers.inputs.provenance import PUBLISHED
from helpers.report import abstract as structured
from helpers.report import decision, numbers, tables
from helpers.report.consort import CAPTION as CONSORT_CAPTION
from helpers.report.consort import checklist_html
from helpers.report.emmie import emmie_sections
from helpers.report.findings import finding, outcome_name
from helpers.report.last_run import last_run_table
from helpers.report.numbers import NOT_ESTIMABLE, count, interval, missing, num, pct, points
from helpers.report.summary import about, answer_word, bottom_line, executive_summary, fewer_range, yearly

if TYPE_CHECKING:
    from helpers.report.sections import Report

__all__ = ["context", "CONTEXTS"]


def _reason(text: str | None) -> str | None:
    """A not-estimable note without its leading 'not estimable: '."""
    return text.removeprefix(NOT_ESTIMABLE + ": ") if text else None


def base(results: dict) -> dict:
    """What every section reads: the parameters, the level, the formatters and each figure's finding."""
    params = results["provenance"]["parameters"]
    tables.use_parameters(params)
    return {"results": results, "params": params, "plan": params["analysis_plan"],
            "threshold": params["disclosure_threshold"], "thresholds": results["thresholds"],
            "level": numbers.level(params["confidence_level"]), "conf_level": params["confidence_level"],
            "flow": results["flow"], "finding": lambda name: finding(name, results), "pct": pct, "count": count,
            "num": num, "points": points, "interval": interval, "missing": missing,
            "yearly": yearly, "about": about, "fewer_range": fewer_range, "points_words": _points_words,
            "label": lambda name: tables.OUTCOME_LABELS.get(name, name),
            "short_label": lambda name: outcome_name(results, name)}


def _points_words(difference: float) -> str:
    """A difference per 100 victims in words: '23.9 fewer', '0.4 more', 'no change'."""
    if abs(difference) < 0.0005:
        return "no change"
    return f"{abs(difference) * 100:.1f} {'fewer' if difference < 0 else 'more'}"


def decision_page(results: dict, report: Report) -> dict:
    return {"bottom_line": bottom_line(results), "flags": decision.critical_flags(results),
            "provenance": decision.provenance_block(results, report.parameters_file)}


def summary(results: dict, report: Report) -> dict:
    plan = results["provenance"]["parameters"]["analysis_plan"]
    return {"summary": executive_summary(results), "plan_table": tables.plan_table(results),
            "directions": [(tables.OUTCOME_LABELS.get(k, k).lower(), v) for k, v in plan["directions"].items()]}


def emmie(results: dict, report: Report) -> dict:
    return {"parts": emmie_sections(results, results["provenance"]["parameters"])}


def warnings(results: dict, report: Report) -> dict | None:
    audit_flags, skipped = results["allocation_audit"]["flags"], results["skipped"]
    if not (results["warnings"] or audit_flags or skipped):
        return None
    return {"audit_flags": audit_flags, "warnings": results["warnings"], "skipped": skipped}


def changes(results: dict, report: Report) -> dict | None:
    """The last run into the output folder against this one, or why the two cannot be compared."""
    if not report.previous_results:
        return None
    from helpers.pipeline.compare import NotResults, changed_sections, diff_results, read_last_run, read_results

    this_run = read_results(report.files.results)  # as written, so that srceval diff would give the same
    try:
        previous, same_form = read_last_run(report.previous_results, this_run)
    except NotResults as error:  # its message names the file by its path: the report names it alone
        path = str(report.previous_results)
        return {"error": str(error).replace(path, Path(path).name)}
    table = last_run_table(previous, this_run)
    held = table[table["Last run"] != "not in that run"]  # an earlier form may hold only some headline figures
    before = previous.get("provenance", {})
    return {"error": None, "table": table, "files": _file_changes(previous, this_run), "same_form": same_form,
            "generated_at": before.get("generated_at"), "version": before.get("package_version"),
            "changed": int((held["Changed"] == "yes").sum()), "headlines": len(held),
            "all_held": len(held) == len(table),
            "sections": changed_sections(diff_results(previous, this_run)) if same_form else {}}


def _file_changes(previous: dict, results: dict) -> list[dict]:
    """For each input file: 'same', 'changed' (same name, another hash), 'other' (another name) or 'unknown' (the
    last run recorded neither its name nor its hash)."""
    files = []
    for role in ("allocation", "extract"):
        old, new = previous.get("inputs", {}).get(role) or {}, results["inputs"][role]
        # an earlier results form kept each file's hash beside its name as well
        old_hash = previous.get("inputs", {}).get(f"{role}_sha256") or old.get("sha256")
        kind = ("unknown" if old_hash is None and old.get("file") is None else
                "same" if old_hash == results["inputs"][f"{role}_sha256"] else
                "changed" if old.get("file") == new["file"] else "other")
        files.append({"role": role, "kind": kind, "old": old.get("file"), "new": new["file"]})
    return files


def flow(results: dict, report: Report) -> dict:
    return {"flow_table": tables.flow_table(results["flow"], results["exclusions"]),
            "withdrawal_codes": results["provenance"]["parameters"]["outcomes"]["attrition"]["codes"]}


def audit(results: dict, report: Report) -> dict:
    audit = results["allocation_audit"]
    return {"audit": audit, "checks": tables.audit_checks(audit), "balance": tables.balance_display(audit["balance"])}


def compliance(results: dict, report: Report) -> dict:
    compliance = results["compliance"]
    allocated, received = results["flow"]["allocated"], results["flow"]["received_src"]
    predictors = compliance["predictors_of_delivery"]
    return {"compliance": compliance, "allocated": allocated, "received": received,
            "by_borough": tables.delivery_display(compliance["by_borough"], "Borough"),
            "by_strand": tables.delivery_display(compliance["by_hate_strand"], "Hate strand"),
            "wards": tables.ward_table(compliance["by_ward"]),
            "predictors": tables.predictors_table(predictors) if predictors["terms"] else None,
            "predictors_reason": predictors.get("reason") or ""}


def effects(results: dict, report: Report) -> dict:
    params = results["provenance"]["parameters"]
    level = params["confidence_level"]
    outcomes = results["outcomes"]
    design = results["design"]
    methods = ({row["estimand"]: row["method"] for row in results["estimates"] if row["outcome"] == "attrition"}
               if design["assignment"] != "complete" else {})
    return {"outcomes": outcomes, "outcome_table": tables.outcome_table(outcomes, level),
            "p_values": tables.p_value_table(outcomes),
            "one_sided": [(tables.OUTCOME_LABELS.get(name, name).lower(),
                           "fewer" if e["itt"].get("one_sided_direction") == "decrease" else "more")
                          for name, e in outcomes.items()],
            "one_sided_threshold": tables.one_sided_threshold(level),
            "not_estimable": not_estimable_lines(outcomes),
            "biased": tables.biased_table(results["estimates"], level),
            "adjusted": tables.adjusted_table(outcomes, results["estimates"], level),
            "complier": tables.complier_table(outcomes, level),
            "weak_instrument": tables.weak_instrument_table(outcomes, results["thresholds"]["weak_instrument_f"]),
            "subgroup_rules": [family["rule"] for family in results["subgroups"] if family.get("rule")],
            "subgroups": tables.subgroup_table(results["subgroups"]), "power": tables.power_table(outcomes),
            "draws": params["randomisation_draws"], "seed": params["seed"], "design": design,
            "design_methods": [(name.replace("_", " "), text) for name, text in methods.items()]}


def not_estimable_lines(outcomes: dict) -> list[tuple[str, str, str]]:
    """(outcome label, figure, reason) for each figure of each outcome that is not estimable, or whose interval is
    truncated or unbounded."""
    return [(tables.OUTCOME_LABELS.get(name, name), key.replace("_", " ").replace(".", ": "), reason)
            for name, entry in outcomes.items() for key, reason in entry.get("notes", {}).items()]


def extrapolation(results: dict, report: Report) -> dict:
    params = results["provenance"]["parameters"]
    level = params["confidence_level"]
    force, national = results["extrapolation"], results["national_scenario"]
    identification = results.get("identification") or {}
    return {"force": force, "baselines": _baselines(results), "identification": identification,
            "identified": identification.get("identified") is not False,
            "reasons": _prevented_reasons(results),
            "relative_reason": _reason((force.get("notes") or {}).get("itt")) or "the trial gives no relative change",
            "cut": [(key.removesuffix("_ci"), note) for key, note in (force.get("notes") or {}).items()
                    if key.endswith("_ci")],
            "prevented_table": tables.extrapolation_table(force, level),
            "transport": tables.transport_table(force, level),
            "reconciliation": tables.reconciliation_table(results), "economics": results["economics"],
            "economics_table": (tables.economics_table(results["economics"], params["economics"])
                                if results["economics"] is not None else None),
            "scenarios": tables.scenario_table(force["delivery_scenarios"], level), "national": national,
            "national_table": tables.national_table(national, level) if national else None}


def _prevented_reasons(results: dict) -> list[tuple[str, str]]:
    """(figure, reason) for each yearly figure that is not estimable: the extrapolation's own note, or else the note of
    the effect it carries (the risk ratio as delivered, the complier relative reduction for every victim)."""
    force, identification = results["extrapolation"], results.get("identification") or {}
    effect_notes = results["outcomes"]["attrition"].get("notes", {})
    sources = {"itt": ("itt.risk_ratio", "itt.relative_risk_reduction"),
               "full_compliance": ("cace.relative_risk_reduction", "cace.risk_difference")}
    reasons = []
    for key, effect_keys in sources.items():
        if not missing(force["prevented"][key]):
            continue
        note = (force.get("notes") or {}).get(key) or next(
            (effect_notes[k] for k in effect_keys if effect_notes.get(k)), None)
        if identification.get("identified") is False:
            note = note or identification.get("delivery")
        reasons.append((key, _reason(note) or "the trial gives no relative change in withdrawal to carry"))
    absolute = force.get("absolute_transport") or {}
    if absolute.get("reason"):
        reasons.append(("absolute", _reason(absolute["reason"])))
    return reasons


def _baselines(results: dict) -> dict:
    """The trial's business-as-usual withdrawal risk and the force's, and which is higher (as shown, to 0.1%)."""
    force = results["extrapolation"]
    trial = results["outcomes"]["attrition"]["control"]["risk"]
    share = force["withdrawals"] / force["hate_crimes"] if force.get("hate_crimes") else None
    if missing(trial) or missing(share):
        return {"trial": trial, "force": share, "compared": "none"}
    shown = round(trial, 3), round(share, 3)
    return {"trial": trial, "force": share,
            "compared": "same" if shown[0] == shown[1] else "higher" if shown[0] > shown[1] else "lower"}


def _too_rare(results: dict) -> list[str]:
    """The outcomes other than withdrawal that this trial is too small to compare: no trial size can be planned for
    them, or the size their target needs is larger than this trial's arms."""
    arm = min(results["flow"]["analysed"].values())
    return [outcome_name(results, name) for name, entry in results["outcomes"].items() if name != "attrition"
            and (entry["power"]["n_per_arm_for_target_power"] is None
                 or entry["power"]["n_per_arm_for_target_power"] > arm)]


def limitations(results: dict, report: Report) -> dict:
    """Which limitations apply to this run, and their figures."""
    flow, attrition = results["flow"], results["outcomes"]["attrition"]
    identification = results.get("identification") or {}
    identified = identification.get("identified") is not False
    cace = attrition["cace"]
    origin = results["inputs"].get("origin") or {}
    return {"synthetic": bool(origin.get("synthetic")), "origin": origin,
            "calibrated": origin.get("published") == PUBLISHED,  # generated to the published counts
            "itt_ci": attrition["itt"]["risk_difference_ci"],
            "itt_reason": _reason(attrition.get("notes", {}).get("itt.risk_difference")) or "the data do not support it",
            "rare": _too_rare(results), "cace_estimable": not missing(cace["risk_difference"]),
            "cace_reason": _reason(attrition.get("notes", {}).get("cace.risk_difference")) or "the data do not support it",
            "identification": identification, "identified": identified,
            "delivery_rate": results["compliance"]["treatment_received_rate"],
            "boroughs": results.get("trial", {}).get("boroughs") or [],
            "unnamed": results.get("trial", {}).get("boroughs_not_named") or 0,
            "open_cases": sum(flow["outcome_open"].values()) if isinstance(flow.get("outcome_open"), dict) else 0,
            "open_bounds": decision.open_bounds(attrition["itt"]),
            # a weak instrument matters only for a complier effect that was estimated
            "weak_instrument": bool(cace["weak_instrument"]) and identified and not missing(cace["risk_difference"])}


def appendix(results: dict, report: Report) -> dict:
    return {"provenance": tables.provenance_table(results), "exclusions": tables.exclusion_summary(results["exclusions"])}


def abstract(results: dict, report: Report) -> dict:
    return {"text": structured.structured_abstract(results)}


def harms(results: dict, report: Report) -> dict:
    return {"text": structured.harms(results)}


def consort(results: dict, report: Report) -> dict:
    def checklist(number: int) -> Markup:  # its cells link to the sections, so it is laid out by consort.py
        return Markup(checklist_html(results, f"Table {number}. {CONSORT_CAPTION}"))

    return {"checklist": checklist}


def references(results: dict, report: Report) -> dict:
    return {"references": tables.references()}


def leadership_decision_page(results: dict, report: Report) -> dict:
    """Page 1 with the recommendation's branch: the verdict, with an unclear one split by the direction the estimate
    points in."""
    attrition = results["outcomes"]["attrition"]
    itt, identification = attrition["itt"], results.get("identification") or {}
    answer = answer_word(itt, identification, results["extrapolation"]["prevented"])
    if answer == "unclear":
        answer = "promising" if not missing(itt["risk_difference"]) and itt["risk_difference"] < 0 else "no sign"
    needed = attrition["power"]["n_per_arm_for_target_power"]
    page = decision_page(results, report)
    page["provenance"] = decision.provenance_block(results, report.parameters_file,
                                                   appendix="the full report's appendix")
    # the audit's own flags name their tests: leadership get their count, the full report gives them
    page["flags"] = decision.critical_flags(results, audit_tests=False)
    return {**page, "recommendation": answer, "identification": identification,
            "audit_flags": len(results["allocation_audit"]["flags"]),
            "itt_reason": _reason(attrition.get("notes", {}).get("itt.risk_difference")) or "the data do not support it",
            "trial_size": None if needed is None else 2 * needed}


def leadership_figure(results: dict, report: Report) -> dict:
    return {}


def leadership_summary(results: dict, report: Report) -> dict:
    attrition = results["outcomes"]["attrition"]
    itt, identification = attrition["itt"], results.get("identification") or {}
    low, high = itt["risk_difference_ci"]
    return {"attrition": attrition, "itt": itt, "identification": identification,
            "identified": identification.get("identified") is not False, "force": results["extrapolation"],
            "itt_reason": _reason(attrition.get("notes", {}).get("itt.risk_difference")) or "the data do not support it",
            "includes_no_effect": not missing(low) and not missing(high) and low <= 0 <= high,
            # page 1's answer reads the yearly figure's interval too: clear here, unclear there
            "yearly_unclear": answer_word(itt, identification, results["extrapolation"]["prevented"]) == "unclear",
            "within_blocks": (results.get("design") or {}).get("assignment") == "blocked",
            "probability": (itt.get("bayesian") or {}).get("probability_of_reduction")}


def leadership_limitations(results: dict, report: Report) -> dict:
    prevented = results["extrapolation"]["prevented"]
    return {**limitations(results, report), "baselines": _baselines(results),
            "delivered_figure": not missing(prevented["itt"]), "full_figure": not missing(prevented["full_compliance"])}


def leadership_pointer(results: dict, report: Report) -> dict:
    return {"cleaning_warnings": len(results["warnings"]), "audit_flags": len(results["allocation_audit"]["flags"]),
            "skipped": len(results["skipped"])}


CONTEXTS = {"decision_page": decision_page, "summary": summary, "emmie": emmie, "warnings": warnings,
            "changes": changes, "flow": flow, "audit": audit, "compliance": compliance, "effects": effects,
            "extrapolation": extrapolation, "limitations": limitations, "appendix": appendix, "consort": consort,
            "abstract": abstract, "harms": harms, "references": references, "leadership_decision_page": leadership_decision_page,
            "leadership_figure": leadership_figure, "leadership_summary": leadership_summary,
            "leadership_limitations": leadership_limitations, "leadership_pointer": leadership_pointer}


def context(name: str, report: Report) -> dict | None:
    """The variables of section ``name``'s template for this run, or None when the section does not apply."""
    specific = CONTEXTS[name](report.results, report)
    return None if specific is None else {**base(report.results), **specific}
