"""Stage 1 on the shipped data and on deliberately broken inputs."""
import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.inputs.cleaning import clean_inputs


def test_shipped_flow_accounts_for_every_row(shipped):
    flow = shipped.flow
    assert flow["assessed"] == 263
    assert flow["exclusion_reasons"] == {"duplicate record of the same report": 2, "hate crime not randomised": 5,
                                         "non-crime hate incident: not eligible": 6}
    assert flow["excluded_before_randomisation"] == 13
    assert flow["randomised"] == 250
    assert flow["allocated"] == {"treatment": 125, "control": 125}
    assert flow["received_src"] == {"treatment": 100, "control": 0}
    assert flow["analysed"] == {"treatment": 125, "control": 125}


def test_shipped_counts_match_the_calibration(analysis):
    """The shipped calibration (data/raw/README.md): 69/125 BAU, 43/100 and 11/25 SRC withdrawals."""
    cells = analysis.groupby(["allocation", "received"])["attrition"].agg(["sum", "size"])
    assert cells.loc[("BAU", 0)].tolist() == [69, 125]
    assert cells.loc[("SRC", 1)].tolist() == [43, 100]
    assert cells.loc[("SRC", 0)].tolist() == [11, 25]


def test_exclusion_log_rows_are_extract_lines(shipped):
    log = shipped.exclusions
    assert len(log) == 13
    assert set(log["file"]) == {"crime_extract.csv"}
    assert log["source_row"].between(2, 264).all()


def test_shipped_identifying_columns_are_dropped(shipped):
    assert shipped.inputs["extract"]["dropped_identifier_columns"] == ["notes"]
    assert shipped.inputs["allocation"]["dropped_identifier_columns"] == ["Comments"]
    assert "notes" not in shipped.analysis.columns


def test_untidy_values_are_normalised(analysis):
    assert set(analysis["borough"]) == {"Kingston", "Merton", "Richmond", "Wandsworth"}
    assert set(analysis["allocation"]) == {"SRC", "BAU"}
    assert analysis["outcome_code"].str.fullmatch(r"\d{1,2}A?").all()


def _clean(write_inputs, params, allocation, extract):
    return clean_inputs(*write_inputs(allocation, extract), params["outcomes"])


def test_treatment_and_control_are_accepted(write_inputs, params, small_trial):
    allocation, extract = small_trial
    allocation["Allocation"] = allocation["Allocation"].str.strip().str.upper().map({"SRC": "treatment", "BAU": "Control"})
    result = _clean(write_inputs, params, allocation, extract)
    assert result.flow["allocated"] == {"treatment": 20, "control": 20}


def _problems(write_inputs, params, allocation, extract) -> str:
    with pytest.raises(InputError) as raised:
        _clean(write_inputs, params, allocation, extract)
    return str(raised.value)


def test_missing_required_column(write_inputs, params, small_trial):
    allocation, extract = small_trial
    message = _problems(write_inputs, params, allocation, extract.drop(columns=["Hate Strand"]))
    assert "extract.csv, column 'hate_strand': required column is missing" in message


def test_unknown_allocation_value_names_rows(write_inputs, params, small_trial):
    allocation, extract = small_trial
    allocation.loc[[2, 5], "Allocation"] = "maybe"
    message = _problems(write_inputs, params, allocation, extract)
    assert "allocation.csv, column 'allocation', rows 4 and 7: expected SRC or BAU" in message
    assert "maybe" not in message, "a cell's value is never quoted: it may hold a name"
    assert "1 other value found; not shown" in message


def test_conflicting_allocations_are_refused(write_inputs, params, small_trial):
    allocation, extract = small_trial
    twin = allocation.iloc[[0]].copy()
    twin["Allocation"] = "BAU" if allocation.loc[0, "Allocation"].strip().upper() == "SRC" else "SRC"
    message = _problems(write_inputs, params, pd.concat([allocation, twin]), extract)
    assert "one reference is allocated to both SRC and BAU" in message
    assert "rows 2 and 42" in message and allocation.loc[0, "Crime Ref"] not in message


def test_same_arm_twice_is_kept_once_and_reported(write_inputs, params, small_trial):
    allocation, extract = small_trial
    result = _clean(write_inputs, params, pd.concat([allocation, allocation.iloc[[3]]]), extract)
    assert result.flow["randomised"] == 40
    assert any("entered twice with the same arm" in w for w in result.warnings)
    assert result.exclusions["reason"].tolist() == ["duplicate allocation entry (same arm): kept once"]


