"""Stage 2: was the allocation random, and was it kept?

Checks the allocation log against what complete randomisation implies: a 1:1 ratio, no
pattern in the sequence, no allocation before the report existed, the documented threshold
rule of the random number, and baseline covariates balanced between the arms.

Another declared design (``parameters: design``) is checked against what it implies
(:func:`design_checks`): a simple (Bernoulli) design's share against its declared probability; a
blocked design's share block by block (shares may differ by design, so only a block with one arm
breaks it), with balance compared within blocks; a cluster design's units each wholly in one arm,
with balance at the cluster level. Tests that assume complete randomisation of reports (the ratio
and runs tests, the chi-squared and likelihood-ratio tests) are replaced by randomisation tests
that re-randomise as the design did, or say that they do not apply.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.sandbox.stats.runs import runstest_1samp

from helpers.methods.modelfit import NotEstimable, fit_logit
from helpers.methods.permutation import CHUNK_CELLS, complete_randomisations

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


def _covariate_values(data: pd.DataFrame, first_strand: bool = False):
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
                         for label, level, values, share in _covariate_values(data, first_strand)])


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
                     f"{expected} gives p = {ratio['p_value']:.3g}.")
    if _below(runs["p_value"]):
        flags.append(f"The arms alternate in a non-random pattern ({runs['runs']} runs, longest "
                     f"{runs['longest_run']}): runs test p = {runs['p_value']:.3g}.")
    if _below(omnibus["p_value"]):
        flags.append(f"The arms differ at baseline more than chance allows: omnibus balance test "
                     f"p = {omnibus['p_value']:.3g}. The allocation may have been subverted.")
    if early:
        flags.append(f"{early} report(s) were allocated before the date they were reported.")
    if breaches:
        flags.append(f"{breaches} report(s) are in the arm their random number does not give under the "
                     "documented rule.")
    for period, check in (periods or {}).items():
        if _below(check["p_value"]):
            test = "chi-squared" if "method" not in check else "randomisation test of the chi-squared statistic"
            flags.append(f"The share allocated to SRC varies by {'day of the week' if period == 'weekday' else period} "
                         f"more than chance allows: {test} p = {check['p_value']:.3g}.")
    return flags


def allocation_audit(data: pd.DataFrame, *, threshold: float = 0.5, below: str = "SRC", draws: int = 10_000,
                     seed: int = 0, design: dict | None = None, units: pd.Series | None = None,
                     named: set | None = None, published: pd.DataFrame | None = None) -> dict:
    """Every allocation check, with the flags the report shows.

    ``threshold`` and ``below`` state the documented rule of the random number: a draw below
    ``threshold`` allocates to ``below``. ``design`` is the declared design (the parameters'
    ``design``; None is complete randomisation) and ``units`` each report's block or cluster.
    """
    assignment = (design or {}).get("assignment", "complete")
    if assignment != "complete":
        return _design_audit(data, design, units, threshold=threshold, below=below, draws=draws, seed=seed)
    ratio, runs, omnibus = ratio_test(data), runs_test(data), omnibus_balance_test(data)
    early = allocation_before_report(data)
    breaches = threshold_rule_breaches(data, threshold=threshold, below=below)
    periods = {"weekday": allocation_by_period(data, "weekday"), "month": allocation_by_period(data, "month")}
    balance = balance_table(data if published is None else published, first_strand=published is not None)
    common = balance[balance["n"] >= MIN_LEVEL_COUNT] if len(balance) else balance
    max_smd = float(common["standardised_difference"].abs().max()) if len(common) else None
    oddities = log_oddities(data)
    return {
        "ratio": ratio, "runs": runs, "omnibus": omnibus,
        "omnibus_randomisation": randomisation_balance_test(data, draws=draws, seed=seed),
        "allocated_before_report": int(len(early)), "threshold_rule_breaches": breaches,
        **oddities["counts"],
        "by_weekday": periods["weekday"], "by_month": periods["month"],
        "max_abs_standardised_difference": max_smd,
        "flags": audit_flags(ratio, runs, omnibus, len(early), breaches, periods) + oddities["flags"],
        "balance": balance,
    }


def log_oddities(data: pd.DataFrame) -> dict:
    """Entries of the allocation log that no randomisation produces: counts for results.json, and their flags."""
    found = (random_numbers_out_of_range(data), allocated_after_outcome(data), conflicting_entries(data))
    names = ("random_numbers_out_of_range", "allocated_after_outcome", "conflicting_log_entries")
    return {"counts": {name: int(len(frame)) for name, frame in zip(names, found)}, "flags": oddity_flags(*found)}


# --------------------------------------------------------------------------------------------
# Other designs: simple (Bernoulli), blocked and cluster randomisation
# --------------------------------------------------------------------------------------------

def _design_columns(design: dict) -> tuple[str, ...]:
    value = design.get("blocks") or design.get("clusters")
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


def _unit_noun(design: dict) -> str:
    names = _design_columns(design)
    return {"borough": "borough", "ward": "ward", "offence_group": "offence group",
            "primary_strand": "hate strand"}.get(names[-1] if names else None, "unit")


MAX_LABELS_NAMED = 10  # ward labels named in one warning; results.json lists them all


def wards_in_several_boroughs(data: pd.DataFrame) -> dict[str, int]:
    """Ward labels that appear in more than one borough, with how many boroughs each appears in."""
    if "ward" not in data or "borough" not in data:
        return {}
    spread = data.groupby(data["ward"].astype(str))["borough"].nunique()
    return {str(label): int(n) for label, n in spread[spread > 1].items()}


def repeated_label_warning(labels: dict[str, int], design: dict, named: set | None = None) -> str | None:
    """A warning when the design takes ward labels as units while some label appears in several boroughs.

    A label not in ``named`` (held by too few reports to be named, see :mod:`helpers.methods.disclosure`)
    is counted, not named: a ward's name may be a person's.
    """
    if not labels:
        return None
    kind = "clusters" if design.get("clusters") else "blocks"
    shown = {label: n for label, n in labels.items() if named is None or label in named}
    parts = [f"'{label}' ({n} boroughs)" for label, n in list(shown.items())[:MAX_LABELS_NAMED]]
    if len(shown) > MAX_LABELS_NAMED:
        parts.append(f"{len(shown) - MAX_LABELS_NAMED} more")
    if len(labels) > len(shown):
        hidden = len(labels) - len(shown)
        parts.append(f"{hidden} held by too few reports to be named")
    listed = ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + parts[-1]
    return (f"{len(labels)} ward label(s) appear in more than one borough: {listed}. The declared design "
            f"({kind}: ward) takes each label as one ward wherever it appears; if these are different wards that "
            f"share a name, declare {kind}: [borough, ward] instead.")


def _does_not_apply(design: dict, what: str) -> str:
    return f"not applicable: {what} assumes complete randomisation of reports, not a {design['assignment']} design"


def block_weights(z: pd.Series, units: pd.Series) -> pd.Series:
    """Per report, its block's size over its arm's size in the block: weighted arm means are block-weighted.

    With these weights an arm's mean is sum_j (N_j / N) x-bar_arm,j, the block-size weighting of the
    blocked estimator. A block with one arm only cannot be compared: its reports get weight 0.
    """
    frame = pd.DataFrame({"z": z.to_numpy(), "unit": units.to_numpy()}, index=z.index)
    size = frame.groupby("unit")["z"].transform("size")
    in_arm = frame.groupby(["unit", "z"])["z"].transform("size")
    both_arms = frame.groupby("unit")["z"].transform("nunique") == 2
    return (size / in_arm).where(both_arms, 0.0).astype(float)


def block_shares(data: pd.DataFrame, units: pd.Series, *, treatment: str = "assigned") -> pd.DataFrame:
    """Each block's reports, SRC and BAU reports, and SRC share."""
    frame = pd.DataFrame({"block": units.to_numpy(), "z": data[treatment].to_numpy(dtype=int)})
    table = frame.groupby("block")["z"].agg(reports="size", src="sum").reset_index()
    table["bau"] = table["reports"] - table["src"]
    table["share"] = table["src"] / table["reports"]
    return table[["block", "reports", "src", "bau", "share"]]


