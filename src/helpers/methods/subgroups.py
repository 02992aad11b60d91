"""Exploratory subgroup effects: intention to treat within subgroups, with an interaction test.

Subgroups were not pre-specified and each holds a fraction of a small trial: the report labels
them exploratory and leads with the interaction test, not the subgroup intervals.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.differences import risk_difference

# A report with several hate strands counts under the first in this order (the order in which
# cleaning lists a report's strands).
STRAND_RULE = ("a report with several hate strands counts under the first of race, religion, disability, sexual "
               "orientation, transgender")

MIN_SUBGROUP_PER_ARM = 10  # below this, a subgroup's interval says nothing


def subgroup_effects(data: pd.DataFrame, outcome: str, by: str, *, treatment: str = "assigned",
                     conf_level: float = 0.95) -> dict:
    """Risk difference in each level of ``by``, and a likelihood-ratio test of the interaction.

    Levels with fewer than MIN_SUBGROUP_PER_ARM reports in either arm are pooled as "other".
    """
    known = data[data[outcome].notna()].copy()
    groups = known[by].astype("string").fillna("not recorded")
    per_arm = pd.crosstab(groups, known[treatment]).min(axis=1)
    known["subgroup"] = groups.where(groups.map(per_arm) >= MIN_SUBGROUP_PER_ARM, "other")
    rows = []
    for level, part in known.groupby("subgroup"):
        if part[treatment].nunique() < 2:
            continue
        estimate = risk_difference(part, outcome, treatment=treatment, conf_level=conf_level)
        rows.append({"subgroup": level, "n": int(len(part)), "control_risk": float(part.loc[part[treatment] == 0, outcome].mean()),
                     "treatment_risk": float(part.loc[part[treatment] == 1, outcome].mean()),
                     "risk_difference": estimate.estimate, "conf_low": estimate.conf_low, "conf_high": estimate.conf_high})
    result = {"by": by, "levels": rows, **interaction_test(known, outcome, treatment)}
    return {**result, "rule": STRAND_RULE} if by == "primary_strand" else result


def interaction_test(known: pd.DataFrame, outcome: str, treatment: str) -> dict:
    """Test that the risk difference is the same in every subgroup, on the scale it is shown.

    Cochran's Q on the subgroups' risk differences: Q = sum w_i (d_i - d_w)^2 with
    w_i = 1 / var(d_i) (the Wald variance of each difference) and d_w their weighted mean,
    chi-squared with k - 1 degrees of freedom under homogeneity (Cochran 1954; Altman &
    Bland 2003 for the two-group case). A subgroup whose variance is zero (every report alike
    in both arms) cannot enter the test.
    """
    differences, variances = [], []
    for _, part in known.groupby("subgroup"):
        y, z = part[outcome].astype(float), part[treatment]
        if z.nunique() < 2:
            continue
        p1, p0 = y[z == 1].mean(), y[z == 0].mean()
        variance = p1 * (1 - p1) / (z == 1).sum() + p0 * (1 - p0) / (z == 0).sum()
        if variance > 0:
            differences.append(p1 - p0)
            variances.append(variance)
    if len(differences) < 2:
        return {"interaction_p_value": None, "interaction_df": None, "interaction_statistic": None,
                "interaction_method": "not estimable: fewer than two subgroups with a variable outcome in both arms"}
    d, w = np.array(differences), 1 / np.array(variances)
    statistic = float(np.sum(w * (d - np.sum(w * d) / np.sum(w)) ** 2))
    df = len(d) - 1
    return {"interaction_p_value": float(stats.chi2.sf(statistic, df)), "interaction_df": df,
            "interaction_statistic": statistic,
            "interaction_method": "Cochran's Q on the subgroups' risk differences (heterogeneity test)"}


def holm(p_values: list[float | None]) -> list[float | None]:
    """Holm's step-down adjustment of a family of p-values (Holm 1979); None stays None."""
    present = [(p, i) for i, p in enumerate(p_values) if p is not None]
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(present)):
        running = max(running, min(1.0, (len(present) - rank) * p))
        adjusted[i] = running
    return adjusted


def adjust_families(results: list[dict]) -> list[dict]:
    """Add each family's Holm-adjusted interaction p-value, across the subgroup families tested."""
    adjusted = holm([r.get("interaction_p_value") for r in results])
    return [{**r, "interaction_p_value_holm": a} for r, a in zip(results, adjusted)]


def level_rows(families: list[dict]) -> pd.DataFrame:
    """Every subgroup of every characteristic as one table: its effect, and its family's interaction test."""
    return pd.DataFrame([{**level, "by": family["by"], "interaction_p_value": family["interaction_p_value"]}
                         for family in families for level in family["levels"]])
