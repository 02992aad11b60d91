"""Covariate-adjusted intention-to-treat estimates, shown beside the unadjusted one.

Adjusting for baseline covariates that predict the outcome narrows the interval without
biasing the estimate, provided the covariates were fixed before randomisation.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from helpers.methods.audit import covariate_design
from helpers.methods.estimation import truncate_interval
from helpers.methods.modelfit import NotEstimable, fit_logit, independent_columns
from helpers.methods.tidy import Estimate


def _adjustment_problem(known: pd.DataFrame, outcome: str, treatment: str, parameters: int) -> str | None:
    """Why a covariate-adjusted model cannot be fitted to these reports, or None."""
    arm_sizes = known[treatment].value_counts()
    smallest = int(min(arm_sizes.get(0, 0), arm_sizes.get(1, 0)))
    if smallest == 0:
        return "an arm has no report with an outcome recorded"
    if known[outcome].nunique() < 2:
        return "every report has the same outcome"
    if smallest <= parameters:
        return (f"the smaller arm has {smallest} report(s), not more than the {parameters} parameters the model "
                "fits in each arm")
    return None


def _covariates(known: pd.DataFrame, outcome: str, treatment: str,
                columns: list[str] | None) -> tuple[pd.DataFrame, list[str], str | None]:
    """Usable covariates (constant and collinear ones dropped), the dropped names, and any problem."""
    if known.empty:
        return pd.DataFrame(index=known.index), [], "no report has an outcome recorded"
    covariates, dropped = independent_columns(covariate_design(known, columns))
    if covariates.empty:
        return covariates, dropped, "no baseline covariate varies among these reports"
    return covariates, dropped, _adjustment_problem(known, outcome, treatment, covariates.shape[1] + 1)


def _with_dropped(method: str, dropped: list[str]) -> str:
    return method if not dropped else f"{method}; dropped as constant or collinear: {', '.join(dropped)}"


def _prepared(data: pd.DataFrame, outcome: str, treatment: str, covariates: list[str] | None, estimand: str,
              method: str) -> tuple[pd.DataFrame, pd.DataFrame, str, Estimate | None]:
    """The reports with an outcome, the covariates that can be used and the method's label (naming any
    dropped), or the estimate that says why the adjustment cannot be made."""
    known = data[data[outcome].notna()]
    covariates, dropped, problem = _covariates(known, outcome, treatment, covariates)
    method = _with_dropped(method, dropped)
    refusal = Estimate.not_estimable(outcome, estimand, method, len(known), problem) if problem else None
    return known, covariates, method, refusal


def lin_estimator(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05,
                  covariates: list[str] | None = None) -> Estimate:
    """Risk difference from OLS with centred covariates interacted with treatment (Lin 2013).

    The coefficient on treatment is the average effect; HC2 standard errors, which Lin shows
    are conservative under complete randomisation; the interval and the test on t with n - k
    degrees of freedom (k the coefficients fitted), as R's ``estimatr::lm_lin`` computes them.
    Not attempted where an arm has no more reports than the parameters fitted in it (a
    covariate slope each, and the intercept).
    """
    estimand = "risk_difference_adjusted_lin"
    known, covariates, method, refusal = _prepared(data, outcome, treatment, covariates, estimand,
                                                   "OLS with centred covariates interacted with treatment, HC2, t "
                                                   "interval on n - k df (Lin 2013; as estimatr lm_lin)")
    if refusal:
        return refusal
    centred = covariates - covariates.mean()
    z = known[treatment].astype(float).rename("treatment")
    interactions = centred.mul(z, axis=0).add_prefix("treatment_x_")
    design, _ = independent_columns(pd.concat([z, centred, interactions], axis=1), keep=("treatment",))
    x = np.column_stack([np.ones(len(design)), design.to_numpy(dtype=float)])  # treatment is column 1
    estimate, se = ols_hc2(x, known[outcome].to_numpy(dtype=float), column=1)
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, estimand, method, len(known), "the standard error is zero or undefined")
    df = float(x.shape[0] - x.shape[1])  # the residual degrees of freedom, as estimatr's lm_lin
    critical = stats.t.ppf(1 - alpha / 2, df)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    return Estimate(outcome, estimand, estimate, low, high, method, int(len(known)), std_error=se,
                    p_value=float(2 * stats.t.sf(abs(estimate / se), df)), reason=reason, df=df)


def ols_hc2(x: np.ndarray, y: np.ndarray, *, column: int) -> tuple[float, float]:
    """One OLS coefficient and its HC2 standard error (MacKinnon & White 1985), from the normal equations.

    ``x`` has full column rank (:func:`~helpers.methods.modelfit.independent_columns`), so the
    k x k cross-product is inverted directly and each report's leverage is x_i' (X'X)^-1 x_i: on a
    million reports this takes a fraction of the time of a pseudo-inverse of the whole design.
    """
    try:
        bread = np.linalg.inv(x.T @ x)
    except np.linalg.LinAlgError:  # singular despite the rank check: no estimate, the caller says why
        return float("nan"), float("nan")
    beta = bread @ (x.T @ y)
    residual = y - x @ beta
    leverage = np.einsum("ij,jk,ik->i", x, bread, x)
    with np.errstate(divide="ignore", invalid="ignore"):  # a leverage of 1: the error is undefined
        meat = (x * (residual ** 2 / (1 - leverage))[:, None]).T @ x
    covariance = bread @ meat @ bread
    return float(beta[column]), float(np.sqrt(covariance[column, column]))


def logistic_marginal_difference(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                 alpha: float = 0.05, covariates: list[str] | None = None) -> Estimate:
    """Average marginal risk difference from a logistic regression on treatment and covariates.

    Every report's risk is predicted with and without SRC and the differences averaged. The
    delta-method standard error uses the analytic gradient of that average,
    mean(p1 (1 - p1) x1 - p0 (1 - p0) x0), with the model's covariance: the same quantity as
    statsmodels' ``get_margeff(dummy=True)``, which differentiates numerically and is slow on a
    large extract (a test compares the two).
    """
    estimand = "risk_difference_adjusted_logistic"
    known, covariates, method, refusal = _prepared(data, outcome, treatment, covariates, estimand,
                                                   "logistic regression, average marginal risk difference, delta "
                                                   "method, normal interval")
    if refusal:
        return refusal
    design = sm.add_constant(pd.concat([known[treatment].astype(float).rename("treatment"), covariates], axis=1))
    y = known[outcome].astype(float)
    try:
        fit = fit_logit(sm.Logit(y, design))
    except NotEstimable as exc:
        return Estimate.not_estimable(outcome, estimand, method, len(known), f"the model cannot be fitted ({exc})")
    with_src, without = design.assign(treatment=1.0).to_numpy(), design.assign(treatment=0.0).to_numpy()
    p1, p0 = fit.predict(with_src), fit.predict(without)
    estimate = float(np.mean(p1 - p0))
    gradient = ((p1 * (1 - p1))[:, None] * with_src - (p0 * (1 - p0))[:, None] * without).mean(axis=0)
    se = float(np.sqrt(gradient @ fit.cov_params().to_numpy() @ gradient))
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, estimand, method, len(known), "the standard error is zero or undefined")
    critical = stats.norm.ppf(1 - alpha / 2)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    return Estimate(outcome, estimand, estimate, low, high, method, int(len(known)), std_error=se,
                    p_value=float(2 * stats.norm.sf(abs(estimate / se))), reason=reason)
