"""Workbooks as people keep them, and values no randomisation writes: which sheet is read and why, cells whose
value the file does not hold, dates stored as numbers, control characters, and outcome definitions.

Each workbook is written here with openpyxl (hidden sheets, formula cells never calculated, error cells,
merged ranges, numbers in date columns, the 1904 date system); the command-line versions of the same
cases are in test_ordinary_files.py.
"""
from __future__ import annotations

import pandas as pd
import pytest
from openpyxl import Workbook

from helpers.errors import InputError
from helpers.inputs import cleaning
from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.outcomes import classify, unmatched_codes
from helpers.inputs.reading import read_input

COLUMNS = ["crime_ref", "allocated_on", "allocation", "random_number"]
REQUIRED = ["crime_ref", "allocated_on", "allocation"]
HEADER = ["Crime Ref", "Allocated On", "Allocation"]


def book(sheets: dict[str, list[list]], *, hidden=(), active: str | None = None, epoch_1904: bool = False) -> Workbook:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for name, rows in sheets.items():
        sheet = workbook.create_sheet(name)
        for row in rows:
            sheet.append(row)
        if name in hidden:
            sheet.sheet_state = "hidden"
    if active is not None:
        workbook.active = list(sheets).index(active)
    if epoch_1904:
        from openpyxl.utils.datetime import MAC_EPOCH
        workbook.epoch = MAC_EPOCH
    return workbook


def read(tmp_path, workbook: Workbook, **kwargs):
    path = tmp_path / "log.xlsx"
    workbook.save(path)
    return read_input(path, COLUMNS, required=REQUIRED, date_columns=("allocated_on",),
                      sheet_option="--allocation-sheet", **kwargs)


def refused(tmp_path, workbook: Workbook, **kwargs) -> str:
    with pytest.raises(InputError) as raised:
        read(tmp_path, workbook, **kwargs)
    return str(raised.value)


LOG = [HEADER, ["1/22", "03/10/2022", "SRC"], ["2/22", "04/10/2022", "BAU"]]
FLIPPED = [HEADER, ["1/22", "03/10/2022", "BAU"], ["2/22", "04/10/2022", "SRC"]]


# --- which sheet ---------------------------------------------------------------------------------------

def test_a_hidden_first_sheet_is_passed_over_and_named(tmp_path):
    table = read(tmp_path, book({"Draft": FLIPPED, "Log": LOG}, hidden=("Draft",), active="Log"))
    assert table.sheet == "Log" and table.data["allocation"].tolist() == ["SRC", "BAU"]
    assert table.sheet_reason == "the workbook's only visible sheet"
    assert table.notes == ["log.xlsx: read the sheet 'Log' (the workbook's only visible sheet); the hidden sheet(s) "
                           "'Draft' (which has the required columns) were not read: a hidden sheet is read only when "
                           "named with --allocation-sheet"]


def test_a_hidden_sheet_is_read_when_named(tmp_path):
    table = read(tmp_path, book({"Draft": FLIPPED, "Log": LOG}, hidden=("Draft",)), sheet="Draft")
    assert table.data["allocation"].tolist() == ["BAU", "SRC"]
    assert table.sheet_reason == "named with --allocation-sheet, although it is hidden"
    assert table.notes == ["log.xlsx: read the hidden sheet 'Draft', as named"]


def test_of_several_visible_sheets_with_the_columns_the_active_one_is_read_and_the_choice_said(tmp_path):
    table = read(tmp_path, book({"October": FLIPPED, "November": LOG, "Notes": [["anything"]]}, active="November"))
    assert table.sheet == "November" and table.data["allocation"].tolist() == ["SRC", "BAU"]
    assert table.sheet_reason.startswith("the active sheet (the one shown when the workbook was last saved), of 2 "
                                         "visible sheets with the required columns (also 'October')")
    assert "the others ('October') were not read" in table.notes[0]


def test_when_the_active_sheet_lacks_the_columns_the_first_sheet_with_them_is_read(tmp_path):
    table = read(tmp_path, book({"Notes": [["read me"]], "A": LOG, "B": FLIPPED}, active="Notes"))
    assert table.sheet == "A" and table.sheet_reason.startswith("the first of them, none being the active sheet")


def test_a_sheet_name_matches_without_case_or_spaces(tmp_path):
    assert read(tmp_path, book({"Allocation Log": LOG}), sheet=" allocation log").sheet == "Allocation Log"


