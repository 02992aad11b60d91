"""One function per stage notebook: compute with the stage's module, write its files.

A stage reads only what earlier stages wrote (the analysis table, the stage results), never
their state, so any stage can be rerun alone.
"""
from __future__ import annotations

import pandas as pd

from . import audit, compliance, declared_design, disclosure, economics, extrapolation, figures, subgroups
from .cleaning import clean_inputs
from .context import StageContext
from .estimates import tidy
from .parameters import load_population
from .provenance import data_origin

OUTCOMES = ("attrition", "charge", "positive_outcome")

# What each optional column of the input contract makes possible: without it (absent, or with
# no value recorded) that analysis is skipped with one line, and nothing else changes.
OPTIONAL_ANALYSES = {
    "random_number": "audit of the random number's documented threshold rule",
    "src_completed_on": "days from report to contact (table and figure)",
    "src_mode": "how contacts were made, withdrawal by contact mode, and the cost of delivery",
    "outcome_on": "date of the last outcome recorded (end of follow-up)",
    "victim_age_band": "baseline balance on the victim's age band",
    "victim_sex": "baseline balance on the victim's sex",
    "repeat_victim": "baseline balance on repeat victimisation, and adjustment for it where the plan names it",
    "suspect_identified": "baseline balance on whether a suspect was identified, and adjustment for it where the "
                          "plan names it",
}
NOT_RECORDED = "not recorded"


def recorded(data: pd.DataFrame, column: str) -> bool:
    """Whether the extract records any value of an optional column."""
    if column not in data:
        return False
    values = data[column]
    return bool((values.notna() & (values.astype("string") != NOT_RECORDED)).any())


def skipped_analyses(data: pd.DataFrame) -> list[dict]:
    """One line per analysis the extract's optional columns do not support."""
    return [{"analysis": analysis, "reason": f"the extract records no '{column}' (an optional column)"}
            for column, analysis in OPTIONAL_ANALYSES.items() if not recorded(data, column)]


def data_cleaning(ctx: StageContext) -> dict:
    """Stage 1: validated, joined analysis table and exclusion log."""
    cleaned = clean_inputs(ctx.allocation_path, ctx.extract_path, ctx.params["outcomes"], sheet=ctx.sheets,
                           limits=ctx.params["input_limits"])
    cleaned.analysis.to_parquet(ctx.files.analysis_table, index=False)
    cleaned.write_exclusion_log(ctx.files.exclusion_log)
    exclusions = cleaned.exclusions.drop(columns=["crime_ref"])  # row numbers identify; references need not
    analysis = cleaned.analysis
    trial = {"reported_from": analysis["reported_on"].min(), "reported_to": analysis["reported_on"].max(),
             "boroughs": sorted(analysis["borough"].unique()),
             "last_outcome_on": analysis["outcome_on"].max() if recorded(analysis, "outcome_on") else None}
    result = {"inputs": {**cleaned.inputs, "origin": data_origin(ctx.allocation_path, ctx.extract_path)},
              "flow": cleaned.flow, "warnings": cleaned.warnings, "trial": trial,
              "exclusions": exclusions, "analysis_rows": int(len(analysis)), "skipped": skipped_analyses(analysis)}
    return ctx.write_stage_result("01_data_cleaning", result)


