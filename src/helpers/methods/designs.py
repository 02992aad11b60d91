"""Estimators for trial designs other than complete randomisation of reports.

A next trial may randomise within blocks (boroughs, months), randomise whole wards (clusters),
or allocate each report by a coin (simple, Bernoulli randomisation). Each function here takes
the analysis table and returns :class:`~helpers.methods.tidy.Estimate` rows; none reads or writes a
file. Rows with no outcome recorded are left out, as in :mod:`helpers.methods.estimation`.
Differences are treatment minus control, so a negative value means fewer events with SRC.

The variance estimators follow R's estimatr 1.0 (Blair, Cooper, Coppock, Humphreys & Sonnet),
and each is tested against it on the same data (``tests/test_vs_estimatr_designs.py``):

- blocked: ``difference_in_means(y ~ z, blocks = b)``, and the Mantel-Haenszel risk ratio of
  metafor's ``rma.mh(measure = "RR")``;
- cluster: ``lm_robust(y ~ z, clusters = c, se_type = "CR2")`` and
  ``iv_robust(y ~ d | z, clusters = c, se_type = "CR2")``;
- randomisation inference (sharp null of no effect on any report) under the design actually
  used: Bernoulli assignment, complete randomisation within blocks, or of whole clusters.

References
----------
Bell, R. M. & McCaffrey, D. F. (2002). Bias reduction in standard errors for linear regression
    with multi-stage samples. Survey Methodology 28, 169-181.
Donner, A. & Koval, J. J. (1980). The estimation of intraclass correlation in the analysis of
    family data. Biometrics 36, 19-25.
Donner, A. & Klar, N. (2000). Design and Analysis of Cluster Randomization Trials in Health
    Research. London: Arnold.
Gerber, A. S. & Green, D. P. (2012). Field Experiments: Design, Analysis, and Interpretation.
    New York: Norton. (Eq. 3.10 and 3.12: blocked estimator and its variance; section 3.6.2:
    matched pairs.)
Greenland, S. & Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
Imai, K., King, G. & Nall, C. (2009). The essential role of pair matching in cluster-randomized
    experiments. Statistical Science 24, 29-53.
Imbens, G. W. & Kolesár, M. (2016). Robust standard errors in small samples: some practical
    advice. Review of Economics and Statistics 98, 701-712.
Mantel, N. & Haenszel, W. (1959). Statistical aspects of the analysis of data from
    retrospective studies of disease. JNCI 22, 719-748.
Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero. Statistical
    Applications in Genetics and Molecular Biology 9(1), 39.
Pustejovsky, J. E. & Tipton, E. (2018). Small-sample methods for cluster-robust variance
    estimation and hypothesis testing in fixed effects models. JBES 36, 672-683.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.tidy import Estimate

DIFFERENCE = "difference_in_means"


def _known(data: pd.DataFrame, outcome: str, columns: list[str]) -> pd.DataFrame:
    """The rows with the outcome recorded, with the columns used."""
    return data.loc[data[outcome].notna(), [outcome, *columns]]


NO_VARIATION = "every report has the same outcome, so no effect can be told apart from none"


def _t_estimate(outcome: str, estimand: str, estimate: float, se: float, df: float, alpha: float, method: str,
                n: int, reason: str | None = None) -> Estimate:
    """An estimate with a t interval and a two-sided t test on ``df`` degrees of freedom."""
    critical = stats.t.ppf(1 - alpha / 2, df)
    p_value = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else None
    return Estimate(outcome, estimand, float(estimate), float(estimate - critical * se),
                    float(estimate + critical * se), method, int(n), std_error=float(se), p_value=p_value,
                    reason=reason, df=float(df))


# --------------------------------------------------------------------------------------------
# Blocked randomisation
# --------------------------------------------------------------------------------------------

def _block_table(known: pd.DataFrame, outcome: str, treatment: str, block: str) -> pd.DataFrame:
    """Per block: reports, SRC and BAU reports, their means and variances, and the difference."""
    frame = pd.DataFrame({"y": known[outcome].astype(float), "z": known[treatment].astype(int),
                          "block": known[block]})
    table = pd.DataFrame(index=pd.Index(pd.unique(frame["block"]), name="block"))
    for arm in (0, 1):
        summary = frame[frame["z"] == arm].groupby("block")["y"].agg(["size", "mean", "var"]).reindex(table.index)
        table[f"size_{arm}"] = summary["size"].fillna(0).astype(int)
        table[f"mean_{arm}"], table[f"var_{arm}"] = summary["mean"], summary["var"]
    table["n"] = table["size_0"] + table["size_1"]
    table["difference"] = table["mean_1"] - table["mean_0"]
    return table


def _block_problem(table: pd.DataFrame) -> str | None:
    """Why the blocked estimator cannot be computed on these blocks, or None (estimatr's rules)."""
    def names(mask) -> str:
        return ", ".join(str(b) for b in table.index[mask][:5])

    if len(table) < 2 and (table["n"] == 2).all():
        return "a single matched pair gives no variance"
    one_arm = (table["size_0"] == 0) | (table["size_1"] == 0)
    if one_arm.any():
        return f"a block has no SRC or no business-as-usual report ({names(one_arm)})"
    if (table["n"] > 2).all() and ((table["size_0"] == 1) | (table["size_1"] == 1)).any():
        lone = (table["size_0"] == 1) | (table["size_1"] == 1)
        return (f"a block has a single SRC or a single business-as-usual report ({names(lone)}), so its variance "
                "cannot be estimated (estimatr refuses this too); merge it with a similar block")
    return None


def blocked_difference_in_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                block: str = "block", alpha: float = 0.05) -> Estimate:
    """Difference in means within blocks, weighted by block size, as estimatr's ``difference_in_means``.

    Gerber & Green (2012), eq. 3.10: ATE = sum_j (N_j / N) ATE_j, with ATE_j the difference in
    means in block j; its variance (eq. 3.12) sum_j (N_j / N)² (s²_1j / n_1j + s²_0j / n_0j),
    interval and test on t with N - 2J degrees of freedom (estimatr's choice). With allocation
    shares that differ between blocks, the naive difference in means is biased; this is not.

    Blocks of two reports (matched pairs) have no within-block variance: when every block is a
    pair, or (as estimatr does, with a warning) when some are, the variance is the matched-pairs
    one (Imai, King & Nall 2009; Gerber & Green 2012, section 3.6.2):
    sum_j (ATE_j - ATE)² / (J (J - 1)), on J - 1 degrees of freedom. A block with a single
    SRC or a single BAU report among more reports is not estimable (estimatr refuses it).
    """
    known = _known(data, outcome, [treatment, block])
    n = len(known)
    method = "blocked difference in means (Gerber & Green 2012, eq. 3.10)"
    if known[block].isna().any():
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, "a report has no block recorded")
    table = _block_table(known, outcome, treatment, block)
    problem = _block_problem(table) or (NO_VARIATION if known[outcome].nunique() < 2 else None)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, problem)
    weights = table["n"] / n
    estimate = float(np.sum(weights * table["difference"]))
    if (table["n"] == 2).any():
        blocks = len(table)
        se = float(np.sqrt(np.sum((table["difference"] - estimate) ** 2) / (blocks * (blocks - 1))))
        reason = None if (table["n"] == 2).all() else (
            "some blocks are pairs, so the matched-pairs variance is used for every block (as estimatr)")
        return _t_estimate(outcome, DIFFERENCE, estimate, se, blocks - 1, alpha,
                           "matched-pairs difference in means (Imai, King & Nall 2009)", n, reason)
    variance = table["var_1"] / table["size_1"] + table["var_0"] / table["size_0"]
    se = float(np.sqrt(np.sum(weights ** 2 * variance)))
    return _t_estimate(outcome, DIFFERENCE, estimate, se, n - 2 * len(table), alpha, method, n)


