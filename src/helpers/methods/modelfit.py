"""Fitting a logistic regression that may not converge, without noise and without a wrong answer."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationError


class NotEstimable(Exception):
    """The model cannot be fitted to these data (separation, no convergence, singular design)."""


def fit_logit(model, *, maxiter: int = 35):
    """Fit a statsmodels Logit; raise :class:`NotEstimable` rather than return an unconverged fit.

    Sparse subgroups and rare outcomes make the likelihood flat or separable; statsmodels then
    warns and returns estimates that mean nothing. The caller reports "not estimable" instead.
    Newton's method converges in a handful of iterations when the maximum exists, so 35 (the
    statsmodels default) is ample; more only delays the verdict on a separated model.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # overflow in exp() on the way to separation
        try:
            fit = model.fit(disp=0, maxiter=maxiter)
        except (np.linalg.LinAlgError, PerfectSeparationError, ValueError) as exc:
            raise NotEstimable(type(exc).__name__) from exc
    if not fit.mle_retvals.get("converged", True):
        raise NotEstimable("the fit did not converge")
    return fit


def independent_columns(design: pd.DataFrame, *, keep: tuple[str, ...] = ()) -> tuple[pd.DataFrame, list[str]]:
    """Drop constant columns and columns that are linear combinations of earlier ones.

    Columns in ``keep`` (the treatment, say) are placed first so that a covariate collinear with
    them is the one dropped. Returns the reduced design and the names dropped, so that the
    report can say which covariates the model could not use.
    """
    order = [c for c in keep if c in design] + [c for c in design if c not in keep]
    kept, dropped = [], []
    basis = np.ones((len(design), 1)) / np.sqrt(max(len(design), 1))  # the intercept
    for column in order:
        values = design[column].to_numpy(dtype=float)
        residual = values - basis @ (basis.T @ values)
        norm = np.linalg.norm(residual)
        if norm <= 1e-8 * max(1.0, np.linalg.norm(values)):
            dropped.append(column)
            continue
        basis = np.column_stack([basis, residual / norm])
        kept.append(column)
    return design[kept], dropped