def allocation_audit(ctx: StageContext) -> dict:
    """Stage 2: integrity of the allocation and baseline balance."""
    data = ctx.read_analysis_table()
    flow = ctx.read_stage_result("01_data_cleaning")["flow"]
    rule = ctx.params["allocation_rule"]
    design = ctx.params["design"]
    checks = audit.allocation_audit(data, threshold=float(rule["threshold"]), below=rule["below"], draws=ctx.draws,
                                    seed=ctx.seed, design=design, units=declared_design.units(data, design))
    # Small levels of a characteristic are hidden before anything is written or drawn.
    checks["balance"] = disclosure.suppress_balance(checks["balance"], threshold=ctx.params["disclosure_threshold"])
    blocks = checks.get("design", {}).get("blocks")
    if blocks is not None and design["blocks"] != "borough":  # below borough level: small counts hidden
        checks["design"]["blocks"] = disclosure.suppress(blocks, ["reports", "src", "bau"], total="reports",
                                                         rate="share", threshold=ctx.params["disclosure_threshold"])
    figures.flow_diagram(flow, ctx.files.figure("flow_diagram"))
    shown = checks["balance"][~checks["balance"]["suppressed"]] if len(checks["balance"]) else checks["balance"]
    figures.balance_plot(shown, ctx.files.figure("balance"), large=audit.LARGE_STANDARDISED_DIFFERENCE)
    return ctx.write_stage_result("02_allocation_audit", checks)


def compliance_analysis(ctx: StageContext) -> dict:
    """Stage 3: delivery of the contact, by arm and by characteristic."""
    data = ctx.read_analysis_table()
    threshold = int(ctx.params["disclosure_threshold"])
    months = data.assign(month=data["reported_on"].dt.strftime("%Y-%m"))
    counts, protect = ["allocated", "received"], dict(threshold=threshold, total="allocated")
    wards = compliance.delivery_by(data, ["borough", "ward"])
    # A borough whose hidden ward cannot be hidden among its other wards is hidden in the borough table.
    exposed = disclosure.suppressed_groups(wards, counts, group="borough", **protect)
    boroughs = compliance.delivery_by(data, "borough")
    result = {
        "rates": compliance.delivery_rates(data, alpha=ctx.alpha, clusters=(
            declared_design.units(data, ctx.params["design"]) if ctx.params["design"]["assignment"] == "cluster"
            else None)),
        "by_borough": disclosure.suppress(boroughs, counts, forced=boroughs["group"].isin(exposed), **protect),
        "by_month": disclosure.suppress(compliance.delivery_by(months, "month"), counts, **protect),
        "by_hate_strand": disclosure.suppress(compliance.delivery_by_strand(data, audit.STRAND_COVARIATES), counts,
                                              **protect),
        "by_ward": disclosure.suppress(wards.rename(columns={"borough": "in borough"}), counts, group="in borough",
                                       **protect),
        "contact_modes": compliance.contact_modes(data) if recorded(data, "src_mode") else None,
        "contact_timing": compliance.contact_timing(data),
        "predictors_of_delivery": compliance.predictors_of_delivery(data, alpha=ctx.alpha),
        "disclosure_threshold": threshold,
    }
    figures.delivery_over_time(data, ctx.files.figure("delivery_by_week"))
    if result["contact_timing"]["n"]:
        figures.contact_timing_plot(data, ctx.files.figure("contact_timing"))
    return ctx.write_stage_result("03_compliance_analysis", result)


def effect_estimation(ctx: StageContext) -> dict:
    """Stage 4: intention-to-treat and complier effects for every outcome."""
    data = ctx.read_analysis_table()
    design, plan = ctx.params["design"], ctx.params["analysis_plan"]
    outcomes, rows = {}, []
    for name in OUTCOMES:
        # The declared design chooses each figure's estimator (complete randomisation: estimation's own).
        entry, estimates = declared_design.outcome_estimates(
            data, name, design=design, codes=ctx.params["outcomes"][name]["codes"], alpha=ctx.alpha,
            draws=ctx.draws, seed=ctx.seed, target_power=float(ctx.params["target_power"]),
            direction=plan["directions"][name], plan=plan)
        outcomes[name] = entry
        rows += estimates
    table = tidy(rows)
    figures.forest_plot(forest_rows(table), ctx.files.figure("forest_plot"),
                        confidence_level=float(ctx.params["confidence_level"]))
    by_columns, not_valid = declared_design.valid_subgroups(plan["subgroups"]["columns"], design)
    subgroup_results = subgroups.adjust_families([subgroups.subgroup_effects(data, "attrition", by, alpha=ctx.alpha)
                                                  for by in by_columns if by in data])
    result = {"outcomes": outcomes, "estimates": table, "subgroups": subgroup_results,
              "contact_mode": compliance.outcome_by_contact_mode(data, "attrition") if recorded(data, "src_mode")
              else None,
              "design": declared_design.design_result(design, data, outcomes, plan["primary_outcome"], not_valid)}
    return ctx.write_stage_result("04_effect_estimation", result)


