"""How alike the reports of one cluster are: the intra-cluster correlation and the design effect.

Stated for each outcome of a cluster-randomised trial, and the design effect sizes its power
(:mod:`helpers.methods.power`).

References
----------
Donner, A. & Koval, J. J. (1980). The estimation of intraclass correlation in the analysis of
    family data. Biometrics 36, 19-25.
Donner, A. & Klar, N. (2000). Design and Analysis of Cluster Randomization Trials in Health
    Research. London: Arnold.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from helpers.methods.design import UNIT, Design
from helpers.methods.tidy import Estimate

PLANNING = "no interval: a point estimate for planning"


def clustering(data: pd.DataFrame, outcome: str, design: Design) -> tuple[Estimate, Estimate] | None:
    """The intra-cluster correlation and the design effect of ``outcome`` under a cluster design; None under
    any other design."""
    if not design.clustered:
        return None
    frame = design.with_units(data)
    return intracluster_correlation(frame, outcome, cluster=UNIT), design_effect(frame, outcome, cluster=UNIT)


def intracluster_correlation(data: pd.DataFrame, outcome: str, *, cluster: str = "ward",
                             treatment: str | None = "assigned") -> Estimate:
    """Intra-cluster correlation by the one-way analysis-of-variance estimator.

    ICC = (MSB - MSW) / (MSB + (m0 - 1) MSW) (Donner & Koval 1980), MSB and MSW the between- and
    within-cluster mean squares. Ignoring the arms (``treatment=None``):
    m0 = (N - sum m_g² / N) / (G - 1). With clusters nested in arms (the default, as a cluster
    trial should be analysed, so that the effect of SRC does not count as clustering), MSB is
    taken about the arm means on G - 2 df and m0 = (N - sum_arms sum_g m_g² / N_arm) / (G - 2)
    (Donner & Klar 2000, ch. 6). A negative estimate is kept (it is unbiased-ish, not a bug);
    the design effect clips at 1.
    """
    columns = [cluster] + ([treatment] if treatment else [])
    rows = data.loc[data[outcome].notna(), [outcome, *columns]]
    method = "one-way ANOVA estimator (Donner & Koval 1980)" + (", clusters nested in arms" if treatment else "")
    groups = rows.groupby(cluster)[outcome]
    sizes, means = groups.size().to_numpy(dtype=float), groups.mean()
    n, g = len(rows), len(sizes)
    arms = rows.groupby(cluster)[treatment].first() if treatment else pd.Series(0, index=means.index)
    if treatment and (rows.groupby(cluster)[treatment].nunique() > 1).any():
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "a cluster has reports in both arms, so clusters are not nested in arms")
    if rows[cluster].isna().any() or g - arms.nunique() < 1 or n - g < 1:
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "too few clusters, or no cluster with more than one report")
    y = rows[outcome].astype(float)
    within = float(np.sum((y - rows[cluster].map(means)) ** 2)) / (n - g)
    arm_mean = rows.groupby(arms.reindex(rows[cluster]).to_numpy())[outcome].mean()
    centre = arm_mean.reindex(arms.to_numpy()).to_numpy()
    between = float(np.sum(sizes * (means.to_numpy() - centre) ** 2)) / (g - arms.nunique())
    by_arm = pd.DataFrame({"m": sizes, "arm": arms.to_numpy()}).groupby("arm")["m"]
    m0 = (n - float(np.sum(by_arm.apply(lambda m: np.sum(m ** 2) / np.sum(m))))) / (g - arms.nunique())
    if between + (m0 - 1) * within <= 0:
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "the outcome does not vary, so no correlation can be estimated")
    icc = (between - within) / (between + (m0 - 1) * within)
    return Estimate(outcome, "intracluster_correlation", float(icc), None, None, method, n, reason=PLANNING)


def design_effect(data: pd.DataFrame, outcome: str, *, cluster: str = "ward",
                  treatment: str | None = "assigned") -> Estimate:
    """Design effect of the clustering: 1 + (m-bar - 1) ICC, m-bar the mean cluster size.

    The factor by which clustering inflates the variance of a difference in means over
    reports (Donner & Klar 2000, ch. 5). It assumes clusters of similar size; with a negative
    ICC it is set to 1 (clustering cannot be assumed to help).
    """
    icc = intracluster_correlation(data, outcome, cluster=cluster, treatment=treatment)
    method = "1 + (mean cluster size - 1) ICC (Donner & Klar 2000)"
    if icc.estimate is None:
        return Estimate.not_estimable(outcome, "design_effect", method, icc.n, icc.reason.removeprefix(
            "not estimable: "))
    mean_size = icc.n / data.loc[data[outcome].notna(), cluster].nunique()
    value = 1 + (mean_size - 1) * icc.estimate
    reason = PLANNING
    if value < 1:
        value, reason = 1.0, f"{reason}; the ICC estimate is negative, so the design effect is set to 1"
    return Estimate(outcome, "design_effect", float(value), None, None, method, icc.n, reason=reason)
