"""Input files as they arrive in practice: blank rows, other delimiters and encodings, paths that
are not files, untidy category values, identifying columns under many names, formula-like text,
files too big to read, and personal data typed into the wrong column."""
import codecs
import os
import signal
import zipfile
from contextlib import contextmanager
from dataclasses import FrozenInstanceError

import pandas as pd
import pytest
from openpyxl import Workbook

from helpers.errors import InputError
from helpers.inputs import cleaning, headers, reading, values
from helpers.inputs.cleaning import clean_inputs
from helpers.inputs.csvsafe import write_csv_safely
from helpers.inputs.limits import InputLimits
from helpers.inputs.reading import read_input
from helpers.inputs.values import ALLOCATION_DELAY_WARNING_DAYS

COLUMNS = ["crime_ref", "allocated_on", "allocation", "random_number"]
REQUIRED = ["crime_ref", "allocated_on", "allocation"]


def _refused(path, **kwargs) -> str:
    with pytest.raises(InputError) as raised:
        read_input(path, COLUMNS, **kwargs)
    return str(raised.value)


@contextmanager
def _deadline(seconds: int):
    """Fail instead of hanging when a read blocks (a named pipe) or never ends (/dev/zero)."""
    def expire(signum, frame):
        raise TimeoutError("the read did not return")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# --- 1. everyday file shapes -----------------------------------------------------------------------

