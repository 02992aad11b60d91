"""Home Office crime outcome codes: normalising what people type, and classifying outcomes.

The outcomes framework numbers its outcome types 1 to 22; a few have lettered variants such
as 1A (charge for an alternative offence). In an outcome definition a number counts its variants
too ("1" counts 1 and 1A), and a variant counts that variant alone ("1A" counts 1A, not 1).
"""
from __future__ import annotations

import re

import pandas as pd

FIRST_CODE, LAST_CODE = 1, 22
# "14", "014", "OC14", "OC 14", "Outcome 14", "outcome14", "1A", "14.0" (a number cell from Excel).
_CODE = re.compile(r"^(?:oc|outcome|outcome\s*code)?\s*0*(\d{1,2})(?:\.0)?\s*(a?)$")  # "014" is 14


def normalise_outcome_code(value: object) -> tuple[str | None, str | None]:
    """Turn a typed outcome code into its canonical form ("14", "1A").

    Returns
    -------
    (code, problem)
        ``code`` is None for a blank cell (an open investigation) or an unknown code;
        ``problem`` explains an unknown code.
    """
    text = "" if value is None else str(value).strip()
    if not text or text.lower() in {"nan", "open", "pending"}:
        return None, None
    match = _CODE.match(re.sub(r"[\s:#\-]+", " ", text.lower()).strip())
    if match is None or not FIRST_CODE <= int(match.group(1)) <= LAST_CODE:
        # the value itself is never quoted: a mistyped cell may hold personal data
        return None, "not a Home Office outcome code (1 to 22, variants such as 1A); the value is not shown"
    return f"{int(match.group(1))}{match.group(2).upper()}", None


def code_number(code: str) -> str:
    """The outcome type a code belongs to: "1A" -> "1"."""
    return re.match(r"\d+", code).group(0)


def counts_as(code: str, definition_code: str) -> bool:
    """Whether a report's canonical ``code`` counts under one code of a definition.

    A number counts itself and its lettered variants ("1" counts "1" and "1A"); a variant counts
    exactly that variant ("1A" counts "1A" only), so that a definition means what it says.
    """
    return code == definition_code or (definition_code.isdigit() and code_number(code) == definition_code)


def classify(codes: pd.Series, definitions: dict[str, dict]) -> pd.DataFrame:
    """One 0/1 column per outcome; missing (<NA>) where the investigation is still open.

    Parameters
    ----------
    codes
        Canonical outcome codes, None or NA where no outcome is recorded yet.
    definitions
        Outcome name to a mapping with ``codes``, the outcome codes that count (see :func:`counts_as`).
    """
    columns = {}
    for name, definition in definitions.items():
        wanted = [str(c) for c in definition["codes"]]
        # one decision per distinct code: a column of a million codes holds a few dozen
        decided = {code: (pd.NA if not isinstance(code, str) else int(any(counts_as(code, w) for w in wanted)))
                   for code in codes.unique()}
        columns[name] = codes.map(decided.__getitem__).astype("Int8")
    return pd.DataFrame(columns, index=codes.index)


def unmatched_codes(codes: pd.Series, definitions: dict[str, dict]) -> dict[str, list[str]]:
    """Each outcome's definition codes that no report's code counts under (a misspelt code counts nothing).

    ``codes`` are the canonical codes of the reports (None where open); outcomes whose codes all
    match some report are left out.
    """
    present = [code for code in codes.dropna().unique() if isinstance(code, str)]
    found = {}
    for name, definition in definitions.items():
        unused = [str(c) for c in definition["codes"] if not any(counts_as(code, str(c)) for code in present)]
        if unused:
            found[name] = unused
    return found
