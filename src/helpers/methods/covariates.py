"""The baseline covariates: which columns they are, and how they enter a model.

The allocation audit compares the arms on them (:mod:`helpers.methods.audit`); the covariate-adjusted
estimators (:mod:`helpers.methods.adjusted_lin`, :mod:`helpers.methods.logistic`) adjust for the
analysis plan's among them, after the checks of :func:`prepared`.
"""
from __future__ import annotations

import pandas as pd

from helpers.methods.modelfit import independent_columns
from helpers.methods.tidy import Estimate

# A level held by fewer reports than this joins the reference level of a model (and a balance
# row's large standardised difference is listed only above it).
MIN_LEVEL_COUNT = 10

CATEGORICAL_COVARIATES = {
    "offence_group": "Offence group", "borough": "Borough",
    "victim_age_band": "Victim age band", "victim_sex": "Victim sex",
}
BINARY_COVARIATES = {"suspect_identified": "Suspect identified", "repeat_victim": "Repeat victim"}
# A report can carry several strands, so each strand is its own yes/no covariate.
STRAND_COVARIATES = {"strand_race": "race", "strand_religion": "religion", "strand_disability": "disability",
                     "strand_sexual_orientation": "sexual orientation", "strand_transgender": "transgender"}
CONTINUOUS_COVARIATES = {"days_report_to_allocation": "Days from report to allocation"}


def covariate_design(data: pd.DataFrame, columns: list[str] | None = None) -> pd.DataFrame:
    """Covariates as regressors: one dummy per common level, and the numeric covariates.

    The most common level of each categorical covariate is the reference; levels with fewer
    than MIN_LEVEL_COUNT reports join the reference, since a handful of reports cannot be
    balanced and only make the likelihood flat. ``columns`` keeps only the named covariates
    (the analysis plan's; ``hate_strand`` stands for the strand indicators); None uses all.
    """
    wanted = (lambda name: True) if columns is None else (lambda name: name in columns)
    parts = []
    strands = [c for c in STRAND_COVARIATES if c in data and data[c].sum() >= MIN_LEVEL_COUNT and wanted("hate_strand")]
    parts.append(data[strands].astype(float))
    for column in CATEGORICAL_COVARIATES:
        if column not in data or not wanted(column):
            continue
        values = data[column].astype("string").fillna("not recorded")
        counts = values.value_counts()
        for level in counts.index[1:][counts.iloc[1:] >= MIN_LEVEL_COUNT]:
            parts.append((values == level).astype(float).rename(f"{column}={level}"))
    for column in BINARY_COVARIATES:
        if column in data and data[column].notna().all() and wanted(column):
            parts.append(data[[column]].astype(float))
    for column in CONTINUOUS_COVARIATES:
        if column in data and wanted(column):
            parts.append(data[[column]].astype(float))
    design = pd.concat(parts, axis=1) if parts else pd.DataFrame(index=data.index)
    return design.loc[:, design.std(ddof=0) > 0]


def adjustment_problem(rows: pd.DataFrame, outcome: str, treatment: str, parameters: int) -> str | None:
    """Why a covariate-adjusted model with ``parameters`` in each arm cannot be fitted to these reports, or None."""
    arm_sizes = rows[treatment].value_counts()
    smallest = int(min(arm_sizes.get(0, 0), arm_sizes.get(1, 0)))
    if smallest == 0:
        return "an arm has no report with an outcome recorded"
    if rows[outcome].nunique() < 2:
        return "every report has the same outcome"
    if smallest <= parameters:
        return (f"the smaller arm has {smallest} report(s), not more than the {parameters} parameters the model "
                "fits in each arm")
    return None


def with_dropped(method: str, dropped: list[str]) -> str:
    """A method's label, naming the covariates dropped as constant or collinear."""
    return method if not dropped else f"{method}; dropped as constant or collinear: {', '.join(dropped)}"


def prepared(data: pd.DataFrame, outcome: str, treatment: str, covariates: list[str] | None, estimand: str,
             method: str) -> tuple[pd.DataFrame, pd.DataFrame, str, Estimate | None]:
    """The reports with an outcome, the covariates that can be used and the method's label (naming any
    dropped), or the estimate that says why the adjustment cannot be made."""
    rows = data[data[outcome].notna()]
    if rows.empty:
        usable, dropped, problem = pd.DataFrame(index=rows.index), [], "no report has an outcome recorded"
    else:
        usable, dropped = independent_columns(covariate_design(rows, covariates))
        problem = ("no baseline covariate varies among these reports" if usable.empty else
                   adjustment_problem(rows, outcome, treatment, usable.shape[1] + 1))
    method = with_dropped(method, dropped)
    refusal = Estimate.not_estimable(outcome, estimand, method, len(rows), problem) if problem else None
    return rows, usable, method, refusal
