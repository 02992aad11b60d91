"""Stage 2: was the allocation random, and was it kept?

Checks the allocation log against what complete randomisation implies: a 1:1 ratio, no
pattern in the sequence, no allocation before the report existed, the documented threshold
rule of the random number, and baseline covariates balanced between the arms.

Another declared design is checked against what it implies by
:mod:`helpers.methods.audit_design`, with the checks of this module that still apply.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.sandbox.stats.runs import runstest_1samp

from helpers.methods.covariates import (
    BINARY_COVARIATES,
    CATEGORICAL_COVARIATES,
    CONTINUOUS_COVARIATES,
    MIN_LEVEL_COUNT,
    STRAND_COVARIATES,
    covariate_design,
)
from helpers.methods.modelfit import NotEstimable, fit_logit
from helpers.methods.permutation import complete_randomisations

# Every audit check raises a flag below this p-value. Several checks run on every trial, so
# 0.01 keeps the chance of a false alarm on a fair allocation near 5% in all.
FLAG_P_VALUE = 0.01
# A standardised difference above this, in a covariate level with at least MIN_LEVEL_COUNT
# reports, is listed in the balance table's notes (Austin 2009 uses 0.1 for large samples;
# with 125 per arm chance alone often reaches 0.1, so the audit leans on the omnibus test).
LARGE_STANDARDISED_DIFFERENCE = 0.25


def ratio_test(data: pd.DataFrame, *, treatment: str = "assigned", share: float = 0.5) -> dict:
    """Exact binomial test of a 1:1 allocation ratio (two-sided), or of another declared SRC share."""
    treated, n = int(data[treatment].sum()), int(len(data))
    result = {"treatment": treated, "control": n - treated,
              "p_value": float(stats.binomtest(treated, n, share).pvalue)}
    return result if share == 0.5 else {**result, "expected_share": share}


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

    The rule: a draw below ``threshold`` allocates to ``below``, otherwise to the other arm. Only
    draws in [0, 1] are checked (:func:`random_numbers_out_of_range` flags the others). None when
    the log has no random number in [0, 1].
    """
    draws = data["random_number"]
    usable = draws.notna() & ~_out_of_range(draws)
    if not usable.any():
        return None
    expected_below = (draws < threshold) == (data["allocation"] == below)
    return int((~expected_below & usable).sum())


def _out_of_range(draws: pd.Series) -> pd.Series:
    values = draws.astype(float)
    return values.notna() & ~(np.isfinite(values) & (values >= 0) & (values <= 1))


def random_numbers_out_of_range(data: pd.DataFrame) -> pd.DataFrame:
    """Allocation log entries whose random number is not a draw in [0, 1] (7, -5, infinity): a random
    number generator's draw lies in [0, 1], so such a number was typed, pasted or computed wrongly."""
    if "random_number" not in data:
        return data.iloc[0:0][["allocation_order", "alloc_row"]]
    return data.loc[_out_of_range(data["random_number"]), ["allocation_order", "alloc_row"]]


def allocated_after_outcome(data: pd.DataFrame) -> pd.DataFrame:
    """Reports allocated after their outcome was recorded: the outcome was known when they were randomised,
    so they could not have been eligible, and their outcome cannot be an effect of the allocation."""
    if "outcome_on" not in data:
        return data.iloc[0:0][["allocation_order", "alloc_row"]]
    late = data["outcome_on"].notna() & (data["allocated_on"] > data["outcome_on"])
    return data.loc[late, ["allocation_order", "alloc_row", "source_row"]]


def conflicting_entries(data: pd.DataFrame) -> pd.DataFrame:
    """Reports entered more than once in the allocation log, in the same arm, with different dates or random
    numbers: which entry records the randomisation is unknown (the first was kept by cleaning)."""
    if "allocation_entries_differ" not in data:
        return data.iloc[0:0][["allocation_order", "alloc_row"]]
    return data.loc[data["allocation_entries_differ"].fillna(False).astype(bool), ["allocation_order", "alloc_row"]]


def _rows(frame: pd.DataFrame, column: str = "alloc_row") -> str:
    from helpers.errors import format_rows

    return format_rows(frame[column].astype(int).tolist())


