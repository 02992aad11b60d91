"""Robust standard errors shared by the estimator families, and t intervals built on them.

HC2 for OLS and just-identified two-stage least squares (MacKinnon & White 1985), CR2 with
Bell-McCaffrey degrees of freedom for clustered data (Bell & McCaffrey 2002; Pustejovsky & Tipton
2018): the forms R's estimatr uses, and tested against it (``tests/test_vs_estimatr_*.py``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize, stats

from helpers.methods.tidy import Estimate


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


def iv_hc2(y: np.ndarray, d: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Just-identified 2SLS of y on d instrumented by z, with the HC2 standard error of the slope.

    V = (X'X)^-1 X' diag(e_i^2 / (1 - h_ii)) X (X'X)^-1 with X the first-stage fitted
    regressors, e the structural residuals y - [1 d] b and h the leverages of X (MacKinnon &
    White 1985; the form estimatr uses for iv_robust).
    """
    X, Z = np.column_stack([np.ones_like(d), d]), np.column_stack([np.ones_like(z), z])
    fitted = Z @ np.linalg.solve(Z.T @ Z, Z.T @ X)
    bread = np.linalg.inv(fitted.T @ fitted)
    beta = bread @ fitted.T @ y
    residual = y - X @ beta
    leverage = np.einsum("ij,jk,ik->i", fitted, bread, fitted)
    meat = (fitted * (residual ** 2 / (1 - leverage))[:, None]).T @ fitted
    return float(beta[1]), float(np.sqrt((bread @ meat @ bread)[1, 1]))


def _inverse_sqrt(matrix: np.ndarray) -> np.ndarray:
    """Symmetric inverse square root; eigenvalues at zero are left out (a generalised inverse)."""
    values, vectors = np.linalg.eigh(matrix)
    keep = values > 1e-12 * max(1.0, values.max())
    root = np.zeros_like(values)
    root[keep] = 1 / np.sqrt(values[keep])
    return (vectors * root) @ vectors.T


def cr2_variance(x: np.ndarray, residuals: np.ndarray, clusters: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CR2 cluster-robust variance of OLS coefficients and Bell-McCaffrey degrees of freedom.

    Bell & McCaffrey (2002); Pustejovsky & Tipton (2018), working model identity:
    V = M (sum_g X_g' A_g e_g e_g' A_g X_g) M, M = (X'X)^-1, A_g = (I - X_g M X_g')^(-1/2).
    Degrees of freedom for coefficient k (Bell & McCaffrey 2002; Imbens & Kolesár 2016):
    (sum lambda)² / sum lambda², lambda the eigenvalues of G'G, G's column g being
    (I - H)_(., g) A_g X_g M e_k. Here G'G = diag(v_g'v_g) - S' M S with v_g = A_g X_g M e_k
    and S's column g = X_g' v_g, which avoids the N x N matrix I - H.

    Returns
    -------
    (variance, df)
        The p x p variance matrix and one df per coefficient.
    """
    bread = np.linalg.inv(x.T @ x)
    groups = [np.flatnonzero(clusters == g) for g in pd.unique(clusters)]
    adjusted = []  # A_g X_g, per cluster
    meat = np.zeros_like(bread)
    for rows in groups:
        xg = x[rows]
        a_x = _inverse_sqrt(np.eye(len(rows)) - xg @ bread @ xg.T) @ xg
        adjusted.append(a_x)
        score = a_x.T @ residuals[rows]
        meat += np.outer(score, score)
    variance = bread @ meat @ bread
    df = np.array([_bell_mccaffrey_df(x, groups, adjusted, bread, k) for k in range(x.shape[1])])
    return variance, df


def _bell_mccaffrey_df(x, groups, adjusted, bread, k: int) -> float:
    contrast = bread[:, k]
    v = [a_x @ contrast for a_x in adjusted]  # v_g = A_g X_g M e_k
    s = np.column_stack([x[rows].T @ vg for rows, vg in zip(groups, v)])
    gram = np.diag([vg @ vg for vg in v]) - s.T @ bread @ s
    return float(np.trace(gram) ** 2 / np.sum(gram * gram))


def t_estimate(outcome: str, estimand: str, estimate: float, se: float, df: float, conf_level: float, method: str,
               n: int, reason: str | None = None) -> Estimate:
    """An estimate with a t interval and a two-sided t test on ``df`` degrees of freedom."""
    alpha = 1 - conf_level
    critical = stats.t.ppf(1 - alpha / 2, df)
    p_value = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else None
    return Estimate(outcome, estimand, float(estimate), float(estimate - critical * se),
                    float(estimate + critical * se), method, int(n), std_error=float(se), p_value=p_value,
                    reason=reason, df=float(df))


def df_of(critical: float, conf_level: float) -> float:
    """The t degrees of freedom whose 1 - alpha/2 quantile is ``critical`` (infinity: the normal's)."""
    alpha = 1 - conf_level
    normal = stats.norm.ppf(1 - alpha / 2)
    if critical <= normal * (1 + 1e-12):
        return float("inf")
    return float(optimize.brentq(lambda df: stats.t.ppf(1 - alpha / 2, df) - critical, 1e-3, 1e12, xtol=1e-10))
