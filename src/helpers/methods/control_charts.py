"""Statistical process control of a proportion: p-chart, Laney's p' chart, Anhøj's run rules, funnel limits.

Delivery of the contact is a proportion per month (the force's live wards) and per ward (since it
went live). Limits separate a month or a ward that differs from the rest from the noise that
counts of this size always show:

- p-chart (Shewhart; Montgomery, *Introduction to Statistical Quality Control*, 7th ed., 2013,
  section 7.2): centre line p̄ = Σ delivered / Σ reports, limits p̄ ± 3 σ_i with
  σ_i = sqrt(p̄ (1 − p̄) / n_i);
- Laney's p' chart (Laney 2002, *Quality Engineering* 14(4):531–537): when months differ by more
  than binomial noise (large counts make any real month-to-month variation look like a signal),
  σ_i is multiplied by σ_z, the moving-range estimate of the standard deviation of the z-scores
  z_i = (p_i − p̄) / σ_i: σ_z = mean |z_i − z_{i−1}| / 1.128. The chart used is p' when σ_z > 1;
- Anhøj's run rules (Anhøj & Olesen 2014, *PLoS ONE* 9(11):e113825): non-random variation when the
  longest run of points on one side of the median is longer than round(log2(n) + 3), or the
  number of times the line crosses the median is below the 5th percentile of Binomial(n − 1, 0.5),
  n being the points not on the median;
- funnel plot (Spiegelhalter 2005, *Statistics in Medicine* 24:1185–1202): each ward's rate against
  its number of reports, with exact binomial limits around the force's rate, interpolated between
  counts (his appendix A.1.1), at 95% (±1.96 SD) and 99.8% (±3.09 SD).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

SIGMA = 3.0  # Shewhart's 3-sigma limits
D2 = 1.128  # E[moving range of two] / sigma for a normal variable (Montgomery, Appendix VI)
FUNNEL_LEVELS = {"95": 0.95, "998": 0.998}  # column suffixes: 95% and 99.8%


def p_chart(reports: np.ndarray | pd.Series, delivered: np.ndarray | pd.Series) -> pd.DataFrame:
    """A p-chart, or Laney's p' where the points vary more than binomially, with Anhøj's run rules.

    Parameters
    ----------
    reports, delivered
        Counts per period, in time order (periods with no report are left out by the caller).

    Returns
    -------
    DataFrame
        One row per period: ``rate``, ``centre``, ``lower_limit``, ``upper_limit`` (clipped to
        [0, 1]), ``outside`` (beyond a limit), ``signal`` (outside, or part of a run-rule
        signal); ``attrs`` holds the chart (``p`` or ``laney``), ``sigma_z`` and the run rules.
    """
    n = np.asarray(reports, dtype=float)
    d = np.asarray(delivered, dtype=float)
    rate = np.divide(d, n, out=np.full_like(n, np.nan), where=n > 0)
    centre = d.sum() / n.sum() if n.sum() else math.nan
    sigma = np.sqrt(centre * (1 - centre) / n)
    sigma_z = laney_sigma_z(rate, centre, sigma)
    chart = "laney" if sigma_z > 1 else "p"
    spread = SIGMA * sigma * (sigma_z if chart == "laney" else 1.0)
    lower, upper = np.clip(centre - spread, 0, 1), np.clip(centre + spread, 0, 1)
    outside = (rate < lower) | (rate > upper)
    runs = anhoej_rules(rate)
    frame = pd.DataFrame({"reports": n.astype(int), "delivered": d.astype(int), "rate": rate, "centre": centre,
                          "lower_limit": lower, "upper_limit": upper, "outside": outside,
                          "signal": outside | runs["signal"]})
    frame.attrs.update(chart=chart, sigma_z=sigma_z, runs=runs)
    return frame


def laney_sigma_z(rate: np.ndarray, centre: float, sigma: np.ndarray) -> float:
    """Laney's σ_z: the moving-range SD of the z-scores (1 when the points vary binomially)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.asarray(rate) - centre) / np.asarray(sigma)
    z = z[np.isfinite(z)]
    if len(z) < 2:
        return 1.0
    return float(np.mean(np.abs(np.diff(z))) / D2)


