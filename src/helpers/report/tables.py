"""Tables for the notebooks and the report, formatted for people, and how a notebook shows them.

Numbers come from the stage results; these functions only choose labels and rounding. The
report's words are in its section templates (:mod:`helpers.report.sections`), not here.
"""
from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd
from IPython.display import HTML, display

from helpers.pipeline.results import lookup
from helpers.report import layout, numbers
from helpers.report.figures import narrow_path
from helpers.report.findings import FINDINGS, finding  # noqa: F401 - the notebooks and tests read them here
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
    """A section heading the report's table of contents picks up."""
    display(HTML(f'<h{level} id="{anchor}">{text}</h{level}>'))


def note(text: str) -> None:
    """A methods note for reviewers, set apart from the narrative."""
    display(HTML(f'<p class="methods">{html.escape(text)}</p>'))


_FIGURES_SHOWN: list[str] = []


def figure(path, caption: str) -> None:
    """Show a saved figure, numbered, with its caption as its alternative text (both state its finding).

    Where the phone's version of the figure exists (:func:`helpers.report.figures.narrow_path`),
    a screen narrower than 700 px shows it instead; print always takes the page's. A figure the
    data did not allow is not drawn; why is listed once, among the skipped analyses or the
    not-estimable notes.
    """
    path = Path(path)
    if not path.is_file():
        return
    if path.stem not in _FIGURES_SHOWN:
        _FIGURES_SHOWN.append(path.stem)
    number = _FIGURES_SHOWN.index(path.stem) + 1
    narrow = narrow_path(path)
    source = (f'<source media="(max-width: 700px)" srcset="{data_uri(narrow)}">' if narrow.is_file() else "")
    display(HTML(f'<figure><picture>{source}<img alt="{html.escape(caption)}." src="{data_uri(path)}"></picture>'
                 f"<figcaption>Figure {number}. {html.escape(caption)}.</figcaption></figure>"))


def data_uri(path: Path) -> str:
    """A saved figure as a data: address, so the report is one self-contained file."""
    kind = {".svg": "image/svg+xml"}.get(path.suffix, "image/png")
    return f"data:{kind};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def bullets(items: list[str], kind: str | None = None) -> None:
    """A bulleted list of text that may come from the input files (names, headers): escaped, never markup.
    ``kind`` is the list's class: "flags" (page 1's critical flags) or "provenance" (page 1's compact block)."""
    if items:
        opening = f'<ul class="{kind}">' if kind else "<ul>"
        display(HTML(opening + "".join(f"<li>{html.escape(str(item))}</li>" for item in items) + "</ul>"))


def skipped_lines(skipped: list[dict]) -> list[str]:
    """One line per analysis the extract does not support."""
    return [f"Skipped: {s['analysis']} ({s['reason']})." for s in skipped]


def delivery_sentence(allocated: dict, received: dict) -> str:
    """Delivery in each arm, in words, from the counts allocated to and receiving SRC in each arm
    (``treatment`` and ``control``)."""
    treated, control = allocated["treatment"], allocated["control"]
    first = (f"{received['treatment']} of {treated} victims allocated to SRC ({pct(received['treatment'] / treated, 0)}) "
             "received the contact" if treated else "No report was allocated to SRC")
    second = (f"{received['control']} of {control} business-as-usual victims did" if control
              else "no report was allocated to business as usual")
    return f"{first}; {second}."


_TABLES_SHOWN = [0]
SHORT_TABLE_ROWS = 12  # a table this short is never split across pages


def table(frame: pd.DataFrame, caption: str | None = None) -> None:
    """Show a table, numbered when it has a caption (which says what the table shows); see :func:`table_html`."""
    if caption:
        _TABLES_SHOWN[0] += 1
    display(HTML(table_html(frame, f"Table {_TABLES_SHOWN[0]}. {caption}" if caption else None)))


