"""Ward tables and the funnel plot publish no count under the disclosure threshold, and never name such a ward."""
from __future__ import annotations

import json

import pandas as pd

from helpers import config
from helpers.pipeline import monitor
from helpers.pipeline.monitoring_results import assemble_monitoring

ROLLOUT = config.RAW_DIR / "rollout"


def test_a_ward_with_few_reports_since_go_live_is_neither_named_nor_counted(tmp_path):
    schedule = pd.read_csv(ROLLOUT / "rollout_schedule.csv", dtype=str, keep_default_na=False)
    extract = pd.read_csv(ROLLOUT / "monitoring_extract.csv", dtype=str)
    late = schedule.index[schedule["go_live"] != ""][-1]
    name = schedule.loc[late, "ward"]
    crimes = extract[(extract["ward"] == name) & (extract["record_type"] == "crime")]
    schedule.loc[late, "go_live"] = sorted(crimes["reported_on"])[-3]  # three reports on or after it
    schedule.to_csv(tmp_path / "schedule.csv", index=False)
    ctx = monitor.open_monitor(extract_path=ROLLOUT / "monitoring_extract.csv", schedule_path=tmp_path / "schedule.csv",
                               output_dir=tmp_path / "out", processed_dir=tmp_path / "processed")
    monitor.delivery_stage(ctx)
    monitor.effect_stage(ctx)
    monitoring = assemble_monitoring(ctx)
    reports = pd.read_parquet(ctx.reports_file)
    after = int(((reports["ward"] == name) & (reports["after_go_live"] == 1)).sum())
    assert 0 < after < 5
    wards = monitoring["delivery"]["by_ward"]
    combined = [w for w in wards if w["combined"]]
    assert combined and all(w["ward"] == "other wards" and w["wards"] >= 2 and not w["flagged"] for w in combined)
    published = json.dumps(monitoring["delivery"]) + json.dumps(monitoring["effect"])
    assert f'"{name}"' not in published and name not in monitoring["delivery"]["flagged_wards"]
    assert name not in ctx.files.figure("delivery_funnel").read_text()
    for row in wards:  # every count published, and every count implied, is 0 or at least the threshold
        for value in (row["reports"], row["delivered"], row["reports"] - row["delivered"]):
            assert value == 0 or value >= 5, row
    for month in monitoring["delivery"]["by_month"]:
        for value in (month["reports"], month["delivered"], month["reports"] - month["delivered"]):
            assert value == 0 or value >= 5, month
    total = sum(row["reports"] for row in wards)
    assert total == monitoring["delivery"]["reports_after_go_live"]
