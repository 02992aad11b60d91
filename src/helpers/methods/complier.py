"""The effect of receiving the contact: among compliers, the victims who take it when offered.

The allocation instruments the contact received (Angrist, Imbens & Rubin 1996). The family, under
every design:

- :func:`average_causal_effect`: the complier average causal effect on the risk; two-stage least
  squares with HC2 errors (complete, simple), the ratio of block-weighted differences with a
  delta-method error (blocked), 2SLS with a CR2 error (cluster);
- :func:`complier_risks`: the complier risks with and without SRC, from the moments (block-weighted
  under a blocked design);
- :func:`complier_relative_reduction`: 1 - their ratio, with a percentile bootstrap that resamples
  as the design sampled (within arms; within blocks and arms; whole clusters within arms);
- the Anderson-Rubin set and the first stage: :mod:`helpers.methods.anderson_rubin`.

Each credits SRC with an effect, so each is not estimable when the allocation did not change
delivery (:mod:`helpers.methods.identification`), with the reason.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods.arms import (
    NO_DELIVERY_CONTRAST,
    cluster_problem,
    instrument_problem,
    known,
    risk_or_none,
    weighted_difference,
)
from helpers.methods.design import COMPLETE, UNIT, Design
from helpers.methods.differences import NO_VARIATION, blocked_difference_in_means
from helpers.methods.identification import not_an_effect
from helpers.methods.permutation import CHUNK_CELLS
from helpers.methods.robust import cr2_variance, df_of, iv_hc2, t_estimate
from helpers.methods.tidy import Estimate, truncate_interval, within

CACE = "complier_average_causal_effect"
REDUCTION = "complier_relative_risk_reduction"


# --------------------------------------------------------------------------------------------
# The family
# --------------------------------------------------------------------------------------------

def average_causal_effect(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                          identification: dict | None = None) -> Estimate:
    """The complier average causal effect on the risk under ``design``."""
    frame = design.with_units(data)
    if design.blocked:
        row = blocked_complier_effect(known(frame, outcome), outcome, conf_level=conf_level)
    elif design.clustered:
        row = within(cluster_complier_effect(frame, outcome, cluster=UNIT, conf_level=conf_level))
    else:
        row = complier_average_causal_effect(data, outcome, conf_level=conf_level)
    why = not_an_effect(identification)
    if why and row.estimate is not None:  # its own checks passed on the reports with an outcome; not on all
        row = Estimate.not_estimable(outcome, CACE, row.method, row.n, why)
    return row.under(design.assignment, conf_level)


def relative_reduction(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *, conf_level: float = 0.95,
                       draws: int = 10_000, seed: int = 0, identification: dict | None = None) -> Estimate:
    """The complier relative risk reduction with the design's bootstrap interval."""
    return complier_relative_reduction(data, outcome, design, conf_level=conf_level, draws=draws, seed=seed,
                                       identification=identification).under(design.assignment, conf_level)


@dataclass(frozen=True)
class ComplierRisks:
    """The complier risks without and with SRC; None where not estimable, with ``reason``."""

    control: float | None
    treated: float | None
    reason: str | None = None


def complier_risks(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *,
                   identification: dict | None = None) -> ComplierRisks:
    """The complier risks under ``design`` (block-weighted moments under a blocked design, else the arms')."""
    rows = known(design.with_units(data), outcome)
    means = blocked_complier_means(rows, outcome) if design.blocked else complier_means(rows, outcome)
    control, treated = risk_or_none(means["untreated"]), risk_or_none(means["treated"])
    if control is None or treated is None:
        outside = ("the design's moment estimates of the complier risks fall outside [0, 1] or delivery does not "
                   "differ between the arms" if design.blocked else
                   "the moment estimates of the complier risks fall outside [0, 1], as happens in small arms")
        problem = instrument_problem(rows["assigned"].to_numpy(), rows["received"].to_numpy()) or outside
        return ComplierRisks(control, treated, f"not estimable: {problem}")
    why = not_an_effect(identification)
    return ComplierRisks(None, None, f"not estimable: {why}") if why else ComplierRisks(control, treated)


# --------------------------------------------------------------------------------------------
# Complier means
# --------------------------------------------------------------------------------------------