def mantel_haenszel_risk_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                               block: str = "block", alpha: float = 0.05) -> Estimate:
    """Risk ratio common to the blocks, by Mantel & Haenszel, with the Greenland-Robins variance.

    With a_j, c_j the SRC and BAU events, n_1j, n_0j the reports and N_j their sum in block j:
    RR = R / S, R = sum a_j n_0j / N_j, S = sum c_j n_1j / N_j (Mantel & Haenszel 1959);
    Var(log RR) = sum (n_1j n_0j (a_j + c_j) / N_j² - a_j c_j / N_j) / (R S) (Greenland &
    Robins 1985). Normal interval on the log scale and z test, as metafor's
    ``rma.mh(measure = "RR")``. statsmodels' ``StratifiedTable.riskratio_pooled`` gives the
    point estimate but no variance, hence the formula here. The outcome must be 0/1.
    """
    known = _known(data, outcome, [treatment, block])
    n = len(known)
    method = "Mantel-Haenszel risk ratio, Greenland-Robins variance"
    y, z = known[outcome].astype(float), known[treatment].astype(int)
    if not y.isin([0.0, 1.0]).all():
        raise ValueError(f"the Mantel-Haenszel risk ratio needs a 0/1 outcome; {outcome!r} has other values")
    cells = pd.DataFrame({"a": y * z, "n1": z, "c": y * (1 - z), "n0": 1 - z, "block": known[block]})
    t = cells.groupby("block").sum()
    t = t[(t["n1"] > 0) & (t["n0"] > 0)]  # a block with one arm only says nothing about the ratio
    if t.empty:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, "no block has reports in both arms")
    total = t["n1"] + t["n0"]
    r, s = float(np.sum(t["a"] * t["n0"] / total)), float(np.sum(t["c"] * t["n1"] / total))
    if t["a"].sum() == 0 or t["c"].sum() == 0:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n,
                                      "an arm has no events, so the ratio is 0 or unbounded")
    log_rr = np.log(r / s)
    se = float(np.sqrt(np.sum(t["n1"] * t["n0"] * (t["a"] + t["c"]) / total ** 2 - t["a"] * t["c"] / total)
                       / (r * s)))
    if not se > 0:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, "every report in both arms had the event")
    critical = stats.norm.ppf(1 - alpha / 2)
    return Estimate(outcome, "risk_ratio", float(r / s), float(np.exp(log_rr - critical * se)),
                    float(np.exp(log_rr + critical * se)), method, n, std_error=se,
                    p_value=float(2 * stats.norm.sf(abs(log_rr / se))))


