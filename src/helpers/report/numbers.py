"""Every number a reader sees, formatted one way.

A value the data could not support (None or NaN) reads "not estimable", never "nan"; negative
numbers carry a true minus sign (U+2212), which print and screen readers both read as minus, not
as a hyphen, and a number that rounds to zero carries no sign ("0.0", never "−0.0"); counts
carry thousands separators. Tables, figures, the summary and the pooled
report all format through these functions, so a change of convention is made once.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import pandas as pd

NOT_ESTIMABLE = "not estimable"
MINUS = "\u2212"


def missing(value) -> bool:
    """True for None, NaN and pandas' missing values: the one test of "no number here"."""
    return value is None or bool(pd.isna(value))


_SIGNED_ZERO = re.compile(r"^[-+](?=[0.,]*(?:%|$))")  # "-0.0", "+0.00%", "-0": a sign on a zero


def minus(text: str) -> str:
    """Hyphens used as minus signs become true minus signs; a zero keeps no sign ("-0.0" -> "0.0")."""
    return _SIGNED_ZERO.sub("", text).replace("-", MINUS)


def pct(value, digits: int = 1) -> str:
    """A share as a percentage: 0.432 -> '43.2%'."""
    return NOT_ESTIMABLE if missing(value) else minus(f"{value * 100:.{digits}f}%")


def num(value, digits: int = 3) -> str:
    """A number with a fixed number of decimals: -0.12 -> '−0.120'."""
    return NOT_ESTIMABLE if missing(value) else minus(f"{value:.{digits}f}")


def count(value) -> str:
    """A whole number with thousands separators: 1769.4 -> '1,769'."""
    return NOT_ESTIMABLE if missing(value) else minus(f"{value:,.0f}")


def points(value, digits: int = 1, *, signed: bool = False) -> str:
    """A difference in risk as percentage points: -0.12 -> '−12.0' (signed: '−12.0', '+3.0')."""
    if missing(value):
        return NOT_ESTIMABLE
    return minus(f"{value * 100:{'+' if signed else ''}.{digits}f}")


def p_value(value) -> str:
    """A p-value as text: 'p = 0.042', 'p < 0.001'."""
    if missing(value):
        return "p not estimable"
    return "p < 0.001" if value < 0.001 else f"p = {value:.3f}"


def interval(pair: Sequence, fmt: Callable = num) -> str:
    """An interval as text; a missing end is unbounded (the other end alone bounds it)."""
    low, high = pair
    if missing(low) and missing(high):
        return "no interval"
    if missing(low):
        return f"no lower limit to {fmt(high)}"
    if missing(high):
        return f"{fmt(low)} to no upper limit"
    return f"{fmt(low)} to {fmt(high)}"


def with_interval(value, pair: Sequence, fmt: Callable = num) -> str:
    """An estimate and its interval in one cell, or "not estimable" alone."""
    return NOT_ESTIMABLE if missing(value) else f"{fmt(value)} ({interval(pair, fmt)})"


def level(confidence_level: float) -> str:
    """A confidence level as a label: 0.95 -> '95%'."""
    return f"{confidence_level * 100:g}%"
