"""Estimators against values computed by hand from their published formulas.

The reference is independent of the code under test: each expected value is computed here
from the formula in the cited paper with plain arithmetic (math, no statsmodels), on the
calibrated counts of the shipped data (data/raw/README.md: BAU 69/125, SRC 54/125; SRC delivered 43/100,
not 11/25), which reproduce the published evaluation (The Police Journal 2025, doi 10.1177/0032258X251318212).
"""
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.stats import norm

from helpers.methods import bayes, complier, differences, open_investigations, tidy
from helpers.methods.design import COMPLETE
from helpers.methods.extrapolation import force_extrapolation
from helpers.methods.power import power_analysis
from helpers.methods.registry import Settings, analyse_outcome
from helpers.pipeline.effects import outcome_entry

# Tolerances: closed-form values agree to rounding; 1e-9 leaves room for summation order only.
EXACT = 1e-9
Z95 = norm.ppf(0.975)


def trial(control=(69, 125), complied=(43, 100), not_complied=(11, 25)) -> pd.DataFrame:
    """A trial table with the given (events, n) per cell."""
    rows = []
    for assigned, received, (events, n) in ((0, 0, control), (1, 1, complied), (1, 0, not_complied)):
        rows += [{"assigned": assigned, "received": received, "attrition": int(i < events)} for i in range(n)]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def data():
    return trial()


def wilson(events, n, z=Z95):
    """Wilson (1927) score interval."""
    p = events / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_arm_risks_wilson(data):
    risks = differences.arm_risks(data, "attrition").set_index("arm")
    assert risks.loc["control", ["events", "n"]].tolist() == [69, 125]
    assert risks.loc["treatment", "risk"] == pytest.approx(54 / 125, abs=EXACT)
    assert (risks.loc["control", "conf_low"], risks.loc["control", "conf_high"]) == pytest.approx(wilson(69, 125), abs=EXACT)


def test_risk_ratio_katz(data):
    """Katz et al. (1978): log RR +- z sqrt(1/a - 1/n1 + 1/c - 1/n0)."""
    rr = differences.risk_ratio(data, "attrition")
    se = math.sqrt(1 / 54 - 1 / 125 + 1 / 69 - 1 / 125)
    assert rr.estimate == pytest.approx(54 / 69, abs=EXACT)
    assert rr.estimate == pytest.approx(0.7826, abs=5e-5)
    assert (rr.conf_low, rr.conf_high) == pytest.approx(
        (math.exp(math.log(54 / 69) - Z95 * se), math.exp(math.log(54 / 69) + Z95 * se)), abs=EXACT)
    assert (rr.conf_low, rr.conf_high) == pytest.approx((0.61, 1.01), abs=0.005)  # as the published counts give


def test_risk_difference_newcombe(data):
    """Newcombe (1998) method 10: the arms' Wilson limits combined."""
    rd = differences.risk_difference(data, "attrition")
    p1, p0 = 54 / 125, 69 / 125
    (l1, u1), (l0, u0) = wilson(54, 125), wilson(69, 125)
    expected = (p1 - p0 - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
                p1 - p0 + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))
    assert rd.estimate == pytest.approx(-0.120, abs=EXACT)
    assert (rd.conf_low, rd.conf_high) == pytest.approx(expected, abs=EXACT)


def hypergeometric_pmf(x, treated_n, control_n, events):
    return math.comb(treated_n, x) * math.comb(control_n, events - x) / math.comb(treated_n + control_n, events)


def test_fisher_exact_by_enumeration(data):
    """Two-sided Fisher p: total probability of tables no more likely than the observed one."""
    observed = hypergeometric_pmf(54, 125, 125, 123)
    support = range(0, 124)
    two_sided = sum(p for x in support if (p := hypergeometric_pmf(x, 125, 125, 123)) <= observed * (1 + 1e-7))
    one_sided = sum(hypergeometric_pmf(x, 125, 125, 123) for x in range(0, 55))
    assert differences.fisher_exact_p(data, "attrition") == pytest.approx(two_sided, rel=1e-9)
    assert differences.fisher_exact_p(data, "attrition", alternative="less") == pytest.approx(one_sided, rel=1e-9)
    assert two_sided == pytest.approx(0.076, abs=0.0005)  # Fisher's p of the published counts
    assert one_sided == pytest.approx(0.038, abs=0.0005)


