"""Randomisation inference: the p-value of the difference between the arms under the sharp null of no
effect on any report, re-randomising as the declared design drew.

complete
    Exact: a hypergeometric number of the observed events falls in the SRC arm (no draws).
simple
    Every report's allocation re-drawn by its coin (Bernoulli), draws leaving an arm empty discarded.
blocked
    Every block re-randomised completely with its own number of SRC reports; the statistic is the
    block-weighted difference in means.
cluster
    Whole clusters re-randomised with the observed number of SRC clusters, every report following
    its cluster.

The family function :func:`randomisation_test` gives the two-sided p-value and the one-sided one in
the outcome's pre-stated direction; each design's own function returns the tidy row of the observed
difference with its p-value. Same ``seed``, same p-values: every function draws from its own
generator seeded with it.

References
----------
Fisher, R. A. (1935). The Design of Experiments. Edinburgh: Oliver and Boyd.
Phipson, B. & Smyth, G. K. (2010). Permutation p-values should never be zero. Statistical
    Applications in Genetics and Molecular Biology 9(1), 39.
Rosenbaum, P. R. (2002). Observational Studies, 2nd edition. New York: Springer. (Chapter 2.)
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.arms import TwoByTwo, cluster_problem
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.permutation import CHUNK_CELLS
from helpers.methods.tidy import Estimate, PValues

DIFFERENCE = "difference_in_means"
TIE_TOLERANCE = 1e-12  # a permuted statistic this close to the observed one counts as at least as extreme
RI_REASON = "randomisation inference tests the sharp null of no effect on any report: a p-value, no interval"
ALTERNATIVES = ("two-sided", "less", "greater")


def randomisation_test(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, direction: str = "decrease",
                       draws: int = 10_000, seed: int = 0) -> PValues:
    """The randomisation p-values of the difference between the arms under ``design``: two-sided, and
    one-sided in the outcome's pre-stated ``direction`` ("decrease" counts differences at least as negative)."""
    if design.assignment == "complete":
        exact = randomisation_p(data, outcome, direction=direction)
        if exact["two_sided"] is None:
            return PValues(None, None, EXACT_METHOD, exact["method"])
        return PValues(exact["two_sided"], exact["one_sided"], exact["method"])
    one_sided = "less" if direction == "decrease" else "greater"
    if design.assignment == "simple":
        test = lambda side: bernoulli_randomisation_p(data, outcome, probability=design.probability, draws=draws,
                                                      seed=seed, alternative=side)
    elif design.blocked:
        test = lambda side: blocked_randomisation_p(design.with_units(data), outcome, block=UNIT, draws=draws,
                                                    seed=seed, alternative=side)
    else:
        test = lambda side: cluster_randomisation_p(design.with_units(data), outcome, cluster=UNIT, draws=draws,
                                                    seed=seed, alternative=side)
    two, one = test("two-sided"), test(one_sided)
    if two.p_value is None:
        return PValues(None, None, two.method, two.reason)
    return PValues(two.p_value, one.p_value, two.method)


EXACT_METHOD = "exact randomisation inference (hypergeometric), complete randomisation with the observed arm sizes"