def table_html(frame: pd.DataFrame, caption: str | None = None) -> str:
    """A table as HTML with its column widths: numbers on one line, words never split, cells escaped.

    The widths (:func:`helpers.report.layout.column_layout`) go in a ``<colgroup>``, so that the
    PDF lays the table out with ``table-layout: fixed``; a table too wide for a portrait page is
    set on a landscape one. The caption is kept with the table's first rows.
    """
    header = [str(column) for column in frame.columns]
    rows = [[_cell_text(value) for value in row] for row in frame.itertuples(index=False, name=None)]
    fitted = layout.column_layout(header, rows)
    numeric = fitted.numeric if fitted else (False,) * len(header)
    classes = ["data"] + (["landscape"] if fitted and fitted.landscape else []) + \
              (["short"] if len(rows) <= SHORT_TABLE_ROWS else []) + ([] if fitted else ["unfitted"])
    kind = lambda is_number: ' class="num"' if is_number else ""
    parts = [f'<table class="{" ".join(classes)}"'
             + (f' style="--table-width: {fitted.width:.2f}em">' if fitted else ">")]
    if caption:
        parts.append(f"<caption>{html.escape(caption)}</caption>")
    if fitted:
        parts.append("<colgroup>" + "".join(f'<col{kind(n)} style="--w: {w:.2f}em">'
                                            for w, n in zip(fitted.widths, numeric)) + "</colgroup>")
    parts.append("<thead><tr>" + "".join(f'<th scope="col"{kind(n)}>{_cell_html(title)}</th>'
                                         for title, n in zip(header, numeric)) + "</tr></thead><tbody>")
    cell = lambda text, is_number: (kind(is_number) if is_number else ' class="hash"' if layout.has_hash(text) else "")
    parts += ["<tr>" + "".join(f"<td{cell(text, n)}>{_cell_html(text)}</td>" for text, n in zip(row, numeric)) + "</tr>"
              for row in rows]
    return "\n".join(parts) + "</tbody></table>"  # a row a line: a notebook's diff shows which rows changed


def _cell_text(value) -> str:
    """A cell as text: counts with thousands separators and a true minus, a missing value as a dash."""
    if isinstance(value, str):
        return value
    if missing(value):
        return "–"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)) or (isinstance(value, (float, np.floating)) and float(value).is_integer()):
        return count(value)
    if isinstance(value, (float, np.floating)):
        return minus(f"{value:g}")
    return str(value)


def _cell_html(text: str) -> str:
    return layout.with_wrap_points(text)


def flow_table(flow: dict, exclusions: list[dict] | None = None) -> pd.DataFrame:
    """The CONSORT flow, with each reason for exclusion before randomisation: from results.json's ``exclusions``,
    or, for stage 1's own flow, from its ``exclusion_reasons``."""
    rows = [("Assessed (hate-flagged records)", "", "", flow["assessed"]),
            ("Excluded before randomisation", "", "", flow["excluded_before_randomisation"])]
    reasons = (flow["exclusion_reasons"].items() if exclusions is None else
               [(e["reason"], e["rows"]) for e in exclusions if e["stage"] == "before randomisation"])
    rows += [(f"– {reason}", "", "", n) for reason, n in reasons]
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


def _applies(check: dict, p_value: float | None) -> str:
    """A check's p-value, or why it does not apply under the declared design."""
    if p_value is None and check.get("reason"):
        return "does not apply: " + check["reason"].removeprefix("not estimable: ")
    return num(p_value)


