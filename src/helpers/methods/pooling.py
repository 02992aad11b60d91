"""Pooling replications: the SRC effect over several runs of the evaluation, by meta-analysis.

Each run's ``results.json`` holds the two-by-two counts of every outcome (events and reports
with an outcome recorded, by arm). From them this module computes, per run, the log risk ratio
and the risk difference with their variances, exactly as metafor's ``escalc()`` does
(Viechtbauer 2010), and pools them

- by a fixed-effect (inverse-variance) model, and
- by a random-effects model: the between-run variance tau² by restricted maximum likelihood
  (Fisher scoring, Viechtbauer 2005), the interval and test by the modified Hartung-Knapp
  method (Hartung & Knapp 2001, Sidik & Jonkman 2002; its variance factor not below 1, Knapp &
  Hartung 2003, as Röver, Knapp & Friede 2015 recommend), and a prediction interval for the
  effect in a new run (Higgins, Thompson & Spiegelhalter 2009) on the t distribution with
  k - 1 degrees of freedom, as metafor's ``rma(test="adhoc")`` and ``predict()`` compute them.

Why the modification: the unmodified Hartung-Knapp variance is s² / sum(w), with s² the
weighted spread of the runs about their mean. When the runs agree more closely than their
sampling variances lead one to expect (s² < 1), it is smaller than the fixed-effect variance,
however few the runs; when they agree exactly (two extracts made to the same counts, say) it
is zero, and the "95% interval" has no width. Flooring s² at 1 keeps the random-effects
variance at least the fixed-effect one, while keeping the t distribution on k - 1 df.

statsmodels' ``combine_effects`` offers the DerSimonian-Laird and Paule-Mandel estimators of
tau² but not REML, so the estimators are written out here, following metafor 3.8's
``rma.uni()`` step by step (starting value, update, stopping rule), and are tested against its
output (``tests/test_vs_metafor.py``).

The module is pure (counts and arrays in, numbers out): :mod:`helpers.pipeline.pool` reads the
runs and writes the pooled outputs, and :mod:`helpers.report.pooled` draws and renders them.

References
----------
DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical trials. Controlled Clinical
    Trials 7, 177-188.
Hartung, J. & Knapp, G. (2001). A refined method for the meta-analysis of controlled clinical
    trials with binary outcome. Statistics in Medicine 20, 3875-3889.
Knapp, G. & Hartung, J. (2003). Improved tests for a random effects meta-regression with a
    single covariate. Statistics in Medicine 22, 2693-2710.
Higgins, J. P. T. & Thompson, S. G. (2002). Quantifying heterogeneity in a meta-analysis.
    Statistics in Medicine 21, 1539-1558.
Higgins, J. P. T., Thompson, S. G. & Spiegelhalter, D. J. (2009). A re-evaluation of
    random-effects meta-analysis. JRSS A 172, 137-159.
Röver, C., Knapp, G. & Friede, T. (2015). Hartung-Knapp-Sidik-Jonkman approach and its
    modification for random-effects meta-analysis with few studies. BMC Medical Research
    Methodology 15, 99.
Sidik, K. & Jonkman, J. N. (2002). A simple confidence interval for meta-analysis.
    Statistics in Medicine 21, 3153-3159.
Viechtbauer, W. (2005). Bias and efficiency of meta-analytic variance estimators in the
    random-effects model. Journal of Educational and Behavioral Statistics 30, 261-293.
Viechtbauer, W. (2010). Conducting meta-analyses in R with the metafor package. Journal of
    Statistical Software 36(3).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from helpers.methods.tidy import Estimate, truncate_interval

# --------------------------------------------------------------------------------------------
# Effect sizes of one run (metafor's escalc)
# --------------------------------------------------------------------------------------------

CONTINUITY = 0.5  # escalc(add = 1/2, to = "only0"): added to every cell of a table with a zero cell
RISK_RATIO, RISK_DIFFERENCE = "risk_ratio", "risk_difference"
MEASURES = (RISK_RATIO, RISK_DIFFERENCE)


@dataclass(frozen=True)
class StudyCounts:
    """One run's two-by-two table for one outcome: events and reports by arm."""

    label: str
    treatment_events: int
    treatment_n: int
    control_events: int
    control_n: int

    @property
    def n(self) -> int:
        return self.treatment_n + self.control_n

    @property
    def cells(self) -> tuple[int, int, int, int]:
        """(a, b, c, d): SRC events, SRC non-events, BAU events, BAU non-events."""
        return (self.treatment_events, self.treatment_n - self.treatment_events,
                self.control_events, self.control_n - self.control_events)


