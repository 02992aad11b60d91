"""Dates as the input contract allows them: ISO (2022-10-03) or UK day-first (03/10/2022).

A date that could be read two ways (a two-digit year) or that does not exist (31/02/2023) is
reported, never guessed.
"""
from __future__ import annotations

import re
from datetime import datetime

import numpy as np
import pandas as pd

_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?"
ISO = re.compile(rf"^(\d{{4}})-(\d{{1,2}})-(\d{{1,2}}){_TIME}$")
DAY_FIRST = re.compile(rf"^(\d{{1,2}})[/.\-](\d{{1,2}})[/.\-](\d{{4}}){_TIME}$")
TWO_DIGIT_YEAR = re.compile(rf"^\d{{1,2}}[/.\-]\d{{1,2}}[/.\-]\d{{2}}{_TIME}$")
# A whole number of days (and a fraction for the time) in the range of Excel serial dates from 1990 to
# 2099: a date cell shown as a number, or a CSV saved from one. A CSV file does not say which of
# Excel's two date systems counted it, so such a value is refused with this reason, not guessed.
SERIAL = re.compile(r"^\d{5}(?:\.\d+)?$")
SERIAL_RANGE = (32874, 73050)  # 01/01/1990 to 31/12/2099, counted from 30/12/1899
SERIAL_NUMBER = "looks like an Excel serial date number"


def parse_date(value: object) -> tuple[pd.Timestamp | None, str | None]:
    """Parse one date cell.

    Returns
    -------
    (date, problem)
        ``date`` is a midnight Timestamp or None when blank or invalid; ``problem`` says why
        a non-blank value was refused.
    """
    if isinstance(value, (pd.Timestamp, datetime)):
        return pd.Timestamp(value).normalize(), None
    text = str(value).strip() if value is not None else ""
    if not text:
        return None, None
    if match := ISO.match(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := DAY_FIRST.match(text):
        day, month, year = (int(g) for g in match.groups())
    elif TWO_DIGIT_YEAR.match(text):
        return None, "a date with a two-digit year, which is ambiguous"
    elif SERIAL.match(text) and SERIAL_RANGE[0] <= float(text) <= SERIAL_RANGE[1]:
        return None, SERIAL_NUMBER
    else:  # the value itself is never quoted: a mistyped cell may hold a name or a date of birth
        return None, "not a date (expected 2022-10-03 or 03/10/2022); the value is not shown"
    try:
        return pd.Timestamp(year=year, month=month, day=day), None
    except ValueError:
        return None, "not a real date (no such day or month); the value is not shown"


def parse_dates(values: pd.Series) -> tuple[pd.Series, dict[int, str]]:
    """Parse a column of date cells.

    Returns
    -------
    (dates, problems)
        ``dates`` has NaT for blank or invalid cells; ``problems`` maps the position of each
        invalid cell to the reason.
    """
    # A column holds few distinct dates: parse each once, whatever the number of rows.
    if pd.api.types.is_string_dtype(values):
        keys = values
    else:  # Excel: a mix of date cells and text
        keys = values.map(lambda v: v if isinstance(v, (pd.Timestamp, datetime)) else str(v))
    parsed_once = {key: parse_date(key) for key in keys.unique()}
    dates = keys.map(lambda key: parsed_once[key][0])
    refused = {key: result[1] for key, result in parsed_once.items() if result[1]}
    positions = np.flatnonzero(keys.map(refused.__contains__).to_numpy(dtype=bool)) if refused else []
    problems = {int(position): refused[keys.iloc[position]] for position in positions}
    return pd.Series(pd.to_datetime(dates.to_numpy()), index=values.index, dtype="datetime64[ns]"), problems
