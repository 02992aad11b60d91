"""Design first, then estimate: every estimand of the registry under each declared design.

The design is resolved once and each estimator family answers for it: a row stamped with the design
and the confidence level, the design's own estimator, or a row that says why the design does not
support it. Whether the allocation changed delivery is decided once, on every report, and every
family that credits SRC with an effect respects it.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from helpers.methods import differences, registry
from helpers.methods.design import COMPLETE, Design
from helpers.methods.identification import delivery_contrast
from helpers.methods.registry import ESTIMANDS, Settings, analyse_outcome
from helpers.pipeline.effects import outcome_entry

DESIGNS = {"complete": COMPLETE, "simple": Design("simple", probability=0.5),
           "blocked": Design("blocked", ("borough",)), "cluster": Design("cluster", ("ward",))}
NOT_VALID = {"blocked": {"risk_difference_adjusted_logistic", "risk_difference_per_protocol",
                         "risk_difference_as_treated"},
             "cluster": {"risk_difference_adjusted_logistic", "risk_difference_per_protocol",
                         "risk_difference_as_treated", "odds_ratio"}}


def trial(seed: int = 11) -> pd.DataFrame:
    """Four boroughs of eight wards of 12 reports; within each borough half the wards are SRC wards (so the
    boroughs are blocks with both arms, and the wards clusters wholly in one arm)."""
    rng = np.random.default_rng(seed)
    rows = []
    for b, borough in enumerate(("Kingston", "Merton", "Richmond", "Wandsworth")):
        for w in range(8):
            assigned = int(w % 2 == 0)
            ward_risk = 0.45 + 0.05 * b + rng.normal(0, 0.05)
            for _ in range(12):
                received = int(assigned and rng.random() < 0.8)
                rows.append({"borough": borough, "ward": f"{borough[:3]}-{w}", "assigned": assigned,
                             "received": received, "attrition": int(rng.random() < ward_risk - 0.15 * received),
                             "days_report_to_allocation": float(rng.integers(0, 10))})
    return pd.DataFrame(rows)


def analysed(data, design, conf_level=0.95, **settings):
    settings = Settings(conf_level=conf_level, draws=500, seed=1, covariates=("days_report_to_allocation",),
                        identification=delivery_contrast(data), **settings)
    return analyse_outcome(data, "attrition", design, settings)


@pytest.mark.parametrize("name", list(DESIGNS))
def test_every_row_carries_its_design_and_level_and_says_what_the_design_does_not_support(name):
    analysis = analysed(trial(), DESIGNS[name], conf_level=0.9)
    assert list(analysis.rows) == [e.name for e in ESTIMANDS]
    for estimand, row in analysis.rows.items():
        assert (row.estimand, row.design, row.conf_level) == (estimand, name, 0.9)
        if estimand in NOT_VALID.get(name, ()):
            assert row.estimate is None and row.reason.startswith(f"not estimable: not valid under a {name} design: ")
        else:
            assert row.estimate is not None, (estimand, row.reason)
            assert row.conf_low < row.conf_high
    unsupported = name in ("blocked", "cluster")
    assert (analysis.exact.two_sided is None) is unsupported
    assert (analysis.bayesian["probability_of_reduction"] is None) is unsupported


def test_each_design_gives_its_own_estimator():
    data = trial()
    rows = {name: analysed(data, design).rows["risk_difference"] for name, design in DESIGNS.items()}
    blocked = differences.blocked_difference_in_means(data, "attrition", block="borough")
    cluster = differences.cluster_difference_in_means(data, "attrition", cluster="ward")
    assert rows["blocked"].estimate == pytest.approx(blocked.estimate, rel=1e-12)
    assert rows["blocked"].interval == pytest.approx(blocked.interval, rel=1e-12)
    assert rows["cluster"].interval == pytest.approx(cluster.interval, rel=1e-12)
    assert rows["complete"].interval == rows["simple"].interval  # conditional on the arm sizes, the same
    assert rows["complete"].interval != pytest.approx(rows["cluster"].interval, abs=1e-3)


def test_the_level_is_the_rows_own():
    """At 90% every interval is the 90% one: Lin's t interval is estimate +/- t(0.95, df) x se."""
    data = trial()
    at_90, at_95 = analysed(data, COMPLETE, conf_level=0.9), analysed(data, COMPLETE, conf_level=0.95)
    lin = at_90.rows["risk_difference_adjusted_lin"]
    assert lin.conf_high - lin.estimate == pytest.approx(stats.t.ppf(0.95, lin.df) * lin.std_error, rel=1e-9)
    for name in ("risk_difference", "risk_ratio", "complier_average_causal_effect"):
        narrow, wide = at_90.rows[name], at_95.rows[name]
        assert wide.conf_low < narrow.conf_low < narrow.conf_high < wide.conf_high, name
    assert {row.conf_level for row in at_90.rows.values()} == {0.9}


