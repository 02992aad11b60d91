"""Compliance: delivery rates, the grouping of its tables for disclosure control, timing."""
import pandas as pd
import pytest

from helpers.methods import biased, compliance


def test_delivery_rates_on_shipped_data(analysis):
    rates = compliance.delivery_rates(analysis)
    assert rates["treatment"]["received"] == 100 and rates["treatment"]["rate"] == 0.8
    assert rates["control"]["rate"] == 0.0
    assert rates["treatment"]["conf_low"] == pytest.approx(0.7214, abs=1e-4)  # Wilson, 100/125


def test_delivery_by_borough_adds_up(analysis):
    table = compliance.delivery_by(analysis, "borough")
    assert table["allocated"].sum() == 125 and table["received"].sum() == 100


def test_delivery_counts_are_kept_as_whole_numbers_and_fractions():
    from helpers.methods import disclosure
    from helpers.report import tables
    table = pd.DataFrame({"group": ["A", "B"], "allocated": [12.0, 20.0], "received": [12, 10]})
    table["rate"] = table["received"] / table["allocated"]
    kept = disclosure.counts_table(table, ["allocated", "received"])
    assert kept["allocated"].tolist() == [12, 20] and kept["rate"].tolist() == [1.0, 0.5]
    assert all(type(v) is int for v in kept["allocated"])
    shown = tables.delivery_display(kept.to_dict(orient="records"), "Borough")  # the report formats them
    assert shown["Delivery rate"].tolist() == ["100%", "50%"]


def test_contact_timing_by_hand():
    data = pd.DataFrame({"received": [1, 1, 1, 0], "days_report_to_contact": [10, 20, 40, None]})
    assert compliance.contact_timing(data) == {"n": 3, "median": 20.0, "q1": 15.0, "q3": 30.0, "min": 10.0,
                                               "max": 40.0}


def test_biased_comparisons_are_labelled(analysis):
    rows = biased.biased_comparisons(analysis, "attrition")
    assert [r.estimand for r in rows] == ["risk_difference_per_protocol", "risk_difference_as_treated"]
    assert rows[0].estimate == pytest.approx(43 / 100 - 69 / 125)
    assert rows[1].estimate == pytest.approx(43 / 100 - 80 / 150)
    assert all("biased" in r.method for r in rows)


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


def group_of(levels, cells, threshold=5, **options):
    """group_levels on a small table: levels -> one row of cell counts each."""
    from helpers.methods import disclosure
    sums = pd.DataFrame(cells, index=levels)
    return disclosure.group_levels(sums, threshold, other="other", **options)


def test_a_level_with_a_small_cell_is_combined_and_the_combined_level_grows_until_safe():
    """Ward C (2 SRC reports) alone in 'other' would be a count of 2: the smallest named ward (B) joins it."""
    mapping = group_of(["A", "B", "C"], {"SRC": [30, 8, 2], "BAU": [25, 9, 0]})
    assert mapping == {"A": "A", "B": "other", "C": "other"}


def test_a_small_complement_combines_the_level():
    """12 allocated and 9 received would reveal 3 not reached."""
    mapping = group_of(["A", "B"], {"SRC received": [9, 10], "SRC not received": [3, 10]})
    assert mapping == {"A": "other", "B": "other"}  # A alone would be small; with B it is the whole arm


def test_zero_counts_are_safe_and_nothing_is_combined_when_every_cell_is_safe():
    assert group_of(["A", "B"], {"SRC": [0, 20], "BAU": [7, 0]}) == {"A": "A", "B": "B"}


def test_a_level_of_fewer_reports_than_the_threshold_is_never_named(analysis):
    """However its reports fall between the arms, a level of 1 to 4 reports has a small cell."""
    from helpers.methods import disclosure
    data = analysis.copy()
    data.loc[data.index[:1], "ward"] = "Jane Doe"
    data.loc[data.index[1:4], "borough"] = "Tiny"
    publication = disclosure.Publication(data, 5)
    for column in ("ward", "borough"):
        assert not {"Jane Doe", "Tiny"} & set(publication.base(column)), column
    wards = publication.wards()
    assert "Jane Doe" not in set(wards["ward"]) and "Tiny" not in set(wards["borough"])


def test_wards_are_grouped_within_their_boroughs_group_so_a_borough_minus_its_wards_is_a_published_row(analysis):
    from helpers.methods import disclosure
    publication = disclosure.Publication(analysis, 5)
    wards = publication.wards()
    assert (wards["borough"] == publication.delivery("borough")).all()
    cells = disclosure.report_cells(analysis)[list(disclosure.ARMS + disclosure.DELIVERY)]
    for _, rows in cells.groupby([wards["borough"], wards["ward"]]):
        assert disclosure.safe(rows.sum(), 5)


def test_time_periods_merge_with_a_neighbour():
    from helpers.methods import disclosure
    keys = pd.Series(["2022-10"] * 10 + ["2022-11"] * 2 + ["2022-12"] * 20)
    report = pd.DataFrame({"SRC": 1}, index=keys.index)
    grouped = disclosure.group_ordered(keys, report, 5, ["SRC"], disclosure.span)
    assert grouped.value_counts().to_dict() == {"2022-10 to 2022-11": 12, "2022-12": 20}  # the smaller neighbour


def test_hate_strands_are_published_as_first_strands_that_add_up_to_each_arm(analysis):
    """Per-strand counts beside first-strand counts would give back the reports holding each combination."""
    from helpers.methods import audit, disclosure
    from helpers.pipeline.stages import published_data

    shown = published_data(disclosure.Publication(analysis, 5), "base")
    balance = audit.balance_table(shown, first_strand=True)
    strands = balance[balance["covariate"] == "Hate strand"]
    assert strands["treatment"].sum() == pytest.approx(1) and strands["control"].sum() == pytest.approx(1)
    assert strands["n"].sum() == len(analysis)
    assert set(strands["level"]) <= {"race", "religion", "disability", "sexual orientation", "transgender",
                                     "other strands"}


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


def test_the_delivery_sentence_gives_each_arms_counts_and_the_src_rate():
    from helpers.report.tables import delivery_sentence

    assert delivery_sentence({"treatment": 125, "control": 125}, {"treatment": 100, "control": 3}) == (
        "100 of 125 victims allocated to SRC (80%) received the contact; 3 of 125 business-as-usual victims did.")
    assert delivery_sentence({"treatment": 0, "control": 9}, {"treatment": 0, "control": 0}) == (
        "No report was allocated to SRC; 0 of 9 business-as-usual victims did.")
