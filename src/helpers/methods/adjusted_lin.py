"""Lin's covariate-adjusted risk difference, under every design.

Adjusting for baseline covariates that predict the outcome narrows the interval without biasing
the estimate, provided the covariates were fixed before randomisation. Lin (2013): OLS of the
outcome on the allocation, the centred covariates and their interactions with the allocation; the
coefficient of the allocation is the average effect.

complete, simple
    HC2 standard error, t interval and test on n - k df (as estimatr's ``lm_lin``).
blocked
    The block indicators join the plan's covariates (centred and interacted like them), which makes
    the estimate block-weighted: with no other covariate it is the blocked difference in means
    exactly; HC2, t on n - k df.
cluster
    CR2 cluster-robust standard error with Bell-McCaffrey df (as ``lm_lin(..., clusters =,
    se_type = "CR2")``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from helpers.methods import differences
from helpers.methods.arms import cluster_problem
from helpers.methods.covariates import adjustment_problem, covariate_design, prepared, with_dropped
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.modelfit import independent_columns
from helpers.methods.robust import cr2_variance, ols_hc2
from helpers.methods.tidy import Estimate, truncate_interval, within

ESTIMAND = "risk_difference_adjusted_lin"


def risk_difference(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                    covariates: list[str] | None = None) -> Estimate:
    """Lin's adjusted risk difference on the plan's ``covariates`` under ``design``."""
    if design.individual:
        row = lin_estimator(data, outcome, conf_level=conf_level, covariates=covariates)
    else:
        row = lin_by_design(design.with_units(data), outcome, design, covariates=list(covariates or []),
                            conf_level=conf_level)
    return row.under(design.assignment, conf_level)


def lin_estimator(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", conf_level: float = 0.95,
                  covariates: list[str] | None = None) -> Estimate:
    """Risk difference from OLS with centred covariates interacted with treatment (Lin 2013).

    The coefficient on treatment is the average effect; HC2 standard errors, which Lin shows
    are conservative under complete randomisation; the interval and the test on t with n - k
    degrees of freedom (k the coefficients fitted), as R's ``estimatr::lm_lin`` computes them.
    Not attempted where an arm has no more reports than the parameters fitted in it (a
    covariate slope each, and the intercept).
    """
    alpha = 1 - conf_level
    rows, usable, method, refusal = prepared(data, outcome, treatment, covariates, ESTIMAND,
                                             "OLS with centred covariates interacted with treatment, HC2, t "
                                             "interval on n - k df (Lin 2013; as estimatr lm_lin)")
    if refusal:
        return refusal
    centred = usable - usable.mean()
    z = rows[treatment].astype(float).rename("treatment")
    interactions = centred.mul(z, axis=0).add_prefix("treatment_x_")
    design, _ = independent_columns(pd.concat([z, centred, interactions], axis=1), keep=("treatment",))
    x = np.column_stack([np.ones(len(design)), design.to_numpy(dtype=float)])  # treatment is column 1
    estimate, se = ols_hc2(x, rows[outcome].to_numpy(dtype=float), column=1)
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows), "the standard error is zero or undefined")
    df = float(x.shape[0] - x.shape[1])  # the residual degrees of freedom, as estimatr's lm_lin
    critical = stats.t.ppf(1 - alpha / 2, df)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    return Estimate(outcome, ESTIMAND, estimate, low, high, method, int(len(rows)), std_error=se,
                    p_value=float(2 * stats.t.sf(abs(estimate / se), df)), reason=reason, df=df)


def lin_by_design(frame: pd.DataFrame, outcome: str, design: Design, *, covariates: list[str],
                  conf_level: float = 0.95) -> Estimate:
    """Lin's (2013) covariate-adjusted risk difference under a blocked or cluster design.

    ``frame`` holds each report's block or cluster in :data:`~helpers.methods.design.UNIT`. blocked:
    the block indicators join the plan's covariates (centred and interacted with the allocation like
    them), which makes the estimate block-weighted: with no other covariate it is the blocked
    difference in means exactly; HC2 standard error; not estimable where the blocked difference is
    not. cluster: the plan's covariates, with a CR2 cluster-robust standard error and Bell-McCaffrey
    degrees of freedom (as estimatr's ``lm_lin(..., clusters =, se_type = "CR2")``).
    """
    alpha = 1 - conf_level
    rows = frame[frame[outcome].notna()]
    blocked = design.blocked
    method = ("OLS with centred covariates and block indicators interacted with treatment, HC2, t interval on "
              "n - k df (Lin 2013; as estimatr lm_lin)" if blocked
              else "OLS with centred covariates interacted with treatment (Lin 2013), CR2 cluster-robust standard "
                   "error, Bell-McCaffrey df")
    if rows.empty:
        return Estimate.not_estimable(outcome, ESTIMAND, method, 0, "no report has an outcome recorded")
    if blocked:
        unadjusted = differences.risk_difference(frame, outcome, design, conf_level=conf_level)
        if unadjusted.estimate is None:
            return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows),
                                          unadjusted.reason.removeprefix("not estimable: "))
    planned = covariate_design(rows, covariates)
    blocks = (pd.get_dummies(rows[UNIT], prefix="block", drop_first=True, dtype=float) if blocked
              else pd.DataFrame(index=rows.index))
    usable, dropped = independent_columns(pd.concat([blocks, planned], axis=1), keep=tuple(blocks.columns))
    method = with_dropped(method, [c for c in dropped if not c.startswith("block_")])
    if usable.empty:
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows),
                                      "no baseline covariate varies among these reports")
    problem = (cluster_problem(rows, "assigned", UNIT) if not blocked else None) or \
        adjustment_problem(rows, outcome, "assigned", usable.shape[1] + 1)
    if problem:
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows), problem)
    centred = usable - usable.mean()
    z = rows["assigned"].astype(float).rename("treatment")
    x, _ = independent_columns(pd.concat([z, centred, centred.mul(z, axis=0).add_prefix("treatment_x_")], axis=1),
                               keep=("treatment",))
    x = sm.add_constant(x, has_constant="add")
    y = rows[outcome].astype(float)
    if blocked:  # t on the residual df, as estimatr's lm_lin (statsmodels' robust default would be normal)
        fit = sm.OLS(y, x).fit(cov_type="HC2", use_t=True)
        estimate, se = float(fit.params["treatment"]), float(fit.bse["treatment"])
        low, high = (float(v) for v in fit.conf_int(alpha=alpha).loc["treatment"])
        p_value, df = float(fit.pvalues["treatment"]), float(fit.df_resid)
    else:
        matrix = x.to_numpy(dtype=float)
        beta = np.linalg.lstsq(matrix, y.to_numpy(), rcond=None)[0]
        variance, df = cr2_variance(matrix, y.to_numpy() - matrix @ beta, rows[UNIT].to_numpy())
        k = list(x.columns).index("treatment")
        estimate, se = float(beta[k]), float(np.sqrt(variance[k, k]))
        df = float(df[k])
        critical = stats.t.ppf(1 - alpha / 2, df)
        low, high = estimate - critical * se, estimate + critical * se
        p_value = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else None
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, ESTIMAND, method, len(rows), "the standard error is zero or undefined")
    return within(Estimate(outcome, ESTIMAND, estimate, low, high, method, len(rows), std_error=se,
                           p_value=p_value, df=df))