def test_wald_complier_effect_and_complier_means(data):
    """Wald (1940) / Angrist, Imbens & Rubin (1996): CACE = ITT / compliance."""
    cace = complier.complier_average_causal_effect(data, "attrition")
    means = complier.complier_means(data, "attrition")
    assert cace.estimate == pytest.approx((54 / 125 - 69 / 125) / 0.8, abs=EXACT)
    assert cace.estimate == pytest.approx(-0.150, abs=EXACT)
    # E[Y(0)|complier] = (E[Y|Z=0] - (1 - pi) E[Y|Z=1, D=0]) / pi
    assert means["untreated"] == pytest.approx((69 / 125 - 0.2 * 11 / 25) / 0.8, abs=EXACT)
    assert means["untreated"] == pytest.approx(0.580, abs=EXACT)
    assert means["treated"] == pytest.approx(0.430, abs=EXACT)


def test_complier_relative_reduction(data):
    rrr = complier.complier_relative_reduction(data, "attrition", draws=2000, seed=1)
    assert rrr.estimate == pytest.approx(1 - 0.43 / 0.58, abs=EXACT)
    assert rrr.estimate == pytest.approx(0.259, abs=0.0005)
    assert rrr.conf_low < rrr.estimate < rrr.conf_high


def test_power_by_cohens_h():
    """n per arm = 2 ((z_(1-alpha/2) + z_power) / h)^2, h = 2 asin sqrt(p1) - 2 asin sqrt(p0) (Cohen 1988).

    The arcsine-transformed difference has variance 1/n + 1/n = 2/n, hence the factor 2. The plan's
    target is a 20% relative reduction of the control risk 69/125: p1 = 0.8 x 0.552 = 0.4416.
    """
    h = abs(2 * math.asin(math.sqrt(0.8 * 69 / 125)) - 2 * math.asin(math.sqrt(69 / 125)))
    power = power_analysis(69 / 125, 125, 125)
    assert power["n_per_arm_for_target_power"] == math.ceil(2 * ((Z95 + norm.ppf(0.8)) / h) ** 2) == 321


def test_minimum_detectable_difference_by_hand():
    """The smallest fall detectable with 80% power: h = (z_0.975 + z_0.8) sqrt(1/125 + 1/125), back to risks."""
    h = (Z95 + norm.ppf(0.8)) * math.sqrt(2 / 125)
    p1 = math.sin(math.asin(math.sqrt(69 / 125)) - h / 2) ** 2
    power = power_analysis(69 / 125, 125, 125)
    assert power["minimum_detectable_difference"] == pytest.approx(p1 - 69 / 125, abs=1e-12)
    assert power["minimum_detectable_difference"] == pytest.approx(-0.1758, abs=1e-4)  # observed: -0.120


def test_power_is_none_without_a_control_risk():
    assert power_analysis(0.0, 100, 100)["n_per_arm_for_target_power"] is None


def test_power_uses_both_arm_sizes():
    """30 against 470 reports: var(h) = 1/30 + 1/470, not 2/470 (Cohen 1988, unequal n)."""
    h = (Z95 + norm.ppf(0.8)) * math.sqrt(1 / 30 + 1 / 470)
    p1 = math.sin(math.asin(math.sqrt(0.5)) - h / 2) ** 2
    power = power_analysis(0.5, 30, 470)
    assert power["minimum_detectable_difference"] == pytest.approx(p1 - 0.5, abs=1e-12)
    assert abs(power["minimum_detectable_difference"]) > 0.25  # as if both arms had 470, it would be 0.09


def test_extrapolation_published_figures(data):
    """The practice note's method: 6,839 MPS withdrawals x 0.217 = 1,487 and x 0.259 = 1,769 ("1,500 to 1,800")."""
    entry = outcome_entry(analyse_outcome(data, "attrition", COMPLETE, Settings(conf_level=0.95, draws=2000, seed=1),
                                          codes=["14", "16"]))
    force = force_extrapolation(entry, {"label": "MPS", "hate_crimes": 22421, "withdrawals": 6839, "source": "x"},
                                "mps")
    assert force["prevented"]["itt"] == pytest.approx(6839 * (1 - 54 / 69), abs=EXACT)
    assert round(force["prevented"]["itt"]) == 1487
    assert round(force["prevented"]["full_compliance"]) == 1769
    assert force["share_of_hate_crimes"]["full_compliance"] == pytest.approx(0.079, abs=0.0005)
    low, high = force["prevented"]["itt_ci"]
    assert low < 0 < force["prevented"]["itt"] < high  # the interval includes no effect: the report says so
    assert force["interval_includes_zero"] is True