@dataclass(frozen=True)
class StudyEffect:
    """One run's effect on the analysis scale (log risk ratio, or risk difference).

    ``yi`` and ``vi`` are None when the run is left out of the pooling, ``note`` says why;
    ``corrected`` says that 0.5 was added to the cells because one was zero.
    """

    label: str
    measure: str
    yi: float | None
    vi: float | None
    n: int
    corrected: bool = False
    note: str | None = None

    @property
    def included(self) -> bool:
        return self.yi is not None


def study_effect(counts: StudyCounts, measure: str) -> StudyEffect:
    """Log risk ratio or risk difference of one run, with its large-sample variance.

    As metafor's ``escalc(measure, ai, n1i, ci, n2i)`` with its defaults ``add = 1/2,
    to = "only0", vtype = "LS"``: a table with a zero cell has 0.5 added to each of its four
    cells. Log risk ratio: y = log(a / n1) - log(c / n2), v = 1/a - 1/n1 + 1/c - 1/n2 (Katz
    et al. 1978). Risk difference: y = p1 - p2, v = p1 (1 - p1) / n1 + p2 (1 - p2) / n2.
    For the risk ratio, a run with no events in either arm (or events in every report of both
    arms) says nothing about the ratio and is left out, as ``escalc(drop00 = TRUE)`` does.
    """
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {MEASURES}, not {measure!r}")
    if min(counts.treatment_n, counts.control_n) == 0:
        return StudyEffect(counts.label, measure, None, None, counts.n,
                           note=f"{counts.label}: left out, an arm has no report with an outcome recorded")
    a, b, c, d = counts.cells
    if measure == RISK_RATIO and ((a == 0 and c == 0) or (b == 0 and d == 0)):
        which = "no events" if a == 0 else "events in every report"
        return StudyEffect(counts.label, measure, None, None, counts.n,
                           note=f"{counts.label}: left out of the risk ratio, {which} in both arms "
                                "(metafor escalc drop00 = TRUE)")
    corrected = 0 in (a, b, c, d)
    if corrected:
        a, b, c, d = (cell + CONTINUITY for cell in (a, b, c, d))
    n1, n2 = a + b, c + d
    if measure == RISK_RATIO:
        yi, vi = math.log(a / n1) - math.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2
    else:
        p1, p2 = a / n1, c / n2
        yi, vi = p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    note = (f"{counts.label}: a cell of its table is zero, so 0.5 was added to each cell (metafor escalc default)"
            if corrected else None)
    return StudyEffect(counts.label, measure, yi, vi, counts.n, corrected, note)


# --------------------------------------------------------------------------------------------
# Pooled estimates (metafor's rma.uni and predict)
# --------------------------------------------------------------------------------------------

REML_THRESHOLD = 1e-5  # metafor's control threshold: Fisher scoring stops when tau² moves less than this
REML_MAX_ITER = 100  # metafor's control maxiter
LL0_TOLERANCE = np.finfo(float).eps ** 0.25  # metafor's control tol for its check against tau² = 0


@dataclass(frozen=True)
class Heterogeneity:
    """Cochran's Q with its chi-squared test, tau², I² (a fraction) and H².

    I² and H² follow metafor: for the fixed-effect model from Q, I² = (Q - df) / Q and
    H² = Q / df (Higgins & Thompson 2002); for a random-effects model from tau²,
    I² = tau² / (tau² + s²) and H² = (tau² + s²) / s², with s² the typical within-run variance
    (k - 1) sum(w) / ((sum w)² - sum(w²)), w = 1 / v.
    """

    q: float
    df: int
    p_value: float
    tau2: float
    i2: float
    h2: float


@dataclass(frozen=True)
class PooledEffect:
    """A pooled effect on the analysis scale, with its heterogeneity statistics.

    ``df`` is None for an interval and test on the normal distribution; the prediction
    interval is None for the fixed-effect model. ``variance_factor`` is the Hartung-Knapp s²
    before any flooring (None for the fixed-effect model).
    """

    model: str
    k: int
    estimate: float
    std_error: float
    conf_low: float
    conf_high: float
    p_value: float | None
    df: int | None
    heterogeneity: Heterogeneity
    prediction_low: float | None = None
    prediction_high: float | None = None
    variance_factor: float | None = None