def forest_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The risk-difference rows of the estimates table, labelled for the forest plot."""
    labels = {"risk_difference": "as randomised (ITT)", "risk_difference_adjusted_lin": "ITT, adjusted (Lin)",
              "risk_difference_adjusted_logistic": "ITT, adjusted (logistic)",
              "complier_average_causal_effect": "if delivered (complier)",
              "risk_difference_per_protocol": "per protocol (biased)", "risk_difference_as_treated": "as treated (biased)"}
    names = {"attrition": "Withdrawal", "charge": "Charge", "positive_outcome": "Positive outcome"}
    rows = table[table["estimand"].isin(labels)].copy()
    rows["label"] = [f"{names.get(o, o)}: {labels[e]}" for o, e in zip(rows["outcome"], rows["estimand"])]
    return rows.reset_index(drop=True)


def _scenario_rates(ctx: StageContext) -> list[float]:
    """The parameters' delivery shares, with the trial's own (rounded to a percent) among them."""
    rate = ctx.read_stage_result("03_compliance_analysis")["rates"]["treatment"]["rate"]
    rates = set(ctx.params["delivery_scenarios"]) | ({round(rate, 2)} if rate else set())
    return sorted(rates)


def extrapolate(ctx: StageContext) -> dict:
    """Stage 5: force-wide and national figures, with intervals carried from the trial."""
    attrition = ctx.read_stage_result("04_effect_estimation")["outcomes"]["attrition"]
    population_figures = load_population(ctx.params)
    key = ctx.params["population"]
    force = extrapolation.force_extrapolation(attrition, population_figures[key], key)
    force["absolute_transport"] = extrapolation.absolute_transport(attrition, force["hate_crimes"], force["withdrawals"])
    result = {"extrapolation": force,
              "delivery_scenarios": extrapolation.delivery_scenarios(attrition, force["withdrawals"],
                                                                         rates=_scenario_rates(ctx),
                                                                         hate_crimes=force["hate_crimes"])}
    figures.extrapolation_plot(force["prevented"], ctx.files.figure("extrapolation"),
                               population_label=force["population"],
                               confidence_level=float(ctx.params["confidence_level"]))
    delivery = ctx.read_stage_result("03_compliance_analysis")
    result["economics"] = None
    if delivery["contact_modes"] is not None:  # the cost rests on the trial's mix of calls and visits
        result["economics"] = economics.economics(attrition, force, delivery, ctx.params["economics"])
        curve = economics.cost_curve(attrition, force, ctx.params["economics"], result["economics"]["phone_share"])
        figures.cost_plot(curve, ctx.files.figure("cost_per_prevented"), population_label=force["population"])
    share = ctx.params["national_withdrawal_share"]
    assumption = "withdrawal share set in the parameters file"
    if share is None:
        share, assumption = force["withdrawals"] / force["hate_crimes"], f"withdrawal share assumed equal to the " \
                                                                          f"{force['population']} share"
    result["national"] = extrapolation.national_scenario(attrition, population_figures,
                                                         key=ctx.params["national_population"], assumed_share=share,
                                                         assumption=assumption)
    curve = extrapolation.sensitivity_curve(attrition, result["national"]["hate_crimes"])
    if curve is not None:
        figures.sensitivity_plot(curve, ctx.files.figure("national_sensitivity"),
                                 label=result["national"]["population"], assumed_share=share)
    return ctx.write_stage_result("05_extrapolation", result)
