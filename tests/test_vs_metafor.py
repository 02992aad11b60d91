"""Pooling against R's metafor: the same counts, the same numbers.

Reference values were produced by ``tests/reference/metafor_pool.R`` (its output is kept beside
it, ``metafor_pool.out``) with R 4.2.2 and metafor 3.8.1:

    es <- escalc(measure = "RR" | "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, drop00 = ...)
    fe <- rma(yi, vi, data = es, method = "FE")
    re <- rma(yi, vi, data = es, method = "REML", test = "knha");  predict(re)
    rma(yi, vi, data = es, method = "REML", test = "adhoc");  predict(...)   # the modified Hartung-Knapp
    rma(yi, vi, data = es, method = "REML", test = "knha", control = list(threshold = 1e-12, maxiter = 10000))
    rma(yi, vi, data = es, method = "DL")

"runs" are three runs of srceval (withdrawal, SRC vs BAU): the shipped data 54/125 vs 69/125,
and two simulated trials 64/150 vs 72/150 and 34/100 vs 60/100 (the R script gives the
``srceval simulate`` options). "zeros" has a run with no SRC events (0.5 added to its cells)
and one with no events at all (left out of the risk ratio, drop00 = TRUE). "same" is two runs with
the same counts (Q = 0). R is not needed to run these tests.
"""
import json
import math
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from helpers.cli import main
from helpers.methods import pooling
from helpers.pipeline import pool
from tests.reference_values import load

# Tolerances (relative):
# closed forms (escalc, fixed effect, Q, I², Hartung-Knapp given tau²) differ from R by summation order only.
CLOSED_FORM = 1e-10
# REML tau² follows metafor's Fisher scoring step for step (same start, update and stopping rule),
# so the iterate where both stop agrees to rounding; allow for rounding amplified over the iterations.
SAME_ALGORITHM = 1e-8
# tau² = 0 exactly on both sides; compare zero values absolutely.
ZERO = 1e-12
# How far metafor's default stopping rule (|change| < 1e-5) leaves tau² from the converged optimum:
# the negative control below checks the test can see differences this small.
METAFOR_STOPPING = 1e-5

# Read from tests/reference/metafor_pool.out, which the R script writes (NA: undefined in R).
R = load("metafor_pool")

RUNS = [pooling.StudyCounts("shipped", 54, 125, 69, 125), pooling.StudyCounts("trial_a", 64, 150, 72, 150),
        pooling.StudyCounts("trial_b", 34, 100, 60, 100)]
ZEROS = [pooling.StudyCounts("none_src", 0, 50, 3, 50), pooling.StudyCounts("some", 2, 60, 5, 60),
         pooling.StudyCounts("none_either", 0, 40, 0, 40), pooling.StudyCounts("plenty", 9, 80, 12, 80)]
SAME = [pooling.StudyCounts("seed_1", 54, 125, 69, 125), pooling.StudyCounts("seed_2", 54, 125, 69, 125)]
DATASETS = {"runs": RUNS, "zeros": ZEROS, "same": SAME}
MEASURE = {"RR": pooling.RISK_RATIO, "RD": pooling.RISK_DIFFERENCE}
CASES = [("runs", "RR"), ("runs", "RD"), ("zeros", "RR"), ("zeros", "RD"), ("same", "RR"), ("same", "RD")]


def close(value, expected, rel=CLOSED_FORM):
    return value == pytest.approx(expected, rel=rel, abs=ZERO)


def effects(dataset: str, measure: str):
    found = [pooling.study_effect(c, MEASURE[measure]) for c in DATASETS[dataset]]
    return found, [e.yi for e in found if e.included], [e.vi for e in found if e.included]


@pytest.mark.parametrize("dataset, measure", CASES)
def test_effect_sizes_match_escalc(dataset, measure):
    found, _, _ = effects(dataset, measure)
    for i, effect in enumerate(found, start=1):
        expected_y, expected_v = R[f"{dataset}.{measure}.yi[{i}]"], R[f"{dataset}.{measure}.vi[{i}]"]
        if math.isnan(expected_y):
            assert not effect.included and "left out" in effect.note
        else:
            assert close(effect.yi, expected_y) and close(effect.vi, expected_v)


