"""The declared design (``parameters: design``) applied to stage 4 and to results.json.

Complete randomisation of reports, the published trial's design, is what :mod:`helpers.methods.estimation`
assumes. Under another design each figure of an outcome is either given by the design's own
estimator (:mod:`helpers.methods.designs`, tested against R's estimatr) or left out as not estimable with
the reason "not valid under a <design> design", never a number that silently assumes the wrong
design:

simple (Bernoulli)
    Arm sizes are random but carry no information about the effect, so every comparison
    conditional on them stays valid (Fisher's exact test, Newcombe's interval, the adjusted and
    complier estimates); the randomisation p-values re-draw every report's allocation by the
    declared probability (:func:`designs.bernoulli_randomisation_p`).
blocked
    Risk difference: blocked difference in means (each block's difference weighted by its size);
    risk ratio: Mantel-Haenszel; odds ratio: Mantel-Haenszel (Robins-Breslow-Greenland variance);
    randomisation p: re-randomising within blocks; complier effect: ratio of the block-weighted
    differences in outcome and in delivery, with the delta-method error of the blocked estimator;
    complier risks and relative reduction: block-weighted moments, bootstrap within block and arm;
    Anderson-Rubin set: blocked variances; Lin's adjustment: block indicators among the
    covariates; power: the arms' effective size under block weighting. Not valid: Fisher's exact
    test, the Beta-binomial probability of benefit, the logistic marginal difference, per-protocol
    and as-treated comparisons, subgroups other than the blocks themselves.
cluster
    Risk difference: OLS with a CR2 cluster-robust error and Bell-McCaffrey df; risk ratio: log
    risk ratio with a cluster-robust (sandwich) error on G - 2 df; randomisation p: re-randomising
    whole clusters; complier effect: two-stage least squares with a CR2 error; complier relative
    reduction: bootstrap of whole clusters within arms; Anderson-Rubin set: CR2 variances; Lin's
    adjustment: CR2 error; power: sample sizes multiplied by the design effect; intra-cluster
    correlation and design effect for each outcome. Not valid: Fisher's exact test, the odds
    ratio's Woolf interval, the probability of benefit, the logistic marginal difference,
    per-protocol and as-treated comparisons, subgroups.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import optimize, stats
from statsmodels.stats.contingency_tables import StratifiedTable

from helpers.errors import InputError, Problem
from helpers.methods import adjusted, compliance, designs, estimation
from helpers.methods.audit import covariate_design
from helpers.methods.estimation import TwoByTwo, truncate_interval
from helpers.methods.modelfit import independent_columns
from helpers.methods.tidy import Estimate

UNIT = "_unit"  # the column of each report's block or cluster in the frames handed to the estimators
NOUNS = {"borough": ("borough", "boroughs"), "ward": ("ward", "wards"), "offence_group": ("offence group",
         "offence groups"), "primary_strand": ("hate strand", "hate strands")}
NAMES = {"complete": "complete randomisation of reports", "simple": "simple (Bernoulli) randomisation",
         "blocked": "blocked randomisation", "cluster": "cluster randomisation"}
CHUNK_CELLS = 5_000_000


def columns(design: dict) -> tuple[str, ...]:
    """The columns whose values, together, are the design's blocks or clusters (outermost first); empty for none.

    ``clusters: ward`` is ``("ward",)``: each ward label is one unit, wherever it appears;
    ``clusters: [borough, ward]`` is ``("borough", "ward")``: a ward within its borough.
    """
    value = design.get("blocks") or design.get("clusters")
    return () if value is None else (value,) if isinstance(value, str) else tuple(value)


def column(design: dict) -> str | None:
    """The column of the design's blocks or clusters (the innermost of a nested list), or None."""
    names = columns(design)
    return names[-1] if names else None


def noun(design: dict, plural: bool = False) -> str:
    return NOUNS.get(column(design), ("unit", "units"))[plural]


def nesting(design: dict) -> str:
    """How the units are named, for a sentence: '' for one column, ' within borough' for [borough, ward]."""
    outer = columns(design)[:-1]
    return "".join(f" within {NOUNS.get(name, (name,))[0]}" for name in reversed(outer))


def not_valid(design: dict, why: str) -> str:
    return f"not valid under a {design['assignment']} design: {why}"


def units(data: pd.DataFrame, design: dict) -> pd.Series | None:
    """Each report's block or cluster, as the design declares it.

    One column: its values as written (``clusters: ward`` takes each ward label as one unit, in
    whatever borough it appears). A list of columns: their values joined, outermost first
    (``[borough, ward]``: "Merton / W01" and "Sutton / W01" are two units).

    Raises
    ------
    InputError
        A column is absent or blank in some rows (the input contract requires it, so only a
        table built some other way gets here).
    """
    names = columns(design)
    if not names:
        return None
    parts = []
    for name in names:
        values = data[name].astype("string") if name in data else None
        if values is None or values.isna().any() or (values.str.strip() == "").any():
            raise InputError([Problem("analysis table", f"a {design['assignment']} design needs '{name}' recorded "
                                                        "for every report, and it is missing or blank in some", name)])
        parts.append(values)
    combined = parts[0]
    for values in parts[1:]:
        combined = combined + " / " + values
    return combined.astype(str).rename(UNIT)


# --------------------------------------------------------------------------------------------
# One outcome under the declared design
# --------------------------------------------------------------------------------------------

