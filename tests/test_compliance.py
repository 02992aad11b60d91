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


def test_ward_table_never_shows_a_count_below_the_threshold(analysis):
    shown = compliance.suppress_small_counts(compliance.delivery_by(analysis, "ward"), ["allocated", "received"])
    for column in ("allocated", "received"):
        numbers = pd.to_numeric(shown[column], errors="coerce").dropna()
        assert ((numbers == 0) | (numbers >= 5)).all()


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
