"""Intention to treat: the difference and the ratios of the arms' risks, and Fisher's exact test, under
every design.

Each family function (:func:`risk_difference`, :func:`risk_ratio`, :func:`odds_ratio`,
:func:`exact_test`) takes the analysis table, the outcome, the :class:`~helpers.methods.design.Design`
and the confidence level, and returns a tidy row (or the test's p-values) stamped with the design:

============  ==========================================  ==================================  =====================
design        risk difference                             risk ratio                          odds ratio
============  ==========================================  ==================================  =====================
complete,     Newcombe's hybrid score interval, score     log (Katz) interval                 log (Woolf) interval
simple        test (Miettinen & Nurminen)
blocked       blocked difference in means (each block's   Mantel-Haenszel, Greenland-Robins   Mantel-Haenszel,
              difference weighted by its size)            variance                            Robins-Breslow-
                                                                                              Greenland; CMH test
cluster       OLS with a CR2 error, Bell-McCaffrey df     log ratio, clustered sandwich       not valid
                                                          error, t on clusters - 2 df
============  ==========================================  ==================================  =====================

Fisher's exact test is valid under complete and simple randomisation (conditional on the arm
sizes) only. Differences are treatment minus control, so a negative value means fewer events with
SRC. The blocked and cluster estimators follow R's estimatr 1.0 and metafor, and are tested against
them (``tests/test_vs_estimatr_designs.py``).

References
----------
Gerber, A. S. & Green, D. P. (2012). Field Experiments. New York: Norton. (Eq. 3.10 and 3.12:
    blocked estimator and its variance; section 3.6.2: matched pairs.)
Greenland, S. & Robins, J. M. (1985). Estimation of a common effect parameter from sparse
    follow-up data. Biometrics 41, 55-68.
Imai, K., King, G. & Nall, C. (2009). The essential role of pair matching in cluster-randomized
    experiments. Statistical Science 24, 29-53.
Mantel, N. & Haenszel, W. (1959). Statistical aspects of the analysis of data from
    retrospective studies of disease. JNCI 22, 719-748.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.contingency_tables import StratifiedTable, Table2x2
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from helpers.methods.arms import TwoByTwo, cluster_problem, known
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.robust import cr2_variance, t_estimate
from helpers.methods.tidy import Estimate, PValues, within

DIFFERENCE = "difference_in_means"
NO_VARIATION = "every report has the same outcome, so no effect can be told apart from none"
NEWCOMBE = "Newcombe hybrid score interval (Newcombe 1998); score test (Miettinen & Nurminen 1985)"
WOOLF = "log interval (Woolf 1955)"


# --------------------------------------------------------------------------------------------
# The family: one function per estimand, every design
# --------------------------------------------------------------------------------------------

def risk_difference(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                    treatment: str = "assigned") -> Estimate:
    """The intention-to-treat risk difference (SRC minus business as usual) under ``design``."""
    if design.blocked:
        frame = design.with_units(data)
        row = within(replace(blocked_difference_in_means(frame, outcome, treatment=treatment, block=UNIT,
                                                         conf_level=conf_level), estimand="risk_difference"))
    elif design.clustered:
        frame = design.with_units(data)
        row = within(replace(cluster_difference_in_means(frame, outcome, treatment=treatment, cluster=UNIT,
                                                         conf_level=conf_level), estimand="risk_difference"))
    else:
        row = newcombe_risk_difference(data, outcome, treatment=treatment, conf_level=conf_level)
    return row.under(design.assignment, conf_level)


def risk_ratio(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
               treatment: str = "assigned") -> Estimate:
    """The intention-to-treat risk ratio (SRC over business as usual) under ``design``."""
    if design.blocked:
        row = mantel_haenszel_risk_ratio(design.with_units(data), outcome, treatment=treatment, block=UNIT,
                                         conf_level=conf_level)
    elif design.clustered:
        row = cluster_risk_ratio(known(design.with_units(data), outcome), outcome, treatment=treatment,
                                 conf_level=conf_level)
    else:
        row = katz_risk_ratio(data, outcome, treatment=treatment, conf_level=conf_level)
    return row.under(design.assignment, conf_level)


def odds_ratio(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
               treatment: str = "assigned") -> Estimate:
    """The intention-to-treat odds ratio under ``design``; not valid under a cluster design."""
    if design.blocked:
        row = mantel_haenszel_odds_ratio(known(design.with_units(data), outcome), outcome, treatment=treatment,
                                         conf_level=conf_level)
    elif design.unsupported("odds_ratio_woolf"):
        row = Estimate.not_estimable(outcome, "odds_ratio", WOOLF, len(known(data, outcome)),
                                     design.unsupported("odds_ratio_woolf"))
    else:
        row = woolf_odds_ratio(data, outcome, treatment=treatment, conf_level=conf_level)
    return row.under(design.assignment, conf_level)


def exact_test(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, direction: str = "decrease",
               treatment: str = "assigned") -> PValues:
    """Fisher's exact test, two-sided and one-sided in the outcome's pre-stated ``direction``; not valid
    under a blocked or cluster design, which its randomisation test replaces."""
    why = design.unsupported("exact_test")
    if why:
        return PValues(None, None, f"Fisher's exact test: {design.not_valid('not computed')}",
                       f"not estimable: {why}")
    method = ("Fisher's exact test" if design.assignment == "complete" else
              "Fisher's exact test, conditional on the arm sizes (valid under simple randomisation: the arm sizes "
              "carry no information about the effect)")
    empty = TwoByTwo.from_data(data, outcome, treatment).empty_arm
    if empty:
        return PValues(None, None, method, f"not estimable: {empty}")
    one_sided = "less" if direction == "decrease" else "greater"
    return PValues(fisher_exact_p(data, outcome, treatment=treatment),
                   fisher_exact_p(data, outcome, treatment=treatment, alternative=one_sided), method)


# --------------------------------------------------------------------------------------------
# Complete (and simple) randomisation: the two-by-two table
# --------------------------------------------------------------------------------------------

def arm_risks(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
              conf_level: float = 0.95) -> pd.DataFrame:
    """Risk of the outcome in each arm with a Wilson score interval (Wilson 1927)."""
    alpha = 1 - conf_level
    counts = TwoByTwo.from_data(data, outcome, treatment)
    rows = []
    for arm, events, n in (("control", counts.control_events, counts.control_n),
                           ("treatment", counts.treatment_events, counts.treatment_n)):
        low, high = proportion_confint(events, n, alpha=alpha, method="wilson") if n else (None, None)
        rows.append({"arm": arm, "events": events, "n": n, "risk": events / n if n else None,
                     "conf_low": low, "conf_high": high})
    return pd.DataFrame(rows)


def katz_risk_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                    conf_level: float = 0.95) -> Estimate:
    """Risk ratio (treatment / control) with the log (Katz et al. 1978) interval."""
    alpha = 1 - conf_level
    counts = TwoByTwo.from_data(data, outcome, treatment)
    method = "log interval (Katz 1978)"
    if counts.empty_arm:
        return Estimate.not_estimable(outcome, "risk_ratio", method, counts.n, counts.empty_arm)
    if 0 in (counts.treatment_events, counts.control_events):
        return Estimate.not_estimable(outcome, "risk_ratio", method, counts.n,
                                      "an arm has no events, so the ratio is 0 or unbounded")
    if counts.treatment_events == counts.treatment_n and counts.control_events == counts.control_n:
        return Estimate.not_estimable(outcome, "risk_ratio", method, counts.n, "every report in both arms had the event")
    table = Table2x2(counts.table)
    low, high = table.riskratio_confint(alpha=alpha)
    return Estimate(outcome, "risk_ratio", table.riskratio, low, high, method, counts.n,
                    std_error=table.log_riskratio_se, p_value=table.log_riskratio_pvalue())


def newcombe_risk_difference(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                             conf_level: float = 0.95) -> Estimate:
    """Risk difference (treatment - control) with Newcombe's hybrid score interval.

    Newcombe (1998), method 10: combines the two arms' Wilson intervals; the p-value and its
    statistic are the score test's (Miettinen & Nurminen 1985). ``std_error`` is the unpooled
    (Wald) standard error of the difference, given for reference: neither the interval nor the
    test uses it.
    """
    alpha = 1 - conf_level
    c = TwoByTwo.from_data(data, outcome, treatment)
    if c.empty_arm:
        return Estimate.not_estimable(outcome, "risk_difference", NEWCOMBE, c.n, c.empty_arm)
    low, high = confint_proportions_2indep(c.treatment_events, c.treatment_n, c.control_events, c.control_n,
                                           method="newcomb", compare="diff", alpha=alpha)
    rd = c.treatment_risk - c.control_risk
    se = np.sqrt(c.treatment_risk * (1 - c.treatment_risk) / c.treatment_n
                 + c.control_risk * (1 - c.control_risk) / c.control_n)
    score, p_value = _score_test(c)
    return Estimate(outcome, "risk_difference", rd, max(-1.0, low), min(1.0, high), NEWCOMBE, c.n,
                    std_error=se if se > 0 else None, p_value=p_value, statistic=score)


def _score_test(c: TwoByTwo) -> tuple[float, float]:
    """Two-sided score test of equal risks (Miettinen & Nurminen 1985): its z statistic and p-value;
    (0, 1) when no report varies.

    With no events at all, or events in every report, the data cannot tell the arms apart: the
    score statistic is 0/0 and the p-value is 1, as Fisher's exact test gives.
    """
    events = c.treatment_events + c.control_events
    if events in (0, c.n):
        return 0.0, 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        test = test_proportions_2indep(c.treatment_events, c.treatment_n, c.control_events, c.control_n,
                                       method="score", compare="diff")
    if not (np.isfinite(test.pvalue) and np.isfinite(test.statistic)):
        return 0.0, 1.0
    return float(test.statistic), float(test.pvalue)


def woolf_odds_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                     conf_level: float = 0.95) -> Estimate:
    """Odds ratio with the log (Woolf 1955) interval."""
    alpha = 1 - conf_level
    counts = TwoByTwo.from_data(data, outcome, treatment)
    if counts.empty_arm:
        return Estimate.not_estimable(outcome, "odds_ratio", WOOLF, counts.n, counts.empty_arm)
    if (counts.table == 0).any():
        return Estimate.not_estimable(outcome, "odds_ratio", WOOLF, counts.n,
                                      "a cell of the two-by-two table is empty, so the ratio is 0 or unbounded")
    table = Table2x2(counts.table)
    low, high = table.oddsratio_confint(alpha=alpha)
    return Estimate(outcome, "odds_ratio", table.oddsratio, low, high, WOOLF, counts.n,
                    std_error=table.log_oddsratio_se, p_value=table.log_oddsratio_pvalue())


def fisher_exact_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                   alternative: str = "two-sided") -> float | None:
    """Fisher's exact test of no difference between arms; None when an arm is empty.

    ``alternative="less"`` tests the pre-registered direction (fewer events with SRC).
    """
    counts = TwoByTwo.from_data(data, outcome, treatment)
    if counts.empty_arm:
        return None
    return float(stats.fisher_exact(counts.table, alternative=alternative).pvalue)


# --------------------------------------------------------------------------------------------
# Blocked randomisation
# --------------------------------------------------------------------------------------------

def _with_outcome(data: pd.DataFrame, outcome: str, columns: list[str]) -> pd.DataFrame:
    """The rows with the outcome recorded, with the columns used."""
    return data.loc[data[outcome].notna(), [outcome, *columns]]


def _block_table(rows: pd.DataFrame, outcome: str, treatment: str, block: str) -> pd.DataFrame:
    """Per block: reports, SRC and BAU reports, their means and variances, and the difference."""
    frame = pd.DataFrame({"y": rows[outcome].astype(float), "z": rows[treatment].astype(int),
                          "block": rows[block]})
    table = pd.DataFrame(index=pd.Index(pd.unique(frame["block"]), name="block"))
    for arm in (0, 1):
        summary = frame[frame["z"] == arm].groupby("block")["y"].agg(["size", "mean", "var"]).reindex(table.index)
        table[f"size_{arm}"] = summary["size"].fillna(0).astype(int)
        table[f"mean_{arm}"], table[f"var_{arm}"] = summary["mean"], summary["var"]
    table["n"] = table["size_0"] + table["size_1"]
    table["difference"] = table["mean_1"] - table["mean_0"]
    return table


def _block_problem(table: pd.DataFrame) -> str | None:
    """Why the blocked estimator cannot be computed on these blocks, or None (estimatr's rules).

    Blocks are counted, not named: a block may be a ward of a report or two, and the allocation
    audit names those whose counts may be published (:mod:`helpers.methods.disclosure`)."""
    def blocks(mask) -> str:
        return "a block" if mask.sum() == 1 else f"{int(mask.sum())} blocks"

    if len(table) < 2 and (table["n"] == 2).all():
        return "a single matched pair gives no variance"
    one_arm = (table["size_0"] == 0) | (table["size_1"] == 0)
    if one_arm.any():
        return (f"{blocks(one_arm)} {'has' if one_arm.sum() == 1 else 'have'} no SRC or no business-as-usual "
                "report (the allocation audit names those with enough reports to be named)")
    if (table["n"] > 2).all() and ((table["size_0"] == 1) | (table["size_1"] == 1)).any():
        lone = (table["size_0"] == 1) | (table["size_1"] == 1)
        return (f"{blocks(lone)} {'has' if lone.sum() == 1 else 'have'} a single SRC or a single business-as-usual "
                "report, so its variance cannot be estimated (estimatr refuses this too); merge it with a similar "
                "block")
    return None


def blocked_difference_in_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                block: str = "block", conf_level: float = 0.95) -> Estimate:
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
    rows = _with_outcome(data, outcome, [treatment, block])
    n = len(rows)
    method = "blocked difference in means (Gerber & Green 2012, eq. 3.10)"
    if rows[block].isna().any():
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, "a report has no block recorded")
    table = _block_table(rows, outcome, treatment, block)
    problem = _block_problem(table) or (NO_VARIATION if rows[outcome].nunique() < 2 else None)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, problem)
    weights = table["n"] / n
    estimate = float(np.sum(weights * table["difference"]))
    if (table["n"] == 2).any():
        blocks = len(table)
        se = float(np.sqrt(np.sum((table["difference"] - estimate) ** 2) / (blocks * (blocks - 1))))
        reason = None if (table["n"] == 2).all() else (
            "some blocks are pairs, so the matched-pairs variance is used for every block (as estimatr)")
        return t_estimate(outcome, DIFFERENCE, estimate, se, blocks - 1, conf_level,
                          "matched-pairs difference in means (Imai, King & Nall 2009)", n, reason)
    variance = table["var_1"] / table["size_1"] + table["var_0"] / table["size_0"]
    se = float(np.sqrt(np.sum(weights ** 2 * variance)))
    return t_estimate(outcome, DIFFERENCE, estimate, se, n - 2 * len(table), conf_level, method, n)


def mantel_haenszel_risk_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                               block: str = "block", conf_level: float = 0.95) -> Estimate:
    """Risk ratio common to the blocks, by Mantel & Haenszel, with the Greenland-Robins variance.

    With a_j, c_j the SRC and BAU events, n_1j, n_0j the reports and N_j their sum in block j:
    RR = R / S, R = sum a_j n_0j / N_j, S = sum c_j n_1j / N_j (Mantel & Haenszel 1959);
    Var(log RR) = sum (n_1j n_0j (a_j + c_j) / N_j² - a_j c_j / N_j) / (R S) (Greenland &
    Robins 1985). Normal interval on the log scale and z test, as metafor's
    ``rma.mh(measure = "RR")``. statsmodels' ``StratifiedTable.riskratio_pooled`` gives the
    point estimate but no variance, hence the formula here. The outcome must be 0/1.
    """
    alpha = 1 - conf_level
    rows = _with_outcome(data, outcome, [treatment, block])
    n = len(rows)
    method = "Mantel-Haenszel risk ratio, Greenland-Robins variance"
    y, z = rows[outcome].astype(float), rows[treatment].astype(int)
    if not y.isin([0.0, 1.0]).all():
        raise ValueError(f"the Mantel-Haenszel risk ratio needs a 0/1 outcome; {outcome!r} has other values")
    cells = pd.DataFrame({"a": y * z, "n1": z, "c": y * (1 - z), "n0": 1 - z, "block": rows[block]})
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


def mantel_haenszel_odds_ratio(rows: pd.DataFrame, outcome: str, *, treatment: str = "assigned", block: str = UNIT,
                               conf_level: float = 0.95) -> Estimate:
    """Odds ratio common to the blocks (Mantel & Haenszel), Robins-Breslow-Greenland interval, CMH test.

    ``rows`` are the reports with the outcome recorded. The p-value is the Cochran-Mantel-Haenszel
    test's (chi-squared on 1 df, no continuity correction); its statistic is given as the signed
    square root of the chi-squared, a z.
    """
    alpha = 1 - conf_level
    method = ("Mantel-Haenszel odds ratio, Robins-Breslow-Greenland variance; Cochran-Mantel-Haenszel test "
              "(statsmodels StratifiedTable)")
    n = len(rows)
    y, z = rows[outcome].astype(int).to_numpy(), rows[treatment].to_numpy(dtype=int)
    tables = []
    for _, part in pd.DataFrame({"y": y, "z": z, "b": rows[block].to_numpy()}).groupby("b"):
        if part["z"].nunique() < 2:
            continue
        t, c = part[part["z"] == 1]["y"], part[part["z"] == 0]["y"]
        tables.append(np.array([[t.sum(), len(t) - t.sum()], [c.sum(), len(c) - c.sum()]], dtype=float))
    if not tables:
        return Estimate.not_estimable(outcome, "odds_ratio", method, n, "no block has reports in both arms")
    stacked = np.dstack(tables)
    numerator = np.sum(stacked[0, 0] * stacked[1, 1] / stacked.sum(axis=(0, 1)))
    denominator = np.sum(stacked[0, 1] * stacked[1, 0] / stacked.sum(axis=(0, 1)))
    if numerator == 0 or denominator == 0:
        return Estimate.not_estimable(outcome, "odds_ratio", method, n,
                                      "the cells of the block tables leave the common odds ratio at 0 or unbounded")
    table = StratifiedTable(tables)
    low, high = table.oddsratio_pooled_confint(alpha=alpha)
    test = table.test_null_odds(correction=False)
    signed_root = float(np.sign(np.log(table.oddsratio_pooled)) * np.sqrt(test.statistic))
    return Estimate(outcome, "odds_ratio", float(table.oddsratio_pooled), float(low), float(high), method, n,
                    std_error=float(table.logodds_pooled_se), p_value=float(test.pvalue), statistic=signed_root)


# --------------------------------------------------------------------------------------------
# Cluster randomisation
# --------------------------------------------------------------------------------------------

def cluster_difference_in_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                cluster: str = "ward", conf_level: float = 0.95) -> Estimate:
    """Intention-to-treat effect of a cluster-randomised trial: OLS of y on z, CR2 standard error.

    As estimatr's ``lm_robust(y ~ z, clusters = c, se_type = "CR2")``: the coefficient of z (the
    difference in means over reports), its CR2 standard error, interval and test on t with the
    Bell-McCaffrey degrees of freedom (see :func:`~helpers.methods.robust.cr2_variance`).
    """
    rows = _with_outcome(data, outcome, [treatment, cluster])
    method = "OLS with CR2 cluster-robust standard error, Bell-McCaffrey df (as estimatr lm_robust)"
    problem = cluster_problem(rows, treatment, cluster) or (NO_VARIATION if rows[outcome].nunique() < 2 else None)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, len(rows), problem)
    y = rows[outcome].to_numpy(dtype=float)
    x = np.column_stack([np.ones(len(rows)), rows[treatment].to_numpy(dtype=float)])
    beta = np.linalg.solve(x.T @ x, x.T @ y)
    variance, df = cr2_variance(x, y - x @ beta, rows[cluster].to_numpy())
    return t_estimate(outcome, DIFFERENCE, beta[1], np.sqrt(variance[1, 1]), df[1], conf_level, method, len(rows))


def cluster_risk_ratio(rows: pd.DataFrame, outcome: str, *, treatment: str = "assigned", cluster: str = UNIT,
                       conf_level: float = 0.95) -> Estimate:
    """Risk ratio of a cluster-randomised trial with a cluster-robust error of its logarithm.

    ``rows`` are the reports with the outcome recorded. The log risk ratio is the treatment
    coefficient of a Poisson (log-link) regression of y on z; its sandwich variance with clusters,
    sum over each arm's clusters of (Y_g - p m_g)^2 / (n p)^2 for each arm's risk p = sum Y_g / n,
    times G / (G - 1) (Y_g and m_g a cluster's events and reports, G the clusters; R:
    ``sandwich::vcovCL(glm(y ~ z, poisson), cluster = ~ ward, type = "HC0")``), and a t interval
    and test on G - 2 degrees of freedom (Donner & Klar 2000).
    """
    alpha = 1 - conf_level
    method = "log risk ratio, cluster-robust (sandwich) standard error, t on clusters - 2 df"
    n = len(rows)
    problem = cluster_problem(rows, treatment, cluster)
    if problem:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, problem)
    by_cluster = rows.groupby(cluster).agg(events=(outcome, "sum"), reports=(outcome, "size"), arm=(treatment, "first"))
    risks, variances = {}, {}
    for arm in (0, 1):
        part = by_cluster[by_cluster["arm"] == arm]
        reports = float(part["reports"].sum())
        risk = float(part["events"].sum()) / reports
        risks[arm] = risk
        spread = float(np.sum((part["events"] - risk * part["reports"]) ** 2))
        variances[arm] = spread / (reports * risk) ** 2 if risk > 0 else float("nan")
    if risks[0] == 0 or risks[1] == 0:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, "an arm has no events, so the ratio is 0 or "
                                      "unbounded")
    clusters = len(by_cluster)
    se = float(np.sqrt((variances[0] + variances[1]) * clusters / (clusters - 1)))
    if not se > 0:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, "the standard error is zero on these data "
                                      "(every cluster's risk equals its arm's)")
    log_ratio, df = np.log(risks[1] / risks[0]), clusters - 2
    critical = stats.t.ppf(1 - alpha / 2, df)
    return Estimate(outcome, "risk_ratio", float(np.exp(log_ratio)), float(np.exp(log_ratio - critical * se)),
                    float(np.exp(log_ratio + critical * se)), method, n, std_error=se,
                    p_value=float(2 * stats.t.sf(abs(log_ratio) / se, df)), df=float(df))