def cluster_arms(data: pd.DataFrame, units: pd.Series, *, treatment: str = "assigned") -> pd.DataFrame:
    """Each cluster's reports, how many are SRC, and its arm (the arm of most of its reports)."""
    frame = pd.DataFrame({"cluster": units.to_numpy(), "z": data[treatment].to_numpy(dtype=int)})
    table = frame.groupby("cluster")["z"].agg(reports="size", src="sum").reset_index()
    table["arm"] = np.where(2 * table["src"] > table["reports"], "SRC",
                            np.where(2 * table["src"] < table["reports"], "BAU", "split evenly"))
    return table


def cluster_breaches(table: pd.DataFrame, design: dict, repeated: dict[str, int] | None = None,
                     named: set | None = None) -> tuple[list[dict], list[str]]:
    """Clusters with reports in both arms, and one flag each, by cluster and count (no report's details).

    ``repeated`` maps ward labels found in several boroughs to their number of boroughs: a breached
    cluster among them is said to be one, since two wards that share a name may be what broke it.
    A cluster not in ``named`` (too few reports to name, see :mod:`helpers.methods.disclosure`) is
    listed without its name or counts, and its flags are combined into one.
    """
    noun = _unit_noun(design)
    repeated = repeated or {}
    split = table[(table["src"] > 0) & (table["src"] < table["reports"])]
    breaches, flags, unnamed = [], [], 0
    for row in split.itertuples(index=False):
        if named is not None and row.cluster not in named:
            unnamed += 1
            breaches.append({"cluster": None, "arm": None, "reports": None, "in_other_arm": None})
            continue
        if row.arm == "split evenly":
            other, text = row.src, f"{row.src} of its {row.reports} reports are SRC and {row.src} business as usual"
        else:
            other = row.reports - row.src if row.arm == "SRC" else row.src
            other_arm = "business-as-usual" if row.arm == "SRC" else "SRC"
            text = f"{other} of its {row.reports} reports {'is' if other == 1 else 'are'} in the {other_arm} arm"
        breaches.append({"cluster": row.cluster, "arm": row.arm, "reports": int(row.reports),
                         "in_other_arm": int(other)})
        arm = "" if row.arm == "split evenly" else f", an {row.arm} {noun}" if row.arm == "SRC" else \
            f", a {row.arm} {noun}"
        shared = (f" The label {row.cluster} appears in {repeated[str(row.cluster)]} boroughs: if these are "
                  "different wards, declare clusters: [borough, ward]." if str(row.cluster) in repeated else "")
        flags.append(f"Cluster design breached: {noun} {row.cluster}{arm}: {text}. A cluster design allocates "
                     f"every report of a {noun} to the {noun}'s arm, so the cluster estimates are not estimable "
                     f"until the allocation is corrected or explained.{shared}")
    if len(flags) > MAX_NAMED:
        flags = flags[:MAX_NAMED] + [f"Cluster design breached in {len(flags) - MAX_NAMED} more {noun}s with reports "
                                     "in both arms (the design section of results.json lists every one)."]
    if unnamed:
        flags.append(f"Cluster design breached in {unnamed} {noun if unnamed == 1 else noun + 's'} with too few reports "
                     f"to be named or counted here (disclosure control): reports of one {noun} are in both arms, so the "
                     "cluster estimates are not estimable until the allocation is corrected or explained; a table of "
                     f"the allocation by {noun} in the input files finds {'it' if unnamed == 1 else 'them'}.")
    return breaches, flags


