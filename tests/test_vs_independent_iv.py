"""The complier average causal effect against independent two-stage least squares.

References, both computed here and independent of linearmodels (which the code uses):
- the point estimate from statsmodels' own IV2SLS (statsmodels.sandbox.regression.gmm);
- the robust standard error from the textbook sandwich for just-identified IV with White's
  HC0 meat, V = (Z'X)^-1 (sum e_i^2 z_i z_i') (X'Z)^-1 (Wooldridge 2010, eq. 5.34), in numpy.
The trial is large (20,000 reports) with one-sided non-compliance, and those who take the
contact differ at baseline from those who do not, so naive comparisons are biased.
"""
import numpy as np
import pandas as pd
import pytest
from statsmodels.sandbox.regression.gmm import IV2SLS as StatsmodelsIV2SLS

from helpers import estimation

SIGNIFICANT = 5e-5  # four significant figures, as a relative tolerance


@pytest.fixture(scope="module")
def large_trial() -> pd.DataFrame:
    rng = np.random.default_rng(2024)
    n = 20_000
    assigned = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)]).astype(int)
    complier = rng.random(n) < 0.7
    received = assigned * complier
    baseline = np.where(complier, 0.50, 0.65)  # never-takers withdraw more whatever happens
    risk = baseline - 0.12 * received
    return pd.DataFrame({"assigned": assigned, "received": received, "attrition": (rng.random(n) < risk).astype(int)})


def sandwich_iv(y, d, z):
    X = np.column_stack([np.ones_like(d), d])
    Z = np.column_stack([np.ones_like(z), z])
    beta = np.linalg.solve(Z.T @ X, Z.T @ y)
    e = y - X @ beta
    bread = np.linalg.inv(Z.T @ X)
    meat = (Z * e[:, None] ** 2).T @ Z
    return beta[1], np.sqrt((bread @ meat @ bread.T)[1, 1])


def test_cace_matches_statsmodels_iv2sls(large_trial):
    y, d, z = (large_trial[c].to_numpy(float) for c in ("attrition", "received", "assigned"))
    reference = StatsmodelsIV2SLS(y, np.column_stack([np.ones_like(d), d]), np.column_stack([np.ones_like(z), z])).fit()
    cace = estimation.complier_average_causal_effect(large_trial, "attrition")
    assert cace.estimate == pytest.approx(reference.params[1], rel=SIGNIFICANT)


def test_cace_interval_matches_the_hc0_sandwich(large_trial):
    y, d, z = (large_trial[c].to_numpy(float) for c in ("attrition", "received", "assigned"))
    estimate, se = sandwich_iv(y, d, z)
    cace = estimation.complier_average_causal_effect(large_trial, "attrition")
    assert cace.std_error == pytest.approx(se, rel=SIGNIFICANT)
    assert cace.conf_low == pytest.approx(estimate - 1.959963984540054 * se, rel=SIGNIFICANT)
    assert cace.conf_high == pytest.approx(estimate + 1.959963984540054 * se, rel=SIGNIFICANT)
    assert cace.conf_low < -0.12 < cace.conf_high  # covers the true complier effect


def test_negative_control_as_treated_is_biased(large_trial):
    """Comparing those who got the contact with those who did not mixes in never-takers."""
    cace = estimation.complier_average_causal_effect(large_trial, "attrition")
    as_treated = large_trial.assign(assigned=large_trial["received"])
    naive = estimation.risk_difference(as_treated, "attrition")
    assert abs(naive.estimate - cace.estimate) > 0.03


def test_cace_not_estimable_without_delivery():
    data = pd.DataFrame({"assigned": [0, 0, 1, 1], "received": [0, 0, 0, 0], "attrition": [1, 0, 1, 0]})
    cace = estimation.complier_average_causal_effect(data, "attrition")
    assert cace.estimate is None and cace.reason.startswith("not estimable")
