"""``srceval monitor``'s stages: one function per step of the monitoring notebooks.

m1 delivery monitoring: read and check both files, keep one row per report (no crime reference),
chart the monthly delivery of live wards and put every live ward on the funnel plot.
m2 effect monitoring: the staggered-adoption estimate, the naive before-and-after beside it, what
the trial predicts, and the randomisation test when plan-rollout randomised the order.
m3 report: monitoring.json, built and checked by :mod:`helpers.pipeline.models.monitoring`.
Each stage reads only the files the stages before it wrote.
"""
from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from helpers import config
from helpers.inputs.provenance import data_origin
from helpers.inputs.rollout import RolloutInputs, read_rollout
from helpers.methods import control_charts, disclosure, staggered, stepped_wedge
from helpers.parameters import load_parameters
from helpers.pipeline.context import StageResults
from helpers.report import monitoring_figures as figures

MONITOR_STAGES = ("m1_delivery_monitoring", "m2_effect_monitoring", "m3_monitoring_report")
REPORT_COLUMNS = ["borough", "ward", "key", "reported_on", "month", "go_live", "after_go_live", "received",
                  "attrition", "source_row"]


@dataclass
class MonitorContext(StageResults):
    """A monitoring run's inputs, output folders and parameters, shared by its notebooks."""

    extract_path: Path
    schedule_path: Path
    files: config.StageFiles
    params: dict
    params_file: Path
    trial_results: Path | None = None
    command: str = "the monitoring notebooks, run directly"
    sheets: dict = field(default_factory=dict)

    @property
    def alpha(self) -> float:
        return 1 - float(self.params["confidence_level"])

    @property
    def threshold(self) -> int:
        return int(self.params["disclosure_threshold"])

    @property
    def reports_file(self) -> Path:
        return self.files.processed_dir / "monitoring_reports.parquet"

    @property
    def schedule_file(self) -> Path:
        return self.files.processed_dir / "monitoring_schedule.parquet"

    @property
    def monitoring_json(self) -> Path:
        return self.files.output_dir / "monitoring.json"



DEFAULT_EXTRACT = config.RAW_DIR / "rollout" / "monitoring_extract.csv"
DEFAULT_SCHEDULE = config.RAW_DIR / "rollout" / "rollout_schedule.csv"
# The parameters cell of each monitoring notebook, written from this one definition (make notebooks).
PARAMETERS = {
    "extract_path": "monitoring extract (.csv or .xlsx), the trial's input contract",
    "schedule_path": "roll-out schedule: borough, ward, go_live (.csv or .xlsx)",
    "extract_sheet": "Excel sheet of the extract; None: the first",
    "schedule_sheet": "Excel sheet of the schedule; None: the first",
    "trial_results": "results.json of the trial run; None: the parameters' trial figure",
    "output_dir": "folder for stage results, figures and monitoring.json",
    "processed_dir": "folder for the report-level table",
    "params_file": "the run's parameters (YAML)",
    "command": "the command line that ran the monitoring, for the provenance",
}
STAGE_PARAMETERS = {
    "m1_delivery_monitoring": ("extract_path", "schedule_path", "extract_sheet", "schedule_sheet", "output_dir",
                               "processed_dir", "params_file"),
    "m2_effect_monitoring": ("schedule_path", "trial_results", "output_dir", "processed_dir", "params_file"),
    "m3_monitoring_report": ("extract_path", "schedule_path", "trial_results", "output_dir", "processed_dir",
                             "params_file", "command"),
}


def parameters_cell(stage: str) -> str:
    names = STAGE_PARAMETERS[stage]
    width = max(len(f"{name} = None") for name in names) + 2
    return "\n".join(f"{name} = None".ljust(width) + f"# {PARAMETERS[name]}" for name in names)


