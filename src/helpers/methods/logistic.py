"""The covariate-adjusted risk difference from a logistic regression: the average marginal difference.

Valid where reports were randomised one by one (complete or simple randomisation); under a blocked
or cluster design the model takes the reports as completely randomised and independent, so the
row says it is not valid there and points to Lin's estimate (:mod:`helpers.methods.adjusted_lin`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from helpers.methods.arms import known
from helpers.methods.covariates import prepared
from helpers.methods.design import COMPLETE, Design
from helpers.methods.modelfit import NotEstimable, fit_logit
from helpers.methods.tidy import Estimate, truncate_interval

ESTIMAND = "risk_difference_adjusted_logistic"


def risk_difference(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                    covariates: list[str] | None = None) -> Estimate:
    """The logistic average marginal risk difference on the plan's ``covariates``, where ``design`` supports it."""
    why = design.unsupported("logistic_adjustment")
    if why:
        row = Estimate.not_estimable(outcome, ESTIMAND, "logistic regression, average marginal difference",
                                     len(known(data, outcome)), why)
    else:
        row = logistic_marginal_difference(data, outcome, conf_level=conf_level, covariates=covariates)
    return row.under(design.assignment, conf_level)


def logistic_marginal_difference(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                 conf_level: float = 0.95, covariates: list[str] | None = None) -> Estimate:
    """Average marginal risk difference from a logistic regression on treatment and covariates.

    Every report's risk is predicted with and without SRC and the differences averaged. The
    delta-method standard error uses the analytic gradient of that average,
    mean(p1 (1 - p1) x1 - p0 (1 - p0) x0), with the model's covariance: the same quantity as
    statsmodels' ``get_margeff(dummy=True)``, which differentiates numerically and is slow on a
    large extract (a test compares the two).
    """
    alpha = 1 - conf_level
    rows, usable, method, refusal = prepared(data, outcome, treatment, covariates, ESTIMAND,
                                             "logistic regression, average marginal risk difference, delta "
                                             "method, normal interval")
    if refusal:
        return refusal
    design = sm.add_constant(pd.concat([rows[treatment].astype(float).rename("treatment"), usable], axis=1))
    y = rows[outcome].astype(float)
    try:
        fit = fit_logit(sm.Logit(y, design))
    except NotEstimable as exc:
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows), f"the model cannot be fitted ({exc})")
    with_src, without = design.assign(treatment=1.0).to_numpy(), design.assign(treatment=0.0).to_numpy()
    p1, p0 = fit.predict(with_src), fit.predict(without)
    estimate = float(np.mean(p1 - p0))
    gradient = ((p1 * (1 - p1))[:, None] * with_src - (p0 * (1 - p0))[:, None] * without).mean(axis=0)
    se = float(np.sqrt(gradient @ fit.cov_params().to_numpy() @ gradient))
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows), "the standard error is zero or undefined")
    critical = stats.norm.ppf(1 - alpha / 2)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    return Estimate(outcome, ESTIMAND, estimate, low, high, method, int(len(rows)), std_error=se,
                    p_value=float(2 * stats.norm.sf(abs(estimate / se))), reason=reason)
