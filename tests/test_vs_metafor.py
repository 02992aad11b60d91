"""Pooling against R's metafor: the same counts, the same numbers.

Reference values were produced by ``tests/reference/metafor_pool.R`` (its output is kept beside
it, ``metafor_pool.out``) with R 4.2.2 and metafor 3.8.1:

    es <- escalc(measure = "RR" | "RD", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat, drop00 = ...)
    fe <- rma(yi, vi, data = es, method = "FE")
    re <- rma(yi, vi, data = es, method = "REML", test = "knha");  predict(re)
    rma(yi, vi, data = es, method = "REML", test = "knha", control = list(threshold = 1e-12, maxiter = 10000))
    rma(yi, vi, data = es, method = "DL")

"runs" are three runs of srceval (withdrawal, SRC vs BAU): the shipped data 54/125 vs 69/125,
and two simulated trials 64/150 vs 72/150 and 34/100 vs 60/100 (the R script gives the
``srceval simulate`` options). "zeros" has a run with no SRC events (0.5 added to its cells)
and one with no events at all (left out of the risk ratio, drop00 = TRUE). R is not needed to
run these tests.
"""
import json
import math
import subprocess
import sys
from copy import deepcopy
from pathlib import Path

import numpy as np
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from helpers.cli import main
from helpers.methods import pooling
from helpers.pipeline import pool

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

