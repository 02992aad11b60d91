"""One function per stage notebook: compute with the stage's module, write its files.

A stage reads only what earlier stages wrote (the analysis table, the stage results), never
their state, so any stage can be rerun alone.
"""
from __future__ import annotations

import pandas as pd

from helpers import config
from helpers.inputs.cleaning import CleaningResult, clean_inputs, cleaning_settings
from helpers.inputs.provenance import data_origin
from helpers.methods import (
    audit,
    audit_design,
    compliance,
    disclosure,
    economics,
    extrapolation,
    registry,
    subgroups,
)
from helpers.methods.anderson_rubin import WEAK_INSTRUMENT_F
from helpers.methods.identification import delivery_contrast
from helpers.methods.identification import not_an_effect as no_effect_of_src
from helpers.parameters import OUTCOME_NAMES, load_population, short_label
from helpers.pipeline.context import StageContext
from helpers.pipeline.effects import design_section, outcome_entry
from helpers.report import figures

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
                        limits=settings["input_limits"], disclosure_threshold=settings["disclosure_threshold"])



def write_cleaning(ctx: StageContext, cleaned: CleaningResult) -> dict:
    """Write the analysis table, the exclusion log and the stage result (no crime reference in it)."""
    cleaned.write_analysis_table(ctx.files.analysis_table)
    cleaned.write_exclusion_log(ctx.files.exclusion_log)
    exclusions = cleaned.exclusions.drop(columns=["crime_ref"], errors="ignore")  # row numbers are enough
    analysis = cleaned.analysis
    boroughs = disclosure.Publication(analysis, ctx.params["disclosure_threshold"]).base("borough")
    named = [name for name in disclosure.published_names(boroughs, "borough") if name != disclosure.OTHER["borough"]]
    trial = {"reported_from": analysis["reported_on"].min(), "reported_to": analysis["reported_on"].max(),
             "boroughs": named,  # a borough of few reports (and any combined with it) is counted, not named
             "boroughs_not_named": int(analysis["borough"].nunique() - len(named)),
             "last_outcome_on": analysis["outcome_on"].max() if recorded(analysis, "outcome_on") else None}
    result = {"inputs": {**cleaned.inputs, "origin": data_origin(ctx.allocation_path, ctx.extract_path)},
              "flow": cleaned.flow, "warnings": cleaned.warnings, "trial": trial,
              "exclusions": exclusions, "analysis_rows": int(len(analysis)), "skipped": skipped_analyses(analysis),
              "command": ctx.command}
    return ctx.write_stage_result("01_data_cleaning", result)


def data_cleaning(ctx: StageContext) -> dict:
    """Stage 1: validated, joined analysis table and exclusion log."""
    return write_cleaning(ctx, clean(ctx))


# -- Stage 2: allocation audit ----------------------------------------------------------------

