"""A roll-out planned as a stepped-wedge trial: its randomised order, its power, its randomisation test.

Rolling SRC out ward by ward in a randomised order keeps causal evidence while the policy spreads
(a stepped-wedge cluster randomised trial; Hemming et al. 2015, *BMJ* 350:h391). Here:

- :func:`randomise_order` deals wards to steps at random, stratified by borough if asked: within
  each borough the wards are shuffled and dealt in turn to the steps, continuing from one borough
  to the next, so each step gets a share of every borough and the steps' sizes differ by at most one;
  the steps' labels are then shuffled, so which steps get the extra wards is random too;
- :func:`hussey_hughes_variance` is the variance of the effect estimate under Hussey and Hughes'
  (2007, *Contemporary Clinical Trials* 28:182–191) linear mixed model for cluster-period means,
  Y_ij = μ + β_j + X_ij θ + α_i + e_ij, α_i ~ N(0, τ²), e_ij ~ N(0, σ²/m): their equation 8,

      Var(θ̂) = I σ²_m (σ²_m + T τ²) / [(I U − W) σ²_m + (U² + I T U − T W − I V) τ²],

  with I clusters, T periods, σ²_m = σ²/m, U = Σ_ij X_ij, W = Σ_j (Σ_i X_ij)², V = Σ_i (Σ_j X_ij)²;
- :func:`hussey_hughes_power` is their equation 9: Φ(|θ| / sqrt(Var(θ̂)) − z_{1−α/2});
- :func:`randomisation_test` re-draws the order with the same procedure and seed-independent draws,
  and compares the observed staggered estimate with its distribution when the order carries no
  effect (Fisher's randomisation test; for staggered roll-outs, Roth and Sant'Anna 2023, *Journal
  of Political Economy Microeconomics* 1(4):669–709).

For a binary outcome with risk p the within-ward variance is σ² = p(1 − p) and the between-ward
variance follows from the intra-cluster correlation ρ: τ² = ρ σ² / (1 − ρ).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from helpers.methods import staggered


def design_matrix(clusters_per_step: list[int]) -> np.ndarray:
    """X (clusters x periods): 0 before a cluster's step, 1 from it; period 1 all control, T = steps + 1."""
    steps = len(clusters_per_step)
    rows = [[1 if period >= step else 0 for period in range(steps + 1)]
            for step, size in enumerate(clusters_per_step, start=1) for _ in range(size)]
    return np.array(rows, dtype=float)


def hussey_hughes_variance(x: np.ndarray, *, sigma2: float, tau2: float, m: float) -> float:
    """Var(θ̂) of Hussey and Hughes (2007), eq. 8, for design ``x`` (clusters x periods), m reports per cell."""
    clusters, periods = x.shape
    s2 = sigma2 / m
    u = x.sum()
    w = (x.sum(axis=0) ** 2).sum()
    v = (x.sum(axis=1) ** 2).sum()
    denominator = (clusters * u - w) * s2 + (u ** 2 + clusters * periods * u - periods * w - clusters * v) * tau2
    if denominator <= 1e-12 * clusters * s2 * (s2 + periods * tau2):  # every cluster switches at once: no contrast
        return math.inf
    return float(clusters * s2 * (s2 + periods * tau2) / denominator)


def hussey_hughes_power(effect: float, variance: float, alpha: float = 0.05) -> float:
    """Power of the two-sided test at level ``alpha`` (Hussey and Hughes 2007, eq. 9)."""
    if not math.isfinite(variance):
        return 0.0
    return float(stats.norm.cdf(abs(effect) / math.sqrt(variance) - stats.norm.ppf(1 - alpha / 2)))


def binary_variances(risk: float, icc: float) -> tuple[float, float]:
    """σ² and τ² of a binary outcome with mean ``risk`` and intra-cluster correlation ``icc``."""
    sigma2 = risk * (1 - risk)
    return sigma2, icc * sigma2 / (1 - icc)


