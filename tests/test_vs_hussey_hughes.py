"""Stepped-wedge variance and power against Hussey and Hughes' formula computed three ways.

References, each independent of ``helpers.methods.stepped_wedge``:
- base R's generalised least squares (``tests/reference/hussey_hughes.R``, its figures in
  ``hussey_hughes.out``): Var(θ̂) is the treatment element of (Z'V⁻¹Z)⁻¹ for the cluster-period
  means model of Hussey & Hughes (2007, Contemporary Clinical Trials 28:182–191, section 2);
- the same GLS matrix formula in numpy, written out here;
- their closed form (eq. 8), which the module implements, and their power (eq. 9).
The worked example is a design of the kind Hussey and Hughes discuss: 24 clusters in 4 steps of 6
(5 periods), risk 5% falling to 4%, between-cluster SD τ = 0.025, 100 individuals per cluster-period.
"""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from helpers.methods import stepped_wedge as sw
from tests.reference_values import load

RELATIVE = 1e-10  # the three routes differ by rounding only


def gls_variance(x: np.ndarray, sigma2: float, tau2: float, m: float) -> float:
    """Var(θ̂) = [(Z'V⁻¹Z)⁻¹]_θθ, Z = (intercept, periods 2..T, treatment), V = σ²/m I + τ² J per cluster."""
    clusters, periods = x.shape
    inverse = np.linalg.inv(np.eye(periods) * sigma2 / m + tau2)
    information = np.zeros((periods + 1, periods + 1))
    for row in x:
        z = np.column_stack([np.ones(periods), np.eye(periods)[:, 1:], row])
        information += z.T @ inverse @ z
    return float(np.linalg.inv(information)[-1, -1])


EXAMPLE = dict(per_step=[6, 6, 6, 6], theta=-0.01, risk=0.05 - 0.01 / 2, tau2=0.025 ** 2, m=100)


def test_design_matrix_is_a_stepped_wedge():
    x = sw.design_matrix([2, 1])
    assert x.tolist() == [[0, 1, 1], [0, 1, 1], [0, 0, 1]]


def test_closed_form_equals_the_gls_matrix_formula_in_numpy_and_in_r():
    x = sw.design_matrix(EXAMPLE["per_step"])
    sigma2 = EXAMPLE["risk"] * (1 - EXAMPLE["risk"])
    closed = sw.hussey_hughes_variance(x, sigma2=sigma2, tau2=EXAMPLE["tau2"], m=EXAMPLE["m"])
    assert closed == pytest.approx(gls_variance(x, sigma2, EXAMPLE["tau2"], EXAMPLE["m"]), rel=RELATIVE)
    assert closed == pytest.approx(load("hussey_hughes")["example_variance"], rel=RELATIVE)
    power = sw.hussey_hughes_power(EXAMPLE["theta"], closed)
    assert power == pytest.approx(load("hussey_hughes")["example_power"], rel=RELATIVE)
    assert power == pytest.approx(stats.norm.cdf(0.01 / np.sqrt(closed) - 1.959963984540054), rel=RELATIVE)


def test_the_plans_power_equals_r_for_the_default_rollout():
    plan = sw.plan_power(clusters_per_step=[14, 13, 13, 13, 13, 13], baseline_risk=0.305, effect=-0.305 * 0.22,
                         icc=0.02, reports_per_ward_period=7.5, alpha=0.05)
    assert plan["variance"] == pytest.approx(load("hussey_hughes")["rollout_variance"], rel=RELATIVE)
    assert plan["power"] == pytest.approx(load("hussey_hughes")["rollout_power"], rel=RELATIVE)
    assert (plan["clusters"], plan["periods"]) == (79, 7)


@pytest.mark.parametrize("per_step, tau2", [([3, 5, 2], 0.0), ([1, 1, 1, 1, 1, 1], 0.01), ([9, 1], 0.002)])
def test_closed_form_equals_gls_on_unequal_steps(per_step, tau2):
    x = sw.design_matrix(per_step)
    assert sw.hussey_hughes_variance(x, sigma2=0.2, tau2=tau2, m=12) == pytest.approx(
        gls_variance(x, 0.2, tau2, 12), rel=RELATIVE)


def test_every_ward_in_one_step_has_no_contrast():
    """One step: going live coincides with the second period, so the effect is not identified."""
    assert sw.hussey_hughes_variance(sw.design_matrix([10]), sigma2=0.2, tau2=0.002, m=12) == float("inf")
    assert sw.hussey_hughes_power(-0.05, float("inf")) == 0.0


def test_negative_control_a_parallel_design_is_not_a_stepped_wedge():
    """The formula depends on the design: half the clusters treated throughout gives another variance."""
    wedge = sw.design_matrix([6, 6, 6, 6])
    parallel = np.vstack([np.ones((12, 5)), np.zeros((12, 5))])
    args = dict(sigma2=0.2, tau2=0.001, m=100)
    assert sw.hussey_hughes_variance(wedge, **args) != pytest.approx(sw.hussey_hughes_variance(parallel, **args),
                                                                      rel=0.01)


def test_stratified_order_spreads_each_borough_and_is_reproducible():
    import pandas as pd

    wards = pd.DataFrame({"borough": ["A"] * 7 + ["B"] * 5 + ["C"] * 3, "ward": [f"w{i}" for i in range(15)]})
    first = sw.randomise_order(wards, 3, np.random.default_rng(5), stratify=True)
    again = sw.randomise_order(wards, 3, np.random.default_rng(5), stratify=True)
    assert first.tolist() == again.tolist()
    assert sorted(np.bincount(first)[1:].tolist()) == [5, 5, 5]
    for _, rows in wards.groupby("borough").indices.items():  # each borough spread as evenly as it can be
        counts = np.bincount(first[rows], minlength=4)[1:]
        assert counts.max() - counts.min() <= 1
    assert sw.randomise_order(wards, 3, np.random.default_rng(6), stratify=True).tolist() != first.tolist()