def anhoej_rules(values: np.ndarray) -> dict:
    """Anhøj's rules for non-random variation around the median.

    Returns the longest run and its limit, the crossings and their limit, and ``signal``: one
    boolean a point, true for every point when either rule signals (a shift affects the whole
    series, not one point).
    """
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    median = float(np.median(finite)) if len(finite) else math.nan
    side = np.sign(finite - median)
    useful = side[side != 0]
    n = len(useful)
    longest = _longest_run(useful)
    crossings = int(np.sum(useful[1:] != useful[:-1])) if n else 0
    run_limit = round(math.log2(n) + 3) if n else 0
    crossing_limit = int(stats.binom.ppf(0.05, n - 1, 0.5)) if n > 1 else 0
    long_run, few_crossings = n > 0 and longest > run_limit, n > 1 and crossings < crossing_limit
    signal = np.full(len(values), bool(long_run or few_crossings))
    return {"median": median, "useful_points": n, "longest_run": longest, "longest_run_limit": run_limit,
            "crossings": crossings, "crossings_limit": crossing_limit, "long_run": bool(long_run),
            "few_crossings": bool(few_crossings), "signal": signal}


def _longest_run(sides: np.ndarray) -> int:
    if not len(sides):
        return 0
    changes = np.flatnonzero(np.diff(sides) != 0)
    edges = np.r_[-1, changes, len(sides) - 1]
    return int(np.max(np.diff(edges)))


def funnel_limit(n: np.ndarray | float, target: float, level: float, side: str) -> np.ndarray:
    """Exact binomial funnel limit for ``n`` reports around ``target`` (Spiegelhalter 2005, A.1.1).

    The limit is the ``level``-two-sided quantile r of Binomial(n, target), interpolated so that
    it moves smoothly with n: with P = 1 − (1 − level)/2 (upper) or (1 − level)/2 (lower),
    α = (F(r) − P) / (F(r) − F(r − 1)) and the limit is (r − α) / n.
    """
    n = np.atleast_1d(np.asarray(n, dtype=float))
    tail = (1 - level) / 2
    probability = 1 - tail if side == "upper" else tail
    r = stats.binom.ppf(probability, n, target)
    at_r, below_r = stats.binom.cdf(r, n, target), stats.binom.cdf(r - 1, n, target)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha = np.where(at_r > below_r, (at_r - probability) / (at_r - below_r), 0.0)
        limit = np.where(n > 0, (r - alpha) / n, np.nan)
    return np.clip(limit, 0, 1)


def funnel(reports: np.ndarray | pd.Series, delivered: np.ndarray | pd.Series, *,
           target: float | None = None) -> pd.DataFrame:
    """Each unit's rate with its 95% and 99.8% funnel limits around ``target`` (default: the pooled rate).

    ``flagged`` marks a unit below the lower 99.8% limit: delivery lower than chance alone would
    give a unit of its size once in 1,000.
    """
    n = np.asarray(reports, dtype=float)
    d = np.asarray(delivered, dtype=float)
    target = d.sum() / n.sum() if target is None else target
    rate = np.divide(d, n, out=np.full_like(n, np.nan), where=n > 0)
    frame = pd.DataFrame({"reports": n.astype(int), "delivered": d.astype(int), "rate": rate, "target": target})
    for name, level in FUNNEL_LEVELS.items():
        frame[f"lower_{name}"] = funnel_limit(n, target, level, "lower")
        frame[f"upper_{name}"] = funnel_limit(n, target, level, "upper")
    frame["flagged"] = frame["rate"] < frame["lower_998"]
    return frame


def funnel_curve(target: float, largest: int, points: int = 200) -> pd.DataFrame:
    """The funnel's limits drawn as lines, from 1 report to ``largest``."""
    n = np.unique(np.geomspace(1, max(largest, 2), points).round())
    curve = pd.DataFrame({"reports": n})
    for name, level in FUNNEL_LEVELS.items():
        curve[f"lower_{name}"] = funnel_limit(n, target, level, "lower")
        curve[f"upper_{name}"] = funnel_limit(n, target, level, "upper")
    return curve
