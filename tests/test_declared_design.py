"""A declared design other than complete randomisation runs through the pipeline with the design's estimators.

Generated blocked and cluster trials are run in process with ``design`` set in their parameters:
results.json reports exactly what each estimator family's design estimator (tested against estimatr) gives on
the same analysis table, not the complete-randomisation numbers; figures the design does not support are
null with the reason; the audit flags what breaks the design. One run goes through the command line.
"""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.errors import InputError
from helpers.inputs.simulate import Assignment
from helpers.methods import (
    adjusted_lin,
    arms,
    audit,
    audit_design,
    clustering,
    complier,
    differences,
    permutation,
    randomisation,
)
from helpers.methods.design import UNIT, Design
from helpers.methods.power import power_analysis
from helpers.parameters import load_parameters
from helpers.pipeline.results import validate_results

from . import ordinary_files
from .reference_values import load
from .trials import (
    FAST,
    adjusted_rows,
    check_parameter_space,
    designed,
    estimate_row,
    run_in_process,
    simulated,
    write_parameters,
)

SRCEVAL = Path(sys.executable).with_name("srceval")
SEED = load_parameters()["seed"]
DRAWS = FAST["randomisation_draws"]
BLOCKED = {"assignment": "blocked", "blocks": "borough", "clusters": None, "probability": 0.5}
CLUSTER = {"assignment": "cluster", "blocks": None, "clusters": "ward", "probability": 0.5}
# Shares per borough (Kingston, Merton, Richmond, Wandsworth) and withdrawal risks that rise across them:
# SRC is concentrated where withdrawal is common, so the pooled comparison is biased.
BLOCK_SHARES = Assignment("blocked", "borough", (0.3, 0.5, 0.7, 0.5), risk_spread=0.15)
WARDS = Assignment("cluster", "ward", cluster_sd=0.1)


def analysis_table(folder: Path) -> pd.DataFrame:
    return pd.read_parquet(folder / "processed" / "analysis_table.parquet")


@pytest.fixture(scope="module")
def blocked_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("blocked")
    results = run_in_process(*designed(BLOCK_SHARES), folder, report=False, params={"design": BLOCKED})
    return results, analysis_table(folder)


@pytest.fixture(scope="module")
def cluster_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    results = run_in_process(*designed(WARDS, n_control=300, n_treatment=300), folder, report=True,
                             params={"design": CLUSTER})
    return results, analysis_table(folder)


# ---- the parameters ------------------------------------------------------------------------------

@pytest.mark.parametrize("design, message", [
    ({"assignment": "blocked"}, "parameter 'design.blocks' is None: a blocked design needs 'blocks'"),
    ({"assignment": "cluster"}, "parameter 'design.clusters' is None: a cluster design needs 'clusters'"),
    ({"assignment": "complete", "blocks": "borough"}, "'blocks' belongs to a blocked design"),
    ({"assignment": "blocked", "blocks": "victim_sex"}, "Input should be 'borough', 'ward', 'offence_group'"),
    ({"assignment": "stratified"}, "parameter 'design.assignment' is 'stratified'"),
    ({"assignment": "simple", "probability": 1.5}, "parameter 'design.probability' is 1.5"),
])
def test_a_design_that_cannot_be_analysed_is_refused(tmp_path, design, message):
    with pytest.raises(InputError) as refused:
        load_parameters(write_parameters(tmp_path, {"design": design}))
    assert message in str(refused.value)


def test_the_shipped_design_is_complete_randomisation():
    assert load_parameters()["design"] == {"assignment": "complete", "blocks": None, "clusters": None,
                                           "probability": 0.5}


