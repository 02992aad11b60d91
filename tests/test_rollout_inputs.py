"""The roll-out's inputs: bad schedules are refused with the file, the column and the rows (exit code 2)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from helpers import config
from helpers.errors import InputError
from helpers.inputs.rollout import planned_randomisation, read_rollout

ROLLOUT = config.RAW_DIR / "rollout"
SRCEVAL = Path(sys.executable).with_name("srceval")


@pytest.fixture(scope="module")
def shipped():
    return (pd.read_csv(ROLLOUT / "monitoring_extract.csv", dtype=str, keep_default_na=False),
            pd.read_csv(ROLLOUT / "rollout_schedule.csv", dtype=str, keep_default_na=False))


def refused(tmp_path, params, extract: pd.DataFrame, schedule: pd.DataFrame) -> str:
    extract.to_csv(tmp_path / "extract.csv", index=False)
    schedule.to_csv(tmp_path / "schedule.csv", index=False)
    with pytest.raises(InputError) as error:
        read_rollout(tmp_path / "extract.csv", tmp_path / "schedule.csv", params["outcomes"], disclosure_threshold=5)
    return str(error.value)


def test_the_shipped_example_reads(params, shipped):
    rollout = read_rollout(ROLLOUT / "monitoring_extract.csv", ROLLOUT / "rollout_schedule.csv", params["outcomes"],
                           disclosure_threshold=5)
    assert rollout.schedule["go_live"].isna().sum() == 11  # blank go-live dates: wards not live yet
    assert "crime_ref" not in rollout.reports
    assert not rollout.randomised


def test_a_ward_missing_from_the_schedule(tmp_path, params, shipped):
    extract, schedule = shipped
    message = refused(tmp_path, params, extract, schedule[schedule["ward"] != "MER-05"])
    assert "extract.csv, column 'ward', rows" in message
    assert "'MER-05'" in message and "not in the roll-out schedule schedule.csv" in message


def test_a_ward_with_few_reports_is_not_named_in_the_message(tmp_path, params, shipped):
    extract, schedule = shipped
    extract = extract.copy()
    extract.loc[extract.index[:2], "ward"] = "Tiny Ward"
    message = refused(tmp_path, params, extract, schedule)
    assert "Tiny" not in message
    assert "1 ward(s) with fewer than 5 reports (not named here)" in message
    assert "rows 2 and 3" in message


def test_a_go_live_after_the_extract_ends(tmp_path, params, shipped):
    extract, schedule = shipped
    schedule = schedule.copy()
    schedule.loc[3, "go_live"] = "2026-06-01"
    message = refused(tmp_path, params, extract, schedule)
    assert "schedule.csv, column 'go_live', row 5: the go-live date is after the extract's last report" in message


def test_no_ward_live(tmp_path, params, shipped):
    extract, schedule = shipped
    message = refused(tmp_path, params, extract, schedule.assign(go_live=""))
    assert "schedule.csv, column 'go_live', rows 2, 3" in message and "no ward is live" in message


def test_a_ward_listed_twice(tmp_path, params, shipped):
    extract, schedule = shipped
    twice = pd.concat([schedule, schedule.iloc[[7]].assign(ward=schedule.iloc[7]["ward"].lower())])
    message = refused(tmp_path, params, extract, twice)
    assert "schedule.csv, column 'ward', rows 9 and 81: the same ward is listed more than once" in message


@pytest.mark.parametrize("bad, reason", [("31/02/2024", "not a real date"), ("soon", "not a date"),
                                         ("01/03/24", "a date with a two-digit year")])
def test_a_go_live_that_is_not_a_date(tmp_path, params, shipped, bad, reason):
    extract, schedule = shipped
    schedule = schedule.copy()
    schedule.loc[0, "go_live"] = bad
    message = refused(tmp_path, params, extract, schedule)
    assert f"schedule.csv, column 'go_live', row 2: {reason}" in message
    assert bad not in message  # a cell may hold personal data: its value is never quoted


def test_a_schedule_without_its_columns(tmp_path, params, shipped):
    extract, schedule = shipped
    message = refused(tmp_path, params, extract, schedule.drop(columns=["go_live"]))
    assert "schedule.csv, column 'go_live': required column is missing" in message


def test_the_extracts_own_contract_still_applies(tmp_path, params, shipped):
    extract, schedule = shipped
    extract = extract.copy()
    extract.loc[4, "src_completed"] = "maybe"
    message = refused(tmp_path, params, extract, schedule)
    assert "extract.csv, column 'src_completed', row 6: expected Y or N" in message and "maybe" not in message


def test_an_edited_plan_is_no_longer_randomised(tmp_path):
    (tmp_path / "rollout_plan.csv").write_text("borough,ward,step,go_live\nA,a,1,2024-01-01\n")
    from helpers.inputs.reading import sha256_of

    (tmp_path / "plan.json").write_text('{"schedule": {"sha256": "%s"}, "seed": 1}' % sha256_of(
        tmp_path / "rollout_plan.csv"))
    assert planned_randomisation(tmp_path / "rollout_plan.csv")["seed"] == 1
    (tmp_path / "rollout_plan.csv").write_text("borough,ward,step,go_live\nA,a,1,2024-02-01\n")
    assert planned_randomisation(tmp_path / "rollout_plan.csv") is None


def test_srceval_monitor_refuses_a_bad_schedule_with_exit_2_and_writes_nothing(tmp_path, shipped):
    extract, schedule = shipped
    schedule[schedule["ward"] != "WAN-03"].to_csv(tmp_path / "schedule.csv", index=False)
    completed = subprocess.run([str(SRCEVAL), "monitor", "--extract", str(ROLLOUT / "monitoring_extract.csv"),
                                "--rollout", "schedule.csv", "--out", "out"], cwd=tmp_path, capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 2, completed.stderr
    assert "monitoring_extract.csv, column 'ward', rows" in completed.stderr and "Traceback" not in completed.stderr
    assert not (tmp_path / "out").exists()