def test_whitespace_only_rows_anywhere_in_a_csv_are_ignored(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("crime_ref,allocated_on,allocation\n , , \n1/22,03/10/2022,SRC\n\t,,\n\u200b,\u00a0,\n"
                    "2/22,04/10/2022,BAU\n   \n,,\n", encoding="utf-8")
    table = read_input(path, COLUMNS)
    assert table.data["crime_ref"].tolist() == ["1/22", "2/22"]
    assert table.data["source_row"].tolist() == [3, 6]


def test_trailing_blank_rows_of_an_excel_sheet_are_ignored(tmp_path, params, small_trial):
    """Rows a spreadsheet keeps after the data: cells holding "" or spaces, not empty cells."""
    allocation, extract = small_trial
    book = Workbook()
    sheet = book.active
    sheet.append(list(allocation.columns))
    for row in allocation.itertuples(index=False):
        sheet.append(list(row))
    sheet.append(["   ", "", " ", "", ""])
    sheet.append(["", "\u00a0", "", "", "  "])
    for cell in ("A50", "C51"):
        sheet[cell] = "  "
    path = tmp_path / "allocation.xlsx"
    book.save(path)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    result = clean_inputs(path, tmp_path / "extract.csv", params["outcomes"])
    assert result.flow["randomised"] == 40


@pytest.mark.parametrize("delimiter, name", [(";", "semicolon"), ("\t", "tab"), ("|", "vertical bar")])
def test_other_delimiters_are_read_and_named(tmp_path, delimiter, name):
    path = tmp_path / "log.csv"
    lines = ["Crime Ref,Allocated On,Allocation".replace(",", delimiter),
             delimiter.join(["1/22", "03/10/2022", "SRC"]), delimiter.join(["2/22", '"04/10/2022"', "BAU"])]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    table = read_input(path, COLUMNS)
    assert table.data[["crime_ref", "allocated_on", "allocation"]].values.tolist() == [
        ["1/22", "03/10/2022", "SRC"], ["2/22", "04/10/2022", "BAU"]]
    assert any(f"{name}-separated" in note for note in table.notes)


def test_commas_inside_values_do_not_make_a_semicolon_file_comma_separated(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text('crime_ref;allocated_on;allocation;"note, with commas, here"\n1/22;03/10/2022;SRC;x\n',
                    encoding="utf-8")
    assert read_input(path, COLUMNS).data.loc[0, "allocation"] == "SRC"


def test_utf16_unicode_text_from_excel_is_read(tmp_path, params, small_trial):
    """Excel's 'Unicode text': UTF-16 with a byte-order mark, tab-separated, saved as .txt."""
    allocation, extract = small_trial
    path = tmp_path / "allocation.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + allocation.to_csv(sep="\t", index=False).encode("utf-16-le"))
    extract.to_csv(tmp_path / "extract.csv", index=False)
    result = clean_inputs(path, tmp_path / "extract.csv", params["outcomes"])
    assert result.flow["randomised"] == 40
    assert any("decoded as UTF-16" in w for w in result.warnings)
    assert any("tab-separated" in w for w in result.warnings)


def test_windows_encoded_text_is_refused_with_the_line_named(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes("crime_ref,allocated_on,allocation\n1/22,03/10/2022,SRC \u2013 caf\xe9\n".encode("cp1252"))
    message = _refused(path)
    assert "log.csv: the file is not UTF-8 text" in message
    assert "on line 2" in message and "Windows or Latin-1" in message and "CSV UTF-8" in message


def test_utf16_without_a_byte_order_mark_is_named(tmp_path):
    path = tmp_path / "log.csv"
    path.write_bytes("crime_ref,allocation\n1/22,SRC\n".encode("utf-16-le"))
    assert "UTF-16 text without a byte-order mark" in _refused(path)


def test_a_workbook_named_csv_is_named(tmp_path):
    path = tmp_path / "log.csv"
    pd.DataFrame({"crime_ref": ["1/22"]}).to_excel(path.with_suffix(".xlsx"), index=False)
    path.write_bytes(path.with_suffix(".xlsx").read_bytes())
    assert "zip file (perhaps an Excel workbook named .csv)" in _refused(path)


def test_a_folder_is_named(tmp_path):
    folder = tmp_path / "extract.csv"
    folder.mkdir()
    assert "is a folder, not a file" in _refused(folder)


def test_a_named_pipe_is_named_without_blocking(tmp_path):
    pipe = tmp_path / "extract.csv"
    os.mkfifo(pipe)
    with _deadline(5):
        assert "is a named pipe" in _refused(pipe)


def test_a_device_is_named_without_reading_it(tmp_path):
    link = tmp_path / "extract.csv"
    link.symlink_to("/dev/zero")
    with _deadline(5):
        assert "is a device" in _refused(link)
        assert "is a device" in _refused("/dev/zero")


def test_a_path_that_does_not_exist_is_named(tmp_path, params):
    with pytest.raises(InputError) as raised:
        clean_inputs(tmp_path / "nope.csv", tmp_path / "gone.xlsx", params["outcomes"])
    message = str(raised.value)
    assert "nope.csv: the file does not exist" in message and "gone.xlsx: the file does not exist" in message


def test_an_old_xls_workbook_is_named(tmp_path):
    path = tmp_path / "log.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0")
    assert "old Excel 97-2003 (.xls)" in _refused(path)


def test_a_ragged_line_names_the_line(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("crime_ref,allocated_on,allocation\n1/22,03/10/2022,SRC\n2/22,04/10/2022,BAU,extra\n",
                    encoding="utf-8")
    assert "log.csv, row 3: more values than the header line has (3); a value containing a comma must be in " \
           "double quotes" in _refused(path)
    path.write_text("crime_ref,allocated_on,allocation\n1/22,03/10/2022,SRC\n" * 6 + "2/22,x,BAU,extra,more\n",
                    encoding="utf-8")  # wider than every line the delimiter was sniffed from
    assert "line 13 has 5 values but the lines above have 3" in _refused(path)


# --- 2. category values --------------------------------------------------------------------------

def _clean(tmp_path, params, allocation, extract):
    allocation.to_csv(tmp_path / "allocation.csv", index=False)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    return clean_inputs(tmp_path / "allocation.csv", tmp_path / "extract.csv", params["outcomes"])


def _problems(tmp_path, params, allocation, extract) -> str:
    with pytest.raises(InputError) as raised:
        _clean(tmp_path, params, allocation, extract)
    return str(raised.value)


def test_spellings_of_one_borough_and_ward_are_one_group(tmp_path, params, small_trial):
    allocation, extract = small_trial
    extract["borough"] = "Kingston"
    extract.loc[[0, 1], "borough"] = "KINGSTON"
    extract.loc[2, "borough"] = "kingston\u200b"
    extract.loc[3, "borough"] = "Kingston\u00a0"
    extract["ward"] = "W01"
    extract.loc[[4, 5, 6], "ward"] = "w01"
    extract.loc[7, "ward"] = "\uff37\uff10\uff11"  # full-width, as some systems export
    result = _clean(tmp_path, params, allocation, extract)
    assert set(result.analysis["borough"]) == {"Kingston"}
    assert set(result.analysis["ward"]) == {"W01"}
    merged = [w for w in result.warnings if "counted as one place" in w]
    assert any("column 'borough'" in w and "'Kingston' (40 rows) includes 'KINGSTON' (2), 'kingston' (1)" in w
               for w in merged)
    assert any("column 'ward'" in w and "'W01' (40 rows) includes 'w01' (3)" in w for w in merged)
    assert any("column 'borough': 1 value(s) held invisible characters" in w and "row 4)" in w
               for w in result.warnings)


def test_crime_references_match_across_files_whatever_the_invisible_characters(tmp_path, params, small_trial):
    allocation, extract = small_trial
    reference = extract.loc[0, "Crime Ref"]
    allocation.loc[allocation["Crime Ref"] == reference, "Crime Ref"] = f"\ufeff {reference.lower()}\u200b"
    extract.loc[0, "Crime Ref"] = f"{reference}\u200d\u00a0"
    result = _clean(tmp_path, params, allocation, extract)
    assert result.flow["randomised"] == 40
    assert reference in set(result.analysis["crime_ref"])


def test_normalise_text():
    assert headers.normalise_text("  Kingston\u200b \u00a0upon\tThames\ufeff ") == "Kingston upon Thames"
    assert headers.normalise_text("\uff37\uff10\uff11") == "W01"


# --- 3. dates worth checking ---------------------------------------------------------------------

def _dates(small_trial, row, reported, allocated, contact=None):
    allocation, extract = small_trial
    reference = extract.loc[row, "Crime Ref"]
    extract.loc[row, "Reported On"] = reported
    allocation.loc[allocation["Crime Ref"] == reference, "Allocated On"] = allocated
    if contact is not None:
        extract.loc[row, ["src_completed", "src_completed_on", "src_mode"]] = ["Y", contact, "Phone"]
    allocation_row = int(allocation.index[allocation["Crime Ref"] == reference][0]) + 2
    return allocation, extract, allocation_row


def test_allocation_long_after_the_report_is_a_warning(tmp_path, params, small_trial):
    assert ALLOCATION_DELAY_WARNING_DAYS == 28
    allocation, extract, row = _dates(small_trial, 0, "2022-10-01", "2022-10-30")  # 29 days
    result = _clean(tmp_path, params, allocation, extract)
    assert any("1 randomised report(s) were allocated more than 28 days after they were reported" in w
               and f"row {row} of allocation.csv" in w for w in result.warnings)


def test_allocation_exactly_at_the_limit_is_not_a_warning(tmp_path, params, small_trial):
    allocation, extract, _ = _dates(small_trial, 0, "2022-10-01", "2022-10-29")  # 28 days
    result = _clean(tmp_path, params, allocation, extract)
    assert not any("days after they were reported" in w for w in result.warnings)


def test_contact_before_allocation_is_a_warning(tmp_path, params, small_trial):
    allocation, extract, _ = _dates(small_trial, 3, "2022-10-01", "2022-10-10", contact="2022-10-05")
    result = _clean(tmp_path, params, allocation, extract)
    assert any("1 contact(s) are dated before the report was allocated" in w and "row 5 of extract.csv" in w
               for w in result.warnings)


def test_allocation_before_the_report_is_left_to_the_audit(tmp_path, params, small_trial):
    """Unchanged: not an input error; stage 2 lists it as an integrity finding."""
    allocation, extract, _ = _dates(small_trial, 0, "2022-10-10", "2022-10-01")
    result = _clean(tmp_path, params, allocation, extract)
    assert (result.analysis["days_report_to_allocation"] < 0).sum() == 1


# --- 4. identifying columns under other names ----------------------------------------------------

IDENTIFYING_HEADERS = [
    "Victim", "Victim Name", "complainant", "contact_no", "contact number", "d.o.b", "DOB", "tel", "tel no",
    "Remarks", "NI number", "National Insurance", "NINO", "passport", "driving licence", "email address",
    "e-mail", "mobile", "street", "house number", "flat", "post code", "surname", "forename", "first name",
    "last name", "full name", "officer notes", "free text", "occurrence summary", "MO", "details",
    "ip address", "vehicle registration", "VRM", "date of birth", "age", "Victim Age", "Phone", "Home Address",
    # by meaning: people, officers, places, free text under other names
    "contact", "Contact made with", "caller", "Caller's number", "informant", "Informant Name", "OIC", "OIC_ID",
    "Officer in the case", "officer_in_case", "InvestigatingOfficer", "location", "Location of offence", "venue",
    "Grid Ref", "latitude", "next of kin", "Latest update", "Case log", "Additional information", "Observations",
    "Victim statement", "Synopsis", "Info", "Desc",
]


def test_identifying_headers_are_all_dropped_and_all_listed(tmp_path, params, small_trial):
    allocation, extract = small_trial
    marker = "ZQXMARKER"
    extract = extract.assign(**{header: f"{marker}{i}" for i, header in enumerate(IDENTIFYING_HEADERS)})
    result = _clean(tmp_path, params, allocation, extract)
    dropped = result.inputs["extract"]["dropped_identifier_columns"]
    assert sorted(dropped) == sorted(IDENTIFYING_HEADERS + ["notes"])
    assert marker not in result.analysis.to_string()
    listed = next(w for w in result.warnings if w.startswith("extract.csv: dropped columns"))
    assert all(header in listed for header in IDENTIFYING_HEADERS)
    assert result.analysis["victim_age_band"].isin(values.AGE_BANDS + (values.NOT_RECORDED,)).all()


@pytest.mark.parametrize("header", ["victim_age_band", "Victim Age Band", "victim_sex", "repeat_victim",
                                    "suspect_identified", "src_mode", "Offence Group", "ward", "Random Number"])
def test_contract_columns_are_never_taken_for_identifiers(header):
    key = headers.header_key(header)
    contract = {headers.header_key(c) for c in cleaning.EXTRACT_COLUMNS + cleaning.ALLOCATION_COLUMNS}
    assert key in contract


@pytest.mark.parametrize("header", ["Crime Type", "Hate Flag", "Damage Value", "Hotel", "Station", "Team", "Choice",
                                    "Stage", "Allocation method", "allocation_order", "Priority", "Voice"])
def test_ordinary_headers_are_not_taken_for_identifiers(header):
    assert not headers.is_identifier_header(header)


def test_a_column_with_values_but_no_header_is_dropped_and_listed(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("crime_ref,allocated_on,allocation,,\n1/22,03/10/2022,SRC,Jane Doe,\n", encoding="utf-8")
    table = read_input(path, COLUMNS)
    assert table.dropped_identifier_columns == ["column D (no header)"]
    assert "Jane Doe" not in table.data.to_string()


def test_a_repeated_identifying_header_is_listed_each_time(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text("crime_ref,Phone,allocation,Phone\n1/22,0700,SRC,0701\n", encoding="utf-8")
    table = read_input(path, COLUMNS)
    assert table.dropped_identifier_columns == ["Phone (column B)", "Phone (column D)"]


# --- 5. formula-like text in the CSV files written -----------------------------------------------

FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"]


def test_formula_like_text_is_neutralised_and_numbers_stay_numbers(tmp_path):
    frame = pd.DataFrame({"text": [f"{c}SUM(A1)" for c in FORMULA_STARTS] + ["plain"],
                          "number": [-1, -2.5, 3, 0, -7, 8, -9], "=header": ["a"] * 7})
    path = tmp_path / "out.csv"
    write_csv_safely(frame, path)
    back = pd.read_csv(path, dtype={"text": str}, keep_default_na=False)
    assert back["text"].tolist() == [f"'{c}SUM(A1)" for c in FORMULA_STARTS] + ["plain"]
    assert back["number"].tolist() == [-1, -2.5, 3, 0, -7, 8, -9]
    assert list(back.columns) == ["text", "number", "'=header"]
    assert frame.loc[0, "text"] == "=SUM(A1)"  # the frame itself is not changed


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t"])
def test_exclusion_log_neutralises_references_and_file_names(tmp_path, params, small_trial, start):
    """An unrandomised report whose reference, and an extract whose file name, begin like a formula: the
    file name is neutralised, and the reference is not written at all."""
    allocation, extract = small_trial
    stray = extract.iloc[[0]].assign(**{"Crime Ref": f"{start}HYPERLINK(1)"})
    extract = pd.concat([extract, stray], ignore_index=True)
    allocation_path, extract_path = tmp_path / "allocation.csv", tmp_path / f"{start}extract.csv"
    allocation.to_csv(allocation_path, index=False)
    extract.to_csv(extract_path, index=False)
    result = clean_inputs(allocation_path, extract_path, params["outcomes"])
    log = tmp_path / "exclusion_log.csv"
    result.write_exclusion_log(log)
    back = pd.read_csv(log, dtype=str, keep_default_na=False)
    assert back.loc[0, "file"] == f"'{start}extract.csv"
    assert "crime_ref" not in back.columns  # a reference links to a victim: the row number names the row
    assert back.loc[0, "source_row"] == "42"


# --- 6. size guards -------------------------------------------------------------------------------

def test_default_limits():
    limits = InputLimits()
    assert (limits.max_rows, limits.max_columns, limits.max_xlsx_uncompressed_mb) == (2_000_000, 500, 1000)
    with pytest.raises(FrozenInstanceError):
        limits.max_rows = 5
    assert InputLimits.from_parameters({"max_rows": 10}) == InputLimits(max_rows=10)
    with pytest.raises(ValueError, match="max_colums"):
        InputLimits.from_parameters({"max_colums": 10})
    with pytest.raises(ValueError, match="positive"):
        InputLimits(max_rows=0)


def _log(tmp_path, rows: int, blank_every: int = 0):
    lines = ["crime_ref,allocated_on,allocation"]
    for i in range(rows):
        lines.append(f"{i}/22,03/10/2022,SRC")
        if blank_every and i % blank_every == 0:
            lines.append(" , , ")
    path = tmp_path / "log.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_too_many_rows_is_refused_with_the_way_to_raise_the_limit(tmp_path):
    path = _log(tmp_path, 5)
    message = _refused(path, limits=InputLimits(max_rows=4))
    assert "log.csv: the file is too big: 5 data rows, more than the limit of 4" in message
    assert "input_limits parameter (max_rows)" in message
    assert len(read_input(path, COLUMNS, limits=InputLimits(max_rows=5)).data) == 5


def test_blank_rows_do_not_count_towards_the_row_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CSV_CHUNK_ROWS", 3)
    path = _log(tmp_path, 20, blank_every=1)
    assert len(read_input(path, COLUMNS, limits=InputLimits(max_rows=20)).data) == 20


def test_a_huge_csv_is_not_parsed_to_the_end(tmp_path, monkeypatch):
    monkeypatch.setattr(reading, "CSV_CHUNK_ROWS", 10)
    path = _log(tmp_path, 1000)
    chunks = []
    original = reading._collect_chunks

    def counting(file, reader, limits):
        return original(file, (chunks.append(c) or c for c in reader), limits)

    monkeypatch.setattr(reading, "_collect_chunks", counting)
    message = _refused(path, limits=InputLimits(max_rows=20))
    assert "at least" in message and "more than the limit of 20" in message
    assert len(chunks) <= 5


def test_too_many_columns_is_refused(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(",".join(f"c{i}" for i in range(12)) + "\n" + ",".join("x" * 12) + "\n", encoding="utf-8")
    message = _refused(path, limits=InputLimits(max_columns=10))
    assert "12 columns, more than the limit of 10" in message and "(max_columns)" in message
    xlsx = tmp_path / "wide.xlsx"
    pd.DataFrame([list(range(12))], columns=[f"c{i}" for i in range(12)]).to_excel(xlsx, index=False)
    assert "12 columns, more than the limit of 10" in _refused(xlsx, limits=InputLimits(max_columns=10))


def test_an_expanding_workbook_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    """A zip bomb: a small file whose sheet XML inflates far past the limit."""
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "<sheetData>" + " " * 3_000_000 + "</sheetData>")
    assert path.stat().st_size < 50_000

    def must_not_open(*args, **kwargs):
        raise AssertionError("openpyxl opened the workbook")

    monkeypatch.setattr(pd, "read_excel", must_not_open)
    message = _refused(path, limits=InputLimits(max_xlsx_uncompressed_mb=2))
    assert "bomb.xlsx: the file is too big: 3 MB uncompressed, more than the limit of 2 MB" in message
    assert "(max_xlsx_uncompressed_mb)" in message


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.bin", "xl/media/padding", "customXml/item1"])
def test_every_part_of_the_workbook_counts_towards_its_size(tmp_path, monkeypatch, part):
    """A part not named .xml (a worksheet renamed, any other member) is inflated by openpyxl or zipfile too."""
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr(part, "x" * 3_000_000)
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: pytest.fail("openpyxl opened the workbook"))
    assert "3 MB uncompressed, more than the limit of 2 MB" in _refused(path, limits=InputLimits(
        max_xlsx_uncompressed_mb=2))


def test_a_part_that_inflates_like_a_zip_bomb_is_refused_under_the_size_limit(tmp_path, monkeypatch):
    path = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        book.writestr("xl/workbook.xml", "<workbook/>")
        book.writestr("xl/worksheets/sheet1.xml", "\0" * 50_000_000)
    monkeypatch.setattr(pd, "read_excel", lambda *a, **k: pytest.fail("openpyxl opened the workbook"))
    message = _refused(path)
    assert "'xl/worksheets/sheet1.xml' inflates" in message and "a zip bomb" in message


def test_a_zip_that_is_not_a_workbook_is_named(tmp_path):
    path = tmp_path / "log.xlsx"
    with zipfile.ZipFile(path, "w") as book:
        book.writestr("word/document.xml", "<document/>")
    assert "a zip file but not an Excel .xlsx workbook" in _refused(path)


def test_clean_inputs_accepts_limits(tmp_path, params, small_trial):
    allocation, extract = small_trial
    allocation.to_csv(tmp_path / "allocation.csv", index=False)
    extract.to_csv(tmp_path / "extract.csv", index=False)
    for limits in (InputLimits(max_rows=39), {"max_rows": 39}):
        with pytest.raises(InputError, match="allocation.csv: the file is too big: 40 data rows"):
            clean_inputs(tmp_path / "allocation.csv", tmp_path / "extract.csv", params["outcomes"], limits=limits)


# --- 7. covariate vocabularies and personal data in place names ----------------------------------

def test_covariates_outside_their_vocabulary_are_recoded_without_showing_them(tmp_path, params, small_trial):
    allocation, extract = small_trial
    secrets = ["Jane Doe", "01/02/1980", "07700 900123", "jane@example.org"]
    extract.loc[[0, 1], "victim_sex"] = secrets[:2]
    extract.loc[[2, 3], "victim_sex"] = ["F", "non-binary"]
    extract.loc[[4, 5, 6], "victim_age_band"] = ["18 - 24", "65 and over", "18 to 24"]
    extract.loc[[7, 8], "victim_age_band"] = secrets[1:3]
    extract.loc[9, "victim_age_band"] = "Unknown"
    extract.loc[10, "Offence Group"] = secrets[3]
    extract.loc[[11, 12], "Offence Group"] = ["Theft", "Criminal Damage & Arson"]
    result = _clean(tmp_path, params, allocation, extract)
    by_row = result.analysis.set_index("source_row")
    assert by_row.loc[[2, 3, 4, 5], "victim_sex"].tolist() == ["other", "other", "female", "other"]
    assert by_row.loc[[6, 7, 8, 9, 10, 11], "victim_age_band"].tolist() == [
        "18-24", "65+", "18-24", "not recorded", "not recorded", "not recorded"]
    assert by_row.loc[[12, 13, 14], "offence_group"].tolist() == ["other", "theft", "criminal damage"]
    recoded = [w for w in result.warnings if "outside the expected categories" in w]
    assert len(recoded) == 3
    assert any("column 'victim_sex': 2 row(s)" in w and "counted as 'other'" in w for w in recoded)
    assert any("column 'victim_age_band': 2 row(s)" in w and "counted as 'not recorded'" in w for w in recoded)
    assert any("column 'offence_group': 1 row(s)" in w for w in recoded)
    everything = " ".join(result.warnings) + result.analysis.to_string()
    assert not any(secret in everything for secret in secrets)


def test_shipped_covariates_keep_their_values(analysis):
    assert set(analysis["victim_age_band"]) <= set(values.AGE_BANDS) | {"not recorded"}
    assert set(analysis["victim_sex"]) == {"male", "female", "not recorded"}
    assert set(analysis["offence_group"]) == {"public order", "violence against the person", "criminal damage",
                                              "other"}


@pytest.mark.parametrize("column, value, kind", [
    ("ward", "07700 900123", "a phone number"), ("ward", "+44 20 7946 0958", "a phone number"),
    ("ward", "jane.doe@example.org", "an email address"), ("borough", "SW1A 1AA", "a postcode"),
    ("ward", "01/01/1990", "a date"), ("ward", "1990-01-01", "a date"), ("borough", "3 March 1990", "a date"),
    ("ward", "10 Downing Street", "a street address"), ("borough", "Mr John Smith", "a person's name"),
    ("ward", "mrs. okonkwo", "a person's name"),
])
def test_personal_data_in_a_place_name_is_refused_without_showing_it(tmp_path, params, small_trial, column, value,
                                                                     kind):
    allocation, extract = small_trial
    extract.loc[[2, 6], column] = value
    message = _problems(tmp_path, params, allocation, extract)
    assert f"extract.csv, column '{column}', rows 4 and 8: looks like personal data ({kind})" in message
    assert value not in message


@pytest.mark.parametrize("ward", ["E05000123", "WAN-04", "St Mary's", "Kingston Town", "Ward 12", "N1 North",
                                  "Lady Margaret", "Drayton Green"])
def test_ordinary_ward_names_are_accepted(tmp_path, params, small_trial, ward):
    allocation, extract = small_trial
    extract["ward"] = ward
    assert set(_clean(tmp_path, params, allocation, extract).analysis["ward"]) == {ward}


def test_a_crime_reference_in_a_place_column_is_refused_without_showing_it(tmp_path, params, small_trial):
    allocation, extract = small_trial
    extract.loc[[2, 6], "ward"] = extract.loc[[0, 1], "Crime Ref"].to_numpy()
    message = _problems(tmp_path, params, allocation, extract)
    assert "extract.csv, column 'ward', rows 4 and 8: a crime reference, not a place name" in message
    assert not any(ref in message for ref in extract.loc[[0, 1], "Crime Ref"])


@pytest.mark.parametrize("column", ["Reported On", "outcome_on", "src_completed_on"])
def test_a_date_after_today_is_refused(tmp_path, params, small_trial, column):
    allocation, extract = small_trial
    extract.loc[[2, 6], column] = (pd.Timestamp.today() + pd.Timedelta(days=400)).strftime("%Y-%m-%d")
    message = _problems(tmp_path, params, allocation, extract)
    key = {"Reported On": "reported_on"}.get(column, column)
    assert f"extract.csv, column '{key}', rows 4 and 8: the date is after today" in message


@pytest.mark.parametrize("typed, band", [
    ("18 - 24", "18-24"), ("18 to 24", "18-24"), ("18\u201324", "18-24"), ("25-34 years", "25-34"),
    ("65 and over", "65+"), ("65 +", "65+"), ("65 plus", "65+"), ("Under 18", "under 18"), ("0-17", "under 18"),
    ("<18", "under 18"), ("prefer not to say", "not recorded"), ("Unknown", "not recorded"), ("34", None),
    ("01/02/1980", None), ("18-25", None),
])
def test_age_band_variants(typed, band):
    assert values._age_band(typed.lower()) == band


def test_a_place_name_longer_than_a_name_is_refused_without_echoing_it(write_inputs, params, small_trial):
    """A 5,000-character ward once hung the PDF step; it is refused, naming the column and row."""
    from helpers.errors import InputError
    from helpers.inputs.cleaning import clean_inputs
    allocation, extract = small_trial
    extract.loc[0, "ward"] = "W" * 5000
    with pytest.raises(InputError) as refused:
        clean_inputs(*write_inputs(allocation, extract), params["outcomes"])
    message = str(refused.value)
    assert "column 'ward', row 2: a value is longer than 100 characters" in message and "WWWW" not in message


def test_bidirectional_controls_are_removed_and_spellings_merged(write_inputs, params, small_trial):
    """A right-to-left override before a borough reversed its display and split it into a new group."""
    from helpers.inputs.cleaning import clean_inputs
    allocation, extract = small_trial
    boroughs = extract["borough"].str.strip().str.title()
    extract["borough"] = ["\u202e " + b if i % 2 else "\u202e" + b for i, b in enumerate(boroughs)]
    analysis = clean_inputs(*write_inputs(allocation, extract), params["outcomes"]).analysis
    assert set(analysis["borough"]) == set(boroughs[boroughs.index.isin(range(len(analysis)))]) | set()
    assert not analysis["borough"].str.contains("\u202e").any()
    assert analysis["borough"].nunique() == boroughs.nunique()


def test_zero_padded_codes_and_doubled_spaces_in_strands_are_read(write_inputs, params, small_trial):
    from helpers.inputs.cleaning import clean_inputs
    allocation, extract = small_trial
    extract["Outcome Code"] = extract["Outcome Code"].astype(str).str.replace(r"^\s*(14|16)\s*$", r"0\1", regex=True)
    extract["Hate Strand"] = extract["Hate Strand"].str.replace("sexual orientation", "sexual  orientation", case=False)
    cleaned = clean_inputs(*write_inputs(allocation, extract), params["outcomes"])
    assert cleaned.analysis["attrition"].sum() > 0


def test_an_empty_first_sheet_is_passed_over_for_the_sheet_with_the_data(tmp_path, small_trial):
    from helpers.inputs.reading import read_input
    allocation, _ = small_trial
    path = tmp_path / "allocation_log.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame().to_excel(writer, sheet_name="Cover", index=False)
        allocation.to_excel(writer, sheet_name="Log", index=False)
    table = read_input(path, ["crime_ref", "allocated_on", "allocation"], required=["crime_ref"])
    assert table.sheet == "Log" and len(table.data) == 40
    assert table.sheet_reason == "the only visible sheet with the required columns (crime_ref)"