def outcome_estimates(data: pd.DataFrame, outcome: str, *, design: dict, codes: list[str], alpha: float,
                      draws: int, seed: int, target_power: float, direction: str, plan: dict
                      ) -> tuple[dict, list[Estimate]]:
    """Every figure of one outcome under the declared design: the results.json entry and the tidy rows.

    For complete randomisation the figures are those of :func:`estimation.outcome_summary` and the
    covariate-adjusted and biased comparisons, unchanged; the entry gains ``itt.method`` (the risk
    difference's estimator), ``itt.methods`` (every figure's) and ``design``.
    """
    entry, (rr, rd, cace, rrr) = estimation.outcome_summary(
        data, outcome, codes=codes, alpha=alpha, draws=draws, seed=seed, target_power=target_power,
        direction=direction, plan=plan)
    assignment = design["assignment"]
    entry["design"] = {"assignment": assignment, "column": column(design), "columns": list(columns(design))}
    exact_method = "Fisher's exact test"
    if assignment in ("complete", "simple"):
        planned = plan["covariates"]["columns"]
        lin = adjusted.lin_estimator(data, outcome, alpha=alpha, covariates=planned)
        logistic = adjusted.logistic_marginal_difference(data, outcome, alpha=alpha, covariates=planned)
        biased = compliance.biased_comparisons(data[data[outcome].notna()], outcome, alpha=alpha)
        odds = estimation.odds_ratio(data, outcome, alpha=alpha)  # the entry keeps it as a dict, with no Estimate
    if assignment == "simple":
        _simple(entry, data, outcome, design, draws=draws, seed=seed, direction=direction)
        exact_method = ("Fisher's exact test, conditional on the arm sizes (valid under simple randomisation: the "
                        "arm sizes carry no information about the effect)")
    elif assignment in ("blocked", "cluster"):
        frame = data.assign(**{UNIT: units(data, design)})
        analyse = _blocked if assignment == "blocked" else _cluster
        rr, rd, cace, rrr, odds, lin, logistic, biased = analyse(
            entry, frame, outcome, design, alpha=alpha, draws=draws, seed=seed, target_power=target_power,
            direction=direction, plan=plan)
        exact_method = f"Fisher's exact test: {not_valid(design, 'not computed')}"
    entry["itt"]["adjusted"] = {e.estimand: e.as_dict() for e in (lin, logistic)}
    entry["itt"]["method"] = rd.method
    entry["itt"]["methods"] = {
        "risk_difference": _method(rd), "risk_ratio": _method(rr), "odds_ratio": _method(odds),
        "p_value_exact": exact_method, "p_value_randomisation": entry["itt"]["randomisation_method"],
        "complier_average_causal_effect": _method(cace), "complier_relative_risk_reduction": _method(rrr),
        "adjusted_lin": _method(lin), "adjusted_logistic": _method(logistic),
        "power": entry["power"].get("method")}
    _credit_only_with_delivery(entry, estimation.delivery_contrast(data))
    return entry, [rr, rd, cace, rrr, lin, logistic, *biased]


def _credit_only_with_delivery(entry: dict, contrast: dict) -> None:
    """No probability that SRC helps when the allocation did not change delivery (see
    :func:`estimation.delivery_contrast`): a difference between the arms is then not an effect of SRC."""
    if contrast["identified"] is not False:
        return
    reason = f"not estimable: {contrast['reason']}"
    for key in ("bayesian", "bayesian_sceptical"):
        entry["itt"][key] = {**entry["itt"][key], "probability_of_reduction": None,
                             "probability_of_relative_reduction_at_least": None, "reason": reason}
    entry["notes"]["itt.bayesian"] = reason


def _method(estimate: Estimate) -> str:
    """An estimate's method, or, for a figure the design does not support, why it was not computed."""
    if estimate.estimate is None and estimate.reason and "not valid under" in estimate.reason:
        return f"{estimate.method}: {estimate.reason.removeprefix('not estimable: ')}"
    return estimate.method


def _one_sided(direction: str) -> str:
    return "less" if direction == "decrease" else "greater"


def _set_randomisation(entry: dict, two: Estimate, one: Estimate) -> None:
    itt = entry["itt"]
    itt["p_value_randomisation"], itt["p_value_randomisation_one_sided"] = two.p_value, one.p_value
    itt["randomisation_method"] = two.method if two.p_value is not None else two.reason
    entry["notes"].pop("itt.p_value_randomisation", None)
    if two.p_value is None:
        entry["notes"]["itt.p_value_randomisation"] = two.reason


def _simple(entry: dict, data: pd.DataFrame, outcome: str, design: dict, *, draws: int, seed: int,
            direction: str) -> None:
    probability = float(design["probability"])
    two, one = (designs.bernoulli_randomisation_p(data, outcome, probability=probability, draws=draws, seed=seed,
                                                  alternative=side) for side in ("two-sided", _one_sided(direction)))
    _set_randomisation(entry, two, one)


def _blocked(entry: dict, frame: pd.DataFrame, outcome: str, design: dict, *, alpha: float, draws: int, seed: int,
             target_power: float, direction: str, plan: dict):
    known = frame[frame[outcome].notna()]
    rd = _bounded(replace(designs.blocked_difference_in_means(frame, outcome, block=UNIT, alpha=alpha),
                          estimand="risk_difference"))
    rr = designs.mantel_haenszel_risk_ratio(frame, outcome, block=UNIT, alpha=alpha)
    two, one = (designs.blocked_randomisation_p(frame, outcome, block=UNIT, draws=draws, seed=seed, alternative=side)
                for side in ("two-sided", _one_sided(direction)))
    odds = mantel_haenszel_odds_ratio(known, outcome, alpha=alpha)
    cace = blocked_complier_effect(known, outcome, alpha=alpha)
    means = blocked_complier_means(known, outcome)
    rrr = complier_relative_reduction(known, outcome, "blocked", alpha=alpha, draws=draws, seed=seed)
    difference = lambda data, column: designs.blocked_difference_in_means(data, column, block=UNIT, alpha=alpha)
    weak = design_anderson_rubin(known, outcome, difference, point=lambda v: _weighted_difference(v, known),
                                 method="Anderson-Rubin confidence set, blocked difference-in-means variances",
                                 alpha=alpha)
    power = blocked_power(known, outcome, alpha=alpha, target_power=target_power, plan=plan, direction=direction)
    lin = lin_by_design(frame, outcome, design, covariates=plan["covariates"]["columns"], alpha=alpha,
                        blocked_estimate=rd)
    logistic = Estimate.not_estimable(outcome, "risk_difference_adjusted_logistic", "logistic regression, average "
                                      "marginal difference", len(known), not_valid(
                                          design, "the logistic model takes the reports as completely randomised, "
                                          "ignoring the blocks' different SRC shares; the block-weighted Lin estimate "
                                          "is the adjusted one"))
    biased = _not_valid_rows(frame, outcome, design, alpha, "it pools the blocks, whose SRC shares differ")
    bounds = blocked_open_investigation_bounds(frame, outcome)
    _fill(entry, design, rd=rd, rr=rr, odds=odds, randomisation=(two, one), cace=cace, means=means, rrr=rrr,
          weak=weak, power=power, bounds=bounds,
          bayes_reason=not_valid(design, "the Beta-binomial model pools each arm across blocks with different SRC "
                                         "shares"))
    return rr, rd, cace, rrr, odds, lin, logistic, biased


