"""Covariate adjustment, weak-instrument sets, subgroups and scenarios against direct computation.

References computed here with numpy from the formulas in the cited papers, independent of the
statsmodels calls the code makes: Lin (2013) by least squares with the HC2 sandwich written
out; the logistic marginal difference by predicting every report with and without SRC; the
Anderson-Rubin set by testing a grid of effects one by one.
"""
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.methods import adjusted_lin, anderson_rubin, logistic, robust, subgroups
from helpers.methods.covariates import covariate_design
from helpers.methods.extrapolation import delivery_scenarios

SIGNIFICANT = 1e-6


def test_lin_estimator_by_least_squares_and_hc2(analysis):
    known = analysis
    X = covariate_design(known)
    Xc = (X - X.mean()).to_numpy()
    z = known["assigned"].to_numpy(float)
    design = np.column_stack([np.ones(len(z)), z, Xc, Xc * z[:, None]])
    y = known["attrition"].to_numpy(float)
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    bread = np.linalg.inv(design.T @ design)
    leverage = np.einsum("ij,jk,ik->i", design, bread, design)
    meat = (design * (residual ** 2 / (1 - leverage))[:, None]).T @ design  # HC2 (MacKinnon & White 1985)
    se = np.sqrt((bread @ meat @ bread)[1, 1])
    lin = adjusted_lin.lin_estimator(analysis, "attrition")
    assert lin.estimate == pytest.approx(beta[1], rel=SIGNIFICANT)
    assert lin.std_error == pytest.approx(se, rel=SIGNIFICANT)


def test_logistic_marginal_difference_by_prediction(analysis):
    import statsmodels.api as sm
    X = covariate_design(analysis)
    design = sm.add_constant(pd.concat([analysis["assigned"].astype(float).rename("treatment"), X], axis=1))
    fit = sm.Logit(analysis["attrition"].astype(float), design).fit(disp=0)
    with_src, without = design.assign(treatment=1.0), design.assign(treatment=0.0)
    expected = float(np.mean(fit.predict(with_src) - fit.predict(without)))
    estimate = logistic.logistic_marginal_difference(analysis, "attrition")
    assert estimate.estimate == pytest.approx(expected, rel=1e-6)
    assert estimate.conf_low < estimate.estimate < estimate.conf_high


def ar_accepts(data, b, alpha=0.05):
    """Anderson-Rubin test of effect b: is the ITT effect on Y - b D zero? (Welch-type z)."""
    u = data["attrition"] - b * data["received"]
    t, c = u[data["assigned"] == 1], u[data["assigned"] == 0]
    z = (t.mean() - c.mean()) / np.sqrt(t.var(ddof=1) / len(t) + c.var(ddof=1) / len(c))
    return abs(z) <= stats.norm.ppf(1 - alpha / 2)


def test_anderson_rubin_interval_by_grid(analysis):
    ar = anderson_rubin.anderson_rubin_interval(analysis, "attrition")
    low, high = ar["interval"]
    grid = np.linspace(-0.6, 0.4, 2001)
    accepted = grid[[ar_accepts(analysis, b) for b in grid]]
    assert ar["shape"] == "interval"
    assert low == pytest.approx(accepted.min(), abs=6e-4) and high == pytest.approx(accepted.max(), abs=6e-4)
    assert ar["first_stage_f"] > 100 and not ar["weak_instrument"]