def test_zero_cells_corrected_and_double_zero_dropped_with_notes():
    rr, _, _ = effects("zeros", "RR")
    assert [e.corrected for e in rr] == [True, False, False, False]
    assert [e.included for e in rr] == [True, True, False, True]
    assert "no events in both arms" in rr[2].note
    rd, _, _ = effects("zeros", "RD")
    assert [e.corrected for e in rd] == [True, False, True, False] and all(e.included for e in rd)


@pytest.mark.parametrize("dataset, measure", CASES)
def test_fixed_effect_matches_rma_fe(dataset, measure):
    _, y, v = effects(dataset, measure)
    fit, tag = pooling.fixed_effect(y, v), f"{dataset}.{measure}.fe"
    assert fit.k == R[f"{tag}.k"]
    for mine, theirs in ((fit.estimate, "beta"), (fit.std_error, "se"), (fit.conf_low, "ci_lb"),
                         (fit.conf_high, "ci_ub"), (fit.p_value, "pval")):
        assert close(mine, R[f"{tag}.{theirs}"]), theirs
    het = fit.heterogeneity
    assert close(het.q, R[f"{tag}.QE"]) and close(het.p_value, R[f"{tag}.QEp"])
    assert close(het.i2, R[f"{tag}.I2"] / 100) and close(het.h2, R[f"{tag}.H2"])


def check_random_effects(fit, tag, rel):
    for mine, theirs in ((fit.estimate, "beta"), (fit.std_error, "se"), (fit.conf_low, "ci_lb"),
                         (fit.conf_high, "ci_ub"), (fit.p_value, "pval"), (fit.heterogeneity.tau2, "tau2"),
                         (fit.heterogeneity.h2, "H2"), (fit.prediction_low, "pi_lb"), (fit.prediction_high, "pi_ub"),
                         (fit.heterogeneity.q, "QE"), (fit.heterogeneity.p_value, "QEp")):
        assert close(mine, R[f"{tag}.{theirs}"], rel), theirs
    assert close(fit.heterogeneity.i2, R[f"{tag}.I2"] / 100, rel)
    assert fit.df == R[f"{tag}.k"] - 1


KNHA_CASES = [case for case in CASES if case[0] != "same"]  # there metafor's knha p-value is 0 (se 0): undefined


@pytest.mark.parametrize("dataset, measure", KNHA_CASES)
def test_reml_hartung_knapp_and_prediction_interval_match_metafor(dataset, measure):
    """rma(method="REML", test="knha") with metafor's default control, and predict() (t, k - 1 df)."""
    _, y, v = effects(dataset, measure)
    check_random_effects(pooling.random_effects(y, v, modified=False), f"{dataset}.{measure}.reml_knha",
                         SAME_ALGORITHM)


@pytest.mark.parametrize("dataset, measure", KNHA_CASES)
def test_reml_converged_matches_metafor_converged(dataset, measure):
    _, y, v = effects(dataset, measure)
    fit = pooling.random_effects(y, v, threshold=1e-12, modified=False)
    check_random_effects(fit, f"{dataset}.{measure}.reml_knha_converged", SAME_ALGORITHM)


@pytest.mark.parametrize("dataset, measure", CASES)
def test_modified_hartung_knapp_matches_metafor_adhoc(dataset, measure):
    """rma(method="REML", test="adhoc") and its predict(): the default of random_effects."""
    _, y, v = effects(dataset, measure)
    check_random_effects(pooling.random_effects(y, v), f"{dataset}.{measure}.reml_adhoc", SAME_ALGORITHM)