# --------------------------------------------------------------------------------------------
# Cluster randomisation
# --------------------------------------------------------------------------------------------

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


def _cluster_problem(known: pd.DataFrame, treatment: str, cluster: str) -> str | None:
    """Why a cluster-randomised comparison cannot be made, or None."""
    if known[cluster].isna().any():
        return "a report has no cluster recorded"
    arms = known.groupby(cluster)[treatment].nunique()
    if (arms > 1).any():
        return (f"cluster {arms.index[arms > 1][0]} has reports in both arms, so the allocation was not by cluster")
    per_arm = known.groupby(treatment)[cluster].nunique()
    if len(per_arm) < 2 or per_arm.min() < 2:
        return "an arm has fewer than two clusters, too few for a cluster-robust variance"
    return None


def cluster_difference_in_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                cluster: str = "ward", alpha: float = 0.05) -> Estimate:
    """Intention-to-treat effect of a cluster-randomised trial: OLS of y on z, CR2 standard error.

    As estimatr's ``lm_robust(y ~ z, clusters = c, se_type = "CR2")``: the coefficient of z (the
    difference in means over reports), its CR2 standard error, interval and test on t with the
    Bell-McCaffrey degrees of freedom (see :func:`cr2_variance`).
    """
    known = _known(data, outcome, [treatment, cluster])
    method = "OLS with CR2 cluster-robust standard error, Bell-McCaffrey df (as estimatr lm_robust)"
    problem = _cluster_problem(known, treatment, cluster) or (NO_VARIATION if known[outcome].nunique() < 2 else None)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, len(known), problem)
    y = known[outcome].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(known)), known[treatment].to_numpy(dtype=float)])
    beta = np.linalg.solve(x.T @ x, x.T @ y)
    variance, df = cr2_variance(x, y - x @ beta, known[cluster].to_numpy())
    return _t_estimate(outcome, DIFFERENCE, beta[1], np.sqrt(variance[1, 1]), df[1], alpha, method, len(known))


