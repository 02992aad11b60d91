"""Estimators for blocked, cluster and Bernoulli designs against R's estimatr on the same data.

Reference values were produced by ``tests/reference/estimatr_designs.R`` (output kept beside it,
``estimatr_designs.out``) with R 4.2.2, estimatr 1.0.0 and metafor 3.8.1:

    difference_in_means(y ~ z, blocks = block, data = blocked)          # 3 blocks, SRC shares .3/.5/.7
    difference_in_means(y ~ z, data = blocked)                          # the naive (biased) difference
    rma.mh(ai, n1i, ci, n2i, data = per-block counts, measure = "RR")   # Mantel-Haenszel risk ratio
    difference_in_means(y ~ z, blocks = pair, data = pairs | mixed)     # matched pairs; pairs + a block
    lm_robust(y ~ z, clusters = ward, se_type = "CR2", data = cluster)  # 20 wards
    iv_robust(y ~ d | z, clusters = ward, se_type = "CR2", data = cluster)
    anova(lm(y ~ factor(ward))), anova(lm(y ~ z + factor(ward)))        # mean squares for the ICC

and exact randomisation p-values by enumerating every assignment of small trials (Bernoulli(0.4)
over 12 reports: 4,096 assignments; blocks of 4, 4 and 5: 360; 8 wards, 4 to SRC: 70). The R
script wrote the data sets as CSV files (tests/reference/*.csv), which both sides read. R is not
needed to run these tests.
"""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from helpers.methods import clustering, complier, differences, randomisation, robust
from tests.reference_values import load

REFERENCE = Path(__file__).parent / "reference"
# Closed forms (differences in means, sandwich variances, t quantiles): agree with R to rounding.
# The brief's bar is 1e-6 relative; they meet 1e-9, which is what is asserted.
CLOSED_FORM = 1e-9
# Monte Carlo p-values against exact ones: the standard error of a p from D draws is sqrt(p(1-p)/D);
# allow 4 of them (a false alarm about once in 16,000 runs; the seeds are fixed, so never in practice).
MONTE_CARLO_SE = 4
DRAWS = 40_000

# Read from tests/reference/estimatr_designs.out, which the R script writes.
R = load("estimatr_designs")
FIELDS = {"estimate": "estimate", "std_error": "std.error", "conf_low": "conf.low", "conf_high": "conf.high",
          "p_value": "p.value"}


def read(name: str) -> pd.DataFrame:
    return pd.read_csv(REFERENCE / f"{name}.csv")


def assert_matches(estimate, tag: str, df: float | None = None):
    for mine, theirs in FIELDS.items():
        assert getattr(estimate, mine) == pytest.approx(R[f"{tag}.{theirs}"], rel=CLOSED_FORM), mine
    if df is not None:
        assert df == pytest.approx(R[f"{tag}.df"], rel=CLOSED_FORM)


# ---- blocked ----------------------------------------------------------------------------------

def test_blocked_difference_in_means_matches_estimatr():
    blocked = read("blocked_trial")
    estimate = differences.blocked_difference_in_means(blocked, "y", treatment="z", block="block")
    assert_matches(estimate, "blocked.dim")
    assert estimate.n == 150 and estimate.reason is None
    # df = N - 2 J: the t quantile of the interval says which df was used
    from scipy.stats import t

    half = (estimate.conf_high - estimate.conf_low) / 2
    assert half / estimate.std_error == pytest.approx(t.ppf(0.975, R["blocked.dim.df"]), rel=CLOSED_FORM)


def test_negative_control_naive_difference_is_biased_here():
    """The naive difference differs from the blocked one (shares .3/.5/.7 across risk levels)."""
    blocked = read("blocked_trial")
    naive = blocked.loc[blocked.z == 1, "y"].mean() - blocked.loc[blocked.z == 0, "y"].mean()
    assert naive == pytest.approx(R["blocked.naive.estimate"], rel=CLOSED_FORM)
    estimate = differences.blocked_difference_in_means(blocked, "y", treatment="z", block="block").estimate
    assert estimate != pytest.approx(naive, abs=0.05) and np.sign(estimate) != np.sign(naive)


def test_mantel_haenszel_risk_ratio_matches_rma_mh():
    estimate = differences.mantel_haenszel_risk_ratio(read("blocked_trial"), "y", treatment="z", block="block")
    assert estimate.estimate == pytest.approx(R["blocked.mh_rr.estimate"], rel=CLOSED_FORM)
    assert estimate.std_error == pytest.approx(R["blocked.mh_rr.log_se"], rel=CLOSED_FORM)
    assert (estimate.conf_low, estimate.conf_high) == pytest.approx(
        (R["blocked.mh_rr.conf.low"], R["blocked.mh_rr.conf.high"]), rel=CLOSED_FORM)
    assert estimate.p_value == pytest.approx(R["blocked.mh_rr.p.value"], rel=CLOSED_FORM)