def test_runs_that_agree_exactly_get_the_fixed_effect_variance_not_an_interval_of_no_width():
    """Two extracts made to the same counts: Q = 0 and tau² = 0. Unmodified, Hartung-Knapp gives an interval
    of no width (metafor's knha too); modified, the variance is the fixed-effect one, on t with 1 df."""
    _, y, v = effects("same", "RD")
    assert R["same.RD.reml_knha.se"] == 0 and R["same.RD.reml_knha.ci_lb"] == R["same.RD.reml_knha.ci_ub"]
    fit, fe = pooling.random_effects(y, v), pooling.fixed_effect(y, v)
    assert fit.heterogeneity.q == pytest.approx(0, abs=ZERO) and fit.heterogeneity.tau2 == 0
    assert fit.variance_factor == 0 and close(fit.std_error, fe.std_error)
    assert close(fit.conf_high - fit.conf_low, 2 * stats_t(1) * fe.std_error)
    entry = pooling.pool_outcome(SAME, "attrition", pooling.RISK_DIFFERENCE)
    re = entry["random_effects"]
    assert re["conf_high"] - re["conf_low"] > 1 and re["reason"] is None  # t with 1 df: honest about two runs
    assert any("agree exactly" in note and "raised to 1" in note for note in entry["notes"])
    assert "modified Hartung-Knapp" in re["method"]


def test_runs_that_disagree_enough_are_not_floored():
    """Where s² is at least 1 the modification changes nothing: adhoc and knha agree in metafor and here."""
    _, y, v = effects("runs", "RR")
    assert R["runs.RR.reml_adhoc.se"] == R["runs.RR.reml_knha.se"]
    assert pooling.random_effects(y, v).variance_factor >= 1
    assert not any("raised to 1" in note for note in pooling.pool_outcome(RUNS, "attrition", pooling.RISK_RATIO)["notes"])


def test_prediction_interval_uses_t_with_k_minus_1_df():
    """metafor's predict() for test="knha": mu +- qt(0.975, k - 1) sqrt(SE² + tau²), not qnorm."""
    _, y, v = effects("runs", "RR")
    fit = pooling.random_effects(y, v, modified=False)
    half = (fit.prediction_high - fit.prediction_low) / 2
    assert half == pytest.approx(stats_t(2) * math.sqrt(fit.std_error ** 2 + fit.heterogeneity.tau2), rel=1e-12)
    assert half != pytest.approx(1.959964 * math.sqrt(fit.std_error ** 2 + fit.heterogeneity.tau2), rel=1e-3)


def stats_t(df):
    from scipy.stats import t

    return t.ppf(0.975, df)


def test_negative_control_dersimonian_laird_differs_from_reml():
    """The comparison can tell tau² estimators apart: DL matches metafor's DL, and not its REML."""
    _, y, v = effects("runs", "RR")
    dl, reml = pooling.tau2_dersimonian_laird(y, v), pooling.tau2_reml(y, v)
    assert close(dl, R["runs.RR.dl.tau2"])
    assert dl != pytest.approx(R["runs.RR.reml_knha.tau2"], rel=SAME_ALGORITHM)
    assert reml != pytest.approx(R["runs.RR.dl.tau2"], rel=0.01)
    # and the same model with the DL tau² does not reproduce metafor's REML interval
    with_dl = pooling.random_effects(y, v, tau2=dl)
    assert with_dl.conf_low != pytest.approx(R["runs.RR.reml_knha.ci_lb"], rel=SAME_ALGORITHM)


def test_negative_control_stopping_rule_is_visible():
    """metafor's default stopping rule leaves tau² ~2e-5 (relative) from the optimum; the tests see that."""
    default, converged = R["runs.RR.reml_knha.tau2"], R["runs.RR.reml_knha_converged.tau2"]
    assert abs(default - converged) / converged > 100 * SAME_ALGORITHM
    assert abs(default - converged) < METAFOR_STOPPING


