"""Home Office crime outcome codes: normalising what people type, and classifying outcomes.

The outcomes framework numbers its outcome types 1 to 22; a few have lettered variants such
as 1A (charge for an alternative offence). A variant counts as its number.
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


def classify(codes: pd.Series, definitions: dict[str, dict]) -> pd.DataFrame:
    """One 0/1 column per outcome; missing (<NA>) where the investigation is still open.

    Parameters
    ----------
    codes
        Canonical outcome codes, None or NA where no outcome is recorded yet.
    definitions
        Outcome name to a mapping with ``codes``, the outcome types that count.
    """
    columns = {}
    for name, definition in definitions.items():
        wanted = {str(c) for c in definition["codes"]}
        # one decision per distinct code: a column of a million codes holds a few dozen
        decided = {code: (pd.NA if not isinstance(code, str) else int(code_number(code) in wanted))
                   for code in codes.unique()}
        columns[name] = codes.map(decided.__getitem__).astype("Int8")
    return pd.DataFrame(columns, index=codes.index)