def test_weak_instrument_gives_an_unbounded_set():
    """Three compliers among 200 allocated: first-stage F of about 3, below the 3.84 that bounds the set."""
    rng = np.random.default_rng(4)
    n = 400
    z = np.r_[np.ones(n // 2), np.zeros(n // 2)].astype(int)
    d = np.zeros(n, dtype=int)
    d[:3] = 1
    y = (rng.random(n) < 0.5).astype(int)
    ar = anderson_rubin.anderson_rubin_interval(pd.DataFrame({"assigned": z, "received": d, "attrition": y}), "attrition")
    assert ar["weak_instrument"]
    assert ar["shape"] != "interval"


def test_subgroup_interaction_detects_a_built_in_interaction():
    rng = np.random.default_rng(5)
    n = 4000
    group = rng.choice(["a", "b"], n)
    z = rng.permutation(np.r_[np.ones(n // 2), np.zeros(n // 2)]).astype(int)
    risk = 0.5 - np.where(group == "a", 0.25, 0.0) * z  # SRC works in a only
    data = pd.DataFrame({"assigned": z, "group": group, "attrition": (rng.random(n) < risk).astype(int)})
    result = subgroups.subgroup_effects(data, "attrition", "group")
    assert result["interaction_p_value"] < 1e-6
    levels = {row["subgroup"]: row for row in result["levels"]}
    assert levels["a"]["risk_difference"] == pytest.approx(-0.25, abs=0.05)
    assert levels["b"]["conf_low"] < 0 < levels["b"]["conf_high"]


def test_subgroups_on_shipped_data_are_not_significant(analysis):
    for by in ("primary_strand", "offence_group", "borough"):
        result = subgroups.subgroup_effects(analysis, "attrition", by)
        assert sum(row["n"] for row in result["levels"]) == 250
        assert result["interaction_p_value"] > 0.01


def test_delivery_scenarios_use_the_one_every_victim_estimand(reference_results):
    """100% delivery is the complier relative reduction x the force's withdrawals: 6,839 x 0.259 = 1,769,
    the same figure as the force extrapolation's full delivery; a share reached scales the withdrawals."""
    attrition = reference_results["outcomes"]["attrition"]
    scenarios = {s["delivery_rate"]: s for s in delivery_scenarios(attrition, 6839, hate_crimes=22421)}
    assert scenarios[1.0]["prevented"] == pytest.approx(reference_results["extrapolation"]["prevented"]["full_compliance"])
    assert round(scenarios[1.0]["prevented"]) == 1769
    reduction = attrition["cace"]["relative_risk_reduction"]
    assert scenarios[0.8]["prevented"] == pytest.approx(round(6839 * 0.8) * reduction)
    assert scenarios[1.0]["prevented_ci"][0] < scenarios[1.0]["prevented"] < scenarios[1.0]["prevented_ci"][1]


def test_absolute_transport_by_hand(reference_results):
    """22,421 x 0.12 = 2,690: the trial's 12-point difference carried to the force's hate crimes."""
    from helpers.methods.extrapolation import absolute_transport
    result = absolute_transport(reference_results["outcomes"]["attrition"], 22421)
    assert result["prevented"] == pytest.approx(22421 * (69 - 54) / 125)
    assert round(result["prevented"]) == 2691


def test_logistic_marginal_standard_error_matches_statsmodels_margeff(analysis):
    """statsmodels' get_margeff(dummy=True) differentiates numerically: an independent route."""
    import statsmodels.api as sm
    X = covariate_design(analysis)
    design = sm.add_constant(pd.concat([analysis["assigned"].astype(float).rename("treatment"), X], axis=1))
    margins = sm.Logit(analysis["attrition"].astype(float), design).fit(disp=0).get_margeff(at="overall", dummy=True)
    position = list(design.columns[1:]).index("treatment")
    estimate = logistic.logistic_marginal_difference(analysis, "attrition")
    assert estimate.estimate == pytest.approx(margins.margeff[position], rel=1e-6)
    assert estimate.std_error == pytest.approx(margins.margeff_se[position], rel=1e-4)


def test_interaction_q_by_hand():
    """Two subgroups, risk differences 0.5 - 0.3 and 0.4 - 0.4 with 100 per arm each:
    Q = sum w (d - d_w)^2, w = 1 / (p1 (1 - p1) / 100 + p0 (1 - p0) / 100) (Cochran 1954)."""
    from scipy.stats import chi2
    rows = []
    for group, (p1, p0) in {"a": (0.5, 0.3), "b": (0.4, 0.4)}.items():
        for arm, p in ((1, p1), (0, p0)):
            events = int(p * 100)
            rows += [{"g": group, "assigned": arm, "attrition": int(i < events)} for i in range(100)]
    data = pd.DataFrame(rows)
    d = np.array([0.2, 0.0])
    w = 1 / np.array([0.5 * 0.5 / 100 + 0.3 * 0.7 / 100, 0.4 * 0.6 / 100 + 0.4 * 0.6 / 100])
    q = np.sum(w * (d - np.sum(w * d) / np.sum(w)) ** 2)
    result = subgroups.subgroup_effects(data, "attrition", "g")
    assert result["interaction_statistic"] == pytest.approx(q, rel=1e-12)
    assert result["interaction_p_value"] == pytest.approx(chi2.sf(q, 1), rel=1e-12)


def test_holm_by_hand():
    """p = 0.01, 0.04, 0.03 in a family of three: 0.03, 0.06, 0.06 (Holm 1979); None is left out."""
    assert subgroups.holm([0.01, 0.04, None, 0.03]) == pytest.approx([0.03, 0.06, None, 0.06])


def test_absolute_transport_never_prevents_more_than_the_force_withdrawals():
    """One report an arm, BAU withdrew and SRC did not: 22,421 x 1 once exceeded the 6,839 withdrawals."""
    from helpers.methods.extrapolation import absolute_transport
    attrition = {"itt": {"risk_difference": -1.0, "risk_difference_ci": [-1.0, 0.12]}}
    result = absolute_transport(attrition, 22421, 6839)
    assert result["prevented"] == 6839 and result["prevented_ci"][1] == 6839
    assert "truncated" in result["method"]


def test_anderson_rubin_is_not_estimable_when_delivery_runs_the_wrong_way():
    """Every BAU report contacted, 80% of SRC: the set once reached 139%."""
    n = 125
    data = pd.DataFrame({"assigned": [1] * n + [0] * n, "received": [1] * 100 + [0] * 25 + [1] * n,
                         "attrition": ([1] * 43 + [0] * 57 + [1] * 11 + [0] * 14 + [1] * 69 + [0] * 56)})
    result = anderson_rubin.anderson_rubin_interval(data, "attrition")
    assert result["interval"] == [None, None] and "no more often delivered" in result["reason"]


def test_ols_hc2_matches_statsmodels_and_gives_no_number_without_full_rank():
    import statsmodels.api as sm
    rng = np.random.default_rng(7)
    x = np.column_stack([np.ones(400), rng.integers(0, 2, 400), rng.normal(size=400)])
    y = (rng.random(400) < 0.3 + 0.2 * x[:, 1]).astype(float)
    fit = sm.OLS(y, x).fit(cov_type="HC2")
    estimate, se = robust.ols_hc2(x, y, column=1)
    assert estimate == pytest.approx(fit.params[1], rel=1e-10) and se == pytest.approx(fit.bse[1], rel=1e-8)
    estimate, se = robust.ols_hc2(np.column_stack([x, x[:, 1]]), y, column=1)
    assert np.isnan(se)