def test_fixed_effect_and_dl_agree_with_statsmodels():
    """A second, independent implementation: statsmodels' combine_effects (FE and DL, no REML)."""
    _, y, v = effects("runs", "RD")
    sm = combine_effects(np.array(y), np.array(v), method_re="chi2")
    assert close(pooling.fixed_effect(y, v).estimate, sm.mean_effect_fe)
    assert close(pooling.tau2_dersimonian_laird(y, v), sm.tau2)


def test_pool_outcome_reports_ratios_exponentiated():
    entry = pooling.pool_outcome(RUNS, "attrition", pooling.RISK_RATIO)
    re, fe = entry["random_effects"], entry["fixed_effect"]
    assert close(re["estimate"], math.exp(R["runs.RR.reml_knha.beta"]), SAME_ALGORITHM)
    assert close(re["conf_low"], math.exp(R["runs.RR.reml_knha.ci_lb"]), SAME_ALGORITHM)
    assert close(fe["conf_high"], math.exp(R["runs.RR.fe.ci_ub"]))
    assert close(re["std_error"], R["runs.RR.reml_knha.se"], SAME_ALGORITHM)  # the log ratio's
    assert entry["prediction_interval"] == pytest.approx(
        [math.exp(R["runs.RR.reml_knha.pi_lb"]), math.exp(R["runs.RR.reml_knha.pi_ub"])], rel=SAME_ALGORITHM)
    assert re["df"] == 2 and entry["k"] == 3


def test_one_run_left_is_not_estimable():
    entry = pooling.pool_outcome([ZEROS[2], ZEROS[1]], "charge", pooling.RISK_RATIO)
    assert entry["k"] == 1 and entry["random_effects"]["estimate"] is None
    assert "fewer than two runs" in entry["random_effects"]["reason"]


# ---- srceval pool, from files -------------------------------------------------------------------

CODES = {"attrition": ["14", "16"], "charge": ["1"],
         "positive_outcome": ["1", "2", "3", "4", "5", "6", "8", "9", "10", "22"]}
SECONDARY = {"charge": [(8, 125, 7, 125), (11, 150, 9, 150), (8, 100, 5, 100)],
             "positive_outcome": [(15, 125, 14, 125), (18, 150, 17, 150), (12, 100, 11, 100)]}


def minimal_results(counts: dict[str, tuple[int, int, int, int]], codes=CODES, conf_level: float = 0.95) -> dict:
    """The fields `srceval pool` reads, and nothing else."""
    return {
        "outcomes": {name: {"treatment": {"events": a, "n": n1}, "control": {"events": c, "n": n2}}
                     for name, (a, n1, c, n2) in counts.items()},
        "provenance": {"parameters": {"outcomes": {name: {"codes": codes[name]} for name in counts},
                                      "confidence_level": conf_level}},
    }


def minimal_projection(full: dict) -> dict:
    """The fields pooling reads, copied out of a full results.json (KeyError if one is missing)."""
    counts = {name: (o["treatment"]["events"], o["treatment"]["n"], o["control"]["events"], o["control"]["n"])
              for name, o in full["outcomes"].items()}
    codes = {name: d["codes"] for name, d in full["provenance"]["parameters"]["outcomes"].items()}
    return minimal_results(counts, codes, full["provenance"]["parameters"]["confidence_level"])


def write_runs(folder: Path, documents: list[dict]) -> list[Path]:
    paths = []
    for name, document in zip(("shipped", "trial_a", "trial_b"), documents):
        path = folder / name / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(document), encoding="utf-8")
        paths.append(path)
    return paths


def three_runs() -> list[dict]:
    return [minimal_results({"attrition": (c.treatment_events, c.treatment_n, c.control_events, c.control_n),
                             **{name: rows[i] for name, rows in SECONDARY.items()}})
            for i, c in enumerate(RUNS)]


