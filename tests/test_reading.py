"""Reading input files: headers as the contract compares them, identifying columns dropped."""
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.errors import InputError
from helpers.inputs.headers import header_key
from helpers.inputs.reading import read_input

from .hypothesis_profiles import examples

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


def _by_pandas(text: str, delimiter: str, width: int) -> pd.DataFrame:
    import io
    return pd.read_csv(io.StringIO(text), sep=delimiter, header=None, names=range(width), dtype=str,
                       keep_default_na=False, skip_blank_lines=False).fillna("")


@pytest.mark.parametrize("text, delimiter, same", [
    ('a,b,c\n1,"x, y",3\n4,"say ""hi""",6\n', ",", True),
    ('a,b\n"line one\nline two",2\n', ",", True),
    ("a;b\r\n1;2\r\n3;\r\n", ";", True),
    ("a,b\n1,2", ",", True),  # no newline at the end
    ("a,b\n , \n\u00e9t\u00e9,\u2013\n", ",", True),
    ("a,b\n1,2\n\n3,4\n", ",", True),  # a blank line is a row of empty cells to both (later dropped)
    ("a,b\n1\n", ",", False),  # a short line
    ("a,b\n1,2,3\n", ",", False),  # a long line
])
def test_pyarrow_reads_a_well_formed_file_as_pandas_does_and_leaves_the_rest_to_pandas(text, delimiter, same):
    from helpers.inputs import reading

    width = max(len(line.split(delimiter)) for line in text.splitlines()[:1])
    fast = reading._read_csv_with_pyarrow(text, delimiter, width)
    if not same:
        assert fast is None
        return
    pd.testing.assert_frame_equal(fast, _by_pandas(text, delimiter, width))


@settings(max_examples=examples(60))
@given(rows=st.lists(st.lists(st.text(alphabet=st.sampled_from(list('ab ,;"\n\r\u00e9\u200b1')), max_size=6),
                              min_size=3, max_size=3), min_size=1, max_size=8),
       delimiter=st.sampled_from([",", ";", "\t"]))
def test_any_file_csv_writes_is_read_alike_by_pyarrow_and_pandas(rows, delimiter):
    import csv
    import io

    from helpers.inputs import reading

    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter, lineterminator="\n").writerows([["h1", "h2", "h3"], *rows])
    text = buffer.getvalue()
    fast = reading._read_csv_with_pyarrow(text, delimiter, 3)
    if fast is not None:
        pd.testing.assert_frame_equal(fast, _by_pandas(text, delimiter, 3))