MAX_NAMED = 5  # units named in one flag; the design section of results.json lists them all


def _one_arm_flag(one_arm: pd.DataFrame, design: dict, named: set | None = None) -> str:
    """One flag for the blocks with one arm only, named (no counts: a block may be a ward); a block too small
    to be named (see :mod:`helpers.methods.disclosure`) is counted, not named."""
    noun = _unit_noun(design)
    shown = one_arm if named is None else one_arm[one_arm["block"].isin(named)]
    hidden = len(one_arm) - len(shown)
    named_text = [f"{row.block} (SRC only)" if row.bau == 0 else f"{row.block} (business as usual only)"
                  for row in shown.head(MAX_NAMED).itertuples(index=False)]
    if hidden:
        named_text.append(f"{hidden} {noun}{'s' if hidden > 1 else ''} too small to name")
    more = f", and {len(shown) - MAX_NAMED} more" if len(shown) > MAX_NAMED else ""
    if len(one_arm) == 1 and not hidden:
        row = next(shown.itertuples(index=False))
        what = f"{noun} {row.block} has reports in the {'SRC' if row.bau == 0 else 'business-as-usual'} arm only"
    elif len(one_arm) == 1:
        what = f"a {noun} too small to name has reports in one arm only"
    else:
        what = f"{len(one_arm)} {noun}s have reports in one arm only ({'; '.join(named_text)}{more})"
    return (f"Blocked design breached: {what}. A blocked design randomises within every block, so such a block "
            "cannot be compared and the blocked estimates are not estimable.")


