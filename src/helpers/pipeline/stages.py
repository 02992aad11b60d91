"""One function per stage notebook: compute with the stage's module, write its files.

A stage reads only what earlier stages wrote (the analysis table, the stage results), never
their state, so any stage can be rerun alone.
"""
from __future__ import annotations

import pandas as pd

from helpers.inputs.cleaning import CleaningResult, clean_inputs, cleaning_settings
from helpers.inputs.provenance import data_origin
from helpers.methods import (
    audit,
    compliance,
    disclosure,
    dispatch,
    economics,
    estimation,
    extrapolation,
    subgroups,
    tidy,
)
from helpers.parameters import OUTCOME_NAMES, load_population, short_label
from helpers.pipeline.context import StageContext
from helpers.report import figures

# Comparisons of groups that selected themselves: shown for contrast, never part of the plan.
EXPLORATORY_ESTIMANDS = ("risk_difference_per_protocol", "risk_difference_as_treated")

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


# Each stage is a few named steps; its notebook runs the same steps one section at a time and shows
# what each returns, and the stage function below runs them in a row (the tests' fast path).

# -- Stage 1: data cleaning -------------------------------------------------------------------

def clean(ctx: StageContext) -> CleaningResult:
    """Read both files, check them against the input contract, join them and log every exclusion.

    ``srceval run`` checks the contract before any kernel starts, which cleans both files; it hands
    what it cleaned over (``checked_dir``) rather than have this stage do the same work twice. It is
    used only if it was made from these very files (same SHA-256) with the same settings; otherwise
    they are cleaned here.
    """
    settings = cleaning_settings(ctx.params, ctx.sheets)
    if ctx.checked_dir is not None:
        checked = CleaningResult.load(ctx.checked_dir, ctx.allocation_path, ctx.extract_path, settings)
        if checked is not None:
            return checked
    return clean_inputs(ctx.allocation_path, ctx.extract_path, settings["outcomes"], sheet=settings["sheets"],
                        limits=settings["input_limits"])



def write_cleaning(ctx: StageContext, cleaned: CleaningResult) -> dict:
    """Write the analysis table, the exclusion log and the stage result (no crime reference in it)."""
    cleaned.write_analysis_table(ctx.files.analysis_table)
    cleaned.write_exclusion_log(ctx.files.exclusion_log)
    exclusions = cleaned.exclusions.drop(columns=["crime_ref"], errors="ignore")  # row numbers are enough
    analysis = cleaned.analysis
    trial = {"reported_from": analysis["reported_on"].min(), "reported_to": analysis["reported_on"].max(),
             "boroughs": sorted(analysis["borough"].unique()),
             "last_outcome_on": analysis["outcome_on"].max() if recorded(analysis, "outcome_on") else None}
    result = {"inputs": {**cleaned.inputs, "origin": data_origin(ctx.allocation_path, ctx.extract_path)},
              "flow": cleaned.flow, "warnings": cleaned.warnings, "trial": trial,
              "exclusions": exclusions, "analysis_rows": int(len(analysis)), "skipped": skipped_analyses(analysis)}
    return ctx.write_stage_result("01_data_cleaning", result)


def data_cleaning(ctx: StageContext) -> dict:
    """Stage 1: validated, joined analysis table and exclusion log."""
    return write_cleaning(ctx, clean(ctx))


# -- Stage 2: allocation audit ----------------------------------------------------------------

