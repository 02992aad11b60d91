"""Compliance: delivery rates, disclosure control, timing."""
import pandas as pd
import pytest

from helpers.methods import compliance


def test_delivery_rates_on_shipped_data(analysis):
    rates = compliance.delivery_rates(analysis)
    assert rates["treatment"]["received"] == 100 and rates["treatment"]["rate"] == 0.8
    assert rates["control"]["rate"] == 0.0
    assert rates["treatment"]["conf_low"] == pytest.approx(0.7214, abs=1e-4)  # Wilson, 100/125


def test_delivery_by_borough_adds_up(analysis):
    table = compliance.delivery_by(analysis, "borough")
    assert table["allocated"].sum() == 125 and table["received"].sum() == 100


def test_small_counts_are_suppressed():
    table = pd.DataFrame({"group": ["A", "B", "C"], "allocated": [12, 4, 0], "received": [9, 3, 0]})
    table["rate"] = [0.75, 0.75, 0.0]
    shown = compliance.suppress_small_counts(table, ["allocated", "received"], threshold=5)
    # B alone hidden would come back as the arm's total minus A: A is hidden with it (secondary).
    assert shown["allocated"].tolist() == ["suppressed", "<5", "0"]
    assert shown["received"].tolist() == ["suppressed", "<5", "0"]
    assert shown["rate"].tolist() == ["suppressed", "suppressed", "0%"]


def test_ward_table_never_shows_or_implies_a_count_below_the_threshold(analysis):
    table = compliance.delivery_by(analysis, "ward")
    shown = compliance.suppress_small_counts(table, ["allocated", "received"], total="allocated")
    allocated = pd.to_numeric(shown["allocated"], errors="coerce")
    received = pd.to_numeric(shown["received"], errors="coerce")
    for numbers in (allocated.dropna(), received.dropna(), (allocated - received).dropna()):
        assert ((numbers == 0) | (numbers >= 5)).all()


def test_a_small_complement_is_suppressed():
    """12 allocated and 9 received would reveal 3 not reached."""
    table = pd.DataFrame({"group": ["A", "B"], "allocated": [12, 20], "received": [9, 10], "rate": [0.75, 0.5]})
    shown = compliance.suppress_small_counts(table, ["allocated", "received"], total="allocated")
    # and the other row's received count with it, or the arm's total would give the first back
    assert shown["received"].tolist() == ["suppressed", "suppressed"]
    assert shown["allocated"].tolist() == ["12", "20"]
    assert shown["rate"].tolist() == ["suppressed", "suppressed"]


def test_contact_timing_by_hand():
    data = pd.DataFrame({"received": [1, 1, 1, 0], "days_report_to_contact": [10, 20, 40, None]})
    assert compliance.contact_timing(data) == {"n": 3, "median": 20.0, "q1": 15.0, "q3": 30.0, "min": 10.0,
                                               "max": 40.0}


def test_biased_comparisons_are_labelled(analysis):
    rows = compliance.biased_comparisons(analysis, "attrition")
    assert [r.estimand for r in rows] == ["risk_difference_per_protocol", "risk_difference_as_treated"]
    assert rows[0].estimate == pytest.approx(43 / 100 - 69 / 125)
    assert rows[1].estimate == pytest.approx(43 / 100 - 80 / 150)
    assert all("biased" in r.method for r in rows)


def test_delivery_by_strand_counts_a_report_in_each_of_its_strands():
    data = pd.DataFrame({"assigned": [1, 1, 1, 0], "received": [1, 0, 1, 0],
                         "strand_race": [1, 1, 0, 1], "strand_religion": [1, 0, 1, 0]})
    table = compliance.delivery_by_strand(data, {"strand_race": "race", "strand_religion": "religion"})
    assert table.set_index("group")[["allocated", "received"]].to_dict("index") == {
        "race": {"allocated": 2, "received": 1}, "religion": {"allocated": 2, "received": 2}}


def test_predictors_of_delivery_find_a_built_in_predictor():
    """Delivery 90% in one borough and 30% in the other: an odds ratio of (0.3/0.7)/(0.9/0.1) = 0.048."""
    import numpy as np
    rng = np.random.default_rng(8)
    n = 4000
    borough = rng.choice(["Merton", "Kingston"], n)
    data = pd.DataFrame({"assigned": 1, "borough": borough, "offence_group": rng.choice(["a", "b"], n),
                         "strand_race": rng.integers(0, 2, n), "suspect_identified": rng.random(n) < 0.5,
                         "received": (rng.random(n) < np.where(borough == "Kingston", 0.9, 0.3)).astype(int)})
    table = compliance.predictors_of_delivery(data)["terms"].set_index("term")
    merton = table.loc["borough: Merton"]
    assert merton["conf_low"] < (0.3 / 0.7) / (0.9 / 0.1) < merton["conf_high"]
    assert table.loc["race strand", "conf_low"] < 1 < table.loc["race strand", "conf_high"]


def test_predictors_not_estimable_when_everyone_got_the_contact(analysis):
    result = compliance.predictors_of_delivery(analysis.assign(received=analysis["assigned"]))
    assert len(result["terms"]) == 0 and "does not vary" in result["reason"]