def _arrays(yi, vi) -> tuple[np.ndarray, np.ndarray]:
    y, v = np.asarray(yi, dtype=float), np.asarray(vi, dtype=float)
    if y.shape != v.shape or y.ndim != 1:
        raise ValueError("yi and vi must be one-dimensional and of the same length")
    if len(y) < 2:
        raise ValueError("pooling needs at least two studies")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise ValueError("every effect must be finite and every variance finite and positive")
    return y, v


def cochran_q(yi, vi) -> tuple[float, int, float]:
    """Cochran's Q = sum w (y - mu_FE)², w = 1/v, with its chi-squared p on k - 1 df (Cochran 1954)."""
    y, v = _arrays(yi, vi)
    w = 1 / v
    mu = np.sum(w * y) / np.sum(w)
    q = max(0.0, float(np.sum(w * (y - mu) ** 2)))
    df = len(y) - 1
    return q, df, float(stats.chi2.sf(q, df))


def _typical_variance(v: np.ndarray) -> float:
    """metafor's s² (i2def "1"): (k - 1) / tr(P) with P = W - w w' / sum(w), W = diag(1/v)."""
    w = 1 / v
    return (len(v) - 1) / (np.sum(w) - np.sum(w ** 2) / np.sum(w))


def _heterogeneity(y: np.ndarray, v: np.ndarray, tau2: float, fixed: bool) -> Heterogeneity:
    q, df, p = cochran_q(y, v)
    if fixed:
        i2, h2 = (max(0.0, (q - df) / q) if q > 0 else 0.0), q / df
    else:
        s2 = _typical_variance(v)
        i2, h2 = tau2 / (tau2 + s2), tau2 / s2 + 1
    return Heterogeneity(q, df, p, tau2, float(i2), float(h2))


def fixed_effect(yi, vi, *, conf_level: float = 0.95) -> PooledEffect:
    """Inverse-variance fixed-effect estimate, normal interval and test.

    mu = sum(w y) / sum(w), Var(mu) = 1 / sum(w), w = 1 / v (as ``rma(yi, vi, method="FE")``).
    """
    y, v = _arrays(yi, vi)
    w = 1 / v
    mu, se = float(np.sum(w * y) / np.sum(w)), float(np.sqrt(1 / np.sum(w)))
    z = stats.norm.ppf(1 - (1 - conf_level) / 2)
    return PooledEffect("fixed effect", len(y), mu, se, mu - z * se, mu + z * se,
                        float(2 * stats.norm.sf(abs(mu / se))), None, _heterogeneity(y, v, 0.0, fixed=True))


def tau2_dersimonian_laird(yi, vi) -> float:
    """DerSimonian & Laird (1986): tau² = max(0, (Q - (k - 1)) / (sum w - sum w² / sum w))."""
    y, v = _arrays(yi, vi)
    w = 1 / v
    q, df, _ = cochran_q(y, v)
    return float(max(0.0, (q - df) / (np.sum(w) - np.sum(w ** 2) / np.sum(w))))


