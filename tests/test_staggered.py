"""The staggered estimate recovers a known effect under a secular trend; the before-and-after does not.

The generated roll-outs (``srceval simulate --rollout``) have every ward's withdrawal falling by
0.3 points a month, live or not, and a contact that lowers a victim's risk by 26%. The true effect
of going live is known for every report; over the cells the estimator uses it is about −7.7 points.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.inputs.rollout import read_rollout
from helpers.inputs.simulate_rollout import RolloutDesign, simulate_rollout
from helpers.methods import staggered

FORCE = RolloutDesign(reports_per_ward_month=25)  # about 70,000 reports: three years of a force's wards
DRAWS = 400


def true_effect(simulated, cells: list[dict]) -> float:
    """The known effect averaged over the post-go-live cells the estimate used, with the same weights."""
    truth = simulated.truth.assign(cohort=simulated.truth["ward"].map(simulated.schedule.set_index("ward")["go_live"])
                                   .dt.strftime("%Y-%m"), month=simulated.truth["month"].dt.strftime("%Y-%m"))
    by_cell = truth.groupby(["cohort", "month"])["effect"].mean()
    used = [c for c in cells if c["estimate"] is not None and c["event_time"] >= 0]
    weights = np.array([c["reports"] for c in used], dtype=float)
    return float(np.dot(weights, [by_cell[(c["cohort"], c["month"])] for c in used]) / weights.sum())


@pytest.fixture(scope="module", params=[20230201, 7])
def force_rollout(request, tmp_path_factory, params):
    simulated = simulate_rollout(FORCE, seed=request.param)
    extract, schedule, _ = simulated.write(tmp_path_factory.mktemp("rollout"))
    rollout = read_rollout(extract, schedule, params["outcomes"], disclosure_threshold=5)
    panel, left_out = staggered.build_panel(rollout.reports, rollout.schedule)
    return simulated, panel, left_out


def test_the_staggered_interval_covers_the_truth_and_the_naive_one_does_not(force_rollout):
    simulated, panel, _ = force_rollout
    result = staggered.staggered_effect(panel, alpha=0.05, draws=DRAWS, seed=1)
    overall, truth = result["overall"], true_effect(simulated, result["cells"])
    assert -0.09 < truth < -0.06
    assert overall["conf_low"] <= truth <= overall["conf_high"]
    naive = staggered.naive_before_after(panel, alpha=0.05, draws=DRAWS, seed=1)
    assert not naive["conf_low"] <= truth <= naive["conf_high"]
    assert naive["estimate"] < truth  # the trend's fall is credited to SRC
    assert "naive" in naive["method"] and "Callaway" in overall["method"]


def test_placebo_months_before_go_live_are_near_zero(force_rollout):
    _, panel, _ = force_rollout
    result = staggered.staggered_effect(panel, alpha=0.05, draws=DRAWS, seed=1)
    placebo = [e for e in result["event_time"] if -6 <= e["event_time"] < 0]
    assert len(placebo) == 6
    covered = sum(e["conf_low"] <= 0 <= e["conf_high"] for e in placebo)
    assert covered >= 5


def test_cells_without_a_not_yet_live_ward_are_not_estimable_with_a_reason(force_rollout):
    _, panel, _ = force_rollout
    result = staggered.staggered_effect(panel, alpha=0.05, draws=50, seed=1)
    # the default schedule leaves its last step blank: wards never live are the comparison to the end
    assert all(c["estimate"] is not None for c in result["cells"])
    every_ward_live = staggered.Panel(panel.wards.assign(first_live=np.where(
        np.isfinite(panel.first_live), panel.first_live, len(panel.months) - 2)), panel.months, panel.reports,
        panel.events)
    late = staggered.staggered_effect(every_ward_live, alpha=0.05, draws=50, seed=1)
    missing = [c for c in late["cells"] if c["estimate"] is None]
    assert missing and all(c["reason"].startswith("not estimable") for c in missing)
    assert late["overall"]["estimate"] is not None


def test_no_ward_going_live_inside_the_extract_is_not_estimable():
    months = pd.date_range("2024-01-01", periods=4, freq="MS")
    wards = pd.DataFrame({"borough": "B", "ward": ["a", "b"], "key": ["a", "b"], "first_live": [np.inf, np.inf]})
    panel = staggered.Panel(wards, months, np.full((2, 4), 10.0), np.full((2, 4), 3.0))
    result = staggered.staggered_effect(panel, alpha=0.05, draws=50, seed=1)
    assert result["overall"]["estimate"] is None
    assert result["overall"]["reason"].startswith("not estimable")


def test_the_bootstrap_resamples_whole_wards_within_cohorts(force_rollout):
    _, panel, _ = force_rollout
    cohorts, _ = staggered.cohort_weights(panel)
    weights = staggered.bootstrap_weights(panel, cohorts, 20, np.random.default_rng(3))
    sizes = np.array([(panel.first_live == g).sum() for g in cohorts])
    assert (weights.sum(axis=2) == sizes[None, :]).all()  # each cohort keeps its number of wards
    assert ((weights > 0).sum(axis=1) <= 1).all()  # a ward belongs to one cohort


def test_the_trial_prediction_by_hand():
    """− relative reduction x delivery after go-live x risk before: − 0.25 x 10/20 x 8/20 = − 0.05."""
    result = staggered.trial_prediction(
        delivered_after=np.array([8.0, 2.0]), reports_after=np.array([10.0, 10.0]),
        events_before=np.array([5.0, 3.0]), reports_before=np.array([10.0, 10.0]), relative_reduction=0.25,
        relative_reduction_ci=None, alpha=0.05, draws=200, seed=1)
    assert result["estimate"] == pytest.approx(-0.05, abs=1e-12)
    assert result["conf_low"] <= -0.05 <= result["conf_high"]
    assert "no interval" in result["method"]


def _planned_panel(tmp_path, params, relative_reduction: float):
    from helpers.inputs.simulate_rollout import trial_wards
    from helpers.pipeline.plan import build_plan

    table, plan = build_plan(trial_wards(), steps=5, seed=3, start=pd.Timestamp("2023-02-01"), alpha=0.05,
                             settings={**params["rollout_planning"], "months_per_step": 4})
    design = RolloutDesign(reports_per_ward_month=15, relative_reduction=relative_reduction, first_go_live_month=6)
    simulated = simulate_rollout(design, seed=5, schedule=table.assign(go_live=pd.to_datetime(table["go_live"])))
    simulated.schedule.assign(go_live=simulated.schedule["go_live"].dt.strftime("%Y-%m-%d")).to_csv(
        tmp_path / "schedule.csv", index=False)
    simulated.write(tmp_path, schedule=False)
    rollout = read_rollout(tmp_path / "monitoring_extract.csv", tmp_path / "schedule.csv", params["outcomes"],
                           disclosure_threshold=5)
    panel, _ = staggered.build_panel(rollout.reports, rollout.schedule)
    return panel, plan


def test_the_randomisation_test_rejects_a_real_effect_and_not_a_null_one(tmp_path, params):
    from helpers.methods.stepped_wedge import randomisation_test

    p_values = {}
    for reduction in (0.0, 0.4):
        folder = tmp_path / str(reduction)
        folder.mkdir()
        panel, plan = _planned_panel(folder, params, reduction)
        observed = staggered.staggered_effect(panel, alpha=0.05, draws=50, seed=1)["overall"]["estimate"]
        p_values[reduction] = randomisation_test(panel, plan, observed, draws=300, seed=2)["p_value"]
    assert p_values[0.4] < 0.01
    assert p_values[0.0] > 0.05