def test_a_blocked_design_without_blocks_is_refused_before_any_kernel(tmp_path):
    params = write_parameters(tmp_path, {"design": {"assignment": "blocked"}})
    completed = subprocess.run([str(SRCEVAL), "run", "--params", str(params), "--out", str(tmp_path / "out")],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2, completed.stderr
    assert "a blocked design needs 'blocks'" in completed.stderr
    assert not (tmp_path / "out").exists() and "[1/6]" not in completed.stdout


# ---- blocked ---------------------------------------------------------------------------------------

def test_blocked_trial_reports_the_block_weighted_estimators(blocked_run):
    results, table = blocked_run
    itt = results["outcomes"]["attrition"]["itt"]
    dim = differences.blocked_difference_in_means(table, "attrition", block="borough")
    assert itt["risk_difference"] == pytest.approx(dim.estimate, rel=1e-12)
    assert itt["risk_difference_ci"] == pytest.approx([dim.conf_low, dim.conf_high], rel=1e-12)
    mh = differences.mantel_haenszel_risk_ratio(table, "attrition", block="borough")
    assert itt["risk_ratio"] == pytest.approx(mh.estimate, rel=1e-12)
    assert itt["risk_ratio_ci"] == pytest.approx([mh.conf_low, mh.conf_high], rel=1e-12)
    assert itt["relative_risk_reduction"] == pytest.approx(1 - mh.estimate, rel=1e-12)
    ri = randomisation.blocked_randomisation_p(table, "attrition", block="borough", draws=DRAWS, seed=SEED)
    assert itt["p_value_randomisation"] == ri.p_value
    assert estimate_row(results, "risk_difference")["method"] == dim.method
    assert "within blocks" in itt["randomisation_method"]


def test_blocked_trial_does_not_report_the_complete_randomisation_numbers(blocked_run):
    results, table = blocked_run
    attrition = results["outcomes"]["attrition"]
    naive_rd = differences.risk_difference(table, "attrition")
    naive_rr = differences.risk_ratio(table, "attrition")
    assert attrition["itt"]["risk_difference"] != pytest.approx(naive_rd.estimate, abs=0.01)
    assert attrition["itt"]["risk_difference_ci"] != pytest.approx(naive_rd.interval, abs=0.005)
    assert attrition["itt"]["risk_ratio"] != pytest.approx(naive_rr.estimate, abs=0.01)
    complete_p = randomisation.randomisation_p(table, "attrition")["two_sided"]
    assert attrition["itt"]["p_value_randomisation"] != pytest.approx(complete_p, abs=1e-3)
    # Figures with no blocked version are absent, with the reason, never the complete-randomisation number.
    assert attrition["itt"]["p_value_exact"] is None and attrition["itt"]["p_value_exact_one_sided"] is None
    assert "not valid under a blocked design" in attrition["notes"]["itt.p_value_exact"]
    assert attrition["itt"]["bayesian"]["probability_of_reduction"] is None
    logistic = estimate_row(results, "risk_difference_adjusted_logistic")
    assert logistic["estimate"] is None and "not valid under a blocked design" in logistic["reason"]
    rows = pd.DataFrame(adjusted_rows(results))
    assert rows["estimate"].notna().sum() == 1  # Lin's, with the blocks


def test_blocked_complier_and_adjusted_estimates_are_block_weighted(blocked_run):
    results, table = blocked_run
    attrition = results["outcomes"]["attrition"]
    frame = table.assign(**{UNIT: table["borough"]})
    weighted = lambda values: arms.weighted_difference(values, frame)
    d, y = table["received"].astype(float), table["attrition"].astype(float)
    assert attrition["cace"]["risk_difference"] == pytest.approx(weighted(y) / weighted(d), rel=1e-12)
    assert attrition["cace"]["risk_difference"] != pytest.approx(
        complier.complier_average_causal_effect(table, "attrition").estimate, abs=0.005)
    assert attrition["cace"]["complier_control_risk"] == pytest.approx(-weighted(y * (1 - d)) / weighted(d))
    lin = estimate_row(results, "risk_difference_adjusted_lin")
    assert "block indicators" in lin["method"] and lin["estimate"] is not None
    assert results["subgroups"] and {s["by"] for s in results["subgroups"]} == {"borough"}
    assert {n["analysis"] for n in results["design"]["not_valid"]} == {"subgroups by primary_strand",
                                                                      "subgroups by offence_group"}


def test_blocked_audit_reports_each_block_share_and_no_false_alarm(blocked_run):
    results, _ = blocked_run
    design = results["design"]
    assert design["assignment"] == "blocked" and design["columns"] == ["borough"] and design["units"] == 4
    assert "allocation shares differed by block" in design["description"]
    assert "block-weighted" in design["description"]
    shares = {b["block"]: b["share"] for b in design["audit"]["blocks"]}
    assert shares == pytest.approx({"Kingston": 0.3, "Merton": 0.5, "Richmond": 0.7, "Wandsworth": 0.5}, abs=0.02)
    audit = results["allocation_audit"]
    assert audit["flags"] == []  # shares that differ by design are not a finding
    assert audit["allocation_ratio_p_value"] is None and audit["runs"]["p_value"] is None
    assert audit["omnibus_randomisation"]["p_value"] is not None


def test_a_block_with_one_arm_is_flagged(tmp_path):
    allocation, extract = designed(Assignment("blocked", "borough", (0.0, 0.5, 0.5, 0.5)))
    results = run_in_process(allocation, extract, tmp_path, report=False, params={"design": BLOCKED})
    assert any(flag.startswith("Blocked design breached: borough Kingston has reports in the business-as-usual arm only") for flag in
               results["allocation_audit"]["flags"])
    attrition = results["outcomes"]["attrition"]
    assert attrition["itt"]["risk_difference"] is None and attrition["notes"]["itt.risk_difference"].startswith(
        "not estimable: a block has no SRC or no business-as-usual report")
    check_parameter_space(results)


def test_blocked_trial_inside_the_parameter_space(blocked_run):
    check_parameter_space(blocked_run[0])


# ---- cluster ---------------------------------------------------------------------------------------

def test_cluster_trial_reports_the_cr2_estimators(cluster_run):
    results, table = cluster_run
    attrition = results["outcomes"]["attrition"]
    itt = attrition["itt"]
    cr2 = differences.cluster_difference_in_means(table, "attrition", cluster="ward")
    assert itt["risk_difference"] == pytest.approx(cr2.estimate, rel=1e-12)
    assert itt["risk_difference_ci"] == pytest.approx([cr2.conf_low, cr2.conf_high], rel=1e-12)
    cace = complier.cluster_complier_effect(table, "attrition", cluster="ward")
    assert attrition["cace"]["risk_difference"] == pytest.approx(cace.estimate, rel=1e-12)
    assert attrition["cace"]["risk_difference_ci"] == pytest.approx([cace.conf_low, cace.conf_high], rel=1e-12)
    ri = randomisation.cluster_randomisation_p(table, "attrition", cluster="ward", draws=DRAWS, seed=SEED)
    assert itt["p_value_randomisation"] == ri.p_value
    icc = clustering.intracluster_correlation(table, "attrition", cluster="ward")
    effect = clustering.design_effect(table, "attrition", cluster="ward")
    assert attrition["design"]["intracluster_correlation"] == pytest.approx(icc.estimate, rel=1e-12)
    assert results["design"]["intracluster_correlation"] == pytest.approx(icc.estimate, rel=1e-12)
    assert results["design"]["design_effect"] == pytest.approx(effect.estimate, rel=1e-12)
    method = estimate_row(results, "risk_difference")["method"]
    assert "CR2" in method and "Bell-McCaffrey" in method


def test_cluster_trial_does_not_report_the_complete_randomisation_numbers(cluster_run):
    results, table = cluster_run
    attrition = results["outcomes"]["attrition"]
    naive = differences.risk_difference(table, "attrition")
    # The point is the same difference in means; its interval is not the one that ignores the wards.
    assert attrition["itt"]["risk_difference"] == pytest.approx(naive.estimate, rel=1e-12)
    assert attrition["itt"]["risk_difference_ci"] != pytest.approx(naive.interval, abs=0.002)
    assert attrition["itt"]["risk_ratio_ci"] != pytest.approx(differences.risk_ratio(table, "attrition").interval,
                                                             abs=0.002)
    assert "not valid under a cluster design" in attrition["notes"]["itt.p_value_exact"]
    assert "not valid under a cluster design" in estimate_row(results, "odds_ratio")["reason"]
    assert "bootstrap of whole clusters" in estimate_row(results, "complier_relative_risk_reduction")["method"]
    assert results["subgroups"] == []


def test_cluster_power_applies_the_design_effect(cluster_run):
    results, table = cluster_run
    power = results["outcomes"]["attrition"]["power"]
    factor = results["outcomes"]["attrition"]["design"]["design_effect"]
    counts = arms.TwoByTwo.from_data(table, "attrition")
    plain = power_analysis(counts.control_risk, counts.treatment_n, counts.control_n,
                                      target_relative_reduction=0.20)
    assert power["design_effect"] == factor and factor > 1
    assert power["n_per_arm_for_target_power"] == int(np.ceil(plain["n_per_arm_for_target_power"] * factor))
    assert power["minimum_detectable_difference"] < plain["minimum_detectable_difference"]
    assert "design effect" in power["method"]


def test_cluster_trial_describes_the_design_and_its_balance(cluster_run):
    results, _ = cluster_run
    design = results["design"]
    assert design["description"].startswith("Cluster-randomised by ward: whole wards were allocated")
    assert "intra-cluster correlation" in design["description"]
    clusters = design["audit"]["clusters"]
    assert clusters["treatment"]["clusters"] + clusters["control"]["clusters"] == design["units"]
    assert design["audit"]["breaches"] == [] and results["allocation_audit"]["flags"] == []
    assert len(design["audit"]["cluster_balance"]) > 10
    check_parameter_space(results)
    validate_results(results)


def test_a_treated_wards_report_in_the_control_arm_is_a_flagged_breach(tmp_path):
    allocation, extract = designed(WARDS, n_control=300, n_treatment=300)
    wards = extract.drop_duplicates("Crime Ref").set_index("Crime Ref")["ward"]
    arm = allocation["Allocation"].str.strip().str.upper()
    src_wards = allocation.assign(ward=allocation["Crime Ref"].map(wards))[arm == "SRC"].groupby("ward").size()
    ward = src_wards[src_wards >= 3].index[0]
    moved = allocation.index[(allocation["Crime Ref"].map(wards) == ward) & (arm == "SRC")][0]
    allocation.loc[moved, ["Allocation", "Random Number"]] = ["BAU", 0.75]  # the random number follows the arm
    results = run_in_process(allocation, extract, tmp_path, report=False, params={"design": CLUSTER})
    borough = analysis_table(tmp_path).drop_duplicates("ward").set_index("ward").loc[ward, "borough"]
    flags = results["allocation_audit"]["flags"]
    assert len(flags) == 1, flags
    # One report in the other arm is a count below the disclosure threshold: the ward is neither named nor
    # counted, and the flag says where to look.
    assert flags[0].startswith("Cluster design breached in 1 ward with too few reports to be named or counted here")
    assert str(ward) not in flags[0] and allocation.loc[moved, "Crime Ref"] not in flags[0]
    # nor is it named by the reasons of the figures it makes not estimable
    assert str(ward) not in json.dumps([results["estimates"], results["outcomes"], results["design"]])
    assert results["design"]["audit"]["breaches"] == [
        {"cluster": None, "arm": None, "reports": None, "in_other_arm": None}]
    assert borough in {"Kingston", "Merton", "Richmond", "Wandsworth"}
    attrition = results["outcomes"]["attrition"]
    assert attrition["itt"]["risk_difference"] is None and "both arms" in attrition["notes"]["itt.risk_difference"]
    assert "1 ward had reports in both arms" in results["design"]["description"]


def test_re_randomisation_keeps_what_the_design_fixed():
    units = pd.Series(np.repeat(["a", "b", "c", "d"], [3, 5, 4, 6]))
    z = np.array([1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1])
    blocked = np.concatenate(list(permutation.design_allocations(z, Design.from_parameters(BLOCKED), units, 500, seed=1)))
    totals = pd.DataFrame(blocked.T).groupby(units.to_numpy()).sum()
    assert (totals.to_numpy() == pd.Series(z).groupby(units.to_numpy()).sum().to_numpy()[:, None]).all()
    assert len({tuple(row) for row in blocked}) > 50  # the order within blocks does change
    clusters = pd.Series(np.repeat(["a", "b", "c", "d"], [3, 5, 4, 6]))
    z = np.repeat([1, 0, 1, 0], [3, 5, 4, 6])
    drawn = np.concatenate(list(permutation.design_allocations(z, Design.from_parameters(CLUSTER), clusters, 200, seed=2)))
    assert (pd.DataFrame(drawn.T).groupby(clusters.to_numpy()).nunique() == 1).all().all()
    assert set(map(tuple, drawn[:, [0, 3, 8, 12]])) == {(1, 1, 0, 0), (1, 0, 1, 0), (1, 0, 0, 1), (0, 1, 1, 0),
                                                         (0, 1, 0, 1), (0, 0, 1, 1)}


def test_block_weighted_balance_shows_no_imbalance_in_the_blocks_themselves():
    data = pd.DataFrame({"assigned": [1, 0, 0, 0, 1, 1, 1, 0], "borough": list("AAAABBBB"),
                         "offence_group": list("xyxyxxyy")})
    units = data["borough"]
    naive = audit.balance_table(data)
    weighted = audit.balance_table(data, weights=audit_design.block_weights(data["assigned"], units))
    borough = lambda table: table[table["covariate"] == "Borough"]["standardised_difference"].abs().max()
    assert borough(naive) > 0.5 and borough(weighted) == pytest.approx(0.0)


# ---- simple ----------------------------------------------------------------------------------------

def test_a_simple_design_with_an_unequal_probability_is_audited_against_it(tmp_path):
    """A coin of 0.6 per report: the ratio check tests the SRC share against 0.6, and results.json is valid."""
    design = {"assignment": "simple", "blocks": None, "clusters": None, "probability": 0.6}
    results = run_in_process(*simulated(seed=4, n_control=100, n_treatment=150), tmp_path, report=True,
                             params={"design": design})
    table = analysis_table(tmp_path)
    assert results["allocation_audit"]["ratio"]["expected_share"] == 0.6
    # exact binomial test of 150 SRC in 250 against a share of 0.6
    assert results["allocation_audit"]["allocation_ratio_p_value"] == pytest.approx(
        stats.binomtest(int(table["assigned"].sum()), len(table), 0.6).pvalue)


def test_simple_design_uses_bernoulli_randomisation_inference(tmp_path):
    design = {"assignment": "simple", "blocks": None, "clusters": None, "probability": 0.5}
    results = run_in_process(*simulated(seed=4), tmp_path, report=False, params={"design": design})
    table = analysis_table(tmp_path)
    itt = results["outcomes"]["attrition"]["itt"]
    two = randomisation.bernoulli_randomisation_p(table, "attrition", probability=0.5, draws=DRAWS, seed=SEED)
    one = randomisation.bernoulli_randomisation_p(table, "attrition", probability=0.5, draws=DRAWS, seed=SEED,
                                            alternative="less")
    assert (itt["p_value_randomisation"], itt["p_value_randomisation_one_sided"]) == (two.p_value, one.p_value)
    assert "Bernoulli(0.5)" in itt["randomisation_method"]
    # Comparisons conditional on the arm sizes stay valid under a coin per report.
    assert itt["p_value_exact"] == differences.fisher_exact_p(table, "attrition")
    assert itt["risk_difference"] == differences.risk_difference(table, "attrition").estimate
    assert results["design"]["description"].startswith("Simple randomisation")
    assert results["allocation_audit"]["allocation_ratio_p_value"] is not None


def test_one_sided_bernoulli_randomisation_p_near_exact_enumeration():
    """The one-sided Bernoulli randomisation p-value, against every one of the 4,096 allocations."""
    data = pd.read_csv(Path(__file__).parent / "reference" / "bernoulli_trial.csv")
    y, observed_z, p = data["y01"].to_numpy(float), data["z"].to_numpy(), 0.4
    observed = y[observed_z == 1].mean() - y[observed_z == 0].mean()
    weight, extreme = 0.0, 0.0
    for z in itertools.product((0, 1), repeat=len(y)):
        z = np.array(z)
        if z.sum() in (0, len(z)):
            continue
        probability = p ** z.sum() * (1 - p) ** (len(z) - z.sum())
        weight += probability
        extreme += probability * (y[z == 1].mean() - y[z == 0].mean() <= observed + 1e-12)
    exact = extreme / weight
    estimate = randomisation.bernoulli_randomisation_p(data, "y01", treatment="z", probability=p, draws=40_000, seed=7,
                                                 alternative="less")
    assert estimate.p_value == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 40_000) + 1 / 40_000)
    assert "one-sided (less)" in estimate.method