def test_srceval_pool_end_to_end(tmp_path):
    """The command line on three results.json files: exit 0, metafor's numbers, HTML, PDF and plots."""
    paths = write_runs(tmp_path, three_runs())
    out = tmp_path / "pooled"
    done = subprocess.run([sys.executable, "-m", "helpers.cli", "pool", *map(str, paths), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    pooled = json.loads((out / "pooled.json").read_text(encoding="utf-8"))
    rr, rd = pooled["outcomes"]["attrition"]["risk_ratio"], pooled["outcomes"]["attrition"]["risk_difference"]
    assert [s["run"] for s in rr["studies"]] == ["shipped", "trial_a", "trial_b"]
    assert close(rr["random_effects"]["estimate"], math.exp(R["runs.RR.reml_knha.beta"]), SAME_ALGORITHM)
    assert close(rr["fixed_effect"]["estimate"], math.exp(R["runs.RR.fe.beta"]))
    assert close(rr["heterogeneity"]["tau2"], R["runs.RR.reml_knha.tau2"], SAME_ALGORITHM)
    assert close(rr["heterogeneity"]["i2"], R["runs.RR.reml_knha.I2"] / 100, SAME_ALGORITHM)
    assert close(rr["heterogeneity"]["q"], R["runs.RR.fe.QE"])
    assert close(rd["random_effects"]["conf_high"], R["runs.RD.reml_knha.ci_ub"], SAME_ALGORITHM)
    assert rd["prediction_interval"] == pytest.approx([R["runs.RD.reml_knha.pi_lb"], R["runs.RD.reml_knha.pi_ub"]],
                                                      rel=SAME_ALGORITHM)
    assert set(pooled["outcomes"]) == {"attrition", "charge", "positive_outcome"} and not pooled["skipped"]
    assert (out / "pooled.pdf").read_bytes().startswith(b"%PDF")
    page = (out / "pooled.html").read_text(encoding="utf-8")
    assert "trial_b" in page and "data:image/png;base64," in page
    from PIL import Image

    with Image.open(out / "figures" / "forest_attrition.png") as image:
        assert image.info["dpi"] == pytest.approx((200, 200), abs=0.5)


def test_pool_reads_only_the_minimal_fields(reference_results, tmp_path):
    """A full results.json and its projection onto the fields pooling reads pool the same."""
    full, others = deepcopy(reference_results), three_runs()[1:]
    runs_full = pool.read_runs(write_runs(tmp_path / "full", [full, *others]))
    runs_min = pool.read_runs(write_runs(tmp_path / "min", [minimal_projection(full), *others]))
    a, b = pool.pool_runs(runs_full), pool.pool_runs(runs_min)
    # the full file names its outcomes (as the parameters did); the projection falls back to fixed names
    assert a["outcomes"]["attrition"]["label"] == "victim withdrew support for the investigation"
    assert b["outcomes"]["attrition"]["label"] == "withdrawal of support"
    without_labels = lambda outcomes: {name: {k: v for k, v in o.items() if k != "label"} for name, o in outcomes.items()}
    assert without_labels(a["outcomes"]) == without_labels(b["outcomes"]) and a["skipped"] == b["skipped"]
    assert close(a["outcomes"]["attrition"]["risk_ratio"]["random_effects"]["estimate"],
                 math.exp(R["runs.RR.reml_knha.beta"]), SAME_ALGORITHM)  # the shipped run is 54/125 vs 69/125


def refused(argv, capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_refuses_fewer_than_two_runs(tmp_path, capsys):
    paths = write_runs(tmp_path, three_runs()[:1])
    assert "at least two" in refused(["pool", str(paths[0]), "--out", str(tmp_path / "o")], capsys)


def test_refuses_unreadable_and_foreign_files(tmp_path, capsys):
    paths = write_runs(tmp_path, three_runs())
    paths[1].write_text("{not json", encoding="utf-8")
    paths[2].write_text(json.dumps({"outcomes": {"attrition": {}}}), encoding="utf-8")
    missing = tmp_path / "nowhere" / "results.json"
    message = refused(["pool", *map(str, paths), str(missing), "--out", str(tmp_path / "o")], capsys)
    assert f"{paths[1]}: cannot be read as JSON" in message
    assert f"{paths[2]}: not an srceval results.json" in message
    assert f"{missing}: cannot be read" in message
    assert not (tmp_path / "o").exists()


def test_refuses_the_same_run_given_twice(tmp_path, capsys):
    """Pooling one trial with itself doubles its weight and narrows the interval."""
    paths = write_runs(tmp_path, three_runs())
    message = refused(["pool", str(paths[0]), str(paths[0]), str(paths[1]), "--labels", "a,b,c", "--out",
                       str(tmp_path / "o")], capsys)
    assert "are the same results.json" in message


def test_refuses_two_runs_of_the_same_input_files(tmp_path, capsys):
    """Another parameters file gives another results.json of the same trial: still one trial, not two."""
    runs = three_runs()
    for index, run in enumerate(runs):
        run["inputs"] = {"allocation_sha256": "a" * 64, "extract_sha256": str(index) * 64}
    runs[2]["inputs"] = dict(runs[0]["inputs"])
    runs[2]["outcomes"]["attrition"]["treatment"]["events"] += 1  # e.g. other outcome codes or settings
    paths = write_runs(tmp_path, runs)
    message = refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)
    assert f"{paths[2]} and {paths[0]} were run on the same allocation log and crime extract" in message
    del runs[2]["inputs"]  # a results.json that does not say which files it read is not refused for it
    assert pool.read_runs(write_runs(tmp_path / "again", runs))


def test_refuses_a_cluster_randomised_run(tmp_path, capsys):
    """Its two-by-two counts ignore the clustering: pooling them would give intervals far too narrow."""
    runs = three_runs()
    runs[1]["design"] = {"assignment": "cluster", "column": "ward"}
    paths = write_runs(tmp_path, runs)
    message = refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)
    assert f"{paths[1]}: a cluster design" in message


def test_refuses_a_run_in_which_no_one_received_the_contact(tmp_path, capsys):
    """Its arms' difference is not an effect of SRC (the exclusion restriction): pooled, it would be credited as one."""
    runs = three_runs()
    runs[0]["identification"] = {"identified": False, "reason": "no victim received the contact (none of the 125 "
                                                                 "allocated to SRC); the allocation can change ..."}
    paths = write_runs(tmp_path, runs)
    message = refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)
    assert f"{paths[0]}: no victim received the contact (none of the 125 allocated to SRC)" in message
    assert "its arms' difference is not an effect of SRC, so it cannot be pooled" in message