def _reml_loglik(y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """Restricted log-likelihood of the intercept-only model (metafor's ll.REML, REMLf = TRUE)."""
    w = 1 / (v + tau2)
    mu = np.sum(w * y) / np.sum(w)
    return float(-0.5 * (len(y) - 1) * np.log(2 * np.pi) - 0.5 * np.sum(np.log(v + tau2))
                 - 0.5 * np.log(np.sum(w)) - 0.5 * np.sum(w * (y - mu) ** 2))


def tau2_reml(yi, vi, *, threshold: float = REML_THRESHOLD, max_iter: int = REML_MAX_ITER) -> float:
    """Between-study variance by restricted maximum likelihood, by Fisher scoring.

    Viechtbauer (2005), eq. 9, as metafor's ``rma.uni(method="REML")`` computes it: start from
    the Hedges (HE) estimate max(0, (sum (y - ybar)² - (k - 1)/k sum v) / (k - 1)); then
    repeat tau² <- tau² + (y'PPy - tr P) / tr(PP), with W = diag(1 / (v + tau²)) and
    P = W - W 1 (1'W1)^-1 1'W, halving a step that would make tau² negative, until tau² moves
    by no more than ``threshold`` (metafor's default 1e-5: a smaller value converges further
    than metafor reports by default). Last, as metafor, tau² is set to 0 when the restricted
    likelihood there is higher (a local maximum).

    Raises
    ------
    RuntimeError
        When the scoring has not converged after ``max_iter`` steps (metafor stops too).
    """
    y, v = _arrays(yi, vi)
    k = len(y)
    tau2 = max(0.0, (np.sum((y - y.mean()) ** 2) - (k - 1) / k * np.sum(v)) / (k - 1))
    for _ in range(max_iter):
        w = 1 / (v + tau2)
        p = np.diag(w) - np.outer(w, w) / np.sum(w)
        py = p @ y
        step = (py @ py - np.trace(p)) / np.sum(p * p)
        while tau2 + step < 0:
            step /= 2
        tau2 += step
        if abs(step) <= threshold:
            break
    else:
        raise RuntimeError(f"REML Fisher scoring did not converge in {max_iter} iterations")
    if _reml_loglik(y, v, 0.0) - _reml_loglik(y, v, tau2) > LL0_TOLERANCE and tau2 > threshold:
        tau2 = 0.0
    return float(max(0.0, tau2))


def random_effects(yi, vi, *, conf_level: float = 0.95, tau2: float | None = None,
                   threshold: float = REML_THRESHOLD, modified: bool = True) -> PooledEffect:
    """Random-effects estimate with the Hartung-Knapp interval and a prediction interval.

    With w = 1 / (v + tau²) (tau² by REML unless given): mu = sum(w y) / sum(w). Hartung &
    Knapp (2001) / Sidik & Jonkman (2002): Var(mu) = s² / sum(w) with
    s² = sum w (y - mu)² / (k - 1); ``modified`` (the default) floors s² at 1 (Knapp & Hartung
    2003; metafor's ``test="adhoc"``), so that Var(mu) is never below 1 / sum(w), the
    fixed-effect variance when tau² = 0; ``modified=False`` is metafor's ``test="knha"``, whose
    interval has no width when the runs agree exactly. Interval and test on the t distribution
    with k - 1 df. Prediction interval (Higgins, Thompson & Spiegelhalter 2009; metafor
    ``predict()``): mu +- t_(k-1) sqrt(Var(mu) + tau²).
    """
    y, v = _arrays(yi, vi)
    k = len(y)
    tau2 = tau2_reml(y, v, threshold=threshold) if tau2 is None else float(tau2)
    w = 1 / (v + tau2)
    mu = float(np.sum(w * y) / np.sum(w))
    rss = float(np.sum(w * (y - mu) ** 2))
    factor = 0.0 if rss <= np.finfo(float).eps else rss / (k - 1)
    s2 = max(1.0, factor) if modified else factor
    se = math.sqrt(s2 / np.sum(w))
    df = k - 1
    t = stats.t.ppf(1 - (1 - conf_level) / 2, df)
    p_value = float(2 * stats.t.sf(abs(mu / se), df)) if se > 0 else None
    half_prediction = t * math.sqrt(se ** 2 + tau2)
    return PooledEffect("random effects", k, mu, se, mu - t * se, mu + t * se, p_value, df,
                        _heterogeneity(y, v, tau2, fixed=False), mu - half_prediction, mu + half_prediction, factor)


# --------------------------------------------------------------------------------------------
# One outcome over the runs, as tidy rows
# --------------------------------------------------------------------------------------------

METHODS = {
    "fixed effect": "fixed effect, inverse variance",
    "random effects": "random effects, REML tau², modified Hartung-Knapp interval (variance factor at least 1; "
                      "t, k - 1 df)",
}


def _as_estimate(fit: PooledEffect, outcome: str, measure: str, n: int) -> Estimate:
    """A pooled effect as the tidy row; risk ratios exponentiated (std_error stays on the log scale)."""
    low, high, reason = _reporting_interval(fit.conf_low, fit.conf_high, measure)
    if fit.std_error <= 0:
        reason = "the runs agree exactly, so the interval has no width"
    return Estimate(outcome, measure, _reporting_scale(fit.estimate, measure), low, high, METHODS[fit.model], n,
                    std_error=fit.std_error, p_value=fit.p_value, reason=reason)


def _reporting_scale(value: float, measure: str) -> float:
    """A value on the analysis scale as reported: a risk ratio exponentiated, a risk difference as is."""
    return math.exp(value) if measure == RISK_RATIO else float(value)


def _reporting_interval(low: float, high: float, measure: str) -> tuple[float, float, str | None]:
    """An interval on the reporting scale; a risk difference's cut to [-1, 1], with a note when it was."""
    if measure == RISK_RATIO:
        return math.exp(low), math.exp(high), None
    return truncate_interval(float(low), float(high), -1.0, 1.0)


def floored_hartung_knapp(factor: float, narrower: bool) -> str:
    """The note on a Hartung-Knapp variance factor raised to 1 (``narrower``: the unmodified random-effects
    standard error would have been below the fixed-effect one)."""
    agree = "agree exactly" if factor == 0 else "agree more closely than their sampling variances lead one to expect"
    unmodified = ("Unmodified, the random-effects interval would have no width at all; " if factor == 0 else
                  "Unmodified, the random-effects interval would be narrower than the fixed-effect one; " if narrower
                  else "")
    return (f"The runs {agree} (Hartung-Knapp variance factor {factor:.3g}, below 1). {unmodified}"
            f"{'t' if unmodified else 'T'}he factor is raised to 1, so the random-effects variance is not below what "
            "the estimated between-run variance gives (modified Hartung-Knapp: Knapp & Hartung 2003; Röver, Knapp & "
            "Friede 2015).")


def pool_outcome(counts: list[StudyCounts], outcome: str, measure: str, *, conf_level: float = 0.95) -> dict:
    """Pool one outcome's runs on one measure: per-run effects, both models, heterogeneity.

    Returns a dict ready for JSON: ``studies`` (each run's effect, interval and whether it was
    corrected or left out), ``fixed_effect`` and ``random_effects`` (:class:`Estimate` rows;
    the random-effects row with its ``df``), ``prediction_interval``, ``heterogeneity``,
    ``k`` and ``notes``. With fewer than two runs left, the pooled rows are not estimable.
    """
    effects = [study_effect(c, measure) for c in counts]
    included = [e for e in effects if e.included]
    notes = [e.note for e in effects if e.note]
    entry = {"k": len(included), "studies": [_study_row(e, conf_level) for e in effects], "notes": notes}
    n = sum(e.n for e in included)
    if len(included) < 2:
        reason = f"fewer than two runs can be pooled on this measure ({len(included)})"
        for key, model in (("fixed_effect", "fixed effect"), ("random_effects", "random effects")):
            entry[key] = Estimate.not_estimable(outcome, measure, METHODS[model], n, reason).unstamped()
        entry.update(prediction_interval=[None, None], heterogeneity=None)
        return entry
    y, v = [e.yi for e in included], [e.vi for e in included]
    fe, re = fixed_effect(y, v, conf_level=conf_level), random_effects(y, v, conf_level=conf_level)
    het = re.heterogeneity
    if re.variance_factor < 1:  # the reported standard error is the floored one: sqrt(1 / sum of weights)
        unmodified_se = re.std_error * math.sqrt(re.variance_factor)
        notes.append(floored_hartung_knapp(re.variance_factor, narrower=unmodified_se < fe.std_error))
    *prediction, cut = _reporting_interval(re.prediction_low, re.prediction_high, measure)
    if cut:
        notes.append(f"prediction {cut}")
    entry.update(
        fixed_effect=_as_estimate(fe, outcome, measure, n).unstamped(),
        random_effects={**_as_estimate(re, outcome, measure, n).unstamped(), "df": re.df},
        prediction_interval=prediction,
        heterogeneity={"q": het.q, "df": het.df, "p_value": het.p_value, "tau2": het.tau2,
                       "tau": math.sqrt(het.tau2), "i2": het.i2, "h2": het.h2,
                       "i2_from_q": fe.heterogeneity.i2},
        scale="log risk ratio" if measure == RISK_RATIO else "risk difference",
        log_scale={"fixed_effect": _scale_row(fe), "random_effects": _scale_row(re)},
    )
    return entry


def _scale_row(fit: PooledEffect) -> dict:
    """The pooled effect on the analysis scale (log risk ratio or risk difference)."""
    return {"estimate": fit.estimate, "std_error": fit.std_error, "conf_low": fit.conf_low,
            "conf_high": fit.conf_high, "prediction_low": fit.prediction_low, "prediction_high": fit.prediction_high}


def _study_row(effect: StudyEffect, conf_level: float) -> dict:
    """One run's effect and its normal interval, on the reporting scale (ratios exponentiated)."""
    row = {"run": effect.label, "included": effect.included, "corrected": effect.corrected, "n": effect.n,
           "estimate": None, "conf_low": None, "conf_high": None, "yi": effect.yi, "vi": effect.vi}
    if effect.included:
        half = stats.norm.ppf(1 - (1 - conf_level) / 2) * math.sqrt(effect.vi)
        low, high, _ = _reporting_interval(effect.yi - half, effect.yi + half, effect.measure)
        row.update(estimate=_reporting_scale(effect.yi, effect.measure), conf_low=low, conf_high=high)
    return row


# --------------------------------------------------------------------------------------------
# Reading the runs
# --------------------------------------------------------------------------------------------