# ---- estimators added for the designs, against R ---------------------------------------------------

REFERENCE = Path(__file__).parent / "reference"
# tests/reference/declared_design.R writes these to declared_design.out (R 4.2.2, estimatr 1.0.0, sandwich 3.0.2).
R = load("declared_design")


def test_cluster_risk_ratio_matches_a_clustered_sandwich():
    data = pd.read_csv(REFERENCE / "cluster_trial.csv").rename(columns={"z": "assigned"})
    estimate = differences.cluster_risk_ratio(data.assign(_unit=data["ward"]), "y")
    assert np.log(estimate.estimate) == pytest.approx(R["cluster.log_rr.estimate"], rel=1e-9)
    assert estimate.std_error == pytest.approx(R["cluster.log_rr.std.error"], rel=1e-9)


def test_lin_with_block_indicators_matches_lm_lin_and_is_the_blocked_difference():
    data = pd.read_csv(REFERENCE / "blocked_trial.csv").rename(columns={"z": "assigned"})
    estimate = adjusted_lin.lin_by_design(data.assign(_unit=data["block"]), "y", Design.from_parameters(BLOCKED), covariates=[])
    assert estimate.estimate == pytest.approx(R["blocked.lin.estimate"], rel=1e-9)
    assert estimate.std_error == pytest.approx(R["blocked.lin.std.error"], rel=1e-9)
    r = load("declared_design")  # lm_lin's t interval and test on n - k df, not a normal one
    for mine, theirs in (("conf_low", "conf.low"), ("conf_high", "conf.high"), ("df", "df"), ("p_value", "p.value")):
        assert getattr(estimate, mine) == pytest.approx(r[f"blocked.lin.{theirs}"], rel=1e-9), mine
    blocked = differences.blocked_difference_in_means(data, "y", treatment="assigned", block="block")
    assert estimate.estimate == pytest.approx(blocked.estimate, rel=1e-9)