def test_predictors_drop_a_constant_and_a_collinear_characteristic(analysis):
    """One borough only, and a suspect column equal to the race strand: both dropped, named."""
    data = analysis.assign(borough="Merton", suspect_identified=analysis["strand_race"].astype(bool))
    result = compliance.predictors_of_delivery(data)
    assert "suspect identified" in result["dropped"]
    assert not any(term.startswith("borough") for term in result["terms"]["term"])


def test_a_suppressed_ward_cannot_be_recovered_from_its_borough():
    """Merton 23/12 with wards 20/11 and 3/1: hiding the small ward alone would give it back by subtraction."""
    from helpers.methods import disclosure
    wards = pd.DataFrame({"borough": ["Merton", "Merton", "Kingston", "Kingston", "Kingston"],
                          "group": ["MER-01", "MER-02", "KIN-01", "KIN-02", "KIN-03"],
                          "allocated": [20, 3, 30, 25, 40], "received": [11, 1, 20, 20, 30]})
    wards["rate"] = wards["received"] / wards["allocated"]
    shown = disclosure.suppress(wards, ["allocated", "received"], threshold=5, total="allocated", group="borough")
    merton = shown[shown["borough"] == "Merton"]
    for column in ("allocated", "received"):
        assert not merton[column].str.isdigit().any(), column  # both Merton wards hidden: no subtraction
    assert shown.loc[shown["group"] == "KIN-01", "allocated"].item() == "30"


def test_a_borough_whose_small_ward_is_alone_is_hidden_in_the_borough_table():
    from helpers.methods import disclosure
    wards = pd.DataFrame({"borough": ["Richmond", "Kingston", "Kingston"], "group": ["RIC-01", "KIN-01", "KIN-02"],
                          "allocated": [3, 30, 25], "received": [2, 20, 20]})
    exposed = disclosure.suppressed_groups(wards, ["allocated", "received"], threshold=5, total="allocated",
                                           group="borough")
    assert exposed.tolist() == ["Richmond"]


def test_the_strand_table_hides_a_small_strand_and_one_more():
    """Transgender 2 of 2 is primary; the next smallest strand is hidden so the arm total cannot give it back."""
    from helpers.methods import disclosure
    strands = pd.DataFrame({"group": ["race", "religion", "transgender"], "allocated": [80, 12, 2],
                            "received": [60, 10, 2]})
    strands["rate"] = strands["received"] / strands["allocated"]
    shown = disclosure.suppress(strands, ["allocated", "received"], threshold=5, total="allocated")
    assert shown["allocated"].tolist() == ["80", "suppressed", "<5"]
    assert shown["rate"].tolist()[1:] == ["suppressed", "suppressed"]


def test_balance_levels_below_the_threshold_are_hidden_with_their_complement():
    from helpers.methods import disclosure
    balance = pd.DataFrame({"covariate": ["Victim sex"] * 3 + ["Days"], "level": ["female", "male", "other", "mean"],
                            "n": [120, 128, 2, 250], "control": [0.5, 0.49, 0.01, 1.2],
                            "treatment": [0.46, 0.53, 0.01, 1.3], "standardised_difference": [-0.08, 0.08, 0.0, 0.1]})
    shown = disclosure.suppress_balance(balance, threshold=5)
    assert shown["n"].tolist() == ["suppressed", 128, "<5", 250]
    assert shown["control"].tolist()[0] is None and shown["control"].tolist()[2] is None
    assert shown.loc[3, "standardised_difference"] == 0.1


def test_no_published_delivery_count_gives_back_a_hidden_ward(tmp_path):
    """Stage 3 on a simulated trial: within every borough whose row is shown, hidden ward cells come in twos."""
    import json

    from .trials import run_in_process, simulated
    run_in_process(*simulated(seed=11), tmp_path, report=False)
    stage = json.loads((tmp_path / "out" / "stages" / "03_compliance_analysis.json").read_text(encoding="utf-8"))
    wards, boroughs = pd.DataFrame(stage["by_ward"]), pd.DataFrame(stage["by_borough"]).set_index("group")
    assert (wards[["allocated", "received"]] == "<5").any().any()  # the check has something to check
    for borough, rows in wards.groupby("in borough"):
        if not boroughs.loc[borough, ["allocated", "received"]].str.isdigit().all():
            continue
        for column in ("allocated", "received"):
            assert (~rows[column].str.isdigit()).sum() != 1, (borough, column)


def test_delivery_interval_widens_by_the_design_effect_under_clusters():
    """Ten wards of ten reports, delivery all-or-nothing by ward: ICC 1, design effect 10, effective n 10."""
    import numpy as np
    data = pd.DataFrame({"assigned": 1, "received": np.repeat([1, 0, 1, 1, 0, 1, 0, 1, 1, 0], 10)})
    wards = pd.Series(np.repeat(np.arange(10), 10), index=data.index)
    independent = compliance.delivery_rates(data)["treatment"]
    clustered = compliance.delivery_rates(data, clusters=wards)["treatment"]
    from statsmodels.stats.proportion import proportion_confint
    assert (clustered["conf_low"], clustered["conf_high"]) == pytest.approx(proportion_confint(6, 10, method="wilson"))
    assert clustered["conf_high"] - clustered["conf_low"] > independent["conf_high"] - independent["conf_low"]