def cluster_summary(table: pd.DataFrame) -> dict:
    """Clusters and reports in each arm, cluster sizes, and the standardised difference of the size."""
    summary = {}
    for arm, name in ((1, "treatment"), (0, "control")):
        sizes = table.loc[table["arm"] == ("SRC" if arm else "BAU"), "reports"].astype(float)
        summary[name] = {"clusters": int(len(sizes)), "reports": int(sizes.sum()),
                         "mean_size": float(sizes.mean()) if len(sizes) else None,
                         "median_size": float(sizes.median()) if len(sizes) else None}
    sizes = {arm: table.loc[table["arm"] == label, "reports"].astype(float) for arm, label in ((1, "SRC"), (0, "BAU"))}
    pooled = np.sqrt((sizes[1].var(ddof=1) + sizes[0].var(ddof=1)) / 2) if min(map(len, sizes.values())) > 1 else 0
    summary["size_standardised_difference"] = (float((sizes[1].mean() - sizes[0].mean()) / pooled)
                                               if pooled and np.isfinite(pooled) and pooled > 0 else None)
    return summary


def cluster_balance(data: pd.DataFrame, units: pd.Series, arms: pd.Series, first_strand: bool = False) -> pd.DataFrame:
    """Baseline covariates compared between SRC and BAU clusters: each cluster's share (or mean) is one value.

    The unit of randomisation is the cluster, so balance is judged over clusters: the mean of the
    clusters' shares in each arm, and their standardised difference (SD over clusters).
    ``arms`` maps a cluster to "SRC" or "BAU" (a cluster split evenly is left out).
    """
    rows = []
    for label, level, values, _ in _covariate_values(data, first_strand):
        means = values.groupby(units.to_numpy()).mean()
        arm = means.index.map(arms)
        treated, control = means[arm == "SRC"], means[arm == "BAU"]
        pooled = np.sqrt((treated.var(ddof=1) + control.var(ddof=1)) / 2) if min(len(treated), len(control)) > 1 \
            else float("nan")
        difference = (treated.mean() - control.mean()) / pooled if pooled > 0 else 0.0
        rows.append({"covariate": label, "level": level, "clusters": int((means > 0).sum()),
                     "control": float(control.mean()), "treatment": float(treated.mean()),
                     "standardised_difference": float(difference) if np.isfinite(difference) else None})
    return pd.DataFrame(rows)