R = {
    "runs.RR.yi[1]": -0.24512245803298516,
    "runs.RR.vi[1]": 0.017011272141706925,
    "runs.RR.yi[2]": -0.11778303565638337,
    "runs.RR.vi[2]": 0.016180555555555552,
    "runs.RR.yi[3]": -0.56798403760593907,
    "runs.RR.vi[3]": 0.026078431372549012,
    "runs.RR.fe.k": 3,
    "runs.RR.fe.beta": -0.27350235693683489,
    "runs.RR.fe.se": 0.079321875029952763,
    "runs.RR.fe.ci_lb": -0.42897037518172931,
    "runs.RR.fe.ci_ub": -0.11803433869194047,
    "runs.RR.fe.pval": 0.00056474001827734729,
    "runs.RR.fe.tau2": 0,
    "runs.RR.fe.I2": 58.94318980004671,
    "runs.RR.fe.H2": 2.435649518630012,
    "runs.RR.fe.QE": 4.871299037260024,
    "runs.RR.fe.QEp": 0.08754086915302868,
    "runs.RR.reml_knha.k": 3,
    "runs.RR.reml_knha.beta": -0.29414983956257928,
    "runs.RR.reml_knha.se": 0.13016709615862959,
    "runs.RR.reml_knha.ci_lb": -0.8542136511730678,
    "runs.RR.reml_knha.ci_ub": 0.26591397204790929,
    "runs.RR.reml_knha.pval": 0.1523132382295084,
    "runs.RR.reml_knha.tau2": 0.028867878132730972,
    "runs.RR.reml_knha.I2": 59.996390604231365,
    "runs.RR.reml_knha.H2": 2.4997744331184641,
    "runs.RR.reml_knha.QE": 4.871299037260024,
    "runs.RR.reml_knha.QEp": 0.08754086915302868,
    "runs.RR.reml_knha_converged.k": 3,
    "runs.RR.reml_knha_converged.beta": -0.29414964962791756,
    "runs.RR.reml_knha_converged.se": 0.13016704536334142,
    "runs.RR.reml_knha_converged.ci_lb": -0.85421324268392085,
    "runs.RR.reml_knha_converged.ci_ub": 0.26591394342808572,
    "runs.RR.reml_knha_converged.pval": 0.15231329917637926,
    "runs.RR.reml_knha_converged.tau2": 0.028867272318425063,
    "runs.RR.reml_knha_converged.I2": 59.995886924550049,
    "runs.RR.reml_knha_converged.H2": 2.4997429592150811,
    "runs.RR.reml_knha_converged.QE": 4.871299037260024,
    "runs.RR.reml_knha_converged.QEp": 0.08754086915302868,
    "runs.RR.reml_knha.pi_lb": -1.2150718338340232,
    "runs.RR.reml_knha.pi_ub": 0.62677215470886471,
    "runs.RR.reml_knha_converged.pi_lb": -1.2150654217767691,
    "runs.RR.reml_knha_converged.pi_ub": 0.62676612252093411,
    "runs.RR.dl.tau2": 0.027633592378922409,
    "runs.RD.yi[1]": -0.12000000000000005,
    "runs.RD.vi[1]": 0.0039413759999999999,
    "runs.RD.yi[2]": -0.053333333333333288,
    "runs.RD.vi[2]": 0.0032948148148148147,
    "runs.RD.yi[3]": -0.25999999999999995,
    "runs.RD.vi[3]": 0.0046439999999999997,
    "runs.RD.fe.k": 3,
    "runs.RD.fe.beta": -0.132830909117159,
    "runs.RD.fe.se": 0.035977803775009115,
    "runs.RD.fe.ci_lb": -0.20334610875902606,
    "runs.RD.fe.ci_ub": -0.062315709475291942,
    "runs.RD.fe.pval": 0.00022247660776731942,
    "runs.RD.fe.tau2": 0,
    "runs.RD.fe.I2": 63.250376338566646,
    "runs.RD.fe.H2": 2.72111630097982,
    "runs.RD.fe.QE": 5.4422326019596401,
    "runs.RD.fe.QEp": 0.065801259402407025,
    "runs.RD.reml_knha.k": 3,
    "runs.RD.reml_knha.beta": -0.14016264777767057,
    "runs.RD.reml_knha.se": 0.060402689247740143,
    "runs.RD.reml_knha.ci_lb": -0.40005444355366826,
    "runs.RD.reml_knha.ci_ub": 0.11972914799832712,
    "runs.RD.reml_knha.pval": 0.14608814202323878,
    "runs.RD.reml_knha.tau2": 0.0068619596008964766,
    "runs.RD.reml_knha.I2": 63.632726093177105,
    "runs.RD.reml_knha.H2": 2.7497249383116094,
    "runs.RD.reml_knha.QE": 5.4422326019596401,
    "runs.RD.reml_knha.QEp": 0.065801259402407025,
    "runs.RD.reml_knha_converged.k": 3,
    "runs.RD.reml_knha_converged.beta": -0.14016255647052819,
    "runs.RD.reml_knha_converged.se": 0.060402677729366909,
    "runs.RD.reml_knha_converged.ci_lb": -0.40005430268696585,
    "runs.RD.reml_knha_converged.ci_ub": 0.11972918974590949,
    "runs.RD.reml_knha_converged.pval": 0.14608824857903618,
    "runs.RD.reml_knha_converged.tau2": 0.006861727312868853,
    "runs.RD.reml_knha_converged.I2": 63.631942700871917,
    "runs.RD.reml_knha_converged.H2": 2.7496657073953052,
    "runs.RD.reml_knha_converged.QE": 5.4422326019596401,
    "runs.RD.reml_knha_converged.QEp": 0.065801259402407025,
    "runs.RD.reml_knha.pi_lb": -0.5812725796192636,
    "runs.RD.reml_knha.pi_ub": 0.30094728406392246,
    "runs.RD.reml_knha_converged.pi_lb": -0.5812675846695825,
    "runs.RD.reml_knha_converged.pi_ub": 0.30094247172852617,
    "runs.RD.dl.tau2": 0.0067497640727257058,
    "zeros.RR.yi[1]": -1.945910149055313,
    "zeros.RR.vi[1]": 2.2464985994397759,
    "zeros.RR.yi[2]": -0.91629073187415511,
    "zeros.RR.vi[2]": 0.66666666666666663,
    "zeros.RR.yi[3]": None,
    "zeros.RR.vi[3]": None,
    "zeros.RR.yi[4]": -0.28768207245178079,
    "zeros.RR.vi[4]": 0.16944444444444443,
    "zeros.RR.fe.k": 3,
    "zeros.RR.fe.beta": -0.50191678662961559,
    "zeros.RR.fe.se": 0.3569886089745507,
    "zeros.RR.fe.ci_lb": -1.2016016031107872,
    "zeros.RR.fe.ci_ub": 0.19776802985155606,
    "zeros.RR.fe.pval": 0.15973177550492224,
    "zeros.RR.fe.tau2": 0,
    "zeros.RR.fe.I2": 0,
    "zeros.RR.fe.H2": 0.72829314673788059,
    "zeros.RR.fe.QE": 1.4565862934757612,
    "zeros.RR.fe.QEp": 0.48273224040585805,
    "zeros.RR.reml_knha.k": 3,
    "zeros.RR.reml_knha.beta": -0.50191678662961559,
    "zeros.RR.reml_knha.se": 0.30465441077551636,
    "zeros.RR.reml_knha.ci_lb": -1.8127389187831056,
    "zeros.RR.reml_knha.ci_ub": 0.80890534552387428,
    "zeros.RR.reml_knha.pval": 0.24121570570580428,
    "zeros.RR.reml_knha.tau2": 0,
    "zeros.RR.reml_knha.I2": 0,
    "zeros.RR.reml_knha.H2": 1,
    "zeros.RR.reml_knha.QE": 1.4565862934757612,
    "zeros.RR.reml_knha.QEp": 0.48273224040585805,
    "zeros.RR.reml_knha_converged.k": 3,
    "zeros.RR.reml_knha_converged.beta": -0.50191678662961559,
    "zeros.RR.reml_knha_converged.se": 0.30465441077551636,
    "zeros.RR.reml_knha_converged.ci_lb": -1.8127389187831056,
    "zeros.RR.reml_knha_converged.ci_ub": 0.80890534552387428,
    "zeros.RR.reml_knha_converged.pval": 0.24121570570580428,
    "zeros.RR.reml_knha_converged.tau2": 0,
    "zeros.RR.reml_knha_converged.I2": 0,
    "zeros.RR.reml_knha_converged.H2": 1,
    "zeros.RR.reml_knha_converged.QE": 1.4565862934757612,
    "zeros.RR.reml_knha_converged.QEp": 0.48273224040585805,
    "zeros.RR.reml_knha.pi_lb": -1.8127389187831056,
    "zeros.RR.reml_knha.pi_ub": 0.80890534552387428,
    "zeros.RR.reml_knha_converged.pi_lb": -1.8127389187831056,
    "zeros.RR.reml_knha_converged.pi_ub": 0.80890534552387428,
    "zeros.RR.dl.tau2": 0,
    "zeros.RD.yi[1]": -0.058823529411764712,
    "zeros.RD.vi[1]": 0.0014436378165260722,
    "zeros.RD.yi[2]": -0.049999999999999996,
    "zeros.RD.vi[2]": 0.0018101851851851851,
    "zeros.RD.yi[3]": 0,
    "zeros.RD.vi[3]": 0.00058762931472265353,
    "zeros.RD.yi[4]": -0.037499999999999992,
    "zeros.RD.vi[4]": 0.0028417968750000001,
    "zeros.RD.fe.k": 4,
    "zeros.RD.fe.beta": -0.024725628820993932,
    "zeros.RD.fe.se": 0.017411017788670081,
    "zeros.RD.fe.ci_lb": -0.0588505966209735,
    "zeros.RD.fe.ci_ub": 0.0093993389789856358,
    "zeros.RD.fe.pval": 0.1555745167668362,
    "zeros.RD.fe.tau2": 0,
    "zeros.RD.fe.I2": 0,
    "zeros.RD.fe.H2": 0.75202093619996291,
    "zeros.RD.fe.QE": 2.2560628085998888,
    "zeros.RD.fe.QEp": 0.52099032092586761,
    "zeros.RD.reml_knha.k": 4,
    "zeros.RD.reml_knha.beta": -0.026322837549390486,
    "zeros.RD.reml_knha.se": 0.015088540893115175,
    "zeros.RD.reml_knha.ci_lb": -0.074341308766807029,
    "zeros.RD.reml_knha.ci_ub": 0.021695633668026057,
    "zeros.RD.reml_knha.pval": 0.17940807239920639,
    "zeros.RD.reml_knha.tau2": 0.00013205899523407823,
    "zeros.RD.reml_knha.I2": 8.6289370929603919,
    "zeros.RD.reml_knha.H2": 1.0944384011570427,
    "zeros.RD.reml_knha.QE": 2.2560628085998888,
    "zeros.RD.reml_knha.QEp": 0.52099032092586761,
    "zeros.RD.reml_knha_converged.k": 4,
    "zeros.RD.reml_knha_converged.beta": -0.026295003963413079,
    "zeros.RD.reml_knha_converged.se": 0.015089283508893861,
    "zeros.RD.reml_knha_converged.ci_lb": -0.074315838515670751,
    "zeros.RD.reml_knha_converged.ci_ub": 0.021725830588844589,
    "zeros.RD.reml_knha_converged.pval": 0.17975814671979468,
    "zeros.RD.reml_knha_converged.tau2": 0.00012941519884674007,
    "zeros.RD.reml_knha_converged.I2": 8.47082070404897,
    "zeros.RD.reml_knha_converged.H2": 1.0925477620274444,
    "zeros.RD.reml_knha_converged.QE": 2.2560628085998888,
    "zeros.RD.reml_knha_converged.QEp": 0.52099032092586761,
    "zeros.RD.reml_knha.pi_lb": -0.086682280819249169,
    "zeros.RD.reml_knha.pi_ub": 0.03403660572046819,
    "zeros.RD.reml_knha_converged.pi_lb": -0.086434118431166246,
    "zeros.RD.reml_knha_converged.pi_ub": 0.03384411050434008,
    "zeros.RD.dl.tau2": 0,
}