def cluster_complier_effect(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            received: str = "received", cluster: str = "ward", alpha: float = 0.05) -> Estimate:
    """Complier average causal effect in a cluster-randomised trial: 2SLS with a CR2 standard error.

    As estimatr's ``iv_robust(y ~ d | z, clusters = c, se_type = "CR2")``: the first stage
    regresses the contact received d on the allocation z; the second regresses y on the fitted
    d-hat. The CR2 variance and Bell-McCaffrey df use the second-stage design [1, d-hat] with
    residuals from the structural equation, y - b0 - b1 d (Angrist, Imbens & Rubin 1996).
    """
    known = _known(data, outcome, [treatment, received, cluster])
    method = "two-stage least squares, CR2 cluster-robust standard error, Bell-McCaffrey df (as estimatr iv_robust)"
    estimand = "complier_average_causal_effect"
    problem = _cluster_problem(known, treatment, cluster) or (NO_VARIATION if known[outcome].nunique() < 2 else None)
    z, d = known[treatment].to_numpy(dtype=float), known[received].to_numpy(dtype=float)
    if not problem and d[z == 1].mean() - d[z == 0].mean() <= 0:
        problem = "the contact was no more often delivered in the SRC arm than in the business-as-usual arm"
    if problem:
        return Estimate.not_estimable(outcome, estimand, method, len(known), problem)
    y, ones = known[outcome].to_numpy(dtype=float), np.ones(len(known))
    instruments = np.column_stack([ones, z])
    fitted = instruments @ np.linalg.lstsq(instruments, d, rcond=None)[0]
    x_hat, x = np.column_stack([ones, fitted]), np.column_stack([ones, d])
    beta = np.linalg.solve(x_hat.T @ x_hat, x_hat.T @ y)
    variance, df = cr2_variance(x_hat, y - x @ beta, known[cluster].to_numpy())
    return _t_estimate(outcome, estimand, beta[1], np.sqrt(variance[1, 1]), df[1], alpha, method, len(known))


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
    known = _known(data, outcome, columns)
    method = "one-way ANOVA estimator (Donner & Koval 1980)" + (", clusters nested in arms" if treatment else "")
    groups = known.groupby(cluster)[outcome]
    sizes, means = groups.size().to_numpy(dtype=float), groups.mean()
    n, g = len(known), len(sizes)
    arms = known.groupby(cluster)[treatment].first() if treatment else pd.Series(0, index=means.index)
    if treatment and (known.groupby(cluster)[treatment].nunique() > 1).any():
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "a cluster has reports in both arms, so clusters are not nested in arms")
    if known[cluster].isna().any() or g - arms.nunique() < 1 or n - g < 1:
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "too few clusters, or no cluster with more than one report")
    y = known[outcome].astype(float)
    within = float(np.sum((y - known[cluster].map(means)) ** 2)) / (n - g)
    arm_mean = known.groupby(arms.reindex(known[cluster]).to_numpy())[outcome].mean()
    centre = arm_mean.reindex(arms.to_numpy()).to_numpy()
    between = float(np.sum(sizes * (means.to_numpy() - centre) ** 2)) / (g - arms.nunique())
    by_arm = pd.DataFrame({"m": sizes, "arm": arms.to_numpy()}).groupby("arm")["m"]
    m0 = (n - float(np.sum(by_arm.apply(lambda m: np.sum(m ** 2) / np.sum(m))))) / (g - arms.nunique())
    if between + (m0 - 1) * within <= 0:
        return Estimate.not_estimable(outcome, "intracluster_correlation", method, n,
                                      "the outcome does not vary, so no correlation can be estimated")
    icc = (between - within) / (between + (m0 - 1) * within)
    return Estimate(outcome, "intracluster_correlation", float(icc), None, None, method, n,
                    reason="no interval: a point estimate for planning")


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
    reason = "no interval: a point estimate for planning"
    if value < 1:
        value, reason = 1.0, f"{reason}; the ICC estimate is negative, so the design effect is set to 1"
    return Estimate(outcome, "design_effect", float(value), None, None, method, icc.n, reason=reason)


# --------------------------------------------------------------------------------------------
# Randomisation inference under the design used
# --------------------------------------------------------------------------------------------