def test_refuses_different_outcome_definitions(tmp_path, capsys):
    runs = three_runs()
    runs[2]["provenance"]["parameters"]["outcomes"]["attrition"]["codes"] = ["14"]
    paths = write_runs(tmp_path, runs)
    message = refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)
    assert "outcome 'attrition' is defined by different codes" in message
    assert f"{paths[0]}: 14, 16" in message and f"{paths[2]}: 14" in message


def test_refuses_an_output_folder_that_is_a_file(tmp_path, capsys):
    paths = write_runs(tmp_path, three_runs())
    (tmp_path / "o").write_text("", encoding="utf-8")
    assert "is a file" in refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)


def test_secondary_outcome_missing_from_a_run_is_skipped(tmp_path):
    runs = three_runs()
    del runs[1]["outcomes"]["charge"], runs[1]["provenance"]["parameters"]["outcomes"]["charge"]
    pooled = pool.pool_runs(pool.read_runs(write_runs(tmp_path, runs)))
    assert "charge" not in pooled["outcomes"] and "missing from trial_a" in pooled["skipped"]["charge"]
    assert "positive_outcome" in pooled["outcomes"]


def test_labels_reach_the_report_escaped(tmp_path, capsys):
    paths = write_runs(tmp_path, three_runs())
    out = tmp_path / "o"
    assert main(["pool", *map(str, paths), "--out", str(out), "--labels", "a,<b>bold</b>,c"]) == 0
    page = (out / "pooled.html").read_text(encoding="utf-8")
    assert "&lt;b&gt;bold&lt;/b&gt;" in page and "<b>bold" not in page


