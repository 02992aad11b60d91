"""Stage 3: who received the contact, where, when and how.

Delivery in the SRC arm is the trial's known weakness; contamination is a BAU report that
got a contact anyway. Its tables are computed on the characteristics' published levels
(:mod:`helpers.methods.disclosure`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from statsmodels.stats.proportion import proportion_confint

from helpers.methods.modelfit import NotEstimable, fit_logit, independent_columns


def delivery_rates(data: pd.DataFrame, *, treatment: str = "assigned", received: str = "received",
                   conf_level: float = 0.95, clusters: pd.Series | None = None) -> dict:
    """Share of each arm that received the contact, with Wilson intervals.

    With ``clusters`` (a cluster-randomised trial, where delivery is shared within a ward), the
    interval is the Wilson interval at the effective size n / design effect, the design effect
    1 + (m - 1) ICC from the one-way ANOVA intra-cluster correlation of delivery (Donner & Klar
    2000, ch. 5); the method says so.
    """
    alpha = 1 - conf_level
    rates = {}
    for arm, label in ((1, "treatment"), (0, "control")):
        group = data.loc[data[treatment] == arm, received]
        if group.empty:  # an arm with no reports: no rate to give
            rates[label] = {"received": 0, "n": 0, "rate": None, "conf_low": None, "conf_high": None}
            continue
        effective = len(group)
        if clusters is not None:
            effective = len(group) / _design_effect(group.astype(float), clusters.loc[group.index])
        share = float(group.mean())
        low, high = proportion_confint(share * effective, effective, alpha=alpha, method="wilson")
        rates[label] = {"received": int(group.sum()), "n": int(len(group)), "rate": share,
                        "conf_low": float(low), "conf_high": float(high),
                        "method": "Wilson interval" + ("" if clusters is None else
                                                       f", effective size {effective:.1f} after the design effect")}
    return rates


def _design_effect(values: pd.Series, clusters: pd.Series) -> float:
    """1 + (m - 1) ICC, with the one-way ANOVA estimate of the ICC (never below 0) and m the mean size."""
    sizes = values.groupby(clusters).size()
    k, n = len(sizes), len(values)
    if k < 2 or n <= k:
        return 1.0
    means = values.groupby(clusters).mean()
    between = float((sizes * (means - values.mean()) ** 2).sum() / (k - 1))
    within = float(((values - clusters.map(means)) ** 2).sum() / (n - k))
    m0 = (n - (sizes ** 2).sum() / n) / (k - 1)
    icc = max(0.0, (between - within) / (between + (m0 - 1) * within)) if between + (m0 - 1) * within > 0 else 0.0
    return 1 + (sizes.mean() - 1) * icc


def delivery_by(data: pd.DataFrame, by: str | list[str], *, treatment: str = "assigned",
                received: str = "received") -> pd.DataFrame:
    """Delivery within the SRC arm by one characteristic (borough, month, strand ...).

    With several columns (["borough", "ward"]), the last is the ``group`` and the others are kept
    beside it.
    """
    keys = [by] if isinstance(by, str) else list(by)
    src = data[data[treatment] == 1]
    table = src.groupby(keys, observed=True)[received].agg(allocated="size", received="sum").reset_index()
    table["rate"] = table["received"] / table["allocated"]
    return table.rename(columns={keys[-1]: "group"})


def contact_timing(data: pd.DataFrame, *, received: str = "received") -> dict:
    """Days from report to contact among delivered contacts: median and quartiles."""
    days = data.loc[data[received] == 1, "days_report_to_contact"].dropna()
    if days.empty:
        return {"n": 0, "median": None, "q1": None, "q3": None}
    q1, median, q3 = np.percentile(days, [25, 50, 75])
    return {"n": int(len(days)), "median": float(median), "q1": float(q1), "q3": float(q3),
            "min": float(days.min()), "max": float(days.max())}


def contact_modes(data: pd.DataFrame, *, received: str = "received") -> dict:
    delivered = data[data[received] == 1]
    return {mode: int(count) for mode, count in delivered["src_mode"].fillna("not recorded").value_counts().items()}


def predictors_of_delivery(data: pd.DataFrame, *, treatment: str = "assigned", received: str = "received",
                           conf_level: float = 0.95) -> dict:
    """Logistic regression of delivery on baseline characteristics, within the SRC arm.

    Odds ratios with Wald intervals. Uses the characteristics the extract records (borough,
    offence group, race strand, suspect identified), dropping constant and collinear ones; the
    ``reason`` says why there is no model (every SRC report got the contact, or none did; too
    few reports for the model; separation).
    """
    method = "logistic regression of delivery on baseline characteristics, SRC arm, Wald intervals"
    src = data[data[treatment] == 1]
    result = {"terms": [], "dropped": [], "method": method, "reason": None}
    if src[received].nunique() < 2:
        return {**result, "reason": "not estimable: delivery does not vary within the SRC arm"}
    design, dropped = independent_columns(_delivery_design(src))
    smaller_class = int(min(src[received].sum(), len(src) - src[received].sum()))
    if design.empty:
        return {**result, "dropped": dropped, "reason": "not estimable: no characteristic varies within the SRC arm"}
    if smaller_class <= design.shape[1]:
        return {**result, "dropped": dropped, "reason": f"not estimable: {smaller_class} report(s) in the smaller "
                f"delivery group, too few for a model with {design.shape[1] + 1} parameters"}
    try:
        fit = fit_logit(sm.Logit(src[received].astype(float), sm.add_constant(design, has_constant="add")))
    except NotEstimable as exc:
        return {**result, "dropped": dropped, "reason": f"not estimable ({exc})"}
    ci = np.exp(fit.conf_int(alpha=1 - conf_level))
    terms = pd.DataFrame({"term": fit.params.index, "odds_ratio": np.exp(fit.params.values),
                          "conf_low": ci[0].values, "conf_high": ci[1].values,
                          "p_value": fit.pvalues.values}).iloc[1:].reset_index(drop=True)
    return {**result, "terms": terms, "dropped": dropped}


def _delivery_design(src: pd.DataFrame) -> pd.DataFrame:
    """Dummies for borough and offence group (first level alphabetically the reference), race, suspect."""
    parts = []
    for column in ("borough", "offence_group"):
        values = src[column].astype("string")
        for level in sorted(values.dropna().unique())[1:]:
            parts.append((values == level).astype(float).rename(f"{column}: {level}"))
    if "strand_race" in src:
        parts.append(src["strand_race"].astype(float).rename("race strand"))
    if "suspect_identified" in src and src["suspect_identified"].notna().all():
        parts.append(src["suspect_identified"].astype(float).rename("suspect identified"))
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=src.index)


def outcome_by_contact_mode(data: pd.DataFrame, outcome: str, *, received: str = "received") -> list[dict]:
    """Outcome risk among victims contacted by phone and in person: descriptive only.

    How the contact was made was not randomised (officers chose it, after allocation), so the
    comparison says nothing causal; it is shown beside the business-as-usual risk for context.
    """
    known = data[data[outcome].notna()]
    risk = lambda part: float(part[outcome].astype(float).mean()) if len(part) else None
    control = known[known["assigned"] == 0]
    rows = [{"group": "business as usual", "n": int(len(control)), "risk": risk(control)}]
    contacted = known[known[received] == 1]
    for mode, part in contacted.groupby(contacted["src_mode"].fillna("not recorded")):
        rows.append({"group": f"contacted: {mode}", "n": int(len(part)), "risk": risk(part)})
    return rows
