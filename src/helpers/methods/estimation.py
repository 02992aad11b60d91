"""Stage 4: intention-to-treat and compliance-adjusted effects of SRC on each outcome.

Every estimator takes the same arguments (``data, outcome, treatment, received, alpha,
seed``) and returns :class:`~helpers.methods.tidy.Estimate` rows. Risk differences are
treatment minus control, so a negative value means fewer events with SRC.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from helpers.methods.tidy import Estimate


@dataclass(frozen=True)
class TwoByTwo:
    """Event counts by arm for one outcome, among reports with an outcome recorded."""

    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int

    @classmethod
    def from_data(cls, data: pd.DataFrame, outcome: str, treatment: str = "assigned") -> "TwoByTwo":
        known = data[data[outcome].notna()]
        y, z = known[outcome].astype(int), known[treatment].astype(int)
        return cls(int(y[z == 1].sum()), int((z == 1).sum()), int(y[z == 0].sum()), int((z == 0).sum()))

    @property
    def treatment_risk(self) -> float:
        return self.treatment_events / self.treatment_n if self.treatment_n else float("nan")

    @property
    def control_risk(self) -> float:
        return self.control_events / self.control_n if self.control_n else float("nan")

    @property
    def empty_arm(self) -> str | None:
        """Why no comparison is possible (an arm with no outcome recorded), or None."""
        empty = [arm for arm, n in (("SRC", self.treatment_n), ("business-as-usual", self.control_n)) if n == 0]
        return f"no {' or '.join(empty)} report has an outcome recorded" if empty else None

    @property
    def n(self) -> int:
        return self.treatment_n + self.control_n

    @property
    def table(self) -> np.ndarray:
        """Rows treatment, control; columns event, no event (the layout of Table2x2)."""
        return np.array([[self.treatment_events, self.treatment_n - self.treatment_events],
                         [self.control_events, self.control_n - self.control_events]])


def arm_risks(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> pd.DataFrame:
    """Risk of the outcome in each arm with a Wilson score interval (Wilson 1927)."""
    counts = TwoByTwo.from_data(data, outcome, treatment)
    rows = []
    for arm, events, n in (("control", counts.control_events, counts.control_n),
                           ("treatment", counts.treatment_events, counts.treatment_n)):
        low, high = proportion_confint(events, n, alpha=alpha, method="wilson") if n else (None, None)
        rows.append({"arm": arm, "events": events, "n": n, "risk": events / n if n else None,
                     "conf_low": low, "conf_high": high})
    return pd.DataFrame(rows)


def risk_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Risk ratio (treatment / control) with the log (Katz et al. 1978) interval."""
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
    return Estimate(outcome, "risk_ratio", table.riskratio, low, high, "log interval (Katz 1978)", counts.n,
                    std_error=table.log_riskratio_se, p_value=table.log_riskratio_pvalue())