def audit_allocation(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Every integrity check of the allocation and the baseline balance, under the declared design.

    The tests run on the data as they are; the tables they show (the baseline balance, arms by
    weekday and month) are at the characteristics' published levels (:mod:`helpers.methods.disclosure`),
    and a flag names a block or cluster only when its counts can be published.
    """
    rule, design = ctx.params["allocation_rule"], ctx.design
    publication = disclosure.Publication(data, ctx.params["disclosure_threshold"])
    checks_of = dict(threshold=float(rule["threshold"]), below=rule["below"], draws=ctx.draws, seed=ctx.seed)
    if design.assignment == "complete":
        checks = audit.allocation_audit(data, **checks_of, published=published_data(publication, "base"))
    else:
        units = design.units(data)
        checks = audit_design.allocation_audit(data, design, units, **checks_of,
                                               named=_named_units(publication, units),
                                               published=published_data(publication, "base"))
    for period in ("weekday", "month"):
        checks[f"by_{period}"] = {**checks[f"by_{period}"], "table": _period_table(publication, data, period)}
    return {**checks, "thresholds": {"flag_p_value": audit.FLAG_P_VALUE, "min_level_count": audit.MIN_LEVEL_COUNT,
                                     "large_standardised_difference": audit.LARGE_STANDARDISED_DIFFERENCE}}


def _named_units(publication: disclosure.Publication, units: pd.Series | None) -> set | None:
    """The blocks or clusters whose counts may be published under their name (None: no units)."""
    if units is None:
        return None
    published = publication.units(units, "units")
    return {unit for unit, label in zip(units, published) if unit == label}


def _period_table(publication: disclosure.Publication, data: pd.DataFrame, period: str) -> pd.DataFrame:
    """Reports allocated to each arm by weekday or month of allocation, with neighbouring periods merged
    where an arm's count would be small."""
    dates = data["allocated_on"]
    if period == "weekday":
        keys = dates.dt.day_of_week
        label = lambda first, last: disclosure.span(disclosure.WEEKDAYS[first], disclosure.WEEKDAYS[last])
    else:
        keys = dates.dt.to_period("M")
        label = disclosure.span
    grouped = publication.periods(keys, disclosure.ARMS, label)
    order = keys.groupby(grouped.to_numpy()).min().sort_values().index
    table = pd.crosstab(grouped, data["assigned"].map({1: "SRC", 0: "BAU"})).reindex(order)
    table = table.reindex(columns=["SRC", "BAU"], fill_value=0)
    table.index.name = period
    return table.reset_index()


def published_data(publication: disclosure.Publication, family: str) -> pd.DataFrame:
    """The analysis table with every published characteristic at its published level (``family``).

    A report's hate strands are published as its first strand (the subgroups' rule): a table of
    each strand set beside one of first strands would give back how many reports hold each
    combination of strands.
    """
    columns = ["borough", "ward", "offence_group", "victim_age_band", "victim_sex", "repeat_victim",
               "suspect_identified", "primary_strand"]
    return publication.recode(family, [c for c in columns if c in publication.data])


def protect_audit(ctx: StageContext, checks: dict, data: pd.DataFrame | None = None) -> dict:
    """A design's block table as published: blocks of few reports combined, never named
    (:mod:`helpers.methods.disclosure`); the balance tables are published levels already."""
    design = ctx.design
    if not design.blocked or checks.get("design", {}).get("blocks") is None:
        return checks
    data = ctx.read_analysis_table() if data is None else data
    publication = disclosure.Publication(data, ctx.params["disclosure_threshold"])
    noun = {"ward": "wards", "borough": "boroughs", "offence_group": "offence groups",
            "primary_strand": "strands"}.get(design.column, "blocks")
    blocks = audit_design.block_shares(data, publication.units(design.units(data), noun))
    found = {**checks["design"], "blocks": blocks,
             "share_range": [float(blocks["share"].min()), float(blocks["share"].max())]}
    return {**checks, "design": found}


def audit_figures(ctx: StageContext, checks: dict, flow: dict) -> dict:
    """The CONSORT flow diagram and the balance plot (of the published levels)."""
    return {"flow_diagram": figures.flow_diagram(flow, ctx.files.figure("flow_diagram")),
            "balance": figures.balance_plot(checks["balance"], ctx.files.figure("balance"),
                                            large=audit.LARGE_STANDARDISED_DIFFERENCE)}


def allocation_audit(ctx: StageContext) -> dict:
    """Stage 2: integrity of the allocation and baseline balance."""
    data = ctx.read_analysis_table()
    checks = protect_audit(ctx, audit_allocation(ctx, data), data)
    audit_figures(ctx, checks, ctx.read_stage_result("01_data_cleaning")["flow"])
    return ctx.write_stage_result("02_allocation_audit", checks)


# -- Stage 3: compliance ----------------------------------------------------------------------

def delivery_rates(ctx: StageContext, data: pd.DataFrame) -> dict:
    """The share of each arm that received the contact, with intervals (by cluster under a cluster design)."""
    clusters = ctx.design.units(data) if ctx.design.clustered else None
    return compliance.delivery_rates(data, conf_level=ctx.conf_level, clusters=clusters)


def delivery_tables(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Delivery by borough, month, hate strand and ward at their published levels; contact mode and timing.

    Each table's categories are grouped so that every count it shows, and every count it implies
    (those not reached), is 0 or at least the disclosure threshold; wards are grouped within their
    borough's group, so that a borough's row minus its wards' rows is a published row too
    (:mod:`helpers.methods.disclosure`).
    """
    threshold = int(ctx.params["disclosure_threshold"])
    publication = disclosure.Publication(data, threshold)
    counts = ["allocated", "received"]
    months = data.assign(month=publication.months())
    wards = publication.wards()
    shown = published_data(publication, "delivery")
    table = lambda frame: disclosure.counts_table(frame, counts)
    by_ward = compliance.delivery_by(data.assign(borough=wards["borough"], ward=wards["ward"]), ["borough", "ward"])
    return {
        "by_borough": table(compliance.delivery_by(shown, "borough")),
        "by_month": table(compliance.delivery_by(months, "month")),
        "by_hate_strand": table(compliance.delivery_by(shown, "primary_strand")),
        "by_ward": table(by_ward),
        "contact_modes": compliance.contact_modes(_published_modes(publication)) if recorded(data, "src_mode") else None,
        "contact_timing": compliance.contact_timing(data),
    }


def _published_modes(publication: disclosure.Publication) -> pd.DataFrame:
    """The analysis table with the contact mode of contacted reports at its published level."""
    data = publication.data
    contacted = data["received"] == 1
    return data.assign(src_mode=data["src_mode"].astype("string").where(
        ~contacted, publication.contact_modes().astype("string")))


def predictors_of_delivery(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Which baseline characteristics predict delivery in the SRC arm (descriptive, not causal).

    The model's terms are the published levels of the delivery tables: an odds ratio of a level
    would otherwise describe a handful of reports. A yes/no characteristic whose levels cannot
    be published apart is left out.
    """
    publication = disclosure.Publication(data, ctx.params["disclosure_threshold"])
    shown = publication.recode("delivery", ["borough", "offence_group"])
    if "strand_race" in shown and "race" not in set(publication.delivery("primary_strand")):  # race is always first
        shown = shown.drop(columns=["strand_race"])
    if "suspect_identified" in shown and shown["suspect_identified"].notna().all():
        levels = publication.delivery("suspect_identified")
        if set(levels.unique()) - {"yes", "no"}:
            shown = shown.drop(columns=["suspect_identified"])
    return compliance.predictors_of_delivery(shown, conf_level=ctx.conf_level)


def compliance_figures(ctx: StageContext, data: pd.DataFrame, tables: dict) -> dict:
    """Delivery by week and, where the extract records contact dates, days from report to contact."""
    threshold = int(ctx.params["disclosure_threshold"])
    months = disclosure.Publication(data, threshold).months()
    drawn = {"delivery_by_week": figures.delivery_over_time(data, ctx.files.figure("delivery_by_week"),
                                                            threshold=threshold, months=months)}
    if tables["contact_timing"]["n"]:
        drawn["contact_timing"] = figures.contact_timing_plot(data, ctx.files.figure("contact_timing"),
                                                              threshold=threshold)
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

def identify(ctx: StageContext, data: pd.DataFrame) -> dict:
    """Whether the allocation changed who received the contact: decided once, before any estimate, and
    respected by every figure that credits SRC with an effect (:mod:`helpers.methods.identification`)."""
    return delivery_contrast(data)


def estimate_outcomes(ctx: StageContext, data: pd.DataFrame, identification: dict) -> tuple[dict, pd.DataFrame]:
    """Every outcome's estimates under the declared design: one entry per outcome for results.json, and the
    tidy table of the estimands of :data:`helpers.methods.registry.ESTIMANDS` for every outcome."""
    plan = ctx.params["analysis_plan"]
    settings = registry.Settings.from_parameters(ctx.params, identification)
    analyses = [registry.analyse_outcome(data, name, ctx.design, settings, codes=ctx.params["outcomes"][name]["codes"],
                                         direction=plan["directions"][name])
                for name in OUTCOME_NAMES]
    return {a.outcome: outcome_entry(a) for a in analyses}, registry.estimates(analyses)


def forest_figure(ctx: StageContext, estimates: pd.DataFrame):
    """Every risk difference of the estimates table, with its interval, on one axis."""
    return figures.forest_plot(forest_rows(estimates, ctx.params["outcomes"]), ctx.files.figure("forest_plot"),
                               confidence_level=ctx.conf_level)


def estimate_subgroups(ctx: StageContext, data: pd.DataFrame) -> list[dict]:
    """The plan's subgroups valid under the design: effects, interaction tests, Holm's adjustment."""
    by_columns, _ = ctx.design.valid_subgroups(ctx.params["analysis_plan"]["subgroups"]["columns"])
    # each characteristic at its published level: no subgroup's arm, withdrawals or others are a few reports
    shown = disclosure.Publication(data, ctx.params["disclosure_threshold"]).recode("subgroups", by_columns)
    return subgroups.adjust_families([subgroups.subgroup_effects(shown, "attrition", by, conf_level=ctx.conf_level)
                                      for by in by_columns if by in shown])


def write_effects(ctx: StageContext, data: pd.DataFrame, outcomes: dict, estimates: pd.DataFrame,
                  subgroup_results: list[dict], identification: dict) -> dict:
    """The stage result: outcomes, the tidy table, subgroups, withdrawal by contact mode, the design and the
    identification."""
    plan = ctx.params["analysis_plan"]
    _, not_valid = ctx.design.valid_subgroups(plan["subgroups"]["columns"])
    result = {"outcomes": outcomes, "estimates": estimates, "subgroups": subgroup_results,
              "contact_mode": compliance.outcome_by_contact_mode(_published_modes(disclosure.Publication(
                  data, ctx.params["disclosure_threshold"])), "attrition") if recorded(data, "src_mode") else None,
              "design": design_section(ctx.design, data, outcomes, plan["primary_outcome"], not_valid),
              # whether a difference between the arms can be an effect of the contact (delivery differs by arm)
              "identification": identification,
              "thresholds": {"weak_instrument_f": WEAK_INSTRUMENT_F,
                             "min_subgroup_per_arm": subgroups.MIN_SUBGROUP_PER_ARM}}
    return ctx.write_stage_result("04_effect_estimation", result)


def effect_estimation(ctx: StageContext) -> dict:
    """Stage 4: intention-to-treat and complier effects for every outcome."""
    data = ctx.read_analysis_table()
    identification = identify(ctx, data)
    outcomes, estimates = estimate_outcomes(ctx, data, identification)
    forest_figure(ctx, estimates)
    return write_effects(ctx, data, outcomes, estimates, estimate_subgroups(ctx, data), identification)


def forest_rows(table: pd.DataFrame, outcomes: dict | None = None) -> pd.DataFrame:
    """The risk-difference rows of the estimates table, labelled for the forest plot.

    ``outcomes`` is the parameters' ``outcomes`` section: each outcome is named by its label.
    """
    labels = registry.forest_labels()
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

def not_an_effect(ctx: StageContext) -> str | None:
    """Why a difference between the arms is not an effect of SRC (no contact delivered, say), or None: as
    stage 4 decided it."""
    return no_effect_of_src(ctx.read_stage_result("04_effect_estimation").get("identification"))


def transport(ctx: StageContext, attrition: dict) -> dict:
    """The trial's effect carried to the force (relative and absolute), and the delivery scenarios."""
    key, why = ctx.params["population"], not_an_effect(ctx)
    force = extrapolation.force_extrapolation(attrition, load_population(ctx.params)[key], key, not_an_effect=why)
    force["absolute_transport"] = extrapolation.absolute_transport(attrition, force["hate_crimes"], force["withdrawals"],
                                                                   not_an_effect=why)
    return {"extrapolation": force,
            "delivery_scenarios": extrapolation.delivery_scenarios(attrition, force["withdrawals"],
                                                                   rates=_scenario_rates(ctx),
                                                                   hate_crimes=force["hate_crimes"])}


def cost(ctx: StageContext, attrition: dict, force: dict) -> dict | None:
    """Officer time and cost per prevented withdrawal; None when the extract records no contact modes, or
    too few calls to publish their number (:func:`cost_reason` says which); not estimable (with the reason)
    when the allocation did not change delivery."""
    delivery, why = ctx.read_stage_result("03_compliance_analysis"), not_an_effect(ctx)
    if why:
        return economics.not_estimable(force, ctx.params["economics"], why)
    if delivery["contact_modes"] is None:  # the cost rests on the trial's mix of calls and visits
        return None
    if disclosure.OTHER["src_mode"] in delivery["contact_modes"] and "phone" not in delivery["contact_modes"]:
        return None  # too few calls to publish their number: the cost would give it back
    return economics.economics(attrition, force, delivery, ctx.params["economics"])


def cost_reason(ctx: StageContext) -> str:
    """Why :func:`cost` gave no cost, in words."""
    from helpers.report.emmie import not_costed_reason

    modes = ctx.read_stage_result("03_compliance_analysis")["contact_modes"]
    return not_costed_reason({"compliance": {"contact_modes": modes}})


def national(ctx: StageContext, attrition: dict, force: dict) -> dict:
    """The national scenario, with the withdrawal share it assumes stated."""
    share = ctx.params["national_withdrawal_share"]
    assumption = "withdrawal share set in the parameters file"
    if share is None:
        share = force["withdrawals"] / force["hate_crimes"]
        assumption = f"withdrawal share assumed equal to the {force['population']} share"
    return extrapolation.national_scenario(attrition, load_population(ctx.params),
                                           key=ctx.params["national_population"], assumed_share=share,
                                           assumption=assumption, not_an_effect=not_an_effect(ctx))


def extrapolation_figures(ctx: StageContext, attrition: dict, result: dict) -> dict:
    """Prevented withdrawals (if any is estimable), the cost curve (if costed) and the national sensitivity curve."""
    force, national_result = result["extrapolation"], result["national"]
    drawn = {}
    if force["prevented"]["itt"] is not None or force["prevented"]["full_compliance"] is not None:
        drawn["extrapolation"] = figures.extrapolation_plot(
            force["prevented"], ctx.files.figure("extrapolation"), population_label=force["population"],
            confidence_level=ctx.conf_level)
    if result["economics"] is not None and result["economics"]["cost_per_year"] is not None:
        curve = economics.cost_curve(attrition, force, ctx.params["economics"], result["economics"]["phone_share"])
        drawn["cost_per_prevented"] = figures.cost_plot(curve, ctx.files.figure("cost_per_prevented"),
                                                        population_label=force["population"])
    curve = extrapolation.sensitivity_curve(attrition, national_result["hate_crimes"], not_an_effect=not_an_effect(ctx))
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


# Each analysis stage's notebook and the function that does its work, in the order they run (the report,
# config.STAGES[-1], assembles results.json from their files: helpers.pipeline.results).
STAGE_FUNCTIONS = dict(zip(config.STAGES[:-1], (data_cleaning, allocation_audit, compliance_analysis,
                                                 effect_estimation, extrapolate)))


def run_stages(ctx: StageContext, stages: list[str] | None = None) -> None:
    """Run the analysis stages in process, in order (``stages``: a subset of them; None: all)."""
    for name, stage in STAGE_FUNCTIONS.items():
        if stages is None or name in stages:
            stage(ctx)