def test_reference_missing_from_extract(write_inputs, params, small_trial):
    allocation, extract = small_trial
    missing = extract.loc[0, "Crime Ref"]
    message = _problems(write_inputs, params, allocation, extract.iloc[1:])
    assert "1 allocated reference(s) are not in the crime extract" in message and "row 2" in message
    assert missing not in message


def test_unknown_outcome_code(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[4, "Outcome Code"] = "OC99"
    message = _problems(write_inputs, params, allocation, extract)
    assert "extract.csv, column 'outcome_code', row 6: not a Home Office outcome code" in message
    assert "OC99" not in message


def test_impossible_and_ambiguous_dates(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[0, "Reported On"] = "31/02/2023"
    extract.loc[1, "Reported On"] = "03/10/22"
    message = _problems(write_inputs, params, allocation, extract)
    assert "column 'reported_on', row 2: not a real date" in message
    assert "column 'reported_on', row 3: a date with a two-digit year" in message
    assert "31/02/2023" not in message and "03/10/22" not in message


def test_yes_no_field_with_another_value(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[7, "src_completed"] = "done"
    message = _problems(write_inputs, params, allocation, extract)
    assert "column 'src_completed', row 9: expected Y or N (1 other value found; not shown" in message
    assert "done" not in message


def test_outcome_dated_before_the_report(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[3, "Reported On"] = "2022-12-01"
    extract.loc[3, "outcome_on"] = "2022-11-01"
    message = _problems(write_inputs, params, allocation, extract)
    assert "column 'outcome_on', row 5: the outcome is dated before the report" in message


def test_every_problem_is_listed_at_once(write_inputs, params, small_trial):
    allocation, extract = small_trial
    allocation.loc[0, "Allocation"] = "x"
    extract.loc[0, "Outcome Code"] = "99"
    extract.loc[1, "src_completed"] = "?"
    with pytest.raises(InputError) as raised:
        _clean(write_inputs, params, allocation, extract)
    assert len(raised.value.problems) == 3


def test_open_investigations_are_counted_and_left_out(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[[0, 1], ["Outcome Code", "outcome_on"]] = ""
    result = _clean(write_inputs, params, allocation, extract)
    open_total = sum(result.flow["outcome_open"].values())
    assert open_total == 2
    assert sum(result.flow["analysed"].values()) == 38
    assert any("2 randomised report(s) have no outcome yet" in w for w in result.warnings)
    assert result.analysis["attrition"].isna().sum() == 2


def test_randomised_incident_stays_in_itt_and_is_named(write_inputs, params, small_trial):
    allocation, extract = small_trial
    extract.loc[5, "Record Type"] = "incident"
    result = _clean(write_inputs, params, allocation, extract)
    assert result.flow["randomised"] == 40
    assert any("non-crime incidents and so were not eligible" in w and "rows 7 of" in w for w in result.warnings)


def test_a_named_sheet_is_read(tmp_path, params, small_trial):
    allocation, extract = small_trial
    path = tmp_path / "allocation.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"notes": ["cover sheet"]}).to_excel(writer, sheet_name="Read me", index=False)
        allocation.to_excel(writer, sheet_name="Log", index=False)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    result = clean_inputs(path, tmp_path / "extract.csv", params["outcomes"], sheet={"allocation": "Log"})
    assert result.flow["randomised"] == 40
    assert result.inputs["allocation"]["sheet"] == "Log"
    assert result.inputs["allocation"]["sheet_reason"] == "named with --allocation-sheet"
    # unnamed: the cover sheet lacks the log's columns, so the only visible sheet that has them is read
    chosen = clean_inputs(path, tmp_path / "extract.csv", params["outcomes"])
    assert chosen.flow["randomised"] == 40 and chosen.inputs["allocation"]["sheet"] == "Log"
    assert chosen.inputs["allocation"]["sheet_reason"].startswith("the only visible sheet with the required columns")


def test_an_unknown_sheet_is_a_clear_error(tmp_path, params, small_trial):
    allocation, extract = small_trial
    allocation.to_excel(tmp_path / "allocation.xlsx", sheet_name="Log", index=False)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    with pytest.raises(InputError, match="allocation.xlsx: cannot read the sheet: the workbook has no sheet named "
                                         "'Nope'; its sheets are 'Log'"):
        clean_inputs(tmp_path / "allocation.xlsx", tmp_path / "extract.csv", params["outcomes"],
                     sheet={"allocation": "Nope"})
