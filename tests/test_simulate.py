"""The generator: exact calibration, the shipped files, and other designs."""
import pandas as pd
import pytest

from helpers import config
from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.reading import read_input
from helpers.inputs.simulate import TrialDesign, simulate_trial


def test_shipped_files_are_what_the_generator_makes(tmp_path):
    """data/raw is reproducible: regenerating with the default seed gives the same content."""
    allocation, extract = simulate_trial().write(tmp_path)
    for shipped, fresh, columns in ((config.DEFAULT_ALLOCATION, allocation, ["crime_ref", "allocated_on", "allocation"]),
                                    (config.DEFAULT_EXTRACT, extract, ["crime_ref", "reported_on", "outcome_code"])):
        pd.testing.assert_frame_equal(read_input(shipped, columns).data, read_input(fresh, columns).data)


@pytest.mark.parametrize("design, withdrawals", [
    (TrialDesign(), {("BAU", 0): 69, ("SRC", 1): 43, ("SRC", 0): 11}),
    (TrialDesign(n_control=400, n_treatment=600, compliance=0.5, control_withdrawal=0.3, complier_withdrawal=0.2,
                 noncomplier_withdrawal=0.35), {("BAU", 0): 120, ("SRC", 1): 60, ("SRC", 0): 105}),
])
def test_counts_are_exact(tmp_path, params, design, withdrawals):
    paths = simulate_trial(design, seed=99).write(tmp_path)
    data = clean_inputs(*paths, params["outcomes"]).analysis
    assert data.groupby(["allocation", "received"])["attrition"].sum().to_dict() == withdrawals
    arms = data.groupby("allocation")
    expected_charge = {"BAU": round(design.control_charge * design.n_control),
                       "SRC": round(design.treatment_charge * design.n_treatment)}
    assert arms["charge"].sum().to_dict() == expected_charge


def test_default_charge_and_positive_counts(analysis):
    assert analysis.groupby("allocation")["charge"].sum().to_dict() == {"BAU": 7, "SRC": 8}
    assert analysis.groupby("allocation")["positive_outcome"].sum().to_dict() == {"BAU": 14, "SRC": 15}


def test_withdrawal_codes_follow_suspect_identification(analysis):
    withdrew = analysis[analysis["attrition"] == 1]
    assert (withdrew["outcome_code"] == "16").eq(withdrew["suspect_identified"]).all()


def test_impossible_design_is_refused():
    with pytest.raises(ValueError, match="add up to more than one arm"):
        simulate_trial(TrialDesign(control_withdrawal=0.95, control_positive=0.2))


def test_untidy_as_promised():
    trial = simulate_trial()
    codes = trial.extract["Outcome Code"].astype(str)
    assert codes.str.startswith("OC").any() and codes.str.startswith("Outcome ").any()
    assert trial.extract["Reported On"].str.contains("/").any()
    assert (trial.extract["Record Type"].str.strip().str.lower() == "incident").sum() == 6


def test_a_generated_extract_says_it_is_synthetic_and_an_edited_one_does_not(tmp_path):
    from helpers.inputs.provenance import data_origin
    allocation, extract = simulate_trial().write(tmp_path)
    origin = data_origin(allocation, extract)
    assert origin["synthetic"] is True and "withdrawal counts reproduce the published trial" in origin["published"]
    extract.write_text(extract.read_text(encoding="utf-8").replace("Merton", "MERTON", 1), encoding="utf-8")
    assert data_origin(allocation, extract)["synthetic"] is False


def test_the_shipped_data_are_marked_synthetic():
    from helpers import config
    from helpers.inputs.provenance import data_origin
    assert data_origin(config.DEFAULT_ALLOCATION, config.DEFAULT_EXTRACT)["synthetic"] is True