def parameters_text(stage: str) -> str:
    return ("## Parameters\nThe next cell holds this stage's parameters; `srceval monitor` replaces them through "
            "papermill. Each `None` takes the default: the shipped synthetic roll-out in `data/raw/rollout/`, "
            "outputs in `reports/` (or the folder named by `SRCEVAL_OUTPUT_DIR`) and the values of "
            "`config/parameters.yml`.")


def setup_cell(stage: str) -> str:
    arguments = ", ".join(f"{name}={name}" for name in STAGE_PARAMETERS[stage])
    call = textwrap.fill(arguments, width=100, initial_indent="ctx = open_monitor(", subsequent_indent=" " * 19)
    return f"from helpers.pipeline import monitor\nfrom helpers.pipeline.monitor import open_monitor\n\n{call})"


def open_monitor(*, extract_path=None, schedule_path=None, extract_sheet=None, schedule_sheet=None,
                 trial_results=None, output_dir=None, processed_dir=None, params_file=None,
                 command=None) -> MonitorContext:
    """Resolve a monitoring notebook's parameters; None takes the default for each."""
    params_file = Path(params_file) if params_file else config.PARAMETERS_FILE
    files = config.StageFiles(Path(output_dir) if output_dir else config.default_output_dir(),
                              Path(processed_dir) if processed_dir else config.default_processed_dir())
    for folder in (files.output_dir, files.processed_dir, files.stages_dir, files.figures_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return MonitorContext(Path(extract_path) if extract_path else DEFAULT_EXTRACT,
                          Path(schedule_path) if schedule_path else DEFAULT_SCHEDULE, files,
                          load_parameters(params_file), params_file,
                          Path(trial_results) if trial_results else None,
                          command or MonitorContext.command, {"extract": extract_sheet, "schedule": schedule_sheet})


# -- m1: delivery ---------------------------------------------------------------------------------

def read_inputs(ctx: MonitorContext) -> RolloutInputs:
    """Both files, checked against the input contract and against each other."""
    return read_rollout(ctx.extract_path, ctx.schedule_path, ctx.params["outcomes"],
                        disclosure_threshold=ctx.threshold, sheets=ctx.sheets, limits=ctx.params["input_limits"])


def write_inputs(ctx: MonitorContext, rollout: RolloutInputs) -> dict:
    """The report-level table and the schedule (no crime reference), and what the inputs were."""
    rollout.reports[REPORT_COLUMNS].to_parquet(ctx.reports_file, index=False)
    rollout.schedule.drop(columns=["source_row"]).to_parquet(ctx.schedule_file, index=False)
    reports = rollout.reports
    origin = data_origin(ctx.extract_path)  # the extract holds the data; the schedule may be a plan
    return {"inputs": rollout.inputs, "warnings": rollout.warnings, "exclusions": rollout.exclusions,
            "plan": rollout.plan, "origin": origin,
            "extract": {"first_report": reports["reported_on"].min(), "last_report": reports["reported_on"].max(),
                        "reports": int(len(reports)), "wards": int(len(rollout.schedule)),
                        "wards_live": int(rollout.schedule["live"].sum()),
                        "wards_not_live": int((~rollout.schedule["live"]).sum()),
                        "boroughs": sorted(rollout.schedule["borough"].unique())}}


# The counts every published delivery row implies: its reports, those reached and those not.
DELIVERY_CELLS = ["reports", "delivered", "not_delivered"]


def _delivery_cells(live: pd.DataFrame) -> pd.DataFrame:
    received = live["received"].astype(int)
    return pd.DataFrame({"reports": 1, "delivered": received, "not_delivered": 1 - received}, index=live.index)


def monthly_delivery(reports: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """The p-chart (or Laney's p') of the live wards' delivery, month by month.

    A month whose counts (reports, reached, not reached) are not all 0 or at least the threshold
    joins its neighbour (:func:`helpers.methods.disclosure.group_ordered`), so that no published
    count, and no difference of two, singles out a victim: the chart's point is then the merged
    months ("2023-09 to 2023-10"), with its own limits.
    """
    live = reports[reports["after_go_live"] == 1]
    months = live["month"].dt.strftime("%Y-%m")
    period = disclosure.group_ordered(months, _delivery_cells(live), threshold, DELIVERY_CELLS, disclosure.span)
    by_month = live.groupby(period.astype(str).to_numpy(), sort=False)["received"].agg(["size", "sum"])
    by_month = by_month.reindex([p for p in period.cat.categories if p in by_month.index])
    by_month = by_month.rename(columns={"size": "reports", "sum": "delivered"})
    chart = control_charts.p_chart(by_month["reports"], by_month["delivered"])
    chart.insert(0, "month", list(by_month.index))
    return chart


def ward_delivery(reports: pd.DataFrame, threshold: int) -> pd.DataFrame:
    """Every live ward's delivery since go-live on the funnel, with the disclosure rule applied.

    As in the trial's tables (:mod:`helpers.methods.disclosure`), every published count is 0 or at
    least the threshold, nothing is hidden and nothing is named that fewer reports hold: boroughs
    too small are combined ("other boroughs"), and within each borough the wards whose reports,
    reached or not reached, are small count under "other wards". A combined row is on the funnel
    but never flagged: it is not one ward.
    """
    live = reports[reports["after_go_live"] == 1]
    cells = _delivery_cells(live)
    borough = disclosure.group_values(live["borough"].astype(str), threshold, DELIVERY_CELLS,
                                      other=disclosure.OTHER["borough"], report=cells).astype(str)
    ward = disclosure.group_values(live["ward"].astype(str), threshold, DELIVERY_CELLS,
                                   other=disclosure.OTHER["ward"], report=cells, within=borough).astype(str)
    keyed = live.assign(borough_group=borough, ward_group=ward)
    wards = keyed.groupby(["borough_group", "ward_group"], sort=True).agg(
        reports=("received", "size"), delivered=("received", "sum"), wards=("ward", "nunique")).reset_index()
    wards = wards.rename(columns={"borough_group": "borough", "ward_group": "ward"})
    wards["combined"] = (wards["ward"] == disclosure.OTHER["ward"]) | (wards["borough"] == disclosure.OTHER["borough"])
    limits = control_charts.funnel(wards["reports"], wards["delivered"]).drop(columns=["reports", "delivered"])
    table = pd.concat([wards, limits], axis=1)
    table["flagged"] = table["flagged"] & ~table["combined"]
    return table


def published_wards(table: pd.DataFrame) -> list[dict]:
    """The ward table as monitoring.json publishes it: every row's counts, combined rows marked."""
    return [{"borough": row.borough, "ward": row.ward, "wards": int(row.wards), "combined": bool(row.combined),
             "reports": int(row.reports), "delivered": int(row.delivered), "rate": float(row.rate),
             "lower_limit": float(row.lower_998), "lower_limit_95": float(row.lower_95),
             "upper_limit": float(row.upper_998), "flagged": bool(row.flagged)} for row in table.itertuples()]


def delivery_monitoring(ctx: MonitorContext, reports: pd.DataFrame) -> dict:
    """The month chart, the ward funnel (disclosure applied) and the wards flagged."""
    chart = monthly_delivery(reports, ctx.threshold)
    wards = ward_delivery(reports, ctx.threshold)
    live = reports["after_go_live"] == 1
    runs = {k: v for k, v in chart.attrs["runs"].items() if k != "signal"}
    flagged = wards[wards["flagged"]]
    return {"force_rate": float(reports.loc[live, "received"].mean()) if live.any() else None,
            "reports_after_go_live": int(live.sum()), "chart": chart.attrs["chart"],
            "sigma_z": chart.attrs["sigma_z"], "run_rules": runs,
            "by_month": chart.drop(columns=["outside"]).to_dict(orient="records"),
            "by_ward": published_wards(wards),
            "flagged_wards": [f"{b}: {w}" for b, w in zip(flagged["borough"], flagged["ward"])],
            "disclosure_threshold": ctx.threshold,
            "method": "p-chart of the live wards' monthly delivery, 3-sigma limits (Laney's p' where sigma_z > 1), "
                      "Anhøj's run rules; funnel plot of each ward's delivery since go-live, exact binomial limits "
                      "around the force's rate at 95% and 99.8% (Spiegelhalter 2005); a ward below the lower "
                      "99.8% limit is flagged"}


def delivery_figures(ctx: MonitorContext, delivery: dict) -> dict:
    """The p-chart and the funnel plot (every published row; only flagged wards named)."""
    shown = delivery["by_ward"]
    return {"p_chart": figures.p_chart(pd.DataFrame(delivery["by_month"]), ctx.files.figure("delivery_p_chart"),
                                       kind=delivery["chart"]),
            "funnel": figures.funnel_plot(shown, delivery["force_rate"], ctx.files.figure("delivery_funnel"))}


def delivery_stage(ctx: MonitorContext) -> dict:
    """Stage m1: read, check, keep the report-level table, monitor delivery."""
    rollout = read_inputs(ctx)
    result = write_inputs(ctx, rollout)
    result["delivery"] = delivery_monitoring(ctx, rollout.reports)
    delivery_figures(ctx, result["delivery"])
    return ctx.write_stage_result("m1_delivery_monitoring", result)


# -- m2: effect ---------------------------------------------------------------------------------

def read_tables(ctx: MonitorContext) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not ctx.reports_file.is_file():
        raise FileNotFoundError("the report-level table is missing: run stage m1_delivery_monitoring first")
    return pd.read_parquet(ctx.reports_file), pd.read_parquet(ctx.schedule_file)


def staggered_estimate(ctx: MonitorContext, panel: staggered.Panel) -> dict:
    draws = ctx.params["monitoring"]["bootstrap_draws"]
    return staggered.staggered_effect(panel, alpha=ctx.alpha, draws=draws, seed=int(ctx.params["seed"]))


def naive_estimate(ctx: MonitorContext, panel: staggered.Panel) -> dict:
    draws = ctx.params["monitoring"]["bootstrap_draws"]
    return staggered.naive_before_after(panel, alpha=ctx.alpha, draws=draws, seed=int(ctx.params["seed"]))


def trial_figure(ctx: MonitorContext) -> dict:
    """The trial's complier relative reduction: from the trial's results.json if named, else the parameters'."""
    if ctx.trial_results is not None:
        results = json.loads(Path(ctx.trial_results).read_text(encoding="utf-8"))
        cace = results["outcomes"]["attrition"]["cace"]
        return {"relative_reduction": cace["relative_risk_reduction"], "ci": cace.get("relative_risk_reduction_ci"),
                "source": f"trial results {Path(ctx.trial_results).name}: complier relative reduction in withdrawal"}
    settings = ctx.params["monitoring"]
    return {"relative_reduction": settings["trial_relative_reduction"], "ci": settings["trial_relative_reduction_ci"],
            "source": settings["trial_source"]}


def prediction(ctx: MonitorContext, reports: pd.DataFrame, observed: dict) -> dict:
    """What the trial predicts for the wards that went live, against the staggered estimate."""
    trial = trial_figure(ctx)
    live = reports[reports["go_live"].notna() & (reports["go_live"] <= reports["reported_on"].max())]
    after, before = live[live["after_go_live"] == 1], live[(live["after_go_live"] == 0) & live["attrition"].notna()]
    keys = sorted(set(live["key"]))
    per_ward = lambda frame, column, how: frame.groupby("key")[column].agg(how).reindex(keys, fill_value=0).to_numpy(
        dtype=float)
    if trial["relative_reduction"] is None:
        return {"estimate": None, "conf_low": None, "conf_high": None, "method": "trial prediction",
                "source": trial["source"], "reason": "not estimable: the trial's complier relative reduction is not "
                                                      "estimable in its results"}
    result = staggered.trial_prediction(
        delivered_after=per_ward(after, "received", "sum"), reports_after=per_ward(after, "received", "size"),
        events_before=per_ward(before, "attrition", "sum"), reports_before=per_ward(before, "attrition", "size"),
        relative_reduction=float(trial["relative_reduction"]), relative_reduction_ci=trial["ci"], alpha=ctx.alpha,
        draws=ctx.params["monitoring"]["bootstrap_draws"], seed=int(ctx.params["seed"]))
    within = None
    if result["estimate"] is not None and observed.get("conf_low") is not None:
        within = bool(observed["conf_low"] <= result["estimate"] <= observed["conf_high"])
    return {**result, "source": trial["source"], "within_observed_interval": within}


def randomisation(ctx: MonitorContext, panel: staggered.Panel, plan: dict | None, observed: dict) -> dict | None:
    """The randomisation test, where plan-rollout randomised the order (None otherwise, or not estimable)."""
    if plan is None or observed.get("estimate") is None:
        return None
    return stepped_wedge.randomisation_test(panel, plan, observed["estimate"],
                                            draws=ctx.params["monitoring"]["randomisation_test_draws"],
                                            seed=int(ctx.params["seed"]))


def effect_figures(ctx: MonitorContext, effect: dict, reports: pd.DataFrame) -> dict:
    return {"event_study": figures.event_study(effect["event_time"], ctx.files.figure("event_study"),
                                               confidence_level=float(ctx.params["confidence_level"])),
            "withdrawal_by_month": figures.withdrawal_by_month(reports, ctx.files.figure("withdrawal_by_month"))}


def write_effect(ctx: MonitorContext, estimate: dict, left_out: dict, naive: dict, trial: dict,
                 test: dict | None) -> dict:
    """The stage result: the overall effect with its event study and cells, and what stands beside it."""
    effect = {**estimate["overall"], "conf_level": float(ctx.params["confidence_level"]),
              "event_time": estimate["event_time"], "cells": estimate["cells"], "left_out": left_out,
              "naive_before_after": naive, "trial_prediction": trial, "randomisation_test": test}
    return ctx.write_stage_result("m2_effect_monitoring", effect)


def effect_stage(ctx: MonitorContext) -> dict:
    """Stage m2: the effect of going live on withdrawal, the naive comparison, the trial prediction."""
    reports, schedule = read_tables(ctx)
    panel, left_out = staggered.build_panel(reports, schedule)
    estimate = staggered_estimate(ctx, panel)
    plan = ctx.read_stage_result("m1_delivery_monitoring")["plan"]
    effect = write_effect(ctx, estimate, left_out, naive_estimate(ctx, panel),
                          prediction(ctx, reports, estimate["overall"]),
                          randomisation(ctx, panel, plan, estimate["overall"]))
    effect_figures(ctx, effect, reports)
    return effect


# -- m3: monitoring.json ------------------------------------------------------------------------

def design_statement(plan: dict | None) -> dict:
    if plan is None:
        return {"randomised": False, "statement": (
            "The roll-out order was not randomised: this is an observational comparison. Wards that went live "
            "are compared with wards not yet live over the same months, which removes the trend the months share, "
            "but not a difference that went with the choice of which wards went first.")}
    return {"randomised": True, "plan_seed": plan["seed"], "stratified_by": plan["stratified_by"],
            "steps": plan["steps"], "statement": (
                f"The roll-out order was randomised by srceval plan-rollout (seed {plan['seed']}"
                f"{', stratified by borough' if plan['stratified_by'] else ''}, {plan['steps']} steps): a "
                "stepped-wedge trial. The randomisation test below rests on that randomisation alone.")}