def _cluster(entry: dict, frame: pd.DataFrame, outcome: str, design: dict, *, alpha: float, draws: int, seed: int,
             target_power: float, direction: str, plan: dict):
    known = frame[frame[outcome].notna()]
    rd = _bounded(replace(designs.cluster_difference_in_means(frame, outcome, cluster=UNIT, alpha=alpha),
                          estimand="risk_difference"))
    rr = cluster_risk_ratio(known, outcome, alpha=alpha)
    two, one = (designs.cluster_randomisation_p(frame, outcome, cluster=UNIT, draws=draws, seed=seed,
                                                alternative=side) for side in ("two-sided", _one_sided(direction)))
    odds = Estimate.not_estimable(outcome, "odds_ratio", "log interval (Woolf 1955)", len(known), not_valid(
        design, "Woolf's interval takes the reports as independent; the risk ratio and difference carry the "
                "cluster-robust intervals"))
    cace = _bounded(designs.cluster_complier_effect(frame, outcome, cluster=UNIT, alpha=alpha))
    complier = estimation.complier_means(known, outcome)  # a ratio of differences in means over reports: unchanged
    rrr = complier_relative_reduction(known, outcome, "cluster", alpha=alpha, draws=draws, seed=seed)
    difference = lambda data, column: designs.cluster_difference_in_means(data, column, cluster=UNIT, alpha=alpha)
    weak = design_anderson_rubin(known, outcome, difference, point=lambda v: _plain_difference(v, known),
                                 method="Anderson-Rubin confidence set, CR2 cluster-robust variances", alpha=alpha)
    icc = designs.intracluster_correlation(frame, outcome, cluster=UNIT)
    effect = designs.design_effect(frame, outcome, cluster=UNIT)
    power = cluster_power(known, outcome, effect, alpha=alpha, target_power=target_power, plan=plan,
                          direction=direction)
    lin = lin_by_design(frame, outcome, design, covariates=plan["covariates"]["columns"], alpha=alpha)
    logistic = Estimate.not_estimable(outcome, "risk_difference_adjusted_logistic", "logistic regression, average "
                                      "marginal difference", len(known), not_valid(
                                          design, "its standard error takes the reports as independent; the Lin "
                                          "estimate with a cluster-robust error is the adjusted one"))
    biased = _not_valid_rows(frame, outcome, design, alpha, f"its interval takes the reports as independent, while "
                                                            f"whole {noun(design, True)} were randomised")
    _fill(entry, design, rd=rd, rr=rr, odds=odds, randomisation=(two, one), cace=cace, means=complier, rrr=rrr,
          weak=weak, power=power, bounds=entry["itt"]["open_investigation_bounds"],  # points only: still valid
          bayes_reason=not_valid(design, "the Beta-binomial model takes the reports as independent, so its "
                                         "probabilities are too sure"))
    entry["design"].update(intracluster_correlation=icc.estimate, intracluster_correlation_method=icc.method,
                           design_effect=effect.estimate, design_effect_method=effect.method,
                           clusters=int(known[UNIT].nunique()))
    if icc.estimate is None:
        entry["notes"]["design.intracluster_correlation"] = icc.reason
    return rr, rd, cace, rrr, odds, lin, logistic, biased


def _fill(entry: dict, design: dict, *, rd, rr, odds, randomisation, cace, means, rrr, weak, power, bounds,
          bayes_reason: str) -> None:
    """Put the design's figures in the entry, replacing every figure that assumed complete randomisation."""
    itt, complier = entry["itt"], entry["cace"]
    kept_notes = {k: v for k, v in entry["notes"].items() if k in ("cace.complier_risks",)}
    itt.update(risk_ratio=rr.estimate, risk_ratio_ci=rr.interval,
               relative_risk_reduction=None if rr.estimate is None else 1 - rr.estimate,
               relative_risk_reduction_ci=[None if v is None else 1 - v for v in reversed(rr.interval)],
               risk_difference=rd.estimate, risk_difference_ci=rd.interval, odds_ratio=odds.as_dict(),
               p_value_exact=None, p_value_exact_one_sided=None, open_investigation_bounds=bounds)
    exact_reason = not_valid(design, "Fisher's exact test assumes complete randomisation of all reports; read the "
                                     "randomisation p-value, which re-randomises as the design did")
    for key in ("bayesian", "bayesian_sceptical"):
        itt[key] = {**{k: v for k, v in itt[key].items() if k not in ("probability_of_reduction",
                                                                     "probability_of_relative_reduction_at_least")},
                    "probability_of_reduction": None, "probability_of_relative_reduction_at_least": None,
                    "reason": f"not estimable: {bayes_reason}"}
    complier_control, complier_treated = (estimation._risk_or_none(means["untreated"]),
                                          estimation._risk_or_none(means["treated"]))
    complier.update(risk_difference=cace.estimate, risk_difference_ci=cace.interval,
                    complier_control_risk=complier_control, complier_treated_risk=complier_treated,
                    relative_risk_reduction=rrr.estimate, relative_risk_reduction_ci=rrr.interval, method=cace.method,
                    first_stage_f=weak["first_stage_f"], weak_instrument=weak["weak_instrument"], anderson_rubin=weak)
    entry["power"] = {key: value for key, value in power.items() if key != "reason"}
    notes = {"itt.risk_ratio": rr.reason, "itt.risk_difference": rd.reason, "itt.odds_ratio": odds.reason,
             "itt.p_value_exact": f"not estimable: {exact_reason}", "itt.bayesian": f"not estimable: {bayes_reason}",
             "cace.risk_difference": cace.reason, "cace.relative_risk_reduction": rrr.reason,
             "cace.first_stage_f": weak.get("reason"), "power": power.get("reason"), **kept_notes}
    if complier_control is None or complier_treated is None:
        notes.setdefault("cace.complier_risks", "not estimable: the design's moment estimates of the complier risks "
                                                "fall outside [0, 1] or delivery does not differ between the arms")
    else:
        notes.pop("cace.complier_risks", None)
    entry["notes"] = {k: v for k, v in notes.items() if v}
    _set_randomisation(entry, *randomisation)