def test_negative_control_katz_is_not_the_wald_interval_on_the_ratio(data):
    """The comparison can tell methods apart: a Wald interval on RR itself differs from Katz's."""
    rr = differences.risk_ratio(data, "attrition")
    se_ratio = (54 / 69) * math.sqrt(1 / 54 - 1 / 125 + 1 / 69 - 1 / 125)
    assert rr.conf_low != pytest.approx(54 / 69 - Z95 * se_ratio, abs=1e-3)


def test_open_investigation_bounds_by_hand():
    data = trial()
    data.loc[data.index[:4], "attrition"] = None  # four open BAU cases (the first rows are BAU)
    data["attrition"] = data["attrition"].astype("Float64")
    bounds = open_investigations.open_investigation_bounds(data, "attrition")
    assert (bounds["open_treatment"], bounds["open_control"]) == (0, 4)
    # The first BAU rows were withdrawals; as open cases they can end either way.
    assert bounds["all_open_cases"]["risk_difference"] == pytest.approx(54 / 125 - 69 / 125)
    assert bounds["no_open_cases"]["risk_difference"] == pytest.approx(54 / 125 - 65 / 125)
    assert bounds["bau_open_cases_only"]["risk_ratio"] == pytest.approx((54 / 125) / (69 / 125))


def test_no_bounds_without_open_cases():
    assert open_investigations.open_investigation_bounds(trial(), "attrition") is None


def test_posterior_probability_of_reduction_by_integration(data):
    """P(p_SRC < p_BAU) with Beta(1 + events, 1 + non-events) posteriors: 0.97073 on the shipped counts.

    Reference: a Monte Carlo estimate from 2,000,000 independent Beta draws (an independent method;
    its standard error is at most 0.00035), and the value the plan quotes to five places.
    """
    from scipy.stats import beta

    rng = np.random.default_rng(2024)
    src = beta(1 + 54, 1 + 71).rvs(2_000_000, random_state=rng)
    bau = beta(1 + 69, 1 + 56).rvs(2_000_000, random_state=rng)
    posterior = bayes.posterior_reduction(data, "attrition")
    assert posterior["probability_of_reduction"] == pytest.approx(np.mean(src < bau), abs=0.0015)
    assert posterior["probability_of_relative_reduction_at_least"] == pytest.approx(np.mean(src < 0.9 * bau), abs=0.0015)
    assert round(posterior["probability_of_reduction"], 5) == 0.97073


def test_a_sceptical_prior_lowers_the_probability_of_benefit(data):
    """Beta(25, 25) in both arms pulls the risks together: the probability of a reduction falls."""
    uniform = bayes.posterior_reduction(data, "attrition")["probability_of_reduction"]
    sceptical = bayes.posterior_reduction(data, "attrition", prior=(25, 25))["probability_of_reduction"]
    assert 0.5 < sceptical < uniform




def test_the_tidy_table_has_estimatrs_columns_and_statistics(reference_results):
    """Each statistic is that of the test whose p-value sits beside it: by hand from the shipped trial's figures."""
    rows = {(r["outcome"], r["estimand"]): r for r in reference_results["estimates"]}
    assert list(reference_results["estimates"][0]) == tidy.TABLE_COLUMNS
    difference, ratio = rows["attrition", "risk_difference"], rows["attrition", "risk_ratio"]
    assert difference["estimate"] == pytest.approx(54 / 125 - 69 / 125)
    # the risk difference's p-value is the score test's (Miettinen & Nurminen 1985): under no difference the
    # risk is the pooled 123/250, and the variance carries N / (N - 1)
    pooled = 123 / 250
    score = (54 / 125 - 69 / 125) / math.sqrt(pooled * (1 - pooled) * (2 / 125) * 250 / 249)
    assert difference["statistic"] == pytest.approx(score, abs=1e-12)
    assert difference["p_value"] == pytest.approx(2 * stats.norm.sf(abs(score)), abs=1e-12)
    # a Wald statistic from the Wald standard error would not match the p-value: the negative control
    assert abs(difference["estimate"] / difference["std_error"] - score) > 0.01
    # every p-value's statistic gives it back, from the normal or the t distribution on the row's df
    for row in rows.values():
        if row["p_value"] is None:
            assert row["statistic"] is None, row["estimand"]
        elif row["statistic"] is not None:
            tail = stats.norm.sf(abs(row["statistic"])) if row["df"] is None else stats.t.sf(abs(row["statistic"]),
                                                                                            row["df"])
            assert row["p_value"] == pytest.approx(2 * tail, rel=1e-9), row["estimand"]
    # log(54/69) / sqrt(1/54 - 1/125 + 1/69 - 1/125), Katz's standard error of the log risk ratio
    assert ratio["statistic"] == pytest.approx(math.log(54 / 69) / math.sqrt(1 / 54 - 1 / 125 + 1 / 69 - 1 / 125))
    assert {r["conf_level"] for r in rows.values()} == {0.95}
    assert not rows["attrition", "risk_difference_per_protocol"]["prespecified"]
    assert rows["attrition", "complier_average_causal_effect"]["prespecified"]
    assert tidy.statistic(None, 0.1, "risk_difference") is None and tidy.statistic(0.5, None, "risk_ratio") is None


