"""The complier average causal effect against independent two-stage least squares.

References, both computed here and independent of linearmodels (which the code uses):
- the point estimate from statsmodels' own IV2SLS (statsmodels.sandbox.regression.gmm);
- the robust standard error from the textbook sandwich for just-identified IV with White's
  HC0 meat, V = (Z'X)^-1 (sum e_i^2 z_i z_i') (X'Z)^-1 (Wooldridge 2010, eq. 5.34), in numpy;
- R's estimatr::iv_robust (HC2, its default, and HC0) on the shipped cells, read from
  tests/reference/estimatr_iv.out, which tests/reference/estimatr_iv.R writes.
The trial is large (20,000 reports) with one-sided non-compliance, and those who take the
contact differ at baseline from those who do not, so naive comparisons are biased.
"""
import numpy as np
import pandas as pd
import pytest
from statsmodels.sandbox.regression.gmm import IV2SLS as StatsmodelsIV2SLS

from helpers.methods import complier, differences
from tests.reference_values import load

SIGNIFICANT = 5e-5  # four significant figures, as a relative tolerance
ESTIMATR = 1e-9  # both compute the same closed form
R = load("estimatr_iv")


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
    cace = complier.complier_average_causal_effect(large_trial, "attrition")
    assert cace.estimate == pytest.approx(reference.params[1], rel=SIGNIFICANT)


def test_cace_interval_is_close_to_the_hc0_sandwich_on_a_large_trial(large_trial):
    """HC2 and HC0 differ by a factor near 1 + 1/n on 20,000 reports; the t(n - 2) and normal quantiles agree."""
    y, d, z = (large_trial[c].to_numpy(float) for c in ("attrition", "received", "assigned"))
    estimate, se = sandwich_iv(y, d, z)
    cace = complier.complier_average_causal_effect(large_trial, "attrition")
    assert cace.std_error == pytest.approx(se, rel=SIGNIFICANT * 10)
    assert cace.conf_low < -0.12 < cace.conf_high  # covers the true complier effect


def test_negative_control_as_treated_is_biased(large_trial):
    """Comparing those who got the contact with those who did not mixes in never-takers."""
    cace = complier.complier_average_causal_effect(large_trial, "attrition")
    as_treated = large_trial.assign(assigned=large_trial["received"])
    naive = differences.risk_difference(as_treated, "attrition")
    assert abs(naive.estimate - cace.estimate) > 0.03


def test_cace_not_estimable_without_delivery():
    data = pd.DataFrame({"assigned": [0, 0, 1, 1], "received": [0, 0, 0, 0], "attrition": [1, 0, 1, 0]})
    cace = complier.complier_average_causal_effect(data, "attrition")
    assert cace.estimate is None and cace.reason.startswith("not estimable")


def shipped_cells() -> pd.DataFrame:
    """The shipped trial's cells: BAU 69/125 withdrew; SRC contacted 43/100, not contacted 11/25."""
    return pd.DataFrame({"assigned": [0] * 125 + [1] * 125, "received": [0] * 125 + [1] * 100 + [0] * 25,
                         "attrition": [1] * 69 + [0] * 56 + [1] * 43 + [0] * 57 + [1] * 11 + [0] * 14})


def test_cace_matches_estimatr_iv_robust_on_the_shipped_cells():
    """iv_robust(y ~ dd | z, data = d): -0.15, HC2 error, t interval on 248 df."""
    cace = complier.complier_average_causal_effect(shipped_cells(), "attrition")
    assert cace.estimate == pytest.approx(R["shipped.hc2.estimate"], abs=1e-12)
    assert cace.std_error == pytest.approx(R["shipped.hc2.std.error"], rel=ESTIMATR)
    assert (cace.conf_low, cace.conf_high) == pytest.approx((R["shipped.hc2.conf.low"], R["shipped.hc2.conf.high"]),
                                                            rel=ESTIMATR)
    assert cace.p_value == pytest.approx(R["shipped.hc2.p.value"], rel=ESTIMATR)


def test_negative_control_hc0_is_not_hc2():
    """The HC0 error on the same cells (iv_robust with se_type = "HC0") differs from HC2's."""
    cace = complier.complier_average_causal_effect(shipped_cells(), "attrition")
    assert abs(cace.std_error - R["shipped.hc0.std.error"]) > 1e-4
