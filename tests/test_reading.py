"""Reading input files: headers as the contract compares them, identifying columns dropped."""
import pandas as pd
import pytest

from helpers.errors import InputError
from helpers.inputs.reading import header_key, read_input

COLUMNS = ["crime_ref", "allocated_on", "allocation", "random_number"]


@pytest.mark.parametrize("header", ["Crime Ref", "crime-ref", "crime_ref", "CRIME REF", " Crime_Ref "])
def test_header_variants_match(header):
    assert header_key(header) == "crimeref"


def test_csv_with_bom_and_header_variants(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes("\ufeffCrime Ref,Allocated-On,ALLOCATION\n3000001/22,03/10/2022,SRC\n".encode("utf-8"))
    table = read_input(path, COLUMNS)
    assert list(table.data.columns) == ["source_row", "crime_ref", "allocated_on", "allocation"]
    assert table.data.loc[0, "source_row"] == 2  # the line a person sees: the header is line 1


def test_identifying_columns_are_dropped_and_named(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"crime_ref": ["1/22"], "Victim Name": ["A Person"], "Home Address": ["1 Road"],
                  "Post-code": ["SW1"], "Phone": ["0700"], "E-mail": ["a@b"], "DOB": ["01/01/1990"],
                  "Officer Notes": ["text"], "allocation": ["SRC"]}).to_csv(path, index=False)
    table = read_input(path, COLUMNS)
    assert table.dropped_identifier_columns == ["Victim Name", "Home Address", "Post-code", "Phone", "E-mail",
                                                "DOB", "Officer Notes"]
    assert "A Person" not in table.data.to_string()


def test_excel_dates_stay_dates(tmp_path):
    path = tmp_path / "log.xlsx"
    pd.DataFrame({"Crime Ref": ["1/22"], "Allocated On": [pd.Timestamp("2022-10-03")],
                  "Allocation": ["BAU"], "Random Number": [0.7]}).to_excel(path, index=False)
    table = read_input(path, COLUMNS)
    assert table.data.loc[0, "allocated_on"] == pd.Timestamp("2022-10-03")
    assert table.data.loc[0, "random_number"] == "0.7"


@pytest.mark.parametrize("name, content, message", [
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", b"\n\n  \n", "the file is empty"),
    ("header.csv", b"crime_ref,allocated_on,allocation\n", "header but no data rows"),
    ("binary.csv", b"\x00\x01\x02\x03binary", "binary file, not a CSV"),
    ("latin1.csv", "crime_ref,allocation\n1/22,caf\xe9\n".encode("latin-1"), "not UTF-8 text"),
    ("log.txt.xlsx", b"crime_ref,allocation\n1/22,SRC\n", "not an Excel .xlsx workbook"),
    ("log.pdf", b"%PDF-1.4", "expected a .csv or .xlsx file"),
])
def test_unreadable_files_are_refused_with_the_file_named(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_input(path, COLUMNS)
    assert message in str(raised.value) and name in str(raised.value)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="nope.csv: the file does not exist"):
        read_input(tmp_path / "nope.csv", COLUMNS)


def test_two_headers_for_one_column_are_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("Crime Ref,crime_ref,allocation\n1/22,1/22,SRC\n", encoding="utf-8")
    with pytest.raises(InputError, match="are the same column"):
        read_input(path, COLUMNS)


def test_title_row_above_the_header_is_skipped(tmp_path):
    """A spreadsheet with a merged title row: the header is found on line 3."""
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["SRC trial allocation log", None, None])
    sheet.merge_cells("A1:C1")
    sheet.append([None, None, None])
    sheet.append(["Crime Ref", "Allocated On", "Allocation"])
    sheet.append(["1/22", "03/10/2022", "SRC"])
    sheet.append(["2/22", "04/10/2022", "BAU"])
    path = tmp_path / "log.xlsx"
    book.save(path)
    table = read_input(path, COLUMNS, required=["crime_ref", "allocated_on", "allocation"])
    assert table.header_line == 3
    assert table.data["source_row"].tolist() == [4, 5]
    assert table.data["crime_ref"].tolist() == ["1/22", "2/22"]


def test_blank_lines_keep_the_line_numbers_a_person_sees(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("crime_ref,allocation\n1/22,SRC\n\n2/22,BAU\n", encoding="utf-8")
    table = read_input(path, COLUMNS)
    assert table.data["source_row"].tolist() == [2, 4]