CHUNK_CELLS = 5_000_000  # draws x reports held in memory at once (40 MB of float64)
TIE_TOLERANCE = 1e-12  # a permuted statistic this close to the observed one counts as at least as extreme
RI_REASON = "randomisation inference tests the sharp null of no effect on any report: a p-value, no interval"


ALTERNATIVES = ("two-sided", "less", "greater")


def _ri_estimate(outcome: str, observed: float, permuted: np.ndarray, method: str, n: int, draws: int,
                 seed: int, alternative: str = "two-sided") -> Estimate:
    """The observed statistic with its randomisation p-value (Phipson & Smyth 2010).

    p = (1 + #{|T*| >= |T|}) / (1 + draws): the observed assignment counts among the draws, so
    p is never 0. ``alternative`` "less" counts T* <= T (a one-sided test that SRC lowers the
    outcome), "greater" T* >= T.
    """
    if alternative == "less":
        extreme = np.sum(permuted <= observed + TIE_TOLERANCE)
    elif alternative == "greater":
        extreme = np.sum(permuted >= observed - TIE_TOLERANCE)
    elif alternative == "two-sided":
        extreme = np.sum(np.abs(permuted) >= abs(observed) - TIE_TOLERANCE)
    else:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, not {alternative!r}")
    sides = "" if alternative == "two-sided" else f"; one-sided ({alternative})"
    p_value = (1 + extreme) / (1 + len(permuted))
    return Estimate(outcome, DIFFERENCE, float(observed), None, None,
                    f"{method}; {len(permuted)} draws of {draws}, seed {seed}{sides}", n, p_value=float(p_value),
                    reason=RI_REASON)


def _is_binary(y: np.ndarray) -> bool:
    return bool(np.isin(y, (0.0, 1.0)).all())


def bernoulli_randomisation_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                              probability: float = 0.5, draws: int = 10_000, seed: int = 0,
                              alternative: str = "two-sided") -> Estimate:
    """Randomisation p-value of the difference in means when each report was allocated by a coin.

    Under simple (Bernoulli) randomisation every report went to SRC with ``probability``,
    independently, so arm sizes vary. Each draw re-allocates every report that way, with the
    outcomes held fixed (the sharp null). Draws that leave an arm empty (the difference is
    undefined there) are discarded, so the reference distribution is the design's conditional on
    both arms being used; the method names how many draws were kept. For a 0/1 outcome only the
    numbers of SRC events and SRC non-events matter, and they are independent binomials, drawn
    directly (any trial size at the same cost). Same ``seed``, same p-value.
    """
    known = _known(data, outcome, [treatment])
    y, z = known[outcome].to_numpy(dtype=float), known[treatment].to_numpy(dtype=int)
    method = f"randomisation inference, Bernoulli({probability:g}) allocation of each report"
    if not 0 < probability < 1:
        raise ValueError(f"probability must lie strictly between 0 and 1, not {probability}")
    if min((z == 1).sum(), (z == 0).sum()) == 0:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, len(y), "an arm has no report with an outcome")
    rng = np.random.default_rng(seed)
    if _is_binary(y):
        events = int(y.sum())
        treated_events = rng.binomial(events, probability, size=draws)
        treated = treated_events + rng.binomial(len(y) - events, probability, size=draws)
        keep = (treated > 0) & (treated < len(y))
        treated, treated_events = treated[keep], treated_events[keep]
        permuted = treated_events / treated - (events - treated_events) / (len(y) - treated)
    else:
        permuted = np.concatenate([_bernoulli_chunk(y, probability, rows, rng)
                                   for rows in _chunks(draws, len(y))])
    observed = y[z == 1].mean() - y[z == 0].mean()
    return _ri_estimate(outcome, observed, permuted, method, len(y), draws, seed, alternative)