def _bounded(estimate: Estimate, lower: float = -1.0, upper: float = 1.0) -> Estimate:
    """A difference kept in its parameter space: the interval cut to [lower, upper] (and said so)."""
    if estimate.estimate is None:
        return estimate
    if not lower <= estimate.estimate <= upper:
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      f"the estimate ({estimate.estimate:.2f}) lies outside [{lower:g}, {upper:g}]")
    if not (estimate.std_error and estimate.std_error > 0):
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      "the standard error is zero or undefined on these data")
    low, high, reason = truncate_interval(estimate.conf_low, estimate.conf_high, lower, upper)
    if high - low <= 1e-9:
        return Estimate.not_estimable(estimate.outcome, estimate.estimand, estimate.method, estimate.n,
                                      "the interval collapses onto the edge of the parameter space")
    reasons = "; ".join(r for r in (estimate.reason, reason) if r) or None
    return replace(estimate, conf_low=low, conf_high=high, reason=reasons)


def _not_valid_rows(frame: pd.DataFrame, outcome: str, design: dict, alpha: float, why: str) -> list[Estimate]:
    """The per-protocol and as-treated rows, marked not valid under the design (keeping their labels)."""
    rows = compliance.biased_comparisons(frame[frame[outcome].notna()], outcome, alpha=alpha)
    return [Estimate.not_estimable(e.outcome, e.estimand, e.method, e.n, not_valid(design, why)) for e in rows]


def _df_of(critical: float, alpha: float) -> float:
    """The t degrees of freedom whose 1 - alpha/2 quantile is ``critical`` (infinity: the normal's)."""
    normal = stats.norm.ppf(1 - alpha / 2)
    if critical <= normal * (1 + 1e-12):
        return float("inf")
    return float(optimize.brentq(lambda df: stats.t.ppf(1 - alpha / 2, df) - critical, 1e-3, 1e12, xtol=1e-10))


# --------------------------------------------------------------------------------------------
# Blocked randomisation
# --------------------------------------------------------------------------------------------

def _weighted_difference(values: np.ndarray | pd.Series, known: pd.DataFrame) -> float:
    """Block-size-weighted difference in means of ``values`` (SRC minus BAU); NaN if a block lacks an arm."""
    frame = pd.DataFrame({"v": np.asarray(values, dtype=float), "z": known["assigned"].to_numpy(dtype=int),
                          "b": known[UNIT].to_numpy()})
    means = frame.groupby(["b", "z"])["v"].mean().unstack("z")
    if means.shape[1] < 2 or means.isna().to_numpy().any():
        return float("nan")
    sizes = frame.groupby("b").size().reindex(means.index)
    return float(((means[1] - means[0]) * sizes).sum() / sizes.sum())


def _plain_difference(values: np.ndarray | pd.Series, known: pd.DataFrame) -> float:
    v, z = np.asarray(values, dtype=float), known["assigned"].to_numpy(dtype=int)
    return float(v[z == 1].mean() - v[z == 0].mean()) if (z == 1).any() and (z == 0).any() else float("nan")


def mantel_haenszel_odds_ratio(known: pd.DataFrame, outcome: str, *, alpha: float = 0.05) -> Estimate:
    """Odds ratio common to the blocks (Mantel & Haenszel), Robins-Breslow-Greenland interval, CMH test.

    The p-value is the Cochran-Mantel-Haenszel test's (chi-squared on 1 df, no continuity
    correction); its statistic is given as the signed square root of the chi-squared, a z.
    """
    method = ("Mantel-Haenszel odds ratio, Robins-Breslow-Greenland variance; Cochran-Mantel-Haenszel test "
              "(statsmodels StratifiedTable)")
    n = len(known)
    y, z = known[outcome].astype(int).to_numpy(), known["assigned"].to_numpy(dtype=int)
    tables = []
    for _, rows in pd.DataFrame({"y": y, "z": z, "b": known[UNIT].to_numpy()}).groupby("b"):
        if rows["z"].nunique() < 2:
            continue
        t, c = rows[rows["z"] == 1]["y"], rows[rows["z"] == 0]["y"]
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


