"""Builders of unusual trials as input files, and an in-process run of every stage on them.

Shared by the degenerate-trial tests and the property-based tests: each builds an allocation
log and a crime extract in the input contract's format, runs every stage notebook's code in this
process (no kernel) or the stage functions alone, and checks every figure against its parameter
space.
"""
from __future__ import annotations

import math
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import yaml

from helpers import config
from helpers.inputs.simulate import TrialDesign, simulate_trial
from helpers.pipeline import stages
from helpers.pipeline.context import open_stage
from helpers.pipeline.results import assemble_results

OPTIONAL_EXTRACT_HEADERS = {"src_completed_on", "src_mode", "outcome_on", "victim_age_band", "victim_sex",
                            "repeat_victim", "suspect_identified", "notes"}
FAST = {"randomisation_draws": 200}  # enough draws to exercise the code; the values are not the point


def simulated(seed: int = 3, **design) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated trial with no unrandomised or duplicate records, as (allocation, extract)."""
    settings = dict(incidents_not_randomised=0, crimes_not_randomised=0, duplicate_records=0)
    trial = simulate_trial(TrialDesign(**{**settings, **design}), seed=seed)
    return trial.allocation.copy(), trial.extract.copy()


def designed(assignment, seed: int = 3, **design) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A simulated blocked or cluster trial (:class:`helpers.inputs.simulate.Assignment`), as (allocation, extract)."""
    settings = dict(incidents_not_randomised=0, crimes_not_randomised=0, duplicate_records=0)
    trial = simulate_trial(TrialDesign(**{**settings, **design}), seed=seed, assignment=assignment)
    return trial.allocation.copy(), trial.extract.copy()


def required_columns_only(allocation: pd.DataFrame, extract: pd.DataFrame):
    """The same trial with every optional column of the input contract removed."""
    key = lambda header: header.lower().replace(" ", "_")
    return (allocation.drop(columns=["Random Number", "Comments"]),
            extract[[c for c in extract.columns if key(c) not in OPTIONAL_EXTRACT_HEADERS]])


def write_parameters(folder: Path, overrides: dict) -> Path:
    """A parameters file in ``folder``: the project's, with top-level keys replaced (e.g. ``design``)."""
    params = yaml.safe_load(config.PARAMETERS_FILE.read_text(encoding="utf-8"))
    path = folder / "parameters.yml"
    path.write_text(yaml.safe_dump({**params, **overrides}, sort_keys=False), encoding="utf-8")
    return path


def run_in_process(allocation: pd.DataFrame, extract: pd.DataFrame, folder: Path, *, report: bool = True,
                   params: dict | None = None) -> dict:
    """Write the two files, run every stage in this process, and return results.json.

    ``params`` replaces top-level keys of the project's parameters (written to the folder as
    ``parameters.yml`` and passed as ``params_file``), e.g. ``{"design": {...}}``.
    """
    folder.mkdir(parents=True, exist_ok=True)
    allocation_path, extract_path = folder / "allocation.csv", folder / "extract.csv"
    allocation.to_csv(allocation_path, index=False)
    extract.to_csv(extract_path, index=False)
    paths = dict(allocation_path=allocation_path, extract_path=extract_path, output_dir=folder / "out",
                 processed_dir=folder / "processed")
    if params:
        paths["params_file"] = write_parameters(folder, params)
    if report:
        for stage in config.STAGES:
            run_notebook_code(stage, paths)
    else:
        ctx = open_stage(**paths, **FAST)
        stages.run_stages(ctx)
    return assemble_results(open_stage(**paths, **FAST))


def run_notebook_code(stage: str, paths: dict) -> None:
    """Execute a stage notebook's code cells here, with its parameters set as papermill would."""
    notebook = nbformat.read(config.NOTEBOOKS_DIR / f"{stage}.ipynb", as_version=4)
    namespace: dict = {}
    for number, cell in enumerate(notebook.cells, start=1):
        if cell.cell_type != "code":
            continue
        exec(compile(cell.source, f"{stage}.ipynb, cell {number}", "exec"), namespace)  # noqa: S102 - our own
        if "parameters" in cell.metadata.get("tags", []):
            namespace.update({k: str(v) for k, v in paths.items() if k in namespace})
            namespace.update({k: v for k, v in FAST.items() if k in namespace})