def test_mantel_haenszel_point_estimate_agrees_with_statsmodels():
    from statsmodels.stats.contingency_tables import StratifiedTable

    blocked = read("blocked_trial")
    tables = [np.array([[((g.z == 1) & (g.y == 1)).sum(), ((g.z == 1) & (g.y == 0)).sum()],
                        [((g.z == 0) & (g.y == 1)).sum(), ((g.z == 0) & (g.y == 0)).sum()]])
              for _, g in blocked.groupby("block")]
    estimate = differences.mantel_haenszel_risk_ratio(blocked, "y", treatment="z", block="block")
    assert estimate.estimate == pytest.approx(StratifiedTable(tables).riskratio_pooled, rel=CLOSED_FORM)


def test_matched_pairs_match_estimatr():
    estimate = differences.blocked_difference_in_means(read("pairs_trial"), "y", treatment="z", block="pair")
    assert_matches(estimate, "pairs.dim")
    assert "matched-pairs" in estimate.method


def test_pairs_beside_a_larger_block_use_the_pairs_variance_as_estimatr():
    estimate = differences.blocked_difference_in_means(read("mixed_blocks_trial"), "y", treatment="z", block="pair")
    assert_matches(estimate, "mixed.dim")
    assert "matched-pairs variance" in estimate.reason


def test_block_with_a_lone_treated_report_is_refused():
    """estimatr stops here ("every block must have at least two treated and control units"); so do we."""
    blocked = read("blocked_trial")
    lone = blocked[(blocked.block != "B1") | (blocked.z == 0)]
    lone = pd.concat([lone, blocked[(blocked.block == "B1") & (blocked.z == 1)].head(1)])
    estimate = differences.blocked_difference_in_means(lone, "y", treatment="z", block="block")
    assert estimate.estimate is None and "a block has a single SRC" in estimate.reason  # counted, not named


def test_block_without_one_arm_is_refused():
    blocked = read("blocked_trial")
    estimate = differences.blocked_difference_in_means(blocked[(blocked.block != "B2") | (blocked.z == 1)], "y",
                                                   treatment="z", block="block")
    assert estimate.estimate is None and "a block has no SRC or no business-as-usual report" in estimate.reason


# ---- cluster ----------------------------------------------------------------------------------

def test_cluster_itt_matches_lm_robust_cr2():
    cluster = read("cluster_trial")
    estimate = differences.cluster_difference_in_means(cluster, "y", treatment="z", cluster="ward")
    assert_matches(estimate, "cluster.itt")
    assert estimate.n == R["cluster.n"]


def test_bell_mccaffrey_df_match_estimatr():
    cluster = read("cluster_trial")
    x = np.column_stack([np.ones(len(cluster)), cluster.z.to_numpy(float)])
    beta = np.linalg.lstsq(x, cluster.y.to_numpy(float), rcond=None)[0]
    _, df = robust.cr2_variance(x, cluster.y.to_numpy(float) - x @ beta, cluster.ward.to_numpy())
    assert df[1] == pytest.approx(R["cluster.itt.df"], rel=CLOSED_FORM)


def test_negative_control_cr2_is_not_the_naive_or_cr0_error():
    """Ignoring the wards (Welch) or using CR0 gives other standard errors: the test can tell them apart."""
    cluster = read("cluster_trial")
    estimate = differences.cluster_difference_in_means(cluster, "y", treatment="z", cluster="ward")
    y, z = cluster.y, cluster.z
    welch = np.sqrt(y[z == 1].var() / (z == 1).sum() + y[z == 0].var() / (z == 0).sum())
    assert estimate.std_error != pytest.approx(welch, rel=0.05)
    x = np.column_stack([np.ones(len(y)), z.to_numpy(float)])
    e = y.to_numpy(float) - x @ np.linalg.lstsq(x, y.to_numpy(float), rcond=None)[0]
    bread = np.linalg.inv(x.T @ x)
    meat = sum(np.outer(x[g].T @ e[g], x[g].T @ e[g]) for g in cluster.groupby("ward").indices.values())
    cr0 = np.sqrt((bread @ meat @ bread)[1, 1])
    assert estimate.std_error != pytest.approx(cr0, rel=1e-3)


def test_cluster_complier_effect_matches_iv_robust_cr2():
    estimate = complier.cluster_complier_effect(read("cluster_trial"), "y", treatment="z", received="d",
                                               cluster="ward")
    assert_matches(estimate, "cluster.cace")


