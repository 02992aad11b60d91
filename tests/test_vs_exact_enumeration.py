"""Randomisation inference against exact enumeration and against explicit permutation.

Exact reference: under complete randomisation with fixed arm sizes, the number of events in
the SRC arm is hypergeometric, so the exact randomisation p-value is a finite sum (computed
here with math.comb). Independent check of the vectorised shortcut: a plain loop that
permutes the allocation vector itself.
"""
import math

import numpy as np
import pytest

from helpers import estimation
from tests.test_vs_hand_calculation import hypergeometric_pmf, trial

DRAWS = 20_000
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
    result = estimation.randomisation_p(trial(), "attrition", draws=DRAWS, seed=3)
    assert result["two_sided"] == pytest.approx(exact, abs=mc_tolerance(exact, DRAWS))
    assert result["two_sided"] == pytest.approx(0.076, abs=0.01)  # domain.md: Fisher p about 0.076


def test_vectorised_draws_match_a_loop_of_permutations():
    data = trial()
    rng = np.random.default_rng(11)
    y, z = data["attrition"].to_numpy(), data["assigned"].to_numpy()
    observed = y[z == 1].mean() - y[z == 0].mean()
    loops = 4000
    extreme = 0
    for _ in range(loops):
        permuted = rng.permutation(z)
        extreme += abs(y[permuted == 1].mean() - y[permuted == 0].mean()) >= abs(observed) - 1e-12
    looped = (1 + extreme) / (loops + 1)
    vectorised = estimation.randomisation_p(data, "attrition", draws=DRAWS, seed=5)["two_sided"]
    assert vectorised == pytest.approx(looped, abs=mc_tolerance(looped, loops) + mc_tolerance(looped, DRAWS))


def test_same_seed_same_p():
    data = trial()
    assert estimation.randomisation_p(data, "attrition", seed=9) == estimation.randomisation_p(data, "attrition", seed=9)


def test_negative_control_no_effect_gives_a_large_p():
    data = trial(control=(55, 125), complied=(44, 100), not_complied=(11, 25))  # 55 vs 55
    assert estimation.randomisation_p(data, "attrition", draws=5000, seed=1)["two_sided"] > 0.9
