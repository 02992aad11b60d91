"""Stage 4: intention-to-treat and compliance-adjusted effects of SRC on each outcome.

Every estimator takes the same arguments (``data, outcome, treatment, received, alpha,
seed``) and returns :class:`~helpers.estimates.Estimate` rows. Risk differences are
treatment minus control, so a negative value means fewer events with SRC.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from linearmodels.iv import IV2SLS
from scipy import stats
from statsmodels.stats.contingency_tables import Table2x2
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportion_effectsize,
    test_proportions_2indep,
)

from .estimates import Estimate


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
        return self.treatment_events / self.treatment_n

    @property
    def control_risk(self) -> float:
        return self.control_events / self.control_n

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
        low, high = proportion_confint(events, n, alpha=alpha, method="wilson")
        rows.append({"arm": arm, "events": events, "n": n, "risk": events / n, "conf_low": low, "conf_high": high})
    return pd.DataFrame(rows)


def risk_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Risk ratio (treatment / control) with the log (Katz et al. 1978) interval."""
    counts = TwoByTwo.from_data(data, outcome, treatment)
    table = Table2x2(counts.table)
    if 0 in (counts.treatment_events, counts.control_events):
        return Estimate(outcome, "risk_ratio", None, None, None, "log (Katz); not estimable with a zero count", counts.n)
    low, high = table.riskratio_confint(alpha=alpha)
    return Estimate(outcome, "risk_ratio", table.riskratio, low, high, "log interval (Katz 1978)", counts.n,
                    std_error=table.log_riskratio_se, p_value=table.log_riskratio_pvalue())


