"""Dates: ISO or UK day-first; an ambiguous or impossible date is refused, never guessed."""
import datetime

import pandas as pd
import pytest

from helpers.inputs.dates import parse_date, parse_dates


@pytest.mark.parametrize("text, expected", [
    ("2022-10-03", "2022-10-03"), ("03/10/2022", "2022-10-03"), ("3/10/2022", "2022-10-03"),
    ("03-10-2022", "2022-10-03"), ("03.10.2022", "2022-10-03"), ("31/01/2023", "2023-01-31"),
    ("03/10/2022 14:05", "2022-10-03"), ("2022-10-03T09:30:00", "2022-10-03"), ("  03/10/2022 ", "2022-10-03"),
])
def test_accepted_formats(text, expected):
    assert parse_date(text) == (pd.Timestamp(expected), None)


def test_excel_date_cells_are_dates():
    assert parse_date(pd.Timestamp("2022-11-05 13:00")) == (pd.Timestamp("2022-11-05"), None)
    assert parse_date(datetime.datetime(2022, 11, 5)) == (pd.Timestamp("2022-11-05"), None)


def test_day_first_not_month_first():
    # 04/10/2022 is the 4th of October in the UK, not the 10th of April.
    assert parse_date("04/10/2022")[0] == pd.Timestamp("2022-10-04")


@pytest.mark.parametrize("text, reason", [
    ("31/02/2023", "not a real date"), ("2023-13-01", "not a real date"),
    ("10/31/2022", "not a real date"),  # month-first: no 31st month
    ("03/10/22", "two-digit year, which is ambiguous"), ("yesterday", "not a date"), ("2022/10/03", "not a date"),
])
def test_refused_dates_say_why_without_quoting_the_value(text, reason):
    """A date cell may hold a date of birth or a name typed in the wrong column: the reason, never the value."""
    date, problem = parse_date(text)
    assert date is None and reason in problem and text not in problem


def test_blank_is_missing_not_a_problem():
    assert parse_date("") == (None, None)


def test_column_parse_reports_positions():
    dates, problems = parse_dates(pd.Series(["2022-10-03", "31/02/2023", ""]))
    assert dates.iloc[0] == pd.Timestamp("2022-10-03") and dates.iloc[1:].isna().all()
    assert list(problems) == [1]
