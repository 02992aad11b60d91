"""Reference values computed in R, read from the ``.out`` files the scripts in tests/reference write.

Each script under ``tests/reference/`` prints one ``name = value`` line per figure (``%.17g``, so
no digit is lost) and is run from the repository root as its header says, e.g.
``Rscript tests/reference/estimatr_iv.R > tests/reference/estimatr_iv.out``. The tests read the
figures from those files rather than from copies, so a rerun of the script is the only update
a reference value ever needs; the test suite itself never runs R.
"""
from __future__ import annotations

import math
from functools import cache
from pathlib import Path

REFERENCE_DIR = Path(__file__).parent / "reference"


@cache
def load(script: str) -> dict[str, float]:
    """Every ``name = value`` figure printed by ``tests/reference/<script>.R``.

    Lines of any other shape (the R and package versions) are skipped; ``NA``, ``NaN`` and
    ``Inf`` are read as floats, so a test can assert that R found a figure undefined.
    """
    values = {}
    for line in (REFERENCE_DIR / f"{script}.out").read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition(" = ")
        if not sep or " " in name.strip():
            continue
        values[name.strip()] = _number(value.strip())
    return values


def _number(text: str) -> float:
    special = {"NA": math.nan, "NaN": math.nan, "Inf": math.inf, "-Inf": -math.inf}
    return special[text] if text in special else float(text)


def versions(script: str) -> dict[str, str]:
    """The software versions the script printed first (``R: ...``, ``estimatr: ...``)."""
    lines = (REFERENCE_DIR / f"{script}.out").read_text(encoding="utf-8").splitlines()
    found = {}
    for line in lines:
        if " = " in line:  # the figures begin
            break
        name, sep, value = line.partition(": ")
        if sep:
            found[name.strip()] = value.strip()
    return found
