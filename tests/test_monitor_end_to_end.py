"""``srceval monitor`` and ``srceval plan-rollout`` through the command line, as an evaluator runs them.

The two full runs (the shipped roll-out from another folder with relative paths; the README's path
plan-rollout -> simulate --rollout --schedule -> monitor) start in the background when pytest has
collected the tests (tests/e2e_runs.py).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pandas as pd
import pytest
from pypdf import PdfReader

from helpers import config
from helpers.inputs.reading import sha256_of
from helpers.pipeline.models import SCHEMA_DIR, Monitoring, Plan

pytest.register_assert_rewrite("tests.e2e_runs")  # it is also this module's plugin, loaded below
from . import e2e_runs  # noqa: E402

pytest_plugins = ("tests.e2e_runs",)
SRCEVAL = Path(sys.executable).with_name("srceval")


def srceval(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(SRCEVAL), *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def finished(name: str) -> Path:
    folder, command = e2e_runs.started(name)
    completed = command.result()
    assert completed.returncode == 0, completed.stderr
    return folder


@pytest.fixture(scope="module")
def monitor_run() -> dict:
    folder = finished("monitor_run")
    out = folder / "monitoring"
    return {"folder": folder, "out": out, "json": json.loads((out / "monitoring.json").read_text()),
            "html": (out / "monitoring.html").read_text()}


@pytest.fixture(scope="module")
def planned_run() -> dict:
    folder = finished("planned_monitor_run")
    out = folder / "reports" / "monitoring"
    return {"folder": folder, "out": out, "json": json.loads((out / "monitoring.json").read_text()),
            "plan": json.loads((folder / "plan" / "plan.json").read_text())}


def schema(name: str) -> dict:
    return json.loads((SCHEMA_DIR / name).read_text())


def test_the_shipped_rollout_from_another_folder_writes_the_three_files(monitor_run):
    out = monitor_run["out"]
    for name in ("monitoring.json", "monitoring.html", "monitoring.pdf"):
        assert (out / name).is_file()
    jsonschema.Draft202012Validator(schema("monitoring.schema.json")).validate(monitor_run["json"])
    Monitoring.model_validate(monitor_run["json"])
    manifest = json.loads((out / ".srceval-manifest.json").read_text())
    assert manifest["written_by"] == "srceval monitor" and "monitoring.pdf" in manifest["files"]
    assert len(PdfReader(out / "monitoring.pdf").pages) >= 4


def test_page_one_has_provenance_and_says_the_rollout_is_observational(monitor_run):
    monitoring, page = monitor_run["json"], monitor_run["html"]
    files = {f["role"]: f for f in monitoring["provenance"]["files"]}
    extract = config.RAW_DIR / "rollout" / "monitoring_extract.csv"
    assert files["crime extract"]["sha256"] == sha256_of(extract)
    assert monitoring["provenance"]["command"].startswith("srceval monitor --extract monitoring_extract.csv ")
    assert "/" not in monitoring["provenance"]["command"]  # no folder is recorded: its name may name a place
    assert monitoring["design"]["randomised"] is False
    first_page = PdfReader(monitor_run["out"] / "monitoring.pdf").pages[0].extract_text()
    assert "observational comparison" in first_page and sha256_of(extract)[:20] in first_page.replace("\n", "")
    assert "srceval monitor --extract" in first_page and "Parameters: confidence level 95%" in first_page
    assert "SYNTHETIC" in page


def test_the_drifting_ward_is_flagged_and_the_effect_covers_the_truth(monitor_run):
    monitoring = monitor_run["json"]
    manifest = json.loads((config.RAW_DIR / "rollout" / "synthetic-manifest.json").read_text())
    drifting = manifest["drifting_ward"]
    assert monitoring["delivery"]["flagged_wards"] == [f"{drifting['borough']}: {drifting['ward']}"]
    effect = monitoring["effect"]
    assert effect["conf_low"] <= manifest["true_effect_all_live_reports"] <= effect["conf_high"]
    assert effect["naive_before_after"]["method"].startswith("naive before-and-after")
    assert effect["trial_prediction"]["estimate"] < 0 and effect["randomisation_test"] is None
    assert effect["comparison"].startswith("wards not yet live")
    assert [e["event_time"] for e in effect["event_time"]] == sorted(e["event_time"] for e in effect["event_time"])


def test_the_planned_order_gets_the_randomisation_test(planned_run):
    monitoring, plan = planned_run["json"], planned_run["plan"]
    assert monitoring["design"]["randomised"] is True and monitoring["design"]["plan_seed"] == 11
    assert monitoring["extract"]["synthetic"]  # the extract's manifest is beside it; the schedule is the plan
    test = monitoring["effect"]["randomisation_test"]
    assert test["draws"] == 1000 and 0 < test["p_value"] < 0.05
    jsonschema.Draft202012Validator(schema("plan.schema.json")).validate(plan)
    Plan.model_validate(plan)
    assert plan["schedule"]["sha256"] == sha256_of(planned_run["folder"] / "plan" / "rollout_plan.csv")
    assert {f["role"] for f in monitoring["provenance"]["files"]} >= {"randomisation plan"}


def test_plan_rollout_is_reproducible_and_stratified(tmp_path):
    wards = Path(__file__).parents[1] / "data" / "raw" / "rollout" / "wards.csv"
    for out, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        completed = srceval("plan-rollout", "--wards", str(wards), "--steps", "5", "--seed", seed, "--start",
                            "01/04/2025", "--out", out, cwd=tmp_path)
        assert completed.returncode == 0, completed.stderr
    read = lambda out: (tmp_path / out / "rollout_plan.csv").read_text()
    assert read("a") == read("b") and read("a") != read("c")
    plan = pd.read_csv(tmp_path / "a" / "rollout_plan.csv")
    assert list(plan.columns) == ["borough", "ward", "step", "go_live"]
    assert plan["go_live"].min() == "2025-07-01"  # step 1, one step of 3 months after the start
    spread = plan.groupby(["borough", "step"]).size().groupby("borough").agg(lambda c: c.max() - c.min())
    assert (spread <= 1).all()
    assert json.loads((tmp_path / "a" / "plan.json").read_text())["stratified_by"] == "borough"


@pytest.mark.parametrize("arguments, message", [
    (("--steps", "1"), "--steps: 1 steps for 79 wards: give between 2 and 60"),
    (("--steps", "4", "--start", "31/02/2025"), "--start: not a real date"),
    (("--steps", "4", "--icc", "1.5"), "parameter 'icc' is 1.5"),
])
def test_plan_rollout_refuses_bad_options_with_exit_2(tmp_path, arguments, message):
    wards = Path(__file__).parents[1] / "data" / "raw" / "rollout" / "wards.csv"
    completed = srceval("plan-rollout", "--wards", str(wards), "--out", "plan", *arguments, cwd=tmp_path)
    assert completed.returncode == 2 and message in completed.stderr, completed.stderr
    assert not (tmp_path / "plan").exists()


def test_plan_rollout_refuses_a_ward_listed_twice(tmp_path):
    (tmp_path / "wards.csv").write_text("borough,ward\nMerton,M1\nMerton,M2\nmerton,m1\n")
    completed = srceval("plan-rollout", "--wards", "wards.csv", "--steps", "2", "--out", "plan", cwd=tmp_path)
    assert completed.returncode == 2
    assert "wards.csv, column 'ward', rows 2 and 4: the same ward is listed more than once" in completed.stderr


def test_monitor_refuses_to_write_over_a_trial_report(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / ".srceval-manifest.json").write_text('{"written_by": "srceval run", "files": []}')
    rollout = config.RAW_DIR / "rollout"
    completed = srceval("monitor", "--extract", str(rollout / "monitoring_extract.csv"), "--rollout",
                        str(rollout / "rollout_schedule.csv"), "--out", "reports", cwd=tmp_path)
    assert completed.returncode == 2 and "holds the output of srceval run" in completed.stderr


def test_monitor_refuses_trial_results_that_are_not_a_trial_run(tmp_path):
    (tmp_path / "results.json").write_text('{"outcomes": {}}')
    rollout = config.RAW_DIR / "rollout"
    completed = srceval("monitor", "--extract", str(rollout / "monitoring_extract.csv"), "--rollout",
                        str(rollout / "rollout_schedule.csv"), "--trial-results", "results.json", "--out", "out",
                        cwd=tmp_path)
    assert completed.returncode == 2 and "are not a results.json of srceval run" in completed.stderr
    assert not (tmp_path / "out").exists()
