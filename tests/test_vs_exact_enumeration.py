"""Randomisation inference against exact enumeration and against explicit permutation.

Exact reference: under complete randomisation with fixed arm sizes, the number of events in
the SRC arm is hypergeometric, so the exact randomisation p-value is a finite sum (computed
here with math.comb). Independent check of the vectorised shortcut: a plain loop that
permutes the allocation vector itself.
"""
import math

import numpy as np
import pytest

from helpers.methods import differences, randomisation
from tests.test_vs_hand_calculation import hypergeometric_pmf, trial

MC_SIGMAS = 4  # Monte Carlo error allowed: 4 standard errors of a proportion estimated from the draws


def exact_two_sided(treated_events=54, treated_n=125, control_n=125, events=123):
    observed = treated_events / treated_n - (events - treated_events) / control_n
    return sum(hypergeometric_pmf(x, treated_n, control_n, events)
               for x in range(max(0, events - control_n), min(events, treated_n) + 1)
               if abs(x / treated_n - (events - x) / control_n) >= abs(observed) - 1e-12)


def mc_tolerance(p, draws):
    return MC_SIGMAS * math.sqrt(p * (1 - p) / draws)


def test_randomisation_p_matches_exact_enumeration():
    exact = exact_two_sided()
    result = randomisation.randomisation_p(trial(), "attrition")
    assert result["two_sided"] == pytest.approx(exact, rel=1e-12)
    assert result["two_sided"] == pytest.approx(0.076, abs=0.01)  # the published Fisher p, about 0.076


def test_randomisation_p_equals_fisher_with_equal_arms():
    """With equal arms the hypergeometric is symmetric: |difference| and Fisher's ordering agree."""
    from scipy.stats import fisher_exact
    result = randomisation.randomisation_p(trial(), "attrition")
    assert result["two_sided"] == pytest.approx(fisher_exact([[54, 71], [69, 56]]).pvalue, rel=1e-12)
    assert result["one_sided"] == pytest.approx(fisher_exact([[54, 71], [69, 56]], alternative="less").pvalue,
                                                rel=1e-12)


def test_a_loop_of_permutations_agrees_with_the_exact_p():
    """Independent check: permute the allocation vector itself; agree within Monte Carlo error."""
    data = trial()
    rng = np.random.default_rng(11)
    y, z = data["attrition"].to_numpy(), data["assigned"].to_numpy()
    observed = y[z == 1].mean() - y[z == 0].mean()
    loops = 4000
    extreme = sum(abs(y[p == 1].mean() - y[p == 0].mean()) >= abs(observed) - 1e-12
                  for p in (rng.permutation(z) for _ in range(loops)))
    exact = randomisation.randomisation_p(data, "attrition")["two_sided"]
    assert extreme / loops == pytest.approx(exact, abs=mc_tolerance(exact, loops))


def test_one_sided_p_looks_in_the_outcome_direction():
    """Charge 8 vs 7 of 125, to be increased: R's fisher.test(matrix(c(8, 117, 7, 118), 2), alternative =
    "greater") gives 0.5, and the randomisation p in that direction is the same sum."""
    import pandas as pd
    data = pd.DataFrame({"assigned": [1] * 125 + [0] * 125, "received": [1] * 125 + [0] * 125,
                         "charge": [1] * 8 + [0] * 117 + [1] * 7 + [0] * 118})
    result = randomisation.randomisation_p(data, "charge", direction="increase")
    assert result["one_sided"] == pytest.approx(differences.fisher_exact_p(data, "charge", alternative="greater"))
    assert result["one_sided"] == pytest.approx(0.5, abs=0.01)


def test_negative_control_no_effect_gives_a_large_p():
    data = trial(control=(55, 125), complied=(44, 100), not_complied=(11, 25))  # 55 vs 55
    assert randomisation.randomisation_p(data, "attrition")["two_sided"] > 0.9
