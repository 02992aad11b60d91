"""Tables and headings for the notebooks and the report, formatted for people.

Numbers come from the stage results; these functions only choose labels and rounding.
"""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd
from IPython.display import HTML, display

from helpers.report import numbers
from helpers.report.figures import DESCRIPTIONS
from helpers.report.numbers import NOT_ESTIMABLE, count, interval, minus, missing, num, pct, points, with_interval

OUTCOME_LABELS = {"attrition": "Victim withdrew support (codes 14, 16)", "charge": "Charged or summonsed",
                  "positive_outcome": "Positive outcome"}


def use_parameters(params: dict) -> None:
    """Take the outcome labels and codes from the run's parameters, so tables say what was analysed."""
    for name, definition in params["outcomes"].items():
        label = " ".join(str(definition["label"]).split())
        codes = ", ".join(definition["codes"])
        OUTCOME_LABELS[name] = f"{label[0].upper() + label[1:]} (code{'s' if len(definition['codes']) > 1 else ''} {codes})"


def heading(text: str, anchor: str, level: int = 2) -> None:
    """A section heading the report's table of contents picks up; it captions the tables below it."""
    _SECTION[0] = re.sub(r"<[^>]+>", "", text)
    display(HTML(f'<h{level} id="{anchor}">{text}</h{level}>'))


def note(text: str) -> None:
    """A methods note for reviewers, set apart from the narrative."""
    display(HTML(f'<p class="methods">{html.escape(text)}</p>'))


_FIGURES_SHOWN: list[str] = []


def finding(name: str, results: dict) -> str | None:
    """What a figure shows, in one sentence from results.json, for its alt text and caption."""
    attrition, flow = results["outcomes"]["attrition"], results["flow"]
    itt, force = attrition["itt"], results["extrapolation"]
    rate = results["compliance"]["treatment_received_rate"]
    level = numbers.level(results['provenance']['parameters']['confidence_level'])
    texts = {
        "flow_diagram": f"{flow['randomised']:,} reports randomised, {flow['allocated']['treatment']:,} to SRC and "
                        f"{flow['allocated']['control']:,} to business as usual",
        "balance": None if results["allocation_audit"]["max_abs_standardised_difference"] is None else
        f"the largest standardised difference among common levels is "
        f"{num(results['allocation_audit']['max_abs_standardised_difference'], 2)}",
        "delivery_by_week": None if rate is None else f"{pct(rate, 0)} of the SRC arm received the contact overall",
        "forest_plot": None if itt["risk_difference"] is None else
        f"withdrawal changed by {pct(itt['risk_difference'])} as randomised ({level} interval "
        f"{interval(itt['risk_difference_ci'], pct)})",
        "extrapolation": None if force["prevented"]["itt"] is None else
        f"about {count(force['prevented']['itt'])} withdrawals prevented a year as delivered in the trial",
    }
    return texts.get(name)


def figure(path, finding_text: str | None = None) -> None:
    """Show a saved figure, numbered, with its caption and alternative text (stating its finding).

    A figure the data did not allow is not drawn; why is listed once, among the skipped
    analyses or the not-estimable notes.
    """
    path = Path(path)
    if not path.is_file():
        return
    if path.stem not in _FIGURES_SHOWN:
        _FIGURES_SHOWN.append(path.stem)
    number = _FIGURES_SHOWN.index(path.stem) + 1
    description = DESCRIPTIONS.get(path.stem, path.stem.replace("_", " "))
    if finding_text:
        description = f"{description}: {finding_text}"
    encoded = base64.b64encode(path.read_bytes()).decode("ascii")
    kind = {".svg": "image/svg+xml"}.get(path.suffix, "image/png")
    display(HTML(f'<figure><img alt="{html.escape(description)}" src="data:{kind};base64,{encoded}">'
                 f"<figcaption>Figure {number}. {html.escape(description)}.</figcaption></figure>"))