def complier_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                   received: str = "received") -> dict:
    """Mean outcome of compliers with and without SRC (Imbens & Rubin 1997).

    With D the contact received and Z the allocation,
    E[Y(1) | complier] = (E[YD | Z=1] - E[YD | Z=0]) / (E[D | Z=1] - E[D | Z=0]) and
    E[Y(0) | complier] = (E[Y(1-D) | Z=0] - E[Y(1-D) | Z=1]) / (E[D | Z=1] - E[D | Z=0]).
    """
    rows = known(data, outcome)
    y, z, d = (rows[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    return moment_means(y, z, d)


def moment_means(y, z, d) -> dict:
    """The complier means of :func:`complier_means` from the outcome, allocation and delivery arrays."""
    t, c = z == 1, z == 0
    if not t.any() or not c.any():
        return {"compliance": np.nan, "treated": np.nan, "untreated": np.nan}
    compliance = d[t].mean() - d[c].mean()
    if compliance <= 0:
        return {"compliance": float(compliance), "treated": np.nan, "untreated": np.nan}
    treated = ((y * d)[t].mean() - (y * d)[c].mean()) / compliance
    untreated = ((y * (1 - d))[c].mean() - (y * (1 - d))[t].mean()) / compliance
    return {"compliance": float(compliance), "treated": float(treated), "untreated": float(untreated)}


def blocked_complier_means(rows: pd.DataFrame, outcome: str) -> dict:
    """Complier risks with and without SRC from block-weighted moments (as :func:`complier_means`); ``rows``
    are the reports with an outcome, each with its block in :data:`~helpers.methods.design.UNIT`."""
    y, d = rows[outcome].to_numpy(dtype=float), rows["received"].to_numpy(dtype=float)
    compliance = weighted_difference(d, rows)
    if not compliance > 0:
        return {"compliance": compliance, "treated": np.nan, "untreated": np.nan}
    return {"compliance": compliance, "treated": weighted_difference(y * d, rows) / compliance,
            "untreated": -weighted_difference(y * (1 - d), rows) / compliance}


# --------------------------------------------------------------------------------------------
# The complier average causal effect
# --------------------------------------------------------------------------------------------

def complier_average_causal_effect(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                   received: str = "received", conf_level: float = 0.95) -> Estimate:
    """Complier average causal effect on the risk, by two-stage least squares with HC2 errors.

    The effect among victims who take the contact when offered (compliers). The allocation
    instruments the contact received (Angrist, Imbens & Rubin 1996); without covariates the
    estimate is the Wald ratio ITT / (difference in delivery rates). It rests on three
    assumptions: the allocation affects withdrawal only through the contact (exclusion), no
    victim is contacted because they were allocated to business as usual (monotonicity), and one
    victim's allocation does not change another's outcome (no interference). Standard error
    HC2 with a t interval on n - 2 degrees of freedom, as R's ``estimatr::iv_robust`` computes it
    by default; the interval is truncated to [-1, 1], the effect's parameter space.
    """
    alpha = 1 - conf_level
    rows = known(data, outcome)
    y, z, d = (rows[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    n = int(len(rows))
    method = "two-stage least squares, HC2 standard error, t interval (Angrist, Imbens & Rubin 1996; estimatr)"
    problem = instrument_problem(z, d) or (NO_VARIATION if np.unique(y).size < 2 else None)
    if problem:
        return Estimate.not_estimable(outcome, CACE, method, n, problem)
    estimate, se = iv_hc2(y, d, z)
    if not -1 <= estimate <= 1:
        return Estimate.not_estimable(outcome, CACE, method, n,
                                      f"the Wald estimate ({estimate:.2f}) lies outside [-1, 1], so the data contradict "
                                      "the complier model (its exclusion restriction) or the arms are too small")
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, CACE, method, n, "the standard error is zero or undefined on these data")
    critical = stats.t.ppf(1 - alpha / 2, n - 2)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    if high - low <= 1e-9:
        return Estimate.not_estimable(outcome, CACE, method, n,
                                      "the interval collapses onto the edge of the parameter space")
    p_value = float(2 * stats.t.sf(abs(estimate / se), n - 2))
    return Estimate(outcome, CACE, estimate, low, high, method, n, std_error=se, p_value=p_value, reason=reason,
                    df=float(n - 2))


def blocked_complier_effect(rows: pd.DataFrame, outcome: str, *, conf_level: float = 0.95) -> Estimate:
    """Complier average causal effect of a blocked trial: block-weighted ITT on the outcome over that on delivery.

    b = ITT_y / ITT_d, each the blocked difference in means (block-size weights), so the design's
    different SRC shares do not bias it. Its standard error by the delta method: the blocked
    standard error of the difference in means of y - b d, divided by ITT_d (the variance of
    ITT_y - b ITT_d at the estimate); a t interval on the blocked estimator's degrees of freedom,
    cut to [-1, 1]. ``rows`` are the reports with an outcome, with their block in ``UNIT``.
    """
    method = ("ratio of block-weighted differences in means (outcome over contact received), delta-method standard "
              "error from the blocked variance, t interval")
    n = len(rows)
    itt_y = blocked_difference_in_means(rows, outcome, block=UNIT, conf_level=conf_level)
    if itt_y.estimate is None:
        return Estimate.not_estimable(outcome, CACE, method, n, itt_y.reason.removeprefix("not estimable: "))
    d = rows["received"].to_numpy(dtype=float)
    itt_d = weighted_difference(d, rows)
    if not itt_d > 0:
        return Estimate.not_estimable(outcome, CACE, method, n, f"{NO_DELIVERY_CONTRAST} (block-weighted)")
    effect = itt_y.estimate / itt_d
    if not -1 <= effect <= 1:
        return Estimate.not_estimable(outcome, CACE, method, n, f"the estimate ({effect:.2f}) lies outside "
                                      "[-1, 1], so the data contradict the complier model or the blocks are too small")
    y = rows[outcome].to_numpy(dtype=float)
    residual = blocked_difference_in_means(rows.assign(_adjusted=y - effect * d), "_adjusted", block=UNIT,
                                           conf_level=conf_level)
    if residual.std_error is None or not residual.std_error > 0:
        return Estimate.not_estimable(outcome, CACE, method, n, "the standard error is zero or undefined on these data")
    se = residual.std_error / itt_d
    critical = (residual.conf_high - residual.estimate) / residual.std_error
    df = df_of(critical, conf_level)
    return within(Estimate(outcome, CACE, float(effect), effect - critical * se, effect + critical * se, method, n,
                           std_error=float(se), p_value=float(2 * stats.t.sf(abs(effect / se), df)),
                           df=None if np.isinf(df) else df))


def cluster_complier_effect(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            received: str = "received", cluster: str = "ward", conf_level: float = 0.95) -> Estimate:
    """Complier average causal effect in a cluster-randomised trial: 2SLS with a CR2 standard error.

    As estimatr's ``iv_robust(y ~ d | z, clusters = c, se_type = "CR2")``: the first stage
    regresses the contact received d on the allocation z; the second regresses y on the fitted
    d-hat. The CR2 variance and Bell-McCaffrey df use the second-stage design [1, d-hat] with
    residuals from the structural equation, y - b0 - b1 d (Angrist, Imbens & Rubin 1996).
    """
    rows = data.loc[data[outcome].notna(), [outcome, treatment, received, cluster]]
    method = "two-stage least squares, CR2 cluster-robust standard error, Bell-McCaffrey df (as estimatr iv_robust)"
    problem = cluster_problem(rows, treatment, cluster) or (NO_VARIATION if rows[outcome].nunique() < 2 else None)
    z, d = rows[treatment].to_numpy(dtype=float), rows[received].to_numpy(dtype=float)
    if not problem and d[z == 1].mean() - d[z == 0].mean() <= 0:
        problem = NO_DELIVERY_CONTRAST
    if problem:
        return Estimate.not_estimable(outcome, CACE, method, len(rows), problem)
    y, ones = rows[outcome].to_numpy(dtype=float), np.ones(len(rows))
    instruments = np.column_stack([ones, z])
    fitted = instruments @ np.linalg.lstsq(instruments, d, rcond=None)[0]
    x_hat, x = np.column_stack([ones, fitted]), np.column_stack([ones, d])
    beta = np.linalg.solve(x_hat.T @ x_hat, x_hat.T @ y)
    variance, df = cr2_variance(x_hat, y - x @ beta, rows[cluster].to_numpy())
    return t_estimate(outcome, CACE, beta[1], np.sqrt(variance[1, 1]), df[1], conf_level, method, len(rows))


# --------------------------------------------------------------------------------------------
# The complier relative reduction and its bootstrap
# --------------------------------------------------------------------------------------------

REDUCTION_METHODS = {
    "blocked": "1 - complier risk ratio from block-weighted moments; percentile bootstrap within blocks and arms, "
               "draws kept on the parameter space",
    "cluster": "1 - complier risk ratio; percentile bootstrap of whole clusters within arms, draws kept on the "
               "parameter space",
}
REDUCTION_METHOD = "1 - complier risk ratio; percentile bootstrap within arms, draws kept on the parameter space"


def complier_relative_reduction(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *,
                                conf_level: float = 0.95, draws: int = 10_000, seed: int = 0,
                                identification: dict | None = None) -> Estimate:
    """Relative risk reduction among compliers, 1 - E[Y(1)|C] / E[Y(0)|C], with a bootstrap interval that
    resamples as the design sampled.

    complete, simple: reports resampled within each arm (the design's strata); blocked: the complier
    risks from block-weighted moments, each block's arms resampled on their own (a stratified
    bootstrap); cluster: whole clusters resampled within each arm (Field & Welsh 2007), the complier
    risks over reports. Only the counts of the four (received, outcome) cells matter, so each draw is
    a multinomial draw of those counts: vectorised, and free of the trial's size.

    Every draw is kept, on the parameter space: the complier risks of a draw are clipped to
    [0, 1], so the reduction is at most 1; a draw whose complier control risk is 0 has no finite
    reduction and counts as unbounded below. When more than a tail's share of the draws are
    unbounded, the interval has no lower end (None, with the reason); a distribution of one
    value (an empty cell) gives no interval at all rather than a zero-width one.
    """
    rows = known(design.with_units(data), outcome)
    y, z, d = (rows[c].astype(int).to_numpy() for c in (outcome, "assigned", "received"))
    n = int(len(rows))
    method = REDUCTION_METHODS.get(design.assignment, REDUCTION_METHOD)
    problem = None
    if design.blocked:
        point = blocked_complier_means(rows, outcome)
        sizes = pd.crosstab(rows[UNIT], z).reindex(columns=[0, 1], fill_value=0)
        if (sizes < 2).to_numpy().any():
            problem = "a block has fewer than two SRC or business-as-usual reports with an outcome"
    elif design.clustered:
        point = complier_means(rows, outcome)
        clusters = rows.groupby("assigned")[UNIT].nunique()
        if len(clusters) < 2 or clusters.min() < 2:
            problem = "an arm has fewer than two clusters with an outcome recorded"
    else:
        point = moment_means(y, z, d)
    problem = problem or instrument_problem(z, d) or (None if point["compliance"] > 0 else NO_DELIVERY_CONTRAST)
    problem = problem or not_an_effect(identification)
    if problem:
        return Estimate.not_estimable(outcome, REDUCTION, method, n, problem)
    if not (0 < point["untreated"] <= 1) or not (0 <= point["treated"] <= 1):
        return Estimate.not_estimable(outcome, REDUCTION, method, n,
                                      "the complier risks fall outside [0, 1] or the complier risk without SRC is 0")
    rng = np.random.default_rng(seed)
    cells = 2 * d + y  # 0: no contact, no event ... 3: contact and event
    if design.blocked:
        shares = _stratified_shares(cells, z, rows[UNIT].to_numpy(), draws, rng)
    elif design.clustered:
        shares = _cluster_shares(cells, z, rows[UNIT].to_numpy(), draws, rng)
    else:
        shares = _arm_shares(cells, z, draws, rng)
    return reduction_from_draws(_reduction(*shares), point, outcome=outcome, estimand=REDUCTION, method=method, n=n,
                                conf_level=conf_level)


def reduction_from_draws(reduction: np.ndarray, point: dict, *, outcome: str, estimand: str, method: str, n: int,
                         conf_level: float) -> Estimate:
    """The complier relative reduction, 1 - treated / untreated complier risk, with the percentile
    interval of its bootstrap draws (``reduction``; -inf where a draw's untreated risk is 0)."""
    alpha = 1 - conf_level
    with np.errstate(invalid="ignore"):  # -inf draws (unbounded below) are ordered, not averaged
        low, high = np.quantile(reduction, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    estimate = 1 - point["treated"] / point["untreated"]
    if not np.isfinite(high) or high - low <= 1e-12:
        return Estimate.not_estimable(outcome, estimand, method, n, "the bootstrap distribution is degenerate "
                                      "(a cell of delivery by outcome is empty or nearly so)")
    reason = None
    if not np.isfinite(low):
        low, reason = None, ("no lower end: in more than a tail's share of bootstrap draws the complier risk "
                             "without SRC is 0, so the reduction is unbounded below")
    finite = reduction[np.isfinite(reduction)]
    return Estimate(outcome, estimand, float(estimate), low, float(high), method, n,
                    std_error=float(np.std(finite, ddof=1)) if low is not None and len(finite) > 1 else None,
                    reason=reason)


def _arm_shares(cells: np.ndarray, z: np.ndarray, draws: int, rng):
    """Each arm's cell shares in ``draws`` bootstrap samples drawn within the arm (SRC arm first)."""
    shares = {}
    for arm in (0, 1):
        counts = np.bincount(cells[z == arm], minlength=4)
        shares[arm] = rng.multinomial(counts.sum(), counts / counts.sum(), size=draws) / counts.sum()
    return shares[1], shares[0]


def _stratified_shares(cells: np.ndarray, z: np.ndarray, blocks: np.ndarray, draws: int, rng):
    """Each arm's block-weighted cell shares in ``draws`` bootstrap samples drawn within every block and arm."""
    codes, uniques = pd.factorize(blocks)
    sizes = np.bincount(codes, minlength=len(uniques))
    shares = {0: np.zeros((draws, 4)), 1: np.zeros((draws, 4))}
    for block in range(len(uniques)):
        weight = sizes[block] / len(cells)
        for arm in (0, 1):
            counts = np.bincount(cells[(codes == block) & (z == arm)], minlength=4)
            shares[arm] += weight * rng.multinomial(counts.sum(), counts / counts.sum(), size=draws) / counts.sum()
    return shares[1], shares[0]


def _cluster_shares(cells: np.ndarray, z: np.ndarray, clusters: np.ndarray, draws: int, rng):
    """Each arm's cell shares in ``draws`` bootstrap samples of whole clusters, drawn within the arm."""
    shares = {}
    for arm in (0, 1):
        rows = z == arm
        codes, uniques = pd.factorize(clusters[rows])
        counts = np.zeros((len(uniques), 4))
        np.add.at(counts, (codes, cells[rows]), 1)
        chunk, parts = max(1, CHUNK_CELLS // len(uniques)), []
        for start in range(0, draws, chunk):
            picked = rng.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)),
                                     size=min(chunk, draws - start))
            totals = picked @ counts
            parts.append(totals / totals.sum(axis=1, keepdims=True))
        shares[arm] = np.concatenate(parts)
    return shares[1], shares[0]


def _reduction(treated_arm: np.ndarray, control_arm: np.ndarray) -> np.ndarray:
    """Complier relative reduction per draw from each arm's cell shares; -inf where unbounded below (no
    delivery difference in a draw, or no complier risk to reduce)."""
    compliance = (treated_arm[:, 2] + treated_arm[:, 3]) - (control_arm[:, 2] + control_arm[:, 3])
    with np.errstate(divide="ignore", invalid="ignore"):
        treated = np.clip((treated_arm[:, 3] - control_arm[:, 3]) / compliance, 0, 1)
        untreated = np.clip((control_arm[:, 1] - treated_arm[:, 1]) / compliance, 0, 1)
        reduction = 1 - treated / untreated
    return np.where((compliance > 0) & (untreated > 0), reduction, -np.inf)