def blocked_complier_effect(known: pd.DataFrame, outcome: str, *, alpha: float = 0.05) -> Estimate:
    """Complier average causal effect of a blocked trial: block-weighted ITT on the outcome over that on delivery.

    b = ITT_y / ITT_d, each the blocked difference in means (block-size weights), so the design's
    different SRC shares do not bias it. Its standard error by the delta method: the blocked
    standard error of the difference in means of y - b d, divided by ITT_d (the variance of
    ITT_y - b ITT_d at the estimate); a t interval on the blocked estimator's degrees of freedom,
    cut to [-1, 1].
    """
    estimand = "complier_average_causal_effect"
    method = ("ratio of block-weighted differences in means (outcome over contact received), delta-method standard "
              "error from the blocked variance, t interval")
    n = len(known)
    itt_y = designs.blocked_difference_in_means(known, outcome, block=UNIT, alpha=alpha)
    if itt_y.estimate is None:
        return Estimate.not_estimable(outcome, estimand, method, n, itt_y.reason.removeprefix("not estimable: "))
    d = known["received"].to_numpy(dtype=float)
    itt_d = _weighted_difference(d, known)
    if not itt_d > 0:
        return Estimate.not_estimable(outcome, estimand, method, n, "the contact was no more often delivered in the "
                                      "SRC arm than in the business-as-usual arm (block-weighted)")
    effect = itt_y.estimate / itt_d
    if not -1 <= effect <= 1:
        return Estimate.not_estimable(outcome, estimand, method, n, f"the estimate ({effect:.2f}) lies outside "
                                      "[-1, 1], so the data contradict the complier model or the blocks are too small")
    y = known[outcome].to_numpy(dtype=float)
    residual = designs.blocked_difference_in_means(known.assign(_adjusted=y - effect * d), "_adjusted", block=UNIT,
                                                   alpha=alpha)
    if residual.std_error is None or not residual.std_error > 0:
        return Estimate.not_estimable(outcome, estimand, method, n,
                                      "the standard error is zero or undefined on these data")
    se = residual.std_error / itt_d
    critical = (residual.conf_high - residual.estimate) / residual.std_error
    df = _df_of(critical, alpha)
    return _bounded(Estimate(outcome, estimand, float(effect), effect - critical * se, effect + critical * se, method,
                             n, std_error=float(se), p_value=float(2 * stats.t.sf(abs(effect / se), df)),
                             df=None if np.isinf(df) else df))


def blocked_complier_means(known: pd.DataFrame, outcome: str) -> dict:
    """Complier risks with and without SRC from block-weighted moments (as :func:`estimation.complier_means`)."""
    y, d = known[outcome].to_numpy(dtype=float), known["received"].to_numpy(dtype=float)
    compliance = _weighted_difference(d, known)
    if not compliance > 0:
        return {"compliance": compliance, "treated": np.nan, "untreated": np.nan}
    return {"compliance": compliance, "treated": _weighted_difference(y * d, known) / compliance,
            "untreated": -_weighted_difference(y * (1 - d), known) / compliance}


def blocked_open_investigation_bounds(frame: pd.DataFrame, outcome: str) -> dict | None:
    """The open-investigation scenarios of :func:`estimation.open_investigation_bounds`, block-weighted."""
    bounds = estimation.open_investigation_bounds(frame, outcome)
    if bounds is None:
        return None
    open_case, z = frame[outcome].isna().to_numpy(), frame["assigned"].to_numpy() == 1
    scenarios = {"all_open_cases": (1, 1), "no_open_cases": (0, 0), "src_open_cases_only": (1, 0),
                 "bau_open_cases_only": (0, 1)}
    for name, (in_src, in_bau) in scenarios.items():
        filled = frame[outcome].astype("Float64").fillna(0.0).to_numpy(dtype=float)
        filled = np.where(open_case & z, in_src, np.where(open_case & ~z, in_bau, filled))
        table = frame.assign(_filled=filled)
        difference = _weighted_difference(filled, table)
        ratio = designs.mantel_haenszel_risk_ratio(table, "_filled", block=UNIT).estimate
        bounds[name] = {"risk_difference": difference if np.isfinite(difference) else None, "risk_ratio": ratio}
    return bounds


def blocked_power(known: pd.DataFrame, outcome: str, *, alpha: float, target_power: float, plan: dict,
                  direction: str) -> dict:
    """Power of a blocked trial: Cohen's h at the arms' effective size under block weighting.

    The blocked estimator's variance is sum_j (N_j / N)^2 (1 / n_1j + 1 / n_0j) in units of the
    outcome's variance; a trial of two equal arms of 2 / that sum has the same, so the smallest
    detectable effect is computed at that size, from the block-weighted control risk. The size
    for the plan's target is for a future trial of two equal arms (blocked with equal shares, or not).
    """
    frame = pd.DataFrame({"z": known["assigned"].to_numpy(dtype=int), "b": known[UNIT].to_numpy(),
                          "y": known[outcome].to_numpy(dtype=float)})
    sizes = frame.groupby(["b", "z"]).size().unstack("z", fill_value=0).reindex(columns=[0, 1], fill_value=0)
    change = plan.get("target_relative_reduction", 0.20)
    if sizes.empty or (sizes == 0).to_numpy().any():
        power = estimation.power_analysis(float("nan"), 0, 0, target_power=target_power,
                                          target_relative_reduction=change, direction=direction)
        return {**power, "reason": "not estimable: a block has no SRC or no business-as-usual report with an "
                                   "outcome"}
    weights = sizes.sum(axis=1) / len(frame)
    variance = float(np.sum(weights ** 2 * (1 / sizes[1] + 1 / sizes[0])))
    effective = 2 / variance
    control = frame[frame["z"] == 0].groupby("b")["y"].mean().reindex(sizes.index)
    control_risk = float(np.sum(weights * control))
    power = estimation.power_analysis(control_risk, effective, effective, alpha=alpha, target_power=target_power,
                                      target_relative_reduction=change, direction=direction)
    power["method"] += (f"; blocked design: the trial's arms taken at their effective size under block weighting, "
                        f"2 / sum_j (N_j / N)^2 (1 / n_1j + 1 / n_0j) = {effective:.0f} reports per arm, and the "
                        "block-weighted control risk; the size for the target is for a future trial of two equal arms")
    power["effective_n_per_arm"] = effective
    return power


