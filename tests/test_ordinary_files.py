"""Ordinary files that once gave a wrong figure with exit 0, through the command line.

Each case either gives the right figure, or exits 2 naming the file, the sheet, the column and the
rows. The files are made here (tests/ordinary_files.py), in a temporary folder; the full runs
start in the background as soon as pytest has collected the tests (tests/e2e_runs.py) and run from
their own folder with relative paths. The cluster trial's intervals are compared with estimatr's,
computed by tests/reference/repeated_ward_labels.R on the same data.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from openpyxl import Workbook

from helpers import config
from helpers.pipeline.results import validate_results
from helpers.report import summary

pytest.register_assert_rewrite("tests.e2e_runs")  # it is also this module's plugin, loaded below
from . import e2e_runs, ordinary_files  # noqa: E402
from .ordinary_files import numbers_in, page_text  # noqa: E402
from .reference_values import load  # noqa: E402

pytest_plugins = ("tests.e2e_runs",)

SRCEVAL = Path(sys.executable).with_name("srceval")
# estimatr prints 17 significant digits; the CR2 variance and Bell-McCaffrey df are computed here by
# another route (numpy), so agreement to 1e-9 is what floating point leaves.
R_TOLERANCE = 1e-9


def srceval(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(SRCEVAL), *args], capture_output=True, text=True, timeout=900, cwd=cwd)


def finished(name: str) -> dict:
    folder, command = e2e_runs.started(name)
    completed = command.result()
    assert completed.returncode == 0, completed.stderr
    out = folder / "out"
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    validate_results(results)
    return {"out": out, "results": results, "made": command.made, "page": (out / "report.html").read_text()}


@pytest.fixture(scope="module")
def workbook_run():
    return finished("workbook_run")


@pytest.fixture(scope="module")
def repeated_wards_run():
    return finished("repeated_wards_run")


@pytest.fixture(scope="module")
def no_delivery_run():
    return finished("no_delivery_run")


# --- a workbook as analysts keep one -----------------------------------------------------------------

def test_a_hidden_draft_sheet_is_not_read_and_the_sheet_read_is_recorded(workbook_run):
    """The hidden first sheet has the arms flipped: read, it would turn -12 points into +12."""
    results = workbook_run["results"]
    attrition = results["outcomes"]["attrition"]
    assert (attrition["treatment"]["events"], attrition["control"]["events"]) == (54, 69)
    assert attrition["itt"]["risk_difference"] == pytest.approx(54 / 125 - 69 / 125)
    allocation = results["inputs"]["allocation"]
    assert allocation["sheet"] == "Log" and allocation["sheet_reason"] == "the workbook's only visible sheet"
    assert results["inputs"]["extract"]["sheet"] is None  # a CSV file
    assert any("the hidden sheet(s) 'Draft' (which has the required columns) were not read" in w
               and "--allocation-sheet" in w for w in results["warnings"])
    page = page_text(workbook_run["page"])  # page 1's provenance names the sheet
    assert "Allocation file: allocation_log.xlsx, sheet 'Log' (the workbook's only visible sheet)" in page


def test_dates_stored_as_numbers_are_read_as_the_dates_they_count(workbook_run):
    results = workbook_run["results"]
    assert any("column 'allocated_on': 251 date(s) were stored as numbers (Excel serial dates" in w
               and "for example 44835 as 2022-10-01" in w for w in results["warnings"])
    # The months the allocations fall in, as published: a month of few allocations joins its neighbour
    # ("2023-01 to 2023-02"), so each published label spans the months it holds, in order.
    labels = [row["period"] for row in results["allocation_audit"]["by_month"]["table"]]
    made = workbook_run["made"]["months"]
    covered = []
    for label in labels:
        first, last = label.split(" to ")[0], label.split(" to ")[-1]
        covered += made[made.index(first):made.index(last) + 1]
    assert covered == made  # the published months, run by run, are the months the serial numbers count


def test_a_variant_code_in_a_definition_counts_that_variant(workbook_run):
    """charge: codes ["1A"], with every charge coded 1A: the charges are counted, not 0."""
    charge, made = workbook_run["results"]["outcomes"]["charge"], workbook_run["made"]["charges"]
    assert (charge["treatment"]["events"], charge["control"]["events"]) == (made["treatment"], made["control"])
    assert made["treatment"] + made["control"] > 0
    assert charge["codes"] == ["1A"]
    warnings = " ".join(workbook_run["results"]["warnings"])
    assert "outcomes.positive_outcome.codes): code(s) 2, 4, 5, 9, 10, 22 match no report in crime_extract.csv" \
        in warnings
    assert "outcomes.charge.codes" not in warnings


def test_allocation_log_oddities_are_flagged_with_their_rows(workbook_run):
    audit, made = workbook_run["results"]["allocation_audit"], workbook_run["made"]
    assert (audit["random_numbers_out_of_range"], audit["allocated_after_outcome"],
            audit["conflicting_log_entries"]) == (3, 1, 1)
    rows = sorted(row + 2 for row in ordinary_files.ODD_RANDOM_NUMBERS)
    flags = " ".join(audit["flags"])
    assert (f"3 random number(s) in the allocation log are outside [0, 1] or not finite (allocation log rows "
            f"{rows[0]}, {rows[1]} and {rows[2]})") in flags
    assert f"allocated after their outcome was recorded (allocation log row {made['late_row']};" in flags
    assert (f"entered more than once in the allocation log, in the same arm but with a different date or random "
            f"number (allocation log row {made['repeated_row']} kept") in flags
    assert audit["threshold_rule_breaches"] == 0  # the odd numbers are left out of the rule's check
    assert workbook_run["results"]["flow"]["randomised"] == 250


# --- a cluster trial whose ward labels repeat across boroughs ------------------------------------------

def test_declared_ward_clusters_give_estimatrs_cr2_intervals(repeated_wards_run):
    """clusters: ward is the ward labels as written: 60 clusters, not 214 borough-ward pairs."""
    r = load("repeated_ward_labels")
    results = repeated_wards_run["results"]
    attrition = results["outcomes"]["attrition"]
    assert attrition["itt"]["risk_difference"] == pytest.approx(r["ward.itt.estimate"], abs=R_TOLERANCE)
    assert attrition["itt"]["risk_difference_ci"] == pytest.approx([r["ward.itt.conf.low"], r["ward.itt.conf.high"]],
                                                                   abs=R_TOLERANCE)
    assert attrition["cace"]["risk_difference"] == pytest.approx(r["ward.cace.estimate"], abs=R_TOLERANCE)
    assert attrition["cace"]["risk_difference_ci"] == pytest.approx(
        [r["ward.cace.conf.low"], r["ward.cace.conf.high"]], abs=R_TOLERANCE)
    # negative control: the nested clusters' interval is another, far narrower one
    assert attrition["itt"]["risk_difference_ci"][0] < r["nested.itt.conf.low"] - 0.03
    design = results["design"]
    assert design["units"] == r["wards"] == 60 and design["columns"] == ["ward"]
    assert "whole wards were allocated (30 to SRC, 30 to business as usual)" in design["description"]
    assert design["audit"]["breaches"] == [] and results["allocation_audit"]["flags"] == []


def test_ward_labels_in_several_boroughs_are_named(repeated_wards_run):
    results = repeated_wards_run["results"]
    spread = results["design"]["audit"]["wards_in_several_boroughs"]
    trial = repeated_wards_run["made"]["trial"]
    expected = trial.groupby("ward")["borough"].nunique()
    repeated = {ward: int(n) for ward, n in expected[expected > 1].items()}
    # every label named is named with its count; a label held by too few reports to publish is counted only
    assert spread.items() <= repeated.items() and "W01" in spread
    hidden = len(repeated) - len(spread)
    warning = next(w for w in results["warnings"] if "appear in more than one borough" in w)
    assert warning.startswith(f"{len(repeated)} ward label(s) appear in more than one borough: 'W01' "
                              f"({spread['W01']} boroughs)")
    assert (f"{hidden} held by too few reports to be named" in warning) == (hidden > 0)
    assert "declare clusters: [borough, ward] instead" in warning


# --- no contact delivered ------------------------------------------------------------------------------

# What the report says when it credits SRC with an effect (the published figures it reconciles aside).
NO_CREDIT = (r"about [\d,]+ (?:fewer|more) withdrawals a year", "probability that SRC reduces",
             "evidence that SRC reduces", "Each withdrawal prevented would cost", "very probably reduces",
             "more likely than not", r"relative reduction of \d+%")


def test_without_delivery_nothing_is_credited_to_src(no_delivery_run):
    results = no_delivery_run["results"]
    identification = results["identification"]
    assert identification["identified"] is False and results["flow"]["received_src"] == {"treatment": 0, "control": 0}
    reason = identification["reason"]
    assert reason.startswith("no victim received the contact (none of the 125 allocated to SRC)")
    assert "exclusion restriction" in reason
    itt = results["outcomes"]["attrition"]["itt"]
    assert itt["risk_difference"] < -0.1 and itt["risk_difference_ci"][1] < 0  # the arms do differ
    for key in ("bayesian", "bayesian_sceptical"):
        assert itt[key]["probability_of_reduction"] is None and itt[key]["reason"] == f"not estimable: {reason}"
    force = results["extrapolation"]
    assert force["prevented"] == {"itt": None, "itt_ci": [None, None], "full_compliance": None,
                                  "full_compliance_ci": [None, None]}
    assert force["notes"] == {"itt": f"not estimable: {reason}", "full_compliance": f"not estimable: {reason}"}
    assert force["absolute_transport"]["prevented"] is None and force["delivery_scenarios"] == []
    assert results["national_scenario"]["prevented"]["itt"] is None
    economics = results["economics"]
    assert economics["cost_per_year"] is None and economics["cost_per_prevented_withdrawal"] is None
    assert economics["upper_bound_unbounded"] is None and economics["reason"] == f"not estimable: {reason}"
    assert results["outcomes"]["attrition"]["cace"]["risk_difference"] is None
    assert not (no_delivery_run["out"] / "figures" / "extrapolation.svg").exists()


def test_without_delivery_page_one_says_no_one_received_the_contact(no_delivery_run):
    results, page = no_delivery_run["results"], page_text(no_delivery_run["page"])
    itt = results["outcomes"]["attrition"]["itt"]
    interval = summary.points_range(itt["risk_difference_ci"])
    start = page.index("The decision.")
    top = page[start:page.index("EMMIE summary", page.index("What was tested.", start))]  # page 1 and the summary
    assert ("How sure. The trial cannot show whether SRC reduces withdrawal, because no victim received the contact "
            f"(none of the 125 allocated to SRC); the arms differed by {summary.change(itt['risk_difference'])} "
            f"(95% interval {interval}), which is not an effect of the contact.") in top
    assert "None of the 125 victims allocated to SRC received the contact." in top
    treated, control = results["outcomes"]["attrition"]["treatment"], results["outcomes"]["attrition"]["control"]
    assert (f"{treated['risk'] * 100:.1f}% of victims allocated to SRC withdrew support for the investigation, "
            f"against {control['risk'] * 100:.1f}% under business as usual: the arms differ by "
            f"{summary.points(itt['risk_difference'], signed=True)} percentage points (95% interval {interval})") in top
    assert f"How sure we are. No effect of SRC can be read from this trial: {results['identification']['reason']}." \
        in top
    assert f"Fisher's exact test of the difference between the arms gives p = {itt['p_value_exact']:.3f}" in top
    assert ("No figure is carried to the force: no victim received the contact (none of the 125 allocated to SRC), "
            "so the trial gives no effect of SRC to carry.") in top
    assert "What it would mean." not in top  # the bottom line's paragraph on prevented withdrawals is left out
    for phrase in NO_CREDIT:
        assert not re.search(phrase, page), phrase
    emmie = page[page.index("The College of Policing's frame"):]
    assert "Effect. Not estimable: no victim received the contact" in emmie
    assert "Economic cost. Not estimable: no victim received the contact" in emmie
    assert "Moderators. Not estimable: no victim received the contact" in emmie


# --- no tiny or signed zero anywhere -------------------------------------------------------------------

@pytest.mark.parametrize("name", ["workbook_run", "repeated_wards_run", "no_delivery_run"])
def test_no_number_is_a_rounding_error_or_a_signed_zero(name, request):
    run = request.getfixturevalue(name)
    text = (run["out"] / "results.json").read_text(encoding="utf-8")
    assert not re.search(r"-0\.0(?![0-9]*[1-9])", text)
    for value in numbers_in(run["results"]):
        assert value == 0 or abs(value) >= 1e-12, value
        assert not (value == 0 and math.copysign(1, value) < 0)
    page = page_text(run["page"])
    assert not re.search(r"[-\u2212]0(?:\.0+)?(?![0-9.]*[1-9])(?:%| |$)", page)


# --- refused, with exit 2 and the file, sheet, column and rows named ----------------------------------

def _shipped_extract() -> pd.DataFrame:
    return pd.read_csv(config.DEFAULT_EXTRACT, dtype=str, keep_default_na=False)


def _workbook(path: Path, frame: pd.DataFrame, title: str = "Extract", cells: dict | None = None,
              merged: tuple[str, ...] = ()) -> Path:
    """``frame`` as a workbook sheet; ``cells`` then overwrites single cells ("K5": "=10+4")."""
    book = Workbook()
    sheet = book.active
    sheet.title = title
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        sheet.append(list(row))
    for reference, value in (cells or {}).items():
        sheet[reference] = value
    for reference in merged:
        sheet.merge_cells(reference)
    book.save(path)
    return path


def _refused(tmp_path: Path, *args: str) -> str:
    completed = srceval("run", *args, "--out", "out", cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr and "The run cannot start" in completed.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return completed.stderr


def _outcome_cells(frame: pd.DataFrame, withdrawals: bool = True) -> list[str]:
    """The Outcome Code cells (sheet references) of the withdrawals: codes 14 and 16, however written."""
    column = frame.columns.get_loc("Outcome Code")
    letter = chr(ord("A") + column)
    number = frame["Outcome Code"].str.replace(r"\D", "", regex=True)
    rows = frame.index[number.isin(["14", "16"])] if withdrawals else frame.index
    return [f"{letter}{row + 2}" for row in rows]


def test_formulas_with_no_saved_value_are_refused(tmp_path):
    """Written by a script and never opened in Excel: read as blanks, the withdrawals would become open cases."""
    frame = _shipped_extract()
    cells = _outcome_cells(frame)
    _workbook(tmp_path / "crime_extract.xlsx", frame, cells={cell: "=10+4" for cell in cells})
    message = _refused(tmp_path, "--extract", "crime_extract.xlsx")
    rows = sorted(int(cell[1:]) for cell in cells)
    assert (f"crime_extract.xlsx (sheet 'Extract'), column 'outcome_code', rows {', '.join(map(str, rows[:10]))}, ... "
            f"({len(rows)} rows): {len(rows)} cell(s) hold a formula with no saved value ({', '.join(cells[:8])}, ...")\
        in message
    assert "open the workbook in Excel or LibreOffice and save it, or export the sheet as CSV" in message


def test_excel_error_cells_are_refused(tmp_path):
    frame = _shipped_extract()
    cells = _outcome_cells(frame)[:2]
    _workbook(tmp_path / "crime_extract.xlsx", frame, cells={cells[0]: "#N/A", cells[1]: "#REF!"})
    message = _refused(tmp_path, "--extract", "crime_extract.xlsx")
    rows = sorted(int(cell[1:]) for cell in cells)
    assert (f"crime_extract.xlsx (sheet 'Extract'), column 'outcome_code', rows {rows[0]} and {rows[1]}: 2 cell(s) "
            "hold an Excel error (#N/A, #REF!) instead of a value") in message


def test_merged_cells_are_named_as_merged(tmp_path):
    frame = _shipped_extract()
    column = chr(ord("A") + frame.columns.get_loc("borough"))
    _workbook(tmp_path / "crime_extract.xlsx", frame, merged=(f"{column}5:{column}7",))
    message = _refused(tmp_path, "--extract", "crime_extract.xlsx")
    assert (f"crime_extract.xlsx (sheet 'Extract'), column 'borough', rows 5, 6 and 7: cells {column}5:{column}7 are "
            "merged") in message
    assert "Unmerge Cells" in message


def test_excel_serial_numbers_in_a_csv_are_named_as_such(tmp_path):
    frame = _shipped_extract()
    dates = pd.to_datetime(frame["Reported On"], dayfirst=True, format="mixed")
    frame["Reported On"] = [str(ordinary_files.serial(d)) for d in dates]
    frame.to_csv(tmp_path / "crime_extract.csv", index=False)
    message = _refused(tmp_path, "--extract", "crime_extract.csv")
    assert "(1 problem(s))" in message
    assert (f"crime_extract.csv, column 'reported_on', rows 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, ... ({len(frame)} rows): "
            f"{len(frame)} value(s) look like Excel serial date numbers") in message


@pytest.mark.parametrize("column, value, described", [
    ("borough", "Mer\nton", "a line break"), ("ward", "WAN\x0007", "a NUL byte"), ("Crime Ref", "3000001\x1b/22", "")])
def test_control_characters_are_refused_without_showing_the_value(tmp_path, column, value, described):
    frame = _shipped_extract()
    frame.loc[[3, 7], column] = value
    frame.to_csv(tmp_path / "crime_extract.csv", index=False)
    message = _refused(tmp_path, "--extract", "crime_extract.csv")
    name = {"Crime Ref": "crime_ref"}.get(column, column)
    assert (f"crime_extract.csv, column '{name}', rows 5 and 9: a value holds a control character (a line break, tab, "
            "NUL byte or another invisible code) inside it; the values are not shown here") in message
    assert value not in message and "\x00" not in message and "\x1b" not in message
    assert described == "" or described.split()[-1] in message


@pytest.mark.parametrize("key, value", [("hourly_cost_constable", ".inf"), ("hourly_cost_pcso", "0"),
                                        ("minutes_per_visit", ".nan"), ("minutes_per_phone_contact", "-5")])
def test_money_and_time_assumptions_must_be_finite_and_positive(tmp_path, key, value):
    text = config.PARAMETERS_FILE.read_text(encoding="utf-8")
    changed = re.sub(rf"^(\s+{key}:)\s*[^#\n]+", rf"\1 {value}  ", text, count=1, flags=re.M)
    assert changed != text
    (tmp_path / "parameters.yml").write_text(changed, encoding="utf-8")
    message = _refused(tmp_path, "--params", "parameters.yml")
    assert f"parameters.yml: parameter 'economics.{key}' is" in message


def test_an_unknown_sheet_is_refused_with_the_sheets_listed(tmp_path):
    book = Workbook()
    book.active.title = "Allocation"
    hidden = book.create_sheet("Draft")
    hidden.sheet_state = "hidden"
    book.save(tmp_path / "log.xlsx")
    message = _refused(tmp_path, "--allocation", "log.xlsx", "--allocation-sheet", "Nope")
    assert "log.xlsx: cannot read the sheet: the workbook has no sheet named 'Nope'; its sheets are 'Allocation', " \
           "'Draft' (hidden)" in message