def randomisation_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                    direction: str = "decrease") -> dict:
    """Exact randomisation-inference p-values for the risk difference, under complete randomisation.

    Re-randomising the reports with the observed arm sizes, under the sharp null of no effect
    on any report, puts a hypergeometric number of the observed events in the SRC arm, so the
    randomisation distribution of the risk difference is known exactly: its p-value is a finite
    sum over at most min(events, n) + 1 tables, with no draws (Fisher 1935; Rosenbaum 2002, ch. 2).
    The one-sided p equals Fisher's exact one-sided p; the two-sided p (|difference| at least
    as large as observed) equals Fisher's two-sided p whenever the arms are of equal size.

    Returns
    -------
    dict
        ``two_sided``, ``one_sided`` (in the outcome's pre-stated ``direction``: "decrease"
        counts differences at least as negative), ``method``.
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    if c.empty_arm:
        return {"two_sided": None, "one_sided": None, "method": f"not estimable: {c.empty_arm}"}
    events = c.treatment_events + c.control_events
    support = np.arange(max(0, events - c.control_n), min(events, c.treatment_n) + 1)
    probability = stats.hypergeom.pmf(support, c.n, events, c.treatment_n)
    difference = support / c.treatment_n - (events - support) / c.control_n
    observed = c.treatment_risk - c.control_risk
    tolerance = 1e-12  # ties count as at least as extreme
    two_sided = probability[np.abs(difference) >= abs(observed) - tolerance].sum()
    tail = difference <= observed + tolerance if direction == "decrease" else difference >= observed - tolerance
    return {"two_sided": float(min(1.0, two_sided)), "one_sided": float(min(1.0, probability[tail].sum())),
            "method": EXACT_METHOD}


# --------------------------------------------------------------------------------------------
# Re-randomising as the design drew
# --------------------------------------------------------------------------------------------

def _with_outcome(data: pd.DataFrame, outcome: str, columns: list[str]) -> pd.DataFrame:
    return data.loc[data[outcome].notna(), [outcome, *columns]]


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
    rows = _with_outcome(data, outcome, [treatment])
    y, z = rows[outcome].to_numpy(dtype=float), rows[treatment].to_numpy(dtype=int)
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
        permuted = np.concatenate([_bernoulli_chunk(y, probability, size, rng) for size in _chunks(draws, len(y))])
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
    (:func:`~helpers.methods.differences.blocked_difference_in_means`). Within a block only the sum
    of the outcome over its SRC reports varies; for a 0/1 outcome that sum is hypergeometric and
    drawn directly.
    """
    rows = _with_outcome(data, outcome, [treatment, block])
    method = "randomisation inference, complete randomisation within blocks"
    n = len(rows)
    if rows[block].isna().any():
        return Estimate.not_estimable(outcome, DIFFERENCE, method, n, "a report has no block recorded")
    rng = np.random.default_rng(seed)
    observed, permuted = 0.0, np.zeros(draws)
    for _, part in rows.groupby(block):
        y, z = part[outcome].to_numpy(dtype=float), part[treatment].to_numpy(dtype=int)
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
    reports (the coefficient of :func:`~helpers.methods.differences.cluster_difference_in_means`).
    Only the clusters' sizes and outcome totals matter, so a draw costs one pass over the clusters,
    not the reports.
    """
    rows = _with_outcome(data, outcome, [treatment, cluster])
    method = "randomisation inference, complete randomisation of whole clusters"
    problem = cluster_problem(rows, treatment, cluster)
    if problem:
        return Estimate.not_estimable(outcome, DIFFERENCE, method, len(rows), problem)
    by_cluster = rows.groupby(cluster).agg(total=(outcome, "sum"), size=(outcome, "size"), arm=(treatment, "first"))
    totals, sizes = by_cluster["total"].to_numpy(dtype=float), by_cluster["size"].to_numpy(dtype=float)
    treated = int(by_cluster["arm"].sum())
    rng = np.random.default_rng(seed)
    parts = []
    for size in _chunks(draws, len(totals)):
        chosen = (np.argsort(rng.random((size, len(totals))), axis=1) < treated).astype(float)
        # argsort of uniforms is a uniform permutation; its first `treated` positions are SRC clusters
        sum_t, size_t = chosen @ totals, chosen @ sizes
        parts.append(sum_t / size_t - (totals.sum() - sum_t) / (sizes.sum() - size_t))
    y, z = rows[outcome].to_numpy(dtype=float), rows[treatment].to_numpy(dtype=int)
    observed = y[z == 1].mean() - y[z == 0].mean()
    return _ri_estimate(outcome, observed, np.concatenate(parts), method, len(rows), draws, seed, alternative)