RUNS = [pooling.StudyCounts("shipped", 54, 125, 69, 125), pooling.StudyCounts("trial_a", 64, 150, 72, 150),
        pooling.StudyCounts("trial_b", 34, 100, 60, 100)]
ZEROS = [pooling.StudyCounts("none_src", 0, 50, 3, 50), pooling.StudyCounts("some", 2, 60, 5, 60),
         pooling.StudyCounts("none_either", 0, 40, 0, 40), pooling.StudyCounts("plenty", 9, 80, 12, 80)]
DATASETS = {"runs": RUNS, "zeros": ZEROS}
MEASURE = {"RR": pooling.RISK_RATIO, "RD": pooling.RISK_DIFFERENCE}
CASES = [("runs", "RR"), ("runs", "RD"), ("zeros", "RR"), ("zeros", "RD")]


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
        if expected_y is None:
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


@pytest.mark.parametrize("dataset, measure", CASES)
def test_reml_hartung_knapp_and_prediction_interval_match_metafor(dataset, measure):
    """rma(method="REML", test="knha") with metafor's default control, and predict() (t, k - 1 df)."""
    _, y, v = effects(dataset, measure)
    check_random_effects(pooling.random_effects(y, v), f"{dataset}.{measure}.reml_knha", SAME_ALGORITHM)