def oddity_flags(out_of_range: pd.DataFrame, after_outcome: pd.DataFrame, conflicting: pd.DataFrame) -> list[str]:
    """Flags for entries of the allocation log that no randomisation could have produced, each naming its rows."""
    flags = []
    if len(out_of_range):
        flags.append(f"{len(out_of_range)} random number(s) in the allocation log are outside [0, 1] or not finite "
                     f"(allocation log {_rows(out_of_range)}): a generator's draw lies between 0 and 1, so these were "
                     "typed or computed wrongly; they are left out of the check of the documented rule.")
    if len(after_outcome):
        flags.append(f"{len(after_outcome)} report(s) were allocated after their outcome was recorded (allocation "
                     f"log {_rows(after_outcome)}; crime extract {_rows(after_outcome, 'source_row')}): the outcome "
                     "was known when they were randomised, so they cannot have been eligible; check the dates.")
    if len(conflicting):
        flags.append(f"{len(conflicting)} report(s) were entered more than once in the allocation log, in the same "
                     f"arm but with a different date or random number (allocation log {_rows(conflicting)} kept; "
                     "the other entries are in the exclusion log): which entry records the randomisation is not "
                     "known; check the log.")
    return flags


def covariate_values(data: pd.DataFrame, first_strand: bool = False):
    """Each baseline covariate as (label, level, values, share): an indicator per level, or a number.

    Hate strands are one indicator per strand (a report with several counts under each), or with
    ``first_strand`` each report's first strand (:data:`~helpers.methods.subgroups.STRAND_RULE`), as
    the published tables show them: per-strand counts beside first-strand counts would give back
    how many reports hold each combination of strands.
    """
    if first_strand and "primary_strand" in data:
        values = data["primary_strand"].astype("string").fillna("not recorded")
        for level in sorted(values.unique()):
            yield "Hate strand", level, (values == level).astype(float), True
    for column, level in ({} if first_strand else STRAND_COVARIATES).items():
        if column in data:
            yield "Hate strand", level, data[column].astype(float), True
    for column, label in {**CATEGORICAL_COVARIATES, **BINARY_COVARIATES}.items():
        if column not in data or data[column].isna().all():
            continue
        values = data[column].astype("string").fillna("not recorded")
        if column in BINARY_COVARIATES:  # true/false as yes/no; a published (grouped) level as it is
            values = values.replace({"True": "yes", "False": "no"}).fillna("not recorded")
        for level in sorted(values.unique()):
            yield label, level, (values == level).astype(float), True
    for column, label in CONTINUOUS_COVARIATES.items():
        if column in data:
            yield label, "mean", data[column].astype(float), False


def balance_table(data: pd.DataFrame, *, treatment: str = "assigned", weights: pd.Series | None = None,
                  first_strand: bool = False) -> pd.DataFrame:
    """Baseline covariates by arm with standardised differences (Austin 2009).

    Categorical covariates give one row per level (share of reports); continuous ones the mean.
    The standardised difference is (treatment - control) / pooled SD. ``weights`` (one per
    report, see :func:`block_weights`) compare weighted arm means instead: a blocked design's arms
    taken block by block, so that blocks with different SRC shares do not show as imbalance.
    ``first_strand`` shows each report's first hate strand instead of one row per strand.
    """
    z = data[treatment] == 1
    return pd.DataFrame([_balance_row(label, level, values, z, share=share, weights=weights)
                         for label, level, values, share in covariate_values(data, first_strand)])


def _balance_row(label, level, values: pd.Series, z: pd.Series, *, share: bool,
                 weights: pd.Series | None = None) -> dict:
    if weights is not None:
        return _weighted_balance_row(label, level, values, z, share=share, weights=weights)
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


def _weighted_balance_row(label, level, values: pd.Series, z: pd.Series, *, share: bool, weights: pd.Series) -> dict:
    """A balance row from weighted arm means and variances; reports of weight 0 are left out."""
    v, w, treated = values.to_numpy(dtype=float), weights.to_numpy(dtype=float), z.to_numpy(dtype=bool)
    moments = []
    for arm in (treated, ~treated):
        rows = arm & (w > 0)
        mean = float(np.average(v[rows], weights=w[rows])) if rows.any() else float("nan")
        spread = float(np.average((v[rows] - mean) ** 2, weights=w[rows])) if rows.any() else float("nan")
        moments.append((mean, spread))
    (p1, v1), (p0, v0) = moments
    pooled = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2) if share else np.sqrt((v1 + v0) / 2)
    difference = (p1 - p0) / pooled if pooled > 0 else 0.0
    return {"covariate": label, "level": level, "n": int(values.sum()) if share else int(values.notna().sum()),
            "control": p0, "treatment": p1, "standardised_difference": float(difference)}


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


def flag_p(p_value: float) -> str:
    """A flag's p-value in words a reader can take in: '= 0.0042', or '< 0.0001' for smaller ones."""
    return f"= {p_value:.3g}" if p_value >= 1e-4 else "< 0.0001"