def audit_checks(audit: dict) -> pd.DataFrame:
    """The allocation checks, from results.json's ``allocation_audit`` (stage 2's checks through
    :func:`helpers.pipeline.results.audit_section`)."""
    ratio, runs, omnibus = audit["ratio"], audit["runs"], audit["omnibus"]
    breaches = audit["threshold_rule_breaches"]
    rows = [
        ("1:1 allocation ratio (exact binomial test)", f"{ratio['treatment']} SRC, {ratio['control']} BAU",
         _applies(ratio, audit["allocation_ratio_p_value"])),
        ("Runs in the allocation sequence (Wald-Wolfowitz)", f"{runs['runs']} runs, longest {runs['longest_run']}",
         _applies(runs, runs["p_value"])),
        ("Baseline balance, all covariates (likelihood-ratio test)",
         f"chi-squared {num(omnibus['statistic'], 1)} on {omnibus['df']} df", num(audit["balance_omnibus_p_value"])),
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
    return pd.DataFrame({group_label: frame["group"], "Allocated to SRC": frame["allocated"],
                         "Received": frame["received"], "Delivery rate": frame["rate"].map(lambda v: pct(v, 0))})


def ward_table(table_rows: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Delivery in each ward published on its own, with its borough; every ward too small to publish alone (its
    borough's "other wards") in one line that names none of them."""
    from helpers.methods.disclosure import OTHER

    columns = ["Ward", "Borough", "Allocated to SRC", "Received", "Delivery rate"]
    frame = pd.DataFrame(table_rows)
    if frame.empty:
        return pd.DataFrame(columns=columns)
    combined = frame["group"] == OTHER["ward"]  # a ward named alone is shown, even in a group of boroughs
    shown = delivery_display(frame[~combined], "Ward")
    shown.insert(1, "Borough", frame.loc[~combined, "borough"].to_numpy())
    others = frame[combined]
    if len(others):
        allocated, received = int(others["allocated"].sum()), int(others["received"].sum())
        line = {"Ward": "every other ward (each too small to show alone)", "Borough": "–",
                "Allocated to SRC": allocated, "Received": received,
                "Delivery rate": pct(received / allocated, 0) if allocated else "–"}
        shown = pd.concat([shown, pd.DataFrame([line])], ignore_index=True)
    return shown[columns]


def outcome_table(outcomes: dict, confidence_level: float) -> pd.DataFrame:
    """Each outcome's events and risk by arm, with the risk ratio and risk difference (the p-values
    are in :func:`p_value_table`, so that both tables fit a portrait page)."""
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
        })
    return pd.DataFrame(rows)


def p_value_table(outcomes: dict) -> pd.DataFrame:
    """Each outcome's p-values: exact and by randomisation, two-sided and one-sided (see :func:`one_sided_note`)."""
    return pd.DataFrame([{
        "Outcome": OUTCOME_LABELS.get(name, name),
        "Exact p": num(entry["itt"]["p_value_exact"]),
        "Randomisation p": num(entry["itt"]["p_value_randomisation"]),
        "Exact p, one-sided*": num(entry["itt"]["p_value_exact_one_sided"]),
        "Randomisation p, one-sided*": num(entry["itt"]["p_value_randomisation_one_sided"]),
    } for name, entry in outcomes.items()])


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
        rows.append((f"{role.title()} SHA-256", results["inputs"][f"{role}_sha256"]))
        if info["dropped_identifier_columns"]:
            rows.append((f"{role.title()}: identifying columns dropped", ", ".join(info["dropped_identifier_columns"])))
    provenance = results["provenance"]
    rows += [("srceval version", provenance["package_version"]), ("Git commit", provenance["git_commit"] or "unknown"),
             ("Python", provenance["python"])]
    if provenance.get("packages"):
        rows.append(("Packages", ", ".join(f"{name} {version or 'not installed'}"
                                          for name, version in provenance["packages"].items())))
    for key, value in provenance["parameters"].items():
        if key in ("outcomes", *NOT_USED_BY_THE_TRIAL):
            continue
        if isinstance(value, dict):
            rows += [(f"Parameter: {key}.{sub}", _parameter_text(v)) for sub, v in value.items()]
        else:
            rows.append((f"Parameter: {key}", _parameter_text(value)))
    rows += [(f"Outcome codes: {k}", ", ".join(v["codes"])) for k, v in provenance["parameters"]["outcomes"].items()]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def adjusted_table(outcomes: dict, estimates: list[dict], confidence_level: float) -> pd.DataFrame:
    """Unadjusted and covariate-adjusted risk differences side by side (the adjusted ones from ``estimates``)."""
    level = numbers.level(confidence_level)
    rows = []
    for name, entry in outcomes.items():
        itt = entry["itt"]
        row = {"Outcome": OUTCOME_LABELS.get(name, name),
               f"Unadjusted ({level} CI)": f"{pct(itt['risk_difference'])} ({interval(itt['risk_difference_ci'], pct)})"}
        for key, label in (("risk_difference_adjusted_lin", "Lin (2013) OLS"),
                           ("risk_difference_adjusted_logistic", "Logistic, marginal")):
            e = estimate_row(estimates, name, key)
            why = (e.get("reason") or "").removeprefix("not estimable: ") or "the data do not support it"
            row[f"{label} ({level} CI)"] = (with_interval(e["estimate"], [e["conf_low"], e["conf_high"]], pct)
                                            if e["estimate"] is not None else f"{NOT_ESTIMABLE}: {why}")
        rows.append(row)
    return pd.DataFrame(rows)


def weak_instrument_table(outcomes: dict, weak_instrument_f: float) -> pd.DataFrame:
    """The first-stage F, whether the instrument is weak (F below ``weak_instrument_f``) and the
    Anderson-Rubin set of each outcome's complier effect."""
    rows = []
    for name, entry in outcomes.items():
        cace = entry["cace"]
        f = cace["first_stage_f"]
        rows.append({"Outcome": OUTCOME_LABELS.get(name, name),
                     "First-stage F": NOT_ESTIMABLE if f is None else f"{f:,.1f}",
                     f"Weak instrument (F < {weak_instrument_f:g})": {True: "yes", False: "no", None: "–"}[cace["weak_instrument"]],
                     "Anderson-Rubin set": _anderson_rubin_cell(cace)})
    return pd.DataFrame(rows)


def _anderson_rubin_cell(cace: dict) -> str:
    """The Anderson-Rubin set, or "not estimable" where the complier effect itself is (a set beside no effect would
    read as a finding)."""
    ar = cace["anderson_rubin"]
    if missing(cace["risk_difference"]):
        return NOT_ESTIMABLE
    if ar["interval"][0] is None:
        return ar["shape"]
    return interval(ar["interval"], pct) + ("" if ar["shape"] == "interval" else f" ({ar['shape']})")


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


def economics_table(econ: dict, assumptions: dict,
                    reason: str = "the extract does not record how contacts were made") -> pd.DataFrame:
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
    rows += [(f"Assumption: {key.replace('_', ' ')}", str(value)) for key, value in assumptions.items()]
    return pd.DataFrame(rows, columns=["Item", "Value"])


def national_table(national: dict, confidence_level: float) -> pd.DataFrame:
    """The national scenario: prevented withdrawals under the assumed withdrawal share."""
    return extrapolation_table({**national, "share_of_hate_crimes": {"itt": None, "full_compliance": None}},
                               confidence_level).drop(columns=["Share of all hate crimes"])


def plan_table(results: dict) -> pd.DataFrame:
    """Every analysis shown, with its role and whether the plan declared it before the data were read."""
    return pd.DataFrame([{"Analysis": a["analysis"], "Role": a["role"],
                          "Declared in the plan": "declared for this re-analysis" if a["prespecified"] else "exploratory"}
                         for a in results["analyses"]])


def one_sided_note(outcomes: dict, confidence_level: float) -> str:
    """The footnote of the one-sided columns: each outcome's own direction and the half-alpha reading."""
    parts = [f"{OUTCOME_LABELS.get(name, name).lower()}: {'fewer' if e['itt'].get('one_sided_direction') == 'decrease' else 'more'} with SRC"
             for name, e in outcomes.items()]
    threshold = one_sided_threshold(confidence_level)
    return ("\\* One-sided: tested only in the direction declared for this re-analysis (" + "; ".join(parts) + "). "
            f"A one-sided p is read against {threshold * 100:g}%, which matches a two-sided test at "
            f"{threshold * 200:g}%; the primary analysis is the two-sided one. A one-sided test cannot detect harm.")


def reconciliation_table(results: dict) -> pd.DataFrame:
    """The published figures, what each one is, and this run's figures that reproduce it (read by their paths)."""
    shown = {"points": lambda v: f"{points(v)} percentage points", "percent": pct, "count": count}
    return pd.DataFrame([{"Published": r["published"], "What it is": r["is"],
                          "This report": "; ".join(NOT_ESTIMABLE if v is None else shown[r["scale"]](v)
                                                   for v in (lookup(results, path) for path in r["results"]))}
                         for r in results["reconciliation"]])


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


def _template_yaml(name: str):
    from helpers import config
    from helpers.inputs.bounded import read_yaml
    return read_yaml(config.TEMPLATES_DIR / name, what="report template")


def references() -> list[str]:
    """The full references the methods notes cite."""
    return [entry["text"] for entry in _template_yaml("references.yml")]


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


def estimate_row(estimates: list[dict], outcome: str, estimand: str) -> dict:
    """The row of the estimates table for one outcome and estimand."""
    return next(row for row in estimates if row["outcome"] == outcome and row["estimand"] == estimand)


def one_sided_threshold(confidence_level: float) -> float:
    """The level a one-sided p-value is read against: half the two-sided alpha."""
    return (1 - confidence_level) / 2