def audit_allocation(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Every integrity check of the allocation and the baseline balance, under the declared design."""
    rule, design = ctx.params["allocation_rule"], ctx.params["design"]
    checks = audit.allocation_audit(data, threshold=float(rule["threshold"]), below=rule["below"], draws=ctx.draws,
                                    seed=ctx.seed, design=design, units=dispatch.units(data, design))
    return {**checks, "thresholds": {"flag_p_value": audit.FLAG_P_VALUE, "min_level_count": audit.MIN_LEVEL_COUNT,
                                     "large_standardised_difference": audit.LARGE_STANDARDISED_DIFFERENCE}}


def protect_audit(ctx: StageContext, checks: dict) -> dict:
    """Hide small levels of a characteristic (and small blocks) before anything is written or drawn."""
    checks = dict(checks)
    checks["balance"] = disclosure.suppress_balance(checks["balance"], threshold=ctx.params["disclosure_threshold"])
    blocks = checks.get("design", {}).get("blocks")
    if blocks is not None and ctx.params["design"]["blocks"] != "borough":  # below borough level: counts hidden
        checks["design"] = {**checks["design"], "blocks": disclosure.suppress(
            blocks, ["reports", "src", "bau"], total="reports", rate="share",
            threshold=ctx.params["disclosure_threshold"])}
    return checks


def audit_figures(ctx: StageContext, checks: dict, flow: dict) -> dict:
    """The CONSORT flow diagram and the balance plot (suppressed levels left out)."""
    balance = checks["balance"]
    shown = balance[~balance["suppressed"]] if len(balance) else balance
    return {"flow_diagram": figures.flow_diagram(flow, ctx.files.figure("flow_diagram")),
            "balance": figures.balance_plot(shown, ctx.files.figure("balance"), large=audit.LARGE_STANDARDISED_DIFFERENCE)}


def allocation_audit(ctx: StageContext) -> dict:
    """Stage 2: integrity of the allocation and baseline balance."""
    checks = protect_audit(ctx, audit_allocation(ctx, ctx.read_analysis_table()))
    audit_figures(ctx, checks, ctx.read_stage_result("01_data_cleaning")["flow"])
    return ctx.write_stage_result("02_allocation_audit", checks)


# -- Stage 3: compliance ----------------------------------------------------------------------

def delivery_rates(ctx: StageContext, data: pd.DataFrame) -> dict:
    """The share of each arm that received the contact, with intervals (by cluster under a cluster design)."""
    design = ctx.params["design"]
    clusters = dispatch.units(data, design) if design["assignment"] == "cluster" else None
    return compliance.delivery_rates(data, alpha=ctx.alpha, clusters=clusters)


def delivery_tables(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Delivery by borough, month, hate strand and ward, small counts hidden; contact mode and timing."""
    threshold = int(ctx.params["disclosure_threshold"])
    months = data.assign(month=data["reported_on"].dt.strftime("%Y-%m"))
    counts, protect = ["allocated", "received"], dict(threshold=threshold, total="allocated")
    wards = compliance.delivery_by(data, ["borough", "ward"])
    # A borough whose hidden ward cannot be hidden among its other wards is hidden in the borough table.
    exposed = disclosure.suppressed_groups(wards, counts, group="borough", **protect)
    boroughs = compliance.delivery_by(data, "borough")
    return {
        "by_borough": disclosure.suppress(boroughs, counts, forced=boroughs["group"].isin(exposed), **protect),
        "by_month": disclosure.suppress(compliance.delivery_by(months, "month"), counts, **protect),
        "by_hate_strand": disclosure.suppress(compliance.delivery_by_strand(data, audit.STRAND_COVARIATES), counts,
                                              **protect),
        "by_ward": disclosure.suppress(wards.rename(columns={"borough": "in borough"}), counts, group="in borough",
                                       **protect),
        "contact_modes": compliance.contact_modes(data) if recorded(data, "src_mode") else None,
        "contact_timing": compliance.contact_timing(data),
        "disclosure_threshold": threshold,
    }


def predictors_of_delivery(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Which baseline characteristics predict delivery in the SRC arm (descriptive, not causal)."""
    return compliance.predictors_of_delivery(data, alpha=ctx.alpha)


def compliance_figures(ctx: StageContext, data: pd.DataFrame, tables: dict) -> dict:
    """Delivery by week and, where the extract records contact dates, days from report to contact."""
    drawn = {"delivery_by_week": figures.delivery_over_time(data, ctx.files.figure("delivery_by_week"))}
    if tables["contact_timing"]["n"]:
        drawn["contact_timing"] = figures.contact_timing_plot(data, ctx.files.figure("contact_timing"))
    return drawn


def write_compliance(ctx: StageContext, rates: dict, tables: dict, predictors: dict) -> dict:
    """The stage result: delivery rates, the delivery tables and the predictors of delivery."""
    return ctx.write_stage_result("03_compliance_analysis",
                                  {"rates": rates, **tables, "predictors_of_delivery": predictors})


def compliance_analysis(ctx: StageContext) -> dict:
    """Stage 3: delivery of the contact, by arm and by characteristic."""
    data = ctx.read_analysis_table()
    tables = delivery_tables(ctx, data)
    compliance_figures(ctx, data, tables)
    return write_compliance(ctx, delivery_rates(ctx, data), tables, predictors_of_delivery(ctx, data))


# -- Stage 4: effect estimation ---------------------------------------------------------------

def estimate_outcomes(ctx: StageContext, data: pd.DataFrame) -> tuple[dict, pd.DataFrame]:
    """Every outcome's estimates: one entry per outcome for results.json, and the tidy table of all rows."""
    design, plan = ctx.params["design"], ctx.params["analysis_plan"]
    outcomes, rows = {}, []
    for name in OUTCOME_NAMES:
        # The declared design chooses each figure's estimator (complete randomisation: estimation's own).
        entry, estimates = dispatch.outcome_estimates(
            data, name, design=design, codes=ctx.params["outcomes"][name]["codes"], alpha=ctx.alpha,
            draws=ctx.draws, seed=ctx.seed, target_power=float(ctx.params["target_power"]),
            direction=plan["directions"][name], plan=plan)
        outcomes[name] = entry
        rows += estimates
    return outcomes, tidy.estimates_table(rows, conf_level=float(ctx.params["confidence_level"]),
                                          exploratory=EXPLORATORY_ESTIMANDS)


def forest_figure(ctx: StageContext, estimates: pd.DataFrame):
    """Every risk difference of the estimates table, with its interval, on one axis."""
    return figures.forest_plot(forest_rows(estimates, ctx.params["outcomes"]), ctx.files.figure("forest_plot"),
                               confidence_level=float(ctx.params["confidence_level"]))


def estimate_subgroups(ctx: StageContext, data: pd.DataFrame) -> list[dict]:
    """The plan's subgroups valid under the design: effects, interaction tests, Holm's adjustment."""
    plan = ctx.params["analysis_plan"]
    by_columns, _ = dispatch.valid_subgroups(plan["subgroups"]["columns"], ctx.params["design"])
    return subgroups.adjust_families([subgroups.subgroup_effects(data, "attrition", by, alpha=ctx.alpha)
                                      for by in by_columns if by in data])


def write_effects(ctx: StageContext, data: pd.DataFrame, outcomes: dict, estimates: pd.DataFrame,
                  subgroup_results: list[dict]) -> dict:
    """The stage result: outcomes, the tidy table, subgroups, withdrawal by contact mode and the design."""
    design, plan = ctx.params["design"], ctx.params["analysis_plan"]
    _, not_valid = dispatch.valid_subgroups(plan["subgroups"]["columns"], design)
    result = {"outcomes": outcomes, "estimates": estimates, "subgroups": subgroup_results,
              "contact_mode": compliance.outcome_by_contact_mode(data, "attrition") if recorded(data, "src_mode")
              else None,
              "design": dispatch.design_result(design, data, outcomes, plan["primary_outcome"], not_valid),
              "thresholds": {"weak_instrument_f": estimation.WEAK_INSTRUMENT_F,
                             "min_subgroup_per_arm": subgroups.MIN_SUBGROUP_PER_ARM}}
    return ctx.write_stage_result("04_effect_estimation", result)


def effect_estimation(ctx: StageContext) -> dict:
    """Stage 4: intention-to-treat and complier effects for every outcome."""
    data = ctx.read_analysis_table()
    outcomes, estimates = estimate_outcomes(ctx, data)
    forest_figure(ctx, estimates)
    return write_effects(ctx, data, outcomes, estimates, estimate_subgroups(ctx, data))


def forest_rows(table: pd.DataFrame, outcomes: dict | None = None) -> pd.DataFrame:
    """The risk-difference rows of the estimates table, labelled for the forest plot.

    ``outcomes`` is the parameters' ``outcomes`` section: each outcome is named by its label.
    """
    labels = {"risk_difference": "as randomised (ITT)", "risk_difference_adjusted_lin": "ITT, adjusted (Lin)",
              "risk_difference_adjusted_logistic": "ITT, adjusted (logistic)",
              "complier_average_causal_effect": "if delivered (complier)",
              "risk_difference_per_protocol": "per protocol (biased)", "risk_difference_as_treated": "as treated (biased)"}
    names = {name: short_label(entry["label"], capital=True) for name, entry in (outcomes or {}).items()}
    rows = table[table["estimand"].isin(labels)].copy()
    rows["outcome_label"] = [names.get(o, o) for o in rows["outcome"]]
    rows["method_label"] = rows["estimand"].map(labels)
    rows["label"] = rows["outcome_label"] + ": " + rows["method_label"]
    return rows.reset_index(drop=True)


def _scenario_rates(ctx: StageContext) -> list[float]:
    """The parameters' delivery shares, with the trial's own (rounded to a percent) among them."""
    rate = ctx.read_stage_result("03_compliance_analysis")["rates"]["treatment"]["rate"]
    rates = set(ctx.params["delivery_scenarios"]) | ({round(rate, 2)} if rate else set())
    return sorted(rates)


# -- Stage 5: extrapolation -------------------------------------------------------------------

def transport(ctx: StageContext, attrition: dict) -> dict:
    """The trial's effect carried to the force (relative and absolute), and the delivery scenarios."""
    key = ctx.params["population"]
    force = extrapolation.force_extrapolation(attrition, load_population(ctx.params)[key], key)
    force["absolute_transport"] = extrapolation.absolute_transport(attrition, force["hate_crimes"], force["withdrawals"])
    return {"extrapolation": force,
            "delivery_scenarios": extrapolation.delivery_scenarios(attrition, force["withdrawals"],
                                                                   rates=_scenario_rates(ctx),
                                                                   hate_crimes=force["hate_crimes"])}


def cost(ctx: StageContext, attrition: dict, force: dict) -> dict | None:
    """Officer time and cost per prevented withdrawal; None when the extract records no contact modes."""
    delivery = ctx.read_stage_result("03_compliance_analysis")
    if delivery["contact_modes"] is None:  # the cost rests on the trial's mix of calls and visits
        return None
    return economics.economics(attrition, force, delivery, ctx.params["economics"])


def national(ctx: StageContext, attrition: dict, force: dict) -> dict:
    """The national scenario, with the withdrawal share it assumes stated."""
    share = ctx.params["national_withdrawal_share"]
    assumption = "withdrawal share set in the parameters file"
    if share is None:
        share = force["withdrawals"] / force["hate_crimes"]
        assumption = f"withdrawal share assumed equal to the {force['population']} share"
    return extrapolation.national_scenario(attrition, load_population(ctx.params),
                                           key=ctx.params["national_population"], assumed_share=share,
                                           assumption=assumption)


def extrapolation_figures(ctx: StageContext, attrition: dict, result: dict) -> dict:
    """Prevented withdrawals, the cost curve (if costed) and the national sensitivity curve."""
    force, national_result = result["extrapolation"], result["national"]
    drawn = {"extrapolation": figures.extrapolation_plot(
        force["prevented"], ctx.files.figure("extrapolation"), population_label=force["population"],
        confidence_level=float(ctx.params["confidence_level"]))}
    if result["economics"] is not None:
        curve = economics.cost_curve(attrition, force, ctx.params["economics"], result["economics"]["phone_share"])
        drawn["cost_per_prevented"] = figures.cost_plot(curve, ctx.files.figure("cost_per_prevented"),
                                                        population_label=force["population"])
    curve = extrapolation.sensitivity_curve(attrition, national_result["hate_crimes"])
    if curve is not None:
        drawn["national_sensitivity"] = figures.sensitivity_plot(
            curve, ctx.files.figure("national_sensitivity"), label=national_result["population"],
            assumed_share=national_result["assumed_withdrawal_share"])
    return drawn


def extrapolate(ctx: StageContext) -> dict:
    """Stage 5: force-wide and national figures, with intervals carried from the trial."""
    attrition = ctx.read_stage_result("04_effect_estimation")["outcomes"]["attrition"]
    result = transport(ctx, attrition)
    force = result["extrapolation"]
    result.update(economics=cost(ctx, attrition, force), national=national(ctx, attrition, force))
    extrapolation_figures(ctx, attrition, result)
    return ctx.write_stage_result("05_extrapolation", result)