def test_intracluster_correlation_matches_anova_mean_squares():
    cluster = read("cluster_trial")
    oneway = clustering.intracluster_correlation(cluster, "y", cluster="ward", treatment=None)
    nested = clustering.intracluster_correlation(cluster, "y", cluster="ward", treatment="z")
    assert oneway.estimate == pytest.approx(R["cluster.icc_oneway"], rel=CLOSED_FORM)
    assert nested.estimate == pytest.approx(R["cluster.icc_within_arms"], rel=CLOSED_FORM)
    effect = clustering.design_effect(cluster, "y", cluster="ward", treatment="z")
    assert effect.estimate == pytest.approx(R["cluster.design_effect_within_arms"], rel=CLOSED_FORM)
    assert effect.estimate == pytest.approx(1 + (R["cluster.mean_size"] - 1) * R["cluster.icc_within_arms"])


def test_cluster_split_across_arms_is_refused():
    cluster = read("cluster_trial")
    cluster.loc[cluster.index[0], "z"] = 1 - cluster.loc[cluster.index[0], "z"]
    estimate = differences.cluster_difference_in_means(cluster, "y", treatment="z", cluster="ward")
    assert estimate.estimate is None and "both arms" in estimate.reason


# ---- randomisation inference ------------------------------------------------------------------

def assert_near_exact(estimate, tag: str):
    exact = R[f"{tag}.exact_p"]
    draws = int(estimate.method.split("; ")[1].split(" draws")[0])
    se = np.sqrt(exact * (1 - exact) / draws)
    assert estimate.estimate == pytest.approx(R[f"{tag}.observed"], rel=CLOSED_FORM)
    assert estimate.p_value == pytest.approx(exact, abs=MONTE_CARLO_SE * se + 1 / draws)


@pytest.mark.parametrize("column, tag", [("y", "bernoulli"), ("y01", "bernoulli.binary")])
def test_bernoulli_randomisation_p_near_exact_enumeration(column, tag):
    """Continuous outcome: whole allocation vectors drawn; 0/1 outcome: the binomial shortcut."""
    estimate = randomisation.bernoulli_randomisation_p(read("bernoulli_trial"), column, treatment="z", probability=0.4,
                                                 draws=DRAWS, seed=20240601)
    assert_near_exact(estimate, tag)
    assert estimate.conf_low is None and "seed 20240601" in estimate.method


@pytest.mark.parametrize("column, tag", [("y", "ri_blocked"), ("y01", "ri_blocked.binary")])
def test_blocked_randomisation_p_near_exact_enumeration(column, tag):
    estimate = randomisation.blocked_randomisation_p(read("ri_blocked_trial"), column, treatment="z", block="block",
                                               draws=DRAWS, seed=20240602)
    assert_near_exact(estimate, tag)


def test_cluster_randomisation_p_near_exact_enumeration():
    estimate = randomisation.cluster_randomisation_p(read("ri_cluster_trial"), "y", treatment="z", cluster="ward",
                                               draws=DRAWS, seed=20240603)
    assert_near_exact(estimate, "ri_cluster")


def test_negative_control_permuting_reports_is_not_permuting_clusters():
    """Ignoring the clusters (permuting reports) gives another, smaller p here: the test can tell them apart."""
    data = read("ri_cluster_trial")
    as_reports = randomisation.blocked_randomisation_p(data.assign(one_block=1), "y", treatment="z", block="one_block",
                                                 draws=DRAWS, seed=1)
    assert as_reports.p_value < R["ri_cluster.exact_p"] - 0.05


def test_randomisation_p_is_reproducible_with_its_seed():
    data = read("ri_cluster_trial")
    first, again, other = (randomisation.cluster_randomisation_p(data, "y", treatment="z", cluster="ward", draws=2000,
                                                           seed=s) for s in (5, 5, 6))
    assert first.p_value == again.p_value and first.p_value != other.p_value


@pytest.mark.parametrize("estimator, kwargs", [
    (differences.blocked_difference_in_means, {"block": "block"}),
    (differences.mantel_haenszel_risk_ratio, {"block": "block"}),
    (differences.cluster_difference_in_means, {"cluster": "ward"}),
    (complier.cluster_complier_effect, {"cluster": "ward", "received": "d"}),
])
def test_an_outcome_every_report_had_is_not_estimable(estimator, kwargs):
    data = read("cluster_trial").assign(y=1, block=lambda d: d.ward.str[:2].replace("W2", "W1"))
    estimate = estimator(data, "y", treatment="z", **kwargs)
    assert estimate.estimate is None and estimate.reason.startswith("not estimable")


def test_randomisation_p_of_a_constant_outcome_is_one():
    data = read("ri_cluster_trial").assign(y=0.0)
    assert randomisation.cluster_randomisation_p(data, "y", treatment="z", cluster="ward", draws=500).p_value == 1.0
