"""Complete randomisation: exact arm sizes, every arrangement equally likely."""
import numpy as np

from helpers.methods.permutation import complete_randomisations


def test_every_draw_has_the_planned_arm_sizes():
    draws = np.concatenate(list(complete_randomisations(3, 8, 5000, seed=1)))
    assert draws.shape == (5000, 8)
    assert (draws.sum(axis=1) == 3).all()


def test_each_report_is_treated_with_probability_treated_over_n():
    draws = np.concatenate(list(complete_randomisations(3, 8, 20000, seed=2)))
    # binomial standard error of a share from 20,000 draws is about 0.0034; allow 4 of them
    assert np.allclose(draws.mean(axis=0), 3 / 8, atol=0.014)


def test_chunks_cover_all_draws():
    chunks = list(complete_randomisations(50, 100, 123_457, seed=3))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) == 123_457