def risk_difference(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Risk difference (treatment - control) with Newcombe's hybrid score interval.

    Newcombe (1998), method 10: combines the two arms' Wilson intervals; the p-value is the
    score test's (Miettinen & Nurminen 1985).
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    low, high = confint_proportions_2indep(c.treatment_events, c.treatment_n, c.control_events, c.control_n,
                                           method="newcomb", compare="diff", alpha=alpha)
    test = test_proportions_2indep(c.treatment_events, c.treatment_n, c.control_events, c.control_n,
                                   method="score", compare="diff")
    rd = c.treatment_risk - c.control_risk
    se = np.sqrt(c.treatment_risk * (1 - c.treatment_risk) / c.treatment_n
                 + c.control_risk * (1 - c.control_risk) / c.control_n)
    return Estimate(outcome, "risk_difference", rd, low, high, "Newcombe hybrid score interval (Newcombe 1998)",
                    c.n, std_error=se, p_value=test.pvalue)


def odds_ratio(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", alpha: float = 0.05) -> Estimate:
    """Odds ratio with the log (Woolf 1955) interval."""
    counts = TwoByTwo.from_data(data, outcome, treatment)
    if (counts.table == 0).any():
        return Estimate(outcome, "odds_ratio", None, None, None, "log (Woolf); not estimable with a zero cell", counts.n)
    table = Table2x2(counts.table)
    low, high = table.oddsratio_confint(alpha=alpha)
    return Estimate(outcome, "odds_ratio", table.oddsratio, low, high, "log interval (Woolf 1955)", counts.n,
                    std_error=table.log_oddsratio_se, p_value=table.log_oddsratio_pvalue())


def fisher_exact_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                   alternative: str = "two-sided") -> float:
    """Fisher's exact test of no difference between arms.

    ``alternative="less"`` tests the pre-registered direction (fewer events with SRC).
    """
    counts = TwoByTwo.from_data(data, outcome, treatment)
    return float(stats.fisher_exact(counts.table, alternative=alternative).pvalue)


def randomisation_p(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", draws: int = 10_000,
                    seed: int = 0) -> dict:
    """Randomisation-inference p-values for the risk difference, under complete randomisation.

    Re-randomising the reports with the observed arm sizes, under the sharp null of no effect
    on any report, puts a hypergeometric number of the observed events in the treatment arm;
    drawing that number is the same as permuting the allocation and costs nothing per report
    (one vectorised draw, whatever the trial's size). The p-value counts the observed
    allocation among the draws (Phipson & Smyth 2010), so it is never zero.

    Returns
    -------
    dict
        ``two_sided`` (|difference| at least as large as observed), ``one_sided`` (at
        least as negative: the pre-registered direction), ``draws``, ``method``.
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    total_events = c.treatment_events + c.control_events
    rng = np.random.default_rng(seed)
    treated_events = rng.hypergeometric(total_events, c.n - total_events, c.treatment_n, size=draws)
    permuted = treated_events / c.treatment_n - (total_events - treated_events) / c.control_n
    observed = c.treatment_risk - c.control_risk
    tolerance = 1e-12  # ties count as at least as extreme
    two_sided = (1 + np.sum(np.abs(permuted) >= abs(observed) - tolerance)) / (draws + 1)
    one_sided = (1 + np.sum(permuted <= observed + tolerance)) / (draws + 1)
    return {"two_sided": float(two_sided), "one_sided": float(one_sided), "draws": int(draws),
            "method": "randomisation inference, complete randomisation with the observed arm sizes"}


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
    compliance = d[t].mean() - d[c].mean()
    if compliance <= 0:
        return {"compliance": float(compliance), "treated": np.nan, "untreated": np.nan}
    treated = ((y * d)[t].mean() - (y * d)[c].mean()) / compliance
    untreated = ((y * (1 - d))[c].mean() - (y * (1 - d))[t].mean()) / compliance
    return {"compliance": float(compliance), "treated": float(treated), "untreated": float(untreated)}


def complier_average_causal_effect(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                   received: str = "received", alpha: float = 0.05) -> Estimate:
    """Complier average causal effect on the risk, by two-stage least squares.

    The allocation instruments the contact received (Angrist, Imbens & Rubin 1996); without
    covariates the estimate is the Wald ratio ITT / (difference in delivery rates). Standard
    error heteroskedasticity-robust (White, no small-sample correction).
    """
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(float) for c in (outcome, treatment, received))
    n = int(len(known))
    if d[z == 1].mean() - d[z == 0].mean() <= 0:
        return Estimate(outcome, "complier_average_causal_effect", None, None, None,
                        "two-stage least squares; not estimable: no one received the contact", n)
    fit = IV2SLS(dependent=y.to_numpy(), exog=np.ones((n, 1)), endog=d.to_numpy()[:, None],
                 instruments=z.to_numpy()[:, None]).fit(cov_type="robust")
    estimate, se = float(fit.params.iloc[1]), float(fit.std_errors.iloc[1])
    critical = stats.norm.ppf(1 - alpha / 2)
    return Estimate(outcome, "complier_average_causal_effect", estimate, estimate - critical * se,
                    estimate + critical * se, "two-stage least squares, robust standard error (Angrist, Imbens "
                    "& Rubin 1996)", n, std_error=se, p_value=float(fit.pvalues.iloc[1]))


def complier_relative_reduction(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                                received: str = "received", alpha: float = 0.05, draws: int = 10_000,
                                seed: int = 0) -> Estimate:
    """Relative risk reduction among compliers, 1 - E[Y(1)|C] / E[Y(0)|C], with a bootstrap interval.

    Percentile interval from resampling reports within each arm (the design's strata). Only the
    counts of the four (received, outcome) cells in each arm matter, so each draw is a
    multinomial draw of those counts: vectorised and free of the trial's size.
    """
    known = data[data[outcome].notna()]
    y, z, d = (known[c].astype(int).to_numpy() for c in (outcome, treatment, received))
    point = _complier_means(y, z, d)
    n = int(len(known))
    method = "1 - complier risk ratio; percentile bootstrap within arms"
    if not point["untreated"] or not np.isfinite(point["untreated"]):
        return Estimate(outcome, "complier_relative_risk_reduction", None, None, None, method, n)
    rng = np.random.default_rng(seed)
    shares = {}
    for arm in (0, 1):
        cell = 2 * d[z == arm] + y[z == arm]  # 0: no contact, no event ... 3: contact and event
        counts = np.bincount(cell, minlength=4)
        shares[arm] = rng.multinomial(counts.sum(), counts / counts.sum(), size=draws) / counts.sum()
    # cell shares -> E[YD], E[D], E[Y(1-D)] per arm, for every draw at once
    yd = {a: shares[a][:, 3] for a in (0, 1)}
    dd = {a: shares[a][:, 2] + shares[a][:, 3] for a in (0, 1)}
    y_untreated = {a: shares[a][:, 1] for a in (0, 1)}
    compliance = dd[1] - dd[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (yd[1] - yd[0]) / (y_untreated[0] - y_untreated[1])
    reduction = 1 - ratio[np.isfinite(ratio) & (compliance > 0)]
    low, high = np.quantile(reduction, [alpha / 2, 1 - alpha / 2])
    estimate = 1 - point["treated"] / point["untreated"]
    return Estimate(outcome, "complier_relative_risk_reduction", estimate, low, high, method, n,
                    std_error=float(np.std(reduction, ddof=1)))


def power_analysis(control_risk: float, treatment_risk: float, n_per_arm: int, *, alpha: float = 0.05,
                   target_power: float = 0.80) -> dict:
    """Power of a two-arm comparison of proportions, by Cohen's arcsine effect size h.

    Returns the power a trial of ``n_per_arm`` had to detect the observed difference (two-sided,
    at ``alpha``) and the number per arm that would give ``target_power``; None where the
    observed risks are equal, since no finite trial detects a zero difference.
    """
    h = proportion_effectsize(treatment_risk, control_risk)
    if not np.isfinite(h) or abs(h) < 1e-12:
        return {"achieved_power": None, "n_per_arm_for_target_power": None, "effect_size_h": 0.0}
    analysis = NormalIndPower()
    achieved = analysis.power(effect_size=abs(h), nobs1=n_per_arm, alpha=alpha, ratio=1.0)
    needed = analysis.solve_power(effect_size=abs(h), nobs1=None, alpha=alpha, power=target_power, ratio=1.0)
    return {"achieved_power": float(achieved), "n_per_arm_for_target_power": int(np.ceil(needed)),
            "effect_size_h": float(h)}


def posterior_reduction(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned", draws: int = 10_000,
                        seed: int = 0, relative_threshold: float = 0.10) -> dict:
    """Posterior probabilities that SRC reduces the risk, with a uniform Beta(1, 1) prior per arm."""
    c = TwoByTwo.from_data(data, outcome, treatment)
    rng = np.random.default_rng(seed)
    treated = rng.beta(1 + c.treatment_events, 1 + c.treatment_n - c.treatment_events, draws)
    control = rng.beta(1 + c.control_events, 1 + c.control_n - c.control_events, draws)
    return {"probability_of_reduction": float(np.mean(treated < control)),
            "probability_of_relative_reduction_at_least": float(np.mean(treated <= (1 - relative_threshold) * control)),
            "relative_threshold": relative_threshold, "prior": "Beta(1, 1) in each arm", "draws": int(draws)}


def outcome_summary(data: pd.DataFrame, outcome: str, *, codes: list[str], alpha: float = 0.05,
                    draws: int = 10_000, seed: int = 0, target_power: float = 0.80) -> tuple[dict, list[Estimate]]:
    """Every estimate for one outcome: the results.json entry and the tidy rows behind it."""
    counts = TwoByTwo.from_data(data, outcome)
    rr = risk_ratio(data, outcome, alpha=alpha)
    rd = risk_difference(data, outcome, alpha=alpha)
    cace = complier_average_causal_effect(data, outcome, alpha=alpha)
    weak_instrument = anderson_rubin_interval(data, outcome, alpha=alpha)
    complier_rrr = complier_relative_reduction(data, outcome, alpha=alpha, draws=draws, seed=seed)
    randomisation = randomisation_p(data, outcome, draws=draws, seed=seed)
    means = complier_means(data, outcome)
    power = power_analysis(counts.control_risk, counts.treatment_risk, max(counts.treatment_n, counts.control_n),
                           alpha=alpha, target_power=target_power)
    entry = {
        "codes": [str(c) for c in codes],
        "control": {"events": counts.control_events, "n": counts.control_n, "risk": counts.control_risk},
        "treatment": {"events": counts.treatment_events, "n": counts.treatment_n, "risk": counts.treatment_risk},
        "itt": {
            "risk_ratio": rr.estimate, "risk_ratio_ci": rr.interval,
            "relative_risk_reduction": None if rr.estimate is None else 1 - rr.estimate,
            "relative_risk_reduction_ci": [None if v is None else 1 - v for v in reversed(rr.interval)],
            "risk_difference": rd.estimate, "risk_difference_ci": rd.interval,
            "odds_ratio": odds_ratio(data, outcome, alpha=alpha).as_dict(),
            "p_value_exact": fisher_exact_p(data, outcome),
            "p_value_exact_one_sided": fisher_exact_p(data, outcome, alternative="less"),
            "p_value_randomisation": randomisation["two_sided"],
            "p_value_randomisation_one_sided": randomisation["one_sided"],
            "randomisation_draws": randomisation["draws"],
            "bayesian": posterior_reduction(data, outcome, draws=draws, seed=seed),
            "open_investigation_bounds": open_investigation_bounds(data, outcome),
        },
        "cace": {
            "risk_difference": cace.estimate, "risk_difference_ci": cace.interval,
            "complier_control_risk": None if not np.isfinite(means["untreated"]) else means["untreated"],
            "complier_treated_risk": None if not np.isfinite(means["treated"]) else means["treated"],
            "relative_risk_reduction": complier_rrr.estimate,
            "relative_risk_reduction_ci": complier_rrr.interval,
            "method": cace.method,
            "first_stage_f": weak_instrument["first_stage_f"],
            "weak_instrument": weak_instrument["weak_instrument"],
            "anderson_rubin": weak_instrument,
        },
        "power": {
            "achieved_power": power["achieved_power"],
            "n_per_arm_for_80_percent_power": power["n_per_arm_for_target_power"],
            "target_power": target_power,
            "effect_size_h": power["effect_size_h"],
            "method": "normal approximation, Cohen's h, two-sided",
        },
    }
    return entry, [rr, rd, cace, complier_rrr]


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
    itt_y, itt_d = y[t].mean() - y[c].mean(), d[t].mean() - d[c].mean()

    def covariance(a, b):
        return sum(np.cov(a[arm], b[arm], ddof=1)[0, 1] / arm.sum() for arm in (t, c))

    v_yy, v_dd, v_yd = covariance(y, y), covariance(d, d), covariance(y, d)
    critical = stats.norm.ppf(1 - alpha / 2) ** 2
    first_stage_f = itt_d ** 2 / v_dd if v_dd > 0 else float("inf")
    # (itt_d^2 - q v_dd) b^2 - 2 (itt_y itt_d - q v_yd) b + (itt_y^2 - q v_yy) <= 0
    a = itt_d ** 2 - critical * v_dd
    b = -2 * (itt_y * itt_d - critical * v_yd)
    c0 = itt_y ** 2 - critical * v_yy
    discriminant = b * b - 4 * a * c0
    if a > 0 and discriminant >= 0:
        roots = sorted(((-b - np.sqrt(discriminant)) / (2 * a), (-b + np.sqrt(discriminant)) / (2 * a)))
        shape, interval = "interval", [float(roots[0]), float(roots[1])]
    elif a < 0 and discriminant > 0:
        roots = sorted(((-b - np.sqrt(discriminant)) / (2 * a), (-b + np.sqrt(discriminant)) / (2 * a)))
        shape, interval = "two rays: below the first and above the second value", [float(roots[0]), float(roots[1])]
    else:
        shape, interval = "every value: the data cannot bound the effect", [None, None]
    return {"interval": interval, "shape": shape, "first_stage_f": float(first_stage_f),
            "weak_instrument": bool(first_stage_f < 10),
            "method": "Anderson-Rubin confidence set, robust variances (Anderson & Rubin 1949)"}


def open_investigation_bounds(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned") -> dict | None:
    """The effect if open investigations all end, or none end, in the outcome.

    Open cases are left out of the main analysis; these scenarios show how far they could move
    it. The last two (every open SRC case and no open BAU case, and the reverse) are the
    worst-case bounds (Manski 1990). None when no investigation is open.
    """
    open_case = data[outcome].isna()
    if not open_case.any():
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