def _below(p_value: float | None) -> bool:
    return p_value is not None and p_value < FLAG_P_VALUE


def audit_flags(ratio: dict, runs: dict, omnibus: dict, early: int, breaches: int | None,
                periods: dict | None = None) -> list[str]:
    """Plain-language flags for every check that fails its threshold; empty for a clean audit.

    A check that does not apply to the declared design has no p-value and raises no flag.
    """
    flags = []
    if _below(ratio["p_value"]):
        share = ratio.get("expected_share", 0.5)
        expected = "a 1:1 ratio" if share == 0.5 else f"the declared SRC share of {share:g}"
        flags.append(f"The arms are unequal ({ratio['treatment']} SRC vs {ratio['control']} BAU): an exact test of "
                     f"{expected} gives p {flag_p(ratio['p_value'])}.")
    if _below(runs["p_value"]):
        flags.append(f"The arms alternate in a non-random pattern ({runs['runs']} runs, longest "
                     f"{runs['longest_run']}): runs test p {flag_p(runs['p_value'])}.")
    if _below(omnibus["p_value"]):
        flags.append(f"The arms differ at baseline more than chance allows: omnibus balance test "
                     f"p {flag_p(omnibus['p_value'])}. The allocation may have been subverted.")
    if early:
        flags.append(f"{early} report(s) were allocated before the date they were reported.")
    if breaches:
        flags.append(f"{breaches} report(s) are in the arm their random number does not give under the "
                     "documented rule.")
    for period, check in (periods or {}).items():
        if _below(check["p_value"]):
            test = "chi-squared" if "method" not in check else "randomisation test of the chi-squared statistic"
            flags.append(f"The share allocated to SRC varies by {'day of the week' if period == 'weekday' else period} "
                         f"more than chance allows: {test} p {flag_p(check['p_value'])}.")
    return flags


def allocation_audit(data: pd.DataFrame, *, threshold: float = 0.5, below: str = "SRC", draws: int = 10_000,
                     seed: int = 0, published: pd.DataFrame | None = None) -> dict:
    """Every allocation check of a completely randomised trial, with the flags the report shows.

    ``threshold`` and ``below`` state the documented rule of the random number: a draw below
    ``threshold`` allocates to ``below``. ``published`` is the analysis table at the published
    levels of each characteristic, which the balance table shows (None: as recorded). Another
    design's checks: :func:`helpers.methods.audit_design.allocation_audit`.
    """
    ratio, runs, omnibus = ratio_test(data), runs_test(data), omnibus_balance_test(data)
    early = allocation_before_report(data)
    breaches = threshold_rule_breaches(data, threshold=threshold, below=below)
    periods = {"weekday": allocation_by_period(data, "weekday"), "month": allocation_by_period(data, "month")}
    balance = balance_table(data if published is None else published, first_strand=published is not None)
    oddities = log_oddities(data)
    return {
        "ratio": ratio, "runs": runs, "omnibus": omnibus,
        "omnibus_randomisation": randomisation_balance_test(data, draws=draws, seed=seed),
        "allocated_before_report": int(len(early)), "threshold_rule_breaches": breaches,
        **oddities["counts"],
        "by_weekday": periods["weekday"], "by_month": periods["month"],
        "max_abs_standardised_difference": max_standardised_difference(balance),
        "flags": audit_flags(ratio, runs, omnibus, len(early), breaches, periods) + oddities["flags"],
        "balance": balance,
    }


def max_standardised_difference(balance: pd.DataFrame) -> float | None:
    """The largest absolute standardised difference among levels held by at least MIN_LEVEL_COUNT reports."""
    common = balance[balance["n"] >= MIN_LEVEL_COUNT] if len(balance) else balance
    return float(common["standardised_difference"].abs().max()) if len(common) else None


def log_oddities(data: pd.DataFrame) -> dict:
    """Entries of the allocation log that no randomisation produces: counts for results.json, and their flags."""
    found = (random_numbers_out_of_range(data), allocated_after_outcome(data), conflicting_entries(data))
    names = ("random_numbers_out_of_range", "allocated_after_outcome", "conflicting_log_entries")
    return {"counts": {name: int(len(frame)) for name, frame in zip(names, found)}, "flags": oddity_flags(*found)}


def check_rows(checks: dict) -> pd.DataFrame:
    """The tests of the audit as a table, one row per test: its statistic's fields and its p-value."""
    return pd.DataFrame([{"check": name, **value} for name, value in checks.items()
                         if isinstance(value, dict) and "p_value" in value])