def risk_difference(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Risk difference (treatment - control) with Newcombe's hybrid score interval.

    Newcombe (1998), method 10: combines the two arms' Wilson intervals; the p-value and its
    statistic are the score test's (Miettinen & Nurminen 1985). ``std_error`` is the unpooled
    (Wald) standard error of the difference, given for reference: neither the interval nor the
    test uses it.
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    method = "Newcombe hybrid score interval (Newcombe 1998); score test (Miettinen & Nurminen 1985)"
    if c.empty_arm:
        return Estimate.not_estimable(outcome, "risk_difference", method, c.n, c.empty_arm)
    low, high = confint_proportions_2indep(c.treatment_events, c.treatment_n, c.control_events, c.control_n,
                                           method="newcomb", compare="diff", alpha=alpha)
    rd = c.treatment_risk - c.control_risk
    se = np.sqrt(c.treatment_risk * (1 - c.treatment_risk) / c.treatment_n
                 + c.control_risk * (1 - c.control_risk) / c.control_n)
    score, p_value = _score_test(c)
    return Estimate(outcome, "risk_difference", rd, max(-1.0, low), min(1.0, high), method, c.n,
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


def odds_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Odds ratio with the log (Woolf 1955) interval."""
    counts = TwoByTwo.from_data(data, outcome, treatment)
    method = "log interval (Woolf 1955)"
    if counts.empty_arm:
        return Estimate.not_estimable(outcome, "odds_ratio", method, counts.n, counts.empty_arm)
    if (counts.table == 0).any():
        return Estimate.not_estimable(outcome, "odds_ratio", method, counts.n,
                                      "a cell of the two-by-two table is empty, so the ratio is 0 or unbounded")
    table = Table2x2(counts.table)
    low, high = table.oddsratio_confint(alpha=alpha)
    return Estimate(outcome, "odds_ratio", table.oddsratio, low, high, "log interval (Woolf 1955)", counts.n,
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
            "method": "exact randomisation inference (hypergeometric), complete randomisation with the observed "
                      "arm sizes"}


def complier_means(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                   received: str = "received") -> dict:
    """Mean outcome of compliers with and without SRC (Imbens & Rubin 1997).

    With D the contact received and Z the allocation,
    E[Y(1) | complier] = (E[YD | Z=1] - E[YD | Z=0]) / (E[D | Z=1] - E[D | Z=0]) and
    E[Y(0) | complier] = (E[Y(1-D) | Z=0] - E[Y(1-D) | Z=1]) / (E[D | Z=1] - E[D | Z=0]).
    """
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    return _complier_means(y, z, d)


def _complier_means(y, z, d) -> dict:
    t, c = z == 1, z == 0
    if not t.any() or not c.any():
        return {"compliance": np.nan, "treated": np.nan, "untreated": np.nan}
    compliance = d[t].mean() - d[c].mean()
    if compliance <= 0:
        return {"compliance": float(compliance), "treated": np.nan, "untreated": np.nan}
    treated = ((y * d)[t].mean() - (y * d)[c].mean()) / compliance
    untreated = ((y * (1 - d))[c].mean() - (y * (1 - d))[t].mean()) / compliance
    return {"compliance": float(compliance), "treated": float(treated), "untreated": float(untreated)}


EXCLUSION_RESTRICTION = ("the allocation can change withdrawal only through the contact (the exclusion restriction), "
                         "so a difference between the arms is then chance, or an effect of the allocation itself "
                         "(a referral flag, say), not of SRC")


def delivery_contrast(data: pd.DataFrame, *, treatment: str = "assigned", received: str = "received") -> dict:
    """Whether the allocation changed who received the contact: what makes any difference between the arms
    an effect of the contact.

    When the contact reached no more victims in the SRC arm than under business as usual (none at
    all, say), the allocation did not change delivery, and under the exclusion restriction
    (Angrist, Imbens & Rubin 1996) the contact cannot have caused a difference between the arms:
    every figure that credits SRC with one (its probability of benefit, prevented withdrawals, the
    cost per prevented withdrawal, the complier effects) is then not estimable, with ``reason``.
    ``identified`` is None when an arm is empty (every comparison is not estimable then anyway).
    """
    z, d = data[treatment].to_numpy(dtype=int), data[received].to_numpy(dtype=int)
    treated, control = d[z == 1], d[z == 0]
    result = {"identified": None, "reason": None, "delivery": None, "assumption": EXCLUSION_RESTRICTION,
              "allocated": {"treatment": int(len(treated)), "control": int(len(control))},
              "received": {"treatment": int(treated.sum()), "control": int(control.sum())}}
    if not len(treated) or not len(control):
        return result
    if treated.sum() == 0 and control.sum() == 0:
        why = f"no victim received the contact (none of the {len(treated)} allocated to SRC)"
    elif treated.mean() <= control.mean():
        why = (f"the contact was delivered no more often in the SRC arm ({treated.sum()} of {len(treated)}) than "
               f"under business as usual ({control.sum()} of {len(control)})")
    else:
        return {**result, "identified": True}
    return {**result, "identified": False, "delivery": why, "reason": f"{why}; {EXCLUSION_RESTRICTION}"}


def _instrument_problem(z: np.ndarray, d: np.ndarray) -> str | None:
    """Why the allocation cannot instrument the contact on these data, or None."""
    if min((z == 1).sum(), (z == 0).sum()) < 2:
        return "an arm has fewer than two reports with an outcome recorded, too few for a variance"
    if d[z == 1].mean() - d[z == 0].mean() <= 0:
        return "the contact was no more often delivered in the SRC arm than in the business-as-usual arm"
    return None


def complier_average_causal_effect(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                   received: str = "received", alpha: float = 0.05) -> Estimate:
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
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    n = int(len(known))
    method = "two-stage least squares, HC2 standard error, t interval (Angrist, Imbens & Rubin 1996; estimatr)"
    problem = _instrument_problem(z, d)
    if problem:
        return Estimate.not_estimable(outcome, "complier_average_causal_effect", method, n, problem)
    if np.unique(y).size < 2:
        return Estimate.not_estimable(outcome, "complier_average_causal_effect", method, n,
                                      "every report has the same outcome, so no effect can be told apart from none")
    estimate, se = _iv_hc2(y, d, z)
    if not -1 <= estimate <= 1:
        return Estimate.not_estimable(outcome, "complier_average_causal_effect", method, n,
                                      f"the Wald estimate ({estimate:.2f}) lies outside [-1, 1], so the data contradict "
                                      "the complier model (its exclusion restriction) or the arms are too small")
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, "complier_average_causal_effect", method, n,
                                      "the standard error is zero or undefined on these data")
    critical = stats.t.ppf(1 - alpha / 2, n - 2)
    low, high, reason = truncate_interval(estimate - critical * se, estimate + critical * se, -1.0, 1.0)
    if high - low <= 1e-9:
        return Estimate.not_estimable(outcome, "complier_average_causal_effect", method, n,
                                      "the interval collapses onto the edge of the parameter space")
    p_value = float(2 * stats.t.sf(abs(estimate / se), n - 2))
    return Estimate(outcome, "complier_average_causal_effect", estimate, low, high, method, n, std_error=se,
                    p_value=p_value, reason=reason, df=float(n - 2))


def _iv_hc2(y: np.ndarray, d: np.ndarray, z: np.ndarray) -> tuple[float, float]:
    """Just-identified 2SLS of y on d instrumented by z, with the HC2 standard error of the slope.

    V = (X'X)^-1 X' diag(e_i^2 / (1 - h_ii)) X (X'X)^-1 with X the first-stage fitted
    regressors, e the structural residuals y - [1 d] b and h the leverages of X (MacKinnon &
    White 1985; the form estimatr uses for iv_robust).
    """
    X, Z = np.column_stack([np.ones_like(d), d]), np.column_stack([np.ones_like(z), z])
    fitted = Z @ np.linalg.solve(Z.T @ Z, Z.T @ X)
    bread = np.linalg.inv(fitted.T @ fitted)
    beta = bread @ fitted.T @ y
    residual = y - X @ beta
    leverage = np.einsum("ij,jk,ik->i", fitted, bread, fitted)
    meat = (fitted * (residual ** 2 / (1 - leverage))[:, None]).T @ fitted
    return float(beta[1]), float(np.sqrt((bread @ meat @ bread)[1, 1]))


def truncate_interval(low: float, high: float, lower: float, upper: float) -> tuple[float, float, str | None]:
    """An interval cut to its parameter space [lower, upper], with a note when it was cut."""
    cut_low, cut_high = max(low, lower), min(high, upper)
    if (cut_low, cut_high) == (low, high):
        return low, high, None
    return cut_low, cut_high, f"interval truncated to the parameter space [{lower:g}, {upper:g}]"


def complier_relative_reduction(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                received: str = "received", alpha: float = 0.05, draws: int = 10_000,
                                seed: int = 0) -> Estimate:
    """Relative risk reduction among compliers, 1 - E[Y(1)|C] / E[Y(0)|C], with a bootstrap interval.

    Percentile interval from resampling reports within each arm (the design's strata). Only the
    counts of the four (received, outcome) cells in each arm matter, so each draw is a
    multinomial draw of those counts: vectorised and free of the trial's size.

    Every draw is kept, on the parameter space: the complier risks of a draw are clipped to
    [0, 1], so the reduction is at most 1; a draw whose complier control risk is 0 has no finite
    reduction and counts as unbounded below. When more than ``alpha / 2`` of the draws are
    unbounded, the interval has no lower end (None, with the reason); a distribution of one
    value (an empty cell) gives no interval at all rather than a zero-width one.
    """
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(int).to_numpy() for c in (outcome, treatment, received))
    n = int(len(known))
    method = "1 - complier risk ratio; percentile bootstrap within arms, draws kept on the parameter space"
    estimand = "complier_relative_risk_reduction"
    problem = _instrument_problem(z, d)
    if problem:
        return Estimate.not_estimable(outcome, estimand, method, n, problem)
    point = _complier_means(y, z, d)
    if not (0 < point["untreated"] <= 1) or not (0 <= point["treated"] <= 1):
        return Estimate.not_estimable(outcome, estimand, method, n,
                                      "the complier risks fall outside [0, 1] or the complier risk without SRC is 0")
    reduction = _bootstrap_complier_reduction(y, z, d, draws=draws, seed=seed)
    return reduction_from_draws(reduction, point, outcome=outcome, estimand=estimand, method=method, n=n,
                                alpha=alpha)


def reduction_from_draws(reduction: np.ndarray, point: dict, *, outcome: str, estimand: str, method: str, n: int,
                         alpha: float) -> Estimate:
    """The complier relative reduction, 1 - treated / untreated complier risk, with the percentile
    interval of its bootstrap draws (``reduction``; -inf where a draw's untreated risk is 0)."""
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


def _bootstrap_complier_reduction(y, z, d, *, draws: int, seed: int) -> np.ndarray:
    """Bootstrap draws of the complier relative reduction; -inf where it is unbounded below."""
    rng = np.random.default_rng(seed)
    shares = {}
    for arm in (0, 1):
        cell = 2 * d[z == arm] + y[z == arm]  # 0: no contact, no event ... 3: contact and event
        counts = np.bincount(cell, minlength=4)
        shares[arm] = rng.multinomial(counts.sum(), counts / counts.sum(), size=draws) / counts.sum()
    # cell shares -> E[YD], E[D], E[Y(1-D)] per arm, for every draw at once
    compliance = (shares[1][:, 2] + shares[1][:, 3]) - (shares[0][:, 2] + shares[0][:, 3])
    with np.errstate(divide="ignore", invalid="ignore"):
        treated = np.clip((shares[1][:, 3] - shares[0][:, 3]) / compliance, 0, 1)
        untreated = np.clip((shares[0][:, 1] - shares[1][:, 1]) / compliance, 0, 1)
        reduction = 1 - treated / untreated
    # No delivery difference in a draw, or no complier risk to reduce: unbounded below.
    return np.where((compliance > 0) & (untreated > 0), reduction, -np.inf)


def power_analysis(control_risk: float, n_treatment: int, n_control: int, *, alpha: float = 0.05,
                   target_power: float = 0.80, target_relative_reduction: float = 0.20,
                   direction: str = "decrease") -> dict:
    """The design questions: the smallest effect this trial could detect, and the size a trial needs.

    By Cohen's arcsine effect size h = 2 asin sqrt(p1) - 2 asin sqrt(p0), whose variance is
    1/n1 + 1/n0 (Cohen 1988, unequal arms). Returns the smallest change in risk detectable with
    ``target_power`` at the trial's own arm sizes, two-sided at ``alpha``, in the outcome's
    stated ``direction`` (a fall below ``control_risk``, negative, for "decrease"; a rise above
    it, positive, for "increase"), and the reports per arm (equal arms) needed to detect the
    plan's ``target_relative_reduction`` of ``control_risk`` (a relative increase of the same size
    for an outcome whose ``direction`` is "increase"). Observed ("post hoc") power is
    not given: it is a function of the p-value and adds nothing to it (Hoenig & Heisey 2001).
    """
    method = "normal approximation, Cohen's h, two-sided"
    none = {"minimum_detectable_difference": None, "n_per_arm_for_target_power": None, "method": method,
            "target_power": target_power, "target_relative_reduction": target_relative_reduction}
    if min(n_treatment, n_control) < 2 or not np.isfinite(control_risk) or not 0 < control_risk < 1:
        return {**none, "reason": "not estimable: an arm has fewer than two reports, or the control risk is 0 or 1"}
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(target_power)
    h = z * np.sqrt(1 / n_treatment + 1 / n_control)
    # the angle 2 asin sqrt(p) runs from 0 (p = 0) to pi (p = 1): a change beyond either end is the whole way
    angle = 2 * np.arcsin(np.sqrt(control_risk)) + (h if direction == "increase" else -h)
    detectable = np.sin(np.clip(angle, 0, np.pi) / 2) ** 2 - control_risk
    change = -target_relative_reduction if direction == "decrease" else target_relative_reduction
    target = min(1.0, control_risk * (1 + change))
    target_h = abs(2 * np.arcsin(np.sqrt(target)) - 2 * np.arcsin(np.sqrt(control_risk)))
    needed = int(np.ceil(2 * (z / target_h) ** 2)) if target_h > 0 else None
    return {**none, "minimum_detectable_difference": float(detectable), "n_per_arm_for_target_power": needed,
            "effect_size_h": float(h)}


def posterior_reduction(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                        prior: tuple[float, float] = (1.0, 1.0), relative_threshold: float = 0.10) -> dict:
    """Posterior probabilities that SRC reduces the risk, by numerical integration.

    With independent Beta(a, b) priors on each arm's risk, the posteriors are Beta(a + events,
    b + non-events), and P(p_SRC < c p_BAU) = integral of f_BAU(x) F_SRC(c x) dx over [0, 1]
    (adaptive quadrature; no draws, so no Monte Carlo error).
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    a, b = (float(v) for v in prior)
    base = {"relative_threshold": relative_threshold, "prior": f"Beta({a:g}, {b:g}) in each arm",
            "method": "Beta-binomial posteriors, numerical integration"}
    if c.empty_arm:
        return {**base, "probability_of_reduction": None, "probability_of_relative_reduction_at_least": None,
                "reason": f"not estimable: {c.empty_arm}"}
    src = stats.beta(a + c.treatment_events, b + c.treatment_n - c.treatment_events)
    bau = stats.beta(a + c.control_events, b + c.control_n - c.control_events)
    below = lambda factor: float(np.clip(integrate.quad(lambda x: bau.pdf(x) * src.cdf(factor * x), 0, 1,
                                                        epsabs=1e-11, epsrel=1e-10, limit=200)[0], 0, 1))
    return {**base, "probability_of_reduction": below(1.0),
            "probability_of_relative_reduction_at_least": below(1 - relative_threshold)}


def _risk_or_none(value: float) -> float | None:
    return float(value) if np.isfinite(value) and 0 <= value <= 1 else None


def outcome_summary(data: pd.DataFrame, outcome: str, *, codes: list[str], alpha: float = 0.05,
                    draws: int = 10_000, seed: int = 0, target_power: float = 0.80, direction: str = "decrease",
                    plan: dict | None = None) -> tuple[dict, list[Estimate]]:
    """Every estimate for one outcome: the results.json entry and the tidy rows behind it.

    ``direction`` is the outcome's pre-stated direction ("decrease" or "increase"): one-sided
    tests look that way. ``plan`` is the analysis plan (its Bayesian priors and the target
    effect for the sample size). ``notes`` maps each figure left as None to the reason.
    """
    plan = plan or {}
    bayes = plan.get("bayesian", {"prior": [1, 1], "sceptical_prior": [25, 25], "relative_threshold": 0.10})
    counts = TwoByTwo.from_data(data, outcome)
    rr = risk_ratio(data, outcome, alpha=alpha)
    rd = risk_difference(data, outcome, alpha=alpha)
    cace = complier_average_causal_effect(data, outcome, alpha=alpha)
    weak_instrument = anderson_rubin_interval(data, outcome, alpha=alpha)
    complier_rrr = complier_relative_reduction(data, outcome, alpha=alpha, draws=draws, seed=seed)
    randomisation = randomisation_p(data, outcome, direction=direction)
    means = complier_means(data, outcome)
    power = power_analysis(counts.control_risk, counts.treatment_n, counts.control_n, alpha=alpha,
                           target_power=target_power,
                           target_relative_reduction=plan.get("target_relative_reduction", 0.20), direction=direction)
    odds = odds_ratio(data, outcome, alpha=alpha)
    complier_control, complier_treated = _risk_or_none(means["untreated"]), _risk_or_none(means["treated"])
    entry = {
        "codes": [str(c) for c in codes],
        "control": {"events": counts.control_events, "n": counts.control_n, "risk": _risk_or_none(counts.control_risk)},
        "treatment": {"events": counts.treatment_events, "n": counts.treatment_n,
                      "risk": _risk_or_none(counts.treatment_risk)},
        "itt": {
            "risk_ratio": rr.estimate, "risk_ratio_ci": rr.interval,
            "relative_risk_reduction": None if rr.estimate is None else 1 - rr.estimate,
            "relative_risk_reduction_ci": [None if v is None else 1 - v for v in reversed(rr.interval)],
            "risk_difference": rd.estimate, "risk_difference_ci": rd.interval,
            "odds_ratio": odds.as_dict(),
            "p_value_exact": fisher_exact_p(data, outcome),
            "p_value_exact_one_sided": fisher_exact_p(data, outcome,
                                                      alternative="less" if direction == "decrease" else "greater"),
            "one_sided_direction": direction,
            "one_sided_threshold": alpha / 2,
            "p_value_randomisation": randomisation["two_sided"],
            "p_value_randomisation_one_sided": randomisation["one_sided"],
            "randomisation_method": randomisation["method"],
            "bayesian": posterior_reduction(data, outcome, prior=tuple(bayes["prior"]),
                                            relative_threshold=bayes["relative_threshold"]),
            "bayesian_sceptical": posterior_reduction(data, outcome, prior=tuple(bayes["sceptical_prior"]),
                                                      relative_threshold=bayes["relative_threshold"]),
            "open_investigation_bounds": open_investigation_bounds(data, outcome),
        },
        "cace": {
            "risk_difference": cace.estimate, "risk_difference_ci": cace.interval,
            "complier_control_risk": complier_control,
            "complier_treated_risk": complier_treated,
            "relative_risk_reduction": complier_rrr.estimate,
            "relative_risk_reduction_ci": complier_rrr.interval,
            "method": cace.method,
            "first_stage_f": weak_instrument["first_stage_f"],
            "weak_instrument": weak_instrument["weak_instrument"],
            "anderson_rubin": weak_instrument,
        },
        "power": {key: value for key, value in power.items() if key != "reason"},
    }
    reasons = {"itt.risk_ratio": rr.reason, "itt.risk_difference": rd.reason, "itt.odds_ratio": odds.reason,
               "cace.risk_difference": cace.reason, "cace.relative_risk_reduction": complier_rrr.reason,
               "cace.first_stage_f": weak_instrument.get("reason"), "power": power.get("reason"),
               "itt.p_value_randomisation": None if randomisation["two_sided"] is not None else randomisation["method"]}
    if complier_control is None or complier_treated is None:
        reasons["cace.complier_risks"] = ("not estimable: " + (_instrument_problem(
            data.loc[data[outcome].notna(), "assigned"].to_numpy(), data.loc[data[outcome].notna(), "received"].to_numpy())
            or "the moment estimates of the complier risks fall outside [0, 1], as happens in small arms"))
    entry["notes"] = {k: v for k, v in reasons.items() if v}
    return entry, [rr, rd, cace, complier_rrr]


def anderson_rubin_set(itt_y: float, itt_d: float, v_yy: float, v_yd: float, v_dd: float,
                       critical: float) -> tuple[str, list]:
    """The complier effects b not rejected by the Anderson-Rubin test, and the set's shape.

    b is kept when (itt_y - b itt_d)^2 <= critical var(itt_y - b itt_d), a quadratic inequality:
    (itt_d^2 - q v_dd) b^2 - 2 (itt_y itt_d - q v_yd) b + (itt_y^2 - q v_yy) <= 0. Its solution
    is an interval, two rays, or every value (Anderson & Rubin 1949).
    """
    a = itt_d ** 2 - critical * v_dd
    b = -2 * (itt_y * itt_d - critical * v_yd)
    c = itt_y ** 2 - critical * v_yy
    discriminant = b * b - 4 * a * c
    if (a > 0 and discriminant >= 0) or (a < 0 and discriminant > 0):
        roots = sorted(((-b - np.sqrt(discriminant)) / (2 * a), (-b + np.sqrt(discriminant)) / (2 * a)))
        shape = "interval" if a > 0 else "two rays: below the first and above the second value"
        return shape, [float(roots[0]), float(roots[1])]
    return "every value: the data cannot bound the effect", [None, None]


def anderson_rubin_interval(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                            received: str = "received", alpha: float = 0.05) -> dict:
    """Confidence set for the complier effect that stays valid when the instrument is weak.

    Anderson & Rubin (1949), with a binary instrument: the effect b is kept when the
    intention-to-treat effect on Y - b D is not significant, i.e. when
    (itt_y - b itt_d)^2 <= z^2 (v_yy - 2 b v_yd + b^2 v_dd), with v the robust variances and
    covariance of the two difference-in-means. Solving the quadratic in b gives an interval, the
    outside of one (two rays), or every value: the last two say the data cannot bound the effect.
    Reported with the first-stage F statistic (weak below 10; Staiger & Stock 1997).
    """
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(float).to_numpy() for c in (outcome, treatment, received))
    t, c = z == 1, z == 0
    method = "Anderson-Rubin confidence set, robust variances (Anderson & Rubin 1949)"
    if min(t.sum(), c.sum()) < 2:
        return {"interval": [None, None], "shape": "not estimable", "first_stage_f": None, "weak_instrument": None,
                "method": method, "reason": "not estimable: an arm has fewer than two reports with an outcome"}
    itt_y, itt_d = y[t].mean() - y[c].mean(), d[t].mean() - d[c].mean()

    def covariance(a, b):
        return sum(np.cov(a[arm], b[arm], ddof=1)[0, 1] / arm.sum() for arm in (t, c))

    v_yy, v_dd, v_yd = covariance(y, y), covariance(d, d), covariance(y, d)
    critical = stats.norm.ppf(1 - alpha / 2) ** 2
    first_stage_f, weak, reason = _first_stage(itt_d, v_dd)
    if itt_d <= 0:  # the allocation does not raise delivery: no complier effect to bound
        return {"interval": [None, None], "shape": "not estimable", "first_stage_f": first_stage_f,
                "weak_instrument": True, "method": method,
                "reason": "not estimable: the contact was no more often delivered in the SRC arm than in the "
                          "business-as-usual arm"}
    shape, interval = anderson_rubin_set(itt_y, itt_d, v_yy, v_yd, v_dd, critical)
    if interval[0] is not None:  # the effect on a risk lies in [-1, 1]
        clipped = [max(-1.0, interval[0]), min(1.0, interval[1])]
        if clipped != interval and shape == "interval":
            shape = "interval, truncated to the parameter space [-1, 1]"
        interval = clipped
    result = {"interval": interval, "shape": shape, "first_stage_f": first_stage_f, "weak_instrument": weak,
              "method": method}
    return {**result, "reason": reason} if reason else result


WEAK_INSTRUMENT_F = 10  # Staiger & Stock (1997): a first-stage F below this marks a weak instrument


def _first_stage(itt_d: float, v_dd: float) -> tuple[float | None, bool | None, str | None]:
    """First-stage F (weak below :data:`WEAK_INSTRUMENT_F`), or None with the reason it is undefined.

    When delivery does not vary within either arm its variance is zero: with no difference
    between the arms the allocation says nothing about delivery (no instrument at all); with a
    difference, allocation fixes delivery exactly (a perfect instrument, F unbounded).
    """
    if v_dd > 0:
        f = itt_d ** 2 / v_dd
        return float(f), bool(f < WEAK_INSTRUMENT_F), None
    if itt_d > 0:
        return None, False, ("not estimable: delivery does not vary within either arm, so the allocation "
                             "determines it exactly (the instrument is as strong as it can be)")
    return None, True, "not estimable: delivery does not differ between the arms, so there is no instrument"


def open_investigation_bounds(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned") -> dict | None:
    """The effect if open investigations all end, or none end, in the outcome.

    Open cases are left out of the main analysis; these scenarios show how far they could move
    it. The last two (every open SRC case and no open BAU case, and the reverse) are the
    worst-case bounds (Manski 1990). None when no investigation is open.
    """
    open_case = data[outcome].isna()
    if not open_case.any() or data[treatment].nunique() < 2:
        return None
    z = data[treatment] == 1
    scenarios = {"all_open_cases": (1, 1), "no_open_cases": (0, 0), "src_open_cases_only": (1, 0),
                 "bau_open_cases_only": (0, 1)}
    bounds = {"open_treatment": int((open_case & z).sum()), "open_control": int((open_case & ~z).sum())}
    for name, (in_src, in_bau) in scenarios.items():
        filled = data[outcome].astype("Float64").fillna(0.0).to_numpy(dtype=float)
        filled = np.where(open_case & z, in_src, np.where(open_case & ~z, in_bau, filled))
        counts = TwoByTwo.from_data(data.assign(_filled=filled), "_filled", treatment)
        ratio = counts.treatment_risk / counts.control_risk if counts.control_risk else None
        bounds[name] = {"risk_difference": counts.treatment_risk - counts.control_risk, "risk_ratio": ratio}
    return bounds