def bullets(items: list[str]) -> None:
    """A bulleted list of text that may come from the input files (names, headers): escaped, never markup."""
    if items:
        display(HTML("<ul>" + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"))


def skipped_lines(skipped: list[dict]) -> list[str]:
    """One line per analysis the extract does not support."""
    return [f"Skipped: {s['analysis']} ({s['reason']})." for s in skipped]


def not_estimable_lines(outcomes: dict) -> list[str]:
    """Why each figure of each outcome is not estimable, or its interval truncated or unbounded."""
    return [f"{OUTCOME_LABELS.get(name, name)}, {key.replace('_', ' ').replace('.', ': ')}: {reason}"
            for name, entry in outcomes.items() for key, reason in entry.get("notes", {}).items()]


def delivery_sentence(rates: dict) -> str:
    """Delivery in each arm, in words."""
    treatment, control = rates["treatment"], rates["control"]
    first = (f"{treatment['received']} of {treatment['n']} victims allocated to SRC ({pct(treatment['rate'], 0)}) "
             "received the contact" if treatment["n"] else "No report was allocated to SRC")
    second = (f"{control['received']} of {control['n']} business-as-usual victims did" if control["n"] else
              "no report was allocated to business as usual")
    return f"{first}; {second}."


_TABLES_SHOWN = [0]
_SECTION = [""]


def table(frame: pd.DataFrame, caption: str | None = None) -> None:
    """Show a table, numbered, with a caption (by default the section it belongs to); cells escaped."""
    _TABLES_SHOWN[0] += 1
    text = caption or _SECTION[0]
    rendered = frame.to_html(index=False, border=0, na_rep="–", escape=True)
    if text:
        rendered = rendered.replace(">", f"><caption>Table {_TABLES_SHOWN[0]}. {html.escape(text)}</caption>", 1)
    display(HTML(rendered))


def flow_table(flow: dict) -> pd.DataFrame:
    rows = [("Assessed (hate-flagged records)", "", "", flow["assessed"]),
            ("Excluded before randomisation", "", "", flow["excluded_before_randomisation"])]
    rows += [(f"– {reason}", "", "", n) for reason, n in flow["exclusion_reasons"].items()]
    rows.append(("Randomised", "", "", flow["randomised"]))
    for key, label in (("allocated", "Allocated"), ("received_src", "Received the contact"),
                       ("outcome_recorded", "Outcome recorded"), ("outcome_open", "Investigation still open"),
                       ("analysed", "Analysed (intention to treat)")):
        pair = flow[key]
        rows.append((label, pair["treatment"], pair["control"], pair["treatment"] + pair["control"]))
    return pd.DataFrame(rows, columns=["Stage", "SRC", "Business as usual", "Total"])


def exclusion_summary(counts: list[dict]) -> pd.DataFrame:
    """Rows not analysed, by file and reason (:func:`helpers.inputs.cleaning.exclusion_counts`): the first
    row numbers and how many in all; the exclusion log lists every one."""
    rows = [{"File": c["file"], "Reason": c["reason"], "Rows": _row_list(c["first_rows"], c["rows"])} for c in counts]
    return pd.DataFrame(rows, columns=["File", "Reason", "Rows"])


def _row_list(first_rows: list[int], total: int) -> str:
    shown = ", ".join(str(v) for v in first_rows)
    return shown if total <= len(first_rows) else f"{shown}, ... ({total:,} rows; every one in the exclusion log)"


def _applies(check: dict) -> str:
    """A check's p-value, or why it does not apply under the declared design."""
    if check.get("p_value") is None and check.get("reason"):
        return "does not apply: " + check["reason"].removeprefix("not estimable: ")
    return num(check.get("p_value"))


def design_line(results: dict) -> str | None:
    """The declared design, in a sentence, for page 1."""
    design = results.get("design") or {}
    return f"Design: {design['description']}" if design.get("description") else None


def audit_checks(audit: dict) -> pd.DataFrame:
    ratio, runs, omnibus = audit["ratio"], audit["runs"], audit["omnibus"]
    breaches = audit["threshold_rule_breaches"]
    rows = [
        ("1:1 allocation ratio (exact binomial test)", f"{ratio['treatment']} SRC, {ratio['control']} BAU",
         _applies(ratio)),
        ("Runs in the allocation sequence (Wald-Wolfowitz)", f"{runs['runs']} runs, longest {runs['longest_run']}",
         _applies(runs)),
        ("Baseline balance, all covariates (likelihood-ratio test)",
         f"chi-squared {num(omnibus['statistic'], 1)} on {omnibus['df']} df", num(omnibus["p_value"])),
        ("Baseline balance, randomisation inference (R-squared)",
         f"{audit['omnibus_randomisation']['draws']:,} re-randomisations", num(audit["omnibus_randomisation"]["p_value"])),
        ("SRC share by day of the week (chi-squared)", f"{len(audit['by_weekday']['table'])} days",
         num(audit["by_weekday"]["p_value"])),
        ("SRC share by month (chi-squared)", f"{len(audit['by_month']['table'])} months", num(audit["by_month"]["p_value"])),
        ("Allocated before the report date", str(audit["allocated_before_report"]), "–"),
        ("Allocated after the outcome was recorded", str(audit.get("allocated_after_outcome", 0)), "–"),
        ("Random numbers outside [0, 1] or not finite", str(audit.get("random_numbers_out_of_range", 0)), "–"),
        ("Reports logged twice with another date or random number", str(audit.get("conflicting_log_entries", 0)),
         "–"),
        ("Arm contradicts the random number's rule", "no random numbers" if breaches is None else str(breaches), "–"),
        ("Largest standardised difference (levels with 10+ reports)",
         num(audit["max_abs_standardised_difference"], 2), "–"),
    ]
    return pd.DataFrame(rows, columns=["Check", "Result", "p-value"])


def balance_display(balance: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """The balance table as the report shows it (its levels are the published ones: nothing is hidden)."""
    frame = pd.DataFrame(balance)
    shown = pd.DataFrame({"Characteristic": frame["covariate"], "Level": frame["level"], "Reports": frame["n"]})
    is_mean = frame["level"] == "mean"
    value = lambda v, mean: num(v, 2) if mean else pct(v)
    shown["Business as usual"] = [value(c, m) for c, m in zip(frame["control"], is_mean)]
    shown["SRC"] = [value(t, m) for t, m in zip(frame["treatment"], is_mean)]
    shown["Standardised difference"] = [NOT_ESTIMABLE if missing(v) else minus(f"{v:+.2f}")
                                        for v in frame["standardised_difference"]]
    return shown


def delivery_display(table_rows: list[dict] | pd.DataFrame, group_label: str) -> pd.DataFrame:
    columns = [group_label, "Allocated to SRC", "Received", "Delivery rate"]
    frame = pd.DataFrame(table_rows)
    if frame.empty:  # no report allocated to SRC
        return pd.DataFrame(columns=columns)
    numeric = pd.api.types.is_numeric_dtype(frame["rate"])
    rate = frame["rate"].map(lambda v: f"{v:.0%}") if numeric else frame["rate"]
    return pd.DataFrame({group_label: frame["group"], "Allocated to SRC": frame["allocated"],
                         "Received": frame["received"], "Delivery rate": rate})


def outcome_table(outcomes: dict, confidence_level: float) -> pd.DataFrame:
    level = numbers.level(confidence_level)
    rows = []
    for name, entry in outcomes.items():
        itt = entry["itt"]
        rows.append({
            "Outcome": OUTCOME_LABELS.get(name, name),
            "Business as usual": f"{entry['control']['events']}/{entry['control']['n']} ({pct(entry['control']['risk'])})",
            "SRC": f"{entry['treatment']['events']}/{entry['treatment']['n']} ({pct(entry['treatment']['risk'])})",
            f"Risk ratio ({level} CI)": with_interval(itt["risk_ratio"], itt["risk_ratio_ci"], num),
            f"Risk difference ({level} CI)": with_interval(itt["risk_difference"], itt["risk_difference_ci"], pct),
            "Exact p": num(itt["p_value_exact"]),
            "Randomisation p": num(itt["p_value_randomisation"]),
            "Exact p, one-sided*": num(itt["p_value_exact_one_sided"]),
            "Randomisation p, one-sided*": num(itt["p_value_randomisation_one_sided"]),
        })
    return pd.DataFrame(rows)


def complier_table(outcomes: dict, confidence_level: float) -> pd.DataFrame:
    level = numbers.level(confidence_level)
    rows = []
    for name, entry in outcomes.items():
        cace = entry["cace"]
        rows.append({
            "Outcome": OUTCOME_LABELS.get(name, name),
            f"Complier effect, risk difference ({level} CI)":
                with_interval(cace["risk_difference"], cace["risk_difference_ci"], pct),
            "Complier risk without SRC": pct(cace["complier_control_risk"]),
            "Complier risk with SRC": pct(cace.get("complier_treated_risk")),
            f"Relative reduction ({level} CI)":
                with_interval(cace["relative_risk_reduction"], cace["relative_risk_reduction_ci"], pct),
        })
    return pd.DataFrame(rows)


def power_table(outcomes: dict) -> pd.DataFrame:
    """The design questions for each outcome: what this trial could detect, what a trial would need."""
    rows = []
    for name, entry in outcomes.items():
        power = entry["power"]
        target, change = f"{power['target_power']:.0%}", f"{power['target_relative_reduction']:.0%}"
        direction = entry["itt"].get("one_sided_direction", "decrease")
        needed, detectable = power["n_per_arm_for_target_power"], power["minimum_detectable_difference"]
        rows.append({"Outcome": OUTCOME_LABELS.get(name, name),
                     f"Smallest change detectable with {target} power, this trial's arms, in the outcome's "
                     "stated direction (percentage points)":
                         NOT_ESTIMABLE if detectable is None else points(detectable, signed=True),
                     f"Reports per arm for {target} power to detect a {change} relative "
                     f"{'reduction' if direction == 'decrease' else 'increase'}":
                         NOT_ESTIMABLE if needed is None else f"{needed:,}"})
    return pd.DataFrame(rows)


def extrapolation_table(extrapolation: dict, confidence_level: float) -> pd.DataFrame:
    level = numbers.level(confidence_level)
    prevented, share = extrapolation["prevented"], extrapolation["share_of_hate_crimes"]
    fmt = count
    return pd.DataFrame([
        {"Scenario": "SRC as delivered in the trial (intention to treat)", "Withdrawals prevented a year": fmt(prevented["itt"]),
         f"{level} interval": interval(prevented["itt_ci"], fmt), "Share of all hate crimes": pct(share["itt"])},
        {"Scenario": "SRC delivered to every victim (complier estimate)",
         "Withdrawals prevented a year": fmt(prevented["full_compliance"]),
         f"{level} interval": interval(prevented["full_compliance_ci"], fmt),
         "Share of all hate crimes": pct(share["full_compliance"])},
    ])


def extrapolation_notes(extrapolation: dict) -> list[str]:
    """Why a prevented-withdrawals figure is not shown: one line per figure, each reason once."""
    labels = {"itt": "SRC as delivered in the trial", "full_compliance": "SRC delivered to every victim"}
    lines = [f"{labels.get(key, key)}: {reason}" for key, reason in (extrapolation.get("notes") or {}).items()]
    absolute = extrapolation.get("absolute_transport") or {}
    if absolute.get("reason"):
        lines.append(f"The absolute difference carried to the force: {absolute['reason']}")
    return lines


def _parameter_text(value) -> str:
    """A parameter as it would be written in the YAML file: null, lists and mappings as JSON."""
    import json

    if value is None or isinstance(value, (list, dict, bool)):
        return json.dumps(value, ensure_ascii=False)
    return " ".join(str(value).split())


# Parameters of the roll-out commands (srceval monitor, plan-rollout): recorded, not used by a trial run.
NOT_USED_BY_THE_TRIAL = ("monitoring", "rollout_planning")


def provenance_table(results: dict) -> pd.DataFrame:
    rows = []
    for role in ("allocation", "extract"):
        info = results["inputs"][role]
        rows.append((f"{role.title()} file", f"{info['file']} ({info['size_bytes']:,} bytes, {info['rows']} rows)"))
        if info.get("sheet") is not None:
            rows.append((f"{role.title()} sheet read", f"'{info['sheet']}': {info['sheet_reason']}"))
        rows.append((f"{role.title()} SHA-256", info["sha256"]))
        if info["dropped_identifier_columns"]:
            rows.append((f"{role.title()}: identifying columns dropped", ", ".join(info["dropped_identifier_columns"])))
    provenance = results["provenance"]
    rows += [("srceval version", provenance["package_version"]), ("Git commit", provenance["git_commit"] or "unknown"),
             ("Python", provenance["python"])]
    rows += [(f"Package: {name}", version or "not installed") for name, version in provenance.get("packages", {}).items()]
    for key, value in provenance["parameters"].items():
        if key in ("outcomes", *NOT_USED_BY_THE_TRIAL):
            continue
        if isinstance(value, dict):
            rows += [(f"Parameter: {key}.{sub}", _parameter_text(v)) for sub, v in value.items()]
        else:
            rows.append((f"Parameter: {key}", _parameter_text(value)))
    rows += [(f"Outcome codes: {k}", ", ".join(v["codes"])) for k, v in provenance["parameters"]["outcomes"].items()]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def adjusted_table(outcomes: dict, confidence_level: float) -> pd.DataFrame:
    """Unadjusted and covariate-adjusted risk differences side by side."""
    level = numbers.level(confidence_level)
    rows = []
    for name, entry in outcomes.items():
        itt = entry["itt"]
        row = {"Outcome": OUTCOME_LABELS.get(name, name),
               f"Unadjusted ({level} CI)": f"{pct(itt['risk_difference'])} ({interval(itt['risk_difference_ci'], pct)})"}
        for key, label in (("risk_difference_adjusted_lin", "Lin (2013) OLS"),
                           ("risk_difference_adjusted_logistic", "Logistic, marginal")):
            e = itt["adjusted"][key]
            row[f"{label} ({level} CI)"] = with_interval(e["estimate"], [e["conf_low"], e["conf_high"]], pct)
        rows.append(row)
    return pd.DataFrame(rows)


def weak_instrument_table(outcomes: dict, weak_instrument_f: float) -> pd.DataFrame:
    """The first-stage F, whether the instrument is weak (F below ``weak_instrument_f``) and the
    Anderson-Rubin set of each outcome's complier effect."""
    rows = []
    for name, entry in outcomes.items():
        ar = entry["cace"]["anderson_rubin"]
        f = ar["first_stage_f"]
        rows.append({"Outcome": OUTCOME_LABELS.get(name, name),
                     "First-stage F": NOT_ESTIMABLE if f is None else f"{f:,.1f}",
                     f"Weak instrument (F < {weak_instrument_f:g})": {True: "yes", False: "no", None: "–"}[ar["weak_instrument"]],
                     "Anderson-Rubin set": ar["shape"] if ar["interval"][0] is None else
                     f"{interval(ar['interval'], pct)}" + ("" if ar["shape"] == "interval" else f" ({ar['shape']})")})
    return pd.DataFrame(rows)


SUBGROUP_LABELS = {"primary_strand": "Hate strand", "offence_group": "Offence group", "borough": "Borough"}


def subgroup_table(subgroups: list[dict]) -> pd.DataFrame:
    if not subgroups:
        return pd.DataFrame({"Subgroup": ["no subgroup analysis under this design or on these data"]})
    rows = []
    for result in subgroups:
        p = result.get("interaction_p_value")
        for level in result["levels"]:
            rows.append({"Subgroup": SUBGROUP_LABELS.get(result["by"], result["by"]), "Level": level["subgroup"],
                         "Reports": level["n"], "BAU risk": pct(level["control_risk"], 0),
                         "SRC risk": pct(level["treatment_risk"], 0),
                         "Risk difference (CI)": with_interval(level["risk_difference"],
                                                                [level["conf_low"], level["conf_high"]], pct),
                         "Interaction p": num(p),
                         "Interaction p, Holm-adjusted": num(result.get("interaction_p_value_holm"))})
    return pd.DataFrame(rows)


def contact_mode_table(rows: list[dict] | None) -> pd.DataFrame:
    if rows is None:
        return pd.DataFrame({"Group": ["contact mode not recorded in the extract"]})
    return pd.DataFrame([{"Group": r["group"], "Reports": r["n"], "Withdrew": pct(r["risk"])} for r in rows])


def scenario_table(scenarios: list[dict], confidence_level: float) -> pd.DataFrame:
    level = numbers.level(confidence_level)
    fmt = count
    if not scenarios:  # no complier estimate to carry: one row that says so, not an empty table
        return pd.DataFrame([{"Share of victims contacted": "any", "Withdrawals prevented a year": NOT_ESTIMABLE,
                              f"{level} interval": "–"}])
    return pd.DataFrame([{"Share of victims contacted": f"{s['delivery_rate']:.0%}",
                          "Withdrawals prevented a year": fmt(s["prevented"]),
                          f"{level} interval": interval(s["prevented_ci"], fmt)} for s in scenarios])


def economics_table(econ: dict, reason: str = "the extract does not record how contacts were made") -> pd.DataFrame:
    """Cost outputs, then every assumption behind them, labelled as assumptions (``reason``: why there are none)."""
    if econ is None:
        return pd.DataFrame([("Cost of delivery", f"not estimated: {reason}")], columns=["Item", "Value"])
    money = lambda v: NOT_ESTIMABLE if v is None else f"£{v:,.0f}"
    if econ["cost_per_year"] is None:
        rows = [("Cost of delivery", econ.get("reason") or NOT_ESTIMABLE),
                ("Blended hourly cost", money(econ["blended_hourly_cost"]))]
    else:
        per_prevented = econ["cost_per_prevented_withdrawal"]
        rows = [("Officer hours a year (every victim offered SRC)", f"{econ['hours_per_year']:,.0f}"),
                ("Cost a year", money(econ["cost_per_year"])),
                ("Cost per withdrawal prevented", money(per_prevented) if per_prevented is not None else
                 econ.get("reason") or NOT_ESTIMABLE),
                ("  interval", "–" if per_prevented is None else interval(
                    econ["cost_per_prevented_withdrawal_ci"], lambda v: f"£{v:,.0f}")),
                ("Share of contacts by phone (the trial's)", f"{econ['phone_share']:.0%}"),
                ("Average minutes per contact", f"{econ['minutes_per_contact']:.0f}"),
                ("Blended hourly cost", money(econ["blended_hourly_cost"]))]
    rows += [(f"Assumption: {key.replace('_', ' ')}", str(value)) for key, value in econ["assumptions"].items()]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def national_table(national: dict, confidence_level: float) -> pd.DataFrame:
    """The national scenario: prevented withdrawals under the assumed withdrawal share."""
    return extrapolation_table({**national, "share_of_hate_crimes": {"itt": None, "full_compliance": None}},
                               confidence_level).drop(columns=["Share of all hate crimes"])


def plan_table(results: dict) -> pd.DataFrame:
    """Every analysis shown, with its role and whether the plan declared it before the data were read."""
    return pd.DataFrame([{"Analysis": a["analysis"], "Role": a["role"],
                          "Declared in the plan": "pre-specified" if a["prespecified"] else "exploratory"}
                         for a in results["analyses"]])


def plan_text(plan: dict) -> str:
    """The analysis plan in a few sentences, from the parameters file."""
    directions = "; ".join(f"{OUTCOME_LABELS.get(k, k).lower()}: {v}" for k, v in plan["directions"].items())
    return (f"**Analysis plan** ({plan['source']}). Primary outcome: {OUTCOME_LABELS.get(plan['primary_outcome'])}; "
            f"primary analysis: {plan['primary_analysis']}. Pre-stated directions ({directions}): one-sided tests look "
            "that way and are read against half the two-sided threshold. Adjustment covariates: "
            f"{', '.join(plan['covariates']['columns'])} ({' '.join(plan['covariates']['reason'].split())}).")


def one_sided_note(outcomes: dict) -> str:
    """The footnote of the one-sided columns: each outcome's own direction and the 2.5% reading."""
    parts = [f"{OUTCOME_LABELS.get(name, name).lower()}: {'fewer' if e['itt'].get('one_sided_direction') == 'decrease' else 'more'} with SRC"
             for name, e in outcomes.items()]
    threshold = next(iter(outcomes.values()))["itt"].get("one_sided_threshold", 0.025)
    return ("\\* One-sided: tested only in the direction stated before the trial (" + "; ".join(parts) + "). "
            f"A one-sided p is read against {threshold * 100:g}%, which matches a two-sided test at "
            f"{threshold * 200:g}%; the primary analysis is the two-sided one. A one-sided test cannot detect harm.")


def reconciliation_table(rows: list[dict]) -> pd.DataFrame:
    """The published figures, what each one is, and this run's figures that reproduce it."""
    shown = {"points": lambda v: f"{points(v)} percentage points", "percent": pct, "count": count}
    return pd.DataFrame([{"Published": r["published"], "What it is": r["is"],
                          "This report": "; ".join(NOT_ESTIMABLE if v is None else shown[r["scale"]](v)
                                                   for v in r["this_run"])} for r in rows])


def transport_table(extrapolation: dict, confidence_level: float) -> pd.DataFrame:
    """Relative and absolute transport of the trial's effect to the force, side by side."""
    level = numbers.level(confidence_level)
    fmt = count
    absolute = extrapolation.get("absolute_transport") or {"prevented": None, "prevented_ci": [None, None]}
    return pd.DataFrame([
        {"Carried to the force as": "a relative reduction (preferred)",
         "Withdrawals prevented a year": fmt(extrapolation["prevented"]["itt"]),
         f"{level} interval": interval(extrapolation["prevented"]["itt_ci"], fmt)},
        {"Carried to the force as": "an absolute difference in percentage points",
         "Withdrawals prevented a year": fmt(absolute["prevented"]),
         f"{level} interval": interval(absolute["prevented_ci"], fmt)},
    ])


COMPLIER_ASSUMPTIONS = (
    "The complier effect is the effect among victims who take the contact when it is offered. It rests on three "
    "assumptions. **Exclusion**: being allocated to SRC changes withdrawal only through the contact; the threat "
    "here is that a referral email or crime-system flag changed how the investigating officer treated the case. "
    "**Monotonicity**: no victim was contacted because of being allocated to business as usual; the threat is an "
    "officer who contacted a control victim (the contamination rate shows how often). **No interference**: one "
    "victim's allocation does not change another's withdrawal; the threat is repeat victims, or victims in the "
    "same household, reported more than once. Beyond the compliers, carrying the effect to every victim assumes "
    "that those not reached in the trial would respond as the compliers did.")


def provenance_lines(results: dict) -> list[str]:
    """Page 1: whether the data are synthetic, what is invented, the run's date and input files."""
    origin = results["inputs"].get("origin") or {}
    lines = []
    if origin.get("synthetic"):
        lines.append(f"SYNTHETIC DATA: these files were made by {origin['generator']} (seed {origin['seed']}); "
                     f"{origin['published']}; {origin['invented']}. No row describes a real person or crime.")
    else:
        lines.append("Data: the extract named below, not made by the project's generator (no synthetic manifest "
                     "matches it).")
    for role in ("allocation", "extract"):
        info = results["inputs"][role]
        sheet = f", sheet '{info['sheet']}' ({info['sheet_reason']})" if info.get("sheet") is not None else ""
        lines.append(f"{role.title()} file: {info['file']}{sheet}, SHA-256 {info['sha256']}")
    if design_line(results):
        lines.append(design_line(results))
    lines.append(f"Run on {results['provenance']['generated_at']} by srceval {results['provenance']['package_version']}"
                 f" (commit {results['provenance']['git_commit'] or 'unknown'}).")
    return lines


def _template_yaml(name: str):
    from helpers import config
    from helpers.inputs.bounded import read_yaml
    return read_yaml(config.TEMPLATES_DIR / name, what="report template")


def consort_table() -> pd.DataFrame:
    """The CONSORT 2025 checklist: each item, where the report answers it, or why it cannot."""
    rows = []
    for item in _template_yaml("consort.yml"):
        where = item.get("status") or f"section '{item['where']}'" + (f" ({item['note']})" if item.get("note") else "")
        rows.append({"Item": item["item"], "Topic": item["topic"], "Where in this report": where})
    return pd.DataFrame(rows)


def references() -> list[str]:
    """The full references the methods notes cite."""
    return [entry["text"] for entry in _template_yaml("references.yml")]


def limitations(results: dict) -> list[str]:
    """The limitations a reader must weigh, written from this run's results."""
    flow, attrition = results["flow"], results["outcomes"]["attrition"]
    origin = results["inputs"].get("origin") or {}
    boroughs = results.get("trial", {}).get("boroughs") or []
    rate = results["compliance"]["treatment_received_rate"]
    lines = []
    if origin.get("synthetic"):
        lines.append("The data are synthetic: the withdrawal counts reproduce the published trial, but the charge "
                     "and positive-outcome counts and every baseline characteristic are invented, so any finding "
                     "that rests on them (balance, adjustment, subgroups, delivery by area) illustrates the method, "
                     "not the trial.")
    lines.append(f"One trial of {flow['randomised']} reports: the interval of the effect on withdrawal is wide, and "
                 "charges and positive outcomes are too rare to compare.")
    identification = results.get("identification") or {}
    if identification.get("identified") is False:
        lines.append(f"No effect of SRC can be estimated: {identification['reason']}.")
    elif rate is not None and rate < 1:
        lines.append(f"Delivery was incomplete ({pct(rate, 0)} of the SRC arm): the complier effect assumes "
                     "exclusion, monotonicity and no interference, and carrying it to every victim assumes that "
                     "those not reached would respond as those reached did.")
    unnamed = results.get("trial", {}).get("boroughs_not_named") or 0
    places = ", ".join(boroughs) + (f", and {unnamed} not named: boroughs of few reports are combined with others"
                                    if unnamed else "")
    lines.append(f"Generalisability: the trial ran in {len(boroughs) + unnamed} borough(s) ({places}); the "
                 "force-wide and national figures assume the effect carries to other areas, years and baseline "
                 "rates of withdrawal, which the trial cannot test.")
    lines.append("No registration, protocol or pre-trial analysis plan was published: the plan in this report was "
                 "declared for this re-analysis before the run reads the data, not before the trial.")
    open_cases = sum(flow["outcome_open"].values()) if isinstance(flow.get("outcome_open"), dict) else 0
    if open_cases:
        lines.append(f"{open_cases} investigation(s) were still open and are left out of the outcome analysis; "
                     "the bounds show how far they could move it.")
    if attrition["cace"]["weak_instrument"] and identification.get("identified") is not False:
        lines.append(f"The instrument is weak (first-stage F below {results['thresholds']['weak_instrument_f']:g}): read the Anderson-Rubin set, not the Wald "
                     "interval, for the complier effect.")
    return lines


def predictors_table(predictors: dict) -> pd.DataFrame:
    """Odds ratios of delivery by baseline characteristic (within the SRC arm)."""
    terms = pd.DataFrame(predictors["terms"])
    return pd.DataFrame({"Characteristic": terms["term"], "Odds ratio": terms["odds_ratio"].map(lambda v: num(v, 2)),
                         "Interval": [interval([lo, hi], lambda v: num(v, 2))
                                      for lo, hi in zip(terms["conf_low"], terms["conf_high"])],
                         "p": terms["p_value"].map(num)})


def biased_table(estimates: list[dict], confidence_level: float) -> pd.DataFrame:
    """Per-protocol and as-treated risk differences, with their intervals, for every outcome."""
    frame = pd.DataFrame(estimates)
    rows = frame[frame["estimand"].isin(["risk_difference_per_protocol", "risk_difference_as_treated"])]
    level = numbers.level(confidence_level)
    return pd.DataFrame({"Outcome": rows["outcome"].map(lambda o: OUTCOME_LABELS.get(o, o)),
                         "Comparison": rows["method"],
                         f"Risk difference ({level} CI)": [with_interval(e, [lo, hi], pct) for e, lo, hi in
                                                         zip(rows["estimate"], rows["conf_low"], rows["conf_high"])]})
