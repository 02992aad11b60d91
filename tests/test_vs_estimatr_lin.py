"""Lin's (2013) covariate-adjusted estimate of the shipped trial against R's ``estimatr::lm_lin``.

Reference values: ``tests/reference/shipped_lin.R`` (R 4.2.2, estimatr 1.0.0), which reads the shipped
files in data/raw/ itself, cleans them as the input contract says, codes the analysis plan's
covariates by the project's documented rule and fits ``lm_lin(y ~ z, covariates = ..., se_type =
"HC2")``: HC2 errors, and a t interval and test on n - k degrees of freedom. It shares no code with
the project, so an agreement is not one implementation checking itself. R is not needed to run
these tests.
"""
import pytest
from scipy import stats

from helpers.methods import adjusted_lin

from .reference_values import load

R = load("shipped_lin")
# The bar of the published check: the shipped run's Lin interval equals lm_lin's to 1e-5. The normal
# equations here and R's QR decomposition agree to rounding (about 1e-12), which is what is asserted.
TOLERANCE = 1e-5
CLOSED_FORM = 1e-9


def lin(reference_results) -> dict:
    return next(row for row in reference_results["estimates"]
                if (row["outcome"], row["estimand"]) == ("attrition", "risk_difference_adjusted_lin"))


def test_the_shipped_lin_estimate_is_lm_lins(reference_results):
    row = lin(reference_results)
    assert row["n"] == R["lin.n"]
    for mine, theirs in (("estimate", "estimate"), ("std_error", "std.error"), ("conf_low", "conf.low"),
                         ("conf_high", "conf.high"), ("p_value", "p.value"), ("df", "df"),
                         ("statistic", "statistic")):
        assert row[mine] == pytest.approx(R[f"lin.{theirs}"], abs=CLOSED_FORM), mine
    assert [row["conf_low"], row["conf_high"]] == pytest.approx([R["lin.conf.low"], R["lin.conf.high"]], abs=TOLERANCE)
    assert "t interval on n - k df" in row["method"]


def test_a_normal_interval_would_not_be_lm_lins(reference_results):
    """Negative control: the same estimate and error with the normal's critical value miss R's interval."""
    row = lin(reference_results)
    critical = stats.norm.ppf(0.975)
    normal = [row["estimate"] - critical * row["std_error"], row["estimate"] + critical * row["std_error"]]
    assert abs(normal[0] - R["lin.conf.low"]) > 10 * TOLERANCE
    assert abs(normal[1] - R["lin.conf.high"]) > 10 * TOLERANCE


def test_the_t_degrees_of_freedom_are_the_residual_ones(analysis, params):
    """n - k: 250 reports, and k = 12 coefficients (intercept, treatment, five covariates, five interactions)."""
    estimate = adjusted_lin.lin_estimator(analysis, "attrition", covariates=params["analysis_plan"]["covariates"]["columns"])
    assert estimate.df == 250 - 12 == R["lin.df"]
