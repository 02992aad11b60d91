"""Exploratory subgroup effects: intention to treat within subgroups, with an interaction test.

Subgroups were not pre-specified and each holds a fraction of a small trial: the report labels
them exploratory and leads with the interaction test, not the subgroup intervals.
"""
from __future__ import annotations

import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .estimation import risk_difference
from .modelfit import NotEstimable, fit_logit

MIN_SUBGROUP_PER_ARM = 10  # below this, a subgroup's interval says nothing


def subgroup_effects(data: pd.DataFrame, outcome: str, by: str, *, treatment: str = "assigned",
                     alpha: float = 0.05) -> dict:
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
        estimate = risk_difference(part, outcome, treatment=treatment, alpha=alpha)
        rows.append({"subgroup": level, "n": int(len(part)), "control_risk": float(part.loc[part[treatment] == 0, outcome].mean()),
                     "treatment_risk": float(part.loc[part[treatment] == 1, outcome].mean()),
                     "risk_difference": estimate.estimate, "conf_low": estimate.conf_low, "conf_high": estimate.conf_high})
    return {"by": by, "levels": rows, **interaction_test(known, outcome, treatment)}


def interaction_test(known: pd.DataFrame, outcome: str, treatment: str) -> dict:
    """Likelihood-ratio test that the effect is the same in every subgroup (logistic models)."""
    if known["subgroup"].nunique() < 2:
        return {"interaction_p_value": None, "interaction_method": "not estimable: a single subgroup"}
    z = known[treatment].astype(float).rename("z")
    levels = pd.get_dummies(known["subgroup"], prefix="g", drop_first=True, dtype=float)
    main_design = sm.add_constant(pd.concat([z, levels], axis=1))
    full_design = pd.concat([main_design, levels.mul(z, axis=0).add_prefix("z_x_")], axis=1)
    y = known[outcome].astype(float)
    try:
        main, full = fit_logit(sm.Logit(y, main_design)), fit_logit(sm.Logit(y, full_design))
    except NotEstimable as exc:
        return {"interaction_p_value": None, "interaction_method": f"not estimable ({exc})"}
    statistic = 2 * (full.llf - main.llf)
    df = int(full.df_model - main.df_model)
    return {"interaction_p_value": float(stats.chi2.sf(statistic, df)), "interaction_df": df,
            "interaction_method": "likelihood-ratio test of treatment x subgroup terms, logistic regression"}