def test_pooled_intervals_take_the_runs_confidence_level(tmp_path):
    """Runs made at 90% are pooled at 90%, with no level given: the pooled interval is the 90% one."""
    runs = three_runs()
    for run in runs:
        run["provenance"]["parameters"]["confidence_level"] = 0.9
    pooled = pool.pool_runs(pool.read_runs(write_runs(tmp_path, runs)))
    assert pooled["confidence_level"] == 0.9
    fe = pooled["outcomes"]["attrition"]["risk_difference"]["fixed_effect"]
    y, v = zip(*[(e.yi, e.vi) for e in (pooling.study_effect(c, pooling.RISK_DIFFERENCE) for c in RUNS)])
    fit = pooling.fixed_effect(np.array(y), np.array(v), conf_level=0.9)
    assert close(fe["conf_low"], fit.conf_low) and close(fe["conf_high"], fit.conf_high)
    assert close(fit.conf_high - fit.estimate, stats.norm.ppf(0.95) * fit.std_error)


def test_refuses_runs_of_different_confidence_levels_unless_one_is_given(tmp_path, capsys):
    """A 90% run beside 95% runs: no one level to pool at, and the message lists each file's level."""
    runs = three_runs()
    runs[1]["provenance"]["parameters"]["confidence_level"] = 0.9
    del runs[2]["provenance"]["parameters"]["confidence_level"]
    paths = write_runs(tmp_path, runs)
    message = refused(["pool", *map(str, paths), "--out", str(tmp_path / "o")], capsys)
    assert "not all computed at one stated confidence level" in message
    assert f"{paths[0]}: 0.95; {paths[1]}: 0.9; {paths[2]}: not stated" in message
    assert not (tmp_path / "o").exists()
    assert main(["pool", *map(str, paths), "--out", str(tmp_path / "o"), "--confidence-level", "0.8"]) == 0
    assert json.loads((tmp_path / "o" / "pooled.json").read_text(encoding="utf-8"))["confidence_level"] == 0.8


def test_refuses_a_copy_of_one_run_under_another_path(tmp_path, capsys):
    """The same trial twice (a results.json copied to another folder) would count its reports twice."""
    paths = write_runs(tmp_path, three_runs())
    copy = tmp_path / "copy" / "results.json"
    copy.parent.mkdir()
    copy.write_bytes(paths[1].read_bytes())
    message = refused(["pool", *map(str, paths), str(copy), "--out", str(tmp_path / "o")], capsys)
    assert f"{copy} and {paths[1]} are the same results.json" in message
    assert not (tmp_path / "o").exists()


def test_the_floored_note_claims_a_narrower_interval_only_when_the_unmodified_one_was():
    """With a between-run variance above zero, s² below 1 does not make the unmodified interval narrower than the
    fixed-effect one: the note says so only when it is, checked on many random sets of runs."""
    rng = np.random.default_rng(7)
    claims = {True: 0, False: 0}
    for _ in range(400):
        runs = [pooling.StudyCounts(f"run {i}", int(rng.integers(5, 60)), 120, int(rng.integers(5, 60)), 120)
                for i in range(int(rng.integers(2, 6)))]
        entry = pooling.pool_outcome(runs, "attrition", pooling.RISK_DIFFERENCE)
        floored = [note for note in entry["notes"] if "raised to 1" in note]
        if not floored:
            continue
        y, v = zip(*[(e.yi, e.vi) for e in map(lambda c: pooling.study_effect(c, pooling.RISK_DIFFERENCE), runs)])
        fit, fe = pooling.random_effects(y, v), pooling.fixed_effect(y, v)
        narrower = fit.std_error * math.sqrt(fit.variance_factor) < fe.std_error
        assert ("would be narrower than the fixed-effect one" in floored[0]) == narrower
        claims[narrower] += 1
    assert claims[True] and claims[False]  # both branches were met