@pytest.mark.parametrize("dataset, measure", CASES)
def test_reml_converged_matches_metafor_converged(dataset, measure):
    _, y, v = effects(dataset, measure)
    fit = pooling.random_effects(y, v, threshold=1e-12)
    check_random_effects(fit, f"{dataset}.{measure}.reml_knha_converged", SAME_ALGORITHM)


def test_prediction_interval_uses_t_with_k_minus_1_df():
    """metafor's predict() for test="knha": mu +- qt(0.975, k - 1) sqrt(SE² + tau²), not qnorm."""
    _, y, v = effects("runs", "RR")
    fit = pooling.random_effects(y, v)
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


def minimal_results(counts: dict[str, tuple[int, int, int, int]], codes=CODES) -> dict:
    """The fields `srceval pool` reads, and nothing else."""
    return {
        "outcomes": {name: {"treatment": {"events": a, "n": n1}, "control": {"events": c, "n": n2}}
                     for name, (a, n1, c, n2) in counts.items()},
        "provenance": {"parameters": {"outcomes": {name: {"codes": codes[name]} for name in counts}}},
    }


def minimal_projection(full: dict) -> dict:
    """The fields pooling reads, copied out of a full results.json (KeyError if one is missing)."""
    counts = {name: (o["treatment"]["events"], o["treatment"]["n"], o["control"]["events"], o["control"]["n"])
              for name, o in full["outcomes"].items()}
    codes = {name: d["codes"] for name, d in full["provenance"]["parameters"]["outcomes"].items()}
    return minimal_results(counts, codes)


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