def plan_power(*, clusters_per_step: list[int], baseline_risk: float, effect: float, icc: float,
               reports_per_ward_period: float, alpha: float) -> dict:
    """The stepped-wedge design's variance and power, with every assumption it rests on."""
    x = design_matrix(clusters_per_step)
    # the variance at the mean risk of the two conditions, as Hussey and Hughes' example does
    sigma2, tau2 = binary_variances(baseline_risk + effect / 2, icc)
    variance = hussey_hughes_variance(x, sigma2=sigma2, tau2=tau2, m=reports_per_ward_period)
    return {"variance": variance, "std_error": math.sqrt(variance),
            "power": hussey_hughes_power(effect, variance, alpha), "sigma2": sigma2, "tau2": tau2,
            "clusters": int(x.shape[0]), "periods": int(x.shape[1]),
            "method": "Hussey & Hughes (2007) eq. 8 (variance) and eq. 9 (power), linear mixed model of ward-period "
                      "means with fixed period effects and a random ward intercept; binary outcome at the mean "
                      "risk of the two conditions"}


# -- the order --------------------------------------------------------------------------------------

def randomise_order(wards: pd.DataFrame, steps: int, rng: np.random.Generator, *, stratify: bool) -> np.ndarray:
    """The step (1 .. steps) of each ward (rows of ``wards``, with ``borough``), drawn at random."""
    n = len(wards)
    order = []
    groups = wards.groupby("borough", sort=True).indices.values() if stratify else [np.arange(n)]
    for rows in groups:
        order.extend(rng.permutation(rows))
    dealt = np.empty(n, dtype=int)
    dealt[np.array(order, dtype=int)] = np.arange(n) % steps
    labels = rng.permutation(steps) + 1
    return labels[dealt]


def randomisation_test(panel: staggered.Panel, plan: dict, observed: float, *, draws: int, seed: int) -> dict:
    """Two-sided randomisation p-value of the overall staggered effect under the plan's own randomisation.

    Each draw re-deals the wards to the plan's steps with :func:`randomise_order` (same strata, same
    number of steps), gives each ward its step's planned go-live month, and recomputes the overall
    estimate on the same data. Under the sharp null (going live changes no report's outcome) the
    observed estimate is one draw of this distribution; p = (1 + #{|draw| ≥ |observed|}) / (1 + draws).
    """
    wards = pd.DataFrame(plan["wards"])
    key = (wards["borough"].str.casefold() + "\x1f" + wards["ward"].str.casefold())
    position = pd.Series(np.arange(len(wards)), index=key)
    in_panel = position.reindex(panel.wards["key"]).to_numpy()
    step_month = {int(s): _month_index(panel.months, pd.Timestamp(d)) for s, d in plan["step_dates"].items()}
    rng = np.random.default_rng(seed)
    statistics = np.empty(draws)
    for start in range(0, draws, staggered.DRAW_CHUNK):
        size = min(staggered.DRAW_CHUNK, draws - start)
        steps = np.array([randomise_order(wards, plan["steps"], rng, stratify=plan["stratified_by"] == "borough")
                          for _ in range(size)])[:, in_panel]
        firsts = np.vectorize(step_month.get)(steps).astype(float)
        statistics[start:start + size] = _overall_for_orders(panel, firsts)
    finite = statistics[np.isfinite(statistics)]
    p = (1 + np.sum(np.abs(finite) >= abs(observed) - 1e-12)) / (1 + len(finite))
    return {"p_value": float(p), "draws": int(len(finite)), "statistic": "overall staggered effect",
            "method": "randomisation test: the plan's stratified order re-drawn, the overall estimate recomputed "
                      "(Fisher's sharp null of no effect of going live)"}


def _month_index(months: pd.DatetimeIndex, date: pd.Timestamp) -> float:
    first = date.to_period("M").to_timestamp()
    if date.day != 1:
        first = first + pd.offsets.MonthBegin(1)
    return float(np.searchsorted(months.values, first.to_datetime64())) if first <= months[-1] else staggered.NEVER


def _overall_for_orders(panel: staggered.Panel, firsts: np.ndarray) -> np.ndarray:
    """The overall estimate for each re-drawn order (rows of ``firsts``: each ward's first live month)."""
    cohorts = np.unique(np.r_[firsts.ravel(), staggered.NEVER])
    weights = (firsts[:, None, :] == cohorts[None, :, None]).astype(float)
    grid = staggered.cells(cohorts, len(panel.months))
    effects, cell_weights = staggered.cell_effects(*staggered.cohort_sums(weights, panel), cohorts, grid)
    return staggered.aggregate(effects, cell_weights, (grid["t"] >= grid["g"]).to_numpy())
