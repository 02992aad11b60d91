"""``srceval plan-rollout``: a randomised, reproducible ward order for the roll-out, planned as a stepped-wedge trial.

Writes ``rollout_plan.csv`` (``borough, ward, step, go_live``: the schedule ``srceval monitor``
reads) and ``plan.json`` (the design, its assumptions, the Hussey and Hughes power, and the
plan's SHA-256, by which ``monitor`` recognises the unedited plan and adds the randomisation test).
"""
from __future__ import annotations

import platform
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import ValidationError

from helpers import __version__
from helpers.errors import InputError, Problem, ProblemList
from helpers.inputs.reading import read_input, sha256_of
from helpers.inputs.rollout import PLAN_FILE, ward_key
from helpers.inputs.values import _has_columns, _place_names
from helpers.methods import stepped_wedge
from helpers.parameters import RolloutPlanning, _describe, load_parameters
from helpers.pipeline import runner
from helpers.pipeline.context import to_jsonable, write_json
from helpers.pipeline.models import Plan
from helpers.pipeline.monitor_run import command_line, staged_output
from helpers.pipeline.results import git_commit, package_versions

PLAN_CSV = "rollout_plan.csv"
MAX_STEPS = 60


def read_wards(path: Path, sheet: str | None = None) -> pd.DataFrame:
    """The wards to roll out to (``borough``, ``ward``), each once; InputError names file, column and rows."""
    table = read_input(path, ["borough", "ward"], sheet=sheet, required=["borough", "ward"])
    problems, warnings = ProblemList(), []
    if not _has_columns(table.data, ["borough", "ward"], table.name, problems):
        problems.raise_if_any()
    wards = pd.DataFrame({"source_row": table.data["source_row"]})
    for column in ("borough", "ward"):
        wards[column] = _place_names(table.data, column, table.name, problems, warnings)
    key = ward_key(wards["borough"], wards["ward"])
    for _, rows in wards[key.duplicated(keep=False) & (wards["ward"] != "")].groupby(key)["source_row"]:
        problems.add(table.name, "the same ward is listed more than once", "ward", rows)
    problems.raise_if_any()
    return wards.sort_values(["borough", "ward"]).reset_index(drop=True)


def planning_settings(params: dict, overrides: dict) -> dict:
    """The parameters' design assumptions with the command's options in their place, checked."""
    merged = {**params["rollout_planning"], **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return RolloutPlanning.model_validate(merged).model_dump()
    except ValidationError as exc:
        raise InputError([Problem("plan-rollout options", _describe(e)) for e in exc.errors()]) from None


def first_of_next_month(today: date | None = None) -> pd.Timestamp:
    return (pd.Timestamp(today or date.today()) + pd.offsets.MonthBegin(1)).normalize()


def build_plan(wards: pd.DataFrame, *, steps: int, seed: int, start: pd.Timestamp, settings: dict,
               alpha: float) -> tuple[pd.DataFrame, dict]:
    """The plan's table (one row per ward) and its design: order, dates, power."""
    if not 2 <= steps <= min(len(wards), MAX_STEPS):
        raise InputError([Problem("--steps", f"{steps} steps for {len(wards)} wards: give between 2 and "
                                             f"{min(len(wards), MAX_STEPS)} (at least one ward a step; with one "
                                             "step every ward goes live at once and nothing is left to compare)")])
    months = settings["months_per_step"]
    stratify = settings["stratify_by_borough"] and wards["borough"].nunique() > 1
    step = stepped_wedge.randomise_order(wards, steps, np.random.default_rng(seed), stratify=stratify)
    dates = {s: (start + pd.DateOffset(months=s * months)).date().isoformat() for s in range(1, steps + 1)}
    table = wards[["borough", "ward"]].assign(step=step, go_live=[dates[s] for s in step])
    table = table.sort_values(["step", "borough", "ward"]).reset_index(drop=True)
    effect = -settings["baseline_risk"] * settings["relative_reduction"]
    power = stepped_wedge.plan_power(clusters_per_step=np.bincount(step, minlength=steps + 1)[1:].tolist(),
                                     baseline_risk=settings["baseline_risk"], effect=effect, icc=settings["icc"],
                                     reports_per_ward_period=settings["reports_per_ward_month"] * months, alpha=alpha)
    design = {"seed": seed, "stratified_by": "borough" if stratify else None, "steps": steps,
              "wards_count": int(len(wards)), "start": start.date().isoformat(), "months_per_step": months,
              "step_dates": {str(s): d for s, d in dates.items()},
              "wards": table.to_dict(orient="records"),
              "assumptions": {**{k: settings[k] for k in ("baseline_risk", "relative_reduction", "icc",
                                                          "reports_per_ward_month", "months_per_step", "source")},
                              "effect": effect, "alpha": alpha},
              "power": {**power, "reports_per_ward_period": settings["reports_per_ward_month"] * months}}
    return table, design


def plan_rollout(*, wards_path: Path, steps: int, out: Path, params_file: Path, seed: int | None = None,
                 start: str | None = None, months_per_step: int | None = None, sheet: str | None = None,
                 **assumptions) -> dict:
    """Check the wards file and the options, then write rollout_plan.csv and plan.json into ``out``."""
    wards_path, out, params_file = (Path(p).resolve() for p in (wards_path, out, params_file))
    params = load_parameters(params_file)
    if not wards_path.exists():
        raise runner.RunFailure(f"The wards file {wards_path} does not exist.", runner.EXIT_BAD_INPUT)
    wards = read_wards(wards_path, sheet)
    settings = planning_settings(params, {**assumptions, "months_per_step": months_per_step})
    start_date = parse_start(start)
    seed = int(params["seed"] if seed is None else seed)
    table, design = build_plan(wards, steps=steps, seed=seed, start=start_date, settings=settings,
                               alpha=round(1 - float(params["confidence_level"]), 12))
    inputs = {"wards file": wards_path, "parameters file": params_file}
    with staged_output(out, inputs, written_by="srceval plan-rollout", writes=(PLAN_CSV, PLAN_FILE)) as files:
        csv_path = files.output_dir / PLAN_CSV
        table.to_csv(csv_path, index=False)
        plan = {**design, "schedule": {"file": PLAN_CSV, "sha256": sha256_of(csv_path)},
                "provenance": {"command": command_line(), "parameters": {"rollout_planning": settings,
                                                                         "confidence_level": params["confidence_level"],
                                                                         "seed": seed},
                               "files": [{"role": role, "file": path.name, "sha256": sha256_of(path)}
                                         for role, path in inputs.items()],
                               "package_version": __version__, "git_commit": git_commit(),
                               "python": platform.python_version(), "packages": package_versions(),
                               "generated_at": datetime.now(timezone.utc).replace(microsecond=0).isoformat()}}
        plan = to_jsonable(Plan.model_validate(to_jsonable(plan)).model_dump(mode="json"))
        write_json(files.output_dir / PLAN_FILE, plan)
    return plan


def parse_start(text: str | None) -> pd.Timestamp:
    """``--start``: the first day of the all-control period (ISO or day-first), or the 1st of next month."""
    if text is None:
        return first_of_next_month()
    from helpers.inputs.dates import parse_date

    value, problem = parse_date(text)
    if value is None:
        raise InputError([Problem("--start", problem or f"'{text}' is not a date (expected 2025-04-01)")])
    return value