def test_a_csv_file_has_no_sheet(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Crime Ref,Allocated On,Allocation\n1/22,03/10/2022,SRC\n", encoding="utf-8")
    table = read_input(path, COLUMNS, required=REQUIRED)
    assert table.sheet is None and table.label == "log.csv"


# --- cells whose value the file does not hold ----------------------------------------------------------

def test_formulas_never_calculated_are_refused_with_cells_and_fix(tmp_path):
    workbook = book({"Log": LOG + [["3/22", "05/10/2022", "SRC"]]})
    workbook["Log"]["C3"] = '=IF(1>0,"BAU","SRC")'
    workbook["Log"]["C4"] = "=C2"
    message = refused(tmp_path, workbook)
    assert ("log.xlsx (sheet 'Log'), column 'allocation', rows 3 and 4: 2 cell(s) hold a formula with no saved value "
            "(C3, C4): the workbook was written by a program and never opened and saved in a spreadsheet") in message
    assert "open the workbook in Excel or LibreOffice and save it, or export the sheet as CSV" in message


def test_a_formula_in_a_column_that_is_not_read_is_ignored(tmp_path):
    workbook = book({"Log": [HEADER + ["Working"], ["1/22", "03/10/2022", "SRC", "=1+1"]]})
    assert read(tmp_path, workbook).data["allocation"].tolist() == ["SRC"]


def test_a_formula_in_the_header_line_is_refused(tmp_path):
    workbook = book({"Log": LOG})
    workbook["Log"]["C1"] = '="Alloc"&"ation"'
    assert "log.xlsx (sheet 'Log'), row 1: 1 of the header line's cell(s) hold a formula with no saved value (C1)" \
        in refused(tmp_path, workbook)


def test_formulas_with_saved_values_are_read(tmp_path):
    """A formula whose value was saved (as Excel saves it) is read as that value: the cell's <v> is kept."""
    import zipfile

    path = tmp_path / "log.xlsx"
    workbook = book({"Log": LOG})
    workbook["Log"]["C2"] = '=IF(1>0,"SRC","BAU")'
    workbook.save(path)
    with zipfile.ZipFile(path) as source:
        parts = {item.filename: source.read(item.filename) for item in source.infolist()}
    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = parts[sheet].replace(b'<c r="C2"><f>IF(1&gt;0,"SRC","BAU")</f><v /></c>',
                                        b'<c r="C2" t="str"><f>IF(1&gt;0,"SRC","BAU")</f><v>SRC</v></c>')
    with zipfile.ZipFile(path, "w") as target:
        for name, content in parts.items():
            target.writestr(name, content)
    table = read_input(path, COLUMNS, required=REQUIRED)
    assert table.data["allocation"].tolist() == ["SRC", "BAU"]


def test_excel_errors_are_refused(tmp_path):
    workbook = book({"Log": LOG})
    workbook["Log"]["C3"] = "#N/A"  # openpyxl writes an error cell for an error code
    message = refused(tmp_path, workbook)
    assert "column 'allocation', row 3: 1 cell(s) hold an Excel error (#N/A) instead of a value (C3)" in message


def test_merged_cells_in_the_data_are_named_as_merged(tmp_path):
    workbook = book({"Log": LOG + [["3/22", "05/10/2022", None]]})
    workbook["Log"].merge_cells("C3:C4")
    message = refused(tmp_path, workbook)
    assert "log.xlsx (sheet 'Log'), column 'allocation', rows 3 and 4: cells C3:C4 are merged" in message


def test_merged_title_cells_above_the_header_are_not_a_problem(tmp_path):
    workbook = book({"Log": [["Allocation log, 2022", None, None], *LOG]})
    workbook["Log"].merge_cells("A1:C1")
    table = read(tmp_path, workbook)
    assert table.header_line == 2 and len(table.data) == 2


# --- dates stored as numbers ---------------------------------------------------------------------------

def test_numbers_in_a_date_column_are_read_as_the_dates_they_count(tmp_path):
    table = read(tmp_path, book({"Log": [HEADER, ["1/22", 44837, "SRC"], ["2/22", 44838.75, "BAU"],
                                         ["3/22", "05/10/2022", "SRC"]]}))
    assert table.data["allocated_on"].tolist()[:2] == [pd.Timestamp("2022-10-03"), pd.Timestamp("2022-10-04")]
    assert table.notes == ["log.xlsx (sheet 'Log'), column 'allocated_on': 2 date(s) were stored as numbers (Excel "
                           "serial dates, counted in days from 1899-12-30, this workbook's date system) and were read "
                           "as the dates they count (for example 44837 as 2022-10-03); format the column as dates in "
                           "the workbook to keep them as dates"]


def test_a_workbook_in_the_1904_date_system_counts_from_1904(tmp_path):
    table = read(tmp_path, book({"Log": [HEADER, ["1/22", 43375, "SRC"]]}, epoch_1904=True))
    assert table.data["allocated_on"].tolist() == [pd.Timestamp("2022-10-03")]
    assert "counted in days from 1904-01-01" in table.notes[0]


def test_a_small_number_in_a_date_column_is_not_taken_for_a_date(tmp_path, params, small_trial):
    workbook = book({"Log": [HEADER, ["1/22", 5, "SRC"]]})
    assert read(tmp_path, workbook).data["allocated_on"].tolist() == ["5"]  # cleaning refuses it as no date


def test_serial_numbers_in_a_csv_are_one_problem_saying_what_they_look_like(write_inputs, params, small_trial):
    allocation, extract = small_trial
    allocation["Allocated On"] = [str(44835 + i) for i in range(len(allocation))]
    with pytest.raises(InputError) as raised:
        clean_inputs(*write_inputs(allocation, extract), params["outcomes"])
    problems = [p for p in raised.value.problems if p.column == "allocated_on"]
    assert len(problems) == 1
    assert problems[0].message.startswith("40 value(s) look like Excel serial date numbers (days counted from "
                                          "30/12/1899: 44835 is 01/10/2022), not dates")


# --- control characters --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["Mer\nton", "Mer\r\nton", "Mer\x00ton", "Mer\tton", "Mer\u2028ton", "\x1bMerton"])
def test_a_control_character_inside_a_value_is_refused_by_row_and_column(write_inputs, params, small_trial, value):
    allocation, extract = small_trial
    extract.loc[[2, 5], "borough"] = value
    with pytest.raises(InputError) as raised:
        clean_inputs(*write_inputs(allocation, extract), params["outcomes"])
    message = str(raised.value)
    assert "extract.csv, column 'borough', rows 4 and 7: a value holds a control character" in message
    assert value not in message and "ton" not in message.split("control character")[1][:200]


def test_line_breaks_around_a_value_are_trimmed_as_spaces_are(write_inputs, params, small_trial):
    allocation, extract = small_trial
    borough = extract.loc[2, "borough"]
    extract.loc[2, "borough"] = f"{borough}\n"
    cleaned = clean_inputs(*write_inputs(allocation, extract), params["outcomes"])
    assert set(cleaned.analysis["borough"]) <= {"Kingston", "Merton", "Richmond", "Wandsworth"}


# --- entries no randomisation writes --------------------------------------------------------------------

def test_a_reference_logged_twice_with_another_date_is_kept_once_and_marked(write_inputs, params, small_trial):
    allocation, extract = small_trial
    again = allocation.iloc[[4]].assign(**{"Random Number": 0.999})
    same = allocation.iloc[[6]]
    cleaned = clean_inputs(*write_inputs(pd.concat([allocation, again, same], ignore_index=True), extract),
                           params["outcomes"])
    assert cleaned.flow["randomised"] == 40
    marked = cleaned.analysis[cleaned.analysis["allocation_entries_differ"]]
    assert marked["alloc_row"].tolist() == [6]
    reasons = cleaned.exclusions.set_index("source_row")["reason"]
    assert reasons[42] == cleaning.REASON_CONFLICTING_ALLOCATION and reasons[43] == cleaning.REASON_DUPLICATE_ALLOCATION
    assert any("1 entry(ies) repeat a reference in the same arm with another date or random number" in w
               for w in cleaned.warnings)


# --- outcome definitions --------------------------------------------------------------------------------

def test_a_variant_in_a_definition_counts_that_variant_alone():
    codes = pd.Series(["1", "1A", "14", None])
    counted = classify(codes, {"variant": {"codes": ["1A"]}, "number": {"codes": ["1"]}})
    assert counted["variant"].tolist()[:3] == [0, 1, 0] and counted["number"].tolist()[:3] == [1, 1, 0]


def test_definition_codes_that_match_no_report_are_listed():
    codes = pd.Series(["1", "14", None])
    definitions = {"charge": {"codes": ["1A"]}, "attrition": {"codes": ["14", "16"]}, "any": {"codes": ["1"]}}
    assert unmatched_codes(codes, definitions) == {"charge": ["1A"], "attrition": ["16"]}


def test_a_definition_that_counts_nothing_is_warned_about(write_inputs, params, small_trial):
    allocation, extract = small_trial
    outcomes = {**params["outcomes"], "charge": {"label": "charged", "codes": ["1A"]}}
    cleaned = clean_inputs(*write_inputs(allocation, extract), outcomes)
    warning = next(w for w in cleaned.warnings if "outcomes.charge.codes" in w)
    assert warning.startswith("outcome 'charge' (parameters, outcomes.charge.codes): code(s) 1A match no report in "
                              "extract.csv; no report counts as this outcome, so check its codes")
    assert cleaned.analysis["charge"].sum() == 0