# --------------------------------------------------------------------------------------------
# Cluster randomisation
# --------------------------------------------------------------------------------------------

def cluster_risk_ratio(known: pd.DataFrame, outcome: str, *, alpha: float = 0.05) -> Estimate:
    """Risk ratio of a cluster-randomised trial with a cluster-robust error of its logarithm.

    The log risk ratio is the treatment coefficient of a Poisson (log-link) regression of y on z;
    its sandwich variance with clusters, sum over each arm's clusters of (Y_g - p m_g)^2 / (n p)^2
    for each arm's risk p = sum Y_g / n, times G / (G - 1) (Y_g and m_g a cluster's events and
    reports, G the clusters; R: ``sandwich::vcovCL(glm(y ~ z, poisson), cluster = ~ ward,
    type = "HC0")``), and a t interval and test on G - 2 degrees of freedom (Donner & Klar 2000).
    """
    method = "log risk ratio, cluster-robust (sandwich) standard error, t on clusters - 2 df"
    n = len(known)
    problem = designs._cluster_problem(known, "assigned", UNIT)
    if problem:
        return Estimate.not_estimable(outcome, "risk_ratio", method, n, problem)
    by_cluster = known.groupby(UNIT).agg(events=(outcome, "sum"), reports=(outcome, "size"), arm=("assigned", "first"))
    risks, variances = {}, {}
    for arm in (0, 1):
        rows = by_cluster[by_cluster["arm"] == arm]
        reports = float(rows["reports"].sum())
        risk = float(rows["events"].sum()) / reports
        risks[arm] = risk
        spread = float(np.sum((rows["events"] - risk * rows["reports"]) ** 2))
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


def cluster_power(known: pd.DataFrame, outcome: str, effect: Estimate, *, alpha: float, target_power: float,
                  plan: dict, direction: str) -> dict:
    """Power of a cluster trial: Cohen's h with the sample sizes divided, and the size needed multiplied, by the design effect."""
    counts = TwoByTwo.from_data(known, outcome)
    change = plan.get("target_relative_reduction", 0.20)
    if effect.estimate is None:
        power = estimation.power_analysis(float("nan"), 0, 0, target_power=target_power,
                                          target_relative_reduction=change, direction=direction)
        return {**power, "reason": "not estimable: the design effect is not estimable ("
                                   + effect.reason.removeprefix("not estimable: ") + ")"}
    factor = float(effect.estimate)
    power = estimation.power_analysis(counts.control_risk, counts.treatment_n / factor, counts.control_n / factor,
                                      alpha=alpha, target_power=target_power, target_relative_reduction=change,
                                      direction=direction)
    if power["n_per_arm_for_target_power"] is not None:
        power["n_per_arm_for_target_power"] = int(np.ceil(power["n_per_arm_for_target_power"] * factor))
    power["method"] += (f"; cluster design: the trial's arm sizes divided by the design effect {factor:.2f} "
                        "(1 + (mean cluster size - 1) x ICC), and the reports per arm needed multiplied by it, for "
                        "clusters of the trial's mean size")
    power["design_effect"] = factor
    return power


# --------------------------------------------------------------------------------------------
# Shared by the blocked and cluster designs
# --------------------------------------------------------------------------------------------

def design_anderson_rubin(known: pd.DataFrame, outcome: str, difference, *, point, method: str,
                          alpha: float = 0.05) -> dict:
    """Anderson-Rubin set and first-stage F with the design's variance of a difference in means.

    ``difference(frame, column)`` is the design's estimator (blocked, or CR2). Its variance of the
    difference in means of y - b d is a quadratic in b, V(b) = V_yy - 2 b V_yd + b² V_dd, for both
    estimators (the block variances and the CR2 meat are quadratic in the residuals, linear in b),
    so three evaluations (b = -2, 0, 2) give its coefficients. The set keeps every b whose
    (ITT_y - b ITT_d)² <= t² V(b), t the design estimator's own critical value; the first-stage F
    is ITT_d² / V_dd.
    """
    y, d = known[outcome].to_numpy(dtype=float), known["received"].to_numpy(dtype=float)
    base = {"interval": [None, None], "shape": "not estimable", "first_stage_f": None, "weak_instrument": None,
            "method": method}
    first = difference(known, "received")
    itt_d = first.estimate if first.estimate is not None else point(d)
    v_dd_direct = first.std_error ** 2 if first.std_error is not None else 0.0
    if not np.isfinite(itt_d):
        return {**base, "reason": "not estimable: an arm (or a block's arm) has no report with an outcome"}
    first_stage_f, weak, reason = estimation._first_stage(itt_d, v_dd_direct)
    evaluated = {b: difference(known.assign(_ar=y - b * d), "_ar") for b in (-2.0, 0.0, 2.0)}
    failed = next((e for e in evaluated.values() if e.estimate is None or not e.std_error), None)
    result = {**base, "first_stage_f": first_stage_f, "weak_instrument": weak}
    if failed is not None:
        why = failed.reason or "not estimable: the variance is zero on these data"
        return {**result, "reason": reason or why}
    v = {b: e.std_error ** 2 for b, e in evaluated.items()}
    v_yy, v_yd, v_dd = v[0.0], (v[-2.0] - v[2.0]) / 8, (v[2.0] + v[-2.0] - 2 * v[0.0]) / 8
    centre = evaluated[0.0]
    critical = ((centre.conf_high - centre.estimate) / centre.std_error) ** 2
    shape, interval = estimation.anderson_rubin_set(centre.estimate, itt_d, v_yy, v_yd, v_dd, critical)
    result.update(interval=interval, shape=shape)
    return {**result, "reason": reason} if reason else result


