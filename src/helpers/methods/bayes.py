"""The Bayesian probability that SRC reduces the outcome: Beta-binomial posteriors of the arms' risks.

It credits SRC with an effect, so it is not estimable when the allocation did not change delivery
(:mod:`helpers.methods.identification`); and it pools each arm's reports, so it is valid only
where reports were randomised one by one (complete or simple randomisation).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import integrate, stats

from helpers.methods.arms import TwoByTwo
from helpers.methods.design import COMPLETE, Design
from helpers.methods.identification import not_an_effect

METHOD = "Beta-binomial posteriors, numerical integration"


def probability_of_benefit(data: pd.DataFrame, outcome: str, design: Design = COMPLETE, *,
                           prior: tuple[float, float] = (1.0, 1.0), relative_threshold: float = 0.10,
                           identification: dict | None = None) -> dict:
    """The posterior probabilities that SRC reduces the risk under ``design``, or why they are not estimable:
    no effect to credit SRC with (``identification``), or a design whose arms cannot be pooled."""
    a, b = (float(v) for v in prior)
    base = {"relative_threshold": relative_threshold, "prior": f"Beta({a:g}, {b:g}) in each arm", "method": METHOD}
    why = not_an_effect(identification) or design.unsupported("probability_of_benefit")
    if why:
        return {**base, "probability_of_reduction": None, "probability_of_relative_reduction_at_least": None,
                "reason": f"not estimable: {why}"}
    return posterior_reduction(data, outcome, prior=prior, relative_threshold=relative_threshold)


def posterior_reduction(data: pd.DataFrame, outcome: str, *, treatment: str = "assigned",
                        prior: tuple[float, float] = (1.0, 1.0), relative_threshold: float = 0.10) -> dict:
    """Posterior probabilities that SRC reduces the risk, by numerical integration.

    With independent Beta(a, b) priors on each arm's risk, the posteriors are Beta(a + events,
    b + non-events), and P(p_SRC < c p_BAU) = integral of f_BAU(x) F_SRC(c x) dx over [0, 1]
    (adaptive quadrature; no draws, so no Monte Carlo error).
    """
    c = TwoByTwo.from_data(data, outcome, treatment)
    a, b = (float(v) for v in prior)
    base = {"relative_threshold": relative_threshold, "prior": f"Beta({a:g}, {b:g}) in each arm", "method": METHOD}
    if c.empty_arm:
        return {**base, "probability_of_reduction": None, "probability_of_relative_reduction_at_least": None,
                "reason": f"not estimable: {c.empty_arm}"}
    src = stats.beta(a + c.treatment_events, b + c.treatment_n - c.treatment_events)
    bau = stats.beta(a + c.control_events, b + c.control_n - c.control_events)
    below = lambda factor: float(np.clip(integrate.quad(lambda x: bau.pdf(x) * src.cdf(factor * x), 0, 1,
                                                        epsabs=1e-11, epsrel=1e-10, limit=200)[0], 0, 1))
    return {**base, "probability_of_reduction": below(1.0),
            "probability_of_relative_reduction_at_least": below(1 - relative_threshold)}