def test_no_family_credits_src_when_the_allocation_did_not_change_delivery():
    """Delivery is equal in the arms over every report, though not among those with an outcome recorded (the
    contacted business-as-usual reports are all still open): the comparison of the arms stands, and every
    figure that credits SRC is not estimable, with the reason decided once."""
    data = trial()
    control = data.index[data["assigned"] == 0]
    treated = data.loc[data["assigned"] == 1, "received"].sum()
    contaminated = control[:treated]
    data.loc[contaminated, "received"] = 1
    data.loc[contaminated, "attrition"] = np.nan
    identification = delivery_contrast(data)
    assert identification["identified"] is False
    known = data[data["attrition"].notna()]
    assert known.loc[known["assigned"] == 1, "received"].mean() > known.loc[known["assigned"] == 0, "received"].mean()
    entry = outcome_entry(analysed(data, COMPLETE))
    reason = f"not estimable: {identification['reason']}"
    assert entry["itt"]["risk_difference"] is not None
    assert entry["cace"]["risk_difference"] is None and entry["notes"]["cace.risk_difference"] == reason
    assert entry["cace"]["relative_risk_reduction"] is None and entry["notes"]["cace.relative_risk_reduction"] == reason
    assert entry["cace"]["complier_control_risk"] is None and entry["notes"]["cace.complier_risks"] == reason
    assert entry["cace"]["anderson_rubin"]["interval"] == [None, None]
    assert entry["cace"]["anderson_rubin"]["reason"] == reason
    assert entry["itt"]["bayesian"]["probability_of_reduction"] is None and entry["notes"]["itt.bayesian"] == reason


def test_the_registry_makes_the_table_and_the_forest_plot():
    data = trial()
    analyses = [analysed(data, DESIGNS["blocked"])]
    table = registry.estimates(analyses)
    tabled = [e.name for e in ESTIMANDS if e.tabled]
    assert table["estimand"].tolist() == tabled and tabled[-1] == "odds_ratio"
    assert set(table["design"]) == {"blocked"} and set(table["conf_level"]) == {0.95}
    exploratory = set(table.loc[~table["prespecified"], "estimand"])
    assert exploratory == {"risk_difference_per_protocol", "risk_difference_as_treated"}
    assert table.set_index("estimand").loc["odds_ratio", "method"].startswith("Mantel-Haenszel odds ratio")
    assert list(registry.forest_labels()) == ["risk_difference", "complier_average_causal_effect",
                                              "risk_difference_adjusted_lin", "risk_difference_adjusted_logistic",
                                              "risk_difference_per_protocol", "risk_difference_as_treated"]


def test_the_design_resolves_its_units_and_what_it_supports():
    nested = Design.from_parameters({"assignment": "cluster", "clusters": ["borough", "ward"], "probability": 0.5})
    assert (nested.column, nested.declared, nested.noun(plural=True), nested.nesting()) == \
        ("ward", ["borough", "ward"], "wards", " within borough")
    data = pd.DataFrame({"borough": ["Merton", "Sutton"], "ward": ["W01", "W01"]})
    assert nested.units(data).tolist() == ["Merton / W01", "Sutton / W01"]
    assert Design.from_parameters(None) == COMPLETE and COMPLETE.units(data) is None
    blocked = DESIGNS["blocked"]
    assert blocked.unsupported("exact_test").startswith("not valid under a blocked design: Fisher's exact test")
    assert DESIGNS["cluster"].unsupported("self_selected_comparisons").endswith("while whole wards were randomised")
    assert COMPLETE.unsupported("exact_test") is None and DESIGNS["simple"].unsupported("logistic_adjustment") is None
    kept, lines = blocked.valid_subgroups(["borough", "primary_strand"])
    assert kept == ["borough"] and lines[0]["analysis"] == "subgroups by primary_strand"
    with pytest.raises(ValueError, match="a cluster design needs columns"):
        Design("cluster")