def test_the_smallest_detectable_change_follows_the_outcomes_direction():
    """Cohen's h at 125 per arm: a fall below the control risk for a decrease, a rise above it for an increase."""
    h = (stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(2 / 125)
    p0 = 7 / 125
    rise = math.sin(math.asin(math.sqrt(p0)) + h / 2) ** 2 - p0
    fall = math.sin(max(0.0, math.asin(math.sqrt(p0)) - h / 2)) ** 2 - p0
    up = power_analysis(p0, 125, 125, direction="increase")["minimum_detectable_difference"]
    down = power_analysis(p0, 125, 125, direction="decrease")["minimum_detectable_difference"]
    assert up == pytest.approx(rise, abs=1e-12) and up > 0
    assert down == pytest.approx(fall, abs=1e-12) and down < 0
    # a fall cannot go below 0, nor a rise above 1: the whole way down, or up
    assert power_analysis(0.01, 125, 125, direction="decrease")["minimum_detectable_difference"] == \
        pytest.approx(-0.01, abs=1e-12)
    # near 1 a rise stops at 1: the whole way up
    assert power_analysis(0.98, 125, 125, direction="increase")["minimum_detectable_difference"] == \
        pytest.approx(0.02, abs=1e-12)


def test_numbers_within_1e_12_of_zero_are_zero():
    assert tidy.clean(1.7e-18) == 0.0 and tidy.clean(-1e-13) == 0.0 and tidy.clean(-0.0) == 0.0
    assert str(tidy.clean(-0.0)) == "0.0" and tidy.clean(2e-12) == 2e-12 and tidy.clean(-0.5) == -0.5
    assert tidy.clean(float("nan")) is None and tidy.clean(0) == 0


def test_the_charge_outcome_detects_an_increase_in_the_shipped_run(reference_results):
    """Charge and positive outcomes are meant to increase: their smallest detectable change is positive."""
    for name in ("charge", "positive_outcome"):
        assert reference_results["outcomes"][name]["power"]["minimum_detectable_difference"] > 0
    assert reference_results["outcomes"]["attrition"]["power"]["minimum_detectable_difference"] < 0


def test_a_force_interval_cut_to_its_limits_says_so():
    """6,839 withdrawals among 22,421 hate crimes: a relative reduction of -347% would add 23,731 withdrawals,
    more than the 15,582 other reports; the interval stops at -15,582 and its note says it was cut."""
    from helpers.methods.extrapolation import force_extrapolation

    population = {"withdrawals": 6839, "hate_crimes": 22421, "label": "force", "source": "test"}
    wide = {"itt": {"relative_risk_reduction": -0.5, "relative_risk_reduction_ci": [-3.47, 0.54]},
            "cace": {"relative_risk_reduction": 0.25, "relative_risk_reduction_ci": [-0.04, 0.5]}}
    result = force_extrapolation(wide, population, "force")
    assert result["prevented"]["itt_ci"] == [-15582, pytest.approx(0.54 * 6839)]
    assert "cut to the limits" in result["notes"]["itt_ci"] and "full_compliance_ci" not in result["notes"]
    narrow = {**wide, "itt": {"relative_risk_reduction": 0.2, "relative_risk_reduction_ci": [-0.03, 0.39]}}
    assert force_extrapolation(narrow, population, "force")["notes"] == {}
