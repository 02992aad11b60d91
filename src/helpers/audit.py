"""Stage 2: was the allocation random, and was it kept?

Checks the allocation log against what complete randomisation implies: a 1:1 ratio, no
pattern in the sequence, no allocation before the report existed, the documented threshold
rule of the random number, and baseline covariates balanced between the arms.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .modelfit import NotEstimable, fit_logit
from .permutation import complete_randomisations
from statsmodels.sandbox.stats.runs import runstest_1samp

# Every audit check raises a flag below this p-value. Several checks run on every trial, so
# 0.01 keeps the chance of a false alarm on a fair allocation near 5% in all.
FLAG_P_VALUE = 0.01
# A standardised difference above this, in a covariate level with at least MIN_LEVEL_COUNT
# reports, is listed in the balance table's notes (Austin 2009 uses 0.1 for large samples;
# with 125 per arm chance alone often reaches 0.1, so the audit leans on the omnibus test).
LARGE_STANDARDISED_DIFFERENCE = 0.25
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


def ratio_test(data: pd.DataFrame, *, treatment: str = "assigned") -> dict:
    """Exact binomial test of a 1:1 allocation ratio (two-sided)."""
    treated, n = int(data[treatment].sum()), int(len(data))
    return {"treatment": treated, "control": n - treated, "p_value": float(stats.binomtest(treated, n, 0.5).pvalue)}


def runs_test(data: pd.DataFrame, *, treatment: str = "assigned", order: str = "allocation_order") -> dict:
    """Wald-Wolfowitz runs test on the arms in allocation order: too few runs means streaks."""
    sequence = data.sort_values(order)[treatment].to_numpy(dtype=float)
    runs = int(1 + np.count_nonzero(np.diff(sequence)))
    if len(np.unique(sequence)) < 2:
        return {"runs": runs, "longest_run": int(len(sequence)), "p_value": 0.0}
    _, p_value = runstest_1samp(sequence, cutoff=0.5, correction=False)
    change = np.flatnonzero(np.diff(sequence)) + 1
    lengths = np.diff(np.r_[0, change, len(sequence)])
    return {"runs": runs, "longest_run": int(lengths.max()), "p_value": float(p_value)}


def allocation_before_report(data: pd.DataFrame) -> pd.DataFrame:
    """Reports allocated before they were reported: impossible for a real allocation."""
    early = data["allocated_on"] < data["reported_on"]
    return data.loc[early, ["allocation_order", "source_row", "allocated_on", "reported_on"]]


def threshold_rule_breaches(data: pd.DataFrame, *, threshold: float = 0.5, below: str = "SRC") -> int | None:
    """Reports whose arm does not follow the documented rule of the random number.

    The rule: a draw below ``threshold`` allocates to ``below``, otherwise to the other arm.
    None when the log has no random numbers.
    """
    draws = data["random_number"]
    if draws.isna().all():
        return None
    expected_below = (draws < threshold) == (data["allocation"] == below)
    return int((~expected_below & draws.notna()).sum())


def balance_table(data: pd.DataFrame, *, treatment: str = "assigned") -> pd.DataFrame:
    """Baseline covariates by arm with standardised differences (Austin 2009).

    Categorical covariates give one row per level (share of reports); continuous ones the mean.
    The standardised difference is (treatment - control) / pooled SD.
    """
    rows = []
    z = data[treatment] == 1
    for column, level in STRAND_COVARIATES.items():
        if column in data:
            rows.append(_balance_row("Hate strand", level, data[column].astype(float), z, share=True))
    for column, label in {**CATEGORICAL_COVARIATES, **BINARY_COVARIATES}.items():
        if column not in data or data[column].isna().all():
            continue
        values = data[column].astype("string").fillna("not recorded")
        if column in BINARY_COVARIATES:
            values = values.map({"True": "yes", "False": "no"}).fillna("not recorded")
        for level in sorted(values.unique()):
            indicator = (values == level).astype(float)
            rows.append(_balance_row(label, level, indicator, z, share=True))
    for column, label in CONTINUOUS_COVARIATES.items():
        if column in data:
            rows.append(_balance_row(label, "mean", data[column].astype(float), z, share=False))
    return pd.DataFrame(rows)


def _balance_row(label, level, values: pd.Series, z: pd.Series, *, share: bool) -> dict:
    treated, control = values[z], values[~z]
    if share:
        p1, p0 = treated.mean(), control.mean()
        pooled = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    else:
        p1, p0 = treated.mean(), control.mean()
        pooled = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2)
    difference = (p1 - p0) / pooled if pooled > 0 else 0.0
    return {"covariate": label, "level": level, "n": int(values.sum()) if share else int(values.notna().sum()),
            "control": float(p0), "treatment": float(p1), "standardised_difference": float(difference)}


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


def allocation_by_period(data: pd.DataFrame, period: str, *, treatment: str = "assigned") -> dict:
    """Arms by day of week or month of allocation, with a chi-squared test of independence.

    A human allocator who favours one arm on some days shows up here; a random generator
    does not care what day it is.
    """
    dates = data["allocated_on"]
    labels = dates.dt.day_name() if period == "weekday" else dates.dt.strftime("%Y-%m")
    table = pd.crosstab(labels, data[treatment].map({1: "SRC", 0: "BAU"}))
    if period == "weekday":
        table = table.reindex([d for d in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
                                           "Sunday") if d in table.index])
    table = table.reindex(columns=["SRC", "BAU"], fill_value=0)
    if table.shape[0] < 2 or (table.sum(axis=0) == 0).any():
        return {"table": table.reset_index(names=period), "p_value": None}
    statistic, p_value, df, _ = stats.chi2_contingency(table.to_numpy(), correction=False)
    return {"table": table.reset_index(names=period), "p_value": float(p_value), "statistic": float(statistic),
            "df": int(df)}


def omnibus_balance_test(data: pd.DataFrame, *, treatment: str = "assigned") -> dict:
    """Likelihood-ratio test of a logistic regression of allocation on every covariate.

    Under randomisation no covariate predicts the arm, so the test's p-value is uniform; a
    small one says the arms differ at baseline more than chance allows (a subverted allocation).
    """
    design = covariate_design(data)
    if design.empty:
        return {"p_value": None, "statistic": None, "df": 0, "method": "not estimable: no covariates"}
    try:
        fit = fit_logit(sm.Logit(data[treatment].astype(float), sm.add_constant(design)))
    except NotEstimable as exc:
        return {"p_value": None, "statistic": None, "df": int(design.shape[1]), "method": f"not estimable ({exc})"}
    return {"p_value": float(fit.llr_pvalue), "statistic": float(fit.llr), "df": int(fit.df_model),
            "method": "likelihood-ratio test, logistic regression of allocation on baseline covariates"}


# Above this many reports the likelihood-ratio test's chi-squared p is accurate, and a
# randomisation distribution would cost draws x reports operations for nothing.
RANDOMISATION_OMNIBUS_MAX_REPORTS = 5_000


def randomisation_balance_test(data: pd.DataFrame, *, treatment: str = "assigned", draws: int = 10_000,
                               seed: int = 0) -> dict:
    """Randomisation-inference version of the omnibus balance test.

    Statistic: R-squared of a linear regression of the allocation on every covariate. Under
    complete randomisation the allocation vector is a uniformly random arrangement of the
    observed arm sizes; re-randomising it ``draws`` times gives the statistic's exact null
    distribution, free of the logistic model's large-sample approximation. With the arm sizes
    fixed, the total sum of squares is constant, so every draw costs one matrix product.
    """
    design = covariate_design(data)
    n = len(data)
    if design.empty:
        return {"p_value": None, "draws": 0, "method": "not estimable: no covariates"}
    if n > RANDOMISATION_OMNIBUS_MAX_REPORTS:
        return {"p_value": None, "draws": 0,
                "method": f"not run above {RANDOMISATION_OMNIBUS_MAX_REPORTS:,} reports: the likelihood-ratio "
                          "test's chi-squared p-value is accurate at this size"}
    centred = design.to_numpy() - design.to_numpy().mean(axis=0)
    basis, _ = np.linalg.qr(centred)
    z = data[treatment].to_numpy(dtype=float)
    explained = lambda allocations: np.sum(((allocations - z.mean()) @ basis) ** 2, axis=-1)
    observed = explained(z)
    permuted = np.concatenate([explained(chunk) for chunk in complete_randomisations(int(z.sum()), n, draws,
                                                                                      seed=seed)])
    p_value = (1 + np.sum(permuted >= observed - 1e-12)) / (draws + 1)
    return {"p_value": float(p_value), "draws": int(draws), "r_squared": float(observed / np.sum((z - z.mean()) ** 2)),
            "method": "randomisation inference on the R-squared of allocation on covariates"}


def audit_flags(ratio: dict, runs: dict, omnibus: dict, early: int, breaches: int | None,
                periods: dict | None = None) -> list[str]:
    """Plain-language flags for every check that fails its threshold; empty for a clean audit."""
    flags = []
    if ratio["p_value"] < FLAG_P_VALUE:
        flags.append(f"The arms are unequal ({ratio['treatment']} SRC vs {ratio['control']} BAU): an exact test of "
                     f"a 1:1 ratio gives p = {ratio['p_value']:.3g}.")
    if runs["p_value"] < FLAG_P_VALUE:
        flags.append(f"The arms alternate in a non-random pattern ({runs['runs']} runs, longest "
                     f"{runs['longest_run']}): runs test p = {runs['p_value']:.3g}.")
    if omnibus["p_value"] is not None and omnibus["p_value"] < FLAG_P_VALUE:
        flags.append(f"The arms differ at baseline more than chance allows: omnibus balance test "
                     f"p = {omnibus['p_value']:.3g}. The allocation may have been subverted.")
    if early:
        flags.append(f"{early} report(s) were allocated before the date they were reported.")
    if breaches:
        flags.append(f"{breaches} report(s) are in the arm their random number does not give under the "
                     "documented rule.")
    for period, check in (periods or {}).items():
        if check["p_value"] is not None and check["p_value"] < FLAG_P_VALUE:
            flags.append(f"The share allocated to SRC varies by {'day of the week' if period == 'weekday' else period} "
                         f"more than chance allows: chi-squared p = {check['p_value']:.3g}.")
    return flags


def allocation_audit(data: pd.DataFrame, *, threshold: float = 0.5, below: str = "SRC", draws: int = 10_000,
                     seed: int = 0) -> dict:
    """Every allocation check, with the flags the report shows.

    ``threshold`` and ``below`` state the documented rule of the random number: a draw below
    ``threshold`` allocates to ``below``.
    """
    ratio, runs, omnibus = ratio_test(data), runs_test(data), omnibus_balance_test(data)
    early = allocation_before_report(data)
    breaches = threshold_rule_breaches(data, threshold=threshold, below=below)
    periods = {"weekday": allocation_by_period(data, "weekday"), "month": allocation_by_period(data, "month")}
    balance = balance_table(data)
    common = balance[balance["n"] >= MIN_LEVEL_COUNT]
    max_smd = float(common["standardised_difference"].abs().max()) if len(common) else None
    return {
        "ratio": ratio, "runs": runs, "omnibus": omnibus,
        "omnibus_randomisation": randomisation_balance_test(data, draws=draws, seed=seed),
        "allocated_before_report": int(len(early)), "threshold_rule_breaches": breaches,
        "by_weekday": periods["weekday"], "by_month": periods["month"],
        "max_abs_standardised_difference": max_smd,
        "flags": audit_flags(ratio, runs, omnibus, len(early), breaches, periods),
        "balance": balance,
    }