def test_lin_with_cr2_errors_matches_lm_lin_with_clusters():
    data = pd.read_csv(REFERENCE / "cluster_trial.csv").rename(columns={"z": "assigned"})
    # The R script's covariate, ward number mod 3, in a column the covariate design knows as numeric.
    data = data.assign(_unit=data["ward"], days_report_to_allocation=data["ward"].str[1:].astype(int) % 3)
    estimate = adjusted_lin.lin_by_design(data, "y", Design.from_parameters(CLUSTER), covariates=["days_report_to_allocation"])
    for mine, theirs in (("estimate", "estimate"), ("std_error", "std.error"), ("conf_low", "conf.low"),
                         ("conf_high", "conf.high")):
        assert getattr(estimate, mine) == pytest.approx(R[f"cluster.lin.{theirs}"], rel=1e-9), mine




# ---- the declared units: a column's values as written, or nested columns -----------------------------

@pytest.mark.parametrize("clusters, expected", [
    ("ward", "ward"), (["ward"], "ward"), (["borough", "ward"], ["borough", "ward"])])
def test_clusters_name_a_column_or_nest_columns(tmp_path, clusters, expected):
    design = {**CLUSTER, "clusters": clusters}
    assert load_parameters(write_parameters(tmp_path, {"design": design}))["design"]["clusters"] == expected


