"""Control-chart and funnel limits against hand computation; a drifting ward is flagged, steady ones are not."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.inputs.rollout import read_rollout
from helpers.inputs.simulate_rollout import RolloutDesign, simulate_rollout
from helpers.methods import control_charts as cc
from helpers.pipeline.monitor import ward_delivery

EXACT = 1e-12


def test_p_chart_limits_by_hand():
    reports, delivered = np.array([50, 80, 40, 60]), np.array([40, 62, 33, 47])
    chart = cc.p_chart(reports, delivered)
    centre = 182 / 230
    assert chart["centre"].iloc[0] == pytest.approx(centre, abs=EXACT)
    sigma = math.sqrt(centre * (1 - centre) / 80)
    assert chart["lower_limit"].iloc[1] == pytest.approx(centre - 3 * sigma, abs=EXACT)
    assert chart["upper_limit"].iloc[1] == pytest.approx(centre + 3 * sigma, abs=EXACT)
    assert chart.attrs["chart"] == "p"  # these months vary less than binomially


def test_laney_sigma_z_by_hand_and_the_wider_limits():
    reports = np.full(6, 400)
    delivered = np.array([360, 280, 350, 270, 340, 290])  # months far apart for their size: over-dispersed
    chart = cc.p_chart(reports, delivered)
    p = delivered / reports
    centre = delivered.sum() / reports.sum()
    sigma = np.sqrt(centre * (1 - centre) / 400)
    z = (p - centre) / sigma
    sigma_z = np.mean(np.abs(np.diff(z))) / 1.128
    assert chart.attrs["sigma_z"] == pytest.approx(sigma_z, abs=EXACT)
    assert chart.attrs["chart"] == "laney"
    assert chart["lower_limit"].iloc[0] == pytest.approx(centre - 3 * sigma * sigma_z, abs=EXACT)
    assert chart["upper_limit"].iloc[0] == 1.0  # kept inside [0, 1]


def test_anhoej_limits_are_the_published_ones():
    """Anhøj & Olesen (2014), table 1: 24 useful points signal above a run of 8 or below 8 crossings."""
    values = np.tile([1.0, 2.0], 12)
    rules = cc.anhoej_rules(values)
    assert (rules["useful_points"], rules["longest_run_limit"], rules["crossings_limit"]) == (24, 8, 8)
    shifted = np.r_[np.full(12, 1.0), np.full(12, 2.0)] + np.linspace(0, 0.01, 24)
    rules = cc.anhoej_rules(shifted)
    assert rules["longest_run"] == 12 and rules["long_run"] and rules["few_crossings"]
    assert rules["signal"].all()


def test_funnel_limits_by_exact_binomial_interpolation():
    """Spiegelhalter (2005), appendix A.1.1, written out for n = 40 around 0.8 at the lower 99.8% limit."""
    n, target, p = 40, 0.8, 0.001
    r = stats.binom.ppf(p, n, target)
    alpha = (stats.binom.cdf(r, n, target) - p) / (stats.binom.cdf(r, n, target) - stats.binom.cdf(r - 1, n, target))
    assert cc.funnel_limit(n, target, 0.998, "lower")[0] == pytest.approx((r - alpha) / n, abs=EXACT)
    # for large n the limits meet the normal ones: target ± 3.09 SD
    big = 100_000
    assert cc.funnel_limit(big, target, 0.998, "upper")[0] == pytest.approx(
        target + stats.norm.ppf(0.999) * math.sqrt(target * 0.2 / big), abs=2e-5)


def test_a_ward_below_the_lower_limit_is_flagged_and_one_within_is_not():
    frame = cc.funnel([100, 100, 100], [50, 78, 82], target=0.8)
    assert frame["flagged"].tolist() == [True, False, False]


def _flags(seed: int, params) -> tuple[pd.DataFrame, str]:
    simulated = simulate_rollout(RolloutDesign(), seed=seed)
    frame_dir = __import__("tempfile").mkdtemp(prefix="srceval-flags-")
    extract, schedule, _ = simulated.write(frame_dir)
    rollout = read_rollout(extract, schedule, params["outcomes"], disclosure_threshold=5)
    return ward_delivery(rollout.reports, 5), simulated.drifting_ward[1]


def test_the_drifting_ward_is_flagged_and_steady_wards_rarely_are(params):
    """Across five generated roll-outs the drifting ward is flagged every time; of the steady wards, at
    most one in a hundred is (the 99.8% limit's one-sided rate is 0.1% per ward, 0.5% allowed for the
    force's rate being estimated from the wards themselves)."""
    steady_flags = steady = 0
    for seed in range(5):
        wards, drifting = _flags(seed, params)
        assert wards.loc[wards["ward"] == drifting, "flagged"].item(), seed
        others = wards[wards["ward"] != drifting]
        steady_flags += int(others["flagged"].sum())
        steady += len(others)
    assert steady_flags / steady <= 0.01
