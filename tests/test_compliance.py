"""Compliance: delivery rates, disclosure control, timing."""
import pandas as pd
import pytest

from helpers import compliance


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
    assert shown["allocated"].tolist() == ["12", "<5", "0"]
    assert shown["received"].tolist() == ["9", "<5", "0"]
    assert shown["rate"].tolist() == ["75%", "suppressed", "0%"]


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
    assert shown["received"].tolist() == ["suppressed", "10"]
    assert shown["rate"].tolist() == ["suppressed", "50%"]


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