@pytest.mark.parametrize("clusters, message", [
    ([], "an empty list names no column"), (["ward", "ward"], "a column is named twice"),
    (["borough", "victim_sex"], "Input should be 'borough', 'ward', 'offence_group'")])
def test_a_list_of_cluster_columns_is_checked(tmp_path, clusters, message):
    with pytest.raises(InputError) as refused:
        load_parameters(write_parameters(tmp_path, {"design": {**CLUSTER, "clusters": clusters}}))
    assert message in str(refused.value)


def test_units_are_the_column_as_written_or_nested_in_boroughs():
    data = pd.DataFrame({"borough": ["Merton", "Sutton", "Merton"], "ward": ["W01", "W01", "W02"]})
    assert Design.from_parameters(CLUSTER).units(data).tolist() == ["W01", "W01", "W02"]
    nested = Design.from_parameters({**CLUSTER, "clusters": ["borough", "ward"]}).units(data)
    assert nested.tolist() == ["Merton / W01", "Sutton / W01", "Merton / W02"]


def test_nested_ward_clusters_give_estimatrs_nested_intervals(tmp_path):
    """clusters: [borough, ward] on the trial whose ward labels repeat: the 214 borough-ward pairs, as
    estimatr with clusters = paste(borough, ward) (tests/reference/repeated_ward_labels.R)."""
    from helpers.pipeline import stages
    from helpers.pipeline.context import open_stage

    r = load("repeated_ward_labels")
    made = ordinary_files.repeated_wards(tmp_path / "in")
    paths = dict(zip(("allocation_path", "extract_path", "params_file"), made["args"][1::2]))
    write_parameters(tmp_path / "in", {"design": {**CLUSTER, "clusters": ["borough", "ward"]},
                                       "randomisation_draws": DRAWS})
    ctx = open_stage(**paths, output_dir=tmp_path / "out", processed_dir=tmp_path / "processed")
    stages.data_cleaning(ctx)
    checks = stages.allocation_audit(ctx)
    result = stages.effect_estimation(ctx)
    attrition = result["outcomes"]["attrition"]
    assert attrition["itt"]["risk_difference_ci"] == pytest.approx([r["nested.itt.conf.low"], r["nested.itt.conf.high"]],
                                                                   abs=1e-9)
    assert attrition["cace"]["risk_difference_ci"] == pytest.approx(
        [r["nested.cace.conf.low"], r["nested.cace.conf.high"]], abs=1e-9)
    assert result["design"]["units"] == r["borough_wards"] == 214
    assert result["design"]["description"].startswith("Cluster-randomised by ward within borough")
    assert "warnings" in checks["design"] and checks["design"]["warnings"] == []  # nested: no label is ambiguous
    # the arm is constant within each borough-ward pair too (each ward's reports share its arm)
    assert checks["design"]["breaches"] == []