def design_allocations(z: np.ndarray, assignment: str, units: pd.Series | None, draws: int, *, seed: int = 0):
    """Allocation vectors drawn as the design drew them, in chunks of rows (as :func:`complete_randomisations`).

    blocked: every block re-randomised completely with its own number of SRC reports; cluster:
    the clusters re-randomised completely with the observed number of SRC clusters (a cluster's arm
    is that of most of its reports), every report following its cluster; otherwise complete
    randomisation of reports with the observed arm sizes (simple randomisation conditioned on them).
    """
    n = len(z)
    if assignment == "blocked":
        rng = np.random.default_rng(seed)
        codes = pd.factorize(units.to_numpy())[0].astype(float)
        z_by_block = z[np.argsort(codes, kind="stable")].astype(float)
        chunk = max(1, CHUNK_CELLS // max(n, 1))
        for start in range(0, draws, chunk):
            rows = min(chunk, draws - start)
            # sorting block number + a uniform groups the reports by block, in a random order within each
            order = np.argsort(codes + rng.random((rows, n)), axis=1)
            out = np.empty((rows, n))
            np.put_along_axis(out, order, np.broadcast_to(z_by_block, (rows, n)), axis=1)
            yield out
    elif assignment == "cluster":
        rng = np.random.default_rng(seed)
        codes, uniques = pd.factorize(units.to_numpy())
        share = pd.Series(z, dtype=float).groupby(codes).mean().to_numpy()
        treated, clusters = int((share > 0.5).sum()), len(uniques)
        chunk = max(1, CHUNK_CELLS // max(n, 1))
        for start in range(0, draws, chunk):
            rows = min(chunk, draws - start)
            chosen = np.argsort(rng.random((rows, clusters)), axis=1) < treated
            yield chosen[:, codes].astype(np.float64)
    else:
        yield from complete_randomisations(int(z.sum()), n, draws, seed=seed)


def _orthonormal_basis(matrix: np.ndarray) -> np.ndarray:
    """An orthonormal basis of the column space (rank-deficient columns left out)."""
    if matrix.size == 0:
        return matrix
    u, singular, _ = np.linalg.svd(matrix, full_matrices=False)
    keep = singular > 1e-10 * max(1.0, singular.max())
    return u[:, keep]


def design_balance_test(data: pd.DataFrame, design: dict, units: pd.Series, *, treatment: str = "assigned",
                        draws: int = 10_000, seed: int = 0) -> dict:
    """Randomisation-inference omnibus balance test under a blocked or cluster design.

    Statistic: the R-squared of a linear regression of the allocation on every baseline covariate,
    within blocks for a blocked design (covariates and allocation taken about their block means, so
    that blocks with different SRC shares count for nothing). Its null distribution comes from
    re-randomising as the design did (:func:`design_allocations`), which no report-level
    chi-squared or likelihood-ratio approximation respects.
    """
    assignment = design["assignment"]
    method = {"blocked": "randomisation inference on the R-squared of allocation on covariates within blocks, "
                         "re-randomised within blocks",
              "cluster": "randomisation inference on the R-squared of allocation on covariates, whole clusters "
                         "re-randomised"}[assignment]
    covariates = covariate_design(data)
    n = len(data)
    if covariates.empty:
        return {"p_value": None, "draws": 0, "method": "not estimable: no covariates"}
    if n > RANDOMISATION_OMNIBUS_MAX_REPORTS and assignment == "blocked":
        return {"p_value": None, "draws": 0,
                "method": f"not run above {RANDOMISATION_OMNIBUS_MAX_REPORTS:,} reports: re-randomising within "
                          "blocks costs draws x reports operations"}
    x = covariates.to_numpy(dtype=float)
    z = data[treatment].to_numpy(dtype=float)
    if assignment == "blocked":
        codes = pd.factorize(units.to_numpy())[0]
        centre = lambda values: values - pd.DataFrame(values).groupby(codes).transform("mean").to_numpy()
        basis = _orthonormal_basis(centre(x))
        total = float(np.sum(centre(z[:, None]) ** 2))  # fixed: every draw keeps each block's SRC count
        statistic = lambda allocations: np.sum((allocations @ basis) ** 2, axis=-1) / total
    else:
        basis = _orthonormal_basis(x - x.mean(axis=0))

        def statistic(allocations):
            centred = allocations - allocations.mean(axis=-1, keepdims=True)
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.nan_to_num(np.sum((centred @ basis) ** 2, axis=-1) / np.sum(centred ** 2, axis=-1))
    if basis.shape[1] == 0 or (assignment == "blocked" and total <= 0):
        return {"p_value": None, "draws": 0, "method": "not estimable: no covariate varies within the design's units"}
    observed = float(statistic(z))
    permuted = np.concatenate([statistic(chunk) for chunk in design_allocations(z, assignment, units, draws,
                                                                                 seed=seed)])
    p_value = (1 + np.sum(permuted >= observed - 1e-12)) / (draws + 1)
    return {"p_value": float(p_value), "draws": int(draws), "r_squared": observed, "method": method}


def design_period_test(data: pd.DataFrame, period: str, design: dict, units: pd.Series, *,
                       treatment: str = "assigned", draws: int = 10_000, seed: int = 0) -> dict:
    """Arms by weekday or month under a blocked or cluster design: the chi-squared statistic, its p by re-randomising.

    The statistic is the usual one; its chi-squared distribution assumes reports allocated
    independently, which a cluster design breaks and a blocked design with unequal shares turns
    into a false alarm whenever the blocks' mix changes over time. Here it is compared with its
    distribution under the design: a block's SRC reports spread over the periods as a
    multivariate hypergeometric draw; clusters re-randomised whole. No draw costs more than
    blocks (or clusters) x periods operations.
    """
    check = allocation_by_period(data, period, treatment=treatment)
    if check["p_value"] is None:
        return {**check, "method": "not estimable: fewer than two periods, or an arm is empty"}
    dates = data["allocated_on"]
    labels = (dates.dt.day_name() if period == "weekday" else dates.dt.strftime("%Y-%m")).to_numpy()
    label_codes, _ = pd.factorize(labels)
    unit_codes, _ = pd.factorize(units.to_numpy())
    z = data[treatment].to_numpy(dtype=int)
    counts = pd.crosstab(unit_codes, label_codes).to_numpy()  # unit x period
    rng = np.random.default_rng(seed)
    if design["assignment"] == "blocked":
        treated = pd.Series(z).groupby(unit_codes).sum().to_numpy()
        src = sum(rng.multivariate_hypergeometric(counts[j], int(treated[j]), size=draws) for j in range(len(counts)))
        method = "chi-squared statistic, p by re-randomising within blocks"
    else:
        share = pd.Series(z, dtype=float).groupby(unit_codes).mean().to_numpy()
        treated, chunk = int((share > 0.5).sum()), max(1, CHUNK_CELLS // max(len(share), 1))
        src = np.concatenate([(np.argsort(rng.random((min(chunk, draws - start), len(share))), axis=1) < treated)
                              .astype(float) @ counts for start in range(0, draws, chunk)])
        method = "chi-squared statistic, p by re-randomising whole clusters"
    sizes = counts.sum(axis=0).astype(float)
    observed_src = pd.Series(z).groupby(label_codes).sum().reindex(range(len(sizes)), fill_value=0).to_numpy()

    def chi_squared(src_counts):
        src_counts = np.atleast_2d(np.asarray(src_counts, dtype=float))
        total = src_counts.sum(axis=1, keepdims=True)
        expected_src, expected_bau = sizes * total / sizes.sum(), sizes * (sizes.sum() - total) / sizes.sum()
        with np.errstate(divide="ignore", invalid="ignore"):
            value = ((src_counts - expected_src) ** 2 / expected_src
                     + (sizes - src_counts - expected_bau) ** 2 / expected_bau).sum(axis=1)
        return np.nan_to_num(value)

    observed = float(chi_squared(observed_src)[0])
    p_value = (1 + np.sum(chi_squared(src) >= observed - 1e-9)) / (draws + 1)
    return {**check, "p_value": float(p_value), "statistic": observed, "draws": int(draws), "method": method}


def _design_audit(data: pd.DataFrame, design: dict, units: pd.Series | None, *, threshold: float, below: str,
                  draws: int, seed: int, named: set | None = None, published: pd.DataFrame | None = None) -> dict:
    """The allocation checks of a simple, blocked or cluster design (see the module's docstring)."""
    assignment = design["assignment"]
    early = allocation_before_report(data)
    breaches = threshold_rule_breaches(data, threshold=threshold, below=below)
    shown, first = (data, False) if published is None else (published, True)  # what the balance tables show
    names = _design_columns(design)
    checks: dict = {"assignment": assignment, "column": names[-1] if names else None, "columns": list(names),
                    "warnings": []}
    extra_flags: list[str] = []
    repeated = wards_in_several_boroughs(data) if "ward" in names and "borough" not in names else {}
    if repeated:
        # only labels held by enough reports to be named; the warning counts the others
        checks["wards_in_several_boroughs"] = {k: v for k, v in repeated.items() if named is None or k in named}
        checks["warnings"].append(repeated_label_warning(repeated, design, named))
    if assignment == "simple":
        ratio = ratio_test(data, share=float(design["probability"]))
        runs, omnibus = runs_test(data), omnibus_balance_test(data)
        omnibus_randomisation = randomisation_balance_test(data, draws=draws, seed=seed)
        periods = {"weekday": allocation_by_period(data, "weekday"), "month": allocation_by_period(data, "month")}
        balance = balance_table(shown, first_strand=first)
        flagged_balance = omnibus
    else:
        if units is None:
            raise ValueError(f"a {assignment} design needs each report's {_unit_noun(design)}")
        counts = ratio_test(data)
        ratio = {"treatment": counts["treatment"], "control": counts["control"], "p_value": None,
                 "reason": _does_not_apply(design, "a test of a 1:1 ratio")}
        runs = {**runs_test(data), "p_value": None, "reason": _does_not_apply(design, "the runs test")}
        omnibus = {"p_value": None, "statistic": None, "df": int(covariate_design(data).shape[1]),
                   "method": _does_not_apply(design, "the likelihood-ratio test of a logistic regression of the "
                                                     "arm on covariates") + "; see the randomisation version"}
        omnibus_randomisation = design_balance_test(data, design, units, draws=draws, seed=seed)
        periods = {period: design_period_test(data, period, design, units, draws=draws, seed=seed)
                   for period in ("weekday", "month")}
        flagged_balance = omnibus_randomisation
        if assignment == "blocked":
            shares = block_shares(data, units)
            weights = block_weights(data["assigned"], units)
            balance = balance_table(shown, weights=weights, first_strand=first)
            one_arm = shares[(shares["src"] == 0) | (shares["bau"] == 0)]
            if len(one_arm):
                extra_flags.append(_one_arm_flag(one_arm, design, named))
            checks.update(blocks=shares, blocks_with_one_arm=[str(b) for b in one_arm["block"]
                                                              if named is None or b in named],
                          share_range=[float(shares["share"].min()), float(shares["share"].max())],
                          balance_method="arm means weighted block by block (each block's arms weighted to the "
                                         "block's size), so that blocks with different SRC shares do not show as "
                                         "imbalance; blocks with one arm only are left out")
        else:
            table = cluster_arms(data, units)
            found, extra_flags = cluster_breaches(table, design, repeated, named)
            balance = balance_table(shown, first_strand=first)
            by_cluster = cluster_balance(shown, units, table.set_index("cluster")["arm"], first_strand=first)
            shown = by_cluster["standardised_difference"].dropna().abs()
            checks.update(clusters=cluster_summary(table), breaches=found, cluster_balance=by_cluster,
                          max_abs_cluster_standardised_difference=float(shown.max()) if len(shown) else None,
                          balance_method="report-level shares (descriptive); balance is judged over clusters in "
                                         "cluster_balance and by the randomisation test, which re-randomises clusters")
    common = balance[balance["n"] >= MIN_LEVEL_COUNT] if len(balance) else balance
    max_smd = float(common["standardised_difference"].abs().max()) if len(common) else None
    checks["flags"] = extra_flags
    oddities = log_oddities(data)
    return {
        "ratio": ratio, "runs": runs, "omnibus": omnibus, "omnibus_randomisation": omnibus_randomisation,
        "allocated_before_report": int(len(early)), "threshold_rule_breaches": breaches, **oddities["counts"],
        "by_weekday": periods["weekday"], "by_month": periods["month"],
        "max_abs_standardised_difference": max_smd,
        "flags": audit_flags(ratio, runs, flagged_balance, len(early), breaches, periods) + extra_flags
        + oddities["flags"],
        "balance": balance, "design": checks,
    }


def check_rows(checks: dict) -> pd.DataFrame:
    """The tests of the audit as a table, one row per test: its statistic's fields and its p-value."""
    return pd.DataFrame([{"check": name, **value} for name, value in checks.items()
                         if isinstance(value, dict) and "p_value" in value])