def check_parameter_space(results: dict) -> None:
    """Every figure inside its parameter space, and no interval of zero width shown as certainty."""
    for name, entry in results["outcomes"].items():
        itt, cace = entry["itt"], entry["cace"]
        for arm in ("control", "treatment"):
            _within(entry[arm]["risk"], 0, 1, f"{name} {arm} risk")
        _interval(itt["risk_difference"], itt["risk_difference_ci"], -1, 1, f"{name} risk difference")
        _interval(itt["risk_ratio"], itt["risk_ratio_ci"], 0, math.inf, f"{name} risk ratio")
        _interval(itt["relative_risk_reduction"], itt["relative_risk_reduction_ci"], -math.inf, 1, f"{name} ITT RRR")
        _interval(cace["risk_difference"], cace["risk_difference_ci"], -1, 1, f"{name} complier effect")
        _interval(cace["relative_risk_reduction"], cace["relative_risk_reduction_ci"], -math.inf, 1,
                  f"{name} complier RRR")
        for key in ("complier_control_risk", "complier_treated_risk"):
            _within(cace[key], 0, 1, f"{name} {key}")
        for key in ("p_value_exact", "p_value_exact_one_sided", "p_value_randomisation"):
            _within(itt[key], 0, 1, f"{name} {key}")
        for key, value in entry["itt"].items():
            if value is None and key in ("risk_difference", "risk_ratio"):
                assert f"itt.{key}" in entry["notes"], f"{name} {key} is null without a reason"
        if cace["risk_difference"] is None:
            assert "cace.risk_difference" in entry["notes"], f"{name} complier effect is null without a reason"
        f = cace["first_stage_f"]
        assert f is None or (math.isfinite(f) and f >= 0), f"{name} first-stage F {f}"
    force = results["extrapolation"]
    lower, upper = -(force["hate_crimes"] - force["withdrawals"]), force["withdrawals"]
    for key in ("itt", "full_compliance"):
        _interval(force["prevented"][key], force["prevented"][f"{key}_ci"], lower, upper, f"prevented {key}")
    for scenario in force["delivery_scenarios"]:
        _interval(scenario["prevented"], scenario["prevented_ci"], lower, upper, "delivery scenario")


def _within(value, low, high, label) -> None:
    assert value is None or (math.isfinite(value) and low - 1e-9 <= value <= high + 1e-9), f"{label}: {value}"


def _interval(estimate, interval, low, high, label) -> None:
    _within(estimate, low, high, label)
    for end in interval:
        _within(end, low, high, f"{label} interval")
    a, b = interval
    if estimate is not None and a is not None and b is not None:
        assert a <= estimate + 1e-9 and estimate <= b + 1e-9, f"{label}: {estimate} outside [{a}, {b}]"
        assert b - a > 1e-12, f"{label}: an interval of zero width [{a}, {b}]"


# -- hostile trials: small categories that could single out a victim ----------------------------------

PERSON = "Jane Doe"


def hostile(allocation: pd.DataFrame, extract: pd.DataFrame, tweaks: list[str], seed: int):
    """The trial with the hostile cases the tweaks name, each on randomised reports chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    extract = extract.copy()
    randomised = extract.index[extract["Crime Ref"].isin(allocation["Crime Ref"])].to_numpy().copy()
    rng.shuffle(randomised)
    taken = iter(randomised)
    pick = lambda n: [next(taken) for _ in range(min(n, len(randomised) - 1))]
    strands = extract["Hate Strand"].str.lower().str.strip()
    for tweak in tweaks:
        if tweak == "one-report borough":
            extract.loc[pick(1), "borough"] = "Tinyborough"
        elif tweak == "two-report borough":
            extract.loc[pick(2), ["borough", "ward"]] = ["Smallborough", "SMA-01"]
        elif tweak == "person ward":
            extract.loc[pick(1), "ward"] = PERSON
        elif tweak == "three transgender":
            extract.loc[strands == "transgender", "Hate Strand"] = "race"
            extract.loc[pick(3), "Hate Strand"] = "transgender"
        elif tweak == "one borough":  # every report in one borough
            extract["borough"] = "Kingston"
        elif tweak == "rare disability":
            extract.loc[strands.str.contains("disability"), "Hate Strand"] = "religion"
            extract.loc[pick(2), "Hate Strand"] = "race;disability"
    return allocation, extract


# Every borough or ward label the hostile cases give to fewer reports than the disclosure threshold.
SMALL_LABELS = ("Tinyborough", "Smallborough", "SMA-01", PERSON)



# The hostile trials the attacker and the command-line run are given by hand (hypothesis combines the
# same cases, and "one borough", on trials it draws).
HAND_MADE = {
    "a borough with one report": ["one-report borough"],
    "a borough with two reports and three transgender victims": ["two-report borough", "three transgender"],
    "every hostile case at once": ["one-report borough", "two-report borough", "person ward", "three transgender",
                                   "rare disability"],
}




def estimate_row(results: dict, estimand: str, outcome: str = "attrition") -> dict:
    """One row of results.json's tidy table of estimates."""
    found = [row for row in results["estimates"] if (row["outcome"], row["estimand"]) == (outcome, estimand)]
    assert len(found) == 1, f"{len(found)} rows for {outcome}, {estimand}"
    return found[0]


def adjusted_rows(results: dict, outcome: str = "attrition") -> list[dict]:
    """The covariate-adjusted rows of one outcome (Lin's and the logistic regression's)."""
    return [row for row in results["estimates"]
            if row["outcome"] == outcome and row["estimand"].startswith("risk_difference_adjusted")]
