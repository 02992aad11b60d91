"""Writing CSV files that are safe to open in a spreadsheet.

A text cell that begins with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is
taken by Excel and LibreOffice for a formula, so a crime reference or a file name typed as
``=HYPERLINK(...)`` would run when an analyst opens the exclusion log. Following the OWASP
advice on CSV injection, such cells are written with a leading apostrophe, which the
spreadsheet shows as text. Numbers are left alone: -3 in a numeric column stays a number.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """A text value that a spreadsheet would run as a formula, prefixed with an apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with every text cell and header neutralised; numeric columns unchanged."""
    out = frame.copy()
    for position in range(out.shape[1]):
        column = out.iloc[:, position]
        if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_datetime64_any_dtype(column):
            continue
        out.isetitem(position, column.astype(object).map(neutralise))
    out.columns = [neutralise(name) for name in out.columns]
    return out


def write_csv_safely(frame: pd.DataFrame, path: Path | str, **to_csv) -> None:
    """Write ``frame`` as CSV (UTF-8, no index unless asked) with formula-like text neutralised.

    Lines end in CR LF (RFC 4180): the csv module then quotes a value holding a carriage
    return, which with bare LF line ends it would write unquoted, splitting the row.
    """
    to_csv.setdefault("index", False)
    to_csv.setdefault("lineterminator", "\r\n")
    neutralise_frame(frame).to_csv(path, **to_csv)