def _chunks(draws: int, n: int):
    """Row counts of the chunks that ``draws`` draws of ``n`` reports are made in."""
    size = max(1, CHUNK_CELLS // max(n, 1))
    return [min(size, draws - start) for start in range(0, draws, size)]


def _bernoulli_chunk(y: np.ndarray, probability: float, rows: int, rng) -> np.ndarray:
    z = (rng.random((rows, len(y))) < probability).astype(float)
    treated = z.sum(axis=1)
    keep = (treated > 0) & (treated < len(y))
    z, treated = z[keep], treated[keep]
    return z @ y / treated - (y.sum() - z @ y) / (len(y) - treated)


def _complete_sums(y: np.ndarray, treated: int, draws: int, rng) -> np.ndarray:
    """Sum of y over the SRC reports in ``draws`` complete randomisations with ``treated`` SRC reports."""
    if _is_binary(y):  # the number of events among the SRC reports is hypergeometric
        events = int(y.sum())
        return rng.hypergeometric(events, len(y) - events, treated, size=draws).astype(float)
    sums = []
    for rows in _chunks(draws, len(y)):
        order = np.argsort(rng.random((rows, len(y))), axis=1)  # a uniform random permutation per row
        sums.append((order < treated).astype(float) @ y)
    return np.concatenate(sums)


def blocked_randomisation_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            block: str = "block", draws: int = 10_000, seed: int = 0,
                            alternative: str = "two-sided") -> Estimate:
    """Randomisation p-value of the blocked difference in means, permuting within blocks.

    Each draw re-randomises every block completely with its observed number of SRC reports
    (the blocks independently) and recomputes the block-size-weighted difference in means
    (:func:`blocked_difference_in_means`). Within a block only the sum of the outcome over its
    SRC reports varies; for a 0/1 outcome that sum is hypergeometric and drawn directly.
    """
    known = _known(data, outcome, [treatment, block])
    method = "randomisation inference, complete randomisation within blocks"
    n = len(known)
    if known[block].isna().any():
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, "a report has no block recorded")
    rng = np.random.default_rng(seed)
    observed, permuted = 0.0, np.zeros(draws)
    for _, rows in known.groupby(block):
        y, z = rows[outcome].to_numpy(dtype=float), rows[treatment].to_numpy(dtype=int)
        treated = int(z.sum())
        if treated in (0, len(y)):
            return Estimate.not_estimable(outcome, DIFFERENCE, method, n,
                                          "a block has no SRC or no business-as-usual report")
        weight = len(y) / n
        sums = _complete_sums(y, treated, draws, rng)
        observed += weight * (y[z == 1].mean() - y[z == 0].mean())
        permuted += weight * (sums / treated - (y.sum() - sums) / (len(y) - treated))
    return _ri_estimate(outcome, observed, permuted, method, n, draws, seed, alternative)


def cluster_randomisation_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            cluster: str = "ward", draws: int = 10_000, seed: int = 0,
                            alternative: str = "two-sided") -> Estimate:
    """Randomisation p-value of the difference in means, permuting whole clusters.

    Each draw allocates the observed number of SRC clusters completely at random among the
    clusters, every report following its cluster, and recomputes the difference in means over
    reports (the coefficient of :func:`cluster_difference_in_means`). Only the clusters' sizes
    and outcome totals matter, so a draw costs one pass over the clusters, not the reports.
    """
    known = _known(data, outcome, [treatment, cluster])
    method = "randomisation inference, complete randomisation of whole clusters"
    problem = _cluster_problem(known, treatment, cluster)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, len(known), problem)
    by_cluster = known.groupby(cluster).agg(total=(outcome, "sum"), size=(outcome, "size"), arm=(treatment, "first"))
    totals, sizes = by_cluster["total"].to_numpy(dtype=float), by_cluster["size"].to_numpy(dtype=float)
    treated = int(by_cluster["arm"].sum())
    rng = np.random.default_rng(seed)
    parts = []
    for rows in _chunks(draws, len(totals)):
        chosen = (np.argsort(rng.random((rows, len(totals))), axis=1) < treated).astype(float)
        # argsort of uniforms is a uniform permutation; its first `treated` positions are SRC clusters
        sum_t, size_t = chosen @ totals, chosen @ sizes
        parts.append(sum_t / size_t - (totals.sum() - sum_t) / (sizes.sum() - size_t))
    y, z = known[outcome].to_numpy(dtype=float), known[treatment].to_numpy(dtype=int)
    observed = y[z == 1].mean() - y[z == 0].mean()
    return _ri_estimate(outcome, observed, np.concatenate(parts), method, len(known), draws, seed, alternative)