def test_a_ward_label_whose_arm_differs_across_boroughs_is_a_flagged_breach(tmp_path):
    """The declared clusters are the labels: a label with reports in both arms breaks the design, and the
    flag says that the label spans boroughs and how to declare wards within boroughs."""
    trial = pd.read_csv(REFERENCE / "repeated_wards_trial.csv")
    data = trial.rename(columns={"z": "assigned", "d": "received", "y": "attrition"})
    label = "W01"
    one_borough = data.index[(data["ward"] == label) & (data["borough"] == data.loc[data["ward"] == label,
                                                                                      "borough"].iloc[0])]
    data.loc[one_borough, "assigned"] = 1 - data.loc[one_borough, "assigned"]
    units = Design.from_parameters(CLUSTER).units(data)
    repeated = audit_design.wards_in_several_boroughs(data)
    breaches, flags = audit_design.cluster_breaches(audit_design.cluster_arms(data, units), Design.from_parameters(CLUSTER), repeated)
    assert [b["cluster"] for b in breaches] == [label]
    assert f"The label {label} appears in {repeated[label]} boroughs: if these are different wards, declare " \
           "clusters: [borough, ward]." in flags[0]


def test_nested_blocks_are_the_pairs_of_their_columns(tmp_path):
    """blocks: [borough, offence_group] runs through every stage (a list of block columns once stopped the audit),
    with the blocked estimator over the borough-offence pairs."""
    design = {**BLOCKED, "blocks": ["borough", "offence_group"]}
    results = run_in_process(*designed(BLOCK_SHARES, n_control=300, n_treatment=300), tmp_path, report=False,
                             params={"design": design})
    table = analysis_table(tmp_path)
    pairs = table["borough"] + " / " + table["offence_group"]
    blocked = differences.blocked_difference_in_means(table.assign(pair=pairs), "attrition", block="pair")
    assert results["design"]["units"] == pairs.nunique() and results["design"]["columns"] == ["borough", "offence_group"]
    assert results["design"]["description"].startswith("Blocked by offence group within borough")
    itt = results["outcomes"]["attrition"]["itt"]
    assert blocked.estimate is not None and itt["risk_difference"] == pytest.approx(blocked.estimate, rel=1e-12)
    assert itt["risk_difference_ci"] == pytest.approx(blocked.interval, rel=1e-12)
    assert {row["design"] for row in results["estimates"]} == {"blocked"}


def test_a_blocks_reason_counts_the_blocks_and_names_none():
    """A block may be a ward of one report: the reasons of the estimates count blocks; the audit names
    only those whose counts may be published."""
    data = pd.DataFrame({"block": ["KIN-01"] + ["A"] * 6 + ["B"] * 6 + ["WAN-21"],
                         "assigned": [1] + [0, 1] * 6 + [0], "attrition": [1, 0] * 7})
    estimate = differences.blocked_difference_in_means(data, "attrition", block="block")
    assert estimate.estimate is None
    assert estimate.reason.startswith("not estimable: 2 blocks have no SRC or no business-as-usual report")
    assert "KIN-01" not in estimate.reason and "WAN-21" not in estimate.reason
    table = pd.DataFrame({"ward": ["W1", "W1", "W2", "W2"], "assigned": [1, 0, 1, 1]})
    assert arms.cluster_problem(table, "assigned", "ward").startswith("a cluster has reports in both arms")
    assert "W1" not in arms.cluster_problem(table, "assigned", "ward")