def complier_relative_reduction(known: pd.DataFrame, outcome: str, assignment: str, *, alpha: float = 0.05,
                                draws: int = 10_000, seed: int = 0) -> Estimate:
    """Complier relative reduction, 1 - E[Y(1)|C] / E[Y(0)|C], with a bootstrap that resamples as the design sampled.

    blocked: the complier risks from block-weighted moments, each block's arms resampled on their
    own (a stratified bootstrap); cluster: whole clusters resampled within each arm (Field & Welsh
    2007), the complier risks over reports. Draws are kept on the parameter space as in
    :func:`estimation.complier_relative_reduction`.
    """
    estimand = "complier_relative_risk_reduction"
    y, z, d = (known[c].astype(int).to_numpy() for c in (outcome, "assigned", "received"))
    n = len(known)
    if assignment == "blocked":
        method = ("1 - complier risk ratio from block-weighted moments; percentile bootstrap within blocks and arms, "
                  "draws kept on the parameter space")
        point = blocked_complier_means(known, outcome)
        sizes = pd.crosstab(known[UNIT], z).reindex(columns=[0, 1], fill_value=0)
        problem = ("a block has fewer than two SRC or business-as-usual reports with an outcome"
                   if (sizes < 2).to_numpy().any() else None)
    else:
        method = ("1 - complier risk ratio; percentile bootstrap of whole clusters within arms, draws kept on the "
                  "parameter space")
        point = estimation.complier_means(known, outcome)
        clusters = known.groupby("assigned")[UNIT].nunique()
        problem = ("an arm has fewer than two clusters with an outcome recorded"
                   if len(clusters) < 2 or clusters.min() < 2 else None)
    problem = problem or estimation._instrument_problem(z, d)
    if not problem and not point["compliance"] > 0:
        problem = "the contact was no more often delivered in the SRC arm than in the business-as-usual arm"
    if problem:
        return Estimate.not_estimable(outcome, estimand, method, n, problem)
    if not (0 < point["untreated"] <= 1) or not (0 <= point["treated"] <= 1):
        return Estimate.not_estimable(outcome, estimand, method, n,
                                      "the complier risks fall outside [0, 1] or the complier risk without SRC is 0")
    rng = np.random.default_rng(seed)
    cells = 2 * d + y  # 0: no contact, no event ... 3: contact and event
    shares = (_stratified_shares if assignment == "blocked" else _cluster_shares)(cells, z, known[UNIT].to_numpy(),
                                                                                  draws, rng)
    return estimation.reduction_from_draws(_reduction(*shares), point, outcome=outcome, estimand=estimand,
                                           method=method, n=n, alpha=alpha)


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
    """Complier relative reduction per draw from each arm's cell shares; -inf where unbounded below."""
    compliance = (treated_arm[:, 2] + treated_arm[:, 3]) - (control_arm[:, 2] + control_arm[:, 3])
    with np.errstate(divide="ignore", invalid="ignore"):
        treated = np.clip((treated_arm[:, 3] - control_arm[:, 3]) / compliance, 0, 1)
        untreated = np.clip((control_arm[:, 1] - treated_arm[:, 1]) / compliance, 0, 1)
        reduction = 1 - treated / untreated
    return np.where((compliance > 0) & (untreated > 0), reduction, -np.inf)


def lin_by_design(frame: pd.DataFrame, outcome: str, design: dict, *, covariates: list[str], alpha: float = 0.05,
                  blocked_estimate: Estimate | None = None) -> Estimate:
    """Lin's (2013) covariate-adjusted risk difference under a blocked or cluster design.

    blocked: the block indicators join the plan's covariates (centred and interacted with the
    allocation like them), which makes the estimate block-weighted: with no other covariate it is
    the blocked difference in means exactly; HC2 standard error. cluster: the plan's covariates,
    with a CR2 cluster-robust standard error and Bell-McCaffrey degrees of freedom (as estimatr's
    ``lm_lin(..., clusters =, se_type = "CR2")``).
    """
    estimand = "risk_difference_adjusted_lin"
    known = frame[frame[outcome].notna()]
    blocked = design["assignment"] == "blocked"
    method = ("OLS with centred covariates and block indicators interacted with treatment, HC2, t interval on "
              "n - k df (Lin 2013; as estimatr lm_lin)" if blocked
              else "OLS with centred covariates interacted with treatment (Lin 2013), CR2 cluster-robust standard "
                   "error, Bell-McCaffrey df")
    if known.empty:
        return Estimate.not_estimable(outcome, estimand, method, 0, "no report has an outcome recorded")
    if blocked and blocked_estimate is not None and blocked_estimate.estimate is None:
        return Estimate.not_estimable(outcome, estimand, method, len(known),
                                      blocked_estimate.reason.removeprefix("not estimable: "))
    planned = covariate_design(known, covariates)
    blocks = (pd.get_dummies(known[UNIT], prefix="block", drop_first=True, dtype=float) if blocked
              else pd.DataFrame(index=known.index))
    usable, dropped = independent_columns(pd.concat([blocks, planned], axis=1), keep=tuple(blocks.columns))
    dropped = [c for c in dropped if not c.startswith("block_")]
    if dropped:
        method = f"{method}; dropped as constant or collinear: {', '.join(dropped)}"
    if usable.empty:
        return Estimate.not_estimable(outcome, estimand, method, len(known),
                                      "no baseline covariate varies among these reports")
    problem = (designs._cluster_problem(known, "assigned", UNIT) if not blocked else None) or \
        adjusted._adjustment_problem(known, outcome, "assigned", usable.shape[1] + 1)
    if problem:
        return Estimate.not_estimable(outcome, estimand, method, len(known), problem)
    centred = usable - usable.mean()
    z = known["assigned"].astype(float).rename("treatment")
    x, _ = independent_columns(pd.concat([z, centred, centred.mul(z, axis=0).add_prefix("treatment_x_")], axis=1),
                               keep=("treatment",))
    x = sm.add_constant(x, has_constant="add")
    y = known[outcome].astype(float)
    if blocked:  # t on the residual df, as estimatr's lm_lin (statsmodels' robust default would be normal)
        fit = sm.OLS(y, x).fit(cov_type="HC2", use_t=True)
        estimate, se = float(fit.params["treatment"]), float(fit.bse["treatment"])
        low, high = (float(v) for v in fit.conf_int(alpha=alpha).loc["treatment"])
        p_value, df = float(fit.pvalues["treatment"]), float(fit.df_resid)
    else:
        matrix = x.to_numpy(dtype=float)
        beta = np.linalg.lstsq(matrix, y.to_numpy(), rcond=None)[0]
        variance, df = designs.cr2_variance(matrix, y.to_numpy() - matrix @ beta, known[UNIT].to_numpy())
        k = list(x.columns).index("treatment")
        estimate, se = float(beta[k]), float(np.sqrt(variance[k, k]))
        df = float(df[k])
        critical = stats.t.ppf(1 - alpha / 2, df)
        low, high = estimate - critical * se, estimate + critical * se
        p_value = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else None
    if not (np.isfinite(se) and se > 0):
        return Estimate.not_estimable(outcome, estimand, method, len(known), "the standard error is zero or undefined")
    return _bounded(Estimate(outcome, estimand, estimate, low, high, method, len(known), std_error=se,
                             p_value=p_value, df=df))


# --------------------------------------------------------------------------------------------
# Subgroups and the design section of results.json
# --------------------------------------------------------------------------------------------

def valid_subgroups(wanted: list[str], design: dict) -> tuple[list[str], list[dict]]:
    """The plan's subgroup columns the design supports, and a line for each it does not."""
    assignment = design["assignment"]
    if assignment in ("complete", "simple"):
        return list(wanted), []
    if assignment == "blocked":
        kept = [c for c in wanted if (c,) == columns(design)]
        why = ("within such a subgroup, reports come from blocks with different SRC shares and the subgroup "
               "comparison does not weight them")
    else:
        kept = []
        why = (f"the subgroup intervals and interaction test take reports as independent, while whole "
               f"{noun(design, True)} were randomised")
    return kept, [{"analysis": f"subgroups by {c}", "reason": not_valid(design, why)} for c in wanted if c not in kept]


def describe(design: dict, data: pd.DataFrame, primary: dict | None = None, breaches: int = 0) -> str:
    """The design in one plain sentence, for page 1 of the report."""
    assignment = design["assignment"]
    if assignment == "complete":
        return ("Complete randomisation of reports: a fixed number of reports was allocated to SRC completely at "
                "random; effects compare the two arms directly.")
    if assignment == "simple":
        return (f"Simple randomisation: each report was allocated to SRC with probability {design['probability']:g}, "
                "independently, so the arm sizes were not fixed in advance; randomisation p-values re-draw every "
                "report's allocation the same way.")
    key = units(data, design)
    share = data["assigned"].groupby(key.to_numpy()).mean()
    if assignment == "blocked":
        low, high = float(share.min()), float(share.max())
        shares = (f"with SRC shares from {low:.0%} to {high:.0%}: allocation shares differed by block"
                  if high - low > 0.05 else f"with about the same SRC share ({share.mean():.0%}) in every block")
        return (f"Blocked by {noun(design)}{nesting(design)}: reports were randomised within each of {len(share)} "
                f"{noun(design, True)}, {shares}; effects are block-weighted (each {noun(design)}'s difference "
                "weighted by its number of reports), not a comparison of the arms' pooled risks.")
    # the units randomised: each wholly in one arm; a unit with reports in both arms is a breach, counted apart
    treated, control = int((share == 1).sum()), int((share == 0).sum())
    text = (f"Cluster-randomised by {noun(design)}{nesting(design)}: whole {noun(design, True)} were allocated "
            f"({treated} to SRC, {control} to business as usual), every report following its {noun(design)}; "
            f"intervals and tests allow for reports of the same {noun(design)} being alike (CR2 standard errors with "
            f"Bell-McCaffrey degrees of freedom; randomisation tests re-randomise whole {noun(design, True)})")
    if primary is not None and primary.get("intracluster_correlation") is not None:
        icc = f"{primary['intracluster_correlation']:.3f}".replace("-0.000", "0.000")  # no "-0.000" for a tiny one
        text += (f"; for withdrawal the intra-cluster correlation is {icc} and the "
                 f"design effect {primary['design_effect']:.2f}")
    if breaches:
        text += (f". {breaches} {noun(design) if breaches == 1 else noun(design, True)} had reports in both arms, "
                 "which breaks the design (see the audit flags)")
    return text + "."


def design_result(design: dict, data: pd.DataFrame, outcomes: dict, primary: str, not_valid_analyses: list[dict]
                  ) -> dict:
    """Stage 4's design section: the declared design, its sentence, the estimators and the ICC."""
    entry = outcomes[primary]["design"]
    key = units(data, design)
    breaches = 0
    if design["assignment"] == "cluster":
        arms = data["assigned"].groupby(key.to_numpy()).nunique()
        breaches = int((arms > 1).sum())
    return {
        "assignment": design["assignment"], "name": NAMES[design["assignment"]],
        "blocks": design.get("blocks"), "clusters": design.get("clusters"), "column": column(design),
        "columns": list(columns(design)),
        "probability": design["probability"] if design["assignment"] == "simple" else None,
        "units": None if key is None else int(key.nunique()),
        "description": describe(design, data, entry, breaches),
        "estimators": outcomes[primary]["itt"]["methods"],
        "intracluster_correlation": entry.get("intracluster_correlation"),
        "design_effect": entry.get("design_effect"),
        "icc_outcome": primary if design["assignment"] == "cluster" else None,
        "not_valid": not_valid_analyses,
    }

